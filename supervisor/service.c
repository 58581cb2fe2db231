/* SPDX-License-Identifier: ISC */
/*
 * service.c: greetbotd's long-lived children, the jobs process, the
 * private redis-server and one greetbot-tg per enabled bot: started with
 * their output logged line by line (or on our stderr, theirs being logfmt
 * already), restarted after a backoff that doubles while they keep dying
 * young (s6-supervise's lesson: never a tight respawn loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "child.h"
#include "config.h"
#include "jobsproto.h"
#include "log.h"
#include "rendsrv.h"
#include "supervisor.h"
#include "template.h"
#include "privsep.h"
#include "xmalloc.h"

#define RESTART_MIN	1	/* seconds before restarting a dead child */
#define RESTART_MAX	60
#define CRASH_WINDOW	60	/* this many seconds of life resets the backoff */

static void service_exited(pid_t, int, const struct rusage *, void *);

static void
service_restart(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	(void)fd;
	(void)what;
	if (!sv.draining)
		s->start(s);
}

void
service_init(struct service *s, const char *name, void (*start)(struct service *))
{
	*s = (struct service){ .name = name, .start = start };
	s->restart_ev = evtimer_new(sv.base, service_restart, s);
}

/*
 * A child's output is rate-limited, so that a child printing in a loop
 * cannot fill the disk through our log: OUT_BURST lines at once, then
 * OUT_RATE a second. The lines over are counted and said in one line
 * when the flood ends (a second without one), or every OUT_REPORT
 * seconds while it lasts. The state is kept here, by child.
 */
#define OUT_RATE	100	/* lines a second, per child */
#define OUT_BURST	1000
#define OUT_REPORT	60

struct out_limit {
	const struct service	*s;
	long			 tokens;
	time_t			 at;		/* of the tokens */
	long			 dropped;
	time_t			 first, last;	/* dropped lines */
	struct event		*ev;
	struct out_limit	*next;
};
static struct out_limit *out_limits;

static time_t
out_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Every second of a flood: its line, once over or OUT_REPORT seconds on. */
static void
out_flood(evutil_socket_t fd, short what, void *arg)
{
	struct out_limit *o = arg;
	struct timeval tv = { 1, 0 };
	time_t now = out_now();
	int going = now - o->last < 1;

	(void)fd;
	(void)what;
	if (going && now - o->first < OUT_REPORT) {
		evtimer_add(o->ev, &tv);
		return;
	}
	log_warnx("child output dropped", "child=%s lines=%ld seconds=%ld rate=%d",
	    o->s->name, o->dropped, (long)(now - o->first), OUT_RATE);
	o->dropped = 0;
	o->first = now;
	if (going)
		evtimer_add(o->ev, &tv);
}

/* May one more line of s be logged? */
static int
out_allow(const struct service *s)
{
	struct out_limit *o;
	struct timeval tv = { 1, 0 };
	time_t now = out_now();

	for (o = out_limits; o != NULL && o->s != s; o = o->next)
		;
	if (o == NULL) {
		o = xmalloc(sizeof(*o));
		*o = (struct out_limit){ .s = s, .tokens = OUT_BURST, .at = now,
		    .next = out_limits };
		if ((o->ev = evtimer_new(sv.base, out_flood, o)) == NULL)
			fatalx("evtimer_new");
		out_limits = o;
	}
	if (now != o->at) {
		o->tokens += (long)(now - o->at) * OUT_RATE;
		o->tokens = o->tokens > OUT_BURST ? OUT_BURST : o->tokens;
		o->at = now;
	}
	if (o->tokens > 0) {
		o->tokens--;
		return 1;
	}
	if (o->dropped++ == 0) {
		o->first = now;
		evtimer_add(o->ev, &tv);
	}
	o->last = now;
	return 0;
}

