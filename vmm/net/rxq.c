/* The frame queue between a backend that produces frames on its own schedule and the guest. */
#include "rxq.h"

#include <stdlib.h>
#include <string.h>

void rxq_init(struct rxq *q)
{
	memset(q, 0, sizeof(*q));
}

void rxq_destroy(struct rxq *q)
{
	while (q->n) {
		free(q->q[q->head].data);
		q->head = (q->head + 1) % RXQ_FRAMES;
		q->n--;
	}
	q->bytes = 0;
}

bool rxq_push(struct rxq *q, const void *frame, size_t len)
{
	uint8_t *copy = NULL;
	if (q->n < RXQ_FRAMES && len <= RXQ_BYTES - q->bytes && len > 0)
		copy = malloc(len);
	if (!copy) {
		q->dropped++;
		return false;
	}
	memcpy(copy, frame, len);
	unsigned tail = (q->head + q->n) % RXQ_FRAMES;
	q->q[tail].data = copy;
	q->q[tail].len = len;
	q->n++;
	q->bytes += len;
	return true;
}

size_t rxq_pop(struct rxq *q, void *buf, size_t cap)
{
	while (q->n) {
		uint8_t *data = q->q[q->head].data;
		size_t len = q->q[q->head].len;
		q->head = (q->head + 1) % RXQ_FRAMES;
		q->n--;
		q->bytes -= len;
		if (len <= cap)
			memcpy(buf, data, len);
		else
			q->dropped++;
		free(data);
		if (len <= cap)
			return len;
	}
	return 0;
}
