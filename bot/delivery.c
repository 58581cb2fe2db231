/* SPDX-License-Identifier: ISC */
/* delivery.c: the outbox sender: one call in flight per chat (in order),
 * 429 pauses every send, 5xx and network errors back off, 403 blocks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "db.h"
#include "delivery.h"
#include "history.h"
#include "jobs.h"
#include "log.h"
#include "tg.h"
#include "xmalloc.h"

#define BATCH		1000	/* pending rows looked at per run */
#define MAX_INFLIGHT	16	/* Bot API calls in flight */
#define MAX_PREVIEWS	4	/* preview OGGs being rendered */
#define MAX_ANSWERS	16	/* answerCallbackQuery calls in flight */
#define MAX_TRIES	20
#define BACKOFF_MAX	30	/* seconds a failed send waits at most */
#define CHAT_SLOTS	4096	/* chats remembered by the per-chat limiter */
#define HELD_SLOTS	2048	/* > BATCH: the chats a run holds back */
/*
 * The interval between two sends to one chat. It is timed from the
 * previous send's response: Telegram saw that send before we had its
 * answer, and sees the next one after we start it, so its gap is never
 * shorter than ours. 10 ms covers clock granularity.
 */
#define CHAT_INTERVAL(rate)	(1.0 / (rate) + 0.01)

/* One send in flight. */
struct send {
	int64_t		 id, chat_id, request_id, asset_id;
	char		*kind;
	char		*method;	/* as called (a preview may fall back) */
	cJSON		*params;	/* held while a preview is made */
	int		 upload;	/* the video's bytes, not a file_id */
	char		*idfile;	/* a preview's cached voice file_id */
	int		 rendering;	/* a preview waiting for its OGG */
	int		 answer;	/* answerCallbackQuery: in no chat's order */
	/* Sent, but the database did not take the record yet (unsaved). */
	int64_t		 msg_id;
	char		*file_id;
	struct send	*next;
};

/* An outbox row as delivery_run read it. */
struct row {
	int64_t		 id, chat_id, request_id, asset_id, next_at;
	char		 kind[16];
	char		 method[48];
};

static struct {
	struct event_base	*base;
	sqlite3			*db;
	struct tg		*tg;
	const char		*bot_id;
	struct send		*inflight;	/* calls and previews */
	struct send		*unsaved;	/* sent; their records wait for the database */
	int			 ninflight;	/* calls */
	int			 nrendering;	/* previews being rendered */
	int			 nanswers;	/* answers to button presses */
	double			 paused_until;	/* a 429's retry_after (now_s) */
	double			 wake_at;	/* when rate_ev fires (now_s) */
	struct event		*run_ev, *tick_ev, *rate_ev;
	double			 global_rate, chat_rate;
	double			 tokens;	/* the global bucket */
	double			 refilled;	/* when tokens was last topped up */
	struct {
		int64_t	 chat;
		double	 last;		/* the chat's last send */
	}			 chats[CHAT_SLOTS];
	void			(*preview)(const char *, const char *, delivery_preview_done,
				    void *);
	void			(*jobs_notify)(void);
	int			 stopping;
	void			(*stopped)(void);	/* delivery_stop's done */
} dl;

static void delivery_run(evutil_socket_t, short, void *);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
delivery_set_rates(int global, int per_chat)
{
	dl.global_rate = global;
	dl.chat_rate = per_chat;
	/* A burst of half a second's worth: sends are spread, not bunched at
	 * the start of each second where Telegram's window would see them. */
	dl.tokens = global > 1 ? global / 2.0 : 1;
	dl.refilled = now_s();
}

/* A chat id spread over the bits a table index takes (Fibonacci hashing). */
static size_t
chat_hash(int64_t chat)
{
	return (size_t)((uint64_t)chat * 0x9e3779b97f4a7c15ULL >> 40);
}

/*
 * The chat's slot in the per-chat limiter: open addressing over a fixed
 * table. A slot whose last send is older than one interval no longer
 * limits anything, so it may be reused: memory stays bounded however many
 * chats the bot serves.
 */
