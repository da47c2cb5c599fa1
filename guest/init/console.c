/* The console: valid standard fds for PID 1, its log messages, and the raw program-output tty. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#include "main.h"

void console_fix_stdio(void)
{
	int fd, i;

	/* The kernel mounted devtmpfs on /dev before running us (DEVTMPFS_MOUNT). */
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return; /* nothing to open: messages are lost, programs still run */
	/* open() takes the lowest free fd: above 2 means all three were there. */
	if (fd > 2) {
		close(fd);
		return;
	}
	for (i = 0; i < 3; i++) {
		if (i == fd)
			fcntl(fd, F_SETFD, 0); /* stdio must survive exec */
		else if (fcntl(i, F_GETFD) < 0 && errno == EBADF)
			dup2(fd, i); /* dup2 leaves the copy without FD_CLOEXEC */
	}
}

void console_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void console_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n, m;

	n = snprintf(buf, sizeof(buf), "%s: ", INIT_NAME);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2; /* truncated: still end the line */
	buf[n++] = '\n';
	console_write(STDERR_FILENO, buf, (size_t)n);
}

int console_open_raw(const char *path)
{
	struct termios t;
	int fd;

	fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Not a tty (a file or pipe in tests): bytes pass unchanged anyway. */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}
