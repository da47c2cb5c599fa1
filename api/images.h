/*
 * flintd's image table: the names (and aliases) clients may pass as "image" → a root-filesystem
 * file on the host.
 *
 * Config file format, one entry per line:
 *     image NAME PATH [ALIAS...]
 * Fields are separated by spaces or tabs; blank lines and lines whose first non-blank character is
 * '#' are skipped. PATH is taken relative to the config file's directory when not absolute. NAME
 * and every ALIAS must pass valid_image_name(); a name or alias used twice (as either) is an error
 * reported with both line numbers. Lines are at most 4096 bytes; at most 1024 images.
 *
 * Without a config file the built-in table has one image, "base" → the default base path, and no
 * aliases. Every other name is looked up in the image store (imagestore.h, docs/images.md).
 */
#ifndef FLINT_API_IMAGES_H
#define FLINT_API_IMAGES_H

#include <stddef.h>

#define IMAGES_LINE_MAX 4096
#define IMAGES_MAX	1024

struct image {
	char *name;
	char *path;
	char **aliases;
	size_t naliases;
};

struct image_table {
	struct image *v;
	size_t n;
};

/* 0, or -errno with a message in err (with the line number for syntax errors); on failure *t is
 * empty. default_base_path is used only for the built-in table (must be non-NULL then). */
int images_init(struct image_table *t, const char *config_path, const char *default_base_path,
		char *err, size_t errlen);

/* The config parser on an in-memory text (need not be NUL-terminated); relative paths are joined to
 * base_dir ("." when NULL). Same results as images_init. */
int images_parse(struct image_table *t, const char *text, size_t len, const char *base_dir,
		 char *err, size_t errlen);

void images_destroy(struct image_table *t); /* safe on a zeroed or destroyed table */

/* Exact (case-sensitive) match against names, then aliases. NULL: unknown or NULL name. Read-only,
 * so thread-safe while the table is not destroyed. */
const struct image *images_resolve(const struct image_table *t, const char *name_or_alias);

/* "base (alpine:3.20, alpine, ...), other" for the 400 message "Unknown image 'x'; available: ...";
 * truncated with "..." when it does not fit in cap. */
void images_describe(const struct image_table *t, char *buf, size_t cap);

#endif
