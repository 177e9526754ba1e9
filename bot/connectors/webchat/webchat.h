/*
 * webchat.h - the built-in web chat connector: a WebSocket at /chat on its
 * own listener, the demo shop page at / and the embeddable /widget.js
 * (docs/webchat-protocol.md is the contract it implements).
 *
 *   server -> {"type":"welcome","visitor":TOKEN,"open":BOOL,"history":[MESSAGE...]}
 *   client -> {"type":"message","text":"...","client_id":"..."?}
 *   server -> MESSAGE = {"type":"message","id":"..","from":"customer|bot|agent",
 *                        "agent":"Sam"?,"text":"..","ts":"ISO-8601","client_id":".."?}
 *   server -> {"type":"error","error":"reason"}
 * Additions (fields may be added): welcome carries "business"; a client may
 * leave an e-mail address for a follow-up with {"type":"email","email":".."},
 * answered {"type":"email","email":".."} once it is stored; an error about
 * one message carries its "client_id".  The welcome's history holds the
 * WEBCHAT_HISTORY most recent messages and "more": true when there are
 * older ones, which the client reads a page at a time:
 *   client -> {"type":"history","before":ID}   (the oldest message it has)
 *   server -> {"type":"history","before":ID,"messages":[MESSAGE...],"more":BOOL}
 * A visitor is stored with its first message (or e-mail address), never
 * for a connection alone.  The welcome says "ticket": true when a person
 * has the conversation (an open ticket), and carries the "email" the
 * visitor left; {"type":"ticket","open":true} follows the echo of the
 * message that handed the conversation to a person.  An agent's reply that
 * finds no open connection of its visitor is mailed to the address the
 * visitor left (connector_mail_away), with a link back to the
 * conversation: page_url (or the bot's own page) with #frontdesk=TOKEN.
 * Who the visitor is (docs/webchat-protocol.md):
 *   client -> {"type":"identify","id":"..","name"?,"email"?,"hash":"<hex HMAC-SHA256 of id>"}
 *   server -> {"type":"identify","verified":true|false,"error"?:".."}
 *   client -> {"type":"contact","name"?:"..","email"?:".."}   (the pre-chat form)
 *   server -> {"type":"contact","name"?}, and {"type":"email"} for an address
 * and the welcome says "identity": true when identify is set up, and
 * "pre_chat": {"name": "off|optional|required", "email": ...} when the form
 * is.  A hash that does not match is refused (the visitor stays
 * anonymous); what either tells is filed under the visitor's contact once
 * the visitor is stored.
 *
 * A customer message is echoed only after the transaction that stored it
 * committed; a re-sent client_id is echoed again with its original id and
 * neither stored nor answered again.  Bot and agent messages are pushed to
 * every open connection of the visitor; a visitor who is away finds them in
 * the history on return.  Limits (per connector): connections per address,
 * messages per minute per connection and per address, allowed Origins
 * (none configured: only the bot's own page, and clients that send no
 * Origin), WEBCHAT_MAX_FRAME bytes per frame (larger: error, then close
 * 1009), WEBCHAT_MAX_TEXT characters per message.
 *
 * Ownership: the connector's state hangs off struct connector.priv and is
 * freed by its destroy op.
 */
#ifndef FD_WEBCHAT_H
#define FD_WEBCHAT_H

#include "config.h"
#include "connector.h"

#define WEBCHAT_MAX_FRAME           8192 /* bytes of one client frame */
#define WEBCHAT_MAX_TEXT            2000 /* characters of one customer message */
#define WEBCHAT_MAX_CLIENT_ID       64
#define WEBCHAT_HISTORY             50 /* most recent messages sent in a welcome */
#define WEBCHAT_HISTORY_PAGE        50 /* older messages sent for one history request */
#define WEBCHAT_HISTORY_PER_MINUTE  60 /* history requests one connection may make */
#define WEBCHAT_TYPING_PER_MINUTE   30 /* typing frames of one connection passed on */
#define WEBCHAT_DEFAULT_LISTEN      "127.0.0.1:8080"
#define WEBCHAT_DEFAULT_CONNS       20  /* limits.connections_per_address */
#define WEBCHAT_DEFAULT_CONNECTIONS 512 /* limits.connections (the whole listener) */
#define WEBCHAT_DEFAULT_MPM         30  /* limits.messages_per_minute */
#define WEBCHAT_MAX_NAME            128 /* characters of a name a visitor gives */

/*
 * The settings of one web chat (its connector_conf's settings), besides
 * `listen` (connector_conf.listen, default WEBCHAT_DEFAULT_LISTEN):
 *   limits: { connections, connections_per_address, messages_per_minute }
 *   allowed_origins: ["https://www.example.com", ...]
 *   page_url: https://www.example.com/contact  (links in e-mails to visitors)
 *   trusted_proxies: [127.0.0.1, ...], proxy_header: x-forwarded-for | forwarded
 *   identity_secret_env | identity_secret_file: NAME
 *   pre_chat: { name: off|optional|required, email: off|optional|required }
 * The connection limits and the proxies are the listener's (server.h):
 * they count every connection from its accept on, before any upgrade.
 */
enum webchat_field { WEBCHAT_OFF = 0, WEBCHAT_OPTIONAL, WEBCHAT_REQUIRED };

struct webchat_conf {
	long max_connections;
	long connections_per_address;
	long messages_per_minute;
	char **allowed_origins; /* NULL-terminated, no trailing '/'; NULL = only the bot's own page */
	char *page_url;         /* the page of the business's site with the chat (links in
	                           e-mails to visitors), NULL = the bot's own page */
	struct config_proxies proxies;
	/* identity_secret_env / _file: the key of the HMAC a site's server
	 * computes over a customer id (identity.h); unset: identify is refused. */
	struct config_secret identity_secret;
	/* pre_chat: a form before a new visitor's first message (off when both are). */
	enum webchat_field pre_chat_name, pre_chat_email;
	/* widget: how the widget looks and what it says (colour, title,
	 * greeting, position, launcher, strings), as the JSON object served
	 * inside /widget.js; NULL: the widget's own defaults. */
	char *widget_json;
};

extern const struct connector_ops webchat_ops;

#endif
