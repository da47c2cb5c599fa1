/* EXEC requests, and the processes behind EXECs and JOBs: spawning, streams, stdin, exit. */
#ifndef FLINT_INIT_AGENT_EXEC_H
#define FLINT_INIT_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"

struct conn;
struct job;

#define EXEC_MAX 128 /* EXECs running at once, over all connections (JOBs are counted apart) */
/* EXEC_STDIN bytes held for a command that does not read them; then its connection waits. */
#define EXEC_STDIN_MAX (256u * 1024)
/* After the process exits, how long others holding its output open may keep it open. */
#define EXEC_DRAIN_GRACE_NS (100 * 1000000LL)
/* After the grace and a SIGKILL to its group, how long remaining output may take to read. */
#define EXEC_DRAIN_FINAL_NS (1000 * 1000000LL)

/* One running command. Interactive (conn, id) or a job's (job); conn is NULL once it is gone. */
struct exec {
	struct exec *next;
	struct conn *conn;
	struct job *job;
	uint32_t id;
	pid_t pid; /* also its session and process group */
	int in_fd; /* stdin: a pipe's write end, or the PTY master; -1 */
	int out_fd[2]; /* stdout, stderr read ends (a PTY: out_fd[0] is the master); -1: closed */
	int pty_held;  /* the master after its output ended, kept open until the reap */
	bool readable[2];
	bool hup[2]; /* the writers are gone: read on to EOF whatever a read returns */
	bool pty, in_watched, in_writable, in_eof;
	uint8_t *in_buf; /* EXEC_STDIN bytes not yet written, in_buf[in_off, in_len) */
	size_t in_off, in_len;
	bool reaped, killed, timed_out, draining, dead;
	int wstatus;
	uint64_t oom_start; /* /proc/vmstat oom_kill when it started */
	int64_t timeout_at, drain_at; /* CLOCK_MONOTONIC ns; 0: none */
};

/* The requests (docs/agent-protocol.md). */
void exec_req(struct conn *c, const struct agent_frame *f);
void exec_req_stdin(struct conn *c, const struct agent_frame *f);
void exec_req_signal(struct conn *c, const struct agent_frame *f);
void exec_req_resize(struct conn *c, const struct agent_frame *f);

/*
 * Start the command of an EXEC or JOB_START frame. A job's output goes to job_fill() and its
 * end to job_ended(); an EXEC's become OUTPUT and EXIT frames after STARTED, sent from here.
 * Returns the exec, or NULL after answering ERROR.
 */
struct exec *exec_launch(struct conn *c, const struct agent_frame *f, struct job *job);

/* Signal a command's process group (SIGKILL is remembered: it is no OOM kill then). */
int exec_kill(struct exec *e, int sig);

/* The connection closed: its EXECs are killed and forgotten (not its JOBs). */
void exec_conn_closed(struct conn *c);
/* True when one of c's EXECs holds EXEC_STDIN_MAX unwritten stdin bytes. */
bool exec_stdin_full(const struct conn *c);

/* The agent's loop: a reaped child (false if not ours), work, timers, cleanup. */
bool exec_reaped(pid_t pid, int wstatus);
void exec_service_all(int64_t now);
bool exec_work_pending(void);
int64_t exec_next_deadline(void); /* 0: none */
void exec_sweep(void);
void exec_kill_all(int sig);

#endif
