/*
 * lint.c: template.conf read by render.sh's rules, and the checks of
 * template check that look at it (the keys, the timing, the text, the
 * files it names, the voice). Findings are printed as found, or kept for
 * --json (lint.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "greetctl.h"
#include "lint.h"
#include "xmalloc.h"

/* The keys render.sh knows (templates/README.md); others are ignored. */
/* The keys scripts/render.d/conf.sh knows (its `known` list). */
static const char *const conf_keys[] = {
	"voice", "voice_fallbacks", "voice_rate", "voice_pitch", "voice_volume",
	"voice_offset", "phrase", "font", "title", "title_size", "title_color", "title_x",
	"title_y", "text", "text_size", "text_color", "text_border_color",
	"text_border_width", "text_x", "text_y", "text_fade", "text_pop", "title_in",
	"outro", "outro_start", "outro_size", "outro_color", "outro_x", "outro_y",
	"duration", "name_start", "name_end", "min_duration", "max_duration", "background",
	"music", "music_volume", "music_duck", "width", "height", "fps", "crf", "preset",
	"media_style", "language", "join", NULL
};

/* Record one finding (f NULL: nobody asked, as in template list). */
void
finding(struct findings *f, enum level level, const char *fmt, ...)
{
	static const char *const names[] = { "ok", "note", "warning", "error" };
	char msg[1024], *clean;
	cJSON *o;
	va_list ap;

	if (f == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->errors += level == LEVEL_ERROR;
	f->warnings += level == LEVEL_WARN;
	if (gc.json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "level", names[level]);
		cJSON_AddStringToObject(o, "message", msg);
		cJSON_AddItemToArray(f->list, o);
		return;
	}
	clean = term_clean(msg, 0);
	printf("%s: %s\n", names[level], clean);
	fflush(stdout);
	free(clean);
}

const char *
tconf_get(const struct tconf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return c->v[i].val;
	return NULL;
}

/* The line of template.conf that sets key, or 0. */
int
tconf_line(const struct tconf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return c->v[i].line;
	return 0;
}

void
tconf_free(struct tconf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		free(c->v[i].val);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Split "key = value" in place, as render.sh reads it: the value, with the
 * key terminated, or NULL when the line has another shape. */
static char *
tconf_split(char *k)
{
	char *p = k, *kend, *v, *e;

	if (*p < 'a' || *p > 'z')
		return NULL;
	while ((*p >= 'a' && *p <= 'z') || isdigit((unsigned char)*p) || *p == '_')
		p++;
	kend = p;
	p += strspn(p, " \t\v\f");
	if (*p != '=')
		return NULL;
	*kend = '\0';
	v = p + 1 + strspn(p + 1, " \t\v\f");
	for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); e--)
		e[-1] = '\0';
	return v;
}

static int
known_key(const char *key)
{
	for (size_t i = 0; conf_keys[i] != NULL; i++)
		if (strcmp(conf_keys[i], key) == 0)
			return 1;
	return 0;
}

/*
 * Read template.conf by render.sh's rules: "key = value" lines and '#'
 * comment lines; another shape or a repeated key is an error (render.sh
 * exits 78), an unknown key a warning. -1 when it cannot be read.
 */
int
tconf_read(struct tconf *c, const char *path, struct findings *f)
{
	char *line = NULL, *k, *v;
	size_t cap = 0;
	int n = 0;
	FILE *fp;

	memset(c, 0, sizeof(*c));
	if ((fp = fopen(path, "r")) == NULL) {
		finding(f, LEVEL_ERROR, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) != -1) {
		n++;
		line[strcspn(line, "\r\n")] = '\0';
		k = line + strspn(line, " \t\v\f");
		if (*k == '\0' || *k == '#')
			continue;
		if ((v = tconf_split(k)) == NULL)
			finding(f, LEVEL_ERROR, "template.conf:%d: expected 'key = value'", n);
		else if (!known_key(k))
			finding(f, LEVEL_WARN, "template.conf:%d: unknown key '%s' is ignored", n, k);
		else if (tconf_get(c, k) != NULL)
			finding(f, LEVEL_ERROR, "template.conf:%d: '%s' repeated", n, k);
		else {
			c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
			c->v[c->n].key = xstrdup(k);
			c->v[c->n].line = n;
			c->v[c->n++].val = xstrdup(v);
		}
	}
	free(line);
	fclose(fp);
	return 0;
}

/* A decimal as render.sh takes it (up to 6 digits, 3 decimals); -1 when
 * the key is absent or, with a finding, malformed. */
int
tconf_num(const struct tconf *c, const char *key, double *v, struct findings *f)
{
	const char *s = tconf_get(c, key);
	size_t i, j = 0;
	int ok;

	if (s == NULL || *s == '\0')
		return -1;
	i = strspn(s, "0123456789");
	if (i >= 1 && i <= 6 && s[i] == '.') {
		j = strspn(s + i + 1, "0123456789");
		ok = j >= 1 && j <= 3 && s[i + 1 + j] == '\0';
	} else
		ok = i >= 1 && i <= 6 && s[i] == '\0';
	if (!ok) {
		finding(f, LEVEL_ERROR, "'%s' is not a plain decimal number: %s", key, s);
		return -1;
	}
	*v = strtod(s, NULL);
	return 0;
}

