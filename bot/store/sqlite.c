/*
 * store/sqlite.c - the SQLite backend of the store (store.h): one WAL file,
 * one write transaction per group, the group's durability sync off the loop.
 *
 * Groups: the first write opens BEGIN IMMEDIATE; store_commit() commits it.
 * There is no per-write savepoint: inputs are checked before anything is
 * written, and a write that still fails (disk full, I/O error) fails its
 * group, which is rolled back as a whole and reported -1 by the commit.
 * The group's new messages go into the search index in one statement just
 * before its COMMIT (schema v10), so a search sees a message once its
 * group is committed.
 *
 * Durability: synchronous=FULL in the configuration is kept without a
 * fsync in a commit on the loop thread: the connection runs with
 * synchronous=NORMAL (a commit only writes the WAL) and every committed
 * group waits for an fdatasync of the WAL, run on a libuv worker, before
 * its callback says 0.  (The loop thread syncs only when it finishes a
 * checkpoint's tail and restarts the WAL, below: once per 4 MB of WAL.)
 * One sync covers every group committed while the previous one ran.
 * Without a loop (command-line tools) synchronous=FULL is used as it is.
 * The WAL is not checkpointed by the writer's commits (wal_autocheckpoint=0):
 * a worker checkpoints on its own connection once the WAL is large, and
 * every second while it holds anything.  SQLite starts writing the WAL from
 * its beginning again only when a write transaction starts with every frame
 * checkpointed, which a checkpoint running beside a steady stream of commits
 * never leaves: each pass ends behind the frames committed meanwhile.  So a
 * pass that leaves a short tail (CHECKPOINT_TAIL frames) is finished by the
 * writer itself between two groups, and a longer one is followed by another
 * pass at once; after CHECKPOINT_PASSES of those (a writer faster than the
 * checkpointer) the writer finishes whatever is left, as SQLite's own
 * automatic checkpoint would.  The WAL then stays a few megabytes that are rewritten in
 * the page cache, instead of growing by every page every commit touches (at
 * 1,000 posts/s it grew by 60 MB/s, and cutting it back on a file system
 * mounted with `discard` stalled the loop for 100 ms).  The file is cut back
 * to WAL_SIZE_LIMIT on a reset only after an unusual burst (a large
 * retention batch), since that cut costs the writer a synchronous discard.
 *
 * Faults (store_health): a failed write, commit or sync is classified
 * (SQLITE_FULL: full; I/O errors, read-only, corruption: failing), and the
 * maintenance timer looks at the free space of the file system every
 * second (below min_free: low space).  A full store hands the WAL's space
 * back at once (a TRUNCATE checkpoint), and one low on space after every
 * checkpoint; a full or failing one is probed
 * every second with a one-page write, and is OK again as soon as that (or
 * any commit) succeeds and the free space is above min_free.  Because new
 * work stops at min_free, the store's own growth leaves that much for
 * deliveries, agents' actions and checkpoints; after a disk filled by
 * something else, freeing a little more than min_free is enough.
 *
 * Asynchronous operations complete before they return (SQLite is a local
 * library); their results are built from the statement and handed to the
 * callback, then released.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <uv.h>

#include "store/backend.h"
#include "store/sql.h"
#include "store/schema.h"
#include "store/sqlite.h"
#include "util.h"

#define CHECKPOINT_PAGES   1024     /* WAL frames (about 4 MB) that trigger a checkpoint */
#define CHECKPOINT_TAIL    128      /* frames a worker's pass left that the loop finishes */
#define CHECKPOINT_PASSES  4        /* passes in a row after which the loop finishes any tail */
#define CHECKPOINT_IDLE_MS 1000     /* checkpoint a non-empty WAL at least this often */
#define WAL_SIZE_LIMIT     16777216 /* bytes a reset WAL file is cut back to */
#define MAINTAIN_MS        1000

enum q {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_DATA_VERSION,
	Q_LOOKUP,
	Q_THREAD_GET,
	Q_THREAD_INSERT,
	Q_THREAD_UPDATE,
	Q_THREAD_TICKET,
	Q_MSG_INSERT,
	Q_MSG_INDEX,
	Q_POST_INSERT,
	Q_OUT_INSERT,
	Q_TICKET_INSERT,
	Q_TICKET_TOUCH,
	Q_EVENT_INSERT,
	Q_HISTORY,
	Q_OUT_PENDING,
	Q_OUT_GUARD,
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
	Q_MSG_DELETE,
	Q_THREAD_DELETE,
	Q_TICKET_FIRST_RESPONSE,
	Q_TICKET_MESSAGES,
	Q_TICKET_EXISTS,
	Q_TICKET_EVENTS,
	Q_QUEUE_VERSION,
	Q_CURSOR_GET,
	Q_CURSOR_SET,
	Q_VISITOR_FIND,
	Q_VISITOR_OF_THREAD,
	Q_REPLY_NOTE,
	Q_VISITOR_SEEN,
	Q_VISITOR_ADD,
	Q_VISITOR_EMAIL,
	Q_STATE_GET,
	Q_STATE_PUT,
	Q_STATE_DELETE,
	Q_STATE_PRUNE,
	Q_PRUNE_THREADS,
	Q_PRUNE_EVENTS,
	Q_PRUNE_TICKETS,
	Q_PRUNE_POSTS,
	Q_PRUNE_THREAD_OUTBOX,
	Q_PRUNE_MESSAGES,
	Q_PRUNE_THREAD_VISITOR,
	Q_PRUNE_THREAD,
	Q_PRUNE_OUTBOX,
	Q_PRUNE_VISITORS,
	Q_PRUNE_STATE,
	Q_PRUNE_CONTACTS,
	Q_CONTACT_KEY,
	Q_CONTACT_INSERT,
	Q_CONTACT_EMAIL,
	Q_CONTACT_KEY_INSERT,
	Q_CONTACT_BY_EXTERNAL,
	Q_CONTACT_EXTERNAL_OF,
	Q_CONTACT_SET,
	Q_CONTACT_EXTERNAL_SET,
	Q_CONTACT_MOVE_KEYS,
	Q_CONTACT_MOVE_THREADS,
	Q_CONTACT_DELETE,
	Q_CONTACT_GET,
	Q_CONTACT_SEARCH,
	Q_LABEL_ADD,
	Q_LABEL_DEL,
	Q_TICKET_PRIORITY,
	Q_TICKET_REOPEN_CHECK,
	Q_TICKET_REOPEN,
	Q_THREAD_REOPEN,
	Q_TICKET_SNOOZE,
	Q_SEEN,
	Q_COUNTS,
	Q_TEAM_LIST,
	Q_TEAM_PUT,
	Q_TEAM_DELETE,
	Q_TEAM_UNLABEL,
	Q_TICKET_UPDATED,
	Q_TAUGHT_LIST,
	Q_TAUGHT_FIND,
	Q_TAUGHT_COUNT,
	Q_TAUGHT_INSERT,
	Q_TAUGHT_DELETE,
	Q_UNANSWERED,
	Q_RATING_PUT,
	Q_THREAD_RATING,
	Q_RATING_THREAD,
	Q_RATING_FIND,
	Q_REPORT_POSTS,
	Q_REPORT_TICKETS,
	Q_REPORT_HOURS,
	Q_COUNT
};

