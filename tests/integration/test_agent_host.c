/* flint-init's agent on the host (--agent-unix), driven through the host client library. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"

/*
 * usage: agent-host --ready PATH   listen on PATH, print "listening", accept the agent's ready
 *                                  connection, check its HELLO, ping over it, print "ready ..."
 *        agent-host SOCK DIR       every test against the agent on SOCK, files under DIR
 * Ends with "N passed, N failed".
 */

static const char *sock_path, *dir;
/* With --vsock, sock_path is flint-vmm's vsock socket and the agent is in a VM. */
static bool over_vsock;

static int transport_connect(void)
{
	return over_vsock ? agent_client_connect_vmm(sock_path, AGENT_VSOCK_PORT, 120000) :
			    agent_client_connect_unix(sock_path);
}
static void t_hello(void);
static int passed, failed;
static char why[4096];

/* Record why the current test failed, and leave it. */
#define CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			snprintf(why, sizeof(why), __VA_ARGS__); \
			return; \
		} \
	} while (0)

static void run(const char *name, void (*fn)(void))
{
	/* $AGENT_TEST_ONLY: '|'-separated substrings of the names of the tests to run (HELLO always runs). */
	const char *only = getenv("AGENT_TEST_ONLY");
	if (only && fn != t_hello) {
		bool hit = false;
		for (const char *p = only; *p && !hit;) {
			const char *bar = strchr(p, '|');
			size_t n = bar ? (size_t)(bar - p) : strlen(p);
			char want[128];
			snprintf(want, sizeof(want), "%.*s", (int)(n < sizeof(want) ? n : sizeof(want) - 1), p);
			hit = want[0] && strstr(name, want);
			p += n + (bar ? 1 : 0);
		}
		if (!hit)
			return;
	}
	why[0] = '\0';
	fn();
	if (why[0]) {
		failed++;
		printf("FAIL - %s: %s\n", name, why);
	} else {
		passed++;
		printf("ok   - %s\n", name);
	}
	fflush(stdout);
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&t, NULL);
}

static int open_client(struct agent_client *c)
{
	int fd = transport_connect();
	if (fd < 0)
		return fd;
	return agent_client_init(c, fd, "agent-host-test", over_vsock ? 120000 : 20000);
}

/* ---- running commands and collecting their output ------------------------------------------- */

struct capture {
	char *buf[3];
	size_t len[3];
	/* Optional, for PTY dialogues: called after each chunk with the stdout so far. */
	void (*react)(struct capture *cap);
	int stdin_w; /* the write end of the command's stdin pipe, for react */
	int step;
	struct agent_client *client;
};

static int capture_output(void *ctx, enum agent_stream s, const uint8_t *p, size_t n)
{
	struct capture *cap = ctx;
	char *b = realloc(cap->buf[s], cap->len[s] + n + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b + cap->len[s], p, n);
	cap->len[s] += n;
	b[cap->len[s]] = '\0';
	cap->buf[s] = b;
	if (cap->react)
		cap->react(cap);
	return 0;
}

static void capture_free(struct capture *cap)
{
	free(cap->buf[1]);
	free(cap->buf[2]);
	memset(cap, 0, sizeof(*cap));
}

static const char *out(const struct capture *cap, int s)
{
	return cap->buf[s] ? cap->buf[s] : "";
}

static int run_cmd(struct agent_client *c, const struct agent_exec_req *req, int stdin_fd,
		   struct capture *cap, struct agent_exec_result *res)
{
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .output = capture_output,
				    .ctx = cap, .stdin_fd = stdin_fd };
	return agent_client_exec(c, req, &io, res);
}

/* Run argv (root, defaults) and collect; returns agent_client_exec's result. */
static int sh(struct agent_client *c, const char *script, struct capture *cap,
	      struct agent_exec_result *res)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct agent_exec_req req = { .argv = argv };
	memset(cap, 0, sizeof(*cap));
	return run_cmd(c, &req, -1, cap, res);
}

/* A memfd holding data, at offset 0: a stdin source that is always readable. */
static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the handshake and the VM ---------------------------------------------------------------- */

static struct agent_client cl; /* the main connection, shared by most tests */

static void t_hello(void)
{
	struct utsname u;
	int r = open_client(&cl);
	CHECK(r == 0, "connect/HELLO: %s", strerror(-r));
	uname(&u);
	CHECK(cl.peer_version == AGENT_VERSION, "version %u", cl.peer_version);
	CHECK(!strcmp(cl.peer_name, "flint-init"), "name '%s'", cl.peer_name);
	/* On the host the agent runs on our kernel; in a VM on flint's guest kernel (Linux 6.1). */
	if (over_vsock)
		CHECK(!strncmp(cl.peer_kernel, "6.1.", 4), "kernel '%s', not the guest's 6.1", cl.peer_kernel);
	else
		CHECK(!strcmp(cl.peer_kernel, u.release), "kernel '%s', not '%s'", cl.peer_kernel,
		      u.release);
	CHECK(cl.peer_mem_total > 0, "MEM_TOTAL is 0");
}

