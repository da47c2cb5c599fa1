/* PVM hosts: /dev/kvm without VMX, where the guest kernel needs our compatibility flags. */
#ifndef FLINT_PVM_H
#define FLINT_PVM_H

#include <stdbool.h>

/* True when /dev/kvm is provided by the kvm_pvm module (see docs/hosts.md). */
bool pvm_host_detect(void);

#endif
