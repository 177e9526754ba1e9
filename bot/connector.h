/*
 * connector.h - the one small interface every platform implements, and the
 * registry of connector types with the services they use (docs/connectors.md:
 * the configuration contract, and the guide for writing one).
 *
 * A connector type is one folder, bot/connectors/<name>/, exporting one
 * `const struct connector_ops <name>_ops`, plus one line in the list at
 * the top of connector.c.  The ops carry both halves of the type:
 *
 *   configuration  `keys` (beyond type, name and channel) and `parse`,
 *                  which reads them with config.h's config_key_* helpers
 *                  into the type's own settings struct (cc->settings);
 *                  config.c, rules.c and `frontdesk check` ask the
 *                  registry, so a type this build does not have is refused
 *                  at `check` with the list of those it has;
 *   running        start, stop, send, idle, close, destroy, post_done.
 *
 * Data flow: a connector turns platform events into `struct post` and hands
 * each to connector_deliver_post(); the daemon decides and records it in the
 * current group transaction, and once that transaction is durable it calls
 * ops->post_done() for the post (that is the moment to acknowledge it to the
 * platform, echo it to a web chat client or advance a catch-up cursor;
 * never earlier).  Later the outbox asks the connector to send rows with
 * ops->send(); the connector reports the outcome of every send with
 * connector_send_done(), possibly from inside ops->send itself.
 *
 * Ownership: the daemon owns every struct connector (connector_new, one per
 * configured connector, freed by connector_free after the loop ended); a
 * connector's private state hangs off `priv` and is freed by ops->destroy.
 * c->conf and its settings belong to the start-up configuration and stay
 * valid for the whole run.  Strings in a struct outmsg and a struct
 * post_ack are borrowed for the duration of the call only.  The cookie
 * passed to connector_deliver_post is the connector's and is handed back
 * unchanged to ops->post_done exactly once.
 *
 * Errors: ops->start returns -1 only for what retrying cannot fix
 * (unreadable secret, unusable settings); the daemon then exits 1.
 * Everything met at run time is retried with backoff, and what needs a
 * person (a refused token) is reported with connector_fatal(): an error
 * line in the log and `down` with the reason in /healthz.
 */
#ifndef FD_CONNECTOR_H
#define FD_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "post.h"

struct connector_conf;
struct config_parser;
struct connector;
struct loop;
struct server;
struct store;
struct metrics;
struct config;

/* One reply (or message) to deliver, from an outbox row. */
struct outmsg {
	int64_t id; /* outbox row id */
	const char *thread_key;
	const char *reply_to_id; /* platform post id the reply answers, or NULL */
	const char *text;        /* already cut to the platform's length limit */
	const char *idem_key;    /* stable across retries of this row */
	const char *from;        /* "bot" or "agent" */
	const char *agent;       /* agent's display name, or NULL */
	int64_t message_id;      /* stored conversation message id (web chat history) */
	time_t ts;               /* when the message was written */
	/* Deliver in private (the pipeline's "take it offline", or a private
	 * conversation): on platforms where a DM is a channel of its own
	 * (Slack, Discord, Mattermost) post into the DM with `recipient`
	 * (connector_dm_channel), on Mastodon with visibility direct.  The
	 * public pointer, when there is one, is a row of its own before this
	 * one, with is_private 0. */
	int is_private;
	const char *recipient; /* the customer's platform id (the post's author), or NULL */
	int attempt;           /* 0 on the first try */
	/* When the customer last wrote in this conversation (the platform's
	 * time of their newest message), 0 unknown: where replies are allowed
	 * only within a window after it (connector_conf.reply_window), the
	 * outbox checked it before the send; Messenger picks its message type
	 * by it. */
	time_t last_in;
	/* The message is the satisfaction question for this ticket (0: not):
	 * where the platform can, show rating buttons with it (web chat). */
	int64_t rating;
};

enum send_result {
	SEND_OK = 0, /* delivered */
	SEND_RETRY,  /* transient failure: retry with backoff (or after retry_after) */
	SEND_FAIL,   /* permanent failure: give up and log (e.g. 4xx validation) */
	SEND_LATER   /* not sent: a rate limit of this row's own route (a Discord channel's
	                bucket), or the connector itself (a refused token at a stop), holds
	                it; retried not before retry_after seconds, stored with the row,
	                without counting an attempt or holding the connector's other rows */
};

