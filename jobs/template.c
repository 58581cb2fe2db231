/* SPDX-License-Identifier: ISC */
/* template.c: template loading, version hashing and snapshots. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "template.h"
#include "xmalloc.h"

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

/* One file of a template, relative to its directory. */
struct tfile {
	char	*rel;
	char	*abs;
	mode_t	 mode;
};

struct tlist {
	struct tfile	*v;
	size_t		 n, cap;
};

uint64_t
template_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	if (h == 0)
		h = FNV_OFFSET;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

static int
tfile_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tfile *)a)->rel, ((const struct tfile *)b)->rel);
}

/* Collect regular files below dir (skipping dot files), sorted by path. */
static int
tlist_walk(struct tlist *l, const char *root, const char *rel)
{
	char *path;
	DIR *d;
	struct dirent *de;

	xasprintf(&path, "%s%s%s", root, *rel ? "/" : "", rel);
	if ((d = opendir(path)) == NULL) {
		free(path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		char *r, *a;

		if (de->d_name[0] == '.')
			continue;
		xasprintf(&r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		xasprintf(&a, "%s/%s", path, de->d_name);
		if (stat(a, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			tlist_walk(l, root, r);
			free(r);
			free(a);
		} else if (S_ISREG(sb.st_mode)) {
			if (l->n == l->cap)
				l->v = xrealloc(l->v, (l->cap = l->cap * 2 + 8) * sizeof(*l->v));
			l->v[l->n].rel = r;
			l->v[l->n].abs = a;
			l->v[l->n++].mode = sb.st_mode;
		} else {
			free(r);
			free(a);
		}
	}
	closedir(d);
	free(path);
	return 0;
}

static void
tlist_free(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].rel);
		free(l->v[i].abs);
	}
	free(l->v);
}

/* Hash a file's bytes into h; -1 when it cannot be read. */
static int
hash_file(uint64_t *h, const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		*h = template_hash(*h, buf, (size_t)n);
	close(fd);
	return n == 0 ? 0 : -1;
}

/* Copy src to dst (temp name, then rename, so a crash leaves no half file). */
static int
copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536], *tmp;
	ssize_t n = 0;
	int in, out, rc = -1;

	xasprintf(&tmp, "%s.tmp%d", dst, (int)getpid());
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		free(tmp);
		return -1;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) != -1) {
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
		if (close(out) == 0 && n == 0 && fchmodat(AT_FDCWD, tmp, mode, 0) == 0 &&
		    rename(tmp, dst) == 0)
			rc = 0;
	}
	close(in);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* mkdir -p with mode, for the snapshot tree. */
static int
mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -1;
	return chmod(path, mode);
}

/*
 * Split a template.conf line as render.sh reads it: blanks, a key
 * [a-z][a-z0-9_]*, blanks, '=', blanks, the value without the white space
 * (a CR included) at its end. Returns the value, with the key ended in
 * place, or NULL when the line has another shape.
 */
static char *
conf_split(char *line, char **key)
{
	const char *blank = " \t\v\f\r\n";
	char *p = line + strspn(line, blank), *kend, *v, *e;

	if (*p < 'a' || *p > 'z')
		return NULL;
	*key = p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
		p++;
	kend = p;
	p += strspn(p, blank);
	if (*p != '=')
		return NULL;
	*kend = '\0';
	v = p + 1 + strspn(p + 1, blank);
	for (e = v + strlen(v); e > v && strchr(blank, e[-1]) != NULL; e--)
		;
	*e = '\0';
	return v;
}

/* Read the few keys greetbotd itself needs from template.conf; an empty
 * value leaves the default. */
