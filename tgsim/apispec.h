/* SPDX-License-Identifier: ISC */
/* apispec.h: the official Bot API method list, to check calls against. */
#ifndef GREETBOT_APISPEC_H
#define GREETBOT_APISPEC_H

#include <stddef.h>

struct apispec;

/*
 * Load the Bot API description (data/bot-api-*.json: version, methods,
 * types). Returns NULL with *errstr set when it cannot be used.
 */
struct apispec	*apispec_load(const char *path, const char **errstr);
void		 apispec_free(struct apispec *);

/* The "version" string, e.g. "Bot API 10.1". */
const char	*apispec_version(const struct apispec *);
size_t		 apispec_nmethods(const struct apispec *);

/* The method's canonical name, matched case-insensitively as Telegram
 * does, or NULL when there is no such method. */
const char	*apispec_method(const struct apispec *, const char *name);

/* 1 when param (exact case) is a parameter of method, else 0. */
int		 apispec_has_param(const struct apispec *, const char *method,
		    const char *param);

/*
 * The required parameters of method that are not among given[0..ngiven).
 * Stores up to max names in missing[] (spec order) and returns how many
 * are missing in total.
 */
size_t		 apispec_missing(const struct apispec *, const char *method,
		    const char *const *given, size_t ngiven,
		    const char **missing, size_t max);

/* 1 when the type (e.g. "Message") has a field of that name, else 0. */
int		 apispec_type_has_field(const struct apispec *, const char *type,
		    const char *field);

#endif
