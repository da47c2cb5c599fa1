/* Image names, lookups, removal and garbage collection over the store's refs/ and rootfs/. */
#include "catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "oci.h"
#include "rootfs.h"

static void cat_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void image_info_destroy(struct image_info *i)
{
	if (!i)
		return;
	struct image_runcfg *c = &i->cfg;
	cat_strv_free(c->env, c->nenv);
	cat_strv_free(c->entrypoint, c->nentrypoint);
	cat_strv_free(c->cmd, c->ncmd);
	free(c->cwd);
	free(c->user);
	free(c->user_name);
	memset(c, 0, sizeof(*c));
}

static bool cat_env_sets(const char *const *over, size_t n, const char *kv)
{
	size_t k = strcspn(kv, "=");
	for (size_t i = 0; i < n; i++)
		if (!strncmp(over[i], kv, k) && over[i][k] == '=')
			return true;
	return false;
}

size_t image_env_merge(const struct image_runcfg *cfg, const char *const *over, size_t nover,
		       const char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nenv; i++)
		if (!cat_env_sets(over, nover, cfg->env[i]))
			out[n++] = cfg->env[i];
	for (size_t i = 0; i < nover; i++)
		out[n++] = over[i];
	out[n] = NULL;
	return n;
}

size_t image_default_argv(const struct image_runcfg *cfg, const char **out, size_t cap)
{
	size_t n = 0;
	if (cfg->nentrypoint + cfg->ncmd + 1 > cap)
		return 0;
	for (size_t i = 0; i < cfg->nentrypoint; i++)
		out[n++] = cfg->entrypoint[i];
	for (size_t i = 0; i < cfg->ncmd; i++)
		out[n++] = cfg->cmd[i];
	out[n] = NULL;
	return n;
}

int catalog_lock(const struct store *s, bool exclusive, char *err, size_t errlen)
{
	char p[STORE_PATH_MAX];
	snprintf(p, sizeof(p), "%s/lock", s->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return image_err(err, errlen, -errno, "%s: %s", p, strerror(errno));
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return image_err(err, errlen, -e, "flock %s: %s", p, strerror(e));
		}
	}
	return fd;
}

