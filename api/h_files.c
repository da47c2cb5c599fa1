/* Files in a sandbox: read, write (single and batch, utf8 or base64), delete. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "flintd.h"
#include "handlers.h"
#include "reqparse.h"

#define FILE_MODE 0644

void h_file_read(struct req *rq)
{
	const char *force = req_query(rq, "encoding");
	if (force && strcmp(force, "utf8") != 0 && strcmp(force, "base64") != 0) {
		reply_error(rq, 400, "encoding must be utf8 or base64");
		return;
	}
	if (!rq->m.path[0]) {
		reply_error(rq, 400, "Invalid file path");
		return;
	}
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		uint8_t *data = NULL;
		size_t len = 0;
		int r = agent_client_file_read_mem(c, rq->m.path, flintd.max_output, &data, &len);
		if (r < 0) {
			char what[PATH_MAX + 32];
			snprintf(what, sizeof(what), "Cannot read %s", rq->m.path);
			/* The contract: any read failure is a 404. */
			if (r == -EFBIG || c->dead)
				reply_agent_error(rq, r, c, what);
			else
				reply_error(rq, 404, "%s: %s", what,
					    agent_client_last_error(c)[0] ? agent_client_last_error(c) :
									    strerror(-r));
		} else {
			bool text = utf8_valid(data, len) && !(force && strcmp(force, "base64") == 0);
			json_t *content;
			if (text) {
				content = len ? json_stringn((const char *)data, len) : json_string("");
			} else {
				char *b = b64_encode(data, len);
				content = b ? json_string(b) : NULL;
				free(b);
			}
			if (!content)
				reply_error(rq, 500, "out of memory");
			else
				reply_data(rq, 200,
					   json_pack("{s:o, s:s, s:I}", "content", content,
						     "encoding", text ? "utf8" : "base64", "size",
						     (json_int_t)len));
		}
		free(data);
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}

/* mkdir -p of path's parent, then the atomic write. */
static int write_one(struct agent_client *c, const char *path, const uint8_t *data, size_t len)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *parent = dirname(dir);
	if (strcmp(parent, "/") != 0) {
		int r = agent_client_file_mkdir(c, parent, 0755);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return agent_client_file_write(c, path, data, len, FILE_MODE);
}

void h_file_write(struct req *rq)
{
	struct file_write_req fw = { 0 };
	char err[1024];
	int status = 400;
	if (!rq->m.path[0]) {
		reply_error(rq, 400, "Invalid file path");
		return;
	}
	if (reqparse_file_write(rq->body, rq->len, &fw, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		int r = write_one(c, rq->m.path, fw.data, fw.len);
		if (r < 0) {
			char what[PATH_MAX + 32];
			snprintf(what, sizeof(what), "Cannot write %s", rq->m.path);
			reply_agent_error(rq, r, c, what);
		} else {
			sandbox_audit(sb, "file_written",
				      json_pack("{s:s, s:I}", "path", rq->m.path, "size",
						(json_int_t)fw.len));
			char msg[PATH_MAX + 64];
			snprintf(msg, sizeof(msg), "Wrote %zu bytes to %s", fw.len, rq->m.path);
			reply_data(rq, 200, json_string(msg));
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
	file_write_req_free(&fw);
}

void h_file_delete(struct req *rq)
{
	if (!rq->m.path[0] || strcmp(rq->m.path, "/") == 0) {
		reply_error(rq, 400, "Invalid file path");
		return;
	}
	bool recursive = req_query(rq, "recursive") &&
			 strcmp(req_query(rq, "recursive"), "true") == 0;
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		int r = agent_client_file_remove(c, rq->m.path, recursive);
		if (r < 0) {
			char what[PATH_MAX + 32];
			snprintf(what, sizeof(what), "Cannot delete %s", rq->m.path);
			reply_agent_error(rq, r, c, what);
		} else {
			sandbox_audit(sb, "file_deleted", json_pack("{s:s}", "path", rq->m.path));
			char msg[PATH_MAX + 16];
			snprintf(msg, sizeof(msg), "Deleted %s", rq->m.path);
			reply_data(rq, 200, json_string(msg));
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
}

void h_files_batch(struct req *rq)
{
	struct files_batch_req fb = { 0 };
	char err[1024];
	int status = 400;
	if (reqparse_files_batch(rq->body, rq->len, &fb, &status, err, sizeof(err)) < 0) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	struct agent_client *c = sb ? agent_for(rq, vm) : NULL;
	if (c) {
		int r = 0;
		size_t i;
		for (i = 0; i < fb.paths.n && r == 0; i++)
			r = write_one(c, fb.paths.v[i], (const uint8_t *)fb.contents.v[i],
				      strlen(fb.contents.v[i]));
		if (r < 0) {
			char what[PATH_MAX + 64];
			snprintf(what, sizeof(what), "Cannot write %s (%zu written before it)",
				 fb.paths.v[i - 1], i - 1);
			reply_agent_error(rq, r, c, what);
		} else {
			json_t *paths = json_array();
			for (i = 0; i < fb.paths.n; i++)
				json_array_append_new(paths, json_string(fb.paths.v[i]));
			sandbox_audit(sb, "file_written", json_pack("{s:O}", "paths", paths));
			char msg[64];
			snprintf(msg, sizeof(msg), "Wrote %zu file(s)", fb.paths.n);
			reply_data(rq, 200,
				   json_pack("{s:I, s:o, s:s}", "written", (json_int_t)fb.paths.n,
					     "paths", paths, "message", msg));
		}
		vm_agent_put(vm, c, !c->dead);
	}
	if (sb)
		sandbox_put(sb);
	files_batch_req_free(&fb);
}
