/* Disk backends: a raw image file, read-only or read-write. */
#ifndef FLINT_DISK_H
#define FLINT_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct disk {
	int fd;
	bool readonly;
	uint64_t size; /* bytes, a multiple of 512 (a shorter tail is not exposed) */
	char path[256];
};

/* Open path (O_CLOEXEC; O_RDONLY when readonly). -errno with a message on failure. */
int disk_open(struct disk *d, const char *path, bool readonly);
void disk_close(struct disk *d);

/* Whole-range I/O at byte offset off; the caller has checked the range. 0 or -errno. */
int disk_readv(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off);
int disk_writev(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off);
int disk_flush(struct disk *d);

#endif
