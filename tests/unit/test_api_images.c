/* Unit tests for api/images.c: the built-in table, config files, every parse error, describe. */
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

#include "images.h"

static char err[512];

static int parse(struct image_table *t, const char *text)
{
	return images_parse(t, text, strlen(text), "/etc/flint", err, sizeof(err));
}

static void expect_err(const char *text, int rc, const char *needle)
{
	struct image_table t = { 0 };
	assert_int_equal(parse(&t, text), rc);
	assert_null(t.v);
	assert_int_equal(t.n, 0);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_builtin(void **state)
{
	(void)state;
	struct image_table t;
	assert_int_equal(images_init(&t, NULL, "/var/lib/flint/base.ext4", err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	const struct image *im = images_resolve(&t, "base");
	assert_non_null(im);
	assert_string_equal(im->name, "base");
	assert_string_equal(im->path, "/var/lib/flint/base.ext4");
	/* Names of images it is not (they come from the image store, docs/images.md). */
	static const char *const not_base[] = { "alpine:3.20",	  "alpine",	    "alpine:latest",
						"ubuntu:24.04",	  "python:3.12-alpine", "node:20-alpine",
						"node:22-alpine", "default" };
	for (size_t i = 0; i < sizeof(not_base) / sizeof(not_base[0]); i++)
		assert_null(images_resolve(&t, not_base[i]));
	assert_null(images_resolve(&t, "Alpine"));
	assert_null(images_resolve(&t, "ubuntu"));
	assert_null(images_resolve(&t, ""));
	assert_null(images_resolve(&t, NULL));
	assert_null(images_resolve(NULL, "base"));
	char buf[256];
	images_describe(&t, buf, sizeof(buf));
	assert_string_equal(buf, "base");
	images_destroy(&t);
	images_destroy(&t);
	assert_int_equal(images_init(&t, NULL, NULL, err, sizeof(err)), -EINVAL);
}

static void test_parse(void **state)
{
	(void)state;
	struct image_table t;
	assert_int_equal(parse(&t, "# images\n"
				   "\n"
				   "image base base.ext4 alpine alpine:3.20\r\n"
				   "  image\tpy  /srv/py.ext4\tpython:3.12 python  # not a comment: alias? no\n"),
			 -EINVAL); /* "#" inside the line is a token, and not a valid name */
	assert_non_null(strstr(err, "line 4"));
	assert_int_equal(parse(&t, "# images\n"
				   "\n"
				   "image base base.ext4 alpine alpine:3.20\r\n"
				   "  image\tpy  /srv/py.ext4\tpython:3.12 python\n"
				   "image bare sub/dir/bare.ext4"),
			 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.v[0].path, "/etc/flint/base.ext4");
	assert_int_equal(t.v[0].naliases, 2);
	assert_string_equal(t.v[1].name, "py");
	assert_string_equal(t.v[1].path, "/srv/py.ext4");
	assert_string_equal(t.v[2].path, "/etc/flint/sub/dir/bare.ext4");
	assert_int_equal(t.v[2].naliases, 0);
	assert_ptr_equal(images_resolve(&t, "alpine:3.20"), &t.v[0]);
	assert_ptr_equal(images_resolve(&t, "python"), &t.v[1]);
	assert_ptr_equal(images_resolve(&t, "bare"), &t.v[2]);
	assert_null(images_resolve(&t, "base.ext4"));
	char buf[256];
	images_describe(&t, buf, sizeof(buf));
	assert_string_equal(buf, "base (alpine, alpine:3.20), py (python:3.12, python), bare");
	images_destroy(&t);

	/* Not NUL-terminated: only len bytes count. */
	const char text[] = "image a /a.ext4\nimage b /b.ext4";
	assert_int_equal(images_parse(&t, text, 15, NULL, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	images_destroy(&t);
	assert_int_equal(images_parse(&t, "image a a.ext4", 14, NULL, err, sizeof(err)), 0);
	assert_string_equal(t.v[0].path, "./a.ext4");
	images_destroy(&t);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_err("", -EINVAL, "no images defined");
	expect_err("# nothing\n\n", -EINVAL, "no images defined");
	expect_err("image\n", -EINVAL, "line 1: expected 'image NAME PATH [ALIAS...]'");
	expect_err("image base\n", -EINVAL, "line 1: expected");
	expect_err("\nimg base /x\n", -EINVAL, "line 2: unknown directive 'img'");
	expect_err("IMAGE base /x\n", -EINVAL, "unknown directive 'IMAGE'");
	expect_err("image b@d! /x\n", -EINVAL, "line 1: invalid image name 'b@d!'");
	expect_err("image base /x al$as\n", -EINVAL, "invalid image name 'al$as'");
	expect_err("image base /x\nimage base /y\n", -EINVAL,
		   "line 2: 'base' is already defined on line 1");
	expect_err("image base /x alpine\nimage other /y alpine\n", -EINVAL,
		   "line 2: 'alpine' is already defined on line 1");
	expect_err("image base /x\n\nimage other /y base\n", -EINVAL,
		   "line 3: 'base' is already defined on line 1");
	expect_err("image base /x base\n", -EINVAL, "line 1: 'base' is already defined on line 1");
	expect_err("image base /x a a\n", -EINVAL, "already defined");
	expect_err("image base /x\x01y\n", -EINVAL, "line 1: control character");
	expect_err("image base /x\nimage c /y\x7f\n", -EINVAL, "line 2: control character");
	struct image_table t;
	assert_int_equal(images_parse(&t, "image a /x\0", 11, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control character"));

	/* A line at the cap is fine; one byte more is an error with its number. */
	char *s = malloc(IMAGES_LINE_MAX + 64);
	size_t o = (size_t)sprintf(s, "image a /");
	memset(s + o, 'p', IMAGES_LINE_MAX - o);
	s[IMAGES_LINE_MAX] = '\0';
	assert_int_equal(parse(&t, s), 0);
	assert_int_equal(strlen(t.v[0].path), IMAGES_LINE_MAX - 8);
	images_destroy(&t);
	s[IMAGES_LINE_MAX] = 'p';
	s[IMAGES_LINE_MAX + 1] = '\0';
	expect_err(s, -EINVAL, "line 1: longer than 4096 bytes");
	free(s);

	/* Too many images. */
	s = malloc(300 * 16 * 16 + (IMAGES_MAX + 1) * 24);
	o = 0;
	for (int i = 0; i < IMAGES_MAX + 1; i++)
		o += (size_t)sprintf(s + o, "image i%d /p\n", i);
	expect_err(s, -E2BIG, "more than 1024 images");
	/* Too many names over all images (aliases count). */
	o = 0;
	for (int i = 0; i < 300; i++) {
		o += (size_t)sprintf(s + o, "image i%d /p", i);
		for (int k = 0; k < 15; k++)
			o += (size_t)sprintf(s + o, " a%d.%d", i, k);
		s[o++] = '\n';
	}
	s[o] = '\0';
	expect_err(s, -E2BIG, "more than 4096 names and aliases");
	free(s);

	/* A line of nothing but tiny aliases: many tokens, no overflow. */
	s = malloc(IMAGES_LINE_MAX + 1);
	o = (size_t)sprintf(s, "image a /p");
	while (o + 2 <= IMAGES_LINE_MAX) {
		s[o++] = ' ';
		s[o++] = 'x';
	}
	s[o] = '\0';
	expect_err(s, -EINVAL, "already defined");
	free(s);
}

static void test_init_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_api_images.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/images.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("image base rootfs/base.ext4 alpine\nimage abs /abs.ext4\n", f);
	fclose(f);
	struct image_table t;
	assert_int_equal(images_init(&t, path, "/ignored", err, sizeof(err)), 0);
	assert_int_equal(t.n, 2);
	char want[160];
	snprintf(want, sizeof(want), "%s/rootfs/base.ext4", dir);
	assert_string_equal(t.v[0].path, want);
	assert_string_equal(t.v[1].path, "/abs.ext4");
	assert_null(images_resolve(&t, "default")); /* no built-in aliases with a config */
	images_destroy(&t);

	f = fopen(path, "w");
	fputs("image base /a\nimage base /b\n", f);
	fclose(f);
	assert_int_equal(images_init(&t, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "line 2"));
	unlink(path);

	assert_int_equal(images_init(&t, path, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(images_init(&t, dir, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "regular file"));
	rmdir(dir);
}

static void test_describe_truncates(void **state)
{
	(void)state;
	struct image_table t;
	static const char cfg[] = "image base /b alpine:3.20 alpine alpine:latest ubuntu:24.04 "
				  "python:3.12-alpine node:20-alpine default\n";
	assert_int_equal(images_parse(&t, cfg, sizeof(cfg) - 1, "/", err, sizeof(err)), 0);
	char buf[64];
	for (size_t cap = 0; cap <= sizeof(buf); cap++) {
		memset(buf, 'Z', sizeof(buf));
		images_describe(&t, buf, cap);
		if (cap == 0) {
			assert_int_equal(buf[0], 'Z');
			continue;
		}
		size_t n = strlen(buf);
		assert_true(n < cap);
		if (cap >= 8) {
			assert_true(n >= 3);
			assert_memory_equal(buf + n - 3, "...", 3);
			assert_memory_equal(buf, "base (alpine:3.20, alpine", cap - 4 < 25 ? cap - 4 : 25);
		}
	}
	images_describe(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	images_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin),	    cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_init_file),
		cmocka_unit_test(test_describe_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
