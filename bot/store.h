/*
 * store.h - the durable store as a set of operations (docs/store.md):
 * posts and their decisions, conversations, tickets, the outbox,
 * connector cursors and web chat visitors.  Callers never see SQL or a
 * database handle; a backend sits behind these operations (bot/store.c
 * dispatches to the table of bot/store/backend.h, one file a backend:
 * bot/store/sqlite.c, the embedded default, chosen by store.path;
 * bot/store/pg.c, PostgreSQL, chosen by store.url).  No code outside
 * bot/store/ names sqlite3 or libpq (`make lint` refuses it).
 *
 * THE GROUP.  Writes go into the store's one open group (opened on the first
 * write).  store_commit() makes the whole group durable with one call and
 * reports through its callback; nothing of a group may be acknowledged to
 * anyone (a web chat echo, a platform ack, an outbox send) before that
 * callback said 0.  How a group becomes durable is the backend's business:
 * SQLite commits the WAL transaction and, with synchronous full, fdatasyncs
 * the WAL on a worker thread so that the loop never waits for the disk;
 * commits issued while a sync runs share the next one (group commit).  A
 * failed group is lost as a whole (every write in it), never half-kept.
 *
 * TWO KINDS OF OPERATION.
 *  - Asynchronous operations take a callback and its `arg` and return void.
 *    The callback runs exactly once, either before the call returns (SQLite
 *    always does) or later from the event loop (a backend that talks to a
 *    server); callers must work either way: do not use stack state of the
 *    caller in the callback, and do not rely on the order of completions of
 *    different operations except where stated.  rc in a callback: 0 done,
 *    1 "not applicable" where an operation says so (absent, not open, a
 *    duplicate), -1 error (logged by the store, without customer text).
 *    Anything a callback receives by pointer is borrowed for the duration
 *    of the callback only: copy what you keep.  Reads see the writes of the
 *    open group issued before them.
 *  - Group writes return int: 0 queued into the open group, -1 refused at
 *    once (logged).  A write that fails later fails the group's commit.
 *
 * On the event loop only asynchronous operations and group writes are used.
 * Command-line tools (`frontdesk queue`, `migrate`) open a store without a
 * loop: such a store completes every operation before the call returns
 * (blocking if it must), so a tool may collect results on its stack, and
 * store_commit_sync() blocks until the group is durable.
 *
 * Ownership: a struct store owns its connection(s), statements, timers and
 * worker jobs; store_close() releases them (after the loop stopped running
 * its handles).  No operation keeps a pointer to its arguments after it
 * returns.  A store is used by one thread (the loop's).
 *
 * Dedupe: (platform, post_id) is unique; a web chat message's client_id is
 * part of its post id.  Times are epoch seconds unless a name says _ms.
 *
 * Schema: versioned and migrated on open; a store written by a newer
 * frontdesk is refused.
 */
#ifndef FD_STORE_H
#define FD_STORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include "pipeline.h"
#include "post.h"

#define STORE_MAX_KEY         512               /* platform ids, thread keys, client ids */
#define STORE_MAX_NAME        128               /* agent logins and names */
#define STORE_MAX_PARTS       16                /* a reply split into more parts is cut */
#define STORE_VISITOR_TTL     (90L * 24 * 3600) /* an idle web chat visitor expires */
#define STORE_BUSY_TIMEOUT_MS 5000

struct store;
struct uv_loop_s;

/* --- opening and the group ----------------------------------------------- */

struct store_conf {
	const char *path;       /* SQLite file (created 0600 when missing) */
	const char *url;        /* PostgreSQL: a libpq connection URI (chosen over path) */
	int sync_full;          /* 1: durable across power loss; 0: across crashes */
	struct uv_loop_s *loop; /* the daemon's loop; NULL for command-line tools */
	/* Several processes on one database (PostgreSQL): what this one is
	 * called in leases and notifications (default: host name and pid),
	 * and how long an outbox row it took stays its own unless it says
	 * otherwise (default STORE_LEASE_DEFAULT seconds). */
	const char *node;
	int lease_seconds;
	int64_t min_free; /* bytes the store's file system keeps free: below
	                     that, new work is refused (see store_health) */
};
#define STORE_LEASE_DEFAULT 60

/*
 * Open and migrate the store `conf` names.  NULL with a one-line reason in
 * err (never customer data).  With a loop (the daemon), a store it cannot
 * write is refused too: a read-only file or file system, or a write that
 * fails at once (a full disk); command-line tools may open a store they
 * can only read.  With a loop, the store may start uv handles (a worker job
 * for syncs, a maintenance timer); store_stop() closes them.
 */
struct store *store_open(const struct store_conf *conf, char *err, size_t errn);
/* store_open for what a configuration names (store.path, or store.url and
 * its secret, synchronous, lease, node). */
struct config;
struct store *store_open_config(const struct config *cfg, struct uv_loop_s *loop, char *err, size_t errn);
/* Teardown (on the loop, before it ends): finish or abandon background work
 * and close the store's uv handles.  The open group is not committed. */
void store_stop(struct store *s);
/* Drop the open group and close.  NULL is fine.  After store_stop and the
 * loop's last run when the store had a loop. */
void store_close(struct store *s);
/* Where the data is (a path, or the database URL without its password),
 * for log lines. */
const char *store_where(const struct store *s);

/*
 * `frontdesk migrate`: copy every row of the SQLite store at `path` into
 * the PostgreSQL database `url`, which must hold no data yet; both are
 * first brought to the current schema.  The source is read as one
 * snapshot (a daemon may still be running on it: what it writes later is
 * not copied), the target written in one transaction (a failure leaves it
 * empty).  Blocking.  One line per table to `report` (may be NULL).
 * 0, or -1 with a one-line reason in err.
 */
