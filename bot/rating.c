/*
 * rating.c - a satisfaction rating read from free text (see rating.h).
 */
#include "rating.h"

#include <string.h>
#include <utf8proc.h>

/* Words and phrases that rate, longest first where one begins another. */
static const struct {
	const char *w;
	int score;
} rating_words[] = {
    {"very good", 5},   {"very helpful", 5}, {"pretty good", 4}, {"quite good", 4},
    {"not good", 2},    {"not great", 2},    {"not helpful", 2}, {"not bad", 3},
    {"so so", 3},       {"so-so", 3},        {"very bad", 1},    {"all right", 3},
    {"excellent", 5},   {"great", 5},        {"amazing", 5},     {"perfect", 5},
    {"awesome", 5},     {"fantastic", 5},    {"brilliant", 5},   {"superb", 5},
    {"outstanding", 5}, {"wonderful", 5},    {"good", 4},        {"helpful", 4},
    {"nice", 4},        {"okay", 3},         {"ok", 3},          {"fine", 3},
    {"average", 3},     {"alright", 3},      {"decent", 3},      {"disappointing", 2},
    {"unhelpful", 2},   {"poor", 2},         {"meh", 2},         {"bad", 2},
    {"terrible", 1},    {"awful", 1},        {"horrible", 1},    {"useless", 1},
    {"worst", 1},       {"dreadful", 1},     {"rubbish", 1},     {"one", 1},
    {"two", 2},         {"three", 3},        {"four", 4},        {"five", 5},
};

int rating_valid(long score)
{
	return score >= RATING_MIN && score <= RATING_MAX;
}

/* The code point at p (len bytes left) and its size; size 0 at the end or
 * on invalid UTF-8. */
static utf8proc_int32_t cp_at(const char *p, size_t len, size_t *size)
{
	utf8proc_int32_t c = -1;
	utf8proc_ssize_t n =
	    len ? utf8proc_iterate((const utf8proc_uint8_t *)p, (utf8proc_ssize_t)len, &c) : 0;
	*size = n > 0 ? (size_t)n : 0;
	return n > 0 ? c : -1;
}

