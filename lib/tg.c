/* SPDX-License-Identifier: ISC */
/* tg.c: the Bot API client, libcurl multi driven by the libevent loop. */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "tg.h"
#include "xmalloc.h"

#define TG_BODY_MAX		(8 * 1024 * 1024)
#define TG_HOST_CONNS		16L	/* concurrent sends; a long poll holds one */
#define TG_CACHE_CONNS		32L
#define TG_CONNECT_MS		10000L
#define TG_TOTAL_MS		30000L
#define TG_UPLOAD_FACTOR	10
#define TG_DEFAULT_URL		"https://api.telegram.org"

/*
 * A call is RUNNING while curl owns it, DONE once its outcome is known and
 * it waits in tg->done for its callback, and DISPATCHING while the callback
 * runs (it is then on no list).
 */
enum tg_call_state { TG_CALL_RUNNING, TG_CALL_DONE, TG_CALL_DISPATCHING };

struct tg_call {
	struct tg		*tg;
	TAILQ_ENTRY(tg_call)	 entry;
	enum tg_call_state	 state;
	int			 in_multi;
	CURL			*easy;
	char			*method;
	char			*body;		/* JSON, cJSON-allocated */
	struct curl_slist	*headers;
	curl_mime		*mime;
	char			*resp;
	size_t			 resp_len;
	size_t			 resp_cap;
	int			 overflow;
	CURLcode		 code;
	char			*fail;		/* failed before curl ran */
	char			*desc;
	char			 errbuf[CURL_ERROR_SIZE];
	struct timespec		 start;
	int			 raw;		/* tg_post_url: judged by the status */
	tg_cb			 cb;
	void			*arg;
};

/* One socket curl asked us to watch. */
struct tg_sock {
	curl_socket_t		 fd;
	struct event		*ev;
	LIST_ENTRY(tg_sock)	 entry;
};

TAILQ_HEAD(tg_calls, tg_call);

struct tg {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct event		*kick;		/* runs callbacks of calls failed early */
	char			*api_url;
	char			*token;
	long			 connect_ms;
	long			 total_ms;
	struct tg_calls		 running;
	struct tg_calls		 done;
	LIST_HEAD(, tg_sock)	 socks;
	int			 ncalls;
	int			 dispatching;
	int			 dying;
	tg_observer		 observe;	/* sees every finished call */
	void			*observe_arg;
};

static void	tg_drive(struct tg *, curl_socket_t, int);

/* Milliseconds since ts on the monotonic clock. */
static long
tg_elapsed_ms(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - ts->tv_sec) * 1000 +
	    (now.tv_nsec - ts->tv_nsec) / 1000000;
}

/* obj[key] as int64_t; 0 when absent, not a number or out of range. */
int64_t
tg_json_int64(const cJSON *obj, const char *key)
{
	const cJSON *v;
	double d;

	if (obj == NULL || key == NULL)
		return 0;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v))
		return 0;
	/* cJSON's valueint saturates at INT_MAX; the double is exact to 2^53. */
	d = v->valuedouble;
	if (!isfinite(d) || d >= 9223372036854775807.0 || d < -9223372036854775807.0)
		return 0;
	return (int64_t)d;
}

/* libevent saw activity on a socket curl watches. */
static void
tg_on_socket(evutil_socket_t fd, short what, void *arg)
{
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	tg_drive(arg, fd, flags);
}

