/*
 * store.c - the SQLite store (see store.h for the model: one WAL file, one
 * group transaction per loop iteration, savepoint per post).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Schema version 1.  Times are epoch seconds unless a column says ms. */
/* clang-format off */
static const char schema_v1[] =
	"CREATE TABLE threads ("
	" id INTEGER PRIMARY KEY,"
	" platform TEXT NOT NULL,"
	" thread_key TEXT NOT NULL,"
	" connector TEXT NOT NULL,"
	" is_private INTEGER NOT NULL DEFAULT 0,"
	" author TEXT,"
	" owner TEXT NOT NULL DEFAULT 'bot'"
	"  CHECK (owner = 'bot' OR owner = 'waiting' OR owner = 'claimed'),"
	" ticket_id INTEGER,"
	" claim_seq INTEGER NOT NULL DEFAULT 0,"
	" last_ack INTEGER NOT NULL DEFAULT 0,"
	" last_waiting_notice INTEGER NOT NULL DEFAULT 0,"
	" last_post_id TEXT,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" UNIQUE (platform, thread_key));"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" thread_id INTEGER NOT NULL REFERENCES threads(id),"
	" sender TEXT NOT NULL CHECK (sender = 'customer' OR sender = 'bot' OR sender = 'agent'),"
	" agent TEXT,"
	" text TEXT NOT NULL,"
	" ts INTEGER NOT NULL,"
	" client_id TEXT,"
	" state TEXT NOT NULL DEFAULT 'sent'"
	"  CHECK (state = 'pending' OR state = 'sent' OR state = 'failed' OR state = 'cancelled'));"
	"CREATE INDEX messages_thread ON messages (thread_id, id);"
	"CREATE TABLE posts ("
	" id INTEGER PRIMARY KEY,"
	" platform TEXT NOT NULL,"
	" post_id TEXT NOT NULL,"
	" connector TEXT NOT NULL,"
	" thread_id INTEGER NOT NULL REFERENCES threads(id),"
	" message_id INTEGER REFERENCES messages(id),"
	" author_id TEXT,"
	" author_handle TEXT,"
	" author_name TEXT,"
	" text TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" received INTEGER NOT NULL,"
	" action TEXT NOT NULL,"
	" rule TEXT,"
	" decision TEXT NOT NULL,"
	" UNIQUE (platform, post_id));"
	"CREATE TABLE tickets ("
	" id INTEGER PRIMARY KEY,"
	" thread_id INTEGER NOT NULL REFERENCES threads(id),"
	" status TEXT NOT NULL CHECK (status = 'waiting' OR status = 'claimed' OR status = 'resolved'),"
	" priority TEXT NOT NULL,"
	" reason TEXT,"
	" platform TEXT NOT NULL,"
	" author TEXT,"
	" due INTEGER,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" assignee TEXT,"
	" first_response INTEGER,"
	" resolved INTEGER);"
	"CREATE INDEX tickets_status ON tickets (status, due);"
	"CREATE TABLE ticket_events ("
	" id INTEGER PRIMARY KEY,"
	" ticket_id INTEGER NOT NULL REFERENCES tickets(id),"
	" ts INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" actor TEXT,"
	" message_id INTEGER,"
	" detail TEXT);"
	"CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);"
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY,"
	" connector TEXT NOT NULL,"
	" thread_id INTEGER REFERENCES threads(id),"
	" thread_key TEXT NOT NULL,"
	" reply_to TEXT,"
	" private INTEGER NOT NULL DEFAULT 0,"
	" text TEXT NOT NULL,"
	" idem_key TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind = 'reply' OR kind = 'notify'),"
	" sender TEXT NOT NULL DEFAULT 'bot' CHECK (sender = 'bot' OR sender = 'agent'),"
	" agent TEXT,"
	" message_id INTEGER,"
	" guard INTEGER," /* thread claim_seq when a bot reply was decided */
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" not_before INTEGER NOT NULL DEFAULT 0," /* epoch ms */
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state = 'pending' OR state = 'sent' OR state = 'failed' OR state = 'cancelled'),"
	" created INTEGER NOT NULL,"
	" sent INTEGER,"
	" last_error TEXT);"
	"CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';"
	"CREATE UNIQUE INDEX outbox_notify_key ON outbox (idem_key) WHERE kind = 'notify';"
	"CREATE TABLE cursors ("
	" connector TEXT PRIMARY KEY,"
	" value TEXT NOT NULL,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE visitors ("
	" token TEXT PRIMARY KEY,"
	" thread_key TEXT NOT NULL UNIQUE,"
	" created INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" email TEXT);";

/* clang-format on */