/* Log a child's output line by line; redis says when it is ready. */
static void
service_line(struct service *s, char *line)
{
	int ready = s == &sv.redis &&
	    strcasestr(line, "ready to accept connections") != NULL;

	if (out_allow(s)) {
		/* Our own children already log logfmt lines: pass them through. */
		if (strncmp(line, "ts=", 3) == 0) {
			log_redact(line);
			fprintf(stderr, "%s\n", line);
		} else
			log_info("child output", "child=%s line=%s", s->name, line);
	}
	if (ready) {
		sv.redis_up = 1;
		redis_ready();
	}
}

static void
service_readable(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	ssize_t n;

	(void)what;
	n = read(fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
	if (n <= 0) {
		event_del(s->out_ev);
		return;
	}
	s->len += (size_t)n;
	for (;;) {
		char *nl = memchr(s->buf, '\n', s->len);

		if (nl == NULL && s->len < sizeof(s->buf) - 1)
			break;
		if (nl == NULL)
			nl = s->buf + s->len - 1;
		*nl = '\0';
		service_line(s, s->buf);
		s->len -= (size_t)(nl + 1 - s->buf);
		memmove(s->buf, nl + 1, s->len);
	}
}

/*
 * Start a service child with its stdout/stderr on a pipe we log, or (a
 * child of ours, whose lines are logfmt already: own_log) on our own
 * stderr, so that its lines reach the journal even when we are gone.
 */
void
service_spawn(struct service *s, struct child_spec *cs)
{
	int p[2];

	if (s->out_ev != NULL) {
		event_free(s->out_ev);
		close(s->out_fd);
		s->out_ev = NULL;
	}
	if (s->own_log) {
		cs->fd_out = cs->fd_err = STDERR_FILENO;
		s->pid = child_spawn(cs, service_exited, s);
		s->started = time(NULL);
		if (s->pid == -1) {
			log_warn("cannot start", "child=%s", s->name);
			service_exited(-1, 127 << 8, NULL, s);
			return;
		}
		log_info("child started", "child=%s pid=%d", s->name, (int)s->pid);
		bots_tell();
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	cs->fd_out = cs->fd_err = p[1];
	s->pid = child_spawn(cs, service_exited, s);
	close(p[1]);
	s->out_fd = p[0];
	s->len = 0;
	s->out_ev = event_new(sv.base, p[0], EV_READ | EV_PERSIST, service_readable, s);
	event_add(s->out_ev, NULL);
	s->started = time(NULL);
	if (s->pid == -1) {
		log_warn("cannot start", "child=%s", s->name);
		service_exited(-1, 127 << 8, NULL, s);
		return;
	}
	log_info("child started", "child=%s pid=%d", s->name, (int)s->pid);
}

/* A service died: restart it after a backoff (see the top). */
static void
service_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct service *s = arg;
	struct timeval tv;

	(void)pid;
	(void)ru;
	s->pid = 0;
	if (s == &sv.redis)
		sv.redis_up = 0;
	if (s == &sv.jobs)
		jobs_exited(status);
	bots_tell();
	if (sv.draining) {
		drain_check();
		return;
	}
	if (s->stopped) {
		log_info("child stopped", "child=%s", s->name);
		return;
	}
	if (time(NULL) - s->started >= CRASH_WINDOW) {
		s->backoff = 0;
		s->restarts = 0;
	}
	s->backoff = s->backoff == 0 ? RESTART_MIN :
	    (s->backoff * 2 > RESTART_MAX ? RESTART_MAX : s->backoff * 2);
	s->restarts++;
	if (WIFSIGNALED(status))
		log_warnx("child died", "child=%s signal=%d restart_in=%d", s->name,
		    WTERMSIG(status), s->backoff);
	else
		log_warnx("child exited", "child=%s status=%d restart_in=%d", s->name,
		    WEXITSTATUS(status), s->backoff);
	if (s->restarts >= 5)
		log_warnx("crash loop", "child=%s restarts=%d window=%d", s->name,
		    s->restarts, CRASH_WINDOW);
	tv.tv_sec = s->backoff;
	tv.tv_usec = 0;
	evtimer_add(s->restart_ev, &tv);
}

/* The private redis-server: unix socket only, no TCP, no disk snapshots
 * (SQLite is the truth: an empty Redis is rebuilt from it). */
void
redis_start(struct service *s)
{
	char *pidfile, *argv[] = { sv.cfg.redis_server, "--port", "0", "--unixsocket",
	    sv.redis_sock, "--unixsocketperm", "700", "--dir", sv.redis_dir,
	    "--pidfile", NULL, "--save", "",
	    "--appendonly", "no", "--maxmemory-policy", "noeviction",
	    "--daemonize", "no", NULL };
	/* Its environment is this alone: no token, nothing of ours. */
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	const struct service_user *su = service_user();
	struct child_spec cs = { 0 };
	char path[4096];

	xasprintf(&pidfile, "%s/redis.pid", sv.redis_dir);
	argv[10] = pidfile;
	/* redis-server is found on PATH; execve needs a path. */
	snprintf(path, sizeof(path), "%s", sv.cfg.redis_server);
	if (strchr(path, '/') == NULL)
		snprintf(path, sizeof(path), "/usr/bin/%s", sv.cfg.redis_server);
	cs.path = path;
	cs.argv = argv;
	cs.envp = envp;
	cs.fd_in = -1;
	cs.pdeathsig = SIGTERM;	/* no orphaned Redis if we are SIGKILLed */
	/* As root: the service user, no_new_privs (its own dir: state_dir/redis). */
	cs.drop = su->set;
	cs.uid = su->uid;
	cs.gid = su->gid;
	cs.sandboxed = su->set;
	cs.extra[0] = sv.redis_lock;	/* its fd 3: the lock lives as long as it */
	cs.nextra = sv.redis_lock != -1;
	service_spawn(s, &cs);
	free(pidfile);
}

/*
 * The private Redis of a greetbotd that died (SIGKILL, a crash) gets its
 * parent-death SIGTERM, and on its way out it unlinks redis.sock: by then
 * the socket of the next greetbotd's Redis, which nobody could reach again.
 * So every private Redis holds state_dir/redis.lock (an flock shared with
 * us through its fd 3), and the next greetbotd starts its own only once the
 * lock is free: the old one is gone. Waited for before the loop runs: at
 * most REDIS_LOCK_WAIT s, then the holder (redis.pid, if it is a
 * redis-server) is killed, then it is fatal.
 */
#define REDIS_LOCK_WAIT	10

static pid_t
redis_old_pid(void)
{
	char *path, buf[64] = "", comm[64] = "";
	pid_t pid;
	ssize_t n;
	FILE *f;
	int fd;

	/* Written by the service user: a number, read without following. */
	xasprintf(&path, "%s/redis.pid", sv.redis_dir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) != -1) {
		if ((n = read(fd, buf, sizeof(buf) - 1)) > 0)
			buf[n] = '\0';
		close(fd);
	}
	free(path);
	if ((pid = (pid_t)atoi(buf)) <= 1)
		return -1;
	xasprintf(&path, "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	free(path);
	return strncmp(comm, "redis-server", 12) == 0 ? pid : -1;
}

void
redis_lock_take(void)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char *path;
	pid_t old;
	int i;

	xasprintf(&path, "%s/redis.lock", sv.cfg.state_dir);
	if ((sv.redis_lock = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		fatal("cannot open the redis lock", "path=%s", path);
	for (i = 0; flock(sv.redis_lock, LOCK_EX | LOCK_NB) == -1; i++) {
		if (errno != EWOULDBLOCK)
			fatal("cannot lock the redis lock", "path=%s", path);
		if (i == 0)
			log_info("waiting for the previous redis-server to exit", "lock=%s", path);
		if (i == REDIS_LOCK_WAIT * 20 && (old = redis_old_pid()) != -1) {
			log_warnx("the previous redis-server did not exit, killing it",
			    "pid=%d", (int)old);
			kill(old, SIGKILL);
		}
		if (i == REDIS_LOCK_WAIT * 40)
			fatalx("the previous redis-server holds its lock still", "lock=%s", path);
		nanosleep(&pause, NULL);
	}
	free(path);
}

/* greetbot-tg: bot_program, else beside greetbotd, else in libexec. */
static char *
bot_path(void)
{
	char self[4096], *slash;
	ssize_t n;

	if (*sv.cfg.bot_program != '\0')
		return xstrdup(sv.cfg.bot_program);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 40)) <= 0)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/');
	strcpy(slash + 1, "greetbot-tg");
	if (access(self, X_OK) != 0)
		strcpy(slash, "/../libexec/greetbot/greetbot-tg");
	return xstrdup(self);
}

