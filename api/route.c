/* flintd's router: the agentkernel API's routes matched on method and decoded path, without allocation. */
#include "route.h"

#include <stdbool.h>
#include <string.h>

/* The first few segments are all that routing needs; /files/ takes the rest of the string. */
#define MAX_SEGS 7

struct seg {
	const char *p;
	size_t len;
};

static const char *const route_labels[ROUTE__COUNT] = {
	[ROUTE_NOT_FOUND] = "not_found",
	[ROUTE_HEALTH] = "health",
	[ROUTE_METRICS] = "metrics",
	[ROUTE_RUN] = "run",
	[ROUTE_RUN_STREAM] = "run_stream",
	[ROUTE_RUN_ATTACH] = "run_attach",
	[ROUTE_BATCH_RUN] = "batch_run",
	[ROUTE_SANDBOX_LIST] = "sandbox_list",
	[ROUTE_SANDBOX_CREATE] = "sandbox_create",
	[ROUTE_SANDBOX_GET] = "sandbox_get",
	[ROUTE_SANDBOX_BY_UUID] = "sandbox_by_uuid",
	[ROUTE_SANDBOX_DELETE] = "sandbox_delete",
	[ROUTE_EXEC] = "exec",
	[ROUTE_EXEC_DETACH] = "exec_detach",
	[ROUTE_DETACHED_LIST] = "detached_list",
	[ROUTE_DETACHED_GET] = "detached_get",
	[ROUTE_DETACHED_LOGS] = "detached_logs",
	[ROUTE_DETACHED_KILL] = "detached_kill",
	[ROUTE_FILE_READ] = "file_read",
	[ROUTE_FILE_WRITE] = "file_write",
	[ROUTE_FILE_DELETE] = "file_delete",
	[ROUTE_FILES_BATCH] = "files_batch",
	[ROUTE_SANDBOX_LOGS] = "sandbox_logs",
	[ROUTE_SANDBOX_EXTEND] = "sandbox_extend",
	[ROUTE_SANDBOX_ATTACH] = "sandbox_attach",
	[ROUTE_SNAPSHOT_LIST] = "snapshot_list",
	[ROUTE_SNAPSHOT_CREATE] = "snapshot_create",
	[ROUTE_SNAPSHOT_GET] = "snapshot_get",
	[ROUTE_SNAPSHOT_DELETE] = "snapshot_delete",
	[ROUTE_SNAPSHOT_RESTORE] = "snapshot_restore",
	[ROUTE_IMAGE_LIST] = "image_list",
};

const char *route_label(enum api_route r)
{
	if ((unsigned)r >= ROUTE__COUNT || !route_labels[r])
		return "not_found";
	return route_labels[r];
}

enum method { M_OTHER, M_GET, M_POST, M_PUT, M_DELETE };

static enum method method_of(const char *m)
{
	if (!strcmp(m, "GET"))
		return M_GET;
	if (!strcmp(m, "POST"))
		return M_POST;
	if (!strcmp(m, "PUT"))
		return M_PUT;
	if (!strcmp(m, "DELETE"))
		return M_DELETE;
	return M_OTHER;
}

/* The next non-empty segment at or after *p, up to end; false when there is none. */
static bool seg_next(const char **p, const char *end, struct seg *s)
{
	const char *q = *p;
	while (q < end && *q == '/')
		q++;
	if (q == end)
		return false;
	s->p = q;
	while (q < end && *q != '/')
		q++;
	s->len = (size_t)(q - s->p);
	*p = q;
	return true;
}

static bool seg_is(const struct seg *s, const char *lit)
{
	size_t n = strlen(lit);
	return s->len == n && !memcmp(s->p, lit, n);
}

/* Copy a segment into a buffer, or store "" when it does not fit (the validator then refuses it). */
static void seg_copy(char *dst, size_t cap, const struct seg *s)
{
	if (s->len >= cap) {
		dst[0] = '\0';
		return;
	}
	memcpy(dst, s->p, s->len);
	dst[s->len] = '\0';
}

/* "/" + every non-empty segment from p to end, joined by "/"; "" when longer than the buffer. */
static void files_path(char *dst, const char *p, const char *end)
{
	size_t o = 0;
	struct seg s;
	while (seg_next(&p, end, &s)) {
		if (o + 1 + s.len >= ROUTE_PATH_MAX) {
			dst[0] = '\0';
			return;
		}
		dst[o++] = '/';
		memcpy(dst + o, s.p, s.len);
		o += s.len;
	}
	dst[o] = '\0';
}