/* What became of a post handed to connector_deliver_post. */
enum post_status {
	POST_STORED = 0, /* durably stored (and decided) */
	POST_DUPLICATE,  /* already stored earlier: not decided again */
	POST_FAILED      /* could not be stored (commit failed): not acknowledged */
};

struct post_ack {
	enum post_status status;
	/* The customer's stored message (the original one for a duplicate),
	 * 0 if failed, and its stored time. */
	int64_t message_id;
	time_t ts;
	const char *client_id; /* as given in the post, or NULL */
	int64_t ticket_id;     /* the open ticket the post opened or joined, 0 none */
};

/* An agent's message its customer was not there to read, for the address
 * the customer left (connector_mail_away).  Strings are borrowed. */
struct connector_mail {
	int64_t message_id; /* the agent's stored message */
	const char *to;     /* the customer's e-mail address */
	const char *agent;  /* the agent's display name, or NULL */
	const char *text;
	const char *link; /* back to the conversation, or NULL */
};

/* HEALTH_STANDBY: a connector that runs in one process at a time, waiting
 * here while another process runs it (healthy: /healthz says ok). */
enum connector_health { HEALTH_STARTING = 0, HEALTH_OK, HEALTH_DEGRADED, HEALTH_DOWN, HEALTH_STANDBY };

/* What a platform can do (connector_ops.caps). */
enum {
	/* The platform shows customers who wrote a message (the agent's name
	 * beside it): an agent's reply carries no appended signature.  Where
	 * it cannot (Mastodon and the like), replies are signed "— Sam". */
	CONNECTOR_SHOWS_SENDER = 1u << 0,
	/* The platform allows one consumer per account at a time (a Telegram
	 * poller, one Mastodon stream per token; not Slack, whose Socket Mode
	 * spreads envelopes over up to 10 sockets): where several frontdesk
	 * processes share a store, the connector runs only in the one that
	 * leads its name (connector_start; docs/connectors.md has the table of
	 * which types do).  A constant of the type: no type today reads one
	 * account in two ways (a webhook mode would run everywhere). */
	CONNECTOR_ONE_CONSUMER = 1u << 1,
};

struct connector_ops {
	const char *type;
	const char *title; /* the platform's name for people ("WhatsApp"), or NULL: the type */
	size_t max_text;   /* platform's message length limit in characters, 0 = none */
	unsigned caps;     /* CONNECTOR_* */

	/* Configuration: the keys this type takes besides type, name and
	 * channel (NULL-terminated), and the parser that reads them.  parse
	 * returns the type's settings struct (malloc'd; NULL when the type has
	 * none) after reporting every problem through p; it also runs for the
	 * built-in default connector with p->map NULL (every key absent).
	 * free_settings releases what parse returned (may be NULL when parse
	 * returns nothing to free). */
	const char *const *keys;
	void *(*parse)(struct config_parser *p);
	void (*free_settings)(void *settings);

	int (*start)(struct connector *c); /* 0 or -1 (logged) */
	void (*stop)(struct connector *c); /* stop intake; keep what delivery needs */
	/* Take posts in again after a stop that was not the daemon's (this
	 * process leads the connector again).  Required with
	 * CONNECTOR_ONE_CONSUMER, unused otherwise. */
	void (*resume)(struct connector *c);
	int (*send)(struct connector *c, const struct outmsg *m); /* async; 0 queued, -1 retry later */
	int (*idle)(struct connector *c);                         /* 1 when nothing is in flight (drain) */
	void (*close)(struct connector *c);   /* teardown: uv_close its own uv handles (may be NULL) */
	void (*destroy)(struct connector *c); /* free priv (after the loop ended) */
	/* After the group commit: the fate of a post delivered with `cookie`.
	 * May be NULL when the connector does not care. */
	void (*post_done)(struct connector *c, void *cookie, const struct post_ack *a);
	/* A person opened the conversation in the dashboard: show the customer
	 * their messages were read where the platform can (WhatsApp's blue
	 * ticks).  Best effort, asynchronous; may be NULL. */
	void (*mark_read)(struct connector *c, const char *thread_key);
	/* A person of the team is typing a reply in conversation thread_key
	 * (on 1), or stopped (on 0): show it to the customer where the
	 * platform can (the web chat's "Sam is typing...").  Best effort; may
	 * be NULL. */
	void (*typing)(struct connector *c, const char *thread_key, const char *agent, int on);
};

