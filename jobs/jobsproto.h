/* SPDX-License-Identifier: ISC */
/*
 * jobsproto.h: the control channel between greetbotd's privileged parent
 * (supervisor/) and its jobs process (jobs/proc.c), a lib/chan.h channel
 * on the jobs process's fd 3. Fixed-size structs only: the parent checks
 * each message's size for its type and that every string ends inside its
 * field, and reads nothing else the jobs process could shape. Signals do
 * the rest: SIGTERM drains (a second one stops the renders now). The
 * templates come from the parent, who reads the operator's files and
 * snapshots them: the jobs process reads only the snapshots, and its
 * reload (JP_RELOAD, after the templates) needs nothing the service user
 * cannot read.
 */
#ifndef GREETBOT_JOBSPROTO_H
#define GREETBOT_JOBSPROTO_H

#include <stdint.h>

/* The jobs process's descriptors, as the parent sets them up. */
#define JOBS_FD_CTL	3	/* this channel */
#define JOBS_FD_RENDER	4	/* renders (rendproto.h), the workers' slots */
#define JOBS_FD_WAKE	5	/* the bots write a byte: new jobs */

enum jp_type {
	/* parent -> jobs */
	JP_SANDBOX = 1,	/* struct jp_sandbox: who renderers run as, for the logs */
	JP_REDIS,	/* struct jp_msg: Redis is up: connect (again) */
	JP_BOT,		/* struct jp_bot: a bot's greetbot-tg, for /health and /metrics */
	JP_RENDER,	/* struct jp_render: why renderers cannot start, "" when they can */
	JP_TEMPLATE,	/* struct jp_template: a template as we loaded and snapshotted it */
	JP_RELOAD,	/* struct jp_msg: reload (after the templates): answer JP_RELOADED */
	/* jobs -> parent */
	JP_STARTED,	/* struct jp_started: the database is open and recovered,
			   the HTTP endpoints listen: the bots may start */
	JP_READY,	/* struct jp_msg: Redis answers, jobs are taken */
	JP_WAKE_BOTS,	/* struct jp_msg: the bots' outboxes have new rows */
	JP_RELOADED,	/* struct jp_msg: a SIGHUP's reload is done */
};

#define JP_ID		128
#define JP_WHY		1024
#define JP_ADDR		64

struct jp_msg {
	uint32_t	type;
};

struct jp_sandbox {
	uint32_t	type;
	int32_t		drop;		/* struct sandbox's fields */
	uint32_t	uid_base, user_uid, gid;
};

struct jp_bot {
	uint32_t	type;
	int32_t		up;		/* its greetbot-tg runs */
	int32_t		enabled;	/* in the configuration */
	char		id[JP_ID];
};

struct jp_render {
	uint32_t	type;
	char		why[JP_WHY];
};

#define JP_PATH		1024

struct jp_template {
	uint32_t	type;
	int32_t		is_default;	/* the default template, else one a job may name */
	double		min_duration, max_duration;
	char		id[JP_ID];
	char		version[32];
	char		dir[JP_PATH];	/* its snapshot */
	char		script[JP_PATH];
	char		language[32];
};

struct jp_started {
	uint32_t	type;
	char		http_addr[JP_ADDR];	/* "" when http_listen is empty */
};

#endif
