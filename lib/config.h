/* SPDX-License-Identifier: ISC */
/* config.h: greetbot.conf (key = value) with GREETBOT_<KEY> overrides. */
#ifndef GREETBOT_CONFIG_H
#define GREETBOT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_BOTS_MAX	16	/* bots in one configuration */

struct config_bot;
struct config_section;

struct config {
	char	*path;			/* the file read, or NULL */
	char	*bot_id;		/* names this bot's rows; a file_id is per bot */
	char	*telegram_token;	/* resolved: telegram_token or the file's */
	char	*telegram_token_file;
	char	*telegram_api_url;
	int	 poll_timeout;		/* getUpdates long-poll seconds */
	char	*telegram_mode;		/* "polling" or "webhook" */
	char	*webhook_url;		/* the public HTTPS URL Telegram posts to */
	char	*webhook_listen;	/* host:port of greetbot-tg's HTTP server */
	char	*webhook_path;		/* the path it serves; default /telegram/<bot_id> */
	char	*webhook_secret;	/* resolved: webhook_secret or the file's */
	char	*webhook_secret_file;
	int	 webhook_max_connections;
	char	*redis_url;		/* empty: private redis-server in state_dir */
	char	*redis_prefix;
	char	*redis_server;		/* program for the embedded Redis */
	char	*state_dir;
	char	*db_path;		/* default: state_dir/greetbot.db; empty with
					   bot_enabled 0: no database */
	char	*templates_dir;
	char	*default_template;
	char	*render_script;
	char	*messages_dir;
	char	*bot_program;		/* default: greetbot-tg beside greetbotd */
	int	 bot_enabled;		/* 0: a render-only node, no bot process */
	int	 render_enabled;	/* 0: this node takes no render jobs */
	int	 speculate;		/* render when the preview is sent */
	char	*node_name;		/* Redis consumer name; default: hostname */
	int	 workers;		/* 0: number of CPUs */
	int	 render_timeout;	/* wall-clock seconds */
	int	 render_grace;		/* seconds between SIGTERM and SIGKILL */
	int	 drain_grace;		/* seconds running renders get on SIGTERM */
	int	 render_cpu;		/* RLIMIT_CPU seconds */
	int	 render_memory_mb;	/* RLIMIT_AS */
	int	 render_fsize_mb;	/* RLIMIT_FSIZE */
	int	 render_nofile;		/* RLIMIT_NOFILE */
	int	 render_nproc;		/* RLIMIT_NPROC */
	char	*render_user;		/* renderers run as this user when root */
	char	*service_user;		/* greetbot-tg runs as this user when root
					   ("": the uid render_uid_base - 1) */
	int	 render_uid_base;	/* root: slot N runs as this uid + N */
	int	 render_validate;	/* 0: no ffprobe (benchmarks only) */
	int	 max_attempts;
	int	 max_open_requests;	/* per user */
	int	 rate_global;	/* Bot API sends per second, all chats */
	int	 rate_chat;	/* sends per second to one chat */
	char	*http_listen;
	int64_t	 admin_chat_id;
	int	 alert_window;		/* seconds: one alert per cause per window */
	int	 history_days;		/* conversation history kept, then pruned */
	char	*default_language;
	char	*log_level;

	/*
	 * The bots: the main one (the keys outside any section, id bot_id)
	 * unless [bot ID] sections exist and no top-level token is set,
	 * then one per section in file order. Each has the whole
	 * configuration as that bot sees it: the top-level keys with its
	 * section's on top.
	 */
	int			 nbots;
	struct config_bot	*bots;
	char			*selected;	/* config_select's bot, or NULL */
	int			 bot_index;	/* its position: its preview slots */
	struct config_section	*sections;	/* as read, for building bots */

	/*
	 * What config_load found odd but took (a GREETBOT_ variable that is
	 * no setting), one sentence each, for the caller to print: greetbotd
	 * logs them, once (its children load the same environment and keep
	 * quiet), greetctl prints them on stderr.
	 */
	int			 nwarnings;
	char			**warnings;
};

struct config_bot {
	char		*id;
	int		 enabled;
	int		 index;		/* position in the file, from 0 */
	struct config	*cfg;		/* its view: bot_id, token, texts ... */
};

/*
 * Load defaults, then the file (may be NULL: defaults only), then the
 * environment. Relative paths are made absolute against the working
 * directory. On error prints a message naming the file and line (or the
 * variable, or the secret's file and what is wrong with it) to errbuf and
 * returns -1. Warnings are left in c->warnings.
 */
int	 config_load(struct config *, const char *path, char *errbuf, size_t errlen);
void	 config_free(struct config *);
/* The bot of that id, or NULL. */
const struct config_bot *config_bot(const struct config *, const char *id);
/*
 * Make c's own keys those of bot id (its token, texts, template, ...), as
 * greetbot-tg and greetctl --bot run for one bot. id NULL picks the only
 * bot, and is an error when there are several. -1 with a message.
 */
int	 config_select(struct config *, const char *id, char *err, size_t errlen);
/*
 * SIGHUP: read the file and environment again and take every changed key
 * that can change while running; keys that need a restart keep their
 * value. changed lists the keys that differ ("workers,rate_chat,...").
 * A selected bot stays selected. The bots' enabled flags and views are
 * taken; adding, removing or reordering bots needs a restart
 * ("bots(needs restart)").
 */
int	 config_reload(struct config *, char *changed, size_t changedlen,
	    char *err, size_t errlen);

#endif