static void t_ping_info_time(void)
{
	struct agent_info info;
	struct timespec t;
	int r = agent_client_ping(&cl);
	CHECK(r == 0, "ping: %s", strerror(-r));
	r = agent_client_info(&cl, &info);
	CHECK(r == 0, "info: %s", strerror(-r));
	CHECK(info.mem_total > 0 && info.mem_free > 0 && info.mem_free <= info.mem_total,
	      "memory %llu of %llu", (unsigned long long)info.mem_free,
	      (unsigned long long)info.mem_total);
	CHECK(info.uptime_ns > 0 && info.ncpus >= 1, "uptime %llu, ncpus %u",
	      (unsigned long long)info.uptime_ns, info.ncpus);
	clock_gettime(CLOCK_REALTIME, &t);
	/* In host test mode the agent checks and answers, and leaves the host's clock alone. */
	r = agent_client_set_time(&cl, (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec);
	CHECK(r == 0, "set_time: %s", strerror(-r));
}

/* ---- exec ------------------------------------------------------------------------------------ */

static void t_exec_streams(void)
{
	struct capture cap;
	struct agent_exec_result res;
	int r = sh(&cl, "echo out1; echo err1 >&2; echo out2; printf err2 >&2; exit 3", &cap, &res);
	CHECK(r == 0, "exec: %s", strerror(-r));
	CHECK(!strcmp(out(&cap, 1), "out1\nout2\n"), "stdout '%s'", out(&cap, 1));
	CHECK(!strcmp(out(&cap, 2), "err1\nerr2"), "stderr '%s'", out(&cap, 2));
	CHECK(res.exit_code == 3 && res.signal == 0 && res.reason == AGENT_EXITED,
	      "exit %d signal %u reason %u", res.exit_code, res.signal, res.reason);
	CHECK(res.pid > 1, "pid %u", res.pid);
	capture_free(&cap);
}

static void t_exec_signal_status(void)
{
	struct capture cap;
	struct agent_exec_result res;
	int r = sh(&cl, "kill -TERM $$", &cap, &res);
	CHECK(r == 0, "exec: %s", strerror(-r));
	CHECK(res.exit_code == -1 && res.signal == SIGTERM && res.reason == AGENT_SIGNALED,
	      "exit %d signal %u reason %u", res.exit_code, res.signal, res.reason);
	r = sh(&cl, "sh -c 'kill -KILL $$'", &cap, &res);
	CHECK(r == 0 && res.exit_code == 128 + SIGKILL && res.signal == 0,
	      "a shell reporting its child's SIGKILL: exit %d signal %u", res.exit_code, res.signal);
	capture_free(&cap);
}

static void t_exec_errors(void)
{
	const char *missing[] = { "/nonexistent/program", NULL };
	const char *nopath[] = { "no-such-command-flint", NULL };
	const char *pwd[] = { "pwd", NULL };
	const char *bad_env[] = { "=x", NULL };
	struct agent_exec_req req = { .argv = missing };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	int r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -ENOENT, "missing program: %d", r);
	CHECK(strstr(agent_client_last_error(&cl), "exec /nonexistent/program"),
	      "message '%s'", agent_client_last_error(&cl));
	req.argv = nopath;
	r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -ENOENT, "not in PATH: %d", r);
	req.argv = pwd;
	req.cwd = "/nonexistent-dir";
	r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -ENOENT && strstr(agent_client_last_error(&cl), "chdir /nonexistent-dir"),
	      "missing cwd: %d '%s'", r, agent_client_last_error(&cl));
	req.cwd = "relative";
	r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -EINVAL && strstr(agent_client_last_error(&cl), "CWD"), "relative cwd: %d", r);
	req.cwd = NULL;
	req.env = bad_env;
	r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -EINVAL && strstr(agent_client_last_error(&cl), "ENV"), "ENV '=x': %d '%s'", r,
	      agent_client_last_error(&cl));
	req.env = NULL;
	req.user = "nobody";
	r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == -EINVAL && strstr(agent_client_last_error(&cl), "USER"), "USER nobody: %d", r);
	capture_free(&cap);
}

static void t_exec_env_cwd(void)
{
	const char *argv[] = { "/bin/sh", "-c", "echo \"$FOO|$HOME|$TERM|$PATH\"; pwd; env | wc -l",
			       NULL };
	const char *env[] = { "FOO=bar baz", "EMPTY=", NULL };
	struct agent_exec_req req = { .argv = argv, .env = env, .cwd = "/tmp" };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	char expect[512];
	int r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == 0 && res.exit_code == 0, "exec: %d, exit %d", r, res.exit_code);
	snprintf(expect, sizeof(expect), "bar baz|/root|dumb|%s\n/tmp\n",
		 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	CHECK(!strncmp(out(&cap, 1), expect, strlen(expect)), "stdout '%s'", out(&cap, 1));
	/* FOO, EMPTY, PATH, HOME, TERM, and what sh adds itself (PWD, SHLVL, _...): small. */
	CHECK(atoi(out(&cap, 1) + strlen(expect)) <= 9, "environment of %s variables",
	      out(&cap, 1) + strlen(expect));
	capture_free(&cap);
}

static void t_exec_sandbox(void)
{
	const char *argv[] = { "/bin/sh", "-c", "id -u; id -g; id -G; pwd", NULL };
	struct agent_exec_req req = { .argv = argv, .user = "sandbox" };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	struct stat st;
	int r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == 0 && res.exit_code == 0, "exec: %d, exit %d, stderr '%s'", r, res.exit_code,
	      out(&cap, 2));
	/* The agent's default cwd for sandbox is its home when that exists (always in a VM). */
	const char *home = over_vsock || stat("/home/sandbox", &st) == 0 ? "/home/sandbox" : "/";
	char expect[128];
	snprintf(expect, sizeof(expect), "1000\n1000\n1000\n%s\n", home);
	CHECK(!strcmp(out(&cap, 1), expect), "stdout '%s'", out(&cap, 1));
	capture_free(&cap);
}

