/* SPDX-License-Identifier: ISC */
/*
 * jobs.h: the job and asset state machine. Every change of a job's or an
 * asset's state in SQLite goes through one of the event functions below;
 * nothing else in the product writes jobs, or an asset's state.
 *
 * Each event function is one transaction (BEGIN IMMEDIATE, or a SAVEPOINT
 * inside the caller's: the bot applies an update and its order in one)
 * and returns -1 (or NULL) when the database could not take it (locked,
 * disk full: lib/db.h), having changed nothing: the caller does it again
 * later,
 * moves the rows it names through jobs_table's transitions only, logs
 * "job=ID from=STATE to=STATE cause=..." for each, and writes the outbox
 * rows the event means for parents and admins (notice.c). A transition the
 * table does not have is a bug: it is logged, and nothing is written.
 */
#ifndef GREETBOT_JOBS_H
#define GREETBOT_JOBS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct texts;

enum job_state {
	JOB_NONE,		/* no row (before creation, after expiry) */
	JOB_QUEUED,		/* waiting for a worker (published or not) */
	JOB_RUNNING,		/* claimed by a node: an attempt runs */
	JOB_RETRY_WAIT,		/* failed, tried again at next_attempt_at */
	JOB_DONE,
	JOB_FAILED,
	JOB_NSTATES
};

enum asset_state {
	ASSET_NONE,		/* no row */
	ASSET_PENDING,		/* waiting for a render (its own job or a shared one) */
	ASSET_GENERATING,	/* its job runs */
	ASSET_AVAILABLE,	/* a file (and, once uploaded, a file_id) */
	ASSET_FAILED,
	ASSET_NSTATES
};

enum job_event {
	JEV_CREATED,		/* a confirm, a preview (speculative), the retry
				   button, a video file gone */
	JEV_CONFIRMED,		/* a parent confirmed a speculative job's name */
	JEV_PUBLISHED,		/* XADDed to the stream */
	JEV_SCHEDULED,		/* ZADDed to the retry set, not due yet */
	JEV_CLAIMED,		/* a worker took it (or a render node's result
				   arrived for it: that node ran it) */
	JEV_RENDERED,		/* the attempt succeeded */
	JEV_RETRY,		/* failed or timed out, attempts left: backoff */
	JEV_FAILED,		/* fatal, the last attempt, or speculative */
	JEV_PREEMPTED,		/* speculative, stopped for a confirmed job */
	JEV_INTERRUPTED,	/* greetbotd drained, or crashed, mid-render */
	JEV_ABANDONED,		/* the node that ran it stopped (no stream entry
				   left for XAUTOCLAIM) */
	JEV_EXPIRED,		/* speculative, never started within the hour */
	JEV_SHARED,		/* an asset takes another bot's render */
	JEV_RETRY_PRESSED,	/* the retry button, or greetctl retry */
	JEV_FILE_GONE,		/* Telegram forgot the file_id, our file is gone */
	JEV_CANCELLED,		/* the last request waiting for it was cancelled
				   (greetctl cancel, block, forget) */
	JEV_NEVENTS
};

/* One allowed transition: the table behind every event function. */
struct jobs_transition {
	enum job_event	 event;
	int		 from, to;	/* job_state or asset_state */
};

/* The tables (ARCHITECTURE draws them), for the unit tests and greetctl. */
extern const struct jobs_transition jobs_table[];
extern const struct jobs_transition assets_table[];
extern const int jobs_table_len, assets_table_len;

const char	*job_state_name(enum job_state);
const char	*asset_state_name(enum asset_state);
const char	*job_event_name(enum job_event);
enum job_state	 job_state_parse(const char *);
enum asset_state asset_state_parse(const char *);
/* The table's target for (event, from), or -1 when it has none. */
int		 job_next(enum job_event, enum job_state);
int		 asset_next(enum job_event, enum asset_state);

/*
 * The one transition function for a job: from its state now to the
 * table's target for the event, with nothing else changed. 1 moved, 0 it
 * changed meanwhile, -1 the table has no such move (a bug: logged, nothing
 * written). The event functions below are built on the same moves.
 */
int		 jobs_transition(int64_t job, enum job_event, const char *fields);

/*
 * What the machine needs of the process that runs it: set once by
 * jobs_init (the pointers must outlive it). texts and bot_config may be
 * NULL in a process that writes no notice (the bot, greetctl).
 */
