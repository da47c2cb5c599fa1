/* Unit tests for the 16550A UART (vmm/serial.c): output, registers, DLAB, THRE interrupts, loopback. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "serial.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5,
       MSR = 6, SCR = 7 };
#define GSI 4u

/* The fake interrupt line: every call recorded. */
struct irq_log {
	unsigned calls;
	bool level[64];
	unsigned gsi;
	void *ctx;
};

static void irq_cb(void *ctx, unsigned gsi, bool level)
{
	struct irq_log *l = ctx;
	if (l->calls < 64)
		l->level[l->calls] = level;
	l->calls++;
	l->gsi = gsi;
	l->ctx = ctx;
}

struct fx {
	struct serial s;
	int pipe[2];
	struct irq_log irq;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	serial_init(&f->s, 0x3f8, GSI, f->pipe[1], irq_cb, &f->irq);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	serial_destroy(&f->s);
	close(f->pipe[0]);
	close(f->pipe[1]);
	free(f);
	return 0;
}

/* Everything written to the pipe so far (non-blocking read). */
static size_t drain(struct fx *f, uint8_t *buf, size_t cap)
{
	ssize_t n = read(f->pipe[0], buf, cap);
	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return (size_t)n;
}

static void test_init_state(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->s.base, 0x3f8);
	assert_int_equal(serial_read(&f->s, LCR), 0x03);
	assert_int_equal(serial_read(&f->s, MCR), 0x08);
	assert_int_equal(serial_read(&f->s, IER), 0);
	assert_int_equal(serial_read(&f->s, IIR), 0x01); /* no FIFO, nothing pending */
	assert_int_equal(serial_read(&f->s, RBR), 0);	   /* nothing is ever received */
	assert_int_equal(f->irq.calls, 0);
}

static void test_thr_bytes_reach_pipe(void **state)
{
	struct fx *f = *state;
	const uint8_t msg[] = { 'h', 'i', '\n', 0x00, 0xff, 0x1b, '[', 'm', 0x80 };
	for (size_t i = 0; i < sizeof(msg); i++)
		serial_write(&f->s, THR, msg[i]);
	uint8_t got[64];
	size_t n = drain(f, got, sizeof(got));
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(f->s.bytes_out, sizeof(msg));
	/* Writes elsewhere transmit nothing. */
	serial_write(&f->s, SCR, 'x');
	serial_write(&f->s, LSR, 'y');
	serial_write(&f->s, MSR, 'z');
	assert_int_equal(drain(f, got, sizeof(got)), 0);
}

static void test_lsr(void **state)
{
	struct fx *f = *state;
	assert_int_equal(serial_read(&f->s, LSR), 0x60); /* THRE | TEMT, no DR */
	serial_write(&f->s, THR, 'a');
	assert_int_equal(serial_read(&f->s, LSR), 0x60); /* transmission is instant */
	serial_write(&f->s, LSR, 0x00);			 /* read-only */
	assert_int_equal(serial_read(&f->s, LSR), 0x60);
}

static void test_scratch(void **state)
{
	struct fx *f = *state;
	for (unsigned v = 0; v < 256; v += 0x11) {
		serial_write(&f->s, SCR, (uint8_t)v);
		assert_int_equal(serial_read(&f->s, SCR), v);
	}
	serial_write(&f->s, SCR, 0xa5);
	serial_write(&f->s, LCR, 0x83); /* DLAB does not affect SCR */
	assert_int_equal(serial_read(&f->s, SCR), 0xa5);
}

static void test_dlab(void **state)
{
	struct fx *f = *state;
	uint8_t got[16];
	serial_write(&f->s, IER, 0x05);
	serial_write(&f->s, LCR, 0x83); /* DLAB on */
	assert_int_equal(serial_read(&f->s, LCR), 0x83);
	serial_write(&f->s, DLL, 0x01); /* 115200 baud */
	serial_write(&f->s, DLM, 0x02);
	assert_int_equal(serial_read(&f->s, DLL), 0x01);
	assert_int_equal(serial_read(&f->s, DLM), 0x02);
	assert_int_equal(drain(f, got, sizeof(got)), 0); /* a DLL write is not a byte out */
	assert_int_equal(f->s.bytes_out, 0);
	serial_write(&f->s, LCR, 0x03); /* DLAB off */
	assert_int_equal(serial_read(&f->s, IER), 0x05); /* IER kept, not overwritten by DLM */
	assert_int_equal(serial_read(&f->s, RBR), 0);
	serial_write(&f->s, THR, 'Q');
	assert_int_equal(drain(f, got, sizeof(got)), 1);
	assert_int_equal(got[0], 'Q');
	serial_write(&f->s, LCR, 0x80); /* back on: the divisor survived */
	assert_int_equal(serial_read(&f->s, DLL), 0x01);
	assert_int_equal(serial_read(&f->s, DLM), 0x02);
	assert_int_equal(f->irq.calls, 0); /* IER 0x05 has no THRI */
}

static void test_ier_masks_high_bits(void **state)
{
	struct fx *f = *state;
	serial_write(&f->s, IER, 0xf0);
	assert_int_equal(serial_read(&f->s, IER), 0);
	assert_int_equal(f->irq.calls, 0);
}

