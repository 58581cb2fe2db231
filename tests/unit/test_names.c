/* SPDX-License-Identifier: ISC */
/* test_names.c: the child's name rules of SPEC 3.3, table-driven, plus a
 * random-input pass and an every-code-point pass for idempotence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uninorm.h>
#include <unistr.h>

#include "names.h"
#include "unit.h"

/* One input and what names_normalize must make of it. */
struct name_case {
	const char		*desc;
	const char		*in;
	int			 len;		/* -1: strlen(in) */
	enum names_error	 want;
	const char		*display;
	const char		*key;
};

#define OK(d, in, disp, key)	{ d, in, -1, NAMES_OK, disp, key }
#define BAD(d, in, err)		{ d, in, -1, err, NULL, NULL }

static const struct name_case cases[] = {
	/* Valid names: Cyrillic, Latin, case, hyphen, apostrophe. */
	OK("cyrillic", "Маша", "Маша", "маша"),
	OK("spec example", " мАША ", "Маша", "маша"),
	OK("upper case", "МАША", "Маша", "маша"),
	OK("lower case", "маша", "Маша", "маша"),
	OK("one letter", "я", "Я", "я"),
	OK("hyphen parts", "анна-мария", "Анна-Мария", "анна-мария"),
	OK("hyphen, two words", "жан-поль сартр", "Жан-Поль Сартр",
	    "жан-поль сартр"),
	OK("ascii apostrophe", "д'артаньян", "Д'артаньян", "д'артаньян"),
	OK("typographic apostrophe", "д\u2019артаньян", "Д'артаньян",
	    "д'артаньян"),
	OK("modifier apostrophe", "Д\u02bcАРТАНЬЯН", "Д'артаньян",
	    "д'артаньян"),
	OK("ukrainian apostrophe", "м'ята", "М'ята", "м'ята"),
	OK("latin", "john", "John", "john"),
	OK("latin hyphen and apostrophe", "mary-jane o'NEIL",
	    "Mary-Jane O'neil", "mary-jane o'neil"),
	OK("latin typographic apostrophe", "O\u2019Brien", "O'brien",
	    "o'brien"),
	OK("latin diacritics", "JOSÉ", "José", "josé"),
	OK("n tilde", "ñuño", "Ñuño", "ñuño"),
	OK("umlaut", "MÜLLER", "Müller", "müller"),
	OK("vietnamese", "nguyễn", "Nguyễn", "nguyễn"),
	OK("yo", "ёжик", "Ёжик", "ёжик"),
	OK("ukrainian yi", "ЇЖАЧОК", "Їжачок", "їжачок"),
	OK("ukrainian ghe", "ґанна", "Ґанна", "ґанна"),
	OK("ukrainian ie and i", "євгенія", "Євгенія", "євгенія"),
	OK("belarusian short u", "ўладзь", "Ўладзь", "ўладзь"),
	OK("kazakh schwa", "ӘСЕЛ", "Әсел", "әсел"),
	OK("kazakh letters", "айгүл", "Айгүл", "айгүл"),
	OK("different scripts in different words", "анна MARIA",
	    "Анна Maria", "анна maria"),
	OK("non-breaking hyphen", "анна\u2011мария", "Анна-Мария",
	    "анна-мария"),
	OK("hyphen U+2010", "анна\u2010мария", "Анна-Мария", "анна-мария"),
	OK("stress accent not in the display form", "мари\u0301я", "Мария", "мария"),
	/* NFC. */
	OK("decomposed short i", "андреи\u0306", "Андрей", "андрей"),
	OK("decomposed e acute", "Jose\u0301", "José", "josé"),
	OK("decomposed yo", "е\u0308жик", "Ёжик", "ёжик"),
	/* Spaces. */
	OK("inner run of spaces", "анна   мария", "Анна Мария", "анна мария"),
	OK("tabs", "\tанна\t\tмария\t", "Анна Мария", "анна мария"),
	OK("no-break spaces", "\u00a0анна\u00a0\u00a0мария\u00a0",
	    "Анна Мария", "анна мария"),
	OK("mixed blanks", " \t\u00a0анна \u2003 мария", "Анна Мария",
	    "анна мария"),
	OK("trailing newline", "Маша\n", "Маша", "маша"),
	OK("crlf around", "\r\nМаша\r\n", "Маша", "маша"),
	/* Limits. */
	OK("three words", "анна мария петровна", "Анна Мария Петровна",
	    "анна мария петровна"),
	OK("32 letters", "абвгдежзийклмнопрстуфхцчшщъыьэюя",
	    "Абвгдежзийклмнопрстуфхцчшщъыьэюя",
	    "абвгдежзийклмнопрстуфхцчшщъыьэюя"),
	OK("32 letters with hyphen and space",
	    "aaaaaaaaaaaaaaaa-bbbbbbbb bbbbbbbb",
	    "Aaaaaaaaaaaaaaaa-Bbbbbbbb Bbbbbbbb",
	    "aaaaaaaaaaaaaaaa-bbbbbbbb bbbbbbbb"),
	BAD("33 letters", "абвгдежзийклмнопрстуфхцчшщъыьэюяё", NAMES_TOO_LONG),
	BAD("33 latin letters", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    NAMES_TOO_LONG),
	BAD("four words", "анна мария петровна иванова",
	    NAMES_TOO_MANY_WORDS),
	BAD("four one-letter words", "a b c d", NAMES_TOO_MANY_WORDS),
	/* Empty. */
	BAD("empty string", "", NAMES_EMPTY),
	BAD("spaces only", "   ", NAMES_EMPTY),
	BAD("blanks only", " \t\r\n ", NAMES_EMPTY),
	BAD("no-break space only", "\u00a0", NAMES_EMPTY),
	/* Invalid UTF-8. */
	BAD("truncated sequence", "\xd0", NAMES_BAD_UTF8),
	BAD("truncated at end", "Ма\xd1", NAMES_BAD_UTF8),
	BAD("truncated 3-byte", "\xe2\x80", NAMES_BAD_UTF8),
	BAD("overlong slash", "\xc0\xaf", NAMES_BAD_UTF8),
	BAD("overlong 3-byte", "\xe0\x80\xaf", NAMES_BAD_UTF8),
	BAD("surrogate", "\xed\xa0\x80", NAMES_BAD_UTF8),
	BAD("byte 0xff", "\xff", NAMES_BAD_UTF8),
	BAD("lone continuation", "Маша\x80", NAMES_BAD_UTF8),
	BAD("past U+10FFFF", "\xf4\x90\x80\x80", NAMES_BAD_UTF8),
	/* Digits. */
	BAD("trailing digit", "Маша2", NAMES_DIGITS),
	BAD("digits only", "2020", NAMES_DIGITS),
	BAD("digits inside", "R2D2", NAMES_DIGITS),
	BAD("superscript two", "Маша\u00b2", NAMES_DIGITS),
	BAD("roman numeral", "Пётр \u2160", NAMES_DIGITS),
	BAD("arabic-indic digit", "Маша\u0663", NAMES_DIGITS),
	/* Emoji and symbols. */
	BAD("emoji", "Маша\U0001F600", NAMES_EMOJI),
	BAD("emoji only", "\U0001F600", NAMES_EMOJI),
	BAD("zwj family", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
	    NAMES_EMOJI),
	BAD("zwj sequence after name", "Маша \U0001F469\u200d\U0001F4BB",
	    NAMES_EMOJI),
	BAD("flag", "\U0001F1F7\U0001F1FA", NAMES_EMOJI),
	BAD("tag flag",
	    "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067"
	    "\U000E007F", NAMES_EMOJI),
	BAD("heart with VS16", "Маша \u2764\ufe0f", NAMES_EMOJI),
	BAD("skin tone", "\U0001F44D\U0001F3FD", NAMES_EMOJI),
	BAD("keycap", "1\ufe0f\u20e3", NAMES_EMOJI),
	BAD("copyright sign", "Маша\u00a9", NAMES_EMOJI),
	BAD("currency", "Маша$", NAMES_EMOJI),
	/* URLs, e-mail, mentions. */
	BAD("http", "http://x", NAMES_URL),
	BAD("https t.me", "https://t.me/x", NAMES_URL),
	BAD("www", "www.x.ru", NAMES_URL),
	BAD("bare www", "WWW.x", NAMES_URL),
	BAD("t.me", "t.me/x", NAMES_URL),
	BAD("domain", "x.ru", NAMES_URL),
	BAD("cyrillic domain", "маша.рф", NAMES_URL),
	BAD("mention", "@user", NAMES_URL),
	BAD("e-mail", "masha@mail.ru", NAMES_URL),
	/* Markup. */
	BAD("html tag", "<b>", NAMES_MARKUP),
	BAD("html around name", "<b>Маша</b>", NAMES_MARKUP),
	BAD("bold", "*Маша*", NAMES_MARKUP),
	BAD("italic", "_Маша_", NAMES_MARKUP),
	BAD("code", "`Маша`", NAMES_MARKUP),
	BAD("markdown link", "[x](y)", NAMES_MARKUP),
	BAD("ampersand", "Маша & Петя", NAMES_MARKUP),
	BAD("entity", "Маша&amp;", NAMES_MARKUP),
	BAD("strike", "~Маша~", NAMES_MARKUP),
	BAD("hash", "#маша", NAMES_MARKUP),
	/* Control, zero-width, bidi, invisible. */
	BAD("zero-width space", "Ма\u200bша", NAMES_CONTROL),
	BAD("zero-width space only", "\u200b", NAMES_CONTROL),
	BAD("zwnj", "Ма\u200cша", NAMES_CONTROL),
	BAD("zwj between letters", "Ма\u200dша", NAMES_CONTROL),
	BAD("lrm", "Маша\u200e", NAMES_CONTROL),
	BAD("rlm", "\u200fМаша", NAMES_CONTROL),
	BAD("lre", "\u202aМаша", NAMES_CONTROL),
	BAD("rlo", "\u202eашаМ", NAMES_CONTROL),
	BAD("lri", "\u2066Маша\u2069", NAMES_CONTROL),
	BAD("bom", "\ufeffМаша", NAMES_CONTROL),
	BAD("soft hyphen", "Ма\u00adша", NAMES_CONTROL),
	BAD("word joiner", "Ма\u2060ша", NAMES_CONTROL),
	BAD("variation selector", "Маша\ufe0f", NAMES_CONTROL),
	BAD("hangul filler", "\u3164", NAMES_CONTROL),
	BAD("private use", "Ма\ue000ша", NAMES_CONTROL),
	BAD("bell", "Маша\a", NAMES_CONTROL),
	BAD("escape", "Маша\x1b", NAMES_CONTROL),
	BAD("delete", "Ма\x7fша", NAMES_CONTROL),
	{ "nul inside", "Ма\0ша", 9, NAMES_CONTROL, NULL, NULL },
	BAD("newline inside", "Маша\nПетя", NAMES_CONTROL),
	BAD("line separator inside", "Маша\u2028Петя", NAMES_CONTROL),
	/* Mixed scripts inside one word. */
	BAD("latin a in cyrillic", "Мaшa", NAMES_MIXED_SCRIPT),
	BAD("cyrillic a in latin", "P\u0430ul", NAMES_MIXED_SCRIPT),
	BAD("cyrillic o in latin", "J\u043ehn", NAMES_MIXED_SCRIPT),
	BAD("hyphenated across scripts", "Анна-Maria", NAMES_MIXED_SCRIPT),
	/* Punctuation. */
	BAD("leading hyphen", "-Маша", NAMES_BAD_PUNCT),
	BAD("trailing hyphen", "Маша-", NAMES_BAD_PUNCT),
	BAD("doubled hyphen", "Анна--Мария", NAMES_BAD_PUNCT),
	BAD("spaced hyphen", "Анна - Мария", NAMES_BAD_PUNCT),
	BAD("hyphen before space", "Анна- Мария", NAMES_BAD_PUNCT),
	BAD("leading apostrophe", "'Маша", NAMES_BAD_PUNCT),
	BAD("trailing apostrophe", "Маша\u2019", NAMES_BAD_PUNCT),
	BAD("doubled apostrophe", "д''артаньян", NAMES_BAD_PUNCT),
	BAD("hyphen then apostrophe", "Анна-'Мария", NAMES_BAD_PUNCT),
	BAD("trailing dot", "Маша.", NAMES_BAD_PUNCT),
	BAD("initials", "А.С.", NAMES_BAD_PUNCT),
	BAD("comma", "Маша, Петя", NAMES_BAD_PUNCT),
	BAD("exclamation", "Маша!", NAMES_BAD_PUNCT),
	BAD("guillemets", "\u00abМаша\u00bb", NAMES_BAD_PUNCT),
	BAD("parentheses", "(Маша)", NAMES_BAD_PUNCT),
	BAD("em dash", "Анна\u2014Мария", NAMES_BAD_PUNCT),
	BAD("double quote", "\"Маша\"", NAMES_BAD_PUNCT),
	/* Letters we do not accept. */
	BAD("cjk", "\u738b", NAMES_NOT_LETTERS),
	BAD("arabic", "\u0645\u062d\u0645\u062f", NAMES_NOT_LETTERS),
	BAD("hebrew", "\u05e9\u05e8\u05d4", NAMES_NOT_LETTERS),
	BAD("greek", "\u0391\u03bb\u03ad\u03be\u03b7\u03c2", NAMES_NOT_LETTERS),
	BAD("greek omicron in latin word", "J\u03bfhn", NAMES_NOT_LETTERS),
	BAD("fullwidth latin", "\uff2d\uff41\uff53\uff48\uff41",
	    NAMES_NOT_LETTERS),
	BAD("ligature", "\ufb00", NAMES_NOT_LETTERS),
	BAD("mathematical bold", "\U0001D40C\U0001D41A", NAMES_NOT_LETTERS),
	BAD("ordinal indicator", "\u00aaнна", NAMES_NOT_LETTERS),
	BAD("leading combining mark", "\u0301Маша", NAMES_NOT_LETTERS),
	BAD("stacked combining marks", "Ма\u0301\u0301ша", NAMES_NOT_LETTERS),
	BAD("cyrillic titlo", "Ма\u0483ша", NAMES_NOT_LETTERS),
};

