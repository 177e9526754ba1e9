/*
 * store.h - the one durable store: a SQLite file in WAL mode holding posts,
 * conversations, threads, tickets, the outbox, connector cursors and web
 * chat visitors (DESIGN.md, data flow step 3).
 *
 * Group commit: every write goes into the connection's one open transaction
 * (store_begin opens it lazily; nesting is a no-op).  The daemon commits it
 * once per loop iteration, so all posts that arrived together share one
 * fsync; nothing is echoed or sent before store_commit returned 0.  A post
 * is recorded under a savepoint, so one post that fails to store leaves the
 * rest of the batch intact.
 *
 * Durability: synchronous=FULL by default (sync_full = 0 selects NORMAL:
 * a power cut may lose the last commits, a crashed process never does).
 * The WAL is never checkpointed on the writer's thread
 * (wal_autocheckpoint=0): store_wal_pages() says how large it grew and
 * store_checkpoint() runs one checkpoint on its own connection, meant for a
 * worker thread.  Other processes (the `frontdesk queue` CLI) may write at
 * the same time: busy_timeout makes them wait for the daemon's short
 * transactions, and store_external_change() tells the daemon that someone
 * else committed.
 *
 * The schema is versioned with PRAGMA user_version and migrated on open; a
 * file written by a newer frontdesk is refused.
 *
 * Ownership: a struct store owns its connection and prepared statements.
 * Strings copied into caller structs (store_thread.assignee, store_out) are
 * owned by those structs (fixed arrays, or freed by store_out_free).  No
 * function keeps a pointer to its arguments.  A store is used by one thread.
 *
 * Dedupe: (platform, post_id) is unique.  A web chat message's client_id is
 * part of its post id, so a client_id is stored once per thread.
 *
 * Errors: functions returning int give -1 on a SQLite error, after logging
 * it (logfmt, without customer text); the open transaction stays open and
 * is still usable, except when SQLite itself rolled it back (disk full, I/O
 * error): then the following store_commit returns -1 and the whole batch
 * counts as lost, never as committed.
 */
#ifndef FD_STORE_H
#define FD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pipeline.h"
#include "post.h"

#define STORE_SCHEMA_VERSION  1
#define STORE_MAX_KEY         512               /* platform ids, thread keys, client ids */
#define STORE_MAX_NAME        128               /* agent logins and names */
#define STORE_MAX_PARTS       16                /* a reply split into more parts is cut */
#define STORE_VISITOR_TTL     (90L * 24 * 3600) /* an idle web chat visitor expires */
#define STORE_BUSY_TIMEOUT_MS 5000

struct store;

/*
 * Open (creating with mode 0600 if missing) and migrate the store at path.
 * Returns NULL with a one-line reason in err (never customer data).
 */
struct store *store_open(const char *path, int sync_full, char *err, size_t errn);
/* Roll back an open transaction and close.  NULL is fine. */
void store_close(struct store *s);
const char *store_path(const struct store *s);
/* The connection itself, for read-only queries of other modules (queue
 * listing, dashboard, statistics); writes go through the functions below. */
struct sqlite3 *store_db(struct store *s);

/* The group transaction. */
int store_begin(struct store *s); /* opens one unless already open */
int store_in_tx(const struct store *s);
/* Commit.  -1: the commit failed and everything since store_begin was rolled
 * back (logged); the caller must treat every write of the batch as lost. */
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* 1 when another connection committed since the last call (PRAGMA
 * data_version), 0 if not, -1 on error. */
int store_external_change(struct store *s);
/* Pages in the WAL after the last commit of this connection. */
int store_wal_pages(const struct store *s);
/*
 * One passive checkpoint of the file at path on a fresh connection, then
 * close it.  Thread-safe with respect to a store open on the same file in
 * another thread; never blocks writers.  0 or -1 (logged).
 */
int store_checkpoint(const char *path);

/*
 * Durable commits without waiting for the disk on the caller's thread:
 * after store_defer_sync() commits only write the WAL (synchronous=NORMAL),
 * and the caller must make them durable with store_sync_wal() before it
 * acknowledges anything of them.  Together that is the guarantee of
 * synchronous=FULL (the WAL is on disk before a commit is acknowledged),
 * with the fsync moved to a worker thread where one sync covers every
 * commit made while the previous one ran.  0 or -1.
 */
