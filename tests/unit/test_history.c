/* SPDX-License-Identifier: ISC */
/*
 * test_history.c: the conversation history kept for support (lib/history.c)
 * against a real SQLite file: a contact's number masked, what the bot sent
 * kept for a user's private chat only, and retention in batches (the
 * history first, then the outbox rows sent or failed; pending ones never).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "db.h"
#include "history.h"
#include "log.h"
#include "unit.h"

static char dir[] = "/tmp/greetbot-history.XXXXXX";

static void
test_mask(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "+71234561234", "+7******1234" },
		{ "+79005501", "+7***5501" },
		{ "+4915112345678", "+4********5678" },
		{ "+123", "+1*3" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = history_mask_phone(cases[i].in);

		UNIT_STREQ(m, cases[i].want, "%s is shown as %s", cases[i].in, cases[i].want);
		free(m);
	}
}

static void
test_sent_and_prune(sqlite3 *db)
{
	int64_t now = db_now(), old = now - 40 * 86400;
	int n, total = 0, rounds = 0;

	db_run(db, "INSERT INTO users (bot_id, user_id, chat_id, created_at, updated_at) VALUES "
	    "('main', 7, 7, 0, 0)", "");
	history_sent(db, "main", 7, "message", "hello", NULL);
	history_sent(db, "main", -100, "message", "to a group", NULL);
	history_sent(db, "main", 8, "message", "to a stranger", NULL);
	UNIT_CHECK(db_int(db, 0, "SELECT count(*) FROM history", "") == 1,
	    "what the bot sent is kept for a user's private chat only");
	UNIT_CHECK(db_int(db, 0, "SELECT count(*) FROM history WHERE user_id = 7 AND dir = 'out' "
	    "AND text = 'hello'", "") == 1, "... as the bot's, to that user");

	for (int i = 0; i < 1100; i++)
		db_run(db, "INSERT INTO history (bot_id, user_id, at, dir, kind, text) VALUES "
		    "('main', 9, ?, 'in', 'text', 'old')", "l", old);
	for (int i = 0; i < 30; i++)
		db_run(db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, state, "
		    "created_at) VALUES ('main', 9, 'message', 'sendMessage', '{}', ?, ?)", "sl",
		    i < 10 ? "SENT" : i < 20 ? "FAILED" : "PENDING", old);
	while ((n = history_prune(db, now - 30 * 86400, 500)) > 0 && rounds++ < 10)
		total += n;
	UNIT_CHECK(total == 1120 && rounds == 3, "1,100 old lines and 20 old finished sends go, "
	    "in batches of 500 (%d rows in %d rounds)", total, rounds);
	UNIT_CHECK(db_int(db, 0, "SELECT count(*) FROM history", "") == 1,
	    "... what is within history_days stays");
	UNIT_CHECK(db_int(db, 0, "SELECT count(*) FROM outbox WHERE state = 'PENDING'", "") == 10,
	    "... a send still waiting is never pruned, however old");
}

int
main(void)
{
	char path[256];
	sqlite3 *db;

	if (mkdtemp(dir) == NULL)
		return 1;
	log_init("test_history", LOG_LEVEL_WARN);
	snprintf(path, sizeof(path), "%s/greetbot.db", dir);
	db = db_open(path);
	test_mask();
	test_sent_and_prune(db);
	db_close(db);
	unlink(path);
	snprintf(path, sizeof(path), "%s/greetbot.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/greetbot.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return unit_done();
}
