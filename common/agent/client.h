/* Host-side blocking client of the flint agent (docs/agent-protocol.md), over one stream socket. */
#ifndef FLINT_AGENT_CLIENT_H
#define FLINT_AGENT_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/*
 * Conventions: every function returns 0 (or a documented count/fd) or -errno. An ERROR frame from
 * the agent becomes its ERRNO negated, and its MESSAGE stays readable with
 * agent_client_last_error(). Everything the agent sends is untrusted: lengths, counts, errnos and
 * texts are checked, and texts kept for display have control characters replaced with '?'.
 * A protocol violation or an I/O error breaks the connection: later calls return that error.
 */

/* ---- connecting ------------------------------------------------------------------------------ */

/*
 * Connect to flint-vmm's vsock Unix socket and ask for guest port `port` ("CONNECT <port>\n",
 * answered "OK <hostport>\n"). Returns the connected fd, from then on the guest's stream, or
 * -ECONNREFUSED (nobody listens on that port), -ETIMEDOUT (timeout_ms < 0: no limit), -errno.
 */
int agent_client_connect_vmm(const char *vsock_uds_path, unsigned port, int timeout_ms);
/* Connect to an agent listening on a Unix socket (flint-init --agent-unix PATH). */
int agent_client_connect_unix(const char *path);

/* ---- the connection -------------------------------------------------------------------------- */

#define AGENT_NAME_MAX 64
#define AGENT_TEXT_MAX 256

/*
 * One connection, used from one thread at a time (agent_client_exec_resize/_signal excepted).
 * Callers may change timeout_ms between calls and read the peer_* fields; the rest is private.
 */
struct agent_client {
	int fd;
	int wake_fd; /* eventfd: wakes agent_client_exec for a resize or a signal to forward */
	int timeout_ms; /* per request, for its answer (not an exec's run); -1: wait forever */
	int dead; /* 0, or the -errno that broke the connection */
	uint32_t next_id;
	struct agent_buf out; /* encoded, not yet written */
	uint8_t *rx; /* received: rx[rx_start, rx_end) is not yet consumed */
	size_t rx_start, rx_end, rx_cap;
	atomic_uint pending_winsize; /* rows << 16 | cols; 0: none */
	atomic_int pending_signal;
	/* From the agent's HELLO. */
	uint32_t peer_version;
	char peer_name[AGENT_NAME_MAX];
	char peer_kernel[AGENT_NAME_MAX];
	uint64_t peer_mem_total;
	/* The last ERROR frame received. */
	int last_errno;
	char last_error[AGENT_TEXT_MAX];
};

/*
 * Take over the connected socket fd, and do the HELLO handshake both ways within timeout_ms (which
 * becomes c->timeout_ms): 0, -EPROTO on a version mismatch (after telling the agent so), the
 * agent's ERROR, or -errno. On failure fd is closed too, and only last_error stays meaningful.
 */
int agent_client_init(struct agent_client *c, int fd, const char *name, int timeout_ms);
void agent_client_destroy(struct agent_client *c);
/* The MESSAGE of the last ERROR received ("" when none since the last call began). */
const char *agent_client_last_error(const struct agent_client *c);

/* An answer frame, in memory the caller owns and may reuse: zero-initialise it, then free it. */
struct agent_reply {
	struct agent_frame f; /* f.payload points into mem */
	uint8_t *mem;
	size_t cap;
};
void agent_reply_free(struct agent_reply *r);

/*
 * Send the one frame `req` holds (its id is replaced by a fresh one) and wait for its final
 * answer: 0 with the OK frame in *r, -errno from an ERROR, -ETIMEDOUT after c->timeout_ms
 * (the connection stays usable: a late answer is dropped), -EPROTO for anything else.
 */
int agent_client_request(struct agent_client *c, const struct agent_buf *req,
			 struct agent_reply *r);

/* ---- exec ------------------------------------------------------------------------------------ */

struct agent_exec_req {
	const char *const *argv; /* NULL-terminated, at least one */
	const char *const *env; /* "K=V", NULL-terminated; NULL: none */
	const char *cwd; /* NULL: the agent's default */
	const char *user; /* "root" or "sandbox"; NULL: the agent's default */
	uint32_t pty_rows, pty_cols; /* both non-zero: run on a new PTY (exec only) */
	uint64_t timeout_ms; /* 0: none */
};

struct agent_exec_io {
	/* Output sinks, written fully (blocking); -1 discards. A PTY's output is stdout. */
	int stdout_fd, stderr_fd;
	/* Optional: called with each chunk of output instead of writing to the fds; < 0 aborts. */
	int (*output)(void *ctx, enum agent_stream stream, const uint8_t *data, size_t len);
	void *ctx;
	/* Forwarded with EXEC_STDIN until its EOF; -1: the command's stdin is /dev/null. */
	int stdin_fd;
};

