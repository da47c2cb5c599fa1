/* virtio-net (spec 5.1): rx and tx queues over a backend, with merged rx buffers. */
#include "net.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "../log.h"

#define VIRTIO_NET_ID 1u

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1u

#define BIT(f) (1ull << (f))

/* The fields up to mtu; later ones belong to features flint does not offer. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
};
#define NET_CONFIG_SIZE 12u
_Static_assert(offsetof(struct virtio_net_config, mtu) + 2 == NET_CONFIG_SIZE, "config layout");

static bool has(const struct virtio_net *n, int f)
{
	return n->features & BIT(f);
}

static void net_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_net *n = dev;
	struct virtio_net_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, n->mac, sizeof(cfg.mac));
	cfg.status = VIRTIO_NET_S_LINK_UP;
	cfg.max_virtqueue_pairs = 1;
	cfg.mtu = n->mtu;
	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

/* Frames go to the guest only while the driver runs the device with its rx queue ready. */
static bool net_running(const struct virtio_net *n)
{
	uint32_t stop = VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	return (n->mmio.status & (VIRTIO_STATUS_DRIVER_OK | stop)) == VIRTIO_STATUS_DRIVER_OK &&
	       n->mmio.vq[VIRTIO_NET_QUEUE_RX].ready;
}

static void net_rx_pause(struct virtio_net *n, bool paused)
{
	if (n->rx_paused == paused)
		return;
	n->rx_paused = paused;
	n->be->ops->rx_pause(n->be, paused);
}

/* What the guest may see in a received frame's header, given what it negotiated. */
static bool rx_hdr_fix(struct virtio_net *n, struct virtio_net_hdr *h)
{
	if (!has(n, VIRTIO_NET_F_GUEST_CSUM))
		h->flags = 0;
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return true;
	return (gso == VIRTIO_NET_HDR_GSO_TCPV4 && has(n, VIRTIO_NET_F_GUEST_TSO4)) ||
	       (gso == VIRTIO_NET_HDR_GSO_TCPV6 && has(n, VIRTIO_NET_F_GUEST_TSO6));
}

enum deliver { DELIVERED, NO_BUFFERS, BROKEN };

/*
 * Copy the pending frame into the guest's rx buffers: one chain, or with MRG_RXBUF as many as it
 * takes, the count going into the header's num_buffers. Out of buffers half way, the chains
 * taken go back to the ring and the frame waits. A frame that cannot fit is dropped.
 */
static enum deliver net_deliver(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.vq[VIRTIO_NET_QUEUE_RX];
	struct virtq_chain *c = &n->chain;
	bool merge = has(n, VIRTIO_NET_F_MRG_RXBUF);
	struct iovec hdr_iov[VNET_HDR_LEN];
	unsigned hdr_n = 0, k = 0;
	size_t off = 0;

	while (off < n->pending) {
		int r = virtq_pop(q, c);
		if (r < 0)
			return BROKEN;
		if (r == 0) {
			virtq_unpop(q, (uint16_t)k);
			return NO_BUFFERS;
		}
		const struct iovec *in = c->iov + c->n_out;
		if (c->n_out || c->in_len < (k == 0 ? VNET_HDR_LEN : 1)) {
			log_guest("net", "rx buffer with %u readable, %u writable bytes", c->out_len,
				  c->in_len);
			return BROKEN;
		}
		if (!merge && c->in_len < n->pending) {
			log_guest("net", "rx buffer of %u bytes for a %zu-byte frame", c->in_len,
				  n->pending);
			virtq_unpop(q, 1);
			n->stats.rx_dropped++;
			n->pending = 0;
			return DELIVERED;
		}
		if (k == 0)
			hdr_n = iov_slice(in, c->n_in, 0, VNET_HDR_LEN, hdr_iov);
		size_t len = iov_copy_to(in, c->n_in, 0, n->rxbuf + off, n->pending - off);
		n->used[k].head = c->head;
		n->used[k].len = (uint32_t)len;
		k++;
		off += len;
		if (off < n->pending && k == q->size) {
			/* Even the whole ring is too small for it. */
			log_guest("net", "rx ring of %u buffers too small for a %zu-byte frame",
				  q->size, n->pending);
			virtq_unpop(q, (uint16_t)k);
			n->stats.rx_dropped++;
			n->pending = 0;
			return DELIVERED;
		}
	}
	uint16_t nbuf = (uint16_t)k;
	iov_copy_to(hdr_iov, hdr_n, offsetof(struct virtio_net_hdr, num_buffers), &nbuf,
		    sizeof(nbuf));
	for (unsigned i = 0; i < k; i++)
		virtq_push(q, n->used[i].head, n->used[i].len);
	n->stats.rx_packets++;
	n->stats.rx_bytes += n->pending - VNET_HDR_LEN;
	n->pending = 0;
	return DELIVERED;
}

