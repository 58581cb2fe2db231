/* SPDX-License-Identifier: ISC */
/*
 * supervisor.c: greetbotd, the one process a sysadmin starts.
 *
 * One libevent loop that never blocks on the network: it runs the private
 * redis-server and greetbot-tg as children (service.c), and the job runner
 * (jobs/runner.h): the relay of the job outbox from SQLite to the Redis
 * Stream, the workers that fork renderers, the commit of each outcome to
 * SQLite before the job is acknowledged. SQLite is the truth; Redis is
 * transport and can be rebuilt.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cache.h"
#include "child.h"
#include "config.h"
#include "db.h"
#include "health.h"
#include "jobs.h"
#include "log.h"
#include "notify.h"
#include "privsep.h"
#include "renderer.h"
#include "rendsrv.h"
#include "runner.h"
#include "sandbox.h"
#include "supervisor.h"
#include "template.h"
#include "texts.h"
#include "xmalloc.h"

struct supervisor sv;

/* Seconds the bots' Bot API calls may fail before /health says so. */
#define API_FAILING	5

static const char *render_check(void);

/* --- readiness ---------------------------------------------------------- */

/* Ready once Redis answers and the bots run: tell whoever waits. */
void
announce_ready(void)
{
	if (sv.announced || !runner_redis_up() || bot_down() != NULL)
		return;
	sv.announced = 1;
	log_info("ready", "workers=%d template=%s version=%s", sv.cfg.workers,
	    sv.tmpl.id, sv.tmpl.version);
	if (sv.ready_fd >= 0) {
		char line[96];
		int n = snprintf(line, sizeof(line), "ready http=%s\n", sv.http_addr);
		(void)!write(sv.ready_fd, line, (size_t)n);
		close(sv.ready_fd);
		sv.ready_fd = -1;
	}
	if (notify_send("READY=1") == -1)
		log_warn("sd_notify to NOTIFY_SOCKET");
}

/* The private redis-server said it is ready (or redis_url is set). */
void
redis_ready(void)
{
	char *url;

	if (*sv.cfg.redis_url != '\0')
		url = xstrdup(sv.cfg.redis_url);
	else
		xasprintf(&url, "unix:%s", sv.redis_sock);
	runner_connect(url);
	free(url);
}

/* --- events -------------------------------------------------------------- */

/* The bot wrote jobs (or anything): relay now rather than at the tick. */
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

/* Once a second: retries that came due, and anything a wake missed. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	runner_tick();
	child_kill_strays();
	/* A directory fixed while we run: look again every 10 s. */
	if (sv.render_problem != NULL && time(NULL) - sv.render_checked >= 10 &&
	    render_check() == NULL)
		log_info("renderers can start again");
}

/*
 * Draining: once no render runs, Redis is no longer needed (every outcome
 * is committed and acknowledged); once every child is gone, we exit.
 */
void
drain_check(void)
{
	if (!sv.draining || rn.running > 0)
		return;
	runner_free();
	if (sv.redis.pid > 0)
		kill(sv.redis.pid, SIGTERM);
	if (child_count() == 0)
		event_base_loopexit(sv.base, NULL);
}

