/*
 * test_satisfaction.c - the satisfaction question after a person resolved a
 * conversation: the store keeps it with the thread (store_rating_ask), the
 * customer's next message answers it in words (the pipeline's decision,
 * kept by store_record_post) or the web chat's buttons do
 * (store_rating_answer), once; the ticket shows the rating and the report
 * counts it, while the answer is not counted as a question.  And when the
 * question is asked at all, in which words (satisfaction.h).
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

#include "config.h"
#include "pipeline.h"
#include "report.h"
#include "satisfaction.h"
#include "store.h"
#include "store_sync.h"

static char dir[64];
static char path[128];
static const time_t T0 = 1795046400; /* 2026-11-19T00:00:00Z */

static int setup(void **state)
{
	(void)state;
	ss_tmp_make("fd-sat", dir, sizeof(dir), path, sizeof(path));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ss_tmp_remove(dir, path);
	return 0;
}

/* A private customer post in thread `thread`, decided as d says, recorded
 * as the daemon does; the thread as the lookup saw it in *seen. */
static int64_t post(struct store *s, const char *id, const char *thread, const char *text, struct decision *d,
                    time_t when, struct store_thread *seen)
{
	struct post p = {.platform = "webchat",
	                 .connector = "webchat",
	                 .post_id = id,
	                 .thread_key = thread,
	                 .author_id = thread,
	                 .text = text,
	                 .created = when};
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ss_lookup(s, "webchat", id, thread, &l), 0);
	if (seen)
		*seen = l.thread;
	struct buf json;
	buf_init(&json, 0);
	buf_puts(&json,
	         d->rating ? "{\"action\":\"acknowledge\",\"rating\":5}" : "{\"action\":\"escalate\"}");
	struct store_record r = {
	    .post = &p, .decision = d, .decision_json = json.p, .now = when, .thread = &l.thread};
	struct ss_rec out = {0};
	assert_int_equal(ss_record(s, &r, &out), 0);
	buf_free(&json);
	return out.ticket_id;
}

struct got {
	struct report r;
	time_t origin;
	long period;
};

static void reported(void *arg, int rc, const struct store_report *sr)
{
	struct got *g = arg;
	assert_int_equal(rc, 0);
	report_build(sr, T0, T0 + 86400, g->origin, g->period, T0 + 86400, &g->r);
}

static int64_t escalate(struct store *s, const char *id, const char *thread, time_t when)
{
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ESCALATE;
	d.priority = PRIO_NORMAL;
	d.reason = "unmatched";
	d.open_ticket = 1;
	d.due = when + 3600;
	return post(s, id, thread, "where is my cake", &d, when, NULL);
}

struct asked {
	int rc;
	size_t n;
	int64_t rating;
	char text[256];
};

static void asked_cb(void *arg, int rc, const struct store_out *rows, size_t n)
{
	struct asked *a = arg;
	a->rc = rc;
	a->n = n;
	if (n) {
		a->rating = rows[0].rating;
		snprintf(a->text, sizeof(a->text), "%s", rows[0].text);
	}
}

static void done_cb(void *arg, int rc)
{
	*(int *)arg = rc;
}

/* A ticket answered by a person and resolved: id. */
static int64_t resolved_ticket(struct store *s, const char *thread, time_t when)
{
	int64_t k = escalate(s, thread, thread, when);
	const char *part[] = {"on it"};
	assert_int_equal(ss_agent_reply(s, k, "sam", "Sam", part, 1, when + 60, NULL), 0);
	assert_int_equal(ss_resolve(s, k, "sam", when + 120), 0);
	assert_int_equal(store_commit_sync(s), 0);
	return k;
}

