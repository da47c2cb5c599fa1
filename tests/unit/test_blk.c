/* Unit tests for virtio-blk over a real temporary raw image, driven through the mmio registers. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringbuild.h"
#include "virtio/blk.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDR 0x4000
#define STATUS 0x5000
#define DATA 0x10000
#define SECTORS 64u
#define F_V1 (1ull << 32)
#define F_RO (1ull << 5)
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)

enum { R_DEV_FEAT = 0x010, R_DEV_FEAT_SEL = 0x014, R_DRV_FEAT = 0x020, R_DRV_FEAT_SEL = 0x024,
       R_QSEL = 0x030, R_QNUM = 0x038, R_QREADY = 0x044, R_NOTIFY = 0x050, R_STATUS = 0x070,
       R_DESC_LO = 0x080, R_DRIVER_LO = 0x090, R_DEVICE_LO = 0x0a0 };

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

struct fx {
	char path[64];
	uint8_t image[SECTORS * 512]; /* what the file holds */
	struct disk disk;
	struct virtio_blk b;
	uint8_t *ram;
	struct gmem gm;
	struct rb rb;
	unsigned irqs;
	unsigned requeues;
};

static void irq_hook(void *ctx, unsigned gsi)
{
	(void)gsi;
	((struct fx *)ctx)->irqs++;
}

static void requeue_hook(void *ctx, unsigned q)
{
	assert_int_equal(q, 0);
	((struct fx *)ctx)->requeues++;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&f->b.mmio, off, &v, 4);
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(&f->b.mmio, off, &v, 4);
	return v;
}

static struct fx *fx_new(bool readonly, uint64_t features)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/flint-blk-XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < sizeof(f->image); i++)
		f->image[i] = (uint8_t)(i * 7 + i / 512);
	assert_int_equal(write(fd, f->image, sizeof(f->image)), sizeof(f->image));
	close(fd);
	assert_int_equal(disk_open(&f->disk, f->path, readonly), 0);
	assert_int_equal(f->disk.size, sizeof(f->image));

	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	gmem_init_fake(&f->gm, f->ram, RAM);
	rb_init(&f->rb, f->ram, 16, DESC, AVAIL, USED);
	struct virtio_mmio_hooks hooks = { .ctx = f, .irq = irq_hook, .requeue = requeue_hook };
	assert_int_equal(virtio_blk_init(&f->b, &f->disk, "flint-test-id-0123456789", &f->gm,
					 0xd0000000, 5, &hooks), 0);

	wr(f, R_STATUS, 1);
	wr(f, R_STATUS, 3);
	wr(f, R_DRV_FEAT_SEL, 0);
	wr(f, R_DRV_FEAT, (uint32_t)features);
	wr(f, R_DRV_FEAT_SEL, 1);
	wr(f, R_DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, R_STATUS, 11);
	assert_int_equal(rd(f, R_STATUS), 11);
	wr(f, R_QSEL, 0);
	wr(f, R_QNUM, 16);
	wr(f, R_DESC_LO, DESC);
	wr(f, R_DRIVER_LO, AVAIL);
	wr(f, R_DEVICE_LO, USED);
	wr(f, R_QREADY, 1);
	wr(f, R_STATUS, 15);
	assert_int_equal(rd(f, R_STATUS), 15);
	return f;
}

static int setup_rw(void **state)
{
	*state = fx_new(false, F_V1);
	return 0;
}

static int setup_ro(void **state)
{
	*state = fx_new(true, F_V1 | F_RO);
	return 0;
}

static int setup_indirect(void **state)
{
	*state = fx_new(false, F_V1 | F_INDIRECT);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_blk_destroy(&f->b);
	disk_close(&f->disk);
	unlink(f->path);
	free(f->ram);
	free(f);
	return 0;
}

static void put_hdr(struct fx *f, uint64_t gpa, uint32_t type, uint64_t sector)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0, sector };
	memcpy(f->ram + gpa, &h, sizeof(h));
	f->ram[STATUS] = 0xff;
}

/* Offer one chain, kick, and return its used length; the status byte is at STATUS. */
static uint32_t run(struct fx *f, const struct rb_buf *bufs, unsigned n)
{
	uint16_t used = rb_used_idx(&f->rb);
	uint16_t head = rb_chain(&f->rb, bufs, n);
	rb_offer(&f->rb, head);
	wr(f, R_NOTIFY, 0);
	assert_int_equal(rb_used_idx(&f->rb), (uint16_t)(used + 1));
	struct vring_used_elem e = rb_used_elem(&f->rb, used);
	assert_int_equal(e.id, head);
	return e.len;
}

static void file_read(struct fx *f, void *buf, size_t len, off_t off)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), len);
	close(fd);
}