static enum api_route match_sandboxes(enum method me, const struct seg *sg, size_t n,
				      const char *rest, const char *end, struct route_match *m)
{
	if (n == 1)
		return me == M_GET ? ROUTE_SANDBOX_LIST : me == M_POST ? ROUTE_SANDBOX_CREATE : ROUTE_NOT_FOUND;
	/* GET /sandboxes/by-uuid/{uuid} wins over a sandbox named "by-uuid" (contract order). */
	if (n == 3 && me == M_GET && seg_is(&sg[1], "by-uuid")) {
		seg_copy(m->name, sizeof(m->name), &sg[2]);
		return ROUTE_SANDBOX_BY_UUID;
	}
	seg_copy(m->name, sizeof(m->name), &sg[1]);
	if (n == 2)
		return me == M_GET ? ROUTE_SANDBOX_GET : me == M_DELETE ? ROUTE_SANDBOX_DELETE : ROUTE_NOT_FOUND;
	if (seg_is(&sg[2], "files")) {
		if (n == 3)
			return me == M_POST ? ROUTE_FILES_BATCH : ROUTE_NOT_FOUND;
		enum api_route r = me == M_GET ? ROUTE_FILE_READ : me == M_PUT ? ROUTE_FILE_WRITE :
			me == M_DELETE ? ROUTE_FILE_DELETE : ROUTE_NOT_FOUND;
		if (r != ROUTE_NOT_FOUND)
			files_path(m->path, rest, end);
		return r;
	}
	if (n == 3) {
		if (seg_is(&sg[2], "exec"))
			return me == M_POST ? ROUTE_EXEC : ROUTE_NOT_FOUND;
		if (seg_is(&sg[2], "logs"))
			return me == M_GET ? ROUTE_SANDBOX_LOGS : ROUTE_NOT_FOUND;
		if (seg_is(&sg[2], "extend"))
			return me == M_POST ? ROUTE_SANDBOX_EXTEND : ROUTE_NOT_FOUND;
		if (seg_is(&sg[2], "attach"))
			return me == M_POST ? ROUTE_SANDBOX_ATTACH : ROUTE_NOT_FOUND;
		return ROUTE_NOT_FOUND;
	}
	if (!seg_is(&sg[2], "exec"))
		return ROUTE_NOT_FOUND;
	if (n == 4) {
		if (seg_is(&sg[3], "detach"))
			return me == M_POST ? ROUTE_EXEC_DETACH : ROUTE_NOT_FOUND;
		if (seg_is(&sg[3], "detached"))
			return me == M_GET ? ROUTE_DETACHED_LIST : ROUTE_NOT_FOUND;
		return ROUTE_NOT_FOUND;
	}
	if (!seg_is(&sg[3], "detached"))
		return ROUTE_NOT_FOUND;
	seg_copy(m->id, sizeof(m->id), &sg[4]);
	if (n == 5)
		return me == M_GET ? ROUTE_DETACHED_GET : me == M_DELETE ? ROUTE_DETACHED_KILL : ROUTE_NOT_FOUND;
	if (n == 6 && seg_is(&sg[5], "logs"))
		return me == M_GET ? ROUTE_DETACHED_LOGS : ROUTE_NOT_FOUND;
	return ROUTE_NOT_FOUND;
}

static enum api_route match(enum method me, const struct seg *sg, size_t n, const char *rest,
			    const char *end, struct route_match *m)
{
	if (n == 0 || me == M_OTHER)
		return ROUTE_NOT_FOUND;
	if (seg_is(&sg[0], "sandboxes"))
		return match_sandboxes(me, sg, n, rest, end, m);
	if (seg_is(&sg[0], "snapshots")) {
		if (n == 1)
			return me == M_GET ? ROUTE_SNAPSHOT_LIST : me == M_POST ? ROUTE_SNAPSHOT_CREATE : ROUTE_NOT_FOUND;
		seg_copy(m->name, sizeof(m->name), &sg[1]);
		if (n == 2)
			return me == M_GET ? ROUTE_SNAPSHOT_GET : me == M_DELETE ? ROUTE_SNAPSHOT_DELETE : ROUTE_NOT_FOUND;
		if (n == 3 && seg_is(&sg[2], "restore"))
			return me == M_POST ? ROUTE_SNAPSHOT_RESTORE : ROUTE_NOT_FOUND;
		return ROUTE_NOT_FOUND;
	}
	if (n == 1) {
		if (seg_is(&sg[0], "health"))
			return me == M_GET ? ROUTE_HEALTH : ROUTE_NOT_FOUND;
		if (seg_is(&sg[0], "metrics"))
			return me == M_GET ? ROUTE_METRICS : ROUTE_NOT_FOUND;
		if (seg_is(&sg[0], "run"))
			return me == M_POST ? ROUTE_RUN : ROUTE_NOT_FOUND;
		if (seg_is(&sg[0], "images"))
			return me == M_GET ? ROUTE_IMAGE_LIST : ROUTE_NOT_FOUND;
		return ROUTE_NOT_FOUND;
	}
	if (n == 2 && me == M_POST) {
		if (seg_is(&sg[0], "run") && seg_is(&sg[1], "stream"))
			return ROUTE_RUN_STREAM;
		if (seg_is(&sg[0], "run") && seg_is(&sg[1], "attach"))
			return ROUTE_RUN_ATTACH;
		if (seg_is(&sg[0], "batch") && seg_is(&sg[1], "run"))
			return ROUTE_BATCH_RUN;
	}
	return ROUTE_NOT_FOUND;
}

enum api_route route_parse(const char *method, const char *path, struct route_match *m)
{
	m->route = ROUTE_NOT_FOUND;
	m->name[0] = m->id[0] = m->path[0] = '\0';
	if (!method || !path)
		return ROUTE_NOT_FOUND;
	/* MHD hands over the path without its query and already decoded: a '?' here was %3F. */
	const char *end = path + strlen(path);
	struct seg sg[MAX_SEGS];
	size_t n = 0;
	const char *p = path, *rest = NULL; /* rest: just after segment 3, where a files path begins */
	struct seg s;
	while (seg_next(&p, end, &s)) {
		if (n == MAX_SEGS) {
			n++; /* more segments than any route but files has: only files may match */
			break;
		}
		sg[n++] = s;
		if (n == 3)
			rest = p;
	}
	/* Past MAX_SEGS only /sandboxes/{name}/files/... can match; match() sees n > 6 for it. */
	enum api_route r = match(method_of(method), sg, n < MAX_SEGS ? n : MAX_SEGS, rest, end, m);
	if (r == ROUTE_NOT_FOUND)
		m->name[0] = m->id[0] = m->path[0] = '\0';
	m->route = r;
	return r;
}
