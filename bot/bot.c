/* SPDX-License-Identifier: ISC */
/*
 * bot.c: greetbot-tg, the bot process (bot.h): its start, signals, and
 * the updates, by long polling or a webhook (webhook.c).
 *
 * Each update is applied in one SQLite transaction together with the
 * record of its update_id, and every reply is an outbox row written in that
 * same transaction: a crash before the commit loses nothing (Telegram sends
 * the update again), a crash after it repeats nothing (the id is known).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "bot.h"
#include "child.h"
#include "config.h"
#include "db.h"
#include "delivery.h"
#include "jobs.h"
#include "log.h"
#include "notice.h"
#include "privsep.h"
#include "renderer.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "template.h"
#include "texts.h"
#include "tg.h"
#include "update.h"
#include "webhook.h"
#include "xmalloc.h"

struct greetbot_tg bt;

static void poll_start(evutil_socket_t, short, void *);

/* --- updates -------------------------------------------------------------- */

#define PARK_AFTER	3	/* times an update may fail for its own data */

/* The update the database keeps refusing for its data, and how often. */
static struct {
	int64_t	 id;
	int	 tries;
} refused;

/* Chats told that the bot is busy, until the database takes work again:
 * each parent hears it once per outage, however often Telegram resends. */
#define BUSY_CHATS	256
static int64_t	busy_told[BUSY_CHATS];
static int	nbusy_told;

/*
 * The database cannot take this update now (locked, disk full): tell the
 * parent once that the bot is busy, directly (the outbox is in the
 * database), and leave the update to be applied again. -1.
 */
static int
update_wait(const struct update *up)
{
	cJSON *p;
	int i;

	if (up->chat_id == 0 || !up->private_chat)
		return -1;
	for (i = 0; i < nbusy_told; i++)
		if (busy_told[i] == up->chat_id)
			return -1;
	if (nbusy_told < BUSY_CHATS)
		busy_told[nbusy_told++] = up->chat_id;
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "chat_id", (double)up->chat_id);
	cJSON_AddStringToObject(p, "text", texts_get(bt.texts, texts_lang(bt.texts,
	    up->language), "busy"));
	tg_call(bt.tg, "sendMessage", p, 0, NULL, NULL);	/* nothing to record */
	log_warnx("a parent was told the bot is busy", "chat=%lld", (long long)up->chat_id);
	return -1;
}

/*
 * An update refused for its own data PARK_AFTER times (a bug, or input we
 * did not foresee): kept aside with its error (greetctl shows it, /metrics
 * counts it, the admin is told) and counted as processed, so that it can
 * never stop the updates behind it. 0 once parked, -1 when even that is
 * not taken.
 */
static int
update_park(const cJSON *u, int64_t id)
{
	char *body = cJSON_PrintUnformatted(u), *error = xstrdup(db_last_error());
	int r = -1;

	if (db_begin(bt.db) == 0) {
		db_run(bt.db, "INSERT INTO parked (bot_id, kind, ref, error, payload, created_at) "
		    "VALUES (?, 'update', ?, ?, ?, ?)", "slssl", bt.cfg.bot_id, id, error, body,
		    db_now());
		db_run(bt.db, "INSERT OR IGNORE INTO updates (bot_id, update_id, processed_at) "
		    "VALUES (?, ?, ?)", "sll", bt.cfg.bot_id, id, db_now());
		notice_alert(bt.cfg.bot_id, "parked_update", "An update could not be applied "
		    "and was set aside: see greetctl parked.");
		if ((r = db_commit(bt.db)) == 0)
			log_warnx("update parked: it failed every time", "update_id=%lld tries=%d",
			    (long long)id, refused.tries);
	}
	free(body);
	free(error);
	return r;
}

/*
 * Apply one update exactly once (see the comment at the top). 0 applied
 * (or applied before, or parked); -1 the database could not take it now:
 * nothing changed, and it is applied again later.
 */
