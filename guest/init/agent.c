/* The agent: flint-init serving the host (docs/agent-protocol.md) over vsock, or a Unix socket. */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "flint_port.h"
#include "agent/proto.h"
#include "agent_conn.h"
#include "agent_exec.h"
#include "agent_sys.h"
#include "console.h"
#include "loop.h"
#include "port.h"

#define AGENT_BACKLOG 64
#define AGENT_VSOCK_CID_ANY 0xffffffffu
#define AGENT_VSOCK_CID_HOST 2u

/* <linux/vm_sockets.h>, which musl's headers do not carry. */
struct agent_sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) -
			       sizeof(unsigned short) - 2 * sizeof(unsigned int)];
};

static bool agent_on;
static char agent_unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void agent_on_listen(int fd, uint32_t events, void *ctx)
{
	(void)events;
	(void)ctx;
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c >= 0) {
			conn_new(c, false);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		/*
		 * EAGAIN: all taken. Out of fds or memory: the pending ones wait for the next
		 * connection's edge, which beats spinning on them now.
		 */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			console_log("accept: %s", strerror(errno));
		return;
	}
}

static int agent_listen(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (bind(fd, sa, len) != 0 || listen(fd, AGENT_BACKLOG) != 0 ||
	    loop_add(fd, EPOLLIN | EPOLLET, agent_on_listen, NULL) != 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	agent_on = true;
	/* Children inherit it; FILE_MKDIR's modes are computed against it. */
	umask(022);
	return 0;
}

/* Say HELLO to whoever listens for our readiness; nobody there is not an error. */
static void agent_say_ready(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (fd < 0)
		return;
	if (connect(fd, sa, len) == 0)
		conn_new(fd, false);
	else if (errno == EINPROGRESS)
		conn_new(fd, true);
	else
		close(fd);
}

int agent_start_vsock(void)
{
	struct agent_sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_port = AGENT_VSOCK_PORT,
					.svm_cid = AGENT_VSOCK_CID_ANY };
	int fd, r;

	sys_init(true);
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = agent_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0)
		return r;
	port_report(FLINT_EV_READY, 0);
	sa.svm_cid = AGENT_VSOCK_CID_HOST;
	sa.svm_port = AGENT_READY_PORT;
	agent_say_ready(socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
			(struct sockaddr *)&sa, sizeof(sa));
	return 0;
}

static int agent_unix_addr(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int agent_start_unix(const char *path, const char *ready_path)
{
	struct sockaddr_un sa;
	int fd, r;

	sys_init(false);
	r = agent_unix_addr(&sa, path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from an earlier run */
	r = agent_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0)
		return r;
	memcpy(agent_unix_path, sa.sun_path, sizeof(agent_unix_path));
	if (ready_path && agent_unix_addr(&sa, ready_path) == 0)
		agent_say_ready(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
				(struct sockaddr *)&sa, sizeof(sa));
	return 0;
}

void agent_reaped(pid_t pid, int wstatus)
{
	if (agent_on)
		exec_reaped(pid, wstatus);
}

static int64_t agent_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int agent_timeout_ms(void)
{
	int64_t next, left;

	if (!agent_on)
		return -1;
	if (conn_work_pending() || exec_work_pending())
		return 0;
	next = exec_next_deadline();
	if (!next)
		return -1;
	left = next - agent_now();
	if (left <= 0)
		return 0;
	/* Rounded up: waking before the deadline would only mean another wait. */
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

void agent_tick(void)
{
	if (!agent_on)
		return;
	/* Requests first (they may start commands), then commands' I/O, then one send each. */
	conn_service_all();
	exec_service_all(agent_now());
	conn_flush_all();
	exec_sweep();
	conn_sweep();
}

void agent_stop(void)
{
	if (!agent_on || !agent_unix_path[0])
		return;
	/* On a host there is no kill(-1): what the agent started is what it ends. */
	exec_kill_all(SIGKILL);
	unlink(agent_unix_path);
	agent_unix_path[0] = '\0';
}
