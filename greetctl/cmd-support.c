/* SPDX-License-Identifier: ISC */
/*
 * cmd-support.c: what support does for one parent: cancel a request,
 * block and unblock a user. Short transactions; a request's job changes
 * only through the state machine (jobs_request_cancelled), and what the
 * parent is told goes through the outbox.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db.h"
#include "greetctl.h"
#include "jobs.h"
#include "xmalloc.h"

/* What happened to the render, in words, for cancel's report. */
static void
cancel_say(const cJSON *r)
{
	double job = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "job"));
	double others = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "others"));

	printf("request %.0f (user %.0f, bot %s, \"%s\") cancelled: the parent is told, and "
	    "is not sent the video\n", cJSON_GetNumberValue(cJSON_GetObjectItem(r, "request")),
	    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "user")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(r, "bot")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(r, "name")));
	if (job == 0)
		printf("no render waited: the video was ready, its send is dropped\n");
	else if (others > 0)
		printf("job %.0f still renders it for %.0f other request(s)\n", job, others);
	else if (cJSON_IsTrue(cJSON_GetObjectItem(r, "job_cancelled")))
		printf("job %.0f cancelled: no other request waited for it (asset %.0f FAILED; "
		    "the next order of the name renders it)\n", job,
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "asset")));
	else
		printf("job %.0f is rendering and finishes: its video is kept for the next "
		    "parent who asks\n", job);
}

/* cancel REQUEST: a PENDING request CANCELLED; its render with it when
 * nobody else waits for it. */
int
cmd_cancel(int argc, char **argv)
{
	struct jobs_cancel c;
	int64_t req;
	sqlite3_stmt *st;
	sqlite3 *db;
	char *state = NULL, *bot = NULL, *name = NULL, was[16];
	int64_t user = 0;
	cJSON *r;

	if (argc != 2)
		usage(EXIT_USAGE);
	req = arg_id(argv[1], "REQUEST");
	db = ctl_db(1);
	if (db_begin(db) == -1)
		ctl_db_failed();
	st = db_prep(db, "SELECT r.state, r.bot_id, r.user_id, a.display_name FROM requests r "
	    "JOIN assets a ON a.id = r.asset_id WHERE r.id = ? AND " IN_SCOPE("r.bot_id"), "ls",
	    req, gc.scope);
	if (db_step(st) == SQLITE_ROW) {
		state = db_col_str(st, 0);
		bot = db_col_str(st, 1);
		user = sqlite3_column_int64(st, 2);
		name = db_col_str(st, 3);
	}
	db_done(st);
	if (state == NULL) {
		db_rollback(db);
		errx(1, "no request %lld (%s)", (long long)req, scope_text());
	}
	if (strcmp(state, "PENDING") != 0) {
		snprintf(was, sizeof(was), "%s", state);
		free(state);
		free(bot);
		free(name);
		db_rollback(db);
		errx(1, "request %lld is %s, not PENDING: nothing to cancel", (long long)req, was);
	}
	if (jobs_request_cancelled(req, 1, &c) != 1 || db_commit(db) == -1)
		ctl_db_failed();
	db_close(db);
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "request", (double)req);
	cJSON_AddStringToObject(r, "bot", bot);
	cJSON_AddNumberToObject(r, "user", (double)user);
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddNumberToObject(r, "asset", (double)c.asset);
	cJSON_AddNumberToObject(r, "job", (double)c.job);
	cJSON_AddNumberToObject(r, "others", c.others);
	cJSON_AddBoolToObject(r, "job_cancelled", c.stopped);
	cJSON_AddBoolToObject(r, "job_running", c.running);
	if (gc.json)
		json_print(r);
	else {
		cancel_say(r);
		cJSON_Delete(r);
	}
	free(state);
	free(bot);
	free(name);
	return 0;
}

/*
 * Block the user on one bot, in the caller's transaction: the bot serves
 * them nothing from now on (bot/conversation.c), their open requests are
 * cancelled (untold: they are told they are blocked when they write) and
 * what still waits to be sent to them is dropped. What was done, as JSON.
 */
static cJSON *
block_one(sqlite3 *db, const char *bot, int64_t user)
{
	cJSON *r = cJSON_CreateObject();
	int64_t chat;
	int cancelled, dropped;

	chat = db_int(db, 0, "SELECT chat_id FROM users WHERE bot_id = ? AND user_id = ?", "sl",
	    bot, user);
	cJSON_AddStringToObject(r, "bot", bot);
	cJSON_AddNumberToObject(r, "user", (double)user);
	cJSON_AddBoolToObject(r, "was_blocked", db_run(db, "UPDATE users SET barred_at = ?, "
	    "barred_told_at = NULL, updated_at = ? WHERE bot_id = ? AND user_id = ? AND "
	    "barred_at IS NULL", "llsl", db_now(), db_now(), bot, user) == 0);
	cancelled = jobs_user_cancelled(bot, user);
	dropped = db_run(db, "UPDATE outbox SET state = 'FAILED', last_error = 'the user is "
	    "blocked' WHERE bot_id = ? AND chat_id = ? AND state = 'PENDING'", "sl", bot, chat);
	cJSON_AddNumberToObject(r, "requests_cancelled", cancelled);
	cJSON_AddNumberToObject(r, "messages_dropped", dropped);
	return r;
}

/* Unblock the user on one bot: served again, where they were. */
static cJSON *
unblock_one(sqlite3 *db, const char *bot, int64_t user)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "bot", bot);
	cJSON_AddNumberToObject(r, "user", (double)user);
	cJSON_AddBoolToObject(r, "was_blocked", db_run(db, "UPDATE users SET barred_at = NULL, "
	    "barred_told_at = NULL, updated_at = ? WHERE bot_id = ? AND user_id = ? AND "
	    "barred_at IS NOT NULL", "lsl", db_now(), bot, user) > 0);
	return r;
}

/* The report of block or unblock, one line per bot. */
static void
block_say(const cJSON *done, int block)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, done) {
		double user = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "user"));
		const char *bot = cJSON_GetStringValue(cJSON_GetObjectItem(r, "bot"));
		int was = cJSON_IsTrue(cJSON_GetObjectItem(r, "was_blocked"));

		if (block && was)
			printf("user %.0f was blocked already (bot %s)\n", user, bot);
		else if (block)
			printf("user %.0f blocked (bot %s): %.0f open request(s) cancelled, %.0f "
			    "message(s) not sent; the bot serves them nothing and tells them so "
			    "at most once an hour\n", user, bot,
			    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "requests_cancelled")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "messages_dropped")));
		else if (was)
			printf("user %.0f unblocked (bot %s): the bot serves them again\n", user, bot);
		else
			printf("user %.0f was not blocked (bot %s)\n", user, bot);
	}
}

/* block USER, unblock USER: on every bot shown that the user talked to. */
int
cmd_block(int argc, char **argv)
{
	int block = strcmp(argv[0], "block") == 0;
	cJSON *done;

	if (argc != 2)
		usage(EXIT_USAGE);
	done = user_on_bots(arg_id(argv[1], "USER"), 1, block ? block_one : unblock_one);
	if (gc.json)
		json_print(done);
	else {
		block_say(done, block);
		cJSON_Delete(done);
	}
	return 0;
}
