/* Test helper: guest frames for the user network's policy and backend tests. */
#ifndef FLINT_TEST_NETFRAMES_H
#define FLINT_TEST_NETFRAMES_H

#include <stdint.h>
#include <string.h>

#include "net/backend.h"
#include "net/frame.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0, 0, 0, 3 };
static const uint8_t gw_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* A TCP segment from the guest (10.0.2.15:40000) to dst:dport with flags. */
static inline size_t tcp_from_guest(uint8_t *buf, uint32_t dst, uint16_t dport, uint8_t flags)
{
	return frame_tcp4(buf, 128, gw_mac, guest_mac, NET_USER_GUEST, 40000, dst, dport, 1000, 0,
			  flags, NULL, 0, 1);
}

static inline size_t udp_from_guest(uint8_t *buf, size_t cap, uint16_t sport, uint32_t dst,
				    uint16_t dport, const void *payload, size_t len)
{
	return frame_udp4(buf, cap, gw_mac, guest_mac, NET_USER_GUEST, sport, dst, dport, payload,
			  len, 1);
}

/* An ICMP echo request (type 8) to dst. */
static inline size_t icmp_from_guest(uint8_t *buf, uint32_t dst)
{
	uint8_t payload[8] = { 8, 0, 0, 0, 0, 1, 0, 1 };
	size_t n = frame_udp4(buf, 128, gw_mac, guest_mac, NET_USER_GUEST, 0, dst, 0, payload, 0, 1);
	/* Rewrite the UDP frame as ICMP: protocol, the echo header, both checksums (slirp checks). */
	uint8_t *ip = buf + ETH_HDR_LEN;
	ip[9] = 1;
	ip[10] = ip[11] = 0;
	uint16_t c = csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	memcpy(ip + 20, payload, sizeof(payload));
	c = csum_fold(csum_add(0, ip + 20, sizeof(payload)));
	ip[22] = (uint8_t)(c >> 8);
	ip[23] = (uint8_t)c;
	(void)n;
	return ETH_HDR_LEN + 20 + sizeof(payload);
}

static inline void set_ethertype(uint8_t *buf, uint16_t t)
{
	buf[12] = (uint8_t)(t >> 8);
	buf[13] = (uint8_t)t;
}

#endif
