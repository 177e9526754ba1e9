/*
 * test_store.c - the store, one suite for every backend: each case of
 * `common` runs on SQLite and on PostgreSQL (a throw-away cluster `make
 * test` starts: FRONTDESK_TEST_PG), so an operation added to one backend
 * and not the other fails here.  Cases that only one backend can have
 * (SQLite's file, WAL and disk; PostgreSQL's several processes on one
 * database: deciding once, leases, leadership, notifications, a lost
 * connection) follow in groups of their own.
 *
 * Common: schema creation and refusal of newer schemas, post dedupe, the
 * group (visible to others only after commit; a refused key fails
 * nothing), durable commit on a loop, tickets, the ticket read model and
 * the pre-send withdrawal of bot replies, the outbox state machine across
 * simulated and real (SIGKILL) crashes, visitors, cursors, connector state
 * and notifications.
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
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "store.h"
#include "store/schema.h"
#include "store/sqlite.h"
#include "store_sync.h"

enum backend { SQLITE = 0, PG };
static enum backend be;
static const char *pg_url; /* FRONTDESK_TEST_PG */
static uv_loop_t loop;     /* PostgreSQL stores answer later: the suite runs this */
static int loop_ready;

static char dir[64];
static char path[128];
static const time_t T0 = 1795000000; /* 2026-11-17, a fixed clock */

/* One statement on a connection of the test's own: what another process
 * sees.  PostgreSQL: the result (PQclear it), failing the test on error. */
static PGresult *pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", pg_url, PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));

	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQfinish(c);
	return r;
}

