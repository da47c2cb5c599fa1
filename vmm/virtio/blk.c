/* virtio-blk (spec §5.2): synchronous requests against a disk backend, read-only enforced here. */
#include "blk.h"

#include <stddef.h>
#include <string.h>

#include "../log.h"

#define VIRTIO_BLK_ID 2u

#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO	      5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9

#define VIRTIO_BLK_T_IN	    0u
#define VIRTIO_BLK_T_OUT    1u
#define VIRTIO_BLK_T_FLUSH  4u
#define VIRTIO_BLK_T_GET_ID 8u

#define VIRTIO_BLK_S_OK	    0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define SECTOR 512u

/* Little-endian like every virtio 1.x structure; the host is x86_64, so no swapping. */
struct virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors, whatever blk_size says */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
};
/* The fields up to num_queues; later ones belong to features flint does not offer. */
#define BLK_CONFIG_SIZE 36u
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "virtio_blk_config layout");
_Static_assert(offsetof(struct virtio_blk_config, num_queues) + 2 == BLK_CONFIG_SIZE,
	       "virtio_blk_config layout");

struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "request header layout");

static void blk_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *b = dev;
	struct virtio_blk_config cfg;

	/* memset, not an initializer: padding must not carry stack bytes to the guest. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = b->disk->size / SECTOR;
	cfg.seg_max = VIRTQ_CHAIN_MAX - 2; /* the header and status take two */
	cfg.blk_size = SECTOR;
	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

/* Whole sectors, inside the disk, with no overflow on the way. */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint32_t len)
{
	uint64_t size = b->disk->size;
	if (len % SECTOR || sector > UINT64_MAX / SECTOR)
		return false;
	uint64_t off = sector * SECTOR;
	return len <= size && off <= size - len;
}

/* Reads and writes; *written counts data bytes placed in the guest's buffers. */
static uint8_t blk_rw(struct virtio_blk *b, const struct virtio_blk_req_hdr *h,
		      const struct virtq_chain *c, uint32_t *written)
{
	struct iovec io[VIRTQ_CHAIN_MAX];
	bool out = h->type == VIRTIO_BLK_T_OUT;
	/* Writes: the readable part after the header; reads: the writable part before status. */
	uint32_t len = out ? c->out_len - sizeof(*h) : c->in_len - 1;

	if (out && b->disk->readonly) {
		log_guest("blk", "write to read-only disk at sector %llu",
			  (unsigned long long)h->sector);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!blk_range_ok(b, h->sector, len)) {
		log_guest("blk", "%s of %u bytes at sector %llu, disk has %llu sectors",
			  out ? "write" : "read", len, (unsigned long long)h->sector,
			  (unsigned long long)(b->disk->size / SECTOR));
		return VIRTIO_BLK_S_IOERR;
	}
	uint64_t off = h->sector * SECTOR;
	int r;
	if (out) {
		unsigned n = iov_slice(c->iov, c->n_out, sizeof(*h), len, io);
		r = disk_writev(b->disk, io, n, off);
	} else {
		unsigned n = iov_slice(c->iov + c->n_out, c->n_in, 0, len, io);
		r = disk_readv(b->disk, io, n, off);
	}
	if (r) {
		b->io_errors++;
		log_guest("blk-io", "%s at sector %llu failed: %s", out ? "write" : "read",
			  (unsigned long long)h->sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	if (!out)
		*written = len;
	return VIRTIO_BLK_S_OK;
}

/* One chain; returns the used length (data written into the guest plus the status byte). */
static uint32_t blk_request(struct virtio_blk *b, const struct virtq_chain *c)
{
	struct virtio_blk_req_hdr h;
	const struct iovec *in = c->iov + c->n_out;
	uint32_t written = 0;
	uint8_t status;

	/* Without a header or a status byte there is no way to answer: return it untouched. */
	if (c->out_len < sizeof(h) || c->in_len == 0) {
		b->bad_reqs++;
		log_guest("blk", "malformed request: %u readable, %u writable bytes", c->out_len,
			  c->in_len);
		return 0;
	}
	iov_copy_from(c->iov, c->n_out, 0, &h, sizeof(h));
	b->reqs++;

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		status = blk_rw(b, &h, c, &written);
		break;
	case VIRTIO_BLK_T_FLUSH: {
		int r = disk_flush(b->disk);
		if (r) {
			b->io_errors++;
			log_guest("blk-io", "flush failed: %s", strerror(-r));
		}
		status = r ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = c->in_len - 1 < sizeof(b->id) ? c->in_len - 1 : sizeof(b->id);
		written = iov_copy_to(in, c->n_in, 0, b->id, n);
		status = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	iov_copy_to(in, c->n_in, c->in_len - 1, &status, 1);
	return written + 1;
}

static void blk_notify(void *dev, unsigned qi)
{
	struct virtio_blk *b = dev;
	struct virtq *q = &b->mmio.vq[qi];
	struct virtq_chain c;
	bool pushed = false;
	unsigned served = 0;
	int r;

	while ((r = virtq_pop(q, &c)) > 0) {
		virtq_push(q, c.head, blk_request(b, &c));
		pushed = true;
		if (++served == b->kick_budget) {
			virtio_mmio_signal_used(&b->mmio, qi);
			virtio_mmio_requeue(&b->mmio, qi);
			return;
		}
	}
	/* Hand back what completed before the ring broke, then report the break. */
	if (pushed)
		virtio_mmio_signal_used(&b->mmio, qi);
	if (r < 0)
		virtio_mmio_device_error(&b->mmio, "broken request queue");
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_BLK_ID,
	.num_queues = 1,
	.config_size = BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.notify = blk_notify,
};

int virtio_blk_init(struct virtio_blk *b, struct disk *disk, const char *id, const struct gmem *mem,
		    uint64_t base, unsigned gsi, const struct virtio_mmio_hooks *hooks)
{
	memset(b, 0, sizeof(*b));
	b->disk = disk;
	b->kick_budget = VIRTIO_BLK_KICK_BUDGET;
	if (id)
		memcpy(b->id, id, strnlen(id, sizeof(b->id)));

	uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			    (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (disk->readonly)
		features |= 1ull << VIRTIO_BLK_F_RO;
	return virtio_mmio_init(&b->mmio, &blk_ops, b, features, mem, base, gsi, hooks);
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	virtio_mmio_destroy(&b->mmio);
}
