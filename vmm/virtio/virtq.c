/* Split virtqueue core: the one reader of guest-written rings, so it trusts none of it. */
#include "virtq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "virtio_types.h"

/*
 * Guest memory is shared with vCPUs that may rewrite it at any moment. Every index
 * is loaded exactly once into a local with an atomic load, and every descriptor is
 * copied once; only the local copies are validated and used.
 *
 * Barriers, each paired with one in the driver (Linux drivers/virtio/virtio_ring.c):
 *  - avail_idx_read: acquire after loading avail->idx, so ring entries and descriptors
 *    are read after it; pairs with the driver's write barrier before it bumps avail->idx.
 *  - used_idx_publish: release before storing used->idx, so the used entries land first;
 *    pairs with the driver's read barrier after it loads used->idx.
 *  - virtq_should_signal: full fence between our used->idx store and loading used_event
 *    or flags; pairs with the driver's full barrier between storing used_event and
 *    re-reading used->idx (virtqueue_enable_cb). Without it each side can miss the
 *    other's store and the interrupt is lost.
 *  - virtq_pop, empty ring with EVENT_IDX: full fence between storing avail_event and
 *    re-reading avail->idx; pairs with the driver's between bumping avail->idx and
 *    loading avail_event (virtqueue_kick_prepare). Otherwise a kick can be lost.
 */
