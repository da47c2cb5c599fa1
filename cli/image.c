/* flint image: pull, import, list, tag, remove and garbage-collect images in the local store. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../image/catalog.h"
#include "../image/pull.h"
#include "cli.h"

static const char image_usage[] =
    "usage: flint image COMMAND [options]\n"
    "\n"
    "  pull [options] REF       fetch REF from its registry and make it runnable\n"
    "      --tag NAME               also name it NAME\n"
    "      --insecure-registry H    speak plain HTTP to registry H (host[:port]; repeatable)\n"
    "      --registry-mirror R=URL  fetch registry R's images from URL (repeatable;\n"
    "                               docker.io=http://127.0.0.1:5000)\n"
    "      --auth-file F            credentials, Docker's config.json format\n"
    "  import PATH [--tag NAME]     an OCI layout directory, an oci-archive or a docker save\n"
    "                               tarball\n"
    "  ls [--json]                  installed images\n"
    "  inspect REF                  an image's digest, size and run settings (JSON)\n"
    "  tag SRC NAME                 give an image another name\n"
    "  rm REF...                    remove names; unused data goes (as with gc)\n"
    "  gc                           remove blobs and filesystems no name uses\n"
    "\n"
    "The store is $FLINT_STATE_DIR/images (default ~/.local/state/flint/images), shared with\n"
    "flintd. FLINT_INSECURE_REGISTRIES and FLINT_REGISTRY_MIRRORS (comma-separated) and\n"
    "FLINT_AUTH_FILE stand in for the options. See docs/images.md.\n";

#define IMAGE_OPT_MAX	16
#define IMAGE_NAMES_MAX 64

static int image_open(struct store *s)
{
	char dir[STORE_PATH_MAX], err[512];
	if (store_default_dir(dir, sizeof(dir)) != 0) {
		cli_err("image: no store directory: set FLINT_STATE_DIR or HOME");
		return -1;
	}
	if (store_open(s, dir, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		return -1;
	}
	return 0;
}

/* Progress on a terminal only: one line rewritten in place. */
struct image_tty {
	bool on;
	double last;
};

static double image_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void image_pull_progress(void *ctx, const struct pull_progress *p)
{
	struct image_tty *t = ctx;
	if (!t->on)
		return;
	double now = image_now();
	bool end = p->cached || (p->total && p->done == p->total);
	if (!end && now - t->last < 0.1)
		return;
	t->last = now;
	char which[32] = "";
	if (p->layers)
		snprintf(which, sizeof(which), "layer %u/%u ", p->layer, p->layers);
	if (p->cached)
		fprintf(stderr, "\r\033[K%s%.19s: already here", which, p->what);
	else if (p->total)
		fprintf(stderr, "\r\033[K%s%.19s: %.1f/%.1f MB", which, p->what,
			(double)p->done / 1e6, (double)p->total / 1e6);
	else
		fprintf(stderr, "\r\033[K%s%.19s: %.1f MB", which, p->what, (double)p->done / 1e6);
	if (end)
		fputc('\n', stderr);
}

static void image_line(void *ctx, const char *line)
{
	struct image_tty *t = ctx;
	if (t->on)
		fprintf(stderr, "\r\033[K%s\n", line);
}

