/* SPDX-License-Identifier: ISC */
/* multipart.h: a binary-safe multipart/form-data body parser (RFC 7578). */
#ifndef GREETBOT_MULTIPART_H
#define GREETBOT_MULTIPART_H

#include <stddef.h>

struct multipart_part {
	char		*name;		/* Content-Disposition name= */
	char		*filename;	/* filename=, NULL when not a file */
	char		*content_type;	/* NULL when the part has none */
	const char	*data;		/* into the parsed body, not NUL-ended */
	size_t		 len;
};

struct multipart {
	struct multipart_part	*parts;
	size_t			 nparts;
};

/* The boundary of a "multipart/form-data; boundary=..." Content-Type
 * value, allocated, or NULL when it is not one or the boundary is bad. */
char	*multipart_boundary(const char *content_type);

/*
 * Parse body into mp (parts point into body, which must outlive mp).
 * Returns 0, or -1 with *errstr set and mp empty. mp_free it either way.
 */
int	 multipart_parse(struct multipart *mp, const char *boundary,
	    const void *body, size_t len, const char **errstr);
void	 multipart_free(struct multipart *mp);

/* The first part of that name, or NULL. */
const struct multipart_part *multipart_find(const struct multipart *mp,
	    const char *name);

#endif
