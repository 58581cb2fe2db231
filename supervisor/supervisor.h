/* SPDX-License-Identifier: ISC */
/*
 * supervisor.h: greetbotd, the privileged parent. It starts and
 * supervises its children (the jobs process, the private redis-server,
 * one greetbot-tg per enabled bot), renders for them as the slots' uids
 * (jobs/rendsrv.h), and reads nothing from the network: only
 * fixed-format messages from its own children. This is its
 * process-wide state.
 */
#ifndef GREETBOT_SUPERVISOR_H
#define GREETBOT_SUPERVISOR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "template.h"

struct chan;
struct child_spec;
struct event;
struct event_base;

/* A supervised long-lived child: the jobs process, a greetbot-tg, the
 * private redis-server. */
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
 * service * of a bot is its struct bot *). */
struct bot {
	struct service	 svc;
	char		 name[48];	/* "greetbot-tg" or "greetbot-tg[ID]" */
	char		*id;
	int		 index;		/* in the configuration: its preview slots */
	int		 wake[2];	/* we write: its outbox has new rows */
	struct rendsrv_client *renders;	/* its previews, rendered by us */
};

struct supervisor {
	struct config		 cfg;
	const char		*config_path;
	struct event_base	*base;
	struct template		 tmpl;		/* the default template */
	struct template		*others;	/* the rest of templates_dir's */
	int			 nothers;
	struct service		 jobs;		/* greetbotd --jobs (jobs/proc.h) */
	struct chan		*jobs_ctl;	/* its control channel (jobsproto.h) */
	struct rendsrv_client	*jobs_renders;	/* its workers' renders */
	int			 jobs_started;	/* it said so once: the bots start */
	int			 jobs_ready;	/* its Redis answers */
	int			 reloading;	/* SIGHUP: waiting for JP_RELOADED */
	struct service		 redis;
	int			 redis_up;	/* said it is ready since it started */
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
	int			 jobs_mode;	/* we are the jobs process (--jobs) */
	int			 ready_fd;
	char			 http_addr[64];
	int			 announced;
	int			 wake_us[2];	/* the bots write, the jobs process
						   reads: new jobs */
	struct event		*tick_ev, *drain_ev;
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
void		 bots_tell(void);
void		 jobs_start(struct service *);

/* supervisor.c */
void		 announce_ready(void);
void		 drain_check(void);
void		 redis_ready(void);
void		 jobs_msg(struct chan *, const void *, size_t, int *, int, void *);
void		 jobs_closed(struct chan *, void *);
void		 jobs_exited(int status);
void		 jobs_tell_render(void);
void		 jobs_tell_templates(void);
void		 reload_done(void);
int		 db_files_ready(void);

#endif
