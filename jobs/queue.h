/* SPDX-License-Identifier: ISC */
/* queue.h: render jobs on a Redis Stream read through a consumer group. */
#ifndef GREETBOT_QUEUE_H
#define GREETBOT_QUEUE_H

#include <stdint.h>

struct event_base;
struct queue;

/*
 * What a render node needs of a job, carried in its stream entry and in
 * the retry set, so that a node without the database can render it. An
 * entry from an older greetbotd has only the id (the strings are "").
 */
struct queue_job {
	int64_t		 id;
	int64_t		 asset_id;
	const char	*bot;		/* bot_id */
	const char	*tmpl;		/* template id */
	const char	*version;	/* template version */
	const char	*name;		/* display form */
	const char	*stress;	/* names.h stress text ("": none) */
	int		 hops;		/* how often nodes refused it */
};

/*
 * A render's outcome on its way from a node without the database to the
 * node that commits it: the attempt's record, and the MP4 under a key of
 * its own (with a TTL, so that one nobody commits does not stay).
 */
struct queue_result {
	const char	*id;		/* unique per attempt: commits once */
	int64_t		 job_id;
	int64_t		 asset_id;
	const char	*node;
	const char	*status;
	int		 retryable;
	int		 exit_code;
	int		 signal;
	const char	*cause;
	double		 cpu_seconds;
	long		 max_rss_kb;
	double		 duration;
	double		 started_at;
	double		 finished_at;
	const char	*stderr_tail;
	int		 width, height;	/* the video's, as ffprobe read it (0: unknown) */
	double		 video_duration;
	const char	*video;		/* the MP4's bytes, or NULL */
	size_t		 video_len;
	const char	*thumb;		/* its JPEG thumbnail, or NULL */
	size_t		 thumb_len;
};

struct queue_cbs {
	/* (Re)connected and the group exists; created is 1 when the stream
	 * had to be created, i.e. Redis is new or lost its data. */
	void	(*connected)(int created, void *);
	/* A job for this consumer; acknowledge it with queue_ack once the
	 * outcome is committed. reclaimed: taken over from a consumer that
	 * held it longer than any render can take (it died). */
	void	(*job)(const char *entry_id, const struct queue_job *, int reclaimed,
		    void *);
	/* Set on the node with the database: it reads <prefix>:results
	 * through the group <prefix>:committers (its own pending entries
	 * first); a result to commit, then queue_result_done. The strings and
	 * the video (NULL when it is missing) live until the callback returns. */
	void	(*result)(const char *entry_id, const struct queue_result *, void *);
};

/*
 * url: "unix:/path/redis.sock", "/path/redis.sock" or "redis://host:port".
 * Keys: <prefix>:jobs (stream), group <prefix>:renderers, this consumer;
 * <prefix>:retry (sorted set of job ids by due time).
 * Connects in the background and reconnects with backoff for ever.
 */
struct queue	*queue_new(struct event_base *, const char *url, const char *prefix,
		    const char *consumer, const struct queue_cbs *, void *);
void		 queue_free(struct queue *);
int		 queue_connected(const struct queue *);
/* What is wrong with Redis, in words (not connected, and why; or a PING
 * unanswered past its deadline: a hung server), or NULL. */
const char	*queue_problem(const struct queue *, char *buf, size_t len);
/* How many more jobs this consumer can take now (0 stops reading). Each
 * job handed to the job callback counts against it; say it again when
 * that changes otherwise (a job ended, an entry handed out was not taken). */
void		 queue_want(struct queue *, int);
/* XADD the job; cb(ok) when Redis answered (ok=0 on error/disconnect). */
void		 queue_publish(struct queue *, const struct queue_job *,
		    void (*cb)(int ok, int64_t job_id, void *), void *);
/* ZADD the job to the retry set, due at the unix time; a timer moves due
 * jobs to the stream (ZREM first: of several nodes, one moves each). */
void		 queue_schedule(struct queue *, const struct queue_job *, int64_t due,
		    void (*cb)(int ok, int64_t job_id, void *), void *);
/* This node cannot render the entry (no such template version here): put
 * it back for another node (at the stream's end; after many refusals in
 * the retry set, 30 s later) and acknowledge it. */
void		 queue_refuse(struct queue *, const char *entry_id, const struct queue_job *);
/* A node without the database: store the result (SET the video with a
 * TTL, then XADD <prefix>:results); cb(ok) once both are in Redis. */
void		 queue_result_put(struct queue *, const struct queue_result *,
		    void (*cb)(int ok, void *), void *);
/* Stop reading results (hold 1: the database cannot commit them now), or
 * read again, our own pending ones first (hold 0). */
void		 queue_results_hold(struct queue *, int hold);
/* The result is committed: XACK, XDEL and the video key deleted. */
void		 queue_result_done(struct queue *, const char *entry_id, const char *result_id);
/* XACK and XDEL: the job's outcome is safe in SQLite (NULL: a job that
 * came from SQLite, not from the stream: nothing to do). */
void		 queue_ack(struct queue *, const char *entry_id);
/* Claim entries pending for another consumer longer than idle_ms (it
 * died mid-render); checked every idle_ms/4. 0 turns it off. */
void		 queue_set_reclaim(struct queue *, long idle_ms);
/* Stream length (XLEN) as last seen, for status and metrics. */
long long	 queue_depth(const struct queue *);

#endif