/* Drain: no new jobs; running renders get drain_grace seconds, then die. */
static void
drain_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	runner_drain_kill();
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { sv.cfg.drain_grace, 0 };

	(void)what;
	(void)arg;
	if (sv.draining) {
		log_warnx("second signal, stopping now", "signal=%d", (int)sig);
		runner_drain_kill();
		return;
	}
	log_info("draining", "signal=%d running=%d", (int)sig, rn.running);
	(void)notify_send("STOPPING=1");
	sv.draining = 1;
	runner_drain();
	evtimer_add(sv.drain_ev, &tv);
	bots_stop();
	drain_check();
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct template t;
	char err[512], changed[512], *snap;
	struct texts *tx;

	(void)sig;
	(void)what;
	(void)arg;
	if (config_reload(&sv.cfg, changed, sizeof(changed), err, sizeof(err)) == -1)
		log_warnx("reload: configuration kept", "reason=%s", err);
	else if (changed[0] != '\0') {
		enum log_level lvl;

		log_info("configuration reloaded", "changed=%s", changed);
		if (log_level_parse(sv.cfg.log_level, &lvl) == 0)
			log_set_level(lvl);
	}
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&t, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap, err, sizeof(err)) == -1)
		log_warnx("reload: template kept", "reason=%s", err);
	else {
		template_free(&sv.tmpl);
		sv.tmpl = t;
	}
	free(snap);
	runner_reload();
	cache_prune(&sv.cfg, sv.render_dir);
	if (render_check() != NULL)
		log_warnx("renderers cannot start, no jobs taken", "reason=%s",
		    sv.render_problem);
	if ((tx = texts_load(sv.cfg.messages_dir, sv.cfg.default_language, err,
	    sizeof(err))) == NULL)
		log_warnx("reload: texts kept", "reason=%s", err);
	else {
		texts_free(sv.texts);
		sv.texts = tx;
	}
	bots_reload();
	log_info("reloaded", "template=%s version=%s", sv.tmpl.id, sv.tmpl.version);
}

/* --- the HTTP endpoints -------------------------------------------------- */

