/* SPDX-License-Identifier: ISC */
/* notice.c: the outbox rows of a job's events for parents and admins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "notice.h"
#include "texts.h"
#include "xmalloc.h"

/* Rows written since notice_written last looked. */
static int written;

int
notice_written(void)
{
	int n = written;

	written = 0;
	return n;
}

/* The texts a bot's parents read (NULL: texts_get falls back to keys). */
static const struct texts *
bot_texts(const char *bot)
{
	const struct jobs_env *e = jobs_env();

	return e->texts != NULL ? e->texts(bot) : NULL;
}

void
notice_video(int64_t asset)
{
	sqlite3 *db = jobs_env()->db;
	sqlite3_stmt *st = db_prep(db, "SELECT r.id, r.chat_id, r.language, a.display_name, "
	    "r.bot_id FROM requests r JOIN assets a ON a.id = r.asset_id WHERE r.asset_id = ? "
	    "AND r.state = 'PENDING' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
	    "o.request_id = r.id AND o.kind = 'video' AND o.state != 'FAILED')", "l", asset);

	while (db_step(st) == SQLITE_ROW) {
		const char *bot = (const char *)sqlite3_column_text(st, 4);
		char *caption = texts_fmt(bot_texts(bot), (const char *)sqlite3_column_text(st,
		    2), "video_caption", (const char *)sqlite3_column_text(st, 3));
		cJSON *j = cJSON_CreateObject();

		cJSON_AddNumberToObject(j, "chat_id", (double)sqlite3_column_int64(st, 1));
		cJSON_AddStringToObject(j, "caption", caption);
		cJSON_AddBoolToObject(j, "supports_streaming", 1);
		db_outbox_add(db, bot, sqlite3_column_int64(st, 1), "video", "sendVideo", j,
		    sqlite3_column_int64(st, 0), asset);
		written++;
		free(caption);
	}
	db_done(st);
	/* Progress edits still waiting are pointless now. */
	db_run(db, "UPDATE outbox SET state = 'FAILED', last_error = 'superseded by the video' "
	    "WHERE kind = 'progress' AND state = 'PENDING' AND request_id IN (SELECT id FROM "
	    "requests WHERE asset_id = ?)", "l", asset);
}

/* The inline keyboard of a failure notice: one retry button. */
static cJSON *
retry_keyboard(const struct texts *tx, const char *lang, int64_t asset)
{
	cJSON *markup = cJSON_CreateObject(), *kb, *row, *btn;
	char data[40];

	snprintf(data, sizeof(data), "retry:%lld", (long long)asset);
	row = cJSON_CreateArray();
	btn = cJSON_CreateObject();
	cJSON_AddStringToObject(btn, "text", texts_get(tx, lang, "button_retry"));
	cJSON_AddStringToObject(btn, "callback_data", data);
	cJSON_AddItemToArray(row, btn);
	kb = cJSON_CreateArray();
	cJSON_AddItemToArray(kb, row);
	cJSON_AddItemToObject(markup, "inline_keyboard", kb);
	return markup;
}

void
notice_failed(int64_t asset, const char *display)
{
	sqlite3 *db = jobs_env()->db;
	sqlite3_stmt *st = db_prep(db, "SELECT id, chat_id, language, bot_id FROM requests "
	    "WHERE asset_id = ? AND state = 'PENDING'", "l", asset);

	while (db_step(st) == SQLITE_ROW) {
		const char *lang = (const char *)sqlite3_column_text(st, 2);
		const char *bot = (const char *)sqlite3_column_text(st, 3);
		const struct texts *tx = bot_texts(bot);
		char *text = texts_fmt(tx, lang, "render_failed", display);
		cJSON *p = cJSON_CreateObject();

		cJSON_AddNumberToObject(p, "chat_id", (double)sqlite3_column_int64(st, 1));
		cJSON_AddStringToObject(p, "text", text);
		cJSON_AddItemToObject(p, "reply_markup", retry_keyboard(tx, lang, asset));
		db_outbox_add(db, bot, sqlite3_column_int64(st, 1), "notice", "sendMessage", p,
		    sqlite3_column_int64(st, 0), asset);
		written++;
		free(text);
	}
	db_done(st);
	db_run(db, "UPDATE requests SET state = 'FAILED', updated_at = ? WHERE asset_id = ? "
	    "AND state = 'PENDING'", "ll", db_now(), asset);
}

void
notice_cancelled(int64_t request, int tell)
{
	sqlite3 *db = jobs_env()->db;
	sqlite3_stmt *st;
	char *text;
	cJSON *p;

	db_run(db, "UPDATE outbox SET state = 'FAILED', last_error = 'the request was "
	    "cancelled' WHERE request_id = ? AND state = 'PENDING'", "l", request);
	if (!tell)
		return;
	st = db_prep(db, "SELECT r.bot_id, r.chat_id, r.language, r.status_message_id, "
	    "a.display_name FROM requests r JOIN assets a ON a.id = r.asset_id WHERE r.id = ?",
	    "l", request);
	if (db_step(st) == SQLITE_ROW) {
		const char *bot = (const char *)sqlite3_column_text(st, 0);
		int64_t chat = sqlite3_column_int64(st, 1);

		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			p = cJSON_CreateObject();
			cJSON_AddNumberToObject(p, "chat_id", (double)chat);
			cJSON_AddNumberToObject(p, "message_id",
			    (double)sqlite3_column_int64(st, 3));
			db_outbox_add(db, bot, chat, "message", "deleteMessage", p, 0, 0);
		}
		text = texts_fmt(bot_texts(bot), (const char *)sqlite3_column_text(st, 2),
		    "order_cancelled", (const char *)sqlite3_column_text(st, 4));
		p = cJSON_CreateObject();
		cJSON_AddNumberToObject(p, "chat_id", (double)chat);
		cJSON_AddStringToObject(p, "text", text);
		db_outbox_add(db, bot, chat, "message", "sendMessage", p, 0, 0);
		written += 2;
		free(text);
	}
	db_done(st);
}

