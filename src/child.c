/* child.c: spawning and reaping children (OpenSMTPD child_add style). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "xmalloc.h"

struct child {
	pid_t		 pid;
	child_exit_cb	 cb;
	void		*arg;
	struct child	*next;
};

static struct child	*children;
static struct event	*sigchld_ev;

/* Reap every exited child: SIGCHLD coalesces, so loop until none is left. */
static void
child_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct rusage ru;
	int status;
	pid_t pid;

	(void)sig;
	(void)what;
	(void)arg;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		struct child **pp, *c;

		for (pp = &children; (c = *pp) != NULL; pp = &c->next)
			if (c->pid == pid)
				break;
		if (c == NULL)
			continue;	/* forgotten, or a grandchild re-parented */
		*pp = c->next;
		if (c->cb != NULL)
			c->cb(pid, status, &ru, c->arg);
		free(c);
	}
}

void
child_init(struct event_base *base)
{
	sigchld_ev = evsignal_new(base, SIGCHLD, child_sigchld, NULL);
	if (sigchld_ev == NULL || evsignal_add(sigchld_ev, NULL) == -1)
		fatalx("child_init: SIGCHLD event");
}

/* The parent pid of pid, from /proc/PID/stat (after the "(comm)"). */
static pid_t
proc_ppid(const char *pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return (pid_t)ppid;
}

int
child_kill_strays(void)
{
	pid_t self = getpid();
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name);
		struct child *c;

		if (pid <= 0 || proc_ppid(de->d_name) != self)
			continue;
		for (c = children; c != NULL && c->pid != pid; c = c->next)
			;
		if (c != NULL)
			continue;
		log_warnx("killing a stray process left by a child\tpid=%d", (int)pid);
		kill(pid, SIGKILL);
		n++;
	}
	closedir(d);
	return n;
}

void
child_shutdown(void)
{
	if (sigchld_ev != NULL)
		event_free(sigchld_ev);
	sigchld_ev = NULL;
}

int
child_count(void)
{
	int n = 0;

	for (struct child *c = children; c != NULL; c = c->next)
		n++;
	return n;
}

void
child_forget(pid_t pid)
{
	for (struct child *c = children; c != NULL; c = c->next)
		if (c->pid == pid)
			c->cb = NULL;
}

/* Set one resource limit (soft and hard); a failure is fatal to the child. */
static int
child_rlimit(int resource, rlim_t v)
{
	/* For CPU the hard limit is a second later: SIGXCPU comes first and
	 * says why, SIGKILL only if the script ignores it. */
	struct rlimit rl = { v, resource == RLIMIT_CPU ? v + 1 : v };

	return setrlimit(resource, &rl);
}

/* In the child: stdio from the spec, extra fds as 3.., close the rest. */
static int
child_fds(const struct child_spec *s, int keepfd)
{
	int src[3 + 4], n = 3 + s->nextra, devnull;

	if ((devnull = open("/dev/null", O_RDWR)) == -1)
		return -1;
	src[0] = s->fd_in >= 0 ? s->fd_in : devnull;
	src[1] = s->fd_out >= 0 ? s->fd_out : devnull;
	src[2] = s->fd_err >= 0 ? s->fd_err : devnull;
	for (int i = 0; i < s->nextra; i++)
		src[3 + i] = s->extra[i];
	/* Move every source above the targets first, so a dup2 onto a
	 * target never clobbers a source still waiting to be copied. */
	for (int i = 0; i < n; i++)
		if ((src[i] = fcntl(src[i], F_DUPFD, n + 3)) == -1)
			return -1;
	for (int i = 0; i < n; i++)
		if (dup2(src[i], i) == -1)
			return -1;
	/* Everything else closes (no database, no socket, no token), but
	 * keepfd: the close-on-exec pipe that reports a failed execve. */
	if (close_range((unsigned)n, (unsigned)keepfd - 1, 0) == -1 ||
	    close_range((unsigned)keepfd + 1, ~0U, 0) == -1) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = n; fd < (max > 0 ? max : 1024); fd++)
			if (fd != keepfd)
				close((int)fd);
	}
	return 0;
}

/*
 * The child's setup, in this order: reset signal handlers and unblock
 * signals (libevent's handlers must not run here), setsid so the whole job
 * can be killed as a group, chdir into the work directory, rlimits (before
 * dropping privileges, so the child cannot raise them back), drop
 * privileges, the parent-death signal, stdio and fds, execve. Any failure reports errno on errfd
 * and exits 127.
 */
static void
child_exec(const struct child_spec *s, int errfd, pid_t parent)
{
	struct sigaction sa;
	sigset_t none;
	int err;

	/* errfd moves above every target fd (before RLIMIT_NOFILE can forbid
	 * it) so that child_fds can keep it open. */
	if ((err = fcntl(errfd, F_DUPFD_CLOEXEC, 16)) != -1)
		errfd = err;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((s->new_session && setsid() == -1) ||
	    (s->dir != NULL && chdir(s->dir) == -1))
		goto fail;
	if (s->limits != NULL && (
	    child_rlimit(RLIMIT_CPU, s->limits->cpu) == -1 ||
	    child_rlimit(RLIMIT_AS, s->limits->as) == -1 ||
	    child_rlimit(RLIMIT_FSIZE, s->limits->fsize) == -1 ||
	    child_rlimit(RLIMIT_NOFILE, s->limits->nofile) == -1 ||
	    child_rlimit(RLIMIT_NPROC, s->limits->nproc) == -1))
		goto fail;
	if (s->drop && (setgroups(1, &s->gid) == -1 || setgid(s->gid) == -1 ||
	    setuid(s->uid) == -1))
		goto fail;
	/* After setuid, which clears it; and if the parent is already gone
	 * (re-parented before prctl), act as if the signal came. */
	if (s->pdeathsig != 0 && (prctl(PR_SET_PDEATHSIG, s->pdeathsig) == -1 ||
	    getppid() != parent))
		raise(s->pdeathsig);
	if (child_fds(s, errfd) == -1)
		goto fail;
	execve(s->path, s->argv, s->envp);
fail:
	err = errno;
	(void)!write(errfd, &err, sizeof(err));
	_exit(127);
}

pid_t
child_spawn(const struct child_spec *s, child_exit_cb cb, void *arg)
{
	sigset_t all, old;
	pid_t parent = getpid();
	int pfd[2], err = 0;
	ssize_t n;
	pid_t pid;
	struct child *c;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		child_exec(s, pfd[1], parent);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	if (pid == -1) {
		err = errno;
		close(pfd[0]);
		errno = err;
		return -1;
	}
	/* Wait for execve (EOF) or an errno: microseconds, no network. */
	while ((n = read(pfd[0], &err, sizeof(err))) == -1 && errno == EINTR)
		;
	close(pfd[0]);
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->cb = n == (ssize_t)sizeof(err) ? NULL : cb;
	c->arg = arg;
	c->next = children;
	children = c;
	if (n == (ssize_t)sizeof(err)) {
		/* The failed child exits 127 and is reaped without a callback. */
		errno = err;
		return -1;
	}
	return pid;
}