static void asked_then_answered_in_words(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	int64_t k = resolved_ticket(s, "t1", T0);
	const char *q[] = {"How did we do?"};
	struct asked a = {0};
	store_rating_ask(s, k, q, 1, T0 + 120, asked_cb, &a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.rating, k); /* the web chat shows its buttons with it */
	assert_string_equal(a.text, "How did we do?");
	assert_int_equal(store_commit_sync(s), 0);

	/* Asked again for the same resolution: still one question pending. */
	struct store_thread t;
	assert_int_equal(ss_thread(s, "webchat", "t1", &t), 0);
	assert_int_equal(t.rating_ticket, k);
	assert_int_equal(t.rating_asked, T0 + 120);
	assert_int_equal(t.rating_next, 1);

	/* The customer's next message is the answer: kept with its comment. */
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ACK;
	d.rating = 4;
	d.rating_comment = "quick and kind";
	d.rating_comment_len = strlen("quick and kind");
	struct store_thread seen;
	post(s, "t1-r", "t1", "4 quick and kind", &d, T0 + 300, &seen);
	assert_int_equal(seen.rating_ticket, k);
	assert_int_equal(store_commit_sync(s), 0);
	struct store_ticket tk;
	assert_int_equal(ss_ticket(s, k, &tk), 1);
	assert_int_equal(tk.rating, 4);
	assert_string_equal(tk.rating_comment, "quick and kind");
	ss_ticket_free(&tk);
	/* Answered: nothing pending any more, the buttons find nothing. */
	assert_int_equal(ss_thread(s, "webchat", "t1", &t), 0);
	assert_int_equal(t.rating_ticket, 0);
	int rc = -2;
	store_rating_answer(s, "webchat", "t1", 0, 5, NULL, T0, T0 + 400, done_cb, &rc);
	assert_int_equal(rc, 1);

	/* The report counts the rating, not the answer as a question. */
	struct got g;
	memset(&g, 0, sizeof(g));
	g.period = report_periods(NULL, T0, T0 + 86400, 1, &g.origin);
	store_report(s, T0, T0 + 86400, g.origin, g.period, reported, &g);
	struct report r = g.r;
	assert_int_equal(r.total.posts, 1); /* the question, not the "4" */
	assert_int_equal(r.total.ratings, 1);
	assert_int_equal(r.total.satisfied, 1);
	report_free(&r);
	store_close(s);
}

