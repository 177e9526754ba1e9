/*
 * slack.h - the Slack connector (`type: slack`, Socket Mode in, Web API
 * out).  PLATFORMS.md, section Slack, lists the platform behaviour it
 * handles; slack_wire.h reads and writes the payloads.
 *
 * Start: auth.test with the bot token (xoxb-) gives the bot's own user and
 * bot ids (it never answers itself or any bot); then apps.connections.open
 * with the app-level token (xapp-) gives a one-time wss:// URL for each
 * socket.  apps.connections.open is Tier 1 (about one call a minute): it is
 * never called in a loop.  Every call goes through the WebSocket client's
 * one retry path (wsclient.h: backoff with full jitter from 1 s to 5 min,
 * a connection only counts as a success after 30 s), a 429 waits for its
 * Retry-After, and on top of both the connector allows itself
 * SLACK_OPEN_BURST calls and then one every SLACK_OPEN_EVERY_MS.
 *
 * Sockets: `hello` makes a socket live (health ok).  A `disconnect` with
 * reason `warning` (about 10 s before a refresh) or `refresh_requested`
 * opens a second socket at once (Slack allows up to 10 per app); when it
 * says hello the old one is closed with 1000, so there is never a moment
 * without a socket.  `link_disabled` (Socket Mode switched off in the
 * app's settings) is reported in the log and /healthz and retried only
 * every 5 minutes.  `too_many_websockets` (another program holds this
 * app's sockets) is logged and retried with the backoff.  A token Slack
 * refuses (invalid_auth and the like) is reported the same way, the token
 * read again at each retry.
 *
 * Intake: `events_api` envelopes carrying `message` and `app_mention`
 * events in channels, private channels, threads (thread_ts) and direct
 * messages (channel_type im).  Only messages without a subtype (or a
 * file_share) are questions; edits, deletions, joins and anything with a
 * bot_id (our own replies come back that way) are skipped, as is our own
 * user.  mrkdwn becomes plain text (slack_wire.h).  The post id is
 * "<channel>:<ts>" (the message's identity: a mention arrives twice, as
 * `message` and as `app_mention`, with different event ids, and is stored
 * and answered once); the conversation is the thread ("<channel>:<root
 * ts>", a top-level message being the root of its own), or the direct
 * message ("<channel>").  Redeliveries are also recognised by event_id
 * (SLACK_EVENTS_REMEMBERED of them), on whichever socket they come.
 *
 * WHEN AN ENVELOPE IS ACKNOWLEDGED.  Slack wants an ack within about 3 s,
 * or it delivers the envelope again (retry_attempt 1..3); DESIGN.md wants
 * a platform event acknowledged only after its post is durably stored.
 * Both hold: an envelope is acknowledged from post_done, i.e. right after
 * the group commit that stored its post, which is one commit issued on the
 * same loop iteration (milliseconds, far below 3 s).  Acknowledging
 * before storing would lose the message for good if the process died in
 * between (Slack never sends an acknowledged envelope again); acknowledging
 * after storing risks only a redelivery, which is a duplicate the store
 * refuses and which is then acknowledged at once.  So: an envelope in
 * flight at SIGKILL is either not stored (not acknowledged: Slack sends it
 * again, to the next socket, after the restart) or stored but not
 * acknowledged (sent again, recognised as a duplicate, acknowledged).
 * Envelopes that carry nothing to store (skipped messages, other events,
 * interactive and slash-command envelopes) are acknowledged at once.  A
 * post that could not be stored is not acknowledged.  The ack goes on the
 * envelope's own socket, or on the other one when that one has gone.
 *
 * Replies: chat.postMessage {channel, text, thread_ts, metadata} in the
 * thread of the conversation (a top-level message gets its answer in a
 * thread under it; a direct message inline).  A reply the pipeline marked
 * private goes to a DM with the customer (conversations.open, remembered
 * in the connector state), the short public pointer having gone where the
 * post was.  Text is made inert for Slack (& < > escaped, mentions broken;
 * markup.h) and cut into messages of at most 4,000 characters after
 * escaping; link previews are off.  ok:false answers are errors: final
 * ones (channel_not_found, not_in_channel, is_archived...) fail the row,
 * token and permission errors are reported and retried every 5 minutes,
 * Slack's own trouble is retried with the outbox's backoff.
 *
 * Nothing is sent twice: Slack has no idempotency key, so every message
 * carries the outbox row's key (and its part number) in its message
 * metadata, and before a request leaves, a mark naming it is made durable
 * (connector state "sending", committed first: connector_commit).  The mark
 * goes when the outcome is known.  A row that finds its mark (the process
 * died mid-request, or a request timed out or got internal_error) first
 * looks for its message in the conversation (conversations.replies /
 * conversations.history with include_all_metadata, a window around the
 * mark's time, SLACK_LOOKUP_PAGES pages at most) and sends only when it
 * is not there.  These reads are rare on purpose: Slack lets apps outside
 * its Marketplace call them about once a minute; they go one at a time,
 * and at most SLACK_MAX_INFLIGHT replies can be cut short by a crash.
 *
 * Rate limits: per Web API method.  A 429 holds that method until its
 * Retry-After (chat.postMessage: every send of the connector); the row that
 * met it goes back to the outbox with the wait stored as its not_before,
 * and the wait itself is kept in the connector state so a restart does not
 * spend a request to learn it again.  chat.postMessage is paced to one
 * message per second per channel (SLACK_CHANNEL_SPACING_MS).  A reply held
 * longer than SLACK_HOLD_MS goes back to the outbox with its wait.
 *
 * Store use: connector state kinds "sending" (the marks above, pruned after
 * SLACK_STATE_DAYS), "dm" (a customer's DM channel, connector.h) and
 * "limit" (rate-limit waits still ahead, per method).
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.
 */
