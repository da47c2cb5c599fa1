/* The virtio-vsock packet header and constants (virtio 1.2 §5.10.6), for device and bridge. */
#ifndef FLINT_VSOCK_PACKET_H
#define FLINT_VSOCK_PACKET_H

#include <stdint.h>

#define VSOCK_HOST_CID 2u
#define VSOCK_TYPE_STREAM 1u

#define VSOCK_OP_REQUEST 1u
#define VSOCK_OP_RESPONSE 2u
#define VSOCK_OP_RST 3u
#define VSOCK_OP_SHUTDOWN 4u
#define VSOCK_OP_RW 5u
#define VSOCK_OP_CREDIT_UPDATE 6u
#define VSOCK_OP_CREDIT_REQUEST 7u

#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* The largest payload flint takes from or gives to the guest in one packet (Linux's own limit). */
#define VSOCK_PKT_MAX (64u * 1024)

/* Little-endian on the wire; flint only runs on little-endian hosts (virtio_types.h checks). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_SIZE 44u
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr layout");

#endif