/* Migrations: migrations[v] takes the schema from version v to v + 1. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {schema_v1};

enum q {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SAVEPOINT,
	Q_RELEASE,
	Q_ROLLBACK_TO,
	Q_DATA_VERSION,
	Q_THREAD_GET,
	Q_POST_FIND,
	Q_THREAD_INSERT,
	Q_THREAD_UPDATE,
	Q_MSG_INSERT,
	Q_POST_INSERT,
	Q_OUT_INSERT,
	Q_TICKET_INSERT,
	Q_TICKET_TOUCH,
	Q_EVENT_INSERT,
	Q_HISTORY,
	Q_OUT_GET,
	Q_OUT_PENDING,
	Q_OUT_SENT,
	Q_OUT_RETRY,
	Q_OUT_FINAL,
	Q_MSG_STATE,
	Q_MSG_SENT,
	Q_OUT_COUNTS,
	Q_NOTIFY_FIND,
	Q_NOTIFY_INSERT,
	Q_TICKET_GET,
	Q_EVENT_FIND,
	Q_TICKET_SET,
	Q_THREAD_OWNER,
	Q_THREAD_RESOLVED,
	Q_THREAD_BY_ID,
	Q_TICKET_FIRST_RESPONSE,
	Q_CURSOR_GET,
	Q_CURSOR_SET,
	Q_VISITOR_FIND,
	Q_VISITOR_SEEN,
	Q_VISITOR_ADD,
	Q_VISITOR_EMAIL,
	Q_COUNT
};

/* clang-format off */
static const char *const sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT rec",
	[Q_RELEASE] = "RELEASE rec",
	[Q_ROLLBACK_TO] = "ROLLBACK TO rec",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_THREAD_GET] = "SELECT t.id, t.owner, COALESCE(t.ticket_id, 0), COALESCE(k.due, 0), COALESCE(k.assignee, ''),"
			 " t.last_ack, t.last_waiting_notice, t.claim_seq"
			 " FROM threads t LEFT JOIN tickets k ON k.id = t.ticket_id"
			 " WHERE t.platform = ?1 AND t.thread_key = ?2",
	[Q_POST_FIND] = "SELECT COALESCE(p.message_id, 0), COALESCE(m.ts, p.received) FROM posts p"
			" LEFT JOIN messages m ON m.id = p.message_id WHERE p.platform = ?1 AND p.post_id = ?2",
	[Q_THREAD_INSERT] = "INSERT INTO threads (platform, thread_key, connector, is_private, author, created, updated)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
	[Q_THREAD_UPDATE] = "UPDATE threads SET owner = ?2, ticket_id = ?3, last_ack = ?4, last_waiting_notice = ?5,"
			    " last_post_id = ?6, updated = ?7 WHERE id = ?1",
	[Q_MSG_INSERT] = "INSERT INTO messages (thread_id, sender, agent, text, ts, client_id, state)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_POST_INSERT] = "INSERT INTO posts (platform, post_id, connector, thread_id, message_id, author_id,"
			  " author_handle, author_name, text, created, received, action, rule, decision)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[Q_OUT_INSERT] = "INSERT INTO outbox (connector, thread_id, thread_key, reply_to, private, text, idem_key, kind,"
			 " sender, agent, message_id, guard, created)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[Q_TICKET_INSERT] = "INSERT INTO tickets (thread_id, status, priority, reason, platform, author, due, created,"
			    " updated) VALUES (?1, 'waiting', ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
	[Q_TICKET_TOUCH] = "UPDATE tickets SET updated = ?2 WHERE id = ?1",
	[Q_EVENT_INSERT] = "INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id, detail)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_HISTORY] = "SELECT * FROM (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.client_id FROM messages m"
		      " WHERE m.thread_id = (SELECT id FROM threads WHERE platform = ?1 AND thread_key = ?2)"
		      " AND m.state = 'sent' ORDER BY m.id DESC LIMIT ?3) ORDER BY id",
	[Q_OUT_GET] = "SELECT o.id, COALESCE(o.thread_id, 0), COALESCE(o.message_id, 0), o.kind, o.connector,"
		      " o.thread_key, o.reply_to, o.text, o.idem_key, o.sender, o.agent, o.private, o.attempts,"
		      " o.not_before, (o.sender = 'bot' AND o.kind = 'reply' AND o.guard IS NOT NULL"
		      " AND t.owner = 'claimed' AND t.claim_seq <> o.guard), o.created"
		      " FROM outbox o LEFT JOIN threads t ON t.id = o.thread_id WHERE o.id = ?1 AND o.state = 'pending'",
	[Q_OUT_PENDING] = "SELECT id, CASE WHEN kind = 'reply' THEN COALESCE(thread_id, 0) ELSE 0 END, not_before,"
			  " attempts FROM outbox"
			  " WHERE state = 'pending' ORDER BY id",
	[Q_OUT_SENT] = "UPDATE outbox SET state = 'sent', sent = ?2, attempts = attempts + 1"
		       " WHERE id = ?1 AND state = 'pending'",
	[Q_OUT_RETRY] = "UPDATE outbox SET attempts = ?2, not_before = ?3, last_error = ?4"
			" WHERE id = ?1 AND state = 'pending'",
	[Q_OUT_FINAL] = "UPDATE outbox SET state = ?2, attempts = MAX(attempts, ?3), last_error = ?4"
			" WHERE id = ?1 AND state = 'pending'",
	[Q_MSG_STATE] = "UPDATE messages SET state = ?2 WHERE id = (SELECT message_id FROM outbox WHERE id = ?1)",
	[Q_NOTIFY_FIND] = "SELECT id FROM outbox WHERE kind = 'notify' AND idem_key = ?1",
	[Q_NOTIFY_INSERT] = "INSERT INTO outbox (connector, thread_id, thread_key, private, text, idem_key, kind, sender,"
			    " not_before, created) VALUES (?1, ?2, '', 1, ?3, ?4, 'notify', 'bot', ?5, ?6)",
	[Q_MSG_SENT] = "UPDATE messages SET state = 'sent'"
		       " WHERE id = (SELECT message_id FROM outbox WHERE id = ?1 AND state = 'pending')",
	[Q_OUT_COUNTS] = "SELECT state, count(*) FROM outbox GROUP BY state",
	[Q_EVENT_FIND] = "SELECT count(*) FROM ticket_events WHERE ticket_id = ?1 AND kind = ?2",
	[Q_TICKET_GET] = "SELECT status, thread_id, COALESCE(assignee, '') FROM tickets WHERE id = ?1",
	[Q_TICKET_SET] = "UPDATE tickets SET status = ?2, assignee = ?3, updated = ?4,"
			 " resolved = CASE WHEN ?2 = 'resolved' THEN ?4 ELSE resolved END WHERE id = ?1",
	[Q_THREAD_OWNER] = "UPDATE threads SET owner = ?2, claim_seq = claim_seq + ?3, updated = ?4"
			   " WHERE id = ?1 AND ticket_id = ?5",
	[Q_THREAD_RESOLVED] = "UPDATE threads SET owner = 'bot', ticket_id = NULL, last_ack = 0,"
			      " last_waiting_notice = 0, updated = ?2 WHERE id = ?1 AND ticket_id = ?3",
	[Q_THREAD_BY_ID] = "SELECT connector, thread_key, last_post_id, is_private FROM threads WHERE id = ?1",
	[Q_TICKET_FIRST_RESPONSE] = "UPDATE tickets SET first_response = COALESCE(first_response, ?2), updated = ?2"
				    " WHERE id = ?1",
	[Q_CURSOR_GET] = "SELECT value FROM cursors WHERE connector = ?1",
	[Q_CURSOR_SET] = "INSERT INTO cursors (connector, value, updated) VALUES (?1, ?2, ?3)"
			 " ON CONFLICT (connector) DO UPDATE SET value = excluded.value, updated = excluded.updated",
	[Q_VISITOR_FIND] = "SELECT thread_key, last_seen FROM visitors WHERE token = ?1",
	[Q_VISITOR_SEEN] = "UPDATE visitors SET last_seen = ?2 WHERE token = ?1",
	[Q_VISITOR_ADD] = "INSERT INTO visitors (token, thread_key, created, last_seen) VALUES (?1, ?2, ?3, ?3)",
	[Q_VISITOR_EMAIL] = "UPDATE visitors SET email = ?2 WHERE token = ?1",
};
/* clang-format on */

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[Q_COUNT];
	int64_t data_version;
	int wal_pages;
	int tx_open;       /* we began a group transaction and have not ended it */
	int tx_lost;       /* SQLite rolled it back on its own (disk full, I/O error) */
	int deferred_sync; /* commits do not sync; the owner syncs the WAL (store_sync_wal) */
};

/* Log a SQLite failure: what we were doing and SQLite's own message. */
static void db_error(struct store *s, const char *op)
{
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, sqlite3_errmsg(s->db));
	log_error("store error", "op=%s code=%d err=%s", op, sqlite3_extended_errcode(s->db), b.p);
	buf_free(&b);
}

/*
 * The statement for q, prepared on first use and kept (persistent), reset
 * and without bindings.  NULL after logging if it does not prepare.
 */
static sqlite3_stmt *q(struct store *s, enum q id)
{
	sqlite3_stmt *st = s->st[id];
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	if (sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) !=
	    SQLITE_OK) {
		db_error(s, "prepare");
		s->st[id] = NULL;
		return NULL;
	}
	return s->st[id];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_id(sqlite3_stmt *st, int i, int64_t v)
{
	if (v > 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows; reset it either way.  0 or -1. */
static int run(struct store *s, sqlite3_stmt *st, const char *op)
{
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, op);
		return -1;
	}
	return 0;
}

/* run(), returning the new row id in *id. */
static int insert(struct store *s, sqlite3_stmt *st, const char *op, int64_t *id)
{
	if (run(s, st, op) < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int exec(struct store *s, const char *text, const char *op)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, msg ? msg : "?");
		log_error("store error", "op=%s err=%s", op, b.p);
		buf_free(&b);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* A PRAGMA that returns one integer; -1 on error. */
static int64_t pragma_int(struct store *s, const char *text)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(s->db, text, -1, &st, NULL) != SQLITE_OK) {
		db_error(s, "pragma");
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		db_error(s, "pragma");
	sqlite3_finalize(st);
	return v;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;
	(void)db;
	(void)name;
	s->wal_pages = pages;
	return SQLITE_OK;
}

/* Bring the schema to STORE_SCHEMA_VERSION in one transaction. */
static int migrate(struct store *s, char *err, size_t errn)
{
	if (exec(s, "BEGIN IMMEDIATE", "migrate") < 0) {
		snprintf(err, errn, "cannot lock the store: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	int64_t v = pragma_int(s, "PRAGMA user_version");
	if (v < 0 || v > STORE_SCHEMA_VERSION) {
		exec(s, "ROLLBACK", "migrate");
		if (v < 0)
			snprintf(err, errn, "cannot read the schema version: %s", sqlite3_errmsg(s->db));
		else
			snprintf(err, errn,
			         "schema version %lld is newer than this frontdesk understands (%d)",
			         (long long)v, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (int64_t i = v; i < STORE_SCHEMA_VERSION; i++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %lld", (long long)(i + 1));
		if (exec(s, migrations[i], "migrate") < 0 || exec(s, pragma, "migrate") < 0) {
			snprintf(err, errn, "migration to schema %lld failed: %s", (long long)(i + 1),
			         sqlite3_errmsg(s->db));
			exec(s, "ROLLBACK", "migrate");
			return -1;
		}
		log_info("store migrated", "schema=%lld", (long long)(i + 1));
	}
	if (exec(s, "COMMIT", "migrate") < 0) {
		snprintf(err, errn, "cannot commit the schema: %s", sqlite3_errmsg(s->db));
		exec(s, "ROLLBACK", "migrate");
		return -1;
	}
	return 0;
}

/* The file holds customer conversations: create it readable by its owner
 * only (SQLite gives the -wal and -shm files the same mode). */
static int create_private(const char *path, char *err, size_t errn)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errn, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

struct store *store_open(const char *path, int sync_full, char *err, size_t errn)
{
	struct store *s;
	char pragma[64];
	static int configured;

	/* Memory statistics cost a global mutex on every allocation; nothing
	 * here reads them.  Only possible before SQLite initialises. */
	if (!configured) {
		configured = 1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}

	if (create_private(path, err, errn) < 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errn, "cannot open %s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : "out of memory");
		store_close(s);
		return NULL;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* journal_mode answers with the mode in force: anything but "wal"
	 * (e.g. a read-only directory) is refused. */
	sqlite3_stmt *st;
	int wal = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(st, 0);
			wal = m && strcmp((const char *)m, "wal") == 0;
		}
		sqlite3_finalize(st);
	}
	if (!wal) {
		snprintf(err, errn, "cannot use WAL mode on %s: %s", path, sqlite3_errmsg(s->db));
		store_close(s);
		return NULL;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous = %s", sync_full ? "FULL" : "NORMAL");
	/* A 2 MiB page cache (SQLite's default size) holds the hot end of the
	 * tables a bot touches; 32 MiB grew the daemon from ~21 to ~56 MB RSS
	 * under load on machines where every megabyte counts. */
	if (exec(s, pragma, "open") < 0 || exec(s, "PRAGMA wal_autocheckpoint = 0", "open") < 0 ||
	    exec(s, "PRAGMA foreign_keys = ON", "open") < 0 ||
	    exec(s, "PRAGMA cache_size = -2048", "open") < 0 ||
	    exec(s, "PRAGMA journal_size_limit = 67108864", "open") < 0) {
		snprintf(err, errn, "cannot configure %s: %s", path, sqlite3_errmsg(s->db));
		store_close(s);
		return NULL;
	}
	sqlite3_wal_hook(s->db, wal_hook, s);
	if (migrate(s, err, errn) < 0) {
		store_close(s);
		return NULL;
	}
	s->data_version = pragma_int(s, "PRAGMA data_version");
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db && !sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK", "close");
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		db_error(s, "close");
	free(s->path);
	free(s);
}

const char *store_path(const struct store *s)
{
	return s->path;
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

int store_in_tx(const struct store *s)
{
	return s->tx_open;
}

/*
 * SQLite may roll a whole transaction back by itself after some errors
 * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM).  The batch is then gone even
 * though the caller still thinks it is open: remember that, so the next
 * store_commit reports the loss instead of acknowledging lost posts.
 */
static void check_lost(struct store *s)
{
	if (s->tx_open && sqlite3_get_autocommit(s->db) && !s->tx_lost) {
		s->tx_lost = 1;
		log_error("store transaction rolled back by SQLite: the batch is lost", "path=%s", s->path);
	}
}

int store_begin(struct store *s)
{
	check_lost(s);
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	/* Lost or not: keep writing transactionally until the commit reports. */
	if (run(s, q(s, Q_BEGIN), "begin") < 0)
		return -1;
	s->tx_open = 1;
	return 0;
}

int store_commit(struct store *s)
{
	if (!s->tx_open)
		return 0;
	check_lost(s);
	if (s->tx_lost) {
		store_rollback(s);
		return -1;
	}
	if (run(s, q(s, Q_COMMIT), "commit") == 0) {
		s->tx_open = 0;
		return 0;
	}
	/* A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY) or
	 * already rolled back (I/O error): either way the batch is gone. */
	store_rollback(s);
	return -1;
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		run(s, q(s, Q_ROLLBACK), "rollback");
	s->tx_open = 0;
	s->tx_lost = 0;
}

int store_external_change(struct store *s)
{
	sqlite3_stmt *st = q(s, Q_DATA_VERSION);
	if (!st)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_error(s, "data_version");
		sqlite3_reset(st);
		return -1;
	}
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (v == s->data_version)
		return 0;
	s->data_version = v;
	return 1;
}

int store_wal_pages(const struct store *s)
{
	return s->wal_pages;
}

int store_checkpoint(const char *path)
{
	sqlite3 *db = NULL;
	int log_pages = 0, done_pages = 0, rc;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	/* A fresh connection only opens the WAL on its first read; before
	 * that a checkpoint request finds nothing to do. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &done_pages);
	if (rc != SQLITE_OK) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, db ? sqlite3_errmsg(db) : "out of memory");
		log_warn("checkpoint failed", "err=%s", b.p);
		buf_free(&b);
	}
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

int store_defer_sync(struct store *s)
{
	if (exec(s, "PRAGMA synchronous = NORMAL", "defer sync") < 0)
		return -1;
	s->deferred_sync = 1;
	return 0;
}

int store_sync_deferred(const struct store *s)
{
	return s->deferred_sync;
}

int store_sync_wal(const char *path, int *dir_synced)
{
	char wal[PATH_MAX];
	int rc = 0;

	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
		return -ENAMETOOLONG;
	int fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* no WAL: nothing uncommitted to disk */
	if (fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && !*dir_synced) {
		/* The directory entry of the WAL must be on disk too, once. */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) == 0)
				*dir_synced = 1;
			close(dfd);
		}
	}
	return rc;
}

/* --- savepoints --------------------------------------------------------- */

static int sp_begin(struct store *s)
{
	if (store_begin(s) < 0)
		return -1;
	return run(s, q(s, Q_SAVEPOINT), "savepoint");
}

/* Release the savepoint, or on failure undo everything since sp_begin. */
static int sp_end(struct store *s, int rc)
{
	if (rc == 0 && run(s, q(s, Q_RELEASE), "release") == 0)
		return 0;
	if (!sqlite3_get_autocommit(s->db)) {
		run(s, q(s, Q_ROLLBACK_TO), "rollback_to");
		run(s, q(s, Q_RELEASE), "release");
	}
	return -1;
}

/* --- posts and threads -------------------------------------------------- */

static enum thread_owner owner_parse(const unsigned char *s)
{
	if (s && strcmp((const char *)s, "waiting") == 0)
		return THREAD_WAITING;
	if (s && strcmp((const char *)s, "claimed") == 0)
		return THREAD_CLAIMED;
	return THREAD_BOT;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	snprintf(out, n, "%s", v ? (const char *)v : "");
}

int store_thread_get(struct store *s, const char *platform, const char *thread_key, struct store_thread *t)
{
	sqlite3_stmt *st = q(s, Q_THREAD_GET);
	memset(t, 0, sizeof(*t));
	if (!st)
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, thread_key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->id = sqlite3_column_int64(st, 0);
		t->owner = owner_parse(sqlite3_column_text(st, 1));
		t->ticket_id = sqlite3_column_int64(st, 2);
		t->ticket_due = (time_t)sqlite3_column_int64(st, 3);
		copy_col(st, 4, t->assignee, sizeof(t->assignee));
		t->last_ack = (time_t)sqlite3_column_int64(st, 5);
		t->last_waiting_notice = (time_t)sqlite3_column_int64(st, 6);
		t->claim_seq = sqlite3_column_int64(st, 7);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(s, "thread_get");
		return -1;
	}
	return 0;
}

int store_post_find(struct store *s, const char *platform, const char *post_id, int64_t *message_id,
                    time_t *ts)
{
	sqlite3_stmt *st = q(s, Q_POST_FIND);
	if (!st)
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, post_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (message_id)
			*message_id = sqlite3_column_int64(st, 0);
		if (ts)
			*ts = (time_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "post_find");
	return -1;
}

static int msg_insert(struct store *s, int64_t thread_id, const char *sender, const char *agent,
                      const char *text, time_t ts, const char *client_id, const char *state, int64_t *id)
{
	sqlite3_stmt *st = q(s, Q_MSG_INSERT);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, thread_id);
	bind_text(st, 2, sender);
	bind_text(st, 3, agent);
	bind_text(st, 4, text);
	sqlite3_bind_int64(st, 5, ts);
	bind_text(st, 6, client_id && *client_id ? client_id : NULL);
	bind_text(st, 7, state);
	return insert(s, st, "message_insert", id);
}

