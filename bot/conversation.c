/* SPDX-License-Identifier: ISC */
/*
 * conversation.c: what a parent's update does (SPEC 3). The user it is
 * about is loaded at its start and saved at its end, every reply is an
 * outbox row, and an order moves jobs only through the state machine
 * (jobs.h); all of it inside the update's transaction (bot.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bot.h"
#include "db.h"
#include "delivery.h"
#include "history.h"
#include "jobs.h"
#include "log.h"
#include "names.h"
#include "texts.h"
#include "update.h"
#include "xmalloc.h"

/* The conversation, one state per user (users.state). */
enum conv_state { ST_NEW, ST_AWAIT_CONTACT, ST_AWAIT_NAME, ST_AWAIT_CONFIRM, ST_IDLE };

static const char *state_names[] = {
	"NEW", "AWAIT_CONTACT", "AWAIT_NAME", "AWAIT_CONFIRM", "IDLE"
};

/* The user an update is about, loaded at its start, saved at its end. */
struct user {
	int64_t		 id, chat_id;
	enum conv_state	 state;
	char		*phone, *pending_name, *lang;
	char		*pending_stress;	/* names.h stress text, never NULL */
	int		 pending_seq;
	int		 known;
	int64_t		 barred_at;	/* an operator's block (greetctl block), 0: none */
	int64_t		 barred_told_at;	/* when they were last told so */
};

/* A blocked user is told so at most once in this many seconds, however
 * much they write. */
#define BARRED_TELL_S	3600
/* --- users ---------------------------------------------------------------- */

static enum conv_state
state_parse(const char *s)
{
	for (size_t i = 0; s != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(s, state_names[i]) == 0)
			return (enum conv_state)i;
	return ST_NEW;
}

static void
user_load(struct user *u, int64_t user_id, int64_t chat_id, const char *language_code)
{
	sqlite3_stmt *st = db_prep(bt.db, "SELECT state, phone, pending_name, pending_seq, "
	    "language, pending_stress, coalesce(barred_at, 0), coalesce(barred_told_at, 0) "
	    "FROM users WHERE bot_id = ? AND user_id = ?", "sl", bt.cfg.bot_id, user_id);

	memset(u, 0, sizeof(*u));
	u->id = user_id;
	u->chat_id = chat_id;
	if (db_step(st) == SQLITE_ROW) {
		u->known = 1;
		u->state = state_parse((const char *)sqlite3_column_text(st, 0));
		u->phone = db_col_str(st, 1);
		u->pending_name = db_col_str(st, 2);
		u->pending_seq = sqlite3_column_int(st, 3);
		u->pending_stress = db_col_str(st, 5);
		u->barred_at = sqlite3_column_int64(st, 6);
		u->barred_told_at = sqlite3_column_int64(st, 7);
		/* Updates without a language_code keep the one we know. */
		if (language_code == NULL)
			u->lang = db_col_str(st, 4);
	}
	db_done(st);
	if (u->lang == NULL)
		u->lang = xstrdup(texts_lang(bt.texts, language_code));
	if (u->pending_stress == NULL)
		u->pending_stress = xstrdup("");
}

/* Write the user back (insert or update), in the update's transaction. */
static void
user_save(struct user *u)
{
	db_run(bt.db, "INSERT INTO users (bot_id, user_id, chat_id, phone, language, state, "
	    "pending_name, pending_seq, pending_stress, created_at, updated_at) VALUES (?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot_id, user_id) DO UPDATE SET chat_id = "
	    "excluded.chat_id, phone = excluded.phone, language = excluded.language, state = "
	    "excluded.state, pending_name = excluded.pending_name, pending_seq = "
	    "excluded.pending_seq, pending_stress = excluded.pending_stress, blocked = 0, "
	    "updated_at = excluded.updated_at", "sllssssisll", bt.cfg.bot_id, u->id,
	    u->chat_id, u->phone, u->lang, state_names[u->state], u->pending_name,
	    u->pending_seq, u->pending_stress, db_now(), db_now());
}

