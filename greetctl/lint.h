/* SPDX-License-Identifier: ISC */
/*
 * lint.h: template.conf as render.sh reads it, and the checks of template
 * check that look at it (lint.c). Each check records findings: printed as
 * found, or kept for --json. fuzz/fuzz_template.c holds the lint against
 * template.c's reader of the same file.
 */
#ifndef GREETBOT_LINT_H
#define GREETBOT_LINT_H

#include <cjson/cJSON.h>

/* A template.conf's keys and values, in the file's order. */
struct tconf {
	struct tkv {
		char	*key;
		char	*val;
		int	 line;	/* in template.conf, for findings */
	}	*v;
	size_t	 n;
};

enum level { LEVEL_OK, LEVEL_NOTE, LEVEL_WARN, LEVEL_ERROR };

/* What template check found; printed as found, or kept for --json. */
struct findings {
	cJSON	*list;
	int	 errors;
	int	 warnings;
};

void		 finding(struct findings *, enum level, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
const char	*tconf_get(const struct tconf *, const char *key);
int		 tconf_line(const struct tconf *, const char *key);
void		 tconf_free(struct tconf *);
int		 tconf_read(struct tconf *, const char *path, struct findings *);
int		 tconf_num(const struct tconf *, const char *key, double *v,
		    struct findings *);
void		 lint_required(const struct tconf *, struct findings *);
void		 lint_timing(const struct tconf *, struct findings *);
void		 lint_rate(const struct tconf *, struct findings *);
void		 lint_text(const struct tconf *, struct findings *);
int		 lint_files(const struct tconf *, const char *tdir, struct findings *,
		    cJSON *missing);
void		 lint_positions(const struct tconf *, struct findings *);
void		 lint_colors(const struct tconf *, struct findings *);
void		 lint_media(const struct tconf *, const char *tdir, struct findings *);
void		 lint_voice(const struct tconf *, struct findings *);
void		 lint_unread(const struct tconf *, const char *script, struct findings *);

#endif
