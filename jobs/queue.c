/* SPDX-License-Identifier: ISC */
/* queue.c: hiredis async on the libevent loop; never blocks on Redis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "queue.h"
#include "xmalloc.h"

#define BACKOFF_MIN	1
#define BACKOFF_MAX	30
#define READ_BLOCK_MS	"2000"
#define REFUSALS_MAX	10	/* then a refused job waits in the retry set */
#define REFUSED_WAIT	30	/* seconds */
#define RESULT_TTL	"86400"	/* seconds a result's video waits in Redis */
#define PING_DEADLINE	2	/* seconds a PING may wait for its answer */

/*
 * Connections: "cmd" for short commands, "blk" for the blocking
 * XREADGROUP of jobs, so a publish or an ack never waits behind a read,
 * and "res" for the blocking read of results (nodes that commit them).
 */
struct queue {
	struct event_base	*base;
	char			*host, *path, *user, *password;
	int			 port;
	char			*stream, *group, *consumer, *retry;
	char			*results, *committers, *prefix;
	struct queue_cbs	 cbs;
	void			*arg;
	redisAsyncContext	*cmd, *blk, *res;
	int			 up;		/* connected, groups ready */
	int			 reading;	/* an XREADGROUP is in flight */
	int			 backlog;	/* still reading our own pending entries */
	char			 backlog_from[32];	/* those after this id */
	int			 dispatching;	/* handing a reply's entries out */
	int			 res_reading;	/* the same for results */
	int			 res_backlog;
	int			 res_held;	/* not read while the database waits */
	int			 res_on;	/* queue_results(1) */
	int			 want;
	int			 backoff;
	long long		 depth;
	struct event		*retry_ev;
	struct event		*reclaim_ev;
	struct event		*mover_ev;
	int			 moving;
	long			 reclaim_idle_ms;
	int			 reclaiming;
	int			 freeing;
	/* Liveness: a PING a second on cmd; one unanswered past PING_DEADLINE
	 * means Redis hangs (a stopped process answers nothing, while its
	 * socket stays open). */
	time_t			 ping_sent;	/* 0: none outstanding */
	int			 hung;		/* logged as not answering */
	char			 down_why[128];	/* why it is not connected */
};

struct publish {
	struct queue	*q;
	int64_t		 job_id;
	void		(*cb)(int, int64_t, void *);
	void		*arg;
};

static void queue_connect(struct queue *);
static void queue_read(struct queue *);
static void queue_read_results(struct queue *);
static void queue_reclaim(evutil_socket_t, short, void *);
static void queue_mover(evutil_socket_t, short, void *);

/* Parse the URL forms in queue.h; a password is kept for AUTH. */
static int
queue_parse_url(struct queue *q, const char *url)
{
	const char *p, *at;

	if (strncmp(url, "unix:", 5) == 0)
		url += 5;
	if (*url == '/') {
		q->path = xstrdup(url);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	url += 8;
	if ((at = strrchr(url, '@')) != NULL) {
		/* redis://:password@host or redis://user:password@host */
		const char *colon = memchr(url, ':', (size_t)(at - url));

		if (colon != NULL && colon > url)
			q->user = xstrndup(url, (size_t)(colon - url));
		q->password = colon != NULL ? xstrndup(colon + 1, (size_t)(at - colon - 1)) :
		    xstrndup(url, (size_t)(at - url));
		url = at + 1;
	}
	if ((p = strrchr(url, ':')) == NULL) {
		q->host = xstrdup(url);
		q->port = 6379;
	} else {
		q->host = xstrndup(url, (size_t)(p - url));
		q->port = atoi(p + 1);
	}
	return q->port > 0 ? 0 : -1;
}

/* Something broke: drop both connections and retry after a backoff. */
static void
queue_down(struct queue *q, const char *why)
{
	struct timeval tv;

	if (q->freeing)
		return;		/* queue_free disconnects both itself */
	if (q->up || q->backoff == 0)
		log_warnx("redis unavailable, will reconnect", "reason=%s", why);
	snprintf(q->down_why, sizeof(q->down_why), "%s", why);
	q->up = 0;
	q->ping_sent = 0;
	q->hung = 0;
	q->reading = 0;
	q->res_reading = 0;
	if (q->cmd != NULL)
		redisAsyncDisconnect(q->cmd);
	if (q->blk != NULL)
		redisAsyncDisconnect(q->blk);
	if (q->res != NULL)
		redisAsyncDisconnect(q->res);
	if (evtimer_pending(q->retry_ev, NULL))
		return;
	q->backoff = q->backoff == 0 ? BACKOFF_MIN :
	    (q->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : q->backoff * 2);
	tv.tv_sec = q->backoff;
	tv.tv_usec = 0;
	evtimer_add(q->retry_ev, &tv);
}

static void
queue_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_connect(arg);
}

