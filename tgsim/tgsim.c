/*
 * tgsim.c: a local Telegram Bot API simulator on libevent evhttp.
 *
 * Serves /bot<token>/<method> with real Bot API shapes, checks every call
 * against the official method list (apispec), stores uploaded media, and
 * offers the /control/ interface that tests use to play the user (see
 * docs/ARCHITECTURE.md, "tgsim control interface"). Long polls never block
 * the loop: the evhttp request is kept pending and answered from a timer
 * or when the state it waits for changes. The parts this file shares with
 * the others are declared in tgsim.h.
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <unistr.h>

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
static double
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
static size_t
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
/* Webhook delivery: while a webhook is set, each queued update is POSTed
 * to it as Telegram does (one Update per request, the secret token in a
 * header), at most max_connections at once and one at a time per chat, in
 * update_id order; an update leaves the queue when the webhook answers
 * 2xx, else it is tried again after 1, 2, 4 ... 60 s. */

/* The chat an update is about ("c<id>"), or the update itself ("u<id>")
 * when it has none: deliveries keep the order within one key. */
static void
update_order_key(const struct update *u, char *key, size_t len)
{
	const cJSON *kind = u->json->child, *chat = NULL;

	for (; kind != NULL && !cJSON_IsObject(kind); kind = kind->next)
		;
	if (kind != NULL && (chat = cJSON_GetObjectItemCaseSensitive(kind, "chat")) == NULL)
		chat = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(kind, "message"), "chat");
	if (chat == NULL && kind != NULL)
		chat = cJSON_GetObjectItemCaseSensitive(kind, "from");
	if (chat != NULL && json_int(chat, "id", 0) != 0)
		snprintf(key, len, "c%" PRId64, json_int(chat, "id", 0));
	else
		snprintf(key, len, "u%" PRId64, u->id);
}

/* What Telegram's getWebhookInfo says about an HTTP error. */
static void
webhook_error(const struct tg_result *r)
{
	static const struct { long code; const char *text; } reasons[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 413, "Payload Too Large" }, { 500, "Internal Server Error" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};
	const char *reason = "";

	free(sim.webhook.last_error_message);
	if (r->transport_error || r->http_status == 0) {
		sim.webhook.last_error_message = xstrdup(r->description);
	} else {
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (reasons[i].code == r->http_status)
				reason = reasons[i].text;
		xasprintf(&sim.webhook.last_error_message, "Wrong response from the "
		    "webhook: %ld%s%s", r->http_status, *reason ? " " : "", reason);
	}
	sim.webhook.last_error_date = (int64_t)time(NULL);
}

/* A delivery's answer: 2xx takes the update off the queue. */
static void
webhook_done(const struct tg_result *r, void *arg)
{
	struct update *u = arg;
	int delay;

	u->post = NULL;
	sim.webhook.in_flight--;
	if (r->ok) {
		sim.webhook.delivered++;
		log_debug("webhook delivered", "update_id=%" PRId64, u->id);
		update_free(u);
	} else {
		sim.webhook.failed++;
		webhook_error(r);
		delay = u->tries < 6 ? 1 << u->tries : TG_WEBHOOK_BACKOFF_MAX;
		if (delay > TG_WEBHOOK_BACKOFF_MAX)
			delay = TG_WEBHOOK_BACKOFF_MAX;
		u->tries++;
		u->next_at = now_mono() + delay;
		log_info("webhook delivery failed", "update_id=%" PRId64 " status=%ld "
		    "retry_in=%d", u->id, r->http_status, delay);
	}
	webhook_pump();
}

static void
webhook_post(struct update *u)
{
	const char *headers[2] = { sim.webhook.header, NULL };
	char *json = cJSON_PrintUnformatted(u->json);

	if (json == NULL)
		fatalx("cJSON_PrintUnformatted");
	u->post = tg_post_url(sim.webhook.client, sim.webhook.url, json, headers,
	    TG_WEBHOOK_TIMEOUT_MS, webhook_done, u);
	sim.webhook.in_flight++;
	cJSON_free(json);
}

/* Start the deliveries that may go now; arm the timer for the next retry. */
void
webhook_pump(void)
{
	struct table held = { 0 };
	struct update *u;
	double now = now_mono(), next = -1;
	char key[48];

	if (sim.webhook.url == NULL)
		return;
	TAILQ_FOREACH(u, &sim.updates, entry) {
		update_order_key(u, key, sizeof(key));
		if (table_get(&held, key) != NULL)
			continue;	/* an earlier update of its chat is not through */
		table_put(&held, key, u);
		if (u->post != NULL)
			continue;
		if (u->next_at > now) {
			if (next < 0 || u->next_at < next)
				next = u->next_at;
			continue;
		}
		if (sim.webhook.in_flight >= sim.webhook.max_connections)
			break;
		webhook_post(u);
	}
	table_clear(&held, NULL);
	if (next >= 0) {
		struct timeval tv;

		tv.tv_sec = (time_t)(next - now);
		tv.tv_usec = (suseconds_t)((next - now - (double)tv.tv_sec) * 1e6) + 1000;
		evtimer_add(sim.webhook.timer, &tv);
	}
}

static void
webhook_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	webhook_pump();
}

/* Give up every delivery in flight; the updates stay queued, due now. */
static void
webhook_reset(void)
{
	struct update *u;

	TAILQ_FOREACH(u, &sim.updates, entry) {
		if (u->post != NULL) {
			tg_cancel(u->post);
			u->post = NULL;
			sim.webhook.in_flight--;
		}
		u->tries = 0;
		u->next_at = 0;
	}
	if (sim.webhook.timer != NULL)
		evtimer_del(sim.webhook.timer);
}

/* Remove the webhook (deleteWebhook, setWebhook with an empty url). */
static void
webhook_clear(void)
{
	webhook_reset();
	free(sim.webhook.url);
	free(sim.webhook.header);
	free(sim.webhook.last_error_message);
	sim.webhook.url = sim.webhook.header = sim.webhook.last_error_message = NULL;
	sim.webhook.last_error_date = 0;
}

/* ---------------------------------------------------------------------- */
/* Stored media (sendVideo, sendVoice uploads) and their file_ids. */

/* Free a file record (the stored file stays on disk). */
static void
file_free(void *arg)
{
	struct file *f = arg;

	free(f->file_id);
	free(f->unique_id);
	free(f->file_path);
	free(f->path);
	free(f->file_name);
	free(f);
}

/* 64 random bits for file_ids (uniqueness comes from the counter). */
static uint64_t
file_random(void)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u;
	return r;
}

/* Write data to a new file; -1 with errno on failure. */
static int
file_write(const char *path, const char *data, size_t len)
{
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			unlink(path);
			errno = saved;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/*
 * Store an upload under the media dir as Telegram names files
 * (videos/file_N.mp4, voice/file_N.oga) and give it a new file_id.
 * NULL when it cannot be written.
 */
static struct file *
file_store(const char *kind, const struct param *up)
{
	int video = strcmp(kind, "video") == 0, thumb = strcmp(kind, "thumbnail") == 0;
	struct file *f = xcalloc(1, sizeof(*f));
	int64_t n;

	for (;;) {
		n = sim.next_file++;
		xasprintf(&f->file_path, video ? "videos/file_%" PRId64 ".mp4" : thumb ?
		    "thumbnails/file_%" PRId64 ".jpg" : "voice/file_%" PRId64 ".oga", n);
		xasprintf(&f->path, "%s/%s", sim.media_dir, f->file_path);
		if (file_write(f->path, up->value, up->len) == 0)
			break;
		if (errno != EEXIST) {
			log_warn("cannot store upload", "path=%s", f->path);
			file_free(f);
			return NULL;
		}
		free(f->file_path);
		free(f->path);
	}
	xasprintf(&f->file_id, "%s%08" PRIx64 "%016" PRIx64,
	    video ? "BAACAgIAAxkBAAI" : thumb ? "AAMCAgADGQEAAI" : "AwACAgIAAxkBAAI",
	    (uint64_t)n, file_random());
	xasprintf(&f->unique_id, "AgAD%08" PRIx64, (uint64_t)n);
	f->kind = video ? "video" : thumb ? "thumbnail" : "voice";
	f->size = up->len;
	f->file_name = xstrdup(up->filename[0] ? up->filename : f->file_path);
	table_put(&sim.files, f->file_id, f);
	table_put(&sim.file_paths, f->file_path, f);
	sim.stats.uploads++;
	log_info("upload stored", "kind=%s file_id=%s size=%zu path=%s",
	    f->kind, f->file_id, f->size, f->path);
	return f;
}

/* The Video or Voice object of a message. */
static cJSON *
file_media_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	if (strcmp(f->kind, "thumbnail") == 0) {
		/* A PhotoSize. */
		json_add_int(o, "width", f->width);
		json_add_int(o, "height", f->height);
	} else if (strcmp(f->kind, "video") == 0) {
		json_add_int(o, "width", f->width);
		json_add_int(o, "height", f->height);
		json_add_int(o, "duration", f->duration);
		if (f->thumb != NULL)
			cJSON_AddItemToObject(o, "thumbnail", file_media_json(f->thumb));
		cJSON_AddStringToObject(o, "file_name", f->file_name);
		cJSON_AddStringToObject(o, "mime_type", "video/mp4");
	} else {
		json_add_int(o, "duration", f->duration);
		cJSON_AddStringToObject(o, "mime_type", "audio/ogg");
	}
	json_add_int(o, "file_size", (int64_t)f->size);
	return o;
}