static void
user_free(struct user *u)
{
	free(u->phone);
	free(u->pending_name);
	free(u->pending_stress);
	free(u->lang);
}

/* --- the history (history.h) --------------------------------------------- */

/* What the parent did, into their history: kind, text, detail (taken). */
static void
heard(struct user *u, const char *kind, const char *text, cJSON *detail)
{
	char *d = detail != NULL ? cJSON_PrintUnformatted(detail) : NULL;

	history_add(bt.db, bt.cfg.bot_id, u->id, HISTORY_IN, kind, text, d);
	free(d);
	cJSON_Delete(detail);
}

/* A message: a command, a contact (its number masked: the history is
 * for support, not a second copy of the phone), text, or anything else. */
static void
heard_message(struct user *u, const struct update *up)
{
	char *phone, *masked;
	cJSON *d;

	if (up->command[0] != '\0')
		heard(u, "command", up->text != NULL ? up->text : up->command, NULL);
	else if (up->has_contact) {
		phone = update_phone_e164(up->phone != NULL ? up->phone : "");
		masked = history_mask_phone(phone);
		d = cJSON_CreateObject();
		cJSON_AddBoolToObject(d, "own", up->contact_user == up->user_id);
		heard(u, "contact", masked, d);
		free(masked);
		free(phone);
	} else if (up->text != NULL)
		heard(u, "text", up->text, NULL);
	else
		heard(u, "other", NULL, NULL);
}

/* A button press, by the label the parent saw on it. */
static void
heard_button(struct user *u, const struct update *up)
{
	static const char *const keys[] = {
		[UPDATE_BUTTON_RETRY] = "button_retry",
		[UPDATE_BUTTON_CONFIRM] = "button_confirm",
		[UPDATE_BUTTON_CHANGE] = "button_change",
	};
	char *label = NULL;

	if (up->button == UPDATE_BUTTON_STRESS && u->pending_name != NULL)
		label = names_stress_label(u->pending_name, up->part, up->vowel);
	if (label != NULL)
		heard(u, "button", label, NULL);
	else if (up->button >= 0 && (size_t)up->button < sizeof(keys) / sizeof(keys[0]) &&
	    keys[up->button] != NULL)
		heard(u, "button", texts_get(bt.texts, u->lang, keys[up->button]), NULL);
	else
		heard(u, "button", "(a button the bot does not know)", NULL);
	free(label);
}

/* --- replies (outbox rows) ------------------------------------------------ */

static cJSON *
msg_params(int64_t chat_id, const char *text)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddNumberToObject(p, "chat_id", (double)chat_id);
	cJSON_AddStringToObject(p, "text", text);
	return p;
}

/* Send a text by key, with an optional reply_markup (taken). */
static void
reply(struct user *u, const char *key, cJSON *markup)
{
	char *text = texts_fmt(bt.texts, u->lang, key, u->pending_name);
	cJSON *p = msg_params(u->chat_id, text);

	if (markup != NULL)
		cJSON_AddItemToObject(p, "reply_markup", markup);
	delivery_add(u->chat_id, "message", "sendMessage", p, 0, 0);
	free(text);
}

/* The reply keyboard with one request_contact button. */
static cJSON *
contact_keyboard(struct user *u)
{
	cJSON *m = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(m, "keyboard");
	cJSON *row = cJSON_CreateArray(), *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "text", texts_get(bt.texts, u->lang, "button_contact"));
	cJSON_AddBoolToObject(b, "request_contact", 1);
	cJSON_AddItemToArray(row, b);
	cJSON_AddItemToArray(rows, row);
	cJSON_AddBoolToObject(m, "resize_keyboard", 1);
	cJSON_AddBoolToObject(m, "one_time_keyboard", 1);
	return m;
}

static cJSON *
remove_keyboard(void)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddBoolToObject(m, "remove_keyboard", 1);
	return m;
}

