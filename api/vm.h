/*
 * One flint-vmm process as flintd sees it: spawned (or adopted after a flintd restart) into its
 * own directory under the state dir, supervised through a pidfd, reached through its control
 * socket (lifecycle) and its vsock socket (the agent). Every VM has one owner (a sandbox, the
 * warm pool, or a one-shot request) and is stopped by that owner with vm_destroy().
 */
#ifndef FLINTD_VM_H
#define FLINTD_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/agent/client.h"
#include "netspec.h"

#define VM_PATH_MAX 108 /* sun_path */
#define VM_REASON_MAX 256
#define VM_IDLE_CONNS 4

/* What a VM is booted with; two VMs with equal specs are interchangeable (the warm pool). */
struct vm_spec {
	char image[768]; /* canonical image name (for display and pool matching) */
	char image_path[4096];
	char rootfs[4096]; /* an OCI image's root filesystem, "" for the base image alone */
	char image_digest[72]; /* its manifest digest: the image's run settings (imagestore.h) */
	unsigned mem_mib, cpus;
	bool rootro; /* read-only root, tmpfs /tmp (the restrictive profile) */
	enum vm_net net;
	unsigned nports;
	struct port_map ports[VM_PORTS_MAX]; /* host addresses normalized (127.0.0.1 default) */
};

enum vm_state { VM_BOOTING, VM_READY, VM_DEAD };

struct vm {
	char id[17];
	char dir[VM_PATH_MAX - 24]; /* <state>/vms/<id>; sockets and logs live here */
	char vsock[VM_PATH_MAX], control[VM_PATH_MAX], ready_path[VM_PATH_MAX];
	struct vm_spec spec;
	pid_t pid;
	int pidfd;
	unsigned long long starttime; /* /proc/PID/stat field 22: tells a reused pid apart */
	bool child; /* spawned by this flintd (waitpid works), else adopted */
	int ready_fd; /* listening for the agent's readiness connection while booting */
	double boot_s;
	atomic_int state; /* enum vm_state */
	int wait_status; /* when child and dead */
	char reason[VM_REASON_MAX]; /* why it died, once dead */

	pthread_mutex_t lock; /* idle connections */
	struct agent_client *idle[VM_IDLE_CONNS];
	unsigned nidle;

	/* Called once, from the supervisor thread, when the process ends unexpectedly. */
	void (*on_death)(struct vm *vm, void *ctx);
	void *death_ctx;
	bool stopping; /* vm_destroy is in progress: the death is expected */
	bool discard;  /* vm_discard: the supervisor reaps and frees it */
	struct vm *prev, *next; /* every VM this flintd holds, for vm_kill_all */
};

/* Where the binaries are; set once at startup. */
struct vm_paths {
	const char *vmm, *kernel, *state_dir;
	bool verbose;
	const struct net_globals *net; /* --net-dns, --net-allow */
};

int vm_module_init(const struct vm_paths *p);
void vm_module_destroy(void);

/* Spawn flint-vmm for spec (the VM starts booting): 0 or -errno with a message in err. */
int vm_create(struct vm **out, const struct vm_spec *spec, char *err, size_t errlen);
/*
 * Wait until the agent is ready (0), the VM dies (-ECHILD, reason in vm->reason) or timeout_ms
 * passes (-ETIMEDOUT). The readiness connection becomes the first idle agent connection.
 */
int vm_wait_ready(struct vm *vm, int timeout_ms);
/* Start supervising: on_death runs if the process ends without vm_destroy. */
void vm_watch(struct vm *vm, void (*on_death)(struct vm *, void *), void *ctx);
/* Stop the VM (control "stop", then SIGKILL after grace_ms), reap it, remove its directory, free it. */
void vm_destroy(struct vm *vm, int grace_ms);
/*
 * SIGKILL the VM now and leave the rest of vm_destroy (waiting for the kernel to tear it down,
 * reaping, removing its directory, freeing) to the supervisor thread, so a one-shot run can
 * answer its client while that happens. The caller gives up the VM.
 */
void vm_discard(struct vm *vm);

/* Re-attach a VM a previous flintd left running: 0, or -ESRCH when it is gone (dir removed). */
int vm_adopt(struct vm **out, const char *id, const struct vm_spec *spec);
/* Kill and remove VM directories under <state>/vms that are not in keep (NULL-terminated ids). */
void vm_sweep_orphans(const char *const *keep);

/*
 * An agent connection to the VM: an idle one, or a new one (CONNECT to the agent port).
 * Return it with vm_agent_put (keep: it is healthy and idle) or drop it (keep false).
 */
int vm_agent_get(struct vm *vm, struct agent_client **out, int timeout_ms);
void vm_agent_put(struct vm *vm, struct agent_client *c, bool keep);
/* A raw connected stream to the agent port, for splicing to an attached HTTP client. */
int vm_agent_connect_raw(struct vm *vm, int timeout_ms);

static inline bool vm_alive(struct vm *vm)
{
	return atomic_load(&vm->state) != VM_DEAD;
}
/* Look at the process now (unwatched VMs learn of a death this way); false once it is dead. */
bool vm_check_alive(struct vm *vm);

/* Stop supervising, leaving the process running (flintd shutting down; the struct is not freed). */
void vm_forget(struct vm *vm);
/* At shutdown: kill every VM still held (one-shot runs in flight), so their requests end. */
void vm_kill_all(void);
/* Kill the process now (in-flight requests fail fast); vm_destroy later reaps and frees. */
void vm_kill(struct vm *vm);
/*
 * Wait until the process has exited (its files, forwarded ports included, are closed then), at
 * most timeout_ms: true once it has. It is not reaped here.
 */
bool vm_wait_exit(struct vm *vm, int timeout_ms);

#endif
