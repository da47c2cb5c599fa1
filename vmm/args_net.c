/* --net's value: a backend and its options, checked here so flint-vmm never starts half-configured. */
#include "args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/backend.h"

#define USER_OPTS "hostfwd=, allow=, host-access=, dns=, mac=, mtu="
#define TAP_OPTS "ip=, gw=, dns=, mac=, mtu="

static int nfail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int nfail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A dotted IPv4 address (host byte order). */
static int parse_ip(const char *s, uint32_t *a)
{
	struct in_addr in;
	if (inet_pton(AF_INET, s, &in) != 1)
		return -1;
	*a = ntohl(in.s_addr);
	return 0;
}

/* A decimal number in [min, max], nothing else. */
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ADDR/PREFIX; a bare ADDR when bare_prefix is not 0 (then it is the prefix). */
static int parse_cidr(const char *s, uint32_t *a, unsigned *prefix, unsigned bare_prefix)
{
	char ip[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long p = bare_prefix;
	if (n >= sizeof(ip) || (!slash && !bare_prefix) ||
	    (slash && parse_num(slash + 1, 0, 32, &p) < 0))
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	*prefix = (unsigned)p;
	return parse_ip(ip, a);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[3 * i]) || !isxdigit((unsigned char)s[3 * i + 1]))
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

/* A DNS name: labels of letters, digits, '-' and '_', 1-63 each, 253 in all. Lower-cased. */
static int parse_hostname(const char *s, char out[CONFIG_NET_NAME_MAX + 1])
{
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		n--; /* a fully qualified name's root dot */
	if (n == 0 || n > CONFIG_NET_NAME_MAX)
		return -1;
	size_t label = 0;
	bool alpha = false;
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)s[i]);
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
			alpha |= !isdigit((unsigned char)c);
		} else {
			return -1;
		}
		out[i] = c;
	}
	out[n] = '\0';
	/* All digits and dots: a mistyped address, not a name. */
	return label == 0 || !alpha ? -1 : 0;
}

/* tcp:[HOSTADDR:]HOSTPORT-[GUESTADDR]:GUESTPORT, HOSTADDR defaulting to 127.0.0.1. */
static int parse_fwd(struct net_config *n, char *v, char *err, size_t errlen)
{
	const char *form = "give hostfwd=tcp|udp:[HOSTADDR:]HOSTPORT-:GUESTPORT";
	if (n->nr_fwd == CONFIG_NET_FWD_MAX)
		return nfail(err, errlen, "--net: at most %u hostfwd= entries", CONFIG_NET_FWD_MAX);
	struct net_fwd *f = &n->fwd[n->nr_fwd];
	if (strncmp(v, "tcp:", 4) == 0)
		f->udp = false;
	else if (strncmp(v, "udp:", 4) == 0)
		f->udp = true;
	else
		return nfail(err, errlen, "--net hostfwd=%s: %s", v, form);
	char *host = v + 4, *dash = strchr(host, '-');
	if (!dash)
		return nfail(err, errlen, "--net hostfwd=%s: %s", v, form);
	*dash = '\0';
	char *guest = dash + 1, *hport = strrchr(host, ':'), *gport = strrchr(guest, ':');
	f->host_addr = 0x7f000001u;
	unsigned long hp, gp;
	uint32_t ga;
	int bad = 0;
	if (hport) {
		*hport++ = '\0';
		bad |= host[0] && parse_ip(host, &f->host_addr) < 0;
	} else {
		hport = host;
	}
	if (!gport) {
		bad = 1;
	} else {
		*gport++ = '\0';
		bad |= guest[0] && (parse_ip(guest, &ga) < 0 || ga != NET_USER_GUEST);
		bad |= parse_num(gport, 1, 65535, &gp) < 0;
	}
	bad |= parse_num(hport, 1, 65535, &hp) < 0;
	if (bad)
		return nfail(err, errlen,
			     "--net hostfwd: %s (the guest is 10.0.2.15; ports are 1-65535)", form);
	f->host_port = (uint16_t)hp;
	f->guest_port = (uint16_t)gp;
	for (unsigned i = 0; i < n->nr_fwd; i++)
		if (n->fwd[i].udp == f->udp && n->fwd[i].host_port == f->host_port &&
		    n->fwd[i].host_addr == f->host_addr)
			return nfail(err, errlen, "--net hostfwd: host port %lu given twice", hp);
	n->nr_fwd++;
	return 0;
}

static int parse_allow(struct net_config *n, char *v, char *err, size_t errlen)
{
	if (n->nr_allow == CONFIG_NET_ALLOW_MAX)
		return nfail(err, errlen, "--net: at most %u allow= entries", CONFIG_NET_ALLOW_MAX);
	struct net_allow *a = &n->allow[n->nr_allow];
	memset(a, 0, sizeof(*a));
	if (strchr(v, ':'))
		return nfail(err, errlen,
			     "--net allow=%s: IPv6 is not supported (the user network is IPv4 only)",
			     v);
	if (parse_cidr(v, &a->addr, &a->prefix, 32) == 0) {
		a->addr &= a->prefix ? 0xffffffffu << (32 - a->prefix) : 0;
	} else if (parse_hostname(v, a->name) < 0) {
		return nfail(err, errlen,
			     "--net allow=%s: give an IPv4 address, ADDR/PREFIX or a host name", v);
	}
	n->nr_allow++;
	return 0;
}