/* clang-format off */
static const char *const sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	/* The duplicate check and the thread state in one statement: every
	 * join is an index lookup from a one-row source. */
	[Q_LOOKUP] = "SELECT COALESCE(t.id, 0), t.owner, COALESCE(t.ticket_id, 0), COALESCE(k.due, 0),"
		     " COALESCE(k.assignee, ''), COALESCE(t.last_ack, 0), COALESCE(t.last_waiting_notice, 0),"
		     " COALESCE(t.claim_seq, 0), COALESCE(k.reason, ''), COALESCE(k.private, 0),"
		     " COALESCE(t.last_in, 0), p.id, COALESCE(p.message_id, 0), COALESCE(m.ts, p.received),"
		     " COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0), COALESCE(t.rating_next, 0)"
		     " FROM (SELECT 1) x"
		     " LEFT JOIN threads t ON t.platform = ?1 AND t.thread_key = ?2"
		     " LEFT JOIN tickets k ON k.id = t.ticket_id"
		     " LEFT JOIN posts p ON p.platform = ?1 AND p.post_id = ?3"
		     " LEFT JOIN messages m ON m.id = p.message_id",
	[Q_THREAD_GET] = "SELECT t.id, t.owner, COALESCE(t.ticket_id, 0), COALESCE(k.due, 0), COALESCE(k.assignee, ''),"
			 " t.last_ack, t.last_waiting_notice, t.claim_seq, COALESCE(k.reason, ''), COALESCE(k.private, 0),"
			 " t.last_in, COALESCE(t.rating_ticket, 0), t.rating_asked, t.rating_next"
			 " FROM threads t LEFT JOIN tickets k ON k.id = t.ticket_id"
			 " WHERE t.platform = ?1 AND t.thread_key = ?2",
	[Q_THREAD_INSERT] = "INSERT INTO threads (platform, thread_key, connector, is_private, author, last_ack,"
			    " last_waiting_notice, last_post_id, created, updated, contact_id, last_in)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
	[Q_THREAD_UPDATE] = "UPDATE threads SET owner = ?2, ticket_id = ?3, last_ack = ?4, last_waiting_notice = ?5,"
			    " last_post_id = COALESCE(?6, last_post_id), updated = ?7, claim_seq = claim_seq + ?8,"
			    " last_in = ?9 WHERE id = ?1",
	[Q_THREAD_TICKET] = "UPDATE threads SET owner = ?3, ticket_id = ?2, claim_seq = claim_seq + ?4 WHERE id = ?1",
	[Q_MSG_INSERT] = "INSERT INTO messages (thread_id, sender, agent, text, ts, client_id, state)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* The group's new messages into the search index (schema v10): those
	 * after the newest one the index holds. */
	[Q_MSG_INDEX] = "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages"
			" WHERE id > (SELECT COALESCE(max(id), 0) FROM messages_fts_docsize)",
	[Q_POST_INSERT] = "INSERT INTO posts (platform, post_id, connector, thread_id, message_id, author_id,"
			  " author_handle, author_name, text, created, received, action, rule, decision)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
			  " ON CONFLICT (platform, post_id) DO NOTHING",
	[Q_OUT_INSERT] = "INSERT INTO outbox (connector, thread_id, thread_key, reply_to, private, text, idem_key, kind,"
			 " sender, agent, message_id, guard, created, recipient, rating)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'reply', ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[Q_TICKET_INSERT] = "INSERT INTO tickets (thread_id, status, priority, reason, platform, author, due, created,"
			    " updated, private, recipient, assignee) VALUES (?1, ?10, ?2, ?3, ?4,"
			    " COALESCE(?5, (SELECT author FROM threads WHERE id = ?1)), ?6, ?7, ?7, ?8, ?9, ?11)",
	/* A customer's message wakes a snoozed ticket. */
	[Q_TICKET_TOUCH] = "UPDATE tickets SET updated = ?2, snoozed_until = NULL WHERE id = ?1",
	[Q_EVENT_INSERT] = "INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id, detail)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_HISTORY] = "SELECT * FROM (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.client_id, m.state FROM messages m"
		      " WHERE m.thread_id = (SELECT id FROM threads WHERE platform = ?1 AND thread_key = ?2)"
		      " AND m.state = 'sent' AND (?4 = 0 OR m.id < ?4) ORDER BY m.id DESC LIMIT ?3) ORDER BY id",
	[Q_OUT_PENDING] = "SELECT " STORE_SQL_OUT_COLUMNS " FROM outbox o WHERE o.state = 'pending' ORDER BY o.id",
	[Q_OUT_GUARD] = "SELECT t.owner = 'claimed' AND t.claim_seq <> ?2 FROM threads t WHERE t.id = ?1",
	[Q_OUT_SENT] = "UPDATE outbox SET state = 'sent', sent = ?2, attempts = attempts + 1"
		       " WHERE id = ?1 AND state = 'pending'",
	[Q_OUT_RETRY] = "UPDATE outbox SET attempts = ?2, not_before = ?3, last_error = ?4"
			" WHERE id = ?1 AND state = 'pending'",
	[Q_OUT_FINAL] = "UPDATE outbox SET state = ?2, attempts = MAX(attempts, ?3), last_error = ?4"
			" WHERE id = ?1 AND state = 'pending'",
	[Q_MSG_STATE] = "UPDATE messages SET state = ?2 WHERE id = (SELECT message_id FROM outbox WHERE id = ?1)",
	[Q_MSG_SENT] = "UPDATE messages SET state = 'sent'"
		       " WHERE id = (SELECT message_id FROM outbox WHERE id = ?1 AND state = 'pending')",
	[Q_OUT_COUNTS] = "SELECT state, count(*) FROM outbox GROUP BY state",
	[Q_NOTIFY_FIND] = "SELECT " STORE_SQL_OUT_COLUMNS " FROM outbox o WHERE o.kind = 'notify' AND o.idem_key = ?1",
	[Q_NOTIFY_INSERT] = "INSERT INTO outbox (connector, thread_id, thread_key, private, text, idem_key, kind, sender,"
			    " not_before, created) VALUES (?1, NULL, '', 1, ?2, ?3, 'notify', 'bot', ?4, ?5)",
	[Q_TICKET_GET] = "SELECT status, thread_id, COALESCE(assignee, ''), private, recipient FROM tickets WHERE id = ?1",
	[Q_EVENT_FIND] = "SELECT count(*) FROM ticket_events WHERE ticket_id = ?1 AND kind = ?2"
			 " AND id > (SELECT COALESCE(max(id), 0) FROM ticket_events WHERE ticket_id = ?1"
			 " AND kind IN ('priority', 'reopened'))",
	[Q_TICKET_SET] = "UPDATE tickets SET status = ?2, assignee = ?3, updated = ?4,"
			 " resolved = CASE WHEN ?2 = 'resolved' THEN ?4 ELSE resolved END WHERE id = ?1",
	[Q_THREAD_OWNER] = "UPDATE threads SET owner = ?2, claim_seq = claim_seq + ?3, updated = ?4"
			   " WHERE id = ?1 AND ticket_id = ?5",
	[Q_THREAD_RESOLVED] = "UPDATE threads SET owner = 'bot', ticket_id = NULL, last_ack = 0,"
			      " last_waiting_notice = 0, updated = ?2 WHERE id = ?1 AND ticket_id = ?3",
	[Q_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
	[Q_THREAD_DELETE] = "DELETE FROM threads WHERE id = ?1",
	[Q_THREAD_BY_ID] = "SELECT connector, thread_key, last_post_id, is_private, last_in FROM threads WHERE id = ?1",
	[Q_TICKET_FIRST_RESPONSE] = "UPDATE tickets SET first_response = COALESCE(first_response, ?2), updated = ?2"
				    " WHERE id = ?1",
	[Q_TICKET_MESSAGES] = "SELECT * FROM (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.client_id, m.state"
			      " FROM messages m JOIN tickets k ON k.thread_id = m.thread_id"
			      " WHERE k.id = ?1 AND m.state IN ('sent', 'pending', 'failed')"
			      " AND (k.resolved IS NULL OR m.ts <= k.resolved)"
			      " ORDER BY m.id DESC LIMIT ?2) ORDER BY id",
	[Q_TICKET_EXISTS] = "SELECT 1 FROM tickets WHERE id = ?1",
	[Q_TICKET_EVENTS] = "SELECT kind, actor, ts, COALESCE(message_id, 0), detail FROM"
			    " (SELECT * FROM ticket_events WHERE ticket_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
	[Q_QUEUE_VERSION] = "SELECT (SELECT max(id) FROM ticket_events), (SELECT max(id) FROM messages),"
			    " (SELECT max(id) FROM outbox), (SELECT count(*) FROM outbox WHERE state = 'pending'),"
			    " (SELECT count(*) FROM tickets WHERE status IN ('waiting','claimed') AND due < ?1),"
			    " (SELECT count(*) FROM tickets WHERE snoozed_until > ?1)",
	[Q_CURSOR_GET] = "SELECT value FROM cursors WHERE connector = ?1",
	[Q_CURSOR_SET] = "INSERT INTO cursors (connector, value, updated) VALUES (?1, ?2, ?3)"
			 " ON CONFLICT (connector) DO UPDATE SET value = excluded.value, updated = excluded.updated",
	[Q_VISITOR_FIND] = "SELECT v.token, v.thread_key, v.email, v.last_seen, COALESCE(t.ticket_id, 0),"
			   " COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0)"
			   " FROM visitors v LEFT JOIN threads t ON t.platform = 'webchat' AND t.thread_key = v.thread_key"
			   " WHERE v.token = ?1",
	[Q_VISITOR_OF_THREAD] = "SELECT v.token, v.thread_key, v.email, v.last_seen, COALESCE(t.ticket_id, 0),"
				" COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0)"
				" FROM visitors v LEFT JOIN threads t ON t.platform = 'webchat'"
				" AND t.thread_key = v.thread_key WHERE v.thread_key = ?1",
	[Q_REPLY_NOTE] = "INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id, detail)"
			 " SELECT ticket_id, ?2, ?3, NULL, ?1, ?4 FROM ticket_events"
			 " WHERE message_id = ?1 AND kind = 'reply' LIMIT 1",
	[Q_VISITOR_SEEN] = "UPDATE visitors SET last_seen = ?2 WHERE token = ?1",
	[Q_VISITOR_ADD] = "INSERT INTO visitors (token, thread_key, created, last_seen) VALUES (?1, ?2, ?3, ?3)"
			  " ON CONFLICT (token) DO UPDATE SET last_seen = excluded.last_seen",
	/* Retention.  A conversation goes when it has no open ticket (owner
	 * bot), was not touched since the cutoff, holds no newer message and no
	 * reply still to deliver; children first (foreign keys). */
	[Q_PRUNE_THREADS] = "SELECT t.id FROM threads t WHERE t.owner = 'bot' AND t.updated < ?1"
			    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.ts >= ?1)"
			    " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.thread_id = t.id AND o.state = 'pending')"
			    " ORDER BY t.updated LIMIT ?2",
	[Q_PRUNE_EVENTS] = "DELETE FROM ticket_events WHERE ticket_id IN (SELECT id FROM tickets WHERE thread_id = ?1)",
	[Q_PRUNE_TICKETS] = "DELETE FROM tickets WHERE thread_id = ?1",
	[Q_PRUNE_POSTS] = "DELETE FROM posts WHERE thread_id = ?1",
	[Q_PRUNE_THREAD_OUTBOX] = "DELETE FROM outbox WHERE thread_id = ?1",
	[Q_PRUNE_MESSAGES] = "DELETE FROM messages WHERE thread_id = ?1",
	[Q_PRUNE_THREAD_VISITOR] = "DELETE FROM visitors WHERE thread_key ="
				   " (SELECT thread_key FROM threads WHERE id = ?1 AND platform = 'webchat')",
	[Q_PRUNE_THREAD] = "DELETE FROM threads WHERE id = ?1",
	[Q_PRUNE_OUTBOX] = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
			   " WHERE state <> 'pending' AND created < ?1 ORDER BY created LIMIT ?2)",
	[Q_PRUNE_STATE] = "DELETE FROM connector_state WHERE (connector, kind, key) IN (SELECT connector, kind, key"
			  " FROM connector_state WHERE updated < ?1 ORDER BY updated LIMIT ?2)",
	/* A contact none of whose conversations is kept any more. */
	[Q_PRUNE_CONTACTS] = "DELETE FROM contacts WHERE id IN (SELECT c.id FROM contacts c WHERE c.created < ?1"
			     " AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.contact_id = c.id) LIMIT ?2)",
	[Q_PRUNE_VISITORS] = "DELETE FROM visitors WHERE token IN (SELECT v.token FROM visitors v WHERE v.last_seen < ?1"
			     " AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.platform = 'webchat'"
			     " AND t.thread_key = v.thread_key) ORDER BY v.last_seen LIMIT ?2)",
	[Q_VISITOR_EMAIL] = "INSERT INTO visitors (token, thread_key, created, last_seen, email)"
			    " VALUES (?1, ?2, ?3, ?3, ?4)"
			    " ON CONFLICT (token) DO UPDATE SET email = excluded.email, last_seen = excluded.last_seen",
	[Q_STATE_GET] = "SELECT thread_key, value, updated FROM connector_state"
			" WHERE connector = ?1 AND kind = ?2 AND key = ?3",
	[Q_STATE_PUT] = "INSERT OR REPLACE INTO connector_state (connector, kind, key, thread_key, value, updated)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_STATE_DELETE] = "DELETE FROM connector_state WHERE connector = ?1 AND kind = ?2 AND key = ?3",
	[Q_TAUGHT_LIST] = "SELECT " STORE_SQL_TAUGHT_COLUMNS " FROM taught ORDER BY id",
	[Q_TAUGHT_FIND] = "SELECT " STORE_SQL_TAUGHT_COLUMNS " FROM taught"
			  " WHERE rule = ?1 AND text = ?2 AND negative = ?3",
	[Q_TAUGHT_COUNT] = "SELECT count(*) FROM taught",
	[Q_TAUGHT_INSERT] = "INSERT INTO taught (rule, text, negative, by_login, ticket_id, created)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_TAUGHT_DELETE] = "DELETE FROM taught WHERE id = ?1",
	/* Unmatched: escalated without a rule for want of one (the decision's
	 * reason), the ticket from the event that filed the message. */
	[Q_UNANSWERED] = "SELECT p.id, COALESCE((SELECT e.ticket_id FROM ticket_events e WHERE e.message_id = p.message_id"
			 " AND e.kind IN ('opened', 'message') LIMIT 1), 0), p.platform, p.text, p.created"
			 " FROM posts p WHERE p.action = 'escalate' AND p.rule IS NULL AND p.created >= ?1"
			 " AND json_extract(p.decision, '$.reason') = 'unmatched'"
			 " AND NOT EXISTS (SELECT 1 FROM taught t WHERE t.text = p.text)"
			 " ORDER BY p.created DESC LIMIT ?2",
	[Q_RATING_PUT] = "INSERT OR REPLACE INTO ratings (ticket_id, score, comment, created)"
			 " SELECT id, ?2, ?3, ?4 FROM tickets WHERE id = ?1",
	/* The satisfaction question pending in a thread (rating_next: the
	 * customer's next message may answer it in words). */
	[Q_THREAD_RATING] = "UPDATE threads SET rating_ticket = ?2, rating_asked = ?3, rating_next = ?4 WHERE id = ?1",
	[Q_RATING_THREAD] = "SELECT t.owner, (SELECT max(k.id) FROM tickets k WHERE k.thread_id = t.id)"
			    " FROM threads t WHERE t.id = ?1",
	[Q_RATING_FIND] = "SELECT id, COALESCE(rating_ticket, 0), rating_asked FROM threads"
			  " WHERE platform = ?1 AND thread_key = ?2",
	/* Handled: answered or acknowledged, and the conversation had no ticket
	 * opened within a day after it. */
	[Q_REPORT_POSTS] = "SELECT ((p.received - ?3) / ?4) * ?4 + ?3 AS b, p.platform, count(*),"
			   " total(p.action = 'answer'), total(p.action = 'acknowledge'), total(p.action = 'escalate'),"
			   " total(p.action IN ('answer', 'acknowledge') AND NOT EXISTS (SELECT 1 FROM tickets k"
			   "  WHERE k.thread_id = p.thread_id AND k.created >= p.received AND k.created < p.received + 86400))"
			   " FROM posts p WHERE p.received >= ?1 AND p.received < ?2 AND p.action <> 'ignore'"
			   " AND json_extract(p.decision, '$.rating') IS NULL"
			   " GROUP BY b, p.platform ORDER BY b, p.platform",
	[Q_REPORT_HOURS] = "SELECT (p.received / 3600) * 3600 AS h, count(*) FROM posts p"
			   " WHERE p.received >= ?1 AND p.received < ?2 AND p.action <> 'ignore'"
			   " AND json_extract(p.decision, '$.rating') IS NULL GROUP BY h ORDER BY h",
	[Q_REPORT_TICKETS] = "SELECT k.id, k.platform, k.reason, k.created, COALESCE(k.due, 0), COALESCE(k.first_response, 0),"
			     " COALESCE(k.resolved, 0), COALESCE(r.score, 0)"
			     " FROM tickets k LEFT JOIN ratings r ON r.ticket_id = k.id"
			     " WHERE k.created >= ?1 AND k.created < ?2 ORDER BY k.created, k.id",
	[Q_STATE_PRUNE] = "DELETE FROM connector_state WHERE connector = ?1 AND kind = ?2 AND updated < ?3",
	[Q_CONTACT_KEY] = "SELECT contact_id FROM contact_keys WHERE platform = ?1 AND author_id = ?2",
	/* A web chat visitor who left an address before writing brings it. */
	[Q_CONTACT_INSERT] = "INSERT INTO contacts (platform, name, handle, created, email) VALUES (?1, ?2, ?3, ?4,"
			     " (SELECT email FROM visitors WHERE ?1 = 'webchat' AND thread_key = ?5))",
	[Q_CONTACT_EMAIL] = "UPDATE contacts SET email = ?3 WHERE id = (SELECT contact_id FROM contact_keys"
			    " WHERE platform = ?1 AND author_id = ?2) AND email IS NOT ?3",
	[Q_CONTACT_KEY_INSERT] = "INSERT OR REPLACE INTO contact_keys (platform, author_id, contact_id) VALUES (?1, ?2, ?3)",
	[Q_CONTACT_BY_EXTERNAL] = "SELECT id FROM contacts WHERE external_id = ?1",
	[Q_CONTACT_EXTERNAL_OF] = "SELECT external_id FROM contacts WHERE id = ?1",
	/* Only what changes is written (the search index follows every write),
	 * and a name only by a source at least as strong as the stored one's. */
	[Q_CONTACT_SET] = "UPDATE contacts SET handle = COALESCE(?2, handle), email = COALESCE(?3, email),"
			  " name = CASE WHEN ?4 IS NOT NULL AND ?5 >= name_source THEN ?4 ELSE name END,"
			  " name_source = CASE WHEN ?4 IS NOT NULL AND ?5 >= name_source THEN ?5 ELSE name_source END"
			  " WHERE id = ?1 AND (COALESCE(?2, handle) IS NOT handle OR COALESCE(?3, email) IS NOT email"
			  " OR (?4 IS NOT NULL AND ?5 >= name_source AND (?4 IS NOT name OR ?5 <> name_source)))",
	[Q_CONTACT_EXTERNAL_SET] = "UPDATE contacts SET external_id = ?2 WHERE id = ?1",
	[Q_CONTACT_MOVE_KEYS] = "UPDATE contact_keys SET contact_id = ?2 WHERE contact_id = ?1",
	[Q_CONTACT_MOVE_THREADS] = "UPDATE threads SET contact_id = ?2 WHERE contact_id = ?1",
	[Q_CONTACT_DELETE] = "DELETE FROM contacts WHERE id = ?1",
	[Q_CONTACT_GET] = "SELECT " STORE_SQL_CONTACT_COLUMNS " FROM contacts c WHERE c.id = ?1",
	[Q_CONTACT_SEARCH] = "SELECT " STORE_SQL_CONTACT_COLUMNS " FROM contacts_fts f JOIN contacts c ON c.id = f.rowid"
			     " WHERE contacts_fts MATCH ?1 ORDER BY f.rowid DESC LIMIT ?2",
	[Q_LABEL_ADD] = "INSERT OR IGNORE INTO ticket_labels (ticket_id, label) VALUES (?1, ?2)",
	[Q_LABEL_DEL] = "DELETE FROM ticket_labels WHERE ticket_id = ?1 AND label = ?2",
	[Q_TICKET_PRIORITY] = "UPDATE tickets SET priority = ?2, due = ?3, updated = ?4 WHERE id = ?1 AND priority <> ?2",
	/* The thread's open ticket (0: none) and its newest ticket. */
	[Q_TICKET_REOPEN_CHECK] = "SELECT COALESCE(t.ticket_id, 0), (SELECT max(id) FROM tickets WHERE thread_id = t.id)"
				  " FROM threads t WHERE t.id = ?1",
	[Q_TICKET_REOPEN] = "UPDATE tickets SET status = 'waiting', assignee = NULL, resolved = NULL, due = ?2,"
			    " updated = ?3, reopened = ?3, snoozed_until = NULL WHERE id = ?1 AND status = 'resolved'",
	[Q_THREAD_REOPEN] = "UPDATE threads SET owner = 'waiting', ticket_id = ?2, claim_seq = claim_seq + 1,"
			    " updated = ?3 WHERE id = ?1 AND ticket_id IS NULL",
	[Q_TICKET_SNOOZE] = "UPDATE tickets SET snoozed_until = ?2, updated = ?3 WHERE id = ?1",
	[Q_SEEN] = "INSERT INTO ticket_seen (ticket_id, login, message_id) VALUES (?1, ?2, ?3)"
		   " ON CONFLICT (ticket_id, login) DO UPDATE SET message_id = max(message_id, excluded.message_id)",
	[Q_COUNTS] = "SELECT count(*) FILTER (WHERE NOT z), count(*) FILTER (WHERE NOT z AND status = 'waiting'),"
		     " count(*) FILTER (WHERE NOT z AND status = 'claimed' AND assignee = ?1 COLLATE NOCASE),"
		     " count(*) FILTER (WHERE z), count(*) FILTER (WHERE NOT z AND due < ?2)"
		     " FROM (SELECT status, assignee, due, COALESCE(snoozed_until > ?2, 0) AS z FROM tickets"
		     " WHERE status IN ('waiting', 'claimed'))",
	[Q_TEAM_LIST] = "SELECT key, value, updated FROM team WHERE kind = ?1 ORDER BY key",
	[Q_TEAM_PUT] = "INSERT OR REPLACE INTO team (kind, key, value, updated) VALUES (?1, ?2, ?3, ?4)",
	[Q_TEAM_DELETE] = "DELETE FROM team WHERE kind = ?1 AND key = ?2",
	[Q_TEAM_UNLABEL] = "DELETE FROM ticket_labels WHERE label = ?1",
	[Q_TICKET_UPDATED] = "UPDATE tickets SET updated = ?2 WHERE id = ?1",
};
/* clang-format on */

/* A committed group waiting to be reported. */
struct waiter {
	store_done_fn done;
	void *arg;
	int rc;
};

struct waiters {
	struct waiter *v;
	size_t n, cap;
};

struct sqlite {
	struct store base; /* first: what every operation receives */
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[Q_COUNT];
	int64_t data_version;
	int wal_pages;
	int tx_open;   /* a group transaction is open */
	int tx_lost;   /* SQLite rolled it back on its own (disk full, I/O error) */
	int tx_fail;   /* a write of the group failed: the commit reports -1 */
	int urgent;    /* the group holds writes someone waits for (store_dirty 2) */
	int deferred;  /* commits do not sync; a worker fdatasyncs the WAL */
	int unindexed; /* the group added messages the search index does not hold yet */

	uv_loop_t *loop;
	int stopped;
	/* Groups committed and not yet reported: `waiting` for the next sync,
	 * `syncing` covered by the one running on a worker. */
	struct waiters waiting, syncing;
	uv_work_t sync_work;
	int sync_running;
	int sync_err;        /* written by the worker, read after it */
	int dir_synced_work; /* the WAL's directory entry is on disk (worker's flag) */
	int dir_synced_loop; /* (the loop thread's flag) */
	uint64_t sync_start_ns;
	uv_work_t ckpt_work;
	int ckpt_running;
	int ckpt_truncate;     /* the running checkpoint truncates the WAL */
	int ckpt_rc;           /* its outcome (SQLite code, written by the worker) */
	int ckpt_complete;     /* every frame it found was checkpointed (worker's) */
	int ckpt_done_pages;   /* frames it left checkpointed (worker's) */
	int ckpt_tail;         /* the loop finishes the last pass's tail between two groups */
	int ckpt_passes;       /* passes in a row that each left a long tail */
	uint64_t ckpt_commits; /* s->commits when it started */
	uint64_t ckpt_last_ms;
	sqlite3 *ckpt_db; /* the checkpointer's connection (worker thread only) */
	uint64_t commits;
	uv_timer_t maintain;
	int timer_open;

	/* Health (store_health). */
	enum store_health_state state;
	char state_detail[160];
	uint64_t errors;
	int64_t free_bytes;
	int64_t min_free;
	char *dir; /* where the database file lives, for statvfs */

	void (*timing)(void *arg, enum store_timing t, double seconds);
	void *timing_arg;

	/* The rows of the last store_record_post / store_agent_reply, handed to
	 * its callback (borrowed strings). */
	struct store_out rows[STORE_MAX_PARTS + 1];
	char idem[STORE_MAX_PARTS + 1][24];
};

/* The backend's store from the one every operation receives. */
static struct sqlite *sq(struct store *base)
{
	return (struct sqlite *)base;
}

static const struct sqlite *csq(const struct store *base)
{
	return (const struct sqlite *)base;
}

/* A change of health, logged once when it happens. */
static void set_state(struct sqlite *s, enum store_health_state st, const char *detail)
{
	enum store_health_state was = s->state;
	snprintf(s->state_detail, sizeof(s->state_detail), "%s", st == STORE_OK ? "" : detail);
	s->state = st;
	if (st == was)
		return;
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, detail);
	if (st == STORE_OK)
		log_info("store healthy again: new work is taken", "path=%s was=%s", s->path,
		         store_health_name(was));
	else if (st == STORE_LOW_SPACE)
		log_warn("store low on space: new work is refused until space is freed", "path=%s detail=%s",
		         s->path, b.p);
	else
		log_error("store cannot write: new work is refused until it can",
		          "path=%s state=%s detail=%s", s->path, store_health_name(st), b.p);
	buf_free(&b);
}

/* The state free space alone calls for, when writes work. */
static void space_state(struct sqlite *s)
{
	if (s->min_free > 0 && s->free_bytes >= 0 && s->free_bytes < s->min_free) {
		char d[160];
		snprintf(d, sizeof(d), "%lld bytes free, below store.min_free (%lld)",
		         (long long)s->free_bytes, (long long)s->min_free);
		set_state(s, STORE_LOW_SPACE, d);
	} else {
		set_state(s, STORE_OK, "");
	}
}

/* Look at the free space of the store's file system (cheap: one statvfs). */
static void space_check(struct sqlite *s)
{
	struct statvfs v;
	if (!s->dir || statvfs(s->dir, &v) != 0) {
		s->free_bytes = -1;
		return;
	}
	s->free_bytes = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
	if (s->state == STORE_OK || s->state == STORE_LOW_SPACE)
		space_state(s);
}

/* What a failed SQLite call with (extended) code `code` says about the
 * store: full, failing, or nothing (busy, a constraint: the call's own). */
static void fault(struct sqlite *s, int code, const char *msg)
{
	switch (code & 0xff) {
	case SQLITE_FULL: set_state(s, STORE_FULL, msg ? msg : "database or disk is full"); break;
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PERM: set_state(s, STORE_FAILING, msg ? msg : "I/O error"); break;
	default: break;
	}
}

/* Writes work (a commit went through): leave a fault state. */
static void writes_ok(struct sqlite *s)
{
	s->commits++;
	if (s->state == STORE_FULL || s->state == STORE_FAILING) {
		space_check(s);
		space_state(s);
	}
}

/* Log a SQLite failure: what we were doing and SQLite's own message. */
static void db_error(struct sqlite *s, const char *op)
{
	struct buf b;
	int code = sqlite3_extended_errcode(s->db);
	s->errors++;
	buf_init(&b, 0);
	log_quote(&b, sqlite3_errmsg(s->db));
	log_error("store error", "op=%s code=%d err=%s", op, code, b.p);
	buf_free(&b);
	fault(s, code, sqlite3_errmsg(s->db));
}

/*
 * The statement for q, prepared on first use and kept (persistent), reset
 * and without bindings.  NULL after logging if it does not prepare.
 */
static sqlite3_stmt *q(struct sqlite *s, enum q id)
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

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const char *v = col(st, i);
	snprintf(out, n, "%s", v ? v : "");
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const char *v = col(st, i);
	return v ? xstrdup(v) : NULL;
}

/* Step a statement that returns no rows; reset it either way.  0 or -1. */
static int run(struct sqlite *s, sqlite3_stmt *st, const char *op)
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
static int insert(struct sqlite *s, sqlite3_stmt *st, const char *op, int64_t *id)
{
	if (run(s, st, op) < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int exec(struct sqlite *s, const char *text, const char *op)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, msg ? msg : "?");
		log_error("store error", "op=%s err=%s", op, b.p);
		buf_free(&b);
		s->errors++;
		fault(s, sqlite3_extended_errcode(s->db), msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* A PRAGMA that returns one integer; -1 on error. */
static int64_t pragma_int(struct sqlite *s, const char *text)
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
	struct sqlite *s = arg;
	(void)db;
	(void)name;
	s->wal_pages = pages;
	return SQLITE_OK;
}

/*
 * Bring the schema to STORE_SCHEMA_VERSION in one transaction.  With
 * `probe`, the transaction writes even when there is nothing to migrate
 * (the schema version, unchanged), so a store that cannot be written is
 * found here rather than by the first customer.
 */
static int migrate(struct sqlite *s, int probe, char *err, size_t errn)
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
		char *text = schema_sql((size_t)i, SCHEMA_SQLITE);
		int rc = exec(s, text, "migrate");
		free(text);
		if (rc < 0 || exec(s, pragma, "migrate") < 0) {
			snprintf(err, errn, "migration to schema %lld failed: %s", (long long)(i + 1),
			         sqlite3_errmsg(s->db));
			exec(s, "ROLLBACK", "migrate");
			return -1;
		}
		log_info("store migrated", "schema=%lld", (long long)(i + 1));
	}
	if (probe && v == STORE_SCHEMA_VERSION) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
		if (exec(s, pragma, "probe") < 0) {
			snprintf(err, errn, "cannot write to the store: %s", sqlite3_errmsg(s->db));
			exec(s, "ROLLBACK", "migrate");
			return -1;
		}
	}
	if (exec(s, "COMMIT", "migrate") < 0) {
		snprintf(err, errn, "cannot write to the store: %s", sqlite3_errmsg(s->db));
		exec(s, "ROLLBACK", "migrate");
		return -1;
	}
	return 0;
}

