/* Unit tests for common/agent/proto.c: encoding, and decoding of hostile or truncated frames. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/proto.h"

/* Parse the single frame that b holds, which must be all of b. */
static void parse_whole(const struct agent_buf *b, struct agent_frame *f)
{
	assert_false(b->failed);
	assert_int_equal(agent_frame_parse(b->p, b->len, f), (ssize_t)b->len);
}

/* A raw frame header followed by `plen` payload bytes copied from p; returns the total size. */
static size_t raw_frame(uint8_t *out, uint32_t len, uint16_t type, uint32_t id, const void *p,
			size_t plen)
{
	for (int i = 0; i < 4; i++) {
		out[i] = (uint8_t)(len >> (8 * i));
		out[8 + i] = (uint8_t)(id >> (8 * i));
	}
	out[4] = (uint8_t)type;
	out[5] = (uint8_t)(type >> 8);
	out[6] = out[7] = 0;
	if (plen)
		memcpy(out + AGENT_HDR_SIZE, p, plen);
	return AGENT_HDR_SIZE + plen;
}

static void test_golden_bytes(void **state)
{
	struct agent_buf b;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_EXEC_STDIN, AGENT_F_EOF, 0x01020304);
	agent_put_u32(&b, ATAG_PID, 0xa1b2c3d4);
	agent_put_bytes(&b, ATAG_DATA, "hi", 2);
	assert_int_equal(agent_frame_end(&b, at), 0);
	static const uint8_t want[] = {
		8 + 10 + 8, 0, 0, 0, 0x11, 0, 1, 0, 4, 3, 2, 1,	 /* len, type, flags, id */
		13, 0, 4, 0, 0, 0, 0xd4, 0xc3, 0xb2, 0xa1,	 /* PID u32 */
		15, 0, 2, 0, 0, 0, 'h', 'i',			 /* DATA "hi" */
	};
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	agent_buf_free(&b);
}

static void test_roundtrip_every_type(void **state)
{
	static const uint8_t bin[] = { 0, 0xff, '\n', 0, 0x80 };
	struct agent_buf b;
	struct agent_frame f;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_EXIT, 0xffff, 0xfffffffe);
	agent_put_u32(&b, ATAG_SIGNAL, 0xffffffff);
	agent_put_i32(&b, ATAG_EXIT_CODE, -1);
	agent_put_i32(&b, ATAG_ERRNO, INT32_MIN);
	agent_put_i32(&b, ATAG_PID, INT32_MAX);
	agent_put_u64(&b, ATAG_SIZE, UINT64_MAX);
	agent_put_u64(&b, ATAG_OFFSET, 0x0102030405060708ull);
	agent_put_bytes(&b, ATAG_DATA, bin, sizeof(bin));
	agent_put_bytes(&b, ATAG_NAME, NULL, 0);
	agent_put_str(&b, ATAG_PATH, "/etc/hostname");
	assert_int_equal(agent_frame_end(&b, at), 0);
	parse_whole(&b, &f);
	assert_int_equal(f.type, AGENT_EXIT);
	assert_int_equal(f.flags, 0xffff);
	assert_int_equal(f.id, 0xfffffffe);

	struct agent_iter it;
	struct agent_field fl;
	uint32_t u;
	int32_t i;
	uint64_t q;
	char s[32];
	agent_iter_init(&it, f.payload, f.len);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(fl.tag, ATAG_SIGNAL);
	assert_int_equal(agent_field_u32(&fl, &u), 0);
	assert_int_equal(u, 0xffffffff);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_i32(&fl, &i), 0);
	assert_int_equal(i, -1);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_i32(&fl, &i), 0);
	assert_int_equal(i, INT32_MIN);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_i32(&fl, &i), 0);
	assert_int_equal(i, INT32_MAX);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_u64(&fl, &q), 0);
	assert_true(q == UINT64_MAX);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_u64(&fl, &q), 0);
	assert_true(q == 0x0102030405060708ull);
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(fl.tag, ATAG_DATA);
	assert_int_equal(fl.len, sizeof(bin));
	assert_memory_equal(fl.val, bin, sizeof(bin));
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(fl.tag, ATAG_NAME);
	assert_int_equal(fl.len, 0);
	assert_int_equal(agent_field_str(&fl, s, sizeof(s)), 0);
	assert_string_equal(s, "");
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_field_str(&fl, s, sizeof(s)), 0);
	assert_string_equal(s, "/etc/hostname");
	assert_int_equal(agent_iter_next(&it, &fl), 0);
	assert_int_equal(agent_iter_next(&it, &fl), 0); /* the end stays the end */
	agent_buf_free(&b);
}

