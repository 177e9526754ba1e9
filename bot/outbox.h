/*
 * outbox.h - delivery of committed outbox rows through their connectors
 * (docs/architecture.md, "The path of a message", step 4).
 *
 * Rows are written by the store in the same group as the post (or the
 * agent's reply) that caused them; the outbox only learns of a row after
 * that group is durable, from the commit itself (outbox_add: the row as it
 * was written, kept in memory, never read back), or by reading every
 * pending row (outbox_load: at start, after another process wrote, after a
 * failed commit).  A row is sent with its connector's ops->send; the connector
 * reports with connector_send_done, which lands in outbox_done:
 *
 *   SEND_OK    -> sent
 *   SEND_RETRY -> again after full-jitter exponential backoff
 *                 (OUTBOX_BASE_MS * 2^attempt, capped at OUTBOX_CAP_MS), and
 *                 not before retry_after seconds; a retry_after pauses the
 *                 whole connector (rate limits are per account, not per row)
 *   SEND_LATER -> again not before retry_after seconds, without counting an
 *                 attempt or pausing the connector (a limit of this row's own)
 *   SEND_FAIL  -> failed (logged), as is a row after OUTBOX_MAX_ATTEMPTS
 *
 * Reply windows: a reply row whose connector takes replies only within a
 * window after the customer's last message (connector_reply_allowed) is
 * failed, not sent, once that window has closed (logged with the reason,
 * which the conversation shows).
 * Rows of one thread go out one at a time and in order (the parts of a long
 * reply, a reply and the agent's follow-up); threads are independent.
 *
 * Pre-send check: immediately before a row is handed to its connector the
 * store is asked (store_outbox_claim, which may answer later); a bot reply
 * whose thread an agent has claimed since the reply was decided is
 * cancelled, not sent.
 *
 * At-least-once + idempotency: a crash between a send and the commit of its
 * "sent" mark re-sends the row on restart with the same idempotency key,
 * which the platform (or the web chat client, by message id) uses to drop
 * the duplicate.
 *
 * Ownership: the outbox borrows the store and the loop; it owns its timer
 * (closed by outbox_close, after which outbox_free may run once the loop
 * has run the close callback).  Parts returned by outbox_split are the
 * caller's (free each).
 */
#ifndef FD_OUTBOX_H
#define FD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "connector.h"
#include "store.h"

#define OUTBOX_BASE_MS      1000L
#define OUTBOX_CAP_MS       (10L * 60 * 1000)
#define OUTBOX_MIN_MS       250L
#define OUTBOX_MAX_ATTEMPTS 50

struct outbox;
struct metrics;

/* How the outbox finds the connector a row names; NULL when none is running
 * under that name (the row waits and is retried). */
typedef struct connector *(*outbox_find_fn)(void *arg, const char *name);

struct outbox *outbox_new(uv_loop_t *loop, struct store *s, outbox_find_fn find, void *arg);
/* Close the timer (teardown); free afterwards, once uv ran the close. */
void outbox_close(struct outbox *o);
void outbox_free(struct outbox *o);
/* Count sends, retries and failures in this registry (optional). */
void outbox_metrics(struct outbox *o, struct metrics *m);

/*
 * Merge every pending row of the store into the schedule (rows already
 * known keep their state).  The store answers now or later; a store error
 * is logged and the rows wait for the next load.
 */
void outbox_load(struct outbox *o);
/* Forget everything but the rows in flight and load again (after a failed
 * commit rolled back marks the schedule relied on). */
void outbox_reload(struct outbox *o);
/* A row whose group is durable (copied), due at row->not_before_ms (epoch
 * ms; 0 = now).  Reply rows of one thread go out in order; notification
 * rows need no order. */
void outbox_add(struct outbox *o, const struct store_out *row);
/* Hand every due row to its connector now (called after each commit). */
void outbox_run(struct outbox *o);
/* A connector finished a send (connector_send_done). */
void outbox_done(struct outbox *o, int64_t id, enum send_result r, long retry_after, const char *detail);

/* Rows known but not yet settled, and of those, being sent right now. */
size_t outbox_pending(const struct outbox *o);
size_t outbox_inflight(const struct outbox *o);
/* 1 when nothing is in flight and nothing is due within `within_ms`
 * (graceful stop: rows waiting on a long backoff do not hold it up). */
int outbox_idle(const struct outbox *o, int64_t within_ms);

/* The clock (epoch ms) the outbox schedules by; tests may replace it. */
extern int64_t (*outbox_now_ms)(void);

/*
 * Delay before attempt `attempt` (1 = first retry) with full jitter:
 * OUTBOX_MIN_MS + rnd mod min(OUTBOX_CAP_MS, OUTBOX_BASE_MS * 2^(attempt-1)).
 * Pure, for tests.
 */
long outbox_backoff_ms(int attempt, uint64_t rnd);

/*
 * Cut text into parts of at most max_chars code points each: at the last
 * white space that fits, else at the last grapheme-cluster boundary, never
 * inside a UTF-8 sequence (invalid input bytes count as one character
 * each and are kept).  Leading/trailing white space of each part is
 * dropped.  At most max_parts parts: the last one ends with "…" when text
 * had to be dropped.  max_chars 0 = no limit.  Returns the number of parts
 * (0 for empty or all-space text); each parts[i] is malloc'd.
 */
size_t outbox_split(const char *text, size_t max_chars, char **parts, size_t max_parts);

/*
 * outbox_split for a limit counted in other units than code points (bytes
 * of UTF-8 on Instagram, UTF-16 code units on Telegram): units(s) measures
 * a part, and the text is split at fewer characters until every part is
 * within max.  Where a single character as outbox_split sees it (a
 * grapheme cluster: a letter and its marks) is wider than max, cut(part,
 * max) cuts that part at a code point, in place.  Parts as outbox_split's.
 */
size_t outbox_split_units(const char *text, size_t max, size_t (*units)(const char *s),
                          void (*cut)(char *s, size_t max), char **parts, size_t max_parts);

#endif
