/* The vsock host bridge: connection table, epoll set, timer; routes guest packets, host events. */
#include "muxer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "conn.h"

#define KEY_LISTEN (~0ull)
#define KEY_TIMER (~0ull - 1)
#define LISTEN_PAUSE_MS 100u /* out of fds: stop accepting for this long */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t mux_epoll_key(const struct vsock_mux *m, const struct vsock_conn *c)
{
	return (uint64_t)m->gen[c->slot] << 32 | c->slot;
}

/* ---- the connection table, keyed by (local port, peer port) -------------------------------- */

static unsigned mux_hash_of(uint32_t local, uint32_t peer)
{
	uint64_t k = ((uint64_t)local << 32 | peer) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(k >> 32) % VSOCK_HASH_SIZE;
}

static struct vsock_conn *mux_find(const struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	struct vsock_conn *c = m->bucket[mux_hash_of(local, peer)];
	while (c && (c->local_port != local || c->peer_port != peer))
		c = c->hnext;
	return c;
}

void mux_hash(struct vsock_mux *m, struct vsock_conn *c)
{
	unsigned b = mux_hash_of(c->local_port, c->peer_port);
	c->hnext = m->bucket[b];
	m->bucket[b] = c;
	c->hashed = true;
}

void mux_unhash(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->hashed)
		return;
	struct vsock_conn **p = &m->bucket[mux_hash_of(c->local_port, c->peer_port)];
	while (*p != c)
		p = &(*p)->hnext;
	*p = c->hnext;
	c->hashed = false;
}

/* A local port no live connection uses (at most conn_max are taken, so this ends). */
uint32_t mux_pick_port(struct vsock_mux *m)
{
	for (;;) {
		uint32_t p = m->next_port++;
		if (m->next_port < VSOCK_HOST_PORT_MIN || m->next_port == UINT32_MAX)
			m->next_port = VSOCK_HOST_PORT_MIN;
		bool used = false;
		for (unsigned i = 0; i < VSOCK_CONN_MAX && !used; i++)
			used = m->slot[i] && m->slot[i]->hashed && m->slot[i]->local_port == p;
		if (!used)
			return p;
	}
}

/* ---- connections with packets for the guest: a FIFO served round robin --------------------- */

void mux_rx_add(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->on_rx)
		return;
	c->on_rx = true;
	c->rx_next = NULL;
	c->rx_prev = m->rx_tail;
	if (m->rx_tail)
		m->rx_tail->rx_next = c;
	else
		m->rx_head = c;
	m->rx_tail = c;
}

void mux_rx_del(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->on_rx)
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		m->rx_head = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	else
		m->rx_tail = c->rx_prev;
	c->on_rx = false;
	c->rx_next = c->rx_prev = NULL;
}

/* An RST for a packet that names no connection; the queue is bounded, the guest times out. */
static void mux_orphan_rst(struct vsock_mux *m, const struct vsock_hdr *h)
{
	if (m->orphan_len == VSOCK_ORPHAN_MAX) {
		m->stats.orphans_dropped++;
		log_guest("vsock", "RST to port %u dropped: the guest takes no packets",
			  h->src_port);
		return;
	}
	struct vsock_orphan *o = &m->orphan[(m->orphan_head + m->orphan_len++) % VSOCK_ORPHAN_MAX];
	o->src_port = h->dst_port;
	o->dst_port = h->src_port;
}

/* ---- the timer: one timerfd armed for the earliest deadline ---------------------------------- */

static void mux_arm(struct vsock_mux *m, uint64_t at)
{
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	if (timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_err("vsock: timerfd_settime: %s", strerror(errno));
	else
		m->timer_at = at;
}

void mux_set_deadline(struct vsock_mux *m, struct vsock_conn *c, unsigned ms)
{
	c->deadline = now_ns() + (uint64_t)ms * 1000000ull;
	if (!m->timer_at || c->deadline < m->timer_at)
		mux_arm(m, c->deadline);
}

void mux_listen_enable(struct vsock_mux *m, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u64 = KEY_LISTEN };
	epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->listen_fd, &ev);
	m->listen_resume = on ? 0 : now_ns() + LISTEN_PAUSE_MS * 1000000ull;
	if (!on && (!m->timer_at || m->listen_resume < m->timer_at))
		mux_arm(m, m->listen_resume);
}

