/* Unit tests for the user network's egress policy: ranges, allow lists, learnt names, the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/policy.h"
#include "netframes.h"

static struct net_config cfg;
static struct net_policy pol;
static uint8_t frame[2048];

static int setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = NET_USER;
	policy_init(&pol, &cfg);
	return 0;
}

static void reinit(void)
{
	policy_init(&pol, &cfg);
}

static void allow_cidr(uint32_t a, unsigned prefix)
{
	cfg.allow[cfg.nr_allow].addr = a;
	cfg.allow[cfg.nr_allow].prefix = prefix;
	cfg.allow[cfg.nr_allow++].name[0] = '\0';
	reinit();
}

static void allow_name(const char *name)
{
	strcpy(cfg.allow[cfg.nr_allow++].name, name);
	reinit();
}

static enum policy_verdict judge(size_t len, uint64_t now, const char **why)
{
	struct policy_result r;
	policy_check(&pol, frame, len, now, &r);
	if (why)
		*why = r.reason;
	return r.verdict;
}

static enum policy_verdict syn_to(uint32_t dst, uint16_t port)
{
	return judge(tcp_from_guest(frame, dst, port, TCP_SYN), 1000, NULL);
}

static void test_special_ranges(void **state)
{
	(void)state;
	static const struct {
		uint32_t a;
		const char *why;
	} cases[] = {
		{ IP(0, 0, 0, 0), "this network" },	   { IP(9, 255, 255, 255), NULL },
		{ IP(10, 0, 0, 0), "private range" },	   { IP(10, 255, 255, 255), "private range" },
		{ IP(11, 0, 0, 0), NULL },		   { IP(100, 63, 255, 255), NULL },
		{ IP(100, 64, 0, 0), "private range" },   { IP(100, 127, 255, 255), "private range" },
		{ IP(100, 128, 0, 0), NULL },		   { IP(127, 0, 0, 1), "loopback" },
		{ IP(169, 254, 169, 254), "link-local" }, { IP(172, 15, 255, 255), NULL },
		{ IP(172, 16, 0, 0), "private range" },   { IP(172, 31, 255, 255), "private range" },
		{ IP(172, 32, 0, 0), NULL },		   { IP(192, 0, 2, 7), "special range" },
		{ IP(192, 167, 255, 255), NULL },	   { IP(192, 168, 1, 5), "private range" },
		{ IP(192, 169, 0, 0), NULL },		   { IP(198, 18, 0, 1), "special range" },
		{ IP(198, 19, 255, 255), "special range" }, { IP(198, 20, 0, 0), NULL },
		{ IP(203, 0, 113, 1), "special range" },  { IP(224, 0, 0, 1), "multicast" },
		{ IP(239, 255, 255, 255), "multicast" },  { IP(240, 0, 0, 1), "reserved range" },
		{ IP(255, 255, 255, 255), "reserved range" }, { IP(8, 8, 8, 8), NULL },
		{ IP(1, 1, 1, 1), NULL },		   { IP(223, 255, 255, 255), NULL },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = policy_special_range(cases[i].a);
		char a[16];
		if ((got == NULL) != (cases[i].why == NULL) ||
		    (got && strcmp(got, cases[i].why) != 0))
			fail_msg("%s: got %s, expected %s", ip4_str(cases[i].a, a),
				 got ? got : "public", cases[i].why ? cases[i].why : "public");
	}
}

static void test_default_policy(void **state)
{
	(void)state;
	const char *why;
	assert_int_equal(syn_to(IP(93, 184, 216, 34), 443), POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, IP(192, 168, 1, 5), 443, TCP_SYN), 1, &why),
			 POLICY_DENY);
	assert_string_equal(why, "private range");
	/* The host alias is the host's loopback: off by default. */
	assert_int_equal(judge(tcp_from_guest(frame, NET_USER_HOST, 80, TCP_SYN), 1, &why),
			 POLICY_DENY);
	assert_string_equal(why, "host loopback, host-access=off");
	assert_int_equal(syn_to(IP(169, 254, 169, 254), 80), POLICY_DENY);
	assert_int_equal(syn_to(IP(127, 0, 0, 1), 22), POLICY_DENY);
	assert_int_equal(syn_to(IP(0, 0, 0, 0), 22), POLICY_DENY);
	assert_int_equal(syn_to(IP(10, 0, 2, 4), 22), POLICY_DENY);
	/* UDP and ICMP by the same rules */
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 5000, IP(10, 1, 1, 1), 53, "x", 1),
			       1, NULL),
			 POLICY_DENY);
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 5000, IP(9, 9, 9, 9), 53, "x", 1),
			       1, NULL),
			 POLICY_PASS);
	assert_int_equal(judge(icmp_from_guest(frame, IP(172, 16, 0, 1)), 1, NULL), POLICY_DENY);
	assert_int_equal(judge(icmp_from_guest(frame, IP(8, 8, 4, 4)), 1, NULL), POLICY_PASS);
	/* slirp answers pings to its own addresses and DHCP itself */
	assert_int_equal(judge(icmp_from_guest(frame, NET_USER_HOST), 1, NULL), POLICY_PASS);
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 68, 0xffffffffu, 67, "x", 1), 1,
			       NULL),
			 POLICY_PASS);
	assert_int_equal(pol.denied, 8);

	cfg.host_access = true;
	reinit();
	assert_int_equal(syn_to(NET_USER_HOST, 80), POLICY_PASS);
	assert_int_equal(syn_to(IP(192, 168, 1, 5), 80), POLICY_DENY);
}

