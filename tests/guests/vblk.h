/* A minimal polling virtio-mmio (v2) block driver for the test guests: one queue of 8, one request at a time. */
#ifndef FLINT_TEST_VBLK_H
#define FLINT_TEST_VBLK_H

#include <stdbool.h>
#include <stdint.h>

#define VBLK_BASE 0xd0000000u /* the first virtio-mmio window: the first --disk */

/* virtio-mmio registers (virtio 1.2 §4.2.2). */
#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEV_FEATURES 0x010
#define VM_DEV_FEATURES_SEL 0x014
#define VM_DRV_FEATURES 0x020
#define VM_DRV_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INT_STATUS 0x060
#define VM_INT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LO 0x080
#define VM_QUEUE_DESC_HI 0x084
#define VM_QUEUE_DRIVER_LO 0x090
#define VM_QUEUE_DRIVER_HI 0x094
#define VM_QUEUE_DEVICE_LO 0x0a0
#define VM_QUEUE_DEVICE_HI 0x0a4
#define VM_CONFIG 0x100

#define ST_ACK 1u
#define ST_DRIVER 2u
#define ST_DRIVER_OK 4u
#define ST_FEATURES_OK 8u
#define ST_NEEDS_RESET 64u
#define ST_FAILED 128u

#define BLK_F_RO (1ull << 5)
#define BLK_F_FLUSH (1ull << 9)
#define F_VERSION_1 (1ull << 32)

#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define BLK_S_OK 0u
#define BLK_S_IOERR 1u
#define BLK_S_UNSUPP 2u
#define BLK_S_NONE 0xeeu /* what we preset: the device never wrote a status */

#define VQ_SIZE 8u

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VQ_SIZE];
	uint16_t used_event;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct {
		uint32_t id;
		uint32_t len;
	} ring[VQ_SIZE];
	uint16_t avail_event;
};

/* The rings, exposed so the hostile guest can corrupt them on purpose. */
extern struct vring_desc vq_desc[VQ_SIZE];
extern struct vring_avail vq_avail;
extern volatile struct vring_used vq_used;

static inline uint32_t vm_read(uint32_t off) { return *(volatile uint32_t *)(VBLK_BASE + off); }
static inline void vm_write(uint32_t off, uint32_t v) { *(volatile uint32_t *)(VBLK_BASE + off) = v; }

/* Magic, version 2, device id 2. 0 or a failure exit code (10..12). */
int vblk_probe(void);

/*
 * Reset, negotiate VERSION_1 plus (want & offered), set up queue 0 with our rings
 * and set DRIVER_OK. *offered gets the device's features. 0 or an exit code (13..17).
 */
int vblk_init(uint64_t want, uint64_t *offered);

/* Same as vblk_init up to FEATURES_OK and queue 0's size, without the ring addresses or QueueReady. */
int vblk_negotiate(uint64_t want, uint64_t *offered);

/* Zero our rings, give queue 0 their addresses and set QueueReady (after vblk_negotiate). */
void vblk_queue_setup(void);

/* Capacity in 512-byte sectors, from config space. */
uint64_t vblk_capacity(void);

/*
 * One request: header, then len bytes at buf (device-readable for OUT, writable
 * otherwise; none when len is 0), then the status byte. Polls the used ring.
 * Returns the status byte, BLK_S_NONE if it was never written, or -1 on timeout.
 * *used_len gets the used element's length when used_len is not null.
 */
int vblk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len, uint32_t *used_len);

/* Kick queue 0 (after posting something by hand). */
void vblk_kick(void);

/* Poll Status until any of bits appear; returns the last Status or 0 after `tries` reads without them. */
uint32_t vblk_wait_status(uint32_t bits, unsigned tries);
/* Poll until the used ring's idx is idx (true), or give up on a lost request (false). */
bool vblk_wait_used(uint16_t idx);

#endif
