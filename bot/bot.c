/*
 * bot.c: greetbot-tg, the bot process. It owns every Bot API call: long
 * polling, the conversation, and (delivery.c) the outbox sender.
 *
 * Each update is applied in one SQLite transaction together with the
 * record of its update_id, and every reply is an outbox row written in that
 * same transaction: a crash before the commit loses nothing (Telegram sends
 * the update again), a crash after it repeats nothing (the id is known).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "db.h"
#include "delivery.h"
#include "jobs.h"
#include "log.h"
#include "names.h"
#include "renderer.h"
#include "sandbox.h"
#include "template.h"
#include "texts.h"
#include "tg.h"
#include "update.h"
#include "webhook.h"
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
};

static struct {
	struct config		 cfg;
	const char		*config_path;
	const char		*bot_name;	/* -b: which of the configured bots */
	struct event_base	*base;
	sqlite3			*db;
	struct tg		*tg;
	struct texts		*texts;
	struct template		 tmpl;
	int64_t			 offset;
	int			 backoff;
	int			 notify_fd;	/* to greetbotd: new jobs */
	int			 new_jobs;
	struct event		*poll_ev;
	struct tg_call		*poll;
	int			 stopping;
	char			*render_dir;	/* greetbotd's state_dir/render */
	char			*previews_dir;
	struct sandbox		 sb;		/* who previews render as */
	char			 preview_busy[SANDBOX_PREVIEWS];	/* slots */
} bt;

/* A pronunciation preview being rendered. */
struct preview {
	delivery_preview_done	 done;
	void			*arg;
	char			*path;	/* where the cached OGG goes */
	char			*work;
	char			*output;
	char			*name, *stress;	/* what it says: for speculate() */
	int			 slot;	/* its sandbox slot, or -1 */
};

static void poll_start(evutil_socket_t, short, void *);
static void notify_jobs(void);
static char *stress_canonical(const char *, const char *);

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
	    "language, pending_stress FROM users WHERE bot_id = ? AND user_id = ?", "sl",
	    bt.cfg.bot_id, user_id);

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
 * several ("мАрия" "марИя" "мариЯ"): a tap moves the stress there. The
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
	if (up->button == UPDATE_BUTTON_RETRY && u.known) {
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

/* my_chat_member: "kicked" means the user blocked the bot. */
static void
on_member(const struct update *up)
{
	if (up->complete)
		db_run(bt.db, "UPDATE users SET blocked = ?, updated_at = ? WHERE bot_id = ? AND "
		    "user_id = ?", "ilsl", strcmp(up->member_status, "kicked") == 0, db_now(),
		    bt.cfg.bot_id, up->user_id);
}

/* --- updates -------------------------------------------------------------- */

/* Apply one update exactly once (see the comment at the top). */
static void
update_apply(const cJSON *u)
{
	struct update up;
	int64_t id;

	update_parse(u, &up);
	id = up.id;
	db_begin(bt.db);
	if (db_int(bt.db, 0, "SELECT 1 FROM updates WHERE bot_id = ? AND update_id = ?", "sl",
	    bt.cfg.bot_id, id)) {
		db_rollback(bt.db);
		return;
	}
	if (up.kind == UPDATE_MESSAGE)
		on_message(&up);
	else if (up.kind == UPDATE_CALLBACK)
		on_callback(&up);
	else if (up.kind == UPDATE_MEMBER)
		on_member(&up);
	else if (up.kind == UPDATE_EDITED)
		on_edited(&up);
	db_run(bt.db, "INSERT INTO updates (bot_id, update_id, processed_at) VALUES (?, ?, ?)",
	    "sll", bt.cfg.bot_id, id, db_now());
	db_run(bt.db, "INSERT INTO bot_state (bot_id, update_offset) VALUES (?, ?) ON CONFLICT "
	    "(bot_id) DO UPDATE SET update_offset = max(update_offset, excluded.update_offset)",
	    "sl", bt.cfg.bot_id, id + 1);
	db_commit(bt.db);
}

static void
poll_again(int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (!bt.stopping)
		evtimer_add(bt.poll_ev, &tv);
}

/* The webhook is deleted: polling may start. */
static void
poll_now(void)
{
	poll_again(0);
}

/* The update kinds the bot acts on; getUpdates and setWebhook ask for
 * the same list. */
static cJSON *
allowed_updates(void)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, cJSON_CreateString("message"));
	cJSON_AddItemToArray(a, cJSON_CreateString("callback_query"));
	cJSON_AddItemToArray(a, cJSON_CreateString("my_chat_member"));
	cJSON_AddItemToArray(a, cJSON_CreateString("edited_message"));
	return a;
}