/* Only a bare SYN opens a connection in slirp, so only SYNs are judged (and fragments). */
static void test_tcp_only_syn_judged(void **state)
{
	(void)state;
	assert_int_equal(judge(tcp_from_guest(frame, IP(10, 9, 9, 9), 80, TCP_ACK), 1, NULL),
			 POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, NET_USER_HOST, 80, TCP_SYN | TCP_ACK), 1,
			       NULL),
			 POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, IP(10, 9, 9, 9), 80, TCP_SYN | TCP_FIN), 1,
			       NULL),
			 POLICY_DENY);
	/* A later fragment carries no ports: judged by its address alone. */
	size_t n = tcp_from_guest(frame, IP(10, 9, 9, 9), 80, TCP_ACK);
	frame[ETH_HDR_LEN + 6] = 0x00;
	frame[ETH_HDR_LEN + 7] = 0x02; /* offset 16 bytes */
	assert_int_equal(judge(n, 1, NULL), POLICY_DENY);
	n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_ACK);
	frame[ETH_HDR_LEN + 7] = 0x02;
	assert_int_equal(judge(n, 1, NULL), POLICY_PASS);
	/* A first fragment (MF) of an ACK to a private address: reassembly could make a SYN. */
	n = tcp_from_guest(frame, IP(10, 9, 9, 9), 80, TCP_ACK);
	frame[ETH_HDR_LEN + 6] = 0x20;
	assert_int_equal(judge(n, 1, NULL), POLICY_DENY);
}

static void test_dns_forwarder_traffic(void **state)
{
	(void)state;
	const char *why;
	uint8_t q[20] = { 0x12, 0x34, 1, 0, 0, 1 };
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 5353, NET_USER_DNS, 53, q,
					      sizeof(q)),
			       1, NULL),
			 POLICY_DNS);
	assert_int_equal(judge(tcp_from_guest(frame, NET_USER_DNS, 53, TCP_SYN), 1, &why),
			 POLICY_DENY);
	assert_string_equal(why, "the DNS forwarder takes UDP only");
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 5353, NET_USER_DNS, 54, q,
					      sizeof(q)),
			       1, NULL),
			 POLICY_DENY);
}

static void test_not_ipv4(void **state)
{
	(void)state;
	const char *why;
	size_t n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	set_ethertype(frame, ETHERTYPE_ARP);
	assert_int_equal(judge(n, 1, NULL), POLICY_PASS);
	set_ethertype(frame, ETHERTYPE_IPV6);
	assert_int_equal(judge(n, 1, &why), POLICY_DROP);
	assert_string_equal(why, "ipv6");
	set_ethertype(frame, 0x88cc);
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	assert_int_equal(judge(10, 1, NULL), POLICY_DROP); /* shorter than Ethernet */
	assert_int_equal(pol.dropped, 3);
}

