/* SPDX-License-Identifier: ISC */
/* webhook.h: greetbot-tg's webhook mode (telegram_mode = webhook): its
 * HTTP server for Telegram's POSTs (libevent evhttp, on the bot's loop),
 * setWebhook at start, and deleteWebhook before polling. */
#ifndef GREETBOT_WEBHOOK_H
#define GREETBOT_WEBHOOK_H

#include <cjson/cJSON.h>

struct config;
struct event_base;
struct tg;

/* Apply one update and commit it; returns after the commit: 0, or -1 when
 * the database could not take it (then Telegram is asked to send it again). */
typedef int (*webhook_apply_fn)(const cJSON *update);

/*
 * Serve cfg->webhook_path on cfg->webhook_listen: a POST with the right
 * X-Telegram-Bot-Api-Secret-Token header (compared in constant time) and
 * an Update body is passed to apply and answered 200 once apply returned,
 * so only after the commit. Without the header or with a wrong one: 401;
 * another path: 404; another method: 405; a body that is not an Update:
 * 400; none of these changes anything. Its limits (httplimit.h): 8 kB of
 * headers; a body of up to 1 MB, read only once the secret header was
 * seen (without it, one over 16 kB is refused 413 unread); 10 s a
 * request; twice max_connections connections. Then calls setWebhook (url,
 * secret_token, allowed_updates, max_connections), again with a growing
 * delay until Telegram accepts it. allowed is a JSON array (taken).
 * The bound address goes to bound. -1 when it cannot listen.
 */
int	webhook_start(struct event_base *, struct tg *, const struct config *,
	    cJSON *allowed, webhook_apply_fn apply, char *bound, size_t boundlen);
/* Stop serving (SIGTERM): Telegram sends what comes next again later. */
void	webhook_stop(void);
/*
 * Polling mode: deleteWebhook (Telegram refuses getUpdates while a
 * webhook is set), then ready() (may be NULL) whether it worked or not: a
 * wrong token or an API that is down is then getUpdates' to report, and a
 * 409 for a webhook calls this again. Nothing when a call is on its way.
 */
void	webhook_delete(struct event_base *, struct tg *, void (*ready)(void));
/* 1 when two secrets are equal; the time taken depends on the configured
 * one's length only (exposed for tests). */
int	webhook_secret_equal(const char *given, const char *secret);

#endif
