/*
 * The user backend in-process, with real sockets on 127.0.0.1: libslirp behind the policy, the DNS
 * forwarder, forwarded ports, and the same traffic under the seccomp filter for --net user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/backend.h"
#include "net/frame.h"
#include "netframes.h"
#include "sandbox.h"

#define LOCALHOST IP(127, 0, 0, 1)

/*
 * The helpers also run in forked children (in their own network namespace, under seccomp), where
 * a cmocka failure would unwind into a copy of the test runner: there a failed check exits.
 */
static bool in_child;
#define CHECK(c) ((c) ? (void)0 : check_failed(#c, __LINE__))
static void check_failed(const char *what, int line)
{
	if (in_child) {
		fprintf(stderr, "child: line %d: %s\n", line, what);
		fflush(stderr);
		syscall(SYS_exit_group, 1);
	}
	fail_msg("line %d: %s", line, what);
}

/*
 * A network namespace of our own with only lo up: no address but the host's loopback is
 * reachable, so nothing a test lets through slirp can leave this machine. false without root.
 */
static bool private_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		return false;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_name = "lo", .ifr_flags = IFF_UP };
	bool up = fd >= 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	close(fd);
	return up;
}

/* Run fn in a child in a private network namespace: its exit status, or 77 when unavailable. */
static int in_netns(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		in_child = true;
		if (!private_netns())
			syscall(SYS_exit_group, 77);
		fn();
		/* no exit handlers: LeakSanitizer would ptrace, which a seccomp filter forbids */
		syscall(SYS_exit_group, 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("the child died of signal %d (SIGSYS is %d)", WTERMSIG(st), SIGSYS);
	return WEXITSTATUS(st);
}

static void run_in_netns(void (*fn)(void))
{
	int st = in_netns(fn);
	if (st == 77)
		skip(); /* needs root for a network namespace */
	assert_int_equal(st, 0);
}

struct ufx {
	struct net_config cfg;
	struct net_backend *be;
	int dns_fd; /* the upstream resolver the forwarder talks to */
	int ep;	    /* the backend's fd, waited on with epoll: the seccomp filter has no poll */
	uint16_t dns_port;
	uint8_t buf[VNET_HDR_LEN + NET_FRAME_MAX];
	size_t len; /* the last frame received, header excluded, at buf + VNET_HDR_LEN */
};

static int bound_socket(int type, uint16_t *port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOCALHOST) };
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		abort();
	if (type == SOCK_STREAM && listen(fd, 4) < 0)
		abort();
	*port = ntohs(sa.sin_port);
	return fd;
}

static struct ufx *ufx_new(bool host_access, const char *allow_name, uint16_t fwd_port)
{
	struct ufx *u = calloc(1, sizeof(*u));
	u->cfg.mode = NET_USER;
	u->cfg.host_access = host_access;
	u->dns_fd = bound_socket(SOCK_DGRAM, &u->dns_port);
	u->cfg.dns_upstream = LOCALHOST;
	u->cfg.dns_upstream_port = u->dns_port;
	if (allow_name) {
		strcpy(u->cfg.allow[0].name, allow_name);
		u->cfg.allow[1].addr = NET_USER_HOST;
		u->cfg.allow[1].prefix = 32;
		u->cfg.nr_allow = 2;
	}
	if (fwd_port) {
		u->cfg.fwd[0] = (struct net_fwd){ .host_addr = LOCALHOST, .host_port = fwd_port,
						  .guest_port = 80 };
		u->cfg.nr_fwd = 1;
	}
	CHECK(net_user_open(&u->cfg, &u->be) == 0);
	u->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	CHECK(epoll_ctl(u->ep, EPOLL_CTL_ADD, u->be->fd, &ev) == 0);
	u->be->ops->rx_pause(u->be, false);
	return u;
}

static void ufx_free(struct ufx *u)
{
	u->be->ops->destroy(u->be);
	close(u->ep);
	close(u->dns_fd);
	free(u);
}

static void send_frame(struct ufx *u, const uint8_t *f, size_t len)
{
	struct virtio_net_hdr h = { 0 };
	struct iovec iov = { (void *)f, len };
	u->be->ops->send(u->be, &h, &iov, 1, len);
	u->be->ops->flush(u->be);
}

