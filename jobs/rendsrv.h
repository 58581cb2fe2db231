/* SPDX-License-Identifier: ISC */
/*
 * rendsrv.h: the privileged half of a render (rendproto.h): the only code
 * that starts renderers and ffprobe as a slot's uid, signals them, kills
 * every process of that uid when one ends, opens what they left without
 * following anything, and empties their work dirs. greetbotd's parent
 * serves the jobs process and each greetbot-tg over a channel each;
 * greetctl and a greetbot-tg started by hand serve themselves (a channel
 * within the process, rendsrv_local), so that every render goes the same
 * way.
 */
#ifndef GREETBOT_RENDSRV_H
#define GREETBOT_RENDSRV_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct rendsrv_client;
struct sandbox;

struct rendsrv_env {
	struct event_base	*base;
	const struct sandbox	*sb;
	const char		*work_root;	/* the slots' work dirs (s<slot>), as
						   renderers reach them */
	int			 work_fd;	/* the same, open: what we do there
						   goes by it, never by the path */
	const char		*cache_root;	/* the sealed caches (<version>), or
						   NULL: every render has its own */
	int			 cache_fd;
};

/* Serve renders over the channel end fd (taken), for the slots
 * [slot, slot + nslots) alone; who names the asker in the log. env is
 * kept (not copied): greetctl points it at each sample's tree. */
struct rendsrv_client *rendsrv_attach(const struct rendsrv_env *, int fd, int slot,
		    int nslots, const char *who);
/* *ref is set to NULL when the client is freed (the asker went away, or
 * was detached): the caller's pointer to it never dangles. */
void		 rendsrv_watch(struct rendsrv_client *, struct rendsrv_client **ref);
/* Stop serving it: its renders are killed and their slots emptied. */
void		 rendsrv_detach(struct rendsrv_client *);
/* How many processes (renderers, ffprobe) run for any asker. */
int		 rendsrv_running(void);

/*
 * The shared cache of a template version is built once, by a render of a
 * sample name (never a parent's) in a slot of its own with a writable
 * cache dir, then sealed: checked to hold only directories and regular
 * files of that slot's uid with one link, made ours and read-only, and
 * renamed into place. Renders of that version wait for it; when it cannot
 * be built, each renders with a cache of its own (slower, still right).
 * 1 when the version's cache is sealed.
 */
int		 rendsrv_cache_sealed(const struct rendsrv_env *, const char *version);

/*
 * A file the renderer made, taken without trusting it: name inside the
 * work dir (its descriptor: nothing on the way is followed), only a
 * regular file that owner owns with one link (not a link to the
 * database, a FIFO, a device), at most max bytes when max > 0. An fd
 * open on it for reading, or -1 with why; errno ENOENT when there is no
 * such file, EPERM when it is something else.
 */
int		 rendsrv_open_output(int work_fd, uid_t owner, const char *name,
		    long long max, char *why, size_t whylen);

#endif
