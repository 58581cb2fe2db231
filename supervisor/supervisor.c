/*
 * supervisor.c: greetbotd, the one process a sysadmin starts.
 *
 * One libevent loop that never blocks on the network: it runs the private
 * redis-server and greetbot-tg as children, relays the job outbox from
 * SQLite to the Redis Stream, takes jobs through the consumer group, forks
 * renderers, commits each outcome to SQLite and only then acknowledges the
 * job. SQLite is the truth; Redis is transport and can be rebuilt.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "db.h"
#include "health.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "renderer.h"
#include "sandbox.h"
#include "template.h"
#include "texts.h"
#include "xmalloc.h"

#define RESTART_MIN	1	/* seconds before restarting a dead child */
#define RESTART_MAX	60
#define CRASH_WINDOW	60	/* this many seconds of life resets the backoff */
#define RELAY_BATCH	100
#define MAX_BYTES	(50LL * 1024 * 1024)	/* Telegram's bot upload limit */
#define SPECULATIVE_NICE 10	/* a render nobody confirmed yet */
#define SPECULATIVE_TTL	3600	/* seconds a speculative job may wait to start */

/* A supervised long-lived child: greetbot-tg or the private redis-server. */
struct service {
	const char	*name;
	pid_t		 pid;
	int		 backoff;
	time_t		 started;
	int		 restarts;	/* within the crash window */
	struct event	*restart_ev;
	void		(*start)(struct service *);
	struct event	*out_ev;	/* its output, logged line by line */
	int		 out_fd;
	char		 buf[1024];
	size_t		 len;
	int		 stopped;	/* disabled: not restarted */
};

/* One configured bot: its greetbot-tg (the service first: a struct
 * service * of a bot is its struct bot *), the texts its parents read. */
struct bot {
	struct service	 svc;
	char		 name[48];	/* "greetbot-tg" or "greetbot-tg[ID]" */
	char		*id;
	int		 index;		/* in the configuration: its preview slots */
	int		 wake[2];	/* we write: its outbox has new rows */
	struct texts	*texts;
};

/* One job being rendered here. */
struct job {
	int64_t		 id, asset_id, attempt_id;
	char		*bot;		/* the asset's */
	char		*tmpl;		/* its template id */
	char		*entry_id;	/* the stream entry to ack */
	char		*work_dir;
	char		*name;
	char		*stress;	/* names.h stress text, "" for none */
	struct render	*render;
	int		 slot;		/* worker slot: its uid */
	double		 started_at;
	int		 interrupted;	/* killed by a drain */
	int		 speculative;	/* no parent has confirmed it yet */
	int		 preempted;	/* stopped: a confirmed job needs the worker */
	double		 progress;	/* last shown to the parents */
	time_t		 progress_at;
	struct job	*next;
};

static struct {
	struct config		 cfg;
	const char		*config_path;
	struct event_base	*base;
	sqlite3			*db;
	struct queue		*queue;
	struct template		 tmpl;		/* the default template */
	struct texts		*texts;		/* the top level's: a bot's fallback */
	struct service		 redis;
	struct bot		*bots;		/* as configured at start */
	int			 nbots;
	char			*render_dir, *assets_dir, *redis_sock;
	struct sandbox		 sb;		/* who renderers run as */
	char			 slot_busy[256];	/* worker slots in use */
	char			*render_problem;	/* why renderers cannot start */
	time_t			 render_checked;
	/* A render node without the database (db_path empty, no bot). */
	uint64_t		 boot;		/* random: part of its result ids */
	long long		 attempts_here;
	long long		 refused;	/* entries of a version not here */
	time_t			 refused_at;	/* then a second without reading */
	struct node_count	*counts;	/* its renders by status */
	struct tmpl_list	*tmpls;		/* templates other than the default */
	struct job		*jobs;
	int			 running;
	int			 ncpu;
	int			 relaying;	/* publishes in flight */
	int			 taking_spec;	/* jobs_take is starting speculative jobs */
	time_t			 expired_at;	/* spec_expire last ran */
	int			 draining;
	int			 ready_fd;
	char			 http_addr[64];
	int			 announced;
	int			 wake_us[2];	/* the bots write: new jobs */
	struct event		*wake_ev, *tick_ev, *drain_ev;
} sv;

/* Renders by status on a node without the database, for /metrics. */
struct node_count {
	char			*status;
	long long		 n;
	struct node_count	*next;
};

/* A template a job named that is not the default, loaded on demand. */
struct tmpl_list {
	struct template		 t;
	struct tmpl_list	*next;
};

static void relay_run(void);
static void jobs_take(void);
static void spec_preempt(void);
static void drain_check(void);
static char *bot_path(void);
static const char *render_check(void);

/* Poke the bots: their outboxes have new rows. */
static void
wake_bot(void)
{
	for (int i = 0; i < sv.nbots; i++)
		if (sv.bots[i].svc.pid > 0)
			(void)!write(sv.bots[i].wake[1], "w", 1);
}

/* The bot of that id, or NULL (a bot no longer configured). */
static struct bot *
bot_find(const char *id)
{
	for (int i = 0; i < sv.nbots; i++)
		if (id != NULL && strcmp(sv.bots[i].id, id) == 0)
			return &sv.bots[i];
	return NULL;
}

/* The texts a bot's parents read. */
static struct texts *
bot_texts(const char *id)
{
	struct bot *b = bot_find(id);

	return b != NULL && b->texts != NULL ? b->texts : sv.texts;
}

/* The configuration as a bot sees it (its admin chat ...). */
static const struct config *
bot_cfg(const char *id)
{
	const struct config_bot *b = id != NULL ? config_bot(&sv.cfg, id) : NULL;

	return b != NULL ? b->cfg : &sv.cfg;
}

/* --- services: redis-server and greetbot-tg ------------------------------ */

static void service_exited(pid_t, int, const struct rusage *, void *);

static void
service_restart(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;

	(void)fd;
	(void)what;
	s->start(s);
}

static void redis_ready(void);

/* Log a child's output line by line; redis says when it is ready. */
static void
service_line(struct service *s, char *line)
{
	char q[1200];

	/* Our own children already log logfmt lines: pass them through. */
	if (strncmp(line, "ts=", 3) == 0) {
		log_redact(line);
		fprintf(stderr, "%s\n", line);
		return;
	}
	log_info("child output\tchild=%s line=%s", s->name, log_quote(q, sizeof(q), line));
	if (s == &sv.redis && strcasestr(line, "ready to accept connections") != NULL)
		redis_ready();
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

/* Start a service child with its stdout/stderr on a pipe we log. */
static void
service_spawn(struct service *s, struct child_spec *cs)
{
	int p[2];

	if (s->out_ev != NULL) {
		event_free(s->out_ev);
		close(s->out_fd);
		s->out_ev = NULL;
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
		log_warn("cannot start %s", s->name);
		service_exited(-1, 127 << 8, NULL, s);
		return;
	}
	log_info("child started\tchild=%s pid=%d", s->name, (int)s->pid);
}

/*
 * A service died: restart it after a backoff that doubles while it keeps
 * dying young (s6-supervise's lesson: never a tight respawn loop).
 */
static void
service_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct service *s = arg;
	struct timeval tv;

	(void)pid;
	(void)ru;
	s->pid = 0;
	if (sv.draining) {
		drain_check();
		return;
	}
	if (s->stopped) {
		log_info("child stopped\tchild=%s", s->name);
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
		log_warnx("child died\tchild=%s signal=%d restart_in=%d", s->name,
		    WTERMSIG(status), s->backoff);
	else
		log_warnx("child exited\tchild=%s status=%d restart_in=%d", s->name,
		    WEXITSTATUS(status), s->backoff);
	if (s->restarts >= 5)
		log_warnx("crash loop\tchild=%s restarts=%d window=%d", s->name,
		    s->restarts, CRASH_WINDOW);
	tv.tv_sec = s->backoff;
	tv.tv_usec = 0;
	evtimer_add(s->restart_ev, &tv);
}

/* The private redis-server: unix socket only, no TCP, no disk snapshots
 * (SQLite is the truth: an empty Redis is rebuilt from it). */
static void
redis_start(struct service *s)
{
	char *argv[] = { sv.cfg.redis_server, "--port", "0", "--unixsocket", sv.redis_sock,
	    "--unixsocketperm", "700", "--dir", sv.cfg.state_dir, "--save", "",
	    "--appendonly", "no", "--maxmemory-policy", "noeviction",
	    "--daemonize", "no", NULL };
	extern char **environ;
	struct child_spec cs = { 0 };
	char path[4096];

	/* redis-server is found on PATH; execve needs a path. */
	snprintf(path, sizeof(path), "%s", sv.cfg.redis_server);
	if (strchr(path, '/') == NULL)
		snprintf(path, sizeof(path), "/usr/bin/%s", sv.cfg.redis_server);
	cs.path = path;
	cs.argv = argv;
	cs.envp = environ;
	cs.fd_in = -1;
	cs.pdeathsig = SIGTERM;	/* no orphaned Redis if we are SIGKILLed */
	service_spawn(s, &cs);
}

/* One bot's greetbot-tg: -b names its bot in the configuration. */
static void
bot_start(struct service *s)
{
	struct bot *b = (struct bot *)s;
	char *path = bot_path(), *argv[6] = { path, "-b", b->id, NULL, NULL, NULL };
	char **envp;
	extern char **environ;
	struct child_spec cs = { 0 };
	size_t n = 0;

	if (sv.config_path != NULL) {
		argv[3] = "-c";
		argv[4] = (char *)sv.config_path;
	}
	/* Its environment is ours (the config overrides), plus the wake fds. */
	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 3, sizeof(*envp));
	memcpy(envp, environ, n * sizeof(*envp));
	envp[n] = "GREETBOT_WAKE_FD=3";
	envp[n + 1] = "GREETBOT_NOTIFY_FD=4";
	cs.path = path;
	cs.argv = argv;
	cs.envp = envp;
	cs.fd_in = -1;
	cs.pdeathsig = SIGTERM;	/* no second bot polling after our restart */
	cs.extra[0] = b->wake[0];
	cs.extra[1] = sv.wake_us[1];
	cs.nextra = 2;
	service_spawn(s, &cs);
	free(envp);
	free(path);
}

