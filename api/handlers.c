/* Routing to handlers; health, metrics, the sandbox lifecycle, audit logs, TTL, snapshots. */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "flintd.h"
#include "log.h"
#include "metrics.h"
#include "imagestore.h"
#include "pool.h"
#include "reqparse.h"
#include "validate.h"

/* ---- shared helpers ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	size_t k = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 :
				 (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	return k && k <= n && utf8_valid(p, k) ? k : 0;
}

json_t *json_bytes(const uint8_t *p, size_t n, bool *lossy)
{
	if (!n)
		return json_string("");
	if (utf8_valid(p, n))
		return json_stringn((const char *)p, n);
	if (lossy)
		*lossy = true;
	/* Worst case every byte becomes the 3-byte replacement character. */
	if (n > SIZE_MAX / 3)
		return json_string("");
	char *s = malloc(n * 3 + 1);
	if (!s)
		return json_string("");
	size_t j = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k) {
			memcpy(s + j, p + i, k);
			j += k;
			i += k;
		} else {
			memcpy(s + j, "\xef\xbf\xbd", 3);
			j += 3;
			i++;
		}
	}
	json_t *v = json_stringn(s, j);
	free(s);
	return v;
}

int spec_for(const char *image, const char *profile, unsigned vcpus, unsigned mem_mib,
	     struct vm_spec *spec, char *err, size_t errlen)
{
	const char *name = image ? image : flintd.default_spec.image;
	if (!valid_image_name(name)) {
		snprintf(err, errlen, "Invalid image name: use up to 256 of A-Z a-z 0-9 . _ / : @ -");
		return 400;
	}
	/* The image table (built in: base) first, then the image store. */
	const struct image *im = images_resolve(&flintd_images, name);
	*spec = flintd.default_spec;
	if (im) {
		spec->rootfs[0] = spec->image_digest[0] = '\0';
		snprintf(spec->image, sizeof(spec->image), "%s", im->name);
		snprintf(spec->image_path, sizeof(spec->image_path), "%s", im->path);
	} else {
		char names[512], why[1024];
		int st = imagestore_resolve(name, spec, why, sizeof(why));
		if (st) {
			images_describe(&flintd_images, names, sizeof(names));
			snprintf(err, errlen, "%s (built in: %s; 'GET /images' lists the rest)", why,
				 names);
			return st;
		}
		/* flint-init boots from flint's own disk; the image is the root it switches to. */
		snprintf(spec->image_path, sizeof(spec->image_path), "%s", flintd.boot_disk);
	}
	const char *prof = profile ? profile : "moderate";
	if (netspec_for_profile(prof, &spec->net) < 0) {
		snprintf(err, errlen,
			 "Invalid profile '%s': use permissive, moderate or restrictive", prof);
		return 400;
	}
	if (strcmp(prof, "restrictive") == 0) {
		spec->rootro = true;
		spec->mem_mib = 256;
	}
	if (vcpus)
		spec->cpus = vcpus;
	/* restrictive caps memory; the others take what is asked */
	if (mem_mib && !(spec->rootro && mem_mib > spec->mem_mib))
		spec->mem_mib = mem_mib;
	return 0;
}

struct sandbox *sandbox_for(struct req *rq, struct vm **vm)
{
	if (!valid_sandbox_name(rq->m.name)) {
		reply_error(rq, 400, "Invalid sandbox name");
		return NULL;
	}
	struct sandbox *sb = sandbox_get(rq->m.name);
	if (!sb) {
		reply_error(rq, 404, "Sandbox not found");
		return NULL;
	}
	if (vm) {
		int status;
		char err[512];
		*vm = sandbox_vm(sb, &status, err, sizeof(err));
		if (!*vm) {
			reply_error(rq, (unsigned)status, "%s", err);
			sandbox_put(sb);
			return NULL;
		}
	}
	return sb;
}

struct agent_client *agent_for(struct req *rq, struct vm *vm)
{
	struct agent_client *c;
	int r = vm_agent_get(vm, &c, AGENT_REQ_TIMEOUT_MS);
	if (r < 0) {
		metrics_count(METRIC_ERR_AGENT);
		reply_error(rq, 500, "Cannot reach the sandbox's agent: %s",
			    vm_alive(vm) ? strerror(-r) : vm->reason);
		return NULL;
	}
	return c;
}

void reply_agent_error(struct req *rq, int r, struct agent_client *c, const char *what)
{
	const char *msg = agent_client_last_error(c);
	if (!msg[0])
		msg = strerror(-r);
	switch (r) {
	case -ENOENT:
	case -ENOTDIR:
		reply_error(rq, 404, "%s: %s", what, msg);
		break;
	case -EINVAL:
	case -EISDIR:
	case -ENAMETOOLONG:
		reply_error(rq, 400, "%s: %s", what, msg);
		break;
	case -EACCES:
	case -EPERM:
	case -EROFS:
		reply_error(rq, 403, "%s: %s", what, msg);
		break;
	case -EFBIG:
		reply_error(rq, 413, "%s: larger than the %zu-byte limit", what, flintd.max_output);
		break;
	default:
		metrics_count(METRIC_ERR_AGENT);
		reply_error(rq, 500, "%s: %s", what, msg);
	}
}

