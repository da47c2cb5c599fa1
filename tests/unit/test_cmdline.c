/* Unit tests for the guest kernel command line (vmm/cmdline.c): base64url and cmdline_build. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmdline.h"
#include "flint_port.h"
#include "layout.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* Strict unpadded base64url decode; -1 on any bad character or a 1-character tail. */
static long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	if (len % 4 == 1)
		return -1;
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = in[i] ? strchr(tab, in[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 6) | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc ? -1 : (long)o;
}

/* How many times tok occurs in s as a whole space-separated word. */
static int count_token(const char *s, const char *tok)
{
	int n = 0;
	size_t tl = strlen(tok);
	for (const char *p = s; (p = strstr(p, tok)); p += tl)
		if ((p == s || p[-1] == ' ') && (p[tl] == ' ' || p[tl] == '\0'))
			n++;
	return n;
}

/* The value of the one word starting with prefix, or NULL. */
static const char *word_value(const char *s, const char *prefix, size_t *len)
{
	size_t pl = strlen(prefix);
	for (const char *p = s; (p = strstr(p, prefix)); p++) {
		if (p != s && p[-1] != ' ')
			continue;
		const char *v = p + pl;
		*len = strcspn(v, " ");
		return v;
	}
	return NULL;
}

/* A fresh exactly-sized heap buffer, so ASan sees any write past cap. */
static char *out_buf;
static int teardown(void **state)
{
	(void)state;
	free(out_buf);
	out_buf = NULL;
	return 0;
}

static int build(size_t cap, const struct vm_config *cfg, bool pvm, unsigned nr_mmio)
{
	free(out_buf);
	out_buf = malloc(cap ? cap : 1);
	assert_non_null(out_buf);
	memset(out_buf, 'Z', cap ? cap : 1);
	return cmdline_build(out_buf, cap, cfg, pvm, nr_mmio);
}

/* ---- base64url ----------------------------------------------------------------------------- */

static void test_b64_rfc4648_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" },	     { "f", "Zg" },	  { "fo", "Zm8" },	   { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[32];
		memset(out, 'Z', sizeof(out));
		int n = base64url_encode(out, sizeof(out), (const unsigned char *)v[i].in,
					 strlen(v[i].in));
		assert_int_equal(n, strlen(v[i].out));
		assert_string_equal(out, v[i].out);
	}
}

static void test_b64_url_alphabet(void **state)
{
	(void)state;
	char out[16];
	const unsigned char a[] = { 0xfb, 0xff }; /* standard base64 "+/8=" */
	assert_int_equal(base64url_encode(out, sizeof(out), a, 2), 3);
	assert_string_equal(out, "-_8");
	const unsigned char b[] = { 0xfb, 0xff, 0xbf }; /* "+/+/" */
	assert_int_equal(base64url_encode(out, sizeof(out), b, 3), 4);
	assert_string_equal(out, "-_-_");
	const unsigned char c[] = { 0x00, 0x00, 0x00, 0xff };
	assert_int_equal(base64url_encode(out, sizeof(out), c, 4), 6);
	assert_string_equal(out, "AAAA_w");
}

static void test_b64_all_bytes_round_trip(void **state)
{
	(void)state;
	unsigned char in[256], back[256];
	for (unsigned i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	char out[400];
	for (size_t len = 0; len <= 256; len += 1) {
		int n = base64url_encode(out, sizeof(out), in, len);
		assert_int_equal(n, len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0));
		assert_int_equal(strlen(out), n);
		assert_null(strpbrk(out, "+/="));
		assert_int_equal(b64url_decode(out, (size_t)n, back, sizeof(back)), len);
		assert_memory_equal(back, in, len);
	}
}

static void test_b64_cap(void **state)
{
	(void)state;
	const unsigned char *foobar = (const unsigned char *)"foobar";
	/* 8 characters need 9 bytes with the NUL; an exactly-sized heap buffer catches overruns. */
	for (size_t cap = 0; cap <= 9; cap++) {
		char *out = malloc(cap ? cap : 1);
		assert_non_null(out);
		int n = base64url_encode(out, cap, foobar, 6);
		if (cap < 9)
			assert_int_equal(n, -1);
		else
			assert_int_equal(n, 8);
		free(out);
	}
	char one[1];
	assert_int_equal(base64url_encode(one, 1, foobar, 0), 0);
	assert_int_equal(one[0], '\0');
	assert_int_equal(base64url_encode(one, 0, foobar, 0), -1);
	char three[3];
	assert_int_equal(base64url_encode(three, 2, foobar, 1), -1); /* "Zg" + NUL = 3 */
	assert_int_equal(base64url_encode(three, 3, foobar, 1), 2);
	assert_string_equal(three, "Zg");
	char four[4];
	assert_int_equal(base64url_encode(four, 4, foobar, 2), 3); /* "Zm8" + NUL */
	assert_string_equal(four, "Zm8");
	assert_int_equal(base64url_encode(four, 4, foobar, 3), -1); /* "Zm9v" + NUL = 5 */
	assert_int_equal(base64url_encode(four, 4, foobar, 1), 2);
	assert_string_equal(four, "Zg");
}

