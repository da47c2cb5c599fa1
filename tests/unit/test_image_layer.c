/* Unit tests for image/layer.c: layers built here with libarchive, applied to a temp dir, checked.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "layer.h"

#define ESCAPE "flint-layer-escape" /* a name hostile layers try to write outside the root */
#define NOBODY 65534

static char err[512];

/* --- building layers --- */

struct tarb {
	struct archive *a;
	unsigned char *buf;
	size_t cap, used;
};

enum { PLAIN, GZIP, ZSTD };

static void tb_open(struct tarb *t, int filter)
{
	t->cap = 16u << 20;
	t->buf = malloc(t->cap);
	assert_non_null(t->buf);
	t->used = 0;
	t->a = archive_write_new();
	assert_non_null(t->a);
	assert_int_equal(archive_write_set_format_pax(t->a), ARCHIVE_OK);
	if (filter == GZIP) {
		assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
		archive_write_set_filter_option(t->a, "gzip", "compression-level", "1");
	} else if (filter == ZSTD) {
		assert_int_equal(archive_write_add_filter_zstd(t->a), ARCHIVE_OK);
	}
	archive_write_set_bytes_in_last_block(t->a, 1);
	assert_int_equal(archive_write_open_memory(t->a, t->buf, t->cap, &t->used), ARCHIVE_OK);
}

struct ent {
	const char *name;
	mode_t mode; /* type and permissions; no type: a regular file */
	const char *data;
	int64_t size; /* -1: strlen(data) */
	const char *link, *hard;
	unsigned uid, gid;
	dev_t rdev;
	time_t mtime;
	const char *xname, *xval;
	const int64_t *sparse; /* offset, length pairs, ending with a negative offset */
};

static void tb_put(struct tarb *t, struct ent e)
{
	struct archive_entry *ae = archive_entry_new();
	archive_entry_copy_pathname(ae, e.name);
	mode_t mode = e.mode;
	if (!(mode & S_IFMT))
		mode |= e.link ? S_IFLNK : S_IFREG;
	if (!e.mode && !e.link)
		mode |= 0644;
	if (e.link && !(e.mode & 07777))
		mode |= 0777;
	archive_entry_set_mode(ae, mode);
	archive_entry_set_uid(ae, e.uid);
	archive_entry_set_gid(ae, e.gid);
	archive_entry_set_mtime(ae, e.mtime ? e.mtime : 1700000000, 0);
	if (e.link)
		archive_entry_copy_symlink(ae, e.link);
	if (e.hard) {
		archive_entry_copy_hardlink(ae, e.hard);
		archive_entry_set_size(ae, 0);
	}
	if (S_ISCHR(mode) || S_ISBLK(mode))
		archive_entry_set_rdev(ae, e.rdev);
	int64_t size = e.size ? e.size : (e.data ? (int64_t)strlen(e.data) : 0);
	if (S_ISREG(mode) && !e.hard)
		archive_entry_set_size(ae, size);
	if (e.xname)
		archive_entry_xattr_add_entry(ae, e.xname, e.xval, strlen(e.xval));
	for (const int64_t *s = e.sparse; s && s[0] >= 0; s += 2)
		archive_entry_sparse_add_entry(ae, s[0], s[1]);
	assert_true(archive_write_header(t->a, ae) >= ARCHIVE_WARN); /* WARN: odd bytes in a name */
	if (e.data && S_ISREG(mode) && !e.hard)
		assert_int_equal(archive_write_data(t->a, e.data, strlen(e.data)),
				 (ssize_t)strlen(e.data));
	assert_int_equal(archive_write_finish_entry(t->a), ARCHIVE_OK);
	archive_entry_free(ae);
}

static void tb_close(struct tarb *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	t->a = NULL;
}

/* --- the fixture: base/ holds root/ (the staging tree) and canary (which must never change) --- */

struct fx {
	char base[64];
	int basefd, rootfd;
	struct layer_limits lim;
	struct layer_stats st;
	struct layer_fixups fix;
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->base, "/tmp/layer-test.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->basefd = open(f->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->basefd >= 0);
	assert_int_equal(mkdirat(f->basefd, "root", 0755), 0);
	f->rootfd = openat(f->basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);
	int fd = openat(f->basefd, "canary", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "canary", 6), 6);
	close(fd);
	f->lim = (struct layer_limits){.max_bytes = 4ull << 30, .max_entries = 100000};
	layer_fixups_init(&f->fix);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	layer_fixups_destroy(&f->fix);
	close(f->rootfd);
	close(f->basefd);
	rm_tree(f->base);
	free(f);
	return 0;
}

