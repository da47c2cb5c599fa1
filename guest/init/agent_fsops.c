/* FILE_STAT, FILE_LIST, FILE_MKDIR and FILE_REMOVE. */
#include "agent_fsops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent_conn.h"
#include "agent_req.h"

#define FSOPS_DENTS (32u * 1024) /* getdents64 buffer: a few hundred names per syscall */
#define FSOPS_UMASK 022          /* the agent's (agent_start sets it): mkdir strips these bits */

static char fsops_path[PATH_MAX];

struct fsops_dirent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static uint32_t fsops_type(mode_t m)
{
	return S_ISREG(m) ? AGENT_FT_FILE : S_ISDIR(m) ? AGENT_FT_DIR
	       : S_ISLNK(m) ? AGENT_FT_SYMLINK : AGENT_FT_OTHER;
}

void fsops_stat(struct conn *c, const struct agent_frame *f)
{
	struct stat st;
	size_t at;

	if (req_path(c, f, fsops_path) < 0)
		return;
	if (lstat(fsops_path, &st) != 0) {
		conn_error(c, f->id, errno, "stat %s: %s", fsops_path, strerror(errno));
		return;
	}
	at = conn_begin(c, AGENT_OK, 0, f->id);
	agent_put_u32(&c->out, ATAG_TYPE, fsops_type(st.st_mode));
	agent_put_u64(&c->out, ATAG_SIZE, (uint64_t)st.st_size);
	agent_put_u32(&c->out, ATAG_MODE, st.st_mode & 07777);
	agent_put_u64(&c->out, ATAG_MTIME_NS, (uint64_t)st.st_mtim.tv_sec * 1000000000u +
						    (uint64_t)st.st_mtim.tv_nsec);
	agent_put_u32(&c->out, ATAG_UID, st.st_uid);
	agent_put_u32(&c->out, ATAG_GID, st.st_gid);
	conn_end(c, at);
}

struct fsops_entry {
	size_t name; /* offset in the names buffer */
	uint32_t type, mode;
	uint64_t size;
};

static const char *fsops_names;

static int fsops_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned bytes: any name, UTF-8 or not, has one place. */
	return strcmp(fsops_names + ((const struct fsops_entry *)a)->name,
		      fsops_names + ((const struct fsops_entry *)b)->name);
}

