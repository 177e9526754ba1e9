/*
 * test_store.c - the SQLite store: schema creation and refusal of newer
 * schemas, post dedupe, the group transaction (visible to others only after
 * commit, one failed post does not spoil the batch), tickets and the
 * pre-send withdrawal of bot replies, the outbox state machine across
 * simulated and real (SIGKILL) crashes, visitors, cursors and notifications.
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
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static char dir[64];
static char path[128];
static const time_t T0 = 1795000000; /* 2026-11-17, a fixed clock */

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fd-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	(void)state;
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static struct store *open_store(void)
{
	char err[256] = "";
	struct store *s = store_open(path, 1, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

/* A count from a second, independent connection: what another process sees. */
static long outside_count(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static long count(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	long n = -1;
	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static struct post mkpost(const char *id, const char *thread, const char *text)
{
	struct post p = {
	    .platform = "webchat",
	    .connector = "webchat",
	    .post_id = id,
	    .thread_key = thread,
	    .author_id = thread,
	    .text = text,
	    .is_public = 0,
	    .created = T0,
	};
	return p;
}

/* Record post p with decision d and the given reply parts; 0 or -1. */
static int record(struct store *s, const struct post *p, const struct decision *d, const char *const *parts,
                  size_t n, struct store_recorded *out)
{
	struct store_record r = {
	    .post = p, .decision = d, .decision_json = "{}", .parts = parts, .n_parts = n, .now = T0};
	return store_record_post(s, &r, out);
}

static struct decision answer(void)
{
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ANSWER;
	d.priority = PRIO_NONE;
	d.rule = "opening-hours";
	return d;
}

static struct decision escalation(void)
{
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ESCALATE;
	d.priority = PRIO_HIGH;
	d.reason = "unmatched";
	d.open_ticket = 1;
	d.due = T0 + 3600;
	return d;
}

static void schema_created_and_private(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct stat st;
	assert_int_equal(count(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(count(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 8);
	assert_int_equal(count(s, "PRAGMA wal_autocheckpoint"), 0);
	assert_int_equal(count(s, "PRAGMA synchronous"), 2); /* FULL */
	store_close(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	/* Opening again does not migrate twice. */
	s = open_store();
	assert_int_equal(count(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	store_close(s);
}

static void newer_schema_refused(void **state)
{
	(void)state;
	sqlite3 *db;
	char err[256] = "";
	struct store *s = open_store();
	store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(path, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

static void post_recorded_and_deduped(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct post p = mkpost("t1/c1", "t1", "when do you open?");
	struct decision d = answer();
	const char *parts[] = {"We open at nine,", "every day."};
	struct store_recorded rec;
	int64_t mid = 0;
	time_t ts = 0;

	p.client_id = "c1";
	assert_int_equal(store_post_find(s, "webchat", "t1/c1", &mid, &ts), 0);
	assert_int_equal(record(s, &p, &d, parts, 2, &rec), 0);
	assert_int_equal(rec.n_outbox, 2);
	assert_true(rec.message_id > 0);
	/* Within the same transaction the duplicate is already visible. */
	assert_int_equal(store_post_find(s, "webchat", "t1/c1", &mid, &ts), 1);
	assert_int_equal(mid, rec.message_id);
	assert_int_equal(ts, T0);
	/* Storing it again fails alone; the post before it stays in the batch. */
	assert_int_equal(record(s, &p, &d, parts, 2, &rec), -1);
	struct post q = mkpost("t1/c2", "t1", "thanks");
	struct decision ign;
	memset(&ign, 0, sizeof(ign));
	ign.action = ACTION_IGNORE;
	ign.ignored = "cooldown";
	assert_int_equal(record(s, &q, &ign, NULL, 0, &rec), 0);
	assert_int_equal(rec.n_outbox, 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM messages WHERE sender = 'customer'"), 2);
	assert_int_equal(
	    outside_count("SELECT count(*) FROM messages WHERE sender = 'bot' AND state = 'pending'"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM outbox WHERE state = 'pending'"), 2);
	assert_int_equal(outside_count("SELECT count(DISTINCT idem_key) FROM outbox"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM threads"), 1);
	store_close(s);
}

static void group_commit_visibility(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"hi"};
	struct store_recorded rec;
	char id[32], th[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		snprintf(th, sizeof(th), "th%d", i % 50);
		struct post p = mkpost(id, th, "hello");
		assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	}
	assert_true(store_in_tx(s));
	/* Nothing is visible outside before the commit... */
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 0);
	assert_int_equal(store_commit(s), 0);
	/* ...and all of it after one commit. */
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1000);
	assert_int_equal(outside_count("SELECT count(*) FROM threads"), 50);
	assert_true(store_wal_pages(s) > 0);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(store_checkpoint(path), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_true(after.st_size > before.st_size); /* the pages reached the database file */

	/* A rolled-back batch leaves no trace. */
	struct post p = mkpost("lost", "th1", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	store_rollback(s);
	assert_int_equal(store_post_find(s, "webchat", "lost", NULL, NULL), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1000);
	store_close(s);
}

/* Deferred sync: commits only write the WAL; store_sync_wal makes them
 * durable from any thread, and a writer that dies after the sync (without
 * closing the store) has lost nothing. */
static void deferred_sync(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"hi"};
	struct store_recorded rec;

	assert_int_equal(count(s, "PRAGMA synchronous"), 2); /* FULL by default */
	assert_int_equal(store_sync_deferred(s), 0);
	assert_int_equal(store_defer_sync(s), 0);
	assert_int_equal(store_sync_deferred(s), 1);
	assert_int_equal(count(s, "PRAGMA synchronous"), 1); /* NORMAL: no fsync in commit */
	store_close(s);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		struct store *c = store_open(path, 1, err, sizeof(err));
		if (!c || store_defer_sync(c) < 0)
			_exit(2);
		struct post p = mkpost("synced", "th1", "hello");
		if (record(c, &p, &d, parts, 1, &rec) < 0 || store_commit(c) < 0)
			_exit(3);
		int dir_synced = 0;
		if (store_sync_wal(path, &dir_synced) != 0 || !dir_synced)
			_exit(4);
		kill(getpid(), SIGKILL); /* no close, no checkpoint */
		_exit(5);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(outside_count("SELECT count(*) FROM posts WHERE post_id = 'synced'"), 1);

	/* No WAL at all: nothing to sync, and not an error. */
	char none[160];
	int flag = 0;
	snprintf(none, sizeof(none), "%s/none.db", dir);
	assert_int_equal(store_sync_wal(none, &flag), 0);
	assert_int_equal(flag, 0);
}

static void tickets_and_withdrawal(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision e = escalation();
	const char *ack[] = {"A person will reply by 10:00."};
	struct store_recorded rec;
	struct store_thread t;
	struct store_out o;

	struct post p1 = mkpost("x1", "tx", "my order never came");
	assert_int_equal(record(s, &p1, &e, ack, 1, &rec), 0);
	int64_t ticket = rec.ticket_id, ack_row = rec.outbox[0];
	assert_true(ticket > 0);
	assert_int_equal(store_thread_get(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.owner, THREAD_WAITING);
	assert_int_equal(t.ticket_id, ticket);
	assert_int_equal(t.ticket_due, T0 + 3600);
	assert_int_equal(t.last_ack, T0);

	/* A follow-up in the human thread appends to the ticket. */
	struct decision app;
	memset(&app, 0, sizeof(app));
	app.action = ACTION_ACK;
	app.append_ticket = 1;
	const char *notice[] = {"We have your message."};
	struct post p2 = mkpost("x2", "tx", "hello?");
	assert_int_equal(record(s, &p2, &app, notice, 1, &rec), 0);
	assert_int_equal(rec.ticket_id, ticket);
	int64_t notice_row = rec.outbox[0];
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'message'"), 1);
	assert_int_equal(store_thread_get(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.last_waiting_notice, T0);

	/* An agent claims before the acknowledgement went out: withdrawn. */
	assert_int_equal(store_ticket_claim(s, ticket, "sam", T0 + 5), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_thread_get(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.owner, THREAD_CLAIMED);
	assert_string_equal(t.assignee, "sam");
	assert_int_equal(store_outbox_get(s, ack_row, &o), 1);
	assert_int_equal(o.withdrawn, 1);
	store_out_free(&o);
	assert_int_equal(store_outbox_cancel(s, ack_row, "claimed"), 0);
	assert_int_equal(store_outbox_get(s, ack_row, &o), 0);

	/* A notice decided while it was already claimed is sent. */
	struct post p3 = mkpost("x3", "tx", "still there?");
	assert_int_equal(store_thread_get(s, "webchat", "tx", &t), 0);
	assert_int_equal(record(s, &p3, &app, notice, 1, &rec), 0);
	assert_int_equal(store_outbox_get(s, rec.outbox[0], &o), 1);
	assert_int_equal(o.withdrawn, 0);
	store_out_free(&o);
	(void)notice_row;

	/* The agent replies in two parts; first response recorded. */
	const char *reply[] = {"Sorry about that,", "a new one is on its way. — Sam"};
	int64_t ids[2] = {0, 0};
	assert_int_equal(store_agent_reply(s, ticket, "sam", "Sam", reply, 2, T0 + 60, ids), 0);
	assert_true(ids[0] > 0 && ids[1] > ids[0]);
	assert_int_equal(store_outbox_get(s, ids[1], &o), 1);
	assert_string_equal(o.sender, "agent");
	assert_string_equal(o.agent, "Sam");
	assert_string_equal(o.reply_to, "x3");
	assert_int_equal(o.withdrawn, 0);
	store_out_free(&o);
	assert_int_equal(count(s, "SELECT first_response FROM tickets"), T0 + 60);

	/* Release, resolve: the thread is the bot's again with no cooldown. */
	assert_int_equal(store_ticket_release(s, ticket, "sam", T0 + 70), 0);
	assert_int_equal(store_ticket_release(s, ticket, "sam", T0 + 71), 1);
	assert_int_equal(store_ticket_resolve(s, ticket, "sam", T0 + 80), 0);
	assert_int_equal(store_ticket_resolve(s, ticket, "sam", T0 + 81), 1);
	assert_int_equal(store_ticket_claim(s, ticket, "sam", T0 + 82), 1);
	assert_int_equal(store_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 83, NULL), 1);
	assert_int_equal(store_ticket_claim(s, 999, "sam", T0), 1);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_thread_get(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.owner, THREAD_BOT);
	assert_int_equal(t.ticket_id, 0);
	assert_int_equal(t.last_ack, 0);
	assert_int_equal(count(s, "SELECT resolved FROM tickets"), T0 + 80);
	store_close(s);
}

struct pend {
	int64_t ids[64];
	size_t n;
};

static void collect(void *ctx, int64_t id, int64_t thread_id, int64_t nb, int attempts)
{
	struct pend *p = ctx;
	(void)thread_id;
	(void)nb;
	(void)attempts;
	if (p->n < 64)
		p->ids[p->n++] = id;
}

struct hist {
	char text[8][64];
	size_t n;
};

static int hist_item(void *ctx, const struct store_msg *m)
{
	struct hist *h = ctx;
	if (h->n < 8)
		snprintf(h->text[h->n++], sizeof(h->text[0]), "%s:%s", m->from, m->text);
	return 0;
}

static void outbox_states_survive_restart(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"one", "two", "three"};
	struct store_recorded rec;
	struct pend pd = {.n = 0};
	struct hist h = {.n = 0};

	struct post p = mkpost("o1", "to", "question");
	assert_int_equal(record(s, &p, &d, parts, 3, &rec), 0);
	int64_t a = rec.outbox[0], b = rec.outbox[1], c = rec.outbox[2];
	assert_int_equal(store_commit(s), 0);

	/* Marked sent but the process dies before the commit: still pending. */
	assert_int_equal(store_outbox_sent(s, a, T0 + 1), 0);
	store_close(s); /* rolls back the open transaction, like a crash */
	s = open_store();
	assert_int_equal(store_outbox_pending(s, collect, &pd), 0);
	assert_int_equal(pd.n, 3);
	assert_int_equal(pd.ids[0], a);

	/* History shows the customer message; bot parts only once delivered. */
	assert_int_equal(store_history(s, "webchat", "to", 0, hist_item, &h), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.text[0], "customer:question");

	assert_int_equal(store_outbox_sent(s, a, T0 + 2), 0);
	assert_int_equal(store_outbox_retry(s, b, 1, 123456, "503"), 0);
	assert_int_equal(store_outbox_failed(s, c, 5, "422 invalid"), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);

	s = open_store();
	pd.n = 0;
	assert_int_equal(store_outbox_pending(s, collect, &pd), 0);
	assert_int_equal(pd.n, 1);
	assert_int_equal(pd.ids[0], b);
	struct store_out o;
	assert_int_equal(store_outbox_get(s, b, &o), 1);
	assert_int_equal(o.attempts, 1);
	assert_int_equal(o.not_before_ms, 123456);
	store_out_free(&o);
	/* Settled rows are not handed out again. */
	assert_int_equal(store_outbox_get(s, a, &o), 0);
	assert_int_equal(store_outbox_get(s, c, &o), 0);
	h.n = 0;
	assert_int_equal(store_history(s, "webchat", "to", 0, hist_item, &h), 0);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.text[1], "bot:one");
	long pending, sent, failed, cancelled;
	assert_int_equal(store_outbox_counts(s, &pending, &sent, &failed, &cancelled), 0);
	assert_int_equal(pending, 1);
	assert_int_equal(sent, 1);
	assert_int_equal(failed, 1);
	assert_int_equal(cancelled, 0);
	assert_int_equal(count(s, "SELECT count(*) FROM messages WHERE state = 'failed'"), 1);
	/* Sending a settled row again changes nothing. */
	assert_int_equal(store_outbox_sent(s, c, T0 + 3), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM outbox WHERE state = 'failed'"), 1);
	store_close(s);
}

/*
 * A child process records posts and settles outbox rows in small
 * transactions until it is killed with SIGKILL at a random moment.  After
 * every kill the file must pass integrity_check and keep the invariants
 * the daemon relies on: a post is either stored whole or not at all, and a
 * reply message's state always equals its outbox row's state.
 */
static void child_writer(int round)
{
	char err[256];
	struct store *s = store_open(path, 1, err, sizeof(err));
	if (!s)
		_exit(3);
	struct decision d = answer();
	const char *parts[] = {"part one", "part two"};
	char id[64], th[32];
	for (int i = 0;; i++) {
		struct store_recorded rec;
		snprintf(id, sizeof(id), "k%d-%d", round, i);
		snprintf(th, sizeof(th), "kt%d", i % 7);
		struct post p = mkpost(id, th, "hello");
		if (record(s, &p, &d, parts, 2, &rec) < 0)
			_exit(4);
		if (i % 3 == 0 && store_outbox_sent(s, rec.outbox[0], T0) < 0)
			_exit(5);
		if (i % 5 == 0 && store_commit(s) < 0)
			_exit(6);
	}
}

static void killed_writer_leaves_consistent_store(void **state)
{
	(void)state;
	struct store *s = open_store();
	store_close(s);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			child_writer(round);
		usleep(20000 + (useconds_t)(rand() % 80000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));

		s = open_store();
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(store_db(s), "PRAGMA integrity_check", -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		assert_true(count(s, "SELECT count(*) FROM posts") > 0);
		assert_int_equal(
		    count(s, "SELECT count(*) FROM posts p WHERE (SELECT count(*) FROM outbox o"
		             " JOIN messages m ON m.id = o.message_id WHERE o.reply_to = p.post_id) <> 2"),
		    0);
		assert_int_equal(
		    count(s, "SELECT count(*) FROM posts WHERE message_id NOT IN (SELECT id FROM messages)"),
		    0);
		assert_int_equal(count(s,
		                       "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id"
		                       " WHERE m.state <> o.state"),
		                 0);
		store_close(s);
	}
}

static void visitors_cursors_notify_and_external_writes(void **state)
{
	(void)state;
	struct store *s = open_store();
	char key[64], cur[64];
	int64_t id = 0, id2 = 0;

	assert_int_equal(store_visitor_find(s, "nobody", T0, key, sizeof(key)), 0);
	assert_int_equal(store_visitor_add(s, "tok-aaaaaaaaaaaaaaaa", "v-1", T0), 0);
	assert_int_equal(store_visitor_find(s, "tok-aaaaaaaaaaaaaaaa", T0 + 10, key, sizeof(key)), 1);
	assert_string_equal(key, "v-1");
	assert_int_equal(store_visitor_set_email(s, "tok-aaaaaaaaaaaaaaaa", "kim@example.org"), 0);
	/* Expired once idle for longer than the TTL. */
	assert_int_equal(
	    store_visitor_find(s, "tok-aaaaaaaaaaaaaaaa", T0 + 10 + STORE_VISITOR_TTL + 1, key, sizeof(key)),
	    0);

	assert_int_equal(store_cursor_get(s, "masto", cur, sizeof(cur)), 0);
	assert_int_equal(store_cursor_set(s, "masto", "1001", T0), 0);
	assert_int_equal(store_cursor_set(s, "masto", "1002", T0), 0);
	assert_int_equal(store_cursor_get(s, "masto", cur, sizeof(cur)), 1);
	assert_string_equal(cur, "1002");

	assert_int_equal(store_outbox_notify(s, "notify-1", 0, "{\"event\":\"new\"}", "n-1", 0, T0, &id), 0);
	assert_int_equal(store_outbox_notify(s, "notify-1", 0, "{\"event\":\"new\"}", "n-1", 0, T0, &id2), 1);
	assert_int_equal(id, id2);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_external_change(s), 0);

	/* Another connection (the queue CLI) writes: noticed once. */
	struct store *cli = open_store();
	assert_int_equal(store_cursor_set(cli, "other", "x", T0), 0);
	assert_int_equal(store_commit(cli), 0);
	store_close(cli);
	assert_int_equal(store_external_change(s), 1);
	assert_int_equal(store_external_change(s), 0);
	store_close(s);
}

static void refuses_missing_or_long_keys(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	struct store_recorded rec;
	char longkey[STORE_MAX_KEY + 10];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	struct post p = mkpost(longkey, "t", "x");
	assert_int_equal(record(s, &p, &d, NULL, 0, &rec), -1);
	struct post q = mkpost("ok", NULL, "x");
	assert_int_equal(record(s, &q, &d, NULL, 0, &rec), -1);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM posts"), 0);
	store_close(s);
}

/* The disk fills up mid-batch: the post that does not fit fails; the commit
 * reports truthfully whether the posts before it were kept (SQLite may roll
 * the whole transaction back); the store works again once there is room. */
static void full_disk_fails_one_post(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	struct store_recorded rec;
	char id[32], big[4000];

	struct post p = mkpost("before", "tf", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	long pages = count(s, "PRAGMA page_count");
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %ld", pages + 2);
	assert_int_equal(sqlite3_exec(store_db(s), pragma, NULL, NULL, NULL), SQLITE_OK);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int failed = 0;
	for (int i = 0; i < 50 && !failed; i++) {
		snprintf(id, sizeof(id), "big%d", i);
		struct post q = mkpost(id, "tf", big);
		failed = record(s, &q, &d, parts, 1, &rec) < 0;
	}
	assert_true(failed);
	/* SQLite may undo the statement or the whole transaction; either way
	 * the commit must tell the truth about "before". */
	int committed = store_commit(s) == 0;
	assert_false(store_in_tx(s));
	assert_int_equal(store_post_find(s, "webchat", "before", NULL, NULL), committed);
	assert_int_equal(sqlite3_exec(store_db(s), "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	                 SQLITE_OK);
	struct post r = mkpost("after", "tf", "hello again");
	assert_int_equal(record(s, &r, &d, parts, 1, &rec), 0);
	assert_int_equal(store_commit(s), 0);
	/* Every stored post is whole: its message, and its reply row. */
	assert_int_equal(
	    count(s, "SELECT count(*) FROM posts p WHERE (SELECT count(*) FROM outbox o"
	             " WHERE o.reply_to = p.post_id) <> 1 OR message_id NOT IN (SELECT id FROM messages)"),
	    0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(schema_created_and_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(newer_schema_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(post_recorded_and_deduped, setup, teardown),
	    cmocka_unit_test_setup_teardown(group_commit_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(deferred_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(tickets_and_withdrawal, setup, teardown),
	    cmocka_unit_test_setup_teardown(outbox_states_survive_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(killed_writer_leaves_consistent_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(visitors_cursors_notify_and_external_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(refuses_missing_or_long_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(full_disk_fails_one_post, setup, teardown),
	};
	log_threshold = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
