/* Endpoint handlers (one file per area) and the helpers they share. */
#ifndef FLINTD_HANDLERS_H
#define FLINTD_HANDLERS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "sandbox.h"

#define AGENT_REQ_TIMEOUT_MS 120000 /* a file or job request, not a command's run */

/* A command's outcome as flintd reports it. */
struct cmd_result {
	int rc;		   /* agent_client_exec's return */
	bool started;	   /* the command ran (pid known) */
	bool vm_failed;	   /* the VM died or the connection broke */
	int32_t exit_code; /* the status reported to clients: code, 128+signal, 124 timeout, 126/127 */
	uint32_t reason;   /* enum agent_exit_reason */
	uint32_t signal;
	char error[512];   /* why it did not start / the VM's failure */
	/* Output as it arrived: combined and per stream, each at most flintd.max_output. */
	uint8_t *out, *so, *se;
	size_t out_len, so_len, se_len;
	bool truncated;
};

struct cmd_params {
	const char *const *argv;
	const char *const *env; /* NULL-terminated or NULL */
	const char *cwd, *user;
	uint64_t timeout_s; /* 0: flintd's default */
	/* Optional live sink (SSE); < 0 aborts the command. */
	int (*on_output)(void *ctx, int stream, const uint8_t *p, size_t n);
	void *ctx;
	/* The HTTP client's socket (-1: none): if it hangs up, the command is killed. */
	int client_fd;
	/* Filled (under slot_lock) while the command runs, for a canceller on another thread. */
	struct agent_client **client_slot;
	pthread_mutex_t *slot_lock;
	const bool *cancelled; /* under slot_lock: a signal may be pending on the connection */
};

/* Run a command on vm through a pooled agent connection; fills *res (free with cmd_result_free). */
void cmd_run(struct vm *vm, const struct cmd_params *p, struct cmd_result *res);
void cmd_result_free(struct cmd_result *res);
/* Answer a finished command: 200 {output, stdout, stderr, exit_code} or 409/500 with details. */
void reply_cmd(struct req *rq, const struct cmd_result *res);
/* JSON string of bytes; invalid UTF-8 becomes U+FFFD (then *lossy is set, if given). */
json_t *json_bytes(const uint8_t *p, size_t n, bool *lossy);
/* The VM spec for an image name and profile (restrictive/moderate/permissive); 400 on bad input. */
int spec_for(const char *image, const char *profile, unsigned vcpus, unsigned mem_mib,
	     struct vm_spec *spec, char *err, size_t errlen);
/* Look up {name} and its VM; on failure the response is sent and NULL returned. */
struct sandbox *sandbox_for(struct req *rq, struct vm **vm);
/* An agent connection to vm or a 500/409 response (NULL). */
struct agent_client *agent_for(struct req *rq, struct vm *vm);
/* Map an agent error to a response for a file or job request. */
void reply_agent_error(struct req *rq, int r, struct agent_client *c, const char *what);

void h_run(struct req *rq);
void h_run_stream(struct req *rq);
void h_batch_run(struct req *rq);
void h_exec(struct req *rq);
void h_exec_detach(struct req *rq);
void h_detached_list(struct req *rq);
void h_detached_get(struct req *rq);
void h_detached_logs(struct req *rq);
void h_detached_kill(struct req *rq);
void h_file_read(struct req *rq);
void h_file_write(struct req *rq);
void h_file_delete(struct req *rq);
void h_files_batch(struct req *rq);
void h_attach(struct req *rq);
void h_run_attach(struct req *rq);

#endif
