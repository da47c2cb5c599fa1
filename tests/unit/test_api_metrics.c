/* Unit tests for api/metrics.c: exposition text, histogram buckets, code folding, and concurrent updates. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static int reset(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

/* The text must hold this exact line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("missing line '%s' in:\n%s", line, text);
}

static void lacks(const char *text, const char *s)
{
	if (strstr(text, s))
		fail_msg("unexpected '%s'", s);
}

/* Every line is a comment or "name{labels} value" with a numeric value: Prometheus can parse it. */
static void well_formed(const char *text)
{
	assert_true(strlen(text) > 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	char *copy = strdup(text), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#') {
			assert_true(!strncmp(l, "# HELP flint_", 13) || !strncmp(l, "# TYPE flint_", 13));
			continue;
		}
		assert_true(!strncmp(l, "flint_", 6));
		char *sp = strrchr(l, ' ');
		assert_non_null(sp);
		char *end;
		strtod(sp + 1, &end);
		assert_int_equal(*end, '\0');
	}
	free(copy);
}

static void test_empty(void **state)
{
	(void)state;
	char *t = metrics_render(NULL);
	assert_non_null(t);
	well_formed(t);
	has_line(t, "# TYPE flint_http_requests_total counter");
	has_line(t, "# TYPE flint_http_request_duration_seconds histogram");
	has_line(t, "flint_vm_boots_total 0");
	has_line(t, "flint_vm_boot_failures_total 0");
	has_line(t, "flint_vm_deaths_total 0");
	has_line(t, "flint_sandboxes_created_total 0");
	has_line(t, "flint_sandboxes_expired_total 0");
	has_line(t, "flint_runs_total{pooled=\"true\"} 0");
	has_line(t, "flint_runs_total{pooled=\"false\"} 0");
	has_line(t, "flint_errors_total{kind=\"internal\"} 0");
	has_line(t, "flint_errors_total{kind=\"timeout\"} 0");
	has_line(t, "flint_vm_boot_seconds_bucket{le=\"+Inf\"} 0");
	has_line(t, "flint_vm_boot_seconds_count 0");
	has_line(t, "flint_vm_boot_seconds_sum 0.000000000");
	has_line(t, "flint_sandboxes{state=\"running\"} 0");
	has_line(t, "flint_pool_target 0");
	lacks(t, "route=");
	free(t);
}

static void test_requests(void **state)
{
	(void)state;
	metrics_observe_request(ROUTE_RUN, 200, 0.0004);
	metrics_observe_request(ROUTE_RUN, 200, 0.0005); /* le is inclusive */
	metrics_observe_request(ROUTE_RUN, 409, 1.5);
	metrics_observe_request(ROUTE_RUN, 400, 100);	  /* past the last bound: +Inf only */
	metrics_observe_request(ROUTE_EXEC, 418, 0.01);	  /* folded into 4xx */
	metrics_observe_request(ROUTE_EXEC, 299, 0.01);	  /* 2xx */
	metrics_observe_request(ROUTE_EXEC, 0, -5);	  /* other, 0 s */
	metrics_observe_request(ROUTE_EXEC, 1000, NAN);	  /* other, 0 s */
	metrics_observe_request(ROUTE_EXEC, -1, INFINITY); /* other, capped */
	metrics_observe_request((enum api_route)999, 404, 0.001);
	metrics_observe_request((enum api_route)-3, 404, 0.001);
	char *t = metrics_render(NULL);
	well_formed(t);
	has_line(t, "flint_http_requests_total{route=\"run\",code=\"200\"} 2");
	has_line(t, "flint_http_requests_total{route=\"run\",code=\"409\"} 1");
	has_line(t, "flint_http_requests_total{route=\"run\",code=\"400\"} 1");
	has_line(t, "flint_http_requests_total{route=\"exec\",code=\"4xx\"} 1");
	has_line(t, "flint_http_requests_total{route=\"exec\",code=\"2xx\"} 1");
	has_line(t, "flint_http_requests_total{route=\"exec\",code=\"other\"} 3");
	has_line(t, "flint_http_requests_total{route=\"not_found\",code=\"404\"} 2");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"0.0005\"} 2");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"1\"} 2");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"2.5\"} 3");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"60\"} 3");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"+Inf\"} 4");
	has_line(t, "flint_http_request_duration_seconds_count{route=\"run\"} 4");
	has_line(t, "flint_http_request_duration_seconds_sum{route=\"run\"} 101.500900000");
	has_line(t, "flint_http_request_duration_seconds_bucket{route=\"exec\",le=\"0.0005\"} 2");
	has_line(t, "flint_http_request_duration_seconds_count{route=\"exec\"} 5");
	has_line(t, "flint_http_request_duration_seconds_sum{route=\"exec\"} 86400.020000000");
	lacks(t, "route=\"health\"");
	/* Every bound is listed, in order, for a route that was hit. */
	static const char *const les[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
					   "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
					   "5",	     "10",    "30",	"60",	 "+Inf" };
	const char *p = t;
	for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		char want[128];
		snprintf(want, sizeof(want), "flint_http_request_duration_seconds_bucket{route=\"run\",le=\"%s\"}",
			 les[i]);
		p = strstr(p, want);
		assert_non_null(p);
	}
	free(t);
}

