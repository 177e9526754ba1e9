/*
 * test_dates.c - the dates a post names, and the calendar questions hours
 * answers about them (closed all day? how to say it?).  "Today" is Monday
 * 21 December 2026 throughout, in a business open Mon-Fri with 25 and 28
 * December as holidays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dates.h"
#include "hours.h"
#include "normalize.h"

/* The dates text names, as "YYYY-MM-DD[w]" joined by spaces. */
static const char *named(const char *text)
{
	static char out[256];
	struct text t;
	struct named_date nd[8];
	long today = hours_date(2026, 12, 21);

	text_init(&t);
	text_normalize(&t, text, strlen(text));
	size_t n = dates_named(t.norm, t.plain, today, nd, 8);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		long y;
		int m, d;
		hours_date_parts(nd[i].date, &y, &m, &d);
		size_t len = strlen(out);
		snprintf(out + len, sizeof(out) - len, "%s%04ld-%02d-%02d%s", i ? " " : "", y, m, d,
		         nd[i].weekly ? "w" : "");
	}
	text_free(&t);
	return out;
}

static void test_named(void **state)
{
	static const char *const cases[][2] = {
	    {"can you deliver on christmas day?", "2026-12-25"},
	    {"Christmas Eve opening?", "2026-12-24"},
	    {"open on xmas day", "2026-12-25"},
	    {"are you open on christmas", "2026-12-25"},
	    {"do you sell christmas cakes", ""},
	    {"Boxing Day and New Year's Day and new years eve", "2026-12-26 2027-01-01 2026-12-31"},
	    {"good friday? easter monday? on easter?", "2027-03-26 2027-03-29 2027-03-28"},
	    {"25 December", "2026-12-25"},
	    {"the 25th of december please", "2026-12-25"},
	    {"Dec 25th", "2026-12-25"},
	    {"december 25 2027", "2027-12-25"},
	    {"1st jan", "2027-01-01"},
	    {"on 20 december", "2027-12-20"}, /* passed this year: next year's */
	    {"2026-12-28", "2026-12-28"},
	    {"25/12", "2026-12-25"},
	    {"12/25/2026", "2026-12-25"},
	    {"1/5 or 3/4 of the cake", ""}, /* ambiguous: skipped */
	    {"open 24/7?", ""},
	    {"20/30 minutes", ""},
	    {"today or tomorrow", "2026-12-21 2026-12-22"},
	    {"tonight", "2026-12-21"},
	    {"on sunday", "2026-12-27w"},
	    {"sundays", "2026-12-27w"},
	    {"monday", "2026-12-21w"},
	    {"next monday", "2026-12-28w"},
	    {"may I order 5 cakes", ""},
	    {"5 may", "2027-05-05"},
	    {"31 february", ""},
	    {"order 12 for 3 december", "2027-12-03"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = named(cases[i][0]);
		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("\"%s\": want \"%s\", got \"%s\"", cases[i][0], cases[i][1], got);
	}
}

/* Every month and weekday name is found (the names are looked up in a
 * sorted table: one out of order would be missed). */
static void test_every_name(void **state)
{
	static const char *const months[][3] = {
	    {"january", "jan", NULL}, {"february", "feb", NULL}, {"march", "mar", NULL},
	    {"april", "apr", NULL},   {"may", NULL, NULL},       {"june", "jun", NULL},
	    {"july", "jul", NULL},    {"august", "aug", NULL},   {"september", "sep", "sept"},
	    {"october", "oct", NULL}, {"november", "nov", NULL}, {"december", "dec", NULL},
	};
	static const char *const days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
	                                   "Friday", "Saturday", "Sunday"};
	char text[64], want[32];
	(void)state;
	for (int m = 0; m < 12; m++)
		for (int k = 0; k < 3 && months[m][k]; k++) {
			snprintf(text, sizeof(text), "on 2 %s 2027?", months[m][k]);
			snprintf(want, sizeof(want), "2027-%02d-02", m + 1);
			assert_string_equal(named(text), want);
			snprintf(text, sizeof(text), "%s 3rd", months[m][k]);
			snprintf(want, sizeof(want), "2027-%02d-03", m + 1); /* every 3rd is past */
			assert_string_equal(named(text), want);
		}
	for (int d = 0; d < 7; d++) {
		/* Today is a Monday, 21 December 2026. */
		snprintf(want, sizeof(want), "2026-12-%02dw", 21 + d);
		snprintf(text, sizeof(text), "open on %s?", days[d]);
		assert_string_equal(named(text), want);
		snprintf(text, sizeof(text), "%ss", days[d]);
		assert_string_equal(named(text), want);
	}
	assert_string_equal(named("mondayss sundae fri day tomorrows"), "");
}