/* ---- cmdline_build ------------------------------------------------------------------------- */

static void test_build_minimal(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	const char *s = out_buf;
	assert_int_equal(count_token(s, "flint_port=0x600"), 1);
	assert_int_equal(count_token(s, "console=ttyS0"), 1);
	assert_int_equal(count_token(s, "reboot=k"), 1);
	assert_int_equal(count_token(s, "panic=-1"), 1);
	assert_int_equal(count_token(s, "quiet"), 1);
	assert_null(strstr(s, "root="));
	assert_null(strstr(s, "init="));
	assert_null(strstr(s, "virtio_mmio"));
	assert_null(strstr(s, "no_int3_selftest"));
	assert_null(strstr(s, FLINT_CMDLINE_RUN));
	assert_true(strlen(s) < LAYOUT_CMDLINE_MAX);
	assert_true(s[strlen(s) - 1] != ' ');
	assert_true(s[0] != ' ');
}

static void test_build_root_only_with_disk(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	cfg.nr_disks = 1;
	cfg.disks[0].path = "root.img";
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_int_equal(count_token(out_buf, "root=/dev/vda"), 1);
	assert_non_null(strstr(out_buf, " root=/dev/vda ro "));
	assert_int_equal(count_token(out_buf, "rootfstype=ext4"), 1);
	assert_int_equal(count_token(out_buf, "init=/sbin/flint-init"), 1);
	cfg.nr_disks = 0;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_null(strstr(out_buf, "root="));
	assert_int_equal(count_token(out_buf, "ro"), 0);
}

static void test_build_virtio_devices(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 3), 0);
	const char *a = strstr(out_buf, " virtio_mmio.device=4K@0xd0000000:5 ");
	const char *b = strstr(out_buf, " virtio_mmio.device=4K@0xd0001000:6 ");
	const char *c = strstr(out_buf, " virtio_mmio.device=4K@0xd0002000:7");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	int n = 0;
	for (const char *p = out_buf; (p = strstr(p, "virtio_mmio.device=")); p++)
		n++;
	assert_int_equal(n, 3);

	/* The largest count the layout allows: 16 windows, GSIs 5..20. */
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, LAYOUT_VIRTIO_MAX), 0);
	assert_int_equal(count_token(out_buf, "virtio_mmio.device=4K@0xd000f000:20"), 1);
	n = 0;
	for (const char *p = out_buf; (p = strstr(p, "virtio_mmio.device=")); p++)
		n++;
	assert_int_equal(n, LAYOUT_VIRTIO_MAX);
}

static void test_build_pvm_flags(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, true, 0), 0);
	assert_non_null(strstr(out_buf, " " CMDLINE_PVM_FLAGS));
	assert_int_equal(count_token(out_buf, "no_int3_selftest"), 1);
	assert_int_equal(count_token(out_buf, "clearcpuid=popcnt,smap,cx16"), 1);
	assert_int_equal(count_token(out_buf, "pvm_syscall_fixup"), 1);
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_null(strstr(out_buf, "no_int3_selftest"));
	assert_null(strstr(out_buf, "pvm_syscall_fixup"));
	assert_null(strstr(out_buf, "clearcpuid"));
}

static void test_build_quiet_unless_verbose(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	cfg.verbose = 1;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_int_equal(count_token(out_buf, "quiet"), 0);
	cfg.verbose = 2;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_int_equal(count_token(out_buf, "quiet"), 0);
	cfg.verbose = 0;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_int_equal(count_token(out_buf, "quiet"), 1);
}

/* Decode flint.run= from out_buf and compare with argv joined by NULs (each NUL-terminated). */
static void assert_run_is(char *const *argv, unsigned argc)
{
	size_t len;
	const char *v = word_value(out_buf, FLINT_CMDLINE_RUN, &len);
	assert_non_null(v);
	unsigned char got[LAYOUT_CMDLINE_MAX], want[LAYOUT_CMDLINE_MAX];
	size_t wn = 0;
	for (unsigned i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		assert_true(wn + l <= sizeof(want));
		memcpy(want + wn, argv[i], l);
		wn += l;
	}
	long n = b64url_decode(v, len, got, sizeof(got));
	assert_int_equal(n, (long)wn);
	assert_memory_equal(got, want, wn);
	/* Exactly one flint.run=. */
	assert_null(strstr(v, FLINT_CMDLINE_RUN));
}

