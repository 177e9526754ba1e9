/*
 * rest.h - a connector's calls to its platform's HTTP API and its queue of
 * replies, for the connectors that send over REST (Mastodon, Mattermost,
 * Telegram, WhatsApp, Messenger, Instagram): one request wrapper, the reading every answer needs (did it
 * work, a short description, when a rate limit ends), and one FIFO of
 * reply jobs started at most max_inflight at a time and held while the
 * connector's rate-limit pause (c->paused_until_ms, which the outbox
 * honours too) lasts.
 *
 * Requests: rest_call() joins the base URL and a path, adds the bearer
 * token (when the connector set one) and a JSON body, and calls back with
 * the connector's context and the request's own argument.  Neither the
 * URL nor the token is ever logged (a Telegram base URL holds the token).
 *
 * The queue: a connector embeds a struct rest_job in each of its jobs and
 * hands it to rest_queue(); rest_pump() gives jobs back to ops->start in
 * order while fewer than max_inflight requests are counted in flight
 * (rest_started / rest_ended around each request the connector makes for
 * a job) and no pause holds them.  ops->ready_at, when set, may hold one
 * job back (Telegram: its chat already has a message on the way, or its
 * per-chat pace says later); the others overtake it, and the pump wakes up
 * when the earliest held job may go.  A job leaves ops->start either back
 * in the queue (rest_requeue: the next part, a rate limit) or finished by
 * its connector.
 *
 * Rate limits: rest_note_limits() reads every answer: a 429 pauses every
 * send until the time it names (Retry-After, a 429 body's retry_after or
 * parameters.retry_after, the X-RateLimit headers: http_retry_at_ms), and
 * repeated 429s wait longer each time (1 s, 2 s, ... 32 s) when the
 * connector asks for that floor; "remaining 0" pauses until the reset.
 * The pause is logged once per new reset time.
 *
 * Ownership: a struct rest belongs to its connector (rest_new in start,
 * rest_close with the connector's other uv handles, rest_free in destroy,
 * after the loop ended).  Jobs are the connector's: rest_free does not free
 * the ones still queued (take them with rest_pop first).  The bearer token
 * is borrowed and must outlive the struct rest.  Callbacks run on the loop.
 *
 * Errors: rest_call returns -1 when the request cannot start (closing,
 * URL too long, too many requests in flight; logged by http.c); its
 * callback is not called then.  Otherwise the callback runs exactly once,
 * with HTTP_E_CANCELLED at teardown.
 */
#ifndef FD_REST_H
#define FD_REST_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct connector;
struct metric;
struct rest;

#define REST_URL_MAX 2048 /* base URL */

/* Embedded in a connector's own job struct. */
struct rest_job {
	struct rest_job *next;
};

struct rest_ops {
	/* Work on job j now (make its request, or finish it). */
	void (*start)(void *ctx, struct rest_job *j);
	/* Optional: 0 when j may start now, else the epoch ms before which
	 * it must not (the pump skips it and wakes up then), or INT64_MAX:
	 * not until something else pumps the queue. */
	int64_t (*ready_at)(void *ctx, const struct rest_job *j, int64_t now_ms);
};

struct rest_conf {
	const char *label;        /* "mastodon": log lines name the connector type */
	unsigned max_inflight;    /* requests for jobs at once */
	int64_t unnamed_wait_ms;  /* a 429 that names no time waits this long; 0: the
	                             growing wait of repeated 429s (1 s, 2 s, ...) */
	int strike_floor;         /* 1: repeated 429s wait at least that growing wait,
	                             whatever time they name */
	struct metric *m_limited; /* counts 429s (label: the connector's name), or NULL */
};

typedef void (*rest_done_fn)(void *ctx, const struct http_response *r, void *arg);

struct rest *rest_new(struct connector *c, const struct rest_conf *conf, const struct rest_ops *ops,
                      void *ctx);
/* Close the pace timer (teardown); no job is started afterwards. */
void rest_close(struct rest *r);
/* After the loop ended.  NULL is fine. */
void rest_free(struct rest *r);