static void test_read(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_IN, 2);
	struct rb_buf b[] = { { HDR, 16, false }, { DATA, 1024, true }, { STATUS, 1, true } };
	assert_int_equal(run(f, b, 3), 1025);
	assert_int_equal(f->ram[STATUS], S_OK);
	assert_memory_equal(f->ram + DATA, f->image + 1024, 1024);
	assert_int_equal(f->b.reqs, 1);
	assert_int_equal(f->irqs, 1);
}

static void test_write(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_OUT, 5);
	memset(f->ram + DATA, 0x5a, 512);
	memset(f->ram + DATA + 0x1000, 0xa5, 512);
	struct rb_buf b[] = {
		{ HDR, 16, false },
		{ DATA, 512, false },
		{ DATA + 0x1000, 512, false },
		{ STATUS, 1, true },
	};
	assert_int_equal(run(f, b, 4), 1);
	assert_int_equal(f->ram[STATUS], S_OK);
	uint8_t got[1024];
	file_read(f, got, sizeof(got), 5 * 512);
	assert_memory_equal(got, f->ram + DATA, 512);
	assert_memory_equal(got + 512, f->ram + DATA + 0x1000, 512);

	/* And it reads back through the device. */
	put_hdr(f, HDR, T_IN, 5);
	memset(f->ram + DATA + 0x2000, 0, 1024);
	struct rb_buf r[] = {
		{ HDR, 16, false },
		{ DATA + 0x2000, 1024, true },
		{ STATUS, 1, true },
	};
	assert_int_equal(run(f, r, 3), 1025);
	assert_memory_equal(f->ram + DATA + 0x2000, got, 1024);
}

/* Header split 10+6 over two buffers; data and status share the last writable buffer. */
static void test_split_header_shared_status(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_IN, 7);
	uint8_t hdr[16];
	memcpy(hdr, f->ram + HDR, 16);
	memcpy(f->ram + HDR + 0x100, hdr + 10, 6);
	f->ram[DATA + 512] = 0xff;
	struct rb_buf b[] = { { HDR, 10, false }, { HDR + 0x100, 6, false }, { DATA, 513, true } };
	assert_int_equal(run(f, b, 3), 513);
	assert_memory_equal(f->ram + DATA, f->image + 7 * 512, 512);
	assert_int_equal(f->ram[DATA + 512], S_OK);

	/* A write whose header and data share one readable buffer. */
	put_hdr(f, DATA + 0x4000, T_OUT, 0);
	memset(f->ram + DATA + 0x4010, 0x77, 512);
	struct rb_buf w[] = { { DATA + 0x4000, 16 + 512, false }, { STATUS, 1, true } };
	assert_int_equal(run(f, w, 2), 1);
	assert_int_equal(f->ram[STATUS], S_OK);
	uint8_t got[512];
	file_read(f, got, sizeof(got), 0);
	assert_memory_equal(got, f->ram + DATA + 0x4010, 512);
}

static void expect_status(struct fx *f, uint32_t type, uint64_t sector, uint32_t len, bool write,
			  uint8_t status)
{
	put_hdr(f, HDR, type, sector);
	struct rb_buf b[] = { { HDR, 16, false }, { DATA, len, write }, { STATUS, 1, true } };
	assert_int_equal(run(f, b, 3), write && status == S_OK ? len + 1 : 1);
	assert_int_equal(f->ram[STATUS], status);
}

static void test_range(void **state)
{
	struct fx *f = *state;
	expect_status(f, T_IN, SECTORS - 1, 512, true, S_OK);
	expect_status(f, T_IN, SECTORS, 512, true, S_IOERR);
	expect_status(f, T_IN, SECTORS - 1, 1024, true, S_IOERR);
	expect_status(f, T_OUT, SECTORS, 512, false, S_IOERR);
	/* sector * 512 overflows 64 bits, or lands just below 2^64. */
	expect_status(f, T_IN, UINT64_MAX / 512 + 1, 512, true, S_IOERR);
	expect_status(f, T_IN, UINT64_MAX / 512, 512, true, S_IOERR);
	expect_status(f, T_OUT, UINT64_MAX, 512, false, S_IOERR);
	/* Not a whole number of sectors. */
	expect_status(f, T_IN, 0, 100, true, S_IOERR);
	expect_status(f, T_OUT, 0, 700, false, S_IOERR);
	assert_int_equal(f->b.io_errors, 0);
	assert_int_equal(f->b.bad_reqs, 0);
	uint8_t got[sizeof(f->image)];
	file_read(f, got, sizeof(got), 0);
	assert_memory_equal(got, f->image, sizeof(got));
}