static void mux_on_timer(struct vsock_mux *m)
{
	uint64_t expirations, now = now_ns(), next = 0;
	if (read(m->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_err("vsock: reading the timerfd: %s", strerror(errno));
	m->timer_at = 0;
	if (m->listen_resume && m->listen_resume <= now)
		mux_listen_enable(m, true);
	for (unsigned i = 0; i < VSOCK_CONN_MAX; i++) {
		struct vsock_conn *c = m->slot[i];
		if (!c || !c->deadline)
			continue;
		if (c->deadline <= now)
			conn_timeout(c); /* may free c */
		else if (!next || c->deadline < next)
			next = c->deadline;
	}
	if (m->listen_resume && (!next || m->listen_resume < next))
		next = m->listen_resume;
	mux_arm(m, next);
}

/* ---- guest packets ------------------------------------------------------------------------- */

/* A guest REQUEST to host port P: connect to PATH_P; RESPONSE on success, else RST. */
static void mux_connect_host(struct vsock_mux *m, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", m->path, h->dst_port);
	if (m->nr_conns >= m->conn_max) {
		m->stats.refused++;
		log_guest("vsock", "connect to port %u refused: %u connections open", h->dst_port,
			  m->nr_conns);
		mux_orphan_rst(m, h);
		return;
	}
	/* AF_UNIX connects complete or fail at once; a full backlog (EAGAIN) is a refusal. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		m->stats.refused++;
		log_info("vsock: guest connect to %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		mux_orphan_rst(m, h);
		return;
	}
	struct vsock_conn *c = conn_new(m, fd, CONN_OPEN);
	if (!c) {
		m->stats.refused++;
		close(fd);
		mux_orphan_rst(m, h);
		return;
	}
	m->stats.conns_guest++;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	mux_hash(m, c);
	c->pending |= PEND_RESPONSE;
	mux_rx_add(m, c);
	conn_set_interest(c);
}

static void mux_refuse_conn(struct vsock_mux *m, struct vsock_conn *c, const struct vsock_hdr *h)
{
	if (c)
		conn_reset(c);
	else if (h->op != VSOCK_OP_RST)
		mux_orphan_rst(m, h);
}

void vsock_mux_refuse(struct vsock_mux *m, const struct vsock_hdr *h)
{
	mux_refuse_conn(m, mux_find(m, h->dst_port, h->src_port), h);
}

void vsock_mux_guest_pkt(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *iov,
			 unsigned n)
{
	struct vsock_conn *c = mux_find(m, h->dst_port, h->src_port);
	if (h->type != VSOCK_TYPE_STREAM || h->op < VSOCK_OP_REQUEST ||
	    h->op > VSOCK_OP_CREDIT_REQUEST) {
		m->stats.bad_pkts++;
		log_guest("vsock", "packet of type %u, op %u from port %u", h->type, h->op,
			  h->src_port);
		mux_refuse_conn(m, c, h);
		return;
	}
	if (c) {
		conn_guest_pkt(c, h, iov, n);
		return;
	}
	if (h->op == VSOCK_OP_REQUEST)
		mux_connect_host(m, h);
	else if (h->op != VSOCK_OP_RST)
		mux_orphan_rst(m, h); /* the guest's side of a connection we no longer have */
}

bool vsock_mux_has_rx(const struct vsock_mux *m)
{
	return m->orphan_len || m->rx_head;
}

bool vsock_mux_rx(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *iov, unsigned n,
		  uint32_t cap)
{
	if (m->orphan_len) {
		const struct vsock_orphan *o = &m->orphan[m->orphan_head];
		memset(h, 0, sizeof(*h));
		h->src_port = o->src_port;
		h->dst_port = o->dst_port;
		h->type = VSOCK_TYPE_STREAM;
		h->op = VSOCK_OP_RST;
		m->orphan_head = (m->orphan_head + 1) % VSOCK_ORPHAN_MAX;
		m->orphan_len--;
		m->stats.resets_sent++;
		return true;
	}
	/* Each connection yields one packet, then goes to the back; one with nothing leaves. */
	for (unsigned i = 0; m->rx_head && i <= VSOCK_CONN_MAX; i++) {
		struct vsock_conn *c = m->rx_head;
		mux_rx_del(m, c);
		if (conn_rx(c, h, iov, n, cap))
			return true;
	}
	return false;
}

/* ---- host events --------------------------------------------------------------------------- */

int vsock_mux_fd(const struct vsock_mux *m)
{
	return m->epfd;
}

void vsock_mux_process(struct vsock_mux *m)
{
	struct epoll_event ev[32];
	int n = epoll_wait(m->epfd, ev, 32, 0);
	for (int i = 0; i < n; i++) {
		uint64_t key = ev[i].data.u64;
		if (key == KEY_LISTEN) {
			mux_accept(m);
		} else if (key == KEY_TIMER) {
			mux_on_timer(m);
		} else {
			uint32_t slot = (uint32_t)key;
			/* Freed earlier in this batch (its slot maybe reused): a stale event. */
			if (slot < VSOCK_CONN_MAX && m->slot[slot] && m->gen[slot] == key >> 32)
				conn_host_event(m->slot[slot], ev[i].events);
		}
	}
}

void vsock_mux_reset(struct vsock_mux *m)
{
	m->orphan_len = 0;
	for (unsigned i = 0; i < VSOCK_CONN_MAX; i++) {
		struct vsock_conn *c = m->slot[i];
		/* Host clients the guest has not heard of yet wait for the reset driver. */
		if (c && c->state != CONN_LINE &&
		    !(c->state == CONN_REQUEST && (c->pending & PEND_REQUEST)))
			conn_free(c);
	}
}

/* ---- setup and teardown ---------------------------------------------------------------------- */

static int mux_watch(struct vsock_mux *m, int fd, uint64_t key)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = key };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		log_err("vsock: epoll_ctl: %s", strerror(e));
		return -e;
	}
	return 0;
}

