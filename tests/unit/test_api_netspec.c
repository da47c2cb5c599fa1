/* Unit tests for api/netspec.c: profiles, port maps, --net-dns/--net-allow, --net and the info. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netspec.h"

static struct port_map pm(const char *s)
{
	struct port_map p;
	assert_int_equal(port_map_parse(s, &p), 0);
	netspec_port_normalize(&p);
	return p;
}

static void test_profiles(void **state)
{
	enum vm_net m;
	(void)state;
	assert_int_equal(netspec_for_profile("restrictive", &m), 0);
	assert_int_equal(m, VM_NET_NONE);
	assert_int_equal(netspec_for_profile("moderate", &m), 0);
	assert_int_equal(m, VM_NET_NAT);
	assert_int_equal(netspec_for_profile("permissive", &m), 0);
	assert_int_equal(m, VM_NET_NAT_HOST);
	assert_int_equal(netspec_for_profile("Permissive", &m), -EINVAL);
	assert_int_equal(netspec_for_profile("", &m), -EINVAL);
	assert_int_equal(netspec_for_profile(NULL, &m), -EINVAL);
	/* The names kept in state files read back; anything else does not. */
	for (enum vm_net x = VM_NET_NONE; x <= VM_NET_NAT_HOST; x++) {
		assert_int_equal(netspec_mode_parse(netspec_mode_name(x), &m), 0);
		assert_int_equal(m, x);
	}
	assert_int_equal(netspec_mode_parse("nat+", &m), -EINVAL);
	assert_int_equal(netspec_mode_parse(NULL, &m), -EINVAL);
	assert_string_equal(netspec_mode_name((enum vm_net)7), "none");
}

static void test_ports(void **state)
{
	char s[NETSPEC_PORT_STR];
	(void)state;
	struct port_map a = pm("8080:80");
	assert_string_equal(a.host_addr, "127.0.0.1"); /* loopback unless asked */
	netspec_port_format(&a, s);
	assert_string_equal(s, "127.0.0.1:8080:80/tcp");
	/* The formatted form parses back to the same map. */
	struct port_map b = pm(s);
	assert_memory_equal(&a, &b, sizeof(a));
	struct port_map c = pm("255.255.255.255:65535:65535/tcp");
	netspec_port_format(&c, s);
	assert_string_equal(s, "255.255.255.255:65535:65535/tcp");

	assert_true(netspec_ports_clash(&a, &b));
	struct port_map any = pm("0.0.0.0:8080:81");
	struct port_map other = pm("10.1.2.3:8080:82");
	struct port_map p2 = pm("8081:80");
	assert_true(netspec_ports_clash(&a, &any));
	assert_true(netspec_ports_clash(&other, &any));
	assert_false(netspec_ports_clash(&a, &other));
	assert_false(netspec_ports_clash(&a, &p2)); /* same guest port is fine */
}

static void test_allow_dns(void **state)
{
	static const char *const good_allow[] = { "1.2.3.4",	  "10.0.0.0/8",	   "0.0.0.0/0",
						  "1.2.3.4/32",	  "example.org",   "pypi.org",
						  "a",		  "a-b.c-d.e",	   "x1.example",
						  "123.example",  "EXAMPLE.ORG" };
	static const char *const bad_allow[] = { "",	     "1.2.3.4/33", "1.2.3.4/",	 "1.2.3/8",
						 "1.2.3.256", "1.2.3.4/08", "-a.org",	 "a-.org",
						 "a..org",    ".org",	    "org.",	 "a_b.org",
						 "a,b",	      "a b",	    "1.2.3.999", "1.2.3.4,allow=x",
						 "a=b",	      "é.org",	    "1.2.3.4:53" };
	(void)state;
	for (size_t i = 0; i < sizeof(good_allow) / sizeof(*good_allow); i++)
		if (!netspec_allow_valid(good_allow[i]))
			fail_msg("--net-allow %s refused", good_allow[i]);
	for (size_t i = 0; i < sizeof(bad_allow) / sizeof(*bad_allow); i++)
		if (netspec_allow_valid(bad_allow[i]))
			fail_msg("--net-allow %s accepted", bad_allow[i]);
	char label64[80];
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".org");
	assert_false(netspec_allow_valid(label64));
	memmove(label64 + 63, label64 + 64, strlen(label64 + 64) + 1); /* 63: the longest label */
	assert_true(netspec_allow_valid(label64));
	char *long_name = malloc(300);
	assert_non_null(long_name);
	for (int i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[253] = 'b';
	long_name[254] = '\0';
	assert_false(netspec_allow_valid(long_name)); /* 255 bytes: over 253 */
	free(long_name);
	assert_false(netspec_allow_valid(NULL));

	assert_true(netspec_dns_valid("127.0.0.1"));
	assert_true(netspec_dns_valid("127.0.0.1:5353"));
	assert_true(netspec_dns_valid("10.0.0.1:65535"));
	static const char *const bad_dns[] = { "",	     "localhost",      "127.0.0.1:",
					       "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:053",
					       "127.0.0.1,x", "::1",		 "127.0.0.1:53:53" };
	for (size_t i = 0; i < sizeof(bad_dns) / sizeof(*bad_dns); i++)
		if (netspec_dns_valid(bad_dns[i]))
			fail_msg("--net-dns %s accepted", bad_dns[i]);
	assert_false(netspec_dns_valid(NULL));
}

