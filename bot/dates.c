/*
 * dates.c - calendar dates named in a post (see dates.h for what counts).
 *
 * The normalized text is split into words once, and each word is looked up
 * once in a small sorted table of the words a date can start with or lean
 * on (month and weekday names, "today", "of", "on", ...); a word that is
 * neither there nor a number starts no date and costs nothing more, which
 * matters because every decision scans its post.  Each recogniser looks at
 * the words from one position and says how many it consumed (0: no date
 * starts here).  Calendar arithmetic is hours.h's.
 */
#include "dates.h"

#include <ctype.h>
#include <string.h>

#include "hours.h"

#define MAX_WORDS 400 /* words of a post looked at; dates are named early */

/* What a word is to the recognisers. */
enum kind {
	K_NONE,    /* nothing a date is made of */
	K_NUM,     /* starts with a digit: a day, year or part of an ISO date */
	K_MONTH,   /* val: 1..12 */
	K_WEEKDAY, /* val: 0 (monday) .. 6; "sundays" too */
	K_REL,     /* val: days from today ("today" 0, "tomorrow" 1) */
	K_NAMED,   /* the first word of a day known by name ("christmas") */
	K_OF,
	K_ON,
	K_NEXT,
};

struct word {
	const char *p;
	size_t n;
	unsigned char kind, val;
};

/* Sorted by name (memcmp order, then length) for bsearch. */
#define KW(name, kind, val)                                                                                  \
	{                                                                                                    \
		name, sizeof(name) - 1, kind, val                                                            \
	}
static const struct keyword {
	const char *name;
	unsigned char len, kind, val;
} keywords[] = {
    KW("apr", K_MONTH, 4),
    KW("april", K_MONTH, 4),
    KW("aug", K_MONTH, 8),
    KW("august", K_MONTH, 8),
    KW("boxing", K_NAMED, 0),
    KW("christmas", K_NAMED, 0),
    KW("dec", K_MONTH, 12),
    KW("december", K_MONTH, 12),
    KW("easter", K_NAMED, 0),
    KW("feb", K_MONTH, 2),
    KW("february", K_MONTH, 2),
    KW("friday", K_WEEKDAY, 4),
    KW("good", K_NAMED, 0),
    KW("jan", K_MONTH, 1),
    KW("january", K_MONTH, 1),
    KW("jul", K_MONTH, 7),
    KW("july", K_MONTH, 7),
    KW("jun", K_MONTH, 6),
    KW("june", K_MONTH, 6),
    KW("mar", K_MONTH, 3),
    KW("march", K_MONTH, 3),
    KW("may", K_MONTH, 5),
    KW("monday", K_WEEKDAY, 0),
    KW("new", K_NAMED, 0),
    KW("next", K_NEXT, 0),
    KW("nov", K_MONTH, 11),
    KW("november", K_MONTH, 11),
    KW("oct", K_MONTH, 10),
    KW("october", K_MONTH, 10),
    KW("of", K_OF, 0),
    KW("on", K_ON, 0),
    KW("saturday", K_WEEKDAY, 5),
    KW("sep", K_MONTH, 9),
    KW("sept", K_MONTH, 9),
    KW("september", K_MONTH, 9),
    KW("sunday", K_WEEKDAY, 6),
    KW("thursday", K_WEEKDAY, 3),
    KW("tmrw", K_REL, 1),
    KW("today", K_REL, 0),
    KW("tomorrow", K_REL, 1),
    KW("tonight", K_REL, 0),
    KW("tuesday", K_WEEKDAY, 1),
    KW("wednesday", K_WEEKDAY, 2),
    KW("xmas", K_NAMED, 0),
};

#undef KW

#define KEYWORD_MAX 9 /* the longest name above */

static int word_cmp(const char *p, size_t n, const struct keyword *k)
{
	if (p[0] != k->name[0])
		return (unsigned char)p[0] < (unsigned char)k->name[0] ? -1 : 1;
	int c = memcmp(p, k->name, n < k->len ? n : k->len);
	return c ? c : (n > k->len) - (n < k->len);
}

