/*
 * libslirp driven by our event loop: its poll set mirrored into an epoll set (refreshed from
 * slirp_pollfds_fill after every batch), its timers on one timerfd, no polling and no idle tick.
 */
#include "slirp.h"

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "frame.h"

#define EVENTS_MAX 64
/*
 * slirp asks for a call every half second whenever it has any TCP control block, forwarded-port
 * listeners included, so its timeout alone would tick forever. Its timers matter while there is
 * traffic: a held SYN waiting for the guest's ARP answer, retransmissions, FIN and TIME_WAIT. So
 * the tick runs from any socket event or guest frame until a minute after the last one; an idle
 * VM has no timer. A later event catches slirp's timers up at once.
 */
#define TIMER_GRACE_MS 60000u

/*
 * libslirp, and GLib under it, are loaded only for VMs that use them. Linked in, every VM
 * would map and relocate them at exec: milliseconds and megabytes for a feature most VMs
 * do not use. Never unloaded (GLib cannot be).
 */
static struct {
	__typeof__(&slirp_new) new_;
	__typeof__(&slirp_cleanup) cleanup;
	__typeof__(&slirp_pollfds_fill) fill;
	__typeof__(&slirp_pollfds_poll) poll;
	__typeof__(&slirp_input) input;
	__typeof__(&slirp_handle_timer) handle_timer;
	__typeof__(&slirp_add_hostfwd) add_hostfwd;
} sl;

#define LIBSLIRP "libslirp.so.0"

static int slirp_load(void)
{
	static const char *const names[] = { "slirp_new",	   "slirp_cleanup",
					     "slirp_pollfds_fill", "slirp_pollfds_poll",
					     "slirp_input",	   "slirp_handle_timer",
					     "slirp_add_hostfwd" };
	void **slots[] = { (void **)&sl.new_,  (void **)&sl.cleanup, (void **)&sl.fill,
			   (void **)&sl.poll,  (void **)&sl.input,   (void **)&sl.handle_timer,
			   (void **)&sl.add_hostfwd };
	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(sl) / sizeof(sl.new_),
		       "one name per libslirp function");
	if (sl.new_)
		return 0;
	void *h = dlopen(LIBSLIRP, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_err("net: --net user needs %s (Debian: libslirp0): %s", LIBSLIRP, dlerror());
		return -ENOENT;
	}
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* POSIX's way to store a function pointer from dlsym */
		*slots[i] = dlsym(h, names[i]);
		if (!*slots[i]) {
			log_err("net: %s has no %s: %s", LIBSLIRP, names[i], dlerror());
			sl.new_ = NULL;
			return -ENOENT;
		}
	}
	return 0;
}

