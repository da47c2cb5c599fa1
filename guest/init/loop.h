/* The PID 1 event loop: epoll over the signalfd and the agent's sockets, pipes and PTYs. */
#ifndef FLINT_INIT_LOOP_H
#define FLINT_INIT_LOOP_H

#include <stdint.h>

/* epoll(7) event bits (EPOLLIN, EPOLLOUT, EPOLLET...) as given to and by loop_add. */
typedef void (*loop_handler)(int fd, uint32_t events, void *ctx);

/* fds from 0 to LOOP_MAX_FD - 1 can be watched: the kernel's RLIMIT_NOFILE hard default. */
#define LOOP_MAX_FD 4096

/*
 * Watch fd for `events` (EPOLLET for edge-triggered). Returns 0, or -1 with errno set
 * (EMFILE for an fd past LOOP_MAX_FD). One epoll_ctl, plus epoll_create1 the first time.
 */
int loop_add(int fd, uint32_t events, loop_handler fn, void *ctx);

/*
 * Forget fd; the caller closes it right after (the close takes it out of the epoll set, so
 * this costs no syscall). Events already fetched for it are not delivered, even when the
 * number is reused by a new loop_add in the same batch.
 */
void loop_remove(int fd);

/* Wait up to timeout_ms (-1: forever) and run the handlers of the ready fds. */
void loop_run_once(int timeout_ms);

#endif
