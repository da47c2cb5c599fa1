/* flintd's router: method + decoded URL path -> one route of the agentkernel HTTP API and its segments. */
#ifndef FLINT_API_ROUTE_H
#define FLINT_API_ROUTE_H

enum api_route {
	ROUTE_NOT_FOUND = 0,
	ROUTE_HEALTH,
	ROUTE_METRICS,
	ROUTE_RUN,
	ROUTE_RUN_STREAM,
	ROUTE_RUN_ATTACH,
	ROUTE_BATCH_RUN,
	ROUTE_SANDBOX_LIST,
	ROUTE_SANDBOX_CREATE,
	ROUTE_SANDBOX_GET,
	ROUTE_SANDBOX_BY_UUID,
	ROUTE_SANDBOX_DELETE,
	ROUTE_EXEC,
	ROUTE_EXEC_DETACH,
	ROUTE_DETACHED_LIST,
	ROUTE_DETACHED_GET,
	ROUTE_DETACHED_LOGS,
	ROUTE_DETACHED_KILL,
	ROUTE_FILE_READ,
	ROUTE_FILE_WRITE,
	ROUTE_FILE_DELETE,
	ROUTE_FILES_BATCH,
	ROUTE_SANDBOX_LOGS,
	ROUTE_SANDBOX_EXTEND,
	ROUTE_SANDBOX_ATTACH,
	ROUTE_SNAPSHOT_LIST,
	ROUTE_SNAPSHOT_CREATE,
	ROUTE_SNAPSHOT_GET,
	ROUTE_SNAPSHOT_DELETE,
	ROUTE_SNAPSHOT_RESTORE,
	ROUTE_IMAGE_LIST,
	ROUTE__COUNT
};

#define ROUTE_SEG_MAX  256  /* name / id / uuid segment buffer incl. NUL */
#define ROUTE_PATH_MAX 4096 /* file path buffer incl. NUL */

struct route_match {
	enum api_route route;
	char name[ROUTE_SEG_MAX];  /* {name} of /sandboxes/{name}/..., /snapshots/{name}; or the uuid of by-uuid */
	char id[ROUTE_SEG_MAX];	   /* {id} of /exec/detached/{id} */
	char path[ROUTE_PATH_MAX]; /* files: everything after /files/, made absolute ("/" + segments joined by "/") */
};

/*
 * Match method ("GET","POST","PUT","DELETE", exact, case-sensitive) and the already percent-decoded
 * URL path (libmicrohttpd strips the query first, so a '?' here is part of a segment). Empty segments
 * are ignored ("//", trailing "/"). Returns the route (also stored in m->route); ROUTE_NOT_FOUND for
 * an unknown path or a wrong method (then name/id/path are ""). A {name}/{id} segment too long for
 * its buffer still matches but is stored as "" (so name validation rejects it with 400); a files
 * path too long is stored as "" too. NULL method or path → ROUTE_NOT_FOUND. Thread-safe (no state).
 * Segments are copied verbatim: "." and ".." in a files path are kept for the caller to refuse.
 */
enum api_route route_parse(const char *method, const char *path, struct route_match *m);

/* Short stable label for metrics and logs ("run", "exec", ...); "not_found" for anything out of range. */
const char *route_label(enum api_route r);

#endif
