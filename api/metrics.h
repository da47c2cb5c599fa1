/*
 * flintd's Prometheus metrics (text exposition format 0.0.4). Process-wide counters updated with
 * C11 relaxed atomics: no locks on the hot path, safe from any thread. A render is not a snapshot
 * of one instant (each value is read once, on its own), which Prometheus tolerates.
 */
#ifndef FLINT_API_METRICS_H
#define FLINT_API_METRICS_H

#include <stddef.h>

#include "route.h"

/* The plain counters. */
enum metric_counter {
	METRIC_VM_BOOTS,	  /* flint_vm_boots_total */
	METRIC_VM_BOOT_FAILURES,  /* flint_vm_boot_failures_total */
	METRIC_VM_DEATHS,	  /* flint_vm_deaths_total: VMMs that died unexpectedly */
	METRIC_SANDBOXES_CREATED, /* flint_sandboxes_created_total */
	METRIC_SANDBOXES_EXPIRED, /* flint_sandboxes_expired_total */
	METRIC_RUNS_POOLED,	  /* flint_runs_total{pooled="true"} */
	METRIC_RUNS_UNPOOLED,	  /* flint_runs_total{pooled="false"} */
	METRIC_ERR_INTERNAL,	  /* flint_errors_total{kind="internal"} */
	METRIC_ERR_AGENT,	  /* flint_errors_total{kind="agent"} */
	METRIC_ERR_VM_FAILED,	  /* flint_errors_total{kind="vm_failed"} */
	METRIC_ERR_TIMEOUT,	  /* flint_errors_total{kind="timeout"} */
	METRIC__COUNT
};

/* Count one request: route out of range counts as ROUTE_NOT_FOUND; status codes outside the fixed
 * table are folded into "1xx".."5xx" (or "other"); negative/NaN seconds count as 0. */
void metrics_observe_request(enum api_route r, int status, double seconds);
void metrics_count(enum metric_counter c); /* out of range: ignored */
void metrics_observe_boot(double seconds); /* flint_vm_boot_seconds histogram */

/* Gauges supplied by the caller at render time. pool_image/pool_ready have npool entries (may be
 * NULL when npool is 0); image names are escaped as label values. g may be NULL (all zero). */
struct metrics_gauges {
	unsigned sandboxes_running, sandboxes_failed, pool_target;
	size_t npool;
	const char *const *pool_image;
	const unsigned *pool_ready;
};
char *metrics_render(const struct metrics_gauges *g); /* malloc'ed text; NULL on ENOMEM */

/* Zero everything. For tests only: not atomic with respect to concurrent updates. */
void metrics_reset(void);

#endif
