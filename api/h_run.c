/* Commands: exec in a sandbox, one-shot /run (plain, streamed, batched), and their outcomes. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "flintd.h"
#include "handlers.h"
#include "imagestore.h"
#include "log.h"
#include "metrics.h"
#include "reqparse.h"
#include "validate.h"

#define BATCH_PARALLEL 8

static void cmd_run_on(struct vm *vm, const struct cmd_params *p, struct cmd_result *res);

/* ---- running a command -------------------------------------------------------------------- */

struct collect {
	struct cmd_result *res;
	const struct cmd_params *p;
	size_t out_cap, so_cap, se_cap;
};

/* Keep at most flintd.max_output bytes; the rest is counted as truncated, not an error. */
static void keep(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n,
		 bool *truncated)
{
	size_t room = flintd.max_output - *len;
	if (n > room) {
		n = room;
		*truncated = true;
	}
	if (!n)
		return;
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		if (c > flintd.max_output)
			c = flintd.max_output;
		uint8_t *b = realloc(*buf, c);
		if (!b) {
			*truncated = true;
			return;
		}
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
}

static int on_output(void *ctx, enum agent_stream stream, const uint8_t *data, size_t len)
{
	struct collect *c = ctx;
	struct cmd_result *r = c->res;
	keep(&r->out, &r->out_len, &c->out_cap, data, len, &r->truncated);
	if (stream == AGENT_STDERR)
		keep(&r->se, &r->se_len, &c->se_cap, data, len, &r->truncated);
	else
		keep(&r->so, &r->so_len, &c->so_cap, data, len, &r->truncated);
	if (c->p->on_output)
		return c->p->on_output(c->p->ctx, stream, data, len);
	return 0;
}

/* Kills the command if the HTTP client hangs up: nobody would read its result. */
struct hangup_watch {
	int client_fd, stop_fd;
	pthread_mutex_t lock;
	struct agent_client *client;
	bool fired;
};

