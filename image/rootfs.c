/* Building an image's read-only root filesystem from its layers, and its run settings. */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "layer.h"
#include "oci.h"

extern char **environ;

#define ROOTFS_MAX_BYTES_DEFAULT (32ull << 30) /* uncompressed: past this a layer is a bomb */
#define ROOTFS_MAX_ENTRIES	 (4u << 20)
#define ROOTFS_PASSWD_MAX	 (1u << 20)

static void rootfs_say(catalog_progress_fn fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rootfs_say(catalog_progress_fn fn, void *ctx, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(ctx, line);
}

int rootfs_paths(const struct store *s, const char *digest, char *ext4, size_t ext4_cap, char *json,
		 size_t json_cap)
{
	if (!digest_valid(digest))
		return -EINVAL;
	int a = snprintf(ext4, ext4_cap, "%s/rootfs/%s.ext4", s->dir, digest_hex(digest));
	int b = snprintf(json, json_cap, "%s/rootfs/%s.json", s->dir, digest_hex(digest));
	return a < 0 || b < 0 || (size_t)a >= ext4_cap || (size_t)b >= json_cap ? -ENAMETOOLONG : 0;
}

/* --- users: the staged /etc/passwd and /etc/group, read inside the tree --- */

static char *rootfs_read_in_root(int rootfd, const char *path, size_t max)
{
	/*
	 * O_PATH first: a hostile image's /etc/passwd may be a FIFO (an open would block) or a
	 * device node (made for real when converting as root: its driver's open must never run).
	 * Only a regular file is then opened for reading, through its O_PATH descriptor.
	 */
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int pfd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (pfd < 0)
		return NULL;
	struct stat st;
	char proc[64], *buf = NULL;
	if (fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(pfd);
		return NULL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	close(pfd);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max) {
		size_t n = (size_t)st.st_size, have = 0;
		buf = malloc(n + 1);
		while (buf && have < n) {
			ssize_t k = read(fd, buf + have, n - have);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			have += (size_t)k;
		}
		if (buf)
			buf[have] = '\0';
	}
	close(fd);
	return buf;
}

static bool rootfs_numeric(const char *s, unsigned *out)
{
	char *end;
	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v >= 0xffffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

/*
 * Find a line of a colon-separated database whose field `key_field` is `key`; copy fields into
 * f[] (pointers into a copy of the line in linebuf). Returns the number of fields, 0 if none.
 */
static int rootfs_db_find(const char *db, unsigned key_field, const char *key, char *linebuf,
			  size_t cap, char **f, int maxf)
{
	for (const char *p = db; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n < cap) {
			memcpy(linebuf, p, n);
			linebuf[n] = '\0';
			int nf = 0;
			char *q = linebuf;
			while (nf < maxf) {
				f[nf++] = q;
				q = strchr(q, ':');
				if (!q)
					break;
				*q++ = '\0';
			}
			if ((int)key_field < nf && !strcmp(f[key_field], key))
				return nf;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

int rootfs_resolve_user(int rootfd, const char *user, unsigned *uid, unsigned *gid, char *home,
			size_t home_cap, char *err, size_t errlen)
{
	char u[256], line[1024], *f[8];
	const char *group = NULL;
	if (strlen(user) >= sizeof(u))
		return image_err(err, errlen, -EINVAL, "the image's User is too long");
	memcpy(u, user, strlen(user) + 1);
	char *colon = strchr(u, ':');
	if (colon) {
		*colon = '\0';
		group = colon + 1;
	}
	char *passwd = rootfs_read_in_root(rootfd, "/etc/passwd", ROOTFS_PASSWD_MAX);
	int r = 0;
	bool have_gid = false;
	if (home_cap)
		home[0] = '\0';
	int nf = passwd ? rootfs_db_find(passwd, rootfs_numeric(u, uid) ? 2 : 0, u, line,
					 sizeof(line), f, 8)
			: 0;
	if (nf >= 6) {
		if (!rootfs_numeric(f[2], uid)) {
			r = image_err(err, errlen, -EINVAL,
				      "the image's /etc/passwd: bad uid for %s", u);
			goto out;
		}
		have_gid = rootfs_numeric(f[3], gid);
		snprintf(home, home_cap, "%s", f[5]);
	} else if (!rootfs_numeric(u, uid)) {
		r = image_err(err, errlen, -ENOENT,
			      "the image's User \"%s\": no such user in its /etc/passwd", user);
		goto out;
	}
	if (group && *group) {
		char *groups = rootfs_read_in_root(rootfd, "/etc/group", ROOTFS_PASSWD_MAX);
		if (rootfs_numeric(group, gid)) {
			have_gid = true;
		} else if (groups &&
			   rootfs_db_find(groups, 0, group, line, sizeof(line), f, 4) >= 3 &&
			   rootfs_numeric(f[2], gid)) {
			have_gid = true;
		} else {
			free(groups);
			r = image_err(err, errlen, -ENOENT,
				      "the image's User \"%s\": no such group in its /etc/group",
				      user);
			goto out;
		}
		free(groups);
	}
	if (!have_gid)
		*gid = 0; /* as Docker: a uid without a passwd entry (or a bad one) gets group 0 */
out:
	free(passwd);
	return r;
}

/* --- helpers: running mkfs and debugfs, removing the staging tree --- */

static int rootfs_run(const char *const argv[], const char *log, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC,
					 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return image_err(err, errlen, -r, "%s: %s (install e2fsprogs)", argv[0],
				 strerror(r));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return image_err(err, errlen, -errno, "waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	char tail[400] = "";
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, tail, sizeof(tail) - 1);
		tail[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	for (char *p = tail; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return image_err(err, errlen, -EIO, "%s failed (status %d): %s", argv[0],
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), tail);
}

static int rootfs_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0; /* best effort: what is left is garbage catalog_gc removes */
}

void rootfs_remove_tree(const char *dir)
{
	/* The staged tree is ours: nothing in it is followed (FTW_PHYS), nothing crosses mounts. */
	nftw(dir, rootfs_rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * debugfs reads its script a line at a time and has no escapes: a path with a quote, a backslash
 * or any control character (it cuts lines at \r too) cannot be given to it, so it is refused,
 * never mangled. Lines stay far below its buffer (8 KiB in e2fsprogs 1.47).
 */
struct rootfs_fixctx {
	FILE *f;
	unsigned n, bad;
};

static bool rootfs_debugfs_safe(const char *p)
{
	if (strlen(p) > 4000)
		return false;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\')
			return false;
	return true;
}

static int rootfs_fix_one(const struct layer_fixup *fx, void *arg)
{
	struct rootfs_fixctx *c = arg;
	if (!rootfs_debugfs_safe(fx->path)) {
		c->bad++;
		return 0;
	}
	const char *p = fx->path;
	if (S_ISCHR(fx->mode) || S_ISBLK(fx->mode) || S_ISFIFO(fx->mode)) {
		fprintf(c->f, "rm \"/%s\"\n", p);
		if (S_ISFIFO(fx->mode))
			fprintf(c->f, "mknod \"/%s\" p\n", p);
		else
			fprintf(c->f, "mknod \"/%s\" %c %u %u\n", p, S_ISCHR(fx->mode) ? 'c' : 'b',
				major(fx->rdev), minor(fx->rdev));
	}
	fprintf(c->f, "sif \"/%s\" uid %u\nsif \"/%s\" gid %u\nsif \"/%s\" mode 0%o\n", p,
		(unsigned)fx->uid, p, (unsigned)fx->gid, p, (unsigned)fx->mode);
	c->n++;
	return 0;
}

/*
 * debugfs exits 0 when a command fails: anything in its log but its banner ("debugfs 1.47.0 ...")
 * and its echo of each command ("debugfs: sif ...") is a failure.
 */
static int rootfs_debugfs_clean(const char *log, char *err, size_t errlen)
{
	FILE *f = fopen(log, "re");
	char line[512];
	int r = 0;
	if (!f)
		return image_err(err, errlen, -EIO, "%s: %s", log, strerror(errno));
	while (!r && fgets(line, sizeof(line), f))
		if (strncmp(line, "debugfs ", 8) != 0 && strncmp(line, "debugfs: ", 9) != 0) {
			line[strcspn(line, "\n")] = '\0';
			r = image_err(err, errlen, -EIO, "debugfs: %s", line);
		}
	fclose(f);
	return r;
}

/*
 * Directories an image may lack but a VM needs: the mount points (so that a read-only image root,
 * which cannot get them at boot, has them too) and the WorkingDir, which Docker also creates. Made
 * inside the staged tree only, never through a symlink; recorded so that an unprivileged build
 * gives them to root like the rest.
 */
#define ROOTFS_MADE_MAX 32
struct rootfs_made {
	unsigned n;
	char path[ROOTFS_MADE_MAX][256];
	mode_t mode[ROOTFS_MADE_MAX];
};

static void rootfs_mkdir_in(int rootfd, const char *path, mode_t mode, struct rootfs_made *m)
{
	char buf[256];
	if (path[0] != '/' || strlen(path) >= sizeof(buf))
		return;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		/* the parent, resolved inside the root; then the component itself, if missing */
		char *slash = strrchr(buf, '/');
		const char *name = slash + 1;
		*slash = '\0';
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
		int dfd = (int)syscall(SYS_openat2, rootfd, buf[0] ? buf : "/", &how, sizeof(how));
		*slash = '/';
		if (dfd < 0)
			return;
		bool made = *name && strcmp(name, "..") && strcmp(name, ".") &&
			    mkdirat(dfd, name, c ? 0755 : mode) == 0;
		if (made) {
			/* past the umask: /tmp is 1777 (the mode recorded below is what counts) */
			if (fchmodat(dfd, name, c ? 0755 : mode, 0) != 0)
				m->mode[m->n < ROOTFS_MADE_MAX ? m->n : 0] = 0;
			if (m->n < ROOTFS_MADE_MAX) {
				snprintf(m->path[m->n], sizeof(m->path[0]), "%s", buf + 1);
				m->mode[m->n++] = S_IFDIR | (c ? 0755 : mode);
			}
		}
		close(dfd);
		*p = c;
		if (!c)
			return;
	}
}

static void rootfs_make_dirs(int rootfd, const char *working_dir, struct rootfs_made *m)
{
	static const char *const points[] = {"/proc", "/dev", "/sys", "/run"};
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		rootfs_mkdir_in(rootfd, points[i], 0755, m);
	rootfs_mkdir_in(rootfd, "/tmp", 01777, m);
	if (working_dir && working_dir[0] == '/')
		rootfs_mkdir_in(rootfd, working_dir, 0755, m);
}

/* The directories made above, owned by root in the image like everything flint adds. */
static void rootfs_fix_made(struct rootfs_fixctx *c, const struct rootfs_made *m)
{
	for (unsigned i = 0; i < m->n; i++) {
		struct layer_fixup fx = {.path = (char *)m->path[i], .mode = m->mode[i]};
		rootfs_fix_one(&fx, c);
	}
}

/* --- the settings file: rootfs/HEX.json --- */

static json_t *rootfs_strv(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int rootfs_write_json(const char *path, json_t *j, char *err, size_t errlen)
{
	char tmp[STORE_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(j, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) != 0)
		return image_err(err, errlen, -EIO, "writing %s failed", tmp);
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return image_err(err, errlen, -e, "rename %s: %s", path, strerror(e));
	}
	return 0;
}

static int rootfs_settings(int rootfd, const struct oci_config *cfg, const struct layer_stats *st,
			   json_t **out, char *err, size_t errlen)
{
	json_t *j = json_object();
	json_t *env = rootfs_strv(cfg->env, cfg->nenv);
	bool has_home = false;
	for (size_t i = 0; i < cfg->nenv; i++)
		has_home |= !strncmp(cfg->env[i], "HOME=", 5);
	if (cfg->user && *cfg->user) {
		unsigned uid = 0, gid = 0;
		char home[512], ug[32];
		int r = rootfs_resolve_user(rootfd, cfg->user, &uid, &gid, home, sizeof(home), err,
					    errlen);
		if (r) {
			json_decref(env);
			json_decref(j);
			return r;
		}
		snprintf(ug, sizeof(ug), "%u:%u", uid, gid);
		json_object_set_new(j, "user", json_string(ug));
		json_object_set_new(j, "user_name", json_string(cfg->user));
		if (!has_home && home[0]) {
			char kv[520];
			snprintf(kv, sizeof(kv), "HOME=%s", home);
			json_array_append_new(env, json_string(kv));
		}
	}
	json_object_set_new(j, "env", env);
	if (cfg->working_dir && cfg->working_dir[0] == '/')
		json_object_set_new(j, "cwd", json_string(cfg->working_dir));
	json_object_set_new(j, "entrypoint", rootfs_strv(cfg->entrypoint, cfg->nentrypoint));
	json_object_set_new(j, "cmd", rootfs_strv(cfg->cmd, cfg->ncmd));
	json_object_set_new(j, "content_bytes", json_integer((json_int_t)st->bytes));
	json_object_set_new(j, "entries", json_integer((json_int_t)st->entries));
	json_object_set_new(j, "layers", json_integer((json_int_t)st->layers));
	json_object_set_new(j, "created", json_integer((json_int_t)time(NULL)));
	json_object_set_new(j, "format", json_integer(1));
	*out = j;
	return 0;
}

static uint64_t rootfs_max_bytes(void)
{
	const char *e = getenv("FLINT_IMAGE_MAX_SIZE"); /* MiB */
	unsigned v;
	if (e && rootfs_numeric(e, &v) && v > 0)
		return (uint64_t)v << 20;
	return ROOTFS_MAX_BYTES_DEFAULT;
}

/* The part under the lock: everything into tmp/, then the two renames. */
static int rootfs_build_locked(const struct store *s, const char *digest, const char *ext4,
			       const char *json, catalog_progress_fn progress, void *ctx, char *err,
			       size_t errlen)
{
	char *mjson = NULL, *cjson = NULL;
	size_t mlen, clen;
	struct oci_manifest *m = calloc(1, sizeof(*m));
	struct oci_config cfg = {0};
	struct layer_fixups fixups;
	struct layer_stats st = {0};
	struct rootfs_made made = {0};
	char stage[STORE_PATH_MAX], img_tmp[STORE_PATH_MAX], log[STORE_PATH_MAX],
	    script[STORE_PATH_MAX], sizearg[32], inodes[32];
	json_t *settings = NULL;
	int rootfd = -1, r;

	layer_fixups_init(&fixups);
	stage[0] = img_tmp[0] = '\0';
	if (!m) {
		r = image_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	r = store_read_blob(s, digest, STORE_SMALL_BLOB_MAX, &mjson, &mlen, err, errlen);
	if (r)
		goto out;
	r = oci_parse_manifest(mjson, mlen, m, err, errlen);
	if (r)
		goto out;
	r = store_read_blob(s, m->config.digest, STORE_SMALL_BLOB_MAX, &cjson, &clen, err, errlen);
	if (r)
		goto out;
	r = oci_parse_config(cjson, clen, &cfg, err, errlen);
	if (r)
		goto out;
	if ((cfg.os[0] && strcmp(cfg.os, "linux")) || (cfg.arch[0] && strcmp(cfg.arch, "amd64"))) {
		r = image_err(err, errlen, -ENOEXEC, "image %s is for %s/%s, not linux/amd64",
			      digest, cfg.os, cfg.arch);
		goto out;
	}
	if (cfg.nlayers_diff && cfg.nlayers_diff != m->nlayers) {
		r = image_err(err, errlen, -EBADMSG,
			      "image %s: its config lists %zu layers, its manifest %zu", digest,
			      cfg.nlayers_diff, m->nlayers);
		goto out;
	}

	snprintf(stage, sizeof(stage), "%s/tmp/stage.XXXXXX", s->dir);
	if (!mkdtemp(stage)) {
		r = image_err(err, errlen, -errno, "staging directory: %s", strerror(errno));
		stage[0] = '\0';
		goto out;
	}
	rootfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = image_err(err, errlen, -errno, "%s: %s", stage, strerror(errno));
		goto out;
	}
	struct layer_limits lim = {.max_bytes = rootfs_max_bytes(),
				   .max_entries = ROOTFS_MAX_ENTRIES};
	for (size_t i = 0; i < m->nlayers; i++) {
		char bp[STORE_PATH_MAX], lerr[512];
		if (store_blob_path(s, m->layers[i].digest, bp, sizeof(bp)) != 0) {
			r = image_err(err, errlen, -EINVAL, "bad layer digest");
			goto out;
		}
		int fd = open(bp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			r = image_err(err, errlen, -errno, "layer %s is not in the store: %s",
				      m->layers[i].digest, strerror(errno));
			goto out;
		}
		r = layer_apply_fd(rootfd, fd, &lim, &st, geteuid() == 0 ? NULL : &fixups, lerr,
				   sizeof(lerr));
		close(fd);
		if (r) {
			r = image_err(err, errlen, r, "layer %zu/%zu (%s): %s", i + 1, m->nlayers,
				      m->layers[i].digest, lerr);
			goto out;
		}
		st.layers++;
		rootfs_say(progress, ctx, "layer %zu/%zu applied (%.1f MB so far)", i + 1,
			   m->nlayers, (double)st.bytes / 1e6);
	}
	r = rootfs_settings(rootfd, &cfg, &st, &settings, err, errlen);
	if (r)
		goto out;
	rootfs_make_dirs(rootfd, cfg.working_dir, &made);

	/*
	 * Size: the content, a block per entry for directories, inodes and small-file tails, and
	 * 10% + 16 MiB for the filesystem's own metadata. Read-only: no journal, no reserve.
	 */
	uint64_t bytes = st.bytes + st.entries * 4096ull;
	uint64_t mib = (bytes + bytes / 10) / (1u << 20) + 16;
	snprintf(sizearg, sizeof(sizearg), "%lluM", (unsigned long long)mib);
	snprintf(inodes, sizeof(inodes), "%llu", (unsigned long long)(st.entries + 1024));
	snprintf(img_tmp, sizeof(img_tmp), "%s/tmp/%s.ext4", s->dir, digest_hex(digest));
	snprintf(log, sizeof(log), "%s/tmp/%s.log", s->dir, digest_hex(digest));
	rootfs_say(progress, ctx, "building the root filesystem (%s)", sizearg);
	unlink(img_tmp);
	const char *mkfs[] = {
	    "mkfs.ext4",      "-q",    "-F",	"-d", stage,  "-L", "flint-image",  "-b",
	    "4096",	      "-m",    "0",	"-N", inodes, "-O", "^has_journal", "-E",
	    "root_owner=0:0", img_tmp, sizearg, NULL};
	r = rootfs_run(mkfs, log, err, errlen);
	if (r)
		goto out;
	if (fixups.n || (made.n && geteuid() != 0)) {
		snprintf(script, sizeof(script), "%s/tmp/%s.debugfs", s->dir, digest_hex(digest));
		struct rootfs_fixctx fc = {.f = fopen(script, "we")};
		if (!fc.f) {
			r = image_err(err, errlen, -errno, "%s: %s", script, strerror(errno));
			goto out;
		}
		layer_fixups_foreach(&fixups, rootfs_fix_one, &fc);
		rootfs_fix_made(&fc, &made);
		bool werr = ferror(fc.f) != 0;
		if (fclose(fc.f) != 0 || werr) {
			r = image_err(err, errlen, -EIO, "%s: write error", script);
			goto out;
		}
		if (fc.bad) {
			unlink(script);
			r = image_err(err, errlen, -EINVAL,
				      "%u paths with quotes, backslashes or control characters "
				      "need ownership "
				      "fixed: "
				      "convert this image as root",
				      fc.bad);
			goto out;
		}
		const char *dbg[] = {"debugfs", "-w", "-f", script, img_tmp, NULL};
		r = rootfs_run(dbg, log, err, errlen);
		unlink(script);
		if (r)
			goto out;
		r = rootfs_debugfs_clean(log, err, errlen);
		if (r)
			goto out;
	}
	unlink(log);
	/* Settings first: the ext4 appearing is what marks the digest as built. */
	r = rootfs_write_json(json, settings, err, errlen);
	if (r)
		goto out;
	int fd = open(img_tmp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	if (chmod(img_tmp, 0444) != 0 || rename(img_tmp, ext4) != 0) {
		r = image_err(err, errlen, -errno, "%s: %s", ext4, strerror(errno));
		goto out;
	}
	img_tmp[0] = '\0';
	rootfs_say(progress, ctx, "root filesystem ready: %zu layers, %.1f MB", m->nlayers,
		   (double)st.bytes / 1e6);
out:
	if (rootfd >= 0)
		close(rootfd);
	if (stage[0])
		rootfs_remove_tree(stage);
	if (img_tmp[0])
		unlink(img_tmp);
	json_decref(settings);
	layer_fixups_destroy(&fixups);
	oci_config_destroy(&cfg);
	free(mjson);
	free(cjson);
	free(m);
	return r;
}

int rootfs_build(const struct store *s, const char *digest, catalog_progress_fn progress, void *ctx,
		 char *err, size_t errlen)
{
	char ext4[STORE_PATH_MAX], json[STORE_PATH_MAX], lockp[STORE_PATH_MAX];
	struct stat st;
	if (rootfs_paths(s, digest, ext4, sizeof(ext4), json, sizeof(json)) != 0)
		return image_err(err, errlen, -EINVAL, "not a manifest digest: %.80s", digest);
	if (stat(ext4, &st) == 0 && stat(json, &st) == 0)
		return 0;
	snprintf(lockp, sizeof(lockp), "%s/locks/%s.lock", s->dir, digest_hex(digest));
	int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0)
		return image_err(err, errlen, -errno, "%s: %s", lockp, strerror(errno));
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		rootfs_say(progress, ctx, "waiting for another build of %s", digest);
		while (flock(lfd, LOCK_EX) != 0)
			if (errno != EINTR) {
				close(lfd);
				return image_err(err, errlen, -errno, "flock: %s", strerror(errno));
			}
	}
	int r = 0;
	if (!(stat(ext4, &st) == 0 && stat(json, &st) == 0))
		r = rootfs_build_locked(s, digest, ext4, json, progress, ctx, err, errlen);
	close(lfd); /* the lock file stays: unlinking it would race with a waiter */
	return r;
}

static char **rootfs_jstrv(json_t *a, size_t *n)
{
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0)
		return NULL;
	size_t k = json_array_size(a);
	char **v = calloc(k + 1, sizeof(char *));
	for (size_t i = 0; v && i < k; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		v[(*n)++] = strdup(s ? s : "");
	}
	return v;
}

static char *rootfs_jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? strdup(s) : NULL;
}

int rootfs_read_info(const struct store *s, const char *digest, struct image_info *info, char *err,
		     size_t errlen)
{
	char json[STORE_PATH_MAX];
	struct stat st;
	json_error_t je;
	if (rootfs_paths(s, digest, info->rootfs, sizeof(info->rootfs), json, sizeof(json)) != 0)
		return image_err(err, errlen, -EINVAL, "not a manifest digest: %.80s", digest);
	if (stat(info->rootfs, &st) != 0)
		return image_err(err, errlen, -ENOENT, "image %s has no root filesystem", digest);
	info->rootfs_bytes = (uint64_t)st.st_blocks * 512;
	json_t *j = json_load_file(json, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return image_err(err, errlen, -EBADMSG, "%s: %s", json, je.text);
	}
	struct image_runcfg *c = &info->cfg;
	c->env = rootfs_jstrv(json_object_get(j, "env"), &c->nenv);
	c->entrypoint = rootfs_jstrv(json_object_get(j, "entrypoint"), &c->nentrypoint);
	c->cmd = rootfs_jstrv(json_object_get(j, "cmd"), &c->ncmd);
	c->cwd = rootfs_jstr(j, "cwd");
	c->user = rootfs_jstr(j, "user");
	c->user_name = rootfs_jstr(j, "user_name");
	info->content_bytes = (uint64_t)json_integer_value(json_object_get(j, "content_bytes"));
	info->layers = (unsigned)json_integer_value(json_object_get(j, "layers"));
	if (!info->created)
		info->created = (long long)json_integer_value(json_object_get(j, "created"));
	json_decref(j);
	return 0;
}
