/*
 * notify.h - telling the business that the human queue needs someone:
 * webhooks (Slack, Discord, Mattermost, or plain JSON) and e-mail over SMTP,
 * for each `notify:` entry of the configuration.
 *
 * What is sent, per entry, for tickets at or above its min_priority:
 *   new_ticket      a ticket was opened
 *   due_soon        a response target is about to be missed (sla.h says when)
 *   missed          a response target was missed
 *   customer_wrote  the customer wrote again in a thread an agent claimed
 *                   (the text names the assignee)
 * A flood becomes a digest: when an entry already had NOTIFY_DIGEST_AFTER
 * new-ticket notifications within NOTIFY_DIGEST_WINDOW seconds, further new
 * tickets are not announced one by one but held for NOTIFY_DIGEST_WINDOW
 * seconds from the first one held, then listed in one digest message (a
 * flood that goes on makes one digest per window).
 *
 * Durability: a notification is an outbox row (kind OUT_NOTIFY) written in
 * the same transaction as its cause (the post that opened the ticket, the
 * SLA mark), so a crash neither loses nor repeats it; the outbox retries it
 * with backoff.  The row holds the event as JSON (NOTIFY_PAYLOAD_MAX bytes
 * at most); it is rendered for the entry's format only when sent.  Each
 * entry is a connector-like sink named "notify-1", "notify-2", ... (its
 * position in the config) that the daemon's outbox dispatches to.  A
 * digest is one message for several rows; every row it covers is settled
 * with the outcome of that message.  The row's idempotency key names the
 * event (sink, event, ticket, message), so one event is queued once per
 * sink; it is sent as the webhook's Idempotency-Key header and makes the
 * e-mail's Message-ID, so a receiver can drop a retried duplicate.
 *
 * Never in a notification: secrets (webhook URLs and SMTP passwords are
 * read with config_read_secret and never logged), raw customer text
 * (cut to NOTIFY_TEXT_MAX characters, control characters removed, and
 * mentions like @everyone, @here, <!channel>, <@123> broken so no chat
 * platform pings anyone).  In the chat formats the customer's text, name and
 * platform are also made inert for that format's syntax when rendered
 * (markup.h): a markdown link or image, or Slack's <url|text>, shows as the
 * characters typed; and link previews are off (Slack unfurl_links /
 * unfurl_media false, Discord flags SUPPRESS_EMBEDS), so a customer's link
 * never pulls a preview or an image into the staff channel.
 *
 * Ownership: notify_new copies the struct notify_env and borrows what it
 * points to (the loop, store, config and metrics must outlive the
 * notifier; a notifier built from a configuration that a reload replaced
 * may only be freed once notify_idle says nothing is in flight).
 * The sinks returned by notify_sink belong to the notifier: the daemon may
 * set their `daemon` member and dispatch to them, but never frees them.
 * Strings a struct notify_ticket points to are borrowed for the call.
 */
#ifndef FD_NOTIFY_H
#define FD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

struct config;
struct hours;
struct notify_conf;
struct connector;
struct loop;
struct metrics;
struct post;
struct decision;
struct store;
struct store_thread;
struct store_recorded;
struct store_out;

#define NOTIFY_TEXT_MAX      200   /* characters of customer text in a notification */
#define NOTIFY_PAYLOAD_MAX   24576 /* bytes of one stored event (a customer reply holds the whole text) */
#define NOTIFY_DIGEST_AFTER  3     /* individual new-ticket messages per window... */
#define NOTIFY_DIGEST_WINDOW 60    /* ...of this many seconds; more become a digest */
#define NOTIFY_DIGEST_LIST   25    /* tickets listed by name in one digest */
#define NOTIFY_DIGEST_ROWS   1000  /* rows one digest settles at most */

enum notify_event {
	NOTIFY_NEW_TICKET = 0,
	NOTIFY_DUE_SOON,
	NOTIFY_MISSED,
	NOTIFY_CUSTOMER_WROTE,
	NOTIFY_CUSTOMER_REPLY, /* to a customer: an agent's reply they were not there to read */
	NOTIFY_EVENT_COUNT
};
enum notify_format { NOTIFY_JSON = 0, NOTIFY_SLACK, NOTIFY_DISCORD, NOTIFY_MATTERMOST, NOTIFY_EMAIL };