static int setup(void **state)
{
	(void)state;
	alarm(120); /* a case that waits for ever fails instead */
	if (be == SQLITE) {
		ss_tmp_make("fd-store", dir, sizeof(dir), path, sizeof(path));
		ss_use_loop(NULL);
		return 0;
	}
	PQclear(pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
	if (!loop_ready) {
		assert_int_equal(uv_loop_init(&loop), 0);
		loop_ready = 1;
	}
	ss_use_loop(&loop);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (be == SQLITE)
		ss_tmp_remove(dir, path);
	alarm(0);
	return 0;
}

/* A store as the daemon opens it (PostgreSQL: on the suite's loop, as
 * process `node`), or as a command-line tool (no loop). */
static struct store *open_as(const char *node, int with_loop)
{
	char err[256] = "";
	if (be == SQLITE)
		return ss_open(path, 1);
	struct store_conf c = {.url = pg_url, .sync_full = 1, .loop = with_loop ? &loop : NULL, .node = node};
	struct store *s = store_open(&c, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

static struct store *open_store(void)
{
	return open_as("node-a", 1);
}

/* Close (a store on the loop stops first, and its handles close). */
static void close_store(struct store *s)
{
	if (be == PG) {
		store_stop(s);
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	store_close(s);
}

struct committed {
	int rc;
	int done;
};

static void on_committed(void *arg, int rc)
{
	struct committed *c = arg;
	c->rc = rc;
	c->done++;
}

/* Run the loop until the commit reported. */
static int commit_on_loop(uv_loop_t *l, struct store *s)
{
	struct committed c = {-9, 0};
	store_commit(s, on_committed, &c);
	while (!c.done)
		uv_run(l, UV_RUN_ONCE);
	assert_int_equal(c.done, 1);
	return c.rc;
}

static int commit(struct store *s)
{
	return be == SQLITE ? store_commit_sync(s) : commit_on_loop(&loop, s);
}

/* A count from a second, independent connection: what another process sees. */
static long outside_count(const char *sql)
{
	long n = -1;
	if (be == PG) {
		PGresult *r = pg_exec(sql);
		if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
			n = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		return n;
	}
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* A count as the store itself sees it (SQLite: its own connection, the open
 * group included; PostgreSQL: committed data only, so callers commit first). */
static long count(struct store *s, const char *sql)
{
	if (be == PG)
		return outside_count(sql);
	sqlite3_stmt *st;
	long n = -1;
	assert_int_equal(sqlite3_prepare_v2(store_sqlite_db(s), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Statements from outside the store's operations (a test writing the
 * clock): SQLite on the store's own connection, PostgreSQL on another
 * (after a commit). */
static void exec_sql(struct store *s, const char *sql)
{
	if (be == PG)
		PQclear(pg_exec(sql));
	else
		assert_int_equal(sqlite3_exec(store_sqlite_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
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

/* Look post p up and record it with decision d and the given reply parts,
 * as the daemon does; 0 or -1. */
static int record(struct store *s, const struct post *p, const struct decision *d, const char *const *parts,
                  size_t n, struct ss_rec *out)
{
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	if (p->platform && p->post_id && p->thread_key &&
	    ss_lookup(s, p->platform, p->post_id, p->thread_key, &l) < 0)
		return -1;
	struct store_record r = {.post = p,
	                         .decision = d,
	                         .decision_json = "{}",
	                         .parts = parts,
	                         .n_parts = n,
	                         .now = T0,
	                         .thread = &l.thread};
	ss_rec_free(out);
	return ss_record(s, &r, out);
}

/* Is (webchat, id) stored?  1 (with its message and time), 0, -1. */
static int post_find(struct store *s, const char *id, int64_t *mid, time_t *ts)
{
	struct store_lookup l;
	if (ss_lookup(s, "webchat", id, "any", &l) < 0)
		return -1;
	if (mid)
		*mid = l.message_id;
	if (ts)
		*ts = l.ts;
	return l.duplicate;
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

/* The schema version a store says it has. */
static long schema_version(struct store *s)
{
	return be == SQLITE ? count(s, "PRAGMA user_version")
	                    : outside_count("SELECT max(version) FROM frontdesk_schema");
}

/*
 * A new store has the current schema, and every table with exactly the
 * columns the schema description lists for it (what `frontdesk migrate`
 * copies); opening it again migrates nothing.
 */
static void schema_created(void **state)
{
	(void)state;
	struct store *s = open_store();
	assert_int_equal(schema_version(s), STORE_SCHEMA_VERSION);
	for (size_t t = 0; t < schema_ntables; t++) {
		struct buf q;
		buf_init(&q, 0);
		buf_puts(&q, "SELECT count(*) FROM (SELECT ");
		for (size_t c = 0; schema_tables[t].columns[c]; c++)
			buf_printf(&q, "%s%s", c ? ", " : "", schema_tables[t].columns[c]);
		buf_printf(&q, " FROM %s) x", schema_tables[t].name);
		assert_int_equal(outside_count(q.p), 0);
		buf_free(&q);
		/* ...and no column more. */
		char *cols = be == SQLITE ? xasprintf("SELECT count(*) FROM pragma_table_info('%s')",
		                                      schema_tables[t].name)
		                          : xasprintf("SELECT count(*) FROM information_schema.columns"
		                                      " WHERE table_schema = 'public' AND table_name = '%s'",
		                                      schema_tables[t].name);
		size_t n = 0;
		while (schema_tables[t].columns[n])
			n++;
		assert_int_equal(outside_count(cols), (long)n);
		free(cols);
	}
	close_store(s);
	s = open_store();
	assert_int_equal(schema_version(s), STORE_SCHEMA_VERSION);
	close_store(s);
}

/* SQLite: the file is its owner's alone; the pragmas the backend relies on. */
static void sqlite_file_private(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct stat st;
	assert_int_equal(count(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(
	    count(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'"),
	    16);
	assert_int_equal(
	    count(s, "SELECT count(*) FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%fts5%'"), 3);
	assert_int_equal(count(s, "PRAGMA wal_autocheckpoint"), 0);
	assert_int_equal(count(s, "PRAGMA synchronous"), 2); /* FULL without a loop */
	close_store(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
}

static void newer_schema_refused(void **state)
{
	(void)state;
	char err[256] = "";
	struct store *s = open_store();
	close_store(s);
	if (be == SQLITE) {
		sqlite3 *db;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	} else {
		PQclear(pg_exec("UPDATE frontdesk_schema SET version = 99"));
	}
	struct store_conf c = {.path = path, .url = be == PG ? pg_url : NULL, .sync_full = 1};
	assert_null(store_open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

static void post_recorded_and_deduped(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct post p = mkpost("t1/c1", "t1", "when do you open?");
	struct decision d = answer();
	const char *parts[] = {"We open at nine,", "every day."};
	struct ss_rec rec = {0};
	int64_t mid = 0;
	time_t ts = 0;

	p.client_id = "c1";
	assert_int_equal(post_find(s, "t1/c1", &mid, &ts), 0);
	assert_int_equal(record(s, &p, &d, parts, 2, &rec), 0);
	assert_int_equal(rec.n_outbox, 2);
	assert_true(rec.message_id > 0);
	/* The rows come back as written: delivery needs no read-back. */
	assert_string_equal(rec.rows[1].text, "every day.");
	assert_string_equal(rec.rows[0].reply_to, "t1/c1");
	assert_string_equal(rec.rows[0].sender, "bot");
	assert_true(rec.rows[0].id > 0 && rec.rows[1].id > rec.rows[0].id);
	/* Within the same group the duplicate is already visible. */
	assert_int_equal(post_find(s, "t1/c1", &mid, &ts), 1);
	assert_int_equal(mid, rec.message_id);
	assert_int_equal(ts, T0);
	/* Recording it anyway: "stored already", nothing of the copy is
	 * written, and the group goes on. */
	struct store_lookup l;
	assert_int_equal(ss_lookup(s, "webchat", "t1/c1", "t1", &l), 0);
	struct store_record again = {
	    .post = &p, .decision = &d, .decision_json = "{}", .now = T0, .thread = &l.thread};
	struct ss_rec dup = {0};
	assert_int_equal(ss_record(s, &again, &dup), 1);
	/* Nor for a post whose thread would be new: no empty thread stays. */
	struct post other = mkpost("t1/c1", "t-new", "when do you open?");
	assert_int_equal(record(s, &other, &d, parts, 2, &dup), 1);
	struct post q = mkpost("t1/c2", "t1", "thanks");
	struct decision ign;
	memset(&ign, 0, sizeof(ign));
	ign.action = ACTION_IGNORE;
	ign.ignored = "cooldown";
	assert_int_equal(record(s, &q, &ign, NULL, 0, &rec), 0);
	assert_int_equal(rec.n_outbox, 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM messages WHERE sender = 'customer'"), 2);
	assert_int_equal(
	    outside_count("SELECT count(*) FROM messages WHERE sender = 'bot' AND state = 'pending'"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM outbox WHERE state = 'pending'"), 2);
	assert_int_equal(outside_count("SELECT count(DISTINCT idem_key) FROM outbox"), 2);
	assert_int_equal(outside_count("SELECT count(*) FROM threads"), 1);
	close_store(s);
}

static void group_commit_visibility(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"hi"};
	struct ss_rec rec = {0};
	char id[32], th[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		snprintf(th, sizeof(th), "th%d", i % 50);
		struct post p = mkpost(id, th, "hello");
		assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	}
	assert_true(store_dirty(s));
	/* Nothing is visible outside before the commit... */
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 0);
	assert_int_equal(commit(s), 0);
	/* ...and all of it after one commit. */
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1000);
	assert_int_equal(outside_count("SELECT count(*) FROM threads"), 50);

	/* A rolled-back batch leaves no trace. */
	struct post p = mkpost("lost", "th1", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	store_rollback(s);
	assert_int_equal(post_find(s, "lost", NULL, NULL), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1000);
	close_store(s);
}

/*
 * Durable commit is one call, on the daemon's loop: the commit's callback
 * comes once the group is durable (SQLite: commits only write the WAL and
 * a worker's fdatasync covers them; PostgreSQL: COMMIT's answer), groups
 * are reported in order, a commit with nothing in it is answered after
 * the groups before it, and a writer killed right after the callback (no
 * close, no checkpoint) has lost nothing.
 */
static void durable_commit_off_the_loop(void **state)
{
	(void)state;
	struct decision d = answer();
	const char *parts[] = {"hi"};
	struct ss_rec rec = {0};
	uv_loop_t dl;
	char err[256] = "";

	assert_int_equal(uv_loop_init(&dl), 0);
	ss_use_loop(&dl);
	struct store_conf conf = {
	    .path = path, .url = be == PG ? pg_url : NULL, .sync_full = 1, .loop = &dl, .node = "node-a"};
	struct store *s = store_open(&conf, err, sizeof(err));
	assert_non_null(s);
	if (be == SQLITE)
		assert_int_equal(count(s, "PRAGMA synchronous"), 1); /* NORMAL: the fsync is the worker's */

	/* Two groups in a row: reported in commit order, each exactly once. */
	struct committed a = {-9, 0}, b = {-9, 0};
	struct post p1 = mkpost("g1", "th1", "hello");
	assert_int_equal(record(s, &p1, &d, parts, 1, &rec), 0);
	store_commit(s, on_committed, &a);
	assert_int_equal(a.done, 0); /* not before it is durable */
	assert_int_equal(store_committing(s), 1);
	struct post p2 = mkpost("g2", "th1", "hello again");
	assert_int_equal(record(s, &p2, &d, parts, 1, &rec), 0);
	store_commit(s, on_committed, &b);
	while (!b.done)
		uv_run(&dl, UV_RUN_ONCE);
	assert_int_equal(a.done, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(store_committing(s), 0);
	/* Nothing to commit: still answered, after the groups before it. */
	struct committed e = {-9, 0};
	struct post p3 = mkpost("g3", "th1", "and again");
	assert_int_equal(record(s, &p3, &d, parts, 1, &rec), 0);
	store_commit(s, on_committed, &a);
	store_commit(s, on_committed, &e);
	while (!e.done)
		uv_run(&dl, UV_RUN_ONCE);
	assert_int_equal(a.done, 2);
	assert_int_equal(e.rc, 0);
	assert_int_equal(commit_on_loop(&dl, s), 0);
	store_stop(s);
	uv_run(&dl, UV_RUN_DEFAULT);
	store_close(s);
	ss_rec_free(&rec);
	assert_int_equal(uv_loop_close(&dl), 0);
	ss_use_loop(be == PG ? &loop : NULL);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uv_loop_t cl;
		if (uv_loop_init(&cl) != 0)
			_exit(2);
		ss_use_loop(&cl);
		struct store_conf cc = {.path = path,
		                        .url = be == PG ? pg_url : NULL,
		                        .sync_full = 1,
		                        .loop = &cl,
		                        .node = "node-c"};
		struct store *c = store_open(&cc, err, sizeof(err));
		if (!c)
			_exit(3);
		struct post p = mkpost("synced", "th1", "hello");
		struct ss_rec r = {0};
		if (record(c, &p, &d, parts, 1, &r) < 0 || commit_on_loop(&cl, c) != 0)
			_exit(4);
		kill(getpid(), SIGKILL); /* no close, no checkpoint */
		_exit(5);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(outside_count("SELECT count(*) FROM posts WHERE post_id = 'synced'"), 1);
}

static void tickets_and_withdrawal(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision e = escalation();
	const char *ack[] = {"A person will reply by 10:00."};
	struct ss_rec rec = {0};
	struct store_thread t;
	struct store_out o;

	struct post p1 = mkpost("x1", "tx", "my order never came");
	assert_int_equal(record(s, &p1, &e, ack, 1, &rec), 0);
	int64_t ticket = rec.ticket_id, ack_row = rec.outbox[0];
	assert_true(ticket > 0);
	assert_int_equal(ss_thread(s, "webchat", "tx", &t), 0);
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
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'message'"), 1);
	assert_int_equal(ss_thread(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.last_waiting_notice, T0);

	/* An agent claims before the acknowledgement went out: withdrawn. */
	assert_int_equal(ss_claim(s, ticket, "sam", T0 + 5), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.owner, THREAD_CLAIMED);
	assert_string_equal(t.assignee, "sam");
	assert_int_equal(ss_claim_row(s, ack_row), 1); /* withdrawn: cancelled by the store */
	assert_int_equal(ss_pending_row(s, ack_row, &o), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM outbox WHERE state = 'cancelled'"), 1);
	assert_int_equal(outside_count("SELECT count(*) FROM messages WHERE state = 'cancelled'"), 1);

	/* A notice decided while it was already claimed is sent. */
	struct post p3 = mkpost("x3", "tx", "still there?");
	assert_int_equal(ss_thread(s, "webchat", "tx", &t), 0);
	assert_int_equal(record(s, &p3, &app, notice, 1, &rec), 0);
	assert_int_equal(ss_claim_row(s, rec.outbox[0]), 0);
	(void)notice_row;

	/* The agent replies in two parts; first response recorded. */
	const char *reply[] = {"Sorry about that,", "a new one is on its way. — Sam"};
	int64_t ids[2] = {0, 0};
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 2, T0 + 60, ids), 0);
	assert_true(ids[0] > 0 && ids[1] > ids[0]);
	assert_int_equal(ss_pending_row(s, ids[1], &o), 1);
	assert_string_equal(o.sender, "agent");
	assert_string_equal(o.agent, "Sam");
	assert_string_equal(o.reply_to, "x3");
	store_out_free(&o);
	assert_int_equal(ss_claim_row(s, ids[1]), 0);

	/* The read model: the message that caused the escalation and the
	 * customer's latest, the newest message of any sender. */
	struct store_ticket tk;
	assert_int_equal(ss_ticket(s, ticket, &tk), 1);
	assert_string_equal(tk.status, "claimed");
	assert_string_equal(tk.assignee, "sam");
	assert_string_equal(tk.opening.text, "my order never came");
	assert_string_equal(tk.latest.text, "still there?");
	assert_true(tk.last_message_id > tk.latest.id);
	assert_int_equal(tk.sending, 2);
	assert_int_equal(tk.first_response, T0 + 60);
	assert_string_equal(tk.connector, "webchat");
	assert_string_equal(tk.thread_key, "tx");
	ss_ticket_free(&tk);
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT first_response FROM tickets"), T0 + 60);

	/* Release, resolve: the thread is the bot's again with no cooldown. */
	assert_int_equal(ss_release(s, ticket, "sam", T0 + 70), 0);
	assert_int_equal(ss_release(s, ticket, "sam", T0 + 71), 1);
	assert_int_equal(ss_resolve(s, ticket, "sam", T0 + 80), 0);
	assert_int_equal(ss_resolve(s, ticket, "sam", T0 + 81), 1);
	assert_int_equal(ss_claim(s, ticket, "sam", T0 + 82), 1);
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 83, NULL), 1);
	assert_int_equal(ss_claim(s, 999, "sam", T0), 1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "tx", &t), 0);
	assert_int_equal(t.owner, THREAD_BOT);
	assert_int_equal(t.ticket_id, 0);
	assert_int_equal(t.last_ack, 0);
	assert_int_equal(count(s, "SELECT resolved FROM tickets"), T0 + 80);

	/* The resolved ticket's view ends at its resolution: what the thread
	 * says afterwards belongs to the next conversation. */
	char lines[16][96];
	long before = ss_ticket_messages(s, ticket, lines, 16);
	assert_true(before >= 4);
	struct decision a2 = answer();
	const char *later[] = {"We open at nine."};
	struct post p4 = mkpost("x4", "tx", "when do you open?");
	assert_int_equal(record(s, &p4, &a2, later, 1, &rec), 0);
	assert_int_equal(commit(s), 0);
	/* (the same second as the resolution counts as before it) */
	struct store_ticket_query open = {.filter = TICKETS_OPEN};
	int64_t ids_open[4];
	assert_int_equal(ss_ticket_ids(s, &open, ids_open, 4), 0);
	struct store_ticket_query resolved = {.filter = TICKETS_RESOLVED};
	assert_int_equal(ss_ticket_ids(s, &resolved, ids_open, 4), 1);
	assert_int_equal(ss_ticket_messages(s, 999, lines, 16), -2);
	close_store(s);
}

static void outbox_states_survive_restart(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"one", "two", "three"};
	struct ss_rec rec = {0};
	int64_t pd[64];
	char h[8][96];

	struct post p = mkpost("o1", "to", "question");
	assert_int_equal(record(s, &p, &d, parts, 3, &rec), 0);
	int64_t a = rec.outbox[0], b = rec.outbox[1], c = rec.outbox[2];
	assert_int_equal(commit(s), 0);

	/* Marked sent but the process dies before the commit: still pending.
	 * An outcome alone may wait for the next group (store_dirty 1). */
	assert_int_equal(store_dirty(s), 0);
	assert_int_equal(store_outbox_sent(s, a, T0 + 1), 0);
	assert_int_equal(store_dirty(s), 1);
	close_store(s); /* rolls back the open group, like a crash */
	s = open_store();
	assert_int_equal(ss_pending_ids(s, pd, 64), 3);
	assert_int_equal(pd[0], a);

	/* History shows the customer message; bot parts only once delivered. */
	assert_int_equal(ss_history(s, "webchat", "to", h, 8), 1);
	assert_string_equal(h[0], "customer:question");

	assert_int_equal(store_outbox_sent(s, a, T0 + 2), 0);
	assert_int_equal(store_outbox_retry(s, b, 1, 123456, "503"), 0);
	assert_int_equal(store_outbox_failed(s, c, 5, "422 invalid"), 0);
	assert_int_equal(store_dirty(s), 1);
	assert_int_equal(store_cursor_set(s, "x", "1", T0), 0); /* someone waits for this */
	assert_int_equal(store_dirty(s), 2);
	assert_int_equal(commit(s), 0);
	assert_int_equal(store_dirty(s), 0);
	close_store(s);

	s = open_store();
	assert_int_equal(ss_pending_ids(s, pd, 64), 1);
	assert_int_equal(pd[0], b);
	struct store_out o;
	assert_int_equal(ss_pending_row(s, b, &o), 1);
	assert_int_equal(o.attempts, 1);
	assert_int_equal(o.not_before_ms, 123456);
	store_out_free(&o);
	/* Settled rows are not handed out again. */
	assert_int_equal(ss_pending_row(s, a, &o), 0);
	assert_int_equal(ss_pending_row(s, c, &o), 0);
	assert_int_equal(ss_history(s, "webchat", "to", h, 8), 2);
	assert_string_equal(h[1], "bot:one");
	struct store_outbox_counts n;
	assert_int_equal(ss_counts(s, &n), 0);
	assert_int_equal(n.pending, 1);
	assert_int_equal(n.sent, 1);
	assert_int_equal(n.failed, 1);
	assert_int_equal(n.cancelled, 0);
	assert_int_equal(count(s, "SELECT count(*) FROM messages WHERE state = 'failed'"), 1);
	/* Sending a settled row again changes nothing. */
	assert_int_equal(store_outbox_sent(s, c, T0 + 3), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM outbox WHERE state = 'failed'"), 1);
	close_store(s);
}

/*
 * A child process records posts and settles outbox rows in small
 * transactions until it is killed with SIGKILL at a random moment.  After
 * every kill the file must pass integrity_check and keep the invariants
 * the daemon relies on: a post is either stored whole or not at all, and a
 * reply message's state always equals its outbox row's state.
 */
static void child_writer(int round, int ready)
{
	ss_use_loop(NULL);
	struct store *s = open_as("node-k", 0);
	struct decision d = answer();
	const char *parts[] = {"part one", "part two"};
	char id[64], th[32];
	for (int i = 0;; i++) {
		struct ss_rec rec = {0};
		snprintf(id, sizeof(id), "k%d-%d", round, i);
		snprintf(th, sizeof(th), "kt%d", i % 7);
		struct post p = mkpost(id, th, "hello");
		if (record(s, &p, &d, parts, 2, &rec) < 0)
			_exit(4);
		if (i % 3 == 0 && store_outbox_sent(s, rec.outbox[0], T0) < 0)
			_exit(5);
		ss_rec_free(&rec);
		if (i % 5 == 0 && commit(s) < 0)
			_exit(6);
		/* Say once that something is committed, so the kill comes
		 * mid-write however slow the machine is. */
		if (i == 0 && (write(ready, "x", 1) != 1 || close(ready) < 0))
			_exit(7);
	}
}

static void killed_writer_leaves_consistent_store(void **state)
{
	(void)state;
	struct store *s = open_store();
	close_store(s);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 6; round++) {
		int fds[2];
		char c;
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_writer(round, fds[1]);
		}
		close(fds[1]);
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		usleep(5000 + (useconds_t)(rand() % 80000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));

		s = open_store();
		if (be == SQLITE) {
			sqlite3_stmt *st;
			assert_int_equal(
			    sqlite3_prepare_v2(store_sqlite_db(s), "PRAGMA integrity_check", -1, &st, NULL),
			    SQLITE_OK);
			assert_int_equal(sqlite3_step(st), SQLITE_ROW);
			assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
			sqlite3_finalize(st);
		}
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
		close_store(s);
	}
}

static void visitors_cursors_notify_and_external_writes(void **state)
{
	(void)state;
	struct store *s = open_store();
	char key[64], cur[64];
	int64_t id = 0, id2 = 0;

	assert_int_equal(ss_visitor_find(s, "nobody", T0, key, sizeof(key)), 0);
	assert_int_equal(store_visitor_add(s, "tok-aaaaaaaaaaaaaaaa", "v-1", T0), 0);
	assert_int_equal(ss_visitor_find(s, "tok-aaaaaaaaaaaaaaaa", T0 + 10, key, sizeof(key)), 1);
	assert_string_equal(key, "v-1");
	assert_int_equal(
	    store_visitor_set_email(s, "tok-aaaaaaaaaaaaaaaa", "v-1", "kim@example.org", T0 + 10), 0);
	/* Added again: harmless, one row; an e-mail address alone adds one. */
	assert_int_equal(store_visitor_add(s, "tok-aaaaaaaaaaaaaaaa", "v-1", T0 + 20), 0);
	assert_int_equal(
	    store_visitor_set_email(s, "tok-bbbbbbbbbbbbbbbb", "v-2", "lee@example.org", T0 + 20), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM visitors"), 2);
	assert_int_equal(count(s, "SELECT count(*) FROM visitors WHERE email = 'kim@example.org'"), 1);
	/* Expired once idle for longer than the TTL. */
	assert_int_equal(
	    ss_visitor_find(s, "tok-aaaaaaaaaaaaaaaa", T0 + 20 + STORE_VISITOR_TTL + 1, key, sizeof(key)), 0);

	assert_int_equal(ss_cursor_get(s, "masto", cur, sizeof(cur)), 0);
	assert_int_equal(store_cursor_set(s, "masto", "1001", T0), 0);
	assert_int_equal(store_cursor_set(s, "masto", "1002", T0), 0);
	assert_int_equal(ss_cursor_get(s, "masto", cur, sizeof(cur)), 1);
	assert_string_equal(cur, "1002");

	assert_int_equal(ss_notify(s, "notify-1", "{\"event\":\"new\"}", "n-1", 0, T0, &id), 0);
	assert_int_equal(ss_notify(s, "notify-1", "{\"event\":\"new\"}", "n-1", 0, T0, &id2), 1);
	assert_int_equal(id, id2);
	assert_int_equal(commit(s), 0);
	assert_int_equal(store_external_change(s), 0);

	/* Another process (the queue CLI: no loop) writes: noticed once
	 * (PostgreSQL: by its notification, which the loop brings in). */
	struct store *cli = open_as(NULL, 0);
	assert_int_equal(store_cursor_set(cli, "other", "x", T0), 0);
	assert_int_equal(store_commit_sync(cli), 0);
	store_close(cli);
	int changed;
	while (!(changed = store_external_change(s)) && be == PG)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(changed, 1);
	assert_int_equal(store_external_change(s), 0);
	close_store(s);
}

/* "Take it offline": the pointer goes public before the private reply, the
 * ticket keeps the decision and the customer, and the team's replies follow
 * it; an unmatched question stays public. */
static void offline_pointer_and_private_ticket(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct ss_rec rec = {0};
	struct store_thread t;
	struct decision d = escalation();
	d.reason = "negative";
	d.is_private = 1;
	const char *parts[] = {"Sorry! Reply here with your order number."};

	struct post p = mkpost("m1", "pub-1", "this is terrible");
	p.platform = p.connector = "mastodon";
	p.is_public = 1;
	p.author_id = "acct-77";
	struct store_record r = {.post = &p,
	                         .decision = &d,
	                         .decision_json = "{}",
	                         .parts = parts,
	                         .n_parts = 1,
	                         .pointer = "I've sent you a direct message.",
	                         .now = T0};
	struct store_lookup l;
	assert_int_equal(ss_lookup(s, "mastodon", "m1", "pub-1", &l), 0);
	r.thread = &l.thread;
	assert_int_equal(ss_record(s, &r, &rec), 0);
	assert_int_equal(rec.n_outbox, 2);
	assert_string_equal(rec.rows[0].text, "I've sent you a direct message.");
	assert_int_equal(rec.rows[0].is_private, 0);
	assert_string_equal(rec.rows[1].text, parts[0]);
	assert_int_equal(rec.rows[1].is_private, 1);
	assert_string_equal(rec.rows[1].recipient, "acct-77");
	assert_string_not_equal(rec.rows[0].idem_key, rec.rows[1].idem_key);
	int64_t ticket = rec.ticket_id;
	assert_int_equal(commit(s), 0);
	/* As read back for delivery after a restart. */
	struct store_out o;
	assert_int_equal(ss_pending_row(s, rec.outbox[1], &o), 1);
	assert_int_equal(o.is_private, 1);
	assert_string_equal(o.recipient, "acct-77");
	store_out_free(&o);
	assert_int_equal(ss_thread(s, "mastodon", "pub-1", &t), 0);
	assert_int_equal(t.ticket_private, 1);

	/* The team's reply follows the ticket: private, to the customer. */
	int64_t ids[2];
	const char *reply[] = {"We'll refund you today."};
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 60, ids), 0);
	assert_int_equal(ss_pending_row(s, ids[0], &o), 1);
	assert_int_equal(o.is_private, 1);
	assert_string_equal(o.recipient, "acct-77");
	store_out_free(&o);

	/* An unmatched public question: public ticket, public team reply. */
	struct decision u = escalation();
	struct post q = mkpost("m2", "pub-2", "do you sell vouchers?");
	q.platform = q.connector = "mastodon";
	q.is_public = 1;
	q.author_id = "acct-78";
	assert_int_equal(record(s, &q, &u, parts, 1, &rec), 0);
	assert_int_equal(rec.n_outbox, 1);
	assert_int_equal(rec.rows[0].is_private, 0);
	ticket = rec.ticket_id;
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 60, ids), 0);
	assert_int_equal(ss_pending_row(s, ids[0], &o), 1);
	assert_int_equal(o.is_private, 0);
	assert_string_equal(o.recipient, "acct-78");
	store_out_free(&o);
	assert_int_equal(commit(s), 0);
	ss_rec_free(&rec);
	close_store(s);
}

/* Reply windows count from the customer's newest message (the platform's
 * time, whatever order posts arrive in); a person of the business
 * writing on the platform itself takes the conversation over. */
static void reply_windows_and_take_over(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision a = answer(), e = escalation();
	const char *part[] = {"We open at 9."};
	struct ss_rec rec = {0};
	struct store_thread t;
	struct store_out o;

	struct post p1 = mkpost("w1", "wa", "when are you open?");
	p1.created = T0 - 100;
	assert_int_equal(record(s, &p1, &a, part, 1, &rec), 0);
	assert_int_equal(rec.rows[0].last_in, T0 - 100);
	int64_t row1 = rec.outbox[0];
	/* An older message delivered late does not move it back. */
	struct post p2 = mkpost("w2", "wa", "hello");
	p2.created = T0 - 5000;
	assert_int_equal(record(s, &p2, &a, part, 1, &rec), 0);
	assert_int_equal(rec.rows[0].last_in, T0 - 100);
	struct post p3 = mkpost("w3", "wa", "I want a refund");
	p3.created = T0 + 50;
	assert_int_equal(record(s, &p3, &e, part, 1, &rec), 0);
	int64_t ticket = rec.ticket_id;
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "wa", &t), 0);
	assert_int_equal(t.last_in, T0 + 50);
	/* Rows read back carry the thread's newest time, not their own. */
	assert_int_equal(ss_pending_row(s, row1, &o), 1);
	assert_int_equal(o.last_in, T0 + 50);
	store_out_free(&o);
	struct store_ticket tk;
	assert_int_equal(ss_ticket(s, ticket, &tk), 1);
	assert_int_equal(tk.last_in, T0 + 50);
	ss_ticket_free(&tk);
	int64_t ids[1] = {0};
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", part, 1, T0 + 60, ids), 0);
	assert_int_equal(ss_pending_row(s, ids[0], &o), 1);
	assert_int_equal(o.last_in, T0 + 50);
	store_out_free(&o);
	assert_int_equal(commit(s), 0);

	/* A person answers on the platform in a conversation the bot has:
	 * a ticket opens, claimed by them; their words are an agent's; the
	 * bot's pending reply is withdrawn; the window does not move. */
	struct post q1 = mkpost("m1", "page:psid", "do you deliver?");
	q1.created = T0 - 10;
	assert_int_equal(record(s, &q1, &a, part, 1, &rec), 0);
	int64_t pending = rec.outbox[0];
	assert_int_equal(commit(s), 0);
	struct decision staff;
	memset(&staff, 0, sizeof(staff));
	staff.action = ACTION_IGNORE;
	staff.priority = PRIO_NONE;
	staff.ignored = "staff";
	staff.take_over = 1;
	struct post q2 = mkpost("m2", "page:psid", "Yes, we do. Sara");
	q2.author_name = "a person on Messenger";
	q2.from_staff = 1;
	q2.created = T0 + 20;
	assert_int_equal(record(s, &q2, &staff, NULL, 0, &rec), 0);
	assert_true(rec.ticket_id > 0);
	assert_int_equal(rec.n_outbox, 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "page:psid", &t), 0);
	assert_int_equal(t.owner, THREAD_CLAIMED);
	assert_string_equal(t.assignee, "a person on Messenger");
	assert_int_equal(t.last_in, T0 - 10);
	assert_int_equal(ss_claim_row(s, pending), 1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, rec.ticket_id, &tk), 1);
	assert_string_equal(tk.status, "claimed");
	assert_string_equal(tk.author, "page:psid");
	ss_ticket_free(&tk);
	char lines[8][96];
	/* The customer's question, and the person's answer (the bot's,
	 * withdrawn, is not part of the conversation). */
	assert_int_equal(ss_ticket_messages(s, rec.ticket_id, lines, 8), 2);
	assert_string_equal(lines[0], "customer:do you deliver?");
	assert_string_equal(lines[1], "agent:Yes, we do. Sara");

	/* In a conversation that waits for a person, the ticket is theirs;
	 * one of ours keeps a ticket they claimed. */
	struct post r1 = mkpost("r1", "page:other", "refund please");
	assert_int_equal(record(s, &r1, &e, part, 1, &rec), 0);
	int64_t waiting = rec.ticket_id;
	struct post r2 = mkpost("r2", "page:other", "Sorted, refunded.");
	r2.author_name = "a person on Instagram";
	r2.from_staff = 1;
	assert_int_equal(record(s, &r2, &staff, NULL, 0, &rec), 0);
	assert_int_equal(rec.ticket_id, waiting);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "page:other", &t), 0);
	assert_int_equal(t.owner, THREAD_CLAIMED);
	assert_string_equal(t.assignee, "a person on Instagram");
	assert_int_equal(ss_claim(s, waiting, "sam", T0 + 30), 0);
	struct post r3 = mkpost("r3", "page:other", "And another thing.");
	r3.author_name = "a person on Instagram";
	r3.from_staff = 1;
	assert_int_equal(record(s, &r3, &staff, NULL, 0, &rec), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "page:other", &t), 0);
	assert_string_equal(t.assignee, "sam");
	assert_int_equal(count(s, "SELECT count(*) FROM tickets"), 3);
	close_store(s);
}

/* Connector-private state: a table of its own, durable with the group. */
static void connector_state_table(void **state)
{
	(void)state;
	struct store *s = open_store();
	char *thread = NULL, *value = NULL;

	assert_int_equal(ss_state_get(s, "masto", "status", "101", &thread, &value), 0);
	assert_int_equal(
	    store_state_put(s, "masto", "status", "101", "root-1", "{\"visibility\":\"public\"}", T0), 0);
	assert_int_equal(store_state_put(s, "masto", "dm", "U1", NULL, "D42", T0), 0);
	assert_int_equal(store_state_put(s, "slack", "status", "101", NULL, "other", T0), 0);
	/* Seen inside the open group, and by others only after the commit. */
	assert_int_equal(ss_state_get(s, "masto", "status", "101", &thread, &value), 1);
	assert_string_equal(thread, "root-1");
	assert_string_equal(value, "{\"visibility\":\"public\"}");
	free(thread);
	free(value);
	assert_int_equal(outside_count("SELECT count(*) FROM connector_state"), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM connector_state"), 3);
	assert_int_equal(ss_state_get(s, "masto", "dm", "U1", &thread, &value), 1);
	assert_null(thread);
	assert_string_equal(value, "D42");
	free(value);
	/* Replace, delete, prune (by connector and kind only). */
	assert_int_equal(store_state_put(s, "masto", "dm", "U1", NULL, "D43", T0 + 100), 0);
	assert_int_equal(ss_state_get(s, "masto", "dm", "U1", &thread, &value), 1);
	assert_string_equal(value, "D43");
	free(value);
	assert_int_equal(store_state_prune(s, "masto", "status", T0 + 1), 0);
	assert_int_equal(ss_state_get(s, "masto", "status", "101", &thread, &value), 0);
	assert_int_equal(ss_state_get(s, "slack", "status", "101", &thread, &value), 1);
	free(thread);
	free(value);
	assert_int_equal(store_state_delete(s, "masto", "dm", "U1"), 0);
	assert_int_equal(ss_state_get(s, "masto", "dm", "U1", &thread, &value), 0);
	/* Limits: keys and values are bounded, empty keys refused. */
	char big[STORE_MAX_STATE + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_state_put(s, "masto", "status", "102", NULL, big, T0), -1);
	assert_int_equal(store_state_put(s, "masto", "", "102", NULL, "v", T0), -1);
	assert_int_equal(ss_state_get(s, "masto", "status", "", &thread, &value), -1);
	assert_int_equal(commit(s), 0);
	close_store(s);
}

/* A store written by the previous version: its Mastodon rows of
 * tab-separated values under cursor names move into the state table, and
 * open tickets get the privacy the old per-thread marks gave them. */
static void migrates_connector_rows_from_cursors(void **state)
{
	(void)state;
	sqlite3 *db;
	char *err = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* The version 1 schema, as store/sqlite.c wrote it (the parts used here). */
	assert_int_equal(
	    sqlite3_exec(
	        db,
	        "CREATE TABLE threads (id INTEGER PRIMARY KEY, platform TEXT NOT NULL, thread_key TEXT NOT "
	        "NULL,"
	        " connector TEXT NOT NULL, is_private INTEGER NOT NULL DEFAULT 0, author TEXT, owner TEXT "
	        "NOT NULL"
	        " DEFAULT 'bot', ticket_id INTEGER, claim_seq INTEGER NOT NULL DEFAULT 0, last_ack INTEGER "
	        "NOT"
	        " NULL DEFAULT 0, last_waiting_notice INTEGER NOT NULL DEFAULT 0, last_post_id TEXT, created"
	        " INTEGER NOT NULL, updated INTEGER NOT NULL, UNIQUE (platform, thread_key));"
	        "CREATE TABLE messages (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL, sender TEXT NOT "
	        "NULL,"
	        " agent TEXT, text TEXT NOT NULL, ts INTEGER NOT NULL, client_id TEXT, state TEXT NOT NULL"
	        " DEFAULT 'sent');"
	        "CREATE TABLE posts (id INTEGER PRIMARY KEY, platform TEXT NOT NULL, post_id TEXT NOT NULL,"
	        " connector TEXT NOT NULL, thread_id INTEGER NOT NULL, message_id INTEGER, author_id TEXT,"
	        " author_handle TEXT, author_name TEXT, text TEXT NOT NULL, created INTEGER NOT NULL, "
	        "received"
	        " INTEGER NOT NULL, action TEXT NOT NULL, rule TEXT, decision TEXT NOT NULL,"
	        " UNIQUE (platform, post_id));"
	        "CREATE TABLE tickets (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL, status TEXT NOT "
	        "NULL,"
	        " priority TEXT NOT NULL, reason TEXT, platform TEXT NOT NULL, author TEXT, due INTEGER, "
	        "created"
	        " INTEGER NOT NULL, updated INTEGER NOT NULL, assignee TEXT, first_response INTEGER, resolved"
	        " INTEGER);"
	        "CREATE TABLE ticket_events (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, ts INTEGER "
	        "NOT"
	        " NULL, kind TEXT NOT NULL, actor TEXT, message_id INTEGER, detail TEXT);"
	        "CREATE TABLE outbox (id INTEGER PRIMARY KEY, connector TEXT NOT NULL, thread_id INTEGER,"
	        " thread_key TEXT NOT NULL, reply_to TEXT, private INTEGER NOT NULL DEFAULT 0, text TEXT NOT"
	        " NULL, idem_key TEXT NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL DEFAULT 'bot', agent"
	        " TEXT, message_id INTEGER, guard INTEGER, attempts INTEGER NOT NULL DEFAULT 0, not_before"
	        " INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending', created INTEGER NOT "
	        "NULL,"
	        " sent INTEGER, last_error TEXT);"
	        "CREATE TABLE cursors (connector TEXT PRIMARY KEY, value TEXT NOT NULL, updated INTEGER NOT"
	        " NULL);"
	        "CREATE TABLE visitors (token TEXT PRIMARY KEY, thread_key TEXT NOT NULL UNIQUE, created"
	        " INTEGER NOT NULL, last_seen INTEGER NOT NULL, email TEXT);"
	        "INSERT INTO threads VALUES (1, 'mastodon', '500', 'masto', 0, '@zoe', 'waiting', 1, 0, 0, 0,"
	        " '500', 1, 1);"
	        "INSERT INTO threads VALUES (2, 'mastodon', '600', 'masto', 0, '@ben', 'waiting', 2, 0, 0, 0,"
	        " '600', 1, 1);"
	        "INSERT INTO messages VALUES (1, 1, 'customer', NULL, 'awful', 1, NULL, 'sent');"
	        "INSERT INTO messages VALUES (2, 2, 'customer', NULL, 'vouchers?', 1, NULL, 'sent');"
	        "INSERT INTO posts VALUES (1, 'mastodon', '500', 'masto', 1, 1, 'acct-1', '@zoe', NULL, "
	        "'awful',"
	        " 1, 1, 'escalate', NULL, '{}');"
	        "INSERT INTO posts VALUES (2, 'mastodon', '600', 'masto', 2, 2, 'acct-2', '@ben', NULL,"
	        " 'vouchers?', 1, 1, 'escalate', NULL, '{}');"
	        "INSERT INTO tickets VALUES (1, 1, 'waiting', 'high', 'negative', 'mastodon', '@zoe', 0, 1, "
	        "1,"
	        " NULL, NULL, NULL);"
	        "INSERT INTO tickets VALUES (2, 2, 'waiting', 'normal', 'unmatched', 'mastodon', '@ben', 0, "
	        "1,"
	        " 1, NULL, NULL, NULL);"
	        "INSERT INTO ticket_events VALUES (1, 1, 1, 'opened', NULL, 1, 'negative');"
	        "INSERT INTO ticket_events VALUES (2, 2, 1, 'opened', NULL, 2, 'unmatched');"
	        "INSERT INTO cursors VALUES ('masto', '9001', 5);"
	        "INSERT INTO cursors VALUES ('masto/status/500', '500	public	zoe@remote.example', 7);"
	        "INSERT INTO cursors VALUES ('masto/status/501', '500	direct	zoe@remote.example', 8);"
	        "INSERT INTO cursors VALUES ('masto/offline/500', '1 500', 9);"
	        "PRAGMA user_version = 1;",
	        NULL, NULL, &err),
	    SQLITE_OK);
	sqlite3_close(db);

	struct store *s = open_store();
	char cur[32], *thread = NULL, *value = NULL;
	assert_int_equal(count(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(ss_cursor_get(s, "masto", cur, sizeof(cur)), 1);
	assert_string_equal(cur, "9001");
	assert_int_equal(count(s, "SELECT count(*) FROM cursors"), 1);
	assert_int_equal(ss_state_get(s, "masto", "status", "501", &thread, &value), 1);
	assert_string_equal(thread, "500");
	assert_string_equal(value, "{\"visibility\":\"direct\",\"acct\":\"zoe@remote.example\"}");
	free(thread);
	free(value);
	/* Existing threads got their authors as contacts, and are searchable. */
	assert_int_equal(count(s, "SELECT count(*) FROM contacts"), 2);
	assert_int_equal(
	    count(s, "SELECT count(*) FROM threads t JOIN contact_keys k ON k.contact_id = t.contact_id"
	             " JOIN posts p ON p.thread_id = t.id AND p.author_id = k.author_id"),
	    2);
	struct store_search sq = {.status = TICKETS_ALL, .text = "vouchers"};
	int64_t found[2];
	assert_int_equal(ss_search(s, &sq, found, 2), 1);
	assert_int_equal(found[0], 2);
	sq.text = "zoe";
	assert_int_equal(ss_search(s, &sq, found, 2), 1);
	assert_int_equal(found[0], 1);
	struct store_thread t;
	assert_int_equal(ss_thread(s, "mastodon", "500", &t), 0);
	assert_int_equal(t.ticket_private, 1); /* a complaint: taken offline */
	assert_int_equal(ss_thread(s, "mastodon", "600", &t), 0);
	assert_int_equal(t.ticket_private, 0); /* a mere unmatched question: public */
	int64_t ids[1];
	struct store_out o;
	const char *reply[] = {"Sorry Zoe."};
	assert_int_equal(ss_agent_reply(s, 1, "sam", "Sam", reply, 1, T0, ids), 0);
	assert_int_equal(ss_pending_row(s, ids[0], &o), 1);
	assert_int_equal(o.is_private, 1);
	assert_string_equal(o.recipient, "acct-1");
	store_out_free(&o);
	assert_int_equal(commit(s), 0);
	close_store(s);
}

static void refuses_missing_or_long_keys(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	struct ss_rec rec = {0};
	char longkey[STORE_MAX_KEY + 10];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	struct post p = mkpost(longkey, "t", "x");
	assert_int_equal(record(s, &p, &d, NULL, 0, &rec), -1);
	struct post q = mkpost("ok", NULL, "x");
	assert_int_equal(record(s, &q, &d, NULL, 0, &rec), -1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM posts"), 0);
	close_store(s);
}

/* The disk fills up mid-group: the post that does not fit fails, and so
 * does its group (the commit says so: the posts before it are not kept and
 * not acknowledged); the store works again once there is room. */
/*
 * A disk that is full for the store: the database may grow by `room` more
 * pages, then big posts in thread `thread` are recorded until one fails for
 * want of space (asserted).  uncap() gives the room back.
 */
static void fill_store(struct store *s, const char *thread, long room, struct ss_rec *rec)
{
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	char id[32], big[4000], pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %ld", count(s, "PRAGMA page_count") + room);
	assert_int_equal(sqlite3_exec(store_sqlite_db(s), pragma, NULL, NULL, NULL), SQLITE_OK);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int failed = 0;
	for (int i = 0; i < 50 && !failed; i++) {
		snprintf(id, sizeof(id), "big%d", i);
		struct post q = mkpost(id, thread, big);
		failed = record(s, &q, &d, parts, 1, rec) < 0;
	}
	assert_true(failed);
}

static void uncap(struct store *s)
{
	assert_int_equal(
	    sqlite3_exec(store_sqlite_db(s), "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	    SQLITE_OK);
}

static void full_disk_fails_one_post(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	struct ss_rec rec = {0};

	struct post p = mkpost("before", "tf", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	fill_store(s, "tf", 2, &rec);
	/* SQLite may undo the statement or the whole transaction; either way
	 * the commit must tell the truth about "before". */
	int committed = commit(s) == 0;
	assert_false(store_dirty(s));
	assert_false(committed); /* a failed write fails its group */
	assert_int_equal(post_find(s, "before", NULL, NULL), 0);
	uncap(s);
	struct post r = mkpost("after", "tf", "hello again");
	assert_int_equal(record(s, &r, &d, parts, 1, &rec), 0);
	assert_int_equal(commit(s), 0);
	/* Every stored post is whole: its message, and its reply row. */
	assert_int_equal(
	    count(s, "SELECT count(*) FROM posts p WHERE (SELECT count(*) FROM outbox o"
	             " WHERE o.reply_to = p.post_id) <> 1 OR message_id NOT IN (SELECT id FROM messages)"),
	    0);
	close_store(s);
}

/* --- PostgreSQL: several processes on one database ------------------------------- */

/* Run the loop for about ms milliseconds. */
static void run_for(int ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, NULL, (uint64_t)ms, 0);
	uint64_t end = uv_now(&loop) + (uint64_t)ms;
	while (uv_now(&loop) < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

struct answer {
	int rc;
	int done;
};

static void got_recorded(void *arg, int rc, const struct store_recorded *r)
{
	struct answer *a = arg;
	(void)r;
	a->rc = rc;
	a->done = 1;
}

static void got_claim(void *arg, int rc)
{
	struct answer *a = arg;
	a->rc = rc;
	a->done = 1;
}

static void wait_answer(struct answer *a)
{
	while (!a->done)
		uv_run(&loop, UV_RUN_ONCE);
}

/* A write that fails on the server (a constraint it breaks) fails its
 * group: the commit says so, nothing of the group stays, and the store
 * works on. */
static void pg_failed_write_fails_group(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	struct ss_rec rec = {0};
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	PQclear(pg_exec("ALTER TABLE posts ADD CONSTRAINT short_text CHECK (length(text) < 1000)"));

	struct post p = mkpost("before", "tf", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	struct post q = mkpost("big", "tf", big);
	assert_int_equal(record(s, &q, &d, parts, 1, &rec), -1);
	assert_int_equal(commit(s), -1);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM messages"), 0);
	struct post r = mkpost("after", "tf", "hello again");
	assert_int_equal(record(s, &r, &d, parts, 1, &rec), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1);
	close_store(s);
}

/*
 * Two processes receive the same post (a platform redelivers it to both,
 * a web chat client sends it again to the other): it is decided once.
 * While the first has it in an open group, the second's record waits for
 * that group; then it drops its copy: "stored already" (1) when the thread
 * existed, "the thread changed" (2) when the first made it, after which
 * the second's lookup finds the post stored.
 */
static void pg_post_decided_once(void **state)
{
	(void)state;
	struct store *a = open_as("node-a", 1), *b = open_as("node-b", 1);
	struct decision d = answer();
	const char *parts[] = {"We open at nine."};
	struct ss_rec rec = {0};
	struct store_lookup la, lb;

	for (int existing = 0; existing < 2; existing++) {
		const char *id = existing ? "race-2" : "race-1";
		if (existing) {
			struct post first = mkpost("race-0", "race-t", "hi");
			assert_int_equal(record(a, &first, &d, parts, 1, &rec), 0);
			assert_int_equal(commit(a), 0);
		}
		struct post p = mkpost(id, "race-t", "when do you open?");
		assert_int_equal(ss_lookup(a, "webchat", id, "race-t", &la), 0);
		assert_int_equal(ss_lookup(b, "webchat", id, "race-t", &lb), 0);
		assert_false(la.duplicate);
		assert_false(lb.duplicate);
		struct store_record ra = {.post = &p,
		                          .decision = &d,
		                          .decision_json = "{}",
		                          .parts = parts,
		                          .n_parts = 1,
		                          .now = T0,
		                          .thread = &la.thread};
		struct store_record rb = ra;
		rb.thread = &lb.thread;
		assert_int_equal(ss_record(a, &ra, &rec), 0);
		struct answer second = {-9, 0};
		store_record_post(b, &rb, got_recorded, &second);
		run_for(200);
		assert_false(second.done); /* waits for the first's group */
		assert_int_equal(commit(a), 0);
		wait_answer(&second);
		assert_int_equal(second.rc, existing ? 1 : 2);
		assert_int_equal(commit(b), 0);
		assert_int_equal(ss_lookup(b, "webchat", id, "race-t", &lb), 0);
		assert_true(lb.duplicate);
		char q[128];
		snprintf(q, sizeof(q), "SELECT count(*) FROM posts WHERE post_id = '%s'", id);
		assert_int_equal(outside_count(q), 1);
	}
	assert_int_equal(outside_count("SELECT count(*) FROM threads"), 1);
	assert_int_equal(outside_count("SELECT count(*) FROM outbox"), 3);
	assert_int_equal(outside_count("SELECT count(*) FROM messages WHERE sender = 'customer'"), 3);
	close_store(a);
	close_store(b);
}

/*
 * Two posts of one thread looked up before either was recorded (the
 * lookups' answers came in together): the second's decision was taken on
 * a thread the first changed.  Its record says so (2), and the decision
 * taken again on the thread as it is now goes into the ticket the first
 * one opened.
 */
static void pg_thread_changed_under_decision(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision e = escalation();
	const char *ack[] = {"A person will reply."};
	struct ss_rec rec = {0};
	struct store_lookup l1, l2;

	struct post p1 = mkpost("c1", "tc", "my order never came");
	struct post p2 = mkpost("c2", "tc", "hello??");
	assert_int_equal(ss_lookup(s, "webchat", "c1", "tc", &l1), 0);
	assert_int_equal(ss_lookup(s, "webchat", "c2", "tc", &l2), 0);
	struct store_record r1 = {.post = &p1,
	                          .decision = &e,
	                          .decision_json = "{}",
	                          .parts = ack,
	                          .n_parts = 1,
	                          .now = T0,
	                          .thread = &l1.thread};
	assert_int_equal(ss_record(s, &r1, &rec), 0);
	int64_t ticket = rec.ticket_id;
	struct store_record r2 = r1;
	r2.post = &p2;
	r2.thread = &l2.thread;
	assert_int_equal(ss_record(s, &r2, &rec), 2);
	/* Again, as the daemon does. */
	assert_int_equal(ss_lookup(s, "webchat", "c2", "tc", &l2), 0);
	assert_int_equal(l2.thread.owner, THREAD_WAITING);
	assert_int_equal(l2.thread.ticket_id, ticket);
	struct decision app;
	memset(&app, 0, sizeof(app));
	app.action = ACTION_ACK;
	app.append_ticket = 1;
	r2.decision = &app;
	assert_int_equal(ss_record(s, &r2, &rec), 0);
	assert_int_equal(rec.ticket_id, ticket);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM tickets"), 1);
	assert_int_equal(outside_count("SELECT count(*) FROM ticket_events WHERE kind = 'message'"), 1);
	close_store(s);
}

/* store_outbox_claim on row id, as the outbox does once it holds the row. */
static int claim_id(struct store *s, int64_t id)
{
	struct store_out o = {.id = id, .kind = OUT_REPLY, .guard = -1};
	struct answer ans = {-9, 0};
	store_outbox_claim(s, &o, got_claim, &ans);
	wait_answer(&ans);
	return ans.rc;
}

/*
 * Each outbox row is sent by one process: the writer holds its lease, the
 * other neither loads nor claims it; a lock held in an open group is
 * skipped, not waited for; once the writer is gone and its lease expired,
 * the other loads it, claims it and sends it, once.
 */
static void pg_outbox_leases(void **state)
{
	(void)state;
	char err[256] = "";
	struct store_conf ca = {
	    .url = pg_url, .sync_full = 1, .loop = &loop, .node = "node-a", .lease_seconds = 1};
	struct store_conf cb = ca;
	cb.node = "node-b";
	struct store *a = store_open(&ca, err, sizeof(err)), *b = store_open(&cb, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	struct decision d = answer();
	const char *parts[] = {"We open at nine."};
	struct ss_rec rec = {0};
	int64_t ids[8];

	struct post p = mkpost("l1", "tl", "when do you open?");
	assert_int_equal(record(a, &p, &d, parts, 1, &rec), 0);
	int64_t row = rec.outbox[0];
	assert_int_equal(commit(a), 0);
	/* b: not its row, while a's lease lives. */
	assert_int_equal(ss_pending_ids(b, ids, 8), 0);
	assert_int_equal(claim_id(b, row), 2);
	assert_int_equal(commit(b), 0);
	assert_int_equal(claim_id(a, row), 0);
	/* a's claim is in a's open group: b skips the locked row at once. */
	assert_int_equal(ss_pending_ids(b, ids, 8), 0);
	assert_int_equal(commit(a), 0);
	assert_int_equal(commit(b), 0);
	struct store_out o;
	assert_int_equal(ss_pending_row(a, row, &o), 1);
	store_out_free(&o);
	assert_int_equal(commit(a), 0);
	/* a dies without an outcome; its lease runs out. */
	close_store(a);
	run_for(1300);
	assert_int_equal(ss_pending_ids(b, ids, 8), 1);
	assert_int_equal(ids[0], row);
	assert_int_equal(claim_id(b, row), 0);
	assert_int_equal(store_outbox_sent(b, row, T0 + 5), 0);
	assert_int_equal(commit(b), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM outbox WHERE state = 'sent' AND attempts = 1"),
	                 1);
	assert_int_equal(
	    outside_count("SELECT count(*) FROM messages WHERE sender = 'bot' AND state = 'sent'"), 1);
	/* A released row is anyone's at once. */
	struct store *c = open_as("node-c", 1);
	struct post p2 = mkpost("l2", "tl2", "when do you open?");
	assert_int_equal(record(b, &p2, &d, parts, 1, &rec), 0);
	assert_int_equal(commit(b), 0);
	assert_int_equal(claim_id(c, rec.outbox[0]), 2);
	assert_int_equal(commit(c), 0);
	assert_int_equal(store_outbox_release(b, rec.outbox[0]), 0);
	assert_int_equal(commit(b), 0);
	assert_int_equal(claim_id(c, rec.outbox[0]), 0);
	assert_int_equal(commit(c), 0);
	assert_int_equal(claim_id(b, rec.outbox[0]), 2);
	assert_int_equal(commit(b), 0);
	close_store(b);
	close_store(c);
}

struct lead {
	int now; /* what the last callback said */
	int calls;
};

static void on_lead(void *arg, int leader)
{
	struct lead *l = arg;
	l->now = leader;
	l->calls++;
}

/* Wait (running the loop) until l says `want`, at most ms. */
static int lead_wait(struct lead *l, int want, int ms)
{
	for (int waited = 0; l->now != want && waited < ms; waited += 100)
		run_for(100);
	return l->now == want;
}

/* One process alone leads at once; a name must be given. */
static void leads_alone(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct lead l = {0, 0};
	assert_null(store_leader_watch(s, "", on_lead, &l));
	struct store_leader *w = store_leader_watch(s, "mastodon", on_lead, &l);
	assert_non_null(w);
	if (be == PG)
		assert_true(lead_wait(&l, 1, 5000));
	assert_int_equal(l.now, 1);
	assert_int_equal(l.calls, 1);
	store_leader_cancel(w);
	close_store(s);
	assert_int_equal(l.calls, 1); /* cancelled: told nothing more */
}

/* Terminate, from outside, the server sessions frontdesk named `app`. */
static void terminate(const char *app)
{
	char q[256];
	snprintf(q, sizeof(q),
	         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s'", app);
	PQclear(pg_exec(q));
}

/*
 * A single-consumer connector runs in one process: the first to ask leads;
 * the other does not while the leader lives; when the leader's connection
 * goes (the process died, or its database session was killed), the other
 * leads within seconds, and the one that lost its connection is told.
 */
static void pg_leadership_fails_over(void **state)
{
	(void)state;
	struct store *a = open_as("node-a", 1), *b = open_as("node-b", 1);
	struct lead la = {0, 0}, lb = {0, 0};
	struct store_leader *wa = store_leader_watch(a, "mastodon", on_lead, &la);
	assert_non_null(wa);
	assert_true(lead_wait(&la, 1, 5000));
	struct store_leader *wb = store_leader_watch(b, "mastodon", on_lead, &lb);
	run_for(2500);
	assert_int_equal(lb.now, 0);
	assert_int_equal(lb.calls, 0);
	/* Another name is free. */
	struct lead lo = {0, 0};
	struct store_leader *wo = store_leader_watch(b, "telegram", on_lead, &lo);
	assert_true(lead_wait(&lo, 1, 5000));

	/* a's session is killed: a is told it no longer leads, and then one
	 * of them leads (b, or a again with its new session), never both. */
	terminate("frontdesk/watch/node-a");
	assert_true(lead_wait(&la, 0, 5000));
	for (int waited = 0; la.now + lb.now == 0 && waited < 10000; waited += 100)
		run_for(100);
	assert_int_equal(la.now + lb.now, 1);
	for (int i = 0; i < 15; i++) {
		run_for(100);
		assert_int_equal(la.now + lb.now, 1);
	}

	/* The leader goes away: the other leads. */
	struct store_leader **w_leader = la.now ? &wa : &wb, **w_other = la.now ? &wb : &wa;
	struct store *leader = la.now ? a : b, *other = la.now ? b : a;
	struct lead *l_other = la.now ? &lb : &la;
	store_leader_cancel(*w_leader);
	*w_leader = NULL;
	if (leader == b) {
		store_leader_cancel(wo);
		wo = NULL;
	}
	close_store(leader);
	assert_true(lead_wait(l_other, 1, 8000));
	store_leader_cancel(*w_other);
	store_leader_cancel(wo);
	close_store(other);
}

/* The database connection goes away under an open group: the group is
 * lost (its commit says -1), operations fail at once while it is down, and
 * the store works again once it is back. */
static void pg_connection_lost_and_back(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"hi"};
	struct ss_rec rec = {0};
	struct post p = mkpost("x1", "tx", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	terminate("frontdesk/store/node-a");
	struct store_lookup l;
	/* The next operation finds the connection gone (or fails while it
	 * is being made again). */
	int rc = 0;
	for (int i = 0; i < 50 && rc == 0; i++) {
		rc = ss_lookup(s, "webchat", "x2", "tx", &l);
		run_for(20);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(commit(s), -1);
	/* Back: the same post again, in a new group. */
	for (int i = 0; i < 100 && ss_lookup(s, "webchat", "x1", "tx", &l) < 0; i++)
		run_for(100);
	assert_false(l.duplicate);
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(outside_count("SELECT count(*) FROM posts"), 1);
	close_store(s);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static int on_sqlite(void **state)
{
	(void)state;
	be = SQLITE;
	return 0;
}

static int on_pg(void **state)
{
	(void)state;
	be = PG;
	return 0;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

struct visitor_ans {
	char *out;
	int answered;
};

static void on_visitor(void *arg, int rc, const struct store_visitor *v)
{
	struct visitor_ans *a = arg;
	a->answered = 1;
	if (rc != 0) {
		snprintf(a->out, 256, "rc=%d", rc);
		return;
	}
	snprintf(a->out, 256, "%s %s %s %d", v->token, v->thread_key, v->email ? v->email : "-",
	         v->ticket_open);
}

/* store_visitor_of_thread / store_visitor_find, answered into out. */
static void visitor_of(struct store *s, const char *thread_key, char *out)
{
	struct visitor_ans a = {out, 0};
	store_visitor_of_thread(s, thread_key, on_visitor, &a);
	ss_wait(&a.answered);
}

static void visitor_by_token(struct store *s, const char *token, time_t now, char *out)
{
	struct visitor_ans a = {out, 0};
	store_visitor_find(s, token, now, on_visitor, &a);
	ss_wait(&a.answered);
}

/*
 * The address a web chat visitor leaves shows on the ticket (the one read
 * model); the visitor of a thread is found with its token and address; a
 * reply mailed to the customer is noted on the ticket of that reply.
 */
static void visitor_email_on_ticket(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision e = escalation();
	const char *parts[] = {"A person will reply."};
	struct ss_rec rec = {0};
	struct store_ticket t;
	char got[256];

	struct post p = mkpost("m1", "v-abc", "I want to speak to a person");
	assert_int_equal(store_visitor_add(s, "tok-cccccccccccccccc", "v-abc", T0), 0);
	assert_int_equal(record(s, &p, &e, parts, 1, &rec), 0);
	int64_t ticket = rec.ticket_id;
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, ticket, &t), 1);
	assert_null(t.email);
	ss_ticket_free(&t);
	visitor_of(s, "v-abc", got);
	assert_string_equal(got, "tok-cccccccccccccccc v-abc - 1");

	assert_int_equal(
	    store_visitor_set_email(s, "tok-cccccccccccccccc", "v-abc", "kim@example.org", T0 + 5), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, ticket, &t), 1);
	assert_string_equal(t.email, "kim@example.org");
	ss_ticket_free(&t);
	visitor_by_token(s, "tok-cccccccccccccccc", T0 + 10, got);
	assert_string_equal(got, "tok-cccccccccccccccc v-abc kim@example.org 1");
	visitor_of(s, "v-nobody", got);
	assert_string_equal(got, "rc=1");

	const char *reply[] = {"It is ready."};
	int64_t ids[1];
	assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 20, ids), 0);
	struct store_out o;
	assert_int_equal(ss_pending_row(s, ids[0], &o), 1);
	assert_int_equal(store_reply_note(s, o.message_id, "emailed", "kim@example.org", T0 + 21), 0);
	assert_int_equal(store_reply_note(s, 999999, "emailed", "kim@example.org", T0 + 21), 0); /* none */
	store_out_free(&o);
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'emailed'"
	                          " AND detail = 'kim@example.org' AND message_id IS NOT NULL"),
	                 1);
	/* Resolved, the conversation is the bot's again: no open ticket. */
	assert_int_equal(ss_resolve(s, ticket, "sam", T0 + 30), 0);
	assert_int_equal(commit(s), 0);
	visitor_of(s, "v-abc", got);
	assert_string_equal(got, "tok-cccccccccccccccc v-abc kim@example.org 0");
	ss_rec_free(&rec);
	close_store(s);
}

struct page {
	int64_t ids[16];
	size_t n;
	int answered;
};

static void on_page(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct page *pg = arg;
	pg->answered = 1;
	assert_int_equal(rc, 0);
	assert_true(n <= 16);
	pg->n = n;
	for (size_t i = 0; i < n; i++)
		pg->ids[i] = v[i].id;
}

/* History a page at a time: the most recent `limit`, then those before the
 * oldest seen, in order, until none is left; together every message once. */
/* One page of the thread's history into pg. */
static void history_page(struct store *s, int64_t before, size_t limit, struct page *pg)
{
	pg->answered = 0;
	store_history(s, "webchat", "th-h", before, limit, on_page, pg);
	ss_wait(&pg->answered);
}

static void history_pages(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	struct ss_rec rec = {0};
	int64_t all[16];
	size_t nall = 0;

	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "h%d", i);
		struct post p = mkpost(id, "th-h", "hello");
		assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
		assert_int_equal(store_outbox_sent(s, rec.outbox[0], T0), 0);
	}
	struct post p = mkpost("h-last", "th-h", "one more"); /* its reply is not delivered yet */
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	assert_int_equal(commit(s), 0);

	struct page pg;
	int64_t before = 0;
	do {
		history_page(s, before, 3, &pg);
		assert_true(pg.n <= 3);
		for (size_t i = 1; i < pg.n; i++)
			assert_true(pg.ids[i] > pg.ids[i - 1]);
		if (before)
			assert_true(pg.n == 0 || pg.ids[pg.n - 1] < before);
		memmove(all + pg.n, all, nall * sizeof(*all));
		memcpy(all, pg.ids, pg.n * sizeof(*all));
		nall += pg.n;
		before = pg.n ? pg.ids[0] : 0;
	} while (pg.n == 3);
	assert_int_equal(nall, 9); /* 5 customer messages, 4 delivered replies */
	for (size_t i = 1; i < nall; i++)
		assert_true(all[i] > all[i - 1]);
	history_page(s, 0, 0, &pg);
	assert_int_equal(pg.n, nall);
	assert_memory_equal(pg.ids, all, nall * sizeof(*all));
	ss_rec_free(&rec);
	close_store(s);
}

static void on_pruned(void *arg, int rc, const struct store_pruned *p)
{
	struct store_pruned *out = arg;
	assert_int_equal(rc, 0);
	*out = *p;
}

/* Prune in batches of `batch` until nothing more; the totals, and the
 * number of calls in *calls. */
static struct store_pruned prune_all(struct store *s, const struct store_retention *r, time_t now,
                                     size_t batch, int *calls)
{
	struct store_pruned total = {0}, p;
	*calls = 0;
	do {
		memset(&p, 0, sizeof(p));
		store_prune(s, r, now, batch, on_pruned, &p);
		assert_int_equal(commit(s), 0);
		total.conversations += p.conversations;
		total.messages += p.messages;
		total.outbox += p.outbox;
		total.visitors += p.visitors;
		total.state += p.state;
		(*calls)++;
		assert_true(*calls < 100);
	} while (p.more);
	return total;
}

/*
 * Retention: a conversation that is done (no open ticket, no reply still
 * to deliver, nothing newer than the cutoff) goes with everything in it;
 * open, pending and recent ones stay.  Delivered outbox rows and visitors
 * who never wrote go after their own periods.  Batches stay small.
 */
static void retention_prunes_what_is_done(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision a = answer(), e = escalation();
	const char *parts[] = {"a reply"};
	struct ss_rec rec = {0};
	int64_t id = 0, ids[1];
	const time_t NOW = T0 + 40 * 86400;

	/* Done long ago: escalated, answered by an agent, resolved. */
	for (int i = 0; i < 3; i++) {
		char pid[24], key[24];
		snprintf(pid, sizeof(pid), "old%d", i);
		snprintf(key, sizeof(key), "th-old%d", i);
		struct post p = mkpost(pid, key, "my order never came");
		assert_int_equal(record(s, &p, &e, parts, 1, &rec), 0);
		assert_int_equal(store_outbox_sent(s, rec.outbox[0], T0), 0);
		int64_t ticket = rec.ticket_id;
		const char *reply[] = {"Sorry, on its way."};
		assert_int_equal(ss_agent_reply(s, ticket, "sam", "Sam", reply, 1, T0 + 1, ids), 0);
		assert_int_equal(store_outbox_sent(s, ids[0], T0 + 2), 0);
		assert_int_equal(ss_resolve(s, ticket, "sam", T0 + 3), 0);
	}
	assert_int_equal(store_visitor_add(s, "tok-old-aaaaaaaaaaaa", "th-old0", T0), 0);
	/* Recent; open; a reply never delivered. */
	struct post p = mkpost("new", "th-new", "when are you open?");
	assert_int_equal(record(s, &p, &a, parts, 1, &rec), 0);
	assert_int_equal(store_outbox_sent(s, rec.outbox[0], T0), 0);
	p = mkpost("open", "th-open", "my cake was wrong");
	assert_int_equal(record(s, &p, &e, parts, 1, &rec), 0);
	p = mkpost("pend", "th-pending", "hello");
	assert_int_equal(record(s, &p, &a, parts, 1, &rec), 0);
	/* Visitors who never wrote; notification rows. */
	assert_int_equal(
	    store_visitor_set_email(s, "tok-lone-old-aaaaaaa", "v-lone-old", "a@example.org", T0), 0);
	assert_int_equal(
	    store_visitor_set_email(s, "tok-lone-new-aaaaaaa", "v-lone-new", "b@example.org", T0), 0);
	assert_int_equal(store_state_put(s, "masto", "status", "111", "th-old0", "{}", T0), 0);
	assert_int_equal(store_state_put(s, "masto", "status", "222", "th-new", "{}", NOW), 0);
	assert_int_equal(ss_notify(s, "notify-1", "{}", "n-old-sent", 0, T0, &id), 0);
	assert_int_equal(store_outbox_sent(s, id, T0), 0);
	assert_int_equal(ss_notify(s, "notify-1", "{}", "n-old-pending", 0, T0, &id), 0);
	assert_int_equal(ss_notify(s, "notify-1", "{}", "n-new-sent", 0, T0, &id), 0);
	assert_int_equal(store_outbox_sent(s, id, T0), 0);
	assert_int_equal(commit(s), 0);

	/* Age what should be old (a backend test may write the clock). */
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "UPDATE threads SET updated = %lld WHERE thread_key <> 'th-new';"
	         "UPDATE messages SET ts = %lld WHERE thread_id IN (SELECT id FROM threads WHERE thread_key "
	         "<> 'th-new');"
	         "UPDATE outbox SET created = %lld WHERE idem_key <> 'n-new-sent' AND thread_key <> 'th-new';"
	         "UPDATE outbox SET created = %lld WHERE idem_key = 'n-new-sent';"
	         "UPDATE visitors SET last_seen = %lld WHERE thread_key <> 'v-lone-new';",
	         (long long)T0, (long long)T0, (long long)T0, (long long)NOW, (long long)T0);
	exec_sql(s, sql);
	snprintf(sql, sizeof(sql),
	         "UPDATE threads SET updated = %lld WHERE thread_key = 'th-new';"
	         "UPDATE visitors SET last_seen = %lld WHERE thread_key = 'v-lone-new';",
	         (long long)NOW, (long long)NOW);
	exec_sql(s, sql);
	snprintf(sql, sizeof(sql),
	         "UPDATE messages SET ts = %lld WHERE thread_id = (SELECT id FROM threads"
	         " WHERE thread_key = 'th-new')",
	         (long long)NOW);
	exec_sql(s, sql);
	long threads = count(s, "SELECT count(*) FROM threads");

	/* Keeping everything (0) deletes nothing. */
	struct store_retention keep = {0};
	int calls;
	struct store_pruned t = prune_all(s, &keep, NOW, 1, &calls);
	assert_int_equal(t.conversations + t.messages + t.outbox + t.visitors + t.state, 0);
	assert_int_equal(count(s, "SELECT count(*) FROM threads"), threads);

	struct store_retention r = {.conversations = 30 * 86400, .outbox = 30 * 86400, .visitors = 7 * 86400};
	t = prune_all(s, &r, NOW, 1, &calls);
	assert_int_equal(t.conversations, 3);
	assert_true(calls >= 3);             /* one conversation a call */
	assert_int_equal(t.messages, 3 * 3); /* customer, bot, agent */
	assert_int_equal(t.visitors, 2);     /* th-old0's, and the old one who never wrote */
	assert_int_equal(t.state, 1);
	assert_int_equal(count(s, "SELECT count(*) FROM connector_state WHERE key = '222'"), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM threads WHERE thread_key LIKE 'th-old%'"), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM threads"), threads - 3);
	assert_int_equal(count(s, "SELECT count(*) FROM tickets WHERE status = 'resolved'"), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM tickets"), 1); /* th-open's */
	assert_int_equal(
	    count(s, "SELECT count(*) FROM ticket_events WHERE ticket_id NOT IN (SELECT id FROM tickets)"),
	    0);
	assert_int_equal(count(s, "SELECT count(*) FROM posts WHERE post_id LIKE 'old%'"), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM outbox WHERE idem_key = 'n-old-sent'"), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM outbox WHERE idem_key = 'n-old-pending'"), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM outbox WHERE idem_key = 'n-new-sent'"), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM visitors WHERE thread_key = 'v-lone-new'"), 1);
	assert_int_equal(
	    count(s, "SELECT count(*) FROM threads WHERE thread_key IN ('th-new', 'th-open', 'th-pending')"),
	    3);
	assert_int_equal(count(s, "SELECT count(*) FROM messages m JOIN threads t ON t.id = m.thread_id"
	                          " WHERE t.thread_key = 'th-pending' AND m.state = 'pending'"),
	                 1);
	if (be == SQLITE)
		assert_int_equal(count(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	/* Nothing left to do: a call deletes nothing. */
	t = prune_all(s, &r, NOW, 100, &calls);
	assert_int_equal(calls, 1);
	assert_int_equal(t.conversations + t.messages + t.outbox + t.visitors, 0);
	ss_rec_free(&rec);
	close_store(s);
}

/* Run the loop until the store's health is `want` or ~5 s passed. */
static enum store_health_state wait_state(uv_loop_t *hl, struct store *s, enum store_health_state want)
{
	uv_timer_t tick;
	struct store_health h;
	uv_timer_init(hl, &tick);
	for (int i = 0; i < 100; i++) {
		store_health(s, &h);
		if (h.state == want)
			break;
		uv_timer_start(&tick, tick_cb, 50, 0);
		uv_run(hl, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(hl, UV_RUN_NOWAIT);
	store_health(s, &h);
	return h.state;
}

/*
 * Health: a write that fails for want of space makes the store FULL, which
 * refuses new work and counts the error; the maintenance timer's probe
 * makes it OK again by itself once a write goes through.  A store whose
 * file system has less than min_free free is LOW_SPACE from the start.
 * The daemon refuses a store it cannot write (a read-only file).
 */
static void health_faults_and_recovery(void **state)
{
	(void)state;
	struct decision d = answer();
	const char *parts[] = {"a reply"};
	struct ss_rec rec = {0};
	struct store_health h;
	uv_loop_t hl;
	char err[256] = "";

	assert_int_equal(uv_loop_init(&hl), 0);
	/* synchronous normal: a commit reports at once, before the loop runs
	 * the maintenance timer that would probe the store again. */
	struct store_conf conf = {.path = path, .sync_full = 0, .loop = &hl};
	struct store *s = store_open(&conf, err, sizeof(err));
	assert_non_null(s);
	store_health(s, &h);
	assert_int_equal(h.state, STORE_OK);
	assert_true(store_takes_work(s));
	assert_int_equal(h.errors, 0);
	assert_true(h.free_bytes > 0);

	struct post p = mkpost("before", "th", "hello");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	assert_int_equal(commit_on_loop(&hl, s), 0);
	fill_store(s, "th", 1, &rec);
	assert_int_equal(commit(s), -1);
	store_health(s, &h);
	assert_int_equal(h.state, STORE_FULL);
	assert_string_equal(store_health_name(h.state), "full");
	assert_false(store_takes_work(s));
	assert_true(h.errors > 0);
	assert_true(strlen(h.detail) > 0);

	/* Room again: the store finds out by itself, without new work (its
	 * probe writes one page it has already; the end-to-end test fills a
	 * real file system). */
	uncap(s);
	assert_int_equal(wait_state(&hl, s, STORE_OK), STORE_OK);
	assert_true(store_takes_work(s));
	struct post r = mkpost("after", "th", "hello again");
	assert_int_equal(record(s, &r, &d, parts, 1, &rec), 0);
	assert_int_equal(commit_on_loop(&hl, s), 0);
	store_stop(s);
	uv_run(&hl, UV_RUN_DEFAULT);
	store_close(s);

	/* Less free space than min_free: no new work from the start. */
	struct store_conf tight = {.path = path, .sync_full = 1, .loop = &hl, .min_free = 1LL << 50};
	s = store_open(&tight, err, sizeof(err));
	assert_non_null(s);
	store_health(s, &h);
	assert_int_equal(h.state, STORE_LOW_SPACE);
	assert_false(store_takes_work(s));
	assert_non_null(strstr(h.detail, "min_free"));
	store_stop(s);
	uv_run(&hl, UV_RUN_DEFAULT);
	store_close(s);

	/* A file the daemon may not write is refused with the reason (root
	 * writes any file: the end-to-end test uses a read-only mount). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(path, 0400), 0);
		assert_null(store_open(&conf, err, sizeof(err)));
		assert_non_null(strstr(err, "read-only"));
		chmod(path, 0600);
	}
	ss_rec_free(&rec);
	assert_int_equal(uv_loop_close(&hl), 0);
}

/*
 * The WAL is rewritten from its beginning while posts keep coming: SQLite
 * restarts it only when a write starts with every frame checkpointed, which
 * a checkpointer beside a steady stream of commits never leaves by itself.
 * 4,000 groups of one post each, paced as a busy daemon's (a group every
 * 0.25 ms, the loop run between them): every page each group touches is a
 * WAL frame (about 10 per post, 160 MB in all) and the file must stay a
 * small part of that.  The WAL grew by every frame before the writer
 * finished the checkpointer's tail.
 */
static void wal_restarts_under_steady_commits(void **state)
{
	(void)state;
	struct decision d = answer();
	const char *parts[] = {"We open at nine."};
	struct ss_rec rec = {0};
	uv_loop_t wl;
	char err[256] = "", wal[160], id[32], thread[32];
	struct stat st;
	off_t biggest = 0;

	assert_int_equal(uv_loop_init(&wl), 0);
	struct store_conf conf = {.path = path, .sync_full = 0, .loop = &wl};
	struct store *s = store_open(&conf, err, sizeof(err));
	assert_non_null(s);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	for (int i = 0; i < 4000; i++) {
		snprintf(id, sizeof(id), "steady-%d", i);
		snprintf(thread, sizeof(thread), "visitor-%d", i % 100);
		struct post p = mkpost(id, thread, "when do you open tomorrow?");
		assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
		assert_int_equal(commit_on_loop(&wl, s), 0);
		uv_run(&wl, UV_RUN_NOWAIT);
		usleep(250);
		if (stat(wal, &st) == 0 && st.st_size > biggest)
			biggest = st.st_size;
	}
	store_stop(s);
	uv_run(&wl, UV_RUN_DEFAULT);
	store_close(s);
	ss_rec_free(&rec);
	assert_int_equal(uv_loop_close(&wl), 0);
	/* A checkpoint pass (4 MB) and what came in while it ran, at most
	 * the 16 MB a reset WAL keeps, with room for a slow disk. */
	if (biggest > 48LL << 20)
		fail_msg("the WAL grew to %lld MB over 4,000 posts", (long long)(biggest >> 20));
	print_message("the WAL peaked at %lld KB over 4,000 posts\n", (long long)(biggest >> 10));
}

/*
 * The search index takes a group's messages at its commit (schema v10), not
 * one trigger per message: a message is searchable once its group is
 * committed, one recorded and taken back in the same group (a post stored
 * twice) never reaches the index, and the index stays exactly the messages
 * (FTS5's integrity check compares it with the table).
 */
static void search_index_follows_groups(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision d = escalation();
	const char *parts[] = {"Someone will get back to you."};
	struct ss_rec rec = {0};
	int64_t ids[4];

	struct post p = mkpost("fts1", "th1", "my sourdough starter arrived mouldy");
	assert_int_equal(record(s, &p, &d, parts, 1, &rec), 0);
	struct store_search q = {.status = TICKETS_ALL, .text = "sourdough"};
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_search(s, &q, ids, 4), 1);

	/* A second copy of a post within one group: its message is written,
	 * then taken back before the index saw it (in a thread that exists,
	 * as a platform redelivering a post finds it). */
	struct post p2 = mkpost("fts2", "th1", "the baguette was stale");
	struct store_lookup l;
	assert_int_equal(ss_lookup(s, p2.platform, p2.post_id, p2.thread_key, &l), 0);
	struct store_record r = {.post = &p2,
	                         .decision = &d,
	                         .decision_json = "{}",
	                         .parts = parts,
	                         .n_parts = 1,
	                         .now = T0,
	                         .thread = &l.thread};
	assert_int_equal(ss_record(s, &r, &rec), 0);
	assert_int_equal(ss_record(s, &r, &rec), 1);
	assert_int_equal(commit(s), 0);
	q.text = "baguette";
	assert_int_equal(ss_search(s, &q, ids, 4), 1);
	assert_int_equal(count(s, "SELECT count(*) FROM messages_fts_docsize"),
	                 count(s, "SELECT count(*) FROM messages"));
	exec_sql(s, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)");

	/* A message taken out (retention): out of the index too. */
	exec_sql(s, "DELETE FROM outbox; DELETE FROM ticket_events; DELETE FROM tickets; DELETE FROM posts;"
	            " DELETE FROM messages WHERE text LIKE '%baguette%'");
	assert_int_equal(ss_search(s, &q, ids, 4), 0);
	exec_sql(s, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)");
	ss_rec_free(&rec);
	close_store(s);
}

/* A post by a named author in its own thread, escalated: the new ticket's id. */
static int64_t escalate_as(struct store *s, const char *id, const char *thread, const char *author,
                           const char *name, const char *text, time_t at)
{
	struct decision e = escalation();
	const char *ack[] = {"A person will reply soon."};
	struct ss_rec rec = {0};
	struct post p = mkpost(id, thread, text);
	p.author_id = author;
	p.author_handle = author;
	p.author_name = name;
	p.created = at;
	e.due = at + 3600;
	assert_int_equal(record(s, &p, &e, ack, 1, &rec), 0);
	assert_true(rec.ticket_id > 0);
	/* the record helper stamps T0; keep each ticket's own time */
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE tickets SET created = %lld WHERE id = %lld", (long long)at,
	         (long long)rec.ticket_id);
	assert_int_equal(commit(s), 0);
	exec_sql(s, sql);
	return rec.ticket_id;
}

static void team_side_of_a_ticket(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct store_ticket t;
	struct store_ticket_counts c;
	char lines[8][96];

	int64_t id = escalate_as(s, "n1", "tn", "ann", "Ann", "my cake is late", T0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	int64_t ev0 = t.last_event_id;
	assert_true(ev0 > 0);
	assert_int_equal(t.n_labels, 0);
	ss_ticket_free(&t);

	/* A private note: an event of the ticket, never a message of the
	 * conversation the customer reads. */
	assert_int_equal(ss_note(s, id, "sam", "called her, no answer", T0 + 10), 0);
	assert_int_equal(ss_note(s, 999, "sam", "nobody", T0 + 10), 1);
	assert_int_equal(ss_note(s, id, "sam", "", T0 + 10), -1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_history(s, "webchat", "tn", lines, 8), 1);
	assert_int_equal(ss_ticket_messages(s, id, lines, 8), 2); /* and the acknowledgement being sent */
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'note' AND actor = 'sam'"
	                          " AND detail = 'called her, no answer'"),
	                 1);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_true(t.last_event_id > ev0);
	ss_ticket_free(&t);

	/* Labels: on, again (nothing to do), off; sorted in the read model. */
	assert_int_equal(ss_label(s, id, "vip", 1, T0 + 20), 0);
	assert_int_equal(ss_label(s, id, "billing", 1, T0 + 20), 0);
	assert_int_equal(ss_label(s, id, "vip", 1, T0 + 20), 1);
	assert_int_equal(ss_label(s, id, "late", 0, T0 + 20), 1);
	assert_int_equal(ss_label(s, 999, "vip", 1, T0 + 20), 1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_int_equal(t.n_labels, 2);
	assert_string_equal(t.labels[0], "billing");
	assert_string_equal(t.labels[1], "vip");
	struct store_ticket copy;
	store_ticket_copy(&copy, &t);
	ss_ticket_free(&t);
	assert_string_equal(copy.labels[1], "vip");
	store_ticket_free(&copy);
	/* Removing a label from the team's list takes it off every ticket. */
	assert_int_equal(store_team_put(s, "label", "billing", "#0f766e", T0), 0);
	assert_int_equal(store_team_delete(s, "label", "billing"), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_int_equal(t.n_labels, 1);
	assert_string_equal(t.labels[0], "vip");
	ss_ticket_free(&t);

	/* Priority: a new due time; the marks recorded before stop counting. */
	assert_int_equal(ss_mark(s, id, "missed", T0 + 3700), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_int_equal(t.missed, 1);
	ss_ticket_free(&t);
	assert_int_equal(ss_priority(s, id, "low", T0 + 86400, T0 + 3800), 0);
	assert_int_equal(ss_priority(s, id, "low", T0 + 86400, T0 + 3800), 1);
	assert_int_equal(ss_priority(s, id, "whenever", T0 + 86400, T0 + 3800), -1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_string_equal(t.priority, "low");
	assert_int_equal(t.due, T0 + 86400);
	assert_int_equal(t.missed, 0);
	ss_ticket_free(&t);
	assert_int_equal(ss_mark(s, id, "missed", T0 + 90000), 0); /* can be missed again */
	assert_int_equal(commit(s), 0);

	/* Snooze: out of the counts until the time, or until the customer writes. */
	int64_t other = escalate_as(s, "n2", "to", "bob", "Bob", "where is my bread", T0);
	assert_int_equal(ss_claim(s, other, "sam", T0 + 5), 0);
	assert_int_equal(ss_snooze(s, id, T0 + 7200, T0 + 30), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket_counts(s, "SAM", T0 + 60, &c), 0);
	assert_int_equal(c.open, 1);
	assert_int_equal(c.waiting, 0);
	assert_int_equal(c.mine, 1);
	assert_int_equal(c.snoozed, 1);
	assert_int_equal(ss_ticket_counts(s, "kim", T0 + 7300, &c), 0);
	assert_int_equal(c.open, 2);
	assert_int_equal(c.mine, 0);
	assert_int_equal(c.snoozed, 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_int_equal(t.snoozed_until, T0 + 7200);
	ss_ticket_free(&t);
	struct decision app;
	memset(&app, 0, sizeof(app));
	app.action = ACTION_ACK;
	app.append_ticket = 1;
	struct ss_rec rec = {0};
	struct post again = mkpost("n3", "tn", "hello??");
	again.author_id = "ann";
	assert_int_equal(record(s, &again, &app, NULL, 0, &rec), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_int_equal(t.snoozed_until, 0);
	int64_t latest = t.latest.id;
	ss_ticket_free(&t);

	/* Read marks, per agent, only forward. */
	assert_int_equal(store_ticket_seen(s, id, "sam", latest), 0);
	assert_int_equal(store_ticket_seen(s, id, "sam", latest - 1), 0);
	assert_int_equal(store_ticket_seen(s, 999, "sam", 1), 0); /* gone: nothing to mark */
	assert_int_equal(commit(s), 0);
	struct store_ticket_query qv = {.id = id, .viewer = "Sam"};
	int64_t ids[4];
	assert_int_equal(ss_ticket_ids(s, &qv, ids, 4), 1);
	struct store_ticket_query qa = {.filter = TICKETS_OPEN, .viewer = "sam"};
	assert_int_equal(ss_ticket_ids(s, &qa, ids, 4), 2);

	/* Reopen: only a resolved ticket, only the thread's newest. */
	assert_int_equal(ss_reopen(s, id, T0 + 99999, T0 + 100), 1);
	assert_int_equal(ss_snooze(s, id, T0 + 7200, T0 + 100), 0);
	assert_int_equal(ss_resolve(s, id, "sam", T0 + 200), 0);
	assert_int_equal(ss_snooze(s, id, T0 + 9000, T0 + 210), 1);
	assert_int_equal(commit(s), 0);
	struct store_thread th;
	assert_int_equal(ss_thread(s, "webchat", "tn", &th), 0);
	assert_int_equal(th.owner, THREAD_BOT);
	assert_int_equal(ss_reopen(s, id, T0 + 20000, T0 + 300), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, id, &t), 1);
	assert_string_equal(t.status, "waiting");
	assert_null(t.assignee);
	assert_int_equal(t.resolved, 0);
	assert_int_equal(t.due, T0 + 20000);
	assert_int_equal(t.reopened, T0 + 300);
	assert_int_equal(t.snoozed_until, 0);
	ss_ticket_free(&t);
	assert_int_equal(ss_thread(s, "webchat", "tn", &th), 0);
	assert_int_equal(th.owner, THREAD_WAITING);
	assert_int_equal(th.ticket_id, id);
	/* Resolved again, and the customer opens a newer ticket: the old one
	 * can no longer be reopened. */
	assert_int_equal(ss_resolve(s, id, "sam", T0 + 400), 0);
	assert_int_equal(commit(s), 0);
	struct post p5 = mkpost("n5", "tn", "one more thing");
	struct decision e = escalation();
	assert_int_equal(ss_thread(s, "webchat", "tn", &th), 0);
	assert_int_equal(record(s, &p5, &e, NULL, 0, &rec), 0);
	int64_t newer = rec.ticket_id;
	assert_true(newer > id);
	assert_int_equal(ss_resolve(s, newer, "sam", T0 + 500), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_reopen(s, id, T0 + 20000, T0 + 600), 1);
	assert_int_equal(ss_reopen(s, newer, T0 + 20000, T0 + 600), 0);
	assert_int_equal(commit(s), 0);
	close_store(s);
}

static void contacts_from_posts_and_identity(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct store_contact c;
	struct store_ticket t;
	int64_t ids[8];

	/* Every new thread files its author under a contact. */
	int64_t t1 = escalate_as(s, "c1", "v-one", "v-one", NULL, "is my order ready", T0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, t1, &t), 1);
	int64_t c1 = t.contact_id;
	assert_true(c1 > 0);
	assert_null(t.contact_name);
	ss_ticket_free(&t);
	assert_int_equal(ss_contact(s, c1, &c), 0);
	assert_string_equal(c.platform, "webchat");
	assert_string_equal(c.handle, "v-one");
	assert_null(c.name);
	assert_int_equal(c.conversations, 1);
	assert_int_equal(c.first_seen, T0);
	ss_contact_free(&c);
	assert_int_equal(ss_contact(s, 999, &c), 1);

	/* A name typed in a form, then an e-mail address. */
	struct store_contact_info ci = {
	    .platform = "webchat", .author_id = "v-one", .name = "Ann Smith", .name_source = NAME_VISITOR};
	assert_int_equal(store_contact_update(s, &ci, T0 + 5), 0);
	struct store_contact_info mail = {
	    .platform = "webchat", .author_id = "v-one", .email = "ann@example.com"};
	assert_int_equal(store_contact_update(s, &mail, T0 + 6), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_contact(s, c1, &c), 0);
	assert_string_equal(c.name, "Ann Smith");
	assert_string_equal(c.email, "ann@example.com");
	assert_int_equal(c.name_source, NAME_VISITOR);
	ss_contact_free(&c);
	assert_int_equal(ss_ticket(s, t1, &t), 1);
	assert_string_equal(t.contact_name, "Ann Smith");
	ss_ticket_free(&t);

	/* The same customer, signed in on the shop's site from another
	 * device, then on the first one: one contact, with both threads. */
	int64_t t2 = escalate_as(s, "c2", "v-two", "v-two", NULL, "hello again", T0 + 100);
	struct store_contact_info id2 = {.platform = "webchat",
	                                 .author_id = "v-two",
	                                 .name = "Ann S.",
	                                 .email = "ann@example.com",
	                                 .external_id = "cust-42"};
	assert_int_equal(store_contact_update(s, &id2, T0 + 101), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, t2, &t), 1);
	int64_t c2 = t.contact_id;
	ss_ticket_free(&t);
	assert_true(c2 != c1);
	struct store_contact_info id1 = {
	    .platform = "webchat", .author_id = "v-one", .external_id = "cust-42"};
	assert_int_equal(store_contact_update(s, &id1, T0 + 102), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_contact(s, c1, &c), 1); /* merged away */
	assert_int_equal(ss_contact(s, c2, &c), 0);
	assert_string_equal(c.external_id, "cust-42");
	assert_string_equal(c.name, "Ann S.");
	assert_int_equal(c.name_source, NAME_VERIFIED);
	assert_int_equal(c.conversations, 2);
	ss_contact_free(&c);
	assert_int_equal(ss_contact_ticket_ids(s, c2, ids, 8), 2);
	assert_int_equal(ids[0], t2);
	assert_int_equal(ids[1], t1);
	/* A conversation of one signed-in customer is not handed to another. */
	struct store_contact_info other = {
	    .platform = "webchat", .author_id = "v-one", .external_id = "cust-7"};
	/* (PostgreSQL answers later: the write is queued, its refusal logged.) */
	assert_int_equal(store_contact_update(s, &other, T0 + 103), be == PG ? 0 : 1);
	/* A weaker source does not overwrite the verified name; an agent's does,
	 * and nothing overwrites the agent's afterwards. */
	struct store_contact_info typed = {
	    .platform = "webchat", .author_id = "v-one", .name = "Mallory", .name_source = NAME_VISITOR};
	assert_int_equal(store_contact_update(s, &typed, T0 + 104), 0);
	assert_int_equal(ss_contact_rename(s, c2, "Ann Smith (bakery club)"), 0);
	assert_int_equal(ss_contact_rename(s, 999, "Nobody"), 1);
	struct store_contact_info verified = {
	    .platform = "webchat", .author_id = "v-two", .name = "A. Smith", .external_id = "cust-42"};
	assert_int_equal(store_contact_update(s, &verified, T0 + 105), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_contact(s, c2, &c), 0);
	assert_string_equal(c.name, "Ann Smith (bakery club)");
	assert_int_equal(c.name_source, NAME_AGENT);
	ss_contact_free(&c);

	/* Someone else on another channel with the same (unverified) address:
	 * their conversation is listed too. */
	int64_t t3 = escalate_as(s, "c3", "m-thread", "acct-9", "Ann on Mastodon", "toot", T0 + 200);
	struct store_contact_info m = {
	    .platform = "webchat", .author_id = "acct-9", .email = "ANN@example.com"};
	assert_int_equal(store_contact_update(s, &m, T0 + 201), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_contact_ticket_ids(s, c2, ids, 8), 3);
	assert_int_equal(ids[0], t3);

	/* The address a web chat visitor leaves is their contact's, whether
	 * they wrote before or after leaving it. */
	assert_int_equal(store_visitor_set_email(s, "tok-three", "v-three", "late@example.com", T0 + 300), 0);
	int64_t t4 = escalate_as(s, "c4", "v-three", "v-three", NULL, "is anyone there", T0 + 301);
	assert_int_equal(store_visitor_set_email(s, "tok-two", "v-two", "ann.new@example.com", T0 + 302), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, t4, &t), 1);
	assert_int_equal(ss_contact(s, t.contact_id, &c), 0);
	assert_string_equal(c.email, "late@example.com");
	ss_contact_free(&c);
	ss_ticket_free(&t);
	assert_int_equal(ss_contact(s, c2, &c), 0);
	assert_string_equal(c.email, "ann.new@example.com");
	ss_contact_free(&c);

	/* Limits. */
	char longname[STORE_MAX_CONTACT + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct store_contact_info big = {.platform = "webchat", .author_id = "v-one", .name = longname};
	assert_int_equal(store_contact_update(s, &big, T0), -1);
	struct store_contact_info nokey = {.platform = "webchat", .name = "x"};
	assert_int_equal(store_contact_update(s, &nokey, T0), -1);
	close_store(s);
}

static void search_finds_tickets_and_contacts(void **state)
{
	(void)state;
	struct store *s = open_store();
	int64_t ids[16];

	int64_t a = escalate_as(s, "s1", "ta", "ta", NULL, "I want a refund for the crème brûlée", T0);
	int64_t b = escalate_as(s, "s2", "tb", "tb", NULL, "Where is my wedding cake order?", T0 + 86400);
	int64_t c =
	    escalate_as(s, "s3", "tc", "tc", "Zoë Quinn", "do you deliver to the park", T0 + 2 * 86400);
	int64_t d =
	    escalate_as(s, "s4", "td", "td", NULL, "refund please, the bread was stale", T0 + 3 * 86400);
	assert_int_equal(ss_note(s, b, "sam", "customer prefers the lemon sponge", T0 + 86500), 0);
	assert_int_equal(ss_claim(s, d, "kim", T0 + 3 * 86400 + 10), 0);
	assert_int_equal(ss_label(s, a, "refunds", 1, T0), 0);
	assert_int_equal(ss_priority(s, a, "urgent", T0 + 600, T0 + 1), 0);
	assert_int_equal(ss_resolve(s, a, "sam", T0 + 50), 0);
	assert_int_equal(commit(s), 0);

	struct store_search q = {.status = TICKETS_ALL};
	/* Words, prefixes, accents and case folded; newest first. */
	q.text = "REFUN";
	assert_int_equal(ss_search(s, &q, ids, 16), 2);
	assert_int_equal(ids[0], d);
	assert_int_equal(ids[1], a);
	q.text = "creme brulee";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], a);
	q.text = "refund stale";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], d);
	q.text = "refund wedding"; /* every word, in one message */
	assert_int_equal(ss_search(s, &q, ids, 16), 0);
	/* Private notes and the customer's contact are searched too. */
	q.text = "lemon";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], b);
	q.text = "zoe";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], c);
	/* What a person types is never query syntax. */
	static const char *const odd[] = {"\"",    "refund\" OR \"cake", "AND (",  "*", "NEAR(refund)", "-",
	                                  "cake)", "col:refund",         "^refund"};
	for (size_t i = 0; i < ARRAY_LEN(odd); i++) {
		q.text = odd[i];
		assert_true(ss_search(s, &q, ids, 16) >= 0);
	}
	q.text = "cake)";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);

	/* Filters, with words (both ways of searching) and alone. */
	q.text = "refund";
	q.status = TICKETS_OPEN;
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], d);
	q.status = TICKETS_RESOLVED;
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], a);
	q.status = TICKETS_ALL;
	q.priority = "urgent";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], a);
	q.priority = NULL;
	q.label = "refunds";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	q.label = NULL;
	q.assignee = "KIM";
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], d);
	q.assignee = ""; /* nobody's: a was resolved without being claimed */
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], a);
	q.assignee = NULL;
	q.platform = "mastodon";
	assert_int_equal(ss_search(s, &q, ids, 16), 0);
	q.platform = "webchat";
	q.since = T0 + 86400;
	q.until = T0 + 4 * 86400;
	assert_int_equal(ss_search(s, &q, ids, 16), 1);
	assert_int_equal(ids[0], d);
	q.text = NULL; /* filters alone */
	assert_int_equal(ss_search(s, &q, ids, 16), 3);
	assert_int_equal(ids[0], d);
	assert_int_equal(ids[2], b);
	q.platform = NULL;
	q.since = q.until = 0;
	q.assignee = "";
	assert_int_equal(ss_search(s, &q, ids, 16), 3);
	q.assignee = NULL;
	q.limit = 2;
	assert_int_equal(ss_search(s, &q, ids, 16), 2);
	assert_int_equal(ids[0], d);
	assert_int_equal(ids[1], c);

	/* A message written after a ticket's resolution is not that ticket's. */
	struct decision ans = answer();
	struct ss_rec rec = {0};
	struct post later = mkpost("s5", "ta", "thanks, the pistachio macarons were lovely");
	assert_int_equal(record(s, &later, &ans, NULL, 0, &rec), 0);
	assert_int_equal(commit(s), 0);
	exec_sql(s, "UPDATE messages SET ts = ts + 100 WHERE text LIKE 'thanks%'");
	struct store_search p = {.status = TICKETS_ALL, .text = "pistachio"};
	assert_int_equal(ss_search(s, &p, ids, 16), 0);

	/* Contacts by name, e-mail address or handle. */
	struct store_contact_info ci = {.platform = "webchat",
	                                .author_id = "tb",
	                                .name = "Björn Borg",
	                                .email = "bjorn@tennis.example",
	                                .name_source = NAME_VISITOR};
	assert_int_equal(store_contact_update(s, &ci, T0), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_contact_search(s, "bjorn", ids, 16), 1);
	assert_int_equal(ss_contact_search(s, "tennis", ids, 16), 1);
	assert_int_equal(ss_contact_search(s, "zo", ids, 16), 1);
	assert_int_equal(ss_contact_search(s, "nobody", ids, 16), 0);
	assert_int_equal(ss_contact_search(s, "   ", ids, 16), 0);
	p.text = "borg";
	assert_int_equal(ss_search(s, &p, ids, 16), 1);
	assert_int_equal(ids[0], b);
	close_store(s);
}

