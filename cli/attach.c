/* flint's commands over an attached agent connection (flintd's Upgrade: flint-agent): exec, shell,
 * cp, and run through the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../image/catalog.h"
#include "cli.h"
#include "http.h"
#include "session.h"

#define ATTACH_TIMEOUT_MS 60000 /* for a sandbox: flintd connects to its running VM's agent */
#define HELLO_TIMEOUT_MS 30000
#define FILE_TIMEOUT_MS 120000 /* a file request's answer: the last chunk's fsync and rename */

static const char exec_usage[] =
	"usage: flint exec [options] NAME [--] COMMAND [ARG]...\n"
	"\n"
	"Runs COMMAND in the sandbox NAME with this terminal's stdout and stderr (apart), and\n"
	"stdin when it is not a terminal; exits with its status (128+n when signal n killed\n"
	"it; 125 when flint failed). With a terminal on stdin and stdout, or -t, it runs on a\n"
	"PTY that follows this terminal's size.\n"
	"\n"
	"  --env K=V         add to the command's environment (repeatable)\n"
	"  --workdir DIR     the command's working directory (absolute)\n"
	"  --user USER       root (default), sandbox or UID:GID\n"
	"  --timeout S       kill the command after S seconds\n"
	"  -t, --tty         run on a PTY even when this is no terminal\n";

static const char shell_usage[] =
	"usage: flint shell [options] NAME [-- SHELL [ARG]...]\n"
	"\n"
	"An interactive shell (default /bin/sh) in the sandbox NAME on a PTY: this terminal is\n"
	"raw while it runs, its size follows, and it is restored on exit. Exits with the\n"
	"shell's status.\n"
	"\n"
	"  --workdir DIR     the shell's working directory (absolute)\n"
	"  --user USER       root (default), sandbox or UID:GID\n";

static const char cp_usage[] =
	"usage: flint cp SRC DST\n"
	"\n"
	"Copies one file into or out of a sandbox: one of SRC and DST is NAME:/PATH, the other\n"
	"a local path, or - for stdin or stdout. A DST that is a directory (or ends in /) gets\n"
	"SRC's file name. The permission bits (0777) are kept; setuid, setgid and sticky bits\n"
	"are not. Directories are refused (tar them). The file is streamed, never held whole,\n"
	"and replaces DST atomically on both sides. Exits 1 when the copy failed, 125 when\n"
	"flint did.\n";

/*
 * An agent connection through flintd to target ("/sandboxes/NAME/attach", "/run/attach?...").
 * 0 with c ready; -ECONNREFUSED without a message when nothing listens and quiet_unreachable;
 * otherwise CLI_FAILURE after a message prefixed with what.
 */
static int attach(const struct daemon_cfg *cfg, const char *what, const char *target,
		  int timeout_ms, bool quiet_unreachable, struct agent_client *c, char **settings)
{
	struct upgrade_result r;
	char msg[512];
	int fd = upgrade_connect(&cfg->u, target, cfg->key, timeout_ms, &r);
	if (fd < 0) {
		if (r.unreachable && quiet_unreachable)
			return -ECONNREFUSED;
		if (r.unreachable)
			http_unreachable_text(cfg, r.err, msg, sizeof(msg));
		else if (r.status)
			http_error_text(r.status, r.reason, r.body, r.body_len, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "flintd at %s: %s", cfg->url, r.err);
		upgrade_result_free(&r);
		cli_err("%s: %s", what, msg);
		return CLI_FAILURE;
	}
	if (settings)
		*settings = r.settings;
	else
		free(r.settings);
	r.settings = NULL;
	int e = agent_client_init(c, fd, "flint-cli", HELLO_TIMEOUT_MS);
	if (e < 0) {
		if (settings) {
			free(*settings);
			*settings = NULL;
		}
		cli_err("%s: the VM's agent did not answer: %s", what,
			agent_client_last_error(c)[0] ? agent_client_last_error(c) : strerror(-e));
		return CLI_FAILURE;
	}
	return 0;
}

/*
 * The image's run settings from flintd (the Flint-Image-Settings header) under the command's own:
 * its Env below cmd->env, its WorkingDir and User unless given, and its Entrypoint + Cmd when
 * there is no command. 0, or CLI_FAILURE after a message.
 */
#define APPLY_MAX 512
struct image_apply {
	json_t *j;
	const char *env[APPLY_MAX + CLI_ENV_MAX + 1];
	const char *argv[APPLY_MAX + 1];
};

