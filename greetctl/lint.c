/* SPDX-License-Identifier: ISC */
/*
 * lint.c: template.conf read by render.sh's rules, and the checks of
 * template check that look at it (the keys, the timing, the frame rate,
 * the text, the positions, the colours, the files it names and what
 * ffprobe finds in them, the voice): what render.sh would refuse, said
 * before a render, with the line. ffmpeg, ffprobe and espeak-ng are asked
 * themselves where only they know (run.c: argv, never a shell). Findings
 * are printed as found, or kept for --json (lint.h).
 */
#include <ctype.h>
#include <dirent.h>
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

/* The keys scripts/render.d/conf.sh knows (its `known` list; test 0515
 * holds the two together); others are ignored. */
static const char *const conf_keys[] = {
	"voice", "voice_fallbacks", "voice_rate", "voice_pitch", "voice_volume",
	"voice_offset", "phrase", "font", "title", "title_size", "title_color", "title_x",
	"title_y", "text", "text_size", "text_color", "text_border_color",
	"text_border_width", "text_x", "text_y", "text_fade", "text_pop", "title_in",
	"outro", "outro_start", "outro_size", "outro_color", "outro_x", "outro_y",
	"duration", "name_start", "name_end", "min_duration", "max_duration", "background",
	"music", "music_volume", "music_duck", "width", "height", "fps", "crf", "preset",
	"media_style", "language", "join", "title_font", "outro_font", "text_area",
	"text_shadow_color", "text_shadow_x", "text_shadow_y", "text_drop", "voice_loudness",
	"preview_loudness", NULL
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

/* The expression from p to end as an operand: in parentheses unless it
 * is a name or a number. Allocated. */
static char *
operand(const char *p, const char *end)
{
	int n = (int)(end - p), plain = (int)strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.") >= n;
	char *s;

	xasprintf(&s, plain ? "%.*s" : "(%.*s)", n, p);
	return s;
}

/* An expression's rewrite without commas, when it is max(A,B) or min(A,B)
 * as a whole: "(A+B+abs(A-B))/2". Else NULL. Allocated. */
static char *
position_rewrite(const char *v)
{
	const char *comma = NULL, *p;
	int depth = 0, max;
	size_t n = strlen(v);

	if ((strncmp(v, "max(", 4) != 0 && strncmp(v, "min(", 4) != 0) || v[n - 1] != ')')
		return NULL;
	max = v[1] == 'a';
	for (p = v + 4; p < v + n - 1; p++) {
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		if (depth < 0 || (*p == ',' && (depth > 0 || comma != NULL)))
			return NULL;
		if (*p == ',')
			comma = p;
	}
	if (comma == NULL || depth != 0)
		return NULL;
	{
		char *a = operand(v + 4, comma), *b = operand(comma + 1, v + n - 1), *r;

		xasprintf(&r, "(%s+%s%cabs(%s-%s))/2", a, b, max ? '+' : '-', a, b);
		free(a);
		free(b);
		return r;
	}
}

/* Why a position (text_x ... outro_y) is not one render.sh takes, or
 * NULL: a keyword of its axis, or a drawtext expression of letters,
 * digits, spaces and + - * / ( ) . _ with its parentheses paired (it goes
 * into a filter string, where a comma, quote, colon or backslash would
 * be syntax). Allocated. */
static char *
position_problem(const char *key, const char *v)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.+*/() -";
	int x = key[strlen(key) - 1] == 'x', depth = 0;
	const char *words = x ? " left center right " : " top center bottom ";
	char *why, *word, *r;
	int mine, other;

	xasprintf(&word, " %s ", v);
	mine = strstr(words, word) != NULL;
	other = strstr(x ? " top bottom " : " left right ", word) != NULL;
	free(word);
	if (*v != '\0' && mine)
		return NULL;
	for (const char *p = v; *p != '\0' && depth >= 0; p++)
		depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
	if (strchr(v, ',') != NULL && (r = position_rewrite(v)) != NULL) {
		xasprintf(&why, "render.sh takes no comma (in an ffmpeg filter string it "
		    "would have to be escaped); write %s = %s", key, r);
		free(r);
	} else if (strchr(v, ',') != NULL)
		why = xstrdup("render.sh takes no comma (in an ffmpeg filter string it would "
		    "have to be escaped); write a function of two arguments as arithmetic: "
		    "max(a,b) is (a+b+abs(a-b))/2, min(a,b) is (a+b-abs(a-b))/2");
	else if (*v == '\0' || v[strspn(v, allowed)] != '\0' || other)
		xasprintf(&why, "a position is %s, or an expression of letters, digits, "
		    "spaces and + - * / ( ) . _", x ? "left, center, right" :
		    "top, center, bottom");
	else if (depth != 0)
		why = xstrdup("its parentheses do not pair");
	else
		why = NULL;
	return why;
}

