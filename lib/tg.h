/* SPDX-License-Identifier: ISC */
/* tg.h: the Bot API client, libcurl multi driven by a libevent loop. */
#ifndef GREETBOT_TG_H
#define GREETBOT_TG_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct event_base;
struct tg;
struct tg_call;

struct tg_result {
	long		 http_status;	/* 0 when no HTTP answer arrived */
	int		 ok;		/* the body's "ok" was true */
	int		 transport_error; /* timeout, refused, reset, TLS...: retryable */
	int		 error_code;	/* the body's error_code, else 0 */
	int		 retry_after;	/* parameters.retry_after (429), else 0 */
	const char	*description;	/* Telegram's or curl's text, token redacted; never NULL */
	const cJSON	*result;	/* the body's "result"; valid only during the callback */
};
typedef void (*tg_cb)(const struct tg_result *, void *arg);

/*
 * Callbacks always run from the event loop, never from inside tg_call() or
 * tg_upload(). A callback may start calls, cancel calls and tg_free() the
 * client (the rest of that batch is then dropped without callbacks).
 * CURLOPT_NOSIGNAL is set, so the process should ignore SIGPIPE.
 */

/* requests go to {api_url}/bot{token}/{method}; the token is registered with log_add_secret */
struct tg	*tg_new(struct event_base *, const char *api_url, const char *token);
void		 tg_free(struct tg *);	/* cancels everything in flight without callbacks */
/* Defaults for later calls: 10 s connect, 30 s total (uploads: 10x total). */
void		 tg_set_timeouts(struct tg *, long connect_ms, long total_ms);
/* fn sees every finished call's result first (the bot's health of the
 * Bot API), before the call's own callback. */
typedef void (*tg_observer)(const char *method, const struct tg_result *, void *);
void		 tg_set_observer(struct tg *, tg_observer, void *);
/* POST params as application/json; takes ownership of params (may be NULL).
 * timeout_ms 0 = the default total timeout (long polls pass their own). */
struct tg_call	*tg_call(struct tg *, const char *method, cJSON *params, long timeout_ms, tg_cb, void *arg);
/* multipart/form-data: each top-level param becomes a field (strings as-is,
 * numbers as decimal, objects/arrays as JSON text), plus the file at path in
 * file_field with the given filename. Takes ownership of params.
 * An unreadable file fails the call (through the callback, ok=0,
 * transport_error=0, http_status=0). */
struct tg_call	*tg_upload(struct tg *, const char *method, cJSON *params, const char *file_field, const char *path, const char *filename, tg_cb, void *arg);
/* The same with several files (a video and its thumbnail: the thumbnail's
 * parameter says "attach://FIELD"). A file that cannot be read fails the
 * call, as with tg_upload. */
struct tg_file_part {
	const char	*field;
	const char	*path;
	const char	*filename;
};
struct tg_call	*tg_upload_files(struct tg *, const char *method, cJSON *params,
		    const struct tg_file_part *, size_t, tg_cb, void *arg);
/* POST a JSON text to any url, with extra header lines ("Name: value",
 * NULL-terminated, may be NULL); no proxy. ok is a 2xx status, result is
 * NULL (tgsim's webhook delivery). */
struct tg_call	*tg_post_url(struct tg *, const char *url, const char *json,
		    const char *const *headers, long timeout_ms, tg_cb, void *arg);
/* At most n connections to one host at once (default 16). */
void		 tg_set_max_connections(struct tg *, long n);
void		 tg_cancel(struct tg_call *);	/* no callback afterwards */
int		 tg_inflight(const struct tg *);
/* Build a file download URL {api_url}/file/bot{token}/{file_path} (xmalloc'd). */
char		*tg_file_url(const struct tg *, const char *file_path);

/* obj[key] as a 64-bit integer (Telegram ids fit in 2^53); 0 when absent. */
int64_t		 tg_json_int64(const cJSON *obj, const char *key);

#endif
