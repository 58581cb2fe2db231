/* SPDX-License-Identifier: ISC */
/*
 * tgsim.c: a local Telegram Bot API simulator on libevent evhttp.
 *
 * Serves /bot<token>/<method> with real Bot API shapes, checks every call
 * against the official method list (apispec), stores uploaded media, and
 * offers the /control/ interface that tests use to play the user (see
 * docs/ARCHITECTURE.md, "tgsim control interface"). Long polls never block
 * the loop: the evhttp request is kept pending and answered from a timer
 * or when the state it waits for changes.
 *
 * This file is main: the options, listening, start-up and shut-down, and
 * the one callback every request goes through; with the small helpers
 * every part uses. The parts are listed in tgsim.h.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

#include "apispec.h"
#include "log.h"
#include "tg.h"
#include "tgsim.h"
#include "xmalloc.h"

/* The whole simulator (tgsim.h). */
struct tgsim sim;

/* ---------------------------------------------------------------------- */
/* Small helpers. */

/* Seconds on the monotonic clock. */
double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse a whole decimal integer; -1 when s is not one. */
int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Text length as Telegram counts it: UTF-16 code units. */
size_t
utf16_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) != 0x80)
			n++;
		if (*p >= 0xf0)
			n++;
	}
	return n;
}

/* 1 when the Content-Type value is of the given media type. */
int
ctype_is(const char *ctype, const char *type)
{
	size_t n = strlen(type);

	if (ctype == NULL)
		return 0;
	while (*ctype == ' ')
		ctype++;
	return strncasecmp(ctype, type, n) == 0 &&
	    (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

/* Add an int64 as a JSON number (exact below 2^53, as Telegram ids are). */
void
json_add_int(cJSON *obj, const char *key, int64_t v)
{
	cJSON_AddItemToObject(obj, key, cJSON_CreateNumber((double)v));
}

/* An integer member of a JSON object, or def. */
int64_t
json_int(const cJSON *obj, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) < 9007199254740992.0))
		return def;
	return (int64_t)v->valuedouble;
}

/* A JSON value as a parameter string: strings as they are, integers in
 * full (cJSON would print 1e+15), anything else as JSON. */
char *
json_param(const cJSON *item)
{
	char *s, *json;

	if (cJSON_IsString(item))
		return xstrdup(item->valuestring);
	if (cJSON_IsNumber(item) && fabs(item->valuedouble) < 9007199254740992.0 &&
	    item->valuedouble == floor(item->valuedouble)) {
		xasprintf(&s, "%" PRId64, (int64_t)item->valuedouble);
		return s;
	}
	if ((json = cJSON_PrintUnformatted(item)) == NULL)
		fatalx("cJSON_PrintUnformatted");
	s = xstrdup(json);
	cJSON_free(json);
	return s;
}

/* ---------------------------------------------------------------------- */
/* The HTTP server's one callback. */

/* Every request: Bot API, file download or control. */
static void
http_cb(struct evhttp_request *req, void *arg)
{
	char *path = request_path(req);

	(void)arg;
	if (strncmp(path, "/bot", 4) == 0)
		api_request(req, 0);
	else if (strncmp(path, "/file/bot", 9) == 0)
		file_request(req);
	else if (strncmp(path, "/control/", 9) == 0)
		control_request(req, path + 9);
	else
		api_error(req, 404, 0, "Not Found");
	free(path);
}

/* ---------------------------------------------------------------------- */
/* Start-up and shut-down. */

struct options {
	const char	*listen;
	const char	*spec;
	const char	*media_dir;
	const char	*token;
	int		 ready_fd;
	double		 global_rate;
	double		 chat_rate;
};

/* Print the command line and exit 2. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tgsim [--listen 127.0.0.1:PORT] [--spec PATH] "
	    "--media-dir DIR [--token TOKEN]\n"
	    "             [--ready-fd N] [--log-level error|warn|info|debug]\n"
	    "             [--global-rate N] [--chat-rate N]\n");
	exit(2);
}

/* A rate option: calls per second, 0 for none. */
static double
option_rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0) || v > 1e6)
		usage();
	return v;
}

