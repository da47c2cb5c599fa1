/* Pulling images from OCI registries (distribution API v2) with libcurl, each blob verified. */
#include "registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "oci.h"

#define MANIFEST_ACCEPT                                                                            \
	"Accept: " OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " DOCKER_MT_LIST ", " DOCKER_MT_MANIFEST
#define CONNECT_TIMEOUT_S 30L
#define LOW_SPEED_BYTES	  1L  /* a transfer slower than this many bytes/s ... */
#define LOW_SPEED_S	  60L /* ... for this long is given up (no total timeout: layers are big) */
#define MAX_REDIRS	  10L
#define ERRBODY_MAX	  (64u << 10) /* what we keep of an error response's body */
#define TOKEN_BODY_MAX	  (1u << 20)
#define TOKEN_MAX	  (64u << 10)
#define AUTH_FILE_MAX	  (1u << 20)
#define BASIC_MAX	  4096 /* base64(user:password) */
#define CHALLENGE_MAX	  4096
#define URL_MAX		  (2 * REF_REGISTRY_MAX + REF_REPO_MAX + REF_TAG_MAX + 64)
#define PROGRESS_NS	  100000000LL /* at most ~10 progress calls a second per blob */
#define BLOB_MAX_DEFAULT  (64ull << 30)
#define USER_AGENT	  "flint-image-pull/1"

/* One pull: the handle (connections reused), where we talk to, what we authenticate with. */
struct pull {
	CURL *c;
	const struct store *s;
	const struct image_ref *ref;
	const struct registry_opts *o;
	char base[URL_MAX]; /* "https://registry-1.docker.io", or the mirror's URL */
	char name[URL_MAX + REF_REGISTRY_MAX +
		  16]; /* for messages: "127.0.0.1:5000", "docker.io (mirror URL)" */
	char cred_host[REF_REGISTRY_MAX]; /* whose credentials we may send */
	bool plain;			  /* base is http:// */
	char basic[BASIC_MAX];		  /* base64(user:pass) from the auth file, "" when none */
	char auth_file[STORE_PATH_MAX];
	char *authz; /* "Authorization: ..." for registry requests, NULL while anonymous */
	char curl_err[CURL_ERROR_SIZE];
	char *err;
	size_t errlen;
};

/* The last response of one request (redirects reset it), and where its body goes. */
struct resp {
	struct pull *p;
	long status;
	char content_type[OCI_MEDIA_MAX];
	char digest[DIGEST_STR_MAX]; /* Docker-Content-Digest */
	char challenge[CHALLENGE_MAX];
	char *body; /* a 2xx body when mem_max, else an error body (capped) */
	size_t len, mem_max;
	bool too_big;
	struct blob_writer *w; /* a 2xx body goes here when set */
	int wrc;
	char werr[256];
	struct pull_progress prog;
	long long last_ns;
};

#define FAIL(p, rc, ...) image_err((p)->err, (p)->errlen, rc, __VA_ARGS__)

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void progress(struct resp *r, bool force)
{
	const struct registry_opts *o = r->p->o;
	if (!o->progress)
		return;
	long long t = now_ns();
	if (!force && t - r->last_ns < PROGRESS_NS)
		return;
	r->last_ns = t;
	o->progress(o->progress_ctx, &r->prog);
}

/* Control characters out of text that came from the network and goes into a message. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

static bool is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	if (is_2xx(r->status) && r->w) {
		r->wrc = blob_writer_write(r->w, data, n, r->werr, sizeof(r->werr));
		if (r->wrc)
			return 0;
		r->prog.done += n;
		progress(r, false);
		return n;
	}
	size_t max = is_2xx(r->status) && r->mem_max ? r->mem_max : ERRBODY_MAX;
	if (r->len + n > max) {
		if (is_2xx(r->status)) {
			r->too_big = true;
			return 0;
		}
		n = max - r->len; /* an error body is only read for its message */
	}
	char *b = realloc(r->body, r->len + n + 1);
	if (!b)
		return 0;
	r->body = b;
	memcpy(b + r->len, data, n);
	r->len += n;
	b[r->len] = '\0';
	return size * nmemb;
}

