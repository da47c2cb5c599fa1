/* Unit tests for guest RAM (vmm/mem.c): the region split and gm_ptr's bounds, overflow-safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"
#include "mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- fake memory --------------------------------------------------------------------------- */

static void test_fake_bounds(void **state)
{
	(void)state;
	static uint8_t buf[4096];
	struct gmem m;
	gmem_init_fake(&m, buf, sizeof(buf));
	assert_int_equal(m.nr_regions, 1);
	assert_int_equal(m.region[0].gpa, 0);
	assert_int_equal(m.region[0].size, sizeof(buf));
	assert_null(m.map);

	assert_ptr_equal(gm_ptr(&m, 0, 1), buf);
	assert_ptr_equal(gm_ptr(&m, 0, 4096), buf);
	assert_ptr_equal(gm_ptr(&m, 100, 200), buf + 100);
	assert_ptr_equal(gm_ptr(&m, 4095, 1), buf + 4095);
	assert_ptr_equal(gm_ptr(&m, 4088, 8), buf + 4088); /* exact end */
	assert_ptr_equal(gm_ptr(&m, 4096, 0), buf + 4096); /* len 0 at the end */
	assert_ptr_equal(gm_ptr(&m, 0, 0), buf);
	assert_null(gm_ptr(&m, 0, 4097));
	assert_null(gm_ptr(&m, 4089, 8)); /* one byte past */
	assert_null(gm_ptr(&m, 4096, 1));
	assert_null(gm_ptr(&m, 4097, 0));
	assert_null(gm_ptr(&m, UINT64_MAX - 3, 8)); /* gpa + len wraps 2^64 */
	assert_null(gm_ptr(&m, UINT64_MAX, 1));
	assert_null(gm_ptr(&m, UINT64_MAX, 0));
	assert_null(gm_ptr(&m, 8, UINT64_MAX));	      /* huge len */
	assert_null(gm_ptr(&m, 8, UINT64_MAX - 7));   /* 8 + len == 2^64 exactly */
	assert_null(gm_ptr(&m, 4000, UINT64_MAX - 3000)); /* wraps to a small end */
	assert_null(gm_ptr(&m, 0, UINT64_MAX));
	gmem_destroy(&m); /* no map: only clears */
	assert_int_equal(m.nr_regions, 0);
	assert_null(gm_ptr(&m, 0, 0));
}

static void test_fake_empty(void **state)
{
	(void)state;
	/* A zero-sized fake: only (0, 0) is inside. */
	static uint8_t b;
	struct gmem m;
	gmem_init_fake(&m, &b, 0);
	assert_ptr_equal(gm_ptr(&m, 0, 0), &b);
	assert_null(gm_ptr(&m, 0, 1));
	assert_null(gm_ptr(&m, 1, 0));
}

/* ---- a real mapping ------------------------------------------------------------------------ */

static void test_real_64m(void **state)
{
	(void)state;
	struct gmem m;
	assert_int_equal(gmem_init(&m, 64 * MiB), 0);
	assert_int_equal(m.nr_regions, 1);
	assert_int_equal(m.region[0].gpa, 0);
	assert_int_equal(m.region[0].size, 64 * MiB);
	assert_non_null(m.map);
	assert_ptr_equal(m.region[0].host, m.map);
	assert_int_equal(m.map_size, 64 * MiB);

	uint8_t *p = gm_ptr(&m, 0, 64 * MiB);
	assert_ptr_equal(p, m.map);
	/* The mapping is writable RAM, zero-filled. */
	assert_int_equal(p[0], 0);
	p[0] = 0xaa;
	p[64 * MiB - 1] = 0x55;
	assert_int_equal(*(uint8_t *)gm_ptr(&m, 64 * MiB - 1, 1), 0x55);
	assert_ptr_equal(gm_ptr(&m, LAYOUT_HIMEM, 4096), m.map + LAYOUT_HIMEM);
	assert_ptr_equal(gm_ptr(&m, 64 * MiB - 8, 8), m.map + 64 * MiB - 8);
	assert_ptr_equal(gm_ptr(&m, 64 * MiB, 0), m.map + 64 * MiB);
	assert_null(gm_ptr(&m, 64 * MiB - 7, 8));
	assert_null(gm_ptr(&m, 64 * MiB, 1));
	assert_null(gm_ptr(&m, 64 * MiB + 1, 0));
	assert_null(gm_ptr(&m, 0, 64 * MiB + 1));
	assert_null(gm_ptr(&m, UINT64_MAX - 3, 8));
	assert_null(gm_ptr(&m, 16 * MiB, UINT64_MAX));
	assert_null(gm_ptr(&m, LAYOUT_MMIO_HOLE, 4));
	assert_null(gm_ptr(&m, LAYOUT_MMIO_HOLE_END, 4));
	gmem_destroy(&m);
	assert_null(m.map);
	assert_int_equal(m.nr_regions, 0);
	gmem_destroy(&m); /* twice is safe */
}

