/* A sandbox's network: profile → mode, port maps, flint-vmm's --net value, SandboxInfo. */
#include "netspec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = { "none", "nat", "nat+host" };

const char *netspec_mode_name(enum vm_net m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "none";
}

int netspec_mode_parse(const char *s, enum vm_net *m)
{
	for (unsigned i = 0; s && i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(s, mode_names[i]) == 0) {
			*m = (enum vm_net)i;
			return 0;
		}
	return -EINVAL;
}

int netspec_for_profile(const char *profile, enum vm_net *m)
{
	if (!profile)
		return -EINVAL;
	if (strcmp(profile, "restrictive") == 0)
		*m = VM_NET_NONE;
	else if (strcmp(profile, "moderate") == 0)
		*m = VM_NET_NAT;
	else if (strcmp(profile, "permissive") == 0)
		*m = VM_NET_NAT_HOST;
	else
		return -EINVAL;
	return 0;
}

void netspec_port_normalize(struct port_map *pm)
{
	/* Forwarded ports face this host only unless the caller names another address. */
	if (pm->host_addr[0] == '\0')
		snprintf(pm->host_addr, sizeof(pm->host_addr), "127.0.0.1");
}

void netspec_port_format(const struct port_map *pm, char *out)
{
	snprintf(out, NETSPEC_PORT_STR, "%s:%u:%u/tcp", pm->host_addr[0] ? pm->host_addr : "127.0.0.1",
		 pm->host_port, pm->guest_port);
}

bool netspec_ports_clash(const struct port_map *a, const struct port_map *b)
{
	if (a->host_port != b->host_port)
		return false;
	const char *x = a->host_addr[0] ? a->host_addr : "127.0.0.1";
	const char *y = b->host_addr[0] ? b->host_addr : "127.0.0.1";
	return strcmp(x, y) == 0 || strcmp(x, "0.0.0.0") == 0 || strcmp(y, "0.0.0.0") == 0;
}

static bool hostname(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	size_t label = 0;
	bool digits_only = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || label == 0))
			return false;
		if (!(c >= '0' && c <= '9'))
			digits_only = false;
		if (++label > 63)
			return false;
	}
	/* "1.2.3.999" is a bad address, not a name. */
	return label > 0 && s[n - 1] != '-' && !digits_only;
}

bool netspec_allow_valid(const char *s)
{
	if (!s)
		return false;
	unsigned v;
	size_t n = strnlen(s, 300);
	const char *end = s + n, *slash = memchr(s, '/', n);
	if (slash)
		return parse_ipv4(s, slash) && parse_uint(slash + 1, end, 32, 2, &v);
	return parse_ipv4(s, end) || hostname(s, n);
}

bool netspec_dns_valid(const char *s)
{
	if (!s)
		return false;
	unsigned v;
	size_t n = strnlen(s, 64);
	const char *end = s + n, *colon = memchr(s, ':', n);
	if (colon)
		return parse_ipv4(s, colon) && parse_uint(colon + 1, end, 65535, 5, &v) && v > 0;
	return parse_ipv4(s, end);
}

/* Append to out[*len, cap); false once it does not fit (out stays NUL-terminated). */
static bool put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len) {
		out[*len] = '\0';
		return false;
	}
	*len += (size_t)n;
	return true;
}

int netspec_arg(enum vm_net m, const struct port_map *ports, unsigned nports,
		const struct net_globals *g, char *out, size_t cap)
{
	if (m == VM_NET_NONE || nports > VM_PORTS_MAX || cap == 0)
		return -EINVAL;
	size_t len = 0;
	bool ok = put(out, cap, &len, "user");
	if (m == VM_NET_NAT_HOST)
		ok = ok && put(out, cap, &len, ",host-access=on");
	if (g && g->dns)
		ok = ok && put(out, cap, &len, ",dns=%s", g->dns);
	for (unsigned i = 0; g && i < g->nallow; i++)
		ok = ok && put(out, cap, &len, ",allow=%s", g->allow[i]);
	for (unsigned i = 0; i < nports; i++)
		ok = ok && put(out, cap, &len, ",hostfwd=tcp:%s:%u-:%u",
			       ports[i].host_addr[0] ? ports[i].host_addr : "127.0.0.1",
			       ports[i].host_port, ports[i].guest_port);
	return ok ? 0 : -ENOSPC;
}

json_t *netspec_info(enum vm_net m, const struct port_map *ports, unsigned nports,
		     const struct net_globals *g)
{
	json_t *list = json_array();
	for (unsigned i = 0; list && i < nports; i++)
		json_array_append_new(
		    list, json_pack("{s:s, s:i, s:i, s:s}", "host_ip",
				    ports[i].host_addr[0] ? ports[i].host_addr : "127.0.0.1",
				    "host_port", (int)ports[i].host_port, "guest_port",
				    (int)ports[i].guest_port, "protocol", "tcp"));
	if (!list)
		return NULL;
	if (m == VM_NET_NONE)
		return json_pack("{s:s, s:n, s:o}", "mode", "none", "interface", "ports", list);
	/* With an allowlist the guest reaches only those (and DNS); without, the public Internet. */
	json_t *allow = NULL;
	if (g && g->nallow) {
		allow = json_array();
		for (unsigned i = 0; allow && i < g->nallow; i++)
			json_array_append_new(allow, json_string(g->allow[i]));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o*, s:o}", "mode", netspec_mode_name(m),
			 "interface", "eth0", "address", NET_GUEST_CIDR, "gateway", NET_GATEWAY,
			 "dns", NET_DNS, "host_access", m == VM_NET_NAT_HOST, "allow", allow,
			 "ports", list);
}
