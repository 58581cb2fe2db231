/* SPDX-License-Identifier: ISC */
/*
 * cmd-chat.c: chat: a simulated parent through tgsim's control interface,
 * lines from stdin sent as the parent's, what the bot sends printed as it
 * comes.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "greetctl.h"
#include "log.h"
#include "xmalloc.h"

/* Seconds on the monotonic clock. */
static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct chat {
	char	*url;		/* http://HOST:PORT/control */
	int64_t	 chat_id;
	char	*lang;
	long long seq;		/* the last entry seen */
	int64_t	 kb_message;	/* the message with the last inline keyboard */
	cJSON	*kb;		/* its rows of buttons */
	double	 linger;	/* seconds to wait for the bot after stdin ends */
	double	 last;		/* when something last happened */
	char	 in[8192];	/* stdin not acted on yet */
	size_t	 inlen;
	int	 eof;		/* stdin has ended */
	int	 waiting;	/* "!wait": hold the lines until the bot speaks */
	double	 wait_until;
	CURLM	*multi;
	CURL	*poll;		/* the long poll of /control/chat in flight */
	struct buf pollbuf;
};

/* Append key=value, URL-encoded, to a form. */
static void
form_add(char **form, const char *key, const char *val)
{
	char *e = curl_easy_escape(NULL, val, 0), *s;

	xasprintf(&s, "%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key, e ? e : "");
	curl_free(e);
	free(*form);
	*form = s;
}

/* A form with the chat's fields: chat_id, first_name and language_code. */
static char *
chat_form(const struct chat *c)
{
	char id[32], *form = NULL;

	snprintf(id, sizeof(id), "%lld", (long long)c->chat_id);
	form_add(&form, "chat_id", id);
	form_add(&form, "first_name", "Operator");
	form_add(&form, "language_code", c->lang);
	return form;
}

/* POST a form (taken) to a control endpoint; complain unless it took it. */
static void
chat_post(struct chat *c, const char *endpoint, char *form)
{
	char *url, *body, *clean;
	long code;

	xasprintf(&url, "%s/%s", c->url, endpoint);
	if ((code = http_call(url, form, 10000, &body)) != 200) {
		clean = term_clean(body, 0);
		warnx("tgsim %s: %s", endpoint, code ? clean : "no answer");
		free(clean);
	}
	c->last = now_mono();
	free(url);
	free(body);
	free(form);
}

/* "!press N": the Nth button of the last inline keyboard, row by row. */
static void
chat_press(struct chat *c, int n)
{
	const cJSON *row, *b;
	char mid[32], *form;
	int i = 0;

	cJSON_ArrayForEach(row, c->kb)
		cJSON_ArrayForEach(b, row)
			if (++i == n) {
				const char *data = cJSON_GetStringValue(cJSON_GetObjectItem(b,
				    "callback_data"));

				if (data == NULL) {
					warnx("button %d sends no callback", n);
					return;
				}
				form = chat_form(c);
				snprintf(mid, sizeof(mid), "%lld", (long long)c->kb_message);
				form_add(&form, "message_id", mid);
				form_add(&form, "data", data);
				chat_post(c, "callback", form);
				return;
			}
	warnx("no button %d on the last inline keyboard", n);
}

/* One line of input: "/contact", "!press N", "!wait", or a message. */
static void
chat_line(struct chat *c, const char *line)
{
	char *form, phone[40];
	int n;

	if (*line == '\0')
		return;
	if (strcmp(line, "/contact") == 0) {
		form = chat_form(c);
		snprintf(phone, sizeof(phone), "+7900%lld", llabs((long long)c->chat_id));
		form_add(&form, "phone_number", phone);
		chat_post(c, "contact", form);
	} else if (strcmp(line, "!wait") == 0) {
		c->waiting = 1;
		c->wait_until = now_mono() + CHAT_WAIT;
	} else if (sscanf(line, "!press %d", &n) == 1)
		chat_press(c, n);
	else {
		form = chat_form(c);
		form_add(&form, "text", line);
		chat_post(c, "message", form);
	}
}

/* Read what stdin has into the line buffer; at its end set eof. */
static void
chat_read(struct chat *c)
{
	ssize_t n;

	if (c->inlen == sizeof(c->in) - 1)
		return;
	if ((n = read(0, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen)) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			c->eof = 1;
		return;
	}
	c->eof = n == 0;
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
}

/* Act on every whole line read (at the end of input also on a last line
 * without its newline), unless a "!wait" holds them back. */
static void
chat_lines(struct chat *c)
{
	char *nl;
	size_t len;

	while (!c->waiting && c->inlen > 0 && ((nl = strchr(c->in, '\n')) != NULL ||
	    c->eof || c->inlen == sizeof(c->in) - 1)) {
		len = nl ? (size_t)(nl - c->in) : c->inlen;
		c->in[len] = '\0';
		if (len > 0 && c->in[len - 1] == '\r')
			c->in[len - 1] = '\0';
		chat_line(c, c->in);
		len += nl != NULL;
		c->inlen -= len;
		memmove(c->in, c->in + len, c->inlen + 1);
	}
}

/* Print the bot's text, continuation lines indented. */
static void
chat_say(const char *who, const char *text)
{
	char *clean = term_clean(text ? text : "", 1);

	printf("%s%s", who, *clean ? ": " : "");
	for (const char *p = clean; *p; p++) {
		putchar(*p);
		if (*p == '\n' && p[1] != '\0')
			fputs("     ", stdout);
	}
	putchar('\n');
	free(clean);
}

/* Show a keyboard's buttons: numbered when inline (for !press). */
static void
chat_buttons(const cJSON *rows, int numbered)
{
	const cJSON *row, *b;
	int i = 0;

	fputs(numbered ? "     " : "     keyboard:", stdout);
	cJSON_ArrayForEach(row, rows)
		cJSON_ArrayForEach(b, row) {
			char *t = term_clean(cJSON_GetStringValue(cJSON_GetObjectItem(b, "text")) ?
			    cJSON_GetStringValue(cJSON_GetObjectItem(b, "text")) : "?", 0);

			if (numbered)
				printf(" [%d %s]", ++i, t);
			else
				printf(" [%s%s]", t, cJSON_IsTrue(cJSON_GetObjectItem(b,
				    "request_contact")) ? ": type /contact" : "");
			free(t);
		}
	putchar('\n');
}

/* Keep the last inline keyboard (for !press), forget it when it goes. */
static void
chat_keyboard(struct chat *c, const cJSON *m, const char *method, int64_t mid)
{
	const cJSON *rm = cJSON_GetObjectItem(m, "reply_markup");
	const cJSON *ik = cJSON_GetObjectItem(rm, "inline_keyboard");
	const cJSON *kb = cJSON_GetObjectItem(rm, "keyboard");

	if (ik != NULL) {
		cJSON_Delete(c->kb);
		c->kb = cJSON_Duplicate(ik, 1);
		c->kb_message = mid;
	} else if (mid == c->kb_message && (strcmp(method, "deleteMessage") == 0 ||
	    strcmp(method, "editMessageReplyMarkup") == 0)) {
		cJSON_Delete(c->kb);
		c->kb = NULL;
		c->kb_message = 0;
	}
	if (gc.json)
		return;
	if (ik != NULL)
		chat_buttons(ik, 1);
	if (kb != NULL)
		chat_buttons(kb, 0);
}

/* One thing the bot did in the chat, for a person (or a JSON line). */
static void
chat_show(struct chat *c, const cJSON *m)
{
	const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(m, "text"));
	const char *caption = cJSON_GetStringValue(cJSON_GetObjectItem(m, "caption"));
	const cJSON *params = cJSON_GetObjectItem(m, "params");
	int64_t mid = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "message_id"));
	char who[4200], *line;

	if (method == NULL)
		return;
	if (gc.json) {
		line = cJSON_PrintUnformatted(m);
		printf("%s\n", line);
		free(line);
	} else if (strcmp(method, "sendMessage") == 0)
		chat_say("bot", text);
	else if (strcmp(method, "editMessageText") == 0) {
		snprintf(who, sizeof(who), "bot (edits #%lld)", (long long)mid);
		chat_say(who, text);
	} else if (strcmp(method, "sendVideo") == 0 || strcmp(method, "sendVoice") == 0) {
		const char *kind = strcmp(method, "sendVideo") == 0 ? "video" : "voice";
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(m, kind), "path"));

		snprintf(who, sizeof(who), "bot [%s %s]", kind, path ? path : "?");
		chat_say(who, caption);
	} else if (strcmp(method, "deleteMessage") == 0)
		printf("bot deletes #%lld\n", (long long)mid);
	else if (strcmp(method, "editMessageReplyMarkup") == 0)
		printf("bot changes the buttons of #%lld\n", (long long)mid);
	else if (strcmp(method, "answerCallbackQuery") == 0) {
		text = cJSON_GetStringValue(cJSON_GetObjectItem(params, "text"));
		chat_say("bot answers the button", text ? text : "(silently)");
	} else
		printf("bot: %s\n", method);
	chat_keyboard(c, m, method, mid);
	fflush(stdout);
}