static void *hangup_thread(void *arg)
{
	struct hangup_watch *w = arg;
	struct pollfd p[2] = { { .fd = w->client_fd, .events = POLLRDHUP },
			       { .fd = w->stop_fd, .events = POLLIN } };
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (!(p[1].revents & POLLIN) && (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		pthread_mutex_lock(&w->lock);
		w->fired = true;
		if (w->client)
			agent_client_exec_signal(w->client, SIGKILL);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

void cmd_run(struct vm *vm, const struct cmd_params *p_in, struct cmd_result *res)
{
	struct cmd_params pw = *p_in;
	const struct cmd_params *p = &pw;
	struct hangup_watch w = { .client_fd = p_in->client_fd, .stop_fd = -1 };
	pthread_t wt;
	bool watching = false;
	if (!p_in->client_slot && p_in->client_fd >= 0) {
		w.stop_fd = eventfd(0, EFD_CLOEXEC);
		pthread_mutex_init(&w.lock, NULL);
		if (w.stop_fd >= 0 && pthread_create(&wt, NULL, hangup_thread, &w) == 0) {
			watching = true;
			pw.client_slot = &w.client;
			pw.slot_lock = &w.lock;
			pw.cancelled = &w.fired;
		}
	}
	cmd_run_on(vm, p, res);
	if (watching) {
		uint64_t one = 1;
		if (write(w.stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(wt, NULL);
		if (w.fired)
			log_info("exec", "the client went away: its command was killed");
	}
	if (w.stop_fd >= 0) {
		close(w.stop_fd);
		pthread_mutex_destroy(&w.lock);
	}
}

static void cmd_run_on(struct vm *vm, const struct cmd_params *p, struct cmd_result *res)
{
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	struct agent_client *c;
	int r = vm_agent_get(vm, &c, AGENT_REQ_TIMEOUT_MS);
	if (r < 0) {
		res->rc = r;
		res->vm_failed = true;
		snprintf(res->error, sizeof(res->error), "cannot reach the agent: %s",
			 vm_check_alive(vm) ? strerror(-r) : vm->reason);
		return;
	}
	uint64_t timeout_s = p->timeout_s ? p->timeout_s : flintd.exec_timeout_s;
	/* The image's Env, WorkingDir and User, under what the request says. */
	const char *envbuf[IMAGE_EXEC_ENV_MAX];
	const char *const *env = p->env;
	const char *cwd = p->cwd, *user = p->user;
	if (!imagestore_apply(&vm->spec, &env, &cwd, &user, envbuf, IMAGE_EXEC_ENV_MAX)) {
		vm_agent_put(vm, c, true);
		res->rc = -E2BIG;
		snprintf(res->error, sizeof(res->error),
			 "the image's Env and the request's env hold more than %d entries",
			 IMAGE_EXEC_ENV_MAX - 1);
		return;
	}
	struct agent_exec_req req = { .argv = p->argv,
				      .env = env,
				      .cwd = cwd,
				      .user = user,
				      .timeout_ms = timeout_s * 1000 };
	struct collect col = { .res = res, .p = p };
	struct agent_exec_io io = { .stdout_fd = -1,
				    .stderr_fd = -1,
				    .stdin_fd = -1,
				    .output = on_output,
				    .ctx = &col };
	struct agent_exec_result ar = { 0 };
	if (p->client_slot) {
		pthread_mutex_lock(p->slot_lock);
		*p->client_slot = c;
		pthread_mutex_unlock(p->slot_lock);
	}
	r = agent_client_exec(c, &req, &io, &ar);
	bool cancelled = false;
	if (p->client_slot) {
		pthread_mutex_lock(p->slot_lock);
		*p->client_slot = NULL;
		cancelled = p->cancelled && *p->cancelled;
		pthread_mutex_unlock(p->slot_lock);
	}
	res->rc = r;
	res->started = ar.pid != 0;
	res->reason = ar.reason;
	res->signal = ar.signal;
	if (!res->started) {
		const char *msg = agent_client_last_error(c);
		if (c->dead || !vm_check_alive(vm)) {
			res->vm_failed = true;
			snprintf(res->error, sizeof(res->error), "%s",
				 vm_check_alive(vm) ? "the connection to the agent broke" :
						      vm->reason);
		} else {
			snprintf(res->error, sizeof(res->error), "%s: %s", p->argv[0],
				 msg[0] ? msg : strerror(-r));
			res->exit_code = r == -ENOENT ? 127 : r == -EACCES ? 126 : -1;
		}
	} else if (ar.reason == AGENT_TIMEOUT) {
		res->exit_code = 124;
	} else if (ar.signal) {
		res->exit_code = 128 + (int32_t)ar.signal;
	} else if (r < 0 && (c->dead || !vm_check_alive(vm))) {
		res->vm_failed = true;
		snprintf(res->error, sizeof(res->error), "%s",
			 vm_check_alive(vm) ? "the connection to the agent broke" : vm->reason);
	} else {
		res->exit_code = ar.exit_code;
	}
	/* A canceller may have left a signal pending on it: such a connection is not reused. */
	vm_agent_put(vm, c, r == 0 && !cancelled);
}

void cmd_result_free(struct cmd_result *res)
{
	free(res->out);
	free(res->so);
	free(res->se);
	res->out = res->so = res->se = NULL;
}

static const char *reason_name(const struct cmd_result *r)
{
	if (r->vm_failed)
		return "vm_failed";
	if (!r->started)
		return "not_started";
	switch (r->reason) {
	case AGENT_TIMEOUT: return "timeout";
	case AGENT_OOM: return "oom";
	case AGENT_SIGNALED: return "signal";
	default: return "exited";
	}
}

static json_t *outputs(const struct cmd_result *r)
{
	bool lossy = false;
	json_t *o = json_object();
	json_object_set_new(o, "output", json_bytes(r->out, r->out_len, &lossy));
	json_object_set_new(o, "stdout", json_bytes(r->so, r->so_len, &lossy));
	json_object_set_new(o, "stderr", json_bytes(r->se, r->se_len, &lossy));
	if (lossy) {
		/* The exact bytes too, when the text had to replace invalid UTF-8. */
		char *b = b64_encode(r->out, r->out_len);
		if (b)
			json_object_set_new(o, "output_base64", json_string(b));
		free(b);
	}
	if (r->truncated)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

void reply_cmd(struct req *rq, const struct cmd_result *r)
{
	json_t *o = outputs(r);
	json_object_set_new(o, "reason", json_string(reason_name(r)));
	if (r->vm_failed || (!r->started && r->exit_code < 0)) {
		metrics_count(r->vm_failed ? METRIC_ERR_VM_FAILED : METRIC_ERR_AGENT);
		reply_error_extra(rq, 500, o, "%s%s",
				  r->vm_failed ? "The sandbox's VM failed: " : "", r->error);
		return;
	}
	json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	if (r->exit_code == 0) {
		reply_data(rq, 200, o);
		return;
	}
	const char *text = json_string_value(json_object_get(o, "output"));
	if (!r->started) {
		json_object_set_new(o, "output", json_string(r->error));
		text = r->error;
	}
	if (r->reason == AGENT_TIMEOUT) {
		metrics_count(METRIC_ERR_TIMEOUT);
		reply_error_extra(rq, 409, o, "Command timed out (exit code 124): %s", text);
	} else if (r->reason == AGENT_OOM) {
		reply_error_extra(rq, 409, o, "Command was killed by the out-of-memory killer "
					      "(exit code %d): %s", r->exit_code, text);
	} else {
		reply_error_extra(rq, 409, o, "Command exited with code %d: %s", r->exit_code, text);
	}
}

/* ---- exec in a sandbox -------------------------------------------------------------------- */

void h_exec(struct req *rq)
{
	struct exec_req er = { 0 };
	char err[1024];
	int status = 400;
	if (reqparse_exec(rq->body, rq->len, &er, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	if (sb) {
		struct cmd_params p = { .argv = (const char *const *)er.command.v,
					.env = er.env.n ? (const char *const *)er.env.v : NULL,
					.cwd = er.workdir,
					.timeout_s = er.timeout_s,
					.client_fd = req_socket(rq) };
		struct cmd_result res;
		cmd_run(vm, &p, &res);
		json_t *cmd = json_array();
		for (size_t i = 0; i < er.command.n; i++)
			json_array_append_new(cmd, json_string(er.command.v[i]));
		sandbox_audit(sb, "command_executed",
			      json_pack("{s:o, s:i, s:s}", "command", cmd, "exit_code",
					res.exit_code, "reason", reason_name(&res)));
		reply_cmd(rq, &res);
		cmd_result_free(&res);
		sandbox_put(sb);
	}
	exec_req_free(&er);
}

/* ---- one-shot runs ------------------------------------------------------------------------ */

/* A fresh VM for one command, destroyed afterwards: from the pool when fast, else booted. */
static struct vm *oneshot_vm(const struct run_req *rr, bool *pooled, int *status, char *err,
			     size_t errlen)
{
	struct vm_spec spec;
	*status = spec_for(rr->image, rr->profile, 0, 0, &spec, err, errlen);
	if (*status)
		return NULL;
	struct vm *vm = sandbox_boot_vm(&spec, rr->fast, pooled, err, errlen, status);
	if (vm)
		metrics_count(*pooled ? METRIC_RUNS_POOLED : METRIC_RUNS_UNPOOLED);
	return vm;
}

void h_run(struct req *rq)
{
	struct run_req rr = { 0 };
	char err[1024];
	int status = 400;
	if (reqparse_run(rq->body, rq->len, &rr, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	bool pooled;
	struct vm *vm = oneshot_vm(&rr, &pooled, &status, err, sizeof(err));
	if (!vm) {
		reply_error(rq, (unsigned)status, "%s", err);
	} else {
		struct cmd_params p = { .argv = (const char *const *)rr.command.v,
					.timeout_s = rr.timeout_s,
					.client_fd = req_socket(rq) };
		struct cmd_result res;
		cmd_run(vm, &p, &res);
		vm_discard(vm); /* torn down while the answer goes out */
		reply_cmd(rq, &res);
		cmd_result_free(&res);
	}
	run_req_free(&rr);
}

/* ---- /run/stream -------------------------------------------------------------------------- */

struct stream_ctx {
	struct run_req rr;
	struct sse *sse;
	pthread_mutex_t lock; /* client, cancelled */
	struct agent_client *client;
	bool cancelled;
	uint8_t carry[2][4]; /* an incomplete UTF-8 sequence at the end of a chunk, per stream */
	size_t ncarry[2];
};

static void stream_cancel(void *arg)
{
	struct stream_ctx *c = arg;
	pthread_mutex_lock(&c->lock);
	c->cancelled = true;
	if (c->client)
		agent_client_exec_signal(c->client, SIGKILL);
	pthread_mutex_unlock(&c->lock);
}

static char *now_rfc3339(char buf[32])
{
	rfc3339_utc((int64_t)time(NULL), buf);
	return buf;
}

/* How many trailing bytes start a UTF-8 sequence the chunk cuts short. */
static size_t utf8_tail(const uint8_t *p, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		uint8_t b = p[n - back];
		if ((b & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back */
		size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
		return need > back ? back : 0;
	}
	return 0;
}

static int stream_emit(struct stream_ctx *c, int si, const uint8_t *p, size_t n)
{
	json_t *d = json_pack("{s:o, s:s}", "data", json_bytes(p, n, NULL), "stream",
			      si ? "stderr" : "stdout");
	return sse_event(c->sse, "output", d) < 0 ? -1 : 0;
}

static int stream_output(void *ctx, int stream, const uint8_t *p, size_t n)
{
	struct stream_ctx *c = ctx;
	int si = stream == AGENT_STDERR;
	uint8_t *buf = malloc(n + 4);
	if (!buf)
		return -1;
	memcpy(buf, c->carry[si], c->ncarry[si]);
	memcpy(buf + c->ncarry[si], p, n);
	size_t len = n + c->ncarry[si];
	size_t tail = utf8_tail(buf, len);
	memcpy(c->carry[si], buf + len - tail, tail);
	c->ncarry[si] = tail;
	int r = len - tail ? stream_emit(c, si, buf, len - tail) : 0;
	free(buf);
	return r;
}

static void stream_produce(struct sse *s, void *arg)
{
	struct stream_ctx *c = arg;
	char ts[32], err[1024];
	c->sse = s;
	sse_on_cancel(s, stream_cancel, c);
	json_t *cmd = json_array();
	for (size_t i = 0; i < c->rr.command.n; i++)
		json_array_append_new(cmd, json_string(c->rr.command.v[i]));
	sse_event(s, "started",
		  json_pack("{s:o, s:b, s:s}", "command", cmd, "fast", c->rr.fast, "timestamp",
			    now_rfc3339(ts)));
	bool pooled = false;
	int status;
	sse_event(s, "progress", json_pack("{s:s}", "stage", "acquiring_vm"));
	struct vm *vm = oneshot_vm(&c->rr, &pooled, &status, err, sizeof(err));
	if (!vm) {
		sse_event(s, "error", json_pack("{s:s, s:i}", "message", err, "status", status));
		goto out;
	}
	sse_event(s, "progress", json_pack("{s:s, s:b}", "stage", "running", "pooled", pooled));
	struct cmd_params p = { .argv = (const char *const *)c->rr.command.v,
				.timeout_s = c->rr.timeout_s,
				.on_output = stream_output,
				.ctx = c,
				.client_fd = -1 };
	struct cmd_result res;
	pthread_mutex_lock(&c->lock);
	bool cancelled = c->cancelled;
	pthread_mutex_unlock(&c->lock);
	if (!cancelled) {
		/* The canceller reads c->client under c->lock; cmd_run sets it through the slot. */
		p.client_slot = &c->client;
		p.slot_lock = &c->lock;
		p.cancelled = &c->cancelled;
		cmd_run(vm, &p, &res);
	} else {
		memset(&res, 0, sizeof(res));
	}
	vm_discard(vm);
	for (int si = 0; si < 2; si++)
		if (c->ncarry[si])
			stream_emit(c, si, c->carry[si], c->ncarry[si]);
	if (cancelled || sse_cancelled(s)) {
		log_info("run", "stream client went away; its VM is destroyed");
	} else if (res.vm_failed || (!res.started && res.exit_code < 0)) {
		sse_event(s, "error", json_pack("{s:s}", "message", res.error));
	} else {
		json_t *d = json_pack("{s:i, s:b, s:s}", "exit_code", res.exit_code, "success",
				      res.exit_code == 0, "reason", reason_name(&res));
		if (!res.started)
			json_object_set_new(d, "error", json_string(res.error));
		sse_event(s, "done", d);
	}
	cmd_result_free(&res);
out:
	sse_on_cancel(s, NULL, NULL);
	run_req_free(&c->rr);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void h_run_stream(struct req *rq)
{
	struct stream_ctx *c = calloc(1, sizeof(*c));
	char err[1024];
	int status = 400;
	if (!c) {
		reply_error(rq, 500, "out of memory");
		return;
	}
	if (reqparse_run(rq->body, rq->len, &c->rr, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		free(c);
		return;
	}
	/* Bad image or profile is a 400 before the stream starts, not an event inside it. */
	struct vm_spec spec;
	status = spec_for(c->rr.image, c->rr.profile, 0, 0, &spec, err, sizeof(err));
	if (status) {
		reply_error(rq, (unsigned)status, "%s", err);
		run_req_free(&c->rr);
		free(c);
		return;
	}
	pthread_mutex_init(&c->lock, NULL);
	if (reply_sse(rq, stream_produce, c) < 0) {
		if (!rq->responded)
			reply_error(rq, 500, "cannot start the stream");
		run_req_free(&c->rr);
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
}

/* ---- /batch/run --------------------------------------------------------------------------- */

struct batch_item {
	struct run_req rr;
	json_t *result;
};

static void *batch_one(void *arg)
{
	struct batch_item *it = arg;
	char err[1024];
	int status;
	bool pooled;
	struct vm *vm = oneshot_vm(&it->rr, &pooled, &status, err, sizeof(err));
	if (!vm) {
		it->result = json_pack("{s:n, s:s}", "output", "error", err);
		return NULL;
	}
	struct cmd_params p = { .argv = (const char *const *)it->rr.command.v, .client_fd = -1 };
	struct cmd_result res;
	cmd_run(vm, &p, &res);
	vm_discard(vm);
	json_t *o = outputs(&res);
	json_object_set_new(o, "exit_code", json_integer(res.exit_code));
	if (res.exit_code == 0) {
		json_object_set_new(o, "error", json_null());
	} else {
		char msg[1024];
		if (res.vm_failed || !res.started)
			snprintf(msg, sizeof(msg), "%s", res.error);
		else
			snprintf(msg, sizeof(msg), "Command exited with code %d", res.exit_code);
		json_object_set_new(o, "error", json_string(msg));
		json_object_set_new(o, "output", json_null());
	}
	it->result = o;
	cmd_result_free(&res);
	return NULL;
}

void h_batch_run(struct req *rq)
{
	struct batch_run_req br = { 0 };
	char err[1024];
	int status = 400;
	if (reqparse_batch_run(rq->body, rq->len, &br, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct batch_item *items = calloc(br.n, sizeof(*items));
	pthread_t *th = calloc(br.n, sizeof(*th));
	if (!items || !th) {
		reply_error(rq, 500, "out of memory");
		goto out;
	}
	/* Each command gets its own fresh VM, BATCH_PARALLEL at a time; results keep their order. */
	for (size_t i = 0; i < br.n; i++) {
		items[i].rr.command = br.commands[i];
		items[i].rr.fast = true;
	}
	for (size_t start = 0; start < br.n; start += BATCH_PARALLEL) {
		size_t end = start + BATCH_PARALLEL < br.n ? start + BATCH_PARALLEL : br.n;
		for (size_t i = start; i < end; i++)
			if (pthread_create(&th[i], NULL, batch_one, &items[i]) != 0)
				batch_one(&items[i]), th[i] = 0;
		for (size_t i = start; i < end; i++)
			if (th[i])
				pthread_join(th[i], NULL);
	}
	json_t *results = json_array();
	for (size_t i = 0; i < br.n; i++)
		json_array_append_new(results, items[i].result ? items[i].result : json_null());
	reply_data(rq, 200, json_pack("{s:o}", "results", results));
out:
	free(items);
	free(th);
	batch_run_req_free(&br);
}
