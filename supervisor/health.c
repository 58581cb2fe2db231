/* health.c: liveness, readiness and metrics over HTTP for sysadmins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "db.h"
#include "health.h"
#include "httplimit.h"
#include "log.h"
#include "xmalloc.h"

/*
 * The limits (httplimit.h). Every endpoint is a GET that a monitor on
 * this host makes now and then: short headers, no body at all (one is
 * refused 413 before it is read), the whole request in a few seconds,
 * and few connections at once, so that the server never takes the
 * descriptors that renders need.
 */
#define HEALTH_HEADERS_MAX	(8 * 1024)
#define HEALTH_DEADLINE		5	/* seconds per request, and per reply */
#define HEALTH_CONNS_MAX	64

static struct evhttp		*http;
static struct httplimit		*limits;
static struct health_source	 src;

/* Render-duration buckets (seconds) of the histogram. */
static const double buckets[] = { 0.5, 1, 2, 5, 10, 30, 60, 120 };

/* Send a reply; every request has a connection of its own (httplimit.h). */
static void
reply_send(struct evhttp_request *req, int code, const char *reason, struct evbuffer *b)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	httplimit_answered(limits, req);
	evhttp_send_reply(req, code, reason, b);
}

/* Answer 200 or 503 with {"status":"ok"|"fail","reason":...}. */
static void
reply_status(struct evhttp_request *req, int ok, const char *reason)
{
	struct evbuffer *b = evbuffer_new();
	cJSON *j = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(j, "status", ok ? "ok" : "fail");
	if (!ok)
		cJSON_AddStringToObject(j, "reason", reason);
	s = cJSON_PrintUnformatted(j);
	evbuffer_add_printf(b, "%s\n", s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	reply_send(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", b);
	evbuffer_free(b);
	free(s);
	cJSON_Delete(j);
}

/* The database answers a query (a locked or broken file does not). */
static int
db_ok(void)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(src.db, "SELECT count(*) FROM jobs", -1, &st, NULL) != SQLITE_OK)
		return 0;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW;
}

/* One check by name: "db", "redis", "bot"; NULL reason when healthy. */
static const char *
check(const char *what)
{
	if (strcmp(what, "db") == 0)
		return src.db == NULL || db_ok() ? NULL : "database does not answer";
	if (strcmp(what, "redis") == 0)
		return src.redis_up() ? NULL : "redis is not connected";
	if (strcmp(what, "bot") == 0)
		return src.bot_problem();
	if (strcmp(what, "render") == 0)
		return src.render_problem != NULL ? src.render_problem() : NULL;
	return "unknown check";
}

static void
on_health(struct evhttp_request *req, void *arg)
{
	const char *what = arg, *why = NULL;

	if (what != NULL)
		why = check(what);
	else if ((why = check("db")) == NULL && (why = check("redis")) == NULL &&
	    (why = check("bot")) == NULL)
		why = check("render");
	reply_status(req, why == NULL, why);
}