static int apply_lim(struct fx *f, struct tarb *t, const struct layer_limits *lim)
{
	tb_close(t);
	err[0] = '\0';
	int r = layer_apply_mem(f->rootfd, t->buf, t->used, lim, &f->st, &f->fix, err, sizeof(err));
	free(t->buf);
	t->buf = NULL;
	return r;
}

static int apply(struct fx *f, struct tarb *t)
{
	return apply_lim(f, t, &f->lim);
}

static void expect_ok(struct fx *f, struct tarb *t)
{
	int r = apply(f, t);
	if (r)
		fail_msg("layer refused (%d): %s", r, err);
}

static void expect_err(int r, const char *needle)
{
	if (r >= 0)
		fail_msg("layer accepted, wanted an error with '%s'", needle);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

/* Nothing outside root/: base holds root and an untouched canary, no escape file anywhere near. */
static void check_outside(struct fx *f)
{
	DIR *d = opendir(f->base);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			if (strcmp(de->d_name, "root") && strcmp(de->d_name, "canary"))
				fail_msg("%s/%s appeared", f->base, de->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 2);
	char buf[16] = {0};
	int fd = openat(f->basefd, "canary", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	close(fd);
	assert_string_equal(buf, "canary");
	assert_int_equal(access("/tmp/" ESCAPE, F_OK), -1);
	assert_int_equal(access("/" ESCAPE, F_OK), -1);
}

static struct stat lst(struct fx *f, const char *path)
{
	struct stat st;
	if (fstatat(f->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st;
}

static bool exists(struct fx *f, const char *path)
{
	struct stat st;
	return fstatat(f->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void check_content(struct fx *f, const char *path, const char *want)
{
	char buf[256] = {0};
	int fd = openat(f->rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	assert_string_equal(buf, want);
}

static void check_link(struct fx *f, const char *path, const char *want)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(f->rootfd, path, buf, sizeof(buf) - 1);
	if (n < 0)
		fail_msg("%s: %s", path, strerror(errno));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* Directories made unprivileged keep u+rwx: compare what the layer controls. */
static mode_t dir_perm(mode_t m)
{
	return geteuid() == 0 ? m : (m | 0700);
}

/* --- what layers do --- */

static void test_basic(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "./", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "./etc/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "./etc/hosts",
				.mode = 0644,
				.data = "127.0.0.1 x\n",
				.mtime = 1234567890,
				.xname = "user.flint",
				.xval = "yes"});
	tb_put(&t, (struct ent){.name = "usr/bin/su", .mode = 04755, .data = "#!su"});
	tb_put(&t, (struct ent){.name = "usr/bin/wall", .mode = 02755, .data = "wall"});
	tb_put(&t, (struct ent){.name = "tmp", .mode = S_IFDIR | 01777});
	tb_put(&t, (struct ent){.name = "secret", .mode = S_IFREG, .data = "s"});
	tb_put(&t, (struct ent){.name = "usr/bin/sh", .link = "/bin/busybox"});
	tb_put(&t, (struct ent){.name = "dangling", .link = "../../../nowhere/at/all"});
	tb_put(&t, (struct ent){.name = "usr/bin/su2", .hard = "usr/bin/su"});
	tb_put(&t, (struct ent){.name = "empty"});
	expect_ok(f, &t);
	check_outside(f);
	assert_int_equal(f->st.entries, 11);
	assert_int_equal(f->st.bytes, 12 + 4 + 4 + 1);

	struct stat st = lst(f, "etc/hosts");
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_mtim.tv_sec, 1234567890);
	check_content(f, "etc/hosts", "127.0.0.1 x\n");
	char xv[16] = {0};
	int fd = openat(f->rootfd, "etc/hosts", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t xn = fgetxattr(fd, "user.flint", xv, sizeof(xv));
	close(fd);
	if (xn >= 0)
		assert_string_equal(xv, "yes");
	else
		assert_true(f->st.xattrs_skipped > 0);

	struct stat su = lst(f, "usr/bin/su");
	assert_int_equal(su.st_mode & 07777, 04755);
	check_content(f, "usr/bin/su", "#!su");
	assert_int_equal(lst(f, "usr/bin/wall").st_mode & 07777, 02755);
	assert_int_equal(lst(f, "tmp").st_mode & 07777, dir_perm(01777));
	assert_true(S_ISDIR(lst(f, "usr").st_mode));
	assert_int_equal(lst(f, "usr").st_mode & 07777, dir_perm(0755));
	struct stat sec = lst(f, "secret");
	assert_int_equal(sec.st_mode & 07777, 0);
	assert_int_equal(sec.st_size, 1);
	check_link(f, "usr/bin/sh", "/bin/busybox");
	check_link(f, "dangling", "../../../nowhere/at/all");
	struct stat su2 = lst(f, "usr/bin/su2");
	assert_int_equal(su2.st_ino, su.st_ino);
	assert_int_equal(su2.st_nlink, 2);
	assert_int_equal(lst(f, "empty").st_size, 0);
}

static void test_whiteout(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "a/f", .data = "f"});
	tb_put(&t, (struct ent){.name = "a/g", .data = "g"});
	tb_put(&t, (struct ent){.name = "d/sub/x", .data = "x"});
	tb_put(&t, (struct ent){.name = "d/sub/deeper/y", .data = "y"});
	tb_put(&t, (struct ent){.name = "d/z", .link = "sub"});
	tb_put(&t, (struct ent){.name = "keep/k", .data = "k"});
	expect_ok(f, &t);

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "a/.wh.f"});
	tb_put(&t, (struct ent){.name = ".wh.d"});
	tb_put(&t, (struct ent){.name = "keep/new", .data = "n"});
	tb_put(&t, (struct ent){.name = "keep/.wh.new"}); /* same layer: stays */
	tb_put(&t, (struct ent){.name = "nothere/.wh.x"});
	tb_put(&t, (struct ent){.name = ".wh.nothing"});
	tb_put(&t, (struct ent){.name = "a/.wh..wh.plnk"});
	expect_ok(f, &t);
	assert_false(exists(f, "a/f"));
	assert_false(exists(f, "a/.wh.f"));
	assert_false(exists(f, "a/.wh..wh.plnk"));
	check_content(f, "a/g", "g");
	assert_false(exists(f, "d"));
	assert_false(exists(f, ".wh.d"));
	assert_false(exists(f, "nothere"));
	check_content(f, "keep/k", "k");
	check_content(f, "keep/new", "n");
	check_outside(f);

	/* Whiteout first, then a new entry of the same name in the same layer. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = ".wh.a"});
	tb_put(&t, (struct ent){.name = "a/h", .data = "h"});
	expect_ok(f, &t);
	assert_false(exists(f, "a/g"));
	check_content(f, "a/h", "h");
}

static void test_opaque(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "o/old", .data = "old"});
	tb_put(&t, (struct ent){.name = "o/sub/old2", .data = "old2"});
	tb_put(&t, (struct ent){.name = "o/sub2/old3", .data = "old3"});
	tb_put(&t, (struct ent){.name = "o/ln", .link = "/etc"});
	tb_put(&t, (struct ent){.name = "p/old", .data = "old"});
	tb_put(&t, (struct ent){.name = "other/stay", .data = "stay"});
	expect_ok(f, &t);

	tb_open(&t, PLAIN);
	/* o: entries of this layer before the marker and after it survive. */
	tb_put(&t, (struct ent){.name = "o/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "o/before", .data = "b"});
	tb_put(&t, (struct ent){.name = "o/sub/", .mode = S_IFDIR | 0750});
	tb_put(&t, (struct ent){.name = "o/.wh..wh..opq"});
	tb_put(&t, (struct ent){.name = "o/after", .data = "a"});
	/* p: the marker first. */
	tb_put(&t, (struct ent){.name = "p/.wh..wh..opq"});
	tb_put(&t, (struct ent){.name = "p/new", .data = "n"});
	expect_ok(f, &t);
	assert_false(exists(f, "o/old"));
	assert_false(exists(f, "o/ln"));
	assert_false(exists(f, "o/sub2"));
	assert_true(S_ISDIR(lst(f, "o/sub").st_mode));
	assert_false(exists(f, "o/sub/old2"));
	assert_false(exists(f, "o/.wh..wh..opq"));
	check_content(f, "o/before", "b");
	check_content(f, "o/after", "a");
	assert_false(exists(f, "p/old"));
	check_content(f, "p/new", "n");
	check_content(f, "other/stay", "stay");
	check_outside(f);
}

static void test_replace(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "f2d", .data = "file"});
	tb_put(&t, (struct ent){.name = "d2f/a/b", .data = "b"});
	tb_put(&t, (struct ent){.name = "target/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "s2d", .link = "target"});
	tb_put(&t, (struct ent){.name = "s2f", .link = "target"});
	tb_put(&t, (struct ent){.name = "file", .data = "one"});
	tb_put(&t, (struct ent){.name = "keepdir/old", .data = "old"});
	expect_ok(f, &t);

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "f2d/", .mode = S_IFDIR | 0700});
	tb_put(&t, (struct ent){.name = "f2d/in", .data = "in"});
	tb_put(&t, (struct ent){.name = "d2f", .data = "now a file"});
	tb_put(&t, (struct ent){.name = "s2d/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "s2d/x", .data = "x"});
	tb_put(&t, (struct ent){.name = "s2f", .data = "plain"});
	tb_put(&t, (struct ent){.name = "file", .data = "two", .mode = 0600});
	tb_put(&t, (struct ent){.name = "keepdir", .mode = S_IFDIR | 0711});
	expect_ok(f, &t);
	assert_true(S_ISDIR(lst(f, "f2d").st_mode));
	check_content(f, "f2d/in", "in");
	assert_true(S_ISREG(lst(f, "d2f").st_mode));
	check_content(f, "d2f", "now a file");
	assert_true(S_ISDIR(lst(f, "s2d").st_mode));
	check_content(f, "s2d/x", "x");
	assert_false(exists(f, "target/x"));
	assert_true(S_ISREG(lst(f, "s2f").st_mode));
	assert_false(exists(f, "target/s2f"));
	check_content(f, "file", "two");
	assert_int_equal(lst(f, "file").st_mode & 07777, 0600);
	check_content(f, "keepdir/old", "old");
	assert_int_equal(lst(f, "keepdir").st_mode & 07777, dir_perm(0711));
	check_outside(f);
}

static void test_symlink_parent(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "usr/bin/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "bin", .link = "/usr/bin"});
	tb_put(&t, (struct ent){.name = "lib", .link = "usr/./lib/../lib"});
	tb_put(&t, (struct ent){.name = "usr/lib/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "usr/bin/a", .data = "a"});
	expect_ok(f, &t);

	tb_open(&t, GZIP);
	tb_put(&t, (struct ent){.name = "bin/foo", .data = "foo"});
	tb_put(&t, (struct ent){.name = "lib/libc.so", .data = "c"});
	tb_put(&t, (struct ent){.name = "hl", .hard = "bin/a"});
	tb_put(&t, (struct ent){.name = "bin/.wh.a"}); /* hides usr/bin/a; hl keeps the inode */
	expect_ok(f, &t);
	check_link(f, "bin", "/usr/bin");
	check_content(f, "usr/bin/foo", "foo");
	check_content(f, "usr/lib/libc.so", "c");
	assert_false(exists(f, "usr/bin/a"));
	check_content(f, "hl", "a");
	check_outside(f);
}

static void test_compressed(void **state)
{
	struct fx *f = *state;
	for (int filter = GZIP; filter <= ZSTD; filter++) {
		struct tarb t;
		tb_open(&t, filter);
		char name[32];
		snprintf(name, sizeof(name), "dir%d/file", filter);
		tb_put(&t, (struct ent){.name = name, .data = "compressed"});
		expect_ok(f, &t);
		check_content(f, name, "compressed");
	}
}

static void test_sparse(void **state)
{
	struct fx *f = *state;
	static const int64_t map[] = {0, 4096, 8192, 4096, (1ll << 30) - 4096, 4096, -1};
	char data[12289];
	memset(data, 'A', 4096);
	memset(data + 4096, 'h', 4096); /* in a hole: the writer drops it */
	memset(data + 8192, 'B', 4096);
	data[12288] = '\0';
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "big", .data = data, .size = 1ll << 30, .sparse = map});
	tb_close(&t);
	assert_true(t.used < (1u << 20));
	int r =
	    layer_apply_mem(f->rootfd, t.buf, t.used, &f->lim, &f->st, &f->fix, err, sizeof(err));
	free(t.buf);
	if (r)
		fail_msg("sparse layer refused: %s", err);
	struct stat st = lst(f, "big");
	assert_int_equal(st.st_size, 1ll << 30);
	assert_true((uint64_t)st.st_blocks * 512 < (4u << 20)); /* written sparse */
	assert_int_equal(f->st.bytes, 1ll << 30);
	int fd = openat(f->rootfd, "big", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	char b[3];
	assert_int_equal(pread(fd, &b[0], 1, 100), 1);
	assert_int_equal(pread(fd, &b[1], 1, 5000), 1);
	assert_int_equal(pread(fd, &b[2], 1, 9000), 1);
	close(fd);
	assert_int_equal(b[0], 'A');
	assert_int_equal(b[1], 0);
	assert_int_equal(b[2], 'B');
}

static void test_fd(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, ZSTD);
	tb_put(&t, (struct ent){.name = "via/fd", .data = "fd"});
	tb_close(&t);
	int mfd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, t.buf, t.used), (ssize_t)t.used);
	free(t.buf);
	assert_int_equal(lseek(mfd, 0, SEEK_SET), 0);
	int r = layer_apply_fd(f->rootfd, mfd, &f->lim, &f->st, &f->fix, err, sizeof(err));
	close(mfd);
	if (r)
		fail_msg("%s", err);
	check_content(f, "via/fd", "fd");
}

static void test_empty_layer(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, GZIP);
	expect_ok(f, &t);
	assert_int_equal(f->st.entries, 0);
}