/* Inline keyboard: one row of (label key, callback data) buttons. */
static cJSON *
inline_row(struct user *u, const char *k1, const char *d1, const char *k2, const char *d2)
{
	cJSON *m = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(m, "inline_keyboard");
	cJSON *row = cJSON_CreateArray();
	const char *keys[2] = { k1, k2 }, *data[2] = { d1, d2 };

	for (int i = 0; i < 2 && keys[i] != NULL; i++) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "text", texts_get(bt.texts, u->lang, keys[i]));
		cJSON_AddStringToObject(b, "callback_data", data[i]);
		cJSON_AddItemToArray(row, b);
	}
	cJSON_AddItemToArray(rows, row);
	return m;
}

static void
answer_callback(const char *id, const char *text)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "callback_query_id", id);
	if (text != NULL)
		cJSON_AddStringToObject(p, "text", text);
	delivery_add(0, "answer", "answerCallbackQuery", p, 0, 0);
}

/*
 * A user an operator blocked (greetctl block) is served nothing: nothing
 * is ordered, previewed or rendered, the conversation does not move, and
 * they are told so politely, once in BARRED_TELL_S however much they
 * write. greetctl unblock lets them carry on where they were.
 */
static void
barred_tell(struct user *u)
{
	int tell = u->barred_told_at == 0 || db_now() - u->barred_told_at >= BARRED_TELL_S;

	if (tell) {
		reply(u, "blocked_user", remove_keyboard());
		db_run(bt.db, "UPDATE users SET barred_told_at = ? WHERE bot_id = ? AND "
		    "user_id = ?", "lsl", db_now(), bt.cfg.bot_id, u->id);
	}
	log_info("update from a blocked user", "user=%lld told=%d", (long long)u->id, tell);
}

/* --- the order ------------------------------------------------------------ */

/* A ready video for a request, with the same caption a fresh render gets. */
static void
queue_video(struct user *u, int64_t req, int64_t asset)
{
	sqlite3_stmt *st = db_prep(bt.db, "SELECT display_name FROM assets WHERE id = ?", "l",
	    asset);
	char *caption = NULL;
	cJSON *p = cJSON_CreateObject();

	if (db_step(st) == SQLITE_ROW)
		caption = texts_fmt(bt.texts, u->lang, "video_caption",
		    (const char *)sqlite3_column_text(st, 0));
	db_done(st);
	cJSON_AddNumberToObject(p, "chat_id", (double)u->chat_id);
	if (caption != NULL)
		cJSON_AddStringToObject(p, "caption", caption);
	cJSON_AddBoolToObject(p, "supports_streaming", 1);
	delivery_add(u->chat_id, "video", "sendVideo", p, req, asset);
	free(caption);
}

/*
 * Confirmed: find or create the asset, create the request and, when the
 * asset needs rendering, its job; all inside the update's transaction
 * (BEGIN IMMEDIATE), so two confirms race to one asset and one job.
 */
