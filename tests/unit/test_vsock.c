/* Unit tests for virtio-vsock: handshakes both ways, data, malformed packets, the device edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vsockfx.h"

static int setup(void **state)
{
	*state = fx_new();
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static void test_config_and_features(void **state)
{
	struct fx *f = *state;
	assert_int_equal(fx_rd(f, R_DEV_ID), 19);
	uint64_t cid = 0;
	virtio_mmio_read(&f->v.mmio, 0x100, &cid, 8);
	assert_int_equal(cid, CID);
	assert_int_equal(fx_rd(f, 0x100), CID);
	assert_int_equal(fx_rd(f, 0x104), 0);
	fx_wr(f, R_DEV_FEAT_SEL, 0);
	assert_int_equal(fx_rd(f, R_DEV_FEAT),
			 (1u << VIRTIO_RING_F_INDIRECT_DESC) | (1u << VIRTIO_RING_F_EVENT_IDX));
	fx_wr(f, R_DEV_FEAT_SEL, 1);
	assert_int_equal(fx_rd(f, R_DEV_FEAT), 1); /* VERSION_1 */
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fcntl(virtio_vsock_host_fd(&f->v), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fcntl(f->v.mux.listen_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

static void test_init_errors(void **state)
{
	(void)state;
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	uint8_t ram[4096];
	struct gmem gm;
	gmem_init_fake(&gm, ram, sizeof(ram));
	char dir[] = "/tmp/flint-vsock-XXXXXX", path[96];
	assert_non_null(mkdtemp(dir));
	/* Too long for PATH_<port>; a missing directory; a regular file in the way. */
	char longp[128];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(virtio_vsock_init(v, longp, CID, &gm, 0, 5, NULL), -ENAMETOOLONG);
	virtio_vsock_destroy(v);
	snprintf(path, sizeof(path), "%s/no/such", dir);
	assert_true(virtio_vsock_init(v, path, CID, &gm, 0, 5, NULL) < 0);
	virtio_vsock_destroy(v);
	snprintf(path, sizeof(path), "%s/file", dir);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	assert_int_equal(virtio_vsock_init(v, path, CID, &gm, 0, 5, NULL), -EEXIST);
	virtio_vsock_destroy(v);
	unlink(path);
	/* A live listener is refused; a stale socket is replaced. */
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(virtio_vsock_init(v, path, CID, &gm, 0, 5, NULL), 0);
	struct virtio_vsock *w = calloc(1, sizeof(*w));
	assert_int_equal(virtio_vsock_init(w, path, CID, &gm, 0, 5, NULL), -EADDRINUSE);
	virtio_vsock_destroy(w);
	close(v->mux.listen_fd); /* the listener dies without cleaning up */
	v->mux.listen_fd = -1;
	v->mux.listening = false;
	assert_int_equal(virtio_vsock_init(w, path, CID, &gm, 0, 5, NULL), 0);
	virtio_vsock_destroy(w);
	virtio_vsock_destroy(v);
	rmdir(dir);
	free(v);
	free(w);
}

static void test_host_connect_handshake(void **state)
{
	struct fx *f = *state;
	uint32_t p1, p2;
	int c1 = fx_host_open(f, 1024, 65536, &p1);
	int c2 = fx_host_open(f, 1024, 65536, &p2);
	assert_int_not_equal(p1, p2);
	assert_int_equal(f->v.mux.nr_conns, 2);
	assert_int_equal(f->v.mux.stats.conns_host, 2);
	assert_true(f->irqs > 0);
	close(c1);
	close(c2);
	/* The guest hears of both closes (EOF: SHUTDOWN with both flags, peer gone). */
	fx_pump(f);
	fx_rx_offer(f, 2, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH);
	fx_expect(f, &h, VSOCK_OP_SHUTDOWN);
	fx_expect_none(f);
}

static void test_data_both_ways(void **state)
{
	struct fx *f = *state;
	uint32_t hp;
	int c = fx_host_open(f, 77, 1u << 20, &hp);
	enum { H2G = 100000, G2H = 200000 };
	uint8_t *src = malloc(G2H), *got = malloc(G2H);
	fx_pattern(src, H2G, 1);
	fx_write_all(c, src, H2G);
	fx_pump(f);
	size_t have = 0;
	for (unsigned round = 0; have < H2G && round < 100; round++) {
		fx_rx_offer(f, 8, 4096);
		fx_pump(f);
		struct vsock_hdr h;
		while (fx_rx_next(f, &h, got + have)) {
			assert_int_equal(h.op, VSOCK_OP_RW);
			assert_int_equal(h.src_port, hp);
			assert_int_equal(h.dst_port, 77);
			assert_true(h.len > 0 && h.len <= 4096 - VSOCK_HDR_SIZE);
			have += h.len;
		}
	}
	assert_int_equal(have, H2G);
	assert_memory_equal(got, src, H2G);

	/* Guest to host in 64 KiB packets (and a short tail), within the 256 KiB window. */
	fx_pattern(src, G2H, 2);
	size_t sent = 0, read = 0;
	while (sent < G2H) {
		uint32_t n = G2H - sent < VSOCK_PKT_MAX ? (uint32_t)(G2H - sent) : VSOCK_PKT_MAX;
		fx_send(f, VSOCK_OP_RW, 77, hp, 0, src + sent, n);
		sent += n;
		ssize_t r;
		while ((r = fx_read_now(c, got + read, G2H - read)) > 0)
			read += (size_t)r;
		fx_pump(f);
	}
	while (read < G2H) {
		ssize_t r = fx_read_now(c, got + read, G2H - read);
		if (r <= 0)
			fx_pump(f);
		else
			read += (size_t)r;
	}
	assert_memory_equal(got, src, G2H);
	/* Bytes written to the host come back to the guest as credit, a quarter window at once. */
	fx_rx_offer(f, 8, 4096);
	struct vsock_hdr h;
	unsigned updates = 0;
	while (fx_rx_next(f, &h, NULL)) {
		assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
		updates++;
	}
	assert_true(updates >= 1);
	/* Asked, the device tells the exact count. */
	fx_send(f, VSOCK_OP_CREDIT_REQUEST, 77, hp, 0, NULL, 0);
	fx_expect(f, &h, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, G2H);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	close(c);
	free(src);
	free(got);
}

static void test_guest_connect(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 40000, 1025, 4096);
	assert_int_equal(f->v.mux.stats.conns_guest, 1);
	fx_send(f, VSOCK_OP_RW, 40000, 1025, 0, "ping", 4);
	char buf[8];
	fx_read_exact(s, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	fx_write_all(s, "pong!", 5);
	fx_pump(f);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	assert_true(fx_rx_next(f, &h, buf));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "pong!", 5);
	assert_int_equal(h.src_port, 1025);
	assert_int_equal(h.dst_port, 40000);
	close(s);
}

static void test_guest_connect_no_listener(void **state)
{
	struct fx *f = *state;
	fx_send(f, VSOCK_OP_REQUEST, 40001, 1026, 0, NULL, 0);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.src_port, 1026);
	assert_int_equal(h.dst_port, 40001);
	assert_int_equal(f->v.mux.stats.refused, 1);
	assert_int_equal(f->v.mux.nr_conns, 0);
}

