/*
 * util.h - small pieces every module uses: checked allocation, a growable
 * byte buffer with a hard cap, logfmt logging on stderr, and the shared
 * enums of the decision (priority).
 *
 * Ownership: buf_* functions own buf->p; buf_free() releases it.  xmalloc and
 * friends abort on out-of-memory (the daemon cannot do anything useful
 * without memory, and a half-built structure is worse than a clean exit).
 */
#ifndef FD_UTIL_H
#define FD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FD_VERSION "0.1.0"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define FD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define FD_NORETURN     __attribute__((noreturn))
#else
#define FD_PRINTF(f, a)
#define FD_NORETURN
#endif

/* Priorities, most urgent first; PRIO_NONE where a decision has none. */
enum priority { PRIO_NONE = -1, PRIO_URGENT = 0, PRIO_HIGH, PRIO_NORMAL, PRIO_LOW, PRIO_COUNT };

const char *priority_name(enum priority p);  /* "urgent".. or NULL */
enum priority priority_parse(const char *s); /* PRIO_NONE if unknown */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* How many bytes of s (strlen n) fit in max without cutting a UTF-8
 * sequence: max moved back over continuation bytes (n when it fits). */
size_t utf8_fit(const char *s, size_t n, size_t max);
/* A copy of s cut to at most max bytes that way. */
char *xstrdup_cut(const char *s, size_t max);
char *xasprintf(const char *fmt, ...) FD_PRINTF(1, 2);

/*
 * A growable buffer, always NUL-terminated once anything was appended.
 * `cap_max` (0 = unlimited) is the hard limit for outside input: an append
 * that would pass it fails with -1 and leaves the buffer unchanged.
 */
struct buf {
	char *p;
	size_t len;
	size_t cap;
	size_t cap_max;
};

void buf_init(struct buf *b, size_t cap_max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) FD_PRINTF(2, 3);
char *buf_steal(struct buf *b); /* caller frees; b is reset */

/* Logging: logfmt lines on stderr, "ts=... level=... msg=... k=v ...". */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
extern enum log_level log_threshold;
void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...) FD_PRINTF(3, 4);
#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)
/* Quote a value for logfmt into b (adds quotes when needed). */
void log_quote(struct buf *b, const char *v);
/*
 * The event loop's logging: debug and info lines are kept in stderr's
 * buffer until log_flush(), which the loop calls once per iteration before
 * it waits (a busy daemon logs a line per post, and a write per line was a
 * twentieth of its time); warnings and errors are written at once, so
 * nothing that explains a failure waits in the buffer.  Lines of the last
 * iteration are lost only if the process is killed (SIGKILL, a crash).
 */
void log_batch(void);
void log_flush(void);

FD_NORETURN void fatal(const char *fmt, ...) FD_PRINTF(1, 2);

/* Time: ISO-8601 UTC "2026-11-22T13:45:00Z" into out (>= 32 bytes). */
void time_iso_utc(time_t t, char *out, size_t n);
/* Parse ISO-8601 "YYYY-MM-DDTHH:MM[:SS][.fff](Z|+HH:MM|-HH:MM)" or a bare
 * "YYYY-MM-DD HH:MM" (taken as local time in the current TZ).
 * Returns 0 and sets *out, or -1. */
int time_parse_iso(const char *s, time_t *out);
/* Monotonic milliseconds, for timers and latency. */
uint64_t time_mono_ms(void);
uint64_t time_mono_ns(void);

/* FNV-1a 64-bit, for deterministic choices (reply variants, jitter seeds). */
uint64_t hash64(const void *p, size_t n);

/* Parse a non-negative decimal integer fully; 0 ok, -1 bad or overflow. */
int parse_long(const char *s, long *out);
/* Parse a duration "90s", "30m", "4h", "1d", "1h30m"; seconds into *out. */
int parse_duration(const char *s, long *out);
/* Parse a size "4096", "512KB", "16MB", "1GB" (K/M/G are powers of 1024;
 * "KiB" and "B" suffixes are taken too); bytes into *out.  0 ok, -1 bad. */
int parse_size(const char *s, long long *out);

#endif
