/*
 * test_hours.c - business time: parsing and its errors, open/closed,
 * business-time addition across nights, weekends, holidays and DST, and the
 * phrases and summaries customers read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hours.h"

#define DESIGN_HOURS "hours: { mon-fri: \"09:00-17:30\", sat: \"10:00-14:00\", sun: closed }\n"

/* Parse `text` (a mapping with `hours` and optional `holidays`) for zone tz. */
static struct hours *parse(const char *text, const char *tz, struct diag *d)
{
	struct yml_doc y;
	struct hours *h = NULL;

	if (yml_load_mem(&y, "cfg.yaml", text, strlen(text), d) == 0) {
		yaml_node_t *root = yml_root(&y);
		h = hours_parse(d, &y, yml_get(&y, root, "hours"), yml_get(&y, root, "holidays"), tz);
	}
	yml_free(&y);
	return h;
}

static struct hours *must(const char *text, const char *tz)
{
	struct diag d;
	diag_init(&d);
	struct hours *h = parse(text, tz, &d);
	if (!h)
		fail_msg("parse failed:\n%s", d.out.p ? d.out.p : "");
	diag_free(&d);
	return h;
}

/* The errors text for a config that must be refused. */
static char *errors_of(const char *text, const char *tz)
{
	struct diag d;
	diag_init(&d);
	struct hours *h = parse(text, tz, &d);
	assert_null(h);
	assert_true(d.errors > 0);
	char *s = buf_steal(&d.out);
	diag_free(&d);
	return s;
}

static time_t at(const char *iso)
{
	time_t t;
	if (time_parse_iso(iso, &t) < 0)
		fail_msg("bad test time %s", iso);
	return t;
}

