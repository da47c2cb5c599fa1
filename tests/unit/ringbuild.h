/* Test helper: plays the driver's side of a split ring laid out in a fake guest memory. */
#ifndef FLINT_TEST_RINGBUILD_H
#define FLINT_TEST_RINGBUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "virtio/virtio_types.h"
#include "virtio/virtq.h"

struct rb {
	uint8_t *mem; /* the fake guest RAM, gpa 0 at mem[0] */
	uint16_t size;
	uint64_t desc, avail, used; /* ring gpas */
	uint16_t avail_idx;         /* the driver's next avail slot */
	uint16_t next_desc;         /* next free descriptor, wrapping */
};

struct rb_buf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

static inline void rb_init(struct rb *r, void *mem, uint16_t size, uint64_t desc, uint64_t avail,
			   uint64_t used)
{
	memset(r, 0, sizeof(*r));
	r->mem = mem;
	r->size = size;
	r->desc = desc;
	r->avail = avail;
	r->used = used;
}

/* Point q at the rings (what the transport does from the driver's register writes). */
static inline void rb_queue(const struct rb *r, struct virtq *q)
{
	virtq_reset(q);
	q->size = r->size;
	q->desc_gpa = r->desc;
	q->avail_gpa = r->avail;
	q->used_gpa = r->used;
}

/* Descriptors go through memcpy: indirect tables in tests may be deliberately unaligned. */
static inline void rb_put_desc(struct rb *r, uint64_t gpa, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
	memcpy(r->mem + gpa, &d, sizeof(d));
}

static inline void rb_set_desc(struct rb *r, uint16_t i, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	rb_put_desc(r, r->desc + 16ull * i, addr, len, flags, next);
}

/* n linked descriptors taken from the free cursor; returns the head index. */
static inline uint16_t rb_chain(struct rb *r, const struct rb_buf *b, unsigned n)
{
	uint16_t head = r->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % r->size);
		uint16_t next = (uint16_t)((idx + 1) % r->size);
		uint16_t flags = (b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		rb_set_desc(r, idx, b[i].addr, b[i].len, flags, next);
	}
	r->next_desc = (uint16_t)((head + n) % r->size);
	return head;
}

/* An indirect table of n linked entries at gpa table. */
static inline void rb_indirect_table(struct rb *r, uint64_t table, const struct rb_buf *b,
				     unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t flags = (b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		rb_put_desc(r, table + 16ull * i, b[i].addr, b[i].len, flags, (uint16_t)(i + 1));
	}
}

static inline struct vring_avail *rb_avail(const struct rb *r)
{
	return (struct vring_avail *)(r->mem + r->avail);
}

static inline struct vring_used *rb_used(const struct rb *r)
{
	return (struct vring_used *)(r->mem + r->used);
}

/* Put head in the next avail slot and publish it. */
static inline void rb_offer(struct rb *r, uint16_t head)
{
	rb_avail(r)->ring[r->avail_idx % r->size] = head;
	r->avail_idx++;
	__atomic_store_n(&rb_avail(r)->idx, r->avail_idx, __ATOMIC_RELEASE);
}

static inline void rb_set_avail_idx(struct rb *r, uint16_t v)
{
	r->avail_idx = v;
	rb_avail(r)->idx = v;
}

static inline uint16_t rb_used_idx(const struct rb *r)
{
	return __atomic_load_n(&rb_used(r)->idx, __ATOMIC_ACQUIRE);
}

static inline struct vring_used_elem rb_used_elem(const struct rb *r, uint16_t i)
{
	return rb_used(r)->ring[i % r->size];
}

static inline void rb_set_used_event(struct rb *r, uint16_t v)
{
	rb_avail(r)->ring[r->size] = v;
}

static inline uint16_t rb_avail_event(const struct rb *r)
{
	uint16_t v;
	memcpy(&v, r->mem + r->used + 4 + 8ull * r->size, sizeof(v));
	return v;
}

#endif
