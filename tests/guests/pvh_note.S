/* The PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY): tells flint-vmm the 32-bit physical entry point `entry`. */
	.pushsection .note.Xen, "a", @note
	.p2align 2
	.long 4		/* namesz: "Xen\0", already 4-aligned, so desc follows directly */
	.long 4		/* descsz: a 32-bit physical address */
	.long 18	/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long entry
	.popsection
	.section .note.GNU-stack, "", @progbits