static inline void barrier_acquire(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline void barrier_release(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void barrier_full(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Ring fields are naturally aligned: virtq_activate checked the ring alignment. */
static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* The avail index, ordered before any read of the ring entries it publishes. */
static uint16_t avail_idx_read(const struct virtq *q)
{
	uint16_t idx = load16(&q->avail->idx);
	barrier_acquire();
	return idx;
}

/* Make the used entries visible before the index that hands them to the driver. */
static void used_idx_publish(struct virtq *q)
{
	barrier_release();
	store16(&q->used->idx, q->used_idx);
}

/* used_event lives after avail->ring[size]; avail_event after used->ring[size]. */
static uint16_t *used_event_ptr(const struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

/*
 * Copy one descriptor out of guest memory. Indirect tables need not be aligned, hence
 * memcpy; the compiler barrier stops it from turning later uses of the copy into
 * fresh reads of guest memory.
 */
static void desc_read(const void *src, struct vring_desc *d)
{
	memcpy(d, src, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

__attribute__((format(printf, 2, 3))) static int virtq_break(struct virtq *q, const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_guest("virtq", "broken ring: %s", buf);
	q->broken = true;
	return -EINVAL;
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

int virtq_activate(struct virtq *q, const struct gmem *mem, uint64_t features)
{
	bool event = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	uint16_t n = q->size;

	if (n == 0 || n > VIRTQ_SIZE_MAX || (n & (n - 1))) {
		log_guest("virtq", "queue size %u is not a power of two <= %u", n, VIRTQ_SIZE_MAX);
		return -EINVAL;
	}
	if (q->desc_gpa % 16 || q->avail_gpa % 2 || q->used_gpa % 4) {
		log_guest("virtq", "misaligned rings desc %#llx avail %#llx used %#llx",
			  (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			  (unsigned long long)q->used_gpa);
		return -EINVAL;
	}
	void *desc = gm_ptr(mem, q->desc_gpa, vring_desc_bytes(n));
	void *avail = gm_ptr(mem, q->avail_gpa, vring_avail_bytes(n, event));
	void *used = gm_ptr(mem, q->used_gpa, vring_used_bytes(n, event));
	if (!desc || !avail || !used) {
		log_guest("virtq", "rings outside RAM desc %#llx avail %#llx used %#llx size %u",
			  (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			  (unsigned long long)q->used_gpa, n);
		return -EINVAL;
	}
	q->mem = mem;
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->event_idx = event;
	q->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->broken = false;
	q->ready = true;
	return 0;
}

/*
 * Walk the chain at head into c. Only buffer descriptors count against VIRTQ_CHAIN_MAX
 * (an indirect descriptor ends the direct chain, so it cannot loop); the cap is also
 * what ends a looping chain.
 */
static int chain_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)q->desc;
	uint32_t table_n = q->size;
	bool in_indirect = false, seen_write = false;
	uint64_t out_len = 0, in_len = 0;
	unsigned count = 0, n = 0;
	uint16_t i = head;
	struct vring_desc d;

	c->head = head;
	c->n_out = c->n_in = 0;
	for (;;) {
		desc_read(table + sizeof(d) * i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				return virtq_break(q, "indirect descriptor not negotiated");
			if (in_indirect)
				return virtq_break(q, "nested indirect table");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return virtq_break(q, "INDIRECT together with NEXT");
			if (d.len == 0 || d.len % sizeof(d) || d.len / sizeof(d) > VIRTQ_CHAIN_MAX)
				return virtq_break(q, "indirect table length %u", d.len);
			table = gm_ptr(q->mem, d.addr, d.len);
			if (!table)
				return virtq_break(q, "indirect table %#llx+%u outside RAM",
						   (unsigned long long)d.addr, d.len);
			table_n = d.len / sizeof(d);
			in_indirect = true;
			i = 0;
			continue;
		}
		if (++count > VIRTQ_CHAIN_MAX)
			return virtq_break(q, "chain at %u longer than %u descriptors", head,
					   VIRTQ_CHAIN_MAX);
		bool write = d.flags & VIRTQ_DESC_F_WRITE;
		if (write) {
			seen_write = true;
			in_len += d.len;
		} else {
			if (seen_write)
				return virtq_break(q, "readable descriptor after a writable one");
			out_len += d.len;
		}
		/* A zero-length buffer touches nothing: keep no iovec for it. */
		if (d.len) {
			void *p = gm_ptr(q->mem, d.addr, d.len);
			if (!p)
				return virtq_break(q, "buffer %#llx+%u outside RAM",
						   (unsigned long long)d.addr, d.len);
			c->iov[n++] = (struct iovec){ .iov_base = p, .iov_len = d.len };
			if (write)
				c->n_in++;
			else
				c->n_out++;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_n)
			return virtq_break(q, "next index %u out of %u", d.next, table_n);
		i = d.next;
	}
	if (out_len > UINT32_MAX || in_len > UINT32_MAX)
		return virtq_break(q, "chain lengths overflow 32 bits");
	c->out_len = out_len;
	c->in_len = in_len;
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	if (q->broken)
		return -EINVAL;
	if (!q->ready)
		return 0;

	uint16_t avail = avail_idx_read(q);
	uint16_t pending = avail - q->last_avail;
	if (pending == 0 && q->event_idx) {
		/*
		 * Ask for a kick at the next new entry, then look again: the driver may
		 * have added one before it could see avail_event.
		 */
		store16(avail_event_ptr(q), q->last_avail);
		barrier_full();
		avail = avail_idx_read(q);
		pending = avail - q->last_avail;
	}
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return virtq_break(q, "avail index %u is %u ahead of %u (size %u)", avail, pending,
				   q->last_avail, q->size);

	uint16_t head = load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
	if (head >= q->size)
		return virtq_break(q, "head index %u out of %u", head, q->size);
	int r = chain_walk(q, head, c);
	if (r)
		return r;
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q, uint16_t n)
{
	/*
	 * Nothing was written for these chains, so the driver cannot tell. With EVENT_IDX the
	 * avail_event left by the pop that found the ring empty stays ahead: the driver's next
	 * buffer kicks us, which is when a retry can succeed.
	 */
	q->last_avail -= n;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	/* A reset between pop and push leaves nothing to return the chain to. */
	if (!q->ready)
		return;
	BUG_ON(head >= q->size);
	struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->size - 1)];
	store32(&e->id, head);
	store32(&e->len, written);
	q->used_idx++;
	used_idx_publish(q);
}

bool virtq_should_signal(struct virtq *q)
{
	if (!q->ready)
		return false;
	/* Our used->idx store must be visible before we read what the driver asked for. */
	barrier_full();
	if (!q->event_idx)
		return !(load16(&q->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);

	uint16_t event = load16(used_event_ptr(q));
	uint16_t old = q->signalled_used;
	bool valid = q->signalled_valid;
	q->signalled_used = q->used_idx;
	q->signalled_valid = true;
	/* Until the first signal there is no old index to compare with: signal. */
	return !valid || vring_need_event(event, q->used_idx, old);
}

size_t iov_copy_from(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov_copy_to(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)src + done, k);
		done += k;
		off = 0;
	}
	return done;
}

/* dst gets bytes [off, off + len) of src's buffers; returns how many iovecs that took. */
unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len,
			  struct iovec *dst)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t take = src[i].iov_len - off;
		if (take > len)
			take = len;
		dst[k++] = (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + off,
					   .iov_len = take };
		len -= take;
		off = 0;
	}
	return k;
}
