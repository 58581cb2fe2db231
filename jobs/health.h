/* SPDX-License-Identifier: ISC */
/* health.h: greetbotd's HTTP endpoints (evhttp, loopback by default):
 * /health, /health/db, /health/redis, /health/bot and /metrics. */
#ifndef GREETBOT_HEALTH_H
#define GREETBOT_HEALTH_H

#include <sqlite3.h>

struct event_base;
struct evbuffer;

/* What the supervisor tells the endpoints, asked at each request. */
struct health_source {
	const char	*(*redis_problem)(void);	/* NULL: Redis answers */
	const char	*(*bot_problem)(void);	/* NULL: every enabled bot runs */
	long long	(*queue_depth)(void);
	int		(*workers_busy)(void);
	const char	*(*render_problem)(void);	/* NULL: renderers can start */
	/* A node without the database: its own counters for /metrics. */
	void		(*node_metrics)(struct evbuffer *);
	int		 workers;
	sqlite3		*db;		/* NULL on a render node without one,
					   or until health_set_db */
	const char	*state_dir;	/* its free space is watched */
};

/* Listen on "host:port" (port 0: any free port); the bound address is
 * written to bound (for logs and tests). -1 with errno on failure. */
int	health_start(struct event_base *, const char *listen, const struct health_source *,
	    char *bound, size_t boundlen);
/* The database, opened after the port was bound (as the service user). */
void	health_set_db(sqlite3 *);
void	health_stop(void);
/* The bytes free for us under state_dir (and the file system's size in
 * *size), or -1. */
long long health_disk_free(long long *size);
/* The Prometheus text of /metrics (exposed for tests). */
void	health_metrics(struct evbuffer *);

#endif