static void test_arg(void **state)
{
	char out[NET_ARG_MAX];
	struct net_globals none = { 0 };
	struct net_globals g = { .dns = "127.0.0.1:5353", .allow = { "pypi.org", "1.2.3.0/24" },
				 .nallow = 2 };
	struct port_map ports[2] = { pm("8080:80"), pm("0.0.0.0:2222:22") };
	(void)state;
	assert_int_equal(netspec_arg(VM_NET_NAT, NULL, 0, &none, out, sizeof(out)), 0);
	assert_string_equal(out, "user");
	assert_int_equal(netspec_arg(VM_NET_NAT, NULL, 0, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "user");
	assert_int_equal(netspec_arg(VM_NET_NAT_HOST, ports, 2, &g, out, sizeof(out)), 0);
	assert_string_equal(out, "user,host-access=on,dns=127.0.0.1:5353,allow=pypi.org,"
				 "allow=1.2.3.0/24,hostfwd=tcp:127.0.0.1:8080-:80,"
				 "hostfwd=tcp:0.0.0.0:2222-:22");
	/* No network: no option at all. */
	assert_int_equal(netspec_arg(VM_NET_NONE, NULL, 0, &none, out, sizeof(out)), -EINVAL);
	assert_int_equal(netspec_arg(VM_NET_NAT, ports, VM_PORTS_MAX + 1, &none, out, sizeof(out)),
			 -EINVAL);
	/* Too small: -ENOSPC, never a cut option list. */
	assert_int_equal(netspec_arg(VM_NET_NAT_HOST, ports, 2, &g, out, 40), -ENOSPC);
	assert_int_equal(netspec_arg(VM_NET_NAT, NULL, 0, &none, out, 4), -ENOSPC);
	assert_int_equal(netspec_arg(VM_NET_NAT, NULL, 0, &none, out, 0), -EINVAL);
	/* The largest spec flintd makes fits its buffer. */
	struct port_map many[VM_PORTS_MAX];
	for (unsigned i = 0; i < VM_PORTS_MAX; i++)
		many[i] = pm("255.255.255.255:65535:65535");
	struct net_globals big = { .dns = "255.255.255.255:65535", .nallow = NET_ALLOW_MAX };
	char name[254];
	memset(name, 'a', 253);
	name[253] = '\0';
	for (unsigned i = 0; i < NET_ALLOW_MAX; i++)
		big.allow[i] = name;
	assert_int_equal(netspec_arg(VM_NET_NAT_HOST, many, VM_PORTS_MAX, &big, out, sizeof(out)),
			 0);
}

static void test_info(void **state)
{
	struct port_map ports[1] = { pm("8080:80") };
	struct net_globals g = { .allow = { "pypi.org" }, .nallow = 1 };
	(void)state;
	json_t *o = netspec_info(VM_NET_NAT, ports, 1, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "nat");
	assert_string_equal(json_string_value(json_object_get(o, "interface")), "eth0");
	assert_string_equal(json_string_value(json_object_get(o, "address")), "10.0.2.15/24");
	assert_string_equal(json_string_value(json_object_get(o, "gateway")), "10.0.2.2");
	assert_string_equal(json_string_value(json_object_get(o, "dns")), "10.0.2.3");
	assert_true(json_is_false(json_object_get(o, "host_access")));
	assert_null(json_object_get(o, "allow"));
	json_t *p = json_array_get(json_object_get(o, "ports"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "host_ip")), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(p, "host_port")), 8080);
	assert_int_equal(json_integer_value(json_object_get(p, "guest_port")), 80);
	assert_string_equal(json_string_value(json_object_get(p, "protocol")), "tcp");
	json_decref(o);

	o = netspec_info(VM_NET_NAT_HOST, NULL, 0, &g);
	assert_true(json_is_true(json_object_get(o, "host_access")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "allow"), 0)),
			    "pypi.org");
	assert_int_equal(json_array_size(json_object_get(o, "ports")), 0);
	json_decref(o);

	o = netspec_info(VM_NET_NONE, NULL, 0, &g);
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "none");
	assert_true(json_is_null(json_object_get(o, "interface")));
	assert_null(json_object_get(o, "address"));
	assert_int_equal(json_array_size(json_object_get(o, "ports")), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles), cmocka_unit_test(test_ports),
		cmocka_unit_test(test_allow_dns), cmocka_unit_test(test_arg),
		cmocka_unit_test(test_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
