/*
 * store/backend.h - what a store backend implements: one table of
 * operations (struct store_backend), as OpenSMTPD's queue_backend.c sits in
 * front of queue_fs.c and queue_ram.c.  bot/store.c speaks only to this
 * table; nothing outside bot/store/ knows which backend answers.
 *
 * A backend's own store begins with a struct store (its `be` set to the
 * backend's table), so the struct store * every operation receives is
 * the backend's object: backends convert it back with their own cast.
 *
 * Every entry has the meaning, the return values and the ownership rules
 * of the store.h operation of the same name; store.c checks what every
 * backend would check the same way (keys present and within
 * STORE_MAX_KEY, state values within STORE_MAX_STATE) before it calls the
 * backend, so backends may take their inputs as valid.  An entry may be
 * NULL only where this header says so.
 *
 * Adding an operation: add it to store.h, to this table, to store.c, and
 * to EVERY backend (bot/store/sqlite.c, bot/store/pg.c); the store's unit
 * suite (tests/unit/test_store.c) runs each case on every backend, so a
 * case for the new operation tells whoever forgets one.
 */
#ifndef FD_STORE_BACKEND_H
#define FD_STORE_BACKEND_H

#include "store.h"

struct store_backend {
	const char *name; /* "sqlite", "postgresql" */

	void (*stop)(struct store *s);
	void (*close)(struct store *s);
	const char *(*where)(const struct store *s);
	int (*dirty)(const struct store *s);
	size_t (*committing)(const struct store *s);
	void (*commit)(struct store *s, store_done_fn done, void *arg);
	int (*commit_sync)(struct store *s);
	void (*rollback)(struct store *s);
	int (*external_change)(struct store *s);
	void (*on_timing)(struct store *s, void (*fn)(void *arg, enum store_timing t, double seconds),
	                  void *arg);

	void (*lookup)(struct store *s, const char *platform, const char *post_id, const char *thread_key,
	               store_lookup_fn cb, void *arg);
	void (*thread_get)(struct store *s, const char *platform, const char *thread_key, store_thread_fn cb,
	                   void *arg);
	void (*record_post)(struct store *s, const struct store_record *r, store_recorded_fn cb, void *arg);
	void (*history)(struct store *s, const char *platform, const char *thread_key, int64_t before,
	                size_t limit, store_msgs_fn cb, void *arg);

	void (*outbox_pending)(struct store *s, store_rows_fn cb, void *arg);
	void (*outbox_claim)(struct store *s, const struct store_out *o, store_done_fn cb, void *arg);
	int (*outbox_sent)(struct store *s, int64_t id, time_t now);
	int (*outbox_retry)(struct store *s, int64_t id, int attempts, int64_t not_before_ms,
	                    const char *error);
	int (*outbox_failed)(struct store *s, int64_t id, int attempts, const char *error);
	int (*outbox_cancel)(struct store *s, int64_t id, const char *why);
	int (*outbox_release)(struct store *s, int64_t id);
	void (*outbox_notify)(struct store *s, const char *connector, const char *payload,
	                      const char *idem_key, int64_t not_before_ms, time_t now, store_row_fn cb,
	                      void *arg);
	void (*outbox_counts)(struct store *s, store_counts_fn cb, void *arg);

	void (*tickets)(struct store *s, const struct store_ticket_query *q, store_tickets_fn cb, void *arg);
	void (*ticket_messages)(struct store *s, int64_t id, size_t limit, store_msgs_fn cb, void *arg);
	void (*ticket_events)(struct store *s, int64_t id, size_t limit, store_events_fn cb, void *arg);
	void (*queue_version)(struct store *s, time_t now, store_u64_fn cb, void *arg);
	void (*ticket_claim)(struct store *s, int64_t id, const char *login, time_t now, store_done_fn cb,
	                     void *arg);
	void (*ticket_release)(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
	                       void *arg);
	void (*ticket_resolve)(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
	                       void *arg);
	void (*ticket_mark)(struct store *s, int64_t id, const char *kind, const char *detail, time_t now,
	                    store_done_fn cb, void *arg);
	void (*agent_reply)(struct store *s, int64_t id, const char *login, const char *agent_name,
	                    const char *const *parts, size_t n_parts, time_t now, store_rows_fn cb,
	                    void *arg);

	void (*cursor_get)(struct store *s, const char *name, store_text_fn cb, void *arg);
	int (*cursor_set)(struct store *s, const char *name, const char *value, time_t now);
	void (*state_get)(struct store *s, const char *connector, const char *kind, const char *key,
	                  store_state_fn cb, void *arg);
	int (*state_put)(struct store *s, const char *connector, const char *kind, const char *key,
	                 const char *thread_key, const char *value, time_t now);
	int (*state_delete)(struct store *s, const char *connector, const char *kind, const char *key);
	int (*state_prune)(struct store *s, const char *connector, const char *kind, time_t before);
	void (*visitor_find)(struct store *s, const char *token, time_t now, store_visitor_fn cb, void *arg);
	void (*visitor_of_thread)(struct store *s, const char *thread_key, store_visitor_fn cb, void *arg);
	int (*reply_note)(struct store *s, int64_t message_id, const char *kind, const char *detail,
	                  time_t now);
	int (*visitor_add)(struct store *s, const char *token, const char *thread_key, time_t now);
	int (*visitor_set_email)(struct store *s, const char *token, const char *thread_key,
	                         const char *email, time_t now);

