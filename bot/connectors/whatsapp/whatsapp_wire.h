/*
 * whatsapp_wire.h - what WhatsApp's Cloud API sends to the webhook and what
 * the connector sends back, as plain functions: parse a delivery (its
 * customer messages with the contact's name, and the statuses of what we
 * sent), build a reply and a "mark as read".  PLATFORMS.md, section
 * WhatsApp, is the reference; whatsapp.c is the connector that uses these.
 *
 * Nothing here does I/O or keeps state: the connector, the unit tests and
 * the fuzz target call the same code.
 *
 * A delivery: {"object":"whatsapp_business_account","entry":[{"id","changes":
 * [{"field":"messages","value":{"metadata":{"phone_number_id"},"contacts":
 * [{"profile":{"name"},"wa_id"}],"messages":[...],"statuses":[...]}}]}]}.
 * Several entries and changes may come in one POST, and each change may
 * hold many messages or statuses.  Ids and timestamps are strings.
 *
 * Messages become text: a text's body, a button's or list reply's title, a
 * caption, else a short placeholder naming what arrived ("(a photo)",
 * "(a voice message)", "(a location: ...)"), so a person sees there is
 * something to look at.  Reactions and system notices are not questions
 * and are skipped.  Text is cut to POST_MAX_TEXT bytes at a character
 * boundary.  An item with a missing or unusable id is skipped (counted),
 * never half-used.
 *
 * Ownership: a parsed delivery owns its allocations (whatsapp_delivery_free).
 * Builders return malloc'd JSON.
 */
#ifndef FD_WHATSAPP_WIRE_H
#define FD_WHATSAPP_WIRE_H

#include <stddef.h>
#include <time.h>

#include "connectors/meta/meta.h"
#include "store.h"

#define WHATSAPP_OBJECT    "whatsapp_business_account"
#define WHATSAPP_MAX_CHARS 4096 /* characters of one text message */
#define WHATSAPP_MAX_ITEMS 5000 /* messages + statuses taken from one delivery */
#define WHATSAPP_NAME_MAX  256  /* bytes of a contact's name */

struct whatsapp_message {
	char id[META_MAX_ID + 1];              /* wamid */
	char from[META_MAX_ID + 1];            /* the customer's wa_id, exactly as given */
	char phone_number_id[META_MAX_ID + 1]; /* the business number it came to */
	char context_id[META_MAX_ID + 1];      /* the message it quotes, "" none */
	char type[32];
	time_t ts;
	char *name; /* the contact's profile name, or NULL */
	char *text; /* never NULL */
};

struct whatsapp_status {
	char id[META_MAX_ID + 1];              /* the wamid of our message */
	char status[16];                       /* sent, delivered, read, failed, ... */
	char recipient[META_MAX_ID + 1];       /* the customer's wa_id */
	char phone_number_id[META_MAX_ID + 1]; /* the business number */
	char marker[STORE_MAX_KEY + 1];        /* biz_opaque_callback_data, "" none */
	time_t ts;
	int failed; /* errors[] present */
	struct meta_error err;
};

struct whatsapp_delivery {
	struct whatsapp_message *msgs;
	size_t nmsgs;
	struct whatsapp_status *statuses;
	size_t nstatuses;
	size_t skipped; /* items left out: unusable, reactions, system notices */
};

/*
 * Parse a delivery.  0 with d filled (free it), or -1 with a reason in err
 * when it is not JSON or not a WhatsApp delivery (d is then empty).
 */
int whatsapp_parse(const char *body, size_t len, struct whatsapp_delivery *d, char *err, size_t errn);
void whatsapp_delivery_free(struct whatsapp_delivery *d);

/* The thread key of a customer on a business number: "<phone_number_id>:<wa_id>". */
void whatsapp_thread_key(const char *phone_number_id, const char *wa_id, char *out, size_t n);

/* The body of a text reply to `to` (as given), quoting context_id when not
 * NULL, carrying marker as biz_opaque_callback_data.  NULL when text is not
 * UTF-8. */
char *whatsapp_reply_body(const char *to, const char *text, const char *context_id, const char *marker);

/* The body that marks message_id (and everything before it) as read. */
char *whatsapp_read_body(const char *message_id);

#endif
