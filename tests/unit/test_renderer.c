/* test_renderer.c: render attempts with small scripts: the exit code
 * protocol, progress lines, the timeout, the environment, limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "renderer.h"
#include "unit.h"

static struct event_base *base;
static struct render_outcome got;
static double last_progress = -1;
static int ndone;
static char dir[] = "/tmp/greetbot-render.XXXXXX";

static void
done(const struct render_outcome *o, void *arg)
{
	(void)arg;
	got = *o;
	ndone++;
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
	struct render_request rq = { 0 };
	char script[256], out[256];
	FILE *f;

	snprintf(script, sizeof(script), "%s/s.sh", dir);
	snprintf(out, sizeof(out), "%s/out.mp4", dir);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(script, 0755);
	rq.script = script;
	rq.work_dir = dir;
	rq.template_dir = dir;
	rq.cache_dir = dir;
	rq.name = "Маша";
	rq.output = out;
	rq.thumb = out;
	rq.mode = "preview";	/* no ffprobe for these */
	rq.limits = (struct child_limits){ 10, 1ULL << 30, 1 << 20, 64, 4096 };
	rq.timeout = timeout;
	rq.grace = 1;
	ndone = 0;
	render_start(base, &rq, done, progress, NULL);
	event_base_dispatch(base);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	base = event_base_new();
	child_init(base);

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

	run("exec /nonexistent", 10);
	UNIT_CHECK(got.exit_code == 127 || got.exit_code == 2, "a failing exec inside is a failure");

	{
		struct render_request rq = { 0 };
		rq.script = "/nonexistent/render.sh";
		rq.work_dir = dir;
		rq.template_dir = rq.cache_dir = rq.name = rq.output = rq.thumb = dir;
		rq.mode = "preview";
		rq.timeout = 5;
		rq.limits = (struct child_limits){ 10, 1ULL << 30, 1 << 20, 64, 4096 };
		ndone = 0;
		render_start(base, &rq, done, progress, NULL);
		event_base_dispatch(base);
		UNIT_CHECK(strcmp(got.status, "spawn_failed") == 0 && got.retryable,
		    "a missing script is spawn_failed, reported through done (%s)", got.status);
	}
	unlink(strcat(strcpy((char[300]){ 0 }, dir), "/s.sh"));
	rmdir(dir);
	child_shutdown();
	event_base_free(base);
	return unit_done();
}
