/* Test fixture for virtio-net: a driver over a fake guest memory, and a fake backend. */
#ifndef FLINT_TEST_NETFX_H
#define FLINT_TEST_NETFX_H

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "ringbuild.h"
#include "virtio/net.h"

#define RAM (4u << 20)
#define QSZ 64u
#define TX_BUF 0x10000u
#define RX_BUF 0x100000u
#define RX_STRIDE 0x2000u
#define BIG_BUF 0x200000u /* room for an oversized frame */
#define F_V1 (1ull << 32)
#define F_CSUM (1ull << 0)
#define F_GUEST_CSUM (1ull << 1)
#define F_MTU (1ull << 3)
#define F_MAC (1ull << 5)
#define F_GUEST_TSO4 (1ull << 7)
#define F_HOST_TSO4 (1ull << 11)
#define F_MRG (1ull << 15)
#define F_STATUS (1ull << 16)
#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)

enum { R_DEV_ID = 0x008, R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020,
       R_DRV_FEAT_SEL = 0x024, R_QSEL = 0x030, R_QNUM = 0x038, R_QREADY = 0x044, R_NOTIFY = 0x050,
       R_STATUS = 0x070, R_DESC_LO = 0x080, R_DRIVER_LO = 0x090, R_DEVICE_LO = 0x0a0,
       R_CONFIG = 0x100 };

/* The fake backend: frames to hand the device, and what the device sent. */
#define FAKE_FRAMES 128
struct fake_be {
	struct net_backend be;
	uint8_t *in[FAKE_FRAMES];
	size_t in_len[FAKE_FRAMES];
	unsigned in_head, in_n;
	uint8_t *out[FAKE_FRAMES];
	size_t out_len[FAKE_FRAMES];
	struct virtio_net_hdr out_hdr[FAKE_FRAMES];
	unsigned out_n;
	bool paused;
	unsigned pauses, resumes, flushes;
	int offloads_set; /* -1: never */
	int send_result;
};

static inline int fake_send(struct net_backend *be, const struct virtio_net_hdr *hdr,
			    const struct iovec *iov, unsigned n, size_t len)
{
	struct fake_be *f = (struct fake_be *)be;
	if (f->send_result)
		return f->send_result;
	if (f->out_n == FAKE_FRAMES)
		return -ENOBUFS;
	uint8_t *b = malloc(len);
	size_t got = 0;
	for (unsigned i = 0; i < n; i++) {
		memcpy(b + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	if (got != len)
		abort();
	f->out[f->out_n] = b;
	f->out_len[f->out_n] = len;
	f->out_hdr[f->out_n++] = *hdr;
	return 0;
}

static inline ssize_t fake_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	struct fake_be *f = (struct fake_be *)be;
	if (f->in_n == 0)
		return 0;
	unsigned i = f->in_head++ % FAKE_FRAMES;
	f->in_n--;
	size_t len = f->in_len[i];
	if (len > cap)
		abort();
	memcpy(buf, f->in[i], len);
	free(f->in[i]);
	return (ssize_t)len;
}

static inline void fake_pause(struct net_backend *be, bool paused)
{
	struct fake_be *f = (struct fake_be *)be;
	f->paused = paused;
	if (paused)
		f->pauses++;
	else
		f->resumes++;
}

static inline void fake_flush(struct net_backend *be)
{
	((struct fake_be *)be)->flushes++;
}

static inline int fake_set_offloads(struct net_backend *be, unsigned off)
{
	((struct fake_be *)be)->offloads_set = (int)off;
	return 0;
}

static inline void fake_destroy(struct net_backend *be)
{
	struct fake_be *f = (struct fake_be *)be;
	while (f->in_n) {
		free(f->in[f->in_head++ % FAKE_FRAMES]);
		f->in_n--;
	}
	for (unsigned i = 0; i < f->out_n; i++)
		free(f->out[i]);
	free(f);
}

static const struct net_backend_ops fake_ops = {
	.send = fake_send,
	.recv = fake_recv,
	.flush = fake_flush,
	.rx_pause = fake_pause,
	.set_offloads = fake_set_offloads,
	.destroy = fake_destroy,
};

/* Queue a frame of len bytes (pattern seed) behind a header for the device to receive. */
static inline void fake_queue(struct fake_be *f, size_t len, uint8_t seed,
			      const struct virtio_net_hdr *hdr)
{
	uint8_t *b = malloc(VNET_HDR_LEN + len);
	memset(b, 0, VNET_HDR_LEN);
	if (hdr)
		memcpy(b, hdr, VNET_HDR_LEN);
	for (size_t i = 0; i < len; i++)
		b[VNET_HDR_LEN + i] = (uint8_t)(seed + i * 7);
	unsigned i = (f->in_head + f->in_n++) % FAKE_FRAMES;
	f->in[i] = b;
	f->in_len[i] = VNET_HDR_LEN + len;
}

struct fx {
	uint8_t *ram;
	struct gmem gm;
	struct rb rq[2]; /* rx, tx */
	struct virtio_net n;
	struct fake_be *be;
	unsigned irqs, requeues[2];
	bool requeued[2];
	bool manual_requeue;
	uint16_t rx_seen;
};

static inline void fx_irq(void *ctx, unsigned gsi)
{
	(void)gsi;
	((struct fx *)ctx)->irqs++;
}

static inline void fx_requeue(void *ctx, unsigned q)
{
	struct fx *f = ctx;
	f->requeues[q]++;
	f->requeued[q] = true;
}

static inline void fx_run_requeues(struct fx *f)
{
	for (unsigned i = 0; i < 10000 && !f->manual_requeue; i++) {
		unsigned q = f->requeued[0] ? 0 : f->requeued[1] ? 1 : 2;
		if (q == 2)
			return;
		f->requeued[q] = false;
		virtio_mmio_kick(&f->n.mmio, q);
	}
}

static inline void fx_wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&f->n.mmio, off, &v, 4);
	fx_run_requeues(f);
}