/* A variable of ours that a child of ours (the jobs process, a
 * greetbot-tg) gets: the GREETBOT_ overrides, libcurl's proxy and CA
 * settings, the locale, the sanitizers'. Nothing else: a token set in
 * our environment reaches no one. */
static int
env_keeps(const char *kv)
{
	static const char *const keep[] = {
		"GREETBOT_", "PATH=", "LANG=", "LC_", "TZ=", "http_proxy=", "https_proxy=",
		"HTTPS_PROXY=", "all_proxy=", "ALL_PROXY=", "no_proxy=", "NO_PROXY=",
		"SSL_CERT_FILE=", "SSL_CERT_DIR=", "CURL_CA_BUNDLE=", "ASAN_OPTIONS=",
		"UBSAN_OPTIONS=", "LSAN_OPTIONS=",
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (strncmp(kv, keep[i], strlen(keep[i])) == 0)
			return 1;
	return 0;
}

/* Our environment as env_keeps filters it, with room for n more. */
static char **
child_env(size_t n)
{
	extern char **environ;
	char **envp;
	size_t k = 0;

	for (size_t i = 0; environ[i] != NULL; i++)
		k++;
	envp = xcalloc(k + n + 1, sizeof(*envp));
	k = 0;
	for (size_t i = 0; environ[i] != NULL; i++)
		if (env_keeps(environ[i]))
			envp[k++] = environ[i];
	return envp;
}

/* The first free place of a child_env. */
static size_t
env_end(char **envp)
{
	size_t n = 0;

	while (envp[n] != NULL)
		n++;
	return n;
}

/* One bot's greetbot-tg: -b names its bot in the configuration. */
void
bot_start(struct service *s)
{
	struct bot *b = (struct bot *)s;
	char *path = bot_path(), *argv[6] = { path, "-b", b->id, NULL, NULL, NULL };
	char **envp;
	struct child_spec cs = { 0 };
	int ch[2];
	size_t n;

	if (sv.config_path != NULL) {
		argv[3] = "-c";
		argv[4] = (char *)sv.config_path;
	}
	(void)db_files_ready();
	/* Its previews are rendered by us, over a channel of its own that
	 * may ask for its slots alone. */
	if (chan_pair(ch) == -1) {
		log_warn("cannot start a bot: socketpair", "bot=%s", b->id);
		free(path);
		return;
	}
	if (b->renders != NULL)
		rendsrv_detach(b->renders);
	b->renders = rendsrv_attach(&sv.render_env, ch[0], SANDBOX_SLOT_BOT(b->index),
	    SANDBOX_PREVIEWS, b->name);
	rendsrv_watch(b->renders, &b->renders);
	/* Its environment: of ours only what it reads, plus the fds. */
	envp = child_env(3);
	n = env_end(envp);
	envp[n] = "GREETBOT_WAKE_FD=3";
	envp[n + 1] = "GREETBOT_NOTIFY_FD=4";
	envp[n + 2] = "GREETBOT_RENDER_FD=5";
	cs.path = path;
	cs.argv = argv;
	cs.envp = envp;
	cs.fd_in = -1;
	cs.pdeathsig = SIGTERM;	/* no second bot polling after our restart */
	cs.extra[0] = b->wake[0];
	cs.extra[1] = sv.wake_us[1];
	cs.extra[2] = ch[1];
	cs.nextra = 3;
	service_spawn(s, &cs);
	close(ch[1]);
	free(envp);
	free(path);
}

/* An enabled bot whose greetbot-tg is not running, or NULL. */
struct bot *
bot_down(void)
{
	for (int i = 0; i < sv.nbots; i++)
		if (!sv.bots[i].svc.stopped && sv.bots[i].svc.pid <= 0)
			return &sv.bots[i];
	return NULL;
}

/* Poke the bots: their outboxes have new rows. */
void
bots_wake(void)
{
	for (int i = 0; i < sv.nbots; i++)
		if (sv.bots[i].svc.pid > 0)
			(void)!write(sv.bots[i].wake[1], "w", 1);
}

/* A bot's configuration (the top level's for an id not configured). */
static const struct config *
bot_cfg(const char *id)
{
	const struct config_bot *b = id != NULL ? config_bot(&sv.cfg, id) : NULL;

	return b != NULL ? b->cfg : &sv.cfg;
}

/*
 * The snapshot of a bot's template (template.h), made by us: the bot,
 * unprivileged, may not write the render tree, and finds it there when
 * it loads the same version. A failure is the bot's to report.
 */
static void
bot_snapshot(const struct bot *b)
{
	const struct config *bc = bot_cfg(b->id);
	struct template t;
	char err[512], *snap;

	/* Ours (main loads and snapshots it, and so does a reload). */
	if (strcmp(bc->templates_dir, sv.cfg.templates_dir) == 0 &&
	    strcmp(bc->default_template, sv.cfg.default_template) == 0 &&
	    strcmp(bc->render_script, sv.cfg.render_script) == 0)
		return;
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&t, bc->templates_dir, bc->default_template, bc->render_script, snap,
	    err, sizeof(err)) == 0)
		template_free(&t);
	else
		log_warnx("a bot's template cannot be loaded", "bot=%s template=%s reason=%s",
		    b->id, bc->default_template, err);
	free(snap);
}

