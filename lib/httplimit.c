/* SPDX-License-Identifier: ISC */
/* httplimit.c: header, body, time and connection limits around an evhttp
 * server, and an accept() that pauses when out of file descriptors. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "httplimit.h"
#include "log.h"
#include "xmalloc.h"

/* Connections cut but not yet closed, beyond the cap, before accept()
 * waits for them: each holds a descriptor until evhttp closes it. */
#define HL_SPARE	16
#define HL_REPORT	10	/* seconds: one line about refusals per period */
#define HL_PAUSE_MIN	100	/* ms: accept() paused, out of descriptors */
#define HL_PAUSE_MAX	1000
#define HL_QUIET	5	/* seconds accepting without a failure: the pause is over */

enum hl_why { HL_AT_CAP, HL_DEADLINE, HL_NWHY };
static const char *const why_names[HL_NWHY] = { "at_cap", "deadline" };

/*
 * One connection. libevent 2.1's evhttp has no hook for a new connection
 * but the one that asks for its bufferevent (evhttp_set_bevcb), and none
 * for a new request before its body (evhttp_set_newreqcb is 2.2's): so
 * the bufferevent is made here, and once evhttp has set it up (the next
 * turn of the loop, before anything is read) its connection is found as
 * the bufferevent's callback argument, to be told of its end (closecb).
 */
struct hl_conn {
	struct httplimit		*hl;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;		/* once set up */
	struct event			*timer;		/* set-up, deadline, cut */
	struct event			*head_ev;	/* reading the header block */
	size_t				 scanned;	/* bytes searched for its end */
	int				 answered;	/* its reply is on its way */
	int				 cut;
	int				 noted;
	enum hl_why			 why;
	struct hl_conn			*prev, *next;	/* in accept order */
};

struct httplimit {
	struct httplimit_conf	 conf;
	struct event_base	*base;
	struct evhttp		*http;
	struct evconnlistener	*lev;
	int			 listening;	/* lev is enabled */
	int			 max_conns;
	struct hl_conn		*first, *last;
	int			 live;		/* connections not cut */
	int			 total;		/* connections evhttp holds */
	long			 count[HL_NWHY];	/* since the last report */
	struct event		*report;
	/* accept() out of descriptors: paused, then watched a while. */
	enum { HL_ACCEPTING, HL_PAUSED, HL_WATCHING } fds;
	int			 pause_ms;
	int			 accepted;	/* since the last pause */
	long			 failures;
	time_t			 since, last_failure;
	struct event		*resume;
	struct httplimit	*next_hl;
};

/* Every server of this process: the listener's error callback is given
 * the evhttp, not us. */
static struct httplimit *servers;

/* Accept while not paused for descriptors and while few connections
 * wait to be closed. */
static void
hl_listen_update(struct httplimit *hl)
{
	int want = hl->fds != HL_PAUSED && hl->total < hl->max_conns + HL_SPARE;

	if (hl->lev == NULL || want == hl->listening)
		return;
	if (want)
		evconnlistener_enable(hl->lev);
	else
		evconnlistener_disable(hl->lev);
	hl->listening = want;
}

