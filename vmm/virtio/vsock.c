/* virtio-vsock (spec §5.10): the three queues and packet framing; the bridge is vsock/muxer.c. */
#include "vsock.h"

#include <string.h>

#include "../log.h"

#define VIRTIO_VSOCK_ID 19u
#define VSOCK_CONFIG_SIZE 8u /* le64 guest_cid */

static void vsock_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_vsock *v = dev;
	uint64_t cid = v->guest_cid;
	memcpy(buf, (const uint8_t *)&cid + off, len);
}

/* Packets go to the guest only while the driver runs the device with its rx queue ready. */
static bool vsock_running(const struct virtio_vsock *v)
{
	uint32_t stop = VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	return (v->mmio.status & (VIRTIO_STATUS_DRIVER_OK | stop)) == VIRTIO_STATUS_DRIVER_OK &&
	       v->mmio.vq[VIRTIO_VSOCK_QUEUE_RX].ready;
}

/* After a push: whether this kick's budget is spent (then the rest waits for a requeue). */
static bool vsock_budget_spent(struct virtio_vsock *v, unsigned q, unsigned *served)
{
	if (++*served < v->kick_budget)
		return false;
	virtio_mmio_signal_used(&v->mmio, q);
	virtio_mmio_requeue(&v->mmio, q);
	return true;
}

/*
 * Fill the guest's rx buffers with whatever the bridge has: control packets, and host bytes
 * read straight into the buffer. Without buffers we wait for the guest's rx kick.
 */
static void vsock_rx_fill(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.vq[VIRTIO_VSOCK_QUEUE_RX];
	struct virtq_chain *c = &v->rx_chain;
	struct iovec payload[VIRTQ_CHAIN_MAX];
	unsigned served = 0;
	bool pushed = false;

	if (!vsock_running(v))
		return;
	while (vsock_mux_has_rx(&v->mux)) {
		if (!v->rx_held) {
			int r = virtq_pop(q, c);
			if (r == 0)
				break;
			if (r < 0) {
				if (pushed)
					virtio_mmio_signal_used(&v->mmio, VIRTIO_VSOCK_QUEUE_RX);
				virtio_mmio_device_error(&v->mmio, "broken rx queue");
				return;
			}
			if (c->n_out || c->in_len < VSOCK_HDR_SIZE) {
				v->bad_pkts++;
				log_guest("vsock", "rx buffer with %u readable, %u writable bytes",
					  c->out_len, c->in_len);
				virtq_push(q, c->head, 0);
				pushed = true;
				if (vsock_budget_spent(v, VIRTIO_VSOCK_QUEUE_RX, &served))
					return;
				continue;
			}
			v->rx_held = true;
		}
		const struct iovec *in = c->iov + c->n_out;
		uint32_t cap = c->in_len - VSOCK_HDR_SIZE;
		if (cap > VSOCK_PKT_MAX)
			cap = VSOCK_PKT_MAX;
		unsigned k = iov_slice(in, c->n_in, VSOCK_HDR_SIZE, cap, payload);
		struct vsock_hdr h;
		if (!vsock_mux_rx(&v->mux, &h, payload, k, cap))
			break;
		BUG_ON(h.len > cap);
		h.src_cid = VSOCK_HOST_CID;
		h.dst_cid = v->guest_cid;
		iov_copy_to(in, c->n_in, 0, &h, sizeof(h));
		virtq_push(q, c->head, VSOCK_HDR_SIZE + h.len);
		v->rx_held = false;
		v->rx_pkts++;
		pushed = true;
		if (vsock_budget_spent(v, VIRTIO_VSOCK_QUEUE_RX, &served))
			return;
	}
	if (pushed)
		virtio_mmio_signal_used(&v->mmio, VIRTIO_VSOCK_QUEUE_RX);
}

