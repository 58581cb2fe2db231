/* SPDX-License-Identifier: ISC */
/*
 * test_jobs.c: the job and asset state machine (jobs/jobs.c) against a
 * real SQLite file, no processes: every event from every job state (the
 * result must be the table's, or nothing), then the paths a parent lives
 * through (confirm, share, speculate, retry, crash, drain, preempt, a
 * render node's result, expiry, a lost file) with the rows they write.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "texts.h"
#include "unit.h"

static char dir[] = "/tmp/greetbot-jobs.XXXXXX";
static sqlite3 *db;
static struct config cfg;
static struct texts *tx;
static int nbots = 1;

static struct texts *
env_texts(const char *bot)
{
	(void)bot;
	return tx;
}

static const struct config *
env_config(const char *bot)
{
	(void)bot;
	return &cfg;
}

/* A fresh database with the schema, as greetbotd's node "here". */
static void
fresh(int max_attempts)
{
	char path[256];
	struct jobs_env e = { 0 };

	if (db != NULL)
		db_close(db);
	snprintf(path, sizeof(path), "%s/greetbot.db", dir);
	unlink(path);
	db = db_open(path);
	e.db = db;
	e.node = "here";
	e.max_attempts = max_attempts;
	e.alert_window = 3600;
	e.nbots = nbots;
	e.texts = env_texts;
	e.bot_config = env_config;
	jobs_init(&e);
}

static int64_t
q(const char *sql)
{
	return db_int(db, -1, sql, "");
}

static char *
qs(const char *sql)
{
	sqlite3_stmt *st = db_prep(db, sql, "");
	char *s = db_step(st) == SQLITE_ROW ? db_col_str(st, 0) : NULL;

	db_done(st);
	return s;
}

static const char *
job_state(int64_t job)
{
	static char buf[32];
	char sql[96], *s;

	snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %lld", (long long)job);
	s = qs(sql);
	snprintf(buf, sizeof(buf), "%s", s != NULL ? s : "NONE");
	free(s);
	return buf;
}

static const char *
asset_state(int64_t asset)
{
	static char buf[32];
	char sql[96], *s;

	snprintf(sql, sizeof(sql), "SELECT state FROM assets WHERE id = %lld", (long long)asset);
	s = qs(sql);
	snprintf(buf, sizeof(buf), "%s", s != NULL ? s : "NONE");
	free(s);
	return buf;
}

static struct jobs_name
name(const char *bot, const char *key)
{
	return (struct jobs_name){ bot, "ru-birthday", "v1", key, key, "" };
}

/* A request of a parent (chat) for the asset, PENDING. */
static int64_t
request(int64_t asset, int64_t chat, const char *bot)
{
	db_run(db, "INSERT INTO requests (bot_id, user_id, chat_id, asset_id, state, language, "
	    "status_message_id, created_at, updated_at) VALUES (?, ?, ?, ?, 'PENDING', 'ru', 7, "
	    "0, 0)", "slll", bot, chat, chat, asset);
	return sqlite3_last_insert_rowid(db);
}

static const struct jobs_outcome ok_outcome = { .status = "ok", .cause = "", .ok = 1,
	.kept = "/tmp/video.mp4" };
static const struct jobs_outcome tempfail = { .status = "tempfail", .cause = "exit 75",
	.retryable = 1, .exit_code = 75 };
static const struct jobs_outcome bad_name = { .status = "bad_name", .cause = "exit 65",
	.exit_code = 65 };

/* A job put in a state as the machine would leave it there. */
static int64_t
job_in(enum job_state s, int64_t *asset)
{
	struct jobs_name n = name("main", "маша");
	struct jobs_claim c;
	int new_jobs;
	int64_t job;

	fresh(3);
	jobs_confirmed(&n, asset, &new_jobs);
	job = q("SELECT max(id) FROM jobs");
	if (s == JOB_QUEUED)
		return job;
	jobs_claim(job, 0, &c);
	jobs_claim_free(&c);
	if (s == JOB_RUNNING)
		return job;
	jobs_finished(job, q("SELECT max(id) FROM attempts"), s == JOB_DONE ? &ok_outcome :
	    s == JOB_RETRY_WAIT ? &tempfail : &bad_name);
	return job;
}

