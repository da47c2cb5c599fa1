/* The attach extension's client side: URL, upgrade request, response head (read with MSG_PEEK). */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEADERS_MAX 100
#define CL_DIGITS_MAX 18 /* below 2^62: no overflow anywhere */
#define CONNECT_TIMEOUT_MS 5000
#define BODY_QUIET_MS 5000 /* an error body without a length: read until EOF, at most this long */

static int fail(char *err, size_t cap, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int e, const char *fmt, ...)
{
	if (cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return e;
}

/* ---- URLs ------------------------------------------------------------------------------------ */

static bool unreserved(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

int flint_url_parse(const char *url, struct flint_url *u, char *err, size_t errcap)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0)
		return fail(err, errcap, -EINVAL, "https is not supported (flintd speaks http)");
	if (strncasecmp(url, "http://", 7) != 0)
		return fail(err, errcap, -EINVAL, "give http://HOST[:PORT][/PATH]");
	const char *a = url + 7;
	size_t alen = strcspn(a, "/?#");
	const char *path = a + alen;
	if (strpbrk(url, "?#"))
		return fail(err, errcap, -EINVAL, "a query or fragment has no place in it");
	if (memchr(a, '@', alen))
		return fail(err, errcap, -EINVAL, "user-info (user@) is not supported");

	const char *hs = a, *he, *after;
	if (*a == '[') {
		const char *close = memchr(a, ']', alen);
		if (!close)
			return fail(err, errcap, -EINVAL, "an IPv6 address needs its closing ']'");
		hs = a + 1;
		he = close;
		after = close + 1;
		u->ipv6 = true;
		for (const char *p = hs; p < he; p++)
			if (!is_hex(*p) && *p != ':' && *p != '.')
				return fail(err, errcap, -EINVAL, "bad IPv6 address");
	} else {
		const char *colon = memchr(a, ':', alen);
		he = colon ? colon : a + alen;
		after = he;
		for (const char *p = hs; p < he; p++)
			if (!unreserved(*p) || *p == '~')
				return fail(err, errcap, -EINVAL, "bad host name");
	}
	if (he == hs)
		return fail(err, errcap, -EINVAL, "no host");
	if ((size_t)(he - hs) >= sizeof(u->host))
		return fail(err, errcap, -EINVAL, "the host name is too long");
	memcpy(u->host, hs, (size_t)(he - hs));

	if (after < a + alen) {
		if (*after != ':')
			return fail(err, errcap, -EINVAL, "junk after the host");
		const char *ps = after + 1, *pe = a + alen;
		unsigned long port = 0;
		if (ps == pe || pe - ps > 5)
			return fail(err, errcap, -EINVAL, "bad port");
		for (const char *p = ps; p < pe; p++) {
			if (*p < '0' || *p > '9')
				return fail(err, errcap, -EINVAL, "bad port");
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port < 1 || port > 65535)
			return fail(err, errcap, -EINVAL, "the port must be 1-65535");
		snprintf(u->port, sizeof(u->port), "%lu", port);
	} else {
		strcpy(u->port, "80");
	}

	size_t plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(u->prefix))
		return fail(err, errcap, -EINVAL, "the path is too long");
	for (size_t i = 0; i < plen; i++) {
		if (path[i] == '%' && i + 2 < plen && is_hex(path[i + 1]) && is_hex(path[i + 2]))
			i += 2;
		else if (!unreserved(path[i]) && path[i] != '/')
			return fail(err, errcap, -EINVAL,
				    "the path may hold only A-Z a-z 0-9 - . _ ~ / "
				    "and %%XX");
	}
	memcpy(u->prefix, path, plen);
	return 0;
}

