/* renderer.c: render attempts, from fork to a classified, validated outcome. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "renderer.h"
#include "sandbox.h"
#include "xmalloc.h"

#define RENDER_STDOUT_MAX	(64 * 1024)

enum render_phase { PHASE_RENDER, PHASE_PROBE, PHASE_DONE };

#define PROBE_TIMEOUT	30	/* seconds ffprobe may take on one output */

struct render {
	struct event_base	*base;
	struct render_request	 req;		/* strings owned below */
	char			*strs[8];
	enum render_phase	 phase;
	pid_t			 pid;
	int			 timed_out;
	int			 probe_timed_out;	/* ffprobe killed at PROBE_TIMEOUT */
	struct timespec		 started;
	struct event		*timer;		/* timeout, then grace */
	struct event		*out_ev, *err_ev;
	int			 out_fd, err_fd;
	char			 line[256];	/* partial stdout line */
	size_t			 linelen;
	char			*probe_out;	/* ffprobe's JSON */
	size_t			 probe_len;
	struct render_outcome	 o;
	render_done_cb		 done;
	render_progress_cb	 progress;
	void			*arg;
};

static double
elapsed(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Deliver the outcome once and free everything. */
static void
render_finish(struct render *r)
{
	r->phase = PHASE_DONE;
	if (r->o.duration == 0)
		r->o.duration = elapsed(&r->started);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->out_ev != NULL)
		event_free(r->out_ev);
	if (r->err_ev != NULL)
		event_free(r->err_ev);
	if (r->out_fd >= 0)
		close(r->out_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	log_debug("render outcome", "status=%s exit=%d signal=%d",
	    r->o.status, r->o.exit_code, r->o.signal);
	r->done(&r->o, r->arg);
	for (size_t i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++)
		free(r->strs[i]);
	free(r->probe_out);
	free(r);
}

static void
set_outcome(struct render *r, const char *status, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record (status, retryable, cause). */
static void
set_outcome(struct render *r, const char *status, int retryable, const char *fmt, ...)
{
	va_list ap;

	r->o.status = status;
	r->o.retryable = retryable;
	va_start(ap, fmt);
	vsnprintf(r->o.cause, sizeof(r->o.cause), fmt, ap);
	va_end(ap);
}

/* Keep the last bytes of stderr: the end says why a script failed. */
static void
tail_append(struct render *r, const char *buf, size_t n)
{
	size_t cap = sizeof(r->o.stderr_tail) - 1, have = strlen(r->o.stderr_tail);

	if (n >= cap) {
		memcpy(r->o.stderr_tail, buf + n - cap, cap);
		r->o.stderr_tail[cap] = '\0';
		return;
	}
	if (have + n > cap) {
		memmove(r->o.stderr_tail, r->o.stderr_tail + (have + n - cap), cap - n);
		have = cap - n;
	}
	memcpy(r->o.stderr_tail + have, buf, n);
	r->o.stderr_tail[have + n] = '\0';
}

/* A "progress 0.42" line from the script, or "stress 0,2": the stress
 * that changes the name's sound (render script contract). */
static void
render_line(struct render *r, const char *line)
{
	double p;
	char *end;

	if (strncmp(line, "stress", 6) == 0 && (line[6] == ' ' || line[6] == '\0')) {
		const char *v = line[6] == ' ' ? line + 7 : line + 6;

		if (strspn(v, "0123456789,") == strlen(v) && strlen(v) < sizeof(r->o.stress)) {
			snprintf(r->o.stress, sizeof(r->o.stress), "%s", v);
			r->o.stress_known = 1;
		}
		return;
	}
	if (strncmp(line, "progress ", 9) != 0)
		return;
	p = strtod(line + 9, &end);
	if (end != line + 9 && p >= 0 && p <= 1 && r->progress != NULL)
		r->progress(p, r->arg);
}

/* Read what is there without blocking; a hostile script may write 100 MB
 * to stderr, which we consume and mostly forget. Returns 0 at EOF. */
static int
render_drain(struct render *r, int fd)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (fd == r->err_fd) {
			tail_append(r, buf, (size_t)n);
			continue;
		}
		if (r->phase == PHASE_PROBE) {
			if (r->probe_len + (size_t)n > RENDER_STDOUT_MAX)
				continue;
			r->probe_out = xrealloc(r->probe_out, r->probe_len + (size_t)n + 1);
			memcpy(r->probe_out + r->probe_len, buf, (size_t)n);
			r->probe_len += (size_t)n;
			r->probe_out[r->probe_len] = '\0';
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || r->linelen == sizeof(r->line) - 1) {
				r->line[r->linelen] = '\0';
				render_line(r, r->line);
				r->linelen = 0;
			} else
				r->line[r->linelen++] = buf[i];
		}
	}
	return n == 0 ? 0 : 1;
}

