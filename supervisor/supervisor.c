/* SPDX-License-Identifier: ISC */
/*
 * supervisor.c: greetbotd, the one process a sysadmin starts: the
 * privileged parent, as OpenSMTPD's.
 *
 * It keeps root (a bounded set of capabilities, etc/greetbotd.service)
 * for a short list of verbs: start renderers and ffprobe as a slot's uid,
 * kill every process of a slot's uid, open what a renderer left without
 * following anything, empty work dirs, build and seal caches
 * (jobs/rendsrv.c); and it starts and supervises its children (service.c):
 * the jobs process (jobs/proc.c: the database, Redis, the job runner, the
 * HTTP endpoints), the private redis-server and one greetbot-tg per bot,
 * each as the unprivileged service user. It reads no JSON, no HTTP, no
 * Redis reply and no renderer's text: only fixed-format messages from its
 * own children over socketpairs (jobs/rendproto.h, jobs/jobsproto.h).
 * One libevent loop that never blocks on the network (it has none).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cache.h"
#include "child.h"
#include "config.h"
#include "chan.h"
#include "db.h"
#include "jobsproto.h"
#include "log.h"
#include "notify.h"
#include "privsep.h"
#include "proc.h"
#include "renderer.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "supervisor.h"
#include "template.h"
#include "xmalloc.h"

struct supervisor sv;

/* Seconds past drain_grace that the jobs process has to commit what its
 * renders did before it is killed. */
#define DRAIN_SLACK	30

static const char *render_check(void);
static void http_addr_publish(int);

/* --- readiness ---------------------------------------------------------- */

/* Ready once the jobs process's Redis answers and the bots run: tell
 * whoever waits. */
void
announce_ready(void)
{
	if (sv.announced || !sv.jobs_ready || bot_down() != NULL)
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

/* The private redis-server said it is ready: the jobs process connects. */
void
redis_ready(void)
{
	struct jp_msg m = { JP_REDIS };

	if (sv.jobs_ctl != NULL)
		(void)chan_send(sv.jobs_ctl, &m, sizeof(m), NULL, 0);
}

/* --- the jobs process ---------------------------------------------------- */

/* Why renderers cannot start, or "" when they can: the jobs process takes
 * no job meanwhile, and its /health says so. */
void
jobs_tell_render(void)
{
	struct jp_render m = { .type = JP_RENDER };

	if (sv.jobs_ctl == NULL)
		return;
	snprintf(m.why, sizeof(m.why), "%s", sv.render_problem != NULL ?
	    sv.render_problem : "");
	(void)chan_send(sv.jobs_ctl, &m, sizeof(m), NULL, 0);
}

/* Its messages: each of the size of its type, strings ended inside. */
void
jobs_msg(struct chan *c, const void *msg, size_t len, int *fds, int nfds, void *arg)
{
	struct jp_started st;
	uint32_t type = 0;

	(void)c;
	(void)arg;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (len >= sizeof(type))
		memcpy(&type, msg, sizeof(type));
	if (type == JP_STARTED && len == sizeof(st)) {
		memcpy(&st, msg, sizeof(st));
		if (memchr(st.http_addr, '\0', sizeof(st.http_addr)) == NULL)
			goto bad;
		/* The address may change (http_listen at port 0). */
		snprintf(sv.http_addr, sizeof(sv.http_addr), "%s", st.http_addr);
		if (*sv.http_addr != '\0')
			http_addr_publish(1);
		if (sv.jobs_started++)
			return;
		/* The database is open and migrated: the bots may open it. */
		for (int i = 0; i < sv.nbots; i++)
			if (!sv.bots[i].svc.stopped && sv.bots[i].svc.pid <= 0)
				bot_start(&sv.bots[i].svc);
		announce_ready();
		return;
	}
	if (type == JP_READY && len == sizeof(struct jp_msg)) {
		sv.jobs_ready = 1;
		announce_ready();
		return;
	}
	if (type == JP_WAKE_BOTS && len == sizeof(struct jp_msg)) {
		bots_wake();
		return;
	}
	if (type == JP_RELOADED && len == sizeof(struct jp_msg)) {
		if (sv.reloading)
			reload_done();
		return;
	}
bad:
	/* Not one of ours: it is not to be trusted any more. */
	log_warnx("a bad message from the jobs process, killing it", "type=%u size=%zu",
	    (unsigned)type, len);
	if (sv.jobs.pid > 0)
		kill(sv.jobs.pid, SIGKILL);
}

/* The channel closed: it exited (service_exited restarts it). */
void
jobs_closed(struct chan *c, void *arg)
{
	(void)arg;
	if (c == sv.jobs_ctl)
		sv.jobs_ctl = NULL;
	chan_free(c);
}

/* It exited: before it ever started, the configuration, the texts or the
 * database are not what it needs, and restarting it would not change
 * that: we stop (its reason is in the log). */
void
jobs_exited(int status)
{
	sv.jobs_ready = 0;
	if (sv.reloading && !sv.draining)
		reload_done();
	if (sv.jobs_started || sv.draining)
		return;
	fatalx("the jobs process could not start", "status=%d", WIFEXITED(status) ?
	    WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* --- events -------------------------------------------------------------- */

/* Once a second: strays of renderers, a render directory fixed, a drain
 * whose last child went. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	child_kill_strays();
	drain_check();
	/* A directory fixed while we run: look again every 10 s. */
	if (sv.render_problem != NULL && time(NULL) - sv.render_checked >= 10 &&
	    render_check() == NULL)
		log_info("renderers can start again");
}

/*
 * Draining: once the jobs process is gone (no render runs: every outcome
 * is committed and acknowledged), Redis is no longer needed; once every
 * child is gone, we exit.
 */
void
drain_check(void)
{
	if (!sv.draining || sv.jobs.pid > 0)
		return;
	if (sv.redis.pid > 0)
		kill(sv.redis.pid, SIGTERM);
	if (child_count() == 0)
		event_base_loopexit(sv.base, NULL);
}

/* The jobs process gives its renders drain_grace seconds, then stops
 * them and commits what they did: one that takes far longer is stuck. */
static void
drain_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (sv.jobs.pid <= 0)
		return;
	log_warnx("the jobs process did not finish draining, killing it", "pid=%d",
	    (int)sv.jobs.pid);
	kill(sv.jobs.pid, SIGKILL);
}

/* Drain: the jobs process takes no new job and its renders get
 * drain_grace seconds (a second signal: none); the bots stop. */
static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { sv.cfg.drain_grace + DRAIN_SLACK, 0 };

	(void)what;
	(void)arg;
	if (sv.draining) {
		log_warnx("second signal, stopping now", "signal=%d", (int)sig);
		if (sv.jobs.pid > 0)
			kill(sv.jobs.pid, SIGTERM);
		return;
	}
	log_info("draining", "signal=%d", (int)sig);
	(void)notify_send("STOPPING=1");
	sv.draining = 1;
	evtimer_del(sv.jobs.restart_ev);
	if (sv.jobs.pid > 0)
		kill(sv.jobs.pid, SIGTERM);
	evtimer_add(sv.drain_ev, &tv);
	bots_stop();
	drain_check();
}

