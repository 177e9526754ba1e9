/*
 * store/schema.c - the store's versioned schema for every backend (see
 * schema.h).  Times are epoch seconds unless a column says ms.
 */
#include "store/schema.h"

#include <string.h>

#include "util.h"

/* clang-format off */

/* Version 1: posts, conversations, tickets, the outbox, cursors, visitors. */
static const char v1_common[] =
	"CREATE TABLE threads ("
	" id @ID,"
	" platform TEXT NOT NULL,"
	" thread_key TEXT NOT NULL,"
	" connector TEXT NOT NULL,"
	" is_private @INT NOT NULL DEFAULT 0,"
	" author TEXT,"
	" owner TEXT NOT NULL DEFAULT 'bot'"
	"  CHECK (owner = 'bot' OR owner = 'waiting' OR owner = 'claimed'),"
	" ticket_id @INT,"
	" claim_seq @INT NOT NULL DEFAULT 0,"
	" last_ack @INT NOT NULL DEFAULT 0,"
	" last_waiting_notice @INT NOT NULL DEFAULT 0,"
	" last_post_id TEXT,"
	" created @INT NOT NULL,"
	" updated @INT NOT NULL,"
	" UNIQUE (platform, thread_key));"
	"CREATE TABLE messages ("
	" id @ID,"
	" thread_id @INT NOT NULL REFERENCES threads(id),"
	" sender TEXT NOT NULL CHECK (sender = 'customer' OR sender = 'bot' OR sender = 'agent'),"
	" agent TEXT,"
	" text TEXT NOT NULL,"
	" ts @INT NOT NULL,"
	" client_id TEXT,"
	" state TEXT NOT NULL DEFAULT 'sent'"
	"  CHECK (state = 'pending' OR state = 'sent' OR state = 'failed' OR state = 'cancelled'));"
	"CREATE INDEX messages_thread ON messages (thread_id, id);"
	"CREATE TABLE posts ("
	" id @ID,"
	" platform TEXT NOT NULL,"
	" post_id TEXT NOT NULL,"
	" connector TEXT NOT NULL,"
	" thread_id @INT NOT NULL REFERENCES threads(id),"
	" message_id @INT REFERENCES messages(id),"
	" author_id TEXT,"
	" author_handle TEXT,"
	" author_name TEXT,"
	" text TEXT NOT NULL,"
	" created @INT NOT NULL,"
	" received @INT NOT NULL,"
	" action TEXT NOT NULL,"
	" rule TEXT,"
	" decision TEXT NOT NULL,"
	" UNIQUE (platform, post_id));"
	"CREATE TABLE tickets ("
	" id @ID,"
	" thread_id @INT NOT NULL REFERENCES threads(id),"
	" status TEXT NOT NULL CHECK (status = 'waiting' OR status = 'claimed' OR status = 'resolved'),"
	" priority TEXT NOT NULL,"
	" reason TEXT,"
	" platform TEXT NOT NULL,"
	" author TEXT,"
	" due @INT,"
	" created @INT NOT NULL,"
	" updated @INT NOT NULL,"
	" assignee TEXT,"
	" first_response @INT,"
	" resolved @INT);"
	"CREATE INDEX tickets_status ON tickets (status, due);"
	"CREATE TABLE ticket_events ("
	" id @ID,"
	" ticket_id @INT NOT NULL REFERENCES tickets(id),"
	" ts @INT NOT NULL,"
	" kind TEXT NOT NULL,"
	" actor TEXT,"
	" message_id @INT,"
	" detail TEXT);"
	"CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);"
	"CREATE TABLE outbox ("
	" id @ID,"
	" connector TEXT NOT NULL,"
	" thread_id @INT REFERENCES threads(id),"
	" thread_key TEXT NOT NULL,"
	" reply_to TEXT,"
	" private @INT NOT NULL DEFAULT 0,"
	" text TEXT NOT NULL,"
	" idem_key TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind = 'reply' OR kind = 'notify'),"
	" sender TEXT NOT NULL DEFAULT 'bot' CHECK (sender = 'bot' OR sender = 'agent'),"
	" agent TEXT,"
	" message_id @INT,"
	" guard @INT," /* thread claim_seq when a bot reply was decided */
	" attempts @INT NOT NULL DEFAULT 0,"
	" not_before @INT NOT NULL DEFAULT 0," /* epoch ms */
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state = 'pending' OR state = 'sent' OR state = 'failed' OR state = 'cancelled'),"
	" created @INT NOT NULL,"
	" sent @INT,"
	" last_error TEXT);"
	"CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';"
	"CREATE UNIQUE INDEX outbox_notify_key ON outbox (idem_key) WHERE kind = 'notify';"
	"CREATE TABLE cursors ("
	" connector TEXT PRIMARY KEY,"
	" value TEXT NOT NULL,"
	" updated @INT NOT NULL);"
	"CREATE TABLE visitors ("
	" token TEXT PRIMARY KEY,"
	" thread_key TEXT NOT NULL UNIQUE,"
	" created @INT NOT NULL,"
	" last_seen @INT NOT NULL,"
	" email TEXT);";

/*
 * Version 2: "take it offline" is decided by the pipeline and kept on the
 * ticket (private, and the customer replies go to), outbox rows name their
 * recipient, and connectors keep their own facts in a table of their own
 * instead of tab-separated values under made-up cursor names.  The
 * Mastodon connector's "<name>/status/<id>" cursors move into it; its
 * "<name>/offline/<thread>" marks are replaced by tickets.private, which
 * open tickets get by the rule those marks followed (every reason but a
 * mere unmatched question).  Only SQLite stores are old enough to hold such
 * rows: the move is SQLite's alone.
 */
static const char v2_common[] =
	"ALTER TABLE tickets ADD COLUMN private @INT NOT NULL DEFAULT 0;"
	"ALTER TABLE tickets ADD COLUMN recipient TEXT;"
	"ALTER TABLE outbox ADD COLUMN recipient TEXT;"
	"UPDATE tickets SET private = 1 WHERE reason IS NULL OR reason <> 'unmatched'"
	" OR thread_id IN (SELECT id FROM threads WHERE is_private = 1);"
	"UPDATE tickets SET recipient = (SELECT p.author_id FROM posts p JOIN ticket_events e"
	" ON e.message_id = p.message_id WHERE e.ticket_id = tickets.id AND e.kind = 'opened');"
	"CREATE TABLE connector_state ("
	" connector TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" thread_key TEXT,"
	" value TEXT NOT NULL,"
	" updated @INT NOT NULL,"
	" PRIMARY KEY (connector, kind, key))@NOROWID;";

static const char v2_sqlite[] =
	"INSERT OR REPLACE INTO connector_state (connector, kind, key, thread_key, value, updated)"
	" SELECT substr(connector, 1, instr(connector, '/status/') - 1), 'status',"
	"  substr(connector, instr(connector, '/status/') + 8),"
	"  substr(value, 1, instr(value, char(9)) - 1),"
	"  json_object('visibility', substr(r, 1, instr(r, char(9)) - 1),"
	"              'acct', substr(r, instr(r, char(9)) + 1)),"
	"  updated"
	" FROM (SELECT connector, value, updated, substr(value, instr(value, char(9)) + 1) AS r FROM cursors"
	"       WHERE instr(connector, '/status/') > 1 AND instr(value, char(9)) > 1)"
	" WHERE instr(r, char(9)) > 1;"
	"DELETE FROM cursors WHERE instr(connector, '/status/') > 1 OR instr(connector, '/offline/') > 1;";

/* Version 3: what retention (store_prune) looks rows up by. */
static const char v3_common[] =
	"CREATE INDEX posts_thread ON posts (thread_id);"
	"CREATE INDEX posts_message ON posts (message_id);" /* a deleted message's foreign-key check */
	"CREATE INDEX tickets_thread ON tickets (thread_id);"
	"CREATE INDEX outbox_thread ON outbox (thread_id) WHERE thread_id IS NOT NULL;"
	"CREATE INDEX outbox_done ON outbox (created) WHERE state <> 'pending';"
	"CREATE INDEX threads_idle ON threads (updated) WHERE owner = 'bot';"
	"CREATE INDEX visitors_seen ON visitors (last_seen);"
	"CREATE INDEX connector_state_updated ON connector_state (updated);";

