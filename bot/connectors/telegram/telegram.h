/*
 * telegram.h - the Telegram connector (`type: telegram`): the Bot API by
 * long polling, so it needs no public address (a Raspberry Pi behind a
 * home router will do).  PLATFORMS.md, section Telegram, lists the
 * platform behaviour it handles; telegram_wire.h parses and builds what
 * goes over the wire.
 *
 * Start: getMe (the bot's id and username, whether Business Mode is on),
 * deleteWebhook (a webhook makes getUpdates fail with 409; pending updates
 * are kept), then getUpdates long polling (TELEGRAM_POLL_S seconds; Telegram
 * answers at once when an update arrives) with allowed_updates sent every
 * time (Telegram keeps the last list given).  Telegram allows one
 * getUpdates reader per bot, so the type is CONNECTOR_ONE_CONSUMER: where
 * several processes share a PostgreSQL store, only the one that leads the
 * connector signs in and polls (connector_start; SQLite: at once).  The
 * others wait stopped, and their outbox leaves the replies to the leader,
 * so that one process paces each chat and looks for its lost replies.  A
 * stop aborts the poll in flight (its connection closed) and abandons the
 * batch in hand; a resume reads the offset from the store again and polls
 * from there: updates the previous poller confirmed are not asked for
 * again, those it fetched without confirming come again and are recognised
 * by the store (the post id) if it had stored them.  A refused token (401, or 404 for
 * the whole bot) is reported in the log and in /healthz ("401 from
 * Telegram: check the token") and retried every 5 minutes, re-reading the
 * token.  A 409 "terminated by other getUpdates request" means another
 * program polls the same bot: reported the same way and retried slowly
 * (30 s, doubling to 5 minutes), never hammered; a 409 for a webhook set
 * meanwhile deletes it again, backing off likewise.
 *
 * Intake (telegram_wire.h says which messages count): each message is a
 * post with id "<chat>:<message>" in the conversation "<chat>" (a forum
 * topic: "<chat>/<topic>"; a Business chat: "b/<connection>/<chat>").  The
 * offset that confirms a batch of updates to Telegram is sent only after
 * every post of it is durably stored (post_done) and the connector's own
 * notes of it (business connections, migrated groups) are durable
 * (connector_commit): a crash in between brings the same updates again, and
 * the store's dedupe on the message identity makes that harmless.  Updates
 * waiting at the very first start are real customers waiting: answered.
 * The last confirmed update_id is kept as the cursor and used after a
 * restart only when younger than 6 days (after a week without updates
 * Telegram numbers them afresh).
 *
 * Telegram Business: business_connection updates are remembered (kind
 * "conn": owner, enabled, can_reply); a disabled connection, or one that
 * may not reply, gets no replies (final, logged).  A Business chat is
 * answered with business_connection_id, as the owner, only within 24 hours
 * of its last message (Telegram's rule, checked before the send).  A
 * message the owner writes in a customer's chat is a person taking over:
 * it is delivered as the business's own (post from_staff) and the
 * conversation is theirs until its ticket is resolved.
 *
 * Replies: sendMessage, plain text (no parse_mode: nothing to escape), cut
 * to 4,096 UTF-16 code units (tg_split), each part with reply_parameters
 * to the customer's message (allow_sending_without_reply), in its forum
 * topic.  A private row for a group conversation (the pipeline's "take it
 * offline") goes to the customer's private chat, quoting the group
 * message (a cross-chat reply; sent without the quote if Telegram cannot
 * find it).  Pace, before Telegram has to say so: one message a second per
 * chat, 20 a minute per group, `messages_per_second` (default 30) in all,
 * one message at a time per chat.  429 (parameters.retry_after) holds every
 * send and is stored with the row (not_before); 403 (blocked, can't
 * initiate a conversation, kicked), 400 chat not found and other 400s are
 * final; 400 with migrate_to_chat_id sends to the supergroup; 401 is the
 * token (above).
 *
 * No idempotency key: what is and is not guaranteed.  Before a message
 * goes out, a mark says so durably (connector state kind "sending": the
 * row, its part, its chat and its floor: the highest message id known in
 * that chat's numbering, never below the last message of the bot's own in
 * the chat).  When its outcome is unknown (the process died, the answer
 * never came, a 5xx, a kept-alive connection that died before the answer:
 * http.h never lets libcurl send it again by itself), the connector looks
 * for it before sending again: editMessageReplyMarkup without markup on
 * each message id after the floor changes nothing and answers "not
 * modified" only for a message of its own; one found counts as sent.  Ids
 * that are known not to be it are skipped without a request: those this
 * process saw since it started (customers' messages in updates, its own
 * sends, in the same numbering: private chats and basic groups share the
 * bot's), and the bot's own last TELEGRAM_OURS_KEEP messages in the chat, which are
 * stored with the rows they settled (kind "ours"), so that after a restart
 * an earlier reply in a busy group is never taken for the lost one.  After
 * a start nothing is sent or looked for before the updates waiting then
 * are read (their ids known).  At most TELEGRAM_PROBE_MAX requests are
 * made.  One message at a time per
 * chat makes the first of the bot's own after the mark the one looked for.
 * This finds the reply whenever Telegram kept it and the look-up reaches
 * it; it can miss when more than TELEGRAM_PROBE_MAX ids this process did
 * not see came after the mark (a busy group where privacy mode hides most
 * messages, or a restart after a busy minute), and then the reply is sent
 * again: a duplicate is possible there.  While a reply of unknown fate
 * waits to be looked for, nothing else is sent in its chat (for at most 2
 * minutes), so that the first message of the bot's own after its mark can
 * only be its own.  A lost reply would need a SIGKILL in the few
 * milliseconds between one reply's answer and the commit of its outcome
 * while an earlier reply in the same chat, never sent in truth, waited
 * with an unknown fate: its look-up could then take the other's message
 * for it.  A Business
 * chat's owner writing right after the mark could be taken for the reply
 * (the owner took over then anyway).  The 1,000-message soak with dropped
 * connections, lost answers and two SIGKILLs (tests/e2e/telegram.test.mjs)
 * runs in every `make test`.
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.
 */
