/* Importing OCI image layouts (directories or tars) and docker-save tarballs into the store. */
#include "import.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "oci.h"

#define IMPORT_MEMBERS_MAX (1u << 20)  /* tar members remembered (names and digests) */
#define IMPORT_JSON_TOTAL  (64u << 20) /* small JSON members kept in memory, all together */
#define IMPORT_DEPTH_MAX   4	       /* nested indexes */
#define IMPORT_BUF	   (1u << 20)  /* copy buffer */
#define BLOB_PREFIX	   "blobs/sha256/"

/*
 * What the archive or directory holds. A tar is read once: blobs go to the store as they stream
 * past (blobs/sha256/HEX verified against HEX), small JSON members stay in memory. A directory is
 * read on demand: only the blobs the chosen images need are copied in.
 */
struct member {
	char *name;
	char digest[DIGEST_STR_MAX]; /* its blob in the store; "" when only in memory */
	uint64_t size;
	char *data; /* small JSON kept whole (NUL-terminated); NULL otherwise */
	size_t len;
	bool created; /* this import put the blob into the store */
	bool used;    /* an imported image refers to it */
};

struct source {
	const struct store *s;
	const char *path;
	int dirfd; /* a layout directory; -1 for a tar */
	struct member *m;
	size_t n, cap, json_total;
	char *buf; /* IMPORT_BUF bytes */
	char *err;
	size_t errlen;
	char miss[512]; /* why the last image group had no linux/amd64 image */
};

#define FAIL(src, rc, ...) image_err((src)->err, (src)->errlen, (rc), __VA_ARGS__)

static void source_destroy(struct source *src)
{
	for (size_t i = 0; i < src->n; i++) {
		free(src->m[i].name);
		free(src->m[i].data);
	}
	free(src->m);
	free(src->buf);
	if (src->dirfd >= 0)
		close(src->dirfd);
}

static struct member *member_find(const struct source *src, const char *name)
{
	/* the last of duplicates wins, as when a tar is extracted */
	for (size_t i = src->n; i-- > 0;)
		if (!strcmp(src->m[i].name, name))
			return &src->m[i];
	return NULL;
}

static int member_add(struct source *src, const char *name, struct member **out)
{
	if (src->n == src->cap) {
		size_t cap = src->cap ? 2 * src->cap : 64;
		if (cap > IMPORT_MEMBERS_MAX)
			return FAIL(src, -E2BIG, "%s: more than %u members", src->path,
				    IMPORT_MEMBERS_MAX);
		struct member *m = realloc(src->m, cap * sizeof(*m));
		if (!m)
			return FAIL(src, -ENOMEM, "out of memory");
		src->m = m;
		src->cap = cap;
	}
	struct member *m = &src->m[src->n];
	memset(m, 0, sizeof(*m));
	m->name = strdup(name);
	if (!m->name)
		return FAIL(src, -ENOMEM, "out of memory");
	src->n++;
	*out = m;
	return 0;
}

/* "./a//b/" → "a/b": names are only keys here, never paths (but see safe_name). */
static void normalize(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	while (*in) {
		size_t n = strcspn(in, "/");
		if (n && !(n == 1 && in[0] == '.') && o + (o ? 1 : 0) + n < cap) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, in, n);
			o += n;
		}
		in += n;
		in += *in == '/';
	}
	out[o] = '\0';
}

/* A name from a manifest, opened under the directory: relative, no ".." anywhere. */
static bool safe_name(const char *name)
{
	if (!name[0] || name[0] == '/')
		return false;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += *p == '/';
	}
	return true;
}

static bool is_blob_name(const char *name, char digest[DIGEST_STR_MAX])
{
	if (strncmp(name, BLOB_PREFIX, strlen(BLOB_PREFIX)) != 0 ||
	    strlen(name + strlen(BLOB_PREFIX)) != DIGEST_HEX_LEN)
		return false;
	snprintf(digest, DIGEST_STR_MAX, "sha256:%s", name + strlen(BLOB_PREFIX));
	return digest_valid(digest);
}

