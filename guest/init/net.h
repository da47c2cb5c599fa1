/* The VM's network: hostname, loopback, and eth0 from flint.net= on the kernel command line. */
#ifndef FLINT_INIT_NET_H
#define FLINT_INIT_NET_H

#include <stddef.h>

#define NET_HOSTNAME "flint"

/*
 * Set the hostname, bring lo up (127.0.0.1/8) and, when the command line has flint.net=, give
 * eth0 its address, MTU and default route, up, and /etc/resolv.conf its nameserver (call after
 * the overlay root is mounted). Failures are logged, not fatal.
 */
void net_setup(const char *cmdline, size_t len);

#endif
