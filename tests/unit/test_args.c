/* Unit tests for flint-vmm's command line (vmm/args.c): defaults, every option's forms and mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"

/*
 * args_parse may write into argv's strings (--disk PATH,ro loses its ",ro"), as it may
 * with main's argv, so every argument is a heap copy, freed by the per-test teardown.
 */
#define ARGS_MAX 64
static char *owned[ARGS_MAX + 1];
static int owned_n;
static struct vm_config cfg;
static char err[256];

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < owned_n; i++)
		free(owned[i]);
	owned_n = 0;
	return 0;
}

/* parse("--kernel", "k", NULL): argv[0] is "flint-vmm"; the list ends with NULL. */
static enum args_result parse(const char *first, ...)
{
	teardown(NULL);
	memset(owned, 0, sizeof(owned));
	owned[owned_n++] = strdup("flint-vmm");
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(owned_n < ARGS_MAX);
		owned[owned_n++] = strdup(a);
	}
	va_end(ap);
	owned[owned_n] = NULL;
	memset(&cfg, 0xa5, sizeof(cfg)); /* args_parse must set every field itself */
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return args_parse(&cfg, owned_n, owned, err, sizeof(err));
}

/* An error, with a sentence that names what was wrong. */
static void assert_error(enum args_result r, const char *mention)
{
	assert_int_equal(r, ARGS_ERROR);
	assert_true(strlen(err) > 0);
	if (!strstr(err, mention))
		fail_msg("error \"%s\" does not mention \"%s\"", err, mention);
}

/* ---- defaults ------------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "vmlinux", NULL), ARGS_OK);
	assert_string_equal(err, "");
	assert_string_equal(cfg.kernel, "vmlinux");
	assert_int_equal(cfg.mem_mib, 128);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.nr_disks, 0);
	assert_int_equal(cfg.console, CONSOLE_STDOUT); /* no command: the console is the output */
	assert_null(cfg.console_path);
	assert_int_equal(cfg.pvm, PVM_AUTO);
	assert_false(cfg.boot_trace);
	assert_int_equal(cfg.verbose, 0);
	assert_null(cfg.cmdline_extra);
	assert_null(cfg.vsock_path);
	assert_int_equal(cfg.vsock_cid, 3);
	assert_null(cfg.control_path);
	assert_null(cfg.argv);
	assert_int_equal(cfg.argc, 0);
	assert_int_equal(cfg.net.mode, NET_NONE); /* no --net: no network device at all */
}

static void test_console_default_with_command(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "root.img", "--", "true", NULL), ARGS_OK);
	assert_int_equal(cfg.console, CONSOLE_NONE);
	assert_int_equal(cfg.argc, 1);
}

static void test_console_explicit_overrides_default(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "r", "--console", "stdout", "--", "ls",
			       NULL),
			 ARGS_OK);
	assert_int_equal(cfg.console, CONSOLE_STDOUT);
	assert_int_equal(parse("--kernel", "k", "--console", "none", NULL), ARGS_OK);
	assert_int_equal(cfg.console, CONSOLE_NONE);
	assert_null(cfg.console_path);
	assert_int_equal(parse("--kernel", "k", "--console", "/tmp/console.log", NULL), ARGS_OK);
	assert_int_equal(cfg.console, CONSOLE_FILE);
	assert_string_equal(cfg.console_path, "/tmp/console.log");
	assert_error(parse("--kernel", "k", "--console", "", NULL), "--console");
}

/* ---- --mem --------------------------------------------------------------------------------- */

static void test_mem_forms(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		uint64_t mib;
	} ok[] = {
		{ "512", 512 },   { "512M", 512 },	{ "512m", 512 },      { "2G", 2048 },
		{ "2g", 2048 },	  { "32", 32 },		{ "32M", 32 },	      { "256G", 262144 },
		{ "262144", 262144 }, { "0032", 32 }, { "3073", 3073 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse("--kernel", "k", "--mem", ok[i].arg, NULL), ARGS_OK);
		assert_int_equal(cfg.mem_mib, ok[i].mib);
	}
}

