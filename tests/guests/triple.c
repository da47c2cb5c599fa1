/* Forces a triple fault: with an empty IDT, ud2's #UD escalates to #GP, #DF, then shutdown. */
#include "guest.h"

const char guest_name[] = "triple";

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint32_t base;
	} empty_idt = {0, 0};
	__asm__ volatile("lidt %0; ud2" ::"m"(empty_idt));
	fail(1, "survived ud2 with an empty IDT");
}
