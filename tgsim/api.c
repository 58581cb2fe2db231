/* SPDX-License-Identifier: ISC */
/*
 * api.c: the Bot API, /bot<token>/<method>: each call checked against the
 * official method list (apispec), then faults and flood limits, then the
 * method (getMe, getUpdates, send*, edit*, deleteMessage,
 * answerCallbackQuery, getFile; the webhook's are in webhook.c).
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <unistr.h>

#include "apispec.h"
#include "log.h"
#include "tgsim.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------- */
/* Flood limits and injected faults. */

/* Refill a token bucket of rate per second (burst: max(rate, 1)). */
static void
rate_refill(struct rate *r, double rate, double now)
{
	double cap = rate < 1 ? 1 : rate;

	if (r->last == 0)
		r->tokens = cap;
	else
		r->tokens += (now - r->last) * rate;
	if (r->tokens > cap)
		r->tokens = cap;
	r->last = now;
}

/* Seconds until the bucket holds a whole token again (0 if it does). */
static double
rate_wait(const struct rate *r, double rate)
{
	if (rate <= 0 || r->tokens >= 1)
		return 0;
	return (1 - r->tokens) / rate;
}

/* 1 for the methods flood limits count: those that post or change a
 * message in a chat. */
static int
flood_counts(const char *method)
{
	return strncmp(method, "send", 4) == 0 || strncmp(method, "edit", 4) == 0;
}

/*
 * Take one token from the global and the chat bucket, or answer 429 with
 * retry_after (whole seconds, at least 1) and return -1. A refused call
 * takes nothing.
 */
static int
flood_check(struct call *c)
{
	double now = now_mono(), wait;
	struct chat *chat = c->chat_id != 0 ? chat_get(c->chat_id) : NULL;
	char desc[64];
	int secs;

	if (!flood_counts(c->method) || (sim.global_rate <= 0 && sim.chat_rate <= 0))
		return 0;
	if (sim.global_rate > 0)
		rate_refill(&sim.global_bucket, sim.global_rate, now);
	if (chat != NULL && sim.chat_rate > 0)
		rate_refill(&chat->bucket, sim.chat_rate, now);
	wait = rate_wait(&sim.global_bucket, sim.global_rate);
	if (chat != NULL && rate_wait(&chat->bucket, sim.chat_rate) > wait)
		wait = rate_wait(&chat->bucket, sim.chat_rate);
	if (wait == 0) {
		if (sim.global_rate > 0)
			sim.global_bucket.tokens -= 1;
		if (chat != NULL && sim.chat_rate > 0)
			chat->bucket.tokens -= 1;
		return 0;
	}
	secs = (int)ceil(wait);
	if (secs < 1)
		secs = 1;
	sim.stats.rate_limited++;
	snprintf(desc, sizeof(desc), "Too Many Requests: retry after %d", secs);
	log_info("flood limit", "method=%s chat_id=%" PRId64 " retry_after=%d",
	    c->method, c->chat_id, secs);
	api_error(c->req, 429, secs, desc);
	return -1;
}

const char *fault_names[] = { "403", "500", "timeout", "latency", "502" };

/* The first fault armed for a chat, or NULL. */
static struct fault *
fault_find(int64_t chat_id)
{
	struct fault *f;

	TAILQ_FOREACH(f, &sim.faults, entry)
		if (f->chat_id == chat_id)
			return f;
	return NULL;
}

/* Disarm and free a fault. */
void
fault_remove(struct fault *f)
{
	TAILQ_REMOVE(&sim.faults, f, entry);
	free(f);
}

/* Forget every fault armed for a chat. */
void
fault_clear(int64_t chat_id)
{
	struct fault *f;

	while ((f = fault_find(chat_id)) != NULL)
		fault_remove(f);
}

/*
 * Apply a fault armed for the call's chat. Returns 1 when the call was
 * answered (403, 500) or taken away (timeout, latency), else 0.
 */
