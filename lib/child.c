/* SPDX-License-Identifier: ISC */
/* child.c: spawning and reaping children (OpenSMTPD child_add style). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return (pid_t)ppid;
}

/* Kill pid if it is a child of ours that the registry does not know. */
static int
child_kill_stray(pid_t pid)
{
	struct child *c;

	for (c = children; c != NULL && c->pid != pid; c = c->next)
		;
	if (c != NULL)
		return 0;
	log_warnx("killing a stray process left by a child", "pid=%d", (int)pid);
	kill(pid, SIGKILL);
	return 1;
}

/* Every /proc entry whose parent is us: the slow way, for old kernels. */
static int
child_scan_proc(void)
{
	pid_t self = getpid();
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid > 0 && proc_ppid(pid) == self)
			n += child_kill_stray(pid);
	}
	closedir(d);
	return n;
}

int
child_kill_strays(void)
{
	char path[64];
	FILE *f;
	long pid;
	int n = 0;

	/* One file lists our children (Linux 3.5+); a single-threaded process's
	 * only task is itself. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(),
	    (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return child_scan_proc();
	while (fscanf(f, "%ld", &pid) == 1)
		n += child_kill_stray((pid_t)pid);
	fclose(f);
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

/*
 * Everything below up to child_spawn runs in the child, which shares our
 * memory until execve (CLONE_VM | CLONE_VFORK, as posix_spawn does): no
 * malloc, no stdio, no logging, no glibc wrapper that acts process-wide.
 */
#define CHILD_CODE	__attribute__((no_sanitize_address))

/* What the child reports back through the shared memory. */
struct spawn {
	const struct child_spec	*spec;
	pid_t			 parent;
	int			 err;	/* errno of the step that failed, else 0 */
};

/* Set one resource limit (soft and hard); a failure is fatal to the child. */
static CHILD_CODE int
child_rlimit(int resource, rlim_t v)
{
	/* For CPU the hard limit is a second later: SIGXCPU comes first and
	 * says why, SIGKILL only if the script ignores it. */
	struct rlimit rl = { v, resource == RLIMIT_CPU ? v + 1 : v };

	return setrlimit(resource, &rl);
}

/* In the child: stdio from the spec, extra fds as 3.., close the rest. */
static CHILD_CODE int
child_fds(const struct child_spec *s)
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
	/* Everything else closes: no database, no socket, no token. */
	if (close_range((unsigned)n, ~0U, 0) == -1)
		for (int fd = n; fd < 65536; fd++)
			close(fd);
	return 0;
}

/* Drop to uid/gid with raw system calls: glibc's wrappers would signal
 * every thread of the process that shares our memory. */
static CHILD_CODE int
child_drop(const struct child_spec *s)
{
	if (syscall(SYS_setgroups, 1, &s->gid) == -1 ||
	    syscall(SYS_setgid, s->gid) == -1 ||
	    syscall(SYS_setuid, s->uid) == -1)
		return -1;
	return 0;
}

/*
 * The child's setup, in this order: reset signal handlers and unblock
 * signals (libevent's handlers must not run here), setsid so the whole job
 * can be killed as a group, chdir into the work directory, the network
 * namespace, umask and no_new_privs, rlimits (before
 * dropping privileges, so the child cannot raise them back), drop
 * privileges, the parent-death signal, stdio and fds, execve. A failure
 * leaves its errno in the shared struct and exits 127.
 */
static CHILD_CODE int
child_exec(void *arg)
{
	struct spawn *sp = arg;
	const struct child_spec *s = sp->spec;
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((s->new_session && setsid() == -1) ||
	    (s->dir != NULL && chdir(s->dir) == -1) ||
	    (s->dir_fd > 0 && fchdir(s->dir_fd) == -1))
		goto fail;
	/* The network namespace while we are still root (it needs
	 * CAP_SYS_ADMIN); a file the renderer makes is its group's too, so
	 * that the render slots share the cache; and no setuid program can
	 * give it back what the drop takes. */
	if (s->netns > 0 && setns(s->netns, CLONE_NEWNET) == -1)
		goto fail;
	if (s->sandboxed && (umask(007), prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1))
		goto fail;
	if (s->nice > 0 && setpriority(PRIO_PROCESS, 0, s->nice) == -1)
		goto fail;
	if (s->limits != NULL && (
	    child_rlimit(RLIMIT_CPU, s->limits->cpu) == -1 ||
	    child_rlimit(RLIMIT_AS, s->limits->as) == -1 ||
	    child_rlimit(RLIMIT_FSIZE, s->limits->fsize) == -1 ||
	    child_rlimit(RLIMIT_NOFILE, s->limits->nofile) == -1 ||
	    child_rlimit(RLIMIT_NPROC, s->limits->nproc) == -1))
		goto fail;
	if (s->drop && child_drop(s) == -1)
		goto fail;
	/* After setuid, which clears it; and if the parent is already gone
	 * (re-parented before prctl), act as if the signal came. getpid, not
	 * raise: raise would find the parent's thread id in shared memory. */
	if (s->pdeathsig != 0 && (prctl(PR_SET_PDEATHSIG, s->pdeathsig) == -1 ||
	    getppid() != sp->parent))
		kill(getpid(), s->pdeathsig);
	if (child_fds(s) == -1)
		goto fail;
	execve(s->path, s->argv, s->envp);
fail:
	sp->err = errno != 0 ? errno : EINVAL;
	_exit(127);
}

/* The uid whose processes child_killer ends. */
struct killer {
	uid_t	uid;
	gid_t	gid;
};

/*
 * As the uid, kill every process of it: kill(-1) reaches exactly the
 * processes the sender may signal, i.e. those of its own uid (not itself,
 * not init). Raw system calls: glibc's setuid would act on every thread.
 */
static CHILD_CODE int
child_killer(void *arg)
{
	const struct killer *k = arg;

	if (syscall(SYS_setgroups, 0, NULL) == -1 || syscall(SYS_setgid, k->gid) == -1 ||
	    syscall(SYS_setuid, k->uid) == -1)
		_exit(1);
	(void)kill(-1, SIGKILL);
	_exit(0);
}

/* The child's stack until execve; CLONE_VFORK means one child at a time. */
static char child_stack[64 * 1024] __attribute__((aligned(16)));

pid_t
child_spawn(const struct child_spec *s, child_exit_cb cb, void *arg)
{
	struct spawn sp = { s, getpid(), 0 };
	sigset_t all, old;
	pid_t pid;
	struct child *c;
	int err;

	/* All signals blocked: no handler of ours may run in the child. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	/* We are suspended until the child execs or exits (CLONE_VFORK). */
	pid = clone(child_exec, child_stack + sizeof(child_stack),
	    CLONE_VM | CLONE_VFORK | SIGCHLD, &sp);
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		errno = err;
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->pid = pid;
	c->cb = sp.err != 0 ? NULL : cb;
	c->arg = arg;
	c->next = children;
	children = c;
	if (sp.err != 0) {
		/* The failed child exits 127 and is reaped without a callback. */
		errno = sp.err;
		return -1;
	}
	return pid;
}

int
child_kill_uid(uid_t uid, gid_t gid)
{
	struct killer k = { uid, gid };
	sigset_t all, old;
	pid_t pid;
	int status;

	if (uid == 0 || geteuid() != 0)
		return -1;	/* only root may take the uid; never root's own */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	/* No SIGCHLD: reaped here, not by the registry. */
	pid = clone(child_killer, child_stack + sizeof(child_stack), CLONE_VM | CLONE_VFORK,
	    &k);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1)
		return -1;
	while (waitpid(pid, &status, __WCLONE) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
