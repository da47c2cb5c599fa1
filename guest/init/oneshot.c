/* One-shot mode: run the program from flint.run=, report its exit status, then power off. */
#include "oneshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "flint_port.h"
#include "child.h"
#include "console.h"
#include "main.h"
#include "port.h"
#include "power.h"

static char oneshot_buf[CMDLINE_RUN_MAX];
static char *oneshot_argv[CMDLINE_MAX_ARGS + 1];
static pid_t oneshot_pid = -1;
static int oneshot_out = -1; /* the raw tty as PID 1; -1: inherited stdio (test mode) */
static bool oneshot_pid1;

/* Errors go where the program's stderr would: the user reads them there, as from a shell. */
static void oneshot_complain(const char *what, const char *why)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "%s: %s: %s\n", INIT_NAME, what, why);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	console_write(oneshot_out >= 0 ? oneshot_out : STDERR_FILENO, line, (size_t)n);
}

static int oneshot_finish(int status)
{
	/*
	 * The program is what the VM exists for: once it is gone, whatever it
	 * left behind is killed at once, as a container's processes are when its
	 * PID 1 dies. It also bounds the tcdrain below, which an orphan still
	 * writing to the tty could otherwise stretch without end.
	 */
	if (oneshot_pid > 0)
		power_kill(SIGKILL);
	/* Flush the scratch disk before the VMM tears the VM down; a host sync would be global. */
	if (oneshot_pid1)
		sync();
	/* The VMM ends the VM on EXIT: every output byte must have left the UART first. */
	if (oneshot_out >= 0)
		tcdrain(oneshot_out);
	port_report(FLINT_EV_EXIT, (unsigned)status);
	return status;
}

int oneshot_start(struct cmdline_value run, bool pid1)
{
	struct child_stdio io = { -1, -1, -1 };
	const char *err = NULL;

	oneshot_pid1 = pid1;
	if (pid1) {
		oneshot_out = console_open_raw(ONESHOT_OUT_TTY);
		if (oneshot_out < 0)
			console_log("%s: %s; program output goes to the console", ONESHOT_OUT_TTY,
				    strerror(errno));
	}
	if (cmdline_decode_run(run.ptr, run.len, oneshot_buf, sizeof(oneshot_buf), oneshot_argv,
			       CMDLINE_MAX_ARGS, &err) < 0) {
		oneshot_complain("flint.run", err);
		return oneshot_finish(INIT_EXIT_NOTFOUND);
	}
	/* Kept open after the fork: it is O_CLOEXEC, and a close() would be a syscall more. */
	io.in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	io.out = io.err = oneshot_out;
	oneshot_pid = child_spawn(oneshot_argv, &io);
	if (oneshot_pid < 0) {
		oneshot_complain("fork", strerror(errno));
		return oneshot_finish(INIT_EXIT_NOEXEC);
	}
	power_test_scope(oneshot_pid); /* its own session, hence its own process group */
	return -1;
}

int oneshot_reaped(pid_t pid, int wstatus)
{
	if (oneshot_pid <= 0 || pid != oneshot_pid)
		return -1;
	return oneshot_finish(child_status_code(wstatus));
}
