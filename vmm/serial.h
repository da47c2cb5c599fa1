/* A 16550A-compatible UART (COM1/COM2): transmit to a host fd, enough registers for Linux's 8250 driver. */
#ifndef FLINT_SERIAL_H
#define FLINT_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct serial;
typedef void (*serial_irq_fn)(void *ctx, unsigned gsi, bool level);

struct serial {
	pthread_mutex_t lock;
	uint16_t base; /* first I/O port, 8 ports */
	unsigned gsi;
	int out_fd;    /* -1: output discarded */
	serial_irq_fn irq;
	void *irq_ctx;
	bool irq_level;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_ipending; /* a THR-empty interrupt is owed until IIR is read or THR written */
	unsigned long bytes_out;
};

/* out_fd is borrowed, may be -1. irq may be NULL (no interrupts, e.g. in tests). */
void serial_init(struct serial *s, uint16_t base, unsigned gsi, int out_fd, serial_irq_fn irq,
		 void *irq_ctx);
void serial_destroy(struct serial *s);

/* Port access at offset off (0..7) from base; one byte at a time. */
uint8_t serial_read(struct serial *s, unsigned off);
void serial_write(struct serial *s, unsigned off, uint8_t val);

#endif