struct agent_exec_result {
	uint32_t pid;
	int32_t exit_code; /* -1 when killed by a signal */
	uint32_t signal; /* 0, or the signal that ended it */
	uint32_t reason; /* enum agent_exit_reason */
};

/*
 * Run a command and stream its I/O until it ends: 0 with *res filled, or -errno (an ERROR before
 * the command started: -ENOENT and so on). A sink that fails is dropped (later output of that
 * stream is discarded) and its error returned once the command has ended, *res filled anyway.
 * The caller should ignore SIGPIPE if a sink may be a pipe.
 */
int agent_client_exec(struct agent_client *c, const struct agent_exec_req *req,
		      const struct agent_exec_io *io, struct agent_exec_result *res);
/*
 * Async-signal-safe (and callable from another thread), for a SIGWINCH or SIGINT handler: forward
 * a new PTY size, or a signal, to the command agent_client_exec is running (or is about to
 * start: they are sent once it has started). The latest request of each kind wins.
 */
void agent_client_exec_resize(struct agent_client *c, unsigned rows, unsigned cols);
void agent_client_exec_signal(struct agent_client *c, int sig);

/* ---- files ----------------------------------------------------------------------------------- */

struct agent_stat {
	uint32_t type; /* enum agent_file_type */
	uint32_t mode, uid, gid;
	uint64_t size, mtime_ns;
};

struct agent_dirent {
	char name[256];
	uint32_t type, mode;
	uint64_t size;
};

/* Copy the whole guest file to fd, chunk by chunk; *size (may be NULL) gets the bytes copied. */
int agent_client_file_read(struct agent_client *c, const char *path, int fd, uint64_t *size);
/* The whole file in a malloc'ed buffer (*data, caller frees): -EFBIG past max bytes. */
int agent_client_file_read_mem(struct agent_client *c, const char *path, size_t max,
			       uint8_t **data, size_t *len);
/* Replace the guest file (atomically, on the agent's side) with len bytes, sent in chunks. */
int agent_client_file_write(struct agent_client *c, const char *path, const void *data,
			    size_t len, uint32_t mode);
/* ... with everything readable from fd until its EOF. */
int agent_client_file_write_fd(struct agent_client *c, const char *path, int fd, uint32_t mode);
int agent_client_file_stat(struct agent_client *c, const char *path, struct agent_stat *st);
/* Calls fn for each entry; a non-zero return from fn stops the listing and is returned. */
int agent_client_file_list(struct agent_client *c, const char *path,
			   int (*fn)(void *ctx, const struct agent_dirent *e), void *ctx);
int agent_client_file_mkdir(struct agent_client *c, const char *path, uint32_t mode);
int agent_client_file_remove(struct agent_client *c, const char *path, bool recursive);

/* ---- background jobs ------------------------------------------------------------------------- */

#define AGENT_JOB_ID_SIZE 16

struct agent_job {
	char id[AGENT_JOB_ID_SIZE];
	char cmd[AGENT_TEXT_MAX]; /* the argv joined with spaces, for display (may be truncated) */
	uint32_t pid, state, signal; /* state: enum agent_job_state */
	int32_t exit_code;
	uint64_t started_ns, ended_ns;
};

struct agent_job_logs {
	const uint8_t *data; /* points into the reply passed in */
	size_t len;
	uint64_t offset, next, total;
};

/* pty_rows/pty_cols of req are ignored. */
int agent_client_job_start(struct agent_client *c, const struct agent_exec_req *req,
			   char id[AGENT_JOB_ID_SIZE], uint32_t *pid);
int agent_client_job_status(struct agent_client *c, const char *id, struct agent_job *job);
int agent_client_job_logs(struct agent_client *c, const char *id, enum agent_stream stream,
			  uint64_t offset, uint64_t length, struct agent_reply *r,
			  struct agent_job_logs *logs);
/* sig 0: the agent's default, SIGKILL. */
int agent_client_job_kill(struct agent_client *c, const char *id, int sig);
/* Calls fn for each job; a non-zero return from fn stops and is returned. */
int agent_client_job_list(struct agent_client *c, int (*fn)(void *ctx, const struct agent_job *j),
			  void *ctx);

/* ---- the VM ---------------------------------------------------------------------------------- */

struct agent_info {
	char kernel[AGENT_NAME_MAX];
	uint64_t mem_total, mem_free, uptime_ns;
	uint32_t ncpus;
};

int agent_client_ping(struct agent_client *c);
int agent_client_info(struct agent_client *c, struct agent_info *info);
int agent_client_set_time(struct agent_client *c, uint64_t time_ns);
/* The agent answers, then syncs and powers the VM off. */
int agent_client_shutdown(struct agent_client *c);

#endif
