/* Logging: setup errors, rate-limited guest faults, and aborts for broken invariants. */
#ifndef FLINT_LOG_H
#define FLINT_LOG_H

#include <stdarg.h>

void log_set_prog(const char *prog);
void log_set_verbose(int verbose);

/* "flint-vmm: <message>" on stderr. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* only with -v */

/*
 * A guest did something a device refuses. Counted always; printed at most
 * a few times per `what` key per second so a hostile guest cannot flood the log.
 */
void log_guest(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned long log_guest_count(void);

/* A broken host-side invariant: print and abort. Never reached because of guest input. */
#define BUG_ON(cond)                                                                   \
	do {                                                                           \
		if (__builtin_expect(!!(cond), 0))                                     \
			log_bug(__FILE__, __LINE__, #cond);                            \
	} while (0)
void log_bug(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