static void
order(struct user *u)
{
	char *display = NULL, *key = NULL, *stress;
	struct jobs_name n;
	enum asset_state state;
	int64_t asset, req;
	int r, new_jobs;

	if (names_normalize(u->pending_name, strlen(u->pending_name), &display, &key) != NAMES_OK) {
		reply(u, "ask_name", NULL);
		u->state = ST_AWAIT_NAME;
		return;
	}
	/* The asset is per name as it sounds: a stress that changes nothing
	 * shares the unmarked name's video. */
	stress = stress_canonical(display, u->pending_stress);
	free(key);
	key = names_stress_key(display, stress);
	n = (struct jobs_name){ bt.cfg.bot_id, bt.tmpl.id, bt.tmpl.version, key, display,
	    stress };
	if (db_int(bt.db, 0, "SELECT count(*) FROM requests WHERE bot_id = ? AND user_id = ? "
	    "AND state = 'PENDING'", "sl", bt.cfg.bot_id, u->id) >= bt.cfg.max_open_requests) {
		reply(u, "too_many_requests", NULL);
		goto out;
	}
	if ((asset = jobs_asset_find(&n, &state)) != 0 && db_int(bt.db, 0, "SELECT count(*) "
	    "FROM requests WHERE bot_id = ? AND user_id = ? AND asset_id = ? AND state = "
	    "'PENDING'", "sll", bt.cfg.bot_id, u->id, asset) > 0) {
		reply(u, "already_ordered", NULL);
		goto out;
	}
	r = jobs_confirmed(&n, &asset, &new_jobs);
	bt.new_jobs += new_jobs;
	db_run(bt.db, "INSERT INTO requests (bot_id, user_id, chat_id, asset_id, state, "
	    "language, created_at, updated_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?, ?)",
	    "slllsll", bt.cfg.bot_id, u->id, u->chat_id, asset, u->lang, db_now(), db_now());
	req = sqlite3_last_insert_rowid(bt.db);
	if (r == ORDER_AVAILABLE)
		/* Rendered before: the video is the answer, at once. */
		queue_video(u, req, asset);
	else
		delivery_add(u->chat_id, "accepted", "sendMessage", msg_params(u->chat_id,
		    texts_get(bt.texts, u->lang, "order_accepted")), req, asset);
	log_info("order", "user=%lld request=%lld asset=%lld asset_state=%s order=%s stress=%s",
	    (long long)u->id, (long long)req, (long long)asset, asset != 0 && state !=
	    ASSET_NONE ? asset_state_name(state) : "NEW", r == ORDER_AVAILABLE ? "available" :
	    r == ORDER_SHARED ? "shared" : "rendering", stress);
	u->state = ST_IDLE;
out:
	free(display);
	free(key);
	free(stress);
}

/* --- messages ------------------------------------------------------------- */

static void
on_contact(struct user *u, const struct update *up)
{
	if (up->contact_user != up->user_id || up->phone == NULL) {
		reply(u, "contact_not_yours", contact_keyboard(u));
		return;
	}
	free(u->phone);
	u->phone = update_phone_e164(up->phone);
	u->state = ST_AWAIT_NAME;
	reply(u, "ask_name", remove_keyboard());
}

#define STRESS_BUTTONS_MAX	12	/* vowel buttons under one preview */
#define STRESS_ROW		3	/* per row: a name fits on a phone */

/* Rows of buttons under the preview, one per vowel of each part that has
 * several ("Ма́рия" "Мари́я" "Мария́"): a tap moves the stress there. The
 * vowel chosen before is ticked. Returns how many it added. */
static int
stress_buttons(struct user *u, cJSON *markup)
{
	cJSON *rows = cJSON_GetObjectItem(markup, "inline_keyboard"), *row = NULL;
	struct names_stress st;
	int n = 0;

	if (names_stress_parse(u->pending_name, u->pending_stress, &st) == -1 &&
	    names_stress_parse(u->pending_name, "", &st) == -1)
		return 0;
	for (int p = 0; p < st.parts; p++) {
		if (st.vowels[p] < 2 || n + st.vowels[p] > STRESS_BUTTONS_MAX)
			continue;
		for (int v = 1; v <= st.vowels[p]; v++, n++) {
			char data[64], *label = names_stress_label(u->pending_name, p, v), *text;
			cJSON *b = cJSON_CreateObject();

			if ((v - 1) % STRESS_ROW == 0) {
				row = cJSON_CreateArray();
				cJSON_AddItemToArray(rows, row);
			}
			xasprintf(&text, "%s%s", st.mark[p] == v ? "\u2713 " : "", label);
			snprintf(data, sizeof(data), "st:%d:%d:%d", u->pending_seq, p, v);
			cJSON_AddStringToObject(b, "text", text);
			cJSON_AddStringToObject(b, "callback_data", data);
			cJSON_AddItemToArray(row, b);
			free(label);
			free(text);
		}
	}
	return n;
}

/* The confirm question for the pending name: a voice message saying the
 * phrase as the video will (with the stress chosen), Confirm / Change
 * name, and the ways to move the stress. */
