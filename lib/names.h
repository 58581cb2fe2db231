/* SPDX-License-Identifier: ISC */
/* names.h: validation and normalisation of a child's name (SPEC 3.3).
 *
 * The input is checked for size (at most 256 bytes) and well-formed UTF-8
 * (no overlongs, surrogates or code points past U+10FFFF), then
 * NFC-normalised, so a decomposed "й" is the same name as a composed one.
 *
 * What a name may hold:
 * - letters of the Latin blocks (Basic Latin, Latin-1, Latin Extended-A/B,
 *   Latin Extended Additional) and the Cyrillic blocks (Cyrillic, Cyrillic
 *   Supplement): é, ñ, ü, ё, і, ї, є, ґ, ў, ә ... Letters of other scripts
 *   (Greek, CJK, Arabic ...) and compatibility look-alikes (fullwidth
 *   letters, ligatures such as "ﬀ", ª, º) are NAMES_NOT_LETTERS;
 * - one combining diacritic (U+0300-U+036F) after a letter (in a Cyrillic
 *   word the acute and grave accents are stress marks, below); stray or
 *   stacked marks are NAMES_NOT_LETTERS;
 * - hyphen ("-", U+2010, U+2011, all shown as "-") and apostrophe ("'",
 *   U+2019 "’", U+02BC "ʼ", all shown as "'"), each only between two letters
 *   of one word: leading, trailing, doubled or next to a space they are
 *   NAMES_BAD_PUNCT;
 * - whitespace: space, tab and every Unicode space separator (including the
 *   no-break space U+00A0) separate words; runs collapse to one space and
 *   the ends are trimmed. Line breaks (LF, CR, VT, FF, U+0085, U+2028,
 *   U+2029) are trimmed at the ends but inside a name are NAMES_CONTROL: two
 *   lines are more likely two names than one.
 * - 1 to 32 letters (hyphens, apostrophes and spaces do not count) and at
 *   most 3 words.
 *
 * When a name breaks several rules the error reported is the first of:
 * URL (any "@", "://", a word starting "www." or a dot between a letter or
 * digit and two more, as in "t.me"), markup (< > & * _ ` [ ] { } | ~ \ # =
 * + ^), emoji and other symbols (also "1️⃣"-style keycaps and ZWJ
 * sequences), digits (any numeric character), control (control, format,
 * zero-width, bidi, private-use, unassigned and default-ignorable
 * characters such as U+00AD and U+FE0F), not letters, bad punctuation,
 * mixed script (Cyrillic and Latin letters in one space-separated word,
 * "Анна-Maria" included), empty, too many words, too many letters.
 *
 * Display form: each part (separated by a space or hyphen, not by an
 * apostrophe) has its first letter upper-cased and the rest lower-cased,
 * with Unicode simple case mappings: " мАША " -> "Маша", "анна-мария" ->
 * "Анна-Мария", "д'артаньян" -> "Д'артаньян". Validating a display form
 * again yields the same display form.
 *
 * Key: the display form case-folded (NFC), so "Маша", "МАША" and "маша"
 * share a key. "ё" and "е" stay distinct.
 *
 * Stress (names_normalize_stress): in a Cyrillic part (a word, or a part of
 * a hyphenated word) the parent may mark the stressed vowel (а е ё и о у ы
 * э ю я), either with an accent right after it (U+0301 "Мари́я", or the
 * grave U+0300, also as the precomposed "ѝ"; a Latin "á é ó ý" in an
 * otherwise Cyrillic word stands for the Cyrillic vowel with an accent), or
 * by typing that one vowel as a capital in a part otherwise in lower case,
 * its first letter aside ("МарИя", "марИя", "АннА"). Ordinary
 * capitalisation is no mark: "Анна-Мария", "АННА", "мАША" (several
 * capitals), "маШа" (a consonant). An accent after a consonant, or two in
 * one part, is NAMES_BAD_STRESS. The marks never reach the display form or
 * the key; the stress is returned apart, as text: for each part in order
 * the 1-based index of its stressed vowel among the part's Cyrillic
 * vowels, 0 for none, joined by commas, trailing zeros dropped ("2" for
 * "МарИя", "0,2" for "Анна-МарИя", "" for none). Latin words carry no
 * stress: "José" keeps its letter.
 */