static void team_settings(void **state)
{
	(void)state;
	struct store *s = open_store();
	char out[8][128];
	assert_int_equal(store_team_put(s, "canned", "Refund policy", "We refund within 14 days.", T0), 0);
	assert_int_equal(store_team_put(s, "agent", "kim", "{\"name\":\"Kim\",\"role\":\"agent\"}", T0), 0);
	assert_int_equal(
	    store_team_put(s, "agent", "KIM", "{\"name\":\"Kim Lee\",\"role\":\"admin\"}", T0 + 1), 0);
	assert_int_equal(store_team_put(s, "agent", "", "x", T0), -1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_team(s, "agent", out, 8), 1); /* logins ignore case */
	assert_string_equal(out[0], "KIM={\"name\":\"Kim Lee\",\"role\":\"admin\"}");
	assert_int_equal(ss_team(s, "canned", out, 8), 1);
	assert_int_equal(ss_team(s, "label", out, 8), 0);
	assert_int_equal(store_team_delete(s, "agent", "kim"), 0);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_team(s, "agent", out, 8), 0);
	close_store(s);
}

/* What the team taught, the questions nobody answered, satisfaction and
 * the figures of the insights page, as the store keeps and counts them. */
struct taught_got {
	int answered, rc;
	size_t n;
	int64_t id[8];
	char text[8][64];
};

