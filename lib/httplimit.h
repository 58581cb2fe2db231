/* SPDX-License-Identifier: ISC */
/*
 * httplimit.h: the limits every HTTP server of greetbot keeps (greetbotd's
 * /health and /metrics, greetbot-tg's webhook; SPEC 1, Privileges), put
 * around a libevent evhttp server:
 *
 *   - header size and body size (evhttp's own checks: 400, 413);
 *   - a deadline per request: from accept to the end of the request, then
 *     again from the answer to the end of the reply; a connection still
 *     there is cut, however slowly it trickles (evhttp's timeout only
 *     counts the time between two reads);
 *   - a cap on connections: one more cuts the oldest that has not been
 *     answered yet (so idle connections cannot lock the others out);
 *   - optionally a look at the first request's header block before evhttp
 *     reads any of it, which sets how large a body it may have (the
 *     webhook reads no large body before the secret is seen);
 *   - accept() out of file descriptors (EMFILE, ENFILE) pauses the
 *     listener, 100 ms doubling to 1 s, with one line when it starts and
 *     one with the count when it ends, instead of a spin and a line per
 *     failure.
 *
 * Every reply should close its connection ("Connection: close"): a
 * request is one connection, and the deadline and the header look are
 * about it. A cut connection is logged once, the next ones are counted
 * in a line every few seconds while it goes on.
 */
#ifndef GREETBOT_HTTPLIMIT_H
#define GREETBOT_HTTPLIMIT_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct httplimit;

struct httplimit_conf {
	const char	*server;	/* its name in the log: "http", "webhook" */
	size_t		 max_headers;	/* bytes: the request line, and the headers */
	size_t		 max_body;	/* bytes; 0: no request may have a body */
	int		 deadline;	/* seconds per request, per reply */
	int		 max_conns;	/* and never more than a quarter of RLIMIT_NOFILE */
	/*
	 * NULL, or given the first request's raw header block (request line
	 * and headers, up to the blank line) before evhttp reads it: returns
	 * the largest body the request may have (at most max_body). Not a
	 * parser: evhttp still parses and checks the request, and decides.
	 */
	size_t		(*head)(const char *block, size_t len);
};

/* Put the limits on http (evhttp_new on base), before it binds. */
struct httplimit *httplimit_new(struct event_base *, struct evhttp *,
	    const struct httplimit_conf *);
/*
 * Bind "host:port" or "[v6]:port" (port 0: any free port) and watch the
 * listener's accept errors; the bound address into bound. -1 when it
 * cannot listen.
 */
int	httplimit_bind(struct httplimit *, const char *listen, char *bound, size_t boundlen);
/* req is being answered: the reply gets a deadline of its own. */
void	httplimit_answered(struct httplimit *, struct evhttp_request *);
/* Free the evhttp server (its connections closed) and the limits. */
void	httplimit_free(struct httplimit *);

#endif
