/* The guest kernel command line: what flint-vmm tells Linux and flint-init. */
#ifndef FLINT_CMDLINE_H
#define FLINT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The flags that make our patched kernel run on a PVM host (see docs/hosts.md). */
#define CMDLINE_PVM_FLAGS \
	"no_int3_selftest no_fwait_drop noxsave clearcpuid=popcnt,smap,cx16 pvm_syscall_fixup"

/*
 * Build the command line for cfg into out (cap bytes, NUL-terminated): console,
 * root disk, flint_port, one virtio_mmio.device= per device, the PVM flags when
 * pvm, the network as flint.net= (--net with a guest address), the one-shot command as
 * flint.run=<base64url>, then cfg->cmdline_extra.
 * Returns 0, or -E2BIG when it does not fit (with a message naming the cause).
 */
int cmdline_build(char *out, size_t cap, const struct vm_config *cfg, bool pvm, unsigned nr_mmio);

/* RFC 4648 base64url without padding. Returns the length written (excluding NUL), or -1 if cap is too small. */
int base64url_encode(char *out, size_t cap, const unsigned char *in, size_t len);

#endif