static void got_taught(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct taught_got *g = arg;
	g->answered = 1;
	g->rc = rc;
	g->n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		g->id[i] = v[i].id;
		snprintf(g->text[i], sizeof(g->text[i]), "%s%s", v[i].negative ? "not:" : "", v[i].text);
	}
}

static int teach_one(struct store *s, const char *rule, const char *text, int negative, int64_t ticket,
                     int64_t *id)
{
	struct store_taught t = {
	    .rule = rule, .text = text, .negative = negative, .by = "sam", .ticket_id = ticket};
	struct taught_got g = {0};
	store_teach(s, &t, T0, got_taught, &g);
	ss_wait(&g.answered);
	if (id)
		*id = g.n ? g.id[0] : 0;
	return g.rc;
}

static void got_questions(void *arg, int rc, const struct store_question *v, size_t n)
{
	struct taught_got *g = arg;
	g->answered = 1;
	g->rc = rc;
	g->n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		g->id[i] = v[i].ticket_id;
		snprintf(g->text[i], sizeof(g->text[i]), "%s", v[i].text);
	}
}

static void got_done(void *arg, int rc)
{
	struct taught_got *g = arg;
	g->answered = 1;
	g->rc = rc;
}

struct report_got {
	int answered, rc;
	size_t nposts, ntickets, nhours;
	struct store_report_posts posts[4];
	int rating[4];
};

