/* Talking to flintd: where it is (FLINT_URL, FLINT_API_KEY) and its JSON API over libcurl. */
#ifndef FLINT_CLI_HTTP_H
#define FLINT_CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "upgrade.h"

#define DAEMON_DEFAULT_URL "http://127.0.0.1:18888"

struct daemon_cfg {
	const char *url;    /* FLINT_URL, or the default */
	struct flint_url u; /* url, parsed */
	const char *key;    /* FLINT_API_KEY; NULL when unset or empty */
	bool url_set;	    /* FLINT_URL was set (an unreachable daemon is then never skipped) */
};

/* Read the environment: 0, or -1 after a message (a FLINT_URL that is not http://HOST[:PORT]). */
int daemon_cfg_load(struct daemon_cfg *cfg);

struct http_error {
	long status;	  /* the HTTP status; 0 when there was no answer */
	bool unreachable; /* no connection could be made */
	char msg[512];	  /* the server's "error", or what went wrong */
};

/*
 * Call METHOD path (below the URL's prefix; the caller escapes it) with an optional JSON body.
 * 0 with *data the envelope's "data" (a new reference; NULL when data is null or absent), or -1
 * with e filled: the server's "error" message for an error envelope, else a description
 * (unreachable daemon, timeout, an answer that is not a flint envelope).
 */
int http_json(const struct daemon_cfg *cfg, const char *method, const char *path, json_t *body,
	      json_t **data, struct http_error *e);

/*
 * The message for a failed answer: the envelope's "error" when body is one, else "HTTP <status>
 * <reason>". Control characters are replaced with '?'.
 */
void http_error_text(long status, const char *reason, const char *body, size_t len, char *out,
		     size_t cap);

/* "cannot reach flintd at URL: <why> (flint serve starts it)" into out. */
void http_unreachable_text(const struct daemon_cfg *cfg, const char *why, char *out, size_t cap);

#endif