/* curl's timeout expired. */
static void
tg_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tg_drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* Unwatch a socket and forget it. */
static void
tg_sock_free(struct tg *tg, struct tg_sock *s)
{
	curl_multi_assign(tg->multi, s->fd, NULL);
	LIST_REMOVE(s, entry);
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl asks, or stop watching. */
static int
tg_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct tg *tg = userp;
	struct tg_sock *s = sockp;
	short events = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			tg_sock_free(tg, s);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		LIST_INSERT_HEAD(&tg->socks, s, entry);
		curl_multi_assign(tg->multi, fd, s);
	} else
		event_free(s->ev);
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if ((s->ev = event_new(tg->base, fd, events, tg_on_socket, tg)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("tg: cannot watch a socket", "fd=%d", (int)fd);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the one timer; never act here. */
static int
tg_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct tg *tg = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(tg->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(tg->timer, &tv) == -1 ? -1 : 0;
}

/* Take finished transfers out of curl and queue them for their callbacks. */
static void
tg_collect(struct tg *tg)
{
	struct tg_call *c;
	CURLMsg *m;
	CURL *easy;
	char *priv;
	int left;

	while ((m = curl_multi_info_read(tg->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		easy = m->easy_handle;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		c = (struct tg_call *)priv;
		c->code = m->data.result;	/* m dies with the removal */
		curl_multi_remove_handle(tg->multi, easy);
		c->in_multi = 0;
		TAILQ_REMOVE(&tg->running, c, entry);
		c->state = TG_CALL_DONE;
		TAILQ_INSERT_TAIL(&tg->done, c, entry);
	}
}

/* Release a call whatever its state; no callback. */
static void
tg_call_free(struct tg_call *c)
{
	struct tg *tg = c->tg;

	if (c->state == TG_CALL_RUNNING)
		TAILQ_REMOVE(&tg->running, c, entry);
	else if (c->state == TG_CALL_DONE)
		TAILQ_REMOVE(&tg->done, c, entry);
	if (c->in_multi)
		curl_multi_remove_handle(tg->multi, c->easy);
	curl_easy_cleanup(c->easy);
	curl_mime_free(c->mime);
	curl_slist_free_all(c->headers);
	cJSON_free(c->body);
	free(c->resp);
	free(c->fail);
	free(c->desc);
	free(c->method);
	free(c);
	tg->ncalls--;
}

/* Release everything; no callbacks. */
static void
tg_destroy(struct tg *tg)
{
	struct tg_call *c;
	struct tg_sock *s;

	while ((c = TAILQ_FIRST(&tg->running)) != NULL)
		tg_call_free(c);
	while ((c = TAILQ_FIRST(&tg->done)) != NULL)
		tg_call_free(c);
	curl_multi_cleanup(tg->multi);
	/* Whatever curl did not report removed during cleanup. */
	while ((s = LIST_FIRST(&tg->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	event_free(tg->timer);
	event_free(tg->kick);
	free(tg->api_url);
	free(tg->token);
	free(tg);
	curl_global_cleanup();
}

/* Set the call's description: a redacted copy of s. */
static void
tg_describe(struct tg_call *c, const char *s)
{
	free(c->desc);
	c->desc = xstrdup(s);
	log_redact(c->desc);
}

/* Read a curl failure into r. */
static void
tg_result_curl(struct tg_call *c, struct tg_result *r)
{
	switch (c->code) {
	case CURLE_WRITE_ERROR:
	case CURLE_READ_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_ABORTED_BY_CALLBACK:
		r->transport_error = 0;
		break;
	default:
		r->transport_error = 1;
		break;
	}
	if (c->overflow)
		tg_describe(c, "response body too large");
	else if (c->errbuf[0] != '\0')
		tg_describe(c, c->errbuf);
	else
		tg_describe(c, curl_easy_strerror(c->code));
}

/* Read a Bot API answer {"ok":..., "result"|"error_code","description"} into r. */
static cJSON *
tg_result_body(struct tg_call *c, struct tg_result *r)
{
	const cJSON *ok, *desc, *params;
	cJSON *root;
	char buf[64];

	root = cJSON_ParseWithLength(c->resp != NULL ? c->resp : "", c->resp_len);
	ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
	if (!cJSON_IsObject(root) || !cJSON_IsBool(ok)) {
		cJSON_Delete(root);
		if (r->http_status >= 400)
			snprintf(buf, sizeof(buf), "HTTP %ld", r->http_status);
		else
			snprintf(buf, sizeof(buf), "malformed response (HTTP %ld)",
			    r->http_status);
		tg_describe(c, buf);
		return NULL;
	}
	r->ok = cJSON_IsTrue(ok);
	r->error_code = (int)tg_json_int64(root, "error_code");
	params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	r->retry_after = (int)tg_json_int64(params, "retry_after");
	r->result = cJSON_GetObjectItemCaseSensitive(root, "result");
	desc = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (cJSON_IsString(desc))
		tg_describe(c, desc->valuestring);
	else if (!r->ok) {
		snprintf(buf, sizeof(buf), "HTTP %ld", r->http_status);
		tg_describe(c, buf);
	}
	return root;
}

/* One log line per finished call: debug when it worked, warn when not. */
static void
tg_log_result(const struct tg_call *c, const struct tg_result *r)
{
	long ms = tg_elapsed_ms(&c->start);

	if (r->ok) {
		log_debug("tg call", "method=%s status=%ld ms=%ld", c->method, r->http_status,
		    ms);
		return;
	}
	log_warnx("tg call failed", "method=%s status=%ld error_code=%d "
	    "retry_after=%d transport=%d ms=%ld description=%s", c->method,
	    r->http_status, r->error_code, r->retry_after, r->transport_error,
	    ms, r->description);
}

/* Build the result of a finished call, run its callback, free it. */
static void
tg_call_finish(struct tg_call *c)
{
	struct tg_result r;
	cJSON *root = NULL;

	memset(&r, 0, sizeof(r));
	if (c->fail != NULL)
		tg_describe(c, c->fail);
	else {
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.http_status);
		if (c->code != CURLE_OK)
			tg_result_curl(c, &r);
		else if (c->raw) {
			char buf[32];

			r.ok = r.http_status >= 200 && r.http_status < 300;
			snprintf(buf, sizeof(buf), "HTTP %ld", r.http_status);
			tg_describe(c, buf);
		} else
			root = tg_result_body(c, &r);
	}
	r.description = c->desc != NULL ? c->desc : "";
	tg_log_result(c, &r);
	if (c->tg->observe != NULL)
		c->tg->observe(c->method, &r, c->tg->observe_arg);
	if (c->cb != NULL)
		c->cb(&r, c->arg);
	cJSON_Delete(root);
	tg_call_free(c);
}

/*
 * Run the callbacks of finished calls. This only ever runs from a libevent
 * callback after curl has returned, so a callback may call back into tg.
 * Each call is taken off the list before its callback, so cancelling any
 * other call from it is safe; tg_free() from a callback is deferred to here.
 */
static void
tg_dispatch(struct tg *tg)
{
	struct tg_call *c;

	tg->dispatching++;
	while (!tg->dying && (c = TAILQ_FIRST(&tg->done)) != NULL) {
		TAILQ_REMOVE(&tg->done, c, entry);
		c->state = TG_CALL_DISPATCHING;
		tg_call_finish(c);
	}
	if (--tg->dispatching == 0 && tg->dying)
		tg_destroy(tg);
}

/* Let curl act on fd (or its timeouts), then run the callbacks it finished. */
static void
tg_drive(struct tg *tg, curl_socket_t fd, int flags)
{
	int running;

	curl_multi_socket_action(tg->multi, fd, flags, &running);
	tg_collect(tg);
	tg_dispatch(tg);
}

/* The kick event: callbacks for calls that failed before curl saw them. */
static void
tg_on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tg_dispatch(arg);
}

/* A client for api_url and token on base; the token becomes a log secret. */
struct tg *
tg_new(struct event_base *base, const char *api_url, const char *token)
{
	struct tg *tg;
	size_t n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("tg: curl_global_init failed");
	tg = xcalloc(1, sizeof(*tg));
	tg->base = base;
	tg->api_url = xstrdup(api_url != NULL && *api_url != '\0' ?
	    api_url : TG_DEFAULT_URL);
	n = strlen(tg->api_url);
	while (n > 0 && tg->api_url[n - 1] == '/')
		tg->api_url[--n] = '\0';
	tg->token = xstrdup(token != NULL ? token : "");
	log_add_secret(tg->token);
	tg->connect_ms = TG_CONNECT_MS;
	tg->total_ms = TG_TOTAL_MS;
	TAILQ_INIT(&tg->running);
	TAILQ_INIT(&tg->done);
	LIST_INIT(&tg->socks);
	if ((tg->timer = evtimer_new(base, tg_on_timer, tg)) == NULL ||
	    (tg->kick = event_new(base, -1, 0, tg_on_kick, tg)) == NULL)
		fatalx("tg: event_new failed");
	if ((tg->multi = curl_multi_init()) == NULL)
		fatalx("tg: curl_multi_init failed");
	curl_multi_setopt(tg->multi, CURLMOPT_SOCKETFUNCTION, tg_curl_socket);
	curl_multi_setopt(tg->multi, CURLMOPT_SOCKETDATA, tg);
	curl_multi_setopt(tg->multi, CURLMOPT_TIMERFUNCTION, tg_curl_timer);
	curl_multi_setopt(tg->multi, CURLMOPT_TIMERDATA, tg);
	curl_multi_setopt(tg->multi, CURLMOPT_MAX_HOST_CONNECTIONS, TG_HOST_CONNS);
	curl_multi_setopt(tg->multi, CURLMOPT_MAXCONNECTS, TG_CACHE_CONNS);
	return tg;
}

/* Free the client and every call without callbacks (deferred inside one). */
void
tg_free(struct tg *tg)
{
	if (tg == NULL)
		return;
	if (tg->dispatching) {
		tg->dying = 1;
		return;
	}
	tg_destroy(tg);
}

/* At most n connections to one host at once (default TG_HOST_CONNS). */
void
tg_set_max_connections(struct tg *tg, long n)
{
	if (n > 0)
		curl_multi_setopt(tg->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
}

/* Set the default connect and total timeouts for later calls. */
void
tg_set_observer(struct tg *tg, tg_observer fn, void *arg)
{
	tg->observe = fn;
	tg->observe_arg = arg;
}

void
tg_set_timeouts(struct tg *tg, long connect_ms, long total_ms)
{
	if (connect_ms > 0)
		tg->connect_ms = connect_ms;
	if (total_ms > 0)
		tg->total_ms = total_ms;
}

/* Calls started and not yet called back or cancelled. */
int
tg_inflight(const struct tg *tg)
{
	return tg->ncalls;
}

/* The download URL of a getFile path; it holds the token, never log it. */
char *
tg_file_url(const struct tg *tg, const char *file_path)
{
	char *url;

	xasprintf(&url, "%s/file/bot%s/%s", tg->api_url, tg->token, file_path);
	return url;
}

/* CURLOPT_WRITEFUNCTION: append to the call's body, refusing past the cap. */
static size_t
tg_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct tg_call *c = arg;
	size_t n = size * nmemb;

	if (n > TG_BODY_MAX - c->resp_len) {
		c->overflow = 1;
		return 0;
	}
	if (c->resp_len + n + 1 > c->resp_cap) {
		while (c->resp_len + n + 1 > c->resp_cap)
			c->resp_cap = c->resp_cap ? c->resp_cap * 2 : 4096;
		c->resp = xrealloc(c->resp, c->resp_cap);
	}
	memcpy(c->resp + c->resp_len, data, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
	return n;
}

/* A call with its easy handle set up, not yet started; to url, or when
 * it is NULL to the method's Bot API URL. */
static struct tg_call *
tg_call_new(struct tg *tg, const char *method, const char *to, long timeout_ms,
    tg_cb cb, void *arg)
{
	struct tg_call *c;
	char *url;

	c = xcalloc(1, sizeof(*c));
	c->tg = tg;
	c->method = xstrdup(method);
	c->cb = cb;
	c->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	if ((c->easy = curl_easy_init()) == NULL)
		fatalx("tg: curl_easy_init failed");
	if (to != NULL)
		url = xstrdup(to);
	else
		xasprintf(&url, "%s/bot%s/%s", tg->api_url, tg->token, method);
	curl_easy_setopt(c->easy, CURLOPT_URL, url);	/* curl copies it */
	free(url);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, tg->connect_ms);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS,
	    timeout_ms > 0 ? timeout_ms : tg->total_ms);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "greetbot");
	curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, tg_curl_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, (char *)c);
	/* No "Expect: 100-continue" round trip before large bodies. */
	c->headers = curl_slist_append(NULL, "Expect:");
	c->state = TG_CALL_RUNNING;
	TAILQ_INSERT_TAIL(&tg->running, c, entry);
	tg->ncalls++;
	return c;
}

/* Fail a call that never reached curl; its callback runs from the loop. */
static void
tg_call_fail(struct tg_call *c, const char *why)
{
	struct tg *tg = c->tg;

	c->fail = xstrdup(why);
	TAILQ_REMOVE(&tg->running, c, entry);
	c->state = TG_CALL_DONE;
	TAILQ_INSERT_TAIL(&tg->done, c, entry);
	event_active(tg->kick, EV_TIMEOUT, 0);
}

/* Hand a prepared call to curl; curl's timer callback schedules the work. */
static void
tg_call_start(struct tg_call *c)
{
	if (c->headers == NULL)
		fatalx("tg: curl_slist_append failed");
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	if (curl_multi_add_handle(c->tg->multi, c->easy) != CURLM_OK) {
		tg_call_fail(c, "curl_multi_add_handle failed");
		return;
	}
	c->in_multi = 1;
}

/* POST params as JSON to method. */
struct tg_call *
tg_call(struct tg *tg, const char *method, cJSON *params, long timeout_ms,
    tg_cb cb, void *arg)
{
	struct tg_call *c;

	c = tg_call_new(tg, method, NULL, timeout_ms, cb, arg);
	if (params == NULL)
		params = cJSON_CreateObject();
	if (params == NULL || (c->body = cJSON_PrintUnformatted(params)) == NULL)
		fatalx("tg: cannot serialise the parameters", "method=%s", method);
	cJSON_Delete(params);
	c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
	tg_call_start(c);
	return c;
}

/*
 * POST a JSON text to url with extra header lines (tgsim's webhook
 * delivery). No proxy from the environment: the caller chose the address.
 * The answer is judged by its status alone (ok: 2xx); its body is not read
 * as a Bot API answer and result is NULL.
 */
struct tg_call *
tg_post_url(struct tg *tg, const char *url, const char *json,
    const char *const *headers, long timeout_ms, tg_cb cb, void *arg)
{
	struct tg_call *c;

	c = tg_call_new(tg, "webhook", url, timeout_ms, cb, arg);
	c->raw = 1;
	c->body = cJSON_malloc(strlen(json) + 1);
	if (c->body == NULL)
		fatalx("tg: out of memory");
	memcpy(c->body, json, strlen(json) + 1);
	curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
	c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		c->headers = curl_slist_append(c->headers, headers[i]);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
	tg_call_start(c);
	return c;
}

/* The text of a multipart field for a JSON value; NULL to leave it out. */
static char *
tg_field_text(const cJSON *v)
{
	char *s, *text;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (cJSON_IsBool(v))
		return xstrdup(cJSON_IsTrue(v) ? "true" : "false");
	if (cJSON_IsNull(v) || cJSON_IsInvalid(v))
		return NULL;
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble == floor(v->valuedouble) &&
		    fabs(v->valuedouble) <= 9007199254740992.0)
			xasprintf(&text, "%" PRId64, (int64_t)v->valuedouble);
		else
			xasprintf(&text, "%.17g", v->valuedouble);
		return text;
	}
	if ((s = cJSON_PrintUnformatted(v)) == NULL)
		fatalx("tg: cannot serialise a parameter");
	text = xstrdup(s);
	cJSON_free(s);
	return text;
}