/* An update POSTed to the webhook: committed when this returns, and only
 * then answered (webhook.c); then what polling does after a batch. */
static void
webhook_update(const cJSON *u)
{
	update_apply(u);
	delivery_kick();
	if (bt.new_jobs > 0)
		notify_jobs();
	bt.new_jobs = 0;
}

static void
poll_done(const struct tg_result *r, void *arg)
{
	const cJSON *u;

	(void)arg;
	bt.poll = NULL;
	if (!r->ok) {
		int wait = r->retry_after > 0 ? r->retry_after :
		    (bt.backoff = bt.backoff ? (bt.backoff * 2 > 30 ? 30 : bt.backoff * 2) : 1);
		log_warnx("getUpdates failed", "status=%ld retry_in=%d", r->http_status, wait);
		if (r->error_code == 401 || r->error_code == 404)
			log_warnx("the bot token is not accepted: check telegram_token");
		/* A webhook is set (by another instance, or still from webhook
		 * mode): Telegram refuses getUpdates until it is deleted. */
		if (r->error_code == 409 && strstr(r->description, "webhook") != NULL) {
			log_warnx("a webhook is set: deleting it to poll");
			webhook_delete(bt.base, bt.tg, NULL);
		}
		poll_again(wait);
		return;
	}
	bt.backoff = 0;
	cJSON_ArrayForEach(u, r->result) {
		int64_t id = tg_json_int64(u, "update_id");

		update_apply(u);
		if (id >= bt.offset)
			bt.offset = id + 1;
	}
	delivery_kick();
	if (bt.new_jobs > 0)
		notify_jobs();
	bt.new_jobs = 0;
	poll_again(0);
}

static void
poll_start(evutil_socket_t fd, short what, void *arg)
{
	cJSON *p = cJSON_CreateObject();

	(void)fd;
	(void)what;
	(void)arg;
	cJSON_AddNumberToObject(p, "offset", (double)bt.offset);
	cJSON_AddNumberToObject(p, "timeout", bt.cfg.poll_timeout);
	cJSON_AddItemToObject(p, "allowed_updates", allowed_updates());
	bt.poll = tg_call(bt.tg, "getUpdates", p, (bt.cfg.poll_timeout + 15) * 1000L,
	    poll_done, NULL);
}

/* --- pronunciation previews ---------------------------------------------- */

static char *preview_path(const char *, const char *);

/* Keep what the render script said of a stress (its "stress" line: the
 * parts whose sound the mark changes) beside the preview's OGG. */