/* The configured bots, each with its wake pipe; the enabled ones are
 * started once the jobs process has opened (and migrated) the database.
 * A render node without the database has none. */
void
bots_setup(void)
{
	sv.nbots = sv.cfg.db_path[0] != '\0' ? sv.cfg.nbots : 0;
	sv.bots = xcalloc((size_t)sv.nbots + 1, sizeof(*sv.bots));
	for (int i = 0; i < sv.nbots; i++) {
		struct bot *b = &sv.bots[i];

		b->id = xstrdup(sv.cfg.bots[i].id);
		b->index = sv.cfg.bots[i].index;
		if (sv.nbots == 1)
			snprintf(b->name, sizeof(b->name), "greetbot-tg");
		else
			snprintf(b->name, sizeof(b->name), "greetbot-tg[%s]", b->id);
		service_init(&b->svc, b->name, bot_start);
		b->svc.stopped = !sv.cfg.bots[i].enabled;
		b->svc.own_log = 1;
		if (pipe2(b->wake, O_CLOEXEC | O_NONBLOCK) == -1)
			fatal("pipe");
		bot_snapshot(b);
	}
}

/* SIGHUP: a bot disabled is stopped, one enabled is started, the others
 * reload; the bots not named are not touched. */
void
bots_reload(void)
{
	for (int i = 0; i < sv.nbots; i++) {
		struct bot *b = &sv.bots[i];
		const struct config_bot *cb = config_bot(&sv.cfg, b->id);

		bot_snapshot(b);
		if (cb != NULL && !cb->enabled && !b->svc.stopped) {
			b->svc.stopped = 1;
			evtimer_del(b->svc.restart_ev);
			log_info("bot disabled, stopping it", "bot=%s", b->id);
			if (b->svc.pid > 0)
				kill(b->svc.pid, SIGTERM);
		} else if (cb != NULL && cb->enabled && b->svc.stopped) {
			b->svc.stopped = 0;
			b->svc.backoff = 0;
			b->svc.restarts = 0;
			log_info("bot enabled, starting it", "bot=%s", b->id);
			if (b->svc.pid <= 0)
				bot_start(&b->svc);
		} else if (b->svc.pid > 0)
			kill(b->svc.pid, SIGHUP);
	}
}

