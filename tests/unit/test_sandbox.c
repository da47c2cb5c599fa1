/* sandbox_enter: allowed calls still work, forbidden ones kill the process with SIGSYS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

enum probe { PROBE_NONE, PROBE_SOCKET, PROBE_EXECVE, PROBE_OPENAT, PROBE_MMAP_EXEC, PROBE_IOCTL,
	     PROBE_VSOCK_SOCKET, PROBE_UNIX_BLOCKING, PROBE_UNLINKAT_DIR, PROBE_NET_TCP,
	     PROBE_NET_RAW, PROBE_NET_PACKET, PROBE_NET_SOCKOPT, PROBE_NET_FIONREAD, PROBE_WRITEV,
	     PROBE_TUN_OFFLOAD, PROBE_TUN_SETIFF, PROBE_ACCEPT4,
	     PROBE_EPOLL_CTL, PROBE_UNLINKAT_FILE, PROBE_CONNECT, PROBE_SENDMSG };

/* Enter the sandbox in a child, write a byte (allowed), then try the probe. Returns wait status. */
static int run_child_with(enum probe probe, unsigned extras, int *wrote)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (sandbox_enter(extras) < 0)
			_exit(100);
		char c = 'x';
		if (write(p[1], &c, 1) != 1)
			_exit(101);
		/* Raw system calls: no libc wrapper may open or allocate on our behalf. */
		switch (probe) {
		case PROBE_SOCKET:
			syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
			break;
		case PROBE_EXECVE:
			syscall(SYS_execve, "/bin/true", NULL, NULL);
			break;
		case PROBE_OPENAT:
			syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
			break;
		case PROBE_MMAP_EXEC:
			syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
			break;
		case PROBE_IOCTL:
			syscall(SYS_ioctl, 0, KVM_CREATE_VM, 0);
			break;
		case PROBE_VSOCK_SOCKET: /* what the vsock bridge opens: allowed */
			if (syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0) < 0)
				_exit(102);
			break;
		case PROBE_UNIX_BLOCKING:
			syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
			break;
		case PROBE_UNLINKAT_DIR:
			syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-flint", AT_REMOVEDIR);
			break;
		case PROBE_NET_TCP: /* what slirp opens for a guest's connection */
			if (syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) < 0)
				_exit(102);
			break;
		case PROBE_NET_RAW: /* refused with EPERM, not fatal: slirp has a fallback */
			if (syscall(SYS_socket, AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP) != -1 ||
			    errno != EPERM)
				_exit(103);
			break;
		case PROBE_NET_PACKET:
			syscall(SYS_socket, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
			break;
		case PROBE_NET_SOCKOPT: { /* an option slirp never sets */
			int one = 1;
			syscall(SYS_setsockopt, 0, SOL_SOCKET, SO_BINDTODEVICE, &one, sizeof(one));
			break;
		}
		case PROBE_NET_FIONREAD: {
			int n;
			syscall(SYS_ioctl, 0, FIONREAD, &n);
			break;
		}
		case PROBE_WRITEV: { /* nothing to write: the parent may have closed its end */
			struct iovec v = { "y", 1 };
			if (syscall(SYS_writev, p[1], &v, 0) != 0)
				_exit(104);
			break;
		}
		case PROBE_TUN_OFFLOAD:
			syscall(SYS_ioctl, 0, TUNSETOFFLOAD, 0);
			break;
		case PROBE_TUN_SETIFF:
			syscall(SYS_ioctl, 0, TUNSETIFF, 0);
			break;
		/* Allowed calls on a bad fd fail with EBADF; forbidden ones never return. */
		case PROBE_ACCEPT4:
			if (syscall(SYS_accept4, -1, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) >= 0)
				_exit(102);
			break;
		case PROBE_EPOLL_CTL:
			if (syscall(SYS_epoll_ctl, -1, 1 /* EPOLL_CTL_ADD */, -1, NULL) >= 0)
				_exit(102);
			break;
		case PROBE_UNLINKAT_FILE:
			if (syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-flint", 0) >= 0)
				_exit(102);
			break;
		case PROBE_CONNECT:
			syscall(SYS_connect, -1, NULL, 0);
			break;
		case PROBE_SENDMSG:
			syscall(SYS_sendmsg, -1, NULL, 0);
			break;
		case PROBE_NONE:
			break;
		}
		syscall(SYS_exit_group, 7);
	}
	close(p[1]);
	char c;
	*wrote = read(p[0], &c, 1) == 1 && c == 'x';
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int run_child(enum probe probe, int *wrote)
{
	return run_child_with(probe, 0, wrote);
}

static void test_allowed_calls_work(void **state)
{
	(void)state;
	int wrote;
	int st = run_child(PROBE_NONE, &wrote);
	assert_true(wrote);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
}

