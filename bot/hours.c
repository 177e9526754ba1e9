/*
 * hours.c - business time: parsing and validating opening hours and
 * holidays, and open-time arithmetic in the business's zone.
 *
 * The weekly pattern is kept as wall-clock minute ranges per weekday.  The
 * questions callers ask are about UTC instants, so each local date is
 * turned, once, into the UTC intervals during which the business is open
 * (struct hday), using the C library only to learn the zone's UTC offsets
 * around that date.  Those days live in a small direct-mapped cache; the
 * hot calls then only compare integers.
 */
#include "hours.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_RANGES        6    /* ranges in one day's value */
#define MAX_HOLIDAYS      4096 /* holiday dates after expanding ranges */
#define MAX_HOLIDAY_RANGE 366
#define MAX_ZONE_NAME     64
#define WRAP_MAX_END      (12 * 60) /* a range past midnight ends by 12:00 ... */
#define WRAP_MAX_LEN      (20 * 60) /* ... and lasts at most 20 hours */
#define DAY_MIN           1440
#define WEEK_MIN          (7 * DAY_MIN)

#define CACHE_SLOTS   32
#define DAY_MAX_SEGS  6
#define DAY_MAX_SPANS 32
#define SEARCH_DAYS   3660 /* give up looking for open time after ten years */
#define CLOSE_DAYS    8    /* hours_next_close looks this far for a break */

/* 1900-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
#define T_MIN ((time_t)-2208988800LL)
#define T_MAX ((time_t)253402300799LL)

/* Minutes from local midnight; end > DAY_MIN runs past midnight. */
struct wrange {
	int start, end;
};

/* A stretch of UTC [a, b) during which the zone's offset is `off`. */
struct seg {
	time_t a, b;
	long off;
};

/* One local date, resolved to UTC. */
struct hday {
	long date; /* days since 1970-01-01 */
	int valid;
	time_t start, end; /* the UTC instants whose local date is `date` */
	int nseg;
	struct seg seg[DAY_MAX_SEGS];
	int nspan;
	time_t span[DAY_MAX_SPANS][2]; /* open [a, b), sorted, merged */
};

struct hours_cache {
	struct hday day[CACHE_SLOTS];
	int last; /* slot of the day last asked about, -1 none */
};

struct hours {
	char *tz;
	int nr[7]; /* 0 = Monday */
	struct wrange r[7][MAX_RANGES];
	long *holidays; /* sorted local dates */
	size_t nholidays;
	int never_open;
	struct hours_cache *cache; /* mutable behind a const struct hours */
};

