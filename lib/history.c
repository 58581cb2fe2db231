/* SPDX-License-Identifier: ISC */
/* history.c: a parent's conversation, kept for support (history.h). */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "history.h"
#include "xmalloc.h"

void
history_add(sqlite3 *db, const char *bot, int64_t user, const char *dir, const char *kind,
    const char *text, const char *detail)
{
	db_run(db, "INSERT INTO history (bot_id, user_id, at, dir, kind, text, detail) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)", "sllssss", bot, user, db_now(), dir, kind, text, detail);
}

void
history_sent(sqlite3 *db, const char *bot, int64_t chat, const char *kind, const char *text,
    const char *detail)
{
	/* A private chat's id is its user's: a key lookup, no scan. */
	if (chat > 0 && db_int(db, 0, "SELECT count(*) FROM users WHERE bot_id = ? AND user_id = "
	    "? AND chat_id = ?", "sll", bot, chat, chat) > 0)
		history_add(db, bot, chat, HISTORY_OUT, kind, text, detail);
}

char *
history_mask_phone(const char *phone)
{
	char *out = xstrdup(phone != NULL ? phone : "");
	size_t digits = 0, seen = 0, keep_end;

	for (char *p = out; *p != '\0'; p++)
		digits += *p >= '0' && *p <= '9';
	/* The country's first digit and the last four stay: enough to tell
	 * two numbers apart on the phone with a parent, not to dial one. */
	keep_end = digits > 5 ? 4 : digits / 2;
	for (char *p = out; *p != '\0'; p++)
		if (*p >= '0' && *p <= '9') {
			if (seen > 0 && seen < digits - keep_end)
				*p = '*';
			seen++;
		}
	return out;
}

int
history_prune(sqlite3 *db, int64_t before, int batch)
{
	int n;

	if (db_begin(db) == -1)
		return -1;
	/* Oldest first by id (rows are written in time order): the scan stops
	 * after the batch, whatever the table's size. */
	n = db_run(db, "DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < ? "
	    "ORDER BY id LIMIT ?)", "li", before, batch);
	if (n < batch)
		n += db_run(db, "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE "
		    "created_at < ? AND state != 'PENDING' ORDER BY id LIMIT ?)", "li", before,
		    batch - n);
	return db_commit(db) == -1 ? -1 : n;
}