/* The positions are ones render.sh takes (position_problem). */
void
lint_positions(const struct tconf *c, struct findings *f)
{
	static const char *const keys[] = { "text_x", "text_y", "title_x", "title_y",
	    "outro_x", "outro_y", NULL };
	int bad = 0, set = 0;

	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *v = tconf_get(c, keys[i]);
		char *why;

		if (v == NULL)
			continue;
		set++;
		if ((why = position_problem(keys[i], v)) != NULL) {
			finding(f, LEVEL_ERROR, "template.conf:%d: %s = %s: %s",
			    tconf_line(c, keys[i]), keys[i], v, why);
			bad++;
		}
		free(why);
	}
	if (set > 0 && bad == 0)
		finding(f, LEVEL_OK, "the positions are keywords or plain expressions");
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

/* A program's error output as one line: its first line, without the
 * "[filter @ 0x...] " ffmpeg puts before it. Allocated. */
static char *
first_error(const char *out)
{
	const char *p = out + strspn(out, " \n");
	size_t n;

	if (*p == '[' && (n = strcspn(p, "]\n")) > 0 && p[n] == ']')
		p += n + 1 + strspn(p + n + 1, " ");
	return xstrndup(p, strcspn(p, "\n"));
}

/* Resolve a path of template.conf against the template dir. Allocated. */
static char *
tpath(const char *tdir, const char *v)
{
	char *path;

	if (*v == '/')
		path = xstrdup(v);
	else
		xasprintf(&path, "%s/%s", tdir, v);
	return path;
}

/*
 * What ffprobe says is in a medium: 0 when it has a stream of the type
 * ("video", "audio"), else -1 with why (ffprobe's error, "" when it just
 * has none), or 1 when ffprobe cannot run. The path is an argv element,
 * "file:" before it so that no protocol is taken from its name.
 */
static int
probe_stream(const char *path, const char *type, char *why, size_t len)
{
	char sel[8], *arg, *out, *err;
	int rc;

	snprintf(sel, sizeof(sel), "%c:0", type[0]);
	xasprintf(&arg, "file:%s", path);
	{
		char *const argv[] = { "ffprobe", "-v", "error", "-select_streams", sel,
		    "-show_entries", "stream=codec_type", "-of", "csv=p=0", arg, NULL };

		rc = run_capture(argv, 1, &out);
	}
	free(arg);
	if (rc == -1 && *out == '\0') {
		free(out);
		return 1;
	}
	if (rc == 0 && strncmp(out, type, strlen(type)) == 0) {
		free(out);
		return 0;
	}
	err = first_error(out);
	snprintf(why, len, "%s", err);
	free(err);
	free(out);
	return -1;
}

/*
 * The background is a video and the music sound, as ffprobe sees them:
 * render.sh probes the background once per cache entry and exits 78
 * without a video stream; music without sound fails its ffmpeg. Only the
 * files that can be read (lint_files says why the others cannot).
 */
