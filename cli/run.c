/* flint run: through flintd when one answers, else direct mode: boot a fresh VM, run one command
 * through its agent, destroy the VM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/agent/client.h"
#include "../host/launch.h"
#include "../image/catalog.h"
#include "cli.h"
#include "session.h"

static const char run_usage[] =
	"usage: flint run [options] -- COMMAND [ARG]...\n"
	"       flint run --image REF [options] [-- COMMAND [ARG]...]\n"
	"\n"
	"Runs COMMAND in a fresh microVM with this terminal's stdin, stdout and stderr (a PTY\n"
	"when stdin is a terminal), exits with its status (128+n when signal n killed it;\n"
	"125 when flint failed), and destroys the VM.\n"
	"\n"
	"When flintd answers at FLINT_URL (default http://127.0.0.1:18888) the VM is its\n"
	"one-shot VM; when nothing listens there, flint boots the VM itself (direct mode),\n"
	"unless FLINT_URL was set, which makes an unreachable daemon an error.\n"
	"\n"
	"  --timeout S       kill the command after S seconds\n"
	"  --env K=V         add to the command's environment (repeatable)\n"
	"  --workdir DIR     the command's working directory (absolute)\n"
	"  --user USER       root (default), sandbox or UID:GID\n"
	"  --image REF       an image: base (the default), a name from 'flint image ls'\n"
	"                    (docs/images.md), or in direct mode a root image file; the\n"
	"                    image's Env, WorkingDir and User apply, and without COMMAND its\n"
	"                    Entrypoint and Cmd run\n"
	"  --profile P       daemon: permissive, moderate or restrictive (ignored in direct mode)\n"
	"  --no-fast         daemon: boot a new VM rather than take a warm one\n"
	"  --direct          boot the VM here even when a daemon runs\n"
	"  --mem MB          guest memory (default 256); direct mode only, and selects it\n"
	"  --cpus N          vCPUs, 1-8 (default 1); direct mode only, and selects it\n"
	"  --net SPEC        a network: user[,hostfwd=tcp:H-:G][,allow=..][,host-access=on]\n"
	"                    or tap:IF[,ip=A/P,gw=A,dns=A] (docs/networking.md); direct mode\n"
	"                    only, and selects it (the daemon's profile decides there)\n"
	"  -v, --verbose     show the guest kernel's console on stderr; direct mode only\n"
	"\n"
	"FLINT_API_KEY is sent to the daemon. In direct mode FLINT_VMM, FLINT_KERNEL and\n"
	"FLINT_IMAGE override the files found beside flint; FLINT_BOOT_TIMEOUT (seconds,\n"
	"default 600) bounds the wait for the VM in both modes.\n";

#define IMAGE_ENV_MAX  256
#define IMAGE_ARGV_MAX 256

static struct agent_client client;

static int parse(int argc, char **argv, struct run_opts *o)
{
	*o = (struct run_opts){ .mem_mib = 256, .cpus = 1 };
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(run_usage, stdout);
			return 1;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose = o->direct_only = true;
			continue;
		}
		if (strcmp(a, "--no-fast") == 0) {
			o->no_fast = true;
			continue;
		}
		if (strcmp(a, "--direct") == 0) {
			o->direct = true;
			continue;
		}
		if (a[0] != '-')
			break; /* the command, without a "--" before it */
		const char *v = cli_value("run", argc, argv, &i);
		if (!v)
			return -1;
		if (strcmp(a, "--mem") == 0) {
			if (!cli_parse_uint(v, 32, 256 * 1024, &o->mem_mib)) {
				cli_err("run: --mem %s: give MiB from 32 to 262144", v);
				return -1;
			}
			o->direct_only = true;
		} else if (strcmp(a, "--cpus") == 0) {
			if (!cli_parse_uint(v, 1, 8, &o->cpus)) {
				cli_err("run: --cpus %s: give a number from 1 to 8", v);
				return -1;
			}
			o->direct_only = true;
		} else if (strcmp(a, "--net") == 0) {
			/* flint-vmm checks the value and says what is wrong with it. */
			if (!v[0]) {
				cli_err("run: --net: give user[,OPTION]... or tap:IF[,OPTION]...");
				return -1;
			}
			o->net = v;
			o->direct_only = true;
		} else if (strcmp(a, "--timeout") == 0) {
			if (!cli_parse_uint(v, 1, 7 * 24 * 3600, &o->timeout_s)) {
				cli_err("run: --timeout %s: give whole seconds, at least 1", v);
				return -1;
			}
		} else if (strcmp(a, "--env") == 0) {
			if (!cli_add_env("run", v, o->env, &o->nenv))
				return -1;
		} else if (strcmp(a, "--workdir") == 0) {
			if (v[0] != '/') {
				cli_err("run: --workdir %s: give an absolute path", v);
				return -1;
			}
			o->workdir = v;
		} else if (strcmp(a, "--user") == 0) {
			if (!cli_user_ok(v)) {
				cli_err("run: --user %s: give root, sandbox or UID:GID", v);
				return -1;
			}
			o->user = v;
		} else if (strcmp(a, "--image") == 0) {
			if (!v[0]) {
				cli_err("run: --image: give an image");
				return -1;
			}
			o->image = v;
		} else if (strcmp(a, "--profile") == 0) {
			if (strcmp(v, "permissive") != 0 && strcmp(v, "moderate") != 0 &&
			    strcmp(v, "restrictive") != 0) {
				cli_err("run: --profile %s: give permissive, moderate or "
					"restrictive",
					v);
				return -1;
			}
			o->profile = v;
		} else {
			cli_err("run: unknown option '%s' (flint run --help lists them)", a);
			return -1;
		}
	}
	if (i >= argc && !o->image) {
		cli_err("run: no command given (flint run [options] -- COMMAND [ARG]...)");
		return -1;
	}
	o->argv = argv + i;
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * An image from the store: its root filesystem, and its settings under the command's own:
 * --env over its Env, --workdir over its WorkingDir, --user over its User, COMMAND over its
 * Entrypoint + Cmd. *lock gets the store's shared lock, to hold until the VM has its disks
 * open: a gc meanwhile must not take the image away.
 */