/* The keys render.sh requires are there. */
void
lint_required(const struct tconf *c, struct findings *f)
{
	static const char *const need[] = { "voice", "phrase", "text", "font", "duration",
	    "name_start", "name_end", "min_duration", "max_duration", "background", "width",
	    "height", "fps", NULL };
	int missing = 0;

	for (size_t i = 0; need[i] != NULL; i++) {
		const char *v = tconf_get(c, need[i]);

		if (v == NULL || *v == '\0') {
			finding(f, LEVEL_ERROR, "'%s' is required", need[i]);
			missing++;
		}
	}
	if (missing == 0)
		finding(f, LEVEL_OK, "template.conf has every required key");
}

/* The personalised window lies inside the video, the video in its bounds. */
void
lint_timing(const struct tconf *c, struct findings *f)
{
	double d = 0, s = 0, e = 0, lo = 0, hi = 0;
	int okd = tconf_num(c, "duration", &d, f) == 0;
	int oks = tconf_num(c, "name_start", &s, f) == 0;
	int oke = tconf_num(c, "name_end", &e, f) == 0;
	int oklo = tconf_num(c, "min_duration", &lo, f) == 0;
	int okhi = tconf_num(c, "max_duration", &hi, f) == 0;

	if (okd && oks && oke) {
		if (s < e && e <= d)
			finding(f, LEVEL_OK, "the name is on screen from %g to %g s of %g s",
			    s, e, d);
		else
			finding(f, LEVEL_ERROR, "need 0 <= name_start (%g) < name_end (%g) <= "
			    "duration (%g)", s, e, d);
	}
	if (okd && oklo && okhi) {
		if (lo <= d && d <= hi)
			finding(f, LEVEL_OK, "duration %g s lies within %g..%g s", d, lo, hi);
		else
			finding(f, LEVEL_ERROR, "need min_duration (%g) <= duration (%g) <= "
			    "max_duration (%g)", lo, d, hi);
	}
}

/*
 * fps as render.sh takes it: a whole number from 1 to 60, or an NTSC rate
 * (23.976, 29.97, 59.94, or as ffmpeg writes them, 24000/1001 ...), which
 * render.sh renders at exactly that rate.
 */
void
lint_rate(const struct tconf *c, struct findings *f)
{
	static const char *const ntsc[][2] = { { "23.976", "24000/1001" },
	    { "29.97", "30000/1001" }, { "59.94", "60000/1001" } };
	const char *v = tconf_get(c, "fps");
	size_t n;

	if (v == NULL || *v == '\0')
		return;
	for (size_t i = 0; i < sizeof(ntsc) / sizeof(ntsc[0]); i++)
		if (strcmp(v, ntsc[i][0]) == 0 || strcmp(v, ntsc[i][1]) == 0) {
			finding(f, LEVEL_OK, "%s fps, an NTSC rate: rendered at %s", ntsc[i][0],
			    ntsc[i][1]);
			return;
		}
	n = strspn(v, "0123456789");
	if (n >= 1 && n <= 2 && v[n] == '\0' && atoi(v) >= 1 && atoi(v) <= 60)
		finding(f, LEVEL_OK, "%d fps", atoi(v));
	else
		finding(f, LEVEL_ERROR, "template.conf:%d: fps = %s: a frame rate must be a whole "
		    "number from 1 to 60, or an NTSC rate: 23.976, 29.97 or 59.94",
		    tconf_line(c, "fps"), v);
}

/* {name} is in the text, and not in the static title. */
void
lint_text(const struct tconf *c, struct findings *f)
{
	const char *text = tconf_get(c, "text"), *title = tconf_get(c, "title");

	if (text != NULL && *text != '\0' && strstr(text, "{name}") == NULL)
		finding(f, LEVEL_ERROR, "'text' must contain {name}");
	if (title != NULL && strstr(title, "{name}") != NULL)
		finding(f, LEVEL_ERROR, "'title' is static and cannot contain {name}");
}

/* Why path is not a readable regular file, or NULL. */
static const char *
file_problem(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return strerror(errno);
	if (!S_ISREG(sb.st_mode))
		return "not a regular file";
	if (access(path, R_OK) == -1)
		return strerror(errno);
	return NULL;
}

/* The files template.conf names (relative to the template dir) can be
 * read; the missing ones are added to missing. Returns how many. */