static void
render_readable(evutil_socket_t fd, short what, void *arg)
{
	struct render *r = arg;

	(void)what;
	if (render_drain(r, fd) == 0) {
		/* EOF: stop watching; the exit event finishes the attempt. */
		if (fd == r->out_fd)
			event_del(r->out_ev);
		else
			event_del(r->err_ev);
	}
}

/* Wall-clock timeout: SIGTERM to the whole group, then SIGKILL. */
static void
render_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct render *r = arg;
	struct timeval tv = { r->req.grace, 0 };

	(void)fd;
	(void)what;
	if (r->phase == PHASE_PROBE) {
		/* ffprobe itself: it reads what the renderer made. */
		log_warnx("ffprobe took too long, killing it", "pid=%d", (int)r->pid);
		r->probe_timed_out = 1;
		kill(r->pid, SIGKILL);
		return;
	}
	if (!r->timed_out) {
		r->timed_out = 1;
		log_warnx("render timed out, sending SIGTERM", "pid=%d timeout=%d",
		    (int)r->pid, r->req.timeout);
		killpg(r->pid, SIGTERM);
		evtimer_add(r->timer, &tv);
	} else {
		log_warnx("render ignored SIGTERM, sending SIGKILL", "pid=%d", (int)r->pid);
		killpg(r->pid, SIGKILL);
	}
}

/* Make a pipe whose read end is non-blocking and watched. */
static int
render_pipe(struct render *r, int *rfd, struct event **ev)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*rfd = p[0];
	*ev = event_new(r->base, p[0], EV_READ | EV_PERSIST, render_readable, r);
	event_add(*ev, NULL);
	return p[1];
}

static void render_exited(pid_t, int, const struct rusage *, void *);
static void render_probe_exited(pid_t, int, const struct rusage *, void *);

/* A death by signal: the rlimits' signals are "limit", others "crashed". */
static void
render_classify_signal(struct render *r, int sig, const char *who)
{
	if (sig == SIGXCPU || sig == SIGKILL)
		set_outcome(r, "limit", 1, "%s was killed by SIG%s (CPU limit or out of "
		    "memory)", who, sigabbrev_np(sig));
	else if (sig == SIGXFSZ)
		set_outcome(r, "limit", 1, "%s exceeded the file size limit (SIGXFSZ)", who);
	else
		set_outcome(r, "crashed", 1, "%s was killed by signal %d (%s)", who, sig,
		    strsignal(sig));
}

