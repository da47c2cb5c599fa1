/* Prints one line on COM1 (polling LSR for THR empty) and exits 0: the console must carry it byte-exact. */
#include "guest.h"

const char guest_name[] = "serial";

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	serial_puts("hello from the serial port\n");
	return 0;
}