/*
 * Version 4: the team's side.  Tickets can be snoozed and reopened and
 * carry labels; agents' read marks; the team's own settings (agents,
 * labels, canned replies set from the dashboard); contacts, one per
 * customer, with the author keys that lead to them (every thread belongs
 * to one); and full-text indexes (FTS5, external content kept by
 * triggers) over messages, private notes and contacts, so search never
 * scans a table.  Existing threads get contacts from their posts' authors.
 */
static const char v4_sqlite[] =
	"ALTER TABLE tickets ADD COLUMN snoozed_until INTEGER;"
	"ALTER TABLE tickets ADD COLUMN reopened INTEGER;"
	"CREATE INDEX tickets_snoozed ON tickets (snoozed_until) WHERE snoozed_until IS NOT NULL;"
	"CREATE INDEX tickets_assignee ON tickets (assignee, status);"
	"CREATE INDEX tickets_resolved ON tickets (resolved) WHERE status = 'resolved';"
	"CREATE INDEX ticket_events_note ON ticket_events (ticket_id) WHERE kind = 'note';"
	"CREATE TABLE ticket_labels ("
	" ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
	" label TEXT NOT NULL,"
	" PRIMARY KEY (ticket_id, label)) WITHOUT ROWID;"
	"CREATE INDEX ticket_labels_label ON ticket_labels (label, ticket_id);"
	"CREATE TABLE ticket_seen ("
	" ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
	" login TEXT NOT NULL COLLATE NOCASE,"
	" message_id INTEGER NOT NULL,"
	" PRIMARY KEY (ticket_id, login)) WITHOUT ROWID;"
	"CREATE TABLE team ("
	" kind TEXT NOT NULL,"
	" key TEXT NOT NULL COLLATE NOCASE,"
	" value TEXT NOT NULL,"
	" updated INTEGER NOT NULL,"
	" PRIMARY KEY (kind, key)) WITHOUT ROWID;"
	"CREATE TABLE contacts ("
	" id INTEGER PRIMARY KEY,"
	" platform TEXT NOT NULL,"
	" name TEXT,"
	" name_source INTEGER NOT NULL DEFAULT 0,"
	" email TEXT,"
	" handle TEXT,"
	" external_id TEXT UNIQUE,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE contact_keys ("
	" platform TEXT NOT NULL,"
	" author_id TEXT NOT NULL,"
	" contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
	" PRIMARY KEY (platform, author_id)) WITHOUT ROWID;"
	"CREATE INDEX contact_keys_contact ON contact_keys (contact_id);"
	"ALTER TABLE threads ADD COLUMN contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL;"
	"CREATE INDEX threads_contact ON threads (contact_id);"
	"CREATE INDEX contacts_email ON contacts (email COLLATE NOCASE) WHERE email IS NOT NULL;"
	"CREATE TEMP TABLE authors AS SELECT platform, author_id, max(author_name) AS name,"
	" max(author_handle) AS handle, min(received) AS first FROM posts WHERE author_id IS NOT NULL"
	" GROUP BY platform, author_id ORDER BY min(id);"
	"INSERT INTO contacts (id, platform, name, handle, created)"
	" SELECT rowid, platform, name, handle, first FROM temp.authors;"
	"INSERT INTO contact_keys (platform, author_id, contact_id)"
	" SELECT platform, author_id, rowid FROM temp.authors;"
	"DROP TABLE temp.authors;"
	"UPDATE threads SET contact_id = (SELECT k.contact_id FROM posts p JOIN contact_keys k"
	" ON k.platform = p.platform AND k.author_id = p.author_id WHERE p.thread_id = threads.id"
	" ORDER BY p.id LIMIT 1);"
	"CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id',"
	" tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
	" INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text); END;"
	"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
	" INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END;"
	"INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');"
	"CREATE VIRTUAL TABLE notes_fts USING fts5(detail, content='ticket_events', content_rowid='id',"
	" tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER notes_fts_insert AFTER INSERT ON ticket_events WHEN new.kind = 'note' BEGIN"
	" INSERT INTO notes_fts (rowid, detail) VALUES (new.id, new.detail); END;"
	"CREATE TRIGGER notes_fts_delete AFTER DELETE ON ticket_events WHEN old.kind = 'note' BEGIN"
	" INSERT INTO notes_fts (notes_fts, rowid, detail) VALUES ('delete', old.id, old.detail); END;"
	"CREATE VIRTUAL TABLE contacts_fts USING fts5(name, email, handle, content='contacts',"
	" content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN"
	" INSERT INTO contacts_fts (rowid, name, email, handle) VALUES (new.id, new.name, new.email, new.handle);"
	" END;"
	"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name, email, handle ON contacts BEGIN"
	" INSERT INTO contacts_fts (contacts_fts, rowid, name, email, handle)"
	"  VALUES ('delete', old.id, old.name, old.email, old.handle);"
	" INSERT INTO contacts_fts (rowid, name, email, handle) VALUES (new.id, new.name, new.email, new.handle);"
	" END;"
	"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN"
	" INSERT INTO contacts_fts (contacts_fts, rowid, name, email, handle)"
	"  VALUES ('delete', old.id, old.name, old.email, old.handle); END;"
	"INSERT INTO contacts_fts (contacts_fts) VALUES ('rebuild');";

/* The same for PostgreSQL, which has no store older than this step (its
 * backend came later): no contacts to fill in.  Search uses PostgreSQL's
 * own full-text search: GIN indexes over the words of messages, private
 * notes and contacts ('simple': words as written, in lower case, no
 * stemming), kept by the server.  COLLATE NOCASE columns are compared by
 * the queries in lower case. */
static const char v4_postgres[] =
	"ALTER TABLE tickets ADD COLUMN snoozed_until BIGINT;"
	"ALTER TABLE tickets ADD COLUMN reopened BIGINT;"
	"CREATE INDEX tickets_snoozed ON tickets (snoozed_until) WHERE snoozed_until IS NOT NULL;"
	"CREATE INDEX tickets_assignee ON tickets (assignee, status);"
	"CREATE INDEX tickets_resolved ON tickets (resolved) WHERE status = 'resolved';"
	"CREATE INDEX ticket_events_note ON ticket_events (ticket_id) WHERE kind = 'note';"
	"CREATE TABLE ticket_labels ("
	" ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
	" label TEXT NOT NULL,"
	" PRIMARY KEY (ticket_id, label));"
	"CREATE INDEX ticket_labels_label ON ticket_labels (label, ticket_id);"
	"CREATE TABLE ticket_seen ("
	" ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,"
	" login TEXT NOT NULL,"
	" message_id BIGINT NOT NULL,"
	" PRIMARY KEY (ticket_id, login));"
	"CREATE TABLE team ("
	" kind TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" updated BIGINT NOT NULL,"
	" PRIMARY KEY (kind, key));"
	"CREATE TABLE contacts ("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" platform TEXT NOT NULL,"
	" name TEXT,"
	" name_source BIGINT NOT NULL DEFAULT 0,"
	" email TEXT,"
	" handle TEXT,"
	" external_id TEXT UNIQUE,"
	" created BIGINT NOT NULL);"
	"CREATE TABLE contact_keys ("
	" platform TEXT NOT NULL,"
	" author_id TEXT NOT NULL,"
	" contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,"
	" PRIMARY KEY (platform, author_id));"
	"CREATE INDEX contact_keys_contact ON contact_keys (contact_id);"
	"ALTER TABLE threads ADD COLUMN contact_id BIGINT REFERENCES contacts(id) ON DELETE SET NULL;"
	"CREATE INDEX threads_contact ON threads (contact_id);"
	"CREATE INDEX contacts_email ON contacts (lower(email)) WHERE email IS NOT NULL;"
	/* The words of a text as search finds them: split at spaces and
	 * punctuation (as SQLite's unicode61 does: an e-mail address is three
	 * words), in lower case as the database's locale knows it, accents
	 * removed where the server has the unaccent extension (PostgreSQL's
	 * own, trusted: the database's owner may create it); without it,
	 * accents count. */
	"DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS unaccent;"
	" EXCEPTION WHEN OTHERS THEN RAISE WARNING 'frontdesk: search keeps accents: %', SQLERRM; END $$;"
	"CREATE TEXT SEARCH CONFIGURATION fd_search (COPY = simple);"
	"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'unaccent') THEN"
	" ALTER TEXT SEARCH CONFIGURATION fd_search ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;"
	" END IF; END $$;"
	"CREATE FUNCTION fd_text_words(p_text text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS"
	" $$ SELECT to_tsvector('fd_search', regexp_replace(COALESCE(p_text, ''), '[[:space:][:punct:]]+', ' ', 'g')) $$;"
	"CREATE INDEX messages_words ON messages USING gin (fd_text_words(text));"
	"CREATE INDEX notes_words ON ticket_events USING gin (fd_text_words(detail)) WHERE kind = 'note';"
	"CREATE INDEX contacts_words ON contacts USING gin"
	" (fd_text_words(COALESCE(name, '') || ' ' || COALESCE(email, '') || ' ' || COALESCE(handle, '')));";

