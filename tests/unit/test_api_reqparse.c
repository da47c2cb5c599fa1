/* Unit tests for api/reqparse.c: every request body, every 400 message, hostile JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "reqparse.h"

static int status;
static char err[256];

#define RUN(body, r) reqparse_run(body, strlen(body), r, &status, err, sizeof(err))
#define CREATE(body, r) reqparse_create(body, strlen(body), r, &status, err, sizeof(err))
#define EXEC(body, r) reqparse_exec(body, strlen(body), r, &status, err, sizeof(err))
#define FWRITE(body, r) reqparse_file_write(body, strlen(body), r, &status, err, sizeof(err))
#define FBATCH(body, r) reqparse_files_batch(body, strlen(body), r, &status, err, sizeof(err))
#define BATCH(body, r) reqparse_batch_run(body, strlen(body), r, &status, err, sizeof(err))
#define EXTEND(body, r) reqparse_extend(body, strlen(body), r, &status, err, sizeof(err))
#define SNAP(body, r) reqparse_snapshot(body, strlen(body), r, &status, err, sizeof(err))
#define RESTORE(body, r) reqparse_restore(body, strlen(body), r, &status, err, sizeof(err))

/* The last call failed with 400 and a message starting with prefix; the message is valid UTF-8. */
static void expect_400(int rc, const char *prefix)
{
	assert_int_equal(rc, -1);
	assert_int_equal(status, 400);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	assert_true(utf8_valid((const uint8_t *)err, strlen(err)));
}

static void test_run_ok(void **state)
{
	(void)state;
	struct run_req r;
	assert_int_equal(RUN("{\"command\":[\"echo\",\"hi\",\"\"]}", &r), 0);
	assert_int_equal(r.command.n, 3);
	assert_string_equal(r.command.v[0], "echo");
	assert_string_equal(r.command.v[2], "");
	assert_null(r.command.v[3]);
	assert_null(r.image);
	assert_null(r.profile);
	assert_true(r.fast);
	assert_int_equal(r.timeout_s, 0);
	run_req_free(&r);
	run_req_free(&r); /* twice is safe */

	assert_int_equal(RUN("{\"command\":[\"ls\"],\"image\":\"alpine:3.20\",\"profile\":\"restrictive\","
			     "\"fast\":false,\"timeout\":30,\"unknown\":{\"x\":[1,2,{}]}}",
			     &r),
			 0);
	assert_string_equal(r.image, "alpine:3.20");
	assert_string_equal(r.profile, "restrictive");
	assert_false(r.fast);
	assert_int_equal(r.timeout_s, 30);
	run_req_free(&r);

	/* null counts as absent. */
	assert_int_equal(RUN("{\"command\":[\"ls\"],\"image\":null,\"profile\":null,\"fast\":null,"
			     "\"timeout\":null}",
			     &r),
			 0);
	assert_null(r.image);
	assert_true(r.fast);
	run_req_free(&r);

	assert_int_equal(RUN("{\"command\":[\"ls\"],\"timeout\":\"5m\"}", &r), 0);
	assert_int_equal(r.timeout_s, 300);
	run_req_free(&r);
	assert_int_equal(RUN(" \r\n{\"command\":[\"\xc3\xa9\\u00e9\\ud83d\\ude00\"]}\n ", &r), 0);
	assert_string_equal(r.command.v[0], "\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80");
	run_req_free(&r);
}