static int run_image(const struct run_opts *o, struct image_info *info, struct session_cmd *cmd,
		     const char **env, const char **argv, int *lock)
{
	struct store s;
	char dir[STORE_PATH_MAX], err[1024] = "";
	if (store_default_dir(dir, sizeof(dir)) != 0 || store_open(&s, dir, err, sizeof(err)) != 0 ||
	    (*lock = catalog_lock(&s, false, err, sizeof(err))) < 0) {
		cli_err("run: --image %s: no image store (%s)", o->image, err);
		return -1;
	}
	if (catalog_lookup(&s, o->image, info, err, sizeof(err)) != 0) {
		cli_err("run: --image %s: %s (flint image pull %s fetches it)", o->image, err,
			o->image);
		return -1;
	}
	if (info->cfg.nenv > IMAGE_ENV_MAX ||
	    (!o->argv[0] && info->cfg.nentrypoint + info->cfg.ncmd > IMAGE_ARGV_MAX)) {
		cli_err("run: --image %s: its config has more than %d Env or %d Cmd entries",
			o->image, IMAGE_ENV_MAX, IMAGE_ARGV_MAX);
		return -1;
	}
	image_env_merge(&info->cfg, o->env, o->nenv, env);
	cmd->env = env;
	if (!cmd->cwd)
		cmd->cwd = info->cfg.cwd;
	if (!cmd->user)
		cmd->user = info->cfg.user;
	if (!o->argv[0]) {
		if (!image_default_argv(&info->cfg, argv, IMAGE_ARGV_MAX + 1)) {
			cli_err("run: %s has no Entrypoint or Cmd: give a command after --", info->name);
			return -1;
		}
		cmd->argv = (char **)argv;
	}
	return 0;
}

