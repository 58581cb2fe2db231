/* SPDX-License-Identifier: ISC */
/*
 * jobs.c: the job and asset state machine (jobs.h). The tables below are
 * the only transitions there are; every event function reads the rows it
 * moves, looks their next state up here, and writes it only if the row is
 * still in the state it read (so two processes racing for one job move it
 * once). s6-supervise and OpenSMTPD's mta_enter_state() are the models:
 * one table, one entry point per entity, every move logged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "jobs.h"
#include "log.h"
#include "notice.h"
#include "xmalloc.h"

static struct jobs_env env;

static const char *job_names[] = {
	"NONE", "QUEUED", "RUNNING", "RETRY_WAIT", "DONE", "FAILED"
};
static const char *asset_names[] = {
	"NONE", "PENDING", "GENERATING", "AVAILABLE", "FAILED"
};
static const char *event_names[] = {
	"created", "confirmed", "published", "scheduled", "claimed", "rendered",
	"retry", "failed", "preempted", "interrupted", "abandoned", "expired",
	"shared", "retry_pressed", "file_gone", "cancelled"
};

/*
 * Jobs. A job is never reused: a retry of a FAILED asset, or a lost file,
 * makes a new one. RUNNING -> RUNNING is a claim of a job whose node died
 * (XAUTOCLAIM), or a render node's result for a job another node runs.
 */
const struct jobs_transition jobs_table[] = {
	{ JEV_CREATED,		JOB_NONE,	JOB_QUEUED },
	{ JEV_CONFIRMED,	JOB_QUEUED,	JOB_QUEUED },
	{ JEV_CONFIRMED,	JOB_RUNNING,	JOB_RUNNING },
	{ JEV_PUBLISHED,	JOB_QUEUED,	JOB_QUEUED },
	{ JEV_PUBLISHED,	JOB_RETRY_WAIT,	JOB_QUEUED },
	{ JEV_PUBLISHED,	JOB_RUNNING,	JOB_RUNNING },	/* claimed before Redis answered */
	{ JEV_SCHEDULED,	JOB_RETRY_WAIT,	JOB_RETRY_WAIT },
	{ JEV_CLAIMED,		JOB_QUEUED,	JOB_RUNNING },
	{ JEV_CLAIMED,		JOB_RETRY_WAIT,	JOB_RUNNING },
	{ JEV_CLAIMED,		JOB_RUNNING,	JOB_RUNNING },
	{ JEV_RENDERED,		JOB_RUNNING,	JOB_DONE },
	{ JEV_RETRY,		JOB_RUNNING,	JOB_RETRY_WAIT },
	{ JEV_FAILED,		JOB_RUNNING,	JOB_FAILED },
	{ JEV_PREEMPTED,	JOB_RUNNING,	JOB_QUEUED },
	{ JEV_INTERRUPTED,	JOB_RUNNING,	JOB_QUEUED },
	{ JEV_ABANDONED,	JOB_RUNNING,	JOB_QUEUED },
	{ JEV_EXPIRED,		JOB_QUEUED,	JOB_NONE },
	{ JEV_CANCELLED,	JOB_QUEUED,	JOB_FAILED },
	{ JEV_CANCELLED,	JOB_RETRY_WAIT,	JOB_FAILED },
};
const int jobs_table_len = sizeof(jobs_table) / sizeof(jobs_table[0]);

/*
 * Assets. PENDING waits for its own job or, with `shares` set, for
 * another bot's; SHARED from NONE or FAILED takes another bot's video
 * (AVAILABLE) or running render (PENDING).
 */
const struct jobs_transition assets_table[] = {
	{ JEV_CREATED,		ASSET_NONE,	  ASSET_PENDING },
	{ JEV_SHARED,		ASSET_PENDING,	  ASSET_PENDING },
	{ JEV_SHARED,		ASSET_PENDING,	  ASSET_AVAILABLE },
	{ JEV_SHARED,		ASSET_FAILED,	  ASSET_PENDING },
	{ JEV_SHARED,		ASSET_FAILED,	  ASSET_AVAILABLE },
	{ JEV_CONFIRMED,	ASSET_FAILED,	  ASSET_PENDING },
	{ JEV_CLAIMED,		ASSET_PENDING,	  ASSET_GENERATING },
	{ JEV_CLAIMED,		ASSET_GENERATING, ASSET_GENERATING },
	{ JEV_RENDERED,		ASSET_GENERATING, ASSET_AVAILABLE },
	{ JEV_RENDERED,		ASSET_PENDING,	  ASSET_AVAILABLE },
	{ JEV_RETRY,		ASSET_GENERATING, ASSET_PENDING },
	{ JEV_FAILED,		ASSET_GENERATING, ASSET_FAILED },
	{ JEV_FAILED,		ASSET_PENDING,	  ASSET_FAILED },
	{ JEV_PREEMPTED,	ASSET_GENERATING, ASSET_PENDING },
	{ JEV_INTERRUPTED,	ASSET_GENERATING, ASSET_PENDING },
	{ JEV_ABANDONED,	ASSET_GENERATING, ASSET_PENDING },
	{ JEV_EXPIRED,		ASSET_PENDING,	  ASSET_NONE },
	{ JEV_RETRY_PRESSED,	ASSET_FAILED,	  ASSET_PENDING },
	{ JEV_FILE_GONE,	ASSET_AVAILABLE,  ASSET_PENDING },
	{ JEV_CANCELLED,	ASSET_PENDING,	  ASSET_FAILED },
};
const int assets_table_len = sizeof(assets_table) / sizeof(assets_table[0]);

const char *
job_state_name(enum job_state s)
{
	return s >= 0 && s < JOB_NSTATES ? job_names[s] : "?";
}