static void test_run_errors(void **state)
{
	(void)state;
	struct run_req r;
	expect_400(RUN("", &r), "command is required");
	expect_400(RUN("   \n", &r), "command is required");
	expect_400(RUN("{}", &r), "command is required");
	expect_400(RUN("{\"command\":null}", &r), "command is required");
	expect_400(RUN("{\"command\":[]}", &r), "command is required");
	expect_400(RUN("{\"command\":[\"\"]}", &r), "command[0] must not be empty");
	expect_400(RUN("{\"command\":\"ls -l\"}", &r), "Invalid JSON: command must be an array of strings");
	expect_400(RUN("{\"command\":[\"ls\",1]}", &r), "Invalid JSON: command must be an array of strings");
	expect_400(RUN("{\"command\":[\"ls\",null]}", &r), "Invalid JSON: command must be an array of strings");
	expect_400(RUN("{\"command\":[[\"ls\"]]}", &r), "Invalid JSON: command must be an array of strings");
	expect_400(RUN("{\"command\":{\"0\":\"ls\"}}", &r), "Invalid JSON: command must be an array of strings");
	expect_400(RUN("{\"command\":[\"ls\"],\"image\":5}", &r), "Invalid JSON: image must be a string");
	expect_400(RUN("{\"command\":[\"ls\"],\"image\":\"\"}", &r), "Invalid image name");
	expect_400(RUN("{\"command\":[\"ls\"],\"image\":\"a b\"}", &r), "Invalid image name");
	expect_400(RUN("{\"command\":[\"ls\"],\"profile\":[]}", &r), "Invalid JSON: profile must be a string");
	expect_400(RUN("{\"command\":[\"ls\"],\"fast\":\"yes\"}", &r), "Invalid JSON: fast must be a boolean");
	expect_400(RUN("{\"command\":[\"ls\"],\"fast\":1}", &r), "Invalid JSON: fast must be a boolean");
	expect_400(RUN("{\"command\":[\"ls\"],\"timeout\":-1}", &r), "timeout must be between 0 and");
	expect_400(RUN("{\"command\":[\"ls\"],\"timeout\":2592001}", &r), "timeout must be between 0 and");
	expect_400(RUN("{\"command\":[\"ls\"],\"timeout\":1.5}", &r), "Invalid JSON: timeout must be");
	expect_400(RUN("{\"command\":[\"ls\"],\"timeout\":\"soon\"}", &r), "timeout must be seconds or a duration");
	expect_400(RUN("{\"command\":[\"ls\"],\"timeout\":true}", &r), "Invalid JSON: timeout must be");
	/* Broken JSON of every kind. */
	static const char *const broken[] = {
		"{",	  "}",	      "[",	 "{\"command\":}", "{\"command\":[\"ls\"]",
		"nul",	  "{'a':1}",  "{\"a\":1,}", "{\"a\" 1}", "{\"command\":[\"ls\"]}}",
		"\xff",	  "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\x80\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":\"x\ny\"}", "{\"a\":01}", "{\"a\":1e99999}",
		"{\"a\":99999999999999999999999}", "{\"a\":-99999999999999999999999}",
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1}{\"b\":2}",
		"{\"command\":[\"a\"],\"command\":[\"b\"]}", /* duplicate keys */
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
		expect_400(RUN(broken[i], &r), "Invalid JSON: ");
	/* Not an object at the top. */
	static const char *const notobj[] = { "[]", "[\"ls\"]", "1", "\"x\"", "null", "true" };
	for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); i++)
		expect_400(RUN(notobj[i], &r), "Invalid JSON: ");
	/* NULL body with a length, and a body with a raw NUL in it. */
	assert_int_equal(reqparse_run(NULL, 5, &r, &status, err, sizeof(err)), -1);
	assert_int_equal(status, 400);
	assert_int_equal(reqparse_run("{\"command\":[\"ls\"]}\0x", 20, &r, &status, err, sizeof(err)), -1);
	assert_int_equal(reqparse_run(NULL, 0, &r, &status, err, sizeof(err)), -1);
	assert_string_equal(err, "command is required");
	/* A tiny or absent error buffer is fine. */
	char tiny[4];
	assert_int_equal(reqparse_run("{}", 2, &r, &status, tiny, sizeof(tiny)), -1);
	assert_string_equal(tiny, "com");
	assert_int_equal(reqparse_run("{}", 2, &r, NULL, NULL, 0), -1);
	run_req_free(&r);
}

static void test_embedded_nul(void **state)
{
	(void)state;
	struct run_req r;
	struct exec_req e;
	/* jansson refuses \u0000 without JSON_ALLOW_NUL; either way it must be a 400 "Invalid JSON". */
	expect_400(RUN("{\"command\":[\"a\\u0000b\"]}", &r), "Invalid JSON: ");
	expect_400(RUN("{\"command\":[\"ls\"],\"image\":\"a\\u0000\"}", &r), "Invalid JSON: ");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":[\"A=\\u0000\"]}", &e), "Invalid JSON: ");
	expect_400(RUN("{\"a\\u0000\":1}", &r), "Invalid JSON: ");
}