/* --- as root: device nodes, owners --- */

static void test_devices_root(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0)
		skip();
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "dev/null", .mode = S_IFCHR | 0666, .rdev = makedev(1, 3)});
	tb_put(&t, (struct ent){
		       .name = "dev/sda", .mode = S_IFBLK | 0660, .rdev = makedev(8, 0), .gid = 6});
	tb_put(&t, (struct ent){.name = "run/fifo", .mode = S_IFIFO | 0620});
	expect_ok(f, &t);
	struct stat st = lst(f, "dev/null");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(st.st_rdev, makedev(1, 3));
	st = lst(f, "dev/sda");
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(8, 0));
	assert_int_equal(st.st_gid, 6);
	st = lst(f, "run/fifo");
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	assert_int_equal(f->fix.n, 0);
}

static void test_owner_root(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0)
		skip();
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t,
	       (struct ent){.name = "home/u/", .mode = S_IFDIR | 0700, .uid = 1234, .gid = 5678});
	tb_put(&t, (struct ent){
		       .name = "home/u/f", .mode = 06755, .data = "x", .uid = 1234, .gid = 5678});
	tb_put(&t, (struct ent){.name = "home/u/l", .link = "f", .uid = 1234, .gid = 5678});
	expect_ok(f, &t);
	struct stat st = lst(f, "home/u");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 0700);
	st = lst(f, "home/u/f");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 06755); /* chown, then chmod: the bits stay */
	st = lst(f, "home/u/l");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	st = lst(f, "home");
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(f->fix.n, 0);
}