/* A JSON array of strings as pointers into it (non-strings skipped); false when over max. */
static bool apply_strv(json_t *arr, char **out, size_t max, size_t *n)
{
	size_t i;
	json_t *v;
	*n = 0;
	if (json_array_size(arr) > max)
		return false;
	json_array_foreach(arr, i, v)
	{
		if (json_string_value(v))
			out[(*n)++] = (char *)json_string_value(v);
	}
	return true;
}

/* The same merging as direct mode (image/catalog.h), over the settings flintd sent. */
static int apply_settings(const char *what, char *settings, struct session_cmd *cmd,
			  struct image_apply *a)
{
	a->j = NULL;
	if (!settings) {
		if (!cmd->argv || !cmd->argv[0]) {
			cli_err("%s: no command given, and the image has no default one", what);
			return CLI_FAILURE;
		}
		return 0;
	}
	json_error_t je;
	a->j = json_loads(settings, 0, &je);
	free(settings);
	if (!json_is_object(a->j)) {
		cli_err("%s: flintd sent unreadable image settings", what);
		return CLI_FAILURE;
	}
	char *env[APPLY_MAX], *ep[APPLY_MAX], *cm[APPLY_MAX];
	struct image_runcfg rc = {.env = env, .entrypoint = ep, .cmd = cm};
	if (!apply_strv(json_object_get(a->j, "env"), env, APPLY_MAX, &rc.nenv) ||
	    !apply_strv(json_object_get(a->j, "entrypoint"), ep, APPLY_MAX, &rc.nentrypoint) ||
	    !apply_strv(json_object_get(a->j, "cmd"), cm, APPLY_MAX, &rc.ncmd)) {
		cli_err("%s: the image's Env, Entrypoint or Cmd holds more than %d entries", what,
			APPLY_MAX);
		return CLI_FAILURE;
	}
	size_t nover = 0;
	while (cmd->env && cmd->env[nover])
		nover++;
	image_env_merge(&rc, cmd->env, nover, a->env);
	cmd->env = a->env;
	if (!cmd->cwd)
		cmd->cwd = json_string_value(json_object_get(a->j, "working_dir"));
	if (!cmd->user)
		cmd->user = json_string_value(json_object_get(a->j, "uid_gid"));
	if (!cmd->argv || !cmd->argv[0]) {
		if (!image_default_argv(&rc, a->argv, APPLY_MAX + 1)) {
			cli_err(
			    "%s: the image has no Entrypoint or Cmd, or more than %d of them: give "
			    "a command after --",
			    what, APPLY_MAX);
			return CLI_FAILURE;
		}
		cmd->argv = (char **)a->argv;
	}
	return 0;
}

/* "/sandboxes/NAME/attach"; false after a message. */
static bool sandbox_target(const char *cmd, const char *name, char *out, size_t cap)
{
	char esc[256];
	if (!name[0] || flint_url_escape(name, esc, sizeof(esc)) < 0) {
		cli_err("%s: '%s' is not a sandbox name", cmd, name);
		return false;
	}
	snprintf(out, cap, "/sandboxes/%s/attach", esc);
	return true;
}

/* Attach to sandbox NAME and run cmd there: the exit status. */
static int exec_in(const char *what, const char *name, const struct session_cmd *cmd)
{
	struct daemon_cfg cfg;
	struct agent_client c;
	char target[320];
	if (!sandbox_target(what, name, target, sizeof(target)) || daemon_cfg_load(&cfg) < 0)
		return CLI_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	char *settings = NULL;
	int r = attach(&cfg, what, target, ATTACH_TIMEOUT_MS, false, &c, &settings);
	if (r)
		return r;
	struct session_cmd ic = *cmd;
	struct image_apply *a = calloc(1, sizeof(*a));
	if (!a || apply_settings(what, settings, &ic, a) != 0) {
		if (!a)
			free(settings);
		else
			json_decref(a->j);
		free(a);
		agent_client_destroy(&c);
		return CLI_FAILURE;
	}
	c.timeout_ms = -1;
	int status = session_exec(&c, &ic);
	agent_client_destroy(&c);
	json_decref(a->j);
	free(a);
	return status;
}

