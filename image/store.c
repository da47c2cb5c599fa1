/* The image store's directories and its content-addressed blobs (verified, renamed into place). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* mkdir -p with mode for the last components we create; existing ones are left as they are. */
static int store_mkdirs(const char *path, mode_t mode)
{
	char buf[STORE_PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int store_default_dir(char *out, size_t cap)
{
	const char *e = getenv("FLINT_STATE_DIR");
	int n;
	if (e && *e)
		n = snprintf(out, cap, "%s/images", e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		n = snprintf(out, cap, "%s/flint/images", e);
	else if ((e = getenv("HOME")) && *e)
		n = snprintf(out, cap, "%s/.local/state/flint/images", e);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_open(struct store *s, const char *dir, char *err, size_t errlen)
{
	static const char *const subdirs[] = {"blobs/sha256", "rootfs", "refs", "tmp", "locks"};
	char p[STORE_PATH_MAX];
	memset(s, 0, sizeof(*s));
	if (!dir || dir[0] != '/')
		return image_err(err, errlen, -EINVAL, "image store %s: must be an absolute path",
				 dir ? dir : "(none)");
	if (strlen(dir) >= sizeof(s->dir))
		return image_err(err, errlen, -ENAMETOOLONG, "image store %s: path too long", dir);
	memcpy(s->dir, dir, strlen(dir) + 1);
	int r = store_mkdirs(dir, 0700);
	if (r)
		return image_err(err, errlen, r, "image store %s: %s", dir, strerror(-r));
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, subdirs[i]);
		r = store_mkdirs(p, 0700);
		if (r)
			return image_err(err, errlen, r, "image store %s: %s", p, strerror(-r));
	}
	struct stat st;
	if (stat(dir, &st) != 0)
		return image_err(err, errlen, -errno, "image store %s: %s", dir, strerror(errno));
	if (st.st_uid != geteuid())
		return image_err(err, errlen, -EPERM,
				 "image store %s: owned by uid %u, not by this user (uid %u)", dir,
				 (unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

int store_blob_path(const struct store *s, const char *digest, char *out, size_t cap)
{
	if (!digest_valid(digest))
		return -EINVAL;
	int n = snprintf(out, cap, "%s/blobs/sha256/%s", s->dir, digest_hex(digest));
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool store_has_blob(const struct store *s, const char *digest)
{
	char p[STORE_PATH_MAX];
	struct stat st;
	return store_blob_path(s, digest, p, sizeof(p)) == 0 && stat(p, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

int blob_writer_begin(const struct store *s, struct blob_writer *w, uint64_t max, char *err,
		      size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->s = s;
	w->max = max;
	if (snprintf(w->tmp, sizeof(w->tmp), "%s/tmp/blob.XXXXXX", s->dir) >= (int)sizeof(w->tmp))
		return image_err(err, errlen, -ENAMETOOLONG, "image store path too long");
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;
		w->tmp[0] = '\0';
		return image_err(err, errlen, -e, "image store: temporary blob: %s", strerror(e));
	}
	int r = sha256_init(&w->h);
	if (r) {
		blob_writer_abort(w);
		return image_err(err, errlen, r, "sha256: out of memory");
	}
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *p, size_t n, char *err, size_t errlen)
{
	if (w->max && (n > w->max || w->size > w->max - n))
		return image_err(err, errlen, -EFBIG, "blob larger than %llu bytes",
				 (unsigned long long)w->max);
	sha256_update(&w->h, p, n);
	const char *c = p;
	while (n) {
		ssize_t k = write(w->fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return image_err(err, errlen, -errno, "image store: writing a blob: %s",
					 strerror(errno));
		}
		c += k;
		n -= (size_t)k;
		w->size += (uint64_t)k;
	}
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp[0])
		unlink(w->tmp);
	w->tmp[0] = '\0';
	sha256_destroy(&w->h);
}

int blob_writer_commit(struct blob_writer *w, const char *expect, char out[DIGEST_STR_MAX],
		       char *err, size_t errlen)
{
	char got[DIGEST_STR_MAX], dst[STORE_PATH_MAX];
	int r;
	sha256_final(&w->h, got);
	if (expect && strcmp(expect, got) != 0) {
		blob_writer_abort(w);
		return image_err(err, errlen, -EBADMSG, "digest mismatch: expected %s, got %s",
				 expect, got);
	}
	if (fsync(w->fd) != 0) {
		r = -errno;
		blob_writer_abort(w);
		return image_err(err, errlen, r, "image store: fsync: %s", strerror(-r));
	}
	if (fchmod(w->fd, 0444) != 0 || store_blob_path(w->s, got, dst, sizeof(dst)) != 0 ||
	    rename(w->tmp, dst) != 0) {
		r = errno ? -errno : -EIO;
		blob_writer_abort(w);
		return image_err(err, errlen, r, "image store: keeping blob %s: %s", got,
				 strerror(-r));
	}
	w->tmp[0] = '\0';
	close(w->fd);
	w->fd = -1;
	if (out)
		memcpy(out, got, sizeof(got));
	return 0;
}

int store_put_blob(const struct store *s, const void *p, size_t n, const char *expect,
		   char out[DIGEST_STR_MAX], char *err, size_t errlen)
{
	struct blob_writer w;
	int r = blob_writer_begin(s, &w, 0, err, errlen);
	if (r)
		return r;
	r = blob_writer_write(&w, p, n, err, errlen);
	if (r) {
		blob_writer_abort(&w);
		return r;
	}
	return blob_writer_commit(&w, expect, out, err, errlen);
}

int store_read_blob(const struct store *s, const char *digest, size_t max, char **out, size_t *len,
		    char *err, size_t errlen)
{
	char p[STORE_PATH_MAX], got[DIGEST_STR_MAX];
	struct stat st;
	*out = NULL;
	*len = 0;
	if (store_blob_path(s, digest, p, sizeof(p)) != 0)
		return image_err(err, errlen, -EINVAL, "not a sha256 digest: %.80s", digest);
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return image_err(err, errlen, -errno, "blob %s: %s", digest, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return image_err(err, errlen, -EFBIG, "blob %s: not a file of at most %zu bytes",
				 digest, max);
	}
	size_t n = (size_t)st.st_size, have = 0;
	char *buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return image_err(err, errlen, -ENOMEM, "blob %s: out of memory", digest);
	}
	while (have < n) {
		ssize_t k = read(fd, buf + have, n - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
	}
	close(fd);
	if (have != n || digest_of(buf, n, got) != 0 || strcmp(got, digest) != 0) {
		free(buf);
		return image_err(err, errlen, -EBADMSG,
				 "blob %s is damaged in the store (remove it and pull again)",
				 digest);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
