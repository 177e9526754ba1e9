/*
 * meta.h - what the three Meta connectors (whatsapp, messenger,
 * instagram) share; not a connector type of its own.  PLATFORMS.md,
 * sections WhatsApp and Messenger/Instagram, is the reference.
 *
 *   settings    the keys every Meta connector takes (meta_parse): the
 *               access token, the app secret (the webhook's signature
 *               key), the verify token, the webhook's listener (listen,
 *               trusted_proxies, proxy_header, limits), instance and
 *               api_version (the Graph API at {instance}/{api_version}),
 *               unconfirmed_wait;
 *   webhook     Meta POSTs to {listen}/webhook: the verified-webhook module
 *               (webhook.h) checks the subscription GET and every POST's
 *               X-Hub-Signature-256 before the connector's delivery
 *               callback parses it, and answers 200 only once its posts
 *               are durable;
 *   sign-in     at start, and again after a refused token, one Graph API
 *               read with the token (the connector says which):
 *               /healthz shows "ok" once it worked, "down" with
 *               "190 from Meta: ..." when the token is refused;
 *   replies     meta_send: one request per part (the connector builds its
 *               body), at most META_MAX_INFLIGHT at a time (the reply
 *               queue and the Graph API calls are rest.h's), with Meta's
 *               errors sorted out (meta_classify): a throttle (130429,
 *               613, 4, 80007 ...) holds every reply of the connector
 *               with a growing wait; the per-recipient pair limit
 *               (131056) holds that customer's replies only, 4^n seconds;
 *               a closed window (131047, 1545041, 10/2018278) and other
 *               refusals fail the reply with Meta's reason; a refused
 *               token (190) is reported in /healthz and the replies wait
 *               for a new one (the token is read again every
 *               META_TOKEN_RETRY_S).
 *
 * Sending once.  Meta has no idempotency key, and a reply whose request
 * went out just before the process died (or whose answer was lost) may
 * have arrived.  So every message carries a marker of its outbox row
 * ("frontdesk:<idem key>", in WhatsApp's biz_opaque_callback_data and the
 * Send API's message metadata), which Meta hands back: in WhatsApp's
 * status webhooks and in the echo of the message on Messenger and
 * Instagram.  The connector records a marker coming back as "sent"
 * (connector state, durable before that webhook is answered).  Before a
 * request goes out, a "try" mark with the time is made durable; a reply
 * that finds its own "try" mark but no "sent" mark (the outcome of the
 * earlier attempt is unknown) waits up to unconfirmed_wait (default
 * META_UNCONFIRMED_WAIT_S; counted from this process's start when the
 * attempt was made before it) for Meta's confirmation, which a restarted
 * daemon receives as Meta redelivers what it could not deliver meanwhile;
 * confirmed, it is not sent again; still unconfirmed after the wait, it is
 * sent again (logged: that is the one case left that can show a customer
 * the same reply twice).  A request refused outright (no connection, a
 * Graph API error) clears its "try" mark.
 *
 * Ownership: struct meta belongs to its connector (meta_start in start,
 * meta_close in close, meta_free in destroy).  Settings come from the
 * start-up configuration.  Strings passed in are copied or borrowed for the
 * call.
 */
#ifndef FD_META_H
#define FD_META_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "connector.h"

struct webhook_batch;
struct http_response;
struct json_t;

#define META_DEFAULT_INSTANCE   "https://graph.facebook.com"
#define META_DEFAULT_VERSION    "v25.0"
#define META_WEBHOOK_PATH       "/webhook"
#define META_WINDOW             (24L * 3600)     /* replies within 24 h of the customer's last message */
#define META_HUMAN_AGENT_WINDOW (7L * 24 * 3600) /* a person's reply with the HUMAN_AGENT tag */
#define META_MAX_ID             256              /* message ids (wamid, mid), user and page ids */
#define META_MAX_INFLIGHT       16               /* Graph API sends at a time, per connector */
#define META_UNCONFIRMED_WAIT_S 60
#define META_TOKEN_RETRY_S      300
#define META_THROTTLE_MAX_S     300 /* longest wait after repeated throttling */
#define META_PAIR_MAX_POWER     5   /* 131056: 4^1 .. 4^5 seconds */
#define META_STATE_DAYS         8   /* try/sent marks outlive any reply window */
#define META_MARKER_PREFIX      "frontdesk:"
#define META_MAX_PARTS          16