static const char *
src_bot_problem(void)
{
	static char why[600];
	struct bot *b = bot_down();
	sqlite3_stmt *st;

	if (b != NULL) {
		if (sv.nbots == 1)
			return "greetbot-tg is not running";
		snprintf(why, sizeof(why), "greetbot-tg of bot %s is not running", b->id);
		return why;
	}
	if (sv.db == NULL)
		return NULL;
	/* The Bot API as the bots see it: failing for API_FAILING s. */
	why[0] = '\0';
	st = db_prep(sv.db, "SELECT bot_id, api_failing_since, api_error FROM bot_state WHERE "
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
	return sv.render_problem;
}

/* The runner's counters, and each bot's state. */
static void
src_node_metrics(struct evbuffer *b)
{
	runner_node_metrics(b);
	if (sv.nbots > 0)
		evbuffer_add_printf(b, "# HELP greetbot_bot_up Whether the bot's greetbot-tg "
		    "runs.\n# TYPE greetbot_bot_up gauge\n");
	for (int i = 0; i < sv.nbots; i++)
		evbuffer_add_printf(b, "greetbot_bot_up{bot=\"%s\"} %d\n", sv.bots[i].id,
		    sv.bots[i].svc.pid > 0);
	if (sv.nbots > 0)
		evbuffer_add_printf(b, "# HELP greetbot_bot_enabled Whether the bot is enabled "
		    "in the configuration.\n# TYPE greetbot_bot_enabled gauge\n");
	for (int i = 0; i < sv.nbots; i++)
		evbuffer_add_printf(b, "greetbot_bot_enabled{bot=\"%s\"} %d\n", sv.bots[i].id,
		    !sv.bots[i].svc.stopped);
}

/*
 * state_dir/http.addr: the address the HTTP endpoints are bound to, for
 * greetctl status when http_listen asks for any port (":0"). Written to a
 * temp file and renamed; removed on a clean stop.
 */
static void
http_addr_publish(int up)
{
	char *path, *tmp;
	FILE *f;
	int ok = 0, fd;

	xasprintf(&path, "%s/http.addr", sv.cfg.state_dir);
	if (!up) {
		unlink(path);
		free(path);
		return;
	}
	xasprintf(&tmp, "%s.tmp", path);
	/* Ours alone, like everything in state_dir but the render tree. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) != -1) {
		if ((f = fdopen(fd, "w")) == NULL)
			close(fd);
		else {
			ok = fprintf(f, "%s\n", sv.http_addr) > 0;
			ok = fclose(f) == 0 && ok && rename(tmp, path) == 0;
		}
	}
	if (!ok) {
		log_warn("cannot write the http address", "path=%s", path);
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* The HTTP endpoints; a port that is taken is fatal, not a silent skip. */
static void
setup_http(void)
{
	struct health_source hs = { runner_redis_problem, src_bot_problem,
	    runner_queue_depth, src_busy, src_render_problem, src_node_metrics, sv.cfg.workers,
	    sv.db, sv.cfg.state_dir };

	if (*sv.cfg.http_listen == '\0')
		return;
	if (health_start(sv.base, sv.cfg.http_listen, &hs, sv.http_addr,
	    sizeof(sv.http_addr)) == -1)
		fatal("cannot listen", "http_listen=%s", sv.cfg.http_listen);
	log_info("http listening", "addr=%s", sv.http_addr);
	http_addr_publish(1);
}

/*
 * The state directory: the database and assets only for us (0700 below a
 * 0711 state_dir), the render tree searchable so that an unprivileged
 * renderer reaches its own work dir and the template snapshots.
 */
static void
setup_dirs(void)
{
	int fd;

	sv.render_dir = render_dirs(sv.cfg.state_dir);
	xasprintf(&sv.assets_dir, "%s/assets", sv.cfg.state_dir);
	if (mkdir(sv.assets_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", sv.assets_dir);
	/* The videos are the service user's (greetbot-tg uploads them),
	 * those an older greetbotd kept as root too. */
	if ((fd = open(sv.assets_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fatal("cannot open the assets", "path=%s", sv.assets_dir);
	if (service_give_tree(fd) == -1)
		log_warn("cannot give every asset to the service user", "path=%s", sv.assets_dir);
	close(fd);
	/* The private Redis's socket and pid file, in a dir of the service
	 * user's, who runs it. */
	xasprintf(&sv.redis_dir, "%s/redis", sv.cfg.state_dir);
	xasprintf(&sv.redis_sock, "%s/redis.sock", sv.redis_dir);
	if (mkdir(sv.redis_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", sv.redis_dir);
	if ((fd = open(sv.redis_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fchmod(fd, 0700) == -1 || service_give_fd(fd) == -1)
		fatal("cannot prepare the redis dir", "path=%s", sv.redis_dir);
	close(fd);
}

/*
 * As root, who greetbot-tg becomes once it has read its configuration
 * and opened what it needs (privsep.h): the service user, never root and
 * never of the renderers' group.
 */
static void
setup_service(void)
{
	struct service_user su;
	char err[512];

	if (service_user_resolve(&sv.cfg, &su, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	/* Not a uid a renderer runs as: it could read the service's files. */
	if (su.set && sv.sb.drop && (sv.sb.uid_base != 0 ? su.uid >= sv.sb.uid_base &&
	    su.uid <= sandbox_uid(&sv.sb, SANDBOX_SLOT_CACHE) : su.uid == sv.sb.user_uid))
		fatalx("bad configuration", "reason=%s", "service_user is a uid renderers run "
		    "as (render_uid_base's block, or render_user): give it one of its own");
	if (su.set)
		log_info("the bots run unprivileged", "user=%s uid=%u gid=%u", su.name,
		    (unsigned)su.uid, (unsigned)su.gid);
}

/* As root, each worker slot renders as a uid of its own, without network;
 * a renderer can then read no secret and starve no other render. */
static void
setup_sandbox(void)
{
	char err[512];
	int slots = SANDBOX_SLOT_WORKER + sv.cfg.workers;

	/* The workers' slots and each bot's (we render their previews). */
	if (sv.cfg.nbots > 0 && SANDBOX_SLOT_BOT(sv.cfg.nbots - 1) + SANDBOX_PREVIEWS > slots)
		slots = SANDBOX_SLOT_BOT(sv.cfg.nbots - 1) + SANDBOX_PREVIEWS;
	if (sandbox_init(&sv.sb, &sv.cfg, slots, err, sizeof(err)) == -1)
		fatalx("renderers cannot be isolated", "reason=%s", err);
	sandbox_log(&sv.sb);
	if (sandbox_claim(&sv.sb, err, sizeof(err)) == -1)
		fatalx("renderers cannot be isolated", "reason=%s", err);
	/* Renderers a greetbotd before us left (it was killed: their
	 * descendants outlive the parent-death signal), gone before a slot
	 * is used. The workers' slots, and one more (a preemption). */
	for (int i = 0; i <= sv.cfg.workers + 1; i++)
		sandbox_kill_slot(&sv.sb, SANDBOX_SLOT_WORKER + i);
	for (int b = 0; b < sv.cfg.nbots; b++)
		for (int i = 0; i < SANDBOX_PREVIEWS; i++)
			sandbox_kill_slot(&sv.sb, SANDBOX_SLOT_BOT(b) + i);
	sandbox_kill_slot(&sv.sb, SANDBOX_SLOT_CACHE);
	/* Each bot's token file, or the config file when a token is in it. */
	for (int i = 0; i < sv.cfg.nbots; i++) {
		const struct config *bc = sv.cfg.bots[i].cfg;

		if (sandbox_can_read(&sv.sb, bc->telegram_token_file))
			log_warnx("renderers can read the bot token: chmod 600 it",
			    "path=%s", bc->telegram_token_file);
		else if (*bc->telegram_token_file == '\0' && sv.cfg.path != NULL &&
		    *bc->telegram_token != '\0' && (i > 0 || sv.cfg.sections != NULL ||
		    getenv("GREETBOT_TELEGRAM_TOKEN") == NULL) &&
		    sandbox_can_read(&sv.sb, sv.cfg.path)) {
			log_warnx("renderers can read the bot token in the configuration "
			    "file: chmod 600 it", "path=%s", sv.cfg.path);
			break;
		}
	}
}

/*
 * Whether renderers can start: as a renderer, search the work and cache
 * dirs and the template snapshot and run the script. Returns the problem
 * (kept in sv.render_problem: no jobs are taken, /health is 503) or NULL.
 */
static const char *
render_check(void)
{
	char err[1024], *work, *cache;
	const char *dirs[3];

	xasprintf(&work, "%s/work", sv.render_dir);
	xasprintf(&cache, "%s/cache", sv.render_dir);
	dirs[0] = work;
	dirs[1] = cache;
	dirs[2] = sv.tmpl.dir;
	free(sv.render_problem);
	sv.render_problem = NULL;
	if (sandbox_check(&sv.sb, dirs, 3, sv.tmpl.script, err, sizeof(err)) == -1)
		sv.render_problem = xstrdup(err);
	sv.render_checked = time(NULL);
	free(work);
	free(cache);
	runner_pause(sv.render_problem);
	return sv.render_problem;
}

static void
usage(void)
{
	fprintf(stderr, "usage: greetbotd [-c config] [--ready-fd N]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	sv.ready_fd = -1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			sv.config_path = optarg;
			break;
		case 'r':
			sv.ready_fd = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

static void
setup_config(void)
{
	char err[512];
	enum log_level lvl;

	log_init("greetbotd", LOG_LEVEL_INFO);
	if (config_load(&sv.cfg, sv.config_path, err, sizeof(err)) == -1)
		fatalx("bad configuration", "reason=%s", err);
	if (log_level_parse(sv.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	/* Ours to say once: every child loads the same environment. */
	for (int i = 0; i < sv.cfg.nwarnings; i++)
		log_warnx("configuration warning", "reason=%s", sv.cfg.warnings[i]);
	log_add_secret(sv.cfg.telegram_token);
	log_add_secret(sv.cfg.webhook_secret);
	for (int i = 0; i < sv.cfg.nbots; i++) {
		log_add_secret(sv.cfg.bots[i].cfg->telegram_token);
		log_add_secret(sv.cfg.bots[i].cfg->webhook_secret);
	}
	if ((sv.texts = texts_load(sv.cfg.messages_dir, sv.cfg.default_language, err,
	    sizeof(err))) == NULL)
		fatalx("texts cannot be loaded", "reason=%s", err);
}

static void
setup_events(void)
{
	struct event *ev;
	struct timeval sec = { 1, 0 };

	if ((sv.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	child_init(sv.base);
	signal(SIGPIPE, SIG_IGN);
	ev = evsignal_new(sv.base, SIGTERM, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(sv.base, SIGINT, on_term, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(sv.base, SIGHUP, on_hup, NULL);
	evsignal_add(ev, NULL);
	if (pipe2(sv.wake_us, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	sv.wake_ev = event_new(sv.base, sv.wake_us[0], EV_READ | EV_PERSIST, on_wake, NULL);
	event_add(sv.wake_ev, NULL);
	sv.tick_ev = event_new(sv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(sv.tick_ev, &sec);
	sv.drain_ev = evtimer_new(sv.base, drain_kill, NULL);
}

/* The job runner and the state machine: our database, sandbox and texts. */
static void
setup_jobs(void)
{
	struct jobs_env je = { sv.db, sv.cfg.node_name, sv.cfg.max_attempts,
	    sv.cfg.alert_window, sv.cfg.db_path[0] != '\0' ? sv.cfg.nbots : 0, bot_texts,
	    bot_cfg };

	jobs_init(&je);
	rn.cfg = &sv.cfg;
	rn.base = sv.base;
	rn.db = sv.db;
	rn.sb = &sv.sb;
	rn.render_dir = sv.render_dir;
	rn.assets_dir = sv.assets_dir;
	rn.tmpl = &sv.tmpl;
	rn.wake_bots = bots_wake;
	rn.idle = drain_check;
	rn.connected = announce_ready;
	runner_init();
}

/* The workers' renders: asked of the privileged half, for now in this
 * process. */
static void
setup_renders(void)
{
	struct rendsrv_env *env = &sv.render_env;
	char *work_root, *cache_root;

	xasprintf(&work_root, "%s/work", sv.render_dir);
	xasprintf(&cache_root, "%s/cache", sv.render_dir);
	env->base = sv.base;
	env->sb = &sv.sb;
	env->work_root = work_root;
	env->work_fd = render_dir_open(work_root);
	env->cache_root = cache_root;
	env->cache_fd = render_dir_open(cache_root);
	render_serve_self(env, SANDBOX_SLOT_WORKER, SANDBOX_WORKERS_MAX);
}

int
main(int argc, char **argv)
{
	char err[512], *snap;
	int n = 0;

	sv.redis_lock = -1;
	parse_args(argc, argv);
	setup_config();
	setup_sandbox();
	setup_service();
	setup_dirs();
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&sv.tmpl, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap, err, sizeof(err)) == -1)
		fatalx("template cannot be loaded", "template=%s reason=%s", sv.cfg.default_template, err);
	free(snap);
	cache_prune(&sv.cfg, sv.render_dir);
	/* A render node on another machine has no database: it renders what
	 * the job entries say and returns results through Redis. */
	if (*sv.cfg.db_path != '\0')
		sv.db = db_open(sv.cfg.db_path);
	else
		log_info("render node without a database: results go through redis");
	/* Orphans of renderers (setsid, double fork) come back to us, so
	 * that child_kill_strays can find them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	setup_events();
	setup_renders();
	setup_jobs();
	/* Jobs this node was rendering when it stopped go back in line: their
	 * stream entries are still pending for us and come back on the first
	 * read. Not an attempt used up: the render did not fail. */
	/* (A locked or full database is waited for: nothing runs yet.) */
	while (sv.db != NULL && (n = jobs_recover()) == -1)
		sleep(1);
	if (n > 0)
		log_info("requeued interrupted jobs", "jobs=%d", n);
	if (render_check() != NULL)
		fatalx("renderers cannot start", "reason=%s", sv.render_problem);
	setup_http();
	retention_start(sv.base, sv.db, &sv.cfg);
	service_init(&sv.redis, "redis-server", redis_start);
	bots_setup();
	if (*sv.cfg.redis_url == '\0') {
		redis_lock_take();
		unlink(sv.redis_sock);
		redis_start(&sv.redis);
	} else
		redis_ready();
	for (int i = 0; i < sv.nbots; i++)
		if (!sv.bots[i].svc.stopped)
			bot_start(&sv.bots[i].svc);
	log_info("started", "state_dir=%s template=%s version=%s", sv.cfg.state_dir,
	    sv.tmpl.id, sv.tmpl.version);
	event_base_dispatch(sv.base);
	log_info("stopped");
	if (*sv.cfg.http_listen != '\0')
		http_addr_publish(0);
	health_stop();
	runner_free();
	db_close(sv.db);
	return 0;
}
