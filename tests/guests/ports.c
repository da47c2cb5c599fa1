/* Unknown I/O ports must read as all-ones at every width and swallow writes; COM1's LSR must report THR empty. */
#include "guest.h"

const char guest_name[] = "ports";

#define UNKNOWN 0x1234

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	outb(UNKNOWN, 0x5a);
	outw(UNKNOWN, 0x5a5a);
	outl(UNKNOWN, 0x5a5a5a5a);
	if (inb(UNKNOWN) != 0xff)
		fail(1, "8-bit read of an unknown port is not 0xff");
	if (inw(UNKNOWN) != 0xffff)
		fail(2, "16-bit read of an unknown port is not 0xffff");
	if (inl(UNKNOWN) != 0xffffffffu)
		fail(3, "32-bit read of an unknown port is not 0xffffffff");
	if ((inb(0x3f8 + 5) & 0x60) != 0x60)
		fail(4, "COM1 LSR does not report THRE|TEMT");
	return 0;
}
