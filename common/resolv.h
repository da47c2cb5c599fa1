/* resolv.conf as flint reads it: flint-vmm's DNS forwarder and flint doctor must agree on it. */
#ifndef FLINT_RESOLV_H
#define FLINT_RESOLV_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The first IPv4 nameserver in resolv.conf text: 0 with *addr (host order), or -1. */
static inline int resolv_first_ipv4(const char *text, uint32_t *addr)
{
	const char *line = text;
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char buf[128], word[16], ip[64];
		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = '\0';
			struct in_addr a;
			if (sscanf(buf, " %15s %63s", word, ip) == 2 && strcmp(word, "nameserver") == 0 &&
			    inet_pton(AF_INET, ip, &a) == 1) {
				*addr = ntohl(a.s_addr);
				return 0;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return -1;
}

#endif
