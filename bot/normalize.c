/*
 * normalize.c - raw post text to the forms every matcher reads.
 *
 * Two linear passes over at most TEXT_MAX_INPUT bytes:
 *   1. decode: repair UTF-8, decode HTML entities, blank control characters
 *      (into t->scratch; skipped when a word-at-a-time scan finds nothing
 *      but printable ASCII without '&', the common case);
 *   2. main:   drop URLs and @mentions and write t->plain, count the case and
 *      punctuation features, and write t->norm (case folding, compatibility
 *      decomposition, accents and punctuation folded, one space between
 *      tokens) in the same loop.
 * Bytes below 0x80 take table-driven paths with the loop state in locals;
 * utf8proc is called only for non-ASCII code points.  The buffers of struct
 * text grow to the largest input seen and are then reused, so a warm struct
 * text never allocates.
 *
 * Choices beyond normalize.h: a symbol whose compatibility decomposition is
 * letters or digits reads as those ("Ⓡⓔⓕⓤⓝⓓ" -> "refund", "™" -> "tm"),
 * so decorated text cannot dodge a rule; emoji skin tones, variation
 * selectors and zero-width joiners are dropped ("👍🏽" -> "👍"), a flag's two
 * regional indicators stay one token; Han, Hiragana and Katakana characters
 * are one token each, so phrases in those scripts match inside sentences
 * written without spaces; the Turkish dotless ı reads as i.
 */
#include "normalize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "util.h"

/* Folding applied to every non-ASCII code point of the norm form.  DECOMPOSE
 * is what makes COMPAT and STRIPMARK act on a single code point; IGNORE
 * drops default-ignorables (soft hyphen, zero-width space and joiners,
 * variation selectors), so "ref\u00ADund" still reads "refund". */
#define FOLD_OPTS                                                                                            \
	(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE)

/* The longest decomposition in Unicode is 18 code points (U+FDFA). */
#define DECOMP_MAX 32
/* Upper bound of norm bytes written for one non-ASCII code point. */
#define SLOW_OUT_MAX (DECOMP_MAX * 5 + 16)

/* ---------------------------------------------------------------- ASCII tables */

enum {
	A_WORD = 1,     /* letter or digit */
	A_UPPER = 2,    /* A-Z */
	A_SPACE = 4,    /* space, \t, \n, \r, \v, \f */
	A_APOS = 8,     /* apostrophe or backtick: dropped inside a word */
	A_EMO = 16,     /* may start an emoticon */
	A_SPECIAL = 32, /* needs pass 1: '&', control characters, DEL */
	A_ALPHA = 64,   /* a-z A-Z */
	A_LINK = 128    /* h H w W: may start a URL */
};