/* --- readiness ---------------------------------------------------------- */

/* An enabled bot whose greetbot-tg is not running, or NULL. */
static struct bot *
bot_down(void)
{
	for (int i = 0; i < sv.nbots; i++)
		if (!sv.bots[i].svc.stopped && sv.bots[i].svc.pid <= 0)
			return &sv.bots[i];
	return NULL;
}

/* Ready once Redis answers and the bots run: tell whoever waits. */
static void
announce_ready(void)
{
	if (sv.announced || sv.queue == NULL || !queue_connected(sv.queue) ||
	    bot_down() != NULL)
		return;
	sv.announced = 1;
	log_info("ready\tworkers=%d template=%s version=%s", sv.cfg.workers,
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

/* --- the job outbox relay: SQLite -> Redis ------------------------------- */

static void
relay_published(int ok, int64_t job_id, void *arg)
{
	(void)arg;
	sv.relaying--;
	if (ok)
		log_info("job published\tjob=%lld", (long long)job_id);
	if (ok)
		db_run(sv.db, "UPDATE jobs SET published_at = ?, state = CASE WHEN state = "
		    "'RETRY_WAIT' AND next_attempt_at <= ? THEN 'QUEUED' ELSE state END, "
		    "updated_at = ? WHERE id = ? AND published_at IS NULL", "llll", db_now(),
		    db_now(), db_now(), job_id);
	if (sv.relaying == 0 && ok)
		relay_run();
}

/*
 * Publish jobs not yet in Redis: due ones to the stream, retries that wait
 * to the retry set. One batch at a time: a job is marked published only
 * after Redis answered, so a crash between the two publishes it again,
 * which idempotent jobs make harmless.
 */
static void
relay_run(void)
{
	sqlite3_stmt *st;

	if (sv.draining || sv.relaying > 0 || sv.queue == NULL || !queue_connected(sv.queue) ||
	    sv.db == NULL)
		return;
	/* The entry carries what a node without the database needs. */
	st = db_prep(sv.db, "SELECT j.id, j.next_attempt_at, a.id, a.bot_id, a.template_id, "
	    "a.template_version, a.display_name, a.stress FROM jobs j JOIN assets a ON a.id = "
	    "j.asset_id WHERE j.published_at IS NULL AND j.state IN ('QUEUED','RETRY_WAIT') "
	    "AND j.speculative = 0 ORDER BY j.id LIMIT ?", "i", RELAY_BATCH);
	while (db_step(st) == SQLITE_ROW) {
		int64_t due = sqlite3_column_int64(st, 1);
		struct queue_job qj = {
			.id = sqlite3_column_int64(st, 0),
			.asset_id = sqlite3_column_int64(st, 2),
			.bot = (const char *)sqlite3_column_text(st, 3),
			.tmpl = (const char *)sqlite3_column_text(st, 4),
			.version = (const char *)sqlite3_column_text(st, 5),
			.name = (const char *)sqlite3_column_text(st, 6),
			.stress = (const char *)sqlite3_column_text(st, 7),
		};

		sv.relaying++;
		if (due > db_now())
			queue_schedule(sv.queue, &qj, due, relay_published, NULL);
		else
			queue_publish(sv.queue, &qj, relay_published, NULL);
	}
	sqlite3_finalize(st);
}

/* Redis is (back): if it lost the stream, everything unfinished goes again. */
static void
queue_connected_cb(int created, void *arg)
{
	(void)arg;
	if (created && sv.db != NULL) {
		int n = db_run(sv.db, "UPDATE jobs SET published_at = NULL WHERE state IN "
		    "('QUEUED','RUNNING','RETRY_WAIT') AND published_at IS NOT NULL", "");
		if (n > 0)
			log_warnx("redis has no job stream; republishing from SQLite\tjobs=%d", n);
	}
	relay_run();
	jobs_take();
	announce_ready();
}

/* --- jobs ---------------------------------------------------------------- */

static void
job_free(struct job *j)
{
	struct job **pp;

	for (pp = &sv.jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	sv.slot_busy[j->slot] = 0;
	free(j->bot);
	free(j->tmpl);
	free(j->entry_id);
	free(j->work_dir);
	free(j->name);
	free(j->stress);
	free(j);
}

/* Exponential backoff with jitter: 5 s, 10 s, 20 s ... plus up to 50%. */
static int64_t
retry_delay(int attempts)
{
	int64_t base = 5LL << (attempts > 10 ? 10 : attempts - 1);

	return base + (int64_t)(random() % (base / 2 + 1));
}

/*
 * An alert to admin_chat_id, inside the caller's transaction. One per cause
 * per alert_window: the rest are counted, and the next alert says how
 * many were held back.
 */
static void
alert_admin(const char *bot, const char *what, const char *text)
{
	const struct config *bc = bot_cfg(bot);
	char cause[300];
	int64_t start, held;
	char *msg;
	cJSON *p;

	/* With several bots, each admin hears of their own bot's renders. */
	snprintf(cause, sizeof(cause), "%s%s%s", what, sv.nbots > 1 ? "@" : "",
	    sv.nbots > 1 ? bc->bot_id : "");
	start = db_int(sv.db, -1, "SELECT window_start FROM alerts WHERE cause = ?", "s",
	    cause);
	held = db_int(sv.db, 0, "SELECT suppressed FROM alerts WHERE cause = ?", "s", cause);
	if (bc->admin_chat_id == 0)
		return;
	if (start >= 0 && db_now() - start < sv.cfg.alert_window) {
		db_run(sv.db, "UPDATE alerts SET suppressed = suppressed + 1 WHERE cause = ?",
		    "s", cause);
		return;
	}
	if (held > 0)
		xasprintf(&msg, "\xe2\x9a\xa0 %s\n(%lld more like this since the last alert)",
		    text, (long long)held);
	else
		xasprintf(&msg, "\xe2\x9a\xa0 %s", text);
	p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "chat_id", (double)bc->admin_chat_id);
	cJSON_AddStringToObject(p, "text", msg);
	db_outbox_add(sv.db, bc->bot_id, bc->admin_chat_id, "alert", "sendMessage", p, 0, 0);
	db_run(sv.db, "INSERT INTO alerts (cause, window_start, suppressed) VALUES (?, ?, 0) "
	    "ON CONFLICT (cause) DO UPDATE SET window_start = excluded.window_start, "
	    "suppressed = 0", "sl", cause, db_now());
	log_warnx("admin alerted\tcause=%s held_back=%lld", cause, (long long)held);
	free(msg);
}

/* The final failure of a job, told to the admin. */
static void
alert_failure(struct job *j, const char *status, const char *cause)
{
	char *key, *text;

	const char *tmpl = j->tmpl != NULL ? j->tmpl : sv.tmpl.id;

	if (strcmp(status, "template_broken") == 0) {
		xasprintf(&key, "template_broken:%s", tmpl);
		xasprintf(&text, "Template %s is broken: %s. Check it with: greetctl template "
		    "check %s", tmpl, cause, tmpl);
	} else {
		xasprintf(&key, "final_failure:%s", status);
		xasprintf(&text, "A render failed for good (%s: %s), asset %lld, job %lld.",
		    status, cause, (long long)j->asset_id, (long long)j->id);
	}
	alert_admin(j->bot, key, text);
	free(key);
	free(text);
}

/* Queue a sendMessage to every subscriber of a failed asset. */
static void
notify_failed(int64_t asset_id, const char *display)
{
	sqlite3_stmt *st = db_prep(sv.db, "SELECT id, chat_id, language, bot_id FROM requests "
	    "WHERE asset_id = ? AND state = 'PENDING'", "l", asset_id);

	while (db_step(st) == SQLITE_ROW) {
		const char *lang = (const char *)sqlite3_column_text(st, 2);
		const char *bot = (const char *)sqlite3_column_text(st, 3);
		struct texts *tx = bot_texts(bot);
		char *text = texts_fmt(tx, lang, "render_failed", display);
		char data[40];
		cJSON *p = cJSON_CreateObject(), *kb, *row, *btn, *markup;

		snprintf(data, sizeof(data), "retry:%lld", (long long)asset_id);
		cJSON_AddNumberToObject(p, "chat_id", (double)sqlite3_column_int64(st, 1));
		cJSON_AddStringToObject(p, "text", text);
		markup = cJSON_AddObjectToObject(p, "reply_markup");
		row = cJSON_CreateArray();
		btn = cJSON_CreateObject();
		cJSON_AddStringToObject(btn, "text", texts_get(tx, lang, "button_retry"));
		cJSON_AddStringToObject(btn, "callback_data", data);
		cJSON_AddItemToArray(row, btn);
		kb = cJSON_CreateArray();
		cJSON_AddItemToArray(kb, row);
		cJSON_AddItemToObject(markup, "inline_keyboard", kb);
		db_outbox_add(sv.db, bot, sqlite3_column_int64(st, 1), "notice",
		    "sendMessage", p, sqlite3_column_int64(st, 0), asset_id);
		free(text);
	}
	sqlite3_finalize(st);
	db_run(sv.db, "UPDATE requests SET state = 'FAILED', updated_at = ? WHERE "
	    "asset_id = ? AND state = 'PENDING'", "ll", db_now(), asset_id);
}

/*
 * The parent's "order accepted" message shows the render's progress. One
 * pending edit per request: a newer one replaces its text rather than
 * queueing behind it.
 */
static void
progress_edit(const char *bot, int64_t request, int64_t chat, int64_t message_id,
    const char *lang, const char *name, double p)
{
	char bar[64] = "", *head, *text, *params;
	int filled = (int)(p * 10 + 0.5);
	cJSON *j = cJSON_CreateObject();

	for (int i = 0; i < 10; i++)
		strcat(bar, i < filled ? "\xe2\x96\x93" : "\xe2\x96\x91");	/* ▓ ░ */
	head = texts_fmt(bot_texts(bot), lang, "progress", name);
	xasprintf(&text, "%s\n%s %d%%", head, bar, (int)(p * 100 + 0.5));
	cJSON_AddNumberToObject(j, "chat_id", (double)chat);
	cJSON_AddNumberToObject(j, "message_id", (double)message_id);
	cJSON_AddStringToObject(j, "text", text);
	params = cJSON_PrintUnformatted(j);
	if (db_run(sv.db, "UPDATE outbox SET params = ? WHERE request_id = ? AND kind = "
	    "'progress' AND state = 'PENDING'", "sl", params, request) == 0)
		db_run(sv.db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, "
		    "request_id, created_at) VALUES (?, ?, 'progress', 'editMessageText', ?, ?, "
		    "?)", "slsll", bot, chat, params, request, db_now());
	free(params);
	free(text);
	free(head);
	cJSON_Delete(j);
}

/* Queue the video for every subscriber: the bot uploads once, then reuses. */
static void
deliver_video(int64_t asset_id)
{
	sqlite3_stmt *st = db_prep(sv.db, "SELECT r.id, r.chat_id, r.language, "
	    "a.display_name, r.bot_id FROM requests r JOIN assets a ON a.id = r.asset_id WHERE "
	    "r.asset_id = ? AND r.state = 'PENDING' AND NOT EXISTS (SELECT 1 FROM outbox o "
	    "WHERE o.request_id = r.id AND o.kind = 'video' AND o.state != 'FAILED')", "l",
	    asset_id);

	while (db_step(st) == SQLITE_ROW) {
		const char *bot = (const char *)sqlite3_column_text(st, 4);
		char *caption = texts_fmt(bot_texts(bot), (const char *)sqlite3_column_text(st,
		    2), "video_caption", (const char *)sqlite3_column_text(st, 3));
		cJSON *j = cJSON_CreateObject();

		cJSON_AddNumberToObject(j, "chat_id", (double)sqlite3_column_int64(st, 1));
		cJSON_AddStringToObject(j, "caption", caption);
		cJSON_AddBoolToObject(j, "supports_streaming", 1);
		db_outbox_add(sv.db, bot, sqlite3_column_int64(st, 1), "video",
		    "sendVideo", j, sqlite3_column_int64(st, 0), asset_id);
		free(caption);
	}
	sqlite3_finalize(st);
	/* Progress edits still waiting are pointless now. */
	db_run(sv.db, "UPDATE outbox SET state = 'FAILED', last_error = 'superseded by the "
	    "video' WHERE kind = 'progress' AND state = 'PENDING' AND request_id IN (SELECT "
	    "id FROM requests WHERE asset_id = ?)", "l", asset_id);
}

/* Move the validated MP4 out of the work dir into the asset store, with
 * its thumbnail beside it (assets/<id>.jpg, uploaded with the video). */
static char *
keep_output(struct job *j, const char *output)
{
	char *dst, *thumb, *kept;

	xasprintf(&dst, "%s/%lld.mp4", sv.assets_dir, (long long)j->asset_id);
	xasprintf(&thumb, "%s/thumb.jpg", j->work_dir);
	xasprintf(&kept, "%s/%lld.jpg", sv.assets_dir, (long long)j->asset_id);
	if (rename(thumb, kept) == -1)
		unlink(kept);	/* never an older render's thumbnail */
	free(thumb);
	free(kept);
	if (rename(output, dst) == -1) {
		log_warn("keep output %s", dst);
		free(dst);
		return NULL;
	}
	return dst;
}

/* An attempt is over, whatever it was: free the worker. */
static void
job_finished(struct job *j)
{
	/* Escaped descendants, re-parented to us; again while any are found. */
	for (int i = 0; i < 10 && child_kill_strays() > 0; i++)
		;
	render_rmtree(j->work_dir);
	job_free(j);
	sv.running--;
	jobs_take();
	drain_check();
}

/*
 * Killed by a drain: not the job's fault. The attempt is recorded as
 * interrupted, the job goes back to QUEUED without using up an attempt,
 * and its stream entry stays unacknowledged, pending for this consumer,
 * so the next start reads it again. (A node without the database only
 * leaves the entry pending.)
 */
static void
job_interrupted(struct job *j, const struct render_outcome *o)
{
	if (sv.db != NULL) {
		db_begin(sv.db);
		db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'interrupted', "
		    "signal = ?, cause = 'greetbotd stopped during the render', duration = ? "
		    "WHERE id = ?", "didl", (double)time(NULL), o->signal, o->duration,
		    j->attempt_id);
		db_run(sv.db, "UPDATE jobs SET state = 'QUEUED', attempts = max(attempts - 1, 0), "
		    "updated_at = ? WHERE id = ?", "ll", db_now(), j->id);
		db_run(sv.db, "UPDATE assets SET state = 'PENDING', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->asset_id);
		db_commit(sv.db);
	}
	log_info("render interrupted by drain	job=%lld", (long long)j->id);
	job_finished(j);
}

/*
 * Other bots' assets that wait for this job's render (assets.shares): the
 * same video for each, uploaded by its own bot (kept), or the same final
 * failure (NULL). Inside the caller's transaction.
 */
static void
sharers_done(struct job *j, const char *kept)
{
	sqlite3_stmt *st = db_prep(sv.db, "SELECT id FROM assets WHERE shares = ? AND state IN "
	    "('PENDING','GENERATING')", "l", j->asset_id);

	while (db_step(st) == SQLITE_ROW) {
		int64_t a = sqlite3_column_int64(st, 0);

		db_run(sv.db, "UPDATE assets SET state = ?, file_path = coalesce(?, file_path), "
		    "file_id = NULL, shares = NULL, updated_at = ? WHERE id = ?", "ssll",
		    kept != NULL ? "AVAILABLE" : "FAILED", kept, db_now(), a);
		if (kept != NULL)
			deliver_video(a);
		else
			notify_failed(a, j->name);
		log_info("shared render finished\tasset=%lld of=%lld ok=%d", (long long)a,
		    (long long)j->asset_id, kept != NULL);
	}
	sqlite3_finalize(st);
}

/*
 * Inside the caller's transaction: what an attempt (ours, or a render
 * node's) means for the job, the asset and its subscribers' outbox rows.
 */
static void
job_outcome(struct job *j, const char *status, const char *cause, int ok, int retryable,
    const char *kept, int attempts)
{
	if (ok) {
		db_run(sv.db, "UPDATE jobs SET state = 'DONE', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->id);
		db_run(sv.db, "UPDATE assets SET state = 'AVAILABLE', file_path = ?, "
		    "updated_at = ? WHERE id = ?", "sll", kept, db_now(), j->asset_id);
		deliver_video(j->asset_id);
		sharers_done(j, kept);
	} else if (j->speculative) {
		/* No parent waits: one attempt only. A confirm finds the asset
		 * FAILED and starts a job of its own, with the retries. */
		db_run(sv.db, "UPDATE jobs SET state = 'FAILED', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->id);
		db_run(sv.db, "UPDATE assets SET state = 'FAILED', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->asset_id);
		if (strcmp(status, "template_broken") == 0)
			alert_failure(j, status, cause);
	} else if (!retryable || attempts >= sv.cfg.max_attempts) {
		db_run(sv.db, "UPDATE jobs SET state = 'FAILED', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->id);
		db_run(sv.db, "UPDATE assets SET state = 'FAILED', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->asset_id);
		notify_failed(j->asset_id, j->name);
		sharers_done(j, NULL);
		alert_failure(j, status, cause);
	} else {
		db_run(sv.db, "UPDATE jobs SET state = 'RETRY_WAIT', published_at = NULL, "
		    "next_attempt_at = ?, updated_at = ? WHERE id = ?", "lll",
		    db_now() + retry_delay(attempts), db_now(), j->id);
		db_run(sv.db, "UPDATE assets SET state = 'PENDING', updated_at = ? WHERE id = ?",
		    "ll", db_now(), j->asset_id);
	}
}

static void job_done_remote(struct job *, const struct render_outcome *);

/*
 * A speculative render stopped for a confirmed job: not its fault either.
 * Back to QUEUED without using up an attempt, for an idle worker later
 * (or, when a parent confirmed meanwhile, for the relay to publish).
 */
static void
job_preempted(struct job *j, const struct render_outcome *o)
{
	db_begin(sv.db);
	db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'preempted', signal = ?, "
	    "cause = 'a confirmed render needed the worker', duration = ? WHERE id = ?",
	    "didl", (double)time(NULL), o->signal, o->duration, j->attempt_id);
	db_run(sv.db, "UPDATE jobs SET state = 'QUEUED', attempts = max(attempts - 1, 0), "
	    "published_at = NULL, updated_at = ? WHERE id = ? AND state = 'RUNNING'", "ll",
	    db_now(), j->id);
	db_run(sv.db, "UPDATE assets SET state = 'PENDING', updated_at = ? WHERE id = ? AND "
	    "state = 'GENERATING'", "ll", db_now(), j->asset_id);
	db_commit(sv.db);
	log_info("speculative render preempted\tjob=%lld asset=%lld", (long long)j->id,
	    (long long)j->asset_id);
	job_finished(j);
}

/*
 * Commit an attempt's outcome, its consequences for the job, the asset and
 * the subscribers' outbox rows in one transaction; then ack the entry.
 */
static void
job_done(const struct render_outcome *o, void *arg)
{
	struct job *j = arg;
	char *output, *kept = NULL;
	const char *status = o->status, *cause = o->cause;
	int ok = strcmp(o->status, "ok") == 0, retryable = o->retryable, attempts, live;

	if (j->interrupted) {
		job_interrupted(j, o);
		return;
	}
	if (j->preempted) {
		job_preempted(j, o);
		return;
	}
	if (sv.db == NULL) {
		job_done_remote(j, o);
		return;
	}
	xasprintf(&output, "%s/out.mp4", j->work_dir);
	if (ok && (kept = keep_output(j, output)) == NULL) {
		/* Our disk, not the script: worth another attempt. */
		ok = 0;
		retryable = 1;
		status = "failed";
		cause = "cannot keep the output";
	}
	attempts = (int)db_int(sv.db, 0, "SELECT attempts FROM jobs WHERE id = ?", "l", j->id);
	/* Still ours? A render node's result may have finished it meanwhile. */
	live = db_int(sv.db, 0, "SELECT count(*) FROM jobs WHERE id = ? AND state = "
	    "'RUNNING' AND node = ?", "ls", j->id, sv.cfg.node_name) > 0;
	/* Confirmed while it ran? Then it is an ordinary job now. */
	j->speculative = (int)db_int(sv.db, 0, "SELECT speculative FROM jobs WHERE id = ?",
	    "l", j->id);
	if (!live)
		status = "duplicate";
	db_begin(sv.db);
	db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = ?, exit_code = ?, "
	    "signal = ?, cause = ?, cpu_seconds = ?, max_rss_kb = ?, duration = ?, "
	    "stderr_tail = ? WHERE id = ?", "dsiisdldsl", (double)time(NULL),
	    status, o->exit_code, o->signal, cause, o->cpu_seconds, (int64_t)o->max_rss_kb, o->duration, o->stderr_tail,
	    j->attempt_id);
	if (live)
		job_outcome(j, status, cause, ok, retryable, kept, attempts);
	db_commit(sv.db);
	log_info("render finished\tjob=%lld asset=%lld status=%s exit=%d signal=%d "
	    "seconds=%.2f cpu=%.2f rss_kb=%ld attempt=%d", (long long)j->id,
	    (long long)j->asset_id, status, o->exit_code, o->signal, o->duration,
	    o->cpu_seconds, o->max_rss_kb, attempts);
	queue_ack(sv.queue, j->entry_id);
	wake_bot();
	free(output);
	free(kept);
	job_finished(j);
}

/* --- a render node without the database ---------------------------------- */

/* Count a render by status (for /metrics: there is no attempts table). */
static void
node_count(const char *status)
{
	struct node_count *c;

	for (c = sv.counts; c != NULL && strcmp(c->status, status) != 0; c = c->next)
		;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->status = xstrdup(status);
		c->next = sv.counts;
		sv.counts = c;
	}
	c->n++;
}

/* The template a job names: the default, or one loaded (and snapshotted)
 * on first use; NULL when this node has no such template. */
static const struct template *
tmpl_find(const char *id)
{
	struct tmpl_list *l;
	char err[512], *snap;

	if (strcmp(id, sv.tmpl.id) == 0)
		return &sv.tmpl;
	for (l = sv.tmpls; l != NULL; l = l->next)
		if (strcmp(l->t.id, id) == 0)
			return &l->t;
	if (*id == '\0' || *id == '.' || strchr(id, '/') != NULL)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&l->t, sv.cfg.templates_dir, id, sv.cfg.render_script, snap, err,
	    sizeof(err)) == -1) {
		log_warnx("template not here\ttemplate=%s reason=\"%s\"", id, err);
		free(snap);
		free(l);
		return NULL;
	}
	free(snap);
	l->next = sv.tmpls;
	sv.tmpls = l;
	return &l->t;
}

/* SIGHUP: templates are loaded again when next named. */
static void
tmpl_forget(void)
{
	struct tmpl_list *l;

	while ((l = sv.tmpls) != NULL) {
		sv.tmpls = l->next;
		template_free(&l->t);
		free(l);
	}
}

/* The whole file, or NULL (the output was validated: at most 50 MB). */
static char *
file_slurp(const char *path, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1 ||
	    sb.st_size > MAX_BYTES) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	*len = 0;
	while (*len < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + *len, (size_t)sb.st_size - *len);

		if (n <= 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		*len += (size_t)n;
	}
	close(fd);
	return buf;
}

/* The result is in Redis (or not: then the entry stays pending for us and
 * is rendered again after a reconnect, or by another node). */
static void
result_put_done(int ok, void *arg)
{
	struct job *j = arg;

	if (ok)
		queue_ack(sv.queue, j->entry_id);
	else
		log_warnx("result not stored in redis; the job stays pending\tjob=%lld",
		    (long long)j->id);
	job_finished(j);
}

/* The outcome goes to the node with the database through Redis. */
static void
job_done_remote(struct job *j, const struct render_outcome *o)
{
	struct queue_result res = { 0 };
	char *output, *thumb, *video = NULL, id[160];
	size_t len = 0;

	xasprintf(&output, "%s/out.mp4", j->work_dir);
	xasprintf(&thumb, "%s/thumb.jpg", j->work_dir);
	snprintf(id, sizeof(id), "%s-%016llx-%lld", sv.cfg.node_name,
	    (unsigned long long)sv.boot, (long long)j->attempt_id);
	res.id = id;
	res.job_id = j->id;
	res.asset_id = j->asset_id;
	res.node = sv.cfg.node_name;
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
	if (strcmp(o->status, "ok") == 0 && (video = file_slurp(output, &len)) == NULL) {
		res.status = "failed";
		res.retryable = 1;
		res.cause = "cannot read the output";
	}
	res.video = video;
	res.video_len = len;
	if (video != NULL)
		res.thumb = file_slurp(thumb, &res.thumb_len);
	node_count(res.status);
	log_info("render finished\tjob=%lld asset=%lld status=%s exit=%d signal=%d "
	    "seconds=%.2f cpu=%.2f rss_kb=%ld result=%s", (long long)j->id,
	    (long long)j->asset_id, res.status, o->exit_code, o->signal, o->duration,
	    o->cpu_seconds, o->max_rss_kb, id);
	queue_result_put(sv.queue, &res, result_put_done, j);
	free(video);
	free((char *)res.thumb);
	free(thumb);
	free(output);
}

static void
job_progress(double p, void *arg)
{
	struct job *j = arg;
	sqlite3_stmt *st;
	time_t now = time(NULL);

	log_debug("render progress\tjob=%lld progress=%.2f", (long long)j->id, p);
	if (sv.db == NULL)
		return;		/* the node with the database shows no progress for us */
	/* An edit costs the chat's send budget: at most one a second, and
	 * only for a visible step. */
	if (p < j->progress + 0.1 || now == j->progress_at || p >= 1)
		return;
	j->progress = p;
	j->progress_at = now;
	st = db_prep(sv.db, "SELECT id, chat_id, status_message_id, language, bot_id FROM "
	    "requests WHERE (asset_id = ? OR asset_id IN (SELECT id FROM assets WHERE shares "
	    "= ?)) AND state = 'PENDING' AND status_message_id IS NOT NULL", "ll",
	    j->asset_id, j->asset_id);
	db_begin(sv.db);
	while (db_step(st) == SQLITE_ROW)
		progress_edit((const char *)sqlite3_column_text(st, 4),
		    sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		    sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
		    j->name, p);
	db_commit(sv.db);
	sqlite3_finalize(st);
	wake_bot();
}

/* Make the attempt's fresh work directory, owned by its slot's user. */
static int
job_workdir(struct job *j)
{
	xasprintf(&j->work_dir, "%s/work/%lld", sv.render_dir, (long long)j->attempt_id);
	return sandbox_workdir(&sv.sb, j->work_dir, SANDBOX_SLOT_WORKER + j->slot);
}

/* A free worker slot: each has its own uid, so RLIMIT_NPROC is its own. */
static int
slot_take(void)
{
	for (int i = 0; i < (int)sizeof(sv.slot_busy); i++)
		if (!sv.slot_busy[i]) {
			sv.slot_busy[i] = 1;
			return i;
		}
	fatalx("no free worker slot");
}

/* A job taken: a worker slot, its work dir, the render of template t. */
static void
job_render(struct job *j, const struct template *t)
{
	struct render_request rq = { 0 };
	char *output, *thumb, *cache;

	j->slot = slot_take();
	j->started_at = (double)time(NULL);
	j->next = sv.jobs;
	sv.jobs = j;
	sv.running++;
	if (job_workdir(j) == -1)
		fatal("job %lld: work directory", (long long)j->id);
	xasprintf(&output, "%s/out.mp4", j->work_dir);
	xasprintf(&thumb, "%s/thumb.jpg", j->work_dir);
	cache = sandbox_cache_dir(&sv.sb, sv.render_dir, t->version);
	rq.script = t->script;
	rq.work_dir = j->work_dir;
	rq.template_dir = t->dir;
	rq.cache_dir = cache;
	rq.name = j->name;
	rq.stress = j->stress;
	rq.output = output;
	rq.thumb = thumb;
	rq.mode = "video";
	render_request_config(&rq, &sv.cfg, &sv.sb, SANDBOX_SLOT_WORKER + j->slot);
	/* Speculative renders yield the CPU to confirmed ones; a render gets
	 * the cores the others leave (more x264 threads: sooner done). */
	rq.nice = j->speculative ? SPECULATIVE_NICE : 0;
	rq.threads = sv.ncpu / sv.running > 1 ? sv.ncpu / sv.running : 1;
	rq.min_duration = t->min_duration;
	rq.max_duration = t->max_duration;
	rq.max_bytes = MAX_BYTES;
	log_info("render started\tjob=%lld asset=%lld attempt=%lld uid=%u speculative=%d "
	    "threads=%d", (long long)j->id, (long long)j->asset_id, (long long)j->attempt_id,
	    (unsigned)rq.uid, j->speculative, rq.threads);
	j->render = render_start(sv.base, &rq, job_done, job_progress, j);
	free(output);
	free(thumb);
	free(cache);
}

/* The job is already running here (a duplicate entry). */
static int
job_running(int64_t job_id)
{
	for (struct job *j = sv.jobs; j != NULL; j = j->next)
		if (j->id == job_id)
			return 1;
	return 0;
}

/* A job claimed for a template this node cannot load (removed, or broken
 * since): a final failure, as a broken template is, told to the admin. */
static void
job_no_template(struct job *j)
{
	char cause[300];
	int attempts = (int)db_int(sv.db, 0, "SELECT attempts FROM jobs WHERE id = ?", "l",
	    j->id);

	snprintf(cause, sizeof(cause), "template %s cannot be loaded from templates_dir",
	    j->tmpl);
	db_begin(sv.db);
	db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'template_broken', cause "
	    "= ?, duration = 0 WHERE id = ?", "dsl", (double)time(NULL), cause, j->attempt_id);
	job_outcome(j, "template_broken", cause, 0, 0, NULL, attempts);
	db_commit(sv.db);
	log_warnx("render refused\tjob=%lld asset=%lld cause=\"%s\"", (long long)j->id,
	    (long long)j->asset_id, cause);
	queue_ack(sv.queue, j->entry_id);
	wake_bot();
	free(j->bot);
	free(j->tmpl);
	free(j->entry_id);
	free(j->name);
	free(j->stress);
	free(j);
}

