/* libmicrohttpd glue: request lifecycle, auth, envelopes, SSE and upgrades. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "metrics.h"

extern struct auth flintd_auth;

static struct MHD_Daemon *daemon_;

double http_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

const char *req_query(struct req *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

int req_socket(struct req *rq)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

const char *req_header(struct req *rq, const char *key)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, key);
}

static void queue(struct req *rq, unsigned status, struct MHD_Response *resp)
{
	if (rq->responded) {
		/* Two answers to one request is a bug in a handler, not a client's doing. */
		log_err("http", "second response (%u) for one request", status);
		abort();
	}
	rq->responded = true;
	rq->status = (int)status;
	if (!resp || MHD_queue_response(rq->conn, status, resp) != MHD_YES)
		log_warn("http", "cannot queue a %u response", status);
	if (resp)
		MHD_destroy_response(resp);
}

static void reply_json(struct req *rq, unsigned status, json_t *root)
{
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!text) {
		static const char oom[] = "{\"success\":false,\"error\":\"out of memory\"}";
		status = 500;
		queue(rq, status,
		      MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						      MHD_RESPMEM_PERSISTENT));
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(text);
	else
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	queue(rq, status, resp);
}

void reply_text(struct req *rq, unsigned status, char *text, const char *content_type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(text);
	else
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	queue(rq, status, resp);
}

void reply_data(struct req *rq, unsigned status, json_t *data)
{
	json_t *root = json_object();
	json_object_set_new(root, "success", json_true());
	json_object_set_new(root, "data", data ? data : json_null());
	reply_json(rq, status, root);
}

void reply_error_extra(struct req *rq, unsigned status, json_t *extra, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *root = json_object();
	json_object_set_new(root, "success", json_false());
	/* Messages may quote client input; jansson refuses invalid UTF-8, so fall back. */
	json_t *m = json_string(msg);
	json_object_set_new(root, "error", m ? m : json_string("(message not valid UTF-8)"));
	if (extra) {
		json_object_update(root, extra);
		json_decref(extra);
	}
	reply_json(rq, status, root);
}

/* ---- SSE ----------------------------------------------------------------------------------- */

#define SSE_BUF_MAX (256u << 10)

struct sse {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *buf;
	size_t len, cap;
	bool done, cancelled;
	int refs;
	void (*producer)(struct sse *, void *);
	void *ctx;
	void (*on_cancel)(void *);
	void *cancel_ctx;
	int client_fd, stop_fd; /* the hang-up watcher's */
};

static void sse_unref(struct sse *s)
{
	pthread_mutex_lock(&s->lock);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s->buf);
	free(s);
}

int sse_event(struct sse *s, const char *name, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!text)
		return -ENOMEM;
	size_t need = strlen(name) + strlen(text) + 20;
	pthread_mutex_lock(&s->lock);
	/* Bounded: a slow reader slows the command (the agent's stream backs up), never our RSS. */
	while (!s->cancelled && s->len && s->len + need > SSE_BUF_MAX)
		pthread_cond_wait(&s->cond, &s->lock);
	int r = 0;
	if (s->cancelled) {
		r = -EPIPE;
	} else {
		if (s->len + need > s->cap) {
			size_t cap = s->len + need > 4096 ? s->len + need : 4096;
			char *b = realloc(s->buf, cap);
			if (!b) {
				r = -ENOMEM;
				goto out;
			}
			s->buf = b;
			s->cap = cap;
		}
		s->len += (size_t)snprintf(s->buf + s->len, s->cap - s->len,
					   "event: %s\ndata: %s\n\n", name, text);
		pthread_cond_broadcast(&s->cond);
	}
out:
	pthread_mutex_unlock(&s->lock);
	free(text);
	return r;
}

bool sse_cancelled(struct sse *s)
{
	pthread_mutex_lock(&s->lock);
	bool c = s->cancelled;
	pthread_mutex_unlock(&s->lock);
	return c;
}

void sse_on_cancel(struct sse *s, void (*fn)(void *), void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->on_cancel = fn;
	s->cancel_ctx = ctx;
	if (s->cancelled && fn)
		fn(ctx);
	pthread_mutex_unlock(&s->lock);
}