static void t_exec_stdin(void)
{
	size_t n = 4u << 20; /* well past the agent's stdin buffer: its connection must wait */
	uint8_t *data = malloc(n);
	const char *argv[] = { "cat", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	CHECK(data, "malloc");
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	int fd = memfd_with(data, n);
	CHECK(fd >= 0, "memfd");
	int r = run_cmd(&cl, &req, fd, &cap, &res);
	close(fd);
	CHECK(r == 0 && res.exit_code == 0, "cat: %d, exit %d", r, res.exit_code);
	CHECK(cap.len[1] == n && !memcmp(cap.buf[1], data, n), "cat gave %zu bytes, not the %zu sent",
	      cap.len[1], n);
	free(data);
	capture_free(&cap);
	/* Empty stdin: only EOF. */
	fd = memfd_with("", 0);
	r = run_cmd(&cl, &req, fd, &cap, &res);
	close(fd);
	CHECK(r == 0 && res.exit_code == 0 && cap.len[1] == 0, "empty stdin: %d", r);
}

struct count {
	uint64_t bytes;
	bool nonzero;
};

static int count_output(void *ctx, enum agent_stream s, const uint8_t *p, size_t n)
{
	struct count *k = ctx;
	if (s == AGENT_STDOUT)
		k->bytes += n;
	for (size_t i = 0; i < n; i += 4096)
		k->nonzero |= p[i] != 0;
	return 0;
}

/* The agent's peak RSS, from /proc/<agent>/status: the agent is its commands' parent. */
static long agent_hwm_kib(void)
{
	struct capture cap;
	struct agent_exec_result res;
	long kib = -1;
	if (sh(&cl, "grep VmHWM /proc/$PPID/status", &cap, &res) == 0 && cap.buf[1])
		sscanf(cap.buf[1], "VmHWM: %ld", &kib);
	capture_free(&cap);
	return kib;
}

static void t_exec_large_output(void)
{
	const char *argv[] = { "head", "-c", "67108864", "/dev/zero", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct count k = { 0, false };
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .output = count_output,
				    .ctx = &k, .stdin_fd = -1 };
	struct agent_exec_result res;
	long before = agent_hwm_kib();
	int64_t t0 = now_ms();
	int r = agent_client_exec(&cl, &req, &io, &res);
	int64_t ms = now_ms() - t0;
	long after = agent_hwm_kib();
	CHECK(r == 0 && res.exit_code == 0, "exec: %d exit %d", r, res.exit_code);
	CHECK(k.bytes == 67108864 && !k.nonzero, "%llu bytes", (unsigned long long)k.bytes);
	CHECK(before > 0 && after > 0 && after < 32 * 1024, "agent VmHWM %ld kB before, %ld kB after",
	      before, after);
	printf("    (64 MiB in %lld ms; agent VmHWM %ld kB -> %ld kB)\n", (long long)ms, before, after);
}

static void t_exec_timeout(void)
{
	const char *argv[] = { "sleep", "10", NULL };
	struct agent_exec_req req = { .argv = argv, .timeout_ms = 300 };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	int64_t t0 = now_ms();
	int r = run_cmd(&cl, &req, -1, &cap, &res);
	int64_t ms = now_ms() - t0;
	CHECK(r == 0, "exec: %s", strerror(-r));
	CHECK(res.reason == AGENT_TIMEOUT && res.signal == SIGKILL && res.exit_code == -1,
	      "reason %u signal %u exit %d", res.reason, res.signal, res.exit_code);
	CHECK(ms >= 290 && ms < 3000, "took %lld ms", (long long)ms);
}

static void t_exec_signal(void)
{
	const char *argv[] = { "sleep", "10", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	int64_t t0 = now_ms();
	/* Queued now, sent by the client as soon as the command has started. */
	agent_client_exec_signal(&cl, SIGTERM);
	int r = run_cmd(&cl, &req, -1, &cap, &res);
	CHECK(r == 0, "exec: %s", strerror(-r));
	CHECK(res.reason == AGENT_SIGNALED && res.signal == SIGTERM, "reason %u signal %u", res.reason,
	      res.signal);
	CHECK(now_ms() - t0 < 3000, "took %lld ms", (long long)(now_ms() - t0));
}

/* The PTY dialogue: stty size, resize, stty size again, exit 3. */
static void pty_react(struct capture *cap)
{
	const char *o = out(cap, 1);
	ssize_t w = 0;
	if (cap->step == 0 && strstr(o, "24 80")) {
		cap->step = 1;
		agent_client_exec_resize(cap->client, 30, 100);
		w = write(cap->stdin_w, "stty size\n", 10);
	} else if (cap->step == 1 && strstr(o, "30 100")) {
		cap->step = 2;
		w = write(cap->stdin_w, "echo \"term=$TERM\"; exit 3\n", 26);
	}
	(void)w;
}

static void t_exec_pty(void)
{
	const char *argv[] = { "/bin/sh", NULL };
	struct agent_exec_req req = { .argv = argv, .pty_rows = 24, .pty_cols = 80 };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
	cap.react = pty_react;
	cap.stdin_w = p[1];
	cap.client = &cl;
	CHECK(write(p[1], "stty size\n", 10) == 10, "write");
	int r = run_cmd(&cl, &req, p[0], &cap, &res);
	close(p[0]);
	close(p[1]);
	CHECK(r == 0, "exec: %s", strerror(-r));
	CHECK(cap.step == 2, "stuck at step %d; output '%s'", cap.step, out(&cap, 1));
	CHECK(res.exit_code == 3 && res.reason == AGENT_EXITED, "exit %d reason %u", res.exit_code,
	      res.reason);
	CHECK(strstr(out(&cap, 1), "term=xterm-256color"), "TERM on the PTY: '%s'", out(&cap, 1));
	CHECK(cap.len[2] == 0, "a PTY's output is all stream 1, got stderr '%s'", out(&cap, 2));
	capture_free(&cap);
}

static void t_exec_pty_eof(void)
{
	const char *argv[] = { "cat", NULL };
	struct agent_exec_req req = { .argv = argv, .pty_rows = 10, .pty_cols = 40 };
	struct capture cap = { .len = { 0 } };
	struct agent_exec_result res;
	int fd = memfd_with("hello\n", 6);
	/* The stdin's end becomes ^D on the terminal, which ends cat. */
	int r = run_cmd(&cl, &req, fd, &cap, &res);
	close(fd);
	CHECK(r == 0 && res.exit_code == 0, "cat: %d exit %d signal %u, output '%s'", r,
	      res.exit_code, res.signal, out(&cap, 1));
	CHECK(strstr(out(&cap, 1), "hello\r\nhello\r\n"), "output '%s'", out(&cap, 1));
	capture_free(&cap);
}

/* An EXEC over a raw socket, then the connection is dropped: the command must die with it. */
static int raw_open(void);
static int raw_connect(void);
static int raw_send(int fd, uint16_t type, uint16_t flags, uint32_t id, struct agent_buf *fields);
static int raw_recv(int fd, uint8_t **buf, struct agent_frame *f, int timeout_ms);

/* EXEC `sleep 30` on a raw connection, `stdin_kib` KiB of stdin it never reads, then close. */
static uint32_t raw_exec_then_close(unsigned stdin_kib)
{
	struct agent_buf b;
	struct agent_frame f;
	uint8_t *mem = NULL;
	static uint8_t chunk[32 * 1024];
	uint32_t pid = 0;
	int fd = raw_connect();
	if (fd < 0)
		return 0;
	agent_buf_init(&b);
	agent_put_str(&b, ATAG_ARGV, "sleep");
	agent_put_str(&b, ATAG_ARGV, "30");
	agent_put_u32(&b, ATAG_STDIN, stdin_kib > 0);
	raw_send(fd, AGENT_EXEC, 0, 7, &b);
	agent_buf_free(&b);
	while (raw_recv(fd, &mem, &f, 5000) > 0 && f.type != AGENT_STARTED)
		;
	struct agent_field fl;
	if (f.type == AGENT_STARTED && agent_find(f.payload, f.len, ATAG_PID, &fl) == 1)
		agent_field_u32(&fl, &pid);
	/* More than the agent holds for it: the connection's input stops being read. */
	for (unsigned k = 0; k < stdin_kib; k += 32) {
		agent_buf_init(&b);
		agent_put_bytes(&b, ATAG_DATA, chunk, sizeof(chunk));
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 200) != 1) /* the socket is full: the agent stopped reading */
			k = stdin_kib;
		else
			raw_send(fd, AGENT_EXEC_STDIN, 0, 7, &b);
		agent_buf_free(&b);
	}
	free(mem);
	close(fd);
	return pid;
}