static int is_hspace(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int is_alnum_cp(utf8proc_int32_t c)
{
	utf8proc_category_t k = utf8proc_category(c);
	return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
	       (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) ||
	       (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME);
}

static int is_punct_cp(utf8proc_int32_t c)
{
	utf8proc_category_t k = utf8proc_category(c);
	return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* Case-insensitive ASCII prefix: the length of w when s starts with it. */
static size_t starts_with(const char *s, const char *w)
{
	size_t i = 0;
	for (; w[i]; i++) {
		char a = s[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (a != w[i])
			return 0;
	}
	return i;
}

/*
 * What follows a rating token at p: 1 when it ends the message or is set
 * apart (punctuation, a symbol such as an emoji, a line break; after a
 * `symbol` token, a space too), with the comment (punctuation and spaces in
 * front of it stripped) in out; 0 when a letter or digit follows, as in
 * the middle of a sentence.
 */
static int rest(const char *p, int symbol, struct rating *out)
{
	const char *start = p;
	while (*p && is_hspace(*p))
		p++;
	/* After a symbol (stars, a thumb) a space is enough: "👍 thanks". */
	if (*p && *p != '\n' && !(symbol && p > start)) {
		size_t n;
		utf8proc_int32_t c = cp_at(p, strlen(p), &n);
		if (c < 0 || is_alnum_cp(c))
			return 0;
	}
	/* Strip what sets the comment apart: spaces, line breaks, punctuation. */
	for (;;) {
		size_t n;
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			continue;
		}
		utf8proc_int32_t c = cp_at(p, strlen(p), &n);
		if (c >= 0 && is_punct_cp(c)) {
			p += n;
			continue;
		}
		break;
	}
	size_t len = strlen(p);
	while (len && (is_hspace(p[len - 1]) || p[len - 1] == '\n'))
		len--;
	if (memchr(p, '?', len) || (len >= 3 && strstr(p, "\xef\xbc\x9f")))
		return 0; /* a question: decided as one, not kept as a comment */
	if (len > RATING_MAX_COMMENT) {
		len = RATING_MAX_COMMENT;
		while (len && ((unsigned char)p[len] & 0xC0) == 0x80)
			len--;
	}
	out->comment = len ? p : NULL;
	out->comment_len = len;
	return 1;
}

/* A run of stars (★ ⭐ 🌟, or *), hollow ones (☆) allowed but not counted. */
static int stars(const char **pp)
{
	const char *p = *pp;
	int filled = 0, any = 0;
	for (;;) {
		size_t n;
		if (is_hspace(*p)) {
			p++;
			continue;
		}
		utf8proc_int32_t c = cp_at(p, strlen(p), &n);
		if (c == 0x2605 || c == 0x2B50 || c == 0x1F31F || c == '*')
			filled++;
		else if (c == 0x2606)
			any++;
		else if (c == 0xFE0F && (filled || any))
			;
		else
			break;
		p += n;
	}
	if (!filled || filled + any > 5)
		return 0;
	*pp = p;
	return filled;
}

/* "5", "4/5", "4 / 5", "4 out of 5", "4 of 5", "8/10", "5 stars", "5⭐":
 * the score, with *pp past it; 0 when p holds none. */
static int number(const char **pp)
{
	const char *p = *pp;
	long n = 0, den = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		n = n * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (!digits || (*p >= '0' && *p <= '9'))
		return 0;
	if (*p == '.' || *p == ',') {
		/* "4.5" is no whole rating; "5." and "5," end the number. */
		if (p[1] >= '0' && p[1] <= '9')
			return 0;
	}
	const char *q = p;
	while (is_hspace(*q))
		q++;
	size_t k;
	if (*q == '/') {
		q++;
		while (is_hspace(*q))
			q++;
		while (*q >= '0' && *q <= '9' && den < 1000)
			den = den * 10 + (*q++ - '0');
		if (den != 5 && den != 10)
			return 0;
		p = q;
	} else if ((k = starts_with(q, "out of ")) || (k = starts_with(q, "of "))) {
		q += k;
		while (is_hspace(*q))
			q++;
		while (*q >= '0' && *q <= '9' && den < 1000)
			den = den * 10 + (*q++ - '0');
		if (den != 5 && den != 10)
			return 0;
		p = q;
	}
	q = p;
	while (is_hspace(*q))
		q++;
	if ((k = starts_with(q, "stars")) || (k = starts_with(q, "star"))) {
		p = q + k;
	} else {
		const char *s = q;
		if (stars(&s))
			p = s;
	}
	if (den == 10)
		n = (n + 1) / 2;
	else if (den == 0 && n > RATING_MAX)
		return 0;
	if (!rating_valid(n))
		return 0;
	*pp = p;
	return (int)n;
}

int rating_parse(const char *text, struct rating *out)
{
	struct rating r = {0, NULL, 0};
	const char *p = text;
	size_t n;

	if (!text)
		return 0;
	while (*p && (is_hspace(*p) || *p == '\n'))
		p++;
	if (!*p)
		return 0;

	const char *q = p;
	int score = 0, symbol = 0;
	utf8proc_int32_t c = cp_at(q, strlen(q), &n);
	if (*q >= '0' && *q <= '9') {
		score = number(&q);
	} else if ((score = stars(&q)) > 0) {
		symbol = 1;
	} else if (c == 0x1F44D || c == 0x1F44E) {
		score = c == 0x1F44D ? 5 : 1;
		symbol = 1;
		q += n;
		size_t m;
		utf8proc_int32_t t = cp_at(q, strlen(q), &m);
		if (t >= 0x1F3FB && t <= 0x1F3FF) /* a skin tone */
			q += m;
	} else {
		for (size_t i = 0; i < sizeof(rating_words) / sizeof(rating_words[0]); i++) {
			size_t k = starts_with(q, rating_words[i].w);
			if (!k)
				continue;
			size_t m;
			utf8proc_int32_t next = cp_at(q + k, strlen(q + k), &m);
			if (next >= 0 && is_alnum_cp(next))
				continue; /* "goodness" is a word of its own */
			if ((q[k] == '-' || q[k] == '\'') && q[k + 1] &&
			    (next = cp_at(q + k + 1, strlen(q + k + 1), &m)) >= 0 && is_alnum_cp(next))
				continue; /* and so is "fine-tuned" */
			/* A word rates only when nothing but a comment set apart
			 * follows it: "good morning" is a greeting. */
			const char *after = q + k;
			while (is_hspace(*after))
				after++;
			if (*after && *after != '\n') {
				utf8proc_int32_t a = cp_at(after, strlen(after), &m);
				if (a < 0 || is_alnum_cp(a))
					continue;
			}
			score = rating_words[i].score;
			q += k;
			break;
		}
	}
	if (!score || !rest(q, symbol, &r))
		return 0;
	r.score = score;
	*out = r;
	return 1;
}
