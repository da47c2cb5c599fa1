/* flint-vmm's command line: every option and value checked, one clear sentence per mistake. */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

const char args_usage[] =
	"usage: flint-vmm --kernel VMLINUX [options] [-- COMMAND [ARG]...]\n"
	"\n"
	"Boots a Linux microVM; with a COMMAND, runs it once through flint-init and exits\n"
	"with its status (125 when flint-vmm itself or the VM fails).\n"
	"\n"
	"  --kernel PATH          uncompressed ELF kernel with a PVH entry note (required)\n"
	"  --mem SIZE             guest RAM in MiB, or with an M/G suffix (default 128)\n"
	"  --cpus N               vCPUs, 1-8 (default 1)\n"
	"  --disk PATH[,ro]       a virtio-blk disk; repeatable; the first is the root\n"
	"  --console DEST         kernel console: stdout, none, or a file path\n"
	"                         (default: none with a COMMAND, else stdout)\n"
	"  --boot-trace           print a JSON line per boot phase on stderr\n"
	"  --pvm-compat MODE      on, off or auto (default): guest flags for PVM hosts\n"
	"  --cmdline-extra STR    append STR to the kernel command line\n"
	"  --vsock PATH           a virtio-vsock device; host clients connect to the Unix\n"
	"                         socket PATH and send \"CONNECT <port>\\n\"; guest connections\n"
	"                         to host port P go to the Unix socket PATH_P\n"
	"  --cid N                the guest's vsock CID, 3-4294967294 (default 3)\n"
	"  --net user[,OPTION]... a virtio-net device on a user-mode NAT (libslirp): the\n"
	"                         guest is 10.0.2.15/24, its gateway 10.0.2.2 (the host's\n"
	"                         loopback, when allowed), its DNS 10.0.2.3. OPTIONs:\n"
	"                           hostfwd=tcp|udp:[HOSTADDR:]HOSTPORT-:GUESTPORT (repeatable;\n"
	"                             HOSTADDR defaults to 127.0.0.1)\n"
	"                           allow=CIDR|HOSTNAME (repeatable): only these destinations\n"
	"                           host-access=on|off: the host's loopback via 10.0.2.2 (off)\n"
	"                           dns=ADDR[:PORT]: the resolver DNS queries go to (default:\n"
	"                             the host's first nameserver)\n"
	"                           mac=XX:XX:XX:XX:XX:XX, mtu=N (576-65521, default 1500)\n"
	"                         Private, loopback and other special ranges are refused\n"
	"                         unless allowed; each refusal is logged once on stderr.\n"
	"  --net tap:NAME[,OPTION]...\n"
	"                         a virtio-net device on the existing tap NAME. OPTIONs:\n"
	"                           ip=ADDR/PREFIX, gw=ADDR, dns=ADDR (the guest's setup),\n"
	"                           mac=XX:XX:XX:XX:XX:XX, mtu=N (default: the tap's)\n"
	"  --control PATH         a control socket at PATH for a supervisor: one command per\n"
	"                         line (ping, status, stop), one JSON line back each\n"
	"  -v, --verbose          say more, and boot the kernel without 'quiet'\n"
	"  -h, --help             this text\n"
	"      --version          print the version\n";

static enum args_result fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum args_result fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ARGS_ERROR;
}

/* A whole unsigned decimal number with an optional one-letter suffix; no sign, no junk. */
static int parse_size(const char *s, uint64_t *mib)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	uint64_t mult = 1;
	if (*end == 'M' || *end == 'm')
		end++;
	else if (*end == 'G' || *end == 'g')
		mult = 1024, end++;
	if (*end || v > UINT64_MAX / 1024)
		return -1;
	*mib = v * mult;
	return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
	uint64_t v;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end || x > 0xffffffffull)
		return -1;
	v = x;
	*out = (unsigned)v;
	return 0;
}

static enum args_result parse_disk(struct vm_config *cfg, char *spec, char *err, size_t errlen)
{
	if (cfg->nr_disks == CONFIG_DISKS_MAX)
		return fail(err, errlen, "--disk: at most %u disks", CONFIG_DISKS_MAX);
	struct disk_config *d = &cfg->disks[cfg->nr_disks];
	d->readonly = false;
	/* PATH[,ro]: only a trailing ",ro" or ",rw" is an option, so paths may contain commas. */
	size_t n = strlen(spec);
	if (n > 3 && (strcmp(spec + n - 3, ",ro") == 0 || strcmp(spec + n - 3, ",rw") == 0)) {
		d->readonly = spec[n - 1] == 'o';
		spec[n - 3] = '\0';
	}
	if (spec[0] == '\0')
		return fail(err, errlen, "--disk needs a path");
	d->path = spec;
	cfg->nr_disks++;
	return ARGS_OK;
}

