/* Unit tests for image/oci.c: detection, indexes and platform picks, manifests, configs, hostile
 * JSON. */
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

#include "oci.h"
#include "store.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char err[512];

static void expect_in(const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static int manifest(const char *text, struct oci_manifest *m)
{
	err[0] = '\0';
	return oci_parse_manifest(text, strlen(text), m, err, sizeof(err));
}

static int index_of(const char *text, struct oci_index *ix)
{
	err[0] = '\0';
	return oci_parse_index(text, strlen(text), ix, err, sizeof(err));
}

static int config(const char *text, struct oci_config *c)
{
	err[0] = '\0';
	return oci_parse_config(text, strlen(text), c, err, sizeof(err));
}

static const char *const good_manifest =
    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
    "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7023},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2
    "\",\"size\":32654},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D3
    "\",\"size\":0,\"annotations\":{\"a\":\"b\"}}]}";

static void test_detect(void **state)
{
	(void)state;
	const char *ix = "{\"schemaVersion\":2,\"manifests\":[]}";
	assert_int_equal(oci_detect(ix, strlen(ix), NULL), OCI_KIND_INDEX);
	assert_int_equal(oci_detect(good_manifest, strlen(good_manifest), NULL), OCI_KIND_MANIFEST);
	/* mediaType wins over the content type */
	assert_int_equal(oci_detect(good_manifest, strlen(good_manifest), OCI_MT_INDEX),
			 OCI_KIND_MANIFEST);
	const char *bare = "{\"schemaVersion\":2}";
	assert_int_equal(oci_detect(bare, strlen(bare), DOCKER_MT_LIST "; charset=utf-8"),
			 OCI_KIND_INDEX);
	assert_int_equal(oci_detect(bare, strlen(bare), DOCKER_MT_MANIFEST), OCI_KIND_MANIFEST);
	assert_int_equal(oci_detect(bare, strlen(bare), "text/html"), OCI_KIND_UNKNOWN);
	assert_int_equal(oci_detect(bare, strlen(bare), NULL), OCI_KIND_UNKNOWN);
	const char *v1 = "{\"schemaVersion\":1,\"mediaType\":"
			 "\"application/vnd.docker.distribution.manifest.v1+prettyjws\","
			 "\"manifests\":[]}";
	assert_int_equal(oci_detect(v1, strlen(v1), NULL), OCI_KIND_UNKNOWN);
	const char *shape = "{\"config\":{},\"layers\":[]}";
	assert_int_equal(oci_detect(shape, strlen(shape), NULL), OCI_KIND_MANIFEST);
	assert_int_equal(oci_detect("[1]", 3, NULL), OCI_KIND_UNKNOWN);
	assert_int_equal(oci_detect("{", 1, NULL), OCI_KIND_UNKNOWN);
	assert_int_equal(oci_detect("", 0, NULL), OCI_KIND_UNKNOWN);
}

static void test_layer_media(void **state)
{
	(void)state;
	assert_true(oci_layer_media_ok("application/vnd.oci.image.layer.v1.tar"));
	assert_true(oci_layer_media_ok("application/vnd.oci.image.layer.v1.tar+gzip"));
	assert_true(oci_layer_media_ok("application/vnd.oci.image.layer.v1.tar+zstd"));
	assert_true(oci_layer_media_ok("application/vnd.docker.image.rootfs.diff.tar.gzip"));
	assert_false(
	    oci_layer_media_ok("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"));
	assert_false(oci_layer_media_ok("application/vnd.oci.image.layer.nondistributable.v1.tar"));
	assert_false(oci_layer_media_ok("application/vnd.oci.image.layer.v1.tar+gzip "));
	assert_false(oci_layer_media_ok(""));
	assert_false(oci_layer_media_ok(NULL));
}

static void test_manifest(void **state)
{
	(void)state;
	struct oci_manifest *m = malloc(sizeof(*m));
	assert_non_null(m);
	assert_int_equal(manifest(good_manifest, m), 0);
	assert_string_equal(m->config.media_type, OCI_MT_CONFIG);
	assert_string_equal(m->config.digest, D1);
	assert_int_equal(m->config.size, 7023);
	assert_int_equal(m->nlayers, 2);
	assert_string_equal(m->layers[0].digest, D2);
	assert_int_equal(m->layers[0].size, 32654);
	assert_string_equal(m->layers[1].media_type, "application/vnd.oci.image.layer.v1.tar");
	assert_int_equal(m->layers[1].size, 0);

	/* Docker v2, without a mediaType at the top */
	assert_int_equal(
	    manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" DOCKER_MT_CONFIG
		     "\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
		     "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":"
		     "\"" D2 "\",\"size\":9223372036854775807}]}",
		     m),
	    0);
	assert_int_equal(m->layers[0].size, INT64_MAX);
	/* no layers at all is an image with an empty root */
	assert_int_equal(manifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" OCI_MT_CONFIG
				  "\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
				  m),
			 0);
	assert_int_equal(m->nlayers, 0);
	free(m);
}

