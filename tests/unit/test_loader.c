/* Unit tests for the ELF + PVH loader (vmm/loader.c) over hand-built images, valid and hostile. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "layout.h"
#include "loader.h"
#include "mem.h"

#define RAM (32u << 20)
#define LOAD_PA (16u << 20)
#define ENTRY (LOAD_PA + 0x40)
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Image layout: header, program headers, notes at 0x100, segment bytes at 0x200. */
#define OFF_NOTE 0x100u
#define OFF_DATA 0x200u
#define DATA_LEN 0x100u
#define MEMSZ 0x1000u
#define IMG_SIZE (OFF_DATA + DATA_LEN)
#define GUARD 0xcc

static uint8_t *ram;
static struct gmem gm;
static union {
	uint8_t b[0x2000];
	uint64_t align;
} img;
static uint64_t img_size;
static bool is64;
static struct loaded_kernel lk;

/* Typed views of the image being built (the image buffer is 8-byte aligned). */
#define EH64 ((Elf64_Ehdr *)img.b)
#define PH64 ((Elf64_Phdr *)(img.b + sizeof(Elf64_Ehdr)))
#define EH32 ((Elf32_Ehdr *)img.b)
#define PH32 ((Elf32_Phdr *)(img.b + sizeof(Elf32_Ehdr)))
enum { PH_LOAD = 0, PH_NOTE = 1, NR_PH = 2 };

/* One ELF note with its name and descriptor padded to 4 bytes. Returns its size. */
static size_t put_note(uint8_t *p, uint32_t type, const char *name, uint32_t namesz,
		       const void *desc, uint32_t descsz)
{
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	size_t o = 12;
	memcpy(p + o, name, namesz);
	o += (namesz + 3u) & ~3u;
	memcpy(p + o, desc, descsz);
	o += (descsz + 3u) & ~3u;
	return o;
}

/* Offsets of the Xen note's fields, for the note-corrupting tests. */
static size_t xen_note_off, note_len;

static size_t put_notes(uint8_t *p, bool desc64)
{
	static const uint8_t build_id[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					      11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	size_t o = put_note(p, NT_GNU_BUILD_ID, "GNU", 4, build_id, sizeof(build_id));
	/* A note of the right type under another name is not the PVH note. */
	uint32_t decoy = 0x1234;
	o += put_note(p + o, XEN_ELFNOTE_PHYS32_ENTRY, "Xe", 3, &decoy, 4);
	xen_note_off = o;
	if (desc64) {
		uint64_t e = ENTRY;
		o += put_note(p + o, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", 4, &e, 8);
	} else {
		uint32_t e = ENTRY;
		o += put_note(p + o, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", 4, &e, 4);
	}
	return o;
}

static void fill_data(void)
{
	for (unsigned i = 0; i < DATA_LEN; i++)
		img.b[OFF_DATA + i] = (uint8_t)(i * 7 + 1);
}

static void build64(void)
{
	memset(&img, 0, sizeof(img));
	is64 = true;
	Elf64_Ehdr *eh = EH64;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0xffffffff81000000ull; /* the virtual entry, which PVH ignores */
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = NR_PH;
	note_len = put_notes(img.b + OFF_NOTE, true);
	PH64[PH_LOAD] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				      .p_offset = OFF_DATA, .p_vaddr = 0xffffffff81000000ull,
				      .p_paddr = LOAD_PA, .p_filesz = DATA_LEN, .p_memsz = MEMSZ,
				      .p_align = 0x1000 };
	PH64[PH_NOTE] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = OFF_NOTE,
				      .p_filesz = note_len, .p_memsz = note_len, .p_align = 4 };
	fill_data();
	img_size = IMG_SIZE;
}

static void build32(void)
{
	memset(&img, 0, sizeof(img));
	is64 = false;
	Elf32_Ehdr *eh = EH32;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_version = EV_CURRENT;
	eh->e_entry = LOAD_PA;
	eh->e_phoff = sizeof(Elf32_Ehdr);
	eh->e_ehsize = sizeof(Elf32_Ehdr);
	eh->e_phentsize = sizeof(Elf32_Phdr);
	eh->e_phnum = NR_PH;
	note_len = put_notes(img.b + OFF_NOTE, false);
	PH32[PH_LOAD] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_offset = OFF_DATA, .p_vaddr = LOAD_PA,
				      .p_paddr = LOAD_PA, .p_filesz = DATA_LEN, .p_memsz = MEMSZ,
				      .p_flags = PF_R | PF_X, .p_align = 0x1000 };
	PH32[PH_NOTE] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = OFF_NOTE,
				      .p_filesz = (uint32_t)note_len, .p_memsz = (uint32_t)note_len,
				      .p_align = 4 };
	fill_data();
	img_size = IMG_SIZE;
}

