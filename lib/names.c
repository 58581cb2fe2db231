/* SPDX-License-Identifier: ISC */
/* names.c: validation and normalisation of a child's name (SPEC 3.3).
 * The rules and the order in which errors are reported are in names.h. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
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
	[NAMES_BAD_STRESS] = "name_bad_stress",
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

/* --- stress ------------------------------------------------------------- */

/* Whether a code point is a Russian vowel letter, in either case. */
static bool
names_is_vowel(uint32_t uc)
{
	static const uint32_t vowels[] = {
		0x430, 0x435, 0x451, 0x438, 0x43e, 0x443, 0x44b, 0x44d, 0x44e, 0x44f,
	};
	uint32_t	lc = uc_tolower(uc);

	for (size_t i = 0; i < sizeof vowels / sizeof vowels[0]; i++)
		if (lc == vowels[i])
			return true;
	return false;
}

/* Whether a code point is an accent that marks stress in Cyrillic. */
static bool
names_is_stress_mark(uint32_t uc)
{
	return uc == 0x301 || uc == 0x300;
}

/* The Cyrillic vowel a Latin accented look-alike stands for, or 0. */
static uint32_t
names_latin_stressed(uint32_t uc)
{
	static const uint32_t map[][2] = {
		{ 0xe1, 0x430 }, { 0xe0, 0x430 }, { 0xe9, 0x435 }, { 0xe8, 0x435 },
		{ 0xf3, 0x43e }, { 0xf2, 0x43e }, { 0xfd, 0x443 },
		{ 0xc1, 0x410 }, { 0xc0, 0x410 }, { 0xc9, 0x415 }, { 0xc8, 0x415 },
		{ 0xd3, 0x41e }, { 0xd2, 0x41e }, { 0xdd, 0x423 },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i][0] == uc)
			return map[i][1];
	return 0;
}

/* Whether s[start..end) (one space-separated word) has Cyrillic letters
 * and no Latin letter but accented look-alikes of Cyrillic vowels. */
static bool
names_latin_accents_only(const uint32_t *s, size_t start, size_t end)
{
	bool	cyrillic = false, latin = false;

	for (size_t i = start; i < end; i++) {
		if (names_classify(s[i]) != NC_LETTER)
			continue;
		if (names_letter(s[i]) == NS_CYRILLIC)
			cyrillic = true;
		else if (names_latin_stressed(s[i]) != 0)
			latin = true;
		else
			return false;
	}
	return cyrillic && latin;
}

/*
 * "Мари́я" typed with a Latin "á" (a keyboard's accented letters) is the
 * Cyrillic vowel with a stress accent: rewrite such words of s (n code
 * points, room for 2n) in place before they are checked. Returns the new
 * length.
 */
static size_t
names_unlatin(uint32_t *s, size_t n)
{
	size_t	i = 0, start, end, k;
	uint32_t cyr;

	while (i < n) {
		if (names_is_blank(s[i])) {
			i++;
			continue;
		}
		for (start = i, end = i; end < n && !names_is_blank(s[end]); end++)
			;
		if (names_latin_accents_only(s, start, end)) {
			for (k = start; k < end; k++) {
				if ((cyr = names_latin_stressed(s[k])) == 0)
					continue;
				memmove(s + k + 2, s + k + 1, (n - k - 1) * sizeof *s);
				s[k] = cyr;
				s[k + 1] = 0x301;
				n++;
				end++;
			}
		}
		i = end;
	}
	return n;
}

/* Whether a code point ends a part (a word or a hyphenated part). */
static bool
names_part_end(uint32_t uc)
{
	enum names_class	c = names_classify(uc);

	return c == NC_SPACE || c == NC_HYPHEN;
}

/*
 * One part s[0..n) of a checked name: copy it to out without its stress
 * accents and set its vowel count and mark. Returns NAMES_BAD_STRESS for an
 * accent after a consonant or a second accent.
 */
static enum names_error
names_stress_part(const uint32_t *s, size_t n, uint32_t *out, size_t *o,
    struct names_stress *st)
{
	int		 vowels = 0, accent = 0, capital = 0, capitals = 0, letters = 0;
	int		 p = st->parts++;
	bool		 cyrillic = false;
	uint32_t	 uc;

