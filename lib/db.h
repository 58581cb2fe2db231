/* db.h: the SQLite database, greetbot's source of truth. */
#ifndef GREETBOT_DB_H
#define GREETBOT_DB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Open (creating with mode 0600) and migrate; dies on failure. */
sqlite3		*db_open(const char *path);
/* Open read-only for queries (greetctl); NULL with a logged reason. */
sqlite3		*db_open_readonly(const char *path);
void		 db_close(sqlite3 *);
int		 db_schema_version(sqlite3 *);

/* Transactions: BEGIN IMMEDIATE takes the write lock up front, so a
 * read-then-write never fails half-way with SQLITE_BUSY. */
void		 db_begin(sqlite3 *);
void		 db_commit(sqlite3 *);
void		 db_rollback(sqlite3 *);
/*
 * The writes of one event: BEGIN IMMEDIATE when no transaction is open
 * (returns 1: the caller's own), else a SAVEPOINT inside the caller's
 * (returns 0). db_tx_end commits or releases it (ok), or undoes it.
 */
int		 db_tx_begin(sqlite3 *);
void		 db_tx_end(sqlite3 *, int own, int ok);

/*
 * Prepare and bind in one call. fmt has one letter per '?' in sql:
 * 'i' int, 'l' int64_t, 'd' double, 's' text (NULL binds NULL).
 * Dies on a prepare error: SQL is ours, so that is a programming error.
 */
sqlite3_stmt	*db_prep(sqlite3 *, const char *sql, const char *fmt, ...);
sqlite3_stmt	*db_vprep(sqlite3 *, const char *sql, const char *fmt, va_list);
/* A statement from db_prep is done with (reset and kept for the next
 * db_prep of the same SQL): never sqlite3_finalize it. */
void		 db_done(sqlite3_stmt *);
/* Run a statement that returns no rows; returns changes(). */
int		 db_run(sqlite3 *, const char *sql, const char *fmt, ...);
/* First column of the first row as int64, or def when no row. */
int64_t		 db_int(sqlite3 *, int64_t def, const char *sql, const char *fmt, ...);
/* Step a statement; dies on errors other than BUSY after busy_timeout. */
int		 db_step(sqlite3_stmt *);
/* The first column of every row as int64, in a fresh array (*ids; free
 * it): rows to change one by one once the statement is closed. */
size_t		 db_ids(sqlite3 *, int64_t **ids, const char *sql, const char *fmt, ...);
/* Column text as a fresh copy (NULL for NULL). */
char		*db_col_str(sqlite3_stmt *, int col);
int64_t		 db_now(void);

struct cJSON;
/*
 * Queue a Bot API call in the outbox (greetbot-tg sends it): params is
 * the call's JSON and is taken. request and asset may be 0 (none).
 * Returns the row id.
 */
int64_t		 db_outbox_add(sqlite3 *, const char *bot_id, int64_t chat_id,
		    const char *kind, const char *method, struct cJSON *params,
		    int64_t request_id, int64_t asset_id);
#endif