/* The user's TERM goes with a PTY: the terminal the command draws on is this one. */
static void add_term(const char **env, unsigned *nenv)
{
	const char *term = getenv("TERM");
	static char kv[128];
	if (!term || !term[0] || strlen(term) > 100 || *nenv >= CLI_ENV_MAX)
		return;
	for (unsigned i = 0; i < *nenv; i++)
		if (strncmp(env[i], "TERM=", 5) == 0)
			return;
	snprintf(kv, sizeof(kv), "TERM=%s", term);
	env[(*nenv)++] = kv;
	env[*nenv] = NULL;
}

/* exec's and shell's common options; 1 when taken (*i moved), 0 when not one, -1 on error. */
static int common_opt(const char *cmd, int argc, char **argv, int *i, struct session_cmd *sc,
		      const char **env, unsigned *nenv)
{
	const char *a = argv[*i], *v;
	bool is_exec = strcmp(cmd, "exec") == 0;
	if (strcmp(a, "--workdir") != 0 && strcmp(a, "--user") != 0 &&
	    !(is_exec && (strcmp(a, "--env") == 0 || strcmp(a, "--timeout") == 0)))
		return 0;
	if (!(v = cli_value(cmd, argc, argv, i)))
		return -1;
	if (strcmp(a, "--workdir") == 0) {
		if (v[0] != '/') {
			cli_err("%s: --workdir %s: give an absolute path", cmd, v);
			return -1;
		}
		sc->cwd = v;
	} else if (strcmp(a, "--user") == 0) {
		if (!cli_user_ok(v)) {
			cli_err("%s: --user %s: give root, sandbox or UID:GID", cmd, v);
			return -1;
		}
		sc->user = v;
	} else if (strcmp(a, "--env") == 0) {
		if (!cli_add_env(cmd, v, env, nenv))
			return -1;
	} else if (!cli_parse_uint(v, 1, 7 * 24 * 3600, &sc->timeout_s)) {
		cli_err("%s: --timeout %s: give whole seconds, at least 1", cmd, v);
		return -1;
	}
	return 1;
}

int cmd_exec(int argc, char **argv)
{
	static const char *env[CLI_ENV_MAX + 2];
	unsigned nenv = 0;
	struct session_cmd sc = { .env = NULL };
	const char *name = NULL;
	bool tty = false;
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(exec_usage, stdout);
			return 0;
		}
		if (strcmp(a, "-t") == 0 || strcmp(a, "--tty") == 0) {
			tty = true;
			continue;
		}
		int r = common_opt("exec", argc, argv, &i, &sc, env, &nenv);
		if (r < 0)
			return CLI_FAILURE;
		if (r > 0)
			continue;
		if (a[0] == '-') {
			cli_err("exec: unknown option '%s' (flint exec --help lists them)", a);
			return CLI_FAILURE;
		}
		if (name)
			break; /* the command, without a "--" before it */
		name = a;
	}
	if (!name || i >= argc) {
		cli_err("exec: %s (flint exec [options] NAME -- COMMAND [ARG]...)",
			name ? "no command given" : "no sandbox NAME given");
		return CLI_FAILURE;
	}
	sc.argv = argv + i;
	sc.pty = tty || (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO));
	/* A terminal is forwarded only to a PTY: otherwise a command would wait for typing. */
	sc.stdin = sc.pty || !isatty(STDIN_FILENO);
	if (sc.pty)
		add_term(env, &nenv);
	sc.env = nenv ? env : NULL;
	return exec_in("exec", name, &sc);
}

int cmd_shell(int argc, char **argv)
{
	static const char *env[2];
	static char *dflt[] = { "/bin/sh", NULL };
	unsigned nenv = 0;
	struct session_cmd sc = { .argv = dflt, .pty = true, .stdin = true };
	const char *name = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				sc.argv = argv + i + 1;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(shell_usage, stdout);
			return 0;
		}
		int r = common_opt("shell", argc, argv, &i, &sc, env, &nenv);
		if (r < 0)
			return CLI_FAILURE;
		if (r > 0)
			continue;
		if (a[0] == '-' || name) {
			cli_err("shell: unexpected '%s' (flint shell [options] NAME [-- SHELL])",
				a);
			return CLI_FAILURE;
		}
		name = a;
	}
	if (!name) {
		cli_err("shell: no sandbox NAME given (flint shell [options] NAME [-- SHELL])");
		return CLI_FAILURE;
	}
	add_term(env, &nenv);
	sc.env = nenv ? env : NULL;
	return exec_in("shell", name, &sc);
}