static void test_deep_nesting(void **state)
{
	(void)state;
	struct run_req r;
	size_t depth = 100000;
	char *s = malloc(2 * depth + 64);
	assert_non_null(s);
	size_t o = (size_t)sprintf(s, "{\"command\":[\"ls\"],\"x\":");
	for (size_t i = 0; i < depth; i++)
		s[o++] = '[';
	for (size_t i = 0; i < depth; i++)
		s[o++] = ']';
	s[o++] = '}';
	s[o] = '\0';
	expect_400(reqparse_run(s, o, &r, &status, err, sizeof(err)), "Invalid JSON: ");
	free(s);
}

static void test_argv_caps(void **state)
{
	(void)state;
	struct run_req r;
	/* REQ_ARGV_MAX entries pass, one more fails. */
	size_t cap = (REQ_ARGV_MAX + 1) * 4 + 64;
	char *s = malloc(cap);
	for (int extra = 0; extra < 2; extra++) {
		size_t n = REQ_ARGV_MAX + (size_t)extra;
		size_t o = (size_t)sprintf(s, "{\"command\":[");
		for (size_t i = 0; i < n; i++)
			o += (size_t)sprintf(s + o, "%s\"a\"", i ? "," : "");
		o += (size_t)sprintf(s + o, "]}");
		int rc = reqparse_run(s, o, &r, &status, err, sizeof(err));
		if (!extra) {
			assert_int_equal(rc, 0);
			assert_int_equal(r.command.n, REQ_ARGV_MAX);
			run_req_free(&r);
		} else {
			expect_400(rc, "command must have at most 4096 entries");
		}
	}
	free(s);
	/* One argument of exactly the cap passes; one byte more fails. */
	s = malloc(REQ_ARG_BYTES_MAX + 64);
	for (int extra = 0; extra < 2; extra++) {
		size_t o = (size_t)sprintf(s, "{\"command\":[\"x\",\"");
		memset(s + o, 'a', REQ_ARG_BYTES_MAX + (size_t)extra);
		o += REQ_ARG_BYTES_MAX + (size_t)extra;
		o += (size_t)sprintf(s + o, "\"]}");
		int rc = reqparse_run(s, o, &r, &status, err, sizeof(err));
		if (!extra) {
			assert_int_equal(rc, 0);
			assert_int_equal(strlen(r.command.v[1]), REQ_ARG_BYTES_MAX);
			run_req_free(&r);
		} else {
			expect_400(rc, "command[1] is longer than 131072 bytes");
		}
	}
	free(s);
}

static void test_create(void **state)
{
	(void)state;
	struct create_req r;
	assert_int_equal(CREATE("{\"name\":\"box-1\"}", &r), 0);
	assert_string_equal(r.name, "box-1");
	assert_null(r.image);
	assert_int_equal(r.vcpus, 0);
	assert_int_equal(r.memory_mb, 0);
	assert_false(r.has_unsupported);
	assert_int_equal(r.label_keys.n, 0);
	assert_int_equal(r.ports.n, 0);
	create_req_free(&r);

	assert_int_equal(CREATE("{\"name\":\"b\",\"image\":\"python:3.12-alpine\",\"vcpus\":8,"
				"\"memory_mb\":16384,\"profile\":\"moderate\",\"labels\":{\"app\":\"web\","
				"\"tier\":\"\"},\"ports\":[\"8080:80\",\"127.0.0.1:2222:22\"],"
				"\"source_url\":\"\",\"volumes\":[],\"secrets\":{},\"x\":1}",
				&r),
			 0);
	assert_string_equal(r.image, "python:3.12-alpine");
	assert_int_equal(r.vcpus, 8);
	assert_int_equal(r.memory_mb, 16384);
	assert_string_equal(r.profile, "moderate");
	assert_int_equal(r.label_keys.n, 2);
	assert_int_equal(r.label_vals.n, 2);
	assert_string_equal(r.label_keys.v[0], "app");
	assert_string_equal(r.label_vals.v[0], "web");
	assert_string_equal(r.label_keys.v[1], "tier");
	assert_string_equal(r.label_vals.v[1], "");
	assert_int_equal(r.ports.n, 2);
	assert_string_equal(r.ports.v[1], "127.0.0.1:2222:22");
	/* ... and parsed, once, for the handler */
	assert_string_equal(r.port_maps[0].host_addr, "");
	assert_int_equal(r.port_maps[0].host_port, 8080);
	assert_int_equal(r.port_maps[0].guest_port, 80);
	assert_string_equal(r.port_maps[1].host_addr, "127.0.0.1");
	assert_int_equal(r.port_maps[1].host_port, 2222);
	assert_int_equal(r.port_maps[1].guest_port, 22);
	assert_false(r.has_unsupported); /* empty ones do not count */
	create_req_free(&r);

	assert_int_equal(CREATE("{\"name\":\"b\",\"vcpus\":1,\"memory_mb\":64,\"source_url\":null,"
				"\"source_ref\":\"main\",\"volumes\":[\"a:b\"]}",
				&r),
			 0);
	assert_true(r.has_unsupported);
	assert_string_equal(r.unsupported, "source_ref");
	create_req_free(&r);
	static const char *const unsup[] = { "source_url", "source_ref", "volumes", "secrets",
					     "secret_files" };
	static const char *const vals[] = { "\"x\"", "\"x\"", "[\"v\"]", "{\"K\":\"v\"}", "[1]" };
	for (size_t i = 0; i < 5; i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"name\":\"b\",\"%s\":%s}", unsup[i], vals[i]);
		assert_int_equal(CREATE(body, &r), 0);
		assert_true(r.has_unsupported);
		assert_string_equal(r.unsupported, unsup[i]);
		create_req_free(&r);
	}
}

