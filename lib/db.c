/* SPDX-License-Identifier: ISC */
/* db.c: SQLite in WAL mode, schema migrations versioned by user_version. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "log.h"
#include "privsep.h"
#include "xmalloc.h"

/*
 * Each migration moves the schema from version i to i + 1 and runs in one
 * transaction with the user_version bump, so a crash leaves either the old
 * or the new schema. Never edit a migration that has shipped: add one.
 */
static const char *migrations[] = {
	/* 1: the walking skeleton's tables. */
	"CREATE TABLE users ("
	"  bot_id TEXT NOT NULL,"
	"  user_id INTEGER NOT NULL,"
	"  chat_id INTEGER NOT NULL,"
	"  phone TEXT,"
	"  first_name TEXT,"
	"  language TEXT,"
	"  state TEXT NOT NULL DEFAULT 'NEW',"
	"  pending_name TEXT,"
	"  pending_seq INTEGER NOT NULL DEFAULT 0,"
	"  blocked INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (bot_id, user_id));"
	"CREATE TABLE assets ("
	"  id INTEGER PRIMARY KEY,"
	"  bot_id TEXT NOT NULL,"
	"  template_id TEXT NOT NULL,"
	"  template_version TEXT NOT NULL,"
	"  name_key TEXT NOT NULL,"
	"  display_name TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN"
	"    ('PENDING','GENERATING','AVAILABLE','FAILED')),"
	"  file_id TEXT,"
	"  file_path TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (bot_id, template_version, name_key));"
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY,"
	"  bot_id TEXT NOT NULL,"
	"  user_id INTEGER NOT NULL,"
	"  chat_id INTEGER NOT NULL,"
	"  asset_id INTEGER NOT NULL REFERENCES assets(id),"
	"  state TEXT NOT NULL CHECK (state IN"
	"    ('PENDING','COMPLETED','FAILED','CANCELLED')),"
	"  language TEXT,"
	"  status_message_id INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE INDEX requests_asset ON requests(asset_id, state);"
	"CREATE INDEX requests_user ON requests(bot_id, user_id, state);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  asset_id INTEGER NOT NULL REFERENCES assets(id),"
	"  state TEXT NOT NULL CHECK (state IN"
	"    ('QUEUED','RUNNING','RETRY_WAIT','DONE','FAILED')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
	"  published_at INTEGER,"
	"  node TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE INDEX jobs_unpublished ON jobs(next_attempt_at)"
	"  WHERE published_at IS NULL;"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  asset_id INTEGER NOT NULL REFERENCES assets(id),"
	"  node TEXT NOT NULL,"
	"  started_at REAL NOT NULL,"
	"  finished_at REAL,"
	"  status TEXT,"
	"  exit_code INTEGER,"
	"  signal INTEGER,"
	"  cause TEXT,"
	"  cpu_seconds REAL,"
	"  max_rss_kb INTEGER,"
	"  duration REAL,"
	"  stderr_tail TEXT);"
	"CREATE INDEX attempts_asset ON attempts(asset_id);"
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  bot_id TEXT NOT NULL,"
	"  chat_id INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  params TEXT NOT NULL,"
	"  request_id INTEGER REFERENCES requests(id),"
	"  asset_id INTEGER REFERENCES assets(id),"
	"  state TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN"
	"    ('PENDING','SENT','FAILED')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  result_message_id INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  sent_at INTEGER);"
	"CREATE INDEX outbox_pending ON outbox(bot_id, next_at) WHERE state = 'PENDING';"
	"CREATE TABLE updates ("
	"  bot_id TEXT NOT NULL,"
	"  update_id INTEGER NOT NULL,"
	"  processed_at INTEGER NOT NULL,"
	"  PRIMARY KEY (bot_id, update_id)) WITHOUT ROWID;"
	"CREATE TABLE bot_state ("
	"  bot_id TEXT PRIMARY KEY,"
	"  update_offset INTEGER NOT NULL DEFAULT 0);",
	/* 2: Bot API call counters for /metrics (written by greetbot-tg). */
	"CREATE TABLE tg_calls ("
	"  bot_id TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  count INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (bot_id, method, result)) WITHOUT ROWID;",
	/* 3: admin alerts, deduplicated per cause and window. */
	"CREATE TABLE alerts ("
	"  cause TEXT PRIMARY KEY,"
	"  window_start INTEGER NOT NULL,"
	"  suppressed INTEGER NOT NULL DEFAULT 0);",
	/* 4: the sender walks pending rows in id order: no sort per run. */
	"DROP INDEX outbox_pending;"
	"CREATE INDEX outbox_queue ON outbox(bot_id, id) WHERE state = 'PENDING';"
	"CREATE INDEX outbox_answers ON outbox(bot_id, id) WHERE state = 'PENDING' AND "
	"kind = 'answer';",
	/* 5: attempts rendered by a node without the database arrive as
	 * results through Redis, each with an id: a result delivered twice
	 * commits once. */
	"ALTER TABLE attempts ADD COLUMN result_id TEXT;"
	"CREATE UNIQUE INDEX attempts_result ON attempts(result_id) WHERE result_id IS "
	"NOT NULL;",
	/* 6: the stressed vowel a parent chose (names.h stress text, '' for
	 * the name as espeak-ng says it): an asset's name_key then has the
	 * accents too, and the render gets it as GREETBOT_STRESS. */
	"ALTER TABLE users ADD COLUMN pending_stress TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE assets ADD COLUMN stress TEXT NOT NULL DEFAULT '';",
	/* 7: several bots. A file_id is one bot's, so each bot has its own
	 * asset; the render is shared: an asset of one bot waiting for the
	 * same name and template version that another bot's job renders
	 * names that asset here, and gets its file when the job succeeds. */
	"ALTER TABLE assets ADD COLUMN shares INTEGER REFERENCES assets(id);"
	"CREATE INDEX assets_shares ON assets(shares) WHERE shares IS NOT NULL;"
	"CREATE INDEX assets_render ON assets(template_version, name_key);",
	/* 8: speculative renders: started when the preview is sent, before
	 * the parent confirms. Never published to Redis; the node with the
	 * database runs them on idle workers, at a lower priority, and stops
	 * one when a confirmed job needs its worker. A confirm clears it. */
	"ALTER TABLE jobs ADD COLUMN speculative INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX jobs_speculative ON jobs(id) WHERE speculative = 1 AND state = "
	"'QUEUED';",
	/* 9: work set aside because it failed the same way every time (an
	 * update the database refused three times): shown by greetctl,
	 * counted in /metrics, never in the way of the work behind it. */
	"CREATE TABLE parked ("
	"  id INTEGER PRIMARY KEY,"
	"  bot_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  ref INTEGER NOT NULL,"
	"  error TEXT NOT NULL,"
	"  payload TEXT,"
	"  created_at INTEGER NOT NULL);"
	/* And the Bot API's health as each bot sees it, for /health: since
	 * when its calls fail (0: they succeed), and the last error. */
	"ALTER TABLE bot_state ADD COLUMN api_failing_since INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE bot_state ADD COLUMN api_error TEXT;",
	/* 10: a video's frame size and duration as ffprobe read them when it
	 * validated the render: every sendVideo of the asset says them, so
	 * that Telegram shows the video's shape and length before it plays
	 * (NULL: a video rendered before, sent without them). */
	"ALTER TABLE assets ADD COLUMN width INTEGER;"
	"ALTER TABLE assets ADD COLUMN height INTEGER;"
	"ALTER TABLE assets ADD COLUMN video_duration REAL;",
	/* 11: an operator's block (greetctl block): the bot serves the user
	 * nothing, and says so once in a while (barred_told_at). Not
	 * `blocked`, which is the user's block of the bot (403). */
	"ALTER TABLE users ADD COLUMN barred_at INTEGER;"
	"ALTER TABLE users ADD COLUMN barred_told_at INTEGER;",
	/* 12: the conversation as a parent lived it, for support (greetctl
	 * history): what they sent (a contact's number masked) and what the
	 * bot sent them, kept history_days (greetbotd prunes it), erased by
	 * greetctl forget. */
	"CREATE TABLE history ("
	"  id INTEGER PRIMARY KEY,"
	"  bot_id TEXT NOT NULL,"
	"  user_id INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  dir TEXT NOT NULL CHECK (dir IN ('in','out')),"
	"  kind TEXT NOT NULL,"
	"  text TEXT,"
	"  detail TEXT);"
	"CREATE INDEX history_user ON history(bot_id, user_id, id);",
};