static int event_insert(struct store *s, int64_t ticket, time_t ts, const char *kind, const char *actor,
                        int64_t message_id, const char *detail)
{
	sqlite3_stmt *st = q(s, Q_EVENT_INSERT);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, ticket);
	sqlite3_bind_int64(st, 2, ts);
	bind_text(st, 3, kind);
	bind_text(st, 4, actor);
	bind_id(st, 5, message_id);
	bind_text(st, 6, detail);
	return run(s, st, "event_insert");
}

/* Idempotency key of an outbox row: stable, short enough for every
 * platform (Discord nonces take 25 characters). */
static void idem_key(char out[24], const char *a, const char *b, uint64_t n)
{
	struct buf k;
	buf_init(&k, 0);
	buf_printf(&k, "%s%c%s%c%llu", a, 0, b, 0, (unsigned long long)n);
	snprintf(out, 24, "fd%016llx", (unsigned long long)hash64(k.p, k.len));
	buf_free(&k);
}

struct out_row {
	const char *connector;
	int64_t thread_id;
	const char *thread_key;
	const char *reply_to;
	int is_private;
	const char *text;
	const char *idem;
	const char *sender;
	const char *agent;
	int64_t message_id;
	int has_guard;
	int64_t guard;
	time_t now;
};

static int out_insert(struct store *s, const struct out_row *r, int64_t *id)
{
	sqlite3_stmt *st = q(s, Q_OUT_INSERT);
	if (!st)
		return -1;
	bind_text(st, 1, r->connector);
	bind_id(st, 2, r->thread_id);
	bind_text(st, 3, r->thread_key);
	bind_text(st, 4, r->reply_to);
	sqlite3_bind_int(st, 5, r->is_private);
	bind_text(st, 6, r->text);
	bind_text(st, 7, r->idem);
	bind_text(st, 8, "reply");
	bind_text(st, 9, r->sender);
	bind_text(st, 10, r->agent);
	bind_id(st, 11, r->message_id);
	if (r->has_guard)
		sqlite3_bind_int64(st, 12, r->guard);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int64(st, 13, r->now);
	return insert(s, st, "outbox_insert", id);
}

