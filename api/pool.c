/* The warm pool's refill thread and its hand-outs. */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define POOL_MAX 64
#define POOL_BOOT_TIMEOUT_MS (10 * 60 * 1000)
#define POOL_WARM_TIMEOUT_MS (2 * 60 * 1000)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct vm *ready[POOL_MAX];
static unsigned nready, target;
static bool stopping, started;
static struct vm_spec spec;
static pthread_t thread;
static unsigned dead_pending; /* pool VMs that died: the refill thread removes them */
/* The refill thread's VM until it is ready. Its own lock: vm_kill takes the supervisor's lock, which
 * on_pool_death holds while it takes `lock`. */
static pthread_mutex_t boot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm *booting;
static bool boot_stop;

bool vm_spec_equal(const struct vm_spec *a, const struct vm_spec *b)
{
	return strcmp(a->image_path, b->image_path) == 0 && strcmp(a->rootfs, b->rootfs) == 0 &&
	       strcmp(a->image_digest, b->image_digest) == 0 && a->mem_mib == b->mem_mib &&
	       a->cpus == b->cpus && a->rootro == b->rootro && a->net == b->net &&
	       a->nports == b->nports &&
	       memcmp(a->ports, b->ports, a->nports * sizeof(a->ports[0])) == 0;
}

/*
 * Run one command in a freshly booted VM before it joins the pool: the shell and the agent's
 * spawn path are then in the guest's page cache, so the request that takes the VM does not pay
 * for reading them through virtio-blk (~1.5 MiB, the costliest part of a pooled /run on the
 * host). Nothing of the user's is involved and the root stays untouched. -errno when the agent
 * could not run it: the VM is not used.
 */
static int pool_warm(struct vm *vm)
{
	struct agent_client *c;
	int r = vm_agent_get(vm, &c, POOL_WARM_TIMEOUT_MS);
	if (r < 0)
		return r;
	/* An image need not have a shell: it is warmed by use. */
	if (vm->spec.rootfs[0]) {
		vm_agent_put(vm, c, true);
		return 0;
	}
	static const char *const argv[] = { "/bin/sh", "-c", ":", NULL };
	struct agent_exec_req req = { .argv = argv, .timeout_ms = POOL_WARM_TIMEOUT_MS };
	struct agent_exec_io io = { .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	struct agent_exec_result res;
	r = agent_client_exec(c, &req, &io, &res);
	vm_agent_put(vm, c, r == 0);
	return r;
}

/* Runs on the supervisor thread: only note it, the refill thread destroys. */
static void on_pool_death(struct vm *vm, void *ctx)
{
	(void)vm;
	(void)ctx;
	metrics_count(METRIC_VM_DEATHS);
	pthread_mutex_lock(&lock);
	dead_pending++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void remove_dead_locked(struct vm **out, unsigned *nout)
{
	for (unsigned i = 0; i < nready;) {
		if (!vm_alive(ready[i])) {
			out[(*nout)++] = ready[i];
			ready[i] = ready[--nready];
		} else {
			i++;
		}
	}
	dead_pending = 0;
}

static void *refill(void *arg)
{
	(void)arg;
	unsigned failures = 0;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		struct vm *dead[POOL_MAX];
		unsigned ndead = 0;
		if (dead_pending)
			remove_dead_locked(dead, &ndead);
		if (ndead) {
			pthread_mutex_unlock(&lock);
			for (unsigned i = 0; i < ndead; i++)
				vm_destroy(dead[i], 0);
			pthread_mutex_lock(&lock);
			continue;
		}
		if (nready >= target) {
			pthread_cond_wait(&cond, &lock);
			continue;
		}
		pthread_mutex_unlock(&lock);

		char err[256];
		struct vm *vm = NULL;
		double t0 = 0;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		int r = vm_create(&vm, &spec, err, sizeof(err));
		if (r == 0) {
			metrics_count(METRIC_VM_BOOTS);
			pthread_mutex_lock(&boot_lock);
			booting = vm;
			if (boot_stop)
				vm_kill(vm);
			pthread_mutex_unlock(&boot_lock);
			r = vm_wait_ready(vm, POOL_BOOT_TIMEOUT_MS);
			if (r == 0 && (r = pool_warm(vm)) < 0 && vm_alive(vm))
				snprintf(vm->reason, sizeof(vm->reason),
					 "its first command (the warm-up) failed: %s", strerror(-r));
			pthread_mutex_lock(&boot_lock);
			booting = NULL;
			pthread_mutex_unlock(&boot_lock);
			if (r < 0) {
				snprintf(err, sizeof(err), "%s", vm->reason);
				vm_destroy(vm, 0);
				vm = NULL;
			}
		}
		pthread_mutex_lock(&lock);
		if (!vm) {
			metrics_count(METRIC_VM_BOOT_FAILURES);
			failures++;
			log_err("pool", "booting a pool VM failed: %s", err);
			/* Back off (1 s doubling to 5 min) rather than spin on a broken setup. */
			unsigned s = failures > 9 ? 300 : 1u << (failures - 1);
			s = s > 300 ? 300 : s;
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += s;
			while (!stopping && pthread_cond_timedwait(&cond, &lock, &until) != ETIMEDOUT)
				;
			continue;
		}
		failures = 0;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		metrics_observe_boot((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0);
		if (stopping || nready >= POOL_MAX) {
			pthread_mutex_unlock(&lock);
			vm_destroy(vm, 0);
			pthread_mutex_lock(&lock);
			continue;
		}
		/* Not under our lock: the supervisor calls on_pool_death holding its own. */
		pthread_mutex_unlock(&lock);
		vm_watch(vm, on_pool_death, NULL);
		pthread_mutex_lock(&lock);
		ready[nready++] = vm;
		log_info("pool", "vm %s ready in %.2f s (%u/%u)", vm->id, vm->boot_s, nready,
			 target);
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int pool_init(unsigned n, const struct vm_spec *s)
{
	if (n > POOL_MAX) {
		log_err("pool", "--pool %u: at most %d", n, POOL_MAX);
		return -EINVAL;
	}
	spec = *s;
	target = n;
	if (!n)
		return 0;
	int r = pthread_create(&thread, NULL, refill, NULL);
	if (r)
		return -r;
	started = true;
	return 0;
}

void pool_destroy(void)
{
	/* A boot in progress would hold the join for minutes: end it. */
	pthread_mutex_lock(&boot_lock);
	boot_stop = true;
	if (booting)
		vm_kill(booting);
	pthread_mutex_unlock(&boot_lock);
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (started)
		pthread_join(thread, NULL);
	started = false;
	for (unsigned i = 0; i < nready; i++)
		vm_destroy(ready[i], 0);
	nready = 0;
}

struct vm *pool_take(const struct vm_spec *s)
{
	if (!vm_spec_equal(s, &spec))
		return NULL;
	struct vm *vm = NULL;
	pthread_mutex_lock(&lock);
	/* Newest first: the oldest have idled longest and are no better. */
	while (nready && !vm) {
		struct vm *c = ready[--nready];
		if (vm_alive(c))
			vm = c;
		else {
			pthread_mutex_unlock(&lock);
			vm_destroy(c, 0);
			pthread_mutex_lock(&lock);
		}
	}
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return vm;
}

unsigned pool_ready(void)
{
	pthread_mutex_lock(&lock);
	unsigned n = nready;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned pool_target(void)
{
	return target;
}

const char *pool_image(void)
{
	return spec.image;
}