static const char *const day_keys[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};
static const char *const day_full[] = {"monday", "tuesday",  "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
static const char *const day_short[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_long[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                       "Friday", "Saturday", "Sunday"};
static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

/* ---- calendar arithmetic (proleptic Gregorian, Howard Hinnant) ---- */

static long days_from_civil(long y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, int *m, int *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static long floor_div(long long a, long b)
{
	long long q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return (long)q;
}

/* 0 = Monday; 1970-01-01 was a Thursday. */
static int weekday_of(long date)
{
	long w = (date + 3) % 7;
	return (int)(w < 0 ? w + 7 : w);
}

static int days_in_month(long y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* ---- the process time zone ---- */

static char cur_zone[MAX_ZONE_NAME + 1];

/*
 * Make the C library's local time the zone `tz`.  tzset is only called when
 * the zone differs from the one set last (or someone changed TZ behind our
 * back), because re-reading the zone file costs microseconds.
 */
static void use_zone(const char *tz)
{
	const char *env = getenv("TZ");
	if (env && strcmp(env, tz) == 0 && strcmp(cur_zone, tz) == 0)
		return;
	setenv("TZ", tz, 1);
	tzset();
	snprintf(cur_zone, sizeof(cur_zone), "%s", tz);
}

static int offset_at(time_t t, long *off)
{
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

int hours_zone_check(const char *tz, char *err, size_t errn)
{
	size_t len = strlen(tz);
	if (len == 0 || len > MAX_ZONE_NAME || tz[0] == '/' || strstr(tz, "..")) {
		snprintf(err, errn, "not an IANA time zone name (like Europe/London)");
		return -1;
	}
	for (const char *p = tz; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '+' && *p != '-' && *p != '/') {
			snprintf(err, errn, "not an IANA time zone name (like Europe/London)");
			return -1;
		}
	}
	const char *dir = getenv("TZDIR");
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, tz);
	struct stat st;
	FILE *f = NULL;
	char magic[4];
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errn, "unknown time zone (no %s; is tzdata installed?)", path);
		return -1;
	}
	size_t got = fread(magic, 1, sizeof(magic), f);
	fclose(f);
	if (got != sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
		snprintf(err, errn, "%s is not a time zone file", path);
		return -1;
	}
	return 0;
}

/* ---- resolving one local date to UTC ---- */

/* Smallest t in (lo, hi] whose offset differs from `off` (one exists). */
static time_t find_transition(time_t lo, time_t hi, long off)
{
	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;
		long o;
		if (offset_at(mid, &o) < 0 || o != off)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/*
 * The UTC offsets over a window wide enough to hold every instant whose
 * local date is `date` (offsets lie within -16h..+16h).  Offsets are
 * sampled every 14 hours and transitions located by bisection; two
 * transitions closer than 14 hours that cancel out would be missed, which
 * no real zone does.
 */
static int day_segments(struct hday *dy, time_t base)
{
	enum { NS = 5 };
	time_t lo = base - 16 * 3600, hi = base + 86400 + 16 * 3600;
	time_t st[NS];
	long so[NS];

	for (int i = 0; i < NS; i++) {
		st[i] = i == NS - 1 ? hi : lo + (time_t)i * 14 * 3600;
		if (offset_at(st[i], &so[i]) < 0)
			return -1;
	}
	dy->nseg = 1;
	dy->seg[0].a = lo;
	dy->seg[0].off = so[0];
	for (int i = 0; i + 1 < NS; i++) {
		time_t cur = st[i];
		long off = dy->seg[dy->nseg - 1].off;
		while (off != so[i + 1] && dy->nseg < DAY_MAX_SEGS) {
			time_t tr = find_transition(cur, st[i + 1], off);
			if (offset_at(tr, &off) < 0)
				return -1;
			dy->seg[dy->nseg - 1].b = tr;
			dy->seg[dy->nseg].a = tr;
			dy->seg[dy->nseg].off = off;
			dy->nseg++;
			cur = tr;
		}
	}
	dy->seg[dy->nseg - 1].b = hi;
	return 0;
}

/* The first instant whose wall-clock time (as seconds on the UTC scale) is >= w. */
static time_t wall_first(const struct hday *dy, time_t w)
{
	for (int i = 0; i < dy->nseg; i++) {
		time_t c = w - dy->seg[i].off;
		if (c < dy->seg[i].a)
			c = dy->seg[i].a;
		if (c < dy->seg[i].b)
			return c;
	}
	return dy->seg[dy->nseg - 1].b;
}

static int is_holiday_date(const struct hours *h, long date)
{
	size_t lo = 0, hi = h->nholidays;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->holidays[mid] == date)
			return 1;
		if (h->holidays[mid] < date)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static void add_span(struct hday *dy, time_t a, time_t b)
{
	if (a >= b)
		return;
	if (dy->nspan > 0 && a <= dy->span[dy->nspan - 1][1]) {
		if (b > dy->span[dy->nspan - 1][1])
			dy->span[dy->nspan - 1][1] = b;
		return;
	}
	if (dy->nspan == DAY_MAX_SPANS)
		return; /* cannot happen: at most 2 * MAX_RANGES wall ranges, each split once per transition
		         */
	dy->span[dy->nspan][0] = a;
	dy->span[dy->nspan][1] = b;
	dy->nspan++;
}

/*
 * Resolve local date `date` into dy: its UTC extent and its open spans.
 * An instant t is open when (t + offset(t)) - midnight falls in one of the
 * date's wall-clock ranges; doing that per constant-offset segment makes
 * the skipped spring hour vanish and the repeated autumn hour count twice
 * without special cases.
 */
static int compute_day(const struct hours *h, long date, struct hday *dy)
{
	time_t base = (time_t)date * 86400;
	long iv[2 * MAX_RANGES][2];
	int niv = 0;

	dy->valid = 0;
	use_zone(h->tz);
	if (day_segments(dy, base) < 0)
		return -1;
	dy->date = date;
	dy->start = wall_first(dy, base);
	dy->end = wall_first(dy, base + 86400);
	dy->nspan = 0;

	if (!is_holiday_date(h, date)) {
		int w = weekday_of(date), pw = (w + 6) % 7;
		if (!is_holiday_date(h, date - 1))
			for (int i = 0; i < h->nr[pw]; i++)
				if (h->r[pw][i].end > DAY_MIN) {
					iv[niv][0] = 0;
					iv[niv][1] = (h->r[pw][i].end - DAY_MIN) * 60L;
					niv++;
				}
		for (int i = 0; i < h->nr[w]; i++) {
			int e = h->r[w][i].end > DAY_MIN ? DAY_MIN : h->r[w][i].end;
			iv[niv][0] = h->r[w][i].start * 60L;
			iv[niv][1] = e * 60L;
			niv++;
		}
		/* insertion sort by start: a handful of entries */
		for (int i = 1; i < niv; i++)
			for (int j = i; j > 0 && iv[j][0] < iv[j - 1][0]; j--) {
				long a = iv[j][0], b = iv[j][1];
				iv[j][0] = iv[j - 1][0];
				iv[j][1] = iv[j - 1][1];
				iv[j - 1][0] = a;
				iv[j - 1][1] = b;
			}
	}
	for (int s = 0; s < dy->nseg; s++) {
		const struct seg *sg = &dy->seg[s];
		for (int i = 0; i < niv; i++) {
			time_t a = base + iv[i][0] - sg->off, b = base + iv[i][1] - sg->off;
			if (a < sg->a)
				a = sg->a;
			if (a < dy->start)
				a = dy->start;
			if (b > sg->b)
				b = sg->b;
			if (b > dy->end)
				b = dy->end;
			add_span(dy, a, b);
		}
	}
	dy->valid = 1;
	return 0;
}

static int slot_of(long date)
{
	long s = date % CACHE_SLOTS;
	return (int)(s < 0 ? s + CACHE_SLOTS : s);
}

static struct hday *get_day(const struct hours *h, long date)
{
	struct hday *dy = &h->cache->day[slot_of(date)];
	if (dy->valid && dy->date == date)
		return dy;
	if (date < -25568 || date > 2932897) /* outside 1900..9999 */
		return NULL;
	if (compute_day(h, date, dy) < 0)
		return NULL;
	return dy;
}

/* The resolved day holding instant t, or NULL outside the supported years. */
static struct hday *day_of(const struct hours *h, time_t t)
{
	struct hours_cache *c = h->cache;
	long guess;

	if (t < T_MIN || t > T_MAX)
		return NULL;
	if (c->last >= 0 && c->day[c->last].valid) {
		const struct hday *l = &c->day[c->last];
		if (t >= l->start && t < l->end)
			return &c->day[c->last];
		guess = l->date + floor_div((long long)t - l->start, 86400);
	} else {
		long off;
		use_zone(h->tz);
		if (offset_at(t, &off) < 0)
			return NULL;
		guess = floor_div((long long)t + off, 86400);
	}
	for (int i = 0; i < 6; i++) {
		struct hday *dy = get_day(h, guess);
		if (!dy)
			return NULL;
		if (t < dy->start) {
			guess--;
		} else if (t >= dy->end) {
			guess++;
		} else {
			c->last = slot_of(guess);
			return dy;
		}
	}
	return NULL;
}

/*
 * Local date, seconds since local midnight and UTC offset of t.  Falls back
 * to UTC outside the supported years so formatting never fails.
 */
static void local_parts(const struct hours *h, time_t t, long *date, long *sod, long *off)
{
	const struct hday *dy = day_of(h, t);
	*off = 0;
	if (dy)
		for (int i = 0; i < dy->nseg; i++)
			if (t >= dy->seg[i].a && t < dy->seg[i].b)
				*off = dy->seg[i].off;
	long long local = (long long)t + *off;
	*date = floor_div(local, 86400);
	*sod = (long)(local - (long long)*date * 86400);
}

/* ---- queries ---- */

const char *hours_tz(const struct hours *h)
{
	return h->tz;
}

int hours_is_open(const struct hours *h, time_t t)
{
	const struct hday *dy = day_of(h, t);
	if (!dy)
		return 0;
	for (int i = 0; i < dy->nspan; i++) {
		if (t < dy->span[i][0])
			return 0;
		if (t < dy->span[i][1])
			return 1;
	}
	return 0;
}

int hours_is_holiday(const struct hours *h, time_t t)
{
	long date, sod, off;
	if (t < T_MIN || t > T_MAX)
		return 0;
	local_parts(h, t, &date, &sod, &off);
	return is_holiday_date(h, date);
}

time_t hours_next_open(const struct hours *h, time_t t)
{
	if (h->never_open)
		return (time_t)-1;
	const struct hday *dy = day_of(h, t);
	if (!dy)
		return (time_t)-1;
	long date = dy->date;
	for (int k = 0; k < SEARCH_DAYS; k++) {
		for (int i = 0; i < dy->nspan; i++)
			if (t < dy->span[i][1])
				return t > dy->span[i][0] ? t : dy->span[i][0];
		dy = get_day(h, ++date);
		if (!dy)
			return (time_t)-1;
	}
	return (time_t)-1;
}

time_t hours_next_close(const struct hours *h, time_t t)
{
	const struct hday *dy = day_of(h, t);
	time_t end = 0;
	int found = 0;

	if (!dy)
		return (time_t)-1;
	for (int i = 0; i < dy->nspan && !found; i++)
		if (t >= dy->span[i][0] && t < dy->span[i][1]) {
			end = dy->span[i][1];
			found = 1;
		}
	if (!found)
		return (time_t)-1;
	long date = dy->date;
	for (int k = 0; k < CLOSE_DAYS; k++) {
		if (end < dy->end)
			return end;
		dy = get_day(h, ++date);
		if (!dy || dy->nspan == 0 || dy->span[0][0] != end)
			return end;
		end = dy->span[0][1];
	}
	return (time_t)-1;
}

time_t hours_add(const struct hours *h, time_t start, long seconds)
{
	if (h->never_open)
		return (time_t)-1;
	const struct hday *dy = day_of(h, start);
	if (!dy)
		return (time_t)-1;
	long long rem = seconds > 0 ? seconds : 0;
	time_t t = start;
	long date = dy->date;
	for (int k = 0; k < SEARCH_DAYS; k++) {
		for (int i = 0; i < dy->nspan; i++) {
			if (dy->span[i][1] <= t)
				continue;
			time_t s = t > dy->span[i][0] ? t : dy->span[i][0];
			long long avail = (long long)(dy->span[i][1] - s);
			if (rem <= avail)
				return s + (time_t)rem;
			rem -= avail;
			t = dy->span[i][1];
		}
		dy = get_day(h, ++date);
		if (!dy)
			return (time_t)-1;
	}
	return (time_t)-1;
}

/* ---- text ---- */

/* Copy b into out like snprintf would and return the full length. */
static size_t emit(struct buf *b, char *out, size_t n)
{
	size_t len = b->len;
	if (n > 0) {
		size_t k = len < n - 1 ? len : n - 1;
		if (k)
			memcpy(out, b->p, k);
		out[k] = '\0';
	}
	buf_free(b);
	return len;
}

/* Append s to out[*k] (bounded by n, always NUL-terminated); *k counts
 * what the full phrase needs, like snprintf's return value. */
static void phrase_put(char *out, size_t n, size_t *k, const char *s)
{
	for (; *s; s++, (*k)++)
		if (*k + 1 < n)
			out[*k] = *s;
	if (n)
		out[*k < n ? *k : n - 1] = '\0';
}

/*
 * On the decision path for every escalation, so built by hand: snprintf
 * cost more than the rest of the decision's time arithmetic together.
 */
size_t hours_phrase(const struct hours *h, time_t now, time_t when, char *out, size_t n)
{
	long dn, dw, sod, off, y;
	int m, d;
	char day[40], hm[8];
	size_t k = 0;

	local_parts(h, now, &dn, &sod, &off);
	local_parts(h, when, &dw, &sod, &off);
	long diff = dw - dn;
	if (diff == 0) {
		phrase_put(out, n, &k, "today");
	} else if (diff == 1) {
		phrase_put(out, n, &k, "tomorrow");
	} else if (diff >= 2 && diff <= 6) {
		phrase_put(out, n, &k, day_long[weekday_of(dw)]);
	} else {
		civil_from_days(dw, &y, &m, &d);
		if (diff >= 7 && diff < 300)
			snprintf(day, sizeof(day), "%d %s", d, month_names[m - 1]);
		else
			snprintf(day, sizeof(day), "%d %s %ld", d, month_names[m - 1], y);
		phrase_put(out, n, &k, day);
	}
	long hh = sod / 3600, mm = sod % 3600 / 60;
	char *p = hm;
	if (hh >= 10)
		*p++ = (char)('0' + hh / 10);
	*p++ = (char)('0' + hh % 10);
	*p++ = ':';
	*p++ = (char)('0' + mm / 10);
	*p++ = (char)('0' + mm % 10);
	*p = '\0';
	phrase_put(out, n, &k, " at ");
	phrase_put(out, n, &k, hm);
	return k;
}

static void put_hm(struct buf *b, int min)
{
	buf_printf(b, "%d:%02d", min / 60, min % 60);
}

static int same_day(const struct hours *h, int a, int b)
{
	if (h->nr[a] != h->nr[b])
		return 0;
	for (int i = 0; i < h->nr[a]; i++)
		if (h->r[a][i].start != h->r[b][i].start || h->r[a][i].end != h->r[b][i].end)
			return 0;
	return 1;
}

size_t hours_summary(const struct hours *h, char *out, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	for (int w = 0; w < 7;) {
		int last = w;
		while (last + 1 < 7 && same_day(h, w, last + 1))
			last++;
		int all_day = h->nr[w] == 1 && h->r[w][0].start == 0 && h->r[w][0].end == DAY_MIN;
		if (b.len)
			buf_puts(&b, ", ");
		if (w == 0 && last == 6 && all_day) {
			/* It follows "We're open" and "Opening hours:" alike. */
			buf_puts(&b, "around the clock");
			break;
		}
		if (w == 0 && last == 6 && h->nr[w] > 0) {
			buf_puts(&b, "every day");
		} else {
			buf_puts(&b, day_short[w]);
			if (last > w) {
				buf_puts(&b, "\xe2\x80\x93");
				buf_puts(&b, day_short[last]);
			}
		}
		if (h->nr[w] == 0) {
			buf_puts(&b, " closed");
		} else if (all_day) {
			buf_puts(&b, " all day");
		} else {
			for (int i = 0; i < h->nr[w]; i++) {
				buf_puts(&b, i ? " and " : " ");
				put_hm(&b, h->r[w][i].start);
				buf_puts(&b, "\xe2\x80\x93");
				int e = h->r[w][i].end;
				put_hm(&b, e > DAY_MIN ? e - DAY_MIN : e);
			}
		}
		w = last + 1;
	}
	return emit(&b, out, n);
}

/* ---- calendar dates ---- */

long hours_today(const struct hours *h, time_t t)
{
	long date, sod, off;
	if (t < T_MIN || t > T_MAX)
		return floor_div(t, 86400);
	local_parts(h, t, &date, &sod, &off);
	return date;
}

long hours_date(long y, int m, int d)
{
	if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	return days_from_civil(y, m, d);
}

void hours_date_parts(long date, long *y, int *m, int *d)
{
	civil_from_days(date, y, m, d);
}

int hours_weekday(long date)
{
	return weekday_of(date);
}

enum hours_day hours_date_closed(const struct hours *h, long date)
{
	if (is_holiday_date(h, date))
		return HOURS_DAY_HOLIDAY;
	return h->nr[weekday_of(date)] == 0 ? HOURS_DAY_CLOSED_WEEKDAY : HOURS_DAY_OPEN;
}

size_t hours_date_phrase(long today, long date, int weekly, char *out, size_t n)
{
	struct buf b;
	long y;
	int m, d;

	buf_init(&b, 0);
	if (weekly) {
		buf_printf(&b, "on %ss", day_long[weekday_of(date)]);
		return emit(&b, out, n);
	}
	if (date == today || date == today + 1) {
		buf_puts(&b, date == today ? "today" : "tomorrow");
		return emit(&b, out, n);
	}
	civil_from_days(date, &y, &m, &d);
	buf_printf(&b, "on %s %d %s", day_long[weekday_of(date)], d, month_names[m - 1]);
	if (date < today || date - today > 300)
		buf_printf(&b, " %ld", y);
	return emit(&b, out, n);
}

size_t hours_local_label(const struct hours *h, time_t t, char *out, size_t n)
{
	char iso[48];
	struct buf b;
	struct tm tm;

	hours_iso_local(h, t, iso, sizeof(iso));
	buf_init(&b, 0);
	/* "2026-11-22T13:45:00+00:00" -> "2026-11-22 13:45" */
	buf_printf(&b, "%.10s %.5s", iso, iso + 11);
	use_zone(h->tz);
	if (t >= T_MIN && t <= T_MAX && localtime_r(&t, &tm) && tm.tm_zone && *tm.tm_zone)
		buf_printf(&b, " %s", tm.tm_zone);
	else
		buf_printf(&b, " UTC%s", iso + 19);
	return emit(&b, out, n);
}

void hours_iso_local(const struct hours *h, time_t t, char *out, size_t n)
{
	long date, sod, off, y;
	int m, d;

	local_parts(h, t, &date, &sod, &off);
	civil_from_days(date, &y, &m, &d);
	long ao = off < 0 ? -off : off;
	snprintf(out, n, "%04ld-%02d-%02dT%02ld:%02ld:%02ld%c%02ld:%02ld", y, m, d, sod / 3600,
	         sod % 3600 / 60, sod % 60, off < 0 ? '-' : '+', ao / 3600, ao % 3600 / 60);
}

/* ---- parsing ---- */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* "H:MM" or "HH:MM", 00:00..24:00; minutes since midnight or -1. */
static int parse_hm(const char **pp)
{
	const char *p = skip_ws(*pp);
	int hh = 0, nd = 0;
	while (isdigit((unsigned char)*p) && nd < 3) {
		hh = hh * 10 + (*p++ - '0');
		nd++;
	}
	if (nd < 1 || nd > 2 || *p != ':' || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
	    isdigit((unsigned char)p[3]))
		return -1;
	int mm = (p[1] - '0') * 10 + (p[2] - '0');
	if (hh > 24 || mm > 59 || (hh == 24 && mm != 0))
		return -1;
	*pp = p + 3;
	return hh * 60 + mm;
}

static void fmt_hm(char *out, size_t n, int min)
{
	snprintf(out, n, "%02d:%02d", min / 60 % 100, min % 60);
}

/*
 * One range "HH:MM-HH:MM" (piece of a day's value, already trimmed of
 * commas).  Reports at node and returns -1 on error.
 */
static int parse_range(struct diag *d, struct yml_doc *y, const yaml_node_t *node, const char *where,
                       const char *piece, struct wrange *out)
{
	const char *p = piece;
	int s = parse_hm(&p);
	int e = -1;
	if (s >= 0) {
		p = skip_ws(p);
		if (*p == '-')
			p++;
		else if (strncmp(p, "\xe2\x80\x93", 3) == 0)
			p += 3;
		else
			s = -1;
	}
	if (s >= 0) {
		e = parse_hm(&p);
		if (e >= 0 && *skip_ws(p) != '\0')
			e = -1;
	}
	if (s < 0 || e < 0) {
		yml_error(d, y, node,
		          "%s: bad time range '%s' (expected HH:MM-HH:MM like 09:00-17:30, or closed)", where,
		          piece);
		return -1;
	}
	if (s == DAY_MIN) {
		yml_error(d, y, node, "%s: range '%s' starts at 24:00 (use 00:00 of the next day)", where,
		          piece);
		return -1;
	}
	if (s == e) {
		yml_error(d, y, node, "%s: range '%s' is empty (for all day write 00:00-24:00)", where,
		          piece);
		return -1;
	}
	if (e < s) {
		/* past midnight */
		if (e > WRAP_MAX_END || e + DAY_MIN - s > WRAP_MAX_LEN) {
			char sug[16] = "", a[8], b[8];
			fmt_hm(a, sizeof(a), s);
			fmt_hm(b, sizeof(b), e);
			if (e + 12 * 60 > s && e + 12 * 60 <= DAY_MIN) {
				char c[8];
				fmt_hm(c, sizeof(c), e + 12 * 60);
				snprintf(sug, sizeof(sug), "%s-%s", a, c);
			}
			if (sug[0])
				yml_error(d, y, node,
				          "%s: range '%s' ends (%s) before it starts (%s); a range past "
				          "midnight must "
				          "end by 12:00 and last at most 20 hours (did you mean '%s'?)",
				          where, piece, b, a, sug);
			else
				yml_error(d, y, node,
				          "%s: range '%s' ends (%s) before it starts (%s); a range past "
				          "midnight must "
				          "end by 12:00 and last at most 20 hours",
				          where, piece, b, a);
			return -1;
		}
		e += DAY_MIN;
	}
	out->start = s;
	out->end = e;
	return 0;
}

/* Parse one scalar (possibly comma-separated ranges, or "closed") appending to r. */
static int parse_day_value(struct diag *d, struct yml_doc *y, const yaml_node_t *node, const char *where,
                           const char *s, struct wrange *r, int *nr, int allow_closed)
{
	int errs = 0;
	const char *p = skip_ws(s);
	size_t len = strlen(p);
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 6 && strncasecmp(p, "closed", 6) == 0) {
		if (!allow_closed) {
			yml_error(d, y, node, "%s: 'closed' cannot be mixed with time ranges", where);
			return -1;
		}
		return 0;
	}
	if (len == 0) {
		yml_error(d, y, node, "%s: empty (write a range like 09:00-17:30, or closed)", where);
		return -1;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t plen = comma ? (size_t)(comma - p) : strlen(p);
		char piece[64];
		const char *q = skip_ws(p);
		plen -= (size_t)(q - p);
		while (plen && (q[plen - 1] == ' ' || q[plen - 1] == '\t'))
			plen--;
		if (plen >= sizeof(piece)) {
			yml_error(d, y, node, "%s: bad time range (expected HH:MM-HH:MM like 09:00-17:30)",
			          where);
			return -1;
		}
		memcpy(piece, q, plen);
		piece[plen] = '\0';
		if (strcasecmp(piece, "closed") == 0) {
			yml_error(d, y, node, "%s: 'closed' cannot be mixed with time ranges", where);
			errs++;
		} else if (*nr >= MAX_RANGES) {
			yml_error(d, y, node, "%s: too many ranges for one day (at most %d)", where,
			          MAX_RANGES);
			return -1;
		} else {
			struct wrange w;
			if (parse_range(d, y, node, where, piece, &w) == 0)
				r[(*nr)++] = w;
			else
				errs++;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return errs ? -1 : 0;
}

static int day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && strncasecmp(s, day_keys[i], 3) == 0)
			return i;
	return -1;
}

static void unknown_day(struct diag *d, struct yml_doc *y, const yaml_node_t *k, const char *word)
{
	static const char *const cands[] = {"mon", "tue", "wed",     "thu",     "fri",
	                                    "sat", "sun", "mon-fri", "sat-sun", NULL};
	const char *sug = NULL;
	size_t wl = strlen(word);
	char lower[32];
	size_t i;

	for (i = 0; i < wl && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)word[i]);
	lower[i] = '\0';
	for (int j = 0; j < 7 && !sug; j++)
		if (wl >= 3 && wl < sizeof(lower) && strncmp(day_full[j], lower, wl) == 0)
			sug = day_keys[j];
	if (!sug)
		sug = did_you_mean(lower, cands);
	if (sug)
		yml_error(d, y, k, "business.hours: unknown day '%s' (did you mean '%s'?)", word, sug);
	else
		yml_error(d, y, k,
		          "business.hours: unknown day '%s' (expected mon..sun or a range like mon-fri)",
		          word);
}