/* Write s on a fresh client: it must be closed without a REQUEST reaching the guest. */
static void expect_line_refused(struct fx *f, const char *s, size_t len)
{
	int c = fx_unix_connect(f->path);
	fx_write_all(c, s, len);
	fx_pump(f);
	assert_true(fx_is_eof(c));
	close(c);
	assert_int_equal(f->v.mux.nr_conns, 0);
}

static void test_bad_connect_lines(void **state)
{
	struct fx *f = *state;
	fx_rx_offer(f, 4, 4096);
	expect_line_refused(f, "HELLO\n", 6);
	expect_line_refused(f, "CONNECT 12x\n", 12);
	expect_line_refused(f, "CONNECT \n", 9);
	expect_line_refused(f, "connect 5\n", 10);
	expect_line_refused(f, "CONNECT 4294967295\n", 19);
	expect_line_refused(f, "CONNECT 12345678901\n", 20);
	expect_line_refused(f, "CONNECT  5\n", 11);
	char junk[40];
	memset(junk, 'A', sizeof(junk));
	expect_line_refused(f, junk, sizeof(junk)); /* 32 bytes and no newline */
	int c = fx_unix_connect(f->path);
	close(c); /* EOF before a line */
	fx_pump(f);
	assert_int_equal(f->v.mux.nr_conns, 0);
	fx_expect_none(f);
}

