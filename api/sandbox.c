/* The sandbox registry, its persistence and its time-to-live reaper. */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../host/control.h"
#include "flintd.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "validate.h"

#define SANDBOX_MAX 4096
#define AUDIT_KEEP 1000

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cond = PTHREAD_COND_INITIALIZER;
static struct sandbox *reg[SANDBOX_MAX];
static unsigned nreg, max_sb;
static char sb_dir[3072]; /* leaves room for "/NAME.json.tmp" in a PATH_MAX buffer */
static pthread_t reaper;
static bool reaper_running, reaper_stop;

int64_t unix_now(void)
{
	return (int64_t)time(NULL);
}

static void sb_path(const struct sandbox *sb, const char *suffix, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s%s", sb_dir, sb->name, suffix);
}

static const char *state_name(enum sandbox_state s)
{
	return s == SB_RUNNING ? "running" : s == SB_STARTING ? "starting" : "failed";
}

/* Write NAME.json atomically; under sb->lock. */
static void persist_locked(struct sandbox *sb)
{
	if (sb->removed)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:O, s:O, s:I, "
			      "s:I, s:s, s:s, s:O}",
			      "name", sb->name, "uuid", sb->uuid, "profile", sb->profile, "image",
			      sb->spec.image, "image_path", sb->spec.image_path, "rootfs",
			      sb->spec.rootfs, "image_digest", sb->spec.image_digest, "vcpus",
			      (json_int_t)sb->spec.cpus, "memory_mb", (json_int_t)sb->spec.mem_mib,
			      "rootro", sb->spec.rootro, "labels", sb->labels, "ports", sb->ports,
			      "created_at", (json_int_t)sb->created_at, "expires_at",
			      (json_int_t)sb->expires_at, "state", state_name(sb->state), "failure",
			      sb->failure, "jobs", sb->jobs);
	if (!o)
		return;
	json_object_set_new(o, "vm", sb->vm ? json_string(sb->vm->id) : json_null());
	json_object_set_new(o, "net", json_string(netspec_mode_name(sb->spec.net)));
	char path[PATH_MAX], tmp[PATH_MAX];
	sb_path(sb, ".json", path, sizeof(path));
	sb_path(sb, ".json.tmp", tmp, sizeof(tmp));
	if (json_dump_file(o, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
	else
		log_err("sandbox", "cannot save %s: %s", path, strerror(errno));
	json_decref(o);
}

static struct sandbox *sb_alloc(void)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return NULL;
	pthread_mutex_init(&sb->lock, NULL);
	sb->jobs = json_object();
	sb->refs = 1; /* the registry's */
	return sb;
}

static void sb_free(struct sandbox *sb)
{
	if (sb->vm)
		vm_destroy(sb->vm, 0);
	json_decref(sb->labels);
	json_decref(sb->ports);
	json_decref(sb->jobs);
	pthread_mutex_destroy(&sb->lock);
	free(sb);
}

void sandbox_put(struct sandbox *sb)
{
	if (!sb)
		return;
	pthread_mutex_lock(&sb->lock);
	bool last = --sb->refs == 0;
	pthread_mutex_unlock(&sb->lock);
	if (last)
		sb_free(sb);
}

static void sb_ref(struct sandbox *sb)
{
	pthread_mutex_lock(&sb->lock);
	sb->refs++;
	pthread_mutex_unlock(&sb->lock);
}

