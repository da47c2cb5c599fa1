/* flintd benchmark client: keep-alive HTTP/1.1 load, and one /run watched from outside. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

/*
 * usage:
 *   api-bench load PORT METHOD PATH BODY CONNS (--requests N | --seconds S)
 *                  [--warmup K] [--pid FLINTD_PID] [--vm-pid VMM_PID]
 *   api-bench run PORT BODY --pid FLINTD_PID --vms-dir DIR
 *
 * Talks to 127.0.0.1:PORT over CONNS keep-alive connections (one thread each, TCP_NODELAY,
 * Content-Length or chunked answers). BODY is the request body ("-" for none). Answers that are
 * not 2xx are counted (errors=, the first one on stderr) and left out of the timings; a broken
 * connection ends the program. Prints key=value lines (numbers only) for tools/bench-api.
 *
 * load: CONNS clients send requests back to back; latency per request (client send to last
 * byte), requests/s, and with --pid flintd's CPU time per request (the process's CPU clock,
 * nanoseconds, all threads including ones that ended) and the share of the threads serving our
 * connections; with --vm-pid the CPU time per request of that flint-vmm's event-loop (main)
 * thread, from /proc/PID/task/PID/schedstat (nanoseconds). The vCPU threads are left out: on PVM
 * hosts their time is the host emulating the guest kernel.
 *
 * run: one request (POST /run) while a sampler watches every flint-vmm under DIR (state-dir/vms:
 * the live ones and any that appear), every 0.2 ms (1 ms while they boot, 0.05 ms while one
 * exits): its event-loop CPU, when it starts exiting (PF_EXITING in /proc/PID/stat: SIGKILL
 * taken), when it has exited (its pidfd turns readable), when it was reaped (/proc/PID gone), and
 * its whole CPU time from the kill on (the kernel freeing its memory and KVM state). It reports
 * the VM that died during the request, i.e. the one the run used. API_BENCH_TRACE=1 prints every
 * step of the watched VMs' event loops on stderr.
 */

#define PF_EXITING_FLAG 0x4u
#define MAX_CONNS 256
#define MAX_VMS 8
#define MAX_THREADS 4096

static struct sockaddr_in server;
static char host_hdr[64];

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "api-bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- a minimal HTTP/1.1 keep-alive client ------------------------------------------------ */

struct conn {
	int fd;
	char *buf;
	size_t len, cap; /* bytes read and not yet consumed */
	char *req;
	size_t req_len;
	/* results */
	double *lat;
	size_t n, lat_cap;
	int last_status;
	char *last_body;
	size_t last_body_len;
	unsigned reconnects;
	unsigned errors; /* answers that were not 2xx */
	char first_error[512];
};

static int conn_open(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->len = 0;
	return 0;
}

static void conn_set_request(struct conn *c, const char *method, const char *path,
			     const char *body)
{
	size_t bl = body ? strlen(body) : 0;
	size_t cap = strlen(method) + strlen(path) + bl + 256;
	free(c->req);
	c->req = malloc(cap);
	if (!c->req)
		die("%s", "out of memory");
	int n = body ? snprintf(c->req, cap,
				"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
				"Content-Length: %zu\r\n\r\n%s",
				method, path, host_hdr, bl, body) :
		       snprintf(c->req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path,
				host_hdr);
	c->req_len = (size_t)n;
}

/* Read more bytes into c->buf; -1 on EOF or error. */
static int fill(struct conn *c)
{
	if (c->cap - c->len < 4096) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		char *b = realloc(c->buf, cap);
		if (!b)
			return -1;
		c->buf = b;
		c->cap = cap;
	}
	ssize_t r;
	do
		r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	return 0;
}

