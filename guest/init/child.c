/* Starting a program from PID 1 and turning its wait status into a shell-style exit code. */
#include "child.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flint_port.h"
#include "console.h"
#include "main.h"
#include "port.h"
#include "signals.h"

static void child_stdio_setup(const struct child_stdio *io)
{
	/* dup2 clears FD_CLOEXEC on the copy; the originals close at exec. */
	if (io->in >= 0)
		dup2(io->in, STDIN_FILENO);
	if (io->out >= 0)
		dup2(io->out, STDOUT_FILENO);
	if (io->err >= 0)
		dup2(io->err, STDERR_FILENO);
}

static _Noreturn void child_exec(char *const argv[], const struct child_stdio *io)
{
	int err;

	signals_release();
	setsid();
	child_stdio_setup(io);
	/*
	 * Reported from the child, right before the exec (and its PATH search):
	 * the closest point to "the program starts" PID 1 can mark. The port
	 * access inherited from PID 1 stays with the program; dropping it would
	 * cost a syscall and protect nothing, since the program runs as root and
	 * could call ioperm() itself. The VMM must treat port events as guest
	 * input, not as proof.
	 */
	port_report(FLINT_EV_PROGRAM, 0);
	execvp(argv[0], argv);
	err = errno;
	console_log("%s: %s", argv[0], strerror(err));
	_exit(err == ENOENT || err == ENOTDIR ? INIT_EXIT_NOTFOUND : INIT_EXIT_NOEXEC);
}

pid_t child_spawn(char *const argv[], const struct child_stdio *io)
{
	pid_t pid = fork();

	if (pid == 0)
		child_exec(argv, io);
	return pid;
}

int child_status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return INIT_EXIT_SIGNAL_BASE + WTERMSIG(wstatus);
	return 255; /* stopped/continued are not reported: WUNTRACED is never used */
}
