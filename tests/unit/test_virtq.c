/* Unit tests for the split virtqueue core: well-formed rings and a gallery of hostile ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ringbuild.h"

#define RAM (1u << 20)
#define QSIZE 16
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT (1ull << VIRTIO_RING_F_EVENT_IDX)

struct fx {
	uint8_t *ram;
	struct gmem gm;
	struct rb rb;
	struct virtq q;
	struct virtq_chain c;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	gmem_init_fake(&f->gm, f->ram, RAM);
	rb_init(&f->rb, f->ram, QSIZE, DESC, AVAIL, USED);
	rb_queue(&f->rb, &f->q);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	free(f->ram);
	free(f);
	return 0;
}

static void activate(struct fx *f, uint64_t features)
{
	assert_int_equal(virtq_activate(&f->q, &f->gm, features), 0);
}

static void test_activate_checks(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad_sizes[] = { 0, 3, 12, 512 };
	for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		f->q.size = bad_sizes[i];
		assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
		assert_false(f->q.ready);
	}
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC + 8;
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
	f->q.desc_gpa = DESC;
	f->q.avail_gpa = AVAIL + 1;
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
	f->q.avail_gpa = AVAIL;
	f->q.used_gpa = USED + 2;
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
	f->q.used_gpa = USED;

	/* Rings that run off the end of RAM, or sit far outside it. */
	f->q.desc_gpa = RAM - 16 * QSIZE + 16;
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
	f->q.desc_gpa = 0xfffffffffffffff0ull;
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), -EINVAL);
	f->q.desc_gpa = DESC;

	/* A used ring ending exactly at the end of RAM fits, until EVENT_IDX adds avail_event. */
	f->q.used_gpa = RAM - (4 + 8 * QSIZE);
	assert_int_equal(virtq_activate(&f->q, &f->gm, 0), 0);
	assert_true(f->q.ready);
	f->q.ready = false;
	assert_int_equal(virtq_activate(&f->q, &f->gm, F_EVENT), -EINVAL);
	f->q.used_gpa = USED;
	f->q.avail_gpa = RAM - (4 + 2 * QSIZE);
	assert_int_equal(virtq_activate(&f->q, &f->gm, F_EVENT), -EINVAL);
	f->q.avail_gpa = AVAIL;
	activate(f, F_EVENT);
}

static void test_not_ready_and_empty(void **state)
{
	struct fx *f = *state;
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_false(virtq_should_signal(&f->q));
	activate(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
}

static void test_normal_chain(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	struct rb_buf b[] = {
		{ DATA, 16, false },
		{ DATA + 0x100, 100, false },
		{ DATA + 0x1000, 0, true }, /* zero-length: no iovec */
		{ DATA + 0x2000, 512, true },
		{ DATA + 0x3000, 1, true },
	};
	uint16_t head = rb_chain(&f->rb, b, 5);
	rb_offer(&f->rb, head);

	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, head);
	assert_int_equal(f->c.n_out, 2);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.out_len, 116);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->c.iov[0].iov_base, f->ram + DATA);
	assert_ptr_equal(f->c.iov[1].iov_base, f->ram + DATA + 0x100);
	assert_ptr_equal(f->c.iov[2].iov_base, f->ram + DATA + 0x2000);
	assert_int_equal(f->c.iov[3].iov_len, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);

	virtq_push(&f->q, head, 513);
	assert_int_equal(rb_used_idx(&f->rb), 1);
	assert_int_equal(rb_used_elem(&f->rb, 0).id, head);
	assert_int_equal(rb_used_elem(&f->rb, 0).len, 513);
	assert_true(virtq_should_signal(&f->q));
}

/* Indices wrap at 2^16 while ring slots wrap at size. */
static void test_index_wraparound(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	f->q.last_avail = f->q.used_idx = 65530;
	rb_set_avail_idx(&f->rb, 65530);
	rb_used(&f->rb)->idx = 65530;
	for (unsigned i = 0; i < 40; i++) {
		struct rb_buf b = { DATA, 8, true };
		rb_offer(&f->rb, rb_chain(&f->rb, &b, 1));
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		virtq_push(&f->q, f->c.head, 8);
	}
	assert_int_equal(rb_used_idx(&f->rb), (uint16_t)(65530 + 40));
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
}

