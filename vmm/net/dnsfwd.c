/* DNS forwarding for the user network, done here rather than by slirp so answers can be snooped. */
#include "dnsfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "policy.h"

#define IP_UDP_HDRS 28u

/* Errors that say the host has no route to the resolver yet: the VM runs on without DNS. */
static bool unreachable(int e)
{
	return e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL || e == ENETDOWN ||
	       e == EACCES || e == EPERM;
}

/* Connect (again) to the upstream; false while the host cannot reach it. Told once per outage. */
static bool reach(struct dnsfwd *d)
{
	if (d->connected)
		return true;
	if (!d->upstream || d->fd < 0)
		return false;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(d->port),
				  .sin_addr.s_addr = htonl(d->upstream) };
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		if (d->told) {
			char a[16];
			log_info("net: DNS forwarder: %s:%u reachable again", ip4_str(d->upstream, a),
				 d->port);
		}
		d->connected = true;
		d->told = false;
		return true;
	}
	int e = errno;
	if (!d->told) {
		char a[16];
		log_err("net: DNS forwarder: cannot reach %s:%u (%s): the guest's queries get "
			"SERVFAIL until the host can",
			ip4_str(d->upstream, a), d->port, strerror(e));
		d->told = true;
	}
	return false;
}

int dnsfwd_init(struct dnsfwd *d, uint32_t upstream, uint16_t port, unsigned mtu)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->mtu = mtu;
	d->upstream = upstream;
	d->port = port;
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) != sizeof(d->rng) || d->rng == 0)
		d->rng = 0x9e3779b9u ^ (uint32_t)getpid();
	if (!upstream)
		return 0; /* no resolver at all: every query gets SERVFAIL */
	d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		int e = errno;
		log_err("net: DNS forwarder socket: %s", strerror(e));
		return -e;
	}
	reach(d);
	return 0;
}