static void test_thri_raise_ack_raise(void **state)
{
	struct fx *f = *state;
	serial_write(&f->s, IER, 0x02); /* THRI on while THR is empty: raise at once */
	assert_int_equal(f->irq.calls, 1);
	assert_true(f->irq.level[0]);
	assert_int_equal(f->irq.gsi, GSI);
	assert_ptr_equal(f->irq.ctx, &f->irq);
	assert_true(f->s.irq_level);

	assert_int_equal(serial_read(&f->s, IIR), 0x02); /* THRE pending, no FIFO bits */
	assert_int_equal(f->irq.calls, 2);
	assert_false(f->irq.level[1]); /* reading IIR acknowledged it */
	assert_int_equal(serial_read(&f->s, IIR), 0x01); /* now nothing */
	assert_int_equal(f->irq.calls, 2);		   /* no redundant edge */

	serial_write(&f->s, THR, 'x'); /* THR empties again: raise */
	assert_int_equal(f->irq.calls, 3);
	assert_true(f->irq.level[2]);
	serial_write(&f->s, THR, 'y'); /* already high: no new call */
	assert_int_equal(f->irq.calls, 3);

	serial_write(&f->s, IER, 0x00); /* masking lowers the line, the THRE stays owed */
	assert_int_equal(f->irq.calls, 4);
	assert_false(f->irq.level[3]);
	assert_int_equal(serial_read(&f->s, IIR), 0x01);
	serial_write(&f->s, IER, 0x02);
	assert_int_equal(f->irq.calls, 5);
	assert_true(f->irq.level[4]);
	assert_int_equal(serial_read(&f->s, IIR), 0x02);
	assert_int_equal(f->irq.calls, 6);
	assert_false(f->irq.level[5]);
	/* Re-writing IER with THRI already set does not invent a new THRE. */
	serial_write(&f->s, IER, 0x03);
	assert_int_equal(f->irq.calls, 6);
	assert_int_equal(serial_read(&f->s, IIR), 0x01);
}

static void test_iir_fifo_bits(void **state)
{
	struct fx *f = *state;
	serial_write(&f->s, FCR, 0x07); /* enable + clear both FIFOs */
	assert_int_equal(serial_read(&f->s, IIR), 0xc1);
	serial_write(&f->s, IER, 0x02);
	assert_int_equal(serial_read(&f->s, IIR), 0xc2);
	assert_int_equal(serial_read(&f->s, IIR), 0xc1);
	serial_write(&f->s, FCR, 0x00);
	assert_int_equal(serial_read(&f->s, IIR), 0x01);
	/* FCR is write-only at offset 2: a read there is IIR, never the FCR value. */
	serial_write(&f->s, FCR, 0xc1);
	assert_int_equal(serial_read(&f->s, IIR), 0xc1);
}

static void test_loopback(void **state)
{
	struct fx *f = *state;
	uint8_t got[16];
	/* Linux's 8250 probe: MCR = LOOP | RTS | OUT2, expect MSR high nibble 0x90. */
	serial_write(&f->s, MCR, 0x10 | 0x0a);
	assert_int_equal(serial_read(&f->s, MCR), 0x1a);
	assert_int_equal(serial_read(&f->s, MSR) & 0xf0, 0x90);
	serial_write(&f->s, THR, 'L');
	assert_int_equal(drain(f, got, sizeof(got)), 0); /* loopback: nothing out */
	assert_int_equal(f->s.bytes_out, 0);
	/* MSR reflects each MCR output: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	static const struct {
		uint8_t mcr, msr;
	} map[] = { { 0x10, 0x00 }, { 0x11, 0x20 }, { 0x12, 0x10 }, { 0x14, 0x40 },
		    { 0x18, 0x80 }, { 0x1f, 0xf0 } };
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		serial_write(&f->s, MCR, map[i].mcr);
		assert_int_equal(serial_read(&f->s, MSR), map[i].msr);
	}
	serial_write(&f->s, MCR, 0xff); /* bits above LOOP are not stored */
	assert_int_equal(serial_read(&f->s, MCR), 0x1f);
	/* Loopback off: output resumes, MSR reports a connected modem. */
	serial_write(&f->s, MCR, 0x0b);
	assert_int_equal(serial_read(&f->s, MSR), 0xb0);
	serial_write(&f->s, THR, 'R');
	assert_int_equal(drain(f, got, sizeof(got)), 1);
	assert_int_equal(got[0], 'R');
}

static void test_out_fd_minus_one_discards(void **state)
{
	(void)state;
	struct serial s;
	serial_init(&s, 0x2f8, 3, -1, NULL, NULL); /* no fd, no irq callback */
	for (int i = 0; i < 100; i++)
		serial_write(&s, THR, (uint8_t)i);
	assert_int_equal(s.bytes_out, 100);
	assert_int_equal(serial_read(&s, LSR), 0x60);
	serial_write(&s, IER, 0x02); /* no callback: the level is still tracked */
	assert_true(s.irq_level);
	assert_int_equal(serial_read(&s, IIR), 0x02);
	assert_false(s.irq_level);
	serial_destroy(&s);
}

static void test_out_fd_closed_pipe_is_dropped(void **state)
{
	struct fx *f = *state;
	/* A console whose reader went away: the byte is dropped, no crash, no signal death. */
	close(f->pipe[0]);
	f->pipe[0] = open("/dev/null", O_RDONLY);
	struct sigaction sa = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGPIPE, &sa, &old);
	serial_write(&f->s, THR, 'z');
	sigaction(SIGPIPE, &old, NULL);
	assert_int_equal(f->s.bytes_out, 1);
}

static void test_bad_offsets(void **state)
{
	struct fx *f = *state;
	/* Offsets past 7 are never produced by the port decoder; they must still be harmless. */
	assert_int_equal(serial_read(&f->s, 8), 0);
	serial_write(&f->s, 8, 0x41);
	serial_write(&f->s, 1000, 0x41);
	uint8_t got[4];
	assert_int_equal(drain(f, got, sizeof(got)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thr_bytes_reach_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lsr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ier_masks_high_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thri_raise_ack_raise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_fifo_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test(test_out_fd_minus_one_discards),
		cmocka_unit_test_setup_teardown(test_out_fd_closed_pipe_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_offsets, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
