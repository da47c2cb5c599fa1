/* Unit tests for api/auth.c: key files, the env key, and every 401 answer of auth_check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

static const char MISSING[] = "Missing Authorization header";
static const char FORMAT[] = "Invalid authorization format. Use: Bearer <api_key>";
static const char INVALID[] = "Invalid API key";

static char path[64];

static void write_keys(const char *text, size_t len)
{
	strcpy(path, "/tmp/test_api_auth.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void test_disabled(void **state)
{
	(void)state;
	struct auth a;
	char err[128];
	assert_int_equal(auth_init(&a, NULL, NULL, err, sizeof(err)), 0);
	assert_false(auth_enabled(&a));
	assert_null(auth_check(&a, NULL));
	assert_null(auth_check(&a, "garbage"));
	auth_destroy(&a);
	assert_int_equal(auth_init(&a, NULL, "", err, sizeof(err)), 0);
	assert_false(auth_enabled(&a));
	auth_destroy(&a);
	assert_int_equal(auth_init(&a, NULL, " \t ", err, sizeof(err)), 0);
	assert_false(auth_enabled(&a));
	auth_destroy(&a);
	write_keys("# only comments\n\n   \n\t# indented\n", 33);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), 0);
	assert_false(auth_enabled(&a));
	auth_destroy(&a);
	unlink(path);
	assert_false(auth_enabled(NULL));
	assert_null(auth_check(NULL, NULL));
}

static void test_env_key(void **state)
{
	(void)state;
	struct auth a;
	char err[128];
	assert_int_equal(auth_init(&a, NULL, "  s3cret \n", err, sizeof(err)), 0);
	assert_true(auth_enabled(&a));
	assert_null(auth_check(&a, "Bearer s3cret"));
	assert_string_equal(auth_check(&a, NULL), MISSING);
	assert_string_equal(auth_check(&a, ""), FORMAT);
	assert_string_equal(auth_check(&a, "Bearer"), FORMAT);
	assert_string_equal(auth_check(&a, "bearer s3cret"), FORMAT);
	assert_string_equal(auth_check(&a, "Basic czNjcmV0"), FORMAT);
	assert_string_equal(auth_check(&a, "s3cret"), FORMAT);
	assert_string_equal(auth_check(&a, " Bearer s3cret"), FORMAT);
	assert_string_equal(auth_check(&a, "Bearer "), INVALID);
	assert_string_equal(auth_check(&a, "Bearer s3cre"), INVALID);
	assert_string_equal(auth_check(&a, "Bearer s3cret "), INVALID);
	assert_string_equal(auth_check(&a, "Bearer s3cretx"), INVALID);
	assert_string_equal(auth_check(&a, "Bearer  s3cret"), INVALID);
	assert_string_equal(auth_check(&a, "Bearer S3CRET"), INVALID);
	assert_string_equal(auth_check(&a, "Bearer \xff"), INVALID);
	/* A presented key far longer than any key: refused, without reading past it. */
	char *big = malloc(100000);
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 's', 100000 - 8);
	big[99999] = '\0';
	assert_string_equal(auth_check(&a, big), INVALID);
	/* The real key followed by more bytes past AUTH_KEY_MAX. */
	memcpy(big + 7, "s3cret", 6);
	assert_string_equal(auth_check(&a, big), INVALID);
	free(big);
	auth_destroy(&a);
	auth_destroy(&a); /* twice is safe */
}

static void test_key_file(void **state)
{
	(void)state;
	struct auth a;
	char err[256];
	static const char text[] = "# flintd keys\n"
				   "key-one\n"
				   "   key-two   \r\n"
				   "\n"
				   "\t# a comment\n"
				   "key with spaces inside\n"
				   "last-no-newline";
	write_keys(text, sizeof(text) - 1);
	assert_int_equal(auth_init(&a, path, "env-key", err, sizeof(err)), 0);
	assert_int_equal(a.n, 5);
	assert_null(auth_check(&a, "Bearer key-one"));
	assert_null(auth_check(&a, "Bearer key-two"));
	assert_null(auth_check(&a, "Bearer key with spaces inside"));
	assert_null(auth_check(&a, "Bearer last-no-newline"));
	assert_null(auth_check(&a, "Bearer env-key"));
	assert_string_equal(auth_check(&a, "Bearer # flintd keys"), INVALID);
	assert_string_equal(auth_check(&a, "Bearer key-two   "), INVALID);
	assert_string_equal(auth_check(&a, "Bearer key"), INVALID);
	auth_destroy(&a);
	unlink(path);
}

static void test_key_file_errors(void **state)
{
	(void)state;
	struct auth a;
	char err[256];
	assert_int_equal(auth_init(&a, "/nonexistent/flint/keys", NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/flint/keys"));
	assert_false(auth_enabled(&a));
	auth_destroy(&a);

	write_keys("good\nbad\x01key\n", 13);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "control character"));
	assert_false(auth_enabled(&a));
	assert_null(a.keys);
	unlink(path);

	write_keys("good\nnul\0key\n", 13);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	unlink(path);

	size_t n = AUTH_KEY_MAX + 2;
	char *big = malloc(n);
	memset(big, 'k', n - 1);
	big[n - 1] = '\n';
	write_keys(big, n);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	unlink(path);
	/* Exactly AUTH_KEY_MAX is accepted, and matches only itself. */
	write_keys(big + 1, n - 1);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), 0);
	char *hdr = malloc(AUTH_KEY_MAX + 16);
	memcpy(hdr, "Bearer ", 7);
	memcpy(hdr + 7, big + 1, AUTH_KEY_MAX);
	hdr[7 + AUTH_KEY_MAX] = '\0';
	assert_null(auth_check(&a, hdr));
	hdr[7 + AUTH_KEY_MAX] = 'k';
	hdr[8 + AUTH_KEY_MAX] = '\0';
	assert_string_equal(auth_check(&a, hdr), INVALID);
	hdr[6 + AUTH_KEY_MAX] = '\0';
	assert_string_equal(auth_check(&a, hdr), INVALID);
	auth_destroy(&a);
	unlink(path);
	free(hdr);
	free(big);

	/* Too many keys. */
	size_t cap = (AUTH_KEYS_MAX + 1) * 8;
	char *many = malloc(cap);
	size_t o = 0;
	for (int i = 0; i < AUTH_KEYS_MAX + 1; i++)
		o += (size_t)sprintf(many + o, "k%d\n", i);
	write_keys(many, o);
	assert_int_equal(auth_init(&a, path, NULL, err, sizeof(err)), -E2BIG);
	unlink(path);
	free(many);

	assert_int_equal(auth_init(&a, NULL, "bad\x7fkey", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "AGENTKERNEL_API_KEY"));
	/* Errors with no buffer to write them into. */
	assert_int_equal(auth_init(&a, "/nonexistent/x", NULL, NULL, 0), -ENOENT);
	assert_int_equal(auth_init(&a, "/", NULL, err, sizeof(err)), -EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_env_key),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_file_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
