/* flintd's validators and small formatters for values that arrive from HTTP clients. All thread-safe. */
#ifndef FLINT_API_VALIDATE_H
#define FLINT_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SANDBOX_NAME_MAX 63
#define IMAGE_NAME_MAX	 256
#define WORKDIR_MAX	 4095
#define LABEL_KEY_MAX	 63
#define LABEL_VAL_MAX	 63
#define DURATION_MAX_S	 (30ull * 24 * 3600) /* 30 days */

/* NULL is invalid for every predicate below. */
bool valid_sandbox_name(const char *s); /* 1–63 of [A-Za-z0-9_-], first and last alnum, no "--","__","-_","_-" */
bool valid_image_name(const char *s);	/* non-empty, ≤256, [A-Za-z0-9._/:@-] */
bool valid_workdir(const char *s);	/* absolute, no ".." segment, ≤4095 */
bool valid_uuid(const char *s);		/* canonical 8-4-4-4-12 hex, either case */
bool valid_job_id(const char *s);	/* 8 lowercase hex */

/* "30s", "30m", "2h", "1d", also combined "1h30m" (each unit at most once, in any order); a bare
 * number is refused. >0 and ≤ 30 days → 0 and *seconds, else -EINVAL (*seconds untouched). */
int duration_parse(const char *s, uint64_t *seconds);

/* "?label=k:v" query value "k:v": split at the first ':'; key 1–63 [A-Za-z0-9._/-], value ≤ 63
 * printable ASCII (0x20-0x7e, may be empty). 0 or -EINVAL; key/val are NUL-terminated on success
 * and need room for 64 bytes each (smaller capacities are -EINVAL when the part does not fit). */
int label_filter_parse(const char *s, char *key, size_t kcap, char *val, size_t vcap);
bool valid_label(const char *key, const char *val); /* same rules, for labels given on create */

/* "8080:80" or "127.0.0.1:8080:80" (host addr optional, IPv4 dotted quad, ports 1-65535); tcp
 * only: an optional "/tcp" suffix is accepted, any other protocol is -EINVAL. Without an address
 * host_addr is "" (the caller picks its default). 0 or -EINVAL. */
/* [s, end) as a decimal of 1..maxdigits digits without a leading zero, at most max. */
bool parse_uint(const char *s, const char *end, unsigned max, unsigned maxdigits, unsigned *out);
/* [s, end) as a dotted-quad IPv4 address, each part 0-255 without leading zeros. */
bool parse_ipv4(const char *s, const char *end);

struct port_map {
	char host_addr[16];
	uint16_t host_port, guest_port;
};
int port_map_parse(const char *s, struct port_map *pm);

/* A random (version 4, RFC 4122 variant) UUID from getrandom(), lowercase. Aborts if the kernel
 * cannot give randomness (it always can after boot; a predictable id is worse than no daemon). */
void uuid_generate_v4(char out[37]);
void job_id_format(uint32_t v, char out[9]);	       /* 8 lowercase hex digits */
void rfc3339_utc(int64_t unix_seconds, char out[32]); /* "2026-11-22T07:12:00Z" */

#endif