/* What the loader printed during the last load() (its one message naming the problem). */
static char last_log[1024];

/*
 * Load a copy of exactly img_size bytes from the heap, so ASan sees any read past the end.
 * stderr is captured meanwhile (and restored before any assertion can print).
 */
static int load(void)
{
	uint8_t *copy = malloc(img_size ? img_size : 1);
	assert_non_null(copy);
	memcpy(copy, img.b, img_size);
	memset(&lk, 0x77, sizeof(lk));
	FILE *cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	dup2(fileno(cap), 2);
	int r = loader_load_elf_image(&gm, copy, img_size, "test-kernel", &lk);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(cap);
	size_t n = fread(last_log, 1, sizeof(last_log) - 1, cap);
	last_log[n] = '\0';
	fclose(cap);
	free(copy);
	return r;
}

/* Refused with -ENOEXEC and a message that names the cause. */
static void refused_with(const char *why, int line)
{
	int r = load();
	if (r != -ENOEXEC)
		fail_msg("line %d: load returned %d, not -ENOEXEC (log: %s)", line, r, last_log);
	if (!strstr(last_log, why))
		fail_msg("line %d: message \"%s\" does not say \"%s\"", line, last_log, why);
	if (!strstr(last_log, "test-kernel"))
		fail_msg("line %d: message \"%s\" does not name the file", line, last_log);
}
#define assert_refused(why) refused_with(why, __LINE__)
#define NOT_ELF "not an ELF file"
#define NOT_LE64 "not a little-endian 32- or 64-bit ELF"
#define MACHINE "is not x86"
#define PHDRS "bad ELF program header table"
#define SEG_FILE "segment 0 lies outside the file"
#define SEG_RAM "segment 0 at 0x"
#define NOTE_FILE "note segment lies outside the file"
#define NOTE_BAD "malformed ELF note"
#define NO_NOTE "no PVH entry note"
#define ENTRY_OUT "is outside the loaded image"
#define NO_LOAD "no loadable segments"