static void test_malformed_ipv4(void **state)
{
	(void)state;
	size_t n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	uint8_t *ip = frame + ETH_HDR_LEN;
	ip[0] = 0x44; /* header length 16 */
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	ip[0] = 0x65; /* version 6 */
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	ip[0] = 0x45;
	ip[2] = 0x10; /* total length beyond the frame */
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	ip[2] = 0;
	ip[3] = 30; /* a first piece too short for the TCP header */
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	frame[ETH_HDR_LEN + 20 + 12] = 0xf0; /* TCP header length past the segment */
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	/* UDP length beyond the datagram */
	n = udp_from_guest(frame, sizeof(frame), 1, IP(8, 8, 8, 8), 53, "abc", 3);
	frame[ETH_HDR_LEN + 20 + 5] = 200;
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	/* an IP protocol slirp does not carry */
	n = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	ip[9] = 47;
	assert_int_equal(judge(n, 1, NULL), POLICY_DROP);
	assert_int_equal(pol.denied, 0);
}

static void test_allow_list(void **state)
{
	(void)state;
	const char *why;
	allow_cidr(IP(1, 2, 3, 0), 24);
	assert_int_equal(syn_to(IP(1, 2, 3, 4), 443), POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, IP(1, 2, 4, 1), 443, TCP_SYN), 1, &why),
			 POLICY_DENY);
	assert_string_equal(why, "not in allow=");
	assert_int_equal(syn_to(IP(8, 8, 8, 8), 443), POLICY_DENY);
	assert_int_equal(syn_to(NET_USER_HOST, 443), POLICY_DENY);
	/* DNS stays reachable with an allow list */
	uint8_t q[20] = { 0x12, 0x34, 1, 0, 0, 1 };
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 5353, NET_USER_DNS, 53, q,
					      sizeof(q)),
			       1, NULL),
			 POLICY_DNS);
	/* A CIDR over a private range opens it; one over 10.0.2.2 opens the host alias. */
	allow_cidr(IP(10, 0, 0, 0), 8);
	assert_int_equal(syn_to(IP(10, 7, 7, 7), 22), POLICY_PASS);
	assert_int_equal(syn_to(NET_USER_HOST, 22), POLICY_PASS);
	assert_true(policy_host_alias_allowed(&cfg));
	/* host-access=on adds the host alias to an allow list */
	memset(&cfg, 0, sizeof(cfg));
	allow_cidr(IP(1, 2, 3, 4), 32);
	assert_false(policy_host_alias_allowed(&cfg));
	cfg.host_access = true;
	reinit();
	assert_int_equal(syn_to(NET_USER_HOST, 22), POLICY_PASS);
	assert_int_equal(syn_to(IP(1, 2, 3, 5), 22), POLICY_DENY);
	/* allow=0.0.0.0/0 allows everything */
	allow_cidr(0, 0);
	assert_int_equal(syn_to(IP(192, 168, 0, 1), 22), POLICY_PASS);
}

