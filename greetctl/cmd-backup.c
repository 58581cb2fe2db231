/* SPDX-License-Identifier: ISC */
/*
 * cmd-backup.c: backup and restore: a consistent copy of the database
 * taken while greetbotd runs, with --media the videos it names, and its
 * return on a fresh installation. The layout is backup.h's.
 *
 * The copy is SQLite's online backup (sqlite3_backup_*) of the live
 * database, stepped a chunk of pages at a time inside one read
 * transaction that greetctl holds on the source. In WAL mode a reader
 * never blocks a writer: greetbotd and the bots commit as usual while the
 * copy runs, and the snapshot greetctl reads is the one copied, whole.
 * Without that transaction each step would read the newest database, and
 * SQLite starts a backup again whenever another process wrote between
 * two steps: on a busy bot, for ever. The price is that the WAL is not
 * checkpointed past the snapshot until the copy ends, so the videos of
 * --media (the list read in the snapshot) are copied after it.
 *
 * Restore puts a backup in place of db_path only while greetbotd is
 * stopped, and only whole: everything is copied and checked under
 * temporary names beside its place, then renamed, the database last.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "backup.h"
#include "config.h"
#include "db.h"
#include "greetctl.h"
#include "jobs.h"
#include "xmalloc.h"

#define STEP_PAGES	1024	/* pages a backup step copies (4 MB of 4 kB pages) */
#define LOCK_WAIT_MS	30000	/* a lock waited out by a step, in all */

/* --- shared ------------------------------------------------------------------- */

/* backup|restore [--media] [--force] PATH: the options; returns PATH. */
static const char *
backup_args(int argc, char **argv, int *media, int *force)
{
	static const struct option opts[] = {
		{ "media", no_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 'm')
			*media = 1;
		else if (ch == 'f')
			*force = 1;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc - 1 || *argv[optind] == '\0')
		usage(EXIT_USAGE);
	return argv[optind];
}

/*
 * A database's own check (PRAGMA integrity_check, its first problem):
 * NULL when it says ok, else the problem. With the raw API: the file may
 * be damaged, which db.c's helpers take for a condition to wait out.
 */
static const char *
db_integrity(sqlite3 *db)
{
	static char why[512];
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
		return why;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		const char *head = "*** in database main ***\n";

		/* Its lines in one: the first names the schema, ours is main. */
		if (strncmp(text, head, strlen(head)) == 0)
			text += strlen(head);
		snprintf(why, sizeof(why), "%s", text);
		for (char *p = why; (p = strchr(p, '\n')) != NULL; )
			*p = ' ';
	} else
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return strcmp(why, "ok") == 0 ? NULL : why;
}

/* The first column of a one-row query as int64, or def (raw API, see
 * db_integrity). */
static int64_t
raw_int(sqlite3 *db, const char *sql, int64_t def)
{
	sqlite3_stmt *st;
	int64_t v = def;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return def;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* What a summary counts, in one line: "3 users, 5 assets (4 AVAILABLE),
 * 7 requests". */
static char *
db_counts(sqlite3 *db, cJSON *j)
{
	int64_t users = raw_int(db, "SELECT count(*) FROM users", 0);
	int64_t assets = raw_int(db, "SELECT count(*) FROM assets", 0);
	int64_t avail = raw_int(db, "SELECT count(*) FROM assets WHERE state = 'AVAILABLE'", 0);
	int64_t requests = raw_int(db, "SELECT count(*) FROM requests", 0);
	char *s;

	cJSON_AddNumberToObject(j, "users", (double)users);
	cJSON_AddNumberToObject(j, "assets", (double)assets);
	cJSON_AddNumberToObject(j, "assets_available", (double)avail);
	cJSON_AddNumberToObject(j, "requests", (double)requests);
	xasprintf(&s, "%lld user%s, %lld asset%s (%lld AVAILABLE), %lld request%s",
	    (long long)users, users == 1 ? "" : "s", (long long)assets, assets == 1 ? "" : "s",
	    (long long)avail, (long long)requests, requests == 1 ? "" : "s");
	return s;
}

/* --- backup ------------------------------------------------------------------- */

struct bk {
	const char	*dest;
	int		 media, force;
	char		*dir;		/* where DEST is */
	char		*tmp;		/* DEST's temporary name, beside it */
	struct manifest	 want;		/* the files the database names */
	struct manifest	 m;		/* what the backup holds */
	int64_t		 pages, page_size;
	int		 missing;	/* files named but not there (or no file) */
	int64_t		 assets;	/* assets whose file is in the backup */
};

/* DEST may be written: not there, or --force and of the backup's kind. */
static void
backup_dest(struct bk *b)
{
	struct stat st;
	char *man;

	if (lstat(b->dest, &st) == -1) {
		if (errno != ENOENT)
			err(1, "%s", b->dest);
		return;
	}
	if (!b->force)
		errx(1, "%s exists: give --force to replace it; nothing was written", b->dest);
	if (!b->media && S_ISDIR(st.st_mode))
		errx(1, "%s is a directory: a backup without --media is one file; nothing was "
		    "written", b->dest);
	if (!b->media)
		return;
	xasprintf(&man, "%s/%s", b->dest, BACKUP_MANIFEST);
	if (!S_ISDIR(st.st_mode) || access(man, F_OK) == -1)
		errx(1, "%s is not a backup made with --media (no %s): not replaced; nothing "
		    "was written", b->dest, BACKUP_MANIFEST);
	free(man);
}

/* Begin the read transaction the whole copy reads (see the top). */
static void
snapshot_begin(sqlite3 *db)
{
	for (int waited = 0;; waited += 100) {
		int rc = sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL,
		    NULL);

		if (rc == SQLITE_OK)
			return;
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
		    waited >= LOCK_WAIT_MS)
			errx(1, "cannot read %s: %s", gc.cfg.db_path, sqlite3_errmsg(db));
		sqlite3_sleep(100);
	}
}

