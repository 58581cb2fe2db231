/* SPDX-License-Identifier: ISC */
/* multipart.c: multipart/form-data parsing (RFC 7578, RFC 2046 5.1).
 * Bodies are untrusted and binary: every search is bounded by the body
 * length, never by a NUL. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"
#include "xmalloc.h"

#define MULTIPART_MAX_PARTS	1024
#define MULTIPART_MAX_HEADERS	32
#define MULTIPART_MAX_HEADER	8192
#define MULTIPART_MAX_BOUNDARY	70

/* One part's headers while they are parsed. */
struct mp_headers {
	char	*name;
	char	*filename;
	char	*content_type;
	int	 disposition;
};

/* Skip spaces and tabs. */
static const char *
mp_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Remove trailing blanks in place. */
static void
mp_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Copy a quoted-string starting after its opening quote; *sp is left after
 * the closing quote. NULL when it is not closed. */
static char *
mp_quoted(const char **sp)
{
	const char *s = *sp;
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		*o++ = *s;
	}
	if (*s != '"') {
		free(out);
		return NULL;
	}
	*o = '\0';
	*sp = s + 1;
	return out;
}

/* Copy a token up to ';' with trailing blanks removed. */
static char *
mp_token(const char **sp)
{
	const char *s = *sp, *e;

	e = s + strcspn(s, ";");
	*sp = e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return xstrndup(s, (size_t)(e - s));
}

/*
 * Next "; key=value" parameter of a header value. Returns 1 with *key and
 * *val allocated, 0 at the end, -1 when malformed.
 */
static int
mp_param_next(const char **sp, char **key, char **val)
{
	const char *s = mp_skip_ws(*sp), *k;

	if (*s == '\0')
		return 0;
	if (*s++ != ';')
		return -1;
	s = mp_skip_ws(s);
	if (*s == '\0')
		return 0;	/* a trailing ';' is tolerated */
	k = s;
	s += strcspn(s, "=; \t");
	if (s == k)
		return -1;
	*key = xstrndup(k, (size_t)(s - k));
	s = mp_skip_ws(s);
	if (*s++ != '=') {
		free(*key);
		return -1;
	}
	s = mp_skip_ws(s);
	if (*s == '"') {
		s++;
		*val = mp_quoted(&s);
	} else
		*val = mp_token(&s);
	if (*val == NULL) {
		free(*key);
		return -1;
	}
	*sp = s;
	return 1;
}

/* Length of the media type at the start of a header value. */
static size_t
mp_type_len(const char *s)
{
	size_t n = strcspn(s, ";");

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return n;
}

/* 1 when the boundary has an allowed length and no line breaks. */
static int
mp_boundary_valid(const char *b)
{
	size_t n = strlen(b);

	return n >= 1 && n <= MULTIPART_MAX_BOUNDARY && strpbrk(b, "\r\n") == NULL;
}

/* The boundary parameter of a multipart/form-data Content-Type. */
char *
multipart_boundary(const char *content_type)
{
	const char *s;
	char *key, *val, *boundary = NULL;
	int r;

	if (content_type == NULL)
		return NULL;
	s = mp_skip_ws(content_type);
	if (mp_type_len(s) != strlen("multipart/form-data") ||
	    strncasecmp(s, "multipart/form-data", mp_type_len(s)) != 0)
		return NULL;
	s += mp_type_len(s);
	while ((r = mp_param_next(&s, &key, &val)) == 1) {
		if (boundary == NULL && strcasecmp(key, "boundary") == 0)
			boundary = val;
		else
			free(val);
		free(key);
	}
	if (r == -1 || boundary == NULL || !mp_boundary_valid(boundary)) {
		free(boundary);
		return NULL;
	}
	return boundary;
}

/* Parse a Content-Disposition value into h; -1 when malformed. */
static int
mp_disposition(struct mp_headers *h, const char *v)
{
	char *key, *val;
	int r;

	v = mp_skip_ws(v);
	if (mp_type_len(v) != strlen("form-data") ||
	    strncasecmp(v, "form-data", mp_type_len(v)) != 0)
		return -1;
	v += mp_type_len(v);
	while ((r = mp_param_next(&v, &key, &val)) == 1) {
		if (strcasecmp(key, "name") == 0 && h->name == NULL)
			h->name = val;
		else if (strcasecmp(key, "filename") == 0 && h->filename == NULL)
			h->filename = val;
		else
			free(val);
		free(key);
	}
	h->disposition = 1;
	return r;
}