/* The settings every Meta connector takes (inside the type's own struct). */
struct meta_conf {
	char *instance; /* no trailing '/'; META_DEFAULT_INSTANCE */
	char *version;  /* "v25.0" */
	struct config_secret token, app_secret, verify_token;
	struct config_proxies proxies;
	long max_connections, connections_per_address;
	long unconfirmed_wait; /* seconds */
	int token_in_query;    /* ?access_token= (Messenger, Instagram) instead of a Bearer header */
};

/* The keys of meta_conf, for a type's key list (one initializer). */
#define META_CONF_KEYS                                                                                       \
	"instance", "api_version", "token_env", "token_file", "app_secret_env", "app_secret_file",           \
	    "verify_token_env", "verify_token_file", "listen", "trusted_proxies", "proxy_header", "limits",  \
	    "unconfirmed_wait"

/* Read the shared keys into m (every problem reported through p). */
void meta_parse(struct config_parser *p, struct meta_conf *m);
void meta_conf_free(struct meta_conf *m);
/* `key: true|false` (yes/no); *out unchanged when absent. */
void meta_key_bool(struct config_parser *p, const char *key, int *out);

/* --- Graph API errors ---------------------------------------------------------- */

struct meta_error {
	long code, subcode;
	int transient;     /* is_transient: true */
	char message[256]; /* Meta's message (cut), "" none */
	char title[128];   /* WhatsApp's error title / error_data.details (cut) */
};

/*
 * A webhook delivery's JSON, its `object` checked ("page", "instagram",
 * "whatsapp_business_account"): the root object (json_decref it), or NULL
 * with the reason in err.
 */
struct json_t *meta_delivery_load(const char *body, size_t len, const char *object, char *err, size_t errn);

/* The error object of a Graph API answer ({"error":{...}}): 1 found, 0 not. */
int meta_error_parse(const char *body, size_t len, struct meta_error *e);

/* What an answer to a send means. */
enum meta_verdict {
	META_SENT = 0,      /* accepted (not yet delivered) */
	META_RETRY,         /* transient (5xx, a transient Graph error, network): try again later */
	META_THROTTLED,     /* the app or number is over its rate: hold every reply */
	META_PAIR_LIMIT,    /* 131056: too many to this one customer: hold theirs */
	META_WINDOW_CLOSED, /* outside the customer service window: final */
	META_TOKEN,         /* the token is refused (190, 401): a person must fix it */
	META_REFUSED        /* anything else Meta refuses (bad parameter, blocked user): final */
};

/* status: the HTTP status (0 for a transport error); e: the parsed error or NULL. */
enum meta_verdict meta_classify(long status, const struct meta_error *e);
const char *meta_verdict_name(enum meta_verdict v);

/* --- keys ------------------------------------------------------------------------ */

/* 1 when s is a usable platform id: 1..META_MAX_ID printable ASCII
 * characters without space, ':' or quotes. */
int meta_id_ok(const char *s);
/* "a:b" into its halves (thread keys: "<business id>:<customer id>");
 * 0, or -1 when it is not two ids. */
int meta_thread_split(const char *key, char *a, size_t an, char *b, size_t bn);
/* The marker of part `part` of `nparts` of the row with idem key `idem`:
 * "frontdesk:<idem>" (one part) or "frontdesk:<idem>:<part>". */
void meta_marker(const char *idem, size_t part, size_t nparts, char *out, size_t n);
/* 1 when s is a marker this program makes. */
int meta_marker_ours(const char *s);

/* --- the running part ------------------------------------------------------------- */

