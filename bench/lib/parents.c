/* SPDX-License-Identifier: ISC */
/*
 * bench/lib/parents.c: the simulated parents of bench/burst.sh. Each
 * parent's updates are injected through tgsim's /control endpoints and
 * what the bot sends to its chat is learnt by long-polling /control/chat,
 * many parents at a time over libcurl's multi interface (one request per
 * parent in flight: an injection or a long poll). Times are CLOCK_MONOTONIC
 * milliseconds since the program started, taken when a reply is complete
 * (a long poll answers as soon as the entry is logged) or, for a button
 * press or a /help, just before the injection is sent.
 *
 * usage:
 *   parents burst ADDR FIRST_CHAT COUNT NAMES CONCURRENCY SECONDS
 *	COUNT parents (chats FIRST_CHAT...), at most CONCURRENCY at a time,
 *	each through the whole conversation: /start, own contact, parent i's
 *	name (name i % NAMES, in one of three spellings that share a key),
 *	Confirm on the preview, then the sendVideo. Prints per parent
 *	"video CHAT NAME T_PRESS T_VIDEO UPLOAD T_ANSWER" (UPLOAD 1: the video
 *	went up as a file, 0: by file_id; T_ANSWER: when the button press was
 *	answered, -1 if that came after the video) or "lost CHAT NAME STEP".
 *   parents prep ADDR FIRST_CHAT COUNT NAMES CONCURRENCY SECONDS
 *	The same up to the preview with its Confirm button; prints
 *	"ready CHAT NAME MESSAGE_ID DATA SEQ" (or "lost ...").
 *   parents probe ADDR PREP_FILE HELP_FIRST_CHAT TICK_MS INTERVAL_MS SECONDS
 *	Every TICK_MS, one parent from PREP_FILE presses Confirm, and half a
 *	tick later one fresh chat (HELP_FIRST_CHAT...) sends /help. Per press:
 *	"hit CHAT TOTAL RESIDUAL BEFORE UPLOAD T_PRESS": TOTAL is press to
 *	sendVideo; BEFORE the messages the chat got between the two (the
 *	answer to the press aside); RESIDUAL is TOTAL less the per-chat flood
 *	waits among them: INTERVAL_MS (the bot's per-chat interval) for each
 *	message that came INTERVAL_MS / 2 or more after the one before it.
 *	Per /help: "help CHAT MS T_SENT", from the injection to the reply.
 *   parents count ADDR FIRST_CHAT COUNT [NAMES]
 *	"videos CHAT N" per chat: how many sendVideo the chat received. With
 *	NAMES (as given to burst), "videos CHAT N WRONG": WRONG of them have
 *	a caption without the chat's name (any case): another name's video.
 *
 * Progress goes to stderr every 10 s. Exit 0 when the run finished
 * (lost parents are reported, not fatal), 1 on a usage or setup error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

/* What a parent waits for (or does) now. */
enum step {
	S_IDLE,		/* not started */
	S_KEYBOARD,	/* /start sent: the contact keyboard */
	S_ASK_NAME,	/* contact sent: the question for the name */
	S_PREVIEW,	/* name sent: the preview with its buttons */
	S_VIDEO,	/* Confirm pressed: the sendVideo */
	S_HELP,		/* /help sent: the reply */
	S_DONE,
	S_LOST
};

static const char *step_names[] = {
	"idle", "keyboard", "ask_name", "preview", "video", "help", "done", "lost"
};

struct parent {
	long long	 chat;
	int		 name;		/* name index */
	int		 variant;	/* spelling */
	enum step	 step;
	int		 posting;	/* the request in flight is an injection */
	long long	 seen;		/* last /control/chat seq handled */
	long long	 mid;		/* the preview's message_id */
	char		 data[64];	/* its Confirm button's callback_data */
	double		 t_press, t_video, t_answer;
	double		 t_prev;	/* the chat's last message since the press */
	int		 before;	/* messages to the chat before the video */
	double		 waits;		/* per-chat flood waits among them, ms */
	int		 upload;
};

/* One HTTP request in flight. */
struct xfer {
	CURL		*h;
	struct parent	*p;
	char		*buf;
	size_t		 len, cap;
	char		*post;
};

