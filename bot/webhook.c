/*
 * webhook.c - the verified-webhook receiver (see webhook.h).
 *
 * A batch is one POST on its way: it counts what it waits for (the
 * delivery callback while it runs, each post until its group commit
 * settled it, each sync) and answers when the count reaches zero.
 */
#include "webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "server.h"
#include "util.h"

#define SHA256_LEN    32
#define SIG_PREFIX    "sha256="
#define TOKEN_ARG_MAX 512 /* longest verify token a subscription check may name */

struct webhook_batch {
	struct webhook *w;
	struct webhook_batch *prev, *next; /* the webhook's live batches */
	struct server_req *req;            /* NULL once answered */
	int refs;
	int failed;
	size_t posts;
	uint64_t started_ms;
};

struct webhook {
	struct connector *c;
	struct listener *li;
	struct webhook_ops ops;
	void *arg;
	char *path;
	unsigned char *secret;
	size_t secret_len;
	char *verify_token;
	int stopping;
	struct webhook_batch *batches;
	struct metric *m_deliveries, *m_refused, *m_latency;
};

/* --- the signature ---------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The HMAC-SHA256 of body into md (SHA256_LEN bytes); 0 or -1. */
static int mac(const void *secret, size_t secret_len, const void *body, size_t len, unsigned char *md)
{
	unsigned int mdlen = 0;
	static const unsigned char none = 0;
	if (secret_len > (size_t)1 << 30)
		return -1;
	if (!HMAC(EVP_sha256(), secret_len ? secret : &none, (int)secret_len,
	          len ? (const unsigned char *)body : &none, len, md, &mdlen) ||
	    mdlen != SHA256_LEN)
		return -1;
	return 0;
}