void
lint_media(const struct tconf *c, const char *tdir, struct findings *f)
{
	static const char *const keys[][2] = { { "background", "video" },
	    { "music", "audio" } };
	char why[512];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = tconf_get(c, keys[i][0]);
		char *path;
		int rc;

		if (v == NULL || *v == '\0')
			continue;
		path = tpath(tdir, v);
		if (file_problem(path) == NULL) {
			if ((rc = probe_stream(path, keys[i][1], why, sizeof(why))) == 1)
				finding(f, LEVEL_WARN, "cannot run ffprobe: %s %s not probed",
				    keys[i][0], v);
			else if (rc == -1)
				finding(f, LEVEL_ERROR, "template.conf:%d: %s %s has no %s stream%s%s%s",
				    tconf_line(c, keys[i][0]), keys[i][0], v, keys[i][1],
				    *why ? " (ffprobe: " : "", why, *why ? ")" : "");
			else
				finding(f, LEVEL_OK, "%s %s has %s", keys[i][0], v,
				    keys[i][1][0] == 'v' ? "a video stream" : "sound");
		}
		free(path);
	}
}

/* The colour keys, which render.sh puts into filter strings. */
static const char *const color_keys[] = { "text_color", "text_border_color",
	"text_shadow_color", "title_color", "outro_color", NULL };

/* The shape render.sh's color() takes: [A-Za-z0-9#]+(@[0-9.]+)? */
static int
color_shape(const char *v)
{
	size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#");

	return n > 0 && (v[n] == '\0' || (v[n] == '@' && v[n + 1] != '\0' &&
	    v[n + 1 + strspn(v + n + 1, "0123456789.")] == '\0'));
}

/*
 * Ask ffmpeg itself whether it knows the colours: each a lavfi color
 * source of its own (values of color_shape's, so nothing in them is filter
 * syntax; each an argv element, never a shell's), all in one run. NULL
 * when it takes them all, else its first error line; "" when ffmpeg
 * cannot run. Allocated.
 */
static char *
colors_run(const char *const *v, size_t n)
{
	char **argv = xcalloc(8 + 4 * n, sizeof(*argv)), *out, *why;
	size_t a = 0;
	int rc;

	argv[a++] = "ffmpeg";
	argv[a++] = "-nostdin";
	argv[a++] = "-v";
	argv[a++] = "error";
	for (size_t i = 0; i < n; i++) {
		argv[a++] = "-f";
		argv[a++] = "lavfi";
		argv[a++] = "-i";
		xasprintf(&argv[a++], "color=c=%s:s=16x16:d=0.04", v[i]);
	}
	argv[a++] = "-f";
	argv[a++] = "null";
	argv[a++] = "-";
	rc = run_capture(argv, 1, &out);
	for (size_t i = 0; i < n; i++)
		free(argv[4 + 4 * i + 3]);
	free(argv);
	if (rc == 0)
		why = NULL;
	else if (rc == -1 && *out == '\0')
		why = xstrdup("");
	else
		why = first_error(out);
	free(out);
	return why;
}

/*
 * The colours of template.conf: the shape render.sh takes, then ffmpeg's
 * own verdict (a name of "ffmpeg -colors", 0xRRGGBB[AA], an @opacity from
 * 0 to 1), which otherwise only the render gives ("Cannot find color
 * 'hotpink2'", exit 78). One ffmpeg for all of them; one per colour only
 * when that one fails, to say which.
 */