/* The next frame for the guest, running the backend's events for up to ms; false if none. */
static bool next_frame(struct ufx *u, int ms)
{
	for (int waited = 0;; waited += 10) {
		ssize_t n = u->be->ops->recv(u->be, u->buf, sizeof(u->buf));
		if (n > 0) {
			u->len = (size_t)n - VNET_HDR_LEN;
			return true;
		}
		if (waited >= ms)
			return false;
		struct epoll_event ev;
		if (epoll_wait(u->ep, &ev, 1, 10) > 0)
			u->be->ops->process(u->be);
	}
}

/* The next IPv4 frame for the guest (ARP requests and the like are skipped). */
static bool next_ip4(struct ufx *u, int ms, struct ip4_pkt *k)
{
	while (next_frame(u, ms))
		if (frame_ethertype(u->buf + VNET_HDR_LEN, u->len) == ETHERTYPE_IPV4 &&
		    frame_ip4(u->buf + VNET_HDR_LEN, u->len, k) == 0)
			return true;
	return false;
}

/* The next TCP segment for the guest (pings' answers and the like are skipped). */
static bool next_tcp(struct ufx *u, int ms, struct ip4_pkt *k)
{
	while (next_ip4(u, ms, k))
		if (k->proto == 6)
			return true;
	return false;
}

/* slirp sends to the guest only once it knows the guest's MAC: an ARP request teaches it. */
static void arp_hello(struct ufx *u)
{
	uint8_t f[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 3, 0x08, 0x06,
			  0, 1, 0x08, 0, 6, 4, 0, 1, 0x52, 0x54, 0, 0, 0, 3, 10, 0, 2, 15,
			  0, 0, 0, 0, 0, 0, 10, 0, 2, 2 };
	send_frame(u, f, sizeof(f));
	CHECK(next_frame(u, 1000));
	CHECK(frame_ethertype(u->buf + VNET_HDR_LEN, u->len) == ETHERTYPE_ARP);
}

/* A denied connect is answered at once with an RST for exactly that SYN. */
static void test_denied_syn_gets_rst(void **state)
{
	(void)state;
	struct ufx *u = ufx_new(false, NULL, 0);
	uint8_t f[128];
	size_t n = frame_tcp4(f, sizeof(f), gw_mac, guest_mac, NET_USER_GUEST, 40000,
			      IP(192, 168, 1, 5), 443, 777, 0, TCP_SYN, NULL, 0, 1);
	send_frame(u, f, n);
	assert_true(next_frame(u, 0));
	struct ip4_pkt k;
	uint8_t *rst = u->buf + VNET_HDR_LEN;
	assert_int_equal(frame_ip4(rst, u->len, &k), 0);
	assert_int_equal(k.proto, 6);
	assert_int_equal(k.src, IP(192, 168, 1, 5));
	assert_int_equal(k.sport, 443);
	assert_int_equal(k.dst, NET_USER_GUEST);
	assert_int_equal(k.dport, 40000);
	assert_int_equal(k.tcp_flags, TCP_RST | TCP_ACK);
	assert_memory_equal(rst, guest_mac, 6);
	uint32_t ack = (uint32_t)rst[42] << 24 | (uint32_t)rst[43] << 16 | rst[44] << 8 | rst[45];
	assert_int_equal(ack, 778);
	/* checksums: IP header and TCP segment sum to zero */
	assert_int_equal(csum_fold(csum_add(0, rst + 14, 20)), 0);
	assert_int_equal(u->be->denied, 1);
	ufx_free(u);
}

/* A DNS query for name, as a resolver sends it. */
static size_t dns_query(uint8_t *q, const char *name)
{
	static const uint8_t hdr[12] = { 0xab, 0xcd, 1, 0, 0, 1 };
	size_t ql = sizeof(hdr);
	memcpy(q, hdr, sizeof(hdr));
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		q[ql++] = (uint8_t)l;
		memcpy(q + ql, p, l);
		ql += l;
		p += l + (dot ? 1 : 0);
	}
	q[ql++] = 0;
	memcpy(q + ql, "\0\1\0\1", 4);
	return ql + 4;
}