static CURLM *multi;
static const char *addr;
static double t0, interval_ms;
static int inflight;
static enum { M_BURST, M_PREP, M_PROBE } mode;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("parents: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6 - t0;
}

/*
 * Name number i: three two-letter syllables from 20 (8,000 names), a
 * fourth beyond that; each syllable is one consonant and one vowel, so
 * different numbers never spell the same name.
 */
static void
name_of(int i, int variant, char *out, size_t size)
{
	static const char *syl[] = {
		"ka", "li", "mo", "ra", "ne", "to", "vi", "su", "da", "ze",
		"po", "mi", "lu", "fe", "ro", "sa", "ni", "te", "bo", "ya"
	};
	char base[16] = "";
	int n = i < 8000 ? 3 : 4;

	for (int k = 0; k < n; k++, i /= 20)
		strcat(base, syl[i % 20]);
	/* "Kalimo", "KALIMO", "  kalimo ": one key, one render. */
	if (variant == 0)
		base[0] = (char)(base[0] - 'a' + 'A');
	else if (variant == 1)
		for (char *c = base; *c; c++)
			*c = (char)(*c - 'a' + 'A');
	snprintf(out, size, variant == 2 ? "  %s " : "%s", base);
}

static size_t
on_data(char *d, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	n *= size;
	if (x->len + n + 1 > x->cap) {
		x->cap = (x->len + n + 1) * 2;
		if ((x->buf = realloc(x->buf, x->cap)) == NULL)
			die("out of memory");
	}
	memcpy(x->buf + x->len, d, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

/* Start a request for p: a POST to /control/EP with BODY, or a GET. */
static void
request(struct parent *p, const char *url, const char *body)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL || (x->h = curl_easy_init()) == NULL)
		die("out of memory");
	x->p = p;
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 90L);
	curl_easy_setopt(x->h, CURLOPT_TCP_NODELAY, 1L);
	if (body != NULL) {
		if ((x->post = strdup(body)) == NULL)
			die("out of memory");
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->post);
		p->posting = 1;
	} else
		p->posting = 0;
	curl_multi_add_handle(multi, x->h);
	inflight++;
}

/* POST /control/EP with the chat and FMT's fields. */
static void
inject(struct parent *p, const char *ep, const char *fmt, ...)
{
	char url[256], body[1024], fields[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), "http://%s/control/%s", addr, ep);
	snprintf(body, sizeof(body), "chat_id=%lld&%s", p->chat, fields);
	request(p, url, body);
}

/* Long-poll the chat for what comes after the last entry handled. */
static void
poll_chat(struct parent *p)
{
	char url[256];

	snprintf(url, sizeof(url), "http://%s/control/chat?chat_id=%lld&since=%lld"
	    "&count=1&wait=30", addr, p->chat, p->seen);
	request(p, url, NULL);
}

static void
start_parent(struct parent *p)
{
	p->step = S_KEYBOARD;
	inject(p, "message", "text=%%2Fstart&first_name=Parent&language_code=en");
}

static void
press(struct parent *p)
{
	p->step = S_VIDEO;
	p->t_press = now_ms();
	inject(p, "callback", "message_id=%lld&data=%s", p->mid, p->data);
}

static void
start_help(struct parent *p)
{
	p->step = S_HELP;
	p->t_press = now_ms();
	inject(p, "message", "text=%%2Fhelp&first_name=Parent&language_code=en");
}

static void
report(struct parent *p)
{
	switch (mode) {
	case M_BURST:
		if (p->step == S_DONE)
			printf("video %lld %d %.3f %.3f %d %.3f\n", p->chat, p->name, p->t_press,
			    p->t_video, p->upload, p->t_answer > 0 ? p->t_answer : -1);
		else
			printf("lost %lld %d %s\n", p->chat, p->name, step_names[p->step]);
		break;
	case M_PREP:
		if (p->step == S_DONE)
			printf("ready %lld %d %lld %s %lld\n", p->chat, p->name, p->mid,
			    p->data, p->seen);
		else
			printf("lost %lld %d %s\n", p->chat, p->name, step_names[p->step]);
		break;
	case M_PROBE:
		if (p->step != S_DONE)
			printf("lost %lld %d %s\n", p->chat, p->name, step_names[p->step]);
		else if (p->name < 0)
			printf("help %lld %.3f %.3f\n", p->chat, p->t_video - p->t_press,
			    p->t_press);
		else {
			double total = p->t_video - p->t_press;

			printf("hit %lld %.3f %.3f %d %d %.3f\n", p->chat, total,
			    total - p->waits, p->before, p->upload, p->t_press);
		}
		break;
	}
}

