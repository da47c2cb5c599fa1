/* Unit tests for common/agent/client.c against a fake agent played by a thread of the test. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/client.h"

/* ---- the fake agent -------------------------------------------------------------------------- */

/*
 * One thread speaking the agent's side of the protocol over a socketpair. cmocka's asserts must
 * stay on the test's thread, so the fake records the first thing it did not like in `bad` and
 * stops; the test checks it after the join.
 */
struct fake {
	int fd;
	pthread_t thread;
	uint32_t version; /* in its HELLO */
	bool hello_sent; /* already, by the fake flint-vmm in front of it */
	bool garbage; /* answer PING with an impossible frame */
	const char *bad;
	int bad_line;
	uint8_t *frame;
	/* What it saw. */
	char client_name[64];
	int32_t client_errno; /* an ERROR the client sent */
	unsigned reads, write_chunks, pings;
	uint32_t refused_id;
	uint8_t *written;
	size_t written_len;
	uint32_t resize_rows, resize_cols, signal, kill_signal, recursive;
	uint32_t exec_stdin, exec_rows, exec_cols;
	uint64_t exec_timeout;
	size_t exec_argc, exec_envc;
	char exec_cwd[64], exec_user[64];
};

#define FK_CHECK(fk, cond)                                                                        \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			if (!(fk)->bad) {                                                         \
				(fk)->bad = #cond;                                                \
				(fk)->bad_line = __LINE__;                                        \
			}                                                                         \
			return false;                                                             \
		}                                                                                 \
	} while (0)

static bool read_exact(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return false;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return true;
}

/* 1: *f is the next frame from the client; 0: EOF; -1: something bad. */
static int fk_recv(struct fake *fk, struct agent_frame *f)
{
	uint8_t h[4];
	if (!read_exact(fk->fd, h, 4))
		return 0;
	uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
		       (uint32_t)h[3] << 24;
	free(fk->frame);
	fk->frame = malloc(4 + (size_t)len);
	if (!fk->frame || len < 8 || len > 8 + AGENT_PAYLOAD_MAX)
		return -1;
	memcpy(fk->frame, h, 4);
	if (!read_exact(fk->fd, fk->frame + 4, len) ||
	    agent_frame_parse(fk->frame, 4 + (size_t)len, f) != 4 + (ssize_t)len)
		return -1;
	return 1;
}

static bool fk_send(struct fake *fk, struct agent_buf *b)
{
	FK_CHECK(fk, !b->failed);
	bool ok = write_all(fk->fd, b->p, b->len);
	b->len = 0;
	return ok;
}

static bool fk_error(struct fake *fk, uint32_t id, int32_t err, const char *msg)
{
	struct agent_buf b;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_ERROR, 0, id);
	agent_put_i32(&b, ATAG_ERRNO, err);
	agent_put_str(&b, ATAG_MESSAGE, msg);
	agent_frame_end(&b, at);
	bool ok = fk_send(fk, &b);
	agent_buf_free(&b);
	return ok;
}

static bool fk_str(const struct agent_frame *f, uint16_t tag, char *out, size_t cap)
{
	struct agent_field fl;
	return agent_find(f->payload, f->len, tag, &fl) == 1 && agent_field_str(&fl, out, cap) == 0;
}

static bool fk_u32(const struct agent_frame *f, uint16_t tag, uint32_t *v)
{
	struct agent_field fl;
	return agent_find(f->payload, f->len, tag, &fl) == 1 && agent_field_u32(&fl, v) == 0;
}

static bool fk_u64(const struct agent_frame *f, uint16_t tag, uint64_t *v)
{
	struct agent_field fl;
	return agent_find(f->payload, f->len, tag, &fl) == 1 && agent_field_u64(&fl, v) == 0;
}

static void put_output(struct agent_buf *b, uint32_t id, uint32_t stream, const void *p,
		       size_t n)
{
	size_t at = agent_frame_begin(b, AGENT_OUTPUT, 0, id);
	agent_put_u32(b, ATAG_STREAM, stream);
	agent_put_bytes(b, ATAG_DATA, p, n);
	agent_frame_end(b, at);
}

static void put_exit(struct agent_buf *b, uint32_t id, int32_t code, uint32_t sig,
		     uint32_t reason)
{
	size_t at = agent_frame_begin(b, AGENT_EXIT, 0, id);
	agent_put_i32(b, ATAG_EXIT_CODE, code);
	agent_put_u32(b, ATAG_SIGNAL, sig);
	agent_put_u32(b, ATAG_REASON, reason);
	agent_frame_end(b, at);
}

/* The next frame must be for exec `id` of this type. */
static bool fk_expect(struct fake *fk, uint32_t id, uint16_t type, struct agent_frame *f)
{
	FK_CHECK(fk, fk_recv(fk, f) == 1);
	FK_CHECK(fk, f->id == id && f->type == type);
	return true;
}

/*
 * The commands the fake knows: echo (fixed output, exit 3), cat (stdin echoed to stdout until
 * EOF), pty (a resize, then a signal), yes (output until a signal), badstream (an OUTPUT frame of
 * an unknown stream), and anything else: ENOENT.
 */