/* The base every path is joined to ("https://host", "https://host/botTOKEN");
 * copied, wiped at free.  0, or -1 when longer than REST_URL_MAX. */
int rest_set_base(struct rest *r, const char *base);
/* "Authorization: Bearer <token>" on every request; borrowed; NULL: none. */
void rest_set_bearer(struct rest *r, const char *token);
/* The token as the query parameter name=<token> on every request instead
 * (Meta's Send API takes ?access_token=); borrowed; NULL: none.  Never
 * logged, and no copy of the URL is left behind. */
void rest_set_query_token(struct rest *r, const char *name, const char *token);

struct rest_req {
	const char *method; /* NULL: GET, or POST with a body */
	const char *path;   /* joined to the base as it is */
	const char *json;   /* a JSON body, or NULL */
	const char *const *headers;
	size_t max_body;           /* 0: HTTP_MAX_BODY */
	long timeout_ms;           /* 0: HTTP_TIMEOUT_MS */
	struct http_call **handle; /* where to keep the call (for rest_cancel), or NULL */
	int idempotent;            /* a POST that may go twice (a read, a poll): http.h */
};
int rest_call(struct rest *r, const struct rest_req *q, rest_done_fn done, void *arg);
/* The common case: method, path, JSON body (or NULL), response cap (0: default). */
/* Abort the call kept in *handle (rest_req.handle), if any: its callback
 * is not called; *handle is NULL after. */
void rest_cancel(struct rest *r, struct http_call **handle);
int rest_api(struct rest *r, const char *method, const char *path, const char *json, size_t max_body,
             rest_done_fn done, void *arg);

/* 1 for a 2xx answer. */
int rest_ok(const struct http_response *r);
/* "HTTP 403", the network error, or "answer too large", for logs and
 * /healthz (never the URL). */
void rest_describe(const struct http_response *r, char *out, size_t n);

/*
 * When requests may go again after answer r (epoch ms), 0 for now.  Not a
 * 429: the time its headers name, if later than now.  A 429: that time, or
 * now + unnamed_ms when it names none (min_wait_ms when unnamed_ms is 0),
 * and at least now + min_wait_ms (1 s when 0) when the time it names is
 * already past, or with floor whatever it names.  Pure.
 */
int64_t rest_wait_until(const struct http_response *r, int64_t now_ms, int64_t min_wait_ms,
                        int64_t unnamed_ms, int floor);
/*
 * Read the rate-limit news of an answer to a send: a 429 pauses every send
 * (returns 1: the job was not done, requeue it); "remaining 0" pauses
 * until the reset (returns 0, as for any other answer).  A transport error
 * says nothing (0).
 */
int rest_note_limits(struct rest *r, const struct http_response *resp);
/* Hold every send until epoch ms `until` (no-op when not later than the
 * current pause); `limited`: because of a 429 (the log line says which). */
void rest_pause(struct rest *r, int64_t until_ms, int limited);

/* --- the queue ------------------------------------------------------------------- */

void rest_queue(struct rest *r, struct rest_job *j);   /* at the tail, then pump */
void rest_requeue(struct rest *r, struct rest_job *j); /* at the head; the caller pumps */
/* Take the first queued job (stop, destroy), or NULL. */
struct rest_job *rest_pop(struct rest *r);
void rest_pump(struct rest *r);
/* Count a request made for a job as in flight, and its end. */
void rest_started(struct rest *r);
void rest_ended(struct rest *r);
/* Requests counted in flight; 1 when nothing is in flight or queued. */
unsigned rest_inflight(const struct rest *r);
int rest_idle(const struct rest *r);
/*
 * At stop: while a rate limit holds the queue, hand every queued job to
 * back(ctx, j, secs), which gives it to the outbox with SEND_RETRY and that
 * wait (stored with the row, so the next start does not spend a request to
 * learn it again).
 */
void rest_stop(struct rest *r, void (*back)(void *ctx, struct rest_job *j, long secs));
/* Hold the queue (0) until the connector is ready to send, or let it go (1). */
void rest_hold(struct rest *r, int go);

#endif