/* Outcome of the script's exit, by the SPEC's exit code protocol. */
static void
render_classify(struct render *r, int status)
{
	if (r->timed_out) {
		set_outcome(r, "timeout", 1, "no result within %d s", r->req.timeout);
		if (WIFSIGNALED(status))
			r->o.signal = WTERMSIG(status);
		else
			r->o.exit_code = WEXITSTATUS(status);
		return;
	}
	if (WIFSIGNALED(status)) {
		r->o.signal = WTERMSIG(status);
		render_classify_signal(r, r->o.signal, "the script");
		return;
	}
	r->o.exit_code = WEXITSTATUS(status);
	if (r->o.exit_code > 128 && r->o.exit_code < 128 + NSIG) {
		/* The shell's way to say a command it ran died by a signal. */
		render_classify_signal(r, r->o.exit_code - 128, "a command in the script");
		return;
	}
	switch (r->o.exit_code) {
	case 0:
		set_outcome(r, "ok", 0, "rendered");
		break;
	case 65:
		set_outcome(r, "bad_name", 0, "render script rejected the name (65)");
		break;
	case 78:
		set_outcome(r, "template_broken", 0, "template is broken (78)");
		break;
	case 75:
		set_outcome(r, "tempfail", 1, "temporary failure (75)");
		break;
	default:
		set_outcome(r, "failed", 1, "render script exited %d", r->o.exit_code);
	}
}

/* The script and ffprobe (which parses what the script wrote) run alike:
 * the slot's user, no network, the render's limits. */
static void
render_isolate(struct child_spec *cs, const struct render_request *req)
{
	cs->limits = &req->limits;
	cs->pdeathsig = SIGKILL;	/* its result would be lost anyway */
	cs->drop = req->drop;
	cs->uid = req->uid;
	cs->gid = req->gid;
	cs->netns = req->netns;
	cs->sandboxed = 1;
	cs->nice = req->nice;
}

/* Start ffprobe on the output; its JSON arrives on the stdout pipe. */
static void
render_probe(struct render *r)
{
	char *argv[] = { "ffprobe", "-v", "error", "-print_format", "json",
	    "-show_format", "-show_streams", (char *)r->req.output, NULL };
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL };
	struct child_spec cs = { 0 };
	struct stat sb;
	struct timeval tv = { PROBE_TIMEOUT, 0 };
	const char *base = strrchr(r->req.output, '/');
	char why[300];
	int wfd, fd;

	/* Nothing of the renderer is read until it is known to be a regular
	 * file of its own (ffprobe would follow a link, or wait on a FIFO). */
	base = base != NULL ? base + 1 : r->req.output;
	if ((fd = render_output_open(&r->req, r->req.work_dir, base, 0, why, sizeof(why))) ==
	    -1) {
		if (errno == ENOENT)
			set_outcome(r, "invalid_output", 1, "exit 0 but no output file");
		else
			set_outcome(r, "invalid_output", 0, "%s", why);
		render_finish(r);
		return;
	}
	if (fstat(fd, &sb) == -1 || sb.st_size == 0) {
		close(fd);
		set_outcome(r, "invalid_output", 1, "exit 0 but no output file");
		render_finish(r);
		return;
	}
	close(fd);
	if (r->req.max_bytes > 0 && sb.st_size > r->req.max_bytes) {
		set_outcome(r, "invalid_output", 0, "output is %lld bytes, over %lld",
		    (long long)sb.st_size, r->req.max_bytes);
		render_finish(r);
		return;
	}
	if (r->req.no_probe) {
		render_finish(r);
		return;
	}
	r->phase = PHASE_PROBE;
	if ((wfd = render_pipe(r, &r->out_fd, &r->out_ev)) == -1)
		fatal("pipe");
	cs.path = "/usr/bin/ffprobe";
	cs.argv = argv;
	cs.envp = envp;
	cs.fd_in = cs.fd_err = -1;
	cs.fd_out = wfd;
	render_isolate(&cs, &r->req);
	r->pid = child_spawn(&cs, render_probe_exited, r);
	close(wfd);
	if (r->pid == -1) {
		set_outcome(r, "tempfail", 1, "cannot run ffprobe: %s", strerror(errno));
		render_finish(r);
		return;
	}
	evtimer_add(r->timer, &tv);
}