static void
stress_keep(const char *ogg, const char *canonical)
{
	char *path, *tmp;
	FILE *f;

	xasprintf(&path, "%s.stress", ogg);
	xasprintf(&tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", canonical) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) == -1) {
		log_warn("cannot keep the stress of a preview", "path=%s", path);
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/*
 * The stress that goes into an asset's key: of the parent's, only what
 * changes the sound, as the preview's render found (the vowel espeak-ng or
 * the template's stresses file stresses anyway is no mark: the same video
 * as the unmarked name). Without a preview to ask (it failed, or the
 * cache was cleared), the parent's stress as it is: at worst a second
 * render of the same sound, never a wrong one.
 */
static char *
stress_canonical(const char *display, const char *stress)
{
	struct names_stress st;
	char *path, *kept, line[128] = "";
	FILE *f;

	if (*stress == '\0')
		return xstrdup("");
	kept = preview_path(display, stress);
	xasprintf(&path, "%s.stress", kept);
	free(kept);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (names_stress_parse(display, line, &st) == 0) {
			free(path);
			return names_stress_format(&st);
		}
	}
	free(path);
	return xstrdup(stress);
}

static void
preview_free(struct preview *pv)
{
	if (pv->work != NULL)
		render_empty(pv->work);
	if (pv->slot >= 0)
		bt.preview_busy[pv->slot] = 0;
	free(pv->path);
	free(pv->work);
	free(pv->output);
	free(pv->name);
	free(pv->stress);
	free(pv);
}

/* A free preview slot (the sender renders at most SANDBOX_PREVIEWS at
 * once), or -1. */
static int
preview_slot(void)
{
	for (int i = 0; i < SANDBOX_PREVIEWS; i++)
		if (!bt.preview_busy[i]) {
			bt.preview_busy[i] = 1;
			return i;
		}
	return -1;
}

/*
 * The preview went out: most parents confirm, so the video's render can
 * start now, as a speculative job (no request; greetbotd runs it on an
 * idle worker at a lower priority, and a confirm makes it an ordinary
 * one). Not when this bot has an asset for the name already, nor when
 * another bot's render of it exists or runs (the confirm shares that).
 * The key is the one order() will use: after the preview, the canonical
 * stress is known.
 */
static void
speculate(const char *name, const char *stress)
{
	char *display = NULL, *key = NULL, *canon, *skey;

	if (!bt.cfg.speculate || names_normalize(name, strlen(name), &display, &key) !=
	    NAMES_OK) {
		free(display);
		free(key);
		return;
	}
	canon = stress_canonical(display, stress);
	skey = names_stress_key(display, canon);
	if (jobs_speculate(&(struct jobs_name){ bt.cfg.bot_id, bt.tmpl.id, bt.tmpl.version,
	    skey, display, canon }) > 0) {
		log_info("speculative render queued", "stress=%s", canon);
		notify_jobs();
	}
	free(display);
	free(key);
	free(canon);
	free(skey);
}

static void
preview_rendered(const struct render_outcome *o, void *arg)
{
	struct preview *pv = arg;

	/* What of the stress changes the sound goes beside the OGG first, so
	 * that a cached OGG always has it (stress_canonical). */
	if (strcmp(o->status, "ok") == 0 && o->stress_known)
		stress_keep(pv->path, o->stress);
	if (strcmp(o->status, "ok") == 0 && rename(pv->output, pv->path) == 0) {
		pv->done(pv->path, pv->arg);
		speculate(pv->name, pv->stress);
	} else {
		log_warnx("preview failed, asking in text", "status=%s cause=%s",
		    o->status, o->cause);
		pv->done(NULL, pv->arg);
	}
	preview_free(pv);
}

/* Where the preview of a name said with a stress is cached (the names of
 * the unmarked ones as before stresses existed). */
static char *
preview_path(const char *name, const char *stress)
{
	uint64_t h = template_hash(0, bt.tmpl.version, strlen(bt.tmpl.version));
	char *path;

	h = template_hash(h, name, strlen(name));
	if (*stress != '\0')
		h = template_hash(template_hash(h, "\n", 1), stress, strlen(stress));
	xasprintf(&path, "%s/%016llx.ogg", bt.previews_dir, (unsigned long long)h);
	return path;
}

/* The slot's work directory (work/s<slot>, as greetbotd's workers'), empty
 * and owned by its uid. */
static int
preview_workdir(struct preview *pv)
{
	int slot;

	if ((pv->slot = preview_slot()) == -1)
		return -1;
	slot = SANDBOX_SLOT_BOT(bt.cfg.bot_index) + pv->slot;
	xasprintf(&pv->work, "%s/work/s%d", bt.render_dir, slot);
	return sandbox_workdir(&bt.sb, pv->work, slot, 0);
}

/*
 * The OGG for a name, rendered by the template's script in preview mode
 * (same voice settings as the video) under the renderer's isolation, and
 * cached per template version, name and stress.
 */
static void
preview_make(const char *name, const char *stress, delivery_preview_done done, void *arg)
{
	struct render_request rq = { 0 };
	struct preview *pv = xcalloc(1, sizeof(*pv));
	char *cache, *thumb;

	pv->done = done;
	pv->arg = arg;
	pv->slot = -1;
	pv->path = preview_path(name, stress);
	if (access(pv->path, R_OK) == 0 || preview_workdir(pv) == -1) {
		int ok = access(pv->path, R_OK) == 0;
		done(ok ? pv->path : NULL, arg);
		if (ok)
			speculate(name, stress);
		preview_free(pv);
		return;
	}
	pv->name = xstrdup(name);
	pv->stress = xstrdup(stress);
	xasprintf(&pv->output, "%s/voice.ogg", pv->work);
	xasprintf(&thumb, "%s/thumb.jpg", pv->work);
	cache = sandbox_cache_dir(&bt.sb, bt.render_dir, bt.tmpl.version);
	render_request_config(&rq, &bt.cfg, &bt.sb, SANDBOX_SLOT_BOT(bt.cfg.bot_index) +
	    pv->slot);
	rq.script = bt.tmpl.script;
	rq.work_dir = pv->work;
	rq.template_dir = bt.tmpl.dir;
	rq.cache_dir = cache;
	rq.name = name;
	rq.stress = stress;
	rq.output = pv->output;
	rq.thumb = thumb;
	rq.mode = "preview";
	render_start(bt.base, &rq, preview_rendered, NULL, pv);
	free(cache);
	free(thumb);
}

/* --- process -------------------------------------------------------------- */

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	delivery_kick();
}

