/* One bridged vsock connection: the guest's packets, host socket I/O, and packets for the guest. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "../virtio/virtq.h"

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Never SIGPIPE, never block: the host side is any process that connected. */
static ssize_t host_send(int fd, const struct iovec *iov, unsigned n)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

struct vsock_conn *conn_new(struct vsock_mux *m, int fd, enum conn_state state)
{
	if (m->nr_conns >= m->conn_max)
		return NULL;
	unsigned i = 0;
	while (i < VSOCK_CONN_MAX && m->slot[i])
		i++;
	BUG_ON(i == VSOCK_CONN_MAX); /* conn_max <= VSOCK_CONN_MAX */
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mux = m;
	c->slot = i;
	c->fd = fd;
	c->state = state;
	c->buf_alloc = m->buf_alloc;
	c->events = state == CONN_LINE ? EPOLLIN : 0;
	struct epoll_event ev = { .events = c->events, .data.u64 = (uint64_t)m->gen[i] << 32 | i };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_guest("vsock-host", "epoll_ctl(ADD): %s", strerror(errno));
		free(c);
		return NULL;
	}
	c->in_epoll = true;
	m->slot[i] = c;
	m->nr_conns++;
	return c;
}

/* Close the host socket (which also leaves the epoll set) and drop unwritten guest bytes. */
static void conn_close_host(struct vsock_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->in_epoll = false;
	c->events = 0;
	free(c->buf);
	c->buf = NULL;
	c->buf_head = c->buf_len = 0;
}

void conn_free(struct vsock_conn *c)
{
	struct vsock_mux *m = c->mux;
	mux_rx_del(m, c);
	mux_unhash(m, c);
	conn_close_host(c);
	m->slot[c->slot] = NULL;
	m->gen[c->slot]++;
	m->nr_conns--;
	free(c);
}

void conn_reset(struct vsock_conn *c)
{
	conn_close_host(c);
	c->deadline = 0;
	/* The guest never heard of it: nothing to tell. */
	if (c->state == CONN_LINE || (c->state == CONN_REQUEST && (c->pending & PEND_REQUEST))) {
		conn_free(c);
		return;
	}
	c->state = CONN_DEAD;
	c->pending = PEND_RST;
	mux_rx_add(c->mux, c);
}

