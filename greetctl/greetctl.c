/*
 * greetctl.c: the operator's command line (SPEC 8). Queries read SQLite
 * read-only; actions are short transactions that leave rows for greetbotd
 * and greetbot-tg (a job, an outbox row), never a way around them.
 * Templates are linted (lint.c) and rendered with greetbotd's own
 * isolation (renderer.c) in a private event loop (sample.c).
 *
 * This file holds main and the commands; what they share is declared in
 * greetctl.h.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <unistr.h>

#include "config.h"
#include "db.h"
#include "greetctl.h"
#include "jobs.h"
#include "lint.h"
#include "log.h"
#include "names.h"
#include "renderer.h"
#include "sandbox.h"
#include "template.h"
#include "texts.h"
#include "xmalloc.h"

static void usage(int) __attribute__((noreturn));

/* The synopsis; exit 2 (bad usage), or 0 for --help. */
static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: greetctl [-c config] [--bot ID] [--json] command [argument ...]\n"
	    "  status\n"
	    "  users\n"
	    "  requests [--user ID] [--state STATE]\n"
	    "  assets [--state STATE]\n"
	    "  attempts ASSET\n"
	    "  retry ASSET | retry --all-failed\n"
	    "  send USER TEXT\n"
	    "  template list\n"
	    "  template check [--no-render] [--keep] [--name NAME] ID\n"
	    "  template preview [--keep] [-o PATH] ID NAME\n"
	    "  chat --tgsim HOST:PORT --chat-id N [--lang CODE] [--linger SECONDS]\n");
	exit(code);
}

/* A decimal id from the command line, else bad usage. */
static int64_t
arg_id(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		warnx("%s: not a number: %s", what, s);
		usage(EXIT_USAGE);
	}
	return (int64_t)v;
}

/* One of the states in list (any case), else bad usage. */
static const char *
arg_state(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(s, *list) == 0)
			return *list;
	warnx("unknown state: %s", s);
	usage(EXIT_USAGE);
}

/* Seconds on the monotonic clock. */
static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- queries ----------------------------------------------------------------- */

/* users: everyone who has talked to the bots shown. */
static int
cmd_users(int argc, char **argv)
{
	sqlite3 *db;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	rows_print(db_prep(db, "SELECT u.bot_id AS bot, u.user_id, u.chat_id, u.first_name AS "
	    "name, u.phone, u.language, u.state, u.blocked, (SELECT count(*) FROM requests r "
	    "WHERE r.bot_id = u.bot_id AND r.user_id = u.user_id) AS requests, u.created_at, "
	    "u.updated_at FROM users u WHERE " IN_SCOPE("u.bot_id") " ORDER BY u.bot_id, "
	    "u.user_id", "s", gc.scope), NULL);
	db_close(db);
	return 0;
}

/* requests [--user ID] [--state S]: parents' orders, oldest first. */
static int
cmd_requests(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const states[] = { "PENDING", "COMPLETED", "FAILED",
	    "CANCELLED", NULL };
	const char *state = NULL;
	int64_t user = 0;
	sqlite3 *db;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+u:s:", opts, NULL)) != -1) {
		if (ch == 'u')
			user = arg_id(optarg, "--user");
		else if (ch == 's')
			state = arg_state(optarg, states);
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	rows_print(db_prep(db, "SELECT r.id, r.bot_id AS bot, r.user_id, r.chat_id, "
	    "r.asset_id, a.display_name AS name, a.template_id AS template, r.state, a.state "
	    "AS asset_state, r.created_at, r.updated_at FROM requests r JOIN assets a ON "
	    "a.id = r.asset_id WHERE " IN_SCOPE("r.bot_id") " AND (? = 0 OR r.user_id = ?) "
	    "AND (? IS NULL OR r.state = ?) ORDER BY r.id", "sllss", gc.scope, user, user,
	    state, state), NULL);
	db_close(db);
	return 0;
}

/*
 * assets [--state S]: one video per (bot, template version, name). An
 * asset waiting for another bot's render of the same name (assets.shares)
 * shows it in its state: "PENDING (shares 12)"; --json has the state as
 * it is and "shares".
 */
static int
cmd_assets(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const states[] = { "PENDING", "GENERATING", "AVAILABLE",
	    "FAILED", NULL };
	const char *state = NULL;
	sqlite3 *db;
	char *sql;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+s:", opts, NULL)) != -1) {
		if (ch == 's')
			state = arg_state(optarg, states);
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	xasprintf(&sql, "SELECT a.id, a.bot_id AS bot, a.template_id AS template, "
	    "a.template_version AS version, a.display_name AS name, a.name_key, %s AS state, "
	    "a.shares, (SELECT count(*) FROM requests r WHERE r.asset_id = a.id) AS requests, "
	    "(SELECT count(*) FROM attempts t WHERE t.asset_id = a.id) AS attempts, a.file_id, "
	    "a.file_path, a.created_at, a.updated_at FROM assets a WHERE " IN_SCOPE("a.bot_id")
	    " AND (? IS NULL OR a.state = ?) ORDER BY a.id", gc.json ? "a.state" :
	    "a.state || coalesce(' (shares ' || a.shares || ')', '')");
	rows_print(db_prep(db, sql, "sss", gc.scope, state, state),
	    "name_key,shares,file_id,file_path,created_at");
	free(sql);
	db_close(db);
	return 0;
}

