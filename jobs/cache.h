/* SPDX-License-Identifier: ISC */
/* cache.h: the bound on the render caches (one per template version). */
#ifndef GREETBOT_CACHE_H
#define GREETBOT_CACHE_H

struct config;

/*
 * Remove render_dir/cache/<version>/ of every version that is not the
 * current one of a template in templates_dir, unless a render holds it
 * (render.sh keeps a shared flock on its cache dir while it runs). Nothing
 * is removed when no template can be loaded. Returns how many were.
 */
int	cache_prune(const struct config *, const char *render_dir);

#endif