static const char *author_of(const struct post *p)
{
	if (p->author_handle && *p->author_handle)
		return p->author_handle;
	if (p->author_name && *p->author_name)
		return p->author_name;
	return p->author_id;
}

/* The body of store_record_post, inside its savepoint. */
static int record(struct store *s, const struct store_record *r, const struct store_thread *t,
                  struct store_recorded *out)
{
	const struct post *p = r->post;
	const struct decision *d = r->decision;
	enum thread_owner owner = t->owner;
	int64_t ticket = t->ticket_id;
	time_t last_ack = t->last_ack, last_notice = t->last_waiting_notice;
	sqlite3_stmt *st;

	out->thread_id = t->id;
	if (!out->thread_id) {
		if (!(st = q(s, Q_THREAD_INSERT)))
			return -1;
		bind_text(st, 1, p->platform);
		bind_text(st, 2, p->thread_key);
		bind_text(st, 3, p->connector ? p->connector : p->platform);
		sqlite3_bind_int(st, 4, !p->is_public);
		bind_text(st, 5, author_of(p));
		sqlite3_bind_int64(st, 6, r->now);
		if (insert(s, st, "thread_insert", &out->thread_id) < 0)
			return -1;
	}
	if (msg_insert(s, out->thread_id, "customer", NULL, p->text ? p->text : "", r->now, p->client_id,
	               "sent", &out->message_id) < 0)
		return -1;

