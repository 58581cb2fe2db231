/* names.c: validation and normalisation of a child's name (SPEC 3.3).
 * The rules and the order in which errors are reported are in names.h. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "log.h"
#include "names.h"
#include "xmalloc.h"

/* What one code point is, as far as names are concerned. */
enum names_class {
	NC_NONE,		/* before the start or past the end */
	NC_LETTER,
	NC_MARK,		/* combining diacritic U+0300-U+036F */
	NC_SPACE,
	NC_BREAK,		/* line break */
	NC_HYPHEN,
	NC_APOS,
	NC_MARKUP,
	NC_EMOJI,
	NC_CONTROL,
	NC_DIGIT,
	NC_FOREIGN,		/* letter or mark we do not accept */
	NC_PUNCT,
};

enum names_script {
	NS_LATIN = 1,
	NS_CYRILLIC = 2,
};

/* The state of one pass over a name. */
struct names_scan {
	unsigned	 mask;		/* 1 << error, for each error found */
	size_t		 letters;
	size_t		 words;
	int		 scripts;	/* names_script bits of this word */
};

/* Errors in the order they are reported when a name has several. */
static const enum names_error names_priority[] = {
	NAMES_URL, NAMES_MARKUP, NAMES_EMOJI, NAMES_DIGITS, NAMES_CONTROL,
	NAMES_NOT_LETTERS, NAMES_BAD_PUNCT, NAMES_MIXED_SCRIPT, NAMES_EMPTY,
	NAMES_TOO_MANY_WORDS, NAMES_TOO_LONG,
};

/* Message keys, indexed by error. */
static const char *names_ids[] = {
	[NAMES_OK] = "name_ok",
	[NAMES_EMPTY] = "name_empty",
	[NAMES_TOO_LONG] = "name_too_long",
	[NAMES_TOO_MANY_WORDS] = "name_too_many_words",
	[NAMES_BAD_UTF8] = "name_bad_utf8",
	[NAMES_DIGITS] = "name_digits",
	[NAMES_EMOJI] = "name_emoji",
	[NAMES_URL] = "name_url",
	[NAMES_MARKUP] = "name_markup",
	[NAMES_CONTROL] = "name_control",
	[NAMES_MIXED_SCRIPT] = "name_mixed_script",
	[NAMES_BAD_PUNCT] = "name_bad_punct",
	[NAMES_NOT_LETTERS] = "name_not_letters",
};

/* The script of a letter by its block, or 0 outside the accepted blocks. */
static int
names_block(uint32_t uc)
{
	if (uc < 0x80)
		return (uc | 0x20) >= 'a' && (uc | 0x20) <= 'z' ? NS_LATIN : 0;
	if ((uc >= 0xc0 && uc <= 0x24f) || (uc >= 0x1e00 && uc <= 0x1eff))
		return NS_LATIN;
	if (uc >= 0x400 && uc <= 0x52f)
		return NS_CYRILLIC;
	return 0;
}

/* The script of a letter we accept on its own: a letter of an accepted
 * block with no compatibility decomposition (no "ﬀ", "ª", "ǆ"). */
static int
names_letter_script(uint32_t uc)
{
	uint32_t	decomp[UC_DECOMPOSITION_MAX_LENGTH];
	int		tag;

	if (!uc_is_general_category(uc, UC_CATEGORY_L))
		return 0;
	if (uc_decomposition(uc, &tag, decomp) >= 0 &&
	    tag != UC_DECOMP_CANONICAL)
		return 0;
	return names_block(uc);
}

/* The script of an accepted letter, or 0. Its case mappings must be
 * accepted too, or a display form would not validate again. */
static int
names_letter(uint32_t uc)
{
	int	script;

	if ((script = names_letter_script(uc)) == 0)
		return 0;
	if (names_letter_script(uc_toupper(uc)) != script ||
	    names_letter_script(uc_tolower(uc)) != script)
		return 0;
	return script;
}

/* Whether a code point is markup in HTML, Markdown or MarkdownV2. */
static bool
names_is_markup(uint32_t uc)
{
	return uc != 0 && uc < 0x80 && strchr("<>&*_`[]{}|~\\#=+^", (int)uc);
}

/* Whether a code point is an emoji, a symbol or part of an emoji. */
static bool
names_is_emoji(uint32_t uc)
{
	return uc == 0x20e3 || uc_is_general_category(uc, UC_CATEGORY_S) ||
	    uc_is_property_extended_pictographic(uc) ||
	    uc_is_property_emoji_modifier(uc) ||
	    uc_is_property_regional_indicator(uc);
}

/* Whether a code point is invisible or controls the text around it. */
static bool
names_is_control(uint32_t uc)
{
	return uc_is_general_category(uc, UC_CATEGORY_C) ||
	    uc_is_general_category(uc, UC_CATEGORY_Zl) ||
	    uc_is_general_category(uc, UC_CATEGORY_Zp) ||
	    uc_is_property_default_ignorable_code_point(uc);
}

