/* Boot trace: one JSON line per boot phase, milliseconds since the VMM process started. */
#ifndef FLINT_TRACE_H
#define FLINT_TRACE_H

#include <stdbool.h>

/* Record the process start; call first thing in main. Enabled traces print to stderr. */
void trace_init(bool enabled);
/* Print {"phase":name,"ms":t} once per name; thread-safe, cheap when disabled. */
void trace_phase(const char *name);
/* At exit: the process's resident memory and how much of it is guest RAM. */
void trace_memory(unsigned long rss_kib, unsigned long guest_kib);
/* Milliseconds since trace_init, for reports. */
double trace_now_ms(void);

#endif