/* ---- health, metrics ---------------------------------------------------------------------- */

static void h_health(struct req *rq)
{
	reply_data(rq, 200, json_string("ok"));
}

static void h_images(struct req *rq)
{
	reply_data(rq, 200, imagestore_list());
}

static void h_metrics(struct req *rq)
{
	unsigned failed = 0, running = sandbox_count(&failed);
	const char *img = pool_image();
	unsigned ready = pool_ready();
	struct metrics_gauges g = { .sandboxes_running = running,
				    .sandboxes_failed = failed,
				    .pool_target = pool_target(),
				    .npool = 1,
				    .pool_image = &img,
				    .pool_ready = &ready };
	char *text = metrics_render(&g);
	if (!text) {
		reply_error(rq, 500, "out of memory");
		return;
	}
	reply_text(rq, 200, text, "text/plain; version=0.0.4");
}

/* ---- sandboxes ---------------------------------------------------------------------------- */

static void h_sandbox_list(struct req *rq)
{
	const char *q = req_query(rq, "label");
	char key[64], val[64];
	if (q && label_filter_parse(q, key, sizeof(key), val, sizeof(val)) < 0) {
		reply_error(rq, 400, "Invalid label filter: use label=key:value");
		return;
	}
	reply_data(rq, 200, sandbox_list(q ? key : NULL, q ? val : NULL));
}

/* "ttl" on create: a flint extension, as a duration string or seconds. */
static int create_ttl(struct req *rq, uint64_t *ttl)
{
	*ttl = flintd.default_ttl_s;
	json_t *o = rq->len ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
	json_t *t = json_object_get(o, "ttl");
	int r = 0;
	if (json_is_string(t))
		r = duration_parse(json_string_value(t), ttl);
	else if (json_is_integer(t) && json_integer_value(t) > 0 &&
		 json_integer_value(t) <= 30 * 86400)
		*ttl = (uint64_t)json_integer_value(t);
	else if (t && !json_is_null(t))
		r = -EINVAL;
	json_decref(o);
	return r;
}

/* `ports` into the spec: each forward once, and only where there is a network to forward to. */
static int create_ports(const struct create_req *cr, struct vm_spec *spec, char *err,
			size_t errlen)
{
	spec->nports = 0;
	if (cr->ports.n && spec->net == VM_NET_NONE) {
		snprintf(err, errlen, "ports need a network: the restrictive profile has none");
		return -1;
	}
	_Static_assert(REQ_PORTS_MAX <= VM_PORTS_MAX, "every accepted port fits a VM");
	for (size_t i = 0; i < cr->ports.n; i++) {
		struct port_map pm = cr->port_maps[i];
		netspec_port_normalize(&pm);
		for (unsigned j = 0; j < spec->nports; j++)
			if (netspec_ports_clash(&pm, &spec->ports[j])) {
				snprintf(err, errlen, "ports '%s' and '%s' both claim host port %u",
					 cr->ports.v[j], cr->ports.v[i], pm.host_port);
				return -1;
			}
		spec->ports[spec->nports++] = pm;
	}
	return 0;
}