static int
chat_slot(int64_t chat, double now)
{
	size_t h = chat_hash(chat) % CHAT_SLOTS;
	int free_slot = -1;

	for (size_t i = 0; i < 32; i++) {
		size_t k = (h + i) % CHAT_SLOTS;

		if (dl.chats[k].chat == chat)
			return (int)k;
		if (free_slot == -1 && (dl.chats[k].chat == 0 ||
		    now - dl.chats[k].last >= CHAT_INTERVAL(dl.chat_rate)))
			free_slot = (int)k;
	}
	return free_slot;
}

/*
 * May a send to chat go now? 0: yes (and it is counted); else the seconds
 * to wait. Only messages count: answerCallbackQuery is not a send.
 */
static double
rate_take(int64_t chat, const char *method)
{
	double now = now_s(), burst, wait;
	int slot;

	if (dl.global_rate <= 0 || strcmp(method, "answerCallbackQuery") == 0)
		return 0;
	burst = dl.global_rate > 1 ? dl.global_rate / 2.0 : 1;
	dl.tokens += (now - dl.refilled) * dl.global_rate;
	if (dl.tokens > burst)
		dl.tokens = burst;
	dl.refilled = now;
	if (dl.tokens < 1)
		return (1 - dl.tokens) / dl.global_rate;
	if ((slot = chat_slot(chat, now)) == -1)
		return 1.0 / dl.chat_rate;
	if (dl.chats[slot].chat == chat &&
	    (wait = dl.chats[slot].last + CHAT_INTERVAL(dl.chat_rate) - now) > 0)
		return wait;
	dl.chats[slot].chat = chat;
	dl.chats[slot].last = now;
	dl.tokens -= 1;
	return 0;
}

/* A send to chat was answered: its interval starts now. */
static void
rate_answered(int64_t chat, const char *method)
{
	double now = now_s();
	int slot;

	if (dl.global_rate <= 0 || strcmp(method, "answerCallbackQuery") == 0 ||
	    (slot = chat_slot(chat, now)) == -1)
		return;
	dl.chats[slot].chat = chat;
	dl.chats[slot].last = now;
}

/* Run again when the soonest rate-limited send may go: a wake already
 * set for later is brought forward. */
static void
rate_wake(double wait)
{
	struct timeval tv;
	double at = now_s() + wait;

	if (evtimer_pending(dl.rate_ev, NULL) && dl.wake_at <= at)
		return;
	dl.wake_at = at;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6) + 1000;
	evtimer_add(dl.rate_ev, &tv);
}

void
delivery_kick(void)
{
	event_active(dl.run_ev, EV_TIMEOUT, 0);
}

void
delivery_api_back(void)
{
	int n;

	/* Only a 5xx or a failed connection leaves a row waiting (a 4xx fails
	 * it, a 429 pauses every send): none of these waits is needed now. */
	if ((n = db_run(dl.db, "UPDATE outbox SET next_at = 0 WHERE bot_id = ? AND state = "
	    "'PENDING' AND next_at > ?", "sl", dl.bot_id, db_now())) > 0)
		log_info("sends waiting out a backoff go now", "sends=%d", n);
	delivery_kick();
}

int64_t
delivery_add(int64_t chat_id, const char *kind, const char *method, cJSON *params,
    int64_t request_id, int64_t asset_id)
{
	return db_outbox_add(dl.db, dl.bot_id, chat_id, kind, method, params, request_id,
	    asset_id);
}

static struct send *
send_find_chat(int64_t chat_id)
{
	for (struct send *s = dl.inflight; s != NULL; s = s->next)
		if (s->chat_id == chat_id && !s->answer)
			return s;
	return NULL;
}

static int
asset_uploading(int64_t asset_id)
{
	for (struct send *s = dl.inflight; s != NULL; s = s->next)
		if (s->asset_id == asset_id && s->upload)
			return 1;
	return 0;
}

/* Stopping and nothing in flight: tell delivery_stop's caller, once. */
static void
stop_check(void)
{
	void (*done)(void) = dl.stopped;

	if (done != NULL && dl.ninflight == 0 && dl.nanswers == 0) {
		dl.stopped = NULL;
		done();
	}
}

