/*
 * test_report.c - the insights figures: the store's counts for a window
 * (posts per period and channel, handled by the bot without a person,
 * tickets with their times and ratings), and report_build's figures from
 * them (shares, escalations by reason, medians, targets met and missed,
 * satisfaction), periods in the business's zone, and the JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "report.h"
#include "store.h"
#include "store_sync.h"

static char dir[64];
static char path[128];
static const time_t DAY0 = 1795046400; /* 2026-11-19T00:00:00Z, a Thursday */

static int setup(void **state)
{
	(void)state;
	ss_tmp_make("fd-report", dir, sizeof(dir), path, sizeof(path));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ss_tmp_remove(dir, path);
	return 0;
}

/* A post decided `action` (reason for escalations), recorded as the daemon does. */
static int64_t post(struct store *s, const char *id, const char *thread, const char *platform, enum action a,
                    const char *reason, time_t when)
{
	struct post p = {.platform = platform,
	                 .connector = platform,
	                 .post_id = id,
	                 .thread_key = thread,
	                 .author_id = thread,
	                 .text = "hello",
	                 .created = when};
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = a;
	d.priority = a == ACTION_ESCALATE ? PRIO_NORMAL : PRIO_NONE;
	d.reason = reason;
	d.rule = a == ACTION_ESCALATE ? NULL : "faq";
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ss_lookup(s, platform, id, thread, &l), 0);
	if (a == ACTION_ESCALATE) {
		d.open_ticket = !l.thread.ticket_id;
		d.append_ticket = !!l.thread.ticket_id;
		d.due = when + 3600;
	}
	struct store_record r = {
	    .post = &p, .decision = &d, .decision_json = "{}", .now = when, .thread = &l.thread};
	struct ss_rec out = {0};
	assert_int_equal(ss_record(s, &r, &out), 0);
	return out.ticket_id;
}

struct got {
	struct report r;
	time_t since, until, origin, now;
	long period;
	int rc;
};

static void reported(void *arg, int rc, const struct store_report *sr)
{
	struct got *g = arg;
	g->rc = rc;
	if (rc == 0)
		report_build(sr, g->since, g->until, g->origin, g->period, g->now, &g->r);
}

