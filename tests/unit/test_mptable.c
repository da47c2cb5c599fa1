/* Unit tests for the MP table (vmm/arch/x86_64/mptable.c), parsed byte by byte as a kernel would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/x86.h"
#include "layout.h"
#include "mem.h"

#define RAM (1u << 20)
#define ROOM 0x400u
#define GUARD 0xee
#define MPF_SIZE 16u
#define HDR_SIZE 44u

static uint8_t *ram;
static struct gmem gm;

static int setup(void **state)
{
	(void)state;
	ram = malloc(RAM);
	if (!ram)
		return -1;
	memset(ram, GUARD, RAM);
	gmem_init_fake(&gm, ram, RAM);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static size_t expected_size(unsigned n)
{
	return MPF_SIZE + HDR_SIZE + 20u * n + 8 /* bus */ + 8 /* ioapic */ + 24 * 8 + 2 * 8;
}

/* Write the table for n CPUs at the EBDA and check everything a kernel reads. */
static void check_table(unsigned n)
{
	const uint64_t gpa = LAYOUT_EBDA;
	int r = x86_mptable_write(&gm, gpa, ROOM, n);
	assert_int_equal(r, expected_size(n));
	assert_true((size_t)r <= ROOM);
	/* Nothing outside [gpa, gpa + r) was touched. */
	for (size_t i = gpa - 64; i < gpa; i++)
		assert_int_equal(ram[i], GUARD);
	for (size_t i = gpa + (size_t)r; i < gpa + ROOM; i++)
		assert_int_equal(ram[i], GUARD);

	/* The floating pointer: 16 bytes, paragraph-aligned, summing to zero. */
	const uint8_t *mpf = ram + gpa;
	assert_int_equal(gpa % 16, 0);
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(rd32(mpf + 4), gpa + MPF_SIZE); /* physptr right after it */
	assert_int_equal(mpf[8], 1);			  /* length in paragraphs */
	assert_int_equal(mpf[9], 4);			  /* spec 1.4 */
	assert_int_equal(sum(mpf, MPF_SIZE), 0);
	for (unsigned i = 11; i < 16; i++)
		assert_int_equal(mpf[i], 0); /* feature bytes: 0 = a config table is present */

	/* The configuration table header. */
	const uint8_t *hdr = ram + rd32(mpf + 4);
	assert_memory_equal(hdr, "PCMP", 4);
	uint16_t len = rd16(hdr + 4);
	assert_int_equal(len, (size_t)r - MPF_SIZE);
	assert_int_equal(hdr[6], 4);
	assert_int_equal(sum(hdr, len), 0);
	assert_memory_equal(hdr + 8, "FLINT   ", 8);
	assert_memory_equal(hdr + 16, "MICROVM     ", 12);
	assert_int_equal(rd32(hdr + 28), 0); /* no OEM table */
	assert_int_equal(rd16(hdr + 32), 0);
	uint16_t count = rd16(hdr + 34);
	assert_int_equal(count, n + 1 + 1 + 24 + 2);
	assert_int_equal(rd32(hdr + 36), LAYOUT_LAPIC);

	/* Walk the entries by type, as Linux's smp_read_mpc does. */
	const uint8_t *p = hdr + HDR_SIZE, *end = hdr + len;
	unsigned cpus = 0, bsps = 0, buses = 0, ioapics = 0, intsrc = 0, lint = 0, entries = 0;
	unsigned ioapic_id = 0xffff;
	uint32_t apic_seen = 0, pins_seen = 0;
	while (p < end) {
		entries++;
		switch (p[0]) {
		case 0: /* processor */
			assert_true(p + 20 <= end);
			assert_int_equal(p[1], cpus); /* APIC ids 0..n-1 in order */
			assert_true(p[1] < n);
			apic_seen |= 1u << p[1];
			assert_int_equal(p[2], 0x14);
			assert_true(p[3] & 1); /* enabled */
			if (p[3] & 2) {
				bsps++;
				assert_int_equal(p[1], 0); /* the BSP is APIC 0, the vCPU that boots */
			}
			assert_int_equal(rd32(p + 8) & ((1u << 0) | (1u << 9)), (1u << 0) | (1u << 9));
			cpus++;
			p += 20;
			break;
		case 1: /* bus */
			assert_memory_equal(p + 2, "ISA   ", 6);
			assert_int_equal(p[1], 0);
			buses++;
			p += 8;
			break;
		case 2: /* IOAPIC */
			ioapic_id = p[1];
			assert_int_equal(p[2], 0x11);
			assert_int_equal(p[3] & 1, 1); /* usable */
			assert_int_equal(rd32(p + 4), LAYOUT_IOAPIC);
			assert_int_equal(rd32(p + 4), 0xfec00000u);
			ioapics++;
			p += 8;
			break;
		case 3: /* I/O interrupt */
			assert_int_equal(p[1], 0); /* INT */
			assert_int_equal(p[4], 0); /* from the ISA bus */
			assert_int_equal(p[6], n); /* to the IOAPIC */
			assert_int_equal(p[5], p[7]); /* IRQ i on pin i */
			assert_true(p[7] < 24);
			pins_seen |= 1u << p[7];
			intsrc++;
			p += 8;
			break;
		case 4: /* local interrupt */
			assert_int_equal(p[6], 0xff); /* every LAPIC */
			if (lint == 0) {
				assert_int_equal(p[1], 3); /* ExtINT */
				assert_int_equal(p[7], 0); /* LINT0 */
			} else {
				assert_int_equal(p[1], 1); /* NMI */
				assert_int_equal(p[7], 1); /* LINT1 */
			}
			lint++;
			p += 8;
			break;
		default:
			fail_msg("unknown MP entry type %u at offset %td", p[0], p - hdr);
		}
	}
	assert_ptr_equal(p, end); /* the entries fill the table exactly */
	assert_int_equal(entries, count);
	assert_int_equal(cpus, n);
	assert_int_equal(bsps, 1);
	assert_int_equal(apic_seen, (1u << n) - 1);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ioapic_id, n); /* after the CPUs' APIC ids */
	assert_int_equal(intsrc, 24);
	assert_int_equal(pins_seen, (1u << 24) - 1);
	assert_int_equal(lint, 2);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_table(1);
}