/* Wait (up to 2.5 s, in the guest) until pid is gone; "gone" or "alive". */
static bool pid_gone(uint32_t pid)
{
	struct capture cap;
	struct agent_exec_result res;
	char script[256];
	snprintf(script, sizeof(script),
		 "i=0; while [ -e /proc/%u/cmdline ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i+1)); done;"
		 " [ -e /proc/%u/cmdline ] && echo alive || echo gone", pid, pid);
	int r = sh(&cl, script, &cap, &res);
	bool gone = r == 0 && !strcmp(out(&cap, 1), "gone\n");
	capture_free(&cap);
	return gone;
}

static void t_exec_conn_close_kills(void)
{
	uint32_t pid = raw_exec_then_close(0);
	CHECK(pid > 1, "no STARTED");
	CHECK(pid_gone(pid), "sleep %u outlived its connection", pid);
	/* Its connection paused on unread stdin: the close must still be noticed. */
	pid = raw_exec_then_close(1024);
	CHECK(pid > 1, "no STARTED");
	CHECK(pid_gone(pid), "sleep %u outlived its connection, paused on 1 MiB of stdin", pid);
}

/* ---- files ----------------------------------------------------------------------------------- */

static char *path_in(const char *name)
{
	static char p[4][PATH_MAX];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void t_file_binary(void)
{
	uint8_t all[256 * 4], *back = NULL;
	size_t len = 0;
	struct agent_stat st;
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	int r = agent_client_file_write(&cl, path_in("bytes"), all, sizeof(all), 0600);
	CHECK(r == 0, "write: %s %s", strerror(-r), agent_client_last_error(&cl));
	r = agent_client_file_read_mem(&cl, path_in("bytes"), 1 << 20, &back, &len);
	CHECK(r == 0 && len == sizeof(all) && !memcmp(back, all, len), "read back %d, %zu bytes", r,
	      len);
	free(back);
	r = agent_client_file_stat(&cl, path_in("bytes"), &st);
	CHECK(r == 0 && st.type == AGENT_FT_FILE && st.size == sizeof(all) && st.mode == 0600 &&
		      st.uid == 0,
	      "stat: %d type %u size %llu mode %o", r, st.type, (unsigned long long)st.size, st.mode);
	/* Names are bytes: not UTF-8 is fine. */
	r = agent_client_file_write(&cl, path_in("n\xff\xfe"), "x", 1, 0644);
	CHECK(r == 0, "non-UTF-8 name: %s", strerror(-r));
}

static void t_file_big(void)
{
	size_t n = 3u << 20;
	uint8_t *data = malloc(n), *back = NULL;
	size_t len = 0;
	CHECK(data, "malloc");
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i ^ (i >> 11));
	/* In 256 KiB chunks with AGENT_F_MORE, into parents that do not exist yet. */
	int r = agent_client_file_write(&cl, path_in("new/deep/big"), data, n, 0644);
	CHECK(r == 0, "write: %s %s", strerror(-r), agent_client_last_error(&cl));
	r = agent_client_file_read_mem(&cl, path_in("new/deep/big"), 16u << 20, &back, &len);
	CHECK(r == 0 && len == n && !memcmp(back, data, n), "read back %d: %zu bytes", r, len);
	free(back);
	free(data);
}

static void t_file_read_ranges(void)
{
	struct agent_buf req;
	struct agent_reply rep = { .mem = NULL };
	struct agent_field fl;
	uint64_t size = 0;
	agent_buf_init(&req);
	size_t at = agent_frame_begin(&req, AGENT_FILE_READ, 0, 0);
	agent_put_str(&req, ATAG_PATH, path_in("bytes"));
	agent_put_u64(&req, ATAG_OFFSET, 1000);
	agent_put_u64(&req, ATAG_LENGTH, 100);
	agent_frame_end(&req, at);
	int r = agent_client_request(&cl, &req, &rep);
	agent_buf_free(&req);
	CHECK(r == 0, "read: %s", strerror(-r));
	CHECK(agent_find(rep.f.payload, rep.f.len, ATAG_DATA, &fl) == 1 && fl.len == 24 &&
		      fl.val[0] == (uint8_t)1000,
	      "DATA of %u bytes", fl.len);
	CHECK(rep.f.flags & AGENT_F_EOF, "no EOF flag at the end");
	CHECK(agent_find(rep.f.payload, rep.f.len, ATAG_SIZE, &fl) == 1 &&
		      agent_field_u64(&fl, &size) == 0 && size == 1024,
	      "SIZE %llu", (unsigned long long)size);
	agent_reply_free(&rep);
	uint8_t *back = NULL;
	size_t len;
	r = agent_client_file_read_mem(&cl, "/proc/self/status", 1 << 20, &back, &len);
	CHECK(r == 0 && len > 0 && !memcmp(back, "Name:", 5), "a /proc file (size 0): %d", r);
	free(back);
	r = agent_client_file_read_mem(&cl, "relative/path", 1 << 20, &back, &len);
	CHECK(r == -EINVAL && strstr(agent_client_last_error(&cl), "absolute"), "relative: %d", r);
	r = agent_client_file_read_mem(&cl, path_in("missing"), 1 << 20, &back, &len);
	CHECK(r == -ENOENT && strstr(agent_client_last_error(&cl), path_in("missing")),
	      "missing: %d '%s'", r, agent_client_last_error(&cl));
	r = agent_client_file_read_mem(&cl, dir, 1 << 20, &back, &len);
	CHECK(r == -EISDIR, "a directory: %d", r);
}

struct reader {
	int rounds, bad;
	char msg[128];
	volatile bool stop;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct agent_client c;
	if (open_client(&c) != 0) {
		snprintf(rd->msg, sizeof(rd->msg), "second connection failed");
		rd->bad++;
		return NULL;
	}
	while (!rd->stop) {
		uint8_t *p = NULL;
		size_t len = 0;
		int r = agent_client_file_read_mem(&c, path_in("atomic"), 1 << 20, &p, &len);
		rd->rounds++;
		bool uniform = r == 0 && (len == 500000 || len == 700000);
		for (size_t i = 1; uniform && i < len; i++)
			uniform = p[i] == p[0];
		if (uniform && len)
			uniform = (len == 500000) == (p[0] == 'a');
		if (!uniform) {
			snprintf(rd->msg, sizeof(rd->msg), "read %d: %zu bytes, mixed or cut", r, len);
			rd->bad++;
		}
		free(p);
	}
	agent_client_destroy(&c);
	return NULL;
}