int store_defer_sync(struct store *s);
int store_sync_deferred(const struct store *s);
/*
 * fdatasync the WAL of the database at `path`, and its directory the first
 * time (*dir_synced 0 -> 1), so the WAL file itself survives a power cut.
 * Touches no connection: safe on a worker thread.  0 or -errno.
 */
int store_sync_wal(const char *path, int *dir_synced);

/* --- posts and threads ----------------------------------------------- */

/* What the store knows about a thread (see struct thread_state). */
struct store_thread {
	int64_t id; /* 0: the thread does not exist yet */
	enum thread_owner owner;
	int64_t ticket_id; /* current open ticket, 0 none */
	time_t ticket_due;
	char assignee[STORE_MAX_NAME]; /* agent login of a claimed ticket, "" none */
	time_t last_ack;
	time_t last_waiting_notice;
	int64_t claim_seq; /* bumped on every claim (pre-send check) */
};

/* Look a thread up; a missing one comes back zeroed (id 0).  0 or -1. */
int store_thread_get(struct store *s, const char *platform, const char *thread_key, struct store_thread *t);

/*
 * Is (platform, post_id) stored already?  1 with the stored customer
 * message's id and timestamp (either may be NULL), 0 if not, -1 on error.
 * Sees the writes of the open transaction, so duplicates within one batch
 * are caught too.
 */
int store_post_find(struct store *s, const char *platform, const char *post_id, int64_t *message_id,
                    time_t *ts);

/* One post and its decision, recorded by store_record_post. */
struct store_record {
	const struct post *post;
	const struct decision *decision;
	const char *decision_json; /* decision_json() output */
	const char *const *parts;  /* the reply cut to the platform's limit */
	size_t n_parts;            /* 0 when there is no reply */
	time_t now;
	/* The thread as store_thread_get read it in this transaction (saves
	 * reading it again), or NULL. */
	const struct store_thread *thread;
};

struct store_recorded {
	int64_t post_row;
	int64_t thread_id;
	int64_t message_id; /* the customer's message */
	int64_t ticket_id;  /* opened or appended to, 0 none */
	int64_t outbox[STORE_MAX_PARTS];
	int64_t reply_message[STORE_MAX_PARTS];
	size_t n_outbox;
};

/*
 * In the open transaction (begun if needed), under a savepoint: the post,
 * the thread (created or updated: owner, last acknowledgement, last
 * waiting notice, last post), the customer message, one bot message and one
 * pending outbox row per reply part, and the ticket change the decision asks
 * for (open_ticket: a new waiting ticket; append_ticket: an event on the
 * thread's ticket).  On error everything of this post is rolled back and -1
 * is returned; the rest of the batch is untouched.  A duplicate post is a
 * UNIQUE violation: -1 as well (callers check store_post_find first).
 */
int store_record_post(struct store *s, const struct store_record *r, struct store_recorded *out);

/* --- conversation history ------------------------------------------- */

struct store_msg {
	int64_t id;
	const char *from;  /* "customer", "bot", "agent" */
	const char *agent; /* display name or NULL */
	const char *text;
	time_t ts;
	const char *client_id; /* NULL unless given by a web chat client */
};
/* Borrowed strings: valid during the callback only.  Return nonzero to stop. */
typedef int (*store_msg_fn)(void *ctx, const struct store_msg *m);

/*
 * Every delivered message of a thread in order (customer messages, and bot
 * and agent messages whose delivery completed), at most `limit` of the most
 * recent ones (0 = all).  0 or -1.
 */
int store_history(struct store *s, const char *platform, const char *thread_key, size_t limit,
                  store_msg_fn fn, void *ctx);

/* --- outbox ---------------------------------------------------------- */

enum out_kind { OUT_REPLY = 0, OUT_NOTIFY };

/* One outbox row read for delivery; free with store_out_free. */
struct store_out {
	int64_t id;
	int64_t thread_id;
	int64_t message_id; /* conversation message it delivers, 0 none */
	enum out_kind kind;
	char *connector;
	char *thread_key;
	char *reply_to; /* may be NULL */
	char *text;
	char *idem_key;
	char *sender; /* "bot" or "agent" */
	char *agent;  /* may be NULL */
	int is_private;
	int attempts;
	int64_t not_before_ms; /* epoch ms */
	time_t created;
	int withdrawn; /* a bot reply whose thread an agent claimed since */
};
void store_out_free(struct store_out *o);