int store_copy(const char *path, const char *url, FILE *report, char *err, size_t errn);
/* The backend's name: "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *s);

typedef void (*store_done_fn)(void *arg, int rc);

/* What the open group holds: 0 nothing, 1 only writes that may wait for
 * the next group (delivery outcomes: lost in a crash they only mean a
 * re-send with the same idempotency key), 2 writes someone waits for. */
int store_dirty(const struct store *s);
/* Groups committed but not yet reported durable (waiting for a sync). */
size_t store_committing(const struct store *s);
/*
 * Commit the open group and call done(arg, rc) once it is durable (0) or
 * lost (-1).  With nothing to commit, done runs with 0 after every group
 * committed earlier was reported.  Groups are reported in commit order.
 */
void store_commit(struct store *s, store_done_fn done, void *arg);
/* Command-line tools and shutdown: commit and wait until durable.  0 or -1. */
int store_commit_sync(struct store *s);
/* Forget the open group (nothing of it is kept). */
void store_rollback(struct store *s);
/*
 * 1 when another process changed the store since the last call (an agent
 * acted with `frontdesk queue`), 0 if not, -1 on error.  Cheap: the daemon
 * asks a few times a second.
 */
int store_external_change(struct store *s);

/* --- health ---------------------------------------------------------------------- */

/*
 * Whether the store takes writes, as the backend last found it (failed
 * writes, commits and syncs; a check now and then of the free space of the
 * file system it lives on).  A store that is not STORE_OK refuses new work
 * (store_takes_work): customers' new messages are turned away with a "try
 * again" until it is OK again, while what is already taken (deliveries,
 * agents' actions) goes on where it can.  The backend tries to recover by
 * itself (a failing store is probed now and then) and says so in the log
 * when the state changes.
 */
enum store_health_state {
	STORE_OK = 0,
	STORE_LOW_SPACE, /* free space below store.min_free: no new work, the rest goes on */
	STORE_FULL,      /* a write failed for want of space */
	STORE_FAILING,   /* a write failed otherwise (I/O error, read-only, corrupt) */
};
struct store_health {
	enum store_health_state state;
	char detail[160];   /* what was seen, for /healthz and the log ("" when OK) */
	uint64_t errors;    /* store errors since open (failed statements, commits, syncs) */
	int64_t free_bytes; /* free space for the store at the last check, -1 unknown */
};
void store_health(const struct store *s, struct store_health *h);
/* "ok", "low_space", "full", "failing" */
const char *store_health_name(enum store_health_state st);
/* 1 when new work (a new customer post) may be taken now: STORE_OK. */
int store_takes_work(const struct store *s);

/* Called with the duration (seconds) of every commit and of every
 * durability sync, for metrics; fn NULL = none. */
enum store_timing { STORE_T_COMMIT = 0, STORE_T_SYNC };
void store_on_timing(struct store *s, void (*fn)(void *arg, enum store_timing t, double seconds), void *arg);

/* --- posts, threads and their decisions --------------------------------------- */

/* What the store knows about a thread (see struct thread_state). */
struct store_thread {
	int64_t id; /* 0: the thread does not exist yet */
	enum thread_owner owner;
	int64_t ticket_id; /* current open ticket, 0 none */
	time_t ticket_due;
	char assignee[STORE_MAX_NAME]; /* agent login of a claimed ticket, "" none */
	time_t last_ack;
	time_t last_waiting_notice;
	int64_t claim_seq;      /* bumped on every claim (pre-send check) */
	char ticket_reason[32]; /* the open ticket's reason, "" none */
	int ticket_private;     /* the open ticket is handled in private (the pipeline's
	                           `private` when it opened it) */
	time_t last_in;         /* the platform's time of the customer's newest message, 0 none:
	                           reply windows count from it */
	/* The satisfaction question (store_rating_ask) pending in the thread. */
	int64_t rating_ticket; /* the resolved ticket the customer was asked to rate, 0 none */
	time_t rating_asked;   /* when */
	int rating_next;       /* nothing came from the customer since: their next message may
	                          be the answer in words */
};

/* What store_lookup found. */
struct store_lookup {
	int duplicate;      /* the post is stored already */
	int64_t message_id; /* duplicate: the stored customer message */
	time_t ts;          /* duplicate: its stored time */
	struct store_thread thread;
};
typedef void (*store_lookup_fn)(void *arg, int rc, const struct store_lookup *l);

/*
 * Before deciding a post: is (platform, post_id) stored already, and what is
 * the state of its thread?  Sees the open group (a duplicate within one
 * group is caught, and so is a thread changed by an earlier post of it).
 * rc 0 (l set) or -1.  Where other writers share the store, the thread may
 * change between this answer and the record: store_record_post says so
 * (rc 2) rather than record a decision taken on a stale thread.
 */
void store_lookup(struct store *s, const char *platform, const char *post_id, const char *thread_key,
                  store_lookup_fn cb, void *arg);

/* The thread of (platform, thread_key) alone: rc 0 (t zeroed when absent) or -1. */
typedef void (*store_thread_fn)(void *arg, int rc, const struct store_thread *t);
void store_thread_get(struct store *s, const char *platform, const char *thread_key, store_thread_fn cb,
                      void *arg);

/* One post and its decision, for store_record_post. */
struct store_record {
	const struct post *post;
	const struct decision *decision;
	const char *decision_json; /* decision_json() output */
	const char *const *parts;  /* the reply cut to the platform's limit */
	size_t n_parts;            /* 0 when there is no reply */
	/* "Take it offline": the short public reply that goes where the post
	 * was, before the reply parts go private (decision.pointer), or NULL. */
	const char *pointer;
	time_t now;
	/* The thread as store_lookup gave it for this post (required). */
	const struct store_thread *thread;
};

enum out_kind { OUT_REPLY = 0, OUT_NOTIFY };

