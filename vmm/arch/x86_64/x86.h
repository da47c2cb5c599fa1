/* x86_64 boot setup: PVH start info, memory map, MP table, CPUID and the initial vCPU state. */
#ifndef FLINT_X86_H
#define FLINT_X86_H

#include <stdbool.h>
#include <stdint.h>

#include "../../mem.h"

/*
 * Write the boot structures into guest RAM: GDT, hvm_start_info, the e820-style
 * memory map, the command line (NUL-terminated, < LAYOUT_CMDLINE_MAX) and an MP
 * table describing ncpus CPUs and the IOAPIC. 0 or -errno with a message.
 */
int x86_boot_setup(struct gmem *m, const char *cmdline, unsigned ncpus);

/* The MP table alone (exposed for unit tests). Returns bytes written or -errno. */
int x86_mptable_write(struct gmem *m, uint64_t gpa, uint64_t room, unsigned ncpus);

struct kvm_cpuid2;

/* The host's KVM-supported CPUID, fetched once per VM (a slow ioctl on nested hosts). Free with free(). */
struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd);

/*
 * Filter the host's supported CPUID for vCPU `id` of `ncpus` and set it on vcpu_fd.
 * pvm: hide the paravirt features that hang vCPUs on PVM hosts.
 */
int x86_cpuid_setup(const struct kvm_cpuid2 *host, int vcpu_fd, unsigned id, unsigned ncpus,
		    bool pvm);

/*
 * Initial state: every vCPU gets MSRs, FPU and LAPIC LINT wiring; the boot vCPU
 * also gets PVH's 32-bit protected-mode registers with EBX at the start info.
 */
int x86_vcpu_setup(int vcpu_fd, bool bsp, uint64_t entry);

#endif