/* Classify the separators and the characters with a meaning of their own. */
static enum names_class
names_classify_punct(uint32_t uc)
{
	switch (uc) {
	case '\t':
		return NC_SPACE;
	case '\n': case '\r': case '\v': case '\f': case 0x85:
	case 0x2028: case 0x2029:
		return NC_BREAK;
	case '-': case 0x2010: case 0x2011:
		return NC_HYPHEN;
	case '\'': case 0x2019: case 0x2bc:
		return NC_APOS;
	}
	if (uc_is_general_category(uc, UC_CATEGORY_Zs))
		return NC_SPACE;
	return NC_NONE;
}

/* Classify one code point; the order of the tests matters (U+3164 is a
 * letter and invisible, FE0F is a mark and invisible). */
static enum names_class
names_classify(uint32_t uc)
{
	enum names_class	c;

	if ((c = names_classify_punct(uc)) != NC_NONE)
		return c;
	if (names_is_markup(uc))
		return NC_MARKUP;
	if (names_is_emoji(uc))
		return NC_EMOJI;
	if (names_is_control(uc))
		return NC_CONTROL;
	if (uc_is_general_category(uc, UC_CATEGORY_N))
		return NC_DIGIT;
	if (uc_is_general_category(uc, UC_CATEGORY_M))
		return uc >= 0x300 && uc <= 0x36f ? NC_MARK : NC_FOREIGN;
	if (uc_is_general_category(uc, UC_CATEGORY_L))
		return names_letter(uc) ? NC_LETTER : NC_FOREIGN;
	return NC_PUNCT;
}

/* Whether the dot at s[i] joins two parts of a host name ("t.me"). */
static bool
names_is_host_dot(const uint32_t *s, size_t n, size_t i)
{
	size_t	j;

	if (i == 0 || !uc_is_alnum(s[i - 1]))
		return false;
	for (j = i + 1; j < n && uc_is_alnum(s[j]); j++)
		;
	return j - i > 2;
}

/* Whether s[i] starts "www." at the start of a word. */
static bool
names_is_www(const uint32_t *s, size_t n, size_t i)
{
	size_t	k;

	if (i > 0 && names_classify(s[i - 1]) != NC_SPACE)
		return false;
	if (n - i < 4)
		return false;
	for (k = 0; k < 3; k++)
		if (uc_tolower(s[i + k]) != 'w')
			return false;
	return s[i + 3] == '.';
}

/* Whether a name looks like a URL, an e-mail address or a @mention. */
static bool
names_is_url(const uint32_t *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (s[i] == '@' || names_is_www(s, n, i))
			return true;
		if (s[i] == ':' && n - i >= 3 && s[i + 1] == '/' &&
		    s[i + 2] == '/')
			return true;
		if (s[i] == '.' && names_is_host_dot(s, n, i))
			return true;
	}
	return false;
}

/* Account for one accepted letter. */
static void
names_scan_letter(struct names_scan *sc, uint32_t uc)
{
	sc->letters++;
	sc->scripts |= names_letter(uc);
	if (sc->scripts == (NS_LATIN | NS_CYRILLIC))
		sc->mask |= 1u << NAMES_MIXED_SCRIPT;
}

/* The error a character of some class brings on its own, or NAMES_OK. */
static enum names_error
names_class_error(enum names_class c)
{
	switch (c) {
	case NC_BREAK:
	case NC_CONTROL:
		return NAMES_CONTROL;
	case NC_MARKUP:
		return NAMES_MARKUP;
	case NC_EMOJI:
		return NAMES_EMOJI;
	case NC_DIGIT:
		return NAMES_DIGITS;
	case NC_FOREIGN:
		return NAMES_NOT_LETTERS;
	case NC_NONE:
	case NC_PUNCT:
		return NAMES_BAD_PUNCT;
	default:
		return NAMES_OK;
	}
}

/* Account for s[i] of a trimmed name. A mark must follow a letter
 * directly (one per letter); hyphen and apostrophe must sit between
 * letters. */
static void
names_scan_one(struct names_scan *sc, const uint32_t *s, size_t n, size_t i)
{
	enum names_class	c, prev, next;

	c = names_classify(s[i]);
	prev = i > 0 ? names_classify(s[i - 1]) : NC_NONE;
	next = i + 1 < n ? names_classify(s[i + 1]) : NC_NONE;
	if (c != NC_SPACE && (prev == NC_NONE || prev == NC_SPACE)) {
		sc->words++;
		sc->scripts = 0;
	}
	if (c == NC_LETTER)
		names_scan_letter(sc, s[i]);
	else if (c == NC_MARK && prev != NC_LETTER)
		sc->mask |= 1u << NAMES_NOT_LETTERS;
	else if ((c == NC_HYPHEN || c == NC_APOS) &&
	    ((prev != NC_LETTER && prev != NC_MARK) || next != NC_LETTER))
		sc->mask |= 1u << NAMES_BAD_PUNCT;
	else if (names_class_error(c) != NAMES_OK)
		sc->mask |= 1u << names_class_error(c);
}