static void assert_time(time_t got, const char *want)
{
	char a[40], b[40];
	if (got == at(want))
		return;
	time_iso_utc(got, a, sizeof(a));
	time_iso_utc(at(want), b, sizeof(b));
	fail_msg("got %s (%lld), want %s", a, (long long)got, b);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void test_design_example(void **state)
{
	(void)state;
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	/* Friday 22:00 + 2h: the documented hours open on Saturday, so use a week without Saturday. */
	struct hours *h2 = must("hours: { mon-fri: \"09:00-17:30\" }\n", "Europe/London");
	assert_time(hours_add(h2, at("2026-11-20T22:00:00Z"), 2 * 3600), "2026-11-23T11:00:00Z");
	/* With Saturday 10-14 open, the same post is due Saturday 12:00. */
	assert_time(hours_add(h, at("2026-11-20T22:00:00Z"), 2 * 3600), "2026-11-21T12:00:00Z");
	/* 4h from Saturday 13:00: 1h Saturday, 3h Monday. */
	assert_time(hours_add(h, at("2026-11-21T13:00:00Z"), 4 * 3600), "2026-11-23T12:00:00Z");
	assert_true(hours_is_open(h, at("2026-11-23T09:00:00Z")));
	assert_false(hours_is_open(h, at("2026-11-23T08:59:59Z")));
	assert_false(hours_is_open(h, at("2026-11-22T12:00:00Z")));
	assert_string_equal(hours_tz(h), "Europe/London");
	hours_free(h);
	hours_free(h2);
}

static void test_closing_time(void **state)
{
	(void)state;
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	time_t close = at("2026-11-20T17:30:00Z");
	/* A post arriving exactly at closing time is not in open time. */
	assert_false(hours_is_open(h, close));
	assert_true(hours_is_open(h, close - 1));
	assert_time(hours_add(h, close, 30 * 60), "2026-11-21T10:30:00Z");
	/* A result landing on the closing time is the closing time. */
	assert_time(hours_add(h, at("2026-11-20T15:30:00Z"), 2 * 3600), "2026-11-20T17:30:00Z");
	assert_time(hours_add(h, at("2026-11-20T15:30:00Z"), 2 * 3600 + 1), "2026-11-21T10:00:01Z");
	assert_time(hours_next_open(h, close), "2026-11-21T10:00:00Z");
	assert_time(hours_next_close(h, at("2026-11-20T10:00:00Z")), "2026-11-20T17:30:00Z");
	assert_int_equal(hours_next_close(h, close), -1);
	/* seconds <= 0: the next open instant. */
	assert_time(hours_add(h, close, 0), "2026-11-21T10:00:00Z");
	assert_time(hours_add(h, at("2026-11-20T12:00:00Z"), 0), "2026-11-20T12:00:00Z");
	assert_time(hours_add(h, at("2026-11-20T12:00:00Z"), -5), "2026-11-20T12:00:00Z");
	hours_free(h);
}

static void test_holidays(void **state)
{
	(void)state;
	struct hours *h = must(DESIGN_HOURS "holidays: [\"2026-12-25\", \"2026-12-26\", \"2026-12-28\"]\n",
	                       "Europe/London");
	/* Thursday 24 Dec 17:00 + 4h: 30 min Thursday, Fri and Sat are holidays, Sun
	 * closed, Monday 28 is a holiday too: the rest lands on Tuesday. */
	assert_time(hours_add(h, at("2026-12-24T17:00:00Z"), 4 * 3600), "2026-12-29T12:30:00Z");
	assert_false(hours_is_open(h, at("2026-12-25T12:00:00Z")));
	assert_true(hours_is_holiday(h, at("2026-12-25T00:00:00Z")));
	assert_true(hours_is_holiday(h, at("2026-12-28T23:59:59Z")));
	assert_false(hours_is_holiday(h, at("2026-12-27T12:00:00Z")));
	assert_time(hours_next_open(h, at("2026-12-24T18:00:00Z")), "2026-12-29T09:00:00Z");
	hours_free(h);

	/* Holiday on a Monday pushes a Friday evening post to Tuesday. */
	h = must("hours: { mon-fri: \"09:00-17:00\" }\nholidays: [\"2026-11-23\"]\n", "Europe/London");
	assert_time(hours_add(h, at("2026-11-20T22:00:00Z"), 2 * 3600), "2026-11-24T11:00:00Z");
	hours_free(h);

	/* The holiday is a local date in the business zone. */
	h = must("hours: { mon-sun: \"00:00-24:00\" }\nholidays: [\"2026-12-25\"]\n", "America/New_York");
	assert_false(hours_is_holiday(h, at("2026-12-25T03:00:00Z"))); /* 24 Dec 22:00 EST */
	assert_true(hours_is_open(h, at("2026-12-25T03:00:00Z")));
	assert_true(hours_is_holiday(h, at("2026-12-25T06:00:00Z")));
	assert_false(hours_is_open(h, at("2026-12-25T06:00:00Z")));
	assert_time(hours_next_close(h, at("2026-12-24T12:00:00Z")), "2026-12-25T05:00:00Z");
	assert_time(hours_next_open(h, at("2026-12-25T12:00:00Z")), "2026-12-26T05:00:00Z");
	hours_free(h);

	/* A range of dates. */
	h = must(
	    "hours: { mon-fri: \"09:00-17:00\" }\nholidays: [\"2026-12-24..2027-01-01\", \"2026-12-25\"]\n",
	    "Europe/London");
	assert_time(hours_next_open(h, at("2026-12-23T18:00:00Z")), "2027-01-04T09:00:00Z");
	hours_free(h);
}

static void test_midnight_and_wrap(void **state)
{
	(void)state;
	struct hours *h = must("hours: { fri: \"22:00-02:00\", sat: \"10:00-12:00\" }\n", "Europe/London");
	assert_true(hours_is_open(h, at("2026-11-20T22:00:00Z")));
	assert_true(hours_is_open(h, at("2026-11-21T00:00:00Z")));
	assert_true(hours_is_open(h, at("2026-11-21T01:59:59Z")));
	assert_false(hours_is_open(h, at("2026-11-21T02:00:00Z")));
	assert_false(hours_is_open(h, at("2026-11-20T21:59:59Z")));
	/* The span runs across midnight without a break. */
	assert_time(hours_next_close(h, at("2026-11-20T23:00:00Z")), "2026-11-21T02:00:00Z");
	/* Friday 23:30 + 3h: 2.5h until Saturday 02:00, then 30 min from Saturday 10:00. */
	assert_time(hours_add(h, at("2026-11-20T23:30:00Z"), 3 * 3600), "2026-11-21T10:30:00Z");
	hours_free(h);

	/* A holiday closes its local date, and its own night range does not spill. */
	h = must("hours: { fri: \"22:00-02:00\", sat: \"22:00-02:00\" }\nholidays: [\"2026-11-21\"]\n",
	         "Europe/London");
	assert_true(hours_is_open(h, at("2026-11-20T23:00:00Z")));
	assert_false(hours_is_open(h, at("2026-11-21T01:00:00Z")));
	assert_false(hours_is_open(h, at("2026-11-21T23:00:00Z")));
	assert_false(hours_is_open(h, at("2026-11-22T01:00:00Z")));
	assert_time(hours_next_close(h, at("2026-11-20T23:00:00Z")), "2026-11-21T00:00:00Z");
	hours_free(h);

	/* Sunday night into Monday wraps around the week. */
	h = must("hours: { sun: \"20:00-01:00\" }\n", "Europe/London");
	assert_true(hours_is_open(h, at("2026-11-23T00:30:00Z")));
	assert_false(hours_is_open(h, at("2026-11-23T01:00:00Z")));
	hours_free(h);

	/* Midnight with touching ranges is one span. */
	h = must("hours: { mon: \"18:00-24:00\", tue: \"00:00-03:00\" }\n", "Europe/London");
	assert_time(hours_next_close(h, at("2026-11-23T20:00:00Z")), "2026-11-24T03:00:00Z");
	assert_time(hours_add(h, at("2026-11-23T23:00:00Z"), 2 * 3600), "2026-11-24T01:00:00Z");
	hours_free(h);
}

static void test_all_day_and_all_closed(void **state)
{
	(void)state;
	struct hours *h = must("hours: { mon-sun: \"00:00-24:00\" }\n", "Europe/London");
	time_t t = at("2026-11-20T13:14:15Z");
	assert_true(hours_is_open(h, t));
	assert_time(hours_add(h, t, 86400), "2026-11-21T13:14:15Z");
	assert_int_equal(hours_next_open(h, t), t);
	assert_int_equal(hours_next_close(h, t), -1); /* open 24/7 */
	hours_free(h);

	/* No hours mapping at all: open around the clock. */
	h = must("other: 1\n", "Europe/London");
	assert_true(hours_is_open(h, t));
	assert_time(hours_add(h, t, 3600), "2026-11-20T14:14:15Z");
	hours_free(h);

	/* Weekdays all day: closes at Saturday 00:00. */
	h = must("hours: { mon-fri: \"00:00-24:00\" }\n", "Europe/London");
	assert_time(hours_next_close(h, at("2026-11-17T10:00:00Z")), "2026-11-21T00:00:00Z");
	hours_free(h);

	h = must("hours: {}\n", "Europe/London");
	assert_false(hours_is_open(h, t));
	assert_int_equal(hours_next_open(h, t), -1);
	assert_int_equal(hours_add(h, t, 60), -1);
	assert_int_equal(hours_next_close(h, t), -1);
	hours_free(h);

	h = must("hours: { mon-sun: closed }\n", "Europe/London");
	assert_int_equal(hours_add(h, t, 60), -1);
	hours_free(h);
}

static void test_split_days(void **state)
{
	(void)state;
	struct hours *h = must("hours: { mon-fri: \"09:00-12:00, 13:00-17:00\", sat: [\"10:00-11:00\", "
	                       "\"15:00-16:00\"] }\n",
	                       "Europe/London");
	assert_time(hours_add(h, at("2026-11-23T11:00:00Z"), 2 * 3600), "2026-11-23T14:00:00Z");
	assert_false(hours_is_open(h, at("2026-11-23T12:30:00Z")));
	assert_time(hours_next_open(h, at("2026-11-23T12:30:00Z")), "2026-11-23T13:00:00Z");
	assert_time(hours_next_close(h, at("2026-11-23T09:30:00Z")), "2026-11-23T12:00:00Z");
	assert_time(hours_add(h, at("2026-11-21T10:30:00Z"), 3600), "2026-11-21T15:30:00Z");
	hours_free(h);
}

static void test_day_keys(void **state)
{
	(void)state;
	struct hours *h = must("hours: { fri-mon: \"10:00-11:00\", \"Tue, THU\": \"12:00-13:00\" }\n", "UTC");
	assert_true(hours_is_open(h, at("2026-11-20T10:30:00Z")));  /* Fri */
	assert_true(hours_is_open(h, at("2026-11-22T10:30:00Z")));  /* Sun */
	assert_true(hours_is_open(h, at("2026-11-23T10:30:00Z")));  /* Mon */
	assert_false(hours_is_open(h, at("2026-11-24T10:30:00Z"))); /* Tue */
	assert_true(hours_is_open(h, at("2026-11-24T12:30:00Z")));
	assert_false(hours_is_open(h, at("2026-11-25T12:30:00Z"))); /* Wed */
	assert_true(hours_is_open(h, at("2026-11-26T12:30:00Z")));
	hours_free(h);
}

static void test_dst_london(void **state)
{
	(void)state;
	/* 29 March 2026: 01:00 GMT becomes 02:00 BST. */
	struct hours *h = must("hours: { sun: \"00:00-03:00\" }\n", "Europe/London");
	assert_true(hours_is_open(h, at("2026-03-29T00:59:59Z")));
	assert_true(hours_is_open(h, at("2026-03-29T01:00:00Z"))); /* 02:00 BST */
	assert_false(hours_is_open(h, at("2026-03-29T02:00:00Z")));
	/* Only two real hours exist between 00:00 and 03:00 local that night. */
	assert_time(hours_add(h, at("2026-03-29T00:00:00Z"), 90 * 60), "2026-03-29T01:30:00Z");
	assert_time(hours_add(h, at("2026-03-29T00:00:00Z"), 2 * 3600), "2026-03-29T02:00:00Z");
	assert_time(hours_next_close(h, at("2026-03-29T00:30:00Z")), "2026-03-29T02:00:00Z");
	hours_free(h);

	/* An hour that does not exist is not open time. */
	h = must("hours: { sun: \"01:00-02:00\" }\n", "Europe/London");
	assert_time(hours_next_open(h, at("2026-03-28T12:00:00Z")), "2026-04-05T00:00:00Z");
	hours_free(h);

	/* Weekday hours across the change: Friday 27 March 17:00 GMT + 4h. */
	h = must(DESIGN_HOURS, "Europe/London");
	assert_time(hours_add(h, at("2026-03-27T17:00:00Z"), 4 * 3600), "2026-03-28T13:30:00Z");
	struct hours *w = must("hours: { mon-fri: \"09:00-17:30\" }\n", "Europe/London");
	assert_time(hours_add(w, at("2026-03-27T17:00:00Z"), 4 * 3600), "2026-03-30T11:30:00Z");
	char iso[40];
	hours_iso_local(w, at("2026-03-30T11:30:00Z"), iso, sizeof(iso));
	assert_string_equal(iso, "2026-03-30T12:30:00+01:00");
	hours_iso_local(w, at("2026-03-27T17:00:00Z"), iso, sizeof(iso));
	assert_string_equal(iso, "2026-03-27T17:00:00+00:00");
	hours_free(w);
	hours_free(h);

	/* 25 October 2026: 02:00 BST becomes 01:00 GMT; 00:00-03:00 is 4 real hours. */
	h = must("hours: { sun: \"00:00-03:00\" }\n", "Europe/London");
	assert_time(hours_next_open(h, at("2026-10-24T12:00:00Z")), "2026-10-24T23:00:00Z");
	assert_time(hours_add(h, at("2026-10-24T23:00:00Z"), 4 * 3600), "2026-10-25T03:00:00Z");
	assert_time(hours_next_close(h, at("2026-10-24T23:30:00Z")), "2026-10-25T03:00:00Z");
	hours_free(h);

	/* The repeated hour is open twice. */
	h = must("hours: { sun: \"01:00-01:30\" }\n", "Europe/London");
	assert_true(hours_is_open(h, at("2026-10-25T00:15:00Z")));  /* 01:15 BST */
	assert_false(hours_is_open(h, at("2026-10-25T00:45:00Z"))); /* 01:45 BST */
	assert_true(hours_is_open(h, at("2026-10-25T01:15:00Z")));  /* 01:15 GMT */
	assert_time(hours_add(h, at("2026-10-24T23:00:00Z"), 45 * 60), "2026-10-25T01:15:00Z");
	hours_free(h);
}

static void test_dst_new_york(void **state)
{
	(void)state;
	struct hours *h = must("hours: { mon-fri: \"09:00-17:00\" }\n", "America/New_York");
	/* Friday 6 March 16:00 EST + 2h: 1h Friday, 1h Monday 9 March (now EDT). */
	assert_time(hours_add(h, at("2026-03-06T21:00:00Z"), 2 * 3600), "2026-03-09T14:00:00Z");
	char iso[40];
	hours_iso_local(h, at("2026-03-09T14:00:00Z"), iso, sizeof(iso));
	assert_string_equal(iso, "2026-03-09T10:00:00-04:00");
	hours_iso_local(h, at("2026-03-06T21:00:00Z"), iso, sizeof(iso));
	assert_string_equal(iso, "2026-03-06T16:00:00-05:00");
	/* Back to EST on 1 November. */
	assert_time(hours_add(h, at("2026-10-30T20:00:00Z"), 2 * 3600), "2026-11-02T15:00:00Z");
	hours_free(h);

	/* Open around the clock: business time is real elapsed time across the change. */
	h = must("hours: { mon-sun: \"00:00-24:00\" }\n", "America/New_York");
	assert_time(hours_add(h, at("2026-03-08T05:00:00Z"), 4 * 3600), "2026-03-08T09:00:00Z");
	assert_time(hours_add(h, at("2026-11-01T04:00:00Z"), 4 * 3600), "2026-11-01T08:00:00Z");
	hours_free(h);
}

static void test_phrases(void **state)
{
	(void)state;
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	char out[64];
	time_t now = at("2026-11-23T10:00:00Z"); /* Monday */

	hours_phrase(h, now, at("2026-11-23T15:30:00Z"), out, sizeof(out));
	assert_string_equal(out, "today at 15:30");
	hours_phrase(h, now, at("2026-11-24T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "tomorrow at 9:00");
	hours_phrase(h, now, at("2026-11-26T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "Thursday at 9:00");
	hours_phrase(h, now, at("2026-11-29T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "Sunday at 9:00");
	hours_phrase(h, now, at("2026-11-30T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "30 November at 9:00");
	hours_phrase(h, at("2026-12-30T10:00:00Z"), at("2027-01-02T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "Saturday at 9:00");
	hours_phrase(h, at("2026-12-20T10:00:00Z"), at("2027-01-02T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "2 January at 9:00");
	hours_phrase(h, now, at("2028-01-02T09:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "2 January 2028 at 9:00");
	/* Days are local dates, not 24-hour periods. */
	hours_phrase(h, at("2026-11-23T23:50:00Z"), at("2026-11-24T00:10:00Z"), out, sizeof(out));
	assert_string_equal(out, "tomorrow at 0:10");
	/* In the business zone, with DST. */
	hours_phrase(h, at("2026-07-01T08:00:00Z"), at("2026-07-01T08:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "today at 9:00");
	struct hours *ny = must(DESIGN_HOURS, "America/New_York");
	hours_phrase(ny, at("2026-11-23T15:00:00Z"), at("2026-11-24T03:00:00Z"), out, sizeof(out));
	assert_string_equal(out, "today at 22:00");
	/* Truncation is safe and the full length is returned. */
	char small[8];
	size_t n = hours_phrase(h, now, at("2026-11-23T15:30:00Z"), small, sizeof(small));
	assert_int_equal(n, strlen("today at 15:30"));
	assert_string_equal(small, "today a");
	hours_free(ny);
	hours_free(h);
}

static void test_summaries(void **state)
{
	(void)state;
	char out[256];
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "Mon\xe2\x80\x93"
	                         "Fri 9:00\xe2\x80\x93"
	                         "17:30, Sat 10:00\xe2\x80\x93"
	                         "14:00, Sun closed");
	hours_free(h);

	h = must("hours: { mon-thu: \"09:00-12:00, 13:00-17:00\", fri: \"22:00-02:00\" }\n", "UTC");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "Mon\xe2\x80\x93Thu 9:00\xe2\x80\x93"
	                         "12:00 and 13:00\xe2\x80\x93"
	                         "17:00, Fri 22:00\xe2\x80\x93"
	                         "2:00, Sat\xe2\x80\x93Sun closed");
	hours_free(h);

	/* "We're open {{hours}}" must read right for all-day schedules. */
	h = must("hours: { mon-sun: \"00:00-24:00\" }\n", "UTC");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "around the clock");
	hours_free(h);

	h = must("hours: { mon-fri: \"00:00-24:00\", sat: \"10:00-14:00\" }\n", "UTC");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "Mon\xe2\x80\x93"
	                         "Fri all day, Sat 10:00\xe2\x80\x93"
	                         "14:00, Sun closed");
	hours_free(h);

	h = must("hours: { mon-sun: \"08:00-20:00\" }\n", "UTC");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "every day 8:00\xe2\x80\x93"
	                         "20:00");
	hours_free(h);

	h = must("hours: {}\n", "UTC");
	hours_summary(h, out, sizeof(out));
	assert_string_equal(out, "Mon\xe2\x80\x93Sun closed");
	hours_free(h);
}

/* Times for a terminal name their zone, summer time included. */
static void test_local_label(void **state)
{
	(void)state;
	char out[64];
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	hours_local_label(h, 1795355100, out, sizeof(out)); /* 2026-11-22T13:45:00Z */
	assert_string_equal(out, "2026-11-22 13:45 GMT");
	hours_local_label(h, 1782896400, out, sizeof(out)); /* 2026-07-01T09:00:00Z */
	assert_string_equal(out, "2026-07-01 10:00 BST");
	hours_free(h);
	h = must(DESIGN_HOURS, "Asia/Dubai");
	hours_local_label(h, 1795355100, out, sizeof(out));
	assert_string_equal(out, "2026-11-22 17:45 +04");
	hours_free(h);
}

static void test_errors(void **state)
{
	(void)state;
	char *e;

	e = errors_of("hours:\n  mon: \"25:00-26:00\"\n  tue: \"9-17\"\n", "UTC");
	assert_contains(e, "cfg.yaml:2:8: business.hours.mon: bad time range '25:00-26:00'");
	assert_contains(e, "cfg.yaml:3:8: business.hours.tue: bad time range '9-17'");
	free(e);

	e = errors_of("hours:\n  mon: \"09:00-05:30\"\n", "UTC");
	assert_contains(
	    e, "cfg.yaml:2:8: business.hours.mon: range '09:00-05:30' ends (05:30) before it starts (09:00)");
	assert_contains(e, "did you mean '09:00-17:30'?");
	free(e);

	e = errors_of("hours:\n  mon: \"10:00-10:00\"\n  tue: \"24:00-02:00\"\n", "UTC");
	assert_contains(e, "cfg.yaml:2:8: business.hours.mon: range '10:00-10:00' is empty");
	assert_contains(e, "cfg.yaml:3:8: business.hours.tue: range '24:00-02:00' starts at 24:00");
	free(e);

	e = errors_of("hours:\n  mon: \"09:00-12:00, 11:00-13:00\"\n", "UTC");
	assert_contains(e, "cfg.yaml:2:8: business.hours: Mon 09:00-12:00 and Mon 11:00-13:00 overlap");
	free(e);

	/* A night range running into the next day's first range; one error for mon-fri. */
	e = errors_of("hours:\n  mon-fri: \"09:00-10:00, 09:30-11:00\"\n  sat: \"22:00-02:00\"\n  sun: "
	              "\"01:00-03:00\"\n",
	              "UTC");
	assert_contains(e, "cfg.yaml:2:12: business.hours: Mon 09:00-10:00 and Mon 09:30-11:00 overlap");
	assert_null(strstr(e, "Tue 09:00"));
	assert_contains(e, "cfg.yaml:4:8: business.hours: Sat 22:00-02:00 and Sun 01:00-03:00 overlap");
	free(e);

	e = errors_of("hours:\n  mon-fri: \"09:00-17:00\"\n  wed: closed\n", "UTC");
	assert_contains(e, "cfg.yaml:3:3: business.hours: 'wed' is given twice (also by the key at line 2)");
	free(e);

	e = errors_of("hours:\n  mnn: \"09:00-17:00\"\n  monday: closed\n  tues-fri: closed\n  xyz: closed\n",
	              "UTC");
	assert_contains(e, "cfg.yaml:2:3: business.hours: unknown day 'mnn' (did you mean 'mon'?)");
	assert_contains(e, "cfg.yaml:3:3: business.hours: unknown day 'monday' (did you mean 'mon'?)");
	assert_contains(e, "cfg.yaml:4:3: business.hours: unknown day 'tues' (did you mean 'tue'?)");
	assert_contains(e, "cfg.yaml:5:3: business.hours: unknown day 'xyz' (expected mon..sun");
	free(e);

	e = errors_of("hours:\n  mon: \"closed, 09:00-10:00\"\n  tue: [closed]\n  wed: {a: 1}\n  thu: \"\"\n",
	              "UTC");
	assert_contains(e, "cfg.yaml:2:8: business.hours.mon: 'closed' cannot be mixed with time ranges");
	assert_contains(e, "cfg.yaml:3:9: business.hours.tue: 'closed' cannot be mixed with time ranges");
	assert_contains(e, "cfg.yaml:4:8: business.hours.wed: expected hours like");
	assert_contains(e, "cfg.yaml:5:8: business.hours.thu: empty");
	free(e);

	e = errors_of("hours: { mon: closed }\nholidays: [\"2026-02-30\", \"2026-12-25\", \"26-12-25\", "
	              "\"2027-01-05..2027-01-01\", [1]]\n",
	              "UTC");
	assert_contains(e, "cfg.yaml:2:12: business.holidays: bad date '2026-02-30'");
	assert_contains(e, "cfg.yaml:2:40: business.holidays: bad date '26-12-25'");
	assert_contains(e, "business.holidays: range '2027-01-05..2027-01-01' must run forward");
	assert_contains(e, "cfg.yaml:2:78: business.holidays: expected a date");
	free(e);

	e = errors_of("hours: { mon: closed }\nholidays: 2026-12-25\n", "UTC");
	assert_contains(e, "cfg.yaml:2:11: business.holidays: expected a list of dates");
	free(e);

	e = errors_of("hours: [1]\n", "UTC");
	assert_contains(e, "cfg.yaml:1:8: expected a mapping for business.hours");
	free(e);

	e = errors_of("hours: { mon: closed }\n", "Europe/Londn");
	assert_contains(e, "cfg.yaml: business.timezone: 'Europe/Londn': unknown time zone");
	free(e);
	e = errors_of("hours: { mon: closed }\n", "../../etc/passwd");
	assert_contains(e, "not an IANA time zone name");
	free(e);

	char why[256];
	assert_int_equal(hours_zone_check("Europe/London", why, sizeof(why)), 0);
	assert_int_equal(hours_zone_check("UTC", why, sizeof(why)), 0);
	assert_int_equal(hours_zone_check("Europe", why, sizeof(why)), -1); /* a directory */
	assert_int_equal(hours_zone_check("", why, sizeof(why)), -1);
	assert_int_equal(hours_zone_check("Europe/London ", why, sizeof(why)), -1);
}

/* Two businesses in different zones used alternately stay correct. */
static void test_zone_switching(void **state)
{
	(void)state;
	struct hours *lon = must("hours: { mon-fri: \"09:00-17:00\" }\n", "Europe/London");
	struct hours *ny = must("hours: { mon-fri: \"09:00-17:00\" }\n", "America/New_York");
	for (int i = 0; i < 40; i++) {
		time_t t = at("2026-11-23T14:30:00Z") + (time_t)i * 86400;
		assert_int_equal(hours_is_open(lon, t), hours_is_open(lon, t - 3600));
		char a[40], b[40];
		hours_iso_local(lon, t, a, sizeof(a));
		hours_iso_local(ny, t, b, sizeof(b));
		assert_memory_equal(a + 11, "14:30:00+00:00", 14);
		assert_memory_equal(b + 11, "09:30:00-05:00", 14);
	}
	assert_time(hours_add(ny, at("2026-11-23T21:30:00Z"), 3600), "2026-11-24T14:30:00Z");
	assert_time(hours_add(lon, at("2026-11-23T16:00:00Z"), 3600), "2026-11-23T17:00:00Z");
	hours_free(lon);
	hours_free(ny);
}

static void test_out_of_range(void **state)
{
	(void)state;
	struct hours *h = must(DESIGN_HOURS, "Europe/London");
	time_t far = (time_t)400000000000LL;
	char out[64];
	assert_false(hours_is_open(h, far));
	assert_int_equal(hours_next_open(h, far), -1);
	assert_int_equal(hours_add(h, far, 60), -1);
	assert_int_equal(hours_add(h, -far, 60), -1);
	hours_iso_local(h, far, out, sizeof(out));
	assert_true(strlen(out) > 0);
	hours_phrase(h, 0, far, out, sizeof(out));
	assert_true(strlen(out) > 0);
	/* Ten years of business time is refused rather than searched forever. */
	assert_int_equal(hours_add(h, at("2026-11-23T10:00:00Z"), 30L * 365 * 86400), -1);
	hours_free(h);
}

/* ---- cross-check against a naive model ---- */

/* A schedule written twice: as config text and as the ranges the naive model reads. */
struct sched {
	const char *yaml;
	int r[7][4][2]; /* minutes; end > 1440 runs past midnight; {0,0} ends the list */
	long holidays[4];
};

static long civil_days(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int naive_holiday(const struct sched *s, long date)
{
	for (int i = 0; i < 4 && s->holidays[i]; i++)
		if (s->holidays[i] == date)
			return 1;
	return 0;
}

/* Open by definition: the local wall-clock minute falls in a range of its local date. */
static int naive_open(const struct sched *s, time_t t)
{
	struct tm tm;
	localtime_r(&t, &tm);
	long date = civil_days(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	int w = (tm.tm_wday + 6) % 7, pw = (w + 6) % 7, m = tm.tm_hour * 60 + tm.tm_min;
	if (naive_holiday(s, date))
		return 0;
	for (int i = 0; i < 4 && s->r[w][i][1]; i++)
		if (m >= s->r[w][i][0] && m < s->r[w][i][1])
			return 1;
	if (!naive_holiday(s, date - 1))
		for (int i = 0; i < 4 && s->r[pw][i][1]; i++)
			if (s->r[pw][i][1] > 1440 && m < s->r[pw][i][1] - 1440)
				return 1;
	return 0;
}

/* Offsets change on whole minutes in these zones, so openness is constant within a UTC minute. */
static time_t naive_add(const struct sched *s, time_t t, long secs)
{
	time_t cur = t;
	long rem = secs;
	for (int i = 0; i < 40 * 1440; i++) {
		time_t next = (cur / 60 + 1) * 60;
		if (naive_open(s, cur)) {
			if (rem <= next - cur)
				return cur + rem;
			rem -= (long)(next - cur);
		}
		cur = next;
	}
	return (time_t)-2;
}

static time_t naive_close(const struct sched *s, time_t t)
{
	if (!naive_open(s, t))
		return (time_t)-1;
	for (time_t cur = (t / 60 + 1) * 60; cur < t + 8 * 86400; cur += 60)
		if (!naive_open(s, cur))
			return cur;
	return (time_t)-1;
}

static void cross_check(const struct sched *s, const char *tz)
{
	struct hours *h = must(s->yaml, tz);
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)strlen(tz);
	time_t y2026 = at("2026-01-01T00:00:00Z");
	time_t samples[300];
	int n = 0;
	static const long adds[] = {0, 1, 1800, 3600, 4 * 3600, 86400};

	/* instants around every offset change of the year, then random ones */
	setenv("TZ", tz, 1);
	tzset();
	long prev = 0;
	for (time_t t = y2026; t < y2026 + 366 * 86400 && n < 200; t += 1800) {
		struct tm tm;
		localtime_r(&t, &tm);
		if (t != y2026 && tm.tm_gmtoff != prev)
			for (int k = -6; k <= 6 && n < 200; k++)
				samples[n++] = t + k * 1200 - 17;
		prev = tm.tm_gmtoff;
	}
	while (n < 300) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		samples[n++] = y2026 + (time_t)(x % (366 * 86400ULL));
	}
	for (int i = 0; i < n; i++) {
		time_t t = samples[i];
		/* the library under test may have switched TZ: the naive side sets it back */
		setenv("TZ", tz, 1);
		tzset();
		int want = naive_open(s, t);
		if (hours_is_open(h, t) != want)
			fail_msg("%s: is_open(%lld) = %d, naive %d", tz, (long long)t, !want, want);
		long secs = adds[i % 6];
		time_t nv = naive_add(s, t, secs);
		setenv("TZ", tz, 1);
		tzset();
		time_t nc = naive_close(s, t);
		time_t got = hours_add(h, t, secs);
		if (got != nv)
			fail_msg("%s: hours_add(%lld, %ld) = %lld, naive %lld", tz, (long long)t, secs,
			         (long long)got, (long long)nv);
		got = hours_next_close(h, t);
		if (got != nc)
			fail_msg("%s: next_close(%lld) = %lld, naive %lld", tz, (long long)t, (long long)got,
			         (long long)nc);
	}
	hours_free(h);
}

static void test_cross_check_zones(void **state)
{
	(void)state;
	static const struct sched scheds[] = {
	    {DESIGN_HOURS "holidays: [\"2026-12-25\", \"2026-04-06\"]\n",
	     {[0] = {{540, 1050}},
	      [1] = {{540, 1050}},
	      [2] = {{540, 1050}},
	      [3] = {{540, 1050}},
	      [4] = {{540, 1050}},
	      [5] = {{600, 840}}},
	     {20812, 20549}},
	    {"hours: { fri-sat: \"20:00-03:00\", sun: \"03:00-04:30, 10:00-11:00\", tue: \"00:00-24:00\", "
	     "wed: "
	     "\"00:00-01:30\" }\nholidays: [\"2026-03-28\", \"2026-10-31\"]\n",
	     {[1] = {{0, 1440}},
	      [2] = {{0, 90}},
	      [4] = {{1200, 1620}},
	      [5] = {{1200, 1620}},
	      [6] = {{180, 270}, {600, 660}}},
	     {20540, 20757}},
	    {"hours: { sat: \"23:00-00:30\", sun: \"00:30-03:30\", mon-fri: \"01:45-02:15, 08:00-20:00\" }\n",
	     {[0] = {{105, 135}, {480, 1200}},
	      [1] = {{105, 135}, {480, 1200}},
	      [2] = {{105, 135}, {480, 1200}},
	      [3] = {{105, 135}, {480, 1200}},
	      [4] = {{105, 135}, {480, 1200}},
	      [5] = {{1380, 1470}},
	      [6] = {{30, 210}}},
	     {0}},
	};
	static const char *const zones[] = {"Europe/London",
	                                    "America/New_York",
	                                    "Australia/Lord_Howe",
	                                    "America/Havana",
	                                    "Africa/Casablanca",
	                                    "Asia/Kolkata",
	                                    "Pacific/Chatham",
	                                    "America/Santiago",
	                                    "Europe/Dublin",
	                                    "Australia/Sydney",
	                                    "UTC"};
	assert_int_equal(civil_days(2026, 12, 25), 20812);
	for (size_t i = 0; i < ARRAY_LEN(scheds); i++)
		for (size_t z = 0; z < ARRAY_LEN(zones); z++)
			cross_check(&scheds[i], zones[z]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_design_example),
	    cmocka_unit_test(test_closing_time),
	    cmocka_unit_test(test_holidays),
	    cmocka_unit_test(test_midnight_and_wrap),
	    cmocka_unit_test(test_all_day_and_all_closed),
	    cmocka_unit_test(test_split_days),
	    cmocka_unit_test(test_day_keys),
	    cmocka_unit_test(test_dst_london),
	    cmocka_unit_test(test_dst_new_york),
	    cmocka_unit_test(test_phrases),
	    cmocka_unit_test(test_summaries),
	    cmocka_unit_test(test_local_label),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_zone_switching),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_cross_check_zones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