static void h_sandbox_create(struct req *rq)
{
	struct create_req cr = { 0 };
	char err[1024];
	int status = 400;
	if (reqparse_create(rq->body, rq->len, &cr, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct sandbox_params p = { .name = cr.name, .profile = cr.profile ? cr.profile : "moderate" };
	uint64_t ttl;
	if (cr.has_unsupported) {
		reply_error(rq, 400, "%s is not supported by flint", cr.unsupported);
		goto out;
	}
	if (create_ttl(rq, &ttl) < 0) {
		reply_error(rq, 400, "Invalid ttl: use a duration such as 30m, 2h or 1d");
		goto out;
	}
	p.ttl_s = ttl;
	status = spec_for(cr.image, cr.profile, cr.vcpus, cr.memory_mb, &p.spec, err, sizeof(err));
	if (status) {
		reply_error(rq, (unsigned)status, "%s", err);
		goto out;
	}
	if (create_ports(&cr, &p.spec, err, sizeof(err)) < 0) {
		reply_error(rq, 400, "%s", err);
		goto out;
	}
	p.ports = json_array();
	for (unsigned i = 0; i < p.spec.nports; i++) {
		char s[NETSPEC_PORT_STR];
		netspec_port_format(&p.spec.ports[i], s);
		json_array_append_new(p.ports, json_string(s));
	}
	p.labels = json_object();
	for (size_t i = 0; i < cr.label_keys.n; i++)
		json_object_set_new(p.labels, cr.label_keys.v[i], json_string(cr.label_vals.v[i]));
	struct sandbox *sb;
	status = sandbox_create(&p, &sb, err, sizeof(err));
	json_decref(p.labels);
	json_decref(p.ports);
	if (status) {
		reply_error(rq, (unsigned)status, "%s", err);
		goto out;
	}
	reply_data(rq, 201, sandbox_info(sb));
	sandbox_put(sb);
out:
	create_req_free(&cr);
}

static void h_sandbox_get(struct req *rq)
{
	struct sandbox *sb = sandbox_for(rq, NULL);
	if (!sb)
		return;
	json_t *info = sandbox_info(sb);
	sandbox_net_counters(sb, json_object_get(info, "network"));
	reply_data(rq, 200, info);
	sandbox_put(sb);
}

static void h_sandbox_by_uuid(struct req *rq)
{
	if (!valid_uuid(rq->m.name)) {
		reply_error(rq, 400, "Invalid UUID");
		return;
	}
	struct sandbox *sb = sandbox_get_uuid(rq->m.name);
	if (!sb) {
		reply_error(rq, 404, "Sandbox not found");
		return;
	}
	reply_data(rq, 200, sandbox_info(sb));
	sandbox_put(sb);
}

static void h_sandbox_delete(struct req *rq)
{
	if (!valid_sandbox_name(rq->m.name)) {
		reply_error(rq, 400, "Invalid sandbox name");
		return;
	}
	sandbox_remove(rq->m.name); /* idempotent: unknown names are fine */
	reply_data(rq, 200, json_string("Sandbox removed"));
}

static void h_sandbox_logs(struct req *rq)
{
	struct sandbox *sb = sandbox_for(rq, NULL);
	if (!sb)
		return;
	reply_data(rq, 200, sandbox_audit_read(sb));
	sandbox_put(sb);
}

static void h_sandbox_extend(struct req *rq)
{
	struct extend_req er = { 0 };
	char err[512];
	int status = 400;
	if (reqparse_extend(rq->body, rq->len, &er, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct sandbox *sb = sandbox_for(rq, NULL);
	if (sb) {
		char ts[32];
		rfc3339_utc(sandbox_extend(sb, er.by_s), ts);
		sandbox_audit(sb, "sandbox_extended", json_pack("{s:s}", "expires_at", ts));
		reply_data(rq, 200, json_pack("{s:s}", "expires_at", ts));
		sandbox_put(sb);
	}
	extend_req_free(&er);
}

static void h_snapshots(struct req *rq)
{
	reply_error(rq, 501,
		    "Snapshots are not implemented in this flint yet: a snapshot will capture the "
		    "whole running VM (memory, devices, disk)");
}

void handlers_dispatch(struct req *rq)
{
	switch (rq->m.route) {
	case ROUTE_HEALTH: h_health(rq); break;
	case ROUTE_METRICS: h_metrics(rq); break;
	case ROUTE_RUN: h_run(rq); break;
	case ROUTE_RUN_STREAM: h_run_stream(rq); break;
	case ROUTE_RUN_ATTACH: h_run_attach(rq); break;
	case ROUTE_BATCH_RUN: h_batch_run(rq); break;
	case ROUTE_SANDBOX_LIST: h_sandbox_list(rq); break;
	case ROUTE_SANDBOX_CREATE: h_sandbox_create(rq); break;
	case ROUTE_SANDBOX_GET: h_sandbox_get(rq); break;
	case ROUTE_SANDBOX_BY_UUID: h_sandbox_by_uuid(rq); break;
	case ROUTE_SANDBOX_DELETE: h_sandbox_delete(rq); break;
	case ROUTE_EXEC: h_exec(rq); break;
	case ROUTE_EXEC_DETACH: h_exec_detach(rq); break;
	case ROUTE_DETACHED_LIST: h_detached_list(rq); break;
	case ROUTE_DETACHED_GET: h_detached_get(rq); break;
	case ROUTE_DETACHED_LOGS: h_detached_logs(rq); break;
	case ROUTE_DETACHED_KILL: h_detached_kill(rq); break;
	case ROUTE_FILE_READ: h_file_read(rq); break;
	case ROUTE_FILE_WRITE: h_file_write(rq); break;
	case ROUTE_FILE_DELETE: h_file_delete(rq); break;
	case ROUTE_FILES_BATCH: h_files_batch(rq); break;
	case ROUTE_SANDBOX_LOGS: h_sandbox_logs(rq); break;
	case ROUTE_SANDBOX_EXTEND: h_sandbox_extend(rq); break;
	case ROUTE_SANDBOX_ATTACH: h_attach(rq); break;
	case ROUTE_SNAPSHOT_LIST:
	case ROUTE_SNAPSHOT_CREATE:
	case ROUTE_SNAPSHOT_GET:
	case ROUTE_SNAPSHOT_DELETE:
	case ROUTE_SNAPSHOT_RESTORE: h_snapshots(rq); break;
	case ROUTE_IMAGE_LIST: h_images(rq); break;
	case ROUTE_NOT_FOUND:
	case ROUTE__COUNT: reply_error(rq, 404, "Not found"); break;
	}
}
