/* SPDX-License-Identifier: ISC */
/*
 * cmd-template.c: template list, template check (the lint, then a sample
 * render) and template preview (a render, its contact sheet).
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "greetctl.h"
#include "lint.h"
#include "names.h"
#include "renderer.h"
#include "sandbox.h"
#include "template.h"
#include "texts.h"
#include "xmalloc.h"

/* A template id names a directory right below templates_dir; exit 1 if not. */
static void
template_need(const char *id)
{
	char *conf;

	if (*id == '\0' || *id == '.' || strchr(id, '/') != NULL)
		errx(1, "bad template id: %s", id);
	xasprintf(&conf, "%s/%s/template.conf", gc.cfg.templates_dir, id);
	if (access(conf, F_OK) == -1)
		errx(1, "no template %s in %s (%s)", id, gc.cfg.templates_dir, config_origin());
	free(conf);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of templates_dir's templates, sorted; returns how many. */
static size_t
template_ids(char ***ids)
{
	struct dirent *de;
	size_t n = 0;
	char *conf;
	DIR *d;

	*ids = NULL;
	if ((d = opendir(gc.cfg.templates_dir)) == NULL)
		err(1, "templates_dir %s (%s)", gc.cfg.templates_dir, config_origin());
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&conf, "%s/%s/template.conf", gc.cfg.templates_dir, de->d_name);
		if (access(conf, F_OK) == 0) {
			*ids = xrealloc(*ids, (n + 1) * sizeof(**ids));
			(*ids)[n++] = xstrdup(de->d_name);
		}
		free(conf);
	}
	closedir(d);
	if (n > 0)
		qsort(*ids, n, sizeof(**ids), str_cmp);
	return n;
}

/* The bots shown whose default_template the template is, into o. */
static void
template_defaults(cJSON *o, const char *id)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; i < gc.cfg.nbots; i++)
		if (bot_shown(gc.cfg.bots[i].id) &&
		    strcmp(id, gc.cfg.bots[i].cfg->default_template) == 0)
			cJSON_AddItemToArray(a, cJSON_CreateString(gc.cfg.bots[i].id));
	cJSON_AddBoolToObject(o, "default", cJSON_GetArraySize(a) > 0);
	cJSON_AddItemToObject(o, "default_for", a);
}

/* One template's summary for template list. */
static cJSON *
template_summary(const char *id)
{
	cJSON *o = cJSON_CreateObject(), *missing = cJSON_CreateArray();
	struct template t;
	struct tconf c;
	char err[512], *tdir, *conf;
	double d;

	xasprintf(&tdir, "%s/%s", gc.cfg.templates_dir, id);
	xasprintf(&conf, "%s/template.conf", tdir);
	cJSON_AddStringToObject(o, "id", id);
	template_defaults(o, id);
	if (template_load(&t, gc.cfg.templates_dir, id, gc.cfg.render_script, NULL, err,
	    sizeof(err)) == 0) {
		cJSON_AddStringToObject(o, "language", t.language);
		cJSON_AddStringToObject(o, "version", t.version);
		cJSON_AddNumberToObject(o, "min_duration", t.min_duration);
		cJSON_AddNumberToObject(o, "max_duration", t.max_duration);
		template_free(&t);
	} else
		cJSON_AddStringToObject(o, "error", err);
	tconf_read(&c, conf, NULL);
	if (tconf_num(&c, "duration", &d, NULL) == 0)
		cJSON_AddNumberToObject(o, "duration", d);
	cJSON_AddBoolToObject(o, "media", lint_files(&c, tdir, NULL, missing) == 0);
	cJSON_AddItemToObject(o, "missing", missing);
	tconf_free(&c);
	free(tdir);
	free(conf);
	return o;
}

/* A JSON member as table text: strings as they are, numbers as %g. */
static char *
member_text(const cJSON *o, const char *key, const char *suffix)
{
	const cJSON *m = cJSON_GetObjectItem(o, key);
	char *s;

	if (cJSON_IsString(m))
		xasprintf(&s, "%s%s", m->valuestring, suffix);
	else if (cJSON_IsNumber(m))
		xasprintf(&s, "%g%s", m->valuedouble, suffix);
	else
		s = xstrdup("-");
	return s;
}

