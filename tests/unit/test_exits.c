/* Unit tests for the vCPU exit handler (vmm/vcpu.c vcpu_handle_exit) fed fabricated KVM exits. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flint_port.h"
#include "layout.h"
#include "log.h"
#include "vm.h"

#define RUN_SIZE 4096u
#define DATA_OFF 3072u /* inside the run page, past struct kvm_run */
#define COM2 0x2f8u

struct fx {
	struct vm *vm;
	struct vcpu v;
	struct kvm_run *run;
	int com1[2], com2[2];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->vm = calloc(1, sizeof(*f->vm));
	f->run = aligned_alloc(4096, RUN_SIZE);
	if (!f->vm || !f->run || pipe2(f->com1, O_NONBLOCK | O_CLOEXEC) < 0 ||
	    pipe2(f->com2, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(f->run, 0, RUN_SIZE);
	struct vm *vm = f->vm;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->signal_fd = -1;
	vm->run_size = RUN_SIZE;
	pthread_mutex_init(&vm->exit_lock, NULL);
	if (evloop_init(&vm->loop) < 0)
		return -1;
	serial_init(&vm->com1, LAYOUT_SERIAL_PORT, LAYOUT_SERIAL_IRQ, f->com1[1], NULL, NULL);
	serial_init(&vm->com2, COM2, 3, f->com2[1], NULL, NULL);
	f->v.vm = vm;
	f->v.id = 0;
	f->v.fd = -1;
	f->v.run = f->run;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	serial_destroy(&f->vm->com1);
	serial_destroy(&f->vm->com2);
	evloop_destroy(&f->vm->loop);
	pthread_mutex_destroy(&f->vm->exit_lock);
	close(f->com1[0]);
	close(f->com1[1]);
	close(f->com2[0]);
	close(f->com2[1]);
	free(f->run);
	free(f->vm);
	free(f);
	return 0;
}

static uint8_t *io_data(struct fx *f)
{
	return (uint8_t *)f->run + DATA_OFF;
}

/* A port exit: count accesses of size bytes; data (size * count bytes) copied in for OUT. */
static enum vcpu_action pio(struct fx *f, bool out, uint16_t port, unsigned size, unsigned count,
			    const void *data)
{
	f->run->exit_reason = KVM_EXIT_IO;
	f->run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	f->run->io.size = (uint8_t)size;
	f->run->io.port = port;
	f->run->io.count = count;
	f->run->io.data_offset = DATA_OFF;
	if (data)
		memcpy(io_data(f), data, (size_t)size * count);
	return vcpu_handle_exit(&f->v, f->run);
}

static enum vcpu_action outl(struct fx *f, uint16_t port, uint32_t v)
{
	return pio(f, true, port, 4, 1, &v);
}

static enum vcpu_action outb(struct fx *f, uint16_t port, uint8_t v)
{
	return pio(f, true, port, 1, 1, &v);
}

/* An IN of size bytes with the data area pre-filled with fill; returns the value read. */
static uint32_t in(struct fx *f, uint16_t port, unsigned size, uint8_t fill)
{
	memset(io_data(f), fill, 8);
	assert_int_equal(pio(f, false, port, size, 1, NULL), VCPU_CONTINUE);
	uint32_t v = 0;
	memcpy(&v, io_data(f), size);
	for (unsigned i = size; i < 8; i++)
		assert_int_equal(io_data(f)[i], fill); /* nothing past the access */
	return v;
}

static enum vcpu_action exit_reason(struct fx *f, uint32_t reason)
{
	f->run->exit_reason = reason;
	return vcpu_handle_exit(&f->v, f->run);
}

static size_t drain(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap);
	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return (size_t)n;
}

static void assert_no_exit(struct fx *f)
{
	assert_false(f->vm->exit_set);
	assert_false(f->vm->loop.stopping);
}

static void assert_exit(struct fx *f, int status, const char *reason_has)
{
	assert_true(f->vm->exit_set);
	assert_int_equal(f->vm->exit_status, status);
	assert_true(f->vm->loop.stopping); /* the event loop was told to stop */
	if (reason_has && !strstr(f->vm->exit_reason, reason_has))
		fail_msg("exit reason \"%s\" does not mention \"%s\"", f->vm->exit_reason,
			 reason_has);
}

/* ---- the flint port ------------------------------------------------------------------------ */

static void test_flint_exit_status(void **state)
{
	struct fx *f = *state;
	assert_int_equal(outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_EXIT, 7)), VCPU_CONTINUE);
	assert_exit(f, 7, "exit");
	/* The event loop's stop eventfd was written: a waiter would wake. */
	uint64_t n = 0;
	assert_int_equal(read(f->vm->loop.stop_fd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
}

static void test_flint_exit_status_masked_to_byte(void **state)
{
	struct fx *f = *state;
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_EXIT, 0x1ff));
	assert_exit(f, 0xff, NULL);
}

