/* The image store's one error helper: a message into the caller's buffer, and the code back. */
#ifndef FLINT_IMAGE_ERR_H
#define FLINT_IMAGE_ERR_H

#include <stddef.h>

/* Format into err (when err and errlen are non-zero) and return rc (a -errno). */
int image_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
