/* SPDX-License-Identifier: ISC */
/*
 * control.c: the control interface (/control/...): tests play the user
 * here (messages, contacts, button presses, raw updates), read what the
 * bot sent, arm faults and read the counters (docs/ARCHITECTURE.md,
 * "tgsim control interface").
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "tgsim.h"
#include "xmalloc.h"

/* An integer control parameter: 0 with *out (def when absent), -1 after
 * answering 400. */
static int
control_int(struct evhttp_request *req, const struct params *p,
    const char *name, int64_t def, int64_t *out)
{
	*out = def;
	if (params_int(p, name, out) != -1)
		return 0;
	control_fail(req, 400, "%s must be an integer", name);
	return -1;
}

/* chat_id (required, non-zero) and from_id (default chat_id). */
static int
control_ids(struct evhttp_request *req, const struct params *p,
    int64_t *chat_id, int64_t *from_id)
{
	if (control_int(req, p, "chat_id", 0, chat_id) == -1)
		return -1;
	if (*chat_id == 0) {
		control_fail(req, 400, "chat_id is required");
		return -1;
	}
	return control_int(req, p, "from_id", *chat_id, from_id);
}

/* The chat of an injected message, with chat_type and names applied. */
static struct chat *
control_chat(const struct params *p, int64_t chat_id)
{
	struct chat *chat = chat_get(chat_id);

	chat_set(&chat->type, params_str(p, "chat_type"));
	chat_set(&chat->first_name, params_str(p, "first_name"));
	chat_set(&chat->title, params_str(p, "title"));
	return chat;
}

/* The sender of an injected message or callback query. */
static cJSON *
control_from(const struct params *p, int64_t from_id)
{
	return user_json(from_id, params_str(p, "first_name"),
	    params_str(p, "language_code"));
}

/* Telegram marks a leading /command as a bot_command entity. */
static void
message_add_commands(cJSON *msg, const char *text)
{
	cJSON *entities, *e;
	size_t len;

	if (text[0] != '/')
		return;
	len = 1 + strspn(text + 1, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@");
	if (len < 2)
		return;
	entities = cJSON_AddArrayToObject(msg, "entities");
	e = cJSON_CreateObject();
	json_add_int(e, "offset", 0);
	json_add_int(e, "length", (int64_t)len);
	cJSON_AddStringToObject(e, "type", "bot_command");
	cJSON_AddItemToArray(entities, e);
}

/* Put an injected update's id in a control reply; id 0 means the bot's
 * allowed_updates excluded it: say so. */
static void
control_add_update(cJSON *body, int64_t id)
{
	json_add_int(body, "update_id", id);
	if (id == 0)
		cJSON_AddTrueToObject(body, "dropped");
}

/* Queue a user message as an update; reply update_id and message_id. */
static void
control_inject(struct evhttp_request *req, const cJSON *msg)
{
	cJSON *body = control_body();

	control_add_update(body, updates_push("message", cJSON_Duplicate(msg, 1)));
	json_add_int(body, "message_id", json_int(msg, "message_id", 0));
	http_reply_json(req, 200, body);
}

/* POST /control/message: the user sends text. */
static void
control_message(struct evhttp_request *req, const struct params *p)
{
	const char *text = params_str(p, "text");
	int64_t chat_id, from_id;
	cJSON *msg;

	if (control_ids(req, p, &chat_id, &from_id) == -1)
		return;
	if (text == NULL) {
		control_fail(req, 400, "text is required");
		return;
	}
	msg = message_new(control_chat(p, chat_id), control_from(p, from_id));
	cJSON_AddStringToObject(msg, "text", text);
	message_add_commands(msg, text);
	control_inject(req, msg);
}

/* POST /control/contact: the user shares a contact (contact_user_id=0:
 * one without a user_id, as for a contact typed in by hand). */
static void
control_contact(struct evhttp_request *req, const struct params *p)
{
	const char *phone = params_str(p, "phone_number");
	const char *name = params_str(p, "first_name");
	int64_t chat_id, from_id, user_id;
	cJSON *msg, *contact;

	if (control_ids(req, p, &chat_id, &from_id) == -1 ||
	    control_int(req, p, "contact_user_id", from_id, &user_id) == -1)
		return;
	if (phone == NULL || *phone == '\0') {
		control_fail(req, 400, "phone_number is required");
		return;
	}
	msg = message_new(control_chat(p, chat_id), control_from(p, from_id));
	contact = cJSON_AddObjectToObject(msg, "contact");
	cJSON_AddStringToObject(contact, "phone_number", phone);
	cJSON_AddStringToObject(contact, "first_name",
	    name != NULL && *name ? name : "User");
	if (user_id != 0)
		json_add_int(contact, "user_id", user_id);
	control_inject(req, msg);
}

/* The latest message of the bot's in the chat with an inline keyboard. */
static int64_t
chat_last_keyboard(const struct chat *chat)
{
	const cJSON *msg, *from;

	for (size_t i = chat->nmsgs; i > 0; i--) {
		if ((msg = chat->msgs[i - 1]) == NULL)
			continue;
		from = cJSON_GetObjectItemCaseSensitive(msg, "from");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "is_bot")) &&
		    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup") != NULL)
			return (int64_t)i;
	}
	return 0;
}