/* Run one table case. */
static void
check_case(const struct name_case *c)
{
	char			*display, *key;
	size_t			 len;
	enum names_error	 got;

	len = c->len < 0 ? strlen(c->in) : (size_t)c->len;
	got = names_normalize(c->in, len, &display, &key);
	UNIT_CHECK(got == c->want, "%s: %s (want %s)", c->desc,
	    names_error_id(got), names_error_id(c->want));
	if (c->want == NAMES_OK) {
		UNIT_STREQ(display, c->display, "%s: display", c->desc);
		UNIT_STREQ(key, c->key, "%s: key", c->desc);
	} else
		UNIT_CHECK(display == NULL && key == NULL,
		    "%s: no output on error", c->desc);
	free(display);
	free(key);
}

/* The key of a name, or NULL if it is not valid (caller frees). */
static char *
key_of(const char *in)
{
	char	*display, *key;

	if (names_normalize(in, strlen(in), &display, &key) != NAMES_OK)
		return NULL;
	free(display);
	return key;
}

/* Whether two names share a dedup key. */
static int
same_key(const char *a, const char *b)
{
	char	*ka = key_of(a), *kb = key_of(b);
	int	 same = ka != NULL && kb != NULL && strcmp(ka, kb) == 0;

	free(ka);
	free(kb);
	return same;
}

