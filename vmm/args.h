/* flint-vmm's command line: parsing and validation, with no side effects (unit-tested). */
#ifndef FLINT_ARGS_H
#define FLINT_ARGS_H

#include <stddef.h>

#include <stdbool.h>

#include "config.h"

enum args_result { ARGS_OK = 0, ARGS_HELP = 1, ARGS_VERSION = 2, ARGS_ERROR = -1 };

/*
 * Parse argv into cfg (pointers into argv are kept). On ARGS_ERROR, err holds
 * one sentence naming the bad option or value. Applies defaults.
 */
enum args_result args_parse(struct vm_config *cfg, int argc, char *const argv[], char *err,
			    size_t errlen);

/*
 * --net's value into n (args_net.c): 0, or -1 with one sentence in err. spec is written into
 * (split at its commas). In user mode it fills in the guest's fixed addressing.
 */
int args_parse_net(struct net_config *n, char *spec, char *err, size_t errlen);

extern const char args_usage[];

#endif