struct meta;

/* One message to send (a part of an outbox row), for the type's builder. */
struct meta_part {
	const char *thread_key;
	const char *reply_to; /* the customer's message it answers, or NULL */
	const char *text;
	const char *marker;
	int agent;      /* written by a person */
	time_t last_in; /* the customer's last message, 0 unknown */
	time_t now;
};

struct meta_hooks {
	/* A POST whose signature matched (webhook.h). */
	void (*delivery)(void *arg, struct webhook_batch *b, const char *body, size_t len);
	/* The sign-in read: its path under the API ("1234?fields=verified_name"). */
	void (*whoami)(void *arg, char *path, size_t n);
	/* Its answer (200): a name for the log ("Acme Bakery"), into name. */
	void (*whoami_name)(void *arg, const char *body, size_t len, char *name, size_t n);
	/* The request for one message: path under the API ("1234/messages") and
	 * a malloc'd JSON body; 0, or -1 with the reason it can never be sent
	 * (the row fails). */
	int (*build)(void *arg, const struct meta_part *p, char *path, size_t pathn, char **body, char *why,
	             size_t whyn);
};

/*
 * Read the secrets, listen for the webhook, start signing in.  NULL after
 * logging why (an unreadable secret, a listen address in use): the daemon
 * exits 1.  hooks and arg are borrowed for the connector's life.
 */
struct meta *meta_start(struct connector *c, const struct meta_conf *mc, const struct meta_hooks *h,
                        void *arg);
void meta_stop(struct meta *m);  /* intake stops (later POSTs answer 503) */
void meta_close(struct meta *m); /* teardown: uv handles, held deliveries */
void meta_free(struct meta *m);  /* after the loop ended */
int meta_idle(const struct meta *m);
int meta_port(const struct meta *m); /* the webhook's port */
struct connector *meta_connector(const struct meta *m);

/*
 * The connector ops every Meta connector shares: the type's own struct,
 * c->priv, starts with the struct meta * that meta_start returned, and
 * these forward to it (destroy frees the priv too).  A type's ops table
 * lists them with META_CONNECTOR_OPS.
 */
void meta_conn_stop(struct connector *c);
int meta_conn_idle(struct connector *c);
void meta_conn_close(struct connector *c);
void meta_conn_destroy(struct connector *c);
#define META_CONNECTOR_OPS                                                                                   \
	.stop = meta_conn_stop, .idle = meta_conn_idle, .close = meta_conn_close,                            \
	.destroy = meta_conn_destroy, .post_done = meta_post_done

/* Hand a customer's post of batch b to the daemon (webhook_deliver). */
int meta_deliver(struct meta *m, struct webhook_batch *b, const struct post *p);
/* ops->post_done of every Meta connector: settles the post in its batch. */
void meta_post_done(struct connector *c, void *cookie, const struct post_ack *a);

/*
 * Send outbox row om as nparts messages (the texts in parts, borrowed for
 * the call): reported with connector_send_done once all went out, or at
 * the first that did not.  Parts already confirmed (a "sent" mark) are not
 * sent again.  Returns 0 (always reported, possibly from inside the call).
 */
int meta_send(struct meta *m, const struct outmsg *om, char *const *parts, size_t nparts);

/* Meta handed our marker back (a status, an echo): record it as sent, and
 * hold b's answer until that is durable. */
void meta_confirmed(struct meta *m, struct webhook_batch *b, const char *marker);

/*
 * A send Meta reported failed later (a WhatsApp `failed` status): logged
 * with Meta's code and title; a pair limit or a throttle holds the next
 * replies as if the send had been refused.
 */
void meta_failed_later(struct meta *m, const char *recipient, const struct meta_error *e);

/*
 * A request of the connector's own (mark read, ...), with the token:
 * POST path under the API with a JSON body.  Best effort: the outcome is
 * logged, nothing is retried.  0 started, -1 not.
 */
int meta_post(struct meta *m, const char *path, const char *json, const char *what);

#endif
