/*
 * store/pg.c - the PostgreSQL backend of the store (store.h, backend.h):
 * several frontdesk processes, on several machines, share one database.
 *
 * Connections.  `db` carries every operation, in pipeline mode on the
 * loop (store/pgconn.h): an operation is one or a few statements and a
 * sync, sent without waiting for the answers of the ones before; its
 * callback runs when its answer arrives.  The group is a transaction on
 * `db`: the first write sends BEGIN, store_commit sends COMMIT (after a
 * NOTIFY that tells the other processes something changed), and reports
 * when COMMIT's answer says so.  Reads run where they fall: in the open
 * group (seeing its writes), or on their own.  `watch` (daemon only)
 * LISTENs for the other processes' notifications and holds the advisory
 * locks of leadership: a session lock lives as long as the connection, so
 * a process that dies (or loses its connection) leads nothing any more,
 * and the lock is free for the next.
 *
 * Deciding once.  A post's record (fd_record_post, one round trip) locks
 * its thread row and compares it with what the lookup saw: another post of
 * the thread, here or elsewhere, may have changed it since (rc 2: the
 * daemon decides again).  The post row is inserted ON CONFLICT DO NOTHING:
 * when another process stored it first, this copy is dropped (rc 1).
 *
 * Sending once.  An outbox row is leased: to the process that wrote it, as
 * written; by store_outbox_pending (FOR UPDATE SKIP LOCKED) to the process
 * that loads it; renewed by the claim right before a send.  A process that
 * dies leaves leases that expire after store.lease; the others' periodic
 * reload (store_external_change says so every half lease) finds the rows
 * and sends them.  What a send whose outcome was never written did is the
 * outbox's idempotency key's business, as after a crash with SQLite.
 *
 * When the database goes away: every operation waiting fails (the open
 * group with it: its commit reports -1, so nothing of it is acknowledged),
 * new ones fail at once, and the connection is made again with backoff;
 * leadership is given up (the callbacks say 0) until the watch connection
 * is back and wins the lock again.
 *
 * Without a loop (command-line tools), pgconn answers every statement
 * before it returns, so every operation completes before it returns.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "store.h"
#include "store/backend.h"
#include "store/sql.h"
#include "store/pgconn.h"
#include "store/pq_load.h"
#include "store/schema.h"
#include "util.h"

#define CHANNEL         "frontdesk"
#define MIGRATE_LOCK    "7244160919405183025" /* pg_advisory_xact_lock key of migrations */
#define TICK_MS         1000                  /* leadership tries and pings */
#define PING_TIMEOUT_MS 8000                  /* a watch connection silent this long is dropped */
#define SCAN_MAX        "5000"                /* outbox rows one load leases */

enum q {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_NOTIFY,
	Q_LOOKUP,
	Q_THREAD_GET,
	Q_RECORD,
	Q_HISTORY,
	Q_PENDING,
	Q_CLAIM,
	Q_SENT,
	Q_RETRY,
	Q_FINAL,
	Q_RELEASE,
	Q_NOTIFY_ROW,
	Q_OUT_BY_ID,
	Q_COUNTS,
	Q_TICKET_MESSAGES,
	Q_TICKET_EXISTS,
	Q_TICKET_EVENTS,
	Q_QUEUE_VERSION,
	Q_TICKET_ACTION,
	Q_AGENT_REPLY,
	Q_CURSOR_GET,
	Q_CURSOR_SET,
	Q_STATE_GET,
	Q_STATE_PUT,
	Q_STATE_DELETE,
	Q_STATE_PRUNE,
	Q_VISITOR_FIND,
	Q_VISITOR_OF_THREAD,
	Q_REPLY_NOTE,
	Q_VISITOR_ADD,
	Q_VISITOR_EMAIL,
	Q_PRUNE,
	Q_SEEN,
	Q_TICKET_COUNTS,
	Q_TEAM_LIST,
	Q_TEAM_PUT,
	Q_TEAM_DELETE,
	Q_TEAM_UNLABEL,
	Q_TEAM_ACTION,
	Q_CONTACT_EMAIL,
	Q_CONTACT_UPDATE,
	Q_CONTACT_GET,
	Q_CONTACT_RENAME,
	Q_CONTACT_SEARCH,
	Q_TAUGHT_LIST,
	Q_TEACH,
	Q_UNTAUGHT,
	Q_UNANSWERED,
	Q_RATING_PUT,
	Q_REPORT_POSTS,
	Q_REPORT_TICKETS,
	Q_REPORT_HOURS,
	Q_RATING_ASK,
	Q_RATING_ANSWER,
	Q_COUNT
};

/* clang-format off */
static const char *const sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_NOTIFY] = "SELECT pg_notify('" CHANNEL "', $1)",
	[Q_LOOKUP] = "SELECT COALESCE(t.id, 0), t.owner, COALESCE(t.ticket_id, 0), COALESCE(k.due, 0),"
		     " COALESCE(k.assignee, ''), COALESCE(t.last_ack, 0), COALESCE(t.last_waiting_notice, 0),"
		     " COALESCE(t.claim_seq, 0), COALESCE(k.reason, ''), COALESCE(k.private, 0),"
		     " COALESCE(t.last_in, 0), p.id, COALESCE(p.message_id, 0), COALESCE(m.ts, p.received),"
		     " COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0), COALESCE(t.rating_next, 0)"
		     " FROM (SELECT 1) x"
		     " LEFT JOIN threads t ON t.platform = $1 AND t.thread_key = $2"
		     " LEFT JOIN tickets k ON k.id = t.ticket_id"
		     " LEFT JOIN posts p ON p.platform = $1 AND p.post_id = $3"
		     " LEFT JOIN messages m ON m.id = p.message_id",
	[Q_THREAD_GET] = "SELECT t.id, t.owner, COALESCE(t.ticket_id, 0), COALESCE(k.due, 0), COALESCE(k.assignee, ''),"
			 " t.last_ack, t.last_waiting_notice, t.claim_seq, COALESCE(k.reason, ''), COALESCE(k.private, 0),"
			 " t.last_in, COALESCE(t.rating_ticket, 0), t.rating_asked, t.rating_next"
			 " FROM threads t LEFT JOIN tickets k ON k.id = t.ticket_id"
			 " WHERE t.platform = $1 AND t.thread_key = $2",
	[Q_RECORD] = "SELECT o_rc, o_thread, o_message, o_post, o_ticket, o_msgs, o_outs, o_last_in FROM fd_record_post("
		     "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
		     " $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38,"
		     " $39, $40, $41, $42)",
	[Q_HISTORY] = "SELECT * FROM (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.client_id, m.state FROM messages m"
		      " WHERE m.thread_id = (SELECT id FROM threads WHERE platform = $1 AND thread_key = $2)"
		      " AND m.state = 'sent' AND ($4::bigint = 0 OR m.id < $4::bigint)"
		      " ORDER BY m.id DESC LIMIT $3) h ORDER BY id",
	/* Lease what no live lease holds (rows another process is working on
	 * right now are skipped, not waited for). */
	[Q_PENDING] = "UPDATE outbox o SET lease_owner = $1, lease_until = fd_now_ms() + $2::bigint"
		      " WHERE o.id IN (SELECT id FROM outbox WHERE state = 'pending'"
		      "  AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < fd_now_ms())"
		      "  ORDER BY id LIMIT " SCAN_MAX " FOR UPDATE SKIP LOCKED)"
		      " RETURNING " STORE_SQL_OUT_COLUMNS,
	[Q_CLAIM] = "SELECT fd_claim($1, $2, $3)",
	[Q_SENT] = "WITH o AS (UPDATE outbox SET state = 'sent', sent = $2, attempts = attempts + 1, lease_owner = NULL"
		   " WHERE id = $1 AND state = 'pending' RETURNING message_id)"
		   " UPDATE messages SET state = 'sent' WHERE id = (SELECT message_id FROM o)",
	[Q_RETRY] = "UPDATE outbox SET attempts = $2, not_before = $3::bigint, last_error = $4,"
		    " lease_until = CASE WHEN lease_owner IS NULL THEN 0 ELSE $3::bigint + $5::bigint END"
		    " WHERE id = $1 AND state = 'pending'",
	[Q_FINAL] = "WITH o AS (UPDATE outbox SET state = $2::text, attempts = GREATEST(attempts, $3::bigint),"
		    " last_error = $4, lease_owner = NULL WHERE id = $1 AND state = 'pending' RETURNING message_id)"
		    " UPDATE messages SET state = $2::text WHERE id = (SELECT message_id FROM o)",
	[Q_RELEASE] = "UPDATE outbox SET lease_owner = NULL, lease_until = 0"
		      " WHERE id = $1 AND state = 'pending' AND lease_owner = $2",
	[Q_NOTIFY_ROW] = "SELECT o_rc, o_id FROM fd_notify($1, $2, $3, $4, $5, $6, $7)",
	[Q_OUT_BY_ID] = "SELECT " STORE_SQL_OUT_COLUMNS " FROM outbox o WHERE o.id = $1",
	[Q_COUNTS] = "SELECT state, count(*) FROM outbox GROUP BY state",
	[Q_TICKET_MESSAGES] = "SELECT * FROM (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.client_id, m.state"
			      " FROM messages m JOIN tickets k ON k.thread_id = m.thread_id"
			      " WHERE k.id = $1 AND m.state IN ('sent', 'pending', 'failed')"
			      " AND (k.resolved IS NULL OR m.ts <= k.resolved)"
			      " ORDER BY m.id DESC LIMIT $2) h ORDER BY id",
	[Q_TICKET_EXISTS] = "SELECT count(*) FROM tickets WHERE id = $1",
	[Q_TICKET_EVENTS] = "SELECT kind, actor, ts, COALESCE(message_id, 0), detail FROM"
			    " (SELECT * FROM ticket_events WHERE ticket_id = $1 ORDER BY id DESC LIMIT $2) e ORDER BY id",
	[Q_QUEUE_VERSION] = "SELECT (SELECT max(id) FROM ticket_events), (SELECT max(id) FROM messages),"
			    " (SELECT max(id) FROM outbox), (SELECT count(*) FROM outbox WHERE state = 'pending'),"
			    " (SELECT count(*) FROM tickets WHERE status IN ('waiting','claimed') AND due < $1),"
			    " (SELECT count(*) FROM tickets WHERE snoozed_until > $1)",
	[Q_TICKET_ACTION] = "SELECT fd_ticket_action($1, $2, $3, $4, $5)",
	[Q_AGENT_REPLY] = "SELECT o_rc, o_id, o_mid, o_thread, o_connector, o_thread_key, o_reply_to, o_private,"
			  " o_recipient, o_idem, o_last_in FROM fd_agent_reply($1, $2, $3, $4, $5, $6, $7)",
	[Q_CURSOR_GET] = "SELECT value FROM cursors WHERE connector = $1",
	[Q_CURSOR_SET] = "INSERT INTO cursors (connector, value, updated) VALUES ($1, $2, $3)"
			 " ON CONFLICT (connector) DO UPDATE SET value = excluded.value, updated = excluded.updated",
	[Q_STATE_GET] = "SELECT thread_key, value, updated FROM connector_state"
			" WHERE connector = $1 AND kind = $2 AND key = $3",
	[Q_STATE_PUT] = "INSERT INTO connector_state (connector, kind, key, thread_key, value, updated)"
			" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, kind, key) DO UPDATE"
			" SET thread_key = excluded.thread_key, value = excluded.value, updated = excluded.updated",
	[Q_STATE_DELETE] = "DELETE FROM connector_state WHERE connector = $1 AND kind = $2 AND key = $3",
	[Q_STATE_PRUNE] = "DELETE FROM connector_state WHERE connector = $1 AND kind = $2 AND updated < $3",
	[Q_VISITOR_FIND] = "SELECT o_rc, o_token, o_key, o_email, o_ticket, o_rating_ticket, o_rating_asked"
			   " FROM fd_visitor_find($1, $2, $3, $4)",
	[Q_VISITOR_OF_THREAD] = "SELECT 0, v.token, v.thread_key, v.email, COALESCE(t.ticket_id, 0),"
				" COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0)"
				" FROM visitors v LEFT JOIN threads t ON t.platform = 'webchat'"
				" AND t.thread_key = v.thread_key WHERE v.thread_key = $1",
	[Q_REPLY_NOTE] = "INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id, detail)"
			 " SELECT ticket_id, $2, $3, NULL, $1, $4 FROM ticket_events"
			 " WHERE message_id = $1 AND kind = 'reply' LIMIT 1",
	[Q_VISITOR_ADD] = "INSERT INTO visitors (token, thread_key, created, last_seen) VALUES ($1, $2, $3, $3)"
			  " ON CONFLICT (token) DO UPDATE SET last_seen = excluded.last_seen",
	[Q_VISITOR_EMAIL] = "INSERT INTO visitors (token, thread_key, created, last_seen, email)"
			    " VALUES ($1, $2, $3, $3, $4)"
			    " ON CONFLICT (token) DO UPDATE SET email = excluded.email, last_seen = excluded.last_seen",
	[Q_PRUNE] = "SELECT o_conversations, o_messages, o_outbox, o_visitors, o_state, o_more, o_contacts"
		    " FROM fd_prune($1, $2, $3, $4)",
	/* A read mark on a ticket retention deleted meanwhile is dropped, not
	 * a failed group. */
	[Q_SEEN] = "INSERT INTO ticket_seen (ticket_id, login, message_id) SELECT $1, lower($2), $3"
		   " WHERE EXISTS (SELECT 1 FROM tickets WHERE id = $1)"
		   " ON CONFLICT (ticket_id, login) DO UPDATE"
		   " SET message_id = greatest(ticket_seen.message_id, excluded.message_id)",
	[Q_TICKET_COUNTS] = "SELECT count(*) FILTER (WHERE NOT z), count(*) FILTER (WHERE NOT z AND status = 'waiting'),"
		     " count(*) FILTER (WHERE NOT z AND status = 'claimed' AND lower(assignee) = lower($1)),"
		     " count(*) FILTER (WHERE z), count(*) FILTER (WHERE NOT z AND due < $2)"
		     " FROM (SELECT status, assignee, due, COALESCE(snoozed_until > $2, false) AS z FROM tickets"
		     " WHERE status IN ('waiting', 'claimed')) t",
	[Q_TEAM_LIST] = "SELECT key, value, updated FROM team WHERE kind = $1 ORDER BY lower(key)",
	[Q_TEAM_PUT] = "INSERT INTO team (kind, key, value, updated) VALUES ($1, $2, $3, $4)"
		       " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
	[Q_TEAM_DELETE] = "DELETE FROM team WHERE kind = $1 AND lower(key) = lower($2)",
	[Q_TEAM_UNLABEL] = "DELETE FROM ticket_labels WHERE label = $1",
	[Q_TEAM_ACTION] = "SELECT fd_team_action($1, $2, $3, $4, $5, $6)",
	/* One address per customer: the web chat visitor's contact has it too. */
	[Q_CONTACT_EMAIL] = "UPDATE contacts SET email = $2 WHERE id = (SELECT contact_id FROM contact_keys"
			    " WHERE platform = 'webchat' AND author_id = $1) AND email IS DISTINCT FROM $2",
	[Q_CONTACT_UPDATE] = "SELECT fd_contact_update($1, $2, $3, $4, $5, $6, $7, $8)",
	[Q_CONTACT_GET] = "SELECT " STORE_SQL_CONTACT_COLUMNS " FROM contacts c WHERE c.id = $1",
	[Q_CONTACT_RENAME] = "SELECT count(*) FROM (SELECT fd_contact_set(id, NULL, NULL, $2, $3) FROM contacts"
			     " WHERE id = $1) x",
	[Q_CONTACT_SEARCH] = "SELECT " STORE_SQL_CONTACT_COLUMNS " FROM contacts c WHERE fd_text_words("
			     "COALESCE(c.name, '') || ' ' || COALESCE(c.email, '') || ' ' || COALESCE(c.handle, ''))"
			     " @@ fd_words($1) ORDER BY c.id DESC LIMIT $2",
	[Q_TAUGHT_LIST] = "SELECT " STORE_SQL_TAUGHT_COLUMNS " FROM taught ORDER BY id",
	/* One round trip: the example as stored (rc 1), none when the store
	 * holds its maximum (rc 2), or the new one (rc 0), with a note on the
	 * ticket it was taught from when that still exists. */
	[Q_TEACH] = "WITH found AS (SELECT " STORE_SQL_TAUGHT_COLUMNS " FROM taught WHERE rule = $1 AND text = $2 AND negative = $3),"
		    " room AS (SELECT count(*) < $7 AS ok FROM taught),"
		    " ins AS (INSERT INTO taught (rule, text, negative, by_login, ticket_id, created)"
		    "  SELECT $1, $2, $3, $4, NULLIF($5, 0), $6 WHERE NOT EXISTS (SELECT 1 FROM found)"
		    "  AND (SELECT ok FROM room) RETURNING " STORE_SQL_TAUGHT_COLUMNS "),"
		    " ev AS (INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail)"
		    "  SELECT k.id, $6, 'taught', $4, $8 FROM tickets k WHERE k.id = $5 AND EXISTS (SELECT 1 FROM ins))"
		    " SELECT 1, * FROM found UNION ALL SELECT 0, * FROM ins"
		    " UNION ALL SELECT 2, 0, NULL, NULL, 0, NULL, 0, 0 FROM room"
		    "  WHERE NOT ok AND NOT EXISTS (SELECT 1 FROM found)",
	[Q_UNTAUGHT] = "DELETE FROM taught WHERE id = $1",
	/* Unmatched: escalated without a rule for want of one (the decision's
	 * reason), the ticket from the event that filed the message. */
	[Q_UNANSWERED] = "SELECT p.id, COALESCE((SELECT e.ticket_id FROM ticket_events e WHERE e.message_id = p.message_id"
			 " AND e.kind IN ('opened', 'message') LIMIT 1), 0), p.platform, p.text, p.created"
			 " FROM posts p WHERE p.action = 'escalate' AND p.rule IS NULL AND p.created >= $1"
			 " AND p.decision::jsonb ->> 'reason' = 'unmatched'"
			 " AND NOT EXISTS (SELECT 1 FROM taught t WHERE t.text = p.text)"
			 " ORDER BY p.created DESC LIMIT $2",
	[Q_RATING_PUT] = "INSERT INTO ratings (ticket_id, score, comment, created) SELECT id, $2, $3, $4 FROM tickets"
			 " WHERE id = $1 ON CONFLICT (ticket_id) DO UPDATE SET score = excluded.score,"
			 " comment = excluded.comment, created = excluded.created",
	/* Handled: answered or acknowledged, and the conversation had no ticket
	 * opened within a day after it. */
	[Q_REPORT_POSTS] = "SELECT ((p.received - $3) / $4) * $4 + $3 AS b, p.platform, count(*),"
			   " count(*) FILTER (WHERE p.action = 'answer'), count(*) FILTER (WHERE p.action = 'acknowledge'),"
			   " count(*) FILTER (WHERE p.action = 'escalate'),"
			   " count(*) FILTER (WHERE p.action IN ('answer', 'acknowledge') AND NOT EXISTS (SELECT 1 FROM tickets k"
			   "  WHERE k.thread_id = p.thread_id AND k.created >= p.received AND k.created < p.received + 86400))"
			   " FROM posts p WHERE p.received >= $1 AND p.received < $2 AND p.action <> 'ignore'"
			   " AND (p.decision::jsonb ->> 'rating') IS NULL"
			   " GROUP BY b, p.platform ORDER BY b, p.platform",
	/* Posts per hour (UTC), for the busiest hours; a rating is no question. */
	[Q_REPORT_HOURS] = "SELECT (p.received / 3600) * 3600 AS h, count(*) FROM posts p"
			   " WHERE p.received >= $1 AND p.received < $2 AND p.action <> 'ignore'"
			   " AND (p.decision::jsonb ->> 'rating') IS NULL GROUP BY h ORDER BY h",
	[Q_RATING_ASK] = "SELECT o_rc, o_id, o_mid, o_thread, o_connector, o_thread_key, o_reply_to, o_private,"
			 " o_recipient, o_idem, o_last_in FROM fd_rating_ask($1, $2, $3, $4, $5)",
	[Q_RATING_ANSWER] = "SELECT fd_rating_answer($1, $2, $3, $4, $5, $6, $7)",
	[Q_REPORT_TICKETS] = "SELECT k.id, k.platform, k.reason, k.created, COALESCE(k.due, 0), COALESCE(k.first_response, 0),"
			     " COALESCE(k.resolved, 0), COALESCE(r.score, 0)"
			     " FROM tickets k LEFT JOIN ratings r ON r.ticket_id = k.id"
			     " WHERE k.created >= $1 AND k.created < $2 ORDER BY k.created, k.id",
};

