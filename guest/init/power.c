/* Shutting the VM down: stop every process, flush, then power off or reboot. */
#include "power.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flint_port.h"
#include "console.h"
#include "port.h"

#define POWER_GRACE_NS 1000000000L /* SIGTERM to SIGKILL, as busybox init */
#define POWER_KILL_NS 500000000L   /* then how long we wait for the SIGKILLed */

static bool power_test = true;
static pid_t power_target; /* kill() target: 0 is nobody, -1 everyone but PID 1 */

void power_init(bool test)
{
	power_test = test;
	power_target = test ? 0 : -1;
}

void power_test_scope(pid_t pgid)
{
	if (power_test && pgid > 0)
		power_target = -pgid;
}

void power_kill(int sig)
{
	if (power_target != 0)
		kill(power_target, sig);
}

static struct timespec power_deadline(long ns)
{
	struct timespec t;

	/* CLOCK_MONOTONIC is a vDSO call: no syscall. */
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ns / 1000000000L;
	t.tv_nsec += ns % 1000000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/*
 * Reap until we have no children left (true) or the deadline passes
 * (false). Waits on SIGCHLD with sigtimedwait, so there is no polling: the
 * signal stays blocked and pending, as everywhere else in PID 1.
 */
static bool power_reap_until(struct timespec deadline)
{
	sigset_t chld;
	int st;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		struct timespec now, left;
		pid_t pid;

		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			;
		if (pid < 0 && errno == ECHILD)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return false;
		if (sigtimedwait(&chld, NULL, &left) < 0 && errno == EAGAIN)
			return false;
	}
}

_Noreturn void power_shutdown(enum power_action act, int test_status)
{
	power_kill(SIGTERM);
	/* A stopped process would sit on its SIGTERM until continued. */
	power_kill(SIGCONT);
	if (!power_reap_until(power_deadline(POWER_GRACE_NS))) {
		power_kill(SIGKILL);
		power_reap_until(power_deadline(POWER_KILL_NS));
	}
	if (power_test) {
		port_report(act == POWER_OFF ? FLINT_EV_POWEROFF : PORT_TEXT_REBOOT, 0);
		_exit(test_status);
	}
	sync();
	/* The patched kernel reports the power-off on the port (FLINT_EV_POWEROFF). */
	reboot(act == POWER_OFF ? RB_POWER_OFF : RB_AUTOBOOT);
	console_log("reboot: %s", strerror(errno));
	/* PID 1 must never exit: that would panic the kernel. */
	for (;;)
		pause();
}
