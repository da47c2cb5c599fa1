/* Unit tests for image/import.c: OCI layouts (directory and tar), docker-save tarballs, failures.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "import.h"
#include "oci.h"
#include "store.h"

#define MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_LAYER    "application/vnd.oci.image.layer.v1.tar"
#define BLOBS_MAX   32
#define TAR_MAX	    (1u << 20)

static char err[512];

/* A temporary directory holding the store (store/) and what the test builds (in/). */
struct fx {
	char root[64], in[96];
	struct store s;
};

/* Blobs of a layout being built, by digest. */
struct blob {
	char digest[DIGEST_STR_MAX];
	char *data;
	size_t len;
};

struct blobs {
	size_t n;
	struct blob v[BLOBS_MAX];
};

/* A file of a tar being built. */
struct tfile {
	const char *name;
	const void *data;
	size_t len;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/flint-import-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/store", f->root);
	assert_int_equal(store_open(&f->s, dir, err, sizeof(err)), 0);
	snprintf(f->in, sizeof(f->in), "%s/in", f->root);
	assert_int_equal(mkdir(f->in, 0700), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void blobs_destroy(struct blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].data);
	b->n = 0;
}

/* Adds a copy; the digest and size come back. */
static const struct blob *blob_add(struct blobs *b, const void *p, size_t n)
{
	assert_true(b->n < BLOBS_MAX);
	struct blob *x = &b->v[b->n++];
	x->data = malloc(n ? n : 1);
	assert_non_null(x->data);
	memcpy(x->data, p, n);
	x->len = n;
	assert_int_equal(digest_of(p, n, x->digest), 0);
	return x;
}

static const struct blob *blob_add_json(struct blobs *b, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	json_decref(doc);
	const struct blob *x = blob_add(b, s, strlen(s));
	free(s);
	return x;
}

/* A tar (gzip'd when asked) of files, in memory: *len bytes of a malloc'd buffer. */
static char *tar_mem(const struct tfile *files, size_t n, bool gz, size_t *len)
{
	char *buf = malloc(TAR_MAX);
	assert_non_null(buf);
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (gz)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, TAR_MAX, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)files[i].len);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (files[i].len)
			assert_int_equal(archive_write_data(a, files[i].data, files[i].len),
					 (la_ssize_t)files[i].len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void write_tar(const char *path, const struct tfile *files, size_t n)
{
	size_t len = 0;
	char *t = tar_mem(files, n, false, &len);
	write_file(path, t, len);
	free(t);
}

/* One single-layer image: layer (hello.txt holding `text`), config, manifest. */
struct img {
	char manifest[DIGEST_STR_MAX], config[DIGEST_STR_MAX], layer[DIGEST_STR_MAX];
	size_t manifest_size;
};

static void make_image(struct blobs *b, const char *arch, const char *text, bool gz,
		       struct img *out)
{
	struct tfile f = {"hello.txt", text, strlen(text)};
	size_t plen = 0, zlen = 0;
	char *plain = tar_mem(&f, 1, false, &plen);
	char *zipped = gz ? tar_mem(&f, 1, true, &zlen) : NULL;
	char diff[DIGEST_STR_MAX];
	assert_int_equal(digest_of(plain, plen, diff), 0);
	const struct blob *l = gz ? blob_add(b, zipped, zlen) : blob_add(b, plain, plen);
	snprintf(out->layer, sizeof(out->layer), "%s", l->digest);
	size_t lsize = l->len;
	free(plain);
	free(zipped);

	const struct blob *c =
	    blob_add_json(b, json_pack("{s:s, s:s, s:{s:[s], s:s}, s:{s:s, s:[s]}}", "architecture",
				       arch, "os", "linux", "config", "Env", "A=b", "WorkingDir",
				       "/", "rootfs", "type", "layers", "diff_ids", diff));
	snprintf(out->config, sizeof(out->config), "%s", c->digest);
	size_t csize = c->len;
	const struct blob *m = blob_add_json(
	    b, json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
			 "mediaType", OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG,
			 "digest", out->config, "size", (json_int_t)csize, "layers", "mediaType",
			 gz ? MT_LAYER_GZ : MT_LAYER, "digest", out->layer, "size",
			 (json_int_t)lsize));
	snprintf(out->manifest, sizeof(out->manifest), "%s", m->digest);
	out->manifest_size = m->len;
}

