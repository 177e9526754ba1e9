/*
 * discord.h - the Discord connector (`type: discord`, gateway v10 and REST
 * API v10).  PLATFORMS.md, section Discord, lists the platform behaviour it
 * handles; discord_wire.h reads and writes the payloads, discord_limits.h
 * keeps the REST rate limits.
 *
 * Gateway: the URL comes from GET {instance}/api/v10/gateway/bot (the bot
 * token's first test: a 401 is reported as a token to check) and is cached
 * with the IDENTIFY budget it reports; connect "<url>/?v=10&encoding=json".
 * HELLO starts the heartbeat (first beat after interval x random jitter,
 * then every interval; a beat the server asks for with op 1 goes at once);
 * a beat not ACKed before the next one is a zombie connection: closed with
 * 4000 (never 1000/1001, which would end the session) and resumed.  A new
 * session IDENTIFYs with GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and the
 * privileged MESSAGE_CONTENT intents, at most one IDENTIFY every 5 s and
 * never when /gateway/bot says the day's budget is spent (the wait it
 * names is kept instead).  A known session RESUMEs on its
 * resume_gateway_url with the last durable sequence number; Discord
 * replays what was missed, then RESUMED.  op 7 (even before HELLO):
 * reconnect and resume.  op 9: resume when d is true, else a new session
 * on the cached URL.  Close codes as discord_close_code() says: 4004 and
 * 4010-4014 are reported in the log and /healthz (4014: the Message
 * Content intent is off) and retried only every 5 minutes (the token is
 * read again each time); 4007 and 4009 start a new session; everything
 * else resumes.  Reconnects back off with full jitter (wsclient.h).
 *
 * Sessions survive restarts: the session id, the last durable sequence
 * number, the resume URL, the bot's user id and the catch-up watermark
 * (the newest message id below which every message is stored) are kept in
 * the store.  The sequence number kept never passes an event that is not
 * durable yet, so a resume after a crash replays whatever was not.
 *
 * Catch-up where Discord cannot replay (a new session after an old one):
 * GET /channels/{id}/messages?after=<watermark> page by page for every
 * channel and active thread GUILD_CREATE names with a newer last message,
 * and for the direct-message channels the bot has talked in (the most
 * recent DISCORD_DM_REMEMBERED); the watermark advances only once that is
 * done.  What cannot be recovered is logged: direct messages opened by
 * people the bot never talked to (bots cannot list DM channels), channels
 * the bot may not read, more than DISCORD_BACKFILL_PAGES pages in one
 * channel.  The very first start sets the watermark to that moment (and
 * keeps it at once): messages from then on are answered, older ones are
 * not.
 *
 * Intake: MESSAGE_CREATE of type 0 or 19 in guild channels, threads and
 * DMs.  Skipped: the bot's own messages, webhooks, other types; bots are
 * passed on marked (the pipeline ignores them).  Dedupe is the daemon's,
 * on the message id (replays and duplicate events are answered once).
 * The conversation (thread key, discord_thread_key): a DM channel is one;
 * a Discord thread is one (threads are learnt from GUILD_CREATE and the
 * THREAD_* events, and kept); a reply (message_reference) joins the
 * conversation of the message it answers, the customer's or the bot's
 * (message ids are kept with their conversation); any other message in a
 * guild channel starts a conversation of its own, like a Slack thread.
 * Those lookups may be answered later by the store: messages wait in a
 * queue and reach the daemon in the order they came.
 *
 * Replies: POST /channels/{channel}/messages in the channel (or thread) of
 * the conversation, the first part answering the customer's message
 * (message_reference, fail_if_not_exists false), allowed_mentions
 * {parse: []}, nonce (from the outbox row's idempotency key, one per
 * part) with enforce_nonce, User-Agent "DiscordBot (url, version)".
 * Customer markup is made inert (markup.h, MARKUP_DISCORD) and a reply is
 * cut into messages of at most 2,000 characters.  A private reply to a
 * guild conversation goes to a DM with the customer (POST
 * /users/@me/channels, remembered).  A reply whose earlier attempt may
 * have been created (the process died, the request timed out, a 5xx) and
 * whose nonce Discord may have forgotten (older than DISCORD_NONCE_WINDOW_MS)
 * is sent only after the bot's recent messages in that channel show it was
 * not.  403 and 404 are final; 401 is a token to check.
 *
 * Rate limits (discord_limits.h): one request per route at a time, each
 * route's bucket and the global limit honoured, our own pace below 50
 * requests a second.  A reply held by a limit for more than a second goes
 * back to the outbox with the wait (SEND_LATER: stored with the row as
 * not_before); shorter waits are kept in memory; a global 429 pauses every
 * send of the connector; the waits still ahead are kept in the store too,
 * so a restart does not learn them again with a 429.
 *
 * Store use (connector-private state, connector.h): "session"/"gateway"
 * (JSON: session id, durable sequence number, resume and gateway URLs, the
 * bot's user id, the watermark, a catch-up still owed, the last IDENTIFY),
 * "dms"/"recent" (the DM channels catch-up looks into), "limits"/"rest"
 * (rate-limit waits still ahead), and the kit's "dm" rows (customer id ->
 * DM channel, for private replies).
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.
 */
#ifndef FD_DISCORD_H
#define FD_DISCORD_H

#include <stddef.h>

#include "config.h"
#include "connector.h"
#include "connectors/discord/discord_wire.h"

#define DISCORD_DEFAULT_INSTANCE  "https://discord.com"
#define DISCORD_NONCE_WINDOW_MS   (2L * 60 * 1000) /* how long we trust Discord to remember a nonce */
#define DISCORD_IDENTIFY_SPACE_MS 5500L /* one IDENTIFY per 5 s (max_concurrency 1), with a margin */
#define DISCORD_FATAL_RETRY_MS    (5L * 60 * 1000)
#define DISCORD_BACKFILL_PAGES    50  /* pages of 100 per channel in one catch-up */
#define DISCORD_DM_REMEMBERED     150 /* DM channels catch-up looks into (kept in one state row) */

/*
 * Settings (the connector_conf's settings):
 *   token_env: NAME | token_file: PATH   (the bot token; required)
 *   instance: https://discord.com        (optional; http:// only on loopback)
 */
struct discord_conf {
	char *instance; /* no trailing '/' */
	struct config_secret token;
};

extern const struct connector_ops discord_ops;

/* The kinds of conversation (see above). */
enum discord_conv {
	DISCORD_CONV_DM = 0,  /* a DM channel: "<channel>" */
	DISCORD_CONV_MESSAGE, /* started by a message in a guild channel: "<channel>/<message>" */
	DISCORD_CONV_THREAD   /* a Discord thread: "<thread>/thread" */
};

/* The thread key of a conversation into out (root: the message that
 * started a DISCORD_CONV_MESSAGE one, else unused). */
void discord_thread_key(enum discord_conv kind, const char *channel, const char *root, char *out, size_t n);
/*
 * Take a thread key apart: its kind with the channel (and, for
 * DISCORD_CONV_MESSAGE, the root message) set, or -1 when it is not one
 * of ours.
 */
int discord_thread_parse(const char *key, char channel[DISCORD_MAX_ID + 1], char root[DISCORD_MAX_ID + 1]);

#endif
