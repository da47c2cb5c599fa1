/* The VM: a straight setup sequence over KVM, memory, kernel, devices and vCPUs; teardown in reverse. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "arch/x86_64/x86.h"
#include "cmdline.h"
#include "kvm_caps.h"
#include "loader.h"
#include "log.h"
#include "pvm.h"
#include "sandbox.h"
#include "trace.h"

#define COM2_PORT 0x2f8u
#define COM2_IRQ 3u

void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
{
	pthread_mutex_lock(&vm->exit_lock);
	if (!vm->exit_set) {
		vm->exit_status = status;
		vm->exit_reason[0] = '\0';
		if (fmt) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
			va_end(ap);
		}
		__atomic_store_n(&vm->exit_set, true, __ATOMIC_RELEASE);
		evloop_stop(&vm->loop);
	}
	pthread_mutex_unlock(&vm->exit_lock);
}

static int kvm_check(struct vm *vm)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int e = errno;
		log_err("cannot open /dev/kvm: %s (%srun `flint doctor`)", strerror(e),
			e == ENOENT  ? "this host has no KVM; " :
			e == EACCES ? "add yourself to the kvm group, or run as root; " :
				      "");
		return -e;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_CAPS_API_VERSION) {
		log_err("/dev/kvm speaks an unknown API version (run `flint doctor`)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < KVM_CAPS_NEEDED_N; i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_caps_needed[i].cap) <= 0) {
			log_err("KVM on this host lacks %s, which flint needs",
				kvm_caps_needed[i].name);
			return -ENOTSUP;
		}
	}
	int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EINVAL;
	}
	vm->run_size = (size_t)sz;
	return 0;
}

static int kvm_create(struct vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		int e = errno;
		log_err("KVM_CREATE_VM: %s", strerror(e));
		return -e;
	}
	/* Intel needs these three pages for real-mode emulation; other hosts lack the calls. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0)
		ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t a = LAYOUT_KVM_IDENTITY;
		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &a);
	}
	trace_phase("vm_created");
	return 0;
}

/*
 * After the memory slots: with the irqchip's devices already on the VM's buses, every
 * memslot change waits for an expedited SRCU grace period (milliseconds in a nested VM).
 */
static int irqchip_create(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int e = errno;
		log_err("KVM_CREATE_IRQCHIP: %s", strerror(e));
		return -e;
	}
	/* The PIT is the timer Linux calibrates against; a dummy speaker port costs no exits. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int e = errno;
		log_err("KVM_CREATE_PIT2: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int memory_setup(struct vm *vm)
{
	int r = gmem_init(&vm->mem, vm->cfg.mem_mib << 20);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region reg = {
			.slot = i,
			.guest_phys_addr = vm->mem.region[i].gpa,
			.memory_size = vm->mem.region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.region[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
			int e = errno;
			log_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(e));
			return -e;
		}
	}
	trace_phase("memory_ready");
	return 0;
}

static void serial_irq(void *ctx, unsigned gsi, bool level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_guest("serial", "KVM_IRQ_LINE: %s", strerror(errno));
}

static int console_setup(struct vm *vm)
{
	vm->console_fd = -1;
	switch (vm->cfg.console) {
	case CONSOLE_STDOUT:
		vm->console_fd = STDOUT_FILENO;
		break;
	case CONSOLE_FILE:
		vm->console_fd = open(vm->cfg.console_path,
				      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
		if (vm->console_fd < 0) {
			int e = errno;
			log_err("cannot open console file %s: %s", vm->cfg.console_path,
				strerror(e));
			return -e;
		}
		vm->console_owned = true;
		break;
	case CONSOLE_DEFAULT:
	case CONSOLE_NONE:
		break;
	}
	serial_init(&vm->com1, LAYOUT_SERIAL_PORT, LAYOUT_SERIAL_IRQ, vm->console_fd, serial_irq,
		    vm);
	/* The one-shot program's stdout and stderr arrive on COM2, apart from kernel messages. */
	serial_init(&vm->com2, COM2_PORT, COM2_IRQ, STDOUT_FILENO, serial_irq, vm);
	return 0;
}

/* ---- virtio-mmio wiring ------------------------------------------------------------------- */