/* The DEFAULT cell: "yes" when one bot is shown, else the bots' ids. */
static char *
default_text(const cJSON *o)
{
	const cJSON *a = cJSON_GetObjectItem(o, "default_for"), *m;
	struct buf b = { xstrdup(""), 0 };

	if (cJSON_GetArraySize(a) == 0 || gc.cfg.selected != NULL) {
		free(b.p);
		return xstrdup(cJSON_GetArraySize(a) ? "yes" : "-");
	}
	cJSON_ArrayForEach(m, a) {
		buf_add(&b, ",", b.n ? 1 : 0);
		buf_add(&b, m->valuestring, strlen(m->valuestring));
	}
	return b.p;
}

/* The MEDIA cell: ok, or what is missing. */
static char *
media_text(const cJSON *o)
{
	const cJSON *m;
	struct buf b = { xstrdup(cJSON_IsTrue(cJSON_GetObjectItem(o, "media")) ? "ok" :
	    "missing:"), 0 };

	b.n = strlen(b.p);
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(o, "missing")) {
		buf_add(&b, " ", 1);
		buf_add(&b, m->valuestring, strlen(m->valuestring));
	}
	return b.p;
}

/* template list: every template, its version hash, bounds and media. */
static int
cmd_template_list(int argc, char **argv)
{
	static const char *const head[] = { "ID", "DEFAULT", "LANGUAGE", "VERSION",
	    "DURATION", "BOUNDS", "MEDIA" };
	struct table t = { .ncol = 7 };
	cJSON *all = cJSON_CreateArray(), *o;
	char **ids, *b;
	size_t n;

	(void)argv;
	if (argc != 1)
		usage(EXIT_USAGE);
	n = template_ids(&ids);
	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(all, template_summary(ids[i]));
		free(ids[i]);
	}
	free(ids);
	if (gc.json || n == 0) {
		if (gc.json)
			json_print(all);
		else {
			printf("no templates in %s\n", gc.cfg.templates_dir);
			cJSON_Delete(all);
		}
		return 0;
	}
	for (size_t i = 0; i < t.ncol; i++)
		table_put(&t, xstrdup(head[i]));
	cJSON_ArrayForEach(o, all) {
		table_put(&t, term_clean(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), 0));
		table_put(&t, default_text(o));
		table_put(&t, member_text(o, "language", ""));
		table_put(&t, member_text(o, "version", ""));
		table_put(&t, member_text(o, "duration", " s"));
		xasprintf(&b, "%g..%g s", cJSON_GetNumberValue(cJSON_GetObjectItem(o,
		    "min_duration")), cJSON_GetNumberValue(cJSON_GetObjectItem(o, "max_duration")));
		table_put(&t, b);
		b = media_text(o);
		table_put(&t, term_clean(b, 0));
		free(b);
	}
	table_print(&t, "");
	cJSON_Delete(all);
	return 0;
}

/* A child's name in the display form the bot would render, or exit 1
 * with the reason a parent would be given (in English). */
static char *
name_display(const char *in)
{
	struct texts *tx;
	enum names_error e;
	char *display, *key, err[256], *clean;

	if ((e = names_normalize(in, strlen(in), &display, &key)) == NAMES_OK) {
		free(key);
		return display;
	}
	clean = term_clean(in, 0);
	tx = texts_load(gc.cfg.messages_dir, gc.cfg.default_language, err, sizeof(err));
	warnx("the bot would not take the name \"%s\": %s", clean,
	    tx ? texts_get(tx, "en", names_error_id(e)) : names_error_id(e));
	if (tx != NULL)
		texts_free(tx);
	free(clean);
	exit(1);
}

/* The render script the template runs (its own or the default) may be run. */
static void
lint_script(const char *script, struct findings *f)
{
	if (access(script, X_OK) == -1)
		finding(f, LEVEL_ERROR, "render script %s: %s", script, strerror(errno));
	else
		finding(f, LEVEL_OK, "render script %s", script);
}

/*
 * greetbotd's start-up check: renderers must search their way into
 * state_dir's render tree (or, before greetbotd made it, into the
 * deepest directory of that path that exists).
 */