static void
queue_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct queue *q = ac->data;

	(void)status;
	if (ac == q->cmd)
		q->cmd = NULL;
	if (ac == q->blk)
		q->blk = NULL;
	if (ac == q->res)
		q->res = NULL;
	queue_down(q, ac->errstr[0] ? ac->errstr : "disconnected");
}

static void
queue_on_connect(const redisAsyncContext *ac, int status)
{
	struct queue *q = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		if (ac == q->cmd)
			q->cmd = NULL;
		if (ac == q->blk)
			q->blk = NULL;
		if (ac == q->res)
			q->res = NULL;
		queue_down(q, ac->errstr);
	}
}

/* The reply to XGROUP CREATE: OK made the stream, BUSYGROUP had it. */
static void
queue_on_group(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;
	int created;

	(void)ac;
	if (reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		queue_down(q, reply->str);
		return;
	}
	created = reply->type != REDIS_REPLY_ERROR;
	q->up = 1;
	q->backoff = 0;
	q->backlog = 1;
	strcpy(q->backlog_from, "0");
	q->res_backlog = 1;
	log_info("redis connected", "stream=%s created=%d", q->stream, created);
	if (q->cbs.connected != NULL)
		q->cbs.connected(created, q->arg);
	queue_read(q);
	queue_read_results(q);
}

/* AUTH answered: a wrong password is worth a clear line, then a retry. */
static void
queue_on_auth(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		log_warnx("redis refused the password", "error=%s", reply->str);
		queue_down(priv, "AUTH failed");
	}
	(void)ac;
}

/* The reply to the results group's XGROUP CREATE: an error but BUSYGROUP
 * is worth a reconnect. */
static void
queue_on_results_group(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "BUSYGROUP", 9) != 0)
		queue_down(priv, reply->str);
}

/* Warn when Redis may evict our keys: jobs would vanish silently. */
static void
queue_on_policy(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;

	(void)ac;
	(void)priv;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[1]->type == REDIS_REPLY_STRING &&
	    strcmp(reply->element[1]->str, "noeviction") != 0)
		log_warnx("redis maxmemory-policy is not noeviction: queued jobs may be "
		    "evicted", "policy=%s", reply->element[1]->str);
}

