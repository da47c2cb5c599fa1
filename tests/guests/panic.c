/* Reports PANIC on the flint port, as the patched kernel does on panic: flint-vmm exits non-zero naming it. */
#include "guest.h"

const char guest_name[] = "panic";

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	flint_event(FLINT_EV_PANIC, 0);
	fail(1, "still running after PANIC");
}