/*
 * A query to 10.0.2.3 goes upstream under another ID; the upstream answers `answer`, which comes
 * back to the guest under its own ID. Then: does the policy now let a connect to it through?
 */
static bool dns_roundtrip(struct ufx *u, const char *name, uint32_t answer)
{
	uint8_t q[128], f[256], up[512];
	size_t ql = dns_query(q, name);
	send_frame(u, f, udp_from_guest(f, sizeof(f), 33333, NET_USER_DNS, 53, q, ql));

	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n = -1;
	for (int i = 0; i < 200 && n < 0; i++) {
		n = recvfrom(u->dns_fd, up, sizeof(up), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			next_frame(u, 10);
	}
	CHECK(n == (ssize_t)ql);
	CHECK(memcmp(up + 2, q + 2, ql - 2) == 0);
	/* the answer: the query with QR set and one A record */
	up[2] = 0x81;
	up[3] = 0x80;
	up[7] = 1;
	uint8_t rr[16] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, (uint8_t)(answer >> 24),
			   (uint8_t)(answer >> 16), (uint8_t)(answer >> 8), (uint8_t)answer };
	memcpy(up + n, rr, sizeof(rr));
	size_t al = (size_t)n + sizeof(rr);
	CHECK(sendto(u->dns_fd, up, al, 0, (struct sockaddr *)&from, fl) == (ssize_t)al);

	struct ip4_pkt k;
	CHECK(next_ip4(u, 2000, &k));
	CHECK(k.src == NET_USER_DNS && k.sport == 53);
	CHECK(k.dst == NET_USER_GUEST && k.dport == 33333);
	CHECK(k.payload_len == al);
	CHECK(k.payload[0] == 0xab && k.payload[1] == 0xcd);
	CHECK(memcmp(k.payload + n, rr, sizeof(rr)) == 0);
	/* A forged answer (an ID nobody asked with) never reaches the guest. */
	up[0] ^= 0x55;
	sendto(u->dns_fd, up, al, 0, (struct sockaddr *)&from, fl);
	while (next_ip4(u, 200, &k))
		CHECK(k.src != NET_USER_DNS);

	uint8_t syn[128];
	size_t sl = frame_tcp4(syn, sizeof(syn), gw_mac, guest_mac, NET_USER_GUEST, 40001, answer,
			       443, 1, 0, TCP_SYN, NULL, 0, 1);
	unsigned long denied = u->be->denied;
	struct virtio_net_hdr h = { 0 };
	struct iovec iov = { syn, sl };
	int r = u->be->ops->send(u->be, &h, &iov, 1, sl);
	u->be->ops->flush(u->be);
	while (next_frame(u, 50))
		; /* the RST for a denied SYN; slirp's for an unreachable address */
	return r == 0 && u->be->denied == denied;
}

static void dns_snooping(void)
{
	struct ufx *u = ufx_new(false, "api.example.com", 0);
	/* a listed name: its address becomes reachable (in this namespace, reachable = fails fast) */
	CHECK(dns_roundtrip(u, "api.example.com", IP(93, 184, 216, 34)));
	/* a special range is never learnt: a name must not open one */
	CHECK(!dns_roundtrip(u, "api.example.com", IP(192, 0, 2, 80)));
	/* not a listed name: the answer goes through, nothing is learnt */
	CHECK(!dns_roundtrip(u, "other.example.com", IP(93, 184, 216, 35)));
	ufx_free(u);
}

static void test_dns_forwarding_and_snooping(void **state)
{
	(void)state;
	run_in_netns(dns_snooping);
}

/*
 * No route to the resolver (an offline host): the VM still comes up, and each query is answered
 * at once with SERVFAIL under the guest's own ID, also under the seccomp filter (it reconnects).
 */