#define CFG		  "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1}"
#define LAYER(mt, dg, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" dg "\",\"size\":" sz "}"
#define GZ		  "application/vnd.oci.image.layer.v1.tar+gzip"

static void expect_manifest_err(const char *text, const char *needle)
{
	struct oci_manifest *m = malloc(sizeof(*m));
	assert_non_null(m);
	memset(m, 0xa5, sizeof(*m));
	assert_int_equal(manifest(text, m), -EBADMSG);
	assert_int_equal(m->nlayers, 0);
	expect_in(needle);
	free(m);
}

static void test_manifest_errors(void **state)
{
	(void)state;
	expect_manifest_err("{\"schemaVersion\":1," CFG ",\"layers\":[]}", "schemaVersion");
	expect_manifest_err("{\"schemaVersion\":\"2\"," CFG ",\"layers\":[]}", "schemaVersion");
	expect_manifest_err("{\"schemaVersion\":2.0," CFG ",\"layers\":[]}", "schemaVersion");
	expect_manifest_err("{" CFG ",\"layers\":[]}", "schemaVersion");
	expect_manifest_err("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\"," CFG
			    ",\"layers\":[]}",
			    "not an image manifest");
	expect_manifest_err("{\"schemaVersion\":2,\"layers\":[]}", "config: not an object");
	expect_manifest_err("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.cncf."
			    "helm.config.v1+json\",\"digest\":\"" D1
			    "\",\"size\":1},\"layers\":[]}",
			    "not an image config");
	expect_manifest_err("{\"schemaVersion\":2," CFG "}", "\"layers\" is not an array");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":{}}", "not an array");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(GZ, D2, "-1") "]}",
			    "layers[0]: \"size\" is not a non-negative integer");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(GZ, D2, "1.5") "]}",
			    "non-negative integer");
	expect_manifest_err("{\"schemaVersion\":2," CFG
			    ",\"layers\":[" LAYER(GZ, D2, "\"12\"") "]}",
			    "non-negative integer");
	/* beyond int64: jansson refuses the number, so the document is refused */
	expect_manifest_err("{\"schemaVersion\":2," CFG
			    ",\"layers\":[" LAYER(GZ, D2, "9223372036854775808") "]}",
			    "invalid JSON");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(
				GZ, D2, "1") "," LAYER(GZ, "sha256:../../etc/passwd", "1") "]}",
			    "layers[1]: digest");
	expect_manifest_err(
	    "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(
		GZ, "SHA256:2222222222222222222222222222222222222222222222222222222222222222",
		"1") "]}",
	    "digest");
	expect_manifest_err(
	    "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(
		GZ, "sha256:222222222222222222222222222222222222222222222222222222222222222A",
		"1") "]}",
	    "digest");
	expect_manifest_err(
	    "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(
		GZ, "sha512:2222222222222222222222222222222222222222222222222222222222222222",
		"1") "]}",
	    "digest");
	expect_manifest_err(
	    "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER(
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", D2, "1") "]}",
	    "foreign and non-distributable layers are not supported");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":[{\"digest\":\"" D2
			    "\",\"size\":1}]}",
			    "layers[0]: no \"mediaType\"");
	expect_manifest_err("{\"schemaVersion\":2," CFG
			    ",\"layers\":[{\"mediaType\":7,\"digest\":\"" D2 "\",\"size\":1}]}",
			    "not a string");
	expect_manifest_err("{\"schemaVersion\":2," CFG ",\"layers\":[1]}",
			    "layers[0]: not an object");
	expect_manifest_err("{\"schemaVersion\":2,\"schemaVersion\":2," CFG ",\"layers\":[]}",
			    "invalid JSON");
	expect_manifest_err("[]", "not a JSON object");
	expect_manifest_err("{\"schemaVersion\":2", "invalid JSON");
	/* "\u0000" inside a string is refused by the parser */
	expect_manifest_err("{\"schemaVersion\":2,\"mediaType\":\"a\\u0000b\"," CFG
			    ",\"layers\":[]}",
			    "invalid JSON");

	/* a media type one byte too long for its buffer is an error, not a cut */
	char mt[OCI_MEDIA_MAX + 1];
	memset(mt, 'x', OCI_MEDIA_MAX);
	mt[OCI_MEDIA_MAX] = '\0';
	char *doc;
	assert_true(asprintf(&doc,
			     "{\"schemaVersion\":2," CFG ",\"layers\":[" LAYER("%s", D2, "1") "]}",
			     mt) > 0);
	expect_manifest_err(doc, "\"mediaType\" is longer than 127 bytes");
	free(doc);

	/* OCI_LAYERS_MAX layers are fine, one more is not */
	for (int extra = 0; extra < 2; extra++) {
		size_t n = OCI_LAYERS_MAX + extra;
		size_t cap = 200 + n * 200;
		char *t = malloc(cap);
		assert_non_null(t);
		size_t len = (size_t)snprintf(t, cap, "{\"schemaVersion\":2," CFG ",\"layers\":[");
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(t + len, cap - len, "%s" LAYER(GZ, D2, "1"),
						i ? "," : "");
		snprintf(t + len, cap - len, "]}");
		if (extra) {
			expect_manifest_err(t, "more than 256 layers");
		} else {
			struct oci_manifest *m = malloc(sizeof(*m));
			assert_non_null(m);
			assert_int_equal(manifest(t, m), 0);
			assert_int_equal(m->nlayers, OCI_LAYERS_MAX);
			free(m);
		}
		free(t);
	}
	/* a document over the cap is refused before parsing */
	size_t big = STORE_SMALL_BLOB_MAX + 1;
	char *b = malloc(big);
	assert_non_null(b);
	memset(b, ' ', big);
	struct oci_manifest *m = malloc(sizeof(*m));
	assert_non_null(m);
	assert_int_equal(oci_parse_manifest(b, big, m, err, sizeof(err)), -EBADMSG);
	expect_in("larger than");
	free(m);
	free(b);
}