static int group_setup(void **state)
{
	(void)state;
	ram = malloc(RAM);
	if (!ram)
		return -1;
	gmem_init_fake(&gm, ram, RAM);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static int setup64(void **state)
{
	(void)state;
	memset(ram, GUARD, RAM);
	build64();
	return 0;
}

static int setup32(void **state)
{
	(void)state;
	memset(ram, GUARD, RAM);
	build32();
	return 0;
}

/* ---- valid images -------------------------------------------------------------------------- */

static void assert_loaded_at(uint64_t pa)
{
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(ram[pa + i], (uint8_t)(i * 7 + 1));
	for (unsigned i = DATA_LEN; i < MEMSZ; i++)
		if (ram[pa + i] != 0)
			fail_msg("bss byte 0x%x is 0x%02x, not zeroed", i, ram[pa + i]);
	assert_int_equal(ram[pa - 1], GUARD);	  /* nothing written below */
	assert_int_equal(ram[pa + MEMSZ], GUARD); /* nor past memsz */
}

static void test_valid_elf64(void **state)
{
	(void)state;
	assert_int_equal(load(), 0);
	assert_int_equal(lk.entry, ENTRY);
	assert_int_equal(lk.low, LOAD_PA);
	assert_int_equal(lk.end, LOAD_PA + MEMSZ);
	assert_loaded_at(LOAD_PA);
}

/* The image may sit at any byte offset: headers are copied, never read through a cast. */
static void test_unaligned_image(void **state)
{
	(void)state;
	static union {
		uint8_t b[IMG_SIZE + 1];
		uint64_t a;
	} u;
	memcpy(u.b + 1, img.b, IMG_SIZE);
	assert_int_equal(loader_load_elf_image(&gm, u.b + 1, IMG_SIZE, "t", &lk), 0);
	assert_int_equal(lk.entry, ENTRY);
}

static void test_valid_elf32(void **state)
{
	(void)state;
	assert_int_equal(load(), 0);
	assert_int_equal(lk.entry, ENTRY);
	assert_int_equal(lk.low, LOAD_PA);
	assert_int_equal(lk.end, LOAD_PA + MEMSZ);
	assert_loaded_at(LOAD_PA);
}

static void test_valid_two_segments_note_first(void **state)
{
	(void)state;
	/* Note first, then two loads out of address order; low/end span both. */
	Elf64_Phdr note = PH64[PH_NOTE], load0 = PH64[PH_LOAD];
	Elf64_Phdr load1 = load0;
	load1.p_paddr = 4u << 20;
	load1.p_memsz = DATA_LEN; /* no bss */
	PH64[0] = note;
	PH64[1] = load0;
	PH64[2] = load1;
	EH64->e_phnum = 3;
	assert_true(sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr) <= OFF_NOTE);
	assert_int_equal(load(), 0);
	assert_int_equal(lk.low, 4u << 20);
	assert_int_equal(lk.end, LOAD_PA + MEMSZ);
	assert_int_equal(lk.entry, ENTRY);
	assert_loaded_at(LOAD_PA);
	assert_memory_equal(ram + (4u << 20), img.b + OFF_DATA, DATA_LEN);
	assert_int_equal(ram[(4u << 20) + DATA_LEN], GUARD);
}

static void test_valid_at_1mib_and_ram_end(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_paddr = LAYOUT_HIMEM;
	uint32_t e = LAYOUT_HIMEM;
	memcpy(img.b + OFF_NOTE + xen_note_off + 16, &e, 4);
	memset(img.b + OFF_NOTE + xen_note_off + 20, 0, 4);
	assert_int_equal(load(), 0);
	assert_int_equal(lk.low, LAYOUT_HIMEM);
	assert_int_equal(lk.entry, LAYOUT_HIMEM);
	assert_loaded_at(LAYOUT_HIMEM);

	/* A segment ending exactly at the end of RAM, entry on its last byte. */
	memset(ram, GUARD, RAM);
	PH64[PH_LOAD].p_paddr = RAM - MEMSZ;
	uint64_t e64 = RAM - 1;
	memcpy(img.b + OFF_NOTE + xen_note_off + 16, &e64, 8);
	assert_int_equal(load(), 0);
	assert_int_equal(lk.end, RAM);
	assert_int_equal(lk.entry, RAM - 1);
	assert_memory_equal(ram + RAM - MEMSZ, img.b + OFF_DATA, DATA_LEN);
	assert_int_equal(ram[RAM - 1], 0);
}

static void test_valid_zero_memsz_segment_ignored(void **state)
{
	(void)state;
	Elf64_Phdr empty = { .p_type = PT_LOAD, .p_offset = UINT64_MAX, .p_paddr = 0,
			     .p_filesz = 0, .p_memsz = 0 };
	PH64[2] = empty;
	EH64->e_phnum = 3;
	assert_int_equal(load(), 0);
	assert_int_equal(lk.low, LOAD_PA);
}

/* ---- hostile headers ----------------------------------------------------------------------- */

static void test_truncated_header(void **state)
{
	(void)state;
	img_size = 0;
	assert_refused(NOT_ELF);
	img_size = 4;
	assert_refused(NOT_ELF);
	img_size = sizeof(Elf32_Ehdr) - 1;
	assert_refused(NOT_ELF);
	img_size = sizeof(Elf64_Ehdr) - 1; /* enough for ELF32, not for this ELF64 */
	assert_refused(NOT_LE64);
}