const char *notify_event_name(enum notify_event e); /* "new_ticket", ... */
/* The webhook format called s (NULL = json); -1 if unknown. */
int notify_format_parse(const char *s);

/* A ticket as a notification tells it. */
struct notify_ticket {
	int64_t id;
	const char *status; /* waiting | claimed | resolved */
	enum priority priority;
	const char *reason; /* decision reason, or NULL */
	const char *platform;
	const char *author;
	const char *assignee; /* agent login, or NULL */
	const char *text;     /* the customer's latest message (raw; cut and neutralised here) */
	time_t created;
	time_t due; /* 0 = none */
};

/* One stored event, read back from an outbox row (notify_event_parse). */
struct notify_item {
	enum notify_event event;
	time_t at;              /* when it happened */
	time_t digest;          /* > 0: part of the digest sent at this time */
	struct notify_ticket t; /* strings owned by the item (notify_item_free) */
	/* NOTIFY_CUSTOMER_REPLY: the customer's address, who wrote, the link
	 * back to the conversation and the business's name; t.text is the
	 * reply, t.id its ticket (0 unknown).  Owned by the item. */
	char *to, *agent, *link, *business;
};

/* ---- the daemon's side ------------------------------------------------ */

/*
 * What the notifier needs from the daemon.  `queued` (may be NULL) is
 * called for every outbox row the notifier adds to the open transaction;
 * after the commit the daemon's outbox must deliver it, not before
 * not_before_ms (epoch ms; rows held for a digest have a later one), which
 * reading the pending rows from the store after each commit does.
 * Rows are only ever written inside the caller's transaction; `commit` is
 * not called by the notifier (sla_new takes the commit function it uses).
 */
struct notify_env {
	struct loop *loop;
	struct store *store;
	const struct config *cfg;
	struct metrics *metrics; /* may be NULL */
	void (*queued)(void *arg, const struct store_out *row);
	int (*commit)(void *arg);
	void *arg;
};

struct notifier;

/*
 * One sink per cfg->notify entry.  Reads every secret now (webhook URL
 * from url_env/url_file, SMTP password): a secret that cannot be read
 * disables that entry with one error line, the others still work.
 * Never NULL (with no entries the notifier simply has no sinks).
 */
struct notifier *notify_new(const struct notify_env *env);
/* Sinks have nothing in flight (drain). */
int notify_idle(const struct notifier *n);
/* Free the notifier and its sinks.  Requests still in flight must have
 * completed (they do, with HTTP_E_CANCELLED, during loop teardown). */
void notify_free(struct notifier *n);

size_t notify_sink_count(const struct notifier *n);
struct connector *notify_sink(struct notifier *n, size_t i);
/* The sink named `name` ("notify-2"), or NULL: for the outbox's find. */
struct connector *notify_find(struct notifier *n, const char *name);

/*
 * After store_record_post, in the same transaction: announce a ticket the
 * post opened, or the customer's new message in a thread an agent claimed
 * (`before` is the thread as it was before the post).  Returns the number
 * of notifications queued, or -1 on a store error (logged; the caller may
 * ignore it: the ticket itself is stored either way).
 */
int notify_post_recorded(struct notifier *n, const struct store_thread *before, const struct decision *d,
                         const struct store_recorded *rec, time_t now);

/*
 * An agent's reply to a customer who was not there to read it (a web chat
 * visitor who left), sent to the address they left through the first
 * e-mail entry of `notify` (its SMTP settings; not its recipients nor its
 * filters), as an outbox row in the open group: `m` says to whom, what and
 * the link back to the conversation.  Each agent message is mailed once
 * (its row's key names the message).  Returns 1 queued, 0 when there is no
 * usable e-mail entry (logged once) or it was queued before, -1 on a store
 * error.
 */