/* Print s indented, as clean terminal text. */
static void
print_indented(const char *s, const char *indent)
{
	char *clean = term_clean(s, 1), *save = NULL;

	for (char *l = strtok_r(clean, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("%s%s\n", indent, l);
	free(clean);
}

/* The end of each failed attempt's stderr: where scripts say why. */
static void
attempts_stderr(sqlite3 *db, int64_t asset)
{
	sqlite3_stmt *st = db_prep(db, "SELECT id, stderr_tail FROM attempts WHERE asset_id "
	    "= ? AND coalesce(status, '') <> 'ok' AND coalesce(stderr_tail, '') <> '' "
	    "ORDER BY id", "l", asset);

	while (db_step(st) == SQLITE_ROW) {
		printf("\nattempt %lld, end of stderr:\n",
		    (long long)sqlite3_column_int64(st, 0));
		print_indented(last_lines((const char *)sqlite3_column_text(st, 1), 5), "  ");
	}
	sqlite3_finalize(st);
}

/* An asset of the bots shown, else exit 1. */
static void
asset_need(sqlite3 *db, int64_t asset)
{
	const char *bots;

	if (db_int(db, 0, "SELECT count(*) FROM assets WHERE id = ? AND "
	    IN_SCOPE("bot_id"), "ls", asset, gc.scope))
		return;
	bots = scope_text();
	errx(1, "no asset %lld (%s)", (long long)asset, bots);
}

/* attempts ASSET: every run of the render script for one asset. */
static int
cmd_attempts(int argc, char **argv)
{
	int64_t asset, shares;
	sqlite3 *db;

	if (argc != 2)
		usage(EXIT_USAGE);
	asset = arg_id(argv[1], "ASSET");
	db = ctl_db(0);
	asset_need(db, asset);
	shares = db_int(db, 0, "SELECT shares FROM assets WHERE id = ?", "l", asset);
	rows_print(db_prep(db, "SELECT id, job_id AS job, node, started_at, finished_at, "
	    "duration, status, exit_code, signal, cause, cpu_seconds, max_rss_kb, "
	    "stderr_tail FROM attempts WHERE asset_id = ? ORDER BY id", "l", asset),
	    "finished_at,stderr_tail");
	if (!gc.json && shares != 0)
		printf("\nasset %lld waits for the render of asset %lld (another bot's): its "
		    "attempts are those of asset %lld\n", (long long)asset, (long long)shares,
		    (long long)shares);
	if (!gc.json)
		attempts_stderr(db, asset);
	db_close(db);
	return 0;
}

/* --- actions ----------------------------------------------------------------- */

/*
 * Re-enqueue a FAILED asset exactly as the bot's retry button does
 * (jobs_retry_pressed): the asset PENDING, a new QUEUED job that
 * greetbotd's relay publishes (it looks every second) or another bot's
 * running render of it, shared, and every FAILED request of the asset
 * PENDING again so that its parent gets the video. Inside the caller's
 * transaction. Returns the job id, or 0 with the
 * asset's state ("none" when the bots shown have no such asset) in *state.
 */
static int64_t
retry_one(sqlite3 *db, int64_t asset, int *requests, char **state)
{
	sqlite3_stmt *st = db_prep(db, "SELECT state FROM assets WHERE id = ? AND "
	    IN_SCOPE("bot_id"), "ls", asset, gc.scope);

	*state = db_step(st) == SQLITE_ROW ? db_col_str(st, 0) : xstrdup("none");
	sqlite3_finalize(st);
	if (strcmp(*state, "FAILED") != 0)
		return 0;
	/* A retry of another bot's asset of the same name, just now maybe:
	 * then its render is shared. */
	return jobs_retry_pressed(asset, requests);
}

/* The FAILED assets of the bots shown, oldest first; returns how many. */
static size_t
failed_assets(sqlite3 *db, int64_t **ids)
{
	sqlite3_stmt *st = db_prep(db, "SELECT id FROM assets WHERE " IN_SCOPE("bot_id")
	    " AND state = 'FAILED' ORDER BY id", "s", gc.scope);
	size_t n = 0;

	*ids = NULL;
	while (db_step(st) == SQLITE_ROW) {
		*ids = xrealloc(*ids, (n + 1) * sizeof(**ids));
		(*ids)[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return n;
}

/* Report the re-enqueued assets (takes done). */
static void
retry_report(cJSON *done)
{
	const cJSON *r;

	if (gc.json) {
		json_print(done);
		return;
	}
	if (cJSON_GetArraySize(done) == 0)
		printf("no FAILED assets\n");
	cJSON_ArrayForEach(r, done)
		printf("asset %.0f re-enqueued as job %.0f; %.0f request(s) waiting again\n",
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "asset")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "job")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "requests")));
	cJSON_Delete(done);
}

/* Re-enqueue each asset, in the caller's transaction; exit 1 (nothing
 * done) when one is not FAILED. Returns what was done. */
static cJSON *
retry_assets(sqlite3 *db, const int64_t *ids, size_t n)
{
	cJSON *done = cJSON_CreateArray(), *r;

	for (size_t i = 0; i < n; i++) {
		int requests = 0;
		char *state;
		int64_t job = retry_one(db, ids[i], &requests, &state);

		if (job == 0) {
			db_rollback(db);
			if (strcmp(state, "none") == 0)
				errx(1, "no asset %lld (%s)", (long long)ids[i], scope_text());
			errx(1, "asset %lld is %s, not FAILED: nothing to retry",
			    (long long)ids[i], state);
		}
		free(state);
		r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "asset", (double)ids[i]);
		cJSON_AddNumberToObject(r, "job", (double)job);
		cJSON_AddNumberToObject(r, "requests", requests);
		cJSON_AddItemToArray(done, r);
	}
	return done;
}

/* retry ASSET | retry --all-failed: render FAILED assets again. */
static int
cmd_retry(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all-failed", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	int64_t *ids;
	size_t n = 1;
	int ch, all = 0;
	sqlite3 *db;
	cJSON *done;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch != 'a')
			usage(EXIT_USAGE);
		all = 1;
	}
	if (optind != argc - !all)
		usage(EXIT_USAGE);
	ids = xmalloc(sizeof(*ids));
	ids[0] = all ? 0 : arg_id(argv[optind], "ASSET");
	db = ctl_db(1);
	db_begin(db);
	if (all) {
		free(ids);
		n = failed_assets(db, &ids);
	}
	done = retry_assets(db, ids, n);
	db_commit(db);
	db_close(db);
	free(ids);
	retry_report(done);
	return 0;
}

/* A message text Telegram takes: valid UTF-8, not blank, not too long. */
static const char *
text_problem(const char *s)
{
	const uint8_t *u = (const uint8_t *)s;

	if (u8_check(u, strlen(s)) != NULL)
		return "TEXT is not valid UTF-8";
	if (s[strspn(s, " \t\r\n")] == '\0')
		return "TEXT is empty";
	if (u8_mbsnlen(u, strlen(s)) > MAX_TEXT)
		return "TEXT is longer than 4096 characters";
	return NULL;
}

/*
 * The bot to send as: --bot's or the only one; with several, the one bot
 * the user has talked to. Exits 1 when none has, 2 (bad usage: say which)
 * when more than one has. Inside the caller's transaction.
 */