/* A line in pieces works, and bytes after the newline are the stream's first bytes. */
static void test_connect_line_split_and_early_data(void **state)
{
	struct fx *f = *state;
	int c = fx_unix_connect(f->path);
	fx_write_all(c, "CONN", 4);
	fx_pump(f);
	fx_write_all(c, "ECT 7\nearly", 11);
	fx_pump(f);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 7);
	struct vsock_hdr r = fx_hdr(VSOCK_OP_RESPONSE, 7, h.src_port);
	fx_send_raw(f, &r, NULL, 0);
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "OK %u\n", h.src_port);
	char got[32];
	fx_read_exact(c, got, (size_t)n);
	assert_memory_equal(got, buf, (size_t)n);
	fx_pump(f);
	fx_rx_offer(f, 1, 4096);
	assert_true(fx_rx_next(f, &h, got));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 5);
	assert_memory_equal(got, "early", 5);
	close(c);
}

static void test_guest_rst_refuses_host_client(void **state)
{
	struct fx *f = *state;
	int c = fx_unix_connect(f->path);
	fx_write_all(c, "CONNECT 99\n", 11);
	fx_pump(f);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_REQUEST);
	fx_send(f, VSOCK_OP_RST, 99, h.src_port, 0, NULL, 0);
	assert_true(fx_is_eof(c));
	assert_int_equal(f->v.mux.nr_conns, 0);
	assert_int_equal(f->v.mux.stats.resets_received, 1);
	close(c);
}

static void test_handshake_timeouts(void **state)
{
	struct fx *f = *state;
	f->v.mux.connect_timeout_ms = 30;
	int quiet = fx_unix_connect(f->path); /* never sends its line */
	int c = fx_unix_connect(f->path);
	fx_write_all(c, "CONNECT 5\n", 10);
	fx_pump(f);
	fx_rx_offer(f, 2, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_REQUEST);
	uint32_t hp = h.src_port;
	for (int i = 0; i < 50 && f->v.mux.stats.timeouts < 2; i++)
		fx_wait(f, 20);
	assert_int_equal(f->v.mux.stats.timeouts, 2);
	assert_true(fx_is_eof(c));
	assert_true(fx_is_eof(quiet));
	/* The guest had the REQUEST, so it gets the RST; the quiet client was never its concern. */
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.src_port, hp);
	fx_expect_none(f);
	assert_int_equal(f->v.mux.nr_conns, 0);
	assert_int_equal(f->v.mux.timer_at, 0);
	close(c);
	close(quiet);
}