int flint_url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		size_t need = unreserved((char)ch) ? 1 : 3;
		if (n + need >= cap) {
			if (cap)
				out[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (need == 1) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	if (n >= cap)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return (int)n;
}

/* ---- the response head ----------------------------------------------------------------------- */

size_t upgrade_head_end(const char *buf, size_t len)
{
	const char *p = memmem(buf, len, "\r\n\r\n", 4);
	return p ? (size_t)(p - buf) + 4 : 0;
}

/* RFC 9110 tchar */
static bool tchar(char ch)
{
	return unreserved(ch) || (ch && strchr("!#$%&'*+^`|", ch));
}

static bool same_name(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Does the comma-separated list v[0, len) hold the token want (case-insensitive)? */
static bool list_has(const char *v, size_t len, const char *want)
{
	const char *end = v + len;
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *te = comma ? comma : end;
		const char *ts = v;
		while (ts < te && (*ts == ' ' || *ts == '\t'))
			ts++;
		const char *tz = te;
		while (tz > ts && (tz[-1] == ' ' || tz[-1] == '\t'))
			tz--;
		if (same_name(ts, (size_t)(tz - ts), want))
			return true;
		v = comma ? comma + 1 : end;
	}
	return false;
}

static int status_line(const char *s, size_t n, struct upgrade_head *h, char *err, size_t cap)
{
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return fail(err, cap, -EPROTO, "not an HTTP/1.x status line");
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(err, cap, -EPROTO, "bad status code");
	if (n > 12 && s[12] != ' ')
		return fail(err, cap, -EPROTO, "bad status line");
	h->minor = s[7] - '0';
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (h->status < 100)
		return fail(err, cap, -EPROTO, "bad status code");
	size_t r = 0;
	for (size_t i = 13; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return fail(err, cap, -EPROTO, "control character in the status line");
		if (r + 1 < sizeof(h->reason))
			h->reason[r++] = ch >= 0x80 ? '?' : (char)ch;
	}
	h->reason[r] = '\0';
	return 0;
}

static int header(const char *s, size_t n, struct upgrade_head *h, bool *seen_upgrade, char *err,
		  size_t cap)
{
	if (s[0] == ' ' || s[0] == '\t')
		return fail(err, cap, -EPROTO, "folded header line");
	const char *colon = memchr(s, ':', n);
	if (!colon || colon == s)
		return fail(err, cap, -EPROTO, "header line without a name and colon");
	size_t nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (!tchar(s[i]))
			return fail(err, cap, -EPROTO, "bad header name");
	const char *v = colon + 1, *ve = s + n;
	for (const char *p = v; p < ve; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return fail(err, cap, -EPROTO, "control character in a header");
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	size_t vlen = (size_t)(ve - v);

	if (same_name(s, nlen, "Content-Length")) {
		if (vlen == 0 || vlen > CL_DIGITS_MAX)
			return fail(err, cap, -EPROTO, "bad Content-Length");
		int64_t cl = 0;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return fail(err, cap, -EPROTO, "bad Content-Length");
			cl = cl * 10 + (v[i] - '0');
		}
		if (h->content_length >= 0 && h->content_length != cl)
			return fail(err, cap, -EPROTO, "two different Content-Lengths");
		h->content_length = cl;
	} else if (same_name(s, nlen, "Transfer-Encoding")) {
		h->chunked = true;
	} else if (same_name(s, nlen, "Upgrade")) {
		if (*seen_upgrade)
			return fail(err, cap, -EPROTO, "two Upgrade headers");
		*seen_upgrade = true;
		h->upgrade = same_name(v, vlen, UPGRADE_TOKEN);
	} else if (same_name(s, nlen, "Connection")) {
		h->conn_upgrade = h->conn_upgrade || list_has(v, vlen, "upgrade");
	} else if (same_name(s, nlen, UPGRADE_SETTINGS_HEADER)) {
		if (h->settings[0] || vlen >= sizeof(h->settings))
			return fail(err, cap, -EPROTO, "a bad " UPGRADE_SETTINGS_HEADER " header");
		memcpy(h->settings, v, vlen);
		h->settings[vlen] = '\0';
	}
	return 0;
}

int upgrade_parse_head(const char *buf, size_t len, struct upgrade_head *h, char *err,
		       size_t errcap)
{
	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	if (len > UPGRADE_HEAD_MAX)
		return fail(err, errcap, -EPROTO, "the head is longer than %d bytes",
			    UPGRADE_HEAD_MAX);
	if (upgrade_head_end(buf, len) != len)
		return fail(err, errcap, -EPROTO, "incomplete head");
	const char *p = buf, *end = buf + len - 2; /* the empty line's CRLF */
	const char *eol = memmem(p, len, "\r\n", 2);
	int e = status_line(p, (size_t)(eol - p), h, err, errcap);
	if (e)
		return e;
	bool seen_upgrade = false;
	unsigned n = 0;
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (++n > HEADERS_MAX)
			return fail(err, errcap, -EPROTO, "more than %d header lines", HEADERS_MAX);
		e = header(p, (size_t)(eol - p), h, &seen_upgrade, err, errcap);
		if (e)
			return e;
	}
	if (h->chunked && h->content_length >= 0)
		return fail(err, errcap, -EPROTO, "both Content-Length and Transfer-Encoding");
	return 0;
}

