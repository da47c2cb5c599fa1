/* sha256 digests over OpenSSL's EVP interface. */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return false;
	for (size_t i = 0; i < DIGEST_HEX_LEN; i++) {
		char c = s[7 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[7 + DIGEST_HEX_LEN] == '\0';
}

const char *digest_hex(const char *s)
{
	return s + 7;
}

int sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return -ENOMEM;
	}
	h->ctx = c;
	return 0;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
		abort(); /* cannot fail for sha256 with a live context */
}

void sha256_final(struct sha256 *h, char out[DIGEST_STR_MAX])
{
	unsigned char md[32];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != sizeof(md))
		abort();
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < sizeof(md); i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	sha256_destroy(h);
}

void sha256_destroy(struct sha256 *h)
{
	if (h && h->ctx) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

int digest_of(const void *p, size_t n, char out[DIGEST_STR_MAX])
{
	struct sha256 h;
	int r = sha256_init(&h);
	if (r)
		return r;
	sha256_update(&h, p, n);
	sha256_final(&h, out);
	return 0;
}
