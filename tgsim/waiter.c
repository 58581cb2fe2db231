/* SPDX-License-Identifier: ISC */
/*
 * waiter.c: requests tgsim holds without answering: long polls
 * (getUpdates, GET /control/chat) and calls a fault delays or never
 * answers. The loop never blocks on them: each waits on a timer, or
 * until the state it waits for changes.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "log.h"
#include "tgsim.h"
#include "xmalloc.h"

static void	waiter_timeout_cb(evutil_socket_t, short, void *);
static void	waiter_close_cb(struct evhttp_connection *, void *);
static void	waiter_peek_cb(evutil_socket_t, short, void *);

/*
 * Keep req pending for up to ms. libevent does not read from a connection
 * whose request is pending, so it would not see the client go away; we
 * watch the socket ourselves (without consuming) to let go early.
 */
struct waiter *
waiter_new(enum waiter_kind kind, struct evhttp_request *req, int64_t ms)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct timeval tv;
	evutil_socket_t fd;

	w->kind = kind;
	w->req = req;
	if ((w->timer = evtimer_new(sim.base, waiter_timeout_cb, w)) == NULL)
		fatalx("evtimer_new");
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(w->timer, &tv);
	evhttp_connection_set_closecb(evcon, waiter_close_cb, w);
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd != -1 && (w->watch = event_new(sim.base, fd, EV_READ,
	    waiter_peek_cb, w)) != NULL)
		event_add(w->watch, NULL);
	TAILQ_INSERT_TAIL(&sim.waiters, w, entry);
	return w;
}

/* Stop waiting: returns the request, now for the caller to answer. */
struct evhttp_request *
waiter_take(struct waiter *w)
{
	struct evhttp_request *req = w->req;
	struct evhttp_connection *evcon;

	TAILQ_REMOVE(&sim.waiters, w, entry);
	event_free(w->timer);
	if (w->watch != NULL)
		event_free(w->watch);
	if ((evcon = evhttp_request_get_connection(req)) != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	free(w);
	return req;
}

/*
 * Give up a request without answering it. libevent detaches a pending
 * request from a connection that failed (EOF, timeout) and leaves it to
 * us; one still attached is freed with its connection.
 */
void
waiter_drop(struct waiter *w)
{
	struct evhttp_request *req = waiter_take(w);

	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

/* The client went away while we held its request. */
static void
waiter_close_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	log_debug("long poll abandoned by client");
	waiter_drop(arg);
}

/* "timeout" fault: close the connection without an answer. */
static void
waiter_hang_up(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon != NULL)
		evhttp_connection_free(evcon);
	else
		evhttp_request_free(req);
}

/* The held request's socket is readable: at EOF or on error the client
 * has gone, so close our side too; other data is left to libevent. */
static void
waiter_peek_cb(evutil_socket_t fd, short events, void *arg)
{
	struct waiter *w = arg;
	char c;
	ssize_t n;

	(void)events;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		event_add(w->watch, NULL);
		return;
	}
	if (n > 0)
		return;
	log_debug("client gone while held", "kind=%d", (int)w->kind);
	waiter_hang_up(waiter_take(w));
}

/* A waiter's time is up: answer with what there is, or run the call. */
static void
waiter_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct waiter *w = arg;
	enum waiter_kind kind = w->kind;
	int limit = w->limit;
	int64_t chat_id = w->chat_id, since = w->since;
	struct evhttp_request *req;

	(void)fd;
	(void)events;
	req = waiter_take(w);
	switch (kind) {
	case WAIT_UPDATES:
		updates_reply(req, limit);
		break;
	case WAIT_CHAT:
		chatlog_reply(req, chat_id, since);
		break;
	case WAIT_DELAY:
		api_request(req, 1);
		break;
	case WAIT_HANG:
		waiter_hang_up(req);
		break;
	}
}

/* The pending getUpdates, if any. */
struct waiter *
waiter_find_updates(void)
{
	struct waiter *w;

	TAILQ_FOREACH(w, &sim.waiters, entry)
		if (w->kind == WAIT_UPDATES)
			return w;
	return NULL;
}
