/* flintd's byte codecs: base64 for file contents and strict UTF-8 validation. Thread-safe. */
#ifndef FLINT_API_CODEC_H
#define FLINT_API_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Standard alphabet with '=' padding. malloc'ed, NUL-terminated; NULL on ENOMEM or size overflow. */
char *b64_encode(const uint8_t *p, size_t n);

/* Strict decoder of s[0..len): length a multiple of 4, only alphabet characters, padding only at
 * the end (at most two), and the unused bits of the last symbol zero (one encoding per input).
 * No whitespace. 0 with *out malloc'ed (never NULL, even for len 0) and *outlen; -EINVAL; -ENOMEM. */
int b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen);

/* Strict UTF-8: no overlong forms, no surrogates (U+D800–DFFF), nothing above U+10FFFF. NUL bytes
 * are valid UTF-8 (callers that refuse them check on their own). */
bool utf8_valid(const uint8_t *p, size_t n);

/* Make the NUL-terminated s safe to put in a JSON error message: every byte that is not part of a
 * valid UTF-8 sequence, and every ASCII control character, becomes '?'. In place, same length.
 * For messages built with snprintf from client input, which may be cut mid-sequence. */
void utf8_sanitize(char *s);

#endif
