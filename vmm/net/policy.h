/* The user network's egress policy: which guest frames may reach slirp, and what a denial does. */
#ifndef FLINT_NET_POLICY_H
#define FLINT_NET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "backend.h"
#include "frame.h"

#define POLICY_DYN_MAX 256u	 /* addresses learnt from DNS answers for allow= names */
#define POLICY_FLOWS_MAX 64u	 /* UDP flows a forwarded port answers */
#define POLICY_LOGGED_MAX 128u	 /* destinations whose denial was already logged */
#define POLICY_DNS_TTL_MIN 30u	 /* seconds a learnt address stays allowed, at least */
#define POLICY_DNS_TTL_MAX 86400u
#define POLICY_LOG_PER_SEC 10u

enum policy_verdict {
	POLICY_PASS,  /* hand the frame to slirp */
	POLICY_DNS,   /* a query for the DNS forwarder (UDP to 10.0.2.3:53) */
	POLICY_DENY,  /* refused and logged; a TCP SYN is answered with an RST */
	POLICY_DROP,  /* not something the user network carries (IPv6, malformed): dropped, counted */
};

struct policy_result {
	enum policy_verdict verdict;
	struct ip4_pkt pkt; /* for IPv4 frames */
	const char *reason; /* POLICY_DENY, POLICY_DROP */
};

struct net_policy {
	bool host_access;
	const struct net_allow *allow; /* borrowed from the configuration */
	unsigned nr_allow;
	uint16_t udp_fwd_ports[CONFIG_NET_FWD_MAX]; /* guest ports of udp hostfwd entries */
	unsigned nr_udp_fwd;
	struct {
		uint32_t addr;
		uint64_t expires_ms; /* 0: free */
	} dyn[POLICY_DYN_MAX];
	struct {
		uint16_t guest_port, peer_port;
		uint32_t peer;
		uint64_t expires_ms;
	} flows[POLICY_FLOWS_MAX];
	uint64_t logged[POLICY_LOGGED_MAX]; /* proto << 48 | addr << 16 | port, + 1 (0: free) */
	unsigned logged_next;
	uint64_t log_window_ms;
	unsigned log_count;
	unsigned long denied, dropped, learnt;
	/* The latest denial, logged or not, as its log line words it: printable ASCII, "": none. */
	char last_denied[NET_LAST_DENIED_MAX];
};

/* Set up from the configuration, which must outlive p. */
void policy_init(struct net_policy *p, const struct net_config *cfg);

/* Whether the configuration allows the host alias (10.0.2.2), by host-access=on or an allow= CIDR. */
bool policy_host_alias_allowed(const struct net_config *cfg);

/*
 * Judge one guest frame (a private copy: the guest cannot change it underneath). now_ms is a
 * monotonic clock. A denial is counted, kept in last_denied as "tcp 1.2.3.4:443 (private
 * range)" (every one: the log is rate-limited, this is not) and logged (once per destination, at
 * most POLICY_LOG_PER_SEC lines a second) as "net: denied tcp 1.2.3.4:443 (private range)".
 */
void policy_check(struct net_policy *p, const uint8_t *frame, size_t len, uint64_t now_ms,
		  struct policy_result *r);

/* Why dst is off limits by default ("private range", ...), or NULL for a public address. */
const char *policy_special_range(uint32_t dst);

/*
 * The forwarder got an answer to a question about qname: if qname is an allow= name, its A
 * records (CNAMEs followed) become allowed destinations for their TTL, clamped to
 * [POLICY_DNS_TTL_MIN, POLICY_DNS_TTL_MAX]. Addresses in special ranges are not learnt this way
 * (a name cannot open the host or a private network: give a CIDR for that).
 */
void policy_dns_answer(struct net_policy *p, const uint8_t *msg, size_t len, const char *qname,
		       uint64_t now_ms);

/* Whether qname is one of the allow= names (a query worth snooping). */
bool policy_wants_name(const struct net_policy *p, const char *qname);

/* A frame going to the guest: UDP from a host peer to a forwarded port opens the reply path. */
void policy_note_inbound(struct net_policy *p, const uint8_t *frame, size_t len, uint64_t now_ms);

#endif