/* --- unprivileged: a real child as nobody (or as ourselves when not root) --- */

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__,      \
				#cond, err);                                                       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

struct seenfx {
	const char *path;
	const struct layer_fixup *found;
	struct layer_fixup copy;
	size_t n;
};

static int find_fixup(const struct layer_fixup *fx, void *ctx)
{
	struct seenfx *s = ctx;
	s->n++;
	if (!strcmp(fx->path, s->path)) {
		s->copy = *fx;
		s->found = &s->copy;
	}
	return 0;
}

static const struct layer_fixup *fixup_of(struct layer_fixups *fix, const char *path)
{
	static struct seenfx s;
	s = (struct seenfx){.path = path};
	layer_fixups_foreach(fix, find_fixup, &s);
	CHECK(s.n == fix->n);
	return s.found;
}

static int stop_at_first(const struct layer_fixup *fx, void *ctx)
{
	(void)fx;
	(*(int *)ctx)++;
	return 7;
}

static void unprivileged_child(struct fx *f, uid_t me, gid_t mygid)
{
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "etc/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "etc/shadow", .mode = 0640, .data = "root:*", .gid = 42});
	tb_put(&t, (struct ent){.name = "usr/bin/su", .mode = 04755, .data = "su"});
	tb_put(&t, (struct ent){.name = "ro/", .mode = S_IFDIR | 0555, .uid = me, .gid = mygid});
	tb_put(&t, (struct ent){.name = "ro/in", .data = "in", .uid = me, .gid = mygid});
	tb_put(&t,
	       (struct ent){.name = "mine", .mode = 0644, .data = "m", .uid = me, .gid = mygid});
	tb_put(&t, (struct ent){.name = "dev/null", .mode = S_IFCHR | 0666, .rdev = makedev(1, 3)});
	tb_put(&t, (struct ent){.name = "fifo", .mode = S_IFIFO | 0644});
	tb_put(&t, (struct ent){.name = "gone/a", .data = "a"});
	tb_put(&t, (struct ent){.name = "gone/b/c", .data = "c"});
	tb_put(&t, (struct ent){.name = "rm", .data = "rm"});
	tb_put(&t, (struct ent){.name = "etc/shadow-", .hard = "etc/shadow"});
	tb_put(&t, (struct ent){.name = "lnk", .link = "mine"});
	tb_close(&t);
	int r =
	    layer_apply_mem(f->rootfd, t.buf, t.used, &f->lim, &f->st, &f->fix, err, sizeof(err));
	free(t.buf);
	CHECK(r == 0);

	struct stat st;
	CHECK(fstatat(f->rootfd, "usr/bin/su", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISREG(st.st_mode) && st.st_uid == me);
	const struct layer_fixup *fx = fixup_of(&f->fix, "usr/bin/su");
	CHECK(fx && fx->uid == 0 && fx->gid == 0 && fx->mode == (S_IFREG | 04755));
	fx = fixup_of(&f->fix, "etc/shadow");
	CHECK(fx && fx->gid == 42 && fx->mode == (S_IFREG | 0640));
	fx = fixup_of(&f->fix, "etc/shadow-");
	CHECK(fx && fx->gid == 42 && fx->mode == (S_IFREG | 0640));
	CHECK(fstatat(f->rootfd, "ro", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK((st.st_mode & 0700) == 0700);
	fx = fixup_of(&f->fix, "ro");
	CHECK(fx && fx->uid == me && fx->mode == (S_IFDIR | 0555));
	CHECK(!fixup_of(&f->fix, "mine"));
	CHECK(!fixup_of(&f->fix, "ro/in"));
	CHECK(fstatat(f->rootfd, "dev/null", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_size == 0);
	fx = fixup_of(&f->fix, "dev/null");
	CHECK(fx && fx->mode == (S_IFCHR | 0666) && fx->rdev == makedev(1, 3));
	fx = fixup_of(&f->fix, "fifo");
	CHECK(fx && fx->mode == (S_IFIFO | 0644));
	fx = fixup_of(&f->fix, "usr");
	CHECK(fx && fx->uid == 0 && fx->mode == (S_IFDIR | 0755));
	fx = fixup_of(&f->fix, "lnk");
	CHECK(fx && fx->uid == 0 && S_ISLNK(fx->mode));
	CHECK(fixup_of(&f->fix, "gone/b/c") && fixup_of(&f->fix, "gone/b"));
	int visits = 0;
	CHECK(layer_fixups_foreach(&f->fix, stop_at_first, &visits) == 7 && visits == 1);

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = ".wh.gone"});
	tb_put(&t, (struct ent){.name = ".wh.rm"});
	tb_put(&t, (struct ent){.name = "usr/bin/.wh.su"});
	tb_put(&t,
	       (struct ent){.name = "fifo", .mode = 0644, .data = "now", .uid = me, .gid = mygid});
	tb_close(&t);
	size_t before = f->fix.n;
	r = layer_apply_mem(f->rootfd, t.buf, t.used, &f->lim, &f->st, &f->fix, err, sizeof(err));
	free(t.buf);
	CHECK(r == 0);
	CHECK(!fixup_of(&f->fix, "gone") && !fixup_of(&f->fix, "gone/a"));
	CHECK(!fixup_of(&f->fix, "gone/b") && !fixup_of(&f->fix, "gone/b/c"));
	CHECK(!fixup_of(&f->fix, "rm") && !fixup_of(&f->fix, "usr/bin/su"));
	CHECK(!fixup_of(&f->fix, "fifo"));
	CHECK(fixup_of(&f->fix, "usr/bin") && fixup_of(&f->fix, "etc/shadow"));
	CHECK(f->fix.n == before - 7);
	CHECK(fstatat(f->rootfd, "gone", &st, AT_SYMLINK_NOFOLLOW) != 0);

	/* Without a table, unprivileged is refused. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "x", .data = "x"});
	tb_close(&t);
	r = layer_apply_mem(f->rootfd, t.buf, t.used, &f->lim, &f->st, NULL, err, sizeof(err));
	free(t.buf);
	CHECK(r == -EINVAL);
	layer_fixups_destroy(&f->fix);
}

static void test_unprivileged(void **state)
{
	struct fx *f = *state;
	uid_t me = geteuid() == 0 ? NOBODY : geteuid();
	gid_t mygid = geteuid() == 0 ? NOBODY : getegid();
	if (geteuid() == 0)
		assert_int_equal(fchown(f->rootfd, NOBODY, NOBODY), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0) {
			CHECK(setgroups(0, NULL) == 0);
			CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0);
			CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0);
			prctl(PR_SET_DUMPABLE, 1); /* LeakSanitizer's tracer must still attach */
		}
		unprivileged_child(f, me, mygid);
		exit(0);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	check_outside(f);
}

/* --- hostile layers: refused, and nothing outside the root --- */

static void hostile(struct fx *f, struct ent e, const char *needle)
{
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, e);
	expect_err(apply(f, &t), needle);
	check_outside(f);
}

