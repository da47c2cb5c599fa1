/* Unit tests for virtio-net: tx and rx paths over a fake guest memory and backend, hostile rings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "netfx.h"

#define BASE_FEATURES (F_V1 | F_MAC | F_STATUS | F_MTU)

static void put_frame(struct fx *f, uint64_t gpa, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		f->ram[gpa + i] = (uint8_t)(seed + i * 7);
}

static void check_frame(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			fail_msg("byte %zu is %#x, expected %#x", i, p[i], (uint8_t)(seed + i * 7));
}

static bool needs_reset(struct fx *f)
{
	return fx_rd(f, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_config_and_features(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	assert_int_equal(fx_rd(f, R_DEV_ID), 1);
	uint8_t cfg[12];
	for (unsigned i = 0; i < sizeof(cfg); i++)
		virtio_mmio_read(&f->n.mmio, R_CONFIG + i, &cfg[i], 1);
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, 1); /* link up */
	assert_int_equal(cfg[10] | cfg[11] << 8, 1500);
	/* Without backend offloads the guest is offered none: it computes checksums itself. */
	uint64_t feat = fx_features(f);
	assert_true(feat & F_MRG);
	assert_true(feat & F_MAC);
	assert_false(feat & (F_CSUM | F_GUEST_CSUM | F_HOST_TSO4 | F_GUEST_TSO4));
	assert_int_equal(f->be->offloads_set, 0);
	fx_free(f);

	f = fx_new(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4, BASE_FEATURES | F_CSUM | F_GUEST_CSUM |
								  F_GUEST_TSO4 | F_HOST_TSO4);
	feat = fx_features(f);
	assert_true(feat & F_CSUM);
	assert_true(feat & F_GUEST_TSO4);
	assert_int_equal(f->be->offloads_set, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	assert_false(needs_reset(f));
	fx_free(f);
}

/* A frame whose header and body are cut across descriptors at odd places arrives whole. */
static void test_tx_split(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	memset(f->ram + TX_BUF, 0, VNET_HDR_LEN);
	put_frame(f, TX_BUF + 0x100, 30, 1);
	put_frame(f, TX_BUF + 0x200, 1000, (uint8_t)(1 + 30 * 7));
	struct rb_buf b[] = { { TX_BUF, 5, false },
			      { TX_BUF + 5, 7, false },
			      { TX_BUF + 0x100, 30, false },
			      { TX_BUF + 0x200, 1000, false } };
	fx_tx(f, b, 4);
	assert_int_equal(f->be->out_n, 1);
	assert_int_equal(f->be->out_len[0], 1030);
	check_frame(f->be->out[0], 1030, 1);
	assert_int_equal(rb_used_idx(&f->rq[1]), 1);
	assert_int_equal(f->n.stats.tx_packets, 1);
	assert_int_equal(f->n.stats.tx_bytes, 1030);
	assert_true(f->be->flushes >= 1);
	assert_true(f->irqs >= 1);
	fx_free(f);
}

/* Header shorter than a virtio-net header plus Ethernet, bad offload flags, oversize: dropped. */
static void test_tx_malformed(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	struct rb_buf small[] = { { TX_BUF, 8, false } };
	fx_tx(f, small, 1);
	struct rb_buf runt[] = { { TX_BUF, VNET_HDR_LEN + 13, false } };
	fx_tx(f, runt, 1);
	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM */
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
				    .csum_offset = 16 };
	memcpy(f->ram + TX_BUF, &h, sizeof(h));
	struct rb_buf csum[] = { { TX_BUF, VNET_HDR_LEN + 100, false } };
	fx_tx(f, csum, 1);
	/* GSO without HOST_TSO4 */
	h = (struct virtio_net_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448 };
	memcpy(f->ram + TX_BUF, &h, sizeof(h));
	fx_tx(f, csum, 1);
	/* Larger than any frame can be */
	memset(f->ram + BIG_BUF, 0, VNET_HDR_LEN);
	struct rb_buf big[] = { { BIG_BUF, VNET_HDR_LEN + NET_FRAME_MAX + 1, false } };
	fx_tx(f, big, 1);
	assert_int_equal(f->be->out_n, 0);
	assert_int_equal(f->n.stats.tx_dropped, 5);
	/* Every chain still went back to the driver, and the device keeps working. */
	assert_int_equal(rb_used_idx(&f->rq[1]), 5);
	assert_false(needs_reset(f));
	memset(f->ram + TX_BUF, 0, VNET_HDR_LEN);
	fx_tx(f, csum, 1);
	assert_int_equal(f->be->out_n, 1);
	fx_free(f);
}

