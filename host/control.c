/* The client side of flint-vmm's control socket: one request, one reply line, a strict status
 * parser. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t control_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline (ms, CLOCK_MONOTONIC). 0, -ETIMEDOUT or -errno. */
static int control_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - control_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0; /* ready, or POLLHUP/POLLERR: the next call says which */
	}
}

/*
 * A Unix stream connect never completes later: it succeeds, fails, or (non-blocking, backlog
 * full) says EAGAIN with nothing to poll for. So it blocks, bounded by SO_SNDTIMEO, which the
 * kernel applies to the wait for room in the backlog; then the socket goes non-blocking.
 */
static int control_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int64_t left = deadline - control_now_ms();
	if (left < 1)
		left = 1;
	struct timeval tv = {.tv_sec = (time_t)(left / 1000),
			     .tv_usec = (suseconds_t)(left % 1000) * 1000};
	int r = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (r == 0)
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0) {
		int fl = fcntl(fd, F_GETFL);
		r = fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	if (r < 0) {
		/* EAGAIN/EINPROGRESS: the backlog stayed full for the whole timeout. */
		int e =
		    errno == EAGAIN || errno == EINPROGRESS || errno == EINTR ? ETIMEDOUT : errno;
		close(fd);
		return -e;
	}
	return fd;
}

int control_request(const char *path, const char *cmd, char *reply, size_t cap, int timeout_ms)
{
	size_t clen = strlen(cmd);
	if (clen > CONTROL_CMD_MAX || memchr(cmd, '\n', clen) || cap == 0 || timeout_ms < 0)
		return -EINVAL;
	int64_t deadline = control_now_ms() + timeout_ms;
	int fd = control_connect(path, deadline);
	if (fd < 0)
		return fd;

	char line[CONTROL_CMD_MAX + 1];
	memcpy(line, cmd, clen);
	line[clen++] = '\n';
	size_t off = 0, got = 0;
	int r = 0;
	while (r == 0 && off < clen) {
		ssize_t n = send(fd, line + off, clen - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			r = control_wait(fd, POLLOUT, deadline);
		else if (n < 0 && errno != EINTR)
			r = -errno;
	}
	/* One line back. flint-vmm answers nothing else unasked, so reading in blocks over-reads
	 * nothing. */
	while (r == 0) {
		if (got == cap - 1) {
			r = -EMSGSIZE;
			break;
		}
		ssize_t n = recv(fd, reply + got, cap - 1 - got, 0);
		if (n > 0) {
			char *nl = memchr(reply + got, '\n', (size_t)n);
			got += (size_t)n;
			if (nl) {
				*nl = '\0';
				break;
			}
		} else if (n == 0) {
			r = -ECONNRESET; /* closed without a whole line */
		} else if (errno == EAGAIN) {
			r = control_wait(fd, POLLIN, deadline);
		} else if (errno != EINTR) {
			r = -errno;
		}
	}
	close(fd);
	if (r < 0)
		reply[0] = '\0';
	return r;
}

/* ---- the status parser: one flat object, no nesting, no escapes ----------------------------- */

struct control_json {
	const char *p;
};

static bool control_lit(struct control_json *j, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* A string without escapes or control bytes, into buf (cap > 0). */
static bool control_str(struct control_json *j, char *buf, size_t cap)
{
	if (*j->p != '"')
		return false;
	size_t n = 0;
	for (j->p++; *j->p != '"'; j->p++, n++) {
		unsigned char c = (unsigned char)*j->p;
		if (c < 0x20 || c == '\\' || n + 1 >= cap)
			return false;
		buf[n] = (char)c;
	}
	j->p++;
	buf[n] = '\0';
	return true;
}

/* An unsigned integer (no sign, fraction, exponent or leading zero), or null as -1. */
static bool control_uint(struct control_json *j, int64_t *v)
{
	if (control_lit(j, "null")) {
		*v = -1;
		return true;
	}
	const char *s = j->p;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return false;
	int64_t x = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (INT64_MAX - (*s - '0')) / 10)
			return false;
		x = x * 10 + (*s - '0');
	}
	j->p = s;
	*v = x;
	return true;
}