static int
has_contact_button(const cJSON *m)
{
	const cJSON *kb = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "reply_markup"), "keyboard");
	const cJSON *b = cJSON_GetArrayItem(cJSON_GetArrayItem(kb, 0), 0);

	return cJSON_IsTrue(cJSON_GetObjectItem(b, "request_contact"));
}

/*
 * One entry the bot sent to p's chat. Returns 1 when p moved on (the
 * entries after this one are fetched again by the next poll).
 */
static int
on_entry(struct parent *p, const cJSON *m, double t)
{
	const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
	const cJSON *ik, *b, *v;
	char name[48], *esc;

	if (method == NULL)
		return 0;
	switch (p->step) {
	case S_KEYBOARD:
		if (!has_contact_button(m))
			return 0;
		p->step = S_ASK_NAME;
		inject(p, "contact", "phone_number=7900%lld&first_name=Parent&language_code=en",
		    p->chat);
		return 1;
	case S_ASK_NAME:
		if (strcmp(method, "sendMessage") != 0)
			return 0;
		p->step = S_PREVIEW;
		name_of(p->name, p->variant, name, sizeof(name));
		esc = curl_easy_escape(NULL, name, 0);
		inject(p, "message", "text=%s&language_code=en", esc);
		curl_free(esc);
		return 1;
	case S_PREVIEW:
		ik = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "reply_markup"),
		    "inline_keyboard");
		b = cJSON_GetArrayItem(cJSON_GetArrayItem(ik, 0), 0);
		if (!cJSON_IsString(cJSON_GetObjectItem(b, "callback_data")))
			return 0;
		p->mid = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "message_id"));
		snprintf(p->data, sizeof(p->data), "%s",
		    cJSON_GetStringValue(cJSON_GetObjectItem(b, "callback_data")));
		if (mode == M_PREP) {
			p->step = S_DONE;
			return 1;
		}
		press(p);
		return 1;
	case S_VIDEO:
		if (strcmp(method, "answerCallbackQuery") == 0) {
			if (p->t_answer == 0)
				p->t_answer = t;
			return 0;
		}
		/* A message after another one that came an interval or more
		 * later waited for the chat's flood limit. */
		if (p->t_prev > 0 && t - p->t_prev > interval_ms / 2)
			p->waits += interval_ms;
		p->t_prev = t;
		if (strcmp(method, "sendVideo") == 0) {
			p->t_video = t;
			v = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "params"), "video");
			p->upload = cJSON_IsObject(v);
			p->step = S_DONE;
			return 1;
		}
		p->before++;
		return 0;
	case S_HELP:
		if (strcmp(method, "sendMessage") != 0)
			return 0;
		p->t_video = t;
		p->step = S_DONE;
		return 1;
	default:
		return 0;
	}
}

/* A reply for p: an injection acknowledged, or entries from a poll. */
static void
on_reply(struct parent *p, const char *body, double t)
{
	cJSON *j = cJSON_Parse(body ? body : ""), *m;
	int moved = 0;

	if (!cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"))) {
		fprintf(stderr, "parents: chat %lld: %s\n", p->chat, body ? body : "no reply");
		p->step = S_LOST;
		cJSON_Delete(j);
		return;
	}
	if (p->posting) {
		cJSON_Delete(j);
		poll_chat(p);
		return;
	}
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) {
		long long seq = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "seq"));

		if (seq <= p->seen)
			continue;
		p->seen = seq;
		if ((moved = on_entry(p, m, t)) != 0)
			break;
	}
	cJSON_Delete(j);
	if (!moved)
		poll_chat(p);
}

/* Run the transfers once: handle every finished one. Returns the number
 * of parents that finished (done or lost). */