static void test_empty_payload(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	struct agent_field fl;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_PING, 0, 7);
	assert_int_equal(agent_frame_end(&b, at), 0);
	assert_int_equal(b.len, AGENT_HDR_SIZE);
	parse_whole(&b, &f);
	assert_int_equal(f.len, 0);
	assert_int_equal(agent_find(f.payload, f.len, ATAG_DATA, &fl), 0);
	agent_buf_free(&b);
}

static void test_nested_records(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_OK, 0, 9);
	for (unsigned e = 0; e < 3; e++) {
		size_t n = agent_nest_begin(&b, ATAG_JOB);
		agent_put_str(&b, ATAG_JOB_ID, e == 1 ? "0000000b" : "0000000a");
		agent_put_u32(&b, ATAG_PID, 100 + e);
		agent_put_str(&b, ATAG_ARGV, "sh");
		agent_put_str(&b, ATAG_ARGV, "-c");
		size_t inner = agent_nest_begin(&b, ATAG_ENTRY); /* a record inside a record */
		agent_put_u64(&b, ATAG_SIZE, e);
		agent_nest_end(&b, inner);
		agent_nest_end(&b, n);
	}
	size_t empty = agent_nest_begin(&b, ATAG_ENTRY);
	agent_nest_end(&b, empty);
	assert_int_equal(agent_frame_end(&b, at), 0);
	parse_whole(&b, &f);

	struct agent_iter it, jt, kt;
	struct agent_field fl, g, h;
	unsigned jobs = 0;
	agent_iter_init(&it, f.payload, f.len);
	while (agent_iter_next(&it, &fl) == 1) {
		if (fl.tag == ATAG_ENTRY) {
			assert_int_equal(fl.len, 0);
			continue;
		}
		assert_int_equal(fl.tag, ATAG_JOB);
		unsigned argv = 0;
		agent_iter_init(&jt, fl.val, fl.len);
		while (agent_iter_next(&jt, &g) == 1) {
			uint32_t pid;
			uint64_t size;
			if (g.tag == ATAG_PID) {
				assert_int_equal(agent_field_u32(&g, &pid), 0);
				assert_int_equal(pid, 100 + jobs);
			} else if (g.tag == ATAG_ARGV) {
				assert_memory_equal(g.val, argv ? "-c" : "sh", 2);
				argv++;
			} else if (g.tag == ATAG_ENTRY) {
				agent_iter_init(&kt, g.val, g.len);
				assert_int_equal(agent_iter_next(&kt, &h), 1);
				assert_int_equal(agent_field_u64(&h, &size), 0);
				assert_true(size == jobs);
				assert_int_equal(agent_iter_next(&kt, &h), 0);
			}
		}
		assert_int_equal(argv, 2);
		jobs++;
	}
	assert_int_equal(jobs, 3);
	agent_buf_free(&b);
}

static void test_repeated_tags_in_order(void **state)
{
	static const char *const argv[] = { "ls", "-l", "", "/tmp" };
	struct agent_buf b;
	struct agent_frame f;
	struct agent_iter it;
	struct agent_field fl;
	char s[16];
	unsigned n = 0;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_EXEC, 0, 1);
	for (unsigned i = 0; i < 4; i++) {
		agent_put_str(&b, ATAG_ARGV, argv[i]);
		agent_put_str(&b, ATAG_ENV, "A=1");
	}
	assert_int_equal(agent_frame_end(&b, at), 0);
	parse_whole(&b, &f);
	agent_iter_init(&it, f.payload, f.len);
	while (agent_iter_next(&it, &fl) == 1) {
		if (fl.tag != ATAG_ARGV)
			continue;
		assert_int_equal(agent_field_str(&fl, s, sizeof(s)), 0);
		assert_string_equal(s, argv[n++]);
	}
	assert_int_equal(n, 4);
	/* agent_find gives the first of them. */
	assert_int_equal(agent_find(f.payload, f.len, ATAG_ARGV, &fl), 1);
	assert_int_equal(agent_field_str(&fl, s, sizeof(s)), 0);
	assert_string_equal(s, "ls");
	agent_buf_free(&b);
}

