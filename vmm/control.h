/* The control socket (--control PATH): lifecycle commands from a supervisor, one JSON line each. */
#ifndef FLINT_CONTROL_H
#define FLINT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evloop.h"

#define CONTROL_LINE_MAX    256u /* a command line's bytes before its '\n' */
#define CONTROL_CLIENTS_MAX 8u	 /* clients served at once; more are accepted and closed */
#define CONTROL_REPLY_MAX   640u /* the longest reply line (status: 560 bytes), '\n' included */
#define CONTROL_ECHO_MAX    32u	 /* bytes of an unknown command quoted back */
#define CONTROL_PATH_MAX    107u /* sun_path (108) less its NUL */
#define CONTROL_DENIED_MAX  96u	 /* net_last_denied's bytes, its NUL included */

/* ---- the pure part: parsing a line and formatting its reply (unit-tested) ------------------ */

enum control_cmd { CONTROL_PING, CONTROL_STATUS, CONTROL_STOP, CONTROL_UNKNOWN };

/* What `status` reports; filled by the owner's info hook. */
struct control_info {
	pid_t pid;
	uint64_t uptime_ms;
	unsigned vcpus;
	uint64_t mem_mib;
	int64_t cid;	 /* -1: no vsock device (null) */
	int64_t boot_ms; /* flint-vmm start to the guest's READY event; -1: not yet (null) */
	bool has_net;	 /* false: no network device, every net_ key is null */
	uint64_t net_rx_packets, net_rx_bytes, net_tx_packets, net_tx_bytes;
	uint64_t net_rx_dropped, net_tx_dropped, net_denied;
	/* The latest denial by the egress policy; "" (null): none. Sent like an unknown command
	 * is quoted back (printable ASCII, others, '"' and '\\' as '?'), up to its NUL and at most
	 * CONTROL_DENIED_MAX - 1 bytes. */
	char net_last_denied[CONTROL_DENIED_MAX];
};

/* One line without its '\n' (a trailing '\r' is ignored). Exact, case-sensitive names. */
enum control_cmd control_parse(const char *line, size_t len);

/*
 * The reply to cmd as one JSON line ending in '\n', into out (at least CONTROL_REPLY_MAX
 * bytes). line/len is the command as received, quoted back for CONTROL_UNKNOWN: printable
 * ASCII only (others, '"' and '\\' become '?'), at most CONTROL_ECHO_MAX bytes. info is read
 * only for CONTROL_STATUS. Returns the reply's length.
 */
size_t control_reply(enum control_cmd cmd, const char *line, size_t len,
		     const struct control_info *info, char *out, size_t cap);

/* The reply to a line longer than CONTROL_LINE_MAX; the client is then closed. */
size_t control_reply_too_long(char *out, size_t cap);

/* ---- the socket, served from the event loop -------------------------------------------------- */

struct control_hooks {
	void *ctx;
	void (*info)(void *ctx, struct control_info *info);
	/* End the VM cleanly (status 0); called after the reply has been written. */
	void (*stop)(void *ctx);
};

struct control_client {
	int fd; /* -1: free slot */
	struct control *ctl;
	char in[CONTROL_LINE_MAX + 1]; /* room for the longest line and its '\n' */
	size_t in_len;
	char out[CONTROL_REPLY_MAX];
	size_t out_off, out_len; /* pending reply bytes: out[out_off, out_len) */
	bool closing;		 /* close once out is written */
};

struct control {
	char path[CONTROL_PATH_MAX + 1];
	int listen_fd;
	bool bound;	     /* path is ours: removed at destroy */
	bool listen_watched; /* in the event loop (off while out of fds) */
	struct evloop *loop;
	struct control_hooks hooks;
	struct control_client client[CONTROL_CLIENTS_MAX];
};

/*
 * Listen on path (mode 0600; a stale socket left by a dead flint-vmm is replaced, a live one
 * or any other file is an error) and serve clients from loop. 0, or -errno after one message;
 * control_destroy is safe after a failure.
 */
int control_init(struct control *c, const char *path, struct evloop *loop,
		 const struct control_hooks *hooks);
/* Close every client and the listener, and remove path. */
void control_destroy(struct control *c);

#endif