static void got_report(void *arg, int rc, const struct store_report *r)
{
	struct report_got *g = arg;
	g->answered = 1;
	g->rc = rc;
	g->nposts = r->nposts;
	g->ntickets = r->ntickets;
	g->nhours = r->nhours;
	for (size_t i = 0; i < r->nposts && i < 4; i++) {
		g->posts[i] = r->posts[i];
		g->posts[i].channel = NULL; /* borrowed */
	}
	for (size_t i = 0; i < r->ntickets && i < 4; i++)
		g->rating[i] = r->tickets[i].rating;
}

static void taught_ratings_and_report(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct decision e = escalation(), a = answer();
	const char *ack[] = {"A person will reply soon."};
	struct ss_rec rec = {0};
	struct store_lookup l;

	/* Two questions no rule answered (the decision record says why), one
	 * answered by a rule. */
	const char *texts[] = {"do you take apple pay", "is there parking"};
	int64_t ticket[2];
	for (int i = 0; i < 2; i++) {
		char id[16], thread[16];
		snprintf(id, sizeof(id), "u%d", i);
		snprintf(thread, sizeof(thread), "tu%d", i);
		struct post p = mkpost(id, thread, texts[i]);
		p.created = T0 + i;
		memset(&l, 0, sizeof(l));
		assert_int_equal(ss_lookup(s, "webchat", id, thread, &l), 0);
		struct store_record r = {.post = &p,
		                         .decision = &e,
		                         .decision_json =
		                             "{\"action\":\"escalate\",\"reason\":\"unmatched\"}",
		                         .parts = ack,
		                         .n_parts = 1,
		                         .now = T0 + i,
		                         .thread = &l.thread};
		ss_rec_free(&rec);
		assert_int_equal(ss_record(s, &r, &rec), 0);
		ticket[i] = rec.ticket_id;
	}
	struct post q = mkpost("u9", "tu9", "when do you open");
	assert_int_equal(record(s, &q, &a, ack, 1, &rec), 0);
	assert_int_equal(commit(s), 0);
	ss_rec_free(&rec);

	struct taught_got g = {0};
	store_unanswered(s, T0 - 10, 10, got_questions, &g);
	ss_wait(&g.answered);
	assert_int_equal(g.rc, 0);
	assert_int_equal(g.n, 2); /* newest first */
	assert_string_equal(g.text[0], "is there parking");
	assert_int_equal(g.id[0], ticket[1]);

	/* Taught: new, the same again (answered as stored), as a not_example. */
	int64_t id1, again, id2;
	assert_int_equal(teach_one(s, "payment", "do you take apple pay", 0, ticket[0], &id1), 0);
	assert_true(id1 > 0);
	assert_int_equal(teach_one(s, "payment", "do you take apple pay", 0, 0, &again), 1);
	assert_int_equal(again, id1);
	assert_int_equal(teach_one(s, "delivery", "do you take apple pay", 1, 0, &id2), 0);
	assert_int_equal(teach_one(s, "payment", "apple pay ok?", 0, 9999, NULL), 0); /* no such ticket */
	assert_int_equal(commit(s), 0);
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'taught' AND actor = 'sam'"
	                          " AND detail = 'payment'"),
	                 1);
	memset(&g, 0, sizeof(g));
	store_taught_list(s, got_taught, &g);
	ss_wait(&g.answered);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.id[0], id1);
	assert_string_equal(g.text[1], "not:do you take apple pay");
	/* A taught question is no longer unanswered. */
	memset(&g, 0, sizeof(g));
	store_unanswered(s, T0 - 10, 10, got_questions, &g);
	ss_wait(&g.answered);
	assert_int_equal(g.n, 1);
	memset(&g, 0, sizeof(g));
	store_untaught(s, id2, got_done, &g);
	ss_wait(&g.answered);
	assert_int_equal(g.rc, 0);
	memset(&g, 0, sizeof(g));
	store_untaught(s, id2, got_done, &g);
	ss_wait(&g.answered);
	assert_int_equal(g.rc, 1);
	assert_int_equal(commit(s), 0);

	/* Satisfaction: a later answer replaces an earlier one. */
	assert_int_equal(store_rating_put(s, ticket[0], 2, NULL, T0 + 50), 0);
	assert_int_equal(store_rating_put(s, ticket[0], 4, "quick", T0 + 60), 0);
	assert_int_equal(store_rating_put(s, ticket[1], 9, NULL, T0), -1);
	assert_int_equal(commit(s), 0);

	/* The figures: posts per period and channel, tickets one by one. */
	struct report_got r = {0};
	store_report(s, T0 - 100, T0 + 100, T0 - 100, 200, got_report, &r);
	ss_wait(&r.answered);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.nposts, 1);
	assert_int_equal(r.posts[0].start, T0 - 100);
	assert_int_equal(r.posts[0].posts, 3);
	assert_int_equal(r.posts[0].answered, 1);
	assert_int_equal(r.posts[0].escalated, 2);
	assert_int_equal(r.posts[0].handled, 1);
	assert_int_equal(r.ntickets, 2);
	assert_int_equal(r.rating[0], 4);
	assert_int_equal(r.rating[1], 0);
	close_store(s);
}

