/* SPDX-License-Identifier: ISC */
/*
 * webhook.c: greetbot-tg's webhook mode. Telegram POSTs each Update to
 * webhook_url; a reverse proxy that terminates TLS passes it on to this
 * evhttp server on webhook_listen (loopback by default). A request is
 * answered only once its update is committed: a crash before that leaves
 * Telegram without an answer, so it sends the update again, and the
 * update's recorded id makes the second delivery change nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "httplimit.h"
#include "log.h"
#include "tg.h"
#include "webhook.h"
#include "xmalloc.h"

/*
 * The limits (httplimit.h). Telegram posts one Update a request (a few kB;
 * a long message with its reply a few tens), through a reverse proxy on
 * this host (nginx has a body whole before it passes it on): 8 kB of headers,
 * the whole request in 10 s, at most two connections for each of the
 * max_connections Telegram was given. A body is read only once the
 * secret header was seen: without it, only a body small enough to be
 * answered 401 (a proxy or a test with the wrong secret); a larger one
 * is refused 413 unread.
 */
#define WH_BODY_MAX		(1024 * 1024)
#define WH_BODY_UNAUTH_MAX	(16 * 1024)
#define WH_HEADERS_MAX		(8 * 1024)
#define WH_DEADLINE		10	/* seconds per request, and per reply */
#define WH_BACKOFF_MAX	60		/* seconds between setWebhook tries */
#define WH_HEADER	"X-Telegram-Bot-Api-Secret-Token"

static struct {
	struct event_base	*base;
	struct tg		*tg;
	struct evhttp		*http;
	struct httplimit	*limits;
	char			*path;
	char			*secret;
	webhook_apply_fn	 apply;
	/* The Bot API call: setWebhook, made until it works, or deleteWebhook,
	 * made once. */
	const char		*method;
	cJSON			*params;
	int			 until_ok;
	void			(*ready)(void);
	struct tg_call		*call;
	struct event		*retry;
	int			 backoff;
} wh;

int
webhook_secret_equal(const char *given, const char *secret)
{
	size_t n = strlen(secret), g = strlen(given);
	unsigned char d = g != n;

	/* Every byte of the secret is looked at, whatever given holds. */
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)secret[i] ^ (unsigned char)(i < g ? given[i] : 0);
	return d == 0;
}

/* --- setWebhook / deleteWebhook, retried ------------------------------- */

static void	wh_try(evutil_socket_t, short, void *);

static void
wh_done(const struct tg_result *r, void *arg)
{
	struct timeval tv = { 0, 0 };
	void (*ready)(void) = wh.ready;

	(void)arg;
	wh.call = NULL;
	if (r->ok || !wh.until_ok) {
		if (r->ok)
			log_info("webhook call done", "method=%s", wh.method);
		else
			log_warnx("webhook call failed", "method=%s status=%ld", wh.method, r->http_status);
		cJSON_Delete(wh.params);
		wh.params = NULL;
		wh.backoff = 0;
		wh.ready = NULL;
		if (ready != NULL)
			ready();
		return;
	}
	wh.backoff = wh.backoff ? (wh.backoff * 2 > WH_BACKOFF_MAX ? WH_BACKOFF_MAX :
	    wh.backoff * 2) : 1;
	tv.tv_sec = r->retry_after > 0 ? r->retry_after : wh.backoff;
	log_warnx("webhook call failed, trying again", "method=%s status=%ld retry_in=%ld", wh.method,
	    r->http_status, (long)tv.tv_sec);
	if (r->error_code == 401 || r->error_code == 404)
		log_warnx("the bot token is not accepted: check telegram_token");
	evtimer_add(wh.retry, &tv);
}

static void
wh_try(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	wh.call = tg_call(wh.tg, wh.method, cJSON_Duplicate(wh.params, 1), 0, wh_done,
	    NULL);
}

/* Make method with params (taken), again until it works when until_ok,
 * then ready(). */
static void
wh_call(struct event_base *base, struct tg *tg, const char *method, cJSON *params,
    int until_ok, void (*ready)(void))
{
	wh.base = base;
	wh.tg = tg;
	wh.method = method;
	wh.params = params;
	wh.until_ok = until_ok;
	wh.ready = ready;
	if (wh.retry == NULL && (wh.retry = evtimer_new(base, wh_try, NULL)) == NULL)
		fatalx("webhook: evtimer_new");
	wh_try(-1, 0, NULL);
}

void
webhook_delete(struct event_base *base, struct tg *tg, void (*ready)(void))
{
	if (wh.params != NULL)
		return;		/* one is on its way */
	wh_call(base, tg, "deleteWebhook", cJSON_CreateObject(), 0, ready);
}

/* --- the server ---------------------------------------------------------- */

/* A short plain-text answer. */
static void
wh_reply(struct evhttp_request *req, int code, const char *reason)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("webhook: evbuffer_new");
	if (code != 200)
		evbuffer_add_printf(b, "%s\n", reason);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain");
	/* One request a connection (httplimit.h). */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	httplimit_answered(wh.limits, req);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* Who sent a request, for the log. */
static const char *
wh_peer(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	return addr != NULL ? addr : "-";
}

