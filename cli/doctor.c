/* flint doctor: can this host run flint's VMs? One line per check, a fix beside each problem. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../host/dnscheck.h"
#include "../host/hostkind.h"
#include "../host/launch.h"
#include "cli.h"
#include "kvm_caps.h"

static const char doctor_usage[] =
	"usage: flint doctor [--host]\n"
	"\n"
	"Checks that this host can run flint's microVMs: /dev/kvm, the KVM API and the\n"
	"capabilities flint-vmm needs, what backs KVM here, flint-vmm, the guest kernel and\n"
	"the base image (found as flint run finds them), cgroup v2, user namespaces,\n"
	"libslirp (for --net user) and DNS for sandboxes. One line per check:\n"
	"  ok   CHECK: DETAIL\n"
	"  warn CHECK: DETAIL (fix: ...)    works, at a cost or without a feature\n"
	"  FAIL CHECK: DETAIL (fix: ...)    flint cannot run a VM here\n"
	"Exits 1 when a check FAILs, else 0. Needs no root and changes nothing.\n"
	"\n"
	"  --host     print one line, KIND: DESCRIPTION, where KIND is hardware, pvm,\n"
	"             nested-tcg, nested or none, and exit 0\n";

/* The one fix for a host without KVM, from both the /dev/kvm and host lines. */
#define FIX_NO_KVM                                                                                 \
	"load kvm_intel or kvm_amd; on a machine without virtualization, run the tests "          \
	"through tools/with-kvm (docs/hosts.md)"

/* Must match LIBSLIRP in vmm/net/slirp.c: doctor loads it the way flint-vmm does. */
#define DOCTOR_LIBSLIRP "libslirp.so.0"

enum level { OK, WARN, FAIL };

static unsigned fails;

/* One line on stdout; fix is required for WARN and FAIL, so every problem says what to do. */
__attribute__((format(printf, 4, 5))) static void report(enum level lv, const char *check,
							 const char *fix, const char *fmt, ...)
{
	static const char *const tag[] = { "ok  ", "warn", "FAIL" };
	printf("%s %s: ", tag[lv], check);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (lv != OK)
		printf(" (fix: %s)", fix);
	putchar('\n');
	if (lv == FAIL)
		fails++;
}

/* "crw-rw---- root:kvm", as ls -l says it. */
static void mode_owner(const struct stat *st, char *buf, size_t n)
{
	char m[11];
	m[0] = S_ISCHR(st->st_mode) ? 'c' : S_ISREG(st->st_mode) ? '-' : S_ISDIR(st->st_mode) ? 'd'
										   : '?';
	for (int i = 0; i < 9; i++)
		m[1 + i] = (st->st_mode >> (8 - i)) & 1 ? "rwx"[i % 3] : '-';
	m[10] = '\0';
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	char u[16], g[16];
	snprintf(u, sizeof(u), "%u", (unsigned)st->st_uid);
	snprintf(g, sizeof(g), "%u", (unsigned)st->st_gid);
	snprintf(buf, n, "%s %s:%s", m, pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

static const char *file_kind(mode_t m)
{
	return S_ISREG(m) ? "regular file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink"
				       : S_ISBLK(m) ? "block device" : S_ISFIFO(m) ? "FIFO"
				       : S_ISSOCK(m) ? "socket" : "special file";
}

/* The open /dev/kvm, or -1 after a FAIL. Never O_CREAT: a missing device must stay missing. */
static int check_kvm_dev(void)
{
	struct stat st;
	if (stat("/dev/kvm", &st) != 0) {
		int e = errno;
		if (e == ENOENT)
			report(FAIL, "/dev/kvm", FIX_NO_KVM, "absent: this host has no KVM");
		else
			report(FAIL, "/dev/kvm", FIX_NO_KVM, "cannot stat it: %s", strerror(e));
		return -1;
	}
	char mo[96];
	mode_owner(&st, mo, sizeof(mo));
	if (!S_ISCHR(st.st_mode)) {
		report(FAIL, "/dev/kvm", "remove it (sudo rm /dev/kvm), then " FIX_NO_KVM,
		       "a %s (%s), not a character device: not a KVM", file_kind(st.st_mode), mo);
		return -1;
	}
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		char fix[160];
		struct group *gr = getgrgid(st.st_gid);
		if ((e == EACCES || e == EPERM) && (st.st_mode & 060) == 060 && gr && st.st_gid)
			snprintf(fix, sizeof(fix), "sudo usermod -aG %s $USER, then log in again",
				 gr->gr_name);
		else if (e == EACCES || e == EPERM)
			snprintf(fix, sizeof(fix),
				 "sudo chgrp kvm /dev/kvm && sudo chmod 660 /dev/kvm, then join "
				 "the kvm group (sudo usermod -aG kvm $USER)");
		else
			snprintf(fix, sizeof(fix), "%s", FIX_NO_KVM);
		report(FAIL, "/dev/kvm", fix, "cannot open it read-write: %s (%s)", strerror(e),
		       mo);
		return -1;
	}
	report(OK, "/dev/kvm", NULL, "a character device, open read-write (%s)", mo);
	return fd;
}

static void check_kvm_api(int fd)
{
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_CAPS_API_VERSION) {
		char got[64];
		if (v < 0)
			snprintf(got, sizeof(got), "failed: %s", strerror(errno));
		else
			snprintf(got, sizeof(got), "answered %d", v);
		report(FAIL, "kvm-api", "this /dev/kvm is not Linux's KVM: " FIX_NO_KVM,
		       "KVM_GET_API_VERSION %s; flint-vmm needs %d", got, KVM_CAPS_API_VERSION);
		return;
	}
	report(OK, "kvm-api", NULL, "version %d", v);
}

