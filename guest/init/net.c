/* The VM's network: hostname, loopback, and eth0 as flint.net= describes it (no DHCP, no waiting). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmdline.h"
#include "console.h"
#include "flint_port.h"

#define NET_IF "eth0"
#define NET_RESOLV "/etc/resolv.conf"

static void net_sockaddr(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(addr);
	memcpy(sa, &sin, sizeof(sin));
}

static int net_ioctl(int fd, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(fd, req, ifr) == 0)
		return 0;
	console_log("%s %s: %s", NET_IF, what, strerror(errno));
	return -1;
}

/* resolv.conf on the writable overlay, replaced whole so no reader sees half of it. */
static void net_resolv(uint32_t dns)
{
	char text[64], ip[16];
	struct in_addr a = { htonl(dns) };
	int fd, n;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	n = snprintf(text, sizeof(text), "nameserver %s\n", ip);
	fd = open(NET_RESOLV ".flint", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) != 0 ||
	    rename(NET_RESOLV ".flint", NET_RESOLV) != 0)
		console_log("%s: %s", NET_RESOLV, strerror(errno));
}

static void net_eth0(int fd, const struct cmdline_net *n)
{
	struct ifreq ifr;
	struct rtentry rt;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, NET_IF, sizeof(NET_IF));
	net_sockaddr(&ifr.ifr_addr, n->addr);
	if (net_ioctl(fd, SIOCSIFADDR, &ifr, "address") != 0)
		return;
	net_sockaddr(&ifr.ifr_netmask, n->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> n->prefix));
	net_ioctl(fd, SIOCSIFNETMASK, &ifr, "netmask");
	ifr.ifr_mtu = (int)n->mtu;
	net_ioctl(fd, SIOCSIFMTU, &ifr, "mtu");
	/* Keep the flags the driver set (BROADCAST, MULTICAST); add UP. */
	if (net_ioctl(fd, SIOCGIFFLAGS, &ifr, "flags") != 0)
		return;
	ifr.ifr_flags |= IFF_UP;
	if (net_ioctl(fd, SIOCSIFFLAGS, &ifr, "up") != 0)
		return;
	if (n->gateway) {
		memset(&rt, 0, sizeof(rt));
		net_sockaddr(&rt.rt_dst, 0);
		net_sockaddr(&rt.rt_genmask, 0);
		net_sockaddr(&rt.rt_gateway, n->gateway);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		if (ioctl(fd, SIOCADDRT, &rt) != 0)
			console_log("default route: %s", strerror(errno));
	}
	if (n->dns)
		net_resolv(n->dns);
}

void net_setup(const char *cmdline, size_t len)
{
	struct cmdline_value v = cmdline_find(cmdline, len, FLINT_CMDLINE_NET);
	struct cmdline_net cfg;
	const char *err = NULL;
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
	if (v.found && cmdline_parse_net(v.ptr, v.len, &cfg, &err) != 0)
		console_log("%s: %s; %s stays down", FLINT_CMDLINE_NET, err, NET_IF);
	else if (v.found)
		net_eth0(fd, &cfg);
	close(fd);
}
