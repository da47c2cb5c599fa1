/* The I/O of a running command: output to OUTPUT frames or a job's rings, stdin, and its EXIT. */
#ifndef FLINT_INIT_AGENT_STREAM_H
#define FLINT_INIT_AGENT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

struct exec;

/* Watch a new command's output fds (and a PTY master for writing): 0 or -errno. */
int stream_watch(struct exec *e);

/*
 * Its share of a tick: write pending stdin, fire its timeout or drain deadline, read its
 * output (within a budget, and only while its connection has room), and once it has been
 * reaped and both streams are at EOF, send EXIT (or end its job) and mark it dead.
 */
void stream_service(struct exec *e, int64_t now);
bool stream_work_pending(const struct exec *e);

/* Close every fd it has (unwatching them); its unwritten stdin is dropped. */
void stream_close_all(struct exec *e);

#endif
