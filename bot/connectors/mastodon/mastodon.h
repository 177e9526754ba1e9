/*
 * mastodon.h - the Mastodon connector (`type: mastodon`; Pleroma, Akkoma
 * and GoToSocial speak the same client API).  PLATFORMS.md, section
 * Mastodon, lists the platform behaviour it handles.
 *
 * Start: GET /api/v1/accounts/verify_credentials (the bot's own account:
 * it never answers itself), GET /api/v2/instance (status length limit and
 * streaming host), PATCH /api/v2/notifications/policy with
 * for_private_mentions=accept (direct messages from accounts the bot does
 * not follow are filtered by Mastodon 4.3 otherwise; a 404 from an older
 * server is fine).  Then the streaming WebSocket
 * (/api/v1/streaming?stream=user:notification, Authorization: Bearer),
 * with a liveness watchdog and reconnects backing off with jitter from 1 s
 * to 5 min.  A token the instance refuses (401) is reported in the log and
 * in /healthz ("401 from instance: check the token") and retried every
 * 5 minutes, re-reading the token each time.
 *
 * Intake: `notification` events of type `mention` (payload parsed a second
 * time) become posts: HTML content to plain text (html2text.h), author from
 * the account (bots are marked and the pipeline ignores them), private
 * only when the visibility is `direct` (followers-only posts are read by
 * others, so they count as public), the thread key from the reply chain
 * (the root status where known: a mention replying to one of the bot's own
 * statuses joins that status's thread).
 *
 * Catch-up: the cursor is the last stored notification id.  Every time the
 * stream (re)connects, and at each retry while it cannot,
 * GET /api/v1/notifications?types[]=mention&min_id= pages forward from it,
 * following the Link header's rel="prev" (the newest id of the page; a
 * link that would skip or go back is ignored and the newest id used
 * instead) until a page comes back empty.  The cursor only advances past
 * a page once every post of it is durably stored, and past a streamed
 * notification only when no gap is open before it.  Posts seen twice
 * (stream and catch-up) are stored and answered once (the daemon
 * deduplicates on the status id).  On the very first start (no cursor) the
 * connector begins at the newest mention: older ones are not answered.
 *
 * Replies: POST /api/v1/statuses with in_reply_to_id, the visibility of
 * the conversation and Idempotency-Key from the outbox row (at most
 * MASTODON_MAX_INFLIGHT at a time).  Every reply starts with "@acct " of
 * the customer it answers; other @mentions in the text are neutralised.
 * A row the pipeline marked private goes direct: for a public complaint
 * (or anything else a person takes over, except a mere unmatched
 * question) the pipeline adds a short public pointer before it, and
 * everything after it (agent replies, later notices) goes direct.  Replies longer than the
 * instance's limit become a thread, each part within the limit (a URL
 * counts as 23 characters).  X-RateLimit-Remaining / X-RateLimit-Reset
 * (ISO-8601; a 429 has no Retry-After) hold every send until the reset; a
 * rate-limited reply waits, it never fails.
 *
 * Store use: the catch-up cursor under the connector's name, and per status
 * the connector has seen or posted one row of its connector state (kind
 * "status", key the status id, the thread key, and {"visibility","acct"}):
 * how replies find their thread, visibility and addressee, also after a
 * restart.  Rows not touched for MASTODON_STATE_DAYS are pruned at start.
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.  Functions below that return allocated memory
 * say so; everything else borrows.
 */
#ifndef FD_MASTODON_H
#define FD_MASTODON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "connector.h"

#define MASTODON_MAX_ID                64             /* status, notification and account ids */
#define MASTODON_MAX_ACCT              320            /* user@domain */
#define MASTODON_MAX_FRAME             (512u * 1024u) /* one streaming message */
#define MASTODON_DEFAULT_MAX_CHARS     500
#define MASTODON_URL_CHARS             23 /* what a URL counts toward the limit */
#define MASTODON_MAX_PARTS             16 /* statuses one reply may become */
#define MASTODON_PAGE_LIMIT            80 /* notifications per catch-up page */
#define MASTODON_MAX_INFLIGHT          4  /* concurrent POST /api/v1/statuses */
#define MASTODON_BACKOFF_MIN_MS        1000L
#define MASTODON_BACKOFF_MAX_MS        (5L * 60 * 1000)
#define MASTODON_UNAUTHORIZED_RETRY_MS (5L * 60 * 1000)
#define MASTODON_STATE_DAYS            180 /* statuses remembered this long after the last use */

/*
 * Settings (the connector_conf's settings):
 *   instance: https://mastodon.example      (required; http:// only on loopback)
 *   token_env: NAME | token_file: PATH      (the access token; required)
 *   streaming: wss://streaming.example      (optional: normally asked from the server)
 */
struct mastodon_conf {
	char *instance;  /* no trailing '/' */
	char *streaming; /* or NULL */
	struct config_secret token;
};

extern const struct connector_ops mastodon_ops;