static int image_cmd_pull(int argc, char **argv)
{
	const char *insecure[IMAGE_OPT_MAX], *mirrors[IMAGE_OPT_MAX], *ref = NULL, *tag = NULL;
	struct registry_opts o = {0};
	struct registry_env env;
	size_t ni = 0, nm = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (a[0] != '-') {
			if (ref) {
				cli_err("image pull: one image at a time (%s, then %s)", ref, a);
				return 2;
			}
			ref = a;
			continue;
		}
		if (!(v = cli_value("image pull", argc, argv, &i)))
			return 2;
		if (!strcmp(a, "--tag")) {
			tag = v;
		} else if (!strcmp(a, "--insecure-registry") && ni < IMAGE_OPT_MAX) {
			insecure[ni++] = v;
		} else if (!strcmp(a, "--registry-mirror") && nm < IMAGE_OPT_MAX) {
			if (!strchr(v, '=')) {
				cli_err("image pull: --registry-mirror %s: give REGISTRY=URL", v);
				return 2;
			}
			mirrors[nm++] = v;
		} else if (!strcmp(a, "--auth-file")) {
			o.auth_file = v;
		} else {
			cli_err("image pull: unknown option '%s' (flint image --help)", a);
			return 2;
		}
	}
	if (!ref) {
		cli_err("image pull: give an image (flint image pull debian:bookworm)");
		return 2;
	}
	if (registry_opts_from_env(&o, &env) != 0) {
		cli_err(
		    "image pull: FLINT_INSECURE_REGISTRIES or FLINT_REGISTRY_MIRRORS is too long");
		return 2;
	}
	if (ni) {
		o.insecure = insecure;
		o.ninsecure = ni;
	}
	if (nm) {
		o.mirrors = mirrors;
		o.nmirrors = nm;
	}
	struct image_tty t = {.on = isatty(STDERR_FILENO)};
	o.progress = image_pull_progress;
	o.progress_ctx = &t;
	struct store s;
	struct image_info info;
	char err[1024];
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	double t0 = image_now();
	if (image_pull(&s, ref, tag, &o, image_line, &t, &info, err, sizeof(err)) != 0) {
		cli_err("image pull %s: %s", ref, err);
		return CLI_FAILURE;
	}
	printf("%s %s (%u layers, %.1f MB, %.1f s)\n", info.name, info.digest, info.layers,
	       (double)info.content_bytes / 1e6, image_now() - t0);
	image_info_destroy(&info);
	return 0;
}

static int image_import_cmd(int argc, char **argv)
{
	const char *path = NULL, *tag = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tag")) {
			if (!(tag = cli_value("image import", argc, argv, &i)))
				return 2;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_err("image import: unknown option '%s' (flint image --help)", argv[i]);
			return 2;
		} else if (path) {
			cli_err("image import: one archive at a time");
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		cli_err("image import: give an OCI layout directory or an image tarball");
		return 2;
	}
	struct store s;
	struct image_tty t = {.on = isatty(STDERR_FILENO)};
	char err[1024], names[IMAGE_NAMES_MAX][REF_STR_MAX];
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	int n =
	    image_import(&s, path, tag, image_line, &t, names, IMAGE_NAMES_MAX, err, sizeof(err));
	if (n < 0) {
		cli_err("image import %s: %s", path, err);
		return CLI_FAILURE;
	}
	for (int i = 0; i < n && i < IMAGE_NAMES_MAX; i++) {
		struct image_info info;
		if (catalog_lookup(&s, names[i], &info, err, sizeof(err)) == 0) {
			printf("%s %s (%u layers, %.1f MB)\n", info.name, info.digest, info.layers,
			       (double)info.content_bytes / 1e6);
			image_info_destroy(&info);
		}
	}
	return 0;
}

static void image_json_strv(json_t *o, const char *key, char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	json_object_set_new(o, key, a);
}

static json_t *image_json(const struct image_info *i)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:I}", "name", i->name, "digest",
			      i->digest, "rootfs", i->rootfs, "size", (json_int_t)i->content_bytes,
			      "disk_bytes", (json_int_t)i->rootfs_bytes, "layers", (int)i->layers,
			      "created", (json_int_t)i->created);
	json_t *c = json_object();
	image_json_strv(c, "env", i->cfg.env, i->cfg.nenv);
	image_json_strv(c, "entrypoint", i->cfg.entrypoint, i->cfg.nentrypoint);
	image_json_strv(c, "cmd", i->cfg.cmd, i->cfg.ncmd);
	json_object_set_new(c, "working_dir", i->cfg.cwd ? json_string(i->cfg.cwd) : json_null());
	json_object_set_new(c, "user",
			    i->cfg.user_name ? json_string(i->cfg.user_name) : json_null());
	json_object_set_new(c, "uid_gid", i->cfg.user ? json_string(i->cfg.user) : json_null());
	json_object_set_new(o, "config", c);
	return o;
}

