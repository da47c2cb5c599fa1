/*
 * flintd's HTTP layer over libmicrohttpd: one thread per connection (handlers may block on a
 * VM for as long as a command runs), bodies bounded, auth before routing, JSON envelopes,
 * Server-Sent Events fed by a producer thread, and upgraded connections for the agent protocol.
 */
#ifndef FLINTD_HTTP_H
#define FLINTD_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route.h"

#define HTTP_BODY_MAX (16u << 20)

struct MHD_Connection;

/* One request, alive from its first byte until its response is queued. */
struct req {
	struct MHD_Connection *conn;
	const char *method;
	struct route_match m;
	char *body;
	size_t len, cap;
	bool too_large, responded;
	int status;
	double t0;
};

struct http_opts {
	const char *listen; /* "ADDR:PORT", ADDR IPv4 or [IPv6]; port 0 picks one */
	unsigned max_connections;
};

/* Start serving (threads of its own); *port gets the bound port. 0 or -errno with a message. */
int http_start(const struct http_opts *o, unsigned *port);
/* Stop accepting connections (the ones open keep being served). */
void http_quiesce(void);
void http_stop(void);

/* The dispatcher the server calls for every authenticated, routed request (api/handlers.c). */
void handlers_dispatch(struct req *rq);

/* ---- responses: exactly one per request ----------------------------------------------------- */

/* {"success":true,"data":data}; steals the reference to data (NULL: null). */
void reply_data(struct req *rq, unsigned status, json_t *data);
/* {"success":false,"error":msg}, plus the fields of extra (stolen, may be NULL). */
void reply_error_extra(struct req *rq, unsigned status, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define reply_error(rq, status, ...) reply_error_extra(rq, status, NULL, __VA_ARGS__)

/* A non-JSON body (text is malloc'ed and taken over), e.g. Prometheus metrics. */
void reply_text(struct req *rq, unsigned status, char *text, const char *content_type);

/* The client's socket, for noticing that it went away while a command runs; -1 if unknown. */
int req_socket(struct req *rq);

/* A query argument (already decoded) or NULL. */
const char *req_query(struct req *rq, const char *key);
const char *req_header(struct req *rq, const char *key);

/* ---- Server-Sent Events -------------------------------------------------------------------- */

struct sse;
/*
 * Answer 200 text/event-stream and start producer(sse, ctx) on a thread of its own; it calls
 * sse_event() for each event and returns when done (the stream then ends). If the client goes
 * away, sse_event() returns -EPIPE and sse_cancelled() turns true: the producer should stop.
 */
int reply_sse(struct req *rq, void (*producer)(struct sse *s, void *ctx), void *ctx);
/* Frame and queue one event (event: NAME / data: one-line JSON); steals data. Blocks while the
 * client is more than a bounded amount behind. 0 or -EPIPE. */
int sse_event(struct sse *s, const char *name, json_t *data);
bool sse_cancelled(struct sse *s);
/*
 * fn(ctx) is called (once, under the stream's lock: it must not block or call sse_*) when the
 * client goes away before the end; sse_on_cancel(s, NULL, NULL) before ctx is freed.
 */
void sse_on_cancel(struct sse *s, void (*fn)(void *ctx), void *ctx);

/* ---- upgraded connections ----------------------------------------------------------------- */

/*
 * Answer 101 (Upgrade: flint-agent) and then call fn on a thread of its own with the raw socket
 * and any bytes the client sent early (extra); fn owns the conversation and returns when it is
 * over (the socket is then closed). If the response cannot be queued, fn is called with sock -1
 * so that it can release ctx. Check req_wants_upgrade() first and answer 400 when false.
 */
typedef void (*upgrade_fn)(int sock, const char *extra, size_t extra_len, void *ctx);
/* settings: the image's run settings (JSON, one line, ASCII) for a Flint-Image-Settings header. */
int reply_upgrade(struct req *rq, upgrade_fn fn, void *ctx, const char *settings);
bool req_wants_upgrade(struct req *rq);

/* Seconds since an arbitrary point, monotonic. */
double http_now(void);

#endif