static void test_readonly(void **state)
{
	struct fx *f = *state;
	wr(f, R_DEV_FEAT_SEL, 0);
	assert_true(rd(f, R_DEV_FEAT) & F_RO);
	memset(f->ram + DATA, 0x11, 512);
	expect_status(f, T_OUT, 0, 512, false, S_IOERR);
	uint8_t got[sizeof(f->image)];
	file_read(f, got, sizeof(got), 0);
	assert_memory_equal(got, f->image, sizeof(got));
	expect_status(f, T_IN, 1, 512, true, S_OK);
	expect_status(f, T_FLUSH, 0, 0, true, S_OK);
	assert_int_equal(f->b.io_errors, 0);
}

static void test_rw_features(void **state)
{
	struct fx *f = *state;
	wr(f, R_DEV_FEAT_SEL, 0);
	uint32_t lo = rd(f, R_DEV_FEAT);
	assert_false(lo & F_RO);
	assert_true(lo & (1u << 2));  /* SEG_MAX */
	assert_true(lo & (1u << 6));  /* BLK_SIZE */
	assert_true(lo & (1u << 9));  /* FLUSH */
	assert_true(lo & (1u << 28)); /* INDIRECT_DESC */
	assert_true(lo & (1u << 29)); /* EVENT_IDX */
	wr(f, R_DEV_FEAT_SEL, 1);
	assert_int_equal(rd(f, R_DEV_FEAT), 1); /* VERSION_1 */
}

