/* The 8250 registers Linux's serial driver probes (IER, SCR, LCR, divisor latch, IIR), then all 256 byte values on the console. */
#include "guest.h"

const char guest_name[] = "uart";

#define COM1 0x3f8
#define THR 0
#define DLL 0 /* with LCR.DLAB */
#define IER 1
#define DLM 1 /* with LCR.DLAB */
#define IIR 2
#define LCR 3
#define SCR 7
#define LCR_DLAB 0x80
#define LCR_8N1 0x03

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	/* Linux's autoconfig: IER must keep what is written to its low nibble. */
	outb(COM1 + IER, 0);
	if ((inb(COM1 + IER) & 0x0f) != 0)
		fail(1, "IER does not read back 0");
	outb(COM1 + IER, 0x0f);
	if ((inb(COM1 + IER) & 0x0f) != 0x0f)
		fail(2, "IER does not read back 0x0f");
	outb(COM1 + IER, 0);
	if (!(inb(COM1 + IIR) & 1))
		fail(3, "IIR reports an interrupt pending with IER 0");
	outb(COM1 + SCR, 0xa5);
	if (inb(COM1 + SCR) != 0xa5)
		fail(4, "the scratch register does not keep 0xa5");
	/* Setting the baud rate: these writes go to the divisor latch, never to the console. */
	outb(COM1 + LCR, LCR_DLAB | LCR_8N1);
	outb(COM1 + DLL, 0x0c);
	outb(COM1 + DLM, 0x00);
	if (inb(COM1 + DLL) != 0x0c || inb(COM1 + DLM) != 0)
		fail(5, "the divisor latch does not read back 0x000c");
	outb(COM1 + LCR, LCR_8N1);
	if (inb(COM1 + LCR) != LCR_8N1)
		fail(6, "LCR does not read back 0x03");
	for (unsigned i = 0; i < 256; i++)
		serial_putc((char)i);
	return 0;
}
