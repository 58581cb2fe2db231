/* SPDX-License-Identifier: ISC */
/*
 * runner.c: the job runner's connection to the queue, its timers, and the
 * supervisor's handles on it (drain, reload, pause, metrics).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "renderer.h"
#include "runner.h"
#include "syncq.h"
#include "xmalloc.h"

struct runner rn;

/* Redis is (back): if it lost the stream, everything unfinished goes again. */
static void
queue_connected_cb(int created, void *arg)
{
	int n;

	(void)arg;
	if (created && rn.db != NULL && (n = jobs_redis_lost()) > 0)
		log_warnx("redis has no job stream; republishing from SQLite", "jobs=%d", n);
	relay_run();
	jobs_take();
	if (rn.connected != NULL)
		rn.connected();
}

/* Start an entry: render here, or (a node without the database) as the
 * entry says. */
static void
entry_start(const char *entry_id, const struct queue_job *qj, int reclaimed)
{
	if (rn.db == NULL)
		results_start(entry_id, qj);
	else
		worker_job(entry_id, qj->id, reclaimed, 0);
}

/* Keep an entry for the next free worker. */
static void
entry_hold(const char *entry_id, const struct queue_job *qj, int reclaimed)
{
	struct held *h = xcalloc(1, sizeof(*h));

	h->entry_id = xstrdup(entry_id);
	h->qj = xcalloc(1, sizeof(*h->qj));
	*h->qj = *qj;
	h->qj->bot = xstrdup(qj->bot);
	h->qj->tmpl = xstrdup(qj->tmpl);
	h->qj->version = xstrdup(qj->version);
	h->qj->name = xstrdup(qj->name);
	h->qj->stress = xstrdup(qj->stress);
	h->reclaimed = reclaimed;
	rn.held = h;
	log_debug("job held for the next free worker", "job=%lld", (long long)qj->id);
}

static void
held_release(struct held *h)
{
	free(h->entry_id);
	free((char *)h->qj->bot);
	free((char *)h->qj->tmpl);
	free((char *)h->qj->version);
	free((char *)h->qj->name);
	free((char *)h->qj->stress);
	free(h->qj);
	free(h);
}

static void
held_free(void)
{
	if (rn.held != NULL)
		held_release(rn.held);
	rn.held = NULL;
}

/* A worker is free: the held entry starts now. */
void
runner_start_held(void)
{
	struct held *h = rn.held;

	if (h == NULL)
		return;
	rn.held = NULL;
	entry_start(h->entry_id, h->qj, h->reclaimed);
	held_release(h);
}

static void
queue_job_cb(const char *entry_id, const struct queue_job *qj, int reclaimed, void *arg)
{
	int running = rn.running;
	struct job *j;

	(void)arg;
	for (j = rn.jobs; j != NULL; j = j->next)
		if (j->entry_id != NULL && strcmp(j->entry_id, entry_id) == 0)
			break;
	if (j != NULL || (rn.held != NULL && strcmp(rn.held->entry_id, entry_id) == 0)) {
		/* A running (or held) job's own entry, read back after a
		 * reconnect: it is acknowledged once the outcome is committed.
		 * Acknowledged now as a duplicate, a crash before that would
		 * lose the job. */
		log_info("job running here, its entry kept", "job=%lld", (long long)qj->id);
		return;
	}
	/* Every worker busy with confirmed renders: the one read ahead. */
	if (rn.held == NULL && !rn.draining && running_confirmed() >= rn.cfg->workers) {
		entry_hold(entry_id, qj, reclaimed);
		return;
	}
	entry_start(entry_id, qj, reclaimed);
	if (rn.running == running)
		jobs_take();	/* the entry took no worker */
}

