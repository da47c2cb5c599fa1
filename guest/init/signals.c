/* Signals the tini way: PID 1 blocks them all and reads them from a signalfd. */
#include "signals.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * musl's signal() refuses the signals it reserves (32-34), yet a host shell can hand them
 * to us ignored, and SIG_IGN survives exec into every program we start. The kernel's own
 * sigaction takes any signal.
 */
static void default_disposition(int sig)
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} k = { SIG_DFL, 0, NULL, 0 };

	if (signal(sig, SIG_DFL) == SIG_ERR)
		syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
}

int signals_take_all(bool reset_dispositions)
{
	sigset_t all;
	int sig;

	if (reset_dispositions) {
		/* Fails harmlessly for SIGKILL and SIGSTOP. */
		for (sig = 1; sig < _NSIG; sig++)
			default_disposition(sig);
	}
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) != 0)
		return -1;
	return signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
}

void signals_release(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