/* index.json with one entry: a manifest (with a platform when arch is set) or an index. */
static char *index_json(const char *mt, const char *digest, size_t size, const char *arch,
			const char *name)
{
	json_t *e = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size",
			      (json_int_t)size);
	if (arch)
		json_object_set_new(e, "platform",
				    json_pack("{s:s, s:s}", "architecture", arch, "os", "linux"));
	if (name)
		json_object_set_new(e, "annotations",
				    json_pack("{s:s}", "org.opencontainers.image.ref.name", name));
	json_t *ix = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
			       "manifests", e);
	char *s = json_dumps(ix, JSON_COMPACT);
	json_decref(ix);
	assert_non_null(s);
	return s;
}

static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

static void write_layout_dir(const char *dir, const struct blobs *b, const char *index)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/blobs", dir);
	assert_int_equal(mkdir(dir, 0755) && errno != EEXIST, 0);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	for (size_t i = 0; i < b->n; i++) {
		snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, digest_hex(b->v[i].digest));
		write_file(p, b->v[i].data, b->v[i].len);
	}
	snprintf(p, sizeof(p), "%s/index.json", dir);
	write_file(p, index, strlen(index));
	snprintf(p, sizeof(p), "%s/oci-layout", dir);
	write_file(p, layout_file, strlen(layout_file));
}

/* The layout as one tar, blobs first (so the index comes after what it names), "./" names. */
static void write_layout_tar(const char *path, const struct blobs *b, const char *index)
{
	struct tfile f[BLOBS_MAX + 2];
	char names[BLOBS_MAX][96];
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		snprintf(names[i], sizeof(names[i]), "./blobs/sha256/%s",
			 digest_hex(b->v[i].digest));
		f[n++] = (struct tfile){names[i], b->v[i].data, b->v[i].len};
	}
	f[n++] = (struct tfile){"./index.json", index, strlen(index)};
	f[n++] = (struct tfile){"./oci-layout", layout_file, strlen(layout_file)};
	write_tar(path, f, n);
}

static bool in_store(const struct fx *f, const char *digest)
{
	return store_has_blob(&f->s, digest);
}

static void expect_err(const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_layout_dir(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "hello\n", true, &im);
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, "amd64", "latest");
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/layout", f->in);
	write_layout_dir(dir, &b, ix);

	struct import_result r;
	assert_int_equal(import_path(&f->s, dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "latest");
	assert_string_equal(r.v[0].digest, im.manifest);
	assert_true(in_store(f, im.manifest));
	assert_true(in_store(f, im.config));
	assert_true(in_store(f, im.layer));
	/* again: everything is there already */
	assert_int_equal(import_path(&f->s, dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].digest, im.manifest);
	free(ix);
	blobs_destroy(&b);
}

/* An oci-archive whose index names a multi-platform index: the amd64 image, nothing else kept. */
static void test_oci_archive_multiplatform(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img amd, arm;
	make_image(&b, "arm64", "arm\n", true, &arm);
	make_image(&b, "amd64", "amd\n", false, &amd);
	json_t *nested = json_pack(
	    "{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, s:s}}]}",
	    "schemaVersion", 2, "mediaType", OCI_MT_INDEX, "manifests", "mediaType",
	    OCI_MT_MANIFEST, "digest", arm.manifest, "size", (json_int_t)arm.manifest_size,
	    "platform", "architecture", "arm64", "os", "linux", "mediaType", OCI_MT_MANIFEST,
	    "digest", amd.manifest, "size", (json_int_t)amd.manifest_size, "platform",
	    "architecture", "amd64", "os", "linux");
	const struct blob *n = blob_add_json(&b, nested);
	char *ix = index_json(OCI_MT_INDEX, n->digest, n->len, NULL, "app:1");
	char tar[160];
	snprintf(tar, sizeof(tar), "%s/app.tar", f->in);
	write_layout_tar(tar, &b, ix);

	struct import_result r;
	assert_int_equal(import_path(&f->s, tar, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "app:1");
	assert_string_equal(r.v[0].digest, amd.manifest);
	assert_true(in_store(f, amd.layer));
	assert_true(in_store(f, amd.config));
	/* the arm64 image streamed into the store with the rest, and was dropped again */
	assert_false(in_store(f, arm.layer));
	assert_false(in_store(f, arm.manifest));
	free(ix);
	blobs_destroy(&b);
}

/* containerd's full name wins over the OCI ref.name; a gzip'd oci-archive reads the same. */
static void test_oci_archive_containerd_name(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "x\n", true, &im);
	json_t *ix =
	    json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s, s:s}}]}", "schemaVersion", 2, "manifests",
		      "mediaType", OCI_MT_MANIFEST, "digest", im.manifest, "size",
		      (json_int_t)im.manifest_size, "annotations", "io.containerd.image.name",
		      "docker.io/library/x:2", "org.opencontainers.image.ref.name", "2");
	char *ixs = json_dumps(ix, JSON_COMPACT);
	json_decref(ix);
	struct tfile files[BLOBS_MAX + 2];
	char names[BLOBS_MAX][96];
	size_t n = 0;
	files[n++] = (struct tfile){"index.json", ixs, strlen(ixs)};
	for (size_t i = 0; i < b.n; i++) {
		snprintf(names[i], sizeof(names[i]), "blobs/sha256/%s", digest_hex(b.v[i].digest));
		files[n++] = (struct tfile){names[i], b.v[i].data, b.v[i].len};
	}
	files[n++] = (struct tfile){"oci-layout", layout_file, strlen(layout_file)};
	/* a blob twice, under another spelling of its name: still kept */
	char dup[128];
	snprintf(dup, sizeof(dup), ".//%s", files[1].name);
	files[n] = files[1];
	files[n++].name = dup;
	size_t len = 0;
	char *t = tar_mem(files, n, true, &len);
	char path[160];
	snprintf(path, sizeof(path), "%s/x.tar.gz", f->in);
	write_file(path, t, len);
	free(t);

	struct import_result r;
	assert_int_equal(import_path(&f->s, path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "docker.io/library/x:2");
	assert_string_equal(r.v[0].digest, im.manifest);
	for (size_t i = 0; i < b.n; i++)
		assert_true(in_store(f, b.v[i].digest));
	free(ixs);
	blobs_destroy(&b);
}