static void figures(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	/* Day 1, web chat: two answered (one of them needed a person later
	 * the same day), one acknowledged, one unmatched question. */
	post(s, "w1", "ta", "webchat", ACTION_ANSWER, NULL, DAY0 + 3600);
	post(s, "w2", "tb", "webchat", ACTION_ANSWER, NULL, DAY0 + 3700);
	int64_t k1 = post(s, "w3", "tb", "webchat", ACTION_ESCALATE, "negative", DAY0 + 4000);
	post(s, "w4", "tc", "webchat", ACTION_ACK, NULL, DAY0 + 5000);
	int64_t k2 = post(s, "w5", "td", "webchat", ACTION_ESCALATE, "unmatched", DAY0 + 6000);
	/* Day 2, Mastodon: one answered, one asking for a person. */
	post(s, "m1", "te", "mastodon", ACTION_ANSWER, NULL, DAY0 + 86400 + 100);
	int64_t k3 = post(s, "m2", "tf", "mastodon", ACTION_ESCALATE, "requested_human", DAY0 + 86400 + 200);
	/* Ignored posts are not counted. */
	post(s, "w6", "ta", "webchat", ACTION_IGNORE, NULL, DAY0 + 7000);
	assert_int_equal(store_commit_sync(s), 0);
	/* k1 answered in 10 minutes (met), k2 in 2 hours (missed), k3 never. */
	int64_t ids[1];
	const char *part[] = {"on it"};
	assert_int_equal(ss_agent_reply(s, k1, "sam", "Sam", part, 1, DAY0 + 4600, ids), 0);
	assert_int_equal(ss_agent_reply(s, k2, "sam", "Sam", part, 1, DAY0 + 6000 + 7200, ids), 0);
	assert_int_equal(store_commit_sync(s), 0);
	int64_t pend[8];
	long np = ss_pending_ids(s, pend, 8);
	for (long i = 0; i < np; i++)
		assert_int_equal(store_outbox_sent(s, pend[i], i == 0 ? DAY0 + 4600 : DAY0 + 13200), 0);
	assert_int_equal(ss_resolve(s, k1, "sam", DAY0 + 5200), 0);
	assert_int_equal(store_rating_put(s, k1, 5, "quick", DAY0 + 5300), 0);
	assert_int_equal(store_rating_put(s, k2, 2, NULL, DAY0 + 15000), 0);
	assert_int_equal(store_rating_put(s, k2, 3, NULL, DAY0 + 15100), 0); /* a later answer replaces */
	assert_int_equal(store_rating_put(s, k3, 9, NULL, DAY0), -1);
	assert_int_equal(store_commit_sync(s), 0);

	struct got g = {.since = DAY0, .until = DAY0 + 2 * 86400, .now = DAY0 + 2 * 86400, .rc = -9};
	g.period = report_periods(NULL, g.since, g.until, 1, &g.origin);
	assert_int_equal(g.origin, DAY0);
	assert_int_equal(g.period, 86400);
	store_report(s, g.since, g.until, g.origin, g.period, reported, &g);
	assert_int_equal(g.rc, 0);
	const struct report_figures *t = &g.r.total;
	assert_int_equal(t->posts, 7);
	assert_int_equal(t->answered, 3);
	assert_int_equal(t->acknowledged, 1);
	assert_int_equal(t->escalated, 3);
	assert_int_equal(t->handled, 3); /* w2 needed a person within the day */
	assert_int_equal(t->tickets, 3);
	assert_int_equal(t->by_reason[RR_NEGATIVE], 1);
	assert_int_equal(t->by_reason[RR_UNMATCHED], 1);
	assert_int_equal(t->by_reason[RR_REQUESTED_HUMAN], 1);
	assert_int_equal(t->responded, 2);
	assert_int_equal(t->met, 1);
	assert_int_equal(t->missed, 2); /* k2 late, k3 never answered and past due */
	assert_int_equal(t->resolved, 1);
	assert_true(t->first_response_p50 == 600);
	assert_true(t->first_response_p90 == 7200);
	assert_int_equal(t->ratings, 2);
	assert_int_equal(t->satisfied, 1);
	assert_true(t->rating_avg == 4.0);

	/* Rows: day 1 (all, webchat), day 2 (all, mastodon). */
	assert_int_equal(g.r.nrows, 4);
	assert_string_equal(g.r.rows[0].channel, "");
	assert_int_equal(g.r.rows[0].start, DAY0);
	assert_int_equal(g.r.rows[0].f.posts, 5);
	assert_string_equal(g.r.rows[1].channel, "webchat");
	assert_int_equal(g.r.rows[1].f.tickets, 2);
	assert_int_equal(g.r.rows[2].start, DAY0 + 86400);
	assert_string_equal(g.r.rows[3].channel, "mastodon");
	assert_int_equal(g.r.rows[3].f.posts, 2);
	assert_int_equal(g.r.rows[3].f.handled, 1);

	json_t *j = report_json(&g.r, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "period")), "day");
	json_t *tot = json_object_get(j, "total");
	assert_int_equal(json_integer_value(json_object_get(tot, "handled")), 3);
	assert_true(json_real_value(json_object_get(tot, "handled_share")) > 0.4285 &&
	            json_real_value(json_object_get(tot, "handled_share")) < 0.4295);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(tot, "escalations"), "unmatched")), 1);
	json_t *p1 = json_array_get(json_object_get(j, "periods"), 1);
	assert_non_null(json_object_get(json_object_get(p1, "channels"), "mastodon"));
	json_decref(j);
	struct buf text;
	buf_init(&text, 0);
	report_text(&g.r, NULL, &text);
	assert_non_null(strstr(text.p, "2026-11-19"));
	assert_non_null(strstr(text.p, "mastodon"));
	assert_non_null(strstr(text.p, "requested_human 1"));
	buf_free(&text);
	report_free(&g.r);

	/* Weeks start on Monday (2026-11-16). */
	time_t origin;
	assert_int_equal(report_periods(NULL, DAY0 + 3600, DAY0 + 86400, 7, &origin), 7 * 86400);
	assert_int_equal(origin, DAY0 - 3 * 86400);
	/* An empty window. */
	struct got e = {.since = DAY0 - 10 * 86400, .until = DAY0 - 9 * 86400, .now = DAY0, .rc = -9};
	e.period = report_periods(NULL, e.since, e.until, 1, &e.origin);
	store_report(s, e.since, e.until, e.origin, e.period, reported, &e);
	assert_int_equal(e.rc, 0);
	assert_int_equal(e.r.total.posts, 0);
	assert_true(e.r.total.first_response_p50 < 0);
	report_free(&e.r);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(figures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
