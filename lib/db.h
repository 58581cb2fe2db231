/* SPDX-License-Identifier: ISC */
/* db.h: the SQLite database, greetbot's source of truth. */
#ifndef GREETBOT_DB_H
#define GREETBOT_DB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Open (creating with mode 0600) and migrate; dies on failure. Its WAL
 * and index are kept when it closes (persistent WAL): the jobs process
 * and the bots open it as the service user in a directory they may not
 * write, where SQLite could not make them again. */
sqlite3		*db_open(const char *path);
/* As root, before any process opens it (greetbotd's parent): the
 * database (made when missing, in WAL mode), its WAL and its index exist
 * and are the service user's. 0, or -1 with why. */
int		 db_ready(const char *path, char *err, size_t errlen);
/* Open read-only for queries (greetctl); NULL with a logged reason. */
sqlite3		*db_open_readonly(const char *path);
void		 db_close(sqlite3 *);
int		 db_schema_version(sqlite3 *);
/* The schema version this program migrates to (greetctl restore refuses
 * a newer one, as db_open does). */
int		 db_schema_newest(void);

/*
 * Units of work. BEGIN IMMEDIATE takes the write lock up front, so a
 * read-then-write never fails half-way for the lock. A statement that fails
 * for a reason of the moment (locked, disk full, I/O error) or for its data
 * marks the unit failed: its later statements do nothing, and its end
 * undoes it and returns -1, so that the caller does the whole unit again
 * later. Only our own mistakes (bad SQL, a bad bind) die. db_begin and
 * db_commit return 0 or -1; db_tx_begin returns 1 (a transaction of its
 * own), 0 (a SAVEPOINT inside the caller's) or -1, and db_tx_end(own, ok)
 * commits or releases it (ok) or undoes it, -1 when the unit failed.
 */
#define DB_CHECK __attribute__((warn_unused_result))
int		 db_begin(sqlite3 *) DB_CHECK;
int		 db_commit(sqlite3 *) DB_CHECK;
void		 db_rollback(sqlite3 *);
int		 db_tx_begin(sqlite3 *) DB_CHECK;
int		 db_tx_end(sqlite3 *, int own, int ok) DB_CHECK;
/* Whether a statement failed since the last db_begin (autocommit reads
 * included: their rows are then missing). */
int		 db_failed(void);
/* The last failure's message (sqlite's words). */
const char	*db_last_error(void);
/* The condition the database is in, in words with what to do, and since
 * when; NULL when the last unit committed. */
const char	*db_problem(time_t *since);
/* How long a statement waits for another process's lock (default 250
 * ms: an event loop is never held long); greetctl waits longer. */
void		 db_set_busy_wait(sqlite3 *, int ms);

/*
 * Prepare and bind in one call. fmt has one letter per '?' in sql:
 * 'i' int, 'l' int64_t, 'd' double, 's' text (NULL binds NULL).
 * Dies on a prepare error of the SQL itself (ours: a programming error);
 * a locked or broken file gives NULL, which db_step steps to nothing.
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
/* Step a statement: SQLITE_ROW, or SQLITE_DONE (also when it failed or
 * its unit had: see db_failed). */
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