/*
 * Version 5: what the team taught the bot (store_teach), and the index the
 * insights page's unanswered questions are read by (posts handed to a
 * person without a rule, by time).
 */
static const char v5_common[] =
	"CREATE TABLE taught ("
	" id @ID,"
	" rule TEXT NOT NULL,"
	" text TEXT NOT NULL,"
	" negative @INT NOT NULL DEFAULT 0,"
	" by_login TEXT,"
	" ticket_id @INT,"
	" created @INT NOT NULL,"
	" UNIQUE (rule, text, negative));"
	"CREATE INDEX taught_text ON taught (text);"
	"CREATE INDEX posts_unanswered ON posts (created) WHERE action = 'escalate' AND rule IS NULL;";

/*
 * Version 6: the customers' satisfaction ratings (one per ticket), and what
 * the insights figures read posts and tickets by (time received, opened).
 */
static const char v6_common[] =
	"CREATE TABLE ratings ("
	" ticket_id @INT PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,"
	" score @INT NOT NULL CHECK (score BETWEEN 1 AND 5),"
	" comment TEXT,"
	" created @INT NOT NULL);"
	"CREATE INDEX posts_received ON posts (received);"
	"CREATE INDEX tickets_created ON tickets (created);";

/*
 * Version 7: reply windows.  A thread remembers when its customer last
 * wrote (the platform's time of their newest message), because WhatsApp,
 * Messenger and Instagram take replies only within a window after it.
 */
static const char v7_common[] =
	"ALTER TABLE threads ADD COLUMN last_in @INT NOT NULL DEFAULT 0;"
	"UPDATE threads SET last_in = COALESCE((SELECT max(p.created) FROM posts p"
	" WHERE p.thread_id = threads.id), 0);";

/*
 * Version 8: the satisfaction question.  A thread remembers the resolved
 * ticket its customer was asked to rate (and when, and whether their next
 * message may still be the answer), and an outbox row that asks says for
 * which ticket (the web chat shows its rating buttons).
 */
static const char v8_common[] =
	"ALTER TABLE threads ADD COLUMN rating_ticket @INT;"
	"ALTER TABLE threads ADD COLUMN rating_asked @INT NOT NULL DEFAULT 0;"
	"ALTER TABLE threads ADD COLUMN rating_next @INT NOT NULL DEFAULT 0;"
	"ALTER TABLE outbox ADD COLUMN rating @INT;";

/*
 * Version 9: several processes on one store (PostgreSQL).  An outbox row
 * is sent by the process that holds its lease (lease_owner, until
 * lease_until in epoch ms of the database's clock); a SQLite store has one
 * process and leaves both empty.  The record of a decided post, the
 * pre-send claim and the ticket actions run on the server in one round
 * trip each (PL/pgSQL), under the row locks that keep two processes from
 * deciding one thread on two different states.
 */
static const char v9_common[] =
	"ALTER TABLE outbox ADD COLUMN lease_owner TEXT;"
	"ALTER TABLE outbox ADD COLUMN lease_until @INT NOT NULL DEFAULT 0;";

