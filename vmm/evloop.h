/* The device event loop: one epoll set, one thread, callbacks per fd. */
#ifndef FLINT_EVLOOP_H
#define FLINT_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef void (*evloop_fn)(void *arg, uint32_t events);

struct evloop_entry {
	int fd;
	evloop_fn fn;
	void *arg;
};

#define EVLOOP_MAX 128

struct evloop {
	int epfd;
	int stop_fd; /* eventfd: evloop_stop wakes the loop from any thread */
	volatile bool stopping;
	struct evloop_entry entries[EVLOOP_MAX];
};

int evloop_init(struct evloop *l);
void evloop_destroy(struct evloop *l);
/* Watch fd for events (EPOLLIN, ...). The loop does not own fd. 0 or -errno. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *arg);
int evloop_del(struct evloop *l, int fd);
/* Dispatch until evloop_stop. Returns 0, or -errno if epoll fails. */
int evloop_run(struct evloop *l);
/* Async-signal-safe and thread-safe. */
void evloop_stop(struct evloop *l);

#endif
