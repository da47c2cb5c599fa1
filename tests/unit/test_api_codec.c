/* Unit tests for api/codec.c: base64 both ways (RFC 4648 vectors, strictness) and strict UTF-8. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static const struct {
	const char *raw, *b64;
} vectors[] = {
	{ "", "" },	       { "f", "Zg==" },		{ "fo", "Zm8=" },	  { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void test_b64_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n = strlen(vectors[i].raw);
		char *e = b64_encode((const uint8_t *)vectors[i].raw, n);
		assert_non_null(e);
		assert_string_equal(e, vectors[i].b64);
		free(e);
		uint8_t *d = NULL;
		size_t dn = 99;
		assert_int_equal(b64_decode(vectors[i].b64, strlen(vectors[i].b64), &d, &dn), 0);
		assert_non_null(d);
		assert_int_equal(dn, n);
		assert_memory_equal(d, vectors[i].raw, n);
		free(d);
	}
	char *e = b64_encode(NULL, 0);
	assert_string_equal(e, "");
	free(e);
}

static void test_b64_roundtrip_binary(void **state)
{
	(void)state;
	uint8_t buf[1024];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(buf); n += (n < 16 ? 1 : 97)) {
		char *e = b64_encode(buf, n);
		assert_non_null(e);
		assert_int_equal(strlen(e), (n + 2) / 3 * 4);
		uint8_t *d;
		size_t dn;
		assert_int_equal(b64_decode(e, strlen(e), &d, &dn), 0);
		assert_int_equal(dn, n);
		assert_memory_equal(d, buf, n);
		free(d);
		free(e);
	}
	static const uint8_t all[] = { 0xfb, 0xff, 0xbf };
	char *e = b64_encode(all, 3);
	assert_string_equal(e, "+/+/");
	free(e);
}

static void test_b64_strict(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"Zg=",	    "Zg",      "Z",	   "Zm9vY",   "Zg===",	 "====",    "Z===",    "=Zg=",
		"Zg=a",	    "Z=g=",    "Zm9v\n",  " Zm9v",   "Zm9v Yg==", "Zm9v-_==", "Zm\x00v",
		"Zh==",	    "Zm9=",    "Zm9vYh==", "Zm9vYmF=", "Zm9vYg==Zm9v", "Zm=v",  "Z\xc3\xa9=",
		"Zg==\r\n", "Zm9vYmFy=", "\xff\xff\xff\xff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *d = (uint8_t *)"untouched";
		size_t dn = 42;
		size_t len = strlen(bad[i]);
		if (i == 14)
			len = 5; /* the embedded NUL */
		assert_int_equal(b64_decode(bad[i], len, &d, &dn), -EINVAL);
		assert_string_equal((char *)d, "untouched");
		assert_int_equal(dn, 42);
	}
	uint8_t *d;
	size_t dn;
	assert_int_equal(b64_decode(NULL, 4, &d, &dn), -EINVAL);
	assert_int_equal(b64_decode(NULL, 0, &d, &dn), 0);
	assert_int_equal(dn, 0);
	free(d);
	/* len is what counts, not the NUL: a prefix decodes on its own. */
	assert_int_equal(b64_decode("Zm9vYmFy", 4, &d, &dn), 0);
	assert_int_equal(dn, 3);
	assert_memory_equal(d, "foo", 3);
	free(d);
}

static void test_b64_encode_overflow(void **state)
{
	(void)state;
	/* Sizes whose encoding cannot be represented are refused before anything is read. */
	assert_null(b64_encode((const uint8_t *)"", SIZE_MAX));
	assert_null(b64_encode((const uint8_t *)"", SIZE_MAX / 4 * 3 + 3));
}

static bool u8(const char *s)
{
	return utf8_valid((const uint8_t *)s, strlen(s));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(utf8_valid(NULL, 0));
	assert_true(u8(""));
	assert_true(u8("plain ascii\n\t"));
	assert_true(utf8_valid((const uint8_t *)"a\0b", 3));
	assert_true(u8("\xc2\x80"));		 /* U+0080 */
	assert_true(u8("\xdf\xbf"));		 /* U+07FF */
	assert_true(u8("\xe0\xa0\x80"));	 /* U+0800 */
	assert_true(u8("\xed\x9f\xbf"));	 /* U+D7FF */
	assert_true(u8("\xee\x80\x80"));	 /* U+E000 */
	assert_true(u8("\xef\xbf\xbf"));	 /* U+FFFF */
	assert_true(u8("\xf0\x90\x80\x80"));	 /* U+10000 */
	assert_true(u8("\xf4\x8f\xbf\xbf"));	 /* U+10FFFF */
	assert_true(u8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));

	static const char *const bad[] = {
		"\x80",		    /* lone continuation */
		"\xbf",		    "\xc0\x80", /* overlong NUL */
		"\xc1\xbf",	    /* overlong */
		"\xe0\x80\x80",	    /* overlong */
		"\xe0\x9f\xbf",	    /* overlong */
		"\xf0\x80\x80\x80", /* overlong */
		"\xf0\x8f\xbf\xbf", /* overlong */
		"\xed\xa0\x80",	    /* U+D800 */
		"\xed\xbf\xbf",	    /* U+DFFF */
		"\xf4\x90\x80\x80", /* U+110000 */
		"\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff",
		"\xc2",		    /* truncated */
		"\xe2\x82",	    "\xf0\x9f\x98", "\xc2\x41", "\xe2\x41\x82", "\xf0\x9f\x41\x80",
		"ok\xc3",	    "\xe2\x82\xac\x80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(u8(bad[i]));
	/* A truncated sequence at the very end of a buffer must not be read past. */
	uint8_t *p = malloc(1);
	p[0] = 0xf0;
	assert_false(utf8_valid(p, 1));
	free(p);
}

static void test_utf8_sanitize(void **state)
{
	(void)state;
	char s1[] = "ok h\xc3\xa9 \xe2\x82\xac";
	utf8_sanitize(s1);
	assert_string_equal(s1, "ok h\xc3\xa9 \xe2\x82\xac");
	char s2[] = "a\xff" "b\xc3";
	utf8_sanitize(s2);
	assert_string_equal(s2, "a?b?");
	char s3[] = "x\ny\x01\x7f\xed\xa0\x80";
	utf8_sanitize(s3);
	assert_string_equal(s3, "x?y?????");
	assert_true(u8(s3));
	utf8_sanitize(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),	     cmocka_unit_test(test_b64_roundtrip_binary),
		cmocka_unit_test(test_b64_strict),	     cmocka_unit_test(test_b64_encode_overflow),
		cmocka_unit_test(test_utf8),		     cmocka_unit_test(test_utf8_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
