/* SPDX-License-Identifier: ISC */
/* update.c: a Bot API Update read into what the conversation acts on. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tg.h"
#include "update.h"
#include "xmalloc.h"

#define UPDATE_DATA_MAX	64	/* bytes of callback_data (Telegram's limit) */

/* obj[key] as a string, or NULL. */
static const char *
update_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(obj, key));
}

/* from: who sent it, and in which language. */
static void
update_from(struct update *up, const cJSON *from)
{
	up->user_id = tg_json_int64(from, "id");
	up->language = update_str(from, "language_code");
}

/* "/start@greetbot now" -> "/start", cut at UPDATE_COMMAND_MAX bytes. */
static void
update_command(struct update *up)
{
	size_t n;

	if (up->text == NULL || up->text[0] != '/')
		return;
	n = strcspn(up->text, " @");
	snprintf(up->command, sizeof(up->command), "%.*s",
	    (int)(n < UPDATE_COMMAND_MAX ? n : UPDATE_COMMAND_MAX), up->text);
}

/* A message or an edited message. */
static void
update_message(struct update *up, const cJSON *msg)
{
	const cJSON *chat = cJSON_GetObjectItem(msg, "chat");
	const cJSON *from = cJSON_GetObjectItem(msg, "from");
	const cJSON *contact = cJSON_GetObjectItem(msg, "contact");
	const char *type = update_str(chat, "type");

	update_from(up, from);
	up->chat_id = tg_json_int64(chat, "id");
	up->private_chat = type != NULL && strcmp(type, "private") == 0;
	if (up->kind == UPDATE_EDITED) {
		up->complete = from != NULL && type != NULL;
		return;
	}
	up->complete = from != NULL && chat != NULL;
	up->text = update_str(msg, "text");
	update_command(up);
	if (contact != NULL) {
		up->has_contact = 1;
		up->contact_user = tg_json_int64(contact, "user_id");
		up->phone = update_str(contact, "phone_number");
	}
}

/*
 * The number in callback data "<prefix><number>" written as the bot writes
 * it ("%lld": digits only, no sign, space or leading zero, nothing after)
 * within Telegram's 64 bytes and at most max; else -1. Data can be forged,
 * and "retry: 7", "ok:7x" or "ok:" 2^32 + 7 must not pass for button 7.
 */
static long long
update_button_number(const char *data, const char *prefix, long long max)
{
	size_t n = strlen(prefix), len = strlen(data);
	long long v = 0;

	if (len > UPDATE_DATA_MAX || len == n || strncmp(data, prefix, n) != 0 ||
	    (data[n] == '0' && len > n + 1))
		return -1;
	for (const char *p = data + n; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

/* "st:<seq>:<part>:<vowel>", each number as update_button_number reads it
 * (part and vowel at most 99); 0, or -1 when it is not that. */
static int
update_button_stress(struct update *up, const char *data)
{
	char buf[UPDATE_DATA_MAX + 1], *part, *vowel;
	long long seq, p, v;

	if (strncmp(data, "st:", 3) != 0 || strlen(data) > UPDATE_DATA_MAX)
		return -1;
	snprintf(buf, sizeof(buf), "%s", data + 3);
	if ((part = strchr(buf, ':')) == NULL || (vowel = strchr(part + 1, ':')) == NULL)
		return -1;
	*part++ = '\0';
	*vowel++ = '\0';
	if ((seq = update_button_number(buf, "", INT_MAX)) < 0 ||
	    (p = update_button_number(part, "", 99)) < 0 ||
	    (v = update_button_number(vowel, "", 99)) < 0)
		return -1;
	up->button = UPDATE_BUTTON_STRESS;
	up->seq = (int)seq;
	up->part = (int)p;
	up->vowel = (int)v;
	return 0;
}

/* The callback_data of our buttons. */
static void
update_button(struct update *up, const char *data)
{
	long long v;

	if (data == NULL)
		return;
	if ((v = update_button_number(data, "retry:", INT64_MAX)) >= 0) {
		up->button = UPDATE_BUTTON_RETRY;
		up->asset_id = (int64_t)v;
	} else if ((v = update_button_number(data, "ok:", INT_MAX)) >= 0) {
		up->button = UPDATE_BUTTON_CONFIRM;
		up->seq = (int)v;
	} else if ((v = update_button_number(data, "chg:", INT_MAX)) >= 0) {
		up->button = UPDATE_BUTTON_CHANGE;
		up->seq = (int)v;
	} else
		(void)update_button_stress(up, data);
}

/* A button press; answered in its message's chat, else the user's. */
static void
update_callback(struct update *up, const cJSON *cq)
{
	const cJSON *from = cJSON_GetObjectItem(cq, "from");
	const cJSON *msg = cJSON_GetObjectItem(cq, "message");

	up->callback_id = update_str(cq, "id");
	up->complete = up->callback_id != NULL && from != NULL;
	update_from(up, from);
	up->chat_id = tg_json_int64(cJSON_GetObjectItem(msg, "chat"), "id");
	if (up->chat_id == 0)
		up->chat_id = up->user_id;
	up->message_id = tg_json_int64(msg, "message_id");
	update_button(up, update_str(cq, "data"));
}

/* my_chat_member: the bot's own membership of a chat changed. In a
 * private chat that is the user blocking it ("kicked") or coming back;
 * in a group, someone removing or adding it (private_chat 0). */
static void
update_member(struct update *up, const cJSON *m)
{
	const cJSON *chat = cJSON_GetObjectItem(m, "chat");
	const char *type = update_str(chat, "type");

	up->user_id = tg_json_int64(cJSON_GetObjectItem(m, "from"), "id");
	up->chat_id = tg_json_int64(chat, "id");
	up->private_chat = type != NULL && strcmp(type, "private") == 0;
	up->member_status = update_str(cJSON_GetObjectItem(m, "new_chat_member"), "status");
	up->complete = up->member_status != NULL && type != NULL;
}

/* Read one Update; its first kind that the bot knows wins. */
void
update_parse(const cJSON *u, struct update *up)
{
	const cJSON *x;

	memset(up, 0, sizeof(*up));
	up->id = tg_json_int64(u, "update_id");
	if ((x = cJSON_GetObjectItem(u, "message")) != NULL) {
		up->kind = UPDATE_MESSAGE;
		update_message(up, x);
	} else if ((x = cJSON_GetObjectItem(u, "callback_query")) != NULL) {
		up->kind = UPDATE_CALLBACK;
		update_callback(up, x);
	} else if ((x = cJSON_GetObjectItem(u, "my_chat_member")) != NULL) {
		up->kind = UPDATE_MEMBER;
		update_member(up, x);
	} else if ((x = cJSON_GetObjectItem(u, "edited_message")) != NULL) {
		up->kind = UPDATE_EDITED;
		update_message(up, x);
	}
}

/* E.164: a '+' and the digits; Telegram sends them without the '+'. */
char *
update_phone_e164(const char *in)
{
	char *out = xmalloc(strlen(in) + 2), *o = out;

	*o++ = '+';
	for (; *in; in++)
		if (isdigit((unsigned char)*in))
			*o++ = *in;
	*o = '\0';
	return out;
}
