/* One bridged vsock connection: its state machine and flow control (internal to vmm/vsock/). */
#ifndef FLINT_VSOCK_CONN_H
#define FLINT_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "muxer.h"

enum conn_state {
	CONN_LINE,    /* a host client connected; reading its "CONNECT <port>\n" */
	CONN_REQUEST, /* host-initiated: REQUEST queued or sent, waiting for the guest's RESPONSE */
	CONN_OPEN,    /* established: bytes flow both ways under credit */
	CONN_DEAD,    /* the host socket is closed; an RST for the guest is pending, then freed */
};

/* Packets owed to the guest, produced one at a time in this order of priority. */
#define PEND_RST 1u
#define PEND_REQUEST 2u
#define PEND_RESPONSE 4u
#define PEND_DATA 8u /* the host socket is readable (or at EOF) and the guest has credit */
#define PEND_SHUTDOWN 16u
#define PEND_CREDIT 32u

struct vsock_conn {
	struct vsock_mux *mux;
	unsigned slot;
	int fd;
	enum conn_state state;
	uint32_t local_port, peer_port; /* host side, guest side */
	bool hashed, on_rx, in_epoll;
	struct vsock_conn *hnext;
	struct vsock_conn *rx_next, *rx_prev;
	uint32_t pending; /* PEND_* */
	uint32_t events;  /* what epoll watches on fd */
	uint32_t shut_flags; /* of the SHUTDOWN we owe the guest */
	uint32_t buf_alloc;  /* the window we offer, fixed for the connection's life */

	bool host_eof;	/* the host socket read 0: SHUTDOWN(SEND) owed or sent */
	bool host_hup;	/* the host peer closed entirely: fd is out of the epoll set */
	bool peer_shut_send, peer_shut_rcv; /* the guest's SHUTDOWN flags */
	bool wr_shut;	/* shutdown(fd, SHUT_WR) done */

	/* Host -> guest: the guest's window, and what we sent into it. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest -> host: bytes received, bytes written to the host, fwd_cnt last advertised. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;
	/* Guest bytes the host socket has not taken yet: a ring of mux->buf_alloc bytes. */
	uint8_t *buf;
	uint32_t buf_head, buf_len;

	uint64_t deadline; /* CLOCK_MONOTONIC ns; 0: none */
	char line[VSOCK_LINE_MAX];
	unsigned line_len;
};

/* conn.c */
struct vsock_conn *conn_new(struct vsock_mux *m, int fd, enum conn_state state);
void conn_free(struct vsock_conn *c);
/* Close the host side and owe the guest an RST; the connection is freed once it is sent. */
void conn_reset(struct vsock_conn *c);
void conn_set_interest(struct vsock_conn *c);
void conn_host_event(struct vsock_conn *c, uint32_t events);
void conn_guest_pkt(struct vsock_conn *c, const struct vsock_hdr *h, const struct iovec *iov,
		    unsigned n);
/* One packet for the guest, or false (and nothing pending any more). May free c. */
bool conn_rx(struct vsock_conn *c, struct vsock_hdr *h, const struct iovec *iov, unsigned n,
	     uint32_t cap);
void conn_timeout(struct vsock_conn *c);
uint32_t conn_peer_credit(const struct vsock_conn *c);

/* muxer.c: the table, the rx round robin, the timer */
void mux_hash(struct vsock_mux *m, struct vsock_conn *c);
void mux_unhash(struct vsock_mux *m, struct vsock_conn *c);
uint32_t mux_pick_port(struct vsock_mux *m);
void mux_rx_add(struct vsock_mux *m, struct vsock_conn *c);
void mux_rx_del(struct vsock_mux *m, struct vsock_conn *c);
void mux_set_deadline(struct vsock_mux *m, struct vsock_conn *c, unsigned ms);
/* Stop accepting for a while (out of fds), or resume. */
void mux_listen_enable(struct vsock_mux *m, bool on);
uint64_t mux_epoll_key(const struct vsock_mux *m, const struct vsock_conn *c);

/* listener.c: the listening socket and host clients' CONNECT lines */
void mux_raise_nofile(void);
int mux_listen(struct vsock_mux *m);
void mux_accept(struct vsock_mux *m);
void mux_line_read(struct vsock_mux *m, struct vsock_conn *c);

#endif
