/* Applying one OCI layer (a tar, compressed or not) onto a staging tree, every path relative to its
 * root fd. */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define LAYER_SYMLINKS_MAX 40		/* as the kernel: more in one resolution is a loop */
#define LAYER_DEPTH_MAX	   128		/* directory depth of the tree: bounds removal's fds */
#define LAYER_READ_BLOCK   (128u << 10) /* archive_read_open_fd's buffer */
#define LAYER_NAME_SHOWN   160		/* an entry name in a message is cut at this */

/* --- a string-keyed hash table (SipHash-2-4 with a per-table key: names are hostile) --- */

struct hnode {
	struct hnode *next;
	uint64_t h;
	char *key;
};

struct htab {
	struct hnode **b;
	size_t nb, n;
	uint64_t k0, k1;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const char *s, size_t n)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t m = 0;
		for (int k = 0; k < 8; k++)
			m |= (uint64_t)p[i + k] << (8 * k);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)n << 56;
	for (int k = 0; i + k < n; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static int ht_init(struct htab *t)
{
	uint64_t k[2];
	if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)t;
		k[1] = (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
	}
	t->k0 = k[0];
	t->k1 = k[1];
	t->nb = 64;
	t->n = 0;
	t->b = calloc(t->nb, sizeof(*t->b));
	return t->b ? 0 : -ENOMEM;
}

static void ht_destroy(struct htab *t)
{
	for (size_t i = 0; t->b && i < t->nb; i++)
		for (struct hnode *n = t->b[i], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t->b);
	t->b = NULL;
	t->n = t->nb = 0;
}

static struct hnode *ht_find(const struct htab *t, const char *key)
{
	uint64_t h = siphash(t->k0, t->k1, key, strlen(key));
	for (struct hnode *n = t->b[h & (t->nb - 1)]; n; n = n->next)
		if (n->h == h && !strcmp(n->key, key))
			return n;
	return NULL;
}

/* Insert a node whose key is not in the table yet (growing it; a failed growth is harmless). */
static void ht_insert(struct htab *t, struct hnode *node)
{
	if (t->n >= t->nb) {
		size_t nb = t->nb * 2;
		struct hnode **b = calloc(nb, sizeof(*b));
		if (b) {
			for (size_t i = 0; i < t->nb; i++)
				for (struct hnode *n = t->b[i], *next; n; n = next) {
					next = n->next;
					n->next = b[n->h & (nb - 1)];
					b[n->h & (nb - 1)] = n;
				}
			free(t->b);
			t->b = b;
			t->nb = nb;
		}
	}
	node->h = siphash(t->k0, t->k1, node->key, strlen(node->key));
	node->next = t->b[node->h & (t->nb - 1)];
	t->b[node->h & (t->nb - 1)] = node;
	t->n++;
}

/* Unlink and free the node for key, if any. */
static void ht_remove(struct htab *t, const char *key)
{
	uint64_t h = siphash(t->k0, t->k1, key, strlen(key));
	for (struct hnode **pp = &t->b[h & (t->nb - 1)]; *pp; pp = &(*pp)->next) {
		struct hnode *n = *pp;
		if (n->h == h && !strcmp(n->key, key)) {
			*pp = n->next;
			free(n);
			t->n--;
			return;
		}
	}
}

/* One allocation: the node (of size sz, a struct starting with struct hnode) and its key. */
static struct hnode *ht_node(size_t sz, const char *key)
{
	size_t kl = strlen(key);
	struct hnode *n = calloc(1, sz + kl + 1);
	if (!n)
		return NULL;
	n->key = (char *)n + sz;
	memcpy(n->key, key, kl + 1);
	return n;
}

/* --- fixups --- */

struct fixnode {
	struct hnode hn;
	struct layer_fixup fx;
};

void layer_fixups_init(struct layer_fixups *f)
{
	f->priv = NULL;
	f->n = 0;
}

void layer_fixups_destroy(struct layer_fixups *f)
{
	if (!f)
		return;
	if (f->priv) {
		ht_destroy(f->priv);
		free(f->priv);
	}
	f->priv = NULL;
	f->n = 0;
}

int layer_fixups_foreach(const struct layer_fixups *f,
			 int (*fn)(const struct layer_fixup *fx, void *ctx), void *ctx)
{
	const struct htab *t = f ? f->priv : NULL;
	for (size_t i = 0; t && i < t->nb; i++)
		for (struct hnode *n = t->b[i]; n; n = n->next) {
			int r = fn(&((struct fixnode *)n)->fx, ctx);
			if (r)
				return r;
		}
	return 0;
}