static void test_indirect_chain(void **state)
{
	struct fx *f = *state;
	activate(f, F_INDIRECT);
	struct rb_buf t[] = {
		{ DATA, 16, false },
		{ DATA + 0x200, 512, true },
		{ DATA + 0x400, 1, true },
	};
	/* Indirect tables need no alignment. */
	rb_indirect_table(&f->rb, DATA + 0x8003, t, 3);
	/* A direct readable buffer may come before the indirect descriptor. */
	rb_set_desc(&f->rb, 0, DATA + 0x600, 4, VIRTQ_DESC_F_NEXT, 1);
	rb_set_desc(&f->rb, 1, DATA + 0x8003, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	rb_offer(&f->rb, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.n_out, 2);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.out_len, 20);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->c.iov[1].iov_base, f->ram + DATA);

	/* A full-cap table is fine. */
	struct rb_buf big[VIRTQ_CHAIN_MAX];
	for (unsigned i = 0; i < VIRTQ_CHAIN_MAX; i++)
		big[i] = (struct rb_buf){ DATA + i, 1, true };
	rb_indirect_table(&f->rb, DATA + 0x10000, big, VIRTQ_CHAIN_MAX);
	rb_set_desc(&f->rb, 2, DATA + 0x10000, 16 * VIRTQ_CHAIN_MAX, VIRTQ_DESC_F_INDIRECT, 0);
	rb_offer(&f->rb, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.n_in, VIRTQ_CHAIN_MAX);
	assert_int_equal(f->c.in_len, VIRTQ_CHAIN_MAX);
}

