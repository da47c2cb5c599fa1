/*
 * libFuzzer harness for image/layer.c: the input is a layer (any compression), applied to a fresh
 * staging root under one temp dir made per process, with small limits. Beyond "no crash, no
 * leak", it checks what must hold for any input: an error is -errno with a printable message,
 * fixups name relative paths inside the root, and nothing appears beside the root.
 *
 *   make build/fuzz/fuzz_layer && build/fuzz/fuzz_layer -max_total_time=60
 * tests/fuzz/corpus/fuzz_layer
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Remove what is in directory fd (the tree layer.c made: never more than 128 deep). */
static void rm_children(int fd, unsigned depth)
{
	check(depth < 200);
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(dfd >= 0);
	DIR *d = fdopendir(dfd);
	check(d != NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		check(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
		if (S_ISDIR(st.st_mode)) {
			int c = openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			check(c >= 0);
			rm_children(c, depth + 1);
			close(c);
			check(unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0);
		} else {
			check(unlinkat(dirfd(d), de->d_name, 0) == 0);
		}
	}
	closedir(d);
}

static int count_entries(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(dfd >= 0);
	DIR *d = fdopendir(dfd);
	check(d != NULL);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static int check_fixup(const struct layer_fixup *fx, void *ctx)
{
	(void)ctx;
	const char *p = fx->path;
	check(p[0] != '\0' && p[0] != '/' && strlen(p) < 4096);
	for (const char *c = p; *c;) {
		const char *e = strchrnul(c, '/');
		check(e > c && !(e - c == 1 && c[0] == '.') &&
		      !(e - c == 2 && c[0] == '.' && c[1] == '.'));
		c = *e ? e + 1 : e;
	}
	check(fx->mode & S_IFMT);
	return 0;
}

static int check_stop(const struct layer_fixup *fx, void *ctx)
{
	(void)fx;
	(*(size_t *)ctx)++;
	return 0;
}

/*
 * A plain tar's header checksums, recomputed in place so that mutations reach layer.c instead of
 * stopping at libarchive's checksum test. Walks header, data, header... while sizes parse.
 */
static void fix_checksums(uint8_t *p, size_t n)
{
	size_t off = 0;
	if (n < 512 || memcmp(p + 257, "ustar", 5) != 0)
		return;
	while (off + 512 <= n) {
		uint8_t *h = p + off;
		unsigned sum = 0;
		memset(h + 148, ' ', 8);
		for (int i = 0; i < 512; i++)
			sum += h[i];
		if (sum == 8 * ' ')
			return; /* a zero block: the end */
		char num[8];
		snprintf(num, sizeof(num), "%06o", sum & 0777777);
		memcpy(h + 148, num, 7);
		uint64_t size = 0;
		for (int i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; i++)
			size = size * 8 + (uint64_t)(h[i] - '0');
		if (size > n)
			return;
		off += 512 + (size + 511) / 512 * 512;
	}
}

static int basefd = -1;
static char base[64];

static void cleanup(void)
{
	int fd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		rm_children(fd, 0);
		close(fd);
		unlinkat(basefd, "root", AT_REMOVEDIR);
	}
	rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (basefd < 0) {
		/* tmpfs when there is one: ext4's inode allocation would be most of the time. */
		snprintf(base, sizeof(base), "%s/fuzz-layer.XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		check(mkdtemp(base) != NULL);
		basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		check(basefd >= 0);
		atexit(cleanup);
	}
	check(mkdirat(basefd, "root", 0700) == 0);
	int rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(rootfd >= 0);

	struct layer_limits lim = {.max_bytes = 8u << 20, .max_entries = 4096};
	struct layer_stats st = {0};
	struct layer_fixups fix;
	layer_fixups_init(&fix);
	char err[256] = "";
	uint8_t *copy = malloc(size ? size : 1);
	check(copy != NULL);
	memcpy(copy, data, size);
	fix_checksums(copy, size);
	int r = layer_apply_mem(rootfd, copy, size, &lim, &st, &fix, err, sizeof(err));
	free(copy);
	check(r <= 0);
	if (r) {
		check(err[0] != '\0');
		for (const char *c = err; *c; c++)
			check(*c >= 0x20 && *c < 0x7f);
	}
	check(st.bytes <= lim.max_bytes && st.entries <= lim.max_entries);
	size_t n = 0;
	layer_fixups_foreach(&fix, check_fixup, NULL);
	layer_fixups_foreach(&fix, check_stop, &n);
	check(n == fix.n);
	layer_fixups_destroy(&fix);

	check(count_entries(basefd) == 1); /* nothing beside the root */
	rm_children(rootfd, 0);
	close(rootfd);
	check(unlinkat(basefd, "root", AT_REMOVEDIR) == 0);
	return 0;
}