/* ---- the exchange ---------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

/* Wait for events on fd until deadline: 0, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, left_ms(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int tcp_connect(const struct flint_url *u, int64_t deadline, struct upgrade_result *r)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int g = getaddrinfo(u->host, u->port, &hints, &ai);
	if (g != 0) {
		r->unreachable = true;
		return fail(r->err, sizeof(r->err), -EHOSTUNREACH, "cannot resolve %s: %s",
			    u->host, gai_strerror(g));
	}
	int e = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				a->ai_protocol);
		if (fd < 0) {
			e = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && (e = wait_fd(fd, POLLOUT, deadline)) == 0)) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				freeaddrinfo(ai);
				return fd;
			}
			e = -(soerr ? soerr : errno);
		} else if (errno != EINPROGRESS) {
			e = -errno;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	r->unreachable = true;
	return fail(r->err, sizeof(r->err), e, "%s", strerror(-e));
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			int e = wait_fd(fd, POLLOUT, deadline);
			if (e)
				return e;
		} else if (w < 0 && errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/*
 * Read the head into buf without consuming a byte past it: peek at what is queued, and take only
 * up to the end of the head once it shows (until then, everything queued is head). *len gets the
 * head's length.
 */
static int read_head(int fd, char *buf, size_t cap, size_t *len, int64_t deadline,
		     struct upgrade_result *r)
{
	size_t have = 0;
	for (;;) {
		if (have == cap)
			return fail(r->err, sizeof(r->err), -EPROTO,
				    "the answer's head is longer than %zu bytes", cap);
		ssize_t n = recv(fd, buf + have, cap - have, MSG_PEEK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int e = wait_fd(fd, POLLIN, deadline);
			if (e)
				return fail(r->err, sizeof(r->err), e, "no answer: %s",
					    e == -ETIMEDOUT ? "timed out" : strerror(-e));
			continue;
		}
		if (n < 0)
			return fail(r->err, sizeof(r->err), -errno, "reading the answer: %s",
				    strerror(errno));
		if (n == 0)
			return fail(r->err, sizeof(r->err), -ECONNRESET,
				    "the connection closed before an answer");
		size_t from = have > 3 ? have - 3 : 0;
		size_t end = upgrade_head_end(buf + from, have + (size_t)n - from);
		size_t take = end ? from + end - have : (size_t)n;
		/* Those bytes are queued: this recv returns them at once, all of them. */
		ssize_t got;
		do
			got = recv(fd, buf + have, take, MSG_WAITALL);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)take)
			return fail(r->err, sizeof(r->err), -EIO, "reading the answer: %s",
				    got < 0 ? strerror(errno) : "short read");
		have += take;
		if (end) {
			*len = have;
			return 0;
		}
	}
}