static inline uint32_t fx_rd(struct fx *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(&f->n.mmio, off, &v, 4);
	return v;
}

static inline uint64_t fx_features(struct fx *f)
{
	fx_wr(f, R_DEV_FEAT_SEL, 0);
	uint64_t lo = fx_rd(f, R_DEV_FEAT);
	fx_wr(f, R_DEV_FEAT_SEL, 1);
	return lo | (uint64_t)fx_rd(f, R_DEV_FEAT) << 32;
}

/* A device over a fake backend with `offloads`, driven up to DRIVER_OK with `features`. */
static inline struct fx *fx_new(unsigned offloads, uint64_t features)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->ram = calloc(1, RAM);
	gmem_init_fake(&f->gm, f->ram, RAM);
	f->be = calloc(1, sizeof(*f->be));
	f->be->be.ops = &fake_ops;
	f->be->be.name = "fake";
	f->be->be.fd = -1;
	f->be->be.mtu = 1500;
	f->be->be.offloads = offloads;
	f->be->offloads_set = -1;
	struct virtio_mmio_hooks hooks = { .ctx = f, .irq = fx_irq, .requeue = fx_requeue };
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	if (virtio_net_init(&f->n, &f->be->be, mac, &f->gm, 0xd0000000, 5, &hooks) != 0)
		abort();
	fx_wr(f, R_STATUS, 1);
	fx_wr(f, R_STATUS, 3);
	fx_wr(f, R_DRV_FEAT_SEL, 0);
	fx_wr(f, R_DRV_FEAT, (uint32_t)features);
	fx_wr(f, R_DRV_FEAT_SEL, 1);
	fx_wr(f, R_DRV_FEAT, (uint32_t)(features >> 32));
	fx_wr(f, R_STATUS, 11);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t base = 0x1000 + q * 0x4000;
		rb_init(&f->rq[q], f->ram, QSZ, base, base + 0x1000, base + 0x2000);
		fx_wr(f, R_QSEL, q);
		fx_wr(f, R_QNUM, QSZ);
		fx_wr(f, R_DESC_LO, (uint32_t)f->rq[q].desc);
		fx_wr(f, R_DRIVER_LO, (uint32_t)f->rq[q].avail);
		fx_wr(f, R_DEVICE_LO, (uint32_t)f->rq[q].used);
		fx_wr(f, R_QREADY, 1);
	}
	fx_wr(f, R_STATUS, 15);
	return f;
}

static inline void fx_free(struct fx *f)
{
	virtio_net_destroy(&f->n);
	free(f->ram);
	free(f);
}

/* The driver posts one rx chain of writable buffers (lens), kicks unless told not to. */
static inline uint16_t fx_rx_post(struct fx *f, const uint32_t *lens, unsigned n, bool kick)
{
	static unsigned slot;
	struct rb_buf b[8];
	for (unsigned i = 0; i < n; i++) {
		b[i] = (struct rb_buf){ RX_BUF + (slot++ % 256) * RX_STRIDE, lens[i], true };
		memset(f->ram + b[i].addr, 0xee, lens[i]);
	}
	uint16_t head = rb_chain(&f->rq[0], b, n);
	rb_offer(&f->rq[0], head);
	if (kick)
		fx_wr(f, R_NOTIFY, 0);
	return head;
}

/* The gpa of an rx chain's first descriptor. */
static inline uint64_t fx_desc_addr(struct fx *f, unsigned q, uint16_t i)
{
	struct vring_desc d;
	memcpy(&d, f->ram + f->rq[q].desc + 16ull * i, sizeof(d));
	return d.addr;
}

/* One tx chain (readable buffers) posted and kicked. */
static inline void fx_tx(struct fx *f, const struct rb_buf *b, unsigned n)
{
	uint16_t head = rb_chain(&f->rq[1], b, n);
	rb_offer(&f->rq[1], head);
	fx_wr(f, R_NOTIFY, 1);
}

#endif
