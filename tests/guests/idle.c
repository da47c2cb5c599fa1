/* Reports READY (unless ready=0 is on the command line), then halts for good: a VM for the control
 * socket to drive. */
#include "guest.h"

const char guest_name[] = "idle";

int guest_main(const struct hvm_start_info *si)
{
	if (cmdline_u64(si, "ready", 1))
		flint_event(FLINT_EV_READY, 0);
	/* Interrupts masked: nothing wakes the vCPU, and no exit reaches flint-vmm until it stops
	 * us. */
	for (;;)
		__asm__ volatile("cli; hlt");
}
