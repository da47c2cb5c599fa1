/* The flint I/O port: how the guest (PID 1, the kernel, test guests) reports events to the VMM. */
#ifndef FLINT_PORT_H
#define FLINT_PORT_H

/*
 * One 32-bit port write carries one event: (event << 16) | argument.
 * The kernel patch 0004 writes PANIC and POWEROFF here when booted with
 * flint_port=0x600; flint-init writes PID1, PROGRAM and EXIT.
 */
#define FLINT_PORT 0x600

#define FLINT_EV_PID1 0x01     /* PID 1 is running; argument unused */
#define FLINT_EV_PROGRAM 0x02  /* the one-shot program was exec'd */
#define FLINT_EV_EXIT 0x03     /* one-shot finished: argument = exit status 0..255 */
#define FLINT_EV_PANIC 0x04    /* the kernel panicked */
#define FLINT_EV_READY 0x05    /* the agent accepts connections */
#define FLINT_EV_POWEROFF 0x06 /* the kernel powered off */

#define FLINT_EV_VALUE(ev, arg) ((((unsigned)(ev)) << 16) | ((unsigned)(arg) & 0xffffu))
#define FLINT_EV_CODE(v) (((v) >> 16) & 0xffffu)
#define FLINT_EV_ARG(v) ((v) & 0xffffu)

/* The one-shot command travels on the kernel command line as flint.run=<base64url of argv, NUL-separated>. */
#define FLINT_CMDLINE_RUN "flint.run="

/*
 * The guest's network, for flint-init to configure eth0 with:
 * flint.net=ADDR/PREFIX,GATEWAY,DNS,MTU (GATEWAY and DNS may be empty), e.g.
 * flint.net=10.0.2.15/24,10.0.2.2,10.0.2.3,1500.
 */
#define FLINT_CMDLINE_NET "flint.net="

#endif
