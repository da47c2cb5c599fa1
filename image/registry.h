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

/*
 * Called when a blob starts (done 0), as its bytes arrive (at most ~10 times a second) and once
 * when it is in the store. "manifest" comes once for the document a tag names and, when that is
 * an index, once more for the linux/amd64 manifest. A blob already in the store gets one call,
 * cached set and done == total.
 */
struct pull_progress {
	const char *what;	/* a layer's digest, or "manifest"/"config" */
	unsigned layer, layers; /* 1-based index of the layer being fetched, and how many */
	uint64_t done, total;	/* bytes of this blob (total 0: unknown) */
	bool cached;		/* already in the store: not fetched */
};

struct registry_opts {
	/* Docker config.json with "auths": {HOST: {"auth": base64(user:pass)}} ("username" and
	 * "password" also do; keys may be URLs, docker.io's is "https://index.docker.io/v1/").
	 * NULL: $FLINT_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
	 * A missing default file is no creds; a missing file named here or in $FLINT_AUTH_FILE is
	 * an error. Credentials go only to the host they are for (a mirror gets the mirror's). */
	const char *auth_file;
	const char *const *insecure; /* "host[:port]" spoken to over plain HTTP */
	size_t ninsecure;
	/* "REGISTRY=URL" (http:// or https://, a path prefix allowed): fetch REGISTRY's images from
	 * URL instead, with no fallback to REGISTRY itself */
	const char *const *mirrors;
	size_t nmirrors;
	void (*progress)(void *ctx, const struct pull_progress *p);
	void *progress_ctx;
	uint64_t max_blob; /* refuse a blob larger than this (0: 64 GiB) */
};

/*
 * Fetch ref (by tag or digest) with everything it needs into the store; blobs already present are
 * not fetched again (nor a manifest named by a digest the store has). manifest_digest gets the
 * linux/amd64 image manifest's digest. The config and layers go in first, the manifest (and the
 * index) last, so a manifest in the store has all its blobs. Errors are -errno with a message a
 * user can act on: unknown repository or tag (-ENOENT), auth refused (-EACCES), digest mismatch
 * (-EBADMSG), no linux/amd64 image (-ENOEXEC), registry unreachable (-EHOSTUNREACH), plain HTTP
 * refused, TLS or other protocol failures (-EPROTO), bad documents (-EBADMSG), a blob over
 * max_blob (-EFBIG), a transfer cut or stalled (-EIO). Thread-safe: one libcurl handle per call
 * (libcurl >= 7.84 makes curl_global_init safe to call from threads).
 */
int registry_pull(const struct store *s, const struct image_ref *ref, const struct registry_opts *o,
		  char manifest_digest[DIGEST_STR_MAX], char *err, size_t errlen);

#endif
