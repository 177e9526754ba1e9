/*
 * rest.c - REST calls and the reply queue of a connector (see rest.h).
 */
#include "rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "connector.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "url.h"
#include "util.h"

#define STRIKES_MAX 6 /* the growing wait of repeated 429s stops at 32 s */

struct rest {
	struct connector *c;
	struct loop *loop;
	struct rest_conf conf;
	struct rest_ops ops;
	void *ctx;
	char base[REST_URL_MAX + 1];
	const char *bearer;
	const char *query_name, *query_token; /* rest_set_query_token */
	struct rest_job *head, *tail;
	struct call *handled; /* calls whose caller holds a handle (rest_cancel) */
	unsigned inflight;
	int held;
	int strikes;
	int64_t limited_logged; /* the pause already announced in the log */
	uv_timer_t pace;
	int timer; /* pace is initialised and not closed */
	int closing;
};

struct rest *rest_new(struct connector *c, const struct rest_conf *conf, const struct rest_ops *ops,
                      void *ctx)
{
	struct rest *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->loop = connector_loop(c);
	r->conf = *conf;
	if (!r->conf.max_inflight)
		r->conf.max_inflight = 1;
	r->ops = *ops;
	r->ctx = ctx;
	if (r->loop) {
		uv_timer_init(&r->loop->uv, &r->pace);
		r->pace.data = r;
		r->timer = 1;
	}
	return r;
}

void rest_close(struct rest *r)
{
	if (!r)
		return;
	r->closing = 1;
	if (r->timer) {
		uv_close((uv_handle_t *)&r->pace, NULL);
		r->timer = 0;
	}
}

void rest_free(struct rest *r)
{
	if (!r)
		return;
	explicit_bzero(r->base, sizeof(r->base));
	free(r);
}

int rest_set_base(struct rest *r, const char *base)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n > REST_URL_MAX)
		return -1;
	memcpy(r->base, base, n);
	r->base[n] = '\0';
	return 0;
}

void rest_set_bearer(struct rest *r, const char *token)
{
	r->bearer = token;
}

void rest_set_query_token(struct rest *r, const char *name, const char *token)
{
	r->query_name = name;
	r->query_token = token;
}

/* --- requests ----------------------------------------------------------------------- */

struct call {
	struct rest *r;
	rest_done_fn done;
	void *arg;
	struct http_call **handle;
	struct call *next; /* in r->handled, when the caller holds a handle */
};

static void unlink_call(struct call *k)
{
	for (struct call **p = &k->r->handled; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			return;
		}
}

static void call_done(const struct http_response *resp, void *arg)
{
	struct call *k = arg;
	if (k->handle) {
		*k->handle = NULL;
		unlink_call(k);
	}
	k->done(k->r->ctx, resp, k->arg);
	free(k);
}

int rest_call(struct rest *r, const struct rest_req *q, rest_done_fn done, void *arg)
{
	char url[REST_URL_MAX + 1024];
	if (r->closing || !r->loop || !r->loop->http)
		return -1;
	int n = snprintf(url, sizeof(url), "%s%s", r->base, q->path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		explicit_bzero(url, sizeof(url));
		return -1;
	}
	if (r->query_name && r->query_token) {
		char plain[sizeof(url)];
		memcpy(plain, url, (size_t)n + 1);
		int rc = url_add_query(plain, r->query_name, r->query_token, url, sizeof(url));
		explicit_bzero(plain, sizeof(plain));
		if (rc < 0) {
			explicit_bzero(url, sizeof(url));
			return -1;
		}
	}
	struct http_request req = {
	    .method = q->method,
	    .url = url,
	    .headers = q->headers,
	    .content_type = q->json ? "application/json" : NULL,
	    .body = q->json,
	    .body_len = q->json ? strlen(q->json) : 0,
	    .bearer = r->bearer,
	    .timeout_ms = q->timeout_ms,
	    .max_body = q->max_body,
	    .idempotent = q->idempotent,
	};
	struct call *k = xmalloc(sizeof(*k));
	k->r = r;
	k->done = done;
	k->arg = arg;
	k->handle = q->handle;
	k->next = NULL;
	struct http_call *h = http_start(r->loop->http, &req, call_done, k);
	explicit_bzero(url, sizeof(url)); /* a Telegram URL holds the token */
	if (!h) {
		free(k);
		return -1;
	}
	if (q->handle) {
		*q->handle = h;
		k->next = r->handled;
		r->handled = k;
	}
	return 0;
}

void rest_cancel(struct rest *r, struct http_call **handle)
{
	for (struct call *k = r->handled; k; k = k->next)
		if (k->handle == handle) {
			unlink_call(k);
			if (*handle)
				http_cancel(*handle);
			*handle = NULL;
			free(k);
			return;
		}
}

int rest_api(struct rest *r, const char *method, const char *path, const char *json, size_t max_body,
             rest_done_fn done, void *arg)
{
	struct rest_req q = {.method = method, .path = path, .json = json, .max_body = max_body};
	return rest_call(r, &q, done, arg);
}

int rest_ok(const struct http_response *r)
{
	return r->error == HTTP_E_NONE && r->status >= 200 && r->status < 300;
}

void rest_describe(const struct http_response *r, char *out, size_t n)
{
	if (r->error == HTTP_E_TRANSPORT)
		snprintf(out, n, "%s", r->error_text && *r->error_text ? r->error_text : "network error");
	else if (r->error == HTTP_E_TOO_BIG)
		snprintf(out, n, "answer too large");
	else if (r->error == HTTP_E_CANCELLED)
		snprintf(out, n, "cancelled");
	else
		snprintf(out, n, "HTTP %ld", r->status);
}

