/* virtio-mmio version 2 transport (spec §4.2.2): a strict register file around a device. */
#include "mmio.h"

#include <string.h>

#include "../log.h"

#define MMIO_MAGIC   0x74726976u /* "virt" */
#define MMIO_VERSION 2u
#define MMIO_VENDOR  0x544e4c46u /* "FLNT" */

#define REG_MAGIC		0x000
#define REG_VERSION		0x004
#define REG_DEVICE_ID		0x008
#define REG_VENDOR_ID		0x00c
#define REG_DEVICE_FEATURES	0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES	0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL		0x030
#define REG_QUEUE_NUM_MAX	0x034
#define REG_QUEUE_NUM		0x038
#define REG_QUEUE_READY		0x044
#define REG_INTERRUPT_STATUS	0x060
#define REG_INTERRUPT_ACK	0x064
#define REG_STATUS		0x070
#define REG_QUEUE_DESC_LOW	0x080
#define REG_QUEUE_DESC_HIGH	0x084
#define REG_QUEUE_DRIVER_LOW	0x090
#define REG_QUEUE_DRIVER_HIGH	0x094
#define REG_QUEUE_DEVICE_LOW	0x0a0
#define REG_QUEUE_DEVICE_HIGH	0x0a4
#define REG_SHM_SEL		0x0ac
#define REG_SHM_LEN_LOW		0x0b0
#define REG_SHM_BASE_HIGH	0x0bc
#define REG_CONFIG_GENERATION	0x0fc

#define INT_USED_RING 1u
#define INT_CONFIG    2u

#define STATUS_INIT_STEPS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define STATUS_FEATURES	  (STATUS_INIT_STEPS | VIRTIO_STATUS_FEATURES_OK)
#define STATUS_RUNNING	  (STATUS_FEATURES | VIRTIO_STATUS_DRIVER_OK)

int virtio_mmio_init(struct virtio_mmio *m, const struct virtio_dev_ops *ops, void *dev,
		     uint64_t device_features, const struct gmem *mem, uint64_t base, unsigned gsi,
		     const struct virtio_mmio_hooks *hooks)
{
	BUG_ON(!ops || !ops->notify);
	BUG_ON(ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_QUEUES_MAX);
	BUG_ON(ops->config_size > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG);

	memset(m, 0, sizeof(*m));
	int r = pthread_mutex_init(&m->lock, NULL);
	if (r) {
		log_err("virtio-%s: cannot create its lock: %s", ops->name, strerror(r));
		return -r;
	}
	m->dev = dev;
	m->device_features = device_features | (1ull << VIRTIO_F_VERSION_1);
	m->mem = mem;
	m->base = base;
	m->gsi = gsi;
	if (hooks)
		m->hooks = *hooks;
	/* Last: destroy takes a NULL ops as "never initialised". */
	m->ops = ops;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (!m->ops)
		return;
	pthread_mutex_destroy(&m->lock);
	m->ops = NULL;
}

static void raise_irq(struct virtio_mmio *m, uint32_t why)
{
	m->interrupt_status |= why;
	if (m->hooks.irq)
		m->hooks.irq(m->hooks.ctx, m->gsi);
}