/* The class of an ASCII byte, as a constant expression for the table. */
#define ACLASS(c)                                                                                            \
	((((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') ? A_WORD : 0) |                           \
	 ((c) >= 'A' && (c) <= 'Z' ? A_WORD | A_UPPER : 0) |                                                 \
	 ((c) == ' ' || ((c) >= '\t' && (c) <= '\r') ? A_SPACE : 0) |                                        \
	 ((c) == '\'' || (c) == '`' ? A_APOS : 0) |                                                          \
	 ((c) == ':' || (c) == ';' || (c) == '=' || (c) == '<' ? A_EMO : 0) |                                \
	 ((c) == '&' || ((c) < 0x20 && (c) != '\t' && (c) != '\n' && (c) != '\r') || (c) == 0x7f ? A_SPECIAL \
	                                                                                         : 0) |      \
	 (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ? A_ALPHA : 0) |                          \
	 ((c) == 'h' || (c) == 'H' || (c) == 'w' || (c) == 'W' ? A_LINK : 0))

#define C4(c)  ACLASS(c), ACLASS(c + 1), ACLASS(c + 2), ACLASS(c + 3)
#define C16(c) C4(c), C4(c + 4), C4(c + 8), C4(c + 12)
/* Bytes >= 0x80 are 0: they take the non-ASCII paths. */
static const uint8_t acls[256] = {C16(0), C16(16), C16(32), C16(48), C16(64), C16(80), C16(96), C16(112)};
#undef C4
#undef C16

static inline int is_ascii_word(unsigned char c)
{
	return acls[c] & A_WORD;
}

/* ---------------------------------------------------------------- buffers */

void text_init(struct text *t)
{
	memset(t, 0, sizeof(*t));
}

void text_free(struct text *t)
{
	free(t->norm);
	free(t->plain);
	free(t->scratch);
	memset(t, 0, sizeof(*t));
}

/* Grow p to at least `need` bytes.  Buffers only grow, so after the first
 * few posts text_normalize() stops allocating. */
static void *reserve(void *p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	*cap = n;
	return xrealloc(p, n);
}

static size_t put_utf8(unsigned char *out, int32_t cp)
{
	return (size_t)utf8proc_encode_char(cp, out);
}

/* Decode one code point of text already known to be valid UTF-8. */
static size_t get_utf8(const unsigned char *s, size_t n, int32_t *cp)
{
	utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, cp);
	if (k <= 0) {
		*cp = 0xFFFD;
		return 1;
	}
	return (size_t)k;
}

/* ---------------------------------------------------------------- pass 1: decode */

struct entity {
	const char *name;
	int32_t cp;
};

/* The HTML 4 named entities plus &apos; and the upper-case forms HTML
 * accepts for the markup characters; sorted by strcmp for bsearch. */
static const struct entity entities[] = {
    {"AElig", 0xC6},    {"AMP", 0x26},      {"Aacute", 0xC1},   {"Acirc", 0xC2},     {"Agrave", 0xC0},
    {"Alpha", 0x391},   {"Aring", 0xC5},    {"Atilde", 0xC3},   {"Auml", 0xC4},      {"Beta", 0x392},
    {"Ccedil", 0xC7},   {"Chi", 0x3A7},     {"Dagger", 0x2021}, {"Delta", 0x394},    {"ETH", 0xD0},
    {"Eacute", 0xC9},   {"Ecirc", 0xCA},    {"Egrave", 0xC8},   {"Epsilon", 0x395},  {"Eta", 0x397},
    {"Euml", 0xCB},     {"GT", 0x3E},       {"Gamma", 0x393},   {"Iacute", 0xCD},    {"Icirc", 0xCE},
    {"Igrave", 0xCC},   {"Iota", 0x399},    {"Iuml", 0xCF},     {"Kappa", 0x39A},    {"LT", 0x3C},
    {"Lambda", 0x39B},  {"Mu", 0x39C},      {"Ntilde", 0xD1},   {"Nu", 0x39D},       {"OElig", 0x152},
    {"Oacute", 0xD3},   {"Ocirc", 0xD4},    {"Ograve", 0xD2},   {"Omega", 0x3A9},    {"Omicron", 0x39F},
    {"Oslash", 0xD8},   {"Otilde", 0xD5},   {"Ouml", 0xD6},     {"Phi", 0x3A6},      {"Pi", 0x3A0},
    {"Prime", 0x2033},  {"Psi", 0x3A8},     {"QUOT", 0x22},     {"Rho", 0x3A1},      {"Scaron", 0x160},
    {"Sigma", 0x3A3},   {"THORN", 0xDE},    {"Tau", 0x3A4},     {"Theta", 0x398},    {"Uacute", 0xDA},
    {"Ucirc", 0xDB},    {"Ugrave", 0xD9},   {"Upsilon", 0x3A5}, {"Uuml", 0xDC},      {"Xi", 0x39E},
    {"Yacute", 0xDD},   {"Yuml", 0x178},    {"Zeta", 0x396},    {"aacute", 0xE1},    {"acirc", 0xE2},
    {"acute", 0xB4},    {"aelig", 0xE6},    {"agrave", 0xE0},   {"alefsym", 0x2135}, {"alpha", 0x3B1},
    {"amp", 0x26},      {"and", 0x2227},    {"ang", 0x2220},    {"apos", 0x27},      {"aring", 0xE5},
    {"asymp", 0x2248},  {"atilde", 0xE3},   {"auml", 0xE4},     {"bdquo", 0x201E},   {"beta", 0x3B2},
    {"brvbar", 0xA6},   {"bull", 0x2022},   {"cap", 0x2229},    {"ccedil", 0xE7},    {"cedil", 0xB8},
    {"cent", 0xA2},     {"chi", 0x3C7},     {"circ", 0x2C6},    {"clubs", 0x2663},   {"cong", 0x2245},
    {"copy", 0xA9},     {"crarr", 0x21B5},  {"cup", 0x222A},    {"curren", 0xA4},    {"dArr", 0x21D3},
    {"dagger", 0x2020}, {"darr", 0x2193},   {"deg", 0xB0},      {"delta", 0x3B4},    {"diams", 0x2666},
    {"divide", 0xF7},   {"eacute", 0xE9},   {"ecirc", 0xEA},    {"egrave", 0xE8},    {"empty", 0x2205},
    {"emsp", 0x2003},   {"ensp", 0x2002},   {"epsilon", 0x3B5}, {"equiv", 0x2261},   {"eta", 0x3B7},
    {"eth", 0xF0},      {"euml", 0xEB},     {"euro", 0x20AC},   {"exist", 0x2203},   {"fnof", 0x192},
    {"forall", 0x2200}, {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},    {"frasl", 0x2044},
    {"gamma", 0x3B3},   {"ge", 0x2265},     {"gt", 0x3E},       {"hArr", 0x21D4},    {"harr", 0x2194},
    {"hearts", 0x2665}, {"hellip", 0x2026}, {"iacute", 0xED},   {"icirc", 0xEE},     {"iexcl", 0xA1},
    {"igrave", 0xEC},   {"image", 0x2111},  {"infin", 0x221E},  {"int", 0x222B},     {"iota", 0x3B9},
    {"iquest", 0xBF},   {"isin", 0x2208},   {"iuml", 0xEF},     {"kappa", 0x3BA},    {"lArr", 0x21D0},
    {"lambda", 0x3BB},  {"lang", 0x2329},   {"laquo", 0xAB},    {"larr", 0x2190},    {"lceil", 0x2308},
    {"ldquo", 0x201C},  {"le", 0x2264},     {"lfloor", 0x230A}, {"lowast", 0x2217},  {"loz", 0x25CA},
    {"lrm", 0x200E},    {"lsaquo", 0x2039}, {"lsquo", 0x2018},  {"lt", 0x3C},        {"macr", 0xAF},
    {"mdash", 0x2014},  {"micro", 0xB5},    {"middot", 0xB7},   {"minus", 0x2212},   {"mu", 0x3BC},
    {"nabla", 0x2207},  {"nbsp", 0xA0},     {"ndash", 0x2013},  {"ne", 0x2260},      {"ni", 0x220B},
    {"not", 0xAC},      {"notin", 0x2209},  {"nsub", 0x2284},   {"ntilde", 0xF1},    {"nu", 0x3BD},
    {"oacute", 0xF3},   {"ocirc", 0xF4},    {"oelig", 0x153},   {"ograve", 0xF2},    {"oline", 0x203E},
    {"omega", 0x3C9},   {"omicron", 0x3BF}, {"oplus", 0x2295},  {"or", 0x2228},      {"ordf", 0xAA},
    {"ordm", 0xBA},     {"oslash", 0xF8},   {"otilde", 0xF5},   {"otimes", 0x2297},  {"ouml", 0xF6},
    {"para", 0xB6},     {"part", 0x2202},   {"permil", 0x2030}, {"perp", 0x22A5},    {"phi", 0x3C6},
    {"pi", 0x3C0},      {"piv", 0x3D6},     {"plusmn", 0xB1},   {"pound", 0xA3},     {"prime", 0x2032},
    {"prod", 0x220F},   {"prop", 0x221D},   {"psi", 0x3C8},     {"quot", 0x22},      {"rArr", 0x21D2},
    {"radic", 0x221A},  {"rang", 0x232A},   {"raquo", 0xBB},    {"rarr", 0x2192},    {"rceil", 0x2309},
    {"rdquo", 0x201D},  {"real", 0x211C},   {"reg", 0xAE},      {"rfloor", 0x230B},  {"rho", 0x3C1},
    {"rlm", 0x200F},    {"rsaquo", 0x203A}, {"rsquo", 0x2019},  {"sbquo", 0x201A},   {"scaron", 0x161},
    {"sdot", 0x22C5},   {"sect", 0xA7},     {"shy", 0xAD},      {"sigma", 0x3C3},    {"sigmaf", 0x3C2},
    {"sim", 0x223C},    {"spades", 0x2660}, {"sub", 0x2282},    {"sube", 0x2286},    {"sum", 0x2211},
    {"sup", 0x2283},    {"sup1", 0xB9},     {"sup2", 0xB2},     {"sup3", 0xB3},      {"supe", 0x2287},
    {"szlig", 0xDF},    {"tau", 0x3C4},     {"there4", 0x2234}, {"theta", 0x3B8},    {"thetasym", 0x3D1},
    {"thinsp", 0x2009}, {"thorn", 0xFE},    {"tilde", 0x2DC},   {"times", 0xD7},     {"trade", 0x2122},
    {"uArr", 0x21D1},   {"uacute", 0xFA},   {"uarr", 0x2191},   {"ucirc", 0xFB},     {"ugrave", 0xF9},
    {"uml", 0xA8},      {"upsih", 0x3D2},   {"upsilon", 0x3C5}, {"uuml", 0xFC},      {"weierp", 0x2118},
    {"xi", 0x3BE},      {"yacute", 0xFD},   {"yen", 0xA5},      {"yuml", 0xFF},      {"zeta", 0x3B6},
    {"zwj", 0x200D},    {"zwnj", 0x200C},
};

/* Windows-1252 meanings of &#128;..&#159;, as browsers decode them. */
static const uint16_t cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

static int entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct entity *)elem)->name);
}