/* Start the long poll for what the bot sends after the last seen entry. */
static void
chat_poll_start(struct chat *c, double wait)
{
	char *url;

	xasprintf(&url, "%s/chat?chat_id=%lld&since=%lld&count=1&wait=%.1f", c->url,
	    (long long)c->chat_id, c->seq, wait);
	if ((c->poll = curl_easy_init()) == NULL)
		fatalx("curl_easy_init");
	free(c->pollbuf.p);
	c->pollbuf.p = xstrdup("");
	c->pollbuf.n = 0;
	curl_easy_setopt(c->poll, CURLOPT_URL, url);
	curl_easy_setopt(c->poll, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->poll, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->poll, CURLOPT_TIMEOUT_MS, (long)(wait * 1000) + 10000L);
	curl_easy_setopt(c->poll, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(c->poll, CURLOPT_WRITEDATA, &c->pollbuf);
	curl_multi_add_handle(c->multi, c->poll);
	free(url);
}

/* The long poll answered: show the new entries. -1 when tgsim is gone. */
static int
chat_poll_done(struct chat *c, int show)
{
	const cJSON *m;
	long code = 0;
	cJSON *j;

	curl_easy_getinfo(c->poll, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(c->multi, c->poll);
	curl_easy_cleanup(c->poll);
	c->poll = NULL;
	if (code != 200)
		return -1;
	j = cJSON_Parse(c->pollbuf.p);
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) {
		long long seq = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(m, "seq"));

		if (seq <= c->seq)
			continue;
		c->seq = seq;
		c->last = now_mono();
		c->waiting = 0;
		if (show)
			chat_show(c, m);
	}
	cJSON_Delete(j);
	return 0;
}