void virtio_mmio_signal_used(struct virtio_mmio *m, unsigned q)
{
	BUG_ON(q >= m->ops->num_queues);
	/* After a device error the driver must reset; until then only that error is news. */
	if (m->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	if (virtq_should_signal(&m->vq[q]))
		raise_irq(m, INT_USED_RING);
}

void virtio_mmio_device_error(struct virtio_mmio *m, const char *why)
{
	m->device_errors++;
	log_guest(m->ops->name, "device error: %s", why);
	if (m->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	m->status |= VIRTIO_STATUS_NEEDS_RESET;
	raise_irq(m, INT_CONFIG);
}

static void notify_locked(struct virtio_mmio *m, unsigned q)
{
	if (q >= m->ops->num_queues) {
		log_guest(m->ops->name, "kick of queue %u, device has %u", q, m->ops->num_queues);
		return;
	}
	/* Kicks racing a reset, or from a driver that is not running the device, do nothing. */
	uint32_t stop = VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	if ((m->status & (STATUS_RUNNING | stop)) != STATUS_RUNNING || !m->vq[q].ready)
		return;
	m->ops->notify(m->dev, q);
}

void virtio_mmio_kick(struct virtio_mmio *m, unsigned q)
{
	pthread_mutex_lock(&m->lock);
	notify_locked(m, q);
	pthread_mutex_unlock(&m->lock);
}

static void device_reset(struct virtio_mmio *m)
{
	m->status = 0;
	m->device_features_sel = 0;
	m->driver_features_sel = 0;
	m->driver_features = 0;
	m->queue_sel = 0;
	m->interrupt_status = 0;
	for (unsigned i = 0; i < VIRTIO_MMIO_QUEUES_MAX; i++)
		virtq_reset(&m->vq[i]);
	if (m->ops->reset)
		m->ops->reset(m->dev);
}

/*
 * The driver's side of initialisation (§3.1.1) as an explicit table: each step adds
 * exactly one bit. FAILED may be set at any time and 0 resets; anything else is
 * ignored. NEEDS_RESET belongs to the device, so a driver echoing it back is fine.
 */
static void status_write(struct virtio_mmio *m, uint32_t v)
{
	uint32_t cur = m->status & ~VIRTIO_STATUS_NEEDS_RESET;
	uint32_t want = v & ~VIRTIO_STATUS_NEEDS_RESET;

	if (v == 0) {
		device_reset(m);
		return;
	}
	if (want & VIRTIO_STATUS_FAILED) {
		m->status |= VIRTIO_STATUS_FAILED;
		return;
	}
	if (want == cur)
		return;
	if ((cur == 0 && want == VIRTIO_STATUS_ACKNOWLEDGE) ||
	    (cur == VIRTIO_STATUS_ACKNOWLEDGE && want == STATUS_INIT_STEPS)) {
		m->status |= want;
		return;
	}
	if (cur == STATUS_INIT_STEPS && want == STATUS_FEATURES) {
		uint64_t f = m->driver_features;
		if (f & ~m->device_features || !(f & (1ull << VIRTIO_F_VERSION_1))) {
			/* Not latched: the driver reads FEATURES_OK back and gives up. */
			log_guest(m->ops->name, "FEATURES_OK with features %#llx, offered %#llx",
				  (unsigned long long)f, (unsigned long long)m->device_features);
			return;
		}
		m->status |= want;
		return;
	}
	if (cur == STATUS_FEATURES && want == STATUS_RUNNING) {
		m->status |= VIRTIO_STATUS_DRIVER_OK;
		if (m->ops->activate && m->ops->activate(m->dev, m->driver_features))
			virtio_mmio_device_error(m, "device refused to activate");
		return;
	}
	log_guest(m->ops->name, "status %#x -> %#x is not a legal transition", m->status, v);
}

/* The selected queue while its registers may change: before it is ready and before DRIVER_OK. */
static struct virtq *queue_for_setup(struct virtio_mmio *m, const char *reg)
{
	if (m->queue_sel >= m->ops->num_queues) {
		log_guest(m->ops->name, "%s for queue %u, device has %u", reg, m->queue_sel,
			  m->ops->num_queues);
		return NULL;
	}
	struct virtq *q = &m->vq[m->queue_sel];
	if (q->ready || (m->status & VIRTIO_STATUS_DRIVER_OK)) {
		log_guest(m->ops->name, "%s for queue %u after %s", reg, m->queue_sel,
			  q->ready ? "QueueReady" : "DRIVER_OK");
		return NULL;
	}
	return q;
}

/*
 * QueueReady=1 is where the rings are validated (rather than at DRIVER_OK): the queue
 * registers freeze from then on, so what was checked is what is used, and a bad ring
 * is refused at the step that set it up. FEATURES_OK must already be latched since
 * EVENT_IDX changes the ring sizes.
 */
static void queue_ready_write(struct virtio_mmio *m, uint32_t v)
{
	if (m->queue_sel >= m->ops->num_queues) {
		log_guest(m->ops->name, "QueueReady for queue %u, device has %u", m->queue_sel,
			  m->ops->num_queues);
		return;
	}
	struct virtq *q = &m->vq[m->queue_sel];
	/* Stopping a queue is always safe; Linux does it before freeing one. */
	if (v == 0) {
		q->ready = false;
		return;
	}
	if (v == 1 && q->ready)
		return;
	if (!queue_for_setup(m, "QueueReady"))
		return;
	if (v != 1 || (m->status & STATUS_FEATURES) != STATUS_FEATURES) {
		log_guest(m->ops->name, "QueueReady=%u with status %#x", v, m->status);
		return;
	}
	if (virtq_activate(q, m->mem, m->driver_features))
		log_guest(m->ops->name, "queue %u setup refused", m->queue_sel);
}

static void set_half(uint64_t *x, bool high, uint32_t v)
{
	if (high)
		*x = (*x & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*x = (*x & ~0xffffffffull) | v;
}

static void queue_addr_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtq *q = queue_for_setup(m, "queue address");
	if (!q)
		return;
	bool high = off & 4;
	if (off <= REG_QUEUE_DESC_HIGH)
		set_half(&q->desc_gpa, high, v);
	else if (off <= REG_QUEUE_DRIVER_HIGH)
		set_half(&q->avail_gpa, high, v);
	else
		set_half(&q->used_gpa, high, v);
}

static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
	bool qvalid = m->queue_sel < m->ops->num_queues;

	switch (off) {
	case REG_MAGIC:
		return MMIO_MAGIC;
	case REG_VERSION:
		return MMIO_VERSION;
	case REG_DEVICE_ID:
		return m->ops->device_id;
	case REG_VENDOR_ID:
		return MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		if (m->device_features_sel > 1)
			return 0;
		return (uint32_t)(m->device_features >> (32 * m->device_features_sel));
	case REG_QUEUE_NUM_MAX:
		return qvalid ? VIRTQ_SIZE_MAX : 0;
	case REG_QUEUE_READY:
		return qvalid && m->vq[m->queue_sel].ready;
	case REG_INTERRUPT_STATUS:
		return m->interrupt_status;
	case REG_STATUS:
		return m->status;
	case REG_CONFIG_GENERATION:
		return m->config_generation;
	}
	/* No shared memory regions: their lengths and bases read as all ones (§4.2.2). */
	if (off >= REG_SHM_LEN_LOW && off <= REG_SHM_BASE_HIGH)
		return 0xffffffffu;
	log_guest(m->ops->name, "read of register %#llx", (unsigned long long)off);
	return 0;
}

static void reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtq *q;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		m->device_features_sel = v;
		return;
	case REG_DRIVER_FEATURES_SEL:
		m->driver_features_sel = v;
		return;
	case REG_DRIVER_FEATURES:
		if ((m->status & STATUS_FEATURES) != STATUS_INIT_STEPS ||
		    m->driver_features_sel > 1) {
			log_guest(m->ops->name, "DriverFeatures[%u] write with status %#x",
				  m->driver_features_sel, m->status);
			return;
		}
		set_half(&m->driver_features, m->driver_features_sel == 1, v);
		return;
	case REG_QUEUE_SEL:
		m->queue_sel = v;
		return;
	case REG_QUEUE_NUM:
		q = queue_for_setup(m, "QueueNum");
		/* Out-of-range sizes become 0, which virtq_activate refuses. */
		if (q)
			q->size = v <= VIRTQ_SIZE_MAX ? v : 0;
		return;
	case REG_QUEUE_READY:
		queue_ready_write(m, v);
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify_locked(m, v);
		return;
	case REG_INTERRUPT_ACK:
		m->interrupt_status &= ~v;
		return;
	case REG_STATUS:
		status_write(m, v);
		return;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		queue_addr_write(m, off, v);
		return;
	case REG_SHM_SEL:
		return;
	}
	log_guest(m->ops->name, "write of %#x to register %#llx", v, (unsigned long long)off);
}

