/* SPDX-License-Identifier: ISC */
/*
 * webhook.c: tgsim's webhook, as Telegram's: the deliveries of the update
 * queue to the URL setWebhook set (loopback only), and the methods
 * setWebhook, deleteWebhook and getWebhookInfo.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "tg.h"
#include "tgsim.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------- */
/* Webhook delivery: while a webhook is set, each queued update is POSTed
 * to it as Telegram does (one Update per request, the secret token in a
 * header), at most max_connections at once and one at a time per chat, in
 * update_id order; an update leaves the queue when the webhook answers
 * 2xx, else it is tried again after 1, 2, 4 ... 60 s. */

/* The chat an update is about ("c<id>"), or the update itself ("u<id>")
 * when it has none: deliveries keep the order within one key. */
static void
update_order_key(const struct update *u, char *key, size_t len)
{
	const cJSON *kind = u->json->child, *chat = NULL;

	for (; kind != NULL && !cJSON_IsObject(kind); kind = kind->next)
		;
	if (kind != NULL && (chat = cJSON_GetObjectItemCaseSensitive(kind, "chat")) == NULL)
		chat = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(kind, "message"), "chat");
	if (chat == NULL && kind != NULL)
		chat = cJSON_GetObjectItemCaseSensitive(kind, "from");
	if (chat != NULL && json_int(chat, "id", 0) != 0)
		snprintf(key, len, "c%" PRId64, json_int(chat, "id", 0));
	else
		snprintf(key, len, "u%" PRId64, u->id);
}

/* What Telegram's getWebhookInfo says about an HTTP error. */
static void
webhook_error(const struct tg_result *r)
{
	static const struct { long code; const char *text; } reasons[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 413, "Payload Too Large" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	const char *reason = "";

	free(sim.webhook.last_error_message);
	if (r->transport_error || r->http_status == 0) {
		sim.webhook.last_error_message = xstrdup(r->description);
	} else {
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (reasons[i].code == r->http_status)
				reason = reasons[i].text;
		xasprintf(&sim.webhook.last_error_message, "Wrong response from the "
		    "webhook: %ld%s%s", r->http_status, *reason ? " " : "", reason);
	}
	sim.webhook.last_error_date = (int64_t)time(NULL);
}

/* A delivery's answer: 2xx takes the update off the queue. */
static void
webhook_done(const struct tg_result *r, void *arg)
{
	struct update *u = arg;
	int delay;

	u->post = NULL;
	sim.webhook.in_flight--;
	if (r->ok) {
		sim.webhook.delivered++;
		log_debug("webhook delivered", "update_id=%" PRId64, u->id);
		update_free(u);
	} else {
		sim.webhook.failed++;
		webhook_error(r);
		delay = u->tries < 6 ? 1 << u->tries : TG_WEBHOOK_BACKOFF_MAX;
		if (delay > TG_WEBHOOK_BACKOFF_MAX)
			delay = TG_WEBHOOK_BACKOFF_MAX;
		u->tries++;
		u->next_at = now_mono() + delay;
		log_info("webhook delivery failed", "update_id=%" PRId64 " status=%ld "
		    "retry_in=%d", u->id, r->http_status, delay);
	}
	webhook_pump();
}

static void
webhook_post(struct update *u)
{
	const char *headers[2] = { sim.webhook.header, NULL };
	char *json = cJSON_PrintUnformatted(u->json);

	if (json == NULL)
		fatalx("cJSON_PrintUnformatted");
	u->post = tg_post_url(sim.webhook.client, sim.webhook.url, json, headers,
	    TG_WEBHOOK_TIMEOUT_MS, webhook_done, u);
	sim.webhook.in_flight++;
	cJSON_free(json);
}

/* Start the deliveries that may go now; arm the timer for the next retry. */
void
webhook_pump(void)
{
	struct table held = { 0 };
	struct update *u;
	double now = now_mono(), next = -1;
	char key[48];

	if (sim.webhook.url == NULL)
		return;
	TAILQ_FOREACH(u, &sim.updates, entry) {
		update_order_key(u, key, sizeof(key));
		if (table_get(&held, key) != NULL)
			continue;	/* an earlier update of its chat is not through */
		table_put(&held, key, u);
		if (u->post != NULL)
			continue;
		if (u->next_at > now) {
			if (next < 0 || u->next_at < next)
				next = u->next_at;
			continue;
		}
		if (sim.webhook.in_flight >= sim.webhook.max_connections)
			break;
		webhook_post(u);
	}
	table_clear(&held, NULL);
	if (next >= 0) {
		struct timeval tv;

		tv.tv_sec = (time_t)(next - now);
		tv.tv_usec = (suseconds_t)((next - now - (double)tv.tv_sec) * 1e6) + 1000;
		evtimer_add(sim.webhook.timer, &tv);
	}
}

void
webhook_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	webhook_pump();
}

/* Give up every delivery in flight; the updates stay queued, due now. */
static void
webhook_reset(void)
{
	struct update *u;

	TAILQ_FOREACH(u, &sim.updates, entry) {
		if (u->post != NULL) {
			tg_cancel(u->post);
			u->post = NULL;
			sim.webhook.in_flight--;
		}
		u->tries = 0;
		u->next_at = 0;
	}
	if (sim.webhook.timer != NULL)
		evtimer_del(sim.webhook.timer);
}

/* Remove the webhook (deleteWebhook, setWebhook with an empty url). */
void
webhook_clear(void)
{
	webhook_reset();
	free(sim.webhook.url);
	free(sim.webhook.header);
	free(sim.webhook.last_error_message);
	sim.webhook.url = sim.webhook.header = sim.webhook.last_error_message = NULL;
	sim.webhook.last_error_date = 0;
}