/* The directory of path (for statvfs), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
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

static void maintain_cb(uv_timer_t *t);
static void sq_close(struct store *base);

static const struct store_backend sqlite_backend;

struct store *store_sqlite_open(const struct store_conf *conf, char *err, size_t errn)
{
	struct sqlite *s;
	char pragma[64];
	static int configured;
	const char *path = conf->path;

	/* Memory statistics cost a global mutex on every allocation; nothing
	 * here reads them.  Only possible before SQLite initialises. */
	if (!configured) {
		configured = 1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
	if (!path) {
		snprintf(err, errn, "no store path");
		return NULL;
	}
	if (strcmp(path, ":memory:") != 0 && create_private(path, err, errn) < 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->base.be = &sqlite_backend;
	s->path = xstrdup(path);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errn, "cannot open %s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sq_close(&s->base);
		return NULL;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* SQLite opens a file it may not write read-only, without a word; the
	 * daemon would then fail every customer.  Say so now instead. */
	if (conf->loop && sqlite3_db_readonly(s->db, "main") == 1) {
		snprintf(err, errn,
		         "%s is read-only: the daemon needs to write it (check the file's owner and "
		         "permissions, and that its file system is mounted read-write)",
		         path);
		sq_close(&s->base);
		return NULL;
	}
	/* journal_mode answers with the mode in force: anything but "wal"
	 * (e.g. a read-only directory) is refused. */
	sqlite3_stmt *st;
	int wal = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *m = sqlite3_column_text(st, 0);
			wal =
			    m && (strcmp((const char *)m, "wal") == 0 ||
			          (strcmp((const char *)m, "memory") == 0 && strcmp(path, ":memory:") == 0));
		}
		sqlite3_finalize(st);
	}
	if (!wal) {
		char *dir = dir_of(path);
		struct statvfs v;
		if (statvfs(dir, &v) == 0 && (v.f_flag & ST_RDONLY))
			snprintf(err, errn, "%s is on a read-only file system: the daemon needs to write it",
			         path);
		else if (access(dir, W_OK) != 0)
			snprintf(
			    err, errn,
			    "cannot write in %s (it holds the store's -wal and -shm files): check its owner "
			    "and permissions",
			    dir);
		else
			snprintf(err, errn, "cannot use WAL mode on %s: %s", path, sqlite3_errmsg(s->db));
		free(dir);
		sq_close(&s->base);
		return NULL;
	}
	/* With a loop, FULL durability comes from the WAL sync on a worker. */
	s->loop = conf->loop;
	s->deferred = conf->sync_full && conf->loop;
	snprintf(pragma, sizeof(pragma), "PRAGMA synchronous = %s",
	         conf->sync_full && !s->deferred ? "FULL" : "NORMAL");
	/* A reset WAL keeps at most this much of the space it once took. */
	char limit[64];
	snprintf(limit, sizeof(limit), "PRAGMA journal_size_limit = %d", WAL_SIZE_LIMIT);
	/* A 1 MiB page cache holds the hot end of the tables a bot touches
	 * (new rows go to the end of every table and index); every megabyte
	 * counts on the machines frontdesk is made for. */
	if (exec(s, pragma, "open") < 0 || exec(s, "PRAGMA wal_autocheckpoint = 0", "open") < 0 ||
	    exec(s, "PRAGMA foreign_keys = ON", "open") < 0 ||
	    exec(s, "PRAGMA cache_size = -1024", "open") < 0 || exec(s, limit, "open") < 0) {
		snprintf(err, errn, "cannot configure %s: %s", path, sqlite3_errmsg(s->db));
		sq_close(&s->base);
		return NULL;
	}
	sqlite3_wal_hook(s->db, wal_hook, s);
	if (migrate(s, conf->loop != NULL, err, errn) < 0) {
		sq_close(&s->base);
		return NULL;
	}
	s->min_free = conf->min_free > 0 ? conf->min_free : 0;
	s->free_bytes = -1;
	if (strcmp(path, ":memory:") != 0)
		s->dir = dir_of(path);
	space_check(s);
	s->data_version = pragma_int(s, "PRAGMA data_version");
	if (s->loop) {
		/* Start with an empty WAL (a crash or the migration may have left
		 * pages in it): what a full disk would need to take in is then
		 * only what was written since the last checkpoint.  Start-up may
		 * wait for the disk. */
		if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) !=
		    SQLITE_OK)
			db_error(s, "checkpoint");
		s->wal_pages = 0;
		uv_timer_init(s->loop, &s->maintain);
		s->maintain.data = s;
		uv_timer_start(&s->maintain, maintain_cb, MAINTAIN_MS, MAINTAIN_MS);
		uv_unref((uv_handle_t *)&s->maintain);
		s->timer_open = 1;
		s->ckpt_last_ms = time_mono_ms();
	}
	return &s->base;
}

static const char *sq_where(const struct store *base)
{
	const struct sqlite *s = csq(base);
	return s->path;
}

static void sq_on_timing(struct store *base, void (*fn)(void *arg, enum store_timing t, double seconds),
                         void *arg)
{
	struct sqlite *s = sq(base);
	s->timing = fn;
	s->timing_arg = arg;
}

static int sq_dirty(const struct store *base)
{
	const struct sqlite *s = csq(base);
	return !s->tx_open ? 0 : s->urgent ? 2 : 1;
}

static size_t sq_committing(const struct store *base)
{
	const struct sqlite *s = csq(base);
	return s->waiting.n + s->syncing.n;
}

/* --- the group ------------------------------------------------------------ */

/*
 * SQLite may roll a whole transaction back by itself after some errors
 * (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM).  The group is then gone even
 * though the caller still thinks it is open: remember that, so the next
 * store_commit reports the loss instead of acknowledging lost posts.
 */
static void check_lost(struct sqlite *s)
{
	if (s->tx_open && sqlite3_get_autocommit(s->db) && !s->tx_lost) {
		s->tx_lost = 1;
		log_error("store transaction rolled back by SQLite: the group is lost", "path=%s", s->path);
	}
}

/* Open the group unless it is open, for reads and for writes that may
 * wait for the next group (delivery outcomes).  0 or -1. */
static int begin_lazy(struct sqlite *s)
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

/* begin_lazy, for a write someone waits for (store_dirty says 2). */
static int begin(struct sqlite *s)
{
	if (begin_lazy(s) < 0)
		return -1;
	s->urgent = 1;
	return 0;
}

/* A write of the group failed: the group is lost, say so at the commit. */
static int failed(struct sqlite *s)
{
	if (s->tx_open)
		s->tx_fail = 1;
	return -1;
}

static void sq_rollback(struct store *base)
{
	struct sqlite *s = sq(base);
	if (!sqlite3_get_autocommit(s->db))
		run(s, q(s, Q_ROLLBACK), "rollback");
	s->tx_open = 0;
	s->tx_lost = 0;
	s->tx_fail = 0;
	s->urgent = 0;
	s->unindexed = 0;
}

/* Commit the open group on this thread.  0 or -1 (rolled back, logged). */
static int commit_tx(struct sqlite *s)
{
	if (!s->tx_open)
		return 0;
	check_lost(s);
	if (s->tx_lost || s->tx_fail) {
		log_error("store group failed: rolled back", "path=%s", s->path);
		sq_rollback(&s->base);
		return -1;
	}
	/* The group's messages into the search index, in one statement. */
	if (s->unindexed && run(s, q(s, Q_MSG_INDEX), "message_index") < 0) {
		log_error("store group failed: rolled back", "path=%s", s->path);
		sq_rollback(&s->base);
		return -1;
	}
	s->unindexed = 0;
	uint64_t t0 = time_mono_ns();
	if (run(s, q(s, Q_COMMIT), "commit") == 0) {
		s->tx_open = 0;
		s->urgent = 0;
		writes_ok(s);
		if (s->timing)
			s->timing(s->timing_arg, STORE_T_COMMIT, (double)(time_mono_ns() - t0) / 1e9);
		return 0;
	}
	/* A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY) or
	 * already rolled back (I/O error): either way the group is gone. */
	sq_rollback(&s->base);
	return -1;
}

/*
 * fdatasync the WAL of the database at `path`, and its directory the first
 * time (*dir_synced 0 -> 1), so the WAL file itself survives a power cut.
 * Touches no connection: safe on a worker thread.  0 or -errno.
 */
static int sync_wal(const char *path, int *dir_synced)
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

/* A failed sync (-errno): the store is full or failing. */
static void sync_fault(struct sqlite *s, int err)
{
	char d[160];
	s->errors++;
	snprintf(d, sizeof(d), "WAL sync failed: %s", strerror(err < 0 ? -err : EIO));
	set_state(s, err == -ENOSPC || err == -EDQUOT ? STORE_FULL : STORE_FAILING, d);
}

static void waiters_push(struct waiters *w, store_done_fn done, void *arg, int rc)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->n++] = (struct waiter){done, arg, rc};
}

/* Report every group of w (sync outcome `rc`), in order; w is emptied
 * first, so a callback may commit again. */
static void waiters_fire(struct waiters *w, int rc)
{
	size_t n = w->n;
	struct waiter *v = n ? xmalloc(n * sizeof(*v)) : NULL;
	if (n)
		memcpy(v, w->v, n * sizeof(*v));
	w->n = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].done)
			v[i].done(v[i].arg, v[i].rc < 0 ? -1 : rc);
	free(v);
}

static void sync_work_cb(uv_work_t *w)
{
	struct sqlite *s = w->data;
	s->sync_err = sync_wal(s->path, &s->dir_synced_work);
}

static void sync_start(struct sqlite *s);

static void sync_after_cb(uv_work_t *w, int status)
{
	struct sqlite *s = w->data;
	s->sync_running = 0;
	int rc = 0;
	if (status != 0 || s->sync_err != 0) {
		log_error("WAL sync failed: the groups it covers are lost", "groups=%zu error=%d",
		          s->syncing.n, status != 0 ? status : s->sync_err);
		sync_fault(s, s->sync_err);
		rc = -1;
	} else if (s->timing) {
		s->timing(s->timing_arg, STORE_T_SYNC, (double)(time_mono_ns() - s->sync_start_ns) / 1e9);
	}
	waiters_fire(&s->syncing, rc);
	if (s->waiting.n && !s->sync_running)
		sync_start(s);
}

/* Sync everything committed so far on a worker thread (one at a time). */
static void sync_start(struct sqlite *s)
{
	struct waiters t = s->syncing; /* empty: swap to keep both buffers */
	s->syncing = s->waiting;
	s->waiting = t;
	s->sync_work.data = s;
	s->sync_start_ns = time_mono_ns();
	if (!s->stopped && uv_queue_work(s->loop, &s->sync_work, sync_work_cb, sync_after_cb) == 0) {
		s->sync_running = 1;
		return;
	}
	/* No worker: sync here. */
	int err = sync_wal(s->path, &s->dir_synced_loop);
	if (err != 0)
		sync_fault(s, err);
	waiters_fire(&s->syncing, err == 0 ? 0 : -1);
}

/* Sync on this thread now: every group committed so far is then durable. */
static int sync_now(struct sqlite *s)
{
	uint64_t t0 = time_mono_ns();
	int err = sync_wal(s->path, &s->dir_synced_loop);
	if (err != 0) {
		log_error("WAL sync failed: the groups it covers are lost", "error=%d", err);
		sync_fault(s, err);
	} else if (s->timing)
		s->timing(s->timing_arg, STORE_T_SYNC, (double)(time_mono_ns() - t0) / 1e9);
	waiters_fire(&s->syncing, err == 0 ? 0 : -1);
	waiters_fire(&s->waiting, err == 0 ? 0 : -1);
	return err == 0 ? 0 : -1;
}

static void maybe_checkpoint(struct sqlite *s);
static void checkpoint_start(struct sqlite *s, int truncate);
static void checkpoint_tail(struct sqlite *s);

static void sq_commit(struct store *base, store_done_fn done, void *arg)
{
	struct sqlite *s = sq(base);
	int was_open = s->tx_open;
	int rc = commit_tx(s);
	/* Before the callbacks below, which may open the next group. */
	if (s->ckpt_tail)
		checkpoint_tail(s);
	if (s->deferred && (was_open || s->waiting.n || s->syncing.n)) {
		/* Reported after the sync that covers it (a failed commit too,
		 * so that groups are reported in order). */
		waiters_push(&s->waiting, done, arg, rc);
		if (!s->sync_running)
			sync_start(s);
	} else if (done) {
		done(arg, rc);
	}
	if (s->state == STORE_FULL)
		checkpoint_start(s, 1); /* hand the WAL's space back at once */
	else
		maybe_checkpoint(s);
}

static void sq_health(const struct store *base, struct store_health *h)
{
	const struct sqlite *s = csq(base);
	memset(h, 0, sizeof(*h));
	h->state = s->state;
	snprintf(h->detail, sizeof(h->detail), "%s", s->state_detail);
	h->errors = s->errors;
	h->free_bytes = s->free_bytes;
}

static int sq_commit_sync(struct store *base)
{
	struct sqlite *s = sq(base);
	int rc = commit_tx(s);
	if (s->deferred && sync_now(s) < 0)
		rc = -1;
	return rc;
}

static int sq_external_change(struct store *base)
{
	struct sqlite *s = sq(base);
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

/* --- checkpoints --------------------------------------------------------------- */

/*
 * One checkpoint of s's file on the checkpointer's own connection (opened
 * on first use, kept until store_close).  Runs on a worker thread.  PASSIVE
 * never blocks writers; TRUNCATE (for a full store) waits a little for
 * them, then empties the WAL file so its space goes back to the file
 * system.  Sets s->ckpt_rc (an SQLite code, logged when not OK) and
 * s->ckpt_complete.
 */
static void checkpoint(struct sqlite *s)
{
	int log_pages = 0, done_pages = 0, rc = SQLITE_OK;

	if (!s->ckpt_db) {
		rc = sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_extended_result_codes(s->ckpt_db, 1);
			sqlite3_busy_timeout(s->ckpt_db, 1000);
		}
	}
	/* A connection only opens the WAL on its first read; before that a
	 * checkpoint request finds nothing to do. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->ckpt_db, "PRAGMA schema_version", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL,
		                               s->ckpt_truncate ? SQLITE_CHECKPOINT_TRUNCATE
		                                                : SQLITE_CHECKPOINT_PASSIVE,
		                               &log_pages, &done_pages);
	if (rc != SQLITE_OK) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, s->ckpt_db ? sqlite3_errmsg(s->ckpt_db) : "out of memory");
		log_warn("checkpoint failed", "mode=%s code=%d err=%s",
		         s->ckpt_truncate ? "truncate" : "passive",
		         s->ckpt_db ? sqlite3_extended_errcode(s->ckpt_db) : rc, b.p);
		buf_free(&b);
		if (s->ckpt_db && (rc & 0xff) != SQLITE_BUSY) {
			/* Start afresh next time (a broken file handle, a moved file). */
			sqlite3_close(s->ckpt_db);
			s->ckpt_db = NULL;
		}
	}
	s->ckpt_rc = rc;
	s->ckpt_complete = rc == SQLITE_OK && done_pages >= log_pages;
	s->ckpt_done_pages = rc == SQLITE_OK ? done_pages : 0;
}

static void ckpt_work(uv_work_t *w)
{
	checkpoint(w->data);
}

static void probe(struct sqlite *s);

static void ckpt_after(uv_work_t *w, int status)
{
	struct sqlite *s = w->data;
	s->ckpt_running = 0;
	if (status != 0)
		return;
	if (s->ckpt_rc == SQLITE_OK && s->ckpt_complete && s->commits == s->ckpt_commits) {
		s->wal_pages = 0; /* nothing left to checkpoint until the next commit */
		s->ckpt_passes = 0;
	} else if (s->ckpt_rc == SQLITE_OK && !s->ckpt_truncate && !s->stopped) {
		/* Groups were committed meanwhile: finish the tail between two
		 * groups, or take the rest in another pass now. */
		int tail = s->wal_pages - s->ckpt_done_pages;
		if (tail <= CHECKPOINT_TAIL || ++s->ckpt_passes >= CHECKPOINT_PASSES)
			s->ckpt_tail = 1;
		else
			checkpoint_start(s, 0);
	}
	if ((s->ckpt_rc & 0xff) != SQLITE_OK && (s->ckpt_rc & 0xff) != SQLITE_BUSY) {
		s->errors++;
		if (s->state == STORE_OK || s->state == STORE_LOW_SPACE)
			fault(s, s->ckpt_rc, sqlite3_errstr(s->ckpt_rc));
	}
	/* A full store tries a write as soon as the WAL gave its space back. */
	if (s->ckpt_truncate && s->ckpt_rc == SQLITE_OK && s->state == STORE_FULL && !s->stopped)
		probe(s);
}

/* Start a checkpoint on a worker thread (one at a time). */
static void checkpoint_start(struct sqlite *s, int truncate)
{
	if (!s->loop || s->stopped || s->ckpt_running)
		return;
	s->ckpt_work.data = s;
	s->ckpt_truncate = truncate;
	s->ckpt_commits = s->commits;
	if (uv_queue_work(s->loop, &s->ckpt_work, ckpt_work, ckpt_after) == 0) {
		s->ckpt_running = 1;
		s->ckpt_last_ms = time_mono_ms();
	}
}

/*
 * The tail a worker's pass left (CHECKPOINT_TAIL frames, or more after
 * CHECKPOINT_PASSES passes), on the writer's connection between two
 * groups, so that the next group starts the WAL from its beginning.  The
 * connection syncs the WAL before and the database file after, as every
 * checkpoint does: a short wait on the loop, once per cycle of the WAL.
 * Anything but success leaves it to the next pass.
 */
static void checkpoint_tail(struct sqlite *s)
{
	int log_pages = 0, done_pages = 0;
	s->ckpt_tail = 0;
	if (s->tx_open || s->ckpt_running || s->stopped || s->wal_pages <= 0 ||
	    (s->state != STORE_OK && s->state != STORE_LOW_SPACE))
		return;
	s->ckpt_passes = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &done_pages);
	if (rc == SQLITE_OK && done_pages >= log_pages)
		s->wal_pages = 0;
}

/* Checkpoint on a worker thread once the WAL is large, and every second
 * while it holds anything: readers never walk a long log, and the WAL never
 * holds much that the database file must take in before it is reused. */
static void maybe_checkpoint(struct sqlite *s)
{
	uint64_t now = time_mono_ms();
	if (s->wal_pages <= 0)
		return;
	if (s->wal_pages < CHECKPOINT_PAGES && now - s->ckpt_last_ms < CHECKPOINT_IDLE_MS)
		return;
	checkpoint_start(s, 0);
}

/*
 * A full or failing store: is it writable again?  One small write (the
 * schema version, unchanged) in a transaction of its own, when no group is
 * open.  Success makes the store OK (or low on space).
 */
static void probe(struct sqlite *s)
{
	char pragma[64];
	if (s->tx_open || !sqlite3_get_autocommit(s->db))
		return;
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		writes_ok(s);
		return;
	}
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void maintain_cb(uv_timer_t *t)
{
	struct sqlite *s = t->data;
	space_check(s);
	if (s->state == STORE_FULL) {
		/* Give the WAL's space back, then try a write (ckpt_after). */
		checkpoint_start(s, 1);
	} else if (s->state == STORE_LOW_SPACE && s->wal_pages > 0) {
		/* Short of space: the WAL keeps none of it once checkpointed. */
		checkpoint_start(s, 1);
	} else if (s->state == STORE_FAILING) {
		probe(s);
	} else {
		maybe_checkpoint(s);
	}
}

static void sq_stop(struct store *base)
{
	struct sqlite *s = sq(base);
	if (!s || s->stopped)
		return;
	/* Whatever waits for a sync is settled by one here, so nothing is
	 * reported after the loop's owners closed their handles. */
	if (s->waiting.n || s->syncing.n)
		sync_now(s);
	s->stopped = 1;
	if (s->timer_open) {
		uv_close((uv_handle_t *)&s->maintain, NULL);
		s->timer_open = 0;
	}
}

