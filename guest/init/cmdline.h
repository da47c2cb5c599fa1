/* Pure parsing of the kernel command line and of the flint.run= argv encoding (no syscalls). */
#ifndef FLINT_INIT_CMDLINE_H
#define FLINT_INIT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* x86 COMMAND_LINE_SIZE is 2048; twice that leaves room without truncating anything real. */
#define CMDLINE_MAX 4096
/* Upper bound for the decoded argv blob: base64 yields 3 bytes per 4 characters. */
#define CMDLINE_RUN_MAX (CMDLINE_MAX / 4 * 3)
#define CMDLINE_MAX_ARGS 256

/* A parameter value inside the command line buffer: not NUL-terminated. */
struct cmdline_value {
	const char *ptr;
	size_t len;
	bool found;
};

/*
 * Look up parameter `key` ("flint.run"; a trailing '=' as in FLINT_CMDLINE_RUN
 * is ignored) the way the kernel splits its command line: whitespace
 * separated, double quotes group, a bare "--" ends the kernel's part. Only a whole parameter name matches ("xflint.run=" or a
 * quoted value containing "flint.run=" do not). The last occurrence wins,
 * as it does for kernel parameters. A bare "key" without '=' yields an
 * empty value.
 */
struct cmdline_value cmdline_find(const char *cmdline, size_t len, const char *key);

/*
 * Decode base64url (RFC 4648 section 5) without padding into out. Returns the
 * decoded length, or -1 if the input has a character outside the alphabet,
 * '=' padding, an impossible length, non-zero leftover bits, or does not fit.
 */
ssize_t cmdline_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/*
 * Split a blob of NUL-terminated strings into argv, which needs max_args + 1
 * slots: it ends with NULL and its entries point into buf. Returns argc
 * (>= 1), or -1 with *err set to a message for the console: empty blob,
 * unterminated last string, empty program name, or more than max_args strings.
 */
int cmdline_split_argv(char *buf, size_t len, char **argv, size_t max_args, const char **err);

/*
 * flint.run= value to argv: decode into buf (cap bytes) then split. Same
 * contract as cmdline_split_argv; decoding failures set *err too.
 */
int cmdline_decode_run(const char *val, size_t len, char *buf, size_t cap, char **argv,
		       size_t max_args, const char **err);

/* The guest's network from flint.net=ADDR/PREFIX,GATEWAY,DNS,MTU; addresses in host byte order. */
struct cmdline_net {
	uint32_t addr;
	unsigned prefix;
	uint32_t gateway, dns; /* 0: none (an empty field) */
	unsigned mtu;
};

/*
 * Parse a flint.net= value: four comma-separated fields, ADDR/PREFIX (prefix 1-32) required,
 * GATEWAY and DNS dotted quads or empty, MTU 68-65535. Returns 0, or -1 with *err set to a
 * message for the console.
 */
int cmdline_parse_net(const char *val, size_t len, struct cmdline_net *net, const char **err);
/*
 * A boolean parameter such as flint.rootro: 1 for "1", "y", "yes", "on", "true" or a bare key
 * ("flint.rootro"), 0 for "0", "n", "no", "off", "false" or an absent key, -1 for anything else
 * (the caller decides which way an unreadable value fails, and says so).
 */
int cmdline_bool(struct cmdline_value v);

/* Copy a value into dst as a C string; false if it (plus NUL) does not fit or holds a NUL. */
bool cmdline_value_copy(struct cmdline_value v, char *dst, size_t cap);

#endif