int
lint_files(const struct tconf *c, const char *tdir, struct findings *f, cJSON *missing)
{
	static const char *const keys[] = { "background", "music", "font", NULL };
	int n = 0;

	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *v = tconf_get(c, keys[i]), *why;
		char *path;

		if (v == NULL || *v == '\0')
			continue;
		if (*v == '/')
			path = xstrdup(v);
		else
			xasprintf(&path, "%s/%s", tdir, v);
		if ((why = file_problem(path)) != NULL) {
			finding(f, LEVEL_ERROR, "%s: cannot read %s: %s", keys[i], v, why);
			if (missing != NULL)
				cJSON_AddItemToArray(missing, cJSON_CreateString(v));
			n++;
		} else
			finding(f, LEVEL_OK, "%s %s is there", keys[i], v);
		free(path);
	}
	return n;
}

/* Add prefix + name, lower-cased, to a "\nname\n" set. */
static void
set_add(char **set, const char *prefix, const char *name)
{
	char *s;

	xasprintf(&s, "%s%s%s\n", *set, prefix, name);
	for (char *p = s + strlen(*set); *p; p++)
		*p = (char)tolower((unsigned char)*p);
	free(*set);
	*set = s;
}

static int
set_has(const char *set, const char *prefix, const char *name)
{
	char *needle;
	int found;

	xasprintf(&needle, "\n%s%s\n", prefix, name);
	for (char *p = needle; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	found = strstr(set, needle) != NULL;
	free(needle);
	return found;
}

/* Add one "espeak-ng --voices" listing (columns Pty, Language, Age/Gender,
 * VoiceName, File, Other Languages) to the set, as render.sh reads it. */
static void
voices_parse(char **set, char *listing)
{
	char *save = NULL, *save2, *tok[16];

	for (char *l = strtok_r(listing, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		int n = 0;

		for (char *t = strtok_r(l, " \t", &save2); t && n < 16; t = strtok_r(NULL, " \t", &save2))
			tok[n++] = t;
		if (n < 5 || strcmp(tok[0], "Pty") == 0)
			continue;
		if (strcmp(tok[1], "variant") == 0) {
			set_add(set, "+", strncmp(tok[4], "!v/", 3) == 0 ? tok[4] + 3 : tok[4]);
			set_add(set, "+", tok[3]);
			continue;
		}
		set_add(set, "", tok[1]);
		set_add(set, "", tok[3]);
		set_add(set, "", tok[4]);
		for (int i = 5; i < n; i++)
			if (tok[i][0] == '(')
				set_add(set, "", tok[i] + 1);
	}
}

/* Every voice name espeak-ng accepts, and its variants as "+name"; NULL
 * when espeak-ng cannot run. */
static char *
voices_list(void)
{
	char *const voices[] = { "espeak-ng", "--voices", NULL };
	char *const variants[] = { "espeak-ng", "--voices=variant", NULL };
	char *out, *set = xstrdup("\n");

	if (run_capture(voices, 0, &out) != 0) {
		free(out);
		free(set);
		return NULL;
	}
	voices_parse(&set, out);
	free(out);
	if (run_capture(variants, 0, &out) == 0)
		voices_parse(&set, out);
	free(out);
	return set;
}

/* A voice as render.sh takes it: "name" or "name+variant", both installed. */
static int
voice_usable(const char *set, const char *voice)
{
	char *v = xstrdup(voice), *plus = strchr(v, '+');
	int ok;

	if (plus != NULL)
		*plus++ = '\0';
	ok = *v != '\0' && v[strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_/-")] == '\0' && set_has(set, "", v) &&
	    (plus == NULL || set_has(set, "+", plus));
	free(v);
	return ok;
}

/*
 * The voice, its fallbacks and the language's default voice (the voice up
 * to the first '-' or '+'), tried in that order as render.sh does: the
 * voice missing is a warning while another one speaks, an error when none.
 */
void
lint_voice(const struct tconf *c, struct findings *f)
{
	const char *voice = tconf_get(c, "voice"), *fb = tconf_get(c, "voice_fallbacks");
	char *set, *list, *save = NULL, *use = NULL;

	if (voice == NULL || *voice == '\0')
		return;
	if ((set = voices_list()) == NULL) {
		finding(f, LEVEL_ERROR, "cannot run espeak-ng --voices: is espeak-ng installed?");
		return;
	}
	if (voice_usable(set, voice))
		use = xstrdup(voice);
	list = xstrdup(fb ? fb : "");
	for (char *v = strtok_r(list, " \t", &save); v; v = strtok_r(NULL, " \t", &save)) {
		if (!voice_usable(set, v))
			finding(f, LEVEL_WARN, "fallback voice %s is not installed", v);
		else if (use == NULL)
			use = xstrdup(v);
	}
	free(list);
	list = xstrndup(voice, strcspn(voice, "-+"));
	if (use == NULL && voice_usable(set, list))
		use = xstrdup(list);
	if (use == NULL)
		finding(f, LEVEL_ERROR, "no usable espeak-ng voice: neither %s nor its "
		    "fallbacks nor %s is installed", voice, list);
	else if (strcmp(use, voice) == 0)
		finding(f, LEVEL_OK, "voice %s is installed", voice);
	else
		finding(f, LEVEL_WARN, "voice %s is not installed: renders use %s", voice, use);
	free(use);
	free(list);
	free(set);
}
