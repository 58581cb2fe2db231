/* SPDX-License-Identifier: ISC */
/* test_renderer.c: render attempts with small scripts, through the
 * privileged half in this process (rendsrv.c) as greetctl's: the exit code
 * protocol, progress lines, the timeout, the environment, limits, and the
 * outputs handed over as descriptors (a link refused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	event_base_loopbreak(base);
}

static void
progress(double p, void *arg)
{
	(void)arg;
	last_progress = p;
}

/* Run one attempt of a script body until its outcome arrives. */
static void
run(const char *body, int timeout)
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
	rq.mode = "preview";	/* no ffprobe for these */
	rq.limits = (struct child_limits){ 10, 1ULL << 30, 1 << 20, 64, 4096 };
	rq.timeout = timeout;
	rq.grace = 1;
	ndone = 0;
	r = render_start(base, &rq, done, progress, &r);
	event_base_dispatch(base);
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
