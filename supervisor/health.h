/* health.h: greetbotd's HTTP endpoints (evhttp, loopback by default):
 * /health, /health/db, /health/redis, /health/bot and /metrics. */
#ifndef GREETBOT_HEALTH_H
#define GREETBOT_HEALTH_H

#include <sqlite3.h>

struct event_base;
struct evbuffer;

/* What the supervisor tells the endpoints, asked at each request. */
struct health_source {
	int		(*redis_up)(void);
	const char	*(*bot_problem)(void);	/* NULL: every enabled bot runs */
	long long	(*queue_depth)(void);
	int		(*workers_busy)(void);
	const char	*(*render_problem)(void);	/* NULL: renderers can start */
	/* A node without the database: its own counters for /metrics. */
	void		(*node_metrics)(struct evbuffer *);
	int		 workers;
	sqlite3		*db;		/* NULL on a render node without one */
};

/* Listen on "host:port" (port 0: any free port); the bound address is
 * written to bound (for logs and tests). -1 with errno on failure. */
int	health_start(struct event_base *, const char *listen, const struct health_source *,
	    char *bound, size_t boundlen);
void	health_stop(void);
/* The Prometheus text of /metrics (exposed for tests). */
void	health_metrics(struct evbuffer *);

#endif