const char *
asset_state_name(enum asset_state s)
{
	return s >= 0 && s < ASSET_NSTATES ? asset_names[s] : "?";
}

const char *
job_event_name(enum job_event e)
{
	return e >= 0 && e < JEV_NEVENTS ? event_names[e] : "?";
}

enum job_state
job_state_parse(const char *s)
{
	for (int i = 1; s != NULL && i < JOB_NSTATES; i++)
		if (strcmp(s, job_names[i]) == 0)
			return (enum job_state)i;
	return JOB_NONE;
}

enum asset_state
asset_state_parse(const char *s)
{
	for (int i = 1; s != NULL && i < ASSET_NSTATES; i++)
		if (strcmp(s, asset_names[i]) == 0)
			return (enum asset_state)i;
	return ASSET_NONE;
}

/* The first target of (event, from) in a table; -1 when there is none. */
static int
table_next(const struct jobs_transition *t, int n, enum job_event ev, int from, int to)
{
	for (int i = 0; i < n; i++)
		if (t[i].event == ev && t[i].from == from && (to < 0 || t[i].to == to))
			return t[i].to;
	return -1;
}

int
job_next(enum job_event ev, enum job_state from)
{
	return table_next(jobs_table, jobs_table_len, ev, from, -1);
}

int
asset_next(enum job_event ev, enum asset_state from)
{
	return table_next(assets_table, assets_table_len, ev, from, -1);
}

void
jobs_init(const struct jobs_env *e)
{
	env = *e;
}

const struct jobs_env *
jobs_env(void)
{
	return &env;
}

/* --- the two moves ------------------------------------------------------- */

/*
 * The line of a move: "job=ID from=STATE to=STATE cause=EVENT", and one
 * more field when the event has a detail ("key=value": the log API quotes
 * the value).
 */
static void
move_log(int isjob, int64_t id, int from, int to, enum job_event ev, const char *detail)
{
	const char *eq = detail != NULL ? strchr(detail, '=') : NULL;
	char key[32] = "";

	if (eq != NULL)
		snprintf(key, sizeof(key), "%.*s", (int)(eq - detail), detail);
	if (isjob && eq != NULL)
		log_info("job state", "job=%lld from=%s to=%s cause=%s %s=%s", (long long)id,
		    job_state_name(from), job_state_name(to), job_event_name(ev), key, eq + 1);
	else if (isjob)
		log_info("job state", "job=%lld from=%s to=%s cause=%s", (long long)id,
		    job_state_name(from), job_state_name(to), job_event_name(ev));
	else if (eq != NULL)
		log_info("asset state", "asset=%lld from=%s to=%s cause=%s %s=%s", (long long)id,
		    asset_state_name(from), asset_state_name(to), job_event_name(ev), key, eq + 1);
	else
		log_info("asset state", "asset=%lld from=%s to=%s cause=%s", (long long)id,
		    asset_state_name(from), asset_state_name(to), job_event_name(ev));
}

/* A state's name in the jobs or the assets table. */
static const char *
name(int isjob, int state)
{
	return isjob ? job_state_name((enum job_state)state) :
	    asset_state_name((enum asset_state)state);
}

/*
 * Move a row of table (jobs or assets) from one state to another by event,
 * logged with one more field (fields: "key=value", or NULL), with more
 * columns set (set: "col = ?, col2 = ?" bound from fmt and the arguments,
 * or NULL; for a move to NONE, which deletes the row, set is more
 * conditions instead). Only a transition of the table is written, and
 * only while the row is still in from. 1 moved, 0 no longer in from, -1 a
 * transition the table lacks (a bug: logged, nothing written).
 */
static int
row_move(const char *table, int64_t id, int from, int to, enum job_event ev,
    const char *fields, const char *set, const char *fmt, va_list ap)
{
	int isjob = strcmp(table, "jobs") == 0, n, changed;
	sqlite3_stmt *st;
	char *sql;

	if ((isjob ? table_next(jobs_table, jobs_table_len, ev, from, to) :
	    table_next(assets_table, assets_table_len, ev, from, to)) != to) {
		log_warnx("bug: a transition the state machine does not have", "%s=%lld "
		    "from=%s to=%s cause=%s", isjob ? "job" : "asset", (long long)id,
		    name(isjob, from), name(isjob, to), job_event_name(ev));
		return -1;
	}
	if (to == 0)
		xasprintf(&sql, "DELETE FROM %s WHERE %s%sid = ? AND state = ?", table,
		    set != NULL ? set : "", set != NULL ? " AND " : "");
	else
		xasprintf(&sql, "UPDATE %s SET %s%sstate = ?, updated_at = ? WHERE id = ? AND "
		    "state = ?", table, set != NULL ? set : "", set != NULL ? ", " : "");
	st = db_vprep(env.db, sql, fmt != NULL ? fmt : "", ap);
	n = fmt != NULL ? (int)strlen(fmt) : 0;
	if (to != 0) {
		sqlite3_bind_text(st, ++n, name(isjob, to), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, ++n, db_now());
	}
	sqlite3_bind_int64(st, ++n, id);
	sqlite3_bind_text(st, ++n, name(isjob, from), -1, SQLITE_STATIC);
	while (db_step(st) == SQLITE_ROW)
		;
	db_done(st);
	free(sql);
	if ((changed = sqlite3_changes(env.db)) > 0)
		move_log(isjob, id, from, to, ev, fields);
	return changed > 0;
}

/* A job's move (see row_move); more columns from set and fmt. */
static int
job_move(int64_t job, enum job_state from, enum job_state to, enum job_event ev,
    const char *fields, const char *set, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = row_move("jobs", job, from, to, ev, fields, set, fmt, ap);
	va_end(ap);
	return r;
}