void
lint_colors(const struct tconf *c, struct findings *f)
{
	static const char *const help = "a colour is a name of 'ffmpeg -colors', 0xRRGGBB "
	    "or 0xRRGGBBAA, optionally @opacity from 0 to 1 (white@0.9)";
	const char *keys[8], *vals[8];
	size_t n = 0;
	int bad = 0;
	char *why;

	for (size_t i = 0; color_keys[i] != NULL; i++) {
		const char *v = tconf_get(c, color_keys[i]);

		if (v == NULL)
			continue;
		if (!color_shape(v)) {
			finding(f, LEVEL_ERROR, "template.conf:%d: %s = %s: not a colour; %s",
			    tconf_line(c, color_keys[i]), color_keys[i], v, help);
			bad++;
			continue;
		}
		keys[n] = color_keys[i];
		vals[n++] = v;
	}
	if (n == 0)
		return;
	if ((why = colors_run(vals, n)) == NULL) {
		if (bad == 0)
			finding(f, LEVEL_OK, "ffmpeg knows every colour");
		return;
	}
	if (*why == '\0')
		finding(f, LEVEL_WARN, "cannot run ffmpeg: colours not checked");
	for (size_t i = 0; *why != '\0' && i < n; i++) {
		char *one = colors_run(&vals[i], 1);

		if (one != NULL)
			finding(f, LEVEL_ERROR, "template.conf:%d: %s = %s: ffmpeg: %s; %s",
			    tconf_line(c, keys[i]), keys[i], vals[i], one, help);
		bad += one != NULL;
		free(one);
	}
	if (*why != '\0' && bad == 0)
		finding(f, LEVEL_WARN, "ffmpeg could not check the colours: %s", why);
	free(why);
}

/* Add a file's text (its first MB) to b; -1 when it cannot be read. */
static int
text_add(struct buf *b, const char *path)
{
	char chunk[8192];
	size_t n, total = 0;
	FILE *fp;

	if (file_problem(path) != NULL || (fp = fopen(path, "r")) == NULL)
		return -1;
	while (total < (1 << 20) && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf_add(b, chunk, n);
		total += n;
	}
	buf_add(b, "\n", 1);
	fclose(fp);
	return 0;
}

/* Whether key occurs in text as a word of its own (not inside a longer
 * name: "text" is not in "text_color"). */
static int
mentions(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; (p = strstr(p, key)) != NULL; p++)
		if ((p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
		    !(isalnum((unsigned char)p[n]) || p[n] == '_'))
			return 1;
	return 0;
}

/*
 * A template with a render.sh of its own: the keys template.conf sets
 * that the script never mentions (its text and the files of its parts
 * directory, render.d/, searched for the key's name as a word), so that
 * a text_color the script ignores is not taken for one that works.
 * Mentioning a key is not reading it, but not mentioning it is surely
 * not. The keys other programs read (greetbotd: language, min_duration,
 * max_duration; make media: media_style) are left out.
 */
void
lint_unread(const struct tconf *c, const char *script, struct findings *f)
{
	static const char *const others[] = { "language", "min_duration", "max_duration",
	    "media_style", NULL };
	struct buf b = { xstrdup(""), 0 };
	struct dirent *de;
	char *pdir, *path;
	size_t len = strlen(script), unread = 0;
	DIR *d;

	if (text_add(&b, script) == -1) {
		free(b.p);
		return;
	}
	if (len > 3 && strcmp(script + len - 3, ".sh") == 0)
		len -= 3;
	xasprintf(&pdir, "%.*s.d", (int)len, script);
	if ((d = opendir(pdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			xasprintf(&path, "%s/%s", pdir, de->d_name);
			if (de->d_name[0] != '.')
				text_add(&b, path);
			free(path);
		}
		closedir(d);
	}
	for (size_t i = 0; i < c->n; i++) {
		int other = 0;

		for (size_t k = 0; others[k] != NULL; k++)
			other |= strcmp(c->v[i].key, others[k]) == 0;
		if (other || mentions(b.p, c->v[i].key))
			continue;
		finding(f, LEVEL_WARN, "template.conf:%d: %s is set, but the template's own "
		    "render.sh never mentions it: it has no effect", c->v[i].line, c->v[i].key);
		unread++;
	}
	if (unread == 0)
		finding(f, LEVEL_OK, "the template's own render.sh mentions every key "
		    "template.conf sets");
	free(pdir);
	free(b.p);
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
