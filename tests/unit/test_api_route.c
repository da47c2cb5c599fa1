/* Unit tests for api/route.c: every route, wrong methods, empty segments, hostile and oversized paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static struct route_match m;

static enum api_route rt(const char *method, const char *path)
{
	memset(&m, 0x5a, sizeof(m)); /* stale bytes must not leak into the result */
	enum api_route r = route_parse(method, path, &m);
	assert_int_equal(r, m.route);
	return r;
}

static void test_fixed_routes(void **state)
{
	(void)state;
	assert_int_equal(rt("GET", "/health"), ROUTE_HEALTH);
	assert_int_equal(rt("GET", "/metrics"), ROUTE_METRICS);
	assert_int_equal(rt("POST", "/run"), ROUTE_RUN);
	assert_int_equal(rt("POST", "/run/stream"), ROUTE_RUN_STREAM);
	assert_int_equal(rt("POST", "/run/attach"), ROUTE_RUN_ATTACH);
	assert_int_equal(rt("POST", "/batch/run"), ROUTE_BATCH_RUN);
	assert_int_equal(rt("GET", "/sandboxes"), ROUTE_SANDBOX_LIST);
	assert_int_equal(rt("POST", "/sandboxes"), ROUTE_SANDBOX_CREATE);
	assert_int_equal(rt("GET", "/snapshots"), ROUTE_SNAPSHOT_LIST);
	assert_int_equal(rt("POST", "/snapshots"), ROUTE_SNAPSHOT_CREATE);
	assert_string_equal(m.name, "");
	assert_string_equal(m.id, "");
	assert_string_equal(m.path, "");
}

static void test_sandbox_routes(void **state)
{
	(void)state;
	assert_int_equal(rt("GET", "/sandboxes/box1"), ROUTE_SANDBOX_GET);
	assert_string_equal(m.name, "box1");
	assert_int_equal(rt("DELETE", "/sandboxes/box1"), ROUTE_SANDBOX_DELETE);
	assert_string_equal(m.name, "box1");
	assert_int_equal(rt("POST", "/sandboxes/b/exec"), ROUTE_EXEC);
	assert_string_equal(m.name, "b");
	assert_int_equal(rt("POST", "/sandboxes/b/exec/detach"), ROUTE_EXEC_DETACH);
	assert_int_equal(rt("GET", "/sandboxes/b/exec/detached"), ROUTE_DETACHED_LIST);
	assert_int_equal(rt("GET", "/sandboxes/b/exec/detached/0a1b2c3d"), ROUTE_DETACHED_GET);
	assert_string_equal(m.name, "b");
	assert_string_equal(m.id, "0a1b2c3d");
	assert_int_equal(rt("DELETE", "/sandboxes/b/exec/detached/0a1b2c3d"), ROUTE_DETACHED_KILL);
	assert_string_equal(m.id, "0a1b2c3d");
	assert_int_equal(rt("GET", "/sandboxes/b/exec/detached/0a1b2c3d/logs"), ROUTE_DETACHED_LOGS);
	assert_string_equal(m.id, "0a1b2c3d");
	assert_int_equal(rt("POST", "/sandboxes/b/files"), ROUTE_FILES_BATCH);
	assert_int_equal(rt("GET", "/sandboxes/b/logs"), ROUTE_SANDBOX_LOGS);
	assert_int_equal(rt("POST", "/sandboxes/b/extend"), ROUTE_SANDBOX_EXTEND);
	assert_int_equal(rt("POST", "/sandboxes/b/attach"), ROUTE_SANDBOX_ATTACH);
	assert_int_equal(rt("GET", "/snapshots/s1"), ROUTE_SNAPSHOT_GET);
	assert_string_equal(m.name, "s1");
	assert_int_equal(rt("DELETE", "/snapshots/s1"), ROUTE_SNAPSHOT_DELETE);
	assert_int_equal(rt("POST", "/snapshots/s1/restore"), ROUTE_SNAPSHOT_RESTORE);
	assert_string_equal(m.name, "s1");
}