/* An asset's move (see row_move). */
static int
asset_move(int64_t asset, enum asset_state from, enum asset_state to, enum job_event ev,
    const char *fields, const char *set, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = row_move("assets", asset, from, to, ev, fields, set, fmt, ap);
	va_end(ap);
	return r;
}

/* A row's state now, or NONE. */
static enum job_state
job_state_of(int64_t job)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT state FROM jobs WHERE id = ?", "l", job);
	enum job_state s = JOB_NONE;

	if (db_step(st) == SQLITE_ROW)
		s = job_state_parse((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return s;
}

static enum asset_state
asset_state_of(int64_t asset)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT state FROM assets WHERE id = ?", "l", asset);
	enum asset_state s = ASSET_NONE;

	if (db_step(st) == SQLITE_ROW)
		s = asset_state_parse((const char *)sqlite3_column_text(st, 0));
	db_done(st);
	return s;
}

/* An asset follows its job: to, from whatever state it is in. */
static void
asset_follow(int64_t asset, enum asset_state to, enum job_event ev, const char *fields)
{
	(void)asset_move(asset, asset_state_of(asset), to, ev, fields, NULL, NULL);
}

/* A new job for the asset (QUEUED; speculative or not), made by event
 * (logged as by=). Its id. */
static int64_t
job_create(int64_t asset, int speculative, enum job_event by)
{
	int64_t job;

	db_run(env.db, "INSERT INTO jobs (asset_id, state, speculative, created_at, updated_at) "
	    "VALUES (?, 'QUEUED', ?, ?, ?)", "lill", asset, speculative, db_now(), db_now());
	job = sqlite3_last_insert_rowid(env.db);
	log_info("job state", "job=%lld from=NONE to=QUEUED cause=created by=%s asset=%lld "
	    "speculative=%d", (long long)job, job_event_name(by), (long long)asset, speculative);
	return job;
}

/* --- the bot -------------------------------------------------------------- */

int64_t
jobs_asset_find(const struct jobs_name *n, enum asset_state *state)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT id, state FROM assets WHERE bot_id = ? AND "
	    "template_version = ? AND name_key = ?", "sss", n->bot, n->version, n->key);
	int64_t asset = 0;

	if (state != NULL)
		*state = ASSET_NONE;
	if (db_step(st) == SQLITE_ROW) {
		asset = sqlite3_column_int64(st, 0);
		if (state != NULL)
			*state = asset_state_parse((const char *)sqlite3_column_text(st, 1));
	}
	db_done(st);
	return asset;
}

/* A new PENDING asset for the name, made by event (logged as by=). */
static int64_t
asset_create(const struct jobs_name *n, enum job_event by)
{
	int64_t asset;

	db_run(env.db, "INSERT INTO assets (bot_id, template_id, template_version, name_key, "
	    "display_name, stress, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, "
	    "'PENDING', ?, ?)", "ssssssll", n->bot, n->tmpl, n->version, n->key, n->display,
	    n->stress, db_now(), db_now());
	asset = sqlite3_last_insert_rowid(env.db);
	log_info("asset state", "asset=%lld from=NONE to=PENDING cause=created by=%s bot=%s",
	    (long long)asset, job_event_name(by), n->bot);
	return asset;
}

/*
 * Another bot's running render of the asset's name and template version
 * (an asset is per bot, a render need not be): its job, with the asset
 * that job renders in *from; 0 when there is none.
 */
static int64_t
live_render(int64_t asset, int64_t *from)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT j.id, a.id FROM assets a JOIN assets me ON "
	    "me.id = ? JOIN jobs j ON j.asset_id = a.id WHERE a.bot_id != me.bot_id AND "
	    "a.template_version = me.template_version AND a.name_key = me.name_key AND "
	    "a.shares IS NULL AND a.state IN ('PENDING','GENERATING') AND j.state IN "
	    "('QUEUED','RUNNING','RETRY_WAIT') ORDER BY j.id LIMIT 1", "l", asset);
	int64_t job = 0;

	*from = 0;
	if (db_step(st) == SQLITE_ROW) {
		job = sqlite3_column_int64(st, 0);
		*from = sqlite3_column_int64(st, 1);
	}
	db_done(st);
	return job;
}

int
jobs_transition(int64_t job, enum job_event ev, const char *fields)
{
	enum job_state from = job_state_of(job);
	int to = job_next(ev, from);

	if (to < 0) {
		log_warnx("bug: a transition the state machine does not have", "job=%lld from=%s "
		    "cause=%s", (long long)job, job_state_name(from), job_event_name(ev));
		return -1;
	}
	return job_move(job, from, (enum job_state)to, ev, fields, NULL, NULL);
}

/* A speculative job of the asset becomes an ordinary one. 1 when one did. */
static int
job_confirm(int64_t job)
{
	enum job_state s = job_state_of(job);

	if (db_int(env.db, 0, "SELECT speculative FROM jobs WHERE id = ?", "l", job) == 0 ||
	    job_next(JEV_CONFIRMED, s) < 0)
		return 0;
	return job_move(job, s, s, JEV_CONFIRMED, NULL, "speculative = 0", NULL) > 0;
}

/* Another bot's video (AVAILABLE, its file on disk) for the asset. 1 when
 * the asset took it. */