/* Claim the job in SQLite (one node wins) and start its renderer. */
static void
job_start(const char *entry_id, int64_t job_id, int reclaimed, int speculative)
{
	const struct template *t;
	struct job *j;
	sqlite3_stmt *st;
	int claimed;

	if (sv.draining) {
		/* Read by a request sent before the drain began: not claimed,
		 * the entry stays pending for this node, which reads its own
		 * pending entries first after the restart (or another node
		 * reclaims it once idle long enough). */
		log_info("draining: job left for later	job=%lld", (long long)job_id);
		return;
	}
	db_begin(sv.db);
	/* A retry's entry can arrive before relay_published marks it QUEUED;
	 * a reclaimed entry's job is RUNNING on the node that died. */
	if (speculative)
		claimed = db_run(sv.db, "UPDATE jobs SET state = 'RUNNING', node = ?, attempts "
		    "= attempts + 1, updated_at = ? WHERE id = ? AND state = 'QUEUED' AND "
		    "speculative = 1", "sll", sv.cfg.node_name, db_now(), job_id);
	else
		claimed = db_run(sv.db, "UPDATE jobs SET state = 'RUNNING', node = ?, attempts "
		    "= attempts + 1, updated_at = ? WHERE id = ? AND (state = 'QUEUED' OR "
		    "(state = 'RETRY_WAIT' AND next_attempt_at <= ?) OR (state = 'RUNNING' AND "
		    "(node = ? OR ?)))", "slllsi", sv.cfg.node_name, db_now(), job_id, db_now(),
		    sv.cfg.node_name, reclaimed);
	if (claimed && reclaimed)
		db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'abandoned', "
		    "cause = 'its node stopped; reclaimed by ' || ? WHERE job_id = ? AND "
		    "finished_at IS NULL", "dsl", (double)time(NULL), sv.cfg.node_name, job_id);
	if (job_running(job_id))
		claimed = 0;	/* a duplicate entry of a job we run */
	if (!claimed) {
		db_rollback(sv.db);
		log_info("job not claimable, acknowledging\tjob=%lld", (long long)job_id);
		queue_ack(sv.queue, entry_id);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->id = job_id;
	j->entry_id = entry_id != NULL ? xstrdup(entry_id) : NULL;
	j->speculative = speculative;
	st = db_prep(sv.db, "SELECT a.id, a.display_name, a.stress, a.bot_id, a.template_id "
	    "FROM jobs j JOIN assets a ON a.id = j.asset_id WHERE j.id = ?", "l", job_id);
	if (db_step(st) == SQLITE_ROW) {
		j->asset_id = sqlite3_column_int64(st, 0);
		j->name = db_col_str(st, 1);
		j->stress = db_col_str(st, 2);
		j->bot = db_col_str(st, 3);
		j->tmpl = db_col_str(st, 4);
	}
	sqlite3_finalize(st);
	db_run(sv.db, "UPDATE assets SET state = 'GENERATING', updated_at = ? WHERE id = ?",
	    "ll", db_now(), j->asset_id);
	db_run(sv.db, "INSERT INTO attempts (job_id, asset_id, node, started_at) VALUES "
	    "(?, ?, ?, ?)", "llsd", job_id, j->asset_id, sv.cfg.node_name, (double)time(NULL));
	j->attempt_id = sqlite3_last_insert_rowid(sv.db);
	db_commit(sv.db);
	if (j->name == NULL)
		fatalx("job %lld: no asset", (long long)job_id);
	/* The asset's template (bots may have different defaults). */
	if ((t = tmpl_find(j->tmpl)) == NULL) {
		job_no_template(j);
		return;
	}
	/* A confirmed job never waits for a speculative one: it takes the
	 * worker of the newest (stopped now, taken again later). */
	if (!speculative && sv.running >= sv.cfg.workers)
		spec_preempt();
	job_render(j, t);
}