static void test_build_run_round_trip(void **state)
{
	(void)state;
	char *argv[] = { "sh", "-c", "echo 'a b' \"c\"\nprintf %s\\n done", "", "é€", NULL };
	struct vm_config cfg = { 0 };
	cfg.nr_disks = 1;
	cfg.disks[0].path = "r";
	cfg.argv = argv;
	cfg.argc = 5;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_run_is(argv, 5);
	/* The encoding keeps every byte of the command out of the kernel's parser. */
	size_t len;
	const char *v = word_value(out_buf, FLINT_CMDLINE_RUN, &len);
	assert_int_equal(strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			 len);
	assert_true(v[len] == '\0' || v[len] == ' ');
	assert_null(strchr(out_buf, '\n'));
	assert_null(strchr(out_buf, '"'));
	assert_null(strchr(out_buf, '\''));

	char *one[] = { "true", NULL };
	cfg.argv = one;
	cfg.argc = 1;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_int_equal(count_token(out_buf, "flint.run=dHJ1ZQA"), 1); /* "true\0" */
	assert_run_is(one, 1);
}

static void test_build_extra_last(void **state)
{
	(void)state;
	char *argv[] = { "id", NULL };
	struct vm_config cfg = { 0 };
	cfg.nr_disks = 1;
	cfg.argv = argv;
	cfg.argc = 1;
	cfg.cmdline_extra = "loglevel=7 foo.bar=1";
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, true, 2), 0);
	size_t l = strlen(out_buf), el = strlen(cfg.cmdline_extra);
	assert_true(l > el + 1);
	assert_string_equal(out_buf + l - el - 1, " loglevel=7 foo.bar=1");
	/* Order: flint_port, root, devices, PVM, run, extra. */
	const char *port = strstr(out_buf, "flint_port="), *root = strstr(out_buf, "root="),
		   *dev = strstr(out_buf, "virtio_mmio.device="),
		   *pvm = strstr(out_buf, "no_int3_selftest"), *run = strstr(out_buf, "flint.run="),
		   *extra = strstr(out_buf, "loglevel=7");
	assert_true(port && root && dev && pvm && run && extra);
	assert_true(port < root && root < dev && dev < pvm && pvm < run && run < extra);

	cfg.cmdline_extra = ""; /* empty adds nothing, not even a space */
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_true(out_buf[strlen(out_buf) - 1] != ' ');
}

static size_t enc_len(size_t r)
{
	return r / 3 * 4 + (r % 3 ? r % 3 + 1 : 0);
}

/* Length of the line without command or extra, for boundary tests. */
static size_t base_len(const struct vm_config *cfg, bool pvm, unsigned nr_mmio)
{
	struct vm_config c = *cfg;
	c.cmdline_extra = NULL;
	c.argv = NULL;
	c.argc = 0;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &c, pvm, nr_mmio), 0);
	return strlen(out_buf);
}

static void test_build_extra_boundary(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	cfg.nr_disks = 2;
	size_t base = base_len(&cfg, true, 2);
	/* The line plus " " plus extra plus NUL fills 2048 bytes exactly: fits. */
	size_t fit = LAYOUT_CMDLINE_MAX - 1 - base - 1;
	char *extra = malloc(fit + 2);
	assert_non_null(extra);
	memset(extra, 'e', fit + 1);
	extra[fit] = '\0';
	cfg.cmdline_extra = extra;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, true, 2), 0);
	assert_int_equal(strlen(out_buf), LAYOUT_CMDLINE_MAX - 1);
	/* One byte more: -E2BIG, and the buffer stays a terminated string within cap. */
	extra[fit] = 'e';
	extra[fit + 1] = '\0';
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, true, 2), -E2BIG);
	assert_true(strnlen(out_buf, LAYOUT_CMDLINE_MAX) < LAYOUT_CMDLINE_MAX);
	free(extra);

	char huge[5000];
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	cfg.cmdline_extra = huge;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), -E2BIG);
	assert_true(strnlen(out_buf, LAYOUT_CMDLINE_MAX) < LAYOUT_CMDLINE_MAX);
}