/*
 * Read pending row id for delivery, with the pre-send check: `withdrawn` is
 * set for a bot reply whose thread has been claimed by an agent after the
 * reply was decided.  1 found and pending, 0 not pending (sent, failed,
 * cancelled or absent), -1 error.
 */
int store_outbox_get(struct store *s, int64_t id, struct store_out *o);

/* Calls fn for every pending row, oldest first.  0 or -1. */
typedef void (*store_pending_fn)(void *ctx, int64_t id, int64_t thread_id, int64_t not_before_ms,
                                 int attempts);
int store_outbox_pending(struct store *s, store_pending_fn fn, void *ctx);

/* Outcomes (in the open transaction).  Each also updates the delivered
 * message's state and, for sent agent replies, the ticket's first response. */
int store_outbox_sent(struct store *s, int64_t id, time_t now);
int store_outbox_retry(struct store *s, int64_t id, int attempts, int64_t not_before_ms, const char *error);
int store_outbox_failed(struct store *s, int64_t id, int attempts, const char *error);
int store_outbox_cancel(struct store *s, int64_t id, const char *why);

/*
 * A notification row (kind notify, sender bot) in the open transaction:
 * text is the payload the sink renders at send time.  idem_key is unique
 * among notification rows: 0 inserted (*id set), 1 when a row with that key
 * exists already (nothing inserted, *id = that row), -1 error.  Hand the
 * new row to the outbox after the commit with thread 0 (notifications are
 * not ordered behind a thread's replies).
 */
int store_outbox_notify(struct store *s, const char *connector, int64_t thread_id, const char *payload,
                        const char *idem_key, int64_t not_before_ms, time_t now, int64_t *id);

/* Counts of outbox rows by state (any may be NULL).  0 or -1. */
int store_outbox_counts(struct store *s, long *pending, long *sent, long *failed, long *cancelled);

/* --- tickets (the human queue: dashboard and `frontdesk queue`) ----- */

/*
 * Claim ticket id for agent `login`: status claimed, the thread becomes the
 * agent's (pending bot replies of the thread are withdrawn at send time).
 * 0, 1 when the ticket is not open (absent or resolved), -1 error.
 */
int store_ticket_claim(struct store *s, int64_t id, const char *login, time_t now);
/* Back to waiting, no assignee.  0, 1 not claimed/absent, -1. */
int store_ticket_release(struct store *s, int64_t id, const char *actor, time_t now);
/* Resolve: the thread is the bot's again at once (cooldowns reset).
 * 0, 1 already resolved/absent, -1. */
int store_ticket_resolve(struct store *s, int64_t id, const char *actor, time_t now);

/*
 * Note on ticket id that `kind` happened ("due_soon", "missed"): a ticket
 * event with no actor, recorded once per ticket and kind.  0 inserted, 1
 * when the ticket already has one (or does not exist), -1 error.
 */
int store_ticket_mark(struct store *s, int64_t id, const char *kind, const char *detail, time_t now);

/*
 * An agent's reply to ticket id: claims the ticket for `login` if it is not
 * claimed, stores one agent message and one pending outbox row per part
 * (callers cut the text with outbox_split for the thread's platform), logs
 * a ticket event.  The ids of the new outbox rows go to out_ids (room for
 * n_parts; may be NULL).  0, 1 when the ticket is absent or resolved, -1.
 */
int store_agent_reply(struct store *s, int64_t id, const char *login, const char *agent_name,
                      const char *const *parts, size_t n_parts, time_t now, int64_t *out_ids);

/* --- connector cursors and web chat visitors ------------------------- */

/* 1 with the cursor in out (NUL-terminated, cut to n), 0 none, -1. */
int store_cursor_get(struct store *s, const char *connector, char *out, size_t n);
int store_cursor_set(struct store *s, const char *connector, const char *value, time_t now);

/*
 * A web chat visitor: token -> thread key.  store_visitor_find returns 1 and
 * the thread key when the token is known and was seen within
 * STORE_VISITOR_TTL (and marks it seen), 0 when unknown or expired, -1.
 */
int store_visitor_find(struct store *s, const char *token, time_t now, char *thread_key, size_t n);
int store_visitor_add(struct store *s, const char *token, const char *thread_key, time_t now);
int store_visitor_set_email(struct store *s, const char *token, const char *email);

#endif
