/* flint-init: PID 1 of a flint microVM. Boots userspace, then lives in its event loop. */
#include "main.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flint_port.h"
#include "agent/proto.h"
#include "agent.h"
#include "cmdline.h"
#include "console.h"
#include "loop.h"
#include "mounts.h"
#include "net.h"
#include "oneshot.h"
#include "port.h"
#include "power.h"
#include "signals.h"

/* What every child starts with: small and predictable, nothing inherited from the kernel. */
static char *main_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=linux",
	NULL,
};

static char main_cmdline[CMDLINE_MAX];

/* Reap every zombie, orphans included; the one-shot program's end powers off. */
static void main_reap(void)
{
	pid_t pid;
	int st, status;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		status = oneshot_reaped(pid, st);
		if (status >= 0)
			power_shutdown(POWER_OFF, status);
		agent_reaped(pid, st);
	}
}

/*
 * busybox's poweroff, halt and reboot signal PID 1 with SIGUSR2, SIGUSR1 and
 * SIGTERM. Everything else is ignored: PID 1 forwards nothing and never dies.
 */
static void main_handle(const int *signos, size_t n)
{
	bool chld = false, power = false;
	enum power_action act = POWER_OFF;
	size_t i;

	for (i = 0; i < n; i++) {
		switch (signos[i]) {
		case SIGCHLD:
			chld = true;
			break;
		case SIGUSR1:
		case SIGUSR2:
			power = true;
			act = POWER_OFF;
			break;
		case SIGTERM:
			power = true;
			act = POWER_REBOOT;
			break;
		default:
			break;
		}
	}
	/* Reap first: a program exit reported now beats a shutdown request in the same batch. */
	if (chld)
		main_reap();
	if (power) {
		agent_stop();
		power_shutdown(act, 0);
	}
}

static void main_on_signalfd(int fd, uint32_t revents, void *ctx)
{
	struct signalfd_siginfo si[16];
	int signos[16];
	size_t i, n;
	ssize_t got;

	(void)revents;
	(void)ctx;
	/* Standard signals coalesce, so one read usually drains the queue; poll tells us if not. */
	got = read(fd, si, sizeof(si));
	if (got <= 0)
		return;
	n = (size_t)got / sizeof(si[0]);
	for (i = 0; i < n; i++)
		signos[i] = (int)si[i].ssi_signo;
	main_handle(signos, n);
}

/* Without a signalfd (it cannot fail on our kernel, but PID 1 must not give up): wait inline. */
static _Noreturn void main_sigwait_forever(void)
{
	sigset_t all;

	sigfillset(&all);
	for (;;) {
		int sig = sigwaitinfo(&all, NULL);

		if (sig > 0)
			main_handle(&sig, 1);
	}
}