/* "name{label="value"} count" lines for a GROUP BY query. */
static void
metric_rows(struct evbuffer *b, const char *name, const char *label, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(src.db, sql, -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		evbuffer_add_printf(b, "%s{%s=\"%s\"} %lld\n", name, label,
		    (const char *)sqlite3_column_text(st, 0),
		    (long long)sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
}

/* The render-seconds histogram from the attempts table. */
static void
metric_histogram(struct evbuffer *b)
{
	sqlite3_stmt *st;
	double sum = 0;
	long long count = 0;

	evbuffer_add_printf(b, "# HELP greetbot_render_seconds Wall time of finished "
	    "render attempts.\n# TYPE greetbot_render_seconds histogram\n");
	for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
		long long n = db_int(src.db, 0, "SELECT count(*) FROM attempts WHERE "
		    "duration IS NOT NULL AND duration <= ?", "d", buckets[i]);
		evbuffer_add_printf(b, "greetbot_render_seconds_bucket{le=\"%g\"} %lld\n",
		    buckets[i], n);
	}
	st = db_prep(src.db, "SELECT count(*), coalesce(sum(duration), 0) FROM attempts "
	    "WHERE duration IS NOT NULL", "");
	if (db_step(st) == SQLITE_ROW) {
		count = sqlite3_column_int64(st, 0);
		sum = sqlite3_column_double(st, 1);
	}
	db_done(st);
	evbuffer_add_printf(b, "greetbot_render_seconds_bucket{le=\"+Inf\"} %lld\n"
	    "greetbot_render_seconds_sum %g\ngreetbot_render_seconds_count %lld\n",
	    count, sum, count);
}

/* What only the node with the database knows. */
static void
metrics_db(struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP greetbot_jobs Render jobs by state.\n"
	    "# TYPE greetbot_jobs gauge\n");
	metric_rows(b, "greetbot_jobs", "state",
	    "SELECT state, count(*) FROM jobs GROUP BY state");
	evbuffer_add_printf(b, "# HELP greetbot_attempts_total Render attempts by outcome.\n"
	    "# TYPE greetbot_attempts_total counter\n");
	metric_rows(b, "greetbot_attempts_total", "status",
	    "SELECT status, count(*) FROM attempts WHERE status IS NOT NULL GROUP BY status");
	metric_histogram(b);
	evbuffer_add_printf(b, "# HELP greetbot_telegram_calls_total Bot API calls by "
	    "method and result.\n# TYPE greetbot_telegram_calls_total counter\n");
	metric_rows(b, "greetbot_telegram_calls_total", "bot",
	    "SELECT bot_id || '\",method=\"' || method || '\",result=\"' || result, "
	    "sum(count) FROM tg_calls GROUP BY bot_id, method, result");
	evbuffer_add_printf(b, "# HELP greetbot_telegram_429_total Bot API calls answered "
	    "429 (flood limit).\n# TYPE greetbot_telegram_429_total counter\n");
	metric_rows(b, "greetbot_telegram_429_total", "bot",
	    "SELECT bot_id, sum(count) FROM tg_calls WHERE result = '429' GROUP BY bot_id");
	evbuffer_add_printf(b, "# HELP greetbot_requests Parents' requests by bot and state.\n"
	    "# TYPE greetbot_requests gauge\n");
	metric_rows(b, "greetbot_requests", "bot",
	    "SELECT bot_id || '\",state=\"' || state, count(*) FROM requests "
	    "GROUP BY bot_id, state");
	evbuffer_add_printf(b, "# HELP greetbot_assets Videos by bot and state.\n"
	    "# TYPE greetbot_assets gauge\n");
	metric_rows(b, "greetbot_assets", "bot",
	    "SELECT bot_id || '\",state=\"' || state, count(*) FROM assets "
	    "GROUP BY bot_id, state");
}

void
health_metrics(struct evbuffer *b)
{
	if (src.db != NULL)
		metrics_db(b);
	if (src.node_metrics != NULL)
		src.node_metrics(b);
	evbuffer_add_printf(b, "# HELP greetbot_queue_depth Entries in the Redis job stream.\n"
	    "# TYPE greetbot_queue_depth gauge\ngreetbot_queue_depth %lld\n"
	    "# HELP greetbot_workers_busy Renders running on this node.\n"
	    "# TYPE greetbot_workers_busy gauge\ngreetbot_workers_busy %d\n"
	    "# HELP greetbot_workers Render slots on this node.\n"
	    "# TYPE greetbot_workers gauge\ngreetbot_workers %d\n",
	    src.queue_depth(), src.workers_busy(), src.workers);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	health_metrics(b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	reply_send(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Any other path (evhttp's own 404 would keep the connection open). */
static void
on_other(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	evbuffer_add_printf(b, "not found\n");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	reply_send(req, 404, "Not Found", b);
	evbuffer_free(b);
}

int
health_start(struct event_base *base, const char *listen, const struct health_source *s,
    char *bound, size_t boundlen)
{
	const struct httplimit_conf lc = {
		.server = "http", .max_headers = HEALTH_HEADERS_MAX, .max_body = 0,
		.deadline = HEALTH_DEADLINE, .max_conns = HEALTH_CONNS_MAX,
	};

	src = *s;
	if ((http = evhttp_new(base)) == NULL)
		fatalx("http: evhttp_new");
	limits = httplimit_new(base, http, &lc);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(http, "/health", on_health, NULL);
	evhttp_set_cb(http, "/health/db", on_health, "db");
	evhttp_set_cb(http, "/health/redis", on_health, "redis");
	evhttp_set_cb(http, "/health/bot", on_health, "bot");
	evhttp_set_cb(http, "/health/render", on_health, "render");
	evhttp_set_cb(http, "/metrics", on_metrics, NULL);
	evhttp_set_gencb(http, on_other, NULL);
	if (httplimit_bind(limits, listen, bound, boundlen) == -1) {
		int e = errno;

		health_stop();
		errno = e;
		return -1;
	}
	return 0;
}

void
health_stop(void)
{
	httplimit_free(limits);	/* and http */
	limits = NULL;
	http = NULL;
}
