/* flint-vmm's own confinement: no new privileges and a seccomp allowlist before the first KVM_RUN. */
#ifndef FLINT_SANDBOX_H
#define FLINT_SANDBOX_H

/* Calls only some VMs need, allowed on request. */
#define SANDBOX_VSOCK 1u	/* the vsock bridge: Unix sockets, their epoll set and timer */
#define SANDBOX_NET_USER 4u	/* --net user: libslirp's Internet sockets, its epoll set and timer */
#define SANDBOX_NET_TAP 8u	/* --net tap: writev and offload changes on the tap */
#define SANDBOX_CONTROL 2u /* the control socket: accepting clients, removing the socket */

/*
 * Allow only the system calls a running VM needs (each listed in sandbox.c with its reason),
 * plus the groups in extras (SANDBOX_*); any other kills the process with SIGSYS. Call after
 * setup, before starting vCPUs: opening files, exec and the rest of setup are denied from then
 * on. 0 or -errno.
 */
int sandbox_enter(unsigned extras);

#endif