/*
 * A node without the database takes what the entry says. It renders only
 * a template version it has itself; any other it hands back for another
 * node. Duplicates (a second entry of a job) render at most once more, and
 * the node with the database commits one result per job.
 */
static void
job_start_remote(const char *entry_id, const struct queue_job *qj)
{
	const struct template *t = NULL;
	struct job *j;

	if (sv.draining) {
		log_info("draining: job left for later	job=%lld", (long long)qj->id);
		return;
	}
	if (job_running(qj->id)) {
		queue_ack(sv.queue, entry_id);
		return;
	}
	if (*qj->name == '\0' || (t = tmpl_find(qj->tmpl)) == NULL ||
	    strcmp(t->version, qj->version) != 0) {
		log_warnx("job refused: its template version is not here\tjob=%lld "
		    "template=%s version=%s have=%s hops=%d", (long long)qj->id, qj->tmpl,
		    qj->version, t != NULL ? t->version : "none", qj->hops);
		sv.refused++;
		sv.refused_at = time(NULL);
		queue_refuse(sv.queue, entry_id, qj);
		/* Pause: the nodes that can render it should read it first. */
		jobs_take();
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->id = qj->id;
	j->asset_id = qj->asset_id;
	j->entry_id = xstrdup(entry_id);
	j->name = xstrdup(qj->name);
	j->stress = xstrdup(qj->stress);
	j->bot = xstrdup(qj->bot);
	j->tmpl = xstrdup(qj->tmpl);
	j->attempt_id = ++sv.attempts_here;
	job_render(j, t);
}

/* --- results from render nodes, on the node with the database ----------- */

/* Write bytes to dst (temp, synced, renamed); dst, or NULL. */
static char *
keep_bytes(char *dst, const char *video, size_t len)
{
	char *tmp;
	size_t off = 0;
	int fd, ok;

	xasprintf(&tmp, "%s.part", dst);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		log_warn("keep output %s", tmp);
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
	ok = off == len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, dst) == 0;
	if (!ok) {
		log_warn("keep output %s", dst);
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

	xasprintf(&thumb, "%s/%lld.jpg", sv.assets_dir, (long long)asset_id);
	if (res->thumb == NULL) {
		unlink(thumb);	/* never an older render's thumbnail */
		free(thumb);
	} else
		free(keep_bytes(thumb, res->thumb, res->thumb_len));
	xasprintf(&dst, "%s/%lld.mp4", sv.assets_dir, (long long)asset_id);
	return keep_bytes(dst, res->video, res->video_len);
}

/*
 * A render node's outcome: committed as our own renders' are, in one
 * transaction with its attempt row, whose result_id makes a second
 * delivery of the same result a no-op. Acknowledged only after the commit.
 */
static void
result_commit(const char *entry_id, const struct queue_result *res, void *arg)
{
	struct job jb = { 0 };
	const char *status = res->status, *cause = res->cause;
	int ok = strcmp(res->status, "ok") == 0, retryable = res->retryable, live = 0;
	int attempts = 0;
	char *kept = NULL;
	sqlite3_stmt *st;

	(void)arg;
	if (db_int(sv.db, 0, "SELECT count(*) FROM attempts WHERE result_id = ?", "s",
	    res->id) > 0) {
		queue_result_done(sv.queue, entry_id, res->id);
		return;
	}
	st = db_prep(sv.db, "SELECT j.state IN ('QUEUED','RUNNING','RETRY_WAIT'), j.attempts, "
	    "a.id, a.display_name, a.bot_id, a.template_id FROM jobs j JOIN assets a ON a.id = "
	    "j.asset_id WHERE j.id = ?", "l", res->job_id);
	if (db_step(st) == SQLITE_ROW) {
		live = sqlite3_column_int(st, 0);
		attempts = sqlite3_column_int(st, 1) + 1;
		jb.asset_id = sqlite3_column_int64(st, 2);
		jb.name = db_col_str(st, 3);
		jb.bot = db_col_str(st, 4);
		jb.tmpl = db_col_str(st, 5);
	}
	sqlite3_finalize(st);
	jb.id = res->job_id;
	if (jb.name == NULL) {
		log_warnx("result for a job we do not know, dropped	job=%lld node=%s",
		    (long long)res->job_id, res->node);
		queue_result_done(sv.queue, entry_id, res->id);
		return;
	}
	if (!live)
		status = "duplicate";
	else if (ok && res->video == NULL) {
		ok = 0, retryable = 1, status = "failed";
		cause = "its video was lost in redis";
	} else if (ok && (kept = keep_video(jb.asset_id, res)) == NULL) {
		ok = 0, retryable = 1, status = "failed";
		cause = "cannot keep the output";
	}
	db_begin(sv.db);
	db_run(sv.db, "INSERT INTO attempts (job_id, asset_id, node, started_at, finished_at, "
	    "status, exit_code, signal, cause, cpu_seconds, max_rss_kb, duration, stderr_tail, "
	    "result_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "llsddsiisdldss",
	    jb.id, jb.asset_id, res->node, res->started_at, res->finished_at, status,
	    res->exit_code, res->signal, cause, res->cpu_seconds, (int64_t)res->max_rss_kb,
	    res->duration, res->stderr_tail, res->id);
	if (live) {
		db_run(sv.db, "UPDATE jobs SET attempts = attempts + 1, node = ?, updated_at = ? "
		    "WHERE id = ?", "sll", res->node, db_now(), jb.id);
		job_outcome(&jb, status, cause, ok, retryable, kept, attempts);
	}
	db_commit(sv.db);
	log_info("result committed\tjob=%lld asset=%lld node=%s status=%s attempt=%d",
	    (long long)jb.id, (long long)jb.asset_id, res->node, status, attempts);
	queue_result_done(sv.queue, entry_id, res->id);
	wake_bot();
	free(kept);
	free(jb.name);
	free(jb.bot);
	free(jb.tmpl);
}

static void
queue_job_cb(const char *entry_id, const struct queue_job *qj, int reclaimed, void *arg)
{
	int running = sv.running;
	struct job *j;

	(void)arg;
	for (j = sv.jobs; j != NULL; j = j->next)
		if (j->entry_id != NULL && strcmp(j->entry_id, entry_id) == 0)
			break;
	if (j != NULL)
		/* A running job's own entry, read back after a reconnect: it is
		 * acknowledged once the outcome is committed. Acknowledged now
		 * as a duplicate, a crash before that would lose the job. */
		log_info("job running here, its entry kept\tjob=%lld", (long long)qj->id);
	else if (sv.db == NULL)
		job_start_remote(entry_id, qj);
	else
		job_start(entry_id, qj->id, reclaimed, 0);
	if (sv.running == running)
		jobs_take();	/* the entry took no worker */
}

/* Renders running here that a parent confirmed (or that came from the
 * stream): the speculative ones only borrow idle workers. */
static int
running_confirmed(void)
{
	int n = 0;

	for (struct job *j = sv.jobs; j != NULL; j = j->next)
		n += !j->speculative;
	return n;
}

/* Tell the queue how many jobs we can take now; give idle workers the
 * newest speculative jobs (the parent who just heard the preview is the
 * likeliest to confirm next). */
static void
jobs_take(void)
{
	int off = sv.draining || sv.render_problem != NULL || !sv.cfg.render_enabled;

	if (sv.queue != NULL)
		queue_want(sv.queue, off || time(NULL) - sv.refused_at < 1 ? 0 :
		    sv.cfg.workers - running_confirmed());
	if (off || sv.db == NULL || sv.taking_spec)
		return;
	sv.taking_spec = 1;
	while (sv.running < sv.cfg.workers) {
		int64_t id = db_int(sv.db, 0, "SELECT id FROM jobs WHERE speculative = 1 AND "
		    "state = 'QUEUED' AND (created_at >= ? OR EXISTS (SELECT 1 FROM attempts a "
		    "WHERE a.job_id = jobs.id)) ORDER BY id DESC LIMIT 1", "l",
		    db_now() - SPECULATIVE_TTL);	/* not the ones spec_expire takes */
		int before = sv.running;

		if (id == 0)
			break;
		job_start(NULL, id, 0, 1);
		if (sv.running == before)
			break;
	}
	sv.taking_spec = 0;
}

/* A parent confirmed a name whose render runs speculatively: it is an
 * ordinary render now, at the normal priority. */
static void
spec_promote(void)
{
	for (struct job *j = sv.jobs; j != NULL; j = j->next) {
		if (!j->speculative || db_int(sv.db, 1, "SELECT speculative FROM jobs WHERE "
		    "id = ?", "l", j->id) != 0)
			continue;
		j->speculative = 0;
		render_renice(j->render, 0);
		log_info("speculative render confirmed\tjob=%lld asset=%lld",
		    (long long)j->id, (long long)j->asset_id);
	}
}

/* Stop the newest speculative render: a confirmed job needs its worker. */
static void
spec_preempt(void)
{
	struct job *newest = NULL;

	spec_promote();
	for (struct job *j = sv.jobs; j != NULL; j = j->next)
		if (j->speculative && !j->preempted && (newest == NULL || j->id > newest->id))
			newest = j;
	if (newest == NULL)
		return;
	newest->preempted = 1;
	render_kill(newest->render);
}

/*
 * Speculative jobs that never found an idle worker within the hour: the
 * parent did not confirm; the job goes, and so does its asset when
 * nothing else holds it. And a job started from SQLite (speculative, or
 * confirmed while it ran) by another node that has been RUNNING longer
 * than any render can take: that node died, and no stream entry is left
 * for XAUTOCLAIM to find; it goes back to QUEUED (published by the relay
 * when it is no longer speculative).
 */
static void
spec_expire(void)
{
	int64_t before = db_now() - SPECULATIVE_TTL;
	int64_t stuck = db_now() - (sv.cfg.render_timeout + sv.cfg.render_grace + 30);
	int n, back;

	db_begin(sv.db);
	db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'abandoned', cause = "
	    "'its node stopped; reclaimed by ' || ? WHERE finished_at IS NULL AND job_id IN "
	    "(SELECT id FROM jobs WHERE state = 'RUNNING' AND published_at IS NULL AND node "
	    "!= ? AND updated_at < ?)", "dssl", (double)time(NULL), sv.cfg.node_name,
	    sv.cfg.node_name, stuck);
	back = db_run(sv.db, "UPDATE jobs SET state = 'QUEUED', attempts = max(attempts - 1, "
	    "0), updated_at = ? WHERE state = 'RUNNING' AND published_at IS NULL AND node != ? "
	    "AND updated_at < ?", "lsl", db_now(), sv.cfg.node_name, stuck);
	n = db_run(sv.db, "DELETE FROM jobs WHERE speculative = 1 AND state = 'QUEUED' AND "
	    "created_at < ? AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = "
	    "jobs.id)", "l", before);
	/* A PENDING asset always has a job or shares one: without either, it
	 * was such a job's. */
	if (n > 0)
		db_run(sv.db, "DELETE FROM assets WHERE state = 'PENDING' AND shares IS NULL "
		    "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.asset_id = assets.id) AND NOT "
		    "EXISTS (SELECT 1 FROM requests r WHERE r.asset_id = assets.id) AND NOT "
		    "EXISTS (SELECT 1 FROM assets s WHERE s.shares = assets.id) AND NOT EXISTS "
		    "(SELECT 1 FROM attempts a WHERE a.asset_id = assets.id) AND NOT EXISTS "
		    "(SELECT 1 FROM outbox o WHERE o.asset_id = assets.id)", "");
	db_commit(sv.db);
	if (n > 0)
		log_info("speculative jobs expired unstarted\tjobs=%d", n);
	if (back > 0)
		log_warnx("jobs of a node that stopped taken back\tjobs=%d", back);
}

