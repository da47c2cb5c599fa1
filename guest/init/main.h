/* Program-wide names and exit codes shared by the flint-init modules. */
#ifndef FLINT_INIT_MAIN_H
#define FLINT_INIT_MAIN_H

#define INIT_NAME "flint-init"

/* argv[1] that selects the host test mode (only honoured when not PID 1). */
#define INIT_TEST_FLAG "--test-oneshot"
/* The agent on the host: --agent-unix PATH [--ready-unix PATH], PID 1 of a namespace or not. */
#define INIT_AGENT_UNIX_FLAG "--agent-unix"
#define INIT_READY_UNIX_FLAG "--ready-unix"
/* Environment variable that stands in for /proc/cmdline in test mode. */
#define INIT_TEST_CMDLINE_ENV "FLINT_TEST_CMDLINE"

/*
 * Our other kernel parameter (flint.run= is FLINT_CMDLINE_RUN in flint_port.h):
 * an ext4 block device for the writable layer, e.g. flint.scratch=/dev/vdb.
 */
#define INIT_CMDLINE_SCRATCH "flint.scratch="
/*
 * flint.rootro=1: no writable layer; the VM keeps the read-only root disk, with tmpfs /tmp
 * (a quarter of RAM) and /run. An unreadable value means read-only too (fail closed).
 */
#define INIT_CMDLINE_ROOTRO "flint.rootro="
/*
 * flint.image=/dev/vdN: an OCI image's root filesystem (ext4, read-only). It replaces the boot
 * disk as the overlay's lower layer; flint-init itself stays PID 1 from the boot disk, so no image
 * needs to contain it. See docs/images.md.
 */
#define INIT_CMDLINE_IMAGE "flint.image="

/* Shell conventions, so a one-shot status reads like `sh -c` would report it. */
#define INIT_EXIT_NOEXEC 126   /* found but could not be executed */
#define INIT_EXIT_NOTFOUND 127 /* not found, or flint.run= was unusable */
#define INIT_EXIT_SIGNAL_BASE 128

#endif
