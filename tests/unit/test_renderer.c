/* SPDX-License-Identifier: ISC */
/* test_renderer.c: render attempts with small scripts, through the
 * privileged half in this process (rendsrv.c) as greetctl's: the exit code
 * protocol, progress lines, the timeout, the environment, limits, and the
 * outputs handed over as descriptors (a link refused), and a video's
 * given outputs linked where they are kept, not copied, unless another
 * process still holds one open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "renderer.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "unit.h"

static struct event_base *base;
static struct render_outcome got;
static double last_progress = -1;
static int ndone;
static char dir[] = "/tmp/greetbot-render.XXXXXX";
static char voice[64], why[300];	/* what render_output said of voice.ogg */
static int voice_fd;
static const char *keep_dst;	/* a video's out.mp4 kept here (run_video) */
static int kept_rc;

static void
done(const struct render_outcome *o, void *arg)
{
	struct render **r = arg;

	got = *o;
	ndone++;
	voice_fd = render_output(*r, "voice.ogg", why, sizeof(why));
	voice[0] = '\0';
	if (voice_fd >= 0) {
		ssize_t n = pread(voice_fd, voice, sizeof(voice) - 1, 0);

		voice[n > 0 ? n : 0] = '\0';
	}
	if (keep_dst != NULL)
		kept_rc = render_collect(*r, "out.mp4", keep_dst, 0, why, sizeof(why));
	event_base_loopbreak(base);
}

static void
progress(double p, void *arg)
{
	(void)arg;
	last_progress = p;
}

/* Run one attempt of a script body until its outcome arrives: a preview
 * (no ffprobe), or with keep_as a video, not probed either, whose out.mp4
 * done collects as dst. */
static void
run_as(const char *body, int timeout, const char *keep_as, const char *dst)
{
	static struct render *r;
	struct render_request rq = { 0 };
	char script[256];
	FILE *f;

	snprintf(script, sizeof(script), "%s/s.sh", dir);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(script, 0755);
	rq.slot = 0;
	rq.script = script;
	rq.template_dir = dir;
	rq.private_cache = 1;
	rq.name = "Маша";
	rq.mode = keep_as != NULL ? "video" : "preview";
	rq.no_probe = 1;
	rq.keep_as = keep_as;
	rq.limits = (struct child_limits){ 10, 1ULL << 30, 1 << 20, 64, 4096 };
	rq.timeout = timeout;
	rq.grace = 1;
	ndone = 0;
	keep_dst = dst;
	kept_rc = -1;
	why[0] = '\0';
	r = render_start(base, &rq, done, progress, &r);
	event_base_dispatch(base);
	keep_dst = NULL;
}

static void
run(const char *body, int timeout)
{
	run_as(body, timeout, NULL, NULL);
}

static void
run_video(const char *body, const char *keep_as, const char *dst)
{
	run_as(body, 10, keep_as, dst);
}

/* The kept video has the bytes wanted: its mtime and mode. */
static int
kept_is(const char *path, const char *want, time_t *mtime, mode_t *mode)
{
	char buf[64] = "";
	struct stat st;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL || stat(path, &st) == -1) {
		if (f != NULL)
			fclose(f);
		return 0;
	}
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	*mtime = st.st_mtime;
	*mode = st.st_mode & 07777;
	return strcmp(buf, want) == 0;
}