static void buttons_and_what_ends_the_question(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	const char *q[] = {"Rate us"};
	struct asked a = {0};

	/* An open ticket is not asked about. */
	int64_t open = escalate(s, "t2", "t2", T0);
	store_rating_ask(s, open, q, 1, T0 + 10, asked_cb, &a);
	assert_int_equal(a.rc, 1);
	assert_int_equal(store_commit_sync(s), 0);

	int64_t k = resolved_ticket(s, "t3", T0);
	store_rating_ask(s, k, q, 1, T0 + 120, asked_cb, &a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(store_commit_sync(s), 0);

	/* Another message first: words no longer answer, the buttons still do. */
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ANSWER;
	d.rule = "faq";
	post(s, "t3-q", "t3", "when do you open", &d, T0 + 200, NULL);
	struct store_thread t;
	assert_int_equal(ss_thread(s, "webchat", "t3", &t), 0);
	assert_int_equal(t.rating_ticket, k);
	assert_int_equal(t.rating_next, 0);

	int rc = -2;
	/* Too late (asked before the window), or for another ticket: nothing. */
	store_rating_answer(s, "webchat", "t3", 0, 5, NULL, T0 + 121, T0 + 300, done_cb, &rc);
	assert_int_equal(rc, 1);
	store_rating_answer(s, "webchat", "t3", k + 100, 5, NULL, T0, T0 + 300, done_cb, &rc);
	assert_int_equal(rc, 1);
	store_rating_answer(s, "webchat", "t3", k, 2, "slow", T0, T0 + 300, done_cb, &rc);
	assert_int_equal(rc, 0);
	store_rating_answer(s, "webchat", "t3", k, 5, NULL, T0, T0 + 301, done_cb, &rc);
	assert_int_equal(rc, 1); /* once per resolution */
	assert_int_equal(store_commit_sync(s), 0);
	struct store_ticket tk;
	assert_int_equal(ss_ticket(s, k, &tk), 1);
	assert_int_equal(tk.rating, 2);
	assert_string_equal(tk.rating_comment, "slow");
	ss_ticket_free(&tk);

	/* A new ticket in the thread ends a pending question. */
	int64_t k2 = resolved_ticket(s, "t4", T0);
	store_rating_ask(s, k2, q, 1, T0 + 120, asked_cb, &a);
	assert_int_equal(a.rc, 0);
	escalate(s, "t4-again", "t4", T0 + 500);
	assert_int_equal(ss_thread(s, "webchat", "t4", &t), 0);
	assert_int_equal(t.rating_ticket, 0);
	assert_int_equal(store_commit_sync(s), 0);
	store_close(s);
}

/* The pipeline's test configuration (its replies have no satisfaction keys). */
static struct engine *test_engine(void)
{
	struct diag dg;
	diag_init(&dg);
	struct engine *e = engine_load("tests/data/pipeline/config.yaml", &dg);
	if (!e)
		fail_msg("%s", dg.out.p);
	diag_free(&dg);
	return e;
}

/* The pipeline reads a rating only as the first message after the question,
 * within the window; anything else is decided as usual. */
static void pipeline_reads_the_answer(void **state)
{
	(void)state;
	struct engine *e = test_engine();
	struct post p = {
	    .platform = "webchat", .post_id = "x", .thread_key = "t", .author_id = "a", .text = "5"};
	struct thread_state ts = {.rating_ticket = 7, .rating_asked = T0, .rating_next = 1};
	struct decision d;

	pipeline_decide(e, &p, &ts, T0 + 600, &d);
	assert_int_equal(d.rating, 5);
	assert_int_equal(d.action, ACTION_ACK);
	assert_non_null(d.reply); /* thanks */
	assert_int_equal(d.open_ticket, 0);
	decision_free(&d);

	p.text = "4/5 - lovely cake, thanks";
	pipeline_decide(e, &p, &ts, T0 + 600, &d);
	assert_int_equal(d.rating, 4);
	assert_int_equal(d.rating_comment_len, strlen("lovely cake, thanks"));
	assert_memory_equal(d.rating_comment, "lovely cake, thanks", d.rating_comment_len);
	decision_free(&d);

	/* Not the next message, no question pending, or too late: not a rating. */
	p.text = "5";
	struct thread_state later = ts;
	later.rating_next = 0;
	pipeline_decide(e, &p, &later, T0 + 600, &d);
	assert_int_equal(d.rating, 0);
	decision_free(&d);
	struct thread_state none = {0};
	pipeline_decide(e, &p, &none, T0 + 600, &d);
	assert_int_equal(d.rating, 0);
	decision_free(&d);
	pipeline_decide(e, &p, &ts, T0 + e->cfg->satisfaction_window + 1, &d);
	assert_int_equal(d.rating, 0);
	decision_free(&d);
	/* A question after a number is a question. */
	p.text = "5 cakes for saturday, can you deliver?";
	pipeline_decide(e, &p, &ts, T0 + 600, &d);
	assert_int_equal(d.rating, 0);
	decision_free(&d);

	/* The record says so (a field added to the contract). */
	p.text = "5";
	pipeline_decide(e, &p, &ts, T0 + 600, &d);
	struct buf b;
	buf_init(&b, 0);
	decision_json(e, &d, "x", &b);
	assert_non_null(strstr(b.p, "\"rating\":5"));
	buf_free(&b);
	decision_free(&d);
	engine_free(e);
}

/* Asked in private conversations a person answered, on a known connector. */
static void when_the_question_is_asked(void **state)
{
	(void)state;
	struct engine *e = test_engine();
	struct store_ticket t = {
	    .id = 9, .platform = "webchat", .connector = "webchat", .is_private = 1, .first_response = T0};
	char *parts[4];
	size_t n = satisfaction_question(e->cfg, NULL, &t, parts, 4);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], SATISFACTION_ASK_DEFAULT);
	free(parts[0]);
	t.is_private = 0; /* a public thread: never */
	assert_int_equal(satisfaction_question(e->cfg, NULL, &t, parts, 4), 0);
	t.is_private = 1;
	t.first_response = 0; /* nobody answered: nothing to rate */
	assert_int_equal(satisfaction_question(e->cfg, NULL, &t, parts, 4), 0);
	t.first_response = T0;
	e->cfg->satisfaction_ask = 0; /* satisfaction.ask: off */
	assert_int_equal(satisfaction_question(e->cfg, NULL, &t, parts, 4), 0);
	engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(asked_then_answered_in_words, setup, teardown),
	    cmocka_unit_test_setup_teardown(buttons_and_what_ends_the_question, setup, teardown),
	    cmocka_unit_test(pipeline_reads_the_answer),
	    cmocka_unit_test(when_the_question_is_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
