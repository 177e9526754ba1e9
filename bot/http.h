/*
 * http.h - outgoing HTTP(S) and SMTP(S) on the event loop, through libcurl's
 * multi interface: every platform REST call, webhook and notification e-mail.
 * Nothing here blocks; each request completes by calling its callback once
 * on the loop thread.
 *
 * Defaults that hold for every request: TLS peer and host verification on,
 * redirects not followed, no signals (CURLOPT_NOSIGNAL), only http/https
 * (SMTP: smtp/smtps) URLs accepted, the response body kept in memory up to
 * a hard cap (HTTP_MAX_BODY unless the request sets a smaller or larger one)
 * and never written to stdout.
 *
 * A request that changes something goes out at most once.  libcurl sends a
 * request again on a fresh connection when the kept-alive one it reused
 * died before any byte of the answer came back ("Connection died, retrying
 * a fresh connect") -- but a server may well have carried out a POST
 * before the connection died, and a platform without an idempotency key
 * (Telegram's sendMessage, Slack's chat.postMessage) would then show the
 * message twice, with the caller none the wiser.  So for POST and PATCH
 * that second sending is refused (CURLOPT_PREREQFUNCTION) and the request
 * ends with HTTP_E_TRANSPORT, HTTP_UNSENT_AGAIN in error_text: its outcome
 * is unknown, and the caller's own rules for that apply (look for the
 * message before sending it again).  A request that may safely go twice
 * (a read, a long poll) says so with `idempotent`; GET, HEAD, PUT and
 * DELETE always may.
 *
 * Ownership: struct http belongs to the loop (loop.h creates and destroys
 * it; use l->http).  Everything in a struct http_request / smtp_mail is
 * copied by http_start / http_smtp_send, so the caller may free it right
 * after the call.  A struct http_response and every pointer in it are
 * borrowed for the duration of the callback only.  A struct http_call
 * handle is valid until its callback has returned or http_cancel() was
 * called on it, whichever comes first.
 */
#ifndef FD_HTTP_H
#define FD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct loop;
struct http;
struct http_call;

#define HTTP_MAX_BODY           (1024u * 1024u) /* default response body cap */
#define HTTP_TIMEOUT_MS         30000           /* default whole-transfer timeout */
#define HTTP_CONNECT_TIMEOUT_MS 10000           /* default connect timeout */
#define HTTP_MAX_INFLIGHT       256             /* http_start fails beyond this */

/* A request.  Only `url` is required. */
struct http_request {
	const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE";
	                             * NULL = GET, or POST when body is set */
	const char *url;            /* http:// or https:// */
	const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
	const char *content_type;   /* for the body, e.g. "application/json" or
	                             * "application/x-www-form-urlencoded" */
	const char *body;           /* request body (copied), or NULL */
	size_t body_len;
	const char *bearer;      /* "Authorization: Bearer <bearer>"; never logged */
	long timeout_ms;         /* 0 = HTTP_TIMEOUT_MS */
	long connect_timeout_ms; /* 0 = HTTP_CONNECT_TIMEOUT_MS */
	size_t max_body;         /* 0 = HTTP_MAX_BODY */
	int idempotent;          /* POST/PATCH that may go twice (above) */
};

/* error_text of a request that changes something whose connection died
 * before the answer, not sent again (see above). */
#define HTTP_UNSENT_AGAIN "the connection died before the answer: the request may have been carried out"

/* Why a request produced no usable HTTP status (r->error). */
enum http_error {
	HTTP_E_NONE = 0,  /* transfer done; look at status */
	HTTP_E_TRANSPORT, /* DNS, connect, TLS, timeout, reset...: see error_text */
	HTTP_E_TOO_BIG,   /* response body passed max_body: transfer aborted */
	HTTP_E_CANCELLED  /* the loop shut down before the request finished */
};