/* Open one connection attached to the loop, or NULL. */
static redisAsyncContext *
queue_open(struct queue *q)
{
	redisAsyncContext *ac;

	ac = q->path ? redisAsyncConnectUnix(q->path) : redisAsyncConnect(q->host, q->port);
	if (ac == NULL)
		return NULL;
	if (ac->err) {
		queue_down(q, ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = q;
	redisLibeventAttach(ac, q->base);
	redisAsyncSetConnectCallback(ac, queue_on_connect);
	redisAsyncSetDisconnectCallback(ac, queue_on_disconnect);
	/* The first command on each connection (commands wait until it is up). */
	if (q->password != NULL && q->user != NULL)
		redisAsyncCommand(ac, queue_on_auth, q, "AUTH %s %s", q->user, q->password);
	else if (q->password != NULL)
		redisAsyncCommand(ac, queue_on_auth, q, "AUTH %s", q->password);
	return ac;
}

static void
queue_connect(struct queue *q)
{
	if ((q->cmd = queue_open(q)) == NULL)
		return;
	if ((q->blk = queue_open(q)) == NULL) {
		redisAsyncDisconnect(q->cmd);
		return;
	}
	if (q->res_on && (q->res = queue_open(q)) == NULL) {
		redisAsyncDisconnect(q->cmd);
		redisAsyncDisconnect(q->blk);
		return;
	}
	/* Commands queue on the connection until it is up. */
	redisAsyncCommand(q->cmd, queue_on_policy, q, "CONFIG GET maxmemory-policy");
	if (q->res_on)
		redisAsyncCommand(q->cmd, queue_on_results_group, q,
		    "XGROUP CREATE %s %s 0 MKSTREAM", q->results, q->committers);
	redisAsyncCommand(q->cmd, queue_on_group, q, "XGROUP CREATE %s %s 0 MKSTREAM",
	    q->stream, q->group);
}

struct queue *
queue_new(struct event_base *base, const char *url, const char *prefix,
    const char *consumer, const struct queue_cbs *cbs, void *arg)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	/* Not the URL itself in the message: it may hold a password. */
	if (strncmp(url, "rediss://", 9) == 0)
		fatalx("redis_url: TLS (rediss://) needs hiredis 1.0 with SSL; this build "
		    "has it without: use a TLS tunnel (stunnel, spiped)", "hiredis=%d.%d",
		    HIREDIS_MAJOR, HIREDIS_MINOR);
	if (queue_parse_url(q, url) == -1)
		fatalx("redis_url: cannot parse it (unix:/path, or "
		    "redis://[[user]:password@]host[:port])");
	q->base = base;
	q->prefix = xstrdup(prefix);
	xasprintf(&q->stream, "%s:jobs", prefix);
	xasprintf(&q->group, "%s:renderers", prefix);
	xasprintf(&q->retry, "%s:retry", prefix);
	xasprintf(&q->results, "%s:results", prefix);
	xasprintf(&q->committers, "%s:committers", prefix);
	q->res_on = cbs->result != NULL;
	q->consumer = xstrdup(consumer);
	q->cbs = *cbs;
	q->arg = arg;
	q->retry_ev = evtimer_new(base, queue_retry, q);
	q->reclaim_ev = event_new(base, -1, EV_PERSIST, queue_reclaim, q);
	q->mover_ev = event_new(base, -1, EV_PERSIST, queue_mover, q);
	{
		struct timeval sec = { 1, 0 };
		evtimer_add(q->mover_ev, &sec);
	}
	queue_connect(q);
	return q;
}

void
queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	q->freeing = 1;
	event_free(q->retry_ev);
	event_free(q->reclaim_ev);
	event_free(q->mover_ev);
	/* Disconnect callbacks run inside these calls and clear cmd/blk;
	 * pending commands get their callbacks with a NULL reply. */
	if (q->cmd != NULL)
		redisAsyncFree(q->cmd);
	if (q->blk != NULL)
		redisAsyncFree(q->blk);
	if (q->res != NULL)
		redisAsyncFree(q->res);
	free(q->host);
	free(q->path);
	free(q->user);
	free(q->password);
	free(q->prefix);
	free(q->stream);
	free(q->group);
	free(q->retry);
	free(q->results);
	free(q->committers);
	free(q->consumer);
	free(q);
}

int
queue_connected(const struct queue *q)
{
	return q->up;
}

static void
queue_on_pong(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;

	(void)ac;
	if (r == NULL)
		return;		/* disconnected: queue_down says so */
	if (q->hung)
		log_info("redis answers again", "after_s=%lld",
		    (long long)(time(NULL) - q->ping_sent));
	q->ping_sent = 0;
	q->hung = 0;
}

/* Once a second (with the mover): a PING, unless one still waits; one
 * waiting past its deadline is logged once. */
static void
queue_ping(struct queue *q)
{
	time_t now = time(NULL);

	if (!q->up || q->cmd == NULL)
		return;
	if (q->ping_sent == 0) {
		q->ping_sent = now;
		redisAsyncCommand(q->cmd, queue_on_pong, q, "PING");
	} else if (!q->hung && now - q->ping_sent > PING_DEADLINE) {
		q->hung = 1;
		log_warnx("redis does not answer", "waiting_s=%lld",
		    (long long)(now - q->ping_sent));
	}
}

const char *
queue_problem(const struct queue *q, char *buf, size_t len)
{
	if (q == NULL || !q->up) {
		snprintf(buf, len, "redis is not connected%s%s", q != NULL && q->down_why[0] ?
		    ": " : "", q != NULL ? q->down_why : "");
		return buf;
	}
	if (q->ping_sent != 0 && time(NULL) - q->ping_sent > PING_DEADLINE) {
		snprintf(buf, len, "redis does not answer: a PING waits for %lld s",
		    (long long)(time(NULL) - q->ping_sent));
		return buf;
	}
	return NULL;
}

long long
queue_depth(const struct queue *q)
{
	return q->depth;
}

/* The value of field name in an entry's [field, value ...], or "". */
static const char *
entry_field(const redisReply *f, const char *name)
{
	for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2)
		if (f->element[k]->type == REDIS_REPLY_STRING &&
		    f->element[k + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(f->element[k]->str, name) == 0)
			return f->element[k + 1]->str;
	return "";
}

