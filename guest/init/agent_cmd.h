/* The command of an EXEC or JOB_START request: ARGV, ENV, CWD, USER, STDIN, PTY, TIMEOUT_MS. */
#ifndef FLINT_INIT_AGENT_CMD_H
#define FLINT_INIT_AGENT_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"

struct conn;

/* A command as requested, ready for spawn_run; argv and envp live in one allocation, `mem`. */
struct cmd {
	char **argv, **envp;
	const char *cwd; /* valid until the next cmd_parse */
	bool cwd_default, want_stdin, pty;
	bool sandbox;  /* USER sandbox: its home is the default cwd */
	bool drop;     /* run as uid:gid below instead of root */
	const char *home; /* the HOME default */
	uid_t uid;
	gid_t gid;
	uint32_t rows, cols;
	uint64_t timeout_ms;
	void *mem;
};

/*
 * Decode and check the command of f; with `interactive` (EXEC) also STDIN and the PTY size.
 * The environment is PATH, HOME and TERM (xterm-256color on a PTY, else dumb) unless ENV sets
 * them, plus ENV. 0, or -1 after answering ERROR.
 */
int cmd_parse(struct conn *c, const struct agent_frame *f, bool interactive, struct cmd *cmd);
void cmd_free(struct cmd *cmd);

#endif
