/*
 * The attach extension's client side: POST .../attach with "Upgrade: flint-agent" on a plain TCP
 * socket; a 101 answer leaves the socket carrying the agent protocol. The URL and response-head
 * parsers are pure (tests/unit/test_cli_upgrade.c); nothing here prints.
 */
#ifndef FLINT_CLI_UPGRADE_H
#define FLINT_CLI_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UPGRADE_HEAD_MAX (16 * 1024) /* the whole response head, CRLFCRLF included */
#define UPGRADE_BODY_MAX (64 * 1024) /* the part of an error body read for its message */
#define UPGRADE_TOKEN "flint-agent"
#define UPGRADE_SETTINGS_MAX (12 * 1024)
#define UPGRADE_SETTINGS_HEADER "Flint-Image-Settings"

/* ---- URLs ------------------------------------------------------------------------------------ */

/* "http://HOST[:PORT][/PREFIX]": HOST a name, an IPv4 address or [IPv6]. */
struct flint_url {
	char host[256];	  /* without brackets */
	char port[6];	  /* decimal, 1-65535; "80" when absent */
	char prefix[512]; /* "" or "/a/b", no trailing '/' */
	bool ipv6;	  /* host was bracketed: Host: needs the brackets back */
};

/* 0, or -EINVAL with a reason in err ("https is not supported", ...). No query, fragment or
 * user-info; the prefix may hold only unreserved characters, '/', and %XX escapes. */
int flint_url_parse(const char *url, struct flint_url *u, char *err, size_t errcap);

/* Percent-encode s for a path segment or a query value (everything but A-Z a-z 0-9 - . _ ~).
 * The length written, or -ENAMETOOLONG when cap is too small (out is then ""). */
int flint_url_escape(const char *s, char *out, size_t cap);

/* ---- the response head ----------------------------------------------------------------------- */

struct upgrade_head {
	int status;		/* 100-999 */
	int minor;		/* HTTP/1.<minor> */
	char reason[64];	/* printable, may be truncated */
	int64_t content_length; /* -1: none */
	bool chunked;		/* a Transfer-Encoding was given (its body is not read) */
	bool upgrade;		/* "Upgrade: flint-agent" (case-insensitive) */
	bool conn_upgrade;	/* Connection lists "upgrade" */
	/* Flint-Image-Settings: the image's run settings as JSON (docs/http-api.md); "" when none */
	char settings[UPGRADE_SETTINGS_MAX];
};

/* The length of the head that buf[0, len) starts with (just past its first CRLFCRLF), or 0. */
size_t upgrade_head_end(const char *buf, size_t len);

/*
 * Parse a complete head: buf[0, len) ends with its CRLFCRLF and holds nothing else. 0, or -EPROTO
 * with the reason in err: a bad status line, a header line without a colon or with a bad name,
 * control characters, a folded line, too many headers, a Content-Length that is not one decimal
 * number below 2^62 (or disagrees with another), one together with Transfer-Encoding, two Upgrade
 * headers.
 */
int upgrade_parse_head(const char *buf, size_t len, struct upgrade_head *h, char *err,
		       size_t errcap);

/* ---- the exchange ---------------------------------------------------------------------------- */

struct upgrade_result {
	bool unreachable; /* the TCP connection was not made (refused, unreachable, no address) */
	int status;	  /* the HTTP status, 0 when none was read */
	char reason[64];
	char
	    *body; /* a non-101 answer's body (NUL-terminated, at most UPGRADE_BODY_MAX), or NULL */
	size_t body_len;
	char err[256]; /* what went wrong, when there is no body to explain it */
	char *settings; /* on 101: the Flint-Image-Settings JSON (malloc'd), or NULL */
};

/*
 * Connect to u (within 5 s), send "POST <prefix><target>" with the upgrade headers (and "Authorization: Bearer
 * key" when key is not NULL), and read the answer's head within timeout_ms. On 101 with "Upgrade:
 * flint-agent": the connected fd (O_CLOEXEC, blocking), positioned at the first byte after the
 * head, which is the agent's: the head is read with MSG_PEEK so nothing after it is consumed.
 * Otherwise -errno, with r describing why (and the error body read, r->body to free with
 * upgrade_result_free).
 */
int upgrade_connect(const struct flint_url *u, const char *target, const char *key, int timeout_ms,
		    struct upgrade_result *r);
void upgrade_result_free(struct upgrade_result *r);

#endif
