/* Taking requests from a connection: reassembly, the HELLO rule, and dispatch by type. */
#include "agent_dispatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent_conn.h"
#include "agent_exec.h"
#include "agent_files.h"
#include "agent_fsops.h"
#include "agent_jobs.h"
#include "agent_sys.h"
#include "console.h"

/* Reads of one connection per tick: the others get their turn before it reads more. */
#define DISPATCH_READS_PER_TICK 4
/* The input buffer's first size: requests are small, FILE_WRITE and EXEC_STDIN chunks grow it. */
#define DISPATCH_IN_FIRST (16u * 1024)

typedef void dispatch_fn(struct conn *c, const struct agent_frame *f);

static void dispatch_hello_again(struct conn *c, const struct agent_frame *f)
{
	conn_error(c, f->id, EINVAL, "HELLO was already received");
}

static dispatch_fn *const dispatch_handlers[] = {
	[AGENT_HELLO] = dispatch_hello_again,
	[AGENT_PING] = sys_ping,
	[AGENT_INFO] = sys_info,
	[AGENT_SET_TIME] = sys_set_time,
	[AGENT_SHUTDOWN] = sys_shutdown,
	[AGENT_EXEC] = exec_req,
	[AGENT_EXEC_STDIN] = exec_req_stdin,
	[AGENT_EXEC_SIGNAL] = exec_req_signal,
	[AGENT_EXEC_RESIZE] = exec_req_resize,
	[AGENT_FILE_READ] = files_read,
	[AGENT_FILE_WRITE] = files_write,
	[AGENT_FILE_REMOVE] = fsops_remove,
	[AGENT_FILE_MKDIR] = fsops_mkdir,
	[AGENT_FILE_STAT] = fsops_stat,
	[AGENT_FILE_LIST] = fsops_list,
	[AGENT_JOB_START] = jobs_start,
	[AGENT_JOB_STATUS] = jobs_status,
	[AGENT_JOB_LOGS] = jobs_logs,
	[AGENT_JOB_KILL] = jobs_kill,
	[AGENT_JOB_LIST] = jobs_list,
};

/* The first frame must be HELLO with our major version; anything else ends the connection. */
static void dispatch_hello(struct conn *c, const struct agent_frame *f)
{
	struct agent_field fl;
	uint32_t v = 0;

	if (f->type != AGENT_HELLO) {
		conn_error(c, f->id, EPROTO, "expected HELLO, got %s", agent_type_name(f->type));
	} else if (agent_find(f->payload, f->len, ATAG_VERSION, &fl) != 1 ||
		   agent_field_u32(&fl, &v) != 0 || v != AGENT_VERSION) {
		conn_error(c, f->id, EPROTO, "unsupported protocol version %u (this agent speaks %u)",
			   v, AGENT_VERSION);
	} else {
		c->hello = true;
		return;
	}
	conn_flush(c);
	conn_close(c);
}

static void dispatch_frame(struct conn *c, const struct agent_frame *f)
{
	dispatch_fn *fn = NULL;

	if (!c->hello) {
		dispatch_hello(c, f);
		return;
	}
	if (f->type == AGENT_ERROR)
		return; /* the host complains about something we sent: nothing to answer */
	if (f->type < sizeof(dispatch_handlers) / sizeof(dispatch_handlers[0]))
		fn = dispatch_handlers[f->type];
	if (fn)
		fn(c, f);
	else
		conn_error(c, f->id, EPROTONOSUPPORT, "unknown message type 0x%x", f->type);
}

/* Requests are taken only while answers have room and no EXEC_STDIN backlog is too long. */
bool dispatch_may_parse(const struct conn *c)
{
	return conn_room(c) && !exec_stdin_full(c);
}

static void dispatch_parse(struct conn *c)
{
	size_t off = 0;

	c->parse_more = false;
	while (!c->dead && off < c->in_len) {
		struct agent_frame f;
		ssize_t r;

		if (!dispatch_may_parse(c)) {
			c->parse_more = true;
			break;
		}
		memset(&f, 0, sizeof(f));
		r = agent_frame_parse(c->in + off, c->in_len - off, &f);
		if (r == 0)
			break;
		if (r < 0) {
			/* The stream is out of sync: f.id is the frame's when its header was sound. */
			conn_error(c, f.id, EPROTO, "malformed frame");
			conn_flush(c);
			conn_close(c);
			return;
		}
		dispatch_frame(c, &f);
		off += (size_t)r;
	}
	if (c->dead || !off)
		return;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/*
 * Small at first (from the heap, not an mmap per connection); a frame that does not fit makes
 * it grow at once to that frame's size, which its header announces.
 */
static int dispatch_grow(struct conn *c)
{
	size_t cap = c->in_cap ? c->in_cap * 2 : DISPATCH_IN_FIRST;
	uint8_t *p;

	if (c->in_len >= 4) {
		const uint8_t *h = c->in;
		size_t frame = 4 + ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 |
				    (size_t)h[3] << 24);

		if (frame > cap)
			cap = frame;
	}
	if (cap > CONN_IN_MAX)
		cap = CONN_IN_MAX;
	p = realloc(c->in, cap);
	if (!p)
		return -ENOMEM;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

void dispatch_input(struct conn *c)
{
	unsigned reads = DISPATCH_READS_PER_TICK;

	/*
	 * Paused (a command does not read its stdin, or answers are backed up) and the peer is
	 * gone: its requests can no longer be answered, and waiting would keep its commands
	 * running for nobody. Closing kills them.
	 */
	if (c->gone && !dispatch_may_parse(c)) {
		conn_close(c);
		return;
	}
	if (c->parse_more && dispatch_may_parse(c))
		dispatch_parse(c);
	while (!c->dead && c->readable && !c->connecting && !c->parse_more && reads-- &&
	       dispatch_may_parse(c)) {
		size_t want;
		ssize_t n;

		if (c->in_len == c->in_cap && dispatch_grow(c) < 0) {
			console_log("connection: out of memory, closing it");
			conn_close(c);
			return;
		}
		want = c->in_cap - c->in_len;
		n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->readable = false;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_close(c); /* the peer is gone (or the stream broke) */
			return;
		}
		/*
		 * Less than asked for: the socket is empty and the next arrival is a new edge,
		 * unless the peer's close came with this data: then only reading on finds it.
		 */
		if ((size_t)n < want && !c->hup)
			c->readable = false;
		c->in_len += (size_t)n;
		dispatch_parse(c);
	}
}
