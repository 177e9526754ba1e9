/*
 * test_taught.c - what the team teaches the bot, in the store: teach
 * (new, again, the same text as a not_example, invalid, the cap, the
 * ticket's "taught" event), the list, untaught, durability across a
 * reopen; the unanswered questions the insights page groups (only
 * unmatched escalations, newest first, taught ones left out); and the
 * taught examples as the rules take them (taught.h).
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
#include <sqlite3.h>

#include "rules.h"
#include "store.h"
#include "store/sqlite.h"
#include "store_sync.h"
#include "taught.h"

static char dir[64];
static char path[128];
static const time_t T0 = 1795000000; /* 2026-11-18 */

static int setup(void **state)
{
	(void)state;
	ss_tmp_make("fd-taught", dir, sizeof(dir), path, sizeof(path));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ss_tmp_remove(dir, path);
	return 0;
}

/* ---- sync wrappers ---- */

struct got {
	int rc;
	size_t n;
	int64_t id[64];
	char rule[64][32];
	char text[64][128];
	char by[64][32];
	int negative[64];
	int64_t ticket[64];
};

static void got_taught(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct got *g = arg;
	g->rc = rc;
	g->n = n;
	for (size_t i = 0; i < n && i < 64; i++) {
		g->id[i] = v[i].id;
		snprintf(g->rule[i], sizeof(g->rule[i]), "%s", v[i].rule);
		snprintf(g->text[i], sizeof(g->text[i]), "%s", v[i].text);
		snprintf(g->by[i], sizeof(g->by[i]), "%s", v[i].by ? v[i].by : "-");
		g->negative[i] = v[i].negative;
		g->ticket[i] = v[i].ticket_id;
	}
}

static int teach(struct store *s, const char *rule, const char *text, int negative, int64_t ticket,
                 int64_t *id)
{
	struct store_taught t = {
	    .rule = rule, .text = text, .negative = negative, .by = "sam", .ticket_id = ticket};
	struct got g = {.rc = -9};
	store_teach(s, &t, T0, got_taught, &g);
	if (id)
		*id = g.n ? g.id[0] : 0;
	return g.rc;
}

static struct got list(struct store *s)
{
	struct got g = {.rc = -9};
	store_taught_list(s, got_taught, &g);
	return g;
}

static void set_rc(void *arg, int rc)
{
	*(int *)arg = rc;
}

static long count(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	long n = -1;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* An escalated post as the daemon records it: reason in the decision record. */
static int64_t escalate(struct store *s, const char *id, const char *thread, const char *text,
                        const char *rule, const char *reason, time_t when)
{
	struct post p = {.platform = "webchat",
	                 .connector = "webchat",
	                 .post_id = id,
	                 .thread_key = thread,
	                 .author_id = thread,
	                 .text = text,
	                 .created = when};
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ESCALATE;
	d.priority = PRIO_NORMAL;
	d.rule = rule;
	d.reason = reason;
	d.open_ticket = 1;
	d.due = when + 3600;
	char json[128];
	snprintf(json, sizeof(json), "{\"action\":\"escalate\",\"reason\":\"%s\"}", reason);
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ss_lookup(s, "webchat", id, thread, &l), 0);
	if (l.thread.ticket_id) {
		d.open_ticket = 0;
		d.append_ticket = 1;
	}
	struct store_record r = {
	    .post = &p, .decision = &d, .decision_json = json, .now = when, .thread = &l.thread};
	struct ss_rec out = {0};
	assert_int_equal(ss_record(s, &r, &out), 0);
	return out.ticket_id;
}

struct qs {
	int rc;
	size_t n;
	char text[16][96];
	int64_t ticket[16];
};

static void got_questions(void *arg, int rc, const struct store_question *v, size_t n)
{
	struct qs *q = arg;
	q->rc = rc;
	q->n = n;
	for (size_t i = 0; i < n && i < 16; i++) {
		snprintf(q->text[i], sizeof(q->text[i]), "%s", v[i].text);
		q->ticket[i] = v[i].ticket_id;
	}
}

/* ---- tests ---- */

static void teach_list_untaught(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	int64_t ticket = escalate(s, "p1", "t1", "do you take apple pay", NULL, "unmatched", T0);
	assert_true(ticket > 0);
	int64_t id1, id2, again;
	assert_int_equal(teach(s, "payment", "do you take apple pay", 0, ticket, &id1), 0);
	assert_true(id1 > 0);
	/* The same text for the same rule: kept once, the row answered. */
	assert_int_equal(teach(s, "payment", "do you take apple pay", 0, 0, &again), 1);
	assert_int_equal(again, id1);
	/* As a not_example of another rule, or of the same: a row of its own. */
	assert_int_equal(teach(s, "delivery", "do you take apple pay", 1, 0, &id2), 0);
	assert_int_equal(teach(s, "payment", "do you take apple pay", 1, 0, NULL), 0);
	/* Invalid: refused, nothing written. */
	assert_int_equal(teach(s, "", "text", 0, 0, NULL), -1);
	assert_int_equal(teach(s, "payment", "", 0, 0, NULL), -1);
	char big[STORE_MAX_TAUGHT_TEXT + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(teach(s, "payment", big, 0, 0, NULL), -1);
	/* A ticket that does not exist gets no event and breaks nothing. */
	assert_int_equal(teach(s, "payment", "apple pay ok?", 0, 9999, NULL), 0);
	assert_int_equal(store_commit_sync(s), 0);

	/* The ticket's history says who taught what. */
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'taught' AND actor = 'sam'"
	                          " AND detail = 'payment'"),
	                 1);
	store_close(s);

	/* Durable: a reopened store lists them, oldest first. */
	s = ss_open(path, 1);
	struct got g = list(s);
	assert_int_equal(g.rc, 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.id[0], id1);
	assert_string_equal(g.rule[0], "payment");
	assert_string_equal(g.text[0], "do you take apple pay");
	assert_string_equal(g.by[0], "sam");
	assert_int_equal(g.ticket[0], ticket);
	assert_int_equal(g.negative[0], 0);
	assert_int_equal(g.negative[1], 1);
	assert_string_equal(g.rule[1], "delivery");

	int rc = -9;
	store_untaught(s, id2, set_rc, &rc);
	assert_int_equal(rc, 0);
	store_untaught(s, id2, set_rc, &rc);
	assert_int_equal(rc, 1);
	store_untaught(s, 0, set_rc, &rc);
	assert_int_equal(rc, 1);
	assert_int_equal(store_commit_sync(s), 0);
	assert_int_equal(list(s).n, 3);
	store_close(s);
}