/* ---------------------------------------------------------------------- */
/* setWebhook, deleteWebhook and getWebhookInfo. */

/* 1 when host (as curl's URL parser gives it) is a loopback address:
 * 127.0.0.0/8, [::1] or localhost. tgsim sends nothing anywhere else. */
static int
host_is_loopback(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* NULL when url is an http(s) URL to a loopback host, else why not. */
static const char *
webhook_url_error(const char *url)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *err = NULL;

	if (h == NULL)
		fatalx("curl_url");
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		err = "Bad Request: bad webhook: invalid URL";
	else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		err = "Bad Request: bad webhook: HTTPS url must be provided for webhook";
	else if (!host_is_loopback(host))
		err = "Bad Request: bad webhook: tgsim delivers to loopback addresses "
		    "only (127.0.0.0/8, ::1, localhost)";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return err;
}

/* A Boolean parameter: "true" or "1". */
static int
params_true(const struct params *p, const char *name)
{
	const char *v = params_str(p, name);

	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Drop every queued update (drop_pending_updates). */
static void
updates_drop(void)
{
	struct update *u;

	while ((u = TAILQ_FIRST(&sim.updates)) != NULL)
		update_free(u);
}

/*
 * setWebhook: checked (a loopback http or https URL only; secret_token
 * 1-256 of A-Z a-z 0-9 _ -; max_connections 1-100, default 40), then
 * updates are POSTed there and getUpdates answers 409. An empty url
 * removes the webhook. Setting it again starts every delivery afresh.
 */
void
m_setwebhook(struct call *c)
{
	const char *url = params_str(&c->params, "url");
	const char *secret = params_str(&c->params, "secret_token");
	const char *allowed = params_str(&c->params, "allowed_updates");
	const char *ip = params_str(&c->params, "ip_address");
	const char *err;
	int64_t conns = TG_WEBHOOK_CONNS;
	struct waiter *w;
	size_t n;

	if (params_int(&c->params, "max_connections", &conns) == -1) {
		call_fail(c, 400, "Bad Request: wrong parameter type");
		return;
	}
	if (url == NULL || *url == '\0') {
		webhook_clear();
		if (params_true(&c->params, "drop_pending_updates"))
			updates_drop();
		api_ok(c->req, cJSON_CreateTrue());
		return;
	}
	if ((err = webhook_url_error(url)) != NULL) {
		call_fail(c, 400, "%s", err);
		return;
	}
	if (ip != NULL && *ip != '\0' && !host_is_loopback(ip)) {
		call_fail(c, 400, "Bad Request: bad webhook: tgsim delivers to "
		    "loopback addresses only");
		return;
	}
	if (secret != NULL && ((n = strlen(secret)) == 0 || n > 256 ||
	    strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") != n)) {
		call_fail(c, 400, "Bad Request: secret token contains unallowed "
		    "characters or is not 1-256 characters long");
		return;
	}
	if (allowed != NULL && updates_set_allowed(allowed) == -1) {
		call_fail(c, 400, "Bad Request: can't parse allowed updates");
		return;
	}
	webhook_clear();
	sim.webhook.url = xstrdup(url);
	if (secret != NULL) {
		log_add_secret(secret);
		xasprintf(&sim.webhook.header, "X-Telegram-Bot-Api-Secret-Token: %s", secret);
	}
	sim.webhook.max_connections = conns < 1 ? 1 : conns > 100 ? 100 : (int)conns;
	if (params_true(&c->params, "drop_pending_updates"))
		updates_drop();
	/* A long poll held now ends as a getUpdates made now would. */
	if ((w = waiter_find_updates()) != NULL) {
		sim.stats.rejected++;
		api_error(waiter_take(w), 409, 0, "Conflict: can't use getUpdates method "
		    "while webhook is active; use deleteWebhook to delete the webhook first");
	}
	log_info("webhook set", "max_connections=%d secret_token=%s",
	    sim.webhook.max_connections, secret != NULL ? "yes" : "no");
	api_ok(c->req, cJSON_CreateTrue());
	webhook_pump();
}

/* deleteWebhook: back to getUpdates; the queue stays unless dropped. */
void
m_deletewebhook(struct call *c)
{
	if (sim.webhook.url != NULL)
		log_info("webhook deleted");
	webhook_clear();
	if (params_true(&c->params, "drop_pending_updates"))
		updates_drop();
	api_ok(c->req, cJSON_CreateTrue());
}

/* The WebhookInfo object (also /control/webhook's core). */
cJSON *
webhook_info(void)
{
	cJSON *info = cJSON_CreateObject();
	struct update *u;
	int64_t n = 0;

	TAILQ_FOREACH(u, &sim.updates, entry)
		n++;
	cJSON_AddStringToObject(info, "url", sim.webhook.url ? sim.webhook.url : "");
	cJSON_AddFalseToObject(info, "has_custom_certificate");
	json_add_int(info, "pending_update_count", n);
	if (sim.webhook.last_error_message != NULL) {
		json_add_int(info, "last_error_date", sim.webhook.last_error_date);
		cJSON_AddStringToObject(info, "last_error_message",
		    sim.webhook.last_error_message);
	}
	if (sim.webhook.url != NULL)
		json_add_int(info, "max_connections", sim.webhook.max_connections);
	if (sim.allowed != NULL)
		cJSON_AddItemToObject(info, "allowed_updates",
		    cJSON_Duplicate(sim.allowed, 1));
	return info;
}

/* getWebhookInfo: the webhook (url empty when none) and the queue length. */
void
m_getwebhookinfo(struct call *c)
{
	api_ok(c->req, webhook_info());
}