static const struct keyword *keyword_of(const char *p, size_t n)
{
	size_t lo = 0, hi = sizeof(keywords) / sizeof(keywords[0]);
	if (n < 2 || n > KEYWORD_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = word_cmp(p, n, &keywords[mid]);
		if (c == 0)
			return &keywords[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void classify(struct word *w)
{
	const struct keyword *k;
	w->kind = K_NONE;
	w->val = 0;
	if (isdigit((unsigned char)w->p[0])) {
		w->kind = K_NUM;
	} else if ((k = keyword_of(w->p, w->n)) != NULL) {
		w->kind = k->kind;
		w->val = k->val;
	} else if (w->n > 6 && w->p[w->n - 1] == 's' && (k = keyword_of(w->p, w->n - 1)) != NULL &&
	           k->kind == K_WEEKDAY) {
		w->kind = K_WEEKDAY; /* "sundays" */
		w->val = k->val;
	}
}

struct scan {
	struct word w[MAX_WORDS];
	size_t nw;
	long today;
	struct named_date *out;
	size_t max, n;
};

static int is(const struct scan *s, size_t i, enum kind kind)
{
	return i < s->nw && s->w[i].kind == kind;
}

static void put(struct scan *s, long date, int weekly)
{
	if (date < 0 || s->n >= s->max)
		return;
	s->out[s->n].date = date;
	s->out[s->n].weekly = weekly;
	s->n++;
}

/* The next y-m-d on or after today (this year or a later one); -1 if none soon. */
static long next_date(const struct scan *s, int m, int d)
{
	long y;
	int tm, td;
	hours_date_parts(s->today, &y, &tm, &td);
	for (int k = 0; k < 8; k++) {
		long date = hours_date(y + k, m, d);
		if (date >= s->today)
			return date;
	}
	return -1;
}

/* Digits only: the value, or -1. */
static long digits(const char *p, size_t n, size_t maxlen)
{
	long v = 0;
	if (n == 0 || n > maxlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* "25", "25th", "1st": a day of the month, or -1. */
static int day_at(const struct scan *s, size_t i)
{
	if (i >= s->nw)
		return -1;
	const char *p = s->w[i].p;
	size_t n = s->w[i].n, k = 0;
	while (k < n && isdigit((unsigned char)p[k]))
		k++;
	if (k == 0 || k > 2)
		return -1;
	if (k < n) {
		static const char *const suffix[] = {"st", "nd", "rd", "th"};
		int ok = 0;
		for (size_t j = 0; j < 4; j++)
			if (n - k == 2 && memcmp(p + k, suffix[j], 2) == 0)
				ok = 1;
		if (!ok)
			return -1;
	}
	long v = digits(p, k, 2);
	return v >= 1 && v <= 31 ? (int)v : -1;
}

/* A month name or abbreviation: 1..12, or 0. */
static int month_at(const struct scan *s, size_t i)
{
	return is(s, i, K_MONTH) ? s->w[i].val : 0;
}

/* A four-digit year, or -1. */
static long year_at(const struct scan *s, size_t i)
{
	if (i >= s->nw)
		return -1;
	long y = digits(s->w[i].p, s->w[i].n, 4);
	return s->w[i].n == 4 && y >= 1900 && y <= 9999 ? y : -1;
}

static size_t with_year(struct scan *s, size_t used, size_t i, int m, int d)
{
	long y = year_at(s, i);
	if (y > 0) {
		put(s, hours_date(y, m, d), 0);
		return used + 1;
	}
	put(s, next_date(s, m, d), 0);
	return used;
}

/* "25 december", "25th of dec 2026", "the 25th of december". */
static size_t day_month(struct scan *s, size_t i)
{
	int d = day_at(s, i);
	if (d < 0)
		return 0;
	size_t j = i + 1 + is(s, i + 1, K_OF);
	int m = month_at(s, j);
	if (!m)
		return 0;
	return with_year(s, j + 1 - i, j + 1, m, d);
}

/* "december 25", "dec 25th 2026". */
static size_t month_day(struct scan *s, size_t i)
{
	int m = month_at(s, i);
	if (!m)
		return 0;
	int d = day_at(s, i + 1);
	if (d < 0)
		return 0;
	return with_year(s, 2, i + 2, m, d);
}

/* "2026-12-25" (normalized to "2026 12 25"). */
static size_t iso(struct scan *s, size_t i)
{
	long y = year_at(s, i);
	if (y < 0 || i + 2 >= s->nw)
		return 0;
	long m = digits(s->w[i + 1].p, s->w[i + 1].n, 2);
	long d = digits(s->w[i + 2].p, s->w[i + 2].n, 2);
	if (m < 1 || d < 1)
		return 0;
	long date = hours_date(y, (int)m, (int)d);
	if (date < 0)
		return 0;
	put(s, date, 0);
	return 3;
}

static size_t relative(struct scan *s, size_t i)
{
	if (!is(s, i, K_REL))
		return 0;
	put(s, s->today + s->w[i].val, 0);
	return 1;
}

/* "sunday", "sundays", "next sunday". */
static size_t weekday(struct scan *s, size_t i)
{
	if (!is(s, i, K_WEEKDAY))
		return 0;
	long ahead = (s->w[i].val - hours_weekday(s->today) + 7) % 7;
	if (ahead == 0 && i > 0 && is(s, i - 1, K_NEXT))
		ahead = 7;
	put(s, s->today + ahead, 1);
	return 1;
}

/* Easter Sunday of year y (anonymous Gregorian algorithm). */
static long easter(long y)
{
	long a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4, f = (b + 8) / 25;
	long g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30, i = c / 4, k = c % 4;
	long l = (32 + 2 * e + 2 * i - h - k) % 7, m = (a + 11 * h + 22 * l) / 451;
	long month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
	return hours_date(y, (int)month, (int)day);
}

/* The next Easter Sunday + offset days on or after today. */
static long next_easter(const struct scan *s, int offset)
{
	long y;
	int m, d;
	hours_date_parts(s->today, &y, &m, &d);
	for (int k = 0; k < 2; k++) {
		long date = easter(y + k) + offset;
		if (date >= s->today)
			return date;
	}
	return -1;
}

/* How many words from i spell `phrase` ("new years day"), or 0. */
static size_t phrase_at(const struct scan *s, size_t i, const char *phrase)
{
	size_t k = 0;
	for (const char *p = phrase; *p; k++) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (i + k >= s->nw || s->w[i + k].n != n || memcmp(s->w[i + k].p, p, n) != 0)
			return 0;
		p += n + (e ? 1 : 0);
	}
	return k;
}

/* Days known by name: a fixed month and day, or days after Easter Sunday.
 * `after_on`: only after "on" ("on christmas"; "christmas cake" names no day). */
static size_t named(struct scan *s, size_t i)
{
	static const struct {
		const char *phrase;
		int m, d; /* m == 0: d days after Easter Sunday */
		int after_on;
	} days[] = {
	    {"christmas day", 12, 25, 0}, {"xmas day", 12, 25, 0},     {"christmas eve", 12, 24, 0},
	    {"xmas eve", 12, 24, 0},      {"christmas", 12, 25, 1},    {"xmas", 12, 25, 1},
	    {"boxing day", 12, 26, 0},    {"new years day", 1, 1, 0},  {"new year day", 1, 1, 0},
	    {"new years eve", 12, 31, 0}, {"new year eve", 12, 31, 0}, {"good friday", 0, -2, 0},
	    {"easter sunday", 0, 0, 0},   {"easter day", 0, 0, 0},     {"easter monday", 0, 1, 0},
	    {"easter", 0, 0, 1},
	};
	if (!is(s, i, K_NAMED))
		return 0;
	for (size_t k = 0; k < sizeof(days) / sizeof(days[0]); k++) {
		size_t n = phrase_at(s, i, days[k].phrase);
		if (!n || (days[k].after_on && (i == 0 || !is(s, i - 1, K_ON))))
			continue;
		put(s, days[k].m ? next_date(s, days[k].m, days[k].d) : next_easter(s, days[k].d), 0);
		return n;
	}
	return 0;
}

/* "25/12", "12/25/2026": only when one reading alone is a date. */
static void slashed(struct scan *s, const char *plain)
{
	for (const char *p = plain; *p && s->n < s->max; p++) {
		if (!isdigit((unsigned char)*p) ||
		    (p > plain && (isdigit((unsigned char)p[-1]) || p[-1] == '/')))
			continue;
		const char *q = p;
		long a = 0, b = 0, y = -1;
		int na = 0, nb = 0, ny = 0;
		while (isdigit((unsigned char)*q) && na < 3)
			a = a * 10 + (*q++ - '0'), na++;
		if (na > 2 || *q != '/' || !isdigit((unsigned char)q[1]))
			continue;
		q++;
		while (isdigit((unsigned char)*q) && nb < 3)
			b = b * 10 + (*q++ - '0'), nb++;
		if (nb > 2)
			continue;
		if (*q == '/' && isdigit((unsigned char)q[1])) {
			q++;
			y = 0;
			while (isdigit((unsigned char)*q) && ny < 5)
				y = y * 10 + (*q++ - '0'), ny++;
			if (ny != 2 && ny != 4)
				continue;
			if (ny == 2)
				y += 2000;
		}
		if (isdigit((unsigned char)*q) || *q == '/' || (a == 24 && b == 7 && y < 0))
			continue;
		int m, d;
		if (a > 12 && b >= 1 && b <= 12)
			d = (int)a, m = (int)b;
		else if (b > 12 && a >= 1 && a <= 12)
			m = (int)a, d = (int)b;
		else
			continue;
		put(s, y > 0 ? hours_date(y, m, d) : next_date(s, m, d), 0);
	}
}

size_t dates_named(const char *norm, const char *plain, long today, struct named_date *out, size_t max)
{
	static size_t (*const at[])(struct scan *, size_t) = {iso,   day_month, month_day,
	                                                      named, relative,  weekday};
	struct scan s;

	s.nw = 0;
	s.today = today;
	s.out = out;
	s.max = max;
	s.n = 0;
	for (const char *p = norm ? norm : ""; *p && s.nw < MAX_WORDS;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p) {
			s.w[s.nw].p = p;
			s.w[s.nw].n = (size_t)(e - p);
			classify(&s.w[s.nw]);
			s.nw++;
		}
		p = e;
	}
	for (size_t i = 0; i < s.nw && s.n < max;) {
		size_t used = 0;
		if (s.w[i].kind == K_NONE || s.w[i].kind >= K_OF) {
			i++; /* no date starts with this word */
			continue;
		}
		for (size_t k = 0; k < sizeof(at) / sizeof(at[0]) && !used; k++)
			used = at[k](&s, i);
		i += used ? used : 1;
	}
	if (plain && strchr(plain, '/'))
		slashed(&s, plain);
	return s.n;
}
