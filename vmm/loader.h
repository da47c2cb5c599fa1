/* Kernel loading: an ELF (32- or 64-bit x86) entered through its PVH note. */
#ifndef FLINT_LOADER_H
#define FLINT_LOADER_H

#include <stdint.h>

#include "mem.h"

struct loaded_kernel {
	uint64_t entry;    /* 32-bit PVH entry point (guest-physical) */
	uint64_t low, end; /* lowest and one-past-highest guest-physical byte loaded */
};

/*
 * Load the PT_LOAD segments of the ELF file at path to their physical addresses
 * (which must lie in RAM at or above 1 MiB) and find the XEN_ELFNOTE_PHYS32_ENTRY
 * note. Returns 0, or -errno with one message naming what is wrong with the file.
 */
int loader_load_elf(struct gmem *m, const char *path, struct loaded_kernel *k);

/* The same over an in-memory image (used by the file loader and by fuzzing). */
int loader_load_elf_image(struct gmem *m, const uint8_t *img, uint64_t size, const char *name,
			  struct loaded_kernel *k);

#endif