/* In thread-per-connection mode MHD lets this block until the producer has something. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct sse *s = cls;
	pthread_mutex_lock(&s->lock);
	while (!s->len && !s->done && !s->cancelled)
		pthread_cond_wait(&s->cond, &s->lock);
	ssize_t n;
	if (s->cancelled) {
		n = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (!s->len) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		size_t k = s->len < max ? s->len : max;
		memcpy(buf, s->buf, k);
		memmove(s->buf, s->buf + k, s->len - k);
		s->len -= k;
		n = (ssize_t)k;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/*
 * While a command is silent MHD's thread sits in sse_read and cannot see the client leave, so a
 * thread per stream waits for the socket's hang-up (or the end of the stream) and cancels.
 */
static void *sse_watch(void *arg)
{
	struct sse *s = arg;
	struct pollfd p[2] = { { .fd = s->client_fd, .events = POLLRDHUP },
			       { .fd = s->stop_fd, .events = POLLIN } };
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&s->lock);
	if (!(p[1].revents & POLLIN) && !s->cancelled && !s->done) {
		s->cancelled = true;
		if (s->on_cancel)
			s->on_cancel(s->cancel_ctx);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	sse_unref(s);
	return NULL;
}

static void sse_response_gone(void *cls)
{
	struct sse *s = cls;
	uint64_t one = 1;
	if (s->stop_fd >= 0 && write(s->stop_fd, &one, sizeof(one)) < 0)
		log_warn("http", "cannot stop a stream's watcher: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	bool early = !s->done;
	s->cancelled = true;
	/* Under the lock: once the producer has cleared on_cancel, its ctx is never touched. */
	if (early && s->on_cancel)
		s->on_cancel(s->cancel_ctx);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	sse_unref(s);
}

static void *sse_thread(void *arg)
{
	struct sse *s = arg;
	s->producer(s, s->ctx);
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	sse_unref(s);
	return NULL;
}

int reply_sse(struct req *rq, void (*producer)(struct sse *, void *), void *ctx)
{
	struct sse *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->producer = producer;
	s->ctx = ctx;
	s->refs = 2; /* the response and the producer */
	s->client_fd = req_socket(rq);
	s->stop_fd = s->client_fd >= 0 ? eventfd(0, EFD_CLOEXEC) : -1;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
								      sse_read, s, sse_response_gone);
	if (!resp) {
		free(s);
		return -ENOMEM;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &at, sse_thread, s);
	pthread_attr_destroy(&at);
	if (r != 0) {
		s->refs = 1;
		s->done = true;
		queue(rq, 500, resp); /* its free callback releases s */
		return -r;
	}
	queue(rq, 200, resp);
	if (s->stop_fd >= 0) {
		pthread_mutex_lock(&s->lock);
		s->refs++;
		pthread_mutex_unlock(&s->lock);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, sse_watch, s) != 0)
			sse_unref(s);
		pthread_attr_destroy(&at);
	}
	return 0;
}

/* ---- upgrades ------------------------------------------------------------------------------ */

struct upgrade {
	upgrade_fn fn;
	void *ctx;
	int sock;
	char *extra;
	size_t extra_len;
	struct MHD_UpgradeResponseHandle *urh;
	bool started;
};

static void *upgrade_thread(void *arg)
{
	struct upgrade *u = arg;
	u->fn(u->sock, u->extra, u->extra_len, u->ctx);
	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(u->extra);
	free(u);
	return NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	(void)c;
	(void)con_cls;
	struct upgrade *u = cls;
	u->started = true;
	u->sock = sock;
	u->urh = urh;
	if (extra_in_size) {
		u->extra = malloc(extra_in_size);
		if (u->extra) {
			memcpy(u->extra, extra_in, extra_in_size);
			u->extra_len = extra_in_size;
		}
	}
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, upgrade_thread, u) != 0) {
		u->fn(-1, NULL, 0, u->ctx);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		free(u->extra);
		free(u);
	}
	pthread_attr_destroy(&at);
}