static char *
send_bot(sqlite3 *db, int64_t user)
{
	sqlite3_stmt *st;
	char *bot = NULL, list[600] = "";
	size_t used = 0;
	int n = 0;

	if (gc.cfg.selected != NULL)
		return xstrdup(gc.cfg.selected);
	st = db_prep(db, "SELECT bot_id FROM users WHERE user_id = ? AND " IN_SCOPE("bot_id")
	    " ORDER BY bot_id", "ls", user, gc.scope);
	while (db_step(st) == SQLITE_ROW) {
		free(bot);
		bot = db_col_str(st, 0);
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
			    n ? ", " : "", bot);
		n++;
	}
	sqlite3_finalize(st);
	if (n == 1)
		return bot;
	free(bot);	/* on the way out: the sanitizer build reports a leak */
	db_rollback(db);
	if (n > 1)
		errx(EXIT_USAGE, "user %lld has talked to bots %s: say which with --bot ID",
		    (long long)user, list);
	errx(1, "no user %lld (%s)", (long long)user, scope_text());
}

/*
 * Queue a sendMessage to the user's chat as an outbox row of the bot,
 * exactly like its own replies (kind "message"), so the sender applies its
 * flood control and retries; greetbot-tg looks every second. Returns the
 * row's id and the chat; exits 1 for an unknown or blocking user.
 */
static int64_t
send_queue(sqlite3 *db, const char *bot, int64_t user, const char *text, int64_t *chat)
{
	sqlite3_stmt *st;
	cJSON *p;
	char *params;
	int blocked;

	st = db_prep(db, "SELECT chat_id, blocked FROM users WHERE bot_id = ? AND "
	    "user_id = ?", "sl", bot, user);
	if (db_step(st) != SQLITE_ROW) {
		db_rollback(db);
		errx(1, "no user %lld (bot %s)", (long long)user, bot);
	}
	*chat = sqlite3_column_int64(st, 0);
	blocked = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	if (blocked) {
		db_rollback(db);
		errx(1, "user %lld has blocked the bot", (long long)user);
	}
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "chat_id", (double)*chat);
	cJSON_AddStringToObject(p, "text", text);
	params = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	db_run(db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, created_at) "
	    "VALUES (?, ?, 'message', 'sendMessage', ?, ?)", "slsl", bot, *chat,
	    params, db_now());
	free(params);
	return sqlite3_last_insert_rowid(db);
}

/* send USER TEXT: a message to a user's chat, through the outbox. */
static int
cmd_send(int argc, char **argv)
{
	const struct config_bot *b;
	const char *why;
	int64_t user, chat, id;
	sqlite3 *db;
	char *bot;
	cJSON *o;

	if (argc != 3)
		usage(EXIT_USAGE);
	user = arg_id(argv[1], "USER");
	if ((why = text_problem(argv[2])) != NULL) {
		warnx("%s", why);
		usage(EXIT_USAGE);
	}
	db = ctl_db(1);
	db_begin(db);
	bot = send_bot(db, user);
	id = send_queue(db, bot, user, argv[2], &chat);
	db_commit(db);
	db_close(db);
	if ((b = config_bot(&gc.cfg, bot)) != NULL && !b->enabled)
		warnx("bot %s is not enabled: the message waits in its outbox until it is", bot);
	if (gc.json) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "outbox_id", (double)id);
		cJSON_AddNumberToObject(o, "chat_id", (double)chat);
		cJSON_AddStringToObject(o, "bot", bot);
		json_print(o);
	} else
		printf("queued as outbox row %lld for chat %lld (bot %s)\n", (long long)id,
		    (long long)chat, bot);
	free(bot);
	return 0;
}

/* --- status ------------------------------------------------------------------ */

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
 * NULL when neither says.
 */
static char *
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
		xasprintf(&path, "%s/redis.sock", gc.cfg.state_dir);
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
	sqlite3_finalize(st);
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

/*
 * Each bot shown: whether the configuration enables it, its requests and
 * outbox rows by state ("bots"); "requests" and "outbox" are the totals
 * over them, as scripts written for a single bot read them.
 */
static void
status_bots(sqlite3 *db, cJSON *out)
{
	cJSON *bots;

	status_counts(status_by_state(db, "requests", NULL), out, "requests", NULL);
	status_counts(status_by_state(db, "outbox", NULL), out, "outbox", NULL);
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
	}
}

/*
 * status: greetbotd as far as its database and HTTP endpoint show it.
 * Exits 1 when greetbotd's /health was asked and did not answer 200.
 */
static int
cmd_status(int argc, char **argv)
{
	cJSON *out = cJSON_CreateObject();
	sqlite3 *db;
	int healthy;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	db = ctl_db(0);
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

/* --- templates ---------------------------------------------------------------- */

/* A template id names a directory right below templates_dir; exit 1 if not. */
static void
template_need(const char *id)
{
	char *conf;

	if (*id == '\0' || *id == '.' || strchr(id, '/') != NULL)
		errx(1, "bad template id: %s", id);
	xasprintf(&conf, "%s/%s/template.conf", gc.cfg.templates_dir, id);
	if (access(conf, F_OK) == -1)
		errx(1, "no template %s in %s", id, gc.cfg.templates_dir);
	free(conf);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of templates_dir's templates, sorted; returns how many. */
static size_t
template_ids(char ***ids)
{
	struct dirent *de;
	size_t n = 0;
	char *conf;
	DIR *d;

	*ids = NULL;
	if ((d = opendir(gc.cfg.templates_dir)) == NULL)
		err(1, "templates_dir %s", gc.cfg.templates_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&conf, "%s/%s/template.conf", gc.cfg.templates_dir, de->d_name);
		if (access(conf, F_OK) == 0) {
			*ids = xrealloc(*ids, (n + 1) * sizeof(**ids));
			(*ids)[n++] = xstrdup(de->d_name);
		}
		free(conf);
	}
	closedir(d);
	if (n > 0)
		qsort(*ids, n, sizeof(**ids), str_cmp);
	return n;
}

/* The bots shown whose default_template the template is, into o. */
static void
template_defaults(cJSON *o, const char *id)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; i < gc.cfg.nbots; i++)
		if (bot_shown(gc.cfg.bots[i].id) &&
		    strcmp(id, gc.cfg.bots[i].cfg->default_template) == 0)
			cJSON_AddItemToArray(a, cJSON_CreateString(gc.cfg.bots[i].id));
	cJSON_AddBoolToObject(o, "default", cJSON_GetArraySize(a) > 0);
	cJSON_AddItemToObject(o, "default_for", a);
}

