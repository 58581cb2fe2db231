/* SPDX-License-Identifier: ISC */
/*
 * backup.h: the layout of a backup (greetctl backup, restore) and the file
 * work both commands share (backup.c); the commands are cmd-backup.c.
 *
 * Without --media a backup is one file: the database as SQLite's online
 * backup copied it, in rollback-journal mode so that the file is whole by
 * itself, mode 0600 (it holds phone numbers). With --media it is a
 * directory, mode 0700:
 *
 *   greetbot.db     the database, as above
 *   assets/NAME     a copy of every video the database names
 *                   (assets.file_path) and of the thumbnail beside it
 *   MANIFEST        what is there, its size, and where it came from
 *
 * MANIFEST is text, one item a line, its fields separated by one space:
 *
 *   greetbot-backup 1
 *   schema N                      the database's schema version
 *   database greetbot.db SIZE
 *   file assets/NAME SIZE PATH    PATH (the rest of the line): the file's
 *                                 path when it was backed up, as the
 *                                 database names it
 *
 * Restore checks every size and puts the files into its own state_dir,
 * changing the paths the database has to theirs.
 */
#ifndef GREETBOT_BACKUP_H
#define GREETBOT_BACKUP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BACKUP_DB	"greetbot.db"
#define BACKUP_ASSETS	"assets"
#define BACKUP_MANIFEST	"MANIFEST"
#define BACKUP_MAGIC	"greetbot-backup 1"

/* One file of a --media backup. */
struct bfile {
	char	*name;		/* in the backup's assets/ */
	char	*path;		/* where it was: a file_path, or a thumbnail */
	int64_t	 size;
	int64_t	 refs;		/* backup: the assets that name it */
};

/* A MANIFEST. */
struct manifest {
	int		 schema;
	int64_t		 db_size;
	struct bfile	*files;
	size_t		 n, cap;
};

void	 manifest_add(struct manifest *, const char *name, const char *path,
	    int64_t size);
int	 manifest_write(int dirfd, const struct manifest *);
int	 manifest_read(int dirfd, struct manifest *, char *err, size_t errlen);
void	 manifest_free(struct manifest *);
/* Whether a name may be a file of the backup's assets/: no directory, no
 * dot file, nothing a manifest line cannot hold. */
int	 backup_name_ok(const char *name);

/* Progress of a long copy on stderr, drawn only on a terminal and only
 * once the copy has taken a second. */
struct progress {
	const char	*what;
	int64_t		 total, done;
	int		 tty;
	int		 shown;		/* the percentage drawn last, -1: none */
	struct timespec	 start;
};

void	 progress_init(struct progress *, const char *what, int64_t total);
void	 progress_to(struct progress *, int64_t done);
void	 progress_end(struct progress *);

/* Copy a regular file (never through a link) to a new file in ddir. */
int64_t	 file_copy(int sdir, const char *spath, int ddir, const char *dname,
	    struct progress *);
int	 dir_sync(const char *dir);
char	*dir_of(const char *path);
const char *bytes_text(int64_t n, char *buf, size_t len);
void	 space_check(const char *dir, int64_t need, const char *what);
void	 space_full(const char *dir, const char *what) __attribute__((noreturn));

/* What a failed or interrupted run leaves behind is removed on exit. */
enum temp_kind {
	TEMP_FILE,
	TEMP_DIR,		/* a directory made for the run: removed if empty */
	TEMP_BACKUP_DIR,	/* a backup directory: what a backup holds */
};
void	 temp_add(const char *path, enum temp_kind);
void	 temp_keep(const char *path);
int	 backup_dir_remove(const char *dir);
void	 backup_signals(void);
int	 backup_interrupted(void);

#endif
