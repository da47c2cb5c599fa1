/* Unit tests for api/validate.c: names, paths, ids, durations, labels, port maps and formatters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_sandbox_name(void **state)
{
	(void)state;
	static const char *const good[] = { "a", "Z", "0", "ab", "a-b", "a_b", "a-b_c-d", "box1",
					    "A1-b2_C3", "9lives" };
	static const char *const bad[] = { "", "-a", "a-", "_a", "a_", "a--b", "a__b", "a-_b", "a_-b",
					   "a b", "a.b", "a/b", "é", "a\n", "-", "_", "a\xff",
					   "a:b", "..", "a@b" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(valid_sandbox_name(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(valid_sandbox_name(bad[i]));
	assert_false(valid_sandbox_name(NULL));
	char *s = repeat('a', 63);
	assert_true(valid_sandbox_name(s));
	free(s);
	s = repeat('a', 64);
	assert_false(valid_sandbox_name(s));
	free(s);
	s = repeat('a', 100000);
	assert_false(valid_sandbox_name(s));
	free(s);
}

static void test_image_name(void **state)
{
	(void)state;
	assert_true(valid_image_name("alpine:3.20"));
	assert_true(valid_image_name("ghcr.io/org/img@sha256:abc-def_1"));
	assert_true(valid_image_name("-"));
	assert_false(valid_image_name(""));
	assert_false(valid_image_name(NULL));
	assert_false(valid_image_name("a b"));
	assert_false(valid_image_name("a\\b"));
	assert_false(valid_image_name("a$b"));
	assert_false(valid_image_name("a\x7f"));
	assert_false(valid_image_name("ä"));
	char *s = repeat('x', 256);
	assert_true(valid_image_name(s));
	free(s);
	s = repeat('x', 257);
	assert_false(valid_image_name(s));
	free(s);
}

static void test_workdir(void **state)
{
	(void)state;
	assert_true(valid_workdir("/"));
	assert_true(valid_workdir("/tmp"));
	assert_true(valid_workdir("/a/b/c/"));
	assert_true(valid_workdir("/a/..b/c.."));
	assert_true(valid_workdir("/a/.../b"));
	assert_true(valid_workdir("/a/./b"));
	assert_true(valid_workdir("//a//b"));
	assert_false(valid_workdir(NULL));
	assert_false(valid_workdir(""));
	assert_false(valid_workdir("tmp"));
	assert_false(valid_workdir("./tmp"));
	assert_false(valid_workdir("/.."));
	assert_false(valid_workdir("/../x"));
	assert_false(valid_workdir("/a/.."));
	assert_false(valid_workdir("/a/../b"));
	assert_false(valid_workdir("/a//..//b"));
	char *s = repeat('a', 4095);
	s[0] = '/';
	assert_true(valid_workdir(s));
	free(s);
	s = repeat('a', 4096);
	s[0] = '/';
	assert_false(valid_workdir(s));
	free(s);
}

static void test_uuid(void **state)
{
	(void)state;
	assert_true(valid_uuid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(valid_uuid("123E4567-E89B-12D3-A456-42661417400F"));
	assert_false(valid_uuid(NULL));
	assert_false(valid_uuid(""));
	assert_false(valid_uuid("123e4567e89b12d3a456426614174000"));
	assert_false(valid_uuid("123e4567-e89b-12d3-a456-4266141740000"));
	assert_false(valid_uuid("123e4567-e89b-12d3-a456-42661417400"));
	assert_false(valid_uuid("123e4567-e89b-12d3-a456_426614174000"));
	assert_false(valid_uuid("g23e4567-e89b-12d3-a456-426614174000"));
	assert_false(valid_uuid("123e4567-e89b-12d3-a456-42661417400 "));
	assert_false(valid_uuid("{23e4567-e89b-12d3-a456-426614174000"));
	assert_false(valid_uuid("123e4567--89b-12d3-a456-426614174000"));
}

static void test_job_id(void **state)
{
	(void)state;
	assert_true(valid_job_id("0123abcd"));
	assert_true(valid_job_id("ffffffff"));
	assert_false(valid_job_id("0123ABCD"));
	assert_false(valid_job_id("0123abc"));
	assert_false(valid_job_id("0123abcde"));
	assert_false(valid_job_id("0123abcg"));
	assert_false(valid_job_id(""));
	assert_false(valid_job_id(NULL));
	char out[9];
	job_id_format(0, out);
	assert_string_equal(out, "00000000");
	job_id_format(0xdeadbeef, out);
	assert_string_equal(out, "deadbeef");
	assert_true(valid_job_id(out));
	job_id_format(0x0a0b0c0d, out);
	assert_string_equal(out, "0a0b0c0d");
}

static void test_duration(void **state)
{
	(void)state;
	uint64_t s = 77;
	struct {
		const char *in;
		uint64_t want;
	} good[] = {
		{ "30s", 30 },	     { "30m", 1800 },	    { "2h", 7200 },	    { "1d", 86400 },
		{ "1h30m", 5400 },   { "30m1h", 5400 },	    { "1d2h3m4s", 93784 }, { "0h1s", 1 },
		{ "30d", 2592000 },  { "720h", 2592000 },   { "0001m", 60 },	    { "2592000s", 2592000 },
		{ "29d23h59m60s", 2592000 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(duration_parse(good[i].in, &s), 0);
		assert_int_equal(s, good[i].want);
	}
	static const char *const bad[] = {
		"", "0s", "0m0s", "30", "s", "1x", "1h1h", "-1h", "+1h", "1.5h", "1 h", " 1h", "1h ",
		"31d", "2592001s", "30d1s", "721h", "1H", "1hh", "h1", "99999999999999999999999999d",
		"18446744073709551616s", "18446744073709551615s", "1h30", "1d\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = 77;
		assert_int_equal(duration_parse(bad[i], &s), -EINVAL);
		assert_int_equal(s, 77);
	}
	assert_int_equal(duration_parse(NULL, &s), -EINVAL);
	char *big = repeat('9', 100000);
	big[99999] = 's';
	assert_int_equal(duration_parse(big, &s), -EINVAL);
	free(big);
}

static void test_labels(void **state)
{
	(void)state;
	char k[64], v[64];
	assert_int_equal(label_filter_parse("env:prod", k, sizeof(k), v, sizeof(v)), 0);
	assert_string_equal(k, "env");
	assert_string_equal(v, "prod");
	assert_int_equal(label_filter_parse("a.b/c-d_e:x:y z", k, sizeof(k), v, sizeof(v)), 0);
	assert_string_equal(k, "a.b/c-d_e");
	assert_string_equal(v, "x:y z");
	assert_int_equal(label_filter_parse("k:", k, sizeof(k), v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(label_filter_parse(":v", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("kv", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("k k:v", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("k:v\n", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("k:\x7f", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("k:\xc3\xa9", k, sizeof(k), v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse(NULL, k, sizeof(k), v, sizeof(v)), -EINVAL);
	/* Capacity too small for a valid part is a refusal, never an overflow. */
	assert_int_equal(label_filter_parse("key:value", k, 3, v, sizeof(v)), -EINVAL);
	assert_int_equal(label_filter_parse("key:value", k, sizeof(k), v, 5), -EINVAL);
	assert_int_equal(label_filter_parse("key:value", k, 4, v, 6), 0);
	char *s = repeat('k', 200);
	s[63] = ':';
	s[64 + 63] = '\0';
	assert_int_equal(label_filter_parse(s, k, sizeof(k), v, sizeof(v)), 0);
	assert_int_equal(strlen(k), 63);
	assert_int_equal(strlen(v), 63);
	s[64 + 63] = 'v';
	s[64 + 64] = '\0';
	assert_int_equal(label_filter_parse(s, k, sizeof(k), v, sizeof(v)), -EINVAL);
	s[63] = 'k';
	s[64] = ':';
	assert_int_equal(label_filter_parse(s, k, sizeof(k), v, sizeof(v)), -EINVAL);
	free(s);

	assert_true(valid_label("app", "web"));
	assert_true(valid_label("app", ""));
	assert_true(valid_label("a.b/c", "~!@#$%^&*() "));
	assert_false(valid_label("", "v"));
	assert_false(valid_label("a:b", "v"));
	assert_false(valid_label("a b", "v"));
	assert_false(valid_label("k", "\t"));
	assert_false(valid_label(NULL, "v"));
	assert_false(valid_label("k", NULL));
	s = repeat('x', 64);
	assert_false(valid_label(s, "v"));
	assert_false(valid_label("k", s));
	s[63] = '\0';
	assert_true(valid_label(s, s));
	free(s);
}