static void fixup_drop(struct layer_fixups *f, const char *path)
{
	if (!f || !f->priv)
		return;
	ht_remove(f->priv, path);
	f->n = ((struct htab *)f->priv)->n;
}

static int fixup_put(struct layer_fixups *f, const char *path, uid_t uid, gid_t gid, mode_t mode,
		     dev_t rdev)
{
	struct htab *t = f->priv;
	struct fixnode *fn = (struct fixnode *)ht_find(t, path);
	if (!fn) {
		fn = (struct fixnode *)ht_node(sizeof(*fn), path);
		if (!fn)
			return -ENOMEM;
		fn->fx.path = fn->hn.key;
		ht_insert(t, &fn->hn);
		f->n = t->n;
	}
	fn->fx.uid = uid;
	fn->fx.gid = gid;
	fn->fx.mode = mode;
	fn->fx.rdev = rdev;
	return 0;
}

/* --- the state of one layer_apply call --- */

/* What this layer did at a path (canonical, relative to the root), for duplicates and whiteouts. */
enum {
	SEEN_ENTRY = 1, /* an entry of this layer names it */
	SEEN_UNDER =
	    2, /* an entry of this layer lies under it (or it was made as a missing parent) */
};

struct namenode {
	struct hnode hn;
	unsigned flags;
};

/* A directory reached by resolution: fd (O_PATH) and its canonical path ("" for the root). */
struct walk {
	int fd;
	unsigned depth;
	size_t len;
	char path[PATH_MAX];
};

struct apply {
	int rootfd; /* O_PATH */
	const struct layer_limits *lim;
	struct layer_stats *st;
	struct layer_fixups *fix; /* NULL: nothing is recorded */
	struct htab seen;
	bool root;
	uid_t euid;
	gid_t egid;
	char *err;
	size_t errlen;
	const char *entry;	   /* the raw name, for messages */
	struct walk parent, other; /* parent: cached for cache_dir; other: hard link targets etc. */
	bool cache_valid;
	char cache_dir[PATH_MAX];
	char name[PATH_MAX], lname[PATH_MAX], canon[PATH_MAX], rel[PATH_MAX], step[PATH_MAX];
	char rest[2 * PATH_MAX + 2], tmp[2 * PATH_MAX + 2], link[PATH_MAX];
};

/* The name as printable ASCII (other bytes as \xNN), cut to LAYER_NAME_SHOWN. */
static void show_name(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; s && s[i] && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= LAYER_NAME_SHOWN) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

__attribute__((format(printf, 3, 4))) static int fail(struct apply *c, int rc, const char *fmt, ...)
{
	char msg[256], shown[LAYER_NAME_SHOWN * 4 + 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err && c->errlen) {
		if (c->entry) {
			show_name(c->entry, shown, sizeof(shown));
			snprintf(c->err, c->errlen, "layer entry \"%s\": %s", shown, msg);
		} else {
			snprintf(c->err, c->errlen, "layer: %s", msg);
		}
	}
	return rc;
}

static int fail_errno(struct apply *c, const char *what)
{
	int e = errno ? errno : EIO;
	return fail(c, -e, "%s: %s", what, strerror(e));
}

static int archive_fail(struct apply *c, struct archive *a)
{
	char shown[LAYER_NAME_SHOWN * 4 + 8];
	const char *s = archive_error_string(a);
	int e = archive_errno(a);
	show_name(s ? s : "unreadable archive", shown, sizeof(shown));
	return fail(c, e > 0 ? -e : -EBADMSG, "%s", shown);
}

static unsigned seen_get(struct apply *c, const char *path)
{
	struct namenode *n = (struct namenode *)ht_find(&c->seen, path);
	return n ? n->flags : 0;
}

static int seen_mark(struct apply *c, const char *path, unsigned flags)
{
	struct namenode *n = (struct namenode *)ht_find(&c->seen, path);
	if (!n) {
		n = (struct namenode *)ht_node(sizeof(*n), path);
		if (!n)
			return fail(c, -ENOMEM, "out of memory");
		ht_insert(&c->seen, &n->hn);
	}
	n->flags |= flags;
	return 0;
}

