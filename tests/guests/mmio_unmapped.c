/* MMIO with no device behind it (in the hole) must read as all-ones and ignore writes, and the VM must go on. */
#include "guest.h"

const char guest_name[] = "mmio_unmapped";

/* Past the 16 virtio-mmio windows, and the start of the hole: nothing is mapped at either. */
#define HOLE_A 0xd00f0000u
#define HOLE_B 0xc0000000u

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	if (mmio_read32(HOLE_A) != 0xffffffffu)
		fail(1, "32-bit read of unmapped MMIO is not 0xffffffff");
	if (mmio_read8(HOLE_A + 3) != 0xff)
		fail(2, "8-bit read of unmapped MMIO is not 0xff");
	mmio_write32(HOLE_A, 0x12345678u);
	mmio_write8(HOLE_B, 0x5a);
	if (mmio_read32(HOLE_A) != 0xffffffffu)
		fail(3, "unmapped MMIO kept a write");
	if (mmio_read32(HOLE_B) != 0xffffffffu)
		fail(4, "32-bit read at the start of the MMIO hole is not 0xffffffff");
	return 0;
}