static int
fault_apply(struct call *c)
{
	struct fault *f;
	enum fault_kind kind;
	int ms;

	/* One armed for every call first (getUpdates included), then the
	 * call's chat's. */
	if ((f = fault_find(FAULT_ALL)) == NULL &&
	    (c->chat_id == 0 || (f = fault_find(c->chat_id)) == NULL))
		return 0;
	kind = f->kind;
	ms = f->ms;
	if (f->count > 0 && --f->count == 0)
		fault_remove(f);
	sim.stats.faults++;
	log_info("fault injected", "method=%s chat_id=%" PRId64 " kind=%s",
	    c->method, c->chat_id, fault_names[kind]);
	switch (kind) {
	case FAULT_403:
		api_error(c->req, 403, 0, "Forbidden: bot was blocked by the user");
		break;
	case FAULT_500:
		api_error(c->req, 500, 0, "Internal Server Error");
		break;
	case FAULT_502:
		api_error(c->req, 502, 0, "Bad Gateway");
		break;
	case FAULT_TIMEOUT:
		waiter_new(WAIT_HANG, c->req, ms > 0 ? ms : TG_HANG_DEFAULT_MS);
		break;
	case FAULT_LATENCY:
		waiter_new(WAIT_DELAY, c->req, ms > 0 ? ms : TG_LATENCY_DEFAULT_MS);
		break;
	}
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Checks shared by the Bot API methods. Each returns -1 (or NULL) after
 * answering the call with Telegram's error. */

/* The chat a call names by chat_id (created on first use). */
static struct chat *
call_chat(struct call *c)
{
	const char *s = params_str(&c->params, "chat_id");
	int64_t id;

	if (s == NULL || *s == '\0') {
		call_fail(c, 400, "Bad Request: chat_id is empty");
		return NULL;
	}
	if (parse_int64(s, &id) == -1 || id == 0) {
		call_fail(c, 400, "Bad Request: chat not found");
		return NULL;
	}
	return chat_get(id);
}

/* The message a call names by message_id; what is "edit" or "delete". */
static cJSON *
call_message(struct call *c, struct chat *chat, const char *what)
{
	int64_t id;
	cJSON *msg;

	if (params_int(&c->params, "message_id", &id) != 1) {
		call_fail(c, 400, "Bad Request: message identifier is not specified");
		return NULL;
	}
	if ((msg = chat_message(chat, id)) == NULL)
		call_fail(c, 400, "Bad Request: message to %s not found", what);
	return msg;
}

/* 1 when text is empty or only white space. */
static int
text_blank(const char *text)
{
	return text == NULL || text[strspn(text, " \t\r\n")] == '\0';
}

/* A text or caption must be UTF-8 and at most max UTF-16 units. */
static int
call_text(struct call *c, const char *text, size_t max, const char *what)
{
	if (u8_check((const uint8_t *)text, strlen(text)) != NULL) {
		call_fail(c, 400, "Bad Request: strings must be encoded in UTF-8");
		return -1;
	}
	if (utf16_len(text) > max) {
		call_fail(c, 400, "Bad Request: %s is too long", what);
		return -1;
	}
	return 0;
}

/* parse_mode, when given, must be one Telegram knows. */
static int
call_parse_mode(struct call *c)
{
	const char *s = params_str(&c->params, "parse_mode");

	if (s == NULL || *s == '\0' || strcasecmp(s, "HTML") == 0 ||
	    strcasecmp(s, "Markdown") == 0 || strcasecmp(s, "MarkdownV2") == 0)
		return 0;
	call_fail(c, 400, "Bad Request: unsupported parse_mode");
	return -1;
}

/* Why an inline keyboard button is refused, or NULL. */
static const char *
markup_inline_button(const cJSON *b)
{
	static const char *actions[] = { "url", "callback_data", "web_app",
	    "login_url", "switch_inline_query", "switch_inline_query_current_chat",
	    "switch_inline_query_chosen_chat", "copy_text", "callback_game",
	    "pay" };
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(b, "callback_data");
	int nactions = 0;

	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text")))
		return "Bad Request: can't parse inline keyboard button: "
		    "Field \"text\" must be of type String";
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		nactions += cJSON_GetObjectItemCaseSensitive(b, actions[i]) != NULL;
	if (nactions == 0)
		return "Bad Request: can't parse inline keyboard button: "
		    "Text buttons are unallowed in the inline keyboard";
	if (data != NULL && (!cJSON_IsString(data) || *data->valuestring == '\0' ||
	    strlen(data->valuestring) > TG_MAX_CALLBACK_DATA))
		return "Bad Request: BUTTON_DATA_INVALID";
	return NULL;
}

/* Why a reply keyboard button (a string or {text,...}) is refused. */
static const char *
markup_reply_button(const cJSON *b)
{
	if (cJSON_IsString(b) ||
	    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text")))
		return NULL;
	return "Bad Request: can't parse keyboard button: "
	    "Field \"text\" must be of type String";
}

/* Why a keyboard (array of rows of buttons) is refused, or NULL. */
static const char *
markup_keyboard(const cJSON *kb, const char *(*button)(const cJSON *))
{
	const cJSON *row, *b;
	const char *err;

	if (!cJSON_IsArray(kb))
		return "Bad Request: can't parse reply keyboard markup JSON object";
	cJSON_ArrayForEach(row, kb) {
		if (!cJSON_IsArray(row))
			return "Bad Request: can't parse reply keyboard markup "
			    "JSON object";
		cJSON_ArrayForEach(b, row)
			if ((err = button(b)) != NULL)
				return err;
	}
	return NULL;
}

/* Why a reply_markup object is refused, or NULL. Edits take only inline
 * keyboards ({} removes one). */
static const char *
markup_error(const cJSON *m, int inline_only)
{
	const cJSON *kb;

	if (!cJSON_IsObject(m))
		return "Bad Request: can't parse reply keyboard markup JSON object";
	if ((kb = cJSON_GetObjectItemCaseSensitive(m, "inline_keyboard")) != NULL)
		return markup_keyboard(kb, markup_inline_button);
	if (inline_only)
		return m->child == NULL ? NULL :
		    "Bad Request: inline keyboard expected";
	if ((kb = cJSON_GetObjectItemCaseSensitive(m, "keyboard")) != NULL)
		return markup_keyboard(kb, markup_reply_button);
	if (cJSON_GetObjectItemCaseSensitive(m, "remove_keyboard") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(m, "force_reply") != NULL)
		return NULL;
	return "Bad Request: can't parse reply keyboard markup JSON object";
}

/* reply_markup (a JSON string, or an object in a JSON body): *out is the
 * parsed markup or NULL when absent or empty. */
static int
call_markup(struct call *c, int inline_only, cJSON **out)
{
	const char *s = params_str(&c->params, "reply_markup"), *err;
	cJSON *m;

	*out = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	m = cJSON_Parse(s);
	if ((err = markup_error(m, inline_only)) != NULL) {
		cJSON_Delete(m);
		call_fail(c, 400, "%s", err);
		return -1;
	}
	if (m->child == NULL)
		cJSON_Delete(m);
	else
		*out = m;
	return 0;
}

/* A message shows reply_markup only for an inline keyboard. */
static void
message_set_markup(cJSON *msg, const cJSON *markup)
{
	if (cJSON_GetObjectItemCaseSensitive(markup, "inline_keyboard") != NULL)
		json_replace(msg, "reply_markup", cJSON_Duplicate(markup, 1));
	else
		json_replace(msg, "reply_markup", NULL);
}

/* 1 when two markups (either may be NULL) are the same. */
static int
markup_equal(const cJSON *a, const cJSON *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return cJSON_Compare(a, b, 1);
}

/* ---------------------------------------------------------------------- */
/* Bot API methods. */

/* getMe: the bot's User. */
static void
m_getme(struct call *c)
{
	api_ok(c->req, bot_user_json(1));
}

/*
 * getUpdates: confirm by offset, then answer at once when updates are
 * queued or timeout is 0; otherwise hold the request until an update is
 * injected or the timeout expires. A newer getUpdates ends an older one
 * with 409, as Telegram does.
 */
static void
m_getupdates(struct call *c)
{
	int64_t offset = 0, limit = TG_MAX_UPDATES, timeout = 0;
	const char *allowed;
	struct waiter *w;

	if (params_int(&c->params, "offset", &offset) == -1 ||
	    params_int(&c->params, "limit", &limit) == -1 ||
	    params_int(&c->params, "timeout", &timeout) == -1) {
		call_fail(c, 400, "Bad Request: wrong parameter type");
		return;
	}
	if ((allowed = params_str(&c->params, "allowed_updates")) != NULL &&
	    updates_set_allowed(allowed) == -1) {
		call_fail(c, 400, "Bad Request: can't parse allowed updates");
		return;
	}
	if (sim.webhook.url != NULL) {
		call_fail(c, 409, "Conflict: can't use getUpdates method while webhook "
		    "is active; use deleteWebhook to delete the webhook first");
		return;
	}
	if (limit < 1 || limit > TG_MAX_UPDATES)
		limit = TG_MAX_UPDATES;
	if (timeout < 0)
		timeout = 0;
	if (timeout > TG_MAX_WAIT)
		timeout = TG_MAX_WAIT;
	if ((w = waiter_find_updates()) != NULL) {
		sim.stats.rejected++;
		api_error(waiter_take(w), 409, 0, "Conflict: terminated by other "
		    "getUpdates request; make sure that only one bot instance "
		    "is running");
	}
	updates_confirm(offset);
	if (!TAILQ_EMPTY(&sim.updates) || timeout == 0) {
		updates_reply(c->req, (int)limit);
		return;
	}
	w = waiter_new(WAIT_UPDATES, c->req, timeout * 1000);
	w->limit = (int)limit;
}

/* Log a bot message and answer with it; takes markup (the as-sent
 * reply_markup, any kind) and media (a log object, may be NULL). */
static void
call_sent(struct call *c, struct chat *chat, const cJSON *msg, cJSON *markup,
    const char *kind, cJSON *media)
{
	cJSON *entry = chatlog_entry(chat, c, msg);

	if (markup != NULL)
		cJSON_AddItemToObject(entry, "reply_markup", markup);
	if (media != NULL)
		cJSON_AddItemToObject(entry, kind, media);
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_Duplicate(msg, 1));
}

/* sendMessage: text with an optional keyboard of any kind. */
static void
m_sendmessage(struct call *c)
{
	const char *text = params_str(&c->params, "text");
	struct chat *chat;
	cJSON *markup, *msg;

	if ((chat = call_chat(c)) == NULL)
		return;
	if (text_blank(text)) {
		call_fail(c, 400, "Bad Request: message text is empty");
		return;
	}
	if (call_text(c, text, TG_MAX_TEXT, "message") == -1 ||
	    call_parse_mode(c) == -1 || call_markup(c, 0, &markup) == -1)
		return;
	msg = message_new(chat, bot_user_json(0));
	cJSON_AddStringToObject(msg, "text", text);
	message_set_markup(msg, markup);
	call_sent(c, chat, msg, markup, NULL, NULL);
}

/* sendVideo and sendVoice. */
static void
m_sendmedia(struct call *c, const char *kind)
{
	const char *caption = params_str(&c->params, "caption");
	struct chat *chat;
	struct file *f;
	cJSON *markup, *msg;

	if ((chat = call_chat(c)) == NULL)
		return;
	if (caption != NULL &&
	    call_text(c, caption, TG_MAX_CAPTION, "message caption") == -1)
		return;
	if (call_parse_mode(c) == -1 || call_markup(c, 0, &markup) == -1)
		return;
	if ((f = call_media(c, kind)) == NULL) {
		cJSON_Delete(markup);
		return;
	}
	if (strcmp(kind, "video") == 0 && f->thumb == NULL)
		call_thumbnail(c, f);
	msg = message_new(chat, bot_user_json(0));
	cJSON_AddItemToObject(msg, kind, file_media_json(f));
	if (!text_blank(caption))
		cJSON_AddStringToObject(msg, "caption", caption);
	message_set_markup(msg, markup);
	call_sent(c, chat, msg, markup, kind, file_log_json(f));
}

/* sendVideo: an MP4 upload or a video file_id. */
static void
m_sendvideo(struct call *c)
{
	m_sendmedia(c, "video");
}

/* sendVoice: an OGG/Opus upload or a voice file_id. */
static void
m_sendvoice(struct call *c)
{
	m_sendmedia(c, "voice");
}

/* The bot's own message that an edit names. */
static cJSON *
call_edit_target(struct call *c, struct chat **chatp)
{
	const cJSON *from;
	cJSON *msg;

	if (params_str(&c->params, "inline_message_id") != NULL) {
		call_fail(c, 400, "Bad Request: MESSAGE_ID_INVALID");
		return NULL;
	}
	if ((*chatp = call_chat(c)) == NULL ||
	    (msg = call_message(c, *chatp, "edit")) == NULL)
		return NULL;
	from = cJSON_GetObjectItemCaseSensitive(msg, "from");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "is_bot"))) {
		call_fail(c, 400, "Bad Request: message can't be edited");
		return NULL;
	}
	return msg;
}

