/*
 * flintd's use of the image store (image/, docs/images.md): resolving a request's "image" to a
 * root filesystem, pulling on demand (--pull missing; concurrent requests for one image share
 * one pull), the image's run settings applied to every command in its VMs, and GET /images.
 */
#ifndef FLINTD_IMAGESTORE_H
#define FLINTD_IMAGESTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vm.h"

/* The longest Flint-Image-Settings value an attach answer carries (cli/upgrade.h reads as much). */
#define ATTACH_SETTINGS_MAX (12 * 1024)

/* Room for a command's environment: the image's Env plus the request's env. */
#define IMAGE_EXEC_ENV_MAX 1024

enum imagestore_pull { IMAGESTORE_PULL_NEVER, IMAGESTORE_PULL_MISSING };

/* Open the store under state_dir/images. 0 or -errno with a message. */
int imagestore_init(const char *state_dir, enum imagestore_pull pull, char *err, size_t errlen);
void imagestore_destroy(void);

/*
 * name → spec->image, spec->image_digest, spec->rootfs. 0, or an HTTP status with a message:
 * 400 for an unknown image (naming the command that pulls it), 502 for a failed pull.
 */
int imagestore_resolve(const char *name, struct vm_spec *spec, char *err, size_t errlen);

/*
 * A command's settings in a VM of spec: env merged over the image's Env, cwd and user defaulted
 * from it. buf holds the merged env (cap pointers); the inputs are returned unchanged for the
 * base image. Returns false when the merged env does not fit.
 */
bool imagestore_apply(const struct vm_spec *spec, const char *const **env, const char **cwd,
		      const char **user, const char **buf, size_t cap);

/* The settings as JSON for the attach upgrade's Flint-Image header ({env, cwd, user}); NULL: none.
 */
char *imagestore_settings_json(const struct vm_spec *spec);

/* GET /images: [{name, digest, size, layers, created, config}], plus the built-in images. */
json_t *imagestore_list(void);

#endif
