/* SPDX-License-Identifier: ISC */
/* sandbox.c: renderer identities (a uid per slot), the shared cache group,
 * the empty network namespace, and the start-up reachability check. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "log.h"
#include "renderer.h"
#include "sandbox.h"
#include "xmalloc.h"

/* Every slot a greetbotd can use: the previews, greetctl, 256 workers,
 * the other bots' previews. */
#define SLOTS_MAX	(SANDBOX_SLOT_BOT(CONFIG_BOTS_MAX - 1) + SANDBOX_PREVIEWS)
_Static_assert(SANDBOX_SLOT_CACHE == SLOTS_MAX, "the cache's slot follows every bot's");

/*
 * An empty network namespace (only a loopback that is down) for every
 * renderer to enter: unshare ours, keep a descriptor of the new one, go
 * back. Its descriptor keeps it alive; renderers setns into it before
 * they drop root. -1 when the kernel refuses (no CAP_SYS_ADMIN).
 */
static int
netns_empty(void)
{
	int self, empty;

	if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (unshare(CLONE_NEWNET) == -1) {
		close(self);
		return -1;
	}
	empty = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (setns(self, CLONE_NEWNET) == -1)
		fatal("cannot return to our network namespace");
	close(self);
	return empty;
}

/* No slot uid may be a real user's: the renderer would act as them. */
static int
slots_free(const struct sandbox *sb, int slots, char *err, size_t errlen)
{
	for (int i = 0; i <= slots; i++) {
		/* And the cache's slot, which greetbotd's parent uses. */
		int slot = i < slots ? i : SANDBOX_SLOT_CACHE;
		uid_t uid = sandbox_uid(sb, slot);
		struct passwd *pw;

		if ((pw = getpwuid(uid)) == NULL)
			continue;
		snprintf(err, errlen, "render_uid_base %u: uid %u (render slot %d) belongs "
		    "to user %s, and renderers would run as that user; choose a block of "
		    "%d uids that no user has, or render_uid_base = 0 to run every "
		    "renderer as render_user", (unsigned)sb->uid_base, (unsigned)uid, slot,
		    pw->pw_name, SANDBOX_SLOT_CACHE + 1);
		return -1;
	}
	return 0;
}

int
sandbox_init(struct sandbox *sb, const struct config *c, int slots, char *err,
    size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(sb, 0, sizeof(*sb));
	sb->netns = -1;
	if (geteuid() != 0)
		return 0;
	if ((sb->netns = netns_empty()) == -1)
		log_warn("renderers can reach the network: no network namespace");
	if (*c->render_user == '\0')
		return 0;
	if ((pw = getpwnam(c->render_user)) == NULL) {
		snprintf(err, errlen, "render_user %s: no such user", c->render_user);
		return -1;
	}
	sb->drop = 1;
	sb->user_uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	sb->uid_base = (uid_t)c->render_uid_base;
	if ((gr = getgrgid(sb->gid)) != NULL)
		snprintf(sb->group, sizeof(sb->group), "%s", gr->gr_name);
	else
		snprintf(sb->group, sizeof(sb->group), "%u", (unsigned)sb->gid);
	if (slots > SLOTS_MAX)
		slots = SLOTS_MAX;
	if (sb->uid_base != 0 && slots_free(sb, slots, err, errlen) == -1)
		return -1;
	return 0;
}

void
sandbox_free(struct sandbox *sb)
{
	if (sb->netns >= 0)
		close(sb->netns);
	sb->netns = -1;
}

uid_t
sandbox_uid(const struct sandbox *sb, int slot)
{
	return sb->uid_base != 0 ? sb->uid_base + (uid_t)slot : sb->user_uid;
}

int
sandbox_workdir_at(const struct sandbox *sb, int dirfd, const char *name, int slot,
    int known_empty)
{
	int fd, r = 0;

	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	/* A slot's directory is kept from render to render (making and
	 * removing one per render was most of the file system's cost per
	 * job), and emptied before each: the render starts in an empty one. */
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (unlinkat(dirfd, name, 0) == -1 || mkdirat(dirfd, name, 0700) == -1 ||
		    (fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			return -1;
	}
	if ((!known_empty && render_empty_at(dirfd, name) == -1) || fchmod(fd, 0700) == -1 ||
	    (sb->drop && fchown(fd, sandbox_uid(sb, slot), sb->gid) == -1))
		r = -1;
	close(fd);
	return r;
}

int
sandbox_claim(const struct sandbox *sb, char *err, size_t errlen)
{
	const char *dir = access("/run/lock", W_OK) == 0 ? "/run/lock" : "/tmp";
	char path[128];
	int fd;

	if (!sb->drop || sb->uid_base == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/greetbot-render-uids-%u.lock", dir,
	    (unsigned)sb->uid_base);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "another greetbotd on this machine renders as uids "
		    "%u and up (%s is locked): give each node its own render_uid_base, "
		    "at least 300 apart", (unsigned)sb->uid_base, path);
		close(fd);
		return -1;
	}
	return 0;	/* held until we exit: the descriptor is never closed */
}