/* --- every event from every state ---------------------------------------- */

/* Fire one event at a job in one state; returns the state it is in after. */
static const char *
fire(enum job_event ev, enum job_state from, int64_t *asset)
{
	int64_t job = job_in(from, asset), attempt = q("SELECT coalesce(max(id), 0) FROM attempts");
	struct jobs_claim c;
	struct jobs_outcome o;
	struct jobs_cancel cancel;
	const char *st;
	int a, b;

	switch (ev) {
	case JEV_PUBLISHED:
	case JEV_SCHEDULED:
		jobs_published(&(struct jobs_publish){ job, ev == JEV_SCHEDULED }, 1);
		break;
	case JEV_CLAIMED:
		/* A retry is claimable only once due. */
		db_run(db, "UPDATE jobs SET next_attempt_at = 0", "");
		if (jobs_claim(job, 0, &c) == 1)
			jobs_claim_free(&c);
		break;
	case JEV_RENDERED:
		jobs_finished(job, attempt, &ok_outcome);
		break;
	case JEV_RETRY:
		jobs_finished(job, attempt, &tempfail);
		break;
	case JEV_FAILED:
		jobs_finished(job, attempt, &bad_name);
		break;
	case JEV_PREEMPTED:
		jobs_stopped(job, attempt, STOP_PREEMPTED, 9, 1);
		break;
	case JEV_INTERRUPTED:
		jobs_stopped(job, attempt, STOP_DRAINED, 15, 1);
		break;
	case JEV_ABANDONED:
		db_run(db, "UPDATE jobs SET node = 'gone', updated_at = 0, published_at = NULL", "");
		jobs_expire(3600, 60, &a, &b);
		break;
	case JEV_EXPIRED:
		db_run(db, "UPDATE jobs SET speculative = 1, created_at = 0", "");
		jobs_expire(60, 3600, &a, &b);
		break;
	case JEV_CANCELLED:
		/* The one request waiting for it. */
		jobs_request_cancelled(request(*asset, 100, "main"), 0, &cancel);
		break;
	case JEV_CONFIRMED:
		db_run(db, "UPDATE jobs SET speculative = 1", "");
		jobs_confirmed(&(struct jobs_name){ "main", "ru-birthday", "v1", "маша", "маша",
		    "" }, asset, &a);
		break;
	default:
		return NULL;
	}
	st = job_state(job);
	(void)o;
	return st;
}

static void
test_every_event(void)
{
	static const enum job_event evs[] = { JEV_CONFIRMED, JEV_PUBLISHED, JEV_SCHEDULED,
	    JEV_CLAIMED, JEV_RENDERED, JEV_RETRY, JEV_FAILED, JEV_PREEMPTED, JEV_INTERRUPTED,
	    JEV_ABANDONED, JEV_EXPIRED, JEV_CANCELLED };
	static const enum job_state states[] = { JOB_QUEUED, JOB_RUNNING, JOB_RETRY_WAIT,
	    JOB_DONE, JOB_FAILED };

	for (size_t e = 0; e < sizeof(evs) / sizeof(evs[0]); e++)
		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
			int64_t asset;
			int to = job_next(evs[e], states[s]);
			const char *want = to >= 0 ? job_state_name((enum job_state)to) :
			    job_state_name(states[s]), *got = fire(evs[e], states[s], &asset);

			UNIT_STREQ(got, want, "%s from %s: %s", job_event_name(evs[e]),
			    job_state_name(states[s]), to >= 0 ? "the table's move" :
			    "not in the table: nothing changes");
		}
}