/* A job from its entry's fields; the strings point into the reply. */
static void
job_from_entry(const redisReply *f, struct queue_job *j)
{
	j->id = strtoll(entry_field(f, "job_id"), NULL, 10);
	j->asset_id = strtoll(entry_field(f, "asset_id"), NULL, 10);
	j->bot = entry_field(f, "bot");
	j->tmpl = entry_field(f, "template");
	j->version = entry_field(f, "version");
	j->name = entry_field(f, "name");
	j->stress = entry_field(f, "stress");
	j->hops = atoi(entry_field(f, "hops"));
}

/* Hand each [id, [field, value ...]] entry to the job callback. */
static int
queue_entry_list(struct queue *q, redisReply *entries, int reclaimed)
{
	int n = 0;

	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t i = 0; i < entries->elements; i++) {
		redisReply *e = entries->element[i];
		struct queue_job j;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
			continue;
		n++;
		job_from_entry(e->element[1], &j);
		if (j.id <= 0) {
			/* Deleted or foreign entry: nothing to do but ack. */
			queue_ack(q, e->element[0]->str);
			continue;
		}
		/* Each job handed out takes a worker until queue_want says
		 * otherwise: the next read asks only for what is left. */
		if (q->want > 0)
			q->want--;
		q->cbs.job(e->element[0]->str, &j, reclaimed, q->arg);
	}
	return n;
}

/* An XREADGROUP reply: [[stream, entries], ...]. */
static int
queue_entries(struct queue *q, redisReply *reply)
{
	int n = 0;

	if (reply->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t s = 0; s < reply->elements; s++)
		if (reply->element[s]->elements >= 2)
			n += queue_entry_list(q, reply->element[s]->element[1], 0);
	return n;
}

static void
queue_on_reclaim(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;
	int n;

	(void)ac;
	q->reclaiming = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
		return;
	q->dispatching = 1;
	n = queue_entry_list(q, reply->element[1], 1);
	q->dispatching = 0;
	if (n > 0)
		log_warnx("reclaimed jobs abandoned by another consumer", "jobs=%d", n);
	queue_read(q);
}

/*
 * Entries delivered to a consumer that died stay pending for it for ever;
 * once idle longer than any render can take, we claim them (XAUTOCLAIM).
 */
static void
queue_reclaim(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	char idle[24], count[16];

	(void)fd;
	(void)what;
	if (!q->up || q->reclaiming || q->want <= 0 || q->cmd == NULL)
		return;
	snprintf(idle, sizeof(idle), "%ld", q->reclaim_idle_ms);
	snprintf(count, sizeof(count), "%d", q->want);
	q->reclaiming = 1;
	redisAsyncCommand(q->cmd, queue_on_reclaim, q,
	    "XAUTOCLAIM %s %s %s %s 0-0 COUNT %s", q->stream, q->group, q->consumer,
	    idle, count);
}

void
queue_set_reclaim(struct queue *q, long idle_ms)
{
	struct timeval tv = { idle_ms / 4000 + 1, 0 };

	q->reclaim_idle_ms = idle_ms;
	evtimer_del(q->reclaim_ev);
	if (idle_ms > 0)
		evtimer_add(q->reclaim_ev, &tv);
}

/* The id of the last entry in an XREADGROUP reply, or NULL. */
static const char *
queue_last_id(const redisReply *reply)
{
	const redisReply *s, *e;

	if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0)
		return NULL;
	s = reply->element[reply->elements - 1];
	if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 ||
	    s->element[1]->type != REDIS_REPLY_ARRAY || s->element[1]->elements == 0)
		return NULL;
	e = s->element[1]->element[s->element[1]->elements - 1];
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return NULL;
	return e->element[0]->str;
}

static void
queue_on_read(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;
	const char *last;
	int n;

	(void)ac;
	q->reading = 0;
	if (reply == NULL)
		return;		/* disconnected; queue_down does the rest */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* NOGROUP: Redis lost the stream under us; recreate it. */
		log_warnx("redis read failed", "error=%s", reply->str);
		queue_down(q, reply->str);
		return;
	}
	/* No read while the entries are handed out: the job callback may
	 * change what we want, and the next read asks for that. */
	q->dispatching = 1;
	n = queue_entries(q, reply);
	q->dispatching = 0;
	if (q->backlog && n == 0)
		q->backlog = 0;	/* our pending list is done: read new ones */
	else if (q->backlog && (last = queue_last_id(reply)) != NULL)
		/* Entries we took stay pending until acknowledged: the next
		 * read starts after them, or it would hand them out again. */
		snprintf(q->backlog_from, sizeof(q->backlog_from), "%s", last);
	queue_read(q);
}

