/* SPDX-License-Identifier: ISC */
/*
 * rendsrv.c: the privileged half of a render (rendsrv.h, rendproto.h).
 *
 * What it reads of an asker is a struct of a fixed size whose strings
 * must end inside their fields; what it reads of a renderer is nothing:
 * the renderer's stdout and stderr go to pipes the asker made, and its
 * outputs are opened (never read) and handed over as descriptors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "child.h"
#include "log.h"
#include "privsep.h"
#include "renderer.h"
#include "rendproto.h"
#include "rendsrv.h"
#include "sandbox.h"
#include "xmalloc.h"

struct rendsrv_client {
	const struct rendsrv_env *env;
	struct chan		*chan;
	int			 slot, nslots;
	char			 who[48];
	int			 gone;
	struct rendsrv_client	**ref;	/* set to NULL when it is freed */
	struct rendsrv_client	*next;
};

/* A process running for an asker: a render script or ffprobe. */
struct rs_proc {
	struct rendsrv_client	*cl;	/* NULL once the asker is gone */
	const struct rendsrv_env *env;
	const struct sandbox	*sb;
	uint32_t		 id;
	int			 slot, kind, mode;
	pid_t			 pid;
	uid_t			 uid;
	int			 own_uid;	/* the slot's alone: killed as a whole */
	long long		 max_bytes;
	char			 dir[16];	/* its work dir: s<slot> in work_fd */
	int			 release;	/* empty the work dir when it ends */
	int			 give;		/* its outputs given at its exit */
	struct rs_proc		*next;
};

/* A slot's state: whether a process runs in it, whether its work dir
 * holds anything since it was last emptied, whether its uid was killed
 * since its last process ended. */
struct rs_slot {
	int		 slot;
	struct rs_proc	*running;
	int		 building;	/* the cache slot: a build runs */
	int		 dirty;
	int		 killed;
	struct rs_slot	*next;
};

static struct rendsrv_client	*clients;
static struct rs_proc		*procs;
static struct rs_slot		*slots;
static int			 nrunning;

static struct rs_slot *
slot_get(int slot)
{
	struct rs_slot *s;

	for (s = slots; s != NULL; s = s->next)
		if (s->slot == slot)
			return s;
	s = xcalloc(1, sizeof(*s));
	s->slot = slot;
	s->dirty = 1;	/* unknown: emptied before its first use */
	s->next = slots;
	slots = s;
	return s;
}

/* A slot's work dir: its name in work_fd, its path as renderers see it. */
static void
slot_dir(int slot, char *name, size_t len)
{
	snprintf(name, len, "s%d", slot);
}

