/* The polling virtio-blk driver the blk guests share; straight-line and small because guest code is emulated. */
#include "vblk.h"

#include "guest.h"

struct vring_desc vq_desc[VQ_SIZE] __attribute__((aligned(16)));
struct vring_avail vq_avail __attribute__((aligned(2)));
volatile struct vring_used vq_used __attribute__((aligned(4)));

static struct {
	uint32_t type, reserved;
	uint64_t sector;
} req_hdr __attribute__((aligned(16)));
static volatile uint8_t req_status;

/*
 * Used-ring polls, each with a PAUSE: the bound is for a lost request, not a deadline. The device
 * answers from another host thread, which on a loaded or emulated host (KVM nested under TCG) may
 * not run for a long while; PAUSE lets KVM's pause-loop exiting hand it the CPU. Far below the
 * suite's per-guest timeout on hardware, where a poll costs tens of nanoseconds.
 */
#define USED_POLLS (1u << 28)

bool vblk_wait_used(uint16_t idx)
{
	for (unsigned i = 0; i < USED_POLLS; i++) {
		if (vq_used.idx == idx)
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

int vblk_probe(void)
{
	if (vm_read(VM_MAGIC) != 0x74726976u)
		fail(10, "virtio-mmio magic is not 'virt'");
	if (vm_read(VM_VERSION) != 2)
		fail(11, "virtio-mmio version is not 2");
	if (vm_read(VM_DEVICE_ID) != 2)
		fail(12, "virtio-mmio device id is not 2 (blk)");
	return 0;
}

static uint64_t read_features(void)
{
	vm_write(VM_DEV_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)vm_read(VM_DEV_FEATURES) << 32;
	vm_write(VM_DEV_FEATURES_SEL, 0);
	return f | vm_read(VM_DEV_FEATURES);
}

int vblk_negotiate(uint64_t want, uint64_t *offered)
{
	vm_write(VM_STATUS, 0);
	if (vm_read(VM_STATUS) != 0)
		fail(13, "Status does not read 0 after reset");
	vm_write(VM_STATUS, ST_ACK);
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER);
	uint64_t f = read_features();
	if (offered)
		*offered = f;
	if (!(f & F_VERSION_1))
		fail(14, "device does not offer VIRTIO_F_VERSION_1");
	uint64_t acc = (want & f) | F_VERSION_1;
	vm_write(VM_DRV_FEATURES_SEL, 0);
	vm_write(VM_DRV_FEATURES, (uint32_t)acc);
	vm_write(VM_DRV_FEATURES_SEL, 1);
	vm_write(VM_DRV_FEATURES, (uint32_t)(acc >> 32));
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(vm_read(VM_STATUS) & ST_FEATURES_OK))
		fail(15, "device cleared FEATURES_OK");
	vm_write(VM_QUEUE_SEL, 0);
	if (vm_read(VM_QUEUE_READY) != 0)
		fail(16, "queue 0 is ready before setup");
	if (vm_read(VM_QUEUE_NUM_MAX) < VQ_SIZE)
		fail(16, "QueueNumMax < 8");
	vm_write(VM_QUEUE_NUM, VQ_SIZE);
	return 0;
}

void vblk_queue_setup(void)
{
	/* Fresh rings: a reset device starts again from index 0. */
	memset(vq_desc, 0, sizeof vq_desc);
	memset(&vq_avail, 0, sizeof vq_avail);
	memset((void *)&vq_used, 0, sizeof vq_used);
	vm_write(VM_QUEUE_DESC_LO, (uint32_t)vq_desc);
	vm_write(VM_QUEUE_DESC_HI, 0);
	vm_write(VM_QUEUE_DRIVER_LO, (uint32_t)&vq_avail);
	vm_write(VM_QUEUE_DRIVER_HI, 0);
	vm_write(VM_QUEUE_DEVICE_LO, (uint32_t)&vq_used);
	vm_write(VM_QUEUE_DEVICE_HI, 0);
	vm_write(VM_QUEUE_READY, 1);
	if (vm_read(VM_QUEUE_READY) != 1)
		fail(17, "QueueReady does not read back 1 with valid rings");
}

int vblk_init(uint64_t want, uint64_t *offered)
{
	vblk_negotiate(want, offered);
	vblk_queue_setup();
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	uint32_t st = vm_read(VM_STATUS);
	if (st != (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK)) {
		serial_puts("status ");
		serial_puthex(st);
		serial_putc('\n');
		fail(17, "Status is not ACK|DRIVER|FEATURES_OK|DRIVER_OK after DRIVER_OK");
	}
	return 0;
}

uint64_t vblk_capacity(void)
{
	/* Read high, low, high: retry if a config change raced us (ConfigGeneration is the formal way). */
	uint32_t hi, lo;
	do {
		hi = vm_read(VM_CONFIG + 4);
		lo = vm_read(VM_CONFIG);
	} while (vm_read(VM_CONFIG + 4) != hi);
	return ((uint64_t)hi << 32) | lo;
}

void vblk_kick(void)
{
	barrier();
	vm_write(VM_QUEUE_NOTIFY, 0);
}

uint32_t vblk_wait_status(uint32_t bits, unsigned tries)
{
	for (unsigned i = 0; i < tries; i++) {
		uint32_t st = vm_read(VM_STATUS);
		if (st & bits)
			return st;
	}
	return 0;
}

int vblk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len, uint32_t *used_len)
{
	req_hdr.type = type;
	req_hdr.reserved = 0;
	req_hdr.sector = sector;
	req_status = BLK_S_NONE;
	unsigned n = 0;
	vq_desc[n] = (struct vring_desc){(uint32_t)&req_hdr, sizeof req_hdr, VRING_DESC_F_NEXT, (uint16_t)(n + 1)};
	n++;
	if (len) {
		uint16_t w = type == BLK_T_OUT ? 0 : VRING_DESC_F_WRITE;
		vq_desc[n] = (struct vring_desc){(uint32_t)buf, len, (uint16_t)(w | VRING_DESC_F_NEXT), (uint16_t)(n + 1)};
		n++;
	}
	vq_desc[n] = (struct vring_desc){(uint32_t)&req_status, 1, VRING_DESC_F_WRITE, 0};
	uint16_t idx = vq_avail.idx;
	vq_avail.ring[idx % VQ_SIZE] = 0;
	barrier();
	vq_avail.idx = (uint16_t)(idx + 1);
	vblk_kick();
	if (!vblk_wait_used((uint16_t)(idx + 1)))
		return -1;
	barrier();
	if (vq_used.ring[idx % VQ_SIZE].id != 0)
		fail(18, "used element names a different head");
	if (used_len)
		*used_len = vq_used.ring[idx % VQ_SIZE].len;
	return req_status;
}