static const char not_modified[] = "Bad Request: message is not modified: "
    "specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message";

/* editMessageText: a text message of the bot's; no reply_markup removes
 * its inline keyboard, as in Telegram. */
static void
m_editmessagetext(struct call *c)
{
	const char *text = params_str(&c->params, "text");
	const cJSON *old;
	struct chat *chat;
	cJSON *msg, *markup;

	if ((msg = call_edit_target(c, &chat)) == NULL)
		return;
	if ((old = cJSON_GetObjectItemCaseSensitive(msg, "text")) == NULL) {
		call_fail(c, 400, "Bad Request: there is no text in the message "
		    "to edit");
		return;
	}
	if (text_blank(text)) {
		call_fail(c, 400, "Bad Request: message text is empty");
		return;
	}
	if (call_text(c, text, TG_MAX_TEXT, "message") == -1 ||
	    call_parse_mode(c) == -1 || call_markup(c, 1, &markup) == -1)
		return;
	if (strcmp(old->valuestring, text) == 0 && markup_equal(markup,
	    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup"))) {
		cJSON_Delete(markup);
		call_fail(c, 400, "%s", not_modified);
		return;
	}
	json_replace(msg, "text", cJSON_CreateString(text));
	message_set_markup(msg, markup);
	json_replace(msg, "edit_date", cJSON_CreateNumber((double)time(NULL)));
	call_sent(c, chat, msg, markup, NULL, NULL);
}

/* editMessageReplyMarkup: the log entry's reply_markup is null when the
 * keyboard is removed. */
static void
m_editmessagereplymarkup(struct call *c)
{
	struct chat *chat;
	cJSON *msg, *markup;

	if ((msg = call_edit_target(c, &chat)) == NULL ||
	    call_markup(c, 1, &markup) == -1)
		return;
	if (markup_equal(markup,
	    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup"))) {
		cJSON_Delete(markup);
		call_fail(c, 400, "%s", not_modified);
		return;
	}
	message_set_markup(msg, markup);
	json_replace(msg, "edit_date", cJSON_CreateNumber((double)time(NULL)));
	call_sent(c, chat, msg, markup != NULL ? markup : cJSON_CreateNull(),
	    NULL, NULL);
}

/* deleteMessage: any kept message of the chat, once. */
static void
m_deletemessage(struct call *c)
{
	struct chat *chat;
	cJSON *msg, *entry;

	if ((chat = call_chat(c)) == NULL ||
	    (msg = call_message(c, chat, "delete")) == NULL)
		return;
	/* The entry names the message but does not repeat its text. */
	entry = chatlog_entry(chat, c, NULL);
	json_add_int(entry, "message_id", json_int(msg, "message_id", 0));
	chat_delete(chat, json_int(msg, "message_id", 0));
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_CreateTrue());
}

/* answerCallbackQuery: only once per injected query. */
static void
m_answercallbackquery(struct call *c)
{
	const char *id = params_str(&c->params, "callback_query_id");
	const char *text = params_str(&c->params, "text");
	struct callback *cb;
	struct chat *chat;
	cJSON *entry;

	cb = id != NULL ? table_get(&sim.callbacks, id) : NULL;
	if (cb == NULL || cb->answered) {
		call_fail(c, 400, "Bad Request: query is too old and response "
		    "timeout expired or query ID is invalid");
		return;
	}
	if (text != NULL && call_text(c, text, 200, "callback answer text") == -1)
		return;
	cb->answered = 1;
	sim.stats.callbacks_answered++;
	chat = chat_get(cb->chat_id);
	entry = chatlog_entry(chat, c, NULL);
	cJSON_AddStringToObject(entry, "callback_query_id", cb->id);
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_CreateTrue());
}