uint32_t conn_peer_credit(const struct vsock_conn *c)
{
	/* A guest fwd_cnt ahead of what we sent makes this huge: no credit, its own loss. */
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/*
 * What epoll should watch: the CONNECT line; then, once open, EPOLLIN while the guest has
 * credit and no read is already owed, EPOLLOUT while guest bytes wait for the host.
 * A hung-up socket is out of the set (EPOLLHUP would fire forever): its reads are always ready.
 */
void conn_set_interest(struct vsock_conn *c)
{
	uint32_t ev = 0;
	if (c->fd < 0)
		return;
	if (c->state == CONN_LINE) {
		ev = EPOLLIN;
	} else if (c->state == CONN_OPEN) {
		bool want_in = !c->host_eof && !c->peer_shut_rcv && !(c->pending & PEND_DATA) &&
			       conn_peer_credit(c) > 0;
		if (want_in && c->host_hup) {
			c->pending |= PEND_DATA;
			mux_rx_add(c->mux, c);
			want_in = false;
		}
		ev = (want_in ? EPOLLIN : 0) | (c->buf_len ? EPOLLOUT : 0);
	}
	if (!c->in_epoll || ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.u64 = mux_epoll_key(c->mux, c) };
	if (epoll_ctl(c->mux->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
	else
		log_guest("vsock-host", "epoll_ctl(MOD): %s", strerror(errno));
}

/* Both directions are finished: RST the guest (then free). false when c is no longer open. */
static bool conn_check_done(struct vsock_conn *c)
{
	bool out_done = c->peer_shut_send && c->buf_len == 0;
	bool in_done = c->peer_shut_rcv || (c->host_eof && !(c->pending & PEND_SHUTDOWN));
	if (!out_done || !in_done)
		return true;
	conn_reset(c);
	return false;
}

/* After bytes reached the host: credit back to the guest, a pending half-close, the end. */
static bool conn_after_write(struct vsock_conn *c)
{
	if (!c->peer_shut_send && c->fwd_cnt - c->fwd_cnt_sent >= c->buf_alloc / 4) {
		c->pending |= PEND_CREDIT;
		mux_rx_add(c->mux, c);
	}
	if (c->peer_shut_send && c->buf_len == 0 && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR); /* ENOTCONN from a gone peer: nothing more to say */
		c->wr_shut = true;
	}
	return conn_check_done(c);
}

/* Write buffered guest bytes to the host. false when the connection was reset. */
static bool conn_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t first = min_u32(c->buf_len, c->buf_alloc - c->buf_head);
		struct iovec iov[2] = {
			{ .iov_base = c->buf + c->buf_head, .iov_len = first },
			{ .iov_base = c->buf, .iov_len = c->buf_len - first },
		};
		ssize_t n = host_send(c->fd, iov, c->buf_len > first ? 2 : 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_reset(c);
			return false;
		}
		c->buf_head = (uint32_t)((c->buf_head + (size_t)n) % c->buf_alloc);
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (!c->buf_len) {
		free(c->buf);
		c->buf = NULL;
		c->buf_head = 0;
	}
	return conn_after_write(c);
}

/* RW: straight to the host socket; what it does not take waits in the ring, within our credit. */
static void conn_guest_data(struct vsock_conn *c, const struct vsock_hdr *h,
			    const struct iovec *iov, unsigned n)
{
	struct vsock_mux *m = c->mux;
	uint32_t len = h->len;
	/* rx_cnt - fwd_cnt_sent <= buf_alloc holds: it is checked here before every add. */
	uint32_t credit = c->buf_alloc - (c->rx_cnt - c->fwd_cnt_sent);

	if (c->peer_shut_send) {
		m->stats.bad_pkts++;
		log_guest("vsock", "port %u: data after SHUTDOWN(SEND)", c->peer_port);
		conn_reset(c);
		return;
	}
	if (len > credit) {
		m->stats.credit_violations++;
		log_guest("vsock", "port %u sent %u bytes with %u bytes of credit", c->peer_port,
			  len, credit);
		conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	size_t off = 0;
	if (len && !c->buf_len) {
		ssize_t w = host_send(c->fd, iov, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_reset(c);
			return;
		}
		if (w > 0) {
			off = (size_t)w;
			c->fwd_cnt += (uint32_t)w;
		}
	}
	if (off < len) {
		uint32_t rest = len - (uint32_t)off;
		BUG_ON(c->buf_len + rest > c->buf_alloc);
		if (!c->buf && !(c->buf = malloc(c->buf_alloc))) {
			log_err("vsock: out of memory for a connection buffer");
			conn_reset(c);
			return;
		}
		uint32_t tail = (uint32_t)(((size_t)c->buf_head + c->buf_len) % c->buf_alloc);
		uint32_t first = min_u32(rest, c->buf_alloc - tail);
		iov_copy_from(iov, n, off, c->buf + tail, first);
		iov_copy_from(iov, n, off + first, c->buf, rest - first);
		c->buf_len += rest;
	}
	if (conn_after_write(c))
		conn_set_interest(c);
}

static void conn_guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV) {
		c->peer_shut_rcv = true;
		c->pending &= ~PEND_DATA;
	}
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->peer_shut_send = true;
	if (c->peer_shut_send && !c->buf_len && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	/* A full close waits for the host to take what is buffered, but not forever. */
	if (c->peer_shut_send && c->peer_shut_rcv && c->buf_len)
		mux_set_deadline(c->mux, c, c->mux->shutdown_timeout_ms);
	if (conn_check_done(c))
		conn_set_interest(c);
}

/* The guest answered our REQUEST: tell the host client which port it got, then bridge. */
static void conn_established(struct vsock_conn *c)
{
	char msg[24];
	int len = snprintf(msg, sizeof(msg), "OK %u\n", c->local_port);
	struct iovec iov = { .iov_base = msg, .iov_len = (size_t)len };
	if (host_send(c->fd, &iov, 1) != len) {
		conn_reset(c);
		return;
	}
	c->state = CONN_OPEN;
	c->deadline = 0;
	conn_set_interest(c);
}

void conn_guest_pkt(struct vsock_conn *c, const struct vsock_hdr *h, const struct iovec *iov,
		    unsigned n)
{
	struct vsock_mux *m = c->mux;
	if (h->op == VSOCK_OP_RST) {
		m->stats.resets_received++;
		conn_free(c);
		return;
	}
	if (c->state == CONN_DEAD)
		return; /* our RST is on its way */
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (c->state == CONN_REQUEST) {
		if (h->op == VSOCK_OP_RESPONSE && !(c->pending & PEND_REQUEST)) {
			conn_established(c);
			return;
		}
	} else if (c->state == CONN_OPEN) {
		switch (h->op) {
		case VSOCK_OP_RW:
			conn_guest_data(c, h, iov, n);
			return;
		case VSOCK_OP_SHUTDOWN:
			conn_guest_shutdown(c, h->flags);
			return;
		case VSOCK_OP_CREDIT_REQUEST:
			c->pending |= PEND_CREDIT;
			mux_rx_add(m, c);
			/* fall through */
		case VSOCK_OP_CREDIT_UPDATE:
			conn_set_interest(c); /* more credit may let reads resume */
			return;
		}
	}
	m->stats.bad_pkts++;
	log_guest("vsock", "op %u on port %u in state %d", h->op, c->peer_port, (int)c->state);
	conn_reset(c);
}

/* Host bytes straight into the guest's buffer: 1 an RW, 0 none now, -1 the connection reset. */
static int conn_read(struct vsock_conn *c, struct vsock_hdr *h, const struct iovec *iov,
		     unsigned n, uint32_t cap)
{
	uint32_t want = min_u32(cap, conn_peer_credit(c));
	if (c->state != CONN_OPEN || c->host_eof || c->peer_shut_rcv || want == 0) {
		c->pending &= ~PEND_DATA;
		conn_set_interest(c);
		return 0;
	}
	struct iovec io[VIRTQ_CHAIN_MAX];
	unsigned k = 0;
	uint32_t left = want;
	BUG_ON(n > VIRTQ_CHAIN_MAX);
	for (unsigned i = 0; i < n && left; i++) {
		size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;
		io[k++] = (struct iovec){ .iov_base = iov[i].iov_base, .iov_len = l };
		left -= (uint32_t)l;
	}
	struct msghdr msg = { .msg_iov = io, .msg_iovlen = k };
	ssize_t r = recvmsg(c->fd, &msg, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->pending &= ~PEND_DATA;
		conn_set_interest(c);
		return 0;
	}
	if (r < 0) {
		conn_reset(c);
		return -1;
	}
	if (r == 0) {
		/* EOF: SHUTDOWN(SEND) after every byte; RCV too when the peer is gone. */
		c->pending &= ~PEND_DATA;
		c->host_eof = true;
		c->shut_flags = VSOCK_SHUTDOWN_SEND | (c->host_hup ? VSOCK_SHUTDOWN_RCV : 0);
		c->pending |= PEND_SHUTDOWN;
		conn_set_interest(c);
		return 0;
	}
	h->op = VSOCK_OP_RW;
	h->len = (uint32_t)r;
	c->tx_cnt += (uint32_t)r;
	/* A short read drained the socket; a full one may have left more (round robin decides). */
	if ((uint32_t)r < want || conn_peer_credit(c) == 0) {
		c->pending &= ~PEND_DATA;
		conn_set_interest(c);
	}
	return 1;
}

bool conn_rx(struct vsock_conn *c, struct vsock_hdr *h, const struct iovec *iov, unsigned n,
	     uint32_t cap)
{
	memset(h, 0, sizeof(*h));
	h->src_port = c->local_port;
	h->dst_port = c->peer_port;
	h->type = VSOCK_TYPE_STREAM;
	h->buf_alloc = c->buf_alloc;
	if (c->pending & PEND_RST) {
		h->op = VSOCK_OP_RST;
		c->mux->stats.resets_sent++;
		conn_free(c);
		return true;
	}
	int r = 0;
	if (c->pending & PEND_REQUEST) {
		c->pending &= ~PEND_REQUEST;
		h->op = VSOCK_OP_REQUEST;
	} else if (c->pending & PEND_RESPONSE) {
		c->pending &= ~PEND_RESPONSE;
		h->op = VSOCK_OP_RESPONSE;
	} else if ((c->pending & PEND_DATA) && (r = conn_read(c, h, iov, n, cap)) != 0) {
		if (r < 0) /* reset while reading: the RST goes now */
			return conn_rx(c, h, iov, n, cap);
	} else if (c->pending & PEND_SHUTDOWN) {
		c->pending &= ~PEND_SHUTDOWN;
		h->op = VSOCK_OP_SHUTDOWN;
		h->flags = c->shut_flags;
	} else if (c->pending & PEND_CREDIT) {
		h->op = VSOCK_OP_CREDIT_UPDATE;
	} else {
		c->pending = 0;
		return false;
	}
	/* Every packet carries our credit. */
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
	c->pending &= ~PEND_CREDIT;
	if (h->op == VSOCK_OP_SHUTDOWN && !conn_check_done(c))
		return true; /* both directions done: the RST is queued */
	if (c->pending)
		mux_rx_add(c->mux, c);
	return true;
}

void conn_host_event(struct vsock_conn *c, uint32_t events)
{
	if (c->state == CONN_LINE) {
		mux_line_read(c->mux, c);
		return;
	}
	if (c->state != CONN_OPEN) {
		/* Waiting for the guest, nothing is watched: the news is a closed client. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_reset(c);
		return;
	}
	if (events & EPOLLERR) {
		conn_reset(c);
		return;
	}
	if (events & EPOLLHUP) {
		epoll_ctl(c->mux->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->in_epoll = false;
		c->events = 0;
		c->host_hup = true;
		/* The peer is gone: guest bytes still waiting can never be delivered. */
		if (c->buf_len) {
			conn_reset(c);
			return;
		}
		conn_set_interest(c);
		return;
	}
	if ((events & EPOLLOUT) && !conn_flush(c))
		return;
	if ((events & EPOLLIN) && (c->events & EPOLLIN)) {
		c->pending |= PEND_DATA;
		mux_rx_add(c->mux, c);
	}
	conn_set_interest(c);
}

void conn_timeout(struct vsock_conn *c)
{
	c->mux->stats.timeouts++;
	if (c->state == CONN_LINE)
		log_guest("vsock-host", "host client sent no CONNECT line in time: closed");
	else if (c->state == CONN_REQUEST)
		log_guest("vsock", "guest port %u did not answer a connection in time",
			  c->peer_port);
	else
		log_guest("vsock", "guest port %u closed, but the host does not read: reset",
			  c->peer_port);
	conn_reset(c);
}