static void test_malformed_packets(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 5000, 1025, 4096);
	struct rb *tx = &f->rq[VIRTIO_VSOCK_QUEUE_TX];
	struct vsock_hdr h;
	unsigned long bad = f->v.bad_pkts;

	/* A header cut short: dropped, nothing answers. */
	struct rb_buf shortb = { TX_HDR, 20, false };
	h = fx_hdr(VSOCK_OP_REQUEST, 5001, 1025);
	memcpy(f->ram + TX_HDR, &h, sizeof(h));
	rb_offer(tx, rb_chain(tx, &shortb, 1));
	fx_wr(f, R_NOTIFY, VIRTIO_VSOCK_QUEUE_TX);
	/* Wrong source CID, wrong destination CID: dropped. */
	h = fx_hdr(VSOCK_OP_REQUEST, 5001, 1025);
	h.src_cid = 4;
	fx_send_raw(f, &h, NULL, 0);
	h = fx_hdr(VSOCK_OP_REQUEST, 5001, 1025);
	h.dst_cid = 1;
	fx_send_raw(f, &h, NULL, 0);
	assert_int_equal(f->v.bad_pkts, bad + 3);
	assert_int_equal(f->v.mux.nr_conns, 1);
	fx_rx_offer(f, 8, 4096);
	fx_expect_none(f);

	/* Bad type, unknown ops: an RST for those ports. */
	h = fx_hdr(VSOCK_OP_REQUEST, 5002, 1025);
	h.type = 2;
	fx_send_raw(f, &h, NULL, 0);
	fx_send(f, 99, 5003, 1025, 0, NULL, 0);
	fx_send(f, 0, 5004, 1025, 0, NULL, 0);
	assert_int_equal(f->v.mux.stats.bad_pkts, 3);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5002);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5003);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5004);
	/* RW for no connection gets an RST; an RST for none gets nothing. */
	fx_send(f, VSOCK_OP_RW, 5005, 1025, 0, "x", 1);
	fx_send(f, VSOCK_OP_RST, 5006, 1025, 0, NULL, 0);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5005);
	fx_expect_none(f);
	assert_int_equal(f->v.mux.nr_conns, 1);

	/* len beyond the readable bytes on a live connection: its stream lost bytes, so RST. */
	h = fx_hdr(VSOCK_OP_RW, 5000, 1025);
	h.len = 100;
	fx_send_raw(f, &h, "abc", 3);
	assert_int_equal(f->v.bad_pkts, bad + 4);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 5000);
	assert_true(fx_is_eof(s));
	/* len over 64 KiB, readable or not. */
	h = fx_hdr(VSOCK_OP_RW, 5007, 1025);
	h.len = VSOCK_PKT_MAX + 1;
	fx_send_raw(f, &h, f->ram, VSOCK_PKT_MAX + 1);
	assert_int_equal(f->v.bad_pkts, bad + 5);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(f->v.mux.nr_conns, 0);
	close(s);

	/* And the device still works. */
	s = fx_guest_open(f, l, 5010, 1025, 4096);
	fx_send(f, VSOCK_OP_RW, 5010, 1025, 0, "ok", 2);
	char buf[2];
	fx_read_exact(s, buf, 2);
	assert_memory_equal(buf, "ok", 2);
	assert_int_equal(f->v.mmio.device_errors, 0);
	close(s);
}

static void test_out_of_protocol_ops(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 6000, 1025, 4096);
	/* A second REQUEST on an open connection resets it. */
	fx_send(f, VSOCK_OP_REQUEST, 6000, 1025, 0, NULL, 0);
	fx_rx_offer(f, 2, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_true(fx_is_eof(s));
	close(s);
	/* A RESPONSE to nothing gets an RST. */
	fx_send(f, VSOCK_OP_RESPONSE, 6001, 1025, 0, NULL, 0);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(f->v.mux.nr_conns, 0);
}

static void test_rx_buffer_unusable(void **state)
{
	struct fx *f = *state;
	fx_rx_offer(f, 1, 20); /* shorter than a header */
	fx_send(f, VSOCK_OP_REQUEST, 7000, 1, 0, NULL, 0);
	struct rb *rx = &f->rq[VIRTIO_VSOCK_QUEUE_RX];
	assert_int_equal(rb_used_idx(rx), 1);
	assert_int_equal(rb_used_elem(rx, 0).len, 0);
	f->rx_seen = 1;
	assert_int_equal(f->v.bad_pkts, 1);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
}

static void test_broken_tx_ring(void **state)
{
	struct fx *f = *state;
	struct rb *tx = &f->rq[VIRTIO_VSOCK_QUEUE_TX];
	rb_set_avail_idx(tx, (uint16_t)(QSZ + 5));
	fx_wr(f, R_NOTIFY, VIRTIO_VSOCK_QUEUE_TX);
	assert_true(fx_rd(f, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->v.mmio.device_errors, 1);
	/* Host events keep being served, but nothing reaches the stopped device. */
	int c = fx_unix_connect(f->path);
	fx_write_all(c, "CONNECT 1\n", 10);
	fx_pump(f);
	assert_int_equal(rb_used_idx(&f->rq[VIRTIO_VSOCK_QUEUE_RX]), 0);
	/* The driver resets and starts over; the waiting client is served then. */
	fx_wr(f, R_STATUS, 0);
	fx_driver_up(f);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 1);
	close(c);
}

