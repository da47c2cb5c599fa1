/* PVH boot: start info, memory map, command line, GDT, and the boot vCPU's registers. */
#include "x86.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../layout.h"
#include "../../log.h"

#define LAYOUT_GDT 0x500ull

/* From the PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
#define E820_RAM 1
#define E820_RESERVED 2

/* GDT entries: flat 32-bit code at 0x10, flat data at 0x18, a TSS placeholder at 0x20. */
#define GDT_ENTRY(flags, base, limit)                                                       \
	((((uint64_t)(base) & 0xff000000ull) << 32) | (((uint64_t)(flags) & 0xf0ffull) << 40) | \
	 (((uint64_t)(limit) & 0x000f0000ull) << 32) | (((uint64_t)(base) & 0x00ffffffull) << 16) | \
	 ((uint64_t)(limit) & 0x0000ffffull))
static const uint64_t gdt[] = {
	0,
	0,
	GDT_ENTRY(0xc09b, 0, 0xfffff), /* code: present, exec/read, accessed, 4 KiB, 32-bit */
	GDT_ENTRY(0xc093, 0, 0xfffff), /* data: present, read/write, accessed */
	GDT_ENTRY(0x008b, 0, 0x67),    /* busy 32-bit TSS, never used by PVH kernels */
};

static unsigned memmap_fill(const struct gmem *m, struct hvm_memmap_entry *e)
{
	unsigned n = 0;
	e[n++] = (struct hvm_memmap_entry){ 0, LAYOUT_EBDA, E820_RAM, 0 };
	e[n++] = (struct hvm_memmap_entry){ LAYOUT_EBDA, LAYOUT_LOWMEM_END - LAYOUT_EBDA,
					    E820_RESERVED, 0 };
	for (unsigned i = 0; i < m->nr_regions; i++) {
		uint64_t start = m->region[i].gpa, end = start + m->region[i].size;
		if (start < LAYOUT_HIMEM)
			start = LAYOUT_HIMEM;
		if (end > start)
			e[n++] = (struct hvm_memmap_entry){ start, end - start, E820_RAM, 0 };
	}
	return n;
}

int x86_boot_setup(struct gmem *m, const char *cmdline, unsigned ncpus)
{
	size_t clen = strlen(cmdline) + 1;
	if (clen > LAYOUT_CMDLINE_MAX) {
		log_err("kernel command line is %zu bytes; the limit is %u", clen - 1,
			LAYOUT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	void *g = gm_ptr(m, LAYOUT_GDT, sizeof(gdt));
	struct hvm_start_info *si = gm_ptr(m, LAYOUT_START_INFO, sizeof(*si));
	struct hvm_memmap_entry *mm =
		gm_ptr(m, LAYOUT_MEMMAP, LAYOUT_MEMMAP_MAX * sizeof(struct hvm_memmap_entry));
	char *cl = gm_ptr(m, LAYOUT_CMDLINE, clen);
	BUG_ON(!g || !si || !mm || !cl); /* guest RAM is at least LAYOUT_MEM_MIN_MIB */

	memcpy(g, gdt, sizeof(gdt));
	memcpy(cl, cmdline, clen);
	unsigned n = memmap_fill(m, mm);
	*si = (struct hvm_start_info){
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.memmap_paddr = LAYOUT_MEMMAP,
		.memmap_entries = n,
	};
	int r = x86_mptable_write(m, LAYOUT_EBDA, LAYOUT_LOWMEM_END - LAYOUT_EBDA, ncpus);
	return r < 0 ? r : 0;
}

static struct kvm_segment seg_from_gdt(unsigned index)
{
	uint64_t d = gdt[index];
	return (struct kvm_segment){
		.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
		.limit = 0xffffffff, /* 0xfffff with 4 KiB granularity */
		.selector = (uint16_t)(index * 8),
		.type = (uint8_t)((d >> 40) & 0xf),
		.present = 1,
		.dpl = 0,
		.db = (uint8_t)((d >> 54) & 1),
		.s = (uint8_t)((d >> 44) & 1),
		.l = 0,
		.g = (uint8_t)((d >> 55) & 1),
	};
}

static int set_boot_regs(int fd, uint64_t entry)
{
	struct kvm_sregs sregs;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = seg_from_gdt(2);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg_from_gdt(3);
	sregs.tr = seg_from_gdt(4);
	sregs.tr.limit = 0x67;
	sregs.tr.g = 0;
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x11; /* PE | ET: protected mode, paging off, as PVH requires */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	struct kvm_regs regs = {
		.rip = entry,
		.rbx = LAYOUT_START_INFO,
		.rflags = 0x2, /* reserved bit 1; interrupts off */
	};
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static int set_fpu_msrs(int fd)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;

	/* Fast strings on, and MTRRs enabled with write-back default so RAM is cacheable. */
	/* kvm_msrs ends in a flexible array: give it room in an aligned buffer. */
	union {
		struct kvm_msrs hdr;
		uint8_t room[sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry)];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 2;
	msrs.hdr.entries[0] = (struct kvm_msr_entry){ .index = 0x1a0, .data = 1 };
	msrs.hdr.entries[1] = (struct kvm_msr_entry){ .index = 0x2ff, .data = 0x806 };
	int n = ioctl(fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return -errno;
	/* A host that refuses an MSR is not fatal: the kernel copes, just more slowly. */
	if (n != 2)
		log_info("host accepted %d of 2 boot MSRs", n);
	return 0;
}

/* LINT0 delivers the PIC's ExtINT, LINT1 NMI: the wiring the MP table describes. */
static int set_lint(int fd)
{
	struct kvm_lapic_state lapic;
	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	uint32_t lint0, lint1;
	memcpy(&lint0, lapic.regs + 0x350, 4);
	memcpy(&lint1, lapic.regs + 0x360, 4);
	lint0 = (lint0 & ~0x700u) | 0x700u; /* ExtINT */
	lint1 = (lint1 & ~0x700u) | 0x400u; /* NMI */
	memcpy(lapic.regs + 0x350, &lint0, 4);
	memcpy(lapic.regs + 0x360, &lint1, 4);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}

int x86_vcpu_setup(int fd, bool bsp, uint64_t entry)
{
	int r = set_fpu_msrs(fd);
	if (r == 0)
		r = set_lint(fd);
	if (r == 0 && bsp)
		r = set_boot_regs(fd, entry);
	if (r < 0)
		log_err("setting up the vCPU state: %s", strerror(-r));
	return r;
}