static int
share_video(int64_t asset, enum asset_state from)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT a.id, a.file_path FROM assets a JOIN assets "
	    "me ON me.id = ? WHERE a.bot_id != me.bot_id AND a.template_version = "
	    "me.template_version AND a.name_key = me.name_key AND a.state = 'AVAILABLE' AND "
	    "a.file_path IS NOT NULL ORDER BY a.id", "l", asset);
	char cause[64], *path = NULL;
	int64_t other = 0;
	int done;

	while (path == NULL && db_step(st) == SQLITE_ROW) {
		/* One whose file is gone is no use: look further. */
		if (access((const char *)sqlite3_column_text(st, 1), R_OK) != 0)
			continue;
		path = db_col_str(st, 1);
		other = sqlite3_column_int64(st, 0);
		snprintf(cause, sizeof(cause), "video_of=%lld", (long long)other);
	}
	db_done(st);
	/* With its frame size and duration: sendVideo says them. */
	done = path != NULL && asset_move(asset, from, ASSET_AVAILABLE, JEV_SHARED, cause,
	    "file_path = ?, file_id = NULL, shares = NULL, (width, height, video_duration) = "
	    "(SELECT width, height, video_duration FROM assets WHERE id = ?)", "sl", path,
	    other) > 0;
	free(path);
	return done;
}

/*
 * A new or FAILED asset gets its render: another bot's video or running
 * render, else a job of its own. Returns what it became.
 */
static enum jobs_order
asset_render(int64_t asset, enum asset_state from, enum job_event ev, int *new_jobs)
{
	int64_t other, job;
	char cause[64];

	if (share_video(asset, from))
		return ORDER_AVAILABLE;
	if ((job = live_render(asset, &other)) != 0) {
		snprintf(cause, sizeof(cause), "waits_for=%lld", (long long)other);
		asset_move(asset, from, ASSET_PENDING, JEV_SHARED, cause, "shares = ?", "l",
		    other);
		if (job_confirm(job))
			*new_jobs = 1;
		return ORDER_SHARED;
	}
	if (from != ASSET_PENDING)
		asset_move(asset, from, ASSET_PENDING, ev, NULL, "shares = NULL", NULL);
	job_create(asset, 0, ev);
	*new_jobs = 1;
	return ORDER_RENDERING;
}

int
jobs_confirmed(const struct jobs_name *n, int64_t *asset, int *new_jobs)
{
	int own, r = ORDER_RENDERING;
	enum asset_state s;
	int64_t job;

	*new_jobs = 0;
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	if ((*asset = jobs_asset_find(n, &s)) == 0) {
		*asset = asset_create(n, JEV_CONFIRMED);
		s = ASSET_PENDING;
		r = asset_render(*asset, s, JEV_CREATED, new_jobs);
	} else if (s == ASSET_FAILED)
		r = asset_render(*asset, s, JEV_CONFIRMED, new_jobs);
	else if (s == ASSET_AVAILABLE)
		r = ORDER_AVAILABLE;
	else {
		/* PENDING or GENERATING: a render (maybe speculative, maybe
		 * another bot's that it shares) makes it; confirm that one. */
		job = db_int(env.db, 0, "SELECT j.id FROM jobs j WHERE j.asset_id = (SELECT "
		    "coalesce(shares, id) FROM assets WHERE id = ?) AND j.state IN ('QUEUED',"
		    "'RUNNING','RETRY_WAIT') ORDER BY j.id DESC LIMIT 1", "l", *asset);
		if (job != 0 && job_confirm(job))
			*new_jobs = 1;
		r = db_int(env.db, 0, "SELECT shares IS NOT NULL FROM assets WHERE id = ?", "l",
		    *asset) ? ORDER_SHARED : ORDER_RENDERING;
	}
	if (db_tx_end(env.db, own, 1) == -1)
		return -1;
	return r;
}

int
jobs_speculate(const struct jobs_name *n)
{
	int own, made = 0;

	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	if (db_int(env.db, 1, "SELECT count(*) FROM assets WHERE template_version = ? AND "
	    "name_key = ? AND (bot_id = ? OR state IN ('AVAILABLE','PENDING','GENERATING'))",
	    "sss", n->version, n->key, n->bot) == 0) {
		job_create(asset_create(n, JEV_CREATED), 1, JEV_CREATED);
		made = 1;
	}
	return db_tx_end(env.db, own, 1) == -1 ? -1 : made;
}

int64_t
jobs_retry_pressed(int64_t asset, int *requests)
{
	int64_t job = 0, other;
	int own;

	*requests = 0;
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	if (asset_state_of(asset) == ASSET_FAILED) {
		/* Another bot's parent may have pressed retry first: then its
		 * render is shared. */
		if ((job = live_render(asset, &other)) != 0) {
			char fields[64];

			snprintf(fields, sizeof(fields), "waits_for=%lld", (long long)other);
			asset_move(asset, ASSET_FAILED, ASSET_PENDING, JEV_RETRY_PRESSED, fields,
			    "shares = ?", "l", other);
			job_confirm(job);
		} else {
			asset_move(asset, ASSET_FAILED, ASSET_PENDING, JEV_RETRY_PRESSED, NULL,
			    "shares = NULL", NULL);
			job = job_create(asset, 0, JEV_RETRY_PRESSED);
		}
		*requests = db_run(env.db, "UPDATE requests SET state = 'PENDING', updated_at = ? "
		    "WHERE asset_id = ? AND state = 'FAILED'", "ll", db_now(), asset);
	}
	return db_tx_end(env.db, own, 1) == -1 ? -1 : job;
}

/*
 * Nobody waits for the render of asset render any more (c->job renders
 * it): a job not started yet is cancelled, with its asset and the assets
 * of other bots sharing it; a running one is left to finish.
 */