/* One template's summary for template list. */
static cJSON *
template_summary(const char *id)
{
	cJSON *o = cJSON_CreateObject(), *missing = cJSON_CreateArray();
	struct template t;
	struct tconf c;
	char err[512], *tdir, *conf;
	double d;

	xasprintf(&tdir, "%s/%s", gc.cfg.templates_dir, id);
	xasprintf(&conf, "%s/template.conf", tdir);
	cJSON_AddStringToObject(o, "id", id);
	template_defaults(o, id);
	if (template_load(&t, gc.cfg.templates_dir, id, gc.cfg.render_script, NULL, err,
	    sizeof(err)) == 0) {
		cJSON_AddStringToObject(o, "language", t.language);
		cJSON_AddStringToObject(o, "version", t.version);
		cJSON_AddNumberToObject(o, "min_duration", t.min_duration);
		cJSON_AddNumberToObject(o, "max_duration", t.max_duration);
		template_free(&t);
	} else
		cJSON_AddStringToObject(o, "error", err);
	tconf_read(&c, conf, NULL);
	if (tconf_num(&c, "duration", &d, NULL) == 0)
		cJSON_AddNumberToObject(o, "duration", d);
	cJSON_AddBoolToObject(o, "media", lint_files(&c, tdir, NULL, missing) == 0);
	cJSON_AddItemToObject(o, "missing", missing);
	tconf_free(&c);
	free(tdir);
	free(conf);
	return o;
}

/* A JSON member as table text: strings as they are, numbers as %g. */
static char *
member_text(const cJSON *o, const char *key, const char *suffix)
{
	const cJSON *m = cJSON_GetObjectItem(o, key);
	char *s;

	if (cJSON_IsString(m))
		xasprintf(&s, "%s%s", m->valuestring, suffix);
	else if (cJSON_IsNumber(m))
		xasprintf(&s, "%g%s", m->valuedouble, suffix);
	else
		s = xstrdup("-");
	return s;
}

/* The DEFAULT cell: "yes" when one bot is shown, else the bots' ids. */
static char *
default_text(const cJSON *o)
{
	const cJSON *a = cJSON_GetObjectItem(o, "default_for"), *m;
	struct buf b = { xstrdup(""), 0 };

	if (cJSON_GetArraySize(a) == 0 || gc.cfg.selected != NULL) {
		free(b.p);
		return xstrdup(cJSON_GetArraySize(a) ? "yes" : "-");
	}
	cJSON_ArrayForEach(m, a) {
		buf_add(&b, ",", b.n ? 1 : 0);
		buf_add(&b, m->valuestring, strlen(m->valuestring));
	}
	return b.p;
}

/* The MEDIA cell: ok, or what is missing. */
static char *
media_text(const cJSON *o)
{
	const cJSON *m;
	struct buf b = { xstrdup(cJSON_IsTrue(cJSON_GetObjectItem(o, "media")) ? "ok" :
	    "missing:"), 0 };

	b.n = strlen(b.p);
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "missing")) {
		buf_add(&b, " ", 1);
		buf_add(&b, m->valuestring, strlen(m->valuestring));
	}
	return b.p;
}

/* template list: every template, its version hash, bounds and media. */
static int
cmd_template_list(int argc, char **argv)
{
	static const char *const head[] = { "ID", "DEFAULT", "LANGUAGE", "VERSION",
	    "DURATION", "BOUNDS", "MEDIA" };
	struct table t = { .ncol = 7 };
	cJSON *all = cJSON_CreateArray(), *o;
	char **ids, *b;
	size_t n;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	n = template_ids(&ids);
	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(all, template_summary(ids[i]));
		free(ids[i]);
	}
	free(ids);
	if (gc.json || n == 0) {
		if (gc.json)
			json_print(all);
		else {
			printf("no templates in %s\n", gc.cfg.templates_dir);
			cJSON_Delete(all);
		}
		return 0;
	}
	for (size_t i = 0; i < t.ncol; i++)
		table_put(&t, xstrdup(head[i]));
	cJSON_ArrayForEach(o, all) {
		table_put(&t, term_clean(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), 0));
		table_put(&t, default_text(o));
		table_put(&t, member_text(o, "language", ""));
		table_put(&t, member_text(o, "version", ""));
		table_put(&t, member_text(o, "duration", " s"));
		xasprintf(&b, "%g..%g s", cJSON_GetNumberValue(cJSON_GetObjectItem(o,
		    "min_duration")), cJSON_GetNumberValue(cJSON_GetObjectItem(o, "max_duration")));
		table_put(&t, b);
		b = media_text(o);
		table_put(&t, term_clean(b, 0));
		free(b);
	}
	table_print(&t, "");
	cJSON_Delete(all);
	return 0;
}

/* A child's name in the display form the bot would render, or exit 1
 * with the reason a parent would be given (in English). */
static char *
name_display(const char *in)
{
	struct texts *tx;
	enum names_error e;
	char *display, *key, err[256], *clean;

	if ((e = names_normalize(in, strlen(in), &display, &key)) == NAMES_OK) {
		free(key);
		return display;
	}
	clean = term_clean(in, 0);
	tx = texts_load(gc.cfg.messages_dir, gc.cfg.default_language, err, sizeof(err));
	warnx("the bot would not take the name \"%s\": %s", clean,
	    tx ? texts_get(tx, "en", names_error_id(e)) : names_error_id(e));
	if (tx != NULL)
		texts_free(tx);
	free(clean);
	exit(1);
}

/* The render script the template runs (its own or the default) may be run. */
static void
lint_script(const char *script, struct findings *f)
{
	if (access(script, X_OK) == -1)
		finding(f, LEVEL_ERROR, "render script %s: %s", script, strerror(errno));
	else
		finding(f, LEVEL_OK, "render script %s", script);
}

/*
 * greetbotd's start-up check: renderers must search their way into
 * state_dir's render tree (or, before greetbotd made it, into the
 * deepest directory of that path that exists).
 */