struct jobs_env {
	sqlite3			*db;
	const char		*node;		/* this node's name */
	int			 max_attempts;
	int			 alert_window;	/* seconds: one alert per cause */
	int			 nbots;		/* alert causes name the bot if > 1 */
	/* The texts a bot's parents read, and its configuration (admin
	 * chat); NULL for a bot no longer configured. */
	struct texts		*(*texts)(const char *bot);
	const struct config	*(*bot_config)(const char *bot);
};

void	 jobs_init(const struct jobs_env *);
const struct jobs_env *jobs_env(void);

/* --- the bot: orders, previews, retries ---------------------------------- */

/* A name to render for a bot: the key of its asset. */
struct jobs_name {
	const char	*bot;
	const char	*tmpl;		/* template id */
	const char	*version;	/* template version */
	const char	*key;		/* name key, with the accents of the stress */
	const char	*display;
	const char	*stress;	/* names.h stress text, "" for none */
};

/* An asset's state now (NONE: no such asset). */
enum asset_state jobs_asset_state(int64_t asset);
/* The asset of that name, or 0; *state (may be NULL) its state. */
int64_t	 jobs_asset_find(const struct jobs_name *, enum asset_state *state);

/* What a confirm made of the asset. */
enum jobs_order {
	ORDER_AVAILABLE,	/* the video is there: send it */
	ORDER_RENDERING,	/* a job (new, running, or a confirmed
				   speculative one) renders it */
	ORDER_SHARED,		/* another bot's running render makes it */
};

/*
 * A parent confirmed the name: the asset is made when there is none; a
 * new or FAILED one takes another bot's video or running render, else
 * gets a job; a speculative job of it (or of the render it shares) is
 * confirmed. *asset is the asset. Returns what happened, or -1 (database).
 * *new_jobs is set when greetbotd has jobs to relay.
 */
int	 jobs_confirmed(const struct jobs_name *, int64_t *asset, int *new_jobs);

/*
 * A preview went out: a speculative job renders the name unless this bot
 * has the asset or another bot's render of it exists or runs. 1 when a
 * job was made, 0 when not, -1 (database).
 */
int	 jobs_speculate(const struct jobs_name *);

/*
 * The retry button (or greetctl retry): a FAILED asset goes back to
 * PENDING, sharing another bot's running render of it or with a new job,
 * and its FAILED requests to PENDING (*requests: how many). Returns the
 * job that renders it (0: the asset was not FAILED), or -1 (database).
 */
int64_t	 jobs_retry_pressed(int64_t asset, int *requests);

/* What a cancel did (jobs_request_cancelled). */
struct jobs_cancel {
	int64_t	 asset;		/* the request's asset */
	int64_t	 job;		/* the render it waited for (0: none, the video is there) */
	int	 others;	/* other requests still waiting for that render */
	int	 stopped;	/* the job was cancelled: nobody waits, it had not started */
	int	 running;	/* nobody waits, but it runs: it finishes, its video kept */
};

/*
 * A parent's PENDING request is cancelled by an operator (greetctl cancel,
 * block, forget): the request CANCELLED and its outbox rows still waiting
 * (the video, progress edits) dropped; with tell, the parent is told (the
 * "order accepted" message goes, a line says so). When no other request
 * (of this bot, or of another's asset sharing the render) waits for its
 * render, a job not started yet is cancelled (FAILED, with the asset and
 * the assets sharing it: the next confirm of the name renders it anew); a
 * running one finishes, its video kept for the next parent who asks.
 * 1 cancelled, 0 the request was not PENDING, -1 (database).
 */
int	 jobs_request_cancelled(int64_t request, int tell, struct jobs_cancel *);
/* Every PENDING request of a user on a bot cancelled so, untold (block,
 * forget). How many, or -1 (database). */
int	 jobs_user_cancelled(const char *bot, int64_t user);

/* The video was uploaded: its file_id (this bot's). */
int	 jobs_uploaded(int64_t asset, const char *file_id);
/* Telegram rejected the file_id: the next send uploads the file again. */
int	 jobs_file_id_rejected(int64_t asset);
/*
 * The file_id was rejected and the local file is gone too: the AVAILABLE
 * asset renders again with a new job. 1 when a job was made, 0 when the
 * asset was no longer AVAILABLE, -1 (database).
 */
