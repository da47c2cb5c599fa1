/* Unit tests for virtio-vsock streams: credit, back-pressure, half-close, resets, many at once. */
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

/* Everything in the guest's rx buffers, offered 8 at a time; asserts every packet is RW. */
static size_t drain_rw(struct fx *f, uint8_t *out, size_t cap)
{
	size_t have = 0;
	struct vsock_hdr h;
	fx_pump(f);
	fx_rx_offer(f, 8, 4096);
	while (fx_rx_next(f, &h, out + have)) {
		assert_int_equal(h.op, VSOCK_OP_RW);
		have += h.len;
		assert_true(have <= cap);
	}
	return have;
}

/* The device never puts more into rx buffers than the guest's window allows. */
static void test_credit_limits_host_to_guest(void **state)
{
	struct fx *f = *state;
	uint32_t hp;
	int c = fx_host_open(f, 300, 1000, &hp);
	uint8_t src[5000], got[5000];
	fx_pattern(src, sizeof(src), 3);
	fx_write_all(c, src, sizeof(src));
	size_t have = drain_rw(f, got, sizeof(got));
	assert_int_equal(have, 1000);
	assert_int_equal(drain_rw(f, got + have, sizeof(got) - have), 0);
	struct vsock_conn *conn = fx_conn(f, hp, 300);
	assert_non_null(conn);
	assert_false(conn->events & EPOLLIN); /* no credit: the socket is not even watched */

	/* The guest consumed 1000: credit for 1000 more. */
	struct vsock_hdr u = fx_hdr(VSOCK_OP_CREDIT_UPDATE, 300, hp);
	u.buf_alloc = 1000;
	u.fwd_cnt = 1000;
	fx_send_raw(f, &u, NULL, 0);
	have += drain_rw(f, got + have, sizeof(got) - have);
	assert_int_equal(have, 2000);
	/* A bigger window, all consumed: the rest. */
	u.buf_alloc = 8192;
	u.fwd_cnt = 2000;
	fx_send_raw(f, &u, NULL, 0);
	have += drain_rw(f, got + have, sizeof(got) - have);
	assert_int_equal(have, 5000);
	assert_memory_equal(got, src, sizeof(src));
	close(c);
}

/* Our window: 256 KiB in flight is fine, one byte more resets the connection. */
static void test_guest_exceeds_credit(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9000, 1025, 4096);
	static uint8_t buf[VSOCK_PKT_MAX];
	fx_pattern(buf, sizeof(buf), 4);
	for (unsigned i = 0; i < VSOCK_BUF_ALLOC / VSOCK_PKT_MAX; i++) {
		fx_send(f, VSOCK_OP_RW, 9000, 1025, 0, buf, VSOCK_PKT_MAX);
		static uint8_t sink[VSOCK_PKT_MAX];
		fx_read_exact(s, sink, VSOCK_PKT_MAX); /* the host keeps up: nothing buffered */
		assert_memory_equal(sink, buf, VSOCK_PKT_MAX);
	}
	/* No rx buffer took the CREDIT_UPDATE: the guest has no credit, whatever we wrote. */
	assert_int_equal(f->v.mux.stats.credit_violations, 0);
	fx_send(f, VSOCK_OP_RW, 9000, 1025, 0, buf, 1);
	assert_int_equal(f->v.mux.stats.credit_violations, 1);
	assert_true(fx_is_eof(s));
	fx_rx_offer(f, 2, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	fx_expect_none(f);
	assert_int_equal(f->v.mux.nr_conns, 0);
	close(s);
}

