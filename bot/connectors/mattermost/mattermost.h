/*
 * mattermost.h - the Mattermost connector (`type: mattermost`).
 * PLATFORMS.md, section Mattermost, lists the platform behaviour it
 * handles; mattermost_wire.h parses and builds what goes over the wire.
 *
 * Start: GET /api/v4/users/me (the bot's own id: it never answers itself)
 * and GET /api/v4/config/client?format=old (MaxPostSize, else 16,383
 * characters), then the WebSocket /api/v4/websocket with
 * `Authorization: Bearer` at the upgrade (wsclient.h: keepalive pings,
 * a zombie watchdog, reconnects backing off with jitter from 1 s to
 * 5 min).  The server pings every 60 s and drops a socket without a pong
 * for 100 s; lws answers its pings.  A token the server refuses (401) is
 * reported in the log and in /healthz ("401 from server: check the
 * token") and retried every 5 minutes, re-reading the token each time.
 *
 * Intake: `posted` events (the post is JSON inside a string, parsed a
 * second time) become posts: Markdown made plain (markdown.h); the
 * bot's own posts, system posts (a non-empty type) and deleted ones are
 * dropped; posts with props.from_bot "true" (a string) or from_webhook go
 * to the pipeline marked as bots, which ignores them.  The conversation is
 * the thread in a channel ("c:<channel>:<root>", root_id or the post's own
 * id) or the whole direct message ("d:<channel>"); group messages and
 * private channels are public for the reply policy.  Duplicates (replay
 * and refill overlap) are stored and answered once: the daemon dedupes on
 * the post id.
 *
 * Catch-up: every event's `seq` is tracked; the next seq after the last
 * event whose post is durably stored is kept with the connection_id in the
 * connector state (kind "session"), so a reconnect, and a restart, resume
 * with ?connection_id=&sequence_number= and the server replays what it
 * still buffers (128 events) without a new hello.  A new hello (a new
 * connection_id) means it could not: then every channel the bot belongs
 * to (GET /api/v4/users/{id}/channels) with newer posts is refilled with
 * GET /api/v4/channels/{id}/posts?since= from the last post stored for
 * that channel (kind "channel") or, when that is newer (a post that came
 * live after the gap) or there is none, from a little before the
 * connector last knew itself caught up.  The refill is
 * marked in the session state until every post of it is durable, so a
 * crash in the middle repeats it; what cannot be recovered (a channel the
 * server refuses, a page at the server's 1,000-post limit) is logged.
 * On the very first start the connector begins now: older posts are not
 * answered.
 *
 * Replies: POST /api/v4/posts with root_id (the thread root, never a
 * reply's id; none in a direct message), pending_post_id and
 * props.frontdesk_key from the outbox row (part k of a long reply: the key
 * with "-k"), at most MATTERMOST_MAX_INFLIGHT rows at a time.  The text is
 * made inert for Mattermost (markup.h: @all/@channel/@here and @names
 * broken, links and images escaped) and cut to the server's MaxPostSize.
 * The server returns the first post for a pending_post_id seen within
 * 30 s and answers 500 api.post.deduplicate_create_post.pending while it
 * is still saving (retried with the same id).  A row whose earlier
 * attempt may have created the post and is older than that window (the
 * process died mid-request, or the answer never came) is first looked for
 * among the bot's posts in its thread or channel, by the key in its props.
 * A private row (the pipeline's "take it offline") goes to the direct
 * message with its author, opened with POST /api/v4/channels/direct and
 * remembered (connector.h).  429 (Retry-After, a plain-text body) and
 * X-Ratelimit-Remaining 0 (X-Ratelimit-Reset: seconds until) hold every
 * send until the reset; the outbox stores that wait with the rows.
 * 403 (the bot is not a member) and other 4xx are final.
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.
 */
#ifndef FD_MATTERMOST_H
#define FD_MATTERMOST_H

#include "config.h"
#include "connector.h"

#define MATTERMOST_MAX_FRAME             (1024u * 1024u) /* one WebSocket message */
#define MATTERMOST_MAX_PARTS             16
#define MATTERMOST_MAX_INFLIGHT          4
#define MATTERMOST_BACKOFF_MIN_MS        1000L
#define MATTERMOST_BACKOFF_MAX_MS        (5L * 60 * 1000)
#define MATTERMOST_UNAUTHORIZED_RETRY_MS (5L * 60 * 1000)
#define MATTERMOST_DEDUPE_WINDOW_MS      25000L           /* under the server's 30 s pending_post_id window */
#define MATTERMOST_REFILL_MARGIN_MS      (2L * 60 * 1000) /* clock skew allowance for unseen channels */
#define MATTERMOST_REFILL_PAGE_FULL      1000             /* the server's cap on posts?since= */
#define MATTERMOST_STATE_DAYS            180

/*
 * Settings (the connector_conf's settings):
 *   instance: https://chat.example         (required; http:// only on loopback)
 *   token_env: NAME | token_file: PATH     (the bot account's access token; required)
 */
struct mattermost_conf {
	char *instance; /* no trailing '/' */
	struct config_secret token;
};

extern const struct connector_ops mattermost_ops;

#endif