/*
 * One outbox row as written by the commit that created it and as loaded for
 * delivery.  Strings are owned by whoever holds the row: borrowed inside a
 * callback, owned after store_out_copy (free with store_out_free).
 */
struct store_out {
	int64_t id;
	int64_t thread_id;  /* 0 for notifications (not ordered behind replies) */
	int64_t message_id; /* conversation message it delivers, 0 none */
	enum out_kind kind;
	char *connector;
	char *thread_key;
	char *reply_to; /* may be NULL */
	char *text;
	char *idem_key;
	char *sender;    /* "bot" or "agent" */
	char *agent;     /* may be NULL */
	int is_private;  /* deliver in private: a DM with `recipient` where the platform
	                    has DMs apart from the conversation (the pipeline decided it) */
	char *recipient; /* the customer's platform id (the post's author), or NULL */
	int attempts;
	int64_t not_before_ms; /* epoch ms */
	time_t created;
	int64_t guard;  /* bot replies: the thread's claim_seq when decided, -1 none */
	time_t last_in; /* the thread's last_in when the row was written or read, 0 none */
	int64_t rating; /* the message asks the customer to rate this ticket (store_rating_ask), 0 none */
};
void store_out_copy(struct store_out *dst, const struct store_out *src);
void store_out_free(struct store_out *o);

struct store_recorded {
	int64_t post_row;
	int64_t thread_id;
	int64_t message_id; /* the customer's message */
	int64_t ticket_id;  /* opened or appended to, 0 none */
	int64_t reply_message[STORE_MAX_PARTS + 1];
	const struct store_out *rows; /* the new outbox rows, n_outbox of them (the pointer first) */
	size_t n_outbox;
};
typedef void (*store_recorded_fn)(void *arg, int rc, const struct store_recorded *r);

/*
 * Record a decided post in the open group: the post (its id is the dedupe
 * key), the thread (created or updated: owner, last acknowledgement, last
 * waiting notice, last post), the customer message, one bot message and one
 * pending outbox row per reply part (private as the decision says, after a
 * public row for the pointer when there is one), and the ticket change the
 * decision asks for (open_ticket: a new waiting ticket, private as the
 * decision, with the post's author as the recipient of later replies;
 * append_ticket: an event on the thread's ticket; take_over, a person of
 * the business writing on the platform: their message is stored as an
 * agent's, named by the post's author, and the thread's ticket becomes
 * theirs, claimed, or one is opened for them).  The thread's last_in
 * moves to the post's created time when that is later (a customer's post
 * only).  rc 0 with what was written (the outbox rows in full,
 * so delivery never reads them back), 1 when the post is stored already
 * (by another writer first, or earlier in this group: the loser drops its
 * copy, nothing of it was written and the group goes on), 2 when the
 * thread is no longer as r->thread says (another post of it, or another
 * process, changed it since the lookup: nothing was written; look the post
 * up again and decide anew), -1 when the post could not be recorded: a bad
 * key (too long, missing) is refused before anything is written and the
 * group is untouched; a storage error fails the whole group (store_commit
 * reports -1).
 */
void store_record_post(struct store *s, const struct store_record *r, store_recorded_fn cb, void *arg);

/* --- conversation history -------------------------------------------------- */

struct store_msg {
	int64_t id;
	const char *from;  /* "customer", "bot", "agent" */
	const char *agent; /* display name or NULL */
	const char *text;
	time_t ts;
	const char *client_id; /* NULL unless given by a web chat client */
	const char *state;     /* "sent", "pending" (being delivered), "failed" */
};
typedef void (*store_msgs_fn)(void *arg, int rc, const struct store_msg *v, size_t n);

/*
 * The delivered messages of a thread in order (customer messages, and bot
 * and agent messages whose delivery completed): the `limit` most recent ones
 * (0 = all) older than message `before` (0: the most recent of all), so a
 * long conversation is read a page at a time.  rc 0 or -1.
 */
void store_history(struct store *s, const char *platform, const char *thread_key, int64_t before,
                   size_t limit, store_msgs_fn cb, void *arg);

/* --- outbox ------------------------------------------------------------------ */

typedef void (*store_rows_fn)(void *arg, int rc, const struct store_out *v, size_t n);

/* Every pending row, oldest first (start-up, and after another process
 * wrote).  rc 0 or -1. */
void store_outbox_pending(struct store *s, store_rows_fn cb, void *arg);

/*
 * The pre-send check and lease of row `o` (as the commit or
 * store_outbox_pending gave it), right before it is handed to its
 * connector.  rc 0: send it (this process holds its lease); 1: do not (no
 * longer pending, or a bot reply whose thread an agent claimed since it was
 * decided: the store cancelled it in the open group); 2: another process
 * holds its lease and sends it (forget the row: if that process dies, the
 * lease expires and store_outbox_pending hands it out again); -1 error
 * (try later).
 *
 * Leases: where several processes share the store, a row is sent by the
 * one that holds its lease.  Rows a process writes are leased to it as they
 * are written; store_outbox_pending leases what it hands out (rows no live
 * lease holds, FOR UPDATE SKIP LOCKED); a lease ends with the row's
 * outcome, with store_outbox_release, or after the lease time.  A store
 * with one process (SQLite) has no leases and never answers 2.
 */
void store_outbox_claim(struct store *s, const struct store_out *o, store_done_fn cb, void *arg);

/* Outcomes, as group writes.  sent also marks the delivered message sent
 * and, for an agent's reply, the ticket's first response. */
int store_outbox_sent(struct store *s, int64_t id, time_t now);
int store_outbox_retry(struct store *s, int64_t id, int attempts, int64_t not_before_ms, const char *error);
int store_outbox_failed(struct store *s, int64_t id, int attempts, const char *error);
int store_outbox_cancel(struct store *s, int64_t id, const char *why);
/* Give up the lease of row id without an outcome (this process cannot send
 * it: its connector runs elsewhere); another process takes it.  A group
 * write. */