static void test_wrong_magic(void **state)
{
	(void)state;
	img.b[0] = 0x7e;
	assert_refused(NOT_ELF);
	build64();
	img.b[3] = 'f';
	assert_refused(NOT_ELF);
}

static void test_big_endian_and_bad_class(void **state)
{
	(void)state;
	img.b[EI_DATA] = ELFDATA2MSB;
	assert_refused(NOT_LE64);
	img.b[EI_DATA] = ELFDATANONE;
	assert_refused(NOT_LE64);
	build64();
	img.b[EI_CLASS] = ELFCLASSNONE;
	assert_refused(NOT_LE64);
	img.b[EI_CLASS] = 3;
	assert_refused(NOT_LE64);
}

static void test_wrong_machine(void **state)
{
	(void)state;
	EH64->e_machine = EM_386; /* a 64-bit file for i386 */
	assert_refused(MACHINE);
	EH64->e_machine = EM_AARCH64;
	assert_refused(MACHINE);
	build32();
	EH32->e_machine = EM_X86_64; /* a 32-bit file for x86-64 */
	assert_refused(MACHINE);
}

static void test_phnum(void **state)
{
	(void)state;
	EH64->e_phnum = 0;
	assert_refused(PHDRS);
	EH64->e_phnum = 65;
	img_size = sizeof(img.b); /* so the table itself would fit in the file */
	assert_refused(PHDRS);
	EH64->e_phnum = 0xffff;
	assert_refused(PHDRS);
	/* 64 is allowed: pad with PT_NULL entries (the table then overlaps data: fine, all read). */
	build64();
	EH64->e_phoff = 0x800;
	memcpy(img.b + 0x800, PH64, NR_PH * sizeof(Elf64_Phdr));
	memset(img.b + 0x800 + NR_PH * sizeof(Elf64_Phdr), 0, (64 - NR_PH) * sizeof(Elf64_Phdr));
	EH64->e_phnum = 64;
	img_size = 0x800 + 64 * sizeof(Elf64_Phdr);
	assert_true(img_size <= sizeof(img.b));
	assert_int_equal(load(), 0);
	EH64->e_phnum = 65;
	img_size += sizeof(Elf64_Phdr);
	assert_refused(PHDRS);
}

static void test_phentsize(void **state)
{
	(void)state;
	EH64->e_phentsize = sizeof(Elf64_Phdr) - 1;
	assert_refused(PHDRS);
	EH64->e_phentsize = sizeof(Elf64_Phdr) + 1;
	assert_refused(PHDRS);
	EH64->e_phentsize = sizeof(Elf32_Phdr);
	assert_refused(PHDRS);
	EH64->e_phentsize = 0;
	assert_refused(PHDRS);
	build32();
	EH32->e_phentsize = sizeof(Elf64_Phdr);
	assert_refused(PHDRS);
}

static void test_phdr_table_past_eof(void **state)
{
	(void)state;
	img_size = sizeof(Elf64_Ehdr) + NR_PH * sizeof(Elf64_Phdr) - 1; /* table cut by a byte */
	assert_refused(PHDRS);
	build64();
	EH64->e_phoff = IMG_SIZE - sizeof(Elf64_Phdr);
	assert_refused(PHDRS);
	EH64->e_phoff = IMG_SIZE + 1;
	assert_refused(PHDRS);
	EH64->e_phoff = UINT64_MAX - 8; /* phoff + size wraps */
	assert_refused(PHDRS);
	EH64->e_phoff = UINT64_MAX;
	assert_refused(PHDRS);
	build32();
	EH32->e_phoff = UINT32_MAX - 16;
	assert_refused(PHDRS);
}

/* ---- hostile segments ---------------------------------------------------------------------- */