#define STOP_WAIT	5	/* seconds the calls in flight get at SIGTERM */

static void
on_stopped(void)
{
	event_base_loopexit(bt.base, NULL);
}

/*
 * Stop: no new poll, no new send; the calls in flight finish first (a send
 * Telegram carried out but whose answer we never read would go again after
 * the restart), for at most STOP_WAIT seconds. A second signal stops now.
 */
static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { STOP_WAIT, 0 };

	(void)what;
	(void)arg;
	log_info("stopping", "signal=%d", (int)sig);
	if (bt.stopping) {
		event_base_loopexit(bt.base, NULL);
		return;
	}
	bt.stopping = 1;
	webhook_stop();		/* Telegram sends later updates again */
	event_base_loopexit(bt.base, &tv);
	delivery_stop(on_stopped);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct texts *tx;
	struct template t;
	char err[512], changed[512], snapshot[4096];

	snprintf(snapshot, sizeof(snapshot), "%s/templates", bt.render_dir);
	if (config_reload(&bt.cfg, changed, sizeof(changed), err, sizeof(err)) == -1)
		log_warnx("reload: configuration kept", "reason=%s", err);
	else if (changed[0] != '\0') {
		log_info("configuration reloaded", "changed=%s", changed);
		delivery_set_rates(bt.cfg.rate_global, bt.cfg.rate_chat);
	}
	(void)sig;
	(void)what;
	(void)arg;
	if ((tx = texts_load(bt.cfg.messages_dir, bt.cfg.default_language, err, sizeof(err))))
		texts_free(bt.texts), bt.texts = tx;
	else
		log_warnx("reload: texts kept", "reason=%s", err);
	if (template_load(&t, bt.cfg.templates_dir, bt.cfg.default_template,
	    bt.cfg.render_script, snapshot, err, sizeof(err)) == 0)
		template_free(&bt.tmpl), bt.tmpl = t;
	else
		log_warnx("reload: template kept", "reason=%s", err);
	log_info("reloaded", "template_version=%s", bt.tmpl.version);
}

/* The render tree (as greetbotd makes it, in case we run alone) and our
 * preview cache. */
