/* SPDX-License-Identifier: ISC */
/* template.h: a template directory, its version hash and its snapshot. */
#ifndef GREETBOT_TEMPLATE_H
#define GREETBOT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

struct template {
	char	*id;
	char	*dir;		/* the operator's directory */
	char	*version;	/* 16 hex digits: hash of every file + script */
	char	*script;	/* the render script to run */
	char	*language;
	double	 min_duration;	/* output validation bounds, seconds */
	double	 max_duration;
};

/*
 * Load templates_dir/id: read template.conf, hash its files and the render
 * script (the template's own render.sh, else default_script) with its
 * parts (the files in the script's name without ".sh" plus ".d"). With
 * snapshot_root, copy all of it to snapshot_root/<id>-<version>/, readable
 * by everyone, and point dir and script there: renders then use files that
 * no operator edit can change under them, and that an unprivileged
 * renderer can read. Returns -1 with a reason in err.
 */
int	template_load(struct template *, const char *templates_dir, const char *id,
	    const char *default_script, const char *snapshot_root,
	    char *err, size_t errlen);
void	template_free(struct template *);
/* A reload (SIGHUP): the same template loaded again into *t, the old one
 * freed; or, when it cannot be, *t kept and the reason logged. -1 then. */
int	template_reload(struct template *t, const char *templates_dir, const char *id,
	    const char *default_script, const char *snapshot_root);
/* FNV-1a 64, the hash behind template versions (start with h = 0). */
uint64_t template_hash(uint64_t h, const void *, size_t);

#endif