/* ---- cp -------------------------------------------------------------------------------------- */

struct cp_end {
	const char *arg;
	char name[128]; /* the sandbox, when remote */
	const char *path;
	bool remote;
};

/* NAME:/PATH is remote when NAME has no '/' (so ./a:b is a local file). */
static bool cp_end_parse(const char *arg, struct cp_end *e)
{
	memset(e, 0, sizeof(*e));
	e->arg = arg;
	e->path = arg;
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return true;
	if ((size_t)(colon - arg) >= sizeof(e->name)) {
		cli_err("cp: %s: the sandbox name is too long", arg);
		return false;
	}
	memcpy(e->name, arg, (size_t)(colon - arg));
	e->path = colon + 1;
	e->remote = true;
	if (e->path[0] != '/') {
		cli_err("cp: %s: give an absolute path after '%s:'", arg, e->name);
		return false;
	}
	return true;
}

/* dir + "/" + the last component of src, into out (src's trailing '/'s ignored). */
static bool join_base(const char *dir, const char *src, char *out, size_t cap)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", src);
	const char *base = basename(tmp);
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (!base[0] || strcmp(base, "/") == 0 || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0)
		return false;
	return snprintf(out, cap, "%.*s/%s", (int)dl, dir, base) < (int)cap;
}

static int cp_fail(struct agent_client *c, const char *what, int e)
{
	const char *m = agent_client_last_error(c);
	cli_err("cp: %s: %s", what, m[0] ? m : strerror(-e));
	return 1;
}

static int cp_in(struct agent_client *c, const struct cp_end *src, const struct cp_end *dst)
{
	char path[PATH_MAX];
	int fd = STDIN_FILENO;
	uint32_t mode = 0644;
	if (strcmp(src->path, "-") != 0) {
		fd = open(src->path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) {
			cli_err("cp: %s: %s", src->path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			cli_err("cp: %s is a directory: flint cp copies files (tar a tree and copy "
				"that)",
				src->path);
			close(fd);
			return 1;
		}
		mode = st.st_mode & 0777;
	}
	snprintf(path, sizeof(path), "%s", dst->path);
	struct agent_stat st;
	size_t dl = strlen(dst->path);
	bool into_dir = dst->path[dl - 1] == '/' ||
			(agent_client_file_stat(c, dst->path, &st) == 0 && st.type == AGENT_FT_DIR);
	int status = 1;
	if (into_dir && (strcmp(src->path, "-") == 0 ||
			 !join_base(dst->path, src->path, path, sizeof(path)))) {
		cli_err("cp: %s is a directory, and %s gives no file name", dst->arg, src->arg);
		goto out;
	}
	int e = agent_client_file_write_fd(c, path, fd, mode);
	status = e < 0 ? cp_fail(c, path, e) : 0;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}

static int cp_out(struct agent_client *c, const struct cp_end *src, const struct cp_end *dst)
{
	struct agent_stat st;
	int e = agent_client_file_stat(c, src->path, &st);
	if (e < 0)
		return cp_fail(c, src->arg, e);
	if (st.type == AGENT_FT_DIR) {
		cli_err("cp: %s is a directory: flint cp copies files (tar a tree and copy that)",
			src->arg);
		return 1;
	}
	if (strcmp(dst->path, "-") == 0) {
		e = agent_client_file_read(c, src->path, STDOUT_FILENO, NULL);
		return e < 0 ? cp_fail(c, src->arg, e) : 0;
	}
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s", dst->path);
	struct stat ls;
	size_t dl = strlen(dst->path);
	if ((dst->path[dl - 1] == '/' || (stat(dst->path, &ls) == 0 && S_ISDIR(ls.st_mode))) &&
	    !join_base(dst->path, src->path, path, sizeof(path))) {
		cli_err("cp: %s: the name is too long", dst->arg);
		return 1;
	}
	/* Beside the target, then renamed over it: a reader never sees a partial file. */
	char dirbuf[PATH_MAX], basebuf[PATH_MAX];
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	snprintf(basebuf, sizeof(basebuf), "%s", path);
	snprintf(tmp, sizeof(tmp), "%s/.%s.flint-XXXXXX", dirname(dirbuf), basename(basebuf));
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		cli_err("cp: %s: %s", path, strerror(errno));
		return 1;
	}
	e = agent_client_file_read(c, src->path, fd, NULL);
	if (e < 0) {
		cp_fail(c, src->arg, e);
	} else if (fchmod(fd, st.mode & 0777) != 0 || rename(tmp, path) != 0) {
		cli_err("cp: %s: %s", path, strerror(errno));
		e = -errno;
	}
	if (close(fd) != 0 && e == 0) {
		cli_err("cp: %s: %s", path, strerror(errno));
		e = -EIO;
	}
	if (e < 0)
		unlink(tmp);
	return e < 0 ? 1 : 0;
}