/* docker save: <id>/layer.tar, <hex>.json, manifest.json last; an OCI manifest is written. */
static void test_docker_save(void **state)
{
	struct fx *f = *state;
	struct tfile lf[] = {{"etc/hostname", "box\n", 4}};
	size_t l1len = 0, l2len = 0;
	char *l1 = tar_mem(lf, 1, false, &l1len);
	char *l2 = tar_mem(lf, 1, true, &l2len);
	char d1[DIGEST_STR_MAX], d2[DIGEST_STR_MAX], diff2[DIGEST_STR_MAX], cd[DIGEST_STR_MAX];
	assert_int_equal(digest_of(l1, l1len, d1), 0);
	assert_int_equal(digest_of(l2, l2len, d2), 0);
	size_t plain = 0;
	char *l2plain = tar_mem(lf, 1, false, &plain);
	assert_int_equal(digest_of(l2plain, plain, diff2), 0);
	free(l2plain);
	json_t *cj = json_pack("{s:s, s:s, s:{s:[s]}, s:{s:s, s:[s, s]}}", "architecture", "amd64",
			       "os", "linux", "config", "Cmd", "sh", "rootfs", "type", "layers",
			       "diff_ids", d1, diff2);
	char *cfg = json_dumps(cj, JSON_COMPACT);
	json_decref(cj);
	assert_int_equal(digest_of(cfg, strlen(cfg), cd), 0);
	char cname[96];
	snprintf(cname, sizeof(cname), "%s.json", digest_hex(cd));
	json_t *mj =
	    json_pack("[{s:s, s:[s, s], s:[s, s]}]", "Config", cname, "RepoTags", "busybox:latest",
		      "example.com/bb:1", "Layers", "aaaa/layer.tar", "bbbb/layer.tar");
	char *mjs = json_dumps(mj, JSON_COMPACT);
	json_decref(mj);
	struct tfile files[] = {
	    {"aaaa/VERSION", "1.0", 3},		 {"aaaa/json", "{}", 2},
	    {"aaaa/layer.tar", l1, l1len},	 {"bbbb/layer.tar", l2, l2len},
	    {cname, cfg, strlen(cfg)},		 {"repositories", "{}", 2},
	    {"manifest.json", mjs, strlen(mjs)},
	};
	char path[160];
	snprintf(path, sizeof(path), "%s/save.tar", f->in);
	write_tar(path, files, sizeof(files) / sizeof(files[0]));

	struct import_result r;
	assert_int_equal(import_path(&f->s, path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].name, "busybox:latest");
	assert_string_equal(r.v[1].name, "example.com/bb:1");
	assert_string_equal(r.v[0].digest, r.v[1].digest);

	char *m = NULL;
	size_t mlen = 0;
	assert_int_equal(store_read_blob(&f->s, r.v[0].digest, STORE_SMALL_BLOB_MAX, &m, &mlen, err,
					 sizeof(err)),
			 0);
	struct oci_manifest om;
	assert_int_equal(oci_parse_manifest(m, mlen, &om, err, sizeof(err)), 0);
	assert_string_equal(om.config.media_type, OCI_MT_CONFIG);
	assert_string_equal(om.config.digest, cd);
	assert_int_equal(om.config.size, strlen(cfg));
	assert_int_equal(om.nlayers, 2);
	assert_string_equal(om.layers[0].media_type, MT_LAYER);
	assert_string_equal(om.layers[0].digest, d1);
	assert_int_equal(om.layers[0].size, l1len);
	assert_string_equal(om.layers[1].media_type, MT_LAYER_GZ);
	assert_string_equal(om.layers[1].digest, d2);
	assert_true(in_store(f, cd) && in_store(f, d1) && in_store(f, d2));
	/* deterministic: sorted keys, compact */
	assert_non_null(strstr(m, "{\"config\":{\"digest\":"));
	free(m);

	/* the same image again gives the same manifest digest */
	char first[DIGEST_STR_MAX];
	snprintf(first, sizeof(first), "%s", r.v[0].digest);
	assert_int_equal(import_path(&f->s, path, &r, err, sizeof(err)), 0);
	assert_string_equal(r.v[0].digest, first);
	free(mjs);
	free(cfg);
	free(l1);
	free(l2);
}

