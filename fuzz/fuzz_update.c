/* SPDX-License-Identifier: ISC */
/*
 * fuzz_update.c: a getUpdates response body read into updates as
 * greetbot-tg reads it: cJSON, then every element of "result" (bot.c's
 * poll_done walks it whatever its type) through update_parse(). A bare
 * array or a single Update object is taken too, so seeds can be either.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "update.h"

/* What bot.c relies on in a parsed update. */
static void
fuzz_update_check(const struct update *up)
{
	size_t n = strlen(up->command);
	char *e164;

	FUZZ_ASSERT(up->kind >= UPDATE_OTHER && up->kind <= UPDATE_EDITED);
	FUZZ_ASSERT(n <= UPDATE_COMMAND_MAX);
	if (n > 0) {
		FUZZ_ASSERT(up->kind == UPDATE_MESSAGE && up->command[0] == '/');
		FUZZ_ASSERT(strncmp(up->text, up->command, n) == 0);
		FUZZ_ASSERT(strcspn(up->command, " @") == n);
	}
	if (up->kind == UPDATE_CALLBACK && up->complete)
		FUZZ_ASSERT(up->callback_id != NULL);
	if (up->kind == UPDATE_CALLBACK)
		FUZZ_ASSERT(up->chat_id != 0 || up->user_id == 0);
	if (up->kind == UPDATE_MEMBER && up->complete)
		FUZZ_ASSERT(up->member_status != NULL);
	if (up->phone != NULL) {
		e164 = update_phone_e164(up->phone);
		FUZZ_ASSERT(e164[0] == '+');
		FUZZ_ASSERT(strspn(e164 + 1, "0123456789") == strlen(e164 + 1));
		free(e164);
	}
}

/* A button is taken only for data the bot itself writes: "ok:%d",
 * "chg:%d", "retry:%lld". */
static void
fuzz_update_button(const struct update *up, const cJSON *u)
{
	const cJSON *cq = cJSON_GetObjectItem(u, "callback_query");
	const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(cq, "data"));
	char made[64];

	if (up->button == UPDATE_BUTTON_NONE)
		return;
	FUZZ_ASSERT(up->kind == UPDATE_CALLBACK && data != NULL);
	if (up->button == UPDATE_BUTTON_RETRY)
		snprintf(made, sizeof(made), "retry:%lld", (long long)up->asset_id);
	else
		snprintf(made, sizeof(made), "%s:%d",
		    up->button == UPDATE_BUTTON_CONFIRM ? "ok" : "chg", up->seq);
	FUZZ_ASSERT(strcmp(made, data) == 0);
}

/* Parse one update twice: the same object reads the same (no state). */
static void
fuzz_update_one(const cJSON *u)
{
	struct update a, b;

	update_parse(u, &a);
	fuzz_update_check(&a);
	fuzz_update_button(&a, u);
	update_parse(u, &b);
	FUZZ_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
}

int
fuzz_update(const uint8_t *data, size_t len)
{
	cJSON *root = cJSON_ParseWithLength((const char *)data, len);
	const cJSON *result, *u;

	if (root == NULL)
		return 0;
	if ((result = cJSON_GetObjectItemCaseSensitive(root, "result")) != NULL) {
		cJSON_ArrayForEach(u, result)
			fuzz_update_one(u);
	} else if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(u, root)
			fuzz_update_one(u);
	} else
		fuzz_update_one(root);
	cJSON_Delete(root);
	return 0;
}

FUZZ_TARGET(fuzz_update)
