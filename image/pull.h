/*
 * The two ways an image arrives, end to end: pull (registry.c, then catalog_install) and import
 * (import.c, then catalog_install), each under the store's shared lock so a gc cannot take blobs
 * from under it. flintd and the CLI both call these.
 */
#ifndef FLINT_IMAGE_PULL_H
#define FLINT_IMAGE_PULL_H

#include <stddef.h>

#include "catalog.h"
#include "registry.h"

/*
 * Pull ref and install it under its canonical name (and `tag` too when non-NULL). info (may be
 * NULL) gets the installed image. 0 or -errno with a message.
 */
int image_pull(const struct store *s, const char *ref, const char *tag,
	       const struct registry_opts *o, catalog_progress_fn progress, void *ctx,
	       struct image_info *info, char *err, size_t errlen);

/*
 * Import an OCI layout, oci-archive or docker-save tarball. Each image is named as the archive
 * names it; `tag` names the only image (an error when the archive holds several). names gets up to
 * max installed names (canonical). Returns how many were installed, or -errno with a message.
 */
int image_import(const struct store *s, const char *path, const char *tag,
		 catalog_progress_fn progress, void *ctx, char (*names)[REF_STR_MAX], size_t max,
		 char *err, size_t errlen);

/* Registry settings from the environment: FLINT_INSECURE_REGISTRIES, FLINT_REGISTRY_MIRRORS
 * (comma-separated), FLINT_AUTH_FILE. The strings live in buf (cap bytes); 0 or -E2BIG. */
struct registry_env {
	char buf[4096];
	const char *insecure[16], *mirrors[16];
};
int registry_opts_from_env(struct registry_opts *o, struct registry_env *e);

#endif
