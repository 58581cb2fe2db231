/* SPDX-License-Identifier: ISC */
/*
 * unsaved.c: what the database could not take when it happened (locked by
 * another process, the disk full): kept here in order and tried again
 * every second (runner_tick), so that nothing is lost and nothing waits in
 * the event loop. While any is kept no new job is taken (jobs_take): the
 * database is the bottleneck then, and a stream entry whose outcome is not
 * saved stays unacknowledged in Redis until it is.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notice.h"
#include "queue.h"
#include "runner.h"
#include "xmalloc.h"

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Keep u at the end of the list. */
static void
unsaved_add(struct unsaved *u)
{
	struct unsaved **pp = &rn.unsaved;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = u;
}

static void
unsaved_free(struct unsaved *u)
{
	free(u->entry_id);
	free((char *)u->o.status);
	free((char *)u->o.cause);
	free((char *)u->o.stderr_tail);
	free((char *)u->o.kept);
	free(u);
}

void
unsaved_claim(const char *entry_id, int64_t job, int reclaimed)
{
	struct unsaved *u = xcalloc(1, sizeof(*u));

	u->kind = UNSAVED_CLAIM;
	u->entry_id = dup_or_null(entry_id);
	u->job = job;
	u->reclaimed = reclaimed;
	unsaved_add(u);
}

void
unsaved_outcome(const char *entry_id, int64_t job, int64_t attempt,
    const struct jobs_outcome *o)
{
	struct unsaved *u = xcalloc(1, sizeof(*u));

	u->kind = UNSAVED_OUTCOME;
	u->entry_id = dup_or_null(entry_id);
	u->job = job;
	u->attempt = attempt;
	u->o = *o;
	u->o.status = dup_or_null(o->status);
	u->o.cause = dup_or_null(o->cause);
	u->o.stderr_tail = dup_or_null(o->stderr_tail);
	u->o.kept = dup_or_null(o->kept);
	u->o.result_id = u->o.node = NULL;	/* our own attempts only */
	unsaved_add(u);
	log_warnx("render outcome not saved yet, kept", "job=%lld status=%s", (long long)job,
	    o->status);
}

void
unsaved_stop(int64_t job, int64_t attempt, enum jobs_stop why, int signal, double duration)
{
	struct unsaved *u = xcalloc(1, sizeof(*u));

	u->kind = UNSAVED_STOP;
	u->job = job;
	u->attempt = attempt;
	u->why = why;
	u->signal = signal;
	u->duration = duration;
	unsaved_add(u);
}

/* Try one again; 0 when the database took it. */
static int
unsaved_try(struct unsaved *u)
{
	switch (u->kind) {
	case UNSAVED_CLAIM:
		return worker_start(u->entry_id, u->job, u->reclaimed, 0) == -1 ? -1 : 0;
	case UNSAVED_OUTCOME:
		if (jobs_finished(u->job, u->attempt, &u->o) == NULL)
			return -1;
		log_info("render outcome saved", "job=%lld status=%s", (long long)u->job,
		    u->o.status);
		queue_ack(rn.queue, u->entry_id);
		if (notice_written() > 0)
			rn.wake_bots();
		return 0;
	case UNSAVED_STOP:
		return jobs_stopped(u->job, u->attempt, (enum jobs_stop)u->why, u->signal,
		    u->duration);
	}
	return 0;
}

/* Once a second: in order, until the database refuses again. */
void
unsaved_retry(void)
{
	struct unsaved *u;

	while ((u = rn.unsaved) != NULL) {
		rn.unsaved = u->next;
		u->next = NULL;
		if (unsaved_try(u) == -1) {
			/* Still refused: first in line again. */
			u->next = rn.unsaved;
			rn.unsaved = u;
			return;
		}
		unsaved_free(u);
	}
	jobs_take();
}