static void test_port_map(void **state)
{
	(void)state;
	struct port_map pm;
	assert_int_equal(port_map_parse("8080:80", &pm), 0);
	assert_string_equal(pm.host_addr, "");
	assert_int_equal(pm.host_port, 8080);
	assert_int_equal(pm.guest_port, 80);
	assert_int_equal(port_map_parse("127.0.0.1:1:65535", &pm), 0);
	assert_string_equal(pm.host_addr, "127.0.0.1");
	assert_int_equal(pm.host_port, 1);
	assert_int_equal(pm.guest_port, 65535);
	assert_int_equal(port_map_parse("255.255.255.255:65535:65535/tcp", &pm), 0);
	assert_string_equal(pm.host_addr, "255.255.255.255");
	assert_int_equal(port_map_parse("0.0.0.0:80:80", &pm), 0);
	assert_string_equal(pm.host_addr, "0.0.0.0");
	static const char *const bad[] = {
		"", "80", ":80", "80:", "0:80", "80:0", "65536:80", "80:65536", "080:80", "80:080",
		"-1:80", "+80:80", " 80:80", "80:80 ", "80:80/udp", "80:80/tcpx", "80:80/", "a:80",
		"1.2.3:80:80", "1.2.3.4.5:80:80", "256.0.0.1:80:80", "01.2.3.4:80:80", "1..3.4:80:80",
		"1.2.3.4::80", "1.2.3.4:80", "::1:80:80", "[::1]:80:80", "localhost:80:80",
		"1.2.3.4:80:80:80", "99999999999999999999:80", "1.2.3.4.:80:80", ".1.2.3:80:80",
		"1.2.3.4:80:80/tcp/tcp", "1234.2.3.4:80:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&pm, 0x77, sizeof(pm));
		assert_int_equal(port_map_parse(bad[i], &pm), -EINVAL);
	}
	assert_int_equal(port_map_parse(NULL, &pm), -EINVAL);
	char *s = repeat('1', 10000);
	assert_int_equal(port_map_parse(s, &pm), -EINVAL);
	free(s);
}

