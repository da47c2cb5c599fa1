/* One command on an agent connection with this terminal's stdio: PTY, raw mode, resize, signals. */
#include "session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

/* The connection the signal handlers forward to, while session_exec runs. */
static struct agent_client *volatile live;
static struct termios saved_tty;
static bool tty_raw;

static void tty_restore(void)
{
	if (tty_raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_raw = false;
}

static void window_size(unsigned *rows, unsigned *cols)
{
	struct winsize ws;
	*rows = 24;
	*cols = 80;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void on_winch(int sig)
{
	(void)sig;
	int saved = errno;
	unsigned rows, cols;
	window_size(&rows, &cols);
	struct agent_client *c = live;
	if (c)
		agent_client_exec_resize(c, rows, cols);
	errno = saved;
}

static void on_terminate(int sig)
{
	struct agent_client *c = live;
	if (c)
		agent_client_exec_signal(c, sig);
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

int session_exec(struct agent_client *c, const struct session_cmd *cmd)
{
	struct agent_exec_req req = {
		.argv = (const char *const *)cmd->argv,
		.env = cmd->env,
		.cwd = cmd->cwd,
		.user = cmd->user,
		.timeout_ms = (uint64_t)cmd->timeout_s * 1000,
	};
	live = c;
	if (cmd->pty) {
		window_size(&req.pty_rows, &req.pty_cols);
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
			struct termios raw = saved_tty;
			cfmakeraw(&raw);
			tty_raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
		}
		handle(SIGWINCH, on_winch);
	}
	/* In raw mode ^C travels as a byte to the guest's PTY; these still come from outside. */
	handle(SIGTERM, on_terminate);
	handle(SIGHUP, on_terminate);
	if (!cmd->pty)
		handle(SIGINT, on_terminate);

	struct agent_exec_io io = { .stdout_fd = STDOUT_FILENO,
				    .stderr_fd = STDERR_FILENO,
				    .stdin_fd = cmd->stdin ? STDIN_FILENO : -1 };
	struct agent_exec_result res;
	int r = agent_client_exec(c, &req, &io, &res);
	tty_restore();
	live = NULL;
	const char *name = cmd->argv[0];
	if (r < 0 && res.pid == 0) {
		/* The command never started: answer as a shell would. */
		cli_err("%s: %s", name,
			agent_client_last_error(c)[0] ? agent_client_last_error(c) : strerror(-r));
		return r == -ENOENT ? 127 : r == -EACCES ? 126 : CLI_FAILURE;
	}
	if (r < 0 && r != -EPIPE)
		cli_err("the connection to the VM failed: %s", strerror(-r));
	if (res.reason == AGENT_TIMEOUT)
		cli_err("%s: killed after the %lu s timeout", name, cmd->timeout_s);
	else if (res.reason == AGENT_OOM)
		cli_err("%s: killed by the guest's OOM killer (try a larger --mem)", name);
	if (res.signal)
		return 128 + (int)res.signal;
	if (r < 0 && res.exit_code < 0)
		return CLI_FAILURE;
	return res.exit_code & 0xff;
}