static int
template_conf(struct template *t, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *key, *val;
	size_t cap = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	t->min_duration = 1;
	t->max_duration = 60;
	while (getline(&line, &cap, f) != -1) {
		if ((val = conf_split(line, &key)) == NULL || *val == '\0')
			continue;
		if (strcmp(key, "min_duration") == 0)
			t->min_duration = strtod(val, NULL);
		else if (strcmp(key, "max_duration") == 0)
			t->max_duration = strtod(val, NULL);
		else if (strcmp(key, "language") == 0) {
			free(t->language);
			t->language = xstrdup(val);
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/*
 * Copy the listed files, the script's parts (to .render.d/, as the
 * script's name without ".sh" plus ".d") and the script into t's snapshot
 * directory.
 */
static int
template_snapshot(struct template *t, struct tlist *l, struct tlist *parts,
    const char *root, char *err, size_t errlen)
{
	char *dir, *script;
	struct stat sb;

	xasprintf(&dir, "%s/%s-%s", root, t->id, t->version);
	xasprintf(&script, "%s/.render", dir);
	if (stat(script, &sb) != 0) {
		for (size_t i = 0; i < l->n + parts->n; i++) {
			struct tfile *f = i < l->n ? &l->v[i] : &parts->v[i - l->n];
			char *dst, *slash;

			xasprintf(&dst, "%s/%s%s", dir, i < l->n ? "" : ".render.d/", f->rel);
			slash = strrchr(dst, '/');
			*slash = '\0';
			if (mkdirs(dst, 0755) == -1) {
				snprintf(err, errlen, "mkdir %s: %s", dst, strerror(errno));
				free(dst);
				goto fail;
			}
			*slash = '/';
			if (copy_file(f->abs, dst, (f->mode & 0111) ? 0755 : 0644) == -1) {
				snprintf(err, errlen, "copy %s: %s", f->abs, strerror(errno));
				free(dst);
				goto fail;
			}
			free(dst);
		}
		/* The script last: its presence marks a complete snapshot. */
		if (copy_file(t->script, script, 0755) == -1) {
			snprintf(err, errlen, "copy %s: %s", t->script, strerror(errno));
			goto fail;
		}
	}
	free(t->dir);
	free(t->script);
	t->dir = dir;
	t->script = script;
	return 0;
fail:
	free(dir);
	free(script);
	return -1;
}

int
template_load(struct template *t, const char *templates_dir, const char *id,
    const char *default_script, const char *snapshot_root, char *err, size_t errlen)
{
	struct tlist l = { 0 }, parts = { 0 };
	uint64_t h = 0;
	char *conf, *own, *pdir;
	size_t len;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	t->id = xstrdup(id);
	xasprintf(&t->dir, "%s/%s", templates_dir, id);
	xasprintf(&conf, "%s/template.conf", t->dir);
	xasprintf(&own, "%s/render.sh", t->dir);
	t->script = xstrdup(access(own, X_OK) == 0 ? own : default_script);
	if (template_conf(t, conf, err, errlen) == -1 ||
	    tlist_walk(&l, t->dir, "") == -1)
		goto out;
	qsort(l.v, l.n, sizeof(*l.v), tfile_cmp);
	for (size_t i = 0; i < l.n; i++) {
		h = template_hash(h, l.v[i].rel, strlen(l.v[i].rel) + 1);
		if (hash_file(&h, l.v[i].abs) == -1) {
			snprintf(err, errlen, "%s: %s", l.v[i].abs, strerror(errno));
			goto out;
		}
	}
	if (hash_file(&h, t->script) == -1) {
		snprintf(err, errlen, "render script %s: %s", t->script, strerror(errno));
		goto out;
	}
	/* The files the script sources or runs: SCRIPT.d, ".sh" left out
	 * (scripts/render.d beside scripts/render.sh), when it exists. */
	len = strlen(t->script);
	if (len > 3 && strcmp(t->script + len - 3, ".sh") == 0)
		len -= 3;
	xasprintf(&pdir, "%.*s.d", (int)len, t->script);
	if (tlist_walk(&parts, pdir, "") == 0)
		qsort(parts.v, parts.n, sizeof(*parts.v), tfile_cmp);
	free(pdir);
	for (size_t i = 0; i < parts.n; i++) {
		h = template_hash(h, ".render.d/", 10);
		h = template_hash(h, parts.v[i].rel, strlen(parts.v[i].rel) + 1);
		if (hash_file(&h, parts.v[i].abs) == -1) {
			snprintf(err, errlen, "%s: %s", parts.v[i].abs, strerror(errno));
			goto out;
		}
	}
	xasprintf(&t->version, "%016llx", (unsigned long long)h);
	if (t->language == NULL)
		t->language = xstrdup("ru");
	rc = snapshot_root ? template_snapshot(t, &l, &parts, snapshot_root, err, errlen) : 0;
out:
	tlist_free(&l);
	tlist_free(&parts);
	free(conf);
	free(own);
	if (rc == -1)
		template_free(t);
	return rc;
}

int
template_reload(struct template *t, const char *templates_dir, const char *id,
    const char *default_script, const char *snapshot_root)
{
	struct template nt;
	char err[512];

	if (template_load(&nt, templates_dir, id, default_script, snapshot_root, err,
	    sizeof(err)) == -1) {
		log_warnx("reload: template kept", "reason=%s", err);
		return -1;
	}
	template_free(t);
	*t = nt;
	return 0;
}

void
template_free(struct template *t)
{
	free(t->id);
	free(t->dir);
	free(t->version);
	free(t->script);
	free(t->language);
	memset(t, 0, sizeof(*t));
}
