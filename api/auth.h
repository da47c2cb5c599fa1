/* flintd's API-key check: "Authorization: Bearer <key>" against the configured keys, in constant time. */
#ifndef FLINT_API_AUTH_H
#define FLINT_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KEY_MAX  1024 /* longer keys (file lines or the header's) are refused */
#define AUTH_KEYS_MAX 1024

struct auth {
	char **keys;
	size_t n;
};

/*
 * Keys from key_file (one per line; blank lines and '#' comments skipped; surrounding whitespace
 * trimmed; NULL: none) plus env_key (NULL/empty: none; trimmed too). No keys at all → auth disabled.
 * Returns 0, or -errno with a message in err (a missing/unreadable file, a key longer than
 * AUTH_KEY_MAX or containing control characters, more than AUTH_KEYS_MAX keys, ENOMEM); on
 * failure *a is empty. auth_destroy() is safe after a failed or no init if *a was zeroed.
 */
int auth_init(struct auth *a, const char *key_file, const char *env_key, char *err, size_t errlen);
void auth_destroy(struct auth *a);
bool auth_enabled(const struct auth *a);

/*
 * NULL when the request may proceed, else the exact 401 message of the contract:
 * "Missing Authorization header" (NULL header), "Invalid authorization format. Use: Bearer <api_key>"
 * (not "Bearer " + something), "Invalid API key". The scheme "Bearer" is matched case-sensitively
 * as agentkernel does. Every key is compared in full, in time independent of where or whether it
 * differs (only the presented key's length, bounded by AUTH_KEY_MAX, shows). Thread-safe (read-only).
 */
const char *auth_check(const struct auth *a, const char *authorization);

#endif
