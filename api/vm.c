/* flintd's flint-vmm processes: spawn, readiness, supervision, adoption, agent connections. */
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

static struct vm_paths paths;
static char vms_dir[PATH_MAX];
static int sup_epoll = -1;
static pthread_t sup_thread;
static pthread_mutex_t sup_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Field 22 of /proc/PID/stat; 0 when the process is gone. */
static unsigned long long proc_starttime(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++; /* the space before field 3 */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* The last non-empty line of the VMM's stderr log, for a death reason. */
static void last_log_line(const struct vm *vm, char *out, size_t cap)
{
	char path[PATH_MAX], buf[2048];
	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/vmm.log", vm->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	size_t j = 0;
	for (const char *s = line; *s && j + 1 < cap; s++)
		out[j++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[j] = '\0';
}

static void describe_death(struct vm *vm)
{
	char last[160];
	last_log_line(vm, last, sizeof(last));
	char what[80];
	if (!vm->child)
		snprintf(what, sizeof(what), "flint-vmm (pid %d) exited", (int)vm->pid);
	else if (WIFEXITED(vm->wait_status))
		snprintf(what, sizeof(what), "flint-vmm exited with status %d",
			 WEXITSTATUS(vm->wait_status));
	else if (WIFSIGNALED(vm->wait_status))
		snprintf(what, sizeof(what), "flint-vmm was killed by signal %d",
			 WTERMSIG(vm->wait_status));
	else
		snprintf(what, sizeof(what), "flint-vmm ended");
	snprintf(vm->reason, sizeof(vm->reason), "%s%s%s", what, last[0] ? ": " : "", last);
}

/* Reap (children) and mark dead; idempotent, under vm->lock. */
static void vm_mark_dead(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->state) != VM_DEAD) {
		if (vm->child && vm->pid > 0) {
			int st;
			if (waitpid(vm->pid, &st, 0) == vm->pid)
				vm->wait_status = st;
		}
		describe_death(vm);
		atomic_store(&vm->state, VM_DEAD);
	}
	pthread_mutex_unlock(&vm->lock);
}

static void vm_free(struct vm *vm);
static void remove_dir(const char *dir);

/* VMs handed to vm_discard and not yet freed; vm_module_destroy waits for them. */
static pthread_mutex_t discard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t discard_cond = PTHREAD_COND_INITIALIZER;
static unsigned discard_pending;

static void discard_done(struct vm *vm)
{
	remove_dir(vm->dir);
	vm_free(vm);
	pthread_mutex_lock(&discard_lock);
	discard_pending--;
	pthread_cond_broadcast(&discard_cond);
	pthread_mutex_unlock(&discard_lock);
}

static void *supervisor(void *arg)
{
	(void)arg;
	struct epoll_event ev[16];
	for (;;) {
		struct vm *freed[16];
		unsigned nfreed = 0;
		int n = epoll_wait(sup_epoll, ev, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			struct vm *vm = ev[i].data.ptr;
			if (!vm)
				return NULL; /* the shutdown eventfd */
			/*
			 * vm_destroy unregisters under sup_lock before it frees, so a VM seen here
			 * is alive as long as the lock is held; its owner's callback runs with the
			 * lock held and must not call vm_destroy (it schedules that instead).
			 */
			pthread_mutex_lock(&sup_lock);
			struct epoll_event none;
			if (epoll_ctl(sup_epoll, EPOLL_CTL_DEL, vm->pidfd, &none) == 0) {
				bool expected = vm->stopping;
				vm_mark_dead(vm);
				if (vm->discard) {
					freed[nfreed++] = vm;
				} else if (!expected) {
					log_warn("vm", "vm %s died: %s", vm->id, vm->reason);
					if (vm->on_death)
						vm->on_death(vm, vm->death_ctx);
				}
			}
			pthread_mutex_unlock(&sup_lock);
		}
		/* Out of sup_lock: freeing takes all_lock and touches the file system. */
		for (unsigned i = 0; i < nfreed; i++)
			discard_done(freed[i]);
	}
	return NULL;
}

static int shutdown_efd = -1;

