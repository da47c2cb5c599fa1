/* Request bodies of the agentkernel HTTP API parsed (jansson) and checked into flintd's C structs. */
#include "reqparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "validate.h"

#define NAME_RULE                                                                              \
	"names are 1-63 characters of letters, digits, '-' and '_', start and end with a letter " \
	"or digit, and contain none of '--', '__', '-_', '_-'"

/* Where a parse reports its failure. */
struct perr {
	int *status;
	char *err;
	size_t errlen;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(const struct perr *pe, int status, const char *fmt, ...)
{
	if (pe->status)
		*pe->status = status;
	if (pe->err && pe->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(pe->err, pe->errlen, fmt, ap);
		va_end(ap);
		/* Client text quoted in a message (or cut mid-character by the buffer) must not make
		 * the JSON error envelope unencodable. */
		utf8_sanitize(pe->err);
	}
	return -1;
}

static int fail_nomem(const struct perr *pe)
{
	return fail(pe, 500, "Out of memory");
}

/* The body as a JSON object; empty or all-whitespace is {}. */
static int load(const char *body, size_t len, json_t **out, const struct perr *pe)
{
	size_t i = 0;
	while (body && i < len && strchr(" \t\r\n", body[i]) && body[i])
		i++;
	if (i == len) {
		*out = json_object();
		return *out ? 0 : fail_nomem(pe);
	}
	if (!body)
		return fail(pe, 400, "Invalid JSON: no body");
	json_error_t e;
	/* Duplicate keys would let two parsers (a proxy's and ours) see different requests. */
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		if (json_error_code(&e) == json_error_out_of_memory)
			return fail_nomem(pe);
		return fail(pe, 400, "Invalid JSON: %s at line %d column %d", e.text, e.line, e.column);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(pe, 400, "Invalid JSON: the body must be a JSON object");
	}
	*out = root;
	return 0;
}

/* A field, with null counting as absent. */
static json_t *field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

/* A JSON string's bytes if it has no NUL (jansson can carry "\u0000" inside a length). */
static const char *str_of(json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

static int dup_string(json_t *v, const char *what, char **out, const struct perr *pe)
{
	if (!json_is_string(v))
		return fail(pe, 400, "Invalid JSON: %s must be a string", what);
	const char *s = str_of(v);
	if (!s)
		return fail(pe, 400, "Invalid JSON: %s must not contain NUL characters", what);
	if (!(*out = strdup(s)))
		return fail_nomem(pe);
	return 0;
}

static int get_string(json_t *obj, const char *key, char **out, const struct perr *pe)
{
	json_t *v = field(obj, key);
	*out = NULL;
	return v ? dup_string(v, key, out, pe) : 0;
}

static int get_bool(json_t *obj, const char *key, bool *out, const struct perr *pe)
{
	json_t *v = field(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(pe, 400, "Invalid JSON: %s must be a boolean", key);
	*out = json_is_true(v);
	return 0;
}

void strv_free(struct strv *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->v && i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* An array of at most max strings, each at most maxbytes, into a NULL-terminated vector. */
static int get_strv_from(json_t *v, const char *what, size_t max, size_t maxbytes, struct strv *out,
			 const struct perr *pe)
{
	if (!json_is_array(v))
		return fail(pe, 400, "Invalid JSON: %s must be an array of strings", what);
	size_t n = json_array_size(v);
	if (n > max)
		return fail(pe, 400, "%s must have at most %zu entries", what, max);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e))
			return fail(pe, 400, "Invalid JSON: %s must be an array of strings", what);
		if (!str_of(e))
			return fail(pe, 400, "Invalid JSON: %s must not contain NUL characters", what);
		if (json_string_length(e) > maxbytes)
			return fail(pe, 400, "%s[%zu] is longer than %zu bytes", what, i, maxbytes);
	}
	struct strv s = { .v = calloc(n + 1, sizeof(char *)), .n = 0 };
	if (!s.v)
		return fail_nomem(pe);
	for (size_t i = 0; i < n; i++, s.n++)
		if (!(s.v[i] = strdup(json_string_value(json_array_get(v, i))))) {
			strv_free(&s);
			return fail_nomem(pe);
		}
	*out = s;
	return 0;
}