static bool fk_exec(struct fake *fk, const struct agent_frame *req)
{
	struct agent_buf b;
	struct agent_frame f;
	struct agent_iter it;
	struct agent_field fl;
	char argv0[16] = "";
	uint32_t id = req->id;

	fk->exec_argc = fk->exec_envc = 0;
	agent_iter_init(&it, req->payload, req->len);
	while (agent_iter_next(&it, &fl) > 0) {
		if (fl.tag == ATAG_ARGV && fk->exec_argc++ == 0)
			FK_CHECK(fk, agent_field_str(&fl, argv0, sizeof(argv0)) == 0);
		fk->exec_envc += fl.tag == ATAG_ENV;
	}
	fk_str(req, ATAG_CWD, fk->exec_cwd, sizeof(fk->exec_cwd));
	fk_str(req, ATAG_USER, fk->exec_user, sizeof(fk->exec_user));
	fk_u32(req, ATAG_STDIN, &fk->exec_stdin);
	fk_u32(req, ATAG_PTY_ROWS, &fk->exec_rows);
	fk_u32(req, ATAG_PTY_COLS, &fk->exec_cols);
	fk_u64(req, ATAG_TIMEOUT_MS, &fk->exec_timeout);
	if (strcmp(argv0, "echo") && strcmp(argv0, "cat") && strcmp(argv0, "pty") &&
	    strcmp(argv0, "yes") && strcmp(argv0, "badstream"))
		return fk_error(fk, id, ENOENT, "no such command");

	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, AGENT_STARTED, 0, id);
	agent_put_u32(&b, ATAG_PID, 4242);
	agent_frame_end(&b, at);
	if (!strcmp(argv0, "echo")) {
		put_output(&b, id, AGENT_STDOUT, "hello\n", 6);
		put_output(&b, id, AGENT_STDERR, "warn\n", 5);
		put_output(&b, 999, AGENT_STDOUT, "not ours\n", 9); /* another exec's: dropped */
		put_output(&b, id, AGENT_STDOUT, "", 0);
		put_output(&b, id, AGENT_STDOUT, "world\n", 6);
		put_exit(&b, id, 3, 0, AGENT_EXITED);
	} else if (!strcmp(argv0, "badstream")) {
		put_output(&b, id, 7, "x", 1); /* neither stdout nor stderr */
		put_exit(&b, id, 0, 0, AGENT_EXITED);
	} else if (!strcmp(argv0, "cat")) {
		FK_CHECK(fk, fk_send(fk, &b));
		for (;;) {
			struct agent_field data;
			FK_CHECK(fk, fk_expect(fk, id, AGENT_EXEC_STDIN, &f));
			FK_CHECK(fk, agent_find(f.payload, f.len, ATAG_DATA, &data) == 1);
			if (data.len)
				put_output(&b, id, AGENT_STDOUT, data.val, data.len);
			if (f.flags & AGENT_F_EOF)
				break;
			FK_CHECK(fk, data.len > 0);
			FK_CHECK(fk, fk_send(fk, &b));
		}
		put_exit(&b, id, 0, 0, AGENT_EXITED);
	} else if (!strcmp(argv0, "pty")) {
		char msg[32];
		put_output(&b, id, AGENT_STDOUT, "ready", 5);
		FK_CHECK(fk, fk_send(fk, &b));
		FK_CHECK(fk, fk_expect(fk, id, AGENT_EXEC_RESIZE, &f));
		FK_CHECK(fk, fk_u32(&f, ATAG_PTY_ROWS, &fk->resize_rows));
		FK_CHECK(fk, fk_u32(&f, ATAG_PTY_COLS, &fk->resize_cols));
		int n = snprintf(msg, sizeof(msg), "resized %ux%u", fk->resize_rows,
				 fk->resize_cols);
		put_output(&b, id, AGENT_STDOUT, msg, (size_t)n);
		FK_CHECK(fk, fk_send(fk, &b));
		FK_CHECK(fk, fk_expect(fk, id, AGENT_EXEC_SIGNAL, &f));
		FK_CHECK(fk, fk_u32(&f, ATAG_SIGNAL, &fk->signal));
		put_exit(&b, id, -1, fk->signal, AGENT_SIGNALED);
	} else {
		static const char line[] = "y\n";
		FK_CHECK(fk, fk_send(fk, &b));
		for (unsigned i = 0; i < 100000; i++) {
			struct pollfd pf = { .fd = fk->fd, .events = POLLIN };
			if (poll(&pf, 1, 0) == 1) {
				FK_CHECK(fk, fk_expect(fk, id, AGENT_EXEC_SIGNAL, &f));
				FK_CHECK(fk, fk_u32(&f, ATAG_SIGNAL, &fk->signal));
				break;
			}
			put_output(&b, id, AGENT_STDOUT, line, 2);
			FK_CHECK(fk, fk_send(fk, &b));
		}
		put_exit(&b, id, -1, fk->signal, AGENT_SIGNALED);
	}
	bool ok = fk_send(fk, &b);
	agent_buf_free(&b);
	return ok;
}

#define FILE_DATA_LEN 250
#define FAKE_READ_MAX 100 /* so that reading FILE_DATA_LEN bytes takes 3 answers */