static void sq_close(struct store *base)
{
	struct sqlite *s = sq(base);
	if (!s)
		return;
	if (s->db && !sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK", "close");
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		db_error(s, "close");
	sqlite3_close(s->ckpt_db);
	free(s->dir);
	free(s->waiting.v);
	free(s->syncing.v);
	free(s->path);
	free(s);
}

/* --- posts and threads -------------------------------------------------------- */

static enum thread_owner owner_parse(const char *s)
{
	if (s && strcmp(s, "waiting") == 0)
		return THREAD_WAITING;
	if (s && strcmp(s, "claimed") == 0)
		return THREAD_CLAIMED;
	return THREAD_BOT;
}

/* The thread columns 0..10 of Q_LOOKUP / Q_THREAD_GET into t, and the
 * satisfaction question's three from column `rating` on. */
static void thread_read(sqlite3_stmt *st, struct store_thread *t, int rating)
{
	t->rating_ticket = sqlite3_column_int64(st, rating);
	t->rating_asked = (time_t)sqlite3_column_int64(st, rating + 1);
	t->rating_next = sqlite3_column_int(st, rating + 2);
	t->id = sqlite3_column_int64(st, 0);
	t->owner = owner_parse(col(st, 1));
	t->ticket_id = sqlite3_column_int64(st, 2);
	t->ticket_due = (time_t)sqlite3_column_int64(st, 3);
	copy_col(st, 4, t->assignee, sizeof(t->assignee));
	t->last_ack = (time_t)sqlite3_column_int64(st, 5);
	t->last_waiting_notice = (time_t)sqlite3_column_int64(st, 6);
	t->claim_seq = sqlite3_column_int64(st, 7);
	copy_col(st, 8, t->ticket_reason, sizeof(t->ticket_reason));
	t->ticket_private = sqlite3_column_int(st, 9);
	t->last_in = (time_t)sqlite3_column_int64(st, 10);
}

static void sq_lookup(struct store *base, const char *platform, const char *post_id, const char *thread_key,
                      store_lookup_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct store_lookup l;
	/* In the group, which the post's record will need next anyway: one
	 * lock for both, instead of a read transaction of its own. */
	sqlite3_stmt *st = begin_lazy(s) == 0 ? q(s, Q_LOOKUP) : NULL;
	memset(&l, 0, sizeof(l));
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, platform);
	bind_text(st, 2, thread_key);
	bind_text(st, 3, post_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		thread_read(st, &l.thread, 14);
		l.duplicate = sqlite3_column_type(st, 11) != SQLITE_NULL;
		l.message_id = sqlite3_column_int64(st, 12);
		l.ts = (time_t)sqlite3_column_int64(st, 13);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		db_error(s, "lookup");
		cb(arg, -1, NULL);
		return;
	}
	cb(arg, 0, &l);
}

static void sq_thread_get(struct store *base, const char *platform, const char *thread_key,
                          store_thread_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct store_thread t;
	sqlite3_stmt *st = q(s, Q_THREAD_GET);
	memset(&t, 0, sizeof(t));
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, platform);
	bind_text(st, 2, thread_key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		thread_read(st, &t, 11);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(s, "thread_get");
		cb(arg, -1, NULL);
		return;
	}
	cb(arg, 0, &t);
}

static int msg_insert(struct sqlite *s, int64_t thread_id, const char *sender, const char *agent,
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
	s->unindexed = 1;
	return insert(s, st, "message_insert", id);
}

static int event_insert(struct sqlite *s, int64_t ticket, time_t ts, const char *kind, const char *actor,
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

/* The ticket changed at `now` (its `updated`; a snooze is not ended). */
static int ticket_touch(struct sqlite *s, int64_t id, time_t now)
{
	sqlite3_stmt *st = q(s, Q_TICKET_UPDATED);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return run(s, st, "ticket_updated");
}

/* Idempotency key of an outbox row: stable, short enough for every
 * platform (Discord nonces take 25 characters).  A post's reply parts are
 * numbered from 0; its "take it offline" pointer has a number of its own. */
/* Insert reply row o (kind reply); o->id is set. */
static int out_insert(struct sqlite *s, struct store_out *o)
{
	sqlite3_stmt *st = q(s, Q_OUT_INSERT);
	if (!st)
		return -1;
	bind_text(st, 1, o->connector);
	bind_id(st, 2, o->thread_id);
	bind_text(st, 3, o->thread_key);
	bind_text(st, 4, o->reply_to);
	sqlite3_bind_int(st, 5, o->is_private);
	bind_text(st, 6, o->text);
	bind_text(st, 7, o->idem_key);
	bind_text(st, 8, o->sender);
	bind_text(st, 9, o->agent);
	bind_id(st, 10, o->message_id);
	if (o->guard >= 0)
		sqlite3_bind_int64(st, 11, o->guard);
	else
		sqlite3_bind_null(st, 11);
	sqlite3_bind_int64(st, 12, o->created);
	bind_text(st, 13, o->recipient && *o->recipient ? o->recipient : NULL);
	bind_id(st, 14, o->rating);
	return insert(s, st, "outbox_insert", &o->id);
}

/*
 * The post was stored before (earlier in this group: another writer has
 * none with SQLite): take back the message, and the thread when it was
 * made for this post, so that nothing of it stays.  1, or -1.
 */
static int undo_duplicate(struct sqlite *s, int64_t new_thread, int64_t message_id)
{
	sqlite3_stmt *st = q(s, Q_MSG_DELETE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	if (run(s, st, "message_delete") < 0)
		return -1;
	if (new_thread > 0) {
		if (!(st = q(s, Q_THREAD_DELETE)))
			return -1;
		sqlite3_bind_int64(st, 1, new_thread);
		if (run(s, st, "thread_delete") < 0)
			return -1;
	}
	return 1;
}

/*
 * The contact of author (platform, author_id) in *id, created (with the
 * handle and name the platform shows) when the author has none.  0 or -1.
 */
static int contact_of(struct sqlite *s, const char *platform, const char *author_id, const char *handle,
                      const char *name, time_t now, int64_t *id)
{
	sqlite3_stmt *st = q(s, Q_CONTACT_KEY);
	if (!st)
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, author_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE) {
		db_error(s, "contact_key");
		return -1;
	}
	if (!(st = q(s, Q_CONTACT_INSERT)))
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, store_bounded(name, STORE_MAX_CONTACT));
	bind_text(st, 3, store_bounded(handle, STORE_MAX_CONTACT));
	sqlite3_bind_int64(st, 4, now);
	bind_text(st, 5, author_id);
	if (insert(s, st, "contact_insert", id) < 0 || !(st = q(s, Q_CONTACT_KEY_INSERT)))
		return -1;
	bind_text(st, 1, platform);
	bind_text(st, 2, author_id);
	sqlite3_bind_int64(st, 3, *id);
	return run(s, st, "contact_key_insert");
}

static int ticket_set(struct sqlite *s, int64_t id, const char *status, const char *assignee, time_t now);

/*
 * A person of the business wrote in the thread on the platform itself
 * (record, decision take_over): the thread's ticket becomes theirs, or a
 * ticket is opened for them, claimed; a ticket a person of ours claimed
 * stays theirs and only notes the message.  *ticket in/out.
 */
static int take_over(struct sqlite *s, const struct store_record *r, const struct store_recorded *out,
                     enum thread_owner owner, int64_t *ticket)
{
	const struct post *p = r->post;
	const char *who = store_author_of(p) ? store_author_of(p) : "a person on the platform";
	sqlite3_stmt *st;

	if (owner == THREAD_CLAIMED && *ticket > 0)
		return event_insert(s, *ticket, r->now, "message", who, out->message_id, NULL);
	if (owner == THREAD_BOT || *ticket <= 0) {
		if (!(st = q(s, Q_TICKET_INSERT)))
			return -1;
		sqlite3_bind_int64(st, 1, out->thread_id);
		bind_text(st, 2, priority_name(PRIO_NORMAL));
		bind_text(st, 3, NULL);
		bind_text(st, 4, p->platform);
		bind_text(st, 5, NULL);
		sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, r->now);
		sqlite3_bind_int(st, 8, 1);
		bind_text(st, 9, NULL);
		bind_text(st, 10, "claimed");
		bind_text(st, 11, who);
		if (insert(s, st, "ticket_insert", ticket) < 0 ||
		    event_insert(s, *ticket, r->now, "opened", who, out->message_id,
		                 "taken over on the platform") < 0)
			return -1;
	} else if (ticket_set(s, *ticket, "claimed", who, r->now) < 0 ||
	           event_insert(s, *ticket, r->now, "message", who, out->message_id, NULL) < 0) {
		return -1;
	}
	return event_insert(s, *ticket, r->now, "claimed", who, 0, "answered on the platform itself");
}

/* The writes of store_record_post, in the open group: 0, 1 (stored
 * before: nothing written), or -1. */
static int rating_after_post(struct sqlite *s, const struct store_record *r, int64_t thread_id,
                             int64_t message_id, int ticket_opened);

static int record(struct sqlite *s, const struct store_record *r, struct store_recorded *out)
{
	const struct post *p = r->post;
	const struct decision *d = r->decision;
	const struct store_thread *t = r->thread;
	const char *connector = p->connector ? p->connector : p->platform;
	/* A person of the business writing on the platform (decision
	 * take_over): their message, not the customer's.  Neither what
	 * replies answer nor the reply window moves. */
	int staff = d->take_over;
	const char *last_post = staff ? NULL : p->reply_to_id ? p->reply_to_id : p->post_id;
	enum thread_owner owner = t->owner;
	int64_t ticket = t->ticket_id;
	time_t last_ack = t->last_ack, last_notice = t->last_waiting_notice;
	time_t created = p->created ? p->created : r->now;
	time_t last_in = staff || created <= t->last_in ? t->last_in : created;
	int bump = 0; /* claim_seq: pending bot replies of the thread are withdrawn */
	size_t n = r->n_parts < STORE_MAX_PARTS ? r->n_parts : STORE_MAX_PARTS;
	sqlite3_stmt *st;

	if (n > 0) {
		/* A reply in a thread a person owns is the "we have your message"
		 * notice; elsewhere an acknowledgement starts the cooldown. */
		if (d->append_ticket)
			last_notice = r->now;
		else if (d->action == ACTION_ACK || d->action == ACTION_ESCALATE)
			last_ack = r->now;
	}
	out->thread_id = t->id;
	if (!out->thread_id) {
		int64_t contact = 0;
		/* A person of the business opening the thread is not its customer. */
		if (!staff && p->author_id && *p->author_id && strlen(p->author_id) <= STORE_MAX_KEY &&
		    contact_of(s, p->platform, p->author_id, p->author_handle, p->author_name, r->now,
		               &contact) < 0)
			return -1;
		if (!(st = q(s, Q_THREAD_INSERT)))
			return -1;
		bind_text(st, 1, p->platform);
		bind_text(st, 2, p->thread_key);
		bind_text(st, 3, connector);
		sqlite3_bind_int(st, 4, !p->is_public);
		bind_text(st, 5, staff ? NULL : store_author_of(p));
		sqlite3_bind_int64(st, 6, last_ack);
		sqlite3_bind_int64(st, 7, last_notice);
		bind_text(st, 8, last_post);
		sqlite3_bind_int64(st, 9, r->now);
		bind_id(st, 10, contact);
		sqlite3_bind_int64(st, 11, last_in);
		if (insert(s, st, "thread_insert", &out->thread_id) < 0)
			return -1;
	}
	if (msg_insert(s, out->thread_id, staff ? "agent" : "customer", staff ? store_author_of(p) : NULL,
	               p->text ? p->text : "", r->now, p->client_id, "sent", &out->message_id) < 0)
		return -1;

	if (!(st = q(s, Q_POST_INSERT)))
		return -1;
	bind_text(st, 1, p->platform);
	bind_text(st, 2, p->post_id);
	bind_text(st, 3, connector);
	sqlite3_bind_int64(st, 4, out->thread_id);
	sqlite3_bind_int64(st, 5, out->message_id);
	bind_text(st, 6, p->author_id);
	bind_text(st, 7, p->author_handle);
	bind_text(st, 8, p->author_name);
	bind_text(st, 9, p->text ? p->text : "");
	sqlite3_bind_int64(st, 10, created);
	sqlite3_bind_int64(st, 11, r->now);
	bind_text(st, 12, d->ignored ? "ignore" : action_name(d->action));
	bind_text(st, 13, d->rule);
	bind_text(st, 14, r->decision_json ? r->decision_json : "{}");
	if (insert(s, st, "post_insert", &out->post_row) < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return undo_duplicate(s, t->id == 0 ? out->thread_id : 0, out->message_id);

	int ticket_changed = 0;
	if (staff) {
		if (take_over(s, r, out, owner, &ticket) < 0)
			return -1;
		ticket_changed = owner != THREAD_CLAIMED;
		bump = ticket_changed;
		owner = THREAD_CLAIMED;
		out->ticket_id = ticket;
	} else if (d->open_ticket && owner == THREAD_BOT) {
		enum priority pr = d->priority != PRIO_NONE ? d->priority : PRIO_NORMAL;
		if (!(st = q(s, Q_TICKET_INSERT)))
			return -1;
		sqlite3_bind_int64(st, 1, out->thread_id);
		bind_text(st, 2, priority_name(pr));
		bind_text(st, 3, d->reason);
		bind_text(st, 4, p->platform);
		bind_text(st, 5, store_author_of(p));
		if (d->due)
			sqlite3_bind_int64(st, 6, d->due);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, r->now);
		sqlite3_bind_int(st, 8, d->is_private);
		bind_text(st, 9, p->author_id);
		bind_text(st, 10, "waiting");
		bind_text(st, 11, NULL);
		if (insert(s, st, "ticket_insert", &ticket) < 0)
			return -1;
		if (event_insert(s, ticket, r->now, "opened", NULL, out->message_id, d->reason) < 0)
			return -1;
		owner = THREAD_WAITING;
		out->ticket_id = ticket;
		ticket_changed = 1;
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

	/* The pointer (public, where the post was) goes before the reply. */
	size_t k = 0, total = n + (n && r->pointer ? 1 : 0);
	for (size_t i = 0; i < total; i++) {
		int pointer = total > n && i == 0;
		const char *text = pointer ? r->pointer : r->parts[total > n ? i - 1 : i];
		struct store_out *o = &s->rows[k];
		/* Reply parts keep the keys 0..n-1 whatever comes before them. */
		store_idem_key(s->idem[k], p->platform, p->post_id,
		               pointer ? STORE_POINTER_KEY : (total > n ? i - 1 : i));
		if (msg_insert(s, out->thread_id, "bot", NULL, text, r->now, NULL, "pending",
		               &out->reply_message[k]) < 0)
			return -1;
		*o = (struct store_out){
		    .thread_id = out->thread_id,
		    .message_id = out->reply_message[k],
		    .kind = OUT_REPLY,
		    .connector = (char *)connector,
		    .thread_key = (char *)p->thread_key,
		    .reply_to = (char *)last_post,
		    .text = (char *)text,
		    .idem_key = s->idem[k],
		    .sender = "bot",
		    .is_private = pointer ? 0 : d->is_private,
		    .recipient = (char *)p->author_id,
		    .created = r->now,
		    .guard = t->claim_seq,
		    .last_in = last_in,
		};
		if (out_insert(s, o) < 0)
			return -1;
		out->n_outbox++;
		k++;
	}
	out->rows = s->rows;
	if (rating_after_post(s, r, out->thread_id, out->message_id,
	                      owner == THREAD_WAITING && ticket_changed) < 0)
		return -1;

	if (t->id == 0 && !ticket_changed)
		return 0; /* the new thread was inserted as it is */
	if (t->id == 0) {
		if (!(st = q(s, Q_THREAD_TICKET)))
			return -1;
		sqlite3_bind_int64(st, 1, out->thread_id);
		sqlite3_bind_int64(st, 2, ticket);
		bind_text(st, 3, thread_owner_name(owner));
		sqlite3_bind_int(st, 4, bump);
		return run(s, st, "thread_ticket");
	}
	if (!(st = q(s, Q_THREAD_UPDATE)))
		return -1;
	sqlite3_bind_int64(st, 1, out->thread_id);
	bind_text(st, 2, thread_owner_name(owner));
	bind_id(st, 3, ticket);
	sqlite3_bind_int64(st, 4, last_ack);
	sqlite3_bind_int64(st, 5, last_notice);
	bind_text(st, 6, last_post);
	sqlite3_bind_int64(st, 7, r->now);
	sqlite3_bind_int(st, 8, bump);
	sqlite3_bind_int64(st, 9, last_in);
	return run(s, st, "thread_update");
}

static void sq_record_post(struct store *base, const struct store_record *r, store_recorded_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct store_recorded out;

	memset(&out, 0, sizeof(out));
	int rc = begin(s) < 0 ? -1 : record(s, r, &out);
	if (rc < 0) {
		failed(s);
		cb(arg, -1, NULL);
		return;
	}
	cb(arg, rc, rc == 0 ? &out : NULL);
}

/* --- reading messages ------------------------------------------------------------ */

/* Messages read from a statement, with copies of their strings. */
struct msgs {
	struct store_msg *v;
	size_t n, cap;
};

static void msgs_add(struct msgs *m, sqlite3_stmt *st)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	m->v[m->n++] = (struct store_msg){
	    .id = sqlite3_column_int64(st, 0),
	    .from = dup_col(st, 1),
	    .agent = dup_col(st, 2),
	    .text = dup_col(st, 3),
	    .ts = (time_t)sqlite3_column_int64(st, 4),
	    .client_id = dup_col(st, 5),
	    .state = dup_col(st, 6),
	};
}

static void msgs_free(struct msgs *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free((char *)m->v[i].from);
		free((char *)m->v[i].agent);
		free((char *)m->v[i].text);
		free((char *)m->v[i].client_id);
		free((char *)m->v[i].state);
	}
	free(m->v);
}

/* Read every row of st (bound) as messages; 0 or -1. */
static int msgs_read(struct sqlite *s, sqlite3_stmt *st, struct msgs *m, const char *op)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (col(st, 1) && col(st, 3))
			msgs_add(m, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, op);
		return -1;
	}
	return 0;
}

static void sq_history(struct store *base, const char *platform, const char *thread_key, int64_t before,
                       size_t limit, store_msgs_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct msgs m = {0};
	sqlite3_stmt *st = q(s, Q_HISTORY);
	int rc = -1;
	if (st) {
		bind_text(st, 1, platform);
		bind_text(st, 2, thread_key);
		sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
		sqlite3_bind_int64(st, 4, before > 0 ? before : 0);
		rc = msgs_read(s, st, &m, "history");
	}
	cb(arg, rc, rc == 0 ? m.v : NULL, rc == 0 ? m.n : 0);
	msgs_free(&m);
}

/* --- outbox --------------------------------------------------------------------- */

/* The STORE_SQL_OUT_COLUMNS of st's row into o (strings copied); 0, or -1 when the
 * row is incomplete (logged; it is skipped). */
