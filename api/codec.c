/* Byte codecs for flintd: base64 (file contents over JSON) and strict UTF-8 validation. */
#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const uint8_t *p, size_t n)
{
	/* 4 output bytes per 3 input bytes, rounded up, plus the NUL; refuse what would wrap. */
	if (n / 3 >= (SIZE_MAX - 5) / 4)
		return NULL;
	size_t olen = (n + 2) / 3 * 4;
	char *out = malloc(olen + 1);
	if (!out)
		return NULL;
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	if (len % 4 != 0 || (len && !s))
		return -EINVAL;
	size_t pad = 0;
	if (len >= 4 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	size_t olen = len / 4 * 3 - pad;
	uint8_t *buf = malloc(olen ? olen : 1); /* never NULL on success, even when empty */
	if (!buf)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		/* Padding only in the last quad; anything else (including '=' elsewhere) is refused. */
		size_t want = last ? 4 - pad : 4;
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			int d = k < want ? b64_val((unsigned char)s[i + k]) : 0;
			if (d < 0)
				goto bad;
			v = v << 6 | (uint32_t)d;
		}
		buf[o++] = (uint8_t)(v >> 16);
		if (want >= 3)
			buf[o++] = (uint8_t)(v >> 8);
		if (want == 4)
			buf[o++] = (uint8_t)v;
		/* Bits the padding leaves unused must be zero: one input per output (no "QR==" for "A"). */
		if ((want == 2 && (v & 0xffff)) || (want == 3 && (v & 0xff)))
			goto bad;
	}
	*out = buf;
	*outlen = olen;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

/* Length of the valid UTF-8 sequence at p[0..n) (n ≥ 1), or 0 when it is not one (Unicode Table 3-7). */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* Fast path for ASCII runs, which is nearly everything a terminal prints. */
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_seq(p + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

void utf8_sanitize(char *s)
{
	if (!s)
		return;
	uint8_t *p = (uint8_t *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (!l || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			p[i++] = '?';
			continue;
		}
		i += l;
	}
}
