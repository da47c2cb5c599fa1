/* Unit tests for host/control.c: the status parser, and requests against fake servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../host/control.h"

#define GOOD                                                                                       \
	"{\"ok\":true,\"state\":\"running\",\"pid\":4242,\"uptime_ms\":1500,\"vcpus\":2,"          \
	"\"mem_mib\":256,\"cid\":3,\"boot_ms\":812}"

static void test_parse_good(void **state)
{
	(void)state;
	struct control_status st;
	assert_int_equal(control_parse_status(GOOD, &st), 0);
	assert_string_equal(st.state, "running");
	assert_int_equal(st.pid, 4242);
	assert_int_equal(st.uptime_ms, 1500);
	assert_int_equal(st.vcpus, 2);
	assert_int_equal(st.mem_mib, 256);
	assert_int_equal(st.cid, 3);
	assert_int_equal(st.boot_ms, 812);
	/* No net_ keys (a flint-vmm from before them): -1 and "". */
	assert_int_equal(st.net_rx_packets, -1);
	assert_int_equal(st.net_rx_bytes, -1);
	assert_int_equal(st.net_tx_packets, -1);
	assert_int_equal(st.net_tx_bytes, -1);
	assert_int_equal(st.net_rx_dropped, -1);
	assert_int_equal(st.net_tx_dropped, -1);
	assert_int_equal(st.net_denied, -1);
	assert_string_equal(st.net_last_denied, "");

	assert_int_equal(control_parse_status("{\"ok\":true,\"state\":\"running\",\"pid\":1,"
					      "\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,"
					      "\"cid\":null,\"boot_ms\":null}",
					      &st),
			 0);
	assert_int_equal(st.cid, -1);
	assert_int_equal(st.boot_ms, -1);

	/* Any key order; unknown keys with simple values are skipped (a newer flint-vmm). */
	assert_int_equal(control_parse_status("{\"boot_ms\":5,\"cid\":9,\"mem_mib\":64,\"vcpus\":8,"
					      "\"future\":\"x y\",\"flag\":false,\"n\":12,"
					      "\"uptime_ms\":9223372036854775807,\"pid\":7,"
					      "\"state\":\"running\",\"ok\":true,\"z\":null}",
					      &st),
			 0);
	assert_int_equal(st.vcpus, 8);
	assert_int_equal(st.uptime_ms, INT64_MAX);
}

#define NET_NULL                                                                                   \
	",\"net_rx_packets\":null,\"net_rx_bytes\":null,\"net_tx_packets\":null,\"net_tx_bytes\":" \
	"null,\"net_rx_dropped\":null,\"net_tx_dropped\":null,\"net_denied\":null,\"net_last_"     \
	"denied\":null}"
#define HEAD                                                                                       \
	"{\"ok\":true,\"state\":\"running\",\"pid\":4242,\"uptime_ms\":1500,\"vcpus\":2,"          \
	"\"mem_mib\":256,\"cid\":3,\"boot_ms\":812"