/* The satisfaction question after a person resolved a conversation: kept
 * with the thread, answered once in words (the next message) or by the
 * web chat's buttons; what ends it; the ticket shows the rating; the
 * report counts the answer as no question. */
struct asked {
	int answered, rc;
	size_t n;
	int64_t rating, message;
	char text[64];
};

static void asked_cb(void *arg, int rc, const struct store_out *rows, size_t n)
{
	struct asked *a = arg;
	a->answered = 1;
	a->rc = rc;
	a->n = n;
	if (n) {
		a->rating = rows[0].rating;
		a->message = rows[0].message_id;
		snprintf(a->text, sizeof(a->text), "%s", rows[0].text);
	}
}

static int ask(struct store *s, int64_t ticket, time_t now, struct asked *a)
{
	const char *q[] = {"How did we do?"};
	memset(a, 0, sizeof(*a));
	store_rating_ask(s, ticket, q, 1, now, asked_cb, a);
	ss_wait(&a->answered);
	return a->rc;
}

static int answer_buttons(struct store *s, const char *thread, int64_t ticket, int score, const char *comment,
                          time_t since, time_t now)
{
	struct taught_got g = {0};
	store_rating_answer(s, "webchat", thread, ticket, score, comment, since, now, got_done, &g);
	ss_wait(&g.answered);
	return g.rc;
}

