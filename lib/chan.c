/* SPDX-License-Identifier: ISC */
/*
 * chan.c: fixed-format messages and descriptors between our processes,
 * over a SOCK_SEQPACKET socketpair (chan.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "xmalloc.h"

/* A message waiting for the socket to take it. */
struct pending {
	struct pending	*next;
	size_t		 len;
	int		 fds[CHAN_FDS_MAX];
	int		 nfds;
	char		 msg[];
};

struct chan {
	int		 fd;
	int		 closed;
	struct event	*rev, *wev;
	struct pending	*head, **tail;
	chan_msg_cb	 on_msg;
	chan_closed_cb	 on_closed;
	void		*arg;
};

int
chan_pair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds);
}

/* Closed by the other side or by a broken rule: no more reads or writes. */
static void
chan_close(struct chan *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	event_del(c->rev);
	event_del(c->wev);
	c->on_closed(c, c->arg);
}

static void
pending_free(struct pending *p)
{
	for (int i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	free(p);
}

/* One sendmsg of a message and its descriptors: 1 sent, 0 the socket is
 * full, -1 the channel is gone. */
static int
chan_write(struct chan *c, const struct pending *p)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CHAN_FDS_MAX)];
	} cm;
	struct iovec iov = { (void *)p->msg, p->len };
	struct msghdr mh = { 0 };

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (p->nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)p->nfds);
		cm.hdr.cmsg_level = SOL_SOCKET;
		cm.hdr.cmsg_type = SCM_RIGHTS;
		cm.hdr.cmsg_len = CMSG_LEN(sizeof(int) * (size_t)p->nfds);
		memcpy(CMSG_DATA(&cm.hdr), p->fds, sizeof(int) * (size_t)p->nfds);
	}
	while (sendmsg(c->fd, &mh, MSG_NOSIGNAL) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == ENOBUFS)
			return 0;
		return -1;
	}
	return 1;
}

static void
chan_writable(evutil_socket_t fd, short what, void *arg)
{
	struct chan *c = arg;
	struct pending *p;
	int rc;

	(void)fd;
	(void)what;
	while ((p = c->head) != NULL) {
		if ((rc = chan_write(c, p)) == 0) {
			event_add(c->wev, NULL);
			return;
		}
		c->head = p->next;
		if (c->head == NULL)
			c->tail = &c->head;
		pending_free(p);
		if (rc == -1) {
			chan_close(c);
			return;
		}
	}
}

/* Take every message there is; each with its descriptors to on_msg. */
static void
chan_readable(evutil_socket_t fd, short what, void *arg)
{
	struct chan *c = arg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CHAN_FDS_MAX)];
	} cm;
	char msg[CHAN_MSG_MAX];
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *h;
	int fds[CHAN_FDS_MAX], nfds;
	ssize_t n;

	(void)what;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = msg;
		iov.iov_len = sizeof(msg);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		if ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			chan_close(c);
			return;
		}
		nfds = 0;
		for (h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
			int k;

			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int one;

				memcpy(&one, CMSG_DATA(h) + sizeof(int) * (size_t)i, sizeof(int));
				if (nfds < CHAN_FDS_MAX)
					fds[nfds++] = one;
				else
					close(one);
			}
		}
		/* EOF, or a message that did not fit: the other side is gone,
		 * or not one of ours. */
		if (n == 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
			if (n != 0)
				log_warnx("channel message too large, channel closed", "bytes=%zd",
				    n);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			chan_close(c);
			return;
		}
		c->on_msg(c, msg, (size_t)n, fds, nfds, c->arg);
		if (c->closed)
			return;
	}
}

struct chan *
chan_new(struct event_base *base, int fd, chan_msg_cb on_msg, chan_closed_cb on_closed,
    void *arg)
{
	struct chan *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->on_msg = on_msg;
	c->on_closed = on_closed;
	c->arg = arg;
	c->tail = &c->head;
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_readable, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_writable, c);
	event_add(c->rev, NULL);
	return c;
}

int
chan_send(struct chan *c, const void *msg, size_t len, const int *fds, int nfds)
{
	struct pending *p;
	int rc;

	if (len == 0 || len > CHAN_MSG_MAX || nfds < 0 || nfds > CHAN_FDS_MAX)
		fatalx("chan_send: bad message", "bytes=%zu fds=%d", len, nfds);
	if (c->closed)
		return -1;
	p = xmalloc(sizeof(*p) + len);
	p->next = NULL;
	p->len = len;
	p->nfds = 0;
	memcpy(p->msg, msg, len);
	for (int i = 0; i < nfds; i++) {
		if ((p->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) == -1)
			fatal("chan_send: dup");
		p->nfds++;
	}
	if (c->head == NULL) {
		/* Nothing waits before it: try now. */
		if ((rc = chan_write(c, p)) != 0) {
			pending_free(p);
			/* Gone: said from the loop (the read sees the end), never
			 * from inside the caller's send. */
			if (rc == -1)
				event_active(c->rev, EV_READ, 0);
			return rc == 1 ? 0 : -1;
		}
		event_add(c->wev, NULL);
	}
	*c->tail = p;
	c->tail = &p->next;
	return 0;
}

int
chan_open(const struct chan *c)
{
	return !c->closed;
}

void
chan_free(struct chan *c)
{
	struct pending *p;

	if (c == NULL)
		return;
	while ((p = c->head) != NULL) {
		c->head = p->next;
		pending_free(p);
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	free(c);
}