/*
 * What the daemon lends its connectors: filled once by the daemon and
 * shared by every connector (and the notification sinks, which are
 * connectors too).  Members are borrowed; callbacks run on the loop.
 */
struct connector_host {
	void *arg;
	struct loop *loop;
	struct server *server;
	struct store *store;
	struct metrics *metrics;
	const struct config *(*config)(void *arg); /* the running configuration */
	int (*stopping)(void *arg);
	/* Decide and record a post (see connector_deliver_post). */
	int (*deliver)(void *arg, struct connector *c, const struct post *p, void *cookie);
	/* A send finished (see connector_send_done). */
	void (*send_done)(void *arg, struct connector *c, int64_t outbox_id, enum send_result r,
	                  long retry_after, const char *detail);
	/* Commit the open group (see connector_commit). */
	void (*commit)(void *arg, void (*done)(void *done_arg, int rc), void *done_arg);
	/* Mail an agent's message to its customer (see connector_mail_away). */
	int (*mail_away)(void *arg, struct connector *c, const struct connector_mail *m);
	/* The customer is typing (see connector_customer_typing); may be NULL. */
	void (*typing)(void *arg, struct connector *c, const char *thread_key, int on);
};

struct connector {
	const struct connector_ops *ops;
	const struct connector_host *host;
	const struct connector_conf *conf;
	char *name; /* "webchat", "mastodon", or the configured name */
	enum connector_health health;
	char health_detail[128]; /* e.g. "401 from instance: check the token" */
	int64_t paused_until_ms; /* outbox: a rate limit holds every send until then */
	/* Another process runs it (a CONNECTOR_ONE_CONSUMER type this process
	 * does not lead): no intake here, and the outbox leaves its replies to
	 * that process.  0 otherwise. */
	int standby;
	int held;                    /* stopped because another process leads it */
	struct store_leader *leader; /* the watch on its leadership, or NULL */
	void *priv;
};

/* --- the registry ------------------------------------------------------------ */

/* The type called `type` ("webchat", ...) if this build has it, else NULL. */
const struct connector_ops *connector_type(const char *type);
/* The names of every type this build has, NULL-terminated (static). */
const char *const *connector_type_names(void);
/* "webchat, mastodon": the same list for messages (static). */
const char *connector_type_list(void);

/*
 * A connector for cc (whose type must be one connector_type knows), not
 * started yet.  Freed with connector_free (which calls ops->destroy).
 */
struct connector *connector_new(const struct connector_conf *cc, const struct connector_host *h);
void connector_free(struct connector *c);
/*
 * Start c: ops->start, and then, for a CONNECTOR_ONE_CONSUMER type, ask the
 * store whether it may run here (store_leader_watch on its name): while
 * another process leads it, it is stopped at once (ops->stop: no intake,
 * health standby, c->standby: the outbox leaves its replies to the
 * leader); when this process leads, it runs (ops->resume) until it stops
 * leading.  A store with one process leads at once.  -1 when ops->start
 * fails (the daemon then exits).
 */
int connector_start(struct connector *c);

/* 1 when the type shows the sender of a message (CONNECTOR_SHOWS_SENDER);
 * unknown types count as not (their replies are signed). */
int connector_type_shows_sender(const char *type);

/* --- services for connectors --------------------------------------------------- */

/*
 * Called by a connector for every incoming post.  Returns 0 when the post
 * was taken (ops->post_done follows after the commit, exactly once), or -1
 * when it was refused at once (the daemon is stopping, the post is its own
 * or lacks an id or thread; logged): no post_done then.
 */
int connector_deliver_post(struct connector *c, const struct post *p, void *cookie);
/* Called by a connector when a send finished; retry_after > 0 asks the
 * outbox not to retry before that many seconds and, with SEND_RETRY, holds
 * every send of this connector until then (a rate limit is per account,
 * not per row); with SEND_LATER only this row waits. */
void connector_send_done(struct connector *c, int64_t outbox_id, enum send_result r, long retry_after,
                         const char *detail);