static void test_many_fields_grow(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	struct agent_iter it;
	struct agent_field fl;
	uint32_t v, n = 0;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_OK, 0, 1);
	for (uint32_t i = 0; i < 20000; i++)
		agent_put_u32(&b, ATAG_PID, i);
	assert_int_equal(agent_frame_end(&b, at), 0);
	assert_true(b.cap >= b.len);
	parse_whole(&b, &f);
	agent_iter_init(&it, f.payload, f.len);
	while (agent_iter_next(&it, &fl) == 1) {
		assert_int_equal(agent_field_u32(&fl, &v), 0);
		assert_int_equal(v, n++);
	}
	assert_int_equal(n, 20000);
	agent_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
}

/* A frame whose payload is one DATA field making it exactly `payload` bytes. */
static int put_big(struct agent_buf *b, size_t payload, uint32_t id)
{
	uint8_t *data = calloc(1, payload);
	assert_non_null(data);
	memset(data, 0xa5, payload);
	size_t at = agent_frame_begin(b, AGENT_FILE_READ, 0, id);
	agent_put_bytes(b, ATAG_DATA, data, payload - AGENT_FIELD_HDR);
	free(data);
	return agent_frame_end(b, at);
}

static void test_payload_exactly_max(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	struct agent_field fl;
	(void)state;
	agent_buf_init(&b);
	assert_int_equal(put_big(&b, AGENT_PAYLOAD_MAX, 3), 0);
	assert_int_equal(b.len, AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX);
	parse_whole(&b, &f);
	assert_int_equal(f.len, AGENT_PAYLOAD_MAX);
	assert_int_equal(agent_find(f.payload, f.len, ATAG_DATA, &fl), 1);
	assert_int_equal(fl.len, AGENT_PAYLOAD_MAX - AGENT_FIELD_HDR);
	assert_int_equal(fl.val[fl.len - 1], 0xa5);
	agent_buf_free(&b);
}

static void test_payload_one_over_max(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_PING, 0, 1);
	assert_int_equal(agent_frame_end(&b, at), 0);
	size_t before = b.len;

	assert_int_equal(put_big(&b, AGENT_PAYLOAD_MAX + 1, 2), -E2BIG);
	/* Consistent: the big frame is gone, the one before is intact, the buffer still works. */
	assert_int_equal(b.len, before);
	assert_false(b.failed);
	parse_whole(&b, &f);
	assert_int_equal(f.type, AGENT_PING);

	at = agent_frame_begin(&b, AGENT_ERROR, 0, 2);
	agent_put_i32(&b, ATAG_ERRNO, E2BIG);
	assert_int_equal(agent_frame_end(&b, at), 0);
	assert_int_equal(agent_frame_parse(b.p, b.len, &f), (ssize_t)before);
	assert_true(agent_frame_parse(b.p + before, b.len - before, &f) > 0);
	assert_int_equal(f.type, AGENT_ERROR);
	assert_int_equal(f.id, 2);

	/* Many small fields past the limit are caught at the end too. */
	at = agent_frame_begin(&b, AGENT_OK, 0, 3);
	for (size_t i = 0; i <= AGENT_PAYLOAD_MAX / 10; i++)
		agent_put_u32(&b, ATAG_PID, 1);
	assert_int_equal(agent_frame_end(&b, at), -E2BIG);
	assert_int_equal(b.len, at);
	agent_buf_free(&b);
}

