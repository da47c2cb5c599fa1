/* flintd's structured log: one JSON object per line on stderr (time, level, component, message). */
#ifndef FLINTD_LOG_H
#define FLINTD_LOG_H

#include <stdbool.h>

extern bool log_debug_enabled;

void log_msg(const char *level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(comp, ...) log_msg("error", comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg("warn", comp, __VA_ARGS__)
#define log_info(comp, ...) log_msg("info", comp, __VA_ARGS__)
#define log_debug(comp, ...)                                                                 \
	do {                                                                                 \
		if (log_debug_enabled)                                                       \
			log_msg("debug", comp, __VA_ARGS__);                                 \
	} while (0)

#endif
