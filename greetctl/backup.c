/* SPDX-License-Identifier: ISC */
/*
 * backup.c: what greetctl backup and restore share (backup.h): the
 * manifest, files copied without following links, the temporary files a
 * failed run removes, progress, free space.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "xmalloc.h"

/* --- the manifest ------------------------------------------------------------ */

int
backup_name_ok(const char *name)
{
	if (*name == '\0' || *name == '.' || strlen(name) > 255)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == '/' || *p == 0x7f)
			return 0;
	return 1;
}

void
manifest_add(struct manifest *m, const char *name, const char *path, int64_t size)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->files = xrealloc(m->files, m->cap * sizeof(*m->files));
	}
	m->files[m->n].name = xstrdup(name);
	m->files[m->n].path = xstrdup(path);
	m->files[m->n].size = size;
	m->files[m->n].refs = 0;
	m->n++;
}

void
manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->files[i].name);
		free(m->files[i].path);
	}
	free(m->files);
	memset(m, 0, sizeof(*m));
}

/* MANIFEST into the directory open at dirfd, synced. -1 with errno. */
int
manifest_write(int dirfd, const struct manifest *m)
{
	FILE *f;
	int fd, ok;

	if ((fd = openat(dirfd, BACKUP_MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	fprintf(f, "%s\nschema %d\ndatabase %s %lld\n", BACKUP_MAGIC, m->schema, BACKUP_DB,
	    (long long)m->db_size);
	for (size_t i = 0; i < m->n; i++)
		fprintf(f, "file %s/%s %lld %s\n", BACKUP_ASSETS, m->files[i].name,
		    (long long)m->files[i].size, m->files[i].path);
	ok = fflush(f) == 0 && !ferror(f) && fsync(fd) == 0;
	if (fclose(f) != 0 || !ok)
		return -1;
	return 0;
}

/* One "file assets/NAME SIZE PATH" line (without "file "), or -1. */
static int
manifest_file(struct manifest *m, char *s)
{
	char *size, *path, *end;
	long long n;

	if (strncmp(s, BACKUP_ASSETS "/", sizeof(BACKUP_ASSETS)) != 0)
		return -1;
	s += sizeof(BACKUP_ASSETS);
	if ((size = strchr(s, ' ')) == NULL)
		return -1;
	*size++ = '\0';
	if ((path = strchr(size, ' ')) == NULL)
		return -1;
	*path++ = '\0';
	errno = 0;
	n = strtoll(size, &end, 10);
	if (errno != 0 || end == size || *end != '\0' || n < 0 || !backup_name_ok(s) ||
	    *path == '\0')
		return -1;
	manifest_add(m, s, path, n);
	return 0;
}

/* MANIFEST of the backup directory open at dirfd; -1 with the reason. */
int
manifest_read(int dirfd, struct manifest *m, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int fd, n = 0, bad = 0, seen = 0;
	FILE *f;

	memset(m, 0, sizeof(*m));
	m->db_size = -1;
	if ((fd = openat(dirfd, BACKUP_MANIFEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no %s: not a backup made with --media",
			    BACKUP_MANIFEST);
		else
			snprintf(err, errlen, "cannot read its %s: %s", BACKUP_MANIFEST,
			    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (!bad && (len = getline(&line, &cap, f)) != -1) {
		long long v;

		n++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (n == 1)
			bad = strcmp(line, BACKUP_MAGIC) != 0;
		else if (sscanf(line, "schema %d", &m->schema) == 1)
			seen |= 1;
		else if (sscanf(line, "database " BACKUP_DB " %lld", &v) == 1 && v >= 0) {
			m->db_size = v;
			seen |= 2;
		} else
			bad = strncmp(line, "file ", 5) != 0 || manifest_file(m, line + 5) == -1;
	}
	free(line);
	fclose(f);
	if (bad || seen != 3) {
		snprintf(err, errlen, "its %s is not one greetctl backup wrote (line %d)",
		    BACKUP_MANIFEST, bad ? n : n + 1);
		manifest_free(m);
		return -1;
	}
	return 0;
}

/* --- progress ---------------------------------------------------------------- */

void
progress_init(struct progress *p, const char *what, int64_t total)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->tty = isatty(STDERR_FILENO);
	p->shown = -1;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

void
progress_to(struct progress *p, int64_t done)
{
	struct timespec now;
	char a[32], b[32];
	int pct;

	p->done = done;
	if (!p->tty || p->total <= 0)
		return;
	pct = done >= p->total ? 100 : (int)(done * 100 / p->total);
	if (pct == p->shown)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* A copy that takes less than a second says nothing but its summary. */
	if (p->shown == -1 && (now.tv_sec - p->start.tv_sec) * 1000 +
	    (now.tv_nsec - p->start.tv_nsec) / 1000000 < 1000)
		return;
	fprintf(stderr, "\r%s: %3d%% (%s of %s)", p->what, pct, bytes_text(done, a, sizeof(a)),
	    bytes_text(p->total, b, sizeof(b)));
	p->shown = pct;
}

/* The progress line is cleared, so that the summary stands alone. */
void
progress_end(struct progress *p)
{
	if (p->shown != -1)
		fputs("\r\033[K", stderr);
	p->shown = -1;
}

/* --- files ------------------------------------------------------------------- */

/* Write all of buf, or -1. */
static int
write_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Copy spath (relative to sdir) into a new file dname of ddir, mode 0600,
 * synced. Only a regular file is copied, and never through a link (the
 * asset store is greetbotd's, and the renderers' outputs came into it):
 * a link fails with ELOOP, anything else that is not a regular file with
 * EINVAL; opened without blocking, so that a FIFO cannot hang us. Returns
 * the bytes copied, or -1 with errno (ENOSPC: the destination is full)
 * and no new file left.
 */
int64_t
file_copy(int sdir, const char *spath, int ddir, const char *dname, struct progress *pg)
{
	static char buf[1 << 16];
	struct stat st;
	int in, out = -1, e;
	int64_t total = 0;
	ssize_t n;

	if ((in = openat(sdir, spath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(in, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || write_all(out, buf, (size_t)n) == -1)
			goto fail;
		total += n;
		if (pg != NULL)
			progress_to(pg, pg->done + n);
		if (backup_interrupted()) {
			errno = EINTR;
			goto fail;
		}
	}
	if (fsync(out) == -1)
		goto fail;
	e = close(out);
	out = -1;
	if (e == -1)
		goto fail;
	close(in);
	return total;
fail:
	e = errno;
	close(in);
	if (out != -1) {
		close(out);
		unlinkat(ddir, dname, 0);
	}
	errno = e;
	return -1;
}

/* A directory's entries to disk: a rename in it is then durable. */
int
dir_sync(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The directory a path is in, a fresh string ("." for a bare name). */
char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* A byte count for people: "812 bytes", "4.2 MB". */
const char *
bytes_text(int64_t n, char *buf, size_t len)
{
	static const char *unit[] = { "kB", "MB", "GB", "TB" };
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(buf, len, "%lld bytes", (long long)n);
		return buf;
	}
	while (v >= 1000 && u < 3) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

/* The bytes free for us on dir's file system, or -1. */
static int64_t
space_free(const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) == -1)
		return -1;
	return (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
}

/* Before a copy of need bytes into dir: refuse (exit 1) when they are not
 * free there, rather than fill the disk greetbotd may share. */
void
space_check(const char *dir, int64_t need, const char *what)
{
	int64_t avail = space_free(dir);
	char a[32], b[32];

	if (avail >= 0 && need > avail)
		errx(1, "%s: not enough space in %s: it needs %s, %s are free; nothing was "
		    "written", what, dir, bytes_text(need, a, sizeof(a)),
		    bytes_text(avail, b, sizeof(b)));
}

/* A copy ran out of space (ENOSPC, SQLITE_FULL): say so and exit 1. */
void
space_full(const char *dir, const char *what)
{
	int64_t avail = space_free(dir);
	char a[32];

	errx(1, "%s: no space left in %s (%s free); what was written is removed", what, dir,
	    avail >= 0 ? bytes_text(avail, a, sizeof(a)) : "nothing");
}

/* --- what a failed run leaves behind -------------------------------------------- */

static struct temp {
	char		*path;
	enum temp_kind	 kind;
} *temps;
static size_t ntemps;

/* At exit: every temporary path not kept (renamed into place) goes, the
 * last made first (the files in a directory made for them, then it). */
static void
temps_remove(void)
{
	for (size_t i = ntemps; i-- > 0; ) {
		if (temps[i].path == NULL)
			continue;
		if (temps[i].kind == TEMP_BACKUP_DIR)
			backup_dir_remove(temps[i].path);
		else if (temps[i].kind == TEMP_DIR)
			rmdir(temps[i].path);
		else
			unlink(temps[i].path);
		free(temps[i].path);
	}
	free(temps);
	temps = NULL;
	ntemps = 0;
}

void
temp_add(const char *path, enum temp_kind kind)
{
	if (temps == NULL)
		atexit(temps_remove);
	temps = xrealloc(temps, (ntemps + 1) * sizeof(*temps));
	temps[ntemps].path = xstrdup(path);
	temps[ntemps].kind = kind;
	ntemps++;
}

/* The path was renamed into place: no longer to be removed. */
void
temp_keep(const char *path)
{
	for (size_t i = 0; i < ntemps; i++)
		if (temps[i].path != NULL && strcmp(temps[i].path, path) == 0) {
			free(temps[i].path);
			temps[i].path = NULL;
		}
}

/*
 * Remove a backup directory: only what a backup holds (MANIFEST, the
 * database and its journal, the regular files of assets/), without
 * following links, so that a mistaken path loses nothing else. -1 when
 * something else is there (the directory then stays).
 */
int
backup_dir_remove(const char *dir)
{
	static const char *top[] = { BACKUP_MANIFEST, BACKUP_DB, BACKUP_DB "-journal" };
	struct dirent *de;
	struct stat st;
	int dfd, afd;
	DIR *d;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (fstatat(dfd, top[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			unlinkat(dfd, top[i], 0);
	if ((afd = openat(dfd, BACKUP_ASSETS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1 && (d = fdopendir(afd)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (fstatat(afd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				unlinkat(afd, de->d_name, 0);
		closedir(d);
		unlinkat(dfd, BACKUP_ASSETS, AT_REMOVEDIR);
	} else if (afd != -1)
		close(afd);
	close(dfd);
	return rmdir(dir);
}

/* --- interruption ----------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

/* Only a flag: the copy loops look at it and fail, removing their temps. */
static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void
backup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int
backup_interrupted(void)
{
	return interrupted;
}
