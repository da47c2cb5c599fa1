/* The VM's network identity: hostname and the loopback interface. */
#include "net.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"

void net_setup(void)
{
	struct ifreq ifr;
	int fd;

	if (sethostname(NET_HOSTNAME, strlen(NET_HOSTNAME)) != 0)
		console_log("sethostname: %s", strerror(errno));

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		console_log("socket: %s", strerror(errno));
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	/*
	 * IFF_UP alone is enough: when a loopback device comes up, the kernel
	 * adds 127.0.0.1/8 to it itself (inetdev_event, NETDEV_UP), so a
	 * SIOCSIFADDR + SIOCSIFNETMASK would be two syscalls for nothing. And
	 * no SIOCGIFFLAGS first: lo's other flags (LOOPBACK) are not ours to
	 * change, and the kernel keeps them whatever we pass.
	 */
	ifr.ifr_flags = IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		console_log("lo up: %s", strerror(errno));
	close(fd);
}
