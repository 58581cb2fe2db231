/* SPDX-License-Identifier: ISC */
/*
 * proc.c: greetbotd's jobs process, "greetbotd --jobs", started by the
 * privileged parent (supervisor/) and restarted by it when it dies.
 *
 * It holds everything of greetbotd that reads what others wrote: the
 * database, the Redis Stream (hiredis), the HTTP endpoints (/health,
 * /metrics) and the outputs of renders (as descriptors the parent opened
 * without following anything). It opens the database and binds the HTTP
 * port as root, then becomes the service user for good (privsep.h) before
 * its loop reads a byte of any of them. Renders are asked of the parent
 * over fd 4 (rendproto.h), as each greetbot-tg asks for its previews; the
 * rest goes over the control channel on fd 3 (jobsproto.h); the bots poke
 * fd 5 when they wrote jobs.
 *
 * Like the parent's other children it dies with it (SIGKILL: SQLite is
 * the truth, and whatever it had not committed is done again).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "chan.h"
#include "config.h"
#include "db.h"
#include "health.h"
#include "jobs.h"
#include "jobsproto.h"
#include "log.h"
#include "privsep.h"
#include "proc.h"
#include "renderer.h"
#include "runner.h"
#include "texts.h"
#include "xmalloc.h"

struct jobsproc jp;

/* Seconds the bots' Bot API calls may fail before /health says so. */
#define API_FAILING	5
/* Seconds a port held by the jobs process of a greetbotd that was just
 * killed is waited for. */
#define BIND_WAIT	5

/* --- the bots ------------------------------------------------------------ */

static struct jobs_bot *
bot_find(const char *id, int add)
{
	struct jobs_bot *b, **end = &jp.bots;

	for (b = jp.bots; b != NULL; end = &b->next, b = b->next)
		if (strcmp(b->id, id) == 0)
			return b;
	if (!add)
		return NULL;
	b = xcalloc(1, sizeof(*b));
	b->id = xstrdup(id);
	*end = b;
	return b;
}

static struct texts *
bot_texts(const char *id)
{
	struct jobs_bot *b = id != NULL ? bot_find(id, 0) : NULL;

	return b != NULL && b->texts != NULL ? b->texts : jp.texts;
}

static const struct config *
bot_cfg(const char *id)
{
	const struct config_bot *b = id != NULL ? config_bot(&jp.cfg, id) : NULL;

	return b != NULL ? b->cfg : &jp.cfg;
}

/* The texts of the top level and of every configured bot: at start
 * (fatal when they cannot be loaded) and at a reload (kept then). */
static void
texts_setup(int reload)
{
	struct texts *tx;
	char err[512];

	if ((tx = texts_load(jp.cfg.messages_dir, jp.cfg.default_language, err,
	    sizeof(err))) == NULL) {
		if (!reload)
			fatalx("texts cannot be loaded", "reason=%s", err);
		log_warnx("reload: texts kept", "reason=%s", err);
	} else {
		texts_free(jp.texts);
		jp.texts = tx;
	}
	for (int i = 0; jp.cfg.db_path[0] != '\0' && i < jp.cfg.nbots; i++) {
		const struct config *bc = jp.cfg.bots[i].cfg;
		struct jobs_bot *b = bot_find(jp.cfg.bots[i].id, 1);

		if ((tx = texts_load(bc->messages_dir, bc->default_language, err,
		    sizeof(err))) == NULL) {
			if (!reload)
				fatalx("texts cannot be loaded", "bot=%s reason=%s", b->id, err);
			log_warnx("texts not loaded", "bot=%s reason=%s", b->id, err);
			continue;
		}
		texts_free(b->texts);
		b->texts = tx;
	}
}

/* Tell the parent: the bots' outboxes have rows to send. */
static void
wake_bots(void)
{
	struct jp_msg m = { JP_WAKE_BOTS };

	(void)chan_send(jp.ctl, &m, sizeof(m), NULL, 0);
}

/* Redis answers: the parent says we are ready once the bots run too. */
static void
connected(void)
{
	struct jp_msg m = { JP_READY };

	(void)chan_send(jp.ctl, &m, sizeof(m), NULL, 0);
}

/* --- draining ------------------------------------------------------------ */

/* Once no render runs and no output syncs, every outcome is committed
 * and acknowledged: the loop ends, and so do we. */
static void
drain_check(void)
{
	if (!jp.draining || rn.running > 0 || rn.keeping > 0)
		return;
	runner_free();
	event_base_loopexit(jp.base, NULL);
}

static void
drain_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	runner_drain_kill();
}

/* From the parent: drain (no new jobs; the running renders get
 * drain_grace seconds), or, a second time, stop the renders now. */
