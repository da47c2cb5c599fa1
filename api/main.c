/* flintd: the agentkernel-compatible HTTP API in front of flint microVMs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../host/dnscheck.h"
#include "../host/launch.h"
#include "flintd.h"
#include "http.h"
#include "imagestore.h"
#include "log.h"
#include "pool.h"
#include "sandbox.h"
#include "validate.h"

struct flintd_opts flintd;
struct image_table flintd_images;
struct auth flintd_auth;

static const char usage[] =
	"usage: flintd [options]\n"
	"\n"
	"Serves the agentkernel-compatible HTTP API (docs/http-api.md); every sandbox and every\n"
	"one-shot run is a flint microVM.\n"
	"\n"
	"  --listen ADDR:PORT     where to listen (default 127.0.0.1:18888; port 0 picks one)\n"
	"  --api-key-file FILE    bearer keys, one per line (also FLINT_API_KEY); none: no auth\n"
	"  --state-dir DIR        sandbox state, VM sockets and logs (default\n"
	"                         $FLINT_STATE_DIR, else ~/.local/state/flint)\n"
	"  --pool N               booted idle VMs kept for fast runs (default 1, max 64)\n"
	"  --max-sandboxes N      sandboxes at once (default 64)\n"
	"  --images FILE          image table (default: the built-in image, base)\n"
	"  --default-image NAME   what a request without \"image\" gets (default base)\n"
	"  --pull never|missing   pull an image a request names that is not in the store\n"
	"                         (default never; docs/images.md)\n"
	"  --mem MIB, --cpus N    the default VM (default 512 MiB, 1 vCPU)\n"
	"  --boot-timeout S       a VM not ready by then fails (default 600)\n"
	"  --exec-timeout S       default limit per command, 0 for none (default 3600)\n"
	"  --max-output BYTES     output kept per command (default 8388608)\n"
	"  --default-ttl DUR      sandboxes expire after DUR (30m, 2h, 1d) unless extended\n"
	"  --keep-sandboxes       on SIGTERM leave sandboxes running for the next flintd\n"
	"  --net-dns ADDR[:PORT]  the resolver VMs' DNS queries go to (default: the host's\n"
	"                         first nameserver)\n"
	"  --net-allow CIDR|HOST  repeatable: VMs may reach only these destinations (and DNS);\n"
	"                         default: any public address (private ranges always refused)\n"
	"  -v, --verbose          keep each VM's kernel console in its state directory\n"
	"  -h, --help             this text\n";

static int parse_num(const char *opt, const char *v, unsigned long lo, unsigned long hi,
		     unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long x = v && *v >= '0' && *v <= '9' ? strtoul(v, &end, 10) : 0;
	if (!v || *v < '0' || *v > '9' || errno || *end || x < lo || x > hi) {
		fprintf(stderr, "flintd: %s %s: give a whole number from %lu to %lu\n", opt,
			v ? v : "(missing)", lo, hi);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	flintd = (struct flintd_opts){ .listen = "127.0.0.1:18888",
				       .pool = 1,
				       .max_sandboxes = 64,
				       .max_connections = 512,
				       .boot_timeout_s = 600,
				       .exec_timeout_s = 3600,
				       .max_output = 8u << 20 };
	flintd.default_spec.mem_mib = 512;
	flintd.default_spec.cpus = 1;
	flintd.default_spec.net = VM_NET_NAT; /* the moderate profile's */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long n;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			flintd.verbose = true;
			continue;
		} else if (!strcmp(a, "--keep-sandboxes")) {
			flintd.keep_sandboxes = true;
			continue;
		}
		if (a[0] != '-' || a[1] != '-') {
			fprintf(stderr, "flintd: unexpected argument '%s' (flintd --help)\n", a);
			return -1;
		}
		if (!v) {
			fprintf(stderr, "flintd: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--listen")) {
			flintd.listen = v;
		} else if (!strcmp(a, "--api-key-file")) {
			flintd.api_key_file = v;
		} else if (!strcmp(a, "--state-dir")) {
			flintd.state_dir = v;
		} else if (!strcmp(a, "--net-dns")) {
			if (!netspec_dns_valid(v)) {
				fprintf(stderr, "flintd: --net-dns %s: give an IPv4 address, optionally "
						"with :PORT\n",
					v);
				return -1;
			}
			flintd.net.dns = v;
		} else if (!strcmp(a, "--net-allow")) {
			if (!netspec_allow_valid(v)) {
				fprintf(stderr, "flintd: --net-allow %s: give an IPv4 address, "
						"ADDR/PREFIX or a host name\n",
					v);
				return -1;
			}
			if (flintd.net.nallow >= NET_ALLOW_MAX) {
				fprintf(stderr, "flintd: at most %u --net-allow entries\n",
					NET_ALLOW_MAX);
				return -1;
			}
			flintd.net.allow[flintd.net.nallow++] = v;
		} else if (!strcmp(a, "--images")) {
			flintd.images_file = v;
		} else if (!strcmp(a, "--default-image")) {
			flintd.default_image = v;
		} else if (!strcmp(a, "--pull")) {
			if (strcmp(v, "never") && strcmp(v, "missing")) {
				fprintf(stderr, "flintd: --pull %s: give never or missing\n", v);
				return -1;
			}
			flintd.pull_missing = !strcmp(v, "missing");
		} else if (!strcmp(a, "--pool")) {
			if (parse_num(a, v, 0, 64, &n))
				return -1;
			flintd.pool = (unsigned)n;
		} else if (!strcmp(a, "--max-sandboxes")) {
			if (parse_num(a, v, 1, 4096, &n))
				return -1;
			flintd.max_sandboxes = (unsigned)n;
		} else if (!strcmp(a, "--mem")) {
			if (parse_num(a, v, 64, 16384, &n))
				return -1;
			flintd.default_spec.mem_mib = (unsigned)n;
		} else if (!strcmp(a, "--cpus")) {
			if (parse_num(a, v, 1, 8, &n))
				return -1;
			flintd.default_spec.cpus = (unsigned)n;
		} else if (!strcmp(a, "--boot-timeout")) {
			if (parse_num(a, v, 1, 86400, &n))
				return -1;
			flintd.boot_timeout_s = (unsigned)n;
		} else if (!strcmp(a, "--exec-timeout")) {
			if (parse_num(a, v, 0, 30 * 86400, &n))
				return -1;
			flintd.exec_timeout_s = (unsigned)n;
		} else if (!strcmp(a, "--max-output")) {
			if (parse_num(a, v, 4096, 1ul << 30, &n))
				return -1;
			flintd.max_output = n;
		} else if (!strcmp(a, "--default-ttl")) {
			uint64_t s;
			if (duration_parse(v, &s) < 0) {
				fprintf(stderr, "flintd: --default-ttl %s: give a duration such as "
						"30m, 2h or 1d\n",
					v);
				return -1;
			}
			flintd.default_ttl_s = (unsigned)s;
		} else {
			fprintf(stderr, "flintd: unknown option '%s' (flintd --help)\n", a);
			return -1;
		}
	}
	return 0;
}