static void test_flint_exit_zero(void **state)
{
	struct fx *f = *state;
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_EXIT, 0));
	assert_exit(f, 0, NULL);
}

static void test_flint_panic(void **state)
{
	struct fx *f = *state;
	assert_int_equal(outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_PANIC, 0)), VCPU_CONTINUE);
	assert_exit(f, VM_EXIT_FAILURE, "panic");
	assert_int_equal(VM_EXIT_FAILURE, 125);
}

static void test_flint_poweroff(void **state)
{
	struct fx *f = *state;
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_POWEROFF, 0));
	assert_exit(f, 0, "powered off");
}

static void test_flint_progress_events(void **state)
{
	struct fx *f = *state;
	unsigned long faults = log_guest_count();
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_PID1, 0));
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_PROGRAM, 0));
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_READY, 0));
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults);
}

static void test_flint_unknown_event(void **state)
{
	struct fx *f = *state;
	unsigned long faults = log_guest_count();
	assert_int_equal(outl(f, FLINT_PORT, FLINT_EV_VALUE(0x99, 7)), VCPU_CONTINUE);
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults + 1);
	outl(f, FLINT_PORT, FLINT_EV_VALUE(0, 0));
	outl(f, FLINT_PORT, 0xffffffffu);
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults + 3);
}

static void test_flint_port_only_32bit(void **state)
{
	struct fx *f = *state;
	uint32_t v = FLINT_EV_VALUE(FLINT_EV_EXIT, 7);
	/* Narrower accesses are not events: dropped, like any unclaimed port. */
	pio(f, true, FLINT_PORT, 2, 1, &v);
	pio(f, true, FLINT_PORT, 1, 1, &v);
	pio(f, true, FLINT_PORT + 1, 4, 1, &v);
	assert_no_exit(f);
	assert_int_equal(in(f, FLINT_PORT, 4, 0xaa), 0);
	assert_int_equal(in(f, FLINT_PORT, 1, 0x00), 0xff);
}

/* ---- i8042 and unclaimed ports ------------------------------------------------------------- */

static void test_i8042_reset(void **state)
{
	struct fx *f = *state;
	assert_int_equal(outb(f, LAYOUT_I8042_CMD, 0xd1), VCPU_CONTINUE); /* not a reset */
	assert_no_exit(f);
	assert_int_equal(outb(f, LAYOUT_I8042_CMD, 0xfe), VCPU_CONTINUE);
	assert_exit(f, 0, "reboot");
}

static void test_i8042_status_reads_zero(void **state)
{
	struct fx *f = *state;
	assert_int_equal(in(f, LAYOUT_I8042_CMD, 1, 0xaa), 0); /* input buffer empty */
	assert_int_equal(in(f, 0x64, 1, 0x55), 0);
	assert_no_exit(f);
}

static void test_unclaimed_ports_float_high(void **state)
{
	struct fx *f = *state;
	assert_int_equal(in(f, 0x1234, 1, 0x00), 0xff);
	assert_int_equal(in(f, 0x1234, 2, 0x00), 0xffff);
	assert_int_equal(in(f, 0x1234, 4, 0x00), 0xffffffffu);
	assert_int_equal(in(f, 0x80, 1, 0x00), 0xff);
	assert_int_equal(in(f, 0x60, 1, 0x00), 0xff);
	assert_int_equal(in(f, 0xcf8, 4, 0x00), 0xffffffffu); /* no PCI */
	unsigned long faults = log_guest_count();
	outl(f, 0x1234, 0xdeadbeef);
	outb(f, 0x80, 0x42);
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults); /* unclaimed ports are not faults */
	uint8_t buf[8];
	assert_int_equal(drain(f->com1[0], buf, sizeof(buf)), 0);
}

