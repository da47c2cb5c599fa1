/* Launching flint-vmm for one VM: private socket directory, ready listener, pidfd supervision. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/agent/proto.h"

extern char **environ;

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && v[0] ? v : fallback;
}

void launch_default_paths(struct launch_opts *o, const char *argv0)
{
	/* build/flint sits beside build/flint-vmm, build/guest/vmlinux and build/images/. */
	static char vmm[PATH_MAX], kernel[PATH_MAX], image[PATH_MAX];
	char self[PATH_MAX - 32]; /* room for the suffixes below */
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		n = (ssize_t)snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = '\0';
	char *slash = strrchr(self, '/');
	const char *dir = ".";
	if (slash) {
		*slash = '\0';
		dir = self;
	}
	snprintf(vmm, sizeof(vmm), "%s/flint-vmm", dir);
	snprintf(kernel, sizeof(kernel), "%s/guest/vmlinux", dir);
	snprintf(image, sizeof(image), "%s/images/base.ext4", dir);
	o->vmm = env_or("FLINT_VMM", vmm);
	o->kernel = env_or("FLINT_KERNEL", kernel);
	o->image = env_or("FLINT_IMAGE", image);
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int launch_start(struct launch *l, const struct launch_opts *o)
{
	memset(l, 0, sizeof(*l));
	l->pid = -1;
	l->pidfd = l->ready_fd = -1;
	l->status = -1;
	for (const char *p; (p = o->vmm, access(p, X_OK) != 0);) {
		fprintf(stderr, "flint: cannot run %s: %s (build it with make)\n", p, strerror(errno));
		return -ENOENT;
	}
	const char *files[] = { o->kernel, o->image };
	for (unsigned i = 0; i < 2; i++) {
		if (access(files[i], R_OK) != 0) {
			fprintf(stderr, "flint: cannot read %s: %s (build it with make)\n", files[i],
				strerror(errno));
			return -ENOENT;
		}
	}

	snprintf(l->dir, sizeof(l->dir), "%s/flint-XXXXXX", env_or("XDG_RUNTIME_DIR", "/tmp"));
	if (strlen(l->dir) > 64 || !mkdtemp(l->dir)) {
		snprintf(l->dir, sizeof(l->dir), "/tmp/flint-XXXXXX");
		if (!mkdtemp(l->dir)) {
			int e = errno;
			fprintf(stderr, "flint: cannot make a runtime directory: %s\n", strerror(e));
			l->dir[0] = '\0';
			return -e;
		}
	}
	snprintf(l->vsock, sizeof(l->vsock), "%s/vsock.sock", l->dir);
	snprintf(l->ready_path, sizeof(l->ready_path), "%s_%u", l->vsock, AGENT_READY_PORT);
	l->ready_fd = listen_unix(l->ready_path);
	if (l->ready_fd < 0) {
		fprintf(stderr, "flint: cannot listen on %s: %s\n", l->ready_path,
			strerror(-l->ready_fd));
		return l->ready_fd;
	}

	char mem[24], cpus[16], disk[PATH_MAX + 8];
	snprintf(mem, sizeof(mem), "%u", o->mem_mib);
	snprintf(cpus, sizeof(cpus), "%u", o->cpus);
	snprintf(disk, sizeof(disk), "%s,ro", o->image);
	const char *argv[24] = { o->vmm,   "--kernel", o->kernel, "--disk",    disk,
				 "--mem",  mem,	       "--cpus",  cpus,	       "--vsock",
				 l->vsock, "--console", o->verbose ? "stdout" : "none" };
	unsigned a = 13;
	char rootfs[PATH_MAX + 8];
	if (o->rootfs) {
		/* The boot disk is /dev/vda, so the image is /dev/vdb (docs/images.md). */
		snprintf(rootfs, sizeof(rootfs), "%s,ro", o->rootfs);
		argv[a++] = "--disk";
		argv[a++] = rootfs;
		argv[a++] = "--cmdline-extra";
		argv[a++] = "flint.image=/dev/vdb";
	}
	if (o->net) {
		argv[a++] = "--net";
		argv[a++] = o->net;
	}
	if (o->verbose)
		argv[a++] = "-v";
	argv[a] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* The kernel console, when asked for, goes where our diagnostics go. */
	if (o->verbose)
		posix_spawn_file_actions_adddup2(&fa, 2, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int r = posix_spawn(&l->pid, o->vmm, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "flint: cannot start %s: %s\n", o->vmm, strerror(r));
		l->pid = -1;
		return -r;
	}
	l->pidfd = (int)syscall(SYS_pidfd_open, l->pid, 0);
	if (l->pidfd < 0) {
		int e = errno;
		fprintf(stderr, "flint: pidfd_open: %s\n", strerror(e));
		return -e;
	}
	return 0;
}

static void reap(struct launch *l)
{
	if (l->pid > 0 && l->status < 0 && waitpid(l->pid, &l->status, 0) == l->pid)
		l->pid = -1;
}

int launch_wait_ready(struct launch *l, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = l->ready_fd, .events = POLLIN },
			       { .fd = l->pidfd, .events = POLLIN } };
	for (;;) {
		int n = poll(p, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			fprintf(stderr, "flint: the VM did not become ready within %d s\n",
				timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(l->ready_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				return fd;
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (p[1].revents & POLLIN) {
			reap(l);
			if (WIFEXITED(l->status))
				fprintf(stderr, "flint: flint-vmm exited with status %d before the agent "
						"was ready\n",
					WEXITSTATUS(l->status));
			else
				fprintf(stderr, "flint: flint-vmm was killed by signal %d before the "
						"agent was ready\n",
					WTERMSIG(l->status));
			return -ECHILD;
		}
	}
}

void launch_stop(struct launch *l, int grace_ms)
{
	if (l->pid > 0 && l->status < 0) {
		kill(l->pid, SIGTERM);
		struct pollfd p = { .fd = l->pidfd, .events = POLLIN };
		if (l->pidfd < 0 || poll(&p, 1, grace_ms) <= 0)
			kill(l->pid, SIGKILL);
		reap(l);
	}
	if (l->pidfd >= 0)
		close(l->pidfd);
	if (l->ready_fd >= 0)
		close(l->ready_fd);
	l->pidfd = l->ready_fd = -1;
	if (l->dir[0]) {
		unlink(l->ready_path);
		unlink(l->vsock);
		rmdir(l->dir);
		l->dir[0] = '\0';
	}
}
