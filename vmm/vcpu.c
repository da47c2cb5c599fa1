/* vCPU threads: KVM_RUN in a loop; the exit handler dispatches port and MMIO exits to devices. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/flint_port.h"
#include "arch/x86_64/x86.h"
#include "log.h"
#include "trace.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig);

int vcpu_init(struct vcpu *v, struct vm *vm, unsigned id)
{
	/* Installed during setup: once the sandbox is on, sigaction is refused. */
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->run = MAP_FAILED;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		int e = errno;
		log_err("KVM_CREATE_VCPU %u: %s", id, strerror(e));
		return -e;
	}
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = errno;
		log_err("mapping vCPU %u's kvm_run: %s", id, strerror(e));
		return -e;
	}
	int r = x86_cpuid_setup(vm->cpuid, v->fd, id, vm->cfg.cpus, vm->pvm);
	if (r == 0)
		r = x86_vcpu_setup(v->fd, id == 0, vm->entry);
	return r;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run != MAP_FAILED && v->run)
		munmap(v->run, v->vm->run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = MAP_FAILED;
	v->fd = -1;
}

/* ---- port I/O ---------------------------------------------------------------------------- */

static void flint_port_write(struct vcpu *v, uint32_t val)
{
	struct vm *vm = v->vm;
	switch (FLINT_EV_CODE(val)) {
	case FLINT_EV_PID1:
		trace_phase("pid1");
		break;
	case FLINT_EV_PROGRAM:
		trace_phase("program");
		break;
	case FLINT_EV_READY: {
		/* The first READY is the boot time the control socket reports. */
		int64_t none = -1;
		__atomic_compare_exchange_n(&vm->ready_ms, &none, (int64_t)trace_now_ms(), false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
		trace_phase("ready");
		break;
	}
	case FLINT_EV_EXIT:
		vm_request_exit(vm, (int)(FLINT_EV_ARG(val) & 0xff), "the guest reported exit");
		break;
	case FLINT_EV_PANIC:
		vm_request_exit(vm, VM_EXIT_FAILURE,
				"the guest kernel panicked (its message is on the console: "
				"--console stdout or FILE)");
		break;
	case FLINT_EV_POWEROFF:
		vm_request_exit(vm, 0, "the guest powered off");
		break;
	default:
		log_guest("flint-port", "unknown event 0x%x", val);
		break;
	}
}

static struct serial *serial_at(struct vm *vm, uint16_t port, unsigned *off)
{
	struct serial *s[] = { &vm->com1, &vm->com2 };
	for (unsigned i = 0; i < 2; i++) {
		if (port >= s[i]->base && port < s[i]->base + 8) {
			*off = port - s[i]->base;
			return s[i];
		}
	}
	return NULL;
}

static void pio_one(struct vcpu *v, bool out, uint16_t port, unsigned size, uint8_t *data)
{
	struct vm *vm = v->vm;
	unsigned off;
	struct serial *s = serial_at(vm, port, &off);
	if (s) {
		/* Wider accesses to a byte-wide UART: only the first byte means anything. */
		if (out)
			serial_write(s, off, data[0]);
		else
			memset(data, 0, size), data[0] = serial_read(s, off);
		return;
	}
	if (port == FLINT_PORT && size == 4) {
		if (out) {
			uint32_t val;
			memcpy(&val, data, 4);
			flint_port_write(v, val);
		} else {
			memset(data, 0, 4);
		}
		return;
	}
	if (port == LAYOUT_I8042_CMD) {
		/* Status 0: the input buffer is empty, so Linux's reboot path never waits. */
		if (out && data[0] == 0xfe)
			vm_request_exit(vm, 0, "the guest rebooted");
		else if (!out)
			memset(data, 0, size);
		return;
	}
	/* Nothing here: a floating ISA bus reads all-ones and drops writes. */
	if (!out)
		memset(data, 0xff, size);
}

static void handle_io(struct vcpu *v, struct kvm_run *run)
{
	unsigned size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	/* KVM fills these; a mismatch is a host bug, not a guest fault. */
	BUG_ON(size != 1 && size != 2 && size != 4);
	BUG_ON(off > v->vm->run_size || (uint64_t)size * count > v->vm->run_size - off);
	uint8_t *data = (uint8_t *)run + off;
	for (unsigned i = 0; i < count; i++, data += size)
		pio_one(v, run->io.direction == KVM_EXIT_IO_OUT, run->io.port, size, data);
}

/* ---- MMIO --------------------------------------------------------------------------------- */

static void handle_mmio(struct vcpu *v, struct kvm_run *run)
{
	uint64_t gpa = run->mmio.phys_addr;
	unsigned len = run->mmio.len;
	BUG_ON(len == 0 || len > 8);
	struct vm_mmio_slot *slot = vm_mmio_lookup(v->vm, gpa);
	if (slot) {
		uint64_t off = gpa - slot->mmio->base;
		if (off + len <= VIRTIO_MMIO_WINDOW) {
			if (run->mmio.is_write)
				virtio_mmio_write(slot->mmio, off, run->mmio.data, len);
			else
				virtio_mmio_read(slot->mmio, off, run->mmio.data, len);
			return;
		}
	}
	log_guest("mmio", "%s of %u bytes at unmapped 0x%llx", run->mmio.is_write ? "write" : "read",
		  len, (unsigned long long)gpa);
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
}

/* ---- exits -------------------------------------------------------------------------------- */

static uint64_t guest_rip(struct vcpu *v)
{
	struct kvm_regs regs;
	return ioctl(v->fd, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
}

enum vcpu_action vcpu_handle_exit(struct vcpu *v, struct kvm_run *run)
{
	struct vm *vm = v->vm;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v, run);
		return VCPU_CONTINUE;
	case KVM_EXIT_MMIO:
		handle_mmio(v, run);
		return VCPU_CONTINUE;
	case KVM_EXIT_SHUTDOWN:
		vm_request_exit(vm, VM_EXIT_FAILURE,
				"vCPU %u: the guest triple-faulted (KVM_EXIT_SHUTDOWN) at rip 0x%llx",
				v->id, (unsigned long long)guest_rip(v));
		return VCPU_STOP;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_exit(vm, VM_EXIT_FAILURE,
				"vCPU %u: KVM internal error (suberror %u%s) at rip 0x%llx", v->id,
				run->internal.suberror,
				run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
					": instruction emulation failed" :
					"",
				(unsigned long long)guest_rip(v));
		return VCPU_STOP;
	case KVM_EXIT_FAIL_ENTRY:
		vm_request_exit(vm, VM_EXIT_FAILURE,
				"vCPU %u: KVM could not enter the guest (hardware reason 0x%llx)", v->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_STOP;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_exit(vm, 0, "the guest shut down");
		else
			vm_request_exit(vm, VM_EXIT_FAILURE, "vCPU %u: the guest crashed (event %u)",
					v->id, run->system_event.type);
		return VCPU_STOP;
	default:
		/* Anything we did not ask for is a state we cannot reason about: fail closed. */
		vm_request_exit(vm, VM_EXIT_FAILURE, "vCPU %u: unexpected KVM exit reason %u", v->id,
				run->exit_reason);
		return VCPU_STOP;
	}
}

/* ---- the thread --------------------------------------------------------------------------- */

static void kick_handler(int sig)
{
	(void)sig; /* only here so KVM_RUN returns EINTR */
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name); /* from the thread itself: a prctl, no open */
	if (v->id == 0)
		trace_phase("first_kvm_run");
	while (!__atomic_load_n(&vm->exit_set, __ATOMIC_ACQUIRE)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			vm_request_exit(vm, VM_EXIT_FAILURE, "vCPU %u: KVM_RUN: %s", v->id,
					strerror(errno));
			break;
		}
		if (vcpu_handle_exit(v, v->run) == VCPU_STOP)
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r) {
		log_err("starting vCPU %u: %s", v->id, strerror(r));
		return -r;
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a kick that lands before the thread enters KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}