void
runner_init(void)
{
	/* Result ids must differ across restarts, however quick. */
	if (getrandom(&rn.boot, sizeof(rn.boot), 0) != (ssize_t)sizeof(rn.boot))
		rn.boot = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	if ((rn.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		rn.ncpu = 1;
	rn.spec_maybe = 1;
	syncq_init(rn.base);
}

/* Connect to Redis ("unix:/path" or redis://...); the callbacks start
 * relaying and taking jobs once it answers. */
void
runner_connect(const char *url)
{
	static const struct queue_cbs local = { queue_connected_cb, queue_job_cb,
	    results_commit };
	static const struct queue_cbs remote = { queue_connected_cb, queue_job_cb, NULL };

	if (rn.queue != NULL)
		return;
	rn.queue = queue_new(rn.base, url, rn.cfg->redis_prefix, rn.cfg->node_name,
	    rn.db != NULL ? &local : &remote, NULL);
	/* Longer than any attempt can run (plus its commit), so a live
	 * consumer never loses one. */
	queue_set_reclaim(rn.queue, (rn.cfg->render_timeout + rn.cfg->render_grace + 5) * 1000L);
}

void
runner_free(void)
{
	held_free();	/* still pending for us in Redis: read again at start */
	queue_free(rn.queue);
	rn.queue = NULL;
}

/* The bots wrote jobs (or anything): relay now rather than at the tick. */
void
runner_wake(void)
{
	relay_run();
	rn.spec_maybe = 1;
	if (rn.db != NULL) {
		speculate_promote();
		jobs_take();
	}
}

/* Once a second: retries that came due, and anything a wake missed. */
void
runner_tick(void)
{
	if (rn.unsaved != NULL)
		unsaved_retry();
	if (rn.results_held && db_problem(NULL) == NULL) {
		rn.results_held = 0;
		queue_results_hold(rn.queue, 0);
	}
	relay_run();
	if (rn.db != NULL && time(NULL) - rn.expired_at >= 60) {
		rn.expired_at = time(NULL);
		speculate_expire();
		rn.spec_maybe = 1;
		jobs_take();
	}
	if (rn.refused_at != 0 && time(NULL) - rn.refused_at >= 1) {
		rn.refused_at = 0;
		jobs_take();
	}
	/* Draining with no render of ours left: said again each second. The
	 * drain ends when the last child is gone, and the last may be a render
	 * the privileged half killed for a bot that exited (its previews),
	 * whose end nobody is told of: then only this says it. */
	if (rn.draining && rn.running == 0 && rn.keeping == 0 && rn.idle != NULL)
		rn.idle();
}

void
runner_pause(const char *why)
{
	rn.paused = why;
	jobs_take();
}

/* No new jobs; the running renders go on (runner_drain_kill stops them). */
void
runner_drain(void)
{
	rn.draining = 1;
	held_free();	/* pending for this node: read first at the next start */
	jobs_take();
}

void
runner_drain_kill(void)
{
	for (struct job *j = rn.jobs; j != NULL; j = j->next) {
		if (j->finishing)
			continue;
		log_warnx("drain: stopping render", "job=%lld", (long long)j->id);
		j->interrupted = 1;
		render_kill(j->render);
	}
}

/* SIGHUP: templates are loaded again when next named; workers may have
 * changed. */
void
runner_reload(void)
{
	/* The templates other than the default stay: greetbotd sends them
	 * anew before it asks for a reload (jobs/proc.c). */
	if (rn.cfg->workers == 0)
		rn.cfg->workers = 1;
	jobs_take();
}

int
runner_redis_up(void)
{
	return rn.queue != NULL && queue_connected(rn.queue);
}

const char *
runner_redis_problem(void)
{
	static char why[300];

	return queue_problem(rn.queue, why, sizeof(why));
}

long long
runner_queue_depth(void)
{
	return rn.queue != NULL ? queue_depth(rn.queue) : 0;
}

/* Every node counts the entries it refused; one without the database
 * also counts its renders (the attempts table is on the other node). */
void
runner_node_metrics(struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP greetbot_jobs_refused_total Job entries this node "
	    "handed back: it lacks their template version.\n# TYPE "
	    "greetbot_jobs_refused_total counter\ngreetbot_jobs_refused_total{reason="
	    "\"template_version\"} %lld\n", rn.refused);
	if (rn.db != NULL)
		return;
	evbuffer_add_printf(b, "# HELP greetbot_node_renders_total Renders on this node "
	    "by outcome (results sent through redis).\n# TYPE greetbot_node_renders_total "
	    "counter\n");
	for (struct node_count *c = rn.counts; c != NULL; c = c->next)
		evbuffer_add_printf(b, "greetbot_node_renders_total{status=\"%s\"} %lld\n",
		    c->status, c->n);
}

/* The template a job names: the default, or one loaded (and snapshotted)
 * on first use; NULL when this node has no such template. */
const struct template *
runner_template(const char *id)
{
	struct tmpl_list *l;
	char err[512], *snap;

	if (strcmp(id, rn.tmpl->id) == 0)
		return rn.tmpl;
	for (l = rn.tmpls; l != NULL; l = l->next)
		if (strcmp(l->t.id, id) == 0)
			return &l->t;
	if (*id == '\0' || *id == '.' || strchr(id, '/') != NULL)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	xasprintf(&snap, "%s/templates", rn.render_dir);
	if (template_load(&l->t, rn.cfg->templates_dir, id, rn.cfg->render_script, snap, err,
	    sizeof(err)) == -1) {
		log_warnx("template not here", "template=%s reason=%s", id, err);
		free(snap);
		free(l);
		return NULL;
	}
	free(snap);
	l->next = rn.tmpls;
	rn.tmpls = l;
	return &l->t;
}