/* Check ffprobe's view: a video and an audio stream, duration in bounds. */
static void
render_validate(struct render *r)
{
	cJSON *j = cJSON_Parse(r->probe_out ? r->probe_out : "");
	const cJSON *s, *fmt;
	int video = 0, audio = 0;
	double dur = -1;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "streams")) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_type"));
		if (type != NULL && strcmp(type, "video") == 0)
			video++;
		if (type != NULL && strcmp(type, "audio") == 0)
			audio++;
	}
	if ((fmt = cJSON_GetObjectItem(j, "format")) != NULL) {
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(fmt, "duration"));
		if (d != NULL)
			dur = strtod(d, NULL);
	}
	cJSON_Delete(j);
	if (video < 1 || audio < 1)
		set_outcome(r, "invalid_output", 1, "output has %d video and %d audio streams",
		    video, audio);
	else if (dur < r->req.min_duration || dur > r->req.max_duration)
		set_outcome(r, "invalid_output", 1, "duration %.2f s outside %.2f..%.2f",
		    dur, r->req.min_duration, r->req.max_duration);
}

static void
render_probe_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct render *r = arg;

	(void)pid;
	(void)ru;
	evtimer_del(r->timer);
	render_drain(r, r->out_fd);
	if (r->probe_timed_out)
		set_outcome(r, "invalid_output", 0, "ffprobe did not finish reading the output "
		    "in %d s", PROBE_TIMEOUT);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		set_outcome(r, "invalid_output", 1, "ffprobe cannot read the output");
	else
		render_validate(r);
	render_finish(r);
}

static void
render_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct render *r = arg;

	/* Whatever the script left in its group (a grandchild) dies now.
	 * Again while any is left: a fork racing the first kill can leave a
	 * new member (a fork bomb does exactly that). */
	for (int i = 0; i < 10 && killpg(pid, SIGKILL) == 0; i++)
		;
	/* And whatever of its uid escaped the group (setsid): nothing of the
	 * renderer may change its outputs between their checks and their use. */
	if (r->req.own_uid)
		child_kill_uid(r->req.uid, r->req.gid);
	r->o.duration = elapsed(&r->started);
	r->o.cpu_seconds = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
	r->o.max_rss_kb = ru->ru_maxrss;
	evtimer_del(r->timer);
	render_drain(r, r->out_fd);
	render_drain(r, r->err_fd);
	event_free(r->out_ev);
	event_free(r->err_ev);
	r->out_ev = r->err_ev = NULL;
	close(r->out_fd);
	close(r->err_fd);
	r->out_fd = r->err_fd = -1;
	render_classify(r, status);
	if (strcmp(r->o.status, "ok") == 0 && strcmp(r->req.mode, "video") == 0)
		render_probe(r);
	else
		render_finish(r);
}

/* Failed before the script ran: finish from the loop, not inside start. */
static void
render_spawn_failed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	render_finish(arg);
}

/* The explicit environment: nothing inherited, no token, no database. */
static void
render_env(const struct render *r, char **envp, char **own, size_t n)
{
	size_t i = 0;

	xasprintf(&own[i], "HOME=%s", r->req.work_dir), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_NAME=%s", r->req.name), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_TEMPLATE_DIR=%s", r->req.template_dir), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_CACHE_DIR=%s", r->req.cache_dir), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_OUTPUT=%s", r->req.output), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_THUMB=%s", r->req.thumb), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_MODE=%s", r->req.mode), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_WORK_DIR=%s", r->req.work_dir), envp[i] = own[i], i++;
	/* The stress the name is to be spoken with (names.h), when it has one. */
	if (r->req.stress != NULL && *r->req.stress != '\0')
		xasprintf(&own[i], "GREETBOT_STRESS=%s", r->req.stress), envp[i] = own[i], i++;
	/* How many cores the render may use (render.sh: x264's threads). */
	if (r->req.threads > 0)
		xasprintf(&own[i], "GREETBOT_THREADS=%d", r->req.threads), envp[i] = own[i], i++;
	envp[i++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	envp[i++] = "LANG=C.UTF-8";
	envp[i] = NULL;
	if (i >= n)
		fatalx("render_env: too many variables");
}

