/* SPDX-License-Identifier: ISC */
/*
 * cache.c: the bound on the render caches. Each template version has a
 * cache of its own, state_dir/render/cache/<version>/ (render.sh's parts
 * made once per version: the window's background raw, about 440 MB for
 * the shipped greetings at 1280x720). An edited template is a new version
 * with a new cache, and nothing used the old one again: they piled up.
 *
 * cache_prune keeps the caches of the current versions of the templates
 * in templates_dir (what greetbotd and the bots render now) and removes
 * the others that no render holds. A render holds its cache: render.sh
 * takes a shared flock on its GREETBOT_CACHE_DIR for as long as it runs,
 * so a version that a render still uses after a reload (a worker's, a
 * bot's preview) keeps its cache until the next prune. greetbotd prunes
 * at start and on SIGHUP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "log.h"
#include "renderer.h"
#include "template.h"
#include "xmalloc.h"

#define SIZE_DEPTH	4	/* levels of a cache dir counted for the log */

/* The versions to keep, "\n<version>\n..." (one lookup by strstr). */
struct keep {
	char	*set;
	int	 n;
};

/* The current version of every template in templates_dir. -1 when the
 * directory cannot be read: then nothing may be pruned. */
static int
keep_current(const struct config *cfg, struct keep *k)
{
	struct template t;
	struct dirent *de;
	char err[512], *s;
	DIR *d;

	k->set = xstrdup("\n");
	k->n = 0;
	if ((d = opendir(cfg->templates_dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || template_load(&t, cfg->templates_dir, de->d_name,
		    cfg->render_script, NULL, err, sizeof(err)) == -1)
			continue;
		xasprintf(&s, "%s%s\n", k->set, t.version);
		free(k->set);
		k->set = s;
		k->n++;
		template_free(&t);
	}
	closedir(d);
	return 0;
}

/* A name a version's cache dir has: 16 hex digits (template.h). */
static int
version_name(const char *name)
{
	return strlen(name) == 16 && strspn(name, "0123456789abcdef") == 16;
}

/* Bytes below the directory fd, no link followed, SIZE_DEPTH levels. */
static long long
tree_bytes(int fd, int depth)
{
	struct dirent *de;
	struct stat st;
	long long n = 0;
	int dfd, sub;
	DIR *d;

	if ((dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISREG(st.st_mode))
			n += (long long)st.st_blocks * 512;
		else if (S_ISDIR(st.st_mode) && depth > 1 && (sub = openat(dfd, de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
			n += tree_bytes(sub, depth - 1);
			close(sub);
		}
	}
	closedir(d);
	return n;
}

/*
 * Remove one version's cache when no render holds it: with its exclusive
 * lock, renamed out of the way (a render of that version starting now
 * has it built again: jobs/rendsrv.c) and removed without following
 * links (sealed, it is ours and read-only: render_rmtree_at makes each
 * directory writable first). 1 when removed, 0 when in use or gone.
 */
static int
prune_one(int cache, const char *name)
{
	char *old;
	long long bytes;
	int fd;

	if ((fd = openat(cache, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_info("render cache in use: kept until the next prune", "version=%s", name);
		close(fd);
		return 0;
	}
	bytes = tree_bytes(fd, SIZE_DEPTH);
	xasprintf(&old, ".old-%s", name);
	if (renameat(cache, name, cache, old) == -1)
		log_warn("cannot move an old render cache aside", "version=%s", name);
	else {
		render_rmtree_at(cache, old);
		log_info("render cache of an old template version removed", "version=%s mb=%lld",
		    name, bytes >> 20);
	}
	close(fd);	/* the lock goes with it */
	free(old);
	return 1;
}

int
cache_prune(const struct config *cfg, const char *render_dir)
{
	struct keep k;
	struct dirent *de;
	char *dir, *needle;
	int cache, list, n = 0;
	DIR *d;

	if (keep_current(cfg, &k) == -1 || k.n == 0) {
		/* No template read: a wrong templates_dir must not cost every cache. */
		log_warnx("render caches not pruned: no template could be loaded",
		    "templates_dir=%s", cfg->templates_dir);
		free(k.set);
		return 0;
	}
	xasprintf(&dir, "%s/cache", render_dir);
	if ((cache = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (list = openat(cache, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(list)) == NULL) {
		if (cache != -1)
			close(cache);
		free(dir);
		free(k.set);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		/* A removal a crash cut short. */
		if (strncmp(de->d_name, ".old-", 5) == 0 && version_name(de->d_name + 5)) {
			render_rmtree_at(cache, de->d_name);
			continue;
		}
		/* The build of an old version's cache, cut short (that of a
		 * current one is made again by its next build). */
		if (strncmp(de->d_name, ".build-", 7) == 0 && version_name(de->d_name + 7)) {
			xasprintf(&needle, "\n%s\n", de->d_name + 7);
			if (strstr(k.set, needle) == NULL)
				render_rmtree_at(cache, de->d_name);
			free(needle);
			continue;
		}
		if (!version_name(de->d_name))
			continue;
		xasprintf(&needle, "\n%s\n", de->d_name);
		if (strstr(k.set, needle) == NULL)
			n += prune_one(cache, de->d_name);
		free(needle);
	}
	closedir(d);
	close(cache);
	free(dir);
	free(k.set);
	return n;
}
