/*
 * messenger.h - the Messenger Platform connectors: `type: messenger` (a
 * Facebook Page's conversations) is this folder's; `type: instagram` (an
 * Instagram professional account's direct messages, connectors/instagram/)
 * runs on the same code with its own facts (struct messenger_kind).  Meta's
 * webhook in, the Send API out.  PLATFORMS.md, section Messenger and
 * Instagram, lists the behaviour; meta.h what they share with WhatsApp
 * (settings, the verified webhook, Graph API errors, sending each reply
 * once); messenger_wire.h parses and builds what goes over the wire.
 *
 *   - { type: messenger, page_id: "1234", token_env: PAGE_TOKEN,
 *       app_secret_env: META_APP_SECRET, verify_token_env: META_VERIFY_TOKEN,
 *       listen: 127.0.0.1:8083 }
 *   - { type: instagram, account_id: "1784...", token_env: IG_TOKEN, ... }
 *
 * In: every `messaging` event of an entry whose id is ours.  A customer's
 * message (or a tapped button) is a private post (post id the mid,
 * conversation "<page or account id>:<PSID or IGSID>").  Events under
 * `standby` belong to a conversation another app controls (the handover
 * protocol): never stored, never answered; handover notices
 * (messaging_handovers: control passed, taken or asked for) are logged.
 * Reads, deliveries, reactions, edits and deletions are no questions and
 * are skipped.  Echoes (what the Page or account sent) are never
 * questions: one carrying our marker confirms a reply (meta.h), one from
 * our own app (app_id, when configured) is ours too; any other echo (the
 * Page inbox, the Instagram app, another app) means a person of the
 * business answered on the platform: it is delivered as a post
 * `from_staff`, the conversation is theirs and the bot goes quiet in it
 * until its ticket is resolved.
 *
 * Out: POST /{version}/me/messages?access_token=<token>, to the customer's
 * id, quoting the message answered (reply_to), the marker in the message's
 * metadata, messaging_type RESPONSE: the bot's replies only within 24
 * hours of the customer's last message.  A person's reply after that goes
 * as MESSAGE_TAG with tag HUMAN_AGENT, up to 7 days (human_agent: false
 * when the app lacks the Human Agent permission: 24 hours for people too);
 * the outbox fails a bot reply past its window, and the dashboard and
 * `frontdesk queue` refuse a person's, saying why.  Messenger takes 2,000
 * characters a message (the daemon splits there); a kind with a byte limit
 * (Instagram: 1,000 bytes of UTF-8) cuts each outbox row again with its
 * own split.
 *
 * Mark as read: when a person opens the conversation in the dashboard, the
 * customer is shown it was seen (sender_action mark_seen).
 *
 * Ownership and errors as for every connector (connector.h); a kind is a
 * static table that outlives everything.
 */
#ifndef FD_MESSENGER_H
#define FD_MESSENGER_H

#include <stddef.h>

#include "connector.h"

struct config_parser;

/* What differs between the Messenger Platform's products. */
struct messenger_kind {
	const char *type;         /* "messenger" */
	const char *title;        /* "Messenger" */
	const char *object;       /* the delivery's `object` */
	const char *id_key;       /* the configuration key of our id ("page_id") */
	const char *id_hint;      /* where a business finds it */
	const char *staff;        /* the author a person answering on the platform is shown as */
	const char *whoami_field; /* the field of GET /{id} naming us */
	size_t max_bytes;         /* bytes of UTF-8 of one message, 0 = characters only (max_text) */
	/* Cut text into parts of at most max_bytes (for max_bytes != 0): as
	 * outbox_split, parts malloc'd, the count returned. */
	size_t (*split)(const char *text, size_t max_bytes, char **parts, size_t max_parts);
};

/* The settings of kind k (connector_ops.parse of that type). */
void *messenger_settings_parse(struct config_parser *p, const struct messenger_kind *k);

/* The keys every kind takes besides its id key (for its key list). */
#define MESSENGER_KEYS "app_id", "human_agent"

/* The running half of connector_ops, the same for every kind (with
 * meta.h's META_CONNECTOR_OPS). */
void messenger_free_settings(void *settings);
int messenger_start(struct connector *c);
int messenger_send(struct connector *c, const struct outmsg *m);
void messenger_mark_read(struct connector *c, const char *thread_key);

#endif