static void
setup_dirs(void)
{
	char err[512];

	bt.render_dir = render_dirs(bt.cfg.state_dir);
	xasprintf(&bt.previews_dir, "%s/previews", bt.cfg.state_dir);
	if (mkdir(bt.previews_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", bt.previews_dir);
	/* Before libcurl starts threads: the namespace is made by unshare. */
	if (sandbox_init(&bt.sb, &bt.cfg, SANDBOX_SLOT_BOT(bt.cfg.bot_index) + SANDBOX_PREVIEWS,
	    err, sizeof(err)) == -1)
		fatalx("renderers cannot be isolated", "reason=%s", err);
}

/* Tell greetbotd there are jobs to relay (a lost byte costs a second). */
static void
notify_jobs(void)
{
	if (bt.notify_fd >= 0)
		(void)!write(bt.notify_fd, "j", 1);
}

static int
env_fd(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? atoi(v) : -1;
}

static void
setup(void)
{
	char err[512], *snapshot;
	enum log_level lvl;
	struct event *ev;
	int wake_fd;

	log_init("greetbot-tg", LOG_LEVEL_INFO);
	if (config_load(&bt.cfg, bt.config_path, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	/* Of several bots, the one named (greetbotd runs one of us per bot). */
	if (config_select(&bt.cfg, bt.bot_name, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if (bt.cfg.nbots > 1)
		log_set_bot(bt.cfg.bot_id);
	if (log_level_parse(bt.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	if (*bt.cfg.telegram_token == '\0')
		fatalx("no telegram_token or telegram_token_file configured");
	log_add_secret(bt.cfg.telegram_token);
	log_add_secret(bt.cfg.webhook_secret);
	if ((bt.texts = texts_load(bt.cfg.messages_dir, bt.cfg.default_language, err,
	    sizeof(err))) == NULL)
		fatalx("texts cannot be loaded", "reason=%s", err);
	setup_dirs();
	xasprintf(&snapshot, "%s/templates", bt.render_dir);
	if (template_load(&bt.tmpl, bt.cfg.templates_dir, bt.cfg.default_template,
	    bt.cfg.render_script, snapshot, err, sizeof(err)) == -1)
		fatalx("template cannot be loaded", "reason=%s", err);
	free(snapshot);
	bt.db = db_open(bt.cfg.db_path);
	/* Orders and retries move jobs; greetbotd writes the notices. */
	jobs_init(&(struct jobs_env){ .db = bt.db, .node = bt.cfg.node_name,
	    .max_attempts = bt.cfg.max_attempts, .alert_window = bt.cfg.alert_window });
	bt.offset = db_int(bt.db, 0, "SELECT update_offset FROM bot_state WHERE bot_id = ?",
	    "s", bt.cfg.bot_id);
	if ((bt.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	signal(SIGPIPE, SIG_IGN);
	child_init(bt.base);
	bt.tg = tg_new(bt.base, bt.cfg.telegram_api_url, bt.cfg.telegram_token);
	delivery_init(bt.base, bt.db, bt.tg, bt.cfg.bot_id);
	delivery_set_preview(preview_make);
	delivery_set_jobs_notify(notify_jobs);
	delivery_set_rates(bt.cfg.rate_global, bt.cfg.rate_chat);
	ev = evsignal_new(bt.base, SIGTERM, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(bt.base, SIGINT, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(bt.base, SIGHUP, on_hup, NULL);
	evsignal_add(ev, NULL);
	if ((wake_fd = env_fd("GREETBOT_WAKE_FD")) >= 0) {
		fcntl(wake_fd, F_SETFL, O_NONBLOCK);
		ev = event_new(bt.base, wake_fd, EV_READ | EV_PERSIST, on_wake, NULL);
		event_add(ev, NULL);
	}
	bt.notify_fd = env_fd("GREETBOT_NOTIFY_FD");
	bt.poll_ev = evtimer_new(bt.base, poll_start, NULL);
}

/* Updates by webhook (our HTTP server, then setWebhook) or by polling
 * (deleteWebhook first: Telegram refuses getUpdates while one is set). */
static void
telegram_start(void)
{
	char bound[300];

	if (strcmp(bt.cfg.telegram_mode, "webhook") != 0) {
		webhook_delete(bt.base, bt.tg, poll_now);
		return;
	}
	if (webhook_start(bt.base, bt.tg, &bt.cfg, allowed_updates(), webhook_update,
	    bound, sizeof(bound)) == -1)
		fatal("cannot listen", "webhook_listen=%s", bt.cfg.webhook_listen);
	log_info("webhook listening", "addr=%s path=%s", bound, bt.cfg.webhook_path);
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "b:c:")) != -1) {
		if (ch == 'c')
			bt.config_path = optarg;
		else if (ch == 'b')
			bt.bot_name = optarg;
		else {
			fprintf(stderr, "usage: greetbot-tg [-c config] [-b bot]\n");
			return 2;
		}
	}
	setup();
	log_info("started", "offset=%lld template_version=%s mode=%s", (long long)bt.offset,
	    bt.tmpl.version, bt.cfg.telegram_mode);
	telegram_start();
	delivery_kick();
	event_base_dispatch(bt.base);
	webhook_stop();
	tg_free(bt.tg);
	db_close(bt.db);
	return 0;
}