int webhook_signature_ok(const void *secret, size_t secret_len, const void *body, size_t len,
                         const char *header)
{
	unsigned char want[SHA256_LEN], got[SHA256_LEN];
	size_t pl = sizeof(SIG_PREFIX) - 1;

	if (!header || !secret || secret_len == 0 || strncmp(header, SIG_PREFIX, pl) != 0)
		return 0;
	header += pl;
	if (strlen(header) != 2 * SHA256_LEN)
		return 0;
	for (size_t i = 0; i < SHA256_LEN; i++) {
		int hi = hexval((unsigned char)header[2 * i]), lo = hexval((unsigned char)header[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (mac(secret, secret_len, body, len, want) < 0)
		return 0;
	return CRYPTO_memcmp(want, got, SHA256_LEN) == 0;
}

void webhook_signature(const void *secret, size_t secret_len, const void *body, size_t len, char *out,
                       size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_LEN];
	char s[sizeof(SIG_PREFIX) + 2 * SHA256_LEN];
	if (mac(secret, secret_len, body, len, md) < 0) {
		snprintf(out, n, "%s", "");
		return;
	}
	memcpy(s, SIG_PREFIX, sizeof(SIG_PREFIX) - 1);
	for (size_t i = 0; i < SHA256_LEN; i++) {
		s[sizeof(SIG_PREFIX) - 1 + 2 * i] = hex[md[i] >> 4];
		s[sizeof(SIG_PREFIX) - 1 + 2 * i + 1] = hex[md[i] & 15];
	}
	s[sizeof(s) - 1] = '\0';
	snprintf(out, n, "%s", s);
}

/* Equal strings, in a time that depends on their lengths only. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return 0;
	return la == 0 || CRYPTO_memcmp(a, b, la) == 0;
}

static int challenge_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= WEBHOOK_MAX_CHALLENGE;
}

int webhook_subscribe_ok(const char *mode, const char *token, const char *challenge, const char *want)
{
	if (!mode || !token || !challenge || !want || !*want)
		return 0;
	int ok = same_secret(token, want);
	return ok && strcmp(mode, "subscribe") == 0 && challenge_ok(challenge);
}

/* --- batches ------------------------------------------------------------------ */

static void batch_unlink(struct webhook_batch *b)
{
	struct webhook *w = b->w;
	if (b->prev)
		b->prev->next = b->next;
	else
		w->batches = b->next;
	if (b->next)
		b->next->prev = b->prev;
	b->prev = b->next = NULL;
}

static void batch_answer(struct webhook_batch *b)
{
	struct webhook *w = b->w;
	if (!b->req)
		return;
	struct server_req *req = b->req;
	b->req = NULL;
	int ok = !b->failed;
	metric_add_l(w->m_deliveries, 1, w->c->name, ok ? "stored" : "retry");
	metric_observe(w->m_latency, (double)(time_mono_ms() - b->started_ms) / 1000.0);
	if (ok) {
		server_respond(req, 200, "text/plain; charset=utf-8", "EVENT_RECEIVED", 14);
	} else {
		log_warn("webhook: delivery not stored: answered 503, the platform sends it again",
		         "connector=%s posts=%zu", w->c->name, b->posts);
		server_respond_error(req, 503, "not stored: send it again");
	}
}

static void batch_release(struct webhook_batch *b)
{
	if (--b->refs > 0)
		return;
	batch_answer(b);
	batch_unlink(b);
	free(b);
}

int webhook_deliver(struct webhook_batch *b, const struct post *p)
{
	struct webhook *w = b->w;
	if (w->stopping) {
		b->failed = 1;
		return -1;
	}
	b->refs++;
	if (connector_deliver_post(w->c, p, b) < 0) {
		/* Refused at once (stopping, no id): no post_done follows.  The
		 * platform sends the delivery again later. */
		b->refs--;
		b->failed = 1;
		return -1;
	}
	b->posts++;
	return 0;
}

void webhook_post_done(void *cookie, const struct post_ack *a)
{
	struct webhook_batch *b = cookie;
	if (a->status == POST_FAILED)
		b->failed = 1;
	batch_release(b);
}

static void synced(void *arg, int rc)
{
	struct webhook_batch *b = arg;
	if (rc != 0)
		b->failed = 1;
	batch_release(b);
}

void webhook_sync(struct webhook_batch *b)
{
	b->refs++;
	connector_commit(b->w->c, synced, b);
}

struct connector *webhook_batch_connector(const struct webhook_batch *b)
{
	return b->w->c;
}

/* --- the route ------------------------------------------------------------------- */

/* GET: Meta's subscription check. */
static enum server_handled on_get(struct webhook *w, struct server_req *req)
{
	char mode[32], token[TOKEN_ARG_MAX], challenge[WEBHOOK_MAX_CHALLENGE + 2];
	if (server_req_arg(req, "hub.mode", mode, sizeof(mode)) < 0 ||
	    server_req_arg(req, "hub.verify_token", token, sizeof(token)) < 0 ||
	    server_req_arg(req, "hub.challenge", challenge, sizeof(challenge)) < 0 ||
	    !webhook_subscribe_ok(mode, token, challenge, w->verify_token)) {
		log_warn("webhook: subscription check refused (wrong verify token or parameters)",
		         "connector=%s peer=%s", w->c->name, server_req_peer(req));
		metric_add_l(w->m_refused, 1, w->c->name, "verify");
		explicit_bzero(token, sizeof(token));
		server_respond(req, 403, "text/plain; charset=utf-8", "forbidden", 9);
		return SERVER_DONE;
	}
	explicit_bzero(token, sizeof(token));
	log_info("webhook: subscription verified", "connector=%s peer=%s", w->c->name, server_req_peer(req));
	server_respond(req, 200, "text/plain; charset=utf-8", challenge, strlen(challenge));
	return SERVER_DONE;
}

static enum server_handled on_post(struct webhook *w, struct server_req *req)
{
	size_t len;
	const char *body = server_req_body(req, &len);
	const char *sig = server_req_header(req, WEBHOOK_SIG_HEADER);

	if (!webhook_signature_ok(w->secret, w->secret_len, body, len, sig)) {
		/* Never parsed, stored or answered: whoever sent it does not
		 * hold the app secret (or the secret in the configuration is
		 * not the app's). */
		log_warn("webhook signature does not match: delivery refused, nothing stored",
		         "connector=%s peer=%s bytes=%zu signature=%s", w->c->name, server_req_peer(req), len,
		         sig ? "wrong" : "missing");
		metric_add_l(w->m_refused, 1, w->c->name, "signature");
		server_respond(req, 401, "text/plain; charset=utf-8", "bad signature", 13);
		return SERVER_DONE;
	}
	if (w->stopping || connector_stopping(w->c)) {
		server_respond_error(req, 503, "stopping: send it again");
		return SERVER_DONE;
	}
	struct webhook_batch *b = xcalloc(1, sizeof(*b));
	b->w = w;
	b->req = req;
	b->refs = 1;
	b->started_ms = time_mono_ms();
	b->next = w->batches;
	if (w->batches)
		w->batches->prev = b;
	w->batches = b;
	w->ops.delivery(w->arg, b, body, len);
	/* The delivery's own reference: the answer may go now. */
	int later = b->refs > 1;
	batch_release(b);
	return later ? SERVER_LATER : SERVER_DONE;
}

static enum server_handled on_request(struct server_req *req, void *arg)
{
	struct webhook *w = arg;
	return server_req_method(req) == SERVER_POST ? on_post(w, req) : on_get(w, req);
}

/* --- life cycle --------------------------------------------------------------------- */

struct webhook *webhook_start(struct connector *c, const struct webhook_conf *conf,
                              const struct webhook_ops *ops, void *arg, char *err, size_t errn)
{
	if (!conf->listen || !conf->path || !conf->secret || !conf->secret_len || !conf->verify_token ||
	    !*conf->verify_token) {
		snprintf(err, errn,
		         "the webhook needs a listen address, a path, the app secret and a verify token");
		return NULL;
	}
	struct listener *li = server_listen(connector_server(c), conf->listen, c->name, err, errn);
	if (!li)
		return NULL;
	struct listener_opts lo = {
	    .max_connections =
	        conf->max_connections > 0 ? conf->max_connections : WEBHOOK_DEFAULT_CONNECTIONS,
	    .connections_per_address = conf->connections_per_address > 0 ? conf->connections_per_address
	                                                                 : WEBHOOK_DEFAULT_PER_ADDRESS,
	    .trusted_proxies = conf->trusted_proxies,
	    .proxy_header = conf->proxy_forwarded ? SERVER_PROXY_FORWARDED : SERVER_PROXY_X_FORWARDED_FOR,
	};
	if (listener_configure(li, &lo, err, errn) < 0)
		return NULL;
	struct webhook *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->li = li;
	w->ops = *ops;
	w->arg = arg;
	w->path = xstrdup(conf->path);
	w->secret = xmalloc(conf->secret_len);
	memcpy(w->secret, conf->secret, conf->secret_len);
	w->secret_len = conf->secret_len;
	w->verify_token = xstrdup(conf->verify_token);
	if (server_route_api(li, conf->path, SERVER_GET | SERVER_POST, on_request, w,
	                     conf->max_body ? conf->max_body : WEBHOOK_MAX_BODY) < 0) {
		snprintf(err, errn, "%s is already routed on %s", conf->path, conf->listen);
		webhook_free(w);
		return NULL;
	}
	struct metrics *m = connector_metrics(c);
	w->m_deliveries =
	    metrics_counter(m, "webhook_deliveries_total",
	                    "Webhook deliveries answered, by connector and outcome (stored: 200; "
	                    "retry: 503, the platform sends them again).",
	                    "connector,outcome");
	w->m_refused = metrics_counter(
	    m, "webhook_refused_total",
	    "Webhook requests refused, by connector and reason (signature, verify).", "connector,reason");
	w->m_latency = metrics_histogram(
	    m, "webhook_answer_seconds",
	    "From a webhook delivery's arrival to its answer (its posts durable).", NULL, 0);
	return w;
}

void webhook_stop(struct webhook *w)
{
	if (!w)
		return;
	w->stopping = 1;
}

int webhook_port(const struct webhook *w)
{
	return w ? listener_port(w->li) : 0;
}

void webhook_close(struct webhook *w)
{
	if (!w)
		return;
	w->stopping = 1;
	/* Teardown: what is still unsettled will not be; the platform sends
	 * it again to the next process. */
	for (struct webhook_batch *b = w->batches; b; b = b->next) {
		b->failed = 1;
		batch_answer(b);
	}
}

void webhook_free(struct webhook *w)
{
	if (!w)
		return;
	while (w->batches) {
		struct webhook_batch *b = w->batches;
		batch_unlink(b);
		free(b);
	}
	if (w->secret)
		explicit_bzero(w->secret, w->secret_len);
	free(w->secret);
	if (w->verify_token)
		explicit_bzero(w->verify_token, strlen(w->verify_token));
	free(w->verify_token);
	free(w->path);
	free(w);
}
