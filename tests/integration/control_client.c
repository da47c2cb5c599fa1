/* A small command-line client over host/control.c, for tests/integration/test_control.sh. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../host/control.h"

#define TIMEOUT_MS 5000

static int usage(void)
{
	fputs("usage: control-client PATH CMD [TIMEOUT_MS]   one request; exit status = errno\n"
	      "       control-client --status PATH          status, parsed\n"
	      "       control-client --raw PATH             send stdin, then print all until EOF\n"
	      "       control-client --clients N PATH       N clients at once, each pings\n",
	      stderr);
	return 2;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until EOF, an error or the timeout; print what came. "<EOF>" or "<reset>" or "<timeout>"
 * last. */
static void raw_drain(int fd, FILE *out)
{
	char buf[4096];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fputs("<timeout>\n", out);
			return;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			fwrite(buf, 1, (size_t)n, out);
			continue;
		}
		fputs(n == 0 ? "<EOF>\n" : "<reset>\n", out);
		return;
	}
}

static int cmd_raw(const char *path)
{
	int fd = raw_connect(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	shutdown(fd, SHUT_WR); /* flint-vmm answers every whole line, then sees EOF and closes */
	raw_drain(fd, stdout);
	close(fd);
	return 0;
}

/* All N connect first (so flint-vmm holds them together), then each pings in turn. */
static int cmd_clients(unsigned n, const char *path)
{
	int fd[64];
	if (n == 0 || n > 64)
		return usage();
	for (unsigned i = 0; i < n; i++) {
		fd[i] = raw_connect(path);
		if (fd[i] < 0) {
			perror(path);
			return 1;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		char line[256] = "";
		size_t got = 0;
		int closed = send(fd[i], "ping\n", 5, MSG_NOSIGNAL) != 5;
		while (!closed && got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
			struct pollfd p = {.fd = fd[i], .events = POLLIN};
			ssize_t k = poll(&p, 1, TIMEOUT_MS) > 0
					? read(fd[i], line + got, sizeof(line) - 1 - got)
					: -1;
			if (k <= 0)
				closed = 1;
			else
				got += (size_t)k;
		}
		line[got] = '\0';
		if (closed)
			printf("%u closed\n", i + 1);
		else
			printf("%u %s", i + 1, line);
	}
	for (unsigned i = 0; i < n; i++)
		close(fd[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--status") == 0) {
		struct control_status st;
		int r = control_status(argv[2], &st, TIMEOUT_MS);
		if (r < 0) {
			printf("error: %s\n", strerror(-r));
			return -r;
		}
		printf("state=%s pid=%lld uptime_ms=%lld vcpus=%lld mem_mib=%lld cid=%lld "
		       "boot_ms=%lld\n",
		       st.state, (long long)st.pid, (long long)st.uptime_ms, (long long)st.vcpus,
		       (long long)st.mem_mib, (long long)st.cid, (long long)st.boot_ms);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--raw") == 0)
		return cmd_raw(argv[2]);
	if (argc == 4 && strcmp(argv[1], "--clients") == 0)
		return cmd_clients((unsigned)atoi(argv[2]), argv[3]);
	if (argc < 3 || argc > 4 || argv[1][0] == '-')
		return usage();
	char reply[1024]; /* the longest status line is 560 bytes */
	int r = control_request(argv[1], argv[2], reply, sizeof(reply),
				argc == 4 ? atoi(argv[3]) : TIMEOUT_MS);
	if (r < 0) {
		printf("error: %s\n", strerror(-r));
		return -r;
	}
	printf("%s\n", reply);
	return 0;
}
