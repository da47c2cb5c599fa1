/* Pull and import, end to end: fetch or read the blobs, then build and name the image. */
#include "pull.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "err.h"
#include "import.h"

static int pull_name(const char *ref, char *out, size_t cap, char *err, size_t errlen)
{
	struct image_ref ir;
	int r = ref_parse(ref, &ir, err, errlen);
	if (r)
		return r;
	if (ir.digest[0] && !ir.tag[0]) {
		/* By digest only: named "registry/repo@sha256:...", so it is listed and kept. */
		ref_format_name(&ir, out, cap);
		return 1;
	}
	ir.digest[0] = '\0';
	ref_format_name(&ir, out, cap);
	return 0;
}

/*
 * One pull of a reference at a time across processes: a second `flint image pull` of the same
 * name waits, then finds the blobs and the filesystem in the store and fetches only the manifest.
 */
static int pull_ref_lock(const struct store *s, const struct image_ref *ir, char *err,
			 size_t errlen)
{
	char name[REF_STR_MAX], d[DIGEST_STR_MAX], p[STORE_PATH_MAX];
	ref_format(ir, name, sizeof(name));
	if (digest_of(name, strlen(name), d) != 0)
		return image_err(err, errlen, -ENOMEM, "out of memory");
	snprintf(p, sizeof(p), "%s/locks/pull-%s.lock", s->dir, digest_hex(d));
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return image_err(err, errlen, -errno, "%s: %s", p, strerror(errno));
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return image_err(err, errlen, -e, "flock %s: %s", p, strerror(e));
		}
	return fd;
}

int image_pull(const struct store *s, const char *ref, const char *tag,
	       const struct registry_opts *o, catalog_progress_fn progress, void *ctx,
	       struct image_info *info, char *err, size_t errlen)
{
	struct image_ref ir;
	char name[REF_STR_MAX] = "", tagname[REF_STR_MAX] = "", digest[DIGEST_STR_MAX];
	int r = ref_parse(ref, &ir, err, errlen);
	if (r)
		return r;
	r = pull_name(ref, name, sizeof(name), err, errlen);
	if (r < 0)
		return r;
	if (tag && (r = pull_name(tag, tagname, sizeof(tagname), err, errlen)) != 0)
		return r < 0
			   ? r
			   : image_err(err, errlen, -EINVAL, "%s: a name cannot be a digest", tag);
	int lk = catalog_lock(s, false, err, errlen);
	if (lk < 0)
		return lk;
	int plk = pull_ref_lock(s, &ir, err, errlen);
	if (plk < 0) {
		catalog_unlock(lk);
		return plk;
	}
	r = registry_pull(s, &ir, o, digest, err, errlen);
	if (!r)
		r = catalog_install(s, name, digest, progress, ctx, err, errlen);
	if (!r && tagname[0])
		r = catalog_install(s, tagname, digest, progress, ctx, err, errlen);
	close(plk);
	catalog_unlock(lk);
	if (!r && info) {
		char dref[REF_STR_MAX + DIGEST_STR_MAX];
		snprintf(dref, sizeof(dref), "%s", tagname[0] ? tagname : name[0] ? name : digest);
		r = catalog_lookup(s, dref, info, err, errlen);
	}
	return r;
}

int image_import(const struct store *s, const char *path, const char *tag,
		 catalog_progress_fn progress, void *ctx, char (*names)[REF_STR_MAX], size_t max,
		 char *err, size_t errlen)
{
	struct import_result *res = calloc(1, sizeof(*res));
	char tagname[REF_STR_MAX] = "";
	size_t done = 0;
	if (!res)
		return image_err(err, errlen, -ENOMEM, "out of memory");
	int r = 0;
	if (tag && (r = pull_name(tag, tagname, sizeof(tagname), err, errlen)) != 0) {
		free(res);
		return r < 0
			   ? r
			   : image_err(err, errlen, -EINVAL, "%s: a name cannot be a digest", tag);
	}
	int lk = catalog_lock(s, false, err, errlen);
	if (lk < 0) {
		free(res);
		return lk;
	}
	r = import_path(s, path, res, err, errlen);
	if (r)
		goto out;
	if (tagname[0] && res->n > 1) {
		r = image_err(err, errlen, -EINVAL,
			      "%s holds %zu images: --tag names one; import without it", path,
			      res->n);
		goto out;
	}
	for (size_t i = 0; i < res->n; i++) {
		char name[REF_STR_MAX] = "";
		const char *given = res->v[i].name;
		if (tagname[0]) {
			snprintf(name, sizeof(name), "%s", tagname);
		} else if (given[0] && strpbrk(given, "/:")) {
			r = pull_name(given, name, sizeof(name), err, errlen);
			if (r)
				goto out;
		} else {
			/* skopeo's layouts name an image only by its tag ("latest"): not a name. */
			r = image_err(
			    err, errlen, -EINVAL,
			    "%s names its image only \"%s\": give it a name with --tag NAME", path,
			    given[0] ? given : "(nothing)");
			goto out;
		}
		r = catalog_install(s, name, res->v[i].digest, progress, ctx, err, errlen);
		if (r)
			goto out;
		if (done < max)
			snprintf(names[done], REF_STR_MAX, "%s", name);
		done++;
	}
out:
	catalog_unlock(lk);
	free(res);
	return r ? r : (int)done;
}

/* Split a comma-separated value into out[], copying it into the buffer at *pos. */
static int pull_split(const char *v, struct registry_env *e, size_t *pos, const char **out,
		      size_t *n)
{
	*n = 0;
	if (!v || !*v)
		return 0;
	size_t len = strlen(v);
	if (*pos + len + 1 > sizeof(e->buf))
		return -E2BIG;
	char *p = e->buf + *pos;
	memcpy(p, v, len + 1);
	*pos += len + 1;
	char *save = NULL;
	for (char *tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == 16)
			return -E2BIG;
		if (*tok)
			out[(*n)++] = tok;
	}
	return 0;
}

int registry_opts_from_env(struct registry_opts *o, struct registry_env *e)
{
	size_t pos = 0, ni = 0, nm = 0;
	int r = pull_split(getenv("FLINT_INSECURE_REGISTRIES"), e, &pos, e->insecure, &ni);
	if (!r)
		r = pull_split(getenv("FLINT_REGISTRY_MIRRORS"), e, &pos, e->mirrors, &nm);
	if (r)
		return r;
	if (ni) {
		o->insecure = e->insecure;
		o->ninsecure = ni;
	}
	if (nm) {
		o->mirrors = e->mirrors;
		o->nmirrors = nm;
	}
	if (!o->auth_file)
		o->auth_file = getenv("FLINT_AUTH_FILE");
	return 0;
}
