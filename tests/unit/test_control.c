/* Unit tests for vmm/control.c: command parsing, reply formatting, and the socket over a real event
 * loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "evloop.h"

/* ---- parsing ------------------------------------------------------------------------------- */

static enum control_cmd parse_str(const char *s)
{
	return control_parse(s, strlen(s));
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(parse_str("ping"), CONTROL_PING);
	assert_int_equal(parse_str("status"), CONTROL_STATUS);
	assert_int_equal(parse_str("stop"), CONTROL_STOP);
	assert_int_equal(parse_str("ping\r"), CONTROL_PING); /* a CRLF client */
	static const char *const unknown[] = {"",      "PING",	     "pin",	"pingg",
					      " ping", "ping ",	     "kill",	"stop\n",
					      "\r",    "status\r\r", "stat us", "ping\rx"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(parse_str(unknown[i]), CONTROL_UNKNOWN);
	/* The length is what counts, not a NUL. */
	assert_int_equal(control_parse("pingpong", 4), CONTROL_PING);
	assert_int_equal(control_parse("ping\0", 5), CONTROL_UNKNOWN);
}

/* ---- replies ------------------------------------------------------------------------------- */

static char out[CONTROL_REPLY_MAX];

static const char *reply_str(enum control_cmd cmd, const char *line, size_t len,
			     const struct control_info *info)
{
	memset(out, 'x', sizeof(out));
	size_t n = control_reply(cmd, line, len, info, out, sizeof(out));
	assert_true(n > 0 && n < sizeof(out));
	assert_int_equal(out[n], '\0');
	assert_int_equal(out[n - 1], '\n');
	assert_null(memchr(out, '\n', n - 1)); /* exactly one line */
	return out;
}

static void test_reply_ok(void **state)
{
	(void)state;
	assert_string_equal(reply_str(CONTROL_PING, "ping", 4, NULL), "{\"ok\":true}\n");
	assert_string_equal(reply_str(CONTROL_STOP, "stop", 4, NULL), "{\"ok\":true}\n");
}

#define NET_NULLS                                                                                  \
	",\"net_rx_packets\":null,\"net_rx_bytes\":null,\"net_tx_packets\":null,\"net_tx_bytes\":" \
	"null,\"net_rx_dropped\":null,\"net_tx_dropped\":null,\"net_denied\":null,\"net_last_"     \
	"denied\":null}\n"

static void test_reply_status(void **state)
{
	(void)state;
	struct control_info info = {
	    .pid = 4242, .uptime_ms = 1500, .vcpus = 2, .mem_mib = 256, .cid = 3, .boot_ms = 812};
	assert_string_equal(reply_str(CONTROL_STATUS, "status", 6, &info),
			    "{\"ok\":true,\"state\":\"running\",\"pid\":4242,\"uptime_ms\":1500,"
			    "\"vcpus\":2,\"mem_mib\":256,\"cid\":3,\"boot_ms\":812" NET_NULLS);
	info.cid = -1;
	info.boot_ms = -1;
	assert_string_equal(reply_str(CONTROL_STATUS, "status", 6, &info),
			    "{\"ok\":true,\"state\":\"running\",\"pid\":4242,\"uptime_ms\":1500,"
			    "\"vcpus\":2,\"mem_mib\":256,\"cid\":null,\"boot_ms\":null" NET_NULLS);
	/* Without a network device the counters and the text are null whatever they hold. */
	info.net_denied = 5;
	strcpy(info.net_last_denied, "tcp 10.0.0.1:22 (private range)");
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_non_null(strstr(out, NET_NULLS));
	/* The largest values still fit a reply. */
	info = (struct control_info){.pid = 2147483647,
				     .uptime_ms = UINT64_MAX,
				     .vcpus = UINT32_MAX,
				     .mem_mib = UINT64_MAX,
				     .cid = INT64_MAX,
				     .boot_ms = INT64_MAX};
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_non_null(strstr(out, "\"uptime_ms\":18446744073709551615,"));
	assert_non_null(strstr(out, "\"boot_ms\":9223372036854775807,"));
}

/* With a network device: its counters, and the latest denial as a string or null. */
static void test_reply_status_net(void **state)
{
	(void)state;
	struct control_info info = {.pid = 4242,
				    .uptime_ms = 1500,
				    .vcpus = 2,
				    .mem_mib = 256,
				    .cid = 3,
				    .boot_ms = 812,
				    .has_net = true,
				    .net_rx_packets = 10,
				    .net_rx_bytes = 2048,
				    .net_tx_packets = 12,
				    .net_tx_bytes = 1900,
				    .net_rx_dropped = 1,
				    .net_tx_dropped = 2,
				    .net_denied = 3};
	strcpy(info.net_last_denied, "tcp 192.168.1.5:80 (private range)");
	assert_string_equal(
	    reply_str(CONTROL_STATUS, "status", 6, &info),
	    "{\"ok\":true,\"state\":\"running\",\"pid\":4242,\"uptime_ms\":1500,\"vcpus\":2,"
	    "\"mem_mib\":256,\"cid\":3,\"boot_ms\":812,\"net_rx_packets\":10,\"net_rx_bytes\":2048,"
	    "\"net_tx_packets\":12,\"net_tx_bytes\":1900,\"net_rx_dropped\":1,\"net_tx_dropped\":2,"
	    "\"net_denied\":3,\"net_last_denied\":\"tcp 192.168.1.5:80 (private range)\"}\n");
	/* No denial yet (or a tap): zero and null. */
	info.net_denied = 0;
	info.net_last_denied[0] = '\0';
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_non_null(strstr(out, ",\"net_denied\":0,\"net_last_denied\":null}\n"));
}

/* Whatever the text holds, the reply is one line of JSON with a string that needs no escapes. */
static void test_reply_status_hostile_text(void **state)
{
	(void)state;
	struct control_info info = {
	    .pid = 1, .vcpus = 1, .cid = -1, .boot_ms = -1, .has_net = true};
	static const char evil[] = "a\"b\\c\x01\x1b[2J\x7f\xff\n\r\tz\"}";
	memcpy(info.net_last_denied, evil, sizeof(evil));
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_non_null(strstr(out, ",\"net_last_denied\":\"a?b?c??[2J?????z?}\"}\n"));
	/* A NUL ends it. */
	memcpy(info.net_last_denied, "ab\0cd", 6);
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_non_null(strstr(out, ",\"net_last_denied\":\"ab\"}\n"));
	/* No NUL at all: cut to CONTROL_DENIED_MAX - 1 bytes, never read past the array. */
	memset(info.net_last_denied, 'q', sizeof(info.net_last_denied));
	reply_str(CONTROL_STATUS, "status", 6, &info);
	char want[CONTROL_DENIED_MAX + 32];
	snprintf(want, sizeof(want), ",\"net_last_denied\":\"%.*s\"}\n",
		 (int)CONTROL_DENIED_MAX - 1, info.net_last_denied);
	assert_non_null(strstr(out, want));
}

/* The longest status reply there can be fits CONTROL_REPLY_MAX, and a client's buffer. */
static void test_reply_status_longest(void **state)
{
	(void)state;
	struct control_info info = {.pid = 2147483647,
				    .uptime_ms = UINT64_MAX,
				    .vcpus = UINT32_MAX,
				    .mem_mib = UINT64_MAX,
				    .cid = INT64_MAX,
				    .boot_ms = INT64_MAX,
				    .has_net = true,
				    .net_rx_packets = UINT64_MAX,
				    .net_rx_bytes = UINT64_MAX,
				    .net_tx_packets = UINT64_MAX,
				    .net_tx_bytes = UINT64_MAX,
				    .net_rx_dropped = UINT64_MAX,
				    .net_tx_dropped = UINT64_MAX,
				    .net_denied = UINT64_MAX};
	memset(info.net_last_denied, '"', sizeof(info.net_last_denied));
	reply_str(CONTROL_STATUS, "status", 6, &info);
	assert_int_equal(strlen(out), 560); /* the figure in control.h and host/control.c */
	assert_non_null(strstr(out, "\"net_denied\":18446744073709551615,"));
}

static void test_reply_unknown(void **state)
{
	(void)state;
	assert_string_equal(reply_str(CONTROL_UNKNOWN, "kill", 4, NULL),
			    "{\"ok\":false,\"error\":\"unknown command 'kill'\"}\n");
	assert_string_equal(reply_str(CONTROL_UNKNOWN, "", 0, NULL),
			    "{\"ok\":false,\"error\":\"unknown command ''\"}\n");
	assert_string_equal(reply_str(CONTROL_UNKNOWN, "frob\r", 5, NULL),
			    "{\"ok\":false,\"error\":\"unknown command 'frob'\"}\n");
	/* Quotes, backslashes, control bytes and non-ASCII never reach the JSON. */
	const char evil[] = "a\"b\\c\x01\x1b[2J\x7f\xff\n\tz";
	assert_string_equal(reply_str(CONTROL_UNKNOWN, evil, sizeof(evil) - 1, NULL),
			    "{\"ok\":false,\"error\":\"unknown command 'a?b?c??[2J????z'\"}\n");
	/* Truncated at CONTROL_ECHO_MAX bytes, marked with "...". */
	char longl[CONTROL_LINE_MAX];
	memset(longl, 'q', sizeof(longl));
	reply_str(CONTROL_UNKNOWN, longl, sizeof(longl), NULL);
	char want[128];
	snprintf(want, sizeof(want), "{\"ok\":false,\"error\":\"unknown command '%.*s...'\"}\n",
		 (int)CONTROL_ECHO_MAX, longl);
	assert_string_equal(out, want);
	/* Exactly CONTROL_ECHO_MAX bytes: no marker. */
	reply_str(CONTROL_UNKNOWN, longl, CONTROL_ECHO_MAX, NULL);
	assert_null(strstr(out, "..."));
}

static void test_reply_too_long(void **state)
{
	(void)state;
	size_t n = control_reply_too_long(out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "{\"ok\":false,\"error\":\"line longer than 256 bytes\"}\n");
}

/* ---- the socket over a real event loop ------------------------------------------------------ */

struct fixture {
	char dir[64], path[96];
	struct evloop loop;
	struct control ctl;
	unsigned stops, infos;
};

static void fx_info(void *ctx, struct control_info *info)
{
	struct fixture *f = ctx;
	f->infos++;
	*info = (struct control_info){
	    .pid = 7, .uptime_ms = 9, .vcpus = 1, .mem_mib = 32, .cid = -1, .boot_ms = -1};
}

static void fx_stop(void *ctx)
{
	struct fixture *f = ctx;
	f->stops++;
	evloop_stop(&f->loop);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/flint-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/c.sock", f->dir);
	assert_int_equal(evloop_init(&f->loop), 0);
	struct control_hooks hooks = {.ctx = f, .info = fx_info, .stop = fx_stop};
	assert_int_equal(control_init(&f->ctl, f->path, &f->loop, &hooks), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	control_destroy(&f->ctl);
	evloop_destroy(&f->loop);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int fx_connect(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, f->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Everything the server sent until it closed (or 2 s passed), as a string. */
static char *fx_read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (got == cap - 1 || poll(&p, 1, 2000) <= 0)
			break;
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return buf;
}

static void test_socket_mode_and_removal(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	control_destroy(&f->ctl);
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	control_destroy(&f->ctl); /* twice is harmless */
}

/* A client's lines are answered in order; stop replies, then ends the loop; nothing after it. */
static void test_socket_lines_and_stop(void **state)
{
	struct fixture *f = *state;
	int fd = fx_connect(f);
	static const char req[] = "ping\nstatus\nfrob\nstop\nping\n";
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	assert_int_equal(evloop_run(&f->loop), 0);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->infos, 1);
	control_destroy(&f->ctl); /* as flint-vmm's exit does: the replies outlive the close */
	char buf[1024];
	assert_string_equal(
	    fx_read_all(fd, buf, sizeof(buf)),
	    "{\"ok\":true}\n"
	    "{\"ok\":true,\"state\":\"running\",\"pid\":7,\"uptime_ms\":9,\"vcpus\":1,"
	    "\"mem_mib\":32,\"cid\":null,\"boot_ms\":null" NET_NULLS
	    "{\"ok\":false,\"error\":\"unknown command 'frob'\"}\n"
	    "{\"ok\":true}\n");
	close(fd);
}

/* A line longer than CONTROL_LINE_MAX: the error, then the client is closed (EOF, not a reset). */
static void test_socket_long_line(void **state)
{
	struct fixture *f = *state;
	int fd = fx_connect(f);
	char line[301];
	memset(line, 'a', 300);
	line[300] = '\n';
	assert_int_equal(write(fd, line, sizeof(line)), (ssize_t)sizeof(line));
	int stopper = fx_connect(f);
	assert_int_equal(write(stopper, "stop\n", 5), 5);
	assert_int_equal(evloop_run(&f->loop), 0);
	char buf[512];
	assert_string_equal(fx_read_all(fd, buf, sizeof(buf)),
			    "{\"ok\":false,\"error\":\"line longer than 256 bytes\"}\n");
	close(fd);
	close(stopper);
}

/* 256 bytes before the newline is still a line. */
static void test_socket_line_at_limit(void **state)
{
	struct fixture *f = *state;
	int fd = fx_connect(f);
	char line[CONTROL_LINE_MAX + 1 + 5];
	memset(line, 'b', CONTROL_LINE_MAX);
	memcpy(line + CONTROL_LINE_MAX, "\nstop\n", 6);
	assert_int_equal(write(fd, line, sizeof(line)), (ssize_t)sizeof(line));
	assert_int_equal(evloop_run(&f->loop), 0);
	control_destroy(&f->ctl);
	char buf[512];
	fx_read_all(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "unknown command 'bbbb"));
	assert_non_null(strstr(buf, "...'\"}\n{\"ok\":true}\n"));
	close(fd);
}

/* Nine at once: eight are served, the ninth is accepted and closed at once. */
static void test_socket_client_limit(void **state)
{
	struct fixture *f = *state;
	int fd[CONTROL_CLIENTS_MAX + 1];
	for (unsigned i = 0; i <= CONTROL_CLIENTS_MAX; i++)
		fd[i] = fx_connect(f);
	/* The first eight each ask; the last of them stops the loop once all are answered. */
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX; i++)
		assert_int_equal(write(fd[i], "ping\n", 5), 5);
	assert_int_equal(write(fd[CONTROL_CLIENTS_MAX - 1], "stop\n", 5), 5);
	assert_int_equal(evloop_run(&f->loop), 0);
	char buf[256];
	/* The ninth: EOF with nothing said (read before the rest are closed). */
	assert_string_equal(fx_read_all(fd[CONTROL_CLIENTS_MAX], buf, sizeof(buf)), "");
	control_destroy(&f->ctl);
	for (unsigned i = 0; i < CONTROL_CLIENTS_MAX - 1; i++) {
		/* The loop stopped at the stop; earlier clients may or may not have been served. */
		fx_read_all(fd[i], buf, sizeof(buf));
		assert_true(strcmp(buf, "") == 0 || strcmp(buf, "{\"ok\":true}\n") == 0);
	}
	fx_read_all(fd[CONTROL_CLIENTS_MAX - 1], buf, sizeof(buf));
	assert_string_equal(buf, "{\"ok\":true}\n{\"ok\":true}\n");
	for (unsigned i = 0; i <= CONTROL_CLIENTS_MAX; i++)
		close(fd[i]);
}

