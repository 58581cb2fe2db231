/* SPDX-License-Identifier: ISC */
/*
 * renderer.c: render attempts, from the request to a classified, validated
 * outcome: the asking half. The processes themselves are started, killed
 * and reaped by the privileged half (rendsrv.c, greetbotd's parent) on
 * our request over a channel (rendproto.h); what they write comes here on
 * pipes we made, and is read only here: the script's stress and progress
 * lines and the end of its stderr, ffprobe's JSON. The outputs come as
 * descriptors opened by the privileged half on files it checked.
 */
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

#include "chan.h"
#include "config.h"
#include "log.h"
#include "privsep.h"
#include "renderer.h"
#include "rendproto.h"
#include "rendsrv.h"
#include "xmalloc.h"

#define RENDER_STDOUT_MAX	(64 * 1024)

enum render_phase { PHASE_RENDER, PHASE_PROBE, PHASE_DONE };

#define PROBE_TIMEOUT	30	/* seconds ffprobe may take on one output */

struct render {
	struct event_base	*base;
	struct render_request	 req;		/* strings owned below */
	char			*strs[8];
	uint32_t		 id;		/* ours, in every message of it */
	enum render_phase	 phase;
	pid_t			 pid;		/* of the phase's process, once spawned */
	int			 asked;		/* a spawn was asked: the slot to release */
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
	int			 outs[RP_OUTPUTS];	/* the outputs' fds, or -1 */
	int			 out_err[RP_OUTPUTS];
	int			 given[RP_OUTPUTS];	/* the service user's (rp_exited) */
	char			*linked[RP_OUTPUTS];	/* keep_as's .part, a link to it */
	char			 out_why[RP_OUTPUTS][RP_WHY];
	struct render_outcome	 o;
	render_done_cb		 done;
	render_progress_cb	 progress;
	void			*arg;
	struct render		*next;
};

/* The channel to the privileged half, and the attempts that wait on it. */
static struct {
	struct chan	*chan;
	struct render	*list;
	uint32_t	 last_id;
} rc;

static void render_probe(struct render *);

