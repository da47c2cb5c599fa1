/* EXEC requests, and the processes behind EXECs and JOBs: spawning, streams, stdin, exit. */
#include "agent_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "agent_cmd.h"
#include "agent_conn.h"
#include "agent_req.h"
#include "agent_spawn.h"
#include "agent_stream.h"
#include "agent_sys.h"
#include "loop.h"

static struct exec *exec_list;
static unsigned exec_interactive; /* EXECs (not JOBs) alive, for EXEC_MAX */
static int exec_devnull = -1;     /* opened once: every command without stdin gets it */

/* A new PTY: the master (non-blocking) is the command's stdin and output, for us. */
static int exec_open_pty(struct exec *e, const struct cmd *cmd, int *slave)
{
	struct winsize ws = { .ws_row = (unsigned short)cmd->rows,
			      .ws_col = (unsigned short)cmd->cols };
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	char name[64];

	if (m < 0)
		return -errno;
	if (grantpt(m) != 0 || unlockpt(m) != 0 || ioctl(m, TIOCSWINSZ, &ws) != 0)
		goto fail;
	/* TIOCGPTPEER opens the slave without a path lookup (and without racing devpts). */
	*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0 && (errno == EINVAL || errno == ENOTTY) && !ptsname_r(m, name, sizeof(name)))
		*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		goto fail;
	e->pty = true;
	e->in_fd = e->out_fd[0] = m;
	return 0;
fail:;
	int err = errno;
	close(m);
	return -err;
}

/* A pipe whose end `ours` is non-blocking: the command's end must stay blocking. */
static int exec_pipe(int p[2], int ours)
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	if (fcntl(p[ours], F_SETFL, O_NONBLOCK) == 0)
		return 0;
	int err = errno;
	close(p[0]);
	close(p[1]);
	return -err;
}

static int exec_open_pipes(struct exec *e, const struct cmd *cmd, int child[3])
{
	int p[2], r, i;

	if (cmd->want_stdin) {
		r = exec_pipe(p, 1);
		if (r < 0)
			return r;
		child[0] = p[0];
		e->in_fd = p[1];
	} else {
		if (exec_devnull < 0)
			exec_devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (exec_devnull < 0)
			return -errno;
		child[0] = exec_devnull;
	}
	for (i = 0; i < 2; i++) {
		r = exec_pipe(p, 0);
		if (r < 0)
			return r;
		e->out_fd[i] = p[0];
		child[i + 1] = p[1];
	}
	return 0;
}

static const char *exec_step_name(enum spawn_step s)
{
	switch (s) {
	case SPAWN_CLONE: return "fork";
	case SPAWN_USER: return "switch to user";
	case SPAWN_SETSID: return "setsid";
	case SPAWN_TTY: return "make the PTY the controlling terminal";
	case SPAWN_STDIO: return "set up stdio";
	case SPAWN_CHDIR: return "chdir";
	case SPAWN_EXEC: return "exec";
	}
	return "start";
}

static int64_t exec_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

struct exec *exec_launch(struct conn *c, const struct agent_frame *f, struct job *job)
{
	int child[3] = { -1, -1, -1 }, i, r;
	struct cmd cmd;
	struct spawn_req sr;
	enum spawn_step step;
	struct exec *e;
	pid_t pid;