	if (!(st = q(s, Q_POST_INSERT)))
		return -1;
	bind_text(st, 1, p->platform);
	bind_text(st, 2, p->post_id);
	bind_text(st, 3, p->connector ? p->connector : p->platform);
	sqlite3_bind_int64(st, 4, out->thread_id);
	sqlite3_bind_int64(st, 5, out->message_id);
	bind_text(st, 6, p->author_id);
	bind_text(st, 7, p->author_handle);
	bind_text(st, 8, p->author_name);
	bind_text(st, 9, p->text ? p->text : "");
	sqlite3_bind_int64(st, 10, p->created ? p->created : r->now);
	sqlite3_bind_int64(st, 11, r->now);
	bind_text(st, 12, d->ignored ? "ignore" : action_name(d->action));
	bind_text(st, 13, d->rule);
	bind_text(st, 14, r->decision_json ? r->decision_json : "{}");
	if (insert(s, st, "post_insert", &out->post_row) < 0)
		return -1;

	if (d->open_ticket && owner == THREAD_BOT) {
		enum priority pr = d->priority != PRIO_NONE ? d->priority : PRIO_NORMAL;
		if (!(st = q(s, Q_TICKET_INSERT)))
			return -1;
		sqlite3_bind_int64(st, 1, out->thread_id);
		bind_text(st, 2, priority_name(pr));
		bind_text(st, 3, d->reason);
		bind_text(st, 4, p->platform);
		bind_text(st, 5, author_of(p));
		if (d->due)
			sqlite3_bind_int64(st, 6, d->due);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, r->now);
		if (insert(s, st, "ticket_insert", &ticket) < 0)
			return -1;
		if (event_insert(s, ticket, r->now, "opened", NULL, out->message_id, d->reason) < 0)
			return -1;
		owner = THREAD_WAITING;
		out->ticket_id = ticket;
	} else if ((d->append_ticket || d->open_ticket) && ticket > 0) {
		if (event_insert(s, ticket, r->now, "message", NULL, out->message_id, NULL) < 0)
			return -1;
		if (!(st = q(s, Q_TICKET_TOUCH)))
			return -1;
		sqlite3_bind_int64(st, 1, ticket);
		sqlite3_bind_int64(st, 2, r->now);
		if (run(s, st, "ticket_touch") < 0)
			return -1;
		out->ticket_id = ticket;
	}

	size_t n = r->n_parts < STORE_MAX_PARTS ? r->n_parts : STORE_MAX_PARTS;
	for (size_t i = 0; i < n; i++) {
		char idem[24];
		struct out_row o = {
		    .connector = p->connector ? p->connector : p->platform,
		    .thread_id = out->thread_id,
		    .thread_key = p->thread_key,
		    .reply_to = p->reply_to_id ? p->reply_to_id : p->post_id,
		    .is_private = !p->is_public,
		    .text = r->parts[i],
		    .idem = idem,
		    .sender = "bot",
		    .has_guard = 1,
		    .guard = t->claim_seq,
		    .now = r->now,
		};
		idem_key(idem, p->platform, p->post_id, i);
		if (msg_insert(s, out->thread_id, "bot", NULL, r->parts[i], r->now, NULL, "pending",
		               &out->reply_message[i]) < 0)
			return -1;
		o.message_id = out->reply_message[i];
		if (out_insert(s, &o, &out->outbox[i]) < 0)
			return -1;
		out->n_outbox++;
	}
	if (n > 0) {
		/* A reply in a thread a person owns is the "we have your message"
		 * notice; elsewhere an acknowledgement starts the cooldown. */
		if (d->append_ticket)
			last_notice = r->now;
		else if (d->action == ACTION_ACK || d->action == ACTION_ESCALATE)
			last_ack = r->now;
	}

	if (!(st = q(s, Q_THREAD_UPDATE)))
		return -1;
	sqlite3_bind_int64(st, 1, out->thread_id);
	bind_text(st, 2, thread_owner_name(owner));
	bind_id(st, 3, ticket);
	sqlite3_bind_int64(st, 4, last_ack);
	sqlite3_bind_int64(st, 5, last_notice);
	bind_text(st, 6, p->reply_to_id ? p->reply_to_id : p->post_id);
	sqlite3_bind_int64(st, 7, r->now);
	return run(s, st, "thread_update");
}