static int count_tmp(void *ctx, const struct agent_dirent *e)
{
	if (strstr(e->name, ".flint-"))
		(*(int *)ctx)++;
	return 0;
}

static void t_file_atomic(void)
{
	static uint8_t a[500000], b[700000];
	struct reader rd = { .rounds = 0 };
	pthread_t t;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	int r = agent_client_file_write(&cl, path_in("atomic"), a, sizeof(a), 0644);
	CHECK(r == 0, "first write: %s", strerror(-r));
	CHECK(pthread_create(&t, NULL, reader_main, &rd) == 0, "thread");
	for (int i = 0; i < 40 && r == 0; i++)
		r = agent_client_file_write(&cl, path_in("atomic"), i % 2 ? a : b,
					    i % 2 ? sizeof(a) : sizeof(b), 0644);
	rd.stop = true;
	pthread_join(t, NULL);
	CHECK(r == 0, "rewrite: %s", strerror(-r));
	CHECK(!rd.bad, "%d of %d reads: %s", rd.bad, rd.rounds, rd.msg);
	int tmps = 0;
	r = agent_client_file_list(&cl, dir, count_tmp, &tmps);
	CHECK(r == 0 && tmps == 0, "list: %d, %d temporary files left", r, tmps);
	printf("    (%d reads saw whole files only)\n", rd.rounds);
}

struct listing {
	char names[16][256];
	uint32_t types[16];
	int n;
};

static int collect(void *ctx, const struct agent_dirent *e)
{
	struct listing *l = ctx;
	if (l->n < 16) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", e->name);
		l->types[l->n++] = e->type;
	}
	return 0;
}

static void t_file_dirs(void)
{
	struct listing l = { .n = 0 };
	struct agent_stat st;
	int r = agent_client_file_mkdir(&cl, path_in("tree/x/y/z"), 0700);
	CHECK(r == 0, "mkdir -p: %s %s", strerror(-r), agent_client_last_error(&cl));
	r = agent_client_file_mkdir(&cl, path_in("tree/x/y/z"), 0700);
	CHECK(r == 0, "mkdir -p of an existing directory: %s", strerror(-r));
	r = agent_client_file_stat(&cl, path_in("tree/x/y/z"), &st);
	CHECK(r == 0 && st.type == AGENT_FT_DIR && st.mode == 0700, "stat: type %u mode %o", st.type,
	      st.mode);
	r = agent_client_file_mkdir(&cl, path_in("bytes"), 0755);
	CHECK(r == -EEXIST, "mkdir over a file: %d", r);
	const char *names[] = { "tree/c", "tree/a", "tree/b" };
	for (int i = 0; i < 3 && r == -EEXIST; i++)
		CHECK(agent_client_file_write(&cl, path_in(names[i]), "x", 1, 0644) == 0, "write");
	CHECK(symlink("/etc", path_in("tree/link")) == 0, "symlink");
	r = agent_client_file_list(&cl, path_in("tree"), collect, &l);
	CHECK(r == 0 && l.n == 5, "list: %d, %d entries", r, l.n);
	CHECK(!strcmp(l.names[0], "a") && !strcmp(l.names[1], "b") && !strcmp(l.names[2], "c") &&
		      !strcmp(l.names[3], "link") && !strcmp(l.names[4], "x"),
	      "order %s %s %s %s %s", l.names[0], l.names[1], l.names[2], l.names[3], l.names[4]);
	CHECK(l.types[0] == AGENT_FT_FILE && l.types[3] == AGENT_FT_SYMLINK &&
		      l.types[4] == AGENT_FT_DIR,
	      "types %u %u %u", l.types[0], l.types[3], l.types[4]);
	r = agent_client_file_stat(&cl, path_in("tree/link"), &st);
	CHECK(r == 0 && st.type == AGENT_FT_SYMLINK, "stat does not follow symlinks: type %u", st.type);
}

