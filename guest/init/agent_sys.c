/* The VM as a whole: HELLO's contents, PING, INFO, SET_TIME, SHUTDOWN, and the OOM counter. */
#include "agent_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_conn.h"
#include "agent_req.h"
#include "main.h"
#include "power.h"

#define SYS_SHUTDOWN_FLUSH_MS 1000 /* for the OK to SHUTDOWN to leave before we go */

static bool sys_vm;
static char sys_kernel[65];
static uint64_t sys_mem_total;
/* Kept open: a pread at offset 0 regenerates a /proc file, one syscall instead of three. */
static int sys_vmstat_fd = -1, sys_meminfo_fd = -1;
static char sys_text[16384];

/* The value of "key <number>" at the start of a line of a /proc file read into sys_text. */
static uint64_t sys_proc_value(int fd, const char *key)
{
	size_t k = strlen(key);
	ssize_t n;
	char *p;

	if (fd < 0)
		return 0;
	n = pread(fd, sys_text, sizeof(sys_text) - 1, 0);
	if (n <= 0)
		return 0;
	sys_text[n] = '\0';
	for (p = sys_text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, k))
			return strtoull(p + k, NULL, 10);
	return 0;
}

void sys_init(bool vm)
{
	struct utsname u;

	sys_vm = vm;
	if (uname(&u) == 0) {
		memcpy(sys_kernel, u.release, sizeof(sys_kernel) - 1);
		sys_kernel[sizeof(sys_kernel) - 1] = '\0';
	}
	sys_vmstat_fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
	sys_meminfo_fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	sys_mem_total = sys_proc_value(sys_meminfo_fd, "MemTotal:") * 1024;
}

void sys_put_hello(struct agent_buf *b)
{
	agent_put_u32(b, ATAG_VERSION, AGENT_VERSION);
	agent_put_str(b, ATAG_NAME, INIT_NAME);
	agent_put_str(b, ATAG_KERNEL, sys_kernel);
	agent_put_u64(b, ATAG_MEM_TOTAL, sys_mem_total);
}

uint64_t sys_oom_kills(void)
{
	return sys_proc_value(sys_vmstat_fd, "oom_kill ");
}

void sys_ping(struct conn *c, const struct agent_frame *f)
{
	conn_ok(c, f->id);
}

void sys_info(struct conn *c, const struct agent_frame *f)
{
	uint64_t total = sys_proc_value(sys_meminfo_fd, "MemTotal:") * 1024;
	/* The one pread above filled sys_text: MemAvailable is in the same copy. */
	char *avail = strstr(sys_text, "\nMemAvailable:");
	struct timespec up = { 0, 0 };
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t at;

	clock_gettime(CLOCK_BOOTTIME, &up);
	at = conn_begin(c, AGENT_OK, 0, f->id);
	agent_put_str(&c->out, ATAG_KERNEL, sys_kernel);
	agent_put_u64(&c->out, ATAG_MEM_TOTAL, total);
	agent_put_u64(&c->out, ATAG_MEM_FREE,
		      avail && total ? strtoull(avail + 14, NULL, 10) * 1024 : 0);
	agent_put_u64(&c->out, ATAG_UPTIME_NS,
		      (uint64_t)up.tv_sec * 1000000000u + (uint64_t)up.tv_nsec);
	agent_put_u32(&c->out, ATAG_NCPUS, ncpus > 0 ? (uint32_t)ncpus : 1);
	conn_end(c, at);
}

void sys_set_time(struct conn *c, const struct agent_frame *f)
{
	struct timespec t;
	uint64_t ns;

	if (req_u64(c, f, ATAG_TIME_NS, &ns, true) < 0)
		return;
	t.tv_sec = (time_t)(ns / 1000000000u);
	t.tv_nsec = (long)(ns % 1000000000u);
	/* Host tests share the host's clock: it is never ours to set there. */
	if (sys_vm && clock_settime(CLOCK_REALTIME, &t) != 0) {
		conn_error(c, f->id, errno, "SET_TIME: %s", strerror(errno));
		return;
	}
	conn_ok(c, f->id);
}

void sys_shutdown(struct conn *c, const struct agent_frame *f)
{
	conn_ok(c, f->id);
	conn_flush_wait(c, SYS_SHUTDOWN_FLUSH_MS);
	agent_stop();
	/* SIGTERM to all, SIGKILL after a grace, sync, power off (in host tests: exit 0). */
	power_shutdown(POWER_OFF, 0);
}