/*
 * The files the database names, from the snapshot: each distinct
 * assets.file_path (assets of several bots may share one) and the
 * thumbnail beside it, named in the backup by their base names. A file
 * that is not there is counted: its asset keeps its file_id, which is
 * what sends it.
 */
static void
backup_list(sqlite3 *db, struct bk *b)
{
	sqlite3_stmt *st = db_prep(db, "SELECT file_path, min(id), count(*) FROM assets WHERE "
	    "file_path IS NOT NULL GROUP BY file_path ORDER BY min(id)", "");
	struct stat sb;

	while (db_step(st) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		size_t len = strlen(path);
		char *thumb;

		if (!backup_name_ok(name) || strchr(path, '\n') != NULL) {
			warnx("asset %lld: its file %s has a name a backup cannot hold: left out",
			    (long long)sqlite3_column_int64(st, 1), path);
			b->missing++;
			continue;
		}
		if (stat(path, &sb) == -1) {
			warnx("asset %lld: its file %s: %s: the backup has its file_id only",
			    (long long)sqlite3_column_int64(st, 1), path, strerror(errno));
			b->missing++;
			continue;
		}
		manifest_add(&b->want, name, path, sb.st_size);
		b->want.files[b->want.n - 1].refs = sqlite3_column_int64(st, 2);
		if (len < 4 || strcmp(path + len - 4, ".mp4") != 0)
			continue;
		xasprintf(&thumb, "%.*s.jpg", (int)(len - 4), path);
		if (stat(thumb, &sb) == 0) {
			const char *tname = strrchr(thumb, '/') ? strrchr(thumb, '/') + 1 : thumb;

			manifest_add(&b->want, tname, thumb, sb.st_size);
		}
		free(thumb);
	}
	db_done(st);
}

/* Whether the file named is already in the backup under another path. */
static int
backup_name_taken(const struct manifest *m, const struct bfile *f)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->files[i].name, f->name) == 0)
			return 1;
	return 0;
}

/* A failed SQLite write into the backup: full, or what SQLite says. */
static void __attribute__((noreturn))
backup_db_failed(struct bk *b, sqlite3 *dst, int rc, const char *step)
{
	if ((rc & 0xff) == SQLITE_FULL || sqlite3_system_errno(dst) == ENOSPC ||
	    sqlite3_system_errno(dst) == EDQUOT)
		space_full(b->dir, "backup");
	if ((rc & 0xff) == SQLITE_INTERRUPT)
		errx(1, "backup: interrupted; what was written is removed");
	errx(1, "backup: %s: %s; what was written is removed", step, sqlite3_errmsg(dst));
}

/*
 * SQLite's online backup of src into the new file path, in chunks of
 * STEP_PAGES (progress, an interrupt heard between two). A step that
 * meets a lock sleeps and tries again. The copy is then made a
 * rollback-journal database, whole in one file, and must pass its check.
 */
