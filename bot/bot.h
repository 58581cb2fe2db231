/* SPDX-License-Identifier: ISC */
/*
 * bot.h: greetbot-tg, the bot process of one bot. It owns every Bot API
 * call of its bot: updates by long polling or a webhook (bot.c), the
 * conversation (conversation.c), pronunciation previews (preview.c) and
 * the outbox sender (delivery.c). This is its process-wide state.
 */
#ifndef GREETBOT_BOT_H
#define GREETBOT_BOT_H

#include <sqlite3.h>
#include <stdint.h>

#include "config.h"
#include "delivery.h"
#include "sandbox.h"
#include "template.h"

struct event;
struct event_base;
struct tg;
struct tg_call;
struct texts;
struct update;

struct greetbot_tg {
	struct config		 cfg;
	const char		*config_path;
	const char		*bot_name;	/* -b: which of the configured bots */
	struct event_base	*base;
	sqlite3			*db;
	struct tg		*tg;
	struct texts		*texts;
	struct template		 tmpl;
	int64_t			 offset;
	int			 backoff;
	int			 notify_fd;	/* to greetbotd: new jobs */
	int			 new_jobs;
	struct event		*poll_ev;
	struct tg_call		*poll;
	int			 stopping;
	char			*render_dir;	/* greetbotd's state_dir/render */
	char			*previews_dir;
	struct sandbox		 sb;		/* who previews render as (run alone) */
	char			*work_root;	/* their work dirs (run alone) */
	char			 preview_busy[SANDBOX_PREVIEWS];	/* slots */
	int64_t			 api_failing_since;	/* the Bot API's calls, 0: fine */
};

extern struct greetbot_tg bt;

/* bot.c */
void	 notify_jobs(void);

/* conversation.c: one update's effects, inside its transaction. */
void	 conversation_update(const struct update *);

/* preview.c */
void	 preview_make(const char *name, const char *stress, delivery_preview_done,
	    void *);
char	*stress_canonical(const char *display, const char *stress);

#endif
