/* SPDX-License-Identifier: ISC */
/*
 * tgsim.h: tgsim, the local Telegram Bot API simulator: its process-wide
 * state (sim, defined in tgsim.c), the types its parts share, and what
 * each part offers the others. The parts: tgsim.c (main, options,
 * listening, start-up and shut-down, the router of every request and the
 * small helpers), table.c (the string-keyed hash table), http.c (a
 * request's parameters, the JSON replies), chat.c (chats, their messages,
 * and what the bot sent to each), waiter.c (requests held: long polls,
 * delayed calls), updates.c (the update queue), webhook.c (webhook
 * deliveries; setWebhook, deleteWebhook, getWebhookInfo), media.c (stored
 * files: uploads, file_ids, MP4 and OGG headers, thumbnails, downloads),
 * api.c (the Bot API: flood limits, faults, the methods and their
 * dispatch) and control.c (the /control/ interface tests use to play the
 * user). apispec.c and multipart.c stand on their own.
 */
#ifndef GREETBOT_TGSIM_H
#define GREETBOT_TGSIM_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/util.h>

struct apispec;
struct evhttp;
struct evhttp_request;
struct event;
struct event_base;
struct tg;
struct tg_call;

#define TG_MAX_BODY		(60 * 1024 * 1024)
#define TG_MAX_WAIT		300		/* seconds, any long poll */
#define TG_HANG_DEFAULT_MS	600000		/* "timeout" fault without ms */
#define TG_LATENCY_DEFAULT_MS	1000
#define TG_MAX_TEXT		4096		/* UTF-16 code units */
#define TG_MAX_CAPTION		1024
#define TG_MAX_CALLBACK_DATA	64
#define TG_MAX_UPDATES		100
#define TG_WEBHOOK_CONNS	40		/* setWebhook's max_connections default */
#define TG_WEBHOOK_TIMEOUT_MS	30000		/* one delivery */
#define TG_WEBHOOK_BACKOFF_MAX	60		/* seconds between tries of one update */

/* One parameter of a call: from the query string or the body. */
struct param {
	char	*name;
	char	*value;		/* NUL-terminated; uploads may hold any byte */
	size_t	 len;
	char	*filename;	/* set for multipart file parts only */
	char	*content_type;
};

struct params {
	struct param	*v;
	size_t		 n;
};

/* A string-keyed hash table (chats, files, callback queries). */
struct table_entry {
	char			*key;
	void			*value;
	struct table_entry	*next;
};

struct table {
	struct table_entry	**buckets;
	size_t			  nbuckets;
	size_t			  n;
};

/* A token bucket for flood limits. */
struct rate {
	double	tokens;
	double	last;		/* monotonic seconds; 0 before the first call */
};

struct chat {
	int64_t		 id;
	char		*type;		/* "private", "group", ... */
	char		*first_name;	/* private chats */
	char		*title;		/* other chats */
	cJSON		**msgs;		/* [message_id - 1]; NULL once deleted */
	size_t		  nmsgs;	/* the last message_id given out */
	size_t		  capmsgs;
	cJSON		*log;		/* what the bot sent; seq = index + 1 */
	int64_t		  nlog;
	struct rate	  bucket;
};

struct file {
	char		*file_id;
	char		*unique_id;
	char		*file_path;	/* relative, as getFile returns it */
	char		*path;		/* absolute, under --media-dir */
	const char	*kind;		/* "video", "voice" or "thumbnail" */
	char		*file_name;
	size_t		 size;
	int64_t		 width, height, duration;
	struct file	*thumb;		/* a video's thumbnail, or NULL */
};

struct callback {
	char	*id;
	int64_t	 chat_id;
	int	 answered;
};

struct update {
	TAILQ_ENTRY(update)	 entry;
	int64_t			 id;
	cJSON			*json;
	struct tg_call		*post;		/* webhook delivery in flight */
	int			 tries;		/* webhook deliveries that failed */
	double			 next_at;	/* monotonic: no delivery before */
};

/* The webhook setWebhook set (url NULL: none, getUpdates works). */
struct webhook {
	char		*url;
	char		*header;	/* the secret token's header line, or NULL */
	int		 max_connections;
	int		 in_flight;
	int64_t		 delivered;	/* answered 2xx */
	int64_t		 failed;	/* non-2xx or no answer */
	int64_t		 last_error_date;
	char		*last_error_message;
	struct tg	*client;	/* libcurl multi on the loop */
	struct event	*timer;		/* the next retry */
};

/* A request kept pending: a long poll, or a call delayed by a fault. */
enum waiter_kind {
	WAIT_UPDATES,		/* getUpdates with a timeout */
	WAIT_CHAT,		/* GET /control/chat with wait= */
	WAIT_DELAY,		/* "latency" fault: run the call later */
	WAIT_HANG		/* "timeout" fault: never answer, then close */
};

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	enum waiter_kind	 kind;
	struct evhttp_request	*req;
	struct event		*timer;
	struct event		*watch;		/* the client's socket */
	int			 limit;		/* WAIT_UPDATES */
	int64_t			 chat_id;	/* WAIT_CHAT */
	int64_t			 since, count;	/* WAIT_CHAT */
};

enum fault_kind { FAULT_403, FAULT_500, FAULT_TIMEOUT, FAULT_LATENCY, FAULT_502 };

/* The chat_id of a fault armed for every call (all=1): the Bot API down. */
#define FAULT_ALL	INT64_MIN

struct fault {
	TAILQ_ENTRY(fault)	 entry;
	int64_t			 chat_id;
	enum fault_kind		 kind;
	int			 ms;
	int			 count;		/* calls left; 0 = until cleared */
};