static int get_strv(json_t *obj, const char *key, size_t max, size_t maxbytes, struct strv *out,
		    const struct perr *pe)
{
	json_t *v = field(obj, key);
	return v ? get_strv_from(v, key, max, maxbytes, out, pe) : 0;
}

/* A command: a non-empty array of strings whose first entry (the program) is non-empty. */
static int get_command(json_t *obj, const char *prefix, struct strv *out, const struct perr *pe)
{
	if (get_strv(obj, "command", REQ_ARGV_MAX, REQ_ARG_BYTES_MAX, out, pe) < 0)
		return -1;
	if (out->n == 0) {
		strv_free(out);
		return fail(pe, 400, "%scommand is required", prefix);
	}
	if (out->v[0][0] == '\0') {
		strv_free(out);
		return fail(pe, 400, "%scommand[0] must not be empty", prefix);
	}
	return 0;
}

/* An unsigned integer field in [min, max]; "what must be between min and max" otherwise. */
static int get_uint(json_t *obj, const char *key, unsigned min, unsigned max, unsigned *out,
		    const struct perr *pe)
{
	json_t *v = field(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(pe, 400, "Invalid JSON: %s must be an integer", key);
	json_int_t x = json_integer_value(v);
	if (x < (json_int_t)min || x > (json_int_t)max)
		return fail(pe, 400, "%s must be between %u and %u", key, min, max);
	*out = (unsigned)x;
	return 0;
}

/* flint's "timeout": integer seconds or a duration string; 0 (or absent) means none. */
static int get_timeout(json_t *obj, uint64_t *out, const struct perr *pe)
{
	json_t *v = field(obj, "timeout");
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < 0 || (uint64_t)x > DURATION_MAX_S)
			return fail(pe, 400, "timeout must be between 0 and %llu seconds",
				    (unsigned long long)DURATION_MAX_S);
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = str_of(v);
		if (!s || duration_parse(s, out) < 0)
			return fail(pe, 400, "timeout must be seconds or a duration like 30s, 5m or 1h (at most 30 days)");
		return 0;
	}
	return fail(pe, 400, "Invalid JSON: timeout must be an integer or a string");
}

static int get_image(json_t *obj, char **out, const struct perr *pe)
{
	if (get_string(obj, "image", out, pe) < 0)
		return -1;
	if (*out && !valid_image_name(*out)) {
		free(*out);
		*out = NULL;
		return fail(pe, 400, "Invalid image name: images are 1-256 characters of letters, digits and ._/:@-");
	}
	return 0;
}

/* An optional name (sandbox or snapshot) that must pass valid_sandbox_name. */
static int get_name(json_t *obj, const char *key, const char *kind, char **out,
		    const struct perr *pe)
{
	if (get_string(obj, key, out, pe) < 0)
		return -1;
	if (*out && !valid_sandbox_name(*out)) {
		free(*out);
		*out = NULL;
		return fail(pe, 400, "Invalid %s name: " NAME_RULE, kind);
	}
	return 0;
}

static void perr_init(struct perr *pe, int *status, char *err, size_t errlen)
{
	pe->status = status;
	pe->err = err;
	pe->errlen = errlen;
	if (status)
		*status = 0;
	if (err && errlen)
		err[0] = '\0';
}

/* ---- /run ---- */

void run_req_free(struct run_req *r)
{
	if (!r)
		return;
	strv_free(&r->command);
	free(r->image);
	free(r->profile);
	r->image = r->profile = NULL;
}

