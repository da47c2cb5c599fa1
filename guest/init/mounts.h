/* Filesystem setup: /proc, a writable overlay root over the read-only disk, and the API mounts. */
#ifndef FLINT_INIT_MOUNTS_H
#define FLINT_INIT_MOUNTS_H

/* Mount /proc on the boot root: the command line must be read before the root switch. */
int mounts_proc(void);

/*
 * Switch to a writable root, then mount /proc, /dev, /sys, /dev/pts,
 * /dev/shm, /tmp and /run in it. The overlay's upper layer lives on the
 * ext4 block device `scratch` (NULL: none) or, failing that, on a tmpfs. If
 * the overlay cannot be set up, logs why and stays on the read-only root.
 * Leaves the cwd at "/".
 */
void mounts_setup(const char *scratch);

#endif
