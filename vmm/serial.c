/* A 16550A UART: the registers Linux's 8250 driver probes and uses, transmit-only toward the host. */
#include "serial.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Register offsets and bits (16550A data sheet). */
#define UART_RX 0
#define UART_TX 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

void serial_init(struct serial *s, uint16_t base, unsigned gsi, int out_fd, serial_irq_fn irq,
		 void *irq_ctx)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->base = base;
	s->gsi = gsi;
	s->out_fd = out_fd;
	s->irq = irq;
	s->irq_ctx = irq_ctx;
	s->lcr = 0x03; /* 8N1, as firmware would leave it */
	s->mcr = 0x08; /* OUT2: the PC wiring that routes the UART interrupt */
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* Called with the lock held after any state change that can move the interrupt line. */
static void update_irq(struct serial *s)
{
	bool level = (s->ier & IER_THRI) && s->thr_ipending;
	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->irq)
		s->irq(s->irq_ctx, s->gsi, level);
}

static void transmit(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP)
		return; /* loopback: the byte goes to our own receiver, which we do not model */
	s->bytes_out++;
	if (s->out_fd < 0)
		return;
	/* The console is the user's terminal or a file: retry EINTR, drop on any other error. */
	while (write(s->out_fd, &c, 1) < 0 && errno == EINTR)
		;
}

uint8_t serial_read(struct serial *s, unsigned off)
{
	uint8_t v = 0;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RX:
		v = (s->lcr & LCR_DLAB) ? s->dll : 0; /* nothing is ever received */
		break;
	case UART_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
		if ((s->ier & IER_THRI) && s->thr_ipending) {
			v |= IIR_THRI;
			s->thr_ipending = false; /* reading IIR acknowledges THRE */
		} else {
			v |= IIR_NO_INT;
		}
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT; /* transmission is instantaneous */
		break;
	case UART_MSR:
		if (s->mcr & MCR_LOOP) /* loopback reflects the modem-control outputs */
			v = (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) |
				      ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
		else
			v = MSR_DCD | MSR_DSR | MSR_CTS;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return v;
}

void serial_write(struct serial *s, unsigned off, uint8_t val)
{
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_TX:
		if (s->lcr & LCR_DLAB) {
			s->dll = val;
		} else {
			transmit(s, val);
			s->thr_ipending = true; /* THR is empty again at once */
		}
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = val;
		} else {
			/* Enabling THRE interrupts while THR is empty raises one at once. */
			if (!(s->ier & IER_THRI) && (val & IER_THRI))
				s->thr_ipending = true;
			s->ier = val & 0x0f;
		}
		break;
	case UART_FCR:
		s->fcr = val & 0xc9;
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & 0x1f;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}