/* What a chat log entry says about a file: where it is on disk. */
static cJSON *
file_log_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	cJSON_AddStringToObject(o, "path", f->path);
	json_add_int(o, "file_size", (int64_t)f->size);
	if (f->thumb != NULL) {
		cJSON *t = file_log_json(f->thumb);

		json_add_int(t, "width", f->thumb->width);
		json_add_int(t, "height", f->thumb->height);
		cJSON_AddItemToObject(o, "thumbnail", t);
	}
	return o;
}

/* The File object (getFile). */
static cJSON *
file_json(const struct file *f)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "file_id", f->file_id);
	cJSON_AddStringToObject(o, "file_unique_id", f->unique_id);
	json_add_int(o, "file_size", (int64_t)f->size);
	cJSON_AddStringToObject(o, "file_path", f->file_path);
	return o;
}

/* Big-endian and little-endian integers in media headers. */
static uint64_t
be_read(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* n bytes at p as a little-endian integer. */
static uint64_t
le_read(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The payload of the first box of that type in [p, end), or NULL. Box
 * sizes are untrusted: every one is checked against end. */
static const unsigned char *
mp4_box(const unsigned char *p, const unsigned char *end, const char *type,
    size_t *len)
{
	uint64_t size, hdr;

	while (end - p >= 8) {
		size = be_read(p, 4);
		hdr = 8;
		if (size == 1) {
			if (end - p < 16)
				return NULL;
			size = be_read(p + 8, 8);
			hdr = 16;
		} else if (size == 0)
			size = (uint64_t)(end - p);
		if (size < hdr || size > (uint64_t)(end - p))
			return NULL;
		if (memcmp(p + 4, type, 4) == 0) {
			*len = (size_t)(size - hdr);
			return p + hdr;
		}
		p += size;
	}
	return NULL;
}

/* Duration (mvhd) and the first track with a size (tkhd) of an MP4. */
static void
mp4_probe(struct file *f, const unsigned char *data, size_t len)
{
	const unsigned char *moov, *mvhd, *trak, *tkhd, *p;
	size_t mlen, hlen, tlen, klen;
	uint64_t scale = 0, dur = 0;

	if ((moov = mp4_box(data, data + len, "moov", &mlen)) == NULL)
		return;
	if ((mvhd = mp4_box(moov, moov + mlen, "mvhd", &hlen)) != NULL) {
		if (mvhd[0] == 0 && hlen >= 20) {
			scale = be_read(mvhd + 12, 4);
			dur = be_read(mvhd + 16, 4);
		} else if (mvhd[0] == 1 && hlen >= 32) {
			scale = be_read(mvhd + 20, 4);
			dur = be_read(mvhd + 24, 8);
		}
		if (scale > 0)
			f->duration = (int64_t)((dur + scale / 2) / scale);
	}
	/* tkhd ends with width and height, 16.16 fixed point. */
	for (p = moov; (trak = mp4_box(p, moov + mlen, "trak", &tlen)) != NULL;
	    p = trak + tlen) {
		tkhd = mp4_box(trak, trak + tlen, "tkhd", &klen);
		if (tkhd == NULL || klen < 84 || be_read(tkhd + klen - 8, 4) == 0)
			continue;
		f->width = (int64_t)(be_read(tkhd + klen - 8, 4) >> 16);
		f->height = (int64_t)(be_read(tkhd + klen - 4, 4) >> 16);
		break;
	}
}

/* Duration of an Ogg Opus file: the last page's granule position less
 * the header's pre-skip, in 48 kHz samples, rounded to seconds. */
static void
ogg_probe(struct file *f, const unsigned char *data, size_t len)
{
	const unsigned char *head;
	uint64_t granule, preskip = 0;

	if (len < 27)
		return;
	head = memmem(data, len < 512 ? len : 512, "OpusHead", 8);
	if (head != NULL && (size_t)(head - data) + 12 <= len)
		preskip = le_read(head + 10, 2);
	for (size_t i = len - 14 + 1; i-- > 0;) {
		if (memcmp(data + i, "OggS", 4) != 0)
			continue;
		granule = le_read(data + i + 6, 8);
		if (granule != UINT64_MAX && granule > preskip)
			f->duration = (int64_t)((granule - preskip + 24000) / 48000);
		return;
	}
}

/* Fill in what the upload's own headers say. */
static void
media_probe(struct file *f, const unsigned char *data, size_t len)
{
	if (strcmp(f->kind, "video") == 0)
		mp4_probe(f, data, len);
	else
		ogg_probe(f, data, len);
}

/* ---------------------------------------------------------------------- */
/* Flood limits and injected faults. */

/* Refill a token bucket of rate per second (burst: max(rate, 1)). */
static void
rate_refill(struct rate *r, double rate, double now)
{
	double cap = rate < 1 ? 1 : rate;

	if (r->last == 0)
		r->tokens = cap;
	else
		r->tokens += (now - r->last) * rate;
	if (r->tokens > cap)
		r->tokens = cap;
	r->last = now;
}

/* Seconds until the bucket holds a whole token again (0 if it does). */
static double
rate_wait(const struct rate *r, double rate)
{
	if (rate <= 0 || r->tokens >= 1)
		return 0;
	return (1 - r->tokens) / rate;
}

/* 1 for the methods flood limits count: those that post or change a
 * message in a chat. */
static int
flood_counts(const char *method)
{
	return strncmp(method, "send", 4) == 0 || strncmp(method, "edit", 4) == 0;
}

/*
 * Take one token from the global and the chat bucket, or answer 429 with
 * retry_after (whole seconds, at least 1) and return -1. A refused call
 * takes nothing.
 */
static int
flood_check(struct call *c)
{
	double now = now_mono(), wait;
	struct chat *chat = c->chat_id != 0 ? chat_get(c->chat_id) : NULL;
	char desc[64];
	int secs;

	if (!flood_counts(c->method) || (sim.global_rate <= 0 && sim.chat_rate <= 0))
		return 0;
	if (sim.global_rate > 0)
		rate_refill(&sim.global_bucket, sim.global_rate, now);
	if (chat != NULL && sim.chat_rate > 0)
		rate_refill(&chat->bucket, sim.chat_rate, now);
	wait = rate_wait(&sim.global_bucket, sim.global_rate);
	if (chat != NULL && rate_wait(&chat->bucket, sim.chat_rate) > wait)
		wait = rate_wait(&chat->bucket, sim.chat_rate);
	if (wait == 0) {
		if (sim.global_rate > 0)
			sim.global_bucket.tokens -= 1;
		if (chat != NULL && sim.chat_rate > 0)
			chat->bucket.tokens -= 1;
		return 0;
	}
	secs = (int)ceil(wait);
	if (secs < 1)
		secs = 1;
	sim.stats.rate_limited++;
	snprintf(desc, sizeof(desc), "Too Many Requests: retry after %d", secs);
	log_info("flood limit", "method=%s chat_id=%" PRId64 " retry_after=%d",
	    c->method, c->chat_id, secs);
	api_error(c->req, 429, secs, desc);
	return -1;
}

static const char *fault_names[] = { "403", "500", "timeout", "latency" };

/* The first fault armed for a chat, or NULL. */
static struct fault *
fault_find(int64_t chat_id)
{
	struct fault *f;

	TAILQ_FOREACH(f, &sim.faults, entry)
		if (f->chat_id == chat_id)
			return f;
	return NULL;
}

/* Disarm and free a fault. */
static void
fault_remove(struct fault *f)
{
	TAILQ_REMOVE(&sim.faults, f, entry);
	free(f);
}

/* Forget every fault armed for a chat. */
static void
fault_clear(int64_t chat_id)
{
	struct fault *f;

	while ((f = fault_find(chat_id)) != NULL)
		fault_remove(f);
}

/*
 * Apply a fault armed for the call's chat. Returns 1 when the call was
 * answered (403, 500) or taken away (timeout, latency), else 0.
 */
static int
fault_apply(struct call *c)
{
	struct fault *f;
	enum fault_kind kind;
	int ms;

	if (c->chat_id == 0 || (f = fault_find(c->chat_id)) == NULL)
		return 0;
	kind = f->kind;
	ms = f->ms;
	if (f->count > 0 && --f->count == 0)
		fault_remove(f);
	sim.stats.faults++;
	log_info("fault injected", "method=%s chat_id=%" PRId64 " kind=%s",
	    c->method, c->chat_id, fault_names[kind]);
	switch (kind) {
	case FAULT_403:
		api_error(c->req, 403, 0, "Forbidden: bot was blocked by the user");
		break;
	case FAULT_500:
		api_error(c->req, 500, 0, "Internal Server Error");
		break;
	case FAULT_TIMEOUT:
		waiter_new(WAIT_HANG, c->req, ms > 0 ? ms : TG_HANG_DEFAULT_MS);
		break;
	case FAULT_LATENCY:
		waiter_new(WAIT_DELAY, c->req, ms > 0 ? ms : TG_LATENCY_DEFAULT_MS);
		break;
	}
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Checks shared by the Bot API methods. Each returns -1 (or NULL) after
 * answering the call with Telegram's error. */

/* The chat a call names by chat_id (created on first use). */
static struct chat *
call_chat(struct call *c)
{
	const char *s = params_str(&c->params, "chat_id");
	int64_t id;

	if (s == NULL || *s == '\0') {
		call_fail(c, 400, "Bad Request: chat_id is empty");
		return NULL;
	}
	if (parse_int64(s, &id) == -1 || id == 0) {
		call_fail(c, 400, "Bad Request: chat not found");
		return NULL;
	}
	return chat_get(id);
}

/* The message a call names by message_id; what is "edit" or "delete". */
static cJSON *
call_message(struct call *c, struct chat *chat, const char *what)
{
	int64_t id;
	cJSON *msg;

	if (params_int(&c->params, "message_id", &id) != 1) {
		call_fail(c, 400, "Bad Request: message identifier is not specified");
		return NULL;
	}
	if ((msg = chat_message(chat, id)) == NULL)
		call_fail(c, 400, "Bad Request: message to %s not found", what);
	return msg;
}

/* 1 when text is empty or only white space. */
static int
text_blank(const char *text)
{
	return text == NULL || text[strspn(text, " \t\r\n")] == '\0';
}

/* A text or caption must be UTF-8 and at most max UTF-16 units. */
static int
call_text(struct call *c, const char *text, size_t max, const char *what)
{
	if (u8_check((const uint8_t *)text, strlen(text)) != NULL) {
		call_fail(c, 400, "Bad Request: strings must be encoded in UTF-8");
		return -1;
	}
	if (utf16_len(text) > max) {
		call_fail(c, 400, "Bad Request: %s is too long", what);
		return -1;
	}
	return 0;
}

/* parse_mode, when given, must be one Telegram knows. */
static int
call_parse_mode(struct call *c)
{
	const char *s = params_str(&c->params, "parse_mode");

	if (s == NULL || *s == '\0' || strcasecmp(s, "HTML") == 0 ||
	    strcasecmp(s, "Markdown") == 0 || strcasecmp(s, "MarkdownV2") == 0)
		return 0;
	call_fail(c, 400, "Bad Request: unsupported parse_mode");
	return -1;
}

/* Why an inline keyboard button is refused, or NULL. */
static const char *
markup_inline_button(const cJSON *b)
{
	static const char *actions[] = { "url", "callback_data", "web_app",
	    "login_url", "switch_inline_query", "switch_inline_query_current_chat",
	    "switch_inline_query_chosen_chat", "copy_text", "callback_game",
	    "pay" };
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(b, "callback_data");
	int nactions = 0;

	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text")))
		return "Bad Request: can't parse inline keyboard button: "
		    "Field \"text\" must be of type String";
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		nactions += cJSON_GetObjectItemCaseSensitive(b, actions[i]) != NULL;
	if (nactions == 0)
		return "Bad Request: can't parse inline keyboard button: "
		    "Text buttons are unallowed in the inline keyboard";
	if (data != NULL && (!cJSON_IsString(data) || *data->valuestring == '\0' ||
	    strlen(data->valuestring) > TG_MAX_CALLBACK_DATA))
		return "Bad Request: BUTTON_DATA_INVALID";
	return NULL;
}

/* Why a reply keyboard button (a string or {text,...}) is refused. */
static const char *
markup_reply_button(const cJSON *b)
{
	if (cJSON_IsString(b) ||
	    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, "text")))
		return NULL;
	return "Bad Request: can't parse keyboard button: "
	    "Field \"text\" must be of type String";
}

/* Why a keyboard (array of rows of buttons) is refused, or NULL. */
static const char *
markup_keyboard(const cJSON *kb, const char *(*button)(const cJSON *))
{
	const cJSON *row, *b;
	const char *err;

	if (!cJSON_IsArray(kb))
		return "Bad Request: can't parse reply keyboard markup JSON object";
	cJSON_ArrayForEach(row, kb) {
		if (!cJSON_IsArray(row))
			return "Bad Request: can't parse reply keyboard markup "
			    "JSON object";
		cJSON_ArrayForEach(b, row)
			if ((err = button(b)) != NULL)
				return err;
	}
	return NULL;
}

/* Why a reply_markup object is refused, or NULL. Edits take only inline
 * keyboards ({} removes one). */
static const char *
markup_error(const cJSON *m, int inline_only)
{
	const cJSON *kb;

	if (!cJSON_IsObject(m))
		return "Bad Request: can't parse reply keyboard markup JSON object";
	if ((kb = cJSON_GetObjectItemCaseSensitive(m, "inline_keyboard")) != NULL)
		return markup_keyboard(kb, markup_inline_button);
	if (inline_only)
		return m->child == NULL ? NULL :
		    "Bad Request: inline keyboard expected";
	if ((kb = cJSON_GetObjectItemCaseSensitive(m, "keyboard")) != NULL)
		return markup_keyboard(kb, markup_reply_button);
	if (cJSON_GetObjectItemCaseSensitive(m, "remove_keyboard") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(m, "force_reply") != NULL)
		return NULL;
	return "Bad Request: can't parse reply keyboard markup JSON object";
}

/* reply_markup (a JSON string, or an object in a JSON body): *out is the
 * parsed markup or NULL when absent or empty. */
static int
call_markup(struct call *c, int inline_only, cJSON **out)
{
	const char *s = params_str(&c->params, "reply_markup"), *err;
	cJSON *m;

	*out = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	m = cJSON_Parse(s);
	if ((err = markup_error(m, inline_only)) != NULL) {
		cJSON_Delete(m);
		call_fail(c, 400, "%s", err);
		return -1;
	}
	if (m->child == NULL)
		cJSON_Delete(m);
	else
		*out = m;
	return 0;
}

/* A message shows reply_markup only for an inline keyboard. */
static void
message_set_markup(cJSON *msg, const cJSON *markup)
{
	if (cJSON_GetObjectItemCaseSensitive(markup, "inline_keyboard") != NULL)
		json_replace(msg, "reply_markup", cJSON_Duplicate(markup, 1));
	else
		json_replace(msg, "reply_markup", NULL);
}

/* 1 when two markups (either may be NULL) are the same. */
static int
markup_equal(const cJSON *a, const cJSON *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return cJSON_Compare(a, b, 1);
}

/* ---------------------------------------------------------------------- */
/* Bot API methods. */

/* getMe: the bot's User. */
static void
m_getme(struct call *c)
{
	api_ok(c->req, bot_user_json(1));
}

/*
 * getUpdates: confirm by offset, then answer at once when updates are
 * queued or timeout is 0; otherwise hold the request until an update is
 * injected or the timeout expires. A newer getUpdates ends an older one
 * with 409, as Telegram does.
 */
static void
m_getupdates(struct call *c)
{
	int64_t offset = 0, limit = TG_MAX_UPDATES, timeout = 0;
	const char *allowed;
	struct waiter *w;

	if (params_int(&c->params, "offset", &offset) == -1 ||
	    params_int(&c->params, "limit", &limit) == -1 ||
	    params_int(&c->params, "timeout", &timeout) == -1) {
		call_fail(c, 400, "Bad Request: wrong parameter type");
		return;
	}
	if ((allowed = params_str(&c->params, "allowed_updates")) != NULL &&
	    updates_set_allowed(allowed) == -1) {
		call_fail(c, 400, "Bad Request: can't parse allowed updates");
		return;
	}
	if (sim.webhook.url != NULL) {
		call_fail(c, 409, "Conflict: can't use getUpdates method while webhook "
		    "is active; use deleteWebhook to delete the webhook first");
		return;
	}
	if (limit < 1 || limit > TG_MAX_UPDATES)
		limit = TG_MAX_UPDATES;
	if (timeout < 0)
		timeout = 0;
	if (timeout > TG_MAX_WAIT)
		timeout = TG_MAX_WAIT;
	if ((w = waiter_find_updates()) != NULL) {
		sim.stats.rejected++;
		api_error(waiter_take(w), 409, 0, "Conflict: terminated by other "
		    "getUpdates request; make sure that only one bot instance "
		    "is running");
	}
	updates_confirm(offset);
	if (!TAILQ_EMPTY(&sim.updates) || timeout == 0) {
		updates_reply(c->req, (int)limit);
		return;
	}
	w = waiter_new(WAIT_UPDATES, c->req, timeout * 1000);
	w->limit = (int)limit;
}

/* Log a bot message and answer with it; takes markup (the as-sent
 * reply_markup, any kind) and media (a log object, may be NULL). */
static void
call_sent(struct call *c, struct chat *chat, const cJSON *msg, cJSON *markup,
    const char *kind, cJSON *media)
{
	cJSON *entry = chatlog_entry(chat, c, msg);

	if (markup != NULL)
		cJSON_AddItemToObject(entry, "reply_markup", markup);
	if (media != NULL)
		cJSON_AddItemToObject(entry, kind, media);
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_Duplicate(msg, 1));
}

