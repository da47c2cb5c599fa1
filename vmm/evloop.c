/* The device event loop: every fd the VMM waits on, dispatched from one epoll set. */
#include "evloop.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

static void stop_fn(void *arg, uint32_t events)
{
	struct evloop *l = arg;
	uint64_t v;
	(void)events;
	if (read(l->stop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("event loop: reading the stop eventfd: %s", strerror(errno));
	l->stopping = true;
}

int evloop_init(struct evloop *l)
{
	memset(l, 0, sizeof(*l));
	l->stop_fd = -1;
	for (unsigned i = 0; i < EVLOOP_MAX; i++)
		l->entries[i].fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		log_err("epoll_create1: %s", strerror(e));
		return -e;
	}
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0) {
		int e = errno;
		log_err("eventfd: %s", strerror(e));
		evloop_destroy(l);
		return -e;
	}
	int r = evloop_add(l, l->stop_fd, EPOLLIN, stop_fn, l);
	if (r < 0)
		evloop_destroy(l);
	return r;
}

void evloop_destroy(struct evloop *l)
{
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->stop_fd = l->epfd = -1;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *arg)
{
	unsigned i;
	for (i = 0; i < EVLOOP_MAX; i++)
		if (l->entries[i].fd < 0)
			break;
	if (i == EVLOOP_MAX) {
		log_err("event loop: more than %u file descriptors", EVLOOP_MAX);
		return -ENOSPC;
	}
	struct epoll_event ev = { .events = events, .data.ptr = &l->entries[i] };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		log_err("epoll_ctl(ADD, fd %d): %s", fd, strerror(e));
		return -e;
	}
	l->entries[i] = (struct evloop_entry){ .fd = fd, .fn = fn, .arg = arg };
	return 0;
}

int evloop_del(struct evloop *l, int fd)
{
	for (unsigned i = 0; i < EVLOOP_MAX; i++) {
		if (l->entries[i].fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->entries[i].fd = -1;
		return 0;
	}
	return -ENOENT;
}

int evloop_run(struct evloop *l)
{
	struct epoll_event evs[32];
	while (!l->stopping) {
		int n = epoll_wait(l->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			log_err("epoll_wait: %s", strerror(e));
			return -e;
		}
		for (int i = 0; i < n && !l->stopping; i++) {
			struct evloop_entry *en = evs[i].data.ptr;
			/* An earlier callback in this batch may have removed this fd. */
			if (en->fd >= 0)
				en->fn(en->arg, evs[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *l)
{
	uint64_t one = 1;
	l->stopping = true;
	/* write(2) is async-signal-safe; EAGAIN means a wakeup is already pending. */
	ssize_t r = write(l->stop_fd, &one, sizeof(one));
	(void)r;
}