static int out_read(sqlite3_stmt *st, struct store_out *o)
{
	const char *kind = col(st, 3);
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	o->thread_id = sqlite3_column_int64(st, 1);
	o->message_id = sqlite3_column_int64(st, 2);
	o->kind = kind && strcmp(kind, "notify") == 0 ? OUT_NOTIFY : OUT_REPLY;
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
	o->created = (time_t)sqlite3_column_int64(st, 14);
	o->guard = sqlite3_column_int64(st, 15);
	o->recipient = dup_col(st, 16);
	o->last_in = (time_t)sqlite3_column_int64(st, 17);
	o->rating = sqlite3_column_int64(st, 18);
	if (!o->connector || !o->thread_key || !o->text || !o->idem_key || !o->sender) {
		log_error("outbox row is incomplete", "id=%lld", (long long)o->id);
		store_out_free(o);
		return -1;
	}
	return 0;
}

static void sq_outbox_pending(struct store *base, store_rows_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_OUT_PENDING);
	struct store_out *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			if (out_read(st, &v[n]) == 0)
				n++;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "outbox_pending");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++)
		store_out_free(&v[i]);
	free(v);
}

static int msg_state(struct sqlite *s, int64_t outbox_id, const char *state)
{
	sqlite3_stmt *st = q(s, Q_MSG_STATE);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, outbox_id);
	bind_text(st, 2, state);
	return run(s, st, "message_state");
}

static int outbox_final(struct sqlite *s, int64_t id, const char *state, int attempts, const char *error)
{
	sqlite3_stmt *st;
	if (begin_lazy(s) < 0 || !(st = q(s, Q_OUT_FINAL)))
		return failed(s);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, state);
	sqlite3_bind_int(st, 3, attempts);
	bind_text(st, 4, error);
	if (run(s, st, "outbox_final") < 0)
		return failed(s);
	if (sqlite3_changes(s->db) > 0 && msg_state(s, id, state) < 0)
		return failed(s);
	return 0;
}

static void sq_outbox_claim(struct store *base, const struct store_out *o, store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	/* Only a bot reply can be withdrawn; everything else is sent as is
	 * (this process is the only one that sends from a SQLite store). */
	if (o->kind != OUT_REPLY || o->guard < 0 || !o->thread_id) {
		cb(arg, 0);
		return;
	}
	/* In the group, where the row's outcome is written next. */
	sqlite3_stmt *st = begin_lazy(s) == 0 ? q(s, Q_OUT_GUARD) : NULL;
	if (!st) {
		cb(arg, -1);
		return;
	}
	sqlite3_bind_int64(st, 1, o->thread_id);
	sqlite3_bind_int64(st, 2, o->guard);
	int rc = sqlite3_step(st), withdrawn = 0;
	if (rc == SQLITE_ROW)
		withdrawn = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(s, "outbox_claim");
		cb(arg, -1);
		return;
	}
	if (!withdrawn) {
		cb(arg, 0);
		return;
	}
	log_info("reply withdrawn", "outbox=%lld thread=%lld reason=claimed_by_agent", (long long)o->id,
	         (long long)o->thread_id);
	cb(arg,
	   outbox_final(s, o->id, "cancelled", 0, "the thread was claimed by an agent before sending") < 0
	       ? -1
	       : 1);
}

/*
 * The hot path of delivery: the message is marked first, so a failure
 * between the two statements leaves a row that is sent again later
 * (harmless with its idempotency key), never a delivered row whose
 * message stays hidden.
 */
static int sq_outbox_sent(struct store *base, int64_t id, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin_lazy(s) < 0 || !(st = q(s, Q_MSG_SENT)))
		return failed(s);
	sqlite3_bind_int64(st, 1, id);
	if (run(s, st, "message_sent") < 0 || !(st = q(s, Q_OUT_SENT)))
		return failed(s);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return run(s, st, "outbox_sent") < 0 ? failed(s) : 0;
}

static int sq_outbox_retry(struct store *base, int64_t id, int attempts, int64_t not_before_ms,
                           const char *error)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin_lazy(s) < 0 || !(st = q(s, Q_OUT_RETRY)))
		return failed(s);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, attempts);
	sqlite3_bind_int64(st, 3, not_before_ms);
	bind_text(st, 4, error);
	return run(s, st, "outbox_retry") < 0 ? failed(s) : 0;
}

static int sq_outbox_failed(struct store *base, int64_t id, int attempts, const char *error)
{
	struct sqlite *s = sq(base);
	return outbox_final(s, id, "failed", attempts, error);
}

static int sq_outbox_cancel(struct store *base, int64_t id, const char *why)
{
	struct sqlite *s = sq(base);
	return outbox_final(s, id, "cancelled", 0, why);
}

static void sq_outbox_notify(struct store *base, const char *connector, const char *payload,
                             const char *idem_key, int64_t not_before_ms, time_t now, store_row_fn cb,
                             void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	struct store_out o;
	if (begin(s) < 0 || !(st = q(s, Q_NOTIFY_FIND))) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, idem_key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int ok = out_read(st, &o) == 0;
		sqlite3_reset(st);
		cb(arg, ok ? 1 : -1, ok ? &o : NULL);
		if (ok)
			store_out_free(&o);
		return;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || !(st = q(s, Q_NOTIFY_INSERT))) {
		db_error(s, "notify_find");
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, connector);
	bind_text(st, 2, payload);
	bind_text(st, 3, idem_key);
	sqlite3_bind_int64(st, 4, not_before_ms);
	sqlite3_bind_int64(st, 5, now);
	o = (struct store_out){
	    .kind = OUT_NOTIFY,
	    .connector = (char *)connector,
	    .thread_key = "",
	    .text = (char *)payload,
	    .idem_key = (char *)idem_key,
	    .sender = "bot",
	    .is_private = 1,
	    .not_before_ms = not_before_ms,
	    .created = now,
	    .guard = -1,
	};
	if (insert(s, st, "notify_insert", &o.id) < 0) {
		failed(s);
		cb(arg, -1, NULL);
		return;
	}
	cb(arg, 0, &o);
}

static void sq_outbox_counts(struct store *base, store_counts_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct store_outbox_counts c = {0};
	sqlite3_stmt *st = q(s, Q_OUT_COUNTS);
	int rc = SQLITE_ERROR;
	if (st) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *state = col(st, 0);
			long v = (long)sqlite3_column_int64(st, 1);
			if (!state)
				continue;
			if (!strcmp(state, "pending"))
				c.pending = v;
			else if (!strcmp(state, "sent"))
				c.sent = v;
			else if (!strcmp(state, "failed"))
				c.failed = v;
			else if (!strcmp(state, "cancelled"))
				c.cancelled = v;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "outbox_counts");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, rc == SQLITE_DONE ? &c : NULL);
}

/* --- tickets: the read model ------------------------------------------------------ */

/* One query for every ticket view.  `opening` is the customer message of
 * the ticket's "opened" event, `latest` the newest customer message of
 * the ticket (its opened/message events): both bounded by the ticket.
 * The "due soon" and "missed" marks count from the ticket's last change of
 * priority or reopening.  ?4 is the viewer whose read mark is `seen`. */
#define TICKET_SELECT                                                                                        \
	"SELECT q.*, mo.text, mo.ts, ml.text, ml.ts, c.name, COALESCE((SELECT v.email FROM visitors v"       \
	" WHERE q.platform = 'webchat' AND v.thread_key = q.thread_key), c.email), COALESCE(rt.score, 0),"   \
	" rt.comment FROM (SELECT k.id,"                                                                     \
	" k.status, k.priority, k.reason, k.platform, k.author, k.assignee, COALESCE(k.due, 0) AS due,"      \
	" k.created, k.updated,"                                                                             \
	" COALESCE(k.first_response, 0), COALESCE(k.resolved, 0) AS resolved_at, k.thread_id,"               \
	" th.connector, th.thread_key, th.is_private,"                                                       \
	" (SELECT min(e.message_id) FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = 'opened')"    \
	"  AS open_id,"                                                                                      \
	" (SELECT max(e.message_id) FROM ticket_events e WHERE e.ticket_id = k.id"                           \
	"  AND e.kind IN ('opened', 'message')) AS last_id,"                                                 \
	" (SELECT max(m.id) FROM messages m WHERE m.thread_id = k.thread_id"                                 \
	"  AND (k.resolved IS NULL OR m.ts <= k.resolved)),"                                                 \
	" (SELECT count(*) FROM messages m WHERE m.thread_id = k.thread_id AND m.sender = 'agent'"           \
	"  AND m.state = 'pending')," STORE_SQL_TICKET_MARK("due_soon") STORE_SQL_TICKET_MARK(               \
	    "missed") " CASE k.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE "  \
	              "3 END AS prank,"                                                                      \
	              " COALESCE(k.snoozed_until, 0),"                                                       \
	              " (SELECT group_concat(label, char(10)) FROM (SELECT label FROM ticket_labels"         \
	              "  WHERE ticket_id = k.id ORDER BY label)),"                                           \
	              " (SELECT max(e.id) FROM ticket_events e WHERE e.ticket_id = k.id),"                   \
	              " COALESCE((SELECT s.message_id FROM ticket_seen s WHERE s.ticket_id = k.id AND "      \
	              "s.login = ?4), 0),"                                                                   \
	              " COALESCE(th.contact_id, 0) AS contact_id, COALESCE(k.reopened, 0),"                  \
	              " th.last_in"                                                                          \
	              " FROM tickets k JOIN threads th ON th.id = k.thread_id WHERE "

#define TICKET_FROM_END                                                                                      \
	") q LEFT JOIN messages mo ON mo.id = q.open_id LEFT JOIN messages ml ON ml.id = q.last_id"          \
	" LEFT JOIN contacts c ON c.id = q.contact_id LEFT JOIN ratings rt ON rt.ticket_id = q.id"

static void ticket_read(sqlite3_stmt *st, struct store_ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	t->status = dup_col(st, 1);
	t->priority = dup_col(st, 2);
	t->reason = dup_col(st, 3);
	t->platform = dup_col(st, 4);
	t->author = dup_col(st, 5);
	t->assignee = dup_col(st, 6);
	t->due = (time_t)sqlite3_column_int64(st, 7);
	t->created = (time_t)sqlite3_column_int64(st, 8);
	t->updated = (time_t)sqlite3_column_int64(st, 9);
	t->first_response = (time_t)sqlite3_column_int64(st, 10);
	t->resolved = (time_t)sqlite3_column_int64(st, 11);
	t->thread_id = sqlite3_column_int64(st, 12);
	t->connector = dup_col(st, 13);
	t->thread_key = dup_col(st, 14);
	t->is_private = sqlite3_column_int(st, 15);
	t->opening.id = sqlite3_column_int64(st, 16);
	t->latest.id = sqlite3_column_int64(st, 17);
	t->last_message_id = sqlite3_column_int64(st, 18);
	t->sending = (long)sqlite3_column_int64(st, 19);
	t->warned = sqlite3_column_int(st, 20);
	t->missed = sqlite3_column_int(st, 21); /* 22 is the priority rank */
	t->snoozed_until = (time_t)sqlite3_column_int64(st, 23);
	t->labels = store_split_lines(col(st, 24), &t->n_labels);
	t->last_event_id = sqlite3_column_int64(st, 25);
	t->seen = sqlite3_column_int64(st, 26);
	t->contact_id = sqlite3_column_int64(st, 27);
	t->reopened = (time_t)sqlite3_column_int64(st, 28);
	t->last_in = (time_t)sqlite3_column_int64(st, 29);
	t->opening.text = dup_col(st, 30);
	t->opening.ts = (time_t)sqlite3_column_int64(st, 31);
	t->latest.text = dup_col(st, 32);
	t->latest.ts = (time_t)sqlite3_column_int64(st, 33);
	t->contact_name = dup_col(st, 34);
	t->email = dup_col(st, 35);
	t->rating = sqlite3_column_int(st, 36);
	t->rating_comment = dup_col(st, 37);
	if (!t->opening.text)
		t->opening.id = 0;
	if (!t->latest.text)
		t->latest.id = 0;
}

static const char *order_outer(const char *inner);

/*
 * Run the ticket read model with `where` and `order`; ?1 is `id`, ?2 `since`,
 * ?3 the limit, ?4 the viewer, ?5 `list` (a JSON array of ids, for
 * "k.id IN (SELECT value FROM json_each(?5))").  The tickets go to cb.
 */
/* Orders of the ticket views, on tickets k (inner) and on the read model q
 * (outer), in the same sense. */
#define TICKETS_WHERE_RESOLVED "k.status = 'resolved'"

static void tickets_where(struct sqlite *s, const char *where, const char *order, int64_t id, int64_t since,
                          size_t limit, const char *viewer, const char *list, store_tickets_fn cb, void *arg)
{
	/* The tickets are chosen (and cut to the limit) before the read
	 * model's columns are computed for them: a long history costs an
	 * index walk, not a subquery per ticket. */
	/* The resolved tab walks the resolved tickets' own index, newest
	 * first (SQLite would rather sort them all: 8 ms at 20,000 tickets,
	 * 0.6 ms this way). */
	const char *from = !strcmp(where, TICKETS_WHERE_RESOLVED) && !strcmp(order, STORE_SQL_ORDER_RESOLVED)
	                       ? "tickets k INDEXED BY tickets_resolved"
	                       : "tickets k";
	char *text = xasprintf(TICKET_SELECT
	                       "k.id IN (SELECT k.id FROM %s WHERE %s ORDER BY %s LIMIT ?3)" TICKET_FROM_END
	                       " ORDER BY %s",
	                       from, where, order, order_outer(order));
	sqlite3_stmt *st = NULL;
	struct store_ticket *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;

	if (sqlite3_prepare_v2(s->db, text, -1, &st, NULL) != SQLITE_OK) {
		db_error(s, "tickets");
	} else {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, since);
		sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
		bind_text(st, 4, viewer);
		bind_text(st, 5, list);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				v = xrealloc(v, cap * sizeof(*v));
			}
			ticket_read(st, &v[n++]);
		}
		if (rc != SQLITE_DONE)
			db_error(s, "tickets");
	}
	sqlite3_finalize(st);
	free(text);
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++)
		store_ticket_free(&v[i]);
	free(v);
}

static const char *order_outer(const char *inner)
{
	if (!strcmp(inner, STORE_SQL_ORDER_RESOLVED))
		return "q.resolved_at DESC, q.id DESC";
	if (!strcmp(inner, STORE_SQL_ORDER_NEWEST))
		return "q.id DESC";
	return "q.due = 0, q.due, q.prank, q.id";
}

static void sq_tickets(struct store *base, const struct store_ticket_query *qr, store_tickets_fn cb,
                       void *arg)
{
	struct sqlite *s = sq(base);
	static const char *const where[] = {
	    [TICKETS_OPEN] = "k.status IN ('waiting', 'claimed')",
	    [TICKETS_WAITING] = "k.status = 'waiting'",
	    [TICKETS_CLAIMED] = "k.status = 'claimed'",
	    [TICKETS_RESOLVED] = TICKETS_WHERE_RESOLVED,
	    [TICKETS_ALL] = "1",
	};
	const char *w = qr->id > 0 ? "k.id = ?1"
	                : qr->active_since > 0
	                    ? "(k.status <> 'resolved' OR k.created >= ?2 OR k.resolved >= ?2)"
	                    : where[qr->filter <= TICKETS_ALL ? qr->filter : 0];
	const char *order = qr->filter == TICKETS_RESOLVED && qr->id <= 0 && qr->active_since <= 0
	                        ? STORE_SQL_ORDER_RESOLVED
	                        : STORE_SQL_ORDER_DUE;
	tickets_where(s, w, order, qr->id, qr->active_since, qr->limit, qr->viewer, NULL, cb, arg);
}

/* 1 when ticket id exists, 0 not, -1 error. */
static int ticket_exists(struct sqlite *s, int64_t id)
{
	sqlite3_stmt *st = q(s, Q_TICKET_EXISTS);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "ticket_exists");
	return -1;
}

static void sq_ticket_messages(struct store *base, int64_t id, size_t limit, store_msgs_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct msgs m = {0};
	sqlite3_stmt *st = q(s, Q_TICKET_MESSAGES);
	int rc = -1;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
		rc = msgs_read(s, st, &m, "ticket_messages");
	}
	if (rc == 0 && m.n == 0) {
		int e = ticket_exists(s, id);
		rc = e < 0 ? -1 : e == 0 ? 1 : 0;
	}
	cb(arg, rc, rc == 0 ? m.v : NULL, rc == 0 ? m.n : 0);
	msgs_free(&m);
}

static void sq_ticket_events(struct store *base, int64_t id, size_t limit, store_events_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_TICKET_EVENTS);
	struct store_event *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = (struct store_event){
			    .kind = dup_col(st, 0),
			    .actor = dup_col(st, 1),
			    .ts = (time_t)sqlite3_column_int64(st, 2),
			    .message_id = sqlite3_column_int64(st, 3),
			    .detail = dup_col(st, 4),
			};
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "ticket_events");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].kind);
		free((char *)v[i].actor);
		free((char *)v[i].detail);
	}
	free(v);
}

static void sq_queue_version(struct store *base, time_t now, store_u64_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_QUEUE_VERSION);
	int64_t v[6] = {0};
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int64(st, 1, now);
		rc = sqlite3_step(st);
		for (int i = 0; rc == SQLITE_ROW && i < 6; i++)
			v[i] = sqlite3_column_int64(st, i);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			db_error(s, "queue_version");
	}
	cb(arg, rc == SQLITE_ROW ? 0 : -1, rc == SQLITE_ROW ? hash64(v, sizeof(v)) : 0);
}

/* --- tickets: actions --------------------------------------------------------------- */

struct ticket_row {
	char status[16];
	int64_t thread_id;
	char assignee[STORE_MAX_NAME];
	int is_private;
	char recipient[STORE_MAX_KEY + 1];
};

/* 1 found, 0 absent, -1 error. */
static int ticket_get(struct sqlite *s, int64_t id, struct ticket_row *t)
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
		t->is_private = sqlite3_column_int(st, 3);
		copy_col(st, 4, t->recipient, sizeof(t->recipient));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, "ticket_get");
	return -1;
}

static int ticket_set(struct sqlite *s, int64_t id, const char *status, const char *assignee, time_t now)
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

static int thread_owner(struct sqlite *s, int64_t thread_id, int64_t ticket, const char *owner, int bump,
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

static int claim(struct sqlite *s, int64_t id, const struct ticket_row *t, const char *login, time_t now)
{
	if (ticket_set(s, id, "claimed", login, now) < 0 ||
	    thread_owner(s, t->thread_id, id, "claimed", 1, now) < 0)
		return -1;
	return event_insert(s, id, now, "claimed", login, 0, NULL);
}

/*
 * The shape of every ticket action: open the group, read the ticket, and
 * when `applies` says the action applies to its status, do it.  rc 0 done,
 * 1 not applicable, -1 error (a failed write fails the group).
 */
static int ticket_action(struct sqlite *s, int64_t id, struct ticket_row *t,
                         int (*applies)(const struct ticket_row *t))
{
	if (begin(s) < 0)
		return -1;
	int rc = ticket_get(s, id, t);
	if (rc < 0)
		return -1;
	return rc == 1 && applies(t) ? 0 : 1;
}

static int is_open(const struct ticket_row *t)
{
	return strcmp(t->status, "resolved") != 0;
}

static int is_claimed(const struct ticket_row *t)
{
	return strcmp(t->status, "claimed") == 0;
}

static void sq_ticket_claim(struct store *base, int64_t id, const char *login, time_t now, store_done_fn cb,
                            void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	int rc = ticket_action(s, id, &t, is_open);
	if (rc == 0 && claim(s, id, &t, login, now) < 0)
		rc = failed(s);
	cb(arg, rc);
}

static void sq_ticket_release(struct store *base, int64_t id, const char *actor, time_t now, store_done_fn cb,
                              void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	int rc = ticket_action(s, id, &t, is_claimed);
	if (rc == 0 && (ticket_set(s, id, "waiting", NULL, now) < 0 ||
	                thread_owner(s, t.thread_id, id, "waiting", 0, now) < 0 ||
	                event_insert(s, id, now, "released", actor, 0, NULL) < 0))
		rc = failed(s);
	cb(arg, rc);
}

static void sq_ticket_resolve(struct store *base, int64_t id, const char *actor, time_t now, store_done_fn cb,
                              void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, is_open);
	if (rc == 0) {
		if (ticket_set(s, id, "resolved", t.assignee[0] ? t.assignee : NULL, now) < 0 ||
		    !(st = q(s, Q_THREAD_RESOLVED))) {
			rc = failed(s);
		} else {
			sqlite3_bind_int64(st, 1, t.thread_id);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_int64(st, 3, id);
			if (run(s, st, "thread_resolved") < 0 ||
			    event_insert(s, id, now, "resolved", actor, 0, NULL) < 0)
				rc = failed(s);
		}
	}
	cb(arg, rc);
}