static void
render_cancelled(int64_t render, struct jobs_cancel *c)
{
	enum job_state s = job_state_of(c->job);
	char of[48];
	int64_t *ids;
	size_t n;

	if (job_next(JEV_CANCELLED, s) < 0) {
		c->running = s == JOB_RUNNING;
		return;
	}
	if (job_move(c->job, s, JOB_FAILED, JEV_CANCELLED, NULL, NULL, NULL) <= 0)
		return;
	c->stopped = 1;
	asset_follow(render, ASSET_FAILED, JEV_CANCELLED, NULL);
	snprintf(of, sizeof(of), "render_of=%lld", (long long)render);
	n = db_ids(env.db, &ids, "SELECT id FROM assets WHERE shares = ? AND state = 'PENDING'",
	    "l", render);
	for (size_t i = 0; i < n; i++)
		asset_move(ids[i], ASSET_PENDING, ASSET_FAILED, JEV_CANCELLED, of,
		    "shares = NULL", NULL);
	free(ids);
}

int
jobs_user_cancelled(const char *bot, int64_t user)
{
	struct jobs_cancel c;
	int64_t *reqs;
	size_t n;
	int cancelled = 0, r = 0;

	n = db_ids(env.db, &reqs, "SELECT id FROM requests WHERE bot_id = ? AND user_id = ? AND "
	    "state = 'PENDING' ORDER BY id", "sl", bot, user);
	for (size_t i = 0; i < n && r != -1; i++)
		if ((r = jobs_request_cancelled(reqs[i], 0, &c)) == 1)
			cancelled++;
	free(reqs);
	return r == -1 ? -1 : cancelled;
}

int
jobs_request_cancelled(int64_t request, int tell, struct jobs_cancel *c)
{
	int own, done = 0;
	int64_t render;

	memset(c, 0, sizeof(*c));
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	c->asset = db_int(env.db, 0, "SELECT asset_id FROM requests WHERE id = ? AND state = "
	    "'PENDING'", "l", request);
	if (c->asset != 0 && db_run(env.db, "UPDATE requests SET state = 'CANCELLED', "
	    "updated_at = ? WHERE id = ? AND state = 'PENDING'", "ll", db_now(), request) > 0) {
		notice_cancelled(request, tell);
		/* The render it waits for: its asset's job, or the one it shares. */
		render = db_int(env.db, 0, "SELECT coalesce(shares, id) FROM assets WHERE id = ?",
		    "l", c->asset);
		c->job = db_int(env.db, 0, "SELECT id FROM jobs WHERE asset_id = ? AND state IN "
		    "('QUEUED','RUNNING','RETRY_WAIT') ORDER BY id DESC LIMIT 1", "l", render);
		c->others = (int)db_int(env.db, 0, "SELECT count(*) FROM requests WHERE state = "
		    "'PENDING' AND asset_id IN (SELECT id FROM assets WHERE id = ? OR shares = ?)",
		    "ll", render, render);
		if (c->job != 0 && c->others == 0)
			render_cancelled(render, c);
		log_info("request cancelled", "request=%lld asset=%lld job=%lld others=%d "
		    "job_cancelled=%d", (long long)request, (long long)c->asset, (long long)c->job,
		    c->others, c->stopped);
		done = 1;
	}
	return db_tx_end(env.db, own, 1) == -1 ? -1 : done;
}

int
jobs_uploaded(int64_t asset, const char *file_id)
{
	db_run(env.db, "UPDATE assets SET file_id = ?, updated_at = ? WHERE id = ?", "sll",
	    file_id, db_now(), asset);
	return db_failed() ? -1 : 0;
}

int
jobs_file_id_rejected(int64_t asset)
{
	db_run(env.db, "UPDATE assets SET file_id = NULL WHERE id = ?", "l", asset);
	return db_failed() ? -1 : 0;
}

int
jobs_file_gone(int64_t asset)
{
	int own, made = 0;

	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	if (asset_move(asset, ASSET_AVAILABLE, ASSET_PENDING, JEV_FILE_GONE, NULL,
	    "file_path = NULL", NULL) > 0) {
		job_create(asset, 0, JEV_FILE_GONE);
		made = 1;
	}
	return db_tx_end(env.db, own, 1) == -1 ? -1 : made;
}

/* --- greetbotd: publishing and claiming ---------------------------------- */

/* One job's publish, inside the caller's transaction. */
static void
job_published(int64_t job, int scheduled)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT state, published_at IS NOT NULL FROM jobs "
	    "WHERE id = ?", "l", job);
	enum job_state s = JOB_NONE;
	enum job_event ev = scheduled ? JEV_SCHEDULED : JEV_PUBLISHED;
	int marked = 1;

	if (db_step(st) == SQLITE_ROW) {
		s = job_state_parse((const char *)sqlite3_column_text(st, 0));
		marked = sqlite3_column_int(st, 1);
	}
	db_done(st);
	/* Only an unpublished job: a publish that crossed a claim, or Redis
	 * answering twice, changes nothing. */
	if (marked)
		return;
	if (job_next(ev, s) >= 0)
		job_move(job, s, job_next(ev, s), ev, NULL, "published_at = ?", "l", db_now());
	else	/* finished by now: only the mark */
		db_run(env.db, "UPDATE jobs SET published_at = ? WHERE id = ?", "ll", db_now(),
		    job);
}

int
jobs_published(const struct jobs_publish *p, size_t n)
{
	int own;

	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		job_published(p[i].job, p[i].scheduled);
	return db_tx_end(env.db, own, 1);
}

int
jobs_redis_lost(void)
{
	/* Not a change of state: the relay publishes them again. */
	return db_run(env.db, "UPDATE jobs SET published_at = NULL WHERE state IN ('QUEUED',"
	    "'RUNNING','RETRY_WAIT') AND published_at IS NOT NULL", "");
}