/* ---- the UARTs ----------------------------------------------------------------------------- */

static void test_rep_outsb_com1(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pio(f, true, LAYOUT_SERIAL_PORT, 1, 5, "hello"), VCPU_CONTINUE);
	uint8_t buf[16];
	assert_int_equal(drain(f->com1[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(drain(f->com2[0], buf, sizeof(buf)), 0);
	assert_int_equal(f->vm->com1.bytes_out, 5);
	assert_no_exit(f);
}

static void test_com2_separate(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pio(f, true, COM2, 1, 3, "abc"), VCPU_CONTINUE);
	uint8_t buf[16];
	assert_int_equal(drain(f->com2[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(drain(f->com1[0], buf, sizeof(buf)), 0);
}

static void test_uart_wide_access_and_registers(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	/* A 16-bit write to THR: only the low byte is a character. */
	pio(f, true, LAYOUT_SERIAL_PORT, 2, 1, "XY");
	assert_int_equal(drain(f->com1[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'X');
	/* A rep outsw of 3 words: 3 characters, the low byte of each. */
	pio(f, true, LAYOUT_SERIAL_PORT, 2, 3, "a1b2c3");
	assert_int_equal(drain(f->com1[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	/* LSR at base+5, scratch at base+7 through port reads; wide reads zero-extend. */
	assert_int_equal(in(f, LAYOUT_SERIAL_PORT + 5, 1, 0xaa), 0x60);
	assert_int_equal(in(f, LAYOUT_SERIAL_PORT + 5, 4, 0xaa), 0x60);
	outb(f, COM2 + 7, 0x5a);
	assert_int_equal(in(f, COM2 + 7, 1, 0), 0x5a);
	assert_int_equal(in(f, LAYOUT_SERIAL_PORT + 7, 1, 0), 0); /* COM1's own scratch */
	/* Just past each UART's 8 ports is unclaimed. */
	assert_int_equal(in(f, LAYOUT_SERIAL_PORT + 8, 1, 0), 0xff);
	assert_int_equal(in(f, COM2 + 8, 1, 0), 0xff);
	assert_int_equal(in(f, LAYOUT_SERIAL_PORT - 1, 1, 0), 0xff);
}

static void test_rep_insb(void **state)
{
	struct fx *f = *state;
	memset(io_data(f), 0x11, 16);
	f->run->exit_reason = KVM_EXIT_IO;
	f->run->io.direction = KVM_EXIT_IO_IN;
	f->run->io.size = 1;
	f->run->io.port = LAYOUT_SERIAL_PORT + 5;
	f->run->io.count = 4;
	f->run->io.data_offset = DATA_OFF;
	assert_int_equal(vcpu_handle_exit(&f->v, f->run), VCPU_CONTINUE);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(io_data(f)[i], 0x60);
	assert_int_equal(io_data(f)[4], 0x11);
}

static void test_io_at_end_of_run_area(void **state)
{
	struct fx *f = *state;
	/* The last 4 bytes of the run mapping: allowed (and in bounds for ASan). */
	f->run->exit_reason = KVM_EXIT_IO;
	f->run->io.direction = KVM_EXIT_IO_IN;
	f->run->io.size = 4;
	f->run->io.port = 0x1234;
	f->run->io.count = 1;
	f->run->io.data_offset = RUN_SIZE - 4;
	assert_int_equal(vcpu_handle_exit(&f->v, f->run), VCPU_CONTINUE);
	uint32_t v;
	memcpy(&v, (uint8_t *)f->run + RUN_SIZE - 4, 4);
	assert_int_equal(v, 0xffffffffu);
}

/* ---- KVM exit reasons ---------------------------------------------------------------------- */

static void test_shutdown_is_triple_fault(void **state)
{
	struct fx *f = *state;
	assert_int_equal(exit_reason(f, KVM_EXIT_SHUTDOWN), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "triple");
}

static void test_internal_error(void **state)
{
	struct fx *f = *state;
	f->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	assert_int_equal(exit_reason(f, KVM_EXIT_INTERNAL_ERROR), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "emulation");
}

static void test_fail_entry(void **state)
{
	struct fx *f = *state;
	f->run->fail_entry.hardware_entry_failure_reason = 0x21;
	assert_int_equal(exit_reason(f, KVM_EXIT_FAIL_ENTRY), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "0x21");
}

static void test_system_event_shutdown(void **state)
{
	struct fx *f = *state;
	f->run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	assert_int_equal(exit_reason(f, KVM_EXIT_SYSTEM_EVENT), VCPU_STOP);
	assert_exit(f, 0, NULL);
}

static void test_system_event_reset(void **state)
{
	struct fx *f = *state;
	f->run->system_event.type = KVM_SYSTEM_EVENT_RESET;
	assert_int_equal(exit_reason(f, KVM_EXIT_SYSTEM_EVENT), VCPU_STOP);
	assert_exit(f, 0, NULL);
}

static void test_system_event_crash(void **state)
{
	struct fx *f = *state;
	f->run->system_event.type = KVM_SYSTEM_EVENT_CRASH;
	assert_int_equal(exit_reason(f, KVM_EXIT_SYSTEM_EVENT), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "crash");
}

static void test_unknown_exit_fails_closed(void **state)
{
	struct fx *f = *state;
	assert_int_equal(exit_reason(f, 9999), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "9999");
}

static void test_unrequested_known_exits_fail_closed(void **state)
{
	struct fx *f = *state;
	/* Exits KVM only gives when asked (hypercall, debug, HLT with userspace halt): not ours. */
	assert_int_equal(exit_reason(f, KVM_EXIT_HLT), VCPU_STOP);
	assert_exit(f, VM_EXIT_FAILURE, "unexpected");
}

/* ---- MMIO ---------------------------------------------------------------------------------- */

static enum vcpu_action mmio(struct fx *f, uint64_t gpa, unsigned len, bool write)
{
	f->run->exit_reason = KVM_EXIT_MMIO;
	f->run->mmio.phys_addr = gpa;
	f->run->mmio.len = len;
	f->run->mmio.is_write = write;
	return vcpu_handle_exit(&f->v, f->run);
}

static void test_mmio_unmapped_read(void **state)
{
	struct fx *f = *state;
	unsigned long faults = log_guest_count();
	static const uint64_t gpas[] = { LAYOUT_VIRTIO_BASE, LAYOUT_VIRTIO_BASE + 0x50, 0xfed00000,
					 LAYOUT_MMIO_HOLE, 0x100000000000ull, UINT64_MAX - 3 };
	static const unsigned lens[] = { 1, 2, 4, 8 };
	for (size_t i = 0; i < sizeof(gpas) / sizeof(gpas[0]); i++) {
		for (size_t j = 0; j < 4; j++) {
			memset(f->run->mmio.data, 0x00, sizeof(f->run->mmio.data));
			assert_int_equal(mmio(f, gpas[i], lens[j], false), VCPU_CONTINUE);
			for (unsigned b = 0; b < 8; b++)
				assert_int_equal(f->run->mmio.data[b], b < lens[j] ? 0xff : 0x00);
		}
	}
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults + 6 * 4);
}

static void test_mmio_unmapped_write(void **state)
{
	struct fx *f = *state;
	unsigned long faults = log_guest_count();
	memset(f->run->mmio.data, 0x42, sizeof(f->run->mmio.data));
	assert_int_equal(mmio(f, LAYOUT_VIRTIO_BASE, 4, true), VCPU_CONTINUE);
	for (unsigned b = 0; b < 8; b++)
		assert_int_equal(f->run->mmio.data[b], 0x42); /* a write's data is left alone */
	assert_no_exit(f);
	assert_int_equal(log_guest_count(), faults + 1);
}

/* ---- vm_request_exit ----------------------------------------------------------------------- */

static void test_first_exit_wins(void **state)
{
	struct fx *f = *state;
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_EXIT, 7));
	outl(f, FLINT_PORT, FLINT_EV_VALUE(FLINT_EV_PANIC, 0));
	assert_int_equal(exit_reason(f, KVM_EXIT_SHUTDOWN), VCPU_STOP);
	outb(f, LAYOUT_I8042_CMD, 0xfe);
	assert_exit(f, 7, "the guest reported exit");
	assert_null(strstr(f->vm->exit_reason, "panic"));
	assert_null(strstr(f->vm->exit_reason, "triple"));

	vm_request_exit(f->vm, 99, "late %d", 1);
	assert_int_equal(f->vm->exit_status, 7);
	assert_string_equal(f->vm->exit_reason, "the guest reported exit");
}

static void test_request_exit_direct(void **state)
{
	struct fx *f = *state;
	vm_request_exit(f->vm, 130, "stopped by signal %u", 2u);
	assert_exit(f, 130, "stopped by signal 2");
	vm_request_exit(f->vm, 0, "second");
	assert_int_equal(f->vm->exit_status, 130);
}

static void test_request_exit_long_reason_truncated(void **state)
{
	struct fx *f = *state;
	char big[1000];
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vm_request_exit(f->vm, 125, "%s", big);
	assert_int_equal(strlen(f->vm->exit_reason), sizeof(f->vm->exit_reason) - 1);
}

struct racer {
	struct vm *vm;
	int status;
	pthread_barrier_t *go;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->go);
	vm_request_exit(r->vm, r->status, "racer %d", r->status);
	return NULL;
}

static void test_request_exit_race(void **state)
{
	struct fx *f = *state;
	/* Eight threads at once: exactly one status, with its own reason. */
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 8);
	pthread_t t[8];
	struct racer r[8];
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){ .vm = f->vm, .status = 10 + i, .go = &go };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	int s = f->vm->exit_status;
	assert_true(s >= 10 && s < 18);
	char want[32];
	snprintf(want, sizeof(want), "racer %d", s);
	assert_string_equal(f->vm->exit_reason, want);
}

/* ---- host invariants: a malformed kvm_run is a KVM bug, and aborts ------------------------- */

static void assert_aborts(struct fx *f, void (*prep)(struct kvm_run *))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2); /* the BUG line is expected */
		prep(f->run);
		vcpu_handle_exit(&f->v, f->run);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void io_base(struct kvm_run *run)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_IN;
	run->io.size = 1;
	run->io.port = 0x1234;
	run->io.count = 1;
	run->io.data_offset = DATA_OFF;
}

static void prep_size3(struct kvm_run *run)
{
	io_base(run);
	run->io.size = 3;
}

static void prep_offset_past(struct kvm_run *run)
{
	io_base(run);
	run->io.data_offset = RUN_SIZE + 1;
}

static void prep_count_past(struct kvm_run *run)
{
	io_base(run);
	run->io.size = 4;
	run->io.count = (RUN_SIZE - DATA_OFF) / 4 + 1;
}

static void prep_count_huge(struct kvm_run *run)
{
	io_base(run);
	run->io.size = 4;
	run->io.count = UINT32_MAX;
}

static void prep_mmio_len0(struct kvm_run *run)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = LAYOUT_VIRTIO_BASE;
	run->mmio.len = 0;
}

