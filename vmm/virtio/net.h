/* virtio-net: an Ethernet device over a network backend (user-mode NAT or a tap). */
#ifndef FLINT_VIRTIO_NET_H
#define FLINT_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "../net/backend.h"
#include "../net/frame.h"
#include "mmio.h"

#define VIRTIO_NET_QUEUE_RX 0u
#define VIRTIO_NET_QUEUE_TX 1u

/* Frames moved per kick (each way) before the loop is yielded and the queue requeued. */
#define VIRTIO_NET_KICK_BUDGET 64u

struct virtio_net {
	struct virtio_mmio mmio;
	struct net_backend *be; /* owned */
	uint8_t mac[6];
	uint16_t mtu;
	uint64_t features; /* negotiated, from activate */
	unsigned kick_budget;
	struct net_stats stats;
	bool rx_paused;
	/* A frame taken from the backend that no guest buffer has taken yet (header included). */
	size_t pending;
	uint8_t rxbuf[VNET_HDR_LEN + NET_FRAME_MAX];
	struct virtq_chain chain; /* scratch for pops */
	struct {
		uint16_t head;
		uint32_t len;
	} used[VIRTQ_SIZE_MAX]; /* the buffers one merged frame fills */
};

/*
 * The device over be (owned from here on, even on failure). mac is the guest's address, mtu the
 * one it is told. 0 or -errno; destroy is safe after a failed init.
 */
int virtio_net_init(struct virtio_net *n, struct net_backend *be, const uint8_t mac[6],
		    const struct gmem *mem, uint64_t base, unsigned gsi,
		    const struct virtio_mmio_hooks *hooks);
void virtio_net_destroy(struct virtio_net *n);

/* The event loop watches this fd (EPOLLIN) and calls virtio_net_backend_event(n, events). */
int virtio_net_backend_fd(const struct virtio_net *n);
void virtio_net_backend_event(void *arg, uint32_t events);

/* A snapshot of the counters (thread-safe). */
void virtio_net_stats(struct virtio_net *n, struct net_stats *out);

#endif
