/* Guest RAM: the host mapping and the one checked accessor for guest-physical addresses. */
#ifndef FLINT_MEM_H
#define FLINT_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 2

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct gmem {
	struct gm_region region[GMEM_MAX_REGIONS];
	unsigned nr_regions;
	uint8_t *map; /* one host mapping backing every region, in order */
	size_t map_size;
};

/*
 * Map `bytes` of guest RAM (a multiple of 1 MiB), split around the 32-bit MMIO hole.
 * Returns 0 or -errno. gmem_destroy is safe on a zeroed or partly set-up gmem.
 */
int gmem_init(struct gmem *m, uint64_t bytes);
void gmem_destroy(struct gmem *m);

/*
 * Host pointer for [gpa, gpa+len) when the whole range lies inside one RAM region,
 * else NULL. Overflow-safe; len 0 is valid for any gpa inside a region. Every
 * access to guest memory goes through this (tests/grep-raw-gpa.sh checks).
 */
void *gm_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

/* Wrap a caller-owned buffer as guest RAM at gpa 0 (unit tests: a fake guest memory). */
void gmem_init_fake(struct gmem *m, void *buf, size_t size);

#endif
