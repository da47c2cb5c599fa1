/* Events to the VMM over the flint I/O port (common/flint_port.h), or as text lines in host tests. */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <sys/io.h>
#include <unistd.h>

#include "flint_port.h"

enum port_mode { PORT_NONE, PORT_IO, PORT_TEXT };

static enum port_mode port_mode = PORT_NONE;
static int port_text_fd = -1;

int port_open(void)
{
	/* Only this process and its children get the port; 4 bytes for one outl. */
	if (ioperm(FLINT_PORT, 4, 1) != 0)
		return errno;
	port_mode = PORT_IO;
	port_report(FLINT_EV_PID1, 0);
	return 0;
}

void port_use_text(int fd)
{
	port_mode = PORT_TEXT;
	port_text_fd = fd;
}

static const char *port_event_name(unsigned ev)
{
	switch (ev) {
	case FLINT_EV_PID1: return "PID1";
	case FLINT_EV_PROGRAM: return "PROGRAM";
	case FLINT_EV_EXIT: return "EXIT";
	case FLINT_EV_PANIC: return "PANIC";
	case FLINT_EV_READY: return "READY";
	case FLINT_EV_POWEROFF: return "POWEROFF";
	case PORT_TEXT_REBOOT: return "REBOOT";
	default: return "UNKNOWN";
	}
}

void port_report(unsigned ev, unsigned arg)
{
	char line[64];
	ssize_t w;
	int n;

	switch (port_mode) {
	case PORT_IO:
		/* One instruction, no syscall: the VMM sees it as a port-I/O exit. */
		outl(FLINT_EV_VALUE(ev, arg), FLINT_PORT);
		break;
	case PORT_TEXT:
		n = snprintf(line, sizeof(line), "flint-event %s %u\n", port_event_name(ev),
			     arg & 0xffffu);
		/* A harness that stopped reading simply gets nothing more. */
		w = n > 0 ? write(port_text_fd, line, (size_t)n) : 0;
		(void)w;
		break;
	case PORT_NONE:
		break;
	}
}
