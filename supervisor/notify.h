/* SPDX-License-Identifier: ISC */
/* notify.h: the systemd readiness protocol without libsystemd. */
#ifndef GREETBOT_NOTIFY_H
#define GREETBOT_NOTIFY_H

/*
 * Send msg ("READY=1", "STOPPING=1", ...) as one datagram to the unix
 * socket named by NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace). 0 when sent or when NOTIFY_SOCKET is unset, -1 on error.
 */
int	notify_send(const char *msg);

#endif
