/* Detached jobs: commands that outlive their connection, their output kept in rings. */
#include "agent_jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "agent_conn.h"
#include "agent_exec.h"
#include "agent_req.h"

#define JOBS_RING_MIN (16u * 1024)
#define JOBS_READ (128u * 1024) /* per read, as for EXEC output */
#define JOBS_ID_SIZE 9

/*
 * The byte written at offset o (counted from the job's start) is at buf[o % cap]. While the
 * ring grows it never wraps (cap >= total), so a realloc keeps every offset in place; once it
 * reached JOBS_RING_MAX (or could not grow: `fixed`) it wraps over the oldest bytes.
 */
struct ring {
	uint8_t *buf;
	size_t cap;
	uint64_t total; /* bytes ever written; [oldest, total) are kept */
	bool fixed;
};

struct job {
	char id[JOBS_ID_SIZE];
	struct exec *exec; /* NULL once it ended */
	uint32_t pid, state, signal, reason;
	int32_t exit_code;
	uint64_t started_ns, ended_ns, seq;
	char *argv; /* NUL-terminated strings, argv_len bytes in all */
	size_t argv_len;
	struct ring ring[2];
};

static struct job *jobs[JOBS_MAX];
static unsigned jobs_count;
static uint64_t jobs_seq;

static uint64_t jobs_realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t ring_oldest(const struct ring *r)
{
	return r->total > r->cap ? r->total - r->cap : 0;
}

static struct job *jobs_find(const char *id)
{
	unsigned i;

	for (i = 0; i < jobs_count; i++)
		if (!strcmp(jobs[i]->id, id))
			return jobs[i];
	return NULL;
}