static void
send_free(struct send *x)
{
	struct send **pp;

	for (pp = &dl.inflight; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (x->rendering)
		dl.nrendering--;
	else if (x->answer)
		dl.nanswers--;
	else
		dl.ninflight--;
	free(x->kind);
	free(x->method);
	free(x->idfile);
	free(x->file_id);
	cJSON_Delete(x->params);
	free(x);
	stop_check();
}

/* Remember an uploaded preview's file_id beside its OGG (temp + rename). */
static void
preview_keep_id(const char *idfile, const cJSON *result)
{
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(result, "voice"), "file_id"));
	char *tmp;
	FILE *f;

	if (id == NULL)
		return;
	xasprintf(&tmp, "%s.tmp", idfile);
	if ((f = fopen(tmp, "w")) != NULL) {
		fprintf(f, "%s\n", id);
		if (fclose(f) == 0 && rename(tmp, idfile) == 0) {
			free(tmp);
			return;
		}
	}
	unlink(tmp);
	free(tmp);
}

/* The labels of a reply_markup's buttons (inline or reply keyboard) into
 * detail's "buttons". */
static void
history_buttons(cJSON *detail, const cJSON *markup)
{
	const cJSON *rows = cJSON_GetObjectItem(markup, "inline_keyboard"), *row, *b;
	cJSON *labels = NULL;

	if (rows == NULL)
		rows = cJSON_GetObjectItem(markup, "keyboard");
	cJSON_ArrayForEach(row, rows)
		cJSON_ArrayForEach(b, row) {
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(b, "text"));

			if (t == NULL)
				continue;
			if (labels == NULL)
				labels = cJSON_AddArrayToObject(detail, "buttons");
			cJSON_AddItemToArray(labels, cJSON_CreateString(t));
		}
}

/*
 * What the parent saw arrive (or, with error, what never reached them),
 * into their history: a message, a voice preview or a video, with its
 * text or caption, the buttons under it, the video's name. Edits,
 * deletions, answers to presses and admin alerts are not the
 * conversation. In the caller's transaction, if any.
 */
static void
history_record(struct send *x, const char *error)
{
	const char *kind = strcmp(x->method, "sendMessage") == 0 ? "message" :
	    strcmp(x->method, "sendVoice") == 0 ? "voice" :
	    strcmp(x->method, "sendVideo") == 0 ? "video" : NULL;
	sqlite3_stmt *st;
	cJSON *params = NULL, *detail = cJSON_CreateObject();
	const char *text;
	char *name = NULL, *d;

	if (kind == NULL || strcmp(x->kind, "alert") == 0) {
		cJSON_Delete(detail);
		return;
	}
	st = db_prep(dl.db, "SELECT o.params, a.display_name FROM outbox o LEFT JOIN assets a "
	    "ON a.id = o.asset_id WHERE o.id = ?", "l", x->id);
	if (db_step(st) == SQLITE_ROW) {
		params = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
		name = db_col_str(st, 1);
	}
	db_done(st);
	text = cJSON_GetStringValue(cJSON_GetObjectItem(params, "text"));
	if (text == NULL)
		text = cJSON_GetStringValue(cJSON_GetObjectItem(params, "caption"));
	history_buttons(detail, cJSON_GetObjectItem(params, "reply_markup"));
	if (strcmp(kind, "video") == 0) {
		cJSON_AddNumberToObject(detail, "asset", (double)x->asset_id);
		if (name != NULL)
			cJSON_AddStringToObject(detail, "name", name);
	}
	if (error != NULL) {
		cJSON_AddStringToObject(detail, "what", kind);
		cJSON_AddStringToObject(detail, "error", error);
		kind = "failed";
	}
	d = detail->child != NULL ? cJSON_PrintUnformatted(detail) : NULL;
	history_sent(dl.db, dl.bot_id, x->chat_id, kind, text, d);
	free(d);
	free(name);
	cJSON_Delete(detail);
	cJSON_Delete(params);
}

/*
 * A successful send's consequences, in one transaction. -1 when the
 * database did not take them: the call was made, so its record is kept
 * (unsaved) and written before anything else is sent, or the same message
 * would go again.
 */
