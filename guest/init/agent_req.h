/* Decoding the fields of a request; every failure is answered with an ERROR naming the field. */
#ifndef FLINT_INIT_AGENT_REQ_H
#define FLINT_INIT_AGENT_REQ_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/proto.h"

struct conn;

/*
 * Each returns 1 (found, *v set), 0 (absent and optional; *v untouched) or -1 (answered
 * with ERROR EINVAL: missing though required, wrong length, or an embedded NUL byte).
 */
int req_u32(struct conn *c, const struct agent_frame *f, uint16_t tag, uint32_t *v, bool required);
int req_u64(struct conn *c, const struct agent_frame *f, uint16_t tag, uint64_t *v, bool required);
int req_bytes(struct conn *c, const struct agent_frame *f, uint16_t tag, struct agent_field *v,
	      bool required);
int req_str(struct conn *c, const struct agent_frame *f, uint16_t tag, char *out, size_t cap,
	    bool required);

/* The required PATH, absolute (any bytes but NUL): 0, or -1 answered. */
int req_path(struct conn *c, const struct agent_frame *f, char out[PATH_MAX]);

/* "PATH", "ARGV"...: for messages. */
const char *req_tag_name(uint16_t tag);

#endif
