/* One command on an agent connection with this terminal's stdio: shared by run, exec and shell. */
#ifndef FLINT_CLI_SESSION_H
#define FLINT_CLI_SESSION_H

#include <stdbool.h>

#include "../common/agent/client.h"

struct session_cmd {
	char **argv;		/* NULL-terminated, at least one */
	const char *const *env; /* "K=V", NULL-terminated; NULL: none */
	const char *cwd, *user; /* NULL: the agent's defaults */
	unsigned long timeout_s; /* 0: none */
	/*
	 * pty: run on a new PTY sized like stdin's terminal (24x80 when stdin is none), with stdin
	 * in raw mode while it runs when it is a terminal, and SIGWINCH forwarded as a resize.
	 * stdin: forward our stdin to the command (else it reads /dev/null).
	 */
	bool pty, stdin;
};

/*
 * Run cmd on c (whose timeout_ms should be -1: a command may run for long) and return the status
 * for our own exit: the command's exit code, 128+n when signal n ended it, 127/126 when it could
 * not be found or run, CLI_FAILURE when the connection failed. SIGTERM and SIGHUP (and SIGINT
 * without a PTY, where ^C is not a byte on the terminal) are forwarded to the command. The
 * terminal is restored before returning. Messages go to stderr.
 */
int session_exec(struct agent_client *c, const struct session_cmd *cmd);

#endif