void
jobs_claim_free(struct jobs_claim *c)
{
	free(c->bot);
	free(c->tmpl);
	free(c->name);
	free(c->stress);
	memset(c, 0, sizeof(*c));
}

/* Whether this node may claim a job in state s (see jobs_claim). */
static int
claimable(enum job_state s, int flags, const char *node, int64_t due, int speculative)
{
	if (flags & CLAIM_SPECULATIVE)
		return s == JOB_QUEUED && speculative;
	switch (s) {
	case JOB_QUEUED:
		return 1;
	case JOB_RETRY_WAIT:
		/* Its entry can arrive before jobs_published marks it QUEUED. */
		return due <= db_now();
	case JOB_RUNNING:
		/* A reclaimed entry: its node died; or ours from before. */
		return (flags & CLAIM_RECLAIMED) || (node != NULL && strcmp(node, env.node) == 0);
	default:
		return 0;
	}
}

int
jobs_claim(int64_t job, int flags, struct jobs_claim *c)
{
	int own, ok = 0;
	enum job_state s = JOB_NONE;
	enum asset_state as = ASSET_NONE;
	sqlite3_stmt *st;
	int64_t due = 0;
	int spec = 0;
	char *node = NULL;

	memset(c, 0, sizeof(*c));
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	st = db_prep(env.db, "SELECT j.state, j.node, j.next_attempt_at, j.speculative, a.id, "
	    "a.state, a.display_name, a.stress, a.bot_id, a.template_id FROM jobs j JOIN "
	    "assets a ON a.id = j.asset_id WHERE j.id = ?", "l", job);
	if (db_step(st) == SQLITE_ROW) {
		s = job_state_parse((const char *)sqlite3_column_text(st, 0));
		node = db_col_str(st, 1);
		due = sqlite3_column_int64(st, 2);
		spec = sqlite3_column_int(st, 3);
		c->asset = sqlite3_column_int64(st, 4);
		as = asset_state_parse((const char *)sqlite3_column_text(st, 5));
		c->name = db_col_str(st, 6);
		c->stress = db_col_str(st, 7);
		c->bot = db_col_str(st, 8);
		c->tmpl = db_col_str(st, 9);
	}
	db_done(st);
	if (s != JOB_NONE && claimable(s, flags, node, due, spec) &&
	    job_move(job, s, JOB_RUNNING, JEV_CLAIMED, (flags & CLAIM_RECLAIMED) ?
	    "reclaimed=1" : NULL, "node = ?, attempts = attempts + 1", "s", env.node) > 0) {
		if (flags & CLAIM_RECLAIMED)
			db_run(env.db, "UPDATE attempts SET finished_at = ?, status = 'abandoned', "
			    "cause = 'its node stopped; reclaimed by ' || ? WHERE job_id = ? AND "
			    "finished_at IS NULL", "dsl", (double)time(NULL), env.node, job);
		if (table_next(assets_table, assets_table_len, JEV_CLAIMED, as,
		    ASSET_GENERATING) >= 0)
			asset_move(c->asset, as, ASSET_GENERATING, JEV_CLAIMED, NULL, NULL, NULL);
		db_run(env.db, "INSERT INTO attempts (job_id, asset_id, node, started_at) VALUES "
		    "(?, ?, ?, ?)", "llsd", job, c->asset, env.node, (double)time(NULL));
		c->attempt = sqlite3_last_insert_rowid(env.db);
		ok = 1;
	}
	if (db_tx_end(env.db, own, ok) == -1)
		ok = -1;
	free(node);
	if (ok != 1)
		jobs_claim_free(c);
	return ok;
}

/* --- outcomes ------------------------------------------------------------ */

/* Exponential backoff with jitter: 5 s, 10 s, 20 s ... plus up to 50%. */
static int64_t
retry_delay(int attempts)
{
	int64_t base = 5LL << (attempts > 10 ? 10 : attempts - 1);

	return base + (int64_t)(random() % (base / 2 + 1));
}

/* An asset's video is there: its file and what sendVideo says of it. */
#define VIDEO_SET	"file_path = ?, width = NULLIF(?, 0), height = NULLIF(?, 0), " \
			"video_duration = NULLIF(?, 0)"

/*
 * Other bots' assets that wait for this job's render (assets.shares): the
 * same video for each, uploaded by its own bot (o->kept), or the same
 * final failure (o NULL).
 */
static void
sharers_done(int64_t asset, const struct jobs_outcome *o, const char *display)
{
	int64_t *ids;
	size_t n = db_ids(env.db, &ids, "SELECT id FROM assets WHERE shares = ? AND state IN "
	    "('PENDING','GENERATING')", "l", asset);
	char of[48];

	snprintf(of, sizeof(of), "render_of=%lld", (long long)asset);
	for (size_t i = 0; i < n; i++) {
		enum asset_state from = asset_state_of(ids[i]);

		if (o != NULL) {
			asset_move(ids[i], from, ASSET_AVAILABLE, JEV_RENDERED, of,
			    VIDEO_SET ", file_id = NULL, shares = NULL", "siid", o->kept, o->width,
			    o->height, o->video_duration);
			notice_video(ids[i]);
		} else {
			asset_move(ids[i], from, ASSET_FAILED, JEV_FAILED, of, "shares = NULL",
			    NULL);
			notice_failed(ids[i], display);
		}
	}
	free(ids);
}

/* What a job's attempt means for it, its asset and the subscribers,
 * inside the caller's transaction; the job is RUNNING. */
