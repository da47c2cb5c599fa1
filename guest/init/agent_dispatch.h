/* Taking requests from a connection: reassembly, the HELLO rule, and dispatch by type. */
#ifndef FLINT_INIT_AGENT_DISPATCH_H
#define FLINT_INIT_AGENT_DISPATCH_H

#include <stdbool.h>

struct conn;

/*
 * Read what the connection has (a few reads at most, so others get their turn) and handle
 * each whole frame; stops while answers are backed up or an EXEC's stdin is full.
 */
void dispatch_input(struct conn *c);

/* Requests are taken only while answers have room and no EXEC_STDIN backlog is too long. */
bool dispatch_may_parse(const struct conn *c);

#endif