/* Parse one header line (no CRLF, may hold any byte); -1 when malformed. */
static int
mp_header(struct mp_headers *h, const char *line, size_t len)
{
	char *copy, *colon, *v;
	int r = 0;

	if (len > MULTIPART_MAX_HEADER || memchr(line, '\0', len) != NULL)
		return -1;
	copy = xstrndup(line, len);
	if ((colon = strchr(copy, ':')) == NULL) {
		free(copy);
		return -1;
	}
	*colon = '\0';
	v = (char *)mp_skip_ws(colon + 1);
	while (colon > copy && (colon[-1] == ' ' || colon[-1] == '\t'))
		*--colon = '\0';
	if (strcasecmp(copy, "Content-Disposition") == 0) {
		if (h->disposition)
			r = -1;
		else
			r = mp_disposition(h, v);
	} else if (strcasecmp(copy, "Content-Type") == 0 && h->content_type == NULL) {
		h->content_type = xstrdup(v);
		mp_trim(h->content_type);
	}
	free(copy);
	return r;
}

/* Forget headers that were not handed to a part. */
static void
mp_headers_clear(struct mp_headers *h)
{
	free(h->name);
	free(h->filename);
	free(h->content_type);
	memset(h, 0, sizeof(*h));
}

/*
 * Parse the header block at *pp up to and including its empty line;
 * *pp is left at the part's data. -1 when malformed.
 */
static int
mp_headers_parse(struct mp_headers *h, const char **pp, const char *end)
{
	const char *p = *pp, *eol;
	int n = 0;

	for (;;) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL || ++n > MULTIPART_MAX_HEADERS)
			return -1;
		if (eol == p)
			break;
		if (mp_header(h, p, (size_t)(eol - p)) == -1)
			return -1;
		p = eol + 2;
	}
	*pp = eol + 2;
	return h->name != NULL ? 0 : -1;
}

/* Append a part, taking the header strings from h. */
static void
mp_add(struct multipart *mp, struct mp_headers *h, const char *data, size_t len)
{
	struct multipart_part *part;

	mp->parts = xrealloc(mp->parts, (mp->nparts + 1) * sizeof(*mp->parts));
	part = &mp->parts[mp->nparts++];
	part->name = h->name;
	part->filename = h->filename;
	part->content_type = h->content_type;
	part->data = data;
	part->len = len;
	memset(h, 0, sizeof(*h));
}

/*
 * After a delimiter: "--" closes the body; otherwise optional blanks and
 * CRLF, then one part whose data runs to the next CRLF + delimiter.
 * Returns 1 for a part, 0 at the close, -1 when malformed.
 */
static int
mp_part(struct multipart *mp, const char **pp, const char *end,
    const char *delim, size_t dlen, const char **errstr)
{
	struct mp_headers h = { 0 };
	const char *p = *pp, *q;

	if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
		*errstr = "malformed boundary line";
		return -1;
	}
	p += 2;
	if (mp_headers_parse(&h, &p, end) == -1) {
		mp_headers_clear(&h);
		*errstr = "malformed part headers";
		return -1;
	}
	if ((q = memmem(p, (size_t)(end - p), delim, dlen)) == NULL) {
		mp_headers_clear(&h);
		*errstr = "missing closing boundary";
		return -1;
	}
	mp_add(mp, &h, p, (size_t)(q - p));
	*pp = q + dlen;
	return 1;
}

/* Split a body into its parts (see multipart.h). */
int
multipart_parse(struct multipart *mp, const char *boundary, const void *body,
    size_t len, const char **errstr)
{
	const char *start = body, *end = start + len, *p;
	char *delim;
	size_t dlen;
	int r;

	memset(mp, 0, sizeof(*mp));
	if (boundary == NULL || !mp_boundary_valid(boundary)) {
		*errstr = "bad boundary";
		return -1;
	}
	/* The delimiter is CRLF "--" boundary; the first may open the body. */
	dlen = (size_t)xasprintf(&delim, "\r\n--%s", boundary);
	if (len >= dlen - 2 && memcmp(start, delim + 2, dlen - 2) == 0)
		p = start + dlen - 2;
	else if ((p = memmem(start, len, delim, dlen)) != NULL)
		p += dlen;
	else {
		free(delim);
		*errstr = "no boundary in body";
		return -1;
	}
	while ((r = mp_part(mp, &p, end, delim, dlen, errstr)) == 1) {
		if (mp->nparts > MULTIPART_MAX_PARTS) {
			*errstr = "too many parts";
			r = -1;
			break;
		}
	}
	free(delim);
	if (r == -1) {
		multipart_free(mp);
		return -1;
	}
	return 0;
}

/* Free the parts' strings and array. */
void
multipart_free(struct multipart *mp)
{
	for (size_t i = 0; i < mp->nparts; i++) {
		free(mp->parts[i].name);
		free(mp->parts[i].filename);
		free(mp->parts[i].content_type);
	}
	free(mp->parts);
	memset(mp, 0, sizeof(*mp));
}

/* The first part named name. */
const struct multipart_part *
multipart_find(const struct multipart *mp, const char *name)
{
	for (size_t i = 0; i < mp->nparts; i++)
		if (strcmp(mp->parts[i].name, name) == 0)
			return &mp->parts[i];
	return NULL;
}