static void
job_outcome(int64_t job, const struct jobs_outcome *o)
{
	sqlite3_stmt *st = db_prep(env.db, "SELECT j.attempts, j.speculative, a.id, "
	    "a.display_name, a.bot_id, a.template_id FROM jobs j JOIN assets a ON a.id = "
	    "j.asset_id WHERE j.id = ?", "l", job);
	int attempts = 0, spec = 0;
	int64_t asset = 0;
	char *display = NULL, *bot = NULL, *tmpl = NULL, status[80];

	/* The status is renderer.h's word (or one of ours): a logfmt value. */
	snprintf(status, sizeof(status), "status=%s", o->status);
	if (db_step(st) == SQLITE_ROW) {
		attempts = sqlite3_column_int(st, 0);
		spec = sqlite3_column_int(st, 1);
		asset = sqlite3_column_int64(st, 2);
		display = db_col_str(st, 3);
		bot = db_col_str(st, 4);
		tmpl = db_col_str(st, 5);
	}
	db_done(st);
	if (o->ok) {
		job_move(job, JOB_RUNNING, JOB_DONE, JEV_RENDERED, NULL, NULL, NULL);
		asset_move(asset, asset_state_of(asset), ASSET_AVAILABLE, JEV_RENDERED, NULL,
		    VIDEO_SET, "siid", o->kept, o->width, o->height, o->video_duration);
		notice_video(asset);
		sharers_done(asset, o, display);
	} else if (spec) {
		/* No parent waits: one attempt only. A confirm finds the asset
		 * FAILED and starts a job of its own, with the retries. */
		job_move(job, JOB_RUNNING, JOB_FAILED, JEV_FAILED, status, NULL, NULL);
		asset_follow(asset, ASSET_FAILED, JEV_FAILED, status);
		if (strcmp(o->status, "template_broken") == 0)
			notice_alert_failure(bot, tmpl, job, asset, o->status, o->cause);
	} else if (!o->retryable || attempts >= env.max_attempts) {
		job_move(job, JOB_RUNNING, JOB_FAILED, JEV_FAILED, status, NULL, NULL);
		asset_follow(asset, ASSET_FAILED, JEV_FAILED, status);
		notice_failed(asset, display);
		sharers_done(asset, NULL, display);
		notice_alert_failure(bot, tmpl, job, asset, o->status, o->cause);
	} else {
		job_move(job, JOB_RUNNING, JOB_RETRY_WAIT, JEV_RETRY, status,
		    "published_at = NULL, next_attempt_at = ?", "l",
		    db_now() + retry_delay(attempts));
		asset_follow(asset, ASSET_PENDING, JEV_RETRY, status);
	}
	free(display);
	free(bot);
	free(tmpl);
}

const char *
jobs_finished(int64_t job, int64_t attempt, const struct jobs_outcome *o)
{
	const char *status = o->status;
	int own, live;

	if ((own = db_tx_begin(env.db)) == -1)
		return NULL;

	/* Still ours? A render node's result may have finished it meanwhile. */
	live = db_int(env.db, 0, "SELECT count(*) FROM jobs WHERE id = ? AND state = 'RUNNING' "
	    "AND node = ?", "ls", job, env.node) > 0;
	if (!live)
		status = "duplicate";
	db_run(env.db, "UPDATE attempts SET finished_at = ?, status = ?, exit_code = ?, "
	    "signal = ?, cause = ?, cpu_seconds = ?, max_rss_kb = ?, duration = ?, "
	    "stderr_tail = ? WHERE id = ?", "dsiisdldsl", (double)time(NULL), status,
	    o->exit_code, o->signal, o->cause, o->cpu_seconds, (int64_t)o->max_rss_kb,
	    o->duration, o->stderr_tail, attempt);
	if (live)
		job_outcome(job, o);
	return db_tx_end(env.db, own, 1) == -1 ? NULL : status;
}

int
jobs_result(int64_t job, const struct jobs_outcome *o, const char **status)
{
	int own, live;
	enum job_state s;

	*status = o->status;
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	if (db_int(env.db, 0, "SELECT count(*) FROM attempts WHERE result_id = ?", "s",
	    o->result_id) > 0 || (s = job_state_of(job)) == JOB_NONE)
		return db_tx_end(env.db, own, 1) == -1 ? -1 : 0;
	live = s == JOB_QUEUED || s == JOB_RUNNING || s == JOB_RETRY_WAIT;
	if (!live)
		*status = "duplicate";
	db_run(env.db, "INSERT INTO attempts (job_id, asset_id, node, started_at, finished_at, "
	    "status, exit_code, signal, cause, cpu_seconds, max_rss_kb, duration, stderr_tail, "
	    "result_id) SELECT id, asset_id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM jobs WHERE "
	    "id = ?", "sddsiisdldssl", o->node, o->started_at, o->finished_at, *status,
	    o->exit_code, o->signal, o->cause, o->cpu_seconds, (int64_t)o->max_rss_kb,
	    o->duration, o->stderr_tail, o->result_id, job);
	if (live) {
		/* That node ran it: claimed there, then its outcome here. */
		char fields[300];

		snprintf(fields, sizeof(fields), "result_of=%s", o->node);
		job_move(job, s, JOB_RUNNING, JEV_CLAIMED, fields, "node = ?, "
		    "attempts = attempts + 1", "s", o->node);
		job_outcome(job, o);
	}
	return db_tx_end(env.db, own, 1) == -1 ? -1 : 1;
}

