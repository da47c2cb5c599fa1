/* Events to the VMM over the flint I/O port (common/flint_port.h), or as text lines in host tests. */
#ifndef FLINT_INIT_PORT_H
#define FLINT_INIT_PORT_H

/*
 * Get access to FLINT_PORT and write FLINT_EV_PID1 at once (the boot-trace
 * marker). Returns 0, or an errno value: events are then dropped silently.
 */
int port_open(void);

/* Host tests only: stands for the reboot that the kernel does not report on the port. */
#define PORT_TEXT_REBOOT 0xff00u

/* Host test mode: write "flint-event NAME ARG\n" lines to fd instead of the port. */
void port_use_text(int fd);

/* Report one event. Safe in a forked child (the ioperm bitmap is inherited). */
void port_report(unsigned ev, unsigned arg);

#endif
