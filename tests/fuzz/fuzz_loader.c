/*
 * libFuzzer harness for the ELF + PVH loader (vmm/loader.c): any file must be refused, or
 * loaded within RAM above 1 MiB with its entry inside the image; never a crash or a
 * sanitizer report.
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -Ivmm \
 *       tests/fuzz/fuzz_loader.c vmm/loader.c vmm/mem.c vmm/log.c -o /tmp/fuzz_loader
 *   /tmp/fuzz_loader -max_total_time=60 [CORPUS_DIR]
 *
 * (or `make build/fuzz/fuzz_loader`, run by `make fuzz` from an empty corpus.)
 *
 * Input, so that an empty corpus still reaches the deep paths quickly:
 *   byte 0 even:  the rest is the file, as is.
 *   byte 0 odd:   a valid built-in kernel (ELF64 if bit 1 is set, else ELF32) of
 *                 0x300 + byte 1 * 8 bytes, patched by the rest as (offset lo, offset hi,
 *                 value) triples: header-field corruption without having to find the
 *                 magic, the class, the program headers and the PVH note first.
 * Either way the loader sees an exactly-sized heap copy, so ASan catches any over-read.
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "loader.h"
#include "mem.h"

#define RAM (32u << 20)
#define SEED_SIZE 0x300u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct gmem gm;

/* A minimal valid kernel: one PT_LOAD at 16 MiB with bss, one PT_NOTE with the PVH entry. */
static void seed(uint8_t *b, int is64)
{
	const uint32_t pa = 16u << 20, entry = pa + 0x40;
	uint32_t nh[3] = { 4, is64 ? 8u : 4u, 18 /* XEN_ELFNOTE_PHYS32_ENTRY */ };
	uint64_t e = entry;
	size_t note_len = is64 ? 24 : 20;
	memset(b, 0, SEED_SIZE);
	memcpy(b + 0x100, nh, 12);
	memcpy(b + 0x10c, "Xen", 4);
	memcpy(b + 0x110, &e, is64 ? 8 : 4);
	for (unsigned i = 0; i < 0x100; i++)
		b[0x200 + i] = (uint8_t)i;
	if (is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = 1,
				  .e_phoff = sizeof(eh), .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2 };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		Elf64_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_offset = 0x200, .p_paddr = pa, .p_filesz = 0x100,
			  .p_memsz = 0x1000 },
			{ .p_type = PT_NOTE, .p_offset = 0x100, .p_filesz = note_len },
		};
		memcpy(b, &eh, sizeof(eh));
		memcpy(b + sizeof(eh), ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = 1,
				  .e_phoff = sizeof(eh), .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = 2 };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		Elf32_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_offset = 0x200, .p_paddr = pa, .p_filesz = 0x100,
			  .p_memsz = 0x1000 },
			{ .p_type = PT_NOTE, .p_offset = 0x100, .p_filesz = (uint32_t)note_len },
		};
		memcpy(b, &eh, sizeof(eh));
		memcpy(b + sizeof(eh), ph, sizeof(ph));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ram = malloc(RAM);
	if (!ram)
		abort();
	gmem_init_fake(&gm, ram, RAM);
	/* The built-in kernels must load, or the patch mode starts from nothing useful. */
	uint8_t b[SEED_SIZE];
	struct loaded_kernel k;
	for (int is64 = 0; is64 <= 1; is64++) {
		seed(b, is64);
		if (loader_load_elf_image(&gm, b, SEED_SIZE, "seed", &k) != 0 ||
		    k.entry != (16u << 20) + 0x40)
			abort();
	}
	/*
	 * Every refused input prints a line through log.c's fprintf(stderr): silence that, or
	 * the fuzzer spends its time on I/O. Only the stdio stream is replaced (glibc lets
	 * stderr be assigned): fd 2 stays open, so sanitizer reports and libFuzzer's own
	 * output (a FILE * it took from stderr before this runs) still reach the terminal.
	 */
	FILE *null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
	return 0;
}

/* UB is a finding too: stop at the first report even when built with recoverable checks. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void check(const uint8_t *img, size_t size)
{
	struct loaded_kernel k;
	if (loader_load_elf_image(&gm, img, size, "fuzz", &k) != 0)
		return;
	/* Accepted: the promises loader.h makes must hold. */
	if (k.low < LAYOUT_HIMEM || k.low >= k.end || k.end > RAM)
		__builtin_trap();
	if (k.entry < k.low || k.entry >= k.end || k.entry >= LAYOUT_MMIO_HOLE)
		__builtin_trap();
	if (!gm_ptr(&gm, k.low, k.end - k.low))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || !(data[0] & 1)) {
		/*
		 * Raw mode, from a fresh exactly-sized (so malloc-aligned) copy: data + 1 itself is
		 * misaligned, which loader.c does not survive under UBSan (reported separately).
		 */
		size_t len = size ? size - 1 : 0;
		uint8_t *img = malloc(len ? len : 1);
		if (!img)
			return 0;
		if (len)
			memcpy(img, data + 1, len);
		check(img, len);
		free(img);
		return 0;
	}
	size_t len = SEED_SIZE + (size > 1 ? (size_t)data[1] * 8 : 0);
	uint8_t *img = calloc(1, len);
	if (!img)
		return 0;
	uint8_t b[SEED_SIZE];
	seed(b, data[0] & 2);
	memcpy(img, b, SEED_SIZE);
	for (size_t i = 2; i + 3 <= size; i += 3) {
		size_t off = (size_t)(data[i] | data[i + 1] << 8) % len;
		img[off] = data[i + 2];
	}
	check(img, len);
	free(img);
	return 0;
}
