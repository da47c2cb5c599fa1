/*
 * The image store, shared by flintd and the flint CLI (docs/images.md). Under its directory:
 *   blobs/sha256/HEX     content-addressed blobs (manifests, configs, layers), verified on arrival
 *   rootfs/HEX.ext4      one read-only root filesystem per manifest digest, shared by every VM
 *   rootfs/HEX.json      what flint needs from the image's config (env, cwd, user, entrypoint, cmd)
 *   refs/NAME.json       name → manifest digest (NAME percent-escaped into one file name)
 *   tmp/                 work in progress; anything here after a crash is garbage
 *   locks/HEX.lock       flock: one build of a digest's root filesystem at a time
 *   lock                 flock: shared while pulling, importing or booting, exclusive for rm, gc
 * Every file becomes visible by rename() after fsync, so a kill leaves either nothing or a whole
 * object. Building a rootfs takes an flock on locks/HEX.lock: concurrent pulls of one image do the
 * work once (the second waits, then finds the result).
 */
#ifndef FLINT_IMAGE_STORE_H
#define FLINT_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"

#define STORE_PATH_MAX	     4096
#define STORE_SMALL_BLOB_MAX (4u << 20) /* manifests, indexes, configs are read whole, up to this  \
					 */

struct store {
	char dir[STORE_PATH_MAX - 64];
};

/* Create (0700) or open the store at dir. 0 or -errno with a message. */
int store_open(struct store *s, const char *dir, char *err, size_t errlen);
/* $FLINT_STATE_DIR/images, else $XDG_STATE_HOME/flint/images, else ~/.local/state/flint/images. */
int store_default_dir(char *out, size_t cap);

/* --- blobs --- */
struct blob_writer {
	const struct store *s;
	int fd;
	char tmp[STORE_PATH_MAX];
	struct sha256 h;
	uint64_t size, max;
};

/* Start a blob in tmp/; max: refuse (-EFBIG) a blob larger than this (0: no limit). */
int blob_writer_begin(const struct store *s, struct blob_writer *w, uint64_t max, char *err,
		      size_t errlen);
int blob_writer_write(struct blob_writer *w, const void *p, size_t n, char *err, size_t errlen);
/*
 * Finish: when expect is non-NULL the content must hash to it (else -EBADMSG, "digest mismatch:
 * expected X, got Y", and nothing is kept). fsync, then rename into blobs/. out gets the digest.
 */
int blob_writer_commit(struct blob_writer *w, const char *expect, char out[DIGEST_STR_MAX],
		       char *err, size_t errlen);
void blob_writer_abort(struct blob_writer *w); /* safe after commit or a failed begin */

/* A whole small blob in one call (commit semantics as above). */
int store_put_blob(const struct store *s, const void *p, size_t n, const char *expect,
		   char out[DIGEST_STR_MAX], char *err, size_t errlen);
bool store_has_blob(const struct store *s, const char *digest);
/* The blob's path; -EINVAL for an invalid digest. */
int store_blob_path(const struct store *s, const char *digest, char *out, size_t cap);
/* Read a blob of at most max bytes whole (malloc'd, NUL-terminated for JSON) and verify its digest.
 */
int store_read_blob(const struct store *s, const char *digest, size_t max, char **out, size_t *len,
		    char *err, size_t errlen);

#endif