static int exists(const struct ticket_row *t)
{
	(void)t;
	return 1;
}

static void sq_ticket_mark(struct store *base, int64_t id, const char *kind, const char *detail, time_t now,
                           store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, exists);
	if (rc != 0 || !(st = q(s, Q_EVENT_FIND))) {
		cb(arg, rc != 0 ? rc : -1);
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, kind);
	int step = sqlite3_step(st);
	int64_t n = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (n < 0) {
		db_error(s, "event_find");
		cb(arg, -1);
		return;
	}
	if (n > 0) {
		cb(arg, 1);
		return;
	}
	cb(arg, event_insert(s, id, now, kind, NULL, 0, detail) < 0 ? failed(s) : 0);
}

/*
 * Messages from the business into ticket id's thread (row t): one message
 * (pending) and one outbox row per part into s->rows, from `sender` ("agent"
 * with its display name, or "bot"), addressed as the ticket's replies are;
 * `rating`: the ticket the message asks the customer to rate (0 none).
 * For an agent, each part is a "reply" event by `login`.  The rows borrow
 * the thread's strings, which the caller frees (rows_release).  0 or -1.
 */
static int thread_rows(struct sqlite *s, int64_t id, const struct ticket_row *t, const char *sender,
                       const char *login, const char *agent_name, const char *const *parts, size_t n_parts,
                       int64_t rating, time_t now)
{
	sqlite3_stmt *st;
	char *connector = NULL, *thread_key = NULL, *reply_to = NULL;
	int is_private = 0, rc = -1, agent = !strcmp(sender, "agent");
	time_t last_in = 0;

	if (!(st = q(s, Q_THREAD_BY_ID)))
		return -1;
	sqlite3_bind_int64(st, 1, t->thread_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		connector = dup_col(st, 0);
		thread_key = dup_col(st, 1);
		reply_to = dup_col(st, 2);
		is_private = sqlite3_column_int(st, 3);
		last_in = (time_t)sqlite3_column_int64(st, 4);
		rc = connector && thread_key ? 0 : -1;
	}
	sqlite3_reset(st);
	if (rc < 0) {
		db_error(s, "thread_by_id");
		free(connector);
		free(thread_key);
		free(reply_to);
		return -1;
	}
	for (size_t i = 0; rc == 0 && i < n_parts; i++) {
		struct store_out *o = &s->rows[i];
		int64_t mid = 0;
		char num[32];
		rc = msg_insert(s, t->thread_id, sender, agent ? agent_name : NULL, parts[i], now, NULL,
		                "pending", &mid);
		if (rc < 0)
			break;
		snprintf(num, sizeof(num), "%lld", (long long)mid);
		store_idem_key(s->idem[i], sender, num, i);
		*o = (struct store_out){
		    .thread_id = t->thread_id,
		    .message_id = mid,
		    .kind = OUT_REPLY,
		    .connector = connector,
		    .thread_key = thread_key,
		    .reply_to = reply_to,
		    .text = (char *)parts[i],
		    .idem_key = s->idem[i],
		    .sender = (char *)sender,
		    .agent = agent ? (char *)agent_name : NULL,
		    .is_private = is_private || t->is_private,
		    .recipient = t->recipient[0] ? (char *)t->recipient : NULL,
		    .created = now,
		    .guard = -1,
		    .last_in = last_in,
		    .rating = rating,
		};
		rc = out_insert(s, o);
		if (rc == 0 && agent)
			rc = event_insert(s, id, now, "reply", login, mid, NULL);
	}
	if (n_parts == 0) {
		free(connector);
		free(thread_key);
		free(reply_to);
	}
	return rc;
}

/* Free the thread's strings thread_rows lent its n rows, and forget them. */
static void rows_release(struct sqlite *s, size_t n)
{
	if (n) {
		free(s->rows[0].connector);
		free(s->rows[0].thread_key);
		free(s->rows[0].reply_to);
	}
	memset(s->rows, 0, sizeof(s->rows));
}

/* The writes of store_agent_reply for ticket id (open, row t). */
static int agent_reply(struct sqlite *s, int64_t id, const struct ticket_row *t, const char *login,
                       const char *agent_name, const char *const *parts, size_t n_parts, time_t now)
{
	sqlite3_stmt *st;
	int rc;

	if ((strcmp(t->status, "claimed") != 0 || strcmp(t->assignee, login) != 0) &&
	    claim(s, id, t, login, now) < 0)
		return -1;
	rc = thread_rows(s, id, t, "agent", login, agent_name, parts, n_parts, 0, now);
	if (rc == 0 && (st = q(s, Q_TICKET_FIRST_RESPONSE))) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		rc = run(s, st, "first_response");
	}
	return rc;
}

static void sq_agent_reply(struct store *base, int64_t id, const char *login, const char *agent_name,
                           const char *const *parts, size_t n_parts, time_t now, store_rows_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	int rc = ticket_action(s, id, &t, is_open);
	if (rc != 0) {
		cb(arg, rc, NULL, 0);
		return;
	}
	if (agent_reply(s, id, &t, login, agent_name, parts, n_parts, now) < 0) {
		cb(arg, failed(s), NULL, 0);
	} else {
		cb(arg, 0, s->rows, n_parts);
	}
	/* The rows borrowed the thread's strings: release them now. */
	rows_release(s, n_parts);
}

/* --- cursors and visitors ---------------------------------------------------------- */

static void sq_cursor_get(struct store *base, const char *name, store_text_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_CURSOR_GET);
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char *v = dup_col(st, 0);
		sqlite3_reset(st);
		cb(arg, 0, v ? v : "");
		free(v);
		return;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		db_error(s, "cursor_get");
	cb(arg, rc == SQLITE_DONE ? 1 : -1, NULL);
}

static int sq_cursor_set(struct store *base, const char *name, const char *value, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_CURSOR_SET)))
		return failed(s);
	bind_text(st, 1, name);
	bind_text(st, 2, value);
	sqlite3_bind_int64(st, 3, now);
	return run(s, st, "cursor_set") < 0 ? failed(s) : 0;
}

/* --- connector-private state ------------------------------------------------------- */

static void sq_state_get(struct store *base, const char *connector, const char *kind, const char *key,
                         store_state_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (!(st = q(s, Q_STATE_GET))) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, connector);
	bind_text(st, 2, kind);
	bind_text(st, 3, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		char *thread_key = dup_col(st, 0), *value = dup_col(st, 1);
		struct store_state v = {
		    .thread_key = thread_key,
		    .value = value ? value : "",
		    .updated = (time_t)sqlite3_column_int64(st, 2),
		};
		sqlite3_reset(st);
		cb(arg, 0, &v);
		free(thread_key);
		free(value);
		return;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, "state_get");
		cb(arg, -1, NULL);
		return;
	}
	cb(arg, 1, NULL);
}

static int sq_state_put(struct store *base, const char *connector, const char *kind, const char *key,
                        const char *thread_key, const char *value, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_STATE_PUT)))
		return failed(s);
	bind_text(st, 1, connector);
	bind_text(st, 2, kind);
	bind_text(st, 3, key);
	bind_text(st, 4, thread_key);
	bind_text(st, 5, value);
	sqlite3_bind_int64(st, 6, now);
	return run(s, st, "state_put") < 0 ? failed(s) : 0;
}

static int sq_state_delete(struct store *base, const char *connector, const char *kind, const char *key)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_STATE_DELETE)))
		return failed(s);
	bind_text(st, 1, connector);
	bind_text(st, 2, kind);
	bind_text(st, 3, key);
	return run(s, st, "state_delete") < 0 ? failed(s) : 0;
}

static int sq_state_prune(struct store *base, const char *connector, const char *kind, time_t before)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_STATE_PRUNE)))
		return failed(s);
	bind_text(st, 1, connector);
	bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, before);
	return run(s, st, "state_prune") < 0 ? failed(s) : 0;
}

/* One visitor row of Q_VISITOR_FIND / Q_VISITOR_OF_THREAD into v (strings
 * are the statement's: valid until it is reset); its last_seen. */
static time_t visitor_read(sqlite3_stmt *st, struct store_visitor *v)
{
	v->token = col(st, 0);
	v->thread_key = col(st, 1);
	v->email = col(st, 2);
	v->ticket_open = sqlite3_column_int64(st, 4) > 0;
	v->rating_ticket = sqlite3_column_int64(st, 5);
	v->rating_asked = (time_t)sqlite3_column_int64(st, 6);
	return (time_t)sqlite3_column_int64(st, 3);
}

/* Answer cb from the visitor row st stepped to (rc SQLITE_ROW), or with
 * rc_none (SQLITE_DONE) or -1; resets st. */
static void visitor_answer(struct sqlite *s, sqlite3_stmt *st, int step, store_visitor_fn cb, void *arg,
                           const char *op)
{
	if (step == SQLITE_ROW) {
		struct store_visitor v;
		visitor_read(st, &v);
		cb(arg, 0, &v);
	} else {
		if (step != SQLITE_DONE)
			db_error(s, op);
		cb(arg, step == SQLITE_DONE ? 1 : -1, NULL);
	}
	sqlite3_reset(st);
}

static void sq_visitor_find(struct store *base, const char *token, time_t now, store_visitor_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_VISITOR_FIND), *seen;
	struct store_visitor v;
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, token);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		visitor_answer(s, st, rc, cb, arg, "visitor_find");
		return;
	}
	time_t last = visitor_read(st, &v);
	if (now - last > STORE_VISITOR_TTL) {
		sqlite3_reset(st);
		cb(arg, 1, NULL);
		return;
	}
	/* A visitor who comes back often costs a write an hour, not one a
	 * connection. */
	if (now - last >= STORE_VISITOR_SEEN) {
		if (begin(s) < 0 || !(seen = q(s, Q_VISITOR_SEEN))) {
			sqlite3_reset(st);
			failed(s);
			cb(arg, -1, NULL);
			return;
		}
		bind_text(seen, 1, token);
		sqlite3_bind_int64(seen, 2, now);
		if (run(s, seen, "visitor_seen") < 0) {
			sqlite3_reset(st);
			failed(s);
			cb(arg, -1, NULL);
			return;
		}
	}
	cb(arg, 0, &v);
	sqlite3_reset(st);
}

static void sq_visitor_of_thread(struct store *base, const char *thread_key, store_visitor_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_VISITOR_OF_THREAD);
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	bind_text(st, 1, thread_key);
	visitor_answer(s, st, sqlite3_step(st), cb, arg, "visitor_of_thread");
}

static int sq_reply_note(struct store *base, int64_t message_id, const char *kind, const char *detail,
                         time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_REPLY_NOTE)))
		return failed(s);
	sqlite3_bind_int64(st, 1, message_id);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, kind);
	bind_text(st, 4, detail);
	return run(s, st, "reply_note") < 0 ? failed(s) : 0;
}

static int sq_visitor_add(struct store *base, const char *token, const char *thread_key, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_VISITOR_ADD)))
		return failed(s);
	bind_text(st, 1, token);
	bind_text(st, 2, thread_key);
	sqlite3_bind_int64(st, 3, now);
	return run(s, st, "visitor_add") < 0 ? failed(s) : 0;
}

static int sq_visitor_set_email(struct store *base, const char *token, const char *thread_key,
                                const char *email, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_VISITOR_EMAIL)))
		return failed(s);
	bind_text(st, 1, token);
	bind_text(st, 2, thread_key);
	sqlite3_bind_int64(st, 3, now);
	bind_text(st, 4, email);
	if (run(s, st, "visitor_email") < 0 || !(st = q(s, Q_CONTACT_EMAIL)))
		return failed(s);
	/* One address per customer: the visitor's contact has it too. */
	bind_text(st, 1, "webchat");
	bind_text(st, 2, thread_key);
	bind_text(st, 3, email);
	return run(s, st, "contact_email") < 0 ? failed(s) : 0;
}

/* --- the team's side of a ticket ------------------------------------------------------ */

static void sq_ticket_note(struct store *base, int64_t id, const char *login, const char *text, time_t now,
                           store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	int rc = ticket_action(s, id, &t, exists);
	if (rc == 0 && (event_insert(s, id, now, "note", login, 0, text) < 0 || ticket_touch(s, id, now) < 0))
		rc = failed(s);
	cb(arg, rc);
}

/* One row changed by st (bound), or none: 0 changed, 1 none, -1 error. */
static int changed(struct sqlite *s, sqlite3_stmt *st, const char *op)
{
	if (run(s, st, op) < 0)
		return -1;
	return sqlite3_changes(s->db) > 0 ? 0 : 1;
}

static void sq_ticket_label(struct store *base, int64_t id, const char *label, int on, const char *actor,
                            time_t now, store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, exists);
	if (rc == 0) {
		if (!(st = q(s, on ? Q_LABEL_ADD : Q_LABEL_DEL))) {
			rc = failed(s);
		} else {
			sqlite3_bind_int64(st, 1, id);
			bind_text(st, 2, label);
			rc = changed(s, st, "ticket_label");
			if (rc == 0 &&
			    (event_insert(s, id, now, on ? "labeled" : "unlabeled", actor, 0, label) < 0 ||
			     ticket_touch(s, id, now) < 0))
				rc = -1;
			if (rc < 0)
				failed(s);
		}
	}
	cb(arg, rc);
}

static void sq_ticket_priority(struct store *base, int64_t id, const char *priority, time_t due,
                               const char *actor, time_t now, store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, is_open);
	if (rc == 0) {
		if (!(st = q(s, Q_TICKET_PRIORITY))) {
			rc = failed(s);
		} else {
			sqlite3_bind_int64(st, 1, id);
			bind_text(st, 2, priority);
			if (due > 0)
				sqlite3_bind_int64(st, 3, due);
			else
				sqlite3_bind_null(st, 3);
			sqlite3_bind_int64(st, 4, now);
			rc = changed(s, st, "ticket_priority");
			if (rc == 0 && event_insert(s, id, now, "priority", actor, 0, priority) < 0)
				rc = -1;
			if (rc < 0)
				failed(s);
		}
	}
	cb(arg, rc);
}

static int is_resolved(const struct ticket_row *t)
{
	return strcmp(t->status, "resolved") == 0;
}

static void sq_ticket_reopen(struct store *base, int64_t id, time_t due, const char *actor, time_t now,
                             store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, is_resolved);
	if (rc == 0) {
		/* Only the thread's newest ticket, and only while the thread
		 * has no other open one. */
		if (!(st = q(s, Q_TICKET_REOPEN_CHECK))) {
			cb(arg, -1);
			return;
		}
		sqlite3_bind_int64(st, 1, t.thread_id);
		int step = sqlite3_step(st);
		int64_t open = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		int64_t newest = step == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
		sqlite3_reset(st);
		if (step != SQLITE_ROW) {
			db_error(s, "reopen_check");
			cb(arg, -1);
			return;
		}
		if (open != 0 || newest != id) {
			cb(arg, 1);
			return;
		}
		if (!(st = q(s, Q_TICKET_REOPEN))) {
			cb(arg, failed(s));
			return;
		}
		sqlite3_bind_int64(st, 1, id);
		if (due > 0)
			sqlite3_bind_int64(st, 2, due);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, now);
		if (run(s, st, "ticket_reopen") < 0 || !(st = q(s, Q_THREAD_REOPEN))) {
			cb(arg, failed(s));
			return;
		}
		sqlite3_bind_int64(st, 1, t.thread_id);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, now);
		if (run(s, st, "thread_reopen") < 0 ||
		    event_insert(s, id, now, "reopened", actor, 0, NULL) < 0)
			rc = failed(s);
	}
	cb(arg, rc);
}

static void sq_ticket_snooze(struct store *base, int64_t id, time_t until, const char *actor, time_t now,
                             store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, is_open);
	if (rc == 0) {
		char iso[40] = "";
		if (until > 0)
			time_iso_utc(until, iso, sizeof(iso));
		if (!(st = q(s, Q_TICKET_SNOOZE))) {
			rc = failed(s);
		} else {
			sqlite3_bind_int64(st, 1, id);
			if (until > 0)
				sqlite3_bind_int64(st, 2, until);
			else
				sqlite3_bind_null(st, 2);
			sqlite3_bind_int64(st, 3, now);
			if (run(s, st, "ticket_snooze") < 0 ||
			    event_insert(s, id, now, until > 0 ? "snoozed" : "woken", actor, 0,
			                 until > 0 ? iso : NULL) < 0)
				rc = failed(s);
		}
	}
	cb(arg, rc);
}

static int sq_ticket_seen(struct store *base, int64_t id, const char *login, int64_t message_id)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin_lazy(s) < 0 || !(st = q(s, Q_SEEN)))
		return failed(s);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, login);
	sqlite3_bind_int64(st, 3, message_id);
	/* A ticket deleted meanwhile (retention) makes the insert fail its
	 * foreign key: a read mark is not worth a group. */
	if (sqlite3_step(st) != SQLITE_DONE) {
		int e = sqlite3_extended_errcode(s->db);
		sqlite3_reset(st);
		if (e == SQLITE_CONSTRAINT_FOREIGNKEY)
			return 0;
		db_error(s, "ticket_seen");
		return failed(s);
	}
	sqlite3_reset(st);
	return 0;
}

static void sq_ticket_counts(struct store *base, const char *login, time_t now, store_ticket_counts_fn cb,
                             void *arg)
{
	struct sqlite *s = sq(base);
	struct store_ticket_counts c = {0};
	sqlite3_stmt *st = q(s, Q_COUNTS);
	int rc = SQLITE_ERROR;
	if (st) {
		bind_text(st, 1, login ? login : "");
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			c.open = (long)sqlite3_column_int64(st, 0);
			c.waiting = (long)sqlite3_column_int64(st, 1);
			c.mine = (long)sqlite3_column_int64(st, 2);
			c.snoozed = (long)sqlite3_column_int64(st, 3);
			c.overdue = (long)sqlite3_column_int64(st, 4);
		} else {
			db_error(s, "ticket_counts");
		}
		sqlite3_reset(st);
	}
	cb(arg, rc == SQLITE_ROW ? 0 : -1, rc == SQLITE_ROW ? &c : NULL);
}

/* --- search ------------------------------------------------------------------------------ */

