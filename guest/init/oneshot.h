/* One-shot mode: run the program from flint.run=, report its exit status, then power off. */
#ifndef FLINT_INIT_ONESHOT_H
#define FLINT_INIT_ONESHOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "cmdline.h"

/*
 * The program's output channel: the second UART (the VMM's COM2, see
 * guest/kernel-config), so kernel messages on ttyS0 never mix into it. If it
 * cannot be opened, the program inherits PID 1's console instead.
 */
#define ONESHOT_OUT_TTY "/dev/ttyS1"

/*
 * Start the program encoded in a flint.run= value, with stdin /dev/null and
 * PID 1's clean environ. As PID 1 (pid1) its stdout and stderr are
 * ONESHOT_OUT_TTY in raw mode; in host test mode they are inherited. If the
 * value is malformed or fork fails, says why on the program's stderr,
 * reports EXIT 127/126 and returns that status; otherwise returns -1 and
 * the status comes later from oneshot_reaped().
 */
int oneshot_start(struct cmdline_value run, bool pid1);

/*
 * For every reaped child. When it is the program: SIGKILL what it left
 * behind, sync(), drain the output tty, report EXIT with its status and
 * return that status (0..255). Any other pid: -1.
 */
int oneshot_reaped(pid_t pid, int wstatus);

#endif
