/* Filesystem setup: /proc, a writable overlay root (unless flint.rootro), and the API mounts. */
#include "mounts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "console.h"

/*
 * Boot-time layout (on the read-only root, invisible once we have switched):
 *   /run          tmpfs holding the writable layer
 *   /run/upper    overlay upperdir   } or /run/scratch/{upper,work} on the
 *   /run/work     overlay workdir    } ext4 scratch disk mounted there
 *   /run/root     where the overlay is mounted, then pivoted to "/"
 * Every step is one syscall and none probes first: the guest pays about
 * 0.6 ms per syscall under emulated KVM, so failures are detected by the
 * call that needs the thing, not by a stat() beforehand.
 */
#define MOUNTS_LAYER_TMPFS "/run"
#define MOUNTS_LAYER_SCRATCH "/run/scratch"
#define MOUNTS_NEWROOT "/run/root"
#define MOUNTS_LOWER "/run/lower" /* an OCI image's root disk (flint.image=) */

/* The boot root's /run tmpfs is mounted (it stays in use if the switch fails). */
static bool mounts_run_ready;

static bool mounts_do(const char *src, const char *dst, const char *type, unsigned long flags,
		      const char *data)
{
	if (mount(src, dst, type, flags, data) == 0)
		return true;
	console_log("mount %s on %s: %s", type, dst, strerror(errno));
	return false;
}

static bool mounts_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return true;
	console_log("mkdir %s: %s", path, strerror(errno));
	return false;
}

int mounts_proc(void)
{
	return mounts_do("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) ? 0 : -1;
}

/* Where upper and work go: they must share one filesystem, outside the lower layer. */
static const char *mounts_layer_base(const char *scratch)
{
	if (!scratch)
		return MOUNTS_LAYER_TMPFS;
	if (!mounts_mkdir(MOUNTS_LAYER_SCRATCH, 0700))
		return MOUNTS_LAYER_TMPFS;
	/* No mkfs in the guest: the VMM must hand over an ext4 image. */
	if (mount(scratch, MOUNTS_LAYER_SCRATCH, "ext4", MS_NOATIME | MS_NOSUID | MS_NODEV, NULL))
		console_log("scratch %s: %s; keeping writes in memory", scratch, strerror(errno));
	/* On failure the directory is plain tmpfs: the same paths work unchanged. */
	return MOUNTS_LAYER_SCRATCH;
}

/* Enter the filesystem mounted at MOUNTS_NEWROOT as "/". */
static bool mounts_pivot(void)
{
	/* pivot_root(".", ".") stacks the old root on top of the new one at "/"... */
	if (chdir(MOUNTS_NEWROOT) != 0 || syscall(SYS_pivot_root, ".", ".") != 0) {
		console_log("pivot_root: %s", strerror(errno));
		if (chdir("/") != 0)
			console_log("chdir /: %s", strerror(errno));
		umount2(MOUNTS_NEWROOT, MNT_DETACH);
		return false;
	}
	/*
	 * ...and this detaches it, with the boot /proc, /dev and /run under it.
	 * The overlay holds its own references to its layers, so they live on.
	 */
	if (umount2(".", MNT_DETACH) != 0)
		console_log("detach old root: %s", strerror(errno));
	return true;
}

/*
 * An image's root disk, read-only at `dst`. Not nosuid: the image's setuid programs (su, sudo)
 * are part of it. Its device nodes are never used: /dev is the kernel's devtmpfs.
 */
static bool mounts_image(const char *image, const char *dst)
{
	return mounts_mkdir(dst, 0755) &&
	       mounts_do(image, dst, "ext4", MS_RDONLY | MS_NOATIME, NULL);
}

/*
 * Mount overlay(lower = the read-only root or the image, upper on tmpfs or scratch) and
 * pivot into it. pivot_root, not MS_MOVE + chroot: the old root is then
 * detached for good, and nothing in the VM runs chrooted (the kernel refuses
 * some operations to chrooted processes, e.g. creating user namespaces).
 * The old root here is the ext4 disk, not rootfs, so pivot_root is allowed.
 */
static bool mounts_switch_root(const char *scratch, const char *image, bool *image_ok)
{
	char upper[64], work[64], opts[192];
	const char *base;

	if (!mounts_do("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"))
		return false;
	mounts_run_ready = true;
	if (image && !(*image_ok = mounts_image(image, MOUNTS_LOWER)))
		return false;
	base = mounts_layer_base(scratch);
	snprintf(upper, sizeof(upper), "%s/upper", base);
	snprintf(work, sizeof(work), "%s/work", base);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", image ? MOUNTS_LOWER : "/",
		 upper, work);
	if (!mounts_mkdir(upper, 0755) || !mounts_mkdir(work, 0700) ||
	    !mounts_mkdir(MOUNTS_NEWROOT, 0755))
		return false;
	/*
	 * Overlay does not descend into mounts of the lower layer, so lowerdir=/
	 * is the bare disk even though /proc, /dev and /run sit on it.
	 */
	if (!mounts_do("overlay", MOUNTS_NEWROOT, "overlay", 0, opts))
		return false;
	return mounts_pivot();
}

