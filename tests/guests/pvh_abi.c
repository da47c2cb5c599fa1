/* Checks the PVH entry state flint-vmm promises: registers, segments, start info, memory map, command line. */
#include "guest.h"

const char guest_name[] = "pvh_abi";

struct memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
#define E820_RAM 1
#define HOLE 0xc0000000ull
#define FOUR_G 0x100000000ull

extern char stack_top[]; /* the end of our image's .bss, from entry.S */

int guest_main(const struct hvm_start_info *si)
{
	uint16_t cs, ds, es, ss;
	uint32_t cr0, eflags;
	__asm__ volatile("mov %%cs, %0; mov %%ds, %1; mov %%es, %2; mov %%ss, %3"
			 : "=r"(cs), "=r"(ds), "=r"(es), "=r"(ss));
	__asm__ volatile("mov %%cr0, %0; pushfl; popl %1" : "=r"(cr0), "=r"(eflags));

	if (cs != 0x10)
		fail(1, "CS is not 0x10");
	if (ds != 0x18 || es != 0x18 || ss != 0x18)
		fail(2, "DS/ES/SS are not 0x18");
	if (!(cr0 & 1) || (cr0 & 0x80000000u))
		fail(3, "CR0 is not protected mode with paging off");
	if (eflags & 0x200)
		fail(4, "interrupts are enabled at entry");
	if ((uint32_t)si != 0x6000)
		fail(5, "EBX is not 0x6000");
	if (si->magic != HVM_START_MAGIC)
		fail(6, "hvm_start_info magic is wrong");
	if (si->version < 1)
		fail(7, "hvm_start_info version < 1: no memory map");
	if (si->memmap_entries == 0 || si->memmap_entries > 128 || si->memmap_paddr == 0 ||
	    si->memmap_paddr >= HOLE)
		fail(8, "no usable memory map");

	/* The test passes ram_mib=<--mem> and token=flint: the command line must carry --cmdline-extra. */
	uint64_t ram_mib = cmdline_u64(si, "ram_mib", 0);
	if (ram_mib == 0 || cmdline_u64(si, "token", 0) != 4242)
		fail(9, "--cmdline-extra did not reach the command line");

	const struct memmap_entry *e = (const struct memmap_entry *)(uint32_t)si->memmap_paddr;
	uint64_t ram = 0;
	int image_covered = 0;
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		if (e[i].type != E820_RAM)
			continue;
		uint64_t end = e[i].addr + e[i].size;
		if (end < e[i].addr || (e[i].addr < FOUR_G && end > HOLE))
			fail(10, "a RAM entry overlaps the MMIO hole");
		if (e[i].addr <= 0x100000 && end >= (uint32_t)stack_top)
			image_covered = 1;
		ram += e[i].size;
	}
	if (!image_covered)
		fail(11, "no RAM entry covers the loaded image");
	/* Everything but the legacy holes below 1 MiB is RAM: within 2 MiB of --mem, never above it. */
	if (ram > (ram_mib << 20) || ram + (2ull << 20) < (ram_mib << 20))
		fail(12, "the RAM in the memory map does not add up to --mem");
	return 0;
}
