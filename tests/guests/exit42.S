/* The minimal guest: its first instructions report EXIT 42, so flint-vmm exits 42 at once (also the benchmark guest). */
#include "flint_port.h"
	.code32
	.section .text.entry, "ax"
	.globl entry
entry:
	movw $FLINT_PORT, %dx
	movl $((FLINT_EV_EXIT << 16) | 42), %eax
	outl %eax, %dx
1:	cli			/* only reached if the VMM ignored the exit: park, the test's timeout reports it */
	hlt
	jmp 1b
	.section .note.GNU-stack, "", @progbits
