/* SPDX-License-Identifier: ISC */
/*
 * notice.h: the outbox rows a job's events mean for people: the video for
 * every subscriber, the failure notice with its retry button, the progress
 * edits, and the admin's alerts. Each is written inside the caller's
 * transaction, with the texts and admin chat of the asset's bot
 * (jobs_env), and sent by that bot's greetbot-tg.
 */
#ifndef GREETBOT_NOTICE_H
#define GREETBOT_NOTICE_H

#include <stdint.h>

/* The video for every subscriber still waiting (one upload, then file_id);
 * their progress edits still waiting are dropped. */
void	notice_video(int64_t asset);
/* A failure notice with a retry button to every subscriber still waiting,
 * whose requests are FAILED then. */
void	notice_failed(int64_t asset, const char *display);
/* The render's progress (0..1) on every waiting subscriber's "order
 * accepted" message, the asset's and those of assets sharing its render. */
void	notice_progress(int64_t asset, const char *display, double progress);
/* An alert to the bot's admin_chat_id: one per cause (what) per
 * alert_window, the rest counted and told in the next one. */
void	notice_alert(const char *bot, const char *what, const char *text);
/* A final failure, or a broken template, told to the bot's admin: one
 * alert per cause per alert_window, the rest counted. */
void	notice_alert_failure(const char *bot, const char *tmpl, int64_t job, int64_t asset,
	    const char *status, const char *cause);

/* A request was cancelled: its rows still waiting (the video, progress)
 * are dropped; with tell, its "order accepted" message is deleted and the
 * parent told in a line. */
void	notice_cancelled(int64_t request, int tell);

/* How many outbox rows these wrote since it was last asked (then 0): the
 * bots need waking only when some were. */
int	notice_written(void);

#endif