/* The peer's address, for the log. */
static const char *
hl_peer(struct hl_conn *c, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	snprintf(buf, len, "-");
	if (fd == -1 || getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return buf;
	if (ss.ss_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, len);
	else if (ss.ss_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, len);
	return buf;
}

/* A connection cut: the first of a while is logged on its own, the next
 * ones are counted in one line every HL_REPORT seconds. */
static void
hl_note(struct httplimit *hl, struct hl_conn *c)
{
	struct timeval tv = { HL_REPORT, 0 };
	char peer[64];

	if (evtimer_pending(hl->report, NULL)) {
		hl->count[c->why]++;
		return;
	}
	log_warnx("http connection cut", "server=%s reason=%s peer=%s max_connections=%d "
	    "deadline=%d", hl->conf.server, why_names[c->why], hl_peer(c, peer, sizeof(peer)),
	    hl->max_conns, hl->conf.deadline);
	evtimer_add(hl->report, &tv);
}

static void
hl_report(evutil_socket_t fd, short what, void *arg)
{
	struct httplimit *hl = arg;
	struct timeval tv = { HL_REPORT, 0 };

	(void)fd;
	(void)what;
	if (hl->count[HL_AT_CAP] + hl->count[HL_DEADLINE] == 0)
		return;		/* over: the next one is logged on its own */
	log_warnx("http connections cut", "server=%s at_cap=%ld deadline=%ld seconds=%d",
	    hl->conf.server, hl->count[HL_AT_CAP], hl->count[HL_DEADLINE], HL_REPORT);
	memset(hl->count, 0, sizeof(hl->count));
	evtimer_add(hl->report, &tv);
}

/* evhttp let go of the connection (closed, or its server freed). */
static void
hl_conn_free(struct hl_conn *c)
{
	struct httplimit *hl = c->hl;

	*(c->prev != NULL ? &c->prev->next : &hl->first) = c->next;
	*(c->next != NULL ? &c->next->prev : &hl->last) = c->prev;
	if (!c->cut)
		hl->live--;
	hl->total--;
	event_free(c->timer);
	if (c->head_ev != NULL)
		event_free(c->head_ev);
	free(c);
	hl_listen_update(hl);
}

static void
hl_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	hl_conn_free(arg);
}

/* Cut c at the next turn of the loop (not from inside evhttp's own
 * callbacks). */
static void
hl_cut(struct hl_conn *c, enum hl_why why)
{
	if (c->cut)
		return;
	c->cut = 1;
	c->why = why;
	c->hl->live--;
	evtimer_del(c->timer);
	event_active(c->timer, EV_TIMEOUT, 1);
}

/* Where the header block ends (past its blank line); 0 while it has not
 * all come. The search goes on from where the last one stopped. */
static size_t
hl_head_end(struct hl_conn *c, struct evbuffer *in)
{
	static const char *const marks[] = { "\n\n", "\n\r\n" };
	size_t n = evbuffer_get_length(in), end = 0;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		size_t len = strlen(marks[i]);
		struct evbuffer_ptr from, p;

		if (evbuffer_ptr_set(in, &from, c->scanned, EVBUFFER_PTR_SET) == -1)
			return 0;
		p = evbuffer_search(in, marks[i], len, &from);
		if (p.pos != -1 && (end == 0 || (size_t)p.pos + len < end))
			end = (size_t)p.pos + len;
	}
	if (end == 0)
		c->scanned = n > 2 ? n - 2 : 0;
	return end;
}

/*
 * conf.head: the first request's header block is read here, into the
 * buffer evhttp reads from, before evhttp sees any of it. Once it is
 * whole (or longer than evhttp takes, or the peer stopped), what
 * conf.head allows becomes the connection's body limit, and evhttp reads
 * on from there: a body over the limit is refused (413) before it is read.
 */