/* The table itself: each (event, from) of the jobs has one target, and
 * NONE is left only by creation and entered only by expiry. */
static void
test_table(void)
{
	int dup = 0, none_ok = 1;

	for (int i = 0; i < jobs_table_len; i++) {
		for (int k = i + 1; k < jobs_table_len; k++)
			dup += jobs_table[i].event == jobs_table[k].event &&
			    jobs_table[i].from == jobs_table[k].from;
		if ((jobs_table[i].from == JOB_NONE) != (jobs_table[i].event == JEV_CREATED) ||
		    (jobs_table[i].to == JOB_NONE) != (jobs_table[i].event == JEV_EXPIRED))
			none_ok = 0;
	}
	UNIT_CHECK(dup == 0, "each job event has one target from each state");
	UNIT_CHECK(none_ok, "jobs are created only by 'created' and removed only by 'expired'");
	UNIT_CHECK(job_next(JEV_CLAIMED, JOB_DONE) < 0 && job_next(JEV_RENDERED, JOB_QUEUED) < 0,
	    "a finished job is never claimed, a queued one never rendered");
	UNIT_STREQ(job_state_name(job_state_parse("RETRY_WAIT")), "RETRY_WAIT",
	    "state names parse back");
}

/* An illegal move is refused and logged, and changes nothing. */
static void
test_illegal(void)
{
	int64_t asset, job = job_in(JOB_DONE, &asset);
	char log[256], buf[4096] = "";
	int fd, saved = dup(2);
	ssize_t n;

	snprintf(log, sizeof(log), "%s/stderr", dir);
	fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	UNIT_CHECK(jobs_transition(job, JEV_CLAIMED, NULL) == -1,
	    "claiming a DONE job is refused");
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	UNIT_STREQ(job_state(job), "DONE", "... and the job stays DONE");
	UNIT_CHECK(strstr(buf, "level=warn") != NULL && strstr(buf, "bug: a transition") != NULL &&
	    strstr(buf, "from=DONE cause=claimed") != NULL, "... and it is logged as a bug");
	UNIT_CHECK(jobs_transition(job_in(JOB_QUEUED, &asset), JEV_PUBLISHED, NULL) == 1,
	    "a move the table has goes through jobs_transition");
}

/* --- what parents live through ------------------------------------------- */

static void
test_confirm(void)
{
	struct jobs_name n = name("main", "маша");
	int64_t asset, again, job;
	enum asset_state as;
	int new_jobs, r;

	fresh(3);
	r = jobs_confirmed(&n, &asset, &new_jobs);
	job = q("SELECT id FROM jobs");
	UNIT_CHECK(r == ORDER_RENDERING && new_jobs, "a new name: a job renders it");
	UNIT_STREQ(asset_state(asset), "PENDING", "... its asset PENDING");
	UNIT_STREQ(job_state(job), "QUEUED", "... its job QUEUED, unpublished");
	UNIT_CHECK(q("SELECT published_at IS NULL AND speculative = 0 FROM jobs") == 1,
	    "... for the relay");
	r = jobs_confirmed(&n, &again, &new_jobs);
	UNIT_CHECK(r == ORDER_RENDERING && again == asset && !new_jobs &&
	    q("SELECT count(*) FROM jobs") == 1, "a second confirm subscribes: no second job");
	UNIT_CHECK(jobs_asset_find(&n, &as) == asset && as == ASSET_PENDING,
	    "jobs_asset_find finds it");
}

