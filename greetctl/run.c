/* SPDX-License-Identifier: ISC */
/*
 * run.c: the programs greetctl runs (espeak-ng, ffprobe, ffmpeg): fork and
 * execve with a clean environment, never a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "greetctl.h"
#include "log.h"
#include "xmalloc.h"

/* A program's path in the renderers' PATH, or NULL. */
static char *
find_program(const char *name)
{
	static const char *const dirs[] = { "/usr/local/bin", "/usr/bin", "/bin" };
	char *p;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		xasprintf(&p, "%s/%s", dirs[i], name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/*
 * Run argv[0] with a clean environment, no shell, stdin from /dev/null,
 * its stdout (and stderr too with merge, else stderr discarded) into *out.
 * Returns its exit status, or -1 when it could not run or was killed.
 * Only while no event loop runs: it waits for its own pid.
 */
int
run_capture(char *const argv[], int merge, char **out)
{
	char *const envp[] = { "PATH=" SYS_PATH, "LANG=C.UTF-8", NULL };
	struct buf b = { xstrdup(""), 0 };
	char *path = find_program(argv[0]), chunk[8192];
	int p[2], devnull, status;
	ssize_t n;
	pid_t pid;

	*out = b.p;
	if (path == NULL)
		return -1;
	if (pipe2(p, O_CLOEXEC) == -1 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);	/* ignored by us, not by them */
		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(merge ? p[1] : devnull, 2);
		execve(path, argv, envp);
		_exit(127);
	}
	close(p[1]);
	close(devnull);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0 || (n == -1 && errno == EINTR))
		if (n > 0 && b.n + (size_t)n <= MAX_CAPTURE)
			buf_add(&b, chunk, (size_t)n);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	free(path);
	*out = b.p;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
