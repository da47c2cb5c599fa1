/* The control socket: a listening Unix socket served from the event loop, one JSON reply per line.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define CONTROL_BACKLOG	      16
#define CONTROL_ACCEPT_BUDGET 16u /* clients taken per listener event */

/* ---- the pure part ------------------------------------------------------------------------- */

enum control_cmd control_parse(const char *line, size_t len)
{
	static const struct {
		const char *name;
		enum control_cmd cmd;
	} cmds[] = {{"ping", CONTROL_PING}, {"status", CONTROL_STATUS}, {"stop", CONTROL_STOP}};
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strlen(cmds[i].name) == len && memcmp(cmds[i].name, line, len) == 0)
			return cmds[i].cmd;
	return CONTROL_UNKNOWN;
}

/* A JSON number, or null for a negative value (unknown). */
static const char *control_num(char *buf, size_t cap, int64_t v)
{
	if (v < 0)
		return "null";
	snprintf(buf, cap, "%" PRId64, v);
	return buf;
}

/*
 * len bytes of src into dst as a JSON string's contents that need no escapes, and put no
 * control bytes in a log or terminal: every byte outside printable ASCII, '"' and '\\' become
 * '?'. dst has room for len + 1.
 */
static void control_quote(char *dst, const char *src, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		unsigned char ch = (unsigned char)src[k];
		dst[k] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	dst[len] = '\0';
}

/* A reply built in pieces; a piece that does not fit leaves len >= cap, which is a bug. */
struct control_out {
	char *p;
	size_t cap, len;
};