/* One query for every ticket view (the SQLite backend's, in PostgreSQL's
 * words).  `opening` is the customer message of the ticket's "opened"
 * event, `latest` the newest customer message of the ticket (its
 * opened/message events): both bounded by the ticket.  The "due soon" and
 * "missed" marks count from the ticket's last change of priority or
 * reopening.  $1 is the viewer whose read mark is `seen`, $2 the limit;
 * the query's own values follow from $3. */
#define TICKET_SELECT                                                                                        \
	"SELECT q.*, mo.text, mo.ts, ml.text, ml.ts, c.name, COALESCE((SELECT v.email FROM visitors v"       \
	" WHERE q.platform = 'webchat' AND v.thread_key = q.thread_key), c.email), COALESCE(rt.score, 0),"   \
	" rt.comment FROM (SELECT k.id,"                                                                     \
	" k.status, k.priority, k.reason, k.platform, k.author, k.assignee, COALESCE(k.due, 0) AS due,"      \
	" k.created, k.updated, COALESCE(k.first_response, 0), COALESCE(k.resolved, 0) AS resolved_at,"     \
	" k.thread_id, th.connector, th.thread_key, th.is_private,"                                          \
	" (SELECT min(e.message_id) FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = 'opened')"    \
	"  AS open_id,"                                                                                      \
	" (SELECT max(e.message_id) FROM ticket_events e WHERE e.ticket_id = k.id"                           \
	"  AND e.kind IN ('opened', 'message')) AS last_id,"                                                 \
	" (SELECT max(m.id) FROM messages m WHERE m.thread_id = k.thread_id"                                 \
	"  AND (k.resolved IS NULL OR m.ts <= k.resolved)),"                                                 \
	" (SELECT count(*) FROM messages m WHERE m.thread_id = k.thread_id AND m.sender = 'agent'"           \
	"  AND m.state = 'pending')," STORE_SQL_TICKET_MARK("due_soon") STORE_SQL_TICKET_MARK("missed")                          \
	" CASE k.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END AS prank," \
	" COALESCE(k.snoozed_until, 0),"                                                                     \
	" (SELECT string_agg(l.label, E'\\n' ORDER BY l.label) FROM ticket_labels l WHERE l.ticket_id = k.id)," \
	" (SELECT max(e.id) FROM ticket_events e WHERE e.ticket_id = k.id),"                                 \
	" COALESCE((SELECT max(s.message_id) FROM ticket_seen s WHERE s.ticket_id = k.id"                    \
	"  AND lower(s.login) = lower($1)), 0),"                                                                  \
	" COALESCE(th.contact_id, 0) AS contact_id, COALESCE(k.reopened, 0), th.last_in"                     \
	" FROM tickets k JOIN threads th ON th.id = k.thread_id WHERE "

#define TICKET_FROM_END                                                                                      \
	") q LEFT JOIN messages mo ON mo.id = q.open_id LEFT JOIN messages ml ON ml.id = q.last_id"          \
	" LEFT JOIN contacts c ON c.id = q.contact_id LEFT JOIN ratings rt ON rt.ticket_id = q.id"

/* Orders of the ticket views, on tickets k (inner) and on the read model q
 * (outer), in the same sense. */
#define OUTER_DUE     "q.due = 0, q.due, q.prank, q.id"
#define OUTER_RESOLVED "q.resolved_at DESC, q.id DESC"
#define OUTER_NEWEST   "q.id DESC"
/* clang-format on */

struct waiter {
	store_done_fn done;
	void *arg;
};

struct pg {
	struct store base; /* first: what every operation receives */
	char *where;
	char *node;
	int64_t lease_ms;
	uv_loop_t *loop;
	struct pgconn *db;
	struct pgconn *watch;

	/* The group. */
	int tx_open;  /* BEGIN was sent */
	int tx_lost;  /* its connection was lost: the commit reports -1 */
	int tx_wrote; /* a write of it others should hear of */
	int urgent;   /* store_dirty 2 */
	size_t committing;
	/* Commits with nothing to commit, told after the last commit sent. */
	struct waiter *after;
	size_t nafter, capafter;

	int external;          /* another process notified a change */
	uint64_t last_scan_ms; /* the last time external_change asked for a reload */

	/* Leadership and pings on `watch`. */
	uv_timer_t tick;
	int tick_open;
	struct store_leader *leaders;
	int ping_out;
	uint64_t ping_sent_ms;

	int stopped;
	uint64_t errors; /* failed statements and commits since open (store_health) */
	void (*timing)(void *arg, enum store_timing t, double seconds);
	void *timing_arg;
};

static struct pg *pgs(struct store *base)
{
	return (struct pg *)base;
}

static const struct pg *cpgs(const struct store *base)
{
	return (const struct pg *)base;
}

/* --- small helpers --------------------------------------------------------------- */

/* A number as a parameter: into the caller's buffer. */
static const char *num(char *buf, long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/*
 * Log a failed statement: the server's primary message and SQLSTATE only
 * (its DETAIL may quote a row, and rows hold customer text).
 */
static void db_error(struct pg *s, const char *op, const PGresult *r)
{
	struct buf b;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!msg)
		msg = !r                                            ? pgconn_error(s->db)
		      : PQresultStatus(r) == PGRES_PIPELINE_ABORTED ? "not run: an earlier statement failed"
		                                                    : PQresStatus(PQresultStatus(r));
	s->errors++;
	buf_init(&b, 0);
	log_quote(&b, msg && *msg ? msg : "connection lost");
	log_error("store error", "op=%s db=%s code=%s err=%s", op, s->where, code ? code : "-", b.p);
	buf_free(&b);
}

/* A PostgreSQL array literal of texts. */
static void arr_text(struct buf *b, const char *const *v, size_t n)
{
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(b, ',');
		buf_putc(b, '"');
		for (const char *p = v[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(b, '\\');
			buf_putc(b, *p);
		}
		buf_putc(b, '"');
	}
	buf_putc(b, '}');
}

/* The integers of an array literal "{1,2,3}" into out (at most max): count. */
static size_t arr_ints(const char *s, int64_t *out, size_t max)
{
	size_t n = 0;
	if (*s == '{')
		s++;
	while (*s && *s != '}' && n < max) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* --- the group ------------------------------------------------------------------ */

static void begun(void *arg, const PGresult *r)
{
	struct pg *s = arg;
	if (!pg_ok(r))
		db_error(s, "begin", r);
}

/*
 * Open the group unless it is open (urgent: someone waits for what comes
 * next).  -1 when the group cannot take writes (the connection is down, or
 * was lost under the open group, which then fails as a whole).
 */
static int begin(struct pg *s, int urgent)
{
	if (s->tx_lost)
		return -1;
	if (!s->tx_open) {
		if (pgconn_query(s->db, Q_BEGIN, NULL, 0, NULL, begun, s) < 0)
			return -1;
		s->tx_open = 1;
	}
	s->tx_wrote = 1;
	if (urgent)
		s->urgent = 1;
	return 0;
}

/* A group write's answer: a failure fails the group (the server aborted
 * the transaction; its COMMIT answers ROLLBACK). */
static void wrote(void *arg, const PGresult *r)
{
	struct pg *s = arg;
	if (!pg_ok(r))
		db_error(s, "write", r);
}

/* A group write of one statement: 0 queued, -1 refused. */
static int group_write(struct pg *s, int urgent, enum q id, int n, const char *const *vals)
{
	if (begin(s, urgent) < 0 || pgconn_query(s->db, id, NULL, n, vals, wrote, s) < 0)
		return -1;
	pgconn_sync(s->db);
	return 0;
}

static int pg_dirty(const struct store *base)
{
	const struct pg *s = cpgs(base);
	return !s->tx_open ? 0 : s->urgent ? 2 : 1;
}

static size_t pg_committing(const struct store *base)
{
	return cpgs(base)->committing;
}

struct commit_op {
	struct pg *s;
	store_done_fn done;
	void *arg;
	uint64_t t0;
	int rollback; /* the group was given up: -1 whatever the answer */
};

static void tell_after(struct pg *s)
{
	size_t n = s->nafter;
	if (!n)
		return;
	struct waiter *v = xmalloc(n * sizeof(*v));
	memcpy(v, s->after, n * sizeof(*v));
	s->nafter = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].done)
			v[i].done(v[i].arg, 0);
	free(v);
}

