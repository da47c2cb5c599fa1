/* flintd's JSON API over libcurl: one easy handle per call, envelopes unwrapped with jansson. */
#include "http.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define BODY_MAX (64u << 20) /* an answer larger than this is not one flintd sends */
#define CONNECT_TIMEOUT_MS 5000L
/* Creating a sandbox boots a VM: 30-90 s on nested (PVM) hosts, so the total bound is generous. */
#define TOTAL_TIMEOUT_S 900L

int daemon_cfg_load(struct daemon_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	const char *url = getenv("FLINT_URL");
	cfg->url_set = url && url[0];
	cfg->url = cfg->url_set ? url : DAEMON_DEFAULT_URL;
	const char *key = getenv("FLINT_API_KEY");
	cfg->key = key && key[0] ? key : NULL;
	for (const char *k = cfg->key; k && *k; k++) {
		if (*k <= ' ' || *k == 0x7f) {
			cli_err("FLINT_API_KEY holds a space or a control character");
			return -1;
		}
	}
	char why[128];
	if (flint_url_parse(cfg->url, &cfg->u, why, sizeof(why)) < 0) {
		cli_err("FLINT_URL=%s: %s", cfg->url, why);
		return -1;
	}
	return 0;
}

void http_unreachable_text(const struct daemon_cfg *cfg, const char *why, char *out, size_t cap)
{
	snprintf(out, cap, "cannot reach flintd at %s: %s (flint serve starts it)", cfg->url, why);
}

static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void http_error_text(long status, const char *reason, const char *body, size_t len, char *out,
		     size_t cap)
{
	json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "error"));
	/* Not an envelope: a short plain-text first line still says something; markup does not. */
	size_t line = body ? strcspn(body, "\r\n") : 0;
	if (line > len)
		line = len;
	if (msg && msg[0])
		snprintf(out, cap, "%s", msg);
	else if (line && line <= 160 && body[0] != '<' && body[0] != '{' && !j)
		snprintf(out, cap, "HTTP %ld%s%s: %.*s", status, reason && reason[0] ? " " : "",
			 reason ? reason : "", (int)line, body);
	else
		snprintf(out, cap, "HTTP %ld%s%s", status, reason && reason[0] ? " " : "",
			 reason ? reason : "");
	json_decref(j);
	printable(out);
}

struct sink {
	char *buf;
	size_t len, cap;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t add = size * n;
	if (s->len + add > BODY_MAX) {
		s->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + add + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static bool curl_ready(struct http_error *e)
{
	static bool done;
	if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(e->msg, sizeof(e->msg), "libcurl failed to initialise");
		return false;
	}
	done = true;
	return true;
}

/* The answer: 0 with *data, or -1 with e filled. */
static int unwrap(long status, const struct sink *s, json_t **data, struct http_error *e)
{
	if (status < 200 || status > 299) {
		http_error_text(status, NULL, s->buf, s->len, e->msg, sizeof(e->msg));
		return -1;
	}
	json_error_t je;
	json_t *j = s->len ? json_loadb(s->buf, s->len, 0, &je) : NULL;
	if (!json_is_object(j) || !json_is_true(json_object_get(j, "success"))) {
		snprintf(e->msg, sizeof(e->msg), "flintd's answer (HTTP %ld) is not a flint API "
						 "envelope",
			 status);
		json_decref(j);
		return -1;
	}
	json_t *d = json_object_get(j, "data");
	*data = json_is_null(d) ? NULL : json_incref(d);
	json_decref(j);
	return 0;
}

int http_json(const struct daemon_cfg *cfg, const char *method, const char *path, json_t *body,
	      json_t **data, struct http_error *e)
{
	memset(e, 0, sizeof(*e));
	*data = NULL;
	if (!curl_ready(e))
		return -1;
	const struct flint_url *u = &cfg->u;
	char *url = NULL, *auth = NULL, *json = NULL;
	if (asprintf(&url, "http://%s%s%s:%s%s%s", u->ipv6 ? "[" : "", u->host, u->ipv6 ? "]" : "",
		     u->port, u->prefix, path) < 0)
		url = NULL;
	if (cfg->key && asprintf(&auth, "Authorization: Bearer %s", cfg->key) < 0)
		auth = NULL;
	if (body)
		json = json_dumps(body, JSON_COMPACT);
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct sink s = { .buf = NULL };
	char errbuf[CURL_ERROR_SIZE] = "";
	int r = -1;
	if (!url || (cfg->key && !auth) || (body && !json) || !h) {
		snprintf(e->msg, sizeof(e->msg), "out of memory");
		goto out;
	}
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (auth)
		hdr = curl_slist_append(hdr, auth);
	if (json)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (json)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_PROXY, ""); /* flintd is reached directly, as attach does */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "flint");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);

	CURLcode c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		long os_errno = 0;
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(c);
		if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
		    (c == CURLE_OPERATION_TIMEDOUT && !s.len)) {
			e->unreachable = c != CURLE_OPERATION_TIMEDOUT;
			http_unreachable_text(cfg, os_errno ? strerror((int)os_errno) : why, e->msg,
					      sizeof(e->msg));
		} else if (s.too_big) {
			snprintf(e->msg, sizeof(e->msg), "flintd's answer is larger than %u MiB",
				 BODY_MAX >> 20);
		} else {
			snprintf(e->msg, sizeof(e->msg), "talking to flintd at %s: %s", cfg->url,
				 why);
		}
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &e->status);
	r = unwrap(e->status, &s, data, e);
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	free(s.buf);
	free(json);
	free(auth);
	free(url);
	return r;
}