static uint8_t file_byte(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static bool fk_file_read(struct fake *fk, const struct agent_frame *req, struct agent_buf *b)
{
	uint64_t off, len;
	char path[64];
	FK_CHECK(fk, fk_str(req, ATAG_PATH, path, sizeof(path)));
	FK_CHECK(fk, fk_u64(req, ATAG_OFFSET, &off) && fk_u64(req, ATAG_LENGTH, &len));
	if (strcmp(path, "/data"))
		return fk_error(fk, req->id, ENOENT, "no such file");
	FK_CHECK(fk, off <= FILE_DATA_LEN && len > 0 && len <= AGENT_PAYLOAD_MAX - 64);
	uint8_t chunk[FAKE_READ_MAX];
	size_t n = FILE_DATA_LEN - off < FAKE_READ_MAX ? FILE_DATA_LEN - off : FAKE_READ_MAX;
	for (size_t i = 0; i < n; i++)
		chunk[i] = file_byte(off + i);
	fk->reads++;
	size_t at = agent_frame_begin(b, AGENT_OK, off + n == FILE_DATA_LEN ? AGENT_F_EOF : 0,
				      req->id);
	agent_put_bytes(b, ATAG_DATA, chunk, n);
	agent_put_u64(b, ATAG_SIZE, FILE_DATA_LEN);
	agent_frame_end(b, at);
	return fk_send(fk, b);
}

static bool fk_file_write(struct fake *fk, const struct agent_frame *req, struct agent_buf *b)
{
	struct agent_field data;
	char path[64];
	uint32_t mode;
	FK_CHECK(fk, fk_str(req, ATAG_PATH, path, sizeof(path)));
	FK_CHECK(fk, fk_u32(req, ATAG_MODE, &mode) && mode == 0640);
	FK_CHECK(fk, agent_find(req->payload, req->len, ATAG_DATA, &data) == 1);
	fk->write_chunks++;
	if (!strcmp(path, "/ro/x")) {
		/* Refuse the first chunk, and ignore the rest under that id, as the agent does. */
		if (req->id == fk->refused_id)
			return true;
		fk->refused_id = req->id;
		return fk_error(fk, req->id, EROFS, "read-only file system");
	}
	uint8_t *p = realloc(fk->written, fk->written_len + data.len + 1);
	FK_CHECK(fk, p);
	fk->written = p;
	if (data.len)
		memcpy(p + fk->written_len, data.val, data.len);
	fk->written_len += data.len;
	if (req->flags & AGENT_F_MORE)
		return true;
	size_t at = agent_frame_begin(b, AGENT_OK, 0, req->id);
	agent_put_u64(b, ATAG_SIZE, fk->written_len);
	agent_frame_end(b, at);
	return fk_send(fk, b);
}

static void put_job(struct agent_buf *b, const char *id, uint32_t pid)
{
	size_t n = agent_nest_begin(b, ATAG_JOB);
	agent_put_str(b, ATAG_JOB_ID, id);
	agent_put_u32(b, ATAG_PID, pid);
	agent_put_str(b, ATAG_ARGV, "sleep");
	agent_put_str(b, ATAG_ARGV, "10\x1b[1m");
	agent_put_u32(b, ATAG_STATE, AGENT_JOB_EXITED);
	agent_put_i32(b, ATAG_EXIT_CODE, -2);
	agent_put_u32(b, ATAG_SIGNAL, 0);
	agent_put_u64(b, ATAG_STARTED_NS, 1000);
	agent_put_u64(b, ATAG_ENDED_NS, 2000);
	agent_nest_end(b, n);
}

static void put_dirent(struct agent_buf *b, const char *name, uint32_t type, uint64_t size)
{
	size_t n = agent_nest_begin(b, ATAG_ENTRY);
	agent_put_str(b, ATAG_NAME, name);
	agent_put_u32(b, ATAG_TYPE, type);
	agent_put_u64(b, ATAG_SIZE, size);
	agent_put_u32(b, ATAG_MODE, 0755);
	agent_nest_end(b, n);
}

/* The answers that need no state: one OK (or ERROR) per request. */
/* Drop the OK begun at `at` and answer ERROR instead. */
static bool fk_fail(struct fake *fk, struct agent_buf *b, size_t at, int32_t err, const char *msg)
{
	uint32_t id = (uint32_t)b->p[at + 8] | (uint32_t)b->p[at + 9] << 8 |
		      (uint32_t)b->p[at + 10] << 16 | (uint32_t)b->p[at + 11] << 24;
	b->len = at;
	return fk_error(fk, id, err, msg);
}

static bool fk_simple(struct fake *fk, const struct agent_frame *req, struct agent_buf *b)
{
	char path[64] = "";
	uint32_t id = req->id;
	fk_str(req, ATAG_PATH, path, sizeof(path));
	size_t at = agent_frame_begin(b, AGENT_OK, 0, id);
	switch (req->type) {
	case AGENT_PING:
		fk->pings++;
		break;
	case AGENT_INFO:
		agent_put_str(b, ATAG_KERNEL, "6.1.0-flint");
		agent_put_u64(b, ATAG_MEM_TOTAL, 512ull << 20);
		agent_put_u64(b, ATAG_MEM_FREE, 400ull << 20);
		agent_put_u64(b, ATAG_UPTIME_NS, 123456789);
		agent_put_u32(b, ATAG_NCPUS, 2);
		break;
	case AGENT_SET_TIME:
		usleep(300 * 1000); /* late: the client has given up by then */
		break;
	case AGENT_FILE_STAT:
		if (strcmp(path, "/etc/hostname"))
			return fk_fail(fk, b, at, ENOENT, "no such file\x1b[2J\n");
		agent_put_u32(b, ATAG_TYPE, AGENT_FT_FILE);
		agent_put_u64(b, ATAG_SIZE, 6);
		agent_put_u32(b, ATAG_MODE, 0100644);
		agent_put_u64(b, ATAG_MTIME_NS, 1700000000000000000ull);
		agent_put_u32(b, ATAG_UID, 1000);
		agent_put_u32(b, ATAG_GID, 1001);
		agent_put_u32(b, 500, 1); /* a tag from the future */
		break;
	case AGENT_FILE_LIST:
		put_dirent(b, "a", AGENT_FT_FILE, 10);
		put_dirent(b, strcmp(path, "/evil") ? "b" : "..", AGENT_FT_DIR, 4096);
		break;
	case AGENT_FILE_MKDIR:
		if (!strcmp(path, "/weird"))
			return fk_fail(fk, b, at, INT32_MIN, "weird");
		if (!strcmp(path, "/neg"))
			return fk_fail(fk, b, at, -5, "negative");
		break;
	case AGENT_FILE_REMOVE:
		fk_u32(req, ATAG_RECURSIVE, &fk->recursive);
		break;
	case AGENT_JOB_START:
		agent_put_str(b, ATAG_JOB_ID, "0000002a");
		agent_put_u32(b, ATAG_PID, 77);
		break;
	case AGENT_JOB_STATUS:
		put_job(b, "0000002a", 77);
		break;
	case AGENT_JOB_LOGS:
		agent_put_bytes(b, ATAG_DATA, "log line\n", 9);
		agent_put_u64(b, ATAG_OFFSET, 100);
		agent_put_u64(b, ATAG_NEXT, 109);
		agent_put_u64(b, ATAG_TOTAL, 109);
		break;
	case AGENT_JOB_KILL:
		fk->kill_signal = 9;
		fk_u32(req, ATAG_SIGNAL, &fk->kill_signal);
		break;
	case AGENT_JOB_LIST:
		put_job(b, "00000001", 1);
		put_job(b, "00000002", 2);
		break;
	default:
		return fk_fail(fk, b, at, EPROTONOSUPPORT, "unknown request");
	}
	agent_frame_end(b, at);
	return fk_send(fk, b);
}

static bool fk_serve(struct fake *fk)
{
	struct agent_buf b;
	struct agent_frame f;
	int r;
	bool ok = true;

	agent_buf_init(&b);
	if (!fk->hello_sent) {
		size_t at = agent_frame_begin(&b, AGENT_HELLO, 0, 0);
		agent_put_u32(&b, ATAG_VERSION, fk->version);
		agent_put_str(&b, ATAG_NAME, "flint-init");
		agent_put_str(&b, ATAG_KERNEL, "6.1.0\x1b]0;pwned\x07");
		agent_put_u64(&b, ATAG_MEM_TOTAL, 256ull << 20);
		agent_frame_end(&b, at);
		ok = fk_send(fk, &b);
	}
	while (ok && (r = fk_recv(fk, &f)) == 1) {
		if (f.type == AGENT_HELLO) {
			uint32_t v = 0;
			ok = fk_u32(&f, ATAG_VERSION, &v) && v == AGENT_VERSION && f.id == 0 &&
			     fk_str(&f, ATAG_NAME, fk->client_name, sizeof(fk->client_name));
			if (!ok)
				fk->bad = "bad HELLO";
		} else if (f.type == AGENT_ERROR) {
			struct agent_field fl;
			if (agent_find(f.payload, f.len, ATAG_ERRNO, &fl) == 1)
				agent_field_i32(&fl, &fk->client_errno);
		} else if (f.type == AGENT_PING && fk->garbage) {
			static const uint8_t junk[] = { 3, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
			ok = write_all(fk->fd, junk, sizeof(junk));
		} else if (f.type == AGENT_EXEC) {
			ok = fk_exec(fk, &f);
		} else if (f.type == AGENT_FILE_READ) {
			ok = fk_file_read(fk, &f, &b);
		} else if (f.type == AGENT_FILE_WRITE) {
			ok = fk_file_write(fk, &f, &b);
		} else {
			ok = fk_simple(fk, &f, &b);
		}
	}
	if (ok && r < 0)
		fk->bad = "unparsable frame from the client";
	agent_buf_free(&b);
	return ok;
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	fk_serve(fk);
	close(fk->fd);
	free(fk->frame);
	fk->frame = NULL;
	return NULL;
}

/* A fake agent on one end of a socketpair; the client (already through HELLO) on the other. */
static void fake_start_with(struct fake *fk, struct agent_client *c, uint32_t version,
			    bool garbage, int expect)
{
	int sv[2];
	memset(fk, 0, sizeof(*fk));
	fk->version = version;
	fk->garbage = garbage;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fk->fd = sv[1];
	assert_int_equal(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
	assert_int_equal(agent_client_init(c, sv[0], "test-client", 5000), expect);
}

static void fake_start(struct fake *fk, struct agent_client *c, uint32_t version, int expect)
{
	fake_start_with(fk, c, version, false, expect);
}

static void fake_stop(struct fake *fk, struct agent_client *c)
{
	agent_client_destroy(c); /* the fake sees EOF and ends */
	assert_int_equal(pthread_join(fk->thread, NULL), 0);
	if (fk->bad)
		fail_msg("fake agent: line %d: %s", fk->bad_line, fk->bad);
	free(fk->written);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_handshake_and_ping(void **state)
{
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(c.peer_version, AGENT_VERSION);
	assert_string_equal(c.peer_name, "flint-init");
	assert_string_equal(c.peer_kernel, "6.1.0?]0;pwned?"); /* no escape reaches a terminal */
	assert_true(c.peer_mem_total == 256ull << 20);
	for (int i = 0; i < 3; i++)
		assert_int_equal(agent_client_ping(&c), 0);
	assert_string_equal(agent_client_last_error(&c), "");
	fake_stop(&fk, &c);
	assert_string_equal(fk.client_name, "test-client");
	assert_int_equal(fk.pings, 3);
}

static void test_version_mismatch(void **state)
{
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, 2, -EPROTO);
	/* init closed the connection; the fake got the ERROR EPROTO first. */
	assert_int_equal(pthread_join(fk.thread, NULL), 0);
	assert_null(fk.bad);
	assert_int_equal(fk.client_errno, EPROTO);
	assert_int_equal(agent_client_ping(&c), -ENOTCONN);
}

static void test_info_and_set_time_timeout(void **state)
{
	struct fake fk;
	struct agent_client c;
	struct agent_info info;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_info(&c, &info), 0);
	assert_string_equal(info.kernel, "6.1.0-flint");
	assert_true(info.mem_total == 512ull << 20 && info.mem_free == 400ull << 20);
	assert_true(info.uptime_ns == 123456789);
	assert_int_equal(info.ncpus, 2);
	/* A late answer times out, and is dropped when it comes: the connection stays usable. */
	c.timeout_ms = 100;
	assert_int_equal(agent_client_set_time(&c, 1), -ETIMEDOUT);
	c.timeout_ms = 5000;
	assert_int_equal(agent_client_ping(&c), 0);
	assert_int_equal(agent_client_shutdown(&c), -EPROTONOSUPPORT); /* the fake has none */
	assert_string_equal(agent_client_last_error(&c), "unknown request");
	assert_int_equal(agent_client_ping(&c), 0);
	fake_stop(&fk, &c);
}

static int collect(void *ctx, enum agent_stream s, const uint8_t *p, size_t n)
{
	char *out = ctx;
	size_t len = strlen(out);
	assert_true(len + n + 3 < 256);
	out[len++] = s == AGENT_STDOUT ? 'O' : 'E';
	out[len++] = ':';
	memcpy(out + len, p, n);
	out[len + n] = '\0';
	return 0;
}

static void test_exec_streamed(void **state)
{
	static const char *const argv[] = { "echo", "a", "b", NULL };
	static const char *const env[] = { "A=1", "B=2", NULL };
	struct agent_exec_req req = { .argv = argv, .env = env, .cwd = "/tmp", .user = "sandbox",
				      .timeout_ms = 5000 };
	char out[256] = "";
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1,
				    .output = collect, .ctx = out };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	assert_string_equal(out, "O:hello\nE:warn\nO:world\n");
	assert_int_equal(res.pid, 4242);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(res.signal, 0);
	assert_int_equal(res.reason, AGENT_EXITED);
	assert_int_equal(agent_client_ping(&c), 0);
	fake_stop(&fk, &c);
	assert_int_equal(fk.exec_argc, 3);
	assert_int_equal(fk.exec_envc, 2);
	assert_string_equal(fk.exec_cwd, "/tmp");
	assert_string_equal(fk.exec_user, "sandbox");
	assert_int_equal(fk.exec_stdin, 0);
	assert_int_equal(fk.exec_rows, 0);
	assert_true(fk.exec_timeout == 5000);
}

static void test_exec_to_fds(void **state)
{
	static const char *const argv[] = { "echo", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	char buf[64];
	(void)state;
	int o = memfd_create("out", MFD_CLOEXEC), e = memfd_create("err", MFD_CLOEXEC);
	assert_true(o >= 0 && e >= 0);
	struct agent_exec_io io = { .stdout_fd = o, .stderr_fd = e, .stdin_fd = -1 };
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	assert_int_equal(res.exit_code, 3);
	assert_int_equal(pread(o, buf, sizeof(buf), 0), 12);
	assert_memory_equal(buf, "hello\nworld\n", 12);
	assert_int_equal(pread(e, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "warn\n", 5);
	/* Sinks of -1 discard. */
	io.stdout_fd = io.stderr_fd = -1;
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	fake_stop(&fk, &c);
	close(o);
	close(e);
}

static void test_exec_stdin_big(void **state)
{
	static const char *const argv[] = { "cat", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	const size_t len = 3u << 20; /* bigger than both socket buffers and a whole frame */
	(void)state;
	uint8_t *data = malloc(len), *back = malloc(len);
	assert_true(data && back);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ i >> 11);
	int in = memfd_create("in", MFD_CLOEXEC), out = memfd_create("out", MFD_CLOEXEC);
	assert_true(in >= 0 && out >= 0);
	assert_int_equal(write(in, data, len), (ssize_t)len);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	struct agent_exec_io io = { .stdout_fd = out, .stderr_fd = -1, .stdin_fd = in };
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(pread(out, back, len, 0), (ssize_t)len);
	assert_memory_equal(back, data, len);
	/* Bounded memory: stdin was read only while little waited to be sent. */
	assert_true(c.out.cap <= 256u * 1024);
	assert_true(c.rx_cap <= AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX + 64u * 1024);
	fake_stop(&fk, &c);
	assert_int_equal(fk.exec_stdin, 1);
	close(in);
	close(out);
	free(data);
	free(back);
}

static void test_exec_stdin_empty_pipe(void **state)
{
	static const char *const argv[] = { "cat", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	int p[2];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]); /* EOF at once: one EXEC_STDIN with AGENT_F_EOF and no data */
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = p[0] };
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	assert_int_equal(res.exit_code, 0);
	fake_stop(&fk, &c);
	close(p[0]);
}

static struct agent_client *pty_client;

/* Plays the SIGWINCH and SIGINT handlers: called from inside agent_client_exec. */
static int pty_output(void *ctx, enum agent_stream s, const uint8_t *p, size_t n)
{
	char *out = ctx;
	(void)s;
	strncat(out, (const char *)p, n);
	if (n == 5 && !memcmp(p, "ready", 5))
		agent_client_exec_resize(pty_client, 50, 132);
	else
		agent_client_exec_signal(pty_client, SIGINT);
	return 0;
}

static void test_exec_pty_resize_and_signal(void **state)
{
	static const char *const argv[] = { "pty", NULL };
	struct agent_exec_req req = { .argv = argv, .pty_rows = 24, .pty_cols = 80 };
	char out[64] = "";
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1,
				    .output = pty_output, .ctx = out };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	pty_client = &c;
	/* Sizes that cannot be sent are ignored. */
	agent_client_exec_resize(&c, 0, 80);
	agent_client_exec_resize(&c, 70000, 80);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), 0);
	assert_string_equal(out, "readyresized 50x132");
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.signal, SIGINT);
	assert_int_equal(res.reason, AGENT_SIGNALED);
	fake_stop(&fk, &c);
	assert_int_equal(fk.exec_rows, 24);
	assert_int_equal(fk.exec_cols, 80);
	assert_int_equal(fk.resize_rows, 50);
	assert_int_equal(fk.resize_cols, 132);
	assert_int_equal(fk.signal, SIGINT);
}