/* Days named by a key ("mon", "mon-fri", "sat, sun") as a bit mask; -1 on error. */
static int parse_day_key(struct diag *d, struct yml_doc *y, const yaml_node_t *k, const char *key)
{
	int mask = 0, errs = 0;
	const char *p = key;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char piece[32];
		const char *q = skip_ws(p);
		len -= (size_t)(q - p);
		while (len && (q[len - 1] == ' ' || q[len - 1] == '\t'))
			len--;
		if (len >= sizeof(piece))
			len = sizeof(piece) - 1;
		memcpy(piece, q, len);
		piece[len] = '\0';
		const char *dash = strchr(piece, '-');
		if (dash) {
			int a = day_index(piece, (size_t)(dash - piece));
			int b = day_index(dash + 1, strlen(dash + 1));
			if (a < 0 || b < 0) {
				char bad[32];
				snprintf(bad, sizeof(bad), "%s", a < 0 ? piece : dash + 1);
				if (a < 0)
					bad[dash - piece] = '\0';
				unknown_day(d, y, k, bad);
				errs++;
			} else if (a == b) {
				yml_error(d, y, k,
				          "business.hours: day range '%s' starts and ends on the same day "
				          "(write '%s')",
				          piece, day_keys[a]);
				errs++;
			} else {
				for (int i = a;; i = (i + 1) % 7) {
					mask |= 1 << i;
					if (i == b)
						break;
				}
			}
		} else {
			int a = day_index(piece, len);
			if (a < 0) {
				unknown_day(d, y, k, piece);
				errs++;
			} else {
				mask |= 1 << a;
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return errs ? -1 : mask;
}

/* Where each weekly occurrence of a range came from, for overlap errors. */
struct occ {
	int a, b; /* minutes from Monday 00:00 */
	int day, ri;
	const yaml_node_t *node;
};

static int occ_cmp(const void *x, const void *y)
{
	const struct occ *a = x, *b = y;
	return (a->a > b->a) - (a->a < b->a);
}

static void fmt_range(char *out, size_t n, struct wrange r)
{
	char a[8], b[8];
	fmt_hm(a, sizeof(a), r.start);
	fmt_hm(b, sizeof(b), r.end > DAY_MIN ? r.end - DAY_MIN : r.end);
	snprintf(out, n, "%s-%s", a, b);
}

/*
 * Ranges may not overlap anywhere in the week, including a range past
 * midnight running into the next day (and Sunday night into Monday).  One
 * error per pair of ranges, even when a key like mon-fri repeats the pair.
 */
static int check_overlaps(struct diag *d, struct yml_doc *y, struct hours *h, const yaml_node_t *nodes[7])
{
	struct occ o[7 * MAX_RANGES * 2];
	int no = 0, errs = 0;
	struct {
		const yaml_node_t *pn, *qn;
		int pri, qri;
	} seen[16];
	int nseen = 0;

	for (int w = 0; w < 7; w++)
		for (int i = 0; i < h->nr[w]; i++) {
			int a = w * DAY_MIN + h->r[w][i].start, b = w * DAY_MIN + h->r[w][i].end;
			o[no++] = (struct occ){a, b > WEEK_MIN ? WEEK_MIN : b, w, i, nodes[w]};
			if (b > WEEK_MIN)
				o[no++] = (struct occ){0, b - WEEK_MIN, w, i, nodes[w]};
		}
	qsort(o, (size_t)no, sizeof(o[0]), occ_cmp);
	int maxi = -1;
	for (int i = 0; i < no; i++) {
		if (maxi >= 0 && o[i].a < o[maxi].b) {
			const struct occ *p = &o[maxi], *q = &o[i];
			int dup = 0;
			for (int j = 0; j < nseen; j++)
				if (seen[j].pn == p->node && seen[j].qn == q->node && seen[j].pri == p->ri &&
				    seen[j].qri == q->ri)
					dup = 1;
			if (!dup) {
				char ra[16], rb[16];
				fmt_range(ra, sizeof(ra), h->r[p->day][p->ri]);
				fmt_range(rb, sizeof(rb), h->r[q->day][q->ri]);
				yml_error(d, y, q->node, "business.hours: %s %s and %s %s overlap",
				          day_short[p->day], ra, day_short[q->day], rb);
				errs++;
				if (nseen < 16) {
					seen[nseen].pn = p->node;
					seen[nseen].qn = q->node;
					seen[nseen].pri = p->ri;
					seen[nseen].qri = q->ri;
					nseen++;
				}
			}
		}
		if (maxi < 0 || o[i].b > o[maxi].b)
			maxi = i;
	}
	return errs;
}

static int parse_week(struct diag *d, struct yml_doc *y, struct hours *h, yaml_node_t *map)
{
	const yaml_node_t *keynode[7] = {0}, *valnode[7] = {0};
	yaml_node_t *k, *v;
	int errs = 0;

	if (yml_want_map(d, y, map, "business.hours (like { mon-fri: \"09:00-17:30\", sun: closed })") < 0)
		return 1;
	for (int i = 0; yml_pair(y, map, i, &k, &v); i++) {
		const char *key = yml_scalar(k);
		if (!key) {
			yml_error(d, y, k, "business.hours: expected a day like mon or mon-fri as a key");
			errs++;
			continue;
		}
		int mask = parse_day_key(d, y, k, key);
		if (mask < 0) {
			errs++;
			continue;
		}
		struct wrange r[MAX_RANGES];
		int nr = 0, bad = 0;
		char where[64];
		snprintf(where, sizeof(where), "business.hours.%.40s", key);
		const char *s = yml_scalar(v);
		if (s) {
			bad = parse_day_value(d, y, v, where, s, r, &nr, 1) < 0;
		} else if (v && v->type == YAML_SEQUENCE_NODE) {
			for (int j = 0; j < yml_len(v); j++) {
				yaml_node_t *it = yml_item(y, v, j);
				const char *t = yml_scalar(it);
				if (!t) {
					yml_error(d, y, it, "%s: expected a time range like 09:00-17:30",
					          where);
					bad = 1;
				} else if (parse_day_value(d, y, it, where, t, r, &nr, 0) < 0) {
					bad = 1;
				}
			}
		} else {
			yml_error(d, y, v, "%s: expected hours like \"09:00-17:30\" or closed", where);
			bad = 1;
		}
		errs += bad;
		for (int w = 0; w < 7; w++) {
			if (!(mask & (1 << w)))
				continue;
			if (keynode[w]) {
				yml_error(d, y, k,
				          "business.hours: '%s' is given twice (also by the key at line %d)",
				          day_keys[w], (int)keynode[w]->start_mark.line + 1);
				errs++;
				continue;
			}
			keynode[w] = k;
			valnode[w] = v;
			if (!bad) {
				memcpy(h->r[w], r, sizeof(r[0]) * (size_t)nr);
				h->nr[w] = nr;
			}
		}
	}
	if (!errs)
		errs += check_overlaps(d, y, h, valnode);
	return errs;
}

static int parse_date(const char *s, long *out)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -1;
	long y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int dd = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || dd < 1 || dd > days_in_month(y, m))
		return -1;
	*out = days_from_civil(y, m, dd);
	return 0;
}