#ifndef FD_SLACK_H
#define FD_SLACK_H

#include "config.h"
#include "connector.h"
#include "connectors/slack/slack_wire.h"

#define SLACK_DEFAULT_INSTANCE   "https://slack.com"
#define SLACK_OPEN_BURST         5                /* apps.connections.open calls allowed at once ... */
#define SLACK_OPEN_EVERY_MS      12000L           /* ... then one per this (Tier 1 is ~1/min, bursts ok) */
#define SLACK_FATAL_RETRY_MS     (5L * 60 * 1000) /* refused token, link_disabled */
#define SLACK_PING_IDLE_MS       20000L           /* ping after this much silence */
#define SLACK_DEAD_MS            60000L           /* a socket silent this long is dropped */
#define SLACK_EVENTS_REMEMBERED  4096             /* event ids kept for dedupe */
#define SLACK_CHANNEL_SPACING_MS 1000L            /* chat.postMessage: ~1 per second per channel */
#define SLACK_HOLD_MS            10000L           /* a longer wait goes back to the outbox */
#define SLACK_MAX_INFLIGHT       4 /* requests at once for replies (each cut short by a crash costs a read) */
#define SLACK_LOOKUP_PAGES       5 /* history pages searched for an earlier reply */
#define SLACK_LOOKUP_BEFORE_S    120 /* the search window around a mark's time */
#define SLACK_LOOKUP_AFTER_S     900
#define SLACK_STATE_DAYS         30 /* "sending" marks older than this are pruned */

/*
 * Settings (the connector_conf's settings):
 *   token_env: NAME | token_file: PATH          the bot token (xoxb-…; required)
 *   app_token_env: NAME | app_token_file: PATH  the app-level token (xapp-…,
 *                                               scope connections:write; required)
 *   instance: https://slack.com                 (optional; http:// only on loopback)
 */
struct slack_conf {
	char *instance; /* no trailing '/' */
	struct config_secret token;
	struct config_secret app_token;
};

extern const struct connector_ops slack_ops;

#endif
