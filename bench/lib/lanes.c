/* SPDX-License-Identifier: ISC */
/*
 * bench/lib/lanes.c: the raw cost of running a render script, for
 * bench/queue.sh: JOBS runs of SCRIPT, LANES at a time, each a plain
 * fork + execve + waitpid with an explicit environment like greetbotd's
 * (and, with PROBE set, ffprobe on the output afterwards in the same lane,
 * as greetbotd validates it). Prints the elapsed seconds.
 *
 * usage: lanes SCRIPT JOBS LANES WORKDIR TEMPLATE_DIR PROBE(0|1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *script, *workdir, *tdir;
static int probe;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start job n's script, or (phase 1) its ffprobe; the child's pid. */
static pid_t
start(int n, int phase)
{
	char home[4200], out[4096], thumb[4200], tenv[4200], oenv[4200], cenv[4200];
	pid_t pid;

	snprintf(out, sizeof(out), "%s/out-%d.mp4", workdir, n);
	if ((pid = fork()) != 0)
		return pid;
	if (phase == 1) {
		char *argv[] = { "ffprobe", "-v", "error", "-print_format", "json",
		    "-show_format", "-show_streams", out, NULL };
		char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL };

		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execve("/usr/bin/ffprobe", argv, envp);
		_exit(127);
	}
	snprintf(home, sizeof(home), "HOME=%s", workdir);
	snprintf(oenv, sizeof(oenv), "GREETBOT_OUTPUT=%s", out);
	snprintf(thumb, sizeof(thumb), "GREETBOT_THUMB=%s/thumb-%d.jpg", workdir, n);
	snprintf(tenv, sizeof(tenv), "GREETBOT_TEMPLATE_DIR=%s", tdir);
	snprintf(cenv, sizeof(cenv), "GREETBOT_CACHE_DIR=%s", workdir);
	{
		char *argv[] = { (char *)script, NULL };
		char *envp[] = { home, "GREETBOT_NAME=Bench", tenv, cenv, oenv, thumb,
		    "GREETBOT_MODE=video", "PATH=/usr/local/bin:/usr/bin:/bin",
		    "LANG=C.UTF-8", NULL };

		if (chdir(workdir) == -1)
			_exit(127);
		execve(script, argv, envp);
	}
	_exit(127);
}

int
main(int argc, char **argv)
{
	int jobs, lanes, started = 0, done = 0, status;
	pid_t lane_pid[64];
	int lane_job[64], lane_phase[64];
	double t0;

	if (argc != 7) {
		fprintf(stderr, "usage: lanes SCRIPT JOBS LANES WORKDIR TEMPLATE_DIR PROBE\n");
		return 2;
	}
	script = argv[1];
	jobs = atoi(argv[2]);
	lanes = atoi(argv[3]);
	workdir = argv[4];
	tdir = argv[5];
	probe = atoi(argv[6]);
	if (lanes < 1 || lanes > 64 || jobs < 1)
		return 2;
	t0 = now();
	for (int i = 0; i < lanes; i++)
		lane_pid[i] = 0;
	while (done < jobs) {
		pid_t pid;
		int i;

		for (i = 0; i < lanes && started < jobs; i++)
			if (lane_pid[i] == 0) {
				lane_job[i] = started++;
				lane_phase[i] = 0;
				lane_pid[i] = start(lane_job[i], 0);
			}
		if ((pid = waitpid(-1, &status, 0)) == -1) {
			perror("waitpid");
			return 1;
		}
		for (i = 0; i < lanes && lane_pid[i] != pid; i++)
			;
		if (i == lanes)
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "lanes: job %d phase %d failed (status %d)\n",
			    lane_job[i], lane_phase[i], status);
			return 1;
		}
		if (probe && lane_phase[i] == 0) {
			lane_phase[i] = 1;
			lane_pid[i] = start(lane_job[i], 1);
			continue;
		}
		lane_pid[i] = 0;
		done++;
	}
	printf("%.6f\n", now() - t0);
	return 0;
}
