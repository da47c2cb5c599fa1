/* The host side's listening socket: its setup, accepting clients, and their CONNECT line. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../log.h"

#define ACCEPT_BUDGET 16u /* host clients taken per listener event */
#define LISTEN_BACKLOG 128

/*
 * Every connection holds a socket: raise the soft fd limit (often 1024) toward the cap plus
 * what the VMM itself holds, within the hard limit. Short of it, accept and socket fail with
 * EMFILE, which the bridge survives (RST to the guest, a paused listener).
 */
void mux_raise_nofile(void)
{
	rlim_t want = VSOCK_CONN_MAX + 256;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_info("vsock: cannot raise the fd limit: %s", strerror(errno));
}

/* A socket left by a flint-vmm that died is replaced; a live one, or a non-socket, is an error. */
static int mux_clear_stale(const struct vsock_mux *m, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(m->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		log_err("vsock socket %s: %s", m->path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("vsock socket %s: a file that is not a socket is in the way", m->path);
		return -EEXIST;
	}
	/* Non-blocking: a listener with a full backlog answers EAGAIN, and is just as alive. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
			errno == EAGAIN)) {
		close(fd);
		log_err("vsock socket %s: another process is listening on it", m->path);
		return -EADDRINUSE;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(m->path) < 0 && errno != ENOENT) {
		int e = errno;
		log_err("vsock socket %s: cannot remove the stale socket: %s", m->path,
			strerror(e));
		return -e;
	}
	return 0;
}

int mux_listen(struct vsock_mux *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, m->path, strlen(m->path) + 1);
	int r = mux_clear_stale(m, &sa);
	if (r < 0)
		return r;
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->listen_fd < 0) {
		int e = errno;
		log_err("vsock: socket: %s", strerror(e));
		return -e;
	}
	/* Setup is single-threaded: the umask makes the socket 0600 from its creation. */
	mode_t old = umask(0177);
	r = bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0) {
		log_err("vsock: cannot bind %s: %s", m->path, strerror(e));
		return -e;
	}
	m->listening = true;
	if (listen(m->listen_fd, LISTEN_BACKLOG) < 0) {
		e = errno;
		log_err("vsock: listen on %s: %s", m->path, strerror(e));
		return -e;
	}
	return 0;
}

/* ---- host clients: accept, then "CONNECT <port>\n" ------------------------------------------ */

void mux_accept(struct vsock_mux *m)
{
	for (unsigned i = 0; i < ACCEPT_BUDGET; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_guest("vsock-host", "accept: %s; pausing", strerror(errno));
				mux_listen_enable(m, false);
			}
			return;
		}
		struct vsock_conn *c = conn_new(m, fd, CONN_LINE);
		if (!c) {
			log_guest("vsock-host", "host client refused: %u connections open",
				  m->nr_conns);
			close(fd);
			continue;
		}
		m->stats.conns_host++;
		mux_set_deadline(m, c, m->connect_timeout_ms);
	}
}

/* "CONNECT " then 1 to 10 digits of a port below VMADDR_PORT_ANY, then '\n' and nothing else. */
static int parse_connect(const char *s, size_t len, uint32_t *port)
{
	static const char cmd[] = "CONNECT ";
	size_t i = sizeof(cmd) - 1;
	uint64_t v = 0;
	if (len < i + 2 || memcmp(s, cmd, i) != 0 || s[len - 1] != '\n' || len - 1 - i > 10)
		return -1;
	for (; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return -1;
	*port = (uint32_t)v;
	return 0;
}

static ssize_t sock_recv(int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	return recvmsg(fd, &msg, flags | MSG_DONTWAIT);
}

/*
 * Peek, then take only up to the newline: bytes the client sends after its line belong to
 * the stream. Without a newline yet, everything peeked is line, so it is taken (no refiring).
 */
void mux_line_read(struct vsock_mux *m, struct vsock_conn *c)
{
	char *buf = c->line + c->line_len;
	ssize_t n = sock_recv(c->fd, buf, VSOCK_LINE_MAX - c->line_len, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	char *nl = memchr(buf, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
	if (sock_recv(c->fd, buf, take, 0) != (ssize_t)take) {
		conn_free(c);
		return;
	}
	c->line_len += (unsigned)take;
	uint32_t port;
	if (!nl && c->line_len < VSOCK_LINE_MAX)
		return;
	if (!nl || parse_connect(c->line, c->line_len, &port) < 0) {
		log_guest("vsock-host", "host client sent no valid CONNECT line: closed");
		conn_free(c);
		return;
	}
	c->local_port = mux_pick_port(m);
	c->peer_port = port;
	mux_hash(m, c);
	c->state = CONN_REQUEST;
	c->pending |= PEND_REQUEST;
	mux_rx_add(m, c);
	conn_set_interest(c);
}