/* Copies a header's value (blanks trimmed) when it fits; a longer one is left out. */
static void header_value(const char *v, size_t n, char *dst, size_t cap)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n < cap) {
		memcpy(dst, v, n);
		dst[n] = '\0';
	}
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		/* a new response (after a redirect, or a 100): forget the last one's headers */
		r->status = 0;
		r->content_type[0] = r->digest[0] = r->challenge[0] = '\0';
		r->len = 0;
		const char *sp = memchr(line, ' ', n);
		if (sp && (size_t)(sp - line) + 4 <= n)
			r->status = strtol(sp + 1, NULL, 10);
		return n;
	}
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return n;
	size_t k = (size_t)(colon - line), vn = n - k - 1;
	const char *v = colon + 1;
	if (k == 12 && !strncasecmp(line, "Content-Type", k))
		header_value(v, vn, r->content_type, sizeof(r->content_type));
	else if (k == 21 && !strncasecmp(line, "Docker-Content-Digest", k))
		header_value(v, vn, r->digest, sizeof(r->digest));
	else if (k == 16 && !strncasecmp(line, "WWW-Authenticate", k)) {
		/* Bearer over Basic when a registry offers both */
		char c[CHALLENGE_MAX] = "";
		header_value(v, vn, c, sizeof(c));
		if (!r->challenge[0] || !strncasecmp(c, "Bearer", 6))
			memcpy(r->challenge, c, sizeof(c));
	}
	return n;
}

static void resp_reset(struct resp *r)
{
	free(r->body);
	struct pull *p = r->p;
	struct blob_writer *w = r->w;
	size_t mem_max = r->mem_max;
	struct pull_progress prog = r->prog;
	long long last_ns = r->last_ns;
	memset(r, 0, sizeof(*r));
	r->last_ns = last_ns;
	r->p = p;
	r->w = w;
	r->mem_max = mem_max;
	r->prog = prog;
}

/* One GET of url with the headers given, redirects followed. 0, or -errno with a message. */
static int do_get(struct pull *p, const char *url, const char *accept, const char *authz,
		  struct resp *r)
{
	resp_reset(r);
	struct curl_slist *h = NULL, *t;
	if (accept) {
		if (!(t = curl_slist_append(h, accept)))
			goto nomem;
		h = t;
	}
	if (authz) {
		if (!(t = curl_slist_append(h, authz)))
			goto nomem;
		h = t;
	}
	CURL *c = p->c;
	curl_easy_reset(c);
	p->curl_err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->curl_err);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_S);
	/* Registries redirect blobs to storage. libcurl sends neither our Authorization header
	 * nor basic credentials to another host (CURLOPT_UNRESTRICTED_AUTH stays off). */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, p->plain ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	CURLcode cc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	const char *why = p->curl_err[0] ? p->curl_err : curl_easy_strerror(cc);
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_WRITE_ERROR:
		if (r->wrc)
			return FAIL(p, r->wrc, "registry %s: %s", p->name, r->werr);
		if (r->too_big)
			return FAIL(p, -EBADMSG, "registry %s: %s: larger than %zu bytes", p->name,
				    url, r->mem_max);
		return FAIL(p, -ENOMEM, "out of memory");
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return FAIL(p, -EHOSTUNREACH, "registry %s: cannot connect to %s: %s", p->name, url,
			    why);
	case CURLE_OPERATION_TIMEDOUT:
		if (!status)
			return FAIL(p, -EHOSTUNREACH, "registry %s: cannot connect to %s: %s",
				    p->name, url, why);
		return FAIL(p, -EIO, "registry %s: %s: transfer stalled: %s", p->name, url, why);
	case CURLE_SSL_CONNECT_ERROR:
		return FAIL(p, -EPROTO,
			    "registry %s: TLS handshake failed (%s); plain HTTP is refused: if the "
			    "registry speaks it, allow that with --insecure-registry %s",
			    p->name, why, p->ref->registry);
	case CURLE_PEER_FAILED_VERIFICATION:
		return FAIL(p, -EPROTO, "registry %s: its TLS certificate is not trusted: %s",
			    p->name, why);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_TOO_MANY_REDIRECTS:
		return FAIL(p, -EPROTO, "registry %s: %s: %s (redirects to https only)", p->name,
			    url, why);
	default:
		return FAIL(p, -EIO, "registry %s: %s: %s", p->name, url, why);
	}
nomem:
	curl_slist_free_all(h);
	return FAIL(p, -ENOMEM, "out of memory");
}

