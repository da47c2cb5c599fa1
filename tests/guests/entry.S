/* Entry for the C guests: PVH gives no stack, so set one up, call guest_main(start_info), exit with its result. */
	.code32
	.section .text.entry, "ax"
	.globl entry
entry:
	cld
	movl $stack_top, %esp
	pushl %ebx		/* EBX = guest-physical struct hvm_start_info */
	call guest_main
	pushl %eax
	call flint_exit		/* noreturn */

	.section .bss
	.p2align 4
	.space 8192
	.globl stack_top
stack_top:
	.section .note.GNU-stack, "", @progbits
