/* SPDX-License-Identifier: ISC */
/*
 * syncq.h: fsync without stopping the loop (syncq.c).
 */
#ifndef GREETBOT_SYNCQ_H
#define GREETBOT_SYNCQ_H

struct event_base;

/* err is 0, or the errno of the fsync. */
typedef void (*syncq_cb)(int err, void *arg);

/* Once, with the loop that runs the callbacks. */
void	syncq_init(struct event_base *);
/*
 * fsync(fd), then cb(err, arg) from the loop: never before this returns,
 * also when the sync was done in place. The fd is the caller's, and must
 * stay open until cb.
 */
void	syncq_fsync(int fd, syncq_cb cb, void *arg);
/* Syncs asked for whose callback has not run yet. */
int	syncq_pending(void);
/* The kernel's asynchronous fsync is in use (else each is done in place). */
int	syncq_async(void);

#endif
