/* Launching one flint-vmm with its agent reachable over vsock, and noticing readiness or death. */
#ifndef FLINT_LAUNCH_H
#define FLINT_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct launch_opts {
	const char *vmm;    /* flint-vmm binary */
	const char *kernel; /* guest vmlinux */
	const char *image;  /* root image (flint's boot disk), attached read-only */
	const char *rootfs; /* an OCI image's root filesystem (docs/images.md); NULL: none */
	unsigned mem_mib, cpus;
	bool verbose; /* pass -v and the kernel console to stderr */
	const char *net; /* flint-vmm's --net value (user[,...] or tap:IF[,...]); NULL: no network */
};

struct launch {
	pid_t pid;
	int pidfd;    /* readable when flint-vmm has exited */
	int ready_fd; /* listens on <vsock>_1025: the agent connects here when ready */
	char dir[96]; /* private runtime directory holding the sockets */
	char vsock[128];
	char ready_path[140];
	int status; /* flint-vmm's wait status once reaped, else -1 */
};

/* Locate flint-vmm, the kernel and the base image next to the running binary (or $FLINT_*). */
void launch_default_paths(struct launch_opts *o, const char *argv0);

/*
 * Make a private directory, listen for the agent's ready connection, and start flint-vmm
 * (stdin and stdout /dev/null, stderr inherited). 0 or -errno with a message printed.
 */
int launch_start(struct launch *l, const struct launch_opts *o);

/*
 * Wait until the agent connects (returns the connected fd: it is an agent connection that
 * has sent HELLO), flint-vmm exits (-ECHILD, message printed), or timeout_ms passes (-ETIMEDOUT).
 */
int launch_wait_ready(struct launch *l, int timeout_ms);

/* Stop flint-vmm (SIGTERM, then SIGKILL after grace_ms), reap it, and remove the directory. */
void launch_stop(struct launch *l, int grace_ms);

#endif
