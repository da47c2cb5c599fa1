/* Egress policy for the user network: judged on a private copy of each guest frame, before slirp. */
#include "policy.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "dns.h"

#define FLOW_MS (240u * 1000u) /* how long a forwarded UDP port may answer a host peer */

static const struct {
	uint32_t net;
	unsigned prefix;
	const char *why;
} special[] = {
	{ 0x00000000u, 8, "this network" },   /* connect(0.0.0.0) reaches the host itself */
	{ 0x0a000000u, 8, "private range" },
	{ 0x64400000u, 10, "private range" }, /* shared address space (carrier NAT) */
	{ 0x7f000000u, 8, "loopback" },
	{ 0xa9fe0000u, 16, "link-local" },    /* cloud metadata services live here */
	{ 0xac100000u, 12, "private range" },
	{ 0xc0000000u, 24, "special range" }, /* IETF protocol assignments */
	{ 0xc0000200u, 24, "special range" }, /* documentation */
	{ 0xc0586300u, 24, "special range" }, /* 6to4 relays */
	{ 0xc0a80000u, 16, "private range" },
	{ 0xc6120000u, 15, "special range" }, /* benchmarking */
	{ 0xc6336400u, 24, "special range" }, /* documentation */
	{ 0xcb007100u, 24, "special range" }, /* documentation */
	{ 0xe0000000u, 4, "multicast" },
	{ 0xf0000000u, 4, "reserved range" }, /* and the broadcast address */
};

static bool in_cidr(uint32_t a, uint32_t net, unsigned prefix)
{
	uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	return (a & mask) == (net & mask);
}

