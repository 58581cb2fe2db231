/* SPDX-License-Identifier: ISC */
/*
 * relay.c: the job outbox, SQLite -> Redis. A job is written to SQLite
 * with its cause (the bot's confirm, a retry); the relay publishes it: due
 * ones to the stream, retries that wait to the retry set. It is marked
 * published only after Redis answered (a batch at a time, in one
 * transaction), so a crash between the two publishes it again, which
 * idempotent jobs make harmless.
 */
#include <stdlib.h>

#include "db.h"
#include "jobs.h"
#include "queue.h"
#include "runner.h"

#define RELAY_BATCH	100

/* The batch in flight: the jobs Redis has taken so far, marked published
 * in one transaction once every answer of the batch is in. */
static struct jobs_publish	 answered[RELAY_BATCH];
static size_t			 nanswered;

static void
relay_published(int ok, int64_t job_id, void *arg)
{
	if (ok && nanswered < RELAY_BATCH) {
		answered[nanswered].job = job_id;
		answered[nanswered++].scheduled = arg != NULL;
	}
	if (--rn.relaying > 0)
		return;
	if (nanswered > 0 && rn.db != NULL)
		jobs_published(answered, nanswered);
	if (nanswered > 0) {
		nanswered = 0;
		relay_run();
	}
}

/* One batch at a time; the next when Redis has answered for this one. */
void
relay_run(void)
{
	sqlite3_stmt *st;

	if (rn.draining || rn.relaying > 0 || rn.queue == NULL || !queue_connected(rn.queue) ||
	    rn.db == NULL)
		return;
	/* The entry carries what a node without the database needs. */
	st = db_prep(rn.db, "SELECT j.id, j.next_attempt_at, a.id, a.bot_id, a.template_id, "
	    "a.template_version, a.display_name, a.stress FROM jobs j JOIN assets a ON a.id = "
	    "j.asset_id WHERE j.published_at IS NULL AND j.state IN ('QUEUED','RETRY_WAIT') "
	    "AND j.speculative = 0 ORDER BY j.id LIMIT ?", "i", RELAY_BATCH);
	while (db_step(st) == SQLITE_ROW) {
		int64_t due = sqlite3_column_int64(st, 1);
		struct queue_job qj = {
			.id = sqlite3_column_int64(st, 0),
			.asset_id = sqlite3_column_int64(st, 2),
			.bot = (const char *)sqlite3_column_text(st, 3),
			.tmpl = (const char *)sqlite3_column_text(st, 4),
			.version = (const char *)sqlite3_column_text(st, 5),
			.name = (const char *)sqlite3_column_text(st, 6),
			.stress = (const char *)sqlite3_column_text(st, 7),
		};

		rn.relaying++;
		/* The callback's argument says where it went (non-NULL: the
		 * retry set). */
		if (due > db_now())
			queue_schedule(rn.queue, &qj, due, relay_published, &rn);
		else
			queue_publish(rn.queue, &qj, relay_published, NULL);
	}
	db_done(st);
}
