/* The shared guest runtime: serial output, flint-port events, command-line parsing, mem* for gcc. */
#include "guest.h"

#define COM1 0x3f8
#define LSR_THRE 0x20

void flint_event(unsigned ev, unsigned arg) { outl(FLINT_PORT, FLINT_EV_VALUE(ev, arg)); }

void flint_exit(unsigned status)
{
	flint_event(FLINT_EV_EXIT, status);
	/* The VMM should have stopped us; if not, park so the test's timeout reports it. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void serial_putc(char c)
{
	/* Bounded: a UART that never reports THR empty must not hang the guest. */
	for (int i = 0; i < 1000 && !(inb(COM1 + 5) & LSR_THRE); i++)
		;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

void serial_puthex(uint32_t v)
{
	serial_puts("0x");
	for (int sh = 28; sh >= 0; sh -= 4)
		serial_putc("0123456789abcdef"[(v >> sh) & 0xf]);
}

void fail(unsigned code, const char *why)
{
	serial_puts(guest_name);
	serial_puts(": FAIL ");
	serial_puts(why);
	serial_putc('\n');
	flint_exit(code);
}

uint64_t cmdline_u64(const struct hvm_start_info *si, const char *key, uint64_t def)
{
	if (si->magic != HVM_START_MAGIC || !si->cmdline_paddr || si->cmdline_paddr >= 0xc0000000ull)
		return def;
	const char *p = (const char *)(uint32_t)si->cmdline_paddr;
	for (unsigned i = 0; i < 2048 && p[i]; i++) {
		if (i > 0 && p[i - 1] != ' ')
			continue;
		unsigned k = 0;
		while (key[k] && p[i + k] == key[k])
			k++;
		if (key[k] || p[i + k] != '=')
			continue;
		uint64_t v = 0;
		const char *d = p + i + k + 1;
		if (*d < '0' || *d > '9')
			return def;
		while (*d >= '0' && *d <= '9')
			v = v * 10 + (uint64_t)(*d++ - '0');
		return v;
	}
	return def;
}

void *memset(void *d, int c, unsigned n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, unsigned n)
{
	const unsigned char *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}