int
jobs_stopped(int64_t job, int64_t attempt, enum jobs_stop why, int signal, double duration)
{
	static const char *status[] = { "preempted", "interrupted", "interrupted" };
	static const char *cause[] = { "a confirmed render needed the worker",
	    "greetbotd stopped during the render", "greetbotd stopped during the render" };
	enum job_event ev = why == STOP_PREEMPTED ? JEV_PREEMPTED : JEV_INTERRUPTED;
	int64_t asset;
	int own;

	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	asset = db_int(env.db, 0, "SELECT asset_id FROM jobs WHERE id = ?", "l", job);

	db_run(env.db, "UPDATE attempts SET finished_at = ?, status = ?, signal = ?, cause = ?, "
	    "duration = ? WHERE id = ? AND finished_at IS NULL", "dsisdl", (double)time(NULL),
	    status[why], signal, cause[why], duration, attempt);
	/* Not an attempt used up. A drained job keeps its stream entry; a
	 * preempted one goes to the relay once it is confirmed. */
	if (why == STOP_PREEMPTED)
		job_move(job, JOB_RUNNING, JOB_QUEUED, ev, NULL, "attempts = max(attempts - 1, 0), "
		    "published_at = NULL", NULL);
	else
		job_move(job, JOB_RUNNING, JOB_QUEUED, ev, why == STOP_CRASHED ? "by=crash" :
		    "by=drain", "attempts = max(attempts - 1, 0)", NULL);
	if (asset_state_of(asset) == ASSET_GENERATING)
		asset_move(asset, ASSET_GENERATING, ASSET_PENDING, ev, NULL, NULL, NULL);
	return db_tx_end(env.db, own, 1);
}

int
jobs_recover(void)
{
	int64_t *ids;
	size_t n = db_ids(env.db, &ids, "SELECT id FROM jobs WHERE state = 'RUNNING' AND "
	    "node = ?", "s", env.node);

	int failed = db_failed();

	for (size_t i = 0; i < n; i++)
		if (jobs_stopped(ids[i], db_int(env.db, 0, "SELECT max(id) FROM attempts WHERE "
		    "job_id = ? AND finished_at IS NULL", "l", ids[i]), STOP_CRASHED, 0, 0) == -1)
			failed = 1;
	free(ids);
	/* Attempts of this node that no job holds any more. */
	db_run(env.db, "UPDATE attempts SET finished_at = ?, status = 'interrupted', cause = "
	    "'greetbotd stopped during the render' WHERE finished_at IS NULL AND node = ?",
	    "ds", (double)time(NULL), env.node);
	return failed || db_failed() ? -1 : (int)n;
}

/* Expired speculative jobs of assets nothing else holds: the job, then
 * the asset. */
static int
expire_one(int64_t job, int64_t asset)
{
	if (job_move(job, JOB_QUEUED, JOB_NONE, JEV_EXPIRED, NULL, "speculative = 1 AND NOT "
	    "EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = jobs.id)", NULL) <= 0)
		return 0;
	/* A PENDING asset always has a job or shares one: without either,
	 * it was this job's. */
	if (db_int(env.db, 1, "SELECT (SELECT count(*) FROM jobs j WHERE j.asset_id = ?1) + "
	    "(SELECT count(*) FROM requests r WHERE r.asset_id = ?1) + (SELECT count(*) FROM "
	    "assets s WHERE s.shares = ?1) + (SELECT count(*) FROM attempts a WHERE "
	    "a.asset_id = ?1) + (SELECT count(*) FROM outbox o WHERE o.asset_id = ?1) + "
	    "(SELECT count(*) FROM assets WHERE id = ?1 AND shares IS NOT NULL)", "l",
	    asset) == 0)
		asset_move(asset, ASSET_PENDING, ASSET_NONE, JEV_EXPIRED, NULL, NULL, NULL);
	return 1;
}

int
jobs_expire(int ttl, int stuck, int *expired, int *abandoned)
{
	int64_t *ids;
	size_t n;
	int own;

	*expired = *abandoned = 0;
	if ((own = db_tx_begin(env.db)) == -1)
		return -1;
	n = db_ids(env.db, &ids, "SELECT id FROM jobs WHERE state = 'RUNNING' AND published_at "
	    "IS NULL AND node != ? AND updated_at < ?", "sl", env.node, db_now() - stuck);
	for (size_t i = 0; i < n; i++) {
		int64_t asset = db_int(env.db, 0, "SELECT asset_id FROM jobs WHERE id = ?", "l",
		    ids[i]);

		db_run(env.db, "UPDATE attempts SET finished_at = ?, status = 'abandoned', cause = "
		    "'its node stopped; reclaimed by ' || ? WHERE finished_at IS NULL AND job_id = "
		    "?", "dsl", (double)time(NULL), env.node, ids[i]);
		if (job_move(ids[i], JOB_RUNNING, JOB_QUEUED, JEV_ABANDONED, NULL,
		    "attempts = max(attempts - 1, 0)", NULL) > 0)
			(*abandoned)++;
		if (asset_state_of(asset) == ASSET_GENERATING)
			asset_move(asset, ASSET_GENERATING, ASSET_PENDING, JEV_ABANDONED, NULL,
			    NULL, NULL);
	}
	free(ids);
	n = db_ids(env.db, &ids, "SELECT id FROM jobs WHERE speculative = 1 AND state = "
	    "'QUEUED' AND created_at < ?", "l", db_now() - ttl);
	for (size_t i = 0; i < n; i++)
		*expired += expire_one(ids[i], db_int(env.db, 0, "SELECT asset_id FROM jobs "
		    "WHERE id = ?", "l", ids[i]));
	free(ids);
	return db_tx_end(env.db, own, 1);
}

enum asset_state
jobs_asset_state(int64_t asset)
{
	return asset_state_of(asset);
}

int
jobs_is_speculative(int64_t job)
{
	return db_int(env.db, 0, "SELECT speculative FROM jobs WHERE id = ?", "l", job) != 0;
}