/* Drive the long poll; returns -1 when tgsim stopped answering. */
static int
chat_poll_step(struct chat *c, double wait, int show)
{
	CURLMsg *msg;
	int running, left;

	if (c->poll == NULL)
		chat_poll_start(c, wait);
	curl_multi_perform(c->multi, &running);
	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->poll &&
		    chat_poll_done(c, show) == -1)
			return -1;
	return 0;
}

/* Where the chat stands now: entries already there are not shown. */
static void
chat_catch_up(struct chat *c)
{
	chat_poll_start(c, 0);
	while (c->poll != NULL) {
		curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
		if (chat_poll_step(c, 0, 0) == -1)
			errx(1, "tgsim does not answer at %s", c->url);
	}
}

/*
 * Wait on both stdin and the long poll (curl_multi_poll with stdin as an
 * extra fd), so a typed line goes out at once while the bot's messages
 * print as they come. After stdin ends, go on until the bot has been
 * quiet for the linger time.
 */
static int
chat_run(struct chat *c)
{
	struct curl_waitfd in = { .fd = 0, .events = CURL_WAIT_POLLIN };
	int reading;

	chat_catch_up(c);
	c->last = now_mono();
	while (!c->eof || c->inlen > 0 || c->waiting || now_mono() - c->last < c->linger) {
		reading = !c->eof && !c->waiting;
		in.revents = 0;
		curl_multi_poll(c->multi, reading ? &in : NULL, reading ? 1 : 0, 500, NULL);
		if (reading && (in.revents & CURL_WAIT_POLLIN))
			chat_read(c);
		chat_lines(c);
		if (chat_poll_step(c, 25, 1) == -1)
			errx(1, "tgsim does not answer at %s", c->url);
		if (c->waiting && now_mono() > c->wait_until) {
			warnx("!wait: the bot has said nothing for %d s", CHAT_WAIT);
			c->waiting = 0;
		}
	}
	return 0;
}

/* chat --tgsim HOST:PORT --chat-id N: talk to the bot as a parent. */
int
cmd_chat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tgsim", required_argument, NULL, 't' },
		{ "chat-id", required_argument, NULL, 'i' },
		{ "lang", required_argument, NULL, 'l' },
		{ "linger", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct chat c = { .linger = 10 };
	const char *addr = NULL;
	int ch, rc;

	one_bot("chat");
	c.lang = gc.cfg.default_language;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 't')
			addr = optarg;
		else if (ch == 'i')
			c.chat_id = arg_id(optarg, "--chat-id");
		else if (ch == 'l')
			c.lang = optarg;
		else if (ch == 'w')
			c.linger = (double)arg_id(optarg, "--linger");
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc || addr == NULL || c.chat_id == 0)
		usage(EXIT_USAGE);
	xasprintf(&c.url, "http://%s/control", addr);
	if ((c.multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init");
	rc = chat_run(&c);
	if (c.poll != NULL) {
		curl_multi_remove_handle(c.multi, c.poll);
		curl_easy_cleanup(c.poll);
	}
	curl_multi_cleanup(c.multi);
	cJSON_Delete(c.kb);
	free(c.pollbuf.p);
	free(c.url);
	return rc;
}