/* --- events -------------------------------------------------------------- */

static void
redis_ready(void)
{
	static const struct queue_cbs local = { queue_connected_cb, queue_job_cb,
	    result_commit };
	static const struct queue_cbs remote = { queue_connected_cb, queue_job_cb, NULL };
	char *url;

	if (sv.queue != NULL)
		return;
	if (*sv.cfg.redis_url != '\0')
		url = xstrdup(sv.cfg.redis_url);
	else
		xasprintf(&url, "unix:%s", sv.redis_sock);
	sv.queue = queue_new(sv.base, url, sv.cfg.redis_prefix, sv.cfg.node_name,
	    sv.db != NULL ? &local : &remote, NULL);
	/* Longer than any attempt can run (plus its commit), so a live
	 * consumer never loses one. */
	queue_set_reclaim(sv.queue, (sv.cfg.render_timeout + sv.cfg.render_grace + 5) * 1000L);
	free(url);
}

/* The bot wrote jobs (or anything): relay now rather than at the tick. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	relay_run();
	if (sv.db != NULL) {
		spec_promote();
		jobs_take();
	}
}

/* Once a second: retries that came due, and anything a wake missed. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	relay_run();
	child_kill_strays();
	if (sv.db != NULL && time(NULL) - sv.expired_at >= 60) {
		sv.expired_at = time(NULL);
		spec_expire();
		jobs_take();
	}
	if (sv.refused_at != 0 && time(NULL) - sv.refused_at >= 1) {
		sv.refused_at = 0;
		jobs_take();
	}
	/* A directory fixed while we run: look again every 10 s. */
	if (sv.render_problem != NULL && time(NULL) - sv.render_checked >= 10 &&
	    render_check() == NULL)
		log_info("renderers can start again");
}

