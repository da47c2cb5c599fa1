/* virtio-blk: a block device over a disk backend, with read-only enforcement. */
#ifndef FLINT_VIRTIO_BLK_H
#define FLINT_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "../disk/disk.h"
#include "mmio.h"

struct virtio_blk {
	struct virtio_mmio mmio;
	struct disk *disk; /* borrowed: owned by the vm */
	char id[20];       /* VIRTIO_BLK_T_GET_ID answer, NUL-padded */
	unsigned long reqs, io_errors, bad_reqs;
	/*
	 * Requests served per kick before yielding the event loop to other devices; the rest
	 * are served after a requeue. A guest that refills its ring as fast as we drain it
	 * cannot monopolise the loop.
	 */
	unsigned kick_budget;
};

#define VIRTIO_BLK_KICK_BUDGET 64u

/* Set up the device over disk; id is a short serial string (truncated to 20 bytes). */
int virtio_blk_init(struct virtio_blk *b, struct disk *disk, const char *id, const struct gmem *mem,
		    uint64_t base, unsigned gsi, const struct virtio_mmio_hooks *hooks);
void virtio_blk_destroy(struct virtio_blk *b);

#endif