/* Frames from the backend into the guest until either runs out, or the budget does. */
static void net_rx_fill(struct virtio_net *n)
{
	unsigned served = 0;
	bool pushed = false;

	if (!net_running(n)) {
		net_rx_pause(n, true);
		return;
	}
	for (;;) {
		if (n->pending == 0) {
			ssize_t r = n->be->ops->recv(n->be, n->rxbuf, sizeof(n->rxbuf));
			if (r <= 0)
				break;
			n->pending = (size_t)r;
			struct virtio_net_hdr h;
			memcpy(&h, n->rxbuf, sizeof(h));
			if (n->pending < VNET_HDR_LEN + ETH_HDR_LEN || !rx_hdr_fix(n, &h)) {
				n->stats.rx_dropped++;
				n->pending = 0;
				continue;
			}
			memcpy(n->rxbuf, &h, sizeof(h));
		}
		enum deliver d = net_deliver(n);
		if (d == BROKEN) {
			if (pushed)
				virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_QUEUE_RX);
			virtio_mmio_device_error(&n->mmio, "broken rx queue");
			return;
		}
		if (d == NO_BUFFERS) {
			/* The guest's next rx kick brings us back; until then the network waits. */
			net_rx_pause(n, true);
			if (pushed)
				virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_QUEUE_RX);
			return;
		}
		pushed = true;
		if (++served == n->kick_budget) {
			virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_QUEUE_RX);
			virtio_mmio_requeue(&n->mmio, VIRTIO_NET_QUEUE_RX);
			return;
		}
	}
	net_rx_pause(n, false);
	if (pushed)
		virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_QUEUE_RX);
}

/* A guest header is passed on only with the offloads it was offered. */
static bool tx_hdr_ok(const struct virtio_net *n, const struct virtio_net_hdr *h, size_t len)
{
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(n, VIRTIO_NET_F_CSUM) || (size_t)h->csum_start + h->csum_offset + 2 > len)
			return false;
	}
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(n, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(n, VIRTIO_NET_F_HOST_TSO4) && h->gso_size > 0;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(n, VIRTIO_NET_F_HOST_TSO6) && h->gso_size > 0;
	default:
		return false;
	}
}

/* One guest frame: its header copied and checked once, the frame handed on from guest memory. */
static void net_tx_one(struct virtio_net *n, const struct virtq_chain *c)
{
	struct iovec frame[VIRTQ_CHAIN_MAX];
	struct virtio_net_hdr h;

	if (c->out_len < VNET_HDR_LEN + ETH_HDR_LEN || c->out_len - VNET_HDR_LEN > NET_FRAME_MAX) {
		n->stats.tx_dropped++;
		log_guest("net", "tx frame of %u bytes with its header", c->out_len);
		return;
	}
	size_t len = c->out_len - VNET_HDR_LEN;
	iov_copy_from(c->iov, c->n_out, 0, &h, sizeof(h));
	if (!tx_hdr_ok(n, &h, len)) {
		n->stats.tx_dropped++;
		log_guest("net", "tx header flags %#x gso %#x with features %#llx", h.flags,
			  h.gso_type, (unsigned long long)n->features);
		return;
	}
	h.num_buffers = 0;
	unsigned k = iov_slice(c->iov, c->n_out, VNET_HDR_LEN, len, frame);
	int r = n->be->ops->send(n->be, &h, frame, k, len);
	if (r < 0) {
		if (r != -EACCES) /* the policy's refusals are counted as denied, by the backend */
			n->stats.tx_dropped++;
		return;
	}
	n->stats.tx_packets++;
	n->stats.tx_bytes += len;
}