static void
test_render_ok(void)
{
	struct jobs_name n = name("main", "маша");
	int64_t asset, job, attempt;
	struct jobs_claim c;
	int nj;

	fresh(3);
	jobs_confirmed(&n, &asset, &nj);
	request(asset, 100, "main");
	request(asset, 101, "main");
	job = q("SELECT id FROM jobs");
	UNIT_CHECK(jobs_claim(job, 0, &c) == 1 && c.asset == asset && strcmp(c.name, "маша") == 0,
	    "a worker claims the job");
	attempt = c.attempt;
	jobs_claim_free(&c);
	UNIT_STREQ(job_state(job), "RUNNING", "... RUNNING");
	UNIT_STREQ(asset_state(asset), "GENERATING", "... the asset GENERATING");
	UNIT_CHECK(q("SELECT attempts = 1 AND node = 'here' FROM jobs") == 1,
	    "... one attempt used");
	UNIT_CHECK(jobs_claim(job, 0, &c) == 1, "a duplicate entry on this node claims again");
	jobs_claim_free(&c);
	UNIT_CHECK(jobs_claim(job, CLAIM_SPECULATIVE, &c) == 0, "... but not as speculative");
	attempt = q("SELECT max(id) FROM attempts");
	UNIT_STREQ(jobs_finished(job, attempt, &ok_outcome), "ok", "the render succeeds");
	UNIT_STREQ(job_state(job), "DONE", "... DONE");
	UNIT_STREQ(asset_state(asset), "AVAILABLE", "... the asset AVAILABLE");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE kind = 'video' AND state = 'PENDING'") ==
	    2, "... a video row per waiting parent");
	UNIT_CHECK(q("SELECT count(*) FROM assets WHERE file_path = '/tmp/video.mp4'") == 1,
	    "... with the kept file");
	UNIT_STREQ(jobs_finished(job, attempt, &tempfail), "duplicate",
	    "a second outcome for a finished job is a duplicate");
	UNIT_STREQ(job_state(job), "DONE", "... and changes nothing");
}

static void
test_retries(void)
{
	struct jobs_name n = name("main", "маша");
	int64_t asset, job;
	struct jobs_claim c;
	int nj;

	fresh(3);
	jobs_confirmed(&n, &asset, &nj);
	request(asset, 100, "main");
	cfg.admin_chat_id = 555;
	job = q("SELECT id FROM jobs");
	for (int i = 1; i <= 3; i++) {
		db_run(db, "UPDATE jobs SET next_attempt_at = 0", "");
		jobs_claim(job, 0, &c);
		jobs_finished(job, c.attempt, &tempfail);
		jobs_claim_free(&c);
		if (i < 3) {
			UNIT_STREQ(job_state(job), "RETRY_WAIT", "attempt %d fails: RETRY_WAIT", i);
			UNIT_CHECK(q("SELECT next_attempt_at > strftime('%s','now') AND published_at "
			    "IS NULL FROM jobs") == 1, "... later, through the relay again");
			UNIT_STREQ(asset_state(asset), "PENDING", "... the asset PENDING");
		}
	}
	UNIT_STREQ(job_state(job), "FAILED", "the third failure is final (max_attempts 3)");
	UNIT_STREQ(asset_state(asset), "FAILED", "... the asset FAILED");
	UNIT_CHECK(q("SELECT count(*) FROM requests WHERE state = 'FAILED'") == 1,
	    "... its request FAILED");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE kind = 'notice' AND params LIKE "
	    "'%retry:%'") == 1, "... the parent told, with a retry button");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE kind = 'alert' AND chat_id = 555") == 1,
	    "... the admin alerted");

	/* A fatal code is final at once. */
	fresh(3);
	jobs_confirmed(&n, &asset, &nj);
	job = q("SELECT id FROM jobs");
	jobs_claim(job, 0, &c);
	jobs_finished(job, c.attempt, &bad_name);
	jobs_claim_free(&c);
	UNIT_STREQ(job_state(job), "FAILED", "a bad name fails at the first attempt");
	cfg.admin_chat_id = 0;
}