/* A DNS answer: header, the question for qname, then n A records (or a CNAME first). */
static size_t dns_answer(uint8_t *m, const char *qname, const char *cname, const uint32_t *addrs,
			 unsigned n, uint32_t ttl)
{
	size_t o = 12;
	memset(m, 0, 12);
	m[2] = 0x81;
	m[3] = 0x80;
	m[5] = 1;
	m[7] = (uint8_t)(n + (cname ? 1 : 0));
	const char *p = qname;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		m[o++] = (uint8_t)l;
		memcpy(m + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	m[o++] = 0;
	memcpy(m + o, "\0\1\0\1", 4);
	o += 4;
	size_t owner = 12; /* a pointer to the question's name */
	if (cname) {
		size_t at = o;
		memcpy(m + o, "\xc0\x0c\0\5\0\1", 6);
		o += 6;
		m[o++] = (uint8_t)(ttl >> 24);
		m[o++] = (uint8_t)(ttl >> 16);
		m[o++] = (uint8_t)(ttl >> 8);
		m[o++] = (uint8_t)ttl;
		size_t rdlen_at = o;
		o += 2;
		size_t start = o;
		p = cname;
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);
			m[o++] = (uint8_t)l;
			memcpy(m + o, p, l);
			o += l;
			p += l + (dot ? 1 : 0);
		}
		m[o++] = 0;
		m[rdlen_at] = 0;
		m[rdlen_at + 1] = (uint8_t)(o - start);
		owner = start;
		(void)at;
	}
	for (unsigned i = 0; i < n; i++) {
		m[o++] = (uint8_t)(0xc0 | owner >> 8);
		m[o++] = (uint8_t)owner;
		memcpy(m + o, "\0\1\0\1", 4);
		o += 4;
		m[o++] = (uint8_t)(ttl >> 24);
		m[o++] = (uint8_t)(ttl >> 16);
		m[o++] = (uint8_t)(ttl >> 8);
		m[o++] = (uint8_t)ttl;
		m[o++] = 0;
		m[o++] = 4;
		m[o++] = (uint8_t)(addrs[i] >> 24);
		m[o++] = (uint8_t)(addrs[i] >> 16);
		m[o++] = (uint8_t)(addrs[i] >> 8);
		m[o++] = (uint8_t)addrs[i];
	}
	return o;
}

static void test_allow_names_learnt_from_dns(void **state)
{
	(void)state;
	uint8_t m[512];
	allow_name("api.example.com");
	assert_int_equal(syn_to(IP(93, 184, 216, 34), 443), POLICY_DENY);
	uint32_t addrs[] = { IP(93, 184, 216, 34), IP(93, 184, 216, 35) };
	size_t n = dns_answer(m, "api.example.com", NULL, addrs, 2, 300);
	assert_true(policy_wants_name(&pol, "api.example.com"));
	assert_false(policy_wants_name(&pol, "example.com"));
	policy_dns_answer(&pol, m, n, "api.example.com", 1000);
	assert_int_equal(pol.learnt, 2);
	assert_int_equal(judge(tcp_from_guest(frame, IP(93, 184, 216, 34), 443, TCP_SYN), 2000, NULL),
			 POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, IP(93, 184, 216, 35), 80, TCP_SYN), 2000, NULL),
			 POLICY_PASS);
	/* ... for their TTL */
	assert_int_equal(judge(tcp_from_guest(frame, IP(93, 184, 216, 34), 443, TCP_SYN),
			       1000 + 300 * 1000, NULL),
			 POLICY_DENY);
	/* a name not in the list teaches nothing */
	n = dns_answer(m, "other.example.com", NULL, addrs, 1, 300);
	policy_dns_answer(&pol, m, n, "other.example.com", 1000);
	assert_int_equal(pol.learnt, 2);
}

static void test_learnt_cname_ttl_and_rebinding(void **state)
{
	(void)state;
	uint8_t m[512];
	allow_name("api.example.com");
	uint32_t a[] = { IP(5, 6, 7, 8) };
	size_t n = dns_answer(m, "api.example.com", "edge.cdn.example.net", a, 1, 5);
	policy_dns_answer(&pol, m, n, "api.example.com", 1000);
	assert_int_equal(pol.learnt, 1);
	/* a TTL of 5 s is stretched to POLICY_DNS_TTL_MIN */
	assert_int_equal(judge(tcp_from_guest(frame, IP(5, 6, 7, 8), 443, TCP_SYN), 20000, NULL),
			 POLICY_PASS);
	assert_int_equal(judge(tcp_from_guest(frame, IP(5, 6, 7, 8), 443, TCP_SYN),
			       1000 + POLICY_DNS_TTL_MIN * 1000, NULL),
			 POLICY_DENY);
	/* A name cannot open the host or a private network (DNS rebinding). */
	uint32_t bad[] = { IP(10, 0, 0, 5), NET_USER_HOST, IP(127, 0, 0, 1), IP(169, 254, 169, 254) };
	n = dns_answer(m, "api.example.com", NULL, bad, 4, 300);
	policy_dns_answer(&pol, m, n, "api.example.com", 1000);
	assert_int_equal(pol.learnt, 1);
	assert_int_equal(syn_to(IP(10, 0, 0, 5), 443), POLICY_DENY);
	assert_int_equal(syn_to(NET_USER_HOST, 443), POLICY_DENY);
	/* An answer whose question is not the name asked about is ignored. */
	n = dns_answer(m, "evil.example.com", NULL, a, 1, 300);
	policy_dns_answer(&pol, m, n, "api.example.com", 1000);
	assert_int_equal(pol.learnt, 1);
}