enum args_result args_parse(struct vm_config *cfg, int argc, char *const argv[], char *err,
			    size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_mib = 128;
	cfg->cpus = 1;
	cfg->console = CONSOLE_DEFAULT;
	cfg->pvm = PVM_AUTO;
	cfg->vsock_cid = CONFIG_VSOCK_CID_DEFAULT;
	err[0] = '\0';
	bool cid_set = false;

	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return ARGS_HELP;
		if (strcmp(a, "--version") == 0)
			return ARGS_VERSION;
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			cfg->verbose++;
			continue;
		}
		if (strcmp(a, "--boot-trace") == 0) {
			cfg->boot_trace = true;
			continue;
		}
		static const char *const with_value[] = { "--kernel",     "--mem",
							  "--cpus",       "--disk",
							  "--console",    "--pvm-compat",
							  "--cmdline-extra", "--vsock",
							  "--cid",        "--net",
							  "--control" };
		bool known = false;
		for (unsigned k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |= strcmp(a, with_value[k]) == 0;
		if (!known)
			return fail(err, errlen, "unknown option '%s' (--help lists them)", a);
		if (i + 1 >= argc)
			return fail(err, errlen, "%s needs a value", a);
		val = argv[++i];

		if (strcmp(a, "--kernel") == 0) {
			cfg->kernel = val;
		} else if (strcmp(a, "--mem") == 0) {
			if (parse_size(val, &cfg->mem_mib) < 0 ||
			    cfg->mem_mib < LAYOUT_MEM_MIN_MIB || cfg->mem_mib > LAYOUT_MEM_MAX_MIB)
				return fail(err, errlen,
					    "--mem %s: give a size from %llu MiB to %llu GiB", val,
					    (unsigned long long)LAYOUT_MEM_MIN_MIB,
					    (unsigned long long)(LAYOUT_MEM_MAX_MIB >> 10));
		} else if (strcmp(a, "--cpus") == 0) {
			if (parse_uint(val, &cfg->cpus) < 0 || cfg->cpus < 1 ||
			    cfg->cpus > LAYOUT_MAX_CPUS)
				return fail(err, errlen, "--cpus %s: give a number from 1 to %u", val,
					    LAYOUT_MAX_CPUS);
		} else if (strcmp(a, "--disk") == 0) {
			if (parse_disk(cfg, (char *)val, err, errlen) != ARGS_OK)
				return ARGS_ERROR;
		} else if (strcmp(a, "--console") == 0) {
			if (strcmp(val, "stdout") == 0) {
				cfg->console = CONSOLE_STDOUT;
			} else if (strcmp(val, "none") == 0) {
				cfg->console = CONSOLE_NONE;
			} else if (val[0] == '\0') {
				return fail(err, errlen, "--console needs stdout, none or a path");
			} else {
				cfg->console = CONSOLE_FILE;
				cfg->console_path = val;
			}
		} else if (strcmp(a, "--pvm-compat") == 0) {
			if (strcmp(val, "on") == 0)
				cfg->pvm = PVM_ON;
			else if (strcmp(val, "off") == 0)
				cfg->pvm = PVM_OFF;
			else if (strcmp(val, "auto") == 0)
				cfg->pvm = PVM_AUTO;
			else
				return fail(err, errlen, "--pvm-compat %s: give on, off or auto", val);
		} else if (strcmp(a, "--cmdline-extra") == 0) {
			cfg->cmdline_extra = val;
		} else if (strcmp(a, "--vsock") == 0) {
			if (val[0] == '\0' || strlen(val) > CONFIG_VSOCK_PATH_MAX)
				return fail(err, errlen,
					    "--vsock needs a socket path of 1 to %u bytes",
					    CONFIG_VSOCK_PATH_MAX);
			cfg->vsock_path = val;
		} else if (strcmp(a, "--cid") == 0) {
			unsigned cid;
			if (parse_uint(val, &cid) < 0 || cid < CONFIG_VSOCK_CID_MIN ||
			    cid > CONFIG_VSOCK_CID_MAX)
				return fail(err, errlen, "--cid %s: give a number from %u to %u",
					    val, CONFIG_VSOCK_CID_MIN, CONFIG_VSOCK_CID_MAX);
			cfg->vsock_cid = cid;
			cid_set = true;
		} else if (strcmp(a, "--net") == 0) {
			if (args_parse_net(&cfg->net, (char *)val, err, errlen) < 0)
				return ARGS_ERROR;
		} else if (strcmp(a, "--control") == 0) {
			if (val[0] == '\0' || strlen(val) > CONFIG_CONTROL_PATH_MAX)
				return fail(err, errlen,
					    "--control needs a socket path of 1 to %u bytes",
					    CONFIG_CONTROL_PATH_MAX);
			cfg->control_path = val;
		}
	}
	if (i < argc) {
		cfg->argv = &argv[i];
		cfg->argc = (unsigned)(argc - i);
	}
	if (!cfg->kernel)
		return fail(err, errlen, "--kernel is required (the guest vmlinux)");
	if (cfg->argc > 0 && cfg->nr_disks == 0)
		return fail(err, errlen,
			    "a COMMAND needs a root disk with flint-init on it (--disk IMAGE)");
	if (cid_set && !cfg->vsock_path)
		return fail(err, errlen, "--cid needs --vsock (no vsock device without it)");
	if (cfg->control_path && cfg->vsock_path && strcmp(cfg->control_path, cfg->vsock_path) == 0)
		return fail(err, errlen, "--control and --vsock need different socket paths");
	if (cfg->console == CONSOLE_DEFAULT)
		cfg->console = cfg->argc > 0 ? CONSOLE_NONE : CONSOLE_STDOUT;
	return ARGS_OK;
}