static bool is_json_name(const char *name)
{
	size_t n = strlen(name);
	return !strcmp(name, "oci-layout") || (n > 5 && !strcmp(name + n - 5, ".json"));
}

/* Members docker save writes that no image refers to: not worth a blob each. */
static bool is_junk_name(const char *name)
{
	const char *b = strrchr(name, '/');
	b = b ? b + 1 : name;
	return !strcmp(b, "VERSION") || !strcmp(b, "json") || !strcmp(b, "repositories");
}

static int blob_size(const struct source *src, const char *digest, uint64_t *size)
{
	char p[STORE_PATH_MAX];
	struct stat st;
	if (store_blob_path(src->s, digest, p, sizeof(p)) != 0 || stat(p, &st) != 0)
		return -ENOENT;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* ---- reading a tar in one pass ---- */

static int tar_member_blob(struct source *src, struct archive *a, struct member *m,
			   const char *expect)
{
	char e[512];
	struct blob_writer w;
	int r = blob_writer_begin(src->s, &w, 0, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: %s", src->path, e);
	uint64_t size = 0;
	for (;;) {
		la_ssize_t k = archive_read_data(a, src->buf, IMPORT_BUF);
		if (k == 0)
			break;
		if (k < 0) {
			blob_writer_abort(&w);
			return FAIL(src, -EIO, "%s: member %s: %s", src->path, m->name,
				    archive_error_string(a));
		}
		r = blob_writer_write(&w, src->buf, (size_t)k, e, sizeof(e));
		if (r) {
			blob_writer_abort(&w);
			return FAIL(src, r, "%s: member %s: %s", src->path, m->name, e);
		}
		size += (uint64_t)k;
	}
	r = blob_writer_commit(&w, expect, m->digest, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: member %s: %s", src->path, m->name, e);
	m->size = size;
	return 0;
}

static int tar_member_json(struct source *src, struct archive *a, struct member *m, size_t size)
{
	if (src->json_total + size > IMPORT_JSON_TOTAL)
		return FAIL(src, -E2BIG, "%s: more than %u MiB of JSON members", src->path,
			    IMPORT_JSON_TOTAL >> 20);
	free(m->data);
	m->data = malloc(size + 1);
	if (!m->data)
		return FAIL(src, -ENOMEM, "out of memory");
	size_t have = 0;
	while (have < size) {
		la_ssize_t k = archive_read_data(a, m->data + have, size - have);
		if (k <= 0)
			return FAIL(src, -EIO, "%s: member %s: %s", src->path, m->name,
				    k ? archive_error_string(a) : "truncated");
		have += (size_t)k;
	}
	m->data[size] = '\0';
	m->len = size;
	m->size = size;
	src->json_total += size;
	return 0;
}

static int tar_entry(struct source *src, struct archive *a, struct archive_entry *ae)
{
	char name[1024], digest[DIGEST_STR_MAX];
	const char *hl = archive_entry_hardlink(ae);
	if (archive_entry_pathname(ae) == NULL)
		return 0;
	normalize(archive_entry_pathname(ae), name, sizeof(name));
	if (!name[0])
		return 0;
	if (hl) { /* the same content as an earlier member */
		char target[1024];
		normalize(hl, target, sizeof(target));
		const struct member *t = member_find(src, target);
		if (!t)
			return 0;
		size_t ti = (size_t)(t - src->m);
		struct member *m;
		int r = member_add(src, name, &m);
		if (r)
			return r;
		t = &src->m[ti]; /* member_add may have moved the array */
		if (is_blob_name(name, digest) && t->digest[0] && strcmp(digest, t->digest))
			return FAIL(src, -EBADMSG,
				    "%s: digest mismatch for member %s: a hard link to %s (%s)",
				    src->path, name, target, t->digest);
		memcpy(m->digest, t->digest, sizeof(m->digest));
		m->size = t->size;
		if (t->data && !(m->data = strdup(t->data)))
			return FAIL(src, -ENOMEM, "out of memory");
		m->len = t->len;
		return 0;
	}
	if (archive_entry_filetype(ae) != AE_IFREG)
		return 0;
	int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
	if (is_blob_name(name, digest)) {
		if (member_find(src, name))
			return 0; /* the same content again */
		struct member *m;
		int r = member_add(src, name, &m);
		if (r)
			return r;
		if (store_has_blob(src->s, digest)) { /* verified when it arrived */
			memcpy(m->digest, digest, sizeof(m->digest));
			return blob_size(src, digest, &m->size);
		}
		m->created = true;
		return tar_member_blob(src, a, m, digest);
	}
	if (is_json_name(name) && size >= 0 && size <= (int64_t)STORE_SMALL_BLOB_MAX) {
		struct member *m = member_find(src, name);
		int r = m ? 0 : member_add(src, name, &m);
		return r ? r : tar_member_json(src, a, m, (size_t)size);
	}
	if (is_junk_name(name) || is_json_name(name))
		return 0;
	struct member *m;
	int r = member_add(src, name, &m);
	return r ? r : tar_member_blob(src, a, m, NULL);
}

static int tar_read(struct source *src)
{
	int fd = open(src->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FAIL(src, -errno, "%s: %s", src->path, strerror(errno));
	struct archive *a = archive_read_new();
	if (!a) {
		close(fd);
		return FAIL(src, -ENOMEM, "out of memory");
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int rc = 0;
	if (archive_read_open_fd(a, fd, 64 << 10) != ARCHIVE_OK) {
		rc = FAIL(src, -EINVAL,
			  "%s: not an OCI image layout or archive, nor a docker-save tarball (%s)",
			  src->path, archive_error_string(a));
		goto out;
	}
	struct archive_entry *ae;
	for (unsigned nth = 0;; nth++) {
		int r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_FATAL || (r != ARCHIVE_OK && r != ARCHIVE_WARN)) {
			rc = nth ? FAIL(src, -EIO, "%s: %s", src->path, archive_error_string(a))
				 : FAIL(src, -EINVAL,
					"%s: not an OCI image layout or archive, nor a docker-save "
					"tarball (%s)",
					src->path, archive_error_string(a));
			goto out;
		}
		rc = tar_entry(src, a, ae);
		if (rc)
			goto out;
	}
out:
	archive_read_free(a);
	close(fd);
	return rc;
}

/* ---- a source's contents: small documents by name, blobs into the store ---- */

/* A small document by name (index.json, manifest.json, a docker config); NULL when absent. */
static int src_small(struct source *src, const char *name, const struct member **out)
{
	*out = NULL;
	struct member *m = member_find(src, name);
	if (m && m->data) {
		*out = m;
		return 0;
	}
	if (src->dirfd < 0 || !safe_name(name))
		return 0;
	int fd = openat(src->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR
			   ? 0
			   : FAIL(src, -errno, "%s/%s: %s", src->path, name, strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > STORE_SMALL_BLOB_MAX) {
		close(fd);
		return 0;
	}
	rc = member_add(src, name, &m);
	if (!rc && !(m->data = malloc((size_t)st.st_size + 1)))
		rc = FAIL(src, -ENOMEM, "out of memory");
	if (rc) {
		close(fd);
		return rc;
	}
	size_t have = 0, n = (size_t)st.st_size;
	while (have < n) {
		ssize_t k = read(fd, m->data + have, n - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = FAIL(src, -EIO, "%s/%s: %s", src->path, name,
				  k ? strerror(errno) : "changed while read");
			break;
		}
		have += (size_t)k;
	}
	close(fd);
	if (rc)
		return rc;
	m->data[n] = '\0';
	m->len = m->size = n;
	*out = m;
	return 0;
}

/* Copy a file of the layout directory into the store, verified against expect when given. */
static int dir_copy(struct source *src, const char *name, const char *expect,
		    char digest[DIGEST_STR_MAX], uint64_t *size)
{
	char e[512];
	int fd = openat(src->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return FAIL(src, -EBADMSG, "%s: missing blob %s", src->path,
				    expect ? expect : name);
		return FAIL(src, -errno, "%s/%s: %s", src->path, name, strerror(errno));
	}
	struct blob_writer w;
	int r = blob_writer_begin(src->s, &w, 0, e, sizeof(e));
	if (r) {
		close(fd);
		return FAIL(src, r, "%s: %s", src->path, e);
	}
	uint64_t n = 0;
	for (;;) {
		ssize_t k = read(fd, src->buf, IMPORT_BUF);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = FAIL(src, -errno, "%s/%s: %s", src->path, name, strerror(errno));
			break;
		}
		if (k == 0)
			break;
		r = blob_writer_write(&w, src->buf, (size_t)k, e, sizeof(e));
		if (r) {
			FAIL(src, r, "%s/%s: %s", src->path, name, e);
			break;
		}
		n += (uint64_t)k;
	}
	close(fd);
	if (r) {
		blob_writer_abort(&w);
		return r;
	}
	r = blob_writer_commit(&w, expect, digest, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: %s: %s", src->path, name, e);
	*size = n;
	return 0;
}

/*
 * Make sure the store holds member `name` (verified against expect when given); its digest and
 * size come back. A blob the store already has counts as present.
 */
static int src_blob(struct source *src, const char *name, const char *expect,
		    char digest[DIGEST_STR_MAX], uint64_t *size)
{
	char e[512];
	struct member *m = member_find(src, name);
	if (m && !m->digest[0] && m->data) { /* a JSON member kept in memory */
		int r = store_put_blob(src->s, m->data, m->len, expect, m->digest, e, sizeof(e));
		if (r)
			return FAIL(src, r, "%s: member %s: %s", src->path, name, e);
		m->size = m->len;
	}
	if (m && m->digest[0]) {
		if (expect && strcmp(expect, m->digest))
			return FAIL(src, -EBADMSG,
				    "%s: digest mismatch for member %s: expected %s, got %s",
				    src->path, name, expect, m->digest);
		for (size_t i = 0; i < src->n; i++) /* hard links and duplicates too */
			if (!strcmp(src->m[i].digest, m->digest))
				src->m[i].used = true;
		memcpy(digest, m->digest, DIGEST_STR_MAX);
		*size = m->size;
		return 0;
	}
	if (expect && store_has_blob(src->s, expect)) {
		memcpy(digest, expect, DIGEST_STR_MAX);
		return blob_size(src, expect, size);
	}
	if (src->dirfd < 0)
		return FAIL(src, -EBADMSG, "%s: missing blob %s", src->path,
			    expect ? expect : name);
	if (!safe_name(name))
		return FAIL(src, -EBADMSG, "%s: refusing member name '%.200s'", src->path, name);
	return dir_copy(src, name, expect, digest, size);
}

/* A descriptor's blob into the store, its size checked; then read whole when small. */
static int src_desc(struct source *src, const struct oci_desc *d, char **json, size_t *len)
{
	char name[sizeof(BLOB_PREFIX) + DIGEST_HEX_LEN], digest[DIGEST_STR_MAX], e[512];
	uint64_t size = 0;
	snprintf(name, sizeof(name), BLOB_PREFIX "%s", digest_hex(d->digest));
	int r = src_blob(src, name, d->digest, digest, &size);
	if (r)
		return r;
	if (size != d->size)
		return FAIL(src, -EBADMSG, "%s: blob %s has %llu bytes, its descriptor says %llu",
			    src->path, d->digest, (unsigned long long)size,
			    (unsigned long long)d->size);
	if (!json)
		return 0;
	r = store_read_blob(src->s, d->digest, STORE_SMALL_BLOB_MAX, json, len, e, sizeof(e));
	return r ? FAIL(src, r, "%s: %s", src->path, e) : 0;
}

/* ---- images ---- */

static int result_add(struct source *src, struct import_result *out, const char *name,
		      const char *digest)
{
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->v[i].name, name) && !strcmp(out->v[i].digest, digest))
			return 0;
	if (out->n == IMPORT_MAX)
		return FAIL(src, -E2BIG, "%s: more than %d images", src->path, IMPORT_MAX);
	if (strlen(name) >= IMPORT_NAME_MAX)
		return FAIL(src, -ENAMETOOLONG, "%s: image name longer than %d bytes: %.80s...",
			    src->path, IMPORT_NAME_MAX - 1, name);
	struct import_image *im = &out->v[out->n++];
	snprintf(im->name, sizeof(im->name), "%s", name);
	memcpy(im->digest, digest, DIGEST_STR_MAX);
	return 0;
}

/* 0 when the config is linux/amd64 (or says nothing), 1 (src->miss set) when it is not. */
static int config_check(struct source *src, const char *json, size_t len, size_t nlayers,
			const char *what)
{
	char e[512];
	struct oci_config c;
	int r = oci_parse_config(json, len, &c, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: config of %s: %s", src->path, what, e);
	if (c.nlayers_diff != nlayers)
		r = FAIL(src, -EBADMSG,
			 "%s: config of %s lists %zu layers (rootfs.diff_ids), the image has %zu",
			 src->path, what, c.nlayers_diff, nlayers);
	else if ((c.os[0] && strcmp(c.os, "linux")) || (c.arch[0] && strcmp(c.arch, "amd64"))) {
		snprintf(src->miss, sizeof(src->miss), "%s is %s/%s", what, c.os, c.arch);
		r = 1;
	}
	oci_config_destroy(&c);
	return r;
}

/* The manifest's config and layers into the store, checked. 0, 1 (not amd64) or -errno. */
static int oci_manifest(struct source *src, const struct oci_desc *d, const char *json, size_t len)
{
	char e[512];
	struct oci_manifest *mf = malloc(sizeof(*mf));
	if (!mf)
		return FAIL(src, -ENOMEM, "out of memory");
	int r = oci_parse_manifest(json, len, mf, e, sizeof(e));
	if (r) {
		FAIL(src, r, "%s: manifest %s: %s", src->path, d->digest, e);
		goto out;
	}
	char *cfg = NULL;
	size_t clen = 0;
	r = src_desc(src, &mf->config, &cfg, &clen);
	if (!r)
		r = config_check(src, cfg, clen, mf->nlayers, d->digest);
	free(cfg);
	for (size_t i = 0; !r && i < mf->nlayers; i++) {
		if (!oci_layer_media_ok(mf->layers[i].media_type))
			r = FAIL(src, -EBADMSG, "%s: manifest %s: layer %zu has media type '%s'",
				 src->path, d->digest, i + 1, mf->layers[i].media_type);
		else
			r = src_desc(src, &mf->layers[i], NULL, NULL);
	}
out:
	free(mf);
	return r;
}

/* A manifest or an index (whose linux/amd64 entry is followed): 0, 1 (none) or -errno. */
static int oci_resolve(struct source *src, const struct oci_desc *d, unsigned depth,
		       char manifest[DIGEST_STR_MAX])
{
	char e[512], *json = NULL;
	size_t len = 0;
	if (depth > IMPORT_DEPTH_MAX)
		return FAIL(src, -ELOOP, "%s: indexes nested more than %d deep", src->path,
			    IMPORT_DEPTH_MAX);
	int r = src_desc(src, d, &json, &len);
	if (r)
		return r;
	enum oci_kind k = oci_detect(json, len, d->media_type);
	if (k == OCI_KIND_MANIFEST) {
		r = oci_manifest(src, d, json, len);
		if (!r)
			memcpy(manifest, d->digest, DIGEST_STR_MAX);
	} else if (k == OCI_KIND_INDEX) {
		struct oci_index ix;
		r = oci_parse_index(json, len, &ix, e, sizeof(e));
		if (r) {
			FAIL(src, r, "%s: index %s: %s", src->path, d->digest, e);
		} else {
			int p = oci_index_pick(&ix, "linux", "amd64", src->miss, sizeof(src->miss));
			if (p < 0) {
				r = 1;
			} else {
				r = oci_resolve(src, &ix.v[p], depth + 1, manifest);
			}
			oci_index_destroy(&ix);
		}
	} else {
		r = FAIL(src, -EBADMSG, "%s: blob %s is neither an image index nor a manifest",
			 src->path, d->digest);
	}
	free(json);
	return r;
}

/* The name index.json gives an entry: containerd's full name, else the OCI ref.name. */
static int entry_name(struct source *src, const json_t *entry, char *out, size_t cap)
{
	const json_t *an = json_object_get(entry, "annotations");
	const json_t *n = json_object_get(an, "io.containerd.image.name");
	if (!json_is_string(n) || !json_string_length(n))
		n = json_object_get(an, "org.opencontainers.image.ref.name");
	const char *v = json_is_string(n) ? json_string_value(n) : "";
	if (strlen(v) >= cap)
		return FAIL(src, -ENAMETOOLONG,
			    "%s: index.json: an image name longer than %zu bytes", src->path,
			    cap - 1);
	snprintf(out, cap, "%s", v);
	return 0;
}

/* One group of top-level entries sharing a name: its linux/amd64 image. 0, 1 or -errno. */
static int oci_group(struct source *src, struct oci_desc *g, size_t ng,
		     char manifest[DIGEST_STR_MAX])
{
	struct oci_index sub = {.n = ng, .v = g};
	int p = oci_index_pick(&sub, "linux", "amd64", src->miss, sizeof(src->miss));
	if (p >= 0)
		return oci_resolve(src, &g[p], 0, manifest);
	/* nested indexes, and entries without a platform: their configs say */
	for (size_t i = 0; i < ng; i++) {
		bool nested = !strcmp(g[i].media_type, OCI_MT_INDEX) ||
			      !strcmp(g[i].media_type, DOCKER_MT_LIST);
		if (!nested && (g[i].os[0] || g[i].arch[0]))
			continue;
		int r = oci_resolve(src, &g[i], 0, manifest);
		if (r <= 0)
			return r;
	}
	return 1;
}

static int import_oci(struct source *src, const struct member *index, struct import_result *out)
{
	char e[512];
	struct oci_index ix;
	int r = oci_parse_index(index->data, index->len, &ix, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: index.json: %s", src->path, e);
	json_t *root = json_loadb(index->data, index->len, 0, NULL);
	const json_t *arr = json_object_get(root, "manifests");
	char(*names)[IMPORT_NAME_MAX] = calloc(ix.n ? ix.n : 1, sizeof(*names));
	bool *taken = calloc(json_array_size(arr) + 1, sizeof(*taken));
	bool *done = calloc(ix.n ? ix.n : 1, sizeof(*done));
	struct oci_desc *g = calloc(ix.n ? ix.n : 1, sizeof(*g));
	if (!root || !names || !taken || !done || !g) {
		r = FAIL(src, -ENOMEM, "out of memory");
		goto out;
	}
	/* names by digest, in order: one manifest may be listed under several names */
	for (size_t i = 0; !r && i < ix.n; i++)
		for (size_t j = 0; j < json_array_size(arr); j++) {
			const json_t *d = json_object_get(json_array_get(arr, j), "digest");
			if (!taken[j] && json_is_string(d) &&
			    !strcmp(json_string_value(d), ix.v[i].digest)) {
				taken[j] = true;
				r = entry_name(src, json_array_get(arr, j), names[i],
					       sizeof(names[i]));
				break;
			}
		}
	src->miss[0] = '\0';
	for (size_t i = 0; !r && i < ix.n; i++) {
		if (done[i])
			continue;
		size_t ng = 0;
		for (size_t j = i; j < ix.n; j++)
			if (!done[j] && !strcmp(names[j], names[i])) {
				done[j] = true;
				g[ng++] = ix.v[j];
			}
		char manifest[DIGEST_STR_MAX];
		r = oci_group(src, g, ng, manifest);
		if (r == 0)
			r = result_add(src, out, names[i], manifest);
		else if (r == 1)
			r = 0;
	}
out:
	free(g);
	free(done);
	free(taken);
	free(names);
	json_decref(root);
	oci_index_destroy(&ix);
	return r;
}

/* ---- docker save ---- */

static const char *layer_media_type(const struct source *src, const char *digest)
{
	unsigned char m[4] = {0};
	char p[STORE_PATH_MAX];
	if (store_blob_path(src->s, digest, p, sizeof(p)) == 0) {
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, m, sizeof(m)) < 0)
				m[0] = 0;
			close(fd);
		}
	}
	if (m[0] == 0x1f && m[1] == 0x8b)
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	return "application/vnd.oci.image.layer.v1.tar";
}

static json_t *descriptor(const char *media_type, const char *digest, uint64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size);
}

/* One manifest.json entry: config and layers into the store, an OCI manifest written for them. */
static int docker_entry(struct source *src, const json_t *ent, size_t idx,
			char manifest[DIGEST_STR_MAX])
{
	char e[512], what[64], cdigest[DIGEST_STR_MAX];
	const json_t *config = json_object_get(ent, "Config");
	const json_t *layers = json_object_get(ent, "Layers");
	snprintf(what, sizeof(what), "manifest.json[%zu]", idx);
	if (!json_is_string(config) || !json_is_array(layers))
		return FAIL(src, -EBADMSG, "%s: %s: needs \"Config\" and \"Layers\"", src->path,
			    what);
	if (json_array_size(layers) > OCI_LAYERS_MAX)
		return FAIL(src, -EBADMSG, "%s: %s: more than %d layers", src->path, what,
			    OCI_LAYERS_MAX);
	char cname[1024];
	normalize(json_string_value(config), cname, sizeof(cname));
	uint64_t csize = 0;
	int r = src_blob(src, cname, NULL, cdigest, &csize);
	if (r)
		return r;
	char *cfg = NULL;
	size_t clen = 0;
	r = store_read_blob(src->s, cdigest, STORE_SMALL_BLOB_MAX, &cfg, &clen, e, sizeof(e));
	if (r)
		return FAIL(src, r, "%s: config %s: %s", src->path, cname, e);
	r = config_check(src, cfg, clen, json_array_size(layers), what);
	free(cfg);
	if (r)
		return r;

	json_t *jl = json_array();
	json_t *doc =
	    json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", OCI_MT_MANIFEST,
		      "config", descriptor(OCI_MT_CONFIG, cdigest, csize), "layers", jl);
	if (!doc)
		return FAIL(src, -ENOMEM, "out of memory");
	for (size_t i = 0; !r && i < json_array_size(layers); i++) {
		const json_t *l = json_array_get(layers, i);
		char lname[1024], ldigest[DIGEST_STR_MAX];
		uint64_t lsize = 0;
		if (!json_is_string(l)) {
			r = FAIL(src, -EBADMSG, "%s: %s: Layers[%zu] is not a string", src->path,
				 what, i);
			break;
		}
		normalize(json_string_value(l), lname, sizeof(lname));
		char expect[DIGEST_STR_MAX];
		r = src_blob(src, lname, is_blob_name(lname, expect) ? expect : NULL, ldigest,
			     &lsize);
		if (!r && json_array_append_new(
			      jl, descriptor(layer_media_type(src, ldigest), ldigest, lsize)))
			r = FAIL(src, -ENOMEM, "out of memory");
	}
	char *text = r ? NULL : json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	if (r)
		return r;
	if (!text)
		return FAIL(src, -ENOMEM, "out of memory");
	r = store_put_blob(src->s, text, strlen(text), NULL, manifest, e, sizeof(e));
	free(text);
	return r ? FAIL(src, r, "%s: %s: %s", src->path, what, e) : 0;
}

