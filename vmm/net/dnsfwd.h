/* The user network's DNS forwarder: the guest's queries to 10.0.2.3 go to one upstream resolver. */
#ifndef FLINT_NET_DNSFWD_H
#define FLINT_NET_DNSFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "frame.h"

#define DNSFWD_PENDING 64u	 /* queries in flight; the oldest gives way */
#define DNSFWD_TIMEOUT_MS 10000u /* an answer later than this is dropped */
#define DNSFWD_READ_BUDGET 64u	 /* answers read per event */

struct dnsfwd_query {
	uint64_t at_ms; /* 0: free */
	uint16_t id, guest_id;
	uint32_t guest_ip;
	uint16_t guest_port;
	uint8_t guest_mac[6], dns_mac[6];
	char qname[DNS_NAME_TEXT];
};

struct dnsfwd {
	int fd; /* UDP, connected to the upstream: only its datagrams are read; -1 without one */
	uint32_t upstream; /* host order; 0: none */
	uint16_t port;
	bool connected; /* false while the host has no route to it: queries get SERVFAIL */
	bool told;	/* that outage was logged */
	unsigned mtu;
	uint32_t rng;
	uint16_t ip_id;
	struct dnsfwd_query q[DNSFWD_PENDING];
	unsigned long queries, answers, servfails, dropped;
	uint8_t buf[65536];
	uint8_t frame[NET_FRAME_MAX];
};

/*
 * Open the socket to upstream:port (host order; 0: no resolver) for guests with this MTU.
 * An upstream the host cannot reach (no route, no network) is not an error: it is logged once,
 * queries get SERVFAIL, and each query tries again. 0, or -errno after one message when no
 * socket can be had. destroy is safe after a failed init.
 */
int dnsfwd_init(struct dnsfwd *d, uint32_t upstream, uint16_t port, unsigned mtu);
void dnsfwd_destroy(struct dnsfwd *d);

typedef void (*dnsfwd_answer_fn)(void *ctx, const uint8_t *frame, size_t len, const uint8_t *msg,
				 size_t msglen, const char *qname);

/*
 * A guest query (UDP to 10.0.2.3:53) in frame, read as k: forward it under an ID of ours, or,
 * while the upstream cannot be reached, answer SERVFAIL through fn at once.
 */
void dnsfwd_query(struct dnsfwd *d, const uint8_t *frame, const struct ip4_pkt *k,
		  uint64_t now_ms, dnsfwd_answer_fn fn, void *ctx);

/*
 * The socket is readable: each answer that matches a query in flight (ID and question) goes to
 * fn with the frame for the guest (the guest's ID restored; truncated with TC set when it would
 * not fit the MTU), and the whole answer for snooping.
 */
void dnsfwd_read(struct dnsfwd *d, uint64_t now_ms, dnsfwd_answer_fn fn, void *ctx);

#endif