static void
backup_db(struct bk *b, sqlite3 *src, const char *path)
{
	struct progress pg;
	sqlite3_backup *sb;
	sqlite3 *dst;
	int fd, rc, waited = 0;
	const char *why;

	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		err(1, "cannot create %s", path);
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		errx(1, "cannot open %s: %s", path, sqlite3_errmsg(dst));
	if ((sb = sqlite3_backup_init(dst, "main", src, "main")) == NULL)
		backup_db_failed(b, dst, sqlite3_errcode(dst), "cannot start");
	progress_init(&pg, "database", b->pages * b->page_size);
	do {
		rc = sqlite3_backup_step(sb, STEP_PAGES);
		if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
			if ((waited += 100) > LOCK_WAIT_MS)
				break;
			sqlite3_sleep(100);
		}
		progress_to(&pg, (int64_t)(sqlite3_backup_pagecount(sb) -
		    sqlite3_backup_remaining(sb)) * b->page_size);
		if (backup_interrupted())
			rc = SQLITE_INTERRUPT;
	} while (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED);
	progress_end(&pg);
	b->pages = sqlite3_backup_pagecount(sb);
	sqlite3_backup_finish(sb);
	if (rc != SQLITE_DONE)
		backup_db_failed(b, dst, rc, "copying the database");
	if ((rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL)) !=
	    SQLITE_OK)
		backup_db_failed(b, dst, rc, "journal_mode");
	if ((why = db_integrity(dst)) != NULL)
		errx(1, "backup: the copy fails its integrity check (%s); nothing was kept", why);
	sqlite3_close(dst);
	if (fsync(fd) == -1)
		err(1, "fsync %s", path);
	close(fd);
}