static void mmio_irq(void *ctx, unsigned gsi)
{
	struct vm_mmio_slot *slot = ctx;
	uint64_t one = 1;
	(void)gsi;
	if (write(slot->irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_guest("irqfd", "write: %s", strerror(errno));
}

/* A device stopped at its budget: kick its queue ourselves, so epoll serves others first. */
static void mmio_requeue(void *ctx, unsigned q)
{
	struct vm_mmio_slot *slot = ctx;
	uint64_t one = 1;
	if (q < slot->nr_queues && write(slot->kick[q].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("requeue: %s", strerror(errno));
}

static void mmio_kick(void *arg, uint32_t events)
{
	struct vm_kick *k = arg;
	uint64_t n;
	(void)events;
	if (read(k->fd, &n, sizeof(n)) != sizeof(n))
		return;
	virtio_mmio_kick(k->slot->mmio, k->q);
}

/* Reserve the next window: its address, GSI, irqfd and hooks, before the device is built. */
static struct vm_mmio_slot *mmio_reserve(struct vm *vm, uint64_t *base, unsigned *gsi,
					 struct virtio_mmio_hooks *hooks)
{
	if (vm->nr_mmio == LAYOUT_VIRTIO_MAX) {
		log_err("more than %u virtio devices", LAYOUT_VIRTIO_MAX);
		return NULL;
	}
	struct vm_mmio_slot *slot = &vm->mmio[vm->nr_mmio];
	*base = LAYOUT_VIRTIO_BASE + vm->nr_mmio * LAYOUT_VIRTIO_STRIDE;
	*gsi = LAYOUT_VIRTIO_IRQ_BASE + vm->nr_mmio;
	slot->vm = vm;
	slot->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (slot->irqfd < 0) {
		log_err("eventfd: %s", strerror(errno));
		return NULL;
	}
	struct kvm_irqfd irqfd = { .fd = (uint32_t)slot->irqfd, .gsi = *gsi };
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		log_err("KVM_IRQFD: %s", strerror(errno));
		close(slot->irqfd);
		slot->irqfd = -1;
		return NULL;
	}
	*hooks = (struct virtio_mmio_hooks){ .ctx = slot, .irq = mmio_irq, .requeue = mmio_requeue };
	return slot;
}

/* The device is built: hook one ioeventfd per queue into the event loop. */
static int mmio_commit(struct vm *vm, struct vm_mmio_slot *slot, struct virtio_mmio *m)
{
	slot->mmio = m;
	slot->nr_queues = m->ops->num_queues;
	vm->nr_mmio++;
	for (unsigned q = 0; q < slot->nr_queues; q++) {
		struct vm_kick *k = &slot->kick[q];
		k->q = q;
		k->slot = slot;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0) {
			log_err("eventfd: %s", strerror(errno));
			return -errno;
		}
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = m->base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4,
			.fd = k->fd,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
			int e = errno;
			log_err("KVM_IOEVENTFD: %s", strerror(e));
			return -e;
		}
		int r = evloop_add(&vm->loop, k->fd, EPOLLIN, mmio_kick, k);
		if (r < 0)
			return r;
	}
	return 0;
}

struct vm_mmio_slot *vm_mmio_lookup(struct vm *vm, uint64_t gpa)
{
	if (gpa < LAYOUT_VIRTIO_BASE)
		return NULL;
	uint64_t i = (gpa - LAYOUT_VIRTIO_BASE) / LAYOUT_VIRTIO_STRIDE;
	return i < vm->nr_mmio ? &vm->mmio[i] : NULL;
}

static int disks_setup(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.nr_disks; i++) {
		const struct disk_config *dc = &vm->cfg.disks[i];
		int r = disk_open(&vm->disks[i], dc->path, dc->readonly);
		if (r < 0)
			return r;
		uint64_t base;
		unsigned gsi;
		struct virtio_mmio_hooks hooks;
		struct vm_mmio_slot *slot = mmio_reserve(vm, &base, &gsi, &hooks);
		if (!slot)
			return -ENOSPC;
		char id[24];
		snprintf(id, sizeof(id), "flint-vd%c", 'a' + i);
		r = virtio_blk_init(&vm->blk[i], &vm->disks[i], id, &vm->mem, base, gsi, &hooks);
		if (r < 0)
			return r;
		vm->nr_blk++;
		r = mmio_commit(vm, slot, &vm->blk[i].mmio);
		if (r < 0)
			return r;
	}
	return 0;
}