static int
update_apply(const cJSON *u)
{
	struct update up;
	int64_t id;

	update_parse(u, &up);
	id = up.id;
	if (db_begin(bt.db) == -1)
		return update_wait(&up);
	if (db_int(bt.db, 0, "SELECT 1 FROM updates WHERE bot_id = ? AND update_id = ?", "sl",
	    bt.cfg.bot_id, id)) {
		db_rollback(bt.db);
		return 0;
	}
	conversation_update(&up);
	db_run(bt.db, "INSERT INTO updates (bot_id, update_id, processed_at) VALUES (?, ?, ?)",
	    "sll", bt.cfg.bot_id, id, db_now());
	db_run(bt.db, "INSERT INTO bot_state (bot_id, update_offset) VALUES (?, ?) ON CONFLICT "
	    "(bot_id) DO UPDATE SET update_offset = max(update_offset, excluded.update_offset)",
	    "sl", bt.cfg.bot_id, id + 1);
	if (db_commit(bt.db) == 0) {
		nbusy_told = 0;
		refused.id = 0;
		return 0;
	}
	if (db_problem(NULL) != NULL)
		return update_wait(&up);	/* the database's condition */
	if (refused.id != id) {
		refused.id = id;
		refused.tries = 0;
	}
	if (++refused.tries < PARK_AFTER)
		return -1;
	return update_park(u, id);
}

static void
poll_again(int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (!bt.stopping)
		evtimer_add(bt.poll_ev, &tv);
}

/* The webhook is deleted: polling may start. */
static void
poll_now(void)
{
	poll_again(0);
}

/* The update kinds the bot acts on; getUpdates and setWebhook ask for
 * the same list. */
static cJSON *
allowed_updates(void)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, cJSON_CreateString("message"));
	cJSON_AddItemToArray(a, cJSON_CreateString("callback_query"));
	cJSON_AddItemToArray(a, cJSON_CreateString("my_chat_member"));
	cJSON_AddItemToArray(a, cJSON_CreateString("edited_message"));
	return a;
}

/* An update POSTed to the webhook: committed when this returns, and only
 * then answered (webhook.c); then what polling does after a batch. */
static int
webhook_update(const cJSON *u)
{
	int r = update_apply(u);

	delivery_kick();
	if (bt.new_jobs > 0)
		notify_jobs();
	bt.new_jobs = 0;
	return r;
}

static void
poll_done(const struct tg_result *r, void *arg)
{
	const cJSON *u;
	int failed = 0;

	(void)arg;
	bt.poll = NULL;
	if (!r->ok) {
		int wait = r->retry_after > 0 ? r->retry_after :
		    (bt.backoff = bt.backoff ? (bt.backoff * 2 > 30 ? 30 : bt.backoff * 2) : 1);
		log_warnx("getUpdates failed", "status=%ld retry_in=%d", r->http_status, wait);
		if (r->error_code == 401 || r->error_code == 404)
			log_warnx("the bot token is not accepted: check telegram_token");
		/* A webhook is set (by another instance, or still from webhook
		 * mode): Telegram refuses getUpdates until it is deleted. */
		if (r->error_code == 409 && strstr(r->description, "webhook") != NULL) {
			log_warnx("a webhook is set: deleting it to poll");
			webhook_delete(bt.base, bt.tg, NULL);
		}
		poll_again(wait);
		return;
	}
	cJSON_ArrayForEach(u, r->result) {
		int64_t id = tg_json_int64(u, "update_id");

		/* Not taken: this one and those after it come again at the
		 * next getUpdates from the same offset, after a backoff. */
		if (update_apply(u) == -1) {
			failed = 1;
			break;
		}
		if (id >= bt.offset)
			bt.offset = id + 1;
	}
	/* The database cannot take work: the parents whose updates wait
	 * behind the one refused are told once too, not only the first. */
	if (failed && db_problem(NULL) != NULL)
		while ((u = u->next) != NULL) {
			struct update up;

			update_parse(u, &up);
			update_wait(&up);
		}
	delivery_kick();
	if (bt.new_jobs > 0)
		notify_jobs();
	bt.new_jobs = 0;
	if (failed) {
		bt.backoff = bt.backoff ? (bt.backoff * 2 > 30 ? 30 : bt.backoff * 2) : 1;
		poll_again(bt.backoff);
		return;
	}
	bt.backoff = 0;
	poll_again(0);
}

static void
poll_start(evutil_socket_t fd, short what, void *arg)
{
	cJSON *p = cJSON_CreateObject();

	(void)fd;
	(void)what;
	(void)arg;
	cJSON_AddNumberToObject(p, "offset", (double)bt.offset);
	cJSON_AddNumberToObject(p, "timeout", bt.cfg.poll_timeout);
	cJSON_AddItemToObject(p, "allowed_updates", allowed_updates());
	bt.poll = tg_call(bt.tg, "getUpdates", p, (bt.cfg.poll_timeout + 15) * 1000L,
	    poll_done, NULL);
}
/* --- process -------------------------------------------------------------- */

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	delivery_kick();
}

