/* SPDX-License-Identifier: ISC */
/* child.h: fork + execve with a fixed setup order, and the registry of
 * running children that the SIGCHLD event reaps. */
#ifndef GREETBOT_CHILD_H
#define GREETBOT_CHILD_H

#include <sys/resource.h>
#include <sys/types.h>

struct event_base;

struct child_limits {
	rlim_t	cpu;		/* RLIMIT_CPU seconds */
	rlim_t	as;		/* RLIMIT_AS bytes */
	rlim_t	fsize;		/* RLIMIT_FSIZE bytes */
	rlim_t	nofile;
	rlim_t	nproc;
};

struct child_spec {
	const char		 *path;		/* program, executed as is */
	char *const		 *argv;
	char *const		 *envp;		/* the whole environment */
	const char		 *dir;		/* chdir here first, or NULL */
	int			  dir_fd;	/* > 0: fchdir to it (a path is not
						   followed again) */
	int			  new_session;	/* setsid: own session and group */
	int			  fd_in;	/* -1: /dev/null */
	int			  fd_out;	/* -1: /dev/null */
	int			  fd_err;	/* -1: /dev/null */
	int			  extra[4];	/* become fds 3, 4, ... */
	int			  nextra;
	const struct child_limits *limits;	/* NULL: inherit */
	int			  pdeathsig;	/* sent to it when we die, or 0 */
	uid_t			  uid;		/* with drop: setgid/setuid */
	gid_t			  gid;
	int			  drop;
	int			  netns;	/* > 0: enter this network namespace */
	int			  sandboxed;	/* umask 007, no new privileges */
	int			  nice;		/* > 0: this much lower CPU priority */
};

/* Called once a child is reaped: status as from wait4, its rusage. */
typedef void (*child_exit_cb)(pid_t, int status, const struct rusage *, void *);

/* Install the SIGCHLD event; call once per process before child_spawn. */
void	child_init(struct event_base *);
/* Remove the SIGCHLD event (before the event base is freed). */
void	child_shutdown(void);
/*
 * Start a child. Returns its pid, or -1 with errno set when fork failed or
 * a step in the child failed: the child (clone with CLONE_VFORK, so we
 * wait until it has execve'd or died) leaves the errno of the failed step
 * in memory shared with us, so "no such program" is known before we
 * return.
 */
pid_t	child_spawn(const struct child_spec *, child_exit_cb, void *);
/* Stop calling back for pid (its owner is going away). */
void	child_forget(pid_t);
int	child_count(void);
/*
 * Kill every process of uid (a render slot's: what a renderer left
 * behind, setsid or double fork included), from a short-lived child that
 * takes that uid: as root only, never uid 0. 0 once done, -1 when it
 * could not be done.
 */
int	child_kill_uid(uid_t uid, gid_t gid);

/*
 * With PR_SET_CHILD_SUBREAPER set, a process that escaped its render's
 * process group (setsid, double fork) is re-parented to us when its parent
 * dies. Kill every child of ours that is not in the registry; returns how
 * many. Call it from the loop, never between fork and child_spawn's return.
 */
int	child_kill_strays(void);

#endif
