/* Decoding the fields of a request; every failure is answered with an ERROR naming the field. */
#include "agent_req.h"

#include <errno.h>

#include "agent_conn.h"

const char *req_tag_name(uint16_t tag)
{
	static const char *const names[] = {
		[ATAG_VERSION] = "VERSION",     [ATAG_NAME] = "NAME",	    [ATAG_ERRNO] = "ERRNO",
		[ATAG_MESSAGE] = "MESSAGE",     [ATAG_ARGV] = "ARGV",	    [ATAG_ENV] = "ENV",
		[ATAG_CWD] = "CWD",	      [ATAG_USER] = "USER",	    [ATAG_STDIN] = "STDIN",
		[ATAG_PTY_ROWS] = "PTY_ROWS",   [ATAG_PTY_COLS] = "PTY_COLS",   [ATAG_TIMEOUT_MS] = "TIMEOUT_MS",
		[ATAG_PID] = "PID",	      [ATAG_STREAM] = "STREAM",	    [ATAG_DATA] = "DATA",
		[ATAG_EXIT_CODE] = "EXIT_CODE", [ATAG_SIGNAL] = "SIGNAL",	    [ATAG_REASON] = "REASON",
		[ATAG_PATH] = "PATH",	      [ATAG_OFFSET] = "OFFSET",	    [ATAG_LENGTH] = "LENGTH",
		[ATAG_SIZE] = "SIZE",	      [ATAG_MODE] = "MODE",	    [ATAG_RECURSIVE] = "RECURSIVE",
		[ATAG_TYPE] = "TYPE",	      [ATAG_MTIME_NS] = "MTIME_NS",   [ATAG_UID] = "UID",
		[ATAG_GID] = "GID",	      [ATAG_ENTRY] = "ENTRY",	    [ATAG_JOB_ID] = "JOB_ID",
		[ATAG_JOB] = "JOB",	      [ATAG_STATE] = "STATE",	    [ATAG_STARTED_NS] = "STARTED_NS",
		[ATAG_ENDED_NS] = "ENDED_NS",   [ATAG_NEXT] = "NEXT",	    [ATAG_TOTAL] = "TOTAL",
		[ATAG_TIME_NS] = "TIME_NS",     [ATAG_KERNEL] = "KERNEL",	    [ATAG_MEM_TOTAL] = "MEM_TOTAL",
		[ATAG_MEM_FREE] = "MEM_FREE",   [ATAG_UPTIME_NS] = "UPTIME_NS", [ATAG_NCPUS] = "NCPUS",
	};

	if (tag >= sizeof(names) / sizeof(names[0]) || !names[tag])
		return "?";
	return names[tag];
}

/* The field, or -1 answered when it is required and missing. Frames were validated on parse. */
static int req_find(struct conn *c, const struct agent_frame *f, uint16_t tag,
		    struct agent_field *fl, bool required)
{
	if (agent_find(f->payload, f->len, tag, fl) == 1)
		return 1;
	if (!required)
		return 0;
	conn_error(c, f->id, EINVAL, "%s: missing %s", agent_type_name(f->type), req_tag_name(tag));
	return -1;
}

static int req_bad(struct conn *c, const struct agent_frame *f, uint16_t tag, const char *what)
{
	conn_error(c, f->id, EINVAL, "%s: %s %s", agent_type_name(f->type), req_tag_name(tag), what);
	return -1;
}

int req_u32(struct conn *c, const struct agent_frame *f, uint16_t tag, uint32_t *v, bool required)
{
	struct agent_field fl;
	int r = req_find(c, f, tag, &fl, required);

	if (r == 1 && agent_field_u32(&fl, v) != 0)
		return req_bad(c, f, tag, "must be a u32");
	return r;
}

int req_u64(struct conn *c, const struct agent_frame *f, uint16_t tag, uint64_t *v, bool required)
{
	struct agent_field fl;
	int r = req_find(c, f, tag, &fl, required);

	if (r == 1 && agent_field_u64(&fl, v) != 0)
		return req_bad(c, f, tag, "must be a u64");
	return r;
}

int req_bytes(struct conn *c, const struct agent_frame *f, uint16_t tag, struct agent_field *v,
	      bool required)
{
	return req_find(c, f, tag, v, required);
}

int req_str(struct conn *c, const struct agent_frame *f, uint16_t tag, char *out, size_t cap,
	    bool required)
{
	struct agent_field fl;
	int r = req_find(c, f, tag, &fl, required);

	if (r != 1)
		return r;
	r = agent_field_str(&fl, out, cap);
	if (r == -EPROTO)
		return req_bad(c, f, tag, "holds a NUL byte");
	if (r < 0) {
		conn_error(c, f->id, ENAMETOOLONG, "%s: %s is longer than %zu bytes",
			   agent_type_name(f->type), req_tag_name(tag), cap - 1);
		return -1;
	}
	return 1;
}

int req_path(struct conn *c, const struct agent_frame *f, char out[PATH_MAX])
{
	if (req_str(c, f, ATAG_PATH, out, PATH_MAX, true) < 0)
		return -1;
	if (out[0] != '/') {
		conn_error(c, f->id, EINVAL, "%s: PATH must be absolute: %s", agent_type_name(f->type),
			   out);
		return -1;
	}
	return 0;
}
