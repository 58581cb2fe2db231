/* SPDX-License-Identifier: ISC */
/* test_multipart.c: multipart/form-data parsing, including hostile input. */
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "xmalloc.h"
#include "unit.h"

#define CRLF "\r\n"

/* A body with a text field, a binary file (NUL, CR, LF, a near-boundary)
 * and a part without a filename, as curl -F sends them. */
static const char body_ok[] =
    "preamble to ignore" CRLF
    "--XyZ" CRLF
    "Content-Disposition: form-data; name=\"chat_id\"" CRLF
    CRLF
    "42" CRLF
    "--XyZ" CRLF
    "content-disposition: form-data; name=\"video\"; filename=\"a \\\"b\\\".mp4\"" CRLF
    "Content-Type: video/mp4 " CRLF
    "X-Other: ignored" CRLF
    CRLF
    "\x00\x01\r\n--XyY\r\n-\x00" CRLF
    "--XyZ  " CRLF
    "Content-Disposition: form-data; name=caption" CRLF
    CRLF
    CRLF
    "--XyZ--" CRLF
    "epilogue";

/* Parse len bytes of s from an exact-size heap copy (so overreads trip
 * AddressSanitizer). */
static int
parse_copy(struct multipart *mp, const char *boundary, const char *s,
    size_t len, const char **err)
{
	char *copy = xmalloc(len ? len : 1);
	int r;

	memcpy(copy, s, len);
	r = multipart_parse(mp, boundary, copy, len, err);
	/* Parts point into copy: check them before it goes. */
	for (size_t i = 0; r == 0 && i < mp->nparts; i++)
		if (mp->parts[i].data < copy ||
		    mp->parts[i].data + mp->parts[i].len > copy + len)
			r = -2;
	free(copy);
	return r;
}

/* Boundaries from Content-Type values. */
static void
test_boundary(void)
{
	char *b;

	b = multipart_boundary("multipart/form-data; boundary=abc");
	UNIT_STREQ(b, "abc", "plain boundary");
	free(b);
	b = multipart_boundary("Multipart/Form-Data ;charset=x; BOUNDARY=\"a b;c\"");
	UNIT_STREQ(b, "a b;c", "quoted boundary, case-insensitive names");
	free(b);
	b = multipart_boundary("multipart/form-data; boundary=------------------------d74496d66958873e");
	UNIT_STREQ(b, "------------------------d74496d66958873e", "curl boundary");
	free(b);
	UNIT_CHECK(multipart_boundary("application/json") == NULL, "not multipart");
	UNIT_CHECK(multipart_boundary("multipart/form-datax; boundary=a") == NULL,
	    "type prefix is not enough");
	UNIT_CHECK(multipart_boundary("multipart/form-data") == NULL, "no boundary");
	UNIT_CHECK(multipart_boundary("multipart/form-data; boundary=") == NULL,
	    "empty boundary");
	UNIT_CHECK(multipart_boundary("multipart/form-data; boundary=\"abc") == NULL,
	    "unterminated quote");
	UNIT_CHECK(multipart_boundary("multipart/form-data; boundary="
	    "12345678901234567890123456789012345678901234567890123456789012345678901")
	    == NULL, "71-byte boundary");
	UNIT_CHECK(multipart_boundary(NULL) == NULL, "NULL content type");
}

/* A well-formed body gives its parts, binary data intact. */
static void
test_parse_ok(void)
{
	struct multipart mp;
	const struct multipart_part *p;
	const char *err = NULL;
	const char bin[] = "\x00\x01\r\n--XyY\r\n-\x00";

	UNIT_CHECK(multipart_parse(&mp, "XyZ", body_ok, sizeof(body_ok) - 1,
	    &err) == 0, "valid body parses");
	UNIT_CHECK(mp.nparts == 3, "three parts (got %zu)", mp.nparts);
	p = multipart_find(&mp, "chat_id");
	UNIT_CHECK(p != NULL && p->len == 2 && memcmp(p->data, "42", 2) == 0,
	    "text field");
	UNIT_CHECK(p != NULL && p->filename == NULL && p->content_type == NULL,
	    "text field has no filename or type");
	p = multipart_find(&mp, "video");
	UNIT_CHECK(p != NULL && p->len == sizeof(bin) - 1 &&
	    memcmp(p->data, bin, sizeof(bin) - 1) == 0, "binary data kept");
	UNIT_STREQ(p ? p->filename : NULL, "a \"b\".mp4", "escaped filename");
	UNIT_STREQ(p ? p->content_type : NULL, "video/mp4", "content type");
	p = multipart_find(&mp, "caption");
	UNIT_CHECK(p != NULL && p->len == 0, "empty unquoted-name field");
	UNIT_CHECK(multipart_find(&mp, "nope") == NULL, "absent part");
	multipart_free(&mp);
}