static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { jp.cfg.drain_grace, 0 };

	(void)what;
	(void)arg;
	if (jp.draining) {
		runner_drain_kill();
		return;
	}
	log_info("draining", "signal=%d running=%d", (int)sig, rn.running);
	jp.draining = 1;
	runner_drain();
	evtimer_add(jp.drain_ev, &tv);
	drain_check();
}

/*
 * A reload, asked by the parent once it has reloaded and sent the
 * templates anew (JP_RELOAD): the configuration, the workers, the texts.
 * The parent says what changed in the configuration, and why a reload
 * failed. (A SIGHUP sent to us alone does the same, with the templates
 * we have.)
 */
static void
reload(void)
{
	char err[512], changed[512];
	enum log_level lvl;

	if (config_reload(&jp.cfg, changed, sizeof(changed), err, sizeof(err)) == 0 &&
	    log_level_parse(jp.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	runner_reload();
	texts_setup(1);
	log_info("reloaded", "template=%s version=%s", jp.tmpl.id != NULL ? jp.tmpl.id : "",
	    jp.tmpl.version != NULL ? jp.tmpl.version : "");
	/* The parent reloads the bots now: the jobs they make from here on
	 * are rendered with what we have. */
	(void)chan_send(jp.ctl, &(struct jp_msg){ JP_RELOADED }, sizeof(struct jp_msg), NULL, 0);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	reload();
}

/* A template as the parent loaded and snapshotted it: the default, or one
 * a job may name (runner_template finds it by id). */
static void
template_told(const struct jp_template *m)
{
	struct template t = { 0 };
	struct tmpl_list *l;

	if (memchr(m->id, '\0', sizeof(m->id)) == NULL ||
	    memchr(m->version, '\0', sizeof(m->version)) == NULL ||
	    memchr(m->dir, '\0', sizeof(m->dir)) == NULL ||
	    memchr(m->script, '\0', sizeof(m->script)) == NULL ||
	    memchr(m->language, '\0', sizeof(m->language)) == NULL) {
		log_warnx("a bad template from greetbotd");
		return;
	}
	t.id = xstrdup(m->id);
	t.version = xstrdup(m->version);
	t.dir = xstrdup(m->dir);
	t.script = xstrdup(m->script);
	t.language = xstrdup(m->language);
	t.min_duration = m->min_duration;
	t.max_duration = m->max_duration;
	if (m->is_default) {
		template_free(&jp.tmpl);
		jp.tmpl = t;
		return;
	}
	for (l = rn.tmpls; l != NULL && strcmp(l->t.id, t.id) != 0; l = l->next)
		;
	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		l->next = rn.tmpls;
		rn.tmpls = l;
	} else
		template_free(&l->t);
	l->t = t;
}

/* --- what comes from the parent ------------------------------------------ */

static void
redis_connect(void)
{
	char *url;

	if (*jp.cfg.redis_url != '\0')
		url = xstrdup(jp.cfg.redis_url);
	else
		xasprintf(&url, "unix:%s/redis/redis.sock", jp.cfg.state_dir);
	runner_connect(url);
	free(url);
}

/* Copy a message of exactly the size of its type, or say it is not. */
#define ctl_take(m, msg, len) (len == sizeof(m) ? (memcpy(&(m), msg, sizeof(m)), 1) : 0)

static void
ctl_msg(struct chan *c, const void *msg, size_t len, int *fds, int nfds, void *arg)
{
	uint32_t type = 0;
	struct jp_sandbox sb;
	struct jp_bot bm;
	struct jp_render rm;
	struct jp_template tm;
	struct jp_msg m;
	struct jobs_bot *b;

	(void)c;
	(void)arg;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (len >= sizeof(type))
		memcpy(&type, msg, sizeof(type));
	switch (type) {
	case JP_SANDBOX:
		if (!ctl_take(sb, msg, len))
			break;
		jp.sb.drop = sb.drop;
		jp.sb.uid_base = sb.uid_base;
		jp.sb.user_uid = sb.user_uid;
		jp.sb.gid = sb.gid;
		return;
	case JP_REDIS:
		if (!ctl_take(m, msg, len))
			break;
		redis_connect();
		return;
	case JP_BOT:
		if (!ctl_take(bm, msg, len) || memchr(bm.id, '\0', sizeof(bm.id)) == NULL)
			break;
		b = bot_find(bm.id, 1);
		b->told = 1;
		b->up = bm.up != 0;
		b->enabled = bm.enabled != 0;
		return;
	case JP_RENDER:
		if (!ctl_take(rm, msg, len) || memchr(rm.why, '\0', sizeof(rm.why)) == NULL)
			break;
		free(jp.render_problem);
		jp.render_problem = rm.why[0] != '\0' ? xstrdup(rm.why) : NULL;
		runner_pause(jp.render_problem);
		return;
	case JP_TEMPLATE:
		if (!ctl_take(tm, msg, len))
			break;
		template_told(&tm);
		return;
	case JP_RELOAD:
		if (!ctl_take(m, msg, len))
			break;
		reload();
		return;
	}
	log_warnx("a bad message from greetbotd", "type=%u size=%zu", (unsigned)type, len);
}

/* The parent is gone (it was killed: its parent-death SIGKILL is on the
 * way) or broke the channel: nothing can render, nothing is ours to do. */
static void
parent_gone(void)
{
	fatalx("greetbotd is gone");
}

static void
ctl_closed(struct chan *c, void *arg)
{
	(void)c;
	(void)arg;
	parent_gone();
}

/* --- events -------------------------------------------------------------- */

/* The bots wrote jobs: relay now rather than at the tick. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	runner_wake();
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	runner_tick();
}

/* --- the HTTP endpoints -------------------------------------------------- */

static const char *
src_bot_problem(void)
{
	static char why[600];
	sqlite3_stmt *st;
	int n = 0;

	for (struct jobs_bot *b = jp.bots; b != NULL; b = b->next)
		n += b->told;
	for (struct jobs_bot *b = jp.bots; b != NULL; b = b->next) {
		if (!b->told || !b->enabled || b->up)
			continue;
		if (n == 1)
			return "greetbot-tg is not running";
		snprintf(why, sizeof(why), "greetbot-tg of bot %s is not running", b->id);
		return why;
	}
	if (jp.db == NULL)
		return NULL;
	/* The Bot API as the bots see it: failing for API_FAILING s. */
	why[0] = '\0';
	st = db_prep(jp.db, "SELECT bot_id, api_failing_since, api_error FROM bot_state WHERE "
	    "api_failing_since > 0 AND api_failing_since <= ? ORDER BY api_failing_since "
	    "LIMIT 1", "l", db_now() - API_FAILING);
	if (db_step(st) == SQLITE_ROW)
		snprintf(why, sizeof(why), "the Bot API fails for bot %s since %lld s: %.300s",
		    (const char *)sqlite3_column_text(st, 0), (long long)(db_now() -
		    sqlite3_column_int64(st, 1)), sqlite3_column_text(st, 2) != NULL ?
		    (const char *)sqlite3_column_text(st, 2) : "?");
	db_done(st);
	return why[0] != '\0' ? why : NULL;
}

static int
src_busy(void)
{
	return rn.running;
}

static const char *
src_render_problem(void)
{
	return jp.render_problem;
}

/* The runner's counters, and each bot's state. */
static void
src_node_metrics(struct evbuffer *b)
{
	int n = 0;

	runner_node_metrics(b);
	for (struct jobs_bot *x = jp.bots; x != NULL; x = x->next)
		n += x->told;
	if (n == 0)
		return;
	evbuffer_add_printf(b, "# HELP greetbot_bot_up Whether the bot's greetbot-tg "
	    "runs.\n# TYPE greetbot_bot_up gauge\n");
	for (struct jobs_bot *x = jp.bots; x != NULL; x = x->next)
		if (x->told)
			evbuffer_add_printf(b, "greetbot_bot_up{bot=\"%s\"} %d\n", x->id, x->up);
	evbuffer_add_printf(b, "# HELP greetbot_bot_enabled Whether the bot is enabled "
	    "in the configuration.\n# TYPE greetbot_bot_enabled gauge\n");
	for (struct jobs_bot *x = jp.bots; x != NULL; x = x->next)
		if (x->told)
			evbuffer_add_printf(b, "greetbot_bot_enabled{bot=\"%s\"} %d\n", x->id,
			    x->enabled);
}

/* Bound as root (a port below 1024 is the sysadmin's to choose); a port
 * that is taken is fatal, not a silent skip, once the jobs process of a
 * greetbotd killed just before us had the time to go. */
static void
setup_http(void)
{
	struct health_source hs = { runner_redis_problem, src_bot_problem,
	    runner_queue_depth, src_busy, src_render_problem, src_node_metrics, jp.cfg.workers,
	    NULL, jp.cfg.state_dir };	/* the database later: health_set_db */
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	if (*jp.cfg.http_listen == '\0')
		return;
	for (int i = 0; health_start(jp.base, jp.cfg.http_listen, &hs, jp.http_addr,
	    sizeof(jp.http_addr)) == -1; i++) {
		if (errno != EADDRINUSE || i == BIND_WAIT * 10)
			fatal("cannot listen", "http_listen=%s", jp.cfg.http_listen);
		nanosleep(&pause, NULL);
	}
	log_info("http listening", "addr=%s", jp.http_addr);
}

/* Root is needed to bind (a port below 1024): from here on, the service
 * user, who then opens the database (greetbotd made its files ours). */
static void
drop_privileges(const struct service_user *su)
{
	char err[512];

	if (!su->set)
		return;
	if (priv_drop(su, err, sizeof(err)) == -1)
		fatalx("cannot run unprivileged", "reason=%s", err);
	log_info("running unprivileged", "user=%s uid=%u", su->name, (unsigned)su->uid);
}

static void
setup(void)
{
	struct service_user su;
	char err[512];
	enum log_level lvl;

	log_init("greetbotd-jobs", LOG_LEVEL_INFO);
	(void)prctl(PR_SET_NAME, "greetbotd-jobs");
	/* The parent said the configuration's warnings; a reload's too. */
	if (config_load(&jp.cfg, jp.config_path, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if (log_level_parse(jp.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	log_add_secret(jp.cfg.telegram_token);
	log_add_secret(jp.cfg.webhook_secret);
	for (int i = 0; i < jp.cfg.nbots; i++) {
		log_add_secret(jp.cfg.bots[i].cfg->telegram_token);
		log_add_secret(jp.cfg.bots[i].cfg->webhook_secret);
	}
	texts_setup(0);
	/* The parent made these. The templates come from it too
	 * (JP_TEMPLATE, before anything that could start a job). */
	xasprintf(&jp.render_dir, "%s/render", jp.cfg.state_dir);
	xasprintf(&jp.assets_dir, "%s/assets", jp.cfg.state_dir);
	/* Who we become, and whom the database is given to (as root: else
	 * nothing is set, and nothing dropped). */
	if (service_user_resolve(&jp.cfg, &su, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if ((jp.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	signal(SIGPIPE, SIG_IGN);
	render_connect(jp.base, JOBS_FD_RENDER, parent_gone);
	setup_http();
	drop_privileges(&su);
	/* As the service user: greetbotd made its files ours (db_ready); no
	 * root reads what we write. */
	if (*jp.cfg.db_path != '\0') {
		jp.db = db_open(jp.cfg.db_path);
		health_set_db(jp.db);
	}
}

void
jobs_main(const char *config_path)
{
	struct jp_started st = { .type = JP_STARTED };
	struct timeval sec = { 1, 0 };
	struct event *ev;
	int n = 0;

	jp.config_path = config_path;
	/* Started by greetbotd, with its channels on fds 3 and 4: not by hand. */
	for (int fd = JOBS_FD_CTL; fd <= JOBS_FD_RENDER; fd++) {
		int type = 0;
		socklen_t len = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
		    type != SOCK_SEQPACKET) {
			fprintf(stderr, "greetbotd --jobs is started by greetbotd, not by hand\n");
			exit(2);
		}
	}
	setup();
	jobs_init(&(struct jobs_env){ .db = jp.db, .node = jp.cfg.node_name,
	    .max_attempts = jp.cfg.max_attempts, .alert_window = jp.cfg.alert_window,
	    .nbots = jp.cfg.db_path[0] != '\0' ? jp.cfg.nbots : 0, .texts = bot_texts,
	    .bot_config = bot_cfg });
	rn.cfg = &jp.cfg;
	rn.base = jp.base;
	rn.db = jp.db;
	rn.sb = &jp.sb;
	rn.render_dir = jp.render_dir;
	rn.assets_dir = jp.assets_dir;
	rn.tmpl = &jp.tmpl;
	rn.wake_bots = wake_bots;
	rn.idle = drain_check;
	rn.connected = connected;
	runner_init();
	/* Jobs this node was rendering when it stopped go back in line: their
	 * stream entries are still pending for us and come back on the first
	 * read. (A locked or full database is waited for: nothing runs yet.) */
	while (jp.db != NULL && (n = jobs_recover()) == -1)
		sleep(1);
	if (n > 0)
		log_info("requeued interrupted jobs", "jobs=%d", n);
	retention_start(jp.base, jp.db, &jp.cfg);
	ev = evsignal_new(jp.base, SIGTERM, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(jp.base, SIGINT, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(jp.base, SIGHUP, on_hup, NULL);
	evsignal_add(ev, NULL);
	jp.drain_ev = evtimer_new(jp.base, drain_kill, NULL);
	(void)fcntl(JOBS_FD_WAKE, F_SETFL, O_NONBLOCK);
	ev = event_new(jp.base, JOBS_FD_WAKE, EV_READ | EV_PERSIST, on_wake, NULL);
	event_add(ev, NULL);
	ev = event_new(jp.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(ev, &sec);
	jp.ctl = chan_new(jp.base, JOBS_FD_CTL, ctl_msg, ctl_closed, NULL);
	snprintf(st.http_addr, sizeof(st.http_addr), "%s", jp.http_addr);
	(void)chan_send(jp.ctl, &st, sizeof(st), NULL, 0);
	event_base_dispatch(jp.base);
	health_stop();
	runner_free();
	db_close(jp.db);
	exit(0);
}
