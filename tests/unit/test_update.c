/* SPDX-License-Identifier: ISC */
/* test_update.c: Update objects read into what the conversation acts on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "update.h"
#include "unit.h"

/* Parse json into up; the tree is kept in *root for the strings. */
static void
parse(const char *json, struct update *up, cJSON **root)
{
	*root = cJSON_Parse(json);
	update_parse(*root, up);
}

static void
test_message(void)
{
	struct update up;
	cJSON *j;

	parse("{\"update_id\":7,\"message\":{\"message_id\":1,\"from\":{\"id\":42,"
	    "\"language_code\":\"en\"},\"chat\":{\"id\":-1001234567890123,\"type\":"
	    "\"private\"},\"text\":\"/start@greetbot now\"}}", &up, &j);
	UNIT_CHECK(up.id == 7 && up.kind == UPDATE_MESSAGE && up.complete,
	    "a message with from and chat is complete");
	UNIT_CHECK(up.user_id == 42 && up.chat_id == -1001234567890123LL,
	    "user from from.id, 64-bit chat from chat.id");
	UNIT_STREQ(up.language, "en", "language_code");
	UNIT_CHECK(up.private_chat, "a private chat");
	UNIT_STREQ(up.command, "/start", "the command ends at '@' or a space");
	cJSON_Delete(j);

	parse("{\"update_id\":8,\"message\":{\"from\":{\"id\":1},\"chat\":{\"id\":2,"
	    "\"type\":\"group\"},\"text\":\"Маша\"}}", &up, &j);
	UNIT_CHECK(!up.private_chat && up.complete, "a group chat is not private");
	UNIT_STREQ(up.command, "", "text that is no command");
	UNIT_STREQ(up.text, "Маша", "the text");
	UNIT_CHECK(up.language == NULL, "no language_code");
	cJSON_Delete(j);

	parse("{\"message\":{\"chat\":{\"id\":2,\"type\":\"private\"}}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_MESSAGE && !up.complete, "a message without from");
	cJSON_Delete(j);

	parse("{\"message\":{\"from\":{\"id\":1},\"chat\":{\"id\":1,\"type\":\"private\"},"
	    "\"text\":\"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}", &up, &j);
	UNIT_CHECK(strlen(up.command) == UPDATE_COMMAND_MAX, "a long command is cut");
	cJSON_Delete(j);
}

static void
test_contact(void)
{
	struct update up;
	cJSON *j;
	char *e164;

	parse("{\"message\":{\"from\":{\"id\":5},\"chat\":{\"id\":5,\"type\":\"private\"},"
	    "\"contact\":{\"phone_number\":\"7 (912) 345-67-89\",\"user_id\":5}}}", &up, &j);
	UNIT_CHECK(up.has_contact && up.contact_user == 5, "contact and its user_id");
	e164 = update_phone_e164(up.phone);
	UNIT_STREQ(e164, "+79123456789", "E.164: '+' and the digits");
	free(e164);
	cJSON_Delete(j);

	parse("{\"message\":{\"from\":{\"id\":5},\"chat\":{\"id\":5},\"contact\":{}}}",
	    &up, &j);
	UNIT_CHECK(up.has_contact && up.contact_user == 0 && up.phone == NULL,
	    "a contact typed in by hand has no user_id");
	UNIT_CHECK(!up.private_chat, "a chat without type is not private");
	cJSON_Delete(j);
}

static void
test_callback(void)
{
	struct update up;
	cJSON *j;

	parse("{\"update_id\":9,\"callback_query\":{\"id\":\"q1\",\"from\":{\"id\":5},"
	    "\"message\":{\"message_id\":77,\"chat\":{\"id\":6}},\"data\":\"ok:3\"}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_CALLBACK && up.complete, "a button press");
	UNIT_STREQ(up.callback_id, "q1", "its id");
	UNIT_CHECK(up.button == UPDATE_BUTTON_CONFIRM && up.seq == 3, "ok:3 confirms seq 3");
	UNIT_CHECK(up.chat_id == 6 && up.message_id == 77, "the message's chat and id");
	cJSON_Delete(j);

	parse("{\"callback_query\":{\"id\":\"q2\",\"from\":{\"id\":5},\"data\":\"chg:4\"}}",
	    &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_CHANGE && up.seq == 4, "chg:4");
	UNIT_CHECK(up.chat_id == 5, "no message: answered in the user's chat");
	cJSON_Delete(j);

	parse("{\"callback_query\":{\"id\":\"q2\",\"from\":{\"id\":5},\"data\":\"st:4:1:3\"}}",
	    &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_STRESS && up.seq == 4 && up.part == 1 &&
	    up.vowel == 3, "st:4:1:3 stresses vowel 3 of part 1 at seq 4");
	cJSON_Delete(j);

	parse("{\"callback_query\":{\"id\":\"q3\",\"from\":{\"id\":5},\"data\":\"retry:12\"}}",
	    &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_RETRY && up.asset_id == 12, "retry:12");
	cJSON_Delete(j);

	parse("{\"callback_query\":{\"id\":\"q4\",\"from\":{\"id\":5},\"data\":\"x\"}}",
	    &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_NONE, "data that is none of ours");
	cJSON_Delete(j);

	/* Only the exact form the bot writes is a button: forged data that
	 * sscanf would read as one is not. */
	{
		static const char *const forged[] = {
			"retry:", "retry: 12", "retry:+12", "retry:-12", "retry:12x",
			"retry:12.0", "retry:012", "retry:99999999999999999999",
			"ok:", "ok: 3", "ok:3 ", "ok:4294967299", "chg:-1", "ok3", "OK:3",
			"ok:0000000000000000000000000000000000000000000000000000000000003",
			"st:", "st:4", "st:4:1", "st:4:1:", "st:4::3", "st:4:1:3:", "st:04:1:3",
			"st:4:1:100", "st:4:-1:3", "st:4:1:3x", "st: 4:1:3", "st:4294967299:1:3",
		};
		char buf[256];

		for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
			snprintf(buf, sizeof(buf), "{\"callback_query\":{\"id\":\"q\","
			    "\"from\":{\"id\":5},\"data\":\"%s\"}}", forged[i]);
			parse(buf, &up, &j);
			UNIT_CHECK(up.button == UPDATE_BUTTON_NONE, "forged %s is no button",
			    forged[i]);
			cJSON_Delete(j);
		}
	}
	parse("{\"callback_query\":{\"id\":\"q5\",\"from\":{\"id\":5},\"data\":"
	    "\"retry:9223372036854775807\"}}", &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_RETRY && up.asset_id == INT64_MAX,
	    "the largest asset id");
	cJSON_Delete(j);
	parse("{\"callback_query\":{\"id\":\"q6\",\"from\":{\"id\":5},\"data\":"
	    "\"ok:0\"}}", &up, &j);
	UNIT_CHECK(up.button == UPDATE_BUTTON_CONFIRM && up.seq == 0, "ok:0");
	cJSON_Delete(j);

	parse("{\"callback_query\":{\"from\":{\"id\":5},\"data\":\"ok:1\"}}", &up, &j);
	UNIT_CHECK(!up.complete, "a press without id");
	cJSON_Delete(j);
}

static void
test_other(void)
{
	struct update up;
	cJSON *j;

	parse("{\"my_chat_member\":{\"chat\":{\"id\":5,\"type\":\"private\"},\"from\":"
	    "{\"id\":5},\"new_chat_member\":{\"status\":\"kicked\"}}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_MEMBER && up.complete && up.user_id == 5 &&
	    up.chat_id == 5 && up.private_chat, "my_chat_member in a private chat");
	UNIT_STREQ(up.member_status, "kicked", "its new status");
	cJSON_Delete(j);

	parse("{\"my_chat_member\":{\"chat\":{\"id\":-100,\"type\":\"group\"},\"from\":"
	    "{\"id\":5},\"new_chat_member\":{\"status\":\"kicked\"}}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_MEMBER && up.complete && !up.private_chat &&
	    up.chat_id == -100 && up.user_id == 5,
	    "my_chat_member in a group: the bot removed by someone, not blocked by them");
	cJSON_Delete(j);

	parse("{\"edited_message\":{\"from\":{\"id\":5},\"chat\":{\"id\":5,\"type\":"
	    "\"private\"},\"text\":\"/start\"}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_EDITED && up.complete && up.private_chat,
	    "an edited message");
	UNIT_STREQ(up.command, "", "an edit is never a command");
	cJSON_Delete(j);

	parse("{\"update_id\":1e300,\"message_reaction\":{}}", &up, &j);
	UNIT_CHECK(up.kind == UPDATE_OTHER && up.id == 0, "other kinds; ids out of range");
	cJSON_Delete(j);

	update_parse(NULL, &up);
	UNIT_CHECK(up.kind == UPDATE_OTHER, "no object at all");
}

int
main(void)
{
	test_message();
	test_contact();
	test_callback();
	test_other();
	return unit_done();
}