/* A host that does not read: bytes wait in our buffer, within the window; then drain in order. */
static void test_slow_host_backpressure(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9100, 1025, 4096);
	enum { TOTAL = VSOCK_BUF_ALLOC };
	uint8_t *src = malloc(TOTAL), *got = malloc(2 * TOTAL);
	fx_pattern(src, TOTAL, 5);
	for (size_t off = 0; off < TOTAL; off += VSOCK_PKT_MAX)
		fx_send(f, VSOCK_OP_RW, 9100, 1025, 0, src + off, VSOCK_PKT_MAX);
	struct vsock_conn *c = fx_conn(f, 1025, 9100);
	assert_non_null(c);
	assert_true(c->buf_len > 0); /* the host socket is full */
	assert_int_equal(c->fwd_cnt + c->buf_len, TOTAL);
	assert_true(c->events & EPOLLOUT);
	uint32_t written = c->fwd_cnt;

	/* The guest learns only of what reached the host. */
	fx_rx_offer(f, 4, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, written);
	fx_expect_none(f);
	/* Within that credit it may send more, and it is buffered too. */
	for (uint32_t off = 0; off < written; off += VSOCK_PKT_MAX) {
		uint32_t n = written - off < VSOCK_PKT_MAX ? written - off : VSOCK_PKT_MAX;
		fx_send(f, VSOCK_OP_RW, 9100, 1025, 0, src + off, n);
	}
	assert_int_equal(c->buf_len, TOTAL);
	assert_int_equal(f->v.mux.stats.credit_violations, 0);

	/* The host reads: the buffer drains in order and the credit comes back. */
	size_t read = 0;
	for (int i = 0; i < 1000 && read < TOTAL + written; i++) {
		ssize_t n = fx_read_now(s, got + read, TOTAL + written - read);
		if (n > 0)
			read += (size_t)n;
		fx_pump(f);
	}
	assert_int_equal(read, TOTAL + written);
	assert_memory_equal(got, src, TOTAL);
	assert_memory_equal(got + TOTAL, src, written);
	assert_int_equal(c->buf_len, 0);
	assert_null(c->buf);
	assert_false(c->events & EPOLLOUT);
	fx_send(f, VSOCK_OP_CREDIT_REQUEST, 9100, 1025, 0, NULL, 0);
	fx_rx_offer(f, 4, 4096);
	uint32_t last = 0;
	while (fx_rx_next(f, &h, NULL)) {
		assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
		last = h.fwd_cnt;
	}
	assert_int_equal(last, TOTAL + written);
	close(s);
	free(src);
	free(got);
}

/* Host closes its sending side first; the guest still talks; then the guest's SHUTDOWN ends it. */
static void test_half_close_host_first(void **state)
{
	struct fx *f = *state;
	uint32_t hp;
	int c = fx_host_open(f, 400, 65536, &hp);
	fx_write_all(c, "abc", 3);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	fx_pump(f);
	fx_rx_offer(f, 4, 4096);
	struct vsock_hdr h;
	char buf[8];
	assert_true(fx_rx_next(f, &h, buf));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_memory_equal(buf, "abc", 3);
	fx_pump(f); /* the EOF after the bytes is the next read */
	fx_expect(f, &h, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	fx_expect_none(f);

	fx_send(f, VSOCK_OP_RW, 400, hp, 0, "xyz", 3);
	fx_read_exact(c, buf, 3);
	assert_memory_equal(buf, "xyz", 3);
	fx_send(f, VSOCK_OP_SHUTDOWN, 400, hp, VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_true(fx_is_eof(c));
	fx_expect(f, &h, VSOCK_OP_RST); /* both directions done */
	assert_int_equal(f->v.mux.nr_conns, 0);
	close(c);
}

/* The guest closes its sending side first; the host answers, then closes entirely. */
static void test_half_close_guest_first(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9200, 1025, 65536);
	fx_send(f, VSOCK_OP_RW, 9200, 1025, 0, "data", 4);
	fx_send(f, VSOCK_OP_SHUTDOWN, 9200, 1025, VSOCK_SHUTDOWN_SEND, NULL, 0);
	char buf[8];
	fx_read_exact(s, buf, 4);
	assert_memory_equal(buf, "data", 4);
	assert_true(fx_is_eof(s));
	fx_write_all(s, "reply", 5);
	close(s);
	fx_pump(f);
	fx_rx_offer(f, 4, 4096);
	struct vsock_hdr h;
	assert_true(fx_rx_next(f, &h, buf));
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_memory_equal(buf, "reply", 5);
	fx_expect(f, &h, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_BOTH); /* the peer is gone altogether */
	fx_expect(f, &h, VSOCK_OP_RST);
	fx_expect_none(f);
	assert_int_equal(f->v.mux.nr_conns, 0);
}

/* The guest's close() while the host has not read everything: RST once drained. */
static void test_guest_close_waits_for_drain(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9300, 1025, 65536);
	static uint8_t buf[VSOCK_PKT_MAX], got[4 * VSOCK_PKT_MAX];
	fx_pattern(buf, sizeof(buf), 6);
	for (unsigned i = 0; i < 4; i++)
		fx_send(f, VSOCK_OP_RW, 9300, 1025, 0, buf, VSOCK_PKT_MAX);
	fx_send(f, VSOCK_OP_SHUTDOWN, 9300, 1025, VSOCK_SHUTDOWN_BOTH, NULL, 0);
	struct vsock_conn *c = fx_conn(f, 1025, 9300);
	assert_non_null(c);
	assert_true(c->buf_len > 0);
	assert_true(c->deadline != 0);
	fx_rx_offer(f, 4, 4096);
	struct vsock_hdr h;
	while (fx_rx_next(f, &h, NULL))
		assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	size_t read = 0;
	for (int i = 0; i < 1000 && read < sizeof(got); i++) {
		ssize_t n = fx_read_now(s, got + read, sizeof(got) - read);
		if (n > 0)
			read += (size_t)n;
		fx_pump(f);
	}
	assert_int_equal(read, sizeof(got));
	assert_true(fx_is_eof(s));
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(f->v.mux.nr_conns, 0);
	close(s);
}

