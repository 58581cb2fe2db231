/* SPDX-License-Identifier: ISC */
/*
 * runner.h: greetbotd's job runner, the part of it that moves jobs: the
 * relay from SQLite to the Redis Stream (relay.c), the workers that take
 * jobs and render them (worker.c), speculative renders (speculate.c) and
 * the results of render nodes without the database (results.c). Every
 * change of a job's state goes through the state machine (jobs.h).
 *
 * The supervisor (supervisor/) gives it its configuration, event base,
 * database and sandbox, and is told when the bots have new outbox rows
 * and when no render runs any more (a drain can end).
 */
#ifndef GREETBOT_RUNNER_H
#define GREETBOT_RUNNER_H

#include <sqlite3.h>
#include <stdint.h>
#include <time.h>

#include "jobs.h"
#include "template.h"

struct config;
struct event_base;
struct evbuffer;
struct queue;
struct queue_job;
struct queue_result;
struct render;
struct render_outcome;
struct sandbox;

#define RUNNER_SLOTS	256	/* worker slots: each its own uid */
#define MAX_BYTES	(50LL * 1024 * 1024)	/* Telegram's bot upload limit */

/* One job being rendered here. */
struct job {
	int64_t		 id, asset_id, attempt_id;
	char		*bot;		/* the asset's */
	char		*tmpl;		/* its template id */
	char		*entry_id;	/* the stream entry to ack, or NULL */
	char		*name;
	char		*stress;	/* names.h stress text, "" for none */
	struct render	*render;
	int		 slot;		/* worker slot: its uid */
	double		 started_at;
	int		 interrupted;	/* killed by a drain */
	int		 speculative;	/* no parent has confirmed it yet */
	int		 preempted;	/* stopped: a confirmed job needs the worker */
	int		 finishing;	/* ended; its worker already counts as free */
	double		 progress;	/* last shown to the parents */
	time_t		 progress_at;
	struct job	*next;
};

/* Renders by status on a node without the database, for /metrics. */
struct node_count {
	char			*status;
	long long		 n;
	struct node_count	*next;
};

/* A template a job named that is not the default, loaded on demand. */
struct tmpl_list {
	struct template		 t;
	struct tmpl_list	*next;
};

/* An entry read ahead while every worker is busy: it starts the moment one
 * frees, without a trip to Redis (it stays pending for this node there). */
struct held {
	char		*entry_id;
	struct queue_job *qj;		/* its strings our own */
	int		 reclaimed;
};

/*
 * Work the database could not take (locked, disk full: lib/db.h): a claim,
 * an attempt's outcome, a stop. Kept in order and tried again every second
 * until the database takes it; meanwhile no new job is taken, and a stream
 * entry whose outcome is not saved is not acknowledged.
 */
enum unsaved_kind { UNSAVED_CLAIM, UNSAVED_OUTCOME, UNSAVED_STOP };

struct unsaved {
	enum unsaved_kind	 kind;
	int64_t			 job, attempt;
	char			*entry_id;	/* to acknowledge once saved */
	int			 reclaimed;	/* a claim's */
	struct jobs_outcome	 o;		/* an outcome's (strings our own) */
	int			 why;		/* a stop's (enum jobs_stop) */
	int			 signal;
	double			 duration;
	struct unsaved		*next;
};

/* The runner's process-wide state. */
struct runner {
	/* Given by the supervisor (runner_init). */
	struct config		*cfg;
	struct event_base	*base;
	sqlite3			*db;		/* NULL: a render node without one */
	const struct sandbox	*sb;
	const char		*render_dir, *assets_dir;
	struct template		*tmpl;		/* the default template */
	void			(*wake_bots)(void);	/* outbox rows to send */
	void			(*idle)(void);		/* no render runs now */
	void			(*connected)(void);	/* Redis answers */

	struct queue		*queue;
	struct held		*held;		/* one entry read ahead, or NULL */
	struct unsaved		*unsaved;	/* what the database did not take yet */
	int			 results_held;	/* render nodes' results wait for it */
	struct job		*jobs;
	int			 running;
	int			 keeping;	/* ended, their outputs syncing (worker.c) */
	int			 ncpu;
	char			 slot_busy[RUNNER_SLOTS];
	int			 spec_maybe;	/* speculative jobs may wait to start */
	int			 relaying;	/* publishes in flight */
	int			 taking_spec;	/* jobs_take is starting speculative jobs */
	time_t			 expired_at;	/* speculate_expire last ran */
	int			 draining;
	const char		*paused;	/* why no job is taken, or NULL */
	/* A render node without the database. */
	uint64_t		 boot;		/* random: part of its result ids */
	long long		 attempts_here;
	long long		 refused;	/* entries of a version not here */
	time_t			 refused_at;	/* then a second without reading */
	struct node_count	*counts;	/* its renders by status */
	struct tmpl_list	*tmpls;		/* templates other than the default */
};

extern struct runner rn;

/* runner.c */
void	runner_init(void);
void	runner_start_held(void);
void	runner_connect(const char *redis_url);
void	runner_free(void);
void	runner_wake(void);		/* the bots wrote jobs */
void	runner_tick(void);		/* once a second */
void	runner_pause(const char *why);	/* NULL: take jobs again */
void	runner_drain(void);		/* no new jobs; running ones go on */
void	runner_drain_kill(void);	/* stop the running renders now */
void	runner_reload(void);		/* SIGHUP: workers, templates */
int	runner_redis_up(void);
const char *runner_redis_problem(void);
long long runner_queue_depth(void);
void	runner_node_metrics(struct evbuffer *);
const struct template *runner_template(const char *id);

/* unsaved.c */
void	unsaved_claim(const char *entry_id, int64_t job, int reclaimed);
void	unsaved_outcome(const char *entry_id, int64_t job, int64_t attempt,
	    const struct jobs_outcome *);
void	unsaved_stop(int64_t job, int64_t attempt, enum jobs_stop, int signal, double duration);
void	unsaved_retry(void);

/* relay.c */
void	relay_run(void);

/* worker.c */
void	jobs_take(void);
void	worker_job(const char *entry_id, int64_t job_id, int reclaimed, int speculative);
int	worker_start(const char *entry_id, int64_t job_id, int reclaimed, int speculative);
void	worker_render(struct job *, const struct template *);
void	worker_finished(struct job *);
void	job_free(struct job *);
int	worker_has(int64_t job_id);
int	running_confirmed(void);

/* speculate.c */
void	speculate_promote(void);
void	speculate_preempt(void);
void	speculate_expire(void);

/* results.c */
void	results_start(const char *entry_id, const struct queue_job *);
void	results_send(struct job *, const struct render_outcome *);
void	results_commit(const char *entry_id, const struct queue_result *, void *);

#endif