_Static_assert(CONFIG_VSOCK_PATH_MAX == VSOCK_PATH_MAX, "--vsock path limit");

/* The vsock device, in the slot after the disks; its host side is watched by the event loop. */
static int vsock_setup(struct vm *vm)
{
	if (!vm->cfg.vsock_path)
		return 0;
	uint64_t base;
	unsigned gsi;
	struct virtio_mmio_hooks hooks;
	struct vm_mmio_slot *slot = mmio_reserve(vm, &base, &gsi, &hooks);
	if (!slot)
		return -ENOSPC;
	vm->has_vsock = true;
	int r = virtio_vsock_init(&vm->vsock, vm->cfg.vsock_path, vm->cfg.vsock_cid, &vm->mem, base,
				  gsi, &hooks);
	if (r == 0)
		r = mmio_commit(vm, slot, &vm->vsock.mmio);
	if (r == 0)
		r = evloop_add(&vm->loop, virtio_vsock_host_fd(&vm->vsock), EPOLLIN,
			       virtio_vsock_host_event, &vm->vsock);
	return r;
}

/* The MAC a guest gets without mac=: locally administered, unique per CID like the VM itself. */
static void net_default_mac(uint8_t mac[6], uint64_t cid)
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(cid >> 16);
	mac[4] = (uint8_t)(cid >> 8);
	mac[5] = (uint8_t)cid;
}

/* The network device, after vsock; its backend's fd is watched by the event loop. */
static int net_setup(struct vm *vm)
{
	struct net_config *nc = &vm->cfg.net;
	if (nc->mode == NET_NONE)
		return 0;
	struct net_backend *be;
	int r = nc->mode == NET_USER ? net_user_open(nc, &be) : net_tap_open(nc, &be);
	if (r < 0)
		return r;
	uint64_t base;
	unsigned gsi;
	struct virtio_mmio_hooks hooks;
	struct vm_mmio_slot *slot = mmio_reserve(vm, &base, &gsi, &hooks);
	if (!slot) {
		be->ops->destroy(be);
		return -ENOSPC;
	}
	uint8_t mac[6];
	if (nc->mac_set)
		memcpy(mac, nc->mac, sizeof(mac));
	else
		net_default_mac(mac, vm->cfg.vsock_cid);
	vm->has_net = true;
	r = virtio_net_init(&vm->net, be, mac, &vm->mem, base, gsi, &hooks);
	/* The guest is told the MTU the backend settled on (a tap's own, without mtu=). */
	nc->mtu = be->mtu;
	if (r == 0)
		r = mmio_commit(vm, slot, &vm->net.mmio);
	if (r == 0)
		r = evloop_add(&vm->loop, virtio_net_backend_fd(&vm->net), EPOLLIN,
			       virtio_net_backend_event, &vm->net);
	return r;
}

/* ---- the control socket ------------------------------------------------------------------- */

static void control_info(void *ctx, struct control_info *info)
{
	struct vm *vm = ctx;
	double now = trace_now_ms();
	*info = (struct control_info){
		.pid = getpid(),
		.uptime_ms = now > 0 ? (uint64_t)now : 0,
		.vcpus = vm->cfg.cpus,
		.mem_mib = vm->cfg.mem_mib,
		.cid = vm->has_vsock ? (int64_t)vm->cfg.vsock_cid : -1,
		.boot_ms = __atomic_load_n(&vm->ready_ms, __ATOMIC_ACQUIRE),
		.has_net = vm->has_net,
	};
	if (!vm->has_net)
		return;
	struct net_stats st;
	virtio_net_stats(&vm->net, &st);
	info->net_rx_packets = st.rx_packets;
	info->net_rx_bytes = st.rx_bytes;
	info->net_tx_packets = st.tx_packets;
	info->net_tx_bytes = st.tx_bytes;
	info->net_rx_dropped = st.rx_dropped;
	info->net_tx_dropped = st.tx_dropped;
	info->net_denied = st.denied;
	_Static_assert(sizeof(info->net_last_denied) == sizeof(st.last_denied),
		       "the control socket reports the whole denial text");
	memcpy(info->net_last_denied, st.last_denied, sizeof(st.last_denied));
}

