/* SPDX-License-Identifier: ISC */
/* health.c: liveness, readiness and metrics over HTTP for sysadmins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>

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

/* Under this many bytes free in state_dir the database cannot take work:
 * /health says the disk is full; under DISK_LOW it warns (200 still). */
#define DISK_FULL	(4LL << 20)
#define DISK_LOW	(256LL << 20)

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

/* Answer 200 or 503 with {"status":"ok"|"fail","reason":...}, and the
 * warnings (low disk) that are not failures yet. */
static void
reply_status(struct evhttp_request *req, int ok, const char *reason)
{
	struct evbuffer *b = evbuffer_new();
	cJSON *j = cJSON_CreateObject();
	long long free_bytes, size;
	char *s, warn[600];

	cJSON_AddStringToObject(j, "status", ok ? "ok" : "fail");
	if (!ok)
		cJSON_AddStringToObject(j, "reason", reason);
	if ((free_bytes = health_disk_free(&size)) >= 0 && (free_bytes < DISK_LOW ||
	    free_bytes < size / 20)) {
		snprintf(warn, sizeof(warn), "the disk under %.400s is almost full: %lld bytes "
		    "free", src.state_dir, free_bytes);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "warnings"),
		    cJSON_CreateString(warn));
	}
	s = cJSON_PrintUnformatted(j);
	evbuffer_add_printf(b, "%s\n", s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	reply_send(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", b);
	evbuffer_free(b);
	free(s);
	cJSON_Delete(j);
}

/* The database answers a query (a broken file does not). */
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

/* Whether another process holds the write lock longer than a moment (the
 * bot's own transactions take milliseconds): a write transaction begun
 * and undone at once, waiting DB_PROBE_MS at most. */
#define DB_PROBE_MS	200

static int
db_locked(void)
{
	int rc;

	if (!sqlite3_get_autocommit(src.db))
		return 0;	/* ours is open: not another's */
	sqlite3_busy_timeout(src.db, DB_PROBE_MS);
	rc = sqlite3_exec(src.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		(void)sqlite3_exec(src.db, "ROLLBACK", NULL, NULL, NULL);
	db_set_busy_wait(src.db, 250);
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* The bytes free for us under state_dir, or -1. */
long long
health_disk_free(long long *size)
{
	struct statvfs vfs;

	if (src.state_dir == NULL || statvfs(src.state_dir, &vfs) == -1)
		return -1;
	if (size != NULL)
		*size = (long long)vfs.f_blocks * (long long)vfs.f_frsize;
	return (long long)vfs.f_bavail * (long long)vfs.f_frsize;
}

/*
 * The database: the condition our own work found it in (locked, full:
 * lib/db.c, with the fix), the disk under state_dir full, another process
 * holding its lock, or a file that does not answer. NULL when writable.
 */
static const char *
db_check(void)
{
	static char why[900];
	const char *p;
	long long free_bytes;
	time_t since;

	if (src.db == NULL)
		return NULL;
	if ((p = db_problem(&since)) != NULL) {
		snprintf(why, sizeof(why), "database: %s (for %lld s)", p,
		    (long long)(time(NULL) - since));
		return why;
	}
	if ((free_bytes = health_disk_free(NULL)) >= 0 && free_bytes < DISK_FULL) {
		snprintf(why, sizeof(why), "database: the disk under %.400s is full (%lld bytes "
		    "free): free some space", src.state_dir, free_bytes);
		return why;
	}
	if (db_locked()) {
		snprintf(why, sizeof(why), "database: locked by another process for more than "
		    "%d ms (an open sqlite3 shell?)", DB_PROBE_MS);
		return why;
	}
	return db_ok() ? NULL : "database does not answer";
}

/* One check by name: "db", "redis", "bot"; NULL reason when healthy. */
static const char *
check(const char *what)
{
	if (strcmp(what, "db") == 0)
		return db_check();
	if (strcmp(what, "redis") == 0)
		return src.redis_problem();
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
	evbuffer_add_printf(b, "# HELP greetbot_parked Work set aside after failing the same "
	    "way every time (greetctl parked).\n# TYPE greetbot_parked gauge\n");
	metric_rows(b, "greetbot_parked", "bot",
	    "SELECT bot_id || '\",kind=\"' || kind, count(*) FROM parked GROUP BY bot_id, kind");
}

void
health_metrics(struct evbuffer *b)
{
	long long free_bytes, size = 0;

	if (src.db != NULL)
		metrics_db(b);
	if ((free_bytes = health_disk_free(&size)) >= 0)
		evbuffer_add_printf(b, "# HELP greetbot_state_dir_free_bytes Bytes free for "
		    "greetbot on the file system of state_dir.\n# TYPE "
		    "greetbot_state_dir_free_bytes gauge\ngreetbot_state_dir_free_bytes %lld\n"
		    "# HELP greetbot_state_dir_size_bytes Size of the file system of "
		    "state_dir.\n# TYPE greetbot_state_dir_size_bytes gauge\n"
		    "greetbot_state_dir_size_bytes %lld\n", free_bytes, size);
	evbuffer_add_printf(b, "# HELP greetbot_redis_up Whether Redis answers (a PING "
	    "within its deadline).\n# TYPE greetbot_redis_up gauge\ngreetbot_redis_up %d\n",
	    src.redis_problem() == NULL);
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
health_set_db(sqlite3 *db)
{
	src.db = db;
}

void
health_stop(void)
{
	httplimit_free(limits);	/* and http */
	limits = NULL;
	http = NULL;
}
