/* Ethernet/IPv4 framing: every length read from a guest frame is checked against the frame. */
#include "frame.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define IP4_HDR_LEN 20u
#define UDP_HDR_LEN 8u
#define TCP_HDR_LEN 20u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

uint16_t frame_ethertype(const uint8_t *f, size_t len)
{
	return len < ETH_HDR_LEN ? 0 : get16(f + 12);
}

int frame_ip4(const uint8_t *f, size_t len, struct ip4_pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < ETH_HDR_LEN + IP4_HDR_LEN)
		return -1;
	const uint8_t *ip = f + ETH_HDR_LEN;
	size_t avail = len - ETH_HDR_LEN;
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	size_t total = get16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < IP4_HDR_LEN || total < ihl || total > avail)
		return -1;
	uint16_t frag = get16(ip + 6);
	p->src = get32(ip + 12);
	p->dst = get32(ip + 16);
	p->proto = ip[9];
	p->fragment = (frag & 0x3fff) != 0; /* MF, or an offset */
	if (frag & 0x1fff)
		return 0; /* a later fragment: no transport header here */

	const uint8_t *l4 = ip + ihl;
	size_t l4_len = total - ihl;
	size_t need = p->proto == IPPROTO_TCP ? TCP_HDR_LEN :
		      p->proto == IPPROTO_UDP ? UDP_HDR_LEN :
		      p->proto == IPPROTO_ICMP ? 4 :
						 0;
	/* A first fragment that splits the transport header would hide its ports from the policy. */
	if (l4_len < need)
		return -1;
	if (need == 0)
		return 0;
	p->has_l4 = true;
	if (p->proto == IPPROTO_ICMP) {
		p->sport = get16(l4);
		return 0;
	}
	p->sport = get16(l4);
	p->dport = get16(l4 + 2);
	size_t hlen = UDP_HDR_LEN;
	if (p->proto == IPPROTO_TCP) {
		hlen = (size_t)(l4[12] >> 4) * 4;
		if (hlen < TCP_HDR_LEN || hlen > l4_len)
			return -1;
		p->tcp_seq = get32(l4 + 4);
		p->tcp_flags = l4[13];
	}
	p->payload = l4 + hlen;
	p->payload_len = l4_len - hlen;
	if (p->proto == IPPROTO_UDP && !p->fragment) {
		/* The UDP length bounds the datagram; anything past it is padding. */
		size_t ulen = get16(l4 + 4);
		if (ulen < UDP_HDR_LEN || ulen > l4_len)
			return -1;
		p->payload_len = ulen - UDP_HDR_LEN;
	}
	return 0;
}

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	while (len > 1) {
		sum += get16(b);
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet and IPv4 headers for an l4_len-byte transport segment; returns the IPv4 header. */
static uint8_t *frame_ip4_hdr(uint8_t *out, const uint8_t dst_mac[6], const uint8_t src_mac[6],
			      uint32_t src, uint32_t dst, uint8_t proto, size_t l4_len,
			      uint16_t ip_id)
{
	memcpy(out, dst_mac, ETH_ADDR_LEN);
	memcpy(out + 6, src_mac, ETH_ADDR_LEN);
	put16(out + 12, ETHERTYPE_IPV4);
	uint8_t *ip = out + ETH_HDR_LEN;
	memset(ip, 0, IP4_HDR_LEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP4_HDR_LEN + l4_len));
	put16(ip + 4, ip_id);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP4_HDR_LEN)));
	return ip;
}

/* The transport checksum over the pseudo-header and the segment. */
static uint16_t l4_csum(const uint8_t *ip, const uint8_t *l4, size_t l4_len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = ip[9];
	put16(pseudo + 10, (uint16_t)l4_len);
	return csum_fold(csum_add(csum_add(0, pseudo, sizeof(pseudo)), l4, l4_len));
}

size_t frame_udp4(uint8_t *out, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const void *payload,
		  size_t plen, uint16_t ip_id)
{
	size_t l4_len = UDP_HDR_LEN + plen;
	size_t total = ETH_HDR_LEN + IP4_HDR_LEN + l4_len;
	if (plen > 65535 - IP4_HDR_LEN - UDP_HDR_LEN || total > cap)
		return 0;
	uint8_t *ip = frame_ip4_hdr(out, dst_mac, src_mac, src, dst, IPPROTO_UDP, l4_len, ip_id);
	uint8_t *udp = ip + IP4_HDR_LEN;
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint16_t)l4_len);
	put16(udp + 6, 0);
	memcpy(udp + UDP_HDR_LEN, payload, plen);
	uint16_t c = l4_csum(ip, udp, l4_len);
	put16(udp + 6, c ? c : 0xffff); /* 0 would mean "no checksum" */
	return total;
}

size_t frame_tcp4(uint8_t *out, size_t cap, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint32_t seq,
		  uint32_t ack, uint8_t flags, const void *data, size_t len, uint16_t ip_id)
{
	size_t l4_len = TCP_HDR_LEN + len;
	size_t total = ETH_HDR_LEN + IP4_HDR_LEN + l4_len;
	if (len > 65535 - IP4_HDR_LEN - TCP_HDR_LEN || total > cap)
		return 0;
	uint8_t *ip = frame_ip4_hdr(out, dst_mac, src_mac, src, dst, IPPROTO_TCP, l4_len, ip_id);
	uint8_t *tcp = ip + IP4_HDR_LEN;
	memset(tcp, 0, TCP_HDR_LEN);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (TCP_HDR_LEN / 4) << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535); /* the window */
	if (len)
		memcpy(tcp + TCP_HDR_LEN, data, len);
	put16(tcp + 16, l4_csum(ip, tcp, l4_len));
	return total;
}

const char *ip4_str(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	return buf;
}
