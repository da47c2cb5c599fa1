/* Filesystem setup: /proc, a writable overlay root over the read-only disk, and the API mounts. */
#ifndef FLINT_INIT_MOUNTS_H
#define FLINT_INIT_MOUNTS_H

#include <stdbool.h>

/* /tmp's size on a read-only root, where it is the only writable place (tmpfs syntax). */
#define MOUNTS_TMP_RO_SIZE "25%"

/* Mount /proc on the boot root: the command line must be read before the root switch. */
int mounts_proc(void);

/*
 * Switch to a writable root, then mount /proc, /dev, /sys, /dev/pts,
 * /dev/shm, /tmp and /run in it. The overlay's upper layer lives on the
 * ext4 block device `scratch` (NULL: none) or, failing that, on a tmpfs. If
 * the overlay cannot be set up, logs why and stays on the read-only root.
 * With rootro (flint.rootro=1) there is no overlay at all: the VM stays on
 * the read-only root disk, scratch is ignored, and /tmp is a tmpfs of at
 * most a quarter of RAM (MOUNTS_TMP_RO_SIZE). Leaves the cwd at "/".
 */
/*
 * With image (an ext4 block device, flint.image=) the image is the lower layer instead of the
 * boot disk, or with rootro the root itself; missing mount points are made in the overlay.
 * Returns 0, or -1 when an image was asked for and could not become the root: the VM must not
 * go on on its boot disk.
 */
int mounts_setup(const char *scratch, const char *image, bool rootro);

#endif
