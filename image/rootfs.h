/*
 * An image's root filesystem: its layers applied in order to a staging tree (layer.c), then one
 * read-only ext4 made from it with mkfs.ext4 -d (no loop mount, no root needed), ownership and
 * device nodes that could not be staged unprivileged fixed with debugfs. The run settings
 * (image_runcfg) are resolved against the staged /etc/passwd and /etc/group at the same time.
 */
#ifndef FLINT_IMAGE_ROOTFS_H
#define FLINT_IMAGE_ROOTFS_H

#include <stddef.h>

#include "catalog.h"
#include "store.h"

/* rootfs/HEX.ext4 and rootfs/HEX.json for this manifest: built unless present (under a lock). */
int rootfs_build(const struct store *s, const char *manifest_digest, catalog_progress_fn progress,
		 void *ctx, char *err, size_t errlen);

/* The paths of a digest's root filesystem and its settings. */
int rootfs_paths(const struct store *s, const char *manifest_digest, char *ext4, size_t ext4_cap,
		 char *json, size_t json_cap);

/* Read HEX.json into info (cfg, sizes, layers); 0 or -errno with a message. */
int rootfs_read_info(const struct store *s, const char *manifest_digest, struct image_info *info,
		     char *err, size_t errlen);

/* Resolve a config User ("name", "uid", "name:group", "uid:gid") against a staged tree. */
int rootfs_resolve_user(int rootfd, const char *user, unsigned *uid, unsigned *gid, char *home,
			size_t home_cap, char *err, size_t errlen);

/* rm -rf of a staging tree of ours (never follows symlinks, never leaves the filesystem). */
void rootfs_remove_tree(const char *dir);

#endif
