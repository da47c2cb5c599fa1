/* Signals the tini way: PID 1 blocks them all and reads them from a signalfd. */
#ifndef FLINT_INIT_SIGNALS_H
#define FLINT_INIT_SIGNALS_H

#include <stdbool.h>

/*
 * Block every signal and return a non-blocking signalfd that delivers them
 * (or -1). Blocked signals are queued even for PID 1, which the kernel
 * otherwise shields from signals it has no handler for. With
 * reset_dispositions, first return every disposition to SIG_DFL: a host
 * shell may have left some at SIG_IGN, which children would inherit across
 * exec. The kernel starts PID 1 with all SIG_DFL, so the guest skips this.
 */
int signals_take_all(bool reset_dispositions);

/*
 * In a forked child, before exec: give back the empty mask. Dispositions
 * need nothing: PID 1 never installs handlers or SIG_IGN, and exec resets
 * handlers anyway.
 */
void signals_release(void);

#endif
