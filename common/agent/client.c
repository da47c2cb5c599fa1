/* Host-side blocking client of the flint agent: connecting, handshake, requests, exec streams. */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RX_CHUNK (64u * 1024)
/* Reading stops while a whole frame is buffered: at most one frame plus one read in memory. */
#define RX_LIMIT (AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX)
/* Stdin is read only while less than this waits to be sent, so a fast source cannot grow it. */
#define STDIN_LOW (64u * 1024)
#define STDIN_CHUNK (32u * 1024)
#define WRITE_CHUNK (256u * 1024)
#define READ_CHUNK (AGENT_PAYLOAD_MAX - 64) /* the most one FILE_READ answer may carry */
#define VMM_LINE_MAX 32

/* ---- small helpers -------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1: no deadline. */
static int64_t deadline_in(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* What is left of a deadline, as poll() wants it. */
static int time_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Write all of p to a caller's fd, blocking even if the fd is non-blocking. */
static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			poll(&pf, 1, -1);
		} else {
			return w < 0 ? -errno : -EIO;
		}
	}
	return 0;
}

/* Agent-supplied text, kept for display: truncated, and no control characters for a terminal. */
static void copy_text(char *out, size_t cap, const struct agent_field *f)
{
	size_t n = f->len < cap - 1 ? f->len : cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = f->val[i] < 0x20 || f->val[i] == 0x7f ? '?' : (char)f->val[i];
	out[n] = '\0';
}

enum { F_U32, F_I32, F_U64, F_TEXT };

/* Where a field of an answer goes: a table instead of one hand-written loop per message. */
struct spec {
	uint16_t tag;
	uint8_t kind;
	void *out;
	size_t cap; /* F_TEXT */
};

/* Absent fields leave their output alone; a known field of the wrong size is -EPROTO. */
static int decode(const uint8_t *p, size_t len, const struct spec *s, size_t n)
{
	struct agent_iter it;
	struct agent_field fl;
	int k;
	agent_iter_init(&it, p, len);
	while ((k = agent_iter_next(&it, &fl)) > 0) {
		for (size_t i = 0; i < n; i++) {
			int r = 0;
			if (s[i].tag != fl.tag)
				continue;
			if (s[i].kind == F_U32)
				r = agent_field_u32(&fl, s[i].out);
			else if (s[i].kind == F_I32)
				r = agent_field_i32(&fl, s[i].out);
			else if (s[i].kind == F_U64)
				r = agent_field_u64(&fl, s[i].out);
			else
				copy_text(s[i].out, s[i].cap, &fl);
			if (r < 0)
				return -EPROTO;
		}
	}
	return k < 0 ? -EPROTO : 0;
}

#define NSPEC(s) (sizeof(s) / sizeof((s)[0]))

/* ---- connecting ------------------------------------------------------------------------------ */

