/* Agent connections: their table, frames out (answers, errors), bounded output and flushing. */
#include "agent_conn.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_dispatch.h"
#include "agent_exec.h"
#include "agent_files.h"
#include "agent_sys.h"
#include "console.h"
#include "loop.h"

/* An emptied output buffer bigger than this is given back (a FILE_READ answer grew it). */
#define CONN_OUT_KEEP (512u * 1024)

uint8_t agent_scratch[AGENT_SCRATCH_SIZE];

static struct conn *conn_table[CONN_MAX];
static unsigned conn_count;
static uint32_t conn_cur_id; /* the id of the frame being built: conn_end's ERROR reuses it */

static void conn_on_event(int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;

	(void)fd;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->readable = true;
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		c->hup = true;
	if (events & (EPOLLHUP | EPOLLERR))
		c->gone = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->wblocked = false;
}

/*
 * Over the cap: say why in one frame, best effort, rather than leave the client waiting. Not
 * logged: the client is told, and a flood of refusals must not flood the serial console.
 */
static void conn_refuse(int fd)
{
	struct agent_buf b;
	size_t at;
	ssize_t n;

	agent_buf_init(&b);
	at = agent_frame_begin(&b, AGENT_ERROR, 0, 0);
	agent_put_i32(&b, ATAG_ERRNO, EBUSY);
	agent_put_str(&b, ATAG_MESSAGE, "too many connections");
	n = agent_frame_end(&b, at) == 0 ? send(fd, b.p, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
	(void)n;
	agent_buf_free(&b);
	close(fd);
}

struct conn *conn_new(int fd, bool connecting)
{
	struct conn *c;
	size_t at;

	if (conn_count == CONN_MAX) {
		conn_refuse(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->connecting = connecting;
	c->wblocked = connecting;
	agent_buf_init(&c->out);
	if (loop_add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, conn_on_event, c) != 0) {
		console_log("connection: %s", strerror(errno));
		close(fd);
		free(c);
		return NULL;
	}
	conn_table[conn_count++] = c;
	/* HELLO first, in both directions: ours goes out without waiting for theirs. */
	at = conn_begin(c, AGENT_HELLO, 0, 0);
	sys_put_hello(&c->out);
	conn_end(c, at);
	return c;
}

void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	exec_conn_closed(c);
	files_conn_closed(c);
	loop_remove(c->fd);
	close(c->fd);
	c->fd = -1;
}

bool conn_room(const struct conn *c)
{
	return !c->dead && c->out.len < CONN_OUT_HIGH;
}

size_t conn_begin(struct conn *c, uint16_t type, uint16_t flags, uint32_t id)
{
	conn_cur_id = id;
	return agent_frame_begin(&c->out, type, flags, id);
}

int conn_end(struct conn *c, size_t at)
{
	int r = agent_frame_end(&c->out, at);
	size_t e;

	if (r == 0 || c->dead)
		return r;
	/* agent_frame_end removed the frame; the buffer before it is intact. */
	c->out.failed = false;
	e = agent_frame_begin(&c->out, AGENT_ERROR, 0, conn_cur_id);
	agent_put_i32(&c->out, ATAG_ERRNO, -r);
	agent_put_str(&c->out, ATAG_MESSAGE, r == -E2BIG ? "answer too large for one frame"
							: "out of memory");
	if (agent_frame_end(&c->out, e) != 0) {
		console_log("connection: out of memory, closing it");
		conn_close(c);
	}
	return r;
}

void conn_ok(struct conn *c, uint32_t id)
{
	conn_end(c, conn_begin(c, AGENT_OK, 0, id));
}

void conn_error(struct conn *c, uint32_t id, int err, const char *fmt, ...)
{
	/* Room for a whole path and some words: messages name what failed. */
	static char msg[4096 + 256];
	va_list ap;
	size_t at;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	at = conn_begin(c, AGENT_ERROR, 0, id);
	agent_put_i32(&c->out, ATAG_ERRNO, err);
	agent_put_bytes(&c->out, ATAG_MESSAGE, msg, (size_t)n);
	conn_end(c, at);
}

void conn_flush(struct conn *c)
{
	ssize_t n;

	if (c->dead || c->wblocked || !c->out.len)
		return;
	n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->wblocked = true;
		else if (errno != EINTR)
			conn_close(c);
		return;
	}
	/* A short send means the socket is full: EPOLLOUT (edge) says when it has room. */
	if ((size_t)n < c->out.len)
		c->wblocked = true;
	agent_buf_consume(&c->out, (size_t)n);
	if (!c->out.len && c->out.cap > CONN_OUT_KEEP)
		agent_buf_free(&c->out);
}

static int64_t conn_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void conn_flush_wait(struct conn *c, int timeout_ms)
{
	int64_t end = conn_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		int64_t left;

		c->wblocked = false;
		conn_flush(c);
		left = end - conn_now_ms();
		if (c->dead || !c->out.len || left <= 0)
			return;
		poll(&p, 1, (int)left);
	}
}

/* The ready connection's connect() finished: in error, it is dropped without a word. */
static void conn_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->wblocked)
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
		conn_close(c);
		return;
	}
	c->connecting = false;
}

void conn_service_all(void)
{
	unsigned i;

	for (i = 0; i < conn_count; i++) {
		struct conn *c = conn_table[i];

		if (!c->dead && c->connecting)
			conn_connected(c);
		if (!c->dead)
			dispatch_input(c);
	}
}

void conn_flush_all(void)
{
	unsigned i;

	for (i = 0; i < conn_count; i++)
		if (!conn_table[i]->connecting)
			conn_flush(conn_table[i]);
}

bool conn_work_pending(void)
{
	unsigned i;

	for (i = 0; i < conn_count; i++) {
		const struct conn *c = conn_table[i];

		if (c->dead)
			return true; /* to be swept */
		if (c->connecting ? !c->wblocked
				  : (c->readable || c->parse_more) && (dispatch_may_parse(c) || c->gone))
			return true;
		if (c->out.len && !c->wblocked && !c->connecting)
			return true;
	}
	return false;
}

void conn_sweep(void)
{
	unsigned i = 0;

	while (i < conn_count) {
		struct conn *c = conn_table[i];

		if (!c->dead) {
			i++;
			continue;
		}
		free(c->in);
		agent_buf_free(&c->out);
		free(c);
		conn_table[i] = conn_table[--conn_count];
	}
}