/* The outcome, passed to the callback. */
struct http_response {
	long status; /* HTTP status (SMTP: last reply code), 0 if none */
	enum http_error error;
	int curl_code;          /* CURLcode, 0 when fine */
	const char *error_text; /* "" when fine; curl's explanation otherwise */
	const char *body;       /* NUL-terminated, "" when empty */
	size_t body_len;
	/* Headers of the final response the callers need, NULL when absent
	 * (or longer than 256 bytes: such values are not trusted). */
	const char *retry_after;           /* Retry-After */
	const char *ratelimit_remaining;   /* X-RateLimit-Remaining */
	const char *ratelimit_reset;       /* X-RateLimit-Reset (epoch or ISO-8601) */
	const char *ratelimit_reset_after; /* X-RateLimit-Reset-After (seconds) */
	const char *content_type;          /* Content-Type, NULL when absent */
	const char *link;                  /* Link (pagination, <= 2048 bytes), NULL when absent */
	const char *ratelimit_bucket;      /* X-RateLimit-Bucket (Discord: the bucket's hash) */
	const char *ratelimit_scope;       /* X-RateLimit-Scope (Discord: user, global, shared) */
	const char *ratelimit_global;      /* X-RateLimit-Global (Discord: "true" on a global 429) */
	double seconds;                    /* total transfer time */
};

typedef void (*http_done_fn)(const struct http_response *r, void *arg);

/*
 * Start a request.  Returns a handle, or NULL (logged; `done` is not called)
 * when the request is invalid (bad method/URL scheme), too many requests are
 * in flight, or the loop is tearing down.  `done` is called exactly once
 * otherwise, never from inside http_start.
 */
struct http_call *http_start(struct http *h, const struct http_request *req, http_done_fn done, void *arg);

/* Abort a request; its callback is NOT called.  The handle is invalid after. */
void http_cancel(struct http_call *c);

/* Requests started and not yet completed. */
unsigned http_inflight(const struct http *h);

/*
 * One e-mail.  `url` is "smtps://host:465" (implicit TLS) or
 * "smtp://host:587" (STARTTLS is required unless the host is a loopback
 * address, where it is used when offered).  `payload` is the complete
 * RFC 5322 message (headers, blank line, body) with CRLF line ends.
 */
struct smtp_mail {
	const char *url;
	const char *from;        /* envelope sender, bare address */
	const char *const *rcpt; /* NULL-terminated bare addresses, >= 1 */
	const char *payload;
	size_t payload_len;
	const char *username; /* NULL = no AUTH */
	const char *password; /* never logged */
	long timeout_ms;      /* 0 = HTTP_TIMEOUT_MS */
};

/*
 * Send it asynchronously; same contract as http_start (status is the SMTP
 * reply code of the last command, 250 on success).  Unlike HTTP, the
 * conversation runs on libuv's worker pool: curl waits synchronously for
 * the answer to QUIT, which must not stall the loop.  The callback still
 * runs on the loop thread.
 */
struct http_call *http_smtp_send(struct http *h, const struct smtp_mail *m, http_done_fn done, void *arg);

/*
 * The one rate-limit reader: when the platform lets requests go again, in
 * epoch ms, or 0 when the response names no such time (a time at or before
 * now_ms, e.g. a reset already past by clock skew, means no wait).  The
 * latest of:
 *   Retry-After: seconds (fractions kept) or an HTTP date;
 *   on a 429, a JSON body's retry_after (Discord: seconds with a fraction)
 *     or parameters.retry_after (Telegram);
 *   when X-RateLimit-Remaining is 0 (or absent on a 429):
 *     X-RateLimit-Reset-After: seconds (fractions kept);
 *     X-RateLimit-Reset: epoch seconds (Discord), seconds until the reset
 *     (Mattermost; any number below 10^9), or ISO-8601 (Mastodon).
 * Times are rounded up to the millisecond, so nothing goes out before the
 * reset.  Unparsable values are ignored.  A 429 that names no time gives 0:
 * the caller picks its own wait (and should back off on repeats).
 */
int64_t http_retry_at_ms(const struct http_response *r, int64_t now_ms);

/* The same in epoch seconds (rounded up), 0 when no wait is asked. */
time_t http_not_before(const struct http_response *r, time_t now);

/* The pieces, for tests and other callers; each returns 0 and sets *out, or
 * -1 when `v` is NULL or unparsable. */
int http_parse_retry_after(const char *v, time_t now, time_t *out);
int http_parse_reset(const char *v, time_t *out); /* epoch or ISO-8601 */

/* Used by loop.c only. */
struct http *http_new(struct loop *l);
void http_cancel_all(struct http *h); /* every callback gets HTTP_E_CANCELLED */
void http_free(struct http *h);       /* after cancel_all; closes uv handles */

#endif