struct http_response;
struct buf;

/*
 * Compare two ids as the decimal strings Mastodon uses (longer is larger,
 * then byte order; this also orders the fixed-length ULIDs of GoToSocial).
 * <0, 0, >0.  Ids are never converted to numbers: they exceed 2^53.
 */
int mastodon_id_cmp(const char *a, const char *b);
/* 1 when s is a plausible id: 1..MASTODON_MAX_ID of [0-9A-Za-z_-]. */
int mastodon_id_ok(const char *s);

/* A mention notification, parsed. */
struct mastodon_mention {
	char id[MASTODON_MAX_ID + 1]; /* notification id (the cursor) */
	char status_id[MASTODON_MAX_ID + 1];
	char in_reply_to[MASTODON_MAX_ID + 1]; /* "" when the status starts a thread */
	char account_id[MASTODON_MAX_ID + 1];
	char acct[MASTODON_MAX_ACCT + 1]; /* "user" (local) or "user@domain" */
	char visibility[16];              /* public|unlisted|private|direct */
	int bot;                          /* account.bot */
	time_t created;
	char *display_name; /* malloc'd, NULL when empty */
	char *text;         /* malloc'd plain text (spoiler text first) */
};

void mastodon_mention_free(struct mastodon_mention *m);

enum mastodon_parse { MASTODON_MENTION = 0, MASTODON_OTHER, MASTODON_BAD };

/*
 * One notification object (JSON text).  MASTODON_MENTION: m is filled
 * (free it); MASTODON_OTHER: another type, or a mention whose status is
 * gone (m->id is set when the notification had a valid id); MASTODON_BAD:
 * malformed, with a reason in err.
 */
enum mastodon_parse mastodon_parse_notification(const char *json, size_t len, struct mastodon_mention *m,
                                                char *err, size_t errn);

/*
 * One streaming frame {"stream":[...],"event":"notification","payload":"<JSON
 * string>"}: the payload is parsed a second time.  Other events (delete,
 * status.update, ...) give MASTODON_OTHER; the event name goes to event
 * (may be NULL).
 */
enum mastodon_parse mastodon_parse_frame(const char *frame, size_t len, struct mastodon_mention *m,
                                         char *event, size_t eventn, char *err, size_t errn);

/*
 * One catch-up page (a JSON array of notifications).  The mentions, sorted
 * by notification id, oldest first, go to *items (malloc'd array; free each
 * with mastodon_mention_free, then the array); max_id receives the highest
 * notification id of the page of any type ("" for an empty page).  Returns
 * the number of entries the page had (mentions or not), or -1 with a reason
 * in err.
 */
long mastodon_parse_page(const char *body, size_t len, struct mastodon_mention **items, size_t *n,
                         char *max_id, size_t max_idn, char *err, size_t errn);

/*
 * The min_id of the rel="prev" link of a Link header (the next page
 * forward in time).  1 with the id in out, 0 when there is none, -1 when
 * the header is malformed.
 */
int mastodon_link_min_id(const char *link, char *out, size_t n);

/*
 * What text counts toward a status's limit: code points, except that a URL
 * counts as MASTODON_URL_CHARS and "@user@domain" as "@user" (Mastodon
 * counts grapheme clusters, which are never more than code points).
 */
size_t mastodon_status_length(const char *s);

/*
 * Customer-controlled text made safe to post: every "@name" that the
 * server would turn into a mention gets a zero-width space after the '@'
 * (e-mail addresses are left alone).  Appends to out.
 */
void mastodon_neutralise(const char *in, struct buf *out);

/*
 * A reply to `acct` as statuses: the text with its mentions neutralised,
 * cut into parts that each, with the leading "@acct ", count at most
 * max_chars.  parts[i] are malloc'd (free each); returns how many (0 when
 * the text is empty).  The last part ends with "…" when the text needed
 * more than max_parts statuses.
 */
size_t mastodon_build_reply(const char *acct, const char *text, size_t max_chars, char **parts,
                            size_t max_parts);

/*
 * The visibility of a reply.  `answered`: visibility of the status it
 * answers.  A direct conversation stays direct, and so does a reply the
 * pipeline marked private ("take it offline": a complaint, an escalation
 * rule, abuse or a request for a person, and what follows in that
 * conversation); elsewhere the reply mirrors the answered status.
 */
const char *mastodon_reply_visibility(const char *answered, int is_private);

/*
 * When the rate limit lets requests go again, from a response's headers:
 * epoch ms, or 0 for "no wait".  A 429 waits for X-RateLimit-Reset
 * (ISO-8601 or epoch seconds; a fraction rounds up), else Retry-After, else
 * 60 s; a success waits only when X-RateLimit-Remaining is 0.  A reset
 * already in the past still waits `min_wait_ms` after a 429 (clock skew).
 */
int64_t mastodon_rate_wait_ms(const struct http_response *r, int64_t now_ms, int64_t min_wait_ms);

#endif
