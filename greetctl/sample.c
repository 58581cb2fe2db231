/* SPDX-License-Identifier: ISC */
/*
 * sample.c: a render with greetbotd's isolation, in a loop of our own: the
 * template snapshotted, the script run by renderer.c as a renderer's user
 * in the sandbox, its output validated, in a temp tree shaped like
 * greetbotd's state_dir/render (template check, template preview).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "greetctl.h"
#include "log.h"
#include "renderer.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "template.h"
#include "xmalloc.h"

static void
sample_done(const struct render_outcome *o, void *arg)
{
	struct sample *s = arg;
	char why[300];

	s->o = *o;
	/* The video, copied from the descriptor the privileged half opened
	 * on the renderer's own file (never from a path it could have made a
	 * link). */
	if (strcmp(o->status, "ok") == 0 && s->dest != NULL) {
		if (render_collect(s->render, "out.mp4", s->dest, MAX_VIDEO, why,
		    sizeof(why)) == -1) {
			s->o.status = "invalid_output";
			snprintf(s->o.cause, sizeof(s->o.cause), "%.250s", why);
		} else
			(void)chmod(s->dest, 0644);
	}
	s->render = NULL;
	event_base_loopbreak(s->base);
}

/* The script's "progress 0.NN" lines: a bar on a terminal, else lines. */
static void
sample_progress(double p, void *arg)
{
	static const char fill[] = "##############################";
	static const char empty[] = "..............................";
	struct sample *s = arg;
	int pct = (int)(p * 100 + 0.5), n = pct * BAR_WIDTH / 100;

	if (s->progress == 0 || pct == s->shown)
		return;
	s->shown = pct;
	if (s->progress == 1)
		fprintf(stderr, "progress %.2f\n", p);
	else
		fprintf(stderr, "\rrendering [%.*s%.*s] %3d%%", n, fill, BAR_WIDTH - n, empty, pct);
}

/* SIGINT or SIGTERM: stop the render (its whole group); done still comes. */
static void
sample_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sample *s = arg;

	(void)what;
	s->interrupted = (int)sig;
	if (s->render != NULL)
		render_kill(s->render);
}

/* The renderers' identity and network namespace, as greetbotd's. */
int
ctl_sandbox(char *err, size_t errlen)
{
	if (gc.sb_made)
		return 0;
	if (sandbox_init(&gc.sb, &gc.cfg, SANDBOX_SLOT_CTL + 1, err, errlen) == -1)
		return -1;
	gc.sb_made = 1;
	return 0;
}

/*
 * The temp tree, shaped like greetbotd's state_dir/render: searchable by
 * the renderer's user but not listable, templates/ (snapshots that
 * everyone may read), the slot's work dir made by the privileged half
 * (rendsrv.c) as greetbotd's, with a cache of its own inside.
 */
static char	ctl_work_root[4096];	/* the privileged half's work_root: this tree */

static int
sample_tmp(struct sample *s, char *err, size_t errlen)
{
	const char *tmpdir = getenv("TMPDIR");

	xasprintf(&s->tmp, "%s/greetctl.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (mkdtemp(s->tmp) == NULL || chmod(s->tmp, 0711) == -1 ||
	    strlen(s->tmp) >= sizeof(ctl_work_root)) {
		snprintf(err, errlen, "temp dir %s: %s", s->tmp, strerror(errno));
		return -1;
	}
	snprintf(ctl_work_root, sizeof(ctl_work_root), "%s", s->tmp);
	xasprintf(&s->work, "%s/s%d", s->tmp, SANDBOX_SLOT_CTL);
	return 0;
}

/* Fill a render request from the template snapshot and the config. */
static void
sample_request(struct render_request *rq, const struct template *t, const char *name)
{
	rq->script = t->script;
	rq->template_dir = t->dir;
	rq->version = t->version;
	rq->private_cache = 1;
	rq->keep_work = 1;	/* its logs are read, then the tree is removed */
	rq->name = name;
	rq->mode = "video";
	rq->min_duration = t->min_duration;
	rq->max_duration = t->max_duration;
	rq->max_bytes = MAX_VIDEO;
}

/* Run the loop until the render is done; then kill whatever escaped it.
 * One loop for every sample of the process, with its privileged half. */
static void
sample_loop(struct sample *s, const struct render_request *rq)
{
	static struct event_base *base;
	static struct rendsrv_env env;
	struct event *sigint, *sigterm;

	if (base == NULL) {
		if ((base = event_base_new()) == NULL)
			fatalx("event_base_new");
		child_init(base);
		/* Descendants that escape the render's group come back to us,
		 * so that child_kill_strays finds them, as in greetbotd. */
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
			log_warn("PR_SET_CHILD_SUBREAPER");
		env.base = base;
		env.sb = &gc.sb;
		env.work_root = ctl_work_root;
		env.cache_fd = -1;
		render_serve_self(&env, SANDBOX_SLOT_CTL, 1);
	}
	/* This sample's tree (each has its own). */
	if (env.work_fd > 0)
		close(env.work_fd);
	env.work_fd = render_dir_open(ctl_work_root);
	s->base = base;
	sigint = evsignal_new(s->base, SIGINT, sample_signal, s);
	sigterm = evsignal_new(s->base, SIGTERM, sample_signal, s);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	s->render = render_start(s->base, rq, sample_done, sample_progress, s);
	event_base_dispatch(s->base);
	/* The render is over: any child left is a stray. Reap the dead ones
	 * (killed with the render's group), kill the living. */
	child_kill_strays();
	if (s->progress == 2 && s->shown > 0)
		fputc('\n', stderr);
	event_free(sigint);
	event_free(sigterm);
}