/*
 * Draining: once no render runs, Redis is no longer needed (every outcome
 * is committed and acknowledged); once every child is gone, we exit.
 */
static void
drain_check(void)
{
	if (!sv.draining || sv.running > 0)
		return;
	queue_free(sv.queue);
	sv.queue = NULL;
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
	for (struct job *j = sv.jobs; j != NULL; j = j->next) {
		log_warnx("drain: stopping render\tjob=%lld", (long long)j->id);
		j->interrupted = 1;
		render_kill(j->render);
	}
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { sv.cfg.drain_grace, 0 };

	(void)what;
	(void)arg;
	if (sv.draining) {
		log_warnx("second signal, stopping now\tsignal=%d", (int)sig);
		drain_kill(-1, 0, NULL);
		return;
	}
	log_info("draining\tsignal=%d running=%d", (int)sig, sv.running);
	(void)notify_send("STOPPING=1");
	sv.draining = 1;
	jobs_take();
	evtimer_add(sv.drain_ev, &tv);
	for (int i = 0; i < sv.nbots; i++)
		if (sv.bots[i].svc.pid > 0)
			kill(sv.bots[i].svc.pid, SIGTERM);
	drain_check();
}

/* A bot's texts, from its messages_dir; NULL (and a warning) when not. */
static struct texts *
bot_texts_load(const struct bot *b)
{
	const struct config *bc = bot_cfg(b->id);
	struct texts *tx;
	char err[512];

	if ((tx = texts_load(bc->messages_dir, bc->default_language, err, sizeof(err))) ==
	    NULL)
		log_warnx("texts not loaded\tbot=%s reason=\"%s\"", b->id, err);
	return tx;
}