int vm_module_init(const struct vm_paths *p)
{
	paths = *p;
	snprintf(vms_dir, sizeof(vms_dir), "%s/vms", p->state_dir);
	/* <vms>/<16 hex>/v.sock_1025 must fit a Unix socket address. */
	if (strlen(vms_dir) + 1 + 16 + 12 >= VM_PATH_MAX) {
		log_err("vm", "state directory %s is too long for Unix socket paths (keep it under "
			      "%d characters)",
			p->state_dir, VM_PATH_MAX - 1 - 16 - 12 - 4);
		return -ENAMETOOLONG;
	}
	if (mkdir(vms_dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		log_err("vm", "cannot create %s: %s", vms_dir, strerror(e));
		return -e;
	}
	if (access(p->vmm, X_OK) != 0 || access(p->kernel, R_OK) != 0) {
		log_err("vm", "cannot use flint-vmm %s or kernel %s (build them with make)", p->vmm,
			p->kernel);
		return -ENOENT;
	}
	sup_epoll = epoll_create1(EPOLL_CLOEXEC);
	shutdown_efd = eventfd(0, EFD_CLOEXEC);
	if (sup_epoll < 0 || shutdown_efd < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(sup_epoll, EPOLL_CTL_ADD, shutdown_efd, &ev);
	int r = pthread_create(&sup_thread, NULL, supervisor, NULL);
	return -r;
}

void vm_module_destroy(void)
{
	/* Discarded VMs were SIGKILLed: give the kernel a moment to end them, then stop. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&discard_lock);
	while (discard_pending &&
	       pthread_cond_timedwait(&discard_cond, &discard_lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&discard_lock);
	if (shutdown_efd >= 0) {
		uint64_t one = 1;
		if (write(shutdown_efd, &one, sizeof(one)) == sizeof(one))
			pthread_join(sup_thread, NULL);
		close(shutdown_efd);
		shutdown_efd = -1;
	}
	if (sup_epoll >= 0)
		close(sup_epoll);
	sup_epoll = -1;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void vm_set_paths(struct vm *vm)
{
	/* vm_module_init checked that these fit; a truncation here is a bug. */
	int n = snprintf(vm->dir, sizeof(vm->dir), "%s/%s", vms_dir, vm->id);
	if (n < 0 || (size_t)n >= sizeof(vm->dir))
		abort();
	n = snprintf(vm->vsock, sizeof(vm->vsock), "%s/v.sock", vm->dir);
	if (n < 0 || (size_t)n >= sizeof(vm->vsock))
		abort();
	n = snprintf(vm->control, sizeof(vm->control), "%s/c.sock", vm->dir);
	if (n < 0 || (size_t)n >= sizeof(vm->control))
		abort();
	n = snprintf(vm->ready_path, sizeof(vm->ready_path), "%s_%u", vm->vsock, AGENT_READY_PORT);
	if (n < 0 || (size_t)n >= sizeof(vm->ready_path))
		abort();
}

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm *all_vms;

static struct vm *vm_alloc(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	pthread_mutex_lock(&all_lock);
	vm->next = all_vms;
	if (all_vms)
		all_vms->prev = vm;
	all_vms = vm;
	pthread_mutex_unlock(&all_lock);
	vm->pid = -1;
	vm->pidfd = vm->ready_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	atomic_init(&vm->state, VM_BOOTING);
	return vm;
}

static void vm_free(struct vm *vm)
{
	pthread_mutex_lock(&all_lock);
	if (vm->prev)
		vm->prev->next = vm->next;
	else
		all_vms = vm->next;
	if (vm->next)
		vm->next->prev = vm->prev;
	pthread_mutex_unlock(&all_lock);
	for (unsigned i = 0; i < vm->nidle; i++) {
		agent_client_destroy(vm->idle[i]);
		free(vm->idle[i]);
	}
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	if (vm->ready_fd >= 0)
		close(vm->ready_fd);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

/* Remove a VM directory and what flint-vmm and we put in it (nothing nested). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[PATH_MAX];
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static void write_pidfile(const struct vm *vm)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	snprintf(p, sizeof(p), "%s/pid", vm->dir);
	snprintf(tmp, sizeof(tmp), "%s/pid.tmp", vm->dir);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d %llu\n", (int)vm->pid, vm->starttime);
	if (fclose(f) == 0)
		rename(tmp, p);
}

int vm_create(struct vm **out, const struct vm_spec *spec, char *err, size_t errlen)
{
	struct vm *vm = vm_alloc();
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->spec = *spec;
	uint64_t rnd;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)now_s() ^ (uint64_t)getpid();
	snprintf(vm->id, sizeof(vm->id), "%016llx", (unsigned long long)rnd);
	vm_set_paths(vm);
	if (mkdir(vm->dir, 0700) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", vm->dir, strerror(e));
		vm_free(vm);
		return -e;
	}
	vm->ready_fd = listen_unix(vm->ready_path);
	if (vm->ready_fd < 0) {
		int e = -vm->ready_fd;
		snprintf(err, errlen, "cannot listen on %s: %s", vm->ready_path, strerror(e));
		remove_dir(vm->dir);
		vm_free(vm);
		return -e;
	}

	char mem[24], cpus[16], disk[4200], log_path[PATH_MAX];
	snprintf(mem, sizeof(mem), "%u", spec->mem_mib);
	snprintf(cpus, sizeof(cpus), "%u", spec->cpus);
	snprintf(disk, sizeof(disk), "%s,ro", spec->image_path);
	snprintf(log_path, sizeof(log_path), "%s/vmm.log", vm->dir);
	const char *argv[24];
	unsigned a = 0;
	argv[a++] = paths.vmm;
	argv[a++] = "--kernel";
	argv[a++] = paths.kernel;
	argv[a++] = "--disk";
	argv[a++] = disk;
	argv[a++] = "--mem";
	argv[a++] = mem;
	argv[a++] = "--cpus";
	argv[a++] = cpus;
	argv[a++] = "--vsock";
	argv[a++] = vm->vsock;
	argv[a++] = "--control";
	argv[a++] = vm->control;
	char console_path[PATH_MAX];
	snprintf(console_path, sizeof(console_path), "%s/console.log", vm->dir);
	argv[a++] = "--console";
	argv[a++] = paths.verbose ? console_path : "none";
	char rootfs[4200];
	if (spec->rootfs[0]) {
		/* The boot disk is /dev/vda, so the image is /dev/vdb (docs/images.md). */
		snprintf(rootfs, sizeof(rootfs), "%s,ro", spec->rootfs);
		argv[a++] = "--disk";
		argv[a++] = rootfs;
	}
	if (spec->rootro || spec->rootfs[0]) {
		argv[a++] = "--cmdline-extra";
		argv[a++] = !spec->rootfs[0] ? "flint.rootro=1"
			    : spec->rootro   ? "flint.image=/dev/vdb flint.rootro=1"
					     : "flint.image=/dev/vdb";
	}
	char net[NET_ARG_MAX];
	if (spec->net != VM_NET_NONE) {
		if (netspec_arg(spec->net, spec->ports, spec->nports, paths.net, net, sizeof(net)) < 0) {
			snprintf(err, errlen, "the network settings do not fit flint-vmm's --net");
			remove_dir(vm->dir);
			vm_free(vm);
			return -EINVAL;
		}
		argv[a++] = "--net";
		argv[a++] = net;
	}
	argv[a] = NULL;

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	/*
	 * Its own session: a ^C meant for a foreground flintd must not kill the VMs, and a
	 * flintd that crashes leaves them running for the next flintd to adopt.
	 */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	double t0 = now_s();
	int r = posix_spawn(&vm->pid, paths.vmm, &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r != 0) {
		snprintf(err, errlen, "cannot start %s: %s", paths.vmm, strerror(r));
		remove_dir(vm->dir);
		vm->pid = -1;
		vm_free(vm);
		return -r;
	}
	vm->child = true;
	vm->boot_s = t0; /* start time until ready */
	vm->pidfd = pidfd_open_(vm->pid);
	vm->starttime = proc_starttime(vm->pid);
	if (vm->pidfd < 0) {
		int e = errno;
		snprintf(err, errlen, "pidfd_open: %s", strerror(e));
		kill(vm->pid, SIGKILL);
		waitpid(vm->pid, NULL, 0);
		remove_dir(vm->dir);
		vm_free(vm);
		return -e;
	}
	write_pidfile(vm);
	*out = vm;
	return 0;
}

int vm_wait_ready(struct vm *vm, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = vm->ready_fd, .events = POLLIN },
			       { .fd = vm->pidfd, .events = POLLIN } };
	double deadline = now_s() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - now_s()) * 1000);
		if (left < 0)
			left = 0;
		int n = poll(p, 2, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			snprintf(vm->reason, sizeof(vm->reason),
				 "the VM did not become ready within %d s", timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		if (p[1].revents & POLLIN) {
			/* Not yet watched, so no supervisor races us for the death. */
			if (!vm->on_death)
				vm_mark_dead(vm);
			return -ECHILD;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(vm->ready_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				return -errno;
			}
			struct agent_client *c = calloc(1, sizeof(*c));
			if (!c) {
				close(fd);
				return -ENOMEM;
			}
			int r = agent_client_init(c, fd, "flintd", 30000);
			if (r < 0) {
				snprintf(vm->reason, sizeof(vm->reason), "the agent did not answer: %s",
					 agent_client_last_error(c)[0] ? agent_client_last_error(c) :
									 strerror(-r));
				free(c);
				return r;
			}
			close(vm->ready_fd);
			vm->ready_fd = -1;
			unlink(vm->ready_path);
			vm->boot_s = now_s() - vm->boot_s;
			pthread_mutex_lock(&vm->lock);
			vm->idle[vm->nidle++] = c;
			pthread_mutex_unlock(&vm->lock);
			atomic_store(&vm->state, VM_READY);
			return 0;
		}
	}
}

