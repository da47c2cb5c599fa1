/* Boot trace: JSON lines on stderr with milliseconds since the VMM started. */
#include "trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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
	/*
	 * A launcher that took CLOCK_MONOTONIC just before exec (tools/bench/spawn-time) passes
	 * it here, so phases count from exec rather than from main. Ignored unless plausible.
	 */
	const char *e = on ? getenv("FLINT_TRACE_EPOCH_NS") : NULL;
	if (e) {
		char *end;
		unsigned long long ns = strtoull(e, &end, 10);
		unsigned long long now = (unsigned long long)t0.tv_sec * 1000000000ull +
					 (unsigned long long)t0.tv_nsec;
		if (*end == '\0' && ns <= now && now - ns < 10000000000ull) {
			t0.tv_sec = (time_t)(ns / 1000000000ull);
			t0.tv_nsec = (long)(ns % 1000000000ull);
		}
	}
}

void trace_memory(unsigned long vmm_kib, unsigned long guest_kib)
{
	if (!enabled)
		return;
	pthread_mutex_lock(&lock);
	fprintf(stderr, "{\"memory\":{\"rss_kib\":%lu,\"guest_rss_kib\":%lu,\"vmm_kib\":%lu}}\n",
		vmm_kib, guest_kib, vmm_kib >= guest_kib ? vmm_kib - guest_kib : 0);
	pthread_mutex_unlock(&lock);
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