static void
lint_reach(struct findings *f)
{
	char err[1024], *want, *slash;
	const char *dirs[1];

	if (ctl_sandbox(err, sizeof(err)) == -1) {
		finding(f, LEVEL_ERROR, "%s", err);
		return;
	}
	xasprintf(&want, "%s/render/work", gc.cfg.state_dir);
	while (access(want, F_OK) == -1 && (slash = strrchr(want, '/')) != NULL &&
	    slash != want)
		*slash = '\0';
	dirs[0] = want;
	if (sandbox_check(&gc.sb, dirs, 1, NULL, err, sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "%s", err);
	else
		finding(f, LEVEL_OK, "renderers can reach %s/render", gc.cfg.state_dir);
	free(want);
}

/* The end of a failed render's stderr (render.sh says why there). */
static void
check_stderr(struct findings *f, const char *tail)
{
	char *copy = xstrdup(last_lines(tail, 5)), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		finding(f, LEVEL_NOTE, "stderr: %s", l);
	free(copy);
}

/* Render a sample through the render script as greetbotd would. */
static void
check_render(const char *id, const char *name, int keep, struct findings *f)
{
	struct sample s = { 0 };
	char err[512];

	s.keep = keep;
	s.progress = isatty(2) && !gc.json ? 2 : 0;
	if (sample_run(&s, id, name, err, sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "sample render could not start: %s", err);
	else if (s.interrupted)
		finding(f, LEVEL_ERROR, "sample render interrupted (%s)", strsignal(s.interrupted));
	else if (strcmp(s.o.status, "ok") == 0)
		finding(f, LEVEL_OK, "sample render of \"%s\": a valid video in %.1f s (CPU "
		    "%.1f s, peak RSS %ld MB)", name, s.o.duration, s.o.cpu_seconds,
		    s.o.max_rss_kb / 1024);
	else {
		finding(f, LEVEL_ERROR, "sample render of \"%s\" failed: %s: %s", name,
		    s.o.status, s.o.cause);
		check_stderr(f, s.o.stderr_tail);
	}
	sample_free(&s);
}

/* Every check that needs no render: the version, template.conf, files,
 * voice and script. The template's language goes to lang. */
static void
check_static(const char *id, struct findings *f, char **lang)
{
	struct template t;
	struct tconf c;
	char err[512], *tdir, *conf;

	*lang = xstrdup("ru");
	if (template_load(&t, gc.cfg.templates_dir, id, gc.cfg.render_script, NULL, err,
	    sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "%s", err);
	else {
		finding(f, LEVEL_OK, "version %s, language %s", t.version, t.language);
		lint_script(t.script, f);
		lint_reach(f);
		free(*lang);
		*lang = xstrdup(t.language);
		template_free(&t);
	}
	xasprintf(&tdir, "%s/%s", gc.cfg.templates_dir, id);
	xasprintf(&conf, "%s/template.conf", tdir);
	if (tconf_read(&c, conf, f) == 0) {
		lint_required(&c, f);
		lint_timing(&c, f);
		lint_text(&c, f);
		lint_files(&c, tdir, f, NULL);
		lint_voice(&c, f);
	}
	tconf_free(&c);
	free(tdir);
	free(conf);
}

/* The verdict: counts for people, every finding for scripts. */
static void
check_report(const char *id, struct findings *f)
{
	cJSON *o;

	if (!gc.json) {
		printf("%s: %d error%s, %d warning%s\n", id, f->errors, f->errors == 1 ?
		    "" : "s", f->warnings, f->warnings == 1 ? "" : "s");
		cJSON_Delete(f->list);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "template", id);
	cJSON_AddBoolToObject(o, "ok", f->errors == 0);
	cJSON_AddNumberToObject(o, "errors", f->errors);
	cJSON_AddNumberToObject(o, "warnings", f->warnings);
	cJSON_AddItemToObject(o, "findings", f->list);
	json_print(o);
}

/* template check [--no-render] [--keep] [--name NAME] ID: lint, then a
 * sample render; exit 1 when anything is an error. */
static int
cmd_template_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-render", no_argument, NULL, 'n' },
		{ "keep", no_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct findings f = { cJSON_CreateArray(), 0, 0 };
	const char *name = NULL, *id;
	int ch, render = 1, keep = 0;
	char *lang, *display;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 'n')
			render = 0;
		else if (ch == 'k')
			keep = 1;
		else if (ch == 'N')
			name = optarg;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc - 1)
		usage(EXIT_USAGE);
	id = argv[optind];
	template_need(id);
	check_static(id, &f, &lang);
	display = name_display(name ? name : strcmp(lang, "ru") == 0 ?
	    "Маша" : "Emma");
	if (render && f.errors == 0)
		check_render(id, display, keep, &f);
	else if (render)
		finding(&f, LEVEL_NOTE, "no sample render until the errors are fixed");
	check_report(id, &f);
	free(lang);
	free(display);
	return f.errors ? 1 : 0;
}

/* Copy a file (the render's output belongs to the renderer's user). */
static int
file_copy(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n < 0 || close(out) == -1)
		rc = -1;
	close(in);
	return rc;
}

/* A path as a program argument that cannot be taken for an option. */
static char *
path_arg(const char *path)
{
	char *s;

	xasprintf(&s, "%s%s", path[0] == '-' ? "./" : "", path);
	return s;
}

/* Codecs, size and duration of a video, by ffprobe; -1 when unreadable. */
static int
probe_video(const char *path, double *duration, char *summary, size_t len)
{
	char *p = path_arg(path), *out;
	char *const argv[] = { "ffprobe", "-v", "error", "-print_format", "json",
	    "-show_format", "-show_streams", p, NULL };
	const char *vc = NULL, *ac = NULL, *d;
	const cJSON *s;
	cJSON *j;
	int w = 0, h = 0;

	run_capture(argv, 0, &out);
	j = cJSON_Parse(out);
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "streams")) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_type"));
		const char *codec = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_name"));

		if (type != NULL && strcmp(type, "video") == 0 && vc == NULL) {
			vc = codec;
			w = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "width"));
			h = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "height"));
		} else if (type != NULL && strcmp(type, "audio") == 0 && ac == NULL)
			ac = codec;
	}
	d = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "format"),
	    "duration"));
	*duration = d ? strtod(d, NULL) : 0;
	snprintf(summary, len, "%s %dx%d + %s, %.2f s", vc ? vc : "no video", w, h,
	    ac ? ac : "no audio", *duration);
	cJSON_Delete(j);
	free(out);
	free(p);
	return vc != NULL && *duration > 0 ? 0 : -1;
}