static void
lint_reach(struct findings *f)
{
	char err[1024], *want, *slash;
	const char *dirs[1];

	if (ctl_sandbox(err, sizeof(err)) == -1) {
		finding(f, LEVEL_ERROR, "%s", err);
		return;
	}
	xasprintf(&want, "%s/render/work", gc.cfg.state_dir);
	while (access(want, F_OK) == -1 && (slash = strrchr(want, '/')) != NULL &&
	    slash != want)
		*slash = '\0';
	dirs[0] = want;
	if (sandbox_check(&gc.sb, dirs, 1, NULL, err, sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "%s", err);
	else
		finding(f, LEVEL_OK, "renderers can reach %s/render", gc.cfg.state_dir);
	free(want);
}

/*
 * Why a render failed: first what ffmpeg said in the logs the script left
 * (its first error is the cause, which the end of stderr may have lost),
 * then the end of the script's stderr (render.sh says there what it made
 * of it), and where the logs are.
 */
static void
check_failed(struct findings *f, const struct sample *s)
{
	char *logs = sample_logs(s), *copy, *save = NULL;

	for (char *l = strtok_r(logs, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		finding(f, LEVEL_NOTE, "ffmpeg: %s", l);
	copy = xstrdup(last_lines(s->o.stderr_tail, 5));
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		finding(f, LEVEL_NOTE, "stderr: %s", l);
	if (s->keep)
		finding(f, LEVEL_NOTE, "the render's files and logs stay in %s", s->work);
	else
		finding(f, LEVEL_NOTE, "template check --keep leaves the render's files and "
		    "logs for a look");
	free(logs);
	free(copy);
}

/* Render a sample through the render script as greetbotd would. */
static void
check_render(const char *id, const char *name, int keep, struct findings *f)
{
	struct sample s = { 0 };
	char err[512];

	s.keep = keep;
	s.progress = isatty(2) && !gc.json ? 2 : 0;
	if (sample_run(&s, id, name, err, sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "sample render could not start: %s", err);
	else if (s.interrupted)
		finding(f, LEVEL_ERROR, "sample render interrupted (%s)", strsignal(s.interrupted));
	else if (strcmp(s.o.status, "ok") == 0)
		finding(f, LEVEL_OK, "sample render of \"%s\": a valid video in %.1f s (CPU "
		    "%.1f s, peak RSS %ld MB)", name, s.o.duration, s.o.cpu_seconds,
		    s.o.max_rss_kb / 1024);
	else {
		finding(f, LEVEL_ERROR, "sample render of \"%s\" failed: %s: %s", name,
		    s.o.status, s.o.cause);
		check_failed(f, &s);
	}
	sample_free(&s);
}

/* Every check that needs no render: the version, template.conf, files,
 * voice and script. The template's language goes to lang. */
static void
check_static(const char *id, struct findings *f, char **lang)
{
	struct template t;
	struct tconf c;
	char err[512], *tdir, *conf, *own = NULL;

	*lang = xstrdup("ru");
	xasprintf(&tdir, "%s/%s", gc.cfg.templates_dir, id);
	xasprintf(&conf, "%s/template.conf", tdir);
	if (template_load(&t, gc.cfg.templates_dir, id, gc.cfg.render_script, NULL, err,
	    sizeof(err)) == -1)
		finding(f, LEVEL_ERROR, "%s", err);
	else {
		finding(f, LEVEL_OK, "version %s, language %s", t.version, t.language);
		lint_script(t.script, f);
		lint_reach(f);
		free(*lang);
		*lang = xstrdup(t.language);
		/* The template's own script (template.c runs it when it may). */
		if (strcmp(t.script, gc.cfg.render_script) != 0)
			own = xstrdup(t.script);
		template_free(&t);
	}
	if (tconf_read(&c, conf, f) == 0) {
		lint_required(&c, f);
		lint_timing(&c, f);
		lint_rate(&c, f);
		lint_text(&c, f);
		lint_positions(&c, f);
		lint_colors(&c, f);
		lint_files(&c, tdir, f, NULL);
		lint_media(&c, tdir, f);
		lint_voice(&c, f);
		if (own != NULL)
			lint_unread(&c, own, f);
	}
	free(own);
	tconf_free(&c);
	free(tdir);
	free(conf);
}

/* The verdict: counts for people, every finding for scripts. */
static void
check_report(const char *id, struct findings *f)
{
	cJSON *o;

	if (!gc.json) {
		printf("%s: %d error%s, %d warning%s\n", id, f->errors, f->errors == 1 ?
		    "" : "s", f->warnings, f->warnings == 1 ? "" : "s");
		cJSON_Delete(f->list);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "template", id);
	cJSON_AddBoolToObject(o, "ok", f->errors == 0);
	cJSON_AddNumberToObject(o, "errors", f->errors);
	cJSON_AddNumberToObject(o, "warnings", f->warnings);
	cJSON_AddItemToObject(o, "findings", f->list);
	json_print(o);
}

/* template check [--no-render] [--keep] [--name NAME] ID: lint, then a
 * sample render; exit 1 when anything is an error. */
static int
cmd_template_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-render", no_argument, NULL, 'n' },
		{ "keep", no_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct findings f = { cJSON_CreateArray(), 0, 0 };
	const char *name = NULL, *id;
	int ch, render = 1, keep = 0;
	char *lang, *display;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 'n')
			render = 0;
		else if (ch == 'k')
			keep = 1;
		else if (ch == 'N')
			name = optarg;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc - 1)
		usage(EXIT_USAGE);
	id = argv[optind];
	template_need(id);
	check_static(id, &f, &lang);
	display = name_display(name ? name : strcmp(lang, "ru") == 0 ?
	    "Маша" : "Emma");
	if (render && f.errors == 0)
		check_render(id, display, keep, &f);
	else if (render)
		finding(&f, LEVEL_NOTE, "no sample render until the errors are fixed");
	check_report(id, &f);
	free(lang);
	free(display);
	return f.errors ? 1 : 0;
}

/* A path as a program argument that cannot be taken for an option. */
static char *
path_arg(const char *path)
{
	char *s;

	xasprintf(&s, "%s%s", path[0] == '-' ? "./" : "", path);
	return s;
}

/* Codecs, size and duration of a video, by ffprobe; -1 when unreadable. */
static int
probe_video(const char *path, double *duration, char *summary, size_t len)
{
	char *p = path_arg(path), *out;
	char *const argv[] = { "ffprobe", "-v", "error", "-print_format", "json",
	    "-show_format", "-show_streams", p, NULL };
	const char *vc = NULL, *ac = NULL, *d;
	const cJSON *s;
	cJSON *j;
	int w = 0, h = 0;

	run_capture(argv, 0, &out);
	j = cJSON_Parse(out);
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(j, "streams")) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_type"));
		const char *codec = cJSON_GetStringValue(cJSON_GetObjectItem(s, "codec_name"));

		if (type != NULL && strcmp(type, "video") == 0 && vc == NULL) {
			vc = codec;
			w = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "width"));
			h = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "height"));
		} else if (type != NULL && strcmp(type, "audio") == 0 && ac == NULL)
			ac = codec;
	}
	d = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "format"),
	    "duration"));
	*duration = d ? strtod(d, NULL) : 0;
	snprintf(summary, len, "%s %dx%d + %s, %.2f s", vc ? vc : "no video", w, h,
	    ac ? ac : "no audio", *duration);
	cJSON_Delete(j);
	free(out);
	free(p);
	return vc != NULL && *duration > 0 ? 0 : -1;
}