/* With the offloads negotiated, a checksum request and a TSO frame pass with their header. */
static void test_tx_offload_header(void **state)
{
	(void)state;
	struct fx *f = fx_new(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4,
			      BASE_FEATURES | F_CSUM | F_HOST_TSO4);
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				    .hdr_len = 54,
				    .gso_size = 1448,
				    .csum_start = 34,
				    .csum_offset = 16,
				    .num_buffers = 77 };
	memcpy(f->ram + TX_BUF, &h, sizeof(h));
	struct rb_buf b[] = { { TX_BUF, VNET_HDR_LEN + 3000, false } };
	fx_tx(f, b, 1);
	assert_int_equal(f->be->out_n, 1);
	assert_int_equal(f->be->out_hdr[0].gso_size, 1448);
	assert_int_equal(f->be->out_hdr[0].csum_start, 34);
	assert_int_equal(f->be->out_hdr[0].num_buffers, 0);
	/* csum_start + csum_offset past the frame */
	h.csum_start = 2990;
	memcpy(f->ram + TX_BUF, &h, sizeof(h));
	fx_tx(f, b, 1);
	assert_int_equal(f->be->out_n, 1);
	assert_int_equal(f->n.stats.tx_dropped, 1);
	fx_free(f);
}

/* Without MRG_RXBUF a frame lands in one chain of several buffers; num_buffers is 1. */
static void test_rx_chained(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	uint32_t lens[] = { 10, 100, 1600 };
	uint16_t head = fx_rx_post(f, lens, 3, true);
	fake_queue(f->be, 1000, 3, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(rb_used_idx(&f->rq[0]), 1);
	struct vring_used_elem e = rb_used_elem(&f->rq[0], 0);
	assert_int_equal(e.id, head);
	assert_int_equal(e.len, VNET_HDR_LEN + 1000);
	uint8_t got[VNET_HDR_LEN + 1000];
	uint64_t a0 = fx_desc_addr(f, 0, head);
	memcpy(got, f->ram + a0, 10);
	memcpy(got + 10, f->ram + a0 + RX_STRIDE, 100);
	memcpy(got + 110, f->ram + a0 + 2 * RX_STRIDE, sizeof(got) - 110);
	struct virtio_net_hdr h;
	memcpy(&h, got, sizeof(h));
	assert_int_equal(h.num_buffers, 1);
	check_frame(got + VNET_HDR_LEN, 1000, 3);
	assert_int_equal(f->n.stats.rx_packets, 1);
	assert_false(f->be->paused);
	fx_free(f);
}

/* With MRG_RXBUF a 3000-byte frame spreads over two 1536-byte buffers. */
static void test_rx_merged(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	uint32_t len = 1536;
	uint16_t h1 = fx_rx_post(f, &len, 1, false);
	uint16_t h2 = fx_rx_post(f, &len, 1, false);
	fx_rx_post(f, &len, 1, true);
	fake_queue(f->be, 3000, 9, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(rb_used_idx(&f->rq[0]), 2);
	assert_int_equal(rb_used_elem(&f->rq[0], 0).id, h1);
	assert_int_equal(rb_used_elem(&f->rq[0], 0).len, 1536);
	assert_int_equal(rb_used_elem(&f->rq[0], 1).id, h2);
	assert_int_equal(rb_used_elem(&f->rq[0], 1).len, VNET_HDR_LEN + 3000 - 1536);
	uint8_t got[VNET_HDR_LEN + 3000];
	memcpy(got, f->ram + fx_desc_addr(f, 0, h1), 1536);
	memcpy(got + 1536, f->ram + fx_desc_addr(f, 0, h2), sizeof(got) - 1536);
	struct virtio_net_hdr h;
	memcpy(&h, got, sizeof(h));
	assert_int_equal(h.num_buffers, 2);
	check_frame(got + VNET_HDR_LEN, 3000, 9);
	fx_free(f);
}

/* No buffers: the backend is paused (no busy loop), and the rx kick brings the frame in. */
static void test_rx_no_buffers_pauses(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	fake_queue(f->be, 200, 5, NULL);
	fake_queue(f->be, 300, 6, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(f->be->paused);
	assert_int_equal(f->be->in_n, 1); /* one frame read and held, the other left unread */
	assert_int_equal(rb_used_idx(&f->rq[0]), 0);
	uint32_t len = 2048;
	fx_rx_post(f, &len, 1, true);
	assert_int_equal(rb_used_idx(&f->rq[0]), 1);
	assert_true(f->be->paused); /* the second frame found no buffer either */
	fx_rx_post(f, &len, 1, true);
	assert_int_equal(rb_used_idx(&f->rq[0]), 2);
	assert_false(f->be->paused);
	assert_int_equal(f->n.stats.rx_packets, 2);
	assert_int_equal(f->n.stats.rx_dropped, 0);
	fx_free(f);
}

/* Out of merged buffers half way: the first buffer goes back to the ring until more come. */
static void test_rx_merged_runs_out(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG | F_EVENT_IDX);
	uint32_t len = 1536;
	uint16_t h1 = fx_rx_post(f, &len, 1, true);
	fake_queue(f->be, 3000, 11, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(rb_used_idx(&f->rq[0]), 0);
	assert_true(f->be->paused);
	/* The device asked to be kicked at the next buffer. */
	assert_int_equal(rb_avail_event(&f->rq[0]), 1);
	uint16_t h2 = fx_rx_post(f, &len, 1, true);
	assert_int_equal(rb_used_idx(&f->rq[0]), 2);
	assert_int_equal(rb_used_elem(&f->rq[0], 0).id, h1);
	assert_int_equal(rb_used_elem(&f->rq[0], 1).id, h2);
	struct virtio_net_hdr h;
	memcpy(&h, f->ram + fx_desc_addr(f, 0, h1), sizeof(h));
	assert_int_equal(h.num_buffers, 2);
	assert_false(f->be->paused);
	fx_free(f);
}

/* Without MRG_RXBUF a buffer too small for the frame costs the frame, not the buffer. */
static void test_rx_buffer_too_small(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	uint32_t len = 500;
	uint16_t head = fx_rx_post(f, &len, 1, true);
	fake_queue(f->be, 1000, 1, NULL);
	fake_queue(f->be, 400, 2, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(f->n.stats.rx_dropped, 1);
	assert_int_equal(rb_used_idx(&f->rq[0]), 1);
	assert_int_equal(rb_used_elem(&f->rq[0], 0).id, head);
	assert_int_equal(rb_used_elem(&f->rq[0], 0).len, VNET_HDR_LEN + 400);
	check_frame(f->ram + fx_desc_addr(f, 0, head) + VNET_HDR_LEN, 400, 2);
	assert_false(needs_reset(f));
	fx_free(f);
}

/* A frame larger than the whole ring of merged buffers is dropped, not waited on forever. */
static void test_rx_ring_too_small(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	uint32_t len = 64;
	for (unsigned i = 0; i < QSZ; i++)
		fx_rx_post(f, &len, 1, false);
	fake_queue(f->be, 9000, 1, NULL);
	fake_queue(f->be, 40, 2, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(f->n.stats.rx_dropped, 1);
	assert_int_equal(f->n.stats.rx_packets, 1);
	assert_int_equal(rb_used_idx(&f->rq[0]), 1);
	fx_free(f);
}

/* Offloaded frames reach the guest only with the offloads it accepted. */
static void test_rx_header_filtered(void **state)
{
	(void)state;
	struct fx *f = fx_new(NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4, BASE_FEATURES | F_MRG);
	uint32_t len = 2048;
	uint16_t head = fx_rx_post(f, &len, 1, true);
	struct virtio_net_hdr gso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448 };
	struct virtio_net_hdr valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	fake_queue(f->be, 500, 1, &gso);
	fake_queue(f->be, 500, 2, &valid);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_equal(f->n.stats.rx_dropped, 1);
	assert_int_equal(rb_used_idx(&f->rq[0]), 1);
	struct virtio_net_hdr h;
	memcpy(&h, f->ram + fx_desc_addr(f, 0, head), sizeof(h));
	assert_int_equal(h.flags, 0); /* DATA_VALID needs GUEST_CSUM */
	check_frame(f->ram + fx_desc_addr(f, 0, head) + VNET_HDR_LEN, 500, 2);
	fx_free(f);
}

/* Hostile rx buffers (readable, outside RAM) are a device error, never a host crash. */
static void test_rx_hostile(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	struct rb_buf rd[] = { { RX_BUF, 2048, false } };
	rb_offer(&f->rq[0], rb_chain(&f->rq[0], rd, 1));
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(needs_reset(f));
	fx_free(f);

	f = fx_new(0, BASE_FEATURES | F_MRG);
	struct rb_buf out[] = { { RAM - 100, 2048, true } };
	rb_offer(&f->rq[0], rb_chain(&f->rq[0], out, 1));
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(needs_reset(f));
	/* Broken: nothing more is read from the backend. */
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(f->be->paused);
	fx_free(f);

	f = fx_new(0, BASE_FEATURES | F_MRG);
	struct rb_buf tiny[] = { { RX_BUF, 4, true } };
	rb_offer(&f->rq[0], rb_chain(&f->rq[0], tiny, 1));
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(needs_reset(f)); /* a merged buffer smaller than the header */
	fx_free(f);
}

/* A tx descriptor loop and an over-long chain: the core stops them; the device reports it. */
static void test_tx_hostile(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	rb_set_desc(&f->rq[1], 0, TX_BUF, 100, VIRTQ_DESC_F_NEXT, 1);
	rb_set_desc(&f->rq[1], 1, TX_BUF, 100, VIRTQ_DESC_F_NEXT, 0);
	rb_offer(&f->rq[1], 0);
	fx_wr(f, R_NOTIFY, 1);
	assert_true(needs_reset(f));
	assert_int_equal(f->be->out_n, 0);
	fx_free(f);

	f = fx_new(0, BASE_FEATURES);
	struct rb_buf b[] = { { RAM + 0x1000, 100, false } };
	rb_offer(&f->rq[1], rb_chain(&f->rq[1], b, 1));
	fx_wr(f, R_NOTIFY, 1);
	assert_true(needs_reset(f));
	fx_free(f);
}

/* A flood of tx frames on one kick is served a budget at a time, through requeues. */
static void test_tx_budget(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	f->manual_requeue = true;
	f->n.kick_budget = 16;
	memset(f->ram + TX_BUF, 0, VNET_HDR_LEN);
	struct rb_buf b[] = { { TX_BUF, VNET_HDR_LEN + 60, false } };
	for (unsigned i = 0; i < QSZ; i++)
		rb_offer(&f->rq[1], rb_chain(&f->rq[1], b, 1));
	virtio_mmio_kick(&f->n.mmio, 1);
	assert_int_equal(f->be->out_n, 16);
	assert_int_equal(f->requeues[1], 1);
	virtio_mmio_kick(&f->n.mmio, 1);
	assert_int_equal(f->be->out_n, 32);
	f->manual_requeue = false;
	fx_run_requeues(f);
	assert_int_equal(f->be->out_n, QSZ);
	fx_free(f);
}

/* A reset forgets a frame held for buffers; nothing is read while the device is down. */
static void test_reset(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES | F_MRG);
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_int_not_equal(f->n.pending, 0);
	fx_wr(f, R_STATUS, 0);
	assert_int_equal(f->n.pending, 0);
	fake_queue(f->be, 100, 1, NULL);
	virtio_net_backend_event(&f->n, EPOLLIN);
	assert_true(f->be->paused);
	assert_int_equal(f->be->in_n, 1);
	fx_free(f);
}

/* The backend refusing a frame (the egress policy) is not a tx drop of the device's. */
static void test_tx_refused_counts(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, BASE_FEATURES);
	f->be->send_result = -EACCES;
	f->be->be.denied = 1;
	memset(f->ram + TX_BUF, 0, VNET_HDR_LEN);
	struct rb_buf b[] = { { TX_BUF, VNET_HDR_LEN + 60, false } };
	fx_tx(f, b, 1);
	struct net_stats st;
	virtio_net_stats(&f->n, &st);
	assert_int_equal(st.tx_packets, 0);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.denied, 1);
	f->be->send_result = -EAGAIN;
	fx_tx(f, b, 1);
	virtio_net_stats(&f->n, &st);
	assert_int_equal(st.tx_dropped, 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_and_features),
		cmocka_unit_test(test_tx_split),
		cmocka_unit_test(test_tx_malformed),
		cmocka_unit_test(test_tx_offload_header),
		cmocka_unit_test(test_rx_chained),
		cmocka_unit_test(test_rx_merged),
		cmocka_unit_test(test_rx_no_buffers_pauses),
		cmocka_unit_test(test_rx_merged_runs_out),
		cmocka_unit_test(test_rx_buffer_too_small),
		cmocka_unit_test(test_rx_ring_too_small),
		cmocka_unit_test(test_rx_header_filtered),
		cmocka_unit_test(test_rx_hostile),
		cmocka_unit_test(test_tx_hostile),
		cmocka_unit_test(test_tx_budget),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_tx_refused_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
