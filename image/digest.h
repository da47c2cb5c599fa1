/* sha256 digests as OCI writes them ("sha256:" + 64 lowercase hex), over OpenSSL's EVP. */
#ifndef FLINT_IMAGE_DIGEST_H
#define FLINT_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_STR_MAX 72 /* "sha256:" + 64 hex + NUL, rounded up */
#define DIGEST_HEX_LEN 64

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* Exactly "sha256:" followed by 64 lowercase hex digits: nothing else is ever used as a path. */
bool digest_valid(const char *s);
/* The 64 hex digits of a valid digest (a pointer into s). */
const char *digest_hex(const char *s);

int sha256_init(struct sha256 *h); /* 0 or -ENOMEM */
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes "sha256:<hex>" and releases the context (sha256_destroy is then a no-op). */
void sha256_final(struct sha256 *h, char out[DIGEST_STR_MAX]);
void sha256_destroy(struct sha256 *h);

/* One-shot digest of a buffer; 0 or -ENOMEM. */
int digest_of(const void *p, size_t n, char out[DIGEST_STR_MAX]);

#endif