/* "dir/leaf" (or "leaf" at the root) into out; -ENAMETOOLONG past PATH_MAX. */
static int join(char out[PATH_MAX], const char *dir, size_t dlen, const char *leaf)
{
	size_t ll = strlen(leaf);
	if (dlen + 1 + ll >= PATH_MAX)
		return -ENAMETOOLONG;
	if (out != dir)
		memmove(out, dir, dlen);
	size_t o = dlen;
	if (dlen)
		out[o++] = '/';
	memcpy(out + o, leaf, ll + 1);
	return 0;
}

/*
 * An entry name, normalized: no empty or "." components, so "./a//b/" is "a/b". Refused:
 * empty, absolute, "..", PATH_MAX or longer, a component over NAME_MAX. 1 for the root itself.
 */
static int name_clean(struct apply *c, const char *raw, char out[PATH_MAX], const char *what)
{
	if (!raw || !raw[0])
		return fail(c, -EINVAL, "empty %s", what);
	size_t n = strnlen(raw, PATH_MAX);
	if (n >= PATH_MAX)
		return fail(c, -ENAMETOOLONG, "%s longer than %d bytes", what, PATH_MAX - 1);
	if (raw[0] == '/')
		return fail(c, -EINVAL, "absolute %s", what);
	size_t o = 0;
	for (const char *p = raw; *p;) {
		const char *e = strchrnul(p, '/');
		size_t l = (size_t)(e - p);
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return fail(c, -EXDEV, "%s leaves the image root", what);
		if (l > NAME_MAX)
			return fail(c, -ENAMETOOLONG, "%s has a component over %d bytes", what,
				    NAME_MAX);
		if (l && !(l == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, l);
			o += l;
		}
		p = *e ? e + 1 : e;
	}
	out[o] = '\0';
	return o ? 0 : 1;
}

