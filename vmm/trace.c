/* Boot trace: JSON lines on stderr with milliseconds since the VMM started. */
#include "trace.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool enabled;
static struct timespec t0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
#define SEEN_MAX 32
static const char *seen[SEEN_MAX];
static unsigned nr_seen;

void trace_init(bool on)
{
	clock_gettime(CLOCK_MONOTONIC, &t0);
	enabled = on;
}

double trace_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
}

void trace_phase(const char *name)
{
	if (!enabled)
		return;
	double ms = trace_now_ms();
	pthread_mutex_lock(&lock);
	/* Each phase is reported once: an AP's first KVM_RUN is not the boot's. */
	for (unsigned i = 0; i < nr_seen; i++) {
		if (strcmp(seen[i], name) == 0) {
			pthread_mutex_unlock(&lock);
			return;
		}
	}
	if (nr_seen < SEEN_MAX)
		seen[nr_seen++] = name;
	fprintf(stderr, "{\"phase\":\"%s\",\"ms\":%.3f}\n", name, ms);
	pthread_mutex_unlock(&lock);
}
