/* Unit tests for the virtio-mmio transport: registers, the status machine, queues, interrupts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ringbuild.h"
#include "virtio/mmio.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DEV_ID 42
#define F_V1 (1ull << VIRTIO_F_VERSION_1)
#define OFFERED ((1ull << 0) | (1ull << 3) | (1ull << 40))

/* Driver-visible register offsets the tests poke. */
enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR = 0x00c,
	R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020, R_DRV_FEAT_SEL = 0x024,
	R_QSEL = 0x030, R_QNUM_MAX = 0x034, R_QNUM = 0x038, R_QREADY = 0x044, R_NOTIFY = 0x050,
	R_ISR = 0x060, R_ACK = 0x064, R_STATUS = 0x070, R_DESC_LO = 0x080, R_DESC_HI = 0x084,
	R_DRIVER_LO = 0x090, R_DEVICE_LO = 0x0a0, R_GEN = 0x0fc,
};

#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

struct fx {
	struct virtio_mmio m;
	uint8_t *ram;
	struct gmem gm;
	struct rb rb;
	unsigned irqs, activates, resets, notifies, last_q;
	uint64_t activated_features;
	int activate_ret;
	bool error_in_notify, push_in_notify;
	uint8_t config[12];
};

static void dev_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct fx *f = dev;
	memcpy(buf, f->config + off, len);
}

static void dev_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct fx *f = dev;
	memcpy(f->config + off, buf, len);
}

static int dev_activate(void *dev, uint64_t features)
{
	struct fx *f = dev;
	f->activates++;
	f->activated_features = features;
	return f->activate_ret;
}

static void dev_reset(void *dev)
{
	struct fx *f = dev;
	f->resets++;
}

/* Runs with the transport lock held: the helpers it calls must not take it again. */
static void dev_notify(void *dev, unsigned q)
{
	struct fx *f = dev;
	f->notifies++;
	f->last_q = q;
	if (f->push_in_notify) {
		struct virtq_chain c;
		while (virtq_pop(&f->m.vq[q], &c) > 0)
			virtq_push(&f->m.vq[q], c.head, 0);
		virtio_mmio_signal_used(&f->m, q);
	}
	if (f->error_in_notify)
		virtio_mmio_device_error(&f->m, "test");
}

static const struct virtio_dev_ops ops = {
	.name = "fake",
	.device_id = DEV_ID,
	.num_queues = 2,
	.config_size = 12,
	.config_read = dev_config_read,
	.config_write = dev_config_write,
	.activate = dev_activate,
	.reset = dev_reset,
	.notify = dev_notify,
};

static void irq_hook(void *ctx, unsigned gsi)
{
	struct fx *f = ctx;
	assert_int_equal(gsi, 7);
	f->irqs++;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	gmem_init_fake(&f->gm, f->ram, RAM);
	rb_init(&f->rb, f->ram, 16, DESC, AVAIL, USED);
	for (unsigned i = 0; i < sizeof(f->config); i++)
		f->config[i] = (uint8_t)(0xa0 + i);
	struct virtio_mmio_hooks hooks = { .ctx = f, .irq = irq_hook };
	int r = virtio_mmio_init(&f->m, &ops, f, OFFERED, &f->gm, 0xd0000000, 7, &hooks);
	assert_int_equal(r, 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	virtio_mmio_destroy(&f->m);
	virtio_mmio_destroy(&f->m); /* idempotent */
	free(f->ram);
	free(f);
	return 0;
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	virtio_mmio_read(&f->m, off, &v, 4);
	return v;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&f->m, off, &v, 4);
}

static void negotiate(struct fx *f, uint64_t features)
{
	wr(f, R_STATUS, S_ACK);
	wr(f, R_STATUS, S_ACK | S_DRV);
	wr(f, R_DRV_FEAT_SEL, 0);
	wr(f, R_DRV_FEAT, (uint32_t)features);
	wr(f, R_DRV_FEAT_SEL, 1);
	wr(f, R_DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK);
}

static void setup_queue(struct fx *f, unsigned q)
{
	wr(f, R_QSEL, q);
	wr(f, R_QNUM, f->rb.size);
	wr(f, R_DESC_LO, DESC);
	wr(f, R_DESC_HI, 0);
	wr(f, R_DRIVER_LO, AVAIL);
	wr(f, R_DEVICE_LO, USED);
	wr(f, R_QREADY, 1);
}