static void test_oversize_value_fails_buffer(void **state)
{
	struct agent_buf b;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_FILE_WRITE, 0, 1);
	/* Never read: a value longer than any payload is refused before it is copied. */
	agent_put_bytes(&b, ATAG_DATA, "", (size_t)AGENT_PAYLOAD_MAX + 1);
	assert_true(b.failed);
	size_t len = b.len;
	agent_put_u32(&b, ATAG_MODE, 0644); /* a no-op now */
	assert_int_equal(b.len, len);
	assert_int_equal(agent_frame_end(&b, at), -ENOMEM);
	assert_int_equal(b.len, at);
	/* Everything after is refused too, until the owner starts over. */
	at = agent_frame_begin(&b, AGENT_PING, 0, 2);
	assert_int_equal(agent_frame_end(&b, at), -ENOMEM);
	agent_buf_free(&b);
	assert_false(b.failed);

	agent_buf_init(&b);
	at = agent_frame_begin(&b, AGENT_OK, 0, 1);
	agent_nest_end(&b, b.len + 1); /* a bogus nest offset */
	assert_true(b.failed);
	agent_buf_free(&b);

	agent_buf_init(&b);
	assert_int_equal(agent_frame_end(&b, 5), -EINVAL);
	agent_buf_free(&b);
}

static void test_every_prefix_is_partial(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_FILE_STAT, 0, 5);
	agent_put_str(&b, ATAG_PATH, "/a/b");
	agent_put_u64(&b, ATAG_SIZE, 1);
	size_t n = agent_nest_begin(&b, ATAG_ENTRY);
	agent_put_str(&b, ATAG_NAME, "x");
	agent_nest_end(&b, n);
	assert_int_equal(agent_frame_end(&b, at), 0);
	size_t one = b.len;
	at = agent_frame_begin(&b, AGENT_PING, 0, 6);
	assert_int_equal(agent_frame_end(&b, at), 0);

	/* An exactly-sized heap copy per prefix, so ASan sees any read past `avail`. */
	for (size_t i = 0; i < one; i++) {
		uint8_t *c = malloc(i ? i : 1);
		assert_non_null(c);
		memcpy(c, b.p, i);
		assert_int_equal(agent_frame_parse(c, i, &f), 0);
		free(c);
	}
	/* The whole frame, then the next one behind it. */
	assert_int_equal(agent_frame_parse(b.p, b.len, &f), (ssize_t)one);
	assert_int_equal(f.id, 5);
	assert_int_equal(agent_frame_parse(b.p + one, b.len - one, &f), AGENT_HDR_SIZE);
	assert_int_equal(f.id, 6);
	agent_buf_free(&b);
}

static void test_len_out_of_range(void **state)
{
	uint8_t raw[AGENT_HDR_SIZE + 16];
	struct agent_frame f;
	(void)state;
	for (uint32_t len = 0; len < 8; len++) {
		size_t n = raw_frame(raw, len, AGENT_PING, 1, NULL, 0);
		assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
		/* Refused from the length alone, without waiting for more. */
		assert_int_equal(agent_frame_parse(raw, 4, &f), -EPROTO);
	}
	static const uint32_t big[] = { 8 + AGENT_PAYLOAD_MAX + 1, 0x7fffffff, 0xfffffff4,
					0xffffffff };
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		raw_frame(raw, big[i], AGENT_OK, 1, NULL, 0);
		assert_int_equal(agent_frame_parse(raw, 4, &f), -EPROTO);
		assert_int_equal(agent_frame_parse(raw, sizeof(raw), &f), -EPROTO);
	}
	/* The largest legal length is merely incomplete. */
	raw_frame(raw, 8 + AGENT_PAYLOAD_MAX, AGENT_OK, 1, NULL, 0);
	assert_int_equal(agent_frame_parse(raw, sizeof(raw), &f), 0);
}