#ifndef GREETBOT_NAMES_H
#define GREETBOT_NAMES_H

#include <stddef.h>

#define NAMES_MAX_BYTES		256
#define NAMES_MAX_LETTERS	32
#define NAMES_MAX_WORDS		3

enum names_error {
	NAMES_OK = 0,
	NAMES_EMPTY,		/* nothing but spaces */
	NAMES_TOO_LONG,		/* more than 32 letters, or input over 256 bytes */
	NAMES_TOO_MANY_WORDS,	/* more than 3 words */
	NAMES_BAD_UTF8,		/* invalid UTF-8 */
	NAMES_DIGITS,		/* contains digits */
	NAMES_EMOJI,		/* emoji or other symbols/pictographs */
	NAMES_URL,		/* looks like a URL, e-mail or @mention */
	NAMES_MARKUP,		/* <, >, &, *, _, `, [, ], and similar markup characters */
	NAMES_CONTROL,		/* control, zero-width, bidi or other invisible characters */
	NAMES_MIXED_SCRIPT,	/* Cyrillic and Latin letters inside one word (homoglyph tricks) */
	NAMES_BAD_PUNCT,	/* other punctuation: leading/trailing/doubled hyphen or apostrophe, dots, commas... */
	NAMES_NOT_LETTERS,	/* letters of scripts other than Latin and Cyrillic, stray combining marks */
	NAMES_BAD_STRESS,	/* a stress accent after a consonant, or two in one part */
};

#define NAMES_MAX_PARTS		NAMES_MAX_LETTERS	/* words and hyphenated parts */

/* A name's stress, parsed: per part, its vowels and the marked one. */
struct names_stress {
	int		parts;
	unsigned char	vowels[NAMES_MAX_PARTS];	/* Cyrillic vowels in the part */
	unsigned char	mark[NAMES_MAX_PARTS];		/* 1-based, 0 for none */
};

/* Validate a name typed by a parent; on success *display and *key are
 * allocated (xmalloc) and NAMES_OK is returned. On error both are NULL. */
enum names_error names_normalize(const char *in, size_t len, char **display,
	    char **key);
/* The same, also returning the stress the parent marked (see above; ""
 * for none) in *stress, allocated like the others. */
enum names_error names_normalize_stress(const char *in, size_t len, char **display,
	    char **key, char **stress);
/* Parse stress text against a display form: 0, or -1 when it does not fit
 * (not digits and commas, more parts than the name has, an index past a
 * part's vowels). */
int		 names_stress_parse(const char *display, const char *stress,
		    struct names_stress *);
/* Stress text of a parsed stress ("" for none), allocated. */
char		*names_stress_format(const struct names_stress *);
/* The display form with U+0301 after each stressed vowel ("Мари́я"); the
 * display form itself when the stress is "" or does not fit. Allocated. */
char		*names_spoken(const char *display, const char *stress);
/* The key of a name as spoken: its key, with the accents of the stress
 * ("мари́я"); the plain key when the stress is "". Allocated. */
char		*names_stress_key(const char *display, const char *stress);
/* Part number part (0-based) of a display form as displayed, with U+0301
 * after its vowel number vowel (1-based): "Мари́я", as a reader
 * writes a stress. NULL past the parts or vowels. Allocated. */
char		*names_stress_label(const char *display, int part, int vowel);
/* A stable identifier for the error, used as the key of its message text:
 * "name_empty", "name_too_long", "name_digits", ... */
const char	*names_error_id(enum names_error);

#endif