/* Check a trimmed name and return the error to report, or NAMES_OK. */
static enum names_error
names_check(const uint32_t *s, size_t n)
{
	struct names_scan	sc;
	size_t			i;

	memset(&sc, 0, sizeof sc);
	for (i = 0; i < n; i++)
		names_scan_one(&sc, s, n, i);
	if (names_is_url(s, n))
		sc.mask |= 1u << NAMES_URL;
	if (n == 0)
		sc.mask |= 1u << NAMES_EMPTY;
	if (sc.words > NAMES_MAX_WORDS)
		sc.mask |= 1u << NAMES_TOO_MANY_WORDS;
	if (sc.letters > NAMES_MAX_LETTERS)
		sc.mask |= 1u << NAMES_TOO_LONG;
	for (i = 0; i < sizeof names_priority / sizeof names_priority[0]; i++)
		if (sc.mask & (1u << names_priority[i]))
			return names_priority[i];
	return NAMES_OK;
}

/* Whether a code point may be trimmed off either end. */
static bool
names_is_blank(uint32_t uc)
{
	enum names_class	c;

	c = names_classify_punct(uc);
	return c == NC_SPACE || c == NC_BREAK;
}

/* Decode valid, non-empty UTF-8 into NFC code points (caller frees). */
static uint32_t *
names_decode(const char *in, size_t len, size_t *n)
{
	uint32_t	*raw, *nfc;
	size_t		 rawlen;

	raw = u8_to_u32((const uint8_t *)in, len, NULL, &rawlen);
	if (raw == NULL)
		fatal("names: u8_to_u32");
	nfc = u32_normalize(UNINORM_NFC, raw, rawlen, NULL, n);
	free(raw);
	if (nfc == NULL)
		fatal("names: u32_normalize");
	return nfc;
}

/* Copy a libunistring result into an xmalloc'd NUL-terminated string. */
static char *
names_own(uint8_t *s, size_t len)
{
	char	*out;

	if (s == NULL)
		fatal("names: libunistring");
	out = xmalloc(len + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	free(s);
	return out;
}

/* Capitalise a checked, trimmed name into its display form (UTF-8). */
static char *
names_display(const uint32_t *s, size_t n)
{
	uint32_t		*d, *nfc;
	uint8_t			*u8;
	size_t			 i, dn = 0, nfclen, u8len;
	enum names_class	 c;
	bool			 part_start = true;

	d = xcalloc(n + 1, sizeof *d);
	for (i = 0; i < n; i++) {
		c = names_classify(s[i]);
		if (c == NC_SPACE) {
			if (dn > 0 && d[dn - 1] != ' ')
				d[dn++] = ' ';
			part_start = true;
		} else if (c == NC_HYPHEN || c == NC_APOS) {
			d[dn++] = c == NC_HYPHEN ? '-' : '\'';
			part_start = c == NC_HYPHEN;
		} else if (c == NC_LETTER) {
			d[dn++] = part_start ? uc_toupper(s[i]) :
			    uc_tolower(s[i]);
			part_start = false;
		} else
			d[dn++] = s[i];
	}
	/* Case mapping can make a letter and mark composable ("ı̇" -> "İ"). */
	nfc = u32_normalize(UNINORM_NFC, d, dn, NULL, &nfclen);
	free(d);
	if (nfc == NULL)
		fatal("names: u32_normalize");
	u8 = u32_to_u8(nfc, nfclen, NULL, &u8len);
	free(nfc);
	return names_own(u8, u8len);
}

/* The dedup key of a display form. */
static char *
names_key(const char *display)
{
	uint8_t	*folded;
	size_t	 len;

	folded = u8_casefold((const uint8_t *)display, strlen(display), NULL,
	    UNINORM_NFC, NULL, &len);
	return names_own(folded, len);
}

/* Validate a name; on success return its display form and key. */
enum names_error
names_normalize(const char *in, size_t len, char **display, char **key)
{
	uint32_t		*s;
	size_t			 n, start, end;
	enum names_error	 error;

	*display = *key = NULL;
	if (len > NAMES_MAX_BYTES)
		return NAMES_TOO_LONG;
	if (len == 0)
		return NAMES_EMPTY;
	if (u8_check((const uint8_t *)in, len) != NULL)
		return NAMES_BAD_UTF8;
	s = names_decode(in, len, &n);
	for (start = 0; start < n && names_is_blank(s[start]); start++)
		;
	for (end = n; end > start && names_is_blank(s[end - 1]); end--)
		;
	if ((error = names_check(s + start, end - start)) == NAMES_OK) {
		*display = names_display(s + start, end - start);
		*key = names_key(*display);
	}
	free(s);
	return error;
}

/* The message key of an error. */
const char *
names_error_id(enum names_error error)
{
	if ((size_t)error >= sizeof names_ids / sizeof names_ids[0] ||
	    names_ids[error] == NULL)
		return "name_invalid";
	return names_ids[error];
}