static void
hl_head_read(evutil_socket_t fd, short what, void *arg)
{
	struct hl_conn *c = arg;
	const struct httplimit_conf *cf = &c->hl->conf;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t max = 2 * cf->max_headers + 4, end, allow = cf->max_body;
	int n;

	(void)what;
	n = evbuffer_read(in, fd, (int)(max + 1 - evbuffer_get_length(in)));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	end = hl_head_end(c, in);
	if (end == 0 && n > 0 && evbuffer_get_length(in) <= max)
		return;
	if (end > 0) {
		allow = cf->head((const char *)evbuffer_pullup(in, (ev_ssize_t)end), end);
		if (allow > cf->max_body)
			allow = cf->max_body;
	}
	evhttp_connection_set_max_body_size(c->evcon, (ev_ssize_t)allow);
	event_free(c->head_ev);
	c->head_ev = NULL;
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* The turn after evhttp_set_bevcb's: evhttp has made its connection, and
 * nothing was read yet. -1 when evhttp has given it up already. */
static int
hl_setup(struct hl_conn *c)
{
	struct timeval tv = { c->hl->conf.deadline, 0 };
	bufferevent_event_cb cb;
	void *arg;

	bufferevent_getcb(c->bev, NULL, NULL, &cb, &arg);
	if (cb == NULL) {
		hl_conn_free(c);
		return -1;
	}
	c->evcon = arg;
	if (evhttp_connection_get_bufferevent(c->evcon) != c->bev)
		fatalx("http: evhttp's connection is not its bufferevent's argument");
	evhttp_connection_set_closecb(c->evcon, hl_closed, c);
	evtimer_add(c->timer, &tv);
	if (c->hl->conf.head != NULL) {
		bufferevent_disable(c->bev, EV_READ);
		if ((c->head_ev = event_new(c->hl->base, bufferevent_getfd(c->bev),
		    EV_READ | EV_PERSIST, hl_head_read, c)) == NULL)
			fatalx("http: event_new");
		event_add(c->head_ev, NULL);
	}
	return 0;
}

/* Set-up, then the deadline, or a cut: evhttp gets a timeout, as from
 * its own timers, and closes the connection (hl_closed). */
static void
hl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hl_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->evcon == NULL && (hl_setup(c) == -1 || !c->cut))
		return;
	if (!c->cut) {
		c->cut = 1;
		c->why = HL_DEADLINE;
		c->hl->live--;
	}
	if (c->noted)
		return;
	c->noted = 1;
	hl_note(c->hl, c);
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* Over the cap: the oldest connection not answered yet is cut (the new
 * one, when every other one is being answered). */
static void
hl_make_room(struct httplimit *hl)
{
	struct hl_conn *o;

	for (o = hl->first; o != NULL; o = o->next)
		if (!o->cut && !o->answered)
			break;
	if (o != NULL)
		hl_cut(o, HL_AT_CAP);
}

/* evhttp accepted a connection and asks for its bufferevent: one like
 * its own (it closes the socket itself). */
static struct bufferevent *
hl_accepted(struct event_base *base, void *arg)
{
	struct httplimit *hl = arg;
	struct hl_conn *c = xcalloc(1, sizeof(*c));

	c->hl = hl;
	if ((c->bev = bufferevent_socket_new(base, -1, 0)) == NULL ||
	    (c->timer = evtimer_new(base, hl_timer, c)) == NULL)
		fatalx("http: cannot make a connection's buffers", "server=%s", hl->conf.server);
	c->prev = hl->last;
	*(hl->last != NULL ? &hl->last->next : &hl->first) = c;
	hl->last = c;
	hl->live++;
	hl->total++;
	hl->accepted = 1;
	event_active(c->timer, EV_TIMEOUT, 1);
	if (hl->live > hl->max_conns)
		hl_make_room(hl);
	hl_listen_update(hl);
	return c->bev;
}

/* accept() failed with an error that would come again at once (out of
 * descriptors, mostly): the listener pauses, 100 ms doubling to 1 s.
 * One line when it starts; the end is hl_resume's. */
static void
hl_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;
	struct httplimit *hl;

	(void)arg;
	for (hl = servers; hl != NULL && hl->lev != lev; hl = hl->next_hl)
		;
	if (hl == NULL) {
		evconnlistener_disable(lev);	/* not ours: never spin */
		return;
	}
	if (hl->fds == HL_ACCEPTING) {
		hl->since = time(NULL);
		hl->failures = 0;
		errno = err;
		log_warn("accept paused", "server=%s connections=%d", hl->conf.server,
		    hl->total);
	}
	/* Doubling while nothing could be accepted in between. */
	if (hl->fds == HL_ACCEPTING || hl->accepted)
		hl->pause_ms = HL_PAUSE_MIN;
	else
		hl->pause_ms = hl->pause_ms * 2 > HL_PAUSE_MAX ? HL_PAUSE_MAX : hl->pause_ms * 2;
	hl->accepted = 0;
	hl->failures++;
	hl->last_failure = time(NULL);
	hl->fds = HL_PAUSED;
	hl_listen_update(hl);
	tv.tv_sec = hl->pause_ms / 1000;
	tv.tv_usec = (hl->pause_ms % 1000) * 1000;
	evtimer_add(hl->resume, &tv);
}