/* sendMessage: text with an optional keyboard of any kind. */
static void
m_sendmessage(struct call *c)
{
	const char *text = params_str(&c->params, "text");
	struct chat *chat;
	cJSON *markup, *msg;

	if ((chat = call_chat(c)) == NULL)
		return;
	if (text_blank(text)) {
		call_fail(c, 400, "Bad Request: message text is empty");
		return;
	}
	if (call_text(c, text, TG_MAX_TEXT, "message") == -1 ||
	    call_parse_mode(c) == -1 || call_markup(c, 0, &markup) == -1)
		return;
	msg = message_new(chat, bot_user_json(0));
	cJSON_AddStringToObject(msg, "text", text);
	message_set_markup(msg, markup);
	call_sent(c, chat, msg, markup, NULL, NULL);
}

/* Telegram's name of a media kind in errors. */
static const char *
media_type_name(const char *kind)
{
	return strcmp(kind, "video") == 0 ? "Video" : "Voice";
}

/* Dimensions and duration as the bot declares them (Telegram shows
 * those rather than the file's). */
static void
media_declared(struct file *f, const struct params *p)
{
	int64_t v;

	if (params_int(p, "width", &v) == 1 && v > 0)
		f->width = v;
	if (params_int(p, "height", &v) == 1 && v > 0)
		f->height = v;
	if (params_int(p, "duration", &v) == 1 && v > 0)
		f->duration = v;
}

