/* SPDX-License-Identifier: ISC */
/*
 * privsep.h: the service user, whom the processes that read what comes
 * from outside (each greetbot-tg: the webhook, Bot API answers, names
 * typed by parents) run as once root has done what needs root; and the
 * drop itself. Renderers are not the service user: they run as the
 * render slots' uids (sandbox.h), in a group the service user is not in.
 */
#ifndef GREETBOT_PRIVSEP_H
#define GREETBOT_PRIVSEP_H

#include <stddef.h>
#include <sys/types.h>

struct config;

struct service_user {
	int	 set;		/* resolved, and we are root: the drop applies */
	uid_t	 uid;
	gid_t	 gid;
	char	 name[64];	/* the user's, or "uid N" for the unnamed one */
};

/*
 * Who service_user names: that user and its primary group; a number is
 * that uid and gid, unnamed; "" is the unnamed uid and gid
 * render_uid_base - 1 (beside the render slots'
 * block, which no user may own either). Only as root: otherwise nothing
 * is set and 0 returned. -1 with why when the user does not exist, is
 * root, or shares the renderers' group (render_user's), or when "" is
 * given but render_uid_base is 0 (no unnamed block: name a user).
 */
int	 service_user_resolve(const struct config *, struct service_user *,
	    char *err, size_t errlen);
/* The process-wide service user (set by the first successful resolve). */
const struct service_user *service_user(void);
/* Give a file or directory we made to the service user (fchown; nothing
 * when none is set). -1 with errno. */
int	 service_give_fd(int fd);
/*
 * The same for the tree below the directory dirfd (and it), through
 * descriptors, following no link: what an older greetbotd made as root
 * (the database, the assets, the previews) becomes the service user's.
 */
int	 service_give_tree(int dirfd);
/*
 * Become the service user for good: supplementary groups, gid and uid
 * (real, effective and saved), no_new_privs; then check that uid 0 and
 * gid 0 cannot be had back. -1 with why.
 */
int	 priv_drop(const struct service_user *, char *err, size_t errlen);

#endif
