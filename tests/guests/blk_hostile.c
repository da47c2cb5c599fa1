/* A hostile virtio-blk driver: each broken ring must make the device NEEDS_RESET (not crash flint-vmm), and a reset must recover it. */
#include "guest.h"
#include "vblk.h"

const char guest_name[] = "blk_hostile";

static struct {
	uint32_t type, reserved;
	uint64_t sector;
} hdr __attribute__((aligned(16)));
static uint8_t data[512] __attribute__((aligned(16)));
static uint8_t status;

/* Status reads are MMIO exits; the device may flag the error from another thread, so allow it a while. */
#define STATUS_POLLS 100000u

enum attack {
	FAR_ADDR,     /* a data buffer at 0xfff00000_00000000, far outside RAM */
	HOLE_ADDR,    /* a data buffer in the MMIO hole (the device's own window) */
	HUGE_LEN,     /* a data buffer in RAM but 4 GiB - 16 long */
	LOOP,         /* descriptor 0 chains to itself */
	BAD_HEAD,     /* the avail ring names descriptor 200 of 8 */
	BAD_NEXT,     /* a next index past the table */
	IDX_JUMP,     /* avail idx advances by 100 with a queue of 8 */
	WRITE_BEFORE_READ, /* a device-writable descriptor before a readable one */
	N_ATTACKS
};
static const char *const names[N_ATTACKS] = {
	"far_addr", "hole_addr", "huge_len", "loop", "bad_head", "bad_next", "idx_jump", "write_before_read",
};

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq_desc[i] = (struct vring_desc){addr, len, flags, next};
}

/* A well-formed read of sector 0: header, 512 writable bytes, status; callers then break one part. */
static void good_chain(void)
{
	hdr.type = BLK_T_IN;
	hdr.sector = 0;
	set_desc(0, (uint32_t)&hdr, sizeof hdr, VRING_DESC_F_NEXT, 1);
	set_desc(1, (uint32_t)data, sizeof data, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, (uint32_t)&status, 1, VRING_DESC_F_WRITE, 0);
}

static void post(uint16_t head, uint16_t new_idx)
{
	vq_avail.ring[0] = head;
	barrier();
	vq_avail.idx = new_idx;
	vblk_kick();
}