static double
elapsed(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * The outputs greetbotd gave us, linked where the request keeps them
 * (<keep_as>.mp4.part, .jpg.part) while they still have their name in
 * the work dir, which the slot's release empties: a file with no name
 * left cannot be linked again. render_collect syncs and renames them.
 */
static void
render_link_outputs(struct render *r)
{
	static const int m = RP_VIDEO;

	if (r->req.keep_as == NULL || strcmp(r->o.status, "ok") != 0 ||
	    strcmp(r->req.mode, "video") != 0)
		return;
	for (int i = 0; i < RP_OUTPUTS; i++) {
		char self[64], *tmp;

		if (!r->given[i] || r->outs[i] < 0 || rp_outputs[m][i] == NULL)
			continue;
		snprintf(self, sizeof(self), "/proc/self/fd/%d", r->outs[i]);
		xasprintf(&tmp, "%s%s.part", r->req.keep_as, strrchr(rp_outputs[m][i], '.'));
		/* Over a .part an attempt before a crash left. */
		if (linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 ||
		    (errno == EEXIST && unlink(tmp) == 0 &&
		    linkat(AT_FDCWD, self, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0))
			r->linked[i] = tmp;
		else {
			log_debug("output not linked, copied", "path=%s error=%s", tmp,
			    strerror(errno));
			free(tmp);
		}
	}
}

/* Deliver the outcome once and free everything; the slot goes back (its
 * work dir is emptied by the privileged half). */
static void
render_finish(struct render *r)
{
	struct render **pp;

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
	for (pp = &rc.list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	log_debug("render outcome", "status=%s exit=%d signal=%d",
	    r->o.status, r->o.exit_code, r->o.signal);
	/* Before done, which may start the slot's next render: the privileged
	 * half reads the channel in order, so that render's spawn comes after
	 * the release and finds the work dir empty (a release after it would
	 * kill it). What done collects, it collects from our descriptors,
	 * which emptying the directory leaves readable. */
	render_link_outputs(r);
	if (r->asked && !r->req.keep_work && rc.chan != NULL) {
		struct rp_ctl m = { RP_RELEASE, r->id, r->req.slot };

		(void)chan_send(rc.chan, &m, sizeof(m), NULL, 0);
	}
	r->done(&r->o, r->arg);
	for (int i = 0; i < RP_OUTPUTS; i++) {
		if (r->outs[i] >= 0)
			close(r->outs[i]);
		if (r->linked[i] != NULL)
			(void)unlink(r->linked[i]);	/* not collected */
		free(r->linked[i]);
	}
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

/* Wall-clock timeout: SIGTERM to the whole group, then SIGKILL (the
 * privileged half sends them). */
static void
render_signal(struct render *r, int sig)
{
	struct rp_ctl m = { RP_SIGNAL, r->id, sig };

	if (rc.chan != NULL)
		(void)chan_send(rc.chan, &m, sizeof(m), NULL, 0);
}

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
		render_signal(r, SIGKILL);
		return;
	}
	if (!r->timed_out) {
		r->timed_out = 1;
		log_warnx("render timed out, sending SIGTERM", "pid=%d timeout=%d",
		    (int)r->pid, r->req.timeout);
		render_signal(r, SIGTERM);
		evtimer_add(r->timer, &tv);
	} else {
		log_warnx("render ignored SIGTERM, sending SIGKILL", "pid=%d", (int)r->pid);
		render_signal(r, SIGKILL);
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

/* A stream's width or height in ffprobe's JSON, 0 when absent or absurd. */
static int
probe_dim(const cJSON *stream, const char *key)
{
	double v = cJSON_GetNumberValue(cJSON_GetObjectItem(stream, key));

	return v >= 1 && v <= 65535 ? (int)v : 0;
}

/* Check ffprobe's view: a video and an audio stream, duration in bounds;
 * the video's frame size and duration are kept for sendVideo. */
static void
render_validate(struct render *r)
{
	cJSON *j = cJSON_Parse(r->probe_out ? r->probe_out : "");
	const cJSON *s, *fmt;
	int video = 0, audio = 0;
	double dur = -1;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "streams")) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_type"));
		if (type != NULL && strcmp(type, "video") == 0 && video++ == 0) {
			r->o.width = probe_dim(s, "width");
			r->o.height = probe_dim(s, "height");
		}
		if (type != NULL && strcmp(type, "audio") == 0)
			audio++;
	}
	if ((fmt = cJSON_GetObjectItem(j, "format")) != NULL) {
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(fmt, "duration"));
		if (d != NULL)
			dur = strtod(d, NULL);
	}
	cJSON_Delete(j);
	r->o.media_duration = dur > 0 ? dur : 0;
	if (video < 1 || audio < 1)
		set_outcome(r, "invalid_output", 1, "output has %d video and %d audio streams",
		    video, audio);
	else if (dur < r->req.min_duration || dur > r->req.max_duration)
		set_outcome(r, "invalid_output", 1, "duration %.2f s outside %.2f..%.2f",
		    dur, r->req.min_duration, r->req.max_duration);
}

/* Whether greetbotd is to give the outputs at the exit of the process of
 * kind: the last in the slot, ffprobe when one reads the video (it runs
 * as the renderer and must still read it). */
static int
render_gives(const struct render *r, int kind)
{
	return r->req.keep_as != NULL && strcmp(r->req.mode, "video") == 0 &&
	    (kind == RP_PROBE || r->req.no_probe);
}

/* Ask for the phase's process: the script with our two pipes, or ffprobe
 * with one. -1 when the channel is gone. */
