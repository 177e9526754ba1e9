/*
 * webhook.h - the one verified-webhook receiver: the platform POSTs events
 * to a listener of ours, and every connector fed that way (WhatsApp,
 * Messenger, Instagram; later ones too) receives them through this module.
 *
 * One webhook is one listener (its own address, connection limits and
 * trusted proxies, server.h) with one path.  On that path:
 *
 *   GET   the subscription check Meta sends whenever the callback URL or
 *         the verify token is edited: hub.mode=subscribe,
 *         hub.verify_token=<ours> (compared in constant time) and
 *         hub.challenge=<n> answer 200 with the bare challenge as body;
 *         anything else 403.
 *   POST  an event delivery.  Before a single byte of it is parsed:
 *           - the body is at most max_body bytes (413 otherwise, from the
 *             server, without reading more);
 *           - X-Hub-Signature-256 must be "sha256=" and the hex HMAC-SHA256
 *             of the raw body bytes keyed with the app secret (OpenSSL's
 *             HMAC, compared with CRYPTO_memcmp).  Anything else is logged
 *             ("webhook signature does not match"), counted, answered 401
 *             and forgotten: never parsed, stored or answered.
 *         Then ops->delivery parses it and hands each customer message to
 *         the daemon with webhook_deliver().  The POST is answered only when
 *         every post of it was settled by the group commit (the connector
 *         passes each post_done on with webhook_post_done()) and every
 *         webhook_sync() it asked for is durable:
 *           200  every post stored (or a duplicate of a stored one);
 *           503  a post could not be stored, or the daemon is stopping:
 *                the platform delivers the whole body again, and what was
 *                stored of it meanwhile is recognised by its message id.
 *         A body without posts (statuses, echoes of our own messages) is
 *         answered as soon as its syncs are durable (at once when it asked
 *         for none).
 *
 * The platform redelivers what was not answered 200 (Meta: at once, then
 * less often, for days), possibly more than once, out of order, and from
 * several connections at a time; the store deduplicates on the platform's
 * message id, so a redelivery is acknowledged again and not decided again.
 * A POST whose connection dropped is still settled (its posts stay stored);
 * only the answer is lost, and the redelivery that follows is a duplicate.
 *
 * Ownership: the webhook belongs to its connector (webhook_start in the
 * connector's start, webhook_free in its destroy, after the loop ended).
 * The listener and its requests belong to the server.  conf strings are
 * copied.  A struct webhook_batch lives from the delivery callback until its
 * answer; the connector never frees it.
 *
 * Errors: webhook_start fails (NULL, reason in err) only for what retrying
 * cannot fix: an address that cannot be bound, bad trusted_proxies.
 */
#ifndef FD_WEBHOOK_H
#define FD_WEBHOOK_H

#include <stddef.h>

#include "connector.h"

#define WEBHOOK_MAX_BODY            (3u * 1024u * 1024u) /* Meta: deliveries are at most 3 MB */
#define WEBHOOK_DEFAULT_CONNECTIONS 64                   /* per listener, unless configured */
/* Per client address: the platform's servers are the clients, several
 * deliveries at once from one of them is normal. */
#define WEBHOOK_DEFAULT_PER_ADDRESS 64
#define WEBHOOK_SIG_HEADER          "x-hub-signature-256"
#define WEBHOOK_MAX_CHALLENGE       128

struct webhook;
struct webhook_batch;

struct webhook_conf {
	const char *listen; /* "127.0.0.1:8082" */
	const char *path;   /* "/webhook" */
	size_t max_body;    /* 0 = WEBHOOK_MAX_BODY */
	long max_connections;
	long connections_per_address;
	char *const *trusted_proxies; /* NULL-terminated, or NULL */
	int proxy_forwarded;          /* trusted proxies speak Forwarded, not X-Forwarded-For */
	/* The key of the signature (the app secret) and the token the
	 * subscription check must name; both required. */
	const void *secret;
	size_t secret_len;
	const char *verify_token;
};

struct webhook_ops {
	/*
	 * A POST whose signature matched: body (NUL-terminated at body[len]) as
	 * received.  Parse it and call webhook_deliver for each post, and
	 * webhook_sync after writes the answer must wait for.  The batch is
	 * answered after this returns, once everything it holds is settled.
	 */
	void (*delivery)(void *arg, struct webhook_batch *b, const char *body, size_t len);
};

/*
 * Listen for c's webhook as conf says.  NULL with a one-line reason in err
 * when the listener cannot be had.  The route is served from the first
 * loop iteration on.
 */
struct webhook *webhook_start(struct connector *c, const struct webhook_conf *conf,
                              const struct webhook_ops *ops, void *arg, char *err, size_t errn);

/* Stop taking deliveries (the daemon is stopping): later POSTs answer 503,
 * so the platform keeps them for the next start. */
void webhook_stop(struct webhook *w);

/* Teardown (the connector's close): every delivery not yet answered is
 * answered 503 now, while its connection can still carry it. */
void webhook_close(struct webhook *w);

/* Free the webhook (after the loop ended; its listener is the server's). */
void webhook_free(struct webhook *w);

/* The port actually bound (tests listen on port 0). */
int webhook_port(const struct webhook *w);

/*
 * Hand post p, part of batch b, to the daemon (connector_deliver_post with
 * the batch as the cookie).  0 taken; -1 refused (the daemon is stopping,
 * the post has no id: logged): the batch will answer 503.  What the
 * connector must remember of the post it writes now (connector state), in
 * the same group as the post.
 */
int webhook_deliver(struct webhook_batch *b, const struct post *p);

/* From the connector's post_done for a post given to webhook_deliver (the
 * cookie): the post is settled in its batch, which may answer now. */
void webhook_post_done(void *cookie, const struct post_ack *a);

/*
 * Hold batch b's answer until everything written so far (connector state:
 * the confirmation of a reply we sent) is durable.  A failed commit answers
 * 503.
 */
void webhook_sync(struct webhook_batch *b);

/* The connector of a batch (for its delivery callback). */
struct connector *webhook_batch_connector(const struct webhook_batch *b);

/*
 * 1 when `header` is "sha256=" followed by the 64 hex digits (either case)
 * of HMAC-SHA256(secret, body), else 0 (absent, malformed, or another
 * signature).  The comparison takes the same time whatever it finds.
 */
int webhook_signature_ok(const void *secret, size_t secret_len, const void *body, size_t len,
                         const char *header);

/* The header value for body signed with secret: "sha256=<hex>" into out
 * (>= 72 bytes).  For tests and emulators. */
void webhook_signature(const void *secret, size_t secret_len, const void *body, size_t len, char *out,
                       size_t n);

/*
 * The answer to a subscription check: 1 with the challenge to echo (which
 * must be 1..WEBHOOK_MAX_CHALLENGE characters of [A-Za-z0-9._-]) when mode
 * is "subscribe" and token equals `want` (constant time), else 0.
 */
int webhook_subscribe_ok(const char *mode, const char *token, const char *challenge, const char *want);

#endif