int
sandbox_kill_slot(const struct sandbox *sb, int slot)
{
	/* With one uid for every slot, its processes are other renders' too. */
	if (!sb->drop || sb->uid_base == 0)
		return -1;
	return child_kill_uid(sandbox_uid(sb, slot), sb->gid);
}

/*
 * In the checking child: the first directory on the way to path that we
 * cannot search, or 0 when every one can be searched (path included).
 */
static int
first_closed(const char *path, char *stop, size_t len)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (access(buf, X_OK) == -1) {
				snprintf(stop, len, "%s", buf);
				return -1;
			}
			if ((*p = c) == '\0')
				return 0;
		}
	}
}

/* What the sysadmin reads: the path, why, and the fix. */
static void
closed_message(const struct sandbox *sb, uid_t uid, const char *stop, const char *want,
    char *err, size_t errlen)
{
	struct stat st;
	char why[160] = "it does not exist";

	if (stat(stop, &st) == 0) {
		struct passwd *pw = getpwuid(st.st_uid);
		struct group *gr = getgrgid(st.st_gid);

		snprintf(why, sizeof(why), "it is mode %04o, owner %s, group %s",
		    (unsigned)(st.st_mode & 07777), pw ? pw->pw_name : "?",
		    gr ? gr->gr_name : "?");
	}
	snprintf(err, errlen, "renderers (uid %u, group %s) cannot search %s: %s; they "
	    "must reach %s. Let them search it (chmod o+x %s: search only, no "
	    "listing), or put state_dir under a directory every user can search, such "
	    "as /var/lib/greetbot (the systemd unit's StateDirectory)", (unsigned)uid,
	    sb->group, stop, why, want, stop);
}

/* In a forked child: become the renderer of uid (render group only). */
static int
sandbox_become(const struct sandbox *sb, uid_t uid)
{
	return setgroups(1, &sb->gid) == -1 || setgid(sb->gid) == -1 ||
	    setuid(uid) == -1 ? -1 : 0;
}

/* The checks, run as the renderer; 0, or -1 with err filled. */
static int
check_as_renderer(const struct sandbox *sb, uid_t uid, const char *const *dirs,
    size_t ndirs, const char *script, char *err, size_t errlen)
{
	char stop[4096];

	for (size_t i = 0; i < ndirs; i++)
		if (first_closed(dirs[i], stop, sizeof(stop)) == -1) {
			closed_message(sb, uid, stop, dirs[i], err, errlen);
			return -1;
		}
	if (script == NULL)
		return 0;
	if (first_closed(script, stop, sizeof(stop)) == -1 && strcmp(stop, script) != 0) {
		closed_message(sb, uid, stop, script, err, errlen);
		return -1;
	}
	if (access(script, R_OK | X_OK) == -1) {
		snprintf(err, errlen, "renderers (uid %u) cannot run the render script %s: "
		    "%s; it must be readable and executable by everyone (chmod 755)",
		    (unsigned)uid, script, strerror(errno));
		return -1;
	}
	return 0;
}

int
sandbox_check(const struct sandbox *sb, const char *const *dirs, size_t ndirs,
    const char *script, char *err, size_t errlen)
{
	uid_t uid = sandbox_uid(sb, SANDBOX_SLOT_WORKER);
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (!sb->drop)
		return check_as_renderer(sb, geteuid(), dirs, ndirs, script, err, errlen);
	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		char msg[1024];

		close(p[0]);
		if (sandbox_become(sb, uid) == -1)
			_exit(2);
		if (check_as_renderer(sb, uid, dirs, ndirs, script, msg, sizeof(msg)) == 0)
			_exit(0);
		(void)!write(p[1], msg, strlen(msg));
		_exit(1);
	}
	close(p[1]);
	n = read(p[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "cannot check as uid %u whether renderers can start",
		    (unsigned)uid);
	return -1;
}

int
sandbox_can_read(const struct sandbox *sb, const char *path)
{
	int status;
	pid_t pid;

	if (!sb->drop || path == NULL || *path == '\0')
		return 0;
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		int fd;

		if (sandbox_become(sb, sandbox_uid(sb, SANDBOX_SLOT_WORKER)) == -1)
			_exit(2);
		_exit((fd = open(path, O_RDONLY)) == -1 ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void
sandbox_log(const struct sandbox *sb)
{
	const char *net = sb->netns >= 0 ? "none (empty network namespace)" :
	    "shared (not root: no network namespace)";

	if (!sb->drop)
		log_info("renderers isolated", "user=self network=%s", net);
	else if (sb->uid_base == 0)
		log_info("renderers isolated", "uid=%u group=%s per_slot=no network=%s",
		    (unsigned)sb->user_uid, sb->group, net);
	else
		log_info("renderers isolated", "uids=%u.. group=%s per_slot=yes network=%s",
		    (unsigned)sb->uid_base, sb->group, net);
}