/* getFile: the File of a file_id given out, with its file_path. */
static void
m_getfile(struct call *c)
{
	const char *id = params_str(&c->params, "file_id");
	struct file *f;

	if (id == NULL || (f = table_get(&sim.files, id)) == NULL) {
		call_fail(c, 400, "Bad Request: invalid file_id");
		return;
	}
	api_ok(c->req, file_json(f));
}

/* Methods that tgsim does not simulate but Telegram knows: they pass the
 * parameter check and answer true (right for the setters a bot calls at
 * start: setMyCommands, ...). */
static void
m_unsimulated(struct call *c)
{
	log_info("method not simulated, answering true", "method=%s", c->method);
	api_ok(c->req, cJSON_CreateTrue());
}

static const struct {
	const char	*name;
	void		(*fn)(struct call *);
} api_methods[] = {
	{ "getMe",			m_getme },
	{ "getUpdates",			m_getupdates },
	{ "sendMessage",		m_sendmessage },
	{ "sendVideo",			m_sendvideo },
	{ "sendVoice",			m_sendvoice },
	{ "editMessageText",		m_editmessagetext },
	{ "editMessageReplyMarkup",	m_editmessagereplymarkup },
	{ "deleteMessage",		m_deletemessage },
	{ "answerCallbackQuery",	m_answercallbackquery },
	{ "getFile",			m_getfile },
	{ "getWebhookInfo",		m_getwebhookinfo },
	{ "setWebhook",			m_setwebhook },
	{ "deleteWebhook",		m_deletewebhook },
};