/* ---- setup errors ---------------------------------------------------------------------------- */

static void test_init_errors(void **state)
{
	struct fixture *f = *state;
	struct control c2;
	struct control_hooks hooks = {.ctx = f, .info = fx_info, .stop = fx_stop};
	/* A live one: refused, and left alone. */
	assert_int_equal(control_init(&c2, f->path, &f->loop, &hooks), -EADDRINUSE);
	control_destroy(&c2);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	/* A regular file: refused, and left alone. */
	char file[128];
	snprintf(file, sizeof(file), "%s/file", f->dir);
	int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(control_init(&c2, file, &f->loop, &hooks), -EEXIST);
	control_destroy(&c2);
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(file);
	/* No such directory; too long; empty. */
	char path[256];
	snprintf(path, sizeof(path), "%s/none/c.sock", f->dir);
	assert_int_equal(control_init(&c2, path, &f->loop, &hooks), -ENOENT);
	control_destroy(&c2);
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	path[CONTROL_PATH_MAX + 1] = '\0';
	assert_int_equal(control_init(&c2, path, &f->loop, &hooks), -ENAMETOOLONG);
	control_destroy(&c2);
	assert_int_equal(control_init(&c2, "", &f->loop, &hooks), -ENAMETOOLONG);
	control_destroy(&c2);
}

/* A socket nobody listens on (a dead flint-vmm's) is replaced. */
static void test_init_replaces_stale(void **state)
{
	struct fixture *f = *state;
	char stale[128];
	snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, stale);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* bound, never listening, closed: stale */
	struct control c2;
	struct control_hooks hooks = {.ctx = f, .info = fx_info, .stop = fx_stop};
	assert_int_equal(control_init(&c2, stale, &f->loop, &hooks), 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	control_destroy(&c2);
	assert_int_equal(access(stale, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_reply_ok),
	    cmocka_unit_test(test_reply_status),
	    cmocka_unit_test(test_reply_status_net),
	    cmocka_unit_test(test_reply_status_hostile_text),
	    cmocka_unit_test(test_reply_status_longest),
	    cmocka_unit_test(test_reply_unknown),
	    cmocka_unit_test(test_reply_too_long),
	    cmocka_unit_test_setup_teardown(test_socket_mode_and_removal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_lines_and_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_long_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_line_at_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_client_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_replaces_stale, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