static const char v9_postgres[] =
	"CREATE FUNCTION fd_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS"
	" $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;"

	/* store_record_post: rc 0 recorded, 1 the post is stored already
	 * (nothing written), 2 the thread is not as the lookup said. */
	"CREATE FUNCTION fd_record_post("
	" p_platform text, p_post_id text, p_thread_key text, p_connector text, p_thread_private bigint,"
	" p_author text, p_author_id text, p_author_handle text, p_author_name text,"
	" p_text text, p_client_id text, p_created bigint, p_now bigint,"
	" p_action text, p_rule text, p_decision text, p_last_post text,"
	" p_tid bigint, p_owner text, p_ticket bigint, p_claim_seq bigint, p_last_ack bigint, p_last_notice bigint,"
	" p_open_ticket boolean, p_append boolean, p_priority text, p_reason text, p_due bigint,"
	" p_ticket_private bigint, p_new_ack bigint, p_new_notice bigint,"
	" p_texts text[], p_idems text[], p_private bigint[], p_node text, p_lease_ms bigint,"
	" p_staff boolean, p_contact boolean, p_contact_name text, p_contact_handle text,"
	" p_rating bigint, p_rating_comment text,"
	" OUT o_rc int, OUT o_thread bigint, OUT o_message bigint, OUT o_post bigint, OUT o_ticket bigint,"
	" OUT o_msgs bigint[], OUT o_outs bigint[], OUT o_last_in bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t threads%ROWTYPE;\n"
	" v_new boolean := false;\n"
	" v_owner text := p_owner;\n"
	" v_ticket bigint := p_ticket;\n"
	" v_changed boolean := false;\n"
	" v_bump int := 0;\n"
	" v_contact bigint;\n"
	" v_who text := COALESCE(p_author, 'a person on the platform');\n"
	" v_mid bigint;\n"
	" v_id bigint;\n"
	" v_rt bigint;\n"
	" v_ra bigint := 0;\n"
	" v_rn bigint := 0;\n"
	"BEGIN\n"
	" o_rc := 0; o_thread := 0; o_message := 0; o_post := 0; o_ticket := 0;\n"
	" o_msgs := '{}'; o_outs := '{}'; o_last_in := 0;\n"
	" SELECT * INTO t FROM threads WHERE platform = p_platform AND thread_key = p_thread_key FOR UPDATE;\n"
	" IF FOUND THEN\n"
	"  IF t.id <> p_tid OR t.owner <> p_owner OR COALESCE(t.ticket_id, 0) <> p_ticket\n"
	"     OR t.claim_seq <> p_claim_seq OR t.last_ack <> p_last_ack\n"
	"     OR t.last_waiting_notice <> p_last_notice THEN\n"
	"   o_rc := 2; RETURN;\n"
	"  END IF;\n"
	"  o_thread := t.id;\n"
	"  o_last_in := t.last_in;\n"
	"  v_rt := t.rating_ticket; v_ra := t.rating_asked; v_rn := t.rating_next;\n"
	" ELSIF p_tid <> 0 THEN\n"
	"  o_rc := 2; RETURN;\n"
	" END IF;\n"
	/* A person of the business writing on the platform moves neither
	 * the reply window nor what replies answer. */
	" IF NOT p_staff AND p_created > o_last_in THEN o_last_in := p_created; END IF;\n"
	" IF o_thread = 0 THEN\n"
	"  IF p_contact THEN\n"
	"   v_contact := fd_contact_of(p_platform, p_author_id, p_contact_handle, p_contact_name, p_now);\n"
	"  END IF;\n"
	"  INSERT INTO threads (platform, thread_key, connector, is_private, author, last_ack,\n"
	"                       last_waiting_notice, last_post_id, created, updated, contact_id, last_in)\n"
	"   VALUES (p_platform, p_thread_key, p_connector, p_thread_private,\n"
	"           CASE WHEN p_staff THEN NULL ELSE p_author END, p_new_ack,\n"
	"           p_new_notice, p_last_post, p_now, p_now, v_contact, o_last_in)\n"
	"   ON CONFLICT (platform, thread_key) DO NOTHING RETURNING id INTO o_thread;\n"
	"  IF o_thread IS NULL THEN o_thread := 0; o_rc := 2; RETURN; END IF;\n"
	"  v_new := true;\n"
	" END IF;\n"
	" INSERT INTO messages (thread_id, sender, agent, text, ts, client_id, state)\n"
	"  VALUES (o_thread, CASE WHEN p_staff THEN 'agent' ELSE 'customer' END,\n"
	"          CASE WHEN p_staff THEN p_author END, p_text, p_now, NULLIF(p_client_id, ''), 'sent')\n"
	"  RETURNING id INTO o_message;\n"
	" INSERT INTO posts (platform, post_id, connector, thread_id, message_id, author_id, author_handle,\n"
	"                    author_name, text, created, received, action, rule, decision)\n"
	"  VALUES (p_platform, p_post_id, p_connector, o_thread, o_message, p_author_id, p_author_handle,\n"
	"          p_author_name, p_text, p_created, p_now, p_action, p_rule, p_decision)\n"
	"  ON CONFLICT (platform, post_id) DO NOTHING RETURNING id INTO o_post;\n"
	" IF o_post IS NULL THEN\n"
	"  DELETE FROM messages WHERE id = o_message;\n"
	"  IF v_new THEN DELETE FROM threads WHERE id = o_thread; END IF;\n"
	"  o_rc := 1; o_thread := 0; o_message := 0; o_post := 0; o_last_in := 0; RETURN;\n"
	" END IF;\n"
	" IF p_staff THEN\n"
	/* Taking over: the thread's ticket becomes theirs, or one is opened
	 * for them; a ticket a person of ours claimed stays theirs. */
	"  IF p_owner = 'claimed' AND p_ticket > 0 THEN\n"
	"   INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id)\n"
	"    VALUES (p_ticket, p_now, 'message', v_who, o_message);\n"
	"  ELSE\n"
	"   IF p_owner = 'bot' OR p_ticket <= 0 THEN\n"
	"    INSERT INTO tickets (thread_id, status, priority, reason, platform, author, due, created, updated,\n"
	"                         private, recipient, assignee)\n"
	"     VALUES (o_thread, 'claimed', 'normal', NULL, p_platform,\n"
	"             (SELECT author FROM threads WHERE id = o_thread), NULL, p_now, p_now, 1, NULL, v_who)\n"
	"     RETURNING id INTO v_ticket;\n"
	"    INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id, detail)\n"
	"     VALUES (v_ticket, p_now, 'opened', v_who, o_message, 'taken over on the platform');\n"
	"   ELSE\n"
	"    UPDATE tickets SET status = 'claimed', assignee = v_who, updated = p_now WHERE id = p_ticket;\n"
	"    INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id)\n"
	"     VALUES (p_ticket, p_now, 'message', v_who, o_message);\n"
	"   END IF;\n"
	"   INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail)\n"
	"    VALUES (v_ticket, p_now, 'claimed', v_who, 'answered on the platform itself');\n"
	"   v_changed := true; v_bump := 1;\n"
	"  END IF;\n"
	"  v_owner := 'claimed';\n"
	"  o_ticket := v_ticket;\n"
	" ELSIF p_open_ticket AND p_owner = 'bot' THEN\n"
	"  INSERT INTO tickets (thread_id, status, priority, reason, platform, author, due, created, updated,\n"
	"                      private, recipient)\n"
	"   VALUES (o_thread, 'waiting', p_priority, p_reason, p_platform, p_author, p_due, p_now, p_now,\n"
	"           p_ticket_private, p_author_id) RETURNING id INTO v_ticket;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, message_id, detail)\n"
	"   VALUES (v_ticket, p_now, 'opened', o_message, p_reason);\n"
	"  v_owner := 'waiting';\n"
	"  v_changed := true;\n"
	"  o_ticket := v_ticket;\n"
	" ELSIF (p_append OR p_open_ticket) AND p_ticket > 0 THEN\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, message_id) VALUES (p_ticket, p_now, 'message', o_message);\n"
	/* A customer's message wakes a snoozed ticket. */
	"  UPDATE tickets SET updated = p_now, snoozed_until = NULL WHERE id = p_ticket;\n"
	"  o_ticket := p_ticket;\n"
	" END IF;\n"
	/* The satisfaction question of the thread: the customer's answer is
	 * kept; any other message means the words that follow are no answer;
	 * a new ticket ends the question. */
	" IF NOT v_new AND COALESCE(v_rt, 0) > 0 AND NOT p_staff THEN\n"
	"  IF p_rating > 0 THEN\n"
	"   PERFORM fd_rating_record(v_rt, p_rating, p_rating_comment, o_message, p_now);\n"
	"   v_rt := NULL; v_ra := 0; v_rn := 0;\n"
	"  ELSIF v_owner = 'waiting' AND v_changed THEN\n"
	"   v_rt := NULL; v_ra := 0; v_rn := 0;\n"
	"  ELSE\n"
	"   v_rn := 0;\n"
	"  END IF;\n"
	" END IF;\n"
	" FOR i IN 1 .. COALESCE(array_length(p_texts, 1), 0) LOOP\n"
	"  INSERT INTO messages (thread_id, sender, text, ts, state)\n"
	"   VALUES (o_thread, 'bot', p_texts[i], p_now, 'pending') RETURNING id INTO v_mid;\n"
	"  INSERT INTO outbox (connector, thread_id, thread_key, reply_to, private, text, idem_key, kind, sender,\n"
	"                     message_id, guard, created, recipient, lease_owner, lease_until)\n"
	"   VALUES (p_connector, o_thread, p_thread_key, p_last_post, p_private[i], p_texts[i], p_idems[i],\n"
	"           'reply', 'bot', v_mid, p_claim_seq, p_now, NULLIF(p_author_id, ''), p_node,\n"
	"           CASE WHEN p_node IS NULL THEN 0 ELSE fd_now_ms() + p_lease_ms END)\n"
	"   RETURNING id INTO v_id;\n"
	"  o_msgs := o_msgs || v_mid;\n"
	"  o_outs := o_outs || v_id;\n"
	" END LOOP;\n"
	" IF v_new THEN\n"
	"  IF v_changed THEN\n"
	"   UPDATE threads SET owner = v_owner, ticket_id = v_ticket, claim_seq = claim_seq + v_bump\n"
	"    WHERE id = o_thread;\n"
	"  END IF;\n"
	"  RETURN;\n"
	" END IF;\n"
	" UPDATE threads SET owner = v_owner, ticket_id = NULLIF(v_ticket, 0), last_ack = p_new_ack,\n"
	"  last_waiting_notice = p_new_notice, last_post_id = COALESCE(p_last_post, last_post_id),\n"
	"  updated = p_now, claim_seq = claim_seq + v_bump, last_in = o_last_in, rating_ticket = v_rt,\n"
	"  rating_asked = v_ra, rating_next = v_rn WHERE id = o_thread;\n"
	"END $$;"

	/* The contact of author (platform, author_id), created with the
	 * handle and name the platform shows when the author has none (a
	 * web chat visitor who left an address before writing brings it). */
	"CREATE FUNCTION fd_contact_of(p_platform text, p_author_id text, p_handle text, p_name text,"
	" p_now bigint) RETURNS bigint LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" v_id bigint;\n"
	"BEGIN\n"
	" SELECT contact_id INTO v_id FROM contact_keys WHERE platform = p_platform AND author_id = p_author_id;\n"
	" IF FOUND THEN RETURN v_id; END IF;\n"
	" INSERT INTO contacts (platform, name, handle, created, email)\n"
	"  VALUES (p_platform, p_name, p_handle, p_now,\n"
	"          (SELECT email FROM visitors WHERE p_platform = 'webchat' AND thread_key = p_author_id))\n"
	"  RETURNING id INTO v_id;\n"
	" INSERT INTO contact_keys (platform, author_id, contact_id) VALUES (p_platform, p_author_id, v_id)\n"
	"  ON CONFLICT (platform, author_id) DO UPDATE SET contact_id = excluded.contact_id;\n"
	" RETURN v_id;\n"
	"END $$;"

	/* store_contact_update: 0, or 1 when the author's contact has another
	 * external id already (nothing changes). */
	"CREATE FUNCTION fd_contact_update(p_platform text, p_author_id text, p_handle text, p_name text,"
	" p_source bigint, p_email text, p_external text, p_now bigint) RETURNS int LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" v_mine bigint;\n"
	" v_theirs bigint;\n"
	" v_ext text;\n"
	"BEGIN\n"
	" v_mine := fd_contact_of(p_platform, p_author_id, p_handle, NULL, p_now);\n"
	" IF p_external IS NOT NULL THEN\n"
	"  SELECT external_id INTO v_ext FROM contacts WHERE id = v_mine;\n"
	"  IF v_ext IS NOT NULL AND v_ext <> p_external THEN RETURN 1; END IF;\n"
	"  SELECT id INTO v_theirs FROM contacts WHERE external_id = p_external;\n"
	"  IF FOUND AND v_theirs <> v_mine THEN\n"
	"   UPDATE contact_keys SET contact_id = v_theirs WHERE contact_id = v_mine;\n"
	"   UPDATE threads SET contact_id = v_theirs WHERE contact_id = v_mine;\n"
	"   DELETE FROM contacts WHERE id = v_mine;\n"
	"   v_mine := v_theirs;\n"
	"  ELSIF NOT FOUND THEN\n"
	"   UPDATE contacts SET external_id = p_external WHERE id = v_mine;\n"
	"  END IF;\n"
	" END IF;\n"
	" PERFORM fd_contact_set(v_mine, p_handle, p_email, p_name, p_source);\n"
	" RETURN 0;\n"
	"END $$;"

	/* Only what changes is written, and a name only by a source at least
	 * as strong as the stored one's. */
	"CREATE FUNCTION fd_contact_set(p_id bigint, p_handle text, p_email text, p_name text, p_source bigint)"
	" RETURNS void LANGUAGE sql AS $$\n"
	" UPDATE contacts SET handle = COALESCE(p_handle, handle), email = COALESCE(p_email, email),\n"
	"  name = CASE WHEN p_name IS NOT NULL AND p_source >= name_source THEN p_name ELSE name END,\n"
	"  name_source = CASE WHEN p_name IS NOT NULL AND p_source >= name_source THEN p_source ELSE name_source END\n"
	" WHERE id = p_id AND (COALESCE(p_handle, handle) IS DISTINCT FROM handle\n"
	"  OR COALESCE(p_email, email) IS DISTINCT FROM email\n"
	"  OR (p_name IS NOT NULL AND p_source >= name_source\n"
	"      AND (p_name IS DISTINCT FROM name OR p_source <> name_source)))\n"
	"$$;"

	/* store_outbox_claim: 0 send (the lease is ours), 1 not pending, 2
	 * another process holds it, 3 withdrawn (an agent claimed the thread). */
	"CREATE FUNCTION fd_claim(p_id bigint, p_node text, p_lease_ms bigint) RETURNS int"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" o outbox%ROWTYPE;\n"
	" v_now bigint := fd_now_ms();\n"
	"BEGIN\n"
	" SELECT * INTO o FROM outbox WHERE id = p_id FOR UPDATE SKIP LOCKED;\n"
	" IF NOT FOUND THEN\n"
	"  IF EXISTS (SELECT 1 FROM outbox WHERE id = p_id AND state = 'pending') THEN RETURN 2; END IF;\n"
	"  RETURN 1;\n"
	" END IF;\n"
	" IF o.state <> 'pending' THEN RETURN 1; END IF;\n"
	" IF o.lease_owner IS NOT NULL AND o.lease_owner IS DISTINCT FROM p_node AND o.lease_until > v_now THEN\n"
	"  RETURN 2;\n"
	" END IF;\n"
	" IF o.kind = 'reply' AND o.sender = 'bot' AND o.guard IS NOT NULL AND o.thread_id IS NOT NULL\n"
	"    AND EXISTS (SELECT 1 FROM threads t WHERE t.id = o.thread_id AND t.owner = 'claimed'\n"
	"                AND t.claim_seq <> o.guard) THEN\n"
	"  UPDATE outbox SET state = 'cancelled', lease_owner = NULL,\n"
	"   last_error = 'the thread was claimed by an agent before sending' WHERE id = p_id;\n"
	"  UPDATE messages SET state = 'cancelled' WHERE id = o.message_id;\n"
	"  RETURN 3;\n"
	" END IF;\n"
	" UPDATE outbox SET lease_owner = p_node, lease_until = v_now + p_lease_ms WHERE id = p_id;\n"
	" RETURN 0;\n"
	"END $$;"

	/* Claiming a ticket for an agent (ticket actions, agent replies). */
	"CREATE FUNCTION fd_do_claim(p_id bigint, p_thread bigint, p_login text, p_now bigint) RETURNS void"
	" LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" UPDATE tickets SET status = 'claimed', assignee = p_login, updated = p_now WHERE id = p_id;\n"
	" UPDATE threads SET owner = 'claimed', claim_seq = claim_seq + 1, updated = p_now\n"
	"  WHERE id = p_thread AND ticket_id = p_id;\n"
	" INSERT INTO ticket_events (ticket_id, ts, kind, actor) VALUES (p_id, p_now, 'claimed', p_login);\n"
	"END $$;"

	/* Ticket actions: 0 done, 1 not applicable. */
	"CREATE FUNCTION fd_ticket_action(p_action text, p_id bigint, p_actor text, p_now bigint, p_detail text)"
	" RETURNS int LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" k tickets%ROWTYPE;\n"
	"BEGIN\n"
	" SELECT * INTO k FROM tickets WHERE id = p_id FOR UPDATE;\n"
	" IF NOT FOUND THEN RETURN 1; END IF;\n"
	" IF p_action = 'claim' THEN\n"
	"  IF k.status = 'resolved' THEN RETURN 1; END IF;\n"
	"  PERFORM fd_do_claim(p_id, k.thread_id, p_actor, p_now);\n"
	" ELSIF p_action = 'release' THEN\n"
	"  IF k.status <> 'claimed' THEN RETURN 1; END IF;\n"
	"  UPDATE tickets SET status = 'waiting', assignee = NULL, updated = p_now WHERE id = p_id;\n"
	"  UPDATE threads SET owner = 'waiting', updated = p_now WHERE id = k.thread_id AND ticket_id = p_id;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor) VALUES (p_id, p_now, 'released', p_actor);\n"
	" ELSIF p_action = 'resolve' THEN\n"
	"  IF k.status = 'resolved' THEN RETURN 1; END IF;\n"
	"  UPDATE tickets SET status = 'resolved', assignee = NULLIF(k.assignee, ''), updated = p_now,\n"
	"   resolved = p_now WHERE id = p_id;\n"
	"  UPDATE threads SET owner = 'bot', ticket_id = NULL, last_ack = 0, last_waiting_notice = 0,\n"
	"   updated = p_now WHERE id = k.thread_id AND ticket_id = p_id;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor) VALUES (p_id, p_now, 'resolved', p_actor);\n"
	" ELSE\n"
	/* A mark ("due soon", "missed") counts from the ticket's last change
	 * of priority or reopening. */
	"  IF EXISTS (SELECT 1 FROM ticket_events WHERE ticket_id = p_id AND kind = p_action\n"
	"             AND id > (SELECT COALESCE(max(id), 0) FROM ticket_events WHERE ticket_id = p_id\n"
	"                       AND kind IN ('priority', 'reopened'))) THEN\n"
	"   RETURN 1;\n"
	"  END IF;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, detail) VALUES (p_id, p_now, p_action, p_detail);\n"
	" END IF;\n"
	" RETURN 0;\n"
	"END $$;"

	/* The team's side of a ticket: 0 done, 1 not applicable (no such
	 * ticket, not in a state the action applies to, nothing changes).
	 * p_text: the note, label, priority or the snooze's end as written
	 * for people; p_time: the due time (priority, reopen) or the end of
	 * a snooze (0: none, wake). */
	"CREATE FUNCTION fd_team_action(p_action text, p_id bigint, p_actor text, p_now bigint, p_text text,"
	" p_time bigint) RETURNS int LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" k tickets%ROWTYPE;\n"
	" v_n bigint;\n"
	"BEGIN\n"
	" SELECT * INTO k FROM tickets WHERE id = p_id FOR UPDATE;\n"
	" IF NOT FOUND THEN RETURN 1; END IF;\n"
	" IF p_action = 'note' THEN\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail) VALUES (p_id, p_now, 'note', p_actor, p_text);\n"
	" ELSIF p_action = 'label' THEN\n"
	"  INSERT INTO ticket_labels (ticket_id, label) VALUES (p_id, p_text) ON CONFLICT DO NOTHING;\n"
	"  GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	"  IF v_n = 0 THEN RETURN 1; END IF;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail) VALUES (p_id, p_now, 'labeled', p_actor, p_text);\n"
	" ELSIF p_action = 'unlabel' THEN\n"
	"  DELETE FROM ticket_labels WHERE ticket_id = p_id AND label = p_text;\n"
	"  GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	"  IF v_n = 0 THEN RETURN 1; END IF;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail)\n"
	"   VALUES (p_id, p_now, 'unlabeled', p_actor, p_text);\n"
	" ELSIF p_action = 'priority' THEN\n"
	"  IF k.status = 'resolved' OR k.priority = p_text THEN RETURN 1; END IF;\n"
	"  UPDATE tickets SET priority = p_text, due = NULLIF(p_time, 0), updated = p_now WHERE id = p_id;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail) VALUES (p_id, p_now, 'priority', p_actor, p_text);\n"
	"  RETURN 0;\n"
	" ELSIF p_action = 'reopen' THEN\n"
	/* Only the thread's newest ticket, while the thread has no open one. */
	"  IF k.status <> 'resolved'\n"
	"     OR EXISTS (SELECT 1 FROM threads WHERE id = k.thread_id AND ticket_id IS NOT NULL)\n"
	"     OR (SELECT max(id) FROM tickets WHERE thread_id = k.thread_id) <> p_id THEN\n"
	"   RETURN 1;\n"
	"  END IF;\n"
	"  UPDATE tickets SET status = 'waiting', assignee = NULL, resolved = NULL, due = NULLIF(p_time, 0),\n"
	"   updated = p_now, reopened = p_now, snoozed_until = NULL WHERE id = p_id;\n"
	"  UPDATE threads SET owner = 'waiting', ticket_id = p_id, claim_seq = claim_seq + 1, updated = p_now\n"
	"   WHERE id = k.thread_id AND ticket_id IS NULL;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor) VALUES (p_id, p_now, 'reopened', p_actor);\n"
	"  RETURN 0;\n"
	" ELSIF p_action = 'snooze' THEN\n"
	"  IF k.status = 'resolved' THEN RETURN 1; END IF;\n"
	"  UPDATE tickets SET snoozed_until = NULLIF(p_time, 0), updated = p_now WHERE id = p_id;\n"
	"  INSERT INTO ticket_events (ticket_id, ts, kind, actor, detail)\n"
	"   VALUES (p_id, p_now, CASE WHEN p_time > 0 THEN 'snoozed' ELSE 'woken' END, p_actor,\n"
	"           CASE WHEN p_time > 0 THEN p_text END);\n"
	"  RETURN 0;\n"
	" ELSE\n"
	"  RETURN 1;\n"
	" END IF;\n"
	" UPDATE tickets SET updated = p_now WHERE id = p_id;\n"
	" RETURN 0;\n"
	"END $$;"

	/* Messages from the business into ticket p_id's thread: one message
	 * (pending) and one outbox row per part, from p_sender ('agent' with
	 * its display name, or 'bot'), addressed as the ticket's replies are;
	 * p_rating: the ticket the message asks the customer to rate (0 none).
	 * An agent's part is a "reply" event; a question is a "rating_asked"
	 * event with its first message.  One row per part (o_id 0: none). */
	"CREATE FUNCTION fd_thread_rows(p_id bigint, p_sender text, p_login text, p_name text, p_parts text[],"
	" p_rating bigint, p_now bigint, p_node text, p_lease_ms bigint)"
	" RETURNS TABLE (o_rc int, o_id bigint, o_mid bigint, o_thread bigint, o_connector text,"
	"  o_thread_key text, o_reply_to text, o_private bigint, o_recipient text, o_idem text, o_last_in bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" k tickets%ROWTYPE;\n"
	" t threads%ROWTYPE;\n"
	"BEGIN\n"
	" SELECT * INTO k FROM tickets WHERE id = p_id;\n"
	" SELECT * INTO t FROM threads WHERE id = k.thread_id;\n"
	" o_rc := 0; o_id := 0; o_thread := k.thread_id; o_connector := t.connector;\n"
	" o_thread_key := t.thread_key; o_reply_to := t.last_post_id;\n"
	" o_private := GREATEST(t.is_private, k.private); o_recipient := NULLIF(k.recipient, '');\n"
	" o_last_in := t.last_in;\n"
	" FOR i IN 1 .. COALESCE(array_length(p_parts, 1), 0) LOOP\n"
	"  INSERT INTO messages (thread_id, sender, agent, text, ts, state)\n"
	"   VALUES (k.thread_id, p_sender, CASE WHEN p_sender = 'agent' THEN p_name END, p_parts[i], p_now,\n"
	"           'pending') RETURNING id INTO o_mid;\n"
	"  o_idem := 'fd' || substr(md5(p_sender || '/' || o_mid || '/' || (i - 1)), 1, 16);\n"
	"  INSERT INTO outbox (connector, thread_id, thread_key, reply_to, private, text, idem_key, kind, sender,\n"
	"                     agent, message_id, created, recipient, rating, lease_owner, lease_until)\n"
	"   VALUES (t.connector, k.thread_id, t.thread_key, t.last_post_id, o_private, p_parts[i], o_idem,\n"
	"           'reply', p_sender, CASE WHEN p_sender = 'agent' THEN p_name END, o_mid, p_now, o_recipient,\n"
	"           NULLIF(p_rating, 0), p_node, CASE WHEN p_node IS NULL THEN 0 ELSE fd_now_ms() + p_lease_ms END)\n"
	"   RETURNING id INTO o_id;\n"
	"  IF p_sender = 'agent' THEN\n"
	"   INSERT INTO ticket_events (ticket_id, ts, kind, actor, message_id) VALUES (p_id, p_now, 'reply', p_login, o_mid);\n"
	"  ELSIF p_rating > 0 AND i = 1 THEN\n"
	"   INSERT INTO ticket_events (ticket_id, ts, kind, message_id) VALUES (p_id, p_now, 'rating_asked', o_mid);\n"
	"  END IF;\n"
	"  RETURN NEXT;\n"
	" END LOOP;\n"
	" IF COALESCE(array_length(p_parts, 1), 0) = 0 THEN o_id := 0; RETURN NEXT; END IF;\n"
	"END $$;"

	/* store_agent_reply: one row per part (o_id 0: none), or one row
	 * with o_rc 1 when the ticket is absent or resolved. */
	"CREATE FUNCTION fd_agent_reply(p_id bigint, p_login text, p_name text, p_parts text[], p_now bigint,"
	" p_node text, p_lease_ms bigint)"
	" RETURNS TABLE (o_rc int, o_id bigint, o_mid bigint, o_thread bigint, o_connector text,"
	"  o_thread_key text, o_reply_to text, o_private bigint, o_recipient text, o_idem text, o_last_in bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" k tickets%ROWTYPE;\n"
	"BEGIN\n"
	" SELECT * INTO k FROM tickets WHERE id = p_id FOR UPDATE;\n"
	" IF NOT FOUND OR k.status = 'resolved' THEN o_rc := 1; o_id := 0; RETURN NEXT; RETURN; END IF;\n"
	" IF k.status <> 'claimed' OR k.assignee IS DISTINCT FROM p_login THEN\n"
	"  PERFORM fd_do_claim(p_id, k.thread_id, p_login, p_now);\n"
	" END IF;\n"
	" RETURN QUERY SELECT * FROM fd_thread_rows(p_id, 'agent', p_login, p_name, p_parts, 0, p_now, p_node,\n"
	"  p_lease_ms);\n"
	" UPDATE tickets SET first_response = COALESCE(first_response, p_now), updated = p_now WHERE id = p_id;\n"
	"END $$;"

	/* store_rating_ask: the question's rows as fd_thread_rows gives them,
	 * or one row with o_rc 1 when the ticket is not resolved, is not its
	 * thread's newest, or the thread is with a person again. */
	"CREATE FUNCTION fd_rating_ask(p_id bigint, p_parts text[], p_now bigint, p_node text, p_lease_ms bigint)"
	" RETURNS TABLE (o_rc int, o_id bigint, o_mid bigint, o_thread bigint, o_connector text,"
	"  o_thread_key text, o_reply_to text, o_private bigint, o_recipient text, o_idem text, o_last_in bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" k tickets%ROWTYPE;\n"
	"BEGIN\n"
	" SELECT * INTO k FROM tickets WHERE id = p_id FOR UPDATE;\n"
	" IF NOT FOUND OR k.status <> 'resolved'\n"
	"    OR NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = k.thread_id AND t.owner = 'bot')\n"
	"    OR (SELECT max(id) FROM tickets WHERE thread_id = k.thread_id) <> p_id THEN\n"
	"  o_rc := 1; o_id := 0; RETURN NEXT; RETURN;\n"
	" END IF;\n"
	" RETURN QUERY SELECT * FROM fd_thread_rows(p_id, 'bot', NULL, NULL, p_parts, p_id, p_now, p_node,\n"
	"  p_lease_ms);\n"
	" UPDATE threads SET rating_ticket = p_id, rating_asked = p_now, rating_next = 1 WHERE id = k.thread_id;\n"
	"END $$;"

	/* A customer's rating of ticket p_ticket (their words: p_message; 0
	 * for the web chat's buttons), with a "rated" event; a later answer
	 * replaces an earlier one. */
	"CREATE FUNCTION fd_rating_record(p_ticket bigint, p_score bigint, p_comment text, p_message bigint,"
	" p_now bigint) RETURNS void LANGUAGE sql AS $$\n"
	" INSERT INTO ratings (ticket_id, score, comment, created)\n"
	"  SELECT id, p_score, NULLIF(p_comment, ''), p_now FROM tickets WHERE id = p_ticket\n"
	"  ON CONFLICT (ticket_id) DO UPDATE SET score = excluded.score, comment = excluded.comment,\n"
	"  created = excluded.created;\n"
	" INSERT INTO ticket_events (ticket_id, ts, kind, message_id, detail)\n"
	"  SELECT id, p_now, 'rated', NULLIF(p_message, 0), p_score::text FROM tickets WHERE id = p_ticket;\n"
	"$$;"

	/* store_rating_answer: 0, or 1 when no question is pending there (none
	 * asked, answered, for another ticket, or asked before p_asked_since). */
	"CREATE FUNCTION fd_rating_answer(p_platform text, p_thread_key text, p_ticket bigint, p_score bigint,"
	" p_comment text, p_asked_since bigint, p_now bigint) RETURNS int LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t threads%ROWTYPE;\n"
	"BEGIN\n"
	" SELECT * INTO t FROM threads WHERE platform = p_platform AND thread_key = p_thread_key FOR UPDATE;\n"
	" IF NOT FOUND OR COALESCE(t.rating_ticket, 0) <= 0 OR (p_ticket > 0 AND t.rating_ticket <> p_ticket)\n"
	"    OR t.rating_asked < p_asked_since THEN\n"
	"  RETURN 1;\n"
	" END IF;\n"
	" PERFORM fd_rating_record(t.rating_ticket, p_score, p_comment, 0, p_now);\n"
	" UPDATE threads SET rating_ticket = NULL, rating_asked = 0, rating_next = 0 WHERE id = t.id;\n"
	" RETURN 0;\n"
	"END $$;"


	/* store_outbox_notify: o_rc 0 new, 1 a row with that key exists; the
	 * row's id either way. */
	"CREATE FUNCTION fd_notify(p_connector text, p_payload text, p_idem text, p_not_before bigint,"
	" p_now bigint, p_node text, p_lease_ms bigint, OUT o_rc int, OUT o_id bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" o_rc := 0;\n"
	" INSERT INTO outbox (connector, thread_id, thread_key, private, text, idem_key, kind, sender, not_before,\n"
	"                     created, lease_owner, lease_until)\n"
	"  VALUES (p_connector, NULL, '', 1, p_payload, p_idem, 'notify', 'bot', p_not_before, p_now, p_node,\n"
	"          CASE WHEN p_node IS NULL THEN 0 ELSE fd_now_ms() + p_lease_ms END)\n"
	"  ON CONFLICT (idem_key) WHERE kind = 'notify' DO NOTHING RETURNING id INTO o_id;\n"
	" IF o_id IS NULL THEN\n"
	"  o_rc := 1;\n"
	"  SELECT id INTO o_id FROM outbox WHERE kind = 'notify' AND idem_key = p_idem;\n"
	" END IF;\n"
	"END $$;"

	/* store_visitor_find: o_rc 0 known (and marked seen, at most once every
	 * p_seen_every seconds), 1 unknown or expired. */
	"CREATE FUNCTION fd_visitor_find(p_token text, p_now bigint, p_ttl bigint, p_seen_every bigint,"
	" OUT o_rc int, OUT o_token text, OUT o_key text, OUT o_email text, OUT o_ticket bigint,"
	" OUT o_rating_ticket bigint, OUT o_rating_asked bigint)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" v_seen bigint;\n"
	"BEGIN\n"
	" o_rc := 1;\n"
	" SELECT v.token, v.thread_key, v.email, v.last_seen, COALESCE(t.ticket_id, 0),\n"
	"  COALESCE(t.rating_ticket, 0), COALESCE(t.rating_asked, 0)\n"
	"  INTO o_token, o_key, o_email, v_seen, o_ticket, o_rating_ticket, o_rating_asked\n"
	"  FROM visitors v LEFT JOIN threads t ON t.platform = 'webchat' AND t.thread_key = v.thread_key\n"
	"  WHERE v.token = p_token;\n"
	" IF NOT FOUND OR p_now - v_seen > p_ttl THEN\n"
	"  o_token := NULL; o_key := NULL; o_email := NULL; o_ticket := 0; o_rating_ticket := 0;\n"
	"  o_rating_asked := 0; RETURN;\n"
	" END IF;\n"
	" IF p_now - v_seen >= p_seen_every THEN\n"
	"  UPDATE visitors SET last_seen = p_now WHERE token = p_token;\n"
	" END IF;\n"
	" o_rc := 0;\n"
	"END $$;"

	/* store_prune: what retention no longer keeps, in batches; children
	 * before parents (foreign keys).  A conversation goes when it has no
	 * open ticket, was not touched since the cutoff, holds no newer
	 * message and no reply still to deliver. */
	"CREATE FUNCTION fd_prune(p_conversations bigint, p_outbox bigint, p_visitors bigint, p_batch bigint,"
	" OUT o_conversations bigint, OUT o_messages bigint, OUT o_outbox bigint, OUT o_visitors bigint,"
	" OUT o_state bigint, OUT o_contacts bigint, OUT o_more boolean)"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" v_ids bigint[];\n"
	" v_n bigint;\n"
	"BEGIN\n"
	" o_conversations := 0; o_messages := 0; o_outbox := 0; o_visitors := 0; o_state := 0; o_contacts := 0;\n"
	" o_more := false;\n"
	" IF p_conversations IS NOT NULL THEN\n"
	"  SELECT array_agg(id) INTO v_ids FROM (SELECT t.id FROM threads t WHERE t.owner = 'bot'\n"
	"   AND t.updated < p_conversations\n"
	"   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.ts >= p_conversations)\n"
	"   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.thread_id = t.id AND o.state = 'pending')\n"
	"   ORDER BY t.updated LIMIT p_batch + 1 FOR UPDATE SKIP LOCKED) x;\n"
	"  IF COALESCE(array_length(v_ids, 1), 0) > p_batch THEN\n"
	"   o_more := true; v_ids := v_ids[1:p_batch];\n"
	"  END IF;\n"
	"  IF v_ids IS NOT NULL THEN\n"
	"   DELETE FROM ticket_events WHERE ticket_id IN (SELECT id FROM tickets WHERE thread_id = ANY (v_ids));\n"
	"   DELETE FROM tickets WHERE thread_id = ANY (v_ids);\n"
	"   DELETE FROM posts WHERE thread_id = ANY (v_ids);\n"
	"   DELETE FROM outbox WHERE thread_id = ANY (v_ids);\n"
	"   DELETE FROM messages WHERE thread_id = ANY (v_ids);\n"
	"   GET DIAGNOSTICS o_messages = ROW_COUNT;\n"
	"   DELETE FROM visitors WHERE thread_key IN (SELECT thread_key FROM threads\n"
	"    WHERE id = ANY (v_ids) AND platform = 'webchat');\n"
	"   GET DIAGNOSTICS o_visitors = ROW_COUNT;\n"
	"   DELETE FROM threads WHERE id = ANY (v_ids);\n"
	"   GET DIAGNOSTICS o_conversations = ROW_COUNT;\n"
	"  END IF;\n"
	" END IF;\n"
	" IF p_outbox IS NOT NULL THEN\n"
	"  DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state <> 'pending' AND created < p_outbox\n"
	"   ORDER BY created LIMIT p_batch * 10);\n"
	"  GET DIAGNOSTICS o_outbox = ROW_COUNT;\n"
	"  IF o_outbox >= p_batch * 10 THEN o_more := true; END IF;\n"
	" END IF;\n"
	" IF p_visitors IS NOT NULL THEN\n"
	"  DELETE FROM visitors WHERE token IN (SELECT v.token FROM visitors v WHERE v.last_seen < p_visitors\n"
	"   AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.platform = 'webchat' AND t.thread_key = v.thread_key)\n"
	"   ORDER BY v.last_seen LIMIT p_batch * 10);\n"
	"  GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	"  o_visitors := o_visitors + v_n;\n"
	"  IF v_n >= p_batch * 10 THEN o_more := true; END IF;\n"
	" END IF;\n"
	" IF p_conversations IS NOT NULL THEN\n"
	"  DELETE FROM connector_state WHERE (connector, kind, key) IN (SELECT connector, kind, key\n"
	"   FROM connector_state WHERE updated < p_conversations ORDER BY updated LIMIT p_batch * 10);\n"
	"  GET DIAGNOSTICS o_state = ROW_COUNT;\n"
	"  IF o_state >= p_batch * 10 THEN o_more := true; END IF;\n"
	/* A contact none of whose conversations is kept any more. */
	"  DELETE FROM contacts WHERE id IN (SELECT c.id FROM contacts c WHERE c.created < p_conversations\n"
	"   AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.contact_id = c.id) LIMIT p_batch * 10);\n"
	"  GET DIAGNOSTICS o_contacts = ROW_COUNT;\n"
	"  IF o_contacts >= p_batch * 10 THEN o_more := true; END IF;\n"
	" END IF;\n"
	"END $$;"

	/* Search: the words a person typed, each matched as a word or the
	 * beginning of one, all required (NULL when none is left).  Each word
	 * is cut into lexemes as the indexed text was ('simple'), so nothing
	 * typed is query syntax. */
	"CREATE FUNCTION fd_words(p_words text[]) RETURNS tsquery LANGUAGE sql IMMUTABLE AS $$\n"
	" SELECT string_agg('''' || replace(replace(l, '\\', '\\\\'), '''', '''''') || ''':*', ' & ')::tsquery\n"
	" FROM unnest(p_words) w, unnest(tsvector_to_array(fd_text_words(w))) l\n"
	"$$;";