static void test_mem_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"31",	  "0",	    "31M",	  "257G",     "262145", "12x",	  "-5",	 "",
		"+5",	  " 64",    "64 ",	  "64MB",     "64K",	"64T",	  "1.5G", "G",
		"M",	  "0x40",   "99999999999999999999G", "99999999999999999999",
		"18014398509481984G", /* 2^54 GiB: v * 1024 wraps 2^64 to 0 */
		"18014398509481985G", /* (2^54 + 1) GiB wraps to exactly 1024 MiB, in range */
		"18446744073709551615",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_error(parse("--kernel", "k", "--mem", bad[i], NULL), "--mem");
		/* The bad value is quoted back. */
		if (bad[i][0] && !strstr(err, bad[i]))
			fail_msg("error \"%s\" does not quote \"%s\"", err, bad[i]);
	}
}

/* ---- --cpus -------------------------------------------------------------------------------- */

static void test_cpus(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--cpus", "1", NULL), ARGS_OK);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(parse("--kernel", "k", "--cpus", "8", NULL), ARGS_OK);
	assert_int_equal(cfg.cpus, 8);
	assert_int_equal(parse("--kernel", "k", "--cpus", "4", NULL), ARGS_OK);
	assert_int_equal(cfg.cpus, 4);
	static const char *const bad[] = { "0", "9", "-1", "", "two", "2x", "4294967297",
					   "99999999999999999999", "+2", " 2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_error(parse("--kernel", "k", "--cpus", bad[i], NULL), "--cpus");
}

/* ---- --disk -------------------------------------------------------------------------------- */

static void test_disk_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "a.img", NULL), ARGS_OK);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_false(cfg.disks[0].readonly);

	assert_int_equal(parse("--kernel", "k", "--disk", "a.img,ro", NULL), ARGS_OK);
	assert_int_equal(cfg.nr_disks, 1);
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_true(cfg.disks[0].readonly);

	assert_int_equal(parse("--kernel", "k", "--disk", "a.img,rw", NULL), ARGS_OK);
	assert_string_equal(cfg.disks[0].path, "a.img");
	assert_false(cfg.disks[0].readonly);

	/* A comma inside the path is part of the path. */
	assert_int_equal(parse("--kernel", "k", "--disk", "a,b.img", NULL), ARGS_OK);
	assert_string_equal(cfg.disks[0].path, "a,b.img");
	assert_false(cfg.disks[0].readonly);
	assert_int_equal(parse("--kernel", "k", "--disk", "a,b.img,ro", NULL), ARGS_OK);
	assert_string_equal(cfg.disks[0].path, "a,b.img");
	assert_true(cfg.disks[0].readonly);
	assert_int_equal(parse("--kernel", "k", "--disk", "x,rox", NULL), ARGS_OK);
	assert_string_equal(cfg.disks[0].path, "x,rox");

	assert_error(parse("--kernel", "k", "--disk", "", NULL), "--disk");
}

static void test_disk_order_and_limit(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "d0", "--disk", "d1,ro", "--disk", "d2",
			       "--disk", "d3", "--disk", "d4", "--disk", "d5", "--disk", "d6",
			       "--disk", "d7,ro", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.nr_disks, 8);
	for (unsigned i = 0; i < 8; i++) {
		char want[4] = { 'd', (char)('0' + i), 0, 0 };
		assert_string_equal(cfg.disks[i].path, want);
		assert_int_equal(cfg.disks[i].readonly, i == 1 || i == 7);
	}
	assert_error(parse("--kernel", "k", "--disk", "d0", "--disk", "d1", "--disk", "d2", "--disk",
			   "d3", "--disk", "d4", "--disk", "d5", "--disk", "d6", "--disk", "d7",
			   "--disk", "d8", NULL),
		     "--disk");
	assert_non_null(strstr(err, "8"));
}

/* ---- --pvm-compat and flags ---------------------------------------------------------------- */