static int
send_record(struct send *x)
{
	if (db_begin(dl.db) == -1)
		return -1;
	db_run(dl.db, "UPDATE outbox SET state = 'SENT', sent_at = ?, attempts = attempts + 1, "
	    "result_message_id = NULLIF(?, 0) WHERE id = ?", "lll", db_now(), x->msg_id, x->id);
	history_record(x, NULL);
	if (strcmp(x->kind, "video") == 0) {
		if (x->upload && x->file_id != NULL)
			jobs_uploaded(x->asset_id, x->file_id);
		db_run(dl.db, "UPDATE requests SET state = 'COMPLETED', updated_at = ? WHERE "
		    "id = ?", "ll", db_now(), x->request_id);
		/* The video replaces the "order accepted" message. */
		db_run(dl.db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, "
		    "created_at) SELECT ?, chat_id, 'message', 'deleteMessage', json_object("
		    "'chat_id', chat_id, 'message_id', status_message_id), ? FROM requests "
		    "WHERE id = ? AND status_message_id IS NOT NULL", "sll", dl.bot_id,
		    db_now(), x->request_id);
	} else if (strcmp(x->kind, "accepted") == 0 && x->request_id != 0)
		db_run(dl.db, "UPDATE requests SET status_message_id = ? WHERE id = ?", "ll",
		    x->msg_id, x->request_id);
	if (db_commit(dl.db) == -1)
		return -1;
	if (strcmp(x->kind, "video") == 0)
		log_info("video delivered", "request=%lld asset=%lld upload=%d",
		    (long long)x->request_id, (long long)x->asset_id, x->upload);
	return 0;
}

/* A send Telegram took: record it, or keep it until the database can. 1
 * when x was kept (not to be freed). */