static void test_learnt_table_bounded(void **state)
{
	(void)state;
	uint8_t m[512];
	allow_name("many.example.com");
	for (uint32_t i = 0; i < POLICY_DYN_MAX + 50; i++) {
		uint32_t a = IP(44, 0, 0, 0) + i;
		size_t n = dns_answer(m, "many.example.com", NULL, &a, 1, 100 + i);
		policy_dns_answer(&pol, m, n, "many.example.com", 1000);
	}
	/* The longest-lived stay; the first ones gave way. */
	assert_int_equal(syn_to(IP(44, 0, 0, 0) + POLICY_DYN_MAX + 49, 1), POLICY_PASS);
	assert_int_equal(syn_to(IP(44, 0, 0, 0), 1), POLICY_DENY);
}

static void test_udp_hostfwd_replies(void **state)
{
	(void)state;
	cfg.nr_fwd = 1;
	cfg.fwd[0] = (struct net_fwd){ .udp = true, .host_addr = IP(127, 0, 0, 1),
				       .host_port = 5353, .guest_port = 53 };
	reinit();
	/* The guest's service cannot answer a peer that never wrote to it... */
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 53, NET_USER_HOST, 40000, "r",
					      1),
			       1000, NULL),
			 POLICY_DENY);
	/* ...and can once one did, through the forwarded port. */
	uint8_t in[128];
	size_t n = frame_udp4(in, sizeof(in), guest_mac, gw_mac, NET_USER_HOST, 40000,
			      NET_USER_GUEST, 53, "q", 1, 7);
	policy_note_inbound(&pol, in, n, 1000);
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 53, NET_USER_HOST, 40000, "r",
					      1),
			       2000, NULL),
			 POLICY_PASS);
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 53, NET_USER_HOST, 40001, "r",
					      1),
			       2000, NULL),
			 POLICY_DENY);
	assert_int_equal(judge(udp_from_guest(frame, sizeof(frame), 54, NET_USER_HOST, 40000, "r",
					      1),
			       2000, NULL),
			 POLICY_DENY);
}

/* stderr into a file while fn runs; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
	static char out[8192];
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void deny_twice(void)
{
	syn_to(IP(192, 168, 1, 5), 443);
	syn_to(IP(192, 168, 1, 5), 443);
	syn_to(IP(192, 168, 1, 5), 444);
	judge(icmp_from_guest(frame, IP(10, 1, 1, 1)), 1000, NULL);
}

static void deny_twice_quiet(void)
{
	syn_to(IP(192, 168, 1, 5), 444);
	syn_to(IP(192, 168, 1, 5), 443);
}

static void deny_flood(void)
{
	for (unsigned i = 0; i < 100; i++)
		judge(tcp_from_guest(frame, IP(10, 0, 0, 0) + i, 1, TCP_SYN), 5000, NULL);
}

static void test_denial_log(void **state)
{
	(void)state;
	char *out = capture_stderr(deny_twice);
	assert_int_equal(count_lines(out), 3);
	assert_non_null(strstr(out, "flint-vmm: net: denied tcp 192.168.1.5:443 (private range)\n"));
	assert_non_null(strstr(out, "flint-vmm: net: denied tcp 192.168.1.5:444 (private range)\n"));
	assert_non_null(strstr(out, "flint-vmm: net: denied icmp 10.1.1.1 (private range)\n"));
	assert_int_equal(pol.denied, 4);
	/* A flood of distinct destinations is cut to POLICY_LOG_PER_SEC lines a second. */
	out = capture_stderr(deny_flood);
	assert_int_equal(count_lines(out), POLICY_LOG_PER_SEC);
	assert_int_equal(pol.denied, 104);
}