/* Keep one XREADGROUP in flight while we have room for jobs. */
static void
queue_read(struct queue *q)
{
	char count[16];

	if (!q->up || q->reading || q->dispatching || q->want <= 0 || q->blk == NULL)
		return;
	snprintf(count, sizeof(count), "%d", q->want);
	q->reading = 1;
	redisAsyncCommand(q->blk, queue_on_read, q,
	    "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s %s",
	    q->group, q->consumer, count, READ_BLOCK_MS, q->stream,
	    q->backlog ? q->backlog_from : ">");
}

void
queue_want(struct queue *q, int n)
{
	q->want = n;
	queue_read(q);
}

/* A publish to answer later; NULL (and cb(0) now) when Redis is down. */
static struct publish *
publish_new(struct queue *q, int64_t job_id, void (*cb)(int, int64_t, void *), void *arg)
{
	struct publish *p;

	if (!q->up || q->cmd == NULL) {
		cb(0, job_id, arg);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->q = q;
	p->job_id = job_id;
	p->cb = cb;
	p->arg = arg;
	return p;
}

static void
queue_on_publish(redisAsyncContext *ac, void *r, void *priv)
{
	struct publish *p = priv;
	redisReply *reply = r;
	int ok = reply != NULL && reply->type == REDIS_REPLY_STRING;

	(void)ac;
	if (!ok && reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warnx("redis XADD failed", "error=%s", reply->str);
	p->cb(ok, p->job_id, p->arg);
	free(p);
}

/* XADD the job's entry: everything a node without the database needs. */
static void
job_xadd(struct queue *q, redisAsyncContext *ac, const struct queue_job *j,
    redisCallbackFn *fn, void *priv)
{
	redisAsyncCommand(ac, fn, priv, "XADD %s * job_id %lld asset_id %lld bot %s "
	    "template %s version %s name %s stress %s hops %d", q->stream, (long long)j->id,
	    (long long)j->asset_id, j->bot, j->tmpl, j->version, j->name,
	    j->stress != NULL ? j->stress : "", j->hops);
}

/* The job as the retry set's member (JSON), to be freed. */
static char *
job_json(const struct queue_job *j)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddNumberToObject(o, "job_id", (double)j->id);
	cJSON_AddNumberToObject(o, "asset_id", (double)j->asset_id);
	cJSON_AddStringToObject(o, "bot", j->bot);
	cJSON_AddStringToObject(o, "template", j->tmpl);
	cJSON_AddStringToObject(o, "version", j->version);
	cJSON_AddStringToObject(o, "name", j->name);
	cJSON_AddStringToObject(o, "stress", j->stress != NULL ? j->stress : "");
	cJSON_AddNumberToObject(o, "hops", j->hops);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* A retry set member back to a job (an older greetbotd's is a bare id);
 * the strings live in *keep, which the caller deletes. */
static void
job_from_json(const char *member, struct queue_job *j, cJSON **keep)
{
	const char *str;

	memset(j, 0, sizeof(*j));
	j->bot = j->tmpl = j->version = j->name = j->stress = "";
	if ((*keep = cJSON_Parse(member)) == NULL || !cJSON_IsObject(*keep)) {
		j->id = strtoll(member, NULL, 10);
		return;
	}
	j->id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(*keep, "job_id"));
	j->asset_id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(*keep, "asset_id"));
	j->hops = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(*keep, "hops"));
	if ((str = cJSON_GetStringValue(cJSON_GetObjectItem(*keep, "bot"))) != NULL)
		j->bot = str;
	if ((str = cJSON_GetStringValue(cJSON_GetObjectItem(*keep, "template"))) != NULL)
		j->tmpl = str;
	if ((str = cJSON_GetStringValue(cJSON_GetObjectItem(*keep, "version"))) != NULL)
		j->version = str;
	if ((str = cJSON_GetStringValue(cJSON_GetObjectItem(*keep, "name"))) != NULL)
		j->name = str;
	if ((str = cJSON_GetStringValue(cJSON_GetObjectItem(*keep, "stress"))) != NULL)
		j->stress = str;
}

void
queue_publish(struct queue *q, const struct queue_job *j,
    void (*cb)(int, int64_t, void *), void *arg)
{
	struct publish *p;

	if ((p = publish_new(q, j->id, cb, arg)) == NULL)
		return;
	job_xadd(q, q->cmd, j, queue_on_publish, p);
}

