/* SPDX-License-Identifier: ISC */
/*
 * cmd-privacy.c: a parent's data: history (the conversation as they
 * lived it, from what the database keeps within history_days) and forget
 * (what identifies them erased; the counts and the shared videos kept).
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db.h"
#include "greetctl.h"
#include "history.h"
#include "jobs.h"
#include "xmalloc.h"

/* --- history --------------------------------------------------------------- */

/* One event as JSON: when, who, what, and its detail's members. */
static cJSON *
event_json(sqlite3_stmt *st)
{
	cJSON *e = cJSON_CreateObject(), *d, *m;

	cJSON_AddNumberToObject(e, "at", (double)sqlite3_column_int64(st, 0));
	cJSON_AddStringToObject(e, "from", strcmp((const char *)sqlite3_column_text(st, 1),
	    HISTORY_IN) == 0 ? "parent" : "bot");
	cJSON_AddStringToObject(e, "kind", (const char *)sqlite3_column_text(st, 2));
	if (sqlite3_column_type(st, 3) != SQLITE_NULL)
		cJSON_AddStringToObject(e, "text", (const char *)sqlite3_column_text(st, 3));
	if (sqlite3_column_type(st, 4) != SQLITE_NULL &&
	    (d = cJSON_Parse((const char *)sqlite3_column_text(st, 4))) != NULL) {
		while ((m = d->child) != NULL)
			cJSON_AddItemToObject(e, m->string, cJSON_DetachItemViaPointer(d, m));
		cJSON_Delete(d);
	}
	return e;
}

/* What an event says, in one line for people. */
static char *
event_line(const cJSON *e)
{
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(e, "text"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
	const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(e, "error"));
	const cJSON *b;
	struct buf s = { xstrdup(""), 0 };
	char *line;

#define ADD(str)	buf_add(&s, (str), strlen(str))
	if (strcmp(kind, "contact") == 0)
		ADD(cJSON_IsFalse(cJSON_GetObjectItem(e, "own")) ? "someone else's contact " :
		    "contact ");
	else if (strcmp(kind, "button") == 0)
		ADD("pressed ");
	else if (strcmp(kind, "voice") == 0)
		ADD("voice: ");
	else if (strcmp(kind, "video") == 0) {
		ADD("video \"");
		ADD(name != NULL ? name : "?");
		ADD("\": ");
	} else if (strcmp(kind, "failed") == 0)
		ADD("NOT DELIVERED: ");
	else if (strcmp(kind, "edited") == 0)
		ADD("edited: ");
	else if (strcmp(kind, "member") == 0)
		ADD("chat member: ");
	else if (strcmp(kind, "other") == 0)
		ADD("(not text)");
	if (text != NULL)
		ADD(text);
	cJSON_ArrayForEach(b, cJSON_GetObjectItem(e, "buttons")) {
		ADD(" [");
		ADD(cJSON_GetStringValue(b) != NULL ? cJSON_GetStringValue(b) : "?");
		ADD("]");
	}
	if (error != NULL) {
		ADD(" (");
		ADD(error);
		ADD(")");
	}
#undef ADD
	line = term_clean(s.p, 0);
	free(s.p);
	return line;
}

/* One bot's view of the user: who, then every event kept, oldest first. */
static cJSON *
history_of(sqlite3 *db, const char *bot, int64_t user)
{
	const struct config_bot *b = config_bot(&gc.cfg, bot);
	sqlite3_stmt *st = db_prep(db, "SELECT phone, state, language, barred_at, (SELECT "
	    "count(*) FROM requests r WHERE r.bot_id = u.bot_id AND r.user_id = u.user_id) FROM "
	    "users u WHERE bot_id = ? AND user_id = ?", "sl", bot, user);
	cJSON *o = cJSON_CreateObject(), *events;
	char *phone;

	cJSON_AddStringToObject(o, "bot", bot);
	cJSON_AddNumberToObject(o, "user_id", (double)user);
	if (db_step(st) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			cJSON_AddNullToObject(o, "phone");	/* no contact yet */
		else {
			phone = history_mask_phone((const char *)sqlite3_column_text(st, 0));
			cJSON_AddStringToObject(o, "phone", phone);
			free(phone);
		}
		cJSON_AddStringToObject(o, "state", (const char *)sqlite3_column_text(st, 1));
		cJSON_AddStringToObject(o, "language", sqlite3_column_type(st, 2) ==
		    SQLITE_NULL ? "" : (const char *)sqlite3_column_text(st, 2));
		cJSON_AddBoolToObject(o, "blocked_by_operator", sqlite3_column_type(st, 3) !=
		    SQLITE_NULL);
		cJSON_AddNumberToObject(o, "requests", sqlite3_column_int(st, 4));
	}
	db_done(st);
	cJSON_AddNumberToObject(o, "history_days", (b != NULL ? b->cfg : &gc.cfg)->history_days);
	events = cJSON_AddArrayToObject(o, "events");
	st = db_prep(db, "SELECT at, dir, kind, text, detail FROM history WHERE bot_id = ? AND "
	    "user_id = ? ORDER BY id", "sl", bot, user);
	while (db_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(events, event_json(st));
	db_done(st);
	return o;
}

/* A unix time as local time, for the table. */
static void
local_time(double at, char *buf, size_t len)
{
	time_t t = (time_t)at;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "%.0f", at);
}