static int
send_succeeded(struct send *x, const cJSON *result)
{
	const cJSON *video = cJSON_GetObjectItem(result, "video");
	const char *file_id = cJSON_GetStringValue(cJSON_GetObjectItem(video, "file_id"));
	struct send **pp;

	x->msg_id = tg_json_int64(result, "message_id");
	x->file_id = file_id != NULL ? xstrdup(file_id) : NULL;
	if (x->idfile != NULL && x->upload)
		preview_keep_id(x->idfile, result);
	if (send_record(x) == 0)
		return 0;
	log_warnx("a send's record waits for the database", "outbox=%lld kind=%s",
	    (long long)x->id, x->kind);
	/* Out of flight (its chat's order is kept: nothing goes meanwhile). */
	for (pp = &dl.inflight; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (x->answer)
		dl.nanswers--;
	else
		dl.ninflight--;
	x->next = dl.unsaved;
	dl.unsaved = x;
	stop_check();
	return 1;
}

/* The records the database did not take, in order; 0 once all are in. */
static int
unsaved_retry(void)
{
	struct send *x;

	while ((x = dl.unsaved) != NULL) {
		if (send_record(x) == -1)
			return -1;
		dl.unsaved = x->next;
		free(x->kind);
		free(x->method);
		free(x->idfile);
		free(x->file_id);
		cJSON_Delete(x->params);
		free(x);
	}
	return 0;
}

/* Classify a failed send: when to try again, or never. */
static void
send_failed(struct send *x, const struct tg_result *r)
{
	int tries = (int)db_int(dl.db, 0, "SELECT attempts FROM outbox WHERE id = ?", "l",
	    x->id) + 1;

	if (r->error_code == 429) {
		dl.paused_until = now_s() + (r->retry_after > 0 ? r->retry_after : 1);
		rate_wake(dl.paused_until - now_s());
		log_warnx("flood limit: pausing all sends", "retry_after=%d", r->retry_after);
		return;
	}
	if (r->error_code == 403) {
		/* The user blocked the bot: stop everything for this chat. */
		/* (Not taken by the database: the row is sent again later,
		 * and answered 403 again.) */
		if (db_begin(dl.db) == -1)
			return;
		db_run(dl.db, "UPDATE users SET blocked = 1, updated_at = ? WHERE bot_id = ? "
		    "AND chat_id = ?", "lsl", db_now(), dl.bot_id, x->chat_id);
		history_record(x, r->description != NULL ? r->description :
		    "the user blocked the bot");
		db_run(dl.db, "UPDATE outbox SET attempts = ? WHERE id = ?", "il", tries, x->id);
		db_run(dl.db, "UPDATE outbox SET state = 'FAILED', last_error = ? WHERE "
		    "bot_id = ? AND chat_id = ? AND state = 'PENDING'", "ssl", r->description,
		    dl.bot_id, x->chat_id);
		if (db_commit(dl.db) == 0)
			log_info("chat blocked the bot", "chat=%lld", (long long)x->chat_id);
		return;
	}
	if (r->error_code == 400 && x->idfile != NULL && !x->upload) {
		/* Telegram forgot the voice: upload it again next time. */
		unlink(x->idfile);
		db_run(dl.db, "UPDATE outbox SET attempts = ?, last_error = ? WHERE id = ?",
		    "isl", tries, r->description, x->id);
		return;
	}
	if (r->error_code == 400 && strcmp(x->kind, "video") == 0 && !x->upload) {
		/* Telegram no longer knows the file_id: upload the file again. */
		jobs_file_id_rejected(x->asset_id);
		db_run(dl.db, "UPDATE outbox SET attempts = ?, last_error = ? WHERE id = ?",
		    "isl", tries, r->description, x->id);
		return;
	}
	if ((r->error_code >= 400 && r->error_code < 500) || tries >= MAX_TRIES) {
		if (db_begin(dl.db) == -1)
			return;		/* tried again, and failed again, later */
		db_run(dl.db, "UPDATE outbox SET state = 'FAILED', attempts = ?, last_error = ? "
		    "WHERE id = ?", "isl", tries, r->description, x->id);
		history_record(x, r->description != NULL ? r->description : "no answer");
		if (db_commit(dl.db) == 0)
			log_info("a send failed for good", "outbox=%lld kind=%s error=%s",
			    (long long)x->id, x->kind, r->description != NULL ? r->description : "");
		return;
	}
	/* 2, 4 ... seconds, at most BACKOFF_MAX: delivery resumes soon after
	 * an outage of the Bot API. */
	db_run(dl.db, "UPDATE outbox SET attempts = ?, last_error = ?, next_at = ? WHERE id = ?",
	    "isll", tries, r->description, db_now() + ((1LL << (tries > 5 ? 5 : tries)) >
	    BACKOFF_MAX ? BACKOFF_MAX : (1LL << (tries > 5 ? 5 : tries))), x->id);
}

/* The call's result class, as /metrics counts it. */
static const char *
result_class(const struct tg_result *r)
{
	static char code[8];

	if (r->ok)
		return "ok";
	if (r->transport_error || r->http_status == 0)
		return "network";
	if (r->http_status >= 500)
		return "5xx";
	snprintf(code, sizeof(code), "%d", r->error_code ? r->error_code : (int)r->http_status);
	return code;
}

static void
send_done(const struct tg_result *r, void *arg)
{
	struct send *x = arg;

	rate_answered(x->chat_id, x->method);
	db_run(dl.db, "INSERT INTO tg_calls (bot_id, method, result, count) VALUES (?, ?, ?, 1) "
	    "ON CONFLICT (bot_id, method, result) DO UPDATE SET count = count + 1", "sss",
	    dl.bot_id, x->method, result_class(r));
	if (r->ok && send_succeeded(x, r->result) == 1) {
		delivery_kick();
		return;		/* kept until the database takes its record */
	}
	if (!r->ok)
		send_failed(x, r);
	send_free(x);
	delivery_kick();
}

/* The preview's OGG is ready (or not: then the question goes as text). */
static void
preview_ready(const char *path, void *arg)
{
	struct send *x = arg;
	cJSON *params = x->params;

	if (dl.stopping) {
		send_free(x);	/* the row stays PENDING: sent after the restart */
		return;
	}
	/* From now on it is a call like any other. */
	x->params = NULL;
	x->rendering = 0;
	dl.nrendering--;
	dl.ninflight++;
	if (path != NULL) {
		char id[256] = "";
		FILE *f;

		/* The voice went up once already: send its file_id (this
		 * bot's: the OGG may be another bot's too). */
		xasprintf(&x->idfile, "%s.%s.file_id", path, dl.bot_id);
		if ((f = fopen(x->idfile, "r")) != NULL) {
			if (fgets(id, sizeof(id), f) == NULL)
				id[0] = '\0';
			fclose(f);
		}
		id[strcspn(id, "\n")] = '\0';
		if (id[0] != '\0') {
			cJSON_AddStringToObject(params, "voice", id);
			tg_call(dl.tg, "sendVoice", params, 0, send_done, x);
		} else {
			x->upload = 1;
			tg_upload(dl.tg, "sendVoice", params, "voice", path, "name.ogg",
			    send_done, x);
		}
		return;
	}
	cJSON_AddItemToObject(params, "text",
	    cJSON_DetachItemFromObject(params, "caption"));
	free(x->method);
	x->method = xstrdup("sendMessage");
	tg_call(dl.tg, "sendMessage", params, 0, send_done, x);
}

void
delivery_set_preview(void (*make)(const char *, const char *, delivery_preview_done, void *))
{
	dl.preview = make;
}

/*
 * Telegram no longer knows the video and our file is gone too: render the
 * asset again. Its waiting video rows step aside; when the new render is
 * done greetbotd queues a video for every request still PENDING.
 */
static void
video_rerender(struct send *x)
{
	int again;

	if (db_begin(dl.db) == -1)
		return;		/* looked at again at the next run */
	again = jobs_file_gone(x->asset_id) > 0;
	db_run(dl.db, "UPDATE outbox SET state = 'FAILED', last_error = 'file gone: "
	    "rendering again' WHERE kind = 'video' AND state = 'PENDING' AND asset_id = ?",
	    "l", x->asset_id);
	if (db_commit(dl.db) == -1)
		return;
	if (again)
		log_warnx("video file gone, rendering it again", "asset=%lld",
		    (long long)x->asset_id);
	if (dl.jobs_notify != NULL)
		dl.jobs_notify();
}

void
delivery_set_jobs_notify(void (*fn)(void))
{
	dl.jobs_notify = fn;
}

void
delivery_stop(void (*done)(void))
{
	dl.stopping = 1;
	dl.stopped = done;
	stop_check();
}

/*
 * Upload an asset's MP4 with its thumbnail (the JPEG beside it, made by the
 * render script with the name on it): Telegram shows it before the video
 * plays. Without one Telegram picks a frame itself.
 */
static void
video_upload(struct send *x, const char *method, cJSON *params, const char *path)
{
	struct tg_file_part f[2] = {
		{ "video", path != NULL ? path : "", "greeting.mp4" },
		{ "thumb", NULL, "thumb.jpg" },
	};
	char *thumb = NULL, *dot;
	size_t n = 1;

	if (path != NULL && (dot = strrchr(path, '.')) != NULL &&
	    strcmp(dot, ".mp4") == 0) {
		xasprintf(&thumb, "%.*s.jpg", (int)(dot - path), path);
		if (access(thumb, R_OK) == 0) {
			f[1].path = thumb;
			n = 2;
			cJSON_AddStringToObject(params, "thumbnail", "attach://thumb");
		}
	}
	tg_upload_files(dl.tg, method, params, f, n, send_done, x);
	free(thumb);
}

/*
 * What the render's validation read of the video (the asset's width,
 * height, video_duration: columns 2..4 of st), said on every sendVideo,
 * upload or file_id: Telegram shows the frame's shape and the length
 * before the video plays. Unknown (an asset older than that): not said.
 */
static void
video_params(cJSON *params, sqlite3_stmt *st)
{
	double dur = sqlite3_column_double(st, 4);

	if (sqlite3_column_int(st, 2) > 0 && sqlite3_column_int(st, 3) > 0) {
		cJSON_AddNumberToObject(params, "width", sqlite3_column_int(st, 2));
		cJSON_AddNumberToObject(params, "height", sqlite3_column_int(st, 3));
	}
	/* Whole seconds (the Bot API's Integer), at least 1. */
	if (dur > 0)
		cJSON_AddNumberToObject(params, "duration", dur < 1 ? 1 : (int)(dur + 0.5));
}

/* Start one row's call; the video kind resolves to file_id or upload. */
static void
send_start(const struct row *row)
{
	struct send *x = xcalloc(1, sizeof(*x));
	const char *method = row->method;
	sqlite3_stmt *p;
	cJSON *params = NULL;
	char *file_id = NULL, *path = NULL;

	x->id = row->id;
	x->chat_id = row->chat_id;
	x->kind = xstrdup(row->kind);
	x->method = xstrdup(method);
	x->request_id = row->request_id;
	x->asset_id = row->asset_id;
	p = db_prep(dl.db, "SELECT params FROM outbox WHERE id = ?", "l", x->id);
	if (db_step(p) == SQLITE_ROW)
		params = cJSON_Parse((const char *)sqlite3_column_text(p, 0));
	db_done(p);
	if (params == NULL)
		params = cJSON_CreateObject();
	if (strcmp(x->kind, "video") == 0) {
		sqlite3_stmt *a = db_prep(dl.db, "SELECT file_id, file_path, width, height, "
		    "video_duration FROM assets WHERE id = ?", "l", x->asset_id);
		if (db_step(a) == SQLITE_ROW) {
			file_id = db_col_str(a, 0);
			path = db_col_str(a, 1);
			video_params(params, a);
		}
		db_done(a);
	}
	x->next = dl.inflight;
	dl.inflight = x;
	if (strcmp(x->kind, "preview") == 0) {
		cJSON *name = cJSON_DetachItemFromObject(params, "_name");
		cJSON *stress = cJSON_DetachItemFromObject(params, "_stress");

		/* The OGG may take a while: no call slot is held meanwhile. */
		x->rendering = 1;
		dl.nrendering++;
		x->params = params;
		if (dl.preview != NULL && cJSON_IsString(name))
			dl.preview(name->valuestring, cJSON_IsString(stress) ?
			    stress->valuestring : "", preview_ready, x);
		else
			preview_ready(NULL, x);
		cJSON_Delete(name);
		cJSON_Delete(stress);
		goto out;
	}
	if (strcmp(x->kind, "answer") == 0) {
		x->answer = 1;
		dl.nanswers++;
	} else
		dl.ninflight++;
	if (strcmp(x->kind, "video") == 0 && file_id == NULL &&
	    (path == NULL || access(path, R_OK) == -1)) {
		cJSON_Delete(params);
		video_rerender(x);
		send_free(x);
		delivery_kick();
	} else if (strcmp(x->kind, "video") == 0 && file_id == NULL) {
		x->upload = 1;
		video_upload(x, method, params, path);
	} else {
		if (file_id != NULL)
			cJSON_AddStringToObject(params, "video", file_id);
		tg_call(dl.tg, method, params, 0, send_done, x);
	}
out:
	free(file_id);
	free(path);
}

/*
 * The chats one run holds back: open addressing, cleared by bumping the
 * run's stamp instead of the table.
 */
static struct {
	int64_t		chat;
	unsigned	stamp;
} held[HELD_SLOTS];
static unsigned held_stamp;

/* 1 if chat is held back in this run; with add, hold it. */
static int
held_test(int64_t chat, int add)
{
	size_t h = chat_hash(chat) % HELD_SLOTS;

	for (;; h = (h + 1) % HELD_SLOTS) {
		if (held[h].stamp != held_stamp) {
			if (add) {
				held[h].chat = chat;
				held[h].stamp = held_stamp;
			}
			return 0;
		}
		if (held[h].chat == chat)
			return 1;
	}
}

/*
 * Walk pending rows in id order. A chat whose oldest row cannot go now
 * (in flight, backing off, waiting out its interval) holds its later rows
 * back, so each chat sees its messages in the order they were queued.
 * The window is wide (BATCH rows, held chats fewer than HELD_SLOTS) so
 * that chats waiting their interval do not hide the ones that may go.
 */
/* Up to max pending rows (answers only, or all) into rows; how many.
 * The statement is closed before any is acted on: a send may write
 * (a video to render again, a speculative job), and no write may begin
 * while a read is open on the connection. */
static size_t
rows_read(struct row *rows, size_t max, int answers, int64_t now)
{
	sqlite3_stmt *st;
	size_t n = 0;

	if (answers)
		st = db_prep(dl.db, "SELECT id, chat_id, kind, method, request_id, asset_id, "
		    "next_at FROM outbox WHERE bot_id = ? AND state = 'PENDING' AND kind = "
		    "'answer' AND next_at <= ? ORDER BY id LIMIT ?", "sli", dl.bot_id, now,
		    (int)max);
	else
		st = db_prep(dl.db, "SELECT id, chat_id, kind, method, request_id, asset_id, "
		    "next_at FROM outbox WHERE bot_id = ? AND state = 'PENDING' ORDER BY id "
		    "LIMIT ?", "si", dl.bot_id, (int)max);
	while (n < max && db_step(st) == SQLITE_ROW) {
		struct row *r = &rows[n++];

		r->id = sqlite3_column_int64(st, 0);
		r->chat_id = sqlite3_column_int64(st, 1);
		snprintf(r->kind, sizeof(r->kind), "%s", (const char *)sqlite3_column_text(st, 2));
		snprintf(r->method, sizeof(r->method), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		r->request_id = sqlite3_column_int64(st, 4);
		r->asset_id = sqlite3_column_int64(st, 5);
		r->next_at = sqlite3_column_int64(st, 6);
	}
	db_done(st);
	return n;
}

/*
 * Walk pending rows in id order. A chat whose oldest row cannot go now
 * (in flight, backing off, waiting out its interval) holds its later rows
 * back, so each chat sees its messages in the order they were queued.
 * The window is wide (BATCH rows, held chats fewer than HELD_SLOTS) so
 * that chats waiting their interval do not hide the ones that may go.
 * Sends whose records the database has not taken yet come first: nothing
 * else goes until they are in.
 */
static void
delivery_run(evutil_socket_t fd, short what, void *arg)
{
	static struct row rows[BATCH];
	double soonest = 0;
	int64_t now = db_now();
	size_t n;

	(void)fd;
	(void)what;
	(void)arg;
	if (dl.stopping || unsaved_retry() == -1)
		return;
	if (now_s() < dl.paused_until) {
		rate_wake(dl.paused_until - now_s());
		return;
	}
	if (++held_stamp == 0)
		held_stamp = 1;
	/* Answers first: a button's spinner should not wait behind a queue of
	 * messages, and they are not flood-limited. */
	n = rows_read(rows, MAX_ANSWERS, 1, now);
	for (size_t i = 0; i < n && dl.nanswers < MAX_ANSWERS; i++) {
		int busy = 0;

		for (struct send *s = dl.inflight; s != NULL && !busy; s = s->next)
			busy = s->id == rows[i].id;
		if (!busy)
			send_start(&rows[i]);
	}
	n = rows_read(rows, BATCH, 0, now);
	for (size_t i = 0; i < n && dl.ninflight < MAX_INFLIGHT; i++) {
		const struct row *r = &rows[i];
		int skip;

		if (strcmp(r->kind, "answer") == 0 || held_test(r->chat_id, 0))
			continue;	/* answers went above */
		skip = send_find_chat(r->chat_id) != NULL;
		if (!skip && r->next_at > now)
			skip = 1;
		if (!skip && strcmp(r->kind, "video") == 0 && asset_uploading(r->asset_id))
			skip = 1;	/* wait for the first upload's file_id */
		if (!skip && strcmp(r->kind, "preview") == 0 && dl.nrendering >= MAX_PREVIEWS)
			skip = 1;
		if (!skip) {
			double wait = rate_take(r->chat_id, r->method);

			if (wait > 0 && (soonest == 0 || wait < soonest))
				soonest = wait;
			skip = wait > 0;
		}
		if (!skip)
			send_start(r);
		else
			held_test(r->chat_id, 1);
	}
	if (soonest > 0)
		rate_wake(soonest);
}

static void
delivery_tick(evutil_socket_t fd, short what, void *arg)
{
	delivery_run(fd, what, arg);
}

void
delivery_init(struct event_base *base, sqlite3 *db, struct tg *tg, const char *bot_id)
{
	struct timeval sec = { 1, 0 };

	dl.base = base;
	dl.db = db;
	dl.tg = tg;
	dl.bot_id = bot_id;
	dl.run_ev = event_new(base, -1, 0, delivery_run, NULL);
	dl.tick_ev = event_new(base, -1, EV_PERSIST, delivery_tick, NULL);
	dl.rate_ev = evtimer_new(base, delivery_run, NULL);
	delivery_set_rates(30, 1);
	evtimer_add(dl.tick_ev, &sec);
}