/* Remember an injected callback query so that it can be answered once. */
static void
callback_add(const char *id, int64_t chat_id)
{
	struct callback *cb;

	if (table_get(&sim.callbacks, id) != NULL)
		return;
	cb = xcalloc(1, sizeof(*cb));
	cb->id = xstrdup(id);
	cb->chat_id = chat_id;
	table_put(&sim.callbacks, id, cb);
	sim.stats.callbacks++;
}

/* Free a callback query record (a table value). */
void
callback_free(void *arg)
{
	struct callback *cb = arg;

	free(cb->id);
	free(cb);
}

/* The message a callback query carries: the kept message, or an
 * InaccessibleMessage (date 0) when it is unknown or deleted. */
static cJSON *
callback_message(struct chat *chat, int64_t message_id)
{
	const cJSON *msg = chat_message(chat, message_id);
	cJSON *o;

	if (msg != NULL)
		return cJSON_Duplicate(msg, 1);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "chat", chat_json(chat));
	json_add_int(o, "message_id", message_id);
	json_add_int(o, "date", 0);
	return o;
}

/* POST /control/callback: the user presses an inline button (message_id
 * defaults to the bot's latest message with an inline keyboard). */
static void
control_callback(struct evhttp_request *req, const struct params *p)
{
	const char *data = params_str(p, "data");
	int64_t chat_id, from_id, message_id;
	struct chat *chat;
	cJSON *cq, *body;
	char id[32], instance[32];

	if (control_ids(req, p, &chat_id, &from_id) == -1)
		return;
	chat = control_chat(p, chat_id);
	if (control_int(req, p, "message_id", chat_last_keyboard(chat),
	    &message_id) == -1)
		return;
	if (message_id == 0) {
		control_fail(req, 400, "message_id is required: the bot sent no "
		    "inline keyboard to this chat");
		return;
	}
	snprintf(id, sizeof(id), "%" PRIu64,
	    (uint64_t)4000000000000000000ULL + (uint64_t)++sim.next_callback);
	snprintf(instance, sizeof(instance), "%" PRId64, -(chat_id * 7919 + 13));
	cq = cJSON_CreateObject();
	cJSON_AddStringToObject(cq, "id", id);
	cJSON_AddItemToObject(cq, "from", control_from(p, from_id));
	cJSON_AddItemToObject(cq, "message", callback_message(chat, message_id));
	cJSON_AddStringToObject(cq, "chat_instance", instance);
	if (data != NULL)
		cJSON_AddStringToObject(cq, "data", data);
	callback_add(id, chat_id);
	body = control_body();
	control_add_update(body, updates_push("callback_query", cq));
	cJSON_AddStringToObject(body, "callback_query_id", id);
	http_reply_json(req, 200, body);
}

/* In a raw update, give a message with a chat but no message_id the
 * chat's next id (and a date), and register callback query ids. */