/* ---------------------------------------------------------------------- */
/* Bot API dispatch: /bot<token>/<method>. */

/* The request's path, percent-decoded (free it). */
char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char *path;

	if ((path = evhttp_uridecode(raw != NULL ? raw : "/", 0, NULL)) == NULL)
		fatalx("evhttp_uridecode");
	return path;
}

/* Count a call of a known method. */
static void
stats_count(const char *method)
{
	cJSON *n = cJSON_GetObjectItemCaseSensitive(sim.stats.calls, method);

	if (n == NULL)
		cJSON_AddNumberToObject(sim.stats.calls, method, 1);
	else
		cJSON_SetNumberValue(n, n->valuedouble + 1);
}

/* 1 when some parameter is "attach://name": then name is an upload. */
static int
params_attached(const struct params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].filename == NULL &&
		    strncmp(p->v[i].value, "attach://", 9) == 0 &&
		    strcmp(p->v[i].value + 9, name) == 0)
			return 1;
	return 0;
}

/* What Telegram says when a required parameter is missing. */
static const char *
missing_description(const char *param)
{
	static const struct { const char *param, *text; } texts[] = {
		{ "chat_id", "chat_id is empty" },
		{ "text", "message text is empty" },
		{ "message_id", "message identifier is not specified" },
		{ "video", "there is no video in the request" },
		{ "voice", "there is no voice in the request" },
		{ "file_id", "invalid file_id" },
		{ "callback_query_id", "query is too old and response timeout "
		    "expired or query ID is invalid" },
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].param, param) == 0)
			return texts[i].text;
	return NULL;
}