	/* The team's side, search, contacts, the team's settings. */
	void (*ticket_note)(struct store *s, int64_t id, const char *login, const char *text, time_t now,
	                    store_done_fn cb, void *arg);
	void (*ticket_label)(struct store *s, int64_t id, const char *label, int on, const char *actor,
	                     time_t now, store_done_fn cb, void *arg);
	void (*ticket_priority)(struct store *s, int64_t id, const char *priority, time_t due,
	                        const char *actor, time_t now, store_done_fn cb, void *arg);
	void (*ticket_reopen)(struct store *s, int64_t id, time_t due, const char *actor, time_t now,
	                      store_done_fn cb, void *arg);
	void (*ticket_snooze)(struct store *s, int64_t id, time_t until, const char *actor, time_t now,
	                      store_done_fn cb, void *arg);
	int (*ticket_seen)(struct store *s, int64_t id, const char *login, int64_t message_id);
	void (*ticket_counts)(struct store *s, const char *login, time_t now, store_ticket_counts_fn cb,
	                      void *arg);
	void (*search)(struct store *s, const struct store_search *q, store_tickets_fn cb, void *arg);
	int (*contact_update)(struct store *s, const struct store_contact_info *ci, time_t now);
	void (*contact_get)(struct store *s, int64_t id, store_contact_fn cb, void *arg);
	void (*contact_tickets)(struct store *s, int64_t id, size_t limit, const char *viewer,
	                        store_tickets_fn cb, void *arg);
	void (*contact_rename)(struct store *s, int64_t id, const char *name, store_done_fn cb, void *arg);
	void (*contact_search)(struct store *s, const char *text, size_t limit, store_contacts_fn cb,
	                       void *arg);
	void (*team_list)(struct store *s, const char *kind, store_team_fn cb, void *arg);
	int (*team_put)(struct store *s, const char *kind, const char *key, const char *value, time_t now);
	int (*team_delete)(struct store *s, const char *kind, const char *key);

	/* Leadership (store_leader_watch): start watching l (store.c made it)
	 * and report through store_leader_set; stop watching it (and give
	 * its lead up) before store.c frees it.  A backend with a single
	 * process (SQLite) reports "leader" at once and never takes it back. */
	void (*leader_watch)(struct store *s, struct store_leader *l);
	void (*leader_cancel)(struct store *s, struct store_leader *l);

	/* Whether writes work, as the backend last found it (store_health;
	 * store.c derives store_takes_work from it). */
	void (*health)(const struct store *s, struct store_health *h);
	void (*prune)(struct store *s, const struct store_retention *r, time_t now, size_t batch,
	              store_pruned_fn cb, void *arg);

	/* What the team taught, and the questions nobody answered. */
	void (*taught_list)(struct store *s, store_taught_fn cb, void *arg);
	void (*teach)(struct store *s, const struct store_taught *t, time_t now, store_taught_fn cb,
	              void *arg);
	void (*untaught)(struct store *s, int64_t id, store_done_fn cb, void *arg);
	void (*unanswered)(struct store *s, time_t since, size_t limit, store_questions_fn cb, void *arg);
	int (*rating_put)(struct store *s, int64_t ticket_id, int score, const char *comment, time_t now);
	/* The satisfaction question (store_rating_ask / store_rating_answer):
	 * NULL in a backend without it (the question is then never asked). */
	void (*rating_ask)(struct store *s, int64_t id, const char *const *parts, size_t n_parts, time_t now,
	                   store_rows_fn cb, void *arg);
	void (*rating_answer)(struct store *s, const char *platform, const char *thread_key, int64_t ticket,
	                      int score, const char *comment, time_t asked_since, time_t now,
	                      store_done_fn cb, void *arg);
	void (*report)(struct store *s, time_t since, time_t until, time_t origin, long period,
	               store_report_fn cb, void *arg);
};

/* One name watched for leadership (store_leader_watch). */
struct store_leader {
	struct store *s;
	char *name;
	store_leader_fn cb;
	void *arg;
	int leading;               /* what cb was last told */
	int64_t key;               /* the backend's lock key for name */
	struct store_leader *next; /* the backend's list of watched names */
};

/* The backend found that this process leads l's name (1) or no longer does
 * (0): tells the watcher when that is news. */
void store_leader_set(struct store_leader *l, int leading);

/* What every backend's store begins with. */
struct store {
	const struct store_backend *be;
};

/* The backends (bot/store/sqlite.c, bot/store/pg.c): open as store_open. */
struct store *store_sqlite_open(const struct store_conf *conf, char *err, size_t errn);
struct store *store_pg_open(const struct store_conf *conf, char *err, size_t errn);

/*
 * The idempotency key of an outbox row, the same whichever backend writes
 * it: stable, and short enough for every platform (Discord nonces take 25
 * characters).  A post's reply parts are numbered from 0; its "take it
 * offline" pointer has the number STORE_POINTER_KEY.
 */
#define STORE_POINTER_KEY 0xFFFFu
void store_idem_key(char out[24], const char *a, const char *b, uint64_t n);

/* The name a post's author goes by in a ticket: handle, name, or id. */
const char *store_author_of(const struct post *p);

/* v when it is a non-empty string of at most max bytes (a contact's name,
 * handle or address as a platform gives it), else NULL. */
const char *store_bounded(const char *v, size_t max);

/* Split "a\nb" (a ticket's labels as the read model joins them) into a
 * NULL-terminated array of copies (n of them; NULL when none), for a
 * ticket's labels: store_ticket_free frees them. */
const char *const *store_split_lines(const char *v, size_t *n);

#endif