int store_outbox_release(struct store *s, int64_t id);

/*
 * A notification row (kind notify, sender bot): text is the payload the sink
 * renders at send time.  idem_key is unique among notification rows.  rc 0
 * with the new row, 1 when a row with that key exists (row: that one, as
 * stored), -1 error.
 */
typedef void (*store_row_fn)(void *arg, int rc, const struct store_out *row);
void store_outbox_notify(struct store *s, const char *connector, const char *payload, const char *idem_key,
                         int64_t not_before_ms, time_t now, store_row_fn cb, void *arg);

/* --- tickets: the one read model (dashboard, `frontdesk queue`, notifications,
 *     response-target timers) ---------------------------------------------- */

enum store_ticket_filter {
	TICKETS_OPEN = 0, /* waiting + claimed */
	TICKETS_WAITING,
	TICKETS_CLAIMED,
	TICKETS_RESOLVED, /* most recently resolved first */
	TICKETS_ALL
};

/* A message a ticket view quotes. */
struct store_quote {
	int64_t id; /* 0: none */
	const char *text;
	time_t ts;
};

struct store_ticket {
	int64_t id;
	const char *status;   /* "waiting", "claimed", "resolved" */
	const char *priority; /* "urgent" ... "low" */
	const char *reason;   /* NULL or "rule", "unmatched" ... */
	const char *platform;
	const char *author;
	const char *assignee; /* NULL unless claimed (or resolved by someone) */
	time_t due, created, updated, first_response, resolved; /* 0 = none */
	int64_t thread_id;
	const char *connector;
	const char *thread_key;
	int is_private;
	/* The customer's message that caused the escalation, and the latest
	 * customer message of the ticket (the same one until the customer
	 * writes again).  Both stop at the ticket's resolution. */
	struct store_quote opening, latest;
	int64_t last_message_id; /* newest message of the ticket, any sender */
	long sending;            /* agent messages still being delivered */
	int warned, missed;      /* due_soon / missed marks recorded */
	const char *email;       /* the address the customer left for a follow-up
	                            (web chat), NULL none */
	/* The team's side (store_ticket_note and the operations after it). */
	time_t snoozed_until;      /* out of the queue until then (0: not snoozed) */
	const char *const *labels; /* the ticket's labels, sorted; n_labels of them */
	size_t n_labels;
	int64_t last_event_id;      /* newest event of the ticket (a note, a label...) */
	int64_t seen;               /* query.viewer's read mark: the newest message id they
	                               saw (0: never opened it, or no viewer asked) */
	time_t reopened;            /* when it was last reopened (0: never) */
	int64_t contact_id;         /* the customer's contact (0: none yet) */
	const char *contact_name;   /* its name when one is known, else NULL */
	time_t last_in;             /* the platform's time of the customer's newest message in the
	                               thread, 0 none (reply windows: connector_reply_allowed) */
	int rating;                 /* the customer's satisfaction rating, 1..5, 0 none */
	const char *rating_comment; /* what they said with it, or NULL */
};
typedef void (*store_tickets_fn)(void *arg, int rc, const struct store_ticket *v, size_t n);
/* A ticket from a callback is borrowed; a copy is the caller's (its strings
 * are freed with store_ticket_free). */
void store_ticket_copy(struct store_ticket *dst, const struct store_ticket *src);
void store_ticket_free(struct store_ticket *t);

struct store_ticket_query {
	enum store_ticket_filter filter;
	int64_t id;          /* > 0: only this ticket (filter ignored) */
	time_t active_since; /* > 0: open tickets plus those created or resolved since */
	size_t limit;        /* 0 = no limit */
	const char *viewer;  /* an agent's login: each ticket's `seen` is theirs */
};

/* Tickets ordered by due time (none last), then priority, then age
 * (TICKETS_RESOLVED: newest resolution first).  rc 0 or -1. */
void store_tickets(struct store *s, const struct store_ticket_query *q, store_tickets_fn cb, void *arg);

/*
 * The conversation of a ticket: messages of its thread up to the ticket's
 * resolution (later messages belong to the next conversation), sent,
 * pending and failed ones, the `limit` most recent (0 = all), in order.
 * rc 0, 1 no such ticket, -1.
 */
void store_ticket_messages(struct store *s, int64_t id, size_t limit, store_msgs_fn cb, void *arg);

struct store_event {
	const char *kind; /* opened, message, claimed, released, resolved, reply, due_soon, missed */
	const char *actor;
	time_t ts;
	int64_t message_id; /* 0 none */
	const char *detail;
};
typedef void (*store_events_fn)(void *arg, int rc, const struct store_event *v, size_t n);
/* The `limit` most recent events of ticket id, in order.  rc 0 or -1. */
void store_ticket_events(struct store *s, int64_t id, size_t limit, store_events_fn cb, void *arg);

/*
 * A number that changes whenever anything a queue view shows may have
 * changed (a ticket, a message, a delivery, an open ticket passing its due
 * time at `now`).  Cheap whatever the queue's length.  rc 0 or -1.
 */
typedef void (*store_u64_fn)(void *arg, int rc, uint64_t v);
void store_queue_version(struct store *s, time_t now, store_u64_fn cb, void *arg);

/*
 * Queue actions (dashboard, `frontdesk queue`): in the open group; rc 0
 * done, 1 when the ticket is absent or not in a state the action applies to,
 * -1 error.
 * claim: status claimed for `login`, the thread becomes the agent's
 *   (pending bot replies of the thread are withdrawn at their claim).
 * release: back to waiting (only a claimed ticket).
 * resolve: the thread is the bot's again at once (cooldowns reset).
 */
void store_ticket_claim(struct store *s, int64_t id, const char *login, time_t now, store_done_fn cb,
                        void *arg);
