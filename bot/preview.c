/* SPDX-License-Identifier: ISC */
/*
 * preview.c: the pronunciation preview, an OGG/Opus of the phrase said as
 * the video will say it, rendered by the template's script in preview
 * mode under the renderers' isolation and cached per template version,
 * name and stress; and, once it went out, the speculative render of the
 * video (jobs_speculate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot.h"
#include "jobs.h"
#include "log.h"
#include "names.h"
#include "renderer.h"
#include "sandbox.h"
#include "template.h"
#include "xmalloc.h"

/* A pronunciation preview being rendered. */
struct preview {
	delivery_preview_done	 done;
	void			*arg;
	char			*path;	/* where the cached OGG goes */
	char			*name, *stress;	/* what it says: for speculate() */
	int			 slot;	/* its sandbox slot, or -1 */
	struct render		*render;
};

#define PREVIEW_MAX	(10LL << 20)	/* bytes of a voice message, at most */
static char *preview_path(const char *, const char *);

/* Keep what the render script said of a stress (its "stress" line: the
 * parts whose sound the mark changes) beside the preview's OGG. */
static void
stress_keep(const char *ogg, const char *canonical)
{
	char *path, *tmp;
	FILE *f;

	xasprintf(&path, "%s.stress", ogg);
	xasprintf(&tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", canonical) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) == -1) {
		log_warn("cannot keep the stress of a preview", "path=%s", path);
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/*
 * The stress that goes into an asset's key: of the parent's, only what
 * changes the sound, as the preview's render found (the vowel espeak-ng or
 * the template's stresses file stresses anyway is no mark: the same video
 * as the unmarked name). Without a preview to ask (it failed, or the
 * cache was cleared), the parent's stress as it is: at worst a second
 * render of the same sound, never a wrong one.
 */
char *
stress_canonical(const char *display, const char *stress)
{
	struct names_stress st;
	char *path, *kept, line[128] = "";
	FILE *f;

	if (*stress == '\0')
		return xstrdup("");
	kept = preview_path(display, stress);
	xasprintf(&path, "%s.stress", kept);
	free(kept);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (names_stress_parse(display, line, &st) == 0) {
			free(path);
			return names_stress_format(&st);
		}
	}
	free(path);
	return xstrdup(stress);
}

static void
preview_free(struct preview *pv)
{
	/* (The slot's processes and work dir: the privileged half's.) */
	if (pv->slot >= 0)
		bt.preview_busy[pv->slot] = 0;
	free(pv->path);
	free(pv->name);
	free(pv->stress);
	free(pv);
}

/* A free preview slot (the sender renders at most SANDBOX_PREVIEWS at
 * once), or -1. */
static int
preview_slot(void)
{
	for (int i = 0; i < SANDBOX_PREVIEWS; i++)
		if (!bt.preview_busy[i]) {
			bt.preview_busy[i] = 1;
			return i;
		}
	return -1;
}

/*
 * The preview went out: most parents confirm, so the video's render can
 * start now, as a speculative job (no request; greetbotd runs it on an
 * idle worker at a lower priority, and a confirm makes it an ordinary
 * one). Not when this bot has an asset for the name already, nor when
 * another bot's render of it exists or runs (the confirm shares that).
 * The key is the one order() will use: after the preview, the canonical
 * stress is known.
 */
static void
speculate(const char *name, const char *stress)
{
	char *display = NULL, *key = NULL, *canon, *skey;

	if (!bt.cfg.speculate || names_normalize(name, strlen(name), &display, &key) !=
	    NAMES_OK) {
		free(display);
		free(key);
		return;
	}
	canon = stress_canonical(display, stress);
	skey = names_stress_key(display, canon);
	if (jobs_speculate(&(struct jobs_name){ bt.cfg.bot_id, bt.tmpl.id, bt.tmpl.version,
	    skey, display, canon }) > 0) {
		log_info("speculative render queued", "stress=%s", canon);
		notify_jobs();
	}
	free(display);
	free(key);
	free(canon);
	free(skey);
}

static void
preview_rendered(const struct render_outcome *o, void *arg)
{
	struct preview *pv = arg;

	/* What of the stress changes the sound goes beside the OGG first, so
	 * that a cached OGG always has it (stress_canonical). */
	char why[300] = "";
	int ok = strcmp(o->status, "ok") == 0;

	if (ok && o->stress_known)
		stress_keep(pv->path, o->stress);
	/* Copied out of the work dir only if the renderer's own regular file:
	 * a link planted there is never opened, let alone uploaded. */
	if (ok && render_collect(pv->render, "voice.ogg", pv->path, PREVIEW_MAX, why,
	    sizeof(why)) == 0) {
		pv->done(pv->path, pv->arg);
		speculate(pv->name, pv->stress);
	} else {
		log_warnx("preview failed, asking in text", "status=%s cause=%s",
		    ok ? "invalid_output" : o->status, ok ? why : o->cause);
		pv->done(NULL, pv->arg);
	}
	preview_free(pv);
}

/* Where the preview of a name said with a stress is cached (the names of
 * the unmarked ones as before stresses existed). */
static char *
preview_path(const char *name, const char *stress)
{
	uint64_t h = template_hash(0, bt.tmpl.version, strlen(bt.tmpl.version));
	char *path;

	h = template_hash(h, name, strlen(name));
	if (*stress != '\0')
		h = template_hash(template_hash(h, "\n", 1), stress, strlen(stress));
	xasprintf(&path, "%s/%016llx.ogg", bt.previews_dir, (unsigned long long)h);
	return path;
}

/*
 * The OGG for a name, rendered by the template's script in preview mode
 * (same voice settings as the video) under the renderer's isolation, and
 * cached per template version, name and stress.
 */
void
preview_make(const char *name, const char *stress, delivery_preview_done done, void *arg)
{
	struct render_request rq = { 0 };
	struct preview *pv = xcalloc(1, sizeof(*pv));
	pv->done = done;
	pv->arg = arg;
	pv->slot = -1;
	pv->path = preview_path(name, stress);
	if (access(pv->path, R_OK) == 0 || (pv->slot = preview_slot()) == -1) {
		int ok = access(pv->path, R_OK) == 0;
		done(ok ? pv->path : NULL, arg);
		if (ok)
			speculate(name, stress);
		preview_free(pv);
		return;
	}
	pv->name = xstrdup(name);
	pv->stress = xstrdup(stress);
	render_request_config(&rq, &bt.cfg, SANDBOX_SLOT_BOT(bt.cfg.bot_index) + pv->slot);
	rq.script = bt.tmpl.script;
	rq.template_dir = bt.tmpl.dir;
	rq.version = bt.tmpl.version;
	rq.name = name;
	rq.stress = stress;
	rq.mode = "preview";
	rq.max_bytes = PREVIEW_MAX;
	pv->render = render_start(bt.base, &rq, preview_rendered, NULL, pv);
}
