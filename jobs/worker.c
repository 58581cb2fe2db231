/* SPDX-License-Identifier: ISC */
/*
 * worker.c: the renders of this node. A job from the stream (or, when
 * speculative, from SQLite) is claimed in SQLite (one node wins), gets a
 * worker slot with a uid of its own and a fresh work directory, and its
 * render starts; the outcome is committed (jobs_finished, outcomes that
 * end close together in one transaction) and only then is the stream
 * entry acknowledged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "notice.h"
#include "queue.h"
#include "renderer.h"
#include "runner.h"
#include "sandbox.h"
#include "syncq.h"
#include "xmalloc.h"

#define SPECULATIVE_NICE 10	/* a render nobody confirmed yet */
#define SPECULATIVE_TTL	3600	/* seconds a speculative job may wait to start */
#define BATCH_MAX	16	/* outcomes committed in one transaction, at most */
#define BATCH_WAIT_MS	10	/* the first of them waits this long for others */

/*
 * Outcomes of renders here that wait for their commit, oldest first. A
 * transaction per outcome wrote the pages they share (the jobs, assets and
 * attempts rows of neighbouring ids) and took the write lock once each;
 * outcomes that end within BATCH_WAIT_MS of each other now share one. The
 * job stays in rn.jobs (finishing, its worker already free) until its
 * outcome is committed and its entry acknowledged, so that the entry, read
 * back after a reconnect, is known as ours. While no render runs, none
 * waits: a drain's end (runner.h idle) finds every outcome committed.
 */
struct pending {
	struct job		*j;
	struct jobs_outcome	 jo;		/* its strings our own */
	/* Its outputs as <dst>.part, syncing (syncq.h) before the outcome
	 * joins the batch: the thumbnail (when there is one), the video. */
	int			 nkeep, syncing, sync_err;
	int			 fd[2];
	char			*tmp[2], *dst[2];
	const char		*name[2];
	struct pending		*next;
};

static struct pending	*pend, **pend_tail = &pend;
static int		 npend;
static struct event	*pend_ev;

static void	pending_flush(void);
static void	pending_timer(evutil_socket_t, short, void *);

void
job_free(struct job *j)
{
	struct job **pp;

	for (pp = &rn.jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->slot >= 0)
		rn.slot_busy[j->slot] = 0;
	free(j->bot);
	free(j->tmpl);
	free(j->entry_id);
	free(j->name);
	free(j->stress);
	free(j);
}

/* An attempt is over, whatever it was: free the worker. */
void
worker_finished(struct job *j)
{
	/* (What of the render is left, every process of the slot's uid and
	 * its work dir, the privileged half kills and empties: rendsrv.c.) */
	if (!j->finishing)
		rn.running--;
	job_free(j);
	/* No render runs: no outcome waits for another to share a commit. */
	if (rn.running == 0)
		pending_flush();
	jobs_take();
	if (rn.running == 0 && rn.idle != NULL)
		rn.idle();
}

/* The outcome triple and measurements of a render, for the machine. */
static void
outcome_of(struct jobs_outcome *jo, const struct render_outcome *o)
{
	memset(jo, 0, sizeof(*jo));
	jo->status = o->status;
	jo->cause = o->cause;
	jo->ok = strcmp(o->status, "ok") == 0;
	jo->retryable = o->retryable;
	jo->exit_code = o->exit_code;
	jo->signal = o->signal;
	jo->cpu_seconds = o->cpu_seconds;
	jo->max_rss_kb = o->max_rss_kb;
	jo->duration = o->duration;
	jo->stderr_tail = o->stderr_tail;
	jo->width = o->width;
	jo->height = o->height;
	jo->video_duration = o->media_duration;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* j's outcome, its strings copied, to be committed. */
static struct pending *
pending_new(struct job *j, const struct jobs_outcome *jo)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->j = j;
	p->jo = *jo;
	p->jo.status = dup_or_null(jo->status);
	p->jo.cause = dup_or_null(jo->cause);
	p->jo.stderr_tail = dup_or_null(jo->stderr_tail);
	p->jo.kept = dup_or_null(jo->kept);
	return p;
}