/* Every parameter must be one of the method's (the official list), and
 * every required one present. -1 after answering 400. */
static int
call_check(struct call *c)
{
	const char **given = xcalloc(c->params.n + 1, sizeof(*given));
	const char *missing = NULL, *text;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < c->params.n && r == 0; i++) {
		const char *name = c->params.v[i].name;

		if (params_attached(&c->params, name))
			continue;
		if (!apispec_has_param(sim.spec, c->method, name)) {
			call_fail(c, 400, "Bad Request: unknown parameter "
			    "\"%.64s\"", name);
			r = -1;
		}
		given[n++] = name;
	}
	if (r == 0 && apispec_missing(sim.spec, c->method, given, n,
	    &missing, 1) > 0) {
		if ((text = missing_description(missing)) != NULL)
			call_fail(c, 400, "Bad Request: %s", text);
		else
			call_fail(c, 400, "Bad Request: parameter \"%s\" is "
			    "required", missing);
		r = -1;
	}
	free(given);
	return r;
}

/* The chat a call concerns, for faults and flood limits: chat_id, or the
 * chat of the callback query being answered. */
static int64_t
call_target(const struct call *c)
{
	const char *id;
	struct callback *cb;
	int64_t chat_id;

	if (params_int(&c->params, "chat_id", &chat_id) == 1)
		return chat_id;
	id = params_str(&c->params, "callback_query_id");
	if (id != NULL && (cb = table_get(&sim.callbacks, id)) != NULL)
		return cb->chat_id;
	return 0;
}