/*
 * Render the template for name as greetbotd would: the template
 * snapshotted, the script run by renderer.c (own session, rlimits, clean
 * environment, the renderer's user, timeout) and its output validated
 * with ffprobe. 0 when it ran (s->o says how it went), -1 with err when
 * it could not start.
 */
int
sample_run(struct sample *s, const char *id, const char *name, char *err, size_t errlen)
{
	struct render_request rq = { 0 };
	struct template t;
	char *snap;

	if (ctl_sandbox(err, errlen) == -1)
		return -1;
	render_request_config(&rq, &gc.cfg, SANDBOX_SLOT_CTL);
	if (sample_tmp(s, err, errlen) == -1)
		return -1;
	xasprintf(&snap, "%s/templates", s->tmp);
	if (template_load(&t, gc.cfg.templates_dir, id, gc.cfg.render_script, snap, err,
	    errlen) == -1) {
		free(snap);
		return -1;
	}
	free(snap);
	sample_request(&rq, &t, name);
	s->uid = gc.sb.drop ? sandbox_uid(&gc.sb, SANDBOX_SLOT_CTL) : geteuid();
	sample_loop(s, &rq);
	s->version = xstrdup(t.version);
	template_free(&t);
	return 0;
}

/* --- the logs a failed render left ---------------------------------------------- */

#define LOG_LINES	3	/* the first lines of a log: where ffmpeg says why */
#define LOG_WIDTH	300	/* characters of a line at most */
#define LOG_READ	65536	/* bytes of a log read at most */

/*
 * The renderer's own regular file name in dir (a descriptor), opened
 * without following a link: -1 for anything else (a link it planted, a
 * hard link to another file, another user's file). The renderer's files
 * are read as root, so nothing it could have changed is followed.
 */
static int
log_open(int dir, const char *name, uid_t uid)
{
	struct stat st;
	int fd;

	if ((fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != uid ||
	    st.st_nlink != 1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Add the first lines of the log at fd, each as "where: line". */
static void
log_lines(struct buf *b, int fd, const char *where)
{
	char *text = xmalloc(LOG_READ + 1), *save = NULL;
	ssize_t n = read(fd, text, LOG_READ);
	int shown = 0;

	text[n > 0 ? n : 0] = '\0';
	for (char *l = strtok_r(text, "\n", &save); l && shown < LOG_LINES;
	    l = strtok_r(NULL, "\n", &save)) {
		size_t len;

		/* "[Parsed_drawtext_7 @ 0x55b9...] " says where in ffmpeg, not why. */
		while (*l == '[' && (len = strcspn(l, "]")) > 0 && l[len] == ']' &&
		    strstr(l, " @ 0x") != NULL && strstr(l, " @ 0x") < l + len)
			l += len + 1 + strspn(l + len + 1, " ");
		if (*l == '\0')
			continue;
		if (strlen(l) > LOG_WIDTH)
			memcpy(l + LOG_WIDTH - 3, "...", 4);
		buf_add(b, where, strlen(where));
		buf_add(b, ": ", 2);
		buf_add(b, l, strlen(l));
		buf_add(b, "\n", 1);
		shown++;
	}
	free(text);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the ffmpeg*.log files of the directory at fd (prefix: its path
 * under the work dir), in name order. */
static void
log_dir(struct buf *b, int fd, const char *prefix, uid_t uid)
{
	struct dirent *de;
	char **names = NULL, *where;
	size_t n = 0;
	int dup_fd, lf;
	DIR *d;

	/* A descriptor of its own: a dup would share fd's read position. */
	if ((dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return;
	}
	while ((de = readdir(d)) != NULL && n < 64)
		if (strncmp(de->d_name, "ffmpeg", 6) == 0 && strlen(de->d_name) > 10 &&
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".log") == 0) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if ((lf = log_open(fd, names[i], uid)) != -1) {
			xasprintf(&where, "%s%s", prefix, names[i]);
			log_lines(b, lf, where);
			free(where);
			close(lf);
		}
		free(names[i]);
	}
	free(names);
}

/*
 * What ffmpeg said in the logs the render script left in its work dir:
 * ffmpeg*.log there or in a private directory of the script's
 * (scripts/render.sh's .render.PID/, the example's .example.PID/), the
 * first lines of each, "path: line" per line, paths under the work dir.
 * ffmpeg's first error is the cause; the end of stderr (the attempt's
 * tail) often holds only its consequences. NULL when there are none.
 */
char *
sample_logs(const struct sample *s)
{
	struct buf b = { xstrdup(""), 0 };
	struct dirent *de;
	int work, sub;
	DIR *d;

	if (s->work == NULL ||
	    (work = open(s->work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		free(b.p);
		return NULL;
	}
	log_dir(&b, work, "", s->uid);
	if ((sub = openat(work, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1 &&
	    (d = fdopendir(sub)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *prefix;
			int fd;

			if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 || (fd = openat(work, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
				continue;
			xasprintf(&prefix, "%s/", de->d_name);
			log_dir(&b, fd, prefix, s->uid);
			free(prefix);
			close(fd);
		}
		closedir(d);
	} else if (sub != -1)
		close(sub);
	close(work);
	if (b.n == 0) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Remove the temp tree, unless it is kept for a look. */
void
sample_free(struct sample *s)
{
	if (s->tmp != NULL && s->keep)
		fprintf(stderr, "greetctl: kept %s\n", s->tmp);
	else if (s->tmp != NULL)
		render_rmtree(s->tmp);
	free(s->tmp);
	free(s->work);
	free(s->version);
}