static int long_cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static int parse_holidays(struct diag *d, struct yml_doc *y, struct hours *h, yaml_node_t *seq)
{
	int errs = 0;
	size_t cap = 0;

	if (!seq)
		return 0;
	if (yml_scalar(seq) && *yml_scalar(seq) == '\0')
		return 0; /* "holidays:" with nothing after it */
	if (seq->type != YAML_SEQUENCE_NODE) {
		yml_error(d, y, seq, "business.holidays: expected a list of dates (like [\"2026-12-25\"])");
		return 1;
	}
	for (int i = 0; i < yml_len(seq); i++) {
		yaml_node_t *it = yml_item(y, seq, i);
		const char *s = yml_scalar(it);
		long a, b;
		if (!s) {
			yml_error(d, y, it, "business.holidays: expected a date like 2026-12-25");
			errs++;
			continue;
		}
		const char *dots = strstr(s, "..");
		if (dots) {
			char first[16] = "";
			size_t fl = (size_t)(dots - s);
			if (fl < sizeof(first)) {
				memcpy(first, s, fl);
				first[fl] = '\0';
			}
			if (parse_date(first, &a) < 0 || parse_date(dots + 2, &b) < 0) {
				yml_error(d, y, it,
				          "business.holidays: bad range '%s' (expected "
				          "YYYY-MM-DD..YYYY-MM-DD, real dates)",
				          s);
				errs++;
				continue;
			}
			if (b < a || b - a >= MAX_HOLIDAY_RANGE) {
				yml_error(
				    d, y, it,
				    "business.holidays: range '%s' must run forward and span at most %d days",
				    s, MAX_HOLIDAY_RANGE);
				errs++;
				continue;
			}
		} else {
			if (parse_date(s, &a) < 0) {
				yml_error(d, y, it,
				          "business.holidays: bad date '%s' (expected a real date "
				          "YYYY-MM-DD, like 2026-12-25)",
				          s);
				errs++;
				continue;
			}
			b = a;
		}
		if (h->nholidays + (size_t)(b - a + 1) > MAX_HOLIDAYS) {
			yml_error(d, y, it, "business.holidays: too many (at most %d days in all)",
			          MAX_HOLIDAYS);
			return errs + 1;
		}
		for (long x = a; x <= b; x++) {
			if (h->nholidays == cap) {
				cap = cap ? cap * 2 : 16;
				h->holidays = xrealloc(h->holidays, cap * sizeof(long));
			}
			h->holidays[h->nholidays++] = x;
		}
	}
	if (h->nholidays > 1) {
		qsort(h->holidays, h->nholidays, sizeof(long), long_cmp);
		size_t o = 1;
		for (size_t i = 1; i < h->nholidays; i++)
			if (h->holidays[i] != h->holidays[o - 1])
				h->holidays[o++] = h->holidays[i];
		h->nholidays = o;
	}
	return errs;
}