/* Run the method's handler. */
static void
call_dispatch(struct call *c)
{
	for (size_t i = 0; i < sizeof(api_methods) / sizeof(api_methods[0]); i++) {
		if (strcmp(api_methods[i].name, c->method) == 0) {
			api_methods[i].fn(c);
			return;
		}
	}
	m_unsimulated(c);
}

/*
 * Handle /bot<token>/<method>: token, method (case-insensitive), the
 * parameters against the official list, then faults, flood limits and the
 * method itself. delayed: a latency fault already held this call.
 */
void
api_request(struct evhttp_request *req, int delayed)
{
	struct call c = { .req = req };
	char *path = request_path(req), *token, *name;
	const char *err = NULL;

	token = path + strlen("/bot");
	if ((name = strchr(token, '/')) != NULL)
		*name++ = '\0';
	if (name == NULL || *token == '\0' || strchr(name, '/') != NULL) {
		call_fail(&c, 404, "Not Found");
		goto out;
	}
	if (sim.token != NULL && strcmp(token, sim.token) != 0) {
		call_fail(&c, 401, "Unauthorized");
		goto out;
	}
	if ((c.method = apispec_method(sim.spec, name)) == NULL) {
		call_fail(&c, 404, "Not Found");
		goto out;
	}
	if (!delayed)
		stats_count(c.method);
	if (params_from_request(&c.params, req, &err) == -1) {
		call_fail(&c, 400, "Bad Request: %s", err);
		goto out;
	}
	if (call_check(&c) == -1)
		goto out;
	c.chat_id = call_target(&c);
	log_debug("call", "method=%s chat_id=%" PRId64, c.method, c.chat_id);
	if ((delayed || !fault_apply(&c)) && flood_check(&c) == 0)
		call_dispatch(&c);
out:
	params_free(&c.params);
	free(path);
}