int vsock_mux_init(struct vsock_mux *m, const char *path, uint64_t guest_cid)
{
	memset(m, 0, sizeof(*m));
	m->listen_fd = m->epfd = m->timer_fd = -1;
	m->guest_cid = guest_cid;
	m->buf_alloc = VSOCK_BUF_ALLOC;
	m->conn_max = VSOCK_CONN_MAX;
	m->connect_timeout_ms = VSOCK_CONNECT_TIMEOUT_MS;
	m->shutdown_timeout_ms = VSOCK_SHUTDOWN_TIMEOUT_MS;
	m->next_port = VSOCK_HOST_PORT_MIN;
	size_t len = strlen(path);
	if (len == 0 || len > VSOCK_PATH_MAX) {
		log_err("vsock socket path '%s': give 1 to %u bytes", path, VSOCK_PATH_MAX);
		return -ENAMETOOLONG;
	}
	memcpy(m->path, path, len + 1);
	mux_raise_nofile();
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->epfd < 0 || m->timer_fd < 0) {
		int e = errno;
		log_err("vsock: %s: %s", m->epfd < 0 ? "epoll_create1" : "timerfd_create",
			strerror(e));
		return -e;
	}
	int r = mux_listen(m);
	if (r == 0)
		r = mux_watch(m, m->listen_fd, KEY_LISTEN);
	if (r == 0)
		r = mux_watch(m, m->timer_fd, KEY_TIMER);
	return r;
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	for (unsigned i = 0; i < VSOCK_CONN_MAX; i++)
		if (m->slot[i])
			conn_free(m->slot[i]);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	/* unlinkat, not unlink: the sandbox allows only it (see sandbox.c). */
	if (m->listening)
		unlinkat(AT_FDCWD, m->path, 0);
	if (m->timer_fd >= 0)
		close(m->timer_fd);
	if (m->epfd >= 0)
		close(m->epfd);
	m->listen_fd = m->timer_fd = m->epfd = -1;
	m->listening = false;
}