int store_record_post(struct store *s, const struct store_record *r, struct store_recorded *out)
{
	const struct post *p = r->post;
	struct store_thread t;

	memset(out, 0, sizeof(*out));
	if (!p->platform || !p->post_id || !p->thread_key || strlen(p->post_id) > STORE_MAX_KEY ||
	    strlen(p->thread_key) > STORE_MAX_KEY || (p->client_id && strlen(p->client_id) > STORE_MAX_KEY)) {
		log_warn("post refused by the store", "platform=%s reason=missing_or_long_key",
		         p->platform ? p->platform : "?");
		return -1;
	}
	if (sp_begin(s) < 0)
		return -1;
	int rc = 0;
	if (r->thread)
		t = *r->thread;
	else
		rc = store_thread_get(s, p->platform, p->thread_key, &t);
	if (rc == 0)
		rc = record(s, r, &t, out);
	if (sp_end(s, rc) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* --- history ------------------------------------------------------------- */

int store_history(struct store *s, const char *platform, const char *thread_key, size_t limit,
                  store_msg_fn fn, void *ctx)
{
	sqlite3_stmt *st = q(s, Q_HISTORY);
	int rc;
	if (!st)
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, thread_key);
	sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_msg m = {
		    .id = sqlite3_column_int64(st, 0),
		    .from = (const char *)sqlite3_column_text(st, 1),
		    .agent = (const char *)sqlite3_column_text(st, 2),
		    .text = (const char *)sqlite3_column_text(st, 3),
		    .ts = (time_t)sqlite3_column_int64(st, 4),
		    .client_id = (const char *)sqlite3_column_text(st, 5),
		};
		if (!m.from || !m.text)
			continue;
		if (fn(ctx, &m)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, "history");
		return -1;
	}
	return 0;
}

/* --- outbox -------------------------------------------------------------- */

void store_out_free(struct store_out *o)
{
	free(o->connector);
	free(o->thread_key);
	free(o->reply_to);
	free(o->text);
	free(o->idem_key);
	free(o->sender);
	free(o->agent);
	memset(o, 0, sizeof(*o));
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	return v ? xstrdup((const char *)v) : NULL;
}

int store_outbox_get(struct store *s, int64_t id, struct store_out *o)
{
	sqlite3_stmt *st = q(s, Q_OUT_GET);
	memset(o, 0, sizeof(*o));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *kind = sqlite3_column_text(st, 3);
		o->id = sqlite3_column_int64(st, 0);
		o->thread_id = sqlite3_column_int64(st, 1);
		o->message_id = sqlite3_column_int64(st, 2);
		o->kind = kind && strcmp((const char *)kind, "notify") == 0 ? OUT_NOTIFY : OUT_REPLY;
		o->connector = dup_col(st, 4);
		o->thread_key = dup_col(st, 5);
		o->reply_to = dup_col(st, 6);
		o->text = dup_col(st, 7);
		o->idem_key = dup_col(st, 8);
		o->sender = dup_col(st, 9);
		o->agent = dup_col(st, 10);
		o->is_private = sqlite3_column_int(st, 11);
		o->attempts = sqlite3_column_int(st, 12);
		o->not_before_ms = sqlite3_column_int64(st, 13);
		o->withdrawn = sqlite3_column_int(st, 14);
		o->created = (time_t)sqlite3_column_int64(st, 15);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		if (!o->connector || !o->thread_key || !o->text || !o->idem_key || !o->sender) {
			log_error("outbox row is incomplete", "id=%lld", (long long)id);
			store_out_free(o);
			return 0;
		}
		return 1;
	}
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "outbox_get");
	return -1;
}

int store_outbox_pending(struct store *s, store_pending_fn fn, void *ctx)
{
	sqlite3_stmt *st = q(s, Q_OUT_PENDING);
	int rc;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		   sqlite3_column_int(st, 3));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, "outbox_pending");
		return -1;
	}
	return 0;
}

static int msg_state(struct store *s, int64_t outbox_id, const char *state)
{
	sqlite3_stmt *st = q(s, Q_MSG_STATE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, outbox_id);
	bind_text(st, 2, state);
	return run(s, st, "message_state");
}