static void db_cache_drop(sqlite3 *);

/* How long a statement waits for another process's lock before it counts
 * as a condition: short, so that an event loop is never held long. */
#define DB_BUSY_MS	250

int64_t
db_now(void)
{
	return (int64_t)time(NULL);
}

/*
 * Faults. A statement that fails for a reason of the moment (the database
 * locked by another process, the disk full, an I/O error) is a condition,
 * not a bug: the unit of work it belongs to (a transaction from db_begin
 * or db_tx_begin to its end) is marked failed, its further statements do
 * nothing and return nothing, and its end undoes it and returns -1: the
 * caller tries the whole unit again later. The condition is logged once
 * when it begins (with its cause and what to do), then once a minute, and
 * once when it ends; db_problem says what it is for /health. A statement
 * that fails for its data (a constraint) fails its unit the same way; only
 * our own mistakes (bad SQL, a wrong bind, misuse) die. One process has
 * one read-write connection, so this state is the process's.
 */
static struct {
	int	 failed;		/* the current unit failed: it is undone */
	int	 code;			/* the extended code of the last failure */
	char	 what[512];		/* the condition, in words */
	char	 last[256];		/* the last failure's message */
	time_t	 since;			/* the first failure of this run, 0: none */
	time_t	 told;			/* when it was last logged */
	char	*path;			/* the database file, for its free space */
} dbf;