/* Add each top-level param of params as a form field. */
static void
tg_mime_params(curl_mime *mime, const cJSON *params)
{
	const cJSON *v;
	curl_mimepart *part;
	char *text;

	cJSON_ArrayForEach(v, params) {
		if (v->string == NULL || (text = tg_field_text(v)) == NULL)
			continue;
		if ((part = curl_mime_addpart(mime)) == NULL ||
		    curl_mime_name(part, v->string) != CURLE_OK ||
		    curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK)
			fatalx("tg: cannot build a form field");
		free(text);
	}
}

/*
 * The file part's bytes come from the descriptor opened when the call was
 * made, its size from that descriptor: a file renamed over the path
 * meanwhile (a second render of the same preview) changes nothing, and
 * one that shrinks fails the call instead of sending a short part.
 */
struct tg_file {
	int		fd;
	curl_off_t	size, off;
};

static size_t
tg_file_read(char *buf, size_t size, size_t n, void *arg)
{
	struct tg_file *f = arg;
	size_t len = size * n;
	ssize_t got;

	if ((curl_off_t)len > f->size - f->off)
		len = (size_t)(f->size - f->off);
	if (len == 0)
		return 0;
	/* Shorter than when it was opened: fail, never send a short part. */
	if ((got = pread(f->fd, buf, len, (off_t)f->off)) <= 0)
		return CURL_READFUNC_ABORT;
	f->off += got;
	return (size_t)got;
}

