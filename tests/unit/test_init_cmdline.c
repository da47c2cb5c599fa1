/* Unit tests for guest/init/cmdline.c: kernel command line lookup, base64url, argv splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmdline.h"
#include "flint_port.h"

/* cmdline_find on a C string; returns the value as a NUL-terminated copy in out. */
static bool find_str(const char *cmdline, const char *key, char *out, size_t cap)
{
	struct cmdline_value v = cmdline_find(cmdline, strlen(cmdline), key);

	if (!v.found)
		return false;
	assert_true(v.len < cap);
	memcpy(out, v.ptr, v.len);
	out[v.len] = '\0';
	return true;
}

static void test_find_start_middle_end(void **state)
{
	char v[64];

	(void)state;
	assert_true(find_str("flint.run=AAA quiet ro", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "AAA");
	assert_true(find_str("quiet flint.run=BBB ro", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "BBB");
	assert_true(find_str("quiet ro flint.run=CCC", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "CCC");
	/* /proc/cmdline ends with a newline. */
	assert_true(find_str("quiet flint.run=DDD\n", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "DDD");
	/* Tabs and runs of spaces separate too. */
	assert_true(find_str("  quiet\t\tflint.run=EEE  ", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "EEE");
}

static void test_find_key_with_equals_sign(void **state)
{
	char v[64];

	(void)state;
	assert_true(find_str("a flint.run=XYZ b", FLINT_CMDLINE_RUN, v, sizeof(v)));
	assert_string_equal(v, "XYZ");
}

static void test_find_not_a_substring(void **state)
{
	char v[64];

	(void)state;
	assert_false(find_str("xflint.run=AAA", "flint.run", v, sizeof(v)));
	assert_false(find_str("flint.runner=AAA", "flint.run", v, sizeof(v)));
	assert_false(find_str("foo=flint.run=AAA", "flint.run", v, sizeof(v)));
	assert_false(find_str("init_args=\"a flint.run=AAA b\"", "flint.run", v, sizeof(v)));
	assert_false(find_str("flint.ru=AAA", "flint.run", v, sizeof(v)));
	assert_false(find_str("", "flint.run", v, sizeof(v)));
	/* The real one after a decoy is still found. */
	assert_true(find_str("xflint.run=AAA foo=\"flint.run=B\" flint.run=CCC", "flint.run", v,
			     sizeof(v)));
	assert_string_equal(v, "CCC");
}

static void test_find_quotes_and_last_wins(void **state)
{
	char v[64];

	(void)state;
	assert_true(find_str("flint.scratch=\"/dev/vdb\" x", "flint.scratch", v, sizeof(v)));
	assert_string_equal(v, "/dev/vdb");
	assert_true(find_str("\"flint.scratch=/dev/vdc\"", "flint.scratch", v, sizeof(v)));
	assert_string_equal(v, "/dev/vdc");
	assert_true(find_str("flint.run=A flint.run=B", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "B");
	/* A bare key has an empty value, as does key= */
	assert_true(find_str("flint.run", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_true(find_str("flint.run= quiet", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "");
}

static void test_find_stops_at_double_dash(void **state)
{
	char v[64];

	(void)state;
	assert_false(find_str("quiet -- flint.run=AAA", "flint.run", v, sizeof(v)));
	assert_true(find_str("flint.run=A -- flint.run=B", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "A");
	/* "--x" and "--=" are ordinary parameters. */
	assert_true(find_str("--x --= flint.run=C", "flint.run", v, sizeof(v)));
	assert_string_equal(v, "C");
}

static void test_find_respects_length_and_nul(void **state)
{
	const char line[] = "flint.run=AAAA flint.run=BBBB";
	struct cmdline_value v;
	const char nul[] = "quiet\0flint.run=AAA";

	(void)state;
	/* Only the first 14 bytes: the second parameter is outside the buffer. */
	v = cmdline_find(line, 14, "flint.run");
	assert_true(v.found);
	assert_int_equal(v.len, 4);
	assert_memory_equal(v.ptr, "AAAA", 4);
	/* Cut inside a value: the value ends at the buffer's end. */
	v = cmdline_find(line, 27, "flint.run");
	assert_true(v.found);
	assert_int_equal(v.len, 2);
	/* Nothing after a NUL counts. */
	v = cmdline_find(nul, sizeof(nul) - 1, "flint.run");
	assert_false(v.found);
}

static ssize_t decode_str(const char *in, unsigned char *out, size_t cap)
{
	return cmdline_b64url_decode(in, strlen(in), out, cap);
}

static void test_b64_valid(void **state)
{
	unsigned char out[64];

	(void)state;
	assert_int_equal(decode_str("", out, sizeof(out)), 0);
	assert_int_equal(decode_str("Zg", out, sizeof(out)), 1);
	assert_memory_equal(out, "f", 1);
	assert_int_equal(decode_str("Zm8", out, sizeof(out)), 2);
	assert_memory_equal(out, "fo", 2);
	assert_int_equal(decode_str("Zm9v", out, sizeof(out)), 3);
	assert_memory_equal(out, "foo", 3);
	assert_int_equal(decode_str("Zm9vYmFy", out, sizeof(out)), 6);
	assert_memory_equal(out, "foobar", 6);
	/* The URL-safe alphabet: 0xfb 0xff 0xbf is "-_-_" (it would be "+/+/" in base64). */
	assert_int_equal(decode_str("-_-_", out, sizeof(out)), 3);
	assert_memory_equal(out, "\xfb\xff\xbf", 3);
	/* Embedded NULs pass through: "ls\0-l\0". */
	assert_int_equal(decode_str("bHMALWwA", out, sizeof(out)), 6);
	assert_memory_equal(out, "ls\0-l\0", 6);
}

static void test_b64_malformed(void **state)
{
	unsigned char out[64];

	(void)state;
	assert_int_equal(decode_str("Zm9v+A", out, sizeof(out)), -1); /* standard alphabet */
	assert_int_equal(decode_str("Zm9v/A", out, sizeof(out)), -1);
	assert_int_equal(decode_str("Zg==", out, sizeof(out)), -1);   /* padding */
	assert_int_equal(decode_str("Zm8", out, 1), -1);               /* does not fit */
	assert_int_equal(decode_str("Zm9vY", out, sizeof(out)), -1);  /* 1 char left over */
	assert_int_equal(decode_str("Z", out, sizeof(out)), -1);
	assert_int_equal(decode_str("Zm9vA", out, sizeof(out)), -1);  /* ...even with zero bits */
	assert_int_equal(decode_str("A", out, sizeof(out)), -1);
	assert_int_equal(decode_str("Zh", out, sizeof(out)), -1);     /* non-zero spare bits */
	assert_int_equal(decode_str("Zm9", out, sizeof(out)), -1);    /* "fo" is "Zm8" */
	assert_int_equal(decode_str("Zm8", out, sizeof(out)), 2);
	assert_int_equal(decode_str("Zm-", out, sizeof(out)), -1);    /* spare bits of '-' */
	assert_int_equal(decode_str("Zm 9v", out, sizeof(out)), -1);
	assert_int_equal(decode_str("Zm9v\x80", out, sizeof(out)), -1);
	assert_int_equal(cmdline_b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

static void test_b64_exact_capacity(void **state)
{
	unsigned char out[3];

	(void)state;
	assert_int_equal(decode_str("Zm9v", out, 3), 3);
	assert_int_equal(decode_str("Zm9vYg", out, 3), -1);
}

static void test_split_argv(void **state)
{
	char buf[] = "ls\0-l\0\0/tmp dir\0";
	char *argv[8];
	const char *err = NULL;

	(void)state;
	assert_int_equal(cmdline_split_argv(buf, sizeof(buf) - 1, argv, 7, &err), 4);
	assert_string_equal(argv[0], "ls");
	assert_string_equal(argv[1], "-l");
	assert_string_equal(argv[2], ""); /* an empty argument is kept */
	assert_string_equal(argv[3], "/tmp dir");
	assert_null(argv[4]);
}

static void test_split_argv_malformed(void **state)
{
	char unterminated[] = "ls\0-l";
	char empty_prog[] = "\0x\0";
	char three[] = "a\0b\0c\0";
	char *argv[4];
	const char *err = NULL;

	(void)state;
	assert_int_equal(cmdline_split_argv(three, 0, argv, 3, &err), -1);
	assert_string_equal(err, "empty argv");
	assert_int_equal(cmdline_split_argv(unterminated, sizeof(unterminated) - 1, argv, 3, &err),
			 -1);
	assert_string_equal(err, "last argument is not NUL-terminated");
	assert_int_equal(cmdline_split_argv(empty_prog, sizeof(empty_prog) - 1, argv, 3, &err), -1);
	assert_string_equal(err, "empty program name");
	assert_int_equal(cmdline_split_argv(three, sizeof(three) - 1, argv, 2, &err), -1);
	assert_string_equal(err, "too many arguments");
	/* Exactly max_args fits, and argv[max_args] is the NULL. */
	assert_int_equal(cmdline_split_argv(three, sizeof(three) - 1, argv, 3, &err), 3);
	assert_null(argv[3]);
}

static void test_decode_run(void **state)
{
	char buf[CMDLINE_RUN_MAX];
	char *argv[CMDLINE_MAX_ARGS + 1];
	const char *err = NULL;
	/* printf '%s\0' sh -c 'echo hi' | base64 | tr '+/' '-_' | tr -d = */
	const char *val = "c2gALWMAZWNobyBoaQA";

	(void)state;
	assert_int_equal(cmdline_decode_run(val, strlen(val), buf, sizeof(buf), argv,
					    CMDLINE_MAX_ARGS, &err),
			 3);
	assert_string_equal(argv[0], "sh");
	assert_string_equal(argv[1], "-c");
	assert_string_equal(argv[2], "echo hi");
	assert_null(argv[3]);

	assert_int_equal(cmdline_decode_run("", 0, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS, &err),
			 -1);
	assert_string_equal(err, "empty argv");
	assert_int_equal(cmdline_decode_run("c2g", 3, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS,
					    &err),
			 -1); /* "sh" without its NUL */
	assert_string_equal(err, "last argument is not NUL-terminated");
	assert_int_equal(cmdline_decode_run("c2g=", 4, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS,
					    &err),
			 -1);
	assert_string_equal(err, "not valid unpadded base64url");
}

static void test_decode_run_too_long(void **state)
{
	static char val[CMDLINE_MAX + 8];
	char buf[CMDLINE_RUN_MAX];
	char *argv[CMDLINE_MAX_ARGS + 1];
	const char *err = NULL;
	size_t n;

	(void)state;
	/* "AAAA" is three NUL bytes: an empty program name, but only if it fits. */
	n = CMDLINE_RUN_MAX / 3 * 4 + 4;
	memset(val, 'A', n);
	assert_int_equal(cmdline_decode_run(val, n, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS, &err),
			 -1);
	assert_string_equal(err, "value too long");
	/* "eAB4AHgA" is "x\0x\0x\0": 100 of them make 300 arguments. */
	for (n = 0; n < 8 * 100; n += 8)
		memcpy(val + n, "eAB4AHgA", 8);
	assert_int_equal(cmdline_decode_run(val, n, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS, &err),
			 -1);
	assert_string_equal(err, "too many arguments");
	/* CMDLINE_MAX_ARGS (256) is the limit and fits: 85 * 3 arguments, then "eAA" is "x\0". */
	n = 8 * 85;
	memcpy(val + n, "eAA", 3);
	assert_int_equal(cmdline_decode_run(val, n + 3, buf, sizeof(buf), argv, CMDLINE_MAX_ARGS,
					    &err),
			 256);
	assert_null(argv[256]);
}

static void test_value_copy(void **state)
{
	struct cmdline_value v = { "/dev/vdb rest", 8, true };
	struct cmdline_value nul = { "/dev\0vdb", 8, true };
	struct cmdline_value missing = { NULL, 0, false };
	char out[9];

	(void)state;
	assert_true(cmdline_value_copy(v, out, sizeof(out)));
	assert_string_equal(out, "/dev/vdb");
	assert_false(cmdline_value_copy(v, out, 8)); /* no room for the NUL */
	assert_false(cmdline_value_copy(nul, out, sizeof(out)));
	assert_false(cmdline_value_copy(missing, out, sizeof(out)));
}


static int net_parse(const char *s, struct cmdline_net *n, const char **err)
{
	return cmdline_parse_net(s, strlen(s), n, err);
}

static void test_parse_net(void **state)
{
	struct cmdline_net n;
	const char *err = NULL;

	(void)state;
	assert_int_equal(net_parse("10.0.2.15/24,10.0.2.2,10.0.2.3,1500", &n, &err), 0);
	assert_int_equal(n.addr, 0x0a00020f);
	assert_int_equal(n.prefix, 24);
	assert_int_equal(n.gateway, 0x0a000202);
	assert_int_equal(n.dns, 0x0a000203);
	assert_int_equal(n.mtu, 1500);
	assert_int_equal(net_parse("192.168.7.7/32,,,65535", &n, &err), 0);
	assert_int_equal(n.gateway, 0);
	assert_int_equal(n.dns, 0);
	assert_int_equal(n.mtu, 65535);
	assert_int_equal(net_parse("1.2.3.4/1,,255.255.255.255,68", &n, &err), 0);
	assert_int_equal(n.dns, 0xffffffffu);
	/* the value as cmdline_find hands it over: not NUL-terminated */
	struct cmdline_value v = cmdline_find("quiet flint.net=10.0.2.15/24,10.0.2.2,10.0.2.3,1500 ro",
					      60, "flint.net");
	assert_true(v.found);
	assert_int_equal(cmdline_parse_net(v.ptr, v.len, &n, &err), 0);
	assert_int_equal(n.mtu, 1500);
}

static void test_parse_net_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"10.0.2.15/24",
		"10.0.2.15/24,10.0.2.2,10.0.2.3",
		"10.0.2.15/24,10.0.2.2,10.0.2.3,1500,",
		"10.0.2.15/24,10.0.2.2,10.0.2.3,1500,1",
		"10.0.2.15,10.0.2.2,10.0.2.3,1500",
		"10.0.2.15/,,,1500",
		"10.0.2.15/0,,,1500",
		"10.0.2.15/33,,,1500",
		"0.0.0.0/8,,,1500",
		"10.0.2/24,,,1500",
		"10.0.2.15.1/24,,,1500",
		"10.0.2.256/24,,,1500",
		"10.0..2/24,,,1500",
		"10.0.2.1x/24,,,1500",
		"-1.0.2.1/24,,,1500",
		" 10.0.2.15/24,,,1500",
		"10.0.2.15/24,10.0.2.2 ,,1500",
		"10.0.2.15/24,,,67",
		"10.0.2.15/24,,,65536",
		"10.0.2.15/24,,,",
		"10.0.2.15/24,,,15a0",
		"10.0.2.15/24,,,0001500",
		"1000.0.2.15/24,,,1500",
		"10.0.2.15/2a,,,1500",
	};
	struct cmdline_net n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;

		if (net_parse(bad[i], &n, &err) != -1 || !err)
			fail_msg("flint.net=%s was accepted", bad[i]);
	}
}

/* flint.rootro as flint-init reads it: cmdline_bool over cmdline_find. */
static int rootro(const char *cmdline)
{
	return cmdline_bool(cmdline_find(cmdline, strlen(cmdline), "flint.rootro="));
}

static void test_bool_rootro(void **state)
{
	(void)state;
	assert_int_equal(rootro("quiet flint.rootro=1 ro"), 1);
	assert_int_equal(rootro("flint.rootro=1\n"), 1); /* /proc/cmdline's newline */
	assert_int_equal(rootro("flint.rootro"), 1);	  /* a bare flag is on */
	assert_int_equal(rootro("flint.rootro="), 1);	  /* as is an empty value */
	assert_int_equal(rootro("flint.rootro=y"), 1);
	assert_int_equal(rootro("flint.rootro=yes"), 1);
	assert_int_equal(rootro("flint.rootro=on"), 1);
	assert_int_equal(rootro("flint.rootro=true"), 1);
	assert_int_equal(rootro("flint.rootro=\"1\""), 1);
	assert_int_equal(rootro(""), 0);
	assert_int_equal(rootro("quiet ro"), 0);
	assert_int_equal(rootro("flint.rootro=0"), 0);
	assert_int_equal(rootro("flint.rootro=n"), 0);
	assert_int_equal(rootro("flint.rootro=no"), 0);
	assert_int_equal(rootro("flint.rootro=off"), 0);
	assert_int_equal(rootro("flint.rootro=false"), 0);
	/* The last one wins, as for any kernel parameter. */
	assert_int_equal(rootro("flint.rootro=1 flint.rootro=0"), 0);
	assert_int_equal(rootro("flint.rootro=0 flint.rootro=1"), 1);
	/* Only the whole name, only before "--". */
	assert_int_equal(rootro("xflint.rootro=1 flint.rootrox=1 flint.root=1"), 0);
	assert_int_equal(rootro("init_args=\"flint.rootro=1\""), 0);
	assert_int_equal(rootro("quiet -- flint.rootro=1"), 0);
	/* Unreadable values are -1: flint-init takes them as read-only. */
	static const char *const bad[] = { "flint.rootro=2",   "flint.rootro=YES", "flint.rootro=01",
					   "flint.rootro=1x",  "flint.rootro=-1",  "flint.rootro=\"1 \"",
					   "flint.rootro=ro",  "flint.rootro=yess" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rootro(bad[i]) != -1)
			fail_msg("%s: %d, expected -1", bad[i], rootro(bad[i]));
}

static void test_bool_value(void **state)
{
	struct cmdline_value missing = { NULL, 0, false };
	struct cmdline_value one = { "1 trailing", 1, true };
	struct cmdline_value nul = { "1\0", 2, true };

	(void)state;
	assert_int_equal(cmdline_bool(missing), 0);
	assert_int_equal(cmdline_bool(one), 1); /* the length counts, not the NUL */
	assert_int_equal(cmdline_bool(nul), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_start_middle_end),
		cmocka_unit_test(test_find_key_with_equals_sign),
		cmocka_unit_test(test_find_not_a_substring),
		cmocka_unit_test(test_find_quotes_and_last_wins),
		cmocka_unit_test(test_find_stops_at_double_dash),
		cmocka_unit_test(test_find_respects_length_and_nul),
		cmocka_unit_test(test_b64_valid),
		cmocka_unit_test(test_b64_malformed),
		cmocka_unit_test(test_b64_exact_capacity),
		cmocka_unit_test(test_split_argv),
		cmocka_unit_test(test_split_argv_malformed),
		cmocka_unit_test(test_decode_run),
		cmocka_unit_test(test_decode_run_too_long),
		cmocka_unit_test(test_value_copy),
		cmocka_unit_test(test_parse_net),
		cmocka_unit_test(test_parse_net_bad),
		cmocka_unit_test(test_bool_rootro),
		cmocka_unit_test(test_bool_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