static void control_put(struct control_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void control_put(struct control_out *o, const char *fmt, ...)
{
	if (o->len >= o->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	BUG_ON(n < 0);
	o->len += (size_t)n;
}

/* The network's keys of a status reply: all null without a network device. */
static void control_put_net(struct control_out *o, const struct control_info *info)
{
	static const char *const names[] = {"net_rx_packets", "net_rx_bytes",	"net_tx_packets",
					    "net_tx_bytes",   "net_rx_dropped", "net_tx_dropped",
					    "net_denied"};
	const uint64_t v[] = {info->net_rx_packets, info->net_rx_bytes,	  info->net_tx_packets,
			      info->net_tx_bytes,   info->net_rx_dropped, info->net_tx_dropped,
			      info->net_denied};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (info->has_net)
			control_put(o, ",\"%s\":%" PRIu64, names[i], v[i]);
		else
			control_put(o, ",\"%s\":null", names[i]);
	size_t len = strnlen(info->net_last_denied, sizeof(info->net_last_denied) - 1);
	if (!info->has_net || len == 0) {
		control_put(o, ",\"net_last_denied\":null");
		return;
	}
	char text[CONTROL_DENIED_MAX];
	control_quote(text, info->net_last_denied, len);
	control_put(o, ",\"net_last_denied\":\"%s\"", text);
}

size_t control_reply(enum control_cmd cmd, const char *line, size_t len,
		     const struct control_info *info, char *out, size_t cap)
{
	struct control_out o = {out, cap, 0};
	switch (cmd) {
	case CONTROL_PING:
	case CONTROL_STOP:
		control_put(&o, "{\"ok\":true}\n");
		break;
	case CONTROL_STATUS: {
		char cid[24], boot[24];
		control_put(&o,
			    "{\"ok\":true,\"state\":\"running\",\"pid\":%ld,\"uptime_ms\":%" PRIu64
			    ",\"vcpus\":%u,\"mem_mib\":%" PRIu64 ",\"cid\":%s,\"boot_ms\":%s",
			    (long)info->pid, info->uptime_ms, info->vcpus, info->mem_mib,
			    control_num(cid, sizeof(cid), info->cid),
			    control_num(boot, sizeof(boot), info->boot_ms));
		control_put_net(&o, info);
		control_put(&o, "}\n");
		break;
	}
	case CONTROL_UNKNOWN:
	default: {
		char echo[CONTROL_ECHO_MAX + 4];
		if (len > 0 && line[len - 1] == '\r')
			len--;
		size_t k = len < CONTROL_ECHO_MAX ? len : CONTROL_ECHO_MAX;
		control_quote(echo, line, k);
		if (len > CONTROL_ECHO_MAX)
			memcpy(echo + k, "...", 4);
		control_put(&o, "{\"ok\":false,\"error\":\"unknown command '%s'\"}\n", echo);
		break;
	}
	}
	BUG_ON(o.len >= cap);
	return o.len;
}

size_t control_reply_too_long(char *out, size_t cap)
{
	int n = snprintf(out, cap, "{\"ok\":false,\"error\":\"line longer than %u bytes\"}\n",
			 CONTROL_LINE_MAX);
	BUG_ON(n < 0 || (size_t)n >= cap);
	return (size_t)n;
}

/* ---- clients ------------------------------------------------------------------------------- */

static void client_event(void *arg, uint32_t events);

static void listen_watch(struct control *c, bool on);

static void client_close(struct control_client *cl)
{
	struct control *c = cl->ctl;
	evloop_del(c->loop, cl->fd);
	close(cl->fd);
	cl->fd = -1;
	cl->in_len = cl->out_off = cl->out_len = 0;
	cl->closing = false;
	/* A slot is free again: if accepting was paused for want of fds, resume. */
	if (!c->listen_watched)
		listen_watch(c, true);
}

/* Watch for input, or for room to write while a reply is pending. false: the client is gone. */
static bool client_interest(struct control_client *cl, uint32_t events)
{
	struct control *c = cl->ctl;
	evloop_del(c->loop, cl->fd);
	if (evloop_add(c->loop, cl->fd, events, client_event, cl) < 0) {
		client_close(cl);
		return false;
	}
	return true;
}

/* Write what is pending. true: all written; false: waiting for EPOLLOUT, or closed. */
static bool client_flush(struct control_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = write(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off);
		if (n > 0) {
			cl->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			client_interest(cl, EPOLLOUT);
			return false;
		}
		client_close(cl); /* EPIPE, ECONNRESET: the client went away */
		return false;
	}
	cl->out_off = cl->out_len = 0;
	if (cl->closing) {
		client_close(cl);
		return false;
	}
	return true;
}

/* Take what the client sent after an over-long line, so closing does not reset its reply. */
static void client_drain(struct control_client *cl)
{
	char scratch[1024];
	for (unsigned i = 0; i < 16; i++)
		if (read(cl->fd, scratch, sizeof(scratch)) <= 0)
			break;
}

/* Answer each complete line in the buffer, until one's reply has to wait. */
static void client_lines(struct control_client *cl)
{
	struct control *c = cl->ctl;
	for (;;) {
		char *nl = memchr(cl->in, '\n', cl->in_len);
		if (!nl) {
			if (cl->in_len <= CONTROL_LINE_MAX)
				return;
			cl->out_len = control_reply_too_long(cl->out, sizeof(cl->out));
			cl->closing = true;
			client_drain(cl);
			client_flush(cl);
			return;
		}
		size_t len = (size_t)(nl - cl->in);
		enum control_cmd cmd = control_parse(cl->in, len);
		struct control_info info = {0};
		if (cmd == CONTROL_STATUS)
			c->hooks.info(c->hooks.ctx, &info);
		cl->out_len = control_reply(cmd, cl->in, len, &info, cl->out, sizeof(cl->out));
		cl->out_off = 0;
		cl->in_len -= len + 1;
		memmove(cl->in, nl + 1, cl->in_len);
		bool written = client_flush(cl);
		if (cmd == CONTROL_STOP) {
			/* The reply is in the client's socket (it outlives our close): now end the
			 * VM. */
			c->hooks.stop(c->hooks.ctx);
			return;
		}
		if (!written)
			return;
	}
}

static void client_event(void *arg, uint32_t events)
{
	struct control_client *cl = arg;
	if (cl->out_off < cl->out_len) {
		/* Waiting to write: input stays in the socket until the reply is out. */
		if (!client_flush(cl))
			return;
		if (!client_interest(cl, EPOLLIN))
			return;
		client_lines(cl);
		return;
	}
	(void)events;
	ssize_t n = read(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl); /* EOF or an error: an unfinished line is dropped */
		return;
	}
	cl->in_len += (size_t)n;
	client_lines(cl);
}

