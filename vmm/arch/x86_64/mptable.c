/* The Intel MultiProcessor table: how a kernel without ACPI finds its CPUs, IOAPIC and IRQ wiring. */
#include "x86.h"

#include <errno.h>
#include <string.h>

#include "../../layout.h"
#include "../../log.h"

/* MultiProcessor Specification 1.4, chapter 4. */
struct mpf {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specrev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count;
	uint32_t lapic;
	uint32_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag, reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };
#define CPU_ENABLED 1
#define CPU_BOOTPROCESSOR 2
#define APIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define IOAPIC_PINS 24

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

int x86_mptable_write(struct gmem *m, uint64_t gpa, uint64_t room, unsigned ncpus)
{
	size_t size = sizeof(struct mpf) + sizeof(struct mpc_header) +
		      ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + IOAPIC_PINS * sizeof(struct mpc_intsrc) +
		      2 * sizeof(struct mpc_intsrc);
	uint8_t *base = gm_ptr(m, gpa, size);
	if (ncpus == 0 || ncpus > LAYOUT_MAX_CPUS || size > room || !base) {
		log_err("MP table for %u CPUs does not fit", ncpus);
		return -E2BIG;
	}
	memset(base, 0, size);
	uint8_t ioapic_id = (uint8_t)ncpus; /* APIC IDs 0..ncpus-1 are the CPUs */

	struct mpf *mpf = (struct mpf *)base;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->specrev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));

	uint8_t *p = base + sizeof(*mpf);
	struct mpc_header *hdr = (struct mpc_header *)p;
	p += sizeof(*hdr);
	uint16_t count = 0;

	for (unsigned i = 0; i < ncpus; i++, count++) {
		struct mpc_cpu c = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = APIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
			.cpufeature = 0x600, /* family 6 */
			.featureflag = (1u << 0) | (1u << 9), /* FPU, APIC */
		};
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0 };
	memcpy(bus.bustype, "ISA   ", 6);
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	count++;
	struct mpc_ioapic io = { .type = MP_IOAPIC,
				 .apicid = ioapic_id,
				 .apicver = IOAPIC_VERSION,
				 .flags = 1,
				 .apicaddr = (uint32_t)LAYOUT_IOAPIC };
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	count++;
	/* Every ISA IRQ straight to the same IOAPIC pin; flags 0 = conforms to the bus (edge). */
	for (uint8_t irq = 0; irq < IOAPIC_PINS; irq++, count++) {
		struct mpc_intsrc s = { .type = MP_INTSRC,
					.irqtype = MP_INT,
					.srcbus = 0,
					.srcbusirq = irq,
					.dstapic = ioapic_id,
					.dstirq = irq };
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
	}
	/* Local interrupts to all LAPICs (0xff): LINT0 ExtINT, LINT1 NMI. */
	struct mpc_intsrc lint[2] = {
		{ .type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff, .dstirq = 0 },
		{ .type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff, .dstirq = 1 },
	};
	memcpy(p, lint, sizeof(lint));
	p += sizeof(lint);
	count += 2;

	memcpy(hdr->signature, "PCMP", 4);
	hdr->length = (uint16_t)(p - (uint8_t *)hdr);
	hdr->spec = 4;
	memcpy(hdr->oem, "FLINT   ", 8);
	memcpy(hdr->product, "MICROVM     ", 12);
	hdr->count = count;
	hdr->lapic = (uint32_t)LAYOUT_LAPIC;
	hdr->checksum = checksum(hdr, hdr->length);
	return (int)(p - base);
}
