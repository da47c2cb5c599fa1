/* The console: valid standard fds for PID 1, its log messages, and the raw program-output tty. */
#ifndef FLINT_INIT_CONSOLE_H
#define FLINT_INIT_CONSOLE_H

#include <stddef.h>

/*
 * Make fds 0, 1 and 2 valid. The kernel opens /dev/console for init, but
 * with no console device they are closed, and a later open() would land on
 * 0..2 and be mistaken for stdio. Falls back to /dev/null.
 */
void console_fix_stdio(void);

/* "flint-init: <message>\n" on stderr in one write(); a lost message is not an error. */
void console_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write all of buf to fd, ignoring failures (for messages only). */
void console_write(int fd, const char *buf, size_t len);

/*
 * Open a tty for program output (O_CLOEXEC, never our controlling tty) and
 * make it raw: no ONLCR, so the bytes reach the VMM exactly as written.
 * Returns the fd or -1 with errno set.
 */
int console_open_raw(const char *path);

#endif