static void
control_update_fill(cJSON *kind, const char *name)
{
	const cJSON *chat, *msg, *from;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(kind, "id");
	int64_t chat_id;

	if (strcmp(name, "callback_query") == 0 && cJSON_IsString(id)) {
		msg = cJSON_GetObjectItemCaseSensitive(kind, "message");
		from = cJSON_GetObjectItemCaseSensitive(kind, "from");
		chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
		chat_id = json_int(chat, "id", json_int(from, "id", 0));
		callback_add(id->valuestring, chat_id);
		return;
	}
	chat = cJSON_GetObjectItemCaseSensitive(kind, "chat");
	if ((chat_id = json_int(chat, "id", 0)) == 0)
		return;
	if (cJSON_GetObjectItemCaseSensitive(kind, "message_id") == NULL)
		json_add_int(kind, "message_id", chat_next_id(chat_get(chat_id)));
	if (cJSON_GetObjectItemCaseSensitive(kind, "date") == NULL)
		json_add_int(kind, "date", (int64_t)time(NULL));
}

/* POST /control/update: a raw Update without update_id as the body. */
static void
control_update(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	cJSON *upd, *kind, *body;
	char *name;

	upd = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
	cJSON_DeleteItemFromObjectCaseSensitive(upd, "update_id");
	if (!cJSON_IsObject(upd) || upd->child == NULL ||
	    upd->child->next != NULL || !cJSON_IsObject(upd->child)) {
		cJSON_Delete(upd);
		control_fail(req, 400, "the body must be a JSON Update without "
		    "update_id, with one field such as \"message\"");
		return;
	}
	kind = cJSON_DetachItemViaPointer(upd, upd->child);
	/* Adding kind under its own name frees that name: copy it. */
	name = xstrdup(kind->string);
	control_update_fill(kind, name);
	body = control_body();
	control_add_update(body, updates_push(name, kind));
	free(name);
	cJSON_Delete(upd);
	http_reply_json(req, 200, body);
}

/* GET /control/chat: what the bot sent to a chat after since; waits up
 * to wait seconds until there are at least count such entries. */
static void
control_chat_log(struct evhttp_request *req, const struct params *p)
{
	int64_t chat_id, since, count;
	const char *s = params_str(p, "wait");
	double wait = s != NULL ? strtod(s, NULL) : 0;
	struct waiter *w;

	if (control_int(req, p, "chat_id", 0, &chat_id) == -1 ||
	    control_int(req, p, "since", 0, &since) == -1 ||
	    control_int(req, p, "count", 1, &count) == -1)
		return;
	if (chat_id == 0) {
		control_fail(req, 400, "chat_id is required");
		return;
	}
	if (!(wait > 0) || chatlog_count(chat_id, since) >= count) {
		chatlog_reply(req, chat_id, since);
		return;
	}
	if (wait > TG_MAX_WAIT)
		wait = TG_MAX_WAIT;
	w = waiter_new(WAIT_CHAT, req, (int64_t)(wait * 1000));
	w->chat_id = chat_id;
	w->since = since;
	w->count = count;
}

/* GET /control/stats: counters since start. */
static void
control_stats(struct evhttp_request *req, const struct params *p)
{
	cJSON *body = control_body(), *o;
	struct update *u;
	struct waiter *w;
	int64_t pending = 0, n;

	(void)p;
	TAILQ_FOREACH(u, &sim.updates, entry)
		pending++;
	cJSON_AddItemToObject(body, "calls", cJSON_Duplicate(sim.stats.calls, 1));
	json_add_int(body, "uploads", sim.stats.uploads);
	json_add_int(body, "thumbnails_ignored", sim.stats.thumbnails_ignored);
	json_add_int(body, "rate_limited", sim.stats.rate_limited);
	json_add_int(body, "rejected", sim.stats.rejected);
	json_add_int(body, "faults", sim.stats.faults);
	o = cJSON_AddObjectToObject(body, "updates");
	json_add_int(o, "injected", sim.stats.updates);
	json_add_int(o, "pending", pending);
	o = cJSON_AddObjectToObject(body, "callbacks");
	json_add_int(o, "injected", sim.stats.callbacks);
	json_add_int(o, "answered", sim.stats.callbacks_answered);
	json_add_int(o, "unanswered",
	    sim.stats.callbacks - sim.stats.callbacks_answered);
	n = 0;
	TAILQ_FOREACH(w, &sim.waiters, entry)
		n++;
	json_add_int(body, "waiting", n);
	json_add_int(body, "chats", (int64_t)sim.chats.n);
	json_add_int(body, "files", (int64_t)sim.files.n);
	http_reply_json(req, 200, body);
}