/*
 * Make what the connector wrote into the store's open group durable (a web
 * chat visitor's e-mail address, confirmed to the visitor only once it is
 * stored; Slack's mark that a reply is being sent, made durable before the
 * request leaves so that after a crash it looks before sending again):
 * done(arg, rc) runs exactly once, from the loop, when the group is
 * durable (0) or lost (-1), possibly before this call returns.  During
 * teardown it may never run: keep what it would free where ops->destroy
 * finds it.
 */
void connector_commit(struct connector *c, void (*done)(void *arg, int rc), void *arg);
/*
 * The customer of an agent's message is away (a web chat visitor who closed
 * the page) and left an e-mail address: send the message there too,
 * through the SMTP settings of the first e-mail entry of `notify`, as an
 * outbox row (retried like any other), and note it on the ticket
 * ("emailed", shown in the dashboard).  0 queued (or queued before), -1
 * not (no e-mail entry configured, store error: logged).
 */
int connector_mail_away(struct connector *c, const struct connector_mail *m);
/* Store and read a connector's catch-up cursor.  get calls cb(arg, rc,
 * value) once, now or later (store_cursor_get): rc 0 with the cursor
 * (borrowed), 1 none, -1 error. */
void connector_cursor_get(struct connector *c, void (*cb)(void *arg, int rc, const char *value), void *arg);
void connector_cursor_set(struct connector *c, const char *cursor);

/*
 * Connector-private state (store.h, "Connector-private state"): facts a
 * connector keeps across restarts under its own name, one row per (kind,
 * key) with the thread the key belongs to (or NULL) and a small text value
 * (JSON for several fields).  get calls cb once, now or later: rc 0 with
 * the row (borrowed), 1 none, -1 error.  put/delete are group writes:
 * durable with the next commit; 0 or -1.  prune forgets rows of `kind`
 * untouched since `before` (start-up housekeeping).
 */
struct store_state;
typedef void (*connector_state_fn)(void *arg, int rc, const struct store_state *st);
void connector_state_get(struct connector *c, const char *kind, const char *key, connector_state_fn cb,
                         void *arg);
int connector_state_put(struct connector *c, const char *kind, const char *key, const char *thread_key,
                        const char *value);
int connector_state_delete(struct connector *c, const char *kind, const char *key);
int connector_state_prune(struct connector *c, const char *kind, time_t before);

/*
 * Who the customer is (store.h, "contacts"): every author of a post is
 * filed under a contact from the post's author_id, author_handle and
 * author_name, with nothing else to do.  What a connector learns besides
 * (an e-mail address, a name typed in a form, a profile's display name
 * fetched later, an identity the business's site vouches for: identity.h)
 * it tells with this one call, for the author `ci->author_id` on this
 * connector's platform (ci->platform NULL: the connector's type).  A group
 * write, durable with the next commit: 0, 1 when the author's contact
 * belongs to another verified identity (nothing changed), -1.
 */
struct store_contact_info;
int connector_contact(struct connector *c, const struct store_contact_info *ci);

/*
 * Private replies where a direct message is a channel of its own (Slack,
 * Discord, Mattermost): the DM channel with a customer (outmsg.recipient),
 * opened once and then remembered in the connector state (kind "dm", key
 * the customer's id).  cb(arg, rc, channel): rc 0 with the channel id
 * (borrowed), -1 when it could not be had (give the row back with
 * SEND_RETRY).  When nothing is remembered, `open` asks the platform
 * (Slack conversations.open, Discord POST /users/@me/channels, Mattermost
 * POST /channels/direct; each returns the existing DM when there is one)
 * and must answer exactly once with connector_dm_opened(req, channel), or
 * channel NULL on failure (a 403 "cannot message this user" is a failure
 * to report with SEND_FAIL by the caller, who sees rc -1 and decides).
 */
struct connector_dm_req;
typedef void (*connector_dm_fn)(void *arg, int rc, const char *channel);
typedef void (*connector_dm_open_fn)(struct connector *c, const char *recipient,
                                     struct connector_dm_req *req);
void connector_dm_channel(struct connector *c, const char *recipient, connector_dm_open_fn open,
                          connector_dm_fn cb, void *arg);
void connector_dm_opened(struct connector_dm_req *req, const char *channel);