static void test_create_errors(void **state)
{
	(void)state;
	struct create_req r;
	expect_400(CREATE("", &r), "name is required");
	expect_400(CREATE("{}", &r), "name is required");
	expect_400(CREATE("{\"name\":null}", &r), "name is required");
	expect_400(CREATE("{\"name\":5}", &r), "Invalid JSON: name must be a string");
	expect_400(CREATE("{\"name\":\"\"}", &r), "Invalid sandbox name: ");
	expect_400(CREATE("{\"name\":\"a--b\"}", &r), "Invalid sandbox name: ");
	expect_400(CREATE("{\"name\":\"-a\"}", &r), "Invalid sandbox name: ");
	expect_400(CREATE("{\"name\":\"../etc\"}", &r), "Invalid sandbox name: ");
	assert_non_null(strstr(err, "1-63"));
	expect_400(CREATE("{\"name\":\"b\",\"image\":\"bad image\"}", &r), "Invalid image name");
	static const char *const vcpus[] = { "0", "9", "-1", "4294967297", "9223372036854775807",
					     "-9223372036854775808" };
	for (size_t i = 0; i < sizeof(vcpus) / sizeof(vcpus[0]); i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"name\":\"b\",\"vcpus\":%s}", vcpus[i]);
		expect_400(CREATE(body, &r), "vcpus must be between 1 and 8");
	}
	expect_400(CREATE("{\"name\":\"b\",\"vcpus\":2.0}", &r), "Invalid JSON: vcpus must be an integer");
	expect_400(CREATE("{\"name\":\"b\",\"vcpus\":\"2\"}", &r), "Invalid JSON: vcpus must be an integer");
	expect_400(CREATE("{\"name\":\"b\",\"vcpus\":true}", &r), "Invalid JSON: vcpus must be an integer");
	expect_400(CREATE("{\"name\":\"b\",\"vcpus\":99999999999999999999999}", &r), "Invalid JSON: ");
	expect_400(CREATE("{\"name\":\"b\",\"memory_mb\":63}", &r), "memory_mb must be between 64 and 16384");
	expect_400(CREATE("{\"name\":\"b\",\"memory_mb\":16385}", &r), "memory_mb must be between 64 and 16384");
	expect_400(CREATE("{\"name\":\"b\",\"memory_mb\":-512}", &r), "memory_mb must be between 64 and 16384");
	expect_400(CREATE("{\"name\":\"b\",\"memory_mb\":512.5}", &r), "Invalid JSON: memory_mb must be an integer");
	expect_400(CREATE("{\"name\":\"b\",\"profile\":1}", &r), "Invalid JSON: profile must be a string");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":[]}", &r), "Invalid JSON: labels must be an object of strings");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":\"a:b\"}", &r), "Invalid JSON: labels must be an object of strings");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"a\":1}}", &r), "Invalid JSON: labels must be an object of strings");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"a\":null}}", &r), "Invalid JSON: labels must be an object of strings");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"a b\":\"v\"}}", &r), "Invalid label 'a b'");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"\":\"v\"}}", &r), "Invalid label ''");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"k\":\"\\n\"}}", &r), "Invalid label 'k'");
	expect_400(CREATE("{\"name\":\"b\",\"labels\":{\"\xc3\xa9\xc3\xa9\":\"v\"}}", &r), "Invalid label '");
	expect_400(CREATE("{\"name\":\"b\",\"ports\":\"80:80\"}", &r), "Invalid JSON: ports must be an array of strings");
	expect_400(CREATE("{\"name\":\"b\",\"ports\":[80]}", &r), "Invalid JSON: ports must be an array of strings");
	expect_400(CREATE("{\"name\":\"b\",\"ports\":[\"80\"]}", &r), "Invalid port mapping '80'");
	expect_400(CREATE("{\"name\":\"b\",\"ports\":[\"80:80/udp\"]}", &r), "Invalid port mapping");
	expect_400(CREATE("{\"name\":\"b\",\"ports\":[\"0:80\"]}", &r), "Invalid port mapping");

	/* Caps: 64 labels / 32 ports pass, one more does not. */
	char *s = malloc(8192);
	for (int extra = 0; extra < 2; extra++) {
		size_t o = (size_t)sprintf(s, "{\"name\":\"b\",\"labels\":{");
		for (int i = 0; i < REQ_LABELS_MAX + extra; i++)
			o += (size_t)sprintf(s + o, "%s\"k%d\":\"v\"", i ? "," : "", i);
		o += (size_t)sprintf(s + o, "},\"ports\":[");
		for (int i = 0; i < REQ_PORTS_MAX + extra; i++)
			o += (size_t)sprintf(s + o, "%s\"%d:80\"", i ? "," : "", 1000 + i);
		sprintf(s + o, "]}");
		if (!extra) {
			assert_int_equal(CREATE(s, &r), 0);
			assert_int_equal(r.label_keys.n, REQ_LABELS_MAX);
			assert_int_equal(r.ports.n, REQ_PORTS_MAX);
			create_req_free(&r);
		} else {
			expect_400(CREATE(s, &r), "labels must have at most 64 entries");
		}
	}
	size_t o = (size_t)sprintf(s, "{\"name\":\"b\",\"ports\":[");
	for (int i = 0; i < REQ_PORTS_MAX + 1; i++)
		o += (size_t)sprintf(s + o, "%s\"%d:80\"", i ? "," : "", 1000 + i);
	sprintf(s + o, "]}");
	expect_400(CREATE(s, &r), "ports must have at most 32 entries");
	/* A long hostile label key is quoted truncated, and the message stays valid UTF-8. */
	o = (size_t)sprintf(s, "{\"name\":\"b\",\"labels\":{\"");
	for (int i = 0; i < 200; i++)
		o += (size_t)sprintf(s + o, "\xe2\x82\xac");
	sprintf(s + o, "\":\"v\"}}");
	expect_400(CREATE(s, &r), "Invalid label '");
	free(s);
	create_req_free(&r);
}