static void test_exec_sink_fails_sigpipe(void **state)
{
	static const char *const argv[] = { "yes", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	int p[2];
	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]); /* like `| head` having exited */
	struct agent_exec_io io = { .stdout_fd = p[1], .stderr_fd = -1, .stdin_fd = -1 };
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), -EPIPE);
	assert_int_equal(res.signal, SIGPIPE);
	assert_int_equal(res.reason, AGENT_SIGNALED);
	assert_int_equal(agent_client_ping(&c), 0);
	fake_stop(&fk, &c);
	assert_int_equal(fk.signal, SIGPIPE);
	close(p[1]);
}

static void test_exec_error_before_start(void **state)
{
	static const char *const argv[] = { "nope", NULL };
	static const char *const none[] = { NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), -ENOENT);
	assert_string_equal(agent_client_last_error(&c), "no such command");
	assert_int_equal(res.exit_code, -1);
	req.argv = none;
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), -EINVAL);
	assert_int_equal(agent_client_ping(&c), 0);
	assert_string_equal(agent_client_last_error(&c), ""); /* forgotten by the next call */
	fake_stop(&fk, &c);
}

static void test_exec_hostile_output(void **state)
{
	static const char *const argv[] = { "badstream", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	struct agent_exec_result res;
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_exec(&c, &req, &io, &res), -EPROTO);
	assert_int_equal(agent_client_ping(&c), -EPROTO); /* a lying agent is not trusted again */
	fake_stop(&fk, &c);
}