static void attack(enum attack a)
{
	good_chain();
	uint16_t head = 0, idx = 1;
	switch (a) {
	case FAR_ADDR: set_desc(1, 0xfff0000000000000ull, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2); break;
	case HOLE_ADDR: set_desc(1, VBLK_BASE, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2); break;
	case HUGE_LEN: set_desc(1, (uint32_t)data, 0xfffffff0u, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2); break;
	case LOOP: set_desc(0, (uint32_t)&hdr, sizeof hdr, VRING_DESC_F_NEXT, 0); break;
	case BAD_HEAD: head = 200; break;
	case BAD_NEXT: set_desc(1, (uint32_t)data, sizeof data, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 9); break;
	case IDX_JUMP: idx = 100; break;
	case WRITE_BEFORE_READ:
		set_desc(0, (uint32_t)&hdr, sizeof hdr, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		set_desc(1, (uint32_t)data, sizeof data, VRING_DESC_F_NEXT, 2);
		break;
	case N_ATTACKS: break;
	}
	post(head, idx);
}

static void reset_device(unsigned code)
{
	vm_write(VM_STATUS, 0);
	if (vm_read(VM_STATUS) != 0)
		fail(code, "Status does not read 0 after the driver reset it");
}

/* Point queue 0's rings at base, go DRIVER_OK and kick: the device must not accept them. */
static void set_rings(uint32_t base)
{
	vm_write(VM_QUEUE_DESC_LO, base);
	vm_write(VM_QUEUE_DESC_HI, 0);
	vm_write(VM_QUEUE_DRIVER_LO, base + 0x200);
	vm_write(VM_QUEUE_DRIVER_HI, 0);
	vm_write(VM_QUEUE_DEVICE_LO, base + 0x400);
	vm_write(VM_QUEUE_DEVICE_HI, 0);
	vm_write(VM_QUEUE_READY, 1);
	unsigned refused = vm_read(VM_QUEUE_READY) == 0;
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vblk_kick();
	if (!refused && !vblk_wait_status(ST_NEEDS_RESET | ST_FAILED, STATUS_POLLS))
		fail(71, base == VBLK_BASE ? "rings in the MMIO hole were accepted" : "queue size 3 was accepted");
	serial_puts(base == VBLK_BASE ? "blk_hostile: rings in the hole" : "blk_hostile: queue size 3");
	serial_puts(refused ? " refused at QueueReady\n" : " refused at DRIVER_OK\n");
}

/* Registers poked out of turn: queues that do not exist, config past its end, writes to read-only config. */
static void register_abuse(void)
{
	vblk_init(0, 0);
	uint64_t cap = vblk_capacity();
	vm_write(VM_QUEUE_SEL, 7);
	if (vm_read(VM_QUEUE_NUM_MAX) != 0)
		fail(75, "QueueNumMax of a queue the device does not have is not 0");
	vm_write(VM_QUEUE_NUM, 8);
	vm_write(VM_QUEUE_DESC_LO, 0xfffff000u);
	vm_write(VM_QUEUE_READY, 1);
	vm_write(VM_QUEUE_NOTIFY, 7);
	vm_write(VM_QUEUE_NOTIFY, 0xffff);
	vm_write(VM_QUEUE_SEL, 0);
	(void)vm_read(VM_CONFIG + 0xe00);
	vm_write(VM_CONFIG + 0xe00, 0x12345678u);
	vm_write(VM_CONFIG, 0);
	vm_write(VM_CONFIG + 4, 0xffffffffu);
	if (vblk_capacity() != cap)
		fail(77, "a driver write changed the capacity in config space");
	if (*(volatile uint8_t *)(VBLK_BASE + VM_CONFIG) != (uint8_t)cap)
		fail(78, "a 1-byte config read does not give the capacity's low byte");
}

/* Driver-protocol violations: features the device did not offer, and a kick before DRIVER_OK. */
static void protocol_abuse(void)
{
	uint64_t f;
	vblk_negotiate(0, &f);
	uint32_t lo = (uint32_t)f, unoffered = ~lo & (lo + 1); /* the lowest bit not offered */
	vm_write(VM_STATUS, 0);
	vm_write(VM_STATUS, ST_ACK);
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER);
	vm_write(VM_DRV_FEATURES_SEL, 0);
	vm_write(VM_DRV_FEATURES, unoffered);
	vm_write(VM_DRV_FEATURES_SEL, 1);
	vm_write(VM_DRV_FEATURES, 1);
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (vm_read(VM_STATUS) & ST_FEATURES_OK)
		fail(80, "FEATURES_OK was kept with a feature the device did not offer");
	reset_device(81);

	/* The device must not consume buffers before DRIVER_OK, and must after it. */
	vblk_negotiate(0, 0);
	vblk_queue_setup();
	good_chain();
	status = BLK_S_NONE;
	post(0, 1);
	(void)vblk_wait_status(ST_DRIVER_OK, 20000); /* never set: just gives the device time to misbehave */
	if (vq_used.idx != 0)
		fail(82, "the device consumed a buffer before DRIVER_OK");
	vm_write(VM_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vblk_kick();
	if (!vblk_wait_used(1) || status != BLK_S_OK)
		fail(83, "a request made available before DRIVER_OK was not served after DRIVER_OK and a kick");
	reset_device(84);
}

/* Odd-width, unaligned and boundary-crossing accesses to the window: ignored or answered, never out of bounds. */
static void mmio_edges(void)
{
	vblk_init(0, 0);
	(void)mmio_read8(VBLK_BASE + VM_STATUS + 1);
	(void)*(volatile uint16_t *)(VBLK_BASE + VM_STATUS + 2);
	mmio_write32(VBLK_BASE + VM_MAGIC, 0);
	mmio_write32(VBLK_BASE + 0x0fc + 2, 0xffffffffu); /* ConfigGeneration into config: both read-only */
	if (vm_read(VM_MAGIC) != 0x74726976u)
		fail(86, "a write changed the Magic register");
	/* Every byte offset across the registers/config boundary and the whole config space's end. */
	for (uint32_t off = 0x0f8; off < 0x180; off++) {
		(void)*(volatile uint32_t *)(VBLK_BASE + off);
		(void)*(volatile uint16_t *)(VBLK_BASE + off);
	}
	/* Across the end of the window into the next (empty) one, both ways. */
	(void)*(volatile uint32_t *)(VBLK_BASE + 0xffe);
	*(volatile uint32_t *)(VBLK_BASE + 0xffe) = 0;
	(void)*(volatile uint32_t *)(VBLK_BASE + 0xfff);
}

int guest_main(const struct hvm_start_info *si)
{
	(void)si;
	vblk_probe();
	for (unsigned a = 0; a < N_ATTACKS; a++) {
		vblk_init(0, 0);
		attack((enum attack)a);
		uint32_t st = vblk_wait_status(ST_NEEDS_RESET, STATUS_POLLS);
		if (!st) {
			serial_puts(names[a]);
			serial_puts(": used idx ");
			serial_puthex(vq_used.idx);
			serial_puts(", status byte ");
			serial_puthex(status);
			serial_putc('\n');
			fail(50 + a, "device did not set NEEDS_RESET after a broken ring (attack named above)");
		}
		if (!(vm_read(VM_INT_STATUS) & 2)) {
			/* The spec says SHOULD, not MUST: note it for the log, but go on. */
			serial_puts("blk_hostile: note: no config-change interrupt with NEEDS_RESET after ");
			serial_puts(names[a]);
			serial_putc('\n');
		}
		reset_device(70);
	}

	/* Rings in the MMIO hole: the device must refuse them (QueueReady stays 0, or NEEDS_RESET/FAILED on DRIVER_OK). */
	vblk_negotiate(0, 0);
	set_rings(VBLK_BASE);
	reset_device(72);

	/* A queue size that is not a power of two: refused the same way. */
	vblk_negotiate(0, 0);
	vm_write(VM_QUEUE_NUM, 3);
	set_rings((uint32_t)vq_desc);
	reset_device(76);

	register_abuse();
	reset_device(79);
	mmio_edges();
	reset_device(85);
	protocol_abuse();

	/* The device must work again after a reset. */
	vblk_init(0, 0);
	int st = vblk_request(BLK_T_IN, 0, data, 512, 0);
	if (st != BLK_S_OK) {
		serial_puthex((uint32_t)st);
		serial_putc('\n');
		fail(73, "a good read after reset did not complete OK");
	}
	if (memcmp(data, "FLINTBLK", 8) != 0)
		fail(74, "a good read after reset returned the wrong data");
	serial_puts("blk_hostile: ok\n");
	return 0;
}