static void test_exec(void **state)
{
	(void)state;
	struct exec_req r;
	assert_int_equal(EXEC("{\"command\":[\"sh\",\"-c\",\"echo $A\"],\"env\":[\"A=1\",\"B=\",\"C=x=y\"],"
			      "\"workdir\":\"/tmp\",\"sudo\":true,\"timeout\":\"1h30m\"}",
			      &r),
			 0);
	assert_int_equal(r.command.n, 3);
	assert_int_equal(r.env.n, 3);
	assert_string_equal(r.env.v[2], "C=x=y");
	assert_null(r.env.v[3]);
	assert_string_equal(r.workdir, "/tmp");
	assert_true(r.sudo);
	assert_int_equal(r.timeout_s, 5400);
	exec_req_free(&r);
	assert_int_equal(EXEC("{\"command\":[\"ls\"],\"env\":null,\"workdir\":null,\"sudo\":null}", &r), 0);
	assert_null(r.env.v);
	assert_null(r.workdir);
	assert_false(r.sudo);
	exec_req_free(&r);

	expect_400(EXEC("{}", &r), "command is required");
	expect_400(EXEC("", &r), "command is required");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":{\"A\":\"1\"}}", &r), "Invalid JSON: env must be an array of strings");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":[1]}", &r), "Invalid JSON: env must be an array of strings");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":[\"A\"]}", &r), "env entries must be KEY=VALUE");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":[\"=1\"]}", &r), "env entries must be KEY=VALUE");
	expect_400(EXEC("{\"command\":[\"ls\"],\"env\":[\"\"]}", &r), "env entries must be KEY=VALUE");
	expect_400(EXEC("{\"command\":[\"ls\"],\"workdir\":\"tmp\"}", &r), "workdir must be an absolute path without '..'");
	expect_400(EXEC("{\"command\":[\"ls\"],\"workdir\":\"/a/../b\"}", &r), "workdir must be an absolute path without '..'");
	expect_400(EXEC("{\"command\":[\"ls\"],\"workdir\":\"\"}", &r), "workdir must be an absolute path without '..'");
	expect_400(EXEC("{\"command\":[\"ls\"],\"workdir\":7}", &r), "Invalid JSON: workdir must be a string");
	expect_400(EXEC("{\"command\":[\"ls\"],\"sudo\":\"true\"}", &r), "Invalid JSON: sudo must be a boolean");
	expect_400(EXEC("{\"command\":[\"ls\"],\"timeout\":\"0s\"}", &r), "timeout must be seconds");

	char *s = malloc(REQ_ENV_MAX * 8 + 64);
	size_t o = (size_t)sprintf(s, "{\"command\":[\"ls\"],\"env\":[");
	for (int i = 0; i < REQ_ENV_MAX + 1; i++)
		o += (size_t)sprintf(s + o, "%s\"A=1\"", i ? "," : "");
	sprintf(s + o, "]}");
	expect_400(EXEC(s, &r), "env must have at most 1024 entries");
	free(s);
}

