/* A read-only disk: VIRTIO_BLK_F_RO is offered, reads work, and a write completes with IOERR without touching the file. */
#include "guest.h"
#include "vblk.h"

const char guest_name[] = "blk_ro";

static uint8_t buf[512] __attribute__((aligned(16)));

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	uint64_t offered;

	vblk_probe();
	vblk_init(BLK_F_RO | BLK_F_FLUSH, &offered);
	if (!(offered & BLK_F_RO))
		fail(40, "a ,ro disk does not offer VIRTIO_BLK_F_RO");
	if (vblk_request(BLK_T_IN, 0, buf, 512, 0) != BLK_S_OK)
		fail(41, "read of sector 0 failed");
	if (memcmp(buf, "FLINTBLK", 8) != 0)
		fail(42, "sector 0 does not start with FLINTBLK");
	/* Overwrite what we just read with junk and try to write it to sector 0 and 1. */
	memset(buf, 0xa5, sizeof buf);
	for (uint64_t s = 0; s < 2; s++) {
		int st = vblk_request(BLK_T_OUT, s, buf, 512, 0);
		if (st != BLK_S_IOERR) {
			serial_puts("status ");
			serial_puthex((uint32_t)st);
			serial_putc('\n');
			fail(43, "a write to a read-only disk did not complete with IOERR");
		}
	}
	if (vm_read(VM_STATUS) & (ST_NEEDS_RESET | ST_FAILED))
		fail(44, "a refused write put the device in NEEDS_RESET");
	if (vblk_request(BLK_T_IN, 0, buf, 512, 0) != BLK_S_OK || memcmp(buf, "FLINTBLK", 8) != 0)
		fail(45, "sector 0 changed or became unreadable after the refused write");
	serial_puts("blk_ro: ok\n");
	return 0;
}