/*
 * Decode the entity at s[0] == '&'.  Returns the bytes consumed and sets
 * *cp, or 0 when s does not start a known, ';'-terminated entity (the '&'
 * then stays as text: "R&D", "&bogus;").
 */
static size_t entity_decode(const unsigned char *s, size_t n, int32_t *cp)
{
	size_t i = 1;

	if (i < n && s[i] == '#') {
		int hex = 0;
		uint32_t v = 0;
		size_t digits = 0;
		i++;
		if (i < n && (s[i] == 'x' || s[i] == 'X')) {
			hex = 1;
			i++;
		}
		for (; i < n && digits < 8; i++, digits++) {
			unsigned c = s[i], d;
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				d = (c | 0x20) - 'a' + 10;
			else
				break;
			v = v * (hex ? 16 : 10) + d;
		}
		if (digits == 0 || i >= n || s[i] != ';')
			return 0;
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		else if (v >= 0x80 && v <= 0x9F)
			v = cp1252[v - 0x80];
		*cp = (int32_t)v;
		return i + 1;
	}

	char name[12];
	size_t len = 0;
	for (; i < n && len < sizeof(name) - 1; i++) {
		unsigned c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			break;
		name[len++] = (char)c;
	}
	if (len == 0 || i >= n || s[i] != ';')
		return 0;
	name[len] = '\0';
	const struct entity *e =
	    bsearch(name, entities, ARRAY_LEN(entities), sizeof(entities[0]), entity_cmp);
	if (!e)
		return 0;
	*cp = e->cp;
	return i + 1;
}

