/* Unit tests for cli/upgrade.c: FLINT_URL parsing, escaping, hostile response heads, and the
 * handshake against a forked loopback server (nothing after the head may be consumed). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cli/upgrade.h"

/* ---- URLs ------------------------------------------------------------------------------------ */

static void test_url_good(void **state)
{
	struct flint_url u;
	char err[128];
	(void)state;
	assert_int_equal(flint_url_parse("http://127.0.0.1:18888", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "18888");
	assert_string_equal(u.prefix, "");
	assert_false(u.ipv6);

	assert_int_equal(flint_url_parse("HTTP://flint.example", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "flint.example");
	assert_string_equal(u.port, "80");

	assert_int_equal(flint_url_parse("http://[::1]:9/api/v1///", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "9");
	assert_string_equal(u.prefix, "/api/v1");
	assert_true(u.ipv6);

	assert_int_equal(flint_url_parse("http://h_1.local/", &u, err, sizeof(err)), 0);
	assert_string_equal(u.prefix, "");
	assert_int_equal(flint_url_parse("http://h/a%2Fb/~c", &u, err, sizeof(err)), 0);
	assert_string_equal(u.prefix, "/a%2Fb/~c");
	assert_int_equal(flint_url_parse("http://h:65535", &u, err, sizeof(err)), 0);
}

static void test_url_bad(void **state)
{
	static const char *const bad[] = {
		"https://127.0.0.1",
		"ftp://x",
		"127.0.0.1:18888",
		"",
		"http://",
		"http://:80",
		"http://h:",
		"http://h:0",
		"http://h:65536",
		"http://h:123456",
		"http://h:8a",
		"http://h:-1",
		"http://user@h",
		"http://h/?x=1",
		"http://h/#frag",
		"http://h?x",
		"http://[::1",
		"http://[::1]x",
		"http://[zz::1]",
		"http://h!x",
		"http://h/a b",
		"http://h/%4",
		"http://h/%zz",
		"http://h/a\"b",
	};
	struct flint_url u;
	char err[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (flint_url_parse(bad[i], &u, err, sizeof(err)) != -EINVAL || !err[0])
			fail_msg("accepted '%s'", bad[i]);
	}
	char longhost[400] = "http://";
	memset(longhost + 7, 'a', 300);
	longhost[307] = '\0';
	assert_int_equal(flint_url_parse(longhost, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(flint_url_parse("https://x", &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "https"));
}

static void test_escape(void **state)
{
	char out[32];
	(void)state;
	assert_int_equal(flint_url_escape("box-1_a.b~", out, sizeof(out)), 10);
	assert_string_equal(out, "box-1_a.b~");
	assert_int_equal(flint_url_escape("a/b c?&=%", out, sizeof(out)), 21);
	assert_string_equal(out, "a%2Fb%20c%3F%26%3D%25");
	assert_int_equal(flint_url_escape("\xc3\xa9", out, sizeof(out)), 6);
	assert_string_equal(out, "%C3%A9");
	assert_int_equal(flint_url_escape("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* Exactly full, and one over. */
	assert_int_equal(flint_url_escape("abc", out, 4), 3);
	assert_int_equal(flint_url_escape("abcd", out, 4), -ENAMETOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(flint_url_escape("a/", out, 4), -ENAMETOOLONG);
}

/* ---- heads ----------------------------------------------------------------------------------- */

static int parse(const char *head, struct upgrade_head *h, char *err, size_t cap)
{
	return upgrade_parse_head(head, strlen(head), h, err, cap);
}

static void test_head_end(void **state)
{
	(void)state;
	assert_int_equal(upgrade_head_end("HTTP/1.1 101 X\r\n\r\nAGENT", 23), 18);
	assert_int_equal(upgrade_head_end("HTTP/1.1 101 X\r\n\r", 17), 0);
	assert_int_equal(upgrade_head_end("HTTP/1.1 101 X\n\n", 16), 0);
	assert_int_equal(upgrade_head_end("\r\n\r\n", 4), 4);
	assert_int_equal(upgrade_head_end("", 0), 0);
}

static void test_head_101(void **state)
{
	struct upgrade_head h;
	char err[128];
	(void)state;
	assert_int_equal(parse("HTTP/1.1 101 Switching Protocols\r\n"
			       "upgrade:  Flint-Agent \r\n"
			       "Connection: keep-alive, Upgrade\r\n"
			       "X-Other: \t\r\n"
			       "\r\n",
			       &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.status, 101);
	assert_int_equal(h.minor, 1);
	assert_string_equal(h.reason, "Switching Protocols");
	assert_true(h.upgrade);
	assert_true(h.conn_upgrade);
	assert_int_equal(h.content_length, -1);
	assert_false(h.chunked);

	/* Another protocol is not ours; a reason is optional. */
	assert_int_equal(parse("HTTP/1.1 101\r\nUpgrade: websocket\r\n\r\n", &h, err, sizeof(err)),
			 0);
	assert_false(h.upgrade);
	assert_string_equal(h.reason, "");
	assert_int_equal(parse("HTTP/1.1 101 \r\nUpgrade: flint-agent, h2c\r\n\r\n", &h, err,
			       sizeof(err)),
			 0);
	assert_false(h.upgrade);
}

static void test_head_error_body(void **state)
{
	struct upgrade_head h;
	char err[128];
	(void)state;
	assert_int_equal(parse("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
			       "Content-Length: 48\r\ncontent-length: 48\r\n\r\n",
			       &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.status, 404);
	assert_int_equal(h.content_length, 48);
	assert_int_equal(parse("HTTP/1.0 401 Unauthorized \xff\r\nContent-Length: 0\r\n\r\n", &h,
			       err, sizeof(err)),
			 0);
	assert_int_equal(h.minor, 0);
	assert_int_equal(h.content_length, 0);
	assert_string_equal(h.reason, "Unauthorized ?");
	assert_int_equal(parse("HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n", &h, err,
			       sizeof(err)),
			 0);
	assert_true(h.chunked);
	assert_int_equal(parse("HTTP/1.1 502 X\r\nContent-Length: 999999999999999999\r\n\r\n",
			       &h, err, sizeof(err)),
			 0);
	assert_int_equal(h.content_length, 999999999999999999LL);
}

static void test_head_hostile(void **state)
{
	static const char *const bad[] = {
		/* status lines */
		"\r\n\r\n",
		"HTTP/2 101 X\r\n\r\n",
		"HTTP/1.2 101 X\r\n\r\n",
		"HTTP/1.1 1a1 X\r\n\r\n",
		"HTTP/1.1 101X\r\n\r\n",
		"HTTP/1.1 10\r\n\r\n",
		"HTTP/1.1  101 X\r\n\r\n",
		"http/1.1 101 X\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 101 A\x01Z\r\n\r\n",
		"HTTP/1.1 101 A\rB\r\n\r\n",
		/* header lines */
		"HTTP/1.1 101 X\r\nNoColon\r\n\r\n",
		"HTTP/1.1 101 X\r\n: empty-name\r\n\r\n",
		"HTTP/1.1 101 X\r\nUpgrade : flint-agent\r\n\r\n",
		"HTTP/1.1 101 X\r\nUp(grade): flint-agent\r\n\r\n",
		"HTTP/1.1 101 X\r\nUpgrade: flint-agent\r\n folded\r\n\r\n",
		"HTTP/1.1 101 X\r\n\tUpgrade: flint-agent\r\n\r\n",
		"HTTP/1.1 101 X\r\nX: a\nb\r\n\r\n",
		"HTTP/1.1 101 X\r\nUpgrade: flint-agent\r\nUpgrade: flint-agent\r\n\r\n",
		"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nupgrade: flint-agent\r\n\r\n",
		/* Content-Length */
		"HTTP/1.1 404 X\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: +5\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 5, 5\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 0x10\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 1 2\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 1000000000000000000\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 404 X\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		/* framing */
		"HTTP/1.1 101 X\r\n\r",
		"HTTP/1.1 101 X\r\n",
		"HTTP/1.1 101 X\r\n\r\nextra",
		"HTTP/1.1 101 X\r\n\r\n\r\n",
	};
	struct upgrade_head h;
	char err[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse(bad[i], &h, err, sizeof(err)) != -EPROTO || !err[0])
			fail_msg("accepted head %zu: '%s'", i, bad[i]);
	}
	/* A NUL inside a value. */
	static const char nul[] = "HTTP/1.1 101 X\r\nUpgrade: flint\0agent\r\n\r\n";
	assert_int_equal(upgrade_parse_head(nul, sizeof(nul) - 1, &h, err, sizeof(err)), -EPROTO);
}

static void test_head_limits(void **state)
{
	struct upgrade_head h;
	char err[128];
	(void)state;
	/* 100 header lines are fine, 101 are not. */
	size_t cap = 8192, n;
	char *b = malloc(cap);
	for (int lines = 100; lines <= 101; lines++) {
		n = (size_t)snprintf(b, cap, "HTTP/1.1 101 X\r\n");
		for (int i = 0; i < lines; i++)
			n += (size_t)snprintf(b + n, cap - n, "X-%d: v\r\n", i);
		n += (size_t)snprintf(b + n, cap - n, "\r\n");
		assert_int_equal(upgrade_parse_head(b, n, &h, err, sizeof(err)),
				 lines == 100 ? 0 : -EPROTO);
	}
	free(b);
	/* A head longer than the cap, well formed otherwise. */
	cap = UPGRADE_HEAD_MAX + 64;
	b = malloc(cap);
	n = (size_t)snprintf(b, cap, "HTTP/1.1 101 X\r\nX: ");
	memset(b + n, 'a', UPGRADE_HEAD_MAX);
	n += UPGRADE_HEAD_MAX;
	memcpy(b + n, "\r\n\r\n", 4);
	assert_int_equal(upgrade_parse_head(b, n + 4, &h, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "longer"));
	free(b);
}

/* ---- the handshake against a loopback server ---------------------------------------------------
 */

struct server {
	pid_t pid;
	int req_fd; /* the request the server read, sent back through a pipe */
	struct flint_url url;
};

/*
 * Fork a server on 127.0.0.1 that reads one request head, writes reply (in pieces of `step`
 * bytes when step > 0), and keeps the connection open until the client closes it.
 */
static void serve(struct server *s, const char *reply, size_t len, size_t step)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		close(p[0]);
		int fd = accept(lfd, NULL, NULL);
		char req[4096];
		size_t have = 0;
		while (have < sizeof(req) && !upgrade_head_end(req, have)) {
			ssize_t r = read(fd, req + have, sizeof(req) - have);
			if (r <= 0)
				_exit(1);
			have += (size_t)r;
		}
		if (write(p[1], req, have) != (ssize_t)have)
			_exit(1);
		close(p[1]);
		if (!len)
			_exit(0); /* closes without an answer */
		for (size_t off = 0; off < len;) {
			size_t k = step && len - off > step ? step : len - off;
			if (write(fd, reply + off, k) != (ssize_t)k)
				_exit(1);
			off += k;
			if (step)
				usleep(2000);
		}
		char sink[64];
		while (read(fd, sink, sizeof(sink)) > 0)
			;
		_exit(0);
	}
	close(lfd);
	close(p[1]);
	s->req_fd = p[0];
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/pre", ntohs(sa.sin_port));
	char err[64];
	assert_int_equal(flint_url_parse(url, &s->url, err, sizeof(err)), 0);
}

static void server_request(struct server *s, char *out, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(s->req_fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(s->req_fd);
}

static void server_done(struct server *s)
{
	int st;
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
}

/* 101 then the agent's first bytes in the same segment, or trickled: none may be lost. */
static void upgrade_keeps_agent_bytes(size_t step)
{
	static const char reply[] = "HTTP/1.1 101 Switching Protocols\r\n"
				    "Upgrade: flint-agent\r\nConnection: Upgrade\r\n\r\n"
				    "AGENT-HELLO\r\n\r\nMORE";
	struct server s;
	struct upgrade_result r;
	serve(&s, reply, sizeof(reply) - 1, step);
	int fd = upgrade_connect(&s.url, "/sandboxes/box/attach", "k3y", 5000, &r);
	assert_true(fd >= 0);
	char req[4096], got[64];
	server_request(&s, req, sizeof(req));
	assert_non_null(strstr(req, "POST /pre/sandboxes/box/attach HTTP/1.1\r\n"));
	assert_non_null(strstr(req, "\r\nHost: 127.0.0.1:"));
	assert_non_null(strstr(req, "\r\nConnection: Upgrade\r\n"));
	assert_non_null(strstr(req, "\r\nUpgrade: flint-agent\r\n"));
	assert_non_null(strstr(req, "\r\nAuthorization: Bearer k3y\r\n"));
	assert_non_null(strstr(req, "\r\nContent-Length: 0\r\n\r\n"));
	size_t n = 0;
	while (n < 19) {
		ssize_t k = read(fd, got + n, sizeof(got) - n);
		assert_true(k > 0);
		n += (size_t)k;
	}
	assert_int_equal(n, 19);
	assert_memory_equal(got, "AGENT-HELLO\r\n\r\nMORE", 19);
	close(fd);
	server_done(&s);
}

static void test_connect_101_coalesced(void **state)
{
	(void)state;
	upgrade_keeps_agent_bytes(0);
}

static void test_connect_101_trickled(void **state)
{
	(void)state;
	upgrade_keeps_agent_bytes(3);
}

static void test_connect_error_body(void **state)
{
	static const char reply[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 46\r\n\r\n"
				    "{\"success\":false,\"error\":\"Sandbox not found\"}\n";
	struct server s;
	struct upgrade_result r;
	(void)state;
	serve(&s, reply, sizeof(reply) - 1, 0);
	assert_int_equal(upgrade_connect(&s.url, "/x", NULL, 5000, &r), -EPROTO);
	char req[4096];
	server_request(&s, req, sizeof(req));
	assert_null(strstr(req, "Authorization"));
	assert_false(r.unreachable);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.reason, "Not Found");
	assert_int_equal(r.body_len, 46);
	assert_non_null(strstr(r.body, "Sandbox not found"));
	upgrade_result_free(&r);
	server_done(&s);
}

static void test_connect_hostile(void **state)
{
	struct server s;
	struct upgrade_result r;
	char req[4096];
	(void)state;
	/* No end of head within the cap. */
	size_t len = UPGRADE_HEAD_MAX + 100;
	char *junk = malloc(len);
	memcpy(junk, "HTTP/1.1 101 X\r\nX: ", 19);
	memset(junk + 19, 'a', len - 19);
	serve(&s, junk, len, 0);
	assert_int_equal(upgrade_connect(&s.url, "/x", NULL, 5000, &r), -EPROTO);
	assert_non_null(strstr(r.err, "longer than"));
	server_request(&s, req, sizeof(req));
	server_done(&s);
	free(junk);

	/* 101 without our Upgrade token. */
	static const char no_upgrade[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
	serve(&s, no_upgrade, sizeof(no_upgrade) - 1, 0);
	assert_int_equal(upgrade_connect(&s.url, "/x", NULL, 5000, &r), -EPROTO);
	assert_non_null(strstr(r.err, "Upgrade"));
	server_request(&s, req, sizeof(req));
	server_done(&s);

	/* A malformed head. */
	static const char bad_cl[] = "HTTP/1.1 404 X\r\nContent-Length: -5\r\n\r\n";
	serve(&s, bad_cl, sizeof(bad_cl) - 1, 0);
	assert_int_equal(upgrade_connect(&s.url, "/x", NULL, 5000, &r), -EPROTO);
	assert_non_null(strstr(r.err, "Content-Length"));
	server_request(&s, req, sizeof(req));
	server_done(&s);

	/* Closed before answering. */
	serve(&s, "", 0, 0);
	assert_int_equal(upgrade_connect(&s.url, "/x", NULL, 5000, &r), -ECONNRESET);
	assert_false(r.unreachable);
	server_request(&s, req, sizeof(req));
	server_done(&s);

	/* A key that would inject a header is refused before connecting. */
	assert_int_equal(upgrade_connect(&s.url, "/x", "a\r\nX: y", 5000, &r), -EINVAL);
}

static void test_connect_refused(void **state)
{
	(void)state;
	/* A port just bound and closed: nothing listens there. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	char url[64], err[64];
	struct flint_url u;
	struct upgrade_result r;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	assert_int_equal(flint_url_parse(url, &u, err, sizeof(err)), 0);
	assert_int_equal(upgrade_connect(&u, "/x", NULL, 2000, &r), -ECONNREFUSED);
	assert_true(r.unreachable);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, strerror(ECONNREFUSED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_good),
		cmocka_unit_test(test_url_bad),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_head_101),
		cmocka_unit_test(test_head_error_body),
		cmocka_unit_test(test_head_hostile),
		cmocka_unit_test(test_head_limits),
		cmocka_unit_test(test_connect_101_coalesced),
		cmocka_unit_test(test_connect_101_trickled),
		cmocka_unit_test(test_connect_error_body),
		cmocka_unit_test(test_connect_hostile),
		cmocka_unit_test(test_connect_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