/* Runs on the VM supervisor thread (which holds its lock): note the failure, nothing more. */
static void on_sandbox_death(struct vm *vm, void *ctx)
{
	struct sandbox *sb = ctx;
	metrics_count(METRIC_VM_DEATHS);
	pthread_mutex_lock(&sb->lock);
	if (sb->vm == vm && sb->state != SB_FAILED) {
		sb->state = SB_FAILED;
		snprintf(sb->failure, sizeof(sb->failure), "%s", vm->reason);
		persist_locked(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	sandbox_audit(sb, "sandbox_failed", json_pack("{s:s}", "reason", vm->reason));
}

static struct sandbox *find_locked(const char *name)
{
	for (unsigned i = 0; i < nreg; i++)
		if (strcmp(reg[i]->name, name) == 0)
			return reg[i];
	return NULL;
}

struct sandbox *sandbox_get(const char *name)
{
	pthread_mutex_lock(&reg_lock);
	struct sandbox *sb = find_locked(name);
	if (sb)
		sb_ref(sb);
	pthread_mutex_unlock(&reg_lock);
	return sb;
}

struct sandbox *sandbox_get_uuid(const char *uuid)
{
	pthread_mutex_lock(&reg_lock);
	struct sandbox *sb = NULL;
	for (unsigned i = 0; i < nreg && !sb; i++)
		if (strcasecmp(reg[i]->uuid, uuid) == 0)
			sb = reg[i];
	if (sb)
		sb_ref(sb);
	pthread_mutex_unlock(&reg_lock);
	return sb;
}

static struct sandbox *unregister(const char *name)
{
	pthread_mutex_lock(&reg_lock);
	struct sandbox *sb = NULL;
	for (unsigned i = 0; i < nreg; i++) {
		if (strcmp(reg[i]->name, name) == 0) {
			sb = reg[i];
			reg[i] = reg[--nreg];
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return sb;
}

/* The registry's reference goes; the VM dies now; the files go. */
static void retire(struct sandbox *sb)
{
	char path[PATH_MAX];
	pthread_mutex_lock(&sb->lock);
	sb->removed = true;
	struct vm *vm = sb->vm; /* stays valid: freed with the sandbox */
	pthread_mutex_unlock(&sb->lock);
	/* Not under sb->lock: vm_kill takes the supervisor's lock, which on_sandbox_death holds. */
	if (vm) {
		vm_kill(vm);
		/*
		 * Its forwarded ports are free once the process has exited: wait for that, so a
		 * sandbox created next with the same ports does not find them taken.
		 */
		if (sb->spec.nports && !vm_wait_exit(vm, 10000))
			log_warn("sandbox", "%s: its VM (pid %d) has not exited 10 s after SIGKILL",
				 sb->name, (int)vm->pid);
	}
	sb_path(sb, ".json", path, sizeof(path));
	unlink(path);
	sb_path(sb, ".audit", path, sizeof(path));
	unlink(path);
	sandbox_put(sb);
}

bool sandbox_remove(const char *name)
{
	struct sandbox *sb = unregister(name);
	if (!sb)
		return false;
	log_info("sandbox", "removing %s", sb->name);
	retire(sb);
	pthread_cond_broadcast(&reap_cond);
	return true;
}

/* A forwarded port another sandbox already holds: true with the message in err. */
static bool ports_taken_locked(const struct vm_spec *spec, char *err, size_t errlen)
{
	for (unsigned i = 0; i < nreg; i++)
		for (unsigned a = 0; a < reg[i]->spec.nports; a++)
			for (unsigned b = 0; b < spec->nports; b++)
				if (netspec_ports_clash(&reg[i]->spec.ports[a], &spec->ports[b])) {
					snprintf(err, errlen,
						 "Host port %s:%u is already forwarded to sandbox '%s'",
						 spec->ports[b].host_addr, spec->ports[b].host_port,
						 reg[i]->name);
					return true;
				}
	return false;
}

/*
 * Whether flint-vmm will be able to listen on each forwarded port: a port some other program
 * holds is the caller's 409 now, not a VM that dies while booting. (It can still be taken in
 * between; the boot then fails with flint-vmm's own message.)
 */
static int ports_probe(const struct vm_spec *spec, char *err, size_t errlen)
{
	for (unsigned i = 0; i < spec->nports; i++) {
		const struct port_map *pm = &spec->ports[i];
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(pm->host_port) };
		if (inet_pton(AF_INET, pm->host_addr, &sa.sin_addr) != 1) {
			snprintf(err, errlen, "Invalid host address '%s'", pm->host_addr);
			return 400;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(err, errlen, "cannot check host port %u: %s", pm->host_port,
				 strerror(errno));
			return 500;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* as slirp binds */
		int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
		close(fd);
		if (r == EADDRINUSE) {
			snprintf(err, errlen, "Host port %s:%u is already in use", pm->host_addr,
				 pm->host_port);
			return 409;
		} else if (r == EADDRNOTAVAIL) {
			snprintf(err, errlen, "Host address %s is not an address of this host",
				 pm->host_addr);
			return 400;
		} else if (r == EACCES) {
			snprintf(err, errlen, "Host port %u needs privileges flintd does not have",
				 pm->host_port);
			return 400;
		} else if (r) {
			snprintf(err, errlen, "cannot use host port %s:%u: %s", pm->host_addr,
				 pm->host_port, strerror(r));
			return 500;
		}
	}
	return 0;
}

static struct vm *obtain_vm(const struct vm_spec *spec, bool use_pool, bool *pooled, char *err,
			    size_t errlen, int *status)
{
	struct vm *vm = use_pool ? pool_take(spec) : NULL;
	*pooled = vm != NULL;
	if (vm)
		return vm;
	int r = vm_create(&vm, spec, err, errlen);
	if (r < 0) {
		*status = 500;
		metrics_count(METRIC_VM_BOOT_FAILURES);
		return NULL;
	}
	metrics_count(METRIC_VM_BOOTS);
	r = vm_wait_ready(vm, (int)flintd.boot_timeout_s * 1000);
	if (r < 0) {
		snprintf(err, errlen, "the VM failed to boot: %s", vm->reason);
		*status = 503;
		metrics_count(METRIC_VM_BOOT_FAILURES);
		vm_destroy(vm, 0);
		return NULL;
	}
	metrics_observe_boot(vm->boot_s);
	return vm;
}

struct vm *sandbox_boot_vm(const struct vm_spec *spec, bool use_pool, bool *pooled, char *err,
			   size_t errlen, int *status)
{
	return obtain_vm(spec, use_pool, pooled, err, errlen, status);
}

int sandbox_create(const struct sandbox_params *p, struct sandbox **out, char *err, size_t errlen)
{
	struct sandbox *sb = sb_alloc();
	if (!sb) {
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	snprintf(sb->name, sizeof(sb->name), "%s", p->name);
	snprintf(sb->profile, sizeof(sb->profile), "%s", p->profile);
	uuid_generate_v4(sb->uuid);
	sb->spec = p->spec;
	sb->labels = p->labels ? json_deep_copy(p->labels) : json_object();
	sb->ports = p->ports ? json_deep_copy(p->ports) : json_array();
	sb->created_at = unix_now();
	sb->expires_at = p->ttl_s ? sb->created_at + (int64_t)p->ttl_s : 0;
	sb->state = SB_STARTING;

	pthread_mutex_lock(&reg_lock);
	int status = 0;
	if (find_locked(p->name)) {
		snprintf(err, errlen, "Sandbox '%s' already exists", p->name);
		status = 409;
	} else if (ports_taken_locked(&p->spec, err, errlen)) {
		status = 409;
	} else if (nreg >= max_sb || nreg >= SANDBOX_MAX) {
		snprintf(err, errlen, "Sandbox limit reached (max %u); delete one first", max_sb);
		status = 429;
	} else {
		reg[nreg++] = sb; /* reserves the name while the VM boots */
	}
	pthread_mutex_unlock(&reg_lock);
	if (status) {
		sb_free(sb);
		return status;
	}

	bool pooled;
	struct vm *vm = NULL;
	status = ports_probe(&sb->spec, err, errlen);
	if (status == 0)
		vm = obtain_vm(&sb->spec, true, &pooled, err, errlen, &status);
	if (!vm) {
		struct sandbox *again = unregister(p->name);
		if (again == sb)
			sandbox_put(sb);
		else if (again)
			sandbox_put(again); /* removed and recreated meanwhile: not ours */
		return status;
	}
	pthread_mutex_lock(&sb->lock);
	bool removed = sb->removed;
	sb->vm = vm;
	if (!removed) {
		sb->state = SB_RUNNING;
		sb->refs++; /* the caller's */
		persist_locked(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	if (removed) {
		/* Deleted while booting: the VM goes with it. */
		snprintf(err, errlen, "Sandbox '%s' was deleted while it was starting", p->name);
		return 409;
	}
	vm_watch(vm, on_sandbox_death, sb);
	metrics_count(METRIC_SANDBOXES_CREATED);
	log_info("sandbox", "created %s (vm %s, %s)", sb->name, vm->id,
		 pooled ? "from the pool" : "booted");
	sandbox_audit(sb, "sandbox_created",
		      json_pack("{s:s, s:s, s:b}", "image", sb->spec.image, "profile", sb->profile,
				"pooled", pooled));
	pthread_cond_broadcast(&reap_cond);
	*out = sb;
	return 0;
}

struct vm *sandbox_vm(struct sandbox *sb, int *status, char *err, size_t errlen)
{
	pthread_mutex_lock(&sb->lock);
	struct vm *vm = NULL;
	if (sb->removed) {
		*status = 404;
		snprintf(err, errlen, "Sandbox not found");
	} else if (sb->state == SB_STARTING) {
		*status = 409;
		snprintf(err, errlen, "Sandbox '%s' is still starting", sb->name);
	} else if (sb->state == SB_FAILED || !sb->vm || !vm_alive(sb->vm)) {
		*status = 409;
		snprintf(err, errlen, "Sandbox '%s' has stopped: %s", sb->name,
			 sb->failure[0] ? sb->failure : "its VM is gone");
	} else {
		vm = sb->vm;
	}
	pthread_mutex_unlock(&sb->lock);
	return vm;
}

json_t *sandbox_info(struct sandbox *sb)
{
	char created[32], expires[32];
	pthread_mutex_lock(&sb->lock);
	rfc3339_utc(sb->created_at, created);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:O, s:O}", "name",
			      sb->name, "uuid", sb->uuid, "status",
			      sb->state == SB_FAILED ? "stopped" : "running", "backend", "flint",
			      "image", sb->spec.image, "vcpus", (json_int_t)sb->spec.cpus,
			      "memory_mb", (json_int_t)sb->spec.mem_mib, "created_at", created,
			      "profile", sb->profile, "labels", sb->labels, "ports", sb->ports);
	if (o) {
		json_object_set_new(o, "state", json_string(state_name(sb->state)));
		if (sb->state == SB_FAILED)
			json_object_set_new(o, "failure", json_string(sb->failure));
		if (sb->expires_at) {
			rfc3339_utc(sb->expires_at, expires);
			json_object_set_new(o, "expires_at", json_string(expires));
		}
		if (sb->vm && sb->state == SB_RUNNING)
			json_object_set_new(o, "pid", json_integer(sb->vm->pid));
		json_object_set_new(o, "ip",
				    sb->spec.net == VM_NET_NONE ? json_null()
								: json_string(NET_GUEST_ADDR));
		json_t *net = netspec_info(sb->spec.net, sb->spec.ports, sb->spec.nports,
					   &flintd.net);
		if (net)
			json_object_set_new(o, "network", net);
	}
	pthread_mutex_unlock(&sb->lock);
	return o ? o : json_object();
}

void sandbox_net_counters(struct sandbox *sb, json_t *network)
{
	char path[VM_PATH_MAX];
	pthread_mutex_lock(&sb->lock);
	bool want = json_is_object(network) && sb->spec.net != VM_NET_NONE && sb->vm &&
		    sb->state == SB_RUNNING;
	if (want)
		snprintf(path, sizeof(path), "%s", sb->vm->control);
	pthread_mutex_unlock(&sb->lock);
	struct control_status st;
	/* Outside the lock: a VM that is slow to answer holds up only this request. */
	if (!want || control_status(path, &st, 500) < 0 || st.net_denied < 0)
		return;
	json_object_set_new(network, "denied", json_integer(st.net_denied));
	json_object_set_new(network, "last_denied", st.net_last_denied[0]
							? json_string(st.net_last_denied)
							: json_null());
	json_object_set_new(
	    network, "counters",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rx_packets", (json_int_t)st.net_rx_packets,
		      "rx_bytes", (json_int_t)st.net_rx_bytes, "tx_packets",
		      (json_int_t)st.net_tx_packets, "tx_bytes", (json_int_t)st.net_tx_bytes,
		      "rx_dropped", (json_int_t)st.net_rx_dropped, "tx_dropped",
		      (json_int_t)st.net_tx_dropped));
}

json_t *sandbox_list(const char *key, const char *val)
{
	struct sandbox *snap[SANDBOX_MAX];
	unsigned n = 0;
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nreg; i++) {
		if (reg[i]->state == SB_STARTING)
			continue;
		if (key) {
			const char *v = json_string_value(json_object_get(reg[i]->labels, key));
			if (!v || strcmp(v, val) != 0)
				continue;
		}
		sb_ref(reg[i]);
		snap[n++] = reg[i];
	}
	pthread_mutex_unlock(&reg_lock);
	json_t *a = json_array();
	for (unsigned i = 0; i < n; i++) {
		json_array_append_new(a, sandbox_info(snap[i]));
		sandbox_put(snap[i]);
	}
	return a;
}

int64_t sandbox_extend(struct sandbox *sb, uint64_t by_s)
{
	int64_t now = unix_now();
	pthread_mutex_lock(&sb->lock);
	int64_t base = sb->expires_at > now ? sb->expires_at : now;
	sb->expires_at = base + (int64_t)by_s;
	int64_t e = sb->expires_at;
	persist_locked(sb);
	pthread_mutex_unlock(&sb->lock);
	pthread_cond_broadcast(&reap_cond);
	return e;
}

void sandbox_audit(struct sandbox *sb, const char *type, json_t *fields)
{
	char ts[32], path[PATH_MAX];
	rfc3339_utc(unix_now(), ts);
	json_t *e = json_pack("{s:s, s:s}", "timestamp", ts, "type", type);
	if (fields) {
		json_object_update(e, fields);
		json_decref(fields);
	}
	char *line = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	if (!line)
		return;
	sb_path(sb, ".audit", path, sizeof(path));
	pthread_mutex_lock(&sb->lock);
	if (!sb->removed) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			size_t n = strlen(line);
			line[n] = '\n'; /* replaces the NUL: one write, one line */
			ssize_t w = write(fd, line, n + 1);
			(void)w;
			close(fd);
		}
	}
	pthread_mutex_unlock(&sb->lock);
	free(line);
}

json_t *sandbox_audit_read(struct sandbox *sb)
{
	char path[PATH_MAX];
	sb_path(sb, ".audit", path, sizeof(path));
	json_t *all = json_array();
	FILE *f = fopen(path, "re");
	if (!f)
		return all;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *e = json_loads(line, 0, NULL);
		if (!e)
			continue;
		json_array_append_new(all, e);
		if (json_array_size(all) > AUDIT_KEEP)
			json_array_remove(all, 0);
	}
	free(line);
	fclose(f);
	return all;
}

