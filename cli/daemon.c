/* flint's daemon commands that are plain JSON calls (create, ls, rm, logs), and serve. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "http.h"

#define NAME_ESC_MAX 256 /* a sandbox name, percent-encoded */

static const char create_usage[] =
	"usage: flint create NAME [options]\n"
	"\n"
	"Creates and starts the sandbox NAME in flintd (POST /sandboxes) and prints its name.\n"
	"\n"
	"  --image I         image name (the daemon's default when not given)\n"
	"  --mem MIB         memory in MiB\n"
	"  --cpus N          vCPUs\n"
	"  --profile P       permissive, moderate or restrictive\n"
	"  --label K=V       a label (repeatable)\n"
	"  --port H:G        publish guest port G on host port H (repeatable)\n";

static const char ls_usage[] =
	"usage: flint ls [--json] [--label K:V]\n"
	"\n"
	"Lists flintd's sandboxes: NAME STATUS IMAGE VCPUS MEM CREATED, or\n"
	"the API's JSON array with --json. --label shows only those with it.\n";

static const char rm_usage[] =
	"usage: flint rm NAME...\n"
	"\n"
	"Stops and removes sandboxes, printing each name removed. Removing one\n"
	"that does not exist is not an error.\n";

static const char logs_usage[] =
	"usage: flint logs [--json] NAME\n"
	"\n"
	"Prints the sandbox's audit log, one entry per line (time, type, then\n"
	"the entry's other fields as key=value), or the API's JSON with --json.\n";

static const char serve_usage[] =
	"usage: flint serve [flintd options]\n"
	"\n"
	"Runs flintd in the foreground with these options: the flintd beside flint, or\n"
	"$FLINT_FLINTD. flintd's own options follow when it is found.\n";

static bool is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* A name for a path segment: false after a message. */
static bool escape_name(const char *cmd, const char *name, char *out, size_t cap)
{
	if (!name[0] || flint_url_escape(name, out, cap) < 0) {
		cli_err("%s: '%s' is not a sandbox name", cmd, name);
		return false;
	}
	return true;
}

/* Load the configuration and call; CLI_FAILURE after a message on failure. */
static int call(const char *what, const char *method, const char *path, json_t *body,
		json_t **data)
{
	struct daemon_cfg cfg;
	struct http_error e;
	if (daemon_cfg_load(&cfg) < 0)
		return CLI_FAILURE;
	if (http_json(&cfg, method, path, body, data, &e) < 0) {
		cli_err("%s: %s", what, e.msg);
		return CLI_FAILURE;
	}
	return 0;
}

/* Print a JSON value on one line; 0, or CLI_FAILURE when stdout failed. */
static int print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (s)
		puts(s);
	free(s);
	return fflush(stdout) == 0 && s ? 0 : CLI_FAILURE;
}

int cmd_create(int argc, char **argv)
{
	const char *name = NULL;
	json_t *body = json_object(), *labels = json_object(), *ports = json_array();
	int status = CLI_FAILURE;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (is_help(a)) {
			fputs(create_usage, stdout);
			status = 0;
			goto out;
		}
		if (a[0] != '-') {
			if (name) {
				cli_err("create: one NAME only ('%s' and '%s')", name, a);
				goto out;
			}
			name = a;
			continue;
		}
		if (!(v = cli_value("create", argc, argv, &i)))
			goto out;
		unsigned long n;
		if (strcmp(a, "--image") == 0 || strcmp(a, "--profile") == 0) {
			json_object_set_new(body, a + 2, json_string(v));
		} else if (strcmp(a, "--mem") == 0 || strcmp(a, "--cpus") == 0) {
			if (!cli_parse_uint(v, 1, 1u << 30, &n)) {
				cli_err("create: %s %s: give a whole number", a, v);
				goto out;
			}
			json_object_set_new(body, a[2] == 'm' ? "memory_mb" : "vcpus",
					    json_integer((json_int_t)n));
		} else if (strcmp(a, "--label") == 0) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v) {
				cli_err("create: --label %s: give KEY=VALUE", v);
				goto out;
			}
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
			json_object_set_new(labels, key, json_string(eq + 1));
		} else if (strcmp(a, "--port") == 0) {
			if (!strchr(v, ':')) {
				cli_err("create: --port %s: give HOST_PORT:GUEST_PORT", v);
				goto out;
			}
			json_array_append_new(ports, json_string(v));
		} else {
			cli_err("create: unknown option '%s' (flint create --help lists them)", a);
			goto out;
		}
	}
	if (!name) {
		cli_err("create: no NAME given (flint create NAME [options])");
		goto out;
	}
	json_object_set_new(body, "name", json_string(name));
	if (json_object_size(labels))
		json_object_set(body, "labels", labels);
	if (json_array_size(ports))
		json_object_set(body, "ports", ports);
	json_t *data = NULL;
	status = call("create", "POST", "/sandboxes", body, &data);
	if (status == 0) {
		const char *got = json_string_value(json_object_get(data, "name"));
		printf("%s\n", got ? got : name);
	}
	json_decref(data);
out:
	json_decref(ports);
	json_decref(labels);
	json_decref(body);
	return status;
}

/* A table cell: the string, the integer (with a suffix), or "-". */
static void cell(json_t *o, const char *key, const char *suffix, char *out, size_t cap)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		snprintf(out, cap, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, cap, "%lld%s", (long long)json_integer_value(v), suffix);
	else
		snprintf(out, cap, "-");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			*p = '?';
}

