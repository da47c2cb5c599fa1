/* virtio-blk with other descriptor layouts (VERSION_1 implies any layout), several requests per kick, and ring wrap. */
#include "guest.h"
#include "vblk.h"

const char guest_name[] = "blk_layout";

struct hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

/* Per request slot: a header, and data with its status byte right after it (one writable buffer). */
static struct hdr hdrs[4] __attribute__((aligned(16)));
static uint8_t bufs[4][513] __attribute__((aligned(16)));
/* The write: header and data in one readable buffer. */
static struct {
	struct hdr h;
	uint8_t data[512];
} wreq __attribute__((aligned(16)));
static uint8_t wstatus;

static uint16_t next_idx; /* our avail idx; the used idx we wait for follows it */

static void desc(unsigned i, const void *addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq_desc[i] = (struct vring_desc){(uint32_t)addr, len, flags, next};
}

static void offer(uint16_t head)
{
	vq_avail.ring[next_idx % VQ_SIZE] = head;
	barrier();
	next_idx++;
	vq_avail.idx = next_idx; /* each request published on its own; one kick covers them all */
}

static void wait_used(unsigned code)
{
	vblk_kick();
	if (!vblk_wait_used(next_idx))
		fail(code, "requests did not all complete");
}

static void set_hdr(unsigned i, uint32_t type, uint64_t sector)
{
	hdrs[i] = (struct hdr){type, 0, sector};
	bufs[i][512] = BLK_S_NONE;
}

/* Sector 0 starts FLINTBLK; the test fills every other sector with 0xc7. */
static int sector_ok(const uint8_t *b, uint64_t sector)
{
	if (sector == 0)
		return memcmp(b, "FLINTBLK", 8) == 0;
	return b[0] == 0xc7 && b[511] == 0xc7;
}

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	vblk_probe();
	vblk_init(0, 0);

	/* Round 1: four reads, two descriptors each ([header][data+status]), one kick. */
	for (unsigned r = 0; r < 4; r++) {
		set_hdr(r, BLK_T_IN, r);
		desc(2 * r, &hdrs[r], 16, VRING_DESC_F_NEXT, (uint16_t)(2 * r + 1));
		desc(2 * r + 1, bufs[r], 513, VRING_DESC_F_WRITE, 0);
		offer((uint16_t)(2 * r));
	}
	wait_used(20);
	for (unsigned r = 0; r < 4; r++) {
		if (bufs[r][512] != BLK_S_OK)
			fail(21, "a [header][data+status] read did not complete OK");
		if (!sector_ok(bufs[r], r))
			fail(22, "a [header][data+status] read returned the wrong data");
	}
	/* Completions may come in any order, but each head exactly once. */
	unsigned seen = 0;
	for (unsigned k = 0; k < 4; k++)
		seen |= 1u << vq_used.ring[k].id;
	if (seen != 0x55)
		fail(23, "used ring does not hold heads 0, 2, 4, 6 once each");

	/* Round 2: two reads with the header split in two and the data in two pieces. */
	for (unsigned r = 0; r < 2; r++) {
		set_hdr(r, BLK_T_IN, 4 + r);
		unsigned d = 4 * r;
		desc(d, &hdrs[r], 8, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		desc(d + 1, (uint8_t *)&hdrs[r] + 8, 8, VRING_DESC_F_NEXT, (uint16_t)(d + 2));
		desc(d + 2, bufs[r], 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(d + 3));
		desc(d + 3, bufs[r] + 100, 413, VRING_DESC_F_WRITE, 0);
		offer((uint16_t)d);
	}
	wait_used(24);
	for (unsigned r = 0; r < 2; r++)
		if (bufs[r][512] != BLK_S_OK || !sector_ok(bufs[r], 4 + r))
			fail(25, "a read with split header and data failed");

	/* Round 3: a write as [header+data][status] to sector 2, then read it back as [header][data+status]. */
	wreq.h = (struct hdr){BLK_T_OUT, 0, 2};
	memcpy(wreq.data, "layout test, sector 2", 21);
	memset(wreq.data + 21, 0x3c, 512 - 21);
	wstatus = BLK_S_NONE;
	desc(0, &wreq, sizeof wreq, VRING_DESC_F_NEXT, 1);
	desc(1, &wstatus, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	wait_used(26);
	if (wstatus != BLK_S_OK)
		fail(27, "a [header+data][status] write did not complete OK");
	set_hdr(0, BLK_T_IN, 2);
	desc(0, &hdrs[0], 16, VRING_DESC_F_NEXT, 1);
	desc(1, bufs[0], 513, VRING_DESC_F_WRITE, 0);
	offer(0); /* avail idx 8: the ring wraps to slot 0 */
	wait_used(28);
	if (bufs[0][512] != BLK_S_OK || memcmp(bufs[0], wreq.data, 512) != 0)
		fail(29, "sector 2 did not read back what was written");

	/* One more after the wrap, to be sure slot 1 of the second lap works too. */
	set_hdr(1, BLK_T_IN, 0);
	desc(2, &hdrs[1], 16, VRING_DESC_F_NEXT, 3);
	desc(3, bufs[1], 513, VRING_DESC_F_WRITE, 0);
	offer(2);
	wait_used(30);
	if (bufs[1][512] != BLK_S_OK || !sector_ok(bufs[1], 0))
		fail(31, "a read after the ring wrapped failed");
	serial_puts("blk_layout: ok\n");
	return 0;
}
