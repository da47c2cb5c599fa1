/* The VM as a whole: HELLO's contents, PING, INFO, SET_TIME, SHUTDOWN, and the OOM counter. */
#ifndef FLINT_INIT_AGENT_SYS_H
#define FLINT_INIT_AGENT_SYS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/proto.h"

struct conn;

/* Once, when the agent starts: kernel name, memory size, /proc files kept open. */
void sys_init(bool vm);

/* The agent's HELLO fields: VERSION, NAME, KERNEL, MEM_TOTAL. */
void sys_put_hello(struct agent_buf *b);

/* The kernel's count of OOM kills (/proc/vmstat oom_kill; 0 when unknown). One pread. */
uint64_t sys_oom_kills(void);

void sys_ping(struct conn *c, const struct agent_frame *f);
void sys_info(struct conn *c, const struct agent_frame *f);
void sys_set_time(struct conn *c, const struct agent_frame *f);
void sys_shutdown(struct conn *c, const struct agent_frame *f);

#endif
