/* SPDX-License-Identifier: ISC */
/* privsep.c: the service user and the drop to it (privsep.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "privsep.h"

#define TREE_DEPTH	8	/* levels service_give_tree walks down */

static struct service_user svc;

int
service_user_resolve(const struct config *c, struct service_user *su, char *err,
    size_t errlen)
{
	struct passwd *pw;
	gid_t render_gid;

	memset(su, 0, sizeof(*su));
	if (geteuid() != 0)
		return 0;
	if (c->service_user[0] != '\0' && strspn(c->service_user, "0123456789") ==
	    strlen(c->service_user)) {
		/* A number: that uid and gid, unnamed (as systemd's User=). */
		su->uid = (uid_t)strtoul(c->service_user, NULL, 10);
		su->gid = (gid_t)su->uid;
		snprintf(su->name, sizeof(su->name), "uid %u", (unsigned)su->uid);
	} else if (*c->service_user != '\0') {
		if ((pw = getpwnam(c->service_user)) == NULL) {
			snprintf(err, errlen, "service_user %s: no such user (the Debian "
			    "package makes greetbot; or leave it empty for an unnamed uid)",
			    c->service_user);
			return -1;
		}
		su->uid = pw->pw_uid;
		su->gid = pw->pw_gid;
		snprintf(su->name, sizeof(su->name), "%s", c->service_user);
	} else {
		if (c->render_uid_base <= 1) {
			snprintf(err, errlen, "service_user is empty and render_uid_base is %d: "
			    "name a service user (an unnamed one is render_uid_base - 1)",
			    c->render_uid_base);
			return -1;
		}
		su->uid = (uid_t)c->render_uid_base - 1;
		su->gid = (gid_t)c->render_uid_base - 1;
		snprintf(su->name, sizeof(su->name), "uid %u", (unsigned)su->uid);
	}
	if (su->uid == 0 || su->gid == 0) {
		snprintf(err, errlen, "service_user %s is root, or in group root: the service "
		    "runs unprivileged", su->name);
		return -1;
	}
	pw = getpwnam(c->render_user);
	render_gid = pw != NULL ? pw->pw_gid : 0;
	if (pw != NULL && su->gid == render_gid) {
		snprintf(err, errlen, "service_user %s is in the renderers' group (gid %u): "
		    "renderers could then read the service's files; give it a group of "
		    "its own", su->name, (unsigned)render_gid);
		return -1;
	}
	su->set = 1;
	if (!svc.set)
		svc = *su;
	return 0;
}

const struct service_user *
service_user(void)
{
	return &svc;
}

int
service_give_fd(int fd)
{
	if (!svc.set)
		return 0;
	return fchown(fd, svc.uid, svc.gid);
}

static int
give_tree(int dfd, int depth)
{
	struct dirent *de;
	struct stat st;
	int sub, dup_fd, rc = 0;
	DIR *d;

	if (service_give_fd(dfd) == -1)
		rc = -1;
	if (depth == 0 || (dup_fd = dup(dfd)) == -1)
		return rc;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* O_PATH: a FIFO is not opened for reading, a link not followed. */
		if ((sub = openat(dfd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if (fstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
			int dir = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);

			if (dir != -1) {
				if (give_tree(dir, depth - 1) == -1)
					rc = -1;
				close(dir);
			}
		} else if (fstat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
		    fchownat(dfd, de->d_name, svc.uid, svc.gid, AT_SYMLINK_NOFOLLOW) == -1)
			rc = -1;
		close(sub);
	}
	closedir(d);
	return rc;
}

int
service_give_tree(int dirfd)
{
	if (!svc.set)
		return 0;
	return give_tree(dirfd, TREE_DEPTH);
}

int
priv_drop(const struct service_user *su, char *err, size_t errlen)
{
	if (!su->set)
		return 0;
	if (setgroups(1, &su->gid) == -1 || setresgid(su->gid, su->gid, su->gid) == -1 ||
	    setresuid(su->uid, su->uid, su->uid) == -1) {
		snprintf(err, errlen, "cannot become %s: %s", su->name, strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1 || getuid() != su->uid ||
	    geteuid() != su->uid || getgid() != su->gid) {
		snprintf(err, errlen, "the privileges of root came back after the drop to %s",
		    su->name);
		return -1;
	}
	return 0;
}