/* Boot the VM here: flint-vmm, its agent's ready connection, the command, then stop it. */
static int run_direct(const struct run_opts *o)
{
	struct launch_opts lo = { .mem_mib = (unsigned)o->mem_mib,
				  .cpus = (unsigned)o->cpus,
				  .verbose = o->verbose,
				  .net = o->net };
	launch_default_paths(&lo, cli_argv0);
	struct image_info info = { 0 };
	int store_lock = -1;
	const char *env[CLI_ENV_MAX + IMAGE_ENV_MAX + 2];
	const char *argv[IMAGE_ARGV_MAX + 1];
	struct session_cmd cmd = { .argv = o->argv,
				   .env = o->nenv ? o->env : NULL,
				   .cwd = o->workdir,
				   .user = o->user,
				   .timeout_s = o->timeout_s,
				   .pty = isatty(STDIN_FILENO),
				   .stdin = true };
	struct stat st;
	bool is_path = o->image && (o->image[0] == '/' || o->image[0] == '.');
	if (is_path && (stat(o->image, &st) != 0 || !S_ISREG(st.st_mode))) {
		cli_err("run: --image %s: no such root image file (give a file, or an image name "
			"from 'flint image ls')",
			o->image);
		return CLI_FAILURE;
	} else if (is_path) {
		lo.image = o->image; /* a root image file of flint's own kind */
	} else if (o->image && strcmp(o->image, "base") != 0) {
		if (run_image(o, &info, &cmd, env, argv, &store_lock) != 0) {
			catalog_unlock(store_lock);
			image_info_destroy(&info);
			return CLI_FAILURE;
		}
		lo.rootfs = info.rootfs;
	} else if (!o->argv[0]) {
		cli_err("run: the base image has no default command: give one after --");
		return CLI_FAILURE;
	}
	unsigned long boot_s = 600;
	const char *bt = getenv("FLINT_BOOT_TIMEOUT");
	if (bt && !cli_parse_uint(bt, 1, 86400, &boot_s)) {
		cli_err("FLINT_BOOT_TIMEOUT=%s: give whole seconds", bt);
		catalog_unlock(store_lock);
		image_info_destroy(&info);
		return CLI_FAILURE;
	}

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct launch l;
	int status = CLI_FAILURE;
	if (launch_start(&l, &lo) < 0)
		goto out;
	cli_progress("booting a microVM (%lu MiB, %lu vCPU)", o->mem_mib, o->cpus);
	int fd = launch_wait_ready(&l, (int)(boot_s * 1000));
	catalog_unlock(store_lock); /* flint-vmm has the image's disk open by now */
	store_lock = -1;
	if (fd < 0)
		goto out;
	if (agent_client_init(&client, fd, "flint", 30000) < 0) {
		cli_err("the agent did not answer: %s", agent_client_last_error(&client));
		goto out;
	}
	cli_progress("ready in %.3f s", seconds_since(&t0));
	client.timeout_ms = -1;
	status = session_exec(&client, &cmd);
	agent_client_destroy(&client);
out:
	launch_stop(&l, 2000);
	catalog_unlock(store_lock);
	image_info_destroy(&info);
	return status;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	int r = parse(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : CLI_FAILURE;
	signal(SIGPIPE, SIG_IGN);

	/* --mem, --cpus, --net and -v describe a VM booted here: they keep meaning direct mode. */
	if (!o.direct && o.direct_only && getenv("FLINT_URL") && getenv("FLINT_URL")[0]) {
		cli_err("run: --mem, --cpus, --net and -v apply to direct mode only: add --direct, "
			"or unset FLINT_URL");
		return CLI_FAILURE;
	}
	if (!o.direct && !o.direct_only) {
		int status = daemon_run(&o);
		if (status != -ECONNREFUSED)
			return status;
	}
	return run_direct(&o);
}