/* The files of --media into tmp/assets (after the snapshot ended). */
static void
backup_files(struct bk *b)
{
	struct progress pg;
	int dfd, afd;
	int64_t total = 0, n;

	for (size_t i = 0; i < b->want.n; i++)
		total += b->want.files[i].size;
	if ((dfd = open(b->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    mkdirat(dfd, BACKUP_ASSETS, 0700) == -1 ||
	    (afd = openat(dfd, BACKUP_ASSETS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		err(1, "cannot make %s/%s", b->tmp, BACKUP_ASSETS);
	progress_init(&pg, "videos", total);
	for (size_t i = 0; i < b->want.n; i++) {
		const struct bfile *f = &b->want.files[i];

		if (backup_name_taken(&b->m, f)) {
			warnx("%s: a file of that name is in the backup already (from another "
			    "directory): left out", f->path);
			b->missing++;
			continue;
		}
		if ((n = file_copy(AT_FDCWD, f->path, afd, f->name, &pg)) >= 0) {
			manifest_add(&b->m, f->name, f->path, n);
			b->assets += f->refs;
			continue;
		}
		progress_end(&pg);
		if (errno == ENOSPC || errno == EDQUOT)
			space_full(b->dir, "backup");
		if (errno == EINTR)
			errx(1, "backup: interrupted; what was written is removed");
		if (errno != ENOENT && errno != ELOOP && errno != EINVAL)
			err(1, "backup: %s", f->path);
		warnx("%s: %s: left out", f->path, errno == ELOOP ? "a symbolic link, not "
		    "followed" : errno == EINVAL ? "not a regular file" : strerror(errno));
		b->missing++;
	}
	progress_end(&pg);
	if (manifest_write(dfd, &b->m) == -1) {
		if (errno == ENOSPC || errno == EDQUOT)
			space_full(b->dir, "backup");
		err(1, "cannot write %s/%s", b->tmp, BACKUP_MANIFEST);
	}
	if (fsync(afd) == -1 || fsync(dfd) == -1)
		err(1, "fsync %s", b->tmp);
	close(afd);
	close(dfd);
}

/*
 * The finished backup into its place. A file is renamed over DEST; a
 * directory is exchanged with an older one atomically (renameat2), which
 * is then removed: only what a backup holds, so a mistaken --force loses
 * nothing else.
 */
static void
backup_install(struct bk *b)
{
	struct stat st;

	if (b->media && lstat(b->dest, &st) == 0) {
		if (renameat2(AT_FDCWD, b->tmp, AT_FDCWD, b->dest, RENAME_EXCHANGE) == -1)
			err(1, "cannot put the backup in place of %s", b->dest);
		if (backup_dir_remove(b->tmp) == -1)
			warnx("the backup it replaced is left in %s: it holds files a backup does "
			    "not", b->tmp);
	} else if (rename(b->tmp, b->dest) == -1)
		err(1, "cannot rename %s to %s", b->tmp, b->dest);
	temp_keep(b->tmp);
	if (dir_sync(b->dir) == -1)
		warn("fsync %s", b->dir);
}

/* The one-line summary (or --json's object). */
static void
backup_summary(struct bk *b)
{
	cJSON *j = cJSON_CreateObject();
	char a[32], c[32], d[32];
	int64_t files = 0;
	struct stat st;
	char *db;

	if (b->media)
		xasprintf(&db, "%s/%s", b->dest, BACKUP_DB);
	else
		db = xstrdup(b->dest);
	for (size_t i = 0; i < b->m.n; i++)
		files += b->m.files[i].size;
	if (stat(db, &st) == -1)
		st.st_size = 0;
	cJSON_AddStringToObject(j, "backup", b->dest);
	cJSON_AddStringToObject(j, "database", gc.cfg.db_path);
	cJSON_AddNumberToObject(j, "schema", b->m.schema);
	cJSON_AddNumberToObject(j, "pages", (double)b->pages);
	cJSON_AddNumberToObject(j, "page_size", (double)b->page_size);
	cJSON_AddNumberToObject(j, "database_bytes", (double)st.st_size);
	cJSON_AddBoolToObject(j, "media", b->media);
	cJSON_AddNumberToObject(j, "files", (double)b->m.n);
	cJSON_AddNumberToObject(j, "file_bytes", (double)files);
	cJSON_AddNumberToObject(j, "files_missing", b->missing);
	cJSON_AddNumberToObject(j, "assets", (double)b->assets);
	if (gc.json) {
		json_print(j);	/* takes j */
		j = NULL;
	} else {
		printf("backup %s: database %lld pages (%s, schema %d)", b->dest,
		    (long long)b->pages, bytes_text(st.st_size, a, sizeof(a)), b->m.schema);
		if (b->media)
			printf("; %lld assets, %zu files (%s); %s in all", (long long)b->assets,
			    b->m.n, bytes_text(files, c, sizeof(c)),
			    bytes_text(st.st_size + files, d, sizeof(d)));
		else
			printf("; no videos (--media adds them)");
		if (b->missing > 0)
			printf("; %d files left out (see above)", b->missing);
		putchar('\n');
	}
	cJSON_Delete(j);
	free(db);
}

/* DEST's temporary name beside it (removed if the run fails), and where
 * the database goes in it. */
static char *
backup_tmp(struct bk *b)
{
	char *path;

	xasprintf(&b->tmp, "%s.tmp-%d", b->dest, (int)getpid());
	if (!b->media) {
		temp_add(b->tmp, TEMP_FILE);
		return xstrdup(b->tmp);
	}
	if (mkdir(b->tmp, 0700) == -1)
		err(1, "cannot make %s", b->tmp);
	temp_add(b->tmp, TEMP_BACKUP_DIR);
	xasprintf(&path, "%s/%s", b->tmp, BACKUP_DB);
	return path;
}

/*
 * backup [--media] [--force] DEST: the live database (read through
 * db_path) into DEST, a file; with --media DEST is a directory with the
 * videos too (backup.h). Written under a temporary name beside DEST and
 * renamed only when complete and checked.
 */
int
cmd_backup(int argc, char **argv)
{
	struct bk b;
	sqlite3 *src;
	char *path, *dest;
	int64_t need;

	memset(&b, 0, sizeof(b));
	b.dest = dest = xstrdup(backup_args(argc, argv, &b.media, &b.force));
	/* "DIR/" names DIR: its temporary name goes beside it, not in it. */
	for (size_t n = strlen(dest); n > 1 && dest[n - 1] == '/'; n--)
		dest[n - 1] = '\0';
	backup_dest(&b);
	b.dir = dir_of(b.dest);
	src = ctl_db(0);
	/* Short waits, in a loop of our own: greetbotd's writes go first. */
	db_set_busy_wait(src, 100);
	backup_signals();
	snapshot_begin(src);
	b.page_size = db_int(src, 4096, "PRAGMA page_size", "");
	b.pages = db_int(src, 0, "PRAGMA page_count", "");
	if (b.media)
		backup_list(src, &b);
	need = b.pages * b.page_size;
	for (size_t i = 0; i < b.want.n; i++)
		need += b.want.files[i].size;
	space_check(b.dir, need, "backup");
	path = backup_tmp(&b);
	backup_db(&b, src, path);
	b.m.schema = db_schema_version(src);
	(void)sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	if (b.media) {
		struct stat st;

		b.m.db_size = stat(path, &st) == 0 ? st.st_size : 0;
		backup_files(&b);
	}
	backup_install(&b);
	backup_summary(&b);
	db_close(src);
	manifest_free(&b.want);
	manifest_free(&b.m);
	free(path);
	free(b.tmp);
	free(b.dir);
	free(dest);
	return 0;
}

/* --- restore ------------------------------------------------------------------ */

struct rs {
	const char	*src;
	int		 media, force;
	char		*src_db;	/* the backup's database file */
	int		 srcfd;		/* the backup directory, or -1 */
	char		*tmp;		/* the database's temporary name, beside db_path */
	char		*assets;	/* state_dir/assets */
	struct manifest	 m;
	char		**placed;	/* each file's temporary name in assets */
	int		 from, schema;	/* the backup's schema version, and now */
	int		 chown;		/* root restoring for state_dir's owner */
	uid_t		 uid;
	gid_t		 gid;
	int64_t		 requeued;
	int64_t		 db_size;	/* the MANIFEST's, -1: none */
	char		*kept;		/* where the replaced database is kept */
};

/*
 * Whether greetbotd runs on this state_dir, as far as what exists shows:
 * its private Redis holds state_dir/redis.lock as long as it lives, and
 * its HTTP endpoint (http_listen, or state_dir/http.addr) answers /health.
 * NULL when neither says so, else the sign, in words.
 */
static char *
greetbotd_running(void)
{
	char *path, *addr, *url, *body, *why = NULL;
	cJSON *j;
	int fd;

	xasprintf(&path, "%s/redis.lock", gc.cfg.state_dir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK)
			xasprintf(&why, "its redis-server holds %s", path);
		close(fd);
	}
	free(path);
	if (why != NULL)
		return why;
	if ((addr = http_addr()) == NULL) {
		if (*gc.cfg.redis_url != '\0')
			warnx("cannot tell whether greetbotd runs (no HTTP endpoint, an external "
			    "Redis): make sure it is stopped");
		return NULL;
	}
	xasprintf(&url, "http://%s/health", addr);
	if (http_call(url, NULL, 2000, &body) != 0 && (j = cJSON_Parse(body)) != NULL) {
		if (cJSON_IsString(cJSON_GetObjectItem(j, "status")))
			xasprintf(&why, "it answers at %s", url);
		cJSON_Delete(j);
	}
	free(body);
	free(url);
	free(addr);
	return why;
}

/* A file or directory we made for greetbotd gets state_dir's owner. */
static void
restore_own(struct rs *r, int dirfd, const char *name)
{
	if (r->chown && fchownat(dirfd, name, r->uid, r->gid, AT_SYMLINK_NOFOLLOW) == -1)
		err(1, "chown %s", name);
}

/* A directory greetbotd would make, made as it would (mode, owner). */
static void
restore_mkdir(struct rs *r, const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1) {
		if (errno != EEXIST)
			err(1, "cannot make %s", path);
		return;
	}
	temp_add(path, TEMP_DIR);
	if (chmod(path, mode) == -1)
		err(1, "chmod %s", path);
	restore_own(r, AT_FDCWD, path);
}

/*
 * SRC: a database file, or a directory: a backup made with --media (its
 * MANIFEST read: sizes to check), or without one its greetbot.db alone
 * (a copy of a stopped state_dir).
 */
static void
restore_source(struct rs *r)
{
	struct stat st;
	char why[256];

	r->srcfd = -1;
	r->db_size = -1;
	if (stat(r->src, &st) == -1)
		err(1, "%s", r->src);
	if (!S_ISDIR(st.st_mode)) {
		if (r->media)
			errx(EXIT_USAGE, "%s is a file: --media restores a directory that "
			    "greetctl backup --media made", r->src);
		if ((r->src_db = realpath(r->src, NULL)) == NULL)
			err(1, "%s", r->src);
		return;
	}
	if ((r->srcfd = open(r->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(1, "%s", r->src);
	xasprintf(&r->src_db, "%s/%s", r->src, BACKUP_DB);
	if (!r->media && faccessat(r->srcfd, BACKUP_MANIFEST, F_OK, 0) == -1)
		return;
	if (manifest_read(r->srcfd, &r->m, why, sizeof(why)) == -1)
		errx(1, "%s: %s; nothing was changed", r->src, why);
	r->db_size = r->m.db_size;
	/* The database alone: the videos stay where they are. */
	if (!r->media)
		manifest_free(&r->m);
}

/*
 * What the database now at db_path holds: -1 no file, -2 not a database
 * we can read, else its rows of users, assets and requests (0: one that
 * greetbotd made and nobody used). what says which, in words.
 */
static int64_t
restore_old_rows(char *what, size_t len)
{
	int64_t users, assets, requests;
	sqlite3 *db;

	if (access(gc.cfg.db_path, F_OK) == -1)
		return -1;
	if (sqlite3_open_v2(gc.cfg.db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    (users = raw_int(db, "SELECT count(*) FROM users", -1)) == -1 ||
	    (assets = raw_int(db, "SELECT count(*) FROM assets", -1)) == -1 ||
	    (requests = raw_int(db, "SELECT count(*) FROM requests", -1)) == -1) {
		snprintf(what, len, "%s", sqlite3_errmsg(db));
		users = raw_int(db, "SELECT count(*) FROM sqlite_schema", -1) == 0 ? 0 : -2;
		sqlite3_close(db);
		return users;
	}
	sqlite3_close(db);
	snprintf(what, len, "%lld users, %lld assets, %lld requests", (long long)users,
	    (long long)assets, (long long)requests);
	return users + assets + requests;
}

/* The backup's database to tmp, beside db_path: copied, sized, checked. */
static void
restore_copy(struct rs *r, const char *dir)
{
	static const char *side[] = { "-journal", "-wal", "-shm" };
	struct progress pg;
	struct stat st, sb;
	int64_t n, need = 0;
	char *p;

	if (stat(r->src_db, &st) == -1)
		err(1, "%s", r->src_db);
	/* A WAL beside it holds commits the file alone has not: a copy of a
	 * live database, or of one whose process died. */
	xasprintf(&p, "%s-wal", r->src_db);
	if (stat(p, &sb) == 0 && sb.st_size > 0)
		errx(1, "%s has a write-ahead log beside it (%s): it is in use, or was not "
		    "closed; copy it with greetctl backup, or open and close it once with "
		    "sqlite3; nothing was changed", r->src_db, p);
	free(p);
	for (size_t i = 0; i < r->m.n; i++)
		need += r->m.files[i].size;
	space_check(dir, st.st_size + need, "restore");
	xasprintf(&r->tmp, "%s.restore-%d", gc.cfg.db_path, (int)getpid());
	temp_add(r->tmp, TEMP_FILE);
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		xasprintf(&p, "%s%s", r->tmp, side[i]);
		temp_add(p, TEMP_FILE);
		free(p);
	}
	progress_init(&pg, "database", st.st_size);
	n = file_copy(AT_FDCWD, r->src_db, AT_FDCWD, r->tmp, &pg);
	progress_end(&pg);
	if (n == -1 && (errno == ENOSPC || errno == EDQUOT))
		space_full(dir, "restore");
	if (n == -1)
		err(1, "%s", r->src_db);
	if (r->db_size != -1 && n != r->db_size)
		errx(1, "%s: the backup is damaged: %s has %lld bytes, its %s says %lld; nothing "
		    "was changed", r->src, BACKUP_DB, (long long)n, BACKUP_MANIFEST,
		    (long long)r->db_size);
}

/* The copy is whole and a greetbot database this program can run. */
static void
restore_check(struct rs *r)
{
	int newest = db_schema_newest();
	const char *why;
	sqlite3 *db;

	if (sqlite3_open_v2(r->tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		errx(1, "%s: cannot open it: %s; nothing was changed", r->src_db,
		    sqlite3_errmsg(db));
	if ((why = db_integrity(db)) != NULL)
		errx(1, "%s is damaged: %s (SQLite's integrity check); nothing was changed",
		    r->src_db, why);
	r->from = (int)raw_int(db, "PRAGMA user_version", 0);
	if (r->from == 0 || raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = "
	    "'table' AND name = 'assets'", 0) != 1)
		errx(1, "%s is not a greetbot database; nothing was changed", r->src_db);
	if (r->from > newest)
		errx(1, "%s has database schema version %d, newer than this program's %d: "
		    "restore it with the greetbot that made it (or a newer one); nothing was "
		    "changed", r->src_db, r->from, newest);
	sqlite3_close(db);
}

/*
 * The jobs of the copy: a render that ran when the backup was taken ran
 * on a greetbotd that is gone, so it is interrupted as its own node would
 * find it at its next start (jobs_recover, node by node: this node's name
 * may differ); every unfinished job is published again, as when Redis
 * loses its stream (the new Redis knows none of them).
 */
static void
restore_jobs(struct rs *r, sqlite3 *db)
{
	sqlite3_stmt *st = db_prep(db, "SELECT DISTINCT node FROM jobs WHERE state = 'RUNNING' "
	    "AND node IS NOT NULL", "");
	char **nodes = NULL;
	size_t n = 0;

	while (db_step(st) == SQLITE_ROW) {
		nodes = xrealloc(nodes, (n + 1) * sizeof(*nodes));
		nodes[n++] = db_col_str(st, 0);
	}
	db_done(st);
	for (size_t i = 0; i < n; i++) {
		jobs_init(&(struct jobs_env){ .db = db, .node = nodes[i],
		    .max_attempts = gc.cfg.max_attempts, .alert_window = gc.cfg.alert_window });
		if (jobs_recover() == -1)
			errx(1, "restore: %s; nothing was changed", db_last_error());
		free(nodes[i]);
	}
	free(nodes);
	jobs_init(&(struct jobs_env){ .db = db, .node = gc.cfg.node_name,
	    .max_attempts = gc.cfg.max_attempts, .alert_window = gc.cfg.alert_window });
	if (jobs_redis_lost() < 0 || db_failed())
		errx(1, "restore: %s; nothing was changed", db_last_error());
	r->requeued = db_int(db, 0, "SELECT count(*) FROM jobs WHERE state IN ('QUEUED', "
	    "'RUNNING', 'RETRY_WAIT')", "");
}

/*
 * --media: each file of the manifest into state_dir/assets under a
 * temporary name (renamed with the database), its size checked, and the
 * paths the database has for it changed to the new place.
 */
static void
restore_files(struct rs *r, sqlite3 *db)
{
	struct progress pg;
	int afd, sfd;
	int64_t total = 0, n;
	char *tmp, *path;

	if ((sfd = openat(r->srcfd, BACKUP_ASSETS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 && r->m.n > 0)
		err(1, "%s/%s", r->src, BACKUP_ASSETS);
	if ((afd = open(r->assets, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		err(1, "%s", r->assets);
	r->placed = xcalloc(r->m.n + 1, sizeof(*r->placed));
	for (size_t i = 0; i < r->m.n; i++)
		total += r->m.files[i].size;
	progress_init(&pg, "videos", total);
	if (db_begin(db) == -1)
		errx(1, "restore: %s; nothing was changed", db_last_error());
	for (size_t i = 0; i < r->m.n; i++) {
		const struct bfile *f = &r->m.files[i];

		xasprintf(&tmp, "%s.restore-%d", f->name, (int)getpid());
		xasprintf(&r->placed[i], "%s/%s", r->assets, tmp);
		temp_add(r->placed[i], TEMP_FILE);
		if ((n = file_copy(sfd, f->name, afd, tmp, &pg)) == -1) {
			progress_end(&pg);
			if (errno == ENOSPC || errno == EDQUOT)
				space_full(r->assets, "restore");
			err(1, "%s/%s/%s: nothing was changed", r->src, BACKUP_ASSETS, f->name);
		}
		if (n != f->size)
			errx(1, "%s: the backup is damaged: %s/%s has %lld bytes, its %s says "
			    "%lld; nothing was changed", r->src, BACKUP_ASSETS, f->name,
			    (long long)n, BACKUP_MANIFEST, (long long)f->size);
		restore_own(r, afd, tmp);
		xasprintf(&path, "%s/%s", r->assets, f->name);
		db_run(db, "UPDATE assets SET file_path = ? WHERE file_path = ?", "ss", path,
		    f->path);
		free(path);
		free(tmp);
	}
	progress_end(&pg);
	if (db_commit(db) == -1)
		errx(1, "restore: %s; nothing was changed", db_last_error());
	if (fsync(afd) == -1)
		err(1, "fsync %s", r->assets);
	close(afd);
	if (sfd != -1)
		close(sfd);
}

/*
 * The database at db_path steps aside: its WAL folded into it (it may
 * hold the last commits: greetbotd was stopped, maybe killed), kept as
 * db_path.before-restore when it held anything, and no WAL, shared memory
 * or journal left that SQLite would apply to the new file.
 */
static void
restore_aside(struct rs *r, int64_t rows)
{
	static const char *side[] = { "-wal", "-shm", "-journal" };
	sqlite3 *db;
	char *p;

	if (rows == -1)
		return;
	if (rows != -2 && sqlite3_open_v2(gc.cfg.db_path, &db, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK) {
		(void)sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	if (rows != 0) {
		xasprintf(&r->kept, "%s.before-restore", gc.cfg.db_path);
		if ((unlink(r->kept) == -1 && errno != ENOENT) || link(gc.cfg.db_path, r->kept) == -1)
			err(1, "cannot keep the database it replaces as %s; nothing was changed",
			    r->kept);
	}
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		xasprintf(&p, "%s%s", gc.cfg.db_path, side[i]);
		if (unlink(p) == -1 && errno != ENOENT)
			err(1, "cannot remove %s", p);
		free(p);
	}
}

/* The new database to disk, with state_dir's owner: the rename that
 * follows must not make a file greetbotd cannot read, or an empty one. */
static void
restore_sync(struct rs *r)
{
	int fd;

	if ((fd = open(r->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 || fsync(fd) == -1)
		err(1, "fsync %s", r->tmp);
	close(fd);
	restore_own(r, AT_FDCWD, r->tmp);
}

/* Everything in place: the files, then the database (the commit point). */
static void
restore_install(struct rs *r, const char *dir, int64_t rows)
{
	char *path;

	restore_aside(r, rows);
	for (size_t i = 0; i < r->m.n; i++) {
		xasprintf(&path, "%s/%s", r->assets, r->m.files[i].name);
		if (rename(r->placed[i], path) == -1)
			err(1, "cannot rename %s to %s", r->placed[i], path);
		temp_keep(r->placed[i]);
		free(path);
	}
	if (r->m.n > 0 && dir_sync(r->assets) == -1)
		warn("fsync %s", r->assets);
	if (rename(r->tmp, gc.cfg.db_path) == -1)
		err(1, "cannot rename %s to %s", r->tmp, gc.cfg.db_path);
	temp_keep(r->tmp);
	temp_keep(r->assets);
	temp_keep(gc.cfg.state_dir);
	if (dir_sync(dir) == -1)
		warn("fsync %s", dir);
}

/* What was done, in a few lines (or --json's object). */
static void
restore_summary(struct rs *r)
{
	cJSON *j = cJSON_CreateObject();
	char *counts;
	sqlite3 *db;

	if (sqlite3_open_v2(gc.cfg.db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		errx(1, "%s: %s", gc.cfg.db_path, sqlite3_errmsg(db));
	cJSON_AddStringToObject(j, "backup", r->src);
	cJSON_AddStringToObject(j, "database", gc.cfg.db_path);
	cJSON_AddNumberToObject(j, "schema_backup", r->from);
	cJSON_AddNumberToObject(j, "schema", r->schema);
	counts = db_counts(db, j);
	cJSON_AddNumberToObject(j, "files", (double)r->m.n);
	cJSON_AddNumberToObject(j, "jobs_requeued", (double)r->requeued);
	if (r->kept != NULL)
		cJSON_AddStringToObject(j, "kept", r->kept);
	else
		cJSON_AddNullToObject(j, "kept");
	sqlite3_close(db);
	if (gc.json) {
		json_print(j);	/* takes j */
		j = NULL;
	} else {
		printf("restored %s into %s: schema %d", r->src, gc.cfg.db_path, r->from);
		if (r->schema != r->from)
			printf(" (migrated to %d)", r->schema);
		printf(", %s\n", counts);
		if (r->media)
			printf("videos: %zu files into %s\n", r->m.n, r->assets);
		else
			printf("videos: not restored (without --media); assets are sent by their "
			    "file_id\n");
		if (r->requeued > 0)
			printf("jobs: %lld not finished at backup time, queued again\n",
			    (long long)r->requeued);
		if (r->kept != NULL)
			printf("the database it replaced is kept as %s\n", r->kept);
		printf("start greetbotd to carry on\n");
	}
	free(counts);
	cJSON_Delete(j);
}

/*
 * Where the backup goes: greetbotd stopped, state_dir there (a fresh
 * installation may have none yet: made with greetbotd's modes, and for
 * its owner when root restores), the database there replaced only with
 * --force. Returns what it holds (restore_old_rows).
 */
static int64_t
restore_target(struct rs *r)
{
	char why[512] = "", *running;
	struct stat st;
	int64_t rows;

	if (*gc.cfg.db_path == '\0')
		errx(1, "this node has no database (bot_enabled = 0 and no db_path: a render "
		    "node); restore on the node that has it");
	if ((running = greetbotd_running()) != NULL)
		errx(1, "greetbotd is running (%s): stop it first (systemctl stop greetbotd); "
		    "nothing was changed", running);
	if (geteuid() == 0 && stat(gc.cfg.state_dir, &st) == 0 && st.st_uid != 0) {
		r->chown = 1;
		r->uid = st.st_uid;
		r->gid = st.st_gid;
	}
	restore_mkdir(r, gc.cfg.state_dir, 0711);
	xasprintf(&r->assets, "%s/assets", gc.cfg.state_dir);
	restore_mkdir(r, r->assets, 0700);
	if ((rows = restore_old_rows(why, sizeof(why))) == -2 && !r->force)
		errx(1, "%s cannot be read as a database (%s): give --force to replace it; "
		    "nothing was changed", gc.cfg.db_path, why);
	if (rows > 0 && !r->force)
		errx(1, "%s holds a database in use (%s): give --force to replace it (it is "
		    "kept as %s.before-restore); nothing was changed", gc.cfg.db_path, why,
		    gc.cfg.db_path);
	return rows;
}

/*
 * The new database, made beside db_path: copied, checked, migrated here
 * as greetbotd would at start (a migration that fails fails the restore,
 * not the next start), its jobs and with --media its files' paths made
 * this installation's, whole in one file and on disk.
 */
static void
restore_database(struct rs *r, const char *dir)
{
	sqlite3 *db;

	restore_copy(r, dir);
	restore_check(r);
	db = db_open(r->tmp);
	db_set_busy_wait(db, 10000);
	r->schema = db_schema_version(db);
	restore_jobs(r, db);
	if (r->media)
		restore_files(r, db);
	if (db_run(db, "PRAGMA journal_mode = DELETE", "") < 0 || db_failed())
		errx(1, "restore: %s; nothing was changed", db_last_error());
	db_close(db);
	restore_sync(r);
}

/*
 * restore [--media] [--force] SRC: a backup into db_path (and with
 * --media its videos into state_dir/assets), while greetbotd is stopped.
 * A database that holds anything is replaced only with --force, and kept
 * beside.
 */
int
cmd_restore(int argc, char **argv)
{
	struct rs r;
	int64_t rows;
	char *dir;

	memset(&r, 0, sizeof(r));
	r.src = backup_args(argc, argv, &r.media, &r.force);
	restore_source(&r);
	rows = restore_target(&r);
	dir = dir_of(gc.cfg.db_path);
	backup_signals();
	restore_database(&r, dir);
	restore_install(&r, dir, rows);
	restore_summary(&r);
	if (r.srcfd != -1)
		close(r.srcfd);
	for (size_t i = 0; i < r.m.n; i++)
		free(r.placed[i]);
	free(r.placed);
	manifest_free(&r.m);
	free(r.src_db);
	free(r.tmp);
	free(r.assets);
	free(r.kept);
	free(dir);
	return 0;
}
