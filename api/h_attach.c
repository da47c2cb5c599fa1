/*
 * Attach (a flint extension): an HTTP connection upgraded to the agent protocol, spliced to a new
 * agent connection in the VM. The flint CLI uses it for exec with stdin, PTY shells and
 * streaming copies; the agent validates every frame, so flintd only moves bytes.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flintd.h"
#include "handlers.h"
#include "imagestore.h"
#include "log.h"
#include "metrics.h"
#include "validate.h"

#define SPLICE_BUF (64u << 10)

struct attach {
	int agent_fd;
	struct sandbox *sb; /* held while attached: its VM outlives the connection */
	struct vm *oneshot; /* /run/attach: destroyed at the end */
};

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copy both ways until both directions are closed; a half-close is passed on. */
static void splice_fds(int a, int b)
{
	char *buf = malloc(SPLICE_BUF);
	if (!buf)
		return;
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	bool open_[2] = { true, true };
	while (open_[0] || open_[1]) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!open_[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = recv(p[i].fd, buf, SPLICE_BUF, 0);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			int other = p[1 - i].fd;
			if (n <= 0) {
				open_[i] = false;
				p[i].fd = -1;
				shutdown(other, SHUT_WR);
				if (n < 0) /* a reset: nothing more will come either way */
					open_[0] = open_[1] = false;
				continue;
			}
			if (!write_all(other, buf, (size_t)n))
				open_[0] = open_[1] = false;
		}
	}
	free(buf);
}

static void attached(int sock, const char *extra, size_t extra_len, void *arg)
{
	struct attach *at = arg;
	if (sock >= 0 && (!extra_len || write_all(at->agent_fd, extra, extra_len)))
		splice_fds(sock, at->agent_fd);
	close(at->agent_fd);
	if (at->oneshot)
		vm_destroy(at->oneshot, 0);
	if (at->sb)
		sandbox_put(at->sb);
	free(at);
}

static bool check_upgrade(struct req *rq)
{
	if (req_wants_upgrade(rq))
		return true;
	reply_error(rq, 400,
		    "This endpoint needs an upgraded connection: send 'Connection: Upgrade' and "
		    "'Upgrade: flint-agent', then speak the agent protocol (docs/agent-protocol.md)");
	return false;
}

/*
 * The image's settings must reach the client whole (flint's CLI reads up to 12 KiB of them), or
 * its commands would run without the image's User or Env: refuse rather than send less.
 */
static bool attach_settings_ok(struct req *rq, const struct vm_spec *spec, char *settings,
			       struct attach *at)
{
	if (!spec->image_digest[0] || (settings && strlen(settings) < ATTACH_SETTINGS_MAX))
		return true;
	reply_error(rq, 500,
		    settings ? "The image's settings (Env, Cmd...) are larger than the %d bytes the "
			       "attach answer carries: use /run or exec"
			     : "The image's settings could not be read (%d)",
		    ATTACH_SETTINGS_MAX);
	free(settings);
	close(at->agent_fd);
	if (at->oneshot)
		vm_destroy(at->oneshot, 0);
	if (at->sb)
		sandbox_put(at->sb);
	free(at);
	return false;
}

void h_attach(struct req *rq)
{
	if (!check_upgrade(rq))
		return;
	struct vm *vm;
	struct sandbox *sb = sandbox_for(rq, &vm);
	if (!sb)
		return;
	int fd = vm_agent_connect_raw(vm, AGENT_REQ_TIMEOUT_MS);
	struct attach *at = fd >= 0 ? calloc(1, sizeof(*at)) : NULL;
	if (!at) {
		if (fd >= 0)
			close(fd);
		metrics_count(METRIC_ERR_AGENT);
		reply_error(rq, 500, "Cannot reach the sandbox's agent: %s",
			    fd < 0 ? strerror(-fd) : "out of memory");
		sandbox_put(sb);
		return;
	}
	at->agent_fd = fd;
	at->sb = sb;
	sandbox_audit(sb, "attached", NULL);
	char *settings = imagestore_settings_json(&vm->spec);
	if (!attach_settings_ok(rq, &vm->spec, settings, at))
		return;
	reply_upgrade(rq, attached, at, settings);
	free(settings);
}

void h_run_attach(struct req *rq)
{
	if (!check_upgrade(rq))
		return;
	const char *image = req_query(rq, "image"), *profile = req_query(rq, "profile");
	const char *fast = req_query(rq, "fast");
	if (fast && strcmp(fast, "true") != 0 && strcmp(fast, "false") != 0) {
		reply_error(rq, 400, "fast must be true or false");
		return;
	}
	struct vm_spec spec;
	char err[1024];
	int status = spec_for(image, profile, 0, 0, &spec, err, sizeof(err));
	if (status) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	bool pooled;
	struct vm *vm = sandbox_boot_vm(&spec, !fast || strcmp(fast, "true") == 0, &pooled, err,
					sizeof(err), &status);
	if (!vm) {
		reply_error(rq, (unsigned)status, "%s", err);
		return;
	}
	metrics_count(pooled ? METRIC_RUNS_POOLED : METRIC_RUNS_UNPOOLED);
	int fd = vm_agent_connect_raw(vm, AGENT_REQ_TIMEOUT_MS);
	struct attach *at = fd >= 0 ? calloc(1, sizeof(*at)) : NULL;
	if (!at) {
		if (fd >= 0)
			close(fd);
		vm_destroy(vm, 0);
		reply_error(rq, 500, "Cannot reach the VM's agent: %s",
			    fd < 0 ? strerror(-fd) : "out of memory");
		return;
	}
	at->agent_fd = fd;
	at->oneshot = vm;
	char *settings = imagestore_settings_json(&vm->spec);
	if (!attach_settings_ok(rq, &vm->spec, settings, at))
		return;
	reply_upgrade(rq, attached, at, settings);
	free(settings);
}
