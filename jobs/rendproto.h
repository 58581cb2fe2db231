/* SPDX-License-Identifier: ISC */
/*
 * rendproto.h: the messages between a process that wants renders (the
 * jobs process, a greetbot-tg, greetctl) and the one that may start them
 * (greetbotd's privileged parent: jobs/rendsrv.c), over a channel
 * (lib/chan.h). Fixed-size structs only: the privileged side checks the
 * size, the type, the slot and that every string ends inside its field,
 * and reads nothing else of what the renderer or the network said.
 *
 * The asking side keeps everything that reads what a renderer wrote (its
 * stdout and stderr arrive on pipes it made and sent along; ffprobe's
 * JSON too) and its own timers; the privileged side starts, signals and
 * reaps the processes, kills every process of the slot's uid when one
 * ends, opens the outputs it left without following anything, and
 * empties the slot's work dir.
 */
#ifndef GREETBOT_RENDPROTO_H
#define GREETBOT_RENDPROTO_H

#include <stdint.h>

enum rp_type {
	/* asked */
	RP_SPAWN = 1,	/* struct rp_spawn, fds: stdout, stderr (script) or stdout (probe) */
	RP_SIGNAL,	/* struct rp_ctl: arg is SIGTERM or SIGKILL, to its group */
	RP_RENICE,	/* struct rp_ctl: arg is the nice value for its group */
	RP_RELEASE,	/* struct rp_ctl: done with the slot (arg): emptied now */
	/* told */
	RP_SPAWNED,	/* struct rp_ctl: arg is the pid */
	RP_FAILED,	/* struct rp_failed: the spawn could not be done */
	RP_EXITED,	/* struct rp_exited, fds: the outputs that were accepted
			   (of the script; of ffprobe's too when given) */
};

enum rp_kind {
	RP_SCRIPT = 1,	/* the template's render script */
	RP_PROBE,	/* ffprobe on the script's video */
};

enum rp_mode {
	RP_VIDEO = 1,	/* out.mp4 and thumb.jpg */
	RP_PREVIEW,	/* voice.ogg */
};

/* The outputs of each mode, in the order of rp_exited's (the contract's
 * GREETBOT_OUTPUT first). */
static const char *const rp_outputs[][2] = {
	[RP_VIDEO] = { "out.mp4", "thumb.jpg" },
	[RP_PREVIEW] = { "voice.ogg", NULL },
};

#define RP_PATH		1024
#define RP_NAME		512	/* bytes of a name (names.h keeps far fewer) */
#define RP_WHY		256
#define RP_OUTPUTS	2	/* outputs of one mode, at most */

struct rp_spawn {
	uint32_t	type;
	uint32_t	id;		/* the asker's, echoed in every answer */
	int32_t		slot;
	int32_t		kind;		/* enum rp_kind */
	int32_t		mode;		/* enum rp_mode */
	int32_t		nice;
	int32_t		threads;
	int32_t		private_cache;	/* a cache of its own in the work dir */
	int32_t		give;		/* at its exit, give the outputs to the
					   service user (rp_exited out_given) */
	int64_t		cpu, as, fsize, nofile, nproc;	/* rlimits (child.h) */
	int64_t		max_bytes;	/* an output larger is refused */
	char		script[RP_PATH];
	char		template_dir[RP_PATH];
	char		version[32];	/* the template's: its shared cache */
	char		name[RP_NAME];
	char		stress[64];
};

struct rp_ctl {
	uint32_t	type;
	uint32_t	id;
	int32_t		arg;
};

struct rp_failed {
	uint32_t	type;
	uint32_t	id;
	int32_t		err;		/* errno: ENOENT no output, EPERM refused */
	char		why[RP_WHY];
};

struct rp_exited {
	uint32_t	type;
	uint32_t	id;
	int32_t		status;		/* as from wait4 */
	int32_t		uid;		/* it ran as */
	int64_t		utime_us, stime_us, maxrss_kb;
	/* Each output of the mode, in order (out.mp4, thumb.jpg / voice.ogg):
	 * 0 and its fd sent (in this order), or an errno and why not. */
	int32_t		out_err[RP_OUTPUTS];
	char		out_why[RP_OUTPUTS][RP_WHY];
	/* Given (asked by give): now the service user's own file, mode 0600,
	 * that no other process holds open, so the asker may link it where it
	 * keeps it instead of copying it. */
	int32_t		out_given[RP_OUTPUTS];
};

#endif