struct hours *hours_parse(struct diag *d, struct yml_doc *y, yaml_node_t *hours_map,
                          yaml_node_t *holidays_seq, const char *tz)
{
	struct hours *h = xcalloc(1, sizeof(*h));
	char why[600];
	int errs = 0;

	h->cache = xcalloc(1, sizeof(*h->cache));
	h->cache->last = -1;
	if (!tz || hours_zone_check(tz, why, sizeof(why)) < 0) {
		diag_error(d, y->file, 0, 0, "business.timezone: '%s': %s", tz ? tz : "",
		           tz ? why : "missing");
		errs++;
		h->tz = xstrdup("UTC");
	} else {
		h->tz = xstrdup(tz);
	}
	if (!hours_map) {
		for (int w = 0; w < 7; w++) {
			h->nr[w] = 1;
			h->r[w][0] = (struct wrange){0, DAY_MIN};
		}
	} else {
		errs += parse_week(d, y, h, hours_map);
	}
	errs += parse_holidays(d, y, h, holidays_seq);
	if (errs) {
		hours_free(h);
		return NULL;
	}
	h->never_open = 1;
	for (int w = 0; w < 7; w++)
		if (h->nr[w])
			h->never_open = 0;
	return h;
}

void hours_free(struct hours *h)
{
	if (!h)
		return;
	free(h->tz);
	free(h->holidays);
	free(h->cache);
	free(h);
}