static void test_two_cpus(void **state)
{
	(void)state;
	check_table(2);
}

static void test_eight_cpus(void **state)
{
	(void)state;
	check_table(8);
}

static void test_rewrite_is_clean(void **state)
{
	(void)state;
	/* A table for 8 then for 1: the stale CPU entries must not survive inside the new length. */
	check_table(8);
	memset(ram + LAYOUT_EBDA + expected_size(1), GUARD, ROOM - expected_size(1));
	check_table(1);
}

static void assert_untouched(void)
{
	for (size_t i = LAYOUT_EBDA - 64; i < LAYOUT_EBDA + ROOM; i++)
		if (ram[i] != GUARD)
			fail_msg("byte 0x%zx written by a refused call", i);
}

static void test_bad_cpu_counts(void **state)
{
	(void)state;
	assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, ROOM, 9) < 0);
	assert_int_equal(x86_mptable_write(&gm, LAYOUT_EBDA, ROOM, 9), -E2BIG);
	assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, ROOM, 0) < 0);
	assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, ROOM, 255) < 0);
	assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, ROOM, UINT32_MAX) < 0);
	assert_untouched();
}

static void test_too_little_room(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 8; n++) {
		size_t need = expected_size(n);
		assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, need - 1, n) < 0);
		assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, 16, n) < 0);
		assert_true(x86_mptable_write(&gm, LAYOUT_EBDA, 0, n) < 0);
		assert_untouched();
	}
	assert_int_equal(x86_mptable_write(&gm, LAYOUT_EBDA, expected_size(8), 8), expected_size(8));
}

static void test_outside_ram(void **state)
{
	(void)state;
	/* Room claimed, but the table would run past guest RAM. */
	assert_true(x86_mptable_write(&gm, RAM - 100, ROOM, 1) < 0);
	assert_true(x86_mptable_write(&gm, RAM, ROOM, 1) < 0);
	assert_true(x86_mptable_write(&gm, UINT64_MAX - 8, ROOM, 1) < 0);
	assert_int_equal(ram[RAM - 1], GUARD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eight_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_is_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cpu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_little_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_ram, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
