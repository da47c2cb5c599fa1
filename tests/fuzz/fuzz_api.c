/*
 * libFuzzer harness for flintd's pure modules (api/): the first byte picks the parser, the rest is
 * its input. Beyond "no crash, no leak", it checks what must hold for any input: router results
 * are NUL-terminated and consistent, accepted requests honour their caps, every error message is
 * valid UTF-8 (it goes into a JSON envelope), base64 round-trips, and images_describe stays in bounds.
 *
 *   make build/fuzz/fuzz_api && build/fuzz/fuzz_api -max_total_time=60 [CORPUS_DIR]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "images.h"
#include "netspec.h"
#include "reqparse.h"
#include "route.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* The input as a NUL-terminated string (cut at the first NUL, like a C caller would see it). */
static char *cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_err(int rc, int status, const char *err)
{
	if (rc == 0)
		return;
	check(rc == -1);
	check(status == 400 || status == 500);
	check(err[0] != '\0');
	check(utf8_valid((const uint8_t *)err, strlen(err)));
}

static void check_strv(const struct strv *v, size_t max)
{
	check(v->n <= max);
	if (v->v)
		check(v->v[v->n] == NULL);
}

static void fuzz_route(const uint8_t *p, size_t n)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "get" };
	if (n < 1)
		return;
	char *path = cstr(p + 1, n - 1);
	struct route_match m;
	enum api_route r = route_parse(methods[p[0] % 6], path, &m);
	check(r == m.route && (unsigned)r < ROUTE__COUNT);
	check(memchr(m.name, '\0', sizeof(m.name)) && memchr(m.id, '\0', sizeof(m.id)) &&
	      memchr(m.path, '\0', sizeof(m.path)));
	check(route_label(r) != NULL);
	if (r == ROUTE_FILE_READ || r == ROUTE_FILE_WRITE || r == ROUTE_FILE_DELETE)
		check(m.path[0] == '/' || m.path[0] == '\0');
	if (r == ROUTE_NOT_FOUND)
		check(!m.name[0] && !m.id[0] && !m.path[0]);
	free(path);
}

static void fuzz_reqparse(unsigned which, const uint8_t *p, size_t n)
{
	const char *body = (const char *)p;
	int status = 0;
	char err[256] = "";
	int rc;
	switch (which) {
	case 0: {
		struct run_req r;
		rc = reqparse_run(body, n, &r, &status, err, sizeof(err));
		if (rc == 0) {
			check(r.command.n > 0);
			check_strv(&r.command, REQ_ARGV_MAX);
			for (size_t i = 0; i < r.command.n; i++)
				check(strlen(r.command.v[i]) <= REQ_ARG_BYTES_MAX);
		}
		run_req_free(&r);
		break;
	}
	case 1: {
		struct create_req r;
		rc = reqparse_create(body, n, &r, &status, err, sizeof(err));
		if (rc == 0) {
			check(valid_sandbox_name(r.name));
			check(r.vcpus <= REQ_VCPUS_MAX && r.memory_mb <= REQ_MEMORY_MB_MAX);
			check_strv(&r.label_keys, REQ_LABELS_MAX);
			check(r.label_keys.n == r.label_vals.n);
			for (size_t i = 0; i < r.label_keys.n; i++)
				check(valid_label(r.label_keys.v[i], r.label_vals.v[i]));
			check_strv(&r.ports, REQ_PORTS_MAX);
			struct port_map pm;
			for (size_t i = 0; i < r.ports.n; i++)
				check(port_map_parse(r.ports.v[i], &pm) == 0);
			check(memchr(r.unsupported, '\0', sizeof(r.unsupported)) != NULL);
		}
		create_req_free(&r);
		break;
	}
	case 2: {
		struct exec_req r;
		rc = reqparse_exec(body, n, &r, &status, err, sizeof(err));
		if (rc == 0) {
			check_strv(&r.env, REQ_ENV_MAX);
			check(!r.workdir || valid_workdir(r.workdir));
		}
		exec_req_free(&r);
		break;
	}
	case 3: {
		struct file_write_req r;
		rc = reqparse_file_write(body, n, &r, &status, err, sizeof(err));
		if (rc == 0)
			check(r.data != NULL && r.len <= n);
		file_write_req_free(&r);
		break;
	}
	case 4: {
		struct files_batch_req r;
		rc = reqparse_files_batch(body, n, &r, &status, err, sizeof(err));
		if (rc == 0) {
			check(r.paths.n > 0 && r.paths.n == r.contents.n);
			check_strv(&r.paths, REQ_FILES_MAX);
			for (size_t i = 0; i < r.paths.n; i++)
				check(valid_workdir(r.paths.v[i]));
		}
		files_batch_req_free(&r);
		break;
	}
	case 5: {
		struct batch_run_req r;
		rc = reqparse_batch_run(body, n, &r, &status, err, sizeof(err));
		if (rc == 0) {
			check(r.n > 0 && r.n <= REQ_BATCH_MAX);
			for (size_t i = 0; i < r.n; i++)
				check(r.commands[i].n > 0);
		}
		batch_run_req_free(&r);
		break;
	}
	case 6: {
		struct extend_req r;
		rc = reqparse_extend(body, n, &r, &status, err, sizeof(err));
		if (rc == 0)
			check(r.by_s > 0 && r.by_s <= DURATION_MAX_S);
		extend_req_free(&r);
		break;
	}
	case 7: {
		struct snapshot_req r;
		rc = reqparse_snapshot(body, n, &r, &status, err, sizeof(err));
		if (rc == 0)
			check(valid_sandbox_name(r.sandbox) && (!r.name || valid_sandbox_name(r.name)));
		snapshot_req_free(&r);
		break;
	}
	default: {
		struct restore_req r;
		rc = reqparse_restore(body, n, &r, &status, err, sizeof(err));
		if (rc == 0)
			check(!r.as_name || valid_sandbox_name(r.as_name));
		restore_req_free(&r);
		break;
	}
	}
	check_err(rc, status, err);
}

