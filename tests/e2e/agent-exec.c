/*
 * agent-exec: run one command in a VM through its agent, like `docker exec`, for test scripts.
 *
 *   agent-exec VSOCK_PATH [-t SECONDS] [-i] -- COMMAND [ARG]...
 *
 * Connects to flint-vmm's vsock socket (CONNECT 1024), runs COMMAND with its stdout and stderr on
 * ours (and our stdin with -i), and exits with its status: the exit code, 128 + n for signal n,
 * 124 when -t's limit ended it, 125 when agent-exec or the agent failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/client.h"

static int usage(void)
{
	fprintf(stderr, "usage: agent-exec VSOCK_PATH [-t SECONDS] [-i] -- COMMAND [ARG]...\n");
	return 125;
}

int main(int argc, char **argv)
{
	unsigned long timeout_s = 0;
	bool in = false;
	int i = 2;

	if (argc < 4)
		return usage();
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-i") == 0)
			in = true;
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			timeout_s = strtoul(argv[++i], NULL, 10);
		else
			return usage();
	}
	if (i + 1 >= argc)
		return usage();
	signal(SIGPIPE, SIG_IGN);

	int fd = agent_client_connect_vmm(argv[1], AGENT_VSOCK_PORT, 60000);
	if (fd < 0) {
		fprintf(stderr, "agent-exec: connecting through %s: %s\n", argv[1], strerror(-fd));
		return 125;
	}
	struct agent_client c;
	int r = agent_client_init(&c, fd, "agent-exec", 60000);
	if (r < 0) {
		fprintf(stderr, "agent-exec: handshake: %s\n", strerror(-r));
		return 125;
	}
	struct agent_exec_req req = { .argv = (const char *const *)argv + i + 1,
				       .user = "root",
				       .timeout_ms = timeout_s * 1000 };
	struct agent_exec_io io = { .stdout_fd = 1, .stderr_fd = 2, .stdin_fd = in ? 0 : -1 };
	struct agent_exec_result res;
	r = agent_client_exec(&c, &req, &io, &res);
	if (r < 0 && r != -EPIPE) {
		fprintf(stderr, "agent-exec: %s: %s%s%s\n", argv[i + 1], strerror(-r),
			agent_client_last_error(&c)[0] ? ": " : "", agent_client_last_error(&c));
		agent_client_destroy(&c);
		return 125;
	}
	agent_client_destroy(&c);
	if (res.reason == AGENT_TIMEOUT)
		return 124;
	return res.signal ? 128 + (int)res.signal : res.exit_code;
}