	if (!job && exec_interactive >= EXEC_MAX) {
		conn_error(c, f->id, EAGAIN, "EXEC: %u commands are running already", EXEC_MAX);
		return NULL;
	}
	if (cmd_parse(c, f, !job, &cmd) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e) {
		cmd_free(&cmd);
		conn_error(c, f->id, ENOMEM, "%s: out of memory", agent_type_name(f->type));
		return NULL;
	}
	e->in_fd = e->out_fd[0] = e->out_fd[1] = e->pty_held = -1;
	r = cmd.pty ? exec_open_pty(e, &cmd, &child[0]) : exec_open_pipes(e, &cmd, child);
	if (cmd.pty)
		child[1] = child[2] = child[0];
	if (r == 0)
		r = stream_watch(e);
	if (r < 0) {
		conn_error(c, f->id, -r, "%s: %s", cmd.pty ? "PTY" : "pipes", strerror(-r));
		goto fail;
	}
	sr = (struct spawn_req){ .argv = cmd.argv, .envp = cmd.envp, .cwd = cmd.cwd,
				 .cwd_fallback = cmd.cwd_default, .drop = cmd.drop, .uid = cmd.uid, .gid = cmd.gid,
				 .ctty = cmd.pty, .fd = { child[0], child[1], child[2] } };
	/* Before it runs: an OOM kill of it must count as "while it ran". */
	e->oom_start = sys_oom_kills();
	pid = spawn_run(&sr, &step);
	if (pid < 0) {
		const char *what = step == SPAWN_CHDIR ? cmd.cwd
				   : step == SPAWN_EXEC	 ? cmd.argv[0]
							 : NULL;

		if (what)
			conn_error(c, f->id, -pid, "%s %s: %s", exec_step_name(step), what,
				   strerror(-pid));
		else
			conn_error(c, f->id, -pid, "%s: %s", exec_step_name(step), strerror(-pid));
		goto fail;
	}
	for (i = 0; i < 3; i++)
		if (child[i] >= 0 && child[i] != exec_devnull && (i == 0 || child[i] != child[0]))
			close(child[i]);
	cmd_free(&cmd);
	e->pid = pid;
	e->conn = job ? NULL : c;
	e->job = job;
	e->id = f->id;
	if (cmd.timeout_ms)
		e->timeout_at = exec_now() + (int64_t)(cmd.timeout_ms > INT64_MAX / 2000000 ?
						       INT64_MAX / 2 : cmd.timeout_ms * 1000000);
	e->next = exec_list;
	exec_list = e;
	if (!job) {
		exec_interactive++;
		size_t at = conn_begin(c, AGENT_STARTED, 0, f->id);
		agent_put_u32(&c->out, ATAG_PID, (uint32_t)pid);
		if (conn_end(c, at) != 0)
			conn_close(c); /* kills it: a command nobody hears of must not run */
	}
	return e;
fail:
	for (i = 0; i < 3; i++)
		if (child[i] >= 0 && child[i] != exec_devnull && (i == 0 || child[i] != child[0]))
			close(child[i]);
	stream_close_all(e);
	free(e);
	cmd_free(&cmd);
	return NULL;
}

void exec_req(struct conn *c, const struct agent_frame *f)
{
	exec_launch(c, f, NULL);
}

static struct exec *exec_find(struct conn *c, const struct agent_frame *f)
{
	struct exec *e;

	for (e = exec_list; e; e = e->next)
		if (!e->dead && e->conn == c && e->id == f->id)
			return e;
	conn_error(c, f->id, ESRCH, "%s: no command runs with id %u", agent_type_name(f->type),
		   f->id);
	return NULL;
}

void exec_req_stdin(struct conn *c, const struct agent_frame *f)
{
	struct exec *e = exec_find(c, f);
	struct agent_field data = { .len = 0 };
	size_t need;

	if (!e || req_bytes(c, f, ATAG_DATA, &data, false) < 0)
		return;
	if (e->in_eof || e->in_fd < 0) {
		conn_error(c, f->id, e->in_eof || e->pty ? EPIPE : EINVAL,
			   e->in_eof || e->pty ? "stdin of command %u is closed"
						: "command %u was started without STDIN", f->id);
		return;
	}
	need = data.len + ((f->flags & AGENT_F_EOF) && e->pty);
	if (e->in_off && e->in_len + need > EXEC_STDIN_MAX) {
		memmove(e->in_buf, e->in_buf + e->in_off, e->in_len - e->in_off);
		e->in_len -= e->in_off;
		e->in_off = 0;
	}
	if (need) {
		uint8_t *p = realloc(e->in_buf, e->in_len + need);

		if (!p) {
			conn_error(c, f->id, ENOMEM, "EXEC_STDIN: out of memory");
			return;
		}
		e->in_buf = p;
		if (data.len)
			memcpy(p + e->in_len, data.val, data.len);
		e->in_len += data.len;
	}
	if (f->flags & AGENT_F_EOF) {
		e->in_eof = true;
		/* A PTY has no end of input to close: ^D (VEOF) is what a terminal would send. */
		if (e->pty)
			e->in_buf[e->in_len++] = 0x04;
	}
}

