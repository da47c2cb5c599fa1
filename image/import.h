/*
 * Importing images without a registry: an OCI image layout (a directory, or a tar of one, as
 * `skopeo copy oci:DIR` / `oci-archive:` write) or a `docker save` / `podman save` tarball.
 * Blobs go into the store verified; docker-save layers and configs get an OCI manifest written
 * for them. Every image found is reported with its name (from index.json's
 * org.opencontainers.image.ref.name annotation, or docker's RepoTags) and manifest digest.
 */
#ifndef FLINT_IMAGE_IMPORT_H
#define FLINT_IMAGE_IMPORT_H

#include <stddef.h>

#include "digest.h"
#include "store.h"

#define IMPORT_MAX	64
#define IMPORT_NAME_MAX 640

struct import_image {
	char name[IMPORT_NAME_MAX];  /* as the archive names it ("" when unnamed) */
	char digest[DIGEST_STR_MAX]; /* the linux/amd64 image manifest */
};

struct import_result {
	size_t n;
	struct import_image v[IMPORT_MAX];
};

/*
 * 0 or -errno with a message; an archive holding no linux/amd64 image is -ENOENT (so is a path
 * that does not exist), one that is no layout, oci-archive or docker-save tarball -EINVAL, a
 * missing blob, digest or size mismatch or bad document -EBADMSG. A tar is read once, streaming
 * its blobs into the store (verified against their names); a directory's blobs are copied only
 * when an image needs them. Blobs a tar brought that no image took (other platforms) are removed
 * again, as is everything it brought when the import fails. Call it under the store's shared lock.
 */
int import_path(const struct store *s, const char *path, struct import_result *out, char *err,
		size_t errlen);

#endif
