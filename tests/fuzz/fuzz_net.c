/*
 * libFuzzer target for the network: guest frames through the egress policy, DNS messages through
 * the parser and the answer snooping, and a hostile driver on virtio-net's tx and rx queues over
 * a fake backend (tx chains of any shape and header, rx buffers of any size, frames of any size
 * and header from the backend, ring scribbles, resets). libslirp itself is not fuzzed here: what
 * the policy lets through would reach real hosts.
 *
 *   make build/fuzz/fuzz_net && build/fuzz/fuzz_net -max_total_time=60 [CORPUS_DIR]
 *
 * Input: a sequence of commands, each an opcode byte then its arguments (see run_one).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/netfx.h"
#include "log.h"
#include "net/dns.h"
#include "net/policy.h"

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t get16(struct in *in)
{
	return (uint16_t)(get8(in) | get8(in) << 8);
}

/* Up to max bytes of input as a buffer (the rest of the input when shorter). */
static const uint8_t *take(struct in *in, size_t want, size_t *got)
{
	*got = want < in->n ? want : in->n;
	const uint8_t *p = in->p;
	in->p += *got;
	in->n -= *got;
	return p;
}

static struct net_config cfg;
static struct net_policy pol;
static uint64_t now_ms = 1;

static void policy_setup(uint8_t mode)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = NET_USER;
	cfg.host_access = mode & 1;
	if (mode & 2) {
		cfg.allow[cfg.nr_allow].addr = 0x01020300;
		cfg.allow[cfg.nr_allow++].prefix = 24;
		strcpy(cfg.allow[cfg.nr_allow++].name, "api.example.com");
		strcpy(cfg.allow[cfg.nr_allow++].name, "a");
	}
	if (mode & 4) {
		cfg.fwd[0] = (struct net_fwd){ .udp = true, .host_port = 5353, .guest_port = 53 };
		cfg.nr_fwd = 1;
	}
	policy_init(&pol, &cfg);
}

static void on_addr(void *ctx, uint32_t addr, uint32_t ttl)
{
	(void)addr;
	(void)ttl;
	(*(unsigned *)ctx)++;
}

/* A message through every DNS reader; names must come out bounded and NUL-terminated. */
static void dns_run(const uint8_t *m, size_t n)
{
	char name[DNS_NAME_TEXT];
	uint16_t t, c;
	size_t end, next;
	unsigned count = 0;
	if (dns_question(m, n, name, &t, &c, &end) == 0) {
		if (strlen(name) > 253 || end > n)
			abort();
		dns_answer_addrs(m, n, name, on_addr, &count);
		policy_dns_answer(&pol, m, n, name, now_ms);
	}
	dns_answer_addrs(m, n, "api.example.com", on_addr, &count);
	policy_dns_answer(&pol, m, n, "api.example.com", now_ms);
	for (size_t off = 0; off < n && off < 64; off++)
		if (dns_name(m, n, off, name, &next) == 0 && (strlen(name) > 253 || next > n))
			abort();
}

static void frame_run(const uint8_t *f, size_t n)
{
	struct policy_result r;
	policy_check(&pol, f, n, now_ms, &r);
	if (r.verdict == POLICY_DNS && (r.pkt.payload < f || r.pkt.payload + r.pkt.payload_len > f + n))
		abort();
	if (r.verdict == POLICY_DNS)
		dns_run(r.pkt.payload, r.pkt.payload_len);
	policy_note_inbound(&pol, f, n, now_ms);
}

/* One tx chain of up to 4 readable descriptors over guest RAM the input fills. */
static void tx_run(struct fx *f, struct in *in)
{
	struct rb_buf b[4];
	unsigned nd = get8(in) % 4 + 1;
	for (unsigned i = 0; i < nd; i++) {
		uint32_t len = get16(in) % 4096;
		uint64_t addr = TX_BUF + 0x2000ull * i;
		if (get8(in) == 0xff)
			addr = RAM - 16; /* past the end of RAM */
		else
			for (uint32_t k = 0; k < len && addr + k < RAM; k++)
				f->ram[addr + k] = get8(in);
		b[i] = (struct rb_buf){ addr, len, false };
	}
	fx_tx(f, b, nd);
}

/* An rx buffer posted and a frame queued by the backend; both sizes from the input. */
static void rx_run(struct fx *f, struct in *in)
{
	uint32_t len = get16(in) % (RX_STRIDE + 1);
	if (len)
		fx_rx_post(f, &len, 1, get8(in) & 1);
	if (f->be->in_n < FAKE_FRAMES / 2) {
		struct virtio_net_hdr h;
		size_t got;
		const uint8_t *p = take(in, sizeof(h), &got);
		memset(&h, 0, sizeof(h));
		memcpy(&h, p, got);
		fake_queue(f->be, get16(in) % 9000, get8(in), &h);
	}
	virtio_net_backend_event(&f->n, EPOLLIN);
}

static void run_one(struct fx **f, struct in *in)
{
	size_t n;
	const uint8_t *p;
	switch (get8(in) % 8) {
	case 0:
		p = take(in, get16(in) % 2048, &n);
		frame_run(p, n);
		break;
	case 1:
		p = take(in, get16(in) % 1024, &n);
		dns_run(p, n);
		break;
	case 2:
		tx_run(*f, in);
		break;
	case 3:
		rx_run(*f, in);
		break;
	case 4: { /* the driver scribbles on its rings */
		uint16_t off = get16(in) % 0x8000;
		(*f)->ram[0x1000 + off] = get8(in);
		break;
	}
	case 5: { /* a fresh device, features of the driver's choosing */
		uint64_t feat = F_V1 | ((uint64_t)get8(in) << 8 | get8(in)) | ((uint64_t)get8(in) << 15);
		unsigned off = get8(in) % 16;
		fx_free(*f);
		*f = fx_new(off, feat & ~(1ull << 31));
		break;
	}
	case 6:
		now_ms += get16(in) * 100u;
		break;
	default:
		virtio_mmio_kick(&(*f)->n.mmio, get8(in) & 1);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_set_prog("fuzz_net");
		quiet = true;
	}
	struct in in = { data, size };
	policy_setup(get8(&in));
	struct fx *f = fx_new(0, F_V1 | F_MRG | F_EVENT_IDX);
	for (unsigned steps = 0; in.n && steps < 256; steps++)
		run_one(&f, &in);
	/* Whatever the guest did, the device's counters add up and nothing leaked. */
	if (f->n.stats.rx_bytes > f->n.stats.rx_packets * NET_FRAME_MAX)
		abort();
	fx_free(f);
	return 0;
}