int
main(void)
{
	static struct sandbox sb = { .netns = -1 };
	struct rendsrv_env env = { 0 };

	if (mkdtemp(dir) == NULL)
		return 1;
	base = event_base_new();
	child_init(base);
	env.base = base;
	env.sb = &sb;
	env.work_root = dir;
	env.work_fd = render_dir_open(dir);
	env.cache_fd = -1;
	render_serve_self(&env, 0, 1);

	run("echo progress 0.5; echo progress 0.75; exit 0", 10);
	UNIT_STREQ(got.status, "ok", "exit 0 is ok");
	UNIT_CHECK(last_progress == 0.75, "progress lines reach the callback");
	UNIT_CHECK(ndone == 1, "done is called once");

	run("exit 65", 10);
	UNIT_CHECK(strcmp(got.status, "bad_name") == 0 && !got.retryable, "65 is a fatal bad name");
	run("exit 78", 10);
	UNIT_CHECK(strcmp(got.status, "template_broken") == 0 && !got.retryable,
	    "78 is a fatal broken template");
	run("exit 75", 10);
	UNIT_CHECK(strcmp(got.status, "tempfail") == 0 && got.retryable, "75 is retryable");
	run("echo 'the reason' >&2; exit 3", 10);
	UNIT_CHECK(strcmp(got.status, "failed") == 0 && got.retryable && got.exit_code == 3,
	    "another code is a retryable failure with its code");
	UNIT_CHECK(strstr(got.stderr_tail, "the reason") != NULL, "stderr tail kept");

	run("test \"$GREETBOT_NAME\" = 'Маша' && test -z \"${GREETBOT_TELEGRAM_TOKEN:-}\" && "
	    "test \"$(env | wc -l)\" -le 12 || exit 9", 10);
	UNIT_STREQ(got.status, "ok", "the name arrives in the environment, nothing else leaks");

	run("test \"$(ls /proc/self/fd | wc -l)\" -le 5 || exit 9", 10);
	UNIT_STREQ(got.status, "ok", "only stdio is open in the renderer");

	run("trap '' TERM; while :; do :; done", 1);
	UNIT_STREQ(got.status, "timeout", "a script ignoring SIGTERM times out");
	UNIT_CHECK(got.signal == 9, "and is killed with SIGKILL (signal %d)", got.signal);

	run("printf 'an ogg' >voice.ogg", 10);
	UNIT_CHECK(voice_fd >= 0 && strcmp(voice, "an ogg") == 0,
	    "the output comes as a descriptor on the file (%s)", voice);
	run("ln -s /etc/passwd voice.ogg", 10);
	UNIT_CHECK(voice_fd == -1 && strstr(why, "symbolic link") != NULL,
	    "an output that is a link is refused, and said so (%s)", why);
	run("ln /etc/passwd voice.ogg 2>/dev/null || ln \"$0\" voice.ogg", 10);
	UNIT_CHECK(voice_fd == -1 && (strstr(why, "hard link") != NULL ||
	    strstr(why, "another uid") != NULL), "a hard link is refused (%s)", why);
	run("mkfifo voice.ogg", 10);
	UNIT_CHECK(voice_fd == -1 && strstr(why, "not a regular file") != NULL,
	    "a FIFO is refused without waiting on it (%s)", why);
	run("test \"$PWD\" = \"$GREETBOT_WORK_DIR\" && test -z \"$(ls -A)\" || exit 9", 10);
	UNIT_STREQ(got.status, "ok", "each render starts in its slot's work dir, emptied");

	{
		char keep_as[300], dst[310], part[320], pidfile[300], pid[32] = "";
		time_t mtime = 0;
		mode_t mode = 0;
		FILE *f;

		snprintf(keep_as, sizeof(keep_as), "%s/kept-1", dir);
		snprintf(dst, sizeof(dst), "%s.mp4", keep_as);
		snprintf(part, sizeof(part), "%s.part", dst);
		run_video("printf 'a video' >out.mp4; touch -d @1000000000 out.mp4", keep_as, dst);
		UNIT_CHECK(kept_rc == 0 && kept_is(dst, "a video", &mtime, &mode),
		    "a video's output is kept where asked (%s)", why);
		UNIT_CHECK(mtime == 1000000000 && mode == 0600,
		    "... as the renderer's own file, linked, not copied, mode 0600 (mtime %lld, "
		    "mode %o)", (long long)mtime, (unsigned)mode);
		UNIT_CHECK(access(part, F_OK) == -1, "... and no .part is left");

		snprintf(pidfile, sizeof(pidfile), "%s/holder.pid", dir);
		/* The holder says when it is in a session of its own: out of
		 * the render's process group, which is killed at its exit. */
		run_video("printf 'a video' >out.mp4; touch -d @1000000000 out.mp4; "
		    "exec 3>>out.mp4; mkfifo ready; "
		    "setsid sh -c 'echo $$ >\"$1\"; echo >ready; exec sleep 30' _ "
		    "\"$GREETBOT_TEMPLATE_DIR/holder.pid\" </dev/null >/dev/null 2>&1 & "
		    "read -r _ <ready; rm -f ready", keep_as, dst);
		UNIT_CHECK(kept_rc == 0 && kept_is(dst, "a video", &mtime, &mode) &&
		    mtime != 1000000000, "an output another process holds open is copied, "
		    "not linked (mtime %lld)", (long long)mtime);
		if ((f = fopen(pidfile, "r")) != NULL) {
			if (fgets(pid, sizeof(pid), f) != NULL && atoi(pid) > 1)
				kill(atoi(pid), SIGKILL);
			fclose(f);
		}
	}

	run("exec /nonexistent", 10);
	UNIT_CHECK(got.exit_code == 127 || got.exit_code == 2, "a failing exec inside is a failure");

	{
		static struct render *r;
		struct render_request rq = { 0 };
		rq.script = "/nonexistent/render.sh";
		rq.template_dir = rq.name = dir;
		rq.mode = "preview";
		rq.timeout = 5;
		rq.limits = (struct child_limits){ 10, 1ULL << 30, 1 << 20, 64, 4096 };
		ndone = 0;
		r = render_start(base, &rq, done, progress, &r);
		event_base_dispatch(base);
		UNIT_CHECK(strcmp(got.status, "spawn_failed") == 0 && got.retryable,
		    "a missing script is spawn_failed, reported through done (%s)", got.status);
	}
	render_rmtree(dir);
	child_shutdown();
	event_base_free(base);
	return unit_done();
}