/* Keys are equal across case, spacing and normalisation variants. */
static void
check_keys(void)
{
	UNIT_CHECK(same_key("Маша", "МАША") && same_key("Маша", "маша") &&
	    same_key("Маша", "  мАшА\t"), "keys equal across case variants");
	UNIT_CHECK(same_key("Йозеф", "И\u0306озеф"),
	    "decomposed input has the composed key");
	UNIT_CHECK(same_key("анна-мария", "АННА\u2011МАРИЯ"),
	    "hyphen variants share a key");
	UNIT_CHECK(same_key("д'артаньян", "Д\u2019Артаньян"),
	    "apostrophe variants share a key");
	UNIT_CHECK(!same_key("Ёжик", "Ежик"), "yo and ye keys differ");
	UNIT_CHECK(!same_key("Анна Мария", "Анна-Мария"),
	    "space and hyphen keys differ");
}

/* One input and the stress names_normalize_stress must find in it. */
struct stress_case {
	const char		*in;
	enum names_error	 want;
	const char		*display;
	const char		*stress;
};

static const struct stress_case stress_cases[] = {
	{ "Мария", NAMES_OK, "Мария", "" },
	{ "МарИя", NAMES_OK, "Мария", "2" },
	{ "марИя", NAMES_OK, "Мария", "2" },
	{ "мариЯ", NAMES_OK, "Мария", "3" },
	{ "Мари\u0301я", NAMES_OK, "Мария", "2" },
	{ "Ма\u0301рия", NAMES_OK, "Мария", "1" },
	{ "И\u0301рина", NAMES_OK, "Ирина", "1" },
	{ "Мари\u0300я", NAMES_OK, "Мария", "2" },
	{ "Мар\u045dя", NAMES_OK, "Мария", "2" },
	{ "\u040dрина", NAMES_OK, "Ирина", "1" },
	{ "Мáрия", NAMES_OK, "Мария", "1" },
	{ "Ирина\u0301", NAMES_OK, "Ирина", "3" },
	{ "АннА", NAMES_OK, "Анна", "2" },
	{ "Анна-Мария", NAMES_OK, "Анна-Мария", "" },
	{ "анна-мария", NAMES_OK, "Анна-Мария", "" },
	{ "АННА", NAMES_OK, "Анна", "" },
	{ "АННА-МАРИЯ", NAMES_OK, "Анна-Мария", "" },
	{ "мАША", NAMES_OK, "Маша", "" },
	{ "маШа", NAMES_OK, "Маша", "" },
	{ "МарИЯ", NAMES_OK, "Мария", "" },
	{ "Анна-МарИя", NAMES_OK, "Анна-Мария", "0,2" },
	{ "АннА-Мария", NAMES_OK, "Анна-Мария", "2" },
	{ "Анна МарИя ПетрОвна", NAMES_OK, "Анна Мария Петровна", "0,2,2" },
	{ "Мари\u0301я И\u0301ванова", NAMES_OK, "Мария Иванова", "2,1" },
	{ "ИринА", NAMES_OK, "Ирина", "3" },
	{ "JosÉ", NAMES_OK, "José", "" },
	{ "José", NAMES_OK, "José", "" },
	{ "MarIa", NAMES_OK, "Maria", "" },
	{ "Мар\u0301ия", NAMES_BAD_STRESS, NULL, NULL },
	{ "Ма\u0301ри\u0301я", NAMES_BAD_STRESS, NULL, NULL },
	{ "Мар\u045d\u0301я", NAMES_BAD_STRESS, NULL, NULL },
	{ "Мáрия Smith", NAMES_OK, "Мария Smith", "1" },
	{ "Мáriя", NAMES_MIXED_SCRIPT, NULL, NULL },
};

