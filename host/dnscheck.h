/* Can this host reach the resolver VMs' DNS goes to? flint doctor and flintd ask once. */
#ifndef FLINT_HOST_DNSCHECK_H
#define FLINT_HOST_DNSCHECK_H

#include <stdint.h>

struct dnscheck {
	char server[32]; /* "ADDR:PORT", or "" when none was found */
	char why[160];	 /* what is wrong, for people; "" when reachable */
};

/*
 * spec is "ADDR[:PORT]" (flintd's --net-dns) or NULL for the host's first IPv4 nameserver in
 * /etc/resolv.conf, as flint-vmm picks it. 0 when a UDP connect to it succeeds (that sends
 * nothing: it fails just when the host has no route), -1 with c->why otherwise.
 */
int dnscheck_probe(const char *spec, struct dnscheck *c);

#endif