void catalog_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* refs/<sha256 of the name>.json: any name fits in one file name. */
static int cat_ref_path(const struct store *s, const char *name, char *out, size_t cap)
{
	char d[DIGEST_STR_MAX];
	if (digest_of(name, strlen(name), d) != 0)
		return -ENOMEM;
	int n = snprintf(out, cap, "%s/refs/%s.json", s->dir, digest_hex(d));
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int cat_write_ref(const struct store *s, const char *name, const char *digest, char *err,
			 size_t errlen)
{
	char p[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
	int r = cat_ref_path(s, name, p, sizeof(p));
	if (r)
		return image_err(err, errlen, r, "image name too long");
	json_t *j = json_pack("{s:s, s:s, s:I}", "name", name, "digest", digest, "created",
			      (json_int_t)time(NULL));
	/* A file of its own: two writers of one name must not share a temporary file. */
	snprintf(tmp, sizeof(tmp), "%s/tmp/ref.XXXXXX", s->dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		json_decref(j);
		return image_err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
	}
	r = j ? json_dumpfd(j, fd, JSON_COMPACT) : -1;
	json_decref(j);
	if (r != 0 || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return image_err(err, errlen, -EIO, "writing %s failed", tmp);
	}
	close(fd);
	if (rename(tmp, p) != 0) {
		int e = errno;
		unlink(tmp);
		return image_err(err, errlen, -e, "rename %s: %s", p, strerror(e));
	}
	return 0;
}

/* A ref file → name, digest and created; 0, -ENOENT, or -EBADMSG for a damaged one. */
static int cat_read_ref(const char *path, struct image_info *out)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *digest = json_string_value(json_object_get(j, "digest"));
	int r = -EBADMSG;
	if (name && digest && digest_valid(digest) && strlen(name) < sizeof(out->name)) {
		memcpy(out->name, name, strlen(name) + 1);
		memcpy(out->digest, digest, strlen(digest) + 1);
		out->created = (long long)json_integer_value(json_object_get(j, "created"));
		r = 0;
	}
	json_decref(j);
	return r;
}

int catalog_install(const struct store *s, const char *name, const char *digest,
		    catalog_progress_fn progress, void *ctx, char *err, size_t errlen)
{
	if (!digest_valid(digest))
		return image_err(err, errlen, -EINVAL, "not a manifest digest: %.80s", digest);
	int lk = catalog_lock(s, false, err, errlen);
	if (lk < 0)
		return lk;
	int r = rootfs_build(s, digest, progress, ctx, err, errlen);
	if (!r && name && *name)
		r = cat_write_ref(s, name, digest, err, errlen);
	catalog_unlock(lk);
	return r;
}

/* Every ref: callback per readable ref file (damaged ones are skipped). */
static int cat_each_ref(const struct store *s, int (*fn)(const struct image_info *, void *),
			void *ctx)
{
	char d[STORE_PATH_MAX];
	snprintf(d, sizeof(d), "%s/refs", s->dir);
	DIR *dir = opendir(d);
	if (!dir)
		return -errno;
	struct dirent *e;
	int r = 0;
	while (!r && (e = readdir(dir))) {
		size_t n = strlen(e->d_name);
		if (n != DIGEST_HEX_LEN + 5 || strcmp(e->d_name + DIGEST_HEX_LEN, ".json"))
			continue;
		char p[STORE_PATH_MAX + 300];
		struct image_info info = {0};
		snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
		if (cat_read_ref(p, &info) == 0)
			r = fn(&info, ctx);
	}
	closedir(dir);
	return r;
}

struct cat_find {
	const char *digest_prefix; /* hex */
	size_t plen;
	char found[DIGEST_STR_MAX];
	char name[REF_STR_MAX];
	unsigned matches;
};

static int cat_find_one(const struct image_info *i, void *arg)
{
	struct cat_find *f = arg;
	if (strncmp(digest_hex(i->digest), f->digest_prefix, f->plen) != 0)
		return 0;
	if (f->matches && strcmp(f->found, i->digest) != 0) {
		f->matches++; /* a second digest with this prefix: ambiguous */
		return 0;
	}
	if (!f->matches) {
		f->matches = 1;
		memcpy(f->found, i->digest, sizeof(f->found));
	}
	/* Several names of one digest: the first in order, so the answer is stable. */
	if (!f->name[0] || strcmp(i->name, f->name) < 0)
		memcpy(f->name, i->name, sizeof(f->name));
	return 0;
}

static bool cat_is_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static int cat_fill(const struct store *s, struct image_info *out, char *err, size_t errlen)
{
	int r = rootfs_read_info(s, out->digest, out, err, errlen);
	if (r == -ENOENT)
		return image_err(err, errlen, -ENOENT,
				 "image %s (%s) is named but not built: pull it again", out->name,
				 out->digest);
	return r;
}

int catalog_lookup(const struct store *s, const char *ref, struct image_info *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!ref || !*ref)
		return image_err(err, errlen, -EINVAL, "no image given");
	const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
	size_t hl = strlen(hex);
	if (cat_is_hex(hex) && hl >= 12 && hl <= DIGEST_HEX_LEN) {
		struct cat_find f = {.digest_prefix = hex, .plen = hl};
		cat_each_ref(s, cat_find_one, &f);
		if (f.matches > 1)
			return image_err(err, errlen, -EINVAL, "%s matches more than one image",
					 ref);
		if (f.matches == 1) {
			memcpy(out->digest, f.found, sizeof(out->digest));
			memcpy(out->name, f.name, sizeof(out->name));
			return cat_fill(s, out, err, errlen);
		}
		if (hl == DIGEST_HEX_LEN) {
			snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
			snprintf(out->name, sizeof(out->name), "%s", out->digest);
			int r = rootfs_read_info(s, out->digest, out, err, errlen);
			if (r != -ENOENT)
				return r;
		}
		if (hex != ref || hl == DIGEST_HEX_LEN)
			return image_err(err, errlen, -ENOENT, "no image %s is installed", ref);
	}
	struct image_ref ir;
	char name[REF_STR_MAX], p[STORE_PATH_MAX];
	int r = ref_parse(ref, &ir, err, errlen);
	if (r)
		return r;
	if (ir.digest[0] && !ir.tag[0]) {
		/* name@digest: that digest, under any name of that repository, or built at all. */
		ref_format_name(&ir, name, sizeof(name));
		memcpy(out->digest, ir.digest, sizeof(out->digest));
		snprintf(out->name, sizeof(out->name), "%s", name);
		r = rootfs_read_info(s, out->digest, out, err, errlen);
		if (r == -ENOENT)
			return image_err(err, errlen, -ENOENT, "image %s is not installed", name);
		return r;
	}
	struct image_ref plain = ir;
	plain.digest[0] = '\0';
	ref_format_name(&plain, name, sizeof(name));
	if (cat_ref_path(s, name, p, sizeof(p)) != 0)
		return image_err(err, errlen, -ENAMETOOLONG, "image name too long");
	r = cat_read_ref(p, out);
	if (r == -ENOENT)
		return image_err(err, errlen, -ENOENT, "image %s is not installed", name);
	if (r)
		return image_err(err, errlen, r, "the store's record of %s is damaged (%s)", name,
				 p);
	if (ir.digest[0] && strcmp(ir.digest, out->digest) != 0)
		return image_err(err, errlen, -ENOENT, "image %s is %s here, not %s", name,
				 out->digest, ir.digest);
	return cat_fill(s, out, err, errlen);
}

