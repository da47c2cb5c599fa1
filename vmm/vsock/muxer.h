/* The vsock host bridge: guest stream connections to and from Unix sockets, with flow control. */
#ifndef FLINT_VSOCK_MUXER_H
#define FLINT_VSOCK_MUXER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "packet.h"

#define VSOCK_CONN_MAX 1024u		 /* live connections, both directions together */
#define VSOCK_BUF_ALLOC (256u * 1024)	 /* the receive window flint offers per connection */
#define VSOCK_CONNECT_TIMEOUT_MS 5000u	 /* a host client's CONNECT line plus the guest's answer */
#define VSOCK_SHUTDOWN_TIMEOUT_MS 2000u	 /* a guest's close waiting on a host that does not read */
#define VSOCK_HOST_PORT_MIN 1024u	 /* local ports flint picks for host-initiated streams */
#define VSOCK_LINE_MAX 32u		 /* "CONNECT <port>\n", newline included */
#define VSOCK_ORPHAN_MAX 64u		 /* RSTs for packets that name no connection */
#define VSOCK_HASH_SIZE 1024u
/* PATH_<port> must fit sun_path with its NUL: 108 - strlen("_4294967295") - 1. */
#define VSOCK_PATH_MAX 96u

struct vsock_conn;

struct vsock_stats {
	unsigned long conns_host, conns_guest; /* connections opened from each side */
	unsigned long refused;		       /* guest connects: no listener, or over the cap */
	unsigned long bad_pkts;		       /* bad type, unknown op, out of protocol */
	unsigned long credit_violations;       /* guest sent beyond the window we offered */
	unsigned long resets_sent, resets_received;
	unsigned long timeouts;
	unsigned long orphans_dropped; /* RSTs lost because the guest gave no rx buffers */
};

struct vsock_orphan {
	uint32_t src_port, dst_port; /* as the RST carries them */
};

struct vsock_mux {
	uint64_t guest_cid;
	char path[VSOCK_PATH_MAX + 1];
	int listen_fd, epfd, timer_fd;
	bool listening; /* path is ours: removed at destroy */
	/* Tunables (tests lower them). */
	uint32_t buf_alloc;
	unsigned conn_max;
	unsigned connect_timeout_ms, shutdown_timeout_ms;

	struct vsock_conn *slot[VSOCK_CONN_MAX];
	uint32_t gen[VSOCK_CONN_MAX]; /* bumped when a slot is freed: stale epoll events miss */
	unsigned nr_conns;
	struct vsock_conn *bucket[VSOCK_HASH_SIZE]; /* by (local port, peer port) */
	struct vsock_conn *rx_head, *rx_tail;	    /* connections with packets for the guest */
	struct vsock_orphan orphan[VSOCK_ORPHAN_MAX];
	unsigned orphan_head, orphan_len;
	uint32_t next_port;
	uint64_t timer_at;	/* CLOCK_MONOTONIC ns the timerfd is armed for; 0: disarmed */
	uint64_t listen_resume; /* accepting paused (out of fds) until then; 0: not paused */
	struct vsock_stats stats;
};

/*
 * Listen on path (mode 0600, a stale socket there replaced) for host clients, and bridge
 * guest connections to path_<port>. 0, or -errno after one message; destroy is safe after.
 */
int vsock_mux_init(struct vsock_mux *m, const char *path, uint64_t guest_cid);
/* Close every connection and the listener, and remove path. */
void vsock_mux_destroy(struct vsock_mux *m);

/* The epoll set to watch for EPOLLIN; vsock_mux_process then handles what is ready. */
int vsock_mux_fd(const struct vsock_mux *m);
void vsock_mux_process(struct vsock_mux *m);

/*
 * A packet from the guest whose framing the device checked (src_cid is the guest's, dst_cid
 * the host, len bytes of payload in iov[0..n)). Type and op are checked here.
 */
void vsock_mux_guest_pkt(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *iov,
			 unsigned n);
/* A packet the device dropped as malformed: reset the connection it names, if any. */
void vsock_mux_refuse(struct vsock_mux *m, const struct vsock_hdr *h);

/* Whether a packet waits for a guest rx buffer. */
bool vsock_mux_has_rx(const struct vsock_mux *m);
/*
 * Produce the next packet for the guest: fills h's ports, len, type, op, flags and credit,
 * and h->len payload bytes (at most cap) into iov[0..n). Returns false when there is none.
 */
bool vsock_mux_rx(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *iov, unsigned n,
		  uint32_t cap);

/* The driver reset the device: connections the guest knew of are closed. */
void vsock_mux_reset(struct vsock_mux *m);

#endif
