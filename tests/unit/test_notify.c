/* SPDX-License-Identifier: ISC */
/* test_notify.c: READY=1 reaches a NOTIFY_SOCKET, path or abstract. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "unit.h"

/* Bind a datagram socket at name (a path, or "@x" abstract). */
static int
listen_at(const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	memcpy(sun.sun_path, name, strlen(name));
	if (*name == '@')
		sun.sun_path[0] = '\0';
	if (bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name))) == -1)
		return -1;
	return fd;
}

static void
expect(int fd, const char *want, const char *what)
{
	char buf[64] = "";
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n > 0)
		buf[n] = '\0';
	UNIT_STREQ(buf, want, "%s", what);
}

int
main(void)
{
	char path[64], abstract[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	UNIT_CHECK(notify_send("READY=1") == 0, "no NOTIFY_SOCKET: nothing to do, no error");

	snprintf(path, sizeof(path), "/tmp/greetbot-notify.%d", (int)getpid());
	fd = listen_at(path);
	setenv("NOTIFY_SOCKET", path, 1);
	UNIT_CHECK(notify_send("READY=1") == 0, "sent to a path socket");
	expect(fd, "READY=1", "the datagram says READY=1");
	close(fd);
	unlink(path);

	snprintf(abstract, sizeof(abstract), "@greetbot-notify.%d", (int)getpid());
	fd = listen_at(abstract);
	setenv("NOTIFY_SOCKET", abstract, 1);
	UNIT_CHECK(notify_send("STOPPING=1") == 0, "sent to an abstract socket");
	expect(fd, "STOPPING=1", "the datagram says STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	UNIT_CHECK(notify_send("READY=1") == -1, "a malformed NOTIFY_SOCKET is an error");
	setenv("NOTIFY_SOCKET", path, 1);
	UNIT_CHECK(notify_send("READY=1") == -1, "nobody listening is an error");
	return unit_done();
}