static int import_docker(struct source *src, const struct member *mj, struct import_result *out)
{
	json_error_t je;
	json_t *root = json_loadb(mj->data, mj->len, 0, &je);
	if (!json_is_array(root)) {
		json_decref(root);
		return FAIL(src, -EBADMSG, "%s: manifest.json: %s", src->path,
			    root ? "not an array" : je.text);
	}
	int r = 0;
	src->miss[0] = '\0';
	for (size_t i = 0; !r && i < json_array_size(root); i++) {
		const json_t *ent = json_array_get(root, i);
		char manifest[DIGEST_STR_MAX];
		r = docker_entry(src, ent, i, manifest);
		if (r == 1) {
			r = 0;
			continue;
		}
		const json_t *tags = json_object_get(ent, "RepoTags");
		size_t ntags = 0;
		for (size_t k = 0; !r && k < json_array_size(tags); k++) {
			const json_t *t = json_array_get(tags, k);
			if (json_is_string(t) && json_string_length(t)) {
				r = result_add(src, out, json_string_value(t), manifest);
				ntags++;
			}
		}
		if (!r && !ntags)
			r = result_add(src, out, "", manifest);
	}
	json_decref(root);
	return r;
}

/* ---- the entry point ---- */

/* Blobs this import put into the store that no image took: another platform's, say. */
static void drop_unused(const struct source *src)
{
	char p[STORE_PATH_MAX];
	for (size_t i = 0; i < src->n; i++) {
		const struct member *m = &src->m[i];
		if (m->created && !m->used && store_blob_path(src->s, m->digest, p, sizeof(p)) == 0)
			unlink(p);
	}
}

