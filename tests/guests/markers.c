/* Reports the PID1 then PROGRAM boot-trace markers, then EXIT 7: --boot-trace must show both phases in order. */
#include "guest.h"

const char guest_name[] = "markers";

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	flint_event(FLINT_EV_PID1, 0);
	flint_event(FLINT_EV_PROGRAM, 0);
	return 7;
}
