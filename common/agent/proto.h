/* The flint agent protocol: frames and fields (docs/agent-protocol.md), shared by guest and host. */
#ifndef FLINT_AGENT_PROTO_H
#define FLINT_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENT_VERSION 1u
#define AGENT_VSOCK_PORT 1024u /* the agent listens here */
#define AGENT_READY_PORT 1025u /* the agent connects to the host here when ready */
#define AGENT_HDR_SIZE 12u
#define AGENT_PAYLOAD_MAX (1u << 20)
#define AGENT_FIELD_HDR 6u

enum agent_type {
	AGENT_HELLO = 0x01,
	AGENT_PING = 0x02,
	AGENT_INFO = 0x03,
	AGENT_SET_TIME = 0x04,
	AGENT_SHUTDOWN = 0x05,
	AGENT_EXEC = 0x10,
	AGENT_EXEC_STDIN = 0x11,
	AGENT_EXEC_SIGNAL = 0x12,
	AGENT_EXEC_RESIZE = 0x13,
	AGENT_FILE_READ = 0x20,
	AGENT_FILE_WRITE = 0x21,
	AGENT_FILE_REMOVE = 0x22,
	AGENT_FILE_MKDIR = 0x23,
	AGENT_FILE_STAT = 0x24,
	AGENT_FILE_LIST = 0x25,
	AGENT_JOB_START = 0x30,
	AGENT_JOB_STATUS = 0x31,
	AGENT_JOB_LOGS = 0x32,
	AGENT_JOB_KILL = 0x33,
	AGENT_JOB_LIST = 0x34,
	AGENT_OK = 0x80,
	AGENT_ERROR = 0x81,
	AGENT_STARTED = 0x82,
	AGENT_OUTPUT = 0x83,
	AGENT_EXIT = 0x84,
};

enum agent_tag {
	ATAG_VERSION = 1, ATAG_NAME, ATAG_ERRNO, ATAG_MESSAGE, ATAG_ARGV, ATAG_ENV, ATAG_CWD, ATAG_USER, ATAG_STDIN,
	ATAG_PTY_ROWS, ATAG_PTY_COLS, ATAG_TIMEOUT_MS, ATAG_PID, ATAG_STREAM, ATAG_DATA, ATAG_EXIT_CODE,
	ATAG_SIGNAL, ATAG_REASON, ATAG_PATH, ATAG_OFFSET, ATAG_LENGTH, ATAG_SIZE, ATAG_MODE, ATAG_RECURSIVE,
	ATAG_TYPE, ATAG_MTIME_NS, ATAG_UID, ATAG_GID, ATAG_ENTRY, ATAG_JOB_ID, ATAG_JOB, ATAG_STATE,
	ATAG_STARTED_NS, ATAG_ENDED_NS, ATAG_NEXT, ATAG_TOTAL, ATAG_TIME_NS, ATAG_KERNEL, ATAG_MEM_TOTAL,
	ATAG_MEM_FREE, ATAG_UPTIME_NS, ATAG_NCPUS,
};

#define AGENT_F_EOF 1u
#define AGENT_F_MORE 2u

enum agent_stream { AGENT_STDOUT = 1, AGENT_STDERR = 2 };
enum agent_exit_reason { AGENT_EXITED = 0, AGENT_SIGNALED = 1, AGENT_TIMEOUT = 2, AGENT_OOM = 3 };
enum agent_job_state { AGENT_JOB_RUNNING = 1, AGENT_JOB_EXITED = 2, AGENT_JOB_KILLED = 3 };
enum agent_file_type { AGENT_FT_FILE = 1, AGENT_FT_DIR = 2, AGENT_FT_SYMLINK = 3, AGENT_FT_OTHER = 4 };

/* ---- encoding: frames are built in a growable buffer ---------------------------------------- */

struct agent_buf {
	uint8_t *p;
	size_t len, cap;
	bool failed; /* an allocation failed, or one value alone exceeded AGENT_PAYLOAD_MAX */
};

void agent_buf_init(struct agent_buf *b);
void agent_buf_free(struct agent_buf *b);
/* Drop the first n bytes (after they were sent). */
void agent_buf_consume(struct agent_buf *b, size_t n);

/* Begin a frame; returns its offset in b, for agent_frame_end. */
size_t agent_frame_begin(struct agent_buf *b, uint16_t type, uint16_t flags, uint32_t id);
void agent_put_u32(struct agent_buf *b, uint16_t tag, uint32_t v);
void agent_put_i32(struct agent_buf *b, uint16_t tag, int32_t v);
void agent_put_u64(struct agent_buf *b, uint16_t tag, uint64_t v);
void agent_put_bytes(struct agent_buf *b, uint16_t tag, const void *p, size_t len);
void agent_put_str(struct agent_buf *b, uint16_t tag, const char *s);
/* A nested record: fields put between begin and end become the value of `tag`. */
size_t agent_nest_begin(struct agent_buf *b, uint16_t tag);
void agent_nest_end(struct agent_buf *b, size_t at);
/*
 * Finish the frame begun at `at`: patch its length. Returns 0, or -E2BIG when the
 * payload exceeds AGENT_PAYLOAD_MAX (the frame is then removed from b, and the frames
 * before it stay usable), -ENOMEM after a failed allocation, -EINVAL for a bad `at`.
 */
int agent_frame_end(struct agent_buf *b, size_t at);

/* ---- decoding: nothing is trusted, every length is checked --------------------------------- */

struct agent_frame {
	uint16_t type, flags;
	uint32_t id;
	const uint8_t *payload; /* points into the caller's buffer */
	uint32_t len;
};

/*
 * Parse one frame at the front of buf. Returns the bytes it occupies (> 0), 0 when more
 * bytes are needed, or -EPROTO when the header is impossible (len < 8 or > 8 + max).
 * The payload's fields are validated too: a malformed field list is -EPROTO, with *f's
 * header filled in so the receiver can still answer ERROR under that frame's id.
 */
ssize_t agent_frame_parse(const uint8_t *buf, size_t avail, struct agent_frame *f);

struct agent_field {
	uint16_t tag;
	uint32_t len;
	const uint8_t *val;
};

struct agent_iter {
	const uint8_t *p;
	size_t left;
};

void agent_iter_init(struct agent_iter *it, const uint8_t *payload, size_t len);
/* 1: *f is the next field; 0: the end; -EPROTO: a field runs past the end. */
int agent_iter_next(struct agent_iter *it, struct agent_field *f);

/* Typed views: -EPROTO when the length does not match the type. */
int agent_field_u32(const struct agent_field *f, uint32_t *v);
int agent_field_i32(const struct agent_field *f, int32_t *v);
int agent_field_u64(const struct agent_field *f, uint64_t *v);
/*
 * Copy a bytes field into a NUL-terminated string of at most cap-1 bytes.
 * -EPROTO when it holds a NUL byte, -ENAMETOOLONG when it does not fit.
 */
int agent_field_str(const struct agent_field *f, char *out, size_t cap);

/* The first field with this tag in a payload: 1 found, 0 not, -EPROTO malformed. */
int agent_find(const uint8_t *payload, size_t len, uint16_t tag, struct agent_field *f);

/* Printable names for logs and errors ("EXEC", "OK", ...); "?" when unknown. */
const char *agent_type_name(uint16_t type);

#endif
