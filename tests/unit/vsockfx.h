/* Test fixture for virtio-vsock: a driver over a fake guest memory, and real Unix sockets. */
#ifndef FLINT_TEST_VSOCKFX_H
#define FLINT_TEST_VSOCKFX_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringbuild.h"
#include "virtio/vsock.h"
#include "vsock/conn.h"

#define RAM (4u << 20)
#define QSZ 256u
#define TX_HDR 0x10000u
#define TX_DATA 0x10100u
#define RX_BUF 0x100000u
#define RX_STRIDE 0x2000u
#define CID 3u
#define F_V1 (1ull << 32)

enum { R_DEV_ID = 0x008, R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020,
       R_DRV_FEAT_SEL = 0x024, R_QSEL = 0x030, R_QNUM = 0x038, R_QREADY = 0x044, R_NOTIFY = 0x050,
       R_STATUS = 0x070, R_DESC_LO = 0x080, R_DRIVER_LO = 0x090, R_DEVICE_LO = 0x0a0 };

struct fx {
	char dir[48], path[80];
	uint8_t *ram;
	struct gmem gm;
	struct rb rq[3]; /* rx, tx, event */
	struct virtio_vsock v;
	unsigned irqs, requeues[3];
	bool requeued[3];    /* a requeue the "event loop" has yet to deliver */
	bool manual_requeue; /* the test delivers requeues itself */
	uint16_t rx_seen;	  /* rx used entries consumed */
	unsigned rx_slot;	  /* next rx buffer slot */
	uint64_t rx_addr[QSZ]; /* head -> buffer gpa */
	int listeners[8];
	unsigned nr_listeners;
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

/* What the event loop does with requeues: kick those queues again until none is left. */
static inline void fx_run_requeues(struct fx *f)
{
	for (unsigned i = 0; i < 10000 && !f->manual_requeue; i++) {
		unsigned q = 0;
		while (q < 3 && !f->requeued[q])
			q++;
		if (q == 3)
			return;
		f->requeued[q] = false;
		virtio_mmio_kick(&f->v.mmio, q);
	}
}

static inline void fx_wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&f->v.mmio, off, &v, 4);
}

static inline uint32_t fx_rd(struct fx *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(&f->v.mmio, off, &v, 4);
	return v;
}

/* The driver's bring-up: features, three queues, DRIVER_OK. */
static inline void fx_driver_up(struct fx *f)
{
	fx_wr(f, R_STATUS, 1);
	fx_wr(f, R_STATUS, 3);
	fx_wr(f, R_DRV_FEAT_SEL, 0);
	fx_wr(f, R_DRV_FEAT, 0);
	fx_wr(f, R_DRV_FEAT_SEL, 1);
	fx_wr(f, R_DRV_FEAT, 1);
	fx_wr(f, R_STATUS, 11);
	assert_int_equal(fx_rd(f, R_STATUS), 11);
	for (unsigned q = 0; q < 3; q++) {
		uint64_t base = 0x1000 + 0x3000ull * q;
		rb_init(&f->rq[q], f->ram, QSZ, base, base + 0x1000, base + 0x2000);
		memset(f->ram + base, 0, 0x3000);
		fx_wr(f, R_QSEL, q);
		fx_wr(f, R_QNUM, QSZ);
		fx_wr(f, R_DESC_LO, (uint32_t)base);
		fx_wr(f, R_DRIVER_LO, (uint32_t)base + 0x1000);
		fx_wr(f, R_DEVICE_LO, (uint32_t)base + 0x2000);
		fx_wr(f, R_QREADY, 1);
	}
	fx_wr(f, R_STATUS, 15);
	assert_int_equal(fx_rd(f, R_STATUS), 15);
	f->rx_seen = 0;
}

static inline struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/flint-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	gmem_init_fake(&f->gm, f->ram, RAM);
	struct virtio_mmio_hooks hooks = { .ctx = f, .irq = fx_irq, .requeue = fx_requeue };
	assert_int_equal(virtio_vsock_init(&f->v, f->path, CID, &f->gm, 0xd0000000, 5, &hooks), 0);
	fx_driver_up(f);
	return f;
}

static inline void fx_free(struct fx *f)
{
	virtio_vsock_destroy(&f->v);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), -1); /* the listening socket is gone */
	for (unsigned i = 0; i < f->nr_listeners; i++)
		close(f->listeners[i]);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->ram);
	free(f);
}

