/* SPDX-License-Identifier: ISC */
/*
 * greetctl.h: greetctl, the operator's command line: its process-wide
 * state, what the command families share, and the commands that main's
 * table runs (greetctl.c). One file per command family: cmd-query.c
 * (users, requests, assets, attempts), cmd-parked.c (parked),
 * cmd-action.c (retry, send), cmd-support.c (cancel, block, unblock),
 * cmd-privacy.c (history, forget), cmd-status.c (status), cmd-template.c
 * (template list, check, preview), cmd-chat.c (chat) and cmd-backup.c
 * (backup, restore; their layout and files: backup.h). Beside them:
 * ctl.c (the state, the database, the bots shown), output.c (tables for
 * people, JSON for scripts), http.c (libcurl easy), run.c (programs run
 * by fork and execve), lint.c (template.conf and its lint, lint.h) and
 * sample.c (a render with greetbotd's isolation).
 */
#ifndef GREETBOT_GREETCTL_H
#define GREETBOT_GREETCTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "renderer.h"
#include "sandbox.h"

struct event_base;

#define EXIT_USAGE	2		/* 0 ok, 1 failed or not found */
#define CELL_WIDTH	40		/* columns of a table cell at most */
#define SYS_PATH	"/usr/local/bin:/usr/bin:/bin"
#define MAX_VIDEO	(50LL * 1024 * 1024)	/* as greetbotd: Telegram's limit */
#define MAX_CAPTURE	(4 * 1024 * 1024)	/* bytes kept of a program's output */
#define MAX_TEXT	4096		/* characters in a Telegram message */
#define BAR_WIDTH	30
#define CHAT_WAIT	60		/* seconds a "!wait" waits for the bot */

/* The process-wide state (defined in ctl.c). */
struct greetctl {
	struct config	cfg;
	int		json;
	const char	*bot;	/* --bot: queries show this bot only */
	char		*scope;	/* the bots shown, a JSON array (IN_SCOPE) */
	struct sandbox	sb;	/* as greetbotd's renderers, made on first use */
	int		sb_made;
};

extern struct greetctl gc;

/* A growing byte buffer, always NUL-terminated. */
struct buf {
	char	*p;
	size_t	 n;
};

/*
 * SQL: whether a row's bot is one of those shown, bound to gc.scope. Rows
 * of bots the configuration does not name (another installation sharing
 * the database) are never shown.
 */
#define IN_SCOPE(col)	col " IN (SELECT value FROM json_each(?))"

/* A table for people: cells row by row (table_put), then table_print. */
struct table {
	size_t	  ncol;
	size_t	  n, cap;	/* cells, the header row first */
	char	**cell;
};

/* One render of a template for a name, in a temp tree (sample.c). */
struct sample {
	struct event_base	*base;
	struct render		*render;
	struct render_outcome	 o;
	int			 progress;	/* 0 quiet, 1 "progress" lines, 2 a bar */
	int			 shown;		/* the last percentage shown */
	int			 keep;		/* leave the temp tree for a look */
	int			 interrupted;	/* by SIGINT or SIGTERM */
	char			*tmp;		/* the temp tree */
	char			*work;		/* the render's work dir in it */
	const char		*dest;		/* where the video goes, or NULL */
	char			*version;
	uid_t			 uid;		/* the renderer's: its files */
};

/* greetctl.c */
void		 usage(int) __attribute__((noreturn));
int64_t		 arg_id(const char *s, const char *what);
const char	*arg_state(const char *s, const char *const *list);

/* ctl.c */
void		 buf_add(struct buf *, const void *, size_t);
const char	*config_origin(void);
sqlite3		*ctl_db(int write);
void		 ctl_db_failed(void) __attribute__((noreturn));
int		 bot_shown(const char *id);
const char	*scope_text(void);
void		 scope_select(const char *id);
const char	*one_bot(const char *command);
typedef cJSON	*(*user_bot_fn)(sqlite3 *, const char *bot, int64_t user);
cJSON		*user_on_bots(int64_t user, int write, user_bot_fn);

/* output.c */
void		 json_print(cJSON *);
char		*term_clean(const char *s, int keep_newlines);
int		 term_width(const char *);
void		 term_cut(char *s, int max);
void		 table_put(struct table *, char *);
void		 table_print(struct table *, const char *indent);
cJSON		*rows_json(sqlite3_stmt *);
int		 rows_table(sqlite3_stmt *, const char *skip, const char *indent);
int		 rows_print(sqlite3_stmt *, const char *skip);
const char	*last_lines(const char *s, int n);

/* http.c */
size_t		 http_write(char *ptr, size_t size, size_t nmemb, void *arg);
long		 http_call(const char *url, const char *form, long timeout_ms,
		    char **body);

/* run.c */
int		 run_capture(char *const argv[], int merge, char **out);

/* cmd-status.c: where greetbotd's HTTP endpoints are, or NULL */
char		*http_addr(void);

/* sample.c */
int		 ctl_sandbox(char *err, size_t errlen);
int		 sample_run(struct sample *, const char *id, const char *name,
		    char *err, size_t errlen);
char		*sample_logs(const struct sample *);
void		 sample_free(struct sample *);

/* The commands of main's table, one file per family: argv[0] is the
 * command's name; they return the exit status. */
int		 cmd_users(int, char **);	/* cmd-query.c */
int		 cmd_requests(int, char **);
int		 cmd_assets(int, char **);
int		 cmd_attempts(int, char **);
int		 cmd_parked(int, char **);	/* cmd-parked.c */
int		 cmd_retry(int, char **);	/* cmd-action.c */
int		 cmd_send(int, char **);
int		 cmd_cancel(int, char **);	/* cmd-support.c */
int		 cmd_block(int, char **);	/* block and unblock */
int		 cmd_history(int, char **);	/* cmd-privacy.c */
int		 cmd_forget(int, char **);
int		 cmd_status(int, char **);	/* cmd-status.c */
int		 cmd_template(int, char **);	/* cmd-template.c */
int		 cmd_chat(int, char **);	/* cmd-chat.c */
int		 cmd_backup(int, char **);	/* cmd-backup.c */
int		 cmd_restore(int, char **);

#endif
