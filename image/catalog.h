/*
 * Installed images: names → manifest digests (refs/), each digest's root filesystem and run
 * settings (rootfs/), removal and garbage collection. Layout and atomicity: store.h.
 */
#ifndef FLINT_IMAGE_CATALOG_H
#define FLINT_IMAGE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ref.h"
#include "store.h"

/* What commands in the image get from its config (docs/images.md, "Running an image"). */
struct image_runcfg {
	char **env; /* "K=V", the image's Env; HOME added from /etc/passwd for the user */
	size_t nenv;
	char *cwd;  /* WorkingDir, NULL when the image has none */
	char *user; /* "UID:GID" resolved from the image's /etc/passwd and /etc/group; NULL: root */
	char *user_name; /* the config's User as written ("node", "1000:1000"), NULL: none */
	char **entrypoint;
	size_t nentrypoint;
	char **cmd;
	size_t ncmd;
};

struct image_info {
	char name[REF_STR_MAX];	     /* canonical, "docker.io/library/node:22-alpine" */
	char digest[DIGEST_STR_MAX]; /* the image manifest */
	char rootfs[STORE_PATH_MAX]; /* the read-only ext4 every VM of this image shares */
	uint64_t rootfs_bytes;	     /* its size on disk */
	uint64_t content_bytes;	     /* the files' logical size */
	unsigned layers;
	long long created; /* when it was installed here (Unix seconds) */
	struct image_runcfg cfg;
};

void image_info_destroy(struct image_info *i);

/*
 * A command's environment in this image: the image's Env without the keys `over` sets, then
 * `over` ("K=V"). out needs cfg->nenv + nover + 1 slots; it points into cfg and over and ends
 * with NULL. Returns the count.
 */
size_t image_env_merge(const struct image_runcfg *cfg, const char *const *over, size_t nover,
		       const char **out);
/* Entrypoint + Cmd, what the image runs when given no command: count (0: nothing), out ends NULL.
 */
size_t image_default_argv(const struct image_runcfg *cfg, const char **out, size_t cap);

/* A store-wide flock: shared while using images (install, boot), exclusive for rm and gc. */
int catalog_lock(const struct store *s, bool exclusive, char *err, size_t errlen); /* fd */
void catalog_unlock(int fd);

/* Progress lines for people ("layer 2/5: applied (120 MB)", "building the root filesystem"). */
typedef void (*catalog_progress_fn)(void *ctx, const char *line);

/*
 * Make manifest_digest (its manifest, config and layers already in the store) runnable and name
 * it `name` (canonical; replaces what the name meant before). The root filesystem is built once
 * per digest: a concurrent install of the same digest waits for the first and reuses it.
 */
int catalog_install(const struct store *s, const char *name, const char *manifest_digest,
		    catalog_progress_fn progress, void *ctx, char *err, size_t errlen);

/*
 * An installed image by name ("node:22-alpine" is normalized as Docker does), name@digest (the
 * name must point at that digest, or that digest must be installed), or bare "sha256:..." or an
 * unambiguous prefix of its hex of at least 12 digits. -ENOENT when not installed (err names it).
 */
int catalog_lookup(const struct store *s, const char *ref, struct image_info *out, char *err,
		   size_t errlen);

/* Every named image, sorted by name; free with catalog_list_free. */
int catalog_list(const struct store *s, struct image_info **out, size_t *n, char *err,
		 size_t errlen);
void catalog_list_free(struct image_info *v, size_t n);

/* Give an installed image (any lookup form) another name. */
int catalog_tag(const struct store *s, const char *src, const char *dst, char *err, size_t errlen);

/* Remove a name; its root filesystem and blobs go when no other name uses them (catalog_gc). */
int catalog_remove(const struct store *s, const char *ref, char *err, size_t errlen);

struct catalog_gc_stats {
	unsigned blobs, rootfs, tmp; /* removed */
	uint64_t bytes;		     /* freed */
};
/* Remove blobs, root filesystems and temporary files no name needs. Takes the exclusive lock. */
int catalog_gc(const struct store *s, struct catalog_gc_stats *st, char *err, size_t errlen);

#endif