/* The registry's {"errors":[{"code","message"}]}: the first code and message, if any. */
static void registry_error(const struct resp *r, char *code, size_t ccap, char *msg, size_t mcap)
{
	code[0] = msg[0] = '\0';
	json_t *j = r->body && r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *c = json_string_value(json_object_get(e, "code"));
	const char *m = json_string_value(json_object_get(e, "message"));
	if (c)
		snprintf(code, ccap, "%s", c);
	if (m)
		snprintf(msg, mcap, "%s", m);
	json_decref(j);
	printable(code);
	printable(msg);
}

/* A challenge's parameter ("realm", "service"), unquoted, into out; false when absent. */
static bool challenge_param(const char *ch, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *s = ch;
	while (*s && *s != ' ') /* past the scheme */
		s++;
	while (*s) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		const char *k = s;
		while (*s && *s != '=' && *s != ',')
			s++;
		size_t klen = (size_t)(s - k);
		if (*s != '=')
			continue;
		s++;
		size_t n = 0;
		bool want = klen == kl && !strncasecmp(k, key, kl), fits = true;
		if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1])
					s++;
				if (want && n + 1 < cap)
					out[n++] = *s;
				else if (want)
					fits = false;
			}
			if (*s == '"')
				s++;
		} else {
			for (; *s && *s != ',' && *s != ' '; s++) {
				if (want && n + 1 < cap)
					out[n++] = *s;
				else if (want)
					fits = false;
			}
		}
		if (want) {
			out[n] = '\0';
			return fits;
		}
	}
	return false;
}

static int set_authz(struct pull *p, const char *scheme, const char *cred)
{
	free(p->authz);
	p->authz = NULL;
	if (asprintf(&p->authz, "Authorization: %s %s", scheme, cred) < 0) {
		p->authz = NULL;
		return FAIL(p, -ENOMEM, "out of memory");
	}
	return 0;
}

static const char *creds_hint(const struct pull *p)
{
	return p->basic[0] ? "credentials from " : "no credentials for it in ";
}

/* A bearer token from the challenge's realm, for pulling our repository. */
static int bearer(struct pull *p, const char *challenge)
{
	char realm[1024], service[512] = "", scope[REF_REPO_MAX + 32], url[4096];
	if (!challenge_param(challenge, "realm", realm, sizeof(realm)) || !realm[0])
		return FAIL(p, -EPROTO, "registry %s: a Bearer challenge without a usable realm",
			    p->name);
	printable(realm);
	bool https = !strncasecmp(realm, "https://", 8);
	if (!https && !(p->plain && !strncasecmp(realm, "http://", 7)))
		return FAIL(p, -EPROTO,
			    "registry %s: token realm %s is not https (refused: it would see our "
			    "credentials)",
			    p->name, realm);
	challenge_param(challenge, "service", service, sizeof(service));
	snprintf(scope, sizeof(scope), "repository:%s:pull", p->ref->repo);
	char *es = curl_easy_escape(p->c, service, 0), *ep = curl_easy_escape(p->c, scope, 0);
	int n = -1;
	if (es && ep)
		n = snprintf(url, sizeof(url), "%s%c%s%s%sscope=%s", realm,
			     strchr(realm, '?') ? '&' : '?', service[0] ? "service=" : "",
			     service[0] ? es : "", service[0] ? "&" : "", ep);
	curl_free(es);
	curl_free(ep);
	if (n < 0 || (size_t)n >= sizeof(url))
		return FAIL(p, -EPROTO, "registry %s: token realm too long", p->name);

	char basic[BASIC_MAX + 32] = "";
	if (p->basic[0])
		snprintf(basic, sizeof(basic), "Authorization: Basic %s", p->basic);
	struct resp r = {.p = p, .mem_max = TOKEN_BODY_MAX};
	int rc = do_get(p, url, NULL, basic[0] ? basic : NULL, &r);
	if (!rc && (r.status == 401 || r.status == 403))
		rc = FAIL(p, -EACCES,
			  "registry %s: authentication refused by the token server %s for "
			  "repository \"%s\" (%s%s)",
			  p->name, realm, p->ref->repo, creds_hint(p), p->auth_file);
	else if (!rc && !is_2xx(r.status))
		rc = FAIL(p, -EPROTO, "registry %s: token server %s answered HTTP %ld", p->name,
			  realm, r.status);
	json_t *j = NULL;
	if (!rc) {
		j = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		json_t *tok = json_object_get(j, "token");
		if (!json_is_string(tok) || !json_string_length(tok))
			tok = json_object_get(j, "access_token");
		const char *t = json_string_value(tok);
		bool ok = t && t[0] && json_string_length(tok) <= TOKEN_MAX;
		for (const char *q = t; ok && *q; q++)
			ok = *q > ' ' && *q < 0x7f;
		if (!ok)
			rc = FAIL(p, -EPROTO, "registry %s: token server %s sent no usable token",
				  p->name, realm);
		else
			rc = set_authz(p, "Bearer", t);
	}
	json_decref(j);
	free(r.body);
	return rc;
}