/* The conversation for people: a heading, then one line per event. */
static void
history_say(const cJSON *o)
{
	const char *phone = cJSON_GetStringValue(cJSON_GetObjectItem(o, "phone"));
	const cJSON *e;
	char when[32], *line;

	printf("user %.0f (bot %s): phone %s, state %s, %.0f request(s)%s\n",
	    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "user_id")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(o, "bot")), phone != NULL ? phone : "-",
	    cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")),
	    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "requests")),
	    cJSON_IsTrue(cJSON_GetObjectItem(o, "blocked_by_operator")) ?
	    ", blocked by an operator" : "");
	if (cJSON_GetArraySize(cJSON_GetObjectItem(o, "events")) == 0)
		printf("(nothing kept: the history goes back %.0f days)\n",
		    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "history_days")));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "events")) {
		local_time(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "at")), when, sizeof(when));
		line = event_line(e);
		printf("%s  %-6s  %s\n", when, cJSON_GetStringValue(cJSON_GetObjectItem(e,
		    "from")), line);
		free(line);
	}
}

/* history USER: the conversation of the user with every bot shown. */
int
cmd_history(int argc, char **argv)
{
	cJSON *all;

	if (argc != 2)
		usage(EXIT_USAGE);
	all = user_on_bots(arg_id(argv[1], "USER"), 0, history_of);
	if (gc.json)
		json_print(all);
	else {
		const cJSON *o;

		cJSON_ArrayForEach(o, all) {
			if (o != all->child)
				printf("\n");
			history_say(o);
		}
		cJSON_Delete(all);
	}
	return 0;
}

/* --- forget ---------------------------------------------------------------- */

/*
 * Erase what identifies the user on one bot, in the caller's transaction:
 * their open requests are cancelled (untold), every outbox row of their
 * chat (what was sent: names in the captions) and their history go, an
 * update of theirs set aside (parked, with its contact) goes; their
 * requests stay for the counts, with no user or chat; the users row (the
 * phone, the name they typed, the conversation) goes, so the bot takes
 * them for a new parent if they come back. What was done, as JSON.
 */
static cJSON *
forget_one(sqlite3 *db, const char *bot, int64_t user)
{
	cJSON *r = cJSON_CreateObject();
	int64_t chat;
	int cancelled;

	chat = db_int(db, 0, "SELECT chat_id FROM users WHERE bot_id = ? AND user_id = ?", "sl",
	    bot, user);
	cancelled = jobs_user_cancelled(bot, user);
	cJSON_AddStringToObject(r, "bot", bot);
	cJSON_AddNumberToObject(r, "user", (double)user);
	cJSON_AddNumberToObject(r, "requests_cancelled", cancelled);
	cJSON_AddNumberToObject(r, "messages_erased", db_run(db, "DELETE FROM outbox WHERE "
	    "bot_id = ? AND chat_id IN (?, ?)", "sll", bot, chat, user));
	cJSON_AddNumberToObject(r, "history_erased", db_run(db, "DELETE FROM history WHERE "
	    "bot_id = ? AND user_id = ?", "sl", bot, user));
	cJSON_AddNumberToObject(r, "parked_erased", db_run(db, "DELETE FROM parked WHERE "
	    "bot_id = ? AND kind = 'update' AND CASE WHEN json_valid(payload) THEN ? IN ("
	    "json_extract(payload, '$.message.from.id'), json_extract(payload, "
	    "'$.edited_message.from.id'), json_extract(payload, '$.callback_query.from.id'), "
	    "json_extract(payload, '$.my_chat_member.from.id')) ELSE 0 END", "sl", bot, user));
	/* (No status message either: a video in flight when this commits
	 * finds nothing to delete in a chat it no longer knows.) */
	cJSON_AddNumberToObject(r, "requests_kept", db_run(db, "UPDATE requests SET user_id = 0, "
	    "chat_id = 0, status_message_id = NULL, updated_at = ? WHERE bot_id = ? AND "
	    "user_id = ?", "lsl", db_now(), bot, user));
	db_run(db, "DELETE FROM users WHERE bot_id = ? AND user_id = ?", "sl", bot, user);
	return r;
}

/* forget USER: on every bot shown that the user talked to. */
int
cmd_forget(int argc, char **argv)
{
	int64_t user;
	cJSON *done;
	const cJSON *r;

	if (argc != 2)
		usage(EXIT_USAGE);
	user = arg_id(argv[1], "USER");
	done = user_on_bots(user, 1, forget_one);
	if (gc.json) {
		json_print(done);
		return 0;
	}
	cJSON_ArrayForEach(r, done)
		printf("user %lld forgotten (bot %s): phone, names and chat erased, %.0f history "
		    "line(s) and %.0f message(s) with them; %.0f request(s) kept for the counts, "
		    "without the parent (%.0f open one(s) cancelled); if they come back, the bot "
		    "asks for their contact as of a new parent\n", (long long)user,
		    cJSON_GetStringValue(cJSON_GetObjectItem(r, "bot")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "history_erased")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "messages_erased")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "requests_kept")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(r, "requests_cancelled")));
	cJSON_Delete(done);
	return 0;
}