static void test_flush_get_id_unsupp(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_FLUSH, 0);
	struct rb_buf fl[] = { { HDR, 16, false }, { STATUS, 1, true } };
	assert_int_equal(run(f, fl, 2), 1);
	assert_int_equal(f->ram[STATUS], S_OK);

	put_hdr(f, HDR, T_GET_ID, 0);
	memset(f->ram + DATA, 0xee, 32);
	struct rb_buf id[] = { { HDR, 16, false }, { DATA, 20, true }, { STATUS, 1, true } };
	assert_int_equal(run(f, id, 3), 21);
	assert_int_equal(f->ram[STATUS], S_OK);
	assert_memory_equal(f->ram + DATA, "flint-test-id-012345", 20);
	/* A short buffer gets what fits. */
	put_hdr(f, HDR, T_GET_ID, 0);
	struct rb_buf id4[] = {
		{ HDR, 16, false },
		{ DATA + 0x100, 4, true },
		{ STATUS, 1, true },
	};
	assert_int_equal(run(f, id4, 3), 5);
	assert_memory_equal(f->ram + DATA + 0x100, "flin", 4);

	put_hdr(f, HDR, T_DISCARD, 0);
	struct rb_buf d[] = { { HDR, 16, false }, { DATA, 16, false }, { STATUS, 1, true } };
	assert_int_equal(run(f, d, 3), 1);
	assert_int_equal(f->ram[STATUS], S_UNSUPP);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_IN, 0);
	struct rb_buf nostatus[] = { { HDR, 16, false }, { DATA, 512, false } };
	assert_int_equal(run(f, nostatus, 2), 0);
	struct rb_buf shorthdr[] = { { HDR, 8, false }, { STATUS, 1, true } };
	assert_int_equal(run(f, shorthdr, 2), 0);
	assert_int_equal(f->ram[STATUS], 0xff);
	struct rb_buf nohdr[] = { { DATA, 512, true }, { STATUS, 1, true } };
	assert_int_equal(run(f, nohdr, 2), 0);
	assert_int_equal(f->b.bad_reqs, 3);
	assert_int_equal(f->b.reqs, 0);
	/* The device keeps working. */
	assert_false(rd(f, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	expect_status(f, T_IN, 0, 512, true, S_OK);
}

/* The image shrinks under the device: reads past the new end are backend errors. */
static void test_backend_error(void **state)
{
	struct fx *f = *state;
	assert_int_equal(truncate(f->path, 10 * 512), 0);
	expect_status(f, T_IN, 20, 512, true, S_IOERR);
	assert_int_equal(f->b.io_errors, 1);
	/* EOF halfway: the first half arrives, then the loop finds nothing more. */
	expect_status(f, T_IN, 9, 1024, true, S_IOERR);
	assert_int_equal(f->b.io_errors, 2);
	assert_memory_equal(f->ram + DATA, f->image + 9 * 512, 512);
	expect_status(f, T_IN, 8, 1024, true, S_OK);
}

static void test_broken_ring(void **state)
{
	struct fx *f = *state;
	rb_offer(&f->rb, 99);
	wr(f, R_NOTIFY, 0);
	assert_true(rd(f, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->irqs, 1);
	assert_int_equal(f->b.mmio.device_errors, 1);
}

static void test_batch_signals_once(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < 3; i++) {
		put_hdr(f, HDR + 0x20 * i, T_IN, i);
		struct rb_buf b[] = {
			{ HDR + 0x20 * i, 16, false },
			{ DATA + 0x1000 * i, 512, true },
			{ STATUS + i, 1, true },
		};
		rb_offer(&f->rb, rb_chain(&f->rb, b, 3));
	}
	wr(f, R_NOTIFY, 0);
	assert_int_equal(rb_used_idx(&f->rb), 3);
	assert_int_equal(f->irqs, 1);
	for (unsigned i = 0; i < 3; i++)
		assert_memory_equal(f->ram + DATA + 0x1000 * i, f->image + 512 * i, 512);
}

static void test_indirect_request(void **state)
{
	struct fx *f = *state;
	put_hdr(f, HDR, T_IN, 3);
	struct rb_buf t[] = { { HDR, 16, false }, { DATA, 512, true }, { STATUS, 1, true } };
	rb_indirect_table(&f->rb, 0x8000, t, 3);
	rb_set_desc(&f->rb, 0, 0x8000, 48, VIRTQ_DESC_F_INDIRECT, 0);
	rb_offer(&f->rb, 0);
	wr(f, R_NOTIFY, 0);
	assert_int_equal(rb_used_idx(&f->rb), 1);
	assert_int_equal(rb_used_elem(&f->rb, 0).len, 513);
	assert_int_equal(f->ram[STATUS], S_OK);
	assert_memory_equal(f->ram + DATA, f->image + 3 * 512, 512);
}

static void test_config(void **state)
{
	struct fx *f = *state;
	uint64_t cap = 0;
	virtio_mmio_read(&f->b.mmio, 0x100, &cap, 8);
	assert_int_equal(cap, SECTORS);
	assert_int_equal(rd(f, 0x10c), VIRTQ_CHAIN_MAX - 2);
	assert_int_equal(rd(f, 0x114), 512);
	assert_int_equal(rd(f, 0x100 + 36), 0);
}

static void test_disk_open_errors(void **state)
{
	(void)state;
	struct disk d;
	assert_int_equal(disk_open(&d, "/nonexistent/flint.img", true), -ENOENT);
	disk_close(&d);
	assert_int_equal(disk_open(&d, "/tmp", true), -EINVAL);
	disk_close(&d);

	char path[] = "/tmp/flint-disk-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(disk_open(&d, path, false), -EINVAL);
	assert_int_equal(ftruncate(fd, 1000), 0);
	assert_int_equal(disk_open(&d, path, false), 0);
	assert_int_equal(d.size, 512);
	assert_int_equal(fcntl(d.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	disk_close(&d);
	disk_close(&d);
	close(fd);
	unlink(path);

	struct disk zero;
	memset(&zero, 0, sizeof(zero));
	int before = fcntl(0, F_GETFD);
	disk_close(&zero); /* fd 0 but never opened: stdin must survive */
	assert_int_equal(fcntl(0, F_GETFD), before);
}

/* A kick serves at most kick_budget requests, signals them, and asks to be called again. */
static void test_kick_budget_requeues(void **state)
{
	struct fx *f = *state;
	f->b.kick_budget = 4;
	uint16_t used = rb_used_idx(&f->rb);
	for (unsigned i = 0; i < 10; i++) {
		put_hdr(f, HDR, T_FLUSH, 0);
		struct rb_buf b[] = { { HDR, 16, false }, { STATUS + i, 1, true } };
		rb_offer(&f->rb, rb_chain(&f->rb, b, 2));
	}
	wr(f, R_NOTIFY, 0);
	assert_int_equal((uint16_t)(rb_used_idx(&f->rb) - used), 4);
	assert_int_equal(f->requeues, 1);
	assert_int_equal(f->irqs, 1);
	/* The requeued notify (what the event loop does) continues where it stopped. */
	virtio_mmio_kick(&f->b.mmio, 0);
	assert_int_equal((uint16_t)(rb_used_idx(&f->rb) - used), 8);
	virtio_mmio_kick(&f->b.mmio, 0);
	assert_int_equal((uint16_t)(rb_used_idx(&f->rb) - used), 10);
	assert_int_equal(f->requeues, 2); /* the last pass drained the ring: no requeue */
}

int main(void)
{
#define RW(fn) cmocka_unit_test_setup_teardown(fn, setup_rw, teardown)
	const struct CMUnitTest tests[] = {
		RW(test_read),
		RW(test_kick_budget_requeues),
		RW(test_write),
		RW(test_split_header_shared_status),
		RW(test_range),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		RW(test_rw_features),
		RW(test_flush_get_id_unsupp),
		RW(test_malformed),
		RW(test_backend_error),
		RW(test_broken_ring),
		RW(test_batch_signals_once),
		RW(test_config),
		cmocka_unit_test_setup_teardown(test_indirect_request, setup_indirect, teardown),
		cmocka_unit_test(test_disk_open_errors),
	};
#undef RW
	return cmocka_run_group_tests(tests, NULL, NULL);
}
