/* SPDX-License-Identifier: ISC */
/*
 * cmd-status.c: status: greetbotd as far as its database, its state
 * directory and its HTTP endpoints (/health, /metrics) show it.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "greetctl.h"
#include "xmalloc.h"

/* A "label  value" line of the human status. */
static void
status_line(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
status_line(const char *label, const char *fmt, ...)
{
	va_list ap;

	if (gc.json)
		return;
	printf("%-12s ", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A sample's value from Prometheus text ("name value" lines), or -1. */
static double
metric_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while (p != NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

/*
 * Where greetbotd's HTTP endpoints are: http_listen, or when that asks for
 * any port (":0") the address greetbotd published in state_dir/http.addr.
 * NULL when neither says. Restore asks it too: is greetbotd running?
 */
char *
http_addr(void)
{
	const char *colon = strrchr(gc.cfg.http_listen, ':');
	char *path, line[128] = "";
	FILE *f;

	if (*gc.cfg.http_listen == '\0')
		return NULL;	/* no HTTP endpoints */
	if (colon != NULL && atoi(colon + 1) != 0)
		return xstrdup(gc.cfg.http_listen);
	xasprintf(&path, "%s/http.addr", gc.cfg.state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	free(path);
	line[strcspn(line, "\r\n")] = '\0';
	return line[0] != '\0' ? xstrdup(line) : NULL;
}

/* Workers and the stream's depth from greetbotd's /metrics at addr. */
static void
status_metrics(cJSON *j, const char *addr)
{
	char *url, *body;
	double busy, workers, depth;

	xasprintf(&url, "http://%s/metrics", addr);
	if (http_call(url, NULL, 2000, &body) == 200) {
		busy = metric_value(body, "greetbot_workers_busy");
		workers = metric_value(body, "greetbot_workers");
		depth = metric_value(body, "greetbot_queue_depth");
		cJSON_AddNumberToObject(j, "workers_busy", busy);
		cJSON_AddNumberToObject(j, "workers", workers);
		cJSON_AddNumberToObject(j, "queue_depth", depth);
		status_line("workers", "%.0f busy of %.0f", busy, workers);
		status_line("stream", "%.0f entries in Redis", depth);
	}
	free(url);
	free(body);
}

/*
 * greetbotd's own view (http_addr): GET /health (2 s at most), then
 * /metrics. Returns 1 healthy, 0 not (or nothing answered), -1 when it
 * cannot be asked.
 */
static int
status_http(cJSON *out)
{
	cJSON *j = cJSON_AddObjectToObject(out, "greetbotd"), *h;
	char *url, *body, *addr = http_addr();
	const char *reason;
	long code;

	if (addr == NULL) {
		cJSON_AddBoolToObject(j, "checked", 0);
		status_line("greetbotd", "not asked (http_listen '%s' has no fixed port and "
		    "greetbotd has published no address: not running?)", gc.cfg.http_listen);
		return -1;
	}
	xasprintf(&url, "http://%s/health", addr);
	code = http_call(url, NULL, 2000, &body);
	h = cJSON_Parse(body);
	reason = cJSON_GetStringValue(cJSON_GetObjectItem(h, "reason"));
	cJSON_AddBoolToObject(j, "checked", 1);
	cJSON_AddStringToObject(j, "url", url);
	cJSON_AddNumberToObject(j, "http_status", (double)code);
	cJSON_AddBoolToObject(j, "healthy", code == 200);
	if (reason != NULL)
		cJSON_AddStringToObject(j, "reason", reason);
	if (code == 0)
		status_line("greetbotd", "not answering at %s", url);
	else
		status_line("greetbotd", "%s (%s: %ld)", code == 200 ? "healthy" :
		    reason ? reason : "unhealthy", url, code);
	if (code != 0)
		status_metrics(j, addr);
	cJSON_Delete(h);
	free(addr);
	free(url);
	free(body);
	return code == 200;
}

/* What the state directory shows: the embedded Redis's socket, and the
 * work directories of renders in progress (or left by a crash). */
static void
status_files(cJSON *out)
{
	cJSON *j = cJSON_AddObjectToObject(out, "files");
	struct dirent *de;
	char *path;
	int n = 0;
	DIR *d;

	if (*gc.cfg.redis_url == '\0') {
		xasprintf(&path, "%s/redis/redis.sock", gc.cfg.state_dir);
		cJSON_AddBoolToObject(j, "redis_socket", access(path, F_OK) == 0);
		status_line("redis", "embedded, %s %s", path, access(path, F_OK) == 0 ?
		    "present" : "absent");
		free(path);
	} else
		status_line("redis", "external (redis_url)");
	xasprintf(&path, "%s/render/work", gc.cfg.state_dir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			n += de->d_name[0] != '.';
		closedir(d);
	}
	cJSON_AddNumberToObject(j, "work_dirs", n);
	status_line("work dirs", "%d in %s", n, path);
	free(path);
}

/* "STATE n" counts of a GROUP BY query (finalized), as the object key
 * and, unless label is NULL, one line. */
static void
status_counts(sqlite3_stmt *st, cJSON *out, const char *key, const char *label)
{
	cJSON *o = cJSON_AddObjectToObject(out, key);
	struct buf line = { xstrdup(""), 0 };

	while (db_step(st) == SQLITE_ROW) {
		char *s;

		cJSON_AddNumberToObject(o, (const char *)sqlite3_column_text(st, 0),
		    (double)sqlite3_column_int64(st, 1));
		xasprintf(&s, "%s%s %lld", line.n ? ", " : "", sqlite3_column_text(st, 0),
		    (long long)sqlite3_column_int64(st, 1));
		buf_add(&line, s, strlen(s));
		free(s);
	}
	db_done(st);
	if (label != NULL)
		status_line(label, "%s", line.n ? line.p : "none");
	free(line.p);
}

/*
 * SQL: whether a job's (or an attempt's) asset is --bot's, bound to gc.bot
 * twice. Jobs are the render nodes' work, shared by every bot: without
 * --bot they are all counted, those of bots not configured here too.
 */
#define OF_BOT(asset)	"(? IS NULL OR " asset " IN (SELECT id FROM assets WHERE " \
	"bot_id = ?))"

/* Jobs waiting: queued, not yet on the Redis stream, waiting for a retry. */
static void
status_queue(sqlite3 *db, cJSON *out)
{
	int64_t queued = db_int(db, 0, "SELECT count(*) FROM jobs WHERE state = 'QUEUED' "
	    "AND speculative = 0 AND " OF_BOT("asset_id"), "ss", gc.bot, gc.bot);
	int64_t unpub = db_int(db, 0, "SELECT count(*) FROM jobs WHERE published_at IS NULL "
	    "AND state IN ('QUEUED', 'RETRY_WAIT') AND speculative = 0 AND " OF_BOT("asset_id"),
	    "ss", gc.bot, gc.bot);
	/* Started at preview time, never on the stream: they wait for an
	 * idle worker of the node with the database. */
	int64_t spec = db_int(db, 0, "SELECT count(*) FROM jobs WHERE state = 'QUEUED' AND "
	    "speculative = 1 AND " OF_BOT("asset_id"), "ss", gc.bot, gc.bot);
	int64_t retry = db_int(db, 0, "SELECT count(*) FROM jobs WHERE state = 'RETRY_WAIT' "
	    "AND " OF_BOT("asset_id"), "ss", gc.bot, gc.bot);
	cJSON *q = cJSON_AddObjectToObject(out, "queue");

	cJSON_AddNumberToObject(q, "queued", (double)queued);
	cJSON_AddNumberToObject(q, "unpublished", (double)unpub);
	cJSON_AddNumberToObject(q, "retry_wait", (double)retry);
	cJSON_AddNumberToObject(q, "speculative", (double)spec);
	status_line("queue", "%lld queued, %lld waiting for a retry, %lld not yet "
	    "published to Redis, %lld speculative (previewed, not confirmed)",
	    (long long)queued, (long long)retry, (long long)unpub, (long long)spec);
}

/* A titled list of rows: a table for people, an array for scripts. */
static void
status_rows(cJSON *out, const char *key, const char *title, sqlite3_stmt *st,
    const char *skip)
{
	if (gc.json) {
		cJSON_AddItemToObject(out, key, rows_json(st));
		return;
	}
	printf("\n%s:\n", title);
	rows_table(st, skip, "  ");
}

/* Requests (or outbox rows: table) by state, of the bots shown, or of
 * one when bot is not NULL. */
static sqlite3_stmt *
status_by_state(sqlite3 *db, const char *table, const char *bot)
{
	char *sql;
	sqlite3_stmt *st;

	xasprintf(&sql, "SELECT state, count(*) FROM %s WHERE " IN_SCOPE("bot_id") " AND "
	    "(? IS NULL OR bot_id = ?) GROUP BY state ORDER BY state", table);
	st = db_prep(db, sql, "sss", gc.scope, bot, bot);
	free(sql);
	return st;
}

/* Parked work (greetctl parked) of the bots shown, or of one when bot is
 * not NULL, as the object key and, unless label is NULL, one line. */
static void
status_parked(sqlite3 *db, cJSON *out, const char *bot, const char *label)
{
	int64_t n = db_int(db, 0, "SELECT count(*) FROM parked WHERE " IN_SCOPE("bot_id")
	    " AND (? IS NULL OR bot_id = ?)", "sss", gc.scope, bot, bot);

	cJSON_AddNumberToObject(out, "parked", (double)n);
	if (label != NULL && n == 0)
		status_line(label, "none");
	else if (label != NULL)
		status_line(label, "%lld (see greetctl parked)", (long long)n);
}

/*
 * Each bot shown: whether the configuration enables it, its requests and
 * outbox rows by state and its parked work ("bots"); "requests", "outbox"
 * and "parked" are the totals over them, as scripts written for a single
 * bot read them.
 */
static void
status_bots(sqlite3 *db, cJSON *out)
{
	cJSON *bots;

	status_counts(status_by_state(db, "requests", NULL), out, "requests", NULL);
	status_counts(status_by_state(db, "outbox", NULL), out, "outbox", NULL);
	status_parked(db, out, NULL, NULL);
	bots = cJSON_AddArrayToObject(out, "bots");
	for (int i = 0; i < gc.cfg.nbots; i++) {
		const struct config_bot *b = &gc.cfg.bots[i];
		cJSON *o;
		char *label;

		if (!bot_shown(b->id))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "bot", b->id);
		cJSON_AddBoolToObject(o, "enabled", b->enabled);
		cJSON_AddItemToArray(bots, o);
		xasprintf(&label, "bot %s", b->id);
		status_line(label, "%s", b->enabled ? "enabled" : "not enabled");
		free(label);
		status_counts(status_by_state(db, "requests", b->id), o, "requests",
		    "  requests");
		status_counts(status_by_state(db, "outbox", b->id), o, "outbox", "  outbox");
		status_parked(db, o, b->id, "  parked");
	}
}

/* Which configuration greetctl read, and the state_dir it names. */
static void
status_config(cJSON *out)
{
	cJSON *j = cJSON_AddObjectToObject(out, "config");

	if (gc.cfg.path != NULL) {
		cJSON_AddStringToObject(j, "file", gc.cfg.path);
		status_line("config", "%s", gc.cfg.path);
	} else {
		cJSON_AddNullToObject(j, "file");
		status_line("config", "none: the built-in defaults and GREETBOT_* variables");
	}
	cJSON_AddStringToObject(j, "state_dir", gc.cfg.state_dir);
	cJSON_AddStringToObject(j, "templates_dir", gc.cfg.templates_dir);
	status_line("state_dir", "%s", gc.cfg.state_dir);
}

/*
 * status: greetbotd as far as its database and HTTP endpoint show it.
 * Exits 1 when greetbotd's /health was asked and did not answer 200.
 */
int
cmd_status(int argc, char **argv)
{
	cJSON *out = cJSON_CreateObject();
	sqlite3 *db;
	int healthy;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	status_config(out);
	healthy = status_http(out);
	status_files(out);
	status_counts(db_prep(db, "SELECT state, count(*) FROM jobs WHERE " OF_BOT("asset_id")
	    " GROUP BY state ORDER BY state", "ss", gc.bot, gc.bot), out, "jobs", "jobs");
	status_queue(db, out);
	status_bots(db, out);
	status_rows(out, "running", "running attempts", db_prep(db, "SELECT a.id, s.bot_id AS "
	    "bot, a.job_id AS job, a.asset_id AS asset, s.display_name AS name, a.node, "
	    "a.started_at, round((julianday('now') - 2440587.5) * 86400.0 - a.started_at, 1) "
	    "AS seconds FROM attempts a JOIN assets s ON s.id = a.asset_id WHERE "
	    "a.finished_at IS NULL AND " OF_BOT("a.asset_id") " ORDER BY a.id", "ss", gc.bot,
	    gc.bot), NULL);
	status_rows(out, "last_errors", "last errors", db_prep(db, "SELECT a.id, s.bot_id AS "
	    "bot, a.job_id AS job, a.asset_id AS asset, a.node, a.finished_at, a.status, "
	    "a.exit_code, a.signal, a.cause FROM attempts a JOIN assets s ON s.id = "
	    "a.asset_id WHERE a.status IS NOT NULL AND a.status <> 'ok' AND "
	    OF_BOT("a.asset_id") " ORDER BY a.id DESC LIMIT 5", "ss", gc.bot, gc.bot), NULL);
	db_close(db);
	if (gc.json)
		json_print(out);
	else
		cJSON_Delete(out);
	return healthy == 0;
}