static void test_file_read_three_chunks(void **state)
{
	struct fake fk;
	struct agent_client c;
	uint8_t *data;
	size_t len;
	uint64_t size = 0;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_file_read_mem(&c, "/data", 1 << 20, &data, &len), 0);
	assert_int_equal(len, FILE_DATA_LEN);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(data[i], file_byte(i));
	free(data);
	assert_int_equal(fk.reads, 3);
	/* To an fd. */
	int fd = memfd_create("file", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(agent_client_file_read(&c, "/data", fd, &size), 0);
	assert_true(size == FILE_DATA_LEN);
	assert_int_equal(lseek(fd, 0, SEEK_END), FILE_DATA_LEN);
	close(fd);
	/* Over the caller's limit. */
	assert_int_equal(agent_client_file_read_mem(&c, "/data", 150, &data, &len), -EFBIG);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_int_equal(agent_client_file_read_mem(&c, "/missing", 10, &data, &len), -ENOENT);
	fake_stop(&fk, &c);
}

static void check_write(size_t len)
{
	struct fake fk;
	struct agent_client c;
	uint8_t *data = malloc(len + 1);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13);
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_file_write(&c, "/w", data, len, 0640), 0);
	assert_int_equal(fk.written_len, len);
	if (len)
		assert_memory_equal(fk.written, data, len);
	/* One chunk per 256 KiB, and a last one that is never full (possibly empty). */
	assert_int_equal(fk.write_chunks, len / (256u * 1024) + 1);
	fake_stop(&fk, &c);
	free(data);
}

