/*
 * util.c - allocation, buffers, logfmt logging, time and number parsing.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum log_level log_threshold = LOG_INFO;

static const char *prio_names[PRIO_COUNT] = {"urgent", "high", "normal", "low"};

const char *priority_name(enum priority p)
{
	if (p < 0 || p >= PRIO_COUNT)
		return NULL;
	return prio_names[p];
}

enum priority priority_parse(const char *s)
{
	for (int i = 0; i < PRIO_COUNT; i++)
		if (s && strcmp(s, prio_names[i]) == 0)
			return (enum priority)i;
	return PRIO_NONE;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		fatal("out of memory (%zu x %zu bytes)", n, m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("xasprintf: bad format");
	char *p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void buf_init(struct buf *b, size_t cap_max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->cap_max = cap_max;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static int buf_grow(struct buf *b, size_t n)
{
	if (b->cap_max && b->len + n > b->cap_max)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_grow(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (buf_grow(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_steal(struct buf *b)
{
	char *p = b->p ? b->p : xstrdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void log_quote(struct buf *b, const char *v)
{
	int plain = *v != '\0';
	for (const char *s = v; *s; s++)
		if (*s == ' ' || *s == '"' || *s == '=' || *s == '\\' || (unsigned char)*s < 0x20)
			plain = 0;
	if (plain) {
		buf_puts(b, v);
		return;
	}
	buf_putc(b, '"');
	for (const char *s = v; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c < 0x20) {
			buf_printf(b, "\\x%02x", c);
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static const char *level_names[] = {"debug", "info", "warn", "error"};

/*
 * One logfmt line.  `fmt` supplies the rest of the line already as
 * "key=value" pairs; values that may hold spaces must be quoted by the caller
 * with log_quote().  Write is a single fputs so lines never interleave
 * (stdio locks the stream; a line longer than the batch buffer is written
 * whole by it).
 */
void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
{
	if (lvl < log_threshold)
		return;
	struct buf b;
	char ts[40];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_init(&b, 0);
	buf_printf(&b, "ts=%s.%03ldZ level=%s msg=", ts, now.tv_nsec / 1000000L, level_names[lvl]);
	log_quote(&b, msg);
	if (fmt && *fmt) {
		va_list ap;
		char small[1024];
		va_start(ap, fmt);
		vsnprintf(small, sizeof(small), fmt, ap);
		va_end(ap);
		buf_putc(&b, ' ');
		buf_puts(&b, small);
	}
	buf_putc(&b, '\n');
	fputs(b.p, stderr);
	if (lvl >= LOG_WARN)
		fflush(stderr);
	buf_free(&b);
}

void log_batch(void)
{
	static char stderr_buf[16384];
	setvbuf(stderr, stderr_buf, _IOFBF, sizeof(stderr_buf));
}

void log_flush(void)
{
	fflush(stderr);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	fputs("frontdesk: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void time_iso_utc(time_t t, char *out, size_t n)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int time_parse_iso(const char *s, time_t *out)
{
	int Y, M, D, h = 0, mi = 0, sec = 0;
	size_t len = strlen(s);

	if (len < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31)
		return -1;
	const char *p = s + 10;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
			return -1;
		p += 5;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			if (*p == '.' || *p == ',') {
				p++;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
	} else if (*p != '\0') {
		return -1;
	}
	if (h > 24 || mi > 59 || sec > 60)
		return -1;
	if (*p == '\0') {
		/* No offset: local time in the current TZ (the business zone). */
		struct tm tm = {0};
		tm.tm_year = Y - 1900;
		tm.tm_mon = M - 1;
		tm.tm_mday = D;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t t = mktime(&tm);
		if (t == (time_t)-1 && errno == EOVERFLOW)
			return -1;
		*out = t;
		return 0;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om = 0, sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(p, 2, &oh))
			return -1;
		p += 2;
		if (*p == ':')
			p++;
		if (*p && digits(p, 2, &om))
			return -1;
		if (*p)
			p += 2;
		if (oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	long days = days_from_civil(Y, M, D);
	*out = (time_t)(days * 86400L + h * 3600L + mi * 60L + sec - off);
	return 0;
}

uint64_t time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ms(void)
{
	return time_mono_ns() / 1000000ULL;
}

uint64_t hash64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int parse_long(const char *s, long *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		long long unit;
	} units[] = {{"", 1},           {"b", 1},           {"k", 1LL << 10},
	             {"kb", 1LL << 10}, {"kib", 1LL << 10}, {"m", 1LL << 20},
	             {"mb", 1LL << 20}, {"mib", 1LL << 20}, {"g", 1LL << 30},
	             {"gb", 1LL << 30}, {"gib", 1LL << 30}};
	long long v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (v > (1LL << 40))
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].suffix) == 0) {
			*out = v * units[i].unit;
			return 0;
		}
	}
	return -1;
}

int parse_duration(const char *s, long *out)
{
	long total = 0;
	int any = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		if (!isdigit((unsigned char)*s))
			return -1;
		long v = 0;
		while (isdigit((unsigned char)*s)) {
			if (v > 1000000000L)
				return -1;
			v = v * 10 + (*s++ - '0');
		}
		long unit;
		switch (*s) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -1;
		}
		s++;
		if (v > LONG_MAX / unit || total > LONG_MAX - v * unit)
			return -1;
		total += v * unit;
		any = 1;
	}
	if (!any)
		return -1;
	*out = total;
	return 0;
}

size_t utf8_fit(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

char *xstrdup_cut(const char *s, size_t max)
{
	return xstrndup(s, utf8_fit(s, strlen(s), max));
}
