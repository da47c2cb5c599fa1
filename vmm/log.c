/* Logging for flint-vmm: clear setup errors, rate-limited guest faults, aborts on broken invariants. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *prog = "flint-vmm";
static int verbose;
static unsigned long guest_faults;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* A handful of distinct fault kinds is plenty: the rest share the last slot. */
#define LIMIT_KEYS 16
#define LIMIT_PER_SEC 5
static struct {
	const char *key;
	time_t sec;
	unsigned n;
} limits[LIMIT_KEYS];

void log_set_prog(const char *p)
{
	prog = p;
}

void log_set_verbose(int v)
{
	verbose = v;
}

static void vlog(const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "%s: %s\n", prog, buf);
}

void log_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	if (!verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

static int limit_allows(const char *what)
{
	time_t now = time(NULL);
	unsigned i;
	for (i = 0; i < LIMIT_KEYS - 1; i++)
		if (!limits[i].key || strcmp(limits[i].key, what) == 0)
			break;
	if (!limits[i].key)
		limits[i].key = what;
	if (limits[i].sec != now) {
		limits[i].sec = now;
		limits[i].n = 0;
	}
	return limits[i].n++ < LIMIT_PER_SEC;
}

void log_guest(const char *what, const char *fmt, ...)
{
	pthread_mutex_lock(&lock);
	guest_faults++;
	int print = limit_allows(what);
	pthread_mutex_unlock(&lock);
	if (!print)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: guest fault (%s): %s\n", prog, what, buf);
}

unsigned long log_guest_count(void)
{
	pthread_mutex_lock(&lock);
	unsigned long n = guest_faults;
	pthread_mutex_unlock(&lock);
	return n;
}

void log_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s: BUG at %s:%d: %s\n", prog, file, line, what);
	abort();
}