static void check_kvm_caps(int fd)
{
	char have[256] = "", lack[256] = "";
	for (unsigned i = 0; i < KVM_CAPS_NEEDED_N; i++) {
		bool has = ioctl(fd, KVM_CHECK_EXTENSION, kvm_caps_needed[i].cap) > 0;
		char *list = has ? have : lack;
		size_t len = strlen(list);
		snprintf(list + len, 256 - len, "%s%s", len ? ", " : "", kvm_caps_needed[i].name);
	}
	if (lack[0])
		report(FAIL, "kvm-caps",
		       "a host kernel whose KVM has them all (Linux 4.11 or newer has them)",
		       "KVM here lacks %s, which flint-vmm needs", lack);
	else
		report(OK, "kvm-caps", NULL, "%s", have);
}

/* What backs /dev/kvm here, and its description for people. */
static enum hostkind host_now(char desc[HOSTKIND_DESC_MAX])
{
	struct hostkind_facts f;
	hostkind_probe(&f);
	enum hostkind k = hostkind_decide(&f);
	hostkind_describe(k, &f, desc, HOSTKIND_DESC_MAX);
	return k;
}

static void check_host(void)
{
	char desc[HOSTKIND_DESC_MAX];
	enum hostkind k = host_now(desc);
	const char *n = hostkind_name(k);
	switch (k) {
	case HOSTKIND_HARDWARE:
		report(OK, "host", NULL, "%s: %s", n, desc);
		break;
	case HOSTKIND_PVM:
		report(WARN, "host", "a host with hardware KVM boots in milliseconds",
		       "%s: %s: each boot takes 30-60 s", n, desc);
		break;
	case HOSTKIND_NESTED_TCG:
		report(WARN, "host", "hardware KVM, for timings that mean anything on their own",
		       "%s: %s: everything is emulated, VMs boot in seconds", n, desc);
		break;
	case HOSTKIND_NESTED:
		report(WARN, "host", "bare metal, for benchmark numbers",
		       "%s: %s: some VM exits cost more than on hardware", n, desc);
		break;
	case HOSTKIND_NONE:
		report(FAIL, "host", "make /dev/kvm usable (its line says how)", "%s: %s", n, desc);
		break;
	}
}

/* A regular, non-empty file flint run would use; exec says whether it must be executable. */
static void check_file(const char *check, const char *path, const char *env, bool exec)
{
	const char *v = getenv(env);
	bool from_env = v && v[0];
	char fix[128];
	if (from_env)
		snprintf(fix, sizeof(fix), "point %s at a built one, or unset it", env);
	else
		snprintf(fix, sizeof(fix), "make (or set %s)", env);
	char src[48] = "";
	if (from_env)
		snprintf(src, sizeof(src), " (from %s)", env);
	struct stat st;
	if (stat(path, &st) != 0) {
		report(FAIL, check, fix, "%s%s: %s", path, src, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		report(FAIL, check, fix, "%s%s: not a non-empty regular file", path, src);
		return;
	}
	if (access(path, exec ? X_OK : R_OK) != 0) {
		report(FAIL, check, fix, "%s%s: cannot %s it: %s", path, src,
		       exec ? "execute" : "read", strerror(errno));
		return;
	}
	report(OK, check, NULL, "%s%s", path, src);
}

static void check_files(void)
{
	struct launch_opts lo = { 0 };
	launch_default_paths(&lo, cli_argv0);
	check_file("flint-vmm", lo.vmm, "FLINT_VMM", true);
	check_file("kernel", lo.kernel, "FLINT_KERNEL", false);
	check_file("image", lo.image, "FLINT_IMAGE", false);
}

/* The first line of a small /proc or /sys file, without its newline; false when unreadable. */
static bool read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool got = fgets(buf, (int)n, f) != NULL;
	fclose(f);
	if (got)
		buf[strcspn(buf, "\n")] = '\0';
	return got;
}