static void committed(void *arg, const PGresult *r)
{
	struct commit_op *op = arg;
	struct pg *s = op->s;
	int rc =
	    r && PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus((PGresult *)r), "COMMIT") == 0
	        ? 0
	        : -1;
	if (op->rollback)
		rc = -1;
	else if (rc < 0)
		log_error("store group failed: rolled back", "db=%s answer=%s", s->where,
		          !r                                      ? "connection_lost"
		          : PQresultStatus(r) == PGRES_COMMAND_OK ? PQcmdStatus((PGresult *)r)
		                                                  : PQresStatus(PQresultStatus(r)));
	else if (s->timing)
		s->timing(s->timing_arg, STORE_T_COMMIT, (double)(time_mono_ns() - op->t0) / 1e9);
	s->committing--;
	store_done_fn done = op->done;
	void *darg = op->arg;
	free(op);
	if (done)
		done(darg, rc);
	if (!s->committing)
		tell_after(s);
}

/* Forget the group's state (its transaction ended one way or another). */
static void group_reset(struct pg *s)
{
	s->tx_open = 0;
	s->tx_lost = 0;
	s->tx_wrote = 0;
	s->urgent = 0;
}

static void pg_commit(struct store *base, store_done_fn done, void *arg)
{
	struct pg *s = pgs(base);
	if (!s->tx_open) {
		if (s->committing) {
			if (s->nafter == s->capafter) {
				s->capafter = s->capafter ? s->capafter * 2 : 8;
				s->after = xrealloc(s->after, s->capafter * sizeof(*s->after));
			}
			s->after[s->nafter++] = (struct waiter){done, arg};
		} else if (done) {
			done(arg, 0);
		}
		return;
	}
	struct commit_op *op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->done = done;
	op->arg = arg;
	op->t0 = time_mono_ns();
	int lost = s->tx_lost;
	group_reset(s);
	if (!lost) {
		/* Tell the other processes, on commit (NOTIFY is transactional). */
		const char *v[] = {s->node};
		if (pgconn_query(s->db, Q_NOTIFY, NULL, 1, v, wrote, s) < 0) {
			lost = 1;
		} else {
			/* A sync between: COMMIT always runs, even after an error
			 * (the server then answers it ROLLBACK). */
			pgconn_sync(s->db);
			if (pgconn_query(s->db, Q_COMMIT, NULL, 0, NULL, committed, op) < 0)
				lost = 1;
			else
				pgconn_sync(s->db);
		}
	}
	if (lost) {
		/* Everything sent before was answered (failed) already: the
		 * order of reports holds. */
		log_error("store group lost with its database connection", "db=%s", s->where);
		free(op);
		if (done)
			done(arg, -1);
		return;
	}
	s->committing++;
}

static void sync_done(void *arg, int rc)
{
	*(int *)arg = rc;
}

static int pg_commit_sync(struct store *base)
{
	struct pg *s = pgs(base);
	struct committed_sync {
		int rc;
	} c = {-9};
	pg_commit(base, sync_done, &c.rc);
	/* With a loop (shutdown): wait here for the answer. */
	if (c.rc == -9)
		pgconn_stop(s->db);
	return c.rc == -9 ? -1 : c.rc;
}

static void pg_rollback(struct store *base)
{
	struct pg *s = pgs(base);
	if (s->tx_open && !s->tx_lost && pgconn_query(s->db, Q_ROLLBACK, NULL, 0, NULL, wrote, s) == 0)
		pgconn_sync(s->db);
	group_reset(s);
}

static int pg_external_change(struct store *base)
{
	struct pg *s = pgs(base);
	uint64_t now = time_mono_ms();
	if (s->external) {
		s->external = 0;
		s->last_scan_ms = now;
		return 1;
	}
	/* Leases of a process that died expire: look again now and then. */
	if (now - s->last_scan_ms >= (uint64_t)s->lease_ms / 2) {
		s->last_scan_ms = now;
		return 1;
	}
	return 0;
}

static void pg_on_timing(struct store *base, void (*fn)(void *arg, enum store_timing t, double seconds),
                         void *arg)
{
	struct pg *s = pgs(base);
	s->timing = fn;
	s->timing_arg = arg;
}

static const char *pg_where(const struct store *base)
{
	return cpgs(base)->where;
}

/* --- operations: the common shape ----------------------------------------------- */

/*
 * One asynchronous operation on its way: what its callback needs, and the
 * strings it keeps (an operation keeps no pointer to its arguments).
 */
struct op {
	struct pg *s;
	union {
		store_done_fn done;
		store_lookup_fn lookup;
		store_thread_fn thread;
		store_recorded_fn recorded;
		store_msgs_fn msgs;
		store_rows_fn rows;
		store_row_fn row;
		store_counts_fn counts;
		store_tickets_fn tickets;
		store_events_fn events;
		store_u64_fn u64;
		store_text_fn text;
		store_state_fn state;
		store_visitor_fn visitor;
		store_pruned_fn pruned;
		store_ticket_counts_fn ticket_counts;
		store_team_fn team;
		store_contact_fn contact;
		store_contacts_fn contacts;
		store_taught_fn taught;
		store_questions_fn questions;
		store_report_fn report;
	} cb;
	void *arg;
	int64_t id;
	time_t now;
	size_t nrows;                              /* outbox rows asked for */
	char *kept[2 * (STORE_MAX_PARTS + 1) + 8]; /* copies the answer refers to */
	size_t nkeep;
	struct store_recorded rec;
	struct store_out rows[STORE_MAX_PARTS + 1];
};

static struct op *op_new(struct pg *s, void *arg)
{
	struct op *op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->arg = arg;
	return op;
}

static void op_free(struct op *op)
{
	for (size_t i = 0; i < op->nkeep; i++)
		free(op->kept[i]);
	free(op);
}

/* Keep a copy of v (NULL stays NULL) for the answer, at the next index. */
static void keep(struct op *op, const char *v)
{
	if (op->nkeep < ARRAY_LEN(op->kept))
		op->kept[op->nkeep++] = v ? xstrdup(v) : NULL;
}

static char *kept(const struct op *op, size_t i)
{
	return i < op->nkeep ? op->kept[i] : NULL;
}

/* Send one statement as a whole operation (read or write). */
static int send1(struct pg *s, enum q id, int n, const char *const *vals, pgconn_fn cb, struct op *op)
{
	if (pgconn_query(s->db, id, NULL, n, vals, cb, op) < 0)
		return -1;
	pgconn_sync(s->db);
	return 0;
}

/* Who an outbox row this process writes is leased to: the daemon that
 * wrote it (it sends it next); a command line sends nothing, so its rows
 * are anyone's at once (NULL). */
static const char *leaser(const struct pg *s)
{
	return s->loop ? s->node : NULL;
}

/* --- posts and threads --------------------------------------------------------------- */

static enum thread_owner owner_parse(const char *v)
{
	if (v && strcmp(v, "waiting") == 0)
		return THREAD_WAITING;
	if (v && strcmp(v, "claimed") == 0)
		return THREAD_CLAIMED;
	return THREAD_BOT;
}

/* The thread columns 0..10 of Q_LOOKUP / Q_THREAD_GET into t, and the
 * satisfaction question's three from column `rating` on. */
static void thread_read(const PGresult *r, struct store_thread *t, int rating)
{
	t->rating_ticket = pg_int(r, 0, rating);
	t->rating_asked = (time_t)pg_int(r, 0, rating + 1);
	t->rating_next = (int)pg_int(r, 0, rating + 2);
	t->id = pg_int(r, 0, 0);
	t->owner = owner_parse(pg_text(r, 0, 1));
	t->ticket_id = pg_int(r, 0, 2);
	t->ticket_due = (time_t)pg_int(r, 0, 3);
	snprintf(t->assignee, sizeof(t->assignee), "%s", pg_text(r, 0, 4));
	t->last_ack = (time_t)pg_int(r, 0, 5);
	t->last_waiting_notice = (time_t)pg_int(r, 0, 6);
	t->claim_seq = pg_int(r, 0, 7);
	snprintf(t->ticket_reason, sizeof(t->ticket_reason), "%s", pg_text(r, 0, 8));
	t->ticket_private = (int)pg_int(r, 0, 9);
	t->last_in = (time_t)pg_int(r, 0, 10);
}

static void looked_up(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct store_lookup l;
	memset(&l, 0, sizeof(l));
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "lookup", r);
		op->cb.lookup(op->arg, -1, NULL);
	} else {
		thread_read(r, &l.thread, 14);
		l.duplicate = !PQgetisnull(r, 0, 11);
		l.message_id = pg_int(r, 0, 12);
		l.ts = (time_t)pg_int(r, 0, 13);
		op->cb.lookup(op->arg, 0, &l);
	}
	op_free(op);
}