static void test_segment_past_eof(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_filesz = DATA_LEN + 1;
	assert_refused(SEG_FILE);
	build64();
	PH64[PH_LOAD].p_offset = IMG_SIZE; /* at EOF with filesz > 0 */
	assert_refused(SEG_FILE);
	build64();
	PH64[PH_LOAD].p_offset = UINT64_MAX - 0x10; /* offset + filesz wraps */
	assert_refused(SEG_FILE);
	build64();
	PH64[PH_LOAD].p_offset = 0x10;
	PH64[PH_LOAD].p_filesz = UINT64_MAX - 0x8; /* wraps the other way */
	PH64[PH_LOAD].p_memsz = UINT64_MAX;
	assert_refused(SEG_FILE);
	build32();
	PH32[PH_LOAD].p_offset = UINT32_MAX - 0x10;
	assert_refused(SEG_FILE);
}

static void test_filesz_gt_memsz(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_memsz = DATA_LEN - 1;
	assert_refused("more file bytes than memory bytes");
	build32();
	PH32[PH_LOAD].p_memsz = 1;
	assert_refused("more file bytes than memory bytes");
}

static void test_paddr_below_1mib(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_paddr = LAYOUT_HIMEM - 1;
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_paddr = 0;
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_paddr = LAYOUT_EBDA; /* over the MP table */
	assert_refused(SEG_RAM);
	/* Nothing may be written below 1 MiB by a refused load. */
	for (uint64_t i = 0; i < LAYOUT_HIMEM; i++)
		if (ram[i] != GUARD)
			fail_msg("byte 0x%llx below 1 MiB was written", (unsigned long long)i);
}

static void test_paddr_past_ram(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_paddr = RAM - MEMSZ + 1; /* memsz ends a byte past RAM */
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_paddr = RAM;
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_paddr = LAYOUT_MMIO_HOLE;
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_paddr = UINT64_MAX - 0x10; /* paddr + memsz wraps */
	assert_refused(SEG_RAM);
	build64();
	PH64[PH_LOAD].p_memsz = UINT64_MAX - LOAD_PA + 1; /* paddr + memsz == 2^64 */
	assert_refused(SEG_RAM);
	PH64[PH_LOAD].p_memsz = UINT64_MAX;
	assert_refused(SEG_RAM);
	build32();
	PH32[PH_LOAD].p_paddr = UINT32_MAX - 0x10;
	assert_refused(SEG_RAM);
	build32();
	PH32[PH_LOAD].p_memsz = UINT32_MAX;
	assert_refused(SEG_RAM);
}

/* ---- hostile notes ------------------------------------------------------------------------- */

static void test_no_pvh_note(void **state)
{
	(void)state;
	PH64[PH_NOTE].p_type = PT_NULL; /* no note segment */
	assert_refused(NO_NOTE);
	build64();
	PH64[PH_NOTE].p_filesz = xen_note_off; /* note segment without the Xen note */
	assert_refused(NO_NOTE);
	build64();
	uint32_t t = 17; /* another Xen note type */
	memcpy(img.b + OFF_NOTE + xen_note_off + 8, &t, 4);
	assert_refused(NO_NOTE);
	build64();
	img.b[OFF_NOTE + xen_note_off + 12 + 2] = 'N'; /* "XeN" */
	assert_refused(NO_NOTE);
	build64();
	PH64[PH_NOTE].p_filesz = 0;
	assert_refused(NO_NOTE);
	build64();
	PH64[PH_NOTE].p_filesz = 11; /* shorter than one note header */
	assert_refused(NO_NOTE);
}

static void test_note_segment_outside_file(void **state)
{
	(void)state;
	PH64[PH_NOTE].p_offset = IMG_SIZE - 8;
	assert_refused(NOTE_FILE);
	PH64[PH_NOTE].p_offset = UINT64_MAX - 4;
	assert_refused(NOTE_FILE);
	build64();
	PH64[PH_NOTE].p_filesz = UINT64_MAX;
	assert_refused(NOTE_FILE);
}

static void set_u32(size_t off, uint32_t v)
{
	memcpy(img.b + OFF_NOTE + off, &v, 4);
}