/* Whether a failure code is a condition to wait out (1), a failure of the
 * unit's data (2), or a bug of ours (0). */
static int
db_kind(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
	case SQLITE_READONLY:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_INTERRUPT:
		return 1;
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
		return 2;
	default:
		return 0;
	}
}

/* The condition in words, with what an operator can do about it. */
static void
db_describe(sqlite3 *db, int rc, char *buf, size_t len)
{
	char dir[4096], *slash;
	struct statvfs vfs;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(buf, len, "the database is locked by another process (%s): waiting "
		    "for it; an open sqlite3 shell or a long greetctl may hold it",
		    sqlite3_errmsg(db));
		return;
	case SQLITE_FULL:
		snprintf(dir, sizeof(dir), "%s", dbf.path != NULL ? dbf.path : ".");
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		if (statvfs(dir, &vfs) == 0)
			snprintf(buf, len, "the disk is full: %llu bytes free on the file system "
			    "of %.300s; free some space (old videos in assets/, the render "
			    "cache)", (unsigned long long)vfs.f_bavail * vfs.f_frsize, dir);
		else
			snprintf(buf, len, "the disk is full under %.300s: free some space", dir);
		return;
	case SQLITE_IOERR:
		snprintf(buf, len, "an I/O error (%s, errno %d): check the disk and the file "
		    "system", sqlite3_errmsg(db), sqlite3_system_errno(db));
		return;
	default:
		snprintf(buf, len, "%s", sqlite3_errmsg(db));
	}
}