/*
 * An FTS5 query for what a person typed: every word quoted (so nothing
 * they type is query syntax) and matched as a prefix, all required.
 * Words without a letter or digit are dropped.  0 with the query in out,
 * 1 when no word is left.
 */
static int fts_query(const char *text, struct buf *out)
{
	int words = 0;
	const char *p = text ? text : "";
	while (*p && words < STORE_SEARCH_WORDS) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		int useful = 0;
		for (const char *c = w; c < p; c++)
			if ((unsigned char)*c >= 0x80 || (*c >= '0' && *c <= '9') ||
			    ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
				useful = 1;
		if (!useful)
			continue;
		if (words++)
			buf_putc(out, ' ');
		buf_putc(out, '"');
		for (const char *c = w; c < p; c++) {
			if (*c == '"')
				buf_putc(out, '"');
			buf_putc(out, *c);
		}
		buf_puts(out, "\"*");
	}
	return words ? 0 : 1;
}

/* The filters of q as SQL on tickets k, their values read from the JSON
 * object bound as ?5 (nothing a person typed becomes SQL). */
static void search_filters(const struct store_search *q, struct buf *w, json_t *vals)
{
	static const char *const status[] = {
	    [TICKETS_OPEN] = " AND k.status IN ('waiting', 'claimed')",
	    [TICKETS_WAITING] = " AND k.status = 'waiting'",
	    [TICKETS_CLAIMED] = " AND k.status = 'claimed'",
	    [TICKETS_RESOLVED] = " AND k.status = 'resolved'",
	    [TICKETS_ALL] = "",
	};
	buf_puts(w, "1");
	buf_puts(w, status[q->status <= TICKETS_ALL ? q->status : TICKETS_ALL]);
	if (q->priority) {
		buf_puts(w, " AND k.priority = json_extract(?5, '$.priority')");
		json_object_set_new(vals, "priority", json_string(q->priority));
	}
	if (q->platform) {
		buf_puts(w, " AND k.platform = json_extract(?5, '$.platform')");
		json_object_set_new(vals, "platform", json_string(q->platform));
	}
	if (q->assignee && !*q->assignee) {
		buf_puts(w, " AND k.assignee IS NULL");
	} else if (q->assignee) {
		buf_puts(w, " AND k.assignee = json_extract(?5, '$.assignee') COLLATE NOCASE");
		json_object_set_new(vals, "assignee", json_string(q->assignee));
	}
	if (q->label) {
		buf_puts(w, " AND EXISTS (SELECT 1 FROM ticket_labels l WHERE l.ticket_id = k.id"
		            " AND l.label = json_extract(?5, '$.label'))");
		json_object_set_new(vals, "label", json_string(q->label));
	}
	if (q->since > 0) {
		buf_puts(w, " AND k.created >= json_extract(?5, '$.since')");
		json_object_set_new(vals, "since", json_integer((json_int_t)q->since));
	}
	if (q->until > 0) {
		buf_puts(w, " AND k.created < json_extract(?5, '$.until')");
		json_object_set_new(vals, "until", json_integer((json_int_t)q->until));
	}
}

/* Ticket ids found so far (distinct). */
struct idset {
	int64_t *v;
	size_t n, cap;
};

static int idset_has(const struct idset *set, int64_t id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i] == id)
			return 1;
	return 0;
}

static void idset_add(struct idset *set, int64_t id)
{
	if (idset_has(set, id))
		return;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 64;
		set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
	}
	set->v[set->n++] = id;
}

/*
 * Step through the ticket ids `text` gives (?5 bound to vals) and keep the
 * first `limit` distinct ones in set.  0 or -1.
 */
static int collect(struct sqlite *s, const char *text, const char *vals, size_t limit, struct idset *set)
{
	sqlite3_stmt *st = NULL;
	size_t found = 0;
	int rc = SQLITE_DONE;
	if (sqlite3_prepare_v2(s->db, text, -1, &st, NULL) != SQLITE_OK) {
		db_error(s, "search");
		return -1;
	}
	bind_text(st, 5, vals);
	struct idset mine = {0};
	while (found < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (idset_has(&mine, id))
			continue;
		idset_add(&mine, id);
		idset_add(set, id);
		found++;
	}
	if (found < limit && rc != SQLITE_DONE)
		db_error(s, "search");
	int ok = found >= limit || rc == SQLITE_DONE;
	sqlite3_finalize(st);
	free(mine.v);
	return ok ? 0 : -1;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Two ways to find the tickets: from the full-text index (each hit leads
 * to the tickets that show it, newest hits first, until enough are found)
 * unless the filters leave at most SEARCH_PER_TICKET tickets; those few
 * are each asked of the index.  Asked per ticket, the index is looked up
 * by row id for each of the ticket's own messages, notes and contact (the
 * CROSS JOINs keep SQLite from running the whole word query once per
 * ticket: 3 s for a common word and one label's 5,000 tickets).
 */
#define SEARCH_PER_TICKET 50 /* tickets a search asks the index about one by one */
static void sq_search(struct store *base, const struct store_search *q, store_tickets_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	size_t limit = q->limit && q->limit < STORE_SEARCH_MAX ? q->limit : STORE_SEARCH_MAX;
	struct buf match, where;
	json_t *vals = json_object();
	struct idset set = {0};
	int rc = 0;

	buf_init(&match, 0);
	buf_init(&where, 0);
	search_filters(q, &where, vals);
	int words = fts_query(q->text, &match) == 0;
	if (words)
		json_object_set_new(vals, "q", json_string(match.p));
	char *v = json_dumps(vals, JSON_COMPACT);
	json_decref(vals);

	if (!words) {
		buf_free(&match);
		tickets_where(s, where.p, STORE_SQL_ORDER_NEWEST, 0, 0, limit, q->viewer, v, cb, arg);
		buf_free(&where);
		free(v);
		return;
	}
	int selective = 0;
	if ((q->status != TICKETS_ALL && q->status != TICKETS_RESOLVED) || q->assignee || q->label) {
		/* Few enough to ask the index per ticket?  A word's prefix query
		 * costs about as much per ticket as the whole walk of its hits
		 * (FTS5 merges the doclists of every word it begins), so only a
		 * handful of tickets are asked one by one. */
		char *text = xasprintf("SELECT count(*) FROM (SELECT 1 FROM tickets k WHERE %s LIMIT %d)",
		                       where.p, SEARCH_PER_TICKET + 1);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(s->db, text, -1, &st, NULL) == SQLITE_OK) {
			bind_text(st, 5, v);
			if (sqlite3_step(st) == SQLITE_ROW)
				selective = sqlite3_column_int64(st, 0) <= SEARCH_PER_TICKET;
		}
		sqlite3_finalize(st);
		free(text);
	}
	if (selective) {
		char *text = xasprintf(
		    "SELECT k.id FROM tickets k WHERE %s AND ("
		    " EXISTS (SELECT 1 FROM messages m CROSS JOIN messages_fts f ON f.rowid = m.id"
		    "  WHERE m.thread_id = k.thread_id AND (k.resolved IS NULL OR m.ts <= k.resolved)"
		    "  AND messages_fts MATCH json_extract(?5, '$.q'))"
		    " OR EXISTS (SELECT 1 FROM ticket_events e CROSS JOIN notes_fts f ON f.rowid = e.id"
		    "  WHERE e.ticket_id = k.id AND e.kind = 'note' AND notes_fts MATCH json_extract(?5, "
		    "'$.q'))"
		    " OR EXISTS (SELECT 1 FROM threads t CROSS JOIN contacts_fts f ON f.rowid = t.contact_id"
		    "  WHERE t.id = k.thread_id AND contacts_fts MATCH json_extract(?5, '$.q')))"
		    " ORDER BY k.id DESC",
		    where.p);
		rc = collect(s, text, v, limit, &set);
		free(text);
	} else {
		static const char *const streams[] = {
		    "SELECT k.id FROM messages_fts f JOIN messages m ON m.id = f.rowid"
		    " JOIN tickets k ON k.thread_id = m.thread_id AND (k.resolved IS NULL OR m.ts <= "
		    "k.resolved)"
		    " WHERE messages_fts MATCH json_extract(?5, '$.q') AND %s ORDER BY f.rowid DESC",
		    "SELECT k.id FROM notes_fts f JOIN ticket_events e ON e.id = f.rowid JOIN tickets k ON "
		    "k.id = e.ticket_id"
		    " WHERE notes_fts MATCH json_extract(?5, '$.q') AND %s ORDER BY f.rowid DESC",
		    "SELECT k.id FROM contacts_fts f JOIN threads t ON t.contact_id = f.rowid"
		    " JOIN tickets k ON k.thread_id = t.id"
		    " WHERE contacts_fts MATCH json_extract(?5, '$.q') AND %s ORDER BY f.rowid DESC, k.id "
		    "DESC",
		};
		for (size_t i = 0; rc == 0 && i < ARRAY_LEN(streams); i++) {
			char *text = xasprintf(streams[i], where.p);
			rc = collect(s, text, v, limit, &set);
			free(text);
		}
	}
	buf_free(&match);
	buf_free(&where);
	free(v);
	if (rc < 0) {
		free(set.v);
		cb(arg, -1, NULL, 0);
		return;
	}
	/* Newest tickets first, `limit` of them, through the read model. */
	if (set.n)
		qsort(set.v, set.n, sizeof(*set.v), cmp_desc);
	json_t *ids = json_array();
	for (size_t i = 0; i < set.n && i < limit; i++)
		json_array_append_new(ids, json_integer((json_int_t)set.v[i]));
	char *list = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	free(set.v);
	tickets_where(s, "k.id IN (SELECT value FROM json_each(?5))", STORE_SQL_ORDER_NEWEST, 0, 0, limit,
	              q->viewer, list, cb, arg);
	free(list);
}

/* --- contacts ----------------------------------------------------------------------------- */

static void contact_read(sqlite3_stmt *st, struct store_contact *c)
{
	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(st, 0);
	c->name = dup_col(st, 1);
	c->email = dup_col(st, 2);
	c->handle = dup_col(st, 3);
	c->platform = dup_col(st, 4);
	c->external_id = dup_col(st, 5);
	c->name_source = (enum store_name_source)sqlite3_column_int(st, 6);
	c->first_seen = (time_t)sqlite3_column_int64(st, 7);
	c->last_seen = (time_t)sqlite3_column_int64(st, 8);
	c->conversations = (long)sqlite3_column_int64(st, 9);
}

static void contact_free(struct store_contact *c)
{
	free((char *)c->name);
	free((char *)c->email);
	free((char *)c->handle);
	free((char *)c->platform);
	free((char *)c->external_id);
}

/* One id from a statement bound with one text ?1 (and nothing else):
 * 1 found, 0 none, -1 error. */
static int id_by_text(struct sqlite *s, enum q which, const char *v, int64_t *id, const char *op)
{
	sqlite3_stmt *st = q(s, which);
	if (!st)
		return -1;
	bind_text(st, 1, v);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(s, op);
	return -1;
}

/* Contact `from` joins contact `into`: its author keys and threads move,
 * and it is deleted. */
static int contact_merge(struct sqlite *s, int64_t from, int64_t into)
{
	static const enum q moves[] = {Q_CONTACT_MOVE_KEYS, Q_CONTACT_MOVE_THREADS};
	sqlite3_stmt *st;
	for (size_t i = 0; i < ARRAY_LEN(moves); i++) {
		if (!(st = q(s, moves[i])))
			return -1;
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, into);
		if (run(s, st, "contact_merge") < 0)
			return -1;
	}
	if (!(st = q(s, Q_CONTACT_DELETE)))
		return -1;
	sqlite3_bind_int64(st, 1, from);
	return run(s, st, "contact_delete");
}

static int contact_set(struct sqlite *s, int64_t id, const char *handle, const char *email, const char *name,
                       enum store_name_source src)
{
	sqlite3_stmt *st = q(s, Q_CONTACT_SET);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, handle);
	bind_text(st, 3, email);
	bind_text(st, 4, name);
	sqlite3_bind_int(st, 5, (int)src);
	return run(s, st, "contact_set");
}

static int contact_update(struct sqlite *s, const struct store_contact_info *ci, time_t now)
{
	int64_t mine = 0, theirs = 0;
	sqlite3_stmt *st;

	if (contact_of(s, ci->platform, ci->author_id, ci->handle, NULL, now, &mine) < 0)
		return -1;
	if (ci->external_id) {
		char *ext = NULL;
		if (!(st = q(s, Q_CONTACT_EXTERNAL_OF)))
			return -1;
		sqlite3_bind_int64(st, 1, mine);
		if (sqlite3_step(st) == SQLITE_ROW)
			ext = dup_col(st, 0);
		sqlite3_reset(st);
		int other = ext && strcmp(ext, ci->external_id) != 0;
		free(ext);
		if (other)
			return 1;
		int found =
		    id_by_text(s, Q_CONTACT_BY_EXTERNAL, ci->external_id, &theirs, "contact_by_external");
		if (found < 0)
			return -1;
		if (found && theirs != mine) {
			if (contact_merge(s, mine, theirs) < 0)
				return -1;
			mine = theirs;
		} else if (!found) {
			if (!(st = q(s, Q_CONTACT_EXTERNAL_SET)))
				return -1;
			sqlite3_bind_int64(st, 1, mine);
			bind_text(st, 2, ci->external_id);
			if (run(s, st, "contact_external") < 0)
				return -1;
		}
	}
	enum store_name_source src = ci->external_id ? NAME_VERIFIED : ci->name_source;
	if (src > NAME_VERIFIED)
		src = NAME_VERIFIED;
	return contact_set(s, mine, ci->handle, ci->email, ci->name, src);
}

static int sq_contact_update(struct store *base, const struct store_contact_info *ci, time_t now)
{
	struct sqlite *s = sq(base);
	if (begin(s) < 0)
		return failed(s);
	int rc = contact_update(s, ci, now);
	return rc < 0 ? failed(s) : rc;
}

static void sq_contact_get(struct store *base, int64_t id, store_contact_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_CONTACT_GET);
	struct store_contact c;
	if (!st) {
		cb(arg, -1, NULL);
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		contact_read(st, &c);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			db_error(s, "contact_get");
		cb(arg, rc == SQLITE_DONE ? 1 : -1, NULL);
		return;
	}
	cb(arg, 0, &c);
	contact_free(&c);
}

static void sq_contact_tickets(struct store *base, int64_t id, size_t limit, const char *viewer,
                               store_tickets_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	/* The contact's own threads, and those of contacts who gave the
	 * same e-mail address. */
	tickets_where(s,
	              "k.thread_id IN (SELECT t.id FROM threads t WHERE t.contact_id = ?1"
	              " OR t.contact_id IN (SELECT o.id FROM contacts o, contacts c WHERE c.id = ?1"
	              " AND c.email IS NOT NULL AND o.email = c.email COLLATE NOCASE))",
	              STORE_SQL_ORDER_NEWEST, id, 0, limit, viewer, NULL, cb, arg);
}

static void sq_contact_rename(struct store *base, int64_t id, const char *name, store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	if (begin(s) < 0) {
		cb(arg, failed(s));
		return;
	}
	sqlite3_stmt *st = q(s, Q_CONTACT_GET);
	if (!st) {
		cb(arg, -1);
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			db_error(s, "contact_get");
		cb(arg, rc == SQLITE_DONE ? 1 : -1);
		return;
	}
	cb(arg, contact_set(s, id, NULL, NULL, name, NAME_AGENT) < 0 ? failed(s) : 0);
}

static void sq_contact_search(struct store *base, const char *text, size_t limit, store_contacts_fn cb,
                              void *arg)
{
	struct sqlite *s = sq(base);
	struct buf match;
	struct store_contact *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_DONE;
	buf_init(&match, 0);
	sqlite3_stmt *st = fts_query(text, &match) == 0 ? q(s, Q_CONTACT_SEARCH) : NULL;
	if (st) {
		bind_text(st, 1, match.p);
		sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : STORE_SEARCH_MAX);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			contact_read(st, &v[n++]);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "contact_search");
	}
	buf_free(&match);
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++)
		contact_free(&v[i]);
	free(v);
}

/* --- the team's own settings --------------------------------------------------------------- */

static void sq_team_list(struct store *base, const char *kind, store_team_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_TEAM_LIST);
	struct store_team_item *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		bind_text(st, 1, kind);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (!col(st, 0) || !col(st, 1))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = (struct store_team_item){
			    .key = dup_col(st, 0),
			    .value = dup_col(st, 1),
			    .updated = (time_t)sqlite3_column_int64(st, 2),
			};
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "team_list");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].key);
		free((char *)v[i].value);
	}
	free(v);
}

static int sq_team_put(struct store *base, const char *kind, const char *key, const char *value, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_TEAM_PUT)))
		return failed(s);
	bind_text(st, 1, kind);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	sqlite3_bind_int64(st, 4, now);
	return run(s, st, "team_put") < 0 ? failed(s) : 0;
}

static int sq_team_delete(struct store *base, const char *kind, const char *key)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_TEAM_DELETE)))
		return failed(s);
	bind_text(st, 1, kind);
	bind_text(st, 2, key);
	if (run(s, st, "team_delete") < 0)
		return failed(s);
	if (strcmp(kind, "label") != 0)
		return 0;
	if (!(st = q(s, Q_TEAM_UNLABEL)))
		return failed(s);
	bind_text(st, 1, key);
	return run(s, st, "team_unlabel") < 0 ? failed(s) : 0;
}

/* One process writes a SQLite store: no leases to give up. */
static int sq_outbox_release(struct store *base, int64_t id)
{
	(void)base;
	(void)id;
	return 0;
}

/* --- retention ---------------------------------------------------------------------- */

/* Run a DELETE bound to (?1 a, ?2 b); rows deleted into *n.  0 or -1. */
static int prune_run(struct sqlite *s, enum q id, int64_t a, int64_t b, long *n, const char *op)
{
	sqlite3_stmt *st = q(s, id);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (run(s, st, op) < 0)
		return -1;
	if (n)
		*n += sqlite3_changes(s->db);
	return 0;
}

/* The conversations of ids[0..n), everything in them. */
static int prune_threads(struct sqlite *s, const int64_t *ids, size_t n, struct store_pruned *p)
{
	static const enum q order[] = {Q_PRUNE_EVENTS,        Q_PRUNE_TICKETS,  Q_PRUNE_POSTS,
	                               Q_PRUNE_THREAD_OUTBOX, Q_PRUNE_MESSAGES, Q_PRUNE_THREAD_VISITOR,
	                               Q_PRUNE_THREAD};
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < ARRAY_LEN(order); k++) {
			long *count = order[k] == Q_PRUNE_MESSAGES         ? &p->messages
			              : order[k] == Q_PRUNE_THREAD_OUTBOX  ? &p->outbox
			              : order[k] == Q_PRUNE_THREAD_VISITOR ? &p->visitors
			              : order[k] == Q_PRUNE_THREAD         ? &p->conversations
			                                                   : NULL;
			if (prune_run(s, order[k], ids[i], 0, count, "prune") < 0)
				return -1;
		}
	}
	return 0;
}