/* Draining: every bot gets SIGTERM. */
void
bots_stop(void)
{
	for (int i = 0; i < sv.nbots; i++)
		if (sv.bots[i].svc.pid > 0)
			kill(sv.bots[i].svc.pid, SIGTERM);
}

/* Tell the jobs process every bot's state, for /health and /metrics:
 * whenever a child starts or stops, and when it starts itself. */
void
bots_tell(void)
{
	for (int i = 0; sv.jobs_ctl != NULL && i < sv.nbots; i++) {
		struct jp_bot m = { .type = JP_BOT, .up = sv.bots[i].svc.pid > 0,
		    .enabled = !sv.bots[i].svc.stopped };

		snprintf(m.id, sizeof(m.id), "%s", sv.bots[i].id);
		(void)chan_send(sv.jobs_ctl, &m, sizeof(m), NULL, 0);
	}
}

/*
 * The jobs process (jobs/proc.h): this very program as "greetbotd
 * --jobs", run again from its own file rather than forked, so that it
 * starts with nothing of ours in its memory (no secret, no state) and an
 * address space of its own. It starts as root, binds the HTTP port, drops
 * to the service user and opens the database, whose files we make ready
 * first (db_files_ready). Its fds 3 to 5:
 * the control channel, the render channel (the workers' slots alone),
 * the bots' wake pipe (jobsproto.h). It dies with us.
 */
