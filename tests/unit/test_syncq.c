/* SPDX-License-Identifier: ISC */
/* test_syncq.c: fsync without stopping the loop (jobs/syncq.c): each
 * callback comes once, from the loop and never inside the call, with the
 * fsync's errno; more syncs than the kernel queue takes are done in place
 * and still come back through the loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "syncq.h"
#include "unit.h"

#define MANY	70	/* more than the kernel queue (SYNCQ_MAX, 64) */

static struct event_base *base;
static int calls[MANY], errs[MANY], ncalls, in_call;

static void
synced(int err, void *arg)
{
	int i = (int)(intptr_t)arg;

	calls[i]++;
	errs[i] = err;
	ncalls++;
	if (in_call)
		calls[i] += 1000;	/* called from inside syncq_fsync: wrong */
}

static void
give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Run the loop until n callbacks came (or 10 s passed). */
static void
wait_for(int n)
{
	struct timeval ten = { 10, 0 };
	int late = 0;
	struct event *t = evtimer_new(base, give_up, &late);

	evtimer_add(t, &ten);
	while (ncalls < n && !late)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

static void
ask(int fd, int i)
{
	in_call = 1;
	syncq_fsync(fd, synced, (void *)(intptr_t)i);
	in_call = 0;
}

int
main(void)
{
	char path[] = "/tmp/greetbot-syncq.XXXXXX";
	int fd, p[2], ok;

	base = event_base_new();
	syncq_init(base);
	UNIT_CHECK(syncq_async(), "the kernel's asynchronous fsync is used here");
	if ((fd = mkstemp(path)) == -1 || write(fd, "a video", 7) != 7)
		return 1;

	ask(fd, 0);
	UNIT_CHECK(calls[0] == 0 && syncq_pending() == 1,
	    "the callback does not come inside the call (%d pending)", syncq_pending());
	wait_for(1);
	UNIT_CHECK(calls[0] == 1 && errs[0] == 0 && syncq_pending() == 0,
	    "it comes from the loop, once, without an error (calls %d, err %d)", calls[0],
	    errs[0]);

	memset(calls, 0, sizeof(calls));
	ncalls = 0;
	for (int i = 0; i < MANY; i++)
		ask(fd, i);
	UNIT_CHECK(syncq_pending() == MANY, "%d syncs asked at once are all pending (%d)",
	    MANY, syncq_pending());
	wait_for(MANY);
	ok = 1;
	for (int i = 0; i < MANY; i++)
		ok = ok && calls[i] == 1 && errs[i] == 0;
	UNIT_CHECK(ok && ncalls == MANY && syncq_pending() == 0,
	    "each of them comes back once, those beyond the kernel's queue too (%d calls)",
	    ncalls);

	if (pipe(p) == -1)
		return 1;
	memset(calls, 0, sizeof(calls));
	ncalls = 0;
	ask(p[0], 0);
	wait_for(1);
	UNIT_CHECK(calls[0] == 1 && errs[0] == EINVAL,
	    "a descriptor that cannot be synced says why (err %d: %s)", errs[0],
	    strerror(errs[0]));

	close(p[0]);
	close(p[1]);
	close(fd);
	unlink(path);
	event_base_free(base);
	return unit_done();
}