/*
 * Version 10 (SQLite): messages are added to the search index once per
 * group, by the commit, instead of by a trigger per message: FTS5 writes
 * its pending terms out at every statement that changes it, so a trigger
 * made every message a segment of its own (a third of the CPU time of a
 * post).  What the index holds is the rows of its docsize table (one per
 * indexed message), so a message is taken out of the index only if it is
 * in it.
 */
static const char v10_sqlite[] =
	"DROP TRIGGER messages_fts_insert;"
	"DROP TRIGGER messages_fts_delete;"
	"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages"
	" WHEN EXISTS (SELECT 1 FROM messages_fts_docsize WHERE id = old.id) BEGIN"
	" INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END;";

/* clang-format on */

const struct schema_step schema_steps[STORE_SCHEMA_VERSION] = {
    {"conversations, tickets, outbox", v1_common, NULL, NULL},
    {"private tickets, connector state", v2_common, v2_sqlite, NULL},
    {"retention indexes", v3_common, NULL, NULL},
    {"the team's side: labels, read marks, settings, contacts, search", "", v4_sqlite, v4_postgres},
    {"taught examples, unanswered questions", v5_common, NULL, NULL},
    {"satisfaction ratings, insights indexes", v6_common, NULL, NULL},
    {"reply windows", v7_common, NULL, NULL},
    {"the satisfaction question", v8_common, NULL, NULL},
    {"outbox leases", v9_common, NULL, v9_postgres},
    {"search indexed once per group", "", v10_sqlite, NULL},
};