void sandbox_job_add(struct sandbox *sb, const char *id, json_t *command, int64_t started_at)
{
	pthread_mutex_lock(&sb->lock);
	json_object_set_new(sb->jobs, id,
			    json_pack("{s:O, s:I}", "command", command, "started_at",
				      (json_int_t)started_at));
	persist_locked(sb);
	pthread_mutex_unlock(&sb->lock);
}

json_t *sandbox_job_meta(struct sandbox *sb, const char *id)
{
	pthread_mutex_lock(&sb->lock);
	json_t *m = json_object_get(sb->jobs, id);
	json_incref(m);
	pthread_mutex_unlock(&sb->lock);
	return m;
}

unsigned sandbox_count(unsigned *failed)
{
	unsigned n = 0, f = 0;
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nreg; i++) {
		if (reg[i]->state == SB_FAILED)
			f++;
		else if (reg[i]->state == SB_RUNNING)
			n++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (failed)
		*failed = f;
	return n;
}

/* ---- time-to-live ------------------------------------------------------------------------- */

static void *reap_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reg_lock);
	while (!reaper_stop) {
		int64_t now = unix_now(), next = 0;
		char expired[64] = "";
		for (unsigned i = 0; i < nreg; i++) {
			int64_t e = reg[i]->expires_at;
			if (!e || reg[i]->state == SB_STARTING)
				continue;
			if (e <= now) {
				snprintf(expired, sizeof(expired), "%s", reg[i]->name);
				break;
			}
			if (!next || e < next)
				next = e;
		}
		if (expired[0]) {
			pthread_mutex_unlock(&reg_lock);
			struct sandbox *sb = unregister(expired);
			if (sb) {
				log_info("sandbox", "%s expired", sb->name);
				metrics_count(METRIC_SANDBOXES_EXPIRED);
				retire(sb);
			}
			pthread_mutex_lock(&reg_lock);
			continue;
		}
		/* Sleep until the earliest deadline; a create, extend or removal wakes us. */
		if (next) {
			struct timespec until = { .tv_sec = (time_t)next };
			pthread_cond_timedwait(&reap_cond, &reg_lock, &until);
		} else {
			pthread_cond_wait(&reap_cond, &reg_lock);
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return NULL;
}

/* ---- restore ------------------------------------------------------------------------------ */

static void restore_one(const char *path, const char **keep, unsigned *nkeep)
{
	json_error_t je;
	json_t *o = json_load_file(path, 0, &je);
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!o || !name || !valid_sandbox_name(name) || nreg >= SANDBOX_MAX) {
		log_warn("sandbox", "ignoring unreadable state %s", path);
		json_decref(o);
		unlink(path);
		return;
	}
	struct sandbox *sb = sb_alloc();
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	snprintf(sb->uuid, sizeof(sb->uuid), "%s",
		 json_string_value(json_object_get(o, "uuid")) ?: "");
	snprintf(sb->profile, sizeof(sb->profile), "%s",
		 json_string_value(json_object_get(o, "profile")) ?: "moderate");
	snprintf(sb->spec.image, sizeof(sb->spec.image), "%s",
		 json_string_value(json_object_get(o, "image")) ?: "base");
	snprintf(sb->spec.image_path, sizeof(sb->spec.image_path), "%s",
		 json_string_value(json_object_get(o, "image_path")) ?: "");
	snprintf(sb->spec.rootfs, sizeof(sb->spec.rootfs), "%s",
		 json_string_value(json_object_get(o, "rootfs")) ?: "");
	const char *dg = json_string_value(json_object_get(o, "image_digest"));
	snprintf(sb->spec.image_digest, sizeof(sb->spec.image_digest), "%s",
		 dg && strlen(dg) < sizeof(sb->spec.image_digest) ? dg : "");
	sb->spec.cpus = (unsigned)json_integer_value(json_object_get(o, "vcpus"));
	sb->spec.mem_mib = (unsigned)json_integer_value(json_object_get(o, "memory_mb"));
	sb->spec.rootro = json_is_true(json_object_get(o, "rootro"));
	sb->labels = json_incref(json_object_get(o, "labels"));
	sb->ports = json_incref(json_object_get(o, "ports"));
	if (!json_is_object(sb->labels)) {
		json_decref(sb->labels);
		sb->labels = json_object();
	}
	if (!json_is_array(sb->ports)) {
		json_decref(sb->ports);
		sb->ports = json_array();
	}
	/* A state file from before networks (no "net") describes a VM booted without one. */
	if (netspec_mode_parse(json_string_value(json_object_get(o, "net")), &sb->spec.net) < 0)
		sb->spec.net = VM_NET_NONE;
	size_t pi;
	json_t *pv;
	json_array_foreach(sb->ports, pi, pv)
	{
		struct port_map pm;
		if (sb->spec.nports < VM_PORTS_MAX &&
		    port_map_parse(json_string_value(pv) ?: "", &pm) == 0) {
			netspec_port_normalize(&pm);
			sb->spec.ports[sb->spec.nports++] = pm;
		}
	}
	json_t *jobs = json_object_get(o, "jobs");
	if (json_is_object(jobs)) {
		json_decref(sb->jobs);
		sb->jobs = json_incref(jobs);
	}
	sb->created_at = json_integer_value(json_object_get(o, "created_at"));
	sb->expires_at = json_integer_value(json_object_get(o, "expires_at"));
	const char *vmid = json_string_value(json_object_get(o, "vm"));
	const char *failure = json_string_value(json_object_get(o, "failure"));
	struct vm *vm = NULL;
	if (vmid && strcmp(json_string_value(json_object_get(o, "state")) ?: "", "running") == 0 &&
	    vm_adopt(&vm, vmid, &sb->spec) == 0) {
		sb->vm = vm;
		sb->state = SB_RUNNING;
		keep[(*nkeep)++] = vm->id;
		vm_watch(vm, on_sandbox_death, sb);
		log_info("sandbox", "re-attached %s (vm %s, pid %d)", sb->name, vm->id,
			 (int)vm->pid);
	} else {
		sb->state = SB_FAILED;
		snprintf(sb->failure, sizeof(sb->failure), "%s",
			 failure && failure[0] ? failure : "its VM ended while flintd was down");
		log_warn("sandbox", "%s: %s", sb->name, sb->failure);
	}
	reg[nreg++] = sb;
	pthread_mutex_lock(&sb->lock);
	persist_locked(sb);
	pthread_mutex_unlock(&sb->lock);
	json_decref(o);
}