int control_parse_status(const char *line, struct control_status *st)
{
	/* The integers: the first NREQ are required, those from NNULL on may be null. */
	const struct {
		const char *name;
		int64_t *v;
	} ints[] = {
	    {"pid", &st->pid},
	    {"uptime_ms", &st->uptime_ms},
	    {"vcpus", &st->vcpus},
	    {"mem_mib", &st->mem_mib},
	    {"cid", &st->cid},
	    {"boot_ms", &st->boot_ms},
	    {"net_rx_packets", &st->net_rx_packets},
	    {"net_rx_bytes", &st->net_rx_bytes},
	    {"net_tx_packets", &st->net_tx_packets},
	    {"net_tx_bytes", &st->net_tx_bytes},
	    {"net_rx_dropped", &st->net_rx_dropped},
	    {"net_tx_dropped", &st->net_tx_dropped},
	    {"net_denied", &st->net_denied},
	};
	enum { NREQ = 6, NNULL = 4 };
	const unsigned nf = sizeof(ints) / sizeof(ints[0]);
	/* bit i: ints[i]; bit nf: state; bit nf + 1: ok; bit nf + 2: net_last_denied */
	const uint32_t required = ((1u << NREQ) - 1) | 1u << nf | 1u << (nf + 1);
	uint32_t seen = 0;
	struct control_json j = {line};

	memset(st, 0, sizeof(*st));
	for (unsigned i = NREQ; i < nf; i++)
		*ints[i].v = -1; /* missing: an older flint-vmm */
	if (!control_lit(&j, "{"))
		return -EPROTO;
	for (bool first = true; !control_lit(&j, "}"); first = false) {
		char key[32], sval[CONTROL_CMD_MAX];
		int64_t v;
		if ((!first && !control_lit(&j, ",")) || !control_str(&j, key, sizeof(key)) ||
		    !control_lit(&j, ":"))
			return -EPROTO;
		unsigned i;
		for (i = 0; i < nf && strcmp(key, ints[i].name) != 0; i++)
			;
		unsigned bit = i < nf				     ? i
			       : strcmp(key, "state") == 0	     ? nf
			       : strcmp(key, "ok") == 0		     ? nf + 1
			       : strcmp(key, "net_last_denied") == 0 ? nf + 2
								     : 32; /* unknown: skipped */
		if (bit < 32 && (seen & (1u << bit)))
			return -EPROTO; /* a duplicate key */
		if (bit < nf) {
			if (!control_uint(&j, ints[i].v) || (*ints[i].v < 0 && i < NNULL))
				return -EPROTO;
		} else if (bit == nf) {
			if (!control_str(&j, st->state, sizeof(st->state)))
				return -EPROTO;
		} else if (bit == nf + 1) {
			if (!control_lit(&j, "true"))
				return -EPROTO; /* "ok":false, or not a boolean */
		} else if (bit == nf + 2) {
			if (!control_lit(&j, "null") &&
			    !control_str(&j, st->net_last_denied, sizeof(st->net_last_denied)))
				return -EPROTO;
		} else {
			/* An unknown key: skip a value of the kinds above, refuse anything else. */
			bool ok = *j.p == '"'	? control_str(&j, sval, sizeof(sval))
				  : *j.p == 't' ? control_lit(&j, "true")
				  : *j.p == 'f' ? control_lit(&j, "false")
						: control_uint(&j, &v);
			if (!ok)
				return -EPROTO;
		}
		if (bit < 32)
			seen |= 1u << bit;
	}
	if (*j.p != '\0' || (seen & required) != required)
		return -EPROTO;
	return 0;
}

int control_status(const char *path, struct control_status *st, int timeout_ms)
{
	char reply[1024]; /* flint-vmm's longest reply is 560 bytes (CONTROL_REPLY_MAX there) */
	int r = control_request(path, "status", reply, sizeof(reply), timeout_ms);
	if (r < 0)
		return r;
	return control_parse_status(reply, st);
}
