/* SPDX-License-Identifier: ISC */
/* delivery.h: greetbot-tg's sender. Every Bot API send is an outbox row
 * first (committed with its cause), then sent from here, so nothing is lost
 * on a crash and there is one place for flood control. */
#ifndef GREETBOT_DELIVERY_H
#define GREETBOT_DELIVERY_H

#include <sqlite3.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct event_base;
struct tg;

void	delivery_init(struct event_base *, sqlite3 *, struct tg *, const char *bot_id);
/* Flood control: at most global sends a second in all, per_chat to one chat. */
void	delivery_set_rates(int global, int per_chat);
/* Look at the outbox now (something was added). */
void	delivery_kick(void);
/* The Bot API answers again: what waits out a backoff is sent now. */
void	delivery_api_back(void);
/* Queue a call (inside the caller's transaction); takes params. */
int64_t	delivery_add(int64_t chat_id, const char *kind, const char *method,
	    cJSON *params, int64_t request_id, int64_t asset_id);
/* Called when the sender itself queued a job (a video to render again). */
void	delivery_set_jobs_notify(void (*)(void));
/* Stop: no call starts any more; done() once none is in flight (at once
 * when none is), so that a send Telegram carried out is not sent again
 * after the restart because its answer was never read. */
void	delivery_stop(void (*done)(void));

/*
 * The pronunciation preview: a "preview" row carries its name in the
 * params as "_name" and the stress chosen as "_stress" (names.h; "" or
 * absent: none); the sender asks this function for the OGG file, then
 * uploads it with sendVoice. done(NULL) falls back to a text message.
 */
typedef void (*delivery_preview_done)(const char *path, void *arg);
void	delivery_set_preview(void (*make)(const char *name, const char *stress,
	    delivery_preview_done, void *));

#endif