int sandboxes_init(const char *state_dir, unsigned max_sandboxes)
{
	max_sb = max_sandboxes;
	snprintf(sb_dir, sizeof(sb_dir), "%s/sandboxes", state_dir);
	if (mkdir(sb_dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		log_err("sandbox", "cannot create %s: %s", sb_dir, strerror(e));
		return -e;
	}
	const char *keep[SANDBOX_MAX + 1];
	unsigned nkeep = 0;
	DIR *d = opendir(sb_dir);
	if (d) {
		struct dirent *e;
		char path[PATH_MAX];
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sb_dir, e->d_name);
			restore_one(path, keep, &nkeep);
		}
		closedir(d);
	}
	keep[nkeep] = NULL;
	/* Pool VMs and VMs of deleted sandboxes a crashed flintd left behind. */
	vm_sweep_orphans(keep);
	int r = pthread_create(&reaper, NULL, reap_loop, NULL);
	if (r)
		return -r;
	reaper_running = true;
	return 0;
}

void sandboxes_destroy(bool stop_vms)
{
	pthread_mutex_lock(&reg_lock);
	reaper_stop = true;
	pthread_cond_broadcast(&reap_cond);
	pthread_mutex_unlock(&reg_lock);
	if (reaper_running)
		pthread_join(reaper, NULL);
	reaper_running = false;
	for (;;) {
		pthread_mutex_lock(&reg_lock);
		struct sandbox *sb = nreg ? reg[--nreg] : NULL;
		pthread_mutex_unlock(&reg_lock);
		if (!sb)
			break;
		if (stop_vms) {
			retire(sb);
			continue;
		}
		/*
		 * Leave the VM running for the next flintd: unwatched, not killed. The sandbox is
		 * not freed either: requests in flight may still use it until the process exits.
		 */
		pthread_mutex_lock(&sb->lock);
		struct vm *vm = sb->vm;
		pthread_mutex_unlock(&sb->lock);
		if (vm)
			vm_forget(vm);
	}
}