struct render *
render_start(struct event_base *base, const struct render_request *req,
    render_done_cb done, render_progress_cb progress, void *arg)
{
	struct render *r = xcalloc(1, sizeof(*r));
	char *own[10] = { 0 }, *envp[14], *argv[2];
	struct child_spec cs = { 0 };
	struct timeval tv = { req->timeout, 0 };
	int wout, werr;

	r->base = base;
	r->req = *req;
	r->done = done;
	r->progress = progress;
	r->arg = arg;
	r->out_fd = r->err_fd = -1;
	r->o.exit_code = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->req.output = r->strs[0] = xstrdup(req->output);
	r->req.mode = r->strs[1] = xstrdup(req->mode ? req->mode : "video");
	r->req.script = r->strs[2] = xstrdup(req->script);
	r->req.work_dir = r->strs[3] = xstrdup(req->work_dir);	/* read again at the end */
	r->timer = evtimer_new(base, render_timeout, r);
	wout = render_pipe(r, &r->out_fd, &r->out_ev);
	werr = render_pipe(r, &r->err_fd, &r->err_ev);
	if (wout == -1 || werr == -1)
		fatal("pipe");
	render_env(r, envp, own, sizeof(envp) / sizeof(envp[0]));
	argv[0] = (char *)req->script;
	argv[1] = NULL;
	cs.path = req->script;
	cs.argv = argv;
	cs.envp = envp;
	cs.dir = req->work_dir;
	cs.new_session = 1;
	cs.fd_in = -1;
	cs.fd_out = wout;
	cs.fd_err = werr;
	render_isolate(&cs, req);
	r->pid = child_spawn(&cs, render_exited, r);
	close(wout);
	close(werr);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		free(own[i]);
	if (r->pid == -1) {
		struct timeval now = { 0, 0 };

		set_outcome(r, "spawn_failed", 1, "cannot start %s: %s", req->script,
		    strerror(errno));
		event_free(r->timer);
		r->timer = evtimer_new(base, render_spawn_failed, r);
		evtimer_add(r->timer, &now);
		return r;
	}
	evtimer_add(r->timer, &tv);
	return r;
}

void
render_kill(struct render *r)
{
	if (r->phase != PHASE_DONE && r->pid > 0)
		killpg(r->pid, SIGKILL);
}

void
render_renice(struct render *r, int nice)
{
	if (r->phase == PHASE_RENDER && r->pid > 0 && setpriority(PRIO_PGRP, (id_t)r->pid,
	    nice) == -1)
		log_warn("cannot renice a render", "pid=%d nice=%d", (int)r->pid, nice);
}

void
render_request_config(struct render_request *rq, const struct config *c,
    const struct sandbox *sb, int slot)
{
	rq->drop = sb->drop;
	rq->uid = sb->drop ? sandbox_uid(sb, slot) : geteuid();
	rq->own_uid = sb->drop && sb->uid_base != 0;
	rq->gid = sb->gid;
	rq->netns = sb->netns;
	rq->limits.cpu = (rlim_t)c->render_cpu;
	rq->limits.as = (rlim_t)c->render_memory_mb << 20;
	rq->limits.fsize = (rlim_t)c->render_fsize_mb << 20;
	rq->limits.nofile = (rlim_t)c->render_nofile;
	rq->limits.nproc = (rlim_t)c->render_nproc;
	rq->timeout = c->render_timeout;
	rq->grace = c->render_grace;
	rq->no_probe = !c->render_validate;
}

const struct render_request *
render_request_of(const struct render *r)
{
	return &r->req;
}