void vm_watch(struct vm *vm, void (*on_death)(struct vm *, void *), void *ctx)
{
	pthread_mutex_lock(&sup_lock);
	vm->on_death = on_death;
	vm->death_ctx = ctx;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = vm };
	/* A pool VM changes owner: the same registration, a new callback. */
	if (epoll_ctl(sup_epoll, EPOLL_CTL_ADD, vm->pidfd, &ev) < 0 && errno != EEXIST)
		log_err("vm", "cannot watch vm %s: %s", vm->id, strerror(errno));
	pthread_mutex_unlock(&sup_lock);
}

/* Ask flint-vmm to stop over its control socket; false when it cannot be asked. */
static bool control_stop(const struct vm *vm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vm->control);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		  send(fd, "stop\n", 5, MSG_NOSIGNAL) == 5;
	close(fd);
	return ok;
}

void vm_destroy(struct vm *vm, int grace_ms)
{
	if (!vm)
		return;
	pthread_mutex_lock(&sup_lock);
	vm->stopping = true;
	struct epoll_event none;
	epoll_ctl(sup_epoll, EPOLL_CTL_DEL, vm->pidfd, &none);
	pthread_mutex_unlock(&sup_lock);

	if (atomic_load(&vm->state) != VM_DEAD && vm->pidfd >= 0) {
		struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
		bool gone = false;
		if (grace_ms > 0 && control_stop(vm))
			gone = poll(&p, 1, grace_ms) > 0;
		if (!gone) {
			pidfd_kill(vm->pidfd, SIGKILL);
			poll(&p, 1, 5000);
		}
		vm_mark_dead(vm);
	}
	remove_dir(vm->dir);
	vm_free(vm);
}

