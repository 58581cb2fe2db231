/* SPDX-License-Identifier: ISC */
/* texts.c: message files per language. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "texts.h"
#include "xmalloc.h"

struct text {
	char		*lang, *key, *value;
	struct text	*next;
};

struct texts {
	char		*default_lang;
	struct text	*list;
};

/* Undo the file's escapes: "\n" newline, "\\" backslash. */
static char *
unescape(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s; s++) {
		if (*s == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s++;
		} else if (*s == '\\' && s[1] == '\\') {
			*o++ = '\\';
			s++;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Read one language file into the list. */
static int
texts_file(struct texts *t, const char *dir, const char *lang)
{
	char *path, *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	xasprintf(&path, "%s/%s", dir, lang);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return -1;
	while ((n = getline(&line, &cap, f)) != -1) {
		char *eq, *k = line, *v, *e;
		struct text *x;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\0' || (eq = strchr(k, '=')) == NULL)
			continue;
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			;
		x = xcalloc(1, sizeof(*x));
		x->lang = xstrdup(lang);
		x->key = xstrdup(k);
		x->value = unescape(v);
		x->next = t->list;
		t->list = x;
	}
	free(line);
	fclose(f);
	return 0;
}

struct texts *
texts_load(const char *dir, const char *default_lang, char *err, size_t errlen)
{
	struct texts *t = xcalloc(1, sizeof(*t));
	struct dirent *de;
	DIR *d;

	t->default_lang = xstrdup(default_lang);
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "messages_dir %s: %s", dir, strerror(errno));
		texts_free(t);
		return NULL;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && strlen(de->d_name) <= 8)
			texts_file(t, dir, de->d_name);
	closedir(d);
	if (texts_lang(t, default_lang) == t->default_lang) {
		/* texts_lang found no file of that name: it fell back. */
		snprintf(err, errlen, "messages_dir %s has no file for the default "
		    "language \"%s\"", dir, default_lang);
		texts_free(t);
		return NULL;
	}
	return t;
}

void
texts_free(struct texts *t)
{
	struct text *x, *next;

	if (t == NULL)
		return;
	for (x = t->list; x != NULL; x = next) {
		next = x->next;
		free(x->lang);
		free(x->key);
		free(x->value);
		free(x);
	}
	free(t->default_lang);
	free(t);
}

static const char *
texts_find(const struct texts *t, const char *lang, const char *key)
{
	for (const struct text *x = t->list; x != NULL; x = x->next)
		if (strcmp(x->lang, lang) == 0 && strcmp(x->key, key) == 0)
			return x->value;
	return NULL;
}

const char *
texts_get(const struct texts *t, const char *lang, const char *key)
{
	const char *v = NULL;

	if (t == NULL)
		return key;	/* no texts loaded: the key says what it was */
	if (lang != NULL)
		v = texts_find(t, lang, key);
	if (v == NULL)
		v = texts_find(t, t->default_lang, key);
	return v != NULL ? v : key;
}

char *
texts_fmt(const struct texts *t, const char *lang, const char *key, const char *name)
{
	const char *s = texts_get(t, lang, key), *p;
	size_t nlen = name ? strlen(name) : 0, len = strlen(s) + 1;
	char *out, *o;

	for (p = s; (p = strstr(p, "{name}")) != NULL; p += 6)
		len += nlen;
	o = out = xmalloc(len);
	while ((p = strstr(s, "{name}")) != NULL) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		if (nlen > 0)
			memcpy(o, name, nlen);
		o += nlen;
		s = p + 6;
	}
	strcpy(o, s);
	return out;
}

const char *
texts_lang(const struct texts *t, const char *code)
{
	char lang[9];
	size_t i;

	if (code == NULL)
		return t->default_lang;
	/* "en-US" -> "en": we ship one file per language, not per region. */
	for (i = 0; i < sizeof(lang) - 1 && code[i] && code[i] != '-' && code[i] != '_'; i++)
		lang[i] = code[i];
	lang[i] = '\0';
	for (const struct text *x = t->list; x != NULL; x = x->next)
		if (strcmp(x->lang, lang) == 0)
			return x->lang;
	return t->default_lang;
}
