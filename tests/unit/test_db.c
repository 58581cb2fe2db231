/* SPDX-License-Identifier: ISC */
/* test_db.c: the database's files made ready by root for a service user
 * who may not write its directory (lib/db.c db_ready): a new database in
 * WAL mode, its WAL and index made, a database put back in rollback mode
 * switched, one of someone else's in rollback mode refused and not read,
 * a link refused; then, as another uid, the database opened and written
 * in that directory, and its WAL and index still there after the last
 * connection closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "unit.h"

#define OTHER	65534	/* nobody: the service user of this test */

static char dir[] = "/tmp/greetbot-db.XXXXXX";

static int
exists(const char *path, const char *suffix)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return access(p, F_OK) == 0;
}

/* Bytes 18 and 19 of the header: 2 and 2 in WAL mode. */
static int
header_wal(const char *path)
{
	unsigned char h[20] = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd == -1 || read(fd, h, sizeof(h)) != (ssize_t)sizeof(h)) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	close(fd);
	return h[18] == 2 && h[19] == 2;
}

/* A database in rollback mode, with a table. */
static void
rollback_db(const char *path)
{
	sqlite3 *db;

	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA journal_mode = DELETE; CREATE TABLE t(x); INSERT INTO t "
	    "VALUES (1)", NULL, NULL, NULL);
	sqlite3_close(db);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The database and its WAL and index, gone. */
static void
rm_db(const char *path)
{
	const char *suf[] = { "", "-wal", "-shm", "-journal" };
	char p[512];

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suf[i]);
		(void)unlink(p);
	}
}

static void
chown_all(const char *path, uid_t u)
{
	const char *suf[] = { "", "-wal", "-shm" };
	char p[512];

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suf[i]);
		(void)chown(p, u, u);
	}
}

/* The probe row another uid wrote, or 0. */
static int
probe_value(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int v = 0;

	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, "SELECT x FROM probe", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

int
main(void)
{
	char path[300], other[300], link_path[300], elsewhere[300], err[512], side[320];
	int fd, status;
	pid_t pid;

	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0711);	/* as state_dir: searchable, not writable */
	snprintf(path, sizeof(path), "%s/greetbot.db", dir);

	UNIT_CHECK(db_ready(path, err, sizeof(err)) == 0, "a new database is made (%s)", err);
	UNIT_CHECK(header_wal(path) && exists(path, "-wal") && exists(path, "-shm"),
	    "... in WAL mode, with its WAL and index");

	rm_db(path);
	rollback_db(path);
	UNIT_CHECK(!header_wal(path), "(a database in rollback mode, as greetctl restore leaves it)");
	UNIT_CHECK(db_ready(path, err, sizeof(err)) == 0 && header_wal(path),
	    "our own database in rollback mode is switched to WAL (%s)", err);

	snprintf(other, sizeof(other), "%s/other.db", dir);
	rollback_db(other);
	if (geteuid() == 0) {
		chown_all(other, OTHER);
		UNIT_CHECK(db_ready(other, err, sizeof(err)) == -1 &&
		    strstr(err, "not in WAL mode and is not ours") != NULL && !header_wal(other),
		    "someone else's database in rollback mode is refused, not opened (%s)", err);
	} else
		UNIT_SKIP("someone else's database: only root can make one");

	snprintf(link_path, sizeof(link_path), "%s/link.db", dir);
	if (symlink(path, link_path) == -1)
		return 1;
	UNIT_CHECK(db_ready(link_path, err, sizeof(err)) == -1 && strstr(err, "link") != NULL,
	    "a link in the database's place is refused (%s)", err);
	/* A WAL that is also another file: not used, not even by the switch. */
	snprintf(side, sizeof(side), "%s-wal", other);
	unlink(side);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
	if ((fd = open(elsewhere, O_CREAT | O_WRONLY, 0600)) == -1 || link(elsewhere, side) == -1)
		return 1;
	close(fd);
	if (geteuid() == 0)
		chown_all(other, 0);
	UNIT_CHECK(db_ready(other, err, sizeof(err)) == -1 && strstr(err, "one link") != NULL &&
	    !header_wal(other) && file_size(elsewhere) == 0,
	    "a WAL with another name is refused, before SQLite could write through it (%s)",
	    err);

	if (geteuid() == 0) {
		/* As the service user of a greetbotd: the files given, the dir not. */
		chown_all(path, OTHER);
		if ((pid = fork()) == 0) {
			sqlite3 *db;
			int ok;

			if (setgid(OTHER) == -1 || setuid(OTHER) == -1)
				_exit(3);
			db = db_open(path);
			ok = sqlite3_exec(db, "CREATE TABLE probe(x); INSERT INTO probe VALUES (7)",
			    NULL, NULL, NULL) == SQLITE_OK;
			db_close(db);
			_exit(ok ? 0 : 4);
		}
		waitpid(pid, &status, 0);
		UNIT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "another uid opens, migrates and writes it in a directory it may not write "
		    "(status %d)", status);
		UNIT_CHECK(probe_value(path) == 7, "... and what it wrote is there");
		/* greetctl, as root, the last to close it (db_open's). */
		db_close(db_open(path));
		UNIT_CHECK(exists(path, "-wal") && exists(path, "-shm"),
		    "its WAL and index stay when the last connection closes, even root's: "
		    "the service user could not make them again");
	} else
		UNIT_SKIP("another uid opening it: only root can become one");
	rm_db(path);
	rm_db(other);
	unlink(link_path);
	unlink(elsewhere);
	rmdir(dir);
	return unit_done();
}