/* Newer docker: an OCI layout and manifest.json in one tar; index.json is preferred. */
static void test_docker_save_with_index(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "both\n", false, &im);
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, NULL, "both:oci");
	char cname[96], lname[96];
	snprintf(cname, sizeof(cname), "blobs/sha256/%s", digest_hex(im.config));
	snprintf(lname, sizeof(lname), "blobs/sha256/%s", digest_hex(im.layer));
	json_t *mj = json_pack("[{s:s, s:[s], s:[s]}]", "Config", cname, "RepoTags", "both:1",
			       "Layers", lname);
	char *mjs = json_dumps(mj, JSON_COMPACT);
	json_decref(mj);
	struct tfile files[BLOBS_MAX + 3];
	char names[BLOBS_MAX][96];
	size_t n = 0;
	for (size_t i = 0; i < b.n; i++) {
		snprintf(names[i], sizeof(names[i]), "blobs/sha256/%s", digest_hex(b.v[i].digest));
		files[n++] = (struct tfile){names[i], b.v[i].data, b.v[i].len};
	}
	files[n++] = (struct tfile){"index.json", ix, strlen(ix)};
	files[n++] = (struct tfile){"manifest.json", mjs, strlen(mjs)};
	files[n++] = (struct tfile){"oci-layout", layout_file, strlen(layout_file)};
	char path[160];
	snprintf(path, sizeof(path), "%s/both.tar", f->in);
	write_tar(path, files, n);

	struct import_result r;
	assert_int_equal(import_path(&f->s, path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "both:oci"); /* the index's, not manifest.json's */
	assert_string_equal(r.v[0].digest, im.manifest);

	/* a broken index.json: manifest.json still works */
	files[b.n] = (struct tfile){"index.json", "{\"schemaVersion\":2}", 19};
	snprintf(path, sizeof(path), "%s/both2.tar", f->in);
	write_tar(path, files, n);
	assert_int_equal(import_path(&f->s, path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "both:1");
	/* the manifest written for it is the one the layout had: same fields, same order */
	assert_string_equal(r.v[0].digest, im.manifest);
	free(mjs);
	free(ix);
	blobs_destroy(&b);
}

static void test_missing_blob(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "m\n", true, &im);
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, "amd64", "m");
	char dir[160], p[320];
	snprintf(dir, sizeof(dir), "%s/layout", f->in);
	write_layout_dir(dir, &b, ix);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, digest_hex(im.layer));
	assert_int_equal(unlink(p), 0);

	/* as a tar first: nothing the failed import brought stays */
	for (size_t i = 0; i < b.n; i++)
		if (!strcmp(b.v[i].digest, im.layer)) {
			free(b.v[i].data);
			b.v[i] = b.v[--b.n];
		}
	snprintf(p, sizeof(p), "%s/m.tar", f->in);
	write_layout_tar(p, &b, ix);
	struct import_result r;
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EBADMSG);
	expect_err("missing blob");
	expect_err(im.layer);
	assert_int_equal(r.n, 0);
	assert_false(in_store(f, im.config));
	assert_false(in_store(f, im.manifest));

	assert_int_equal(import_path(&f->s, dir, &r, err, sizeof(err)), -EBADMSG);
	expect_err("missing blob");
	expect_err(im.layer);
	assert_int_equal(r.n, 0);
	free(ix);
	blobs_destroy(&b);
}

