/* Shared helpers for the flint test guests: port and MMIO access, serial output, reporting to the VMM. */
#ifndef FLINT_TEST_GUEST_H
#define FLINT_TEST_GUEST_H

#include <stdint.h>

#include "flint_port.h"

/* PVH boot ABI start info (xen/include/public/arch-x86/hvm/start_info.h), version 1. */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
#define HVM_START_MAGIC 0x336ec578u

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* Paging is off, so a physical address is a pointer; volatile keeps every access a real MMIO exit. */
static inline uint32_t mmio_read32(uint32_t addr) { return *(volatile uint32_t *)addr; }
static inline uint8_t mmio_read8(uint32_t addr) { return *(volatile uint8_t *)addr; }
static inline void mmio_write32(uint32_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }
static inline void mmio_write8(uint32_t addr, uint8_t v) { *(volatile uint8_t *)addr = v; }

/* Stops the compiler from moving ring writes across a notify; x86 keeps stores ordered itself. */
#define barrier() __asm__ volatile("" ::: "memory")

void flint_event(unsigned ev, unsigned arg);
__attribute__((noreturn)) void flint_exit(unsigned status);
/* Prints "name: FAIL <why>\n" on the serial port, then exits with code, so the test log tells which step failed. */
__attribute__((noreturn)) void fail(unsigned code, const char *why);
void serial_putc(char c);
void serial_puts(const char *s);
void serial_puthex(uint32_t v);

/* The value after "key=" in the kernel command line, as a decimal; def when absent. */
uint64_t cmdline_u64(const struct hvm_start_info *si, const char *key, uint64_t def);

/* Defined by each guest: its name for messages, and its body; the return value is the exit status. */
extern const char guest_name[];
int guest_main(const struct hvm_start_info *si);

/* gcc may emit calls to these even when freestanding. */
void *memset(void *d, int c, unsigned n);
void *memcpy(void *d, const void *s, unsigned n);
int memcmp(const void *a, const void *b, unsigned n);

#endif