/* A customer's post in `thread` decided as d says; the decision record
 * says whether it is a rating. */
static void customer_post(struct store *s, const char *id, const char *thread, const char *text,
                          const struct decision *d, time_t when)
{
	struct post p = mkpost(id, thread, text);
	p.created = when;
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ss_lookup(s, "webchat", id, thread, &l), 0);
	struct store_record r = {.post = &p,
	                         .decision = d,
	                         .decision_json =
	                             d->rating ? "{\"action\":\"acknowledge\",\"rating\":4}" : "{}",
	                         .now = when,
	                         .thread = &l.thread};
	struct ss_rec out = {0};
	assert_int_equal(ss_record(s, &r, &out), 0);
	ss_rec_free(&out);
}

/* A ticket in `thread`, answered by a person and resolved: its id. */
static int64_t resolved_in(struct store *s, const char *thread, time_t when)
{
	int64_t k = escalate_as(s, thread, thread, thread, NULL, "where is my cake", when);
	const char *part[] = {"on it"};
	assert_int_equal(ss_agent_reply(s, k, "sam", "Sam", part, 1, when + 60, NULL), 0);
	assert_int_equal(ss_resolve(s, k, "sam", when + 120), 0);
	assert_int_equal(commit(s), 0);
	return k;
}

static void satisfaction_question(void **state)
{
	(void)state;
	struct store *s = open_store();
	struct asked a;
	struct store_thread t;
	struct store_ticket tk;

	/* An open ticket is not asked about. */
	int64_t open = escalate_as(s, "o1", "t0", "t0", NULL, "hello?", T0);
	assert_int_equal(ask(s, open, T0 + 10, &a), 1);

	int64_t k = resolved_in(s, "t1", T0);
	assert_int_equal(ask(s, k, T0 + 120, &a), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.rating, k); /* the web chat shows its buttons with it */
	assert_string_equal(a.text, "How did we do?");
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "t1", &t), 0);
	assert_int_equal(t.rating_ticket, k);
	assert_int_equal(t.rating_asked, T0 + 120);
	assert_int_equal(t.rating_next, 1);
	assert_int_equal(count(s, "SELECT count(*) FROM ticket_events WHERE kind = 'rating_asked'"), 1);

	/* The customer's next message is the answer, kept with its comment. */
	struct decision d;
	memset(&d, 0, sizeof(d));
	d.action = ACTION_ACK;
	d.rating = 4;
	d.rating_comment = "quick and kind, thanks";
	d.rating_comment_len = strlen("quick and kind");
	customer_post(s, "t1-r", "t1", "4 quick and kind", &d, T0 + 300);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, k, &tk), 1);
	assert_int_equal(tk.rating, 4);
	assert_string_equal(tk.rating_comment, "quick and kind");
	ss_ticket_free(&tk);
	assert_int_equal(ss_thread(s, "webchat", "t1", &t), 0);
	assert_int_equal(t.rating_ticket, 0);
	assert_int_equal(answer_buttons(s, "t1", 0, 5, NULL, T0, T0 + 400), 1); /* answered */

	/* Another message first: words no longer answer, the buttons do,
	 * once, within the window, for that ticket. */
	int64_t k2 = resolved_in(s, "t3", T0);
	assert_int_equal(ask(s, k2, T0 + 120, &a), 0);
	assert_int_equal(commit(s), 0);
	struct decision faq = answer();
	customer_post(s, "t3-q", "t3", "when do you open", &faq, T0 + 200);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_thread(s, "webchat", "t3", &t), 0);
	assert_int_equal(t.rating_ticket, k2);
	assert_int_equal(t.rating_next, 0);
	assert_int_equal(answer_buttons(s, "t3", 0, 5, NULL, T0 + 121, T0 + 300), 1);
	assert_int_equal(answer_buttons(s, "t3", k2 + 100, 5, NULL, T0, T0 + 300), 1);
	assert_int_equal(answer_buttons(s, "t3", k2, 2, "slow", T0, T0 + 300), 0);
	assert_int_equal(answer_buttons(s, "t3", k2, 5, NULL, T0, T0 + 301), 1);
	assert_int_equal(commit(s), 0);
	assert_int_equal(ss_ticket(s, k2, &tk), 1);
	assert_int_equal(tk.rating, 2);
	assert_string_equal(tk.rating_comment, "slow");
	ss_ticket_free(&tk);

	/* A new ticket in the thread ends a pending question. */
	int64_t k3 = resolved_in(s, "t4", T0);
	assert_int_equal(ask(s, k3, T0 + 120, &a), 0);
	escalate_as(s, "t4-again", "t4", "t4", NULL, "it happened again", T0 + 500);
	assert_int_equal(ss_thread(s, "webchat", "t4", &t), 0);
	assert_int_equal(t.rating_ticket, 0);

	/* The report: the rating answer is no question; posts per hour. */
	struct report_got r = {0};
	store_report(s, T0 - 100, T0 + 1000, T0 - 100, 1100, got_report, &r);
	ss_wait(&r.answered);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.nposts, 1);
	assert_int_equal(r.posts[0].posts, 6); /* o1, t1, t3, t3-q, t4, t4-again: not "4 quick..." */
	assert_true(r.nhours >= 1);
	close_store(s);
}

