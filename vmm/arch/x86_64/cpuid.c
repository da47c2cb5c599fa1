/* CPUID for the guest: the host's KVM-supported set, with topology set and risky features hidden. */
#include "x86.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../log.h"

#define CPUID_MAX_ENTRIES 256
#define KVM_CPUID_FEATURES 0x40000001u
/* Paravirt features that leave vCPUs stuck in a hypercall on PVM hosts (see docs/hosts.md). */
#define KVM_FEATURE_PV_UNHALT 7
#define KVM_FEATURE_PV_SEND_IPI 11
#define KVM_FEATURE_PV_SCHED_YIELD 13

static void filter(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus, bool pvm)
{
	switch (e->function) {
	case 1:
		/* Initial APIC ID, and logical processor count for HTT. */
		e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) | ((ncpus & 0xff) << 16);
		e->ecx |= 1u << 31; /* we are a hypervisor's guest */
		if (ncpus > 1)
			e->edx |= 1u << 28; /* HTT: the count field is valid */
		break;
	case 6: /* thermal and power management: nothing to manage */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0xa: /* no PMU: a guest that probes perf counters costs exits for nothing */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0xb: /* x2APIC topology: one thread per core, ncpus cores */
		e->edx = id;
		if (e->index == 0) {
			e->eax = 0;
			e->ebx = 1;
			e->ecx = 0x100; /* level 0: SMT */
		} else if (e->index == 1) {
			e->eax = 4; /* enough bits for LAYOUT_MAX_CPUS */
			e->ebx = ncpus;
			e->ecx = 0x201; /* level 1: core */
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
		break;
	case KVM_CPUID_FEATURES:
		if (pvm)
			e->eax &= ~((1u << KVM_FEATURE_PV_UNHALT) | (1u << KVM_FEATURE_PV_SEND_IPI) |
				    (1u << KVM_FEATURE_PV_SCHED_YIELD));
		break;
	}
}

struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, sz);
	if (!c) {
		log_err("out of memory");
		return NULL;
	}
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

int x86_cpuid_setup(const struct kvm_cpuid2 *host, int vcpu_fd, unsigned id, unsigned ncpus,
		    bool pvm)
{
	BUG_ON(host->nent > CPUID_MAX_ENTRIES);
	size_t sz = sizeof(struct kvm_cpuid2) + host->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, host, sz);
	for (unsigned i = 0; i < c->nent; i++)
		filter(&c->entries[i], id, ncpus, pvm);
	int r = 0;
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		r = -errno;
		log_err("KVM_SET_CPUID2: %s", strerror(errno));
	}
	free(c);
	return r;
}