/*
 * One request's progress on its "order accepted" message. One pending
 * edit per request: a newer one replaces its text rather than queueing
 * behind it.
 */
static void
progress_edit(const char *bot, int64_t request, int64_t chat, int64_t message_id,
    const char *lang, const char *name, double p)
{
	sqlite3 *db = jobs_env()->db;
	char bar[64] = "", *head, *text, *params;
	int filled = (int)(p * 10 + 0.5);
	cJSON *j = cJSON_CreateObject();

	for (int i = 0; i < 10; i++)
		strcat(bar, i < filled ? "\xe2\x96\x93" : "\xe2\x96\x91");	/* ▓ ░ */
	head = texts_fmt(bot_texts(bot), lang, "progress", name);
	xasprintf(&text, "%s\n%s %d%%", head, bar, (int)(p * 100 + 0.5));
	cJSON_AddNumberToObject(j, "chat_id", (double)chat);
	cJSON_AddNumberToObject(j, "message_id", (double)message_id);
	cJSON_AddStringToObject(j, "text", text);
	params = cJSON_PrintUnformatted(j);
	written++;
	if (db_run(db, "UPDATE outbox SET params = ? WHERE request_id = ? AND kind = 'progress' "
	    "AND state = 'PENDING'", "sl", params, request) == 0)
		db_run(db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, request_id, "
		    "created_at) VALUES (?, ?, 'progress', 'editMessageText', ?, ?, ?)", "slsll",
		    bot, chat, params, request, db_now());
	free(params);
	free(text);
	free(head);
	cJSON_Delete(j);
}

void
notice_progress(int64_t asset, const char *display, double p)
{
	sqlite3 *db = jobs_env()->db;
	sqlite3_stmt *st = db_prep(db, "SELECT id, chat_id, status_message_id, language, bot_id "
	    "FROM requests WHERE (asset_id = ? OR asset_id IN (SELECT id FROM assets WHERE "
	    "shares = ?)) AND state = 'PENDING' AND status_message_id IS NOT NULL", "ll", asset,
	    asset);

	while (db_step(st) == SQLITE_ROW)
		progress_edit((const char *)sqlite3_column_text(st, 4),
		    sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		    sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
		    display, p);
	db_done(st);
}

/*
 * An alert to the bot's admin_chat_id. One per cause per alert_window:
 * the rest are counted, and the next alert says how many were held back.
 */
void
notice_alert(const char *bot, const char *what, const char *text)
{
	const struct jobs_env *e = jobs_env();
	const struct config *bc = e->bot_config != NULL ? e->bot_config(bot) : NULL;
	char cause[300];
	int64_t start, held;
	char *msg;
	cJSON *p;

	if (bc == NULL)
		return;
	/* With several bots, each admin hears of their own bot's renders. */
	snprintf(cause, sizeof(cause), "%s%s%s", what, e->nbots > 1 ? "@" : "",
	    e->nbots > 1 ? bc->bot_id : "");
	start = db_int(e->db, -1, "SELECT window_start FROM alerts WHERE cause = ?", "s", cause);
	held = db_int(e->db, 0, "SELECT suppressed FROM alerts WHERE cause = ?", "s", cause);
	if (bc->admin_chat_id == 0)
		return;
	if (start >= 0 && db_now() - start < e->alert_window) {
		db_run(e->db, "UPDATE alerts SET suppressed = suppressed + 1 WHERE cause = ?", "s",
		    cause);
		return;
	}
	if (held > 0)
		xasprintf(&msg, "\xe2\x9a\xa0 %s\n(%lld more like this since the last alert)",
		    text, (long long)held);
	else
		xasprintf(&msg, "\xe2\x9a\xa0 %s", text);
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "chat_id", (double)bc->admin_chat_id);
	cJSON_AddStringToObject(p, "text", msg);
	db_outbox_add(e->db, bc->bot_id, bc->admin_chat_id, "alert", "sendMessage", p, 0, 0);
	written++;
	db_run(e->db, "INSERT INTO alerts (cause, window_start, suppressed) VALUES (?, ?, 0) ON "
	    "CONFLICT (cause) DO UPDATE SET window_start = excluded.window_start, suppressed = "
	    "0", "sl", cause, db_now());
	log_warnx("admin alerted", "cause=%s held_back=%lld", cause, (long long)held);
	free(msg);
}

void
notice_alert_failure(const char *bot, const char *tmpl, int64_t job, int64_t asset,
    const char *status, const char *cause)
{
	char *key, *text;

	if (strcmp(status, "template_broken") == 0) {
		xasprintf(&key, "template_broken:%s", tmpl);
		xasprintf(&text, "Template %s is broken: %s. Check it with: greetctl template "
		    "check %s", tmpl, cause, tmpl);
	} else {
		xasprintf(&key, "final_failure:%s", status);
		xasprintf(&text, "A render failed for good (%s: %s), asset %lld, job %lld.",
		    status, cause, (long long)asset, (long long)job);
	}
	notice_alert(bot, key, text);
	free(key);
	free(text);
}