/* Config space takes 1, 2, 4 and 8-byte accesses that lie wholly inside it. */
static bool config_range_ok(const struct virtio_mmio *m, uint64_t coff, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return false;
	return coff < m->ops->config_size && len <= m->ops->config_size - coff;
}

void virtio_mmio_read(struct virtio_mmio *m, uint64_t off, void *data, uint32_t len)
{
	BUG_ON(off >= VIRTIO_MMIO_WINDOW);
	memset(data, 0, len);
	pthread_mutex_lock(&m->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t coff = off - VIRTIO_MMIO_CONFIG;
		if (!config_range_ok(m, coff, len))
			log_guest(m->ops->name, "config read %#llx+%u", (unsigned long long)coff,
				  len);
		else if (m->ops->config_read)
			m->ops->config_read(m->dev, coff, data, len);
	} else if (len != 4 || off % 4) {
		log_guest(m->ops->name, "%u-byte read of register %#llx", len,
			  (unsigned long long)off);
	} else {
		uint32_t v = reg_read(m, off);
		memcpy(data, &v, sizeof(v));
	}
	pthread_mutex_unlock(&m->lock);
}

void virtio_mmio_write(struct virtio_mmio *m, uint64_t off, const void *data, uint32_t len)
{
	BUG_ON(off >= VIRTIO_MMIO_WINDOW);
	pthread_mutex_lock(&m->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t coff = off - VIRTIO_MMIO_CONFIG;
		if (!config_range_ok(m, coff, len) || !m->ops->config_write)
			log_guest(m->ops->name, "config write %#llx+%u", (unsigned long long)coff,
				  len);
		else
			m->ops->config_write(m->dev, coff, data, len);
	} else if (len != 4 || off % 4) {
		log_guest(m->ops->name, "%u-byte write of register %#llx", len,
			  (unsigned long long)off);
	} else {
		uint32_t v;
		memcpy(&v, data, sizeof(v));
		reg_write(m, off, v);
	}
	pthread_mutex_unlock(&m->lock);
}

void virtio_mmio_requeue(struct virtio_mmio *m, unsigned q)
{
	if (m->hooks.requeue)
		m->hooks.requeue(m->hooks.ctx, q);
}