/* A PNG of eight frames spread over the video, 4 by 2, each 320 wide. */
static int
contact_sheet(const char *video, double duration, const char *png)
{
	char vf[128], *in = path_arg(video), *out = path_arg(png), *log;
	char *const argv[] = { "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", in,
	    "-vf", vf, "-frames:v", "1", out, NULL };
	int rc;

	snprintf(vf, sizeof(vf), "fps=%.6f,scale=320:-1,tile=4x2", 8.0 / duration);
	if ((rc = run_capture(argv, 1, &log)) != 0)
		warnx("contact sheet: ffmpeg failed: %s", *log ? last_lines(log, 1) : "cannot run");
	free(log);
	free(in);
	free(out);
	return rc == 0 ? 0 : -1;
}

/* Where the contact sheet of a video goes: .mp4 made .png. */
static char *
sheet_path(const char *video)
{
	size_t n = strlen(video);
	char *s;

	if (n > 4 && strcmp(video + n - 4, ".mp4") == 0)
		xasprintf(&s, "%.*s.png", (int)(n - 4), video);
	else
		xasprintf(&s, "%s.png", video);
	return s;
}

/* Tell how the preview went: its files, or why there are none. */
static void
preview_report(const char *name, const char *video, const char *sheet,
    const char *summary, const struct render_outcome *o)
{
	cJSON *j;

	if (!gc.json) {
		printf("video: %s (%s)\nsheet: %s\n", video, summary, sheet ? sheet : "-");
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", name);
	cJSON_AddStringToObject(j, "video", video);
	if (sheet != NULL)
		cJSON_AddStringToObject(j, "sheet", sheet);
	else
		cJSON_AddNullToObject(j, "sheet");
	cJSON_AddStringToObject(j, "summary", summary);
	cJSON_AddNumberToObject(j, "render_seconds", o->duration);
	cJSON_AddNumberToObject(j, "cpu_seconds", o->cpu_seconds);
	json_print(j);
}

/* Render the name; on success copy the video out and make its sheet. */
static int
preview_make(const char *id, const char *name, const char *video, int keep)
{
	struct sample s = { 0 };
	char err[512], summary[256], *sheet = sheet_path(video);
	double dur = 0;
	int rc = 1;

	s.keep = keep;
	s.progress = isatty(2) ? 2 : 1;
	if (sample_run(&s, id, name, err, sizeof(err)) == -1)
		warnx("cannot render: %s", err);
	else if (s.interrupted)
		warnx("interrupted (%s)", strsignal(s.interrupted));
	else if (strcmp(s.o.status, "ok") != 0) {
		warnx("render failed: %s: %s", s.o.status, s.o.cause);
		fputs(last_lines(s.o.stderr_tail, 5), stderr);
	} else if (file_copy(s.output, video) == -1)
		warn("%s", video);
	else if (probe_video(video, &dur, summary, sizeof(summary)) == -1)
		warnx("%s: ffprobe cannot read it (%s)", video, summary);
	else {
		if (contact_sheet(video, dur, sheet) == -1) {
			free(sheet);
			sheet = NULL;
		}
		preview_report(name, video, sheet, summary, &s.o);
		rc = sheet == NULL;
	}
	sample_free(&s);
	free(sheet);
	return rc;
}

/* template preview [--keep] [-o PATH] ID NAME: NAME.mp4 and NAME.png. */
static int
cmd_template_preview(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "keep", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *output = NULL;
	char *display, *video;
	int ch, keep = 0, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		if (ch == 'o')
			output = optarg;
		else if (ch == 'k')
			keep = 1;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc - 2 || (output != NULL && *output == '\0'))
		usage(EXIT_USAGE);
	template_need(argv[optind]);
	display = name_display(argv[optind + 1]);
	if (output != NULL)
		video = xstrdup(output);
	else
		xasprintf(&video, "%s.mp4", display);
	rc = preview_make(argv[optind], display, video, keep);
	free(video);
	free(display);
	return rc;
}

/* template list | check | preview */
static int
cmd_template(int argc, char **argv)
{
	if (argc < 2)
		usage(EXIT_USAGE);
	if (strcmp(argv[1], "list") == 0)
		return cmd_template_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_template_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "preview") == 0)
		return cmd_template_preview(argc - 1, argv + 1);
	warnx("unknown template command: %s", argv[1]);
	usage(EXIT_USAGE);
}

/* --- chat: a simulated parent through tgsim's control interface -------------- */

struct chat {
	char	*url;		/* http://HOST:PORT/control */
	int64_t	 chat_id;
	char	*lang;
	long long seq;		/* the last entry seen */
	int64_t	 kb_message;	/* the message with the last inline keyboard */
	cJSON	*kb;		/* its rows of buttons */
	double	 linger;	/* seconds to wait for the bot after stdin ends */
	double	 last;		/* when something last happened */
	char	 in[8192];	/* stdin not acted on yet */
	size_t	 inlen;
	int	 eof;		/* stdin has ended */
	int	 waiting;	/* "!wait": hold the lines until the bot speaks */
	double	 wait_until;
	CURLM	*multi;
	CURL	*poll;		/* the long poll of /control/chat in flight */
	struct buf pollbuf;
};

/* Append key=value, URL-encoded, to a form. */
static void
form_add(char **form, const char *key, const char *val)
{
	char *e = curl_easy_escape(NULL, val, 0), *s;

	xasprintf(&s, "%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key, e ? e : "");
	curl_free(e);
	free(*form);
	*form = s;
}

/* A form with the chat's fields: chat_id, first_name and language_code. */
static char *
chat_form(const struct chat *c)
{
	char id[32], *form = NULL;

	snprintf(id, sizeof(id), "%lld", (long long)c->chat_id);
	form_add(&form, "chat_id", id);
	form_add(&form, "first_name", "Operator");
	form_add(&form, "language_code", c->lang);
	return form;
}

/* POST a form (taken) to a control endpoint; complain unless it took it. */
static void
chat_post(struct chat *c, const char *endpoint, char *form)
{
	char *url, *body, *clean;
	long code;

	xasprintf(&url, "%s/%s", c->url, endpoint);
	if ((code = http_call(url, form, 10000, &body)) != 200) {
		clean = term_clean(body, 0);
		warnx("tgsim %s: %s", endpoint, code ? clean : "no answer");
		free(clean);
	}
	c->last = now_mono();
	free(url);
	free(body);
	free(form);
}

/* "!press N": the Nth button of the last inline keyboard, row by row. */
static void
chat_press(struct chat *c, int n)
{
	const cJSON *row, *b;
	char mid[32], *form;
	int i = 0;

	cJSON_ArrayForEach(row, c->kb)
		cJSON_ArrayForEach(b, row)
			if (++i == n) {
				const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(b,
				    "callback_data"));

				if (data == NULL) {
					warnx("button %d sends no callback", n);
					return;
				}
				form = chat_form(c);
				snprintf(mid, sizeof(mid), "%lld", (long long)c->kb_message);
				form_add(&form, "message_id", mid);
				form_add(&form, "data", data);
				chat_post(c, "callback", form);
				return;
			}
	warnx("no button %d on the last inline keyboard", n);
}