/* The stress a parent marks: found, and never in the display form. */
static void
check_stress(void)
{
	char	*display, *key, *stress;

	for (size_t i = 0; i < sizeof stress_cases / sizeof stress_cases[0]; i++) {
		const struct stress_case *c = &stress_cases[i];
		enum names_error e = names_normalize_stress(c->in, strlen(c->in), &display,
		    &key, &stress);

		UNIT_CHECK(e == c->want, "stress %s: %s (want %s)", c->in, names_error_id(e),
		    names_error_id(c->want));
		if (e == NAMES_OK && c->want == NAMES_OK) {
			UNIT_STREQ(display, c->display, "stress %s: display", c->in);
			UNIT_STREQ(stress, c->stress, "stress %s: stress", c->in);
		} else
			UNIT_CHECK(display == NULL && key == NULL && stress == NULL,
			    "stress %s: no output on error", c->in);
		free(display);
		free(key);
		free(stress);
	}
	UNIT_CHECK(same_key("МарИя", "Мария") && same_key("Мари\u0301я", "мария"),
	    "a stress mark is not part of the name's key");
	UNIT_STREQ(names_normalize_stress("Ирина", 10, &display, &key, NULL) == NAMES_OK ?
	    display : "", "Ирина", "the stress may be left out");
	free(display);
	free(key);
}