static void
test_retry_pressed(void)
{
	struct jobs_name n = name("main", "маша");
	int64_t asset, job, again;
	struct jobs_claim c;
	int nj, reqs;

	job = job_in(JOB_FAILED, &asset);
	request(asset, 100, "main");
	db_run(db, "UPDATE requests SET state = 'FAILED'", "");
	again = jobs_retry_pressed(asset, &reqs);
	UNIT_CHECK(again > job && reqs == 1, "retry on a FAILED asset: a new job, the parent "
	    "waits again");
	UNIT_STREQ(asset_state(asset), "PENDING", "... the asset PENDING");
	UNIT_STREQ(job_state(again), "QUEUED", "... the new job QUEUED");
	UNIT_CHECK(jobs_retry_pressed(asset, &reqs) == 0 && q("SELECT count(*) FROM jobs") == 2,
	    "pressed again: nothing more");
	jobs_claim(again, 0, &c);
	jobs_claim_free(&c);
	(void)n;
	(void)nj;
}

/* The crash paths: a drain, greetbotd's death, a preemption: none uses up
 * an attempt. Three crashes during one render do not fail the job. */
static void
test_crashes(void)
{
	int64_t asset, job = job_in(JOB_RUNNING, &asset);
	struct jobs_claim c;

	for (int i = 0; i < 3; i++) {
		UNIT_CHECK(jobs_recover() == 1, "greetbotd died mid-render (%d): recovered", i + 1);
		UNIT_STREQ(job_state(job), "QUEUED", "... the job back to QUEUED");
		UNIT_CHECK(q("SELECT attempts FROM jobs") == 0, "... no attempt used up");
		UNIT_STREQ(asset_state(asset), "PENDING", "... the asset PENDING");
		jobs_claim(job, 0, &c);
		jobs_claim_free(&c);
	}
	UNIT_CHECK(q("SELECT count(*) FROM attempts WHERE status = 'interrupted'") == 3,
	    "each crash is recorded as an interrupted attempt");
	jobs_finished(job, q("SELECT max(id) FROM attempts"), &tempfail);
	UNIT_STREQ(job_state(job), "RETRY_WAIT", "a real failure afterwards is attempt 1 of 3");

	job = job_in(JOB_RUNNING, &asset);
	db_run(db, "UPDATE jobs SET published_at = 5", "");
	jobs_stopped(job, q("SELECT max(id) FROM attempts"), STOP_DRAINED, 15, 2.5);
	UNIT_STREQ(job_state(job), "QUEUED", "a drain puts the job back");
	UNIT_CHECK(q("SELECT attempts = 0 AND published_at = 5 FROM jobs") == 1,
	    "... no attempt used, its stream entry kept");
	UNIT_CHECK(q("SELECT count(*) FROM attempts WHERE status = 'interrupted' AND signal = 15 "
	    "AND duration = 2.5") == 1, "... the attempt interrupted, with its signal");

	job = job_in(JOB_RUNNING, &asset);
	db_run(db, "UPDATE jobs SET published_at = 5", "");
	jobs_stopped(job, q("SELECT max(id) FROM attempts"), STOP_PREEMPTED, 9, 1);
	UNIT_STREQ(job_state(job), "QUEUED", "a preempted render's job goes back");
	UNIT_CHECK(q("SELECT attempts = 0 AND published_at IS NULL FROM jobs") == 1,
	    "... no attempt used, for the relay (if confirmed)");
	UNIT_STREQ(asset_state(asset), "PENDING", "... its asset PENDING");
}