static void test_bad_names(void **state)
{
	struct fx *f = *state;
	hostile(f, (struct ent){.name = "../" ESCAPE, .data = "x"}, "leaves the image root");
	assert_non_null(strstr(err, "layer entry \"../" ESCAPE "\""));
	hostile(f, (struct ent){.name = "/" ESCAPE, .data = "x"}, "absolute");
	hostile(f, (struct ent){.name = "a/../../" ESCAPE, .data = "x"}, "leaves the image root");
	hostile(f, (struct ent){.name = "./..", .mode = S_IFDIR | 0755}, "leaves the image root");
	hostile(f, (struct ent){.name = ".", .data = "x"}, "empty name");
	hostile(f, (struct ent){.name = "x", .hard = "../../etc/passwd"},
		"hard link target leaves the image root");
	hostile(f, (struct ent){.name = "y", .hard = "/etc/passwd"}, "absolute hard link target");
	hostile(f, (struct ent){.name = "z", .hard = "not/there"}, "not in the image");
	hostile(f, (struct ent){.name = ".wh..", .data = ""}, "whiteout of nothing");

	char *longname = malloc(5001);
	assert_non_null(longname);
	for (int i = 0; i < 5000; i++)
		longname[i] = i % 100 == 99 ? '/' : 'n';
	longname[5000] = '\0';
	hostile(f, (struct ent){.name = longname, .data = "x"}, "longer than");
	memset(longname, 'c', 300);
	longname[300] = '\0';
	hostile(f, (struct ent){.name = longname, .data = "x"}, "component over");
	memset(longname, 'l', 4096);
	longname[4096] = '\0';
	hostile(f, (struct ent){.name = "l", .link = longname}, "target longer than");
	free(longname);

	/* Error messages are printable: a name's odd bytes are escaped. */
	hostile(f, (struct ent){.name = "../\x01\xff\"", .data = "x"}, "\\x01\\xff\\x22");
	assert_int_equal(f->st.bytes, 0);
	for (int i = 0; i < 5; i++)
		assert_false(exists(f, ESCAPE));
}

