/*
 * A sandbox's network as flintd describes it: the profile's mode, forwarded ports, and the
 * flint-vmm `--net` option built from them. Pure functions (jansson only), unit-tested.
 */
#ifndef FLINTD_NETSPEC_H
#define FLINTD_NETSPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "validate.h"

/* restrictive: no device; moderate: NAT, private ranges and the host refused; permissive: NAT
 * with the host's loopback reachable at the gateway address. */
enum vm_net { VM_NET_NONE, VM_NET_NAT, VM_NET_NAT_HOST };

#define VM_PORTS_MAX	 32u  /* forwarded ports per sandbox (flint-vmm allows as many) */
#define NET_ALLOW_MAX	 32u  /* --net-allow entries (flint-vmm's allow= limit) */
#define NET_ARG_MAX	 16384u /* the longest --net value flintd builds */
#define NETSPEC_PORT_STR 40u  /* "255.255.255.255:65535:65535/tcp" and its NUL */

/* The guest's side of user-mode NAT (flint-vmm's fixed plan, docs/networking.md). */
#define NET_GUEST_ADDR "10.0.2.15"
#define NET_GUEST_CIDR "10.0.2.15/24"
#define NET_GATEWAY    "10.0.2.2"
#define NET_DNS	       "10.0.2.3"

/* Settings for every VM this flintd starts (--net-dns, --net-allow); fixed after startup. */
struct net_globals {
	const char *dns;		     /* ADDR[:PORT], NULL: the host's resolver */
	const char *allow[NET_ALLOW_MAX];    /* CIDRs and host names; none: everything public */
	unsigned nallow;
};

const char *netspec_mode_name(enum vm_net m); /* "none", "nat", "nat+host" */
/* The inverse of netspec_mode_name: 0, or -EINVAL. */
int netspec_mode_parse(const char *s, enum vm_net *m);
/* The mode a profile gets: restrictive none, moderate nat, permissive nat+host; -EINVAL else. */
int netspec_for_profile(const char *profile, enum vm_net *m);

/* A port map as flintd keeps it: the host address defaulted to 127.0.0.1. */
void netspec_port_normalize(struct port_map *pm);
/* "127.0.0.1:8080:80/tcp" (port_map_parse reads it back); out has NETSPEC_PORT_STR bytes. */
void netspec_port_format(const struct port_map *pm, char *out);
/* Whether two forwards would claim the same host socket (same port; same address or 0.0.0.0). */
bool netspec_ports_clash(const struct port_map *a, const struct port_map *b);

/* --net-allow: an IPv4 address, ADDR/PREFIX (0-32) or a host name (LDH labels, ≤ 253). */
bool netspec_allow_valid(const char *s);
/* --net-dns: an IPv4 address with an optional :PORT (1-65535). */
bool netspec_dns_valid(const char *s);

/*
 * The value of flint-vmm's --net for this VM into out: "user[,host-access=on][,dns=...]
 * [,allow=...]...[,hostfwd=tcp:ADDR:H-:G]...". 0; -EINVAL for VM_NET_NONE (no option at all) or
 * too many ports; -ENOSPC when it does not fit.
 */
int netspec_arg(enum vm_net m, const struct port_map *ports, unsigned nports,
		const struct net_globals *g, char *out, size_t cap);

/*
 * SandboxInfo's "network": {"mode", "interface", "address", "gateway", "dns", "host_access",
 * "allow" (only with --net-allow), "ports": [{"host_ip", "host_port", "guest_port",
 * "protocol"}]}; for mode none just
 * {"mode": "none", "interface": null, "ports": []}. A new reference, NULL on allocation failure.
 */
json_t *netspec_info(enum vm_net m, const struct port_map *ports, unsigned nports,
		     const struct net_globals *g);

#endif