/* A statement failed with rc: see the comment above. */
static void
db_fail(sqlite3 *db, int rc, const char *sql)
{
	time_t now = time(NULL);

	if (db_kind(rc) == 0)
		fatalx("sqlite", "reason=%s sql=%.80s", sqlite3_errmsg(db), sql);
	dbf.failed = 1;
	dbf.code = sqlite3_extended_errcode(db);
	snprintf(dbf.last, sizeof(dbf.last), "%s", sqlite3_errmsg(db));
	if (db_kind(rc) == 2) {
		log_warnx("a database write was refused, the work is undone", "reason=%s "
		    "sql=%.80s", sqlite3_errmsg(db), sql);
		return;
	}
	db_describe(db, rc, dbf.what, sizeof(dbf.what));
	if (dbf.since == 0)
		dbf.since = now;
	if (dbf.told == 0 || now - dbf.told >= 60) {
		dbf.told = now;
		log_warnx("database unavailable, the work waits", "cause=%s for_s=%lld sql=%.60s",
		    dbf.what, (long long)(now - dbf.since), sql);
	}
}

/* A unit committed: whatever the condition was, it is over. */
static void
db_recovered(void)
{
	if (dbf.since != 0)
		log_info("database available again", "after_s=%lld",
		    (long long)(time(NULL) - dbf.since));
	dbf.since = dbf.told = 0;
	dbf.what[0] = '\0';
}

const char *
db_problem(time_t *since)
{
	if (since != NULL)
		*since = dbf.since;
	return dbf.since != 0 ? dbf.what : NULL;
}

int
db_failed(void)
{
	return dbf.failed;
}

const char *
db_last_error(void)
{
	return dbf.last;
}

/* Run SQL text with no parameters. -1 on a condition (see above). */
static int
db_exec(sqlite3 *db, const char *sql)
{
	int rc;

	if (dbf.failed && !sqlite3_get_autocommit(db))
		return -1;
	if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		db_fail(db, rc, sql);
		return -1;
	}
	return 0;
}

/* Undo the transaction, whatever state it was left in (some failures
 * roll it back by themselves). Errors here change nothing. */
static void
db_undo(sqlite3 *db, const char *sql)
{
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* A write transaction must not begin while a statement of ours is still
 * open: its read snapshot makes BEGIN IMMEDIATE fail at once when another
 * process wrote since (what once crashed greetbot-tg under load). */
static void
db_check_open(sqlite3 *db)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL;
	    st = sqlite3_next_stmt(db, st))
		if (sqlite3_stmt_busy(st))
			log_warnx("bug: a transaction begins while a statement is open",
			    "sql=%.80s", sqlite3_sql(st));
}

int
db_schema_version(sqlite3 *db)
{
	return (int)db_int(db, 0, "PRAGMA user_version", "");
}