static void walk_close(struct walk *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/*
 * Keep what "mkdir" and the entry said about a path: when the staged file is not what the layer
 * asked for (owner, type, mode, device number), the difference goes into the fixups.
 */
static int note_meta(struct apply *c, const char *path, const struct stat *have, uid_t uid,
		     gid_t gid, mode_t mode, dev_t rdev)
{
	if (!c->fix)
		return 0;
	bool differs = have->st_uid != uid || have->st_gid != gid;
	if (!S_ISLNK(mode))
		differs = differs || have->st_mode != mode;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		differs = differs || have->st_rdev != rdev;
	if (!differs) {
		fixup_drop(c->fix, path);
		return 0;
	}
	if (fixup_put(c->fix, path, uid, gid, mode, rdev))
		return fail(c, -ENOMEM, "out of memory");
	return 0;
}

/* A missing parent directory, made as docker and containerd make it: 0755, root's. */
static int make_parent(struct apply *c, struct walk *w, const char *comp)
{
	if (mkdirat(w->fd, comp, 0700) != 0 && errno != EEXIST)
		return fail_errno(c, "creating a parent directory");
	if (fchmodat(w->fd, comp, 0755, 0) != 0)
		return fail_errno(c, "chmod of a parent directory");
	struct stat st;
	if (fstatat(w->fd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return fail_errno(c, "stat of a parent directory");
	return note_meta(c, c->step, &st, 0, 0, S_IFDIR | 0755, 0);
}

/*
 * Resolve directory path dir (normalized, "" for the root) into w the way the container will see
 * it: symlinks followed inside the root (an absolute target starts again at the root), a target
 * that climbs above the root refused, at most LAYER_SYMLINKS_MAX of them. With create, missing
 * directories are made and every directory passed is marked SEEN_UNDER; without, 1 when some
 * component does not exist.
 */
static int resolve(struct apply *c, const char *dir, bool create, struct walk *w)
{
	walk_close(w);
	w->fd = openat(c->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w->fd < 0)
		return fail_errno(c, "opening the root");
	w->depth = 0;
	w->len = 0;
	w->path[0] = '\0';
	size_t dl = strlen(dir);
	if (dl >= sizeof(c->rest))
		return fail(c, -ENAMETOOLONG, "path too long");
	memcpy(c->rest, dir, dl + 1);
	unsigned links = 0;
	char *p = c->rest;
	while (*p) {
		char *e = strchrnul(p, '/');
		char *next = *e ? e + 1 : e;
		size_t l = (size_t)(e - p);
		char comp[NAME_MAX + 1];
		if (l > NAME_MAX)
			return fail(c, -ENAMETOOLONG,
				    "a symlink's target has a component over %d bytes", NAME_MAX);
		memcpy(comp, p, l);
		comp[l] = '\0';
		p = next;
		if (!l || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (!w->depth)
				return fail(c, -EXDEV, "path leaves the image root");
			int fd = openat(w->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0)
				return fail_errno(c, "resolving ..");
			close(w->fd);
			w->fd = fd;
			w->depth--;
			char *slash = memrchr(w->path, '/', w->len);
			w->len = slash ? (size_t)(slash - w->path) : 0;
			w->path[w->len] = '\0';
			continue;
		}
		if (join(c->step, w->path, w->len, comp))
			return fail(c, -ENAMETOOLONG, "resolved path too long");
		struct stat st;
		if (fstatat(w->fd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				return fail_errno(c, "resolving a parent directory");
			if (!create)
				return 1;
			if (w->depth + 1 > LAYER_DEPTH_MAX)
				return fail(c, -ELOOP, "more than %d directories deep",
					    LAYER_DEPTH_MAX);
			int r = make_parent(c, w, comp);
			if (r)
				return r;
			st.st_mode = S_IFDIR;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > LAYER_SYMLINKS_MAX)
				return fail(c, -ELOOP, "too many levels of symbolic links");
			ssize_t n = readlinkat(w->fd, comp, c->link, sizeof(c->link));
			if (n < 0)
				return fail_errno(c, "reading a symlink");
			if (n == 0 || (size_t)n >= sizeof(c->link))
				return fail(c, -ELOOP, "unusable symlink in the path");
			size_t rl = strlen(p);
			if ((size_t)n + 1 + rl >= sizeof(c->tmp))
				return fail(c, -ENAMETOOLONG, "path too long through symlinks");
			memcpy(c->tmp, c->link, (size_t)n);
			c->tmp[n] = '/';
			memcpy(c->tmp + n + 1, p, rl + 1);
			memcpy(c->rest, c->tmp, (size_t)n + 1 + rl + 1);
			p = c->rest;
			if (c->link[0] == '/') {
				int fd = openat(c->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (fd < 0)
					return fail_errno(c, "opening the root");
				close(w->fd);
				w->fd = fd;
				w->depth = 0;
				w->len = 0;
				w->path[0] = '\0';
			}
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			return fail(c, -ENOTDIR, "a parent is not a directory");
		if (w->depth + 1 > LAYER_DEPTH_MAX)
			return fail(c, -ELOOP, "more than %d directories deep", LAYER_DEPTH_MAX);
		int fd = openat(w->fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail_errno(c, "opening a parent directory");
		close(w->fd);
		w->fd = fd;
		w->depth++;
		w->len = strlen(c->step);
		memcpy(w->path, c->step, w->len + 1);
		if (create) {
			int r = seen_mark(c, w->path, SEEN_UNDER);
			if (r)
				return r;
		}
	}
	return 0;
}

/* The parent of an entry, resolved with create; consecutive entries of one directory share it. */
static int resolve_parent(struct apply *c, const char *dir)
{
	if (c->cache_valid && !strcmp(dir, c->cache_dir))
		return 0;
	c->cache_valid = false;
	int r = resolve(c, dir, true, &c->parent);
	if (r)
		return r;
	strcpy(c->cache_dir, dir);
	c->cache_valid = true;
	return 0;
}

/* --- removal --- */

static int remove_at(struct apply *c, int dfd, const char *name, size_t rlen, bool keep,
		     unsigned depth);

/*
 * Remove the children of directory fd (whose canonical path is c->rel[0..rlen)); with keep,
 * what this layer made survives. 1 when something was kept.
 */
static int clear_dir(struct apply *c, int fd, size_t rlen, bool keep, unsigned depth)
{
	if (depth > LAYER_DEPTH_MAX + 1)
		return fail(c, -ELOOP, "directory tree too deep to remove");
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail_errno(c, "opening a directory to remove");
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return fail_errno(c, "reading a directory to remove");
	}
	int kept = 0, r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (join(c->rel, c->rel, rlen, de->d_name)) {
			r = fail(c, -ENAMETOOLONG, "path too long to remove");
			break;
		}
		r = remove_at(c, dirfd(d), de->d_name, strlen(c->rel), keep, depth + 1);
		c->rel[rlen] = '\0';
		if (r < 0)
			break;
		kept |= r;
		r = 0;
	}
	if (!r && errno)
		r = fail_errno(c, "reading a directory to remove");
	closedir(d);
	return r < 0 ? r : kept;
}

/*
 * Remove name in dfd, whose canonical path is c->rel[0..rlen), with its fixups: a whole tree for a
 * directory. With keep, paths this layer made or wrote under survive (whiteouts and opaque
 * directories hide lower layers only). 0 removed or absent, 1 something kept.
 */
static int remove_at(struct apply *c, int dfd, const char *name, size_t rlen, bool keep,
		     unsigned depth)
{
	c->cache_valid = false;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : fail_errno(c, "stat before removal");
	bool mine = keep && seen_get(c, c->rel);
	if (!S_ISDIR(st.st_mode)) {
		if (mine)
			return 1;
		if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
			return fail_errno(c, "removing");
		fixup_drop(c->fix, c->rel);
		return 0;
	}
	int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(c, "opening a directory to remove");
	int r = clear_dir(c, fd, rlen, keep, depth);
	close(fd);
	if (r < 0)
		return r;
	if (r || mine)
		return 1;
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return fail_errno(c, "removing a directory");
	fixup_drop(c->fix, c->rel);
	return 0;
}

/* Make room for a new leaf in the cached parent: whatever is there goes (keep_dir: not a dir). */
static int clear_leaf(struct apply *c, const char *leaf, bool keep_dir, struct stat *old)
{
	if (fstatat(c->parent.fd, leaf, old, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)
			return fail_errno(c, "stat");
		old->st_mode = 0;
		return 0;
	}
	if (keep_dir && S_ISDIR(old->st_mode))
		return 0;
	strcpy(c->rel, c->canon);
	int r = remove_at(c, c->parent.fd, leaf, strlen(c->rel), false, c->parent.depth + 1);
	old->st_mode = 0;
	return r < 0 ? r : 0;
}

/* --- metadata --- */

struct meta {
	uid_t uid;
	gid_t gid;
	mode_t mode; /* type | permissions */
	dev_t rdev;
	struct timespec ts[2];
	bool has_time;
};

static void meta_of(struct archive_entry *e, struct meta *m)
{
	m->uid = (uid_t)archive_entry_uid(e);
	m->gid = (gid_t)archive_entry_gid(e);
	m->mode = archive_entry_mode(e);
	m->rdev = archive_entry_rdev(e);
	m->has_time = archive_entry_mtime_is_set(e);
	long ns = archive_entry_mtime_nsec(e);
	m->ts[1].tv_sec = (time_t)archive_entry_mtime(e);
	m->ts[1].tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
	m->ts[0] = m->ts[1];
}

static bool xattr_wanted(const struct apply *c, const char *name)
{
	return !strncmp(name, "user.", 5) || !strcmp(name, "security.capability") ||
	       (c->root && !strncmp(name, "trusted.", 8));
}

/* The entry's xattrs that we keep, on an open file or directory; refusals are counted, not errors.
 */
static int set_xattrs(struct apply *c, struct archive_entry *e, int fd)
{
	const char *name;
	const void *val;
	size_t n;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &n) == ARCHIVE_OK) {
		if (!name || !xattr_wanted(c, name))
			continue;
		if (fsetxattr(fd, name, val, n, 0) == 0)
			continue;
		if (errno == ENOSPC || errno == EDQUOT || errno == EIO)
			return fail_errno(c, "setting an xattr");
		c->st->xattrs_skipped++;
	}
	return 0;
}

/* Owner, mode, xattrs, times on an open file or directory, then the fixup if any is needed. */
static int finish_fd(struct apply *c, struct archive_entry *e, int fd, const struct meta *m,
		     mode_t perm)
{
	if (c->root && fchown(fd, m->uid, m->gid) != 0)
		return fail_errno(c, "chown");
	if (fchmod(fd, perm) != 0)
		return fail_errno(c, "chmod");
	int r = set_xattrs(c, e, fd);
	if (r)
		return r;
	if (m->has_time)
		futimens(fd,
			 m->ts); /* best effort: a time the filesystem cannot hold is no error */
	struct stat st;
	if (fstat(fd, &st) != 0)
		return fail_errno(c, "stat");
	return note_meta(c, c->canon, &st, m->uid, m->gid, m->mode, m->rdev);
}

/* Owner and times of a node that is not opened (symlink, device, FIFO), then its fixup. */
static int finish_at(struct apply *c, const char *leaf, const struct meta *m, bool chmod_it)
{
	int dfd = c->parent.fd;
	if (c->root && fchownat(dfd, leaf, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) != 0)
		return fail_errno(c, "chown");
	/* Just made by us and not a symlink: fchmodat cannot be led elsewhere. */
	if (chmod_it && fchmodat(dfd, leaf, m->mode & 07777, 0) != 0)
		return fail_errno(c, "chmod");
	if (m->has_time)
		utimensat(dfd, leaf, m->ts, AT_SYMLINK_NOFOLLOW);
	struct stat st;
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return fail_errno(c, "stat");
	return note_meta(c, c->canon, &st, m->uid, m->gid, m->mode, m->rdev);
}

/* --- entries --- */

static int add_limit(struct apply *c, uint64_t size)
{
	uint64_t max = c->lim ? c->lim->max_bytes : 0;
	if (max && (size > max || c->st->bytes > max - size))
		return fail(c, -EFBIG, "layer exceeds the %llu-byte limit (decompression bomb?)",
			    (unsigned long long)max);
	c->st->bytes += size;
	return 0;
}

static int write_all(struct apply *c, int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? fail_errno(c, "write") : fail(c, -EIO, "short write");
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int do_file(struct apply *c, struct archive *a, struct archive_entry *e, const char *leaf,
		   const struct meta *m)
{
	la_int64_t sz = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (sz < 0)
		return fail(c, -EINVAL, "negative size");
	uint64_t size = (uint64_t)sz;
	int r = add_limit(c, size);
	if (r)
		return r;
	struct stat old;
	r = clear_leaf(c, leaf, false, &old);
	if (r)
		return r;
	int fd =
	    openat(c->parent.fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno(c, "create");
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &n, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = archive_fail(c, a);
			goto out;
		}
		/* The header's size is what the limits counted: nothing is written past it. */
		if (off < 0 || (uint64_t)off > size || n > size - (uint64_t)off) {
			r = fail(c, -EFBIG, "data beyond the size in its header");
			goto out;
		}
		r = write_all(c, fd, buf, n, (uint64_t)off);
		if (r)
			goto out;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		r = fail_errno(c, "truncate");
		goto out;
	}
	r = finish_fd(c, e, fd, m, m->mode & 07777);
out:
	close(fd);
	return r;
}

static int do_dir(struct apply *c, struct archive_entry *e, const char *leaf, const struct meta *m)
{
	if (c->parent.depth + 1 > LAYER_DEPTH_MAX)
		return fail(c, -ELOOP, "more than %d directories deep", LAYER_DEPTH_MAX);
	struct stat old;
	int r = clear_leaf(c, leaf, true, &old);
	if (r)
		return r;
	/* An existing directory keeps its contents; only its metadata changes. */
	if (!S_ISDIR(old.st_mode) && mkdirat(c->parent.fd, leaf, 0700) != 0)
		return fail_errno(c, "mkdir");
	int fd = openat(c->parent.fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(c, "opening the directory");
	/* Unprivileged, we must still enter and write it while staging: the real mode is a fixup.
	 */
	mode_t perm = m->mode & 07777;
	if (!c->root)
		perm |= 0700;
	r = finish_fd(c, e, fd, m, perm);
	close(fd);
	return r;
}

static int do_symlink(struct apply *c, struct archive_entry *e, const char *leaf,
		      const struct meta *m)
{
	const char *target = archive_entry_symlink(e);
	if (!target || !target[0])
		return fail(c, -EINVAL, "symlink without a target");
	if (strnlen(target, PATH_MAX) >= PATH_MAX)
		return fail(c, -ENAMETOOLONG, "symlink target longer than %d bytes", PATH_MAX - 1);
	struct stat old;
	int r = clear_leaf(c, leaf, false, &old);
	if (r)
		return r;
	if (symlinkat(target, c->parent.fd, leaf) != 0)
		return fail_errno(c, "symlink");
	/* xattrs: user.* cannot go on a symlink, and capabilities on one mean nothing. */
	return finish_at(c, leaf, m, false);
}

static int do_node(struct apply *c, const char *leaf, const struct meta *m)
{
	struct stat old;
	int r = clear_leaf(c, leaf, false, &old);
	if (r)
		return r;
	mode_t type = m->mode & S_IFMT;
	if (c->root) {
		if (mknodat(c->parent.fd, leaf, type | 0600, type == S_IFIFO ? 0 : m->rdev) != 0)
			return fail_errno(c, "mknod");
		return finish_at(c, leaf, m, true);
	}
	/* Unprivileged: an empty placeholder; the fixup says what it really is. */
	int fd =
	    openat(c->parent.fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno(c, "create");
	close(fd);
	if (fchmodat(c->parent.fd, leaf, 0600, 0) != 0)
		return fail_errno(c, "chmod");
	return finish_at(c, leaf, m, false);
}

static int do_hardlink(struct apply *c, const char *target, const char *leaf)
{
	int r = name_clean(c, target, c->lname, "hard link target");
	if (r)
		return r < 0 ? r : fail(c, -EINVAL, "hard link to the root");
	char *slash = strrchr(c->lname, '/');
	const char *tleaf = slash ? slash + 1 : c->lname;
	if (slash)
		*slash = '\0';
	r = resolve(c, slash ? c->lname : "", false, &c->other);
	if (r)
		return r < 0 ? r : fail(c, -ENOENT, "hard link target is not in the image");
	char tcanon[PATH_MAX];
	if (join(tcanon, c->other.path, c->other.len, tleaf))
		return fail(c, -ENAMETOOLONG, "hard link target path too long");
	struct stat st;
	if (fstatat(c->other.fd, tleaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? fail(c, -ENOENT, "hard link target is not in the image")
				       : fail_errno(c, "hard link target");
	if (S_ISDIR(st.st_mode))
		return fail(c, -EPERM, "hard link to a directory");
	if (!strcmp(tcanon, c->canon))
		return fail(c, -EINVAL, "hard link to itself");
	struct stat old;
	r = clear_leaf(c, leaf, false, &old);
	if (r)
		return r;
	if (linkat(c->other.fd, tleaf, c->parent.fd, leaf, 0) != 0)
		return errno == ENOENT ? fail(c, -ENOENT, "hard link target is not in the image")
				       : fail_errno(c, "link");
	/* One inode: the link needs what its target needs. */
	if (c->fix) {
		struct fixnode *fn =
		    c->fix->priv ? (struct fixnode *)ht_find(c->fix->priv, tcanon) : NULL;
		if (!fn) {
			fixup_drop(c->fix, c->canon);
		} else if (fixup_put(c->fix, c->canon, fn->fx.uid, fn->fx.gid, fn->fx.mode,
				     fn->fx.rdev)) {
			return fail(c, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* .wh.NAME in dir: NAME goes, as lower layers made it; .wh..wh..opq: all of dir's lower content. */
static int do_whiteout(struct apply *c, const char *dir, const char *leaf)
{
	bool opaque = !strcmp(leaf, ".wh..wh..opq");
	if (!opaque && !strncmp(leaf, ".wh..wh.", 8))
		return 0; /* aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): never created */
	const char *victim = leaf + 4;
	if (!opaque && (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, "..")))
		return fail(c, -EINVAL, "whiteout of nothing");
	int r = resolve(c, dir, false, &c->other);
	if (r)
		return r < 0 ? r : 0; /* nothing there to hide */
	memcpy(c->rel, c->other.path, c->other.len + 1);
	if (opaque) {
		c->cache_valid = false;
		r = clear_dir(c, c->other.fd, c->other.len, true, c->other.depth);
	} else {
		if (join(c->rel, c->rel, c->other.len, victim))
			return fail(c, -ENAMETOOLONG, "whiteout path too long");
		r = remove_at(c, c->other.fd, victim, strlen(c->rel), true, c->other.depth + 1);
	}
	return r < 0 ? r : 0;
}

static int do_entry(struct apply *c, struct archive *a, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	c->entry = raw ? raw : "";
	const char *hard = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	int r = name_clean(c, raw, c->name, "name");
	if (r == 1) {
		/* "./": the root itself, which the caller owns. */
		if (!hard && type == AE_IFDIR)
			return 0;
		return fail(c, -EINVAL, "empty name");
	}
	if (r)
		return r;
	if (!hard && type == AE_IFSOCK)
		return 0; /* a socket in a tar means nothing */
	char *slash = strrchr(c->name, '/');
	const char *leaf = slash ? slash + 1 : c->name;
	if (slash)
		*slash = '\0';
	const char *dir = slash ? c->name : "";
	if (!strncmp(leaf, ".wh.", 4))
		return do_whiteout(c, dir, leaf);
	r = resolve_parent(c, dir);
	if (r)
		return r;
	if (c->parent.depth + 1 > LAYER_DEPTH_MAX)
		return fail(c, -ELOOP, "more than %d directories deep", LAYER_DEPTH_MAX);
	if (join(c->canon, c->parent.path, c->parent.len, leaf))
		return fail(c, -ENAMETOOLONG, "resolved path too long");
	if (seen_get(c, c->canon) & SEEN_ENTRY)
		return fail(c, -EEXIST, "duplicate entry in one layer");
	r = seen_mark(c, c->canon, SEEN_ENTRY);
	if (r)
		return r;
	if (hard)
		return do_hardlink(c, hard, leaf);
	struct meta m;
	meta_of(e, &m);
	switch (type) {
	case AE_IFREG:
		return do_file(c, a, e, leaf, &m);
	case AE_IFDIR:
		return do_dir(c, e, leaf, &m);
	case AE_IFLNK:
		return do_symlink(c, e, leaf, &m);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return do_node(c, leaf, &m);
	default:
		return fail(c, -EINVAL, "unsupported entry type 0%o", (unsigned)type);
	}
}

/* Apply the opened archive a (open_rc: what archive_read_open_* said), then free it. */
static int apply(int rootfd, struct archive *a, int open_rc, const struct layer_limits *lim,
		 struct layer_stats *st, struct layer_fixups *fixups, char *err, size_t errlen)
{
	struct apply *c = calloc(1, sizeof(*c));
	if (!c) {
		if (err && errlen)
			snprintf(err, errlen, "layer: out of memory");
		archive_read_free(a);
		return -ENOMEM;
	}
	c->lim = lim;
	c->st = st;
	c->err = err;
	c->errlen = errlen;
	c->euid = geteuid();
	c->egid = getegid();
	c->root = c->euid == 0;
	c->parent.fd = c->other.fd = -1;
	c->rootfd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	if (c->rootfd < 0) {
		r = fail_errno(c, "the staging root");
		goto out;
	}
	if (!c->root && !fixups) {
		r = fail(c, -EINVAL, "unprivileged without a fixups table");
		goto out;
	}
	if (fixups && !fixups->priv) {
		struct htab *t = calloc(1, sizeof(*t));
		if (!t || ht_init(t)) {
			free(t);
			r = fail(c, -ENOMEM, "out of memory");
			goto out;
		}
		fixups->priv = t;
	}
	c->fix = fixups;
	if (ht_init(&c->seen)) {
		r = fail(c, -ENOMEM, "out of memory");
		goto out;
	}
	if (open_rc != ARCHIVE_OK) {
		r = archive_fail(c, a);
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		c->entry = NULL;
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = archive_fail(c, a);
			break;
		}
		uint64_t maxe = lim ? lim->max_entries : 0;
		if (maxe && st->entries >= maxe) {
			r = fail(c, -EFBIG, "layer exceeds the %llu-entry limit",
				 (unsigned long long)maxe);
			break;
		}
		st->entries++;
		r = do_entry(c, a, e);
		if (r)
			break;
	}
out:
	walk_close(&c->parent);
	walk_close(&c->other);
	if (c->rootfd >= 0)
		close(c->rootfd);
	ht_destroy(&c->seen);
	free(c);
	archive_read_free(a);
	return r;
}

/*
 * gzip, zstd, xz, bzip2 and none, built in: not archive_read_support_filter_all, which would run
 * external programs (lrzip, lzop, grzip...) on a hostile layer's say-so.
 */
static struct archive *layer_reader(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a); /* ustar, pax, GNU: sparse files and long names */
	return a;
}

int layer_apply_fd(int rootfd, int fd, const struct layer_limits *lim, struct layer_stats *st,
		   struct layer_fixups *fixups, char *err, size_t errlen)
{
	struct archive *a = layer_reader();
	if (!a) {
		if (err && errlen)
			snprintf(err, errlen, "layer: out of memory");
		return -ENOMEM;
	}
	int rc = archive_read_open_fd(a, fd, LAYER_READ_BLOCK);
	return apply(rootfd, a, rc, lim, st, fixups, err, errlen);
}

int layer_apply_mem(int rootfd, const void *buf, size_t len, const struct layer_limits *lim,
		    struct layer_stats *st, struct layer_fixups *fixups, char *err, size_t errlen)
{
	static const char empty[1];
	struct archive *a = layer_reader();
	if (!a) {
		if (err && errlen)
			snprintf(err, errlen, "layer: out of memory");
		return -ENOMEM;
	}
	int rc = archive_read_open_memory(a, buf ? buf : empty, buf ? len : 0);
	return apply(rootfd, a, rc, lim, st, fixups, err, errlen);
}
