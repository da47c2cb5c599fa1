/* FILE_STAT, FILE_LIST, FILE_MKDIR and FILE_REMOVE. */
#ifndef FLINT_INIT_AGENT_FSOPS_H
#define FLINT_INIT_AGENT_FSOPS_H

#include <sys/types.h>

#include "agent/proto.h"

struct conn;

#define FSOPS_REMOVE_DEPTH 256 /* directory levels a recursive FILE_REMOVE descends */

void fsops_stat(struct conn *c, const struct agent_frame *f);
void fsops_list(struct conn *c, const struct agent_frame *f);
void fsops_mkdir(struct conn *c, const struct agent_frame *f);
void fsops_remove(struct conn *c, const struct agent_frame *f);

/*
 * mkdir -p: path (modified meanwhile, restored) and its missing parents (0755); the last one
 * gets mode exactly. An existing directory is fine. 0 or -errno.
 */
int fsops_mkdir_p(char *path, mode_t mode);

#endif