static void
test_speculative(void)
{
	struct jobs_name n = name("main", "маша");
	int64_t asset, job;
	struct jobs_claim c;
	int nj, r;

	fresh(3);
	UNIT_CHECK(jobs_speculate(&n) == 1, "a preview starts a speculative job");
	UNIT_CHECK(jobs_speculate(&n) == 0, "... once");
	job = q("SELECT id FROM jobs");
	UNIT_CHECK(q("SELECT speculative FROM jobs") == 1, "... marked speculative");
	UNIT_CHECK(jobs_claim(job, CLAIM_SPECULATIVE, &c) == 1, "an idle worker takes it");
	jobs_claim_free(&c);
	r = jobs_confirmed(&n, &asset, &nj);
	UNIT_CHECK(r == ORDER_RENDERING && nj && q("SELECT speculative FROM jobs") == 0 &&
	    q("SELECT count(*) FROM jobs") == 1, "a confirm makes it ordinary: no second job");
	UNIT_STREQ(job_state(job), "RUNNING", "... it goes on running");

	/* A speculative failure: one attempt, nobody told. */
	fresh(3);
	jobs_speculate(&n);
	job = q("SELECT id FROM jobs");
	jobs_claim(job, CLAIM_SPECULATIVE, &c);
	jobs_finished(job, c.attempt, &tempfail);
	jobs_claim_free(&c);
	UNIT_STREQ(job_state(job), "FAILED", "a speculative render that fails is not retried");
	UNIT_CHECK(q("SELECT count(*) FROM outbox") == 0, "... and tells no one");
	r = jobs_confirmed(&n, &asset, &nj);
	UNIT_CHECK(r == ORDER_RENDERING && q("SELECT count(*) FROM jobs WHERE state = 'QUEUED' AND "
	    "speculative = 0") == 1, "a confirm then starts an ordinary job");

	/* Expiry: unstarted for the ttl, nothing else holds the asset. */
	fresh(3);
	jobs_speculate(&n);
	db_run(db, "UPDATE jobs SET created_at = 0", "");
	{
		int e, a;

		jobs_expire(60, 3600, &e, &a);
		UNIT_CHECK(e == 1 && q("SELECT count(*) FROM jobs") == 0 &&
		    q("SELECT count(*) FROM assets") == 0, "an unstarted speculative job expires "
		    "with its asset");
	}
}

/* Several bots: a name rendered once; the second bot shares the running
 * render or takes the video. */
static void
test_shares(void)
{
	struct jobs_name a = name("main", "маша"), b = name("kids", "маша");
	int64_t asset_a, asset_b, job;
	struct jobs_claim c;
	char path[256];
	int nj, r, fd;

	nbots = 2;
	fresh(3);
	jobs_confirmed(&a, &asset_a, &nj);
	job = q("SELECT id FROM jobs");
	r = jobs_confirmed(&b, &asset_b, &nj);
	request(asset_b, 200, "kids");
	UNIT_CHECK(r == ORDER_SHARED && q("SELECT count(*) FROM jobs") == 1 &&
	    q("SELECT shares FROM assets WHERE bot_id = 'kids'") == asset_a,
	    "another bot's confirm shares the running render");
	jobs_claim(job, 0, &c);
	snprintf(path, sizeof(path), "%s/1.mp4", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	jobs_finished(job, c.attempt, &(struct jobs_outcome){ .status = "ok", .ok = 1,
	    .kept = path });
	jobs_claim_free(&c);
	UNIT_STREQ(asset_state(asset_b), "AVAILABLE", "the render done: the sharer AVAILABLE too");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE kind = 'video' AND bot_id = 'kids'") == 1,
	    "... its parent gets the video from its own bot");

	fresh(3);
	jobs_confirmed(&a, &asset_a, &nj);
	db_run(db, "UPDATE assets SET state = 'AVAILABLE', file_path = ?", "s", path);
	db_run(db, "DELETE FROM jobs", "");
	r = jobs_confirmed(&b, &asset_b, &nj);
	UNIT_CHECK(r == ORDER_AVAILABLE && q("SELECT count(*) FROM jobs") == 0,
	    "another bot's video on disk is taken at once: no render");
	nbots = 1;
}

/*
 * An operator cancels requests (greetctl cancel): a render that another
 * request waits for goes on; the last request's cancel cancels a job not
 * started yet, with its asset and another bot's sharing it; a running
 * one finishes. The parent's waiting rows go; with tell, a line says so.
 */
