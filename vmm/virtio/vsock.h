/* virtio-vsock: a socket device whose host side flint bridges to Unix sockets (no vhost). */
#ifndef FLINT_VIRTIO_VSOCK_H
#define FLINT_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "../vsock/muxer.h"
#include "mmio.h"

#define VIRTIO_VSOCK_QUEUE_RX 0u
#define VIRTIO_VSOCK_QUEUE_TX 1u
#define VIRTIO_VSOCK_QUEUE_EVENT 2u

/* Packets moved per kick (each way) before the loop is yielded and the queue requeued. */
#define VIRTIO_VSOCK_KICK_BUDGET 64u

struct virtio_vsock {
	struct virtio_mmio mmio;
	struct vsock_mux mux;
	uint64_t guest_cid;
	unsigned long tx_pkts, rx_pkts;
	unsigned long bad_pkts; /* framing: short, bad cids, bad len, unusable rx buffers */
	unsigned kick_budget;
	/* An rx buffer popped but not filled yet (the packet it was for did not materialise). */
	bool rx_held;
	struct virtq_chain rx_chain;
};

/*
 * The device for guest_cid, its host side listening on path (see vsock/muxer.h).
 * 0 or -errno after one message; destroy is safe after a failed init.
 */
int virtio_vsock_init(struct virtio_vsock *v, const char *path, uint64_t guest_cid,
		      const struct gmem *mem, uint64_t base, unsigned gsi,
		      const struct virtio_mmio_hooks *hooks);
void virtio_vsock_destroy(struct virtio_vsock *v);

/* The event loop watches this fd (EPOLLIN) and calls virtio_vsock_host_event(v, events). */
int virtio_vsock_host_fd(const struct virtio_vsock *v);
void virtio_vsock_host_event(void *arg, uint32_t events);

#endif