static int check_layout(struct source *src, const struct member *layout)
{
	json_t *root = json_loadb(layout->data, layout->len, 0, NULL);
	const json_t *v = json_object_get(root, "imageLayoutVersion");
	int r = 0;
	if (!json_is_string(v))
		r = FAIL(src, -EBADMSG, "%s: oci-layout has no imageLayoutVersion", src->path);
	else if (strncmp(json_string_value(v), "1.", 2) != 0)
		r = FAIL(src, -EBADMSG, "%s: unsupported OCI layout version %.32s", src->path,
			 json_string_value(v));
	json_decref(root);
	return r;
}

int import_path(const struct store *s, const char *path, struct import_result *out, char *err,
		size_t errlen)
{
	struct source src = {.s = s, .path = path, .dirfd = -1, .err = err, .errlen = errlen};
	struct stat st;
	int r;
	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (stat(path, &st) != 0)
		return image_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	src.buf = malloc(IMPORT_BUF);
	if (!src.buf)
		return image_err(err, errlen, -ENOMEM, "out of memory");
	if (S_ISDIR(st.st_mode)) {
		src.dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = src.dirfd < 0 ? FAIL(&src, -errno, "%s: %s", path, strerror(errno)) : 0;
	} else if (S_ISREG(st.st_mode)) {
		r = tar_read(&src);
	} else {
		r = FAIL(&src, -EINVAL, "%s: neither a directory nor a file", path);
	}

	const struct member *layout = NULL, *index = NULL, *mj = NULL;
	if (!r)
		r = src_small(&src, "oci-layout", &layout);
	if (!r)
		r = src_small(&src, "index.json", &index);
	if (!r)
		r = src_small(&src, "manifest.json", &mj);
	if (!r && layout)
		r = check_layout(&src, layout);
	if (!r && !index && !mj)
		r = FAIL(&src, -EINVAL,
			 "%s: not an OCI image layout or archive, nor a docker-save tarball (no "
			 "index.json or manifest.json)",
			 path);
	if (!r && index) {
		/* newer docker writes both: prefer the OCI index when it works */
		r = import_oci(&src, index, out);
		if (mj && (r || !out->n)) {
			memset(out, 0, sizeof(*out));
			for (size_t i = 0; i < src.n; i++)
				src.m[i].used = false;
			int r2 = import_docker(&src, mj, out);
			if (!r2 || !r)
				r = r2;
		}
	} else if (!r) {
		r = import_docker(&src, mj, out);
	}
	if (!r && !out->n)
		r = FAIL(&src, -ENOENT, "%s: no linux/amd64 image%s%s", path,
			 src.miss[0] ? ": " : "", src.miss);
	if (r) {
		for (size_t i = 0; i < src.n; i++)
			src.m[i].used = false;
		memset(out, 0, sizeof(*out));
	}
	drop_unused(&src);
	source_destroy(&src);
	return r;
}