static int
pump(int wait_ms)
{
	CURLMsg *msg;
	int running, left, finished = 0;

	curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
	curl_multi_perform(multi, &running);
	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		struct xfer *x;
		long status = 0;
		double t = now_ms();

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(multi, x->h);
		inflight--;
		if (msg->data.result != CURLE_OK) {
			fprintf(stderr, "parents: chat %lld: %s\n", x->p->chat,
			    curl_easy_strerror(msg->data.result));
			x->p->step = S_LOST;
		} else
			on_reply(x->p, x->buf, t);
		if (x->p->step == S_DONE || x->p->step == S_LOST) {
			report(x->p);
			finished++;
		}
		curl_easy_cleanup(x->h);
		free(x->buf);
		free(x->post);
		free(x);
	}
	return finished;
}

static long
num(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		die("bad %s: %s", what, s);
	return v;
}

static void
setup(void)
{
	struct timespec wall;

	t0 = 0;
	t0 = now_ms();
	clock_gettime(CLOCK_REALTIME, &wall);
	fprintf(stderr, "parents: time 0 is %lld.%06ld (unix time)\n", (long long)wall.tv_sec,
	    wall.tv_nsec / 1000);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (multi = curl_multi_init()) == NULL)
		die("curl_multi_init");
}

/* Every parent still out at the deadline is lost. */
static void
give_up(struct parent *ps, int n)
{
	for (int i = 0; i < n; i++)
		if (ps[i].step != S_IDLE && ps[i].step != S_DONE && ps[i].step != S_LOST)
			report(&ps[i]);
}

/* burst / prep: COUNT parents through the conversation, CONC at a time. */
static void
run_parents(char **argv)
{
	long long first = num(argv[0], "first chat");
	int count = (int)num(argv[1], "count"), names = (int)num(argv[2], "names");
	int conc = (int)num(argv[3], "concurrency");
	double deadline = (double)num(argv[4], "seconds") * 1e3, last_log = 0;
	struct parent *ps = calloc((size_t)count + 1, sizeof(*ps));
	int started = 0, finished = 0;

	if (ps == NULL || names < 1 || conc < 1)
		die("bad arguments");
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc + 16);
	for (int i = 0; i < count; i++) {
		ps[i].chat = first + i;
		ps[i].name = i % names;
		ps[i].variant = (i / names) % 3;
	}
	while (finished < count && now_ms() < deadline) {
		while (started < count && started - finished < conc)
			start_parent(&ps[started++]);
		finished += pump(100);
		if (now_ms() - last_log >= 10000) {
			last_log = now_ms();
			fprintf(stderr, "parents: %.0f s: %d of %d parents done, %d in flight\n",
			    last_log / 1e3, finished, count, started - finished);
		}
	}
	give_up(ps, count);
	fprintf(stderr, "parents: %d of %d parents finished in %.1f s\n", finished, count,
	    now_ms() / 1e3);
}

/* probe: paced presses and /help messages. */
static void
run_probe(char **argv)
{
	FILE *f = fopen(argv[0], "r");
	long long help_first = num(argv[1], "help chat");
	double tick = (double)num(argv[2], "tick"), deadline, next, next_help;
	struct parent *ps = NULL, *hs;
	int n = 0, cap = 0, pressed = 0, helped = 0, finished = 0;
	char line[512];

	interval_ms = (double)num(argv[3], "interval");
	deadline = (double)num(argv[4], "seconds") * 1e3;
	if (f == NULL)
		die("%s: %s", argv[0], strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct parent p = { 0 };

		if (sscanf(line, "ready %lld %d %lld %63s %lld", &p.chat, &p.name, &p.mid,
		    p.data, &p.seen) != 5)
			continue;
		if (n == cap && (ps = realloc(ps, (size_t)(cap = cap * 2 + 64) * sizeof(*ps))) == NULL)
			die("out of memory");
		ps[n++] = p;
	}
	fclose(f);
	if ((hs = calloc((size_t)n + 1, sizeof(*hs))) == NULL)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		hs[i].chat = help_first + i;
		hs[i].name = -1;
	}
	/* The /help half a tick after each press: neither waits for the
	 * other's update in the bot. */
	next = now_ms();
	next_help = next + tick / 2;
	while (finished < 2 * n && now_ms() < deadline) {
		double t = now_ms(), soonest;

		if (pressed < n && t >= next) {
			press(&ps[pressed++]);
			next += tick;
		}
		if (helped < n && t >= next_help) {
			start_help(&hs[helped++]);
			next_help += tick;
		}
		t = now_ms();
		soonest = t + 100;
		if (helped < n && next_help < soonest)
			soonest = next_help;
		if (pressed < n && next < soonest)
			soonest = next;
		finished += pump(soonest > t ? (int)(soonest - t) + 1 : 0);
	}
	give_up(ps, n);
	give_up(hs, n);
	fprintf(stderr, "parents: %d presses and %d /help, %d answered, in %.1f s\n", n, n,
	    finished, now_ms() / 1e3);
}

