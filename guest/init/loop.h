/* The PID 1 event loop: poll() over a few fds (the signalfd now, the agent's sockets later). */
#ifndef FLINT_INIT_LOOP_H
#define FLINT_INIT_LOOP_H

typedef void (*loop_handler)(int fd, short revents, void *ctx);

/* Watch fd for events (POLLIN etc.); returns 0, or -1 when the table is full. */
int loop_add(int fd, short events, loop_handler fn, void *ctx);

/* Stop watching fd (the caller closes it). */
void loop_remove(int fd);

/* Wait up to timeout_ms (-1: forever) and run the handlers of the ready fds. */
void loop_run_once(int timeout_ms);

#endif
