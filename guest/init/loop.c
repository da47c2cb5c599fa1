/* The PID 1 event loop: poll() over a few fds (the signalfd now, the agent's sockets later). */
#include "loop.h"

#include <poll.h>
#include <stddef.h>

/*
 * poll() rather than epoll: PID 1 watches a handful of fds, and poll needs
 * no setup syscalls at boot (epoll_create1 + epoll_ctl per fd).
 */
#define LOOP_MAX 16

struct loop_source {
	loop_handler fn;
	void *ctx;
};

static struct pollfd loop_fds[LOOP_MAX];
static struct loop_source loop_sources[LOOP_MAX];
static int loop_count;

int loop_add(int fd, short events, loop_handler fn, void *ctx)
{
	if (loop_count == LOOP_MAX)
		return -1;
	loop_fds[loop_count] = (struct pollfd){ .fd = fd, .events = events };
	loop_sources[loop_count] = (struct loop_source){ .fn = fn, .ctx = ctx };
	loop_count++;
	return 0;
}

void loop_remove(int fd)
{
	int i;

	for (i = 0; i < loop_count; i++) {
		if (loop_fds[i].fd != fd)
			continue;
		/* Mark rather than compact: loop_run_once may be iterating. */
		loop_fds[i].fd = -1;
		loop_fds[i].revents = 0;
	}
}

static void loop_compact(void)
{
	int i, j = 0;

	for (i = 0; i < loop_count; i++) {
		if (loop_fds[i].fd < 0)
			continue;
		loop_fds[j] = loop_fds[i];
		loop_sources[j] = loop_sources[i];
		j++;
	}
	loop_count = j;
}

void loop_run_once(int timeout_ms)
{
	int i, n;

	loop_compact();
	/* Every signal is blocked, so poll() cannot fail with EINTR. */
	n = poll(loop_fds, (nfds_t)loop_count, timeout_ms);
	for (i = 0; n > 0 && i < loop_count; i++) {
		short rev = loop_fds[i].revents;

		if (rev == 0 || loop_fds[i].fd < 0)
			continue;
		n--;
		loop_sources[i].fn(loop_fds[i].fd, rev, loop_sources[i].ctx);
	}
}