static void sq_prune(struct store *base, const struct store_retention *r, time_t now, size_t batch,
                     store_pruned_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct store_pruned p;
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	if (batch == 0)
		batch = 1;
	if (r->conversations > 0) {
		sqlite3_stmt *st = q(s, Q_PRUNE_THREADS);
		rc = st ? 0 : -1;
		if (st) {
			ids = xcalloc(batch + 1, sizeof(*ids));
			sqlite3_bind_int64(st, 1, (int64_t)now - r->conversations);
			sqlite3_bind_int64(st, 2, (int64_t)batch + 1);
			int step;
			while ((step = sqlite3_step(st)) == SQLITE_ROW)
				ids[n++] = sqlite3_column_int64(st, 0);
			sqlite3_reset(st);
			if (step != SQLITE_DONE) {
				db_error(s, "prune_threads");
				rc = -1;
			}
		}
		if (n > batch) {
			p.more = 1;
			n = batch;
		}
		if (rc == 0 && n && (begin(s) < 0 || prune_threads(s, ids, n, &p) < 0))
			rc = -1;
	}
	long before;
	if (rc == 0 && r->outbox > 0) {
		before = p.outbox;
		if (begin(s) < 0 || prune_run(s, Q_PRUNE_OUTBOX, (int64_t)now - r->outbox,
		                              (int64_t)batch * 10, &p.outbox, "prune") < 0)
			rc = -1;
		else if (p.outbox - before >= (long)batch * 10)
			p.more = 1;
	}
	if (rc == 0 && r->visitors > 0) {
		before = p.visitors;
		if (begin(s) < 0 || prune_run(s, Q_PRUNE_VISITORS, (int64_t)now - r->visitors,
		                              (int64_t)batch * 10, &p.visitors, "prune") < 0)
			rc = -1;
		else if (p.visitors - before >= (long)batch * 10)
			p.more = 1;
	}
	/* A connector's own facts about conversations (which thread a status
	 * is in, a DM channel) untouched as long as a conversation is kept. */
	if (rc == 0 && r->conversations > 0) {
		if (begin(s) < 0 || prune_run(s, Q_PRUNE_STATE, (int64_t)now - r->conversations,
		                              (int64_t)batch * 10, &p.state, "prune") < 0)
			rc = -1;
		else if (p.state >= (long)batch * 10)
			p.more = 1;
		if (rc == 0 && prune_run(s, Q_PRUNE_CONTACTS, (int64_t)now - r->conversations,
		                         (int64_t)batch * 10, &p.contacts, "prune") < 0)
			rc = -1;
		else if (p.contacts >= (long)batch * 10)
			p.more = 1;
	}
	free(ids);
	if (rc < 0)
		failed(s);
	cb(arg, rc, rc == 0 ? &p : NULL);
}

/* One process uses a SQLite store (the command-line tools do not run
 * connectors): it leads everything, at once and for good. */
static void sq_leader_watch(struct store *base, struct store_leader *l)
{
	(void)base;
	store_leader_set(l, 1);
}

static void sq_leader_cancel(struct store *base, struct store_leader *l)
{
	(void)base;
	(void)l;
}

/* --- what the team taught ----------------------------------------------------- */

static void taught_read(sqlite3_stmt *st, struct store_taught *t)
{
	*t = (struct store_taught){
	    .id = sqlite3_column_int64(st, 0),
	    .rule = dup_col(st, 1),
	    .text = dup_col(st, 2),
	    .negative = sqlite3_column_int(st, 3),
	    .by = dup_col(st, 4),
	    .ticket_id = sqlite3_column_int64(st, 5),
	    .created = (time_t)sqlite3_column_int64(st, 6),
	};
}

static void taught_free(struct store_taught *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].rule);
		free((char *)v[i].text);
		free((char *)v[i].by);
	}
}

static void sq_taught_list(struct store *base, store_taught_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_TAUGHT_LIST);
	struct store_taught *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			taught_read(st, &v[n++]);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "taught_list");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	taught_free(v, n);
	free(v);
}

static void sq_teach(struct store *base, const struct store_taught *t, time_t now, store_taught_fn cb,
                     void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_TAUGHT_FIND);
	struct store_taught row;
	int rc = -1, step;
	if (!st)
		goto out_err;
	bind_text(st, 1, t->rule);
	bind_text(st, 2, t->text);
	sqlite3_bind_int(st, 3, t->negative ? 1 : 0);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		taught_read(st, &row);
		sqlite3_reset(st);
		cb(arg, 1, &row, 1);
		taught_free(&row, 1);
		return;
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		db_error(s, "teach");
		goto out_err;
	}
	if (!(st = q(s, Q_TAUGHT_COUNT)))
		goto out_err;
	step = sqlite3_step(st);
	int64_t count = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_reset(st);
	if (count < 0) {
		db_error(s, "teach");
		goto out_err;
	}
	if (count >= STORE_MAX_TAUGHT) {
		cb(arg, 2, NULL, 0);
		return;
	}
	if (begin(s) < 0 || !(st = q(s, Q_TAUGHT_INSERT))) {
		failed(s);
		goto out_err;
	}
	bind_text(st, 1, t->rule);
	bind_text(st, 2, t->text);
	sqlite3_bind_int(st, 3, t->negative ? 1 : 0);
	bind_text(st, 4, t->by);
	bind_id(st, 5, t->ticket_id);
	sqlite3_bind_int64(st, 6, now);
	row = *t;
	row.created = now;
	if (insert(s, st, "teach", &row.id) < 0) {
		failed(s);
		goto out_err;
	}
	if (t->ticket_id > 0) {
		char detail[STORE_MAX_KEY + 16];
		snprintf(detail, sizeof(detail), "%s%s", t->negative ? "not " : "", t->rule);
		sqlite3_stmt *ex = q(s, Q_TICKET_EXISTS);
		int exists = 0;
		if (ex) {
			sqlite3_bind_int64(ex, 1, t->ticket_id);
			exists = sqlite3_step(ex) == SQLITE_ROW;
			sqlite3_reset(ex);
		}
		if (exists && event_insert(s, t->ticket_id, now, "taught", t->by, 0, detail) < 0) {
			failed(s);
			goto out_err;
		}
	}
	rc = 0;
	cb(arg, rc, &row, 1);
	return;
out_err:
	cb(arg, -1, NULL, 0);
}

static void sq_untaught(struct store *base, int64_t id, store_done_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_TAUGHT_DELETE))) {
		failed(s);
		cb(arg, -1);
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (run(s, st, "untaught") < 0) {
		failed(s);
		cb(arg, -1);
		return;
	}
	cb(arg, sqlite3_changes(s->db) > 0 ? 0 : 1);
}

static void sq_unanswered(struct store *base, time_t since, size_t limit, store_questions_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st = q(s, Q_UNANSWERED);
	struct store_question *v = NULL;
	size_t n = 0, cap = 0;
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_int64(st, 1, since);
		sqlite3_bind_int64(st, 2, (int64_t)limit);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = (struct store_question){
			    .post_id = sqlite3_column_int64(st, 0),
			    .ticket_id = sqlite3_column_int64(st, 1),
			    .platform = dup_col(st, 2),
			    .text = dup_col(st, 3),
			    .created = (time_t)sqlite3_column_int64(st, 4),
			};
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			db_error(s, "unanswered");
	}
	cb(arg, rc == SQLITE_DONE ? 0 : -1, v, rc == SQLITE_DONE ? n : 0);
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].platform);
		free((char *)v[i].text);
	}
	free(v);
}

/* --- satisfaction and the insights figures ------------------------------------ */

static int sq_rating_put(struct store *base, int64_t ticket_id, int score, const char *comment, time_t now)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	if (begin(s) < 0 || !(st = q(s, Q_RATING_PUT)))
		return failed(s);
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int(st, 2, score);
	bind_text(st, 3, comment);
	sqlite3_bind_int64(st, 4, now);
	return run(s, st, "rating_put") < 0 ? failed(s) : 0;
}

/* Thread id's satisfaction question: ticket (0: none), asked at, whether
 * the next message may answer it. */
static int thread_rating(struct sqlite *s, int64_t thread_id, int64_t ticket, time_t asked, int next)
{
	sqlite3_stmt *st = q(s, Q_THREAD_RATING);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, thread_id);
	bind_id(st, 2, ticket);
	sqlite3_bind_int64(st, 3, asked);
	sqlite3_bind_int(st, 4, next);
	return run(s, st, "thread_rating");
}

/* The customer's rating of ticket (their answer: message_id, 0 for the
 * web chat's buttons), a "rated" event with the score, and the question
 * is answered.  0 or -1. */
static int rating_record(struct sqlite *s, int64_t thread_id, int64_t ticket, int score, const char *comment,
                         int64_t message_id, time_t now)
{
	char detail[8];
	snprintf(detail, sizeof(detail), "%d", score);
	sqlite3_stmt *st = q(s, Q_RATING_PUT);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, ticket);
	sqlite3_bind_int(st, 2, score);
	bind_text(st, 3, comment && *comment ? comment : NULL);
	sqlite3_bind_int64(st, 4, now);
	if (run(s, st, "rating_put") < 0 ||
	    event_insert(s, ticket, now, "rated", NULL, message_id, detail) < 0)
		return -1;
	return thread_rating(s, thread_id, 0, 0, 0);
}

/*
 * What a customer's post does to the satisfaction question of its thread
 * (record): the answer is kept (decision rating); any other message means
 * the words that follow are no answer any more, and a new ticket ends the
 * question.  0 or -1.
 */
static int rating_after_post(struct sqlite *s, const struct store_record *r, int64_t thread_id,
                             int64_t message_id, int ticket_opened)
{
	const struct store_thread *t = r->thread;
	const struct decision *d = r->decision;
	if (!t->id || t->rating_ticket <= 0 || d->take_over)
		return 0;
	if (d->rating > 0) {
		char *comment =
		    d->rating_comment_len ? xstrndup(d->rating_comment, d->rating_comment_len) : NULL;
		int rc =
		    rating_record(s, thread_id, t->rating_ticket, d->rating, comment, message_id, r->now);
		free(comment);
		return rc;
	}
	if (ticket_opened)
		return thread_rating(s, thread_id, 0, 0, 0);
	if (t->rating_next)
		return thread_rating(s, thread_id, t->rating_ticket, t->rating_asked, 0);
	return 0;
}

static void sq_rating_ask(struct store *base, int64_t id, const char *const *parts, size_t n_parts,
                          time_t now, store_rows_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	struct ticket_row t;
	sqlite3_stmt *st;
	int rc = ticket_action(s, id, &t, is_resolved);
	if (rc == 0) {
		/* Only the thread's newest ticket, while the bot has the thread. */
		if (!(st = q(s, Q_RATING_THREAD))) {
			rc = -1;
		} else {
			sqlite3_bind_int64(st, 1, t.thread_id);
			int step = sqlite3_step(st);
			if (step == SQLITE_ROW)
				rc = strcmp(col(st, 0) ? col(st, 0) : "", "bot") == 0 &&
				             sqlite3_column_int64(st, 1) == id
				         ? 0
				         : 1;
			else
				rc = -1;
			sqlite3_reset(st);
			if (rc < 0)
				db_error(s, "rating_thread");
		}
	}
	if (rc == 0 &&
	    (thread_rows(s, id, &t, "bot", NULL, NULL, parts, n_parts, id, now) < 0 ||
	     thread_rating(s, t.thread_id, id, now, 1) < 0 ||
	     event_insert(s, id, now, "rating_asked", NULL, n_parts ? s->rows[0].message_id : 0, NULL) < 0))
		rc = -1;
	if (rc < 0)
		cb(arg, failed(s), NULL, 0);
	else
		cb(arg, rc, rc == 0 ? s->rows : NULL, rc == 0 ? n_parts : 0);
	rows_release(s, rc == 0 ? n_parts : 0);
}

static void sq_rating_answer(struct store *base, const char *platform, const char *thread_key, int64_t ticket,
                             int score, const char *comment, time_t asked_since, time_t now, store_done_fn cb,
                             void *arg)
{
	struct sqlite *s = sq(base);
	sqlite3_stmt *st;
	int64_t thread_id = 0, pending = 0;
	time_t asked = 0;
	if (begin(s) < 0 || !(st = q(s, Q_RATING_FIND))) {
		cb(arg, failed(s));
		return;
	}
	bind_text(st, 1, platform);
	bind_text(st, 2, thread_key);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		thread_id = sqlite3_column_int64(st, 0);
		pending = sqlite3_column_int64(st, 1);
		asked = (time_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		db_error(s, "rating_find");
		cb(arg, -1);
		return;
	}
	if (pending <= 0 || (ticket > 0 && pending != ticket) || asked < asked_since) {
		cb(arg, 1);
		return;
	}
	cb(arg, rating_record(s, thread_id, pending, score, comment, 0, now) < 0 ? failed(s) : 0);
}

/* One row of each report query into its element. */
static void report_post_row(sqlite3_stmt *st, void *out)
{
	*(struct store_report_posts *)out = (struct store_report_posts){
	    .start = (time_t)sqlite3_column_int64(st, 0),
	    .channel = dup_col(st, 1),
	    .posts = (long)sqlite3_column_int64(st, 2),
	    .answered = (long)sqlite3_column_int64(st, 3),
	    .acknowledged = (long)sqlite3_column_int64(st, 4),
	    .escalated = (long)sqlite3_column_int64(st, 5),
	    .handled = (long)sqlite3_column_int64(st, 6),
	};
}

static void report_ticket_row(sqlite3_stmt *st, void *out)
{
	*(struct store_report_ticket *)out = (struct store_report_ticket){
	    .id = sqlite3_column_int64(st, 0),
	    .channel = dup_col(st, 1),
	    .reason = dup_col(st, 2),
	    .created = (time_t)sqlite3_column_int64(st, 3),
	    .due = (time_t)sqlite3_column_int64(st, 4),
	    .first_response = (time_t)sqlite3_column_int64(st, 5),
	    .resolved = (time_t)sqlite3_column_int64(st, 6),
	    .rating = sqlite3_column_int(st, 7),
	};
}

static void report_hour_row(sqlite3_stmt *st, void *out)
{
	*(struct store_report_hour *)out = (struct store_report_hour){
	    .start = (time_t)sqlite3_column_int64(st, 0),
	    .posts = (long)sqlite3_column_int64(st, 1),
	};
}

/*
 * Run report query `which` over [since, until) (?1, ?2; ?3 origin and ?4
 * period where it has them), each row read by `row` into a growing array
 * *v of `size`-byte elements (*n of them).  SQLITE_DONE, or an error code
 * (what was read stays in *v for the caller to free).
 */
static int report_rows(struct sqlite *s, enum q which, time_t since, time_t until, time_t origin, long period,
                       void (*row)(sqlite3_stmt *st, void *out), size_t size, void **v, size_t *n)
{
	sqlite3_stmt *st = q(s, which);
	size_t cap = 0;
	int rc;
	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	if (sqlite3_bind_parameter_count(st) >= 4) {
		sqlite3_bind_int64(st, 3, origin);
		sqlite3_bind_int64(st, 4, period);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*v = xrealloc(*v, cap * size);
		}
		row(st, (char *)*v + (*n)++ * size);
	}
	sqlite3_reset(st);
	return rc;
}

static void sq_report(struct store *base, time_t since, time_t until, time_t origin, long period,
                      store_report_fn cb, void *arg)
{
	struct sqlite *s = sq(base);
	void *pv = NULL, *tv = NULL, *hv = NULL;
	size_t np = 0, nt = 0, nh = 0;
	int rc = report_rows(s, Q_REPORT_POSTS, since, until, origin, period, report_post_row,
	                     sizeof(struct store_report_posts), &pv, &np);
	if (rc == SQLITE_DONE)
		rc = report_rows(s, Q_REPORT_TICKETS, since, until, origin, period, report_ticket_row,
		                 sizeof(struct store_report_ticket), &tv, &nt);
	if (rc == SQLITE_DONE)
		rc = report_rows(s, Q_REPORT_HOURS, since, until, origin, period, report_hour_row,
		                 sizeof(struct store_report_hour), &hv, &nh);
	if (rc != SQLITE_DONE)
		db_error(s, "report");
	struct store_report r = {
	    .posts = pv, .nposts = np, .hours = hv, .nhours = nh, .tickets = tv, .ntickets = nt};
	if (rc != SQLITE_DONE)
		memset(&r, 0, sizeof(r));
	cb(arg, rc == SQLITE_DONE ? 0 : -1, &r);
	for (size_t i = 0; i < np; i++)
		free((char *)((struct store_report_posts *)pv)[i].channel);
	for (size_t i = 0; i < nt; i++) {
		free((char *)((struct store_report_ticket *)tv)[i].channel);
		free((char *)((struct store_report_ticket *)tv)[i].reason);
	}
	free(pv);
	free(tv);
	free(hv);
}

sqlite3 *store_sqlite_db(struct store *base)
{
	return sq(base)->db;
}

static const struct store_backend sqlite_backend = {
    .name = "sqlite",
    .stop = sq_stop,
    .close = sq_close,
    .where = sq_where,
    .dirty = sq_dirty,
    .committing = sq_committing,
    .commit = sq_commit,
    .commit_sync = sq_commit_sync,
    .rollback = sq_rollback,
    .external_change = sq_external_change,
    .on_timing = sq_on_timing,
    .lookup = sq_lookup,
    .thread_get = sq_thread_get,
    .record_post = sq_record_post,
    .history = sq_history,
    .outbox_pending = sq_outbox_pending,
    .outbox_claim = sq_outbox_claim,
    .outbox_sent = sq_outbox_sent,
    .outbox_retry = sq_outbox_retry,
    .outbox_failed = sq_outbox_failed,
    .outbox_cancel = sq_outbox_cancel,
    .outbox_release = sq_outbox_release,
    .outbox_notify = sq_outbox_notify,
    .outbox_counts = sq_outbox_counts,
    .tickets = sq_tickets,
    .ticket_messages = sq_ticket_messages,
    .ticket_events = sq_ticket_events,
    .queue_version = sq_queue_version,
    .ticket_claim = sq_ticket_claim,
    .ticket_release = sq_ticket_release,
    .ticket_resolve = sq_ticket_resolve,
    .ticket_mark = sq_ticket_mark,
    .agent_reply = sq_agent_reply,
    .cursor_get = sq_cursor_get,
    .cursor_set = sq_cursor_set,
    .state_get = sq_state_get,
    .state_put = sq_state_put,
    .state_delete = sq_state_delete,
    .state_prune = sq_state_prune,
    .visitor_find = sq_visitor_find,
    .visitor_add = sq_visitor_add,
    .visitor_set_email = sq_visitor_set_email,
    .ticket_note = sq_ticket_note,
    .ticket_label = sq_ticket_label,
    .ticket_priority = sq_ticket_priority,
    .ticket_reopen = sq_ticket_reopen,
    .ticket_snooze = sq_ticket_snooze,
    .ticket_seen = sq_ticket_seen,
    .ticket_counts = sq_ticket_counts,
    .search = sq_search,
    .contact_update = sq_contact_update,
    .contact_get = sq_contact_get,
    .contact_tickets = sq_contact_tickets,
    .contact_rename = sq_contact_rename,
    .contact_search = sq_contact_search,
    .team_list = sq_team_list,
    .team_put = sq_team_put,
    .team_delete = sq_team_delete,
    .leader_watch = sq_leader_watch,
    .leader_cancel = sq_leader_cancel,
    .health = sq_health,
    .prune = sq_prune,
    .visitor_of_thread = sq_visitor_of_thread,
    .reply_note = sq_reply_note,
    .taught_list = sq_taught_list,
    .teach = sq_teach,
    .untaught = sq_untaught,
    .unanswered = sq_unanswered,
    .rating_put = sq_rating_put,
    .rating_ask = sq_rating_ask,
    .rating_answer = sq_rating_answer,
    .report = sq_report,
};