void store_ticket_release(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
                          void *arg);
void store_ticket_resolve(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
                          void *arg);
/*
 * Note on ticket id that `kind` happened ("due_soon", "missed"): recorded
 * once per ticket and kind.  rc 0 recorded, 1 already there or no such
 * ticket, -1.
 */
void store_ticket_mark(struct store *s, int64_t id, const char *kind, const char *detail, time_t now,
                       store_done_fn cb, void *arg);
/*
 * Note on the ticket of agent message `message_id` (one an agent's reply
 * wrote) that `kind` happened to it, with `detail` ("emailed", the address
 * it was also sent to).  Group write: 0, or -1; no such message is 0 with
 * nothing written.
 */
int store_reply_note(struct store *s, int64_t message_id, const char *kind, const char *detail, time_t now);

/*
 * An agent's reply to ticket id: claims the ticket for `login` if it is not
 * theirs, stores one agent message and one pending outbox row per part
 * (callers cut the text with outbox_split for the thread's platform;
 * private when the thread or the ticket is, addressed to the ticket's
 * customer) and a ticket event.  rc 0 with the new rows, 1 when the ticket is absent or
 * resolved, -1.
 */
void store_agent_reply(struct store *s, int64_t id, const char *login, const char *agent_name,
                       const char *const *parts, size_t n_parts, time_t now, store_rows_fn cb, void *arg);

/* --- metrics queries ---------------------------------------------------------- */

struct store_outbox_counts {
	long pending, sent, failed, cancelled;
};
typedef void (*store_counts_fn)(void *arg, int rc, const struct store_outbox_counts *c);
void store_outbox_counts(struct store *s, store_counts_fn cb, void *arg);

/* --- connector cursors and web chat visitors ------------------------------------ */

/* rc 0 with the value, 1 none, -1.  value is borrowed. */
typedef void (*store_text_fn)(void *arg, int rc, const char *value);
void store_cursor_get(struct store *s, const char *name, store_text_fn cb, void *arg);
int store_cursor_set(struct store *s, const char *name, const char *value, time_t now);

/*
 * Connector-private state: what a connector must remember across restarts
 * besides its cursor, one row per (connector, kind, key): the thread a
 * platform message belongs to, the DM channel opened with a customer, a
 * resumable session.  `kind` names the connector's own table of such
 * facts ("status", "dm", "session"), `key` the platform's id,
 * `thread_key` the conversation it belongs to (or NULL), `value` the rest
 * (the connector's own small text, JSON for several fields).  Keys, kinds
 * and thread keys are at most STORE_MAX_KEY bytes, values STORE_MAX_STATE.
 */
#define STORE_MAX_STATE 4096

struct store_state {
	const char *thread_key; /* NULL when none was stored */
	const char *value;
	time_t updated;
};
/* rc 0 with the row (borrowed), 1 none, -1. */
typedef void (*store_state_fn)(void *arg, int rc, const struct store_state *st);
void store_state_get(struct store *s, const char *connector, const char *kind, const char *key,
                     store_state_fn cb, void *arg);
/* Insert or replace, as a group write (durable with the group). */
int store_state_put(struct store *s, const char *connector, const char *kind, const char *key,
                    const char *thread_key, const char *value, time_t now);
int store_state_delete(struct store *s, const char *connector, const char *kind, const char *key);
/* Forget a connector's rows of `kind` not updated since `before` (group write). */
int store_state_prune(struct store *s, const char *connector, const char *kind, time_t before);

/*
 * A web chat visitor: token -> thread key, and the e-mail address the
 * visitor left, if any.  A visitor is stored with its first message (or
 * e-mail address), never for a mere connection, so connections that say
 * nothing leave nothing behind.
 * store_visitor_find: rc 0 with the visitor when the token is known and
 * was seen within STORE_VISITOR_TTL (and marks it seen, a group write, at
 * most once every STORE_VISITOR_SEEN seconds), 1 unknown or expired, -1.
 * store_visitor_of_thread: rc 0 with the visitor of a web chat thread, 1
 * none, -1 (the token and address, to write to a visitor who is away).
 * store_visitor_add: the visitor (group write; again is harmless: it marks
 * the visitor seen).  store_visitor_set_email: the visitor with its e-mail
 * address (group write; adds the visitor when new).
 */
#define STORE_VISITOR_SEEN 3600
struct store_visitor {
	const char *token;
	const char *thread_key;
	const char *email;     /* NULL none */
	int ticket_open;       /* the conversation is with a person (an open ticket) */
	int64_t rating_ticket; /* the satisfaction question pending: the ticket to rate, 0 none */
	time_t rating_asked;   /* when it was asked */
};
typedef void (*store_visitor_fn)(void *arg, int rc, const struct store_visitor *v);
void store_visitor_find(struct store *s, const char *token, time_t now, store_visitor_fn cb, void *arg);
void store_visitor_of_thread(struct store *s, const char *thread_key, store_visitor_fn cb, void *arg);
int store_visitor_add(struct store *s, const char *token, const char *thread_key, time_t now);
int store_visitor_set_email(struct store *s, const char *token, const char *thread_key, const char *email,
                            time_t now);

/* --- leadership ------------------------------------------------------------------- */

/*
 * "May this run here?" for what must run in one process at a time among
 * all that share the store (a connector whose platform allows one consumer
 * per account: a Telegram poller, one Mastodon stream per token, a Discord
 * gateway session, a Slack socket).  store_leader_watch calls cb(arg, 1)
 * once this process leads `name` and cb(arg, 0) when it stops leading it
 * (its database connection was lost: whoever leads next may already have
 * started), each time that changes, now or later, from the loop.  A process
 * that does not lead keeps trying; when the leader dies, another takes over
 * within seconds.  A store with one process (SQLite) leads at once and
 * always.  Returns a handle for store_leader_cancel (which gives the lead
 * up and calls cb no more), or NULL when name is empty or longer than
 * STORE_MAX_KEY.
 */
