/* The command of an EXEC or JOB_START request: ARGV, ENV, CWD, USER, STDIN, PTY, TIMEOUT_MS. */
#include "agent_cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent_conn.h"
#include "agent_req.h"
#include "agent_spawn.h"

static char cmd_cwd[PATH_MAX];

/* Whether one of env[0..n) sets key ("K="): the defaults are only for what ENV leaves unset. */
static bool cmd_env_has(char **env, size_t n, const char *key)
{
	size_t k = strlen(key), i;

	for (i = 0; i < n; i++)
		if (!strncmp(env[i], key, k))
			return true;
	return false;
}

/*
 * ARGV and ENV: counted and checked in one pass, then copied as C strings. The environment
 * is small on purpose: PATH, HOME and TERM, then ENV; nothing leaks in from PID 1.
 */
static int cmd_strings(struct conn *c, const struct agent_frame *f, struct cmd *cmd)
{
	static const char *const keys[3] = { "PATH=", "HOME=", "TERM=" };
	const char *defs[3] = { "PATH=" SPAWN_DEFAULT_PATH,
				cmd->home,
				cmd->pty ? "TERM=xterm-256color" : "TERM=dumb" };
	size_t nargv = 0, nenv = 0, bytes = 0, i;
	struct agent_iter it;
	struct agent_field fl;
	char *s;

	agent_iter_init(&it, f->payload, f->len);
	while (agent_iter_next(&it, &fl) > 0) {
		const uint8_t *eq;

		if (fl.tag != ATAG_ARGV && fl.tag != ATAG_ENV)
			continue;
		if (memchr(fl.val, '\0', fl.len)) {
			conn_error(c, f->id, EINVAL, "%s: %s holds a NUL byte",
				   agent_type_name(f->type), req_tag_name(fl.tag));
			return -1;
		}
		eq = fl.tag == ATAG_ENV ? memchr(fl.val, '=', fl.len) : NULL;
		if (fl.tag == ATAG_ENV && (!eq || eq == fl.val)) {
			conn_error(c, f->id, EINVAL, "%s: ENV entry is not K=V: %.*s",
				   agent_type_name(f->type), (int)fl.len, (const char *)fl.val);
			return -1;
		}
		*(fl.tag == ATAG_ARGV ? &nargv : &nenv) += 1;
		bytes += fl.len + 1;
	}
	if (!nargv) {
		conn_error(c, f->id, EINVAL, "%s: missing ARGV", agent_type_name(f->type));
		return -1;
	}
	cmd->mem = malloc((nargv + nenv + 5) * sizeof(char *) + bytes);
	if (!cmd->mem) {
		conn_error(c, f->id, ENOMEM, "%s: out of memory", agent_type_name(f->type));
		return -1;
	}
	cmd->argv = cmd->mem;
	cmd->envp = cmd->argv + nargv + 1;
	s = (char *)(cmd->envp + nenv + 4);
	nargv = nenv = 0;
	agent_iter_init(&it, f->payload, f->len);
	while (agent_iter_next(&it, &fl) > 0) {
		if (fl.tag != ATAG_ARGV && fl.tag != ATAG_ENV)
			continue;
		if (fl.tag == ATAG_ARGV)
			cmd->argv[nargv++] = s;
		else
			cmd->envp[nenv++] = s;
		memcpy(s, fl.val, fl.len);
		s[fl.len] = '\0';
		s += fl.len + 1;
	}
	cmd->argv[nargv] = NULL;
	for (i = 0; i < 3; i++)
		if (!cmd_env_has(cmd->envp, nenv, keys[i]))
			cmd->envp[nenv++] = (char *)defs[i];
	cmd->envp[nenv] = NULL;
	return 0;
}

/* One id of UID:GID: decimal, no sign, below (uid_t)-1 (which means "unchanged" to setuid). */
static bool cmd_id(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* USER: "root", "sandbox" (1000:1000, home /home/sandbox) or numeric "UID:GID" (home "/"). */
static int cmd_user(const char *user, struct cmd *cmd)
{
	const char *colon = strchr(user, ':');
	uint32_t u, g;

	if (!strcmp(user, "root"))
		return 0;
	if (!strcmp(user, "sandbox")) {
		cmd->sandbox = cmd->drop = true;
		cmd->uid = SPAWN_SANDBOX_ID;
		cmd->gid = SPAWN_SANDBOX_ID;
		cmd->home = "HOME=/home/sandbox";
		return 0;
	}
	if (!colon || !cmd_id(user, (size_t)(colon - user), &u) ||
	    !cmd_id(colon + 1, strlen(colon + 1), &g))
		return -1;
	cmd->drop = u != 0 || g != 0;
	cmd->uid = u;
	cmd->gid = g;
	cmd->home = u ? "HOME=/" : "HOME=/root";
	return 0;
}

int cmd_parse(struct conn *c, const struct agent_frame *f, bool interactive, struct cmd *cmd)
{
	char user[32];
	uint32_t v = 0;
	int r, rr, rc;

	memset(cmd, 0, sizeof(*cmd));
	cmd->home = "HOME=/root";
	r = req_str(c, f, ATAG_USER, user, sizeof(user), false);
	if (r < 0)
		return -1;
	if (r == 1 && cmd_user(user, cmd) != 0) {
		conn_error(c, f->id, EINVAL, "%s: USER must be root, sandbox or UID:GID, not %s",
			   agent_type_name(f->type), user);
		return -1;
	}
	r = req_str(c, f, ATAG_CWD, cmd_cwd, sizeof(cmd_cwd), false);
	if (r < 0)
		return -1;
	if (r == 1 && cmd_cwd[0] != '/') {
		conn_error(c, f->id, EINVAL, "%s: CWD must be absolute: %s", agent_type_name(f->type),
			   cmd_cwd);
		return -1;
	}
	cmd->cwd_default = r == 0;
	cmd->cwd = r == 1 ? cmd_cwd : cmd->sandbox ? "/home/sandbox" : "/";
	if (req_u64(c, f, ATAG_TIMEOUT_MS, &cmd->timeout_ms, false) < 0)
		return -1;
	if (interactive) {
		if (req_u32(c, f, ATAG_STDIN, &v, false) < 0)
			return -1;
		cmd->want_stdin = v != 0;
		rr = req_u32(c, f, ATAG_PTY_ROWS, &cmd->rows, false);
		rc = rr < 0 ? -1 : req_u32(c, f, ATAG_PTY_COLS, &cmd->cols, false);
		if (rr < 0 || rc < 0)
			return -1;
		if (rr != rc || (rr && (!cmd->rows || !cmd->cols || cmd->rows > 0xffff ||
					cmd->cols > 0xffff))) {
			conn_error(c, f->id, EINVAL, "EXEC: PTY_ROWS and PTY_COLS go together, 1..65535");
			return -1;
		}
		cmd->pty = rr == 1;
	}
	return cmd_strings(c, f, cmd);
}

void cmd_free(struct cmd *cmd)
{
	free(cmd->mem);
	cmd->mem = NULL;
}
