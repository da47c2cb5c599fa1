/* Host-kind detection: the probe reads the host, the decision and the words are pure. */
#include "hostkind.h"

#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TCG_SIGNATURE "TCGTCGTCGTCG"

void hostkind_probe(struct hostkind_facts *f)
{
	memset(f, 0, sizeof(*f));
	/* stat, never open: an open with O_CREAT would make a file where there is no device. */
	struct stat st;
	f->kvm_chardev = stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode);
	/* The same test as flint-vmm's pvm_host_detect (vmm/pvm.c). */
	f->pvm_module = access("/sys/module/kvm_pvm", F_OK) == 0;
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	f->hv_bit = (c >> 31) & 1;
	if (!f->hv_bit)
		return; /* without the bit, leaf 0x40000000 is some other leaf's data */
	__cpuid(0x40000000, a, b, c, d);
	memcpy(f->hv_sig, &b, 4);
	memcpy(f->hv_sig + 4, &c, 4);
	memcpy(f->hv_sig + 8, &d, 4);
}

enum hostkind hostkind_decide(const struct hostkind_facts *f)
{
	if (!f->kvm_chardev)
		return HOSTKIND_NONE;
	/* PVM hosts are usually cloud VMs themselves: the module says more than the signature. */
	if (f->pvm_module)
		return HOSTKIND_PVM;
	if (!f->hv_bit)
		return HOSTKIND_HARDWARE;
	if (memcmp(f->hv_sig, TCG_SIGNATURE, sizeof(f->hv_sig)) == 0)
		return HOSTKIND_NESTED_TCG;
	return HOSTKIND_NESTED;
}

const char *hostkind_name(enum hostkind k)
{
	switch (k) {
	case HOSTKIND_NONE:
		return "none";
	case HOSTKIND_HARDWARE:
		return "hardware";
	case HOSTKIND_PVM:
		return "pvm";
	case HOSTKIND_NESTED_TCG:
		return "nested-tcg";
	case HOSTKIND_NESTED:
		return "nested";
	}
	return "none";
}

const char *hostkind_describe(enum hostkind k, const struct hostkind_facts *f, char *buf,
			      size_t n)
{
	if (n == 0)
		return buf;
	switch (k) {
	case HOSTKIND_HARDWARE:
		snprintf(buf, n, "hardware KVM");
		break;
	case HOSTKIND_PVM:
		snprintf(buf, n, "PVM (guest kernel emulated)");
		break;
	case HOSTKIND_NESTED_TCG:
		snprintf(buf, n, "nested KVM under TCG (emulated: ratios only)");
		break;
	case HOSTKIND_NESTED: {
		/* NUL-padded ("KVMKVMKVM\0\0\0"), and a hostile one must not print raw. */
		char sig[sizeof(f->hv_sig) + 1];
		size_t len = 0;
		for (size_t i = 0; i < sizeof(f->hv_sig); i++)
			if (f->hv_sig[i]) {
				char c = f->hv_sig[i];
				sig[len++] = c >= 0x20 && c < 0x7f ? c : '?';
			}
		sig[len] = '\0';
		snprintf(buf, n, "nested KVM under %s (hardware-assisted)",
			 len ? sig : "an unnamed hypervisor");
		break;
	}
	case HOSTKIND_NONE:
	default:
		snprintf(buf, n, "no KVM");
		break;
	}
	return buf;
}