/* One KEY=VALUE of either backend; `user` says which. */
static int parse_opt(struct net_config *n, bool user, char *o, char *err, size_t errlen)
{
	char *v = strchr(o, '=');
	unsigned long x;
	if (!v)
		return nfail(err, errlen, "--net: '%s' is not KEY=VALUE (options: %s)", o,
			     user ? USER_OPTS : TAP_OPTS);
	*v++ = '\0';
	if (strcmp(o, "mac") == 0) {
		if (parse_mac(v, n->mac) < 0 || (n->mac[0] & 1))
			return nfail(err, errlen, "--net mac=%s: give a unicast XX:XX:XX:XX:XX:XX", v);
		n->mac_set = true;
	} else if (strcmp(o, "mtu") == 0) {
		unsigned long lo = user ? 576 : 68, hi = user ? 65521 : 65535;
		if (parse_num(v, lo, hi, &x) < 0)
			return nfail(err, errlen, "--net mtu=%s: give a number from %lu to %lu", v, lo,
				     hi);
		n->mtu = (unsigned)x;
	} else if (strcmp(o, "dns") == 0) {
		char *port = user ? strchr(v, ':') : NULL;
		x = 53;
		if (port)
			*port = '\0';
		int bad = parse_ip(v, user ? &n->dns_upstream : &n->dns) < 0;
		bad |= port && parse_num(port + 1, 1, 65535, &x) < 0;
		if (bad || (user && n->dns_upstream == 0))
			return nfail(err, errlen, "--net dns=%s%s%s: give an IPv4 address%s", v,
				     port ? ":" : "", port ? port + 1 : "", user ? "[:PORT]" : "");
		n->dns_upstream_port = (uint16_t)x;
	} else if (user && strcmp(o, "hostfwd") == 0) {
		return parse_fwd(n, v, err, errlen);
	} else if (user && strcmp(o, "allow") == 0) {
		return parse_allow(n, v, err, errlen);
	} else if (user && strcmp(o, "host-access") == 0) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return nfail(err, errlen, "--net host-access=%s: give on or off", v);
		n->host_access = v[1] == 'n';
	} else if (!user && strcmp(o, "ip") == 0) {
		if (parse_cidr(v, &n->guest_ip, &n->prefix, 0) < 0 || n->prefix == 0 ||
		    n->guest_ip == 0)
			return nfail(err, errlen, "--net ip=%s: give the guest's ADDR/PREFIX", v);
	} else if (!user && strcmp(o, "gw") == 0) {
		if (parse_ip(v, &n->gateway) < 0 || n->gateway == 0)
			return nfail(err, errlen, "--net gw=%s: give an IPv4 address", v);
	} else {
		return nfail(err, errlen, "--net: unknown option '%s' for %s (options: %s)", o,
			     user ? "user" : "tap", user ? USER_OPTS : TAP_OPTS);
	}
	return 0;
}

int args_parse_net(struct net_config *n, char *spec, char *err, size_t errlen)
{
	if (n->mode != NET_NONE)
		return nfail(err, errlen, "--net given twice (a VM has one network device)");
	char *opts = strchr(spec, ',');
	if (opts)
		*opts++ = '\0';
	bool user = strcmp(spec, "user") == 0;
	if (user) {
		n->mode = NET_USER;
	} else if (strncmp(spec, "tap:", 4) == 0) {
		size_t len = strlen(spec + 4);
		if (len == 0 || len > CONFIG_NET_IFNAME_MAX || strchr(spec + 4, '/'))
			return nfail(err, errlen, "--net tap:NAME needs an interface name of 1 to %u "
				     "characters", CONFIG_NET_IFNAME_MAX);
		memcpy(n->tap, spec + 4, len + 1);
		n->mode = NET_TAP;
	} else {
		return nfail(err, errlen, "--net %s: give user[,OPTION...] or tap:NAME[,OPTION...]",
			     spec);
	}
	while (opts) {
		char *o = opts;
		opts = strchr(o, ',');
		if (opts)
			*opts++ = '\0';
		if (!*o)
			return nfail(err, errlen, "--net: an empty option (a doubled or trailing comma)");
		if (parse_opt(n, user, o, err, errlen) < 0)
			return -1;
	}
	if (user) {
		n->guest_ip = NET_USER_GUEST;
		n->prefix = NET_USER_PREFIX;
		n->gateway = NET_USER_HOST;
		n->dns = NET_USER_DNS;
	} else if (!n->guest_ip && (n->gateway || n->dns)) {
		return nfail(err, errlen, "--net tap: gw= and dns= need ip= (the guest's address)");
	}
	return 0;
}