uint64_t slirp_loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- slirp's callbacks ----------------------------------------------------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_loop *l = opaque;
	l->frame(l->ctx, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_guest("net", "slirp: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct timespec ts;
	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_loop *l = opaque;
	for (unsigned i = 0; i < SLIRP_TIMERS_MAX; i++) {
		if (!l->timers[i].used) {
			l->timers[i] = (struct slirp_timer){ true, id, cb_opaque, -1 };
			return &l->timers[i];
		}
	}
	BUG_ON(1); /* slirp makes one timer (IPv6 router adverts) per instance */
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	((struct slirp_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_loop *l = opaque;
	((struct slirp_timer *)timer)->expire_ms = expire_ms;
	l->dirty = true;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* sockets join the epoll set when a fill asks for them */
}

/* slirp is about to close fd: forget it, so a new socket reusing the number starts clean. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct slirp_loop *l = opaque;
	if (fd < 0 || fd >= l->nfds)
		return;
	if (l->fds[fd].reg)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(&l->fds[fd], 0, sizeof(l->fds[fd]));
}

/* Buffer space came free: what slirp polls for changed; the next flush asks again. */
static void cb_notify(void *opaque)
{
	((struct slirp_loop *)opaque)->dirty = true;
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the poll set as an epoll set ------------------------------------------------------------ */

static struct slirp_fdslot *slot_get(struct slirp_loop *l, int fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= l->nfds) {
		int n = l->nfds ? l->nfds : 64;
		while (n <= fd)
			n *= 2;
		struct slirp_fdslot *s = realloc(l->fds, (size_t)n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*s));
		l->fds = s;
		l->nfds = n;
	}
	return &l->fds[fd];
}

/* While paused nothing is read: a socket that only waits to be read leaves the set. */
static uint32_t to_epoll(int ev, bool paused)
{
	uint32_t e = 0;
	if ((ev & SLIRP_POLL_IN) && !paused)
		e |= EPOLLIN;
	if ((ev & SLIRP_POLL_PRI) && !paused)
		e |= EPOLLPRI;
	if (ev & SLIRP_POLL_OUT)
		e |= EPOLLOUT;
	return e;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct slirp_loop *l = opaque;
	struct slirp_fdslot *s = slot_get(l, fd);
	if (!s)
		return -1;
	if (l->npolls == l->cap_polls) {
		unsigned n = l->cap_polls ? l->cap_polls * 2 : 64;
		void *p = realloc(l->polls, n * sizeof(*l->polls));
		if (!p)
			return -1;
		l->polls = p;
		l->cap_polls = n;
	}
	l->polls[l->npolls].fd = fd;
	l->polls[l->npolls].events = events;
	s->want = to_epoll(events, l->paused);
	s->gen = l->gen;
	return (int)l->npolls++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_loop *l = opaque;
	if (idx < 0 || (unsigned)idx >= l->npolls)
		return 0;
	uint32_t e = l->fds[l->polls[idx].fd].revents;
	return (e & EPOLLIN ? SLIRP_POLL_IN : 0) | (e & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
	       (e & EPOLLPRI ? SLIRP_POLL_PRI : 0) | (e & EPOLLERR ? SLIRP_POLL_ERR : 0) |
	       (e & EPOLLHUP ? SLIRP_POLL_HUP : 0);
}

static void ctl(struct slirp_loop *l, int fd, struct slirp_fdslot *s, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.u64 = (uint64_t)fd };
	int r = 0;
	if (!want) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	} else if (!s->reg) {
		r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
		if (r < 0 && errno == EEXIST)
			r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
	} else {
		r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
		if (r < 0 && errno == ENOENT)
			r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	if (r < 0)
		log_err("net: epoll_ctl(fd %d): %s", fd, strerror(errno));
	s->reg = r < 0 ? 0 : want;
}

static void traffic(struct slirp_loop *l)
{
	l->active_until_ms = slirp_loop_now_ms() + TIMER_GRACE_MS;
}

/* The timerfd: slirp's own timers and, while there is traffic, its TCP timers' next tick. */
static void timer_arm(struct slirp_loop *l, uint32_t timeout)
{
	uint64_t now = slirp_loop_now_ms();
	uint64_t deadline = 0;
	if (timeout <= 2 || now < l->active_until_ms)
		deadline = now + timeout;
	for (unsigned i = 0; i < SLIRP_TIMERS_MAX; i++) {
		int64_t e = l->timers[i].expire_ms;
		if (l->timers[i].used && e >= 0 && (deadline == 0 || (uint64_t)e < deadline))
			deadline = (uint64_t)e > now ? (uint64_t)e : now + 1;
	}
	/* An armed deadline that is earlier still stands: waking early only costs a check. */
	if (deadline == 0 || (l->armed_ms > now && l->armed_ms <= deadline))
		return;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(deadline / 1000),
						.tv_nsec = (long)(deadline % 1000) * 1000000 } };
	if (timerfd_settime(l->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_err("net: timerfd_settime: %s", strerror(errno));
	l->armed_ms = deadline;
}

/* Ask slirp what it waits for and make the epoll set and the timer say the same. */
static void loop_sync(struct slirp_loop *l)
{
	uint32_t timeout = UINT32_MAX;
	l->gen++;
	l->npolls = 0;
	sl.fill(l->slirp, &timeout, cb_add_poll, l);
	for (int fd = 0; fd < l->nfds; fd++) {
		struct slirp_fdslot *s = &l->fds[fd];
		uint32_t want = s->gen == l->gen ? s->want : 0;
		if (want != s->reg)
			ctl(l, fd, s, want);
	}
	timer_arm(l, timeout);
	l->dirty = false;
}

/* ---- the loop -------------------------------------------------------------------------------- */

int slirp_loop_init(struct slirp_loop *l, const SlirpConfig *cfg, slirp_frame_fn frame, void *ctx)
{
	memset(l, 0, sizeof(*l));
	l->epfd = l->timerfd = -1;
	l->frame = frame;
	l->ctx = ctx;
	l->paused = true;
	int r = slirp_load();
	if (r < 0)
		return r;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->timerfd < 0) {
		int e = errno;
		log_err("net: epoll or timerfd: %s", strerror(e));
		return -e;
	}
	r = slirp_loop_watch(l, l->timerfd, SLIRP_TAG_TIMER);
	if (r < 0)
		return r;
	l->slirp = sl.new_(cfg, &callbacks, l);
	if (!l->slirp) {
		log_err("net: libslirp refused its configuration");
		return -EINVAL;
	}
	return 0;
}

void slirp_loop_destroy(struct slirp_loop *l)
{
	if (l->slirp)
		sl.cleanup(l->slirp);
	l->slirp = NULL;
	if (l->timerfd >= 0)
		close(l->timerfd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->timerfd = l->epfd = -1;
	free(l->polls);
	free(l->fds);
	l->polls = NULL;
	l->fds = NULL;
}

int slirp_loop_hostfwd(struct slirp_loop *l, const struct net_fwd *f, uint32_t guest)
{
	struct in_addr host = { htonl(f->host_addr) }, gaddr = { htonl(guest) };
	errno = 0;
	if (sl.add_hostfwd(l->slirp, f->udp, host, f->host_port, gaddr, f->guest_port) < 0) {
		int e = errno ? errno : EADDRINUSE;
		char a[16];
		log_err("net: hostfwd=%s:%s:%u: cannot listen there: %s", f->udp ? "udp" : "tcp",
			ip4_str(f->host_addr, a), f->host_port, strerror(e));
		return -e;
	}
	return 0;
}

void slirp_loop_start(struct slirp_loop *l)
{
	l->started = true;
	loop_sync(l);
}

int slirp_loop_watch(struct slirp_loop *l, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		log_err("net: epoll_ctl: %s", strerror(e));
		return -e;
	}
	return 0;
}

void slirp_loop_input(struct slirp_loop *l, const uint8_t *frame, size_t len)
{
	sl.input(l->slirp, frame, (int)len);
	l->dirty = true;
	traffic(l);
}

void slirp_loop_flush(struct slirp_loop *l)
{
	if (l->dirty)
		loop_sync(l);
}

void slirp_loop_pause(struct slirp_loop *l, bool paused)
{
	l->paused = paused;
	if (l->started)
		loop_sync(l);
}

void slirp_loop_process(struct slirp_loop *l, slirp_other_fn other, void *ctx)
{
	struct epoll_event ev[EVENTS_MAX];
	int n = epoll_wait(l->epfd, ev, EVENTS_MAX, 0);
	uint64_t now = slirp_loop_now_ms();
	bool sockets = false;

	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		if (tag == SLIRP_TAG_TIMER) {
			uint64_t ticks;
			if (read(l->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				log_err("net: timerfd: %s", strerror(errno));
			l->armed_ms = 0;
		} else if (tag >= SLIRP_TAG_USER) {
			other(ctx, tag);
		} else if (tag < (uint64_t)l->nfds) {
			l->fds[tag].revents = ev[i].events;
			sockets = true;
		}
	}
	if (sockets)
		traffic(l);
	for (unsigned i = 0; i < SLIRP_TIMERS_MAX; i++) {
		struct slirp_timer *t = &l->timers[i];
		if (t->used && t->expire_ms >= 0 && (uint64_t)t->expire_ms <= now) {
			t->expire_ms = -1;
			sl.handle_timer(l->slirp, t->id, t->cb_opaque);
		}
	}
	sl.poll(l->slirp, 0, cb_get_revents, l);
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 < (uint64_t)l->nfds)
			l->fds[ev[i].data.u64].revents = 0;
	loop_sync(l);
}