static void test_pvm_compat(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--pvm-compat", "on", NULL), ARGS_OK);
	assert_int_equal(cfg.pvm, PVM_ON);
	assert_int_equal(parse("--kernel", "k", "--pvm-compat", "off", NULL), ARGS_OK);
	assert_int_equal(cfg.pvm, PVM_OFF);
	assert_int_equal(parse("--kernel", "k", "--pvm-compat", "on", "--pvm-compat", "auto", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.pvm, PVM_AUTO);
	assert_error(parse("--kernel", "k", "--pvm-compat", "bad", NULL), "--pvm-compat");
	assert_non_null(strstr(err, "bad"));
	assert_error(parse("--kernel", "k", "--pvm-compat", "ON", NULL), "--pvm-compat");
	assert_error(parse("--kernel", "k", "--pvm-compat", "", NULL), "--pvm-compat");
}

static void test_flags(void **state)
{
	(void)state;
	assert_int_equal(parse("-v", "--kernel", "k", "--verbose", "--boot-trace", "-v",
			       "--cmdline-extra", "foo=bar baz", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.verbose, 3);
	assert_true(cfg.boot_trace);
	assert_string_equal(cfg.cmdline_extra, "foo=bar baz");
	/* The last --kernel wins. */
	assert_int_equal(parse("--kernel", "a", "--kernel", "b", NULL), ARGS_OK);
	assert_string_equal(cfg.kernel, "b");
}

static void test_vsock(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--vsock", "/run/vm.sock", NULL), ARGS_OK);
	assert_string_equal(cfg.vsock_path, "/run/vm.sock");
	assert_int_equal(cfg.vsock_cid, 3);
	assert_int_equal(parse("--kernel", "k", "--cid", "4294967294", "--vsock", "v", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.vsock_cid, 0xfffffffeu);
	assert_string_equal(cfg.vsock_path, "v");
	assert_int_equal(parse("--kernel", "k", "--vsock", "v", "--cid", "3", NULL), ARGS_OK);
	assert_int_equal(cfg.vsock_cid, 3);
	static const char *const bad_cid[] = { "0", "1", "2", "4294967295", "4294967296", "-3",
					       "3x", "", " 3", "0x10" };
	for (size_t i = 0; i < sizeof(bad_cid) / sizeof(bad_cid[0]); i++)
		assert_error(parse("--kernel", "k", "--vsock", "v", "--cid", bad_cid[i], NULL),
			     "--cid");
	/* A CID means nothing without the device. */
	assert_error(parse("--kernel", "k", "--cid", "5", NULL), "--vsock");
	assert_error(parse("--kernel", "k", "--vsock", "", NULL), "--vsock");
	/* PATH_<port> must fit a Unix socket address: 96 bytes is the most. */
	char path[CONFIG_VSOCK_PATH_MAX + 2];
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_error(parse("--kernel", "k", "--vsock", path, NULL), "--vsock");
	path[CONFIG_VSOCK_PATH_MAX] = '\0';
	assert_int_equal(parse("--kernel", "k", "--vsock", path, NULL), ARGS_OK);
	assert_int_equal(strlen(cfg.vsock_path), CONFIG_VSOCK_PATH_MAX);
}

static void test_control(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--control", "/run/flint/vm1.ctl", NULL), ARGS_OK);
	assert_string_equal(cfg.control_path, "/run/flint/vm1.ctl");
	assert_null(cfg.vsock_path);
	assert_int_equal(parse("--kernel", "k", "--vsock", "v.sock", "--control", "c.sock", NULL),
			 ARGS_OK);
	assert_string_equal(cfg.control_path, "c.sock");
	assert_string_equal(cfg.vsock_path, "v.sock");
	/* The last one wins, like every option with a value. */
	assert_int_equal(parse("--kernel", "k", "--control", "a", "--control", "b", NULL), ARGS_OK);
	assert_string_equal(cfg.control_path, "b");
	assert_error(parse("--kernel", "k", "--control", "", NULL), "--control");
	/* One socket cannot be both. */
	assert_error(parse("--kernel", "k", "--vsock", "s", "--control", "s", NULL), "--control");
	/* A Unix socket address holds 107 bytes and the NUL. */
	char path[CONFIG_CONTROL_PATH_MAX + 2];
	memset(path, 'c', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_error(parse("--kernel", "k", "--control", path, NULL), "--control");
	assert_non_null(strstr(err, "107"));
	path[CONFIG_CONTROL_PATH_MAX] = '\0';
	assert_int_equal(parse("--kernel", "k", "--control", path, NULL), ARGS_OK);
	assert_int_equal(strlen(cfg.control_path), CONFIG_CONTROL_PATH_MAX);
	/* After "--" it is the command's. */
	assert_int_equal(parse("--kernel", "k", "--disk", "r", "--", "--control", "x", NULL),
			 ARGS_OK);
	assert_null(cfg.control_path);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_missing_values(void **state)
{
	(void)state;
	static const char *const opts[] = { "--kernel",  "--mem",	 "--cpus",
					    "--disk",	 "--console",	 "--pvm-compat",
					    "--cmdline-extra", "--vsock", "--cid", "--control" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(opts[i], "--kernel") == 0)
			assert_error(parse("--kernel", NULL), "--kernel");
		else
			assert_error(parse("--kernel", "k", opts[i], NULL), opts[i]);
		assert_non_null(strstr(err, "value"));
	}
}

static void test_unknown_options(void **state)
{
	(void)state;
	assert_error(parse("--kernel", "k", "--memory", "1G", NULL), "--memory");
	assert_error(parse("--kernel", "k", "-x", NULL), "-x");
	assert_error(parse("--kernel", "k", "--mem=512", NULL), "--mem=512");
	/* A command without "--" is not taken as one. */
	assert_error(parse("--kernel", "k", "--disk", "r", "ls", NULL), "ls");
	assert_null(cfg.argv);
	/* An unknown option after a good one stops the parse before --kernel is checked. */
	assert_error(parse("--bogus", NULL), "--bogus");
}

static void test_kernel_required(void **state)
{
	(void)state;
	assert_error(parse(NULL), "--kernel");
	assert_error(parse("--mem", "256", "--cpus", "2", NULL), "--kernel");
	assert_error(parse("--disk", "r", "--", "ls", NULL), "--kernel");
	/* "--kernel" after "--" belongs to the command. */
	assert_error(parse("--disk", "r", "--", "--kernel", "k", NULL), "--kernel");
}

static void test_command_needs_disk(void **state)
{
	(void)state;
	assert_error(parse("--kernel", "k", "--", "ls", NULL), "--disk");
}

/* ---- the command after "--" ---------------------------------------------------------------- */

static void test_command(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "root.img", "--", "sh", "-c",
			       "echo hi; exit 3", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.argc, 3);
	assert_non_null(cfg.argv);
	assert_string_equal(cfg.argv[0], "sh");
	assert_string_equal(cfg.argv[1], "-c");
	assert_string_equal(cfg.argv[2], "echo hi; exit 3");
	assert_null(cfg.argv[3]); /* NULL-terminated, as argv is */
	assert_ptr_equal(cfg.argv, &owned[owned_n - 3]);
}

static void test_options_after_dashdash_belong_to_command(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "r", "--", "prog", "--mem", "bogus",
			       "--help", "--", "--disk", NULL),
			 ARGS_OK);
	assert_int_equal(cfg.mem_mib, 128);
	assert_int_equal(cfg.nr_disks, 1);
	assert_int_equal(cfg.argc, 6);
	assert_string_equal(cfg.argv[0], "prog");
	assert_string_equal(cfg.argv[1], "--mem");
	assert_string_equal(cfg.argv[2], "bogus");
	assert_string_equal(cfg.argv[3], "--help");
	assert_string_equal(cfg.argv[4], "--");
	assert_string_equal(cfg.argv[5], "--disk");
	assert_null(cfg.argv[6]);
}

static void test_dashdash_alone_is_no_command(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--", NULL), ARGS_OK);
	assert_int_equal(cfg.argc, 0);
	assert_null(cfg.argv);
	assert_int_equal(cfg.console, CONSOLE_STDOUT);
}

static void test_command_with_empty_argument(void **state)
{
	(void)state;
	assert_int_equal(parse("--kernel", "k", "--disk", "r", "--", "printf", "", NULL), ARGS_OK);
	assert_int_equal(cfg.argc, 2);
	assert_string_equal(cfg.argv[1], "");
}

/* ---- help and version ---------------------------------------------------------------------- */

static void test_help_version(void **state)
{
	(void)state;
	assert_int_equal(parse("--help", NULL), ARGS_HELP);
	assert_int_equal(parse("-h", NULL), ARGS_HELP);
	assert_int_equal(parse("--kernel", "k", "--mem", "64", "-h", NULL), ARGS_HELP);
	assert_int_equal(parse("--version", NULL), ARGS_VERSION);
	assert_int_equal(parse("--version", "--help", NULL), ARGS_VERSION);
	assert_int_equal(parse("--help", "--version", NULL), ARGS_HELP);
	/* After "--", --help is the command's. */
	assert_int_equal(parse("--kernel", "k", "--disk", "r", "--", "--help", NULL), ARGS_OK);
	assert_string_equal(cfg.argv[0], "--help");
	/* The usage text names every option. */
	static const char *const opts[] = { "--kernel", "--mem",	 "--cpus",	 "--disk",
					    "--console", "--boot-trace", "--pvm-compat", "--cmdline-extra",
					    "--verbose", "--help",	 "--version",	 "--vsock",
					    "--cid",	 "--control" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		assert_non_null(strstr(args_usage, opts[i]));
}

/* A tiny error buffer truncates the sentence but still terminates it. */
static void test_small_err_buffer(void **state)
{
	(void)state;
	char *argv[] = { "flint-vmm", "--cpus", "99", NULL };
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_int_equal(args_parse(&cfg, 3, argv, small, sizeof(small)), ARGS_ERROR);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "--cpus ", 7);
}


/* ---- --net --------------------------------------------------------------------------------- */

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static enum args_result net(const char *spec)
{
	return parse("--kernel", "k", "--net", spec, NULL);
}

static void test_net_user_defaults(void **state)
{
	(void)state;
	assert_int_equal(net("user"), ARGS_OK);
	assert_int_equal(cfg.net.mode, NET_USER);
	assert_int_equal(cfg.net.guest_ip, A4(10, 0, 2, 15));
	assert_int_equal(cfg.net.prefix, 24);
	assert_int_equal(cfg.net.gateway, A4(10, 0, 2, 2));
	assert_int_equal(cfg.net.dns, A4(10, 0, 2, 3));
	assert_false(cfg.net.host_access);
	assert_false(cfg.net.mac_set);
	assert_int_equal(cfg.net.mtu, 0);
	assert_int_equal(cfg.net.nr_fwd, 0);
	assert_int_equal(cfg.net.nr_allow, 0);
	assert_int_equal(cfg.net.dns_upstream, 0);
}

static void test_net_user_options(void **state)
{
	(void)state;
	assert_int_equal(net("user,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-10.0.2.15:53,"
			     "hostfwd=tcp:2222-:22,allow=1.2.3.0/24,allow=API.Example.com.,"
			     "allow=9.9.9.9,allow=10.1.2.3/8,host-access=on,dns=127.0.0.1:5300,"
			     "mac=02:00:AA:bb:cc:01,mtu=9000"),
			 ARGS_OK);
	const struct net_config *n = &cfg.net;
	assert_int_equal(n->nr_fwd, 3);
	assert_false(n->fwd[0].udp);
	assert_int_equal(n->fwd[0].host_addr, A4(127, 0, 0, 1));
	assert_int_equal(n->fwd[0].host_port, 8080);
	assert_int_equal(n->fwd[0].guest_port, 80);
	assert_true(n->fwd[1].udp);
	assert_int_equal(n->fwd[1].host_addr, A4(127, 0, 0, 1)); /* an empty HOSTADDR: loopback */
	assert_int_equal(n->fwd[1].host_port, 5353);
	assert_int_equal(n->fwd[1].guest_port, 53);
	assert_int_equal(n->fwd[2].host_addr, A4(127, 0, 0, 1));
	assert_int_equal(n->fwd[2].host_port, 2222);
	assert_int_equal(n->nr_allow, 4);
	assert_int_equal(n->allow[0].addr, A4(1, 2, 3, 0));
	assert_int_equal(n->allow[0].prefix, 24);
	assert_string_equal(n->allow[0].name, "");
	assert_string_equal(n->allow[1].name, "api.example.com");
	assert_int_equal(n->allow[2].addr, A4(9, 9, 9, 9));
	assert_int_equal(n->allow[2].prefix, 32);
	assert_int_equal(n->allow[3].addr, A4(10, 0, 0, 0)); /* host bits dropped */
	assert_true(n->host_access);
	assert_int_equal(n->dns_upstream, A4(127, 0, 0, 1));
	assert_int_equal(n->dns_upstream_port, 5300);
	static const uint8_t mac[6] = { 2, 0, 0xaa, 0xbb, 0xcc, 1 };
	assert_true(n->mac_set);
	assert_memory_equal(n->mac, mac, 6);
	assert_int_equal(n->mtu, 9000);
	assert_int_equal(net("user,host-access=off,dns=10.255.255.53"), ARGS_OK);
	assert_false(cfg.net.host_access);
	assert_int_equal(cfg.net.dns_upstream_port, 53);
	assert_int_equal(net("user,hostfwd=tcp:0.0.0.0:80-:80"), ARGS_OK);
	assert_int_equal(cfg.net.fwd[0].host_addr, 0);
}

static void test_net_tap(void **state)
{
	(void)state;
	assert_int_equal(net("tap:tap0"), ARGS_OK);
	assert_int_equal(cfg.net.mode, NET_TAP);
	assert_string_equal(cfg.net.tap, "tap0");
	assert_int_equal(cfg.net.guest_ip, 0); /* no ip=: eth0 is left to the guest */
	assert_int_equal(net("tap:flint-tap-0123,ip=10.9.0.2/24,gw=10.9.0.1,dns=10.9.0.1,mtu=1400"),
			 ARGS_OK);
	assert_string_equal(cfg.net.tap, "flint-tap-0123");
	assert_int_equal(cfg.net.guest_ip, A4(10, 9, 0, 2));
	assert_int_equal(cfg.net.prefix, 24);
	assert_int_equal(cfg.net.gateway, A4(10, 9, 0, 1));
	assert_int_equal(cfg.net.dns, A4(10, 9, 0, 1));
	assert_int_equal(cfg.net.mtu, 1400);
	assert_int_equal(net("tap:t,ip=192.168.7.7/32"), ARGS_OK);
	assert_int_equal(cfg.net.gateway, 0);
}

static void test_net_bad(void **state)
{
	(void)state;
	static const struct {
		const char *spec, *mention;
	} bad[] = {
		{ "", "give user" },
		{ "slirp", "give user" },
		{ "users", "give user" },
		{ "tap:", "interface name" },
		{ "tap:waytoolongname16", "interface name" },
		{ "tap:a/b", "interface name" },
		{ "user,", "empty option" },
		{ "user,,host-access=on", "empty option" },
		{ "user,host-access", "KEY=VALUE" },
		{ "user,foo=bar", "unknown option 'foo'" },
		{ "user,ip=10.0.2.16/24", "unknown option 'ip'" },
		{ "tap:t,allow=1.2.3.4", "unknown option 'allow'" },
		{ "tap:t,hostfwd=tcp::1-:1", "unknown option 'hostfwd'" },
		{ "user,hostfwd=sctp::1-:1", "hostfwd" },
		{ "user,hostfwd=tcp:8080", "hostfwd" },
		{ "user,hostfwd=tcp:8080-80", "hostfwd" },
		{ "user,hostfwd=tcp:0-:80", "hostfwd" },
		{ "user,hostfwd=tcp:65536-:80", "hostfwd" },
		{ "user,hostfwd=tcp:80-:0", "hostfwd" },
		{ "user,hostfwd=tcp:80-10.0.2.16:80", "hostfwd" },
		{ "user,hostfwd=tcp:1.2.3:80-:80", "hostfwd" },
		{ "user,hostfwd=tcp:80-:80,hostfwd=tcp:80-:81", "given twice" },
		{ "user,allow=", "allow=" },
		{ "user,allow=1.2.3.4/33", "allow=" },
		{ "user,allow=1.2.3", "allow=" },
		{ "user,allow=300.1.1.1", "allow=" },
		{ "user,allow=exa mple.com", "allow=" },
		{ "user,allow=a..b", "allow=" },
		{ "user,allow=::1", "IPv6" },
		{ "user,allow=fc00::/7", "IPv6" },
		{ "user,host-access=yes", "host-access" },
		{ "user,dns=localhost", "dns=" },
		{ "user,dns=127.0.0.1:0", "dns=" },
		{ "user,dns=0.0.0.0", "dns=" },
		{ "user,mac=01:00:00:00:00:01", "unicast" }, /* multicast bit */
		{ "user,mac=02:00:00:00:00", "mac=" },
		{ "user,mac=02:00:00:00:00:0g", "mac=" },
		{ "user,mtu=575", "mtu=" },
		{ "user,mtu=65522", "mtu=" },
		{ "tap:t,mtu=67", "mtu=" },
		{ "tap:t,ip=10.0.0.1", "ip=" },
		{ "tap:t,ip=10.0.0.1/0", "ip=" },
		{ "tap:t,gw=1.2.3.4", "need ip=" },
		{ "tap:t,dns=1.2.3.4", "need ip=" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum args_result r = net(bad[i].spec);
		if (r != ARGS_ERROR || !strstr(err, bad[i].mention))
			fail_msg("--net %s: got %d \"%s\", expected an error mentioning \"%s\"",
				 bad[i].spec, r, err, bad[i].mention);
	}
	assert_error(parse("--kernel", "k", "--net", "user", "--net", "user", NULL), "twice");
}

static void test_net_limits(void **state)
{
	(void)state;
	char spec[2048] = "user";
	for (unsigned i = 0; i < CONFIG_NET_FWD_MAX; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), ",hostfwd=tcp:%u-:80",
			 1000 + i);
	assert_int_equal(net(spec), ARGS_OK);
	assert_int_equal(cfg.net.nr_fwd, CONFIG_NET_FWD_MAX);
	strcat(spec, ",hostfwd=tcp:999-:80");
	assert_error(net(spec), "at most");

	strcpy(spec, "user");
	for (unsigned i = 0; i < CONFIG_NET_ALLOW_MAX; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), ",allow=1.1.1.%u", i);
	assert_int_equal(net(spec), ARGS_OK);
	strcat(spec, ",allow=2.2.2.2");
	assert_error(net(spec), "at most");

	/* a 253-character name is the longest; labels at most 63 */
	char name[300];
	memset(name, 'a', sizeof(name));
	for (unsigned i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	snprintf(spec, sizeof(spec), "user,allow=%s", name);
	assert_int_equal(net(spec), ARGS_OK);
	assert_int_equal(strlen(cfg.net.allow[0].name), 253);
	name[253] = 'a';
	name[254] = '\0';
	snprintf(spec, sizeof(spec), "user,allow=%s", name);
	assert_error(net(spec), "allow=");
	memset(name, 'b', 64);
	name[64] = '\0';
	snprintf(spec, sizeof(spec), "user,allow=%s.com", name);
	assert_error(net(spec), "allow=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, teardown),
		cmocka_unit_test_teardown(test_console_default_with_command, teardown),
		cmocka_unit_test_teardown(test_console_explicit_overrides_default, teardown),
		cmocka_unit_test_teardown(test_mem_forms, teardown),
		cmocka_unit_test_teardown(test_mem_bad, teardown),
		cmocka_unit_test_teardown(test_cpus, teardown),
		cmocka_unit_test_teardown(test_disk_forms, teardown),
		cmocka_unit_test_teardown(test_disk_order_and_limit, teardown),
		cmocka_unit_test_teardown(test_pvm_compat, teardown),
		cmocka_unit_test_teardown(test_flags, teardown),
		cmocka_unit_test_teardown(test_vsock, teardown),
		cmocka_unit_test_teardown(test_net_user_defaults, teardown),
		cmocka_unit_test_teardown(test_net_user_options, teardown),
		cmocka_unit_test_teardown(test_net_tap, teardown),
		cmocka_unit_test_teardown(test_net_bad, teardown),
		cmocka_unit_test_teardown(test_net_limits, teardown),
		cmocka_unit_test_teardown(test_control, teardown),
		cmocka_unit_test_teardown(test_missing_values, teardown),
		cmocka_unit_test_teardown(test_unknown_options, teardown),
		cmocka_unit_test_teardown(test_kernel_required, teardown),
		cmocka_unit_test_teardown(test_command_needs_disk, teardown),
		cmocka_unit_test_teardown(test_command, teardown),
		cmocka_unit_test_teardown(test_options_after_dashdash_belong_to_command, teardown),
		cmocka_unit_test_teardown(test_dashdash_alone_is_no_command, teardown),
		cmocka_unit_test_teardown(test_command_with_empty_argument, teardown),
		cmocka_unit_test_teardown(test_help_version, teardown),
		cmocka_unit_test_teardown(test_small_err_buffer, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