/* `stop` ends the VM exactly as the guest's power-off does. */
static void control_stop(void *ctx)
{
	vm_request_exit(ctx, 0, "stopped through the control socket");
}

static int control_setup(struct vm *vm)
{
	if (!vm->cfg.control_path)
		return 0;
	struct control_hooks hooks = { .ctx = vm, .info = control_info, .stop = control_stop };
	vm->has_control = true;
	return control_init(&vm->control, vm->cfg.control_path, &vm->loop, &hooks);
}

/* ---- signals ------------------------------------------------------------------------------ */

static void on_signal(void *arg, uint32_t events)
{
	struct vm *vm = arg;
	struct signalfd_siginfo si;
	(void)events;
	if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_exit(vm, 128 + (int)si.ssi_signo, "stopped by signal %u", si.ssi_signo);
}

static int signals_setup(struct vm *vm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread exists, so every vCPU thread inherits the mask. */
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return -errno;
	}
	return evloop_add(&vm->loop, vm->signal_fd, EPOLLIN, on_signal, vm);
}

/* ---- init / run / destroy ----------------------------------------------------------------- */

int vm_init(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->signal_fd = vm->console_fd = -1;
	vm->ready_ms = -1;
	vm->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	vm->statm_fd = cfg->boot_trace ? open("/proc/self/statm", O_RDONLY | O_CLOEXEC) : -1;
	for (unsigned i = 0; i < CONFIG_DISKS_MAX; i++)
		vm->disks[i].fd = -1;
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MAX; i++) {
		vm->mmio[i].irqfd = -1;
		for (unsigned q = 0; q < VIRTIO_MMIO_QUEUES_MAX; q++)
			vm->mmio[i].kick[q].fd = -1;
	}
	pthread_mutex_init(&vm->exit_lock, NULL);
	vm->pvm = cfg->pvm == PVM_ON || (cfg->pvm == PVM_AUTO && pvm_host_detect());
	if (vm->pvm)
		log_info("PVM host: guest compatibility flags on");

	int r = evloop_init(&vm->loop);
	if (r == 0)
		r = signals_setup(vm);
	/* Early: a bad --control PATH fails before any KVM work. */
	if (r == 0)
		r = control_setup(vm);
	if (r == 0)
		r = kvm_check(vm);
	if (r == 0)
		r = kvm_create(vm);
	if (r == 0)
		r = memory_setup(vm);
	if (r == 0)
		r = irqchip_create(vm);
	if (r < 0)
		return r;

	struct loaded_kernel k;
	r = loader_load_elf(&vm->mem, cfg->kernel, &k);
	if (r < 0)
		return r;
	vm->entry = k.entry;
	trace_phase("kernel_loaded");

	r = console_setup(vm);
	if (r == 0)
		r = disks_setup(vm);
	if (r == 0)
		r = vsock_setup(vm);
	if (r == 0)
		r = net_setup(vm);
	if (r == 0)
		r = cmdline_build(vm->cmdline, sizeof(vm->cmdline), &vm->cfg, vm->pvm, vm->nr_mmio);
	if (r == 0)
		r = x86_boot_setup(&vm->mem, vm->cmdline, cfg->cpus);
	if (r < 0)
		return r;
	log_info("kernel command line: %s", vm->cmdline);

	vm->cpuid = x86_cpuid_supported(vm->kvm_fd);
	if (!vm->cpuid)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->cpus; i++) {
		r = vcpu_init(&vm->vcpus[i], vm, i);
		vm->nr_vcpus = i + 1;
		if (r < 0)
			return r;
	}
	trace_phase("devices_ready");
	return 0;
}

