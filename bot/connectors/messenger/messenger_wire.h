/*
 * messenger_wire.h - what the Messenger Platform sends to the webhook for a
 * Facebook Page (`object: page`) or an Instagram professional account
 * (`object: instagram`), and what the connector sends back, as plain
 * functions: parse a delivery, build a Send API body.  PLATFORMS.md, section Messenger and Instagram,
 * is the reference; messenger.c is the connector that uses these.
 *
 * Nothing here does I/O or keeps state: the connector, the unit tests and
 * the fuzz target call the same code.
 *
 * A delivery: {"object","entry":[{"id":"<page or IG id>","time",
 * "messaging":[...], "standby":[...]}]}; several entries per POST, several
 * events per entry.  An event: {"sender":{"id"},"recipient":{"id"},
 * "timestamp":<ms>,"message":{"mid","text","attachments"?,"is_echo"?,
 * "app_id"?,"metadata"?}} or a "postback" {"mid"?,"title","payload"}.
 * Echoes (what the Page itself sent) have the Page as sender.  Events under
 * `standby` belong to a thread another app controls: parsed (and marked),
 * never answered.  Handover notices (pass_thread_control,
 * take_thread_control, request_thread_control) are events of their own.
 * Reads, deliveries, reactions, edits and deletions are skipped.
 *
 * Text: the message's text, else a placeholder naming what arrived ("(a
 * photo)", "(a voice message)"), cut to POST_MAX_TEXT bytes at a character
 * boundary.  An event without a usable id is skipped (counted).
 *
 * Ownership: a parsed delivery owns its allocations (messenger_delivery_free);
 * builders return malloc'd strings.
 */
#ifndef FD_MESSENGER_WIRE_H
#define FD_MESSENGER_WIRE_H

#include <stddef.h>
#include <time.h>

#include "connectors/meta/meta.h"
#include "store.h"

#define MESSENGER_OBJECT    "page"
#define INSTAGRAM_OBJECT    "instagram"
#define MESSENGER_MAX_CHARS 2000 /* characters of one Messenger text */

#define MESSENGER_MAX_EVENTS   5000              /* events taken from one delivery */
#define MESSENGER_INBOX_APP_ID "263902037430900" /* the Page inbox (PLATFORMS.md: unconfirmed) */
#define MESSENGER_HUMAN_AGENT  "HUMAN_AGENT"

enum messenger_event_kind {
	MESSENGER_MESSAGE = 0, /* a customer's message (or postback) */
	MESSENGER_ECHO,        /* what the Page (or IG account) sent: ours, another app's or a person's */
	MESSENGER_HANDOVER     /* the handover protocol: control of the conversation passed, taken or
	                          asked for (no mid, no text) */
};

struct messenger_event {
	enum messenger_event_kind kind;
	int standby;                    /* another app owns the thread: never answered */
	char owner[META_MAX_ID + 1];    /* the entry: Page or IG account id */
	char customer[META_MAX_ID + 1]; /* PSID / IGSID: the sender, or an echo's recipient */
	char mid[META_MAX_ID + 1];      /* the message id (a postback without one: "pb.<sender>.<ms>") */
	char app_id[32];                /* echoes: the app that sent it; handovers: the new (or asking)
	                                   owner; "" none */
	char handover[24];              /* handovers: "pass_thread_control", "take_thread_control",
	                                   "request_thread_control" */
	char marker[STORE_MAX_KEY + 1]; /* echoes: metadata, "" none */
	time_t ts;                      /* timestamp (ms) in seconds */
	char *text;                     /* never NULL ("" for a handover) */
};

struct messenger_delivery {
	struct messenger_event *events;
	size_t n;
	size_t skipped;
};

/*
 * Parse a delivery whose `object` must be `object` ("page" or "instagram").
 * 0 with d filled (free it), or -1 with a reason in err (d empty).
 */
int messenger_parse(const char *body, size_t len, const char *object, struct messenger_delivery *d, char *err,
                    size_t errn);
void messenger_delivery_free(struct messenger_delivery *d);

/*
 * The Send API body of a text to `to`: messaging_type RESPONSE, or
 * MESSAGE_TAG with tag HUMAN_AGENT when `human_agent`; the marker as the
 * message's metadata; reply_to the message it answers (may be NULL).  NULL
 * when text is not UTF-8.
 */
char *messenger_reply_body(const char *to, const char *text, int human_agent, const char *reply_to,
                           const char *marker);

/* The body that shows `to` their messages were seen (sender_action mark_seen). */
char *messenger_seen_body(const char *to);

#endif
