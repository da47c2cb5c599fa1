/* The flint agent protocol: encoding and untrusted-input decoding of frames and fields. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Byte by byte: the same code is right on any host, and never makes an unaligned access. */
static void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

/* ---- encoding ------------------------------------------------------------------------------- */

void agent_buf_init(struct agent_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void agent_buf_free(struct agent_buf *b)
{
	free(b->p);
	agent_buf_init(b);
}

void agent_buf_consume(struct agent_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/*
 * Make room for n more bytes and return where they go, or NULL (b->failed set). Growth is
 * geometric so that a frame built field by field costs amortised O(1) per byte.
 */
static uint8_t *buf_reserve(struct agent_buf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (n > SIZE_MAX - b->len) {
		b->failed = true;
		return NULL;
	}
	size_t need = b->len + n;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	uint8_t *at = b->p + b->len;
	b->len = need;
	return at;
}

size_t agent_frame_begin(struct agent_buf *b, uint16_t type, uint16_t flags, uint32_t id)
{
	size_t at = b->len;
	uint8_t *h = buf_reserve(b, AGENT_HDR_SIZE);
	if (h) {
		le32_put(h, 0); /* patched by agent_frame_end */
		le16_put(h + 4, type);
		le16_put(h + 6, flags);
		le32_put(h + 8, id);
	}
	return at;
}

/*
 * A field header plus room for its value, or NULL. A value longer than a whole payload can
 * never be sent: it fails the buffer rather than allocating for it (and its length could not
 * even be encoded past 4 GiB).
 */
static uint8_t *field_reserve(struct agent_buf *b, uint16_t tag, size_t len)
{
	if (len > AGENT_PAYLOAD_MAX) {
		b->failed = true;
		return NULL;
	}
	uint8_t *p = buf_reserve(b, AGENT_FIELD_HDR + len);
	if (!p)
		return NULL;
	le16_put(p, tag);
	le32_put(p + 2, (uint32_t)len);
	return p + AGENT_FIELD_HDR;
}

void agent_put_u32(struct agent_buf *b, uint16_t tag, uint32_t v)
{
	uint8_t *p = field_reserve(b, tag, 4);
	if (p)
		le32_put(p, v);
}

void agent_put_i32(struct agent_buf *b, uint16_t tag, int32_t v)
{
	agent_put_u32(b, tag, (uint32_t)v);
}

void agent_put_u64(struct agent_buf *b, uint16_t tag, uint64_t v)
{
	uint8_t *p = field_reserve(b, tag, 8);
	if (p)
		le64_put(p, v);
}

void agent_put_bytes(struct agent_buf *b, uint16_t tag, const void *p, size_t len)
{
	uint8_t *v = field_reserve(b, tag, len);
	if (v && len)
		memcpy(v, p, len);
}

void agent_put_str(struct agent_buf *b, uint16_t tag, const char *s)
{
	agent_put_bytes(b, tag, s, strlen(s));
}

size_t agent_nest_begin(struct agent_buf *b, uint16_t tag)
{
	size_t at = b->len;
	field_reserve(b, tag, 0); /* the length is patched by agent_nest_end */
	return at;
}

void agent_nest_end(struct agent_buf *b, size_t at)
{
	if (b->failed)
		return;
	if (at > b->len || b->len - at < AGENT_FIELD_HDR ||
	    b->len - at - AGENT_FIELD_HDR > UINT32_MAX) {
		b->failed = true; /* a misused offset: the buffer can no longer be trusted */
		return;
	}
	le32_put(b->p + at + 2, (uint32_t)(b->len - at - AGENT_FIELD_HDR));
}

int agent_frame_end(struct agent_buf *b, size_t at)
{
	if (at > b->len || (!b->failed && b->len - at < AGENT_HDR_SIZE))
		return -EINVAL;
	if (b->failed) {
		b->len = at; /* never leave half a frame to be sent */
		return -ENOMEM;
	}
	size_t payload = b->len - at - AGENT_HDR_SIZE;
	if (payload > AGENT_PAYLOAD_MAX) {
		/* Only this frame is dropped: the frames before it and the buffer stay usable. */
		b->len = at;
		return -E2BIG;
	}
	le32_put(b->p + at, (uint32_t)(payload + 8));
	return 0;
}

/* ---- decoding ------------------------------------------------------------------------------- */

void agent_iter_init(struct agent_iter *it, const uint8_t *payload, size_t len)
{
	it->p = payload;
	it->left = len;
}

int agent_iter_next(struct agent_iter *it, struct agent_field *f)
{
	if (it->left == 0)
		return 0;
	if (it->left < AGENT_FIELD_HDR)
		return -EPROTO;
	uint32_t len = le32_get(it->p + 2);
	/* Compared against what is left, so no addition can overflow. */
	if (len > it->left - AGENT_FIELD_HDR)
		return -EPROTO;
	f->tag = le16_get(it->p);
	f->len = len;
	f->val = it->p + AGENT_FIELD_HDR;
	it->p += AGENT_FIELD_HDR + (size_t)len;
	it->left -= AGENT_FIELD_HDR + (size_t)len;
	return 1;
}

/*
 * On -EPROTO from a malformed field list *f still gets the header, so that the receiver can
 * answer ERROR under the frame's id before it closes the connection.
 */
ssize_t agent_frame_parse(const uint8_t *buf, size_t avail, struct agent_frame *f)
{
	if (avail < 4)
		return 0;
	uint32_t len = le32_get(buf);
	/* Checked before the rest arrives: a hostile length is refused, never waited for. */
	if (len < 8 || len > 8 + AGENT_PAYLOAD_MAX)
		return -EPROTO;
	if (avail - 4 < len)
		return 0;
	f->type = le16_get(buf + 4);
	f->flags = le16_get(buf + 6);
	f->id = le32_get(buf + 8);
	f->payload = buf + AGENT_HDR_SIZE;
	f->len = len - 8;

	struct agent_iter it;
	struct agent_field fl;
	int r;
	agent_iter_init(&it, f->payload, f->len);
	while ((r = agent_iter_next(&it, &fl)) > 0)
		;
	if (r < 0)
		return -EPROTO;
	return (ssize_t)len + 4;
}

int agent_field_u32(const struct agent_field *f, uint32_t *v)
{
	if (f->len != 4)
		return -EPROTO;
	*v = le32_get(f->val);
	return 0;
}

int agent_field_i32(const struct agent_field *f, int32_t *v)
{
	uint32_t u;
	if (agent_field_u32(f, &u) < 0)
		return -EPROTO;
	/* Two's complement by value, not by an implementation-defined conversion. */
	*v = u <= INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
	return 0;
}

int agent_field_u64(const struct agent_field *f, uint64_t *v)
{
	if (f->len != 8)
		return -EPROTO;
	*v = le64_get(f->val);
	return 0;
}

int agent_field_str(const struct agent_field *f, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if (f->len && memchr(f->val, '\0', f->len))
		return -EPROTO; /* "a\0b" must not pass as "a": a path would silently change */
	if (f->len >= cap)
		return -ENAMETOOLONG;
	if (f->len)
		memcpy(out, f->val, f->len);
	out[f->len] = '\0';
	return 0;
}

int agent_find(const uint8_t *payload, size_t len, uint16_t tag, struct agent_field *f)
{
	struct agent_iter it;
	int r;
	agent_iter_init(&it, payload, len);
	while ((r = agent_iter_next(&it, f)) > 0)
		if (f->tag == tag)
			return 1;
	return r;
}

const char *agent_type_name(uint16_t type)
{
	static const char *const names[] = {
		[AGENT_HELLO] = "HELLO",
		[AGENT_PING] = "PING",
		[AGENT_INFO] = "INFO",
		[AGENT_SET_TIME] = "SET_TIME",
		[AGENT_SHUTDOWN] = "SHUTDOWN",
		[AGENT_EXEC] = "EXEC",
		[AGENT_EXEC_STDIN] = "EXEC_STDIN",
		[AGENT_EXEC_SIGNAL] = "EXEC_SIGNAL",
		[AGENT_EXEC_RESIZE] = "EXEC_RESIZE",
		[AGENT_FILE_READ] = "FILE_READ",
		[AGENT_FILE_WRITE] = "FILE_WRITE",
		[AGENT_FILE_REMOVE] = "FILE_REMOVE",
		[AGENT_FILE_MKDIR] = "FILE_MKDIR",
		[AGENT_FILE_STAT] = "FILE_STAT",
		[AGENT_FILE_LIST] = "FILE_LIST",
		[AGENT_JOB_START] = "JOB_START",
		[AGENT_JOB_STATUS] = "JOB_STATUS",
		[AGENT_JOB_LOGS] = "JOB_LOGS",
		[AGENT_JOB_KILL] = "JOB_KILL",
		[AGENT_JOB_LIST] = "JOB_LIST",
		[AGENT_OK] = "OK",
		[AGENT_ERROR] = "ERROR",
		[AGENT_STARTED] = "STARTED",
		[AGENT_OUTPUT] = "OUTPUT",
		[AGENT_EXIT] = "EXIT",
	};
	if (type >= sizeof(names) / sizeof(names[0]) || !names[type])
		return "?";
	return names[type];
}