static void test_file_write(void **state)
{
	(void)state;
	struct file_write_req r;
	assert_int_equal(FWRITE("{\"content\":\"hello\\n\"}", &r), 0);
	assert_int_equal(r.len, 6);
	assert_memory_equal(r.data, "hello\n", 6);
	file_write_req_free(&r);
	assert_int_equal(FWRITE("{\"content\":\"\",\"encoding\":\"utf8\"}", &r), 0);
	assert_int_equal(r.len, 0);
	assert_non_null(r.data);
	file_write_req_free(&r);
	assert_int_equal(FWRITE("{\"content\":\"AP8KAA==\",\"encoding\":\"base64\"}", &r), 0);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.data, "\x00\xff\n\x00", 4);
	file_write_req_free(&r);
	assert_int_equal(FWRITE("{\"content\":\"\",\"encoding\":\"base64\"}", &r), 0);
	assert_int_equal(r.len, 0);
	assert_non_null(r.data);
	file_write_req_free(&r);
	assert_int_equal(FWRITE("{\"content\":\"x\",\"encoding\":null}", &r), 0);
	file_write_req_free(&r);

	expect_400(FWRITE("{\"content\":\"AP8K=\",\"encoding\":\"base64\"}", &r), "Invalid base64 content");
	expect_400(FWRITE("{\"content\":\"AP8KAA==\\n\",\"encoding\":\"base64\"}", &r), "Invalid base64 content");
	expect_400(FWRITE("{\"content\":\"hello\",\"encoding\":\"base64\"}", &r), "Invalid base64 content");
	expect_400(FWRITE("{\"content\":\"x\",\"encoding\":\"hex\"}", &r), "encoding must be \"utf8\" or \"base64\"");
	expect_400(FWRITE("{\"content\":\"x\",\"encoding\":\"UTF8\"}", &r), "encoding must be");
	expect_400(FWRITE("{\"content\":\"x\",\"encoding\":1}", &r), "Invalid JSON: encoding must be a string");
	expect_400(FWRITE("{}", &r), "content is required");
	expect_400(FWRITE("", &r), "content is required");
	expect_400(FWRITE("{\"content\":null}", &r), "content is required");
	expect_400(FWRITE("{\"content\":[1]}", &r), "Invalid JSON: content must be a string");
	expect_400(FWRITE("{\"content\":5}", &r), "Invalid JSON: content must be a string");
	file_write_req_free(&r);
}