static void test_file_write_chunks(void **state)
{
	(void)state;
	check_write(0);
	check_write(10);
	check_write(512u * 1024);
	check_write(600u * 1024 + 1);
}

static void test_file_write_fd_and_early_error(void **state)
{
	struct fake fk;
	struct agent_client c;
	const size_t len = 700u * 1024;
	uint8_t *zeros = calloc(1, len);
	(void)state;
	assert_non_null(zeros);
	int fd = memfd_create("src", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_file_write_fd(&c, "/w", fd, 0640), 0);
	assert_int_equal(fk.written_len, len);
	assert_int_equal(agent_client_file_write(&c, "/ro/x", zeros, len, 0640), -EROFS);
	assert_string_equal(agent_client_last_error(&c), "read-only file system");
	assert_int_equal(agent_client_ping(&c), 0); /* still in step */
	fake_stop(&fk, &c);
	close(fd);
	free(zeros);
}

static void test_error_answer(void **state)
{
	struct fake fk;
	struct agent_client c;
	struct agent_stat st;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_file_stat(&c, "/etc/hostname", &st), 0);
	assert_int_equal(st.type, AGENT_FT_FILE);
	assert_true(st.size == 6 && st.mtime_ns == 1700000000000000000ull);
	assert_int_equal(st.mode, 0100644);
	assert_int_equal(st.uid, 1000);
	assert_int_equal(st.gid, 1001);
	assert_int_equal(agent_client_file_stat(&c, "/nope", &st), -ENOENT);
	assert_string_equal(agent_client_last_error(&c), "no such file?[2J?");
	assert_int_equal(c.last_errno, ENOENT);
	/* Hostile errnos never pass for success or for a huge negative. */
	assert_int_equal(agent_client_file_mkdir(&c, "/weird", 0755), -EPROTO);
	assert_int_equal(agent_client_file_mkdir(&c, "/neg", 0755), -EPROTO);
	assert_int_equal(agent_client_file_mkdir(&c, "/ok", 0755), 0);
	assert_int_equal(agent_client_file_remove(&c, "/ok", true), 0);
	fake_stop(&fk, &c);
	assert_int_equal(fk.recursive, 1);
}