/* ---- the listener -------------------------------------------------------------------------- */

static void control_accept(void *arg, uint32_t events)
{
	struct control *c = arg;
	(void)events;
	for (unsigned i = 0; i < CONTROL_ACCEPT_BUDGET; i++) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: stop watching until a client leaves, or we would
				 * spin. */
				log_err("control socket: accept: %s; paused until a client closes",
					strerror(errno));
				listen_watch(c, false);
			}
			return;
		}
		struct control_client *cl = NULL;
		for (unsigned k = 0; k < CONTROL_CLIENTS_MAX && !cl; k++)
			if (c->client[k].fd < 0)
				cl = &c->client[k];
		if (!cl) {
			close(fd); /* over the limit: the client reads EOF */
			continue;
		}
		cl->fd = fd;
		if (evloop_add(c->loop, fd, EPOLLIN, client_event, cl) < 0) {
			close(fd);
			cl->fd = -1;
		}
	}
}

static void listen_watch(struct control *c, bool on)
{
	if (on && !c->listen_watched)
		c->listen_watched =
		    evloop_add(c->loop, c->listen_fd, EPOLLIN, control_accept, c) == 0;
	else if (!on && c->listen_watched)
		c->listen_watched = evloop_del(c->loop, c->listen_fd) != 0;
}

/* A socket left by a flint-vmm that died is replaced; a live one, or a non-socket, is an error. */
static int control_clear_stale(const struct control *c, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(c->path, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* nothing there (or no directory: bind says so) */
		int e = errno;
		log_err("control socket %s: %s", c->path, strerror(e));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("control socket %s: a file that is not a socket is in the way", c->path);
		return -EEXIST;
	}
	/* Non-blocking: a listener with a full backlog answers EAGAIN, and is just as alive. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 &&
	    (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN)) {
		close(fd);
		log_err("control socket %s: another process is listening on it", c->path);
		return -EADDRINUSE;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(c->path) < 0 && errno != ENOENT) {
		int e = errno;
		log_err("control socket %s: cannot remove the stale socket: %s", c->path,
			strerror(e));
		return -e;
	}
	return 0;
}

int control_init(struct control *c, const char *path, struct evloop *loop,
		 const struct control_hooks *hooks)
{
	memset(c, 0, sizeof(*c));
	c->listen_fd = -1;
	c->loop = loop;
	c->hooks = *hooks;
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		c->client[i].fd = -1;
		c->client[i].ctl = c;
	}
	size_t len = strlen(path);
	if (len == 0 || len > CONTROL_PATH_MAX) {
		log_err("control socket %s: the path must be 1 to %u bytes", path,
			CONTROL_PATH_MAX);
		return -ENAMETOOLONG;
	}
	memcpy(c->path, path, len + 1);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, len + 1);
	int r = control_clear_stale(c, &sa);
	if (r < 0)
		return r;
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0) {
		int e = errno;
		log_err("control socket: socket: %s", strerror(e));
		return -e;
	}
	/* Setup is single-threaded: the umask makes the socket 0600 from its creation. */
	mode_t old = umask(0177);
	r = bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0) {
		log_err("control socket: cannot bind %s: %s", path, strerror(e));
		return -e;
	}
	c->bound = true;
	if (listen(c->listen_fd, CONTROL_BACKLOG) < 0) {
		e = errno;
		log_err("control socket: listen on %s: %s", path, strerror(e));
		return -e;
	}
	listen_watch(c, true);
	return c->listen_watched ? 0 : -ENOSPC;
}

void control_destroy(struct control *c)
{
	/* Closing an fd takes it out of the epoll set; the loop is not run again. */
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (c->client[i].fd >= 0)
			close(c->client[i].fd);
		c->client[i].fd = -1;
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	c->listen_fd = -1;
	/* unlinkat, not unlink: the sandbox allows only it (see sandbox.c). */
	if (c->bound)
		unlinkat(AT_FDCWD, c->path, 0);
	c->bound = false;
}
