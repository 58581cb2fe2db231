/*
 * bench/lib/nodelay.c: an LD_PRELOAD shim for a diagnosis in
 * bench/updates.sh (BENCH_TGSIM_NODELAY=1): sets TCP_NODELAY on every
 * connection tgsim accepts, to show how much of the bot's update rate is
 * lost to Nagle's algorithm meeting the client's delayed ACK on kept-alive
 * connections (libevent writes a response over 16 KB in two parts).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);
	int s, one = 1;

	if (real == NULL)
		real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT,
		    "accept4");
	if ((s = real(fd, addr, len, flags)) >= 0)
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}
