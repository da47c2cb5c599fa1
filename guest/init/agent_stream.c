/* The I/O of a running command: output to OUTPUT frames or a job's rings, stdin, and its EXIT. */
#include "agent_stream.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_conn.h"
#include "agent_exec.h"
#include "agent_jobs.h"
#include "agent_sys.h"
#include "loop.h"

/*
 * One read takes up to twice what a full pipe holds (64 KiB): a full pipe then gives a short
 * read, which tells us it is empty without another read that would fail with EAGAIN.
 */
#define STREAM_READ (128u * 1024)
#define STREAM_FRAME (64u * 1024) /* the most DATA one OUTPUT frame carries */
#define STREAM_BUDGET (512u * 1024) /* per command per tick, so one cannot starve the rest */

#define stream_buf agent_scratch
_Static_assert(STREAM_READ <= AGENT_SCRATCH_SIZE, "the scratch buffer holds one read");

static void stream_on_out(int fd, uint32_t events, void *ctx)
{
	struct exec *e = ctx;

	int i = fd == e->out_fd[0] ? 0 : 1;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		e->readable[i] = true;
	if (events & (EPOLLHUP | EPOLLERR))
		e->hup[i] = true;
	if (e->pty && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
		e->in_writable = true;
}

static void stream_on_in(int fd, uint32_t events, void *ctx)
{
	struct exec *e = ctx;

	(void)fd;
	(void)events; /* writable, or its reader is gone (EPOLLERR): the next write tells which */
	e->in_writable = true;
}

int stream_watch(struct exec *e)
{
	int i;

	for (i = 0; i < 2; i++) {
		uint32_t ev = EPOLLIN | EPOLLET | (e->pty ? EPOLLOUT : 0);

		if (e->out_fd[i] >= 0 && loop_add(e->out_fd[i], ev, stream_on_out, e) != 0)
			return -errno;
	}
	/* A pipe for stdin is watched only once a write would block: most never do. */
	e->in_watched = e->pty;
	e->in_writable = true;
	return 0;
}

static void stream_close_stdin(struct exec *e)
{
	free(e->in_buf);
	e->in_buf = NULL;
	e->in_off = e->in_len = 0;
	if (e->pty || e->in_fd < 0)
		return; /* the PTY master is closed with the output */
	if (e->in_watched)
		loop_remove(e->in_fd);
	close(e->in_fd);
	e->in_fd = -1;
}

static void stream_close(struct exec *e, int i)
{
	int fd = e->out_fd[i];

	if (fd < 0)
		return;
	e->out_fd[i] = -1;
	e->readable[i] = false;
	loop_remove(fd);
	if (e->pty) {
		stream_close_stdin(e);
		e->in_fd = -1;
		/*
		 * EIO comes once the last slave fd is closed, which a program may do itself just
		 * before it exits (GNU cat does). Closing the master now would hang the terminal
		 * up and SIGHUP it on its way out: the master stays open until the reap.
		 */
		if (!e->reaped && !e->dead) {
			e->pty_held = fd;
			return;
		}
	}
	close(fd);
}

void stream_close_all(struct exec *e)
{
	stream_close(e, 0);
	stream_close(e, 1);
	stream_close_stdin(e);
	if (e->pty_held >= 0) {
		close(e->pty_held);
		e->pty_held = -1;
	}
}

/* OUTPUT frames of at most STREAM_FRAME bytes; -1 if the connection had to be closed. */
static int stream_send(struct exec *e, int i, size_t n)
{
	struct conn *c = e->conn;
	size_t off, chunk;

	for (off = 0; off < n; off += chunk) {
		size_t at = conn_begin(c, AGENT_OUTPUT, 0, e->id);

		chunk = n - off < STREAM_FRAME ? n - off : STREAM_FRAME;
		agent_put_u32(&c->out, ATAG_STREAM, e->pty ? AGENT_STDOUT : (uint32_t)i + 1);
		agent_put_bytes(&c->out, ATAG_DATA, stream_buf + off, chunk);
		if (conn_end(c, at) != 0) {
			conn_close(c); /* lost output cannot be told: end it */
			return -1;
		}
	}
	return 0;
}

static bool stream_may_read(const struct exec *e)
{
	return e->job || (e->conn && conn_room(e->conn));
}

static void stream_pump(struct exec *e, int i, size_t *budget)
{
	while (e->out_fd[i] >= 0 && e->readable[i] && *budget && stream_may_read(e)) {
		size_t want = STREAM_READ;
		ssize_t n;

		if (e->job) {
			n = jobs_fill(e->job, i, e->out_fd[i], &want);
		} else {
			n = read(e->out_fd[i], stream_buf, want);
			if (n > 0 && stream_send(e, i, (size_t)n) < 0)
				return;
		}
		if (n > 0) {
			*budget -= (size_t)n < *budget ? (size_t)n : *budget;
			/*
			 * Short: the pipe is empty now, and more would be a new edge. Not so after
			 * a hang-up (its edge is spent: only a read finds the EOF) or while
			 * draining, when reading goes on until EAGAIN.
			 */
			if ((size_t)n < want && !e->draining && !e->hup[i])
				e->readable[i] = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !e->draining) {
			e->readable[i] = false;
			return;
		}
		/* EOF; EIO from a PTY master once the terminal is closed; or drained after the kill. */
		stream_close(e, i);
	}
}

static void stream_write_stdin(struct exec *e)
{
	while (e->in_fd >= 0 && e->in_writable && e->in_off < e->in_len) {
		ssize_t w = write(e->in_fd, e->in_buf + e->in_off, e->in_len - e->in_off);

		if (w > 0) {
			e->in_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e->in_writable = false;
			if (!e->in_watched && loop_add(e->in_fd, EPOLLOUT | EPOLLET, stream_on_in, e) == 0)
				e->in_watched = true;
			if (!e->in_watched)
				e->in_writable = true; /* cannot watch it: keep trying each tick */
			return;
		}
		/* EPIPE: the command closed its stdin (EIO: a PTY nobody has open). */
		if (e->conn)
			conn_error(e->conn, e->id, EPIPE, "stdin of command %u is closed", e->id);
		e->in_eof = true;
		stream_close_stdin(e);
		return;
	}
	if (e->in_off && e->in_off == e->in_len) {
		free(e->in_buf);
		e->in_buf = NULL;
		e->in_off = e->in_len = 0;
	}
	if (e->in_eof && !e->in_len && !e->pty && e->in_fd >= 0)
		stream_close_stdin(e);
}

static void stream_finish(struct exec *e)
{
	int st = e->wstatus;
	int32_t code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	uint32_t sig = WIFSIGNALED(st) ? (uint32_t)WTERMSIG(st) : 0;
	uint32_t reason = sig ? AGENT_SIGNALED : AGENT_EXITED;

	if (e->timed_out)
		reason = AGENT_TIMEOUT;
	/* SIGKILL that we did not send, or a shell reporting one (137), while the OOM killer ran. */
	else if (!e->killed && (sig == SIGKILL || code == 128 + SIGKILL) &&
		 sys_oom_kills() > e->oom_start)
		reason = AGENT_OOM;
	if (e->job) {
		jobs_ended(e->job, code, sig, reason);
	} else if (e->conn) {
		struct conn *c = e->conn;
		size_t at = conn_begin(c, AGENT_EXIT, 0, e->id);

		agent_put_i32(&c->out, ATAG_EXIT_CODE, code);
		agent_put_u32(&c->out, ATAG_SIGNAL, sig);
		agent_put_u32(&c->out, ATAG_REASON, reason);
		if (conn_end(c, at) != 0)
			conn_close(c);
	}
	stream_close_all(e);
	e->dead = true;
}

void stream_service(struct exec *e, int64_t now)
{
	size_t budget = STREAM_BUDGET;

	stream_write_stdin(e);
	if (e->timeout_at && now >= e->timeout_at) {
		e->timeout_at = 0;
		e->timed_out = true;
		exec_kill(e, SIGKILL);
	}
	if (e->drain_at && now >= e->drain_at) {
		if (!e->draining) {
			/* Whatever still holds the output open is the command's: end it. */
			e->draining = true;
			kill(-e->pid, SIGKILL);
			e->drain_at = now + EXEC_DRAIN_FINAL_NS;
			e->readable[0] = e->readable[1] = true;
		} else {
			e->drain_at = 0; /* someone outside its group holds it: stop waiting */
			stream_close(e, 0);
			stream_close(e, 1);
		}
	}
	stream_pump(e, 0, &budget);
	if (!e->dead)
		stream_pump(e, 1, &budget);
	if (!e->dead && e->reaped && e->out_fd[0] < 0 && e->out_fd[1] < 0)
		stream_finish(e);
}

bool stream_work_pending(const struct exec *e)
{
	int i;

	if (e->dead)
		return false;
	if (e->in_fd >= 0 && e->in_writable && e->in_off < e->in_len)
		return true;
	for (i = 0; i < 2; i++)
		if (e->out_fd[i] >= 0 && e->readable[i] && stream_may_read(e))
			return true;
	return e->reaped && e->out_fd[0] < 0 && e->out_fd[1] < 0;
}
