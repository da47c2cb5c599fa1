/*
 * The user-mode network: libslirp's NAT behind the egress policy, with slirp's sockets and timers
 * driven from an epoll set of our own, which the event loop watches as one fd.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "backend.h"
#include "dnsfwd.h"
#include "policy.h"
#include "rxq.h"

#define TAG_TIMER (1ull << 32)
#define TAG_DNS (2ull << 32)
#define TIMERS_MAX 4u
#define EVENTS_MAX 64
/*
 * slirp's TCP timers need a call every half second while it has connections; a connection
 * whose host socket is gone (FIN sent, TIME_WAIT) still needs them for a while, hence the grace.
 * With nothing but forwarded-port listeners, the VM has no timer at all.
 */
#define TIMER_GRACE_MS 60000u
#define USER_MTU_MIN 576u
#define USER_MTU_MAX 65521u /* slirp's IF_MTU_MAX */

struct fdslot {
	uint32_t reg;  /* events registered in our epoll set; 0: not registered */
	uint32_t want; /* events slirp asked for in the current fill */
	uint32_t gen;  /* the fill that asked */
	uint32_t revents;
	bool listener; /* a forwarded port's listening socket (present from setup on) */
};

struct user_timer {
	bool used;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct net_user {
	struct net_backend be;
	Slirp *slirp;
	int epfd, timerfd;
	struct net_policy policy;
	struct dnsfwd dns;
	struct rxq rxq;
	struct {
		int fd;
		int events;
	} *polls;
	unsigned npolls, cap_polls;
	struct fdslot *fds;
	int nfds;
	uint32_t gen;
	bool paused, dirty, in_setup;
	uint64_t active_until_ms, armed_ms;
	struct user_timer timers[TIMERS_MAX];
	uint16_t ip_id;
	uint8_t txbuf[NET_FRAME_MAX];
	uint8_t rst[64];
};

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

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- slirp's callbacks ----------------------------------------------------------------------- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	/* When the queue is full the frame is lost; slirp's TCP resends, as on a real link. */
	policy_note_inbound(&u->policy, buf, len, now_ms());
	rxq_push(&u->rxq, buf, len);
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
	struct net_user *u = opaque;
	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		if (!u->timers[i].used) {
			u->timers[i] = (struct user_timer){ true, id, cb_opaque, -1 };
			return &u->timers[i];
		}
	}
	BUG_ON(1); /* slirp makes one timer (IPv6 router adverts) per instance */
	return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	((struct user_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct net_user *u = opaque;
	((struct user_timer *)timer)->expire_ms = expire_ms;
	u->dirty = true;
}

static struct fdslot *slot_get(struct net_user *u, int fd)
{
	if (fd < 0)
		return NULL;
	if (fd >= u->nfds) {
		int n = u->nfds ? u->nfds : 64;
		while (n <= fd)
			n *= 2;
		struct fdslot *s = realloc(u->fds, (size_t)n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + u->nfds, 0, (size_t)(n - u->nfds) * sizeof(*s));
		u->fds = s;
		u->nfds = n;
	}
	return &u->fds[fd];
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* sockets join our epoll set when a fill asks for them */
}

/* slirp is about to close fd: forget it, so a new socket reusing the number starts clean. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct net_user *u = opaque;
	if (fd < 0 || fd >= u->nfds)
		return;
	if (u->fds[fd].reg)
		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(&u->fds[fd], 0, sizeof(u->fds[fd]));
}

static void cb_notify(void *opaque)
{
	((struct net_user *)opaque)->dirty = true;
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

/* ---- slirp's poll set as an epoll set -------------------------------------------------------- */

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
	struct net_user *u = opaque;
	struct fdslot *s = slot_get(u, fd);
	if (!s)
		return -1;
	if (u->npolls == u->cap_polls) {
		unsigned n = u->cap_polls ? u->cap_polls * 2 : 64;
		void *p = realloc(u->polls, n * sizeof(*u->polls));
		if (!p)
			return -1;
		u->polls = p;
		u->cap_polls = n;
	}
	u->polls[u->npolls].fd = fd;
	u->polls[u->npolls].events = events;
	s->want = to_epoll(events, u->paused);
	s->gen = u->gen;
	return (int)u->npolls++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;
	if (idx < 0 || (unsigned)idx >= u->npolls)
		return 0;
	uint32_t e = u->fds[u->polls[idx].fd].revents;
	return (e & EPOLLIN ? SLIRP_POLL_IN : 0) | (e & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
	       (e & EPOLLPRI ? SLIRP_POLL_PRI : 0) | (e & EPOLLERR ? SLIRP_POLL_ERR : 0) |
	       (e & EPOLLHUP ? SLIRP_POLL_HUP : 0);
}

static void ctl(struct net_user *u, int fd, struct fdslot *s, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.u64 = (uint64_t)fd };
	int r = 0;
	if (!want) {
		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
	} else if (!s->reg) {
		r = epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev);
		if (r < 0 && errno == EEXIST)
			r = epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev);
	} else {
		r = epoll_ctl(u->epfd, EPOLL_CTL_MOD, fd, &ev);
		if (r < 0 && errno == ENOENT)
			r = epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	if (r < 0)
		log_err("net: epoll_ctl(fd %d): %s", fd, strerror(errno));
	s->reg = r < 0 ? 0 : want;
}

