/* The seccomp allowlist for a running VM: every allowed call has its reason beside it. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "log.h"

#define ALLOW(name) { SCMP_SYS(name), 0, { { 0 } }, 0 }

struct rule {
	int nr;
	unsigned nargs;
	struct scmp_arg_cmp arg[3];
	int err; /* 0: allow; else fail with this errno (a call a library copes without) */
};

static const struct rule rules[] = {
	/* device and console I/O: eventfds, irqfds, signalfd, the UART's output fd */
	ALLOW(read),
	ALLOW(write),
	/* virtio-blk: the disk backend's data path and FLUSH */
	ALLOW(preadv),
	ALLOW(pwritev),
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(fdatasync),
	/* the event loop */
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	/* vCPU threads: enter the guest, read registers for an exit report, drive UART IRQ lines */
	{ SCMP_SYS(ioctl), 1, { SCMP_A1(SCMP_CMP_EQ, KVM_RUN) } },
	{ SCMP_SYS(ioctl), 1, { SCMP_A1(SCMP_CMP_EQ, KVM_GET_REGS) } },
	{ SCMP_SYS(ioctl), 1, { SCMP_A1(SCMP_CMP_EQ, KVM_IRQ_LINE) } },
	/* locks, joins, and kicking vCPUs out of KVM_RUN with a signal */
	ALLOW(futex),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
	ALLOW(rt_sigaction), /* glibc sets its internal SIGRTMIN handler at the first pthread_create */
	ALLOW(tgkill),
	ALLOW(getpid),
	ALLOW(gettid),
	/* starting vCPU threads (stacks, guard pages) and malloc; never executable memory */
	{ SCMP_SYS(mmap), 1, { SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) } },
	{ SCMP_SYS(mprotect), 1, { SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0) } },
	ALLOW(munmap),
	ALLOW(madvise),
	ALLOW(brk),
	ALLOW(clone),
	ALLOW(clone3),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	{ SCMP_SYS(prctl), 1, { SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME) } },
	/* teardown: the child that releases the VM (vm.c), the memory report, closing fds */
	ALLOW(pipe2),
	ALLOW(dup2),
	ALLOW(mincore),
	ALLOW(close),
	ALLOW(clock_gettime),
	ALLOW(exit),
	ALLOW(exit_group),
};

/* SANDBOX_VSOCK: the bridge between guest vsock streams and Unix sockets (vmm/vsock/). */
static const struct rule vsock_rules[] = {
	/* host clients connecting to --vsock PATH */
	ALLOW(accept4),
	/* guest connections to PATH_<port>; Unix stream sockets, non-blocking, CLOEXEC */
	{ SCMP_SYS(socket), 2,
	  { SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
	    SCMP_A1(SCMP_CMP_EQ, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC) } },
	ALLOW(connect),
	/* stream bytes both ways (MSG_NOSIGNAL, MSG_DONTWAIT; MSG_PEEK for CONNECT) */
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	/* half-close: the guest's SHUTDOWN(SEND) becomes shutdown(SHUT_WR) */
	ALLOW(shutdown),
	/* connection sockets join, change interest in, and leave the bridge's epoll set */
	ALLOW(epoll_ctl),
	/* the one timer for connect and shutdown deadlines */
	ALLOW(timerfd_settime),
	/* remove the listening socket at exit (flags 0: never a directory) */
	{ SCMP_SYS(unlinkat), 1, { SCMP_A2(SCMP_CMP_EQ, 0) } },
};

