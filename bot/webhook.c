/*
 * webhook.c: greetbot-tg's webhook mode. Telegram POSTs each Update to
 * webhook_url; a reverse proxy that terminates TLS passes it on to this
 * evhttp server on webhook_listen (loopback by default). A request is
 * answered only once its update is committed: a crash before that leaves
 * Telegram without an answer, so it sends the update again, and the
 * update's recorded id makes the second delivery change nothing.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "log.h"
#include "tg.h"
#include "webhook.h"
#include "xmalloc.h"

#define WH_BODY_MAX	(1024 * 1024)	/* an Update is a few kB */
#define WH_HEADERS_MAX	(16 * 1024)
#define WH_TIMEOUT	60		/* seconds to read a request */
#define WH_BACKOFF_MAX	60		/* seconds between setWebhook tries */
#define WH_HEADER	"X-Telegram-Bot-Api-Secret-Token"

static struct {
	struct event_base	*base;
	struct tg		*tg;
	struct evhttp		*http;
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

/* Bind host:port ("[::1]:8443" too); the bound address into bound. */
static int
wh_listen(const char *listen, char *bound, size_t boundlen)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	const char *colon = strrchr(listen, ':');
	char *host;
	int port;

	if (colon == NULL)
		return -1;
	if (listen[0] == '[' && colon > listen && colon[-1] == ']')
		host = xstrndup(listen + 1, (size_t)(colon - listen - 2));
	else
		host = xstrndup(listen, (size_t)(colon - listen));
	port = atoi(colon + 1);
	sock = port >= 0 && port <= 65535 ? evhttp_bind_socket_with_handle(wh.http, host,
	    (ev_uint16_t)port) : NULL;
	if (sock != NULL &&
	    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(bound, boundlen, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host,
	    port);
	free(host);
	return sock != NULL ? 0 : -1;
}

int
webhook_start(struct event_base *base, struct tg *tg, const struct config *cfg,
    cJSON *allowed, webhook_apply_fn apply, char *bound, size_t boundlen)
{
	cJSON *p;

	if ((wh.http = evhttp_new(base)) == NULL)
		fatalx("webhook: evhttp_new");
	/* Every method reaches wh_request, which answers 405 for all but POST. */
	evhttp_set_allowed_methods(wh.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(wh.http, WH_BODY_MAX);
	evhttp_set_max_headers_size(wh.http, WH_HEADERS_MAX);
	evhttp_set_timeout(wh.http, WH_TIMEOUT);
	evhttp_set_gencb(wh.http, wh_request, NULL);
	if (wh_listen(cfg->webhook_listen, bound, boundlen) == -1) {
		evhttp_free(wh.http);
		wh.http = NULL;
		cJSON_Delete(allowed);
		return -1;
	}
	wh.path = xstrdup(cfg->webhook_path);
	wh.secret = xstrdup(cfg->webhook_secret);
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
	if (wh.http != NULL)
		evhttp_free(wh.http);
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