int
render_output_open(const struct render_request *rq, const char *work_dir, const char *name,
    long long max, char *why, size_t whylen)
{
	uid_t owner = rq->drop ? rq->uid : geteuid();
	struct stat st;
	int dfd, fd;

	if ((dfd = open(work_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "its work dir cannot be opened: %s", strerror(errno));
		return -1;
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		int e = errno;

		snprintf(why, whylen, e == ELOOP ? "%s is a symbolic link" : "%s: %s", name,
		    strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != owner ||
	    st.st_nlink != 1 || (max > 0 && st.st_size > max)) {
		snprintf(why, whylen, "%s is not a file of the renderer's own (%s)", name,
		    !S_ISREG(st.st_mode) ? "not a regular file" : st.st_uid != owner ?
		    "owned by another uid" : st.st_nlink != 1 ? "a hard link" : "too large");
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int
render_collect(const struct render_request *rq, const char *work_dir, const char *name,
    const char *dst, long long max, char *why, size_t whylen)
{
	char buf[65536], *tmp;
	int in, out, ok = 1;
	ssize_t n;

	if ((in = render_output_open(rq, work_dir, name, max, why, whylen)) == -1)
		return -1;
	xasprintf(&tmp, "%s.part", dst);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		close(in);
		free(tmp);
		return -1;
	}
	/* Blocking reads from here: it is a regular file. */
	fcntl(in, F_SETFL, 0);
	while (ok && (n = read(in, buf, sizeof(buf))) != 0) {
		ok = n > 0;
		for (ssize_t off = 0; ok && off < n; ) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			ok = w > 0;
			off += w > 0 ? w : 0;
		}
	}
	ok = ok && fsync(out) == 0;
	ok = close(out) == 0 && ok && rename(tmp, dst) == 0;
	if (!ok) {
		snprintf(why, whylen, "cannot keep %s: %s", name, strerror(errno));
		unlink(tmp);
	}
	close(in);
	free(tmp);
	return ok ? 0 : -1;
}

/*
 * Removing what a renderer left, as root, must never follow a path it
 * could have changed: every entry is removed relative to its directory's
 * descriptor (unlinkat), and a subdirectory is entered only by openat
 * with O_NOFOLLOW | O_DIRECTORY, so a link swapped in leads nowhere. A tree
 * deeper than RM_DEPTH is not followed down: its deep part is renamed up
 * to the top directory and emptied from there, so no nesting costs more
 * than RM_DEPTH descriptors or frames.
 */
#define RM_DEPTH	32

static int rm_seq;

/* Empty the directory open at dfd; top is the tree's top directory. */
static void
rm_children(int dfd, int top, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char aside[64];
		int sub;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, e->d_name, 0) == 0 || errno != EISDIR)
			continue;
		if (depth >= RM_DEPTH) {
			snprintf(aside, sizeof(aside), ".deep.%d.%d", (int)getpid(), ++rm_seq);
			(void)renameat(dfd, e->d_name, top, aside);
			continue;
		}
		if ((sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;
		rm_children(sub, top, depth + 1);
		close(sub);
		(void)unlinkat(dfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Empty the directory open at fd, again while deep parts were moved up
 * (each pass removes RM_DEPTH levels of them). */
static void
rm_all(int fd)
{
	for (int pass = 0; pass < 1000; pass++) {
		int before = rm_seq;

		rm_children(fd, fd, 0);
		if (rm_seq == before)
			break;
	}
}

void
render_rmtree(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		(void)unlink(dir);	/* a link or a file in its place */
		return;
	}
	rm_all(fd);
	close(fd);
	(void)rmdir(dir);
}

int
render_empty(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	rm_all(fd);
	close(fd);
	return 0;
}

/* mkdir that accepts an existing directory and sets the mode either way. */
static void
mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir", "path=%s", path);
	if (chmod(path, mode) == -1)
		fatal("chmod", "path=%s", path);
}

char *
render_dirs(const char *state_dir)
{
	static const struct { const char *name; mode_t mode; } sub[] = {
		{ "work", 0711 }, { "cache", 0711 }, { "templates", 0755 },
	};
	char *dir, *p;

	mkdir_mode(state_dir, 0711);
	xasprintf(&dir, "%s/render", state_dir);
	mkdir_mode(dir, 0711);
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		xasprintf(&p, "%s/%s", dir, sub[i].name);
		mkdir_mode(p, sub[i].mode);
		free(p);
	}
	return dir;
}
