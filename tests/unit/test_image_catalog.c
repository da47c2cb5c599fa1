/*
 * Unit tests for image/catalog.c, rootfs.c and pull.c's import path against a real store in a
 * temporary directory: install (mkfs.ext4 -d included), lookups by name, name@digest, digest and
 * prefix, tags, listing, users resolved from the image's /etc/passwd, removal and gc, env merging.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "rootfs.h"
#include "store.h"

static char err[1024];
static char dir[64];
static struct store st;

struct file {
	const char *name;
	mode_t mode; /* type bits included */
	const char *data;
};

/* A tar layer in memory (caller frees). */
static char *tar_of(const struct file *f, size_t n, size_t *len)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, f[i].name);
		archive_entry_set_mode(e, f[i].mode);
		size_t dl = f[i].data && S_ISREG(f[i].mode) ? strlen(f[i].data) : 0;
		if (S_ISLNK(f[i].mode))
			archive_entry_set_symlink(e, f[i].data);
		archive_entry_set_size(e, (la_int64_t)dl);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (dl)
			assert_int_equal(archive_write_data(a, f[i].data, dl), (la_ssize_t)dl);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return buf;
}

/* Put a one-layer image into the store; returns its manifest digest in md. */
static void put_image(const struct file *f, size_t n, const char *config, char *md)
{
	size_t tl;
	char *tar = tar_of(f, n, &tl);
	char ld[DIGEST_STR_MAX], cd[DIGEST_STR_MAX], cfg[2048], man[2048];
	assert_int_equal(store_put_blob(&st, tar, tl, NULL, ld, err, sizeof(err)), 0);
	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":%s,"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		 config, ld);
	assert_int_equal(store_put_blob(&st, cfg, strlen(cfg), NULL, cd, err, sizeof(err)), 0);
	snprintf(
	    man, sizeof(man),
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
	    cd, strlen(cfg), ld, tl);
	assert_int_equal(store_put_blob(&st, man, strlen(man), NULL, md, err, sizeof(err)), 0);
	free(tar);
}