/* Read the command line into o; bad usage exits 2. */
static void
options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen",	 required_argument, NULL, 'l' },
		{ "spec",	 required_argument, NULL, 's' },
		{ "media-dir",	 required_argument, NULL, 'm' },
		{ "token",	 required_argument, NULL, 't' },
		{ "ready-fd",	 required_argument, NULL, 'r' },
		{ "log-level",	 required_argument, NULL, 'v' },
		{ "global-rate", required_argument, NULL, 'g' },
		{ "chat-rate",	 required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	enum log_level level;
	int64_t fd;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': o->listen = optarg; break;
		case 's': o->spec = optarg; break;
		case 'm': o->media_dir = optarg; break;
		case 't': o->token = optarg; break;
		case 'r':
			if (parse_int64(optarg, &fd) == -1 || fd < 0 || fd > INT_MAX)
				usage();
			o->ready_fd = (int)fd;
			break;
		case 'v':
			if (log_level_parse(optarg, &level) == -1)
				usage();
			log_set_level(level);
			break;
		case 'g': o->global_rate = option_rate(optarg); break;
		case 'c': o->chat_rate = option_rate(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || o->media_dir == NULL)
		usage();
}

/* Split HOST:PORT; the host must be a loopback IPv4 address. */
static void
listen_parse(const char *s, char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	struct in_addr a;
	int64_t p;

	if (colon == NULL || parse_int64(colon + 1, &p) == -1 || p < 0 || p > 65535)
		fatalx("--listen wants HOST:PORT", "got=%s", s);
	*host = xstrndup(s, (size_t)(colon - s));
	if (strcmp(*host, "localhost") == 0) {
		free(*host);
		*host = xstrdup("127.0.0.1");
	}
	if (inet_pton(AF_INET, *host, &a) != 1 ||
	    (ntohl(a.s_addr) >> 24) != 127)
		fatalx("tgsim listens on loopback only", "host=%s", *host);
	*port = (uint16_t)p;
}

/* Bind the HTTP server; returns the port (the kernel's pick for 0). */
static uint16_t
sim_listen(const char *host, uint16_t port)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;

	if ((bs = evhttp_bind_socket_with_handle(sim.http, host, port)) == NULL)
		fatal("cannot listen", "host=%s port=%u", host, port);
	/*
	 * Answers go out at once, as Telegram's do: without TCP_NODELAY a reply
	 * of a few tens of KB meets the client's delayed ACK (Nagle) and waits
	 * ~40 ms. Accepted sockets inherit the option from the listener.
	 */
	if (setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
	    &len) == -1)
		fatal("getsockname");
	return ntohs(sin.sin_port);
}

/* Create the media dir and its subdirectories; remember it absolute. */
static void
sim_media_dir(const char *dir)
{
	char *sub;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", dir);
	if ((sim.media_dir = realpath(dir, NULL)) == NULL)
		fatal("realpath", "path=%s", dir);
	for (int i = 0; i < 3; i++) {
		xasprintf(&sub, "%s/%s", sim.media_dir, i == 2 ? "thumbnails" : i ? "voice" :
		    "videos");
		if (mkdir(sub, 0755) == -1 && errno != EEXIST)
			fatal("mkdir", "path=%s", sub);
		free(sub);
	}
}

/* The bot's user id: the token's numeric prefix, as in Telegram. */
static int64_t
sim_bot_id(const char *token)
{
	char *prefix;
	int64_t id;

	if (token == NULL || strchr(token, ':') == NULL)
		return 5000000001LL;
	prefix = xstrndup(token, (size_t)(strchr(token, ':') - token));
	if (parse_int64(prefix, &id) == -1 || id <= 0)
		id = 5000000001LL;
	free(prefix);
	return id;
}

/* s6-style readiness: one line with the address, then close the fd. */
static void
sim_ready(int fd, const char *host, uint16_t port)
{
	char line[64];
	int n;

	n = snprintf(line, sizeof(line), "%s:%u\n", host, port);
	if (write(fd, line, (size_t)n) != n)
		fatal("cannot write --ready-fd", "fd=%d", fd);
	close(fd);
}

