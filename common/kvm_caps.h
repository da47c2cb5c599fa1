/* What flint-vmm needs from /dev/kvm: one list, read by flint-vmm (vmm/vm.c) and flint doctor. */
#ifndef FLINT_KVM_CAPS_H
#define FLINT_KVM_CAPS_H

#include <linux/kvm.h>

/* KVM_GET_API_VERSION has answered 12 since Linux 2.6.22; anything else is not Linux's KVM. */
#define KVM_CAPS_API_VERSION 12

struct kvm_cap_need {
	int cap;	  /* KVM_CAP_*, asked with KVM_CHECK_EXTENSION on the /dev/kvm fd */
	const char *name; /* for people: "KVM on this host lacks <name>" */
};

/* Each must answer > 0; the optional ones (TSS and identity-map addresses) are not here. */
static const struct kvm_cap_need kvm_caps_needed[] = {
	{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },     { KVM_CAP_IRQFD, "irqfd" },
	{ KVM_CAP_IOEVENTFD, "ioeventfd" },	      { KVM_CAP_USER_MEMORY, "user memory" },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" }, { KVM_CAP_PIT2, "PIT" },
};
#define KVM_CAPS_NEEDED_N (sizeof(kvm_caps_needed) / sizeof(kvm_caps_needed[0]))

#endif