	for (size_t i = 0; i < n; i++)
		if (names_classify(s[i]) == NC_LETTER && names_letter(s[i]) == NS_CYRILLIC)
			cyrillic = true;
	for (size_t i = 0; i < n; i++) {
		uc = s[i];
		if (cyrillic && names_is_stress_mark(uc)) {
			if (i == 0 || !names_is_vowel(s[i - 1]) || accent != 0)
				return NAMES_BAD_STRESS;
			accent = vowels;
			continue;
		}
		if (cyrillic && (uc == 0x45d || uc == 0x40d)) {
			/* ѝ: и with a grave accent. */
			if (accent != 0)
				return NAMES_BAD_STRESS;
			uc = uc == 0x45d ? 0x438 : 0x418;
			accent = vowels + 1;
		}
		out[(*o)++] = uc;
		if (names_classify(uc) != NC_LETTER)
			continue;
		letters++;
		if (cyrillic && names_is_vowel(uc))
			vowels++;
		if (letters > 1 && uc_tolower(uc) != uc) {
			capitals++;
			capital = cyrillic && names_is_vowel(uc) ? vowels : 0;
		}
	}
	st->vowels[p] = (unsigned char)vowels;
	st->mark[p] = (unsigned char)(accent != 0 ? accent : capitals == 1 ? capital : 0);
	return NAMES_OK;
}

/* Split a checked, trimmed name into parts: the stress marked in each,
 * and the name without accents in out (room for n). */
static enum names_error
names_stress_scan(const uint32_t *s, size_t n, uint32_t *out, size_t *outn,
    struct names_stress *st)
{
	enum names_error	e;
	size_t			i = 0, end, o = 0;