static void t_file_remove(void)
{
	struct stat st;
	/* Outside the tree, reached through a symlink inside it: must survive. */
	CHECK(agent_client_file_write(&cl, path_in("outside/keep"), "k", 1, 0644) == 0, "write");
	CHECK(symlink(path_in("outside"), path_in("tree/x/y/out")) == 0, "symlink");
	int r = agent_client_file_remove(&cl, path_in("tree"), false);
	CHECK(r == -ENOTEMPTY, "non-recursive remove of a full directory: %d", r);
	r = agent_client_file_remove(&cl, path_in("tree"), true);
	CHECK(r == 0, "remove -r: %s %s", strerror(-r), agent_client_last_error(&cl));
	CHECK(lstat(path_in("tree"), &st) != 0 && errno == ENOENT, "the tree is still there");
	CHECK(stat(path_in("outside/keep"), &st) == 0, "the symlink was followed out of the tree");
	r = agent_client_file_remove(&cl, path_in("tree"), true);
	CHECK(r == -ENOENT && strstr(agent_client_last_error(&cl), "tree"), "remove again: %d", r);
	r = agent_client_file_remove(&cl, path_in("outside/keep"), false);
	CHECK(r == 0, "remove a file: %s", strerror(-r));
	r = agent_client_file_remove(&cl, path_in("outside"), false);
	CHECK(r == 0, "remove an empty directory: %s", strerror(-r));
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static int job_wait(struct agent_client *c, const char *id, struct agent_job *j, int ms)
{
	int64_t end = now_ms() + ms;
	int r;
	while ((r = agent_client_job_status(c, id, j)) == 0 && j->state == AGENT_JOB_RUNNING &&
	       now_ms() < end)
		sleep_ms(10);
	return r;
}

static void t_job_basic(void)
{
	const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 5", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_reply rep = { .mem = NULL };
	struct agent_job_logs logs;
	struct agent_job j;
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	int r = agent_client_job_start(&cl, &req, id, &pid);
	CHECK(r == 0, "start: %s", strerror(-r));
	CHECK(strlen(id) == 8 && strspn(id, "0123456789abcdef") == 8 && pid > 1, "id '%s' pid %u", id,
	      pid);
	r = job_wait(&cl, id, &j, 5000);
	CHECK(r == 0 && j.state == AGENT_JOB_EXITED && j.exit_code == 5 && j.signal == 0,
	      "status %d: state %u exit %d", r, j.state, j.exit_code);
	CHECK(j.pid == pid && !strcmp(j.cmd, "/bin/sh -c echo out; echo err >&2; exit 5") &&
		      j.started_ns && j.ended_ns >= j.started_ns,
	      "record: pid %u cmd '%s'", j.pid, j.cmd);
	r = agent_client_job_logs(&cl, id, AGENT_STDOUT, 0, 0, &rep, &logs);
	CHECK(r == 0 && logs.len == 4 && !memcmp(logs.data, "out\n", 4) && logs.total == 4 &&
		      logs.next == 4,
	      "stdout: %d, %zu bytes", r, logs.len);
	r = agent_client_job_logs(&cl, id, AGENT_STDERR, 1, 2, &rep, &logs);
	CHECK(r == 0 && logs.len == 2 && !memcmp(logs.data, "rr", 2) && logs.offset == 1 &&
		      logs.next == 3 && logs.total == 4,
	      "stderr at 1: %d, %zu bytes at %llu", r, logs.len, (unsigned long long)logs.offset);
	r = agent_client_job_logs(&cl, id, AGENT_STDOUT, 100, 0, &rep, &logs);
	CHECK(r == 0 && logs.len == 0 && logs.offset == 4, "past the end: %zu bytes at %llu",
	      logs.len, (unsigned long long)logs.offset);
	agent_reply_free(&rep);
	r = agent_client_job_status(&cl, "deadbeef0", &j);
	CHECK(r == -ENOENT || r == -ENAMETOOLONG, "unknown job: %d", r);
	r = agent_client_job_status(&cl, "00000000", &j);
	CHECK(r == -ENOENT, "unknown job: %d", r);
}

static void t_job_ring(void)
{
	const char *argv[] = { "/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo END",
			       NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_reply rep = { .mem = NULL };
	struct agent_job_logs logs;
	struct agent_job j;
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	int r = agent_client_job_start(&cl, &req, id, &pid);
	CHECK(r == 0, "start: %s", strerror(-r));
	r = job_wait(&cl, id, &j, 10000);
	CHECK(r == 0 && j.state == AGENT_JOB_EXITED && j.exit_code == 0, "state %u exit %d", j.state,
	      j.exit_code);
	r = agent_client_job_logs(&cl, id, AGENT_STDOUT, 0, 0, &rep, &logs);
	CHECK(r == 0 && logs.total == 3000004, "total %llu", (unsigned long long)logs.total);
	CHECK(logs.offset == 3000004 - (1u << 20), "oldest kept %llu", (unsigned long long)logs.offset);
	uint64_t next = logs.next;
	CHECK(logs.len > 0 && logs.data[0] == 'a', "data");
	r = agent_client_job_logs(&cl, id, AGENT_STDOUT, next, 0, &rep, &logs);
	CHECK(r == 0 && logs.next == 3000004 && logs.len >= 4 &&
		      !memcmp(logs.data + logs.len - 4, "END\n", 4),
	      "the rest: %zu bytes to %llu", logs.len, (unsigned long long)logs.next);
	agent_reply_free(&rep);
}

static void t_job_outlives_connection(void)
{
	struct agent_client a, b;
	const char *argv[] = { "sleep", "30", NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_job j;
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	CHECK(open_client(&a) == 0, "connect a");
	int r = agent_client_job_start(&a, &req, id, &pid);
	agent_client_destroy(&a);
	CHECK(r == 0, "start: %s", strerror(-r));
	CHECK(open_client(&b) == 0, "connect b");
	sleep_ms(100);
	r = agent_client_job_status(&b, id, &j);
	CHECK(r == 0 && j.state == AGENT_JOB_RUNNING, "after its connection closed: %d state %u", r,
	      j.state);
	r = agent_client_job_kill(&b, id, 0);
	CHECK(r == 0, "kill: %s", strerror(-r));
	r = job_wait(&b, id, &j, 5000);
	CHECK(r == 0 && j.state == AGENT_JOB_KILLED && j.signal == SIGKILL && j.exit_code == -1,
	      "state %u signal %u exit %d", j.state, j.signal, j.exit_code);
	r = agent_client_job_kill(&b, id, SIGTERM);
	CHECK(r == 0, "kill of an ended job: %d", r);
	agent_client_destroy(&b);
}

static int count_jobs(void *ctx, const struct agent_job *j)
{
	(void)j;
	(*(int *)ctx)++;
	return 0;
}

static void t_job_list(void)
{
	int n = 0;
	int r = agent_client_job_list(&cl, count_jobs, &n);
	/* The earlier job tests leave at least two (three with the ring test) behind. */
	CHECK(r == 0 && n >= 2, "list: %d, %d jobs", r, n);
}

/* A job that double-forks: the orphan comes to the agent and is reaped, no zombie is left. */
static void t_reaping(void)
{
	const char *script =
		"o=$(sh -c 'sleep 0.3 >/dev/null 2>&1 & echo $!'); sleep 0.1;"
		"pp=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$o/status);"
		"[ \"$pp\" = \"$PPID\" ] || echo \"orphan $o has parent $pp, not the agent $PPID\";"
		"for i in 1 2 3; do (sleep 0.05 &); done; sleep 0.6;"
		"echo zombies: $(sed -n 's/^[0-9]* (.*) \\(.\\) .*/\\1/p' /proc/[0-9]*/stat | grep -c Z)";
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct agent_exec_req req = { .argv = argv };
	struct agent_reply rep = { .mem = NULL };
	struct agent_job_logs logs;
	struct agent_job j;
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	int r = agent_client_job_start(&cl, &req, id, &pid);
	CHECK(r == 0, "start: %s", strerror(-r));
	r = job_wait(&cl, id, &j, 10000);
	CHECK(r == 0 && j.state == AGENT_JOB_EXITED, "state %u", j.state);
	r = agent_client_job_logs(&cl, id, AGENT_STDOUT, 0, 0, &rep, &logs);
	CHECK(r == 0 && logs.len == 11 && !memcmp(logs.data, "zombies: 0\n", 11), "output '%.*s'",
	      (int)logs.len, (const char *)logs.data);
	agent_reply_free(&rep);
}

/* ---- the protocol's edges -------------------------------------------------------------------- */

static int raw_connect(void)
{
	struct agent_buf b;
	struct agent_frame f;
	uint8_t *mem = NULL;
	int fd = raw_open();
	if (fd < 0)
		return fd;
	agent_buf_init(&b);
	agent_put_u32(&b, ATAG_VERSION, AGENT_VERSION);
	agent_put_str(&b, ATAG_NAME, "raw");
	raw_send(fd, AGENT_HELLO, 0, 0, &b);
	agent_buf_free(&b);
	if (raw_recv(fd, &mem, &f, 5000) <= 0 || f.type != AGENT_HELLO) {
		free(mem);
		close(fd);
		return -EPROTO;
	}
	free(mem);
	return fd;
}

static int raw_write(int fd, const void *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int raw_send(int fd, uint16_t type, uint16_t flags, uint32_t id, struct agent_buf *fields)
{
	struct agent_buf b;
	agent_buf_init(&b);
	size_t at = agent_frame_begin(&b, type, flags, id);
	if (fields && fields->len) {
		struct agent_iter it;
		struct agent_field fl;
		agent_iter_init(&it, fields->p, fields->len);
		while (agent_iter_next(&it, &fl) > 0)
			agent_put_bytes(&b, fl.tag, fl.val, fl.len);
	}
	int r = agent_frame_end(&b, at) == 0 ? raw_write(fd, b.p, b.len) : -1;
	agent_buf_free(&b);
	return r;
}

/* Bytes received on the current raw connection and not yet parsed (one at a time). */
static uint8_t rx[AGENT_HDR_SIZE + AGENT_PAYLOAD_MAX];
static size_t have;

static int raw_open(void)
{
	have = 0; /* a new connection, perhaps under an fd number reused from the last one */
	return transport_connect();
}

/* One frame: 1, 0 on EOF, -1 on timeout or error. *buf is the caller's to free. */
static int raw_recv(int fd, uint8_t **buf, struct agent_frame *f, int timeout_ms)
{
	for (;;) {
		ssize_t n = agent_frame_parse(rx, have, f);
		if (n > 0) {
			uint8_t *copy = realloc(*buf, (size_t)n);
			if (!copy)
				return -1;
			memcpy(copy, rx, (size_t)n);
			*buf = copy;
			f->payload = copy + AGENT_HDR_SIZE;
			memmove(rx, rx + n, have - (size_t)n);
			have -= (size_t)n;
			return 1;
		}
		if (n < 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		ssize_t got = recv(fd, rx + have, sizeof(rx) - have, 0);
		if (got <= 0)
			return got == 0 ? 0 : -1;
		have += (size_t)got;
	}
}

static int32_t frame_errno(const struct agent_frame *f)
{
	struct agent_field fl;
	int32_t e = 0;
	if (f->type == AGENT_ERROR && agent_find(f->payload, f->len, ATAG_ERRNO, &fl) == 1)
		agent_field_i32(&fl, &e);
	return e;
}

/* Answers on fd: expect an ERROR of errno `err` for id, then (closed) EOF or an answer to PING. */
static void expect_error(int fd, uint32_t id, int err, bool closed, const char *what)
{
	struct agent_frame f;
	uint8_t *mem = NULL;
	int r = raw_recv(fd, &mem, &f, 5000);
	CHECK(r == 1 && f.type == AGENT_ERROR && f.id == id && frame_errno(&f) == err,
	      "%s: got %d type %s id %u errno %d", what, r, r == 1 ? agent_type_name(f.type) : "-",
	      r == 1 ? f.id : 0, r == 1 ? frame_errno(&f) : 0);
	if (closed) {
		r = raw_recv(fd, &mem, &f, 5000);
		CHECK(r == 0, "%s: the connection stays open (%d)", what, r);
	} else {
		raw_send(fd, AGENT_PING, 0, 99, NULL);
		r = raw_recv(fd, &mem, &f, 5000);
		CHECK(r == 1 && f.type == AGENT_OK && f.id == 99, "%s: no answer to PING after it",
		      what);
	}
	free(mem);
}

static void t_garbage(void)
{
	static const uint8_t garbage[] = "\xff\xff\xff\x7f this is no frame at all";
	int fd = raw_connect();
	CHECK(fd >= 0, "connect");
	CHECK(raw_write(fd, garbage, sizeof(garbage)) == 0, "send");
	expect_error(fd, 0, EPROTO, true, "garbage");
	close(fd);
	if (why[0])
		return;
	/* The agent goes on serving everyone else. */
	int r = agent_client_ping(&cl);
	CHECK(r == 0, "ping on another connection: %s", strerror(-r));
}

static void t_too_long(void)
{
	uint8_t hdr[AGENT_HDR_SIZE] = { 0 };
	uint32_t len = 8 + AGENT_PAYLOAD_MAX + 1;
	int fd = raw_connect();
	CHECK(fd >= 0, "connect");
	for (int i = 0; i < 4; i++)
		hdr[i] = (uint8_t)(len >> (8 * i));
	hdr[4] = AGENT_PING;
	hdr[8] = 5;
	CHECK(raw_write(fd, hdr, sizeof(hdr)) == 0, "send");
	expect_error(fd, 0, EPROTO, true, "len past the maximum");
	close(fd);
}

static void t_bad_fields(void)
{
	struct agent_buf b;
	struct agent_frame f;
	uint8_t *mem = NULL;
	int fd = raw_connect();
	CHECK(fd >= 0, "connect");
	/* A field that runs past the payload: the header is sound, so the id is known. */
	static const uint8_t bad[] = { 16, 0, 0, 0, AGENT_PING, 0, 0, 0, 42, 0, 0, 0,
				       1, 0, 200, 0, 0, 0, 0, 0 };
	CHECK(raw_write(fd, bad, sizeof(bad)) == 0, "send");
	expect_error(fd, 42, EPROTO, true, "malformed field list");
	close(fd);
	if (why[0])
		return;
	fd = raw_connect();
	CHECK(fd >= 0, "connect");
	raw_send(fd, 0x7f, 0, 11, NULL);
	expect_error(fd, 11, EPROTONOSUPPORT, false, "unknown type");
	if (why[0])
		goto out;
	raw_send(fd, AGENT_FILE_STAT, 0, 12, NULL);
	raw_recv(fd, &mem, &f, 5000);
	struct agent_field fl;
	CHECK(f.type == AGENT_ERROR && frame_errno(&f) == EINVAL &&
		      agent_find(f.payload, f.len, ATAG_MESSAGE, &fl) == 1 &&
		      memmem(fl.val, fl.len, "missing PATH", 12),
	      "FILE_STAT without PATH: %s errno %d", agent_type_name(f.type), frame_errno(&f));
	agent_buf_init(&b);
	agent_put_str(&b, ATAG_PATH, "/etc/hostname");
	agent_put_u32(&b, ATAG_OFFSET, 0);
	raw_send(fd, AGENT_FILE_READ, 0, 13, &b);
	agent_buf_free(&b);
	raw_recv(fd, &mem, &f, 5000);
	CHECK(f.type == AGENT_ERROR && f.id == 13 && frame_errno(&f) == EINVAL &&
		      agent_find(f.payload, f.len, ATAG_MESSAGE, &fl) == 1 &&
		      memmem(fl.val, fl.len, "OFFSET must be a u64", 20),
	      "OFFSET as a u32: %s errno %d", agent_type_name(f.type), frame_errno(&f));
	agent_buf_init(&b);
	agent_put_str(&b, ATAG_DATA, "x");
	raw_send(fd, AGENT_EXEC_STDIN, 0, 14, &b);
	agent_buf_free(&b);
	raw_recv(fd, &mem, &f, 5000);
	CHECK(f.type == AGENT_ERROR && f.id == 14 && frame_errno(&f) == ESRCH,
	      "EXEC_STDIN for no command: %s errno %d", agent_type_name(f.type), frame_errno(&f));
out:
	free(mem);
	close(fd);
}

static void t_hello_rules(void)
{
	struct agent_buf b;
	struct agent_frame f;
	uint8_t *mem = NULL;
	int fd = raw_open();
	CHECK(fd >= 0, "connect");
	CHECK(raw_recv(fd, &mem, &f, 5000) == 1 && f.type == AGENT_HELLO, "no HELLO from the agent");
	raw_send(fd, AGENT_PING, 0, 1, NULL);
	expect_error(fd, 1, EPROTO, true, "PING before HELLO");
	close(fd);
	if (why[0])
		goto out;
	fd = raw_open();
	CHECK(fd >= 0, "connect");
	CHECK(raw_recv(fd, &mem, &f, 5000) == 1 && f.type == AGENT_HELLO, "no HELLO from the agent");
	agent_buf_init(&b);
	agent_put_u32(&b, ATAG_VERSION, 2);
	raw_send(fd, AGENT_HELLO, 0, 0, &b);
	agent_buf_free(&b);
	expect_error(fd, 0, EPROTO, true, "HELLO version 2");
	close(fd);
out:
	free(mem);
}

/* Last: SHUTDOWN answers, then the agent kills what it started and exits (host test mode). */
static void t_shutdown(void)
{
	const char *argv[] = { "sleep", "1000", NULL };
	struct agent_exec_req req = { .argv = argv };
	char id[AGENT_JOB_ID_SIZE];
	uint32_t pid;
	int r = agent_client_job_start(&cl, &req, id, &pid);
	CHECK(r == 0, "a job to be killed by the shutdown: %s", strerror(-r));
	r = agent_client_shutdown(&cl);
	CHECK(r == 0, "shutdown: %s", strerror(-r));
	r = agent_client_ping(&cl);
	CHECK(r < 0, "the agent still answers after SHUTDOWN");
}

/* ---- main ------------------------------------------------------------------------------------ */

static int ready_check(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct agent_client c;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1)) {
		perror("ready socket");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	int a = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0) {
		perror("accept");
		return 1;
	}
	int r = agent_client_init(&c, a, "ready-check", 10000);
	if (r == 0)
		r = agent_client_ping(&c);
	printf("ready %s %s %d\n", r == 0 ? c.peer_name : "-", r == 0 ? c.peer_kernel : "-", r);
	agent_client_destroy(&c);
	close(fd);
	unlink(path);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "--ready"))
		return ready_check(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "--vsock")) {
		over_vsock = true;
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s --ready PATH | %s [--vsock] SOCK DIR\n", argv[0], argv[0]);
		return 2;
	}
	sock_path = argv[1];
	dir = argv[2];
	run("HELLO both ways: version, name, kernel, memory", t_hello);
	if (failed) {
		printf("%d passed, %d failed\n", passed, failed);
		return 1;
	}
	if (over_vsock) {
		/* In a VM the scratch directory is the guest's: make it there. */
		struct agent_client c;
		if (open_client(&c) == 0) {
			agent_client_file_mkdir(&c, dir, 0755);
			agent_client_destroy(&c);
		}
	}
	run("PING, INFO, SET_TIME", t_ping_info_time);
	run("exec: separate ordered stdout and stderr, exit code", t_exec_streams);
	run("exec: death by a signal is SIGNAL, a shell's 128+n is EXIT_CODE", t_exec_signal_status);
	run("exec: errors before the start (ENOENT, chdir, CWD, ENV, USER)", t_exec_errors);
	run("exec: environment and working directory", t_exec_env_cwd);
	run("exec: USER sandbox is uid/gid 1000 without groups", t_exec_sandbox);
	run("exec: 4 MiB of stdin through cat, then EOF; empty stdin", t_exec_stdin);
	run("exec: 64 MiB of output, the agent's memory bounded", t_exec_large_output);
	run("exec: TIMEOUT_MS kills with REASON TIMEOUT", t_exec_timeout);
	run("exec: EXEC_SIGNAL reaches the command", t_exec_signal);
	run("exec: PTY session (stty size, resize, exit 3)", t_exec_pty);
	run("exec: stdin EOF on a PTY is ^D", t_exec_pty_eof);
	run("exec: a closed connection kills its commands (also when paused on stdin)",
	    t_exec_conn_close_kills);
	run("files: all byte values, mode, stat, a non-UTF-8 name", t_file_binary);
	run("files: 3 MiB in chunks into new parent directories", t_file_big);
	run("files: FILE_READ offset/length, SIZE, EOF, /proc, errors", t_file_read_ranges);
	run("files: atomic replace under a concurrent reader, no temp files left", t_file_atomic);
	run("files: mkdir -p, list sorted with types, lstat", t_file_dirs);
	run("files: remove, remove -r without following symlinks out", t_file_remove);
	run("jobs: exit 5, status, logs by offset, unknown ids", t_job_basic);
	run("jobs: 1 MiB ring keeps the newest bytes", t_job_ring);
	run("jobs: outlive their connection, JOB_KILL", t_job_outlives_connection);
	run("jobs: JOB_LIST", t_job_list);
	run("PID 1: orphans come to the agent and are reaped", t_reaping);
	run("protocol: garbage gets ERROR and a close; others unaffected", t_garbage);
	run("protocol: a frame longer than the maximum", t_too_long);
	run("protocol: malformed fields, unknown type, missing/ill-typed fields", t_bad_fields);
	run("protocol: HELLO first, version checked", t_hello_rules);
	run("SHUTDOWN", t_shutdown);
	agent_client_destroy(&cl);
	printf("%d passed, %d failed\n", passed, failed);
	fflush(stdout); /* before LeakSanitizer's report, which exits without flushing */
	return failed ? 1 : 0;
}