static void test_symlink_escape(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "evil", .link = "../../.."});
	tb_put(&t, (struct ent){.name = "evil/" ESCAPE, .data = "x"});
	expect_err(apply(f, &t), "leaves the image root");
	check_outside(f);

	/* Through two links, the second climbing. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "d/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "d/up", .link = "../.."});
	tb_put(&t, (struct ent){.name = "hop", .link = "d/up"});
	tb_put(&t, (struct ent){.name = "hop/" ESCAPE, .data = "x"});
	expect_err(apply(f, &t), "leaves the image root");
	check_outside(f);

	/* A loop. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "l1", .link = "l2"});
	tb_put(&t, (struct ent){.name = "l2", .link = "l1"});
	tb_put(&t, (struct ent){.name = "l1/x", .data = "x"});
	expect_err(apply(f, &t), "too many levels");

	/* A hard link whose target's parent climbs through a symlink. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "up", .link = ".."});
	tb_put(&t, (struct ent){.name = "h", .hard = "up/canary"});
	expect_err(apply(f, &t), "leaves the image root");
	check_outside(f);
}

static void test_symlink_absolute(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "evil", .link = f->base});
	tb_put(&t, (struct ent){.name = "evil/" ESCAPE, .data = "inside"});
	tb_put(&t, (struct ent){.name = "evil2", .link = "/../../tmp"});
	expect_ok(f, &t);
	check_outside(f);
	char path[128];
	snprintf(path, sizeof(path), "%s/" ESCAPE, f->base + 1);
	check_content(f, path, "inside");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "evil2/x", .data = "x"});
	expect_err(apply(f, &t), "leaves the image root");
	check_outside(f);
}

static void test_hardlink_rules(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "dir/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "h", .hard = "dir"});
	expect_err(apply(f, &t), "hard link to a directory");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "self", .hard = "self"});
	expect_err(apply(f, &t), "not in the image");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "sl", .link = "dir"});
	tb_put(&t, (struct ent){.name = "hsl", .hard = "sl"}); /* to the symlink itself */
	expect_ok(f, &t);
	check_link(f, "hsl", "dir");
	check_outside(f);
}