#define STOP_WAIT	5	/* seconds the calls in flight get at SIGTERM */

static int	parent_stop;	/* stopping because greetbotd's channel closed */

static void
on_stopped(void)
{
	event_base_loopexit(bt.base, NULL);
}

/*
 * Stop: no new poll, no new send; the calls in flight finish first (a send
 * Telegram carried out but whose answer we never read would go again after
 * the restart), for at most STOP_WAIT seconds. A second signal stops now.
 */
static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { STOP_WAIT, 0 };

	(void)what;
	(void)arg;
	log_info("stopping", "signal=%d", (int)sig);
	if (bt.stopping && parent_stop) {
		parent_stop = 0;	/* the parent-death signal: not a second one */
		return;
	}
	if (bt.stopping) {
		event_base_loopexit(bt.base, NULL);
		return;
	}
	bt.stopping = 1;
	webhook_stop();		/* Telegram sends later updates again */
	event_base_loopexit(bt.base, &tv);
	delivery_stop(on_stopped);
}

/* greetbotd is gone (its render channel closed): stop as at its SIGTERM,
 * which the parent-death signal brings too (not a second one, then). */
static void
parent_gone(void)
{
	if (!bt.stopping) {
		on_term(SIGTERM, 0, NULL);
		parent_stop = 1;
	}
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct texts *tx;
	char err[512], changed[512], snapshot[4096];

	snprintf(snapshot, sizeof(snapshot), "%s/templates", bt.render_dir);
	if (config_reload(&bt.cfg, changed, sizeof(changed), err, sizeof(err)) == -1)
		log_warnx("reload: configuration kept", "reason=%s", err);
	else if (changed[0] != '\0') {
		log_info("configuration reloaded", "changed=%s", changed);
		delivery_set_rates(bt.cfg.rate_global, bt.cfg.rate_chat);
	}
	(void)sig;
	(void)what;
	(void)arg;
	if ((tx = texts_load(bt.cfg.messages_dir, bt.cfg.default_language, err, sizeof(err))))
		texts_free(bt.texts), bt.texts = tx;
	else
		log_warnx("reload: texts kept", "reason=%s", err);
	(void)template_reload(&bt.tmpl, bt.cfg.templates_dir, bt.cfg.default_template,
	    bt.cfg.render_script, snapshot);
	log_info("reloaded", "template_version=%s", bt.tmpl.version);
}

static int env_fd(const char *);

/* Our preview cache; when we run alone (not started by greetbotd, which
 * renders for us: GREETBOT_RENDER_FD), the render tree and the renderers'
 * isolation, as greetbotd makes them. */
static void
setup_dirs(void)
{
	char err[512];

	if (getenv("GREETBOT_RENDER_FD") != NULL)
		xasprintf(&bt.render_dir, "%s/render", bt.cfg.state_dir);
	else
		bt.render_dir = render_dirs(bt.cfg.state_dir);
	xasprintf(&bt.previews_dir, "%s/previews", bt.cfg.state_dir);
	if (mkdir(bt.previews_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", bt.previews_dir);
	if (getenv("GREETBOT_RENDER_FD") != NULL)
		return;
	/* Before libcurl starts threads: the namespace is made by unshare. */
	if (sandbox_init(&bt.sb, &bt.cfg, SANDBOX_SLOT_BOT(bt.cfg.bot_index) + SANDBOX_PREVIEWS,
	    err, sizeof(err)) == -1)
		fatalx("renderers cannot be isolated", "reason=%s", err);
	/* Preview renderers a greetbot-tg before us left behind. */
	for (int i = 0; i < SANDBOX_PREVIEWS; i++)
		sandbox_kill_slot(&bt.sb, SANDBOX_SLOT_BOT(bt.cfg.bot_index) + i);
}

/* Where previews are rendered: by greetbotd's parent, or by ourselves. */
static void
setup_renders(void)
{
	static struct rendsrv_env env;
	int fd;

	if ((fd = env_fd("GREETBOT_RENDER_FD")) >= 0) {
		render_connect(bt.base, fd, parent_gone);
		return;
	}
	/* Alone: every preview with a cache of its own (a shared one is
	 * greetbotd's to build and seal). */
	xasprintf(&bt.work_root, "%s/work", bt.render_dir);
	env.base = bt.base;
	env.sb = &bt.sb;
	env.work_root = bt.work_root;
	env.work_fd = render_dir_open(bt.work_root);
	env.cache_fd = -1;
	render_serve_self(&env, SANDBOX_SLOT_BOT(bt.cfg.bot_index), SANDBOX_PREVIEWS);
}

/* Whether a reload can read path again after the drop; a warning with
 * the fix when it cannot. */
static void
readable_later(const char *path, const struct service_user *su)
{
	char fix[1024];
	int fd;

	if (path == NULL || *path == '\0')
		return;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) != -1) {
		close(fd);
		return;
	}
	snprintf(fix, sizeof(fix), "chgrp %u %s; chmod 640 %s", (unsigned)su->gid, path, path);
	log_warn("a reload (SIGHUP) cannot re-read this file as the service user: give it "
	    "the service user's group", "path=%s fix=%s", path, fix);
}