static void
preview_ask(struct user *u)
{
	char ok[24], chg[24], *spoken, *question, *text;
	cJSON *p = cJSON_CreateObject(), *markup;

	u->pending_seq++;
	u->state = ST_AWAIT_CONFIRM;
	snprintf(ok, sizeof(ok), "ok:%d", u->pending_seq);
	snprintf(chg, sizeof(chg), "chg:%d", u->pending_seq);
	/* The caption shows the stress chosen: "Мари\u0301я". */
	spoken = names_spoken(u->pending_name, u->pending_stress);
	question = texts_fmt(bt.texts, u->lang, "confirm_name", spoken);
	markup = inline_row(u, "button_confirm", ok, "button_change", chg);
	if (stress_buttons(u, markup) > 0) {
		xasprintf(&text, "%s\n\n%s", question, texts_get(bt.texts, u->lang,
		    "stress_hint"));
		free(question);
		question = text;
	}
	cJSON_AddNumberToObject(p, "chat_id", (double)u->chat_id);
	cJSON_AddStringToObject(p, "caption", question);
	cJSON_AddItemToObject(p, "reply_markup", markup);
	cJSON_AddStringToObject(p, "_name", u->pending_name);
	cJSON_AddStringToObject(p, "_stress", u->pending_stress);
	delivery_add(u->chat_id, "preview", "sendVoice", p, 0, 0);
	free(question);
	free(spoken);
}

/* A name typed by the parent (with the stress marked, or not): validate,
 * then ask to confirm with a voice message saying the phrase as the video
 * will. */
static void
on_name(struct user *u, const char *text)
{
	char *display, *key, *stress;
	enum names_error e = names_normalize_stress(text, strlen(text), &display, &key, &stress);

	if (e != NAMES_OK) {
		reply(u, names_error_id(e), NULL);
		return;
	}
	free(u->pending_name);
	u->pending_name = display;
	free(u->pending_stress);
	u->pending_stress = stress;
	free(key);
	preview_ask(u);
}

/* /status: the user's latest requests and where each one is. */
static void
on_status(struct user *u)
{
	sqlite3_stmt *st = db_prep(bt.db, "SELECT a.display_name, r.state FROM requests r "
	    "JOIN assets a ON a.id = r.asset_id WHERE r.bot_id = ? AND r.user_id = ? "
	    "ORDER BY r.id DESC LIMIT 10", "sl", bt.cfg.bot_id, u->id);
	char *text = xstrdup(texts_get(bt.texts, u->lang, "status_header")), *next;
	int n = 0;

	while (db_step(st) == SQLITE_ROW) {
		char key[32];

		snprintf(key, sizeof(key), "state_%s", (const char *)sqlite3_column_text(st, 1));
		xasprintf(&next, "%s\n%s: %s", text, (const char *)sqlite3_column_text(st, 0),
		    texts_get(bt.texts, u->lang, key));
		free(text);
		text = next;
		n++;
	}
	db_done(st);
	if (n == 0)
		reply(u, "status_empty", NULL);
	else
		delivery_add(u->chat_id, "message", "sendMessage", msg_params(u->chat_id, text),
		    0, 0);
	free(text);
}

static void
on_command(struct user *u, const char *cmd)
{
	if (strcmp(cmd, "/start") == 0) {
		u->state = ST_AWAIT_CONTACT;
		reply(u, "start", contact_keyboard(u));
	} else if (strcmp(cmd, "/help") == 0)
		reply(u, "help", NULL);
	else if (strcmp(cmd, "/status") == 0)
		on_status(u);
	else if (strcmp(cmd, "/cancel") == 0) {
		u->state = ST_IDLE;
		reply(u, "cancelled", remove_keyboard());
	} else if (strcmp(cmd, "/new") == 0) {
		u->state = u->phone ? ST_AWAIT_NAME : ST_AWAIT_CONTACT;
		reply(u, u->phone ? "ask_name" : "start", u->phone ? NULL : contact_keyboard(u));
	} else
		reply(u, "unknown_command", NULL);
}