/* The whole driver bring-up for queue 0. */
static void bring_up(struct fx *f)
{
	negotiate(f, F_V1 | 1);
	setup_queue(f, 0);
	assert_int_equal(rd(f, R_QREADY), 1);
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_identity(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, R_MAGIC), 0x74726976);
	assert_int_equal(rd(f, R_VERSION), 2);
	assert_int_equal(rd(f, R_DEVICE_ID), DEV_ID);
	assert_int_equal(rd(f, R_VENDOR), 0x544e4c46);
	assert_int_equal(rd(f, R_QNUM_MAX), VIRTQ_SIZE_MAX);
	wr(f, R_QSEL, 1);
	assert_int_equal(rd(f, R_QNUM_MAX), VIRTQ_SIZE_MAX);
	wr(f, R_QSEL, 2);
	assert_int_equal(rd(f, R_QNUM_MAX), 0);
	assert_int_equal(rd(f, R_GEN), 0);
	assert_int_equal(rd(f, R_STATUS), 0);
}

static void test_features(void **state)
{
	struct fx *f = *state;
	wr(f, R_DEV_FEAT_SEL, 0);
	assert_int_equal(rd(f, R_DEV_FEAT), (uint32_t)OFFERED);
	wr(f, R_DEV_FEAT_SEL, 1);
	assert_int_equal(rd(f, R_DEV_FEAT), (uint32_t)((OFFERED | F_V1) >> 32));
	wr(f, R_DEV_FEAT_SEL, 2);
	assert_int_equal(rd(f, R_DEV_FEAT), 0);

	/* Before DRIVER is set, DriverFeatures writes are ignored. */
	wr(f, R_DRV_FEAT, 1);
	assert_int_equal(f->m.driver_features, 0);

	negotiate(f, F_V1 | (1ull << 40) | 8);
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV | S_FOK);
	assert_int_equal(f->m.driver_features, F_V1 | (1ull << 40) | 8);
	/* Frozen after FEATURES_OK. */
	wr(f, R_DRV_FEAT_SEL, 0);
	wr(f, R_DRV_FEAT, 0);
	assert_int_equal(f->m.driver_features, F_V1 | (1ull << 40) | 8);
}

static void test_features_ok_refused(void **state)
{
	struct fx *f = *state;
	negotiate(f, F_V1 | (1ull << 2)); /* bit 2 was never offered */
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV);
	negotiate(f, 0);
	wr(f, R_DRV_FEAT_SEL, 1);
	wr(f, R_DRV_FEAT, 0);
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK); /* no VERSION_1 */
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV);
	negotiate(f, F_V1);
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV | S_FOK);
}

static void test_status_transitions(void **state)
{
	struct fx *f = *state;
	wr(f, R_STATUS, S_DRV); /* skips ACK */
	assert_int_equal(rd(f, R_STATUS), 0);
	wr(f, R_STATUS, S_ACK | S_DRV);
	assert_int_equal(rd(f, R_STATUS), 0);
	wr(f, R_STATUS, S_ACK);
	wr(f, R_STATUS, S_ACK | S_FOK);
	assert_int_equal(rd(f, R_STATUS), S_ACK);
	wr(f, R_STATUS, S_ACK | S_DRV | S_DOK); /* DRIVER_OK before FEATURES_OK */
	assert_int_equal(rd(f, R_STATUS), S_ACK);
	wr(f, R_STATUS, S_ACK | S_DRV);
	wr(f, R_STATUS, S_ACK); /* bits cannot be cleared */
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV);
	assert_int_equal(f->activates, 0);
	wr(f, R_STATUS, S_ACK | S_DRV | VIRTIO_STATUS_FAILED);
	assert_int_equal(rd(f, R_STATUS), S_ACK | S_DRV | VIRTIO_STATUS_FAILED);
	wr(f, R_STATUS, 0);
	assert_int_equal(rd(f, R_STATUS), 0);
	assert_int_equal(f->resets, 1);
}

