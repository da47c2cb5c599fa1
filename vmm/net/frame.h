/* Ethernet, IPv4, TCP and UDP framing for the user network: reading guest frames, building replies. */
#ifndef FLINT_NET_FRAME_H
#define FLINT_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HDR_LEN 14u
#define ETH_ADDR_LEN 6u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_ARP 0x0806u
#define ETHERTYPE_IPV6 0x86ddu

#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_ACK 0x10u

/* The largest frame either way: a 64 KiB IP packet (GSO) behind an Ethernet and a VLAN header. */
#define NET_FRAME_MAX (65535u + ETH_HDR_LEN + 4u)

/*
 * An IPv4 packet as read from a frame. Addresses are in host byte order. Ports and TCP fields
 * are valid only when has_l4: the first (or only) fragment carried the whole transport header.
 */
struct ip4_pkt {
	uint32_t src, dst;
	uint8_t proto;
	bool fragment;	/* a piece of a fragmented packet (MF set or a non-zero offset) */
	bool has_l4;
	uint16_t sport, dport;	/* TCP, UDP; ICMP: sport is type << 8 | code */
	uint8_t tcp_flags;
	uint32_t tcp_seq;
	const uint8_t *payload; /* after the transport header (UDP and TCP) */
	size_t payload_len;
};

/* The frame's EtherType, or 0 when it is shorter than an Ethernet header. */
uint16_t frame_ethertype(const uint8_t *f, size_t len);

/*
 * Read the IPv4 packet in frame f: 0, or -1 when it is malformed (bad version or header length, a
 * total length beyond the frame, a first fragment too short for its transport header).
 */
int frame_ip4(const uint8_t *f, size_t len, struct ip4_pkt *p);

/* The Internet checksum of buf, continuing from sum (0 to start); fold with csum_fold. */
uint32_t csum_add(uint32_t sum, const void *buf, size_t len);
uint16_t csum_fold(uint32_t sum);

/*
 * Build Ethernet + IPv4 + UDP around payload into out (cap bytes). Returns the frame length, or 0
 * when it does not fit.
 */
size_t frame_udp4(uint8_t *out, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const void *payload,
		  size_t plen, uint16_t ip_id);

/* A TCP segment with flags and data (may be empty), no options; same contract as frame_udp4. */
size_t frame_tcp4(uint8_t *out, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
		  uint32_t ack, uint8_t flags, const void *data, size_t len, uint16_t ip_id);

/* "a.b.c.d" for a host-order address, into buf (16 bytes). */
const char *ip4_str(uint32_t a, char buf[16]);

#endif