static void
on_message(const struct update *up)
{
	struct user u;

	if (!up->complete)
		return;
	user_load(&u, up->user_id, up->chat_id, up->language);
	if (!up->private_chat) {
		reply(&u, "private_only", NULL);
		user_free(&u);
		return;	/* groups are not served, and nothing is stored */
	}
	heard_message(&u, up);
	if (u.barred_at != 0) {
		barred_tell(&u);
		user_free(&u);
		return;
	}
	if (up->command[0] != '\0')
		on_command(&u, up->command);
	else if (up->has_contact && u.state == ST_AWAIT_CONTACT)
		on_contact(&u, up);
	else if (up->text != NULL && (u.state == ST_AWAIT_NAME || u.state == ST_AWAIT_CONFIRM))
		on_name(&u, up->text);
	else if (u.state == ST_AWAIT_CONTACT)
		reply(&u, "need_contact", contact_keyboard(&u));
	else if (!u.known || u.state == ST_NEW)
		reply(&u, "say_start", NULL);
	else
		reply(&u, "hint", NULL);
	user_save(&u);
	user_free(&u);
}

/* An edit changes nothing that was already acted on: say so. */
static void
on_edited(const struct update *up)
{
	struct user u;

	if (!up->complete || !up->private_chat)
		return;
	user_load(&u, up->user_id, up->chat_id, up->language);
	heard(&u, "edited", up->text, NULL);
	if (u.barred_at == 0)
		reply(&u, "edited_hint", NULL);
	user_free(&u);
}

/* --- callbacks ------------------------------------------------------------ */

/*
 * The retry button under a failure notice. Only a subscriber of the asset
 * may press it; only a FAILED asset goes back to PENDING with one new job
 * (the first press wins: the asset is then PENDING), and every subscriber
 * whose request failed is subscribed again. Returns the answer's text key.
 */
static const char *
on_retry(struct user *u, int64_t asset)
{
	enum asset_state state;
	int requests;
	int64_t req = db_int(bt.db, 0, "SELECT id FROM requests WHERE bot_id = ? AND "
	    "user_id = ? AND asset_id = ? AND state IN ('FAILED','PENDING') ORDER BY id DESC "
	    "LIMIT 1", "sll", bt.cfg.bot_id, u->id, asset);

	if (req == 0)
		return "stale_button";
	if (jobs_retry_pressed(asset, &requests) > 0) {
		bt.new_jobs++;
		log_info("retry pressed", "user=%lld asset=%lld", (long long)u->id, (long long)asset);
	} else {
		/* Not FAILED (any more): this parent waits again, or gets it. */
		state = jobs_asset_state(asset);
		db_run(bt.db, "UPDATE requests SET state = 'PENDING', updated_at = ? WHERE id = ?",
		    "ll", db_now(), req);
		if (state == ASSET_AVAILABLE)
			queue_video(u, req, asset);
	}
	delivery_add(u->chat_id, "message", "sendMessage",
	    msg_params(u->chat_id, texts_get(bt.texts, u->lang, "retry_accepted")), 0, 0);
	return NULL;
}

/*
 * A vowel button under the preview: the stress of that part moves there,
 * and a new preview says it so (its own buttons; the old ones go away and
 * are stale). The same vowel again changes nothing. -1 when the button
 * does not fit the pending name (forged).
 */
static int
on_stress(struct user *u, const struct update *up, const char *id)
{
	struct names_stress st;
	cJSON *p;

	if (names_stress_parse(u->pending_name, u->pending_stress, &st) == -1 ||
	    up->part >= st.parts || up->vowel < 1 || up->vowel > st.vowels[up->part])
		return -1;
	if (st.mark[up->part] == up->vowel) {
		answer_callback(id, texts_get(bt.texts, u->lang, "stress_same"));
		return 0;
	}
	answer_callback(id, texts_get(bt.texts, u->lang, "stress_set"));
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "chat_id", (double)u->chat_id);
	cJSON_AddNumberToObject(p, "message_id", (double)up->message_id);
	delivery_add(u->chat_id, "message", "editMessageReplyMarkup", p, 0, 0);
	st.mark[up->part] = (unsigned char)up->vowel;
	free(u->pending_stress);
	u->pending_stress = names_stress_format(&st);
	log_info("stress chosen", "user=%lld stress=%s", (long long)u->id, u->pending_stress);
	preview_ask(u);
	return 0;
}