/* A non-101 answer's body (or its first UPGRADE_BODY_MAX bytes), for its error message. */
static void read_body(int fd, const struct upgrade_head *h, int64_t deadline,
		      struct upgrade_result *r)
{
	if (h->chunked || h->content_length == 0)
		return;
	size_t want = h->content_length < 0 || h->content_length > UPGRADE_BODY_MAX ?
			      UPGRADE_BODY_MAX :
			      (size_t)h->content_length;
	int64_t quiet = now_ms() + BODY_QUIET_MS;
	if (quiet < deadline)
		deadline = quiet;
	r->body = malloc(want + 1);
	if (!r->body)
		return;
	while (r->body_len < want) {
		ssize_t n = recv(fd, r->body + r->body_len, want - r->body_len, 0);
		if (n > 0)
			r->body_len += (size_t)n;
		else if (n < 0 && errno == EAGAIN && wait_fd(fd, POLLIN, deadline) == 0)
			continue;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	r->body[r->body_len] = '\0';
}

int upgrade_connect(const struct flint_url *u, const char *target, const char *key, int timeout_ms,
		    struct upgrade_result *r)
{
	memset(r, 0, sizeof(*r));
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 1000000000 : timeout_ms);
	if (key)
		for (const char *k = key; *k; k++)
			if (*k <= ' ' || *k == 0x7f)
				return fail(r->err, sizeof(r->err), -EINVAL,
					    "the API key holds a space or control character");
	char host[sizeof(u->host) + 16];
	snprintf(host, sizeof(host), u->ipv6 ? "[%s]" : "%s", u->host);
	if (strcmp(u->port, "80") != 0)
		snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%s", u->port);
	char *req = NULL;
	int n = asprintf(&req,
			 "POST %s%s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "User-Agent: flint\r\n"
			 "Connection: Upgrade\r\n"
			 "Upgrade: " UPGRADE_TOKEN "\r\n"
			 "%s%s%s"
			 "Content-Length: 0\r\n"
			 "\r\n",
			 u->prefix, target, host, key ? "Authorization: Bearer " : "",
			 key ? key : "", key ? "\r\n" : "");
	if (n < 0)
		return fail(r->err, sizeof(r->err), -ENOMEM, "out of memory");

	int64_t connect_by = now_ms() + CONNECT_TIMEOUT_MS;
	int fd = tcp_connect(u, connect_by < deadline ? connect_by : deadline, r);
	if (fd < 0) {
		free(req);
		return fd;
	}
	char head[UPGRADE_HEAD_MAX];
	size_t hlen = 0;
	struct upgrade_head h;
	int e = send_all(fd, req, (size_t)n, deadline);
	free(req);
	if (e) {
		fail(r->err, sizeof(r->err), e, "sending the request: %s", strerror(-e));
		goto out;
	}
	e = read_head(fd, head, sizeof(head), &hlen, deadline, r);
	if (e)
		goto out;
	char why[128];
	e = upgrade_parse_head(head, hlen, &h, why, sizeof(why));
	if (e) {
		fail(r->err, sizeof(r->err), e, "a malformed answer: %s", why);
		goto out;
	}
	r->status = h.status;
	memcpy(r->reason, h.reason, sizeof(r->reason));
	if (h.status == 101) {
		if (h.minor != 1 || !h.upgrade) {
			e = fail(r->err, sizeof(r->err), -EPROTO,
				 "101 without \"Upgrade: " UPGRADE_TOKEN "\"");
			goto out;
		}
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			e = -errno;
			goto out;
		}
		if (h.settings[0] && !(r->settings = strdup(h.settings))) {
			e = -ENOMEM;
			goto out;
		}
		return fd;
	}
	read_body(fd, &h, deadline, r);
	e = fail(r->err, sizeof(r->err), -EPROTO, "HTTP %d%s%s", h.status, h.reason[0] ? " " : "",
		 h.reason);
out:
	close(fd);
	return e;
}

void upgrade_result_free(struct upgrade_result *r)
{
	free(r->body);
	r->body = NULL;
	free(r->settings);
	r->settings = NULL;
	r->body_len = 0;
}