const char *policy_special_range(uint32_t dst)
{
	for (unsigned i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (in_cidr(dst, special[i].net, special[i].prefix))
			return special[i].why;
	return NULL;
}

static bool allow_cidr(const struct net_allow *a, unsigned n, uint32_t dst)
{
	for (unsigned i = 0; i < n; i++)
		if (!a[i].name[0] && in_cidr(dst, a[i].addr, a[i].prefix))
			return true;
	return false;
}

bool policy_host_alias_allowed(const struct net_config *cfg)
{
	return cfg->host_access || allow_cidr(cfg->allow, cfg->nr_allow, NET_USER_HOST);
}

void policy_init(struct net_policy *p, const struct net_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->host_access = cfg->host_access;
	p->allow = cfg->allow;
	p->nr_allow = cfg->nr_allow;
	for (unsigned i = 0; i < cfg->nr_fwd; i++)
		if (cfg->fwd[i].udp)
			p->udp_fwd_ports[p->nr_udp_fwd++] = cfg->fwd[i].guest_port;
}

static bool dyn_allowed(const struct net_policy *p, uint32_t dst, uint64_t now_ms)
{
	for (unsigned i = 0; i < POLICY_DYN_MAX; i++)
		if (p->dyn[i].expires_ms > now_ms && p->dyn[i].addr == dst)
			return true;
	return false;
}

/* Why dst is refused, or NULL when the guest may reach it. */
static const char *dest_denied(const struct net_policy *p, uint32_t dst, uint64_t now_ms)
{
	if (allow_cidr(p->allow, p->nr_allow, dst) || dyn_allowed(p, dst, now_ms))
		return NULL;
	if (dst == NET_USER_HOST)
		return p->host_access ? NULL : "host loopback, host-access=off";
	if (p->nr_allow > 0)
		return "not in allow=";
	return policy_special_range(dst);
}

static bool flow_open(const struct net_policy *p, const struct ip4_pkt *k, uint64_t now_ms)
{
	for (unsigned i = 0; i < POLICY_FLOWS_MAX; i++)
		if (p->flows[i].expires_ms > now_ms && p->flows[i].guest_port == k->sport &&
		    p->flows[i].peer == k->dst && p->flows[i].peer_port == k->dport)
			return true;
	return false;
}

static bool has_ports(const struct ip4_pkt *k)
{
	return k->has_l4 && (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP);
}

/*
 * Every denial is kept as text, not only the logged ones, so a supervisor asking later sees the
 * latest even through a flood. The parts are ours (a protocol name, digits, a fixed reason): the
 * text is printable ASCII, and far shorter than the buffer.
 */
static void deny_note(struct net_policy *p, const struct ip4_pkt *k, const char *why)
{
	const char *proto = k->proto == IPPROTO_TCP ? "tcp" :
			    k->proto == IPPROTO_UDP ? "udp" :
			    k->proto == IPPROTO_ICMP ? "icmp" :
						       "ip";
	char a[16];
	ip4_str(k->dst, a);
	if (has_ports(k))
		snprintf(p->last_denied, sizeof(p->last_denied), "%s %s:%u (%s)", proto, a,
			 k->dport, why);
	else
		snprintf(p->last_denied, sizeof(p->last_denied), "%s %s (%s)", proto, a, why);
}

/* At most one line per destination, and POLICY_LOG_PER_SEC lines a second in all. */
static void deny_log(struct net_policy *p, const struct ip4_pkt *k, uint64_t now_ms)
{
	bool ports = has_ports(k);
	uint64_t key = ((uint64_t)k->proto << 48 | (uint64_t)k->dst << 16 | (ports ? k->dport : 0)) + 1;
	for (unsigned i = 0; i < POLICY_LOGGED_MAX; i++)
		if (p->logged[i] == key)
			return;
	if (now_ms - p->log_window_ms >= 1000) {
		p->log_window_ms = now_ms;
		p->log_count = 0;
	}
	if (p->log_count >= POLICY_LOG_PER_SEC)
		return; /* not remembered: a later attempt may still be logged */
	p->log_count++;
	p->logged[p->logged_next] = key;
	p->logged_next = (p->logged_next + 1) % POLICY_LOGGED_MAX;
	log_err("net: denied %s", p->last_denied);
}

/* The verdict for an IPv4 packet (r->pkt filled); a denial's reason goes to r->reason. */
static enum policy_verdict check_ip4(struct net_policy *p, uint64_t now_ms, struct policy_result *r)
{
	const struct ip4_pkt *k = &r->pkt;
	bool whole = k->has_l4 && !k->fragment;

	/* slirp answers DHCP and pings to its own addresses itself; nothing leaves the VMM. */
	if (whole && k->proto == IPPROTO_UDP && k->dport == 67 &&
	    (k->dst == 0xffffffffu || k->dst == NET_USER_HOST))
		return POLICY_PASS;
	if (whole && k->proto == IPPROTO_ICMP && k->sport >> 8 == 8 &&
	    (k->dst == NET_USER_HOST || k->dst == NET_USER_DNS))
		return POLICY_PASS;

	if (k->dst == NET_USER_DNS) {
		if (whole && k->proto == IPPROTO_UDP && k->dport == 53)
			return POLICY_DNS;
		r->reason = "the DNS forwarder takes UDP only";
	} else if (whole && k->proto == IPPROTO_TCP &&
		   (k->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
		/*
		 * slirp opens a host socket for a TCP segment only when it is a bare SYN; anything
		 * else about an unknown connection it answers with an RST. So only connection
		 * attempts are judged, and a forwarded port's replies to 10.0.2.2 pass. Fragments
		 * are judged by their address, since reassembly could make a SYN of them.
		 */
		return POLICY_PASS;
	} else if (whole && k->proto == IPPROTO_UDP && flow_open(p, k, now_ms)) {
		return POLICY_PASS;
	} else if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP &&
		   k->proto != IPPROTO_ICMP) {
		p->dropped++;
		r->reason = "protocol"; /* slirp carries nothing else */
		return POLICY_DROP;
	} else {
		r->reason = dest_denied(p, k->dst, now_ms);
		if (!r->reason)
			return POLICY_PASS;
	}
	p->denied++;
	deny_note(p, k, r->reason);
	deny_log(p, k, now_ms);
	return POLICY_DENY;
}

void policy_check(struct net_policy *p, const uint8_t *frame, size_t len, uint64_t now_ms,
		  struct policy_result *r)
{
	memset(r, 0, sizeof(*r));
	r->verdict = POLICY_DROP;
	switch (frame_ethertype(frame, len)) {
	case ETHERTYPE_ARP:
		r->verdict = POLICY_PASS;
		return;
	case ETHERTYPE_IPV4:
		if (frame_ip4(frame, len, &r->pkt) == 0) {
			r->verdict = check_ip4(p, now_ms, r);
			return;
		}
		r->reason = "malformed ipv4";
		break;
	case ETHERTYPE_IPV6:
		r->reason = "ipv6"; /* the user network is IPv4 only: slirp runs without IPv6 */
		break;
	default:
		r->reason = "ethertype";
		break;
	}
	p->dropped++;
}

bool policy_wants_name(const struct net_policy *p, const char *qname)
{
	for (unsigned i = 0; i < p->nr_allow; i++)
		if (p->allow[i].name[0] && strcmp(p->allow[i].name, qname) == 0)
			return true;
	return false;
}

struct learn {
	struct net_policy *p;
	uint64_t now_ms;
};

static void learn_addr(void *ctx, uint32_t addr, uint32_t ttl)
{
	struct learn *l = ctx;
	struct net_policy *p = l->p;
	if (addr == NET_USER_HOST || policy_special_range(addr))
		return;
	if (ttl < POLICY_DNS_TTL_MIN)
		ttl = POLICY_DNS_TTL_MIN;
	if (ttl > POLICY_DNS_TTL_MAX)
		ttl = POLICY_DNS_TTL_MAX;
	uint64_t expires = l->now_ms + (uint64_t)ttl * 1000;
	unsigned slot = 0;
	for (unsigned i = 0; i < POLICY_DYN_MAX; i++) {
		if (p->dyn[i].expires_ms > l->now_ms && p->dyn[i].addr == addr) {
			if (p->dyn[i].expires_ms < expires)
				p->dyn[i].expires_ms = expires;
			return;
		}
		/* Otherwise the slot closest to expiry (expired and free ones first) is reused. */
		if (p->dyn[i].expires_ms < p->dyn[slot].expires_ms)
			slot = i;
	}
	p->dyn[slot].addr = addr;
	p->dyn[slot].expires_ms = expires;
	p->learnt++;
}

void policy_dns_answer(struct net_policy *p, const uint8_t *msg, size_t len, const char *qname,
		       uint64_t now_ms)
{
	if (!policy_wants_name(p, qname))
		return;
	struct learn l = { p, now_ms };
	dns_answer_addrs(msg, len, qname, learn_addr, &l);
}

void policy_note_inbound(struct net_policy *p, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	struct ip4_pkt k;
	if (p->nr_udp_fwd == 0 || frame_ethertype(frame, len) != ETHERTYPE_IPV4 ||
	    frame_ip4(frame, len, &k) < 0 || k.proto != IPPROTO_UDP || !k.has_l4 || k.fragment)
		return;
	bool fwd = false;
	for (unsigned i = 0; i < p->nr_udp_fwd; i++)
		fwd |= p->udp_fwd_ports[i] == k.dport;
	if (!fwd)
		return;
	unsigned slot = 0;
	for (unsigned i = 0; i < POLICY_FLOWS_MAX; i++) {
		if (p->flows[i].guest_port == k.dport && p->flows[i].peer == k.src &&
		    p->flows[i].peer_port == k.sport) {
			slot = i;
			break;
		}
		if (p->flows[i].expires_ms < p->flows[slot].expires_ms)
			slot = i;
	}
	p->flows[slot].guest_port = k.dport;
	p->flows[slot].peer = k.src;
	p->flows[slot].peer_port = k.sport;
	p->flows[slot].expires_ms = now_ms + FLOW_MS;
}