/* The three words of the common dialect, for each backend. */
static const char *const words[][2] = {
    {"@ID", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
    {"@INT", "BIGINT"},
    {"@NOROWID", ""},
};
static const char *const sqlite_words[] = {"INTEGER PRIMARY KEY", "INTEGER", " WITHOUT ROWID"};

char *schema_sql(size_t i, enum schema_dialect d)
{
	const struct schema_step *st = &schema_steps[i];
	const char *extra = d == SCHEMA_SQLITE ? st->sqlite : st->postgres;
	struct buf b;
	buf_init(&b, 0);
	for (const char *p = st->common; *p;) {
		size_t w;
		for (w = 0; w < ARRAY_LEN(words); w++) {
			size_t n = strlen(words[w][0]);
			/* "@INT" must not take the front of a longer word */
			if (strncmp(p, words[w][0], n) == 0 && !(p[n] >= 'A' && p[n] <= 'Z')) {
				buf_puts(&b, d == SCHEMA_SQLITE ? sqlite_words[w] : words[w][1]);
				p += n;
				break;
			}
		}
		if (w == ARRAY_LEN(words))
			buf_putc(&b, *p++);
	}
	if (extra)
		buf_puts(&b, extra);
	return buf_steal(&b);
}

static const char *const threads_cols[] = {
    "id",         "platform",  "thread_key",    "connector",           "is_private",   "author",  "owner",
    "ticket_id",  "claim_seq", "last_ack",      "last_waiting_notice", "last_post_id", "created", "updated",
    "contact_id", "last_in",   "rating_ticket", "rating_asked",        "rating_next",  NULL};
static const char *const messages_cols[] = {"id", "thread_id", "sender", "agent", "text",
                                            "ts", "client_id", "state",  NULL};
static const char *const posts_cols[] = {"id",          "platform",   "post_id",   "connector",
                                         "thread_id",   "message_id", "author_id", "author_handle",
                                         "author_name", "text",       "created",   "received",
                                         "action",      "rule",       "decision",  NULL};
static const char *const tickets_cols[] = {
    "id",       "thread_id", "status",    "priority",      "reason",   "platform",
    "author",   "due",       "created",   "updated",       "assignee", "first_response",
    "resolved", "private",   "recipient", "snoozed_until", "reopened", NULL};
static const char *const events_cols[] = {"id",    "ticket_id",  "ts",     "kind",
                                          "actor", "message_id", "detail", NULL};
static const char *const outbox_cols[] = {
    "id",      "connector", "thread_id",  "thread_key", "reply_to", "private",     "text",        "idem_key",
    "kind",    "sender",    "agent",      "message_id", "guard",    "attempts",    "not_before",  "state",
    "created", "sent",      "last_error", "recipient",  "rating",   "lease_owner", "lease_until", NULL};
static const char *const cursors_cols[] = {"connector", "value", "updated", NULL};
static const char *const visitors_cols[] = {"token", "thread_key", "created", "last_seen", "email", NULL};
static const char *const contacts_cols[] = {"id",     "platform",    "name",    "name_source", "email",
                                            "handle", "external_id", "created", NULL};
static const char *const contact_keys_cols[] = {"platform", "author_id", "contact_id", NULL};
static const char *const labels_cols[] = {"ticket_id", "label", NULL};
static const char *const seen_cols[] = {"ticket_id", "login", "message_id", NULL};
static const char *const team_cols[] = {"kind", "key", "value", "updated", NULL};
static const char *const taught_cols[] = {"id",       "rule",      "text",    "negative",
                                          "by_login", "ticket_id", "created", NULL};
static const char *const ratings_cols[] = {"ticket_id", "score", "comment", "created", NULL};
static const char *const state_cols[] = {"connector", "kind", "key", "thread_key", "value", "updated", NULL};

const struct schema_table schema_tables[] = {
    {"contacts", contacts_cols, 1},     {"contact_keys", contact_keys_cols, 0},
    {"threads", threads_cols, 1},       {"messages", messages_cols, 1},
    {"posts", posts_cols, 1},           {"tickets", tickets_cols, 1},
    {"ticket_events", events_cols, 1},  {"ticket_labels", labels_cols, 0},
    {"ticket_seen", seen_cols, 0},      {"outbox", outbox_cols, 1},
    {"cursors", cursors_cols, 0},       {"visitors", visitors_cols, 0},
    {"connector_state", state_cols, 0}, {"team", team_cols, 0},
    {"taught", taught_cols, 1},         {"ratings", ratings_cols, 0},
};
const size_t schema_ntables = ARRAY_LEN(schema_tables);
