/* SPDX-License-Identifier: ISC */
/*
 * syncq.c: fsync without stopping the loop. A file the jobs process keeps
 * (a rendered video, its thumbnail) must be on disk before the commit
 * that says it is there; an fsync can take a millisecond on a fast disk
 * and tens of them on a slow or busy one, and meanwhile the one loop
 * serves nothing else: no other render's end, no Redis, no /health.
 *
 * The kernel's asynchronous fsync (Linux AIO, IOCB_CMD_FSYNC, 4.18 and
 * later) runs it on a kernel worker and counts its end on an eventfd the
 * loop watches, so no thread of ours is needed. Where the kernel refuses
 * (io_setup: aio-max-nr spent, a filter; io_submit: full, or a file
 * system without it) the fsync is done in place, as it was before, and
 * its callback still comes from the loop.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/aio_abi.h>

#include <event2/event.h>

#include "log.h"
#include "syncq.h"
#include "xmalloc.h"

#define SYNCQ_MAX	64	/* in flight in the kernel; more are done in place */

struct sreq {
	struct iocb	 iocb;		/* its aio_data points back here */
	syncq_cb	 cb;
	void		*arg;
	int		 err;		/* done in place: its result */
	struct sreq	*next;
};

static struct {
	struct event_base *base;
	aio_context_t	 ctx;
	int		 efd;
	struct event	*ready_ev;	/* the eventfd: kernel syncs ended */
	struct event	*done_ev;	/* syncs done in place */
	struct sreq	*done, **done_tail;
	int		 inflight, ndone;
} sq = { .efd = -1 };

static void
syncq_run(struct sreq *q, int err)
{
	syncq_cb cb = q->cb;
	void *arg = q->arg;

	free(q);
	cb(err, arg);
}

/* The eventfd counted ends: every event there is, without waiting. */
static void
syncq_ready(evutil_socket_t fd, short what, void *arg)
{
	struct io_event evs[SYNCQ_MAX];
	struct timespec none = { 0, 0 };
	uint64_t n;
	long got;

	(void)what;
	(void)arg;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("syncq: eventfd", "");
	while ((got = syscall(SYS_io_getevents, sq.ctx, 0L, (long)SYNCQ_MAX, evs, &none)) > 0)
		for (long i = 0; i < got; i++) {
			struct sreq *q = (struct sreq *)(uintptr_t)evs[i].data;

			sq.inflight--;
			syncq_run(q, evs[i].res < 0 ? (int)-evs[i].res : 0);
		}
	if (got == -1 && errno != EINTR)
		log_warn("syncq: io_getevents", "");
}

/* The ones done in place, in order (each may ask for more: later). */
static void
syncq_done(evutil_socket_t fd, short what, void *arg)
{
	struct sreq *list = sq.done, *q;

	(void)fd;
	(void)what;
	(void)arg;
	sq.done = NULL;
	sq.done_tail = &sq.done;
	while ((q = list) != NULL) {
		list = q->next;
		sq.ndone--;
		syncq_run(q, q->err);
	}
}

void
syncq_init(struct event_base *base)
{
	sq.base = base;
	sq.done_tail = &sq.done;
	sq.done_ev = event_new(base, -1, 0, syncq_done, NULL);
	if ((sq.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    syscall(SYS_io_setup, (long)SYNCQ_MAX, &sq.ctx) == -1) {
		log_warn("asynchronous fsync not available: files are synced in place", "");
		if (sq.efd != -1)
			close(sq.efd);
		sq.efd = -1;
		sq.ctx = 0;
		return;
	}
	sq.ready_ev = event_new(base, sq.efd, EV_READ | EV_PERSIST, syncq_ready, NULL);
	event_add(sq.ready_ev, NULL);
}

void
syncq_fsync(int fd, syncq_cb cb, void *arg)
{
	struct sreq *q = xcalloc(1, sizeof(*q));

	if (sq.base == NULL)
		fatalx("syncq_fsync before syncq_init");
	q->cb = cb;
	q->arg = arg;
	if (sq.ctx != 0 && sq.inflight < SYNCQ_MAX) {
		struct iocb *list[1] = { &q->iocb };

		q->iocb.aio_data = (uint64_t)(uintptr_t)q;
		q->iocb.aio_lio_opcode = IOCB_CMD_FSYNC;
		q->iocb.aio_fildes = (uint32_t)fd;
		q->iocb.aio_flags = IOCB_FLAG_RESFD;
		q->iocb.aio_resfd = (uint32_t)sq.efd;
		if (syscall(SYS_io_submit, sq.ctx, 1L, list) == 1) {
			sq.inflight++;
			return;
		}
	}
	q->err = fsync(fd) == 0 ? 0 : errno;
	*sq.done_tail = q;
	sq.done_tail = &q->next;
	sq.ndone++;
	event_active(sq.done_ev, 0, 0);
}

int
syncq_pending(void)
{
	return sq.inflight + sq.ndone;
}

int
syncq_async(void)
{
	return sq.ctx != 0;
}