struct store_leader;
typedef void (*store_leader_fn)(void *arg, int leader);
struct store_leader *store_leader_watch(struct store *s, const char *name, store_leader_fn cb, void *arg);
void store_leader_cancel(struct store_leader *l);

/* --- retention ------------------------------------------------------------------- */

/* How long what is done is kept (store.retention), in seconds; 0 keeps it
 * for ever. */
struct store_retention {
	long conversations; /* a conversation with no open ticket and no pending
	                       reply, untouched this long: everything in it
	                       (messages, posts, tickets and their history,
	                       outbox rows, its web chat visitor) */
	long outbox;        /* delivered, failed and cancelled outbox rows (replies
	                       and notifications): the conversation keeps the text */
	long visitors;      /* web chat visitors who never wrote (an e-mail address
	                       left, and nothing else), unseen this long */
	                    /* (A connector's own facts, store_state_put, go when untouched for as
	                     * long as `conversations`.) */
};

struct store_pruned {
	long conversations, messages, outbox, visitors; /* rows deleted */
	long state;    /* connector_state rows untouched for as long as conversations are kept */
	long contacts; /* contacts none of whose conversations is kept any more */
	int more;      /* a kind had more than the batch: call again soon */
};
typedef void (*store_pruned_fn)(void *arg, int rc, const struct store_pruned *p);

/*
 * Delete, in the open group, what the retention rules no longer keep at
 * `now`: at most `batch` conversations, `batch` * 10 outbox rows and
 * `batch` * 10 visitors, so that one call stays short (the loop is not held
 * for long; call again while `more`).  rc 0 with the counts, or -1 (a
 * failed write fails the group).
 */
void store_prune(struct store *s, const struct store_retention *r, time_t now, size_t batch,
                 store_pruned_fn cb, void *arg);
/* --- the team's side of a ticket: notes, labels, priority, reopen, snooze,
 *     read marks ------------------------------------------------------------ */

#define STORE_MAX_NOTE  (16u * 1024u) /* bytes of one private note */
#define STORE_MAX_LABEL 64            /* bytes of a label's name */

/*
 * Each action below writes in the open group and answers rc 0 done, 1 when
 * the ticket is absent or the action does not apply (said for each), -1
 * error (a failed write fails the group).  Each records a ticket event,
 * so the queue's version moves and every dashboard sees the change.
 *
 * note: a private note by agent `login` (event "note", its text the
 *   detail): seen by agents only, never sent, never in a customer's history.
 *   Any ticket, resolved ones too.  Text of 1..STORE_MAX_NOTE bytes.
 * label: put label on the ticket (on 1) or take it off (on 0): event
 *   "labeled" / "unlabeled" with the label as detail; rc 1 when it already
 *   is / is not there.  Labels are 1..STORE_MAX_LABEL bytes.
 * priority: a new priority and due time (the caller counts the due time in
 *   business time from the ticket's creation); event "priority" with the new
 *   priority as detail.  Open tickets only; rc 1 when it is the same.
 *   The "due soon" and "missed" marks recorded before no longer count.
 * reopen: a resolved ticket waits for a person again, unclaimed, due at
 *   `due`; its thread is the team's again (the bot answers it no more).
 *   rc 1 when the ticket is not resolved, or its thread has moved on to
 *   another ticket since (a newer one exists: reopen that one).
 * snooze: an open ticket leaves the queue until `until` (0: back now);
 *   events "snoozed" (detail: the time, ISO-8601) / "woken".  A message from
 *   the customer wakes it (store_record_post).  rc 1 for a resolved ticket.
 */
void store_ticket_note(struct store *s, int64_t id, const char *login, const char *text, time_t now,
                       store_done_fn cb, void *arg);
void store_ticket_label(struct store *s, int64_t id, const char *label, int on, const char *actor, time_t now,
                        store_done_fn cb, void *arg);
void store_ticket_priority(struct store *s, int64_t id, const char *priority, time_t due, const char *actor,
                           time_t now, store_done_fn cb, void *arg);
void store_ticket_reopen(struct store *s, int64_t id, time_t due, const char *actor, time_t now,
                         store_done_fn cb, void *arg);
void store_ticket_snooze(struct store *s, int64_t id, time_t until, const char *actor, time_t now,
                         store_done_fn cb, void *arg);
/*
 * Agent `login` has read ticket id up to message `message_id` (a read mark
 * only moves forward).  A group write that may wait for the next group
 * (store_dirty 1): 0, or -1.
 */
int store_ticket_seen(struct store *s, int64_t id, const char *login, int64_t message_id);

/* How many tickets each queue tab holds (snoozed ones apart). */
struct store_ticket_counts {
	long open;    /* waiting + claimed, not snoozed */
	long waiting; /* unclaimed, not snoozed */
	long mine;    /* claimed by `login`, not snoozed */
	long snoozed; /* open and snoozed */
	long overdue; /* open, not snoozed, past due */
};
typedef void (*store_ticket_counts_fn)(void *arg, int rc, const struct store_ticket_counts *c);
void store_ticket_counts(struct store *s, const char *login, time_t now, store_ticket_counts_fn cb,
                         void *arg);

/* --- search -------------------------------------------------------------------- */

/*
 * Tickets whose conversation (what store_ticket_messages shows: the
 * thread's messages up to the ticket's resolution), private notes or
 * customer contact (name, e-mail, handle) hold every word of `text`, and
 * that pass every filter given; newest first, at most `limit` (0:
 * STORE_SEARCH_MAX).  Words match whole words or their beginnings, case and
 * accents folded (a full-text index: no scan of the conversations); text
 * NULL or empty: the filters alone.  Answers with the ticket read model.
 * rc 0 or -1.
 */
