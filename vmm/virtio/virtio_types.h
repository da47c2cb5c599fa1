/* Split-ring layouts from the virtio 1.2 spec (§2.7), shared by the virtqueue core and tests. */
#ifndef FLINT_VIRTIO_TYPES_H
#define FLINT_VIRTIO_TYPES_H

#include <stdint.h>

/*
 * Virtio 1.x rings are little-endian. flint only runs on x86_64 hosts, so these
 * fields are used as native integers without byte swapping.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "flint assumes a little-endian host"
#endif

#define VIRTQ_DESC_F_NEXT     1u
#define VIRTQ_DESC_F_WRITE    2u
#define VIRTQ_DESC_F_INDIRECT 4u

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY	   1u

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* avail: flags, idx, ring[size], then used_event (EVENT_IDX only). */
struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/* used: flags, idx, ring[size], then avail_event (EVENT_IDX only). */
struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

_Static_assert(sizeof(struct vring_desc) == 16, "descriptor layout");
_Static_assert(sizeof(struct vring_avail) == 4, "avail header layout");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element layout");
_Static_assert(sizeof(struct vring_used) == 4, "used header layout");

/* Ring byte sizes for a queue of n entries; event: EVENT_IDX adds the trailing u16. */
static inline uint64_t vring_desc_bytes(uint16_t n)
{
	return 16ull * n;
}

static inline uint64_t vring_avail_bytes(uint16_t n, int event)
{
	return 4ull + 2ull * n + (event ? 2 : 0);
}

static inline uint64_t vring_used_bytes(uint16_t n, int event)
{
	return 4ull + 8ull * n + (event ? 2 : 0);
}

/*
 * Whether moving from old to new_idx crosses event_idx (spec §2.7.10): the
 * other side asked to be told once entry event_idx has been consumed/produced.
 */
static inline int vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

#endif
