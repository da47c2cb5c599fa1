/* The agent: flint-init serving the host (docs/agent-protocol.md) over vsock, or a Unix socket. */
#ifndef FLINT_INIT_AGENT_H
#define FLINT_INIT_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * As PID 1: listen on vsock port AGENT_VSOCK_PORT, report FLINT_EV_READY on the port and say
 * HELLO to the host on AGENT_READY_PORT. Returns 0 or -errno (the VM then has no agent).
 */
int agent_start_vsock(void);

/*
 * Host test mode: listen on the Unix socket `path` (replacing a stale one), and if ready_path
 * is not NULL say HELLO on a connection to it. SHUTDOWN then exits instead of powering off.
 */
int agent_start_unix(const char *path, const char *ready_path);

/* A child was reaped: if it was an exec's or a job's, its status goes to its owner. */
void agent_reaped(pid_t pid, int wstatus);

/* How long the event loop may sleep: 0 when work is pending, -1 when nothing is due. */
int agent_timeout_ms(void);

/* After each batch of events: serve connections and commands, timers, flush output. */
void agent_tick(void);

/*
 * Before PID 1 exits or powers off: in host test mode SIGKILL every exec's and job's process
 * group and remove the socket file. Nothing to do in a VM, where everything is killed.
 */
void agent_stop(void);

#endif
