/* SPDX-License-Identifier: ISC */
/* xmalloc.h: allocation that dies on failure, so callers never check. */
#ifndef GREETBOT_XMALLOC_H
#define GREETBOT_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

#endif
