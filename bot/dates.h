/*
 * dates.h - the calendar dates a customer's post names: "on Christmas
 * Day", "25 December", "Dec 25th", "2026-12-25", "25/12", "tomorrow",
 * "on Sunday", "Sundays".
 *
 * The pipeline uses them so that a question about a day the business is
 * closed ("can you deliver on christmas day?") never gets a cheerful
 * general answer (hours_date_closed tells whether a date is closed).
 *
 * What is recognised, on the normalized text (normalize.h) and, for
 * slashed dates, on the plain text:
 *   - day and month in either order, with or without "of", ordinal
 *     suffixes and a year: "25 december", "25th of dec", "december 25th
 *     2026"; month names and their usual abbreviations ("may" only next to
 *     a day number);
 *   - ISO dates "2026-12-25";
 *   - "25/12" and "12/25" when only one reading is a date ("1/5" is
 *     ambiguous and skipped; "24/7" is a phrase, not a date);
 *   - "today", "tonight", "tomorrow";
 *   - weekdays ("sunday", "sundays", "next sunday"): the coming one, today
 *     included unless "next"; marked weekly because the customer usually
 *     means the weekday in general;
 *   - a few fixed and movable days by name: christmas day / eve, xmas day,
 *     boxing day, new year's day / eve, good friday, easter sunday /
 *     monday, and "on christmas" / "on easter" (not "christmas" alone:
 *     "christmas cake" names no day).
 * A date without a year is the next one on or after `today`.
 *
 * Nothing is allocated; at most `max` dates are returned, in text order,
 * duplicates included.  Never fails.
 */
#ifndef FD_DATES_H
#define FD_DATES_H

#include <stddef.h>

struct named_date {
	long date;  /* day number (hours.h) */
	int weekly; /* named as a weekday ("sunday", "sundays"), not as one date */
};

/*
 * Dates named in a post: `norm` is its normalized text (" w1 w2 ... "),
 * `plain` its plain text (may be NULL), `today` the business's local date.
 * Returns how many were stored in out.
 */
size_t dates_named(const char *norm, const char *plain, long today, struct named_date *out, size_t max);

#endif