static void close_left(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(void)
{
	/* Every backend answers these alike. */
	const struct CMUnitTest common[] = {
	    CASE(schema_created),
	    CASE(newer_schema_refused),
	    CASE(post_recorded_and_deduped),
	    CASE(group_commit_visibility),
	    CASE(durable_commit_off_the_loop),
	    CASE(tickets_and_withdrawal),
	    CASE(outbox_states_survive_restart),
	    CASE(killed_writer_leaves_consistent_store),
	    CASE(visitors_cursors_notify_and_external_writes),
	    CASE(offline_pointer_and_private_ticket),
	    CASE(connector_state_table),
	    CASE(reply_windows_and_take_over),
	    CASE(refuses_missing_or_long_keys),
	    CASE(leads_alone),
	    CASE(retention_prunes_what_is_done),
	    CASE(history_pages),
	    CASE(visitor_email_on_ticket),
	    CASE(team_side_of_a_ticket),
	    CASE(contacts_from_posts_and_identity),
	    CASE(search_finds_tickets_and_contacts),
	    CASE(team_settings),
	    CASE(taught_ratings_and_report),
	    CASE(satisfaction_question),
	};
	/* A file, its WAL, its disk, and what older versions wrote. */
	const struct CMUnitTest sqlite_only[] = {
	    CASE(sqlite_file_private),
	    CASE(health_faults_and_recovery),
	    CASE(wal_restarts_under_steady_commits),
	    CASE(search_index_follows_groups),
	    CASE(migrates_connector_rows_from_cursors),
	    CASE(full_disk_fails_one_post),
	};
	/* TEST_STORE_LOG=1 shows the store's log; TEST_STORE_FILTER=name runs
	 * the cases so named only. */
	log_threshold = getenv("TEST_STORE_LOG") ? LOG_DEBUG : LOG_ERROR + 1;
	if (getenv("TEST_STORE_FILTER"))
		cmocka_set_test_filter(getenv("TEST_STORE_FILTER"));
	int failed = cmocka_run_group_tests_name("store on SQLite", common, on_sqlite, NULL);
	failed += cmocka_run_group_tests_name("SQLite only", sqlite_only, on_sqlite, NULL);

	pg_url = getenv("FRONTDESK_TEST_PG");
	if (!pg_url || !*pg_url) {
		if (getenv("FRONTDESK_TEST_PG_REQUIRED")) {
			fprintf(stderr,
			        "test_store: FRONTDESK_TEST_PG is not set but PostgreSQL was required\n");
			return 1;
		}
		printf("test_store: PostgreSQL cases skipped: FRONTDESK_TEST_PG is not set"
		       " (`make test` starts a throw-away cluster and sets it)\n");
		return failed;
	}
	/* Several processes on one database. */
	const struct CMUnitTest pg_only[] = {
	    CASE(pg_failed_write_fails_group),      CASE(pg_post_decided_once),
	    CASE(pg_thread_changed_under_decision), CASE(pg_outbox_leases),
	    CASE(pg_leadership_fails_over),         CASE(pg_connection_lost_and_back),
	};
	failed += cmocka_run_group_tests_name("store on PostgreSQL", common, on_pg, NULL);
	failed += cmocka_run_group_tests_name("PostgreSQL only", pg_only, on_pg, NULL);
	if (loop_ready) {
		/* What a failed case left open is closed, so the suite ends. */
		uv_walk(&loop, close_left, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	return failed;
}
