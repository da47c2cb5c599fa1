/* A bounded queue of frames waiting for the guest's receive buffers. */
#ifndef FLINT_NET_RXQ_H
#define FLINT_NET_RXQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RXQ_FRAMES 512u
#define RXQ_BYTES (1u << 20)

struct rxq {
	struct {
		uint8_t *data;
		size_t len;
	} q[RXQ_FRAMES];
	unsigned head, n;
	size_t bytes;
	unsigned long dropped; /* frames refused because the queue was full */
};

void rxq_init(struct rxq *q);
/* Free every queued frame; safe on a zeroed queue. */
void rxq_destroy(struct rxq *q);
/* Queue a copy of the frame; false (and counted) when the queue is full or memory is short. */
bool rxq_push(struct rxq *q, const void *frame, size_t len);
/* Take the oldest frame into buf: its length, or 0 when empty. A frame over cap is dropped. */
size_t rxq_pop(struct rxq *q, void *buf, size_t cap);

static inline bool rxq_empty(const struct rxq *q)
{
	return q->n == 0;
}

#endif