struct cat_listctx {
	const struct store *s;
	struct image_info *v;
	size_t n, cap;
	int err;
};

static int cat_list_one(const struct image_info *i, void *arg)
{
	struct cat_listctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct image_info *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return c->err = -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	struct image_info *o = &c->v[c->n];
	*o = *i;
	memset(&o->cfg, 0, sizeof(o->cfg));
	char e[256];
	if (rootfs_read_info(c->s, o->digest, o, e, sizeof(e)) != 0) {
		image_info_destroy(o);
		return 0; /* named but not built (an interrupted pull): not listed */
	}
	c->n++;
	return 0;
}

static int cat_by_name(const void *a, const void *b)
{
	return strcmp(((const struct image_info *)a)->name, ((const struct image_info *)b)->name);
}

int catalog_list(const struct store *s, struct image_info **out, size_t *n, char *err,
		 size_t errlen)
{
	struct cat_listctx c = {.s = s};
	int r = cat_each_ref(s, cat_list_one, &c);
	if (r || c.err) {
		catalog_list_free(c.v, c.n);
		return image_err(err, errlen, r ? r : c.err, "listing images: %s",
				 strerror(-(r ? r : c.err)));
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), cat_by_name);
	*out = c.v;
	*n = c.n;
	return 0;
}

void catalog_list_free(struct image_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		image_info_destroy(&v[i]);
	free(v);
}

int catalog_tag(const struct store *s, const char *src, const char *dst, char *err, size_t errlen)
{
	struct image_info info;
	struct image_ref ir;
	char name[REF_STR_MAX];
	int r = ref_parse(dst, &ir, err, errlen);
	if (r)
		return r;
	if (ir.digest[0])
		return image_err(err, errlen, -EINVAL, "%s: a new name cannot hold a digest", dst);
	ref_format_name(&ir, name, sizeof(name));
	/* Locked before the lookup: a gc in between would leave the new name dangling. */
	int lk = catalog_lock(s, false, err, errlen);
	if (lk < 0)
		return lk;
	r = catalog_lookup(s, src, &info, err, errlen);
	if (!r) {
		image_info_destroy(&info);
		r = cat_write_ref(s, name, info.digest, err, errlen);
	}
	catalog_unlock(lk);
	return r;
}

struct cat_rmctx {
	const struct store *s;
	const char *digest;
	unsigned n;
};

static int cat_rm_digest(const struct image_info *i, void *arg)
{
	struct cat_rmctx *c = arg;
	char p[STORE_PATH_MAX];
	if (!strcmp(i->digest, c->digest) && cat_ref_path(c->s, i->name, p, sizeof(p)) == 0 &&
	    unlink(p) == 0)
		c->n++;
	return 0;
}

int catalog_remove(const struct store *s, const char *ref, char *err, size_t errlen)
{
	struct image_info info;
	char p[STORE_PATH_MAX];
	int r = catalog_lookup(s, ref, &info, err, errlen);
	if (r == -ENOENT) {
		/* A name whose image is not built (a pull cut short) can still be removed. */
		struct image_ref ir;
		char name[REF_STR_MAX];
		if (ref_parse(ref, &ir, NULL, 0) == 0 && !ir.digest[0]) {
			ref_format_name(&ir, name, sizeof(name));
			if (cat_ref_path(s, name, p, sizeof(p)) == 0 && unlink(p) == 0)
				return 0;
		}
		return r;
	}
	if (r)
		return r;
	image_info_destroy(&info);
	/* By digest (or a prefix of one): every name of that image goes, as the image does. */
	const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
	if (cat_is_hex(hex) && strlen(hex) >= 12) {
		struct cat_rmctx c = {.s = s, .digest = info.digest};
		cat_each_ref(s, cat_rm_digest, &c);
		return c.n ? 0 : image_err(err, errlen, -ENOENT, "%s: no name points at it", ref);
	}
	if (cat_ref_path(s, info.name, p, sizeof(p)) != 0 || unlink(p) != 0)
		return image_err(err, errlen, -ENOENT, "%s: no such name (remove images by name)",
				 ref);
	return 0;
}