/* 8 hex digits; a 64-byte pool makes one getrandom serve 16 jobs. Unique, not secret. */
static void jobs_new_id(char id[JOBS_ID_SIZE])
{
	static uint8_t pool[64];
	static size_t left;

	do {
		uint32_t v;

		if (left < 4) {
			if (getrandom(pool, sizeof(pool), GRND_INSECURE) != (ssize_t)sizeof(pool) &&
			    getrandom(pool, sizeof(pool), GRND_NONBLOCK) != (ssize_t)sizeof(pool)) {
				/* Kernels before 5.6 early in boot: anything unique will do. */
				uint64_t t = jobs_realtime_ns() ^ (jobs_seq * 0x9e3779b97f4a7c15u);

				for (size_t i = 0; i < sizeof(pool); i++)
					pool[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
			}
			left = sizeof(pool);
		}
		left -= 4;
		memcpy(&v, pool + left, 4);
		snprintf(id, JOBS_ID_SIZE, "%08x", v);
	} while (jobs_find(id));
}

static void jobs_free(struct job *j)
{
	free(j->ring[0].buf);
	free(j->ring[1].buf);
	free(j->argv);
	free(j);
}

/* Forget the job that ended first (not `keep`): false when none has ended. */
static bool jobs_forget_oldest(const struct job *keep)
{
	unsigned i, best = JOBS_MAX;

	for (i = 0; i < jobs_count; i++)
		if (!jobs[i]->exec && jobs[i] != keep &&
		    (best == JOBS_MAX || jobs[i]->seq < jobs[best]->seq))
			best = i;
	if (best == JOBS_MAX)
		return false;
	jobs_free(jobs[best]);
	memmove(&jobs[best], &jobs[best + 1], (jobs_count - best - 1) * sizeof(jobs[0]));
	jobs_count--;
	return true;
}

/* The ARGV fields, kept for JOB_STATUS up to JOBS_ARGV_MAX bytes (whole arguments only). */
static void jobs_keep_argv(struct job *j, const struct agent_frame *f)
{
	struct agent_iter it;
	struct agent_field fl;
	size_t n = 0;

	j->argv = malloc(JOBS_ARGV_MAX);
	if (!j->argv)
		return; /* shown without its command, which is no reason to fail it */
	agent_iter_init(&it, f->payload, f->len);
	while (agent_iter_next(&it, &fl) > 0) {
		if (fl.tag != ATAG_ARGV)
			continue;
		if (fl.len + 1 > JOBS_ARGV_MAX - n)
			break;
		memcpy(j->argv + n, fl.val, fl.len);
		j->argv[n + fl.len] = '\0';
		n += fl.len + 1;
	}
	j->argv_len = n;
}

void jobs_start(struct conn *c, const struct agent_frame *f)
{
	struct exec *e;
	struct job *j;
	size_t at;

	if (jobs_count == JOBS_MAX && !jobs_forget_oldest(NULL)) {
		conn_error(c, f->id, EAGAIN, "JOB_START: %u jobs are running already", JOBS_MAX);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		conn_error(c, f->id, ENOMEM, "JOB_START: out of memory");
		return;
	}
	j->started_ns = jobs_realtime_ns();
	e = exec_launch(c, f, j);
	if (!e) {
		free(j);
		return;
	}
	jobs_new_id(j->id);
	jobs_keep_argv(j, f);
	j->exec = e;
	j->pid = (uint32_t)e->pid;
	j->state = AGENT_JOB_RUNNING;
	j->exit_code = -1;
	j->seq = ++jobs_seq;
	jobs[jobs_count++] = j;
	at = conn_begin(c, AGENT_OK, 0, f->id);
	agent_put_str(&c->out, ATAG_JOB_ID, j->id);
	agent_put_u32(&c->out, ATAG_PID, j->pid);
	conn_end(c, at);
}

static struct job *jobs_lookup(struct conn *c, const struct agent_frame *f)
{
	char id[64];
	struct job *j;

	if (req_str(c, f, ATAG_JOB_ID, id, sizeof(id), true) < 0)
		return NULL;
	j = jobs_find(id);
	if (!j)
		conn_error(c, f->id, ENOENT, "%s: no job %s", agent_type_name(f->type), id);
	return j;
}

static void jobs_put(struct agent_buf *b, const struct job *j)
{
	size_t at = agent_nest_begin(b, ATAG_JOB), off, len;

	agent_put_str(b, ATAG_JOB_ID, j->id);
	agent_put_u32(b, ATAG_PID, j->pid);
	for (off = 0; off < j->argv_len; off += len + 1) {
		len = strlen(j->argv + off);
		agent_put_bytes(b, ATAG_ARGV, j->argv + off, len);
	}
	agent_put_u32(b, ATAG_STATE, j->state);
	agent_put_i32(b, ATAG_EXIT_CODE, j->exit_code);
	agent_put_u32(b, ATAG_SIGNAL, j->signal);
	agent_put_u32(b, ATAG_REASON, j->reason); /* beyond the table: why it ended, as in EXIT */
	agent_put_u64(b, ATAG_STARTED_NS, j->started_ns);
	agent_put_u64(b, ATAG_ENDED_NS, j->ended_ns);
	agent_nest_end(b, at);
}

void jobs_status(struct conn *c, const struct agent_frame *f)
{
	struct job *j = jobs_lookup(c, f);
	size_t at;

	if (!j)
		return;
	at = conn_begin(c, AGENT_OK, 0, f->id);
	jobs_put(&c->out, j);
	conn_end(c, at);
}

void jobs_list(struct conn *c, const struct agent_frame *f)
{
	size_t at = conn_begin(c, AGENT_OK, 0, f->id);
	unsigned i;

	for (i = 0; i < jobs_count; i++)
		jobs_put(&c->out, jobs[i]);
	conn_end(c, at);
}

void jobs_kill(struct conn *c, const struct agent_frame *f)
{
	struct job *j = jobs_lookup(c, f);
	uint32_t sig = SIGKILL;

	if (!j || req_u32(c, f, ATAG_SIGNAL, &sig, false) < 0)
		return;
	if (sig == 0 || sig >= _NSIG) {
		conn_error(c, f->id, EINVAL, "JOB_KILL: no signal %u", sig);
		return;
	}
	/* An ended job has nothing left to signal (and its pid may be someone else's now). */
	if (j->exec && exec_kill(j->exec, (int)sig) != 0 && errno != ESRCH) {
		conn_error(c, f->id, errno, "JOB_KILL %s: %s", j->id, strerror(errno));
		return;
	}
	conn_ok(c, f->id);
}

void jobs_logs(struct conn *c, const struct agent_frame *f)
{
	struct job *j = jobs_lookup(c, f);
	uint64_t off = 0, len = 0, start, n;
	uint32_t stream;
	const struct ring *r;
	size_t at, pos, first;

	if (!j || req_u32(c, f, ATAG_STREAM, &stream, true) < 0 ||
	    req_u64(c, f, ATAG_OFFSET, &off, false) < 0 || req_u64(c, f, ATAG_LENGTH, &len, false) < 0)
		return;
	if (stream != AGENT_STDOUT && stream != AGENT_STDERR) {
		conn_error(c, f->id, EINVAL, "JOB_LOGS: STREAM must be 1 or 2, not %u", stream);
		return;
	}
	r = &j->ring[stream - 1];
	/* Bytes the ring dropped are skipped; asking past the end gets nothing, at the end. */
	start = off < ring_oldest(r) ? ring_oldest(r) : off > r->total ? r->total : off;
	n = r->total - start;
	if (len && n > len)
		n = len;
	if (n > AGENT_PAYLOAD_MAX - 64)
		n = AGENT_PAYLOAD_MAX - 64;
	if (n) {
		pos = (size_t)(start % r->cap);
		first = r->cap - pos < n ? r->cap - pos : (size_t)n;
		memcpy(agent_scratch, r->buf + pos, first);
		memcpy(agent_scratch + first, r->buf, (size_t)n - first);
	}
	/* EOF: the job has ended and this is the last of it (beyond the table, for followers). */
	at = conn_begin(c, AGENT_OK, !j->exec && start + n == r->total ? AGENT_F_EOF : 0, f->id);
	agent_put_bytes(&c->out, ATAG_DATA, agent_scratch, (size_t)n);
	agent_put_u64(&c->out, ATAG_OFFSET, start);
	agent_put_u64(&c->out, ATAG_NEXT, start + n);
	agent_put_u64(&c->out, ATAG_TOTAL, r->total);
	conn_end(c, at);
}

static void ring_grow(struct ring *r)
{
	size_t cap = r->cap ? r->cap * 2 : JOBS_RING_MIN;
	uint8_t *p;

	if (cap > JOBS_RING_MAX)
		cap = JOBS_RING_MAX;
	p = realloc(r->buf, cap);
	if (!p) {
		r->fixed = true; /* wrap at the size it has: offsets stay valid */
		return;
	}
	r->buf = p;
	r->cap = cap;
}

ssize_t jobs_fill(struct job *j, int stream, int fd, size_t *want)
{
	struct ring *r = &j->ring[stream];
	struct iovec iov[2];
	size_t pos, n0;
	ssize_t n;
	int cnt = 1;

	if (!r->fixed && r->cap < JOBS_RING_MAX && r->total >= r->cap)
		ring_grow(r);
	if (!r->cap) {
		/* Not even the first bytes found memory: count them, keep none. */
		*want = JOBS_READ;
		n = read(fd, agent_scratch, JOBS_READ);
		if (n > 0)
			r->total += (uint64_t)n;
		return n;
	}
	pos = (size_t)(r->total % r->cap);
	n0 = r->cap - pos < JOBS_READ ? r->cap - pos : JOBS_READ;
	iov[0] = (struct iovec){ r->buf + pos, n0 };
	/* Wrapping over the oldest bytes only once the ring has its final size. */
	if ((r->fixed || r->cap == JOBS_RING_MAX) && n0 < JOBS_READ) {
		iov[1] = (struct iovec){ r->buf, JOBS_READ - n0 < pos ? JOBS_READ - n0 : pos };
		cnt = iov[1].iov_len ? 2 : 1;
	}
	*want = n0 + (cnt == 2 ? iov[1].iov_len : 0);
	n = readv(fd, iov, cnt);
	if (n > 0)
		r->total += (uint64_t)n;
	return n;
}

/* A ring that never wrapped shrinks to what it holds: ended jobs keep only their bytes. */
static void ring_shrink(struct ring *r)
{
	uint8_t *p;

	if (r->total >= r->cap)
		return;
	if (!r->total) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	} else if ((p = realloc(r->buf, (size_t)r->total))) {
		r->buf = p;
		r->cap = (size_t)r->total;
	}
	r->fixed = true;
}

/* What the rings of ended jobs hold in all. */
static size_t jobs_ended_mem(void)
{
	size_t mem = 0;
	unsigned i;

	for (i = 0; i < jobs_count; i++)
		if (!jobs[i]->exec)
			mem += jobs[i]->ring[0].cap + jobs[i]->ring[1].cap;
	return mem;
}

void jobs_ended(struct job *j, int32_t code, uint32_t sig, uint32_t reason)
{
	j->exec = NULL;
	j->state = sig ? AGENT_JOB_KILLED : AGENT_JOB_EXITED;
	j->exit_code = code;
	j->signal = sig;
	j->reason = reason;
	j->ended_ns = jobs_realtime_ns();
	ring_shrink(&j->ring[0]);
	ring_shrink(&j->ring[1]);
	/* The newest logs are the likeliest to be asked for: older ended jobs go first. */
	while (jobs_ended_mem() > JOBS_MEM_MAX && jobs_forget_oldest(j))
		;
}