/* The render failed after all (its outputs cannot be kept). */
static void
pending_fail(struct pending *p, const char *status, int retryable, const char *why)
{
	log_warnx("render output refused", "job=%lld reason=%s", (long long)p->j->id, why);
	free((char *)p->jo.status);
	free((char *)p->jo.cause);
	free((char *)p->jo.kept);
	p->jo.status = xstrdup(status);
	p->jo.cause = xstrdup(why);
	p->jo.kept = NULL;
	p->jo.ok = 0;
	p->jo.retryable = retryable;
}

/* Into the next commit: now when it is full, when no render runs (none
 * would share it) or in a drain, else within BATCH_WAIT_MS. */
static void
pending_queue(struct pending *p)
{
	*pend_tail = p;
	pend_tail = &p->next;
	npend++;
	if (npend >= BATCH_MAX || rn.running == 0 || rn.draining)
		pending_flush();
	else {
		struct timeval tv = { 0, BATCH_WAIT_MS * 1000 };

		if (pend_ev == NULL)
			pend_ev = evtimer_new(rn.base, pending_timer, NULL);
		if (!evtimer_pending(pend_ev, NULL))
			evtimer_add(pend_ev, &tv);
	}
}

/*
 * The validated MP4 and its thumbnail (assets/<id>.jpg, uploaded with the
 * video) on their way into the asset store, as <dst>.part: the renderer's
 * own files when greetbotd gave them (render_link_outputs), else copies,
 * taken only from regular files of its own (no link, no FIFO, no hard
 * link to the database: rendsrv_open_output). 0, or -1 with the outcome
 * failed: for good when the renderer planted something (no retry helps),
 * else worth another attempt (our disk).
 */
static int
keep_start(struct pending *p, struct render *r)
{
	static const char *const outs[2] = { "thumb.jpg", "out.mp4" };
	static const char *const ext[2] = { "jpg", "mp4" };
	char why[300];

	for (int i = 0; i < 2; i++) {
		char *dst, *tmp;
		int fd;

		xasprintf(&dst, "%s/%lld.%s", rn.assets_dir, (long long)p->j->asset_id, ext[i]);
		xasprintf(&tmp, "%s.part", dst);
		if ((fd = render_keep(r, outs[i], tmp, MAX_BYTES, why, sizeof(why))) == -1) {
			int e = errno;

			free(tmp);
			if (i == 0 && e == ENOENT) {
				unlink(dst);	/* never an older render's thumbnail */
				free(dst);
				continue;
			}
			free(dst);
			for (int k = 0; k < p->nkeep; k++) {
				close(p->fd[k]);
				unlink(p->tmp[k]);
				free(p->tmp[k]);
				free(p->dst[k]);
			}
			p->nkeep = 0;
			pending_fail(p, e == EPERM || e == ELOOP ? "invalid_output" : "failed",
			    !(e == EPERM || e == ELOOP), why);
			return -1;
		}
		p->fd[p->nkeep] = fd;
		p->tmp[p->nkeep] = tmp;
		p->dst[p->nkeep] = dst;
		p->name[p->nkeep] = outs[i];
		p->nkeep++;
	}
	free((char *)p->jo.kept);
	p->jo.kept = xstrdup(p->dst[p->nkeep - 1]);
	return 0;
}

/* One of the outputs is on disk (or failed to get there). When all are:
 * renamed into place, the thumbnail first, and the outcome committed. */
static void
keep_synced(int err, void *arg)
{
	struct pending *p = arg;
	char why[300] = "";

	if (err != 0 && p->sync_err == 0)
		p->sync_err = err;
	if (--p->syncing > 0)
		return;
	if (p->sync_err != 0)
		snprintf(why, sizeof(why), "cannot sync the outputs: %s", strerror(p->sync_err));
	for (int k = 0; k < p->nkeep; k++) {
		if (close(p->fd[k]) == -1 && p->sync_err == 0)
			p->sync_err = errno;
		if (p->sync_err == 0 && rename(p->tmp[k], p->dst[k]) == -1)
			p->sync_err = errno;
		if (p->sync_err != 0 && why[0] == '\0') {
			snprintf(why, sizeof(why), "cannot keep %s: %s", p->name[k],
			    strerror(p->sync_err));
			for (int m = 0; m < k; m++)
				unlink(p->dst[m]);	/* no thumbnail without its video */
		}
		if (p->sync_err != 0)
			unlink(p->tmp[k]);
		free(p->tmp[k]);
		free(p->dst[k]);
	}
	if (p->sync_err != 0)
		pending_fail(p, "failed", 1, why);
	p->nkeep = 0;
	rn.keeping--;
	pending_queue(p);
}