/* The request's body as an Update: an object whose update_id is a whole
 * number in 0..2^53; else NULL. */
static cJSON *
wh_update(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *data = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	cJSON *u = cJSON_ParseWithLength(data, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "update_id");

	if (!cJSON_IsObject(u) || !cJSON_IsNumber(id) || id->valuedouble < 0 ||
	    id->valuedouble > 9007199254740992.0 ||
	    id->valuedouble != floor(id->valuedouble)) {
		cJSON_Delete(u);
		return NULL;
	}
	return u;
}

static void
wh_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL, *secret;
	cJSON *u;

	(void)arg;
	if (path == NULL || strcmp(path, wh.path) != 0) {
		wh_reply(req, 404, "Not Found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
		wh_reply(req, 405, "Method Not Allowed");
		return;
	}
	secret = evhttp_find_header(evhttp_request_get_input_headers(req), WH_HEADER);
	if (secret == NULL || !webhook_secret_equal(secret, wh.secret)) {
		if (secret == NULL)
			log_warnx("webhook request refused: no secret token", "peer=%s",
			    wh_peer(req));
		else
			log_warnx("webhook request refused: wrong secret token", "peer=%s",
			    wh_peer(req));
		wh_reply(req, 401, "Unauthorized");
		return;
	}
	if ((u = wh_update(req)) == NULL) {
		log_warnx("webhook request refused: not an Update", "peer=%s", wh_peer(req));
		wh_reply(req, 400, "Bad Request");
		return;
	}
	log_debug("webhook update", "update_id=%lld",
	    (long long)tg_json_int64(u, "update_id"));
	/* Committed when it returns; if not (the database is locked or the
	 * disk full), Telegram sends it again later. */
	if (wh.apply(u) == -1)
		wh_reply(req, 503, "Service Unavailable");
	else
		wh_reply(req, 200, "OK");
	cJSON_Delete(u);
}

/*
 * The secret header in a request's raw header block (httplimit's look,
 * before evhttp reads the request): the body an Update may have with the
 * right one, else only a small one. Deciding nothing more: wh_request
 * checks the header evhttp parsed.
 */
static size_t
wh_head(const char *block, size_t len)
{
	const char *p = block, *end = block + len, *eol, *v;
	size_t n = strlen(WH_HEADER), vlen;
	char given[257];

	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if ((size_t)(eol - p) <= n || strncasecmp(p, WH_HEADER, n) != 0 || p[n] != ':')
			continue;
		for (v = p + n + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (vlen = (size_t)(eol - v); vlen > 0 && strchr(" \t\r", v[vlen - 1]) != NULL;
		    vlen--)
			;
		if (vlen >= sizeof(given))
			return WH_BODY_UNAUTH_MAX;
		memcpy(given, v, vlen);
		given[vlen] = '\0';
		return webhook_secret_equal(given, wh.secret) ? WH_BODY_MAX : WH_BODY_UNAUTH_MAX;
	}
	return WH_BODY_UNAUTH_MAX;
}

int
webhook_start(struct event_base *base, struct tg *tg, const struct config *cfg,
    cJSON *allowed, webhook_apply_fn apply, char *bound, size_t boundlen)
{
	const struct httplimit_conf lc = {
		.server = "webhook", .max_headers = WH_HEADERS_MAX, .max_body = WH_BODY_MAX,
		.deadline = WH_DEADLINE, .max_conns = 2 * cfg->webhook_max_connections,
		.head = wh_head,
	};
	cJSON *p;

	if ((wh.http = evhttp_new(base)) == NULL)
		fatalx("webhook: evhttp_new");
	wh.limits = httplimit_new(base, wh.http, &lc);
	/* Every method reaches wh_request, which answers 405 for all but POST. */
	evhttp_set_allowed_methods(wh.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(wh.http, wh_request, NULL);
	wh.path = xstrdup(cfg->webhook_path);
	wh.secret = xstrdup(cfg->webhook_secret);
	if (httplimit_bind(wh.limits, cfg->webhook_listen, bound, boundlen) == -1) {
		webhook_stop();
		cJSON_Delete(allowed);
		return -1;
	}
	wh.apply = apply;
	if (strncmp(cfg->webhook_url, "https://", 8) != 0)
		log_warnx("webhook_url is not https: Telegram only posts to HTTPS URLs");
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "url", cfg->webhook_url);
	cJSON_AddStringToObject(p, "secret_token", cfg->webhook_secret);
	cJSON_AddItemToObject(p, "allowed_updates", allowed);
	cJSON_AddNumberToObject(p, "max_connections", cfg->webhook_max_connections);
	wh_call(base, tg, "setWebhook", p, 1, NULL);
	return 0;
}

void
webhook_stop(void)
{
	httplimit_free(wh.limits);	/* and wh.http */
	wh.limits = NULL;
	wh.http = NULL;
	if (wh.call != NULL)
		tg_cancel(wh.call);
	wh.call = NULL;
	if (wh.retry != NULL)
		event_free(wh.retry);
	wh.retry = NULL;
	cJSON_Delete(wh.params);
	wh.params = NULL;
	wh.ready = NULL;
	free(wh.path);
	free(wh.secret);
	wh.path = wh.secret = NULL;
}
