/* Unit tests for image/ref.c (references as Docker normalizes them) and image/digest.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"
#include "ref.h"

#define HEX "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

static char err[256];

static void expect_ref(const char *in, const char *registry, const char *repo, const char *tag,
		       const char *digest, const char *canonical)
{
	struct image_ref r;
	char out[REF_STR_MAX];
	err[0] = '\0';
	if (ref_parse(in, &r, err, sizeof(err)) != 0)
		fail_msg("%s: refused: %s", in, err);
	assert_string_equal(r.registry, registry);
	assert_string_equal(r.repo, repo);
	assert_string_equal(r.tag, tag);
	assert_string_equal(r.digest, digest);
	ref_format(&r, out, sizeof(out));
	assert_string_equal(out, canonical);
}

static void test_normalize(void **state)
{
	(void)state;
	expect_ref("node:22-alpine", "docker.io", "library/node", "22-alpine", "",
		   "docker.io/library/node:22-alpine");
	expect_ref("debian", "docker.io", "library/debian", "latest", "",
		   "docker.io/library/debian:latest");
	expect_ref("bitnami/redis:7", "docker.io", "bitnami/redis", "7", "",
		   "docker.io/bitnami/redis:7");
	expect_ref("index.docker.io/library/alpine:3.20", "docker.io", "library/alpine", "3.20", "",
		   "docker.io/library/alpine:3.20");
	expect_ref("127.0.0.1:5000/a/b/c:v1", "127.0.0.1:5000", "a/b/c", "v1", "",
		   "127.0.0.1:5000/a/b/c:v1");
	expect_ref("localhost/x", "localhost", "x", "latest", "", "localhost/x:latest");
	expect_ref("ghcr.io/org/img@sha256:" HEX, "ghcr.io", "org/img", "", "sha256:" HEX,
		   "ghcr.io/org/img@sha256:" HEX);
	expect_ref("python:3.12-slim@sha256:" HEX, "docker.io", "library/python", "3.12-slim",
		   "sha256:" HEX, "docker.io/library/python:3.12-slim@sha256:" HEX);
	/* A port is not a tag; a tag after it is. */
	expect_ref("reg.example:443/app", "reg.example:443", "app", "latest", "",
		   "reg.example:443/app:latest");
	expect_ref("my_app.v2-x__y:T_1.0-rc", "docker.io", "library/my_app.v2-x__y", "T_1.0-rc", "",
		   "docker.io/library/my_app.v2-x__y:T_1.0-rc");
}

static void expect_bad(const char *in, const char *needle)
{
	struct image_ref r;
	err[0] = '\0';
	assert_int_equal(ref_parse(in, &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("%s: error '%s' lacks '%s'", in, err, needle);
}

static void test_refused(void **state)
{
	(void)state;
	char big[REF_STR_MAX + 8];
	expect_bad("", "empty");
	expect_bad(NULL, "empty");
	expect_bad("Node:22", "lowercase");
	expect_bad("node:", "tag");
	expect_bad("node:-x", "tag");
	expect_bad("a//b", "lowercase");
	expect_bad("/abs", "lowercase");
	expect_bad("a/", "lowercase");
	expect_bad("x@sha256:1234", "digest");
	expect_bad("x@md5:" HEX, "digest");
	expect_bad("x@sha256:" HEX "00", "digest");
	expect_bad("a..b", "lowercase");
	expect_bad("foo bar", "lowercase");
	expect_bad("host:99999999/x", "registry");
	expect_bad("../x", "registry");
	expect_bad("a..b/x", "registry");
	expect_bad("-a.io/x", "registry");
	expect_bad("host:0/x", "registry");
	expect_bad("host:65536/x", "registry");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_bad(big, "longer than");
}

static void test_digests(void **state)
{
	(void)state;
	char d[DIGEST_STR_MAX];
	assert_int_equal(digest_of("", 0, d), 0);
	assert_string_equal(
	    d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_true(digest_valid(d));
	assert_string_equal(digest_hex(d), d + 7);
	assert_false(digest_valid(
	    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(digest_valid("sha256:../../../../etc/passwd"));
	assert_false(digest_valid("sha512:" HEX));
	assert_false(digest_valid(NULL));
	struct sha256 h;
	assert_int_equal(sha256_init(&h), 0);
	sha256_update(&h, "ab", 2);
	sha256_update(&h, "c", 1);
	sha256_final(&h, d);
	assert_string_equal(
	    d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_destroy(&h); /* a no-op after final */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_digests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
