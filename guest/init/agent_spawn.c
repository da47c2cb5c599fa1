/* Starting a command for the agent: a vfork-style clone, credentials, tty, stdio, cwd, exec. */
#include "agent_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flint_port.h"

/*
 * The child runs on its own stack in the agent's memory until it execs; CLONE_VFORK keeps the
 * agent stopped meanwhile, so one stack serves every spawn.
 */
static uint8_t spawn_stack[64 * 1024] __attribute__((aligned(16)));

struct spawn_ctx {
	const struct spawn_req *r;
	volatile int err;
	volatile enum spawn_step step;
};

static int spawn_fail(struct spawn_ctx *x, enum spawn_step step)
{
	x->err = errno ? errno : EINVAL;
	x->step = step;
	return 127;
}

/* execvpe, with the PATH of the command's own environment rather than the agent's. */
static void spawn_exec(char *const argv[], char *const envp[])
{
	const char *file = argv[0], *path = SPAWN_DEFAULT_PATH, *p, *z;
	char buf[PATH_MAX];
	bool eacces = false;
	size_t k = strlen(file), i;

	if (strchr(file, '/') || !k) {
		execve(file, argv, envp);
		return;
	}
	for (i = 0; envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			path = envp[i] + 5;
	for (p = path;; p = z + 1) {
		size_t l;

		z = strchrnul(p, ':');
		l = (size_t)(z - p);
		if (l + k + 2 <= sizeof(buf)) {
			memcpy(buf, p, l);
			buf[l] = '/';
			/* An empty entry is the current directory, as in execvp. */
			memcpy(buf + l + (l > 0), file, k + 1);
			execve(buf, argv, envp);
			if (errno == EACCES)
				eacces = true;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (!*z)
			break;
	}
	errno = eacces ? EACCES : ENOENT;
}

/*
 * Raw syscalls for the credentials: libc's set*id may synchronise threads, which is nothing
 * to do in a child sharing the agent's memory.
 */
static int spawn_child(void *arg)
{
	struct spawn_ctx *x = arg;
	const struct spawn_req *r = x->r;
	sigset_t none;
	int i;

	errno = 0;
	if (r->drop) {
		/*
		 * First: ioperm bits survive setuid, and an unprivileged process must not keep
		 * the port to the VMM. ENOSYS: a kernel without ioperm has nothing to drop.
		 */
		if (r->uid != 0 && ioperm(FLINT_PORT, 4, 0) != 0 && errno != ENOSYS)
			return spawn_fail(x, SPAWN_USER);
		if (syscall(SYS_setgroups, 0, NULL) != 0 || syscall(SYS_setgid, r->gid) != 0 ||
		    syscall(SYS_setuid, r->uid) != 0)
			return spawn_fail(x, SPAWN_USER);
		if (getuid() != r->uid || geteuid() != r->uid || getgid() != r->gid) {
			errno = EPERM;
			return spawn_fail(x, SPAWN_USER);
		}
	}
	if (setsid() < 0)
		return spawn_fail(x, SPAWN_SETSID);
	if (r->ctty && ioctl(r->fd[0], TIOCSCTTY, 0) != 0)
		return spawn_fail(x, SPAWN_TTY);
	/* The agent's fds 0..2 are always open, so r->fd[] never collide with their targets. */
	for (i = 0; i < 3; i++)
		if (dup2(r->fd[i], i) < 0)
			return spawn_fail(x, SPAWN_STDIO);
	if (chdir(r->cwd) != 0 && (!r->cwd_fallback || chdir("/") != 0))
		return spawn_fail(x, SPAWN_CHDIR);
	/* Last, so that no signal can reach the child before it is the command. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	spawn_exec(r->argv, r->envp);
	return spawn_fail(x, SPAWN_EXEC);
}

pid_t spawn_run(const struct spawn_req *r, enum spawn_step *step)
{
	struct spawn_ctx x = { .r = r, .err = 0, .step = SPAWN_CLONE };
	pid_t pid;

	pid = clone(spawn_child, spawn_stack + sizeof(spawn_stack), CLONE_VM | CLONE_VFORK | SIGCHLD,
		    &x, NULL, NULL, NULL);
	if (pid < 0) {
		*step = SPAWN_CLONE;
		return -errno;
	}
	if (x.err) {
		*step = x.step;
		return -x.err;
	}
	return pid;
}