/* Answer a 401's challenge: a bearer token, or basic credentials. */
static int authenticate(struct pull *p, const char *challenge)
{
	if (!strncasecmp(challenge, "Bearer ", 7))
		return bearer(p, challenge);
	if (!strncasecmp(challenge, "Basic", 5) && (!challenge[5] || challenge[5] == ' ')) {
		if (!p->basic[0])
			return FAIL(
			    p, -EACCES,
			    "registry %s: needs credentials for repository \"%s\" (none for "
			    "it in %s)",
			    p->name, p->ref->repo, p->auth_file);
		return set_authz(p, "Basic", p->basic);
	}
	char c[64];
	snprintf(c, sizeof(c), "%.63s", challenge[0] ? challenge : "(none)");
	c[strcspn(c, " ")] = '\0';
	printable(c);
	return FAIL(p, -EACCES,
		    "registry %s: answered 401 with an authentication scheme flint does "
		    "not speak: %s",
		    p->name, c);
}

/*
 * GET BASE/v2/REPO/PATH, authenticating on a 401 and trying once more. 0 with r->status set (the
 * caller judges it; 401 and 403 are judged here), or -errno with a message.
 */
static int request(struct pull *p, const char *path, const char *accept, struct resp *r)
{
	char url[URL_MAX + 128];
	if ((size_t)snprintf(url, sizeof(url), "%s/v2/%s/%s", p->base, p->ref->repo, path) >=
	    sizeof(url))
		return FAIL(p, -ENAMETOOLONG, "registry %s: URL too long", p->name);
	for (int attempt = 0;; attempt++) {
		int rc = do_get(p, url, accept, p->authz, r);
		if (rc)
			return rc;
		if (r->status == 401 && attempt == 0) {
			rc = authenticate(p, r->challenge);
			if (rc)
				return rc;
			continue;
		}
		if (r->status == 401)
			return FAIL(
			    p, -EACCES,
			    "registry %s: authentication refused for repository \"%s\" (%s%s)",
			    p->name, p->ref->repo, creds_hint(p), p->auth_file);
		if (r->status == 403)
			return FAIL(p, -EACCES, "registry %s: access to repository \"%s\" denied",
				    p->name, p->ref->repo);
		return 0;
	}
}

/* A non-2xx answer to GET .../manifests/WHICH or .../blobs/WHICH, as an error. */
static int status_error(struct pull *p, const struct resp *r, bool manifest, const char *which)
{
	char code[64], msg[256];
	registry_error(r, code, sizeof(code), msg, sizeof(msg));
	bool unknown = r->status == 404 || !strcmp(code, "MANIFEST_UNKNOWN") ||
		       !strcmp(code, "NAME_UNKNOWN") || !strcmp(code, "BLOB_UNKNOWN");
	if (unknown && manifest)
		return FAIL(p, -ENOENT, "registry %s: repository \"%s\" or %s \"%s\" not found",
			    p->name, p->ref->repo, digest_valid(which) ? "manifest" : "tag", which);
	if (unknown)
		return FAIL(p, -ENOENT, "registry %s: repository \"%s\": blob %s not found",
			    p->name, p->ref->repo, which);
	return FAIL(p, -EPROTO, "registry %s: GET /v2/%s/%s/%s: HTTP %ld%s%s", p->name,
		    p->ref->repo, manifest ? "manifests" : "blobs", which, r->status,
		    msg[0] ? ": " : "", msg);
}

/*
 * The manifest or index named by which (a tag or a digest), verified: against expect when given,
 * else against Docker-Content-Digest when the registry sends one. *out is malloc'd.
 */
