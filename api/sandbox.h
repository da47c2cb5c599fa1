/*
 * Named sandboxes: the registry, their VMs, time-to-live, detached-job bookkeeping, audit logs,
 * and their state on disk (<state>/sandboxes/NAME.json) so a restarted flintd re-attaches them.
 * Lookups hand out references; a removed sandbox's VM is killed at once and freed with the last
 * reference.
 */
#ifndef FLINTD_SANDBOX_H
#define FLINTD_SANDBOX_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

enum sandbox_state { SB_STARTING, SB_RUNNING, SB_FAILED };

struct sandbox {
	char name[64];
	char uuid[37];
	char profile[16];
	struct vm_spec spec;
	json_t *labels; /* object of strings; immutable after create */
	json_t *ports;	/* array of "H:G" strings */
	int64_t created_at, expires_at; /* unix seconds; expires_at 0: no limit */

	pthread_mutex_t lock; /* everything below */
	struct vm *vm;
	enum sandbox_state state;
	char failure[256];
	json_t *jobs; /* id → {command:[...], started_at} */
	int refs;
	bool removed;
};

struct sandbox_params {
	const char *name, *profile;
	struct vm_spec spec;
	json_t *labels, *ports; /* borrowed; copied */
	uint64_t ttl_s;		/* 0: none */
};

/* Load the state dir, re-attach live VMs, sweep the rest. */
int sandboxes_init(const char *state_dir, unsigned max_sandboxes);
/* Stop the reaper; with stop_vms, stop every sandbox's VM and forget them (else leave them). */
void sandboxes_destroy(bool stop_vms);

/*
 * Reserve the name, then take a pooled VM or boot one, and register the sandbox (running).
 * 0 with a reference in *out, or an HTTP status (409 name taken, 429 limit, 500/503 boot
 * failure) with a message in err.
 */
int sandbox_create(const struct sandbox_params *p, struct sandbox **out, char *err, size_t errlen);
struct sandbox *sandbox_get(const char *name);
struct sandbox *sandbox_get_uuid(const char *uuid);
void sandbox_put(struct sandbox *sb);
/* Unregister, kill its VM, delete its state; false when there was no such sandbox. */
bool sandbox_remove(const char *name);

/* The VM when the sandbox is usable, else NULL with the reason (and its HTTP status) in err. */
struct vm *sandbox_vm(struct sandbox *sb, int *status, char *err, size_t errlen);

json_t *sandbox_info(struct sandbox *sb);
/*
 * Add the running VM's network counters to its SandboxInfo "network" object (denied,
 * last_denied, rx/tx packets and bytes), asked of flint-vmm over its control socket; nothing
 * when the sandbox has no network or its VM does not answer in time.
 */
void sandbox_net_counters(struct sandbox *sb, json_t *network);
/* All sandboxes (label filter key/val may be NULL). */
json_t *sandbox_list(const char *label_key, const char *label_val);
/* Push the deadline by `by` seconds from max(now, current deadline); returns the new one. */
int64_t sandbox_extend(struct sandbox *sb, uint64_t by_s);

/* Append an audit entry {timestamp, type, ...fields} (fields stolen, may be NULL). */
void sandbox_audit(struct sandbox *sb, const char *type, json_t *fields);
/* The audit entries, oldest first (at most the last 1000). */
json_t *sandbox_audit_read(struct sandbox *sb);

void sandbox_job_add(struct sandbox *sb, const char *id, json_t *command, int64_t started_at);
/* {command, started_at} recorded for job id (new reference), or NULL. */
json_t *sandbox_job_meta(struct sandbox *sb, const char *id);

/*
 * A ready VM of spec for the caller to own: from the warm pool when allowed and one matches, else booted
 * now. NULL with an HTTP status and message on failure; *pooled tells which.
 */
struct vm *sandbox_boot_vm(const struct vm_spec *spec, bool use_pool, bool *pooled, char *err,
			   size_t errlen, int *status);

unsigned sandbox_count(unsigned *failed);
int64_t unix_now(void);

#endif
