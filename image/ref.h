/*
 * Image references as Docker and OCI tools write them: [REGISTRY/]REPO[:TAG][@DIGEST].
 * Normalized the way Docker does: no registry → docker.io, a one-part docker.io repository gets
 * "library/", no tag and no digest → "latest". The first component is a registry when it has a '.'
 * or a ':' or is "localhost".
 */
#ifndef FLINT_IMAGE_REF_H
#define FLINT_IMAGE_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "digest.h"

#define REF_REGISTRY_MAX 256
#define REF_REPO_MAX	 256
#define REF_TAG_MAX	 129 /* the distribution spec's 128 + NUL */
#define REF_STR_MAX	 (REF_REGISTRY_MAX + REF_REPO_MAX + REF_TAG_MAX + DIGEST_STR_MAX)

struct image_ref {
	char registry[REF_REGISTRY_MAX]; /* "docker.io", "127.0.0.1:5000" */
	char repo[REF_REPO_MAX];	 /* "library/node" */
	char tag[REF_TAG_MAX];		 /* "" when only a digest was given */
	char digest[DIGEST_STR_MAX];	 /* "" unless @sha256:... was given */
};

/* 0, or -EINVAL with a message naming what is wrong (charset, lengths, empty parts). */
int ref_parse(const char *s, struct image_ref *r, char *err, size_t errlen);

/* The canonical name: "docker.io/library/node:22-alpine", with "@digest" when it has one. */
void ref_format(const struct image_ref *r, char *out, size_t cap);
/* The name without the digest ("registry/repo:tag"), or with only the digest when untagged. */
void ref_format_name(const struct image_ref *r, char *out, size_t cap);

#endif