int cmd_cp(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(cp_usage, stdout);
		return 0;
	}
	int first = argc > 1 && strcmp(argv[1], "--") == 0 ? 2 : 1;
	if (argc - first != 2) {
		cli_err("cp: give SRC and DST, one of them NAME:/PATH (flint cp --help)");
		return CLI_FAILURE;
	}
	struct cp_end src, dst;
	if (!cp_end_parse(argv[first], &src) || !cp_end_parse(argv[first + 1], &dst))
		return CLI_FAILURE;
	if (src.remote == dst.remote) {
		if (src.remote)
			cli_err("cp: both ends are in sandboxes: copy through a local file");
		else
			cli_err("cp: neither end is in a sandbox (NAME:/PATH)");
		return CLI_FAILURE;
	}
	if (!src.path[0] || !dst.path[0]) {
		cli_err("cp: an empty path");
		return CLI_FAILURE;
	}
	const struct cp_end *remote = src.remote ? &src : &dst;
	struct daemon_cfg cfg;
	struct agent_client c;
	char target[320];
	if (!sandbox_target("cp", remote->name, target, sizeof(target)) ||
	    daemon_cfg_load(&cfg) < 0)
		return CLI_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	int r = attach(&cfg, "cp", target, ATTACH_TIMEOUT_MS, false, &c, NULL);
	if (r)
		return r;
	c.timeout_ms = FILE_TIMEOUT_MS;
	int status = src.remote ? cp_out(&c, &src, &dst) : cp_in(&c, &src, &dst);
	if (status && c.dead)
		status = CLI_FAILURE; /* the connection, not the copy, failed */
	agent_client_destroy(&c);
	return status;
}

/* ---- run ------------------------------------------------------------------------------------- */

int daemon_run(const struct run_opts *o)
{
	struct daemon_cfg cfg;
	struct agent_client c;
	if (daemon_cfg_load(&cfg) < 0)
		return CLI_FAILURE;
	unsigned long boot_s = 600;
	const char *bt = getenv("FLINT_BOOT_TIMEOUT");
	if (bt && !cli_parse_uint(bt, 1, 86400, &boot_s)) {
		cli_err("FLINT_BOOT_TIMEOUT=%s: give whole seconds", bt);
		return CLI_FAILURE;
	}
	char target[1024] = "/run/attach?", esc[768];
	size_t n = strlen(target);
	if (o->image) {
		if (flint_url_escape(o->image, esc, sizeof(esc)) < 0) {
			cli_err("run: --image: too long");
			return CLI_FAILURE;
		}
		n += (size_t)snprintf(target + n, sizeof(target) - n, "image=%s&", esc);
	}
	if (o->profile)
		n += (size_t)snprintf(target + n, sizeof(target) - n, "profile=%s&", o->profile);
	snprintf(target + n, sizeof(target) - n, "fast=%s", o->no_fast ? "false" : "true");

	char *settings = NULL;
	int r = attach(&cfg, "run", target, (int)(boot_s * 1000), !cfg.url_set, &c, &settings);
	if (r)
		return r;
	cli_progress("running in a one-shot VM of flintd at %s", cfg.url);
	c.timeout_ms = -1;
	struct session_cmd cmd = { .argv = o->argv,
				   .env = o->nenv ? o->env : NULL,
				   .cwd = o->workdir,
				   .user = o->user,
				   .timeout_s = o->timeout_s,
				   .pty = isatty(STDIN_FILENO),
				   .stdin = true };
	struct image_apply *a = calloc(1, sizeof(*a));
	if (!a || apply_settings("run", settings, &cmd, a) != 0) {
		if (!a)
			free(settings);
		else
			json_decref(a->j);
		free(a);
		agent_client_destroy(&c);
		return CLI_FAILURE;
	}
	int status = session_exec(&c, &cmd);
	agent_client_destroy(&c);
	json_decref(a->j);
	free(a);
	return status;
}