static void net_tx(struct virtio_net *n)
{
	struct virtq *q = &n->mmio.vq[VIRTIO_NET_QUEUE_TX];
	struct virtq_chain *c = &n->chain;
	unsigned served = 0;
	bool pushed = false, more = false;
	int r;

	while ((r = virtq_pop(q, c)) > 0) {
		net_tx_one(n, c);
		virtq_push(q, c->head, 0);
		pushed = true;
		if (++served == n->kick_budget) {
			more = true;
			break;
		}
	}
	if (pushed)
		virtio_mmio_signal_used(&n->mmio, VIRTIO_NET_QUEUE_TX);
	if (n->be->ops->flush)
		n->be->ops->flush(n->be);
	if (r < 0) {
		virtio_mmio_device_error(&n->mmio, "broken tx queue");
		return;
	}
	if (more)
		virtio_mmio_requeue(&n->mmio, VIRTIO_NET_QUEUE_TX);
	net_rx_fill(n); /* answers to what the guest sent (an RST, a DNS reply, ...) */
}

static void net_notify(void *dev, unsigned q)
{
	struct virtio_net *n = dev;
	if (q == VIRTIO_NET_QUEUE_RX)
		net_rx_fill(n);
	else if (q == VIRTIO_NET_QUEUE_TX)
		net_tx(n);
}

static int net_activate(void *dev, uint64_t features)
{
	struct virtio_net *n = dev;
	n->features = features;
	log_info("virtio-net: the driver is up on the %s backend, features %#llx", n->be->name,
		 (unsigned long long)features);
	if (n->be->ops->set_offloads) {
		unsigned off = 0;
		if (has(n, VIRTIO_NET_F_GUEST_CSUM)) {
			off |= NET_OFFLOAD_CSUM;
			off |= has(n, VIRTIO_NET_F_GUEST_TSO4) ? NET_OFFLOAD_TSO4 : 0;
			off |= has(n, VIRTIO_NET_F_GUEST_TSO6) ? NET_OFFLOAD_TSO6 : 0;
			off |= has(n, VIRTIO_NET_F_GUEST_ECN) ? NET_OFFLOAD_ECN : 0;
		}
		int r = n->be->ops->set_offloads(n->be, off);
		if (r < 0)
			return r;
	}
	/* Reading resumes on the event loop, through the rx queue's own kick. */
	virtio_mmio_requeue(&n->mmio, VIRTIO_NET_QUEUE_RX);
	return 0;
}

static void net_reset(void *dev)
{
	struct virtio_net *n = dev;
	n->features = 0;
	n->pending = 0;
}

static const struct virtio_dev_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_NET_ID,
	.num_queues = 2,
	.config_size = NET_CONFIG_SIZE,
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.notify = net_notify,
};

int virtio_net_backend_fd(const struct virtio_net *n)
{
	return n->be->fd;
}

void virtio_net_backend_event(void *arg, uint32_t events)
{
	struct virtio_net *n = arg;
	(void)events;
	pthread_mutex_lock(&n->mmio.lock);
	if (n->be->ops->process)
		n->be->ops->process(n->be);
	net_rx_fill(n);
	pthread_mutex_unlock(&n->mmio.lock);
}

void virtio_net_stats(struct virtio_net *n, struct net_stats *out)
{
	pthread_mutex_lock(&n->mmio.lock);
	*out = n->stats;
	out->denied = n->be->denied;
	memcpy(out->last_denied, n->be->last_denied, sizeof(out->last_denied));
	pthread_mutex_unlock(&n->mmio.lock);
}

int virtio_net_init(struct virtio_net *n, struct net_backend *be, const uint8_t mac[6],
		    const struct gmem *mem, uint64_t base, unsigned gsi,
		    const struct virtio_mmio_hooks *hooks)
{
	memset(n, 0, sizeof(*n));
	n->be = be;
	n->kick_budget = VIRTIO_NET_KICK_BUDGET;
	memcpy(n->mac, mac, sizeof(n->mac));
	n->mtu = (uint16_t)be->mtu;
	/* Nothing is read from the network until the driver has set the device up. */
	n->rx_paused = true;
	be->ops->rx_pause(be, true);

	uint64_t features = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
			    BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
			    BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_RING_F_EVENT_IDX);
	/* Offloads only where the backend honours them; otherwise the guest does the work. */
	if (be->offloads & NET_OFFLOAD_CSUM) {
		features |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM);
		if (be->offloads & NET_OFFLOAD_TSO4)
			features |= BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO4);
		if (be->offloads & NET_OFFLOAD_TSO6)
			features |= BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO6);
		if (be->offloads & NET_OFFLOAD_ECN)
			features |= BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_ECN);
	}
	return virtio_mmio_init(&n->mmio, &net_ops, n, features, mem, base, gsi, hooks);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (n->be)
		n->be->ops->destroy(n->be);
	n->be = NULL;
	virtio_mmio_destroy(&n->mmio);
}
