/* The VM: owns KVM, guest memory, vCPUs, devices and the event loop; runs it to an exit status. */
#ifndef FLINT_VM_H
#define FLINT_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm_cpuid2;

#include "config.h"
#include "control.h"
#include "disk/disk.h"
#include "evloop.h"
#include "layout.h"
#include "mem.h"
#include "serial.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vsock.h"

/* flint-vmm's own failure status: setup errors and VM failures (after docker run's 125). */
#define VM_EXIT_FAILURE 125

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

/* A virtio-mmio device as the VM wires it: window, irqfd, one ioeventfd per queue. */
struct vm_mmio_slot;
struct vm_kick {
	int fd; /* ioeventfd on QueueNotify with this queue's index as datamatch */
	unsigned q;
	struct vm_mmio_slot *slot;
};

struct vm_mmio_slot {
	struct virtio_mmio *mmio;
	int irqfd;
	struct vm_kick kick[VIRTIO_MMIO_QUEUES_MAX];
	unsigned nr_queues;
	struct vm *vm;
};

struct vm {
	struct vm_config cfg;
	bool pvm;
	int kvm_fd, vm_fd;
	size_t run_size;
	struct gmem mem;
	struct evloop loop;
	int signal_fd;

	struct kvm_cpuid2 *cpuid; /* the host's supported set, filtered per vCPU */
	struct vcpu vcpus[LAYOUT_MAX_CPUS];
	unsigned nr_vcpus;

	int null_fd;  /* /dev/null, opened before the sandbox forbids open */
	int statm_fd; /* /proc/self/statm for the memory report, with --boot-trace */
	int console_fd; /* kernel console (ttyS0); -1 discards */
	bool console_owned;
	struct serial com1, com2; /* com2 carries the one-shot program's output */

	struct disk disks[CONFIG_DISKS_MAX];
	struct virtio_blk blk[CONFIG_DISKS_MAX];
	unsigned nr_blk;
	struct virtio_vsock vsock; /* with --vsock */
	bool has_vsock;		   /* virtio_vsock_init was called: destroy it */
	struct virtio_net net;	   /* with --net */
	bool has_net;		   /* virtio_net_init was called: destroy it */
	struct control control;	   /* with --control */
	bool has_control;	   /* control_init was called: destroy it */
	int64_t ready_ms;	   /* ms from flint-vmm's start to the guest's READY; -1: not yet */
	struct vm_mmio_slot mmio[LAYOUT_VIRTIO_MAX];
	unsigned nr_mmio;

	uint64_t entry;
	char cmdline[LAYOUT_CMDLINE_MAX];

	pthread_mutex_t exit_lock;
	bool exit_set;
	int exit_status;
	char exit_reason[160];
};

/* Build the whole VM from cfg: 0, or -errno after one message. vm_destroy is safe after failure. */
int vm_init(struct vm *vm, const struct vm_config *cfg);
/* Start the vCPUs, run the event loop until the VM ends; returns the exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/*
 * End the VM with status; the first caller wins. reason (may be NULL) is printed
 * when the status is VM_EXIT_FAILURE. Thread-safe; called from vCPU threads.
 */
void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Find the device window holding gpa (vCPU MMIO exits). */
struct vm_mmio_slot *vm_mmio_lookup(struct vm *vm, uint64_t gpa);

/* vcpu.c */
int vcpu_init(struct vcpu *v, struct vm *vm, unsigned id);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* What the exit handler tells the run loop (separate from it so tests can feed fabricated exits). */
enum vcpu_action { VCPU_CONTINUE, VCPU_STOP };
struct kvm_run;
enum vcpu_action vcpu_handle_exit(struct vcpu *v, struct kvm_run *run);

#endif
