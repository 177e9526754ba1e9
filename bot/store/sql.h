/*
 * store/sql.h - the SQL both backends write alike: the column lists every
 * read of a kind selects (in the order of the struct it fills), the ticket
 * marks and the orders of the ticket views.  Fragments only, without
 * parameters (SQLite writes them ?N, PostgreSQL $N), in the SQL both take.
 * Used by bot/store/sqlite.c and bot/store/pg.c, nothing else.
 */
#ifndef FD_STORE_SQL_H
#define FD_STORE_SQL_H

/* The outbox columns every row read selects, in struct store_out order
 * (outbox o). */
#define STORE_SQL_OUT_COLUMNS                                                                                \
	"o.id, CASE WHEN o.kind = 'reply' THEN COALESCE(o.thread_id, 0) ELSE 0 END,"                         \
	" COALESCE(o.message_id, 0), o.kind, o.connector, o.thread_key, o.reply_to, o.text, o.idem_key,"     \
	" o.sender, o.agent, o.private, o.attempts, o.not_before, o.created,"                                \
	" CASE WHEN o.sender = 'bot' AND o.kind = 'reply' AND o.guard IS NOT NULL THEN o.guard ELSE -1 END," \
	" o.recipient, COALESCE((SELECT t.last_in FROM threads t WHERE t.id = o.thread_id), 0),"             \
	" COALESCE(o.rating, 0)"

/* The contact columns every contact read selects, in struct store_contact
 * order (contacts c): last seen is the newest change of one of its threads. */
#define STORE_SQL_CONTACT_COLUMNS                                                                            \
	"c.id, c.name, c.email, c.handle, c.platform, c.external_id, c.name_source, c.created,"              \
	" COALESCE((SELECT max(t.updated) FROM threads t WHERE t.contact_id = c.id), c.created),"            \
	" (SELECT count(*) FROM tickets k JOIN threads t ON t.id = k.thread_id WHERE t.contact_id = c.id)"

/* The taught examples' columns, in struct store_taught order. */
#define STORE_SQL_TAUGHT_COLUMNS "id, rule, text, negative, by_login, COALESCE(ticket_id, 0), created"

/* A ticket's (tickets k) "due soon" or "missed" mark, 1 or 0: counted from
 * the ticket's last change of priority or reopening. */
#define STORE_SQL_TICKET_MARK(kind)                                                                          \
	" CASE WHEN EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = '" kind "'"  \
	"  AND e.id > (SELECT COALESCE(max(r.id), 0) FROM ticket_events r WHERE r.ticket_id = k.id"          \
	"  AND r.kind IN ('priority', 'reopened'))) THEN 1 ELSE 0 END,"

/* Orders of the ticket views on tickets k: by due time (then priority),
 * resolved ones newest first, newest first. */
#define STORE_SQL_PRIORITY_RANK(k)                                                                           \
	"CASE " k ".priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END"
#define STORE_SQL_ORDER_DUE      "COALESCE(k.due, 0) = 0, k.due, " STORE_SQL_PRIORITY_RANK("k") ", k.id"
#define STORE_SQL_ORDER_RESOLVED "k.resolved DESC, k.id DESC"
#define STORE_SQL_ORDER_NEWEST   "k.id DESC"

#endif
