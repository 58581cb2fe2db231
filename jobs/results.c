/* SPDX-License-Identifier: ISC */
/*
 * results.c: render nodes without the database. Such a node renders what
 * a job's stream entry says and sends the outcome (with the MP4) through
 * Redis; the node with the database commits it as its own renders' are,
 * once per result id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "privsep.h"
#include "queue.h"
#include "renderer.h"
#include "runner.h"
#include "xmalloc.h"

/* --- on a render node ----------------------------------------------------- */

/* Count a render by status (for /metrics: there is no attempts table). */
static void
node_count(const char *status)
{
	struct node_count *c;

	for (c = rn.counts; c != NULL && strcmp(c->status, status) != 0; c = c->next)
		;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->status = xstrdup(status);
		c->next = rn.counts;
		rn.counts = c;
	}
	c->n++;
}

/*
 * A node without the database takes what the entry says. It renders only
 * a template version it has itself; any other it hands back for another
 * node. Duplicates (a second entry of a job) render at most once more, and
 * the node with the database commits one result per job.
 */
void
results_start(const char *entry_id, const struct queue_job *qj)
{
	const struct template *t = NULL;
	struct job *j;

	if (rn.draining) {
		log_info("draining: job left for later", "job=%lld", (long long)qj->id);
		return;
	}
	if (worker_has(qj->id)) {
		queue_ack(rn.queue, entry_id);
		return;
	}
	if (*qj->name == '\0' || (t = runner_template(qj->tmpl)) == NULL ||
	    strcmp(t->version, qj->version) != 0) {
		log_warnx("job refused: its template version is not here", "job=%lld "
		    "template=%s version=%s have=%s hops=%d", (long long)qj->id, qj->tmpl,
		    qj->version, t != NULL ? t->version : "none", qj->hops);
		rn.refused++;
		rn.refused_at = time(NULL);
		queue_refuse(rn.queue, entry_id, qj);
		/* Pause: the nodes that can render it should read it first. */
		jobs_take();
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->slot = -1;
	j->id = qj->id;
	j->asset_id = qj->asset_id;
	j->entry_id = xstrdup(entry_id);
	j->name = xstrdup(qj->name);
	j->stress = xstrdup(qj->stress);
	j->bot = xstrdup(qj->bot);
	j->tmpl = xstrdup(qj->tmpl);
	j->attempt_id = ++rn.attempts_here;
	worker_render(j, t);
}

/* The whole of an output the renderer made, or NULL with why (errno
 * ENOENT: none; EPERM: refused, render_output), at most 50 MB (the
 * output was validated). */
static char *
file_slurp(struct job *j, const char *name, size_t *len, char *why, size_t whylen)
{
	struct stat sb;
	char *buf;
	int fd;

	if ((fd = render_output(j->render, name, why, whylen)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || sb.st_size > MAX_BYTES) {
		snprintf(why, whylen, "cannot read %s", name);
		errno = EIO;
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	*len = 0;
	while (*len < (size_t)sb.st_size) {
		ssize_t n = pread(fd, buf + *len, (size_t)sb.st_size - *len, (off_t)*len);

		if (n <= 0) {
			snprintf(why, whylen, "cannot read %s", name);
			free(buf);
			errno = EIO;
			return NULL;
		}
		*len += (size_t)n;
	}
	return buf;
}

/* The result is in Redis (or not: then the entry stays pending for us and
 * is rendered again after a reconnect, or by another node). */
static void
result_put_done(int ok, void *arg)
{
	struct job *j = arg;

	if (ok)
		queue_ack(rn.queue, j->entry_id);
	else
		log_warnx("result not stored in redis; the job stays pending", "job=%lld",
		    (long long)j->id);
	worker_finished(j);
}

/* The outcome goes to the node with the database through Redis. */
void
results_send(struct job *j, const struct render_outcome *o)
{
	struct queue_result res = { 0 };
	char *video = NULL, id[160], why[300];
	size_t len = 0;

	snprintf(id, sizeof(id), "%s-%016llx-%lld", rn.cfg->node_name,
	    (unsigned long long)rn.boot, (long long)j->attempt_id);
	res.id = id;
	res.job_id = j->id;
	res.asset_id = j->asset_id;
	res.node = rn.cfg->node_name;
	res.status = o->status;
	res.retryable = o->retryable;
	res.exit_code = o->exit_code;
	res.signal = o->signal;
	res.cause = o->cause;
	res.cpu_seconds = o->cpu_seconds;
	res.max_rss_kb = o->max_rss_kb;
	res.duration = o->duration;
	res.started_at = j->started_at;
	res.finished_at = (double)time(NULL);
	res.stderr_tail = o->stderr_tail;
	res.width = o->width;
	res.height = o->height;
	res.video_duration = o->media_duration;
	if (strcmp(o->status, "ok") == 0 &&
	    (video = file_slurp(j, "out.mp4", &len, why, sizeof(why))) == NULL) {
		res.status = errno == EPERM || errno == ELOOP ? "invalid_output" : "failed";
		res.retryable = strcmp(res.status, "failed") == 0;
		res.cause = why;
	}
	res.video = video;
	res.video_len = len;
	if (video != NULL && (res.thumb = file_slurp(j, "thumb.jpg", &res.thumb_len, why,
	    sizeof(why))) == NULL && errno != ENOENT) {
		/* A thumbnail planted as a link: the whole render is refused. */
		free(video);
		res.video = video = NULL;
		res.video_len = 0;
		res.status = "invalid_output";
		res.retryable = 0;
		res.cause = why;
	}
	node_count(res.status);
	log_info("render finished", "job=%lld asset=%lld status=%s exit=%d signal=%d "
	    "seconds=%.2f cpu=%.2f rss_kb=%ld result=%s", (long long)j->id,
	    (long long)j->asset_id, res.status, o->exit_code, o->signal, o->duration,
	    o->cpu_seconds, o->max_rss_kb, id);
	queue_result_put(rn.queue, &res, result_put_done, j);
	free(video);
	free((char *)res.thumb);
}

/* --- on the node with the database ---------------------------------------- */

/* Write bytes to dst (temp, synced, renamed); dst, or NULL. */
static char *
keep_bytes(char *dst, const char *video, size_t len)
{
	char *tmp;
	size_t off = 0;
	int fd, ok;

	xasprintf(&tmp, "%s.part", dst);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		log_warn("cannot keep the output", "path=%s", tmp);
		free(tmp);
		free(dst);
		return NULL;
	}
	while (off < len) {
		ssize_t n = write(fd, video + off, len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	ok = off == len && service_give_fd(fd) == 0 && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, dst) == 0;
	if (!ok) {
		log_warn("cannot keep the output", "path=%s", dst);
		unlink(tmp);
		free(dst);
		dst = NULL;
	}
	free(tmp);
	return dst;
}

/* A render node's video and thumbnail into the asset store. */
static char *
keep_video(int64_t asset_id, const struct queue_result *res)
{
	char *dst, *thumb;

	xasprintf(&thumb, "%s/%lld.jpg", rn.assets_dir, (long long)asset_id);
	if (res->thumb == NULL) {
		unlink(thumb);	/* never an older render's thumbnail */
		free(thumb);
	} else
		free(keep_bytes(thumb, res->thumb, res->thumb_len));
	xasprintf(&dst, "%s/%lld.mp4", rn.assets_dir, (long long)asset_id);
	return keep_bytes(dst, res->video, res->video_len);
}

/*
 * A render node's outcome: committed as our own renders' are, in one
 * transaction with its attempt row, whose result_id makes a second
 * delivery of the same result a no-op (jobs_result). Acknowledged only
 * after the commit.
 */
void
results_commit(const char *entry_id, const struct queue_result *res, void *arg)
{
	struct jobs_outcome o = { 0 };
	const char *status;
	int64_t asset;
	int live, r;
	char *kept = NULL;

	(void)arg;
	/* Where its video goes, and whether it can still count: a result
	 * for a finished job is only recorded (jobs_result). */
	asset = db_int(rn.db, 0, "SELECT asset_id FROM jobs WHERE id = ?", "l", res->job_id);
	live = db_int(rn.db, 0, "SELECT count(*) FROM jobs WHERE id = ? AND state IN "
	    "('QUEUED','RUNNING','RETRY_WAIT')", "l", res->job_id) > 0 &&
	    db_int(rn.db, 0, "SELECT count(*) FROM attempts WHERE result_id = ?", "s",
	    res->id) == 0;
	o.status = res->status;
	o.cause = res->cause;
	o.ok = strcmp(res->status, "ok") == 0;
	o.retryable = res->retryable;
	if (live && o.ok && res->video == NULL) {
		o.ok = 0, o.retryable = 1, o.status = "failed";
		o.cause = "its video was lost in redis";
	} else if (live && o.ok && (kept = keep_video(asset, res)) == NULL) {
		o.ok = 0, o.retryable = 1, o.status = "failed";
		o.cause = "cannot keep the output";
	}
	o.exit_code = res->exit_code;
	o.signal = res->signal;
	o.cpu_seconds = res->cpu_seconds;
	o.max_rss_kb = res->max_rss_kb;
	o.duration = res->duration;
	o.stderr_tail = res->stderr_tail;
	o.kept = kept;
	o.width = res->width;
	o.height = res->height;
	o.video_duration = res->video_duration;
	o.result_id = res->id;
	o.node = res->node;
	o.started_at = res->started_at;
	o.finished_at = res->finished_at;
	if ((r = jobs_result(res->job_id, &o, &status)) == -1) {
		/* Left pending in Redis: read again once the database takes
		 * work (runner_tick). Its video is written again then. */
		log_warnx("result not committed yet, left in redis", "job=%lld node=%s",
		    (long long)res->job_id, res->node);
		rn.results_held = 1;
		queue_results_hold(rn.queue, 1);
		free(kept);
		return;
	}
	if (r == 1)
		log_info("result committed", "job=%lld asset=%lld node=%s status=%s",
		    (long long)res->job_id, (long long)asset, res->node, status);
	else if (asset == 0)
		log_warnx("result for a job we do not know, dropped", "job=%lld node=%s",
		    (long long)res->job_id, res->node);
	queue_result_done(rn.queue, entry_id, res->id);
	rn.wake_bots();
	free(kept);
}
