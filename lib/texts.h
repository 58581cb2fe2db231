/* SPDX-License-Identifier: ISC */
/* texts.h: user-facing texts from messages/<lang>, editable by operators. */
#ifndef GREETBOT_TEXTS_H
#define GREETBOT_TEXTS_H

struct texts;

/* Load every messages_dir/<lang> file ("key = text", "\n" for a newline,
 * '#' comments). NULL with a reason when the default language is missing. */
struct texts	*texts_load(const char *messages_dir, const char *default_lang,
		    char *err, size_t errlen);
void		 texts_free(struct texts *);
/* The text for key in lang, else in the default language, else the key. */
const char	*texts_get(const struct texts *, const char *lang, const char *key);
/* Like texts_get, with {name} replaced by name (allocated). */
char		*texts_fmt(const struct texts *, const char *lang, const char *key,
		    const char *name);
/* The language we have that best fits a Telegram language_code. */
const char	*texts_lang(const struct texts *, const char *language_code);

#endif