static int list_one(void *ctx, const struct agent_dirent *e)
{
	char *out = ctx;
	snprintf(out + strlen(out), 64 - strlen(out), "%s:%u:%llu ", e->name, e->type,
		 (unsigned long long)e->size);
	return 0;
}

static int list_stop(void *ctx, const struct agent_dirent *e)
{
	(void)ctx;
	(void)e;
	return 7;
}

static void test_file_list(void **state)
{
	struct fake fk;
	struct agent_client c;
	char out[64] = "";
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_file_list(&c, "/", list_one, out), 0);
	assert_string_equal(out, "a:1:10 b:2:4096 ");
	assert_int_equal(agent_client_file_list(&c, "/", list_stop, NULL), 7);
	/* ".." from the agent would let a recursive copy climb out: refused. */
	assert_int_equal(agent_client_file_list(&c, "/evil", list_one, out), -EPROTO);
	assert_int_equal(agent_client_ping(&c), 0);
	fake_stop(&fk, &c);
}

static int job_one(void *ctx, const struct agent_job *j)
{
	unsigned *n = ctx;
	assert_int_equal(j->pid, ++*n);
	return 0;
}

static void test_jobs(void **state)
{
	static const char *const argv[] = { "sleep", "10", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct fake fk;
	struct agent_client c;
	struct agent_job job;
	struct agent_reply r = { .mem = NULL };
	struct agent_job_logs logs;
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	unsigned n = 0;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	assert_int_equal(agent_client_job_start(&c, &req, id, &pid), 0);
	assert_string_equal(id, "0000002a");
	assert_int_equal(pid, 77);
	assert_int_equal(agent_client_job_status(&c, id, &job), 0);
	assert_string_equal(job.id, "0000002a");
	assert_string_equal(job.cmd, "sleep 10?[1m");
	assert_int_equal(job.state, AGENT_JOB_EXITED);
	assert_int_equal(job.exit_code, -2);
	assert_true(job.started_ns == 1000 && job.ended_ns == 2000);
	assert_int_equal(agent_client_job_logs(&c, id, AGENT_STDOUT, 0, 0, &r, &logs), 0);
	assert_int_equal(logs.len, 9);
	assert_memory_equal(logs.data, "log line\n", 9);
	assert_true(logs.offset == 100 && logs.next == 109 && logs.total == 109);
	agent_reply_free(&r);
	assert_int_equal(agent_client_job_kill(&c, id, 15), 0);
	assert_int_equal(fk.kill_signal, 15);
	assert_int_equal(agent_client_job_kill(&c, id, 0), 0);
	assert_int_equal(fk.kill_signal, 9); /* no SIGNAL sent: the agent's default */
	assert_int_equal(agent_client_job_list(&c, job_one, &n), 0);
	assert_int_equal(n, 2);
	fake_stop(&fk, &c);
}

static void test_generic_request(void **state)
{
	struct fake fk;
	struct agent_client c;
	struct agent_buf req;
	struct agent_reply r = { .mem = NULL };
	struct agent_field fl;
	uint32_t ncpus;
	(void)state;
	fake_start(&fk, &c, AGENT_VERSION, 0);
	agent_buf_init(&req);
	assert_int_equal(agent_client_request(&c, &req, &r), -EINVAL); /* no frame */
	size_t at = agent_frame_begin(&req, AGENT_INFO, 0, 0);
	assert_int_equal(agent_frame_end(&req, at), 0);
	for (int i = 0; i < 2; i++) { /* the reply is reusable */
		assert_int_equal(agent_client_request(&c, &req, &r), 0);
		assert_int_equal(r.f.type, AGENT_OK);
		assert_int_equal(agent_find(r.f.payload, r.f.len, ATAG_NCPUS, &fl), 1);
		assert_int_equal(agent_field_u32(&fl, &ncpus), 0);
		assert_int_equal(ncpus, 2);
	}
	at = agent_frame_begin(&req, AGENT_PING, 0, 0); /* two frames: refused */
	assert_int_equal(agent_frame_end(&req, at), 0);
	assert_int_equal(agent_client_request(&c, &req, &r), -EINVAL);
	agent_buf_free(&req);
	agent_reply_free(&r);
	fake_stop(&fk, &c);
}

static void test_garbage_breaks_connection(void **state)
{
	struct fake fk;
	struct agent_client c;
	(void)state;
	fake_start_with(&fk, &c, AGENT_VERSION, true, 0);
	assert_int_equal(agent_client_ping(&c), -EPROTO);
	assert_int_equal(agent_client_ping(&c), -EPROTO); /* broken for good */
	fake_stop(&fk, &c);
}

/* ---- connecting ------------------------------------------------------------------------------ */

enum vmm_mode { VMM_OK, VMM_HANGUP, VMM_SILENT, VMM_GARBAGE };

struct fake_vmm {
	int lfd;
	enum vmm_mode mode;
	char line[64];
	struct fake agent;
};

static void *vmm_main(void *arg)
{
	struct fake_vmm *v = arg;
	size_t n = 0;
	int fd = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	while (n < sizeof(v->line) - 1 && read(fd, v->line + n, 1) == 1 && v->line[n++] != '\n')
		;
	if (v->mode == VMM_OK) {
		/* The OK line and the agent's HELLO in one write: the client must not eat it. */
		struct agent_buf b;
		agent_buf_init(&b);
		size_t at = agent_frame_begin(&b, AGENT_HELLO, 0, 0);
		agent_put_u32(&b, ATAG_VERSION, AGENT_VERSION);
		agent_put_str(&b, ATAG_NAME, "via-vmm");
		agent_frame_end(&b, at);
		char *msg = malloc(32 + b.len);
		int k = sprintf(msg, "OK 1073741824\n");
		memcpy(msg + k, b.p, b.len);
		write_all(fd, msg, (size_t)k + b.len);
		free(msg);
		agent_buf_free(&b);
		v->agent.fd = fd;
		v->agent.hello_sent = true;
		fake_main(&v->agent);
		return NULL;
	}
	if (v->mode == VMM_SILENT)
		usleep(500 * 1000);
	if (v->mode == VMM_GARBAGE)
		write_all(fd, "NOPE\n", 5);
	close(fd);
	return NULL;
}

static int vmm_try(enum vmm_mode mode, int timeout_ms, struct fake_vmm *v, pthread_t *t,
		   char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memset(v, 0, sizeof(*v));
	v->mode = mode;
	snprintf(path, 64, "/tmp/flint-test-vsock-%d", (int)getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	v->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(v->lfd >= 0);
	assert_int_equal(bind(v->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(v->lfd, 4), 0);
	assert_int_equal(pthread_create(t, NULL, vmm_main, v), 0);
	return agent_client_connect_vmm(path, AGENT_VSOCK_PORT, timeout_ms);
}

static void vmm_done(struct fake_vmm *v, pthread_t t, const char *path)
{
	assert_int_equal(pthread_join(t, NULL), 0);
	close(v->lfd);
	unlink(path);
}

static void test_connect_vmm(void **state)
{
	struct fake_vmm v;
	struct agent_client c;
	pthread_t t;
	char path[64];
	(void)state;
	int fd = vmm_try(VMM_OK, 2000, &v, &t, path);
	assert_true(fd >= 0);
	assert_int_equal(agent_client_init(&c, fd, "t", 2000), 0);
	assert_string_equal(c.peer_name, "via-vmm");
	assert_int_equal(agent_client_ping(&c), 0);
	agent_client_destroy(&c);
	vmm_done(&v, t, path);
	assert_string_equal(v.line, "CONNECT 1024\n");
	assert_null(v.agent.bad);
	assert_int_equal(v.agent.pings, 1);

	assert_int_equal(vmm_try(VMM_HANGUP, 2000, &v, &t, path), -ECONNREFUSED);
	vmm_done(&v, t, path);
	assert_int_equal(vmm_try(VMM_GARBAGE, 2000, &v, &t, path), -EPROTO);
	vmm_done(&v, t, path);
	int64_t t0 = (int64_t)time(NULL);
	assert_int_equal(vmm_try(VMM_SILENT, 100, &v, &t, path), -ETIMEDOUT);
	assert_true((int64_t)time(NULL) - t0 < 2);
	vmm_done(&v, t, path);
	assert_int_equal(agent_client_connect_vmm(path, 1024, 100), -ENOENT);
}

static void *unix_agent(void *arg)
{
	struct fake_vmm *v = arg;
	int fd = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	v->agent.fd = fd;
	v->agent.version = AGENT_VERSION;
	return fake_main(&v->agent);
}

static void test_connect_unix(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake_vmm v;
	struct agent_client c;
	pthread_t t;
	char path[64];
	(void)state;
	memset(&v, 0, sizeof(v));
	snprintf(path, sizeof(path), "/tmp/flint-test-agent-%d", (int)getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	v.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(v.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(v.lfd, 4), 0);
	assert_int_equal(pthread_create(&t, NULL, unix_agent, &v), 0);
	int fd = agent_client_connect_unix(path);
	assert_true(fd >= 0);
	assert_int_equal(agent_client_init(&c, fd, "t", 2000), 0);
	assert_int_equal(agent_client_ping(&c), 0);
	agent_client_destroy(&c);
	vmm_done(&v, t, path);
	assert_null(v.agent.bad);
	char long_path[200];
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(agent_client_connect_unix(long_path), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_ping),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_info_and_set_time_timeout),
		cmocka_unit_test(test_exec_streamed),
		cmocka_unit_test(test_exec_to_fds),
		cmocka_unit_test(test_exec_stdin_big),
		cmocka_unit_test(test_exec_stdin_empty_pipe),
		cmocka_unit_test(test_exec_pty_resize_and_signal),
		cmocka_unit_test(test_exec_sink_fails_sigpipe),
		cmocka_unit_test(test_exec_error_before_start),
		cmocka_unit_test(test_exec_hostile_output),
		cmocka_unit_test(test_file_read_three_chunks),
		cmocka_unit_test(test_file_write_chunks),
		cmocka_unit_test(test_file_write_fd_and_early_error),
		cmocka_unit_test(test_error_answer),
		cmocka_unit_test(test_file_list),
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_generic_request),
		cmocka_unit_test(test_garbage_breaks_connection),
		cmocka_unit_test(test_connect_vmm),
		cmocka_unit_test(test_connect_unix),
	};
	signal(SIGPIPE, SIG_IGN); /* a sink that is a closed pipe must give EPIPE, as in flint */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