/* Stress text against a display form; the spoken form and its key. */
static void
check_stress_text(void)
{
	struct names_stress	 st;
	char			*s;

	UNIT_CHECK(names_stress_parse("Анна-Мария", "0,2", &st) == 0 && st.parts == 2 &&
	    st.vowels[0] == 2 && st.vowels[1] == 3 && st.mark[0] == 0 && st.mark[1] == 2,
	    "parse 0,2 of Анна-Мария");
	UNIT_CHECK(names_stress_parse("Мария", "", &st) == 0 && st.parts == 1 &&
	    st.mark[0] == 0, "parse the empty stress");
	UNIT_CHECK(names_stress_parse("Мария", "4", &st) == -1, "past the vowels");
	UNIT_CHECK(names_stress_parse("Мария", "1,1", &st) == -1, "past the parts");
	UNIT_CHECK(names_stress_parse("Мария", "2,", &st) == -1, "trailing comma");
	UNIT_CHECK(names_stress_parse("Мария", "x", &st) == -1, "not digits");
	UNIT_CHECK(names_stress_parse("Мария", "-1", &st) == -1, "a sign");
	UNIT_CHECK(names_stress_parse("Мария", "99999999999999999999", &st) == -1,
	    "a huge index");
	UNIT_CHECK(names_stress_parse("John", "1", &st) == -1, "a Latin word has no vowels to mark");
	st.parts = 3, st.mark[0] = 0, st.mark[1] = 2, st.mark[2] = 0;
	s = names_stress_format(&st);
	UNIT_STREQ(s, "0,2", "format drops trailing zeros");
	free(s);
	st.mark[1] = 0;
	s = names_stress_format(&st);
	UNIT_STREQ(s, "", "format of no stress");
	free(s);
	s = names_spoken("Анна-Мария", "0,2");
	UNIT_STREQ(s, "Анна-Мари\u0301я", "spoken form has the accent");
	free(s);
	s = names_spoken("Мария", "");
	UNIT_STREQ(s, "Мария", "spoken form of no stress");
	free(s);
	s = names_stress_key("Мария", "2");
	UNIT_STREQ(s, "мари\u0301я", "the key as spoken");
	free(s);
	s = names_stress_key("Мария", "");
	UNIT_STREQ(s, "мария", "the key of no stress is the name's key");
	free(s);
	s = names_stress_label("Анна-Мария", 1, 3);
	UNIT_STREQ(s, "Мария\u0301", "label of a vowel: the part as displayed, an accent after it");
	free(s);
	s = names_stress_label("Анна-Мария", 0, 1);
	UNIT_STREQ(s, "А\u0301нна", "label of a capital first letter keeps the capital");
	free(s);
	s = names_stress_label("Маша", 0, 1);
	UNIT_STREQ(s, "Ма\u0301ша", "Ма́ша, not мАша");
	free(s);
	s = names_stress_label("Маша", 0, 2);
	UNIT_STREQ(s, "Маша\u0301", "Маша́, not машА");
	free(s);
	s = names_stress_label("Ирина", 0, 1);
	UNIT_STREQ(s, "И\u0301рина", "label of the first letter");
	free(s);
	s = names_stress_label("Алёна", 0, 2);
	UNIT_STREQ(s, "Алё\u0301на", "ё is a vowel like the others");
	free(s);
	/* NFC keeps the mark after its vowel: no Cyrillic letter has a
	 * precomposed acute that would swallow it. */
	{
		uint8_t *nfc;
		size_t len;

		s = names_stress_label("Екатерина", 0, 4);
		nfc = u8_normalize(UNINORM_NFC, (const uint8_t *)s, strlen(s) + 1, NULL, &len);
		UNIT_CHECK(nfc != NULL && strcmp((const char *)nfc, s) == 0 &&
		    strcmp(s, "Екатери\u0301на") == 0, "a label is its own NFC form");
		free(nfc);
		free(s);
	}
	UNIT_CHECK(names_stress_label("Ирина", 0, 4) == NULL && names_stress_label("Ирина",
	    1, 1) == NULL, "no label past the vowels or parts");
	/* What the bot's button makes of a label, the parent can type. */
	{
		char *d, *k, *st2, *label = names_stress_label("Екатерина", 0, 2);

		UNIT_CHECK(names_normalize_stress(label, strlen(label), &d, &k, &st2) ==
		    NAMES_OK && strcmp(st2, "2") == 0, "a label typed back marks its vowel");
		free(label);
		free(d);
		free(k);
		free(st2);
	}
}