int cmd_ls(int argc, char **argv)
{
	bool raw = false;
	const char *label = NULL;
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(ls_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			raw = true;
		} else if (strcmp(argv[i], "--label") == 0) {
			if (!(label = cli_value("ls", argc, argv, &i)))
				return CLI_FAILURE;
		} else {
			cli_err("ls: unexpected '%s' (flint ls --help)", argv[i]);
			return CLI_FAILURE;
		}
	}
	char path[512] = "/sandboxes";
	if (label) {
		char esc[384];
		if (!strchr(label, ':') || flint_url_escape(label, esc, sizeof(esc)) < 0) {
			cli_err("ls: --label %s: give KEY:VALUE", label);
			return CLI_FAILURE;
		}
		snprintf(path, sizeof(path), "/sandboxes?label=%s", esc);
	}
	json_t *data = NULL;
	int status = call("ls", "GET", path, NULL, &data);
	if (status)
		return status;
	if (raw || !json_is_array(data)) {
		status = print_json(data ? data : json_array());
		json_decref(data);
		return status;
	}
	static const char *const cols[] = { "NAME", "STATUS", "IMAGE", "VCPUS", "MEM", "CREATED" };
	static const char *const keys[] = { "name", "status", "image", "vcpus", "memory_mb",
					    "created_at" };
	enum { NCOL = 6 };
	size_t n = json_array_size(data);
	char(*cells)[NCOL][128] = calloc(n ? n : 1, sizeof(*cells));
	int width[NCOL];
	for (int c = 0; c < NCOL; c++)
		width[c] = (int)strlen(cols[c]);
	for (size_t r = 0; cells && r < n; r++) {
		for (int c = 0; c < NCOL; c++) {
			cell(json_array_get(data, r), keys[c], c == 4 ? "M" : "", cells[r][c],
			     sizeof(cells[r][c]));
			int w = (int)strlen(cells[r][c]);
			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t r = 0; cells && r <= n; r++) {
		for (int c = 0; c < NCOL; c++) {
			const char *s = r == 0 ? cols[c] : cells[r - 1][c];
			if (c < NCOL - 1)
				printf("%-*s  ", width[c], s);
			else
				printf("%s\n", s);
		}
	}
	status = cells && fflush(stdout) == 0 ? 0 : CLI_FAILURE;
	free(cells);
	json_decref(data);
	return status;
}

int cmd_rm(int argc, char **argv)
{
	int first = 1;
	if (argc > 1 && is_help(argv[1])) {
		fputs(rm_usage, stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		cli_err("rm: no NAME given (flint rm NAME...)");
		return CLI_FAILURE;
	}
	int status = 0;
	for (int i = first; i < argc; i++) {
		char esc[NAME_ESC_MAX], path[NAME_ESC_MAX + 16], what[128];
		if (!escape_name("rm", argv[i], esc, sizeof(esc))) {
			status = CLI_FAILURE;
			continue;
		}
		snprintf(path, sizeof(path), "/sandboxes/%s", esc);
		snprintf(what, sizeof(what), "rm %s", argv[i]);
		json_t *data = NULL;
		if (call(what, "DELETE", path, NULL, &data) == 0)
			printf("%s\n", argv[i]);
		else
			status = CLI_FAILURE;
		json_decref(data);
	}
	return status;
}

/* One audit entry: "TIMESTAMP TYPE key=value...", values of other types as compact JSON. */
static void print_entry(json_t *e)
{
	if (!json_is_object(e)) {
		print_json(e);
		return;
	}
	char ts[128], type[128];
	cell(e, "timestamp", "", ts, sizeof(ts));
	cell(e, "type", "", type, sizeof(type));
	printf("%s %s", ts, type);
	const char *k;
	json_t *v;
	json_object_foreach(e, k, v)
	{
		if (strcmp(k, "timestamp") == 0 || strcmp(k, "type") == 0)
			continue;
		char *s = json_is_string(v) ? strdup(json_string_value(v)) :
					      json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		for (char *p = s; p && *p; p++)
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				*p = '?';
		printf(" %s=%s", k, s ? s : "?");
		free(s);
	}
	putchar('\n');
}

int cmd_logs(int argc, char **argv)
{
	bool raw = false;
	const char *name = NULL;
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(logs_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			raw = true;
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			cli_err("logs: unexpected '%s' (flint logs --help)", argv[i]);
			return CLI_FAILURE;
		}
	}
	char esc[NAME_ESC_MAX], path[NAME_ESC_MAX + 16];
	if (!name) {
		cli_err("logs: no NAME given (flint logs NAME)");
		return CLI_FAILURE;
	}
	if (!escape_name("logs", name, esc, sizeof(esc)))
		return CLI_FAILURE;
	snprintf(path, sizeof(path), "/sandboxes/%s/logs", esc);
	json_t *data = NULL;
	int status = call("logs", "GET", path, NULL, &data);
	if (status)
		return status;
	if (raw || !json_is_array(data)) {
		status = print_json(data ? data : json_array());
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(data, i, e)
		{
			print_entry(e);
		}
		status = fflush(stdout) == 0 ? 0 : CLI_FAILURE;
	}
	json_decref(data);
	return status;
}

int cmd_serve(int argc, char **argv)
{
	char path[PATH_MAX];
	const char *env = getenv("FLINT_FLINTD");
	if (env && env[0]) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		/* build/flint sits beside build/flintd. */
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 8);
		if (n <= 0)
			n = snprintf(path, sizeof(path) - 8, "%s", cli_argv0);
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		strcpy(slash ? slash + 1 : path, "flintd");
	}
	bool help = argc > 1 && is_help(argv[1]);
	if (help) {
		fputs(serve_usage, stdout);
		fflush(stdout);
		if (access(path, X_OK) != 0)
			return 0;
		putchar('\n');
		fflush(stdout);
	}
	argv[0] = path;
	execv(path, argv);
	cli_err("serve: cannot run %s: %s (make build/flintd builds it; FLINT_FLINTD names "
		"another)",
		path, strerror(errno));
	return CLI_FAILURE;
}