static int
render_ask(struct render *r, int kind, const int *fds, int nfds)
{
	struct rp_spawn *m = xcalloc(1, sizeof(*m));
	int rc_send;

	m->type = RP_SPAWN;
	m->id = r->id;
	m->slot = r->req.slot;
	m->kind = kind;
	m->mode = strcmp(r->req.mode, "preview") == 0 ? RP_PREVIEW : RP_VIDEO;
	m->nice = r->req.nice;
	m->threads = r->req.threads;
	m->private_cache = r->req.private_cache;
	m->give = render_gives(r, kind);
	m->cpu = (int64_t)r->req.limits.cpu;
	m->as = (int64_t)r->req.limits.as;
	m->fsize = (int64_t)r->req.limits.fsize;
	m->nofile = (int64_t)r->req.limits.nofile;
	m->nproc = (int64_t)r->req.limits.nproc;
	m->max_bytes = r->req.max_bytes;
	snprintf(m->script, sizeof(m->script), "%s", r->req.script);
	snprintf(m->template_dir, sizeof(m->template_dir), "%s", r->req.template_dir);
	snprintf(m->version, sizeof(m->version), "%s", r->req.version ? r->req.version : "");
	snprintf(m->name, sizeof(m->name), "%s", r->req.name);
	snprintf(m->stress, sizeof(m->stress), "%s", r->req.stress ? r->req.stress : "");
	rc_send = rc.chan != NULL ? chan_send(rc.chan, m, sizeof(*m), fds, nfds) : -1;
	free(m);
	if (rc_send == 0)
		r->asked = 1;
	return rc_send;
}

/* The outputs of an exit, when it has them: the script's, or those
 * greetbotd gave at ffprobe's exit (they replace the script's). */
static void
render_take_outputs(struct render *r, const struct rp_exited *m, int *fds, int nfds)
{
	int k = 0;

	if (r->phase == PHASE_PROBE && !render_gives(r, RP_PROBE))
		return;		/* the script's stay */
	for (int i = 0; i < RP_OUTPUTS; i++) {
		if (r->outs[i] >= 0)
			close(r->outs[i]);
		r->out_err[i] = m->out_err[i];
		memcpy(r->out_why[i], m->out_why[i], sizeof(r->out_why[i]));
		r->out_why[i][sizeof(r->out_why[i]) - 1] = '\0';
		r->outs[i] = m->out_err[i] == 0 && k < nfds ? fds[k++] : -1;
		r->given[i] = r->outs[i] >= 0 && m->out_given[i];
		if (m->out_err[i] == 0 && r->outs[i] == -1)
			r->out_err[i] = EIO;
	}
	for (; k < nfds; k++)
		close(fds[k]);
}

/* The phase's process ran: the script's stress and stderr are read, its
 * outputs kept, and a video is probed; ffprobe's view is checked. */
static void
render_exited(struct render *r, const struct rp_exited *m, int *fds, int nfds)
{
	int status = m->status;

	evtimer_del(r->timer);
	render_drain(r, r->out_fd);
	if (r->err_fd >= 0)
		render_drain(r, r->err_fd);
	if (r->phase == PHASE_PROBE) {
		if (r->probe_timed_out)
			set_outcome(r, "invalid_output", 0, "ffprobe did not finish reading the "
			    "output in %d s", PROBE_TIMEOUT);
		else if (WIFSIGNALED(status)) {
			/* Killed (out of memory, by hand): not the video's fault. */
			r->o.signal = WTERMSIG(status);
			render_classify_signal(r, WTERMSIG(status), "ffprobe");
		} else if (WEXITSTATUS(status) != 0)
			set_outcome(r, "invalid_output", 1, "ffprobe cannot read the output");
		else
			render_validate(r);
		render_take_outputs(r, m, fds, nfds);
		render_finish(r);
		return;
	}
	render_take_outputs(r, m, fds, nfds);
	r->o.duration = elapsed(&r->started);
	r->o.cpu_seconds = (double)(m->utime_us + m->stime_us) / 1e6;
	r->o.max_rss_kb = (long)m->maxrss_kb;
	event_free(r->out_ev);
	event_free(r->err_ev);
	r->out_ev = r->err_ev = NULL;
	close(r->out_fd);
	close(r->err_fd);
	r->out_fd = r->err_fd = -1;
	render_classify(r, status);
	if (strcmp(r->o.status, "ok") == 0 && strcmp(r->req.mode, "video") == 0) {
		struct stat st;

		/* Nothing, or nothing of its own: said now, not by ffprobe. */
		if (r->out_err[0] == ENOENT || (r->outs[0] >= 0 && fstat(r->outs[0], &st) == 0 &&
		    st.st_size == 0))
			set_outcome(r, "invalid_output", 1, "exit 0 but no output file");
		else if (r->outs[0] < 0)
			set_outcome(r, "invalid_output", 0, "%s", r->out_why[0]);
		else if (!r->req.no_probe) {
			render_probe(r);
			return;
		}
	}
	render_finish(r);
}