static int unix_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect blocks only while the backlog is full; SO_SNDTIMEO bounds that wait. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	if (timeout_ms == 0)
		tv.tv_usec = 1000;
	if (timeout_ms >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		goto fail;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		if (errno != EINTR)
			goto fail;
	tv = (struct timeval){ 0 };
	if (timeout_ms >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		goto fail;
	return fd;
fail:;
	int e = errno == EAGAIN ? ETIMEDOUT : errno;
	close(fd);
	return -e;
}

int agent_client_connect_unix(const char *path)
{
	return unix_connect(path, -1);
}

static int vmm_send(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		if (poll(&pf, 1, time_left(deadline)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * The "OK <hostport>\n" line, a byte at a time: whatever follows it is already the guest's and
 * must stay in the socket for the client.
 */
static int vmm_read_ok(int fd, int64_t deadline)
{
	char line[VMM_LINE_MAX];
	size_t n = 0;
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, time_left(deadline));
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
		char ch;
		ssize_t got = recv(fd, &ch, 1, MSG_DONTWAIT);
		if (got == 0)
			return -ECONNREFUSED; /* flint-vmm hangs up: nothing listens there */
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == ECONNRESET ? -ECONNREFUSED : -errno;
		}
		if (ch == '\n')
			break;
		if (n == sizeof(line) - 1)
			return -EPROTO;
		line[n++] = ch;
	}
	line[n] = '\0';
	if (strncmp(line, "OK", 2) != 0 || (line[2] != '\0' && line[2] != ' '))
		return -EPROTO;
	return 0;
}

int agent_client_connect_vmm(const char *vsock_uds_path, unsigned port, int timeout_ms)
{
	int64_t deadline = deadline_in(timeout_ms);
	char line[VMM_LINE_MAX];
	int fd = unix_connect(vsock_uds_path, timeout_ms);
	if (fd < 0)
		return fd;
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	int r = vmm_send(fd, line, (size_t)n, deadline);
	if (r == 0)
		r = vmm_read_ok(fd, deadline);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- the connection's I/O -------------------------------------------------------------------- */

/* A broken stream cannot be resynchronised: every later call gets the same error. */
static int client_fail(struct agent_client *c, int err)
{
	if (!c->dead)
		c->dead = err;
	return c->dead;
}

/* The next complete frame already received: 1 (*f valid until the next I/O), 0, or -EPROTO. */
static int rx_frame(struct agent_client *c, struct agent_frame *f)
{
	if (c->rx_end == c->rx_start)
		return 0;
	ssize_t n = agent_frame_parse(c->rx + c->rx_start, c->rx_end - c->rx_start, f);
	if (n < 0)
		return client_fail(c, -EPROTO);
	if (n == 0)
		return 0;
	c->rx_start += (size_t)n;
	return 1;
}

static int rx_read(struct agent_client *c)
{
	if (c->rx_start) {
		memmove(c->rx, c->rx + c->rx_start, c->rx_end - c->rx_start);
		c->rx_end -= c->rx_start;
		c->rx_start = 0;
	}
	if (c->rx_cap - c->rx_end < RX_CHUNK) {
		uint8_t *p = realloc(c->rx, c->rx_end + RX_CHUNK);
		if (!p)
			return client_fail(c, -ENOMEM);
		c->rx = p;
		c->rx_cap = c->rx_end + RX_CHUNK;
	}
	ssize_t n = recv(c->fd, c->rx + c->rx_end, c->rx_cap - c->rx_end, MSG_DONTWAIT);
	if (n > 0)
		c->rx_end += (size_t)n;
	else if (n == 0)
		return client_fail(c, -ECONNRESET);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return client_fail(c, -errno);
	return 0;
}

/*
 * Wait up to timeout_ms (-1: forever) for the connection or one of the extra fds, then write what
 * c->out holds and read what arrived. Reading and writing together means neither side can block
 * the other. 0, -ETIMEDOUT, or a fatal -errno.
 */
static int client_io(struct agent_client *c, struct pollfd *extra, unsigned nextra, int timeout_ms)
{
	struct pollfd p[3] = { { .fd = c->fd } };
	if (c->rx_end - c->rx_start < RX_LIMIT)
		p[0].events |= POLLIN;
	if (c->out.len)
		p[0].events |= POLLOUT;
	for (unsigned i = 0; i < nextra; i++) {
		p[1 + i] = extra[i];
		extra[i].revents = 0;
	}
	int n = poll(p, 1 + nextra, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : client_fail(c, -errno);
	if (n == 0)
		return -ETIMEDOUT;
	for (unsigned i = 0; i < nextra; i++)
		extra[i].revents = p[1 + i].revents;
	if (p[0].revents & POLLNVAL)
		return client_fail(c, -EBADF);
	if (c->out.len && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w >= 0)
			agent_buf_consume(&c->out, (size_t)w);
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return client_fail(c, -errno);
	}
	if ((p[0].events & POLLIN) && (p[0].revents & (POLLIN | POLLERR | POLLHUP)))
		return rx_read(c);
	return 0;
}

static int client_flush(struct agent_client *c, int64_t deadline)
{
	while (c->out.len) {
		int r = client_io(c, NULL, 0, time_left(deadline));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Remember an ERROR's message; returns its errno negated (a hostile value becomes -EPROTO). */
static int note_error(struct agent_client *c, const struct agent_frame *f)
{
	int32_t e = 0;
	struct spec s[] = { { ATAG_ERRNO, F_I32, &e, 0 },
			    { ATAG_MESSAGE, F_TEXT, c->last_error, sizeof(c->last_error) } };
	c->last_error[0] = '\0';
	if (decode(f->payload, f->len, s, NSPEC(s)) < 0 || e <= 0 || e > 4095)
		e = EPROTO;
	c->last_errno = e;
	return -e;
}

static int reply_keep(struct agent_reply *r, const struct agent_frame *f)
{
	if (!r)
		return 0;
	if (r->cap < f->len) {
		uint8_t *p = realloc(r->mem, f->len);
		if (!p)
			return -ENOMEM;
		r->mem = p;
		r->cap = f->len;
	}
	if (f->len)
		memcpy(r->mem, f->payload, f->len);
	r->f = *f;
	r->f.payload = r->mem;
	return 0;
}

/*
 * Wait for the final answer to request `id`. Frames for other ids are answers to requests that
 * timed out, and are dropped.
 */
static int client_wait(struct agent_client *c, uint32_t id, int64_t deadline,
		       struct agent_reply *r)
{
	for (;;) {
		struct agent_frame f;
		int k;
		while ((k = rx_frame(c, &f)) == 1) {
			if (f.type == AGENT_ERROR) {
				int e = note_error(c, &f);
				if (f.id == id)
					return e;
			} else if (f.id == id) {
				if (f.type != AGENT_OK)
					return client_fail(c, -EPROTO);
				return reply_keep(r, &f);
			}
		}
		if (k < 0)
			return k;
		k = client_io(c, NULL, 0, time_left(deadline));
		if (k < 0)
			return k;
	}
}

/* Every operation starts here: a broken connection stays broken, and old errors are forgotten. */
static int op_start(struct agent_client *c, uint32_t *id)
{
	if (c->dead)
		return c->dead;
	c->last_errno = 0;
	c->last_error[0] = '\0';
	*id = c->next_id++;
	if (c->next_id == 0)
		c->next_id = 1; /* 0 is the handshake's */
	return 0;
}

/* op_start, and begin the request's frame in c->out. */
static int op_begin(struct agent_client *c, uint16_t type, uint16_t flags, uint32_t *id,
		    size_t *at)
{
	int e = op_start(c, id);
	if (e == 0)
		*at = agent_frame_begin(&c->out, type, flags, *id);
	return e;
}

static int frame_finish(struct agent_client *c, size_t at)
{
	int r = agent_frame_end(&c->out, at);
	return r == -ENOMEM ? client_fail(c, r) : r;
}

/* Finish the request begun at `at`, send it, and wait for its answer. */
static int call(struct agent_client *c, size_t at, uint32_t id, struct agent_reply *r)
{
	int64_t deadline = deadline_in(c->timeout_ms);
	int e = frame_finish(c, at);
	if (e == 0)
		e = client_flush(c, deadline);
	if (e == 0)
		e = client_wait(c, id, deadline, r);
	return e;
}

/* ---- the connection -------------------------------------------------------------------------- */

int agent_client_init(struct agent_client *c, int fd, const char *name, int timeout_ms)
{
	struct agent_frame f;
	int64_t deadline = deadline_in(timeout_ms);
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	agent_buf_init(&c->out);
	atomic_init(&c->pending_winsize, 0);
	atomic_init(&c->pending_signal, 0);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	size_t at = agent_frame_begin(&c->out, AGENT_HELLO, 0, 0);
	agent_put_u32(&c->out, ATAG_VERSION, AGENT_VERSION);
	agent_put_str(&c->out, ATAG_NAME, name ? name : "flint");
	r = frame_finish(c, at);
	if (r == 0)
		r = client_flush(c, deadline);
	/* The agent's HELLO is not an answer to ours: it is simply the first frame it sends. */
	while (r == 0 && (r = rx_frame(c, &f)) == 0)
		r = client_io(c, NULL, 0, time_left(deadline));
	if (r < 0)
		goto fail;
	if (f.type == AGENT_ERROR) {
		r = note_error(c, &f);
		goto fail;
	}
	struct spec s[] = {
		{ ATAG_VERSION, F_U32, &c->peer_version, 0 },
		{ ATAG_NAME, F_TEXT, c->peer_name, sizeof(c->peer_name) },
		{ ATAG_KERNEL, F_TEXT, c->peer_kernel, sizeof(c->peer_kernel) },
		{ ATAG_MEM_TOTAL, F_U64, &c->peer_mem_total, 0 },
	};
	r = f.type == AGENT_HELLO ? decode(f.payload, f.len, s, NSPEC(s)) : -EPROTO;
	if (r == 0 && c->peer_version != AGENT_VERSION) {
		at = agent_frame_begin(&c->out, AGENT_ERROR, 0, f.id);
		agent_put_i32(&c->out, ATAG_ERRNO, EPROTO);
		agent_put_str(&c->out, ATAG_MESSAGE, "unsupported protocol version");
		if (frame_finish(c, at) == 0)
			client_flush(c, deadline); /* best effort: we close either way */
		r = -EPROTO;
	}
	if (r == 0)
		return 0;
fail:
	agent_client_destroy(c);
	return r;
}

void agent_client_destroy(struct agent_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->fd = c->wake_fd = -1;
	agent_buf_free(&c->out);
	free(c->rx);
	c->rx = NULL;
	c->rx_start = c->rx_end = c->rx_cap = 0;
	if (!c->dead)
		c->dead = -ENOTCONN;
}

const char *agent_client_last_error(const struct agent_client *c)
{
	return c->last_error;
}

void agent_reply_free(struct agent_reply *r)
{
	free(r->mem);
	memset(r, 0, sizeof(*r));
}

int agent_client_request(struct agent_client *c, const struct agent_buf *req,
			 struct agent_reply *r)
{
	struct agent_frame f;
	struct agent_iter it;
	struct agent_field fl;
	uint32_t id;
	size_t at;

	if (req->failed || !req->len ||
	    agent_frame_parse(req->p, req->len, &f) != (ssize_t)req->len)
		return -EINVAL;
	int e = op_begin(c, f.type, f.flags, &id, &at);
	if (e)
		return e;
	agent_iter_init(&it, f.payload, f.len);
	while (agent_iter_next(&it, &fl) > 0)
		agent_put_bytes(&c->out, fl.tag, fl.val, fl.len);
	return call(c, at, id, r);
}

/* ---- exec ------------------------------------------------------------------------------------ */

static void put_cmd(struct agent_buf *b, const struct agent_exec_req *req)
{
	for (const char *const *a = req->argv; *a; a++)
		agent_put_str(b, ATAG_ARGV, *a);
	for (const char *const *e = req->env; e && *e; e++)
		agent_put_str(b, ATAG_ENV, *e);
	if (req->cwd)
		agent_put_str(b, ATAG_CWD, req->cwd);
	if (req->user)
		agent_put_str(b, ATAG_USER, req->user);
	if (req->timeout_ms)
		agent_put_u64(b, ATAG_TIMEOUT_MS, req->timeout_ms);
}

static void wake(struct agent_client *c)
{
	int saved = errno;
	uint64_t one = 1;
	ssize_t w = write(c->wake_fd, &one, sizeof(one));
	(void)w; /* a full counter already wakes the loop */
	errno = saved;
}

void agent_client_exec_resize(struct agent_client *c, unsigned rows, unsigned cols)
{
	if (!rows || !cols || rows > 0xffff || cols > 0xffff)
		return;
	atomic_store(&c->pending_winsize, rows << 16 | cols);
	wake(c);
}

void agent_client_exec_signal(struct agent_client *c, int sig)
{
	if (sig <= 0)
		return;
	atomic_store(&c->pending_signal, sig);
	wake(c);
}

static int exec_put_signal(struct agent_client *c, uint32_t id, int sig)
{
	size_t at = agent_frame_begin(&c->out, AGENT_EXEC_SIGNAL, 0, id);
	agent_put_u32(&c->out, ATAG_SIGNAL, (uint32_t)sig);
	return frame_finish(c, at);
}

/* What a signal handler asked for, now that there is a command to send it to. */
static int exec_put_pending(struct agent_client *c, uint32_t id)
{
	unsigned ws = atomic_exchange(&c->pending_winsize, 0);
	int sig = atomic_exchange(&c->pending_signal, 0);
	int r = 0;
	if (ws) {
		size_t at = agent_frame_begin(&c->out, AGENT_EXEC_RESIZE, 0, id);
		agent_put_u32(&c->out, ATAG_PTY_ROWS, ws >> 16);
		agent_put_u32(&c->out, ATAG_PTY_COLS, ws & 0xffff);
		r = frame_finish(c, at);
	}
	if (r == 0 && sig)
		r = exec_put_signal(c, id, sig);
	return r;
}

/* One read of the stdin source; its end (or a read error) becomes EXEC_STDIN with AGENT_F_EOF. */
static int exec_put_stdin(struct agent_client *c, uint32_t id, int fd, bool *open)
{
	uint8_t buf[STDIN_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0)
		*open = false;
	size_t at = agent_frame_begin(&c->out, AGENT_EXEC_STDIN, n > 0 ? 0 : AGENT_F_EOF, id);
	agent_put_bytes(&c->out, ATAG_DATA, buf, n > 0 ? (size_t)n : 0);
	return frame_finish(c, at);
}

struct exec_sinks {
	bool dropped[3];
	int err;
};

/*
 * Deliver an OUTPUT frame. A sink that fails is dropped and the command gets SIGPIPE, as it
 * would writing to a closed pipe on the host (`flint exec vm -- yes | head` ends).
 */
static int exec_output(struct agent_client *c, uint32_t id, const struct agent_exec_io *io,
		       const struct agent_frame *f, struct exec_sinks *s)
{
	uint32_t stream = 0;
	struct agent_field data = { 0 };
	struct spec sp[] = { { ATAG_STREAM, F_U32, &stream, 0 } };
	if (decode(f->payload, f->len, sp, 1) < 0 ||
	    agent_find(f->payload, f->len, ATAG_DATA, &data) < 0 ||
	    (stream != AGENT_STDOUT && stream != AGENT_STDERR))
		return client_fail(c, -EPROTO);
	if (s->dropped[stream] || !data.len)
		return 0;
	int r = 0;
	if (io->output)
		r = io->output(io->ctx, (enum agent_stream)stream, data.val, data.len);
	else if ((stream == AGENT_STDOUT ? io->stdout_fd : io->stderr_fd) >= 0)
		r = write_full(stream == AGENT_STDOUT ? io->stdout_fd : io->stderr_fd, data.val,
			       data.len);
	if (r >= 0)
		return 0;
	s->dropped[stream] = true;
	if (!s->err) {
		s->err = r;
		return exec_put_signal(c, id, SIGPIPE);
	}
	return 0;
}

int agent_client_exec(struct agent_client *c, const struct agent_exec_req *req,
		      const struct agent_exec_io *io, struct agent_exec_result *res)
{
	struct exec_sinks sinks = { .err = 0 };
	bool started = false, done = false, stdin_open = io->stdin_fd >= 0;
	uint32_t id;
	size_t at;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if (!req->argv || !req->argv[0])
		return -EINVAL;
	int e = op_begin(c, AGENT_EXEC, 0, &id, &at);
	if (e)
		return e;
	put_cmd(&c->out, req);
	agent_put_u32(&c->out, ATAG_STDIN, stdin_open);
	if (req->pty_rows && req->pty_cols) {
		agent_put_u32(&c->out, ATAG_PTY_ROWS, req->pty_rows);
		agent_put_u32(&c->out, ATAG_PTY_COLS, req->pty_cols);
	}
	e = frame_finish(c, at);
	while (e == 0 && !done) {
		struct agent_frame f;
		while (e == 0 && !done && (e = rx_frame(c, &f)) == 1) {
			e = 0;
			if (f.type == AGENT_ERROR) {
				int err = note_error(c, &f);
				if (f.id != id)
					continue;
				/* Before STARTED it is the exec's answer; after, it is about
				 * stdin, a signal or a resize, and the command goes on. */
				if (!started) {
					/* What was queued for this command must not reach the next. */
					atomic_store(&c->pending_signal, 0);
					atomic_store(&c->pending_winsize, 0);
					return err;
				}
				if (err == -EPIPE)
					stdin_open = false; /* the command closed its stdin */
			} else if (f.id != id) {
				continue;
			} else if (f.type == AGENT_STARTED) {
				struct spec s[] = { { ATAG_PID, F_U32, &res->pid, 0 } };
				started = true;
				e = decode(f.payload, f.len, s, 1);
			} else if (f.type == AGENT_OUTPUT) {
				e = exec_output(c, id, io, &f, &sinks);
			} else if (f.type == AGENT_EXIT) {
				struct spec s[] = { { ATAG_EXIT_CODE, F_I32, &res->exit_code, 0 },
						    { ATAG_SIGNAL, F_U32, &res->signal, 0 },
						    { ATAG_REASON, F_U32, &res->reason, 0 } };
				e = decode(f.payload, f.len, s, NSPEC(s));
				done = true;
			} else {
				e = -EPROTO;
			}
		}
		if (e < 0 || done)
			break;
		if (started)
			e = exec_put_pending(c, id);
		/* [0] the wake eventfd; [1] stdin, read only while little waits to be sent. */
		struct pollfd x[2] = { { .fd = c->wake_fd, .events = POLLIN },
				       { .fd = io->stdin_fd, .events = POLLIN } };
		bool want_stdin = started && stdin_open && c->out.len < STDIN_LOW;
		if (e == 0)
			e = client_io(c, x, want_stdin ? 2 : 1, -1);
		if (e == 0 && x[0].revents) {
			uint64_t v;
			ssize_t rd = read(c->wake_fd, &v, sizeof(v));
			(void)rd; /* only to re-arm it: the requests themselves are the atomics */
		}
		if (e == 0 && want_stdin && x[1].revents)
			e = exec_put_stdin(c, id, io->stdin_fd, &stdin_open);
	}
	if (e == -EPROTO)
		client_fail(c, e); /* a frame out of place: the stream is not what we think */
	if (done && e == 0) {
		/* Requests that arrived too late for this command must not hit the next one. */
		atomic_store(&c->pending_winsize, 0);
		atomic_store(&c->pending_signal, 0);
		return sinks.err;
	}
	return e;
}

/* ---- files ----------------------------------------------------------------------------------- */

typedef int sink_fn(void *ctx, const uint8_t *p, size_t n);

static int file_read(struct agent_client *c, const char *path, sink_fn *sink, void *ctx,
		     uint64_t *total)
{
	struct agent_reply r = { .mem = NULL };
	uint64_t off = 0;
	int e;
	for (;;) {
		uint32_t id;
		size_t at;
		struct agent_field data = { 0 };
		e = op_begin(c, AGENT_FILE_READ, 0, &id, &at);
		if (e)
			break;
		agent_put_str(&c->out, ATAG_PATH, path);
		agent_put_u64(&c->out, ATAG_OFFSET, off);
		agent_put_u64(&c->out, ATAG_LENGTH, READ_CHUNK);
		e = call(c, at, id, &r);
		if (e == 0 && (agent_find(r.f.payload, r.f.len, ATAG_DATA, &data) < 0 ||
			       data.len > READ_CHUNK))
			e = -EPROTO; /* more than was asked for */
		if (e == 0 && data.len)
			e = sink(ctx, data.val, data.len);
		if (e)
			break;
		off += data.len;
		/* An empty answer ends it too: a hostile agent cannot keep us asking forever. */
		if ((r.f.flags & AGENT_F_EOF) || !data.len)
			break;
	}
	if (total)
		*total = off;
	agent_reply_free(&r);
	return e;
}

static int sink_fd(void *ctx, const uint8_t *p, size_t n)
{
	return write_full(*(int *)ctx, p, n);
}

int agent_client_file_read(struct agent_client *c, const char *path, int fd, uint64_t *size)
{
	return file_read(c, path, sink_fd, &fd, size);
}

struct mem_sink {
	uint8_t *p;
	size_t len, cap, max;
};

static int sink_mem(void *ctx, const uint8_t *p, size_t n)
{
	struct mem_sink *m = ctx;
	if (n > m->max - m->len)
		return -EFBIG;
	if (n > m->cap - m->len) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap - m->len < n)
			cap = cap > m->max / 2 ? m->max : cap * 2;
		uint8_t *q = realloc(m->p, cap);
		if (!q)
			return -ENOMEM;
		m->p = q;
		m->cap = cap;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

int agent_client_file_read_mem(struct agent_client *c, const char *path, size_t max,
			       uint8_t **data, size_t *len)
{
	struct mem_sink m = { .max = max };
	int e = file_read(c, path, sink_mem, &m, NULL);
	if (e) {
		free(m.p);
		m.p = NULL;
		m.len = 0;
	}
	*data = m.p;
	*len = m.len;
	return e;
}

/* Fill buf with up to cap bytes; fewer only at the end. -errno on a read error. */
typedef ssize_t fill_fn(void *ctx, uint8_t *buf, size_t cap);

/*
 * FILE_WRITE chunks under one id, each but the last with AGENT_F_MORE. The agent answers only the
 * last, unless it fails early: then its ERROR is taken as soon as it arrives, and no more is sent.
 */
static int file_write(struct agent_client *c, const char *path, uint32_t mode, fill_fn *fill,
		      void *ctx)
{
	uint8_t *chunk = malloc(WRITE_CHUNK);
	uint32_t id;
	int e = chunk ? op_start(c, &id) : -ENOMEM;
	for (bool first = true; e == 0; first = false) {
		ssize_t n = fill(ctx, chunk, WRITE_CHUNK);
		if (n < 0) {
			/* Half a file must not be committed, and the protocol has no abort: break
			 * the connection, so that the agent drops it. */
			e = first ? (int)n : client_fail(c, (int)n);
			break;
		}
		bool last = (size_t)n < WRITE_CHUNK;
		uint16_t flags = last ? 0 : AGENT_F_MORE;
		size_t at = agent_frame_begin(&c->out, AGENT_FILE_WRITE, flags, id);
		agent_put_str(&c->out, ATAG_PATH, path);
		agent_put_bytes(&c->out, ATAG_DATA, chunk, (size_t)n);
		agent_put_u32(&c->out, ATAG_MODE, mode);
		int64_t deadline = deadline_in(c->timeout_ms);
		e = frame_finish(c, at);
		if (e == 0)
			e = client_flush(c, deadline);
		if (e == 0 && last) {
			e = client_wait(c, id, deadline, NULL);
			break;
		}
		if (e == 0) {
			/* An early answer, without waiting for one. */
			e = client_wait(c, id, now_ms(), NULL);
			if (e == 0)
				e = client_fail(c, -EPROTO); /* OK before the last chunk */
			else if (e == -ETIMEDOUT)
				e = 0;
		}
	}
	free(chunk);
	return e;
}

struct mem_src {
	const uint8_t *p;
	size_t left;
};

static ssize_t fill_mem(void *ctx, uint8_t *buf, size_t cap)
{
	struct mem_src *m = ctx;
	size_t n = m->left < cap ? m->left : cap;
	if (n)
		memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

static ssize_t fill_fd(void *ctx, uint8_t *buf, size_t cap)
{
	int fd = *(int *)ctx;
	size_t n = 0;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r == 0)
			break;
		if (r > 0) {
			n += (size_t)r;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			poll(&pf, 1, -1);
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return (ssize_t)n;
}

int agent_client_file_write(struct agent_client *c, const char *path, const void *data,
			    size_t len, uint32_t mode)
{
	struct mem_src m = { data, len };
	return file_write(c, path, mode, fill_mem, &m);
}

int agent_client_file_write_fd(struct agent_client *c, const char *path, int fd, uint32_t mode)
{
	return file_write(c, path, mode, fill_fd, &fd);
}

/* A request whose only field is PATH. */
static int path_call(struct agent_client *c, uint16_t type, const char *path,
		     struct agent_reply *r)
{
	uint32_t id;
	size_t at;
	int e = op_begin(c, type, 0, &id, &at);
	if (e)
		return e;
	agent_put_str(&c->out, ATAG_PATH, path);
	return call(c, at, id, r);
}

int agent_client_file_stat(struct agent_client *c, const char *path, struct agent_stat *st)
{
	struct agent_reply r = { .mem = NULL };
	memset(st, 0, sizeof(*st));
	int e = path_call(c, AGENT_FILE_STAT, path, &r);
	struct spec s[] = {
		{ ATAG_TYPE, F_U32, &st->type, 0 },
		{ ATAG_SIZE, F_U64, &st->size, 0 },
		{ ATAG_MODE, F_U32, &st->mode, 0 },
		{ ATAG_MTIME_NS, F_U64, &st->mtime_ns, 0 },
		{ ATAG_UID, F_U32, &st->uid, 0 },
		{ ATAG_GID, F_U32, &st->gid, 0 },
	};
	if (e == 0)
		e = decode(r.f.payload, r.f.len, s, NSPEC(s));
	agent_reply_free(&r);
	return e;
}

static int dirent_decode(const struct agent_field *rec, struct agent_dirent *d)
{
	struct agent_field name;
	struct spec s[] = { { ATAG_TYPE, F_U32, &d->type, 0 },
			    { ATAG_SIZE, F_U64, &d->size, 0 },
			    { ATAG_MODE, F_U32, &d->mode, 0 } };
	memset(d, 0, sizeof(*d));
	if (decode(rec->val, rec->len, s, NSPEC(s)) < 0 ||
	    agent_find(rec->val, rec->len, ATAG_NAME, &name) != 1 ||
	    agent_field_str(&name, d->name, sizeof(d->name)) < 0)
		return -EPROTO;
	/* Callers join names to paths (a recursive copy): one path component, never "..". */
	if (!d->name[0] || strchr(d->name, '/') || !strcmp(d->name, ".") || !strcmp(d->name, ".."))
		return -EPROTO;
	return 0;
}

int agent_client_file_list(struct agent_client *c, const char *path,
			   int (*fn)(void *ctx, const struct agent_dirent *e), void *ctx)
{
	struct agent_reply r = { .mem = NULL }; /* our own: fn may make calls of its own */
	struct agent_iter it;
	struct agent_field fl;
	struct agent_dirent d;
	int e = path_call(c, AGENT_FILE_LIST, path, &r);
	if (e == 0)
		agent_iter_init(&it, r.f.payload, r.f.len);
	while (e == 0 && agent_iter_next(&it, &fl) > 0) {
		if (fl.tag != ATAG_ENTRY)
			continue;
		e = dirent_decode(&fl, &d);
		if (e == 0)
			e = fn(ctx, &d);
	}
	agent_reply_free(&r);
	return e;
}

int agent_client_file_mkdir(struct agent_client *c, const char *path, uint32_t mode)
{
	uint32_t id;
	size_t at;
	int e = op_begin(c, AGENT_FILE_MKDIR, 0, &id, &at);
	if (e)
		return e;
	agent_put_str(&c->out, ATAG_PATH, path);
	agent_put_u32(&c->out, ATAG_MODE, mode);
	return call(c, at, id, NULL);
}

int agent_client_file_remove(struct agent_client *c, const char *path, bool recursive)
{
	uint32_t id;
	size_t at;
	int e = op_begin(c, AGENT_FILE_REMOVE, 0, &id, &at);
	if (e)
		return e;
	agent_put_str(&c->out, ATAG_PATH, path);
	agent_put_u32(&c->out, ATAG_RECURSIVE, recursive);
	return call(c, at, id, NULL);
}

/* ---- background jobs ------------------------------------------------------------------------- */

static int job_decode(const struct agent_field *rec, struct agent_job *j)
{
	struct agent_iter it;
	struct agent_field fl;
	size_t n = 0;
	struct spec s[] = {
		{ ATAG_JOB_ID, F_TEXT, j->id, sizeof(j->id) },
		{ ATAG_PID, F_U32, &j->pid, 0 },
		{ ATAG_STATE, F_U32, &j->state, 0 },
		{ ATAG_EXIT_CODE, F_I32, &j->exit_code, 0 },
		{ ATAG_SIGNAL, F_U32, &j->signal, 0 },
		{ ATAG_STARTED_NS, F_U64, &j->started_ns, 0 },
		{ ATAG_ENDED_NS, F_U64, &j->ended_ns, 0 },
	};
	memset(j, 0, sizeof(*j));
	if (decode(rec->val, rec->len, s, NSPEC(s)) < 0)
		return -EPROTO;
	agent_iter_init(&it, rec->val, rec->len);
	while (agent_iter_next(&it, &fl) > 0) {
		if (fl.tag != ATAG_ARGV)
			continue;
		if (n && n < sizeof(j->cmd) - 1)
			j->cmd[n++] = ' ';
		copy_text(j->cmd + n, sizeof(j->cmd) - n, &fl);
		n += strlen(j->cmd + n);
	}
	return 0;
}

int agent_client_job_start(struct agent_client *c, const struct agent_exec_req *req,
			   char id[AGENT_JOB_ID_SIZE], uint32_t *pid)
{
	struct agent_reply r = { .mem = NULL };
	struct agent_field fl;
	uint32_t rid;
	size_t at;
	if (!req->argv || !req->argv[0])
		return -EINVAL;
	int e = op_begin(c, AGENT_JOB_START, 0, &rid, &at);
	if (e)
		return e;
	put_cmd(&c->out, req);
	e = call(c, at, rid, &r);
	struct spec s[] = { { ATAG_PID, F_U32, pid, 0 } };
	*pid = 0;
	/* The id is handed back to the agent later: strict, never truncated. */
	if (e == 0 && (decode(r.f.payload, r.f.len, s, 1) < 0 ||
		       agent_find(r.f.payload, r.f.len, ATAG_JOB_ID, &fl) != 1 ||
		       agent_field_str(&fl, id, AGENT_JOB_ID_SIZE) < 0))
		e = -EPROTO;
	agent_reply_free(&r);
	return e;
}

/* A request whose only field is JOB_ID, plus an optional u32. */
static int job_call(struct agent_client *c, uint16_t type, const char *job, uint16_t tag,
		    uint32_t v, struct agent_reply *r)
{
	uint32_t id;
	size_t at;
	int e = op_begin(c, type, 0, &id, &at);
	if (e)
		return e;
	agent_put_str(&c->out, ATAG_JOB_ID, job);
	if (tag)
		agent_put_u32(&c->out, tag, v);
	return call(c, at, id, r);
}

int agent_client_job_status(struct agent_client *c, const char *id, struct agent_job *job)
{
	struct agent_reply r = { .mem = NULL };
	struct agent_field fl;
	memset(job, 0, sizeof(*job));
	int e = job_call(c, AGENT_JOB_STATUS, id, 0, 0, &r);
	if (e == 0 && agent_find(r.f.payload, r.f.len, ATAG_JOB, &fl) != 1)
		e = -EPROTO;
	if (e == 0)
		e = job_decode(&fl, job);
	agent_reply_free(&r);
	return e;
}

int agent_client_job_logs(struct agent_client *c, const char *id, enum agent_stream stream,
			  uint64_t offset, uint64_t length, struct agent_reply *r,
			  struct agent_job_logs *logs)
{
	uint32_t rid;
	size_t at;
	struct agent_field data = { 0 };
	memset(logs, 0, sizeof(*logs));
	int e = op_begin(c, AGENT_JOB_LOGS, 0, &rid, &at);
	if (e)
		return e;
	agent_put_str(&c->out, ATAG_JOB_ID, id);
	agent_put_u32(&c->out, ATAG_STREAM, stream);
	agent_put_u64(&c->out, ATAG_OFFSET, offset);
	agent_put_u64(&c->out, ATAG_LENGTH, length);
	e = call(c, at, rid, r);
	struct spec s[] = { { ATAG_OFFSET, F_U64, &logs->offset, 0 },
			    { ATAG_NEXT, F_U64, &logs->next, 0 },
			    { ATAG_TOTAL, F_U64, &logs->total, 0 } };
	if (e == 0 && (decode(r->f.payload, r->f.len, s, NSPEC(s)) < 0 ||
		       agent_find(r->f.payload, r->f.len, ATAG_DATA, &data) < 0))
		e = -EPROTO;
	logs->data = data.val;
	logs->len = data.len;
	return e;
}

int agent_client_job_kill(struct agent_client *c, const char *id, int sig)
{
	return job_call(c, AGENT_JOB_KILL, id, sig > 0 ? ATAG_SIGNAL : 0, (uint32_t)sig, NULL);
}

int agent_client_job_list(struct agent_client *c, int (*fn)(void *ctx, const struct agent_job *j),
			  void *ctx)
{
	struct agent_reply r = { .mem = NULL }; /* our own: fn may make calls of its own */
	struct agent_iter it;
	struct agent_field fl;
	struct agent_job j;
	uint32_t id;
	size_t at;
	int e = op_begin(c, AGENT_JOB_LIST, 0, &id, &at);
	if (e == 0)
		e = call(c, at, id, &r);
	if (e == 0)
		agent_iter_init(&it, r.f.payload, r.f.len);
	while (e == 0 && agent_iter_next(&it, &fl) > 0) {
		if (fl.tag != ATAG_JOB)
			continue;
		e = job_decode(&fl, &j);
		if (e == 0)
			e = fn(ctx, &j);
	}
	agent_reply_free(&r);
	return e;
}

/* ---- the VM ---------------------------------------------------------------------------------- */

/* A request without fields, or with one u64. */
static int simple_call(struct agent_client *c, uint16_t type, uint16_t tag, uint64_t v,
		       struct agent_reply *r)
{
	uint32_t id;
	size_t at;
	int e = op_begin(c, type, 0, &id, &at);
	if (e)
		return e;
	if (tag)
		agent_put_u64(&c->out, tag, v);
	return call(c, at, id, r);
}

int agent_client_ping(struct agent_client *c)
{
	return simple_call(c, AGENT_PING, 0, 0, NULL);
}

int agent_client_info(struct agent_client *c, struct agent_info *info)
{
	struct agent_reply r = { .mem = NULL };
	struct spec s[] = {
		{ ATAG_KERNEL, F_TEXT, info->kernel, sizeof(info->kernel) },
		{ ATAG_MEM_TOTAL, F_U64, &info->mem_total, 0 },
		{ ATAG_MEM_FREE, F_U64, &info->mem_free, 0 },
		{ ATAG_UPTIME_NS, F_U64, &info->uptime_ns, 0 },
		{ ATAG_NCPUS, F_U32, &info->ncpus, 0 },
	};
	memset(info, 0, sizeof(*info));
	int e = simple_call(c, AGENT_INFO, 0, 0, &r);
	if (e == 0)
		e = decode(r.f.payload, r.f.len, s, NSPEC(s));
	agent_reply_free(&r);
	return e;
}

int agent_client_set_time(struct agent_client *c, uint64_t time_ns)
{
	return simple_call(c, AGENT_SET_TIME, ATAG_TIME_NS, time_ns, NULL);
}

int agent_client_shutdown(struct agent_client *c)
{
	return simple_call(c, AGENT_SHUTDOWN, 0, 0, NULL);
}
