/* renderer.h: one render attempt: fork/exec of the render script with
 * limits and a wall-clock timeout, then ffprobe validation of its output. */
#ifndef GREETBOT_RENDERER_H
#define GREETBOT_RENDERER_H

#include <sys/types.h>

#include "child.h"

struct event_base;
struct render;

struct render_request {
	const char		*script;	/* the render script (absolute) */
	const char		*work_dir;	/* fresh, created by the caller */
	const char		*template_dir;
	const char		*cache_dir;
	const char		*name;		/* display form */
	const char		*stress;	/* names.h stress text, or NULL */
	const char		*output;	/* MP4 path inside work_dir */
	const char		*thumb;
	const char		*mode;		/* "video" or "preview" */
	struct child_limits	 limits;
	int			 timeout;	/* seconds, then SIGTERM to the group */
	int			 grace;		/* seconds, then SIGKILL */
	int			 drop;		/* run as uid/gid */
	uid_t			 uid;
	gid_t			 gid;
	int			 netns;		/* > 0: a network namespace to enter */
	double			 min_duration;	/* validation bounds, seconds */
	double			 max_duration;
	long long		 max_bytes;
	int			 no_probe;	/* skip ffprobe (benchmarks) */
	int			 own_uid;	/* uid is the slot's alone: every process
						   of it is killed when the script exits */
	int			 nice;		/* > 0: a lower CPU priority (speculative) */
	int			 threads;	/* GREETBOT_THREADS: cores it may use */
};

/* The outcome triple (status, code or signal, cause) plus measurements;
 * the same shape whether the attempt failed before fork or the child died. */
struct render_outcome {
	const char	*status;	/* ok bad_name template_broken tempfail
					   failed timeout limit crashed
					   invalid_output spawn_failed */
	int		 retryable;
	int		 exit_code;	/* -1 when it did not exit */
	int		 signal;	/* 0 when not killed by a signal */
	char		 cause[256];
	double		 cpu_seconds;
	long		 max_rss_kb;
	double		 duration;	/* wall seconds */
	char		 stderr_tail[2048];
	char		 stress[64];	/* the script's "stress" line: what changes the sound */
	int		 stress_known;	/* it printed one */
};

struct config;
struct sandbox;

/* Limits, timeout and grace from the configuration; the identity and the
 * network namespace of sandbox slot. */
void		 render_request_config(struct render_request *, const struct config *,
		    const struct sandbox *, int slot);

typedef void (*render_done_cb)(const struct render_outcome *, void *);
typedef void (*render_progress_cb)(double, void *);

/*
 * Start an attempt. done is always called exactly once, later from the
 * loop (also when the spawn fails), unless render_abort is called first.
 */
struct render	*render_start(struct event_base *, const struct render_request *,
		    render_done_cb, render_progress_cb, void *);
/*
 * Make state_dir/render and its work/, cache/ and templates/ (searchable
 * by the unprivileged renderer, nothing listable); returns the render dir.
 */
char		*render_dirs(const char *state_dir);
/* Remove a work directory and everything a script left in it, following
 * no link (see renderer.c). */
void		 render_rmtree(const char *dir);
/* Everything inside dir, the same way; the directory stays. -1 when dir
 * is not a directory (a link is not followed). */
int		 render_empty(const char *dir);
/*
 * A file the renderer made, taken without trusting it: name inside
 * work_dir, opened relative to the work dir's descriptor without following
 * a link, and only a regular file that the renderer's uid owns with one
 * link (not a link to the database, a FIFO, a device) of at most max
 * bytes. An fd open on it for reading, or -1 with why (for the attempt's
 * record); ENOENT in errno when there is no such file.
 */
int		 render_output_open(const struct render_request *, const char *work_dir,
		    const char *name, long long max, char *why, size_t whylen);
/* Such a file copied into dst, a file of ours (dst.part written, synced and
 * renamed). 0, or -1 with why. */
int		 render_collect(const struct render_request *, const char *work_dir,
		    const char *name, const char *dst, long long max, char *why, size_t whylen);

/* The attempt's request, as started (valid until done has returned). */
const struct render_request *render_request_of(const struct render *);

/* Kill the attempt's process group now; done is still called. */
void		 render_kill(struct render *);
/* Give the attempt's whole process group that nice value (0: normal). */
void		 render_renice(struct render *, int);

#endif
