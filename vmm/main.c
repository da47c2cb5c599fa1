/* flint-vmm: parse the command line, build the VM, run it, exit with its status. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "log.h"
#include "trace.h"
#include "vm.h"

#ifndef FLINT_VERSION
#define FLINT_VERSION "0.1.0"
#endif

int main(int argc, char **argv)
{
	/* First: the boot trace measures from here. */
	trace_init(false);
	log_set_prog("flint-vmm");

	struct vm_config cfg;
	char err[256];
	switch (args_parse(&cfg, argc, argv, err, sizeof(err))) {
	case ARGS_HELP:
		fputs(args_usage, stdout);
		return 0;
	case ARGS_VERSION:
		printf("flint-vmm %s\n", FLINT_VERSION);
		return 0;
	case ARGS_ERROR:
		log_err("%s", err);
		return VM_EXIT_FAILURE;
	case ARGS_OK:
		break;
	}
	log_set_verbose(cfg.verbose);
	/* A reader that went away must cost us output, not the guest's exit status. */
	signal(SIGPIPE, SIG_IGN);
	if (cfg.boot_trace) {
		trace_init(true);
		trace_phase("vmm_start");
	}

	/* The VM is large (device state, rings of iovecs): keep it off the stack. */
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_err("out of memory");
		return VM_EXIT_FAILURE;
	}
	int status = VM_EXIT_FAILURE;
	if (vm_init(vm, &cfg) == 0)
		status = vm_run(vm);
	vm_destroy(vm);
	free(vm);
	fflush(stdout);
	return status;
}
