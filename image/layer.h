/*
 * Applying an image layer (a tar stream, compressed or not) onto a staging directory, as OCI's
 * image-spec "Applying Changesets" says: whiteouts (.wh.NAME) remove what lower layers put there,
 * opaque directories (.wh..wh..opq) hide all of it, hard links, symlinks, modes, owners,
 * setuid/setgid/sticky bits, device nodes and FIFOs, xattrs (user.*, security.capability) where
 * the filesystem keeps them, sparse files kept sparse.
 *
 * The layer is hostile. Refused with a message naming the entry and nothing written outside the
 * staging root: absolute names, ".." components, a write through a symlink whose target climbs
 * above the root, hard links whose target is outside or not yet present, duplicate entries within
 * one layer, names longer than PATH_MAX, more entries or more bytes (uncompressed, logical file
 * sizes included) than the limits. Symlinks in parent paths resolve inside the root, the way the
 * container will see them (an absolute target means the image's own root).
 *
 * Ownership: run as root, files get their real uid/gid and device nodes are made; otherwise files
 * are owned by the caller and the real metadata is recorded in layer_fixups for whoever builds
 * the filesystem (rootfs.c applies it with debugfs).
 */
#ifndef FLINT_IMAGE_LAYER_H
#define FLINT_IMAGE_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Either may be 0 for no limit; a NULL lim means none at all. */
struct layer_limits {
	uint64_t max_bytes;   /* uncompressed bytes over the whole image (file sizes) */
	uint64_t max_entries; /* tar entries over the whole image */
};

/*
 * Running totals across the layers of one image (the limits apply to them): layer_apply adds
 * each regular file's size (from its header, holes included) to bytes and each entry to entries;
 * layers is the caller's to count. xattrs_skipped: xattrs the filesystem or our privileges refused.
 */
struct layer_stats {
	uint64_t bytes, entries, layers;
	uint64_t xattrs_skipped;
};

/* Metadata that could not be applied unprivileged, by path relative to the root ("usr/bin/su"). */
struct layer_fixup {
	char *path;
	uid_t uid;
	gid_t gid;
	mode_t mode; /* including the file type bits */
	dev_t rdev;  /* for S_ISCHR/S_ISBLK */
};

struct layer_fixups {
	/* private: a hash table; entries under a removed path are dropped with it */
	void *priv;
	size_t n;
};

void layer_fixups_init(struct layer_fixups *f);
void layer_fixups_destroy(struct layer_fixups *f);
/* Visit each surviving fixup (order unspecified); stops at the first non-zero return. */
int layer_fixups_foreach(const struct layer_fixups *f,
			 int (*fn)(const struct layer_fixup *fx, void *ctx), void *ctx);

/*
 * Apply the layer read from fd onto the tree whose root is open at rootfd (O_DIRECTORY). fixups
 * may be NULL only when running as root. 0, or -errno with a message in err (the staging tree is
 * then unusable: the caller discards it). Compression: gzip, zstd, xz, bzip2 or none. Missing
 * parent directories are made 0755 root:root, as docker does. Directories are never more than
 * 128 deep. Unprivileged, directories keep u+rwx while staging (the real mode is a fixup), and
 * device nodes and FIFOs are empty 0600 regular files (their type and rdev are in the fixup).
 * xattrs go on regular files and directories only. Directory mtimes are best effort (a later
 * entry inside one changes it). No global state: calls on different trees may run concurrently.
 */
int layer_apply_fd(int rootfd, int fd, const struct layer_limits *lim, struct layer_stats *st,
		   struct layer_fixups *fixups, char *err, size_t errlen);
/* The same from memory (tests, the fuzz target). */
int layer_apply_mem(int rootfd, const void *buf, size_t len, const struct layer_limits *lim,
		    struct layer_stats *st, struct layer_fixups *fixups, char *err, size_t errlen);

#endif
