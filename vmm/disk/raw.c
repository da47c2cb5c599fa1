/* Raw disk images: a regular file or block device read and written in place. */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"

#define SECTOR 512u

static int disk_size(struct disk *d, uint64_t *size)
{
	struct stat st;
	if (fstat(d->fd, &st) < 0) {
		int e = errno;
		log_err("disk %s: cannot stat: %s", d->path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(d->fd, BLKGETSIZE64, size) < 0) {
			int e = errno;
			log_err("disk %s: cannot get the device size: %s", d->path, strerror(e));
			return -e;
		}
		return 0;
	}
	log_err("disk %s: not a regular file or block device", d->path);
	return -EINVAL;
}

int disk_open(struct disk *d, const char *path, bool readonly)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->readonly = readonly;
	snprintf(d->path, sizeof(d->path), "%s", path);

	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		log_err("disk %s: cannot open %s: %s", d->path,
			readonly ? "read-only" : "read-write", strerror(e));
		return -e;
	}
	d->fd = fd;
	uint64_t size;
	int r = disk_size(d, &size);
	if (r == 0 && size < SECTOR) {
		log_err("disk %s: smaller than one %u-byte sector", d->path, SECTOR);
		r = -EINVAL;
	}
	if (r) {
		disk_close(d);
		return r;
	}
	/* The guest sees whole sectors only; a partial tail stays unreachable. */
	d->size = size & ~(uint64_t)(SECTOR - 1);
	return 0;
}

void disk_close(struct disk *d)
{
	/* A zeroed, never-opened disk has fd 0 but no path: leave stdin alone. */
	if (d->fd >= 0 && d->path[0])
		close(d->fd);
	d->fd = -1;
}

/*
 * preadv/pwritev may transfer less than asked (signals, huge requests): keep going on a
 * private copy of the iovecs, advanced past what is done.
 */
static int disk_rw(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off, bool write)
{
	struct iovec v[IOV_MAX];
	unsigned nv = 0;

	BUG_ON(n > IOV_MAX);
	for (unsigned i = 0; i < n; i++)
		if (iov[i].iov_len)
			v[nv++] = iov[i];

	struct iovec *cur = v;
	while (nv) {
		if (off > (uint64_t)INT64_MAX)
			return -EIO;
		ssize_t r = write ? pwritev(d->fd, cur, nv, (off_t)off)
				  : preadv(d->fd, cur, nv, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* Nothing moved with bytes still due: the file ended under us. */
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		size_t left = (size_t)r;
		while (nv && left >= cur->iov_len) {
			left -= cur->iov_len;
			cur++;
			nv--;
		}
		if (nv) {
			cur->iov_base = (uint8_t *)cur->iov_base + left;
			cur->iov_len -= left;
		}
	}
	return 0;
}

int disk_readv(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
	return disk_rw(d, iov, n, off, false);
}

int disk_writev(struct disk *d, const struct iovec *iov, unsigned n, uint64_t off)
{
	/* virtio-blk refuses these first; the O_RDONLY fd would too, but say why. */
	if (d->readonly)
		return -EROFS;
	return disk_rw(d, iov, n, off, true);
}

int disk_flush(struct disk *d)
{
	if (d->readonly)
		return 0;
	if (fdatasync(d->fd) < 0)
		return -errno;
	return 0;
}
