/* SPDX-License-Identifier: ISC */
/*
 * chat.c: tgsim's chats, the messages kept in them (bot and user messages
 * share message_ids), the User objects, and the log of what the bot sent
 * to each chat (GET /control/chat).
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tgsim.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------------- */
/* Chats and their messages. */

/* The chat with that id, or NULL when it was never used. */
static struct chat *
chat_find(int64_t id)
{
	char key[32];

	snprintf(key, sizeof(key), "%" PRId64, id);
	return table_get(&sim.chats, key);
}

/* The chat, created as a private chat on first use. */
struct chat *
chat_get(int64_t id)
{
	struct chat *chat;
	char key[32];

	if ((chat = chat_find(id)) != NULL)
		return chat;
	chat = xcalloc(1, sizeof(*chat));
	chat->id = id;
	chat->type = xstrdup(id < 0 ? "group" : "private");
	if (id < 0)
		chat->title = xstrdup("Test group");
	else
		chat->first_name = xstrdup("User");
	chat->log = cJSON_CreateArray();
	snprintf(key, sizeof(key), "%" PRId64, id);
	table_put(&sim.chats, key, chat);
	return chat;
}

/* Free a chat with its messages and log (a table value). */
void
chat_free(void *arg)
{
	struct chat *chat = arg;

	for (size_t i = 0; i < chat->nmsgs; i++)
		cJSON_Delete(chat->msgs[i]);
	free(chat->msgs);
	cJSON_Delete(chat->log);
	free(chat->type);
	free(chat->first_name);
	free(chat->title);
	free(chat);
}

/* Replace a string field of a chat when a new value is given. */
void
chat_set(char **field, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	free(*field);
	*field = xstrdup(value);
}

/* The Chat object. */
cJSON *
chat_json(const struct chat *chat)
{
	cJSON *o = cJSON_CreateObject();

	json_add_int(o, "id", chat->id);
	if (strcmp(chat->type, "private") == 0 && chat->first_name != NULL)
		cJSON_AddStringToObject(o, "first_name", chat->first_name);
	else if (chat->title != NULL)
		cJSON_AddStringToObject(o, "title", chat->title);
	cJSON_AddStringToObject(o, "type", chat->type);
	return o;
}

/* Give out the chat's next message_id (bot and user messages share them). */
int64_t
chat_next_id(struct chat *chat)
{
	if (chat->nmsgs == chat->capmsgs) {
		chat->capmsgs = chat->capmsgs ? chat->capmsgs * 2 : 16;
		chat->msgs = xrealloc(chat->msgs,
		    chat->capmsgs * sizeof(*chat->msgs));
	}
	chat->msgs[chat->nmsgs++] = NULL;
	return (int64_t)chat->nmsgs;
}

/* A kept message by id, or NULL (unknown or deleted). */
cJSON *
chat_message(struct chat *chat, int64_t id)
{
	if (chat == NULL || id < 1 || (uint64_t)id > chat->nmsgs)
		return NULL;
	return chat->msgs[id - 1];
}

/* Forget a message. */
void
chat_delete(struct chat *chat, int64_t id)
{
	cJSON_Delete(chat->msgs[id - 1]);
	chat->msgs[id - 1] = NULL;
}

/* The bot's own User object; getMe adds the capability flags. */
cJSON *
bot_user_json(int full)
{
	cJSON *o = cJSON_CreateObject();

	json_add_int(o, "id", sim.bot_id);
	cJSON_AddTrueToObject(o, "is_bot");
	cJSON_AddStringToObject(o, "first_name", "greetbot (tgsim)");
	cJSON_AddStringToObject(o, "username", "greetbot_tgsim_bot");
	if (full) {
		cJSON_AddTrueToObject(o, "can_join_groups");
		cJSON_AddFalseToObject(o, "can_read_all_group_messages");
		cJSON_AddFalseToObject(o, "supports_inline_queries");
		cJSON_AddFalseToObject(o, "can_connect_to_business");
		cJSON_AddFalseToObject(o, "has_main_web_app");
	}
	return o;
}

/* A human User object. */
cJSON *
user_json(int64_t id, const char *first_name, const char *language_code)
{
	cJSON *o = cJSON_CreateObject();

	json_add_int(o, "id", id);
	cJSON_AddFalseToObject(o, "is_bot");
	cJSON_AddStringToObject(o, "first_name",
	    first_name != NULL && *first_name ? first_name : "User");
	if (language_code != NULL && *language_code)
		cJSON_AddStringToObject(o, "language_code", language_code);
	return o;
}

