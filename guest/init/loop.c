/* The PID 1 event loop: epoll over the signalfd and the agent's sockets, pipes and PTYs. */
#include "loop.h"

#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>

/*
 * epoll rather than poll: the agent watches up to a few hundred fds (connections, every
 * exec's and job's pipes), most of them idle. Edge-triggered registration is done once per
 * fd, so pausing a stream for backpressure needs no epoll_ctl: the owner keeps a "readable"
 * flag and simply stops reading.
 */
#define LOOP_BATCH 64

/*
 * Indexed by fd. The generation travels in the event's data, so an event fetched for an fd
 * that was removed (and perhaps reused) by an earlier handler of the same batch is dropped.
 */
struct loop_source {
	loop_handler fn;
	void *ctx;
	uint32_t gen;
};

static struct loop_source loop_src[LOOP_MAX_FD];
static int loop_epfd = -1;

int loop_add(int fd, uint32_t events, loop_handler fn, void *ctx)
{
	struct epoll_event ev;
	struct loop_source *s;

	if (fd < 0 || fd >= LOOP_MAX_FD) {
		errno = EMFILE;
		return -1;
	}
	if (loop_epfd < 0) {
		loop_epfd = epoll_create1(EPOLL_CLOEXEC);
		if (loop_epfd < 0)
			return -1;
	}
	s = &loop_src[fd];
	s->gen++;
	ev.events = events;
	ev.data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		s->fn = NULL;
		return -1;
	}
	s->fn = fn;
	s->ctx = ctx;
	return 0;
}

void loop_remove(int fd)
{
	if (fd < 0 || fd >= LOOP_MAX_FD)
		return;
	loop_src[fd].gen++;
	loop_src[fd].fn = NULL;
	loop_src[fd].ctx = NULL;
}

void loop_run_once(int timeout_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int i, n;

	if (loop_epfd < 0)
		return;
	/* Every signal is blocked (they come through the signalfd): no EINTR. */
	n = epoll_wait(loop_epfd, ev, LOOP_BATCH, timeout_ms);
	for (i = 0; i < n; i++) {
		int fd = (int)(uint32_t)ev[i].data.u64;
		uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
		struct loop_source *s = &loop_src[fd];

		if (s->fn && s->gen == gen)
			s->fn(fd, ev[i].events, s->ctx);
	}
}