static void test_duplicates(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "a", .data = "1"});
	tb_put(&t, (struct ent){.name = "./a", .data = "2"});
	expect_err(apply(f, &t), "duplicate entry");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "d/", .mode = S_IFDIR | 0755});
	tb_put(&t, (struct ent){.name = "d", .mode = S_IFDIR | 0700});
	expect_err(apply(f, &t), "duplicate entry");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "s", .link = "/etc"});
	tb_put(&t, (struct ent){.name = "s/", .mode = S_IFDIR | 0755});
	expect_err(apply(f, &t), "duplicate entry");

	/* A missing parent made for an entry, then the parent's own entry: fine. */
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "p/q/r", .data = "r"});
	tb_put(&t, (struct ent){.name = "p/q/", .mode = S_IFDIR | 0750});
	tb_put(&t, (struct ent){.name = "p/", .mode = S_IFDIR | 0751});
	expect_ok(f, &t);
	assert_int_equal(lst(f, "p/q").st_mode & 07777, dir_perm(0750));
	check_content(f, "p/q/r", "r");

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "file", .data = "f"});
	tb_put(&t, (struct ent){.name = "file/x", .data = "x"});
	expect_err(apply(f, &t), "not a directory");
	check_outside(f);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	struct layer_limits lim = {.max_entries = 3};
	tb_open(&t, PLAIN);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		tb_put(&t, (struct ent){.name = name, .data = "x"});
	}
	expect_err(apply_lim(f, &t, &lim), "3-entry limit");
	assert_false(exists(f, "f3"));

	f->st = (struct layer_stats){0};
	lim = (struct layer_limits){.max_bytes = 1u << 20};
	static char chunk[600 << 10];
	memset(chunk, 'z', sizeof(chunk) - 1);
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "b1", .data = chunk});
	expect_ok(f, &t);
	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "b2", .data = chunk});
	expect_err(apply_lim(f, &t, &lim), "1048576-byte limit (decompression bomb?)");
	assert_false(exists(f, "b2"));

	/* A bomb: 1 GiB of zeros in about a megabyte of gzip. */
	f->st = (struct layer_stats){0};
	lim = (struct layer_limits){.max_bytes = 64u << 20, .max_entries = 100};
	tb_open(&t, GZIP);
	tb_put(&t, (struct ent){.name = "small", .data = "s"});
	tb_put(&t, (struct ent){.name = "bomb", .size = 1ll << 30});
	tb_close(&t);
	assert_true(t.used < (8u << 20));
	err[0] = '\0';
	int r = layer_apply_mem(f->rootfd, t.buf, t.used, &lim, &f->st, &f->fix, err, sizeof(err));
	free(t.buf);
	expect_err(r, "67108864-byte limit");
	assert_false(exists(f, "bomb"));
	check_content(f, "small", "s");
	check_outside(f);
}