static void test_note_sizes_overflow(void **state)
{
	(void)state;
	set_u32(xen_note_off, 0xffffffffu); /* namesz */
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off, 0xfffffffdu); /* rounds up to 2^32 */
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off + 4, 0xffffffffu); /* descsz */
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off + 4, 0xfffffffdu);
	assert_refused(NOTE_BAD);
	build64();
	set_u32(0, 0xfffffff0u); /* the first note's namesz */
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off + 4, 12); /* descriptor runs 4 bytes past the segment */
	assert_refused(NOTE_BAD);
	build64();
	PH64[PH_NOTE].p_filesz = note_len - 1; /* the segment cuts the Xen note by a byte */
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off, 8); /* name runs into the descriptor and past the segment */
	assert_refused(NOTE_BAD);
}

static void test_note_descsz(void **state)
{
	(void)state;
	set_u32(xen_note_off + 4, 3);
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off + 4, 0);
	PH64[PH_NOTE].p_filesz = note_len - 8;
	assert_refused(NOTE_BAD);
	build64();
	set_u32(xen_note_off + 4, 5);
	assert_refused(NOTE_BAD);
	build32();
	set_u32(xen_note_off + 4, 2);
	assert_refused(NOTE_BAD);
}

static void test_entry_outside_image(void **state)
{
	(void)state;
	static const uint64_t bad[] = { 0,
					LOAD_PA - 1,
					LOAD_PA + MEMSZ, /* one past the end */
					LOAD_PA + MEMSZ + 0x1000,
					LAYOUT_MMIO_HOLE,
					1ull << 32 | (LOAD_PA + 0x40), /* high half set in an 8-byte desc */
					UINT64_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build64();
		memcpy(img.b + OFF_NOTE + xen_note_off + 16, &bad[i], 8);
		assert_refused(ENTRY_OUT);
	}
	build32();
	uint32_t e = LOAD_PA + MEMSZ;
	memcpy(img.b + OFF_NOTE + xen_note_off + 16, &e, 4);
	assert_refused(ENTRY_OUT);
	e = LOAD_PA + MEMSZ - 1; /* the last byte is inside */
	memcpy(img.b + OFF_NOTE + xen_note_off + 16, &e, 4);
	assert_int_equal(load(), 0);
	assert_int_equal(lk.entry, LOAD_PA + MEMSZ - 1);
}

static void test_no_loadable_segment(void **state)
{
	(void)state;
	PH64[PH_LOAD].p_type = PT_DYNAMIC;
	assert_refused(NO_LOAD);
	build64();
	PH64[PH_LOAD].p_memsz = 0;
	PH64[PH_LOAD].p_filesz = 0;
	assert_refused(NO_LOAD);
}

static void test_loader_load_elf_file_errors(void **state)
{
	(void)state;
	assert_int_equal(loader_load_elf(&gm, "/nonexistent/vmlinux", &lk), -ENOENT);
	assert_int_equal(loader_load_elf(&gm, "/", &lk), -EINVAL);   /* a directory */
	assert_int_equal(loader_load_elf(&gm, "/dev/null", &lk), -EINVAL); /* not regular */
}

#define T64(f) cmocka_unit_test_setup(f, setup64)
#define T32(f) cmocka_unit_test_setup(f, setup32)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T64(test_valid_elf64),
		T64(test_unaligned_image),
		T32(test_valid_elf32),
		T64(test_valid_two_segments_note_first),
		T64(test_valid_at_1mib_and_ram_end),
		T64(test_valid_zero_memsz_segment_ignored),
		T64(test_truncated_header),
		T64(test_wrong_magic),
		T64(test_big_endian_and_bad_class),
		T64(test_wrong_machine),
		T64(test_phnum),
		T64(test_phentsize),
		T64(test_phdr_table_past_eof),
		T64(test_segment_past_eof),
		T64(test_filesz_gt_memsz),
		T64(test_paddr_below_1mib),
		T64(test_paddr_past_ram),
		T64(test_no_pvh_note),
		T64(test_note_segment_outside_file),
		T64(test_note_sizes_overflow),
		T64(test_note_descsz),
		T64(test_entry_outside_image),
		T64(test_no_loadable_segment),
		T64(test_loader_load_elf_file_errors),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
