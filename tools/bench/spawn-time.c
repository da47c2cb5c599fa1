/* Benchmark launcher: spawn a command N times, timing each from just before spawn to reaping. */

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static unsigned long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

/*
 * usage: spawn-time OUTDIR N -- CMD [ARG]...
 * Run i's stdout and stderr go to OUTDIR/i.out and OUTDIR/i.err; one line per run on stdout:
 * "i wall_us status". FLINT_TRACE_EPOCH_NS tells flint-vmm's boot trace when exec began.
 */
int main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: spawn-time OUTDIR N -- CMD [ARG]...\n");
		return 2;
	}
	int n = atoi(argv[2]);
	for (int i = 0; i < n; i++) {
		char path[4096], epoch[32];
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		snprintf(path, sizeof(path), "%s/%d.out", argv[1], i);
		posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		snprintf(path, sizeof(path), "%s/%d.err", argv[1], i);
		posix_spawn_file_actions_addopen(&fa, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		unsigned long long t0 = now_ns();
		snprintf(epoch, sizeof(epoch), "%llu", t0);
		setenv("FLINT_TRACE_EPOCH_NS", epoch, 1);
		pid_t pid;
		if (posix_spawnp(&pid, argv[4], &fa, NULL, argv + 4, environ) != 0) {
			perror("posix_spawnp");
			return 1;
		}
		int st;
		waitpid(pid, &st, 0);
		unsigned long long t1 = now_ns();
		posix_spawn_file_actions_destroy(&fa);
		printf("%d %.1f %d\n", i, (double)(t1 - t0) / 1000.0,
		       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		fflush(stdout);
	}
	return 0;
}
