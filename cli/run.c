/* flint run (direct mode): boot a fresh VM, run one command through the agent, destroy the VM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../common/agent/client.h"
#include "../host/launch.h"
#include "cli.h"

#define RUN_FAILURE 125 /* flint itself failed, as flint-vmm and docker run say it */
#define ENV_MAX 256

static const char run_usage[] =
	"usage: flint run [options] -- COMMAND [ARG]...\n"
	"\n"
	"Boots a fresh microVM from the base image, runs COMMAND in it with this terminal's\n"
	"stdin, stdout and stderr (a PTY when stdin is a terminal), exits with its status\n"
	"(128+n when signal n killed it; 125 when flint failed), and destroys the VM.\n"
	"\n"
	"  --mem MB          guest memory (default 256)\n"
	"  --cpus N          vCPUs, 1-8 (default 1)\n"
	"  --timeout S       kill the command after S seconds\n"
	"  --env K=V         add to the command's environment (repeatable)\n"
	"  --workdir DIR     the command's working directory (absolute)\n"
	"  --user USER       root (default) or sandbox\n"
	"  -v, --verbose     show the guest kernel's console on stderr\n"
	"\n"
	"FLINT_VMM, FLINT_KERNEL, FLINT_IMAGE override the binaries found beside flint;\n"
	"FLINT_BOOT_TIMEOUT (seconds, default 600) bounds the wait for the VM.\n";

struct run_opts {
	unsigned long mem_mib, cpus, timeout_s;
	const char *env[ENV_MAX + 1];
	unsigned nenv;
	const char *workdir, *user;
	bool verbose;
	char **argv;
};

static struct agent_client client;
static bool client_live;
static struct termios saved_tty;
static bool tty_raw;

static int parse(int argc, char **argv, struct run_opts *o)
{
	*o = (struct run_opts){ .mem_mib = 256, .cpus = 1 };
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(run_usage, stdout);
			return 1;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose = true;
			continue;
		}
		if (a[0] != '-')
			break; /* the command, without a "--" before it */
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			cli_err("run: %s needs a value", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--mem") == 0) {
			if (!cli_parse_uint(v, 32, 256 * 1024, &o->mem_mib)) {
				cli_err("run: --mem %s: give MiB from 32 to 262144", v);
				return -1;
			}
		} else if (strcmp(a, "--cpus") == 0) {
			if (!cli_parse_uint(v, 1, 8, &o->cpus)) {
				cli_err("run: --cpus %s: give a number from 1 to 8", v);
				return -1;
			}
		} else if (strcmp(a, "--timeout") == 0) {
			if (!cli_parse_uint(v, 1, 7 * 24 * 3600, &o->timeout_s)) {
				cli_err("run: --timeout %s: give whole seconds, at least 1", v);
				return -1;
			}
		} else if (strcmp(a, "--env") == 0) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v) {
				cli_err("run: --env %s: give KEY=VALUE", v);
				return -1;
			}
			if (o->nenv == ENV_MAX) {
				cli_err("run: at most %d --env", ENV_MAX);
				return -1;
			}
			o->env[o->nenv++] = v;
		} else if (strcmp(a, "--workdir") == 0) {
			if (v[0] != '/') {
				cli_err("run: --workdir %s: give an absolute path", v);
				return -1;
			}
			o->workdir = v;
		} else if (strcmp(a, "--user") == 0) {
			if (strcmp(v, "root") != 0 && strcmp(v, "sandbox") != 0) {
				cli_err("run: --user %s: give root or sandbox", v);
				return -1;
			}
			o->user = v;
		} else {
			cli_err("run: unknown option '%s' (flint run --help lists them)", a);
			return -1;
		}
	}
	if (i >= argc) {
		cli_err("run: no command given (flint run [options] -- COMMAND [ARG]...)");
		return -1;
	}
	o->argv = argv + i;
	return 0;
}

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
	unsigned rows, cols;
	window_size(&rows, &cols);
	if (client_live)
		agent_client_exec_resize(&client, rows, cols);
}

