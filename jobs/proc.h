/* SPDX-License-Identifier: ISC */
/*
 * proc.h: greetbotd's jobs process ("greetbotd --jobs", started by the
 * privileged parent, supervisor/): the database, the job runner
 * (runner.h), the HTTP endpoints (health.h) and the retention of the
 * history, as the service user. This is its process-wide state.
 */
#ifndef GREETBOT_PROC_H
#define GREETBOT_PROC_H

#include <sqlite3.h>

#include "config.h"
#include "sandbox.h"
#include "template.h"

struct chan;
struct event;
struct event_base;
struct texts;

/* A bot: its texts (ours to load: the notices we write are in them), and
 * its greetbot-tg's state as the parent tells it. */
struct jobs_bot {
	char		*id;
	struct texts	*texts;		/* NULL: not configured here (told only) */
	int		 told;		/* by the parent: up and enabled mean it */
	int		 up, enabled;
	struct jobs_bot	*next;
};

struct jobsproc {
	struct config		 cfg;
	const char		*config_path;
	struct event_base	*base;
	sqlite3			*db;		/* NULL: a render node without one */
	struct template		 tmpl;		/* the default template (JP_TEMPLATE) */
	struct texts		*texts;		/* the top level's: a bot's fallback */
	struct jobs_bot		*bots;		/* in the order the parent told them */
	struct sandbox		 sb;		/* the parent's numbers: for the logs */
	char			*render_dir, *assets_dir;
	struct chan		*ctl;		/* to the parent (jobsproto.h) */
	char			*render_problem;	/* the parent's word, or NULL */
	int			 draining;
	struct event		*drain_ev;
	char			 http_addr[64];
};

extern struct jobsproc jp;

/* proc.c: the process's main; does not return. */
void	jobs_main(const char *config_path) __attribute__((noreturn));

/* retention.c: history_days, pruned at start and every hour (db NULL:
 * nothing to prune). */
void	retention_start(struct event_base *, sqlite3 *, const struct config *);

#endif