/* Entries (lstat'ed) and their names, grown as needed; -errno. */
static int fsops_collect(int dfd, struct fsops_entry **ents, size_t *n, char **names)
{
	size_t cap = 0, ncap = 0, nlen = 0;
	long got;

	while ((got = syscall(SYS_getdents64, dfd, agent_scratch, FSOPS_DENTS)) > 0) {
		long off;

		for (off = 0; off < got;) {
			struct fsops_dirent64 *d = (void *)(agent_scratch + off);
			size_t len = strlen(d->name);
			struct stat st;

			off += d->reclen;
			if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
				continue;
			if (fstatat(dfd, d->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue; /* removed meanwhile */
			if (*n == cap) {
				void *p = realloc(*ents, (cap = cap ? cap * 2 : 64) * sizeof(**ents));

				if (!p)
					return -ENOMEM;
				*ents = p;
			}
			if (nlen + len + 1 > ncap) {
				char *p;

				ncap = (nlen + len + 1) * 2;
				p = realloc(*names, ncap);
				if (!p)
					return -ENOMEM;
				*names = p;
			}
			memcpy(*names + nlen, d->name, len + 1);
			(*ents)[*n] = (struct fsops_entry){ .name = nlen, .type = fsops_type(st.st_mode),
							    .mode = st.st_mode & 07777,
							    .size = (uint64_t)st.st_size };
			(*n)++;
			nlen += len + 1;
		}
	}
	return got < 0 ? -errno : 0;
}

void fsops_list(struct conn *c, const struct agent_frame *f)
{
	struct fsops_entry *ents = NULL;
	char *names = NULL;
	size_t n = 0, i, at;
	int dfd, r;

	if (req_path(c, f, fsops_path) < 0)
		return;
	dfd = open(fsops_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd < 0 ? -errno : fsops_collect(dfd, &ents, &n, &names);
	if (dfd >= 0)
		close(dfd);
	if (r < 0) {
		conn_error(c, f->id, -r, "list %s: %s", fsops_path, strerror(-r));
		goto out;
	}
	fsops_names = names;
	if (n)
		qsort(ents, n, sizeof(*ents), fsops_cmp);
	at = conn_begin(c, AGENT_OK, 0, f->id);
	for (i = 0; i < n; i++) {
		size_t e = agent_nest_begin(&c->out, ATAG_ENTRY);

		agent_put_str(&c->out, ATAG_NAME, names + ents[i].name);
		agent_put_u32(&c->out, ATAG_TYPE, ents[i].type);
		agent_put_u64(&c->out, ATAG_SIZE, ents[i].size);
		agent_put_u32(&c->out, ATAG_MODE, ents[i].mode);
		agent_nest_end(&c->out, e);
	}
	conn_end(c, at);
out:
	free(ents);
	free(names);
}

int fsops_mkdir_p(char *path, mode_t mode)
{
	struct stat st;
	char *p;

	if (mkdir(path, mode) == 0)
		goto made;
	if (errno == EEXIST)
		return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -EEXIST;
	if (errno != ENOENT)
		return -errno;
	/* Create the missing parents from the top; existing ones cost one EEXIST each. */
	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		int r;

		*p = '\0';
		r = mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
		*p = '/';
		if (r < 0)
			return r;
	}
	if (mkdir(path, mode) != 0)
		return errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -errno;
made:
	/* mkdir applied the umask; an explicit mode is meant as given, as with mkdir -m. */
	if ((mode & FSOPS_UMASK) && chmod(path, mode) != 0)
		return -errno;
	return 0;
}

void fsops_mkdir(struct conn *c, const struct agent_frame *f)
{
	uint32_t mode = 0755;
	int r;

	if (req_path(c, f, fsops_path) < 0 || req_u32(c, f, ATAG_MODE, &mode, false) < 0)
		return;
	if (mode > 07777) {
		conn_error(c, f->id, EINVAL, "FILE_MKDIR: MODE %o is not a file mode", mode);
		return;
	}
	r = fsops_mkdir_p(fsops_path, mode);
	if (r < 0)
		conn_error(c, f->id, -r, "mkdir %s: %s", fsops_path, strerror(-r));
	else
		conn_ok(c, f->id);
}

/*
 * Remove the directory `name` in pfd and everything under it, like rm -rf but by fd: a
 * symlink is removed, never followed (O_NOFOLLOW), and other file systems mounted below are
 * not entered (their mount point then cannot go: EBUSY). 0 or -errno.
 */
static int fsops_rmtree(int pfd, const char *name, dev_t dev, int depth)
{
	char *buf = NULL;
	struct stat st;
	int fd, r = 0;
	bool removed;

	if (depth > FSOPS_REMOVE_DEPTH)
		return -ELOOP;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || (depth && st.st_dev != dev)) {
		r = depth && st.st_dev != dev ? -EBUSY : -errno;
		goto out;
	}
	/* Each level needs its own buffer: the entries are handled while the scan goes on. */
	buf = malloc(FSOPS_DENTS);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		long got = 0, off;

		removed = false;
		while (r == 0 && (got = syscall(SYS_getdents64, fd, buf, FSOPS_DENTS)) > 0) {
			for (off = 0; r == 0 && off < got;) {
				struct fsops_dirent64 *d = (void *)(buf + off);

				off += d->reclen;
				if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
					continue;
				if (unlinkat(fd, d->name, 0) == 0 || errno == ENOENT) {
					removed = true;
					continue;
				}
				/* EISDIR from Linux; EPERM is what POSIX allows for a directory. */
				if (errno != EISDIR && errno != EPERM) {
					r = -errno;
					continue;
				}
				int why = errno;

				r = fsops_rmtree(fd, d->name, st.st_dev, depth + 1);
				if (r == -ENOTDIR)
					r = -why; /* not a directory after all: the unlink's reason */
				removed = r == 0;
			}
		}
		if (r == 0 && got < 0)
			r = -errno;
		if (r < 0)
			break;
		if (unlinkat(pfd, name, AT_REMOVEDIR) == 0)
			break;
		r = -errno;
		/* Entries a scan that deleted as it went may have skipped: another pass. */
		if (r != -ENOTEMPTY || !removed || lseek(fd, 0, SEEK_SET) != 0)
			break;
		r = 0;
	}
out:
	free(buf);
	close(fd);
	return r;
}

void fsops_remove(struct conn *c, const struct agent_frame *f)
{
	uint32_t recursive = 0;
	size_t len;
	char *slash;
	int r = 0, pfd;

	if (req_path(c, f, fsops_path) < 0 || req_u32(c, f, ATAG_RECURSIVE, &recursive, false) < 0)
		return;
	len = strlen(fsops_path);
	while (len > 1 && fsops_path[len - 1] == '/')
		fsops_path[--len] = '\0';
	if (len == 1) {
		conn_error(c, f->id, EBUSY, "remove /: refused");
		return;
	}
	if (unlink(fsops_path) == 0)
		goto ok;
	if (errno != EISDIR && errno != EPERM) {
		r = -errno;
	} else if (!recursive) {
		r = rmdir(fsops_path) == 0 ? 0 : -errno;
	} else {
		slash = strrchr(fsops_path, '/');
		*slash = '\0';
		pfd = open(slash == fsops_path ? "/" : fsops_path,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
		r = pfd < 0 ? -errno : fsops_rmtree(pfd, slash + 1, 0, 0);
		if (pfd >= 0)
			close(pfd);
	}
	if (r < 0) {
		conn_error(c, f->id, -r, "remove %s: %s", fsops_path, strerror(-r));
		return;
	}
ok:
	conn_ok(c, f->id);
}