static void test_uuid_generate(void **state)
{
	(void)state;
	char a[37], b[37];
	uuid_generate_v4(a);
	uuid_generate_v4(b);
	assert_true(valid_uuid(a));
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	for (int i = 0; i < 36; i++)
		assert_false(a[i] >= 'A' && a[i] <= 'F');
}

static void test_rfc3339(void **state)
{
	(void)state;
	char out[32];
	rfc3339_utc(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	rfc3339_utc(1795331520, out);
	assert_string_equal(out, "2026-11-22T07:12:00Z");
	rfc3339_utc(951782400, out); /* leap day */
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	rfc3339_utc(4107542399, out);
	assert_string_equal(out, "2100-02-28T23:59:59Z");
	rfc3339_utc(4107542400, out); /* 2100 is not a leap year */
	assert_string_equal(out, "2100-03-01T00:00:00Z");
	rfc3339_utc(-1, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	rfc3339_utc(INT64_MIN, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	rfc3339_utc(INT64_MAX, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
	rfc3339_utc(253402300799, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sandbox_name), cmocka_unit_test(test_image_name),
		cmocka_unit_test(test_workdir),	     cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_job_id),	     cmocka_unit_test(test_duration),
		cmocka_unit_test(test_labels),	     cmocka_unit_test(test_port_map),
		cmocka_unit_test(test_uuid_generate), cmocka_unit_test(test_rfc3339),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