static void test_reset_closes_connections(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 8000, 1025, 4096);
	uint32_t hp;
	int c = fx_host_open(f, 80, 4096, &hp);
	assert_int_equal(f->v.mux.nr_conns, 2);
	fx_wr(f, R_STATUS, 0);
	assert_int_equal(f->v.mux.nr_conns, 0);
	assert_true(fx_is_eof(s));
	assert_true(fx_is_eof(c));
	close(s);
	close(c);
}

/* A flood of packets on one kick is served kick_budget at a time, via requeues. */
static void test_kick_budget(void **state)
{
	struct fx *f = *state;
	struct rb *tx = &f->rq[VIRTIO_VSOCK_QUEUE_TX];
	f->v.kick_budget = 4;
	f->manual_requeue = true;
	struct vsock_hdr h = fx_hdr(VSOCK_OP_RST, 1, 2);
	memcpy(f->ram + TX_HDR, &h, sizeof(h));
	struct rb_buf b = { TX_HDR, VSOCK_HDR_SIZE, false };
	for (unsigned i = 0; i < 10; i++)
		rb_offer(tx, rb_chain(tx, &b, 1));
	fx_wr(f, R_NOTIFY, VIRTIO_VSOCK_QUEUE_TX);
	assert_int_equal(rb_used_idx(tx), 4);
	assert_int_equal(f->requeues[VIRTIO_VSOCK_QUEUE_TX], 1);
	virtio_mmio_kick(&f->v.mmio, VIRTIO_VSOCK_QUEUE_TX);
	virtio_mmio_kick(&f->v.mmio, VIRTIO_VSOCK_QUEUE_TX);
	assert_int_equal(rb_used_idx(tx), 10);
	assert_int_equal(f->requeues[VIRTIO_VSOCK_QUEUE_TX], 2);

	/* The rx side too: 6 RSTs owed, 4 buffers per pass. */
	for (unsigned i = 0; i < 6; i++)
		fx_send(f, VSOCK_OP_RW, 100 + i, 2, 0, NULL, 0);
	fx_rx_offer(f, 8, 4096);
	assert_int_equal(rb_used_idx(&f->rq[VIRTIO_VSOCK_QUEUE_RX]), 4);
	assert_int_equal(f->requeues[VIRTIO_VSOCK_QUEUE_RX], 1);
	virtio_mmio_kick(&f->v.mmio, VIRTIO_VSOCK_QUEUE_RX);
	assert_int_equal(rb_used_idx(&f->rq[VIRTIO_VSOCK_QUEUE_RX]), 6);
}

/* Guest RSTs the host never got rx buffers for are bounded. */
static void test_orphan_rst_queue_bounded(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < VSOCK_ORPHAN_MAX + 10; i++)
		fx_send(f, VSOCK_OP_RW, 100 + i, 2, 0, NULL, 0);
	assert_int_equal(f->v.mux.orphan_len, VSOCK_ORPHAN_MAX);
	assert_int_equal(f->v.mux.stats.orphans_dropped, 10);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config_and_features),
		cmocka_unit_test(test_init_errors),
		T(test_host_connect_handshake),
		T(test_data_both_ways),
		T(test_guest_connect),
		T(test_guest_connect_no_listener),
		T(test_bad_connect_lines),
		T(test_connect_line_split_and_early_data),
		T(test_guest_rst_refuses_host_client),
		T(test_handshake_timeouts),
		T(test_malformed_packets),
		T(test_out_of_protocol_ops),
		T(test_rx_buffer_unusable),
		T(test_broken_tx_ring),
		T(test_reset_closes_connections),
		T(test_kick_budget),
		T(test_orphan_rst_queue_bounded),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