/* A PNG of eight frames spread over the video, 4 by 2, each 320 wide. */
static int
contact_sheet(const char *video, double duration, const char *png)
{
	char vf[128], *in = path_arg(video), *out = path_arg(png), *log;
	char *const argv[] = { "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", in,
	    "-vf", vf, "-frames:v", "1", out, NULL };
	int rc;

	snprintf(vf, sizeof(vf), "fps=%.6f,scale=320:-1,tile=4x2", 8.0 / duration);
	if ((rc = run_capture(argv, 1, &log)) != 0)
		warnx("contact sheet: ffmpeg failed: %s", *log ? last_lines(log, 1) : "cannot run");
	free(log);
	free(in);
	free(out);
	return rc == 0 ? 0 : -1;
}

/* Where the contact sheet of a video goes: .mp4 made .png. */
static char *
sheet_path(const char *video)
{
	size_t n = strlen(video);
	char *s;

	if (n > 4 && strcmp(video + n - 4, ".mp4") == 0)
		xasprintf(&s, "%.*s.png", (int)(n - 4), video);
	else
		xasprintf(&s, "%s.png", video);
	return s;
}

/* Tell how the preview went: its files, or why there are none. */
static void
preview_report(const char *name, const char *video, const char *sheet,
    const char *summary, const struct render_outcome *o)
{
	cJSON *j;

	if (!gc.json) {
		printf("video: %s (%s)\nsheet: %s\n", video, summary, sheet ? sheet : "-");
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", name);
	cJSON_AddStringToObject(j, "video", video);
	if (sheet != NULL)
		cJSON_AddStringToObject(j, "sheet", sheet);
	else
		cJSON_AddNullToObject(j, "sheet");
	cJSON_AddStringToObject(j, "summary", summary);
	cJSON_AddNumberToObject(j, "render_seconds", o->duration);
	cJSON_AddNumberToObject(j, "cpu_seconds", o->cpu_seconds);
	json_print(j);
}

/* Why the render failed, on stderr: ffmpeg's logs first (check_failed). */
static void
preview_failed(const struct sample *s)
{
	char *logs = sample_logs(s), *clean;

	warnx("render failed: %s: %s", s->o.status, s->o.cause);
	if (logs != NULL) {
		clean = term_clean(logs, 1);
		fputs(clean, stderr);
		free(clean);
	}
	clean = term_clean(last_lines(s->o.stderr_tail, 5), 1);
	fputs(clean, stderr);
	fputc('\n', stderr);
	free(clean);
	free(logs);
}

/* Render the name; on success copy the video out and make its sheet. */
static int
preview_make(const char *id, const char *name, const char *video, int keep)
{
	struct sample s = { 0 };
	char err[512], summary[256], *sheet = sheet_path(video);
	double dur = 0;
	int rc = 1;

	s.keep = keep;
	s.progress = isatty(2) ? 2 : 1;
	s.dest = video;
	if (sample_run(&s, id, name, err, sizeof(err)) == -1)
		warnx("cannot render: %s", err);
	else if (s.interrupted)
		warnx("interrupted (%s)", strsignal(s.interrupted));
	else if (strcmp(s.o.status, "ok") != 0)
		preview_failed(&s);
	else if (probe_video(video, &dur, summary, sizeof(summary)) == -1)
		warnx("%s: ffprobe cannot read it (%s)", video, summary);
	else {
		if (contact_sheet(video, dur, sheet) == -1) {
			free(sheet);
			sheet = NULL;
		}
		preview_report(name, video, sheet, summary, &s.o);
		rc = sheet == NULL;
	}
	sample_free(&s);
	free(sheet);
	return rc;
}

/* template preview [--keep] [-o PATH] ID NAME: NAME.mp4 and NAME.png. */
static int
cmd_template_preview(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "keep", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *output = NULL;
	char *display, *video;
	int ch, keep = 0, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		if (ch == 'o')
			output = optarg;
		else if (ch == 'k')
			keep = 1;
		else
			usage(EXIT_USAGE);
	}
	if (optind != argc - 2 || (output != NULL && *output == '\0'))
		usage(EXIT_USAGE);
	template_need(argv[optind]);
	display = name_display(argv[optind + 1]);
	if (output != NULL)
		video = xstrdup(output);
	else
		xasprintf(&video, "%s.mp4", display);
	rc = preview_make(argv[optind], display, video, keep);
	free(video);
	free(display);
	return rc;
}

/* template list | check | preview */
int
cmd_template(int argc, char **argv)
{
	if (argc < 2)
		usage(EXIT_USAGE);
	if (strcmp(argv[1], "list") == 0)
		return cmd_template_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_template_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "preview") == 0)
		return cmd_template_preview(argc - 1, argv + 1);
	warnx("unknown template command: %s", argv[1]);
	usage(EXIT_USAGE);
}