/* One guest packet: framing and addresses checked here, the rest by the bridge. */
static void vsock_tx_one(struct virtio_vsock *v, const struct virtq_chain *c)
{
	struct iovec payload[VIRTQ_CHAIN_MAX];
	struct vsock_hdr h;

	if (c->out_len < VSOCK_HDR_SIZE) {
		v->bad_pkts++;
		log_guest("vsock", "tx packet of %u readable bytes, shorter than its header",
			  c->out_len);
		return;
	}
	iov_copy_from(c->iov, c->n_out, 0, &h, sizeof(h));
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		v->bad_pkts++;
		log_guest("vsock", "tx packet from cid %llu to cid %llu dropped",
			  (unsigned long long)h.src_cid, (unsigned long long)h.dst_cid);
		return;
	}
	if (h.len > c->out_len - VSOCK_HDR_SIZE || h.len > VSOCK_PKT_MAX) {
		v->bad_pkts++;
		log_guest("vsock", "tx packet claims %u bytes, carries %u", h.len,
			  c->out_len - VSOCK_HDR_SIZE);
		vsock_mux_refuse(&v->mux, &h); /* its stream lost bytes: reset it */
		return;
	}
	unsigned k = iov_slice(c->iov, c->n_out, VSOCK_HDR_SIZE, h.len, payload);
	v->tx_pkts++;
	vsock_mux_guest_pkt(&v->mux, &h, payload, k);
}

static void vsock_tx(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.vq[VIRTIO_VSOCK_QUEUE_TX];
	struct virtq_chain c;
	unsigned served = 0;
	bool pushed = false;
	int r;

	while ((r = virtq_pop(q, &c)) > 0) {
		vsock_tx_one(v, &c);
		virtq_push(q, c.head, 0);
		pushed = true;
		if (vsock_budget_spent(v, VIRTIO_VSOCK_QUEUE_TX, &served)) {
			vsock_rx_fill(v);
			return;
		}
	}
	if (pushed)
		virtio_mmio_signal_used(&v->mmio, VIRTIO_VSOCK_QUEUE_TX);
	if (r < 0) {
		virtio_mmio_device_error(&v->mmio, "broken tx queue");
		return;
	}
	vsock_rx_fill(v); /* answers to what the guest sent */
}

static void vsock_notify(void *dev, unsigned q)
{
	struct virtio_vsock *v = dev;
	if (q == VIRTIO_VSOCK_QUEUE_RX)
		vsock_rx_fill(v);
	else if (q == VIRTIO_VSOCK_QUEUE_TX)
		vsock_tx(v);
	/* The event queue keeps its buffers: flint sends no transport events (no snapshots). */
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	v->rx_held = false;
	vsock_mux_reset(&v->mux);
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_VSOCK_ID,
	.num_queues = 3,
	.config_size = VSOCK_CONFIG_SIZE,
	.config_read = vsock_config_read,
	.reset = vsock_reset,
	.notify = vsock_notify,
};

int virtio_vsock_host_fd(const struct virtio_vsock *v)
{
	return vsock_mux_fd(&v->mux);
}

void virtio_vsock_host_event(void *arg, uint32_t events)
{
	struct virtio_vsock *v = arg;
	(void)events;
	pthread_mutex_lock(&v->mmio.lock);
	vsock_mux_process(&v->mux);
	vsock_rx_fill(v);
	pthread_mutex_unlock(&v->mmio.lock);
}

int virtio_vsock_init(struct virtio_vsock *v, const char *path, uint64_t guest_cid,
		      const struct gmem *mem, uint64_t base, unsigned gsi,
		      const struct virtio_mmio_hooks *hooks)
{
	memset(v, 0, sizeof(*v));
	v->guest_cid = guest_cid;
	v->kick_budget = VIRTIO_VSOCK_KICK_BUDGET;
	int r = vsock_mux_init(&v->mux, path, guest_cid);
	if (r < 0)
		return r;
	uint64_t features =
		(1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX);
	return virtio_mmio_init(&v->mmio, &vsock_ops, v, features, mem, base, gsi, hooks);
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	vsock_mux_destroy(&v->mux);
	virtio_mmio_destroy(&v->mmio);
}