static void dns_unreachable(void)
{
	struct net_config cfg = { .mode = NET_USER, .dns_upstream = IP(192, 0, 2, 53) };
	struct ufx *u = calloc(1, sizeof(*u));
	u->dns_fd = -1;
	CHECK(net_user_open(&cfg, &u->be) == 0);
	u->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	CHECK(epoll_ctl(u->ep, EPOLL_CTL_ADD, u->be->fd, &ev) == 0);
	u->be->ops->rx_pause(u->be, false);
	CHECK(sandbox_enter(SANDBOX_NET_USER | SANDBOX_VSOCK) == 0);
	for (int i = 0; i < 2; i++) {
		uint8_t q[128], f[256];
		size_t ql = dns_query(q, "example.com");
		send_frame(u, f, udp_from_guest(f, sizeof(f), 33333, NET_USER_DNS, 53, q, ql));
		struct ip4_pkt k;
		CHECK(next_ip4(u, 0, &k)); /* already queued: no waiting for a timeout */
		CHECK(k.src == NET_USER_DNS && k.sport == 53);
		CHECK(k.dst == NET_USER_GUEST && k.dport == 33333);
		CHECK(k.payload_len == ql);
		CHECK(k.payload[0] == 0xab && k.payload[1] == 0xcd);
		CHECK(k.payload[2] == 0x81); /* QR, RD kept */
		CHECK((k.payload[3] & 0x0f) == 2); /* SERVFAIL */
		CHECK(memcmp(k.payload + 4, "\0\1\0\0\0\0\0\0", 8) == 0);
		CHECK(memcmp(k.payload + 12, q + 12, ql - 12) == 0);
	}
	u->be->ops->destroy(u->be);
	close(u->ep);
	free(u);
}

static void test_dns_upstream_unreachable(void **state)
{
	(void)state;
	run_in_netns(dns_unreachable);
}

/* The guest's side of a TCP connection to 10.0.2.2:port: the host's 127.0.0.1:port on lfd. */
static void tcp_through_host_alias(struct ufx *u, int lfd, uint16_t port)
{
	arp_hello(u);
	uint8_t f[256];
	send_frame(u, f, frame_tcp4(f, sizeof(f), gw_mac, guest_mac, NET_USER_GUEST, 41000,
				    NET_USER_HOST, port, 5000, 0, TCP_SYN, NULL, 0, 1));
	struct ip4_pkt k;
	CHECK(next_tcp(u, 3000, &k));
	CHECK((k.tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK));
	CHECK(k.src == NET_USER_HOST);
	int cfd = accept(lfd, NULL, NULL);
	CHECK(cfd >= 0);
	uint32_t seq = k.tcp_seq + 1;
	send_frame(u, f, frame_tcp4(f, sizeof(f), gw_mac, guest_mac, NET_USER_GUEST, 41000,
				    NET_USER_HOST, port, 5001, seq, TCP_ACK, "ping", 4, 2));
	char got[8] = { 0 };
	ssize_t n = -1;
	for (int i = 0; i < 300 && n < 0; i++) {
		n = recvfrom(cfd, got, sizeof(got), MSG_DONTWAIT, NULL, NULL);
		if (n < 0)
			next_frame(u, 10); /* slirp writes once its socket is writable */
	}
	CHECK(n == 4);
	CHECK(strcmp(got, "ping") == 0);
	CHECK(sendto(cfd, "pong", 4, 0, NULL, 0) == 4);
	bool data = false;
	while (!data && next_tcp(u, 3000, &k))
		data = k.proto == 6 && k.payload_len == 4 && memcmp(k.payload, "pong", 4) == 0;
	CHECK(data);
	close(cfd);
}

static void test_tcp_via_host_alias(void **state)
{
	(void)state;
	uint16_t port;
	int lfd = bound_socket(SOCK_STREAM, &port);
	struct ufx *u = ufx_new(true, NULL, 0);
	tcp_through_host_alias(u, lfd, port);
	ufx_free(u);
	close(lfd);
}

/* A forwarded host port: a host client's connection reaches the guest as a SYN to port 80. */
static void test_hostfwd(void **state)
{
	(void)state;
	uint16_t port;
	int probe = bound_socket(SOCK_STREAM, &port); /* a free port, released for slirp */
	close(probe);
	struct ufx *u = ufx_new(false, NULL, port);
	arp_hello(u);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(LOCALHOST) };
	assert_true(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	struct ip4_pkt k;
	assert_true(next_ip4(u, 3000, &k));
	assert_int_equal(k.proto, 6);
	assert_int_equal(k.dst, NET_USER_GUEST);
	assert_int_equal(k.dport, 80);
	assert_int_equal(k.tcp_flags, TCP_SYN);
	close(c);
	ufx_free(u);
}