struct stats {
	cJSON	*calls;			/* method -> count */
	int64_t	 uploads;
	int64_t	 thumbnails_ignored;	/* sendVideo thumbnails Telegram would ignore */
	int64_t	 rate_limited;		/* 429s answered */
	int64_t	 rejected;		/* other 4xx answered */
	int64_t	 faults;		/* faults injected into calls */
	int64_t	 updates;		/* updates injected */
	int64_t	 callbacks;		/* callback queries injected */
	int64_t	 callbacks_answered;
};

/* One Bot API call being handled. */
struct call {
	struct evhttp_request	*req;
	const char		*method;	/* canonical name */
	struct params		 params;
	int64_t			 chat_id;	/* the chat it targets, or 0 */
};

/* The whole simulator: one bot, its chats, files and pending requests. */
struct tgsim {
	struct event_base	*base;
	struct evhttp		*http;
	struct apispec		*spec;
	const char		*token;		/* NULL: any token works */
	char			*media_dir;	/* absolute */
	int64_t			 bot_id;
	struct table		 chats;		/* "%lld" -> struct chat */
	struct table		 files;		/* file_id -> struct file */
	struct table		 file_paths;	/* file_path -> (same, unowned) */
	struct table		 callbacks;	/* id -> struct callback */
	TAILQ_HEAD(, update)	 updates;
	TAILQ_HEAD(, waiter)	 waiters;
	TAILQ_HEAD(, fault)	 faults;
	int64_t			 next_update_id;
	int64_t			 next_file;
	int64_t			 next_callback;
	cJSON			*allowed;	/* allowed_updates; NULL: default */
	double			 global_rate;	/* calls/s, 0 = unlimited */
	double			 chat_rate;
	struct rate		 global_bucket;
	struct stats		 stats;
	struct webhook		 webhook;
};

extern struct tgsim sim;

/* tgsim.c */
double		 now_mono(void);
int		 parse_int64(const char *s, int64_t *out);
size_t		 utf16_len(const char *s);
int		 ctype_is(const char *ctype, const char *type);
void		 json_add_int(cJSON *obj, const char *key, int64_t v);
int64_t		 json_int(const cJSON *obj, const char *key, int64_t def);
char		*json_param(const cJSON *item);

/* table.c */
void		*table_get(const struct table *, const char *key);
void		 table_put(struct table *, const char *key, void *value);
void		 table_clear(struct table *, void (*fn)(void *));

/* http.c */
void		 params_free(struct params *);
const struct param *params_get(const struct params *, const char *name);
const char	*params_str(const struct params *, const char *name);
int		 params_int(const struct params *, const char *name, int64_t *out);
int		 params_from_request(struct params *, struct evhttp_request *,
		    const char **err);
void		 http_reply_json(struct evhttp_request *, int code, cJSON *body);
void		 api_ok(struct evhttp_request *, cJSON *result);
void		 api_error(struct evhttp_request *, int code, int retry_after,
		    const char *description);
void		 call_fail(struct call *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
cJSON		*control_body(void);
void		 control_fail(struct evhttp_request *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* chat.c */
struct chat	*chat_get(int64_t id);
void		 chat_free(void *);
void		 chat_set(char **field, const char *value);
cJSON		*chat_json(const struct chat *);
int64_t		 chat_next_id(struct chat *);
cJSON		*chat_message(struct chat *, int64_t id);
void		 chat_delete(struct chat *, int64_t id);
cJSON		*bot_user_json(int full);
cJSON		*user_json(int64_t id, const char *first_name, const char *language_code);
cJSON		*message_new(struct chat *, cJSON *from);
void		 json_replace(cJSON *obj, const char *key, cJSON *value);
cJSON		*chatlog_entry(const struct chat *, const struct call *, const cJSON *msg);
void		 chatlog_reply(struct evhttp_request *, int64_t chat_id, int64_t since);
int64_t		 chatlog_count(int64_t chat_id, int64_t since);
void		 chatlog_add(struct chat *, const struct call *, cJSON *entry);

/* waiter.c */
struct waiter	*waiter_new(enum waiter_kind, struct evhttp_request *, int64_t ms);
struct evhttp_request *waiter_take(struct waiter *);
void		 waiter_drop(struct waiter *);
struct waiter	*waiter_find_updates(void);

/* updates.c */
int		 updates_set_allowed(const char *s);
int64_t		 updates_push(const char *kind, cJSON *obj);
void		 update_free(struct update *);
void		 updates_confirm(int64_t offset);
void		 updates_reply(struct evhttp_request *, int limit);

/* webhook.c */
void		 webhook_pump(void);
void		 webhook_timer_cb(evutil_socket_t, short, void *);
void		 webhook_clear(void);
cJSON		*webhook_info(void);
void		 m_setwebhook(struct call *);
void		 m_deletewebhook(struct call *);
void		 m_getwebhookinfo(struct call *);

/* media.c */
void		 file_free(void *);
cJSON		*file_media_json(const struct file *);
cJSON		*file_log_json(const struct file *);
cJSON		*file_json(const struct file *);
struct file	*call_media(struct call *, const char *kind);
void		 call_thumbnail(struct call *, struct file *video);
void		 file_request(struct evhttp_request *);

/* api.c */
extern const char *fault_names[5];	/* by enum fault_kind */
void		 fault_remove(struct fault *);
void		 fault_clear(int64_t chat_id);
char		*request_path(struct evhttp_request *);
void		 api_request(struct evhttp_request *, int delayed);

/* control.c */
void		 callback_free(void *);
void		 control_request(struct evhttp_request *, const char *name);

#endif