static void test_field_runs_past_payload(void **state)
{
	uint8_t raw[64];
	struct agent_frame f;
	(void)state;
	/* A DATA field claiming 5 bytes with 4 left. */
	static const uint8_t p1[] = { 15, 0, 5, 0, 0, 0, 'a', 'b', 'c', 'd' };
	size_t n = raw_frame(raw, 8 + sizeof(p1), AGENT_FILE_READ, 42, p1, sizeof(p1));
	memset(&f, 0, sizeof(f));
	assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
	assert_int_equal(f.id, 42); /* known, so the receiver can answer ERROR under it */
	assert_int_equal(f.type, AGENT_FILE_READ);
	/* Lengths that would wrap a 32-bit or a size_t sum. */
	static const uint8_t p2[] = { 15, 0, 0xff, 0xff, 0xff, 0xff, 'a' };
	n = raw_frame(raw, 8 + sizeof(p2), AGENT_OK, 1, p2, sizeof(p2));
	assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
	static const uint8_t p3[] = { 15, 0, 0xfa, 0xff, 0xff, 0xff, 'a' };
	n = raw_frame(raw, 8 + sizeof(p3), AGENT_OK, 1, p3, sizeof(p3));
	assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
	/* A good field, then a bad one: the whole frame is refused. */
	static const uint8_t p4[] = { 13, 0, 4, 0, 0, 0, 1, 2, 3, 4, 15, 0, 1, 0, 0, 0 };
	n = raw_frame(raw, 8 + sizeof(p4), AGENT_OK, 1, p4, sizeof(p4));
	assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
	/* The iterator over the same payload stops at the bad one, and stays stopped. */
	struct agent_iter it;
	struct agent_field fl;
	agent_iter_init(&it, p4, sizeof(p4));
	assert_int_equal(agent_iter_next(&it, &fl), 1);
	assert_int_equal(agent_iter_next(&it, &fl), -EPROTO);
	assert_int_equal(agent_iter_next(&it, &fl), -EPROTO);
	assert_int_equal(agent_find(p4, sizeof(p4), ATAG_DATA, &fl), -EPROTO);
	assert_int_equal(agent_find(p4, sizeof(p4), ATAG_PID, &fl), 1);
}

static void test_field_header_cut(void **state)
{
	uint8_t raw[64];
	struct agent_frame f;
	struct agent_iter it;
	struct agent_field fl;
	(void)state;
	static const uint8_t p[] = { 13, 0, 4, 0, 0, 0, 1, 2, 3, 4, 15, 0, 0, 0, 0 };
	for (size_t cut = 1; cut < AGENT_FIELD_HDR; cut++) {
		size_t plen = 10 + cut;
		size_t n = raw_frame(raw, (uint32_t)(8 + plen), AGENT_OK, 1, p, plen);
		assert_int_equal(agent_frame_parse(raw, n, &f), -EPROTO);
		agent_iter_init(&it, p, plen);
		assert_int_equal(agent_iter_next(&it, &fl), 1);
		assert_int_equal(agent_iter_next(&it, &fl), -EPROTO);
	}
}

static void test_typed_views_wrong_length(void **state)
{
	static const uint8_t v[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	uint32_t u = 7;
	int32_t i = 7;
	uint64_t q = 7;
	(void)state;
	for (uint32_t len = 0; len <= 9; len++) {
		struct agent_field f = { .tag = ATAG_PID, .len = len, .val = v };
		assert_int_equal(agent_field_u32(&f, &u), len == 4 ? 0 : -EPROTO);
		assert_int_equal(agent_field_i32(&f, &i), len == 4 ? 0 : -EPROTO);
		assert_int_equal(agent_field_u64(&f, &q), len == 8 ? 0 : -EPROTO);
	}
	assert_int_equal(u, 0x04030201);
	assert_int_equal(i, 0x04030201);
	assert_true(q == 0x0807060504030201ull);
}

static void test_field_str(void **state)
{
	char s[8];
	(void)state;
	struct agent_field f = { .tag = ATAG_PATH, .len = 3, .val = (const uint8_t *)"a\0b" };
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), -EPROTO);
	f.len = 1;
	f.val = (const uint8_t *)"\0";
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), -EPROTO);
	f.len = 7;
	f.val = (const uint8_t *)"1234567";
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), 0); /* exactly fits with its NUL */
	assert_string_equal(s, "1234567");
	f.len = 8;
	f.val = (const uint8_t *)"12345678";
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), -ENAMETOOLONG);
	assert_string_equal(s, ""); /* never a truncated string that looks whole */
	/* A NUL past the end of what fits is still a NUL. */
	f.len = 9;
	f.val = (const uint8_t *)"12345678\0";
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), -EPROTO);
	f.len = 0;
	assert_int_equal(agent_field_str(&f, s, 1), 0);
	assert_string_equal(s, "");
	assert_int_equal(agent_field_str(&f, s, 0), -ENAMETOOLONG);
	/* High bytes (UTF-8) are fine. */
	f.len = 4;
	f.val = (const uint8_t *)"\xc3\xa9t\xe9";
	assert_int_equal(agent_field_str(&f, s, sizeof(s)), 0);
	assert_memory_equal(s, "\xc3\xa9t\xe9", 5);
}