/* The file a sendVideo/sendVoice call sends: a new upload (stored now,
 * also through attach://name) or a file_id given out before. */
static struct file *
call_media(struct call *c, const char *kind)
{
	const struct param *pa = params_get(&c->params, kind);
	struct file *f;

	if (pa != NULL && pa->filename == NULL &&
	    strncmp(pa->value, "attach://", 9) == 0)
		pa = params_get(&c->params, pa->value + 9);
	if (pa == NULL) {
		call_fail(c, 400, "Bad Request: there is no %s in the request", kind);
		return NULL;
	}
	if (pa->filename != NULL && pa->len == 0) {
		call_fail(c, 400, "Bad Request: file must be non-empty");
		return NULL;
	}
	if (pa->filename != NULL) {
		if ((f = file_store(kind, pa)) == NULL) {
			api_error(c->req, 500, 0, "Internal Server Error");
			return NULL;
		}
		media_probe(f, (const unsigned char *)pa->value, pa->len);
		media_declared(f, &c->params);
		return f;
	}
	if ((f = table_get(&sim.files, pa->value)) == NULL) {
		call_fail(c, 400, "Bad Request: wrong file identifier/HTTP URL "
		    "specified");
		return NULL;
	}
	if (strcmp(f->kind, kind) != 0) {
		call_fail(c, 400, "Bad Request: can't use file of type %s as %s",
		    media_type_name(f->kind), media_type_name(kind));
		return NULL;
	}
	return f;
}

/* A JPEG's size from its first frame header (SOFn); 0 when it is none. */
static int
jpeg_size(const unsigned char *p, size_t len, int64_t *w, int64_t *h)
{
	size_t i = 2;

	if (len < 4 || p[0] != 0xFF || p[1] != 0xD8)
		return 0;
	while (i + 9 <= len) {
		unsigned m;
		size_t seg;

		if (p[i] != 0xFF)
			return 0;
		m = p[i + 1];
		seg = (size_t)p[i + 2] << 8 | p[i + 3];
		if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
			*h = (int64_t)((unsigned)p[i + 5] << 8 | p[i + 6]);
			*w = (int64_t)((unsigned)p[i + 7] << 8 | p[i + 8]);
			return 1;
		}
		if (seg < 2)
			return 0;
		i += 2 + seg;
	}
	return 0;
}

/*
 * A sendVideo's thumbnail: "attach://NAME" naming an uploaded JPEG of at
 * most 200 kB and 320x320, as the Bot API asks. Telegram ignores one that
 * is not, and so do we (logged, counted); the video goes either way.
 */
static void
call_thumbnail(struct call *c, struct file *video)
{
	const struct param *pa = params_get(&c->params, "thumbnail");
	const char *why = NULL;
	int64_t w = 0, h = 0;

	if (pa == NULL)
		return;
	if (pa->filename == NULL && strncmp(pa->value, "attach://", 9) == 0)
		pa = params_get(&c->params, pa->value + 9);
	if (pa == NULL || pa->filename == NULL)
		why = "not an upload (a thumbnail cannot be a file_id or URL)";
	else if (pa->len > 200 * 1024)
		why = "over 200 kB";
	else if (!jpeg_size((const unsigned char *)pa->value, pa->len, &w, &h))
		why = "not a JPEG";
	else if (w > 320 || h > 320)
		why = "larger than 320x320";
	if (why != NULL) {
		sim.stats.thumbnails_ignored++;
		log_warnx("thumbnail ignored", "reason=%s", why);
		return;
	}
	if ((video->thumb = file_store("thumbnail", pa)) == NULL)
		return;
	video->thumb->width = w;
	video->thumb->height = h;
	sim.stats.uploads--;	/* one upload: the video */
}

/* sendVideo and sendVoice. */
static void
m_sendmedia(struct call *c, const char *kind)
{
	const char *caption = params_str(&c->params, "caption");
	struct chat *chat;
	struct file *f;
	cJSON *markup, *msg;

	if ((chat = call_chat(c)) == NULL)
		return;
	if (caption != NULL &&
	    call_text(c, caption, TG_MAX_CAPTION, "message caption") == -1)
		return;
	if (call_parse_mode(c) == -1 || call_markup(c, 0, &markup) == -1)
		return;
	if ((f = call_media(c, kind)) == NULL) {
		cJSON_Delete(markup);
		return;
	}
	if (strcmp(kind, "video") == 0 && f->thumb == NULL)
		call_thumbnail(c, f);
	msg = message_new(chat, bot_user_json(0));
	cJSON_AddItemToObject(msg, kind, file_media_json(f));
	if (!text_blank(caption))
		cJSON_AddStringToObject(msg, "caption", caption);
	message_set_markup(msg, markup);
	call_sent(c, chat, msg, markup, kind, file_log_json(f));
}