struct connector_mail;
int notify_customer_reply(struct notifier *n, const struct connector_mail *m, time_t now);

/*
 * Queue `ev` about ticket `id` (read from the store's ticket read model)
 * for every sink whose min_priority it meets, in the open group.  Used by
 * sla.c for due_soon and missed.  Same returns as notify_post_recorded
 * when the store answered at once; when it answers later the
 * notifications are queued then and 0 is returned (errors are logged);
 * 0 when the ticket does not exist.
 */
int notify_ticket(struct notifier *n, enum notify_event ev, int64_t id, const char *text, time_t now);

/* ---- the pieces, for tests -------------------------------------------- */

/*
 * Customer text made safe to repeat: at most max_chars code points (when
 * cut, at a word when one ends in the last fifth, then "…"), control
 * characters and line breaks turned into spaces, runs of white space
 * collapsed, invalid UTF-8 replaced by U+FFFD, and mentions broken with a
 * zero-width space: "@everyone" -> "@\u200beveryone", "<!channel>" ->
 * "<\u200b!channel>", "<@123>" -> "<\u200b@123>".  Appends to out.
 */
void notify_neutralise(struct buf *out, const char *text, size_t max_chars);

/*
 * Digest grouping for one sink.  notify_window_admit says what to do with
 * a new-ticket notification at `now`: 0 = send it on its own; 1 = hold it
 * for the digest sent at *digest_at (every notification held in one burst
 * gets the same time).
 */
struct notify_window {
	time_t recent[NOTIFY_DIGEST_AFTER]; /* times of the last individual or held ones */
	size_t n, next;
	time_t digest_at; /* current burst's digest time, 0 none */
};
int notify_window_admit(struct notify_window *w, time_t now, time_t *digest_at);

/* The stored event (JSON object) for t.  Appends to out; -1 if it would not
 * fit NOTIFY_PAYLOAD_MAX (cannot happen with cut text). */
int notify_event_json(enum notify_event ev, const struct notify_ticket *t, time_t at, time_t digest,
                      struct buf *out);
/* Parse a stored event.  0, or -1 when it is not one (then nothing to free). */
int notify_event_parse(const char *json, struct notify_item *out);
void notify_item_free(struct notify_item *it);

/*
 * The message for items[0..n) (n > 1: a digest of new tickets) as a
 * webhook body in `format` (JSON) or, for NOTIFY_EMAIL, the plain-text body.
 * `tz` is the business's hours (times are shown in its zone), may be NULL
 * for UTC.  Appends to out.
 */
void notify_render(enum notify_format format, const struct notify_item *items, size_t n, time_t now,
                   const struct hours *tz, struct buf *out);
/* The one-line summary used as the e-mail subject and chat text head. */
void notify_subject(const struct notify_item *items, size_t n, struct buf *out);

/* The stored event for a customer reply (NOTIFY_CUSTOMER_REPLY).  Appends
 * to out; -1 if it would not fit NOTIFY_PAYLOAD_MAX. */
int notify_reply_json(const struct connector_mail *m, const char *business, time_t at, struct buf *out);
/*
 * The e-mail for a customer reply: a subject naming the business, and a
 * plain body with who wrote, the reply as written, and the link back to
 * the conversation.  `reply_to` (the business's contact address, or NULL)
 * says whether answering the e-mail reaches someone.  Appends to both.
 */
void notify_reply_email(const struct notify_item *it, const char *reply_to, struct buf *subject,
                        struct buf *body);

/*
 * A complete RFC 5322 message (CRLF line ends): From, To, Reply-To (when
 * reply_to is not NULL), Subject (RFC 2047
 * encoded when not ASCII), Date, Message-ID (<msgid@domain of from>),
 * MIME-Version, Content-Type text/plain; charset=utf-8,
 * Content-Transfer-Encoding base64, and the body.  Header values are
 * stripped of CR/LF.  Appends to out.
 */
void notify_email_message(const char *from, const char *const *to, const char *reply_to, const char *subject,
                          const char *body, time_t date, const char *msgid, struct buf *out);

#endif