int
db_schema_newest(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

/* Bring the schema up to the newest version, one transaction per step. */
static void
db_migrate(sqlite3 *db)
{
	int have = db_schema_version(db);
	int want = (int)(sizeof(migrations) / sizeof(migrations[0]));
	char sql[64];

	if (have > want)
		fatalx("the database is newer than this program: upgrade greetbot",
		    "schema_version=%d program_schema_version=%d", have, want);
	for (int v = have; v < want; v++) {
		/* Locked or full at start: wait, then try the step again. */
		if (db_begin(db) == -1) {
			sleep(1);
			v--;
			continue;
		}
		/* Another process (a second node) may have just done this step. */
		if (db_schema_version(db) != v) {
			if (db_commit(db) == -1) {
				sleep(1);
				v--;
			}
			continue;
		}
		db_exec(db, migrations[v]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		db_exec(db, sql);
		if (db_commit(db) == -1) {
			sleep(1);
			v--;
			continue;
		}
		log_info("database migrated", "schema_version=%d", v + 1);
	}
}

/* Settings every connection needs: WAL, a busy timeout, foreign keys. */
static void
db_configure(sqlite3 *db, int readonly)
{
	sqlite3_busy_timeout(db, DB_BUSY_MS);
	/* At start nothing else waits: a locked database is waited for. */
	while (db_exec(db, "PRAGMA foreign_keys = ON") == -1 || (!readonly &&
	    (db_exec(db, "PRAGMA journal_mode = WAL") == -1 ||
	    db_exec(db, "PRAGMA synchronous = NORMAL") == -1)))
		sleep(1);
	dbf.failed = 0;
}

void
db_set_busy_wait(sqlite3 *db, int ms)
{
	sqlite3_busy_timeout(db, ms);
}

/* The WAL and the index stay when the last connection closes (they are
 * emptied, not removed): db_open's comment. */
static void
db_persist_wal(sqlite3 *db)
{
	int on = 1;

	(void)sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
}

/* In WAL mode (the header's read and write versions are 2), or empty. */
static int
db_file_wal(int fd, int *empty)
{
	unsigned char hdr[20];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);

	*empty = n == 0;
	return n == (ssize_t)sizeof(hdr) && hdr[18] == 2 && hdr[19] == 2;
}

/*
 * The database's files as the service user will open them, after its
 * drop, in state_dir, which is root's: SQLite cannot make a WAL or an
 * index there then, nor a rollback journal to switch to WAL. So they are
 * made here, as root, in root's directory, where the service user can
 * plant nothing; nothing is followed, and nothing with a second name is
 * used. A database that is not yet in WAL
 * mode is switched with SQLite here only if it is root's own (new, or put
 * back by greetctl restore; ours when not root): what the service user
 * wrote, root does not read.
 */
int
db_ready(const char *path, char *err, size_t errlen)
{
	static const char *const side[] = { "-wal", "-shm" };
	struct stat st, sst;
	int fd, empty;

	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	    0600)) == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		snprintf(err, errlen, "%s: %s", path, fd == -1 ? strerror(errno) :
		    "not a regular file with one link");
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* Its WAL and index first: SQLite, when it switches the mode here,
	 * uses them as they are. */
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		char *p;
		int ok, sfd;

		xasprintf(&p, "%s%s", path, side[i]);
		errno = 0;
		ok = (sfd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0600)) != -1 && fstat(sfd, &sst) == 0 && S_ISREG(sst.st_mode) &&
		    sst.st_nlink == 1 && fchmod(sfd, 0600) == 0 && service_give_fd(sfd) == 0;
		if (!ok)
			snprintf(err, errlen, "%s: %s", p, errno != 0 ? strerror(errno) :
			    "not a regular file with one link");
		if (sfd != -1)
			close(sfd);
		free(p);
		if (!ok)
			goto fail;
	}
	if (!db_file_wal(fd, &empty)) {
		sqlite3 *db = NULL;
		int rc;

		if (st.st_uid != geteuid()) {
			snprintf(err, errlen, "%s is not in WAL mode and is not ours (its owner "
			    "is uid %u): greetbot keeps it in WAL mode; open it once with sqlite3 "
			    "and run PRAGMA journal_mode = WAL", path, (unsigned)st.st_uid);
			goto fail;
		}
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			snprintf(err, errlen, "%s: cannot switch it to WAL mode: %s", path,
			    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		else
			db_persist_wal(db);
		sqlite3_close(db);
		if (rc != SQLITE_OK)
			goto fail;
		if (!empty)
			log_info("database switched to WAL mode", "path=%s", path);
	}
	if (fchmod(fd, 0600) == -1 || service_give_fd(fd) == -1) {
		snprintf(err, errlen, "%s: cannot give it to the service user: %s", path,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

sqlite3 *
db_open(const char *path)
{
	sqlite3 *db;
	int fd;

	/* Create the file ourselves so it is 0600 from the first byte. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 &&
	    errno == EACCES && geteuid() != 0)
		fatalx("cannot open the database", "path=%s error=%s uid=%u hint=%s", path,
		    strerror(errno), (unsigned)geteuid(), "the service user opens it: every "
		    "directory above it must let that uid search it (chmod o+x), as for the "
		    "renderers");
	if (fd == -1)
		fatal("cannot open the database", "path=%s", path);
	if (fchmod(fd, 0600) == -1)
		log_warn("chmod 0600", "path=%s", path);
	if (service_give_fd(fd) == -1)
		log_warn("cannot give the database to the service user", "path=%s", path);
	close(fd);
	/* Its WAL and index as an older greetbotd left them (root's); new
	 * ones SQLite gives the database's owner itself. */
	for (int i = 0; i < 2 && service_user()->set; i++) {
		char *side;

		xasprintf(&side, "%s%s", path, i == 0 ? "-wal" : "-shm");
		if ((fd = open(side, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) != -1) {
			if (service_give_fd(fd) == -1)
				log_warn("cannot give the database to the service user",
				    "path=%s", side);
			close(fd);
		}
		free(side);
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
		fatalx("cannot open the database", "path=%s reason=%s", path, sqlite3_errmsg(db));
	db_persist_wal(db);
	free(dbf.path);
	dbf.path = xstrdup(path);
	db_configure(db, 0);
	db_migrate(db);
	return db;
}

sqlite3 *
db_open_readonly(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		log_warnx("cannot open the database", "path=%s reason=%s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	db_persist_wal(db);
	db_configure(db, 1);
	return db;
}

void
db_close(sqlite3 *db)
{
	if (db != NULL)
		db_cache_drop(db);
	if (db != NULL && sqlite3_close(db) != SQLITE_OK)
		log_warnx("sqlite close", "reason=%s", sqlite3_errmsg(db));
}

int
db_begin(sqlite3 *db)
{
	db_check_open(db);
	dbf.failed = 0;
	return db_exec(db, "BEGIN IMMEDIATE");
}

int
db_commit(sqlite3 *db)
{
	if (dbf.failed || db_exec(db, "COMMIT") == -1) {
		db_undo(db, "ROLLBACK");
		return -1;
	}
	db_recovered();
	return 0;
}

void
db_rollback(sqlite3 *db)
{
	db_undo(db, "ROLLBACK");
	dbf.failed = 0;
}

int
db_tx_begin(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return db_begin(db) == -1 ? -1 : 1;
	/* Inside the caller's unit: its fate is the caller's. */
	return db_exec(db, "SAVEPOINT tx") == -1 ? -1 : 0;
}

int
db_tx_end(sqlite3 *db, int own, int ok)
{
	if (own == -1)
		return -1;
	if (own && ok)
		return db_commit(db);
	if (own) {
		int failed = dbf.failed;

		db_rollback(db);
		return failed ? -1 : 0;
	}
	if (ok && !dbf.failed)
		return db_exec(db, "RELEASE tx");
	db_undo(db, "ROLLBACK TO tx");
	db_undo(db, "RELEASE tx");
	return dbf.failed ? -1 : 0;
}

/* Bind arguments described by fmt (see db.h). */
static void
db_bindv(sqlite3 *db, sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 1; *fmt != '\0'; fmt++, i++) {
		const char *s;

		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int(st, i, va_arg(ap, int));
			break;
		case 'l':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_double(st, i, va_arg(ap, double));
			break;
		case 's':
			s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) :
			    sqlite3_bind_null(st, i);
			break;
		default:
			fatalx("bug: db_bind: bad format", "letter=%c", *fmt);
		}
		if (rc != SQLITE_OK)
			fatalx("sqlite bind", "index=%d reason=%s", i, sqlite3_errmsg(db));
	}
}

/*
 * Prepared statements, kept: the same few dozen statements run for every
 * job and update, and parsing them again each time was most of what the
 * database cost greetbotd per job. A direct-mapped table by the text's
 * hash; a statement in use (a loop over its rows runs another with the
 * same text) is not shared: that caller gets one of its own.
 */
#define DB_CACHE	256

static struct db_cached {
	sqlite3		*db;
	sqlite3_stmt	*st;
	int		 busy;
} db_cache[DB_CACHE];

static unsigned
db_cache_slot(const char *sql)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % DB_CACHE;
}

/* A prepared statement for sql, from the cache when it is there and free. */
static sqlite3_stmt *
db_prepare(sqlite3 *db, const char *sql)
{
	struct db_cached *c = &db_cache[db_cache_slot(sql)];
	sqlite3_stmt *st;

	if (c->db == db && c->st != NULL && !c->busy && strcmp(sqlite3_sql(c->st), sql) == 0) {
		c->busy = 1;
		return c->st;
	}
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK)
		return NULL;
	if (!c->busy) {
		if (c->st != NULL)
			sqlite3_finalize(c->st);
		c->db = db;
		c->st = st;
		c->busy = 1;
	}
	return st;
}

void
db_done(sqlite3_stmt *st)
{
	struct db_cached *c;

	if (st == NULL)
		return;
	c = &db_cache[db_cache_slot(sqlite3_sql(st))];
	if (c->st == st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		c->busy = 0;
	} else
		sqlite3_finalize(st);
}

/* The cached statements of a connection that is closing. */
static void
db_cache_drop(sqlite3 *db)
{
	for (int i = 0; i < DB_CACHE; i++)
		if (db_cache[i].db == db) {
			sqlite3_finalize(db_cache[i].st);
			memset(&db_cache[i], 0, sizeof(db_cache[i]));
		}
}

/* Prepare sql and bind the arguments that fmt describes. */
sqlite3_stmt *
db_vprep(sqlite3 *db, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *st;

	if ((st = db_prepare(db, sql)) == NULL) {
		/* Preparing reads the schema: a locked or broken file fails it
		 * too. A statement that cannot be prepared steps to nothing. */
		if (db_kind(sqlite3_errcode(db)) != 1)
			fatalx("sqlite prepare", "reason=%s sql=%.80s", sqlite3_errmsg(db), sql);
		db_fail(db, sqlite3_errcode(db), sql);
		return NULL;
	}
	db_bindv(db, st, fmt, ap);
	return st;
}

sqlite3_stmt *
db_prep(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	return st;
}

int
db_step(sqlite3_stmt *st)
{
	sqlite3 *db;
	int rc;

	if (st == NULL)
		return SQLITE_DONE;
	db = sqlite3_db_handle(st);
	if (dbf.failed && !sqlite3_get_autocommit(db))
		return SQLITE_DONE;	/* the unit failed: nothing more of it */
	if ((rc = sqlite3_step(st)) != SQLITE_ROW && rc != SQLITE_DONE) {
		db_fail(db, rc, sqlite3_sql(st));
		return SQLITE_DONE;
	}
	return rc;
}

int
db_run(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	while (db_step(st) == SQLITE_ROW)
		;
	db_done(st);
	return dbf.failed && !sqlite3_get_autocommit(db) ? 0 : sqlite3_changes(db);
}

int64_t
db_int(sqlite3 *db, int64_t def, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int64_t v = def;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	if (db_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	db_done(st);
	return v;
}

size_t
db_ids(sqlite3 *db, int64_t **ids, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	size_t n = 0, cap = 16;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	*ids = xcalloc(cap, sizeof(**ids));
	while (db_step(st) == SQLITE_ROW) {
		if (n == cap)
			*ids = xrealloc(*ids, (cap *= 2) * sizeof(**ids));
		(*ids)[n++] = sqlite3_column_int64(st, 0);
	}
	db_done(st);
	return n;
}

char *
db_col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? xstrdup((const char *)s) : NULL;
}

int64_t
db_outbox_add(sqlite3 *db, const char *bot_id, int64_t chat_id, const char *kind,
    const char *method, cJSON *params, int64_t request_id, int64_t asset_id)
{
	char *text = cJSON_PrintUnformatted(params);

	db_run(db, "INSERT INTO outbox (bot_id, chat_id, kind, method, params, request_id, "
	    "asset_id, created_at) VALUES (?, ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, 0), ?)",
	    "slssslll", bot_id, chat_id, kind, method, text, request_id, asset_id, db_now());
	free(text);
	cJSON_Delete(params);
	return sqlite3_last_insert_rowid(db);
}