void exec_req_signal(struct conn *c, const struct agent_frame *f)
{
	struct exec *e = exec_find(c, f);
	uint32_t sig;

	if (!e || req_u32(c, f, ATAG_SIGNAL, &sig, true) < 0)
		return;
	if (sig == 0 || sig >= _NSIG) {
		conn_error(c, f->id, EINVAL, "EXEC_SIGNAL: no signal %u", sig);
		return;
	}
	/* ESRCH once it has ended: the signal came too late, EXIT is on its way. */
	if (exec_kill(e, (int)sig) != 0 && !(errno == ESRCH && e->reaped))
		conn_error(c, f->id, errno, "EXEC_SIGNAL %u: %s", sig, strerror(errno));
}

void exec_req_resize(struct conn *c, const struct agent_frame *f)
{
	struct exec *e = exec_find(c, f);
	uint32_t rows, cols;
	struct winsize ws;

	if (!e || req_u32(c, f, ATAG_PTY_ROWS, &rows, true) < 0 ||
	    req_u32(c, f, ATAG_PTY_COLS, &cols, true) < 0)
		return;
	if (!e->pty || e->in_fd < 0) {
		conn_error(c, f->id, ENOTTY, "EXEC_RESIZE: command %u has no PTY", f->id);
		return;
	}
	if (!rows || !cols || rows > 0xffff || cols > 0xffff) {
		conn_error(c, f->id, EINVAL, "EXEC_RESIZE: %ux%u is no size", rows, cols);
		return;
	}
	ws = (struct winsize){ .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	/* The kernel sends SIGWINCH to the terminal's foreground process group itself. */
	if (ioctl(e->in_fd, TIOCSWINSZ, &ws) != 0)
		conn_error(c, f->id, errno, "EXEC_RESIZE: %s", strerror(errno));
}

int exec_kill(struct exec *e, int sig)
{
	if (e->pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	if (sig == SIGKILL)
		e->killed = true;
	return kill(-e->pid, sig);
}

void exec_conn_closed(struct conn *c)
{
	struct exec *e;

	for (e = exec_list; e; e = e->next) {
		if (e->dead || e->conn != c)
			continue;
		exec_kill(e, SIGKILL);
		stream_close_all(e);
		e->conn = NULL;
		e->dead = true; /* its pid, once reaped, is just another orphan's */
	}
}

bool exec_stdin_full(const struct conn *c)
{
	const struct exec *e;

	for (e = exec_list; e; e = e->next)
		if (!e->dead && e->conn == c && e->in_len - e->in_off >= EXEC_STDIN_MAX)
			return true;
	return false;
}

bool exec_reaped(pid_t pid, int wstatus)
{
	struct exec *e;

	for (e = exec_list; e; e = e->next) {
		if (e->dead || e->reaped || e->pid != pid)
			continue;
		e->reaped = true;
		e->wstatus = wstatus;
		e->timeout_at = 0;
		/* Output still open: others (its children) hold it; they get a short grace. */
		if (e->out_fd[0] >= 0 || e->out_fd[1] >= 0)
			e->drain_at = exec_now() + EXEC_DRAIN_GRACE_NS;
		return true;
	}
	return false;
}

void exec_service_all(int64_t now)
{
	struct exec *e;

	for (e = exec_list; e; e = e->next)
		if (!e->dead)
			stream_service(e, now);
}

bool exec_work_pending(void)
{
	const struct exec *e;

	for (e = exec_list; e; e = e->next)
		if (e->dead || stream_work_pending(e))
			return true;
	return false;
}

int64_t exec_next_deadline(void)
{
	const struct exec *e;
	int64_t next = 0;

	for (e = exec_list; e; e = e->next) {
		if (e->dead)
			continue;
		if (e->timeout_at && (!next || e->timeout_at < next))
			next = e->timeout_at;
		if (e->drain_at && (!next || e->drain_at < next))
			next = e->drain_at;
	}
	return next;
}

void exec_sweep(void)
{
	struct exec **pp = &exec_list;

	while (*pp) {
		struct exec *e = *pp;

		if (!e->dead) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		if (!e->job)
			exec_interactive--;
		stream_close_all(e);
		free(e);
	}
}

void exec_kill_all(int sig)
{
	struct exec *e;

	for (e = exec_list; e; e = e->next)
		if (!e->dead)
			exec_kill(e, sig);
}