/* SIGHUP: a bot disabled is stopped, one enabled is started, the others
 * reload; the bots not named are not touched. */
static void
bots_reload(void)
{
	for (int i = 0; i < sv.nbots; i++) {
		struct bot *b = &sv.bots[i];
		const struct config_bot *cb = config_bot(&sv.cfg, b->id);
		struct texts *tx;

		if ((tx = bot_texts_load(b)) != NULL) {
			texts_free(b->texts);
			b->texts = tx;
		}
		if (cb != NULL && !cb->enabled && !b->svc.stopped) {
			b->svc.stopped = 1;
			evtimer_del(b->svc.restart_ev);
			log_info("bot disabled, stopping it\tbot=%s", b->id);
			if (b->svc.pid > 0)
				kill(b->svc.pid, SIGTERM);
		} else if (cb != NULL && cb->enabled && b->svc.stopped) {
			b->svc.stopped = 0;
			b->svc.backoff = 0;
			b->svc.restarts = 0;
			log_info("bot enabled, starting it\tbot=%s", b->id);
			if (b->svc.pid <= 0)
				bot_start(&b->svc);
		} else if (b->svc.pid > 0)
			kill(b->svc.pid, SIGHUP);
	}
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
		log_warnx("reload: configuration kept\treason=\"%s\"", err);
	else if (changed[0] != '\0') {
		enum log_level lvl;

		log_info("configuration reloaded\tchanged=%s", changed);
		if (log_level_parse(sv.cfg.log_level, &lvl) == 0)
			log_set_level(lvl);
		if (sv.cfg.workers == 0)
			sv.cfg.workers = 1;
		jobs_take();
	}
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&t, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap, err, sizeof(err)) == -1)
		log_warnx("reload: template kept\treason=\"%s\"", err);
	else {
		template_free(&sv.tmpl);
		sv.tmpl = t;
	}
	free(snap);
	tmpl_forget();
	if (render_check() != NULL)
		log_warnx("renderers cannot start, no jobs taken\treason=\"%s\"",
		    sv.render_problem);
	if ((tx = texts_load(sv.cfg.messages_dir, sv.cfg.default_language, err,
	    sizeof(err))) == NULL)
		log_warnx("reload: texts kept\treason=\"%s\"", err);
	else {
		texts_free(sv.texts);
		sv.texts = tx;
	}
	bots_reload();
	log_info("reloaded\ttemplate=%s version=%s", sv.tmpl.id, sv.tmpl.version);
}

