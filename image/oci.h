/*
 * OCI and Docker v2 image JSON: indexes (manifest lists), manifests and image configs, parsed as
 * hostile input (sizes, counts, digests and media types checked) with jansson.
 */
#ifndef FLINT_IMAGE_OCI_H
#define FLINT_IMAGE_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define OCI_LAYERS_MAX	 256
#define OCI_INDEX_MAX	 1024
#define OCI_MEDIA_MAX	 128
#define OCI_PLATFORM_MAX 32
#define OCI_ARGV_MAX	 4096 /* entries in a config's Env, Entrypoint, Cmd */

/* Media types (both families) */
#define OCI_MT_INDEX	   "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define DOCKER_MT_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_CONFIG   "application/vnd.docker.container.image.v1+json"

enum oci_kind { OCI_KIND_UNKNOWN, OCI_KIND_INDEX, OCI_KIND_MANIFEST };

struct oci_desc {
	char media_type[OCI_MEDIA_MAX];
	char digest[DIGEST_STR_MAX];
	uint64_t size;
	/* platform, in an index only ("" when absent) */
	char os[OCI_PLATFORM_MAX], arch[OCI_PLATFORM_MAX], variant[OCI_PLATFORM_MAX];
};

struct oci_index {
	size_t n;
	struct oci_desc *v; /* malloc'd */
};

struct oci_manifest {
	struct oci_desc config;
	size_t nlayers;
	struct oci_desc layers[OCI_LAYERS_MAX];
};

/*
 * What flint uses from an image config ("config" object); every field may be absent (NULL/0).
 * The arrays are NULL-terminated; an empty WorkingDir or User is NULL. Env entries are NAME=VALUE.
 */
struct oci_config {
	char os[OCI_PLATFORM_MAX], arch[OCI_PLATFORM_MAX];
	char **env; /* "K=V" */
	size_t nenv;
	char **entrypoint;
	size_t nentrypoint;
	char **cmd;
	size_t ncmd;
	char *working_dir;
	char *user;
	size_t nlayers_diff; /* rootfs.diff_ids count: must equal the manifest's layers */
};

/* Which document this is: the mediaType field, else the content type given, else its shape. */
enum oci_kind oci_detect(const char *json, size_t len, const char *content_type);
bool oci_layer_media_ok(const char *media_type); /* tar, tar+gzip, tar+zstd (OCI and Docker) */

/*
 * The parsers take at most STORE_SMALL_BLOB_MAX bytes of JSON (duplicate keys refused), need
 * schemaVersion 2 (index, manifest) and a matching mediaType when one is given, and check every
 * descriptor: mediaType, a valid digest, a size in 0..INT64_MAX. Strings longer than their
 * buffers are errors, never cut. 0, or -EBADMSG (-ENOMEM) with a message; on error *out holds
 * nothing to free.
 */
int oci_parse_index(const char *json, size_t len, struct oci_index *out, char *err, size_t errlen);
void oci_index_destroy(struct oci_index *ix);
/*
 * The position in ix->v of the image manifest for os/arch ("linux", "amd64"), an entry without a
 * variant preferred; -ENOENT with a message listing what the index has ("no linux/amd64 image
 * (the index has linux/arm64, linux/arm/v7)"), attestations (unknown/unknown) left out.
 */
int oci_index_pick(const struct oci_index *ix, const char *os, const char *arch, char *err,
		   size_t errlen);

/* The config must be an image config (OCI or Docker); every layer must pass oci_layer_media_ok. */
int oci_parse_manifest(const char *json, size_t len, struct oci_manifest *out, char *err,
		       size_t errlen);
/* Needs rootfs {type "layers", diff_ids: valid digests}; os/architecture may be absent (""). */
int oci_parse_config(const char *json, size_t len, struct oci_config *out, char *err,
		     size_t errlen);
void oci_config_destroy(struct oci_config *c);

#endif