/*
 * Every template of templates_dir snapshotted (template.h), as the jobs
 * process loads any of them when a job names it and may not write the
 * render tree. A template that does not load is the jobs process's to
 * report when a job names it.
 */
static void
templates_snapshot(void)
{
	struct template t;
	struct dirent *de;
	char err[512], *snap;
	DIR *d;

	for (int i = 0; i < sv.nothers; i++)
		template_free(&sv.others[i]);
	sv.nothers = 0;
	if ((d = opendir(sv.cfg.templates_dir)) == NULL)
		return;
	xasprintf(&snap, "%s/templates", sv.render_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, sv.tmpl.id) == 0 ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (template_load(&t, sv.cfg.templates_dir, de->d_name, sv.cfg.render_script,
		    snap, err, sizeof(err)) == -1)
			continue;
		sv.others = xrealloc(sv.others, ((size_t)sv.nothers + 1) * sizeof(*sv.others));
		sv.others[sv.nothers++] = t;
	}
	free(snap);
	closedir(d);
}

/* One template, as loaded and snapshotted, to the jobs process. */
static void
template_tell(const struct template *t, int is_default)
{
	struct jp_template m = { .type = JP_TEMPLATE, .is_default = is_default,
	    .min_duration = t->min_duration, .max_duration = t->max_duration };

	snprintf(m.id, sizeof(m.id), "%s", t->id);
	snprintf(m.version, sizeof(m.version), "%s", t->version);
	snprintf(m.dir, sizeof(m.dir), "%s", t->dir);
	snprintf(m.script, sizeof(m.script), "%s", t->script);
	snprintf(m.language, sizeof(m.language), "%s", t->language != NULL ? t->language : "");
	(void)chan_send(sv.jobs_ctl, &m, sizeof(m), NULL, 0);
}

/* Every template to the jobs process (at its start, and before a
 * reload): it reads their snapshots, never the operator's files. */
void
jobs_tell_templates(void)
{
	if (sv.jobs_ctl == NULL)
		return;
	template_tell(&sv.tmpl, 1);
	for (int i = 0; i < sv.nothers; i++)
		template_tell(&sv.others[i], 0);
}

