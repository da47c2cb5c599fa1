/* Signals the tini way: PID 1 blocks them all and reads them from a signalfd. */
#include "signals.h"

#include <signal.h>
#include <stddef.h>
#include <sys/signalfd.h>

int signals_take_all(bool reset_dispositions)
{
	sigset_t all;
	int sig;

	if (reset_dispositions) {
		for (sig = 1; sig < _NSIG; sig++) {
			/* Fails harmlessly for SIGKILL, SIGSTOP and libc-reserved signals. */
			signal(sig, SIG_DFL);
		}
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
