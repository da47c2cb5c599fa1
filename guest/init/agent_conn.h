/* Agent connections: their table, frames out (answers, errors), bounded output and flushing. */
#ifndef FLINT_INIT_AGENT_CONN_H
#define FLINT_INIT_AGENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/proto.h"

#define CONN_MAX 64
/* Commands' output is read only while less than this waits to be sent on their connection. */
#define CONN_OUT_HIGH (256u * 1024)
/* The input buffer holds at most one whole frame (and whatever arrived with it). */
#define CONN_IN_MAX (AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX)

/*
 * One scratch buffer for whatever is read before it is framed (command output, file and log
 * chunks): the agent is single-threaded and each user is done with it before it returns.
 */
#define AGENT_SCRATCH_SIZE AGENT_PAYLOAD_MAX
extern uint8_t agent_scratch[AGENT_SCRATCH_SIZE];

struct files_write;

struct conn {
	int fd;
	bool readable;   /* edge seen, not yet read to EAGAIN */
	bool hup;        /* the peer closed: a short read is no longer proof of an empty socket */
	bool gone;       /* both directions are closed (EPOLLHUP): nobody reads our answers */
	bool wblocked;   /* the socket is full (or still connecting): wait for EPOLLOUT */
	bool connecting; /* the ready connection, until its connect() completes */
	bool hello;      /* the peer's HELLO was received */
	bool parse_more; /* whole frames wait in `in`, parsing paused for backpressure */
	bool dead;       /* closed; freed by conn_sweep */
	uint8_t *in;
	size_t in_len, in_cap;
	struct agent_buf out;
	struct files_write *writes; /* FILE_WRITEs in progress (AGENT_F_MORE) */
};

/*
 * Take over a connected (or connecting) non-blocking socket: watch it and queue our HELLO.
 * Returns NULL (fd closed) when the table is full or memory is short.
 */
struct conn *conn_new(int fd, bool connecting);

/* Close now: kills the connection's EXECs, drops its unfinished FILE_WRITEs. */
void conn_close(struct conn *c);

/* True while commands may queue output on c. */
bool conn_room(const struct conn *c);

/*
 * Build a frame in c->out: conn_begin, agent_put_*(&c->out, ...), conn_end. conn_end
 * returns 0, or -errno when the frame could not be built (it is then replaced by an ERROR
 * of that errno with the same id; if even that fails, the connection is closed).
 */
size_t conn_begin(struct conn *c, uint16_t type, uint16_t flags, uint32_t id);
int conn_end(struct conn *c, size_t at);

/* An empty OK for request id. */
void conn_ok(struct conn *c, uint32_t id);

/* ERROR {ERRNO err, MESSAGE} for request id; err is a positive errno. */
void conn_error(struct conn *c, uint32_t id, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One send of what c->out holds (the rest when EPOLLOUT says so). */
void conn_flush(struct conn *c);
/* Send what c->out holds, waiting up to timeout_ms: for the answer to SHUTDOWN. */
void conn_flush_wait(struct conn *c, int timeout_ms);

/* For the agent's tick: read and dispatch requests, flush output, free closed ones. */
void conn_service_all(void);
void conn_flush_all(void);
bool conn_work_pending(void);
void conn_sweep(void);

#endif