/*
 * The same before slirp knows the guest's MAC: it asks by ARP and holds the SYN; once the guest
 * answers, the held SYN must go out on slirp's own timer, with no further event to wake it.
 */
static void test_hostfwd_before_arp(void **state)
{
	(void)state;
	uint16_t port;
	int probe = bound_socket(SOCK_STREAM, &port);
	close(probe);
	struct ufx *u = ufx_new(false, NULL, port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(LOCALHOST) };
	assert_true(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	assert_true(next_frame(u, 3000));
	const uint8_t *req = u->buf + VNET_HDR_LEN;
	assert_int_equal(frame_ethertype(req, u->len), ETHERTYPE_ARP);
	assert_int_equal(req[21], 1); /* a request */
	uint8_t rep[42];
	memcpy(rep, req + 6, 6);
	memcpy(rep + 6, guest_mac, 6);
	memcpy(rep + 12, "\x08\x06\0\1\x08\0\6\4\0\2", 10);
	memcpy(rep + 22, guest_mac, 6);
	memcpy(rep + 28, "\x0a\0\2\x0f", 4);
	memcpy(rep + 32, req + 22, 10); /* the asker's MAC and address */
	send_frame(u, rep, sizeof(rep));
	struct ip4_pkt k;
	assert_true(next_tcp(u, 3000, &k));
	assert_int_equal(k.dport, 80);
	assert_int_equal(k.tcp_flags, TCP_SYN);
	close(c);
	ufx_free(u);
}

/* A hostfwd port already taken is a setup error with a message, not a half-built VM. */
static void test_hostfwd_port_taken(void **state)
{
	(void)state;
	uint16_t port;
	int busy = bound_socket(SOCK_STREAM, &port);
	struct net_config cfg = { .mode = NET_USER, .dns_upstream = LOCALHOST, .nr_fwd = 1 };
	cfg.fwd[0] = (struct net_fwd){ .host_addr = LOCALHOST, .host_port = port, .guest_port = 80 };
	struct net_backend *be = NULL;
	assert_true(net_user_open(&cfg, &be) < 0);
	close(busy);
}

/* The traffic above once more, confined by the seccomp filter flint-vmm runs with. */
static void confined(void)
{
	uint16_t port;
	int lfd = bound_socket(SOCK_STREAM, &port);
	struct ufx *u = ufx_new(true, NULL, 0);
	CHECK(sandbox_enter(SANDBOX_NET_USER | SANDBOX_VSOCK) == 0);
	uint8_t f[128];
	/* pings: slirp answers its own address; a public one takes a ping socket or, refused
	 * one (ping_group_range), a raw socket, which the filter fails with EPERM, then UDP */
	send_frame(u, f, icmp_from_guest(f, NET_USER_HOST));
	send_frame(u, f, icmp_from_guest(f, IP(93, 184, 216, 34)));
	tcp_through_host_alias(u, lfd, port);
	CHECK(!dns_roundtrip(u, "x.example.com", IP(192, 0, 2, 1)));
	CHECK(dns_roundtrip(u, "x.example.com", IP(93, 184, 216, 34))); /* no allow list */
	u->be->ops->rx_pause(u->be, true);
	u->be->ops->rx_pause(u->be, false);
	while (next_frame(u, 100))
		;
}

static void test_under_seccomp(void **state)
{
	(void)state;
	run_in_netns(confined);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_denied_syn_gets_rst),
		cmocka_unit_test(test_dns_forwarding_and_snooping),
		cmocka_unit_test(test_dns_upstream_unreachable),
		cmocka_unit_test(test_tcp_via_host_alias),
		cmocka_unit_test(test_hostfwd),
		cmocka_unit_test(test_hostfwd_before_arp),
		cmocka_unit_test(test_hostfwd_port_taken),
		cmocka_unit_test(test_under_seccomp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
