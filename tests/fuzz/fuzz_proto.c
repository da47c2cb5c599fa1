/*
 * libFuzzer harness for the agent protocol decoder (common/agent/proto.c): any byte stream is
 * split into frames or refused; every field of a parsed frame, and of every field that parses
 * as a nested record, goes through the typed views; and re-encoding what was parsed gives back
 * the same bytes, which parse again to the same frame.
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon \
 *       tests/fuzz/fuzz_proto.c common/agent/proto.c -o /tmp/fuzz_proto
 *   /tmp/fuzz_proto -max_total_time=60 [CORPUS_DIR]
 *
 * (or `make build/fuzz/fuzz_proto`, run by `make fuzz` from an empty corpus.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Nesting is the encoder's business, not the wire's: bound it so the stack is. */
#define MAX_DEPTH 8

static void fail(void)
{
	abort();
}

/* Look at every field through every view; nothing may go wrong but a refusal. */
static void view(const struct agent_field *fl)
{
	uint32_t u;
	int32_t i;
	uint64_t q;
	char s[64];
	if ((agent_field_u32(fl, &u) == 0) != (fl->len == 4) ||
	    (agent_field_i32(fl, &i) == 0) != (fl->len == 4) ||
	    (agent_field_u64(fl, &q) == 0) != (fl->len == 8))
		fail();
	if (fl->len == 4 && (uint32_t)i != u)
		fail();
	int r = agent_field_str(fl, s, sizeof(s));
	if (r == 0 && (strlen(s) != fl->len || memcmp(s, fl->val, fl->len)))
		fail();
	if (r != 0 && r != -EPROTO && r != -ENAMETOOLONG)
		fail();
	if (r == -ENAMETOOLONG && (fl->len < sizeof(s) || memchr(fl->val, 0, fl->len)))
		fail();
}

/* A field list that walks to its end without an error. */
static bool well_formed(const uint8_t *p, size_t len)
{
	struct agent_iter it;
	struct agent_field fl;
	int r;
	agent_iter_init(&it, p, len);
	while ((r = agent_iter_next(&it, &fl)) > 0)
		;
	return r == 0;
}

/*
 * Re-encode a field list with the typed puts: fixed-size values through their type, values that
 * are themselves a well-formed field list as nested records, the rest as bytes.
 */
static void reencode(struct agent_buf *b, const uint8_t *p, size_t len, int depth)
{
	struct agent_iter it;
	struct agent_field fl;
	int r;
	agent_iter_init(&it, p, len);
	while ((r = agent_iter_next(&it, &fl)) > 0) {
		uint32_t u;
		int32_t i;
		uint64_t q;
		view(&fl);
		if (fl.len == 4 && (depth & 1) && agent_field_i32(&fl, &i) == 0) {
			agent_put_i32(b, fl.tag, i); /* both views, on alternate levels */
		} else if (agent_field_u32(&fl, &u) == 0) {
			agent_put_u32(b, fl.tag, u);
		} else if (agent_field_u64(&fl, &q) == 0) {
			agent_put_u64(b, fl.tag, q);
		} else if (fl.len && depth < MAX_DEPTH && well_formed(fl.val, fl.len)) {
			size_t at = agent_nest_begin(b, fl.tag);
			reencode(b, fl.val, fl.len, depth + 1);
			agent_nest_end(b, at);
		} else {
			agent_put_bytes(b, fl.tag, fl.val, fl.len);
		}
		/* agent_find agrees with the walk on the first field of each tag. */
		struct agent_field g;
		if (agent_find(p, len, fl.tag, &g) != 1 || g.tag != fl.tag || g.val > fl.val)
			fail();
	}
	if (r < 0) /* agent_frame_parse promised a well-formed top level */
		fail();
}

static void check_frame(const uint8_t *raw, size_t n, const struct agent_frame *f)
{
	struct agent_frame g;
	struct agent_buf b;

	if (n != AGENT_HDR_SIZE + (size_t)f->len || f->payload != raw + AGENT_HDR_SIZE)
		fail();
	(void)agent_type_name(f->type);
	/* A frame is never complete before its last byte. */
	if (agent_frame_parse(raw, n - 1, &g) != 0)
		fail();

	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, f->type, f->flags, f->id);
	reencode(&b, f->payload, f->len, 0);
	if (agent_frame_end(&b, at) != 0 || b.len != n || memcmp(b.p, raw, n))
		fail();
	if (agent_frame_parse(b.p, b.len, &g) != (ssize_t)n || g.type != f->type ||
	    g.flags != f->flags || g.id != f->id || g.len != f->len)
		fail();
	agent_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The input is a stream, as a connection delivers it: frames back to back. */
	while (size) {
		struct agent_frame f;
		ssize_t n = agent_frame_parse(data, size, &f);
		if (n < 0) {
			if (n != -EPROTO)
				fail();
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > size)
			fail();
		check_frame(data, (size_t)n, &f);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