/* The body may start with the delimiter; the close may end the body. */
static void
test_parse_minimal(void)
{
	const char s[] = "--b" CRLF "Content-Disposition: form-data; name=\"x\""
	    CRLF CRLF "v" CRLF "--b--";
	const char empty[] = "--b--";
	struct multipart mp;
	const char *err = NULL;

	UNIT_CHECK(parse_copy(&mp, "b", s, sizeof(s) - 1, &err) == 0 &&
	    mp.nparts == 1 && mp.parts[0].len == 1, "minimal body");
	multipart_free(&mp);
	UNIT_CHECK(parse_copy(&mp, "b", empty, sizeof(empty) - 1, &err) == 0 &&
	    mp.nparts == 0, "body with no parts");
	multipart_free(&mp);
}

/* Malformed bodies fail cleanly with a reason. */
static void
test_parse_bad(void)
{
	static const struct { const char *desc, *body; } bad[] = {
		{ "no boundary", "hello" },
		{ "no close", "--b" CRLF "Content-Disposition: form-data; name=x"
		    CRLF CRLF "data" },
		{ "no name", "--b" CRLF "Content-Disposition: form-data"
		    CRLF CRLF "v" CRLF "--b--" },
		{ "no disposition", "--b" CRLF "Content-Type: text/plain"
		    CRLF CRLF "v" CRLF "--b--" },
		{ "not form-data", "--b" CRLF "Content-Disposition: attachment; name=x"
		    CRLF CRLF "v" CRLF "--b--" },
		{ "unterminated quote", "--b" CRLF
		    "Content-Disposition: form-data; name=\"x" CRLF CRLF "v" CRLF "--b--" },
		{ "garbage after boundary", "--bz" CRLF
		    "Content-Disposition: form-data; name=x" CRLF CRLF "v" CRLF "--b--" },
		{ "header without colon", "--b" CRLF "Content-Disposition form-data"
		    CRLF CRLF "v" CRLF "--b--" },
		{ "headers never end", "--b" CRLF
		    "Content-Disposition: form-data; name=x" CRLF },
		{ "two dispositions", "--b" CRLF
		    "Content-Disposition: form-data; name=x" CRLF
		    "Content-Disposition: form-data; name=y" CRLF CRLF "v" CRLF "--b--" },
		{ "bare LF lines", "--b\nContent-Disposition: form-data; name=x\n\nv\n--b--" },
	};
	struct multipart mp;
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		UNIT_CHECK(parse_copy(&mp, "b", bad[i].body, strlen(bad[i].body),
		    &err) == -1 && err != NULL && mp.nparts == 0 && mp.parts == NULL,
		    "rejects: %s (%s)", bad[i].desc, err ? err : "-");
		multipart_free(&mp);
	}
	UNIT_CHECK(multipart_parse(&mp, "", "--", 2, &err) == -1, "empty boundary");
	UNIT_CHECK(multipart_parse(&mp, "b", "", 0, &err) == -1, "empty body");
}

/* A header with a NUL byte in it is refused, not truncated. */
static void
test_parse_nul_header(void)
{
	const char s[] = "--b" CRLF "Content-Disposition: form-data; name=\"x\0y\""
	    CRLF CRLF "v" CRLF "--b--";
	struct multipart mp;
	const char *err = NULL;

	UNIT_CHECK(parse_copy(&mp, "b", s, sizeof(s) - 1, &err) == -1,
	    "NUL in a header is rejected");
	multipart_free(&mp);
}

/* Every truncation and many random corruptions of a valid body: no
 * crash, no overread, parts always inside the body. */
static void
test_parse_hostile(void)
{
	size_t len = sizeof(body_ok) - 1, ok = 0, bad_bounds = 0;
	struct multipart mp;
	const char *err;
	char *mut = xmalloc(len);
	unsigned int seed = 12345;

	for (size_t n = 0; n < len; n++) {
		if (parse_copy(&mp, "XyZ", body_ok, n, &err) == -2)
			bad_bounds++;
		ok += mp.nparts > 0;
		multipart_free(&mp);
	}
	UNIT_CHECK(bad_bounds == 0, "truncations stay in bounds");
	for (int i = 0; i < 20000; i++) {
		memcpy(mut, body_ok, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			mut[(seed >> 8) % len] = (char)(seed >> 20);
		}
		if (parse_copy(&mp, "XyZ", mut, len, &err) == -2)
			bad_bounds++;
		multipart_free(&mp);
	}
	UNIT_CHECK(bad_bounds == 0, "random corruptions stay in bounds");
	/* Only cuts inside the epilogue, after the closing delimiter, parse. */
	UNIT_CHECK(ok == strlen(CRLF "epilogue"),
	    "only truncated epilogues parse (%zu did)", ok);
	free(mut);
}

int
main(void)
{
	test_boundary();
	test_parse_ok();
	test_parse_minimal();
	test_parse_bad();
	test_parse_nul_header();
	test_parse_hostile();
	return unit_done();
}
