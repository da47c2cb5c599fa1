/* Detached commands: the agent's background jobs, shown as agentkernel's DetachedCommand. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flintd.h"
#include "handlers.h"
#include "imagestore.h"
#include "reqparse.h"
#include "validate.h"

#define JOB_LOG_CHUNK (256u << 10)

/* {id, sandbox, command[], pid, status, exit_code, started_at} from the agent's view. */
static json_t *detached_json(struct sandbox *sb, const struct agent_job *j)
{
	json_t *meta = sandbox_job_meta(sb, j->id);
	json_t *cmd = json_incref(json_object_get(meta, "command"));
	if (!cmd) {
		/* Started by someone else (an attached client): the agent only knows the text. */
		cmd = json_array();
		json_array_append_new(cmd, json_bytes((const uint8_t *)j->cmd, strlen(j->cmd), NULL));
	}
	char started[32];
	json_int_t st = json_integer_value(json_object_get(meta, "started_at"));
	rfc3339_utc(st ? (int64_t)st : (int64_t)(j->started_ns / 1000000000u), started);
	json_decref(meta);
	const char *status;
	json_t *code;
	if (j->state == AGENT_JOB_RUNNING) {
		status = "running";
		code = json_null();
	} else if (j->state == AGENT_JOB_KILLED || j->signal) {
		status = "failed";
		code = json_integer(128 + (json_int_t)(j->signal ? j->signal : SIGKILL));
	} else {
		status = j->exit_code == 0 ? "completed" : "failed";
		code = json_integer(j->exit_code);
	}
	return json_pack("{s:s, s:s, s:o, s:I, s:s, s:o, s:s}", "id", j->id, "sandbox", sb->name,
			 "command", cmd, "pid", (json_int_t)j->pid, "status", status, "exit_code",
			 code, "started_at", started);
}

void h_exec_detach(struct req *rq)
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
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	const char *envbuf[IMAGE_EXEC_ENV_MAX];
	const char *const *env = er.env.n ? (const char *const *)er.env.v : NULL;
	const char *cwd = er.workdir, *user = NULL;
	if (c && !imagestore_apply(&vm->spec, &env, &cwd, &user, envbuf, IMAGE_EXEC_ENV_MAX)) {
		reply_error(rq, 400, "the image's Env and the request's env hold more than %d entries",
			    IMAGE_EXEC_ENV_MAX - 1);
		vm_agent_put(vm, c, true);
		c = NULL;
	}
	if (c) {
		struct agent_exec_req req = { .argv = (const char *const *)er.command.v,
					      .env = env,
					      .cwd = cwd,
					      .user = user,
					      .timeout_ms = er.timeout_s * 1000 };
		char id[AGENT_JOB_ID_SIZE];
		uint32_t pid;
		int r = agent_client_job_start(c, &req, id, &pid);
		if (r < 0) {
			reply_agent_error(rq, r, c, "Cannot start the command");
		} else {
			json_t *cmd = json_array();
			for (size_t i = 0; i < er.command.n; i++)
				json_array_append_new(cmd, json_string(er.command.v[i]));
			int64_t now = unix_now();
			sandbox_job_add(sb, id, cmd, now);
			sandbox_audit(sb, "command_detached",
				      json_pack("{s:O, s:s}", "command", cmd, "id", id));
			char started[32];
			rfc3339_utc(now, started);
			reply_data(rq, 200,
				   json_pack("{s:s, s:s, s:o, s:I, s:s, s:n, s:s}", "id", id,
					     "sandbox", sb->name, "command", cmd, "pid",
					     (json_int_t)pid, "status", "running", "exit_code",
					     "started_at", started));
		}
		vm_agent_put(vm, c, r == 0 || !c->dead);
	}
	if (sb)
		sandbox_put(sb);
	exec_req_free(&er);
}

struct list_ctx {
	struct sandbox *sb;
	json_t *a;
};

static int list_one(void *ctx, const struct agent_job *j)
{
	struct list_ctx *l = ctx;
	json_array_append_new(l->a, detached_json(l->sb, j));
	return 0;
}

void h_detached_list(struct req *rq)
{
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		struct list_ctx l = { sb, json_array() };
		int r = agent_client_job_list(c, list_one, &l);
		if (r < 0) {
			json_decref(l.a);
			reply_agent_error(rq, r, c, "Cannot list detached commands");
		} else {
			reply_data(rq, 200, l.a);
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}

/* The job or a response: 404 for an id that is malformed or unknown. */
static int job_lookup(struct req *rq, struct agent_client *c, struct agent_job *j)
{
	if (!valid_job_id(rq->m.id)) {
		reply_error(rq, 404, "Detached command not found");
		return -ENOENT;
	}
	int r = agent_client_job_status(c, rq->m.id, j);
	if (r == -ENOENT)
		reply_error(rq, 404, "Detached command not found");
	else if (r < 0)
		reply_agent_error(rq, r, c, "Cannot read the detached command");
	return r;
}

void h_detached_get(struct req *rq)
{
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		struct agent_job j;
		if (job_lookup(rq, c, &j) == 0)
			reply_data(rq, 200, detached_json(sb, &j));
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}

void h_detached_logs(struct req *rq)
{
	const char *which = req_query(rq, "stream");
	if (which && strcmp(which, "stdout") != 0 && strcmp(which, "stderr") != 0) {
		reply_error(rq, 400, "stream must be stdout or stderr");
		return;
	}
	bool err_stream = which && strcmp(which, "stderr") == 0;
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		struct agent_job j;
		if (job_lookup(rq, c, &j) == 0) {
			uint8_t *buf = NULL;
			size_t len = 0;
			uint64_t off = 0;
			int r = 0;
			struct agent_reply rep = { 0 };
			/* The agent keeps the last 1 MiB per stream; read what it has, in chunks. */
			while (len < flintd.max_output) {
				struct agent_job_logs lg;
				r = agent_client_job_logs(c, rq->m.id,
							  err_stream ? AGENT_STDERR : AGENT_STDOUT,
							  off, JOB_LOG_CHUNK, &rep, &lg);
				if (r < 0 || !lg.len)
					break;
				uint8_t *b = realloc(buf, len + lg.len);
				if (!b) {
					r = -ENOMEM;
					break;
				}
				buf = b;
				memcpy(buf + len, lg.data, lg.len);
				len += lg.len;
				if (lg.next <= off)
					break;
				off = lg.next;
			}
			agent_reply_free(&rep);
			if (r < 0)
				reply_agent_error(rq, r, c, "Cannot read the logs");
			else
				reply_data(rq, 200,
					   json_pack("{s:o}", err_stream ? "stderr" : "stdout",
						     json_bytes(buf, len, NULL)));
			free(buf);
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}

void h_detached_kill(struct req *rq)
{
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		struct agent_job j;
		if (job_lookup(rq, c, &j) == 0) {
			int r = j.state == AGENT_JOB_RUNNING ? agent_client_job_kill(c, rq->m.id, SIGKILL) :
							       0;
			if (r < 0 && r != -ESRCH) {
				reply_agent_error(rq, r, c, "Cannot kill the command");
			} else {
				sandbox_audit(sb, "command_killed", json_pack("{s:s}", "id", rq->m.id));
				reply_data(rq, 200, json_string("Command killed"));
			}
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}
