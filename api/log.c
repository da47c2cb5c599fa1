/* One JSON line per event, written with a single write(2) so threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool log_debug_enabled;

/* JSON string escaping for a message we formatted; control bytes become \u00XX. */
static size_t escape(char *out, size_t cap, const char *s)
{
	size_t j = 0;
	for (; *s && j + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[j++] = '\\';
			out[j++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			j += (size_t)snprintf(out + j, cap - j, "\\u%04x", c);
		} else {
			out[j++] = (char)c;
		}
	}
	out[j] = '\0';
	return j;
}

void log_msg(const char *level, const char *component, const char *fmt, ...)
{
	char msg[1024], esc[2048], line[2400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	escape(esc, sizeof(esc), msg);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
			 "\"component\":\"%s\",\"msg\":\"%s\"}\n",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level, component, esc);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1, line[n - 1] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