static void
test_cancel(void)
{
	struct jobs_name a = name("main", "маша"), b = name("kids", "маша");
	int64_t asset, asset_b, job, r1, r2;
	struct jobs_cancel c;
	int nj;

	job = job_in(JOB_QUEUED, &asset);
	r1 = request(asset, 100, "main");
	r2 = request(asset, 101, "main");
	db_run(db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, request_id, "
	    "created_at) VALUES ('main', 100, 'progress', 'editMessageText', '{}', ?, 0)", "l", r1);
	UNIT_CHECK(jobs_request_cancelled(r1, 1, &c) == 1 && c.job == job && c.others == 1 &&
	    !c.stopped, "cancel one of two requests: cancelled, the job goes on for the other");
	UNIT_STREQ(job_state(job), "QUEUED", "... the job still QUEUED");
	UNIT_CHECK(q("SELECT state = 'CANCELLED' FROM requests WHERE id = 1") == 1 &&
	    q("SELECT count(*) FROM outbox WHERE kind = 'progress' AND state = 'PENDING'") == 0,
	    "... the request CANCELLED, its waiting progress edit dropped");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE method = 'deleteMessage' AND chat_id = "
	    "100") == 1 && q("SELECT count(*) FROM outbox WHERE method = 'sendMessage' AND "
	    "chat_id = 100 AND params LIKE '%отменён%'") == 1,
	    "... told: the \"order accepted\" message deleted, a line in the parent's language");
	UNIT_CHECK(jobs_request_cancelled(r1, 1, &c) == 0, "a second cancel does nothing");
	UNIT_CHECK(jobs_request_cancelled(r2, 0, &c) == 1 && c.others == 0 && c.stopped,
	    "cancel the last request: the job is cancelled");
	UNIT_STREQ(job_state(job), "FAILED", "... the job FAILED");
	UNIT_STREQ(asset_state(asset), "FAILED", "... its asset FAILED (a new order renders it)");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE chat_id = 101") == 0,
	    "... untold: nothing to that parent");

	job = job_in(JOB_RUNNING, &asset);
	r1 = request(asset, 100, "main");
	UNIT_CHECK(jobs_request_cancelled(r1, 0, &c) == 1 && c.running && !c.stopped,
	    "a running render's last request cancelled: it finishes");
	jobs_finished(job, q("SELECT max(id) FROM attempts"), &ok_outcome);
	UNIT_STREQ(asset_state(asset), "AVAILABLE", "... its video kept");
	UNIT_CHECK(q("SELECT count(*) FROM outbox WHERE kind = 'video'") == 0,
	    "... and sent to nobody");

	nbots = 2;
	fresh(3);
	jobs_confirmed(&a, &asset, &nj);
	job = q("SELECT id FROM jobs");
	r1 = request(asset, 100, "main");
	jobs_confirmed(&b, &asset_b, &nj);
	r2 = request(asset_b, 200, "kids");
	UNIT_CHECK(jobs_request_cancelled(r1, 0, &c) == 1 && c.others == 1 && !c.stopped,
	    "another bot's parent waits for the shared render: it goes on");
	UNIT_CHECK(jobs_request_cancelled(r2, 0, &c) == 1 && c.job == job && c.stopped,
	    "the sharer's request cancelled too: the render's job is cancelled");
	UNIT_CHECK(strcmp(asset_state(asset), "FAILED") == 0 &&
	    strcmp(asset_state(asset_b), "FAILED") == 0 &&
	    q("SELECT count(*) FROM assets WHERE shares IS NOT NULL") == 0,
	    "... both assets FAILED, the share undone");
	nbots = 1;
}

/* A render's frame size and duration are kept with its asset (and a
 * sharing asset's): sendVideo says them. */