static void
queue_on_scheduled(redisAsyncContext *ac, void *r, void *priv)
{
	struct publish *p = priv;
	redisReply *reply = r;

	(void)ac;
	p->cb(reply != NULL && reply->type == REDIS_REPLY_INTEGER, p->job_id, p->arg);
	free(p);
}

static void
queue_on_len(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
		q->depth = reply->integer;
}

void
queue_ack(struct queue *q, const char *entry_id)
{
	if (entry_id == NULL || !q->up || q->cmd == NULL)
		return;	/* unacked: it stays pending and comes back to us */
	redisAsyncCommand(q->cmd, NULL, NULL, "XACK %s %s %s", q->stream, q->group,
	    entry_id);
	redisAsyncCommand(q->cmd, NULL, NULL, "XDEL %s %s", q->stream, entry_id);
}

void
queue_schedule(struct queue *q, const struct queue_job *j, int64_t due,
    void (*cb)(int, int64_t, void *), void *arg)
{
	struct publish *p;
	char *member;

	if ((p = publish_new(q, j->id, cb, arg)) == NULL)
		return;
	member = job_json(j);
	redisAsyncCommand(q->cmd, queue_on_scheduled, p, "ZADD %s %lld %s", q->retry,
	    (long long)due, member);
	free(member);
}

void
queue_refuse(struct queue *q, const char *entry_id, const struct queue_job *j)
{
	struct queue_job again = *j;

	if (!q->up || q->cmd == NULL)
		return;	/* it stays pending for us; refused again on reconnect */
	again.hops++;
	if (again.hops % REFUSALS_MAX == 0) {
		/* Nobody has its template version: ask again now and then. */
		char *member = job_json(&again);

		redisAsyncCommand(q->cmd, NULL, NULL, "ZADD %s %lld %s", q->retry,
		    (long long)time(NULL) + REFUSED_WAIT, member);
		free(member);
	} else
		job_xadd(q, q->cmd, &again, NULL, NULL);
	queue_ack(q, entry_id);
}

/*
 * Take a due job out of the retry set and put it on the stream in one
 * step (a script runs atomically): of several nodes only the one whose
 * ZREM removed it adds it, and no crash can fall between the two and leave
 * the job in neither. The member is the job as JSON; its keys and values
 * become the entry's fields (a bare id from an older greetbotd: job_id).
 */
static const char retry_move_lua[] =
    "if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
    "local ok, job = pcall(cjson.decode, ARGV[1])\n"
    "local args = {KEYS[2], '*'}\n"
    "if ok and type(job) == 'table' then\n"
    "  for k, v in pairs(job) do args[#args + 1] = k; args[#args + 1] = tostring(v) end\n"
    "else\n"
    "  args[#args + 1] = 'job_id'; args[#args + 1] = ARGV[1]\n"
    "end\n"
    "redis.call('XADD', unpack(args))\n"
    "return 1\n";

struct moving {
	struct queue	*q;
	char		*member;
};

static void
queue_on_moved(redisAsyncContext *ac, void *r, void *priv)
{
	struct moving *m = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
		struct queue_job j;
		cJSON *keep;

		job_from_json(m->member, &j, &keep);
		log_info("retry due, job back on the stream", "job=%lld", (long long)j.id);
		cJSON_Delete(keep);
	} else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warnx("redis: cannot move a due retry", "error=%s", reply->str);
	free(m->member);
	free(m);
}

static void
queue_on_due(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;

	q->moving = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < reply->elements; i++) {
		struct moving *m = xcalloc(1, sizeof(*m));

		m->q = q;
		m->member = xstrdup(reply->element[i]->str);
		redisAsyncCommand(ac, queue_on_moved, m, "EVAL %s 2 %s %s %s", retry_move_lua,
		    q->retry, q->stream, m->member);
	}
}

/* Once a second: move due retries from the sorted set to the stream. */
static void
queue_mover(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	char now[24];

	(void)fd;
	(void)what;
	queue_ping(q);
	/* The stream's length for /metrics, here rather than after each
	 * acknowledgement: a command and an answer per job for a gauge. */
	if (q->up && q->cmd != NULL)
		redisAsyncCommand(q->cmd, queue_on_len, q, "XLEN %s", q->stream);
	if (!q->up || q->moving || q->cmd == NULL)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	q->moving = 1;
	redisAsyncCommand(q->cmd, queue_on_due, q, "ZRANGEBYSCORE %s -inf %s LIMIT 0 100",
	    q->retry, now);
}

/* --- results: from a node without the database to the one with it ------- */