/* sendVideo: an MP4 upload or a video file_id. */
static void
m_sendvideo(struct call *c)
{
	m_sendmedia(c, "video");
}

/* sendVoice: an OGG/Opus upload or a voice file_id. */
static void
m_sendvoice(struct call *c)
{
	m_sendmedia(c, "voice");
}

/* The bot's own message that an edit names. */
static cJSON *
call_edit_target(struct call *c, struct chat **chatp)
{
	const cJSON *from;
	cJSON *msg;

	if (params_str(&c->params, "inline_message_id") != NULL) {
		call_fail(c, 400, "Bad Request: MESSAGE_ID_INVALID");
		return NULL;
	}
	if ((*chatp = call_chat(c)) == NULL ||
	    (msg = call_message(c, *chatp, "edit")) == NULL)
		return NULL;
	from = cJSON_GetObjectItemCaseSensitive(msg, "from");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "is_bot"))) {
		call_fail(c, 400, "Bad Request: message can't be edited");
		return NULL;
	}
	return msg;
}

static const char not_modified[] = "Bad Request: message is not modified: "
    "specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message";

/* editMessageText: a text message of the bot's; no reply_markup removes
 * its inline keyboard, as in Telegram. */
static void
m_editmessagetext(struct call *c)
{
	const char *text = params_str(&c->params, "text");
	const cJSON *old;
	struct chat *chat;
	cJSON *msg, *markup;

	if ((msg = call_edit_target(c, &chat)) == NULL)
		return;
	if ((old = cJSON_GetObjectItemCaseSensitive(msg, "text")) == NULL) {
		call_fail(c, 400, "Bad Request: there is no text in the message "
		    "to edit");
		return;
	}
	if (text_blank(text)) {
		call_fail(c, 400, "Bad Request: message text is empty");
		return;
	}
	if (call_text(c, text, TG_MAX_TEXT, "message") == -1 ||
	    call_parse_mode(c) == -1 || call_markup(c, 1, &markup) == -1)
		return;
	if (strcmp(old->valuestring, text) == 0 && markup_equal(markup,
	    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup"))) {
		cJSON_Delete(markup);
		call_fail(c, 400, "%s", not_modified);
		return;
	}
	json_replace(msg, "text", cJSON_CreateString(text));
	message_set_markup(msg, markup);
	json_replace(msg, "edit_date", cJSON_CreateNumber((double)time(NULL)));
	call_sent(c, chat, msg, markup, NULL, NULL);
}

/* editMessageReplyMarkup: the log entry's reply_markup is null when the
 * keyboard is removed. */
static void
m_editmessagereplymarkup(struct call *c)
{
	struct chat *chat;
	cJSON *msg, *markup;

	if ((msg = call_edit_target(c, &chat)) == NULL ||
	    call_markup(c, 1, &markup) == -1)
		return;
	if (markup_equal(markup,
	    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup"))) {
		cJSON_Delete(markup);
		call_fail(c, 400, "%s", not_modified);
		return;
	}
	message_set_markup(msg, markup);
	json_replace(msg, "edit_date", cJSON_CreateNumber((double)time(NULL)));
	call_sent(c, chat, msg, markup != NULL ? markup : cJSON_CreateNull(),
	    NULL, NULL);
}

/* deleteMessage: any kept message of the chat, once. */
static void
m_deletemessage(struct call *c)
{
	struct chat *chat;
	cJSON *msg, *entry;

	if ((chat = call_chat(c)) == NULL ||
	    (msg = call_message(c, chat, "delete")) == NULL)
		return;
	/* The entry names the message but does not repeat its text. */
	entry = chatlog_entry(chat, c, NULL);
	json_add_int(entry, "message_id", json_int(msg, "message_id", 0));
	chat_delete(chat, json_int(msg, "message_id", 0));
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_CreateTrue());
}

/* answerCallbackQuery: only once per injected query. */
static void
m_answercallbackquery(struct call *c)
{
	const char *id = params_str(&c->params, "callback_query_id");
	const char *text = params_str(&c->params, "text");
	struct callback *cb;
	struct chat *chat;
	cJSON *entry;

	cb = id != NULL ? table_get(&sim.callbacks, id) : NULL;
	if (cb == NULL || cb->answered) {
		call_fail(c, 400, "Bad Request: query is too old and response "
		    "timeout expired or query ID is invalid");
		return;
	}
	if (text != NULL && call_text(c, text, 200, "callback answer text") == -1)
		return;
	cb->answered = 1;
	sim.stats.callbacks_answered++;
	chat = chat_get(cb->chat_id);
	entry = chatlog_entry(chat, c, NULL);
	cJSON_AddStringToObject(entry, "callback_query_id", cb->id);
	chatlog_add(chat, c, entry);
	api_ok(c->req, cJSON_CreateTrue());
}

/* getFile: the File of a file_id given out, with its file_path. */
static void
m_getfile(struct call *c)
{
	const char *id = params_str(&c->params, "file_id");
	struct file *f;

	if (id == NULL || (f = table_get(&sim.files, id)) == NULL) {
		call_fail(c, 400, "Bad Request: invalid file_id");
		return;
	}
	api_ok(c->req, file_json(f));
}

/* 1 when host (as curl's URL parser gives it) is a loopback address:
 * 127.0.0.0/8, [::1] or localhost. tgsim sends nothing anywhere else. */
static int
host_is_loopback(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* NULL when url is an http(s) URL to a loopback host, else why not. */
static const char *
webhook_url_error(const char *url)
{
	CURLU *h = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *err = NULL;

	if (h == NULL)
		fatalx("curl_url");
	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		err = "Bad Request: bad webhook: invalid URL";
	else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		err = "Bad Request: bad webhook: HTTPS url must be provided for webhook";
	else if (!host_is_loopback(host))
		err = "Bad Request: bad webhook: tgsim delivers to loopback addresses "
		    "only (127.0.0.0/8, ::1, localhost)";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return err;
}

/* A Boolean parameter: "true" or "1". */
static int
params_true(const struct params *p, const char *name)
{
	const char *v = params_str(p, name);

	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Drop every queued update (drop_pending_updates). */
static void
updates_drop(void)
{
	struct update *u;

	while ((u = TAILQ_FIRST(&sim.updates)) != NULL)
		update_free(u);
}

/*
 * setWebhook: checked (a loopback http or https URL only; secret_token
 * 1-256 of A-Z a-z 0-9 _ -; max_connections 1-100, default 40), then
 * updates are POSTed there and getUpdates answers 409. An empty url
 * removes the webhook. Setting it again starts every delivery afresh.
 */
static void
m_setwebhook(struct call *c)
{
	const char *url = params_str(&c->params, "url");
	const char *secret = params_str(&c->params, "secret_token");
	const char *allowed = params_str(&c->params, "allowed_updates");
	const char *ip = params_str(&c->params, "ip_address");
	const char *err;
	int64_t conns = TG_WEBHOOK_CONNS;
	struct waiter *w;
	size_t n;

	if (params_int(&c->params, "max_connections", &conns) == -1) {
		call_fail(c, 400, "Bad Request: wrong parameter type");
		return;
	}
	if (url == NULL || *url == '\0') {
		webhook_clear();
		if (params_true(&c->params, "drop_pending_updates"))
			updates_drop();
		api_ok(c->req, cJSON_CreateTrue());
		return;
	}
	if ((err = webhook_url_error(url)) != NULL) {
		call_fail(c, 400, "%s", err);
		return;
	}
	if (ip != NULL && *ip != '\0' && !host_is_loopback(ip)) {
		call_fail(c, 400, "Bad Request: bad webhook: tgsim delivers to "
		    "loopback addresses only");
		return;
	}
	if (secret != NULL && ((n = strlen(secret)) == 0 || n > 256 ||
	    strspn(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") != n)) {
		call_fail(c, 400, "Bad Request: secret token contains unallowed "
		    "characters or is not 1-256 characters long");
		return;
	}
	if (allowed != NULL && updates_set_allowed(allowed) == -1) {
		call_fail(c, 400, "Bad Request: can't parse allowed updates");
		return;
	}
	webhook_clear();
	sim.webhook.url = xstrdup(url);
	if (secret != NULL) {
		log_add_secret(secret);
		xasprintf(&sim.webhook.header, "X-Telegram-Bot-Api-Secret-Token: %s", secret);
	}
	sim.webhook.max_connections = conns < 1 ? 1 : conns > 100 ? 100 : (int)conns;
	if (params_true(&c->params, "drop_pending_updates"))
		updates_drop();
	/* A long poll held now ends as a getUpdates made now would. */
	if ((w = waiter_find_updates()) != NULL) {
		sim.stats.rejected++;
		api_error(waiter_take(w), 409, 0, "Conflict: can't use getUpdates method "
		    "while webhook is active; use deleteWebhook to delete the webhook first");
	}
	log_info("webhook set", "max_connections=%d secret_token=%s",
	    sim.webhook.max_connections, secret != NULL ? "yes" : "no");
	api_ok(c->req, cJSON_CreateTrue());
	webhook_pump();
}

/* deleteWebhook: back to getUpdates; the queue stays unless dropped. */
static void
m_deletewebhook(struct call *c)
{
	if (sim.webhook.url != NULL)
		log_info("webhook deleted");
	webhook_clear();
	if (params_true(&c->params, "drop_pending_updates"))
		updates_drop();
	api_ok(c->req, cJSON_CreateTrue());
}

/* The WebhookInfo object (also /control/webhook's core). */
static cJSON *
webhook_info(void)
{
	cJSON *info = cJSON_CreateObject();
	struct update *u;
	int64_t n = 0;

	TAILQ_FOREACH(u, &sim.updates, entry)
		n++;
	cJSON_AddStringToObject(info, "url", sim.webhook.url ? sim.webhook.url : "");
	cJSON_AddFalseToObject(info, "has_custom_certificate");
	json_add_int(info, "pending_update_count", n);
	if (sim.webhook.last_error_message != NULL) {
		json_add_int(info, "last_error_date", sim.webhook.last_error_date);
		cJSON_AddStringToObject(info, "last_error_message",
		    sim.webhook.last_error_message);
	}
	if (sim.webhook.url != NULL)
		json_add_int(info, "max_connections", sim.webhook.max_connections);
	if (sim.allowed != NULL)
		cJSON_AddItemToObject(info, "allowed_updates",
		    cJSON_Duplicate(sim.allowed, 1));
	return info;
}

/* getWebhookInfo: the webhook (url empty when none) and the queue length. */
static void
m_getwebhookinfo(struct call *c)
{
	api_ok(c->req, webhook_info());
}

/* Methods that tgsim does not simulate but Telegram knows: they pass the
 * parameter check and answer true (right for the setters a bot calls at
 * start: setMyCommands, ...). */
static void
m_unsimulated(struct call *c)
{
	log_info("method not simulated, answering true", "method=%s", c->method);
	api_ok(c->req, cJSON_CreateTrue());
}

static const struct {
	const char	*name;
	void		(*fn)(struct call *);
} api_methods[] = {
	{ "getMe",			m_getme },
	{ "getUpdates",			m_getupdates },
	{ "sendMessage",		m_sendmessage },
	{ "sendVideo",			m_sendvideo },
	{ "sendVoice",			m_sendvoice },
	{ "editMessageText",		m_editmessagetext },
	{ "editMessageReplyMarkup",	m_editmessagereplymarkup },
	{ "deleteMessage",		m_deletemessage },
	{ "answerCallbackQuery",	m_answercallbackquery },
	{ "getFile",			m_getfile },
	{ "getWebhookInfo",		m_getwebhookinfo },
	{ "setWebhook",			m_setwebhook },
	{ "deleteWebhook",		m_deletewebhook },
};

/* ---------------------------------------------------------------------- */
/* Bot API dispatch: /bot<token>/<method>. */

/* The request's path, percent-decoded (free it). */
static char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char *path;

	if ((path = evhttp_uridecode(raw != NULL ? raw : "/", 0, NULL)) == NULL)
		fatalx("evhttp_uridecode");
	return path;
}

/* Count a call of a known method. */
static void
stats_count(const char *method)
{
	cJSON *n = cJSON_GetObjectItemCaseSensitive(sim.stats.calls, method);

	if (n == NULL)
		cJSON_AddNumberToObject(sim.stats.calls, method, 1);
	else
		cJSON_SetNumberValue(n, n->valuedouble + 1);
}

/* 1 when some parameter is "attach://name": then name is an upload. */
static int
params_attached(const struct params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].filename == NULL &&
		    strncmp(p->v[i].value, "attach://", 9) == 0 &&
		    strcmp(p->v[i].value + 9, name) == 0)
			return 1;
	return 0;
}

/* What Telegram says when a required parameter is missing. */
static const char *
missing_description(const char *param)
{
	static const struct { const char *param, *text; } texts[] = {
		{ "chat_id", "chat_id is empty" },
		{ "text", "message text is empty" },
		{ "message_id", "message identifier is not specified" },
		{ "video", "there is no video in the request" },
		{ "voice", "there is no voice in the request" },
		{ "file_id", "invalid file_id" },
		{ "callback_query_id", "query is too old and response timeout "
		    "expired or query ID is invalid" },
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].param, param) == 0)
			return texts[i].text;
	return NULL;
}