	memset(st, 0, sizeof(*st));
	while (i < n) {
		if (names_part_end(s[i])) {
			out[o++] = s[i++];
			continue;
		}
		for (end = i; end < n && !names_part_end(s[end]); end++)
			;
		if (st->parts == NAMES_MAX_PARTS)
			return NAMES_TOO_LONG;
		if ((e = names_stress_part(s + i, end - i, out, &o, st)) != NAMES_OK)
			return e;
		i = end;
	}
	*outn = o;
	return NAMES_OK;
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

/* Validate a name; on success return its display form, key and stress. */
enum names_error
names_normalize_stress(const char *in, size_t len, char **display, char **key,
    char **stress)
{
	struct names_stress	 st;
	uint32_t		*s, *plain;
	size_t			 n, start, end, plainlen = 0;
	enum names_error	 error;

	*display = *key = NULL;
	if (stress != NULL)
		*stress = NULL;
	if (len > NAMES_MAX_BYTES)
		return NAMES_TOO_LONG;
	if (len == 0)
		return NAMES_EMPTY;
	if (u8_check((const uint8_t *)in, len) != NULL)
		return NAMES_BAD_UTF8;
	s = names_decode(in, len, &n);
	s = xrealloc(s, (2 * n + 1) * sizeof *s);
	n = names_unlatin(s, n);
	for (start = 0; start < n && names_is_blank(s[start]); start++)
		;
	for (end = n; end > start && names_is_blank(s[end - 1]); end--)
		;
	plain = xcalloc(end - start + 1, sizeof *plain);
	if ((error = names_check(s + start, end - start)) == NAMES_OK &&
	    (error = names_stress_scan(s + start, end - start, plain, &plainlen,
	    &st)) == NAMES_OK) {
		*display = names_display(plain, plainlen);
		*key = names_key(*display);
		if (stress != NULL)
			*stress = names_stress_format(&st);
	}
	free(plain);
	free(s);
	return error;
}

enum names_error
names_normalize(const char *in, size_t len, char **display, char **key)
{
	return names_normalize_stress(in, len, display, key, NULL);
}

/* A display form's parts and their vowels, with no mark. */
static uint32_t *
names_parts(const char *display, struct names_stress *st, size_t *n)
{
	uint32_t	*s, *out;
	size_t		 outn = 0;

	s = names_decode(display, strlen(display), n);
	out = xcalloc(*n + 1, sizeof *out);
	if (names_stress_scan(s, *n, out, &outn, st) != NAMES_OK)
		st->parts = 0;
	free(out);
	memset(st->mark, 0, sizeof(st->mark));
	return s;
}

int
names_stress_parse(const char *display, const char *stress, struct names_stress *st)
{
	size_t		 n;
	const char	*p = stress;
	int		 part = 0;

	free(names_parts(display, st, &n));
	while (*p != '\0') {
		long	v = 0;

		if (part >= st->parts || *p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			if ((v = v * 10 + (*p - '0')) > NAMES_MAX_LETTERS)
				return -1;
		if (v > st->vowels[part] || (*p != ',' && *p != '\0') ||
		    (*p == ',' && p[1] == '\0'))
			return -1;
		st->mark[part++] = (unsigned char)v;
		if (*p == ',')
			p++;
	}
	return 0;
}

char *
names_stress_format(const struct names_stress *st)
{
	size_t	 size = (size_t)st->parts * 4 + 1, len = 0, keep = 0;
	char	*out = xmalloc(size);

	out[0] = '\0';
	for (int i = 0; i < st->parts; i++) {
		len += (size_t)snprintf(out + len, size - len, "%s%d", i > 0 ? "," : "",
		    st->mark[i]);
		if (st->mark[i] != 0)
			keep = len;
	}
	out[keep] = '\0';
	return out;
}

/* The display form with U+0301 after each stressed vowel, as code points
 * (NULL when the stress does not fit or is empty). */
static uint32_t *
names_spoken32(const char *display, const char *stress, size_t *outn)
{
	struct names_stress	 st;
	uint32_t		*s, *out;
	size_t			 n, o = 0;
	int			 part = 0, vowel = 0;
	bool			 in_part = false;

	if (*stress == '\0' || names_stress_parse(display, stress, &st) == -1)
		return NULL;
	s = names_decode(display, strlen(display), &n);
	out = xcalloc(2 * n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		if (names_part_end(s[i])) {
			if (in_part)
				part++;
			in_part = false;
			vowel = 0;
		} else
			in_part = true;
		out[o++] = s[i];
		if (in_part && names_is_vowel(s[i]) && part < st.parts &&
		    ++vowel == st.mark[part])
			out[o++] = 0x301;
	}
	free(s);
	*outn = o;
	return out;
}

char *
names_spoken(const char *display, const char *stress)
{
	uint32_t	*s;
	uint8_t		*u8;
	size_t		 n, len;

	if ((s = names_spoken32(display, stress, &n)) == NULL)
		return xstrdup(display);
	u8 = u32_to_u8(s, n, NULL, &len);
	free(s);
	return names_own(u8, len);
}

char *
names_stress_key(const char *display, const char *stress)
{
	char	*spoken = names_spoken(display, stress), *key;

	key = names_key(spoken);
	free(spoken);
	return key;
}

char *
names_stress_label(const char *display, int part, int vowel)
{
	struct names_stress	 st;
	uint32_t		*s, *out;
	uint8_t			*u8;
	size_t			 n, o = 0, len;
	int			 p = 0, v = 0;
	bool			 in_part = false;

	s = names_parts(display, &st, &n);
	if (part < 0 || part >= st.parts || vowel < 1 || vowel > st.vowels[part]) {
		free(s);
		return NULL;
	}
	/* The part as displayed, U+0301 after its stressed vowel (a
	 * combining mark follows its base letter: NFC leaves it so). */
	out = xcalloc(n + 2, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		if (names_part_end(s[i])) {
			if (in_part)
				p++;
			in_part = false;
			continue;
		}
		in_part = true;
		if (p != part)
			continue;
		out[o++] = s[i];
		if (names_is_vowel(s[i]) && ++v == vowel)
			out[o++] = 0x301;
	}
	free(s);
	u8 = u32_to_u8(out, o, NULL, &len);
	free(out);
	return names_own(u8, len);
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