static void test_queue_setup(void **state)
{
	struct fx *f = *state;
	/* QueueReady before FEATURES_OK, and with a misaligned ring, is refused. */
	wr(f, R_STATUS, S_ACK);
	setup_queue(f, 0);
	assert_int_equal(rd(f, R_QREADY), 0);
	negotiate(f, F_V1);
	wr(f, R_QSEL, 0);
	wr(f, R_DESC_LO, DESC + 4);
	wr(f, R_QREADY, 1);
	assert_int_equal(rd(f, R_QREADY), 0);
	wr(f, R_QNUM, 1000); /* over QueueNumMax */
	wr(f, R_DESC_LO, DESC);
	wr(f, R_QREADY, 1);
	assert_int_equal(rd(f, R_QREADY), 0);

	setup_queue(f, 0);
	assert_int_equal(rd(f, R_QREADY), 1);
	assert_int_equal(f->m.vq[0].desc_gpa, DESC);
	assert_int_equal(f->m.vq[0].avail_gpa, AVAIL);
	assert_int_equal(f->m.vq[0].used_gpa, USED);
	/* Frozen once ready. */
	wr(f, R_QNUM, 8);
	wr(f, R_DESC_HI, 1);
	assert_int_equal(f->m.vq[0].size, 16);
	assert_int_equal(f->m.vq[0].desc_gpa, DESC);
	/* Queue 2 does not exist. */
	wr(f, R_QSEL, 2);
	wr(f, R_QNUM, 8);
	wr(f, R_QREADY, 1);
	assert_int_equal(rd(f, R_QREADY), 0);

	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(f->activates, 1);
	assert_int_equal(f->activated_features, F_V1);
	/* Queue 1 cannot be set up after DRIVER_OK. */
	setup_queue(f, 1);
	assert_int_equal(rd(f, R_QREADY), 0);
}

static void test_notify(void **state)
{
	struct fx *f = *state;
	negotiate(f, F_V1);
	setup_queue(f, 0);
	wr(f, R_NOTIFY, 0);
	virtio_mmio_kick(&f->m, 0);
	assert_int_equal(f->notifies, 0);
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	wr(f, R_NOTIFY, 0);
	assert_int_equal(f->notifies, 1);
	virtio_mmio_kick(&f->m, 0);
	assert_int_equal(f->notifies, 2);
	wr(f, R_NOTIFY, 1); /* queue 1 not ready */
	wr(f, R_NOTIFY, 9); /* no such queue */
	virtio_mmio_kick(&f->m, 5);
	assert_int_equal(f->notifies, 2);
	/* FAILED stops kicks too. */
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_STATUS_FAILED);
	wr(f, R_NOTIFY, 0);
	assert_int_equal(f->notifies, 2);
}

static void test_signal_used(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	f->push_in_notify = true;
	struct rb_buf b = { 0x8000, 8, true };
	rb_offer(&f->rb, rb_chain(&f->rb, &b, 1));
	wr(f, R_NOTIFY, 0);
	assert_int_equal(rb_used_idx(&f->rb), 1);
	assert_int_equal(f->irqs, 1);
	assert_int_equal(rd(f, R_ISR), 1);
	wr(f, R_ACK, 1);
	assert_int_equal(rd(f, R_ISR), 0);

	rb_avail(&f->rb)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	rb_offer(&f->rb, rb_chain(&f->rb, &b, 1));
	virtio_mmio_kick(&f->m, 0);
	assert_int_equal(rb_used_idx(&f->rb), 2);
	assert_int_equal(f->irqs, 1);
	assert_int_equal(rd(f, R_ISR), 0);
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;
	virtio_mmio_read(&f->m, 0x100, &v, 8);
	assert_int_equal(v, 0xa7a6a5a4a3a2a1a0ull);
	v = 0;
	virtio_mmio_read(&f->m, 0x10a, &v, 2);
	assert_int_equal(v, 0xabaa);
	v = 0;
	virtio_mmio_read(&f->m, 0x10b, &v, 1);
	assert_int_equal(v, 0xab);
	v = 0;
	virtio_mmio_read(&f->m, 0x108, &v, 4);
	assert_int_equal(v, 0xabaaa9a8);
	/* Past the end, or straddling it, reads 0. */
	v = ~0ull;
	virtio_mmio_read(&f->m, 0x108, &v, 8);
	assert_int_equal(v, 0);
	v = ~0ull;
	virtio_mmio_read(&f->m, 0x10c, &v, 1);
	assert_int_equal(v, ~0xffull);
	v = ~0ull;
	virtio_mmio_read(&f->m, 0xffc, &v, 4);
	assert_int_equal(v, ~0xffffffffull);
	v = ~0ull;
	virtio_mmio_read(&f->m, 0x100, &v, 3);
	assert_int_equal(v & 0xffffff, 0);

	uint32_t w = 0x11223344;
	virtio_mmio_write(&f->m, 0x104, &w, 4);
	assert_int_equal(f->config[4], 0x44);
	virtio_mmio_write(&f->m, 0x10a, &w, 4); /* straddles the end */
	assert_int_equal(f->config[10], 0xaa);
	virtio_mmio_write(&f->m, 0x101, &w, 3);
	assert_int_equal(f->config[1], 0xa1);
}