static void pg_lookup(struct store *base, const char *platform, const char *post_id, const char *thread_key,
                      store_lookup_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.lookup = cb;
	const char *v[] = {platform, thread_key, post_id};
	if (send1(s, Q_LOOKUP, 3, v, looked_up, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static void thread_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct store_thread t;
	memset(&t, 0, sizeof(t));
	if (!pg_ok(r)) {
		db_error(op->s, "thread_get", r);
		op->cb.thread(op->arg, -1, NULL);
	} else {
		if (PQntuples(r) == 1)
			thread_read(r, &t, 11);
		op->cb.thread(op->arg, 0, &t);
	}
	op_free(op);
}

static void pg_thread_get(struct store *base, const char *platform, const char *thread_key,
                          store_thread_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.thread = cb;
	const char *v[] = {platform, thread_key};
	if (send1(s, Q_THREAD_GET, 2, v, thread_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

/* Indexes into op->kept of what a recorded post's rows refer to. */
enum { K_CONNECTOR = 0, K_THREAD, K_REPLY_TO, K_RECIPIENT, K_FIRST_TEXT };

static void recorded(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct store_recorded *out = &op->rec;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "record_post", r);
	} else {
		rc = (int)pg_int(r, 0, 0);
		if (rc == 0) {
			int64_t mids[STORE_MAX_PARTS + 1], outs[STORE_MAX_PARTS + 1];
			size_t nm = arr_ints(pg_text(r, 0, 5), mids, ARRAY_LEN(mids));
			size_t no = arr_ints(pg_text(r, 0, 6), outs, ARRAY_LEN(outs));
			out->thread_id = pg_int(r, 0, 1);
			out->message_id = pg_int(r, 0, 2);
			out->post_row = pg_int(r, 0, 3);
			out->ticket_id = pg_int(r, 0, 4);
			time_t last_in = (time_t)pg_int(r, 0, 7);
			out->n_outbox = nm < no ? nm : no;
			if (out->n_outbox > op->nrows)
				out->n_outbox = op->nrows;
			for (size_t i = 0; i < out->n_outbox; i++) {
				struct store_out *o = &op->rows[i];
				out->reply_message[i] = mids[i];
				o->id = outs[i];
				o->thread_id = out->thread_id;
				o->message_id = mids[i];
				o->connector = kept(op, K_CONNECTOR);
				o->thread_key = kept(op, K_THREAD);
				o->reply_to = kept(op, K_REPLY_TO);
				o->recipient = kept(op, K_RECIPIENT);
				o->text = kept(op, K_FIRST_TEXT + 2 * i);
				o->idem_key = kept(op, K_FIRST_TEXT + 2 * i + 1);
				o->last_in = last_in;
			}
			out->rows = op->rows;
		}
	}
	op->cb.recorded(op->arg, rc, rc == 0 ? out : NULL);
	op_free(op);
}

static void pg_record_post(struct store *base, const struct store_record *r, store_recorded_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	const struct post *p = r->post;
	const struct decision *d = r->decision;
	const struct store_thread *t = r->thread;
	const char *connector = p->connector ? p->connector : p->platform;
	/* A person of the business writing on the platform (decision
	 * take_over): their message, not the customer's.  Neither what
	 * replies answer nor the reply window moves. */
	int staff = d->take_over;
	const char *last_post = staff ? NULL : p->reply_to_id ? p->reply_to_id : p->post_id;
	/* A person of the business opening the thread is not its customer. */
	int contact = !staff && p->author_id && *p->author_id && strlen(p->author_id) <= STORE_MAX_KEY;
	size_t n = r->n_parts < STORE_MAX_PARTS ? r->n_parts : STORE_MAX_PARTS;
	size_t total = n + (n && r->pointer ? 1 : 0);
	time_t last_ack = t->last_ack, last_notice = t->last_waiting_notice;
	const char *texts[STORE_MAX_PARTS + 1];
	const char *idems[STORE_MAX_PARTS + 1];
	char idem[STORE_MAX_PARTS + 1][24];
	struct buf at, ai, ap;
	char b[16][24];

	if (n > 0) {
		if (d->append_ticket)
			last_notice = r->now;
		else if (d->action == ACTION_ACK || d->action == ACTION_ESCALATE)
			last_ack = r->now;
	}
	struct op *op = op_new(s, arg);
	op->cb.recorded = cb;
	op->nrows = total;
	keep(op, connector);
	keep(op, p->thread_key);
	keep(op, last_post);
	keep(op, p->author_id && *p->author_id ? p->author_id : NULL);
	buf_init(&ap, 0);
	buf_putc(&ap, '{');
	for (size_t i = 0; i < total; i++) {
		int pointer = total > n && i == 0;
		texts[i] = pointer ? r->pointer : r->parts[total > n ? i - 1 : i];
		/* Reply parts keep the keys 0..n-1 whatever comes before them. */
		store_idem_key(idem[i], p->platform, p->post_id,
		               pointer ? STORE_POINTER_KEY : (total > n ? i - 1 : i));
		idems[i] = idem[i];
		keep(op, texts[i]);
		keep(op, idems[i]);
		buf_printf(&ap, "%s%d", i ? "," : "", pointer ? 0 : d->is_private ? 1 : 0);
	}
	buf_putc(&ap, '}');
	for (size_t i = 0; i < total; i++) {
		struct store_out *o = &op->rows[i];
		int pointer = total > n && i == 0;
		*o = (struct store_out){
		    .kind = OUT_REPLY,
		    .sender = "bot",
		    .is_private = pointer ? 0 : d->is_private,
		    .created = r->now,
		    .guard = t->claim_seq,
		};
	}
	buf_init(&at, 0);
	buf_init(&ai, 0);
	arr_text(&at, texts, total);
	arr_text(&ai, idems, total);
	enum priority pr = d->priority != PRIO_NONE ? d->priority : PRIO_NORMAL;
	char *comment = d->rating > 0 && d->rating_comment_len
	                    ? xstrndup(d->rating_comment, d->rating_comment_len)
	                    : NULL;
	const char *v[42] = {
	    p->platform,
	    p->post_id,
	    p->thread_key,
	    connector,
	    num(b[0], !p->is_public),
	    store_author_of(p),
	    p->author_id,
	    p->author_handle,
	    p->author_name,
	    p->text ? p->text : "",
	    p->client_id,
	    num(b[1], p->created ? p->created : r->now),
	    num(b[2], r->now),
	    d->ignored ? "ignore" : action_name(d->action),
	    d->rule,
	    r->decision_json ? r->decision_json : "{}",
	    last_post,
	    num(b[3], t->id),
	    thread_owner_name(t->owner),
	    num(b[4], t->ticket_id),
	    num(b[5], t->claim_seq),
	    num(b[6], t->last_ack),
	    num(b[7], t->last_waiting_notice),
	    d->open_ticket ? "t" : "f",
	    d->append_ticket ? "t" : "f",
	    priority_name(pr),
	    d->reason,
	    d->due ? num(b[8], d->due) : NULL,
	    num(b[9], d->is_private),
	    num(b[10], last_ack),
	    num(b[11], last_notice),
	    at.p,
	    ai.p,
	    ap.p,
	    leaser(s),
	    num(b[12], s->lease_ms),
	    staff ? "t" : "f",
	    contact ? "t" : "f",
	    store_bounded(p->author_name, STORE_MAX_CONTACT),
	    store_bounded(p->author_handle, STORE_MAX_CONTACT),
	    num(b[13], d->rating > 0 ? d->rating : 0),
	    comment,
	};
	int rc = begin(s, 1) < 0 ? -1 : send1(s, Q_RECORD, 42, v, recorded, op);
	free(comment);
	buf_free(&at);
	buf_free(&ai);
	buf_free(&ap);
	if (rc < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

/* --- messages ------------------------------------------------------------------------ */

/* The messages of a result (id, sender, agent, text, ts, client_id, state). */
static void msgs_give(struct op *op, const PGresult *r, int rc)
{
	size_t n = rc == 0 ? (size_t)PQntuples(r) : 0;
	struct store_msg *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		v[i] = (struct store_msg){
		    .id = pg_int(r, row, 0),
		    .from = pg_text(r, row, 1),
		    .agent = PQgetisnull(r, row, 2) ? NULL : PQgetvalue(r, row, 2),
		    .text = pg_text(r, row, 3),
		    .ts = (time_t)pg_int(r, row, 4),
		    .client_id = PQgetisnull(r, row, 5) ? NULL : PQgetvalue(r, row, 5),
		    .state = pg_text(r, row, 6),
		};
	}
	op->cb.msgs(op->arg, rc, v, n);
	free(v);
}

static void history_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int ok = pg_ok(r);
	if (!ok)
		db_error(op->s, "history", r);
	msgs_give(op, r, ok ? 0 : -1);
	op_free(op);
}

static void pg_history(struct store *base, const char *platform, const char *thread_key, int64_t before,
                       size_t limit, store_msgs_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.msgs = cb;
	const char *v[] = {platform, thread_key, limit ? num(b[0], (long long)limit) : NULL,
	                   num(b[1], before > 0 ? before : 0)};
	if (send1(s, Q_HISTORY, 4, v, history_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

/* --- outbox ----------------------------------------------------------------------------- */

/* The STORE_SQL_OUT_COLUMNS of row `row` of r into o (borrowed strings); 0, or -1 when
 * the row is incomplete (logged; skipped). */
static int out_read(const PGresult *r, int row, struct store_out *o)
{
	memset(o, 0, sizeof(*o));
	o->id = pg_int(r, row, 0);
	o->thread_id = pg_int(r, row, 1);
	o->message_id = pg_int(r, row, 2);
	o->kind = strcmp(pg_text(r, row, 3), "notify") == 0 ? OUT_NOTIFY : OUT_REPLY;
	o->connector = PQgetisnull(r, row, 4) ? NULL : PQgetvalue(r, row, 4);
	o->thread_key = PQgetisnull(r, row, 5) ? NULL : PQgetvalue(r, row, 5);
	o->reply_to = PQgetisnull(r, row, 6) ? NULL : PQgetvalue(r, row, 6);
	o->text = PQgetisnull(r, row, 7) ? NULL : PQgetvalue(r, row, 7);
	o->idem_key = PQgetisnull(r, row, 8) ? NULL : PQgetvalue(r, row, 8);
	o->sender = PQgetisnull(r, row, 9) ? NULL : PQgetvalue(r, row, 9);
	o->agent = PQgetisnull(r, row, 10) ? NULL : PQgetvalue(r, row, 10);
	o->is_private = (int)pg_int(r, row, 11);
	o->attempts = (int)pg_int(r, row, 12);
	o->not_before_ms = pg_int(r, row, 13);
	o->created = (time_t)pg_int(r, row, 14);
	o->guard = pg_int(r, row, 15);
	o->recipient = PQgetisnull(r, row, 16) ? NULL : PQgetvalue(r, row, 16);
	o->last_in = (time_t)pg_int(r, row, 17);
	o->rating = pg_int(r, row, 18);
	if (!o->connector || !o->thread_key || !o->text || !o->idem_key || !o->sender) {
		log_error("outbox row is incomplete", "id=%lld", (long long)o->id);
		return -1;
	}
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct store_out *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static void pending_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "outbox_pending", r);
		op->cb.rows(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r), k = 0;
	struct store_out *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		if (out_read(r, (int)i, &v[k]) == 0)
			k++;
	if (k > 1)
		qsort(v, k, sizeof(*v), by_id); /* RETURNING keeps no order */
	op->cb.rows(op->arg, 0, v, k);
	free(v);
	op_free(op);
}

static void pg_outbox_pending(struct store *base, store_rows_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[24];
	op->cb.rows = cb;
	const char *v[] = {s->node, num(b, s->lease_ms)};
	if (begin(s, 0) < 0 || send1(s, Q_PENDING, 2, v, pending_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void claimed(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "outbox_claim", r);
	} else {
		rc = (int)pg_int(r, 0, 0);
		if (rc == 3) {
			log_info("reply withdrawn", "outbox=%lld reason=claimed_by_agent", (long long)op->id);
			rc = 1;
		}
	}
	op->cb.done(op->arg, rc);
	op_free(op);
}

static void pg_outbox_claim(struct store *base, const struct store_out *o, store_done_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.done = cb;
	op->id = o->id;
	const char *v[] = {num(b[0], o->id), s->node, num(b[1], s->lease_ms)};
	if (begin(s, 0) < 0 || send1(s, Q_CLAIM, 3, v, claimed, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

static int pg_outbox_sent(struct store *base, int64_t id, time_t now)
{
	char b[2][24];
	const char *v[] = {num(b[0], id), num(b[1], now)};
	return group_write(pgs(base), 0, Q_SENT, 2, v);
}

static int pg_outbox_retry(struct store *base, int64_t id, int attempts, int64_t not_before_ms,
                           const char *error)
{
	struct pg *s = pgs(base);
	char b[4][24];
	const char *v[] = {num(b[0], id), num(b[1], attempts), num(b[2], not_before_ms), error,
	                   num(b[3], s->lease_ms)};
	return group_write(s, 0, Q_RETRY, 5, v);
}

static int final(struct pg *s, int64_t id, const char *state, int attempts, const char *error)
{
	char b[2][24];
	const char *v[] = {num(b[0], id), state, num(b[1], attempts), error};
	return group_write(s, 0, Q_FINAL, 4, v);
}

static int pg_outbox_failed(struct store *base, int64_t id, int attempts, const char *error)
{
	return final(pgs(base), id, "failed", attempts, error);
}

static int pg_outbox_cancel(struct store *base, int64_t id, const char *why)
{
	return final(pgs(base), id, "cancelled", 0, why);
}

static int pg_outbox_release(struct store *base, int64_t id)
{
	struct pg *s = pgs(base);
	char b[24];
	const char *v[] = {num(b, id), s->node};
	return group_write(s, 0, Q_RELEASE, 2, v);
}

/* Indexes into op->kept for a notification row. */
enum { KN_CONNECTOR = 0, KN_PAYLOAD, KN_IDEM };

static void notify_row_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct store_out o;
	if (!pg_ok(r) || PQntuples(r) != 1 || out_read(r, 0, &o) < 0) {
		db_error(op->s, "notify_find", r);
		op->cb.row(op->arg, -1, NULL);
	} else {
		op->cb.row(op->arg, 1, &o);
	}
	op_free(op);
}

static void notified(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct pg *s = op->s;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(s, "notify_insert", r);
		op->cb.row(op->arg, -1, NULL);
		op_free(op);
		return;
	}
	int64_t id = pg_int(r, 0, 1);
	if (pg_int(r, 0, 0) == 1) {
		/* A row with that key exists: hand it out as stored. */
		char b[24];
		const char *v[] = {num(b, id)};
		if (send1(s, Q_OUT_BY_ID, 1, v, notify_row_got, op) < 0) {
			op->cb.row(op->arg, -1, NULL);
			op_free(op);
		}
		return;
	}
	struct store_out o = {
	    .id = id,
	    .kind = OUT_NOTIFY,
	    .connector = kept(op, KN_CONNECTOR),
	    .thread_key = "",
	    .text = kept(op, KN_PAYLOAD),
	    .idem_key = kept(op, KN_IDEM),
	    .sender = "bot",
	    .is_private = 1,
	    .not_before_ms = op->id,
	    .created = op->now,
	    .guard = -1,
	};
	op->cb.row(op->arg, 0, &o);
	op_free(op);
}

static void pg_outbox_notify(struct store *base, const char *connector, const char *payload,
                             const char *idem_key, int64_t not_before_ms, time_t now, store_row_fn cb,
                             void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[3][24];
	op->cb.row = cb;
	op->id = not_before_ms;
	op->now = now;
	keep(op, connector);
	keep(op, payload);
	keep(op, idem_key);
	const char *v[] = {connector,
	                   payload,
	                   idem_key,
	                   num(b[0], not_before_ms),
	                   num(b[1], now),
	                   leaser(s),
	                   num(b[2], s->lease_ms)};
	if (begin(s, 1) < 0 || send1(s, Q_NOTIFY_ROW, 7, v, notified, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static void counts_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	struct store_outbox_counts c = {0};
	if (!pg_ok(r)) {
		db_error(op->s, "outbox_counts", r);
		op->cb.counts(op->arg, -1, NULL);
		op_free(op);
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *st = pg_text(r, i, 0);
		long v = (long)pg_int(r, i, 1);
		if (!strcmp(st, "pending"))
			c.pending = v;
		else if (!strcmp(st, "sent"))
			c.sent = v;
		else if (!strcmp(st, "failed"))
			c.failed = v;
		else if (!strcmp(st, "cancelled"))
			c.cancelled = v;
	}
	op->cb.counts(op->arg, 0, &c);
	op_free(op);
}

static void pg_outbox_counts(struct store *base, store_counts_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.counts = cb;
	if (send1(s, Q_COUNTS, 0, NULL, counts_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

/* --- tickets: the read model ---------------------------------------------------------- */

static const char *nul(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void ticket_read(const PGresult *r, int row, struct store_ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->id = pg_int(r, row, 0);
	t->status = nul(r, row, 1);
	t->priority = nul(r, row, 2);
	t->reason = nul(r, row, 3);
	t->platform = nul(r, row, 4);
	t->author = nul(r, row, 5);
	t->assignee = nul(r, row, 6);
	t->due = (time_t)pg_int(r, row, 7);
	t->created = (time_t)pg_int(r, row, 8);
	t->updated = (time_t)pg_int(r, row, 9);
	t->first_response = (time_t)pg_int(r, row, 10);
	t->resolved = (time_t)pg_int(r, row, 11);
	t->thread_id = pg_int(r, row, 12);
	t->connector = nul(r, row, 13);
	t->thread_key = nul(r, row, 14);
	t->is_private = (int)pg_int(r, row, 15);
	t->opening.id = pg_int(r, row, 16);
	t->latest.id = pg_int(r, row, 17);
	t->last_message_id = pg_int(r, row, 18);
	t->sending = (long)pg_int(r, row, 19);
	t->warned = (int)pg_int(r, row, 20);
	t->missed = (int)pg_int(r, row, 21); /* 22 is the priority rank */
	t->snoozed_until = (time_t)pg_int(r, row, 23);
	t->labels = store_split_lines(nul(r, row, 24), &t->n_labels);
	t->last_event_id = pg_int(r, row, 25);
	t->seen = pg_int(r, row, 26);
	t->contact_id = pg_int(r, row, 27);
	t->reopened = (time_t)pg_int(r, row, 28);
	t->last_in = (time_t)pg_int(r, row, 29);
	t->opening.text = nul(r, row, 30);
	t->opening.ts = (time_t)pg_int(r, row, 31);
	t->latest.text = nul(r, row, 32);
	t->latest.ts = (time_t)pg_int(r, row, 33);
	t->contact_name = nul(r, row, 34);
	t->email = nul(r, row, 35);
	t->rating = (int)pg_int(r, row, 36);
	t->rating_comment = nul(r, row, 37);
	if (!t->opening.text)
		t->opening.id = 0;
	if (!t->latest.text)
		t->latest.id = 0;
}

static void tickets_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "tickets", r);
		op->cb.tickets(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_ticket *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		ticket_read(r, (int)i, &v[i]);
	op->cb.tickets(op->arg, 0, v, n);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].n_labels; j++)
			free((char *)v[i].labels[j]);
		free((void *)v[i].labels);
	}
	free(v);
	op_free(op);
}

#define TICKETS_WHERE_MAX 8 /* values of a `where` (a search's words and filters) */
/*
 * The read model of the tickets `where` chooses (on tickets k, with its
 * own values vals[0..n) as $3..), `limit` of them (0: all) in `order`
 * (inner, on k) / `outer` (on the read model q), for viewer.  The tickets
 * are chosen and cut to the limit before the read model's columns are
 * computed for them.
 */
static void tickets_where(struct pg *s, const char *where, const char *order, const char *outer,
                          const char *const *vals, int n, size_t limit, const char *viewer,
                          store_tickets_fn cb, void *arg)
{
	struct op *op = op_new(s, arg);
	const char *v[2 + TICKETS_WHERE_MAX];
	char b[24];
	op->cb.tickets = cb;
	v[0] = viewer;
	v[1] = limit ? num(b, (long long)limit) : NULL;
	for (int i = 0; i < n && i < TICKETS_WHERE_MAX; i++)
		v[2 + i] = vals[i];
	char *text = xasprintf(TICKET_SELECT "k.id IN (SELECT k.id FROM tickets k WHERE %s ORDER BY %s"
	                                     " LIMIT $2::bigint)" TICKET_FROM_END " ORDER BY %s",
	                       where, order, outer);
	int rc = pgconn_query(s->db, -1, text, 2 + (n < TICKETS_WHERE_MAX ? n : TICKETS_WHERE_MAX), v,
	                      tickets_got, op);
	free(text);
	if (rc < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
		return;
	}
	pgconn_sync(s->db);
}

static void pg_tickets(struct store *base, const struct store_ticket_query *qr, store_tickets_fn cb,
                       void *arg)
{
	static const char *const where[] = {
	    [TICKETS_OPEN] = "k.status IN ('waiting', 'claimed')",
	    [TICKETS_WAITING] = "k.status = 'waiting'",
	    [TICKETS_CLAIMED] = "k.status = 'claimed'",
	    [TICKETS_RESOLVED] = "k.status = 'resolved'",
	    [TICKETS_ALL] = "true",
	};
	char b[24];
	const char *v[1];
	int n = 0;
	const char *w = qr->id > 0 ? "k.id = $3"
	                : qr->active_since > 0
	                    ? "(k.status <> 'resolved' OR k.created >= $3 OR k.resolved >= $3)"
	                    : where[qr->filter <= TICKETS_ALL ? qr->filter : 0];
	if (qr->id > 0)
		v[n++] = num(b, qr->id);
	else if (qr->active_since > 0)
		v[n++] = num(b, qr->active_since);
	int resolved = qr->filter == TICKETS_RESOLVED && qr->id <= 0 && qr->active_since <= 0;
	tickets_where(pgs(base), w, resolved ? STORE_SQL_ORDER_RESOLVED : STORE_SQL_ORDER_DUE,
	              resolved ? OUTER_RESOLVED : OUTER_DUE, v, n, qr->limit, qr->viewer, cb, arg);
}

/* store_ticket_messages: the messages, then (same operation) whether the
 * ticket exists, which only matters when there are none. */
struct tm_op {
	struct op op;
	PGresult *msgs;
	int failed;
};

static void ticket_messages_got(void *arg, const PGresult *r)
{
	struct tm_op *t = arg;
	if (!pg_ok(r)) {
		db_error(t->op.s, "ticket_messages", r);
		t->failed = 1;
	} else {
		t->msgs = PQcopyResult(r, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	}
}

static void ticket_exists_got(void *arg, const PGresult *r)
{
	struct tm_op *t = arg;
	int rc;
	if (t->failed || !t->msgs || !pg_ok(r)) {
		if (!t->failed)
			db_error(t->op.s, "ticket_exists", r);
		rc = -1;
	} else {
		rc = PQntuples(t->msgs) == 0 && pg_int(r, 0, 0) == 0 ? 1 : 0;
	}
	msgs_give(&t->op, t->msgs, rc);
	PQclear(t->msgs);
	free(t);
}

static void pg_ticket_messages(struct store *base, int64_t id, size_t limit, store_msgs_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct tm_op *t = xcalloc(1, sizeof(*t));
	char b[2][24];
	t->op.s = s;
	t->op.arg = arg;
	t->op.cb.msgs = cb;
	const char *v[] = {num(b[0], id), limit ? num(b[1], (long long)limit) : NULL};
	if (pgconn_query(s->db, Q_TICKET_MESSAGES, NULL, 2, v, ticket_messages_got, t) < 0) {
		free(t);
		cb(arg, -1, NULL, 0);
		return;
	}
	/* Answered even when the first failed: the second is its end. */
	if (pgconn_query(s->db, Q_TICKET_EXISTS, NULL, 1, v, ticket_exists_got, t) < 0) {
		t->failed = 1; /* the connection went: the first one's callback ran */
		ticket_exists_got(t, NULL);
		return;
	}
	pgconn_sync(s->db);
}

static void events_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "ticket_events", r);
		op->cb.events(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_event *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		v[i] = (struct store_event){
		    .kind = nul(r, row, 0),
		    .actor = nul(r, row, 1),
		    .ts = (time_t)pg_int(r, row, 2),
		    .message_id = pg_int(r, row, 3),
		    .detail = nul(r, row, 4),
		};
	}
	op->cb.events(op->arg, 0, v, n);
	free(v);
	op_free(op);
}

static void pg_ticket_events(struct store *base, int64_t id, size_t limit, store_events_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.events = cb;
	const char *v[] = {num(b[0], id), limit ? num(b[1], (long long)limit) : NULL};
	if (send1(s, Q_TICKET_EVENTS, 2, v, events_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void version_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int64_t v[6] = {0};
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "queue_version", r);
		op->cb.u64(op->arg, -1, 0);
	} else {
		for (int i = 0; i < 6; i++)
			v[i] = pg_int(r, 0, i);
		op->cb.u64(op->arg, 0, hash64(v, sizeof(v)));
	}
	op_free(op);
}

static void pg_queue_version(struct store *base, time_t now, store_u64_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[24];
	op->cb.u64 = cb;
	const char *v[] = {num(b, now)};
	if (send1(s, Q_QUEUE_VERSION, 1, v, version_got, op) < 0) {
		op_free(op);
		cb(arg, -1, 0);
	}
}

/* --- tickets: actions ------------------------------------------------------------------ */

static void acted(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1)
		db_error(op->s, "ticket_action", r);
	else
		rc = (int)pg_int(r, 0, 0);
	op->cb.done(op->arg, rc);
	op_free(op);
}

static void action(struct pg *s, const char *what, int64_t id, const char *actor, time_t now,
                   const char *detail, store_done_fn cb, void *arg)
{
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.done = cb;
	const char *v[] = {what, num(b[0], id), actor, num(b[1], now), detail};
	if (begin(s, 1) < 0 || send1(s, Q_TICKET_ACTION, 5, v, acted, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

static void pg_ticket_claim(struct store *base, int64_t id, const char *login, time_t now, store_done_fn cb,
                            void *arg)
{
	action(pgs(base), "claim", id, login, now, NULL, cb, arg);
}

static void pg_ticket_release(struct store *base, int64_t id, const char *actor, time_t now, store_done_fn cb,
                              void *arg)
{
	action(pgs(base), "release", id, actor, now, NULL, cb, arg);
}

static void pg_ticket_resolve(struct store *base, int64_t id, const char *actor, time_t now, store_done_fn cb,
                              void *arg)
{
	action(pgs(base), "resolve", id, actor, now, NULL, cb, arg);
}

static void pg_ticket_mark(struct store *base, int64_t id, const char *kind, const char *detail, time_t now,
                           store_done_fn cb, void *arg)
{
	/* Only marks, never an action, go by this name. */
	if (!kind || !strcmp(kind, "claim") || !strcmp(kind, "release") || !strcmp(kind, "resolve")) {
		cb(arg, -1);
		return;
	}
	action(pgs(base), kind, id, NULL, now, detail, cb, arg);
}

/* Indexes into op->kept for messages into a ticket's thread (an agent's
 * reply, the satisfaction question): the agent's name, then the parts. */
enum { KA_NAME = 0, KA_FIRST_PART };

/* fd_thread_rows' rows (fd_agent_reply, fd_rating_ask): an agent's reply,
 * or with op->id the question about ticket op->id, from the bot. */
static void replied(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	size_t n = 0;
	if (!pg_ok(r) || PQntuples(r) < 1) {
		db_error(op->s, op->id ? "rating_ask" : "agent_reply", r);
	} else if ((rc = (int)pg_int(r, 0, 0)) == 0) {
		for (int i = 0; i < PQntuples(r) && n < ARRAY_LEN(op->rows); i++) {
			if (pg_int(r, i, 1) == 0)
				continue;
			struct store_out *o = &op->rows[n];
			*o = (struct store_out){
			    .id = pg_int(r, i, 1),
			    .message_id = pg_int(r, i, 2),
			    .thread_id = pg_int(r, i, 3),
			    .kind = OUT_REPLY,
			    .connector = PQgetvalue(r, i, 4),
			    .thread_key = PQgetvalue(r, i, 5),
			    .reply_to = (char *)nul(r, i, 6),
			    .is_private = (int)pg_int(r, i, 7),
			    .recipient = (char *)nul(r, i, 8),
			    .idem_key = PQgetvalue(r, i, 9),
			    .text = kept(op, KA_FIRST_PART + n),
			    .sender = op->id ? "bot" : "agent",
			    .agent = kept(op, KA_NAME),
			    .rating = op->id,
			    .created = op->now,
			    .guard = -1,
			    .last_in = (time_t)pg_int(r, i, 10),
			};
			n++;
		}
	}
	op->cb.rows(op->arg, rc, rc == 0 ? op->rows : NULL, rc == 0 ? n : 0);
	op_free(op);
}

static void pg_agent_reply(struct store *base, int64_t id, const char *login, const char *agent_name,
                           const char *const *parts, size_t n_parts, time_t now, store_rows_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[3][24];
	struct buf at;
	op->cb.rows = cb;
	op->now = now;
	keep(op, agent_name);
	for (size_t i = 0; i < n_parts; i++)
		keep(op, parts[i]);
	buf_init(&at, 0);
	arr_text(&at, parts, n_parts);
	const char *v[] = {num(b[0], id),         login, agent_name, at.p, num(b[1], now), leaser(s),
	                   num(b[2], s->lease_ms)};
	int rc = begin(s, 1) < 0 ? -1 : send1(s, Q_AGENT_REPLY, 7, v, replied, op);
	buf_free(&at);
	if (rc < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void pg_rating_ask(struct store *base, int64_t id, const char *const *parts, size_t n_parts,
                          time_t now, store_rows_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[3][24];
	struct buf at;
	op->cb.rows = cb;
	op->now = now;
	op->id = id;
	keep(op, NULL);
	for (size_t i = 0; i < n_parts; i++)
		keep(op, parts[i]);
	buf_init(&at, 0);
	arr_text(&at, parts, n_parts);
	const char *v[] = {num(b[0], id), at.p, num(b[1], now), leaser(s), num(b[2], s->lease_ms)};
	int rc = begin(s, 1) < 0 ? -1 : send1(s, Q_RATING_ASK, 5, v, replied, op);
	buf_free(&at);
	if (rc < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void rating_answered(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1)
		db_error(op->s, "rating_answer", r);
	else
		rc = (int)pg_int(r, 0, 0);
	op->cb.done(op->arg, rc);
	op_free(op);
}

static void pg_rating_answer(struct store *base, const char *platform, const char *thread_key, int64_t ticket,
                             int score, const char *comment, time_t asked_since, time_t now, store_done_fn cb,
                             void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[4][24];
	op->cb.done = cb;
	const char *v[] = {platform,         thread_key, num(b[0], ticket),
	                   num(b[1], score), comment,    num(b[2], asked_since),
	                   num(b[3], now)};
	if (begin(s, 1) < 0 || send1(s, Q_RATING_ANSWER, 7, v, rating_answered, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

/* --- cursors, connector state, visitors ------------------------------------------------ */

static void cursor_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "cursor_get", r);
		op->cb.text(op->arg, -1, NULL);
	} else if (PQntuples(r) == 0) {
		op->cb.text(op->arg, 1, NULL);
	} else {
		op->cb.text(op->arg, 0, pg_text(r, 0, 0));
	}
	op_free(op);
}

static void pg_cursor_get(struct store *base, const char *name, store_text_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.text = cb;
	const char *v[] = {name};
	if (send1(s, Q_CURSOR_GET, 1, v, cursor_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static int pg_cursor_set(struct store *base, const char *name, const char *value, time_t now)
{
	char b[24];
	const char *v[] = {name, value, num(b, now)};
	return group_write(pgs(base), 1, Q_CURSOR_SET, 3, v);
}

static void state_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "state_get", r);
		op->cb.state(op->arg, -1, NULL);
	} else if (PQntuples(r) == 0) {
		op->cb.state(op->arg, 1, NULL);
	} else {
		struct store_state st = {
		    .thread_key = nul(r, 0, 0),
		    .value = pg_text(r, 0, 1),
		    .updated = (time_t)pg_int(r, 0, 2),
		};
		op->cb.state(op->arg, 0, &st);
	}
	op_free(op);
}

static void pg_state_get(struct store *base, const char *connector, const char *kind, const char *key,
                         store_state_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.state = cb;
	const char *v[] = {connector, kind, key};
	if (send1(s, Q_STATE_GET, 3, v, state_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static int pg_state_put(struct store *base, const char *connector, const char *kind, const char *key,
                        const char *thread_key, const char *value, time_t now)
{
	char b[24];
	const char *v[] = {connector, kind, key, thread_key, value, num(b, now)};
	return group_write(pgs(base), 1, Q_STATE_PUT, 6, v);
}

static int pg_state_delete(struct store *base, const char *connector, const char *kind, const char *key)
{
	const char *v[] = {connector, kind, key};
	return group_write(pgs(base), 1, Q_STATE_DELETE, 3, v);
}

static int pg_state_prune(struct store *base, const char *connector, const char *kind, time_t before)
{
	char b[24];
	const char *v[] = {connector, kind, num(b, before)};
	return group_write(pgs(base), 1, Q_STATE_PRUNE, 3, v);
}

/* A visitor row (rc, token, thread key, e-mail, ticket) for the callback. */
static void visitor_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "visitor", r);
		op->cb.visitor(op->arg, -1, NULL);
	} else if (PQntuples(r) != 1 || pg_int(r, 0, 0) != 0) {
		op->cb.visitor(op->arg, 1, NULL);
	} else {
		struct store_visitor v = {
		    .token = pg_text(r, 0, 1),
		    .thread_key = pg_text(r, 0, 2),
		    .email = nul(r, 0, 3),
		    .ticket_open = pg_int(r, 0, 4) > 0,
		    .rating_ticket = pg_int(r, 0, 5),
		    .rating_asked = (time_t)pg_int(r, 0, 6),
		};
		op->cb.visitor(op->arg, 0, &v);
	}
	op_free(op);
}

static void pg_visitor_find(struct store *base, const char *token, time_t now, store_visitor_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[3][24];
	op->cb.visitor = cb;
	const char *v[] = {token, num(b[0], now), num(b[1], STORE_VISITOR_TTL),
	                   num(b[2], STORE_VISITOR_SEEN)};
	/* It may mark the visitor seen: a write someone waits for. */
	if (begin(s, 1) < 0 || send1(s, Q_VISITOR_FIND, 4, v, visitor_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static void pg_visitor_of_thread(struct store *base, const char *thread_key, store_visitor_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.visitor = cb;
	const char *v[] = {thread_key};
	if (send1(s, Q_VISITOR_OF_THREAD, 1, v, visitor_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static int pg_reply_note(struct store *base, int64_t message_id, const char *kind, const char *detail,
                         time_t now)
{
	char b[2][24];
	const char *v[] = {num(b[0], message_id), num(b[1], now), kind, detail};
	return group_write(pgs(base), 1, Q_REPLY_NOTE, 4, v);
}

static int pg_visitor_add(struct store *base, const char *token, const char *thread_key, time_t now)
{
	char b[24];
	const char *v[] = {token, thread_key, num(b, now)};
	return group_write(pgs(base), 1, Q_VISITOR_ADD, 3, v);
}

static int pg_visitor_set_email(struct store *base, const char *token, const char *thread_key,
                                const char *email, time_t now)
{
	struct pg *s = pgs(base);
	char b[24];
	const char *v[] = {token, thread_key, num(b, now), email};
	const char *c[] = {thread_key, email};
	if (group_write(s, 1, Q_VISITOR_EMAIL, 4, v) < 0)
		return -1;
	return group_write(s, 1, Q_CONTACT_EMAIL, 2, c);
}

/* --- retention and health ------------------------------------------------------------- */

static void pruned(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "prune", r);
		op->cb.pruned(op->arg, -1, NULL);
	} else {
		struct store_pruned p = {
		    .conversations = (long)pg_int(r, 0, 0),
		    .messages = (long)pg_int(r, 0, 1),
		    .outbox = (long)pg_int(r, 0, 2),
		    .visitors = (long)pg_int(r, 0, 3),
		    .state = (long)pg_int(r, 0, 4),
		    .more = (int)pg_int(r, 0, 5),
		    .contacts = (long)pg_int(r, 0, 6),
		};
		op->cb.pruned(op->arg, 0, &p);
	}
	op_free(op);
}

static void pg_prune(struct store *base, const struct store_retention *rt, time_t now, size_t batch,
                     store_pruned_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[4][24];
	op->cb.pruned = cb;
	const char *v[] = {
	    rt->conversations > 0 ? num(b[0], (long long)now - rt->conversations) : NULL,
	    rt->outbox > 0 ? num(b[1], (long long)now - rt->outbox) : NULL,
	    rt->visitors > 0 ? num(b[2], (long long)now - rt->visitors) : NULL,
	    num(b[3], batch ? (long long)batch : 1),
	};
	if (begin(s, 1) < 0 || send1(s, Q_PRUNE, 4, v, pruned, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

/*
 * The store takes work while its database connection is up.  A server that
 * runs out of room or fails its writes says so in the failures of the
 * statements (the group fails, the log names the error), and its space is
 * the server's to watch: free_bytes is unknown here.
 */
static void pg_health(const struct store *base, struct store_health *h)
{
	const struct pg *s = cpgs(base);
	memset(h, 0, sizeof(*h));
	h->free_bytes = -1;
	h->errors = s->errors;
	if (!pgconn_up(s->db)) {
		h->state = STORE_FAILING;
		snprintf(h->detail, sizeof(h->detail), "database unreachable (reconnecting): %.100s",
		         pgconn_error(s->db));
	}
}

/* --- the team's side ------------------------------------------------------------------------ */

static int pg_ticket_seen(struct store *base, int64_t id, const char *login, int64_t message_id)
{
	char b[2][24];
	const char *v[] = {num(b[0], id), login, num(b[1], message_id)};
	return group_write(pgs(base), 0, Q_SEEN, 3, v);
}

static void ticket_counted(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "ticket_counts", r);
		op->cb.ticket_counts(op->arg, -1, NULL);
	} else {
		struct store_ticket_counts c = {
		    .open = (long)pg_int(r, 0, 0),
		    .waiting = (long)pg_int(r, 0, 1),
		    .mine = (long)pg_int(r, 0, 2),
		    .snoozed = (long)pg_int(r, 0, 3),
		    .overdue = (long)pg_int(r, 0, 4),
		};
		op->cb.ticket_counts(op->arg, 0, &c);
	}
	op_free(op);
}

static void pg_ticket_counts(struct store *base, const char *login, time_t now, store_ticket_counts_fn cb,
                             void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[24];
	op->cb.ticket_counts = cb;
	const char *v[] = {login ? login : "", num(b, now)};
	if (send1(s, Q_TICKET_COUNTS, 2, v, ticket_counted, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static void team_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "team_list", r);
		op->cb.team(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_team_item *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct store_team_item){
		    .key = pg_text(r, (int)i, 0),
		    .value = pg_text(r, (int)i, 1),
		    .updated = (time_t)pg_int(r, (int)i, 2),
		};
	op->cb.team(op->arg, 0, v, n);
	free(v);
	op_free(op);
}

static void pg_team_list(struct store *base, const char *kind, store_team_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.team = cb;
	const char *v[] = {kind};
	if (send1(s, Q_TEAM_LIST, 1, v, team_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static int pg_team_put(struct store *base, const char *kind, const char *key, const char *value, time_t now)
{
	struct pg *s = pgs(base);
	char b[24];
	const char *d[] = {kind, key};
	const char *v[] = {kind, key, value, num(b, now)};
	/* One row a key whatever its case, as SQLite's NOCASE key keeps it. */
	if (group_write(s, 1, Q_TEAM_DELETE, 2, d) < 0)
		return -1;
	return group_write(s, 1, Q_TEAM_PUT, 4, v);
}

static int pg_team_delete(struct store *base, const char *kind, const char *key)
{
	struct pg *s = pgs(base);
	const char *v[] = {kind, key};
	if (group_write(s, 1, Q_TEAM_DELETE, 2, v) < 0)
		return -1;
	if (strcmp(kind, "label") != 0)
		return 0;
	const char *l[] = {key};
	return group_write(s, 1, Q_TEAM_UNLABEL, 1, l);
}

/* --- the team's side of a ticket --------------------------------------------------------- */

static void team_acted(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1)
		db_error(op->s, "team_action", r);
	else
		rc = (int)pg_int(r, 0, 0);
	op->cb.done(op->arg, rc);
	op_free(op);
}

/* One of fd_team_action's actions on ticket id, as a group write. */
static void team_action(struct pg *s, const char *what, int64_t id, const char *actor, time_t now,
                        const char *text, time_t when, store_done_fn cb, void *arg)
{
	struct op *op = op_new(s, arg);
	char b[3][24];
	op->cb.done = cb;
	const char *v[] = {what, num(b[0], id), actor, num(b[1], now), text, num(b[2], when > 0 ? when : 0)};
	if (begin(s, 1) < 0 || send1(s, Q_TEAM_ACTION, 6, v, team_acted, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

static void pg_ticket_note(struct store *base, int64_t id, const char *login, const char *text, time_t now,
                           store_done_fn cb, void *arg)
{
	team_action(pgs(base), "note", id, login, now, text, 0, cb, arg);
}

static void pg_ticket_label(struct store *base, int64_t id, const char *label, int on, const char *actor,
                            time_t now, store_done_fn cb, void *arg)
{
	team_action(pgs(base), on ? "label" : "unlabel", id, actor, now, label, 0, cb, arg);
}

static void pg_ticket_priority(struct store *base, int64_t id, const char *priority, time_t due,
                               const char *actor, time_t now, store_done_fn cb, void *arg)
{
	team_action(pgs(base), "priority", id, actor, now, priority, due, cb, arg);
}

static void pg_ticket_reopen(struct store *base, int64_t id, time_t due, const char *actor, time_t now,
                             store_done_fn cb, void *arg)
{
	team_action(pgs(base), "reopen", id, actor, now, NULL, due, cb, arg);
}

static void pg_ticket_snooze(struct store *base, int64_t id, time_t until, const char *actor, time_t now,
                             store_done_fn cb, void *arg)
{
	char iso[40] = "";
	if (until > 0)
		time_iso_utc(until, iso, sizeof(iso));
	team_action(pgs(base), "snooze", id, actor, now, until > 0 ? iso : NULL, until, cb, arg);
}

/* --- search --------------------------------------------------------------------------------- */

/*
 * The words a person typed as an array literal for fd_words: at most
 * STORE_SEARCH_WORDS of them, words without a letter or digit dropped.
 * 0 with the array in out, 1 when no word is left.
 */
static int search_words(const char *text, struct buf *out)
{
	const char *w[STORE_SEARCH_WORDS];
	char *copy = xstrdup(text ? text : "");
	size_t n = 0;
	for (char *p = copy; *p && n < STORE_SEARCH_WORDS;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		char *start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
		int useful = 0;
		for (const char *c = start; *c; c++)
			if ((unsigned char)*c >= 0x80 || (*c >= '0' && *c <= '9') ||
			    ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
				useful = 1;
		if (useful)
			w[n++] = start;
	}
	if (n)
		arr_text(out, w, n);
	free(copy);
	return n ? 0 : 1;
}

/*
 * Tickets whose messages (within the ticket), private notes or contact
 * hold every word, with the filters of q, newest first; with no words,
 * the filters alone.  Every value is a parameter ($3 the words, then the
 * filters): nothing a person typed becomes SQL.
 */
static void pg_search(struct store *base, const struct store_search *q, store_tickets_fn cb, void *arg)
{
	static const char *const status[] = {
	    [TICKETS_OPEN] = " AND k.status IN ('waiting', 'claimed')",
	    [TICKETS_WAITING] = " AND k.status = 'waiting'",
	    [TICKETS_CLAIMED] = " AND k.status = 'claimed'",
	    [TICKETS_RESOLVED] = " AND k.status = 'resolved'",
	    [TICKETS_ALL] = "",
	};
	struct pg *s = pgs(base);
	size_t limit = q->limit && q->limit < STORE_SEARCH_MAX ? q->limit : STORE_SEARCH_MAX;
	struct buf words, w;
	const char *v[TICKETS_WHERE_MAX];
	char b[2][24];
	int n = 0;

	buf_init(&words, 0);
	buf_init(&w, 0);
	int have_words = search_words(q->text, &words) == 0;
	buf_puts(&w, "true");
	buf_puts(&w, status[q->status <= TICKETS_ALL ? q->status : TICKETS_ALL]);
	if (have_words) {
		v[n++] = words.p;
		buf_printf(
		    &w,
		    " AND (EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = k.thread_id"
		    "  AND (k.resolved IS NULL OR m.ts <= k.resolved)"
		    "  AND fd_text_words(m.text) @@ fd_words($%d))"
		    " OR EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = 'note'"
		    "  AND fd_text_words(e.detail) @@ fd_words($%d))"
		    " OR EXISTS (SELECT 1 FROM threads t JOIN contacts c ON c.id = t.contact_id"
		    "  WHERE t.id = k.thread_id AND fd_text_words(COALESCE(c.name, '') || ' ' ||"
		    "  COALESCE(c.email, '') || ' ' || COALESCE(c.handle, '')) @@ fd_words($%d)))",
		    n + 2, n + 2, n + 2);
	}
	if (q->priority) {
		v[n++] = q->priority;
		buf_printf(&w, " AND k.priority = $%d", n + 2);
	}
	if (q->platform) {
		v[n++] = q->platform;
		buf_printf(&w, " AND k.platform = $%d", n + 2);
	}
	if (q->assignee && !*q->assignee) {
		buf_puts(&w, " AND k.assignee IS NULL");
	} else if (q->assignee) {
		v[n++] = q->assignee;
		buf_printf(&w, " AND lower(k.assignee) = lower($%d)", n + 2);
	}
	if (q->label) {
		v[n++] = q->label;
		buf_printf(
		    &w,
		    " AND EXISTS (SELECT 1 FROM ticket_labels l WHERE l.ticket_id = k.id AND l.label = $%d)",
		    n + 2);
	}
	if (q->since > 0) {
		v[n++] = num(b[0], q->since);
		buf_printf(&w, " AND k.created >= $%d::bigint", n + 2);
	}
	if (q->until > 0) {
		v[n++] = num(b[1], q->until);
		buf_printf(&w, " AND k.created < $%d::bigint", n + 2);
	}
	tickets_where(s, w.p, STORE_SQL_ORDER_NEWEST, OUTER_NEWEST, v, n, limit, q->viewer, cb, arg);
	buf_free(&words);
	buf_free(&w);
}

/* --- contacts ------------------------------------------------------------------------------- */

static void contact_read(const PGresult *r, int row, struct store_contact *c)
{
	*c = (struct store_contact){
	    .id = pg_int(r, row, 0),
	    .name = nul(r, row, 1),
	    .email = nul(r, row, 2),
	    .handle = nul(r, row, 3),
	    .platform = nul(r, row, 4),
	    .external_id = nul(r, row, 5),
	    .name_source = (enum store_name_source)pg_int(r, row, 6),
	    .first_seen = (time_t)pg_int(r, row, 7),
	    .last_seen = (time_t)pg_int(r, row, 8),
	    .conversations = (long)pg_int(r, row, 9),
	};
}

/* fd_contact_update's answer: 1 (the author's contact has another
 * external id, and stays as it is) is known only now: said in the log. */
static void contact_updated(void *arg, const PGresult *r)
{
	struct pg *s = arg;
	if (!pg_ok(r) || PQntuples(r) != 1)
		db_error(s, "contact_update", r);
	else if (pg_int(r, 0, 0) == 1)
		log_info("contact kept: this conversation belongs to another signed-in customer", "db=%s",
		         s->where);
}

static int pg_contact_update(struct store *base, const struct store_contact_info *ci, time_t now)
{
	struct pg *s = pgs(base);
	enum store_name_source src = ci->external_id ? NAME_VERIFIED : ci->name_source;
	if (src > NAME_VERIFIED)
		src = NAME_VERIFIED;
	char b[2][24];
	const char *v[] = {ci->platform, ci->author_id,   ci->handle,    ci->name, num(b[0], (long long)src),
	                   ci->email,    ci->external_id, num(b[1], now)};
	if (begin(s, 1) < 0 || pgconn_query(s->db, Q_CONTACT_UPDATE, NULL, 8, v, contact_updated, s) < 0)
		return -1;
	pgconn_sync(s->db);
	return 0;
}

static void contact_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "contact_get", r);
		op->cb.contact(op->arg, -1, NULL);
	} else if (PQntuples(r) == 0) {
		op->cb.contact(op->arg, 1, NULL);
	} else {
		struct store_contact c;
		contact_read(r, 0, &c);
		op->cb.contact(op->arg, 0, &c);
	}
	op_free(op);
}

static void pg_contact_get(struct store *base, int64_t id, store_contact_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[24];
	op->cb.contact = cb;
	const char *v[] = {num(b, id)};
	if (send1(s, Q_CONTACT_GET, 1, v, contact_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL);
	}
}

static void pg_contact_tickets(struct store *base, int64_t id, size_t limit, const char *viewer,
                               store_tickets_fn cb, void *arg)
{
	char b[24];
	const char *v[] = {num(b, id)};
	/* The contact's own threads, and those of contacts who gave the
	 * same e-mail address. */
	tickets_where(pgs(base),
	              "k.thread_id IN (SELECT t.id FROM threads t WHERE t.contact_id = $3"
	              " OR t.contact_id IN (SELECT o.id FROM contacts o, contacts c WHERE c.id = $3"
	              " AND c.email IS NOT NULL AND lower(o.email) = lower(c.email)))",
	              STORE_SQL_ORDER_NEWEST, OUTER_NEWEST, v, 1, limit, viewer, cb, arg);
}

static void renamed(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r) || PQntuples(r) != 1)
		db_error(op->s, "contact_rename", r);
	else
		rc = pg_int(r, 0, 0) > 0 ? 0 : 1;
	op->cb.done(op->arg, rc);
	op_free(op);
}

static void pg_contact_rename(struct store *base, int64_t id, const char *name, store_done_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.done = cb;
	const char *v[] = {num(b[0], id), name, num(b[1], NAME_AGENT)};
	if (begin(s, 1) < 0 || send1(s, Q_CONTACT_RENAME, 3, v, renamed, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

static void contacts_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "contact_search", r);
		op->cb.contacts(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_contact *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		contact_read(r, (int)i, &v[i]);
	op->cb.contacts(op->arg, 0, v, n);
	free(v);
	op_free(op);
}

static void pg_contact_search(struct store *base, const char *text, size_t limit, store_contacts_fn cb,
                              void *arg)
{
	struct pg *s = pgs(base);
	struct buf words;
	char b[24];
	buf_init(&words, 0);
	if (search_words(text, &words) != 0) {
		buf_free(&words);
		cb(arg, 0, NULL, 0);
		return;
	}
	struct op *op = op_new(s, arg);
	op->cb.contacts = cb;
	const char *v[] = {words.p, num(b, limit ? (long long)limit : STORE_SEARCH_MAX)};
	int rc = send1(s, Q_CONTACT_SEARCH, 2, v, contacts_got, op);
	buf_free(&words);
	if (rc < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

/* --- what the team taught, the questions nobody answered ------------------------------------ */

static void taught_read(const PGresult *r, int row, int first, struct store_taught *t)
{
	*t = (struct store_taught){
	    .id = pg_int(r, row, first),
	    .rule = nul(r, row, first + 1),
	    .text = nul(r, row, first + 2),
	    .negative = (int)pg_int(r, row, first + 3),
	    .by = nul(r, row, first + 4),
	    .ticket_id = pg_int(r, row, first + 5),
	    .created = (time_t)pg_int(r, row, first + 6),
	};
}

static void taught_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "taught_list", r);
		op->cb.taught(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_taught *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		taught_read(r, (int)i, 0, &v[i]);
	op->cb.taught(op->arg, 0, v, n);
	free(v);
	op_free(op);
}

static void pg_taught_list(struct store *base, store_taught_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	op->cb.taught = cb;
	if (send1(s, Q_TAUGHT_LIST, 0, NULL, taught_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void taught_one(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r) || PQntuples(r) != 1) {
		db_error(op->s, "teach", r);
		op->cb.taught(op->arg, -1, NULL, 0);
	} else if (pg_int(r, 0, 0) == 2) {
		op->cb.taught(op->arg, 2, NULL, 0);
	} else {
		struct store_taught t;
		taught_read(r, 0, 1, &t);
		op->cb.taught(op->arg, (int)pg_int(r, 0, 0), &t, 1);
	}
	op_free(op);
}

static void pg_teach(struct store *base, const struct store_taught *t, time_t now, store_taught_fn cb,
                     void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[4][24], detail[STORE_MAX_KEY + 16];
	op->cb.taught = cb;
	snprintf(detail, sizeof(detail), "%s%s", t->negative ? "not " : "", t->rule);
	const char *v[] = {t->rule,
	                   t->text,
	                   t->negative ? "1" : "0",
	                   t->by,
	                   num(b[0], t->ticket_id > 0 ? t->ticket_id : 0),
	                   num(b[1], now),
	                   num(b[2], STORE_MAX_TAUGHT),
	                   detail};
	if (begin(s, 1) < 0 || send1(s, Q_TEACH, 8, v, taught_one, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

static void untaught(void *arg, const PGresult *r)
{
	struct op *op = arg;
	int rc = -1;
	if (!pg_ok(r))
		db_error(op->s, "untaught", r);
	else
		rc = atol(PQcmdTuples((PGresult *)r)) > 0 ? 0 : 1;
	op->cb.done(op->arg, rc);
	op_free(op);
}

static void pg_untaught(struct store *base, int64_t id, store_done_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[24];
	op->cb.done = cb;
	const char *v[] = {num(b, id)};
	if (begin(s, 1) < 0 || send1(s, Q_UNTAUGHT, 1, v, untaught, op) < 0) {
		op_free(op);
		cb(arg, -1);
	}
}

static void unanswered_got(void *arg, const PGresult *r)
{
	struct op *op = arg;
	if (!pg_ok(r)) {
		db_error(op->s, "unanswered", r);
		op->cb.questions(op->arg, -1, NULL, 0);
		op_free(op);
		return;
	}
	size_t n = (size_t)PQntuples(r);
	struct store_question *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct store_question){
		    .post_id = pg_int(r, (int)i, 0),
		    .ticket_id = pg_int(r, (int)i, 1),
		    .platform = nul(r, (int)i, 2),
		    .text = nul(r, (int)i, 3),
		    .created = (time_t)pg_int(r, (int)i, 4),
		};
	op->cb.questions(op->arg, 0, v, n);
	free(v);
	op_free(op);
}

static void pg_unanswered(struct store *base, time_t since, size_t limit, store_questions_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct op *op = op_new(s, arg);
	char b[2][24];
	op->cb.questions = cb;
	const char *v[] = {num(b[0], since), num(b[1], (long long)limit)};
	if (send1(s, Q_UNANSWERED, 2, v, unanswered_got, op) < 0) {
		op_free(op);
		cb(arg, -1, NULL, 0);
	}
}

/* --- satisfaction and the insights figures -------------------------------------------------- */

static int pg_rating_put(struct store *base, int64_t ticket_id, int score, const char *comment, time_t now)
{
	char b[3][24];
	const char *v[] = {num(b[0], ticket_id), num(b[1], score), comment, num(b[2], now)};
	return group_write(pgs(base), 1, Q_RATING_PUT, 4, v);
}

/* store_report: the posts per period, the posts per hour, then (same
 * operation) the tickets. */
struct report_op {
	struct op op;
	PGresult *posts, *hours;
	int failed;
};

static void report_posts_got(void *arg, const PGresult *r)
{
	struct report_op *t = arg;
	if (!pg_ok(r)) {
		db_error(t->op.s, "report", r);
		t->failed = 1;
	} else {
		t->posts = PQcopyResult(r, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	}
}

static void report_hours_got(void *arg, const PGresult *r)
{
	struct report_op *t = arg;
	if (!pg_ok(r)) {
		if (!t->failed)
			db_error(t->op.s, "report", r);
		t->failed = 1;
	} else {
		t->hours = PQcopyResult(r, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	}
}

static void report_tickets_got(void *arg, const PGresult *r)
{
	struct report_op *t = arg;
	struct store_report rep = {0};
	struct store_report_posts *pv = NULL;
	struct store_report_ticket *tv = NULL;
	struct store_report_hour *hv = NULL;
	if (t->failed || !t->posts || !t->hours || !pg_ok(r)) {
		if (!t->failed)
			db_error(t->op.s, "report", r);
		t->op.cb.report(t->op.arg, -1, &rep);
		PQclear(t->posts);
		PQclear(t->hours);
		free(t);
		return;
	}
	rep.nhours = (size_t)PQntuples(t->hours);
	hv = rep.nhours ? xcalloc(rep.nhours, sizeof(*hv)) : NULL;
	for (int i = 0; i < (int)rep.nhours; i++)
		hv[i] = (struct store_report_hour){
		    .start = (time_t)pg_int(t->hours, i, 0),
		    .posts = (long)pg_int(t->hours, i, 1),
		};
	rep.hours = hv;
	const PGresult *p = t->posts;
	rep.nposts = (size_t)PQntuples(p);
	rep.ntickets = (size_t)PQntuples(r);
	pv = rep.nposts ? xcalloc(rep.nposts, sizeof(*pv)) : NULL;
	tv = rep.ntickets ? xcalloc(rep.ntickets, sizeof(*tv)) : NULL;
	for (int i = 0; i < (int)rep.nposts; i++)
		pv[i] = (struct store_report_posts){
		    .start = (time_t)pg_int(p, i, 0),
		    .channel = nul(p, i, 1),
		    .posts = (long)pg_int(p, i, 2),
		    .answered = (long)pg_int(p, i, 3),
		    .acknowledged = (long)pg_int(p, i, 4),
		    .escalated = (long)pg_int(p, i, 5),
		    .handled = (long)pg_int(p, i, 6),
		};
	for (int i = 0; i < (int)rep.ntickets; i++)
		tv[i] = (struct store_report_ticket){
		    .id = pg_int(r, i, 0),
		    .channel = nul(r, i, 1),
		    .reason = nul(r, i, 2),
		    .created = (time_t)pg_int(r, i, 3),
		    .due = (time_t)pg_int(r, i, 4),
		    .first_response = (time_t)pg_int(r, i, 5),
		    .resolved = (time_t)pg_int(r, i, 6),
		    .rating = (int)pg_int(r, i, 7),
		};
	rep.posts = pv;
	rep.tickets = tv;
	t->op.cb.report(t->op.arg, 0, &rep);
	free(pv);
	free(tv);
	free(hv);
	PQclear(t->posts);
	PQclear(t->hours);
	free(t);
}

static void pg_report(struct store *base, time_t since, time_t until, time_t origin, long period,
                      store_report_fn cb, void *arg)
{
	struct pg *s = pgs(base);
	struct report_op *t = xcalloc(1, sizeof(*t));
	char b[4][24];
	t->op.s = s;
	t->op.arg = arg;
	t->op.cb.report = cb;
	const char *v[] = {num(b[0], since), num(b[1], until), num(b[2], origin), num(b[3], period)};
	if (pgconn_query(s->db, Q_REPORT_POSTS, NULL, 4, v, report_posts_got, t) < 0) {
		struct store_report none = {0};
		free(t);
		cb(arg, -1, &none);
		return;
	}
	/* Answered even when the first failed: the last is its end. */
	if (pgconn_query(s->db, Q_REPORT_HOURS, NULL, 2, v, report_hours_got, t) < 0 ||
	    pgconn_query(s->db, Q_REPORT_TICKETS, NULL, 2, v, report_tickets_got, t) < 0) {
		t->failed = 1; /* the connection went: the callbacks before ran */
		report_tickets_got(t, NULL);
		return;
	}
	pgconn_sync(s->db);
}

/* --- leadership and notifications (the watch connection) ----------------------------------- */

struct lead_op {
	struct pg *s;
	int64_t key;
};

/* Is l still watched?  (An answer may come after store_leader_cancel.) */
static struct store_leader *leader_by_key(struct pg *s, int64_t key)
{
	for (struct store_leader *l = s->leaders; l; l = l->next)
		if (l->key == key)
			return l;
	return NULL;
}

static void lock_got(void *arg, const PGresult *r)
{
	struct lead_op *op = arg;
	struct store_leader *l = leader_by_key(op->s, op->key);
	if (l && pg_ok(r) && PQntuples(r) == 1 && pg_int(r, 0, 0) == 1)
		store_leader_set(l, 1);
	free(op);
}

static void try_lead(struct pg *s, struct store_leader *l)
{
	char b[24];
	const char *v[] = {num(b, l->key)};
	struct lead_op *op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->key = l->key;
	if (pgconn_query(s->watch, -1, "SELECT pg_try_advisory_lock($1::bigint)", 1, v, lock_got, op) < 0) {
		free(op);
		return;
	}
	pgconn_sync(s->watch);
}

static void pong(void *arg, const PGresult *r)
{
	struct pg *s = arg;
	(void)r;
	s->ping_out = 0;
}

static void tick_cb(uv_timer_t *t)
{
	struct pg *s = t->data;
	if (!s->watch || !pgconn_up(s->watch))
		return;
	/* A connection whose peer stopped answering holds our leadership in
	 * name only: drop it, so that this process stops leading (the server
	 * releases the lock when it notices the session is gone). */
	if (s->ping_out && time_mono_ms() - s->ping_sent_ms > PING_TIMEOUT_MS) {
		pgconn_reset(s->watch, "no answer to a ping");
		return;
	}
	if (!s->ping_out && pgconn_query(s->watch, -1, "SELECT 1", 0, NULL, pong, s) == 0) {
		pgconn_sync(s->watch);
		s->ping_out = 1;
		s->ping_sent_ms = time_mono_ms();
	}
	for (struct store_leader *l = s->leaders; l; l = l->next)
		if (!l->leading)
			try_lead(s, l);
}

static void watch_up(void *arg, int up)
{
	struct pg *s = arg;
	s->ping_out = 0;
	if (!up) {
		for (struct store_leader *l = s->leaders; l; l = l->next)
			store_leader_set(l, 0);
		return;
	}
	/* Notifications sent while we were away are lost: look again.  The
	 * lead is asked for at the next tick, as the other processes do: one
	 * whose connection failed has no head start over them. */
	s->external = 1;
}

static void watch_notify(void *arg, const char *channel, const char *payload)
{
	struct pg *s = arg;
	if (strcmp(channel, CHANNEL) == 0 && (!payload || strcmp(payload, s->node) != 0))
		s->external = 1;
}

static void pg_leader_watch(struct store *base, struct store_leader *l)
{
	struct pg *s = pgs(base);
	l->next = s->leaders;
	s->leaders = l;
	if (!s->watch) {
		/* No loop (a command-line tool runs no connectors): lead. */
		store_leader_set(l, 1);
		return;
	}
	if (pgconn_up(s->watch))
		try_lead(s, l);
}

static void pg_leader_cancel(struct store *base, struct store_leader *l)
{
	struct pg *s = pgs(base);
	for (struct store_leader **p = &s->leaders; *p; p = &(*p)->next) {
		if (*p == l) {
			*p = l->next;
			break;
		}
	}
	if (l->leading && s->watch && pgconn_up(s->watch)) {
		char b[24];
		const char *v[] = {num(b, l->key)};
		if (pgconn_query(s->watch, -1, "SELECT pg_advisory_unlock($1::bigint)", 1, v, pong, s) == 0)
			pgconn_sync(s->watch);
	}
}

/* --- opening and closing ---------------------------------------------------------------- */

static void db_up(void *arg, int up)
{
	struct pg *s = arg;
	if (!up) {
		/* Whatever the open group held is gone with the connection. */
		if (s->tx_open)
			s->tx_lost = 1;
		s->urgent = 0;
		return;
	}
	s->external = 1; /* what changed meanwhile is unknown */
}

/*
 * The URL for the log: scheme, user, host, port and database; never the
 * password, wherever it was written.  NULL when libpq cannot read it.
 */
static char *url_where(const char *url, char *err, size_t errn)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(url, &msg);
	if (!o) {
		snprintf(err, errn, "store.url: %s", msg ? msg : "not a connection string");
		for (char *p = err; *p; p++)
			if (*p == '\n')
				*p = ' ';
		PQfreemem(msg);
		return NULL;
	}
	const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
	for (PQconninfoOption *p = o; p->keyword; p++) {
		if (!p->val)
			continue;
		if (!strcmp(p->keyword, "host") || (!strcmp(p->keyword, "hostaddr") && !host))
			host = p->val;
		else if (!strcmp(p->keyword, "port"))
			port = p->val;
		else if (!strcmp(p->keyword, "dbname"))
			db = p->val;
		else if (!strcmp(p->keyword, "user"))
			user = p->val;
	}
	char *w = xasprintf("postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "", host ? host : "",
	                    port ? ":" : "", port ? port : "", db ? db : "");
	PQconninfoFree(o);
	return w;
}

/* Bring the database's schema to STORE_SCHEMA_VERSION, one process at a
 * time (several may start together), in one transaction. */
static int migrate(const char *url, const char *where, char *err, size_t errn)
{
	const char *k[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *v[] = {"frontdesk", "10", url, NULL};
	PGconn *c = PQconnectdbParams(k, v, 1);
	int rc = -1;
	long long have = -1;
	PGresult *r = NULL;

	if (!c || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errn, "cannot connect to %s: %s", where,
		         c ? PQerrorMessage(c) : "out of memory");
		goto out;
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	r = PQexec(c, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
	              " CREATE TABLE IF NOT EXISTS frontdesk_schema (version BIGINT NOT NULL);"
	              " SELECT COALESCE(max(version), 0) FROM frontdesk_schema");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errn, "%s: cannot read the schema version: %s", where, PQresultErrorMessage(r));
		goto out;
	}
	have = pg_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (have > STORE_SCHEMA_VERSION) {
		snprintf(err, errn, "%s: schema version %lld is newer than this frontdesk understands (%d)",
		         where, have, STORE_SCHEMA_VERSION);
		goto out;
	}
	for (long long i = have; i < STORE_SCHEMA_VERSION; i++) {
		char *text = schema_sql((size_t)i, SCHEMA_POSTGRES);
		r = PQexec(c, text);
		free(text);
		/* A step for SQLite alone is empty here. */
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK &&
		    PQresultStatus(r) != PGRES_EMPTY_QUERY) {
			snprintf(err, errn, "%s: migration to schema %lld failed: %s", where, i + 1,
			         PQresultErrorMessage(r));
			goto out;
		}
		PQclear(r);
		r = NULL;
		log_info("store migrated", "db=%s schema=%lld what=\"%s\"", where, i + 1,
		         schema_steps[i].what);
	}
	char set[128];
	snprintf(set, sizeof(set),
	         "DELETE FROM frontdesk_schema; INSERT INTO frontdesk_schema VALUES (%d); COMMIT",
	         STORE_SCHEMA_VERSION);
	r = PQexec(c, set);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, errn, "%s: cannot commit the schema: %s", where, PQresultErrorMessage(r));
		goto out;
	}
	rc = 0;
out:
	for (char *p = err; rc < 0 && *p; p++)
		if (*p == '\n')
			*p = ' ';
	PQclear(r);
	PQfinish(c);
	return rc;
}

static const struct store_backend pg_backend;

struct store *store_pg_open(const struct store_conf *conf, char *err, size_t errn)
{
	/* libpq is opened here, at its first use (pq_load.h): most
	 * installations never need it, and may not have it. */
	const char *missing = pq_load_error();
	if (missing) {
		snprintf(err, errn,
		         "store.url needs PostgreSQL's client library, which is not installed "
		         "(Debian package libpq5): %s",
		         missing);
		return NULL;
	}
	char *where = url_where(conf->url, err, errn);
	if (!where)
		return NULL;
	if (migrate(conf->url, where, err, errn) < 0) {
		free(where);
		return NULL;
	}
	struct pg *s = xcalloc(1, sizeof(*s));
	s->base.be = &pg_backend;
	s->where = where;
	s->loop = conf->loop;
	s->lease_ms = (int64_t)(conf->lease_seconds > 0 ? conf->lease_seconds : STORE_LEASE_DEFAULT) * 1000;
	if (conf->node && *conf->node && conf->loop) {
		s->node = xstrdup(conf->node);
	} else if (!conf->loop) {
		/* A command line (frontdesk queue): never a daemon's name, so that
		 * the daemons hear its notifications as someone else's. */
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		s->node = xasprintf("%s:%ld:cli", host[0] ? host : "node", (long)getpid());
	} else {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		s->node = xasprintf("%s:%ld", host[0] ? host : "node", (long)getpid());
	}
	s->last_scan_ms = time_mono_ms();

	/* A lock waited for longer than this is someone else's stuck
	 * transaction: fail the group rather than the loop's patience. */
	const char *setup[] = {
	    "SET lock_timeout = '10s'", "SET idle_in_transaction_session_timeout = '60s'",
	    conf->sync_full ? "SET synchronous_commit = on" : "SET synchronous_commit = off", NULL};
	struct pgconn_conf dc = {
	    .url = conf->url,
	    .where = where,
	    .label = "store",
	    .node = s->node,
	    .loop = conf->loop,
	    .setup = setup,
	    .stmts = sql,
	    .nstmts = Q_COUNT,
	    .up = db_up,
	    .arg = s,
	};
	s->db = pgconn_open(&dc, err, errn);
	if (!s->db) {
		free(s->node);
		free(s->where);
		free(s);
		return NULL;
	}
	if (conf->loop) {
		const char *wsetup[] = {"LISTEN " CHANNEL, NULL};
		struct pgconn_conf wc = {
		    .url = conf->url,
		    .where = where,
		    .label = "watch",
		    .node = s->node,
		    .loop = conf->loop,
		    .setup = wsetup,
		    .up = watch_up,
		    .notify = watch_notify,
		    .arg = s,
		};
		s->watch = pgconn_open(&wc, err, errn);
		if (!s->watch) {
			pgconn_stop(s->db);
			pgconn_free(s->db);
			free(s->node);
			free(s->where);
			free(s);
			return NULL;
		}
		uv_timer_init(conf->loop, &s->tick);
		s->tick.data = s;
		uv_timer_start(&s->tick, tick_cb, TICK_MS, TICK_MS);
		uv_unref((uv_handle_t *)&s->tick);
		s->tick_open = 1;
	}
	log_info("store opened", "backend=postgresql db=%s node=%s lease_s=%lld", where, s->node,
	         (long long)(s->lease_ms / 1000));
	return &s->base;
}

static void pg_stop(struct store *base)
{
	struct pg *s = pgs(base);
	if (s->stopped)
		return;
	s->stopped = 1;
	if (s->tick_open) {
		uv_close((uv_handle_t *)&s->tick, NULL);
		s->tick_open = 0;
	}
	/* What was sent is answered here, so nothing is reported after the
	 * loop's owners closed their handles. */
	pgconn_stop(s->db);
	pgconn_stop(s->watch);
}

static void pg_close(struct store *base)
{
	struct pg *s = pgs(base);
	if (s->tx_open && !s->tx_lost && pgconn_query(s->db, Q_ROLLBACK, NULL, 0, NULL, wrote, s) == 0)
		pgconn_sync(s->db);
	pgconn_free(s->db);
	pgconn_free(s->watch);
	free(s->after);
	free(s->node);
	free(s->where);
	free(s);
}

static const struct store_backend pg_backend = {
    .name = "postgresql",
    .stop = pg_stop,
    .close = pg_close,
    .where = pg_where,
    .dirty = pg_dirty,
    .committing = pg_committing,
    .commit = pg_commit,
    .commit_sync = pg_commit_sync,
    .rollback = pg_rollback,
    .external_change = pg_external_change,
    .on_timing = pg_on_timing,
    .lookup = pg_lookup,
    .thread_get = pg_thread_get,
    .record_post = pg_record_post,
    .history = pg_history,
    .outbox_pending = pg_outbox_pending,
    .outbox_claim = pg_outbox_claim,
    .outbox_sent = pg_outbox_sent,
    .outbox_retry = pg_outbox_retry,
    .outbox_failed = pg_outbox_failed,
    .outbox_cancel = pg_outbox_cancel,
    .outbox_release = pg_outbox_release,
    .outbox_notify = pg_outbox_notify,
    .outbox_counts = pg_outbox_counts,
    .tickets = pg_tickets,
    .ticket_messages = pg_ticket_messages,
    .ticket_events = pg_ticket_events,
    .queue_version = pg_queue_version,
    .ticket_claim = pg_ticket_claim,
    .ticket_release = pg_ticket_release,
    .ticket_resolve = pg_ticket_resolve,
    .ticket_mark = pg_ticket_mark,
    .agent_reply = pg_agent_reply,
    .cursor_get = pg_cursor_get,
    .cursor_set = pg_cursor_set,
    .state_get = pg_state_get,
    .state_put = pg_state_put,
    .state_delete = pg_state_delete,
    .state_prune = pg_state_prune,
    .visitor_find = pg_visitor_find,
    .visitor_of_thread = pg_visitor_of_thread,
    .reply_note = pg_reply_note,
    .visitor_add = pg_visitor_add,
    .visitor_set_email = pg_visitor_set_email,
    .health = pg_health,
    .prune = pg_prune,
    .ticket_note = pg_ticket_note,
    .ticket_label = pg_ticket_label,
    .ticket_priority = pg_ticket_priority,
    .ticket_reopen = pg_ticket_reopen,
    .ticket_snooze = pg_ticket_snooze,
    .ticket_seen = pg_ticket_seen,
    .ticket_counts = pg_ticket_counts,
    .search = pg_search,
    .contact_update = pg_contact_update,
    .contact_get = pg_contact_get,
    .contact_tickets = pg_contact_tickets,
    .contact_rename = pg_contact_rename,
    .contact_search = pg_contact_search,
    .team_list = pg_team_list,
    .team_put = pg_team_put,
    .team_delete = pg_team_delete,
    .taught_list = pg_taught_list,
    .teach = pg_teach,
    .untaught = pg_untaught,
    .unanswered = pg_unanswered,
    .rating_put = pg_rating_put,
    .rating_ask = pg_rating_ask,
    .rating_answer = pg_rating_answer,
    .report = pg_report,
    .leader_watch = pg_leader_watch,
    .leader_cancel = pg_leader_cancel,
};