static void
on_callback(const struct update *up)
{
	const char *id = up->callback_id;
	struct user u;

	if (!up->complete)
		return;
	user_load(&u, up->user_id, up->chat_id, up->language);
	heard_button(&u, up);
	if (u.barred_at != 0)
		/* Answered (every press is), and nothing else. */
		answer_callback(id, texts_get(bt.texts, u.lang, "blocked_user"));
	else if (up->button == UPDATE_BUTTON_RETRY && u.known) {
		const char *why = on_retry(&u, up->asset_id);

		answer_callback(id, why ? texts_get(bt.texts, u.lang, why) : NULL);
		if (why == NULL) {
			/* The notice with the button goes away. */
			cJSON *p = cJSON_CreateObject();
			cJSON_AddNumberToObject(p, "chat_id", (double)u.chat_id);
			cJSON_AddNumberToObject(p, "message_id", (double)up->message_id);
			delivery_add(u.chat_id, "message", "deleteMessage", p, 0, 0);
		}
	} else if ((up->button == UPDATE_BUTTON_CONFIRM || up->button == UPDATE_BUTTON_CHANGE) &&
	    u.known && u.state == ST_AWAIT_CONFIRM && up->seq == u.pending_seq) {
		cJSON *p = cJSON_CreateObject();

		/* The answer first, then the order's reply (a cached video goes
		 * before anything else to this chat), then the buttons go away. */
		answer_callback(id, NULL);
		if (up->button == UPDATE_BUTTON_CONFIRM)
			order(&u);
		cJSON_AddNumberToObject(p, "chat_id", (double)u.chat_id);
		cJSON_AddNumberToObject(p, "message_id", (double)up->message_id);
		delivery_add(u.chat_id, "message", "editMessageReplyMarkup", p, 0, 0);
		if (up->button == UPDATE_BUTTON_CHANGE) {
			u.state = ST_AWAIT_NAME;
			reply(&u, "ask_name", NULL);
		}
		user_save(&u);
	} else if (up->button == UPDATE_BUTTON_STRESS && u.known && u.state == ST_AWAIT_CONFIRM &&
	    up->seq == u.pending_seq && on_stress(&u, up, id) == 0)
		user_save(&u);
	else
		answer_callback(id, texts_get(bt.texts, u.lang, "stale_button"));
	user_free(&u);
}

/* my_chat_member in a private chat: "kicked" means the user blocked the
 * bot. (Removed from a group by someone, the bot still talks to them.) */
static void
on_member(const struct update *up)
{
	if (!up->complete || !up->private_chat || up->chat_id != up->user_id)
		return;
	if (db_run(bt.db, "UPDATE users SET blocked = ?, updated_at = ? WHERE bot_id = ? AND "
	    "user_id = ?", "ilsl", strcmp(up->member_status, "kicked") == 0, db_now(),
	    bt.cfg.bot_id, up->user_id) > 0)
		history_add(bt.db, bt.cfg.bot_id, up->user_id, HISTORY_IN, "member",
		    strcmp(up->member_status, "kicked") == 0 ? "blocked the bot" :
		    "unblocked the bot", NULL);
}

/* One update's effects, by its kind. */
void
conversation_update(const struct update *up)
{
	if (up->kind == UPDATE_MESSAGE)
		on_message(up);
	else if (up->kind == UPDATE_CALLBACK)
		on_callback(up);
	else if (up->kind == UPDATE_MEMBER)
		on_member(up);
	else if (up->kind == UPDATE_EDITED)
		on_edited(up);
}
