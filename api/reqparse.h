/*
 * flintd's request bodies (JSON, via jansson) parsed into C structs, with the agentkernel API's
 * rules: bad JSON or a wrong field type → 400 "Invalid JSON: ..."; unknown fields ignored; null
 * counts as absent; an empty (or all-whitespace) body is {}. Every string is valid UTF-8 without NUL.
 *
 * Every reqparse_*() takes the raw body (need not be NUL-terminated; NULL with len 0 is an empty
 * body), zeroes *r first, and returns 0, or -1 with *status (the HTTP status to send, 400 unless
 * noted) and a NUL-terminated message in err[errlen]. On failure *r holds nothing to free, but
 * calling its *_free() is always safe (also twice, and on a zeroed struct). Thread-safe.
 */
#ifndef FLINT_API_REQPARSE_H
#define FLINT_API_REQPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate.h"

/* Caps on what one request may carry: bounded memory per request, whatever the client sends. */
#define REQ_ARGV_MAX	     4096
#define REQ_ARG_BYTES_MAX    (128u * 1024)
#define REQ_ENV_MAX	     1024
#define REQ_LABELS_MAX	     64
#define REQ_PORTS_MAX	     32
#define REQ_BATCH_MAX	     64
#define REQ_FILES_MAX	     1024
#define REQ_VCPUS_MIN	     1
#define REQ_VCPUS_MAX	     8
#define REQ_MEMORY_MB_MIN    64
#define REQ_MEMORY_MB_MAX    16384

struct strv {
	char **v; /* NULL-terminated when n > 0 or allocated; NULL when absent */
	size_t n;
};

struct run_req {
	struct strv command;
	char *image;
	char *profile;
	bool fast;	    /* default true */
	uint64_t timeout_s; /* flint extension "timeout" (seconds), 0 = none */
};
/* command missing or empty → 400 "command is required". "timeout": a non-negative integer of
 * seconds, or a duration string ("30s", "5m"); at most 30 days. Applies to exec_req too. */

struct create_req {
	char *name;
	char *image;
	unsigned vcpus;	    /* 0 when absent */
	unsigned memory_mb; /* 0 when absent */
	char *profile;
	struct strv label_keys, label_vals; /* parallel, same n */
	struct strv ports;		    /* each passes port_map_parse */
	struct port_map port_maps[REQ_PORTS_MAX]; /* ports, parsed (ports.n of them) */
	bool has_unsupported;
	char unsupported[64]; /* first of source_url, source_ref, volumes, secrets, secret_files present and non-empty */
};
/* name missing → 400 "name is required"; invalid → 400 "Invalid sandbox name: ..."; vcpus must be
 * 1..8, memory_mb 64..16384; labels an object of strings (valid_label), at most 64; ports an array
 * of strings (port_map_parse), at most 32. */

struct exec_req {
	struct strv command;
	struct strv env; /* "K=V", K non-empty without '=' */
	char *workdir;
	bool sudo;
	uint64_t timeout_s;
};
/* command missing or empty → 400 "command is required"; workdir → 400 "workdir must be an absolute
 * path without '..'". */

struct file_write_req {
	uint8_t *data; /* malloc'ed, never NULL on success (even when len is 0) */
	size_t len;
};
/* {content, encoding?: "utf8"|"base64"}; content required; bad base64 → 400 "Invalid base64
 * content"; unknown encoding → 400. */

struct files_batch_req {
	struct strv paths, contents; /* parallel, same n */
};
/* {files:{"/abs":"text"}}; missing or empty → 400 "files must not be empty"; each key absolute,
 * without ".." (valid_workdir) else 400; at most 1024 entries. */

struct batch_run_req {
	size_t n;
	struct strv *commands; /* n entries, each non-empty */
};
/* {commands:[{command:[...]}]}; missing or empty → 400 "commands must not be empty"; at most 64. */

struct extend_req {
	uint64_t by_s;
}; /* {by:"1h"} via duration_parse; missing/invalid → 400 */

struct snapshot_req {
	char *sandbox; /* required, valid_sandbox_name */
	char *name;    /* optional, valid_sandbox_name when present */
};

struct restore_req {
	char *as_name; /* optional, valid_sandbox_name when present */
};

int reqparse_run(const char *body, size_t len, struct run_req *r, int *status, char *err,
		 size_t errlen);
int reqparse_create(const char *body, size_t len, struct create_req *r, int *status, char *err,
		    size_t errlen);
int reqparse_exec(const char *body, size_t len, struct exec_req *r, int *status, char *err,
		  size_t errlen);
int reqparse_file_write(const char *body, size_t len, struct file_write_req *r, int *status,
			char *err, size_t errlen);
int reqparse_files_batch(const char *body, size_t len, struct files_batch_req *r, int *status,
			 char *err, size_t errlen);
int reqparse_batch_run(const char *body, size_t len, struct batch_run_req *r, int *status, char *err,
		       size_t errlen);
int reqparse_extend(const char *body, size_t len, struct extend_req *r, int *status, char *err,
		    size_t errlen);
int reqparse_snapshot(const char *body, size_t len, struct snapshot_req *r, int *status, char *err,
		      size_t errlen);
int reqparse_restore(const char *body, size_t len, struct restore_req *r, int *status, char *err,
		     size_t errlen);

void strv_free(struct strv *s);
void run_req_free(struct run_req *r);
void create_req_free(struct create_req *r);
void exec_req_free(struct exec_req *r);
void file_write_req_free(struct file_write_req *r);
void files_batch_req_free(struct files_batch_req *r);
void batch_run_req_free(struct batch_run_req *r);
void extend_req_free(struct extend_req *r);
void snapshot_req_free(struct snapshot_req *r);
void restore_req_free(struct restore_req *r);

#endif
