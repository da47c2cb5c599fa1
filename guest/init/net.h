/* The VM's network identity: hostname and the loopback interface. */
#ifndef FLINT_INIT_NET_H
#define FLINT_INIT_NET_H

#define NET_HOSTNAME "flint"

/* Set the hostname and bring lo up (127.0.0.1/8). Failures are logged, not fatal. */
void net_setup(void);

#endif
