/* queue.c: hiredis async on the libevent loop; never blocks on Redis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/*
 * Two connections: "cmd" for short commands, "blk" for the blocking
 * XREADGROUP, so a publish or an ack never waits behind a read.
 */
struct queue {
	struct event_base	*base;
	char			*host, *path;
	int			 port;
	char			*stream, *group, *consumer, *retry;
	struct queue_cbs	 cbs;
	void			*arg;
	redisAsyncContext	*cmd, *blk;
	int			 up;		/* both connected, group ready */
	int			 reading;	/* an XREADGROUP is in flight */
	int			 backlog;	/* still reading our own pending ("0") */
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
};

struct publish {
	struct queue	*q;
	int64_t		 job_id;
	void		(*cb)(int, int64_t, void *);
	void		*arg;
};

static void queue_connect(struct queue *);
static void queue_read(struct queue *);
static void queue_reclaim(evutil_socket_t, short, void *);
static void queue_mover(evutil_socket_t, short, void *);

/* Parse the URL forms in queue.h. */
static int
queue_parse_url(struct queue *q, const char *url)
{
	const char *p;

	if (strncmp(url, "unix:", 5) == 0)
		url += 5;
	if (*url == '/') {
		q->path = xstrdup(url);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	url += 8;
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
		log_warnx("redis unavailable, will reconnect\treason=\"%s\"", why);
	q->up = 0;
	q->reading = 0;
	if (q->cmd != NULL)
		redisAsyncDisconnect(q->cmd);
	if (q->blk != NULL)
		redisAsyncDisconnect(q->blk);
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
	log_info("redis connected\tstream=%s created=%d", q->stream, created);
	if (q->cbs.connected != NULL)
		q->cbs.connected(created, q->arg);
	queue_read(q);
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
		    "evicted\tpolicy=%s", reply->element[1]->str);
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
	/* Commands queue on the connection until it is up. */
	redisAsyncCommand(q->cmd, queue_on_policy, q, "CONFIG GET maxmemory-policy");
	redisAsyncCommand(q->cmd, queue_on_group, q, "XGROUP CREATE %s %s 0 MKSTREAM",
	    q->stream, q->group);
}

struct queue *
queue_new(struct event_base *base, const char *url, const char *prefix,
    const char *consumer, const struct queue_cbs *cbs, void *arg)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	if (queue_parse_url(q, url) == -1)
		fatalx("redis_url: cannot parse \"%s\" (unix:/path or redis://host:port)", url);
	q->base = base;
	xasprintf(&q->stream, "%s:jobs", prefix);
	xasprintf(&q->group, "%s:renderers", prefix);
	xasprintf(&q->retry, "%s:retry", prefix);
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
	free(q->host);
	free(q->path);
	free(q->stream);
	free(q->group);
	free(q->retry);
	free(q->consumer);
	free(q);
}

int
queue_connected(const struct queue *q)
{
	return q->up;
}

long long
queue_depth(const struct queue *q)
{
	return q->depth;
}

/* Hand each [id, [field, value ...]] entry to the job callback. */
static int
queue_entry_list(struct queue *q, redisReply *entries, int reclaimed)
{
	int n = 0;

	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t i = 0; i < entries->elements; i++) {
		redisReply *e = entries->element[i], *f;
		int64_t job = 0;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
			continue;
		f = e->element[1];
		n++;
		for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2)
			if (strcmp(f->element[k]->str, "job_id") == 0)
				job = strtoll(f->element[k + 1]->str, NULL, 10);
		if (job <= 0) {
			/* Deleted or foreign entry: nothing to do but ack. */
			queue_ack(q, e->element[0]->str);
			continue;
		}
		q->cbs.job(e->element[0]->str, job, reclaimed, q->arg);
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
	if ((n = queue_entry_list(q, reply->element[1], 1)) > 0)
		log_warnx("reclaimed jobs abandoned by another consumer\tjobs=%d", n);
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