static void
test_video_size(void)
{
	int64_t asset, job = job_in(JOB_RUNNING, &asset);
	struct jobs_outcome o = ok_outcome;

	o.width = 1280;
	o.height = 720;
	o.video_duration = 14.02;
	jobs_finished(job, q("SELECT max(id) FROM attempts"), &o);
	UNIT_CHECK(q("SELECT width = 1280 AND height = 720 AND video_duration = 14.02 FROM "
	    "assets") == 1, "a render's width, height and duration are kept with its asset");
	job = job_in(JOB_RUNNING, &asset);
	jobs_finished(job, q("SELECT max(id) FROM attempts"), &ok_outcome);
	UNIT_CHECK(q("SELECT width IS NULL AND height IS NULL AND video_duration IS NULL FROM "
	    "assets") == 1, "... unknown ones are NULL, not 0");
}

static void
test_result(void)
{
	int64_t asset, job = job_in(JOB_QUEUED, &asset);
	struct jobs_outcome o = ok_outcome;
	const char *status;

	o.result_id = "node2-1";
	o.node = "node2";
	UNIT_CHECK(jobs_result(job, &o, &status) == 1 && strcmp(status, "ok") == 0,
	    "a render node's result commits");
	UNIT_STREQ(job_state(job), "DONE", "... the job DONE (claimed by that node first)");
	UNIT_CHECK(q("SELECT node = 'node2' AND attempts = 1 FROM jobs") == 1,
	    "... one attempt, that node's");
	UNIT_CHECK(jobs_result(job, &o, &status) == 0, "the same result again commits nothing");
	o.result_id = "node3-1";
	UNIT_CHECK(jobs_result(job, &o, &status) == 1 && strcmp(status, "duplicate") == 0,
	    "another node's result for the finished job is a duplicate");
}

static void
test_file_gone(void)
{
	int64_t asset, job = job_in(JOB_DONE, &asset);

	UNIT_CHECK(jobs_file_gone(asset) == 1, "the video's file is gone: rendered again");
	UNIT_STREQ(asset_state(asset), "PENDING", "... the asset PENDING");
	UNIT_CHECK(q("SELECT count(*) FROM jobs WHERE state = 'QUEUED'") == 1 &&
	    q("SELECT file_path IS NULL FROM assets") == 1, "... with a new job");
	UNIT_CHECK(jobs_file_gone(asset) == 0, "... once");
	(void)job;
}

static void
test_abandoned(void)
{
	int64_t asset, job = job_in(JOB_RUNNING, &asset);
	int e, a;

	db_run(db, "UPDATE jobs SET node = 'gone', updated_at = 0, published_at = NULL", "");
	jobs_expire(3600, 60, &e, &a);
	UNIT_CHECK(a == 1, "a job another node held too long is taken back");
	UNIT_STREQ(job_state(job), "QUEUED", "... QUEUED");
	UNIT_CHECK(q("SELECT attempts FROM jobs") == 0 && q("SELECT count(*) FROM attempts WHERE "
	    "status = 'abandoned'") == 1, "... its attempt abandoned, not counted");
	UNIT_STREQ(asset_state(asset), "PENDING", "... the asset PENDING");
}

int
main(void)
{
	char err[512];

	if (mkdtemp(dir) == NULL)
		return 1;
	log_init("test_jobs", LOG_LEVEL_WARN);
	if (config_load(&cfg, NULL, err, sizeof(err)) == -1 ||
	    (tx = texts_load("messages", "ru", err, sizeof(err))) == NULL) {
		printf("not ok 1 - setup: %s\n", err);
		return 1;
	}
	test_table();
	test_every_event();
	test_illegal();
	test_confirm();
	test_render_ok();
	test_retries();
	test_retry_pressed();
	test_crashes();
	test_speculative();
	test_shares();
	test_result();
	test_cancel();
	test_video_size();
	test_file_gone();
	test_abandoned();
	db_close(db);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "%s/greetbot.db", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/greetbot.db-wal", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/greetbot.db-shm", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/stderr", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/1.mp4", dir);
		unlink(cmd);
		rmdir(dir);
	}
	texts_free(tx);
	return unit_done();
}
