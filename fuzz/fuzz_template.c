/* SPDX-License-Identifier: ISC */
/*
 * fuzz_template.c: the text of a template.conf, read by both C readers of
 * the format: template.c (template_load: the keys greetbotd needs and the
 * version hash) and greetctl's lint (lint.c, template check: tconf_read
 * and the checks that need no files or programs), whose messages then go
 * through greetctl's terminal cleaning (output.c) as they would be printed.
 *
 * When every line has a shape render.sh takes and no key is repeated, the
 * two readers must agree on the keys greetbotd uses: min_duration,
 * max_duration and language. Files holding a NUL or a CR other than a
 * line-final one are left out of that comparison: greetctl and render.sh
 * read those differently, and no editor writes them.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <unistr.h>

#include "fuzz.h"
#include "greetctl.h"
#include "lint.h"
#include "log.h"
#include "template.h"
#include "xmalloc.h"

static char	*fuzz_tmpl_root;	/* templates_dir, holding t/template.conf */
static char	*fuzz_tmpl_conf;

/* Remove the template directory at exit. */
static void
fuzz_tmpl_cleanup(void)
{
	char *t;

	unlink(fuzz_tmpl_conf);
	xasprintf(&t, "%s/t", fuzz_tmpl_root);
	rmdir(t);
	free(t);
	rmdir(fuzz_tmpl_root);
}

/* A templates_dir of our own with one template, "t". */
static void
fuzz_tmpl_init(void)
{
	const char *tmp = getenv("TMPDIR");
	char *t;

	xasprintf(&fuzz_tmpl_root, "%s/greetbot-fuzz.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(fuzz_tmpl_root) == NULL)
		fatal("mkdtemp", "path=%s", fuzz_tmpl_root);
	xasprintf(&t, "%s/t", fuzz_tmpl_root);
	if (mkdir(t, 0700) == -1)
		fatal("mkdir", "path=%s", t);
	xasprintf(&fuzz_tmpl_conf, "%s/template.conf", t);
	free(t);
	atexit(fuzz_tmpl_cleanup);
	gc.json = 1;	/* findings are kept in a list, not printed */
}

static void
fuzz_tmpl_write(const uint8_t *data, size_t len)
{
	int fd;

	if ((fd = open(fuzz_tmpl_conf, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) == -1)
		fatal("write", "path=%s", fuzz_tmpl_conf);
}

/* Whether every line is one that both readers take alike. */
static int
fuzz_tmpl_plain(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\0')
			return 0;
		if (data[i] == '\r' && i + 1 < len && data[i + 1] != '\n')
			return 0;
	}
	return 1;
}

/* term_clean and term_cut as greetctl prints untrusted text. */
static void
fuzz_tmpl_term(const char *s, int keep_newlines)
{
	char *clean = term_clean(s, keep_newlines);

	FUZZ_ASSERT(u8_check((const uint8_t *)clean, strlen(clean)) == NULL);
	for (const char *p = clean; *p != '\0'; p++)
		FUZZ_ASSERT((unsigned char)*p >= 0x20 || (*p == '\n' && keep_newlines));
	FUZZ_ASSERT(strchr(clean, 0x7f) == NULL);
	term_cut(clean, CELL_WIDTH);
	FUZZ_ASSERT(term_width(clean) <= CELL_WIDTH);
	free(clean);
}

/* The lint of template check, but for the voice (it runs espeak-ng).
 * Returns the errors of reading the file (line shapes, repeated keys),
 * or -1 when it could not be read. */
static int
fuzz_tmpl_lint(struct tconf *c)
{
	struct findings f = { cJSON_CreateArray(), 0, 0 };
	const cJSON *o;
	int errors = -1;
	char *tdir;

	if (tconf_read(c, fuzz_tmpl_conf, &f) == 0) {
		errors = f.errors;
		lint_required(c, &f);
		lint_timing(c, &f);
		lint_rate(c, &f);
		lint_text(c, &f);
		lint_positions(c, &f);
		xasprintf(&tdir, "%s/t", fuzz_tmpl_root);
		lint_files(c, tdir, &f, NULL);
		free(tdir);
	}
	cJSON_ArrayForEach(o, f.list)
		fuzz_tmpl_term(cJSON_GetStringValue(cJSON_GetObjectItem(o, "message")), 0);
	cJSON_Delete(f.list);
	return errors;
}

/* template.c agrees with the lint on what greetbotd reads: the bounds
 * when the lint takes them for numbers, and the language. */
static void
fuzz_tmpl_agree(const struct template *t, const struct tconf *c)
{
	const char *lang = tconf_get(c, "language");
	double d;

	if (tconf_num(c, "min_duration", &d, NULL) == 0)
		FUZZ_ASSERT(t->min_duration == d);
	if (tconf_num(c, "max_duration", &d, NULL) == 0)
		FUZZ_ASSERT(t->max_duration == d);
	FUZZ_ASSERT(strcmp(t->language, lang != NULL && *lang != '\0' ? lang : "ru") == 0);
}

int
fuzz_template(const uint8_t *data, size_t len)
{
	struct template t, again;
	struct tconf c;
	char err[1024], *copy;
	int errors;

	if (fuzz_tmpl_root == NULL)
		fuzz_tmpl_init();
	fuzz_tmpl_write(data, len);
	if (template_load(&t, fuzz_tmpl_root, "t", "/dev/null", NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz: template_load: %s\n", err);
		abort();
	}
	FUZZ_ASSERT(strlen(t.version) == 16 && strspn(t.version, "0123456789abcdef") == 16);
	FUZZ_ASSERT(t.language != NULL);
	FUZZ_ASSERT(template_load(&again, fuzz_tmpl_root, "t", "/dev/null", NULL, err,
	    sizeof(err)) == 0 && strcmp(t.version, again.version) == 0);
	template_free(&again);
	errors = fuzz_tmpl_lint(&c);
	if (errors == 0 && fuzz_tmpl_plain(data, len))
		fuzz_tmpl_agree(&t, &c);
	tconf_free(&c);
	template_free(&t);
	copy = xstrndup((const char *)data, len);
	fuzz_tmpl_term(copy, 0);
	fuzz_tmpl_term(copy, 1);
	free(copy);
	return 0;
}

FUZZ_TARGET(fuzz_template)