static const char *find_header(const char *head, size_t head_len, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = head; p && p < head + head_len;) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			return NULL;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* One request and its whole answer; the body is kept in c->last_body. */
static int roundtrip(struct conn *c)
{
	if (c->fd < 0 && conn_open(c) < 0)
		return -1;
	size_t off = 0;
	while (off < c->req_len) {
		ssize_t w = send(c->fd, c->req + off, c->req_len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	char *end;
	while (!c->buf || !(end = strstr(c->buf, "\r\n\r\n")))
		if (fill(c) < 0)
			return -1;
	size_t head_len = (size_t)(end - c->buf) + 4;
	int status = 0;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	const char *cl = find_header(c->buf, head_len, "Content-Length");
	const char *te = find_header(c->buf, head_len, "Transfer-Encoding");
	const char *cn = find_header(c->buf, head_len, "Connection");
	bool close_after = cn && strncasecmp(cn, "close", 5) == 0;
	free(c->last_body);
	c->last_body = NULL;
	c->last_body_len = 0;
	size_t consumed;
	if (te && strncasecmp(te, "chunked", 7) == 0) {
		size_t pos = head_len;
		char *body = NULL;
		size_t blen = 0;
		for (;;) {
			char *eol;
			while (!(eol = strstr(c->buf + pos, "\r\n")))
				if (fill(c) < 0)
					return -1;
			size_t sz = strtoul(c->buf + pos, NULL, 16);
			size_t data = (size_t)(eol - c->buf) + 2;
			while (c->len < data + sz + 2)
				if (fill(c) < 0)
					return -1;
			if (sz) {
				char *b = realloc(body, blen + sz + 1);
				if (!b)
					return -1;
				body = b;
				memcpy(body + blen, c->buf + data, sz);
				blen += sz;
				body[blen] = '\0';
			}
			pos = data + sz + 2;
			if (!sz)
				break; /* no trailers from flintd */
		}
		c->last_body = body;
		c->last_body_len = blen;
		consumed = pos;
	} else {
		size_t blen = cl ? strtoul(cl, NULL, 10) : 0;
		if (!cl && !close_after)
			return -1;
		if (cl) {
			while (c->len < head_len + blen)
				if (fill(c) < 0)
					return -1;
		} else {
			while (fill(c) == 0) /* the body ends with the connection */
				;
			blen = c->len - head_len;
		}
		c->last_body = malloc(blen + 1);
		if (!c->last_body)
			return -1;
		memcpy(c->last_body, c->buf + head_len, blen);
		c->last_body[blen] = '\0';
		c->last_body_len = blen;
		consumed = head_len + blen;
	}
	memmove(c->buf, c->buf + consumed, c->len - consumed);
	c->len -= consumed;
	c->buf[c->len] = '\0';
	c->last_status = status;
	if (close_after) {
		close(c->fd);
		c->fd = -1;
		c->reconnects++;
	}
	return status;
}

static void record(struct conn *c, double ms)
{
	if (c->n == c->lat_cap) {
		c->lat_cap = c->lat_cap ? c->lat_cap * 2 : 1024;
		c->lat = realloc(c->lat, c->lat_cap * sizeof(double));
		if (!c->lat)
			die("%s", "out of memory");
	}
	c->lat[c->n++] = ms;
}

static void check(struct conn *c, int status)
{
	if (status < 200 || status > 299) {
		fprintf(stderr, "api-bench: request failed (status %d): %.500s\n", status,
			c->last_body ? c->last_body : "(no answer)");
		exit(1);
	}
}

/* ---- CPU time from /proc and the process CPU clock ------------------------------------------- */

static long long read_ll_file(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The first field of /proc/PID/task/TID/schedstat: nanoseconds on a CPU. */
static long long schedstat_ns(int pid, int tid)
{
	char path[96], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long long r = read_ll_file(fd, buf, sizeof(buf));
	close(fd);
	return r < 0 ? -1 : atoll(buf);
}

/* The rchar line of /proc/PID/io: bytes read by read()-family calls; -1 when unreadable. */
static long long rchar(int fd)
{
	char buf[512];
	if (fd < 0 || read_ll_file(fd, buf, sizeof(buf)) < 0)
		return -1;
	const char *p = strstr(buf, "rchar:");
	return p ? atoll(p + 6) : -1;
}

static long long pid_rchar(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/io", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long long r = rchar(fd);
	if (fd >= 0)
		close(fd);
	return r;
}

static long long proc_cpu_ns(clockid_t clk)
{
	struct timespec t;
	if (clock_gettime(clk, &t) < 0)
		return -1;
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

struct threads {
	int n;
	int tid[MAX_THREADS];
	long long ns[MAX_THREADS];
};

static void snap_threads(int pid, struct threads *t)
{
	char path[64];
	t->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && t->n < MAX_THREADS) {
		if (e->d_name[0] == '.')
			continue;
		int tid = atoi(e->d_name);
		long long ns = schedstat_ns(pid, tid);
		if (ns >= 0) {
			t->tid[t->n] = tid;
			t->ns[t->n++] = ns;
		}
	}
	closedir(d);
}

static long long find_ns(const struct threads *t, int tid)
{
	for (int i = 0; i < t->n; i++)
		if (t->tid[i] == tid)
			return t->ns[i];
	return -1;
}

/*
 * flintd's CPU between two snapshots, split by thread: the ones that did not exist at `base`
 * (the connection threads of our clients, created when we connected) and the rest. Threads that
 * ended in between are only in the process total.
 */
static void cpu_split(const struct threads *base, const struct threads *before,
		      const struct threads *after, long long *conn_ns, long long *other_ns)
{
	*conn_ns = *other_ns = 0;
	for (int i = 0; i < after->n; i++) {
		long long b = find_ns(before, after->tid[i]);
		long long d = after->ns[i] - (b >= 0 ? b : 0);
		if (b >= 0 && find_ns(base, after->tid[i]) < 0)
			*conn_ns += d;
		else
			*other_ns += d;
	}
}

static clockid_t flintd_clock(int pid)
{
	clockid_t clk;
	if (clock_getcpuclockid(pid, &clk) != 0)
		die("%s", "cannot read flintd's CPU clock");
	return clk;
}

/* ---- statistics and output ------------------------------------------------------------------ */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the samples at or below it. */
static double rank(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);
	return v[i ? i - 1 : 0];
}

static void print_latency(double *v, size_t n)
{
	if (!n)
		die("%s", "no requests were measured");
	qsort(v, n, sizeof(double), cmp);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("n=%zu\nmedian_ms=%.4f\np10_ms=%.4f\np90_ms=%.4f\np99_ms=%.4f\nmax_ms=%.4f\n"
	       "mean_ms=%.4f\n",
	       n, rank(v, n, 0.5), rank(v, n, 0.1), rank(v, n, 0.9), rank(v, n, 0.99), v[n - 1],
	       sum / (double)n);
}

/* ---- load ------------------------------------------------------------------------------------ */

static pthread_barrier_t start_barrier;
static double deadline_ms;
static long per_conn_requests;
static int warmup;

/* One request; false when the answer was not 2xx (counted, the first one kept). */
static bool attempt(struct conn *c)
{
	int st = roundtrip(c);
	if (st < 0)
		check(c, st); /* the connection broke: that ends the benchmark */
	if (st >= 200 && st <= 299)
		return true;
	if (!c->errors++)
		snprintf(c->first_error, sizeof(c->first_error), "%d %s", st,
			 c->last_body ? c->last_body : "");
	return false;
}

static void *client(void *arg)
{
	struct conn *c = arg;
	for (int i = 0; i < warmup; i++)
		attempt(c);
	pthread_barrier_wait(&start_barrier); /* main takes the "before" snapshot */
	pthread_barrier_wait(&start_barrier);
	for (long i = 0; per_conn_requests ? i < per_conn_requests : now_ms() < deadline_ms; i++) {
		double t = now_ms();
		bool ok = attempt(c);
		double dt = now_ms() - t;
		/* A failure (a command that failed in the guest) is counted, not timed. */
		if (ok)
			record(c, dt);
	}
	return NULL;
}

static int cmd_load(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	const char *method = argv[1], *path = argv[2], *body = argv[3];
	int conns = atoi(argv[4]);
	double seconds = 0;
	int flintd_pid = 0, vm_pid = 0;
	warmup = 1;
	for (int i = 5; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--requests"))
			per_conn_requests = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--warmup"))
			warmup = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--pid"))
			flintd_pid = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--vm-pid"))
			vm_pid = atoi(argv[i + 1]);
		else
			return 2;
	}
	if (conns < 1 || conns > MAX_CONNS || (!per_conn_requests) == (seconds <= 0))
		return 2;
	if (per_conn_requests)
		per_conn_requests = (per_conn_requests + conns - 1) / conns;
	if (!strcmp(body, "-"))
		body = NULL;

	static struct threads base, before, after;
	clockid_t clk = 0;
	if (flintd_pid) {
		clk = flintd_clock(flintd_pid);
		snap_threads(flintd_pid, &base);
	}
	struct conn *cs = calloc((size_t)conns, sizeof(*cs));
	pthread_t *th = calloc((size_t)conns, sizeof(*th));
	if (!cs || !th)
		die("%s", "out of memory");
	for (int i = 0; i < conns; i++) {
		cs[i].fd = -1;
		if (conn_open(&cs[i]) < 0)
			die("%s", "cannot connect to flintd");
		conn_set_request(&cs[i], method, path, body);
	}
	pthread_barrier_init(&start_barrier, NULL, (unsigned)conns + 1);
	/* The warm-up requests, measured on their own: a fresh VM's first command costs more. */
	long long fw = flintd_pid ? proc_cpu_ns(clk) : 0, vw = vm_pid ? schedstat_ns(vm_pid, vm_pid) : 0;
	long long rw = vm_pid ? pid_rchar(vm_pid) : -1, r0 = -1, r1 = -1;
	double tw = now_ms();
	for (int i = 0; i < conns; i++)
		pthread_create(&th[i], NULL, client, &cs[i]);
	pthread_barrier_wait(&start_barrier); /* warm-up done */
	double warm_ms = now_ms() - tw;
	long long f0 = 0, v0 = 0, self0 = proc_cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (flintd_pid) {
		snap_threads(flintd_pid, &before);
		f0 = proc_cpu_ns(clk);
	}
	if (vm_pid) {
		v0 = schedstat_ns(vm_pid, vm_pid);
		r0 = pid_rchar(vm_pid);
	}
	double t0 = now_ms();
	deadline_ms = t0 + seconds * 1e3;
	pthread_barrier_wait(&start_barrier);
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	double wall = now_ms() - t0;
	long long f1 = 0, v1 = 0, self1 = proc_cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (flintd_pid) {
		f1 = proc_cpu_ns(clk);
		snap_threads(flintd_pid, &after);
	}
	if (vm_pid) {
		v1 = schedstat_ns(vm_pid, vm_pid);
		r1 = pid_rchar(vm_pid);
	}

	size_t total = 0;
	unsigned reconnects = 0, errors = 0;
	for (int i = 0; i < conns; i++) {
		total += cs[i].n;
		reconnects += cs[i].reconnects;
		if (cs[i].errors && !errors)
			fprintf(stderr, "api-bench: %s %s: an answer was not 2xx: %.400s\n", method,
				path, cs[i].first_error);
		errors += cs[i].errors;
	}
	double *all = malloc(total * sizeof(double));
	size_t k = 0;
	for (int i = 0; i < conns; i++) {
		memcpy(all + k, cs[i].lat, cs[i].n * sizeof(double));
		k += cs[i].n;
	}
	/* Requests/s and CPU per request count the successful answers only. */
	/* errors: warm-up requests included */
	printf("conns=%d\nwall_s=%.3f\nreq_per_s=%.1f\nreconnects=%u\nerrors=%u\n", conns,
	       wall / 1e3, (double)total / (wall / 1e3), reconnects, errors);
	print_latency(all, total);
	/* Our own CPU: the load generator shares the host's CPUs with flintd. */
	printf("client_cpu_us_per_req=%.2f\n", (double)(self1 - self0) / 1e3 / (double)total);
	if (warmup > 0 && conns == 1)
		printf("warmup_ms_per_req=%.3f\n", warm_ms / warmup);
	if (warmup > 0 && flintd_pid)
		printf("warmup_flintd_cpu_us_per_req=%.2f\n",
		       (double)(f0 - fw) / 1e3 / (double)(warmup * conns));
	if (warmup > 0 && vm_pid)
		printf("warmup_vmm_loop_cpu_us_per_req=%.2f\n",
		       (double)(v0 - vw) / 1e3 / (double)(warmup * conns));
	if (flintd_pid) {
		long long conn_ns, other_ns;
		cpu_split(&base, &before, &after, &conn_ns, &other_ns);
		printf("flintd_cpu_us_per_req=%.2f\nflintd_conn_threads_cpu_us_per_req=%.2f\n"
		       "flintd_other_threads_cpu_us_per_req=%.2f\nflintd_cpu_util=%.3f\n",
		       (double)(f1 - f0) / 1e3 / (double)total,
		       (double)conn_ns / 1e3 / (double)total, (double)other_ns / 1e3 / (double)total,
		       (double)(f1 - f0) / 1e6 / wall);
	}
	if (vm_pid) {
		if (v0 < 0 || v1 < 0)
			die("%s", "the sandbox's flint-vmm went away during the run");
		printf("vmm_loop_cpu_us_per_req=%.2f\n", (double)(v1 - v0) / 1e3 / (double)total);
		/* What flint-vmm read (read/pread: the disk image, mostly) per request. */
		if (r0 >= 0 && r1 >= r0)
			printf("vm_read_kib_per_req=%.1f\n", (double)(r1 - r0) / 1024.0 / (double)total);
		if (warmup > 0 && rw >= 0 && r0 >= rw)
			printf("warmup_vm_read_kib_per_req=%.1f\n",
			       (double)(r0 - rw) / 1024.0 / (double)(warmup * conns));
	}
	for (int i = 0; i < conns; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	return 0;
}

/* ---- run: one request, the VM watched from outside ------------------------------------------- */

struct watched {
	char id[32];
	int pid, pidfd;
	int stat_fd, sched_fd, io_fd;
	clockid_t clk;
	bool preexisting, ready, exiting, exited, reaped;
	bool zombie_read; /* its CPU clock was read after it exited, before it was reaped */
	char ready_path[600];
	double t_seen, t_ready, t_kill, t_exit, t_reap, t_loop_first, t_loop_last;
	long long loop_start, loop_ready, loop_last, loop_prev_kill;
	long long cpu_at_kill, cpu_last;
	long long rchar_start, rchar_ready, rchar_last; /* bytes flint-vmm read: the disk image, sockets */
};

static struct watched vms[MAX_VMS];
static int nvms;
static const char *vms_dir;
static volatile bool sampling = true;
static volatile double req_t0; /* when the request was sent; 0 before */
static bool trace; /* API_BENCH_TRACE=1: every event-loop step of the watched VMs on stderr */
static char known[64][32];
static int nknown;

static bool is_known(const char *id)
{
	for (int i = 0; i < nknown; i++)
		if (!strcmp(known[i], id))
			return true;
	return false;
}

/* Scan DIR for VM directories not seen yet; watch those with a live pid. */
static void discover(bool preexisting)
{
	DIR *d = opendir(vms_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 16 || is_known(e->d_name) || nvms >= MAX_VMS)
			continue;
		char p[600];
		snprintf(p, sizeof(p), "%s/%s/pid", vms_dir, e->d_name);
		FILE *f = fopen(p, "re");
		int pid = 0;
		if (f) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid <= 0)
			continue; /* not written yet: next scan */
		if (nknown < 64)
			snprintf(known[nknown++], sizeof(known[0]), "%s", e->d_name);
		struct watched *w = &vms[nvms];
		memset(w, 0, sizeof(*w));
		snprintf(w->id, sizeof(w->id), "%s", e->d_name);
		w->pid = pid;
		w->preexisting = preexisting;
		w->t_seen = now_ms();
		snprintf(p, sizeof(p), "/proc/%d/stat", pid);
		w->stat_fd = open(p, O_RDONLY | O_CLOEXEC);
		snprintf(p, sizeof(p), "/proc/%d/task/%d/schedstat", pid, pid);
		w->sched_fd = open(p, O_RDONLY | O_CLOEXEC);
		snprintf(p, sizeof(p), "/proc/%d/io", pid);
		w->io_fd = open(p, O_RDONLY | O_CLOEXEC);
		w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (w->stat_fd < 0 || w->sched_fd < 0 || w->pidfd < 0 ||
		    clock_getcpuclockid(pid, &w->clk) != 0) {
			if (w->stat_fd >= 0)
				close(w->stat_fd);
			if (w->sched_fd >= 0)
				close(w->sched_fd);
			if (w->io_fd >= 0)
				close(w->io_fd);
			if (w->pidfd >= 0)
				close(w->pidfd);
			continue; /* already gone */
		}
		snprintf(w->ready_path, sizeof(w->ready_path), "%s/%s/v.sock_1025", vms_dir,
			 e->d_name);
		w->ready = access(w->ready_path, F_OK) != 0;
		/* Its event loop is measured from here (a pool VM: just before the request). */
		w->loop_start = w->loop_last = schedstat_ns(pid, pid);
		w->loop_prev_kill = -1;
		w->cpu_at_kill = w->cpu_last = -1;
		w->rchar_start = w->rchar_last = rchar(w->io_fd);
		nvms++;
	}
	closedir(d);
}

static void sample(struct watched *w, double t)
{
	if (w->reaped)
		return;
	char buf[1024];
	long long loop = -1, cpu = proc_cpu_ns(w->clk);
	if (read_ll_file(w->sched_fd, buf, sizeof(buf)) == 0)
		loop = atoll(buf);
	unsigned flags = 0;
	bool stat_ok = read_ll_file(w->stat_fd, buf, sizeof(buf)) == 0;
	if (stat_ok) {
		/* Field 9 (flags) is the 7th after the ')' that ends the command name. */
		char *p = strrchr(buf, ')');
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %u", &flags) != 1)
			flags = 0;
	}
	if (!stat_ok || loop < 0) {
		w->reaped = true;
		w->t_reap = t;
		return;
	}
	long long rc = w->exiting ? -1 : rchar(w->io_fd);
	if (!w->ready && access(w->ready_path, F_OK) != 0) {
		w->ready = true;
		w->t_ready = t;
		w->loop_ready = loop;
		w->rchar_ready = rc;
	}
	if (rc >= 0)
		w->rchar_last = rc;
	if (!w->exiting && (flags & PF_EXITING_FLAG)) {
		w->exiting = true;
		w->t_kill = t;
		/* The previous sample is the last one before the kill. */
		w->loop_prev_kill = w->loop_last >= 0 ? w->loop_last : loop;
		w->cpu_at_kill = w->cpu_last >= 0 ? w->cpu_last : cpu;
	}
	if (!w->exiting && req_t0 > 0 && w->loop_last >= 0 && loop > w->loop_last) {
		if (!w->t_loop_first)
			w->t_loop_first = t;
		w->t_loop_last = t;
		if (trace)
			fprintf(stderr, "trace: vm %d loop +%lld ns at %.3f ms\n", w->pid,
				loop - w->loop_last, t - req_t0);
	}
	if (!w->exiting)
		w->loop_last = loop;
	if (cpu >= 0) {
		w->cpu_last = cpu;
		w->zombie_read |= w->exited;
	}
}

static void *sampler(void *arg)
{
	(void)arg;
	double next_scan = 0;
	while (sampling) {
		double t = now_ms();
		if (t >= next_scan) {
			discover(false);
			next_scan = t + 1.0;
		}
		struct pollfd p[MAX_VMS];
		int np = 0, map[MAX_VMS];
		bool all_booting = true, hot = false;
		for (int i = 0; i < nvms; i++) {
			sample(&vms[i], now_ms());
			if (vms[i].reaped)
				continue;
			all_booting &= !vms[i].ready;
			hot |= vms[i].exiting || vms[i].exited;
			if (!vms[i].exited) {
				p[np].fd = vms[i].pidfd;
				p[np].events = POLLIN;
				map[np++] = i;
			}
		}
		/*
		 * 1 ms while every VM boots (a cold run), 0.2 ms otherwise, 0.05 ms while one exits
		 * (not a busy loop: on a small host that would take the CPU flintd needs to reap it
		 * and answer). The exit itself wakes us through the pidfd, so the zombie's CPU clock
		 * is read before flintd reaps it, unless flintd wins that race.
		 */
		struct timespec ts = { 0, hot ? 50000 : all_booting ? 1000000 : 200000 };
		int n = ppoll(p, (nfds_t)np, &ts, NULL);
		for (int k = 0; n > 0 && k < np; k++) {
			if (p[k].revents & POLLIN) {
				struct watched *w = &vms[map[k]];
				w->exited = true;
				w->t_exit = now_ms();
				sample(w, w->t_exit);
			}
		}
	}
	return NULL;
}

static int cmd_run(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *body = argv[1];
	int flintd_pid = 0;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--pid"))
			flintd_pid = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--vms-dir"))
			vms_dir = argv[i + 1];
		else
			return 2;
	}
	if (!flintd_pid || !vms_dir)
		return 2;
	trace = getenv("API_BENCH_TRACE") && !strcmp(getenv("API_BENCH_TRACE"), "1");
	clockid_t clk = flintd_clock(flintd_pid);
	static struct threads base, before, after;
	snap_threads(flintd_pid, &base);
	struct conn rc = { .fd = -1 };
	if (conn_open(&rc) < 0)
		die("%s", "cannot connect to flintd");
	/* The connection's thread in flintd exists before we measure: warm it with /health. */
	conn_set_request(&rc, "GET", "/health", NULL);
	check(&rc, roundtrip(&rc));
	conn_set_request(&rc, "POST", "/run", body);

	discover(true);
	pthread_t st;
	pthread_create(&st, NULL, sampler, NULL);
	usleep(20000); /* a first sample of every VM */
	snap_threads(flintd_pid, &before);
	long long f0 = proc_cpu_ns(clk);
	double t0 = now_ms();
	req_t0 = t0;
	int status = roundtrip(&rc);
	double t1 = now_ms();
	long long f1 = proc_cpu_ns(clk);
	snap_threads(flintd_pid, &after);
	if (status < 0)
		check(&rc, status);
	bool failed = status != 200 || !strstr(rc.last_body, "\"exit_code\":0");
	if (failed)
		fprintf(stderr, "api-bench: /run answered %d: %.400s\n", status, rc.last_body);
	/*
	 * flintd answers once it has SIGKILLed the VM; its supervisor reaps it afterwards. Follow
	 * the teardown to its end (at most 5 s) so its CPU is still counted.
	 */
	for (int i = 0; i < 5000; i++) {
		bool done = false;
		for (int k = 0; k < nvms; k++)
			done |= vms[k].exiting && vms[k].reaped;
		if (done || failed)
			break;
		usleep(1000);
	}
	sampling = false;
	pthread_join(st, NULL);
	close(rc.fd);

	long long conn_ns, other_ns;
	cpu_split(&base, &before, &after, &conn_ns, &other_ns);
	printf("failed=%d\nresp_ms=%.3f\nflintd_cpu_us=%.1f\nflintd_conn_thread_cpu_us=%.1f\n"
	       "flintd_other_threads_cpu_us=%.1f\n",
	       failed, t1 - t0, (double)(f1 - f0) / 1e3, (double)conn_ns / 1e3,
	       (double)other_ns / 1e3);
	struct watched *w = NULL;
	for (int i = 0; i < nvms && !w; i++)
		if (vms[i].exiting && vms[i].reaped)
			w = &vms[i];
	if (!w) {
		printf("vm_found=0\n");
		return 0;
	}
	printf("vm_found=1\nvm_pid=%d\nvm_pooled=%d\n", w->pid, w->preexisting);
	if (!w->preexisting && w->t_ready > 0)
		printf("vm_boot_ms=%.1f\nvm_boot_loop_cpu_us=%.1f\n", w->t_ready - w->t_seen,
		       (double)(w->loop_ready - w->loop_start) / 1e3);
	/* The event loop from the request (cold: from ready) to the last sample before the kill. */
	long long from = !w->preexisting && w->t_ready > 0 ? w->loop_ready : w->loop_start;
	printf("vm_loop_cpu_us=%.1f\n", (double)(w->loop_prev_kill - from) / 1e3);
	long long rfrom = !w->preexisting && w->t_ready > 0 ? w->rchar_ready : w->rchar_start;
	if (rfrom >= 0 && w->rchar_last >= rfrom)
		printf("vm_read_kib=%.1f\n", (double)(w->rchar_last - rfrom) / 1024.0);
	if (w->t_loop_first > 0)
		printf("t_loop_first_ms=%.3f\nt_loop_last_ms=%.3f\n", w->t_loop_first - t0,
		       w->t_loop_last - t0);
	printf("t_kill_ms=%.3f\n", w->t_kill - t0);
	if (w->exited)
		printf("t_exit_ms=%.3f\n", w->t_exit - t0);
	/* Without a read as a zombie, the last part of the teardown is missing: a lower bound. */
	printf("t_reap_ms=%.3f\nteardown_cpu_us=%.1f\nteardown_complete=%d\n", w->t_reap - t0,
	       (double)(w->cpu_last - w->cpu_at_kill) / 1e3, w->zombie_read);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: api-bench load PORT METHOD PATH BODY CONNS (--requests N | "
				"--seconds S) [--warmup K] [--pid FLINTD] [--vm-pid VMM]\n"
				"       api-bench run PORT BODY --pid FLINTD --vms-dir DIR\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int port = atoi(argv[2]);
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)port);
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(host_hdr, sizeof(host_hdr), "127.0.0.1:%d", port);
	int r = 2;
	if (!strcmp(argv[1], "load"))
		r = cmd_load(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "run"))
		r = cmd_run(argc - 2, argv + 2);
	if (r == 2)
		fprintf(stderr, "api-bench: bad arguments (see the comment at the top of "
				"tools/bench/api-bench.c)\n");
	fflush(stdout);
	return r;
}