/* count: the sendVideo entries of each chat, a few chats at a time. */
static void
run_count(char **argv, int argc)
{
	long long first = num(argv[0], "first chat");
	int count = (int)num(argv[1], "count"), next = 0;
	int names = argc > 2 ? (int)num(argv[2], "names") : 0;

	while (next < count || inflight > 0) {
		CURLMsg *msg;
		int running, left;

		while (next < count && inflight < 8) {
			char url[256];
			CURL *h = curl_easy_init();
			struct xfer *x = calloc(1, sizeof(*x));

			if (h == NULL || x == NULL || (x->p = calloc(1, sizeof(*x->p))) == NULL)
				die("out of memory");
			x->h = h;
			x->p->chat = first + next++;
			snprintf(url, sizeof(url), "http://%s/control/chat?chat_id=%lld&since=0"
			    "&count=1&wait=0", addr, x->p->chat);
			curl_easy_setopt(h, CURLOPT_URL, url);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
			curl_easy_setopt(h, CURLOPT_PRIVATE, x);
			curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
			curl_multi_add_handle(multi, h);
			inflight++;
		}
		curl_multi_poll(multi, NULL, 0, 100, NULL);
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct xfer *x;
			cJSON *j, *m;
			int videos = 0, wrong = 0;
			char name[48];

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			if (msg->data.result != CURLE_OK)
				die("chat %lld: %s", x->p->chat, curl_easy_strerror(msg->data.result));
			j = cJSON_Parse(x->buf ? x->buf : "");
			if (!cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")))
				die("chat %lld: %s", x->p->chat, x->buf ? x->buf : "no reply");
			if (names > 0)
				name_of((int)((x->p->chat - first) % names), 1, name, sizeof(name));
			cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) {
				const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(m,
				    "method"));
				const char *caption = cJSON_GetStringValue(cJSON_GetObjectItem(
				    cJSON_GetObjectItem(m, "params"), "caption"));

				if (method == NULL || strcmp(method, "sendVideo") != 0)
					continue;
				videos++;
				wrong += names > 0 && (caption == NULL || strcasestr(caption,
				    name) == NULL);
			}
			if (names > 0)
				printf("videos %lld %d %d\n", x->p->chat, videos, wrong);
			else
				printf("videos %lld %d\n", x->p->chat, videos);
			cJSON_Delete(j);
			curl_multi_remove_handle(multi, x->h);
			curl_easy_cleanup(x->h);
			inflight--;
			free(x->buf);
			free(x->p);
			free(x);
		}
	}
}

int
main(int argc, char **argv)
{
	if (argc < 3)
		die("usage: parents burst|prep|probe|count ADDR ...");
	addr = argv[2];
	setup();
	if ((strcmp(argv[1], "burst") == 0 || strcmp(argv[1], "prep") == 0) && argc == 8) {
		mode = argv[1][0] == 'b' ? M_BURST : M_PREP;
		run_parents(argv + 3);
	} else if (strcmp(argv[1], "probe") == 0 && argc == 8) {
		mode = M_PROBE;
		run_probe(argv + 3);
	} else if (strcmp(argv[1], "count") == 0 && (argc == 5 || argc == 6))
		run_count(argv + 3, argc - 3);
	else
		die("usage: parents burst|prep|probe|count ADDR ... (see the source)");
	curl_multi_cleanup(multi);
	return 0;
}