#ifndef FD_TELEGRAM_H
#define FD_TELEGRAM_H

#include "config.h"
#include "connector.h"

#define TELEGRAM_POLL_S                25 /* long-poll timeout (Telegram caps it at 50) */
#define TELEGRAM_POLL_LIMIT            100
#define TELEGRAM_MAX_PARTS             16
#define TELEGRAM_MAX_INFLIGHT          8
#define TELEGRAM_RATE_DEFAULT          30 /* messages a second in all (Telegram's bot FAQ) */
#define TELEGRAM_RATE_MAX              1000
#define TELEGRAM_CHAT_GAP_MS           1050L /* one message a second per chat, and a margin */
#define TELEGRAM_GROUP_PER_MIN         20
#define TELEGRAM_BACKOFF_MIN_MS        1000L
#define TELEGRAM_BACKOFF_MAX_MS        (5L * 60 * 1000)
#define TELEGRAM_CONFLICT_MIN_MS       (30L * 1000)
#define TELEGRAM_UNAUTHORIZED_RETRY_MS (5L * 60 * 1000)
#define TELEGRAM_BUSINESS_WINDOW_S     (24L * 3600)
#define TELEGRAM_CURSOR_MAX_AGE_S      (6L * 86400)
#define TELEGRAM_PROBE_MAX             1000 /* requests looking for one reply of unknown fate */
#define TELEGRAM_OURS_KEEP             16   /* own message ids per chat kept across restarts */
#define TELEGRAM_STATE_DAYS            30

/*
 * Settings (the connector_conf's settings):
 *   instance: https://api.telegram.org     (default; http:// only on loopback)
 *   token_env: NAME | token_file: PATH     (the token @BotFather gave; required)
 *   messages_per_second: 30                (1..1000: more only with paid broadcasts)
 */
struct telegram_conf {
	char *instance; /* no trailing '/' */
	struct config_secret token;
	long rate;
};

extern const struct connector_ops telegram_ops;

#endif