static int
tg_file_seek(void *arg, curl_off_t offset, int origin)
{
	struct tg_file *f = arg;

	if (origin != SEEK_SET || offset < 0 || offset > f->size)
		return CURL_SEEKFUNC_CANTSEEK;
	f->off = offset;
	return CURL_SEEKFUNC_OK;
}

static void
tg_file_free(void *arg)
{
	struct tg_file *f = arg;

	close(f->fd);
	free(f);
}

/* Add the file part; -1 (and the call failed) when path is unreadable. */
static int
tg_mime_file(struct tg_call *c, const char *field, const char *path,
    const char *filename)
{
	curl_mimepart *part;
	struct tg_file *f;
	struct stat st;
	char *why;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode)) {
		xasprintf(&why, "cannot read upload file %s: %s", path,
		    fd == -1 ? strerror(errno) : "not a regular file");
		if (fd != -1)
			close(fd);
		tg_call_fail(c, why);
		free(why);
		return -1;
	}
	f = xcalloc(1, sizeof(*f));
	f->fd = fd;
	f->size = (curl_off_t)st.st_size;
	if ((part = curl_mime_addpart(c->mime)) == NULL ||
	    curl_mime_name(part, field) != CURLE_OK ||
	    curl_mime_data_cb(part, f->size, tg_file_read, tg_file_seek, tg_file_free,
	    f) != CURLE_OK ||
	    curl_mime_filename(part, filename != NULL ? filename :
	    (strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path)) != CURLE_OK)
		fatalx("tg: cannot build the file part");
	return 0;
}

