/* flintd's Prometheus metrics: fixed tables of relaxed atomics, rendered as text format 0.0.4. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relaxed order is enough: each counter is independent and only ever grows. */
typedef _Atomic uint_least64_t counter_t;

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				  0.5,	  1,	 2.5,	 5,	10,   30,    60 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
/* The same bounds as text: %g would follow the locale's decimal point. */
static const char *const bucket_labels[NBUCKETS] = { "0.0005", "0.001", "0.0025", "0.005", "0.01",
						     "0.025",  "0.05",	"0.1",	  "0.25",  "0.5",
						     "1",      "2.5",	"5",	  "10",	   "30",
						     "60" };

/* Status codes flintd sends, counted exactly; anything else by class, so the table stays fixed. */
static const int known_codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409,
				   413, 422, 429, 500, 501, 502, 503, 504 };
#define NKNOWN (sizeof(known_codes) / sizeof(known_codes[0]))
static const char *const class_codes[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };
#define NCODES (NKNOWN + sizeof(class_codes) / sizeof(class_codes[0]))

/* A histogram: non-cumulative bucket counts (the last is +Inf) and the sum in nanoseconds, which
 * an integer fetch_add can keep without a lock (584 years before it wraps). */
struct histo {
	counter_t bucket[NBUCKETS + 1];
	counter_t sum_ns;
};

static counter_t req_total[ROUTE__COUNT][NCODES];
static struct histo req_duration[ROUTE__COUNT];
static struct histo boot_duration;
static counter_t counters[METRIC__COUNT];

static size_t code_index(int status)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (known_codes[i] == status)
			return i;
	if (status >= 100 && status <= 599)
		return NKNOWN + (size_t)(status / 100 - 1);
	return NCODES - 1;
}

static void code_label(size_t idx, char out[8])
{
	if (idx < NKNOWN)
		snprintf(out, 8, "%d", known_codes[idx]);
	else
		snprintf(out, 8, "%s", class_codes[idx - NKNOWN]);
}

static void histo_observe(struct histo *h, double seconds)
{
	if (!(seconds > 0)) /* also NaN */
		seconds = 0;
	size_t b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
	/* Cap one observation at a day so the conversion cannot overflow (or be UB for +Inf). */
	double ns = seconds > 86400 ? 86400e9 : seconds * 1e9;
	atomic_fetch_add_explicit(&h->sum_ns, (uint_least64_t)(ns + 0.5), memory_order_relaxed);
}

void metrics_observe_request(enum api_route r, int status, double seconds)
{
	if ((unsigned)r >= ROUTE__COUNT)
		r = ROUTE_NOT_FOUND;
	atomic_fetch_add_explicit(&req_total[r][code_index(status)], 1, memory_order_relaxed);
	histo_observe(&req_duration[r], seconds);
}

void metrics_count(enum metric_counter c)
{
	if ((unsigned)c < METRIC__COUNT)
		atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

void metrics_observe_boot(double seconds)
{
	histo_observe(&boot_duration, seconds);
}

static uint64_t load(counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_reset(void)
{
	for (size_t r = 0; r < ROUTE__COUNT; r++) {
		for (size_t c = 0; c < NCODES; c++)
			atomic_store(&req_total[r][c], 0);
		for (size_t b = 0; b <= NBUCKETS; b++)
			atomic_store(&req_duration[r].bucket[b], 0);
		atomic_store(&req_duration[r].sum_ns, 0);
	}
	for (size_t b = 0; b <= NBUCKETS; b++)
		atomic_store(&boot_duration.bucket[b], 0);
	atomic_store(&boot_duration.sum_ns, 0);
	for (size_t c = 0; c < METRIC__COUNT; c++)
		atomic_store(&counters[c], 0);
}

/* One histogram's series; labels is "" or `route="x",` (with the trailing comma). */
static void histo_render(FILE *f, const char *name, const char *labels, struct histo *h)
{
	uint64_t cum = 0, v[NBUCKETS + 1];
	/* Read each bucket once so _count equals the +Inf bucket even while others write. */
	for (size_t b = 0; b <= NBUCKETS; b++)
		v[b] = load(&h->bucket[b]);
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += v[b];
		fprintf(f, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels, bucket_labels[b],
			(unsigned long long)cum);
	}
	cum += v[NBUCKETS];
	fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
	/* Labels without the trailing comma for _sum and _count. */
	size_t ln = strlen(labels);
	int n = ln ? (int)ln - 1 : 0;
	const char *open = ln ? "{" : "", *close = ln ? "}" : "";
	uint64_t ns = load(&h->sum_ns);
	fprintf(f, "%s_sum%s%.*s%s %llu.%09llu\n", name, open, n, labels, close,
		(unsigned long long)(ns / 1000000000u), (unsigned long long)(ns % 1000000000u));
	fprintf(f, "%s_count%s%.*s%s %llu\n", name, open, n, labels, close, (unsigned long long)cum);
}

/* A label value with \, " and newline escaped, as the text format requires. */
static void put_label_value(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void counter_render(FILE *f, const char *name, const char *help, enum metric_counter c)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
		(unsigned long long)load(&counters[c]));
}