/* --- start-up ------------------------------------------------------------ */

static int
src_redis_up(void)
{
	return sv.queue != NULL && queue_connected(sv.queue);
}

static const char *
src_bot_problem(void)
{
	static char why[128];
	struct bot *b = bot_down();

	if (b == NULL)
		return NULL;
	if (sv.nbots == 1)
		return "greetbot-tg is not running";
	snprintf(why, sizeof(why), "greetbot-tg of bot %s is not running", b->id);
	return why;
}

static long long
src_queue_depth(void)
{
	return sv.queue != NULL ? queue_depth(sv.queue) : 0;
}

static int
src_busy(void)
{
	return sv.running;
}

static const char *
src_render_problem(void)
{
	return sv.render_problem;
}

/* Every node counts the entries it refused; one without the database
 * also counts its renders (the attempts table is on the other node). */
static void
src_node_metrics(struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP greetbot_jobs_refused_total Job entries this node "
	    "handed back: it lacks their template version.\n# TYPE "
	    "greetbot_jobs_refused_total counter\ngreetbot_jobs_refused_total{reason="
	    "\"template_version\"} %lld\n", sv.refused);
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
	if (sv.db != NULL)
		return;
	evbuffer_add_printf(b, "# HELP greetbot_node_renders_total Renders on this node "
	    "by outcome (results sent through redis).\n# TYPE greetbot_node_renders_total "
	    "counter\n");
	for (struct node_count *c = sv.counts; c != NULL; c = c->next)
		evbuffer_add_printf(b, "greetbot_node_renders_total{status=\"%s\"} %lld\n",
		    c->status, c->n);
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
		log_warn("%s", path);
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* The HTTP endpoints; a port that is taken is fatal, not a silent skip. */
static void
setup_http(void)
{
	struct health_source hs = { src_redis_up, src_bot_problem, src_queue_depth, src_busy,
	    src_render_problem, src_node_metrics, sv.cfg.workers, sv.db };

	if (*sv.cfg.http_listen == '\0')
		return;
	if (health_start(sv.base, sv.cfg.http_listen, &hs, sv.http_addr,
	    sizeof(sv.http_addr)) == -1)
		fatal("http_listen %s: cannot listen", sv.cfg.http_listen);
	log_info("http listening\taddr=%s", sv.http_addr);
	http_addr_publish(1);
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

/*
 * The state directory: the database and assets only for us (0700 below a
 * 0711 state_dir), the render tree searchable so that an unprivileged
 * renderer reaches its own work dir and the template snapshots.
 */
static void
setup_dirs(void)
{
	sv.render_dir = render_dirs(sv.cfg.state_dir);
	xasprintf(&sv.assets_dir, "%s/assets", sv.cfg.state_dir);
	if (mkdir(sv.assets_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", sv.assets_dir);
	xasprintf(&sv.redis_sock, "%s/redis.sock", sv.cfg.state_dir);
}

/* As root, each worker slot renders as a uid of its own, without network;
 * a renderer can then read no secret and starve no other render. */
static void
setup_sandbox(void)
{
	char err[512], how[256];

	if (sandbox_init(&sv.sb, &sv.cfg, SANDBOX_SLOT_WORKER + sv.cfg.workers, err,
	    sizeof(err)) == -1)
		fatalx("%s", err);
	sandbox_describe(&sv.sb, how, sizeof(how));
	log_info("renderers isolated\t%s", how);
	/* Each bot's token file, or the config file when a token is in it. */
	for (int i = 0; i < sv.cfg.nbots; i++) {
		const struct config *bc = sv.cfg.bots[i].cfg;

		if (sandbox_can_read(&sv.sb, bc->telegram_token_file))
			log_warnx("renderers can read the bot token: chmod 600 %s",
			    bc->telegram_token_file);
		else if (*bc->telegram_token_file == '\0' && sv.cfg.path != NULL &&
		    *bc->telegram_token != '\0' && (i > 0 || sv.cfg.sections != NULL ||
		    getenv("GREETBOT_TELEGRAM_TOKEN") == NULL) &&
		    sandbox_can_read(&sv.sb, sv.cfg.path)) {
			log_warnx("renderers can read the bot token in the configuration "
			    "file: chmod 600 %s", sv.cfg.path);
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
	jobs_take();
	return sv.render_problem;
}

/* Jobs this node was rendering when it stopped go back in line: their
 * stream entries are still pending for us and come back on the first read. */
static void
recover_jobs(void)
{
	int n = db_run(sv.db, "UPDATE jobs SET state = 'QUEUED', updated_at = ? WHERE "
	    "state = 'RUNNING' AND node = ?", "ls", db_now(), sv.cfg.node_name);

	db_run(sv.db, "UPDATE assets SET state = 'PENDING' WHERE state = 'GENERATING' AND "
	    "id IN (SELECT asset_id FROM jobs WHERE state = 'QUEUED')", "");
	db_run(sv.db, "UPDATE attempts SET finished_at = ?, status = 'interrupted', cause = "
	    "'greetbotd stopped during the render' WHERE finished_at IS NULL AND node = ?",
	    "ds", (double)time(NULL), sv.cfg.node_name);
	if (n > 0)
		log_info("requeued interrupted jobs\tjobs=%d", n);
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
		fatalx("config: %s", err);
	if (log_level_parse(sv.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	log_add_secret(sv.cfg.telegram_token);
	log_add_secret(sv.cfg.webhook_secret);
	for (int i = 0; i < sv.cfg.nbots; i++) {
		log_add_secret(sv.cfg.bots[i].cfg->telegram_token);
		log_add_secret(sv.cfg.bots[i].cfg->webhook_secret);
	}
	if ((sv.texts = texts_load(sv.cfg.messages_dir, sv.cfg.default_language, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
}

/* The configured bots, each with its wake pipe and texts; the enabled
 * ones are started by main. */
static void
setup_bots(void)
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
		b->svc = (struct service){ .name = b->name, .start = bot_start,
		    .stopped = !sv.cfg.bots[i].enabled };
		b->svc.restart_ev = evtimer_new(sv.base, service_restart, &b->svc);
		if (pipe2(b->wake, O_CLOEXEC | O_NONBLOCK) == -1)
			fatal("pipe");
		if ((b->texts = bot_texts_load(b)) == NULL)
			fatalx("bot %s: its texts cannot be loaded", b->id);
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
	if (pipe2(sv.wake_us, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	sv.wake_ev = event_new(sv.base, sv.wake_us[0], EV_READ | EV_PERSIST, on_wake, NULL);
	event_add(sv.wake_ev, NULL);
	sv.tick_ev = event_new(sv.base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(sv.tick_ev, &sec);
	sv.drain_ev = evtimer_new(sv.base, drain_kill, NULL);
}

int
main(int argc, char **argv)
{
	char err[512], *snap;

	parse_args(argc, argv);
	setup_config();
	setup_sandbox();
	setup_dirs();
	xasprintf(&snap, "%s/templates", sv.render_dir);
	if (template_load(&sv.tmpl, sv.cfg.templates_dir, sv.cfg.default_template,
	    sv.cfg.render_script, snap, err, sizeof(err)) == -1)
		fatalx("template %s: %s", sv.cfg.default_template, err);
	free(snap);
	if (render_check() != NULL)
		fatalx("%s", sv.render_problem);
	/* A render node on another machine has no database: it renders what
	 * the job entries say and returns results through Redis. */
	if (*sv.cfg.db_path != '\0') {
		sv.db = db_open(sv.cfg.db_path);
		recover_jobs();
	} else
		log_info("render node without a database: results go through redis");
	/* Result ids must differ across restarts, however quick. */
	if (getrandom(&sv.boot, sizeof(sv.boot), 0) != (ssize_t)sizeof(sv.boot))
		sv.boot = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	/* Orphans of renderers (setsid, double fork) come back to us, so
	 * that child_kill_strays can find them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	setup_events();
	setup_http();
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if ((sv.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		sv.ncpu = 1;
	sv.redis = (struct service){ .name = "redis-server", .start = redis_start };
	sv.redis.restart_ev = evtimer_new(sv.base, service_restart, &sv.redis);
	setup_bots();
	if (*sv.cfg.redis_url == '\0') {
		unlink(sv.redis_sock);
		redis_start(&sv.redis);
	} else
		redis_ready();
	for (int i = 0; i < sv.nbots; i++)
		if (!sv.bots[i].svc.stopped)
			bot_start(&sv.bots[i].svc);
	log_info("started\tstate_dir=%s template=%s version=%s", sv.cfg.state_dir,
	    sv.tmpl.id, sv.tmpl.version);
	event_base_dispatch(sv.base);
	log_info("stopped");
	if (*sv.cfg.http_listen != '\0')
		http_addr_publish(0);
	health_stop();
	queue_free(sv.queue);
	db_close(sv.db);
	return 0;
}