static void prep_mmio_len9(struct kvm_run *run)
{
	prep_mmio_len0(run);
	run->mmio.len = 9;
}

static void test_malformed_run_aborts(void **state)
{
	struct fx *f = *state;
	assert_aborts(f, prep_size3);
	assert_aborts(f, prep_offset_past);
	assert_aborts(f, prep_count_past);
	assert_aborts(f, prep_count_huge);
	assert_aborts(f, prep_mmio_len0);
	assert_aborts(f, prep_mmio_len9);
	assert_no_exit(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_flint_exit_status),
		T(test_flint_exit_status_masked_to_byte),
		T(test_flint_exit_zero),
		T(test_flint_panic),
		T(test_flint_poweroff),
		T(test_flint_progress_events),
		T(test_flint_unknown_event),
		T(test_flint_port_only_32bit),
		T(test_i8042_reset),
		T(test_i8042_status_reads_zero),
		T(test_unclaimed_ports_float_high),
		T(test_rep_outsb_com1),
		T(test_com2_separate),
		T(test_uart_wide_access_and_registers),
		T(test_rep_insb),
		T(test_io_at_end_of_run_area),
		T(test_shutdown_is_triple_fault),
		T(test_internal_error),
		T(test_fail_entry),
		T(test_system_event_shutdown),
		T(test_system_event_reset),
		T(test_system_event_crash),
		T(test_unknown_exit_fails_closed),
		T(test_unrequested_known_exits_fail_closed),
		T(test_mmio_unmapped_read),
		T(test_mmio_unmapped_write),
		T(test_first_exit_wins),
		T(test_request_exit_direct),
		T(test_request_exit_long_reason_truncated),
		T(test_request_exit_race),
		T(test_malformed_run_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