/* POST params and files as multipart/form-data to method. */
struct tg_call *
tg_upload_files(struct tg *tg, const char *method, cJSON *params,
    const struct tg_file_part *files, size_t nfiles, tg_cb cb, void *arg)
{
	struct tg_call *c;

	c = tg_call_new(tg, method, NULL, tg->total_ms * TG_UPLOAD_FACTOR, cb, arg);
	if ((c->mime = curl_mime_init(c->easy)) == NULL)
		fatalx("tg: curl_mime_init failed");
	tg_mime_params(c->mime, params);
	cJSON_Delete(params);
	for (size_t i = 0; i < nfiles; i++)
		if (tg_mime_file(c, files[i].field, files[i].path, files[i].filename) == -1)
			return c;
	curl_easy_setopt(c->easy, CURLOPT_MIMEPOST, c->mime);
	tg_call_start(c);
	return c;
}

struct tg_call *
tg_upload(struct tg *tg, const char *method, cJSON *params,
    const char *file_field, const char *path, const char *filename, tg_cb cb,
    void *arg)
{
	struct tg_file_part f = { file_field, path, filename };

	return tg_upload_files(tg, method, params, &f, 1, cb, arg);
}

/* Forget a call: no callback will run for it. */
void
tg_cancel(struct tg_call *c)
{
	/* A call inside its own callback is freed when the callback returns. */
	if (c == NULL || c->state == TG_CALL_DISPATCHING)
		return;
	log_debug("tg call cancelled", "method=%s ms=%ld", c->method,
	    tg_elapsed_ms(&c->start));
	tg_call_free(c);
}