static void test_many_dates_bounded(void **state)
{
	struct text t;
	struct named_date nd[3];
	char big[4096] = "";
	(void)state;
	for (int i = 0; i < 100; i++)
		strcat(big, "monday ");
	text_init(&t);
	text_normalize(&t, big, strlen(big));
	assert_int_equal(dates_named(t.norm, t.plain, hours_date(2026, 12, 21), nd, 3), 3);
	assert_int_equal(dates_named("", NULL, 0, nd, 3), 0);
	assert_int_equal(dates_named(NULL, NULL, 0, nd, 3), 0);
	text_free(&t);
}

static struct hours *bakery(void)
{
	static const char text[] = "hours: { mon-fri: \"09:00-17:30\", sat: \"22:00-02:00\" }\n"
	                           "holidays: [\"2026-12-25\", \"2026-12-28\"]\n";
	struct yml_doc y;
	struct diag d;
	diag_init(&d);
	assert_int_equal(yml_load_mem(&y, "c.yaml", text, strlen(text), &d), 0);
	yaml_node_t *root = yml_root(&y);
	struct hours *h =
	    hours_parse(&d, &y, yml_get(&y, root, "hours"), yml_get(&y, root, "holidays"), "Europe/London");
	assert_non_null(h);
	yml_free(&y);
	diag_free(&d);
	return h;
}

static void test_closed_days(void **state)
{
	(void)state;
	struct hours *h = bakery();
	assert_int_equal(hours_date_closed(h, hours_date(2026, 12, 24)), HOURS_DAY_OPEN);
	assert_int_equal(hours_date_closed(h, hours_date(2026, 12, 25)), HOURS_DAY_HOLIDAY);
	assert_int_equal(hours_date_closed(h, hours_date(2026, 12, 26)), HOURS_DAY_OPEN); /* 22:00-02:00 */
	/* Sunday: only Saturday night's range runs into it. */
	assert_int_equal(hours_date_closed(h, hours_date(2026, 12, 27)), HOURS_DAY_CLOSED_WEEKDAY);
	assert_int_equal(hours_date_closed(h, hours_date(2026, 12, 28)), HOURS_DAY_HOLIDAY);
	/* hours_today: 23:30 UTC on 30 June is 1 July in London. */
	assert_int_equal(hours_today(h, 1782862200), hours_date(2026, 7, 1));
	hours_free(h);
}

static void test_date_phrases(void **state)
{
	(void)state;
	char out[64];
	long today = hours_date(2026, 12, 21);
	hours_date_phrase(today, today, 0, out, sizeof(out));
	assert_string_equal(out, "today");
	hours_date_phrase(today, today + 1, 0, out, sizeof(out));
	assert_string_equal(out, "tomorrow");
	hours_date_phrase(today, hours_date(2026, 12, 25), 0, out, sizeof(out));
	assert_string_equal(out, "on Friday 25 December");
	hours_date_phrase(today, hours_date(2027, 12, 25), 0, out, sizeof(out));
	assert_string_equal(out, "on Saturday 25 December 2027");
	hours_date_phrase(today, hours_date(2026, 12, 27), 1, out, sizeof(out));
	assert_string_equal(out, "on Sundays");
	assert_int_equal(hours_date(2026, 2, 29), -1);
	assert_int_equal(hours_date(2028, 2, 29) - hours_date(2028, 2, 28), 1);
	assert_int_equal(hours_weekday(hours_date(2026, 12, 21)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_named),
	    cmocka_unit_test(test_every_name),
	    cmocka_unit_test(test_many_dates_bounded),
	    cmocka_unit_test(test_closed_days),
	    cmocka_unit_test(test_date_phrases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
