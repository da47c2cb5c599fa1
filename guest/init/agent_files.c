/* FILE_READ and FILE_WRITE: chunked reads, atomic chunked writes through a temporary file. */
#include "agent_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_conn.h"
#include "agent_fsops.h"
#include "agent_req.h"

/* ".<name>.flint-XXXXXX" must stay a valid name: the target's name is cut to fit. */
#define FILES_TMP_SUFFIX ".flint-XXXXXX"
#define FILES_NAME_KEEP (NAME_MAX - 1 - (int)sizeof(FILES_TMP_SUFFIX) + 1)

_Static_assert(FILES_READ_MAX <= AGENT_SCRATCH_SIZE, "a FILE_READ chunk fits the scratch buffer");

/* A FILE_WRITE whose chunks are still coming (AGENT_F_MORE), under its request id. */
struct files_write {
	struct files_write *next;
	uint32_t id;
	int fd; /* -1: it failed and was answered; later chunks are dropped until the last */
	uint32_t mode;
	uint64_t size;
	char path[PATH_MAX], tmp[PATH_MAX];
};

void files_read(struct conn *c, const struct agent_frame *f)
{
	static char path[PATH_MAX];
	uint64_t off = 0, len = 0;
	size_t want, got = 0;
	struct stat st;
	bool eof;
	size_t at;
	int fd;

	if (req_path(c, f, path) < 0 || req_u64(c, f, ATAG_OFFSET, &off, false) < 0 ||
	    req_u64(c, f, ATAG_LENGTH, &len, false) < 0)
		return;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer, with all of PID 1. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0) {
		conn_error(c, f->id, errno, "open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		conn_error(c, f->id, EISDIR, "read %s: %s", path, strerror(EISDIR));
		return;
	}
	want = len && len < FILES_READ_MAX ? (size_t)len : FILES_READ_MAX;
	/* A known size saves the read that would find the end; /proc files report 0. */
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		want = off >= (uint64_t)st.st_size ? 0
		       : (uint64_t)st.st_size - off < want ? (size_t)((uint64_t)st.st_size - off)
							    : want;
	while (got < want) {
		ssize_t n = pread(fd, agent_scratch + got, want - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			conn_error(c, f->id, errno, "read %s: %s", path, strerror(errno));
			close(fd);
			return;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	eof = got < want || (S_ISREG(st.st_mode) && st.st_size > 0 &&
			     off + got >= (uint64_t)st.st_size);
	at = conn_begin(c, AGENT_OK, eof ? AGENT_F_EOF : 0, f->id);
	agent_put_bytes(&c->out, ATAG_DATA, agent_scratch, got);
	agent_put_u64(&c->out, ATAG_SIZE, (uint64_t)st.st_size);
	conn_end(c, at);
}

/* A new temporary file beside w->path, creating missing parents. */
static int files_open_tmp(struct files_write *w)
{
	const char *slash = strrchr(w->path, '/'), *name = slash + 1;
	int dirlen = (int)(slash - w->path) + 1, n, tries;

	if (!*name)
		return -EISDIR;
	for (tries = 0; tries < 2; tries++) {
		n = snprintf(w->tmp, sizeof(w->tmp), "%.*s.%.*s" FILES_TMP_SUFFIX, dirlen, w->path,
			     FILES_NAME_KEEP, name);
		if (n < 0 || (size_t)n >= sizeof(w->tmp))
			return -ENAMETOOLONG;
		w->fd = mkostemp(w->tmp, O_CLOEXEC);
		if (w->fd >= 0)
			return 0;
		if (errno != ENOENT || tries)
			return -errno;
		/* Only now: most writes go to a directory that exists. */
		w->tmp[dirlen > 1 ? dirlen - 1 : dirlen] = '\0';
		n = fsops_mkdir_p(w->tmp, 0755);
		if (n < 0)
			return n;
	}
	return -ENOENT;
}

static void files_abandon(struct files_write *w)
{
	if (w->fd < 0)
		return;
	close(w->fd);
	unlink(w->tmp);
	w->fd = -1;
}

/* fsync, the mode, then rename over the target: readers see the old file or the new one. */
static int files_commit(struct files_write *w)
{
	int fd = w->fd;

	w->fd = -1;
	if (fchmod(fd, w->mode) != 0 || fsync(fd) != 0) {
		int err = errno;

		close(fd);
		unlink(w->tmp);
		return -err;
	}
	close(fd);
	if (rename(w->tmp, w->path) != 0) {
		int err = errno;

		unlink(w->tmp);
		return -err;
	}
	return 0;
}

static int files_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The first chunk: a new entry in c->writes, even when it failed (fd -1, answered) if more
 * chunks follow, so that they are dropped rather than taken for a new write. NULL: answered.
 */
static struct files_write *files_begin(struct conn *c, const struct agent_frame *f)
{
	struct files_write *w, *x;
	uint32_t mode = 0644;
	unsigned n = 0;
	int r;

	for (x = c->writes; x; x = x->next)
		n++;
	if (n >= FILES_WRITES_MAX) {
		conn_error(c, f->id, EAGAIN, "FILE_WRITE: %u writes are in progress already",
			   FILES_WRITES_MAX);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		conn_error(c, f->id, ENOMEM, "FILE_WRITE: out of memory");
		return NULL;
	}
	w->id = f->id;
	w->fd = -1;
	if (req_path(c, f, w->path) < 0 || req_u32(c, f, ATAG_MODE, &mode, false) < 0)
		goto failed;
	if (mode > 07777) {
		conn_error(c, f->id, EINVAL, "FILE_WRITE: MODE %o is not a file mode", mode);
		goto failed;
	}
	w->mode = mode;
	r = files_open_tmp(w);
	if (r < 0) {
		conn_error(c, f->id, -r, "write %s: %s", w->path, strerror(-r));
		goto failed;
	}
	goto keep;
failed:
	if (!(f->flags & AGENT_F_MORE)) {
		free(w);
		return NULL;
	}
keep:
	w->next = c->writes;
	c->writes = w;
	return w;
}

static void files_end(struct conn *c, struct files_write *w)
{
	struct files_write **pp;

	for (pp = &c->writes; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	files_abandon(w);
	free(w);
}

void files_write(struct conn *c, const struct agent_frame *f)
{
	struct agent_field data = { .len = 0 };
	struct files_write *w;
	size_t at;
	int r;

	for (w = c->writes; w && w->id != f->id; w = w->next)
		;
	if (!w && !(w = files_begin(c, f)))
		return;
	if (w->fd >= 0) {
		/* DATA is optional: an empty chunk (or file) is fine. */
		req_bytes(c, f, ATAG_DATA, &data, false);
		r = files_write_all(w->fd, data.val, data.len);
		if (r < 0) {
			conn_error(c, f->id, -r, "write %s: %s", w->path, strerror(-r));
			files_abandon(w);
		} else {
			w->size += data.len;
		}
	}
	if (f->flags & AGENT_F_MORE)
		return;
	if (w->fd >= 0) {
		r = files_commit(w);
		if (r < 0) {
			conn_error(c, f->id, -r, "write %s: %s", w->path, strerror(-r));
		} else {
			at = conn_begin(c, AGENT_OK, 0, f->id);
			agent_put_u64(&c->out, ATAG_SIZE, w->size);
			conn_end(c, at);
		}
	}
	files_end(c, w);
}

void files_conn_closed(struct conn *c)
{
	while (c->writes)
		files_end(c, c->writes);
}