/*
 * The hot path of delivery, without a savepoint: the message is marked
 * first, so a failure between the two statements leaves a row that is sent
 * again later (harmless with its idempotency key), never a delivered row
 * whose message stays hidden.
 */
int store_outbox_sent(struct store *s, int64_t id, time_t now)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_MSG_SENT)))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (run(s, st, "message_sent") < 0 || !(st = q(s, Q_OUT_SENT)))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return run(s, st, "outbox_sent");
}

int store_outbox_retry(struct store *s, int64_t id, int attempts, int64_t not_before_ms, const char *error)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_OUT_RETRY)))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, attempts);
	sqlite3_bind_int64(st, 3, not_before_ms);
	bind_text(st, 4, error);
	return run(s, st, "outbox_retry");
}

static int outbox_final(struct store *s, int64_t id, const char *state, int attempts, const char *error)
{
	sqlite3_stmt *st;
	int rc = -1;
	if (sp_begin(s) < 0)
		return -1;
	if ((st = q(s, Q_OUT_FINAL))) {
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, state);
		sqlite3_bind_int(st, 3, attempts);
		bind_text(st, 4, error);
		rc = run(s, st, "outbox_final");
	}
	if (rc == 0 && sqlite3_changes(s->db) > 0)
		rc = msg_state(s, id, state);
	return sp_end(s, rc);
}

int store_outbox_failed(struct store *s, int64_t id, int attempts, const char *error)
{
	return outbox_final(s, id, "failed", attempts, error);
}

int store_outbox_cancel(struct store *s, int64_t id, const char *why)
{
	return outbox_final(s, id, "cancelled", 0, why);
}

int store_outbox_notify(struct store *s, const char *connector, int64_t thread_id, const char *payload,
                        const char *idem_key, int64_t not_before_ms, time_t now, int64_t *id)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_NOTIFY_FIND)))
		return -1;
	bind_text(st, 1, idem_key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE) {
		db_error(s, "notify_find");
		return -1;
	}
	if (!(st = q(s, Q_NOTIFY_INSERT)))
		return -1;
	bind_text(st, 1, connector);
	bind_id(st, 2, thread_id);
	bind_text(st, 3, payload);
	bind_text(st, 4, idem_key);
	sqlite3_bind_int64(st, 5, not_before_ms);
	sqlite3_bind_int64(st, 6, now);
	return insert(s, st, "notify_insert", id);
}

int store_outbox_counts(struct store *s, long *pending, long *sent, long *failed, long *cancelled)
{
	sqlite3_stmt *st = q(s, Q_OUT_COUNTS);
	long *slots[] = {pending, sent, failed, cancelled};
	static const char *const names[] = {"pending", "sent", "failed", "cancelled"};
	int rc;
	for (size_t i = 0; i < ARRAY_LEN(slots); i++)
		if (slots[i])
			*slots[i] = 0;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *state = sqlite3_column_text(st, 0);
		for (size_t i = 0; state && i < ARRAY_LEN(names); i++)
			if (slots[i] && strcmp((const char *)state, names[i]) == 0)
				*slots[i] = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, "outbox_counts");
		return -1;
	}
	return 0;
}

/* --- tickets --------------------------------------------------------------- */

struct ticket_row {
	char status[16];
	int64_t thread_id;
	char assignee[STORE_MAX_NAME];
};

/* 1 found, 0 absent, -1 error. */
static int ticket_get(struct store *s, int64_t id, struct ticket_row *t)
{
	sqlite3_stmt *st = q(s, Q_TICKET_GET);
	memset(t, 0, sizeof(*t));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_col(st, 0, t->status, sizeof(t->status));
		t->thread_id = sqlite3_column_int64(st, 1);
		copy_col(st, 2, t->assignee, sizeof(t->assignee));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "ticket_get");
	return -1;
}

static int ticket_set(struct store *s, int64_t id, const char *status, const char *assignee, time_t now)
{
	sqlite3_stmt *st = q(s, Q_TICKET_SET);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, status);
	bind_text(st, 3, assignee);
	sqlite3_bind_int64(st, 4, now);
	return run(s, st, "ticket_set");
}

static int thread_owner(struct store *s, int64_t thread_id, int64_t ticket, const char *owner, int bump,
                        time_t now)
{
	sqlite3_stmt *st = q(s, Q_THREAD_OWNER);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, thread_id);
	bind_text(st, 2, owner);
	sqlite3_bind_int(st, 3, bump);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, ticket);
	return run(s, st, "thread_owner");
}

static int claim(struct store *s, int64_t id, const struct ticket_row *t, const char *login, time_t now)
{
	if (ticket_set(s, id, "claimed", login, now) < 0 ||
	    thread_owner(s, t->thread_id, id, "claimed", 1, now) < 0)
		return -1;
	return event_insert(s, id, now, "claimed", login, 0, NULL);
}

int store_ticket_claim(struct store *s, int64_t id, const char *login, time_t now)
{
	struct ticket_row t;
	if (sp_begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, &t);
	if (rc == 1 && strcmp(t.status, "resolved") != 0)
		rc = claim(s, id, &t, login, now);
	else if (rc >= 0)
		rc = 1;
	if (sp_end(s, rc < 0 ? -1 : 0) < 0)
		return -1;
	return rc;
}

int store_ticket_release(struct store *s, int64_t id, const char *actor, time_t now)
{
	struct ticket_row t;
	if (sp_begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, &t);
	if (rc == 1 && strcmp(t.status, "claimed") == 0) {
		rc = ticket_set(s, id, "waiting", NULL, now);
		if (rc == 0)
			rc = thread_owner(s, t.thread_id, id, "waiting", 0, now);
		if (rc == 0)
			rc = event_insert(s, id, now, "released", actor, 0, NULL);
	} else if (rc >= 0) {
		rc = 1;
	}
	if (sp_end(s, rc < 0 ? -1 : 0) < 0)
		return -1;
	return rc;
}