static void test_files_batch(void **state)
{
	(void)state;
	struct files_batch_req r;
	assert_int_equal(FBATCH("{\"files\":{\"/a\":\"1\",\"/b/c.txt\":\"\",\"/d\":\"\xe2\x82\xac\"}}", &r), 0);
	assert_int_equal(r.paths.n, 3);
	assert_int_equal(r.contents.n, 3);
	assert_string_equal(r.paths.v[0], "/a");
	assert_string_equal(r.contents.v[0], "1");
	assert_string_equal(r.paths.v[1], "/b/c.txt");
	assert_string_equal(r.contents.v[1], "");
	assert_string_equal(r.contents.v[2], "\xe2\x82\xac");
	assert_null(r.paths.v[3]);
	files_batch_req_free(&r);

	expect_400(FBATCH("{}", &r), "files must not be empty");
	expect_400(FBATCH("", &r), "files must not be empty");
	expect_400(FBATCH("{\"files\":{}}", &r), "files must not be empty");
	expect_400(FBATCH("{\"files\":null}", &r), "files must not be empty");
	expect_400(FBATCH("{\"files\":[]}", &r), "Invalid JSON: files must be an object of strings");
	expect_400(FBATCH("{\"files\":{\"/a\":1}}", &r), "Invalid JSON: files must be an object of strings");
	expect_400(FBATCH("{\"files\":{\"/a\":{\"b\":\"c\"}}}", &r), "Invalid JSON: files must be an object of strings");
	expect_400(FBATCH("{\"files\":{\"a\":\"x\"}}", &r), "file paths must be absolute without '..': 'a'");
	expect_400(FBATCH("{\"files\":{\"/a/../../etc/passwd\":\"x\"}}", &r), "file paths must be absolute");
	expect_400(FBATCH("{\"files\":{\"\":\"x\"}}", &r), "file paths must be absolute");
	expect_400(FBATCH("{\"files\":{\"/a\":\"1\",\"/a\":\"2\"}}", &r), "Invalid JSON: ");

	char *s = malloc((REQ_FILES_MAX + 1) * 16 + 64);
	size_t o = (size_t)sprintf(s, "{\"files\":{");
	for (int i = 0; i < REQ_FILES_MAX + 1; i++)
		o += (size_t)sprintf(s + o, "%s\"/f%d\":\"x\"", i ? "," : "", i);
	sprintf(s + o, "}}");
	expect_400(FBATCH(s, &r), "files must have at most 1024 entries");
	free(s);
	files_batch_req_free(&r);
}

