/* flint: the command-line front end. Subcommands are a table, so daemon-mode ones slot in. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FLINT_VERSION
#define FLINT_VERSION "0.1.0"
#endif

const char *cli_argv0 = "flint";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "run", cmd_run, "run a command in a fresh microVM, then destroy it" },
	{ "create", cmd_create, "create and start a named sandbox (flintd)" },
	{ "exec", cmd_exec, "run a command in a sandbox (flintd)" },
	{ "shell", cmd_shell, "an interactive shell in a sandbox (flintd)" },
	{ "cp", cmd_cp, "copy a file into or out of a sandbox (flintd)" },
	{ "ls", cmd_ls, "list sandboxes (flintd)" },
	{ "rm", cmd_rm, "remove sandboxes (flintd)" },
	{ "logs", cmd_logs, "a sandbox's audit log (flintd)" },
	{ "serve", cmd_serve, "run flintd, the daemon, in the foreground" },
	{ "image", cmd_image, "pull, import, list and remove images (docs/images.md)" },
	{ "doctor", cmd_doctor, "check that this host can run flint's microVMs" },
};

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("flint: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void cli_progress(const char *fmt, ...)
{
	if (!isatty(STDERR_FILENO))
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("flint: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_user_ok(const char *v)
{
	if (!strcmp(v, "root") || !strcmp(v, "sandbox"))
		return true;
	const char *colon = strchr(v, ':');
	unsigned long u;
	char id[16];
	if (!colon || (size_t)(colon - v) >= sizeof(id))
		return false;
	memcpy(id, v, (size_t)(colon - v));
	id[colon - v] = '\0';
	return cli_parse_uint(id, 0, 0xfffffffeUL, &u) && cli_parse_uint(colon + 1, 0, 0xfffffffeUL, &u);
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		cli_err("%s: %s needs a value", cmd, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

bool cli_add_env(const char *cmd, const char *kv, const char **env, unsigned *nenv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		cli_err("%s: --env %s: give KEY=VALUE", cmd, kv);
		return false;
	}
	if (*nenv == CLI_ENV_MAX) {
		cli_err("%s: at most %d --env", cmd, CLI_ENV_MAX);
		return false;
	}
	env[(*nenv)++] = kv;
	env[*nenv] = NULL;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flint COMMAND [options]\n\ncommands:\n");
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n'flint COMMAND --help' describes each one. The daemon's commands reach flintd\n"
		"at FLINT_URL (default http://127.0.0.1:18888) with FLINT_API_KEY.\n");
}

int main(int argc, char **argv)
{
	cli_argv0 = argv[0];
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("flint %s\n", FLINT_VERSION);
		return 0;
	}
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	cli_err("unknown command '%s' (flint --help lists them)", argv[1]);
	return 2;
}
