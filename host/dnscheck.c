/* The resolver check behind flint doctor's dns line and flintd's one warning at start. */
#include "dnscheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resolv.h"

static int fail(struct dnscheck *c, const char *what, int e)
{
	snprintf(c->why, sizeof(c->why), "%s%s%s", what, e ? ": " : "", e ? strerror(e) : "");
	return -1;
}

int dnscheck_probe(const char *spec, struct dnscheck *c)
{
	memset(c, 0, sizeof(*c));
	uint32_t addr = 0;
	unsigned long port = 53;
	if (spec) {
		char ip[INET_ADDRSTRLEN];
		const char *colon = strchr(spec, ':');
		size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
		struct in_addr a;
		char *end = NULL;
		if (colon) {
			errno = 0;
			port = strtoul(colon + 1, &end, 10);
		}
		if (n >= sizeof(ip) || (colon && (errno || *end || port == 0 || port > 65535)))
			return fail(c, "not ADDR[:PORT]", 0);
		memcpy(ip, spec, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, &a) != 1)
			return fail(c, "not an IPv4 address", 0);
		addr = ntohl(a.s_addr);
	} else {
		char text[4096];
		int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(c, "cannot read /etc/resolv.conf", errno);
		ssize_t n = read(fd, text, sizeof(text) - 1);
		int e = errno;
		close(fd);
		if (n < 0)
			return fail(c, "cannot read /etc/resolv.conf", e);
		text[n] = '\0';
		if (resolv_first_ipv4(text, &addr) < 0)
			return fail(c, "no IPv4 nameserver in /etc/resolv.conf", 0);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(addr) };
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(c->server, sizeof(c->server), "%s:%lu", ip, port);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail(c, "no UDP socket", errno);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(s);
		return fail(c, c->server, e);
	}
	close(s);
	return 0;
}
