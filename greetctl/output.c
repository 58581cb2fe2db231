/* SPDX-License-Identifier: ISC */
/*
 * output.c: tables for people, JSON for scripts. Untrusted text (names,
 * stderr tails, template files) is made safe for a terminal before it is
 * printed.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <unistr.h>
#include <uniwidth.h>

#include "db.h"
#include "greetctl.h"
#include "xmalloc.h"

/* Print JSON (takes j). */
void
json_print(cJSON *j)
{
	char *s = cJSON_Print(j);

	printf("%s\n", s);
	free(s);
	cJSON_Delete(j);
}

/*
 * Untrusted text made safe for a terminal: control characters, bidi
 * overrides and invalid UTF-8 become '?', tabs and (unless kept) newlines
 * a space. The copy has room for an ellipsis (term_cut).
 */
char *
term_clean(const char *s, int keep_newlines)
{
	size_t len = strlen(s);
	const uint8_t *p = (const uint8_t *)s, *end = p + len;
	char *out = xmalloc(len + 4), *o = out;

	while (p < end) {
		ucs4_t uc;
		int n = u8_mbtouc(&uc, p, (size_t)(end - p));

		if (uc == '\n' && keep_newlines)
			*o++ = '\n';
		else if (uc == '\n' || uc == '\t' || uc == '\r')
			*o++ = ' ';
		else if (uc < 0x20 || (uc >= 0x7f && uc < 0xa0) || uc == 0xfffd ||
		    (uc >= 0x202a && uc <= 0x202e) || (uc >= 0x2066 && uc <= 0x2069))
			*o++ = '?';
		else {
			memcpy(o, p, (size_t)n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return out;
}

/* Display columns of clean UTF-8. */
int
term_width(const char *s)
{
	int w = u8_strwidth((const uint8_t *)s, "UTF-8");

	return w < 0 ? (int)strlen(s) : w;
}

/* Cut a term_clean string to max columns, ending it with an ellipsis. */
void
term_cut(char *s, int max)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s), off = 0;
	int w = 0;

	if (max <= 1 || term_width(s) <= max)
		return;
	while (off < len) {
		ucs4_t uc;
		int n = u8_mbtouc(&uc, p + off, len - off);
		int cw = uc_width(uc, "UTF-8");

		if (cw < 0)
			cw = 0;
		if (w + cw > max - 1)
			break;
		w += cw;
		off += (size_t)n;
	}
	memcpy(s + off, "\xe2\x80\xa6", 4);
}

/* Add a cell (taken), row by row. */
void
table_put(struct table *t, char *s)
{
	if (t->n == t->cap)
		t->cell = xrealloc(t->cell, (t->cap = t->cap * 2 + 16) * sizeof(*t->cell));
	t->cell[t->n++] = s;
}

/* Print the table in aligned columns two spaces apart, then free it. */
void
table_print(struct table *t, const char *indent)
{
	int *w = xcalloc(t->ncol, sizeof(*w));

	for (size_t i = 0; i < t->n; i++)
		if (term_width(t->cell[i]) > w[i % t->ncol])
			w[i % t->ncol] = term_width(t->cell[i]);
	for (size_t i = 0; i < t->n; i++) {
		size_t c = i % t->ncol;

		if (c == 0)
			fputs(indent, stdout);
		fputs(t->cell[i], stdout);
		if (c + 1 == t->ncol)
			putchar('\n');
		else
			printf("%*s", w[c] - term_width(t->cell[i]) + 2, "");
		free(t->cell[i]);
	}
	free(t->cell);
	free(w);
	memset(t, 0, sizeof(*t));
}

/* Whether name is one of the comma-separated names in list. */
static int
name_in(const char *name, const char *list)
{
	size_t n = strlen(name);

	while (list != NULL && *list != '\0') {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);

		if (len == n && strncmp(list, name, n) == 0)
			return 1;
		list = comma ? comma + 1 : NULL;
	}
	return 0;
}

/* A unix time as local time ("-" for none). */
static char *
time_text(double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[64];

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		return xstrdup("-");
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return xstrdup(buf);
}

/* A column as a table cell: *_at as local time, reals with two decimals. */
static char *
col_cell(sqlite3_stmt *st, int i)
{
	const char *name = sqlite3_column_name(st, i);
	size_t nl = strlen(name);
	int type = sqlite3_column_type(st, i);
	char *s;

	if (type == SQLITE_NULL)
		return xstrdup("-");
	if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
		if (nl > 3 && strcmp(name + nl - 3, "_at") == 0)
			return time_text(sqlite3_column_double(st, i));
		if (type == SQLITE_FLOAT)
			xasprintf(&s, "%.2f", sqlite3_column_double(st, i));
		else
			xasprintf(&s, "%lld", (long long)sqlite3_column_int64(st, i));
		return s;
	}
	s = term_clean((const char *)sqlite3_column_text(st, i), 0);
	term_cut(s, CELL_WIDTH);
	return s;
}

/* A column as JSON, typed as SQLite has it. */
static cJSON *
col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return cJSON_CreateNull();
	case SQLITE_INTEGER:
		return cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return cJSON_CreateNumber(sqlite3_column_double(st, i));
	default:
		return cJSON_CreateString((const char *)sqlite3_column_text(st, i));
	}
}

/* Every row of st (finalized) as an array of objects keyed by column. */
cJSON *
rows_json(sqlite3_stmt *st)
{
	cJSON *a = cJSON_CreateArray();

	while (db_step(st) == SQLITE_ROW) {
		cJSON *o = cJSON_CreateObject();

		for (int i = 0; i < sqlite3_column_count(st); i++)
			cJSON_AddItemToObject(o, sqlite3_column_name(st, i), col_json(st, i));
		cJSON_AddItemToArray(a, o);
	}
	db_done(st);
	return a;
}

/* A column name as a table heading. */
static char *
heading(const char *name)
{
	char *s = xstrdup(name);

	for (char *p = s; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return s;
}

/* Every row of st (finalized) as a table without the columns in skip. */
int
rows_table(sqlite3_stmt *st, const char *skip, const char *indent)
{
	struct table t = { 0 };
	int ncol = sqlite3_column_count(st), rows = 0;

	for (int i = 0; i < ncol; i++)
		if (!name_in(sqlite3_column_name(st, i), skip)) {
			table_put(&t, heading(sqlite3_column_name(st, i)));
			t.ncol++;
		}
	while (db_step(st) == SQLITE_ROW) {
		rows++;
		for (int i = 0; i < ncol; i++)
			if (!name_in(sqlite3_column_name(st, i), skip))
				table_put(&t, col_cell(st, i));
	}
	db_done(st);
	if (rows == 0) {
		for (size_t i = 0; i < t.n; i++)
			free(t.cell[i]);
		free(t.cell);
		printf("%s(none)\n", indent);
	} else
		table_print(&t, indent);
	return rows;
}

/* Print a query's rows for a person or a script; returns how many. */
int
rows_print(sqlite3_stmt *st, const char *skip)
{
	cJSON *a;
	int n;

	if (!gc.json)
		return rows_table(st, skip, "");
	a = rows_json(st);
	n = cJSON_GetArraySize(a);
	json_print(a);
	return n;
}

/* Where the last n lines of s begin (a trailing newline ends no line). */
const char *
last_lines(const char *s, int n)
{
	const char *p = s + strlen(s);

	while (p > s && p[-1] == '\n')
		p--;
	while (p > s) {
		if (p[-1] == '\n' && --n == 0)
			break;
		p--;
	}
	return p;
}
