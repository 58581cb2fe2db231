/* SPDX-License-Identifier: ISC */
/*
 * cmd-action.c: the actions, retry and send: short transactions that
 * leave rows for greetbotd and greetbot-tg (a job through the state
 * machine, an outbox row), never a way around them.
 */
#include <err.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <unistr.h>

#include "config.h"
#include "db.h"
#include "greetctl.h"
#include "jobs.h"
#include "xmalloc.h"

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
	db_done(st);
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
	db_done(st);
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
int
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
	if (db_begin(db) == -1)
		ctl_db_failed();
	if (all) {
		free(ids);
		n = failed_assets(db, &ids);
	}
	done = retry_assets(db, ids, n);
	if (db_commit(db) == -1)
		ctl_db_failed();
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
	db_done(st);
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
	db_done(st);
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
int
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
	if (db_begin(db) == -1)
		ctl_db_failed();
	bot = send_bot(db, user);
	id = send_queue(db, bot, user, argv[2], &chat);
	if (db_commit(db) == -1)
		ctl_db_failed();
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
