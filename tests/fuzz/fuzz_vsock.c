/*
 * libFuzzer target for virtio-vsock (vmm/virtio/vsock.c, vmm/vsock/): the input is a hostile
 * guest (tx packets with any header, rx buffers of any size, ring scribbles, resets) interleaved
 * with host clients on real Unix sockets (CONNECT lines, writes, closes) and event-loop turns.
 * Every run must leave no crash, no sanitizer report, no leak and a consistent bridge.
 *
 *   make build/fuzz/fuzz_vsock && build/fuzz/fuzz_vsock -max_total_time=60 [CORPUS_DIR]
 *
 * Input: a sequence of commands, each an opcode byte then its arguments (see run_one).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../unit/ringbuild.h"
#include "log.h"
#include "virtio/vsock.h"
#include "vsock/conn.h"

#define RAM (2u << 20)
#define QSZ 64u
#define TX_HDR 0x10000u
#define TX_DATA 0x10100u
#define RX_BUF 0x40000u
#define RX_STRIDE 0x11000u /* 64 KiB + a header + slack */
#define RX_SLOTS 16u
#define CID 3u
#define HOST_FDS 16u

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t get32(struct in *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)get8(in) << (8 * i);
	return v;
}

struct fz {
	uint8_t *ram;
	struct gmem gm;
	struct rb rq[3];
	struct virtio_vsock v;
	int host[HOST_FDS]; /* clients and accepted host-side sockets */
	int listener;	    /* PATH_1025 */
	unsigned rx_slot;
	struct {
		uint32_t host, guest;
	} ports[8]; /* (host port, guest port) of the REQUESTs the guest saw */
	unsigned nr_ports;
	uint16_t rx_seen;
	bool scribbled; /* the rings are the driver's mess: their contents prove nothing */
};

static char dir[64], path[80], path1025[96];

static void mmio_wr(struct fz *z, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&z->v.mmio, off, &v, 4);
}

static void driver_up(struct fz *z)
{
	mmio_wr(z, 0x070, 1);
	mmio_wr(z, 0x070, 3);
	mmio_wr(z, 0x024, 1);
	mmio_wr(z, 0x020, 1);
	mmio_wr(z, 0x070, 11);
	for (unsigned q = 0; q < 3; q++) {
		uint64_t base = 0x1000 + 0x3000ull * q;
		rb_init(&z->rq[q], z->ram, QSZ, base, base + 0x1000, base + 0x2000);
		memset(z->ram + base, 0, 0x3000);
		mmio_wr(z, 0x030, q);
		mmio_wr(z, 0x038, QSZ);
		mmio_wr(z, 0x080, (uint32_t)base);
		mmio_wr(z, 0x090, (uint32_t)base + 0x1000);
		mmio_wr(z, 0x0a0, (uint32_t)base + 0x2000);
		mmio_wr(z, 0x044, 1);
	}
	mmio_wr(z, 0x070, 15);
	z->rx_seen = 0;
}

static void host_add(struct fz *z, int fd);