#define ENTRY(mt, dg, plat) "{\"mediaType\":\"" mt "\",\"digest\":\"" dg "\",\"size\":500" plat "}"
#define PLAT(os, arch)	    ",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"}"
#define PLATV(os, arch, v)                                                                         \
	",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\",\"variant\":\"" v "\"}"

static void test_index(void **state)
{
	(void)state;
	struct oci_index ix;
	assert_int_equal(
	    index_of(
		"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":[" ENTRY(
		    OCI_MT_MANIFEST, D1,
		    PLATV("linux", "arm",
			  "v7")) "," ENTRY(OCI_MT_MANIFEST, D2,
					   PLAT("linux", "amd64")) "," ENTRY(OCI_MT_MANIFEST, D3,
									     PLAT("unknown",
										  "unknown")) "]}",
		&ix),
	    0);
	assert_int_equal(ix.n, 3);
	assert_string_equal(ix.v[0].os, "linux");
	assert_string_equal(ix.v[0].arch, "arm");
	assert_string_equal(ix.v[0].variant, "v7");
	assert_string_equal(ix.v[1].variant, "");
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", err, sizeof(err)), 1);
	assert_int_equal(oci_index_pick(&ix, "linux", "arm", err, sizeof(err)), 0);
	assert_int_equal(oci_index_pick(&ix, "linux", "s390x", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "no linux/s390x image (the index has linux/arm/v7, linux/amd64)");
	oci_index_destroy(&ix);
	oci_index_destroy(&ix);

	/* Docker manifest list; the plain amd64 over a variant; attestations left out */
	assert_int_equal(
	    index_of("{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MT_LIST
		     "\",\"manifests\":[" ENTRY(
			 DOCKER_MT_MANIFEST, D1,
			 PLATV("linux", "amd64", "v3")) "," ENTRY(DOCKER_MT_MANIFEST, D2,
								  PLAT("linux", "amd64")) "]}",
		     &ix),
	    0);
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", err, sizeof(err)), 1);
	oci_index_destroy(&ix);

	assert_int_equal(
	    index_of(
		"{\"schemaVersion\":2,\"manifests\":[" ENTRY(
		    OCI_MT_MANIFEST, D1,
		    PLAT(
			"linux",
			"arm64")) "," ENTRY(OCI_MT_MANIFEST, D2,
					    PLAT(
						"unknown",
						"unknown")) "," ENTRY(OCI_MT_MANIFEST, D1,
								      PLATV(
									  "linux", "arm",
									  "v7")) "," ENTRY(OCI_MT_MANIFEST,
											   D3,
											   PLAT(
											       "lin"
											       "ux",
											       "arm"
											       "6"
											       "4")) "]}",
		&ix),
	    0);
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "no linux/amd64 image (the index has linux/arm64, linux/arm/v7)");
	/* a small buffer gets a cut message, still terminated */
	char small[16];
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", small, sizeof(small)), -ENOENT);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	oci_index_destroy(&ix);

	/* a nested index entry and an entry without a platform are never picked */
	assert_int_equal(
	    index_of("{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			 OCI_MT_INDEX, D1, PLAT("linux", "amd64")) "," ENTRY(OCI_MT_MANIFEST, D2,
									     "") "]}",
		     &ix),
	    0);
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "no linux/amd64 image (the index has linux/amd64)");
	oci_index_destroy(&ix);
	assert_int_equal(index_of("{\"schemaVersion\":2,\"manifests\":[]}", &ix), 0);
	assert_int_equal(ix.n, 0);
	assert_null(ix.v);
	assert_int_equal(oci_index_pick(&ix, "linux", "amd64", err, sizeof(err)), -ENOENT);
	expect_in("lists no platforms");
	oci_index_destroy(&ix);
}

