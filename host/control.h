/* The client side of flint-vmm's control socket (--control PATH; docs/control-protocol.md). */
#ifndef FLINT_HOST_CONTROL_H
#define FLINT_HOST_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_CMD_MAX	   256u /* a command's bytes, as flint-vmm accepts them */
#define CONTROL_DENIED_MAX 96u	/* net_last_denied's bytes, its NUL included, as flint-vmm sends */

/*
 * Connect to the control socket at path, send cmd (one line, no '\n' in it) and read the one
 * reply line. 0 with the reply, NUL-terminated and without its '\n', in reply (cap bytes);
 * or -errno: -ENOENT or -ECONNREFUSED when no flint-vmm listens there (any more),
 * -ETIMEDOUT when the whole exchange took longer than timeout_ms, -ECONNRESET when flint-vmm
 * closed without a full line (it is stopping, or has 8 clients already), -EMSGSIZE when the
 * reply does not fit, -EINVAL for a bad cmd. Never raises SIGPIPE, never sleeps.
 */
int control_request(const char *path, const char *cmd, char *reply, size_t cap, int timeout_ms);

/* `status`, parsed. Fields flint-vmm reports as null are -1. */
struct control_status {
	char state[16];
	int64_t pid;
	int64_t uptime_ms;
	int64_t vcpus;
	int64_t mem_mib;
	int64_t cid;	 /* -1: the VM has no vsock device */
	int64_t boot_ms; /* flint-vmm's start to the guest's READY; -1: not ready yet */
	/* The network device's counters; -1: the VM has no --net (or flint-vmm predates them). */
	int64_t net_rx_packets, net_rx_bytes; /* to the guest */
	int64_t net_tx_packets, net_tx_bytes; /* from the guest */
	int64_t net_rx_dropped, net_tx_dropped;
	int64_t net_denied; /* connections and packets the egress policy refused */
	/* The latest of them, e.g. "tcp 192.168.1.5:443 (private range)"; "": none, or no --net. */
	char net_last_denied[CONTROL_DENIED_MAX];
};

/*
 * Parse a `status` reply line: one flat JSON object, keys as documented, values unsigned
 * integers, null, true/false or strings without escapes; unknown keys of those kinds are
 * skipped. The net_ keys may be missing (an older flint-vmm): -1 and "". 0, or -EPROTO for
 * anything else (including "ok":false, a missing field, or a net_last_denied too long).
 */
int control_parse_status(const char *line, struct control_status *st);

/* control_request(path, "status") then control_parse_status: 0 or -errno as they return. */
int control_status(const char *path, struct control_status *st, int timeout_ms);

#endif
