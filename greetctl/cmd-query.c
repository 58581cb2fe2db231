/* SPDX-License-Identifier: ISC */
/*
 * cmd-query.c: the queries, read-only: users, requests, assets and
 * attempts, of the bots shown.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <err.h>

#include <sqlite3.h>

#include "db.h"
#include "greetctl.h"
#include "xmalloc.h"

/* users: everyone who has talked to the bots shown; blocked: they blocked the
 * bot, barred_at: an operator blocked them (greetctl block). */
int
cmd_users(int argc, char **argv)
{
	sqlite3 *db;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	rows_print(db_prep(db, "SELECT u.bot_id AS bot, u.user_id, u.chat_id, u.first_name AS "
	    "name, u.phone, u.language, u.state, u.blocked, u.barred_at, (SELECT count(*) FROM "
	    "requests r WHERE r.bot_id = u.bot_id AND r.user_id = u.user_id) AS requests, "
	    "u.created_at, "
	    "u.updated_at FROM users u WHERE " IN_SCOPE("u.bot_id") " ORDER BY u.bot_id, "
	    "u.user_id", "s", gc.scope), NULL);
	db_close(db);
	return 0;
}

/* requests [--user ID] [--state S]: parents' orders, oldest first. */
int
cmd_requests(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const states[] = { "PENDING", "COMPLETED", "FAILED",
	    "CANCELLED", NULL };
	const char *state = NULL;
	int64_t user = 0;
	sqlite3 *db;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+u:s:", opts, NULL)) != -1) {
		if (ch == 'u')
			user = arg_id(optarg, "--user");
		else if (ch == 's')
			state = arg_state(optarg, states);
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	rows_print(db_prep(db, "SELECT r.id, r.bot_id AS bot, r.user_id, r.chat_id, "
	    "r.asset_id, a.display_name AS name, a.template_id AS template, r.state, a.state "
	    "AS asset_state, r.created_at, r.updated_at FROM requests r JOIN assets a ON "
	    "a.id = r.asset_id WHERE " IN_SCOPE("r.bot_id") " AND (? = 0 OR r.user_id = ?) "
	    "AND (? IS NULL OR r.state = ?) ORDER BY r.id", "sllss", gc.scope, user, user,
	    state, state), NULL);
	db_close(db);
	return 0;
}

/*
 * assets [--state S]: one video per (bot, template version, name). An
 * asset waiting for another bot's render of the same name (assets.shares)
 * shows it in its state: "PENDING (shares 12)"; --json has the state as
 * it is and "shares".
 */
int
cmd_assets(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const states[] = { "PENDING", "GENERATING", "AVAILABLE",
	    "FAILED", NULL };
	const char *state = NULL;
	sqlite3 *db;
	char *sql;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+s:", opts, NULL)) != -1) {
		if (ch == 's')
			state = arg_state(optarg, states);
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	xasprintf(&sql, "SELECT a.id, a.bot_id AS bot, a.template_id AS template, "
	    "a.template_version AS version, a.display_name AS name, a.name_key, %s AS state, "
	    "a.shares, (SELECT count(*) FROM requests r WHERE r.asset_id = a.id) AS requests, "
	    "(SELECT count(*) FROM attempts t WHERE t.asset_id = a.id) AS attempts, a.file_id, "
	    "a.file_path, a.created_at, a.updated_at FROM assets a WHERE " IN_SCOPE("a.bot_id")
	    " AND (? IS NULL OR a.state = ?) ORDER BY a.id", gc.json ? "a.state" :
	    "a.state || coalesce(' (shares ' || a.shares || ')', '')");
	rows_print(db_prep(db, sql, "sss", gc.scope, state, state),
	    "name_key,shares,file_id,file_path,created_at");
	free(sql);
	db_close(db);
	return 0;
}

/* Print s indented, as clean terminal text. */
static void
print_indented(const char *s, const char *indent)
{
	char *clean = term_clean(s, 1), *save = NULL;

	for (char *l = strtok_r(clean, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		printf("%s%s\n", indent, l);
	free(clean);
}

/* The end of each failed attempt's stderr: where scripts say why. */
static void
attempts_stderr(sqlite3 *db, int64_t asset)
{
	sqlite3_stmt *st = db_prep(db, "SELECT id, stderr_tail FROM attempts WHERE asset_id "
	    "= ? AND coalesce(status, '') <> 'ok' AND coalesce(stderr_tail, '') <> '' "
	    "ORDER BY id", "l", asset);

	while (db_step(st) == SQLITE_ROW) {
		printf("\nattempt %lld, end of stderr:\n",
		    (long long)sqlite3_column_int64(st, 0));
		print_indented(last_lines((const char *)sqlite3_column_text(st, 1), 5), "  ");
	}
	db_done(st);
}

/* An asset of the bots shown, else exit 1. */
static void
asset_need(sqlite3 *db, int64_t asset)
{
	const char *bots;

	if (db_int(db, 0, "SELECT count(*) FROM assets WHERE id = ? AND "
	    IN_SCOPE("bot_id"), "ls", asset, gc.scope))
		return;
	bots = scope_text();
	errx(1, "no asset %lld (%s)", (long long)asset, bots);
}

/* attempts ASSET: every run of the render script for one asset. */
int
cmd_attempts(int argc, char **argv)
{
	int64_t asset, shares;
	sqlite3 *db;

	if (argc != 2)
		usage(EXIT_USAGE);
	asset = arg_id(argv[1], "ASSET");
	db = ctl_db(0);
	asset_need(db, asset);
	shares = db_int(db, 0, "SELECT shares FROM assets WHERE id = ?", "l", asset);
	rows_print(db_prep(db, "SELECT id, job_id AS job, node, started_at, finished_at, "
	    "duration, status, exit_code, signal, cause, cpu_seconds, max_rss_kb, "
	    "stderr_tail FROM attempts WHERE asset_id = ? ORDER BY id", "l", asset),
	    "finished_at,stderr_tail");
	if (!gc.json && shares != 0)
		printf("\nasset %lld waits for the render of asset %lld (another bot's): its "
		    "attempts are those of asset %lld\n", (long long)asset, (long long)shares,
		    (long long)shares);
	if (!gc.json)
		attempts_stderr(db, asset);
	db_close(db);
	return 0;
}
