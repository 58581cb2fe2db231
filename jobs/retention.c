/* SPDX-License-Identifier: ISC */
/*
 * retention.c: history_days. The conversation history (and the outbox
 * rows sent or failed: the texts of what was sent) older than that is
 * deleted at start and every hour, in batches of RETENTION_BATCH rows,
 * each a short transaction of its own with the loop's other events
 * between two, so that a large backlog never holds the loop (or the
 * database's write lock) long.
 */
#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "history.h"
#include "log.h"
#include "proc.h"

#define RETENTION_BATCH	500	/* rows a transaction */
#define RETENTION_EVERY	3600	/* seconds between two runs */
#define RETENTION_WAIT	60	/* the database busy: try again then */

static struct {
	struct event		*ev;
	sqlite3			*db;
	const struct config	*cfg;		/* history_days, as reloaded */
	int			 pruned;	/* rows deleted in this run so far */
} rt;

/* One batch; the next one at once (after the loop's other events) while
 * there is more, else in an hour. */
static void
retention_run(evutil_socket_t fd, short what, void *arg)
{
	int64_t before = db_now() - (int64_t)rt.cfg->history_days * 86400;
	struct timeval next = { RETENTION_EVERY, 0 };
	int n;

	(void)fd;
	(void)what;
	(void)arg;
	if ((n = history_prune(rt.db, before, RETENTION_BATCH)) == -1)
		next.tv_sec = RETENTION_WAIT;
	else if (n == RETENTION_BATCH) {
		rt.pruned += n;
		next.tv_sec = 0;
	} else {
		rt.pruned += n;
		if (rt.pruned > 0)
			log_info("history pruned", "rows=%d history_days=%d", rt.pruned,
			    rt.cfg->history_days);
		rt.pruned = 0;
	}
	evtimer_add(rt.ev, &next);
}

void
retention_start(struct event_base *base, sqlite3 *db, const struct config *cfg)
{
	struct timeval now = { 0, 0 };

	if (db == NULL)
		return;		/* a render node: no database, no history */
	rt.db = db;
	rt.cfg = cfg;
	rt.ev = evtimer_new(base, retention_run, NULL);
	evtimer_add(rt.ev, &now);
}