static void test_register_width(void **state)
{
	struct fx *f = *state;
	uint64_t v = ~0ull;
	virtio_mmio_read(&f->m, R_MAGIC, &v, 8);
	assert_int_equal(v, 0);
	uint8_t b = 0xff;
	virtio_mmio_read(&f->m, R_MAGIC, &b, 1);
	assert_int_equal(b, 0);
	uint16_t h = 0xffff;
	virtio_mmio_read(&f->m, R_VERSION, &h, 2);
	assert_int_equal(h, 0);
	uint32_t u = ~0u;
	virtio_mmio_read(&f->m, R_MAGIC + 1, &u, 4); /* unaligned */
	assert_int_equal(u, 0);

	b = S_ACK;
	virtio_mmio_write(&f->m, R_STATUS, &b, 1);
	assert_int_equal(rd(f, R_STATUS), 0);
	v = S_ACK;
	virtio_mmio_write(&f->m, R_STATUS, &v, 8);
	assert_int_equal(rd(f, R_STATUS), 0);
	/* Unknown registers read 0. */
	assert_int_equal(rd(f, 0x0c0), 0);
	wr(f, 0x0c0, 1);
}

static void test_device_error_and_reset(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	f->error_in_notify = true;
	wr(f, R_NOTIFY, 0); /* device_error runs inside notify, under the lock */
	uint32_t running = S_ACK | S_DRV | S_FOK | S_DOK;
	assert_int_equal(rd(f, R_STATUS), running | VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, R_ISR), 2);
	assert_int_equal(f->irqs, 1);
	assert_int_equal(f->m.device_errors, 1);
	/* Processing has stopped. */
	virtio_mmio_kick(&f->m, 0);
	assert_int_equal(f->notifies, 1);
	/* A driver echoing NEEDS_RESET back is not an illegal transition. */
	wr(f, R_STATUS, running | VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, R_STATUS), running | VIRTIO_STATUS_NEEDS_RESET);

	wr(f, R_STATUS, 0);
	assert_int_equal(rd(f, R_STATUS), 0);
	assert_int_equal(rd(f, R_ISR), 0);
	assert_int_equal(f->resets, 1);
	assert_false(f->m.vq[0].ready);
	assert_int_equal(f->m.vq[0].size, 0);
	assert_int_equal(f->m.driver_features, 0);

	/* And the device comes back after a fresh bring-up. */
	f->error_in_notify = false;
	memset(f->ram, 0, RAM);
	rb_init(&f->rb, f->ram, 16, DESC, AVAIL, USED);
	bring_up(f);
	wr(f, R_NOTIFY, 0);
	assert_int_equal(f->notifies, 2);
}

static void test_activate_refused(void **state)
{
	struct fx *f = *state;
	f->activate_ret = -1;
	negotiate(f, F_V1);
	wr(f, R_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_true(rd(f, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->irqs, 1);
	assert_int_equal(f->m.device_errors, 1);
}

static void test_destroy_zeroed(void **state)
{
	(void)state;
	struct virtio_mmio m;
	memset(&m, 0, sizeof(m));
	virtio_mmio_destroy(&m);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_features),
		T(test_features_ok_refused),
		T(test_status_transitions),
		T(test_queue_setup),
		T(test_notify),
		T(test_signal_used),
		T(test_config_space),
		T(test_register_width),
		T(test_device_error_and_reset),
		T(test_activate_refused),
		cmocka_unit_test(test_destroy_zeroed),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