/* --- rate limits --------------------------------------------------------------------- */

int64_t rest_wait_until(const struct http_response *r, int64_t now_ms, int64_t min_wait_ms,
                        int64_t unnamed_ms, int floor)
{
	int64_t until = http_retry_at_ms(r, now_ms);
	if (r->status != 429)
		return until > now_ms ? until : 0;
	if (min_wait_ms <= 0)
		min_wait_ms = 1000;
	if (!until)
		until = now_ms + (unnamed_ms > 0 ? unnamed_ms : min_wait_ms);
	/* A time already past (clock skew) waits the minimum. */
	if (until < now_ms + min_wait_ms && (floor || until <= now_ms))
		until = now_ms + min_wait_ms;
	return until;
}

static void pump_cb(uv_timer_t *t)
{
	rest_pump(t->data);
}

static void wake_at(struct rest *r, int64_t at_ms, int replace)
{
	if (!r->timer || r->closing)
		return;
	if (uv_is_active((uv_handle_t *)&r->pace)) {
		if (!replace)
			return;
		uv_timer_stop(&r->pace);
	}
	int64_t d = at_ms - outbox_now_ms();
	uv_timer_start(&r->pace, pump_cb, d > 0 ? (uint64_t)d : 0, 0);
}

void rest_pause(struct rest *r, int64_t until, int limited)
{
	int64_t now = outbox_now_ms();
	if (until <= now)
		return;
	if (until > r->c->paused_until_ms)
		r->c->paused_until_ms = until;
	if (r->limited_logged != r->c->paused_until_ms) {
		char msg[128], iso[40];
		r->limited_logged = r->c->paused_until_ms;
		time_iso_utc((time_t)(r->c->paused_until_ms / 1000), iso, sizeof(iso));
		snprintf(msg, sizeof(msg), "%s: %s: replies wait for the reset", r->conf.label,
		         limited ? "rate limited (429)" : "rate limit reached");
		log_warn(msg, "connector=%s until=%s wait_ms=%lld", r->c->name, iso,
		         (long long)(r->c->paused_until_ms - now));
	}
	wake_at(r, r->c->paused_until_ms, 1);
}

int rest_note_limits(struct rest *r, const struct http_response *resp)
{
	int64_t now = outbox_now_ms();
	if (resp->error != HTTP_E_NONE)
		return 0;
	if (resp->status == 429) {
		if (r->strikes < STRIKES_MAX)
			r->strikes++;
		if (r->conf.m_limited)
			metric_add_l(r->conf.m_limited, 1, r->c->name);
		rest_pause(r,
		           rest_wait_until(resp, now, 1000L << (r->strikes - 1), r->conf.unnamed_wait_ms,
		                           r->conf.strike_floor),
		           1);
		return 1;
	}
	r->strikes = 0;
	rest_pause(r, rest_wait_until(resp, now, 0, 0, 0), 0);
	return 0;
}

/* --- the queue ------------------------------------------------------------------------- */

void rest_queue(struct rest *r, struct rest_job *j)
{
	j->next = NULL;
	if (r->tail)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	rest_pump(r);
}

void rest_requeue(struct rest *r, struct rest_job *j)
{
	j->next = r->head;
	r->head = j;
	if (!r->tail)
		r->tail = j;
}

struct rest_job *rest_pop(struct rest *r)
{
	struct rest_job *j = r->head;
	if (j) {
		r->head = j->next;
		if (!r->head)
			r->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* Unlink j, whose predecessor is prev (NULL: j is the head). */
static void unlink_job(struct rest *r, struct rest_job *prev, struct rest_job *j)
{
	if (prev)
		prev->next = j->next;
	else
		r->head = j->next;
	if (r->tail == j)
		r->tail = prev;
	j->next = NULL;
}

void rest_pump(struct rest *r)
{
	if (r->closing || r->held)
		return;
	while (r->head && r->inflight < r->conf.max_inflight) {
		int64_t now = outbox_now_ms();
		if (r->c->paused_until_ms > now) {
			wake_at(r, r->c->paused_until_ms, 0);
			return;
		}
		struct rest_job *prev = NULL, *j = r->head;
		int64_t earliest = 0;
		if (r->ops.ready_at) {
			for (; j; prev = j, j = j->next) {
				int64_t at = r->ops.ready_at(r->ctx, j, now);
				if (at <= now)
					break;
				if (at != INT64_MAX && (!earliest || at < earliest))
					earliest = at;
			}
		}
		if (!j) {
			if (earliest)
				wake_at(r, earliest, 1);
			return;
		}
		unlink_job(r, prev, j);
		r->ops.start(r->ctx, j);
	}
}

void rest_started(struct rest *r)
{
	r->inflight++;
}

void rest_ended(struct rest *r)
{
	if (r->inflight)
		r->inflight--;
}

unsigned rest_inflight(const struct rest *r)
{
	return r->inflight;
}

int rest_idle(const struct rest *r)
{
	return !r || (r->inflight == 0 && !r->head);
}

void rest_stop(struct rest *r, void (*back)(void *ctx, struct rest_job *j, long secs))
{
	int64_t now = outbox_now_ms();
	if (!r || r->c->paused_until_ms <= now)
		return;
	long secs = (long)((r->c->paused_until_ms - now + 999) / 1000);
	struct rest_job *j;
	while ((j = rest_pop(r)))
		back(r->ctx, j, secs);
}

void rest_hold(struct rest *r, int go)
{
	r->held = !go;
	if (go)
		rest_pump(r);
}