/* mkdir -p with mode 0700 for what we create. */
static int make_dirs(const char *path)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static const char *default_state_dir(void)
{
	static char buf[PATH_MAX];
	const char *e = getenv("FLINT_STATE_DIR");
	if (e && e[0])
		return e;
	const char *home = getenv("HOME");
	snprintf(buf, sizeof(buf), "%s/.local/state/flint", home && home[0] ? home : "/var/lib");
	return buf;
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) < 0)
		return 2;
	if (!flintd.state_dir)
		flintd.state_dir = default_state_dir();
	int r = make_dirs(flintd.state_dir);
	if (r < 0) {
		fprintf(stderr, "flintd: cannot create the state directory %s: %s\n",
			flintd.state_dir, strerror(-r));
		return 1;
	}
	/* One flintd per state directory: two would fight over the same VMs. */
	char lockp[PATH_MAX];
	snprintf(lockp, sizeof(lockp), "%s/flintd.lock", flintd.state_dir);
	int lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "flintd: %s is in use by another flintd\n", flintd.state_dir);
		return 1;
	}

	char err[1024];
	if (auth_init(&flintd_auth, flintd.api_key_file, getenv("FLINT_API_KEY"), err,
		      sizeof(err)) < 0) {
		fprintf(stderr, "flintd: %s\n", err);
		return 1;
	}
	struct launch_opts lo = { 0 };
	launch_default_paths(&lo, argv[0]);
	if (images_init(&flintd_images, flintd.images_file, lo.image, err, sizeof(err)) < 0) {
		fprintf(stderr, "flintd: %s\n", err);
		return 1;
	}
	flintd.boot_disk = lo.image;
	if (imagestore_init(flintd.state_dir,
			    flintd.pull_missing ? IMAGESTORE_PULL_MISSING : IMAGESTORE_PULL_NEVER, err,
			    sizeof(err)) < 0) {
		fprintf(stderr, "flintd: %s\n", err);
		return 1;
	}
	/* The pool boots what a request without an image gets. */
	const char *defname = flintd.default_image ? flintd.default_image : "base";
	const struct image *def = images_resolve(&flintd_images, defname);
	if (!def && !flintd.default_image && flintd_images.n)
		def = &flintd_images.v[0]; /* a table without "base": its first image */
	snprintf(flintd.default_spec.image_path, sizeof(flintd.default_spec.image_path), "%s",
		 lo.image);
	if (def) {
		snprintf(flintd.default_spec.image, sizeof(flintd.default_spec.image), "%s",
			 def->name);
		snprintf(flintd.default_spec.image_path, sizeof(flintd.default_spec.image_path),
			 "%s", def->path);
	} else if (imagestore_resolve(defname, &flintd.default_spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "flintd: --default-image %s: %s\n", defname, err);
		return 1;
	}

	/* Every thread inherits this mask; only the main thread takes these signals, via sigwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct vm_paths vp = { .vmm = lo.vmm,
			       .kernel = lo.kernel,
			       .state_dir = flintd.state_dir,
			       .verbose = flintd.verbose,
			       .net = &flintd.net };
	if (vm_module_init(&vp) < 0 || sandboxes_init(flintd.state_dir, flintd.max_sandboxes) < 0)
		return 1;
	if (pool_init(flintd.pool, &flintd.default_spec) < 0)
		return 1;
	/* Said once, before "listening", not per VM: an offline host still runs sandboxes, without DNS. */
	struct dnscheck dc;
	if (dnscheck_probe(flintd.net.dns, &dc) < 0)
		fprintf(stderr, "flintd: VMs' DNS: %s: sandboxes boot, their DNS queries get SERVFAIL "
				"until this host reaches it (--net-dns ADDR names another)\n",
			dc.why);
	struct http_opts ho = { .listen = flintd.listen, .max_connections = flintd.max_connections };
	unsigned port;
	if (http_start(&ho, &port) < 0) {
		pool_destroy();
		sandboxes_destroy(false);
		return 1;
	}
	char addr[128];
	snprintf(addr, sizeof(addr), "%s", flintd.listen);
	char *colon = strrchr(addr, ':');
	if (colon)
		*colon = '\0';
	fprintf(stderr, "flintd: listening on http://%s:%u (state %s, pool %u, auth %s)\n", addr,
		port, flintd.state_dir, flintd.pool, auth_enabled(&flintd_auth) ? "on" : "off");

	int sig = 0;
	sigwait(&set, &sig);
	log_info("flintd", "signal %d: shutting down%s", sig,
		 flintd.keep_sandboxes ? " (sandboxes keep running)" : "");
	/*
	 * VMs first: requests in flight on them fail at once, so the connection threads that
	 * http_stop joins end quickly. Kept sandboxes' requests are not waited for.
	 */
	http_quiesce();
	pool_destroy();
	sandboxes_destroy(!flintd.keep_sandboxes);
	vm_kill_all();
	if (flintd.keep_sandboxes) {
		log_info("flintd", "stopped; sandboxes left running");
		return 0;
	}
	http_stop();
	vm_module_destroy();
	imagestore_destroy();
	images_destroy(&flintd_images);
	auth_destroy(&flintd_auth);
	close(lockfd);
	return 0;
}