int reqparse_run(const char *body, size_t len, struct run_req *r, int *status, char *err,
		 size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	r->fast = true;
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	if (get_command(root, "", &r->command, &pe) < 0 || get_image(root, &r->image, &pe) < 0 ||
	    get_string(root, "profile", &r->profile, &pe) < 0 ||
	    get_bool(root, "fast", &r->fast, &pe) < 0 || get_timeout(root, &r->timeout_s, &pe) < 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		run_req_free(r);
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

/* ---- POST /sandboxes ---- */

void create_req_free(struct create_req *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->image);
	free(r->profile);
	r->name = r->image = r->profile = NULL;
	strv_free(&r->label_keys);
	strv_free(&r->label_vals);
	strv_free(&r->ports);
}

/* A field agentkernel has and flint does not: present and non-empty means the caller must refuse. */
static bool present_nonempty(json_t *v)
{
	if (!v)
		return false;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_object(v))
		return json_object_size(v) > 0;
	return !json_is_false(v);
}

static int get_labels(json_t *obj, struct create_req *r, const struct perr *pe)
{
	json_t *v = field(obj, "labels");
	if (!v)
		return 0;
	if (!json_is_object(v))
		return fail(pe, 400, "Invalid JSON: labels must be an object of strings");
	size_t n = json_object_size(v);
	if (n > REQ_LABELS_MAX)
		return fail(pe, 400, "labels must have at most %d entries", REQ_LABELS_MAX);
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		if (!json_is_string(val))
			return fail(pe, 400, "Invalid JSON: labels must be an object of strings");
		const char *s = str_of(val);
		if (!s || !valid_label(k, s))
			return fail(pe, 400,
				    "Invalid label '%.63s': keys are 1-63 characters of letters, digits "
				    "and ._/-, values at most 63 printable ASCII characters",
				    k);
	}
	r->label_keys.v = calloc(n + 1, sizeof(char *));
	r->label_vals.v = calloc(n + 1, sizeof(char *));
	if (!r->label_keys.v || !r->label_vals.v)
		return fail_nomem(pe);
	json_object_foreach(v, k, val) {
		size_t i = r->label_keys.n;
		if (!(r->label_keys.v[i] = strdup(k)))
			return fail_nomem(pe);
		r->label_keys.n++;
		if (!(r->label_vals.v[i] = strdup(json_string_value(val))))
			return fail_nomem(pe);
		r->label_vals.n++;
	}
	return 0;
}