/* Offer head after the caller wrote its descriptors; expect the ring to break for good. */
static void expect_broken(struct fx *f, uint16_t head)
{
	rb_offer(&f->rb, head);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_true(f->q.broken);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	expect_broken(f, QSIZE);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	rb_set_desc(&f->rb, 0, DATA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	expect_broken(f, 0);
}

static void test_loop(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	rb_set_desc(&f->rb, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1);
	rb_set_desc(&f->rb, 1, DATA, 8, VIRTQ_DESC_F_NEXT, 0);
	expect_broken(f, 0);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;
	activate(f, F_INDIRECT);
	rb_put_desc(&f->rb, DATA, DATA + 0x100, 8, VIRTQ_DESC_F_NEXT, 0); /* entry 0 -> itself */
	rb_set_desc(&f->rb, 0, DATA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken(f, 0);
}

static void test_chain_over_cap(void **state)
{
	struct fx *f = *state;
	/* A full indirect table plus one direct buffer is one descriptor too many. */
	activate(f, F_INDIRECT);
	for (unsigned i = 0; i < VIRTQ_CHAIN_MAX; i++)
		rb_put_desc(&f->rb, DATA + 0x10000 + 16 * i, DATA, 1,
			    VIRTQ_DESC_F_WRITE | (i + 1 < VIRTQ_CHAIN_MAX ? VIRTQ_DESC_F_NEXT : 0),
			    (uint16_t)(i + 1));
	rb_set_desc(&f->rb, 0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	rb_set_desc(&f->rb, 1, DATA + 0x10000, 16 * VIRTQ_CHAIN_MAX, VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken(f, 0);
}

static void test_buffer_outside_ram(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	struct rb_buf b = { RAM - 8, 9, true };
	expect_broken(f, rb_chain(&f->rb, &b, 1));
}

static void test_buffer_wraps(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	struct rb_buf b = { 0xfffffffffffffff0ull, 0x20, false };
	expect_broken(f, rb_chain(&f->rb, &b, 1));
}

static void test_avail_jump(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	rb_set_avail_idx(&f->rb, QSIZE + 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	struct rb_buf b[] = { { DATA, 8, true }, { DATA + 8, 8, false } };
	expect_broken(f, rb_chain(&f->rb, b, 2));
}

static void test_lengths_overflow(void **state)
{
	struct fx *f = *state;
	/* RAM that claims 16 GiB: the core never touches buffers, only their bounds. */
	gmem_init_fake(&f->gm, f->ram, 16ull << 30);
	activate(f, 0);
	struct rb_buf b[] = { { 1ull << 32, 0xffffffffu, false }, { 2ull << 32, 2, false } };
	expect_broken(f, rb_chain(&f->rb, b, 2));
}

static void test_bad_indirect(void **state)
{
	struct fx *f = *state;
	struct {
		uint64_t features;
		uint32_t len;
		uint16_t flags;
		uint64_t addr;
		bool nested;
	} cases[] = {
		{ 0, 16, VIRTQ_DESC_F_INDIRECT, DATA, false },                  /* not negotiated */
		{ F_INDIRECT, 24, VIRTQ_DESC_F_INDIRECT, DATA, false },         /* len % 16 */
		{ F_INDIRECT, 0, VIRTQ_DESC_F_INDIRECT, DATA, false },          /* empty */
		{ F_INDIRECT, 16 * (VIRTQ_CHAIN_MAX + 1), VIRTQ_DESC_F_INDIRECT, DATA, false },
		{ F_INDIRECT, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, DATA, false },
		{ F_INDIRECT, 32, VIRTQ_DESC_F_INDIRECT, RAM - 16, false },     /* outside RAM */
		{ F_INDIRECT, 16, VIRTQ_DESC_F_INDIRECT, DATA, true },          /* nested */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rb_init(&f->rb, f->ram, QSIZE, DESC, AVAIL, USED);
		memset(f->ram, 0, RAM);
		rb_queue(&f->rb, &f->q);
		activate(f, cases[i].features);
		rb_put_desc(&f->rb, DATA, DATA + 0x100, 8,
			    cases[i].nested ? VIRTQ_DESC_F_INDIRECT : 0, 0);
		rb_set_desc(&f->rb, 0, cases[i].addr, cases[i].len, cases[i].flags, 1);
		rb_set_desc(&f->rb, 1, DATA + 0x200, 8, 0, 0);
		expect_broken(f, 0);
	}
}

static void test_reset_clears_broken(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	expect_broken(f, QSIZE);
	/* Fixing the ring does not help: the driver must reset. */
	rb_avail(&f->rb)->ring[0] = 0;
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);

	memset(f->ram, 0, RAM);
	rb_init(&f->rb, f->ram, QSIZE, DESC, AVAIL, USED);
	rb_queue(&f->rb, &f->q); /* virtq_reset + registers */
	assert_false(f->q.broken);
	assert_false(f->q.ready);
	activate(f, 0);
	struct rb_buf b = { DATA, 8, true };
	rb_offer(&f->rb, rb_chain(&f->rb, &b, 1));
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
}

static void push_one(struct fx *f)
{
	struct rb_buf b = { DATA, 8, true };
	rb_offer(&f->rb, rb_chain(&f->rb, &b, 1));
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	virtq_push(&f->q, f->c.head, 8);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx *f = *state;
	activate(f, 0);
	rb_avail(&f->rb)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	push_one(f);
	assert_false(virtq_should_signal(&f->q));
	rb_avail(&f->rb)->flags = 0;
	push_one(f);
	assert_true(virtq_should_signal(&f->q));
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;
	activate(f, F_EVENT);
	/* The flag is ignored with EVENT_IDX. */
	rb_avail(&f->rb)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	/* An empty pop publishes avail_event = last_avail, asking for the next kick. */
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_int_equal(rb_avail_event(&f->rb), 0);

	rb_set_used_event(&f->rb, 0);
	push_one(f); /* used_idx 0 -> 1 */
	assert_true(virtq_should_signal(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_int_equal(rb_avail_event(&f->rb), 1);

	/* The driver wants to hear when entry 3 is used: not at 2 or 3, but at 4. */
	rb_set_used_event(&f->rb, 3);
	push_one(f); /* -> 2 */
	assert_false(virtq_should_signal(&f->q));
	push_one(f); /* -> 3 */
	assert_false(virtq_should_signal(&f->q));
	push_one(f); /* -> 4: crosses 3 */
	assert_true(virtq_should_signal(&f->q));
	/* Nothing new since the last signal. */
	assert_false(virtq_should_signal(&f->q));
	/* Two pushes between checks that jump over the event still signal. */
	rb_set_used_event(&f->rb, 4);
	push_one(f);
	push_one(f); /* 4 -> 6 crosses 4 */
	assert_true(virtq_should_signal(&f->q));
}

static void test_iov_copy(void **state)
{
	(void)state;
	uint8_t a[3], b[5], out[8];
	struct iovec iov[] = { { a, 3 }, { b, 5 } };
	const uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(iov_copy_to(iov, 2, 0, src, 8), 8);
	assert_int_equal(a[2], 3);
	assert_int_equal(b[0], 4);
	assert_int_equal(iov_copy_from(iov, 2, 2, out, 8), 6);
	assert_memory_equal(out, src + 2, 6);
	assert_int_equal(iov_copy_from(iov, 2, 8, out, 1), 0);
	assert_int_equal(iov_copy_to(iov, 2, 7, src, 4), 1);
	assert_int_equal(b[4], 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_activate_checks),
		T(test_not_ready_and_empty),
		T(test_normal_chain),
		T(test_index_wraparound),
		T(test_indirect_chain),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_loop),
		T(test_indirect_loop),
		T(test_chain_over_cap),
		T(test_buffer_outside_ram),
		T(test_buffer_wraps),
		T(test_avail_jump),
		T(test_readable_after_writable),
		T(test_lengths_overflow),
		T(test_bad_indirect),
		T(test_reset_clears_broken),
		T(test_no_interrupt_flag),
		T(test_event_idx),
		cmocka_unit_test(test_iov_copy),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