static int image_ls(int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	if (argc > 2 || (argc == 2 && !json)) {
		cli_err("image ls: the only option is --json");
		return 2;
	}
	struct store s;
	struct image_info *v;
	size_t n;
	char err[512];
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	if (catalog_list(&s, &v, &n, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		return CLI_FAILURE;
	}
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, image_json(&v[i]));
		char *txt = json_dumps(a, JSON_INDENT(2));
		puts(txt ? txt : "[]");
		free(txt);
		json_decref(a);
	} else {
		printf("%-48s %-19s %10s %6s\n", "NAME", "DIGEST", "SIZE", "LAYERS");
		for (size_t i = 0; i < n; i++)
			printf("%-48s %.19s %8.1fMB %6u\n", v[i].name, v[i].digest,
			       (double)v[i].content_bytes / 1e6, v[i].layers);
	}
	catalog_list_free(v, n);
	return 0;
}

static int image_inspect(int argc, char **argv)
{
	if (argc != 2) {
		cli_err("image inspect: give one image");
		return 2;
	}
	struct store s;
	struct image_info info;
	char err[512];
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	if (catalog_lookup(&s, argv[1], &info, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		return CLI_FAILURE;
	}
	json_t *o = image_json(&info);
	char *txt = json_dumps(o, JSON_INDENT(2));
	puts(txt ? txt : "{}");
	free(txt);
	json_decref(o);
	image_info_destroy(&info);
	return 0;
}

static int image_tag(int argc, char **argv)
{
	struct store s;
	char err[512];
	if (argc != 3) {
		cli_err("image tag: give SRC and NAME");
		return 2;
	}
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	if (catalog_tag(&s, argv[1], argv[2], err, sizeof(err)) != 0) {
		cli_err("image tag: %s", err);
		return CLI_FAILURE;
	}
	return 0;
}

static int image_gc_report(const struct store *s, bool quiet)
{
	struct catalog_gc_stats st;
	char err[512];
	if (catalog_gc(s, &st, err, sizeof(err)) != 0) {
		cli_err("image gc: %s", err);
		return CLI_FAILURE;
	}
	if (!quiet || st.blobs || st.rootfs)
		printf("removed %u blobs, %u root filesystems, %u temporary files: %.1f MB freed\n",
		       st.blobs, st.rootfs, st.tmp, (double)st.bytes / 1e6);
	return 0;
}

static int image_rm(int argc, char **argv)
{
	struct store s;
	char err[512];
	int rc = 0;
	if (argc < 2) {
		cli_err("image rm: give one or more images");
		return 2;
	}
	if (image_open(&s) != 0)
		return CLI_FAILURE;
	for (int i = 1; i < argc; i++) {
		if (catalog_remove(&s, argv[i], err, sizeof(err)) != 0) {
			cli_err("image rm: %s", err);
			rc = CLI_FAILURE;
		} else {
			printf("removed %s\n", argv[i]);
		}
	}
	if (image_gc_report(&s, true) != 0)
		rc = CLI_FAILURE;
	return rc;
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(image_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *c = argv[1];
	if (!strcmp(c, "pull"))
		return image_cmd_pull(argc - 1, argv + 1);
	if (!strcmp(c, "import"))
		return image_import_cmd(argc - 1, argv + 1);
	if (!strcmp(c, "ls") || !strcmp(c, "list"))
		return image_ls(argc - 1, argv + 1);
	if (!strcmp(c, "inspect"))
		return image_inspect(argc - 1, argv + 1);
	if (!strcmp(c, "tag"))
		return image_tag(argc - 1, argv + 1);
	if (!strcmp(c, "rm"))
		return image_rm(argc - 1, argv + 1);
	if (!strcmp(c, "gc")) {
		struct store s;
		if (argc != 2) {
			cli_err("image gc takes no arguments");
			return 2;
		}
		return image_open(&s) != 0 ? CLI_FAILURE : image_gc_report(&s, false);
	}
	cli_err("image: unknown command '%s' (flint image --help)", c);
	return 2;
}
