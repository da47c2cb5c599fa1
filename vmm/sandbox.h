/* flint-vmm's own confinement: no new privileges and a seccomp allowlist before the first KVM_RUN. */
#ifndef FLINT_SANDBOX_H
#define FLINT_SANDBOX_H

/*
 * Allow only the system calls a running VM needs (each listed in sandbox.c with its reason);
 * any other kills the process with SIGSYS. Call after setup, before starting vCPUs: opening
 * files, sockets, exec and the rest of setup are denied from then on. 0 or -errno.
 */
int sandbox_enter(void);

#endif