void vm_discard(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->pidfd < 0 || atomic_load(&vm->state) == VM_DEAD) {
		vm_destroy(vm, 0);
		return;
	}
	pthread_mutex_lock(&discard_lock);
	discard_pending++;
	pthread_mutex_unlock(&discard_lock);
	pthread_mutex_lock(&sup_lock);
	vm->stopping = true;
	vm->discard = true;
	/* Watched anew for this: it may have been unwatched (a pool VM handed out) or not. */
	struct epoll_event none, ev = { .events = EPOLLIN, .data.ptr = vm };
	epoll_ctl(sup_epoll, EPOLL_CTL_DEL, vm->pidfd, &none);
	bool watched = epoll_ctl(sup_epoll, EPOLL_CTL_ADD, vm->pidfd, &ev) == 0;
	pthread_mutex_unlock(&sup_lock);
	pidfd_kill(vm->pidfd, SIGKILL);
	if (!watched) {
		/* No supervisor to hand it to: the old, synchronous way. */
		struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
		poll(&p, 1, 5000);
		vm_mark_dead(vm);
		discard_done(vm);
	}
}

bool vm_check_alive(struct vm *vm)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	if (vm_alive(vm) && vm->pidfd >= 0 && poll(&p, 1, 0) > 0)
		vm_mark_dead(vm);
	return vm_alive(vm);
}

void vm_forget(struct vm *vm)
{
	/* Requests may still hold it: unwatched and left in place, flintd is about to exit. */
	pthread_mutex_lock(&sup_lock);
	vm->stopping = true;
	struct epoll_event none;
	epoll_ctl(sup_epoll, EPOLL_CTL_DEL, vm->pidfd, &none);
	pthread_mutex_unlock(&sup_lock);
	pthread_mutex_lock(&all_lock);
	if (vm->prev)
		vm->prev->next = vm->next;
	else
		all_vms = vm->next;
	if (vm->next)
		vm->next->prev = vm->prev;
	vm->prev = vm->next = NULL;
	pthread_mutex_unlock(&all_lock);
}