/* Error ids are stable, distinct and named after the error. */
static void
check_ids(void)
{
	int	i, j, distinct = 1;

	for (i = NAMES_OK; i <= NAMES_BAD_STRESS; i++)
		for (j = i + 1; j <= NAMES_BAD_STRESS; j++)
			if (strcmp(names_error_id(i), names_error_id(j)) == 0)
				distinct = 0;
	UNIT_CHECK(distinct, "error ids are distinct");
	UNIT_STREQ(names_error_id(NAMES_EMPTY), "name_empty", "id of empty");
	UNIT_STREQ(names_error_id(NAMES_TOO_LONG), "name_too_long",
	    "id of too long");
	UNIT_STREQ(names_error_id(NAMES_DIGITS), "name_digits", "id of digits");
	UNIT_STREQ(names_error_id(NAMES_MIXED_SCRIPT), "name_mixed_script",
	    "id of mixed script");
}

/* A 10 KB input is rejected on its size, before any other work. */
static void
check_huge(void)
{
	char	*big, *display, *key;

	big = malloc(10240);
	memset(big, 'a', 10240);
	UNIT_CHECK(names_normalize(big, 10240, &display, &key) ==
	    NAMES_TOO_LONG, "10 KB input is too long");
	memset(big, ' ', 300);
	memcpy(big + 100, "Маша", strlen("Маша"));
	UNIT_CHECK(names_normalize(big, 300, &display, &key) ==
	    NAMES_TOO_LONG, "257+ bytes of mostly spaces is too long");
	memcpy(big, "\xff\xfe", 2);
	UNIT_CHECK(names_normalize(big, 10240, &display, &key) ==
	    NAMES_TOO_LONG, "10 KB of invalid UTF-8 is too long");
	free(big);
}