/* POST /control/fault: make the next count calls (0: all, until
 * kind=clear) for a chat fail with 403 or 500, hang (timeout) or wait ms
 * (latency). */
static void
control_fault(struct evhttp_request *req, const struct params *p)
{
	const char *kind = params_str(p, "kind");
	int64_t chat_id, ms, count;
	struct fault *f;
	size_t k;

	if (control_int(req, p, "chat_id", 0, &chat_id) == -1 ||
	    control_int(req, p, "ms", 0, &ms) == -1 ||
	    control_int(req, p, "count", 1, &count) == -1)
		return;
	/* all=1: every call, whatever its chat (the whole Bot API fails). */
	if (params_str(p, "all") != NULL && strcmp(params_str(p, "all"), "1") == 0)
		chat_id = FAULT_ALL;
	if (chat_id == 0 || kind == NULL) {
		control_fail(req, 400, "chat_id (or all=1) and kind are required");
		return;
	}
	if (strcmp(kind, "clear") == 0) {
		fault_clear(chat_id);
		http_reply_json(req, 200, control_body());
		return;
	}
	for (k = 0; k < sizeof(fault_names) / sizeof(fault_names[0]); k++)
		if (strcmp(kind, fault_names[k]) == 0)
			break;
	if (k == sizeof(fault_names) / sizeof(fault_names[0]) || ms < 0 ||
	    ms > TG_MAX_WAIT * 1000 || count < 0 || count > INT_MAX) {
		control_fail(req, 400, "kind must be 403, 500, 502, timeout, latency "
		    "or clear; ms 0..%d; count >= 0", TG_MAX_WAIT * 1000);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->chat_id = chat_id;
	f->kind = (enum fault_kind)k;
	f->ms = (int)ms;
	f->count = (int)count;
	TAILQ_INSERT_TAIL(&sim.faults, f, entry);
	http_reply_json(req, 200, control_body());
}

/* GET /control/webhook: getWebhookInfo's fields plus whether a secret
 * token is sent and the delivery counters. */
static void
control_webhook(struct evhttp_request *req, const struct params *p)
{
	cJSON *body = control_body(), *info = webhook_info(), *item;

	(void)p;
	while ((item = info->child) != NULL)
		cJSON_AddItemToObject(body, item->string,
		    cJSON_DetachItemViaPointer(info, item));
	cJSON_Delete(info);
	cJSON_AddBoolToObject(body, "has_secret_token", sim.webhook.header != NULL);
	json_add_int(body, "in_flight", sim.webhook.in_flight);
	json_add_int(body, "delivered", sim.webhook.delivered);
	json_add_int(body, "failed", sim.webhook.failed);
	http_reply_json(req, 200, body);
}

/* Handle /control/<name>. */
void
control_request(struct evhttp_request *req, const char *name)
{
	static const struct {
		const char	*name;
		void		(*fn)(struct evhttp_request *,
				    const struct params *);
	} handlers[] = {
		{ "message",	control_message },
		{ "contact",	control_contact },
		{ "callback",	control_callback },
		{ "chat",	control_chat_log },
		{ "stats",	control_stats },
		{ "fault",	control_fault },
		{ "webhook",	control_webhook },
	};
	struct params p = { 0 };
	const char *err = NULL;

	if (strcmp(name, "update") == 0) {
		control_update(req);
		return;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(handlers[i].name, name) != 0)
			continue;
		if (params_from_request(&p, req, &err) == -1)
			control_fail(req, 400, "%s", err);
		else
			handlers[i].fn(req, &p);
		params_free(&p);
		return;
	}
	control_fail(req, 404, "Not Found");
}
