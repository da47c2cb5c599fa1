/* flintd's API keys: loaded once at start, then checked read-only (so from any thread) per request. */
#include "auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char msg_missing[] = "Missing Authorization header";
static const char msg_format[] = "Invalid authorization format. Use: Bearer <api_key>";
static const char msg_invalid[] = "Invalid API key";

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void auth_destroy(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; a->keys && i < a->n; i++) {
		/* Keys are secrets: do not leave them in freed heap memory. */
		explicit_bzero(a->keys[i], strlen(a->keys[i]));
		free(a->keys[i]);
	}
	free(a->keys);
	a->keys = NULL;
	a->n = 0;
}

bool auth_enabled(const struct auth *a)
{
	return a && a->n > 0;
}

/* Trim s[0..*len) in place of surrounding whitespace; returns the new start. */
static const char *trim(const char *s, size_t *len)
{
	size_t n = *len;
	while (n && is_space(*s))
		s++, n--;
	while (n && is_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Add one key (already trimmed, non-empty); -errno with a message. */
static int add_key(struct auth *a, const char *k, size_t n, const char *where, char *err,
		   size_t errlen)
{
	if (n > AUTH_KEY_MAX) {
		snprintf(err, errlen, "%s: API key longer than %d bytes", where, AUTH_KEY_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f) {
			snprintf(err, errlen, "%s: API key contains a control character", where);
			return -EINVAL;
		}
	if (a->n >= AUTH_KEYS_MAX) {
		snprintf(err, errlen, "%s: more than %d API keys", where, AUTH_KEYS_MAX);
		return -E2BIG;
	}
	char **v = realloc(a->keys, (a->n + 1) * sizeof(*v));
	if (!v)
		goto nomem;
	a->keys = v;
	if (!(v[a->n] = strndup(k, n)))
		goto nomem;
	a->n++;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory loading API keys");
	return -ENOMEM;
}

static int load_file(struct auth *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	int rc = 0;
	errno = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t n = (size_t)got;
		const char *k = trim(line, &n);
		if (n == 0 || k[0] == '#')
			continue;
		if (memchr(k, '\0', n)) {
			snprintf(err, errlen, "%s:%u: API key contains a NUL byte", path, lineno);
			rc = -EINVAL;
			break;
		}
		char where[64];
		snprintf(where, sizeof(where), "line %u", lineno);
		if ((rc = add_key(a, k, n, where, err, errlen)) < 0) {
			/* Put the file name in front without risking an overlapping snprintf. */
			char tmp[256];
			snprintf(tmp, sizeof(tmp), "%s", err);
			snprintf(err, errlen, "%s: %s", path, tmp);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		int e = errno ? errno : EIO; /* e.g. EISDIR: fopen() accepts a directory */
		rc = -e;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
	}
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	fclose(f);
	return rc;
}

int auth_init(struct auth *a, const char *key_file, const char *env_key, char *err, size_t errlen)
{
	a->keys = NULL;
	a->n = 0;
	if (err && errlen)
		err[0] = '\0';
	char dummy[1];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	int rc = 0;
	if (key_file && (rc = load_file(a, key_file, err, errlen)) < 0)
		goto fail;
	if (env_key) {
		size_t n = strlen(env_key);
		const char *k = trim(env_key, &n);
		if (n && (rc = add_key(a, k, n, "AGENTKERNEL_API_KEY", err, errlen)) < 0)
			goto fail;
	}
	return 0;
fail:
	auth_destroy(a);
	return rc;
}

/*
 * 0 when the presented p[0..pn) equals key, else non-zero, in time that depends on neither key
 * nor where they differ: always AUTH_KEY_MAX + 1 byte steps, lengths folded into the result.
 */
static unsigned key_diff(const char *p, size_t pn, const char *key)
{
	size_t kn = strlen(key);
	volatile unsigned char acc = 0; /* volatile: no early exit invented by the optimiser */
	for (size_t i = 0; i <= AUTH_KEY_MAX; i++) {
		/* Masks instead of branches: past its end a string is read at [0] (always there,
		 * if only as the NUL) and counted as 0. */
		size_t pin = (size_t)0 - (size_t)(i < pn), kin = (size_t)0 - (size_t)(i < kn);
		unsigned char pc = (unsigned char)p[i & pin] & (unsigned char)pin;
		unsigned char kc = (unsigned char)key[i & kin] & (unsigned char)kin;
		acc |= (unsigned char)(pc ^ kc);
	}
	return (unsigned)acc | (unsigned)((pn ^ kn) != 0) | (unsigned)(pn > AUTH_KEY_MAX);
}

const char *auth_check(const struct auth *a, const char *authorization)
{
	if (!auth_enabled(a))
		return NULL;
	if (!authorization)
		return msg_missing;
	if (strncmp(authorization, "Bearer ", 7) != 0)
		return msg_format;
	const char *p = authorization + 7;
	size_t pn = strnlen(p, AUTH_KEY_MAX + 1);
	unsigned ok = 0;
	/* Every key, every time: which key matched (or that one did early) must not show. */
	for (size_t i = 0; i < a->n; i++)
		ok |= (unsigned)(key_diff(p, pn, a->keys[i]) == 0);
	return ok ? NULL : msg_invalid;
}