static void on_terminate(int sig)
{
	if (client_live)
		agent_client_exec_signal(&client, sig);
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Run the command on an agent connection; returns flint run's exit status. */
static int run_command(const struct run_opts *o)
{
	bool pty = isatty(STDIN_FILENO);
	struct agent_exec_req req = {
		.argv = (const char *const *)o->argv,
		.env = o->nenv ? o->env : NULL,
		.cwd = o->workdir,
		.user = o->user,
		.timeout_ms = (uint64_t)o->timeout_s * 1000,
	};
	if (pty) {
		window_size(&req.pty_rows, &req.pty_cols);
		if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
			struct termios raw = saved_tty;
			cfmakeraw(&raw);
			tty_raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
		}
		handle(SIGWINCH, on_winch);
	}
	/* In raw mode ^C travels as a byte to the guest's PTY; these still come from outside. */
	handle(SIGTERM, on_terminate);
	handle(SIGHUP, on_terminate);
	if (!pty)
		handle(SIGINT, on_terminate);

	struct agent_exec_io io = { .stdout_fd = STDOUT_FILENO,
				    .stderr_fd = STDERR_FILENO,
				    .stdin_fd = STDIN_FILENO };
	struct agent_exec_result res;
	int r = agent_client_exec(&client, &req, &io, &res);
	tty_restore();
	if (r < 0 && res.pid == 0) {
		/* The command never started: answer as a shell would. */
		cli_err("%s: %s", o->argv[0],
			agent_client_last_error(&client)[0] ? agent_client_last_error(&client) :
							      strerror(-r));
		return r == -ENOENT ? 127 : r == -EACCES ? 126 : RUN_FAILURE;
	}
	if (r < 0 && r != -EPIPE)
		cli_err("the connection to the VM failed: %s", strerror(-r));
	if (res.reason == AGENT_TIMEOUT)
		cli_err("%s: killed after the %lu s timeout", o->argv[0], o->timeout_s);
	else if (res.reason == AGENT_OOM)
		cli_err("%s: killed by the guest's OOM killer (try a larger --mem)", o->argv[0]);
	if (res.signal)
		return 128 + (int)res.signal;
	if (r < 0 && res.exit_code < 0)
		return RUN_FAILURE;
	return res.exit_code & 0xff;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int r = parse(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : RUN_FAILURE;
	signal(SIGPIPE, SIG_IGN);

	struct launch_opts lo = { .mem_mib = (unsigned)o.mem_mib,
				  .cpus = (unsigned)o.cpus,
				  .verbose = o.verbose };
	launch_default_paths(&lo, cli_argv0);
	unsigned long boot_s = 600;
	const char *bt = getenv("FLINT_BOOT_TIMEOUT");
	if (bt && !cli_parse_uint(bt, 1, 86400, &boot_s)) {
		cli_err("FLINT_BOOT_TIMEOUT=%s: give whole seconds", bt);
		return RUN_FAILURE;
	}

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct launch l;
	int status = RUN_FAILURE;
	if (launch_start(&l, &lo) < 0)
		goto out;
	cli_progress("booting a microVM (%lu MiB, %lu vCPU)", o.mem_mib, o.cpus);
	int fd = launch_wait_ready(&l, (int)(boot_s * 1000));
	if (fd < 0)
		goto out;
	if (agent_client_init(&client, fd, "flint", 30000) < 0) {
		cli_err("the agent did not answer: %s", agent_client_last_error(&client));
		goto out;
	}
	client_live = true;
	cli_progress("ready in %.3f s", seconds_since(&t0));
	client.timeout_ms = -1;
	status = run_command(&o);
	client_live = false;
	agent_client_destroy(&client);
out:
	launch_stop(&l, 2000);
	return status;
}
