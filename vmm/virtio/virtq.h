/* The one virtqueue core (split rings): validates every ring access and hands devices iovecs. */
#ifndef FLINT_VIRTQ_H
#define FLINT_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../mem.h"

#define VIRTQ_SIZE_MAX 256u  /* queue sizes offered to the driver (power of two) */
#define VIRTQ_CHAIN_MAX 256u /* descriptors in one chain, indirect ones included */

/* Ring feature bits the core implements; devices add them to their offered features. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

struct vring_desc;
struct vring_avail;
struct vring_used;

struct virtq {
	/* Set by the transport from the driver's writes; checked by virtq_activate. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Set by virtq_activate. */
	bool ready;
	bool event_idx, indirect;
	const struct gmem *mem;
	/* Host views of the rings, checked once by virtq_activate (layouts in virtio_types.h). */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail; /* next avail ring slot the device consumes */
	uint16_t used_idx;   /* next used ring slot the device fills */
	uint16_t signalled_used; /* used_idx when the driver was last interrupted */
	bool signalled_valid;
	bool broken; /* the driver broke the ring: nothing more is processed */
};

/*
 * A popped chain: device-readable buffers first (out), then device-writable (in),
 * as the virtio spec requires. iov[0..n_out) are readable, iov[n_out..n_out+n_in)
 * writable. Lengths are bounded by guest RAM and each sum fits in 32 bits.
 */
struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	uint32_t out_len, in_len;
	struct iovec iov[VIRTQ_CHAIN_MAX];
};

/* Forget all state (device reset). */
void virtq_reset(struct virtq *q);

/*
 * Validate size (power of two, 1..VIRTQ_SIZE_MAX), alignment (desc 16, avail 2, used 4)
 * and that all three rings lie wholly in guest RAM; then mark ready.
 * features: the negotiated feature bits. Returns 0 or -EINVAL.
 */
int virtq_activate(struct virtq *q, const struct gmem *mem, uint64_t features);

/*
 * Take the next available chain. Returns 1 with *c filled, 0 when the ring is empty,
 * -EINVAL when the driver broke the ring (avail index jumped by more than size, head
 * or next out of range, a loop or too-long chain, a buffer outside RAM, a readable
 * buffer after a writable one, a bad indirect table): the queue is then marked broken
 * and the device should report a device error.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/*
 * Give back the last n chains popped and not yet pushed: they are popped again (and checked
 * again) later. For a device that took buffers for a frame and ran out before it fitted.
 */
void virtq_unpop(struct virtq *q, uint16_t n);

/* Return a chain to the driver with `written` bytes written into its writable buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * After one or more pushes: whether the driver wants an interrupt now (honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX).
 */
bool virtq_should_signal(struct virtq *q);

/* Copy helpers over a chain's iovecs; they return bytes copied (short at the end). */
size_t iov_copy_from(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);
size_t iov_copy_to(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);
/* dst (room for n entries) gets bytes [off, off + len) of iov's buffers; returns the entries used. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *dst);

#endif