struct put {
	struct queue	*q;
	void		(*cb)(int, void *);
	void		*arg;
};

static void
queue_on_result_added(redisAsyncContext *ac, void *r, void *priv)
{
	struct put *p = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warnx("redis: cannot add the result", "error=%s", reply->str);
	p->cb(reply != NULL && reply->type == REDIS_REPLY_STRING, p->arg);
	free(p);
}

/* The video's SET answered: a failure (out of memory) fails the put, the
 * job stays pending and is rendered again. */
static void
queue_on_video_set(redisAsyncContext *ac, void *r, void *priv)
{
	struct put *p = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_STATUS)
		return;		/* the XADD queued behind it answers */
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_warnx("redis: cannot store the video", "error=%s", reply->str);
	p->cb(0, p->arg);
	p->cb = NULL;
}

/* The XADD of a put whose SET failed: only free. */
static void
queue_on_result_added_after(redisAsyncContext *ac, void *r, void *priv)
{
	struct put *p = priv;

	if (p->cb != NULL) {
		queue_on_result_added(ac, r, priv);
		return;
	}
	free(p);
}

void
queue_result_put(struct queue *q, const struct queue_result *res,
    void (*cb)(int, void *), void *arg)
{
	struct put *p;
	char key[256] = "";

	if (!q->up || q->cmd == NULL) {
		cb(0, arg);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->q = q;
	p->cb = cb;
	p->arg = arg;
	if (res->video != NULL) {
		snprintf(key, sizeof(key), "%s:result:%s", q->prefix, res->id);
		/* The thumbnail first: the video's SET answers for both. */
		if (res->thumb != NULL)
			redisAsyncCommand(q->cmd, NULL, NULL, "SET %s:thumb %b EX %s", key,
			    res->thumb, res->thumb_len, RESULT_TTL);
		redisAsyncCommand(q->cmd, queue_on_video_set, p, "SET %s %b EX %s", key,
		    res->video, res->video_len, RESULT_TTL);
	}
	/* In order on one connection: the entry never names a video that is
	 * not stored yet. If the SET failed, the entry is added all the same
	 * and its video is missing: the committer counts it a failure. */
	redisAsyncCommand(q->cmd, res->video != NULL ? queue_on_result_added_after :
	    queue_on_result_added, p, "XADD %s * id %s job_id %lld asset_id %lld node %s "
	    "status %s retryable %d exit_code %d signal %d cause %s cpu_seconds %.6f "
	    "max_rss_kb %ld duration %.6f started_at %.3f finished_at %.3f stderr_tail %s "
	    "width %d height %d video_duration %.3f video %s", q->results, res->id,
	    (long long)res->job_id, (long long)res->asset_id, res->node, res->status,
	    res->retryable, res->exit_code, res->signal, res->cause, res->cpu_seconds,
	    res->max_rss_kb, res->duration, res->started_at, res->finished_at,
	    res->stderr_tail, res->width, res->height, res->video_duration, key);
}

/* A result entry, waiting for its video's GET. */
struct fetch {
	struct queue	*q;
	redisReply	*entry;		/* [id, [field, value ...]], owned */
	int		 has_video;
};

/* Fill a result from its entry's fields; strings point into the reply. */
static void
result_from_entry(const redisReply *f, struct queue_result *res)
{
	memset(res, 0, sizeof(*res));
	res->id = entry_field(f, "id");
	res->job_id = strtoll(entry_field(f, "job_id"), NULL, 10);
	res->asset_id = strtoll(entry_field(f, "asset_id"), NULL, 10);
	res->node = entry_field(f, "node");
	res->status = entry_field(f, "status");
	res->retryable = atoi(entry_field(f, "retryable"));
	res->exit_code = atoi(entry_field(f, "exit_code"));
	res->signal = atoi(entry_field(f, "signal"));
	res->cause = entry_field(f, "cause");
	res->cpu_seconds = strtod(entry_field(f, "cpu_seconds"), NULL);
	res->max_rss_kb = strtol(entry_field(f, "max_rss_kb"), NULL, 10);
	res->duration = strtod(entry_field(f, "duration"), NULL);
	res->started_at = strtod(entry_field(f, "started_at"), NULL);
	res->finished_at = strtod(entry_field(f, "finished_at"), NULL);
	res->stderr_tail = entry_field(f, "stderr_tail");
	/* An older node's entry has none: 0, unknown. */
	res->width = atoi(entry_field(f, "width"));
	res->height = atoi(entry_field(f, "height"));
	res->video_duration = strtod(entry_field(f, "video_duration"), NULL);
}

/* The video arrived (or not: expired, or Redis lost it): commit. */
static void
queue_on_video(redisAsyncContext *ac, void *r, void *priv)
{
	struct fetch *ft = priv;
	struct queue *q = ft->q;
	redisReply *reply = r;
	struct queue_result res;

	(void)ac;
	if (reply != NULL) {
		result_from_entry(ft->entry->element[1], &res);
		/* MGET video thumb: either may be missing (nil). */
		if (ft->has_video && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
			if (reply->element[0]->type == REDIS_REPLY_STRING) {
				res.video = reply->element[0]->str;
				res.video_len = reply->element[0]->len;
			}
			if (reply->element[1]->type == REDIS_REPLY_STRING) {
				res.thumb = reply->element[1]->str;
				res.thumb_len = reply->element[1]->len;
			}
		}
		q->cbs.result(ft->entry->element[0]->str, &res, q->arg);
	}
	freeReplyObject(ft->entry);
	free(ft);
	q->res_reading = 0;
	queue_read_results(q);
}

/* Copy a reply (hiredis frees a callback's reply when it returns). */
static redisReply *
reply_copy(const redisReply *r)
{
	redisReply *c = xcalloc(1, sizeof(*c));

	c->type = r->type;
	c->integer = r->integer;
	if (r->str != NULL) {
		c->str = xmalloc(r->len + 1);
		memcpy(c->str, r->str, r->len + 1);
		c->len = r->len;
	}
	if (r->elements > 0) {
		c->element = xcalloc(r->elements, sizeof(*c->element));
		c->elements = r->elements;
		for (size_t i = 0; i < r->elements; i++)
			c->element[i] = reply_copy(r->element[i]);
	}
	return c;
}

/* XREADGROUP of results answered: one entry at a time, its video first. */
static void
queue_on_results(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r, *entries, *e;
	struct fetch *ft;
	const char *key;

	(void)ac;
	if (reply == NULL) {
		q->res_reading = 0;
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->elements < 2 ||
	    (entries = reply->element[0]->element[1])->elements == 0) {
		if (reply->type == REDIS_REPLY_ERROR) {
			log_warnx("redis read of results failed", "error=%s", reply->str);
			q->res_reading = 0;
			queue_down(q, reply->str);
			return;
		}
		if (q->res_backlog)
			q->res_backlog = 0;	/* our pending results are done */
		q->res_reading = 0;
		queue_read_results(q);
		return;
	}
	e = entries->element[0];
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || q->cmd == NULL) {
		q->res_reading = 0;
		return;
	}
	ft = xcalloc(1, sizeof(*ft));
	ft->q = q;
	ft->entry = reply_copy(e);
	key = entry_field(e->element[1], "video");
	ft->has_video = *key != '\0';
	/* res_reading stays set until the video's answer: one at a time. */
	if (ft->has_video)
		redisAsyncCommand(q->cmd, queue_on_video, ft, "MGET %s %s:thumb", key, key);
	else
		redisAsyncCommand(q->cmd, queue_on_video, ft, "ECHO none");
}