static void check_cgroup(void)
{
	char ctl[256];
	if (!read_line("/sys/fs/cgroup/cgroup.controllers", ctl, sizeof(ctl))) {
		report(WARN, "cgroup",
		       "boot with systemd.unified_cgroup_hierarchy=1, or mount -t cgroup2 none "
		       "/sys/fs/cgroup",
		       "no cgroup v2 at /sys/fs/cgroup (/sys/fs/cgroup/cgroup.controllers: %s); "
		       "VMs boot without it",
		       strerror(errno));
		return;
	}
	report(OK, "cgroup", NULL, "v2 at /sys/fs/cgroup (controllers: %s)", ctl[0] ? ctl : "none");
}

static void check_userns(void)
{
	char v[32];
	const char *why = "the host-side test suites use them when not root; VMs do not";
	if (!read_line("/proc/sys/user/max_user_namespaces", v, sizeof(v))) {
		report(WARN, "userns", "a kernel built with CONFIG_USER_NS",
		       "no /proc/sys/user/max_user_namespaces (%s): %s", strerror(errno), why);
		return;
	}
	long max = strtol(v, NULL, 10);
	if (max <= 0) {
		report(WARN, "userns", "sudo sysctl -w user.max_user_namespaces=15000",
		       "user.max_user_namespaces is %s: %s", v, why);
		return;
	}
	/* Debian's switch, and Ubuntu's AppArmor one, where the kernel has them. */
	if (read_line("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof(v)) &&
	    strcmp(v, "0") == 0) {
		report(WARN, "userns", "sudo sysctl -w kernel.unprivileged_userns_clone=1",
		       "kernel.unprivileged_userns_clone is 0: %s", why);
		return;
	}
	if (read_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", v, sizeof(v)) &&
	    strcmp(v, "1") == 0) {
		report(WARN, "userns",
		       "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
		       "AppArmor restricts unprivileged user namespaces: %s", why);
		return;
	}
	report(OK, "userns", NULL, "unprivileged user namespaces allowed (at most %ld)", max);
}

static void check_slirp(void)
{
	/* The same soname and flags as flint-vmm's slirp_load, so the answer is its answer. */
	void *h = dlopen(DOCTOR_LIBSLIRP, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		report(WARN, "libslirp", "sudo apt-get install libslirp0",
		       "%s does not load (%s): only --net user needs it", DOCTOR_LIBSLIRP,
		       dlerror());
		return;
	}
	if (!dlsym(h, "slirp_new")) {
		report(WARN, "libslirp", "sudo apt-get install libslirp0",
		       "%s has no slirp_new: only --net user needs it", DOCTOR_LIBSLIRP);
		dlclose(h);
		return;
	}
	const char *(*version)(void);
	*(void **)&version = dlsym(h, "slirp_version_string"); /* POSIX's way to a function */
	report(OK, "libslirp", NULL, "%s loads (version %s)", DOCTOR_LIBSLIRP,
	       version ? version() : "unknown");
	dlclose(h);
}

static void check_dns(void)
{
	struct dnscheck c;
	if (dnscheck_probe(NULL, &c) < 0)
		report(WARN, "dns", "give --net user,dns=ADDR (flintd: --net-dns) a resolver this host reaches",
		       "%s (the host's resolver): sandboxes boot, their DNS queries get SERVFAIL", c.why);
	else
		report(OK, "dns", NULL, "nameserver %s (/etc/resolv.conf) has a route", c.server);
}

static int print_host(void)
{
	char desc[HOSTKIND_DESC_MAX];
	enum hostkind k = host_now(desc);
	printf("%s: %s\n", hostkind_name(k), desc);
	return 0;
}

int cmd_doctor(int argc, char **argv)
{
	bool host = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(doctor_usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--host") == 0) {
			host = true;
			continue;
		}
		cli_err("doctor: unknown option '%s'", argv[i]);
		fputs("usage: flint doctor [--host] (flint doctor --help describes it)\n", stderr);
		return 2;
	}
	if (host)
		return print_host();

	fails = 0;
	int fd = check_kvm_dev();
	/* Without an open /dev/kvm there is nothing to ask: that FAIL says it all. */
	if (fd >= 0) {
		check_kvm_api(fd);
		check_kvm_caps(fd);
		close(fd);
	}
	check_host();
	check_files();
	check_cgroup();
	check_userns();
	check_slirp();
	check_dns();
	return fails ? 1 : 0;
}