static void test_build_command_too_long(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	cfg.nr_disks = 1;
	/* Raw argv fits 2048 bytes but its encoding (4/3 larger) does not. */
	static char mid[1600];
	memset(mid, 'm', sizeof(mid) - 1);
	char *a1[] = { mid, NULL };
	cfg.argv = a1;
	cfg.argc = 1;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), -E2BIG);
	assert_true(strnlen(out_buf, LAYOUT_CMDLINE_MAX) < LAYOUT_CMDLINE_MAX);

	/* Raw argv alone exceeds 2048 bytes. */
	static char big[3000];
	memset(big, 'b', sizeof(big) - 1);
	char *a2[] = { "sh", big, NULL };
	cfg.argv = a2;
	cfg.argc = 2;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), -E2BIG);

	/* Many short arguments whose NULs push it over. */
	static char *many[1100];
	for (unsigned i = 0; i < 1099; i++)
		many[i] = "a";
	cfg.argv = many;
	cfg.argc = 1099;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), -E2BIG);

	/* Encoding fits but the rest of the line does not: put()'s overflow path. */
	cfg.argv = NULL;
	cfg.argc = 0;
	size_t base = base_len(&cfg, false, 1);
	size_t room = LAYOUT_CMDLINE_MAX - 1 - base - strlen(" " FLINT_CMDLINE_RUN);
	/* The largest raw length whose encoding fits exactly in the room left; then 3 more. */
	size_t r = 0;
	while (enc_len(r + 1) <= room)
		r++;
	assert_true(r > 1000 && r + 3 < 2048);
	static char arg[2048];
	memset(arg, 'q', sizeof(arg));
	arg[r - 1] = '\0'; /* r bytes with the NUL */
	char *a3[] = { arg, NULL };
	cfg.argv = a3;
	cfg.argc = 1;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_true(strlen(out_buf) <= LAYOUT_CMDLINE_MAX - 1);
	assert_true(strlen(out_buf) >= LAYOUT_CMDLINE_MAX - 1 - 3);
	assert_run_is(a3, 1);
	arg[r - 1] = 'q';
	arg[r + 2] = '\0'; /* 3 more raw bytes: 4 more characters */
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), -E2BIG);
}

static void test_build_small_caps(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	assert_int_equal(build(0, &cfg, false, 0), -E2BIG);
	for (size_t cap = 1; cap < 64; cap++) {
		assert_int_equal(build(cap, &cfg, false, 0), -E2BIG);
		assert_true(strnlen(out_buf, cap) < cap);
	}
	size_t need = base_len(&cfg, false, 0) + 1;
	assert_int_equal(build(need, &cfg, false, 0), 0);
	assert_int_equal(build(need - 1, &cfg, false, 0), -E2BIG);
}


static void test_build_net(void **state)
{
	(void)state;
	struct vm_config cfg = { 0 };
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 0), 0);
	assert_null(strstr(out_buf, "flint.net="));
	cfg.net.mode = NET_USER;
	cfg.net.guest_ip = 0x0a00020f;
	cfg.net.prefix = 24;
	cfg.net.gateway = 0x0a000202;
	cfg.net.dns = 0x0a000203;
	cfg.net.mtu = 1500;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_int_equal(count_token(out_buf, "flint.net=10.0.2.15/24,10.0.2.2,10.0.2.3,1500"), 1);
	/* tap without gw= and dns=: empty fields */
	cfg.net.mode = NET_TAP;
	cfg.net.guest_ip = 0xc0a80707;
	cfg.net.prefix = 32;
	cfg.net.gateway = cfg.net.dns = 0;
	cfg.net.mtu = 0;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_int_equal(count_token(out_buf, "flint.net=192.168.7.7/32,,,1500"), 1);
	/* tap without ip=: the guest configures eth0 itself */
	cfg.net.guest_ip = 0;
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_null(strstr(out_buf, "flint.net="));
	/* before the command and --cmdline-extra, which may override it */
	cfg.net.guest_ip = 0x0a00020f;
	cfg.cmdline_extra = "flint.net=x";
	assert_int_equal(build(LAYOUT_CMDLINE_MAX, &cfg, false, 1), 0);
	assert_true(strstr(out_buf, "flint.net=10.0.2.15") < strstr(out_buf, "flint.net=x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_rfc4648_vectors),
		cmocka_unit_test(test_b64_url_alphabet),
		cmocka_unit_test(test_b64_all_bytes_round_trip),
		cmocka_unit_test(test_b64_cap),
		cmocka_unit_test_teardown(test_build_minimal, teardown),
		cmocka_unit_test_teardown(test_build_root_only_with_disk, teardown),
		cmocka_unit_test_teardown(test_build_virtio_devices, teardown),
		cmocka_unit_test_teardown(test_build_pvm_flags, teardown),
		cmocka_unit_test_teardown(test_build_quiet_unless_verbose, teardown),
		cmocka_unit_test_teardown(test_build_run_round_trip, teardown),
		cmocka_unit_test_teardown(test_build_extra_last, teardown),
		cmocka_unit_test_teardown(test_build_extra_boundary, teardown),
		cmocka_unit_test_teardown(test_build_command_too_long, teardown),
		cmocka_unit_test_teardown(test_build_small_caps, teardown),
		cmocka_unit_test_teardown(test_build_net, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