static void fuzz_b64(const uint8_t *p, size_t n)
{
	uint8_t *out;
	size_t outlen;
	int rc = b64_decode((const char *)p, n, &out, &outlen);
	check(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		/* Strict means canonical: encoding what was decoded gives back the input exactly. */
		char *e = b64_encode(out, outlen);
		check(e && strlen(e) == n && memcmp(e, p, n) == 0);
		free(e);
		free(out);
	}
	/* And any bytes encode to something that decodes back to them. */
	char *e = b64_encode(p, n);
	check(e != NULL);
	check(b64_decode(e, strlen(e), &out, &outlen) == 0 && outlen == n && !memcmp(out, p, n));
	free(out);
	free(e);
}

static void fuzz_utf8(const uint8_t *p, size_t n)
{
	bool ok = utf8_valid(p, n);
	char *s = cstr(p, n);
	size_t len = strlen(s);
	bool ok_prefix = utf8_valid((const uint8_t *)s, len);
	if (ok)
		check(ok_prefix); /* a prefix cut at a NUL is still whole characters */
	utf8_sanitize(s);
	check(strlen(s) == len && utf8_valid((const uint8_t *)s, len));
	free(s);
}

static void fuzz_small(const uint8_t *p, size_t n)
{
	char *s = cstr(p, n);
	uint64_t secs;
	if (duration_parse(s, &secs) == 0)
		check(secs > 0 && secs <= DURATION_MAX_S);
	struct port_map pm;
	if (port_map_parse(s, &pm) == 0)
		check(pm.host_port && pm.guest_port && memchr(pm.host_addr, '\0', sizeof(pm.host_addr)));
	char k[64], v[64];
	if (label_filter_parse(s, k, sizeof(k), v, sizeof(v)) == 0)
		check(valid_label(k, v));
	(void)valid_sandbox_name(s);
	(void)valid_image_name(s);
	(void)valid_workdir(s);
	(void)valid_uuid(s);
	(void)valid_job_id(s);
	free(s);
}

static void fuzz_auth(const uint8_t *p, size_t n)
{
	static struct auth a;
	static int ready;
	if (!ready) {
		char err[128];
		if (auth_init(&a, NULL, "flint-fuzz-key", err, sizeof(err)) != 0)
			abort();
		ready = 1;
	}
	char *s = cstr(p, n);
	const char *msg = auth_check(&a, s);
	if (!msg)
		check(!strcmp(s, "Bearer flint-fuzz-key"));
	else
		check(!strcmp(msg, "Invalid authorization format. Use: Bearer <api_key>") ||
		      !strcmp(msg, "Invalid API key"));
	free(s);
}

static void fuzz_images(const uint8_t *p, size_t n)
{
	struct image_table t;
	char err[256];
	char buf[128];
	if (images_parse(&t, (const char *)p, n, "/base", err, sizeof(err)) == 0) {
		check(t.n > 0);
		for (size_t i = 0; i < t.n; i++) {
			check(images_resolve(&t, t.v[i].name) == &t.v[i]);
			for (size_t k = 0; k < t.v[i].naliases; k++)
				check(images_resolve(&t, t.v[i].aliases[k]) == &t.v[i]);
		}
		for (size_t cap = 0; cap < sizeof(buf); cap += 7) {
			memset(buf, 'Z', sizeof(buf));
			images_describe(&t, buf, cap);
			check(cap == 0 || strlen(buf) < cap);
		}
	} else {
		check(t.v == NULL && t.n == 0 && err[0]);
	}
	images_destroy(&t);
}

/*
 * Network settings: what --net-allow/--net-dns accept can never break flint-vmm's option list
 * (no ',' or '='), a port map formats to a string that parses back to itself, and the --net value
 * always fits or says -ENOSPC.
 */
static void fuzz_netspec(const uint8_t *p, size_t n)
{
	char *s = cstr(p, n);
	if (netspec_allow_valid(s) || netspec_dns_valid(s))
		check(!strchr(s, ',') && !strchr(s, '=') && strlen(s) <= 253);
	struct port_map pm, again;
	if (port_map_parse(s, &pm) == 0) {
		char f[NETSPEC_PORT_STR];
		netspec_port_normalize(&pm);
		netspec_port_format(&pm, f);
		check(port_map_parse(f, &again) == 0);
		check(memcmp(&pm, &again, sizeof(pm)) == 0);
		check(netspec_ports_clash(&pm, &again));
		struct net_globals g = { .dns = netspec_dns_valid(s) ? s : NULL };
		if (netspec_allow_valid(s))
			g.allow[g.nallow++] = s;
		char out[96];
		int r = netspec_arg(VM_NET_NAT_HOST, &pm, 1, &g, out, n % sizeof(out) + 1);
		check(r == 0 || r == -ENOSPC);
		check(strlen(out) <= n % sizeof(out));
		json_t *info = netspec_info(VM_NET_NAT, &pm, 1, &g);
		check(info != NULL);
		json_decref(info);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (sel % 16) {
	case 0:
		fuzz_route(p, n);
		break;
	case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9:
		fuzz_reqparse((unsigned)(sel % 16) - 1, p, n);
		break;
	case 10:
		fuzz_b64(p, n);
		break;
	case 11:
		fuzz_utf8(p, n);
		break;
	case 12:
		fuzz_small(p, n);
		break;
	case 13:
		fuzz_auth(p, n);
		break;
	case 14:
		fuzz_netspec(p, n);
		break;
	default:
		fuzz_images(p, n);
		break;
	}
	return 0;
}