static int get_manifest(struct pull *p, const char *which, const char *expect, char **out,
			size_t *len, char digest[DIGEST_STR_MAX], char ctype[OCI_MEDIA_MAX])
{
	*out = NULL;
	*len = 0;
	ctype[0] = '\0';
	struct resp r = {.p = p, .mem_max = STORE_SMALL_BLOB_MAX};
	r.prog.what = "manifest";
	if (expect && store_has_blob(p->s, expect)) {
		int rc = store_read_blob(p->s, expect, STORE_SMALL_BLOB_MAX, out, len, p->err,
					 p->errlen);
		if (rc)
			return rc;
		memcpy(digest, expect, DIGEST_STR_MAX);
		r.prog.cached = true;
		r.prog.done = r.prog.total = *len;
		progress(&r, true);
		return 0;
	}
	progress(&r, true);
	char path[REF_TAG_MAX + DIGEST_STR_MAX + 16];
	snprintf(path, sizeof(path), "manifests/%s", which);
	int rc = request(p, path, MANIFEST_ACCEPT, &r);
	if (!rc && !is_2xx(r.status))
		rc = status_error(p, &r, true, which);
	if (!rc && !r.body)
		rc = FAIL(p, -EBADMSG, "registry %s: an empty manifest for \"%s\"", p->name, which);
	if (!rc)
		rc = digest_of(r.body, r.len, digest);
	if (rc) {
		free(r.body);
		return rc == -ENOMEM ? FAIL(p, rc, "out of memory") : rc;
	}
	const char *want = expect;
	if (!want && strncmp(r.digest, "sha256:", 7) == 0)
		want =
		    r.digest; /* other algorithms we cannot check; the bytes still get a digest */
	if (want && strcmp(want, digest)) {
		printable(r.digest);
		rc = FAIL(p, -EBADMSG,
			  "registry %s: manifest \"%s\" of repository \"%s\": digest mismatch: "
			  "expected %s, got %s",
			  p->name, which, p->ref->repo, want, digest);
		free(r.body);
		return rc;
	}
	memcpy(ctype, r.content_type, OCI_MEDIA_MAX);
	*out = r.body;
	*len = r.len;
	r.prog.done = r.prog.total = r.len;
	progress(&r, true);
	return 0;
}

/* One blob into the store, streamed through a blob_writer and verified against its digest. */
static int get_blob(struct pull *p, const struct oci_desc *d, const char *what, unsigned layer,
		    unsigned layers, uint64_t max)
{
	struct resp r = {.p = p};
	r.prog = (struct pull_progress){
	    .what = what, .layer = layer, .layers = layers, .total = d->size};
	if (store_has_blob(p->s, d->digest)) {
		r.prog.cached = true;
		r.prog.done = d->size;
		progress(&r, true);
		return 0;
	}
	if (d->size > max)
		return FAIL(p, -EFBIG,
			    "registry %s: %s %s is %llu bytes, more than the %llu allowed", p->name,
			    layer ? "layer" : what, d->digest, (unsigned long long)d->size,
			    (unsigned long long)max);
	struct blob_writer w;
	/* a writer's max 0 means no limit: an empty blob may take one byte (then mismatch) */
	int rc = blob_writer_begin(p->s, &w, d->size ? d->size : 1, p->err, p->errlen);
	if (rc)
		return rc;
	r.w = &w;
	progress(&r, true);
	char path[DIGEST_STR_MAX + 16];
	snprintf(path, sizeof(path), "blobs/%s", d->digest);
	rc = request(p, path, NULL, &r);
	if (!rc && !is_2xx(r.status))
		rc = status_error(p, &r, false, d->digest);
	if (!rc) {
		char e[512];
		rc = blob_writer_commit(&w, d->digest, NULL, e, sizeof(e));
		if (rc && layer)
			FAIL(p, rc, "registry %s: layer %u/%u %s: %s", p->name, layer, layers,
			     d->digest, e);
		else if (rc)
			FAIL(p, rc, "registry %s: %s %s: %s", p->name, what, d->digest, e);
	}
	blob_writer_abort(&w);
	free(r.body);
	if (rc)
		return rc;
	r.prog.done = d->size;
	progress(&r, true);
	return 0;
}

