/* SPDX-License-Identifier: ISC */
/* sandbox.h: who a renderer runs as and what it can reach. As root, each
 * render slot has a uid of its own (RLIMIT_NPROC counts per uid), all slots
 * share render_user's group (the per-version caches), and every renderer
 * runs in one empty network namespace. */
#ifndef GREETBOT_SANDBOX_H
#define GREETBOT_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

struct config;

/*
 * The uid block from render_uid_base: the first slots belong to
 * greetbot-tg's previews, one to greetctl's sample renders, then one per
 * greetbotd worker. The layout does not depend on `workers`, so a reload
 * that changes it never gives two processes the same slot.
 */
#define SANDBOX_SLOT_PREVIEW	0	/* .. + SANDBOX_PREVIEWS - 1 */
#define SANDBOX_PREVIEWS	4
#define SANDBOX_SLOT_CTL	4
#define SANDBOX_SLOT_WORKER	5	/* + worker index */
#define SANDBOX_WORKERS_MAX	256
/* The first preview slot of the bot at index i (config.h): the main bot's
 * are 0-3, the others' come after the workers'. */
#define SANDBOX_SLOT_BOT(i)	((i) == 0 ? SANDBOX_SLOT_PREVIEW : SANDBOX_SLOT_WORKER + \
	SANDBOX_WORKERS_MAX + ((i) - 1) * SANDBOX_PREVIEWS)
/* The render that builds a template version's shared cache (a sample name,
 * never a parent's): after every bot's slots. */
#define SANDBOX_SLOT_CACHE	SANDBOX_SLOT_BOT(16)

struct sandbox {
	int	 drop;		/* we are root: renderers run as slot uids */
	uid_t	 uid_base;	/* 0: every slot is render_user itself */
	uid_t	 user_uid;	/* render_user's */
	gid_t	 gid;		/* render_user's group, shared by the slots */
	char	 group[64];	/* its name, for messages */
	int	 netns;		/* an empty network namespace, or -1 */
};

/*
 * Resolve render_user and the uid block, and (as root) make the empty
 * network namespace. slots is how many slots this process uses, counted
 * from SANDBOX_SLOT_PREVIEW, to check that no slot uid belongs to a user.
 * -1 with a message when the configuration cannot work.
 */
int	 sandbox_init(struct sandbox *, const struct config *, int slots,
	    char *err, size_t errlen);
void	 sandbox_free(struct sandbox *);
uid_t	 sandbox_uid(const struct sandbox *, int slot);
/* The slot's work dir, name inside the directory open at dirfd: empty,
 * owned by the slot's uid (0700); made the first time, emptied (no link
 * followed) unless the caller knows it is empty (known_empty). */
int	 sandbox_workdir_at(const struct sandbox *, int dirfd, const char *name, int slot,
	    int known_empty);
/*
 * greetbotd's claim on its uid block for this machine (a lock file under
 * /run/lock): a second greetbotd with the same render_uid_base would kill
 * the first one's renders when it cleans its slots. -1 with the fix in
 * err when another holds it.
 */
int	 sandbox_claim(const struct sandbox *, char *err, size_t errlen);

/*
 * Kill every process of the slot's uid (what its last renderer left, how
 * ever it escaped its group), before the slot is used again. Only with a
 * uid per slot (as root, render_uid_base set); -1 when it cannot be done.
 */
int	 sandbox_kill_slot(const struct sandbox *, int slot);

/*
 * Check as a renderer (a forked child with a slot's uid) that it can
 * search every directory down to each of dirs and read and execute the
 * script; on failure err names the path that stops it and the fix. 0 when
 * renderers can start, -1 when not. Cheap enough for start and SIGHUP.
 */
int	 sandbox_check(const struct sandbox *, const char *const *dirs, size_t ndirs,
	    const char *script, char *err, size_t errlen);
/* 1 when a renderer could open path for reading (a secret that leaks). */
int	 sandbox_can_read(const struct sandbox *, const char *path);
/* The start-up log's line saying how renderers are isolated. */
void	 sandbox_log(const struct sandbox *);

#endif