/* Control characters other than \t \n \r become spaces: they have no
 * meaning in a post and must not reach a terminal or a dashboard. */
static int32_t filter_cp(int32_t cp)
{
	if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F))
		return ' ';
	return cp;
}

/*
 * Pass 1: valid UTF-8 with entities decoded into out (>= 3 * n bytes:
 * an invalid byte becomes the 3-byte U+FFFD; every entity is at least as
 * long as its UTF-8).  Returns the length written.
 */
static size_t pass_decode(const unsigned char *in, size_t n, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned c = in[i];
		if (c < 0x80) {
			if (!(acls[c] & A_SPECIAL)) {
				out[o++] = (unsigned char)c;
				i++;
			} else if (c == '&') {
				int32_t cp;
				size_t used = entity_decode(in + i, n - i, &cp);
				if (used) {
					o += put_utf8(out + o, filter_cp(cp));
					i += used;
				} else {
					out[o++] = '&';
					i++;
				}
			} else {
				out[o++] = ' ';
				i++;
			}
			continue;
		}
		int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(in + i, (utf8proc_ssize_t)(n - i), &cp);
		if (k <= 0) {
			o += put_utf8(out + o, 0xFFFD);
			i++;
		} else if (cp <= 0x9F) {
			out[o++] = ' '; /* C1 control */
			i += (size_t)k;
		} else {
			memcpy(out + o, in + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k;
		}
	}
	return o;
}

/* ---------------------------------------------------------------- URLs, mentions */

static int ascii_ieq(const unsigned char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n < l)
		return 0;
	for (size_t i = 0; i < l; i++)
		if ((s[i] | 0x20) != (unsigned char)lit[i])
			return 0;
	return 1;
}

/* A byte that continues a word for the purpose of "is this '@' or 'www.' at
 * the start of a token": letters, digits, '_' and any non-ASCII. */
static int wordish(unsigned char c)
{
	return is_ascii_word(c) || c == '_' || c >= 0x80;
}

/* Is s[i..] a Unicode space (NBSP, U+2000.., U+3000)?  For URL ends. */
static int unicode_space(const unsigned char *s, size_t n, size_t i, size_t *len)
{
	int32_t cp;
	*len = get_utf8(s + i, n - i, &cp);
	return utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS || cp == 0x2028 || cp == 0x2029;
}

/*
 * Length of the URL starting at s[i] ("http://", "https://", "www."), or 0.
 * A URL runs to whitespace or < > "; trailing sentence punctuation and an
 * unbalanced ')' are left as text ("see https://x.example/a." keeps ".").
 */
