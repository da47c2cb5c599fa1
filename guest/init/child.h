/* Starting a program from PID 1 and turning its wait status into a shell-style exit code. */
#ifndef FLINT_INIT_CHILD_H
#define FLINT_INIT_CHILD_H

#include <sys/types.h>

/* The fds a child gets as 0, 1 and 2; -1 keeps the one inherited from PID 1. */
struct child_stdio {
	int in, out, err;
};

/*
 * fork, then in the child: default signal mask, a new session (so its group
 * can be signalled as one), the given stdio, FLINT_EV_PROGRAM on the port,
 * and execvp with PID 1's environ. If exec fails the child prints why on its
 * stderr and exits 127 (not found) or 126 (anything else), as a shell does.
 * Returns the child's pid, or -1 if fork failed.
 */
pid_t child_spawn(char *const argv[], const struct child_stdio *io);

/* Exit code for a wait status: the code itself, or 128 + signal number. */
int child_status_code(int wstatus);

#endif