void vm_kill_all(void)
{
	pthread_mutex_lock(&all_lock);
	for (struct vm *vm = all_vms; vm; vm = vm->next)
		if (vm->pidfd >= 0 && atomic_load(&vm->state) != VM_DEAD)
			pidfd_kill(vm->pidfd, SIGKILL);
	pthread_mutex_unlock(&all_lock);
}

void vm_kill(struct vm *vm)
{
	pthread_mutex_lock(&sup_lock);
	vm->stopping = true;
	struct epoll_event none;
	epoll_ctl(sup_epoll, EPOLL_CTL_DEL, vm->pidfd, &none);
	pthread_mutex_unlock(&sup_lock);
	if (vm->pidfd >= 0 && atomic_load(&vm->state) != VM_DEAD)
		pidfd_kill(vm->pidfd, SIGKILL);
}

bool vm_wait_exit(struct vm *vm, int timeout_ms)
{
	if (vm->pidfd < 0)
		return kill(vm->pid, 0) < 0 && errno == ESRCH;
	/* A pidfd turns readable when the process exits; no polling of /proc. */
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

int vm_adopt(struct vm **out, const char *id, const struct vm_spec *spec)
{
	struct vm *vm = vm_alloc();
	if (!vm)
		return -ENOMEM;
	snprintf(vm->id, sizeof(vm->id), "%s", id);
	vm->spec = *spec;
	vm_set_paths(vm);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/pid", vm->dir);
	FILE *f = fopen(p, "re");
	int pid = 0;
	unsigned long long st = 0;
	if (f) {
		if (fscanf(f, "%d %llu", &pid, &st) != 2)
			pid = 0;
		fclose(f);
	}
	/* The same pid and start time: the very process we spawned, not a reused pid. */
	if (pid <= 0 || proc_starttime(pid) != st || st == 0) {
		remove_dir(vm->dir);
		vm_free(vm);
		return -ESRCH;
	}
	vm->pid = pid;
	vm->starttime = st;
	vm->pidfd = pidfd_open_(pid);
	if (vm->pidfd < 0 || proc_starttime(pid) != st) {
		remove_dir(vm->dir);
		vm_free(vm);
		return -ESRCH;
	}
	atomic_store(&vm->state, VM_READY);
	*out = vm;
	return 0;
}

void vm_sweep_orphans(const char *const *keep)
{
	DIR *d = opendir(vms_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) != 16)
			continue;
		bool kept = false;
		for (const char *const *k = keep; k && *k; k++)
			kept = kept || strcmp(*k, e->d_name) == 0;
		if (kept)
			continue;
		struct vm_spec none = { 0 };
		struct vm *vm;
		if (vm_adopt(&vm, e->d_name, &none) == 0) {
			log_info("vm", "stopping vm %s (pid %d) left by a previous flintd", vm->id,
				 (int)vm->pid);
			vm_destroy(vm, 0);
		}
	}
	closedir(d);
}

int vm_agent_connect_raw(struct vm *vm, int timeout_ms)
{
	if (!vm_alive(vm))
		return -ESHUTDOWN;
	return agent_client_connect_vmm(vm->vsock, AGENT_VSOCK_PORT, timeout_ms);
}

int vm_agent_get(struct vm *vm, struct agent_client **out, int timeout_ms)
{
	if (!vm_alive(vm))
		return -ESHUTDOWN;
	pthread_mutex_lock(&vm->lock);
	struct agent_client *c = vm->nidle ? vm->idle[--vm->nidle] : NULL;
	pthread_mutex_unlock(&vm->lock);
	if (c) {
		c->timeout_ms = timeout_ms;
		*out = c;
		return 0;
	}
	int fd = vm_agent_connect_raw(vm, timeout_ms);
	if (fd < 0)
		return fd;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	int r = agent_client_init(c, fd, "flintd", timeout_ms);
	if (r < 0) {
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void vm_agent_put(struct vm *vm, struct agent_client *c, bool keep)
{
	if (!c)
		return;
	if (keep && !c->dead && vm_alive(vm)) {
		pthread_mutex_lock(&vm->lock);
		if (vm->nidle < VM_IDLE_CONNS) {
			vm->idle[vm->nidle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&vm->lock);
	}
	if (c) {
		agent_client_destroy(c);
		free(c);
	}
}