/*
 * Commit the waiting outcomes in one transaction, then acknowledge their
 * entries; what the database refuses is kept (unsaved.c) in order, all of
 * it, as it would have been one by one. Behind outcomes it refused before,
 * in line: they are tried first.
 */
static void
pending_flush(void)
{
	struct pending *list = pend, *p, *next;
	int ok = 0, failed = 0;

	if (list == NULL)
		return;
	pend = NULL;
	pend_tail = &pend;
	npend = 0;
	if (pend_ev != NULL)
		evtimer_del(pend_ev);
	if (rn.unsaved == NULL && db_begin(rn.db) == 0) {
		/* Each its own savepoint inside (db_tx_begin); one refused
		 * refuses the batch. */
		for (p = list; p != NULL && !failed; p = p->next)
			failed = jobs_finished(p->j->id, p->j->attempt_id, &p->jo) == NULL;
		if (failed)
			db_rollback(rn.db);
		else
			ok = db_commit(rn.db) == 0;
	}
	for (p = list; p != NULL; p = p->next) {
		struct job *j = p->j;

		log_info("render finished", "job=%lld asset=%lld status=%s exit=%d signal=%d "
		    "seconds=%.2f cpu=%.2f rss_kb=%ld saved=%s", (long long)j->id,
		    (long long)j->asset_id, p->jo.status, p->jo.exit_code, p->jo.signal,
		    p->jo.duration, p->jo.cpu_seconds, p->jo.max_rss_kb, ok ? "yes" : "later");
		if (!ok)
			unsaved_outcome(j->entry_id, j->id, j->attempt_id, &p->jo);
		else if (rn.queue != NULL)
			queue_ack(rn.queue, j->entry_id);
	}
	if (ok && notice_written() > 0)
		rn.wake_bots();
	for (p = list; p != NULL; p = next) {
		next = p->next;
		free((char *)p->jo.status);
		free((char *)p->jo.cause);
		free((char *)p->jo.stderr_tail);
		free((char *)p->jo.kept);
		job_free(p->j);		/* finishing: its worker counted free */
		free(p);
	}
	/* Last, as worker_finished: no render may run now, which can end a
	 * drain (runner.h idle) and let go of the queue. */
	jobs_take();
	if (rn.running == 0 && rn.idle != NULL)
		rn.idle();
}

static void
pending_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	pending_flush();
}

/*
 * The render ended. Stopped by a drain or for a confirmed job: not the
 * job's fault (jobs_stopped). Otherwise the outcome is committed with its
 * consequences (jobs_finished), in one transaction with the outcomes that
 * end within BATCH_WAIT_MS of it, then the entry acked.
 */
static void
job_done(const struct render_outcome *o, void *arg)
{
	struct job *j = arg;
	struct jobs_outcome jo;
	struct pending *p;
	int kept;

	if (j->interrupted || j->preempted) {
		enum jobs_stop stop = j->preempted ? STOP_PREEMPTED : STOP_DRAINED;

		if (rn.db != NULL && jobs_stopped(j->id, j->attempt_id, stop, o->signal,
		    o->duration) == -1)
			unsaved_stop(j->id, j->attempt_id, stop, o->signal, o->duration);
		log_info("render stopped", "job=%lld why=%s", (long long)j->id, j->preempted ?
		    "preempted" : "drain");
		worker_finished(j);
		return;
	}
	if (rn.db == NULL) {
		results_send(j, o);
		return;
	}
	/* The worker is free now: the next job (the one read ahead) starts
	 * before this one's outcome is committed, so that the commit is not
	 * time the worker stands idle; in this job's slot, which the renderer
	 * released before calling us (its outputs are our descriptors). */
	j->finishing = 1;
	rn.running--;
	rn.slot_busy[j->slot] = 0;
	j->slot = -1;
	jobs_take();
	outcome_of(&jo, o);
	p = pending_new(j, &jo);
	kept = jo.ok && keep_start(p, j->render) == 0;
	j->render = NULL;	/* freed when we return */
	if (kept) {
		/* On disk before the commit that says so, without holding up
		 * the loop (keep_synced goes on). */
		rn.keeping++;
		p->syncing = p->nkeep;
		for (int k = 0; k < p->nkeep; k++)
			syncq_fsync(p->fd[k], keep_synced, p);
	} else
		pending_queue(p);	/* may commit and free j now */
}

