/* SPDX-License-Identifier: ISC */
/*
 * ctl.c: what every greetctl command shares: the process-wide state (gc,
 * greetctl.h), the byte buffer, the database greetbotd made and the bots
 * shown (--bot). Not in greetctl.c (main), so that the lint links without
 * main: the fuzz target and the unit tests use it.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "config.h"
#include "db.h"
#include "greetctl.h"
#include "jobs.h"
#include "texts.h"
#include "xmalloc.h"

/* The process-wide state (greetctl.h). */
struct greetctl gc;

/* Append n bytes, keeping the buffer NUL-terminated. */
void
buf_add(struct buf *b, const void *p, size_t n)
{
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Where the configuration came from, for messages that name a path of
 * it: "config /etc/greetbot/greetbot.conf", or that there was none. */
const char *
config_origin(void)
{
	static char s[1200];

	if (gc.cfg.path != NULL)
		snprintf(s, sizeof(s), "config %s", gc.cfg.path);
	else
		snprintf(s, sizeof(s), "no config file: the built-in defaults and GREETBOT_* "
		    "variables; give -c FILE");
	return s;
}

/* --- the database ------------------------------------------------------------ */

/*
 * The texts a bot's parents read (its messages_dir and default language),
 * loaded once per bot: what an action tells a parent (an order cancelled)
 * reads as the bot's own replies. NULL (the keys) when they cannot be read.
 */
static struct texts *
ctl_texts(const char *bot)
{
	static struct {
		char		*bot;
		struct texts	*texts;
	} loaded[CONFIG_BOTS_MAX + 1];
	const struct config_bot *b = config_bot(&gc.cfg, bot);
	const struct config *c = b != NULL ? b->cfg : &gc.cfg;
	char err[512];
	size_t i;

	for (i = 0; i < CONFIG_BOTS_MAX && loaded[i].bot != NULL; i++)
		if (strcmp(loaded[i].bot, bot) == 0)
			return loaded[i].texts;
	if ((loaded[i].texts = texts_load(c->messages_dir, c->default_language, err,
	    sizeof(err))) == NULL)
		warnx("texts of bot %s: %s: the parent is told in message keys", bot, err);
	loaded[i].bot = xstrdup(bot);
	return loaded[i].texts;
}

/*
 * The database greetbotd made: read-only for queries, read-write (through
 * db_open, so with its busy timeout and migrations) for actions. greetctl
 * never creates one: a wrong state_dir would otherwise look empty.
 */
sqlite3 *
ctl_db(int write)
{
	sqlite3 *db;

	if (*gc.cfg.db_path == '\0')
		errx(1, "this node has no database (bot_enabled = 0 and no db_path: a render "
		    "node); run greetctl on the node that has it");
	if (access(gc.cfg.db_path, F_OK) == -1)
		errx(1, "no database at %s: %s (check state_dir or db_path; %s)",
		    gc.cfg.db_path, strerror(errno), config_origin());
	if ((db = db_open_readonly(gc.cfg.db_path)) == NULL)
		errx(1, "cannot open %s", gc.cfg.db_path);
	/* A command line can wait for greetbotd's short transactions. */
	db_set_busy_wait(db, 10000);
	if (db_schema_version(db) == 0)
		errx(1, "%s has no tables yet: greetbotd has not run on it", gc.cfg.db_path);
	if (write) {
		db_close(db);
		db = db_open(gc.cfg.db_path);
		db_set_busy_wait(db, 10000);
		/* Actions change jobs through the state machine, as the bot. */
		jobs_init(&(struct jobs_env){ .db = db, .node = gc.cfg.node_name,
		    .max_attempts = gc.cfg.max_attempts, .alert_window = gc.cfg.alert_window,
		    .texts = ctl_texts });
	}
	return db;
}

/* The database could not take an action (locked, disk full): nothing
 * was changed; say why and exit 1. */
void
ctl_db_failed(void)
{
	const char *why = db_problem(NULL);

	errx(1, "nothing was changed: %s; try again", why != NULL ? why :
	    "the database refused the change");
}

/* --- the bots shown ------------------------------------------------------------ */

/* The bots (of those shown) the user has talked to, in a fresh array;
 * exits 1 (a transaction open undone) when none. */
static size_t
user_bots(sqlite3 *db, int64_t user, char ***bots)
{
	sqlite3_stmt *st = db_prep(db, "SELECT bot_id FROM users WHERE user_id = ? AND "
	    IN_SCOPE("bot_id") " ORDER BY bot_id", "ls", user, gc.scope);
	size_t n = 0;

	*bots = NULL;
	while (db_step(st) == SQLITE_ROW) {
		*bots = xrealloc(*bots, (n + 1) * sizeof(**bots));
		(*bots)[n++] = db_col_str(st, 0);
	}
	db_done(st);
	if (n == 0) {
		if (!sqlite3_get_autocommit(db))
			db_rollback(db);
		errx(1, "no user %lld (%s)", (long long)user, scope_text());
	}
	return n;
}

/*
 * one(db, bot, user) on every bot shown that the user talked to, in one
 * transaction when write; what each did, in an array (exits 1 when the
 * user talked to none, or the database fails).
 */
cJSON *
user_on_bots(int64_t user, int write, user_bot_fn one)
{
	sqlite3 *db = ctl_db(write);
	cJSON *done = cJSON_CreateArray();
	char **bots;
	size_t n;

	if (write && db_begin(db) == -1)
		ctl_db_failed();
	n = user_bots(db, user, &bots);
	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(done, one(db, bots[i], user));
		free(bots[i]);
	}
	free(bots);
	if (write && db_commit(db) == -1)
		ctl_db_failed();
	db_close(db);
	return done;
}

