/* Starting a command for the agent: a vfork-style clone, credentials, tty, stdio, cwd, exec. */
#ifndef FLINT_INIT_AGENT_SPAWN_H
#define FLINT_INIT_AGENT_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#define SPAWN_SANDBOX_ID 1000 /* uid and gid of the "sandbox" user (images/base/etc/passwd) */
#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct spawn_req {
	char *const *argv; /* argv[0] is looked up in the PATH of envp when it has no '/' */
	char *const *envp;
	const char *cwd;
	bool cwd_fallback; /* cwd is only a default: "/" when it cannot be entered */
	bool drop;         /* run as uid:gid with no supplementary groups */
	uid_t uid;         /* without I/O-port access unless 0 */
	gid_t gid;
	bool ctty;         /* fd[0] is a PTY slave, to become the controlling terminal */
	int fd[3];         /* the child's 0, 1 and 2; all >= 3 in the agent */
};

/* What failed in the child, for the ERROR message. */
enum spawn_step { SPAWN_CLONE, SPAWN_USER, SPAWN_SETSID, SPAWN_TTY, SPAWN_STDIO, SPAWN_CHDIR,
		  SPAWN_EXEC };

/*
 * Start r in a new session (so its pid is also its process group), with every signal
 * unblocked. Returns the pid once the child has exec'd, or -errno with *step set when
 * anything up to and including the exec failed (that child exits on its own, and is reaped
 * like any other). The agent waits meanwhile: the child shares its memory until it execs,
 * which costs no page-table copy and reports failures without a pipe.
 */
pid_t spawn_run(const struct spawn_req *r, enum spawn_step *step);

#endif