/* ... and when the host never reads, the close gives up after the shutdown timeout. */
static void test_guest_close_times_out(void **state)
{
	struct fx *f = *state;
	f->v.mux.shutdown_timeout_ms = 30;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9400, 1025, 65536);
	static uint8_t buf[VSOCK_PKT_MAX];
	for (unsigned i = 0; i < 4; i++)
		fx_send(f, VSOCK_OP_RW, 9400, 1025, 0, buf, VSOCK_PKT_MAX);
	fx_send(f, VSOCK_OP_SHUTDOWN, 9400, 1025, VSOCK_SHUTDOWN_BOTH, NULL, 0);
	for (int i = 0; i < 50 && f->v.mux.stats.timeouts == 0; i++)
		fx_wait(f, 20);
	assert_int_equal(f->v.mux.stats.timeouts, 1);
	fx_rx_offer(f, 8, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	fx_expect_none(f);
	assert_int_equal(f->v.mux.nr_conns, 0);
	close(s);
}

static void test_rst_from_guest(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9500, 1025, 4096);
	fx_send(f, VSOCK_OP_RST, 9500, 1025, 0, NULL, 0);
	assert_true(fx_is_eof(s));
	assert_int_equal(f->v.mux.nr_conns, 0);
	fx_rx_offer(f, 1, 4096);
	fx_expect_none(f); /* an RST is never answered */
	close(s);
}

/* The host's socket fails under the guest's write: RST to the guest. */
static void test_rst_from_host_error(void **state)
{
	struct fx *f = *state;
	int l = fx_listen(f, 1025);
	int s = fx_guest_open(f, l, 9600, 1025, 4096);
	close(s);
	/* Without the loop noticing first: the write itself fails. */
	fx_send(f, VSOCK_OP_RW, 9600, 1025, 0, "lost", 4);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 9600);
	assert_int_equal(f->v.mux.nr_conns, 0);

	/* With data still buffered when the peer hangs up. */
	s = fx_guest_open(f, l, 9601, 1025, 0);
	static uint8_t buf[VSOCK_PKT_MAX];
	for (unsigned i = 0; i < 4; i++)
		fx_send(f, VSOCK_OP_RW, 9601, 1025, 0, buf, VSOCK_PKT_MAX);
	assert_true(fx_conn(f, 1025, 9601)->buf_len > 0);
	close(s);
	fx_pump(f);
	fx_rx_offer(f, 2, 4096);
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 9601);
	assert_int_equal(f->v.mux.nr_conns, 0);
}

/* Two busy connections share few rx buffers turn by turn. */
static void test_round_robin(void **state)
{
	struct fx *f = *state;
	uint32_t p1, p2;
	int c1 = fx_host_open(f, 501, 1u << 20, &p1);
	int c2 = fx_host_open(f, 502, 1u << 20, &p2);
	static uint8_t big[64 * 1024];
	fx_write_all(c1, big, sizeof(big));
	fx_write_all(c2, big, sizeof(big));
	fx_pump(f);
	fx_rx_offer(f, 6, 4096);
	struct vsock_hdr h;
	unsigned n1 = 0, n2 = 0;
	while (fx_rx_next(f, &h, NULL)) {
		assert_int_equal(h.op, VSOCK_OP_RW);
		n1 += h.dst_port == 501;
		n2 += h.dst_port == 502;
	}
	assert_int_equal(n1, 3);
	assert_int_equal(n2, 3);
	close(c1);
	close(c2);
}

