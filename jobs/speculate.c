/* SPDX-License-Identifier: ISC */
/*
 * speculate.c: renders started when the preview went out, before anyone
 * confirmed. They only borrow idle workers (jobs_take starts them, newest
 * first), run at a lower priority, and give their worker to a confirmed
 * job that finds every worker busy. A confirm makes one an ordinary render.
 */
#include "config.h"
#include "jobs.h"
#include "log.h"
#include "renderer.h"
#include "runner.h"

#define SPECULATIVE_TTL	3600	/* seconds a speculative job may wait to start */

/* A parent confirmed a name whose render runs speculatively: it is an
 * ordinary render now, at the normal priority. */
void
speculate_promote(void)
{
	for (struct job *j = rn.jobs; j != NULL; j = j->next) {
		if (!j->speculative || j->finishing || jobs_is_speculative(j->id))
			continue;
		j->speculative = 0;
		render_renice(j->render, 0);
		log_info("speculative render confirmed", "job=%lld asset=%lld", (long long)j->id,
		    (long long)j->asset_id);
	}
}

/* Stop the newest speculative render: a confirmed job needs its worker. */
void
speculate_preempt(void)
{
	struct job *newest = NULL;

	speculate_promote();
	for (struct job *j = rn.jobs; j != NULL; j = j->next)
		if (j->speculative && !j->preempted && !j->finishing &&
		    (newest == NULL || j->id > newest->id))
			newest = j;
	if (newest == NULL)
		return;
	newest->preempted = 1;
	rn.spec_maybe = 1;	/* it waits again once stopped */
	render_kill(newest->render);
}

/*
 * Speculative jobs that never found an idle worker within the hour: the
 * parent did not confirm; the job goes, and so does its asset when
 * nothing else holds it. And a job started from SQLite (speculative, or
 * confirmed while it ran) by another node that has been RUNNING longer
 * than any render can take: that node died, and no stream entry is left
 * for XAUTOCLAIM to find; it goes back to QUEUED.
 */
void
speculate_expire(void)
{
	int expired, back;

	jobs_expire(SPECULATIVE_TTL, rn.cfg->render_timeout + rn.cfg->render_grace + 30,
	    &expired, &back);
	if (expired > 0)
		log_info("speculative jobs expired unstarted", "jobs=%d", expired);
	if (back > 0)
		log_warnx("jobs of a node that stopped taken back", "jobs=%d", back);
}