/* ffprobe on the output, as the renderer (the privileged half checks the
 * file again first); its JSON arrives on a pipe of ours. */
static void
render_probe(struct render *r)
{
	int wfd;

	r->phase = PHASE_PROBE;
	r->pid = 0;
	/* Ours closed first: greetbotd gives the outputs at ffprobe's exit
	 * only if nothing else holds them open, and sends them again. */
	if (render_gives(r, RP_PROBE))
		for (int i = 0; i < RP_OUTPUTS; i++)
			if (r->outs[i] >= 0) {
				close(r->outs[i]);
				r->outs[i] = -1;
			}
	if ((wfd = render_pipe(r, &r->out_fd, &r->out_ev)) == -1)
		fatal("pipe");
	if (render_ask(r, RP_PROBE, &wfd, 1) == -1) {
		set_outcome(r, "tempfail", 1, "cannot run ffprobe: greetbotd is gone");
		close(wfd);
		render_finish(r);
		return;
	}
	close(wfd);
}

static struct render *
render_find(uint32_t id)
{
	for (struct render *r = rc.list; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* An answer of the privileged half. */
static void
render_message(struct chan *c, const void *msg, size_t len, int *fds, int nfds, void *arg)
{
	uint32_t type = 0, id = 0;
	struct render *r;

	(void)c;
	(void)arg;
	if (len >= 2 * sizeof(uint32_t)) {
		memcpy(&type, msg, sizeof(type));
		memcpy(&id, (const char *)msg + sizeof(type), sizeof(id));
	}
	if ((r = render_find(id)) == NULL || r->phase == PHASE_DONE) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	if (type == RP_SPAWNED && len == sizeof(struct rp_ctl)) {
		struct rp_ctl m;
		struct timeval tv = { r->phase == PHASE_PROBE ? PROBE_TIMEOUT : r->req.timeout, 0 };

		memcpy(&m, msg, sizeof(m));
		r->pid = m.arg;
		evtimer_add(r->timer, &tv);
	} else if (type == RP_FAILED && len == sizeof(struct rp_failed)) {
		struct rp_failed m;

		memcpy(&m, msg, sizeof(m));
		m.why[sizeof(m.why) - 1] = '\0';
		if (r->phase == PHASE_RENDER)
			set_outcome(r, "spawn_failed", 1, "%s", m.why);
		else if (m.err == ENOENT)
			set_outcome(r, "invalid_output", 1, "exit 0 but no output file");
		else
			set_outcome(r, "invalid_output", 0, "%s", m.why);
		render_finish(r);
	} else if (type == RP_EXITED && len == sizeof(struct rp_exited)) {
		struct rp_exited *m = xmalloc(sizeof(*m));

		memcpy(m, msg, sizeof(*m));
		render_exited(r, m, fds, nfds);
		free(m);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* The privileged half is gone: so is greetbotd (we are its child), and
 * nothing can render. The asker stops as it would at SIGTERM, or dies. */
static void
render_chan_closed(struct chan *c, void *arg)
{
	void (*gone)(void) = arg;

	(void)c;
	if (gone == NULL)
		fatalx("the render channel closed: greetbotd's parent is gone");
	log_warnx("the render channel closed: greetbotd's parent is gone");
	gone();
}

void
render_connect(struct event_base *base, int fd, void (*gone)(void))
{
	rc.chan = chan_new(base, fd, render_message, render_chan_closed, (void *)gone);
}

void
render_serve_self(const struct rendsrv_env *env, int slot, int nslots)
{
	int fds[2];

	if (chan_pair(fds) == -1)
		fatal("socketpair");
	(void)rendsrv_attach(env, fds[1], slot, nslots, "self");
	render_connect(env->base, fds[0], NULL);
}

/* Failed before the script ran: finish from the loop, not inside start. */
static void
render_spawn_failed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	render_finish(arg);
}

struct render *
render_start(struct event_base *base, const struct render_request *req,
    render_done_cb done, render_progress_cb progress, void *arg)
{
	struct render *r = xcalloc(1, sizeof(*r));
	int w[2];

	r->base = base;
	r->req = *req;
	r->done = done;
	r->progress = progress;
	r->arg = arg;
	r->out_fd = r->err_fd = -1;
	for (int i = 0; i < RP_OUTPUTS; i++) {
		r->outs[i] = -1;
		r->out_err[i] = ENOENT;
	}
	r->o.exit_code = -1;
	r->id = ++rc.last_id;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	r->req.mode = r->strs[0] = xstrdup(req->mode ? req->mode : "video");
	r->req.script = r->strs[1] = xstrdup(req->script);
	r->req.template_dir = r->strs[2] = xstrdup(req->template_dir);
	r->req.version = r->strs[3] = xstrdup(req->version ? req->version : "");
	r->req.name = r->strs[4] = xstrdup(req->name);
	r->req.stress = r->strs[5] = xstrdup(req->stress ? req->stress : "");
	r->req.keep_as = r->strs[6] = req->keep_as != NULL ? xstrdup(req->keep_as) : NULL;
	r->next = rc.list;
	rc.list = r;
	r->timer = evtimer_new(base, render_timeout, r);
	w[0] = render_pipe(r, &r->out_fd, &r->out_ev);
	w[1] = render_pipe(r, &r->err_fd, &r->err_ev);
	if (w[0] == -1 || w[1] == -1)
		fatal("pipe");
	if (render_ask(r, RP_SCRIPT, w, 2) == -1) {
		struct timeval now = { 0, 0 };

		set_outcome(r, "spawn_failed", 1, "cannot start %s: no render channel",
		    req->script);
		event_free(r->timer);
		r->timer = evtimer_new(base, render_spawn_failed, r);
		evtimer_add(r->timer, &now);
	}
	close(w[0]);
	close(w[1]);
	return r;
}

void
render_kill(struct render *r)
{
	if (r->phase != PHASE_DONE)
		render_signal(r, SIGKILL);
}

void
render_renice(struct render *r, int nice)
{
	struct rp_ctl m = { RP_RENICE, r->id, nice };

	if (r->phase == PHASE_RENDER && rc.chan != NULL)
		(void)chan_send(rc.chan, &m, sizeof(m), NULL, 0);
}

void
render_request_config(struct render_request *rq, const struct config *c, int slot)
{
	rq->slot = slot;
	rq->limits.cpu = (rlim_t)c->render_cpu;
	rq->limits.as = (rlim_t)c->render_memory_mb << 20;
	rq->limits.fsize = (rlim_t)c->render_fsize_mb << 20;
	rq->limits.nofile = (rlim_t)c->render_nofile;
	rq->limits.nproc = (rlim_t)c->render_nproc;
	rq->timeout = c->render_timeout;
	rq->grace = c->render_grace;
	rq->no_probe = !c->render_validate;
}

int
render_output(const struct render *r, const char *name, char *why, size_t whylen)
{
	int m = strcmp(r->req.mode, "preview") == 0 ? RP_PREVIEW : RP_VIDEO;

	for (int i = 0; i < RP_OUTPUTS; i++) {
		if (rp_outputs[m][i] == NULL || strcmp(rp_outputs[m][i], name) != 0)
			continue;
		if (r->outs[i] >= 0)
			return r->outs[i];
		snprintf(why, whylen, "%s", r->out_err[i] == ENOENT ? "no such file" :
		    r->out_why[i]);
		errno = r->out_err[i] == ENOENT ? ENOENT : EPERM;
		return -1;
	}
	snprintf(why, whylen, "%s is not an output of a %s render", name, r->req.mode);
	errno = ENOENT;
	return -1;
}

/* The output open at fd, when render_link_outputs linked it as tmp: a
 * descriptor of it to sync (its size checked), or -1 with errno; -2 when
 * it was not linked there. */
static int
render_keep_linked(struct render *r, int fd, const char *tmp, long long max)
{
	struct stat st;
	int i, e, kept;

	for (i = 0; i < RP_OUTPUTS && r->outs[i] != fd; i++)
		;
	if (i == RP_OUTPUTS || r->linked[i] == NULL || strcmp(r->linked[i], tmp) != 0)
		return -2;
	free(r->linked[i]);
	r->linked[i] = NULL;	/* the caller's now: not removed at the end */
	/* Given: nobody can write it any more; it is what was checked. */
	if (fstat(fd, &st) == -1 || (max > 0 && st.st_size > max && (errno = EFBIG)) ||
	    (kept = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1) {
		e = errno;
		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	return kept;
}

int
render_keep(struct render *r, const char *name, const char *tmp, long long max, char *why,
    size_t whylen)
{
	char buf[65536];
	int in, out, ok = 1;
	off_t at = 0;
	ssize_t n;

	if ((in = render_output(r, name, why, whylen)) == -1)
		return -1;
	if ((out = render_keep_linked(r, in, tmp, max)) != -2) {
		if (out == -1)
			snprintf(why, whylen, "cannot keep %s: %s", name, strerror(errno));
		return out;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	/* From the start whoever read it before; never more than max. */
	errno = 0;
	while (ok && (n = pread(in, buf, sizeof(buf), at)) != 0) {
		ok = n > 0 && (max <= 0 || at + n <= max);
		if (n > 0 && !ok)
			errno = EFBIG;
		for (ssize_t off = 0; ok && off < n; ) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			ok = w > 0;
			off += w > 0 ? w : 0;
		}
		at += n > 0 ? n : 0;
	}
	/* The service user's (greetbot-tg uploads it): nothing when none. */
	if (!ok || service_give_fd(out) == -1) {
		snprintf(why, whylen, "cannot keep %s: %s", name, strerror(errno != 0 ? errno : EIO));
		close(out);
		unlink(tmp);
		return -1;
	}
	return out;
}

int
render_collect(struct render *r, const char *name, const char *dst, long long max,
    char *why, size_t whylen)
{
	char *tmp;
	int fd, ok;

	xasprintf(&tmp, "%s.part", dst);
	if ((fd = render_keep(r, name, tmp, max, why, whylen)) == -1) {
		free(tmp);
		return -1;
	}
	ok = fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, dst) == 0;
	if (!ok) {
		snprintf(why, whylen, "cannot keep %s: %s", name, strerror(errno));
		unlink(tmp);
	}
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
		/* A sealed (read-only) directory of ours, when we are not root. */
		(void)fchmod(sub, 0700);
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
	render_rmtree_at(AT_FDCWD, dir);
}

void
render_rmtree_at(int dirfd, const char *name)
{
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		(void)unlinkat(dirfd, name, 0);	/* a link or a file in its place */
		return;
	}
	(void)fchmod(fd, 0700);
	rm_all(fd);
	close(fd);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

int
render_empty(const char *dir)
{
	return render_empty_at(AT_FDCWD, dir);
}

int
render_empty_at(int dirfd, const char *name)
{
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
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

int
render_dir_open(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		fatal("cannot open a render directory", "path=%s", path);
	return fd;
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
