/* The flint CLI: subcommands share these helpers. */
#ifndef FLINT_CLI_H
#define FLINT_CLI_H

#include <stdbool.h>

/* flint itself failed (bad options, no daemon, an HTTP error), as docker run says it. */
#define CLI_FAILURE 125
#define CLI_ENV_MAX 256

/* Each subcommand: argv[0] is its name. Returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* flint doctor: exits 0, 1 when this host cannot run a VM, 2 on a bad option. */
int cmd_doctor(int argc, char **argv);
/* flint image: the local image store (image/). */
int cmd_image(int argc, char **argv);

/* flint run's options, parsed by run.c; the daemon path (attach.c) takes them too. */
struct run_opts {
	unsigned long mem_mib, cpus, timeout_s;
	const char *env[CLI_ENV_MAX + 1];
	unsigned nenv;
	const char *workdir, *user;
	bool verbose;
	/* Daemon mode: the image name, the profile, and whether a warm VM may be taken. */
	const char *image, *profile;
	bool no_fast;
	bool direct;	  /* --direct: never ask a daemon */
	bool direct_only; /* --mem, --cpus, --net or -v: options only direct mode honours */
	const char *net;  /* --net: flint-vmm's --net value */
	char **argv;
};

/*
 * flint run through flintd (POST /run/attach): the command's exit status, or -ECONNREFUSED when
 * no daemon answered at the default address (the caller then boots the VM itself).
 */
int daemon_run(const struct run_opts *o);

/* "flint: <message>" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress for people: printed only when stderr is a terminal. */
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A --user value: root, sandbox, or numeric UID:GID (what the agent's USER takes). */
bool cli_user_ok(const char *v);

/* A whole decimal number in [min, max]; false otherwise. */
bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* argv[*i] is an option that takes a value: the value, with *i moved onto it; or NULL after
 * "CMD: OPTION needs a value". */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* "K=V" with a non-empty K, appended to env (at most CLI_ENV_MAX); false after a message. */
bool cli_add_env(const char *cmd, const char *kv, const char **env, unsigned *nenv);

extern const char *cli_argv0;

#endif