#define STORE_SEARCH_MAX   200
#define STORE_SEARCH_WORDS 16 /* words of `text` used; the rest are ignored */
struct store_search {
	const char *text;
	enum store_ticket_filter status; /* TICKETS_ALL: any */
	const char *priority;            /* NULL: any */
	const char *platform;            /* the channel: "webchat", "mastodon" ...; NULL: any */
	const char *assignee;            /* a login, "" for unassigned; NULL: any */
	const char *label;               /* NULL: any */
	time_t since, until;             /* created in [since, until); 0: open-ended */
	size_t limit;
	const char *viewer; /* as store_ticket_query.viewer */
};
void store_search(struct store *s, const struct store_search *q, store_tickets_fn cb, void *arg);

/* --- contacts: who the customers are ---------------------------------------------- */

/*
 * A contact is one customer, however many conversations and channels they
 * write from.  Every thread belongs to the contact of its first post's
 * author: store_record_post files (platform, author_id) under a contact,
 * creating it from the post's handle and name the first time, so a
 * connector that fills post.author_* gets contacts without doing anything
 * else.  What a connector learns besides (an e-mail address, a name given
 * in a form, an identity the business's own site vouches for) it tells with
 * store_contact_update (connectors: connector_contact()).
 *
 * One person, one contact: an `external_id` (the business's own customer id,
 * given by its site with a valid signature) is unique, and a second author
 * key that proves the same external_id joins the first's contact, with its
 * threads.  Names have a source, and a weaker one never overwrites a
 * stronger: an agent's edit, then a verified identity, then what the
 * customer typed or the platform shows.
 */
#define STORE_MAX_CONTACT 256 /* bytes of a name, e-mail address or handle */

enum store_name_source { NAME_PLATFORM = 0, NAME_VISITOR, NAME_VERIFIED, NAME_AGENT };

struct store_contact {
	int64_t id;
	const char *name;        /* NULL: unknown */
	const char *email;       /* NULL: unknown */
	const char *handle;      /* what the platform calls them ("@ann@example.social"), or NULL */
	const char *platform;    /* where they first wrote */
	const char *external_id; /* the verified id from the business's site, or NULL */
	enum store_name_source name_source;
	time_t first_seen, last_seen;
	long conversations; /* tickets, on every channel */
};
typedef void (*store_contact_fn)(void *arg, int rc, const struct store_contact *c);
typedef void (*store_contacts_fn)(void *arg, int rc, const struct store_contact *v, size_t n);

/* What a connector knows of an author (store_contact_update). */
struct store_contact_info {
	const char *platform, *author_id; /* the author's key (required) */
	const char *handle;               /* NULL: unchanged */
	const char *name;                 /* NULL: unchanged; written unless a stronger source set it */
	enum store_name_source
	    name_source;         /* NAME_PLATFORM or NAME_VISITOR (NAME_VERIFIED with external_id) */
	const char *email;       /* NULL: unchanged */
	const char *external_id; /* verified by the caller (identity.h), or NULL */
};
/*
 * File what `ci` says about its author, as a group write: the contact is
 * created when the author has none; with an external_id the author joins
 * the contact that already has it (or the author's contact takes it).
 * Strings over STORE_MAX_CONTACT bytes are refused.  0, 1 when the author's
 * contact already has another external_id (it stays as it is: a conversation
 * is not handed from one signed-in customer to another), or -1.  A backend
 * that answers later (PostgreSQL) returns 0 for a write it queued and logs
 * the 1 when its answer comes.
 */
int store_contact_update(struct store *s, const struct store_contact_info *ci, time_t now);

/* One contact: rc 0, 1 no such contact, -1. */
void store_contact_get(struct store *s, int64_t id, store_contact_fn cb, void *arg);
/* The tickets of contact id (every channel), newest first, at most limit: rc 0, -1. */
void store_contact_tickets(struct store *s, int64_t id, size_t limit, const char *viewer, store_tickets_fn cb,
                           void *arg);
/* An agent names contact id (1..STORE_MAX_CONTACT bytes): source NAME_AGENT from
 * then on.  rc 0, 1 no such contact, -1. */
void store_contact_rename(struct store *s, int64_t id, const char *name, store_done_fn cb, void *arg);
/* Contacts whose name, e-mail address or handle hold every word of text
 * (as store_search), most recently seen first, at most limit: rc 0, -1. */
void store_contact_search(struct store *s, const char *text, size_t limit, store_contacts_fn cb, void *arg);

/* --- the team's own settings ------------------------------------------------------- */

/*
 * What the team sets from the dashboard, by kind: "agent" (key: the login,
 * case-insensitive; value: JSON with name, role, password_hash and
 * replaces), "label" (key: the label; value: its colour) and "canned" (key:
 * a canned reply's title; value: its text).  handoff/team.h says what they
 * mean and how they meet the configuration's own.  Kinds and keys are at
 * most STORE_MAX_KEY bytes, values STORE_MAX_STATE.
 */
struct store_team_item {
	const char *key;
	const char *value;
	time_t updated;
};
typedef void (*store_team_fn)(void *arg, int rc, const struct store_team_item *v, size_t n);
/* Every item of `kind`, by key: rc 0, -1. */
void store_team_list(struct store *s, const char *kind, store_team_fn cb, void *arg);
/* Insert or replace (group write): 0, -1. */
int store_team_put(struct store *s, const char *kind, const char *key, const char *value, time_t now);
/* Delete (group write; a "label" is taken off every ticket too): 0, -1. */
int store_team_delete(struct store *s, const char *kind, const char *key);

/* --- what the team taught the bot ------------------------------------------------- */