int store_ticket_resolve(struct store *s, int64_t id, const char *actor, time_t now)
{
	struct ticket_row t;
	sqlite3_stmt *st;
	if (sp_begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, &t);
	if (rc == 1 && strcmp(t.status, "resolved") != 0) {
		rc = ticket_set(s, id, "resolved", t.assignee[0] ? t.assignee : NULL, now);
		if (rc == 0 && (st = q(s, Q_THREAD_RESOLVED))) {
			sqlite3_bind_int64(st, 1, t.thread_id);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_int64(st, 3, id);
			rc = run(s, st, "thread_resolved");
		} else if (rc == 0) {
			rc = -1;
		}
		if (rc == 0)
			rc = event_insert(s, id, now, "resolved", actor, 0, NULL);
	} else if (rc >= 0) {
		rc = 1;
	}
	if (sp_end(s, rc < 0 ? -1 : 0) < 0)
		return -1;
	return rc;
}

int store_ticket_mark(struct store *s, int64_t id, const char *kind, const char *detail, time_t now)
{
	struct ticket_row t;
	sqlite3_stmt *st;
	if (store_begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, &t);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	if (!(st = q(s, Q_EVENT_FIND)))
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, kind);
	rc = sqlite3_step(st);
	int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (n < 0) {
		db_error(s, "event_find");
		return -1;
	}
	if (n > 0)
		return 1;
	return event_insert(s, id, now, kind, NULL, 0, detail) < 0 ? -1 : 0;
}

/* The body of store_agent_reply, inside its savepoint. */
static int agent_reply(struct store *s, int64_t id, const struct ticket_row *t, const char *login,
                       const char *agent_name, const char *const *parts, size_t n_parts, time_t now,
                       int64_t *out_ids)
{
	sqlite3_stmt *st;
	char *connector = NULL, *thread_key = NULL, *reply_to = NULL;
	int is_private = 0, rc = -1;

	if ((strcmp(t->status, "claimed") != 0 || strcmp(t->assignee, login) != 0) &&
	    claim(s, id, t, login, now) < 0)
		return -1;
	if (!(st = q(s, Q_THREAD_BY_ID)))
		return -1;
	sqlite3_bind_int64(st, 1, t->thread_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		connector = dup_col(st, 0);
		thread_key = dup_col(st, 1);
		reply_to = dup_col(st, 2);
		is_private = sqlite3_column_int(st, 3);
		rc = connector && thread_key ? 0 : -1;
	}
	sqlite3_reset(st);
	if (rc < 0)
		db_error(s, "thread_by_id");
	for (size_t i = 0; rc == 0 && i < n_parts; i++) {
		int64_t mid = 0, oid = 0;
		char idem[24], num[32];
		rc = msg_insert(s, t->thread_id, "agent", agent_name, parts[i], now, NULL, "pending", &mid);
		if (rc < 0)
			break;
		snprintf(num, sizeof(num), "%lld", (long long)mid);
		idem_key(idem, "agent", num, i);
		struct out_row o = {
		    .connector = connector,
		    .thread_id = t->thread_id,
		    .thread_key = thread_key,
		    .reply_to = reply_to,
		    .is_private = is_private,
		    .text = parts[i],
		    .idem = idem,
		    .sender = "agent",
		    .agent = agent_name,
		    .message_id = mid,
		    .now = now,
		};
		rc = out_insert(s, &o, &oid);
		if (rc == 0)
			rc = event_insert(s, id, now, "reply", login, mid, NULL);
		if (rc == 0 && out_ids)
			out_ids[i] = oid;
	}
	if (rc == 0 && (st = q(s, Q_TICKET_FIRST_RESPONSE))) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		rc = run(s, st, "first_response");
	}
	free(connector);
	free(thread_key);
	free(reply_to);
	return rc;
}

int store_agent_reply(struct store *s, int64_t id, const char *login, const char *agent_name,
                      const char *const *parts, size_t n_parts, time_t now, int64_t *out_ids)
{
	struct ticket_row t;
	if (sp_begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, &t);
	if (rc == 1 && strcmp(t.status, "resolved") != 0)
		rc = agent_reply(s, id, &t, login, agent_name, parts, n_parts, now, out_ids);
	else if (rc >= 0)
		rc = 1;
	if (sp_end(s, rc < 0 ? -1 : 0) < 0)
		return -1;
	return rc;
}

/* --- cursors and visitors -------------------------------------------------- */

int store_cursor_get(struct store *s, const char *connector, char *out, size_t n)
{
	sqlite3_stmt *st = q(s, Q_CURSOR_GET);
	if (!st)
		return -1;
	bind_text(st, 1, connector);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		copy_col(st, 0, out, n);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "cursor_get");
	return -1;
}

int store_cursor_set(struct store *s, const char *connector, const char *value, time_t now)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_CURSOR_SET)))
		return -1;
	bind_text(st, 1, connector);
	bind_text(st, 2, value);
	sqlite3_bind_int64(st, 3, now);
	return run(s, st, "cursor_set");
}

int store_visitor_find(struct store *s, const char *token, time_t now, char *thread_key, size_t n)
{
	sqlite3_stmt *st = q(s, Q_VISITOR_FIND);
	time_t seen = 0;
	if (!st)
		return -1;
	bind_text(st, 1, token);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		copy_col(st, 0, thread_key, n);
		seen = (time_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		db_error(s, "visitor_find");
		return -1;
	}
	if (now - seen > STORE_VISITOR_TTL)
		return 0;
	if (store_begin(s) < 0 || !(st = q(s, Q_VISITOR_SEEN)))
		return -1;
	bind_text(st, 1, token);
	sqlite3_bind_int64(st, 2, now);
	return run(s, st, "visitor_seen") < 0 ? -1 : 1;
}

int store_visitor_add(struct store *s, const char *token, const char *thread_key, time_t now)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_VISITOR_ADD)))
		return -1;
	bind_text(st, 1, token);
	bind_text(st, 2, thread_key);
	sqlite3_bind_int64(st, 3, now);
	return run(s, st, "visitor_add");
}

int store_visitor_set_email(struct store *s, const char *token, const char *email)
{
	sqlite3_stmt *st;
	if (store_begin(s) < 0 || !(st = q(s, Q_VISITOR_EMAIL)))
		return -1;
	bind_text(st, 1, token);
	bind_text(st, 2, email);
	return run(s, st, "visitor_email");
}