static void test_garbage(void **state)
{
	struct fx *f = *state;
	struct tarb t;
	tb_open(&t, GZIP);
	static char chunk[64 << 10];
	for (size_t i = 0; i < sizeof(chunk) - 1; i++)
		chunk[i] = (char)('a' + (i * 7919) % 26);
	tb_put(&t, (struct ent){.name = "a", .data = chunk});
	tb_put(&t, (struct ent){.name = "b", .data = chunk});
	tb_close(&t);
	for (size_t cut = 1; cut < t.used; cut += t.used / 7 + 1) {
		err[0] = '\0';
		int r = layer_apply_mem(f->rootfd, t.buf, cut, &f->lim, &f->st, &f->fix, err,
					sizeof(err));
		assert_true(r < 0);
		assert_true(err[0] != '\0');
	}
	free(t.buf);

	tb_open(&t, PLAIN);
	tb_put(&t, (struct ent){.name = "c", .data = chunk});
	tb_close(&t);
	assert_true(
	    layer_apply_mem(f->rootfd, t.buf, 700, &f->lim, &f->st, &f->fix, err, sizeof(err)) < 0);
	free(t.buf);

	unsigned char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	assert_true(layer_apply_mem(f->rootfd, junk, sizeof(junk), &f->lim, &f->st, &f->fix, err,
				    sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	assert_true(
	    layer_apply_mem(f->rootfd, NULL, 0, &f->lim, &f->st, &f->fix, err, sizeof(err)) < 0);
	check_outside(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whiteout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_opaque, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_parent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devices_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_owner_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unprivileged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_escape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_absolute, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hardlink_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