/* Every parameter must be one of the method's (the official list), and
 * every required one present. -1 after answering 400. */
static int
call_check(struct call *c)
{
	const char **given = xcalloc(c->params.n + 1, sizeof(*given));
	const char *missing = NULL, *text;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < c->params.n && r == 0; i++) {
		const char *name = c->params.v[i].name;

		if (params_attached(&c->params, name))
			continue;
		if (!apispec_has_param(sim.spec, c->method, name)) {
			call_fail(c, 400, "Bad Request: unknown parameter "
			    "\"%.64s\"", name);
			r = -1;
		}
		given[n++] = name;
	}
	if (r == 0 && apispec_missing(sim.spec, c->method, given, n,
	    &missing, 1) > 0) {
		if ((text = missing_description(missing)) != NULL)
			call_fail(c, 400, "Bad Request: %s", text);
		else
			call_fail(c, 400, "Bad Request: parameter \"%s\" is "
			    "required", missing);
		r = -1;
	}
	free(given);
	return r;
}

/* The chat a call concerns, for faults and flood limits: chat_id, or the
 * chat of the callback query being answered. */
static int64_t
call_target(const struct call *c)
{
	const char *id;
	struct callback *cb;
	int64_t chat_id;

	if (params_int(&c->params, "chat_id", &chat_id) == 1)
		return chat_id;
	id = params_str(&c->params, "callback_query_id");
	if (id != NULL && (cb = table_get(&sim.callbacks, id)) != NULL)
		return cb->chat_id;
	return 0;
}

/* Run the method's handler. */
static void
call_dispatch(struct call *c)
{
	for (size_t i = 0; i < sizeof(api_methods) / sizeof(api_methods[0]); i++) {
		if (strcmp(api_methods[i].name, c->method) == 0) {
			api_methods[i].fn(c);
			return;
		}
	}
	m_unsimulated(c);
}

/*
 * Handle /bot<token>/<method>: token, method (case-insensitive), the
 * parameters against the official list, then faults, flood limits and the
 * method itself. delayed: a latency fault already held this call.
 */
void
api_request(struct evhttp_request *req, int delayed)
{
	struct call c = { .req = req };
	char *path = request_path(req), *token, *name;
	const char *err = NULL;

	token = path + strlen("/bot");
	if ((name = strchr(token, '/')) != NULL)
		*name++ = '\0';
	if (name == NULL || *token == '\0' || strchr(name, '/') != NULL) {
		call_fail(&c, 404, "Not Found");
		goto out;
	}
	if (sim.token != NULL && strcmp(token, sim.token) != 0) {
		call_fail(&c, 401, "Unauthorized");
		goto out;
	}
	if ((c.method = apispec_method(sim.spec, name)) == NULL) {
		call_fail(&c, 404, "Not Found");
		goto out;
	}
	if (!delayed)
		stats_count(c.method);
	if (params_from_request(&c.params, req, &err) == -1) {
		call_fail(&c, 400, "Bad Request: %s", err);
		goto out;
	}
	if (call_check(&c) == -1)
		goto out;
	c.chat_id = call_target(&c);
	log_debug("call", "method=%s chat_id=%" PRId64, c.method, c.chat_id);
	if ((delayed || !fault_apply(&c)) && flood_check(&c) == 0)
		call_dispatch(&c);
out:
	params_free(&c.params);
	free(path);
}