char *metrics_render(const struct metrics_gauges *g)
{
	static const struct metrics_gauges zero;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	if (!g)
		g = &zero;

	fputs("# HELP flint_http_requests_total HTTP requests by route and status code.\n"
	      "# TYPE flint_http_requests_total counter\n",
	      f);
	for (size_t r = 0; r < ROUTE__COUNT; r++)
		for (size_t c = 0; c < NCODES; c++) {
			uint64_t v = load(&req_total[r][c]);
			char code[8];
			if (!v)
				continue;
			code_label(c, code);
			fprintf(f, "flint_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
				route_label((enum api_route)r), code, (unsigned long long)v);
		}

	fputs("# HELP flint_http_request_duration_seconds Time to answer an HTTP request.\n"
	      "# TYPE flint_http_request_duration_seconds histogram\n",
	      f);
	for (size_t r = 0; r < ROUTE__COUNT; r++) {
		uint64_t any = 0;
		for (size_t b = 0; b <= NBUCKETS; b++)
			any |= load(&req_duration[r].bucket[b]);
		if (!any)
			continue; /* routes never hit stay out of the scrape */
		char labels[64];
		snprintf(labels, sizeof(labels), "route=\"%s\",", route_label((enum api_route)r));
		histo_render(f, "flint_http_request_duration_seconds", labels, &req_duration[r]);
	}

	counter_render(f, "flint_vm_boots_total", "microVMs booted.", METRIC_VM_BOOTS);
	counter_render(f, "flint_vm_boot_failures_total", "microVM boots that failed.",
		       METRIC_VM_BOOT_FAILURES);
	counter_render(f, "flint_vm_deaths_total", "VMMs that died unexpectedly.", METRIC_VM_DEATHS);
	counter_render(f, "flint_sandboxes_created_total", "Sandboxes created.",
		       METRIC_SANDBOXES_CREATED);
	counter_render(f, "flint_sandboxes_expired_total", "Sandboxes removed at their expiry.",
		       METRIC_SANDBOXES_EXPIRED);

	fprintf(f,
		"# HELP flint_runs_total One-shot runs, by whether a warm pooled VM served them.\n"
		"# TYPE flint_runs_total counter\n"
		"flint_runs_total{pooled=\"true\"} %llu\nflint_runs_total{pooled=\"false\"} %llu\n",
		(unsigned long long)load(&counters[METRIC_RUNS_POOLED]),
		(unsigned long long)load(&counters[METRIC_RUNS_UNPOOLED]));

	fprintf(f,
		"# HELP flint_errors_total Errors by kind.\n"
		"# TYPE flint_errors_total counter\n"
		"flint_errors_total{kind=\"internal\"} %llu\n"
		"flint_errors_total{kind=\"agent\"} %llu\n"
		"flint_errors_total{kind=\"vm_failed\"} %llu\n"
		"flint_errors_total{kind=\"timeout\"} %llu\n",
		(unsigned long long)load(&counters[METRIC_ERR_INTERNAL]),
		(unsigned long long)load(&counters[METRIC_ERR_AGENT]),
		(unsigned long long)load(&counters[METRIC_ERR_VM_FAILED]),
		(unsigned long long)load(&counters[METRIC_ERR_TIMEOUT]));

	fputs("# HELP flint_vm_boot_seconds Time from starting a VMM to its agent being ready.\n"
	      "# TYPE flint_vm_boot_seconds histogram\n",
	      f);
	histo_render(f, "flint_vm_boot_seconds", "", &boot_duration);

	fprintf(f,
		"# HELP flint_sandboxes Sandboxes by state.\n"
		"# TYPE flint_sandboxes gauge\n"
		"flint_sandboxes{state=\"running\"} %u\nflint_sandboxes{state=\"failed\"} %u\n",
		g->sandboxes_running, g->sandboxes_failed);
	fputs("# HELP flint_pool_vms Warm VMs ready in the pool, by image.\n"
	      "# TYPE flint_pool_vms gauge\n",
	      f);
	for (size_t i = 0; i < g->npool && g->pool_image && g->pool_ready; i++) {
		fputs("flint_pool_vms{image=\"", f);
		put_label_value(f, g->pool_image[i]);
		fprintf(f, "\"} %u\n", g->pool_ready[i]);
	}
	fprintf(f,
		"# HELP flint_pool_target Warm VMs the pool keeps ready.\n"
		"# TYPE flint_pool_target gauge\nflint_pool_target %u\n",
		g->pool_target);

	bool bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(buf);
		return NULL;
	}
	return buf;
}