/*
 * Read a secret the configuration names (config.h: a *_env / *_file pair,
 * config_secret_read) into out (n bytes; at most CONFIG_SECRET_MAX bytes
 * are taken): 0 with the secret, its trailing newline dropped; or -1 with
 * one error line "<type>: cannot read <what>" naming the connector and the
 * reason (variable not set, file missing or readable by others with the
 * chmod to run, too long, empty, a line break), and out zeroed.  `what` is
 * the secret as people know it ("the bot token").  Read anew each time it
 * is called: a file replaced on disk is picked up after a refused token.
 */
struct config_secret;
int connector_secret_read(struct connector *c, const struct config_secret *s, const char *what, char *out,
                          size_t n);

/* 1 when an outbox row's idempotency key can travel as it is (a header, a
 * metadata field, a store key): 1..STORE_MAX_KEY printable ASCII
 * characters without spaces; else 0 (the row cannot be sent safely). */
int connector_idem_ok(const char *key);
/* 1 when s is a platform id that may go into a URL path, a store key or a
 * log line as it is: 1..max characters of A-Z a-z 0-9 _ -; else 0. */
int connector_id_ok(const char *s, size_t max);

/*
 * Reply windows: where the platform takes free-form replies only within a
 * time after the customer's last message (WhatsApp, Messenger, Instagram:
 * 24 hours; for a person's reply on Messenger and Instagram, 7 days with
 * the HUMAN_AGENT tag), cc->reply_window and cc->agent_window say how long
 * (seconds, 0 = no window; set by the type's parser).  Whether a reply
 * written now (by a person when `agent`, else by the bot) may still go to
 * a conversation whose customer last wrote at last_in (0 = unknown: yes):
 * 1 yes; 0 no, with a sentence for the person in why ("WhatsApp takes
 * replies only within 24 hours of the customer's last message: that
 * window closed on ...; the customer must write again first").  One
 * place for the outbox, the dashboard and `frontdesk queue reply`.
 */
int connector_reply_allowed(const struct connector_conf *cc, int agent, time_t last_in, time_t now, char *why,
                            size_t n);
/* When that window closes (last_in + the window), 0 when there is none. */
time_t connector_reply_until(const struct connector_conf *cc, int agent, time_t last_in);

/*
 * The running connector called `name` (every connector the daemon started
 * registers itself), or NULL.  Asked by the dashboard for actions on a
 * conversation's platform.
 */
struct connector *connector_running(const char *name);
/* A person opened conversation thread_key of connector `name`: its
 * mark_read, when the type has one and the connector runs. */
void connector_mark_read(const char *name, const char *thread_key);
/* A person (display name `agent`) is typing in conversation thread_key of
 * connector `name` (on 1) or stopped (0): its ops->typing, when the type
 * has one and the connector runs. */
void connector_typing(const char *name, const char *thread_key, const char *agent, int on);
/* Called by a connector whose customer is typing in thread_key (on 1) or
 * stopped (0): the team sees it beside the conversation.  Best effort. */
void connector_customer_typing(struct connector *c, const char *thread_key, int on);

/* Health for /healthz and the log (a change of state is logged). */
void connector_set_health(struct connector *c, enum connector_health h, const char *detail);
/*
 * Something only a person can fix (a refused token, a feature switched
 * off on the platform): an error line naming the connector and `detail`,
 * and health `down` with `detail` until the connector reports otherwise.
 * Retrying (slowly) is the connector's choice.
 */
void connector_fatal(struct connector *c, const char *detail);
/* Health names ("ok", ...) as /healthz shows them. */
const char *connector_health_name(enum connector_health h);

/* What the daemon lends its connectors (borrowed; valid while running). */
struct loop *connector_loop(struct connector *c);
struct server *connector_server(struct connector *c);
struct store *connector_store(struct connector *c);
struct metrics *connector_metrics(struct connector *c);
/* The running configuration (replaced on reload: do not keep pointers
 * into it across loop iterations; c->conf stays valid for the whole run). */
const struct config *connector_config(struct connector *c);
/* The daemon's clock (epoch seconds). */
time_t connector_now(struct connector *c);
/* Is the business open now (business hours of the running config)? */
int connector_business_open(struct connector *c);
/* 1 once the daemon is stopping: take no new posts. */
int connector_stopping(struct connector *c);

#endif
