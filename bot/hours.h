/*
 * hours.h - business time: weekly opening hours, holidays and the business's
 * IANA time zone, and the arithmetic the decision needs on them ("are we
 * open", "when do we open", "what is 4 hours of open time after now").
 *
 * Configuration (business.hours / business.holidays; frontdesk.yaml(5)):
 *
 *   hours: { mon-fri: "09:00-17:30", sat: "10:00-14:00", sun: closed }
 *   holidays: ["2026-12-25", "2026-12-26"]
 *
 * - A day's value is `closed`, one range "HH:MM-HH:MM", several ranges
 *   separated by commas ("09:00-12:00, 13:00-17:00"), or a YAML list of
 *   ranges.  "00:00-24:00" is all day.  An en dash works as well as '-'.
 * - A range whose end is before its start runs past midnight: "22:00-02:00"
 *   on fri is Friday 22:00 to Saturday 02:00.  Such a range must end by 12:00
 *   and last at most 20 hours, so that a typo like "09:00-05:30" (for 17:30)
 *   is an error rather than a 20.5-hour day.
 * - Keys are days mon..sun (case does not matter), ranges of days "mon-fri"
 *   (a range may wrap around the week: "fri-mon" is fri, sat, sun, mon) and
 *   comma lists of either ("mon-wed, fri").  A day not listed is closed; a
 *   day listed twice is an error, as are overlapping ranges (including a
 *   range past midnight running into the next day's first range).  Ranges
 *   that merely touch (12:00 end, 12:00 start; Mon 00:00-24:00 and
 *   Tue 00:00-24:00) form one continuous open span.
 * - Holidays are local dates "YYYY-MM-DD" in the business zone, or inclusive
 *   ranges "2026-12-24..2027-01-02" (at most 366 days).  A holiday is closed
 *   for its whole local date, and none of that day's ranges happen, so a
 *   range past midnight that starts on a holiday does not spill into the
 *   next day either.
 * - No hours mapping at all (hours_map NULL) means open around the clock;
 *   an empty mapping means never open.
 *
 * Semantics: an instant is open when its local wall-clock time in the
 * business zone falls inside a range of its local date (ranges are
 * half-open: a post arriving exactly at closing time is not in open time).
 * Across DST changes this counts real elapsed seconds: the hour skipped in
 * spring is not open time, and the hour repeated in autumn is open twice if
 * its wall-clock time is inside a range.
 *
 * Time zone: the C library does the zone arithmetic (TZ + tzset +
 * localtime_r).  The process is single-threaded; the hours functions switch
 * the process's TZ to the hours' zone when they need the C library, and
 * remember the zone they set, so the switch happens only when the zone
 * changes.  Other code that reads local time (time_parse_iso on a bare
 * date) therefore sees the business zone after any hours call; code must
 * not set TZ itself.  Results are computed once per local day and cached
 * (as UTC intervals) inside the struct hours, so the common calls on the
 * decision path (hours_is_open, hours_add, hours_phrase) cost tens of
 * nanoseconds and do not call the C library at all when the day is cached.
 * A struct hours must therefore not be shared between threads.
 *
 * Supported instants: years 1900 to 9999.  Outside that range every
 * instant is closed and the functions below return (time_t)-1 where they
 * return a time.
 *
 * Ownership: hours_parse returns a struct the caller frees with hours_free;
 * it copies everything it keeps (no pointer into the YAML document).
 * hours_tz returns a string owned by the struct.
 */
#ifndef FD_HOURS_H
#define FD_HOURS_H

#include <stddef.h>
#include <time.h>

#include "yml.h"

struct hours;

/*
 * Parse and validate `hours_map` (a mapping, or NULL for "always open") and
 * `holidays_seq` (a list of dates, or NULL) for time zone `tz` (an IANA name).
 * Every problem is reported to d at its YAML node ("bad time", "overlaps",
 * "unknown day 'mnn' (did you mean 'mon'?)", ...); then NULL is returned.
 * An invalid tz is reported without a position (check it first with
 * hours_zone_check to report it at the config's own node).
 */
struct hours *hours_parse(struct diag *d, struct yml_doc *y, yaml_node_t *hours_map,
                          yaml_node_t *holidays_seq, const char *tz);
void hours_free(struct hours *h);

/*
 * 0 when `tz` names an installed IANA zone ($TZDIR or /usr/share/zoneinfo,
 * a file starting "TZif"); -1 with a reason in err otherwise.  Names with
 * "..", a leading '/', or characters other than letters, digits, '_', '+',
 * '-' and '/' are refused before the file system is looked at.
 */
int hours_zone_check(const char *tz, char *err, size_t errn);

/* The IANA zone name; owned by h. */
const char *hours_tz(const struct hours *h);

