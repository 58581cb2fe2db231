/* SPDX-License-Identifier: ISC */
/*
 * supervisor.h: greetbotd, the parent. It starts and supervises the
 * services (the private redis-server, one greetbot-tg per enabled bot),
 * owns the HTTP endpoints, and runs the job runner (jobs/runner.h) on its
 * loop. This is its process-wide state.
 */
#ifndef GREETBOT_SUPERVISOR_H
#define GREETBOT_SUPERVISOR_H

#include <sqlite3.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "template.h"

struct child_spec;
struct event;
struct event_base;
struct texts;

/* A supervised long-lived child: greetbot-tg or the private redis-server. */
struct service {
	const char	*name;
	pid_t		 pid;
	int		 backoff;
	time_t		 started;
	int		 restarts;	/* within the crash window */
	struct event	*restart_ev;
	void		(*start)(struct service *);
	struct event	*out_ev;	/* its output, logged line by line */
	int		 out_fd;
	char		 buf[1024];
	size_t		 len;
	int		 stopped;	/* disabled: not restarted */
	int		 own_log;	/* writes to our stderr itself (logfmt) */
};

/* One configured bot: its greetbot-tg (the service first: a struct
 * service * of a bot is its struct bot *), the texts its parents read. */
struct bot {
	struct service	 svc;
	char		 name[48];	/* "greetbot-tg" or "greetbot-tg[ID]" */
	char		*id;
	int		 index;		/* in the configuration: its preview slots */
	int		 wake[2];	/* we write: its outbox has new rows */
	struct rendsrv_client *renders;	/* its previews, rendered by us */
	struct texts	*texts;
};

struct supervisor {
	struct config		 cfg;
	const char		*config_path;
	struct event_base	*base;
	sqlite3			*db;		/* NULL: a render node without one */
	struct template		 tmpl;		/* the default template */
	struct texts		*texts;		/* the top level's: a bot's fallback */
	struct service		 redis;
	struct bot		*bots;		/* as configured at start */
	int			 nbots;
	char			*render_dir, *assets_dir, *redis_dir, *redis_sock;
	int			 redis_lock;	/* held by us and our redis-server */
	struct sandbox		 sb;		/* who renderers run as */
	struct rendsrv_env	 render_env;	/* the renders we serve: the
						   workers', each bot's previews */
	char			*render_problem;	/* why renderers cannot start */
	time_t			 render_checked;
	int			 draining;
	int			 ready_fd;
	char			 http_addr[64];
	int			 announced;
	int			 wake_us[2];	/* the bots write: new jobs */
	struct event		*wake_ev, *tick_ev, *drain_ev;
};

extern struct supervisor sv;

/* service.c */
void		 service_init(struct service *, const char *name,
		    void (*start)(struct service *));
void		 service_spawn(struct service *, struct child_spec *);
void		 redis_start(struct service *);
void		 redis_lock_take(void);	/* wait for the previous private Redis */
void		 bot_start(struct service *);
void		 bots_setup(void);
void		 bots_reload(void);
void		 bots_wake(void);
void		 bots_stop(void);
struct bot	*bot_down(void);
struct texts	*bot_texts(const char *id);
const struct config *bot_cfg(const char *id);

/* retention.c: history_days, pruned at start and every hour (db NULL:
 * nothing to prune). */
void		 retention_start(struct event_base *, sqlite3 *, const struct config *);

/* supervisor.c */
void		 announce_ready(void);
void		 drain_check(void);
void		 redis_ready(void);

#endif
