/* The flint CLI: subcommands share these helpers. */
#ifndef FLINT_CLI_H
#define FLINT_CLI_H

#include <stdbool.h>

/* Each subcommand: argv[0] is its name. Returns the process exit status. */
int cmd_run(int argc, char **argv);

/* "flint: <message>" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress for people: printed only when stderr is a terminal. */
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A whole decimal number in [min, max]; false otherwise. */
bool cli_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

extern const char *cli_argv0;

#endif