/* Whether the bot is shown: --bot's, else every configured bot. */
int
bot_shown(const char *id)
{
	return gc.bot == NULL || strcmp(id, gc.cfg.selected) == 0;
}

/* The bots shown, for a message: "bot main" or "bots family, kids". */
const char *
scope_text(void)
{
	static char s[600];
	struct buf b = { xstrdup(""), 0 };
	int n = 0;

	for (int i = 0; i < gc.cfg.nbots; i++)
		if (bot_shown(gc.cfg.bots[i].id)) {
			buf_add(&b, ", ", n++ ? 2 : 0);
			buf_add(&b, gc.cfg.bots[i].id, strlen(gc.cfg.bots[i].id));
		}
	/* Static: it is said on the way out (errx), and must not leak. */
	snprintf(s, sizeof(s), "%s %s", n == 1 ? "bot" : "bots", b.p);
	free(b.p);
	return s;
}

/*
 * --bot ID: the configuration as that bot sees it (its texts, default
 * template ...), and queries of its rows only; an unknown id is bad usage,
 * with the list of bots. Without it a lone bot is selected all the same,
 * and the queries show every configured bot.
 */
void
scope_select(const char *id)
{
	cJSON *a = cJSON_CreateArray();
	char err[512];

	if ((id != NULL || gc.cfg.nbots == 1) &&
	    config_select(&gc.cfg, id, err, sizeof(err)) == -1)
		errx(EXIT_USAGE, "--bot: %s", err);
	gc.bot = id;
	for (int i = 0; i < gc.cfg.nbots; i++)
		if (bot_shown(gc.cfg.bots[i].id))
			cJSON_AddItemToArray(a, cJSON_CreateString(gc.cfg.bots[i].id));
	gc.scope = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
}

/*
 * The one bot a command acts for: --bot's or the only one. With several
 * and no --bot, bad usage that says how to name it.
 */
const char *
one_bot(const char *command)
{
	const char *list;

	if (gc.cfg.selected != NULL)
		return gc.cfg.selected;
	list = scope_text();
	errx(EXIT_USAGE, "%s: the configuration has %s: say which with --bot ID",
	    command, list);
}
