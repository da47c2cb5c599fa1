/* DNS messages as the forwarder sees them: the question, and the A records answering it. */
#ifndef FLINT_NET_DNS_H
#define FLINT_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12u
#define DNS_NAME_TEXT 256u /* a decoded name and its NUL: 253 characters at most */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_TC 0x0200u

/*
 * Everything here reads messages that came from the network (answers) or the guest (queries):
 * every offset is checked against the length, compression pointers must point backwards (so a
 * name cannot loop), names are at most 255 bytes on the wire and counts are capped.
 *
 * Decoded names are lower case, labels joined by '.', no trailing dot, "" for the root. A byte
 * that cannot appear in a host name (including a '.' inside a label) becomes '#', so such a name
 * never equals an allow= entry.
 */

/* The name at off: 0 with out and *next (the offset just past it, pointers not followed), or -1. */
int dns_name(const uint8_t *msg, size_t len, size_t off, char out[DNS_NAME_TEXT], size_t *next);

/*
 * The single question of msg: 0 with its name, type and class, and *end (offset past it), or -1
 * when the message is shorter than a header or has a QDCOUNT other than 1 or a bad name.
 */
int dns_question(const uint8_t *msg, size_t len, char name[DNS_NAME_TEXT], uint16_t *qtype,
		 uint16_t *qclass, size_t *end);

/*
 * For an answer to a question about qname: call fn for every IN A record owned by qname or by a
 * name that a CNAME chain in the answer section leads to from it (at most 8 names). TTLs are
 * passed as given. Returns the number of records passed, or -1 when the message is malformed
 * (records read before the fault have been passed).
 */
typedef void (*dns_a_fn)(void *ctx, uint32_t addr, uint32_t ttl);
int dns_answer_addrs(const uint8_t *msg, size_t len, const char *qname, dns_a_fn fn, void *ctx);

#endif