static void test_tampered_blob(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "t\n", true, &im);
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, "amd64", "t");
	for (size_t i = 0; i < b.n; i++)
		if (!strcmp(b.v[i].digest, im.layer))
			b.v[i].data[b.v[i].len - 1] ^= 1;
	char p[160];
	snprintf(p, sizeof(p), "%s/t.tar", f->in);
	write_layout_tar(p, &b, ix);
	struct import_result r;
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EBADMSG);
	expect_err("digest mismatch");
	expect_err(digest_hex(im.layer));
	assert_false(in_store(f, im.layer));

	snprintf(p, sizeof(p), "%s/tdir", f->in);
	write_layout_dir(p, &b, ix);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EBADMSG);
	expect_err("digest mismatch");
	assert_false(in_store(f, im.layer));
	free(ix);
	blobs_destroy(&b);
}

/* A descriptor whose size disagrees with the blob, and a config with too few diff_ids. */
static void test_bad_sizes(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "amd64", "s\n", true, &im);
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size + 1, "amd64", "s");
	char p[160];
	snprintf(p, sizeof(p), "%s/s", f->in);
	write_layout_dir(p, &b, ix);
	struct import_result r;
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EBADMSG);
	expect_err("descriptor says");
	free(ix);

	/* a config with no diff_ids for the one layer */
	const struct blob *c =
	    blob_add_json(&b, json_pack("{s:s, s:s, s:{s:s, s:[]}}", "architecture", "amd64", "os",
					"linux", "rootfs", "type", "layers", "diff_ids"));
	const struct blob *m = blob_add_json(
	    &b, json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
			  "mediaType", OCI_MT_MANIFEST, "config", "mediaType", OCI_MT_CONFIG,
			  "digest", c->digest, "size", (json_int_t)c->len, "layers", "mediaType",
			  MT_LAYER_GZ, "digest", im.layer, "size", (json_int_t)b.v[0].len));
	ix = index_json(OCI_MT_MANIFEST, m->digest, m->len, "amd64", "s");
	snprintf(p, sizeof(p), "%s/s.tar", f->in);
	write_layout_tar(p, &b, ix);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EBADMSG);
	expect_err("diff_ids");
	free(ix);
	blobs_destroy(&b);
}

static void test_no_amd64(void **state)
{
	struct fx *f = *state;
	struct blobs b = {0};
	struct img im;
	make_image(&b, "arm64", "a\n", true, &im);
	/* the index says arm64 */
	char *ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, "arm64", "a");
	char p[160];
	snprintf(p, sizeof(p), "%s/a", f->in);
	write_layout_dir(p, &b, ix);
	struct import_result r;
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -ENOENT);
	expect_err("no linux/amd64 image");
	expect_err("linux/arm64");
	free(ix);

	/* no platform in the index: the config says arm64 */
	ix = index_json(OCI_MT_MANIFEST, im.manifest, im.manifest_size, NULL, "a");
	snprintf(p, sizeof(p), "%s/a.tar", f->in);
	write_layout_tar(p, &b, ix);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -ENOENT);
	expect_err("no linux/amd64 image");
	expect_err("arm64");
	assert_false(in_store(f, im.layer));
	free(ix);
	blobs_destroy(&b);
}

static void test_not_an_image(void **state)
{
	struct fx *f = *state;
	struct import_result r;
	char p[320];
	snprintf(p, sizeof(p), "%s/junk", f->in);
	write_file(p, "this is not a tar at all, not even close.\n", 42);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EINVAL);
	expect_err("not an OCI image layout");

	/* a tar with neither index.json nor manifest.json */
	struct tfile one = {"hello", "hi", 2};
	write_tar(p, &one, 1);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -EINVAL);
	expect_err("no index.json or manifest.json");

	/* an empty directory */
	assert_int_equal(import_path(&f->s, f->in, &r, err, sizeof(err)), -EINVAL);
	snprintf(p, sizeof(p), "%s/nope", f->in);
	assert_int_equal(import_path(&f->s, p, &r, err, sizeof(err)), -ENOENT);

	/* a docker-save manifest.json naming a layer outside the directory */
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/d", f->in);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/manifest.json", dir);
	const char *mj = "[{\"Config\":\"c.json\",\"Layers\":[\"../../etc/passwd\"]}]";
	write_file(p, mj, strlen(mj));
	snprintf(p, sizeof(p), "%s/c.json", dir);
	const char *cj = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			 "\"layers\",\"diff_ids\":[\"sha256:"
			 "0000000000000000000000000000000000000000000000000000000000000000\"]}}";
	write_file(p, cj, strlen(cj));
	assert_int_equal(import_path(&f->s, dir, &r, err, sizeof(err)), -EBADMSG);
	expect_err("refusing member name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_archive_multiplatform, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oci_archive_containerd_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_save, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_docker_save_with_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_blob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_blob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_amd64, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