/* A read-only image root: the image disk itself becomes "/", with nothing over it. */
static bool mounts_image_ro(const char *image)
{
	if (!mounts_do("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"))
		return false;
	mounts_run_ready = true;
	return mounts_image(image, MOUNTS_NEWROOT) && mounts_pivot();
}

/* Which root an API mount is needed in. */
enum mounts_when {
	MOUNTS_ALWAYS,
	MOUNTS_NEW_ROOT, /* the boot root has it already (the kernel's /dev, our /proc) */
	MOUNTS_NO_RUN,   /* /run: unless the boot root's layer tmpfs is still there */
	MOUNTS_RW,	 /* only without flint.rootro */
	MOUNTS_RO,	 /* only with flint.rootro */
};

struct mounts_entry {
	const char *src, *dst, *type;
	unsigned long flags;
	const char *data;
	enum mounts_when when;
	bool mkdir_first; /* inside devtmpfs, which has no such directory */
};

static const struct mounts_entry mounts_api[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, MOUNTS_NEW_ROOT, false },
	/* The same devtmpfs instance the kernel mounted: device nodes come with it. */
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL, MOUNTS_NEW_ROOT, false },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", MOUNTS_NO_RUN, false },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, MOUNTS_ALWAYS, false },
	/* A private devpts; /dev/ptmx in devtmpfs finds it as its "pts" sibling. */
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5", MOUNTS_ALWAYS, true },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", MOUNTS_ALWAYS, true },
	/* exec allowed on /tmp: sandboxed code commonly builds and runs from there. */
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", MOUNTS_RW, false },
	/* On a read-only root /tmp is the one writable place: bounded, so it cannot eat the VM. */
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=" MOUNTS_TMP_RO_SIZE,
	  MOUNTS_RO, false },
};

/* What shells and tools expect in /dev and devtmpfs does not create. */
static const char *const mounts_dev_links[][2] = {
	{ "/proc/self/fd", "/dev/fd" },
	{ "/proc/self/fd/0", "/dev/stdin" },
	{ "/proc/self/fd/1", "/dev/stdout" },
	{ "/proc/self/fd/2", "/dev/stderr" },
};

int mounts_setup(const char *scratch, const char *image, bool rootro)
{
	bool switched = false, image_ok = false;
	size_t i;

	/*
	 * Read-only root: the kernel mounted the disk "ro" and it stays "/"; the boot root's
	 * /proc (mounts_proc) and /dev (DEVTMPFS_MOUNT) are the VM's, as after a failed switch.
	 */
	if (rootro && scratch)
		console_log("%s ignored: the root is read-only (flint.rootro)", scratch);
	if (image && rootro) {
		switched = image_ok = mounts_image_ro(image);
	} else if (!rootro) {
		switched = mounts_switch_root(scratch, image, &image_ok);
		if (!switched && !image)
			console_log("no writable root: continuing on the read-only disk");
	}
	/* Running the command on flint's own disk instead of the image asked for would be a lie. */
	if (image && (!image_ok || !switched)) {
		console_log("the image %s could not be made the root: stopping", image);
		return -1;
	}
	for (i = 0; i < sizeof(mounts_api) / sizeof(mounts_api[0]); i++) {
		const struct mounts_entry *m = &mounts_api[i];

		if ((m->when == MOUNTS_NEW_ROOT && !switched) ||
		    (m->when == MOUNTS_NO_RUN && !switched && mounts_run_ready) ||
		    (m->when == MOUNTS_RW && rootro) || (m->when == MOUNTS_RO && !rootro))
			continue;
		/* An image need not have every mount point (a FROM scratch one has none). */
		if ((m->mkdir_first || (image && !rootro)) && !mounts_mkdir(m->dst, 0755))
			continue;
		mounts_do(m->src, m->dst, m->type, m->flags, m->data);
	}
	for (i = 0; i < sizeof(mounts_dev_links) / sizeof(mounts_dev_links[0]); i++) {
		if (symlink(mounts_dev_links[i][0], mounts_dev_links[i][1]) != 0 && errno != EEXIST)
			console_log("symlink %s: %s", mounts_dev_links[i][1], strerror(errno));
	}
	return 0;
}
