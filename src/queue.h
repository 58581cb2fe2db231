/* queue.h: render jobs on a Redis Stream read through a consumer group. */
#ifndef GREETBOT_QUEUE_H
#define GREETBOT_QUEUE_H

#include <stdint.h>

struct event_base;
struct queue;

struct queue_cbs {
	/* (Re)connected and the group exists; created is 1 when the stream
	 * had to be created, i.e. Redis is new or lost its data. */
	void	(*connected)(int created, void *);
	/* A job for this consumer; acknowledge it with queue_ack once the
	 * outcome is committed. reclaimed: taken over from a consumer that
	 * held it longer than any render can take (it died). */
	void	(*job)(const char *entry_id, int64_t job_id, int reclaimed, void *);
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
/* How many more jobs this consumer can take now (0 stops reading). */
void		 queue_want(struct queue *, int);
/* XADD the job; cb(ok) when Redis answered (ok=0 on error/disconnect). */
void		 queue_publish(struct queue *, int64_t job_id,
		    void (*cb)(int ok, int64_t job_id, void *), void *);
/* ZADD the job to the retry set, due at the unix time; a timer moves due
 * jobs to the stream (ZREM first: of several nodes, one moves each). */
void		 queue_schedule(struct queue *, int64_t job_id, int64_t due,
		    void (*cb)(int ok, int64_t job_id, void *), void *);
/* XACK and XDEL: the job's outcome is safe in SQLite. */
void		 queue_ack(struct queue *, const char *entry_id);
/* Claim entries pending for another consumer longer than idle_ms (it
 * died mid-render); checked every idle_ms/4. 0 turns it off. */
void		 queue_set_reclaim(struct queue *, long idle_ms);
/* Stream length (XLEN) as last seen, for status and metrics. */
long long	 queue_depth(const struct queue *);

#endif
