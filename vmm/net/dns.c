/* DNS parsing for the forwarder's answer snooping; the input is hostile, so every byte is checked. */
#include "dns.h"

#include <string.h>

#define DNS_TYPE_A 1u
#define DNS_TYPE_CNAME 5u
#define DNS_CLASS_IN 1u
#define DNS_WIRE_NAME_MAX 255u
#define DNS_ANSWERS_MAX 64u
#define DNS_CHAIN_MAX 8u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static char name_char(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
		return (char)c;
	return '#';
}

int dns_name(const uint8_t *msg, size_t len, size_t off, char out[DNS_NAME_TEXT], size_t *next)
{
	size_t wire = 0, o = 0;
	bool jumped = false;

	for (;;) {
		if (off >= len)
			return -1;
		uint8_t l = msg[off];
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= len)
				return -1;
			size_t ptr = (size_t)(l & 0x3f) << 8 | msg[off + 1];
			/* Only backwards: every jump lands strictly earlier, so the walk ends. */
			if (ptr >= off)
				return -1;
			if (!jumped)
				*next = off + 2;
			jumped = true;
			off = ptr;
			continue;
		}
		if (l & 0xc0)
			return -1; /* the 0x40 and 0x80 label types are obsolete */
		wire += 1u + l;
		if (wire > DNS_WIRE_NAME_MAX)
			return -1;
		if (l == 0) {
			if (!jumped)
				*next = off + 1;
			out[o] = '\0';
			return 0;
		}
		if (l > len - off - 1)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++)
			out[o++] = name_char(msg[off + 1 + i]);
		off += 1u + l;
	}
}

int dns_question(const uint8_t *msg, size_t len, char name[DNS_NAME_TEXT], uint16_t *qtype,
		 uint16_t *qclass, size_t *end)
{
	size_t off;
	if (len < DNS_HDR_LEN || get16(msg + 4) != 1)
		return -1;
	if (dns_name(msg, len, DNS_HDR_LEN, name, &off) < 0 || len - off < 4)
		return -1;
	*qtype = get16(msg + off);
	*qclass = get16(msg + off + 2);
	*end = off + 4;
	return 0;
}

struct rr {
	char owner[DNS_NAME_TEXT];
	uint16_t type, rclass;
	uint32_t ttl;
	size_t rdata, rdlen;
};

/* The record at *off; advances *off past it. */
static int rr_read(const uint8_t *msg, size_t len, size_t *off, struct rr *r)
{
	size_t o;
	if (dns_name(msg, len, *off, r->owner, &o) < 0 || len - o < 10)
		return -1;
	r->type = get16(msg + o);
	r->rclass = get16(msg + o + 2);
	r->ttl = (uint32_t)get16(msg + o + 4) << 16 | get16(msg + o + 6);
	r->rdlen = get16(msg + o + 8);
	r->rdata = o + 10;
	if (r->rdlen > len - r->rdata)
		return -1;
	*off = r->rdata + r->rdlen;
	return 0;
}

struct chain {
	char names[DNS_CHAIN_MAX][DNS_NAME_TEXT];
	unsigned n;
};

static bool chain_has(const struct chain *c, const char *name)
{
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return true;
	return false;
}

/*
 * One pass over the answers. Without fn: follow CNAMEs owned by chain names, returning how many
 * names were added. With fn: pass the A records, returning how many.
 */
static int answers_pass(const uint8_t *msg, size_t len, size_t start, unsigned count,
			struct chain *c, dns_a_fn fn, void *ctx)
{
	size_t off = start;
	int found = 0;
	struct rr r;

	for (unsigned i = 0; i < count; i++) {
		if (rr_read(msg, len, &off, &r) < 0)
			return -1;
		if (r.rclass != DNS_CLASS_IN || !chain_has(c, r.owner))
			continue;
		if (fn && r.type == DNS_TYPE_A && r.rdlen == 4) {
			const uint8_t *a = msg + r.rdata;
			fn(ctx, (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3],
			   r.ttl);
			found++;
		} else if (!fn && r.type == DNS_TYPE_CNAME && c->n < DNS_CHAIN_MAX) {
			size_t end;
			char target[DNS_NAME_TEXT];
			/* The target must fill the record exactly; it may point back into the message. */
			if (dns_name(msg, r.rdata + r.rdlen, r.rdata, target, &end) < 0 ||
			    end != r.rdata + r.rdlen)
				return -1;
			if (!chain_has(c, target)) {
				memcpy(c->names[c->n++], target, sizeof(target));
				found++;
			}
		}
	}
	return found;
}

int dns_answer_addrs(const uint8_t *msg, size_t len, const char *qname, dns_a_fn fn, void *ctx)
{
	char name[DNS_NAME_TEXT];
	uint16_t qtype, qclass;
	size_t start;
	struct chain c;

	if (dns_question(msg, len, name, &qtype, &qclass, &start) < 0 || strcmp(name, qname) != 0)
		return -1;
	unsigned count = get16(msg + 6);
	if (count > DNS_ANSWERS_MAX)
		count = DNS_ANSWERS_MAX;
	c.n = 1;
	memcpy(c.names[0], name, sizeof(name));
	/* Chains may be listed in any order: follow them until a pass adds nothing. */
	for (unsigned pass = 0; pass < DNS_CHAIN_MAX; pass++) {
		int added = answers_pass(msg, len, start, count, &c, NULL, NULL);
		if (added < 0)
			return -1;
		if (added == 0)
			break;
	}
	return answers_pass(msg, len, start, count, &c, fn, ctx);
}