/* --- garbage collection --- */

struct cat_keep {
	char (*d)[DIGEST_STR_MAX];
	size_t n, cap;
	int err;
};

static int cat_keep_add(struct cat_keep *k, const char *digest)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		void *v = realloc(k->d, cap * sizeof(*k->d));
		if (!v)
			return k->err = -ENOMEM;
		k->d = v;
		k->cap = cap;
	}
	memcpy(k->d[k->n++], digest, DIGEST_STR_MAX);
	return 0;
}

static bool cat_keep_has(const struct cat_keep *k, const char *hex, size_t hl)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strncmp(digest_hex(k->d[i]), hex, hl) && hl == DIGEST_HEX_LEN)
			return true;
	return false;
}

struct cat_gcctx {
	const struct store *s;
	struct cat_keep rootfs, blobs;
};

/* A named image keeps its manifest, config and layers (and its rootfs). */
static int cat_gc_mark(const struct image_info *i, void *arg)
{
	struct cat_gcctx *g = arg;
	char *m = NULL;
	size_t len;
	cat_keep_add(&g->rootfs, i->digest);
	cat_keep_add(&g->blobs, i->digest);
	if (store_read_blob(g->s, i->digest, STORE_SMALL_BLOB_MAX, &m, &len, NULL, 0) != 0)
		return 0;
	struct oci_manifest *man = malloc(sizeof(*man));
	if (man && oci_parse_manifest(m, len, man, NULL, 0) == 0) {
		cat_keep_add(&g->blobs, man->config.digest);
		for (size_t l = 0; l < man->nlayers; l++)
			cat_keep_add(&g->blobs, man->layers[l].digest);
	}
	free(man);
	free(m);
	return 0;
}

static void cat_gc_remove(struct catalog_gc_stats *st, const char *path, unsigned *counter)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		rootfs_remove_tree(path); /* a staging tree left by a killed build */
		(*counter)++;
		return;
	}
	if (unlink(path) == 0) {
		st->bytes += (uint64_t)sb.st_blocks * 512;
		(*counter)++;
	}
}

int catalog_gc(const struct store *s, struct catalog_gc_stats *st, char *err, size_t errlen)
{
	struct cat_gcctx g = {.s = s};
	memset(st, 0, sizeof(*st));
	int lk = catalog_lock(s, true, err, errlen);
	if (lk < 0)
		return lk;
	int r = cat_each_ref(s, cat_gc_mark, &g);
	if (r || g.rootfs.err || g.blobs.err) {
		r = image_err(err, errlen, -ENOMEM, "gc: out of memory");
		goto out;
	}
	static const char *const dirs[] = {"blobs/sha256", "rootfs", "tmp", "locks"};
	for (size_t k = 0; k < 4; k++) {
		char d[STORE_PATH_MAX];
		snprintf(d, sizeof(d), "%s/%s", s->dir, dirs[k]);
		DIR *dir = opendir(d);
		if (!dir)
			continue;
		struct dirent *e;
		while ((e = readdir(dir))) {
			const char *nm = e->d_name;
			char p[STORE_PATH_MAX + 300];
			if (nm[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", d, nm);
			if (k == 0 && !cat_keep_has(&g.blobs, nm, strlen(nm)))
				cat_gc_remove(st, p, &st->blobs);
			else if (k == 1 && !cat_keep_has(&g.rootfs, nm, strcspn(nm, ".")))
				cat_gc_remove(st, p, &st->rootfs);
			else if (k == 2) /* nothing works in tmp/ while we hold the lock */
				cat_gc_remove(st, p, &st->tmp);
			else if (k == 3 && !cat_keep_has(&g.rootfs, nm, strcspn(nm, ".")))
				unlink(p); /* no build runs while we hold the lock */
		}
		closedir(dir);
	}
out:
	free(g.rootfs.d);
	free(g.blobs.d);
	catalog_unlock(lk);
	return r;
}
