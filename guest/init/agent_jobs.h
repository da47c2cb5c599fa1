/* Detached jobs: commands that outlive their connection, their output kept in rings. */
#ifndef FLINT_INIT_AGENT_JOBS_H
#define FLINT_INIT_AGENT_JOBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/proto.h"

struct conn;
struct job;

#define JOBS_MAX 256 /* then the job that ended first is forgotten; all running: EAGAIN */
#define JOBS_RING_MAX (1u << 20) /* per stream: the newest bytes are kept */
#define JOBS_MEM_MAX (64u << 20) /* rings of ended jobs, beyond which the oldest are forgotten */
#define JOBS_ARGV_MAX 2048       /* ARGV bytes kept for JOB_STATUS; longer ones are cut */

void jobs_start(struct conn *c, const struct agent_frame *f);
void jobs_status(struct conn *c, const struct agent_frame *f);
void jobs_logs(struct conn *c, const struct agent_frame *f);
void jobs_kill(struct conn *c, const struct agent_frame *f);
void jobs_list(struct conn *c, const struct agent_frame *f);

/*
 * Read from fd (stream 0: stdout, 1: stderr) into the job's ring, at most *want bytes, which
 * is set to what was asked of read(). Returns read()'s result.
 */
ssize_t jobs_fill(struct job *j, int stream, int fd, size_t *want);

/* The job's command ended and all its output is in the rings. */
void jobs_ended(struct job *j, int32_t code, uint32_t sig, uint32_t reason);

#endif