static void test_counters_and_gauges(void **state)
{
	(void)state;
	metrics_count(METRIC_VM_BOOTS);
	metrics_count(METRIC_VM_BOOTS);
	metrics_count(METRIC_VM_BOOT_FAILURES);
	metrics_count(METRIC_VM_DEATHS);
	metrics_count(METRIC_SANDBOXES_CREATED);
	metrics_count(METRIC_SANDBOXES_EXPIRED);
	metrics_count(METRIC_RUNS_POOLED);
	metrics_count(METRIC_RUNS_POOLED);
	metrics_count(METRIC_RUNS_POOLED);
	metrics_count(METRIC_RUNS_UNPOOLED);
	metrics_count(METRIC_ERR_INTERNAL);
	metrics_count(METRIC_ERR_AGENT);
	metrics_count(METRIC_ERR_VM_FAILED);
	metrics_count(METRIC_ERR_TIMEOUT);
	metrics_count(METRIC_ERR_TIMEOUT);
	metrics_count(METRIC__COUNT);		 /* ignored */
	metrics_count((enum metric_counter)-1); /* ignored */
	metrics_observe_boot(0.3);
	metrics_observe_boot(0.02);
	const char *images[] = { "base", "we\"ird\\name\nx" };
	const unsigned ready[] = { 3, 0 };
	struct metrics_gauges g = { .sandboxes_running = 7,
				    .sandboxes_failed = 1,
				    .pool_target = 4,
				    .npool = 2,
				    .pool_image = images,
				    .pool_ready = ready };
	char *t = metrics_render(&g);
	well_formed(t);
	has_line(t, "flint_vm_boots_total 2");
	has_line(t, "flint_vm_boot_failures_total 1");
	has_line(t, "flint_vm_deaths_total 1");
	has_line(t, "flint_sandboxes_created_total 1");
	has_line(t, "flint_sandboxes_expired_total 1");
	has_line(t, "flint_runs_total{pooled=\"true\"} 3");
	has_line(t, "flint_runs_total{pooled=\"false\"} 1");
	has_line(t, "flint_errors_total{kind=\"internal\"} 1");
	has_line(t, "flint_errors_total{kind=\"agent\"} 1");
	has_line(t, "flint_errors_total{kind=\"vm_failed\"} 1");
	has_line(t, "flint_errors_total{kind=\"timeout\"} 2");
	has_line(t, "flint_vm_boot_seconds_bucket{le=\"0.01\"} 0");
	has_line(t, "flint_vm_boot_seconds_bucket{le=\"0.025\"} 1");
	has_line(t, "flint_vm_boot_seconds_bucket{le=\"0.5\"} 2");
	has_line(t, "flint_vm_boot_seconds_count 2");
	has_line(t, "flint_vm_boot_seconds_sum 0.320000000");
	has_line(t, "flint_sandboxes{state=\"running\"} 7");
	has_line(t, "flint_sandboxes{state=\"failed\"} 1");
	has_line(t, "flint_pool_target 4");
	has_line(t, "flint_pool_vms{image=\"base\"} 3");
	has_line(t, "flint_pool_vms{image=\"we\\\"ird\\\\name\\nx\"} 0");
	free(t);
	/* npool without arrays is ignored rather than dereferenced. */
	struct metrics_gauges bad = { .npool = 5 };
	t = metrics_render(&bad);
	assert_non_null(t);
	lacks(t, "flint_pool_vms{");
	free(t);
}

#define THREADS 8
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		metrics_observe_request(ROUTE_HEALTH, 200, 0.001);
		metrics_count(METRIC_VM_BOOTS);
		metrics_observe_boot(1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 20; i++)
		free(metrics_render(NULL)); /* rendering while others write is fine */
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *t = metrics_render(NULL);
	char want[128];
	snprintf(want, sizeof(want), "flint_http_requests_total{route=\"health\",code=\"200\"} %d",
		 THREADS * PER_THREAD);
	has_line(t, want);
	snprintf(want, sizeof(want), "flint_vm_boots_total %d", THREADS * PER_THREAD);
	has_line(t, want);
	snprintf(want, sizeof(want), "flint_vm_boot_seconds_sum %d.000000000", THREADS * PER_THREAD);
	has_line(t, want);
	snprintf(want, sizeof(want), "flint_http_request_duration_seconds_sum{route=\"health\"} %d.000000000",
		 THREADS * PER_THREAD / 1000);
	has_line(t, want);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty, reset),
		cmocka_unit_test_setup(test_requests, reset),
		cmocka_unit_test_setup(test_counters_and_gauges, reset),
		cmocka_unit_test_setup(test_concurrent, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