int	 jobs_file_gone(int64_t asset);

/* --- greetbotd: the relay, workers, render nodes ------------------------- */

/* Jobs Redis has taken: on the stream (due) or in the retry set
 * (scheduled). One transaction for a batch of them. */
struct jobs_publish {
	int64_t	 job;
	int	 scheduled;
};
int	 jobs_published(const struct jobs_publish *, size_t n);
/* Redis lost its data: every unfinished job is published again. Returns
 * how many. */
int	 jobs_redis_lost(void);

/* A claimed job: what its render needs. Strings are allocated. */
struct jobs_claim {
	int64_t	 attempt;
	int64_t	 asset;
	char	*bot, *tmpl, *name, *stress;
};
void	 jobs_claim_free(struct jobs_claim *);

/* How a job came to this worker. */
#define CLAIM_RECLAIMED		0x1	/* from a consumer that died */
#define CLAIM_SPECULATIVE	0x2	/* from SQLite, nobody confirmed yet */

/*
 * A worker of this node takes the job: RUNNING here, its asset
 * GENERATING, a new attempt. 1 claimed (c filled), 0 not claimable (another
 * node has it, it is finished, or a speculative job was confirmed and
 * published meanwhile), -1 (database).
 */
int	 jobs_claim(int64_t job, int flags, struct jobs_claim *c);

/* An attempt's outcome, local or from a render node. */
struct jobs_outcome {
	const char	*status;	/* renderer.h's, or a cause of ours */
	const char	*cause;
	int		 ok;
	int		 retryable;
	int		 exit_code;
	int		 signal;
	double		 cpu_seconds;
	long		 max_rss_kb;
	double		 duration;
	const char	*stderr_tail;
	const char	*kept;		/* ok: the video in the asset store */
	int		 width, height;	/* ok: its frame size (0: unknown) */
	double		 video_duration;	/* ok: its length, seconds (0: unknown) */
	/* A render node's result (NULL for our own attempts): */
	const char	*result_id;
	const char	*node;
	double		 started_at, finished_at;
};

/*
 * The attempt ended: recorded, and the job DONE (the asset AVAILABLE, a
 * video row per subscriber, the sharing assets too), RETRY_WAIT (with
 * backoff) or FAILED (the subscribers told, with a retry button; the
 * admin alerted). When the job is no longer this attempt's (another
 * node's result finished it), the attempt is recorded as "duplicate" and
 * nothing else changes. Returns the status recorded, or NULL (database).
 */
const char *jobs_finished(int64_t job, int64_t attempt, const struct jobs_outcome *);

/*
 * A render node's result, on the node with the database: committed once
 * per result id (0 when it was already), as if the node had claimed the
 * job, then as jobs_finished. 1 committed, 0 already or for an unknown
 * job, -1 (database). *status: what was recorded.
 */
int	 jobs_result(int64_t job, const struct jobs_outcome *, const char **status);

/* Why a running render stopped without an outcome of its own. */
enum jobs_stop {
	STOP_PREEMPTED,		/* a confirmed job took its worker */
	STOP_DRAINED,		/* greetbotd stopping: SIGTERM */
	STOP_CRASHED,		/* greetbotd died; found at its next start */
};

/*
 * Not the render's fault: the attempt is recorded as preempted or
 * interrupted, the job goes back to QUEUED without using up an attempt,
 * its asset to PENDING. A drained job keeps its stream entry (pending for
 * this node); a preempted one goes to the relay if it was confirmed.
 */
int	 jobs_stopped(int64_t job, int64_t attempt, enum jobs_stop, int signal,
	    double duration);

/* At start: the jobs this node was running when it died, back in line.
 * Returns how many, or -1 (database: call it again). */
int	 jobs_recover(void);

/*
 * Once a minute: speculative jobs that waited more than ttl seconds
 * unstarted go (with their asset when nothing else holds it); jobs
 * started from SQLite by another node that has held them RUNNING longer
 * than stuck seconds are taken back (that node died). *expired and
 * *abandoned say how many.
 */
int	 jobs_expire(int ttl, int stuck, int *expired, int *abandoned);

/* Whether the job is still speculative (a confirm clears it). */
int	 jobs_is_speculative(int64_t job);

#endif