/* The event loop's turn; whatever connected to PATH_1025 is accepted. */
static void pump(struct fz *z)
{
	int fd;
	while ((fd = accept4(z->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		host_add(z, fd);
	for (unsigned i = 0; i < 64; i++) {
		struct pollfd p = { .fd = virtio_vsock_host_fd(&z->v), .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		virtio_vsock_host_event(&z->v, EPOLLIN);
	}
}

static void host_add(struct fz *z, int fd)
{
	for (unsigned i = 0; i < HOST_FDS; i++) {
		if (z->host[i] < 0) {
			z->host[i] = fd;
			return;
		}
	}
	close(fd);
}

/* Everything the device put in rx buffers: well-formed, and any REQUEST's port remembered. */
static void check_rx(struct fz *z)
{
	struct rb *r = &z->rq[VIRTIO_VSOCK_QUEUE_RX];
	if (z->scribbled || (z->v.mmio.status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	while (z->rx_seen != rb_used_idx(r)) {
		struct vring_used_elem e = rb_used_elem(r, z->rx_seen++);
		if (e.id >= QSZ)
			abort();
		if (e.len == 0)
			continue;
		struct vring_desc d;
		memcpy(&d, z->ram + r->desc + 16ull * e.id, sizeof(d));
		if (d.addr >= RAM || e.len > d.len || e.len < VSOCK_HDR_SIZE)
			abort();
		struct vsock_hdr h;
		memcpy(&h, z->ram + d.addr, sizeof(h));
		if (h.src_cid != VSOCK_HOST_CID || h.dst_cid != CID ||
		    h.len + VSOCK_HDR_SIZE != e.len || h.len > VSOCK_PKT_MAX ||
		    h.type != VSOCK_TYPE_STREAM)
			abort();
		if (h.op == VSOCK_OP_REQUEST) {
			z->ports[z->nr_ports % 8].host = h.src_port;
			z->ports[z->nr_ports++ % 8].guest = h.dst_port;
		}
	}
}

/* The bridge's own bookkeeping holds together. */
static void check_mux(const struct vsock_mux *m)
{
	unsigned n = 0, on_rx = 0, listed = 0;
	for (unsigned i = 0; i < VSOCK_CONN_MAX; i++) {
		const struct vsock_conn *c = m->slot[i];
		if (!c)
			continue;
		n++;
		on_rx += c->on_rx;
		if (c->slot != i || c->buf_len > c->buf_alloc || (c->buf_len && !c->buf))
			abort();
		if (c->rx_cnt - c->fwd_cnt_sent > c->buf_alloc)
			abort();
	}
	for (const struct vsock_conn *c = m->rx_head; c; c = c->rx_next)
		listed++;
	if (n != m->nr_conns || on_rx != listed || m->orphan_len > VSOCK_ORPHAN_MAX)
		abort();
}

/* Put one tx chain on the ring and kick: the header whole, cut in two, or cut short. */
static void tx_chain(struct fz *z, const struct vsock_hdr *h, uint32_t carry, uint8_t split)
{
	struct rb *tx = &z->rq[VIRTIO_VSOCK_QUEUE_TX];
	memcpy(z->ram + TX_HDR, h, sizeof(*h));
	uint32_t cut = split % VSOCK_HDR_SIZE;
	struct rb_buf b[3];
	unsigned nb = 0;
	if (cut && (split & 0x40)) {
		b[nb++] = (struct rb_buf){ TX_HDR, cut, false };
		memmove(z->ram + TX_HDR + 0x80, z->ram + TX_HDR + cut, VSOCK_HDR_SIZE - cut);
		b[nb++] = (struct rb_buf){ TX_HDR + 0x80, VSOCK_HDR_SIZE - cut, false };
	} else {
		b[nb++] = (struct rb_buf){ TX_HDR, (split & 0x20) ? cut : VSOCK_HDR_SIZE, false };
	}
	if (carry)
		b[nb++] = (struct rb_buf){ TX_DATA, carry, false };
	rb_offer(tx, rb_chain(tx, b, nb));
	mmio_wr(z, 0x050, VIRTIO_VSOCK_QUEUE_TX);
}

static struct vsock_hdr hdr_for(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = VSOCK_HOST_CID, .src_port = src_port,
			       .dst_port = dst_port, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 1u << 20 };
	return h;
}

static void guest_send(struct fz *z, struct in *in)
{
	static const uint32_t dst_ports[] = { 1025, 1026, 1, 0xffffffffu };
	uint8_t op = get8(in), sel = get8(in), split = get8(in);
	struct vsock_hdr h = hdr_for((sel & 0x80) ? op : (uint16_t)(op % 8), 0, 0);
	h.flags = get8(in) & ((sel & 0x40) ? 0xff : 3);
	h.src_port = 2000 + (get8(in) & 7);
	uint8_t d = get8(in);
	unsigned known = z->nr_ports < 8 ? z->nr_ports : 8;
	h.dst_port = dst_ports[d & 3];
	if ((d & 0x80) && known) { /* a connection the host opened */
		h.dst_port = z->ports[d % known].host;
		h.src_port = z->ports[d % known].guest;
	}
	h.len = get8(in) | (uint32_t)get8(in) << 8;
	if (sel & 0x20)
		h.len |= (uint32_t)get8(in) << 16;
	if (sel & 0x10)
		h.buf_alloc = get32(in);
	if (sel & 0x08)
		h.fwd_cnt = get32(in);
	if (sel & 0x04)
		h.type = get8(in);
	if ((sel & 0x03) == 3)
		h.src_cid = get8(in);
	if ((sel & 0x03) == 2)
		h.dst_cid = get8(in);
	/* Carried bytes: as many as claimed, or what the input decides. */
	uint32_t carry = h.len;
	if (split & 0x80)
		carry = get8(in) | (uint32_t)get8(in) << 8;
	if (carry > 0x10000 + 16)
		carry = 0x10000 + 16;
	for (uint32_t i = 0; i < carry && in->n; i++)
		z->ram[TX_DATA + i] = get8(in);
	tx_chain(z, &h, carry, split);
}

static void guest_rx_offer(struct fz *z, struct in *in)
{
	struct rb *r = &z->rq[VIRTIO_VSOCK_QUEUE_RX];
	unsigned n = get8(in) % 8 + 1;
	uint8_t sz = get8(in);
	check_rx(z); /* buffers are reused: read what they hold first */
	for (unsigned i = 0; i < n; i++) {
		if ((uint16_t)(r->avail_idx - z->rx_seen) >= RX_SLOTS)
			break;
		uint64_t addr = RX_BUF + (uint64_t)(z->rx_slot++ % RX_SLOTS) * RX_STRIDE;
		uint32_t len = sz < 8 ? sz * 8u : sz < 128 ? 44u + sz * 32u : 0x10000u + 44u;
		if (sz & 1)
			len = 4096;
		struct rb_buf b = { addr, len, !(sz == 255) };
		rb_offer(r, rb_chain(r, &b, 1));
	}
	mmio_wr(z, 0x050, VIRTIO_VSOCK_QUEUE_RX);
}

static void host_connect(struct fz *z, struct in *in)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char line[48];
	uint8_t k = get8(in);
	int len;
	if (k & 0x80) { /* raw bytes */
		len = k & 31;
		for (int i = 0; i < len; i++)
			line[i] = (char)get8(in);
	} else {
		len = snprintf(line, sizeof(line), "CONNECT %u\n", 3000u + (k & 7));
	}
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL) < 0) {
		close(fd);
		return;
	}
	host_add(z, fd);
}

static void host_io(struct fz *z, struct in *in, uint8_t what)
{
	uint8_t k = get8(in);
	unsigned live = 0, pick;
	for (unsigned i = 0; i < HOST_FDS; i++)
		live += z->host[i] >= 0;
	if (!live)
		return;
	pick = k % live;
	int *fd = z->host;
	while (*fd < 0 || pick--)
		fd++;
	static uint8_t buf[0x20000];
	size_t len = (size_t)(get8(in) + 1) * 512;
	switch (what) {
	case 0:
		memset(buf, k, len);
		(void)!send(*fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		break;
	case 1:
		(void)!recv(*fd, buf, sizeof(buf), MSG_DONTWAIT);
		break;
	case 2:
		shutdown(*fd, (k & 0x10) ? SHUT_WR : SHUT_RDWR);
		break;
	default:
		close(*fd);
		*fd = -1;
		break;
	}
}

/* A packet on a live connection (ports taken from the bridge's table): data, credit, close. */
static void conn_send(struct fz *z, struct in *in)
{
	static const uint16_t ops[] = { VSOCK_OP_RW, VSOCK_OP_RW, VSOCK_OP_RW, VSOCK_OP_SHUTDOWN,
					VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_CREDIT_REQUEST,
					VSOCK_OP_RST, VSOCK_OP_RESPONSE };
	uint8_t k = get8(in), sel = get8(in);
	const struct vsock_conn *c = NULL;
	for (unsigned i = 0, live = 0; i < VSOCK_CONN_MAX && !c; i++)
		if (z->v.mux.slot[i] && z->v.mux.slot[i]->hashed && live++ == k % 8u)
			c = z->v.mux.slot[i];
	if (!c)
		return;
	struct vsock_hdr h = hdr_for(ops[sel & 7], c->peer_port, c->local_port);
	h.flags = sel >> 3 & 3;
	if (sel & 0x20)
		h.buf_alloc = get8(in) * 1024u;
	if (sel & 0x40)
		h.fwd_cnt = c->tx_cnt - get8(in);
	uint32_t len = h.op == VSOCK_OP_RW ? (get8(in) + 1u) * 256u : 0;
	h.len = len;
	tx_chain(z, &h, len, 0);
}

/* Whole handshakes in one step, so that an empty corpus soon reaches open connections. */
static void scenario(struct fz *z, struct in *in, uint8_t op)
{
	uint8_t k = get8(in);
	if (op & 0x10) { /* the guest connects to PATH_1025 */
		struct vsock_hdr h = hdr_for(VSOCK_OP_REQUEST, 2000 + (k & 7), 1025);
		if (k & 0x80)
			h.buf_alloc = get8(in) * 64u;
		tx_chain(z, &h, 0, 0);
		pump(z);
		return;
	}
	/* A host client CONNECTs, the guest takes the REQUEST and answers RESPONSE. */
	uint8_t line = k & 7, rx[2] = { 0, 1 }; /* "CONNECT 300x\n"; one 4 KiB rx buffer */
	host_connect(z, &(struct in){ &line, 1 });
	pump(z);
	guest_rx_offer(z, &(struct in){ rx, 2 });
	check_rx(z);
	if (!z->nr_ports)
		return;
	unsigned last = (z->nr_ports - 1) % 8;
	struct vsock_hdr h = hdr_for(VSOCK_OP_RESPONSE, z->ports[last].guest, z->ports[last].host);
	if (k & 0x80)
		h.buf_alloc = get8(in) * 64u;
	tx_chain(z, &h, 0, 0);
}

static void run_one(struct fz *z, struct in *in)
{
	uint8_t op = get8(in);
	switch (op % 14) {
	case 0:
	case 1:
	case 2:
		guest_send(z, in);
		break;
	case 3:
		guest_rx_offer(z, in);
		break;
	case 4:
		host_connect(z, in);
		break;
	case 5:
		host_io(z, in, op >> 4 & 3);
		break;
	case 6:
		scenario(z, in, op);
		break;
	case 7:
	case 8:
		pump(z);
		break;
	case 9: { /* the driver scribbles on a ring */
		uint16_t off = (uint16_t)(get8(in) | get8(in) << 8) % 0x9000;
		z->ram[0x1000 + off] = get8(in);
		z->scribbled = true;
		break;
	}
	case 10:
		if (op & 0x10) { /* reset and start over */
			mmio_wr(z, 0x070, 0);
			driver_up(z);
		} else {
			mmio_wr(z, 0x050, get8(in) % 4);
		}
		break;
	case 12:
		conn_send(z, in);
		break;
	case 11: /* the host writes or reads, then the guest's rx side */
		host_io(z, in, op >> 4 & 1);
		pump(z);
		guest_rx_offer(z, in);
		break;
	default: /* deadlines: now, or never within a run */
		z->v.mux.connect_timeout_ms = (op & 0x10) ? 0 : VSOCK_CONNECT_TIMEOUT_MS;
		z->v.mux.shutdown_timeout_ms = (op & 0x20) ? 0 : VSOCK_SHUTDOWN_TIMEOUT_MS;
		/* Tiny host socket buffers: a few guest packets fill them (back-pressure paths). */
		for (unsigned i = 0; i < VSOCK_CONN_MAX && (op & 0x40); i++) {
			int small = 4096;
			if (z->v.mux.slot[i] && z->v.mux.slot[i]->fd >= 0)
				setsockopt(z->v.mux.slot[i]->fd, SOL_SOCKET, SO_SNDBUF, &small,
					   sizeof(small));
		}
		break;
	}
	check_rx(z);
	check_mux(&z->v.mux);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cleanup(void)
{
	unlink(path);
	unlink(path1025);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_prog("fuzz_vsock");
	snprintf(dir, sizeof(dir), "/tmp/flint-fuzz-vsock-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v", dir);
	snprintf(path1025, sizeof(path1025), "%s_1025", path);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz z;
	memset(&z, 0, sizeof(z));
	for (unsigned i = 0; i < HOST_FDS; i++)
		z.host[i] = -1;
	z.ram = calloc(1, RAM);
	if (!z.ram)
		return 0;
	gmem_init_fake(&z.gm, z.ram, RAM);
	if (virtio_vsock_init(&z.v, path, CID, &z.gm, 0xd0000000, 5, NULL) < 0)
		abort();
	unlink(path1025);
	z.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path1025);
	if (bind(z.listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(z.listener, 64) < 0)
		abort();
	driver_up(&z);

	struct in in = { data, size };
	for (unsigned steps = 0; in.n && steps < 256; steps++)
		run_one(&z, &in);

	virtio_vsock_destroy(&z.v);
	for (unsigned i = 0; i < HOST_FDS; i++)
		if (z.host[i] >= 0)
			close(z.host[i]);
	close(z.listener);
	unlink(path1025);
	free(z.ram);
	return 0;
}