/* GET /file/bot<token>/<file_path>: a stored file's bytes. */
static void
file_request(struct evhttp_request *req)
{
	char *path = request_path(req), *token, *fpath;
	struct evbuffer *buf;
	struct file *f;
	struct stat st;
	int fd;

	token = path + strlen("/file/bot");
	if ((fpath = strchr(token, '/')) != NULL)
		*fpath++ = '\0';
	if (fpath == NULL || (sim.token != NULL && strcmp(token, sim.token) != 0)) {
		api_error(req, fpath == NULL ? 404 : 401, 0,
		    fpath == NULL ? "Not Found" : "Unauthorized");
		free(path);
		return;
	}
	f = table_get(&sim.file_paths, fpath);
	free(path);
	if (f == NULL || (fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1) {
		api_error(req, 404, 0, "Not Found");
		return;
	}
	if (fstat(fd, &st) == -1 || (buf = evbuffer_new()) == NULL)
		fatal("file_request");
	/* The buffer owns fd from here and closes it when sent. */
	if (evbuffer_add_file(buf, fd, 0, st.st_size) == -1)
		log_warnx("evbuffer_add_file failed", "path=%s", f->path);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    strcmp(f->kind, "video") == 0 ? "video/mp4" : "audio/ogg");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

/* ---------------------------------------------------------------------- */
/* The control interface (/control/...): tests play the user here. */

/* An integer control parameter: 0 with *out (def when absent), -1 after
 * answering 400. */
static int
control_int(struct evhttp_request *req, const struct params *p,
    const char *name, int64_t def, int64_t *out)
{
	*out = def;
	if (params_int(p, name, out) != -1)
		return 0;
	control_fail(req, 400, "%s must be an integer", name);
	return -1;
}

/* chat_id (required, non-zero) and from_id (default chat_id). */
static int
control_ids(struct evhttp_request *req, const struct params *p,
    int64_t *chat_id, int64_t *from_id)
{
	if (control_int(req, p, "chat_id", 0, chat_id) == -1)
		return -1;
	if (*chat_id == 0) {
		control_fail(req, 400, "chat_id is required");
		return -1;
	}
	return control_int(req, p, "from_id", *chat_id, from_id);
}

/* The chat of an injected message, with chat_type and names applied. */
static struct chat *
control_chat(const struct params *p, int64_t chat_id)
{
	struct chat *chat = chat_get(chat_id);

	chat_set(&chat->type, params_str(p, "chat_type"));
	chat_set(&chat->first_name, params_str(p, "first_name"));
	chat_set(&chat->title, params_str(p, "title"));
	return chat;
}

/* The sender of an injected message or callback query. */
static cJSON *
control_from(const struct params *p, int64_t from_id)
{
	return user_json(from_id, params_str(p, "first_name"),
	    params_str(p, "language_code"));
}

/* Telegram marks a leading /command as a bot_command entity. */
static void
message_add_commands(cJSON *msg, const char *text)
{
	cJSON *entities, *e;
	size_t len;

	if (text[0] != '/')
		return;
	len = 1 + strspn(text + 1, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@");
	if (len < 2)
		return;
	entities = cJSON_AddArrayToObject(msg, "entities");
	e = cJSON_CreateObject();
	json_add_int(e, "offset", 0);
	json_add_int(e, "length", (int64_t)len);
	cJSON_AddStringToObject(e, "type", "bot_command");
	cJSON_AddItemToArray(entities, e);
}

/* Put an injected update's id in a control reply; id 0 means the bot's
 * allowed_updates excluded it: say so. */
static void
control_add_update(cJSON *body, int64_t id)
{
	json_add_int(body, "update_id", id);
	if (id == 0)
		cJSON_AddTrueToObject(body, "dropped");
}

/* Queue a user message as an update; reply update_id and message_id. */
static void
control_inject(struct evhttp_request *req, const cJSON *msg)
{
	cJSON *body = control_body();

	control_add_update(body, updates_push("message", cJSON_Duplicate(msg, 1)));
	json_add_int(body, "message_id", json_int(msg, "message_id", 0));
	http_reply_json(req, 200, body);
}

/* POST /control/message: the user sends text. */
static void
control_message(struct evhttp_request *req, const struct params *p)
{
	const char *text = params_str(p, "text");
	int64_t chat_id, from_id;
	cJSON *msg;

	if (control_ids(req, p, &chat_id, &from_id) == -1)
		return;
	if (text == NULL) {
		control_fail(req, 400, "text is required");
		return;
	}
	msg = message_new(control_chat(p, chat_id), control_from(p, from_id));
	cJSON_AddStringToObject(msg, "text", text);
	message_add_commands(msg, text);
	control_inject(req, msg);
}

/* POST /control/contact: the user shares a contact (contact_user_id=0:
 * one without a user_id, as for a contact typed in by hand). */
static void
control_contact(struct evhttp_request *req, const struct params *p)
{
	const char *phone = params_str(p, "phone_number");
	const char *name = params_str(p, "first_name");
	int64_t chat_id, from_id, user_id;
	cJSON *msg, *contact;

	if (control_ids(req, p, &chat_id, &from_id) == -1 ||
	    control_int(req, p, "contact_user_id", from_id, &user_id) == -1)
		return;
	if (phone == NULL || *phone == '\0') {
		control_fail(req, 400, "phone_number is required");
		return;
	}
	msg = message_new(control_chat(p, chat_id), control_from(p, from_id));
	contact = cJSON_AddObjectToObject(msg, "contact");
	cJSON_AddStringToObject(contact, "phone_number", phone);
	cJSON_AddStringToObject(contact, "first_name",
	    name != NULL && *name ? name : "User");
	if (user_id != 0)
		json_add_int(contact, "user_id", user_id);
	control_inject(req, msg);
}

/* The latest message of the bot's in the chat with an inline keyboard. */
static int64_t
chat_last_keyboard(const struct chat *chat)
{
	const cJSON *msg, *from;

	for (size_t i = chat->nmsgs; i > 0; i--) {
		if ((msg = chat->msgs[i - 1]) == NULL)
			continue;
		from = cJSON_GetObjectItemCaseSensitive(msg, "from");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(from, "is_bot")) &&
		    cJSON_GetObjectItemCaseSensitive(msg, "reply_markup") != NULL)
			return (int64_t)i;
	}
	return 0;
}

/* Remember an injected callback query so that it can be answered once. */
static void
callback_add(const char *id, int64_t chat_id)
{
	struct callback *cb;

	if (table_get(&sim.callbacks, id) != NULL)
		return;
	cb = xcalloc(1, sizeof(*cb));
	cb->id = xstrdup(id);
	cb->chat_id = chat_id;
	table_put(&sim.callbacks, id, cb);
	sim.stats.callbacks++;
}

/* Free a callback query record (a table value). */
static void
callback_free(void *arg)
{
	struct callback *cb = arg;

	free(cb->id);
	free(cb);
}

/* The message a callback query carries: the kept message, or an
 * InaccessibleMessage (date 0) when it is unknown or deleted. */
static cJSON *
callback_message(struct chat *chat, int64_t message_id)
{
	const cJSON *msg = chat_message(chat, message_id);
	cJSON *o;

	if (msg != NULL)
		return cJSON_Duplicate(msg, 1);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "chat", chat_json(chat));
	json_add_int(o, "message_id", message_id);
	json_add_int(o, "date", 0);
	return o;
}

/* POST /control/callback: the user presses an inline button (message_id
 * defaults to the bot's latest message with an inline keyboard). */
static void
control_callback(struct evhttp_request *req, const struct params *p)
{
	const char *data = params_str(p, "data");
	int64_t chat_id, from_id, message_id;
	struct chat *chat;
	cJSON *cq, *body;
	char id[32], instance[32];

	if (control_ids(req, p, &chat_id, &from_id) == -1)
		return;
	chat = control_chat(p, chat_id);
	if (control_int(req, p, "message_id", chat_last_keyboard(chat),
	    &message_id) == -1)
		return;
	if (message_id == 0) {
		control_fail(req, 400, "message_id is required: the bot sent no "
		    "inline keyboard to this chat");
		return;
	}
	snprintf(id, sizeof(id), "%" PRIu64,
	    (uint64_t)4000000000000000000ULL + (uint64_t)++sim.next_callback);
	snprintf(instance, sizeof(instance), "%" PRId64, -(chat_id * 7919 + 13));
	cq = cJSON_CreateObject();
	cJSON_AddStringToObject(cq, "id", id);
	cJSON_AddItemToObject(cq, "from", control_from(p, from_id));
	cJSON_AddItemToObject(cq, "message", callback_message(chat, message_id));
	cJSON_AddStringToObject(cq, "chat_instance", instance);
	if (data != NULL)
		cJSON_AddStringToObject(cq, "data", data);
	callback_add(id, chat_id);
	body = control_body();
	control_add_update(body, updates_push("callback_query", cq));
	cJSON_AddStringToObject(body, "callback_query_id", id);
	http_reply_json(req, 200, body);
}