void
jobs_start(struct service *s)
{
	char *argv[5] = { "greetbotd", "--jobs", NULL, NULL, NULL };
	struct child_spec cs = { 0 };
	struct jp_sandbox sb = { .type = JP_SANDBOX, .drop = sv.sb.drop,
	    .uid_base = sv.sb.uid_base, .user_uid = sv.sb.user_uid, .gid = sv.sb.gid };
	struct jp_msg redis = { JP_REDIS };
	char **envp;
	int ctl[2], rnd[2];

	if (sv.config_path != NULL) {
		argv[2] = "-c";
		argv[3] = (char *)sv.config_path;
	}
	(void)db_files_ready();
	/* Out of descriptors: tried again in a second, as a restart. */
	ctl[0] = ctl[1] = -1;
	if (chan_pair(ctl) == -1 || chan_pair(rnd) == -1) {
		struct timeval tv = { RESTART_MIN, 0 };

		log_warn("cannot start the jobs process: socketpair");
		if (ctl[0] != -1) {
			close(ctl[0]);
			close(ctl[1]);
		}
		evtimer_add(s->restart_ev, &tv);
		return;
	}
	if (sv.jobs_renders != NULL)
		rendsrv_detach(sv.jobs_renders);
	sv.jobs_renders = rendsrv_attach(&sv.render_env, rnd[0], SANDBOX_SLOT_WORKER,
	    SANDBOX_WORKERS_MAX, "greetbotd-jobs");
	rendsrv_watch(sv.jobs_renders, &sv.jobs_renders);
	if (sv.jobs_ctl != NULL)
		chan_free(sv.jobs_ctl);
	sv.jobs_ctl = chan_new(sv.base, ctl[0], jobs_msg, jobs_closed, NULL);
	envp = child_env(0);
	cs.path = "/proc/self/exe";	/* our file, even if replaced since */
	cs.argv = argv;
	cs.envp = envp;
	cs.fd_in = -1;
	cs.pdeathsig = SIGKILL;	/* SQLite is the truth: nothing is lost */
	cs.extra[0] = ctl[1];	/* JOBS_FD_CTL */
	cs.extra[1] = rnd[1];	/* JOBS_FD_RENDER */
	cs.extra[2] = sv.wake_us[0];	/* JOBS_FD_WAKE */
	cs.nextra = 3;
	sv.jobs_ready = 0;
	service_spawn(s, &cs);
	close(ctl[1]);
	close(rnd[1]);
	free(envp);
	/* What it needs to know first, queued before it reads. */
	(void)chan_send(sv.jobs_ctl, &sb, sizeof(sb), NULL, 0);
	jobs_tell_templates();
	jobs_tell_render();
	if (*sv.cfg.redis_url != '\0' || sv.redis_up)
		(void)chan_send(sv.jobs_ctl, &redis, sizeof(redis), NULL, 0);
}
