/* The virtio-mmio transport (version 2): registers, status machine, features, queues, interrupts. */
#ifndef FLINT_VIRTIO_MMIO_H
#define FLINT_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

#define VIRTIO_MMIO_QUEUES_MAX 8u
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

struct virtio_mmio;

/*
 * What a device implements. Every callback runs with the transport's lock held,
 * on a vCPU thread (config access, activate, reset) or the event loop (notify).
 */
struct virtio_dev_ops {
	const char *name; /* "blk", "net", ... for logs */
	uint32_t device_id;
	unsigned num_queues;
	/* Config space: off and len already checked against config_size. */
	uint32_t config_size;
	void (*config_read)(void *dev, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const void *buf, uint32_t len);
	/* Optional. DRIVER_OK with the queues validated. Nonzero: the device refuses (device error). */
	int (*activate)(void *dev, uint64_t features);
	/* The driver wrote 0 to status; the transport has already reset its queues. */
	void (*reset)(void *dev);
	/* The driver kicked queue q (via ioeventfd or a QueueNotify write). */
	void (*notify)(void *dev, unsigned q);
};

/* How the transport reaches the VM; tests supply fakes. */
struct virtio_mmio_hooks {
	void *ctx;
	/* Raise the device's interrupt (edge: an irqfd write). */
	void (*irq)(void *ctx, unsigned gsi);
	/*
	 * Optional: have ops->notify called again for queue q soon, after the event loop has
	 * served other devices (a device that stopped at its per-kick budget asks for this).
	 */
	void (*requeue)(void *ctx, unsigned q);
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *dev;
	const struct gmem *mem;
	struct virtio_mmio_hooks hooks;
	uint64_t base; /* guest-physical address of the register window */
	unsigned gsi;
	uint64_t device_features; /* offered; VERSION_1 is added by the transport */

	/* Register state, written by the driver. */
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtq vq[VIRTIO_MMIO_QUEUES_MAX];
	unsigned long device_errors;
};

/* The register window is 0x100 bytes of registers followed by the device's config space. */
#define VIRTIO_MMIO_WINDOW 0x1000u
#define VIRTIO_MMIO_CONFIG 0x100u

int virtio_mmio_init(struct virtio_mmio *m, const struct virtio_dev_ops *ops, void *dev,
		     uint64_t device_features, const struct gmem *mem, uint64_t base, unsigned gsi,
		     const struct virtio_mmio_hooks *hooks);
void virtio_mmio_destroy(struct virtio_mmio *m);

/* Guest MMIO access at offset off (< VIRTIO_MMIO_WINDOW) of the window, len 1, 2, 4 or 8. */
void virtio_mmio_read(struct virtio_mmio *m, uint64_t off, void *data, uint32_t len);
void virtio_mmio_write(struct virtio_mmio *m, uint64_t off, const void *data, uint32_t len);

/* The event loop saw queue q kicked (ioeventfd). Takes the lock and calls ops->notify. */
void virtio_mmio_kick(struct virtio_mmio *m, unsigned q);

/*
 * Device-side helpers, called with the lock held (from ops callbacks):
 * signal_used raises the used-buffer interrupt when the queue wants one;
 * device_error marks the device NEEDS_RESET, raises a config interrupt and
 * stops processing until the driver resets it.
 */
void virtio_mmio_signal_used(struct virtio_mmio *m, unsigned q);
void virtio_mmio_device_error(struct virtio_mmio *m, const char *why);
void virtio_mmio_requeue(struct virtio_mmio *m, unsigned q);

/* The register offset of QueueNotify, for ioeventfd registration. */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050u

#endif