static void expect_index_err(const char *text, const char *needle)
{
	struct oci_index ix;
	assert_int_equal(index_of(text, &ix), -EBADMSG);
	assert_null(ix.v);
	assert_int_equal(ix.n, 0);
	expect_in(needle);
}

static void test_index_errors(void **state)
{
	(void)state;
	expect_index_err("{\"manifests\":[]}", "schemaVersion");
	expect_index_err("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST
			 "\",\"manifests\":[]}",
			 "is not an index");
	expect_index_err("{\"schemaVersion\":2}", "\"manifests\" is not an array");
	expect_index_err(
	    "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
		OCI_MT_MANIFEST, D1,
		PLAT("linux",
		     "amd64")) ",{\"mediaType\":\"x\",\"digest\":\"sha256:1\",\"size\":1}]}",
	    "manifests[1]: digest");
	expect_index_err("{\"schemaVersion\":2,\"manifests\":[" ENTRY(OCI_MT_MANIFEST, D1,
								      ",\"platform\":[]") "]}",
			 "\"platform\" is not an object");
	expect_index_err("{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			     OCI_MT_MANIFEST, D1, ",\"platform\":{\"os\":\"linux\"}") "]}",
			 "no \"architecture\"");
	expect_index_err(
	    "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
		OCI_MT_MANIFEST, D1, PLAT("linux", "amd64amd64amd64amd64amd64amd64amd64")) "]}",
	    "\"architecture\" is longer than 31 bytes");
	expect_index_err("{\"schemaVersion\":2,\"manifests\":[" ENTRY(
			     OCI_MT_MANIFEST, D1,
			     ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\","
			     "\"variant\":1}") "]}",
			 "\"variant\" is not a string");
	/* OCI_INDEX_MAX entries, then one more */
	size_t n = OCI_INDEX_MAX + 1, cap = 100 + n * 200;
	char *t = malloc(cap);
	assert_non_null(t);
	size_t len = (size_t)snprintf(t, cap, "{\"schemaVersion\":2,\"manifests\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(t + len, cap - len, "%s" ENTRY(OCI_MT_MANIFEST, D1, ""),
					i ? "," : "");
	snprintf(t + len, cap - len, "]}");
	expect_index_err(t, "more than 1024 manifests");
	free(t);
}