static size_t url_len(const unsigned char *s, size_t n, size_t i)
{
	size_t start = i, j;

	if (i > 0 && (wordish(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '/' || s[i - 1] == '@'))
		return 0;
	if (ascii_ieq(s + i, n - i, "https://"))
		j = i + 8;
	else if (ascii_ieq(s + i, n - i, "http://"))
		j = i + 7;
	else if (ascii_ieq(s + i, n - i, "www."))
		j = i + 4;
	else
		return 0;
	if (j >= n || !wordish(s[j]))
		return 0;

	int parens = 0;
	while (j < n) {
		unsigned char c = s[j];
		size_t k = 1;
		if (c < 0x80) {
			if ((acls[c] & A_SPACE) || c == '<' || c == '>' || c == '"')
				break;
			if (c == '(')
				parens++;
			else if (c == ')')
				parens--;
		} else if (unicode_space(s, n, j, &k)) {
			break;
		}
		j += k;
	}
	while (j > start) {
		unsigned char c = s[j - 1];
		if (c == ')' && parens < 0) {
			parens++;
			j--;
		} else if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' ||
		           c == '\'' || c == '*' || c == ']' || c == '}') {
			j--;
		} else {
			break;
		}
	}
	return j - start;
}

/* Letters, digits, '_', then '.' and '-' inside ("@alice.bsky.social"),
 * never ending on '.' or '-'.  Returns the length, 0 if none. */
static size_t handle_len(const unsigned char *s, size_t n)
{
	size_t j = 0, last = 0;
	while (j < n && (is_ascii_word(s[j]) || s[j] == '_' || s[j] == '.' || s[j] == '-')) {
		if (s[j] != '.' && s[j] != '-')
			last = j + 1;
		j++;
	}
	return last;
}

/* Length of the @mention at s[i] == '@' ("@user", "@user@host"), or 0.
 * An '@' inside a word is an e-mail address, not a mention. */