/* 100 host clients at once, each with its own bytes both ways. */
static void test_many_connections(void **state)
{
	struct fx *f = *state;
	enum { N = 100, LEN = 1000 };
	int fd[N];
	uint32_t hp[N];
	static uint8_t got[N][LEN];
	size_t have[N] = { 0 };
	for (unsigned i = 0; i < N; i++) {
		fd[i] = fx_unix_connect(f->path);
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", 10000 + i);
		fx_write_all(fd[i], line, (size_t)n);
	}
	fx_pump(f);
	assert_int_equal(f->v.mux.nr_conns, N);
	fx_rx_offer(f, 128, 4096);
	struct vsock_hdr h;
	for (unsigned i = 0; i < N; i++) {
		fx_expect(f, &h, VSOCK_OP_REQUEST);
		unsigned k = h.dst_port - 10000;
		assert_true(k < N);
		hp[k] = h.src_port;
		assert_non_null(fx_conn(f, hp[k], 10000 + k));
	}
	for (unsigned i = 0; i < N; i++) {
		struct vsock_hdr r = fx_hdr(VSOCK_OP_RESPONSE, 10000 + i, hp[i]);
		fx_send_raw(f, &r, NULL, 0);
		char ok[32], want[32];
		int n = snprintf(want, sizeof(want), "OK %u\n", hp[i]);
		fx_read_exact(fd[i], ok, (size_t)n);
		assert_memory_equal(ok, want, (size_t)n);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(hp[i], hp[j]);
	}
	for (unsigned i = 0; i < N; i++) {
		uint8_t src[LEN];
		fx_pattern(src, LEN, i);
		fx_write_all(fd[i], src, LEN);
	}
	fx_pump(f);
	for (unsigned round = 0; round < 10; round++) {
		fx_rx_offer(f, 128, 4096);
		uint8_t tmp[4096];
		while (fx_rx_next(f, &h, tmp)) {
			assert_int_equal(h.op, VSOCK_OP_RW);
			unsigned k = h.dst_port - 10000;
			assert_true(k < N && h.src_port == hp[k] && have[k] + h.len <= LEN);
			memcpy(got[k] + have[k], tmp, h.len);
			have[k] += h.len;
		}
		fx_pump(f);
	}
	for (unsigned i = 0; i < N; i++) {
		uint8_t src[LEN], back[LEN];
		fx_pattern(src, LEN, i);
		assert_int_equal(have[i], LEN);
		assert_memory_equal(got[i], src, LEN);
		fx_pattern(src, LEN, i + 1000);
		fx_send(f, VSOCK_OP_RW, 10000 + i, hp[i], 0, src, LEN);
		fx_read_exact(fd[i], back, LEN);
		assert_memory_equal(back, src, LEN);
	}
	for (unsigned i = 0; i < N; i++)
		close(fd[i]);
	fx_pump(f);
	assert_int_equal(f->v.mmio.device_errors, 0);
}

/* Past the connection cap: guest connects get RST, host clients are closed. */
static void test_connection_cap(void **state)
{
	struct fx *f = *state;
	f->v.mux.conn_max = 2;
	int l = fx_listen(f, 1025);
	int s1 = fx_guest_open(f, l, 1, 1025, 4096);
	int s2 = fx_guest_open(f, l, 2, 1025, 4096);
	fx_send(f, VSOCK_OP_REQUEST, 3, 1025, 0, NULL, 0);
	fx_rx_offer(f, 1, 4096);
	struct vsock_hdr h;
	fx_expect(f, &h, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 3);
	assert_int_equal(f->v.mux.stats.refused, 1);
	int c = fx_unix_connect(f->path);
	fx_pump(f);
	assert_true(fx_is_eof(c));
	assert_int_equal(f->v.mux.nr_conns, 2);
	close(c);
	close(s1);
	close(s2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_credit_limits_host_to_guest),
		T(test_guest_exceeds_credit),
		T(test_slow_host_backpressure),
		T(test_half_close_host_first),
		T(test_half_close_guest_first),
		T(test_guest_close_waits_for_drain),
		T(test_guest_close_times_out),
		T(test_rst_from_guest),
		T(test_rst_from_host_error),
		T(test_round_robin),
		T(test_many_connections),
		T(test_connection_cap),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