static void test_config(void **state)
{
	(void)state;
	struct oci_config c;
	assert_int_equal(
	    config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
		   "\"Env\":[\"PATH=/usr/bin:/bin\",\"EMPTY=\"],\"Entrypoint\":[\"/bin/"
		   "sh\",\"-c\"],\"Cmd\":[\"echo hi\"],\"WorkingDir\":\"/srv\",\"User\":"
		   "\"1000:1000\",\"Labels\":{\"x\":\"y\"}},\"rootfs\":{\"type\":"
		   "\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},\"history\":[]}",
		   &c),
	    0);
	assert_string_equal(c.os, "linux");
	assert_string_equal(c.arch, "amd64");
	assert_int_equal(c.nenv, 2);
	assert_string_equal(c.env[0], "PATH=/usr/bin:/bin");
	assert_string_equal(c.env[1], "EMPTY=");
	assert_null(c.env[2]);
	assert_int_equal(c.nentrypoint, 2);
	assert_string_equal(c.entrypoint[1], "-c");
	assert_null(c.entrypoint[2]);
	assert_int_equal(c.ncmd, 1);
	assert_string_equal(c.cmd[0], "echo hi");
	assert_string_equal(c.working_dir, "/srv");
	assert_string_equal(c.user, "1000:1000");
	assert_int_equal(c.nlayers_diff, 2);
	oci_config_destroy(&c);
	oci_config_destroy(&c);

	/* everything optional absent or null */
	assert_int_equal(config("{\"config\":{\"Env\":null,\"Cmd\":null,\"WorkingDir\":\"\"},"
				"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
				&c),
			 0);
	assert_string_equal(c.os, "");
	assert_null(c.env);
	assert_null(c.cmd);
	assert_null(c.entrypoint);
	assert_null(c.working_dir);
	assert_null(c.user);
	assert_int_equal(c.nlayers_diff, 0);
	oci_config_destroy(&c);
	assert_int_equal(
	    config("{\"config\":null,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", &c), 0);
	oci_config_destroy(&c);
}

static void expect_config_err(const char *text, const char *needle)
{
	struct oci_config c;
	assert_int_equal(config(text, &c), -EBADMSG);
	assert_null(c.env);
	assert_null(c.cmd);
	assert_null(c.working_dir);
	expect_in(needle);
}

#define ROOTFS ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_err("{}", "no \"rootfs\"");
	expect_config_err("{\"rootfs\":{\"type\":\"tar\",\"diff_ids\":[]}}", "rootfs.type");
	expect_config_err("{\"rootfs\":{\"type\":\"layers\"}}", "diff_ids is not an array");
	expect_config_err("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"md5:x\"]}}",
			  "diff_ids[1]");
	expect_config_err("{\"os\":1" ROOTFS "}", "\"os\" is not a string");
	expect_config_err("{\"architecture\":\"amd64amd64amd64amd64amd64amd64amd64\"" ROOTFS "}",
			  "longer than 31 bytes");
	expect_config_err("{\"config\":[]" ROOTFS "}", "\"config\" is not an object");
	expect_config_err("{\"config\":{\"Env\":\"A=B\"}" ROOTFS "}", "\"Env\" is not an array");
	expect_config_err("{\"config\":{\"Env\":[\"A=B\",\"NOEQUALS\"]}" ROOTFS "}",
			  "Env[1] 'NOEQUALS' is not NAME=VALUE");
	expect_config_err("{\"config\":{\"Env\":[\"=B\"]}" ROOTFS "}", "not NAME=VALUE");
	expect_config_err("{\"config\":{\"Env\":[\"A=B\"],\"Cmd\":[\"x\",2]}" ROOTFS "}",
			  "Cmd[1] is not a string");
	expect_config_err("{\"config\":{\"Entrypoint\":\"/bin/sh\"}" ROOTFS "}",
			  "\"Entrypoint\" is not an array");
	expect_config_err("{\"config\":{\"Env\":[\"A=B\"],\"WorkingDir\":[]}" ROOTFS "}",
			  "\"WorkingDir\" is not a string");
	expect_config_err("{\"config\":{\"Env\":[\"A=B\"],\"WorkingDir\":\"/\",\"User\":0}" ROOTFS
			  "}",
			  "\"User\" is not a string");
	/* too many arguments */
	size_t n = OCI_ARGV_MAX + 1, cap = 100 + n * 8;
	char *t = malloc(cap);
	assert_non_null(t);
	size_t len = (size_t)snprintf(t, cap, "{\"config\":{\"Cmd\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(t + len, cap - len, "%s\"a\"", i ? "," : "");
	snprintf(t + len, cap - len, "]}" ROOTFS "}");
	expect_config_err(t, "more than 4096 entries in \"Cmd\"");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),   cmocka_unit_test(test_layer_media),
	    cmocka_unit_test(test_manifest), cmocka_unit_test(test_manifest_errors),
	    cmocka_unit_test(test_index),    cmocka_unit_test(test_index_errors),
	    cmocka_unit_test(test_config),   cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