/*
 * Taught examples (issue "learning from the team"): a customer's question an
 * agent recorded as an example (or, `negative`, a not_example) of a rule,
 * from the dashboard or `frontdesk queue teach`.  They are kept until
 * removed (retention does not touch them: they are part of the rules now)
 * and learned with the rule files' examples at every load (rules.h:
 * rules_load_ex).  Texts are at most STORE_MAX_TAUGHT_TEXT bytes; a store
 * keeps at most STORE_MAX_TAUGHT of them.
 */
#define STORE_MAX_TAUGHT_TEXT 1000
#define STORE_MAX_TAUGHT      20000

struct store_taught {
	int64_t id;
	const char *rule; /* the rule's id */
	const char *text;
	int negative;      /* a not_example */
	const char *by;    /* the agent's login, NULL when unknown */
	int64_t ticket_id; /* the ticket it was taught from, 0 none */
	time_t created;
};
typedef void (*store_taught_fn)(void *arg, int rc, const struct store_taught *v, size_t n);
/* Every taught example, oldest first.  rc 0 or -1. */
void store_taught_list(struct store *s, store_taught_fn cb, void *arg);
/*
 * Record t (its id and created are ignored; now is used) in the open group,
 * with a "taught" event on its ticket when it has one.  rc 0 with the new
 * row, 1 when the rule already has this text the same way (the row kept),
 * 2 when the store holds STORE_MAX_TAUGHT already, -1 error or invalid
 * (empty or too long a text or rule id).
 */
void store_teach(struct store *s, const struct store_taught *t, time_t now, store_taught_fn cb, void *arg);
/* Forget taught example id, in the open group.  rc 0, 1 no such example, -1. */
void store_untaught(struct store *s, int64_t id, store_done_fn cb, void *arg);

/*
 * The customers' questions the bot could not answer (decided "unmatched":
 * handed to a person for want of a rule), received since `since`, newest
 * first, at most `limit` (0: STORE_MAX_QUESTIONS); questions whose text was
 * taught since are left out.  For grouping (the insights page).  rc 0 or -1.
 */
#define STORE_MAX_QUESTIONS 5000
struct store_question {
	int64_t post_id;
	int64_t ticket_id; /* the ticket it opened or joined, 0 none */
	const char *platform;
	const char *text;
	time_t created;
};
typedef void (*store_questions_fn)(void *arg, int rc, const struct store_question *v, size_t n);
void store_unanswered(struct store *s, time_t since, size_t limit, store_questions_fn cb, void *arg);

/* --- satisfaction and the figures of the insights page ------------------------------ */

/*
 * A customer's satisfaction rating of ticket id (score RATING_MIN..MAX, 1..5;
 * comment NULL or at most STORE_MAX_TAUGHT_TEXT bytes), as a group write:
 * a later answer replaces an earlier one.  0, or -1 (invalid, or refused).
 */
int store_rating_put(struct store *s, int64_t ticket_id, int score, const char *comment, time_t now);

/*
 * The satisfaction question after a person resolved ticket id: one bot
 * message (pending) and one outbox row per part of the question (marked
 * with the ticket: store_out.rating), a "rating_asked" event, and the thread
 * remembers the question (store_thread.rating_*: the customer's next
 * message may be the answer, read by the pipeline).  rc 0 with the new
 * rows, 1 when the ticket is not resolved, is not its thread's newest, or
 * the thread is with a person again; -1.
 */
void store_rating_ask(struct store *s, int64_t id, const char *const *parts, size_t n_parts, time_t now,
                      store_rows_fn cb, void *arg);
/*
 * The customer of (platform, thread_key) answers the question pending
 * there (the web chat's buttons): the rating of that ticket (`ticket`, or
 * 0 for whichever is pending), with a "rated" event; the question is
 * answered then.  rc 0, 1 when no question is pending (none was asked, it
 * was answered, it is for another ticket, or it was asked before
 * asked_since), -1.  A rating from the customer's words is kept by
 * store_record_post (decision rating).  score and comment as store_rating_put.
 */
void store_rating_answer(struct store *s, const char *platform, const char *thread_key, int64_t ticket,
                         int score, const char *comment, time_t asked_since, time_t now, store_done_fn cb,
                         void *arg);

/* Posts of one period and channel, counted by the store. */
struct store_report_posts {
	time_t start;        /* the period's first second */
	const char *channel; /* the platform */
	long posts;          /* decided (not ignored) customer posts */
	long answered, acknowledged, escalated;
	long handled; /* answered or acknowledged, and no ticket for the conversation
	                 within a day after: the bot handled it without a person */
};
/* A ticket opened in the window, for the figures computed from them. */
struct store_report_ticket {
	int64_t id;
	const char *channel;
	const char *reason;                            /* NULL: a rule's escalation */
	time_t created, due, first_response, resolved; /* 0 none */
	int rating;                                    /* the customer's, 0 none */
};
/* Posts of one hour (UTC), for the busiest hours. */
struct store_report_hour {
	time_t start; /* the hour's first second */
	long posts;   /* as store_report_posts.posts */
};
struct store_report {
	const struct store_report_posts *posts; /* by start, then channel */
	size_t nposts;
	const struct store_report_hour *hours; /* by start; hours without posts left out */
	size_t nhours;
	const struct store_report_ticket *tickets; /* by creation */
	size_t ntickets;
};
typedef void (*store_report_fn)(void *arg, int rc, const struct store_report *r);
/*
 * What the insights page and `frontdesk report` count, for posts received
 * and tickets opened in [since, until): posts per period of `period`
 * seconds (a day, a week) starting at `origin` (a local midnight, or a
 * Monday's), per channel; the posts per hour; the tickets one by one.
 * Posts are customers' messages decided (not ignored), without the answers
 * to the satisfaction question.  rc 0 or -1.
 */
void store_report(struct store *s, time_t since, time_t until, time_t origin, long period, store_report_fn cb,
                  void *arg);

#endif