/* Resident KiB of the whole process, and of guest RAM alone (pages the guest touched). */
static void report_memory(struct vm *vm)
{
	unsigned long rss = 0, guest = 0;
	char buf[128];
	ssize_t n = vm->statm_fd >= 0 ? pread(vm->statm_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n > 0) {
		unsigned long size, res;
		buf[n] = '\0';
		if (sscanf(buf, "%lu %lu", &size, &res) == 2)
			rss = res * (unsigned long)(sysconf(_SC_PAGESIZE) / 1024);
	}
	size_t pages = vm->mem.map_size / (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *vec = pages ? malloc(pages) : NULL;
	if (vec && mincore(vm->mem.map, vm->mem.map_size, vec) == 0) {
		for (size_t i = 0; i < pages; i++)
			guest += vec[i] & 1;
		guest *= (unsigned long)(sysconf(_SC_PAGESIZE) / 1024);
	}
	free(vec);
	trace_memory(rss, guest);
}

int vm_run(struct vm *vm)
{
	int r = 0;
#ifndef FLINT_SANITIZED
	/* Sanitizer runtimes need calls the allowlist refuses (LSan ptraces at exit). */
	unsigned extras = vm->has_vsock ? SANDBOX_VSOCK : 0;
	if (vm->has_net)
		extras |= vm->cfg.net.mode == NET_USER ? SANDBOX_NET_USER : SANDBOX_NET_TAP;
	if (vm->has_control)
		extras |= SANDBOX_CONTROL;
	r = sandbox_enter(extras);
	if (r < 0) {
		vm_request_exit(vm, VM_EXIT_FAILURE, "could not confine flint-vmm");
		return VM_EXIT_FAILURE;
	}
#endif
	for (unsigned i = 0; i < vm->nr_vcpus && r == 0; i++)
		r = vcpu_start(&vm->vcpus[i]);
	if (r < 0)
		vm_request_exit(vm, VM_EXIT_FAILURE, "could not start the vCPUs");
	else if (evloop_run(&vm->loop) < 0)
		vm_request_exit(vm, VM_EXIT_FAILURE, "the event loop failed");
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	trace_phase("exit");
	if (vm->cfg.boot_trace)
		report_memory(vm);
	if (vm->exit_status == VM_EXIT_FAILURE && vm->exit_reason[0])
		log_err("%s", vm->exit_reason);
	else if (vm->exit_reason[0])
		log_info("%s", vm->exit_reason);
	return vm->exit_status;
}

/*
 * Destroying a VM with an in-kernel irqchip waits for expedited SRCU grace periods: 15 ms
 * on a nested host, while the process's exit status is already known. The caller should
 * not wait for that, so a child takes the last reference to the VM and drops it once we
 * have exited (its pipe reads EOF). Without a child, the close simply happens here.
 */
static void vm_fd_release(int fd, int null)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(fd);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Hold none of the caller's pipes open: it may be reading our stdout to EOF. */
		for (int i = 0; i < 3 && null >= 0; i++)
			dup2(null, i);
		close(p[1]);
		char c;
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		close(fd);
		_exit(0);
	}
	close(p[0]);
	close(fd);
	if (pid < 0)
		close(p[1]);
	/* else p[1] stays open until we exit: that is the child's signal. */
}

void vm_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->cpuid);
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MAX; i++) {
		struct vm_mmio_slot *s = &vm->mmio[i];
		for (unsigned q = 0; q < VIRTIO_MMIO_QUEUES_MAX; q++)
			if (s->kick[q].fd >= 0)
				close(s->kick[q].fd);
		if (s->irqfd >= 0)
			close(s->irqfd);
	}
	for (unsigned i = 0; i < vm->nr_blk; i++)
		virtio_blk_destroy(&vm->blk[i]);
	if (vm->has_vsock)
		virtio_vsock_destroy(&vm->vsock);
	if (vm->has_net)
		virtio_net_destroy(&vm->net);
	if (vm->has_control)
		control_destroy(&vm->control);
	for (unsigned i = 0; i < CONFIG_DISKS_MAX; i++)
		if (vm->disks[i].fd >= 0)
			disk_close(&vm->disks[i]);
	if (vm->console_owned)
		close(vm->console_fd);
	serial_destroy(&vm->com1);
	serial_destroy(&vm->com2);
	gmem_destroy(&vm->mem);
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	evloop_destroy(&vm->loop);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->vm_fd >= 0)
		vm_fd_release(vm->vm_fd, vm->null_fd);
	if (vm->null_fd >= 0)
		close(vm->null_fd);
	if (vm->statm_fd >= 0)
		close(vm->statm_fd);
	pthread_mutex_destroy(&vm->exit_lock);
}