/*
 * A new message in the chat, kept there (the chat owns it: callers reply
 * with a copy). Takes from.
 */
cJSON *
message_new(struct chat *chat, cJSON *from)
{
	cJSON *msg = cJSON_CreateObject();
	int64_t id = chat_next_id(chat);

	json_add_int(msg, "message_id", id);
	cJSON_AddItemToObject(msg, "from", from);
	cJSON_AddItemToObject(msg, "chat", chat_json(chat));
	json_add_int(msg, "date", (int64_t)time(NULL));
	chat->msgs[id - 1] = msg;
	return msg;
}

/* Set or (value NULL) remove a member of a JSON object. */
void
json_replace(cJSON *obj, const char *key, cJSON *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	if (value != NULL)
		cJSON_AddItemToObject(obj, key, value);
}

/* ---------------------------------------------------------------------- */
/* What the bot sent to each chat (GET /control/chat). */

/* A new log entry for a call on a message (msg may be NULL); add it to
 * the chat with chatlog_add before anything else is logged there. */
cJSON *
chatlog_entry(const struct chat *chat, const struct call *c, const cJSON *msg)
{
	cJSON *e = cJSON_CreateObject();
	const cJSON *v;

	json_add_int(e, "seq", chat->nlog + 1);
	cJSON_AddStringToObject(e, "method", c->method);
	if (msg == NULL)
		return e;
	json_add_int(e, "message_id", json_int(msg, "message_id", 0));
	if ((v = cJSON_GetObjectItemCaseSensitive(msg, "text")) != NULL)
		cJSON_AddStringToObject(e, "text", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(msg, "caption")) != NULL)
		cJSON_AddStringToObject(e, "caption", v->valuestring);
	return e;
}

/* The call's parameters for a log entry: uploads are described. */
static cJSON *
chatlog_params(const struct params *p)
{
	cJSON *o = cJSON_CreateObject(), *f;

	for (size_t i = 0; i < p->n; i++) {
		const struct param *pa = &p->v[i];

		cJSON_DeleteItemFromObjectCaseSensitive(o, pa->name);
		if (pa->filename == NULL) {
			cJSON_AddStringToObject(o, pa->name, pa->value);
			continue;
		}
		f = cJSON_AddObjectToObject(o, pa->name);
		cJSON_AddStringToObject(f, "filename", pa->filename);
		if (pa->content_type != NULL)
			cJSON_AddStringToObject(f, "content_type", pa->content_type);
		json_add_int(f, "size", (int64_t)pa->len);
	}
	return o;
}

/* Answer GET /control/chat with the entries after since. */
void
chatlog_reply(struct evhttp_request *req, int64_t chat_id, int64_t since)
{
	struct chat *chat = chat_find(chat_id);
	cJSON *body = control_body(), *msgs, *e;
	int64_t i = 0;

	msgs = cJSON_AddArrayToObject(body, "messages");
	if (chat != NULL) {
		cJSON_ArrayForEach(e, chat->log)
			if (++i > since)
				cJSON_AddItemToArray(msgs, cJSON_Duplicate(e, 1));
	}
	http_reply_json(req, 200, body);
}

/* Entries in the chat's log after since. */
int64_t
chatlog_count(int64_t chat_id, int64_t since)
{
	struct chat *chat = chat_find(chat_id);
	int64_t n;

	if (chat == NULL)
		return 0;
	n = chat->nlog;
	return n > since ? n - since : 0;
}

/* Append an entry (params last) and wake the chat's long polls. */
void
chatlog_add(struct chat *chat, const struct call *c, cJSON *entry)
{
	struct waiter *w, *next;
	int64_t since;

	cJSON_AddItemToObject(entry, "params", chatlog_params(&c->params));
	cJSON_AddItemToArray(chat->log, entry);
	chat->nlog++;
	for (w = TAILQ_FIRST(&sim.waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->kind != WAIT_CHAT || w->chat_id != chat->id)
			continue;
		if (chatlog_count(chat->id, w->since) < w->count)
			continue;
		since = w->since;
		chatlog_reply(waiter_take(w), chat->id, since);
	}
}