static void test_by_uuid(void **state)
{
	(void)state;
	const char *u = "123e4567-e89b-12d3-a456-426614174000";
	char p[128] = "/sandboxes/by-uuid/";
	strcat(p, u);
	assert_int_equal(rt("GET", p), ROUTE_SANDBOX_BY_UUID);
	assert_string_equal(m.name, u);
	/* Precedence only for GET of that shape: a sandbox called "by-uuid" is reachable otherwise. */
	assert_int_equal(rt("GET", "/sandboxes/by-uuid/logs"), ROUTE_SANDBOX_BY_UUID);
	assert_string_equal(m.name, "logs");
	assert_int_equal(rt("GET", "/sandboxes/by-uuid"), ROUTE_SANDBOX_GET);
	assert_string_equal(m.name, "by-uuid");
	assert_int_equal(rt("POST", "/sandboxes/by-uuid/exec"), ROUTE_EXEC);
	assert_string_equal(m.name, "by-uuid");
	assert_int_equal(rt("DELETE", p), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/sandboxes/by-uuid/x/y"), ROUTE_NOT_FOUND);
}

static void test_files(void **state)
{
	(void)state;
	assert_int_equal(rt("GET", "/sandboxes/b/files/etc/hostname"), ROUTE_FILE_READ);
	assert_string_equal(m.name, "b");
	assert_string_equal(m.path, "/etc/hostname");
	assert_int_equal(rt("PUT", "/sandboxes/b/files/tmp/x"), ROUTE_FILE_WRITE);
	assert_string_equal(m.path, "/tmp/x");
	assert_int_equal(rt("DELETE", "/sandboxes/b/files/x"), ROUTE_FILE_DELETE);
	assert_string_equal(m.path, "/x");
	/* Empty segments vanish: the path is rebuilt from the non-empty ones. */
	assert_int_equal(rt("GET", "//sandboxes//b//files///a//b/c//"), ROUTE_FILE_READ);
	assert_string_equal(m.name, "b");
	assert_string_equal(m.path, "/a/b/c");
	/* Many segments, including ones that look like other routes. */
	assert_int_equal(rt("GET", "/sandboxes/b/files/a/b/c/d/e/f/g/exec/detached/logs"),
			 ROUTE_FILE_READ);
	assert_string_equal(m.path, "/a/b/c/d/e/f/g/exec/detached/logs");
	/* ".." is kept verbatim: refusing it is the handler's job (valid_workdir). */
	assert_int_equal(rt("GET", "/sandboxes/b/files/../etc/shadow"), ROUTE_FILE_READ);
	assert_string_equal(m.path, "/../etc/shadow");
	assert_int_equal(rt("POST", "/sandboxes/b/files/x"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("PUT", "/sandboxes/b/files"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/sandboxes/b/files"), ROUTE_NOT_FOUND);
	/* The server strips the query before routing: a '?' left in the path is the file's. */
	assert_int_equal(rt("GET", "/sandboxes/b/files/a?x=/y"), ROUTE_FILE_READ);
	assert_string_equal(m.path, "/a?x=/y");
}

static void test_empty_segments_and_query(void **state)
{
	(void)state;
	assert_int_equal(rt("GET", "/health/"), ROUTE_HEALTH);
	assert_int_equal(rt("GET", "//health//"), ROUTE_HEALTH);
	assert_int_equal(rt("GET", "health"), ROUTE_HEALTH);
	assert_int_equal(rt("GET", "/health?x=1"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/sandboxes/?label=a:b/c"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("POST", "///sandboxes///b///exec///"), ROUTE_EXEC);
	assert_string_equal(m.name, "b");
	assert_int_equal(rt("GET", "/sandboxes/b/exec/detached/id1/logs"), ROUTE_DETACHED_LOGS);
	assert_string_equal(m.id, "id1");
	assert_int_equal(rt("GET", "?/health"), ROUTE_NOT_FOUND);
}

static void test_wrong_method(void **state)
{
	(void)state;
	static const char *const methods[] = { "get", "Get", "HEAD", "PATCH", "OPTIONS", "", "GET ",
					       "POSTX", "PUTS" };
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(rt(methods[i], "/health"), ROUTE_NOT_FOUND);
		assert_int_equal(rt(methods[i], "/sandboxes/b/files/x"), ROUTE_NOT_FOUND);
	}
	assert_int_equal(rt("POST", "/health"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/run"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/run/stream"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("PUT", "/sandboxes"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("DELETE", "/sandboxes"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("PUT", "/sandboxes/b"), ROUTE_NOT_FOUND);
	assert_string_equal(m.name, ""); /* nothing half-filled on a miss */
	assert_int_equal(rt("GET", "/sandboxes/b/exec"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/sandboxes/b/exec/detach"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("POST", "/sandboxes/b/exec/detached"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("POST", "/sandboxes/b/exec/detached/x"), ROUTE_NOT_FOUND);
	assert_string_equal(m.id, "");
	assert_int_equal(rt("DELETE", "/sandboxes/b/exec/detached/x/logs"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("POST", "/sandboxes/b/logs"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/sandboxes/b/extend"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/snapshots/s/restore"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("POST", "/snapshots/s"), ROUTE_NOT_FOUND);
	assert_int_equal(rt("GET", "/batch/run"), ROUTE_NOT_FOUND);
}

static void test_unknown_paths(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"",
		"/",
		"///",
		"/healthz",
		"/Health",
		"/health/x",
		"/run/x",
		"/run/stream/x",
		"/batch",
		"/batch/run/x",
		"/sandboxes/b/x",
		"/sandboxes/b/exec/x",
		"/sandboxes/b/exec/detached/id/x",
		"/sandboxes/b/exec/detached/id/logs/x",
		"/sandboxes/b/logs/x",
		"/snapshots/s/restore/x",
		"/snapshots/s/x",
		"/sandboxes/b/a/b/c/d/e/f/g/h",
		"/x/y/z/w/v/u/t/s/r/q",
		"/sandboxesx",
		"/sandboxe",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (int k = 0; k < 4; k++) {
			static const char *const ms[] = { "GET", "POST", "PUT", "DELETE" };
			assert_int_equal(rt(ms[k], paths[i]), ROUTE_NOT_FOUND);
		}
	assert_int_equal(route_parse(NULL, "/health", &m), ROUTE_NOT_FOUND);
	assert_int_equal(route_parse("GET", NULL, &m), ROUTE_NOT_FOUND);
}

static void test_long_segments(void **state)
{
	(void)state;
	size_t big = 100000;
	char *p = malloc(big + 64);
	assert_non_null(p);
	/* A name of exactly ROUTE_SEG_MAX - 1 fits; one more does not and is stored as "". */
	strcpy(p, "/sandboxes/");
	memset(p + 11, 'a', ROUTE_SEG_MAX - 1);
	p[11 + ROUTE_SEG_MAX - 1] = '\0';
	assert_int_equal(rt("GET", p), ROUTE_SANDBOX_GET);
	assert_int_equal(strlen(m.name), ROUTE_SEG_MAX - 1);
	memset(p + 11, 'a', ROUTE_SEG_MAX);
	strcpy(p + 11 + ROUTE_SEG_MAX, "/exec");
	assert_int_equal(rt("POST", p), ROUTE_EXEC);
	assert_string_equal(m.name, "");
	/* A huge id. */
	strcpy(p, "/sandboxes/b/exec/detached/");
	size_t o = strlen(p);
	memset(p + o, 'f', big - o);
	p[big] = '\0';
	assert_int_equal(rt("GET", p), ROUTE_DETACHED_GET);
	assert_string_equal(m.id, "");
	assert_string_equal(m.name, "b");
	/* A files path of exactly ROUTE_PATH_MAX - 1 bytes fits; one byte more is "". */
	strcpy(p, "/sandboxes/b/files/");
	o = strlen(p);
	memset(p + o, 'x', ROUTE_PATH_MAX - 2);
	p[o + ROUTE_PATH_MAX - 2] = '\0';
	assert_int_equal(rt("GET", p), ROUTE_FILE_READ);
	assert_int_equal(strlen(m.path), ROUTE_PATH_MAX - 1);
	assert_int_equal(m.path[0], '/');
	memset(p + o, 'x', ROUTE_PATH_MAX - 1);
	p[o + ROUTE_PATH_MAX - 1] = '\0';
	assert_int_equal(rt("GET", p), ROUTE_FILE_READ);
	assert_string_equal(m.path, "");
	/* Many short segments adding up past the buffer. */
	strcpy(p, "/sandboxes/b/files");
	o = strlen(p);
	while (o + 2 < big) {
		p[o++] = '/';
		p[o++] = 'y';
	}
	p[o] = '\0';
	assert_int_equal(rt("PUT", p), ROUTE_FILE_WRITE);
	assert_string_equal(m.path, "");
	/* Thousands of empty segments cost nothing. */
	memset(p, '/', big);
	p[big] = '\0';
	memcpy(p + big - 7, "/health", 7);
	assert_int_equal(rt("GET", p), ROUTE_HEALTH);
	free(p);
}

static void test_odd_bytes(void **state)
{
	(void)state;
	/* Decoded paths may hold anything but NUL: segments are copied as they are. */
	assert_int_equal(rt("GET", "/sandboxes/\xff\xfe"), ROUTE_SANDBOX_GET);
	assert_string_equal(m.name, "\xff\xfe");
	assert_int_equal(rt("GET", "/sandboxes/a b\n"), ROUTE_SANDBOX_GET);
	assert_string_equal(m.name, "a b\n");
	assert_int_equal(rt("GET", "/sandboxes/b/files/a b/\x01"), ROUTE_FILE_READ);
	assert_string_equal(m.path, "/a b/\x01");
}

static void test_labels(void **state)
{
	(void)state;
	for (int r = 0; r < ROUTE__COUNT; r++) {
		const char *l = route_label((enum api_route)r);
		assert_non_null(l);
		assert_true(strlen(l) > 0);
		for (const char *c = l; *c; c++)
			assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
		for (int k = 0; k < r; k++)
			assert_string_not_equal(l, route_label((enum api_route)k));
	}
	assert_string_equal(route_label(ROUTE_RUN), "run");
	assert_string_equal(route_label(ROUTE_EXEC), "exec");
	assert_string_equal(route_label(ROUTE__COUNT), "not_found");
	assert_string_equal(route_label((enum api_route)-1), "not_found");
	assert_string_equal(route_label((enum api_route)12345), "not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_routes),
		cmocka_unit_test(test_sandbox_routes),
		cmocka_unit_test(test_by_uuid),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_empty_segments_and_query),
		cmocka_unit_test(test_wrong_method),
		cmocka_unit_test(test_unknown_paths),
		cmocka_unit_test(test_long_segments),
		cmocka_unit_test(test_odd_bytes),
		cmocka_unit_test(test_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