/*
 * Root is needed only to read what the sysadmin keeps root's (the
 * configuration, the token file) and to open the database: from here on
 * we read the network (the Bot API's answers, the webhook, names typed by
 * parents) as the service user, for good. Not when we render our own
 * previews (started by hand, as root): starting renderers as their
 * slots' uids needs root.
 */
static void
drop_privileges(void)
{
	struct service_user su;
	char err[512];
	int fd;

	if (geteuid() != 0)
		return;
	if (getenv("GREETBOT_RENDER_FD") == NULL) {
		log_warnx("running as root: we render our own previews (greetbotd's bots "
		    "run unprivileged)");
		return;
	}
	if (service_user_resolve(&bt.cfg, &su, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if ((fd = open(bt.previews_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fatal("cannot open the previews", "path=%s", bt.previews_dir);
	if (service_give_tree(fd) == -1)
		log_warn("cannot give every preview to the service user", "path=%s",
		    bt.previews_dir);
	close(fd);
	if (priv_drop(&su, err, sizeof(err)) == -1)
		fatalx("cannot run unprivileged", "reason=%s", err);
	log_info("running unprivileged", "user=%s uid=%u", su.name, (unsigned)su.uid);
	/* SIGHUP re-reads these as the service user: say now if it cannot. */
	readable_later(bt.config_path, &su);
	readable_later(bt.cfg.telegram_token_file, &su);
	readable_later(bt.cfg.templates_dir, &su);
	readable_later(bt.cfg.messages_dir, &su);
}

/* Tell greetbotd there are jobs to relay (a lost byte costs a second). */
void
notify_jobs(void)
{
	if (bt.notify_fd >= 0)
		(void)!write(bt.notify_fd, "j", 1);
}

static int
env_fd(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? atoi(v) : -1;
}

/*
 * The Bot API's health as this bot sees it, for greetbotd's /health: since
 * when its calls fail for the server's or the network's reasons (5xx, no
 * connection, no answer), 0 while they succeed. Written when it changes.
 * A 4xx is the call's own problem, and a 429 the flood limit: not failing.
 */
static void
api_observe(const char *method, const struct tg_result *r, void *arg)
{
	int failing = !r->ok && (r->transport_error || r->http_status == 0 ||
	    r->http_status >= 500);

	(void)arg;
	if (!r->ok && !failing)
		return;
	if (failing == (bt.api_failing_since != 0))
		return;
	bt.api_failing_since = failing ? db_now() : 0;
	if (failing)
		log_warnx("the Bot API fails", "method=%s status=%ld description=%s", method,
		    r->http_status, r->description);
	else
		log_info("the Bot API answers again");
	db_run(bt.db, "INSERT INTO bot_state (bot_id, api_failing_since, api_error) VALUES "
	    "(?, ?, ?) ON CONFLICT (bot_id) DO UPDATE SET api_failing_since = "
	    "excluded.api_failing_since, api_error = excluded.api_error", "sls", bt.cfg.bot_id,
	    bt.api_failing_since, failing ? r->description : NULL);
	if (!failing)
		delivery_api_back();
}

/* The bot's own configuration, for the alerts it writes (its admin). */
static const struct config *
own_config(const char *bot)
{
	(void)bot;
	return &bt.cfg;
}

static void
setup(void)
{
	char err[512], *snapshot;
	enum log_level lvl;
	struct event *ev;
	int wake_fd;

	log_init("greetbot-tg", LOG_LEVEL_INFO);
	if (config_load(&bt.cfg, bt.config_path, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	/* Of several bots, the one named (greetbotd runs one of us per bot). */
	if (config_select(&bt.cfg, bt.bot_name, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if (bt.cfg.nbots > 1)
		log_set_bot(bt.cfg.bot_id);
	if (log_level_parse(bt.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	if (*bt.cfg.telegram_token == '\0')
		fatalx("no telegram_token or telegram_token_file configured");
	log_add_secret(bt.cfg.telegram_token);
	log_add_secret(bt.cfg.webhook_secret);
	if ((bt.texts = texts_load(bt.cfg.messages_dir, bt.cfg.default_language, err,
	    sizeof(err))) == NULL)
		fatalx("texts cannot be loaded", "reason=%s", err);
	setup_dirs();
	xasprintf(&snapshot, "%s/templates", bt.render_dir);
	if (template_load(&bt.tmpl, bt.cfg.templates_dir, bt.cfg.default_template,
	    bt.cfg.render_script, snapshot, err, sizeof(err)) == -1)
		fatalx("template cannot be loaded", "reason=%s", err);
	free(snapshot);
	if ((bt.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	signal(SIGPIPE, SIG_IGN);
	child_init(bt.base);
	setup_renders();
	drop_privileges();
	/* As the service user (greetbotd made its files ours: db_ready). */
	bt.db = db_open(bt.cfg.db_path);
	/* Orders and retries move jobs; greetbotd writes the notices. */
	jobs_init(&(struct jobs_env){ .db = bt.db, .node = bt.cfg.node_name,
	    .max_attempts = bt.cfg.max_attempts, .alert_window = bt.cfg.alert_window,
	    .nbots = bt.cfg.nbots, .bot_config = own_config });
	bt.offset = db_int(bt.db, 0, "SELECT update_offset FROM bot_state WHERE bot_id = ?",
	    "s", bt.cfg.bot_id);
	bt.tg = tg_new(bt.base, bt.cfg.telegram_api_url, bt.cfg.telegram_token);
	tg_set_observer(bt.tg, api_observe, NULL);
	delivery_init(bt.base, bt.db, bt.tg, bt.cfg.bot_id);
	delivery_set_preview(preview_make);
	delivery_set_jobs_notify(notify_jobs);
	delivery_set_rates(bt.cfg.rate_global, bt.cfg.rate_chat);
	ev = evsignal_new(bt.base, SIGTERM, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(bt.base, SIGINT, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(bt.base, SIGHUP, on_hup, NULL);
	evsignal_add(ev, NULL);
	if ((wake_fd = env_fd("GREETBOT_WAKE_FD")) >= 0) {
		fcntl(wake_fd, F_SETFL, O_NONBLOCK);
		ev = event_new(bt.base, wake_fd, EV_READ | EV_PERSIST, on_wake, NULL);
		event_add(ev, NULL);
	}
	bt.notify_fd = env_fd("GREETBOT_NOTIFY_FD");
	bt.poll_ev = evtimer_new(bt.base, poll_start, NULL);
}

/* Updates by webhook (our HTTP server, then setWebhook) or by polling
 * (deleteWebhook first: Telegram refuses getUpdates while one is set). */
static void
telegram_start(void)
{
	char bound[300];

	if (strcmp(bt.cfg.telegram_mode, "webhook") != 0) {
		webhook_delete(bt.base, bt.tg, poll_now);
		return;
	}
	if (webhook_start(bt.base, bt.tg, &bt.cfg, allowed_updates(), webhook_update,
	    bound, sizeof(bound)) == -1)
		fatal("cannot listen", "webhook_listen=%s", bt.cfg.webhook_listen);
	log_info("webhook listening", "addr=%s path=%s", bound, bt.cfg.webhook_path);
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "b:c:")) != -1) {
		if (ch == 'c')
			bt.config_path = optarg;
		else if (ch == 'b')
			bt.bot_name = optarg;
		else {
			fprintf(stderr, "usage: greetbot-tg [-c config] [-b bot]\n");
			return 2;
		}
	}
	setup();
	log_info("started", "offset=%lld template_version=%s mode=%s", (long long)bt.offset,
	    bt.tmpl.version, bt.cfg.telegram_mode);
	telegram_start();
	delivery_kick();
	event_base_dispatch(bt.base);
	webhook_stop();
	tg_free(bt.tg);
	db_close(bt.db);
	return 0;
}