static void test_real_split_at_hole(void **state)
{
	(void)state;
	struct gmem m;
	const uint64_t total = 3 * GiB + 64 * MiB;
	int r = gmem_init(&m, total);
	if (r == -ENOMEM)
		skip(); /* a host with a tight address-space limit */
	assert_int_equal(r, 0);
	assert_int_equal(m.nr_regions, 2);
	assert_int_equal(m.region[0].gpa, 0);
	assert_int_equal(m.region[0].size, LAYOUT_MMIO_HOLE);
	assert_int_equal(m.region[1].gpa, 4 * GiB);
	assert_int_equal(m.region[1].gpa, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(m.region[1].size, 64 * MiB);
	assert_ptr_equal(m.region[0].host, m.map);
	assert_ptr_equal(m.region[1].host, m.map + LAYOUT_MMIO_HOLE);
	assert_int_equal(m.map_size, total);

	const uint64_t hole = LAYOUT_MMIO_HOLE, hole_end = LAYOUT_MMIO_HOLE_END;
	/* Region 0 up to the hole. */
	assert_ptr_equal(gm_ptr(&m, hole - 8, 8), m.map + hole - 8);
	assert_ptr_equal(gm_ptr(&m, hole, 0), m.map + hole); /* len 0 at region 0's end */
	assert_null(gm_ptr(&m, hole - 7, 8));
	/* The hole itself. */
	assert_null(gm_ptr(&m, hole, 1));
	assert_null(gm_ptr(&m, LAYOUT_VIRTIO_BASE, 4));
	assert_null(gm_ptr(&m, LAYOUT_IOAPIC, 4));
	assert_null(gm_ptr(&m, LAYOUT_LAPIC, 4));
	assert_null(gm_ptr(&m, hole_end - 1, 1));
	assert_null(gm_ptr(&m, hole + 4096, 0));
	/* Ranges straddling either edge of the hole. */
	assert_null(gm_ptr(&m, hole - 4, 8));
	assert_null(gm_ptr(&m, hole_end - 4, 8));
	assert_null(gm_ptr(&m, hole - 4096, hole_end - hole + 8192)); /* spans the whole hole */
	assert_null(gm_ptr(&m, 0, total));			       /* as many bytes as RAM */
	/* Region 2, above 4 GiB: host address is right after region 0's in the one mapping. */
	uint8_t *p = gm_ptr(&m, hole_end, 64 * MiB);
	assert_ptr_equal(p, m.map + hole);
	p[0] = 0x42;
	assert_int_equal(*(uint8_t *)gm_ptr(&m, hole_end, 1), 0x42);
	assert_ptr_equal(gm_ptr(&m, hole_end + 4096, 16), m.map + hole + 4096);
	assert_ptr_equal(gm_ptr(&m, hole_end + 64 * MiB - 8, 8), m.map + total - 8);
	assert_ptr_equal(gm_ptr(&m, hole_end + 64 * MiB, 0), m.map + total);
	assert_null(gm_ptr(&m, hole_end + 64 * MiB - 7, 8));
	assert_null(gm_ptr(&m, hole_end + 64 * MiB, 1));
	assert_null(gm_ptr(&m, hole_end, 64 * MiB + 1));
	assert_null(gm_ptr(&m, UINT64_MAX - 3, 8));
	assert_null(gm_ptr(&m, hole_end + 8, UINT64_MAX - 8));
	assert_null(gm_ptr(&m, hole_end, UINT64_MAX));
	assert_null(gm_ptr(&m, 8 * GiB, 1));
	gmem_destroy(&m);
	assert_null(m.map);
}

static void test_real_exactly_3g(void **state)
{
	(void)state;
	struct gmem m;
	int r = gmem_init(&m, 3 * GiB);
	if (r == -ENOMEM)
		skip();
	assert_int_equal(r, 0);
	assert_int_equal(m.nr_regions, 1); /* fits below the hole exactly: no second region */
	assert_int_equal(m.region[0].size, 3 * GiB);
	assert_null(gm_ptr(&m, LAYOUT_MMIO_HOLE_END, 1));
	gmem_destroy(&m);
}

static void test_init_refuses_bad_sizes(void **state)
{
	(void)state;
	struct gmem m;
	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(gmem_init(&m, 0), -EINVAL);
	assert_null(m.map);
	assert_int_equal(m.nr_regions, 0);
	assert_int_equal(gmem_init(&m, 64 * MiB + 1), -EINVAL);
	assert_int_equal(gmem_init(&m, 64 * MiB - 4096), -EINVAL);
	assert_int_equal(gmem_init(&m, 4096), -EINVAL);
	assert_int_equal(gmem_init(&m, 1), -EINVAL);
	assert_int_equal(gmem_init(&m, (1ull << 20) + (1ull << 19)), -EINVAL);
	assert_null(m.map);
	assert_int_equal(m.nr_regions, 0);
	assert_null(gm_ptr(&m, 0, 0));
	gmem_destroy(&m); /* safe after a refused init */
	/* 1 MiB is the smallest whole size gmem_init itself takes. */
	assert_int_equal(gmem_init(&m, 1ull << 20), 0);
	assert_int_equal(m.region[0].size, 1ull << 20);
	gmem_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_bounds),
		cmocka_unit_test(test_fake_empty),
		cmocka_unit_test(test_real_64m),
		cmocka_unit_test(test_real_split_at_hole),
		cmocka_unit_test(test_real_exactly_3g),
		cmocka_unit_test(test_init_refuses_bad_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