/* Progress on the parents' "order accepted" messages: at most one edit a
 * second (it costs the chat's send budget), and only for a visible step. */
static void
job_progress(double p, void *arg)
{
	struct job *j = arg;
	time_t now = time(NULL);

	log_debug("render progress", "job=%lld progress=%.2f", (long long)j->id, p);
	if (rn.db == NULL)
		return;		/* the node with the database shows no progress for us */
	if (p < j->progress + 0.1 || now == j->progress_at || p >= 1)
		return;
	j->progress = p;
	j->progress_at = now;
	/* Not worth keeping when the database is busy: the next step will do. */
	if (db_begin(rn.db) == 0) {
		notice_progress(j->asset_id, j->name, p);
		if (db_commit(rn.db) == 0 && notice_written() > 0)
			rn.wake_bots();
	}
}

/* A free worker slot: each has its own uid, so RLIMIT_NPROC is its own. */
static int
slot_take(void)
{
	for (int i = 0; i < RUNNER_SLOTS; i++)
		if (!rn.slot_busy[i]) {
			rn.slot_busy[i] = 1;
			return i;
		}
	fatalx("no free worker slot");
}

/* A job taken: a worker slot, its work dir, the render of template t. */
void
worker_render(struct job *j, const struct template *t)
{
	struct render_request rq = { 0 };
	char *keep_as;

	j->slot = slot_take();
	j->started_at = (double)time(NULL);
	j->next = rn.jobs;
	rn.jobs = j;
	rn.running++;
	render_request_config(&rq, rn.cfg, SANDBOX_SLOT_WORKER + j->slot);
	rq.script = t->script;
	rq.template_dir = t->dir;
	rq.version = t->version;
	rq.name = j->name;
	rq.stress = j->stress;
	rq.mode = "video";
	/* Speculative renders yield the CPU to confirmed ones; a render gets
	 * the cores the others leave (more x264 threads: sooner done). */
	rq.nice = j->speculative ? SPECULATIVE_NICE : 0;
	rq.threads = rn.ncpu / rn.running > 1 ? rn.ncpu / rn.running : 1;
	rq.min_duration = t->min_duration;
	rq.max_duration = t->max_duration;
	rq.max_bytes = MAX_BYTES;
	/* Its outputs into the asset store (keep_output): linked there when
	 * greetbotd gives them, not copied. (A node without the database
	 * sends them through Redis: results.c.) */
	keep_as = NULL;
	if (rn.db != NULL)
		xasprintf(&keep_as, "%s/%lld", rn.assets_dir, (long long)j->asset_id);
	rq.keep_as = keep_as;
	log_info("render started", "job=%lld asset=%lld attempt=%lld uid=%u speculative=%d "
	    "threads=%d", (long long)j->id, (long long)j->asset_id, (long long)j->attempt_id,
	    (unsigned)sandbox_uid(rn.sb, SANDBOX_SLOT_WORKER + j->slot), j->speculative,
	    rq.threads);
	j->render = render_start(rn.base, &rq, job_done, job_progress, j);
	free(keep_as);
}

/* Whether the job is already running here (a duplicate entry). */
int
worker_has(int64_t job_id)
{
	for (struct job *j = rn.jobs; j != NULL; j = j->next)
		if (j->id == job_id)
			return 1;
	return 0;
}

/* A job claimed for a template this node cannot load (removed, or broken
 * since): a final failure, as a broken template is, told to the admin. */
static void
job_no_template(struct job *j)
{
	struct jobs_outcome jo = { 0 };
	char cause[300];

	snprintf(cause, sizeof(cause), "template %s cannot be loaded from templates_dir",
	    j->tmpl);
	jo.status = "template_broken";
	jo.cause = cause;
	jo.exit_code = -1;
	log_warnx("render refused", "job=%lld asset=%lld cause=%s", (long long)j->id,
	    (long long)j->asset_id, cause);
	if (jobs_finished(j->id, j->attempt_id, &jo) == NULL)
		unsaved_outcome(j->entry_id, j->id, j->attempt_id, &jo);
	else {
		queue_ack(rn.queue, j->entry_id);
		rn.wake_bots();
	}
	job_free(j);
}