static const struct file base_files[] = {
    {"bin", S_IFDIR | 0755, NULL},
    {"bin/true", S_IFREG | 0755, "#!/bin/sh\n"},
    {"etc", S_IFDIR | 0755, NULL},
    {"etc/passwd", S_IFREG | 0644,
     "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1001:Node:/home/node:/bin/sh\n"},
    {"etc/group", S_IFREG | 0644, "root:x:0:\nnode:x:1001:\nstaff:x:50:\n"},
    {"work", S_IFDIR | 0755, NULL},
};

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/flint-cat.XXXXXX");
	assert_non_null(mkdtemp(dir));
	char sd[128];
	snprintf(sd, sizeof(sd), "%s/store", dir);
	assert_int_equal(store_open(&st, sd, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_install_lookup(void **state)
{
	(void)state;
	char md[DIGEST_STR_MAX], ref[256];
	put_image(base_files, 6,
		  "{\"Env\":[\"PATH=/bin\",\"A=1\"],\"WorkingDir\":\"/work\",\"User\":\"node\","
		  "\"Entrypoint\":[\"/bin/true\"],\"Cmd\":[\"x\"]}",
		  md);
	assert_int_equal(catalog_install(&st, "docker.io/library/node:22-alpine", md, NULL, NULL,
					 err, sizeof(err)),
			 0);
	struct image_info i;
	assert_int_equal(catalog_lookup(&st, "node:22-alpine", &i, err, sizeof(err)), 0);
	assert_string_equal(i.name, "docker.io/library/node:22-alpine");
	assert_string_equal(i.digest, md);
	assert_string_equal(i.cfg.cwd, "/work");
	assert_string_equal(i.cfg.user, "1000:1001");
	assert_string_equal(i.cfg.user_name, "node");
	assert_int_equal(i.cfg.nenv, 3);
	assert_string_equal(i.cfg.env[2], "HOME=/home/node");
	assert_int_equal(i.layers, 1);
	struct stat sb;
	assert_int_equal(stat(i.rootfs, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0444);
	/* The mount points the layer lacked were made (a read-only root cannot make them later). */
	char cmd[4200], ls[4096] = "";
	snprintf(cmd, sizeof(cmd), "debugfs -R 'ls -l /' '%s' 2>/dev/null", i.rootfs);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t got = fread(ls, 1, sizeof(ls) - 1, p);
	ls[got] = 0;
	pclose(p);
	assert_non_null(strstr(ls, " proc"));
	assert_non_null(strstr(ls, " dev"));
	assert_non_null(strstr(ls, "41777 (2)      0      0"));
	assert_non_null(strstr(ls, " tmp"));

	/* env merge and default argv */
	const char *over[] = {"A=2", "B=3"}, *out[8], *argv[8];
	assert_int_equal(image_env_merge(&i.cfg, over, 2, out), 4);
	assert_string_equal(out[0], "PATH=/bin");
	assert_string_equal(out[1], "HOME=/home/node");
	assert_string_equal(out[2], "A=2");
	assert_null(out[4]);
	assert_int_equal(image_default_argv(&i.cfg, argv, 8), 2);
	assert_string_equal(argv[0], "/bin/true");
	assert_string_equal(argv[1], "x");
	image_info_destroy(&i);

	/* name@digest, digest, prefix; a wrong digest for the name */
	snprintf(ref, sizeof(ref), "node:22-alpine@%s", md);
	assert_int_equal(catalog_lookup(&st, ref, &i, err, sizeof(err)), 0);
	image_info_destroy(&i);
	assert_int_equal(catalog_lookup(&st, md, &i, err, sizeof(err)), 0);
	assert_string_equal(i.name, "docker.io/library/node:22-alpine");
	image_info_destroy(&i);
	snprintf(ref, sizeof(ref), "%.12s", md + 7);
	assert_int_equal(catalog_lookup(&st, ref, &i, err, sizeof(err)), 0);
	image_info_destroy(&i);
	assert_int_equal(
	    catalog_lookup(&st,
			   "node:22-alpine@sha256:"
			   "0000000000000000000000000000000000000000000000000000000000000000",
			   &i, err, sizeof(err)),
	    -ENOENT);
	assert_int_equal(catalog_lookup(&st, "node:20", &i, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "docker.io/library/node:20 is not installed"));
	assert_int_equal(catalog_lookup(&st, "Bad Name", &i, err, sizeof(err)), -EINVAL);

	/* installing again is a no-op build; a tag is another name of the same digest */
	assert_int_equal(catalog_install(&st, "docker.io/library/node:22-alpine", md, NULL, NULL,
					 err, sizeof(err)),
			 0);
	assert_int_equal(catalog_tag(&st, "node:22-alpine", "mine/node:1", err, sizeof(err)), 0);
	struct image_info *v;
	size_t n;
	assert_int_equal(catalog_list(&st, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "docker.io/library/node:22-alpine");
	assert_string_equal(v[1].name, "docker.io/mine/node:1");
	catalog_list_free(v, n);

	/* rm keeps the data while another name uses it; gc after the last one frees it all */
	struct catalog_gc_stats gs;
	assert_int_equal(catalog_remove(&st, "node:22-alpine", err, sizeof(err)), 0);
	assert_int_equal(catalog_gc(&st, &gs, err, sizeof(err)), 0);
	assert_int_equal(gs.rootfs + gs.blobs, 0);
	assert_int_equal(catalog_lookup(&st, "mine/node:1", &i, err, sizeof(err)), 0);
	image_info_destroy(&i);
	assert_int_equal(catalog_remove(&st, "mine/node:1", err, sizeof(err)), 0);
	assert_int_equal(catalog_remove(&st, "mine/node:1", err, sizeof(err)), -ENOENT);
	assert_int_equal(catalog_gc(&st, &gs, err, sizeof(err)), 0);
	assert_int_equal(gs.rootfs, 2); /* .ext4 and .json */
	assert_int_equal(gs.blobs, 3);	/* manifest, config, layer */
	assert_false(store_has_blob(&st, md));
}

static void test_bad_user(void **state)
{
	(void)state;
	char md[DIGEST_STR_MAX];
	put_image(base_files, 6, "{\"User\":\"nobody\"}", md);
	assert_int_equal(
	    catalog_install(&st, "docker.io/library/u:1", md, NULL, NULL, err, sizeof(err)),
	    -ENOENT);
	assert_non_null(strstr(err, "no such user"));
	struct image_info i;
	assert_int_equal(catalog_lookup(&st, "u:1", &i, err, sizeof(err)), -ENOENT);
	/* nothing half-built is left in tmp/ */
	char tmpd[160];
	snprintf(tmpd, sizeof(tmpd), "%s/store/tmp", dir);
	assert_int_equal(rmdir(tmpd), 0); /* empty */
	assert_int_equal(mkdir(tmpd, 0700), 0);
}

static void test_resolve_user(void **state)
{
	(void)state;
	char root[128], p[160], home[64];
	snprintf(root, sizeof(root), "%s/root", dir);
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	FILE *f = fopen(p, "w");
	fputs("root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/srv/app:/bin/sh\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/etc/group", root);
	f = fopen(p, "w");
	fputs("root:x:0:\napp:x:2345:\nwheel:x:10:\n", f);
	fclose(f);
	int fd = open(root, O_RDONLY | O_DIRECTORY);
	unsigned u, g;
	assert_int_equal(
	    rootfs_resolve_user(fd, "app", &u, &g, home, sizeof(home), err, sizeof(err)), 0);
	assert_int_equal(u, 1234);
	assert_int_equal(g, 2345);
	assert_string_equal(home, "/srv/app");
	assert_int_equal(
	    rootfs_resolve_user(fd, "1234", &u, &g, home, sizeof(home), err, sizeof(err)), 0);
	assert_int_equal(g, 2345);
	assert_int_equal(
	    rootfs_resolve_user(fd, "app:wheel", &u, &g, home, sizeof(home), err, sizeof(err)), 0);
	assert_int_equal(g, 10);
	assert_int_equal(
	    rootfs_resolve_user(fd, "4242:77", &u, &g, home, sizeof(home), err, sizeof(err)), 0);
	assert_int_equal(u, 4242);
	assert_int_equal(g, 77);
	assert_int_equal(
	    rootfs_resolve_user(fd, "4242", &u, &g, home, sizeof(home), err, sizeof(err)), 0);
	assert_int_equal(g, 0); /* as Docker: no passwd entry, group 0 */
	assert_int_equal(
	    rootfs_resolve_user(fd, "ghost", &u, &g, home, sizeof(home), err, sizeof(err)),
	    -ENOENT);
	assert_int_equal(
	    rootfs_resolve_user(fd, "app:ghosts", &u, &g, home, sizeof(home), err, sizeof(err)),
	    -ENOENT);
	/* /etc/passwd as a symlink out of the tree is read inside it (RESOLVE_IN_ROOT) */
	unlink(p);
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	unlink(p);
	assert_int_equal(symlink("/../../../../etc/passwd", p), 0);
	assert_int_equal(
	    rootfs_resolve_user(fd, "root", &u, &g, home, sizeof(home), err, sizeof(err)), -ENOENT);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install_lookup),
	    cmocka_unit_test(test_bad_user),
	    cmocka_unit_test(test_resolve_user),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
