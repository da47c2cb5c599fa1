/* FILE_READ and FILE_WRITE: chunked reads, atomic chunked writes through a temporary file. */
#ifndef FLINT_INIT_AGENT_FILES_H
#define FLINT_INIT_AGENT_FILES_H

#include "agent/proto.h"

struct conn;

#define FILES_WRITES_MAX 16 /* FILE_WRITEs in progress on one connection */
#define FILES_READ_MAX (AGENT_PAYLOAD_MAX - 64) /* the most DATA one FILE_READ answer holds */

void files_read(struct conn *c, const struct agent_frame *f);
void files_write(struct conn *c, const struct agent_frame *f);

/* The connection closed: unfinished writes are abandoned, their temporary files removed. */
void files_conn_closed(struct conn *c);

#endif
