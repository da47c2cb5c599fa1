/* The guest physical address map, IRQ and port assignments: the only place they are written down. */
#ifndef FLINT_LAYOUT_H
#define FLINT_LAYOUT_H

/*
 * 0x0000_0000  real-mode IVT/BDA (RAM, left untouched)
 * 0x0000_6000  hvm_start_info (PVH boot ABI)
 * 0x0000_7000  PVH memory map entries
 * 0x0002_0000  kernel command line
 * 0x0009_fc00  EBDA: MP floating pointer + MP config table (reserved)
 * 0x000a_0000  legacy VGA/ROM hole (reserved, not RAM)
 * 0x0010_0000  RAM continues; the kernel ELF is loaded at its own physical addresses
 * 0xc000_0000  32-bit MMIO hole: virtio-mmio windows, IOAPIC, LAPIC, KVM TSS
 * 0x1_0000_0000 RAM above 3 GiB, when --mem asks for more than fits below the hole
 */
#define LAYOUT_START_INFO 0x6000ull
#define LAYOUT_MEMMAP 0x7000ull
#define LAYOUT_MEMMAP_MAX 32u
#define LAYOUT_CMDLINE 0x20000ull
#define LAYOUT_CMDLINE_MAX 2048u /* x86 COMMAND_LINE_SIZE, including the NUL */
#define LAYOUT_EBDA 0x9fc00ull
#define LAYOUT_LOWMEM_END 0xa0000ull
#define LAYOUT_HIMEM 0x100000ull

#define LAYOUT_MMIO_HOLE 0xc0000000ull
#define LAYOUT_MMIO_HOLE_END 0x100000000ull
#define LAYOUT_VIRTIO_BASE 0xd0000000ull
#define LAYOUT_VIRTIO_STRIDE 0x1000ull
#define LAYOUT_VIRTIO_MAX 16u /* windows n = 0.. in order: the disks (vda first), vsock, net */
#define LAYOUT_IOAPIC 0xfec00000ull
#define LAYOUT_LAPIC 0xfee00000ull
#define LAYOUT_KVM_TSS 0xfffbd000ull /* 3 pages KVM needs on Intel for real-mode emulation */
#define LAYOUT_KVM_IDENTITY 0xfffbc000ull

/*
 * GSIs: the UART on its ISA line, virtio devices from 5 up, one each (window n: GSI 5 + n), within
 * the IOAPIC's 24 pins. With the most devices (8 disks, vsock, net) the last is GSI 14.
 */
#define LAYOUT_SERIAL_PORT 0x3f8u
#define LAYOUT_SERIAL_IRQ 4u
#define LAYOUT_VIRTIO_IRQ_BASE 5u
#define LAYOUT_I8042_CMD 0x64u /* a write of 0xfe here is the guest's reset (reboot=k) */

#define LAYOUT_MEM_MIN_MIB 32ull
#define LAYOUT_MEM_MAX_MIB (256ull * 1024)
#define LAYOUT_MAX_CPUS 8u

#endif