/* "host[:port]" of an http(s) URL into out. */
static void url_host(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t n = strcspn(h, "/?#");
	snprintf(out, cap, "%.*s", (int)n, h);
}

/* Where to fetch from: a mirror for this registry, else https (http when marked insecure). */
static int setup_base(struct pull *p)
{
	const struct registry_opts *o = p->o;
	const char *reg = p->ref->registry;
	size_t rl = strlen(reg);
	for (size_t i = 0; i < o->nmirrors; i++) {
		const char *m = o->mirrors[i];
		if (!m || strncmp(m, reg, rl) || m[rl] != '=')
			continue;
		const char *url = m + rl + 1;
		bool http = !strncmp(url, "http://", 7);
		if (!http && strncmp(url, "https://", 8))
			return FAIL(p, -EINVAL,
				    "registry mirror %s: not an http:// or https:// URL", m);
		size_t n = strlen(url);
		while (n && url[n - 1] == '/')
			n--;
		if (n >= sizeof(p->base) || n <= (http ? 7u : 8u))
			return FAIL(p, -EINVAL, "registry mirror %s: bad URL", m);
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)url[k] <= ' ' || url[k] == 0x7f)
				return FAIL(p, -EINVAL, "registry mirror %s: bad URL", m);
		snprintf(p->base, sizeof(p->base), "%.*s", (int)n, url);
		p->plain = http;
		snprintf(p->name, sizeof(p->name), "%s (mirror %s)", reg, p->base);
		url_host(p->base, p->cred_host, sizeof(p->cred_host));
		return 0;
	}
	for (size_t i = 0; i < o->ninsecure; i++)
		if (o->insecure[i] && !strcmp(o->insecure[i], reg))
			p->plain = true;
	const char *host = strcmp(reg, "docker.io") ? reg : "registry-1.docker.io";
	snprintf(p->base, sizeof(p->base), "%s://%s", p->plain ? "http" : "https", host);
	snprintf(p->name, sizeof(p->name), "%s", reg);
	snprintf(p->cred_host, sizeof(p->cred_host), "%s", reg);
	return 0;
}

/* An auth file key ("host", "https://host/v1/") names host? docker.io goes by several names. */
static bool key_matches(const char *key, const char *host)
{
	char k[REF_REGISTRY_MAX];
	url_host(key, k, sizeof(k));
	if (!strcmp(k, host))
		return true;
	static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};
	bool kh = false, hh = false;
	for (size_t i = 0; i < sizeof(hub) / sizeof(hub[0]); i++) {
		kh |= !strcmp(k, hub[i]);
		hh |= !strcmp(host, hub[i]);
	}
	return kh && hh;
}

static bool base64_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n % 4 || n >= BASIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' &&
		    !(s[i] == '=' && i >= n - 2))
			return false;
	unsigned char dec[BASIC_MAX];
	int m = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)n);
	return m > 0 && memchr(dec, ':', (size_t)m) != NULL;
}

static int read_small_file(const char *path, char **out, size_t *len)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > AUTH_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	char *b = malloc((size_t)st.st_size + 1);
	size_t have = 0;
	while (b && have < (size_t)st.st_size) {
		ssize_t k = read(fd, b + have, (size_t)st.st_size - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
	}
	close(fd);
	if (!b)
		return -ENOMEM;
	*out = b;
	*len = have;
	return 0;
}

