/* The tap backend: an existing tap device, frames with their virtio-net headers passed through. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "../virtio/virtq.h"
#include "backend.h"
#include "frame.h"

#define TAP_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

struct net_tap {
	struct net_backend be;
	int tap;
	int epfd; /* holds the tap fd while the guest has buffers; the event loop watches it */
	bool watched, dead;
	char name[IFNAMSIZ];
};

static int tap_send(struct net_backend *be, const struct virtio_net_hdr *hdr,
		    const struct iovec *iov, unsigned n, size_t len)
{
	struct net_tap *t = (struct net_tap *)be;
	struct iovec v[VIRTQ_CHAIN_MAX + 1];
	(void)len;
	BUG_ON(n > VIRTQ_CHAIN_MAX);
	v[0] = (struct iovec){ .iov_base = (void *)hdr, .iov_len = VNET_HDR_LEN };
	memcpy(v + 1, iov, n * sizeof(*iov));
	/* A full tap queue drops the frame, as a busy NIC would; TCP recovers. */
	if (writev(t->tap, v, (int)n + 1) < 0) {
		int e = errno;
		if (e != EAGAIN)
			log_guest("net-tap", "write to %s: %s", t->name, strerror(e));
		return -e;
	}
	return 0;
}

static void tap_watch(struct net_tap *t, bool on)
{
	if (t->watched == on || (on && t->dead))
		return;
	struct epoll_event ev = { .events = EPOLLIN };
	if (epoll_ctl(t->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, t->tap, &ev) < 0) {
		log_err("net: epoll_ctl on %s: %s", t->name, strerror(errno));
		return;
	}
	t->watched = on;
}

static ssize_t tap_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	struct net_tap *t = (struct net_tap *)be;
	for (unsigned tries = 0; tries < 64; tries++) {
		ssize_t n = read(t->tap, buf, cap);
		if (n >= (ssize_t)(VNET_HDR_LEN + ETH_HDR_LEN))
			return n;
		if (n >= 0)
			continue; /* a runt: skip it */
		if (errno == EAGAIN)
			return 0;
		if (errno == EINTR)
			continue;
		/* The interface went away under us: stop watching it rather than spin. */
		log_err("net: reading %s: %s; the guest's link is dead", t->name, strerror(errno));
		t->dead = true;
		tap_watch(t, false);
		return 0;
	}
	return 0;
}

static void tap_rx_pause(struct net_backend *be, bool paused)
{
	tap_watch((struct net_tap *)be, !paused);
}

static int tap_set_offloads(struct net_backend *be, unsigned off)
{
	struct net_tap *t = (struct net_tap *)be;
	unsigned flags = 0;
	if (off & NET_OFFLOAD_CSUM) {
		flags |= TUN_F_CSUM;
		flags |= off & NET_OFFLOAD_TSO4 ? TUN_F_TSO4 : 0;
		flags |= off & NET_OFFLOAD_TSO6 ? TUN_F_TSO6 : 0;
		flags |= off & NET_OFFLOAD_ECN ? TUN_F_TSO_ECN : 0;
	}
	if (ioctl(t->tap, TUNSETOFFLOAD, (unsigned long)flags) < 0) {
		int e = errno;
		log_guest("net-tap", "TUNSETOFFLOAD %#x on %s: %s", flags, t->name, strerror(e));
		return -e;
	}
	return 0;
}

static void tap_destroy(struct net_backend *be)
{
	struct net_tap *t = (struct net_tap *)be;
	if (t->tap >= 0)
		close(t->tap);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.recv = tap_recv,
	.rx_pause = tap_rx_pause,
	.set_offloads = tap_set_offloads,
	.destroy = tap_destroy,
};

/* One message naming the tap, the step and the error, and the error to return. */
static int fail(const char *name, const char *step, int e, const char *hint)
{
	log_err("net: tap %s: %s: %s%s", name, step, strerror(e), hint);
	return -e;
}

/* Attach to the tap: it must exist (we never create one) and speak virtio-net headers. */
static int tap_attach(struct net_tap *t, const struct net_config *cfg)
{
	if (if_nametoindex(t->name) == 0)
		return fail(t->name, "no such interface", errno,
			    " (create it first: ip tuntap add dev NAME mode tap)");
	t->tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->tap < 0)
		return fail(t->name, "cannot open /dev/net/tun", errno, "");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, sizeof(t->name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(t->tap, TUNSETIFF, &ifr) < 0)
		return fail(t->name, "TUNSETIFF", errno,
			    " (is it a tap, not in use, and ours to use?)");
	int hdr = VNET_HDR_LEN;
	if (ioctl(t->tap, TUNSETVNETHDRSZ, &hdr) < 0)
		return fail(t->name, "TUNSETVNETHDRSZ", errno, "");
	/* Offer the guest offloads only if this tap takes them; none until the guest accepts. */
	if (ioctl(t->tap, TUNSETOFFLOAD, (unsigned long)TAP_OFFLOADS) == 0)
		t->be.offloads = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 |
				 NET_OFFLOAD_ECN;
	if (ioctl(t->tap, TUNSETOFFLOAD, 0ul) < 0)
		return fail(t->name, "TUNSETOFFLOAD", errno, "");

	t->be.mtu = cfg->mtu;
	if (!t->be.mtu) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0)
			t->be.mtu = (unsigned)ifr.ifr_mtu;
		if (s >= 0)
			close(s);
		if (!t->be.mtu)
			t->be.mtu = CONFIG_NET_MTU_DEFAULT;
	}
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return fail(t->name, "epoll_create1", errno, "");
	return 0;
}

int net_tap_open(const struct net_config *cfg, struct net_backend **out)
{
	struct net_tap *t = calloc(1, sizeof(*t));
	if (!t) {
		log_err("net: out of memory");
		return -ENOMEM;
	}
	t->be.ops = &tap_ops;
	t->be.name = "tap";
	t->tap = t->epfd = -1;
	BUG_ON(strlen(cfg->tap) >= sizeof(t->name)); /* args.c checked it */
	memcpy(t->name, cfg->tap, strlen(cfg->tap) + 1);
	int r = tap_attach(t, cfg);
	if (r < 0) {
		tap_destroy(&t->be);
		return r;
	}
	t->be.fd = t->epfd;
	*out = &t->be;
	return 0;
}