static void teach_rolled_back_with_its_group(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	assert_int_equal(teach(s, "payment", "card?", 0, 0, NULL), 0);
	store_rollback(s);
	assert_int_equal(list(s).n, 0);
	store_close(s);
}

static void teach_cap(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	/* Filled directly: STORE_MAX_TAUGHT rows. */
	char sql[256];
	snprintf(sql, sizeof(sql),
	         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
	         " INSERT INTO taught (rule, text, created) SELECT 'r', 'q' || i, 0 FROM n",
	         STORE_MAX_TAUGHT);
	assert_int_equal(sqlite3_exec(store_sqlite_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(teach(s, "payment", "one more", 0, 0, NULL), 2);
	/* Teaching what is there already still answers 1. */
	assert_int_equal(teach(s, "r", "q7", 0, 0, NULL), 1);
	store_close(s);
}

static void unanswered_questions(void **state)
{
	(void)state;
	struct store *s = ss_open(path, 1);
	int64_t t1 = escalate(s, "a1", "ta", "can i bring my dog", NULL, "unmatched", T0 + 10);
	/* The same conversation again: the ticket it joined. */
	escalate(s, "a2", "ta", "hello? dogs allowed?", NULL, "unmatched", T0 + 20);
	escalate(s, "b1", "tb", "I want my money back", "refund", "rule", T0 + 30);
	escalate(s, "c1", "tc", "this is the worst cake", NULL, "negative", T0 + 40);
	escalate(s, "d1", "td", "too old a question", NULL, "unmatched", T0 - 100);
	escalate(s, "e1", "te", "do you take apple pay", NULL, "unmatched", T0 + 50);
	assert_int_equal(teach(s, "payment", "do you take apple pay", 0, 0, NULL), 0);
	assert_int_equal(store_commit_sync(s), 0);

	struct qs q = {.rc = -9};
	store_unanswered(s, T0, 0, got_questions, &q);
	assert_int_equal(q.rc, 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.text[0], "hello? dogs allowed?");
	assert_string_equal(q.text[1], "can i bring my dog");
	assert_int_equal(q.ticket[0], t1);
	assert_int_equal(q.ticket[1], t1);
	q.rc = -9;
	store_unanswered(s, 0, 1, got_questions, &q);
	assert_int_equal(q.n, 1);
	store_close(s);
}

static void taught_as_rules_take_them(void **state)
{
	(void)state;
	struct store_taught v[2] = {
	    {.id = 1, .rule = "payment", .text = "apple pay?", .by = "sam", .ticket_id = 42, .created = T0},
	    {.id = 2, .rule = "delivery", .text = "to leeds?", .negative = 1, .created = T0},
	};
	struct taught t = {0};
	taught_from_store(&t, v, 2);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.v[0].rule, "payment");
	assert_string_equal(t.v[0].text, "apple pay?");
	assert_string_equal(t.v[0].origin, "taught by sam on 2026-11-18, ticket 42");
	assert_string_equal(t.v[1].origin, "taught by the team on 2026-11-18");
	assert_int_equal(t.v[1].negative, 1);
	/* Refilled: the old copies go. */
	taught_from_store(&t, v, 1);
	assert_int_equal(t.n, 1);
	taught_free(&t);
	assert_int_equal(t.n, 0);
	taught_free(&t);
}

/* A config whose store does not exist yet: nothing taught, nothing created. */
static void taught_read_without_store(void **state)
{
	(void)state;
	char cfg[192], db[192], err[256];
	snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
	snprintf(db, sizeof(db), "%s/none.db", dir);
	FILE *f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f, "business: { name: Test, timezone: UTC, hours: { mon-sun: \"09:00-17:00\" } }\n"
	           "rules: []\nreplies: []\nstore: { path: none.db }\n");
	fclose(f);
	struct taught t;
	assert_int_equal(taught_read(cfg, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	FILE *g = fopen(db, "r");
	assert_null(g);
	/* With a store: what it holds. */
	struct store *s = ss_open(db, 1);
	assert_int_equal(teach(s, "payment", "apple pay?", 0, 0, NULL), 0);
	assert_int_equal(store_commit_sync(s), 0);
	store_close(s);
	assert_int_equal(taught_read(cfg, &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].text, "apple pay?");
	taught_free(&t);
	remove(cfg);
	char side[224];
	remove(db);
	snprintf(side, sizeof(side), "%s-wal", db);
	remove(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	remove(side);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(teach_list_untaught, setup, teardown),
	    cmocka_unit_test_setup_teardown(teach_rolled_back_with_its_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(teach_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(unanswered_questions, setup, teardown),
	    cmocka_unit_test(taught_as_rules_take_them),
	    cmocka_unit_test_setup_teardown(taught_read_without_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