static void expect_sigsys(enum probe probe)
{
	int wrote;
	int st = run_child(probe, &wrote);
	assert_true(wrote); /* the filter was in place and write(2) passed it */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void test_socket_dies(void **state)
{
	(void)state;
	expect_sigsys(PROBE_SOCKET);
}

static void test_execve_dies(void **state)
{
	(void)state;
	expect_sigsys(PROBE_EXECVE);
}

static void test_openat_dies(void **state)
{
	(void)state;
	expect_sigsys(PROBE_OPENAT);
}

static void test_exec_mapping_dies(void **state)
{
	(void)state;
	expect_sigsys(PROBE_MMAP_EXEC);
}

static void test_other_ioctl_dies(void **state)
{
	(void)state;
	expect_sigsys(PROBE_IOCTL);
}

static void expect_sigsys_with(enum probe probe, unsigned extras)
{
	int wrote;
	int st = run_child_with(probe, extras, &wrote);
	assert_true(wrote);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* With vsock: exactly the Unix socket the bridge makes; unlinkat never removes a directory. */
static void test_vsock_calls(void **state)
{
	(void)state;
	int wrote;
	int st = run_child_with(PROBE_VSOCK_SOCKET, SANDBOX_VSOCK, &wrote);
	assert_true(wrote);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
	expect_sigsys_with(PROBE_UNIX_BLOCKING, SANDBOX_VSOCK);
	expect_sigsys_with(PROBE_UNLINKAT_DIR, SANDBOX_VSOCK);
	expect_sigsys_with(PROBE_SOCKET, SANDBOX_VSOCK);
	/* Without vsock, no socket at all. */
	expect_sigsys(PROBE_VSOCK_SOCKET);
}

static void expect_exit7_with(enum probe probe, unsigned extras)
{
	int wrote;
	int st = run_child_with(probe, extras, &wrote);
	assert_true(wrote);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
}

/* --net user: slirp's sockets and options, nothing else; raw sockets fail softly. */
static void test_net_user_calls(void **state)
{
	(void)state;
	expect_exit7_with(PROBE_NET_TCP, SANDBOX_NET_USER);
	expect_exit7_with(PROBE_NET_RAW, SANDBOX_NET_USER);
	expect_exit7_with(PROBE_NET_FIONREAD, SANDBOX_NET_USER);
	expect_sigsys_with(PROBE_NET_PACKET, SANDBOX_NET_USER);
	expect_sigsys_with(PROBE_NET_SOCKOPT, SANDBOX_NET_USER);
	expect_sigsys_with(PROBE_UNIX_BLOCKING, SANDBOX_NET_USER);
	expect_sigsys_with(PROBE_TUN_OFFLOAD, SANDBOX_NET_USER);
	/* Without --net user, none of it. */
	expect_sigsys_with(PROBE_NET_TCP, SANDBOX_VSOCK | SANDBOX_NET_TAP);
	expect_sigsys(PROBE_NET_FIONREAD);
	/* Both groups together (the same calls allowed twice) still load. */
	expect_exit7_with(PROBE_VSOCK_SOCKET, SANDBOX_VSOCK | SANDBOX_NET_USER);
}

/* --net tap: writev and the offload ioctl; never re-binding the tap, never a socket. */
static void test_net_tap_calls(void **state)
{
	(void)state;
	expect_exit7_with(PROBE_WRITEV, SANDBOX_NET_TAP);
	expect_sigsys_with(PROBE_TUN_SETIFF, SANDBOX_NET_TAP);
	expect_sigsys_with(PROBE_NET_TCP, SANDBOX_NET_TAP);
	expect_sigsys(PROBE_WRITEV);
	expect_sigsys(PROBE_TUN_OFFLOAD);
	/* The offload ioctl itself passes the filter (EBADF from the kernel on fd 0). */
	expect_exit7_with(PROBE_TUN_OFFLOAD, SANDBOX_NET_TAP);
}

/*
 * With the control socket: accepting, the event loop's epoll_ctl, unlinking a file; nothing
 * else of the vsock group (no socket, connect, sendmsg), and none of it without the flag.
 */
static void test_control_calls(void **state)
{
	(void)state;
	expect_exit7_with(PROBE_ACCEPT4, SANDBOX_CONTROL);
	expect_exit7_with(PROBE_EPOLL_CTL, SANDBOX_CONTROL);
	expect_exit7_with(PROBE_UNLINKAT_FILE, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_UNLINKAT_DIR, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_VSOCK_SOCKET, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_CONNECT, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_SENDMSG, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_EXECVE, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_OPENAT, SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_SOCKET, SANDBOX_CONTROL);
	expect_sigsys(PROBE_ACCEPT4);
	expect_sigsys(PROBE_EPOLL_CTL);
	expect_sigsys(PROBE_UNLINKAT_FILE);
	/* Both groups together (a VM with --vsock and --control): the rules merge. */
	expect_exit7_with(PROBE_ACCEPT4, SANDBOX_VSOCK | SANDBOX_CONTROL);
	expect_exit7_with(PROBE_VSOCK_SOCKET, SANDBOX_VSOCK | SANDBOX_CONTROL);
	expect_exit7_with(PROBE_UNLINKAT_FILE, SANDBOX_VSOCK | SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_UNLINKAT_DIR, SANDBOX_VSOCK | SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_UNIX_BLOCKING, SANDBOX_VSOCK | SANDBOX_CONTROL);
	expect_sigsys_with(PROBE_EXECVE, SANDBOX_VSOCK | SANDBOX_CONTROL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_calls_work), cmocka_unit_test(test_socket_dies),
		cmocka_unit_test(test_execve_dies),        cmocka_unit_test(test_openat_dies),
		cmocka_unit_test(test_exec_mapping_dies),  cmocka_unit_test(test_other_ioctl_dies),
		cmocka_unit_test(test_vsock_calls),	   cmocka_unit_test(test_net_user_calls),
		cmocka_unit_test(test_net_tap_calls),	   cmocka_unit_test(test_control_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
