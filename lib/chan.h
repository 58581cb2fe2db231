/* SPDX-License-Identifier: ISC */
/*
 * chan.h: a channel between two of our own processes (the privileged
 * parent and a child it made): a SOCK_SEQPACKET socketpair that carries
 * one fixed-format message per packet, with descriptors beside it. The
 * message boundaries are the kernel's, so nothing is parsed but a
 * struct of a known size; a packet of any other size, or truncated, or
 * with more descriptors than allowed, ends the channel.
 *
 * Sends never block: a packet the socket cannot take now waits in a queue
 * and goes when the socket is writable again, in order.
 */
#ifndef GREETBOT_CHAN_H
#define GREETBOT_CHAN_H

#include <stddef.h>

#define CHAN_MSG_MAX	4096	/* bytes of one message, at most */
#define CHAN_FDS_MAX	3	/* descriptors beside one message, at most */

struct chan;
struct event_base;

/*
 * A message arrived: msg is len bytes (not aligned for any type: copy it
 * into the struct first), fds the descriptors that came with it, which
 * the callback owns (it closes those it does not keep).
 */
typedef void (*chan_msg_cb)(struct chan *, const void *msg, size_t len, int *fds,
	    int nfds, void *arg);
/* The other side closed it (exited), or broke the protocol; the channel
 * is still to be freed by its owner (chan_free), from the callback or
 * later. */
typedef void (*chan_closed_cb)(struct chan *, void *arg);

/* A connected pair, close-on-exec both: one end for each process. */
int		 chan_pair(int fds[2]);
/* A channel on fd (taken: closed by chan_free), watched on base. */
struct chan	*chan_new(struct event_base *, int fd, chan_msg_cb, chan_closed_cb, void *);
/*
 * Send one message of len bytes (1..CHAN_MSG_MAX) with nfds descriptors
 * (copies are sent: the caller still owns fds). -1 when the channel is
 * closed; the message is then dropped.
 */
int		 chan_send(struct chan *, const void *msg, size_t len, const int *fds,
		    int nfds);
/* Whether the channel is still open (not closed by the other side). */
int		 chan_open(const struct chan *);
void		 chan_free(struct chan *);

#endif