/* In a raw update, give a message with a chat but no message_id the
 * chat's next id (and a date), and register callback query ids. */
static void
control_update_fill(cJSON *kind, const char *name)
{
	const cJSON *chat, *msg, *from;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(kind, "id");
	int64_t chat_id;

	if (strcmp(name, "callback_query") == 0 && cJSON_IsString(id)) {
		msg = cJSON_GetObjectItemCaseSensitive(kind, "message");
		from = cJSON_GetObjectItemCaseSensitive(kind, "from");
		chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
		chat_id = json_int(chat, "id", json_int(from, "id", 0));
		callback_add(id->valuestring, chat_id);
		return;
	}
	chat = cJSON_GetObjectItemCaseSensitive(kind, "chat");
	if ((chat_id = json_int(chat, "id", 0)) == 0)
		return;
	if (cJSON_GetObjectItemCaseSensitive(kind, "message_id") == NULL)
		json_add_int(kind, "message_id", chat_next_id(chat_get(chat_id)));
	if (cJSON_GetObjectItemCaseSensitive(kind, "date") == NULL)
		json_add_int(kind, "date", (int64_t)time(NULL));
}

/* POST /control/update: a raw Update without update_id as the body. */
static void
control_update(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	cJSON *upd, *kind, *body;
	char *name;

	upd = cJSON_ParseWithLength((const char *)evbuffer_pullup(in, -1), len);
	cJSON_DeleteItemFromObjectCaseSensitive(upd, "update_id");
	if (!cJSON_IsObject(upd) || upd->child == NULL ||
	    upd->child->next != NULL || !cJSON_IsObject(upd->child)) {
		cJSON_Delete(upd);
		control_fail(req, 400, "the body must be a JSON Update without "
		    "update_id, with one field such as \"message\"");
		return;
	}
	kind = cJSON_DetachItemViaPointer(upd, upd->child);
	/* Adding kind under its own name frees that name: copy it. */
	name = xstrdup(kind->string);
	control_update_fill(kind, name);
	body = control_body();
	control_add_update(body, updates_push(name, kind));
	free(name);
	cJSON_Delete(upd);
	http_reply_json(req, 200, body);
}

/* GET /control/chat: what the bot sent to a chat after since; waits up
 * to wait seconds until there are at least count such entries. */
static void
control_chat_log(struct evhttp_request *req, const struct params *p)
{
	int64_t chat_id, since, count;
	const char *s = params_str(p, "wait");
	double wait = s != NULL ? strtod(s, NULL) : 0;
	struct waiter *w;

	if (control_int(req, p, "chat_id", 0, &chat_id) == -1 ||
	    control_int(req, p, "since", 0, &since) == -1 ||
	    control_int(req, p, "count", 1, &count) == -1)
		return;
	if (chat_id == 0) {
		control_fail(req, 400, "chat_id is required");
		return;
	}
	if (!(wait > 0) || chatlog_count(chat_id, since) >= count) {
		chatlog_reply(req, chat_id, since);
		return;
	}
	if (wait > TG_MAX_WAIT)
		wait = TG_MAX_WAIT;
	w = waiter_new(WAIT_CHAT, req, (int64_t)(wait * 1000));
	w->chat_id = chat_id;
	w->since = since;
	w->count = count;
}

/* GET /control/stats: counters since start. */
static void
control_stats(struct evhttp_request *req, const struct params *p)
{
	cJSON *body = control_body(), *o;
	struct update *u;
	struct waiter *w;
	int64_t pending = 0, n;

	(void)p;
	TAILQ_FOREACH(u, &sim.updates, entry)
		pending++;
	cJSON_AddItemToObject(body, "calls", cJSON_Duplicate(sim.stats.calls, 1));
	json_add_int(body, "uploads", sim.stats.uploads);
	json_add_int(body, "thumbnails_ignored", sim.stats.thumbnails_ignored);
	json_add_int(body, "rate_limited", sim.stats.rate_limited);
	json_add_int(body, "rejected", sim.stats.rejected);
	json_add_int(body, "faults", sim.stats.faults);
	o = cJSON_AddObjectToObject(body, "updates");
	json_add_int(o, "injected", sim.stats.updates);
	json_add_int(o, "pending", pending);
	o = cJSON_AddObjectToObject(body, "callbacks");
	json_add_int(o, "injected", sim.stats.callbacks);
	json_add_int(o, "answered", sim.stats.callbacks_answered);
	json_add_int(o, "unanswered",
	    sim.stats.callbacks - sim.stats.callbacks_answered);
	n = 0;
	TAILQ_FOREACH(w, &sim.waiters, entry)
		n++;
	json_add_int(body, "waiting", n);
	json_add_int(body, "chats", (int64_t)sim.chats.n);
	json_add_int(body, "files", (int64_t)sim.files.n);
	http_reply_json(req, 200, body);
}

/* POST /control/fault: make the next count calls (0: all, until
 * kind=clear) for a chat fail with 403 or 500, hang (timeout) or wait ms
 * (latency). */
static void
control_fault(struct evhttp_request *req, const struct params *p)
{
	const char *kind = params_str(p, "kind");
	int64_t chat_id, ms, count;
	struct fault *f;
	size_t k;

	if (control_int(req, p, "chat_id", 0, &chat_id) == -1 ||
	    control_int(req, p, "ms", 0, &ms) == -1 ||
	    control_int(req, p, "count", 1, &count) == -1)
		return;
	if (chat_id == 0 || kind == NULL) {
		control_fail(req, 400, "chat_id and kind are required");
		return;
	}
	if (strcmp(kind, "clear") == 0) {
		fault_clear(chat_id);
		http_reply_json(req, 200, control_body());
		return;
	}
	for (k = 0; k < sizeof(fault_names) / sizeof(fault_names[0]); k++)
		if (strcmp(kind, fault_names[k]) == 0)
			break;
	if (k == sizeof(fault_names) / sizeof(fault_names[0]) || ms < 0 ||
	    ms > TG_MAX_WAIT * 1000 || count < 0 || count > INT_MAX) {
		control_fail(req, 400, "kind must be 403, 500, timeout, latency "
		    "or clear; ms 0..%d; count >= 0", TG_MAX_WAIT * 1000);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->chat_id = chat_id;
	f->kind = (enum fault_kind)k;
	f->ms = (int)ms;
	f->count = (int)count;
	TAILQ_INSERT_TAIL(&sim.faults, f, entry);
	http_reply_json(req, 200, control_body());
}

/* GET /control/webhook: getWebhookInfo's fields plus whether a secret
 * token is sent and the delivery counters. */
static void
control_webhook(struct evhttp_request *req, const struct params *p)
{
	cJSON *body = control_body(), *info = webhook_info(), *item;

	(void)p;
	while ((item = info->child) != NULL)
		cJSON_AddItemToObject(body, item->string,
		    cJSON_DetachItemViaPointer(info, item));
	cJSON_Delete(info);
	cJSON_AddBoolToObject(body, "has_secret_token", sim.webhook.header != NULL);
	json_add_int(body, "in_flight", sim.webhook.in_flight);
	json_add_int(body, "delivered", sim.webhook.delivered);
	json_add_int(body, "failed", sim.webhook.failed);
	http_reply_json(req, 200, body);
}

/* Handle /control/<name>. */
static void
control_request(struct evhttp_request *req, const char *name)
{
	static const struct {
		const char	*name;
		void		(*fn)(struct evhttp_request *,
				    const struct params *);
	} handlers[] = {
		{ "message",	control_message },
		{ "contact",	control_contact },
		{ "callback",	control_callback },
		{ "chat",	control_chat_log },
		{ "stats",	control_stats },
		{ "fault",	control_fault },
		{ "webhook",	control_webhook },
	};
	struct params p = { 0 };
	const char *err = NULL;

	if (strcmp(name, "update") == 0) {
		control_update(req);
		return;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(handlers[i].name, name) != 0)
			continue;
		if (params_from_request(&p, req, &err) == -1)
			control_fail(req, 400, "%s", err);
		else
			handlers[i].fn(req, &p);
		params_free(&p);
		return;
	}
	control_fail(req, 404, "Not Found");
}

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