static void test_unknown_tags_skipped(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	struct agent_field fl;
	uint32_t v;
	(void)state;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, 0x7777, 0x8000, 1); /* unknown type and flag bits too */
	agent_put_bytes(&b, 0xffff, "zzz", 3);
	agent_put_u64(&b, 0, 5);
	agent_put_u32(&b, 999, 1);
	agent_put_u32(&b, ATAG_VERSION, AGENT_VERSION);
	agent_put_u32(&b, 999, 2);
	assert_int_equal(agent_frame_end(&b, at), 0);
	parse_whole(&b, &f);
	assert_int_equal(f.type, 0x7777);
	assert_int_equal(agent_find(f.payload, f.len, ATAG_VERSION, &fl), 1);
	assert_int_equal(agent_field_u32(&fl, &v), 0);
	assert_int_equal(v, AGENT_VERSION);
	assert_int_equal(agent_find(f.payload, f.len, ATAG_NAME, &fl), 0);
	assert_int_equal(agent_find(f.payload, f.len, 999, &fl), 1);
	assert_int_equal(agent_field_u32(&fl, &v), 0);
	assert_int_equal(v, 1);
	agent_buf_free(&b);
}

static void test_buf_consume(void **state)
{
	struct agent_buf b;
	struct agent_frame f;
	(void)state;
	agent_buf_init(&b);
	agent_buf_consume(&b, 0); /* on an empty buffer */
	agent_buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	for (uint32_t id = 1; id <= 3; id++) {
		size_t at = agent_frame_begin(&b, AGENT_OUTPUT, 0, id);
		agent_put_u32(&b, ATAG_STREAM, AGENT_STDOUT);
		agent_put_bytes(&b, ATAG_DATA, "abcdef", id);
		assert_int_equal(agent_frame_end(&b, at), 0);
	}
	/* As a writer does: consume what was sent, possibly in odd pieces. */
	ssize_t n = agent_frame_parse(b.p, b.len, &f);
	assert_true(n > 0);
	agent_buf_consume(&b, 3);
	agent_buf_consume(&b, (size_t)n - 3);
	n = agent_frame_parse(b.p, b.len, &f);
	assert_true(n > 0);
	assert_int_equal(f.id, 2);
	agent_buf_consume(&b, 0);
	assert_int_equal(agent_frame_parse(b.p, b.len, &f), n);
	agent_buf_consume(&b, (size_t)n);
	assert_int_equal(agent_frame_parse(b.p, b.len, &f), (ssize_t)b.len);
	assert_int_equal(f.id, 3);
	agent_buf_consume(&b, b.len + 100);
	assert_int_equal(b.len, 0);
	/* And it is reusable afterwards. */
	size_t at = agent_frame_begin(&b, AGENT_PING, 0, 4);
	assert_int_equal(agent_frame_end(&b, at), 0);
	parse_whole(&b, &f);
	assert_int_equal(f.id, 4);
	agent_buf_free(&b);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(agent_type_name(AGENT_HELLO), "HELLO");
	assert_string_equal(agent_type_name(AGENT_EXEC), "EXEC");
	assert_string_equal(agent_type_name(AGENT_JOB_LIST), "JOB_LIST");
	assert_string_equal(agent_type_name(AGENT_EXIT), "EXIT");
	assert_string_equal(agent_type_name(0), "?");
	assert_string_equal(agent_type_name(0x06), "?");
	assert_string_equal(agent_type_name(0x85), "?");
	assert_string_equal(agent_type_name(0xffff), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_empty_payload),
		cmocka_unit_test(test_nested_records),
		cmocka_unit_test(test_repeated_tags_in_order),
		cmocka_unit_test(test_many_fields_grow),
		cmocka_unit_test(test_payload_exactly_max),
		cmocka_unit_test(test_payload_one_over_max),
		cmocka_unit_test(test_oversize_value_fails_buffer),
		cmocka_unit_test(test_every_prefix_is_partial),
		cmocka_unit_test(test_len_out_of_range),
		cmocka_unit_test(test_field_runs_past_payload),
		cmocka_unit_test(test_field_header_cut),
		cmocka_unit_test(test_typed_views_wrong_length),
		cmocka_unit_test(test_field_str),
		cmocka_unit_test(test_unknown_tags_skipped),
		cmocka_unit_test(test_buf_consume),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