/* Credentials for p->cred_host from the Docker-format auth file, if it has some. */
static int load_creds(struct pull *p)
{
	const char *f = p->o->auth_file, *env;
	bool named = f != NULL;
	if (!f && (env = getenv("FLINT_AUTH_FILE")) && env[0]) {
		f = env;
		named = true;
	}
	if (!f && (env = getenv("DOCKER_CONFIG")) && env[0])
		snprintf(p->auth_file, sizeof(p->auth_file), "%s/config.json", env);
	else if (!f && (env = getenv("HOME")) && env[0])
		snprintf(p->auth_file, sizeof(p->auth_file), "%s/.docker/config.json", env);
	else
		snprintf(p->auth_file, sizeof(p->auth_file), "%s", f ? f : "(no auth file)");
	char *text;
	size_t len = 0;
	int rc = read_small_file(p->auth_file, &text, &len);
	if (rc == -ENOENT && !named)
		return 0;
	if (rc)
		return FAIL(p, rc, "auth file %s: %s", p->auth_file,
			    rc == -EFBIG ? "not a regular file of at most 1 MiB" : strerror(-rc));
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	free(text);
	if (!json_is_object(j)) {
		json_decref(j);
		return FAIL(p, -EINVAL, "auth file %s: not a JSON object (line %d: %.100s)",
			    p->auth_file, je.line, j ? "" : je.text);
	}
	json_t *auths = json_object_get(j, "auths"), *v;
	const char *key;
	json_object_foreach(auths, key, v)
	{
		if (!key_matches(key, p->cred_host))
			continue;
		const char *a = json_string_value(json_object_get(v, "auth"));
		const char *u = json_string_value(json_object_get(v, "username"));
		const char *pw = json_string_value(json_object_get(v, "password"));
		if (a && a[0]) {
			if (!base64_ok(a)) {
				json_decref(j);
				return FAIL(p, -EINVAL,
					    "auth file %s: auths[\"%.200s\"].auth is not "
					    "base64(user:password)",
					    p->auth_file, key);
			}
			snprintf(p->basic, sizeof(p->basic), "%s", a);
		} else if (u && pw) {
			char up[BASIC_MAX / 2];
			int n = snprintf(up, sizeof(up), "%s:%s", u, pw);
			if (n < 0 || (size_t)n >= sizeof(up)) {
				json_decref(j);
				return FAIL(p, -EINVAL, "auth file %s: credentials too long",
					    p->auth_file);
			}
			EVP_EncodeBlock((unsigned char *)p->basic, (const unsigned char *)up, n);
		}
		break;
	}
	json_decref(j);
	return 0;
}

/* The repository and the tag go into URLs: only what ref_parse lets through. */
static bool ref_chars_ok(const struct image_ref *ref)
{
	if (!ref->repo[0] || (!ref->tag[0] && !ref->digest[0]))
		return false;
	for (const char *c = ref->repo; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) &&
		    !strchr("._-/", *c))
			return false;
	for (const char *c = ref->tag; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
			return false;
	return !ref->digest[0] || digest_valid(ref->digest);
}