/* The timerfd: slirp's own timers and, while it has connections, its TCP timers' next tick. */
static void timer_arm(struct net_user *u, uint32_t timeout, bool active)
{
	uint64_t now = now_ms();
	uint64_t deadline = 0;
	if (active)
		u->active_until_ms = now + TIMER_GRACE_MS;
	if (timeout <= 2 || now < u->active_until_ms)
		deadline = now + timeout;
	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		int64_t e = u->timers[i].expire_ms;
		if (u->timers[i].used && e >= 0 && (deadline == 0 || (uint64_t)e < deadline))
			deadline = (uint64_t)e > now ? (uint64_t)e : now + 1;
	}
	/* An armed deadline that is earlier still stands: waking early only costs a check. */
	if (deadline == 0 || (u->armed_ms > now && u->armed_ms <= deadline))
		return;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(deadline / 1000),
						.tv_nsec = (long)(deadline % 1000) * 1000000 } };
	if (timerfd_settime(u->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_err("net: timerfd_settime: %s", strerror(errno));
	u->armed_ms = deadline;
}

/* Ask slirp what it waits for and make the epoll set and the timer say the same. */
static void user_sync(struct net_user *u)
{
	uint32_t timeout = UINT32_MAX;
	u->gen++;
	u->npolls = 0;
	sl.fill(u->slirp, &timeout, cb_add_poll, u);
	bool active = false;
	for (int fd = 0; fd < u->nfds; fd++) {
		struct fdslot *s = &u->fds[fd];
		uint32_t want = s->gen == u->gen ? s->want : 0;
		if (s->gen == u->gen && u->in_setup)
			s->listener = true; /* before the guest runs, slirp has only listeners */
		active |= s->gen == u->gen && !s->listener;
		if (want != s->reg)
			ctl(u, fd, s, want);
	}
	timer_arm(u, timeout, active);
	u->dirty = false;
}

static void dns_answer(void *ctx, const uint8_t *frame, size_t len, const uint8_t *msg,
		       size_t msglen, const char *qname)
{
	struct net_user *u = ctx;
	policy_dns_answer(&u->policy, msg, msglen, qname, now_ms());
	rxq_push(&u->rxq, frame, len);
}

static void user_process(struct net_backend *be)
{
	struct net_user *u = (struct net_user *)be;
	struct epoll_event ev[EVENTS_MAX];
	int n = epoll_wait(u->epfd, ev, EVENTS_MAX, 0);
	uint64_t now = now_ms();

	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		if (tag == TAG_TIMER) {
			uint64_t ticks;
			if (read(u->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				log_err("net: timerfd: %s", strerror(errno));
			u->armed_ms = 0;
		} else if (tag == TAG_DNS) {
			dnsfwd_read(&u->dns, now, dns_answer, u);
		} else if (tag < (uint64_t)u->nfds) {
			u->fds[tag].revents = ev[i].events;
		}
	}
	for (unsigned i = 0; i < TIMERS_MAX; i++) {
		struct user_timer *t = &u->timers[i];
		if (t->used && t->expire_ms >= 0 && (uint64_t)t->expire_ms <= now) {
			t->expire_ms = -1;
			sl.handle_timer(u->slirp, t->id, t->cb_opaque);
		}
	}
	sl.poll(u->slirp, 0, cb_get_revents, u);
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 < (uint64_t)u->nfds)
			u->fds[ev[i].data.u64].revents = 0;
	user_sync(u);
}

/* ---- the backend ----------------------------------------------------------------------------- */

static int user_send(struct net_backend *be, const struct virtio_net_hdr *hdr,
		     const struct iovec *iov, unsigned n, size_t len)
{
	struct net_user *u = (struct net_user *)be;
	struct policy_result r;
	(void)hdr; /* no offloads were offered: the device let only a plain header through */

	/* One private copy: what the policy judges is exactly what slirp gets. */
	size_t got = 0;
	for (unsigned i = 0; i < n && got < len; i++) {
		size_t k = iov[i].iov_len < len - got ? iov[i].iov_len : len - got;
		memcpy(u->txbuf + got, iov[i].iov_base, k);
		got += k;
	}
	uint64_t now = now_ms();
	policy_check(&u->policy, u->txbuf, got, now, &r);
	be->denied = u->policy.denied;
	switch (r.verdict) {
	case POLICY_PASS:
		sl.input(u->slirp, u->txbuf, (int)got);
		u->dirty = true;
		return 0;
	case POLICY_DNS:
		dnsfwd_query(&u->dns, u->txbuf, &r.pkt, now);
		return 0;
	case POLICY_DENY:
		/* A refused connect fails at once (ECONNREFUSED) instead of timing out. */
		if (r.pkt.proto == IPPROTO_TCP && r.pkt.has_l4 && !r.pkt.fragment &&
		    (r.pkt.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
			uint32_t ack = r.pkt.tcp_seq + 1 + (uint32_t)r.pkt.payload_len;
			size_t fl = frame_tcp4(u->rst, sizeof(u->rst), u->txbuf + 6, u->txbuf,
					       r.pkt.dst, r.pkt.dport, r.pkt.src, r.pkt.sport, 0,
					       ack, TCP_RST | TCP_ACK, NULL, 0, u->ip_id++);
			if (fl)
				rxq_push(&u->rxq, u->rst, fl);
		}
		return -EACCES;
	case POLICY_DROP:
		break;
	}
	return -EPROTO;
}

static ssize_t user_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	struct net_user *u = (struct net_user *)be;
	memset(buf, 0, VNET_HDR_LEN);
	size_t n = rxq_pop(&u->rxq, buf + VNET_HDR_LEN, cap - VNET_HDR_LEN);
	return n ? (ssize_t)(n + VNET_HDR_LEN) : 0;
}

static void user_flush(struct net_backend *be)
{
	struct net_user *u = (struct net_user *)be;
	if (u->dirty)
		user_sync(u);
}

static void user_rx_pause(struct net_backend *be, bool paused)
{
	struct net_user *u = (struct net_user *)be;
	u->paused = paused;
	if (u->slirp)
		user_sync(u);
}

static void user_destroy(struct net_backend *be)
{
	struct net_user *u = (struct net_user *)be;
	if (u->slirp)
		sl.cleanup(u->slirp);
	dnsfwd_destroy(&u->dns);
	if (u->timerfd >= 0)
		close(u->timerfd);
	if (u->epfd >= 0)
		close(u->epfd);
	rxq_destroy(&u->rxq);
	free(u->polls);
	free(u->fds);
	free(u);
}

static const struct net_backend_ops user_ops = {
	.send = user_send,
	.recv = user_recv,
	.process = user_process,
	.flush = user_flush,
	.rx_pause = user_rx_pause,
	.destroy = user_destroy,
};

static int epoll_add_tag(struct net_user *u, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		log_err("net: epoll_ctl: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* The upstream resolver: dns= or the host's first IPv4 nameserver; 0 when there is none. */
static uint32_t upstream_resolver(const struct net_config *cfg)
{
	if (cfg->dns_upstream)
		return cfg->dns_upstream;
	char text[4096];
	ssize_t n = -1;
	int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	uint32_t a = 0;
	if (n > 0) {
		text[n] = '\0';
		if (dnsfwd_parse_resolv(text, &a) < 0)
			a = 0;
	}
	if (!a)
		log_err("net: no IPv4 nameserver in /etc/resolv.conf: the guest has no DNS "
			"(--net user,dns=ADDR[:PORT] names one)");
	return a;
}

static int user_slirp(struct net_user *u, const struct net_config *cfg)
{
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.vnetwork.s_addr = htonl(NET_USER_NETWORK),
		.vnetmask.s_addr = htonl(0xffffff00u),
		.vhost.s_addr = htonl(NET_USER_HOST),
		.vdhcp_start.s_addr = htonl(NET_USER_GUEST),
		.vnameserver.s_addr = htonl(NET_USER_DNS),
		.if_mtu = u->be.mtu,
		.if_mru = u->be.mtu,
		/*
		 * Defence in depth behind the policy, unless the host alias is allowed or a
		 * forwarded UDP port must answer through it (slirp sends those replies to 10.0.2.2).
		 */
		.disable_host_loopback = !policy_host_alias_allowed(cfg) && u->policy.nr_udp_fwd == 0,
		.disable_dns = true, /* 10.0.2.3 is ours (dnsfwd.c) */
	};
	u->slirp = sl.new_(&sc, &callbacks, u);
	if (!u->slirp) {
		log_err("net: libslirp refused its configuration");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nr_fwd; i++) {
		const struct net_fwd *f = &cfg->fwd[i];
		struct in_addr host = { htonl(f->host_addr) }, guest = { htonl(NET_USER_GUEST) };
		errno = 0;
		if (sl.add_hostfwd(u->slirp, f->udp, host, f->host_port, guest, f->guest_port) <
		    0) {
			int e = errno ? errno : EADDRINUSE;
			char a[16];
			log_err("net: hostfwd=%s:%s:%u: cannot listen there: %s",
				f->udp ? "udp" : "tcp", ip4_str(f->host_addr, a), f->host_port,
				strerror(e));
			return -e;
		}
	}
	u->in_setup = true;
	user_sync(u);
	u->in_setup = false;
	return 0;
}

int net_user_open(const struct net_config *cfg, struct net_backend **out)
{
	struct net_user *u = calloc(1, sizeof(*u));
	if (!u) {
		log_err("net: out of memory");
		return -ENOMEM;
	}
	u->be.ops = &user_ops;
	u->be.name = "user";
	u->be.mtu = cfg->mtu ? cfg->mtu : CONFIG_NET_MTU_DEFAULT;
	u->dns.fd = -1;
	u->timerfd = -1;
	u->paused = true;
	rxq_init(&u->rxq);
	policy_init(&u->policy, cfg);
	BUG_ON(u->be.mtu < USER_MTU_MIN || u->be.mtu > USER_MTU_MAX); /* args.c checked it */

	int r = slirp_load();
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	u->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r == 0 && (u->epfd < 0 || u->timerfd < 0)) {
		r = -errno;
		log_err("net: epoll or timerfd: %s", strerror(errno));
	}
	if (r == 0)
		r = epoll_add_tag(u, u->timerfd, TAG_TIMER);
	uint32_t upstream = r == 0 ? upstream_resolver(cfg) : 0;
	if (upstream) {
		r = dnsfwd_init(&u->dns, upstream, cfg->dns_upstream_port ? cfg->dns_upstream_port : 53,
				u->be.mtu);
		if (r == 0)
			r = epoll_add_tag(u, u->dns.fd, TAG_DNS);
	}
	if (r == 0)
		r = user_slirp(u, cfg);
	u->be.fd = u->epfd;
	if (r < 0) {
		user_destroy(&u->be);
		return r;
	}
	*out = &u->be;
	return 0;
}