static size_t main_read_proc_cmdline(void)
{
	ssize_t n;
	int fd;

	if (mounts_proc() != 0)
		return 0;
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* One read: /proc/cmdline is a single line of at most COMMAND_LINE_SIZE. */
	n = read(fd, main_cmdline, sizeof(main_cmdline) - 1);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/* Boot as the VM's PID 1; returns the length of the kernel command line. */
static size_t main_boot_pid1(void)
{
	int port_err = port_open(); /* first: FLINT_EV_PID1 is the boot-trace marker */
	struct cmdline_value v, iv;
	char scratch[64], image[64];
	size_t len;
	int rootro;

	console_fix_stdio();
	if (port_err)
		console_log("ioperm: %s; the VMM gets no events", strerror(port_err));
	power_init(false);
	len = main_read_proc_cmdline();
	v = cmdline_find(main_cmdline, len, INIT_CMDLINE_SCRATCH);
	if (v.found && !cmdline_value_copy(v, scratch, sizeof(scratch))) {
		console_log("%s: unusable value, ignored", INIT_CMDLINE_SCRATCH);
		v.found = false;
	}
	iv = cmdline_find(main_cmdline, len, INIT_CMDLINE_IMAGE);
	if (iv.found && !cmdline_value_copy(iv, image, sizeof(image))) {
		/* Not ignored: running on the boot disk instead of the image would be a lie. */
		console_log("%s: unusable value: stopping", INIT_CMDLINE_IMAGE);
		power_shutdown(POWER_OFF, 1);
	}
	rootro = cmdline_bool(cmdline_find(main_cmdline, len, INIT_CMDLINE_ROOTRO));
	if (rootro < 0)
		console_log("%s: unreadable value, taken as 1 (read-only root)", INIT_CMDLINE_ROOTRO);
	if (mounts_setup(v.found ? scratch : NULL, iv.found ? image : NULL, rootro != 0) != 0)
		power_shutdown(POWER_OFF, 1);
	net_setup(main_cmdline, len);
	return len;
}

/*
 * Host test mode: no mounts, no port, no reboot. The command line comes from
 * $FLINT_TEST_CMDLINE and events are printed on stdout. As a child
 * subreaper, orphans are reparented to us as they would be to PID 1.
 */
static size_t main_boot_test(void)
{
	const char *cmdline = getenv(INIT_TEST_CMDLINE_ENV);
	size_t len = cmdline ? strlen(cmdline) : 0;

	port_use_text(STDOUT_FILENO);
	power_init(true);
	if (len >= sizeof(main_cmdline)) {
		console_log("%s: longer than %zu bytes", INIT_TEST_CMDLINE_ENV, sizeof(main_cmdline) - 1);
		exit(2);
	}
	if (len > 0)
		memcpy(main_cmdline, cmdline, len);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		console_log("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	/* As PID 1 the switch of root leaves us in "/" already. */
	if (chdir("/") != 0)
		console_log("chdir /: %s", strerror(errno));
	return len;
}

/*
 * Host test mode of the agent: like main_boot_test without a command line, and with fds 0..2
 * made valid, since commands get theirs by dup2 over them (console_fix_stdio is for PID 1).
 */
static void main_boot_agent_test(void)
{
	int i;

	power_init(true);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		console_log("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (chdir("/") != 0)
		console_log("chdir /: %s", strerror(errno));
	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR | O_CLOEXEC) != i)
			exit(2);
}

static int main_usage(void)
{
	fprintf(stderr,
		"usage: %s must run as PID 1, or (host tests, not as PID 1): %s %s\n"
		"       or (host tests): %s %s PATH [%s PATH]\n",
		INIT_NAME, INIT_NAME, INIT_TEST_FLAG, INIT_NAME, INIT_AGENT_UNIX_FLAG,
		INIT_READY_UNIX_FLAG);
	return 2;
}

int main(int argc, char **argv)
{
	bool pid1 = getpid() == 1;
	const char *agent_path = NULL, *ready_path = NULL;
	struct cmdline_value run = { NULL, 0, false };
	size_t len = 0;
	int sigfd, status, r;

	bool oneshot_test = argc == 2 && strcmp(argv[1], INIT_TEST_FLAG) == 0;
	bool agent_test = argc > 2 && strcmp(argv[1], INIT_AGENT_UNIX_FLAG) == 0;

	if (agent_test) {
		agent_path = argv[2];
		if (argc == 5 && strcmp(argv[3], INIT_READY_UNIX_FLAG) == 0)
			ready_path = argv[4];
		else if (argc != 3)
			return main_usage();
	}
	/*
	 * Outside a VM, PID 1 mode would mount over the root, write to an I/O
	 * port, set the hostname and kill(-1): only a PID 1 without a test
	 * flag gets it. A one-shot test run that ended up as PID 1 (a container,
	 * `unshare --fork` straight into us) is refused as well. The agent's
	 * host mode does none of that whatever its pid, so it may be the PID 1
	 * of a PID namespace (tools/bench-agent runs it so).
	 */
	if (pid1 ? oneshot_test : !oneshot_test && !agent_test)
		return main_usage();
	if (agent_test)
		main_boot_agent_test();
	else
		len = pid1 ? main_boot_pid1() : main_boot_test();
	/* Dispositions from a host shell (SIG_IGN survives exec) are reset outside a VM. */
	sigfd = signals_take_all(!pid1 || agent_test);
	if (sigfd < 0)
		console_log("signalfd: %s", strerror(errno));
	environ = main_env;

	if (!agent_test)
		run = cmdline_find(main_cmdline, len, FLINT_CMDLINE_RUN);
	if (run.found) {
		status = oneshot_start(run, pid1);
		if (status >= 0)
			power_shutdown(POWER_OFF, status);
	} else if (agent_test) {
		r = agent_start_unix(agent_path, ready_path);
		if (r < 0) {
			console_log("agent on %s: %s", agent_path, strerror(-r));
			return 2;
		}
	} else if (!pid1) {
		console_log("%s has no %s", INIT_TEST_CMDLINE_ENV, FLINT_CMDLINE_RUN);
		return 2;
	} else {
		/* No program to run: the VM is there to be driven by the host, through the agent. */
		r = agent_start_vsock();
		if (r < 0)
			console_log("agent: vsock port %u: %s", AGENT_VSOCK_PORT, strerror(-r));
	}
	/* Everything happens from here: signals, and the agent's connections and commands. */
	if (sigfd < 0 || loop_add(sigfd, EPOLLIN, main_on_signalfd, NULL) != 0)
		main_sigwait_forever();
	for (;;) {
		loop_run_once(agent_timeout_ms());
		agent_tick();
	}
}
