/* libslirp inside flint-vmm: loaded on demand, its sockets and timers driven from one epoll set. */
#ifndef FLINT_NET_SLIRP_H
#define FLINT_NET_SLIRP_H

#include <slirp/libslirp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"

#define SLIRP_TIMERS_MAX 4u
/* epoll tags: slirp's sockets are tagged with their fd; the loop's own things above 2^32. */
#define SLIRP_TAG_TIMER (1ull << 32)
#define SLIRP_TAG_USER (2ull << 32) /* first tag free for the caller's fds */

/* A frame slirp sends to the guest. */
typedef void (*slirp_frame_fn)(void *ctx, const uint8_t *frame, size_t len);
/* An event on one of the caller's fds in the set (tag >= SLIRP_TAG_USER). */
typedef void (*slirp_other_fn)(void *ctx, uint64_t tag);

struct slirp_fdslot {
	uint32_t reg;  /* events registered in the epoll set; 0: not registered */
	uint32_t want; /* events slirp asked for in the current fill */
	uint32_t gen;  /* the fill that asked */
	uint32_t revents;
};

struct slirp_timer {
	bool used;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct slirp_loop {
	Slirp *slirp;
	int epfd;    /* the one fd the event loop watches */
	int timerfd; /* slirp's timers and its TCP ticks */
	slirp_frame_fn frame;
	void *ctx;
	struct {
		int fd;
		int events;
	} *polls; /* the last fill: index -> (fd, SLIRP_POLL_*) */
	unsigned npolls, cap_polls;
	struct slirp_fdslot *fds; /* by fd */
	int nfds;
	uint32_t gen;
	bool paused, dirty, started;
	uint64_t active_until_ms; /* slirp's TCP tick runs until then (traffic + a grace) */
	uint64_t armed_ms;	  /* the timerfd's deadline; 0: none */
	struct slirp_timer timers[SLIRP_TIMERS_MAX];
};

/* CLOCK_MONOTONIC in milliseconds, slirp's clock too. */
uint64_t slirp_loop_now_ms(void);

/*
 * Load libslirp (once per process) and start an instance with cfg; frames for the guest go to
 * frame(ctx, ...). Reading is paused until slirp_loop_pause(l, false). 0, or -errno after one
 * message; slirp_loop_destroy is safe after a failure.
 */
int slirp_loop_init(struct slirp_loop *l, const SlirpConfig *cfg, slirp_frame_fn frame, void *ctx);
void slirp_loop_destroy(struct slirp_loop *l);

/* A forwarded port (before slirp_loop_start). 0, or -errno after one message. */
int slirp_loop_hostfwd(struct slirp_loop *l, const struct net_fwd *f, uint32_t guest);
/* Setup is over: watch what slirp waits for. */
void slirp_loop_start(struct slirp_loop *l);

/* Add a caller's fd to the epoll set, reported to slirp_loop_process's other() as tag. */
int slirp_loop_watch(struct slirp_loop *l, int fd, uint64_t tag);

/* A guest frame for slirp. Call slirp_loop_flush after a batch. */
void slirp_loop_input(struct slirp_loop *l, const uint8_t *frame, size_t len);
/* After inputs: bring the epoll set and the timer in line with what slirp now waits for. */
void slirp_loop_flush(struct slirp_loop *l);
/* Stop (true) or resume reading slirp's sockets. */
void slirp_loop_pause(struct slirp_loop *l, bool paused);
/* The epoll set is readable: run slirp's due timers and ready sockets; other() gets the rest. */
void slirp_loop_process(struct slirp_loop *l, slirp_other_fn other, void *ctx);

#endif