/* The pause is over: accept again, and after HL_QUIET seconds without a
 * failure say that it is over, with the count. */
static void
hl_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httplimit *hl = arg;
	struct timeval tv = { HL_QUIET, 0 };

	(void)fd;
	(void)what;
	if (hl->fds == HL_PAUSED) {
		hl->fds = HL_WATCHING;
		hl_listen_update(hl);
		evtimer_add(hl->resume, &tv);
		return;
	}
	log_info("accepting again", "server=%s failures=%ld seconds=%ld", hl->conf.server,
	    hl->failures, (long)(hl->last_failure - hl->since));
	hl->fds = HL_ACCEPTING;
}

struct httplimit *
httplimit_new(struct event_base *base, struct evhttp *http, const struct httplimit_conf *conf)
{
	struct httplimit *hl = xcalloc(1, sizeof(*hl));
	struct rlimit rl;

	hl->conf = *conf;
	hl->base = base;
	hl->http = http;
	hl->max_conns = conf->max_conns;
	/* The rest of the process needs descriptors too (greetbotd's renders). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)hl->max_conns > rl.rlim_cur / 4)
		hl->max_conns = rl.rlim_cur >= 8 ? (int)(rl.rlim_cur / 4) : 1;
	if ((hl->report = evtimer_new(base, hl_report, hl)) == NULL ||
	    (hl->resume = evtimer_new(base, hl_resume, hl)) == NULL)
		fatalx("http: evtimer_new", "server=%s", conf->server);
	evhttp_set_max_headers_size(http, (ev_ssize_t)conf->max_headers);
	evhttp_set_max_body_size(http, (ev_ssize_t)conf->max_body);
	evhttp_set_bevcb(http, hl_accepted, hl);
	hl->next_hl = servers;
	servers = hl;
	return hl;
}

int
httplimit_bind(struct httplimit *hl, const char *listen, char *bound, size_t boundlen)
{
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);
	const char *colon = strrchr(listen, ':');
	char *host;
	int port;

	if (colon == NULL)
		return -1;
	if (listen[0] == '[' && colon > listen + 1 && colon[-1] == ']')
		host = xstrndup(listen + 1, (size_t)(colon - listen - 2));
	else
		host = xstrndup(listen, (size_t)(colon - listen));
	port = atoi(colon + 1);
	sock = port >= 0 && port <= 65535 ? evhttp_bind_socket_with_handle(hl->http, host,
	    (ev_uint16_t)port) : NULL;
	if (sock != NULL &&
	    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(bound, boundlen, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host,
	    port);
	free(host);
	if (sock == NULL)
		return -1;
	hl->lev = evhttp_bound_socket_get_listener(sock);
	hl->listening = 1;
	evconnlistener_set_error_cb(hl->lev, hl_accept_error);
	return 0;
}

void
httplimit_answered(struct httplimit *hl, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct timeval tv = { hl->conf.deadline, 0 };

	for (struct hl_conn *c = hl->first; c != NULL; c = c->next) {
		if (c->evcon == evcon && evcon != NULL && !c->cut) {
			c->answered = 1;
			evtimer_add(c->timer, &tv);
			return;
		}
	}
}

void
httplimit_free(struct httplimit *hl)
{
	struct httplimit **p;

	if (hl == NULL)
		return;
	for (p = &servers; *p != NULL && *p != hl; p = &(*p)->next_hl)
		;
	if (*p != NULL)
		*p = hl->next_hl;
	/* evhttp_free frees the listener, then each connection (hl_closed);
	 * those not set up yet are left to us. */
	hl->lev = NULL;
	evhttp_free(hl->http);
	while (hl->first != NULL)
		hl_conn_free(hl->first);
	event_free(hl->report);
	event_free(hl->resume);
	free(hl);
}
