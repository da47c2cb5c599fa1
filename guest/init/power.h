/* Shutting the VM down: stop every process, flush, then power off or reboot. */
#ifndef FLINT_INIT_POWER_H
#define FLINT_INIT_POWER_H

#include <stdbool.h>
#include <sys/types.h>

enum power_action {
	POWER_OFF,    /* busybox poweroff (SIGUSR2) and halt (SIGUSR1): a halted VM is of no use */
	POWER_REBOOT, /* busybox reboot (SIGTERM) */
};

/*
 * As PID 1 (test false) shutdown signals every process with kill(-1). In
 * host test mode it signals nothing until power_test_scope() names the
 * program's process group (never kill(-1) on a host), skips sync() (it would
 * flush the whole host) and exits instead of calling reboot(). Until this is
 * called, nothing is signalled.
 */
void power_init(bool test);

/* Test mode: from now on signal process group pgid. Ignored as PID 1. */
void power_test_scope(pid_t pgid);

/* Send sig to every process PID 1 may end (the test scope in test mode). */
void power_kill(int sig);

/*
 * SIGTERM and SIGCONT to all, reap until no child is left or one second has
 * passed, then SIGKILL and reap for at most half a second more; sync();
 * reboot(). In test mode: report POWEROFF/REBOOT as a text event and exit
 * with test_status. Never returns.
 */
_Noreturn void power_shutdown(enum power_action act, int test_status);

#endif