/* Keep one read of results in flight (nodes that commit them). */
void
queue_results_hold(struct queue *q, int hold)
{
	if (q == NULL)
		return;
	q->res_held = hold;
	if (!hold) {
		/* Read our own pending results again from the first. */
		q->res_backlog = 1;
		queue_read_results(q);
	}
}

static void
queue_read_results(struct queue *q)
{
	if (!q->res_on || !q->up || q->res_reading || q->res == NULL || q->res_held)
		return;
	q->res_reading = 1;
	redisAsyncCommand(q->res, queue_on_results, q,
	    "XREADGROUP GROUP %s %s COUNT 1 BLOCK %s STREAMS %s %s", q->committers,
	    q->consumer, READ_BLOCK_MS, q->results, q->res_backlog ? "0" : ">");
}

void
queue_result_done(struct queue *q, const char *entry_id, const char *result_id)
{
	if (!q->up || q->cmd == NULL)
		return;	/* pending: read again, found committed, acked then */
	redisAsyncCommand(q->cmd, NULL, NULL, "XACK %s %s %s", q->results, q->committers,
	    entry_id);
	redisAsyncCommand(q->cmd, NULL, NULL, "XDEL %s %s", q->results, entry_id);
	redisAsyncCommand(q->cmd, NULL, NULL, "DEL %s:result:%s %s:result:%s:thumb", q->prefix,
	    result_id, q->prefix, result_id);
}