int
rendsrv_open_output(int work_fd, uid_t owner, const char *name, long long max, char *why,
    size_t whylen)
{
	struct stat st;
	int fd, e;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	if ((fd = openat(work_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) == -1) {
		e = errno;
		snprintf(why, whylen, e == ELOOP ? "%s is a symbolic link" : "%s: %s", name,
		    strerror(e));
		errno = e == ENOENT ? ENOENT : EPERM;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != owner ||
	    st.st_nlink != 1 || (max > 0 && st.st_size > max)) {
		snprintf(why, whylen, "%s is not a file of the renderer's own (%s)", name,
		    !S_ISREG(st.st_mode) ? "not a regular file" : st.st_uid != owner ?
		    "owned by another uid" : st.st_nlink != 1 ? "a hard link" : "too large");
		close(fd);
		errno = EPERM;
		return -1;
	}
	(void)fcntl(fd, F_SETFL, 0);	/* a regular file: reads need not wait */
	return fd;
}

/*
 * Make an output the service user's own file (mode 0600), so that the
 * asker may link it into the asset store instead of copying it; only if
 * no other process holds it open: a write lease proves that, for it is
 * granted only while the file has no other open file, for reading or
 * writing (a renderer that passed a descriptor of it to another process,
 * or mapped it, keeps one). Taken as the file's new owner, which needs no
 * CAP_LEASE, and let go at once. 1 given; 0 not, and the asker copies
 * what it reads from the descriptor, as before.
 */
static int
give_output(int fd)
{
	const struct service_user *su = service_user();
	struct stat st;
	uid_t was = 0;
	int leased;

	if (fchmod(fd, 0600) == -1 || service_give_fd(fd) == -1)
		return 0;
	if (su->set)
		was = (uid_t)setfsuid(su->uid);
	if ((leased = fcntl(fd, F_SETLEASE, F_WRLCK) == 0))
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
	if (su->set)
		(void)setfsuid(was);
	/* No other name either, which only an open file could have added. */
	return leased && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1;
}

/*
 * Every process of the slot's uid, gone. Only we start a process as that
 * uid, so once its uid was killed after its last process ended nothing of
 * it can run until we start the next: that kill (at its exit, before its
 * outputs are opened) is the one before reuse too, and a second was a
 * clone and a walk of every process on the machine per render for nothing.
 */
static void
slot_kill(const struct rendsrv_env *env, struct rs_slot *s)
{
	if (!s->killed && s->running == NULL)
		s->killed = sandbox_kill_slot(env->sb, s->slot) == 0;
}

/* Whatever of the slot's last process is left, gone; its work dir empty. */
static void
slot_clean(const struct rendsrv_env *env, struct rs_slot *s)
{
	char name[16];

	slot_dir(s->slot, name, sizeof(name));
	slot_kill(env, s);
	(void)render_empty_at(env->work_fd, name);
	s->dirty = 0;
}

static void
send_failed(struct rendsrv_client *cl, uint32_t id, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
send_failed(struct rendsrv_client *cl, uint32_t id, int err, const char *fmt, ...)
{
	struct rp_failed m = { 0 };
	va_list ap;

	m.type = RP_FAILED;
	m.id = id;
	m.err = err;
	va_start(ap, fmt);
	vsnprintf(m.why, sizeof(m.why), fmt, ap);
	va_end(ap);
	(void)chan_send(cl->chan, &m, sizeof(m), NULL, 0);
}

/* The process ended: nothing of its uid may be left to change what it
 * made before the outputs are opened and handed over. */
static void
proc_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct rs_proc *p = arg, **pp;
	struct rs_slot *s = slot_get(p->slot);
	struct rp_exited m = { 0 };
	int fds[RP_OUTPUTS], nfds = 0, wfd;

	for (int i = 0; i < 10 && killpg(pid, SIGKILL) == 0; i++)
		;
	s->running = NULL;
	s->dirty = 1;
	s->killed = 0;
	if (p->own_uid)
		slot_kill(p->env, s);
	nrunning--;
	if (p->cl != NULL) {
		m.type = RP_EXITED;
		m.id = p->id;
		m.status = status;
		m.uid = (int32_t)p->uid;
		m.utime_us = (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
		m.stime_us = (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
		m.maxrss_kb = ru->ru_maxrss;
		wfd = openat(p->env->work_fd, p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		for (int i = 0; i < RP_OUTPUTS; i++) {
			const char *name = rp_outputs[p->mode][i];
			int fd;

			if ((p->kind != RP_SCRIPT && !p->give) || name == NULL) {
				m.out_err[i] = ENOENT;
				continue;
			}
			if (wfd == -1) {
				m.out_err[i] = EPERM;
				snprintf(m.out_why[i], sizeof(m.out_why[i]), "its work dir "
				    "cannot be opened");
				continue;
			}
			if ((fd = rendsrv_open_output(wfd, p->uid, name, p->max_bytes,
			    m.out_why[i], sizeof(m.out_why[i]))) == -1)
				m.out_err[i] = errno;
			else {
				m.out_given[i] = p->give && give_output(fd);
				fds[nfds++] = fd;
			}
		}
		if (wfd != -1)
			close(wfd);
		(void)chan_send(p->cl->chan, &m, sizeof(m), fds, nfds);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
	if (p->release || p->cl == NULL) {
		(void)render_empty_at(p->env->work_fd, p->dir);
		s->dirty = 0;
	}
	for (pp = &procs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

static struct rs_proc *
proc_find(const struct rendsrv_client *cl, uint32_t id)
{
	for (struct rs_proc *p = procs; p != NULL; p = p->next)
		if (p->cl == cl && p->id == id)
			return p;
	return NULL;
}

/* Every string of the message ends inside its field. */
static int
spawn_strings_ok(const struct rp_spawn *m)
{
	const char *f[] = { m->script, m->template_dir, m->version, m->name, m->stress };
	const size_t n[] = { sizeof(m->script), sizeof(m->template_dir), sizeof(m->version),
	    sizeof(m->name), sizeof(m->stress) };

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (memchr(f[i], '\0', n[i]) == NULL)
			return 0;
	return strspn(m->version, "0123456789abcdef") == strlen(m->version);
}

/* The render contract's environment (templates/README.md): nothing
 * inherited, no token, no database. */
static void
script_env(const struct rp_spawn *m, const char *work, const char *cache, int build,
    char **envp, char **own, size_t n)
{
	size_t i = 0;

	xasprintf(&own[i], "HOME=%s", work), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_NAME=%s", m->name), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_TEMPLATE_DIR=%s", m->template_dir), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_CACHE_DIR=%s", cache), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_OUTPUT=%s/%s", work, rp_outputs[m->mode][0]),
	    envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_THUMB=%s/thumb.jpg", work), envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_MODE=%s", m->mode == RP_VIDEO ? "video" : "preview"),
	    envp[i] = own[i], i++;
	xasprintf(&own[i], "GREETBOT_WORK_DIR=%s", work), envp[i] = own[i], i++;
	/* The stress the name is to be spoken with (names.h), when it has one. */
	if (m->stress[0] != '\0')
		xasprintf(&own[i], "GREETBOT_STRESS=%s", m->stress), envp[i] = own[i], i++;
	/* How many cores the render may use (render.sh: x264's threads). */
	if (m->threads > 0)
		xasprintf(&own[i], "GREETBOT_THREADS=%d", m->threads), envp[i] = own[i], i++;
	/* The render that builds the shared cache (its video is thrown away). */
	if (build)
		envp[i++] = "GREETBOT_CACHE_BUILD=1";
	envp[i++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	envp[i++] = "LANG=C.UTF-8";
	envp[i] = NULL;
	if (i >= n)
		fatalx("script_env: too many variables");
}

/* --- the shared caches ----------------------------------------------------- */

#define CACHE_NAME	"Emma"	/* the build's sample name: no parent's */
#define CACHE_RETRY	600	/* seconds before a failed build is tried again */
#define SEAL_DEPTH	16	/* directory levels a cache may have */
#define SEAL_ENTRIES	100000

enum cache_state { CACHE_BUILDING = 1, CACHE_SEALED, CACHE_FAILED };

/* A spawn that waits for its version's cache to be built. */
struct rs_wait {
	struct rendsrv_client	*cl;	/* NULL once the asker is gone */
	struct rp_spawn		 m;
	int			 fds[2];
	int			 nfds;
	struct rs_wait		*next;
};

struct rs_cache {
	char		 version[32];
	enum cache_state state;
	time_t		 failed_at;
	struct rs_wait	*waiting;
	struct rs_cache	*next;
};

static struct rs_cache	*caches;

static void spawn_now(struct rendsrv_client *, const struct rp_spawn *, int *, int);

static struct rs_cache *
cache_get(const char *version)
{
	struct rs_cache *c;

	for (c = caches; c != NULL; c = c->next)
		if (strcmp(c->version, version) == 0)
			return c;
	c = xcalloc(1, sizeof(*c));
	snprintf(c->version, sizeof(c->version), "%s", version);
	c->next = caches;
	caches = c;
	return c;
}

/* Sealed: a directory of ours that nobody else may write. */
int
rendsrv_cache_sealed(const struct rendsrv_env *env, const char *version)
{
	struct stat st;

	return env->cache_fd >= 0 && fstatat(env->cache_fd, version, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & 0222) == 0;
}

/*
 * Check and seal the tree open at fd, built by uid: every entry a
 * directory or a regular file of uid with one link (a link, a FIFO, a
 * device, a hard link to anything: refused), then ours, read-only. -1
 * with why at the first entry refused.
 */
static int
seal_tree(int fd, uid_t uid, int depth, int *entries, char *why, size_t whylen)
{
	struct dirent *de;
	struct stat st;
	int sub, rc = 0, dfd;
	DIR *d;

	if ((dfd = dup(fd)) == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		snprintf(why, whylen, "cannot read a directory: %s", strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++*entries > SEAL_ENTRIES || depth > SEAL_DEPTH) {
			snprintf(why, whylen, "more than %d entries or %d levels", SEAL_ENTRIES,
			    SEAL_DEPTH);
			rc = -1;
			break;
		}
		if ((sub = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		    O_CLOEXEC)) == -1 || fstat(sub, &st) == -1) {
			snprintf(why, whylen, "%.100s: %s", de->d_name, errno == ELOOP ?
			    "a symbolic link" : strerror(errno));
			if (sub != -1)
				close(sub);
			rc = -1;
			break;
		}
		if (st.st_uid != uid || !(S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) &&
		    st.st_nlink == 1))) {
			snprintf(why, whylen, "%.100s: %s", de->d_name, st.st_uid != uid ?
			    "not the builder's" : S_ISREG(st.st_mode) ? "a hard link" :
			    "neither a file nor a directory");
			rc = -1;
		} else if (S_ISDIR(st.st_mode))
			rc = seal_tree(sub, uid, depth + 1, entries, why, whylen);
		if (rc == 0 && ((geteuid() == 0 && fchown(sub, 0, 0) == -1) ||
		    fchmod(sub, S_ISDIR(st.st_mode) ? 0555 : 0444) == -1)) {
			snprintf(why, whylen, "%.100s: %s", de->d_name, strerror(errno));
			rc = -1;
		}
		close(sub);
	}
	closedir(d);
	return rc;
}

/* The build ended: sealed and in place, or given up (each render makes
 * its own until CACHE_RETRY has passed); the renders that waited go. */
static void
cache_built(struct rs_cache *c, const struct rendsrv_env *env, uid_t uid, int status)
{
	char build[48], why[256] = "";
	struct rs_wait *w;
	int fd, entries = 0, ok = 0;

	snprintf(build, sizeof(build), ".build-%s", c->version);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(why, sizeof(why), "the build render %s %d (greetctl template check "
		    "says why)", WIFEXITED(status) ? "exited" : "was killed by signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	else if ((fd = openat(env->cache_fd, build, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		snprintf(why, sizeof(why), "%s: %s", build, strerror(errno));
	else {
		if (seal_tree(fd, uid, 0, &entries, why, sizeof(why)) == 0 &&
		    ((geteuid() == 0 && fchown(fd, 0, 0) == -1) || fchmod(fd, 0555) == -1))
			snprintf(why, sizeof(why), "%s: %s", build, strerror(errno));
		else if (why[0] == '\0' && renameat(env->cache_fd, build, env->cache_fd,
		    c->version) == -1)
			snprintf(why, sizeof(why), "cannot put it in place: %s", strerror(errno));
		else
			ok = why[0] == '\0';
		close(fd);
	}
	if (ok) {
		c->state = CACHE_SEALED;
		log_info("render cache sealed", "version=%s entries=%d", c->version, entries);
	} else {
		c->state = CACHE_FAILED;
		c->failed_at = time(NULL);
		render_rmtree_at(env->cache_fd, build);
		log_warnx("render cache not sealed: each render makes its own", "version=%s "
		    "reason=%s", c->version, why);
	}
	while ((w = c->waiting) != NULL) {
		c->waiting = w->next;
		if (w->cl != NULL)
			spawn_now(w->cl, &w->m, w->fds, w->nfds);
		for (int i = 0; i < w->nfds; i++)
			close(w->fds[i]);
		free(w);
	}
}

/* The build's process (no asker: nothing is told but the log). */
struct rs_build {
	struct rs_cache			*c;
	const struct rendsrv_env	*env;
	uid_t				 uid;
};

static void
build_exited(pid_t pid, int status, const struct rusage *ru, void *arg)
{
	struct rs_build *b = arg;
	struct rs_slot *s = slot_get(SANDBOX_SLOT_CACHE);

	(void)ru;
	for (int i = 0; i < 10 && killpg(pid, SIGKILL) == 0; i++)
		;
	s->killed = 0;
	slot_kill(b->env, s);
	nrunning--;
	s->building = 0;
	cache_built(b->c, b->env, b->uid, status);
	slot_clean(b->env, s);
	free(b);
}

/* Start the render that builds version's cache, with the request's
 * template and limits but the sample name, into a writable .build-V. */
static int
cache_build(struct rs_cache *c, const struct rendsrv_env *env, const struct rp_spawn *m)
{
	const struct sandbox *sb = env->sb;
	struct rp_spawn bm = *m;
	struct child_limits lim = { (rlim_t)m->cpu, (rlim_t)m->as, (rlim_t)m->fsize,
	    (rlim_t)m->nofile, (rlim_t)m->nproc };
	struct child_spec cs = { 0 };
	struct rs_build *b;
	uid_t uid = sb->drop ? sandbox_uid(sb, SANDBOX_SLOT_CACHE) : geteuid();
	char build[48], dir[16], *work, *cache, *own[10] = { 0 }, *envp[16], *argv[2];
	int bfd, wfd;

	snprintf(build, sizeof(build), ".build-%s", c->version);
	slot_dir(SANDBOX_SLOT_CACHE, dir, sizeof(dir));
	(void)sandbox_kill_slot(sb, SANDBOX_SLOT_CACHE);
	render_rmtree_at(env->cache_fd, build);	/* a build a crash cut short */
	if (mkdirat(env->cache_fd, build, 0700) == -1 || (bfd = openat(env->cache_fd, build,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (sb->drop && fchown(bfd, uid, sb->gid) == -1) {
		close(bfd);
		return -1;
	}
	close(bfd);
	if (sandbox_workdir_at(sb, env->work_fd, dir, SANDBOX_SLOT_CACHE, 0) == -1 ||
	    (wfd = openat(env->work_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	snprintf(bm.name, sizeof(bm.name), "%s", CACHE_NAME);
	bm.stress[0] = '\0';
	bm.mode = RP_VIDEO;
	bm.nice = 0;
	xasprintf(&work, "%s/%s", env->work_root, dir);
	xasprintf(&cache, "%s/%s", env->cache_root, build);
	script_env(&bm, work, cache, 1, envp, own, sizeof(envp) / sizeof(envp[0]));
	argv[0] = bm.script;
	argv[1] = NULL;
	cs.path = bm.script;
	cs.argv = argv;
	cs.envp = envp;
	cs.dir_fd = wfd;
	cs.new_session = 1;
	cs.fd_in = cs.fd_out = cs.fd_err = -1;
	cs.limits = &lim;
	cs.pdeathsig = SIGKILL;
	cs.drop = sb->drop;
	cs.uid = uid;
	cs.gid = sb->gid;
	cs.netns = sb->netns;
	cs.sandboxed = 1;
	b = xcalloc(1, sizeof(*b));
	b->c = c;
	b->env = env;
	b->uid = uid;
	pid_t pid = child_spawn(&cs, build_exited, b);
	close(wfd);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		free(own[i]);
	free(work);
	free(cache);
	if (pid == -1) {
		free(b);
		return -1;
	}
	slot_get(SANDBOX_SLOT_CACHE)->building = 1;
	slot_get(SANDBOX_SLOT_CACHE)->killed = 0;
	nrunning++;
	c->state = CACHE_BUILDING;
	log_info("render cache building", "version=%s pid=%d uid=%u", c->version, (int)pid,
	    (unsigned)uid);
	return 0;
}

/*
 * Where a render's cache is: the sealed one (its path in cache), or its
 * own in its work dir (*cache NULL: private), or nowhere yet: 1 when the
 * spawn must wait for the build (then queued here with copies of fds).
 */
static int
cache_for(struct rendsrv_client *cl, const struct rp_spawn *m, int *fds, int nfds,
    char **cache)
{
	const struct rendsrv_env *env = cl->env;
	struct rs_cache *c;
	struct rs_wait *w;

	*cache = NULL;
	if (m->private_cache || m->version[0] == '\0' || env->cache_fd < 0)
		return 0;
	c = cache_get(m->version);
	if (c->state != CACHE_BUILDING && rendsrv_cache_sealed(env, m->version))
		c->state = CACHE_SEALED;
	if (c->state == CACHE_SEALED) {
		xasprintf(cache, "%s/%s", env->cache_root, m->version);
		return 0;
	}
	if (c->state == CACHE_FAILED && time(NULL) - c->failed_at < CACHE_RETRY)
		return 0;
	if (c->state != CACHE_BUILDING && slot_get(SANDBOX_SLOT_CACHE)->building)
		return 0;	/* another version's build runs: its own, this once */
	if (c->state != CACHE_BUILDING) {
		/* Not ours, or half-built by an older greetbotd: made again. */
		render_rmtree_at(env->cache_fd, m->version);
		if (cache_build(c, env, m) == -1) {
			log_warn("render cache cannot be built: each render makes its own",
			    "version=%s", m->version);
			c->state = CACHE_FAILED;
			c->failed_at = time(NULL);
			return 0;
		}
	}
	w = xcalloc(1, sizeof(*w));
	w->cl = cl;
	w->m = *m;
	/* Copies: the caller closes its own when this returns. */
	for (int i = 0; i < nfds; i++)
		w->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
	w->nfds = nfds;
	w->next = c->waiting;
	c->waiting = w;
	return 1;
}

/* --- spawning --------------------------------------------------------------- */

static void
on_spawn(struct rendsrv_client *cl, const struct rp_spawn *m, int *fds, int nfds)
{
	int want = m->kind == RP_SCRIPT ? 2 : 1;

	if (nfds != want || m->slot < cl->slot || m->slot >= cl->slot + cl->nslots ||
	    (m->kind != RP_SCRIPT && m->kind != RP_PROBE) ||
	    (m->mode != RP_VIDEO && m->mode != RP_PREVIEW) || !spawn_strings_ok(m) ||
	    m->nice < 0 || m->nice > 19 || m->threads < 0 || m->threads > 1024) {
		log_warnx("render request refused", "from=%s slot=%d kind=%d fds=%d", cl->who,
		    m->slot, m->kind, nfds);
		send_failed(cl, m->id, EINVAL, "refused by greetbotd: not a valid request");
		return;
	}
	/* The fds are on_message's to close: the child has its copies (or a
	 * wait has its own). */
	spawn_now(cl, m, fds, nfds);
}

/* A checked request, now (or queued behind its cache's build: the fds are
 * then duplicated for the wait). */
static void
spawn_now(struct rendsrv_client *cl, const struct rp_spawn *m, int *fds, int nfds)
{
	const struct sandbox *sb = cl->env->sb;
	struct child_limits lim;
	struct child_spec cs = { 0 };
	struct rs_slot *s;
	struct rs_proc *p;
	char *own[10] = { 0 }, *envp[16], *argv[10], *work, *cache = NULL, why[RP_WHY];
	char dir[16];
	int fd, wfd = -1;

	s = slot_get(m->slot);
	if (s->running != NULL) {
		send_failed(cl, m->id, EBUSY, "render slot %d is busy", m->slot);
		return;
	}
	slot_dir(m->slot, dir, sizeof(dir));
	if (m->kind == RP_SCRIPT) {
		if (cache_for(cl, m, fds, nfds, &cache) == 1)
			return;	/* waits, with its own copies of the pipes */
		/* An empty work dir of the slot's uid, nothing of it running. */
		if (s->dirty)
			slot_kill(cl->env, s);
		if (sandbox_workdir_at(sb, cl->env->work_fd, dir, m->slot, !s->dirty) == -1) {
			send_failed(cl, m->id, errno, "cannot make the work dir %s/%s: %s",
			    cl->env->work_root, dir, strerror(errno));
			free(cache);
			return;
		}
		s->dirty = 1;
	}
	if ((wfd = openat(cl->env->work_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		send_failed(cl, m->id, EPERM, "its work dir cannot be opened: %s",
		    strerror(errno));
		free(cache);
		return;
	}
	xasprintf(&work, "%s/%s", cl->env->work_root, dir);
	if (m->kind == RP_SCRIPT) {
		if (cache == NULL)
			xasprintf(&cache, "%s/cache", work);	/* its own */
		script_env(m, work, cache, 0, envp, own, sizeof(envp) / sizeof(envp[0]));
		argv[0] = (char *)m->script;
		argv[1] = NULL;
		cs.path = m->script;
		cs.envp = envp;
		cs.fd_out = fds[0];
		cs.fd_err = fds[1];
	} else {
		/* ffprobe reads the video only if it is the renderer's own
		 * regular file (it would follow a link, or wait on a FIFO). */
		if ((fd = rendsrv_open_output(wfd, sb->drop ? sandbox_uid(sb, m->slot) :
		    geteuid(), "out.mp4", m->max_bytes, why, sizeof(why))) == -1) {
			send_failed(cl, m->id, errno, "%s", why);
			close(wfd);
			free(work);
			return;
		}
		close(fd);
		argv[0] = "ffprobe";
		argv[1] = "-v";
		argv[2] = "error";
		argv[3] = "-print_format";
		argv[4] = "json";
		argv[5] = "-show_format";
		argv[6] = "-show_streams";
		argv[7] = "file:out.mp4";
		argv[8] = NULL;
		cs.path = "/usr/bin/ffprobe";
		envp[0] = "PATH=/usr/local/bin:/usr/bin:/bin";
		envp[1] = "LANG=C.UTF-8";
		envp[2] = NULL;
		cs.envp = envp;
		cs.fd_out = fds[0];
		cs.fd_err = -1;
	}
	lim.cpu = (rlim_t)m->cpu;
	lim.as = (rlim_t)m->as;
	lim.fsize = (rlim_t)m->fsize;
	lim.nofile = (rlim_t)m->nofile;
	lim.nproc = (rlim_t)m->nproc;
	cs.argv = argv;
	cs.dir_fd = wfd;
	cs.new_session = 1;
	cs.fd_in = -1;
	cs.limits = &lim;
	cs.pdeathsig = SIGKILL;	/* its result would be lost anyway */
	cs.drop = sb->drop;
	cs.uid = sb->drop ? sandbox_uid(sb, m->slot) : geteuid();
	cs.gid = sb->gid;
	cs.netns = sb->netns;
	cs.sandboxed = 1;
	cs.nice = m->nice;
	p = xcalloc(1, sizeof(*p));
	p->cl = cl;
	p->env = cl->env;
	p->sb = sb;
	p->id = m->id;
	p->slot = m->slot;
	p->kind = m->kind;
	p->mode = m->mode;
	p->uid = cs.uid;
	p->own_uid = sb->drop && sb->uid_base != 0;
	p->max_bytes = m->max_bytes;
	p->give = m->give != 0;
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->pid = child_spawn(&cs, proc_exited, p);
	close(wfd);
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		free(own[i]);
	free(cache);
	free(work);
	if (p->pid == -1) {
		send_failed(cl, m->id, errno, "cannot start %s: %s", cs.path, strerror(errno));
		free(p);
		return;
	}
	s->running = p;
	s->killed = 0;
	nrunning++;
	p->next = procs;
	procs = p;
	struct rp_ctl ok = { RP_SPAWNED, m->id, (int32_t)p->pid };
	(void)chan_send(cl->chan, &ok, sizeof(ok), NULL, 0);
}

static void client_gone(struct rendsrv_client *);

static void
on_message(struct chan *c, const void *msg, size_t len, int *fds, int nfds, void *arg)
{
	struct rendsrv_client *cl = arg;
	uint32_t type = 0;
	struct rp_ctl ctl;
	struct rs_proc *p;

	(void)c;
	if (len >= sizeof(type))
		memcpy(&type, msg, sizeof(type));
	if (type == RP_SPAWN && len == sizeof(struct rp_spawn)) {
		struct rp_spawn *m = xmalloc(sizeof(*m));

		memcpy(m, msg, sizeof(*m));
		on_spawn(cl, m, fds, nfds);
		free(m);
	} else if ((type == RP_SIGNAL || type == RP_RENICE || type == RP_RELEASE) &&
	    len == sizeof(ctl) && nfds == 0) {
		memcpy(&ctl, msg, sizeof(ctl));
		if (type == RP_SIGNAL && (p = proc_find(cl, ctl.id)) != NULL &&
		    (ctl.arg == SIGTERM || ctl.arg == SIGKILL))
			(void)killpg(p->pid, ctl.arg);
		else if (type == RP_RENICE && (p = proc_find(cl, ctl.id)) != NULL &&
		    ctl.arg >= 0 && ctl.arg <= 19) {
			if (setpriority(PRIO_PGRP, (id_t)p->pid, ctl.arg) == -1)
				log_warn("cannot renice a render", "pid=%d nice=%d", (int)p->pid,
				    ctl.arg);
		} else if (type == RP_RELEASE && ctl.arg >= cl->slot &&
		    ctl.arg < cl->slot + cl->nslots) {
			struct rs_slot *s = slot_get(ctl.arg);

			if (s->running != NULL) {
				s->running->release = 1;
				(void)killpg(s->running->pid, SIGKILL);
			} else if (s->dirty)
				slot_clean(cl->env, s);
		}
	} else {
		log_warnx("render channel: unknown message, channel closed", "from=%s type=%u "
		    "bytes=%zu", cl->who, type, len);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		client_gone(cl);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);	/* the child has its copies */
}

static void
client_free(evutil_socket_t fd, short what, void *arg)
{
	struct rendsrv_client *cl = arg, **pp;

	(void)fd;
	(void)what;
	for (pp = &clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	if (cl->ref != NULL && *cl->ref == cl)
		*cl->ref = NULL;
	chan_free(cl->chan);
	free(cl);
}

/* The asker is gone (it exited, or broke the protocol): what it started
 * dies, its slots are emptied, and it is freed from the loop. */
static void
client_gone(struct rendsrv_client *cl)
{
	struct timeval now = { 0, 0 };

	if (cl->gone)
		return;
	cl->gone = 1;
	for (struct rs_proc *p = procs; p != NULL; p = p->next)
		if (p->cl == cl) {
			p->cl = NULL;
			p->release = 1;
			(void)killpg(p->pid, SIGKILL);
		}
	for (struct rs_slot *s = slots; s != NULL; s = s->next)
		if (s->slot >= cl->slot && s->slot < cl->slot + cl->nslots && s->running == NULL &&
		    s->dirty)
			slot_clean(cl->env, s);
	for (struct rs_cache *c = caches; c != NULL; c = c->next)
		for (struct rs_wait *w = c->waiting; w != NULL; w = w->next)
			if (w->cl == cl)
				w->cl = NULL;
	event_base_once(cl->env->base, -1, EV_TIMEOUT, client_free, cl, &now);
}

static void
on_closed(struct chan *c, void *arg)
{
	(void)c;
	client_gone(arg);
}

struct rendsrv_client *
rendsrv_attach(const struct rendsrv_env *env, int fd, int slot, int nslots, const char *who)
{
	struct rendsrv_client *cl = xcalloc(1, sizeof(*cl));

	cl->env = env;
	cl->slot = slot;
	cl->nslots = nslots;
	snprintf(cl->who, sizeof(cl->who), "%s", who);
	cl->chan = chan_new(env->base, fd, on_message, on_closed, cl);
	cl->next = clients;
	clients = cl;
	return cl;
}

void
rendsrv_watch(struct rendsrv_client *cl, struct rendsrv_client **ref)
{
	cl->ref = ref;
}

void
rendsrv_detach(struct rendsrv_client *cl)
{
	client_gone(cl);
}

int
rendsrv_running(void)
{
	return nrunning;
}