static void test_batch_run(void **state)
{
	(void)state;
	struct batch_run_req r;
	assert_int_equal(BATCH("{\"commands\":[{\"command\":[\"echo\",\"1\"]},{\"command\":[\"true\"],\"x\":1}]}", &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.commands[0].v[1], "1");
	assert_string_equal(r.commands[1].v[0], "true");
	batch_run_req_free(&r);
	batch_run_req_free(&r);

	expect_400(BATCH("{}", &r), "commands must not be empty");
	expect_400(BATCH("", &r), "commands must not be empty");
	expect_400(BATCH("{\"commands\":[]}", &r), "commands must not be empty");
	expect_400(BATCH("{\"commands\":{}}", &r), "Invalid JSON: commands must be an array of objects");
	expect_400(BATCH("{\"commands\":[[\"ls\"]]}", &r), "Invalid JSON: commands must be an array of objects");
	expect_400(BATCH("{\"commands\":[{\"command\":[\"ls\"]},null]}", &r), "Invalid JSON: commands must be an array of objects");
	expect_400(BATCH("{\"commands\":[{\"command\":[\"ls\"]},{}]}", &r), "commands[1]: command is required");
	expect_400(BATCH("{\"commands\":[{\"command\":[\"ls\"]},{\"command\":\"ls\"}]}", &r),
		   "Invalid JSON: command must be an array of strings");

	char *s = malloc(80 * 32);
	for (int extra = 0; extra < 2; extra++) {
		size_t o = (size_t)sprintf(s, "{\"commands\":[");
		for (int i = 0; i < REQ_BATCH_MAX + extra; i++)
			o += (size_t)sprintf(s + o, "%s{\"command\":[\"c%d\"]}", i ? "," : "", i);
		sprintf(s + o, "]}");
		if (!extra) {
			assert_int_equal(BATCH(s, &r), 0);
			assert_int_equal(r.n, REQ_BATCH_MAX);
			assert_string_equal(r.commands[63].v[0], "c63");
			batch_run_req_free(&r);
		} else {
			expect_400(BATCH(s, &r), "commands must have at most 64 entries");
		}
	}
	free(s);
}

static void test_extend(void **state)
{
	(void)state;
	struct extend_req r;
	assert_int_equal(EXTEND("{\"by\":\"1h\"}", &r), 0);
	assert_int_equal(r.by_s, 3600);
	assert_int_equal(EXTEND("{\"by\":\"1d2h\"}", &r), 0);
	assert_int_equal(r.by_s, 93600);
	extend_req_free(&r);
	expect_400(EXTEND("{}", &r), "by is required");
	expect_400(EXTEND("", &r), "by is required");
	expect_400(EXTEND("{\"by\":null}", &r), "by is required");
	expect_400(EXTEND("{\"by\":3600}", &r), "Invalid JSON: by must be a string");
	expect_400(EXTEND("{\"by\":\"\"}", &r), "by must be a duration like 30m, 2h or 1d");
	expect_400(EXTEND("{\"by\":\"31d\"}", &r), "by must be a duration");
	expect_400(EXTEND("{\"by\":\"0m\"}", &r), "by must be a duration");
	expect_400(EXTEND("{\"by\":\"forever\"}", &r), "by must be a duration");
}

static void test_snapshot_restore(void **state)
{
	(void)state;
	struct snapshot_req s;
	struct restore_req r;
	assert_int_equal(SNAP("{\"sandbox\":\"box\"}", &s), 0);
	assert_string_equal(s.sandbox, "box");
	assert_null(s.name);
	snapshot_req_free(&s);
	assert_int_equal(SNAP("{\"sandbox\":\"box\",\"name\":\"snap-1\"}", &s), 0);
	assert_string_equal(s.name, "snap-1");
	snapshot_req_free(&s);
	expect_400(SNAP("{}", &s), "sandbox is required");
	expect_400(SNAP("", &s), "sandbox is required");
	expect_400(SNAP("{\"sandbox\":1}", &s), "Invalid JSON: sandbox must be a string");
	expect_400(SNAP("{\"sandbox\":\"a__b\"}", &s), "Invalid sandbox name: ");
	expect_400(SNAP("{\"sandbox\":\"b\",\"name\":\"x/y\"}", &s), "Invalid snapshot name: ");
	expect_400(SNAP("{\"sandbox\":\"b\",\"name\":false}", &s), "Invalid JSON: name must be a string");
	snapshot_req_free(&s);

	assert_int_equal(RESTORE("", &r), 0);
	assert_null(r.as_name);
	assert_int_equal(RESTORE("{\"as_name\":null}", &r), 0);
	assert_null(r.as_name);
	assert_int_equal(RESTORE("{\"as_name\":\"copy\"}", &r), 0);
	assert_string_equal(r.as_name, "copy");
	restore_req_free(&r);
	expect_400(RESTORE("{\"as_name\":\"\"}", &r), "Invalid sandbox name: ");
	expect_400(RESTORE("{\"as_name\":[]}", &r), "Invalid JSON: as_name must be a string");
	expect_400(RESTORE("[]", &r), "Invalid JSON: ");
	restore_req_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_ok),	      cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_embedded_nul),  cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_argv_caps),     cmocka_unit_test(test_create),
		cmocka_unit_test(test_create_errors), cmocka_unit_test(test_exec),
		cmocka_unit_test(test_file_write),    cmocka_unit_test(test_files_batch),
		cmocka_unit_test(test_batch_run),     cmocka_unit_test(test_extend),
		cmocka_unit_test(test_snapshot_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