/* One line of input: "/contact", "!press N", "!wait", or a message. */
static void
chat_line(struct chat *c, const char *line)
{
	char *form, phone[40];
	int n;

	if (*line == '\0')
		return;
	if (strcmp(line, "/contact") == 0) {
		form = chat_form(c);
		snprintf(phone, sizeof(phone), "+7900%lld", llabs((long long)c->chat_id));
		form_add(&form, "phone_number", phone);
		chat_post(c, "contact", form);
	} else if (strcmp(line, "!wait") == 0) {
		c->waiting = 1;
		c->wait_until = now_mono() + CHAT_WAIT;
	} else if (sscanf(line, "!press %d", &n) == 1)
		chat_press(c, n);
	else {
		form = chat_form(c);
		form_add(&form, "text", line);
		chat_post(c, "message", form);
	}
}

/* Read what stdin has into the line buffer; at its end set eof. */
static void
chat_read(struct chat *c)
{
	ssize_t n;

	if (c->inlen == sizeof(c->in) - 1)
		return;
	if ((n = read(0, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen)) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			c->eof = 1;
		return;
	}
	c->eof = n == 0;
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
}

/* Act on every whole line read (at the end of input also on a last line
 * without its newline), unless a "!wait" holds them back. */
static void
chat_lines(struct chat *c)
{
	char *nl;
	size_t len;

	while (!c->waiting && c->inlen > 0 && ((nl = strchr(c->in, '\n')) != NULL ||
	    c->eof || c->inlen == sizeof(c->in) - 1)) {
		len = nl ? (size_t)(nl - c->in) : c->inlen;
		c->in[len] = '\0';
		if (len > 0 && c->in[len - 1] == '\r')
			c->in[len - 1] = '\0';
		chat_line(c, c->in);
		len += nl != NULL;
		c->inlen -= len;
		memmove(c->in, c->in + len, c->inlen + 1);
	}
}

/* Print the bot's text, continuation lines indented. */
static void
chat_say(const char *who, const char *text)
{
	char *clean = term_clean(text ? text : "", 1);

	printf("%s%s", who, *clean ? ": " : "");
	for (const char *p = clean; *p; p++) {
		putchar(*p);
		if (*p == '\n' && p[1] != '\0')
			fputs("     ", stdout);
	}
	putchar('\n');
	free(clean);
}

/* Show a keyboard's buttons: numbered when inline (for !press). */
static void
chat_buttons(const cJSON *rows, int numbered)
{
	const cJSON *row, *b;
	int i = 0;

	fputs(numbered ? "     " : "     keyboard:", stdout);
	cJSON_ArrayForEach(row, rows)
		cJSON_ArrayForEach(b, row) {
			char *t = term_clean(cJSON_GetStringValue(cJSON_GetObjectItem(b, "text")) ?
			    cJSON_GetStringValue(cJSON_GetObjectItem(b, "text")) : "?", 0);

			if (numbered)
				printf(" [%d %s]", ++i, t);
			else
				printf(" [%s%s]", t, cJSON_IsTrue(cJSON_GetObjectItem(b,
				    "request_contact")) ? ": type /contact" : "");
			free(t);
		}
	putchar('\n');
}

/* Keep the last inline keyboard (for !press), forget it when it goes. */
static void
chat_keyboard(struct chat *c, const cJSON *m, const char *method, int64_t mid)
{
	const cJSON *rm = cJSON_GetObjectItem(m, "reply_markup");
	const cJSON *ik = cJSON_GetObjectItem(rm, "inline_keyboard");
	const cJSON *kb = cJSON_GetObjectItem(rm, "keyboard");

	if (ik != NULL) {
		cJSON_Delete(c->kb);
		c->kb = cJSON_Duplicate(ik, 1);
		c->kb_message = mid;
	} else if (mid == c->kb_message && (strcmp(method, "deleteMessage") == 0 ||
	    strcmp(method, "editMessageReplyMarkup") == 0)) {
		cJSON_Delete(c->kb);
		c->kb = NULL;
		c->kb_message = 0;
	}
	if (gc.json)
		return;
	if (ik != NULL)
		chat_buttons(ik, 1);
	if (kb != NULL)
		chat_buttons(kb, 0);
}

/* One thing the bot did in the chat, for a person (or a JSON line). */
static void
chat_show(struct chat *c, const cJSON *m)
{
	const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(m, "text"));
	const char *caption = cJSON_GetStringValue(cJSON_GetObjectItem(m, "caption"));
	const cJSON *params = cJSON_GetObjectItem(m, "params");
	int64_t mid = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "message_id"));
	char who[4200], *line;

	if (method == NULL)
		return;
	if (gc.json) {
		line = cJSON_PrintUnformatted(m);
		printf("%s\n", line);
		free(line);
	} else if (strcmp(method, "sendMessage") == 0)
		chat_say("bot", text);
	else if (strcmp(method, "editMessageText") == 0) {
		snprintf(who, sizeof(who), "bot (edits #%lld)", (long long)mid);
		chat_say(who, text);
	} else if (strcmp(method, "sendVideo") == 0 || strcmp(method, "sendVoice") == 0) {
		const char *kind = strcmp(method, "sendVideo") == 0 ? "video" : "voice";
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(m, kind), "path"));

		snprintf(who, sizeof(who), "bot [%s %s]", kind, path ? path : "?");
		chat_say(who, caption);
	} else if (strcmp(method, "deleteMessage") == 0)
		printf("bot deletes #%lld\n", (long long)mid);
	else if (strcmp(method, "editMessageReplyMarkup") == 0)
		printf("bot changes the buttons of #%lld\n", (long long)mid);
	else if (strcmp(method, "answerCallbackQuery") == 0) {
		text = cJSON_GetStringValue(cJSON_GetObjectItem(params, "text"));
		chat_say("bot answers the button", text ? text : "(silently)");
	} else
		printf("bot: %s\n", method);
	chat_keyboard(c, m, method, mid);
	fflush(stdout);
}

