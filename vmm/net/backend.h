/* Network backends: where the virtio-net device's frames go, and where the guest's come from. */
#ifndef FLINT_NET_BACKEND_H
#define FLINT_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../config.h"

/* The user network (host byte order): slirp's defaults, which guests and docs expect. */
#define NET_USER_NETWORK 0x0a000200u /* 10.0.2.0/24 */
#define NET_USER_PREFIX 24u
#define NET_USER_HOST 0x0a000202u  /* the gateway, and the host's loopback behind it */
#define NET_USER_DNS 0x0a000203u   /* the DNS forwarder */
#define NET_USER_GUEST 0x0a00020fu /* 10.0.2.15 */

/* The virtio-net header (spec 5.1.6) ahead of every frame; 12 bytes with VERSION_1. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
#define VNET_HDR_LEN 12u
_Static_assert(sizeof(struct virtio_net_hdr) == VNET_HDR_LEN, "virtio_net_hdr layout");

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_F_DATA_VALID 2u
#define VIRTIO_NET_HDR_GSO_NONE 0u
#define VIRTIO_NET_HDR_GSO_TCPV4 1u
#define VIRTIO_NET_HDR_GSO_TCPV6 4u
#define VIRTIO_NET_HDR_GSO_ECN 0x80u

/* Offloads a backend can honour, and the device passes through the virtio-net header. */
#define NET_OFFLOAD_CSUM 1u /* partial checksums, both ways */
#define NET_OFFLOAD_TSO4 2u /* TCP segmentation (IPv4); to the guest only if it accepts it */
#define NET_OFFLOAD_TSO6 4u
#define NET_OFFLOAD_ECN 8u

/* The last denial as text, "tcp 192.168.1.5:443 (private range)", with its NUL. */
#define NET_LAST_DENIED_MAX 96u

/* Counters a control socket can report (virtio_net_stats). */
struct net_stats {
	unsigned long rx_packets, rx_bytes; /* to the guest */
	unsigned long tx_packets, tx_bytes; /* from the guest, handed to the backend */
	unsigned long rx_dropped; /* for the guest, but no buffer could take them */
	unsigned long tx_dropped; /* from the guest, malformed or refused by the network */
	unsigned long denied;	  /* refused by the egress policy (user backend) */
	char last_denied[NET_LAST_DENIED_MAX]; /* the latest of them; "": none (or a tap) */
};

struct net_backend;

/* Every call comes from the device with its lock held, on the event loop (or a vCPU, activate). */
struct net_backend_ops {
	/*
	 * One frame from the guest (len bytes in iov), with its header already checked against
	 * the negotiated offloads. Never blocks: a frame the network cannot take now is dropped.
	 * 0, or -errno when it was dropped: -EACCES when the egress policy refused it (counted in
	 * `denied`, not as a tx drop).
	 */
	int (*send)(struct net_backend *be, const struct virtio_net_hdr *hdr, const struct iovec *iov,
		    unsigned n, size_t len);
	/*
	 * The next frame for the guest, into buf (cap >= VNET_HDR_LEN + NET_FRAME_MAX): its
	 * virtio-net header (zeros when the backend has no offloads) and the frame. Returns the
	 * length with the header, 0 when there is none now, or -errno.
	 */
	ssize_t (*recv)(struct net_backend *be, uint8_t *buf, size_t cap);
	/* Optional: the backend's fd was readable; do its own work (slirp's sockets and timers). */
	void (*process)(struct net_backend *be);
	/* Optional: a batch of sends is over (slirp learns about the sockets they opened). */
	void (*flush)(struct net_backend *be);
	/*
	 * The guest has no receive buffers (true), or has some again (false): stop reading from the
	 * network until then, so a stalled guest costs neither a busy loop nor a storm of drops.
	 */
	void (*rx_pause)(struct net_backend *be, bool paused);
	/* Optional: the offloads (NET_OFFLOAD_*) the guest accepts on receive. 0 or -errno. */
	int (*set_offloads)(struct net_backend *be, unsigned offloads);
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *name;
	int fd;		   /* the one fd the event loop watches (EPOLLIN) */
	unsigned offloads; /* NET_OFFLOAD_* it can honour; 0: the guest computes checksums */
	unsigned mtu;
	unsigned long denied; /* frames the egress policy refused */
	char last_denied[NET_LAST_DENIED_MAX]; /* the latest, as the policy words it; "": none */
};

/*
 * Backends, one per file. Each returns 0 with *out set (freed by ops->destroy), or -errno after
 * one message naming the cause. Called before the sandbox: they open what they need here.
 */
int net_user_open(const struct net_config *cfg, struct net_backend **out); /* net/user.c */
int net_tap_open(const struct net_config *cfg, struct net_backend **out);  /* net/tap.c */

#endif
