/*
 * store_sync.h - the store's operations as plain calls, for tests: a store
 * opened without a loop answers every operation before it returns
 * (store.h), and one that answers later (PostgreSQL on a loop) is waited
 * for by running the loop given to ss_use_loop; each wrapper collects the
 * answer and returns it.  Strings handed back are copies the caller frees
 * as each function says.
 */
#ifndef FD_TEST_STORE_SYNC_H
#define FD_TEST_STORE_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "store.h"

/* What store_record_post answered, with copies of the new rows (their
 * strings live in `strings`: nothing to free). */
struct ss_rec {
	struct store_recorded raw; /* rows points into `rows` */
	int64_t thread_id, message_id, ticket_id;
	size_t n_outbox;
	int64_t outbox[STORE_MAX_PARTS + 1]; /* a pointer row, then the parts */
	struct store_out rows[STORE_MAX_PARTS + 1];
	char strings[16384];
	size_t used;
};
/* The loop to run while an answer is awaited (NULL: answers come at once). */
void ss_use_loop(uv_loop_t *loop);
/* Run that loop until *answered, then check it (a test that never gets
 * its answer is ended by its alarm). */
void ss_wait(int *answered);

/* Forget what r holds (it holds no heap memory). */
void ss_rec_free(struct ss_rec *r);

/* A fresh directory for a store file: dir (>= 64 bytes) and path (>= 128)
 * are filled; ss_tmp_remove deletes the file, its WAL and the directory. */
void ss_tmp_make(const char *prefix, char *dir, size_t dn, char *path, size_t pn);
void ss_tmp_remove(const char *dir, const char *path);

/* Open (failing the test with the reason) without a loop. */
struct store *ss_open(const char *path, int sync_full);
/* store_record_post: rc (0, 1, -1); out is reset and filled on 0. */
int ss_record(struct store *s, const struct store_record *r, struct ss_rec *out);
/* store_lookup: rc; *l filled on 0. */
int ss_lookup(struct store *s, const char *platform, const char *post_id, const char *thread_key,
              struct store_lookup *l);
int ss_thread(struct store *s, const char *platform, const char *thread_key, struct store_thread *t);
int ss_claim(struct store *s, int64_t id, const char *login, time_t now);
int ss_release(struct store *s, int64_t id, const char *actor, time_t now);
int ss_resolve(struct store *s, int64_t id, const char *actor, time_t now);
int ss_mark(struct store *s, int64_t id, const char *kind, time_t now);
/* store_agent_reply: rc; the new rows' ids into ids (room for n; may be NULL). */
int ss_agent_reply(struct store *s, int64_t id, const char *login, const char *name, const char *const *parts,
                   size_t n, time_t now, int64_t *ids);
/* The pending row `id` copied into *o (store_out_free): 1, 0 not pending, -1. */
int ss_pending_row(struct store *s, int64_t id, struct store_out *o);
/* The ids of every pending row, oldest first, into ids (room for max): count or -1. */
long ss_pending_ids(struct store *s, int64_t *ids, size_t max);
/* store_outbox_claim on the pending row `id`: rc (0 send, 1 not, -1). */
int ss_claim_row(struct store *s, int64_t id);
/* store_outbox_notify: rc; *id the row's. */
int ss_notify(struct store *s, const char *connector, const char *payload, const char *idem,
              int64_t not_before_ms, time_t now, int64_t *id);
int ss_counts(struct store *s, struct store_outbox_counts *c);
/* store_cursor_get: 1 with the value in out, 0 none, -1. */
int ss_cursor_get(struct store *s, const char *name, char *out, size_t n);
/* store_visitor_find: 1 with the thread key in out, 0 unknown/expired, -1. */
int ss_visitor_find(struct store *s, const char *token, time_t now, char *out, size_t n);
/* "from:text" of the messages store_history / store_ticket_messages give,
 * into lines (up to max): count, or -1 (-2: no such ticket). */
long ss_history(struct store *s, const char *platform, const char *thread_key, char lines[][96], size_t max);
long ss_ticket_messages(struct store *s, int64_t id, char lines[][96], size_t max);
/* store_state_get: 1 with copies (free each; thread may be NULL), 0 none, -1. */
int ss_state_get(struct store *s, const char *connector, const char *kind, const char *key, char **thread,
                 char **value);
/* One ticket of the read model (copied; ss_ticket_free): 1, 0 absent, -1. */
int ss_ticket(struct store *s, int64_t id, struct store_ticket *t);
void ss_ticket_free(struct store_ticket *t);
/* Ids of the tickets a query gives, in order: count or -1. */
long ss_ticket_ids(struct store *s, const struct store_ticket_query *q, int64_t *ids, size_t max);

/* The team's side (each: the operation's rc). */
int ss_note(struct store *s, int64_t id, const char *login, const char *text, time_t now);
int ss_label(struct store *s, int64_t id, const char *label, int on, time_t now);
int ss_priority(struct store *s, int64_t id, const char *priority, time_t due, time_t now);
int ss_reopen(struct store *s, int64_t id, time_t due, time_t now);
int ss_snooze(struct store *s, int64_t id, time_t until, time_t now);
int ss_ticket_counts(struct store *s, const char *login, time_t now, struct store_ticket_counts *c);
/* store_search: the ids found, in order, into ids (room for max): count or -1. */
long ss_search(struct store *s, const struct store_search *q, int64_t *ids, size_t max);
/* store_contact_get: rc; *c a copy (ss_contact_free). */
int ss_contact(struct store *s, int64_t id, struct store_contact *c);
void ss_contact_free(struct store_contact *c);
/* store_contact_search: the ids found into ids: count or -1. */
long ss_contact_search(struct store *s, const char *text, int64_t *ids, size_t max);
long ss_contact_ticket_ids(struct store *s, int64_t id, int64_t *ids, size_t max);
int ss_contact_rename(struct store *s, int64_t id, const char *name);
/* store_team_list: "key=value" lines into out (room for max): count or -1. */
long ss_team(struct store *s, const char *kind, char out[][128], size_t max);

#endif