/* 1 when t is in open time (see Semantics above), else 0. */
int hours_is_open(const struct hours *h, time_t t);

/* 1 when t's local date (in the business zone) is a holiday. */
int hours_is_holiday(const struct hours *h, time_t t);

/*
 * The first open instant at or after t: t itself when open now.
 * (time_t)-1 when the business is never open (every day closed), or when no
 * open time exists in the next ten years (holidays covering everything).
 */
time_t hours_next_open(const struct hours *h, time_t t);

/*
 * When the open span containing t ends (the first closed instant after t),
 * following spans that continue past midnight.  (time_t)-1 when closed at t,
 * and also when open without a break for the next 8 days (open 24/7):
 * callers that need to tell those apart check hours_is_open.
 */
time_t hours_next_close(const struct hours *h, time_t t);

/*
 * Business-time addition: the instant at which `seconds` of open time have
 * elapsed after `start`.  Closed time (nights, closed days, holidays, the
 * missing DST hour) does not count.  A result landing exactly on a closing
 * time is that closing time (15:30 + 2h with 17:30 close is 17:30, not the
 * next morning).  seconds <= 0 gives hours_next_open(start).  (time_t)-1 when
 * never open, or when the result would be more than ten years away.
 * Example: Friday 22:00 + 2h with Saturday and Sunday closed and Monday
 * opening at 09:00 is Monday 11:00.
 */
time_t hours_add(const struct hours *h, time_t start, long seconds);

/*
 * When `when` is, said to a customer at `now`, in the business zone:
 * "today at 15:30", "tomorrow at 9:00", "Monday at 9:00" (2 to 6 days
 * ahead), "2 January at 9:00" (7 or more days ahead), and
 * "2 January 2027 at 9:00" when in the past or ~10 months or more ahead.
 * Days are counted by local date, not by 24-hour periods.  Writes at most n
 * bytes including the NUL (truncating); returns the length of the full
 * phrase, like snprintf.
 */
size_t hours_phrase(const struct hours *h, time_t now, time_t when, char *out, size_t n);

/*
 * One line for people: "Mon–Fri 9:00–17:30, Sat 10:00–14:00, Sun closed"
 * (UTF-8 en dashes; consecutive days with the same hours are grouped;
 * several ranges in a day are joined with " and "; "all day" for
 * 00:00-24:00; the same hours all week are "every day 9:00–17:00", and
 * all day all week "around the clock").  It reads after "We're open" and
 * after "Opening hours:".  Holidays are not listed.  Same return and
 * truncation contract as hours_phrase.
 */
size_t hours_summary(const struct hours *h, char *out, size_t n);

/*
 * Calendar dates, for reasoning about a day a customer names ("can you
 * deliver on Christmas Day?").  A date is a day number: days since
 * 1970-01-01 in the proleptic Gregorian calendar.
 */

/* t's local date in the business zone. */
long hours_today(const struct hours *h, time_t t);
/* The date y-m-d, or -1 when there is no such date (31 April). */
long hours_date(long y, int m, int d);
/* A date's year, month (1-12) and day. */
void hours_date_parts(long date, long *y, int *m, int *d);
/* 0 = Monday .. 6 = Sunday. */
int hours_weekday(long date);

/* Why the business is closed all of a local date, if it is. */
enum hours_day { HOURS_DAY_OPEN = 0, HOURS_DAY_CLOSED_WEEKDAY, HOURS_DAY_HOLIDAY };
/*
 * Whether the business opens at all on local date `date`: closed for a
 * holiday, closed because that weekday has no opening hours, or open.  A
 * range running past midnight into the date from the day before does not
 * count as opening it.
 */
enum hours_day hours_date_closed(const struct hours *h, long date);

/*
 * A date said to a customer on local date `today`, to follow "we're
 * closed": "today", "tomorrow", "on Friday 25 December", with the year when
 * it is not within the coming ~10 months ("on Friday 1 January 2027").
 * `weekly`: "on Sundays" (the weekday in general).  Same return and
 * truncation contract as hours_phrase.
 */
size_t hours_date_phrase(long today, long date, int weekly, char *out, size_t n);

/*
 * t for people reading a terminal, with the zone named:
 * "2026-11-22 13:45 GMT", "2026-07-01 09:00 BST" (the zone's abbreviation
 * at t, or its offset such as "+04" where the zone has no letters).  Same
 * return and truncation contract as hours_phrase.
 */
size_t hours_local_label(const struct hours *h, time_t t, char *out, size_t n);

/*
 * t as local ISO-8601 with the zone's offset at t:
 * "2026-11-23T11:00:00+00:00".  n should be at least 32.  Outside the
 * supported years, UTC with "+00:00".
 */
void hours_iso_local(const struct hours *h, time_t t, char *out, size_t n);

#endif