int reqparse_create(const char *body, size_t len, struct create_req *r, int *status, char *err,
		    size_t errlen)
{
	static const char *const unsupported[] = { "source_url", "source_ref", "volumes", "secrets",
						   "secret_files" };
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	if (!field(root, "name")) {
		fail(&pe, 400, "name is required");
		goto out;
	}
	if (get_name(root, "name", "sandbox", &r->name, &pe) < 0 || get_image(root, &r->image, &pe) < 0 ||
	    get_uint(root, "vcpus", REQ_VCPUS_MIN, REQ_VCPUS_MAX, &r->vcpus, &pe) < 0 ||
	    get_uint(root, "memory_mb", REQ_MEMORY_MB_MIN, REQ_MEMORY_MB_MAX, &r->memory_mb, &pe) < 0 ||
	    get_string(root, "profile", &r->profile, &pe) < 0 || get_labels(root, r, &pe) < 0 ||
	    get_strv(root, "ports", REQ_PORTS_MAX, 64, &r->ports, &pe) < 0)
		goto out;
	for (size_t i = 0; i < r->ports.n; i++) {
		if (port_map_parse(r->ports.v[i], &r->port_maps[i]) < 0) {
			fail(&pe, 400,
			     "Invalid port mapping '%.64s': use HOST_PORT:GUEST_PORT or "
			     "IPV4:HOST_PORT:GUEST_PORT (tcp, ports 1-65535)",
			     r->ports.v[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (present_nonempty(field(root, unsupported[i]))) {
			r->has_unsupported = true;
			snprintf(r->unsupported, sizeof(r->unsupported), "%s", unsupported[i]);
			break;
		}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		create_req_free(r);
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

/* ---- exec ---- */

void exec_req_free(struct exec_req *r)
{
	if (!r)
		return;
	strv_free(&r->command);
	strv_free(&r->env);
	free(r->workdir);
	r->workdir = NULL;
}

int reqparse_exec(const char *body, size_t len, struct exec_req *r, int *status, char *err,
		  size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	if (get_command(root, "", &r->command, &pe) < 0 ||
	    get_strv(root, "env", REQ_ENV_MAX, REQ_ARG_BYTES_MAX, &r->env, &pe) < 0 ||
	    get_string(root, "workdir", &r->workdir, &pe) < 0 || get_bool(root, "sudo", &r->sudo, &pe) < 0 ||
	    get_timeout(root, &r->timeout_s, &pe) < 0)
		goto out;
	for (size_t i = 0; i < r->env.n; i++) {
		const char *eq = strchr(r->env.v[i], '=');
		if (!eq || eq == r->env.v[i]) {
			fail(&pe, 400, "env entries must be KEY=VALUE with a non-empty KEY: '%.64s'",
			     r->env.v[i]);
			goto out;
		}
	}
	if (r->workdir && !valid_workdir(r->workdir)) {
		fail(&pe, 400, "workdir must be an absolute path without '..'");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		exec_req_free(r);
		memset(r, 0, sizeof(*r));
	}
	return rc;
}

/* ---- PUT files ---- */

void file_write_req_free(struct file_write_req *r)
{
	if (!r)
		return;
	free(r->data);
	r->data = NULL;
	r->len = 0;
}

int reqparse_file_write(const char *body, size_t len, struct file_write_req *r, int *status,
			char *err, size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	json_t *content = field(root, "content");
	json_t *enc = field(root, "encoding");
	bool b64 = false;
	if (enc) {
		if (!json_is_string(enc)) {
			fail(&pe, 400, "Invalid JSON: encoding must be a string");
			goto out;
		}
		const char *e = json_string_value(enc);
		if (str_of(enc) && !strcmp(e, "base64")) {
			b64 = true;
		} else if (!str_of(enc) || strcmp(e, "utf8") != 0) {
			fail(&pe, 400, "encoding must be \"utf8\" or \"base64\"");
			goto out;
		}
	}
	if (!content) {
		fail(&pe, 400, "content is required");
		goto out;
	}
	if (!json_is_string(content)) {
		fail(&pe, 400, "Invalid JSON: content must be a string");
		goto out;
	}
	const char *s = json_string_value(content);
	size_t n = json_string_length(content);
	if (b64) {
		int e = b64_decode(s, n, &r->data, &r->len);
		if (e == -ENOMEM) {
			fail_nomem(&pe);
			goto out;
		}
		if (e < 0) {
			fail(&pe, 400, "Invalid base64 content");
			goto out;
		}
	} else {
		/* utf8 content is the string's bytes; a NUL in it is a NUL in the file, which is fine. */
		if (!(r->data = malloc(n ? n : 1))) {
			fail_nomem(&pe);
			goto out;
		}
		memcpy(r->data, s, n);
		r->len = n;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		file_write_req_free(r);
	return rc;
}

/* ---- POST files (batch) ---- */

void files_batch_req_free(struct files_batch_req *r)
{
	if (!r)
		return;
	strv_free(&r->paths);
	strv_free(&r->contents);
}

int reqparse_files_batch(const char *body, size_t len, struct files_batch_req *r, int *status,
			 char *err, size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	json_t *files = field(root, "files");
	if (files && !json_is_object(files)) {
		fail(&pe, 400, "Invalid JSON: files must be an object of strings");
		goto out;
	}
	size_t n = files ? json_object_size(files) : 0;
	if (n == 0) {
		fail(&pe, 400, "files must not be empty");
		goto out;
	}
	if (n > REQ_FILES_MAX) {
		fail(&pe, 400, "files must have at most %d entries", REQ_FILES_MAX);
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(files, k, v) {
		if (!json_is_string(v)) {
			fail(&pe, 400, "Invalid JSON: files must be an object of strings");
			goto out;
		}
		if (!str_of(v)) {
			fail(&pe, 400, "Invalid JSON: files must not contain NUL characters");
			goto out;
		}
		if (!valid_workdir(k)) {
			fail(&pe, 400, "file paths must be absolute without '..': '%.128s'", k);
			goto out;
		}
	}
	r->paths.v = calloc(n + 1, sizeof(char *));
	r->contents.v = calloc(n + 1, sizeof(char *));
	if (!r->paths.v || !r->contents.v) {
		fail_nomem(&pe);
		goto out;
	}
	json_object_foreach(files, k, v) {
		size_t i = r->paths.n;
		if (!(r->paths.v[i] = strdup(k))) {
			fail_nomem(&pe);
			goto out;
		}
		r->paths.n++;
		if (!(r->contents.v[i] = strdup(json_string_value(v)))) {
			fail_nomem(&pe);
			goto out;
		}
		r->contents.n++;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		files_batch_req_free(r);
	return rc;
}

/* ---- /batch/run ---- */

void batch_run_req_free(struct batch_run_req *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->commands && i < r->n; i++)
		strv_free(&r->commands[i]);
	free(r->commands);
	r->commands = NULL;
	r->n = 0;
}

int reqparse_batch_run(const char *body, size_t len, struct batch_run_req *r, int *status, char *err,
		       size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	json_t *cmds = field(root, "commands");
	if (cmds && !json_is_array(cmds)) {
		fail(&pe, 400, "Invalid JSON: commands must be an array of objects");
		goto out;
	}
	size_t n = cmds ? json_array_size(cmds) : 0;
	if (n == 0) {
		fail(&pe, 400, "commands must not be empty");
		goto out;
	}
	if (n > REQ_BATCH_MAX) {
		fail(&pe, 400, "commands must have at most %d entries", REQ_BATCH_MAX);
		goto out;
	}
	if (!(r->commands = calloc(n, sizeof(*r->commands)))) {
		fail_nomem(&pe);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(cmds, i);
		char prefix[32];
		if (!json_is_object(c)) {
			fail(&pe, 400, "Invalid JSON: commands must be an array of objects");
			goto out;
		}
		snprintf(prefix, sizeof(prefix), "commands[%zu]: ", i);
		r->n = i + 1; /* so a failure below frees what earlier entries hold */
		if (get_command(c, prefix, &r->commands[i], &pe) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		batch_run_req_free(r);
	return rc;
}

/* ---- extend ---- */

void extend_req_free(struct extend_req *r)
{
	(void)r; /* nothing owned; here so every request has the same shape */
}

int reqparse_extend(const char *body, size_t len, struct extend_req *r, int *status, char *err,
		    size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	json_t *by = field(root, "by");
	if (!by) {
		fail(&pe, 400, "by is required");
		goto out;
	}
	if (!json_is_string(by)) {
		fail(&pe, 400, "Invalid JSON: by must be a string");
		goto out;
	}
	if (!str_of(by) || duration_parse(json_string_value(by), &r->by_s) < 0) {
		fail(&pe, 400, "by must be a duration like 30m, 2h or 1d (more than 0, at most 30 days)");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- snapshots ---- */

void snapshot_req_free(struct snapshot_req *r)
{
	if (!r)
		return;
	free(r->sandbox);
	free(r->name);
	r->sandbox = r->name = NULL;
}

int reqparse_snapshot(const char *body, size_t len, struct snapshot_req *r, int *status, char *err,
		      size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = -1;
	if (!field(root, "sandbox")) {
		fail(&pe, 400, "sandbox is required");
		goto out;
	}
	if (get_name(root, "sandbox", "sandbox", &r->sandbox, &pe) < 0 ||
	    get_name(root, "name", "snapshot", &r->name, &pe) < 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		snapshot_req_free(r);
	return rc;
}

void restore_req_free(struct restore_req *r)
{
	if (!r)
		return;
	free(r->as_name);
	r->as_name = NULL;
}

int reqparse_restore(const char *body, size_t len, struct restore_req *r, int *status, char *err,
		     size_t errlen)
{
	struct perr pe;
	json_t *root;
	perr_init(&pe, status, err, errlen);
	memset(r, 0, sizeof(*r));
	if (load(body, len, &root, &pe) < 0)
		return -1;
	int rc = get_name(root, "as_name", "sandbox", &r->as_name, &pe);
	json_decref(root);
	return rc;
}