/* The latest denial is kept as text in the log's words, for every denial, logged or not. */
static void test_last_denied(void **state)
{
	(void)state;
	assert_string_equal(pol.last_denied, "");
	syn_to(IP(93, 184, 216, 34), 443);
	assert_string_equal(pol.last_denied, ""); /* allowed: nothing to say */
	char *out = capture_stderr(deny_twice);
	assert_string_equal(pol.last_denied, "icmp 10.1.1.1 (private range)");
	assert_non_null(strstr(out, "flint-vmm: net: denied tcp 192.168.1.5:444 (private range)\n"));
	/* A repeat that is not logged again still becomes the latest. */
	out = capture_stderr(deny_twice_quiet);
	assert_string_equal(out, "");
	assert_string_equal(pol.last_denied, "tcp 192.168.1.5:443 (private range)");
	/* Through a flood past the log's rate limit, the very last one. */
	out = capture_stderr(deny_flood);
	assert_int_equal(count_lines(out), POLICY_LOG_PER_SEC);
	assert_string_equal(pol.last_denied, "tcp 10.0.0.99:1 (private range)");
	/* UDP with its port; the other reasons in their own words. */
	judge(udp_from_guest(frame, sizeof(frame), 5000, IP(169, 254, 169, 254), 80, "x", 1), 1,
	      NULL);
	assert_string_equal(pol.last_denied, "udp 169.254.169.254:80 (link-local)");
	syn_to(NET_USER_HOST, 8080);
	assert_string_equal(pol.last_denied, "tcp 10.0.2.2:8080 (host loopback, host-access=off)");
	judge(tcp_from_guest(frame, NET_USER_DNS, 53, TCP_SYN), 1, NULL);
	assert_string_equal(pol.last_denied, "tcp 10.0.2.3:53 (the DNS forwarder takes UDP only)");
	allow_cidr(IP(1, 2, 3, 0), 24);
	syn_to(IP(255, 255, 255, 255), 65535);
	assert_string_equal(pol.last_denied, "tcp 255.255.255.255:65535 (not in allow=)");
	/* Printable ASCII only, and NUL-terminated inside the buffer. */
	size_t n = strnlen(pol.last_denied, sizeof(pol.last_denied));
	assert_true(n < sizeof(pol.last_denied));
	for (size_t i = 0; i < n; i++)
		assert_true(pol.last_denied[i] >= 0x20 && pol.last_denied[i] < 0x7f);
	/* A drop (not a denial) leaves it alone; policy_init clears it. */
	size_t len = tcp_from_guest(frame, IP(8, 8, 8, 8), 80, TCP_SYN);
	set_ethertype(frame, ETHERTYPE_IPV6);
	assert_int_equal(judge(len, 1, NULL), POLICY_DROP);
	assert_string_equal(pol.last_denied, "tcp 255.255.255.255:65535 (not in allow=)");
	reinit();
	assert_string_equal(pol.last_denied, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_special_ranges, setup),
		cmocka_unit_test_setup(test_default_policy, setup),
		cmocka_unit_test_setup(test_tcp_only_syn_judged, setup),
		cmocka_unit_test_setup(test_dns_forwarder_traffic, setup),
		cmocka_unit_test_setup(test_not_ipv4, setup),
		cmocka_unit_test_setup(test_malformed_ipv4, setup),
		cmocka_unit_test_setup(test_allow_list, setup),
		cmocka_unit_test_setup(test_allow_names_learnt_from_dns, setup),
		cmocka_unit_test_setup(test_learnt_cname_ttl_and_rebinding, setup),
		cmocka_unit_test_setup(test_learnt_table_bounded, setup),
		cmocka_unit_test_setup(test_udp_hostfwd_replies, setup),
		cmocka_unit_test_setup(test_denial_log, setup),
		cmocka_unit_test_setup(test_last_denied, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
