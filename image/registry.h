/*
 * Pulling from OCI registries (distribution API v2) with libcurl: index → the linux/amd64
 * manifest → config and layers, into the store, each blob verified against its digest.
 * Auth: anonymous, bearer tokens through the WWW-Authenticate challenge (realm, service, scope),
 * basic credentials from a Docker-format config.json. Plain HTTP only for registries marked
 * insecure (or a mirror URL given as http://).
 */
#ifndef FLINT_IMAGE_REGISTRY_H
#define FLINT_IMAGE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ref.h"
#include "store.h"

struct pull_progress {
	const char *what;     /* a layer's digest, or "manifest"/"config" */
	unsigned layer, layers; /* 1-based index of the layer being fetched, and how many */
	uint64_t done, total; /* bytes of this blob (total 0: unknown) */
	bool cached;	      /* already in the store: not fetched */
};

struct registry_opts {
	/* Docker config.json with "auths": {HOST: {"auth": base64(user:pass)}}. NULL: $FLINT_AUTH_FILE,
	 * else $DOCKER_CONFIG/config.json, else ~/.docker/config.json (a missing file is no creds). */
	const char *auth_file;
	const char *const *insecure; /* "host[:port]" spoken to over plain HTTP */
	size_t ninsecure;
	const char *const *mirrors; /* "REGISTRY=URL": fetch REGISTRY's images from URL instead */
	size_t nmirrors;
	void (*progress)(void *ctx, const struct pull_progress *p);
	void *progress_ctx;
	uint64_t max_blob; /* refuse a blob larger than this (0: 64 GiB) */
};

/*
 * Fetch ref (by tag or digest) with everything it needs into the store; blobs already present are
 * not fetched again. manifest_digest gets the linux/amd64 image manifest's digest. Errors are
 * -errno with a message a user can act on: unknown repository or tag (-ENOENT), auth refused
 * (-EACCES), digest mismatch (-EBADMSG), no linux/amd64 image (-ENOEXEC), registry unreachable
 * (-EHOSTUNREACH), plain HTTP refused (-EPROTO), bad documents (-EBADMSG).
 */
int registry_pull(const struct store *s, const struct image_ref *ref,
		  const struct registry_opts *o, char manifest_digest[DIGEST_STR_MAX], char *err,
		  size_t errlen);

#endif