/* Start the long poll for what the bot sends after the last seen entry. */
static void
chat_poll_start(struct chat *c, double wait)
{
	char *url;

	xasprintf(&url, "%s/chat?chat_id=%lld&since=%lld&count=1&wait=%.1f", c->url,
	    (long long)c->chat_id, c->seq, wait);
	if ((c->poll = curl_easy_init()) == NULL)
		fatalx("curl_easy_init");
	free(c->pollbuf.p);
	c->pollbuf.p = xstrdup("");
	c->pollbuf.n = 0;
	curl_easy_setopt(c->poll, CURLOPT_URL, url);
	curl_easy_setopt(c->poll, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->poll, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->poll, CURLOPT_TIMEOUT_MS, (long)(wait * 1000) + 10000L);
	curl_easy_setopt(c->poll, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c->poll, CURLOPT_WRITEDATA, &c->pollbuf);
	curl_multi_add_handle(c->multi, c->poll);
	free(url);
}

/* The long poll answered: show the new entries. -1 when tgsim is gone. */
static int
chat_poll_done(struct chat *c, int show)
{
	const cJSON *m;
	long code = 0;
	cJSON *j;

	curl_easy_getinfo(c->poll, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(c->multi, c->poll);
	curl_easy_cleanup(c->poll);
	c->poll = NULL;
	if (code != 200)
		return -1;
	j = cJSON_Parse(c->pollbuf.p);
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) {
		long long seq = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "seq"));

		if (seq <= c->seq)
			continue;
		c->seq = seq;
		c->last = now_mono();
		c->waiting = 0;
		if (show)
			chat_show(c, m);
	}
	cJSON_Delete(j);
	return 0;
}

/* Drive the long poll; returns -1 when tgsim stopped answering. */
static int
chat_poll_step(struct chat *c, double wait, int show)
{
	CURLMsg *msg;
	int running, left;

	if (c->poll == NULL)
		chat_poll_start(c, wait);
	curl_multi_perform(c->multi, &running);
	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->poll &&
		    chat_poll_done(c, show) == -1)
			return -1;
	return 0;
}

/* Where the chat stands now: entries already there are not shown. */
static void
chat_catch_up(struct chat *c)
{
	chat_poll_start(c, 0);
	while (c->poll != NULL) {
		curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
		if (chat_poll_step(c, 0, 0) == -1)
			errx(1, "tgsim does not answer at %s", c->url);
	}
}

/*
 * Wait on both stdin and the long poll (curl_multi_poll with stdin as an
 * extra fd), so a typed line goes out at once while the bot's messages
 * print as they come. After stdin ends, go on until the bot has been
 * quiet for the linger time.
 */
static int
chat_run(struct chat *c)
{
	struct curl_waitfd in = { .fd = 0, .events = CURL_WAIT_POLLIN };
	int reading;

	chat_catch_up(c);
	c->last = now_mono();
	while (!c->eof || c->inlen > 0 || c->waiting || now_mono() - c->last < c->linger) {
		reading = !c->eof && !c->waiting;
		in.revents = 0;
		curl_multi_poll(c->multi, reading ? &in : NULL, reading ? 1 : 0, 500, NULL);
		if (reading && (in.revents & CURL_WAIT_POLLIN))
			chat_read(c);
		chat_lines(c);
		if (chat_poll_step(c, 25, 1) == -1)
			errx(1, "tgsim does not answer at %s", c->url);
		if (c->waiting && now_mono() > c->wait_until) {
			warnx("!wait: the bot has said nothing for %d s", CHAT_WAIT);
			c->waiting = 0;
		}
	}
	return 0;
}

/* chat --tgsim HOST:PORT --chat-id N: talk to the bot as a parent. */
static int
cmd_chat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tgsim", required_argument, NULL, 't' },
		{ "chat-id", required_argument, NULL, 'i' },
		{ "lang", required_argument, NULL, 'l' },
		{ "linger", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct chat c = { .linger = 10 };
	const char *addr = NULL;
	int ch, rc;

	one_bot("chat");
	c.lang = gc.cfg.default_language;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 't')
			addr = optarg;
		else if (ch == 'i')
			c.chat_id = arg_id(optarg, "--chat-id");
		else if (ch == 'l')
			c.lang = optarg;
		else if (ch == 'w')
			c.linger = (double)arg_id(optarg, "--linger");
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc || addr == NULL || c.chat_id == 0)
		usage(EXIT_USAGE);
	xasprintf(&c.url, "http://%s/control", addr);
	if ((c.multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init");
	rc = chat_run(&c);
	if (c.poll != NULL) {
		curl_multi_remove_handle(c.multi, c.poll);
		curl_easy_cleanup(c.poll);
	}
	curl_multi_cleanup(c.multi);
	cJSON_Delete(c.kb);
	free(c.pollbuf.p);
	free(c.url);
	return rc;
}

/* --- main ------------------------------------------------------------------- */

static const struct command {
	const char	*name;
	int		(*run)(int, char **);
} commands[] = {
	{ "status", cmd_status },
	{ "users", cmd_users },
	{ "requests", cmd_requests },
	{ "assets", cmd_assets },
	{ "attempts", cmd_attempts },
	{ "retry", cmd_retry },
	{ "send", cmd_send },
	{ "template", cmd_template },
	{ "chat", cmd_chat },
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bot", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *bot = NULL;
	char err[512];
	int ch, rc;

	log_init("greetctl", LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "+c:b:jh", opts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'b')
			bot = optarg;
		else if (ch == 'j')
			gc.json = 1;
		else if (ch == 'h')
			usage(0);
		else
			usage(EXIT_USAGE);
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage(EXIT_USAGE);
	if (config_load(&gc.cfg, path, err, sizeof(err)) == -1)
		errx(1, "config: %s", err);
	log_add_secret(gc.cfg.telegram_token);
	for (int i = 0; i < gc.cfg.nbots; i++)
		log_add_secret(gc.cfg.bots[i].cfg->telegram_token);
	scope_select(bot);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			rc = commands[i].run(argc, argv);
			curl_global_cleanup();
			config_free(&gc.cfg);
			free(gc.scope);
			return rc;
		}
	warnx("unknown command: %s", argv[0]);
	usage(EXIT_USAGE);
}
