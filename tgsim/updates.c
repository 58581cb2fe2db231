/* SPDX-License-Identifier: ISC */
/*
 * updates.c: the update queue: what the user does (control.c) queued as
 * Updates for getUpdates, or for webhook deliveries while a webhook is set.
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "tg.h"
#include "tgsim.h"
#include "xmalloc.h"

/* 1 when the bot's allowed_updates lets this kind of update through;
 * by default all but chat_member and the reactions, as in Telegram. */
static int
updates_allowed(const char *kind)
{
	const cJSON *k;

	if (sim.allowed == NULL)
		return strcmp(kind, "chat_member") != 0 &&
		    strcmp(kind, "message_reaction") != 0 &&
		    strcmp(kind, "message_reaction_count") != 0;
	cJSON_ArrayForEach(k, sim.allowed)
		if (cJSON_IsString(k) && strcmp(k->valuestring, kind) == 0)
			return 1;
	return 0;
}

/* Remember getUpdates' allowed_updates (a JSON array; empty restores the
 * default). -1 when it is not an array. */
int
updates_set_allowed(const char *s)
{
	cJSON *a = cJSON_Parse(s);

	if (!cJSON_IsArray(a)) {
		cJSON_Delete(a);
		return -1;
	}
	cJSON_Delete(sim.allowed);
	sim.allowed = a;
	if (a->child == NULL) {
		cJSON_Delete(a);
		sim.allowed = NULL;
	}
	return 0;
}

/*
 * Queue an update {update_id, kind: obj}; takes obj. Returns its id, or 0
 * when the bot's allowed_updates excludes it (Telegram would not make it).
 * With a webhook set it is POSTed; else a held getUpdates gets it.
 */
int64_t
updates_push(const char *kind, cJSON *obj)
{
	struct update *u;
	struct waiter *w;
	int limit;

	if (!updates_allowed(kind)) {
		log_info("update dropped, not in allowed_updates", "kind=%s", kind);
		cJSON_Delete(obj);
		return 0;
	}
	u = xcalloc(1, sizeof(*u));
	u->id = sim.next_update_id++;
	u->json = cJSON_CreateObject();
	json_add_int(u->json, "update_id", u->id);
	cJSON_AddItemToObject(u->json, kind, obj);
	TAILQ_INSERT_TAIL(&sim.updates, u, entry);
	sim.stats.updates++;
	log_debug("update queued", "update_id=%" PRId64 " kind=%s", u->id, kind);
	if (sim.webhook.url != NULL)
		webhook_pump();
	else if ((w = waiter_find_updates()) != NULL) {
		limit = w->limit;
		updates_reply(waiter_take(w), limit);
	}
	return u->id;
}

/* Unqueue and free an update (a delivery in flight is given up). */
void
update_free(struct update *u)
{
	if (u->post != NULL) {
		tg_cancel(u->post);
		sim.webhook.in_flight--;
	}
	TAILQ_REMOVE(&sim.updates, u, entry);
	cJSON_Delete(u->json);
	free(u);
}

/*
 * Confirm updates as getUpdates' offset does: those with an id below it
 * are forgotten; a negative offset keeps only the last -offset updates.
 */
void
updates_confirm(int64_t offset)
{
	struct update *u;
	int64_t n = 0;

	if (offset < 0) {
		TAILQ_FOREACH(u, &sim.updates, entry)
			n++;
		while (n-- > -offset)
			update_free(TAILQ_FIRST(&sim.updates));
		return;
	}
	while ((u = TAILQ_FIRST(&sim.updates)) != NULL && u->id < offset)
		update_free(u);
}

/* Answer getUpdates with up to limit queued updates. */
void
updates_reply(struct evhttp_request *req, int limit)
{
	cJSON *result = cJSON_CreateArray();
	struct update *u;
	int n = 0;

	TAILQ_FOREACH(u, &sim.updates, entry) {
		if (n++ == limit)
			break;
		cJSON_AddItemToArray(result, cJSON_Duplicate(u->json, 1));
	}
	api_ok(req, result);
}