/* Claim the job in SQLite (one node wins) and start its renderer. */
void
worker_job(const char *entry_id, int64_t job_id, int reclaimed, int speculative)
{
	if (worker_start(entry_id, job_id, reclaimed, speculative) == -1 && !speculative)
		unsaved_claim(entry_id, job_id, reclaimed);
}

/*
 * worker_job's work: 1 started, 0 not (not ours, or draining), -1 the
 * database did not take the claim (nothing changed: the caller keeps it;
 * a speculative job is simply looked for again later).
 */
int
worker_start(const char *entry_id, int64_t job_id, int reclaimed, int speculative)
{
	const struct template *t;
	struct jobs_claim c;
	struct job *j;
	int r;

	if (rn.draining) {
		/* Read by a request sent before the drain began: not claimed,
		 * the entry stays pending for this node, which reads its own
		 * pending entries first after the restart (or another node
		 * reclaims it once idle long enough). */
		log_info("draining: job left for later", "job=%lld", (long long)job_id);
		return 0;
	}
	/* A duplicate entry of a job we run, or not ours to take. */
	if (worker_has(job_id) || (r = jobs_claim(job_id, (reclaimed ? CLAIM_RECLAIMED : 0) |
	    (speculative ? CLAIM_SPECULATIVE : 0), &c)) == 0) {
		log_info("job not claimable, acknowledging", "job=%lld", (long long)job_id);
		queue_ack(rn.queue, entry_id);
		return 0;
	}
	if (r == -1) {
		rn.spec_maybe = 1;
		return -1;
	}
	j = xcalloc(1, sizeof(*j));
	j->slot = -1;
	j->id = job_id;
	j->entry_id = entry_id != NULL ? xstrdup(entry_id) : NULL;
	j->speculative = speculative;
	j->asset_id = c.asset;
	j->attempt_id = c.attempt;
	j->name = c.name;
	j->stress = c.stress;
	j->bot = c.bot;
	j->tmpl = c.tmpl;
	/* The asset's template (bots may have different defaults). */
	if ((t = runner_template(j->tmpl)) == NULL) {
		job_no_template(j);
		return 1;
	}
	/* A confirmed job never waits for a speculative one: it takes the
	 * worker of the newest (stopped now, taken again later). */
	if (!speculative && rn.running >= rn.cfg->workers)
		speculate_preempt();
	worker_render(j, t);
	return 1;
}

/* Renders running here that a parent confirmed (or that came from the
 * stream): the speculative ones only borrow idle workers. */
int
running_confirmed(void)
{
	int n = 0;

	for (struct job *j = rn.jobs; j != NULL; j = j->next)
		n += !j->speculative && !j->finishing;
	return n;
}

/*
 * Start the job held for a free worker, tell the queue how many jobs we
 * can take now; give idle workers the newest speculative jobs (the parent who just heard the preview is the
 * likeliest to confirm next).
 */
void
jobs_take(void)
{
	int off = rn.draining || rn.paused != NULL || !rn.cfg->render_enabled ||
	    rn.unsaved != NULL;

	if (!off && rn.held != NULL && running_confirmed() < rn.cfg->workers)
		runner_start_held();
	/* One more than the free workers: the next job is read while the
	 * last ones render, and held (struct held) until a worker frees. */
	if (rn.queue != NULL)
		queue_want(rn.queue, off || time(NULL) - rn.refused_at < 1 ? 0 :
		    rn.cfg->workers - running_confirmed() + (rn.held == NULL));
	/* Only when some may wait: the bots' wakes, preemptions and the
	 * minute's expiry say when; a look that finds none says no more. */
	if (off || rn.db == NULL || rn.taking_spec || !rn.spec_maybe)
		return;
	rn.taking_spec = 1;
	while (rn.running < rn.cfg->workers) {
		int64_t id = db_int(rn.db, 0, "SELECT id FROM jobs WHERE speculative = 1 AND "
		    "state = 'QUEUED' AND (created_at >= ? OR EXISTS (SELECT 1 FROM attempts a "
		    "WHERE a.job_id = jobs.id)) ORDER BY id DESC LIMIT 1", "l",
		    db_now() - SPECULATIVE_TTL);	/* not the ones speculate_expire takes */
		int before = rn.running;

		if (id == 0) {
			rn.spec_maybe = 0;
			break;
		}
		worker_job(NULL, id, 0, 1);
		if (rn.running == before)
			break;
	}
	rn.taking_spec = 0;
}
