/*
 * libFuzzer target for the virtqueue core: the input is a hostile driver (ring setup,
 * guest memory contents, and writes it makes between the device's pops).
 *
 *   clang -std=c11 -D_GNU_SOURCE -Icommon -Ivmm -g -O1 \
 *	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *	tests/fuzz/fuzz_virtq.c vmm/virtio/virtq.c vmm/mem.c vmm/log.c -o /tmp/fuzz_virtq
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "virtio/virtq.h"

#define GUEST_RAM 0x10000u
#define HDR 12u

/*
 * Input: [0] queue size selector, [1..6] desc/avail/used gpas (16-bit), [7] features,
 * [8] rounds, [9] number of 4-byte driver writes that follow, [10..11] unused;
 * then the driver writes (gpa u16, value u16), then the initial guest RAM.
 */
struct script {
	const uint8_t *ops;
	size_t n, next;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The driver scribbles on its RAM (rings included) between device steps. */
static void driver_step(struct script *s, uint8_t *ram)
{
	if (s->next >= s->n)
		return;
	const uint8_t *op = s->ops + 4 * s->next++;
	uint16_t gpa = le16(op) & (GUEST_RAM - 2);
	memcpy(ram + gpa, op + 2, 2);
}

static void check_chain(const struct virtq_chain *c, const uint8_t *ram, uint16_t qsize)
{
	uint64_t out = 0, in = 0;
	if (c->head >= qsize || c->n_out + c->n_in > VIRTQ_CHAIN_MAX)
		abort();
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		const uint8_t *b = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		if (b < ram || len == 0 || len > GUEST_RAM || (size_t)(b - ram) > GUEST_RAM - len)
			abort();
		if (i < c->n_out)
			out += len;
		else
			in += len;
	}
	if (out != c->out_len || in != c->in_len)
		abort();
}

/* Touch every byte the chain hands out: ASan sees any that lie outside guest RAM. */
static uint32_t use_chain(const struct virtq_chain *c)
{
	uint8_t sink[64];
	uint32_t sum = 0;
	for (size_t off = 0; off < c->out_len; off += sizeof(sink)) {
		size_t n = iov_copy_from(c->iov, c->n_out, off, sink, sizeof(sink));
		for (size_t i = 0; i < n; i++)
			sum += sink[i];
	}
	memset(sink, 0xab, sizeof(sink));
	for (size_t off = 0; off < c->in_len; off += sizeof(sink))
		iov_copy_to(c->iov + c->n_out, c->n_in, off, sink, sizeof(sink));
	return sum;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_prog("fuzz_virtq");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	if (size < HDR)
		return 0;

	struct script s = { .ops = data + HDR, .n = data[9] };
	if (s.n * 4 > size - HDR)
		s.n = (size - HDR) / 4;
	size_t img = HDR + 4 * s.n;
	uint8_t *ram = calloc(1, GUEST_RAM);
	if (!ram)
		return 0;
	memcpy(ram, data + img, size - img < GUEST_RAM ? size - img : GUEST_RAM);
	struct gmem gm;
	gmem_init_fake(&gm, ram, GUEST_RAM);

	struct virtq q;
	virtq_reset(&q);
	/* Mostly powers of two, sometimes anything. */
	if (data[0] & 0x80)
		q.size = (uint16_t)(data[0] << 8 | data[10]);
	else
		q.size = (uint16_t)(1u << (data[0] & 15));
	q.desc_gpa = le16(data + 1);
	q.avail_gpa = le16(data + 3);
	q.used_gpa = le16(data + 5);
	uint64_t features = (uint64_t)(data[7] & 3) << VIRTIO_RING_F_INDIRECT_DESC;
	/* A huge-address ring must be refused, never wrap into RAM. */
	if (data[7] & 4)
		q.used_gpa |= 0xffffffffffff0000ull;

	if (virtq_activate(&q, &gm, features) == 0) {
		unsigned rounds = data[8] + 1u;
		for (unsigned i = 0; i < rounds; i++) {
			int r = virtq_pop(&q, &c);
			if (r < 0) {
				if (!q.broken || virtq_pop(&q, &c) != -EINVAL)
					abort();
				break;
			}
			if (r == 1) {
				check_chain(&c, ram, q.size);
				uint32_t sum = use_chain(&c);
				virtq_push(&q, c.head, c.in_len ^ (sum & 1));
			}
			(void)virtq_should_signal(&q);
			driver_step(&s, ram);
		}
	}
	free(ram);
	return 0;
}