void dnsfwd_destroy(struct dnsfwd *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* IDs the guest cannot predict or choose, so one guest port's answer never lands on another's. */
static uint16_t next_id(struct dnsfwd *d)
{
	uint32_t x = d->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	d->rng = x;
	return (uint16_t)(x >> 8);
}

static struct dnsfwd_query *find(struct dnsfwd *d, uint16_t id, uint64_t now_ms)
{
	for (unsigned i = 0; i < DNSFWD_PENDING; i++)
		if (d->q[i].at_ms && now_ms - d->q[i].at_ms < DNSFWD_TIMEOUT_MS && d->q[i].id == id)
			return &d->q[i];
	return NULL;
}

/*
 * The resolver cannot be reached: answer the guest at once with SERVFAIL (its header and
 * question, no records), so its resolver fails fast instead of waiting out every timeout.
 */
static void servfail(struct dnsfwd *d, const uint8_t *frame, const struct ip4_pkt *k, size_t qend,
		     const char *qname, dnsfwd_answer_fn fn, void *ctx)
{
	uint8_t msg[DNS_HDR_LEN + 255 + 4];
	if (qend > sizeof(msg) || qend > k->payload_len) {
		d->dropped++;
		return;
	}
	memcpy(msg, k->payload, qend);
	msg[2] = (uint8_t)(0x80 | (msg[2] & 0x79)); /* QR set; opcode and RD kept, AA and TC clear */
	msg[3] = 0x80 | 2;						/* RA, RCODE=SERVFAIL */
	memset(msg + 6, 0, 6);
	size_t flen = frame_udp4(d->frame, sizeof(d->frame), frame + 6, frame, NET_USER_DNS, 53,
				 k->src, k->sport, msg, qend, d->ip_id++);
	if (flen == 0) {
		d->dropped++;
		return;
	}
	d->servfails++;
	fn(ctx, d->frame, flen, msg, qend, qname);
}

void dnsfwd_query(struct dnsfwd *d, const uint8_t *frame, const struct ip4_pkt *k,
		  uint64_t now_ms, dnsfwd_answer_fn fn, void *ctx)
{
	struct dnsfwd_query *slot = &d->q[0];
	uint16_t qtype, qclass;
	size_t end;
	char qname[DNS_NAME_TEXT];

	if (k->payload_len < DNS_HDR_LEN || k->payload_len > sizeof(d->buf) ||
	    (k->payload[2] & 0x80) ||
	    dns_question(k->payload, k->payload_len, qname, &qtype, &qclass, &end) < 0) {
		d->dropped++;
		log_guest("net-dns", "query of %zu bytes without one question", k->payload_len);
		return;
	}
	if (!reach(d)) {
		servfail(d, frame, k, end, qname, fn, ctx);
		return;
	}
	for (unsigned i = 0; i < DNSFWD_PENDING; i++) {
		struct dnsfwd_query *q = &d->q[i];
		if (!q->at_ms || now_ms - q->at_ms >= DNSFWD_TIMEOUT_MS) {
			slot = q;
			break;
		}
		if (q->at_ms < slot->at_ms)
			slot = q;
	}
	uint16_t id;
	do
		id = next_id(d);
	while (find(d, id, now_ms));
	memset(slot, 0, sizeof(*slot));
	slot->at_ms = now_ms ? now_ms : 1;
	slot->id = id;
	slot->guest_id = (uint16_t)(k->payload[0] << 8 | k->payload[1]);
	slot->guest_ip = k->src;
	slot->guest_port = k->sport;
	memcpy(slot->guest_mac, frame + 6, 6);
	memcpy(slot->dns_mac, frame, 6);
	memcpy(slot->qname, qname, sizeof(qname));

	memcpy(d->buf, k->payload, k->payload_len);
	d->buf[0] = (uint8_t)(id >> 8);
	d->buf[1] = (uint8_t)id;
	if (send(d->fd, d->buf, k->payload_len, MSG_DONTWAIT) < 0) {
		int e = errno;
		slot->at_ms = 0;
		if (unreachable(e)) {
			/* The route went away: say so once, and answer now instead of a timeout. */
			d->connected = false;
			if (!reach(d)) {
				servfail(d, frame, k, end, qname, fn, ctx);
				return;
			}
		}
		d->dropped++;
		return;
	}
	d->queries++;
}

/* One answer of len bytes in d->buf. */
static void answer(struct dnsfwd *d, size_t len, uint64_t now_ms, dnsfwd_answer_fn fn, void *ctx)
{
	char qname[DNS_NAME_TEXT];
	uint16_t qtype, qclass;
	size_t qend;

	if (len < DNS_HDR_LEN || !(d->buf[2] & 0x80))
		goto drop;
	struct dnsfwd_query *q = find(d, (uint16_t)(d->buf[0] << 8 | d->buf[1]), now_ms);
	if (!q || dns_question(d->buf, len, qname, &qtype, &qclass, &qend) < 0 ||
	    strcmp(qname, q->qname) != 0)
		goto drop;
	d->buf[0] = (uint8_t)(q->guest_id >> 8);
	d->buf[1] = (uint8_t)q->guest_id;
	size_t room = d->mtu > IP_UDP_HDRS ? d->mtu - IP_UDP_HDRS : 0;
	const uint8_t *payload = d->buf;
	size_t out = len;
	uint8_t tc[DNS_HDR_LEN + 255 + 4];
	if (out > room) {
		/* What fits: the header and question, marked truncated, so the resolver knows. */
		if (qend > room || qend > sizeof(tc))
			goto drop;
		memcpy(tc, d->buf, qend);
		tc[2] |= DNS_FLAG_TC >> 8;
		memset(tc + 6, 0, 6);
		payload = tc;
		out = qend;
	}
	size_t flen = frame_udp4(d->frame, sizeof(d->frame), q->guest_mac, q->dns_mac,
				 NET_USER_DNS, 53, q->guest_ip, q->guest_port, payload, out,
				 d->ip_id++);
	q->at_ms = 0;
	if (flen == 0)
		goto drop;
	d->answers++;
	fn(ctx, d->frame, flen, d->buf, len, qname);
	return;
drop:
	d->dropped++;
}

void dnsfwd_read(struct dnsfwd *d, uint64_t now_ms, dnsfwd_answer_fn fn, void *ctx)
{
	for (unsigned i = 0; i < DNSFWD_READ_BUDGET; i++) {
		ssize_t n = recv(d->fd, d->buf, sizeof(d->buf), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			continue; /* an ICMP error from the upstream, reported once: read on */
		answer(d, (size_t)n, now_ms, fn, ctx);
	}
}
