/* SPDX-License-Identifier: ISC */
/* renderer.h: one render attempt: the render script run with limits and a
 * wall-clock timeout, then ffprobe's validation of its output; asked of
 * the privileged half (rendsrv.h), read and judged here. */
#ifndef GREETBOT_RENDERER_H
#define GREETBOT_RENDERER_H

#include <sys/types.h>

#include "child.h"

struct event_base;
struct render;

struct render_request {
	int			 slot;		/* the sandbox slot: its uid, its work dir */
	const char		*script;	/* the render script (absolute) */
	const char		*template_dir;
	const char		*version;	/* the template's: its shared cache */
	const char		*name;		/* display form */
	const char		*stress;	/* names.h stress text, or NULL */
	const char		*mode;		/* "video" or "preview" */
	struct child_limits	 limits;
	int			 timeout;	/* seconds, then SIGTERM to the group */
	int			 grace;		/* seconds, then SIGKILL */
	double			 min_duration;	/* validation bounds, seconds */
	double			 max_duration;
	long long		 max_bytes;	/* an output larger is refused */
	int			 no_probe;	/* skip ffprobe (benchmarks) */
	int			 private_cache;	/* a cache of its own, in its work dir */
	int			 keep_work;	/* its work dir stays (greetctl reads its
						   logs): emptied before the slot's next */
	int			 nice;		/* > 0: a lower CPU priority (speculative) */
	int			 threads;	/* GREETBOT_THREADS: cores it may use */
	const char		*keep_as;	/* where a video's outputs go (render_collect):
						   "<dir>/<id>", + .mp4 and .jpg; NULL: none */
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
	/* The video as ffprobe read it (0: not probed): sendVideo says them. */
	int		 width, height;	/* of its first video stream, pixels */
	double		 media_duration;	/* seconds, its container's */
};

struct config;
struct rendsrv_env;

/* Limits, timeout and grace from the configuration, for sandbox slot. */
void		 render_request_config(struct render_request *, const struct config *,
		    int slot);

typedef void (*render_done_cb)(const struct render_outcome *, void *);
typedef void (*render_progress_cb)(double, void *);

/*
 * Where renders are asked for: the channel to greetbotd's parent (fd, its
 * end; gone is called if it closes, else that is fatal), or a privileged
 * half in this process serving the slots [slot, slot + nslots) (greetctl,
 * a greetbot-tg started by hand). Once, before render_start.
 */
void		 render_connect(struct event_base *, int fd, void (*gone)(void));
void		 render_serve_self(const struct rendsrv_env *, int slot, int nslots);

/*
 * Start an attempt. done is always called exactly once, later from the
 * loop (also when the spawn fails).
 */
struct render	*render_start(struct event_base *, const struct render_request *,
		    render_done_cb, render_progress_cb, void *);
/*
 * Make state_dir/render and its work/, cache/ and templates/ (searchable
 * by the unprivileged renderer, nothing listable); returns the render dir.
 */
char		*render_dirs(const char *state_dir);
/* One of its directories, open (fatal when it cannot be, or is a link). */
int		 render_dir_open(const char *path);
/* Remove a work directory and everything a script left in it, following
 * no link (see renderer.c). */
void		 render_rmtree(const char *dir);
/* Everything inside dir, the same way; the directory stays. -1 when dir
 * is not a directory (a link is not followed). */
int		 render_empty(const char *dir);
/* The same, of name inside the directory open at dirfd (nothing on the
 * way followed: the directory was opened once, checked). */
void		 render_rmtree_at(int dirfd, const char *name);
int		 render_empty_at(int dirfd, const char *name);

/*
 * An output the renderer left (out.mp4, thumb.jpg; voice.ogg), as the
 * privileged half opened it once nothing of the renderer ran: only a
 * regular file of the renderer's own with one link, within max_bytes. An
 * fd to read (with pread: ours until done has returned, not to be
 * closed), or -1 with why and errno ENOENT (none) or EPERM (refused: a
 * link, a FIFO, a hard link, too large).
 */
int		 render_output(const struct render *, const char *name, char *why,
		    size_t whylen);
/* The first half of render_collect, for a caller that syncs without
 * waiting (syncq.h): the output as tmp ("<dst>.part"), linked or copied,
 * not yet synced. A descriptor of it (the caller's: fsync, close, then
 * rename tmp to dst), or -1 with why (as render_collect's; tmp removed). */
int		 render_keep(struct render *, const char *name, const char *tmp,
		    long long max, char *why, size_t whylen);
/* Such an output kept as dst, a file of ours, at most max bytes: the
 * renderer's own file linked as dst.part before the slot was let go when
 * greetbotd gave it (request keep_as: render_finish), else copied into
 * dst.part; synced, then renamed. 0, or -1 with why (errno as
 * render_output's when the output was refused). */
int		 render_collect(struct render *, const char *name, const char *dst,
		    long long max, char *why, size_t whylen);

/* Kill the attempt's process group now; done is still called. */
void		 render_kill(struct render *);
/* Give the attempt's whole process group that nice value (0: normal). */
void		 render_renice(struct render *, int);

#endif