static size_t mention_len(const unsigned char *s, size_t n, size_t i)
{
	if (i > 0 && (wordish(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '@'))
		return 0;
	if (i + 1 >= n || !(is_ascii_word(s[i + 1]) || s[i + 1] == '_'))
		return 0;
	size_t j = i + 1 + handle_len(s + i + 1, n - i - 1);
	if (j + 1 < n && s[j] == '@' && is_ascii_word(s[j + 1]))
		j += 1 + handle_len(s + j + 1, n - j - 1);
	return j - i;
}

/* ---------------------------------------------------------------- emoticons */

struct emoticon {
	const char *in, *tok;
	size_t len; /* of in */
};

#define EMO(in, tok)                                                                                         \
	{                                                                                                    \
		in, tok, sizeof(in) - 1                                                                      \
	}
/* Longer forms first where one is a prefix of another. */
static const struct emoticon emoticons[] = {
    EMO(":'-(", ":'("), EMO(":'(", ":'("), EMO(":\xe2\x80\x99(", ":'("),
    EMO(":-)", ":)"),   EMO(":)", ":)"),   EMO(":]", ":)"),
    EMO("=)", ":)"),    EMO(":-(", ":("),  EMO(":(", ":("),
    EMO(":[", ":("),    EMO("=(", ":("),   EMO(":-/", ":/"),
    EMO(":/", ":/"),    EMO(":-\\", ":/"), EMO(":\\", ":/"),
    EMO(":-D", ":d"),   EMO(":D", ":d"),   EMO(":-d", ":d"),
    EMO(":d", ":d"),    EMO("=D", ":d"),   EMO(";-)", ";)"),
    EMO(";)", ";)"),    EMO(":-P", ":p"),  EMO(":P", ":p"),
    EMO(":-p", ":p"),   EMO(":p", ":p"),   EMO(":-|", ":|"),
    EMO(":|", ":|"),    EMO("</3", "</3"), EMO("<\\3", "</3"),
    EMO("<3", "<3"),
};
#undef EMO

/*
 * The emoticon at s[0], if any: returns its token and sets *used (repeats
 * of the last character are absorbed, ":)))" is one ":)").  An emoticon
 * must not run into a word (":pizza", "<30", "c:/dir" are not emoticons).
 */
static const char *emoticon_at(const unsigned char *s, size_t n, unsigned char prev, size_t *used)
{
	if (n < 2)
		return NULL;
	for (size_t e = 0; e < ARRAY_LEN(emoticons); e++) {
		const char *in = emoticons[e].in;
		size_t l = emoticons[e].len;
		if (l > n || (unsigned char)in[0] != s[0] || (unsigned char)in[1] != s[1] ||
		    memcmp(s, in, l) != 0)
			continue;
		unsigned char last = (unsigned char)in[l - 1];
		int slash = last == '/' || last == '\\';
		if (slash && is_ascii_word(prev)) /* "http:/", "c:\\" */
			continue;
		if (!slash && last != '|')
			while (l < n && s[l] == last)
				l++;
		if (l < n) {
			unsigned char next = s[l];
			if (is_ascii_word(next) && (is_ascii_word(last) || slash))
				continue;
			if (slash && (next == '/' || next == '\\'))
				continue;
		}
		*used = l;
		return emoticons[e].tok;
	}
	return NULL;
}

/* ---------------------------------------------------------------- non-ASCII */

struct norm_state {
	unsigned char *out;
	size_t o;
	int in_word;
	int words;
};

static inline void word_char_start(struct norm_state *ns)
{
	if (!ns->in_word) {
		if (ns->out[ns->o - 1] != ' ')
			ns->out[ns->o++] = ' ';
		ns->in_word = 1;
		ns->words++;
	}
}

/* A token of its own (emoji, emoticon, CJK character): spaces around it. */
static void emit_token(struct norm_state *ns, const void *tok, size_t len)
{
	if (ns->out[ns->o - 1] != ' ')
		ns->out[ns->o++] = ' ';
	memcpy(ns->out + ns->o, tok, len);
	ns->o += len;
	ns->in_word = 0;
	ns->words++;
}

static int is_apostrophe(int32_t cp)
{
	return cp == 0x2019 || cp == 0x2018 || cp == 0x02BC || cp == 0x00B4 || cp == 0xFF07;
}

/* Scripts written without spaces: every character is a token, so a
 * phrase "营业时间" still matches inside a longer sentence. */
static int is_cjk(int32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
	       (cp >= 0x20000 && cp <= 0x3134F) || (cp >= 0x3040 && cp <= 0x30FF);
}

static int is_word_category(int c)
{
	return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
	       (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Does the code point at s[i..n) continue a word (for "don't" -> "dont")? */
static int word_follows(const unsigned char *s, size_t n, size_t i)
{
	if (i >= n)
		return 0;
	if (s[i] < 0x80)
		return is_ascii_word(s[i]);
	int32_t cp;
	get_utf8(s + i, n - i, &cp);
	return is_word_category(utf8proc_category(cp)) && !is_cjk(cp);
}

static int is_regional_indicator(int32_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

/*
 * One non-ASCII code point (k bytes at s + i) into the norm form.  Returns
 * the bytes of s consumed (k, or more for a flag's two regional indicators).
 */
static size_t norm_slow(struct norm_state *ns, const unsigned char *s, size_t n, size_t i, int32_t cp,
                        size_t k)
{
	if (is_apostrophe(cp)) {
		if (!(ns->in_word && word_follows(s, n, i + k)))
			ns->in_word = 0;
		return k;
	}
	if (cp >= 0x1F3FB && cp <= 0x1F3FF) /* skin tone: folded like an accent */
		return k;
	if (cp == 0x0131) { /* Turkish dotless i: no decomposition, but read as "i" */
		word_char_start(ns);
		ns->out[ns->o++] = 'i';
		return k;
	}
	if (is_regional_indicator(cp)) {
		int32_t cp2;
		size_t k2 = i + k < n ? get_utf8(s + i + k, n - i - k, &cp2) : 0;
		if (k2 && is_regional_indicator(cp2))
			k += k2;
		emit_token(ns, s + i, k);
		return k;
	}

	utf8proc_int32_t d[DECOMP_MAX];
	int bound = 0;
	utf8proc_ssize_t m = utf8proc_decompose_char(cp, d, DECOMP_MAX, FOLD_OPTS, &bound);
	if (m < 0 || m > DECOMP_MAX) {
		ns->in_word = 0;
		return k;
	}
	if (m == 1 && d[0] == cp && cp != 0xFFFD) {
		const utf8proc_property_t *p = utf8proc_get_property(cp);
		if (p->category == UTF8PROC_CATEGORY_SO ||
		    p->boundclass == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC) {
			emit_token(ns, s + i, k);
			return k;
		}
	}
	for (utf8proc_ssize_t j = 0; j < m; j++) {
		int32_t c = d[j];
		if (c < 0x80) {
			if (is_ascii_word((unsigned char)c)) {
				word_char_start(ns);
				ns->out[ns->o++] = (unsigned char)c;
			} else {
				ns->in_word = 0;
			}
		} else if (is_apostrophe(c)) {
			continue; /* U+0149 "ŉ" is "ʼn": read as "n" */
		} else if (is_cjk(c)) {
			unsigned char u[4];
			size_t ul = put_utf8(u, c);
			emit_token(ns, u, ul);
		} else if (c != 0xFFFD && is_word_category(utf8proc_category(c))) {
			word_char_start(ns);
			ns->o += put_utf8(ns->out + ns->o, c);
		} else {
			ns->in_word = 0;
		}
	}
	return k;
}

/* ---------------------------------------------------------------- pass 2: main */

/* Plain-text features while scanning, in locals of pass_main(). */
struct feat {
	int letters, upper, caps; /* cased letters, upper-case ones, all-caps words */
	int wl, wu;               /* letters / upper-case letters of the current word */
	int excl, mixed, mixed_q; /* current '!' run; current '!'/'?' run; it holds a '?' */
	int excl_max, q_max;
};

/* End of a word: one of >= 3 letters, all upper case, counts. */
static inline void feat_word_end(struct feat *f)
{
	if (f->wl >= 3 && f->wu == f->wl)
		f->caps++;
	f->wl = f->wu = 0;
}

static inline void feat_punct(struct feat *f, int32_t cp)
{
	if (cp == '!' || cp == 0xFF01) {
		f->excl++;
		f->mixed++;
		if (f->excl > f->excl_max)
			f->excl_max = f->excl;
	} else if (cp == '?' || cp == 0xFF1F) {
		f->excl = 0;
		f->mixed++;
		f->mixed_q = 1;
	} else {
		f->excl = f->mixed = f->mixed_q = 0;
		return;
	}
	if (f->mixed_q && f->mixed > f->q_max)
		f->q_max = f->mixed;
}

/* A non-ASCII code point's share of the features. */
static void feat_cp(struct feat *f, int32_t cp)
{
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LT:
		f->letters++;
		f->upper++;
		f->wl++;
		f->wu++;
		break;
	case UTF8PROC_CATEGORY_LL:
		f->letters++;
		f->wl++;
		break;
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO: f->wl++; break;
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
	case UTF8PROC_CATEGORY_MN: /* an accent does not end the word */
	case UTF8PROC_CATEGORY_MC:
	case UTF8PROC_CATEGORY_ME: break;
	default: feat_word_end(f); break;
	}
	feat_punct(f, cp);
}

/*
 * Pass 2: s (valid UTF-8 without control characters, n bytes) into
 * t->plain (>= n + 1 bytes) and t->norm, and the features.  Everything
 * the loop updates lives in locals: a store through an output's char
 * pointer may alias any memory, which would force fields of *t back to
 * memory at every byte.
 */
static void pass_main(struct text *t, const unsigned char *s, size_t n)
{
	unsigned char *plain = (unsigned char *)t->plain;
	size_t i = 0, po = 0, o = 0;
	int in_word = 0, words = 0, mentions = 0, urls = 0;
	struct feat f = {0};

	/* ASCII writes at most two norm bytes per input byte (a space and the
	 * byte; an emoticon of >= 2 bytes writes <= 4); non-ASCII re-reserves. */
	t->norm = reserve(t->norm, &t->norm_cap, 2 * n + 8);
	unsigned char *out = (unsigned char *)t->norm;
	out[o++] = ' ';

	while (i < n) {
		unsigned c = s[i];
		uint8_t k = acls[c];
		size_t skip = 0;

		if (k & A_WORD) {
			if ((k & A_LINK) && (skip = url_len(s, n, i)) != 0) {
				urls++;
				goto removed;
			}
			if (!in_word) {
				if (out[o - 1] != ' ')
					out[o++] = ' ';
				in_word = 1;
				words++;
			}
			int alpha = 0, up = 0;
			do {
				plain[po++] = (unsigned char)c;
				out[o++] = (unsigned char)(c | (unsigned)((k & A_UPPER) << 4));
				alpha += (k & A_ALPHA) >> 6;
				up += (k & A_UPPER) >> 1;
				i++;
			} while (i < n && ((k = acls[c = s[i]]) & A_WORD));
			f.letters += alpha;
			f.upper += up;
			f.wl += alpha;
			f.wu += up;
			f.excl = f.mixed = f.mixed_q = 0;
			continue;
		}
		if (c == '@' && (skip = mention_len(s, n, i)) != 0) {
			mentions++;
			goto removed;
		}
		if (c < 0x80) {
			feat_word_end(&f);
			feat_punct(&f, (int32_t)c);
			plain[po++] = (unsigned char)c;
			i++;
			if ((k & A_APOS) && in_word && word_follows(s, n, i))
				continue;
			in_word = 0;
			if (k & A_EMO) {
				size_t used;
				const char *tok =
				    emoticon_at(s + i - 1, n - i + 1, i >= 2 ? s[i - 2] : ' ', &used);
				if (tok) {
					size_t tl = strlen(tok);
					if (out[o - 1] != ' ')
						out[o++] = ' ';
					memcpy(out + o, tok, tl);
					o += tl;
					words++;
					memcpy(plain + po, s + i, used - 1);
					po += used - 1;
					i += used - 1;
				}
			}
			continue;
		}

		size_t need = o + 2 * (n - i) + SLOW_OUT_MAX;
		if (need > t->norm_cap) {
			t->norm = reserve(t->norm, &t->norm_cap, need);
			out = (unsigned char *)t->norm;
		}
		int32_t cp;
		size_t len = get_utf8(s + i, n - i, &cp);
		if (cp == 0xFFFD) { /* repaired garbage: a boundary, nothing to look up */
			in_word = 0;
			feat_word_end(&f);
			feat_punct(&f, cp);
			memcpy(plain + po, s + i, len);
			po += len;
			i += len;
			continue;
		}
		struct norm_state ns = {out, o, in_word, words};
		size_t used = norm_slow(&ns, s, n, i, cp, len);
		o = ns.o;
		in_word = ns.in_word;
		words = ns.words;
		feat_cp(&f, cp);
		memcpy(plain + po, s + i, used);
		po += used;
		i += used;
		continue;

	removed:
		/* A boundary in norm; in plain, close the gap ("hi @bob thanks"). */
		i += skip;
		if (po == 0 || (acls[plain[po - 1]] & A_SPACE))
			while (i < n && (s[i] == ' ' || s[i] == '\t'))
				i++;
		in_word = 0;
		feat_word_end(&f);
		feat_punct(&f, ' ');
	}
	feat_word_end(&f);

	if (out[o - 1] != ' ')
		out[o++] = ' ';
	out[o] = '\0';
	t->norm_len = o;
	t->n_words = words;

	size_t b = 0;
	while (b < po && (acls[plain[b]] & A_SPACE))
		b++;
	while (po > b && (acls[plain[po - 1]] & A_SPACE))
		po--;
	if (b)
		memmove(plain, plain + b, po - b);
	po -= b;
	plain[po] = '\0';
	t->plain_len = po;

	t->n_mentions = mentions;
	t->n_urls = urls;
	t->n_letters = f.letters;
	t->n_upper = f.upper;
	t->n_caps_words = f.caps;
	t->exclaim_run = f.excl_max;
	t->question_run = f.q_max;
}

/* ---------------------------------------------------------------- API */

/*
 * Length of the prefix of s that pass 1 would copy unchanged: printable
 * ASCII, \t \n \r, no '&'.  Eight bytes at a time (SWAR): a byte is
 * special if its high bit is set, it is below 0x20, or it equals '&' or DEL.
 */
static size_t plain_ascii_prefix(const unsigned char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		uint64_t hi = x & highs;
		uint64_t lo = (x - ones * 0x20) & ~x & highs; /* some byte < 0x20 */
		uint64_t amp = x ^ (ones * '&');
		amp = (amp - ones) & ~amp & highs; /* some byte == '&' */
		uint64_t del = x ^ (ones * 0x7f);
		del = (del - ones) & ~del & highs; /* some byte == DEL */
		if (hi | lo | amp | del)
			break;
	}
	while (i < n && !(acls[s[i]] & A_SPECIAL) && s[i] < 0x80)
		i++;
	return i;
}

/*
 * Never fails: bad bytes are repaired, and input beyond TEXT_MAX_INPUT is
 * cut at a character boundary and flagged in t->truncated.
 */
int text_normalize(struct text *t, const char *raw, size_t len)
{
	const unsigned char *in = (const unsigned char *)(raw ? raw : "");
	const unsigned char *src;
	size_t n;

	if (!raw)
		len = 0;
	t->truncated = 0;
	if (len > TEXT_MAX_INPUT) {
		len = TEXT_MAX_INPUT;
		/* Do not split a character: back up over continuation bytes. */
		for (size_t back = 0; back < 3 && len > 0 && (in[len] & 0xC0) == 0x80; back++)
			len--;
		t->truncated = 1;
	}

	size_t first = plain_ascii_prefix(in, len);
	if (first == len) {
		src = in;
		n = len;
	} else {
		t->scratch = reserve(t->scratch, &t->scratch_cap, 3 * len + 1);
		unsigned char *sc = t->scratch;
		memcpy(sc, in, first);
		n = first + pass_decode(in + first, len - first, sc + first);
		src = sc;
	}

	t->plain = reserve(t->plain, &t->plain_cap, n + 1);
	pass_main(t, src, n);
	return 0;
}

char *text_normalize_phrase(const char *phrase)
{
	struct text t;
	char *r;

	text_init(&t);
	text_normalize(&t, phrase, phrase ? strlen(phrase) : 0);
	if (t.norm_len <= 2)
		r = xstrdup("");
	else
		r = xstrndup(t.norm + 1, t.norm_len - 2);
	text_free(&t);
	return r;
}