/* The event loop's turn: host events until the bridge's epoll set is quiet. */
static inline void fx_pump(struct fx *f)
{
	for (unsigned i = 0; i < 1000; i++) {
		struct pollfd p = { .fd = virtio_vsock_host_fd(&f->v), .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		virtio_vsock_host_event(&f->v, EPOLLIN);
		fx_run_requeues(f);
	}
}

/* Wait up to ms for host events (timers), then pump. */
static inline void fx_wait(struct fx *f, int ms)
{
	struct pollfd p = { .fd = virtio_vsock_host_fd(&f->v), .events = POLLIN };
	poll(&p, 1, ms);
	fx_pump(f);
}

/* ---- the guest's rx side ------------------------------------------------------------------- */

static inline void fx_rx_offer(struct fx *f, unsigned n, uint32_t size)
{
	struct rb *r = &f->rq[VIRTIO_VSOCK_QUEUE_RX];
	/* A driver never has more buffers out than its ring holds. */
	unsigned room = QSZ - (uint16_t)(r->avail_idx - rb_used_idx(r));
	if (n > room)
		n = room;
	for (unsigned i = 0; i < n; i++) {
		uint64_t addr = RX_BUF + (uint64_t)(f->rx_slot++ % QSZ) * RX_STRIDE;
		struct rb_buf b = { addr, size, true };
		uint16_t head = rb_chain(r, &b, 1);
		f->rx_addr[head] = addr;
		rb_offer(r, head);
	}
	fx_wr(f, R_NOTIFY, VIRTIO_VSOCK_QUEUE_RX);
	fx_run_requeues(f);
}

/* The next packet the device put in an rx buffer; payload (may be NULL) gets h->len bytes. */
static inline bool fx_rx_next(struct fx *f, struct vsock_hdr *h, void *payload)
{
	struct rb *r = &f->rq[VIRTIO_VSOCK_QUEUE_RX];
	if (rb_used_idx(r) == f->rx_seen)
		return false;
	struct vring_used_elem e = rb_used_elem(r, f->rx_seen++);
	uint64_t addr = f->rx_addr[e.id];
	assert_true(e.len >= VSOCK_HDR_SIZE);
	memcpy(h, f->ram + addr, sizeof(*h));
	assert_int_equal(e.len, VSOCK_HDR_SIZE + h->len);
	assert_int_equal(h->src_cid, VSOCK_HOST_CID);
	assert_int_equal(h->dst_cid, CID);
	assert_int_equal(h->type, VSOCK_TYPE_STREAM);
	if (payload)
		memcpy(payload, f->ram + addr + VSOCK_HDR_SIZE, h->len);
	return true;
}

static inline void fx_expect(struct fx *f, struct vsock_hdr *h, uint16_t op)
{
	assert_true(fx_rx_next(f, h, NULL));
	if (h->op != op)
		fail_msg("expected op %u, got op %u (ports %u -> %u)", op, h->op, h->src_port,
			 h->dst_port);
}

static inline void fx_expect_none(struct fx *f)
{
	struct vsock_hdr h;
	if (fx_rx_next(f, &h, NULL))
		fail_msg("unexpected op %u (ports %u -> %u)", h.op, h.src_port, h.dst_port);
}

/* ---- the guest's tx side ------------------------------------------------------------------- */

static inline void fx_send_raw(struct fx *f, const struct vsock_hdr *h, const void *data,
			       uint32_t len)
{
	struct rb *r = &f->rq[VIRTIO_VSOCK_QUEUE_TX];
	memcpy(f->ram + TX_HDR, h, sizeof(*h));
	if (len)
		memcpy(f->ram + TX_DATA, data, len);
	struct rb_buf b[2] = { { TX_HDR, VSOCK_HDR_SIZE, false }, { TX_DATA, len, false } };
	rb_offer(r, rb_chain(r, b, len ? 2 : 1));
	fx_wr(f, R_NOTIFY, VIRTIO_VSOCK_QUEUE_TX);
	fx_run_requeues(f);
}

static inline struct vsock_hdr fx_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = VSOCK_HOST_CID, .src_port = src_port,
			       .dst_port = dst_port, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 1u << 20 };
	return h;
}

static inline void fx_send(struct fx *f, uint16_t op, uint32_t src_port, uint32_t dst_port,
			   uint32_t flags, const void *data, uint32_t len)
{
	struct vsock_hdr h = fx_hdr(op, src_port, dst_port);
	h.flags = flags;
	h.len = len;
	fx_send_raw(f, &h, data, len);
}

/* ---- the host side ------------------------------------------------------------------------- */

static inline int fx_unix_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static inline int fx_listen(struct fx *f, uint32_t port)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->path, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	f->listeners[f->nr_listeners++] = fd;
	return fd;
}

static inline void fx_write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* Whatever is readable now (non-blocking): bytes, 0 at EOF, -1 when nothing is there. */
static inline ssize_t fx_read_now(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return -1;
	if (n < 0 && errno == ECONNRESET)
		return 0;
	assert_true(n >= 0);
	return n;
}

static inline void fx_read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = fx_read_now(fd, (uint8_t *)buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static inline bool fx_is_eof(int fd)
{
	char c;
	return fx_read_now(fd, &c, 1) == 0;
}

/* A host client's whole handshake: CONNECT, REQUEST to the guest, RESPONSE, "OK <port>\n". */
static inline int fx_host_open(struct fx *f, uint32_t guest_port, uint32_t guest_buf,
			       uint32_t *host_port)
{
	int fd = fx_unix_connect(f->path);
	char line[40];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", guest_port);
	fx_write_all(fd, line, (size_t)n);
	fx_pump(f);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, guest_port);
	assert_true(h.src_port >= VSOCK_HOST_PORT_MIN);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	struct vsock_hdr r = fx_hdr(VSOCK_OP_RESPONSE, guest_port, h.src_port);
	r.buf_alloc = guest_buf;
	fx_send_raw(f, &r, NULL, 0);
	char ok[40], want[40];
	int wn = snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	fx_read_exact(fd, ok, (size_t)wn);
	assert_memory_equal(ok, want, (size_t)wn);
	*host_port = h.src_port;
	return fd;
}

/* A guest connection to host port hport, accepted on listener: returns the host's end. */
static inline int fx_guest_open(struct fx *f, int listener, uint32_t gport, uint32_t hport,
				uint32_t guest_buf)
{
	struct vsock_hdr r = fx_hdr(VSOCK_OP_REQUEST, gport, hport);
	r.buf_alloc = guest_buf;
	fx_send_raw(f, &r, NULL, 0);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, hport);
	assert_int_equal(h.dst_port, gport);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static inline struct vsock_conn *fx_conn(struct fx *f, uint32_t local, uint32_t peer)
{
	for (unsigned i = 0; i < VSOCK_CONN_MAX; i++) {
		struct vsock_conn *c = f->v.mux.slot[i];
		if (c && c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

static inline void fx_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + i / 509);
}

#endif