static int pull_image(struct pull *p, char manifest_digest[DIGEST_STR_MAX])
{
	const struct image_ref *ref = p->ref;
	const char *which = ref->digest[0] ? ref->digest : ref->tag;
	char *doc = NULL, *ixdoc = NULL, digest[DIGEST_STR_MAX], ixdigest[DIGEST_STR_MAX] = "";
	char ctype[OCI_MEDIA_MAX], e[512];
	size_t len = 0, ixlen = 0;
	struct oci_manifest *m = NULL;
	struct oci_config cfg = {0};
	char img[REF_REPO_MAX + REF_TAG_MAX + DIGEST_STR_MAX]; /* "test/img:v1" for messages */
	snprintf(img, sizeof(img), "%s%s%s", ref->repo, ref->digest[0] ? "@" : ":", which);
	int rc =
	    get_manifest(p, which, ref->digest[0] ? ref->digest : NULL, &doc, &len, digest, ctype);
	if (rc)
		return rc;
	enum oci_kind kind = oci_detect(doc, len, ctype);
	if (kind == OCI_KIND_INDEX) {
		struct oci_index ix;
		rc = oci_parse_index(doc, len, &ix, e, sizeof(e));
		if (rc) {
			FAIL(p, rc, "registry %s: %s: %s", p->name, img, e);
			goto out;
		}
		int k = oci_index_pick(&ix, "linux", "amd64", e, sizeof(e));
		if (k < 0) {
			oci_index_destroy(&ix);
			rc = FAIL(p, -ENOEXEC, "registry %s: %s: %s", p->name, img, e);
			goto out;
		}
		struct oci_desc d = ix.v[k];
		oci_index_destroy(&ix);
		ixdoc = doc;
		ixlen = len;
		memcpy(ixdigest, digest, sizeof(ixdigest));
		doc = NULL;
		if (d.size > STORE_SMALL_BLOB_MAX) {
			rc = FAIL(p, -EBADMSG, "registry %s: manifest %s is larger than %u bytes",
				  p->name, d.digest, (unsigned)STORE_SMALL_BLOB_MAX);
			goto out;
		}
		rc = get_manifest(p, d.digest, d.digest, &doc, &len, digest, ctype);
		if (rc)
			goto out;
		kind = oci_detect(doc, len, ctype);
	}
	if (kind != OCI_KIND_MANIFEST) {
		rc = FAIL(p, -EBADMSG,
			  "registry %s: %s is not an image manifest or index flint reads "
			  "(OCI or Docker v2 schema 2; content type '%s')",
			  p->name, img, ctype[0] ? ctype : "none");
		goto out;
	}
	if (!(m = malloc(sizeof(*m)))) {
		rc = FAIL(p, -ENOMEM, "out of memory");
		goto out;
	}
	rc = oci_parse_manifest(doc, len, m, e, sizeof(e));
	if (rc) {
		FAIL(p, rc, "registry %s: %s: %s", p->name, img, e);
		goto out;
	}
	unsigned n = (unsigned)m->nlayers;
	rc = get_blob(p, &m->config, "config", 0, n, STORE_SMALL_BLOB_MAX);
	if (rc)
		goto out;
	char *ctext;
	size_t clen;
	rc = store_read_blob(p->s, m->config.digest, STORE_SMALL_BLOB_MAX, &ctext, &clen, p->err,
			     p->errlen);
	if (rc)
		goto out;
	rc = oci_parse_config(ctext, clen, &cfg, e, sizeof(e));
	free(ctext);
	if (rc) {
		FAIL(p, rc, "registry %s: %s: %s", p->name, img, e);
		goto out;
	}
	if ((cfg.os[0] && strcmp(cfg.os, "linux")) || (cfg.arch[0] && strcmp(cfg.arch, "amd64"))) {
		rc = FAIL(p, -ENOEXEC, "registry %s: %s is a %s/%s image, not linux/amd64", p->name,
			  img, cfg.os, cfg.arch);
		goto out;
	}
	if (cfg.nlayers_diff != m->nlayers) {
		rc =
		    FAIL(p, -EBADMSG, "registry %s: %s: the manifest has %u layers, its config %zu",
			 p->name, img, n, cfg.nlayers_diff);
		goto out;
	}
	uint64_t max = p->o->max_blob ? p->o->max_blob : BLOB_MAX_DEFAULT;
	for (unsigned i = 0; i < n && !rc; i++)
		rc = get_blob(p, &m->layers[i], m->layers[i].digest, i + 1, n, max);
	/* the documents last: a manifest in the store has all its blobs */
	if (!rc && !store_has_blob(p->s, digest))
		rc = store_put_blob(p->s, doc, len, digest, NULL, p->err, p->errlen);
	if (!rc && ixdoc && !store_has_blob(p->s, ixdigest))
		rc = store_put_blob(p->s, ixdoc, ixlen, ixdigest, NULL, p->err, p->errlen);
	if (!rc)
		memcpy(manifest_digest, digest, DIGEST_STR_MAX);
out:
	oci_config_destroy(&cfg);
	free(m);
	free(doc);
	free(ixdoc);
	return rc;
}

int registry_pull(const struct store *s, const struct image_ref *ref, const struct registry_opts *o,
		  char manifest_digest[DIGEST_STR_MAX], char *err, size_t errlen)
{
	static const struct registry_opts none = {0};
	struct pull *p = calloc(1, sizeof(*p));
	if (!p)
		return image_err(err, errlen, -ENOMEM, "out of memory");
	p->s = s;
	p->ref = ref;
	p->o = o ? o : &none;
	p->err = err;
	p->errlen = errlen;
	int rc;
	if (!ref_chars_ok(ref)) {
		rc = image_err(err, errlen, -EINVAL, "not a valid image reference: %.256s/%.256s",
			       ref->registry, ref->repo);
		free(p);
		return rc;
	}
	/* reference-counted, and thread-safe in the libcurl we build against (>= 7.84) */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(p);
		return image_err(err, errlen, -ENOMEM, "libcurl: initialization failed");
	}
	p->c = curl_easy_init();
	if (!p->c)
		rc = image_err(err, errlen, -ENOMEM, "libcurl: out of memory");
	else if (!(rc = setup_base(p)) && !(rc = load_creds(p)))
		rc = pull_image(p, manifest_digest);
	if (p->c)
		curl_easy_cleanup(p->c);
	curl_global_cleanup();
	free(p->authz);
	explicit_bzero(p->basic, sizeof(p->basic));
	free(p);
	return rc;
}