/* SIGTERM, SIGINT: leave the loop; main frees everything. */
static void
signal_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	(void)arg;
	log_info("exiting on signal", "signal=%d", (int)sig);
	event_base_loopexit(sim.base, NULL);
}

/* Free all state (so that sanitizers see no leak). */
static void
sim_free(void)
{
	struct update *u;
	struct fault *f;

	while ((u = TAILQ_FIRST(&sim.updates)) != NULL)
		update_free(u);
	while ((f = TAILQ_FIRST(&sim.faults)) != NULL)
		fault_remove(f);
	table_clear(&sim.chats, chat_free);
	table_clear(&sim.file_paths, NULL);
	table_clear(&sim.files, file_free);
	table_clear(&sim.callbacks, callback_free);
	cJSON_Delete(sim.stats.calls);
	cJSON_Delete(sim.allowed);
	apispec_free(sim.spec);
	free(sim.media_dir);
}

/* Set up the state, the HTTP server and the signal events. */
static void
sim_init(const struct options *o)
{
	const char *err;

	if ((sim.spec = apispec_load(o->spec, &err)) == NULL)
		fatalx("cannot load Bot API list", "path=%s error=%s", o->spec, err);
	sim_media_dir(o->media_dir);
	sim.token = o->token;
	sim.bot_id = sim_bot_id(o->token);
	sim.global_rate = o->global_rate;
	sim.chat_rate = o->chat_rate;
	sim.next_update_id = 1;
	sim.stats.calls = cJSON_CreateObject();
	TAILQ_INIT(&sim.updates);
	TAILQ_INIT(&sim.waiters);
	TAILQ_INIT(&sim.faults);
	if ((sim.base = event_base_new()) == NULL ||
	    (sim.http = evhttp_new(sim.base)) == NULL ||
	    (sim.webhook.timer = evtimer_new(sim.base, webhook_timer_cb, NULL)) == NULL)
		fatalx("libevent initialisation failed");
	sim.webhook.client = tg_new(sim.base, "http://127.0.0.1", NULL);
	tg_set_max_connections(sim.webhook.client, 100);
	evhttp_set_allowed_methods(sim.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(sim.http, TG_MAX_BODY);
	/* Longer than any long poll, so that none is cut by libevent. */
	evhttp_set_timeout(sim.http, TG_MAX_WAIT + 60);
	evhttp_set_gencb(sim.http, http_cb, NULL);
}

/* Start, serve until SIGTERM/SIGINT, free everything, exit 0. */
int
main(int argc, char **argv)
{
	struct options o = { .listen = "127.0.0.1:8081", .ready_fd = -1,
	    .spec = "data/bot-api-10.1.min.json" };
	struct event *sigterm, *sigint;
	struct waiter *w;
	char *host;
	uint16_t port;

	log_init("tgsim", LOG_LEVEL_INFO);
	options_parse(argc, argv, &o);
	if (o.token != NULL)
		log_add_secret(o.token);
	listen_parse(o.listen, &host, &port);
	signal(SIGPIPE, SIG_IGN);
	sim_init(&o);
	port = sim_listen(host, port);
	sigterm = evsignal_new(sim.base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(sim.base, SIGINT, signal_cb, NULL);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1)
		fatalx("cannot set up signal events");
	log_info("listening", "addr=%s:%u api=%s methods=%zu media_dir=%s",
	    host, port, apispec_version(sim.spec), apispec_nmethods(sim.spec),
	    sim.media_dir);
	if (o.ready_fd != -1)
		sim_ready(o.ready_fd, host, port);
	event_base_dispatch(sim.base);

	/* Pending requests first: evhttp_free frees their connections. */
	while ((w = TAILQ_FIRST(&sim.waiters)) != NULL)
		waiter_drop(w);
	evhttp_free(sim.http);
	/* Webhook deliveries in flight, while their events' base lives. */
	webhook_clear();
	tg_free(sim.webhook.client);
	event_free(sim.webhook.timer);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(sim.base);
	libevent_global_shutdown();
	sim_free();
	free(host);
	return 0;
}
