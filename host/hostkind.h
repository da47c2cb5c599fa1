/* What backs /dev/kvm here: hardware, PVM, nested KVM (under TCG or hardware), or nothing. */
#ifndef FLINT_HOSTKIND_H
#define FLINT_HOSTKIND_H

#include <stdbool.h>
#include <stddef.h>

enum hostkind {
	HOSTKIND_NONE,	     /* no /dev/kvm character device */
	HOSTKIND_HARDWARE,   /* KVM on VMX/SVM, no hypervisor below us */
	HOSTKIND_PVM,	     /* kvm_pvm: the guest kernel runs emulated, boots take 30-60 s */
	HOSTKIND_NESTED_TCG, /* KVM inside QEMU's TCG: everything emulated, timings are ratios */
	HOSTKIND_NESTED,     /* KVM inside a hardware-assisted hypervisor */
};

/* The inputs of the decision, gathered by hostkind_probe or made up by tests. */
struct hostkind_facts {
	bool kvm_chardev; /* /dev/kvm is a character device (a regular file is not a KVM) */
	bool pvm_module;  /* /sys/module/kvm_pvm exists */
	bool hv_bit;	  /* CPUID.1:ECX bit 31: a hypervisor runs below this kernel */
	char hv_sig[12];  /* CPUID 0x40000000 EBX, ECX, EDX; read only when hv_bit is set */
};

/* Longest hostkind_describe text, with its NUL. */
#define HOSTKIND_DESC_MAX 80

/* Fill f from this host, creating and opening nothing (stat, access, CPUID). */
void hostkind_probe(struct hostkind_facts *f);

/* The kind, a pure function of f: no device first, then PVM, then the hypervisor signature. */
enum hostkind hostkind_decide(const struct hostkind_facts *f);

/* "none", "hardware", "pvm", "nested-tcg" or "nested": stable, scripts match on it. */
const char *hostkind_name(enum hostkind k);

/*
 * One line for people, into buf (at least HOSTKIND_DESC_MAX bytes is never cut), e.g. "nested KVM
 * under KVMKVMKVM (hardware-assisted)"; the signature is printed with its NULs dropped and
 * unprintable bytes as '?'. Returns buf.
 */
const char *hostkind_describe(enum hostkind k, const struct hostkind_facts *f, char *buf,
			      size_t n);

#endif