/* SANDBOX_NET_USER: libslirp's sockets for the guest's connections (vmm/net/user.c). */
static const struct rule net_user_rules[] = {
	/* a host socket per guest TCP connection and UDP flow; ICMP echo via a "ping" socket */
	{ SCMP_SYS(socket), 3,
	  { SCMP_A0(SCMP_CMP_EQ, AF_INET), SCMP_A1(SCMP_CMP_EQ, SOCK_STREAM | SOCK_CLOEXEC),
	    SCMP_A2(SCMP_CMP_EQ, 0) }, 0 },
	{ SCMP_SYS(socket), 3,
	  { SCMP_A0(SCMP_CMP_EQ, AF_INET), SCMP_A1(SCMP_CMP_EQ, SOCK_DGRAM | SOCK_CLOEXEC),
	    SCMP_A2(SCMP_CMP_EQ, 0) }, 0 },
	{ SCMP_SYS(socket), 3,
	  { SCMP_A0(SCMP_CMP_EQ, AF_INET), SCMP_A1(SCMP_CMP_EQ, SOCK_DGRAM | SOCK_CLOEXEC),
	    SCMP_A2(SCMP_CMP_EQ, IPPROTO_ICMP) }, 0 },
	/* no raw sockets: without a ping socket slirp falls back to the UDP echo port */
	{ SCMP_SYS(socket), 2,
	  { SCMP_A0(SCMP_CMP_EQ, AF_INET), SCMP_A1(SCMP_CMP_EQ, SOCK_RAW | SOCK_CLOEXEC) }, EPERM },
	/* slirp_set_nonblock */
	{ SCMP_SYS(fcntl), 1, { SCMP_A1(SCMP_CMP_EQ, F_GETFL) }, 0 },
	{ SCMP_SYS(fcntl), 1, { SCMP_A1(SCMP_CMP_EQ, F_SETFL) }, 0 },
	/* the options slirp sets on its sockets, and nothing else */
	{ SCMP_SYS(setsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET), SCMP_A2(SCMP_CMP_EQ, SO_REUSEADDR) }, 0 },
	{ SCMP_SYS(setsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET), SCMP_A2(SCMP_CMP_EQ, SO_OOBINLINE) }, 0 },
	{ SCMP_SYS(setsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP), SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY) }, 0 },
	{ SCMP_SYS(setsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, IPPROTO_IP), SCMP_A2(SCMP_CMP_EQ, IP_RECVERR) }, 0 },
	{ SCMP_SYS(setsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, IPPROTO_IP), SCMP_A2(SCMP_CMP_EQ, IP_TTL) }, 0 },
	/* a connect's outcome, and a closed peer's address */
	{ SCMP_SYS(getsockopt), 2,
	  { SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET), SCMP_A2(SCMP_CMP_EQ, SO_ERROR) }, 0 },
	ALLOW(getpeername),
	ALLOW(getsockname),
	/* guest connections out (non-blocking), forwarded ports in */
	ALLOW(connect),
	ALLOW(accept),
	/* data both ways; UDP errors come from the socket's error queue */
	ALLOW(sendto),
	ALLOW(recvfrom),
	ALLOW(recvmsg),
	/* the size of the next UDP datagram */
	{ SCMP_SYS(ioctl), 1, { SCMP_A1(SCMP_CMP_EQ, FIONREAD) }, 0 },
	ALLOW(shutdown),
	/* slirp's sockets join and leave the backend's epoll set; its one timer */
	ALLOW(epoll_ctl),
	ALLOW(timerfd_settime),
};

/* SANDBOX_NET_TAP: frames go out with their virtio-net header (vmm/net/tap.c). */
static const struct rule net_tap_rules[] = {
	ALLOW(writev),
	/* the offloads the guest accepted, set when its driver starts the device */
	{ SCMP_SYS(ioctl), 1, { SCMP_A1(SCMP_CMP_EQ, TUNSETOFFLOAD) }, 0 },
	/* reading pauses while the guest has no receive buffers */
	ALLOW(epoll_ctl),
};

/*
 * SANDBOX_CONTROL: the control socket (vmm/control.c). Clients are read and written with
 * read/write, already allowed; the listener was made during setup.
 */
static const struct rule control_rules[] = {
	/* control clients connecting to --control PATH */
	ALLOW(accept4),
	/* clients join and leave the event loop, and switch between waiting to read and to write */
	ALLOW(epoll_ctl),
	/* remove the listening socket at exit (flags 0: never a directory) */
	{ SCMP_SYS(unlinkat), 1, { SCMP_A2(SCMP_CMP_EQ, 0) } },
};

static int rules_add(scmp_filter_ctx ctx, const struct rule *r, unsigned n)
{
	int e = 0;
	for (unsigned i = 0; i < n && e == 0; i++)
		e = seccomp_rule_add_array(ctx, r[i].err ? SCMP_ACT_ERRNO(r[i].err) : SCMP_ACT_ALLOW,
					   r[i].nr, r[i].nargs, r[i].arg);
	return e;
}

#define RULES(r) r, sizeof(r) / sizeof(r[0])

int sandbox_enter(unsigned extras)
{
	/* No privilege can be gained from here on, whatever is exec'd (nothing may be). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;
		log_err("PR_SET_NO_NEW_PRIVS: %s", strerror(e));
		return -e;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		log_err("seccomp_init failed");
		return -ENOMEM;
	}
	int r = rules_add(ctx, RULES(rules));
	if (r == 0 && (extras & SANDBOX_VSOCK))
		r = rules_add(ctx, RULES(vsock_rules));
	if (r == 0 && (extras & SANDBOX_NET_USER))
		r = rules_add(ctx, RULES(net_user_rules));
	if (r == 0 && (extras & SANDBOX_NET_TAP))
		r = rules_add(ctx, RULES(net_tap_rules));
	if (r == 0 && (extras & SANDBOX_CONTROL))
		r = rules_add(ctx, RULES(control_rules));
	if (r == 0)
		r = seccomp_load(ctx);
	if (r < 0)
		log_err("installing the seccomp filter: %s", strerror(-r));
	seccomp_release(ctx);
	return r;
}
