/* Reports POWEROFF on the flint port, as the patched kernel does on power-off: flint-vmm exits 0. */
#include "guest.h"

const char guest_name[] = "poweroff";

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	flint_event(FLINT_EV_POWEROFF, 0);
	fail(1, "still running after POWEROFF");
}