/* The network's keys: counters and the latest denial, null without --net. */
static void test_parse_net(void **state)
{
	(void)state;
	struct control_status st;
	assert_int_equal(
	    control_parse_status(
		HEAD ",\"net_rx_packets\":10,\"net_rx_bytes\":2048,\"net_tx_packets\":12,"
		     "\"net_tx_bytes\":1900,\"net_rx_dropped\":1,\"net_tx_dropped\":2,"
		     "\"net_denied\":3,\"net_last_denied\":\"tcp 192.168.1.5:80 (private range)\"}",
		&st),
	    0);
	assert_int_equal(st.pid, 4242);
	assert_int_equal(st.net_rx_packets, 10);
	assert_int_equal(st.net_rx_bytes, 2048);
	assert_int_equal(st.net_tx_packets, 12);
	assert_int_equal(st.net_tx_bytes, 1900);
	assert_int_equal(st.net_rx_dropped, 1);
	assert_int_equal(st.net_tx_dropped, 2);
	assert_int_equal(st.net_denied, 3);
	assert_string_equal(st.net_last_denied, "tcp 192.168.1.5:80 (private range)");

	/* All null: no network device. */
	assert_int_equal(control_parse_status(HEAD NET_NULL, &st), 0);
	assert_int_equal(st.net_rx_packets, -1);
	assert_int_equal(st.net_tx_dropped, -1);
	assert_int_equal(st.net_denied, -1);
	assert_string_equal(st.net_last_denied, "");

	/* A network without denials; some keys missing; any order. */
	char line[512], text[CONTROL_DENIED_MAX];
	snprintf(line, sizeof(line), "{\"net_last_denied\":null,\"net_denied\":0,%s}", HEAD + 1);
	assert_int_equal(control_parse_status(line, &st), 0);
	assert_int_equal(st.net_denied, 0);
	assert_int_equal(st.net_rx_packets, -1);
	assert_string_equal(st.net_last_denied, "");

	/* The longest text flint-vmm sends (95 bytes) fits. */
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	snprintf(line, sizeof(line), HEAD ",\"net_last_denied\":\"%s\"}", text);
	assert_int_equal(control_parse_status(line, &st), 0);
	assert_string_equal(st.net_last_denied, text);

	static const char *const bad[] = {
	    HEAD ",\"net_denied\":-1}",
	    HEAD ",\"net_denied\":\"3\"}",
	    HEAD ",\"net_denied\":1,\"net_denied\":2}",
	    HEAD ",\"net_rx_bytes\":1.5}",
	    HEAD ",\"net_rx_bytes\":9223372036854775808}",
	    HEAD ",\"net_last_denied\":3}",
	    HEAD ",\"net_last_denied\":true}",
	    HEAD ",\"net_last_denied\":\"a\\\"b\"}",
	    HEAD ",\"net_last_denied\":\"a\\\\b\"}",
	    HEAD ",\"net_last_denied\":\"a\tb\"}",
	    HEAD ",\"net_last_denied\":\"x\",\"net_last_denied\":null}",
	    HEAD ",\"net_last_denied\":\"unterminated}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (control_parse_status(bad[i], &st) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
	/* One byte longer than flint-vmm ever sends: refused, not cut. */
	snprintf(line, sizeof(line), HEAD ",\"net_last_denied\":\"%sx\"}", text);
	assert_int_equal(control_parse_status(line, &st), -EPROTO);
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "{}",
	    "{\"ok\":false,\"error\":\"unknown command 'status'\"}",
	    /* each required field missing */
	    "{\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,\"cid\":3,"
	    "\"boot_ms\":1}",
	    "{\"ok\":true,\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,\"cid\":3,\"boot_"
	    "ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,\"cid\":"
	    "3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3}",
	    /* wrong types, nulls where not allowed, numbers out of form */
	    "{\"ok\":\"true\",\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_"
	    "mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":1,\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,\"cid\":"
	    "3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":null,\"uptime_ms\":0,\"vcpus\":1,\"mem_"
	    "mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":-1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":01,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1.5,\"uptime_ms\":0,\"vcpus\":1,\"mem_"
	    "mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1e3,\"uptime_ms\":0,\"vcpus\":1,\"mem_"
	    "mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":9223372036854775808,"
	    "\"vcpus\":1,\"mem_mib\":32,\"cid\":3,\"boot_ms\":1}",
	    /* duplicates, junk, nesting, whitespace, escapes, truncation */
	    "{\"ok\":true,\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,"
	    "\"mem_mib\":32,\"cid\":3,\"boot_ms\":1}",
	    GOOD "x",
	    GOOD "\n",
	    "{\"ok\":true,\"x\":{},\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,"
	    "\"mem_mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"x\":[1],\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,"
	    "\"mem_mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{ "
	    "\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"run\\\"ning\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_"
	    "mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"a-state-name-far-too-long\",\"pid\":1,\"uptime_ms\":0,"
	    "\"vcpus\":1,\"mem_mib\":32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1",
	    "{\"ok\":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1,}",
	    "{\"ok\":true,,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":"
	    "32,\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\" "
	    ":true,\"state\":\"running\",\"pid\":1,\"uptime_ms\":0,\"vcpus\":1,\"mem_mib\":32,"
	    "\"cid\":3,\"boot_ms\":1}",
	    "{\"ok\":tru}",
	    "{\"ok",
	    "{\"",
	    "{",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct control_status st;
		if (control_parse_status(bad[i], &st) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
	}
	/* Every prefix of a good reply is refused, and none is read past. */
	char buf[sizeof(GOOD)];
	for (size_t n = 0; n < sizeof(GOOD) - 1; n++) {
		struct control_status st;
		memcpy(buf, GOOD, n);
		buf[n] = '\0';
		assert_int_equal(control_parse_status(buf, &st), -EPROTO);
	}
}

/* ---- requests against fake servers ------------------------------------------------------------
 */

static char dir[64], path[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/flint-ctlc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static int listen_at(const char *p, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, p);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

enum fake { FAKE_ECHO, FAKE_CLOSE, FAKE_LONG, FAKE_SPLIT };

/* A child that accepts one client, reads its line and answers as told. */
static pid_t fake_server(int lfd, enum fake how)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	int fd = accept(lfd, NULL, NULL);
	char line[512];
	ssize_t n = read(fd, line, sizeof(line) - 1);
	if (n <= 0)
		_exit(1);
	line[n] = '\0';
	switch (how) {
	case FAKE_ECHO: { /* "you said <line>" */
		char r[600];
		int k = snprintf(r, sizeof(r), "said %s", line);
		if (write(fd, r, (size_t)k) != k)
			_exit(1);
		break;
	}
	case FAKE_CLOSE:
		if (write(fd, "{\"ok\":tr", 8) != 8)
			_exit(1);
		break;
	case FAKE_LONG: {
		char r[300];
		memset(r, 'l', sizeof(r));
		r[sizeof(r) - 1] = '\n';
		if (write(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
		break;
	}
	case FAKE_SPLIT: /* a reply in three writes */
		for (const char *p = "{\"ok\"|:tr|ue}\n"; *p;) {
			const char *bar = strchr(p, '|');
			size_t k = bar ? (size_t)(bar - p) : strlen(p);
			if (write(fd, p, k) != (ssize_t)k)
				_exit(1);
			p += k + (bar ? 1 : 0);
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		break;
	}
	close(fd);
	_exit(0);
}

static void reap(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_request_replies(void **state)
{
	(void)state;
	char reply[64];
	int lfd = listen_at(path, 4);
	pid_t pid = fake_server(lfd, FAKE_ECHO);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 5000), 0);
	assert_string_equal(reply, "said ping"); /* the '\n' sent, and taken off the reply */
	reap(pid);

	pid = fake_server(lfd, FAKE_SPLIT);
	assert_int_equal(control_request(path, "status", reply, sizeof(reply), 5000), 0);
	assert_string_equal(reply, "{\"ok\":true}");
	reap(pid);

	pid = fake_server(lfd, FAKE_CLOSE);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 5000), -ECONNRESET);
	reap(pid);

	pid = fake_server(lfd, FAKE_LONG);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 5000), -EMSGSIZE);
	reap(pid);
	close(lfd);
}

static void test_request_errors(void **state)
{
	(void)state;
	char reply[64];
	/* Nothing there. */
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 1000), -ENOENT);
	/* A socket nobody listens on: a dead flint-vmm's. */
	int fd = listen_at(path, -1);
	close(fd);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 1000), -ECONNREFUSED);
	unlink(path);
	/* Listening, never answering: the timeout, measured. */
	fd = listen_at(path, 4);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(control_request(path, "ping", reply, sizeof(reply), 200), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190 && ms < 2000);
	close(fd);
	/* Bad commands never reach the socket. */
	char big[CONTROL_CMD_MAX + 2];
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(control_request(path, big, reply, sizeof(reply), 100), -EINVAL);
	assert_int_equal(control_request(path, "ping\nstop", reply, sizeof(reply), 100), -EINVAL);
	assert_int_equal(control_request(path, "ping", reply, 0, 100), -EINVAL);
	/* A path that cannot be a socket address. */
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(control_request(longp, "ping", reply, sizeof(reply), 100), -ENAMETOOLONG);
}

int main(void)
{
	/* A server that went away must not kill the caller (send uses MSG_NOSIGNAL; belt and
	 * braces). */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_net),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test_setup_teardown(test_request_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