static void
queue_on_read(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue *q = priv;
	redisReply *reply = r;
	int n;

	(void)ac;
	q->reading = 0;
	if (reply == NULL)
		return;		/* disconnected; queue_down does the rest */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* NOGROUP: Redis lost the stream under us; recreate it. */
		log_warnx("redis read failed\terror=\"%s\"", reply->str);
		queue_down(q, reply->str);
		return;
	}
	n = queue_entries(q, reply);
	if (q->backlog && n == 0)
		q->backlog = 0;	/* our pending list is empty: read new ones */
	queue_read(q);
}

/* Keep one XREADGROUP in flight while we have room for jobs. */
static void
queue_read(struct queue *q)
{
	char count[16];

	if (!q->up || q->reading || q->want <= 0 || q->blk == NULL)
		return;
	snprintf(count, sizeof(count), "%d", q->want);
	q->reading = 1;
	redisAsyncCommand(q->blk, queue_on_read, q,
	    "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s %s",
	    q->group, q->consumer, count, READ_BLOCK_MS, q->stream,
	    q->backlog ? "0" : ">");
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
		log_warnx("redis XADD failed\terror=\"%s\"", reply->str);
	p->cb(ok, p->job_id, p->arg);
	free(p);
}

void
queue_publish(struct queue *q, int64_t job_id, void (*cb)(int, int64_t, void *),
    void *arg)
{
	struct publish *p;
	char id[24];

	if ((p = publish_new(q, job_id, cb, arg)) == NULL)
		return;
	snprintf(id, sizeof(id), "%lld", (long long)job_id);
	redisAsyncCommand(q->cmd, queue_on_publish, p, "XADD %s * job_id %s",
	    q->stream, id);
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
	if (!q->up || q->cmd == NULL)
		return;	/* unacked: it stays pending and comes back to us */
	redisAsyncCommand(q->cmd, NULL, NULL, "XACK %s %s %s", q->stream, q->group,
	    entry_id);
	redisAsyncCommand(q->cmd, NULL, NULL, "XDEL %s %s", q->stream, entry_id);
	redisAsyncCommand(q->cmd, queue_on_len, q, "XLEN %s", q->stream);
}

void
queue_schedule(struct queue *q, int64_t job_id, int64_t due,
    void (*cb)(int, int64_t, void *), void *arg)
{
	struct publish *p;
	char id[24], score[24];

	if ((p = publish_new(q, job_id, cb, arg)) == NULL)
		return;
	snprintf(id, sizeof(id), "%lld", (long long)job_id);
	snprintf(score, sizeof(score), "%lld", (long long)due);
	redisAsyncCommand(q->cmd, queue_on_scheduled, p, "ZADD %s %s %s", q->retry, score, id);
}

/* ZREM answered: 1 means this node took the job out, so it publishes it. */
static void
queue_on_zrem(redisAsyncContext *ac, void *r, void *priv)
{
	struct publish *p = priv;
	redisReply *reply = r;
	char id[24];

	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1 &&
	    p->q->cmd != NULL) {
		snprintf(id, sizeof(id), "%lld", (long long)p->job_id);
		redisAsyncCommand(ac, NULL, NULL, "XADD %s * job_id %s", p->q->stream, id);
		log_info("retry due, job back on the stream\tjob=%s", id);
	}
	free(p);
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
		struct publish *p = xcalloc(1, sizeof(*p));

		p->q = q;
		p->job_id = strtoll(reply->element[i]->str, NULL, 10);
		redisAsyncCommand(ac, queue_on_zrem, p, "ZREM %s %s", q->retry,
		    reply->element[i]->str);
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
	if (!q->up || q->moving || q->cmd == NULL)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	q->moving = 1;
	redisAsyncCommand(q->cmd, queue_on_due, q, "ZRANGEBYSCORE %s -inf %s LIMIT 0 100",
	    q->retry, now);
}
