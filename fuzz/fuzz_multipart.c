/* SPDX-License-Identifier: ISC */
/*
 * fuzz_multipart.c: an upload as tgsim gets it. The input's first line is
 * the Content-Type header's value (multipart_boundary), the rest the body
 * (multipart_parse). When the header gives no boundary, the line itself
 * is tried as one, so the body parser is reached either way.
 */
#include <string.h>

#include "fuzz.h"
#include "multipart.h"
#include "xmalloc.h"

/* Parts lie inside the body, in order, each with a name, and none holds
 * the delimiter (CRLF "--" boundary) that ends it. */
static void
fuzz_multipart_check(const struct multipart *mp, const char *boundary,
    const char *body, size_t len)
{
	const char *prev = body;
	char *delim;
	size_t dlen;

	dlen = (size_t)xasprintf(&delim, "\r\n--%s", boundary);
	for (size_t i = 0; i < mp->nparts; i++) {
		const struct multipart_part *p = &mp->parts[i];

		FUZZ_ASSERT(p->name != NULL);
		FUZZ_ASSERT(p->data >= prev && p->data <= body + len);
		FUZZ_ASSERT(p->len <= (size_t)(body + len - p->data));
		FUZZ_ASSERT(memmem(p->data, p->len, delim, dlen) == NULL);
		FUZZ_ASSERT(multipart_find(mp, p->name) != NULL);
		prev = p->data + p->len;
	}
	free(delim);
}

int
fuzz_multipart(const uint8_t *data, size_t len)
{
	const char *nl = memchr(data, '\n', len), *body, *errstr = NULL;
	char *ctype, *boundary;
	struct multipart mp;
	size_t blen;

	if (nl == NULL)
		return 0;
	ctype = xstrndup((const char *)data, (size_t)(nl - (const char *)data));
	body = nl + 1;
	blen = len - (size_t)(body - (const char *)data);
	if ((boundary = multipart_boundary(ctype)) != NULL) {
		FUZZ_ASSERT(*boundary != '\0' && strlen(boundary) <= 70);
		FUZZ_ASSERT(strpbrk(boundary, "\r\n") == NULL);
	} else
		boundary = xstrdup(ctype);
	if (multipart_parse(&mp, boundary, body, blen, &errstr) == 0)
		fuzz_multipart_check(&mp, boundary, body, blen);
	else
		FUZZ_ASSERT(errstr != NULL && mp.nparts == 0 && mp.parts == NULL);
	multipart_free(&mp);
	free(boundary);
	free(ctype);
	return 0;
}

FUZZ_TARGET(fuzz_multipart)