bool req_wants_upgrade(struct req *rq)
{
	const char *up = req_header(rq, MHD_HTTP_HEADER_UPGRADE);
	const char *conn = req_header(rq, MHD_HTTP_HEADER_CONNECTION);
	return up && strcasecmp(up, "flint-agent") == 0 && conn && strcasestr(conn, "upgrade");
}

int reply_upgrade(struct req *rq, upgrade_fn fn, void *ctx, const char *settings)
{
	struct upgrade *u = calloc(1, sizeof(*u));
	if (!u) {
		fn(-1, NULL, 0, ctx);
		reply_error(rq, 500, "out of memory");
		return -ENOMEM;
	}
	u->fn = fn;
	u->ctx = ctx;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, u);
	if (!resp) {
		free(u);
		fn(-1, NULL, 0, ctx);
		reply_error(rq, 500, "cannot upgrade the connection");
		return -ENOMEM;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "flint-agent");
	if (settings)
		MHD_add_response_header(resp, "Flint-Image-Settings", settings);
	queue(rq, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	return 0;
}

/* ---- the request lifecycle --------------------------------------------------------------- */

static void dispatch(struct req *rq, const char *url)
{
	route_parse(rq->method, url, &rq->m);
	enum api_route r = rq->m.route;
	if (r != ROUTE_HEALTH && r != ROUTE_METRICS) {
		const char *why = auth_check(&flintd_auth, req_header(rq, "Authorization"));
		if (why) {
			reply_error(rq, 401, "%s", why);
			return;
		}
	}
	if (r == ROUTE_NOT_FOUND) {
		reply_error(rq, 404, "Not found");
		return;
	}
	handlers_dispatch(rq);
	if (!rq->responded) {
		log_err("http", "%s %s: handler gave no response", rq->method, url);
		reply_error(rq, 500, "internal error");
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->conn = conn;
		rq->method = method;
		rq->t0 = http_now();
		*con_cls = rq;
		const char *cl = req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > HTTP_BODY_MAX) {
			route_parse(method, url, &rq->m);
			reply_error(rq, 413, "Request body too large (limit %u MiB)",
				    HTTP_BODY_MAX >> 20);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->responded || rq->too_large)
			return MHD_YES;
		if (n > HTTP_BODY_MAX - rq->len) {
			/* A chunked body with no length: drop it as it comes, answer at its end. */
			rq->too_large = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = rq->cap = 0;
			return MHD_YES;
		}
		if (rq->len + n + 1 > rq->cap) {
			size_t cap = rq->cap ? rq->cap : 4096;
			while (cap < rq->len + n + 1)
				cap *= 2;
			char *b = realloc(rq->body, cap);
			if (!b)
				return MHD_NO;
			rq->body = b;
			rq->cap = cap;
		}
		memcpy(rq->body + rq->len, upload, n);
		rq->len += n;
		rq->body[rq->len] = '\0';
		return MHD_YES;
	}
	if (rq->responded)
		return MHD_YES;
	if (rq->too_large) {
		route_parse(method, url, &rq->m);
		reply_error(rq, 413, "Request body too large (limit %u MiB)", HTTP_BODY_MAX >> 20);
		return MHD_YES;
	}
	dispatch(rq, url);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req *rq = *con_cls;
	if (!rq)
		return;
	metrics_observe_request(rq->m.route, rq->status ? rq->status : 499,
				http_now() - rq->t0);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	*len = sizeof(*a);
	return 0;
}

int http_start(const struct http_opts *o, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_listen(o->listen, &ss, &sl) < 0) {
		log_err("http", "--listen %s: give ADDRESS:PORT, e.g. 127.0.0.1:18888 or [::1]:18888",
			o->listen);
		return -EINVAL;
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
				   NULL, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
				   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
				   /* idle keep-alive connections; a blocked handler is not idle */
				   MHD_OPTION_CONNECTION_TIMEOUT, 300u,
				   MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
	if (!daemon_) {
		log_err("http", "cannot listen on %s (in use, or not an address of this host)",
			o->listen);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : 0;
	return 0;
}

void http_quiesce(void)
{
	if (daemon_) {
		MHD_socket s = MHD_quiesce_daemon(daemon_);
		if (s != MHD_INVALID_SOCKET)
			close(s);
	}
}

void http_stop(void)
{
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