/* SIGHUP: ours first (the configuration, the templates' snapshots, the
 * caches), then the jobs process's, who finds the snapshots, then the
 * bots'. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	char err[512], changed[512], *snap;

	(void)sig;
	(void)what;
	(void)arg;
	if (sv.draining)
		return;
	if (config_reload(&sv.cfg, changed, sizeof(changed), err, sizeof(err)) == -1)
		log_warnx("reload: configuration kept", "reason=%s", err);
	else if (changed[0] != '\0') {
		enum log_level lvl;

		log_info("configuration reloaded", "changed=%s", changed);
		if (log_level_parse(sv.cfg.log_level, &lvl) == 0)
			log_set_level(lvl);
	}
	xasprintf(&snap, "%s/templates", sv.render_dir);
	(void)template_reload(&sv.tmpl, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap);
	free(snap);
	templates_snapshot();
	cache_prune(&sv.cfg, sv.render_dir);
	if (render_check() != NULL)
		log_warnx("renderers cannot start, no jobs taken", "reason=%s",
		    sv.render_problem);
	/* The jobs process first, the bots once it is done (JP_RELOADED):
	 * a job a bot makes with the new template is rendered with it. */
	if (sv.jobs.pid > 0 && sv.jobs_ctl != NULL) {
		sv.reloading = 1;
		jobs_tell_templates();
		(void)chan_send(sv.jobs_ctl, &(struct jp_msg){ JP_RELOAD }, sizeof(struct jp_msg),
		    NULL, 0);
	} else
		reload_done();
}

/* The second half of a reload: the bots, once the jobs process has
 * reloaded (or is gone: a new one loads everything anew). */
void
reload_done(void)
{
	sv.reloading = 0;
	bots_reload();
	log_info("reloaded", "template=%s version=%s", sv.tmpl.id, sv.tmpl.version);
}

/* --- the state directory ------------------------------------------------ */

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

/*
 * The state directory: the database and assets only for us (0600 and
 * 0700 in a 0711 state_dir), the render tree searchable so that an unprivileged
 * renderer reaches its own work dir and the template snapshots.
 */
/*
 * The database's files, made and given before the jobs process and the
 * bots open it as the service user (db.h: db_ready). Before each of them
 * starts: one removed since could not be made again by them. 0, or -1
 * (logged).
 */
int
db_files_ready(void)
{
	char err[512];

	if (*sv.cfg.db_path == '\0' || !service_user()->set ||
	    db_ready(sv.cfg.db_path, err, sizeof(err)) == 0)
		return 0;
	log_warnx("the database's files cannot be made ready", "reason=%s", err);
	return -1;
}

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
	if (db_files_ready() == -1)
		fatalx("the database cannot be prepared");
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
	jobs_tell_render();
	return sv.render_problem;
}

static void
usage(void)
{
	fprintf(stderr, "usage: greetbotd [-c config] [--ready-fd N]\n");
	/* (greetbotd --jobs is the jobs process, started by greetbotd.) */
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "jobs", no_argument, NULL, 'j' },
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
		case 'j':
			sv.jobs_mode = 1;
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
	/* The bots write to it, the jobs process reads it: kept across the
	 * restarts of both. */
	if (pipe2(sv.wake_us, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	sv.tick_ev = event_new(sv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(sv.tick_ev, &sec);
	sv.drain_ev = evtimer_new(sv.base, drain_kill, NULL);
}

/* The renders we serve (the jobs process's workers, each bot's previews),
 * in the render tree, by its descriptors. */
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
}

/* The socket and pid file of the private Redis where a greetbotd before
 * state_dir/redis/ kept them (state_dir itself): its Redis is gone (we
 * hold the lock it held), and nothing reads them any more. */
static void
old_redis_files(void)
{
	char *path;

	xasprintf(&path, "%s/redis.sock", sv.cfg.state_dir);
	(void)unlink(path);
	free(path);
	xasprintf(&path, "%s/redis.pid", sv.cfg.state_dir);
	(void)unlink(path);
	free(path);
}

int
main(int argc, char **argv)
{
	char err[512], *snap;

	sv.redis_lock = -1;
	parse_args(argc, argv);
	if (sv.jobs_mode)
		jobs_main(sv.config_path);
	setup_config();
	setup_sandbox();
	setup_service();
	setup_dirs();
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&sv.tmpl, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap, err, sizeof(err)) == -1)
		fatalx("template cannot be loaded", "template=%s reason=%s", sv.cfg.default_template, err);
	free(snap);
	templates_snapshot();
	cache_prune(&sv.cfg, sv.render_dir);
	/* A render node on another machine has no database: it renders what
	 * the job entries say and returns results through Redis. */
	if (*sv.cfg.db_path == '\0')
		log_info("render node without a database: results go through redis");
	/* Orphans of renderers (setsid, double fork) come back to us, so
	 * that child_kill_strays can find them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	setup_events();
	setup_renders();
	if (render_check() != NULL)
		fatalx("renderers cannot start", "reason=%s", sv.render_problem);
	service_init(&sv.redis, "redis-server", redis_start);
	service_init(&sv.jobs, "greetbotd-jobs", jobs_start);
	sv.jobs.own_log = 1;
	bots_setup();
	if (*sv.cfg.redis_url == '\0') {
		redis_lock_take();
		unlink(sv.redis_sock);
		old_redis_files();
		redis_start(&sv.redis);
	}
	/* The bots start once it has opened the database (JP_STARTED). */
	jobs_start(&sv.jobs);
	log_info("started", "state_dir=%s template=%s version=%s", sv.cfg.state_dir,
	    sv.tmpl.id, sv.tmpl.version);
	event_base_dispatch(sv.base);
	log_info("stopped");
	if (*sv.cfg.http_listen != '\0')
		http_addr_publish(0);
	return 0;
}
