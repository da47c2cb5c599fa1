/*
 * The user-mode network backend: the egress policy in front of libslirp (slirp.c), the DNS
 * forwarder at 10.0.2.3, and the queue of frames waiting for the guest's buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "backend.h"
#include "dnsfwd.h"
#include "resolv.h"
#include "policy.h"
#include "rxq.h"
#include "slirp.h"

#define TAG_DNS SLIRP_TAG_USER
#define USER_MTU_MIN 576u
#define USER_MTU_MAX 65521u /* slirp's IF_MTU_MAX */

struct net_user {
	struct net_backend be;
	struct slirp_loop loop;
	struct net_policy policy;
	struct dnsfwd dns;
	struct rxq rxq;
	uint16_t ip_id;
	uint8_t txbuf[NET_FRAME_MAX];
	uint8_t rst[64];
};

/* A frame from slirp for the guest. Past the queue's bound it is lost: TCP resends. */
static void slirp_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct net_user *u = ctx;
	policy_note_inbound(&u->policy, frame, len, slirp_loop_now_ms());
	rxq_push(&u->rxq, frame, len);
}

static void dns_answer(void *ctx, const uint8_t *frame, size_t len, const uint8_t *msg,
		       size_t msglen, const char *qname)
{
	struct net_user *u = ctx;
	policy_dns_answer(&u->policy, msg, msglen, qname, slirp_loop_now_ms());
	rxq_push(&u->rxq, frame, len);
}

static void other_event(void *ctx, uint64_t tag)
{
	struct net_user *u = ctx;
	if (tag == TAG_DNS)
		dnsfwd_read(&u->dns, slirp_loop_now_ms(), dns_answer, u);
}

static void user_process(struct net_backend *be)
{
	struct net_user *u = (struct net_user *)be;
	slirp_loop_process(&u->loop, other_event, u);
}

/* A refused connect fails at once (ECONNREFUSED) instead of timing out: an RST from "there". */
static void refuse(struct net_user *u, const struct ip4_pkt *k)
{
	if (k->proto != IPPROTO_TCP || !k->has_l4 || k->fragment ||
	    (k->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
		return;
	uint32_t ack = k->tcp_seq + 1 + (uint32_t)k->payload_len;
	size_t fl = frame_tcp4(u->rst, sizeof(u->rst), u->txbuf + 6, u->txbuf, k->dst, k->dport,
			       k->src, k->sport, 0, ack, TCP_RST | TCP_ACK, NULL, 0, u->ip_id++);
	if (fl)
		rxq_push(&u->rxq, u->rst, fl);
}

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
	uint64_t now = slirp_loop_now_ms();
	policy_check(&u->policy, u->txbuf, got, now, &r);
	be->denied = u->policy.denied;
	switch (r.verdict) {
	case POLICY_PASS:
		slirp_loop_input(&u->loop, u->txbuf, got);
		return 0;
	case POLICY_DNS:
		dnsfwd_query(&u->dns, u->txbuf, &r.pkt, now, dns_answer, u);
		return 0;
	case POLICY_DENY:
		memcpy(be->last_denied, u->policy.last_denied, sizeof(be->last_denied));
		refuse(u, &r.pkt);
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
	slirp_loop_flush(&((struct net_user *)be)->loop);
}

static void user_rx_pause(struct net_backend *be, bool paused)
{
	slirp_loop_pause(&((struct net_user *)be)->loop, paused);
}

static void user_destroy(struct net_backend *be)
{
	struct net_user *u = (struct net_user *)be;
	slirp_loop_destroy(&u->loop);
	dnsfwd_destroy(&u->dns);
	rxq_destroy(&u->rxq);
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
		if (resolv_first_ipv4(text, &a) < 0)
			a = 0;
	}
	if (!a)
		log_err("net: no IPv4 nameserver in /etc/resolv.conf: the guest's queries get SERVFAIL "
			"(--net user,dns=ADDR[:PORT] names one)");
	return a;
}

static int user_setup(struct net_user *u, const struct net_config *cfg)
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
	int r = slirp_loop_init(&u->loop, &sc, slirp_frame, u);
	if (r == 0)
		r = dnsfwd_init(&u->dns, upstream_resolver(cfg),
				cfg->dns_upstream_port ? cfg->dns_upstream_port : 53, u->be.mtu);
	if (r == 0 && u->dns.fd >= 0)
		r = slirp_loop_watch(&u->loop, u->dns.fd, TAG_DNS);
	for (unsigned i = 0; r == 0 && i < cfg->nr_fwd; i++)
		r = slirp_loop_hostfwd(&u->loop, &cfg->fwd[i], NET_USER_GUEST);
	if (r == 0)
		slirp_loop_start(&u->loop);
	return r;
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
	BUG_ON(u->be.mtu < USER_MTU_MIN || u->be.mtu > USER_MTU_MAX); /* args.c checked it */
	u->dns.fd = -1;
	u->loop.epfd = u->loop.timerfd = -1;
	rxq_init(&u->rxq);
	policy_init(&u->policy, cfg);
	int r = user_setup(u, cfg);
	if (r < 0) {
		user_destroy(&u->be);
		return r;
	}
	u->be.fd = u->loop.epfd;
	*out = &u->be;
	return 0;
}
