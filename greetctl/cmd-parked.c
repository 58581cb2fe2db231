/* SPDX-License-Identifier: ISC */
/*
 * cmd-parked.c: parked: work set aside because it failed the same way
 * every time (table parked, migration 9), of the bots shown. Today that
 * is an update the database refused three times for its own data
 * (greetbot-tg's update_park): counted as processed so that it never
 * stops the updates behind it, alerted to the admin once, counted in
 * /metrics (greetbot_parked), and kept here with its error and the
 * update as Telegram sent it, for a person to look at. Read-only.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db.h"
#include "greetctl.h"
#include "xmalloc.h"

/* The parked rows of the bots shown, oldest first. */
#define PARKED_SQL	"SELECT id, bot_id AS bot, kind, ref, error, created_at, payload " \
	"FROM parked WHERE " IN_SCOPE("bot_id") " ORDER BY id"

/* Untrusted text, as clean terminal lines, each after indent (and two
 * spaces for each tab it starts with: cJSON_Print's nesting). */
static void
parked_print_text(const char *s, const char *indent)
{
	char *copy = xstrdup(s), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		size_t tabs = strspn(l, "\t");
		char *clean = term_clean(l + tabs, 0);

		printf("%s%*s%s\n", indent, (int)(2 * tabs), "", clean);
		free(clean);
	}
	free(copy);
}

/*
 * -v: each item's whole error and its payload below the table (a cell
 * would cut them), the payload indented as JSON when it is JSON.
 */
static void
parked_details(sqlite3 *db)
{
	sqlite3_stmt *st = db_prep(db, PARKED_SQL, "s", gc.scope);

	while (db_step(st) == SQLITE_ROW) {
		const char *payload = (const char *)sqlite3_column_text(st, 6);
		cJSON *j = payload != NULL ? cJSON_Parse(payload) : NULL;
		char *pretty = j != NULL ? cJSON_Print(j) : NULL;

		printf("\nparked %lld, %s %lld of bot %s:\n", (long long)sqlite3_column_int64(st, 0),
		    sqlite3_column_text(st, 2), (long long)sqlite3_column_int64(st, 3),
		    sqlite3_column_text(st, 1));
		parked_print_text((const char *)sqlite3_column_text(st, 4), "  error: ");
		printf("  payload:%s\n", payload == NULL ? " (none)" : "");
		if (payload != NULL)
			parked_print_text(pretty != NULL ? pretty : payload, "    ");
		free(pretty);
		cJSON_Delete(j);
	}
	db_done(st);
}

/* --json: the rows, each payload as the JSON it holds (a string when it
 * is not JSON). */
static void
parked_json(sqlite3 *db)
{
	cJSON *a = rows_json(db_prep(db, PARKED_SQL, "s", gc.scope)), *row;

	cJSON_ArrayForEach(row, a) {
		const char *payload = cJSON_GetStringValue(cJSON_GetObjectItem(row, "payload"));
		cJSON *j = payload != NULL ? cJSON_Parse(payload) : NULL;

		if (j != NULL)
			cJSON_ReplaceItemInObject(row, "payload", j);
	}
	json_print(a);
}

/* parked [-v]: the parked work of the bots shown; exits 0, none or some. */
int
cmd_parked(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, verbose = 0;
	sqlite3 *db;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+v", opts, NULL)) != -1) {
		if (ch == 'v')
			verbose = 1;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	db = ctl_db(0);
	if (gc.json)
		parked_json(db);
	else if (rows_table(db_prep(db, PARKED_SQL, "s", gc.scope), "payload", "") > 0 &&
	    verbose)
		parked_details(db);
	db_close(db);
	return 0;
}