/* Whether a valid name's display form validates to itself, same key. */
static int
idempotent(const char *in, size_t len, int *valid)
{
	char			*d1, *k1, *d2, *k2;
	enum names_error	 e;
	int			 ok;

	*valid = 0;
	if (names_normalize(in, len, &d1, &k1) != NAMES_OK)
		return 1;
	*valid = 1;
	e = names_normalize(d1, strlen(d1), &d2, &k2);
	ok = e == NAMES_OK && strcmp(d1, d2) == 0 && strcmp(k1, k2) == 0;
	if (!ok)
		printf("# not idempotent: \"%s\" -> %s\n", d1,
		    names_error_id(e));
	free(d1);
	free(k1);
	free(d2);
	free(k2);
	return ok;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64: a fixed, portable sequence. */
static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Pieces that make valid names likely when strung together at random. */
static const char *pieces[] = {
	"а", "Б", "ё", "Й", "і", "ї", "ґ", "ў", "ә", "a", "Z", "é", "ß", "ÿ",
	"ı", "İ", " ", "  ", "\t", "\u00a0", "-", "'", "\u2019", "\u0301",
	"\u0307", "\u0306", "и", "е", "\u200b", "1", ".", "@", "*", "\n",
	"\xd0", "\xff", "\U0001F600",
};

/* Build a random input: raw bytes, or valid-ish pieces. */
static size_t
random_input(char *buf, size_t size)
{
	size_t	len = 0, n, i;
	const char *p;

	n = rng() % 24;
	if (rng() % 2) {
		for (i = 0; i < n; i++)
			buf[len++] = (char)(rng() & 0xff);
		return len;
	}
	for (i = 0; i < n; i++) {
		p = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
		if (len + strlen(p) > size)
			break;
		memcpy(buf + len, p, strlen(p));
		len += strlen(p);
	}
	return len;
}

/* 100k random inputs: no crash, and every display form is stable. */
static void
check_fuzz(void)
{
	char	buf[256];
	size_t	len;
	int	i, valid, nvalid = 0, bad = 0;

	for (i = 0; i < 100000; i++) {
		len = random_input(buf, sizeof buf);
		if (!idempotent(buf, len, &valid))
			bad++;
		nvalid += valid;
	}
	printf("# fuzz: %d of 100000 inputs valid\n", nvalid);
	UNIT_CHECK(nvalid > 1000, "fuzz reaches valid names");
	UNIT_CHECK(bad == 0, "fuzz: display forms re-validate to themselves");
}

/* Every code point, doubled ("xx": upper then lower case) and with each
 * combining diacritic, gives a display form that validates to itself. */
static void
check_every_code_point(void)
{
	uint8_t		buf[32];
	uint32_t	s[4], uc, mark;
	size_t		len;
	int		valid, bad = 0, letters = 0;

	for (uc = 0; uc <= 0x10ffff; uc++) {
		if (uc >= 0xd800 && uc <= 0xdfff)
			continue;
		s[0] = s[1] = uc;
		len = sizeof buf;
		u32_to_u8(s, 2, buf, &len);
		if (!idempotent((char *)buf, len, &valid))
			bad++;
		if (!valid)
			continue;
		letters++;
		for (mark = 0x300; mark <= 0x36f; mark++) {
			s[0] = s[2] = uc;
			s[1] = s[3] = mark;
			len = sizeof buf;
			u32_to_u8(s, 4, buf, &len);
			if (!idempotent((char *)buf, len, &valid))
				bad++;
		}
	}
	printf("# %d code points accepted as letters\n", letters);
	UNIT_CHECK(bad == 0, "every code point: display forms are stable");
}

int
main(void)
{
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
	printf("# %zu table cases\n", sizeof cases / sizeof cases[0]);
	check_keys();
	check_stress();
	check_stress_text();
	check_ids();
	check_huge();
	check_fuzz();
	check_every_code_point();
	return unit_done();
}
