/* Agent benchmark client: ping round trips, exec of /bin/true, and streaming both ways. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../common/agent/client.h"

/*
 * usage: agent-bench (--unix PATH | --vsock PATH) [--vmm-pid PID] PINGS EXECS MIB
 * Prints one JSON object per measure: wall time per operation (median, p10, p90) and, with
 * --vmm-pid, the CPU time (user+system) per operation of flint-vmm's event-loop thread, which does
 * all device work (vsock bridging, virtqueues): the VMM's host-side share. The vCPU threads are
 * left out on purpose: on PVM hosts their time is the host emulating the guest kernel.
 */

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double cpu_ms(int pid)
{
	if (pid <= 0)
		return 0;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, pid); /* the main thread */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Fields after the command name (which may hold spaces): utime is the 12th after ')'. */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n, double host_cpu_ms, int pid)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	printf("{\"measure\":\"%s\",\"n\":%d,\"median_ms\":%.3f,\"p10_ms\":%.3f,\"p90_ms\":%.3f", name,
	       n, v[n / 2], v[n / 10], v[(n * 9) / 10]);
	if (pid > 0)
		printf(",\"vmm_cpu_ms_per_op\":%.4f", host_cpu_ms / n);
	printf("}\n");
	fflush(stdout);
}

static int discard(void *ctx, enum agent_stream s, const uint8_t *d, size_t len)
{
	(void)s;
	(void)d;
	*(size_t *)ctx += len;
	return 0;
}

int main(int argc, char **argv)
{
	const char *unix_path = NULL, *vsock = NULL;
	int pid = 0, i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "--unix") == 0)
			unix_path = argv[i + 1];
		else if (strcmp(argv[i], "--vsock") == 0)
			vsock = argv[i + 1];
		else if (strcmp(argv[i], "--vmm-pid") == 0)
			pid = atoi(argv[i + 1]);
	}
	if (argc - i != 3 || (!unix_path == !vsock)) {
		fprintf(stderr, "usage: agent-bench (--unix PATH | --vsock PATH) [--vmm-pid PID] "
				"PINGS EXECS MIB\n");
		return 2;
	}
	int pings = atoi(argv[i]), execs = atoi(argv[i + 1]), mib = atoi(argv[i + 2]);
	int fd = unix_path ? agent_client_connect_unix(unix_path) :
			     agent_client_connect_vmm(vsock, AGENT_VSOCK_PORT, 60000);
	struct agent_client c;
	if (fd < 0 || agent_client_init(&c, fd, "agent-bench", 60000) < 0) {
		fprintf(stderr, "agent-bench: cannot reach the agent: %s\n", strerror(fd < 0 ? -fd : EIO));
		return 1;
	}
	c.timeout_ms = -1;
	int n = pings > execs ? pings : execs;
	double *v = calloc((size_t)(n > 0 ? n : 1), sizeof(double));

	double c0 = cpu_ms(pid);
	for (int k = 0; k < pings; k++) {
		double t = now_ms();
		if (agent_client_ping(&c) < 0)
			return 1;
		v[k] = now_ms() - t;
	}
	if (pings > 0)
		report("ping", v, pings, cpu_ms(pid) - c0, pid);

	const char *true_argv[] = { "/bin/true", NULL };
	struct agent_exec_req req = { .argv = true_argv };
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	struct agent_exec_result res;
	c0 = cpu_ms(pid);
	for (int k = 0; k < execs; k++) {
		double t = now_ms();
		if (agent_client_exec(&c, &req, &io, &res) < 0 || res.exit_code != 0)
			return 1;
		v[k] = now_ms() - t;
	}
	if (execs > 0)
		report("exec /bin/true", v, execs, cpu_ms(pid) - c0, pid);

	if (mib > 0) {
		/* guest -> host: the command writes MIB MiB to stdout, the client discards it. */
		char count[32];
		snprintf(count, sizeof(count), "%d", mib * 1024 * 1024);
		const char *head_argv[] = { "head", "-c", count, "/dev/zero", NULL };
		size_t got = 0;
		struct agent_exec_req hreq = { .argv = head_argv };
		struct agent_exec_io hio = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1,
					     .output = discard, .ctx = &got };
		c0 = cpu_ms(pid);
		double t = now_ms();
		if (agent_client_exec(&c, &hreq, &hio, &res) < 0 || got != (size_t)mib << 20)
			return 1;
		double ms = now_ms() - t;
		printf("{\"measure\":\"stream guest->host\",\"mib\":%d,\"ms\":%.1f,\"mib_per_s\":%.2f",
		       mib, ms, mib / (ms / 1000.0));
		if (pid > 0)
			printf(",\"vmm_cpu_ms_per_mib\":%.3f", (cpu_ms(pid) - c0) / mib);
		printf("}\n");

		/* host -> guest: stdin of `wc -c` is MIB MiB of zeros from a pipe we fill. */
		int p[2];
		if (pipe(p) < 0)
			return 1;
		pid_t w = fork();
		if (w == 0) {
			close(p[0]);
			static char zero[65536];
			for (int k = 0; k < mib * 16; k++)
				if (write(p[1], zero, sizeof(zero)) != (ssize_t)sizeof(zero))
					_exit(1);
			_exit(0);
		}
		close(p[1]);
		const char *wc_argv[] = { "wc", "-c", NULL };
		got = 0;
		struct agent_exec_req wreq = { .argv = wc_argv };
		struct agent_exec_io wio = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = p[0],
					     .output = discard, .ctx = &got };
		c0 = cpu_ms(pid);
		t = now_ms();
		if (agent_client_exec(&c, &wreq, &wio, &res) < 0 || res.exit_code != 0)
			return 1;
		ms = now_ms() - t;
		close(p[0]);
		printf("{\"measure\":\"stream host->guest\",\"mib\":%d,\"ms\":%.1f,\"mib_per_s\":%.2f",
		       mib, ms, mib / (ms / 1000.0));
		if (pid > 0)
			printf(",\"vmm_cpu_ms_per_mib\":%.3f", (cpu_ms(pid) - c0) / mib);
		printf("}\n");
	}
	agent_client_destroy(&c);
	free(v);
	return 0;
}
