/*
 * slack.c - the Slack connector (see slack.h for what it does and why).
 *
 * Three machines share one struct slack:
 *
 *   sockets   two slots, each a wsclient.h client.  The primary one is
 *             kept connected (its retry path signs in with auth.test when
 *             needed and asks apps.connections.open for each attempt); the
 *             other is opened only when Slack announces a refresh, and
 *             becomes the primary when it says hello.
 *   intake    envelopes from either socket: handed to the daemon, and
 *             acknowledged from post_done once stored (or at once when
 *             there is nothing to store); redeliveries recognised by
 *             event_id while in flight and after.
 *   sends     one job per outbox row, in a list scanned in order by
 *             pump(): a job waits for its method's rate limit and its
 *             channel's pace, marks itself durably ("sending"), then posts;
 *             a job that found a mark from an earlier attempt looks for its
 *             message first.
 *
 * All timers are uv timers (LOOP-NOTES.md); lws is only asked for
 * writeable callbacks, through wsclient.
 */
#include "connectors/slack/slack.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "store.h"
#include "url.h"
#include "util.h"
#include "wsclient.h"

#define PLATFORM        "slack"
#define URL_MAX         2048
#define API_BODY_MAX    (512u * 1024u)
#define ACKS_MAX        8 /* envelopes of one event waiting for its commit */
#define EV_BUCKETS      1024
#define PACE_SLOTS      512
#define PACE_PROBE      16
#define CURSOR_MAX      512
#define LOOKUP_LIMIT    "15" /* what Slack allows apps outside its Marketplace */
#define DEFAULT_WAIT_MS 1000L

/* --- state ------------------------------------------------------------------------ */

struct slack;

enum method { M_OPEN = 0, M_AUTH, M_POST, M_DM, M_HISTORY, M_REPLIES, M_COUNT };
static const char *const method_names[M_COUNT] = {"apps.connections.open", "auth.test",
                                                  "chat.postMessage",      "conversations.open",
                                                  "conversations.history", "conversations.replies"};

struct method_limit {
	int64_t until_ms; /* nothing on this method before then */
	int strikes;      /* 429s in a row, for a 429 that names no wait */
};

enum sock_state { SOCK_IDLE = 0, SOCK_OPENING, SOCK_LIVE, SOCK_RETIRING };

struct slack_sock {
	struct slack *sl;
	int idx;
	struct wsclient *ws;
	enum sock_state state;
	int refresh_wanted; /* Slack announced this socket's end */
	int too_many;       /* Slack said too_many_websockets on it */
	int wait_boot;      /* its attempt waits for auth.test */
	uv_timer_t open_timer;
};

/* An event id seen lately; `pending` while its post is not yet durable. */
struct ev_entry {
	char id[SLACK_MAX_ID + 1];
	struct sl_cookie *pending;
	struct ev_entry *hnext;
};

/* A post handed to the daemon, until its post_done. */
struct sl_cookie {
	struct slack *sl;
	struct sl_cookie *prev, *next;
	struct ev_entry *entry;
	size_t nacks;
	struct {
		char id[SLACK_MAX_ID + 1];
		int slot;
	} acks[ACKS_MAX];
};

enum job_step { J_START = 0, J_READY, J_BUSY };

/* One outbox row on its way, possibly as several messages. */
struct sl_job {
	struct slack *sl;
	struct sl_job *prev, *next;
	enum job_step step;
	int64_t id;
	char idem[STORE_MAX_KEY + 1];
	char thread_key[STORE_MAX_KEY + 1];
	char reply_to[STORE_MAX_KEY + 1];
	char channel[SLACK_MAX_ID + 1];
	char thread_ts[SLACK_MAX_TS + 1];
	char recipient[SLACK_MAX_ID + 1];
	int via_dm; /* a private reply: channel is the customer's DM */
	char *parts[SLACK_MAX_PARTS];
	size_t nparts, next_part;
	/* A mark from an earlier attempt: look for part next_part first. */
	int lookup;
	int64_t mark_t;
	char look_channel[SLACK_MAX_ID + 1];
	char look_thread[SLACK_MAX_TS + 1];
	char cursor[CURSOR_MAX];
	int pages;
};

struct slack {
	struct connector *c;
	struct loop *loop;
	char token[CONFIG_SECRET_MAX + 1];
	char app_token[CONFIG_SECRET_MAX + 1];
	char api[URL_MAX]; /* "https://slack.com", no trailing slash */
	int stopping, closing, timers;

	/* who we are (auth.test) */
	int signed_in, auth_busy;
	int bot_refused, app_refused;
	char self_user[SLACK_MAX_ID + 1], self_bot[SLACK_MAX_ID + 1], team[SLACK_MAX_ID + 1];
	int64_t bot_retry_ms; /* replies wait until then after the bot token was refused */

	/* sockets */
	struct slack_sock sock[2];
	int primary;
	int link_disabled;
	double open_tokens;
	int64_t open_refill_ms;

	/* limits */
	struct method_limit limit[M_COUNT];
	struct limit_read {
		struct slack *sl;
		int m;
	} limit_reads[M_COUNT];
	struct {
		char channel[SLACK_MAX_ID + 1];
		int64_t next_ms;
	} pace[PACE_SLOTS];

	/* intake */
	struct ev_entry *ev_ring; /* SLACK_EVENTS_REMEMBERED, reused in turn */
	size_t ev_next;
	struct ev_entry *ev_bucket[EV_BUCKETS];
	struct sl_cookie *cookies;

	/* sends */
	struct sl_job *jobs_head, *jobs_tail;
	unsigned inflight;
	int looking; /* a history read is on its way: the others wait for it */
	int pumping, pump_again;
	uv_timer_t pump_timer;
	/* why the last DM channel could not be had (read by dm_got) */
	struct {
		enum send_result r;
		long wait_s;
		char detail[224];
	} dm_fail;

	struct metric *m_events, *m_limited;
};

static int64_t now_ms(void)
{
	return outbox_now_ms();
}

static const struct slack_conf *sl_conf(const struct slack *sl)
{
	return sl->c->conf->settings;
}

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

static long secs_until(int64_t until, int64_t now)
{
	return until > now ? (long)((until - now + 999) / 1000) : 0;
}

/* --- secrets ------------------------------------------------------------------------- */

static int read_tokens(struct slack *sl)
{
	const struct slack_conf *sc = sl_conf(sl);
	if (connector_secret_read(sl->c, &sc->token, "the bot token", sl->token, sizeof(sl->token)) < 0 ||
	    connector_secret_read(sl->c, &sc->app_token, "the app-level token", sl->app_token,
	                          sizeof(sl->app_token)) < 0)
		return -1;
	if (strncmp(sl->token, "xapp-", 5) == 0 || strncmp(sl->app_token, "xoxb-", 5) == 0) {
		log_error(
		    "slack: the bot token and the app-level token look swapped: token is the xoxb- one, "
		    "app_token the xapp- one",
		    "connector=%s", sl->c->name);
		return -1;
	}
	if (strncmp(sl->token, "xoxb-", 5) != 0)
		log_warn("slack: the bot token does not start with xoxb-: is it the Bot User OAuth Token?",
		         "connector=%s", sl->c->name);
	if (strncmp(sl->app_token, "xapp-", 5) != 0)
		log_warn("slack: the app-level token does not start with xapp-", "connector=%s", sl->c->name);
	return 0;
}

/* --- HTTP ------------------------------------------------------------------------------ */

typedef void (*api_done_fn)(struct slack *sl, const struct http_response *r, void *arg);

struct api_req {
	struct slack *sl;
	api_done_fn done;
	void *arg;
};

static void api_req_done(const struct http_response *r, void *arg)
{
	struct api_req *q = arg;
	q->done(q->sl, r, q->arg);
	free(q);
}

/* {api}/api/<method>?k=v&... with every value URL-encoded by curl.  0 or -1. */
static int api_url(const struct slack *sl, const char *method, const char *const *query, char *out, size_t n)
{
	char base[URL_MAX + 64];
	char *full = NULL;
	int rc = -1;
	CURLU *u = curl_url();
	if (!u)
		return -1;
	snprintf(base, sizeof(base), "%s/api/%s", sl->api, method);
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
		goto out;
	for (size_t i = 0; query && query[i]; i += 2) {
		char *kv = xasprintf("%s=%s", query[i], query[i + 1] ? query[i + 1] : "");
		CURLUcode uc = curl_url_set(u, CURLUPART_QUERY, kv, CURLU_APPENDQUERY | CURLU_URLENCODE);
		free(kv);
		if (uc != CURLUE_OK)
			goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK || strlen(full) >= n)
		goto out;
	snprintf(out, n, "%s", full);
	rc = 0;
out:
	curl_free(full);
	curl_url_cleanup(u);
	return rc;
}

/*
 * One Web API call with a token: GET with query parameters, or POST with
 * a JSON body (json_body) or none.  0 when started (done follows exactly
 * once, with HTTP_E_CANCELLED at teardown), -1 when it could not start
 * (done is not called).
 */
static int api_call(struct slack *sl, enum method m, const char *const *query, const char *json_body,
                    const char *token, api_done_fn done, void *arg)
{
	char url[URL_MAX + 2048];
	int post = m != M_HISTORY && m != M_REPLIES;
	if (sl->closing || !sl->loop->http || api_url(sl, method_names[m], query, url, sizeof(url)) < 0)
		return -1;
	struct http_request req = {
	    .method = post ? "POST" : "GET",
	    .url = url,
	    .content_type = json_body ? "application/json; charset=utf-8" : NULL,
	    .body = json_body,
	    .body_len = json_body ? strlen(json_body) : 0,
	    .bearer = token,
	    .max_body = API_BODY_MAX,
	};
	struct api_req *q = xmalloc(sizeof(*q));
	q->sl = sl;
	q->done = done;
	q->arg = arg;
	if (!http_start(sl->loop->http, &req, api_req_done, q)) {
		free(q);
		return -1;
	}
	return 0;
}

/* What a response says, in one of four words. */
enum answer { A_OK = 0, A_RATE, A_ERROR, A_TRANSPORT };

/* Classify r; error gets Slack's error code, or a description of what
 * went wrong on the way. */
static enum answer answer_of(const struct http_response *r, char *error, size_t n)
{
	if (r->error == HTTP_E_TRANSPORT) {
		snprintf(error, n, "%s", r->error_text && *r->error_text ? r->error_text : "network error");
		return A_TRANSPORT;
	}
	if (r->error == HTTP_E_TOO_BIG) {
		snprintf(error, n, "answer too large");
		return A_TRANSPORT;
	}
	if (r->status == 429) {
		snprintf(error, n, "ratelimited");
		return A_RATE;
	}
	if (r->status >= 500 || r->status == 408) {
		snprintf(error, n, "HTTP %ld", r->status);
		return A_TRANSPORT;
	}
	int ok = slack_api_ok(r->body, r->body_len, error, n);
	if (ok == 1 && r->status == 200)
		return A_OK;
	if (ok < 0) {
		snprintf(error, n, "HTTP %ld, not a Web API answer", r->status);
		return r->status >= 200 && r->status < 300 ? A_TRANSPORT : A_ERROR;
	}
	return slack_error_class(error) == SLACK_ERR_RATE ? A_RATE : A_ERROR;
}

/* A 429 on method m: hold it until the time Slack names (kept in the
 * store too, so a restart does not ask again).  Returns that time. */
static int64_t rate_limited(struct slack *sl, enum method m, const struct http_response *r)
{
	int64_t now = now_ms();
	struct method_limit *l = &sl->limit[m];
	int64_t until = http_retry_at_ms(r, now);
	if (l->strikes < 6)
		l->strikes++;
	if (!until)
		until = now + (DEFAULT_WAIT_MS << (l->strikes - 1));
	if (until > l->until_ms)
		l->until_ms = until;
	if (m == M_POST && until > sl->c->paused_until_ms)
		sl->c->paused_until_ms = until;
	char v[32];
	snprintf(v, sizeof(v), "%" PRId64, l->until_ms);
	connector_state_put(sl->c, "limit", method_names[m], NULL, v);
	metric_add_l(sl->m_limited, 1, sl->c->name, method_names[m]);
	log_warn("slack: rate limited (429): the method waits for its reset",
	         "connector=%s method=%s wait_ms=%lld", sl->c->name, method_names[m],
	         (long long)(l->until_ms - now));
	return l->until_ms;
}

static void limit_read(void *arg, int rc, const struct store_state *st)
{
	struct limit_read *lr = arg;
	struct slack *sl = lr->sl;
	long long v = 0;
	if (rc != 0 || !st->value || sscanf(st->value, "%lld", &v) != 1)
		return;
	if ((int64_t)v > now_ms() && (int64_t)v > sl->limit[lr->m].until_ms) {
		sl->limit[lr->m].until_ms = (int64_t)v;
		if (lr->m == M_POST && (int64_t)v > sl->c->paused_until_ms)
			sl->c->paused_until_ms = (int64_t)v;
		log_info("slack: a rate limit from before the restart still holds",
		         "connector=%s method=%s wait_ms=%lld", sl->c->name, method_names[lr->m],
		         (long long)((int64_t)v - now_ms()));
	}
}

/* --- per-channel pace ----------------------------------------------------------------------- */

/* The slot of channel ch (found, or a free one claimed), or NULL when the
 * table is busy around it (then no pace is kept for it: Slack's 429 still
 * protects). */
static int pace_slot(struct slack *sl, const char *ch, int claim, int64_t now)
{
	size_t h = (size_t)(hash64(ch, strlen(ch)) % PACE_SLOTS);
	int free_slot = -1;
	for (size_t k = 0; k < PACE_PROBE; k++) {
		size_t i = (h + k) % PACE_SLOTS;
		if (strcmp(sl->pace[i].channel, ch) == 0)
			return (int)i;
		if (free_slot < 0 && (!sl->pace[i].channel[0] || sl->pace[i].next_ms <= now))
			free_slot = (int)i;
	}
	if (claim && free_slot >= 0) {
		snprintf(sl->pace[free_slot].channel, sizeof(sl->pace[free_slot].channel), "%s", ch);
		sl->pace[free_slot].next_ms = 0;
	}
	return claim ? free_slot : -1;
}

static int64_t pace_next(struct slack *sl, const char *ch, int64_t now)
{
	int i = pace_slot(sl, ch, 0, now);
	return i < 0 ? 0 : sl->pace[i].next_ms;
}

static void pace_take(struct slack *sl, const char *ch, int64_t now)
{
	int i = pace_slot(sl, ch, 1, now);
	if (i >= 0)
		sl->pace[i].next_ms = now + SLACK_CHANNEL_SPACING_MS;
}

/* --- event ids ------------------------------------------------------------------------------ */

static struct ev_entry **ev_chain(struct slack *sl, const char *id)
{
	return &sl->ev_bucket[hash64(id, strlen(id)) % EV_BUCKETS];
}

static struct ev_entry *ev_find(struct slack *sl, const char *id)
{
	for (struct ev_entry *e = *ev_chain(sl, id); e; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void ev_unlink(struct slack *sl, struct ev_entry *e)
{
	for (struct ev_entry **pp = ev_chain(sl, e->id); *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	if (e->pending)
		e->pending->entry = NULL;
	e->pending = NULL;
	e->hnext = NULL;
	e->id[0] = '\0';
}

/* Remember event id (oldest forgotten first). */
static struct ev_entry *ev_add(struct slack *sl, const char *id)
{
	struct ev_entry *e = &sl->ev_ring[sl->ev_next];
	sl->ev_next = (sl->ev_next + 1) % SLACK_EVENTS_REMEMBERED;
	if (e->id[0])
		ev_unlink(sl, e);
	snprintf(e->id, sizeof(e->id), "%s", id);
	struct ev_entry **head = ev_chain(sl, id);
	e->hnext = *head;
	*head = e;
	return e;
}

/* --- acknowledgements ---------------------------------------------------------------------- */

/* Acknowledge an envelope: on its own socket, or on the other one when
 * that one is gone.  Without any socket the ack is lost and Slack sends
 * the envelope again, which is then a duplicate. */
static void ack(struct slack *sl, int slot, const char *envelope_id)
{
	json_t *o = json_pack("{s:s}", "envelope_id", envelope_id);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int sent = 0;
	json_decref(o);
	for (int i = 0; text && i < 2 && !sent; i++) {
		int k = i == 0 ? slot : 1 - slot;
		if (k < 0 || k > 1)
			continue;
		struct wsclient *w = sl->sock[k].ws;
		if (wsclient_is_open(w) && wsclient_send(w, text, strlen(text), 0) == 0)
			sent = 1;
	}
	if (!sent)
		log_info("slack: no socket to acknowledge on: Slack will deliver the envelope again",
		         "connector=%s envelope=%s", sl->c->name, envelope_id);
	free(text);
}

/* --- intake ---------------------------------------------------------------------------------- */

static void cookie_unlink(struct slack *sl, struct sl_cookie *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		sl->cookies = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->prev = k->next = NULL;
}

/*
 * Hand one message to the daemon.  1 when a post_done will follow, 0 when
 * the daemon refused it (stopping): then it is not acknowledged, and Slack
 * delivers it again to the next process.
 */
static int deliver(struct slack *sl, int slot, const struct slack_frame *f)
{
	const struct slack_event *m = &f->msg;
	char post_id[SLACK_POST_ID_MAX + 1], thread[SLACK_POST_ID_MAX + 1];

	slack_post_id(m, post_id, sizeof(post_id));
	slack_thread_key(m, thread, sizeof(thread));
	struct post p = {
	    .platform = PLATFORM,
	    .connector = sl->c->name,
	    .post_id = post_id,
	    .thread_key = thread,
	    .reply_to_id = post_id,
	    .author_id = m->user,
	    .author_handle = m->user,
	    .author_name = m->author_name,
	    .channel = sl->c->conf->channel,
	    .text = m->text ? m->text : "",
	    .author_is_bot = 0,
	    .is_self = 0,
	    .is_public = !m->is_im,
	    .created = m->created,
	};
	struct sl_cookie *k = xcalloc(1, sizeof(*k));
	k->sl = sl;
	k->nacks = 1;
	snprintf(k->acks[0].id, sizeof(k->acks[0].id), "%s", f->envelope_id);
	k->acks[0].slot = slot;
	k->next = sl->cookies;
	if (sl->cookies)
		sl->cookies->prev = k;
	sl->cookies = k;
	if (f->event_id[0]) {
		k->entry = ev_add(sl, f->event_id);
		k->entry->pending = k;
	}
	if (connector_deliver_post(sl->c, &p, k) < 0) {
		if (k->entry)
			ev_unlink(sl, k->entry);
		cookie_unlink(sl, k);
		free(k);
		return 0;
	}
	return 1;
}

static void close_sockets(struct slack *sl)
{
	for (int i = 0; i < 2; i++) {
		if (sl->timers)
			uv_timer_stop(&sl->sock[i].open_timer);
		wsclient_stop(sl->sock[i].ws);
	}
}

static void sl_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct slack *sl = c->priv;
	struct sl_cookie *k = cookie;
	cookie_unlink(sl, k);
	if (a->status == POST_FAILED) {
		/* Not stored: no ack, so Slack delivers it again; forget the id so
		 * that the redelivery is taken. */
		log_warn("slack: message not stored: left unacknowledged for Slack to deliver again",
		         "connector=%s envelope=%s", c->name, k->acks[0].id);
		if (k->entry)
			ev_unlink(sl, k->entry);
	} else {
		if (k->entry)
			k->entry->pending = NULL;
		if (!sl->closing)
			for (size_t i = 0; i < k->nacks; i++)
				ack(sl, k->acks[i].slot, k->acks[i].id);
	}
	free(k);
	/* Stopping: the sockets stayed open for these acks; now they may go. */
	if (sl->stopping && !sl->cookies && !sl->closing)
		close_sockets(sl);
}

static void on_hello(struct slack_sock *k, const struct slack_frame *f);
static void on_disconnect(struct slack_sock *k, const char *reason);

static void on_envelope(struct slack_sock *k, struct slack_frame *f, const char *err)
{
	struct slack *sl = k->sl;
	struct connector *c = sl->c;
	const struct slack_event *m = &f->msg;

	if (sl->stopping || connector_stopping(c))
		return; /* not acknowledged: the next process gets it */
	if (!f->has_message || m->skip) {
		/* Nothing to store: acknowledge now. */
		if (err && *err) {
			struct buf b;
			quote(&b, err);
			log_warn("slack: event dropped", "connector=%s envelope=%s reason=%s", c->name,
			         f->envelope_id, b.p);
			buf_free(&b);
			metric_add_l(sl->m_events, 1, c->name, "bad");
		} else if (f->has_message) {
			log_debug("slack: message skipped", "connector=%s channel=%s ts=%s why=%s subtype=%s",
			          c->name, m->channel, m->ts, m->skip, m->subtype[0] ? m->subtype : "-");
			metric_add_l(sl->m_events, 1, c->name, "skipped");
		} else {
			log_debug("slack: envelope without a message", "connector=%s type=%s", c->name,
			          f->envelope_type[0] ? f->envelope_type : "-");
			metric_add_l(sl->m_events, 1, c->name, "other");
		}
		ack(sl, k->idx, f->envelope_id);
		return;
	}
	struct ev_entry *e = f->event_id[0] ? ev_find(sl, f->event_id) : NULL;
	if (e) {
		metric_add_l(sl->m_events, 1, c->name, "redelivered");
		log_info("slack: event delivered again",
		         "connector=%s event=%s retry_attempt=%d retry_reason=%s", c->name, f->event_id,
		         f->retry_attempt, f->retry_reason[0] ? f->retry_reason : "-");
		if (!e->pending) {
			ack(sl, k->idx, f->envelope_id); /* stored already */
		} else if (e->pending->nacks < ACKS_MAX) {
			/* Still on its way to the disk: acknowledged with it. */
			struct sl_cookie *ck = e->pending;
			snprintf(ck->acks[ck->nacks].id, sizeof(ck->acks[ck->nacks].id), "%s",
			         f->envelope_id);
			ck->acks[ck->nacks++].slot = k->idx;
		}
		return;
	}
	metric_add_l(sl->m_events, 1, c->name, "message");
	if (f->retry_attempt > 0)
		log_info("slack: event delivered again",
		         "connector=%s event=%s retry_attempt=%d retry_reason=%s", c->name,
		         f->event_id[0] ? f->event_id : "-", f->retry_attempt,
		         f->retry_reason[0] ? f->retry_reason : "-");
	deliver(sl, k->idx, f);
}

static void sock_message(void *arg, const char *data, size_t len, int binary)
{
	struct slack_sock *k = arg;
	struct slack *sl = k->sl;
	struct slack_frame f;
	char err[256];
	(void)binary;
	enum slack_frame_kind kind = slack_parse_frame(data, len, sl->self_user, &f, err, sizeof(err));
	switch (kind) {
	case SLACK_FRAME_HELLO: on_hello(k, &f); break;
	case SLACK_FRAME_DISCONNECT: on_disconnect(k, f.reason); break;
	case SLACK_FRAME_ENVELOPE: on_envelope(k, &f, err); break;
	case SLACK_FRAME_OTHER: log_debug("slack: frame ignored", "connector=%s", sl->c->name); break;
	case SLACK_FRAME_BAD:
	default: {
		struct buf b;
		quote(&b, err);
		log_warn("slack: frame dropped", "connector=%s reason=%s", sl->c->name, b.p);
		buf_free(&b);
		metric_add_l(sl->m_events, 1, sl->c->name, "bad");
		break;
	}
	}
	slack_frame_free(&f);
}

/* --- sockets ------------------------------------------------------------------------------------ */

#define LINK_DISABLED_DETAIL                                                                                 \
	"Socket Mode is turned off in the Slack app's settings (link_disabled): turn it on under Settings "  \
	"> "                                                                                                 \
	"Socket Mode"

static void open_url(struct slack_sock *k);
static void boot(struct slack *sl);

static int other(const struct slack_sock *k)
{
	return 1 - k->idx;
}

static void on_hello(struct slack_sock *k, const struct slack_frame *f)
{
	struct slack *sl = k->sl;
	if (k->state == SOCK_RETIRING) {
		wsclient_close_now(k->ws, 1000, "not needed");
		return;
	}
	k->state = SOCK_LIVE;
	k->refresh_wanted = k->too_many = 0;
	if (sl->link_disabled)
		log_info("slack: Socket Mode is on again", "connector=%s", sl->c->name);
	sl->link_disabled = 0;
	if (k->idx != sl->primary) {
		/* The refresh socket is up: the old one may go now. */
		struct slack_sock *old = &sl->sock[sl->primary];
		sl->primary = k->idx;
		if (old->state != SOCK_IDLE) {
			old->state = SOCK_RETIRING;
			wsclient_close_now(old->ws, 1000, "refreshed");
		}
		log_info("slack: socket refreshed", "connector=%s socket=%d", sl->c->name, k->idx);
	}
	log_info("slack: connected", "connector=%s socket=%d connections=%ld lifetime_s=%ld", sl->c->name,
	         k->idx, f->num_connections, f->connection_time_s);
	connector_set_health(sl->c, HEALTH_OK, "connected");
}

static void on_disconnect(struct slack_sock *k, const char *reason)
{
	struct slack *sl = k->sl;
	struct slack_sock *o = &sl->sock[other(k)];
	log_info("slack: disconnect announced", "connector=%s socket=%d reason=%s", sl->c->name, k->idx,
	         reason);
	if (strcmp(reason, "link_disabled") == 0) {
		sl->link_disabled = 1;
		return; /* the close that follows reports it */
	}
	if (strcmp(reason, "too_many_websockets") == 0) {
		k->too_many = 1;
		log_warn("slack: too many Socket Mode connections for this app: is another program using its "
		         "app-level token?",
		         "connector=%s", sl->c->name);
		return;
	}
	/* warning, refresh_requested, or a reason we do not know: open the
	 * next socket now, so that there is no gap. */
	k->refresh_wanted = 1;
	if (k->idx == sl->primary && o->state == SOCK_IDLE && !sl->stopping) {
		o->state = SOCK_OPENING;
		wsclient_start(o->ws);
	}
}

static void open_timer_cb(uv_timer_t *t)
{
	open_url(t->data);
}

static void on_open(struct slack *sl, const struct http_response *r, void *arg)
{
	struct slack_sock *k = arg;
	char error[160], why[256];
	if (r->error == HTTP_E_CANCELLED || sl->closing)
		return;
	switch (answer_of(r, error, sizeof(error))) {
	case A_RATE: {
		int64_t until = rate_limited(sl, M_OPEN, r);
		wsclient_url_failed(k->ws, "apps.connections.open is rate limited", WSCLIENT_RETRY,
		                    (long)(until - now_ms()));
		return;
	}
	case A_TRANSPORT:
		snprintf(why, sizeof(why), "cannot reach Slack: %s", error);
		wsclient_url_failed(k->ws, why, WSCLIENT_RETRY, 0);
		return;
	case A_ERROR:
		if (slack_error_class(error) == SLACK_ERR_AUTH) {
			sl->app_refused = 1;
			snprintf(why, sizeof(why), "Slack refused the app-level token (%s): check app_token",
			         error);
			log_error("slack: the app-level token was refused",
			          "connector=%s error=%s retry_in_s=%ld", sl->c->name, error,
			          SLACK_FATAL_RETRY_MS / 1000);
			wsclient_url_failed(k->ws, why, WSCLIENT_FATAL, 0);
		} else {
			snprintf(why, sizeof(why), "apps.connections.open failed: %s", error);
			wsclient_url_failed(k->ws, why, WSCLIENT_RETRY, 0);
		}
		return;
	case A_OK: break;
	}
	sl->limit[M_OPEN].strikes = 0;
	sl->app_refused = 0;
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	json_t *u = json_object_get(o, "url");
	struct url_parts up;
	char url[WSCLIENT_URL_MAX];
	int usable =
	    json_is_string(u) && json_string_length(u) < sizeof(url) &&
	    url_parse(json_string_value(u), &up) == 0 &&
	    (!strcmp(up.scheme, "wss") || (!strcmp(up.scheme, "ws") && url_host_is_loopback(up.host)));
	if (usable)
		snprintf(url, sizeof(url), "%s", json_string_value(u));
	json_decref(o);
	if (!usable) {
		wsclient_url_failed(k->ws, "apps.connections.open gave no usable wss:// address",
		                    WSCLIENT_RETRY, 0);
		return;
	}
	wsclient_connect_url(k->ws, url);
}

/* Ask apps.connections.open for slot k's next URL, within our own pace. */
static void open_url(struct slack_sock *k)
{
	struct slack *sl = k->sl;
	int64_t now = now_ms();
	if (sl->closing || sl->stopping)
		return;
	/* The bucket: SLACK_OPEN_BURST at once, then one per SLACK_OPEN_EVERY_MS. */
	sl->open_tokens += (double)(now - sl->open_refill_ms) / (double)SLACK_OPEN_EVERY_MS;
	if (sl->open_tokens > SLACK_OPEN_BURST)
		sl->open_tokens = SLACK_OPEN_BURST;
	sl->open_refill_ms = now;
	int64_t gate = sl->limit[M_OPEN].until_ms;
	if (sl->open_tokens < 1.0) {
		int64_t t = now + (int64_t)((1.0 - sl->open_tokens) * (double)SLACK_OPEN_EVERY_MS) + 1;
		if (t > gate)
			gate = t;
	}
	if (gate > now) {
		log_info("slack: waiting before asking for a socket address (apps.connections.open)",
		         "connector=%s wait_ms=%lld", sl->c->name, (long long)(gate - now));
		uv_timer_start(&k->open_timer, open_timer_cb, (uint64_t)(gate - now), 0);
		return;
	}
	sl->open_tokens -= 1.0;
	if (sl->app_refused) {
		const struct slack_conf *sc = sl_conf(sl);
		if (connector_secret_read(sl->c, &sc->app_token, "the app-level token", sl->app_token,
		                          sizeof(sl->app_token)) < 0) {
			wsclient_url_failed(k->ws, "cannot read the app-level token", WSCLIENT_FATAL, 0);
			return;
		}
	}
	if (api_call(sl, M_OPEN, NULL, NULL, sl->app_token, on_open, k) < 0)
		wsclient_url_failed(k->ws, "cannot start a request", WSCLIENT_RETRY, 0);
}

/* auth.test answered (or failed): every slot waiting for it goes on. */
static void boot_finish(struct slack *sl, const char *why, enum wsclient_next next, long delay_ms)
{
	for (int i = 0; i < 2; i++) {
		struct slack_sock *k = &sl->sock[i];
		if (!k->wait_boot)
			continue;
		k->wait_boot = 0;
		if (why)
			wsclient_url_failed(k->ws, why, next, delay_ms);
		else
			open_url(k);
	}
}

static void on_auth(struct slack *sl, const struct http_response *r, void *arg)
{
	char error[160], why[256];
	(void)arg;
	sl->auth_busy = 0;
	if (r->error == HTTP_E_CANCELLED || sl->closing)
		return;
	switch (answer_of(r, error, sizeof(error))) {
	case A_RATE: {
		int64_t until = rate_limited(sl, M_AUTH, r);
		boot_finish(sl, "auth.test is rate limited", WSCLIENT_RETRY, (long)(until - now_ms()));
		return;
	}
	case A_TRANSPORT:
		snprintf(why, sizeof(why), "cannot reach Slack: %s", error);
		boot_finish(sl, why, WSCLIENT_RETRY, 0);
		return;
	case A_ERROR:
		if (slack_error_class(error) == SLACK_ERR_AUTH) {
			sl->bot_refused = 1;
			snprintf(why, sizeof(why), "Slack refused the bot token (%s): check token", error);
			log_error("slack: the bot token was refused", "connector=%s error=%s retry_in_s=%ld",
			          sl->c->name, error, SLACK_FATAL_RETRY_MS / 1000);
			boot_finish(sl, why, WSCLIENT_FATAL, 0);
		} else {
			snprintf(why, sizeof(why), "auth.test failed: %s", error);
			boot_finish(sl, why, WSCLIENT_RETRY, 0);
		}
		return;
	case A_OK: break;
	}
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	const char *user = json_string_value(json_object_get(o, "user_id"));
	const char *bot = json_string_value(json_object_get(o, "bot_id"));
	const char *team = json_string_value(json_object_get(o, "team_id"));
	const char *name = json_string_value(json_object_get(o, "user"));
	if (!slack_id_ok(user) || (bot && !slack_id_ok(bot))) {
		json_decref(o);
		boot_finish(sl, "unexpected answer to auth.test", WSCLIENT_RETRY, 0);
		return;
	}
	snprintf(sl->self_user, sizeof(sl->self_user), "%s", user);
	snprintf(sl->self_bot, sizeof(sl->self_bot), "%s", bot ? bot : "");
	snprintf(sl->team, sizeof(sl->team), "%s", slack_id_ok(team) ? team : "");
	struct buf b;
	quote(&b, name && strlen(name) < 128 ? name : "");
	log_info("slack: signed in", "connector=%s user=%s bot=%s team=%s name=%s", sl->c->name,
	         sl->self_user, sl->self_bot[0] ? sl->self_bot : "-", sl->team[0] ? sl->team : "-", b.p);
	buf_free(&b);
	if (!bot)
		log_warn("slack: auth.test names no bot id: is `token` a bot token (xoxb-)?", "connector=%s",
		         sl->c->name);
	json_decref(o);
	if (sl->bot_refused)
		log_info("slack: Slack accepts the bot token again", "connector=%s", sl->c->name);
	sl->bot_refused = 0;
	sl->bot_retry_ms = 0;
	sl->signed_in = 1;
	boot_finish(sl, NULL, WSCLIENT_RETRY, 0);
}

/* Sign in (auth.test), once for every slot that waits for it. */
static void boot(struct slack *sl)
{
	if (sl->auth_busy)
		return;
	int64_t now = now_ms();
	if (sl->limit[M_AUTH].until_ms > now) {
		boot_finish(sl, "auth.test is rate limited", WSCLIENT_RETRY,
		            (long)(sl->limit[M_AUTH].until_ms - now));
		return;
	}
	if (sl->bot_refused) {
		const struct slack_conf *sc = sl_conf(sl);
		if (connector_secret_read(sl->c, &sc->token, "the bot token", sl->token, sizeof(sl->token)) <
		    0) {
			boot_finish(sl, "cannot read the bot token", WSCLIENT_FATAL, 0);
			return;
		}
	}
	sl->auth_busy = 1;
	if (api_call(sl, M_AUTH, NULL, NULL, sl->token, on_auth, NULL) < 0) {
		sl->auth_busy = 0;
		boot_finish(sl, "cannot start a request", WSCLIENT_RETRY, 0);
	}
}

/* wsclient: the address of slot k's next attempt. */
static enum wsclient_url sock_url(void *arg, char *url, size_t n)
{
	struct slack_sock *k = arg;
	struct slack *sl = k->sl;
	(void)url;
	(void)n;
	if (k->state == SOCK_IDLE || k->state == SOCK_RETIRING)
		k->state = SOCK_OPENING;
	if (!sl->signed_in || sl->bot_refused) {
		k->wait_boot = 1;
		boot(sl);
	} else {
		open_url(k);
	}
	return WSCLIENT_URL_PENDING;
}

static void sock_open(void *arg)
{
	struct slack_sock *k = arg;
	log_debug("slack: socket open, waiting for hello", "connector=%s socket=%d", k->sl->c->name, k->idx);
}

static enum wsclient_next sock_closed(void *arg, const struct wsclient_close *ci, char *detail, size_t n)
{
	struct slack_sock *k = arg;
	struct slack *sl = k->sl;
	struct slack_sock *o = &sl->sock[other(k)];
	enum sock_state was = k->state;

	k->state = SOCK_IDLE;
	if (sl->stopping || sl->closing)
		return WSCLIENT_STOP;
	if (was == SOCK_RETIRING)
		return WSCLIENT_IDLE;
	if (k->idx != sl->primary) {
		/* A refresh socket that did not make it: try again while the
		 * primary one is known to be ending. */
		if (sl->sock[sl->primary].state == SOCK_LIVE && sl->sock[sl->primary].refresh_wanted &&
		    !sl->link_disabled) {
			k->state = SOCK_OPENING;
			return WSCLIENT_RETRY;
		}
		return WSCLIENT_IDLE;
	}
	if (sl->link_disabled) {
		if (o->state != SOCK_IDLE) {
			o->state = SOCK_RETIRING;
			wsclient_close_now(o->ws, 1000, "link disabled");
		}
		log_error(
		    "slack: Socket Mode is turned off for this app (link_disabled): not reconnecting for now",
		    "connector=%s retry_in_s=%ld", sl->c->name, SLACK_FATAL_RETRY_MS / 1000);
		snprintf(detail, n, "%s", LINK_DISABLED_DETAIL);
		k->state = SOCK_OPENING;
		return WSCLIENT_FATAL;
	}
	if (o->state == SOCK_OPENING || o->state == SOCK_LIVE) {
		/* The refresh socket takes over. */
		sl->primary = o->idx;
		return WSCLIENT_IDLE;
	}
	k->state = SOCK_OPENING;
	if (k->too_many) {
		snprintf(detail, n,
		         "too many Socket Mode connections for this app (another program with the same "
		         "app-level token?)");
		return WSCLIENT_RETRY;
	}
	if (ci->http_status)
		snprintf(detail, n, "WebSocket upgrade refused: HTTP %u", ci->http_status);
	/* An announced end: straight to a new socket. */
	return k->refresh_wanted ? WSCLIENT_RETRY_NOW : WSCLIENT_RETRY;
}

static const struct wsclient_ops sock_ops = {
    .url = sock_url,
    .open = sock_open,
    .message = sock_message,
    .closed = sock_closed,
};

/* --- sends --------------------------------------------------------------------------------------- */

static void pump(struct slack *sl);

static void job_free(struct sl_job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j);
}

static void job_unlink(struct slack *sl, struct sl_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		sl->jobs_head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		sl->jobs_tail = j->prev;
	j->prev = j->next = NULL;
}

/* The row is settled (or given back): tell the outbox, forget the job. */
static void job_finish(struct sl_job *j, enum send_result r, long retry_after, const char *detail)
{
	struct slack *sl = j->sl;
	int64_t id = j->id;
	job_unlink(sl, j);
	job_free(j);
	if (!sl->closing)
		connector_send_done(sl->c, id, r, retry_after, detail);
}

static void job_ready(struct sl_job *j)
{
	j->step = J_READY;
	pump(j->sl);
}

static void mark_put(struct sl_job *j)
{
	json_t *o =
	    json_pack("{s:I, s:I, s:s, s:s}", "part", (json_int_t)j->next_part, "t",
	              (json_int_t)connector_now(j->sl->c), "channel", j->channel, "thread_ts", j->thread_ts);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!v || connector_state_put(j->sl->c, "sending", j->idem, j->thread_key, v) < 0)
		log_warn("slack: send mark not stored", "connector=%s outbox=%lld", j->sl->c->name,
		         (long long)j->id);
	free(v);
	json_decref(o);
}

static void mark_drop(struct sl_job *j)
{
	connector_state_delete(j->sl->c, "sending", j->idem);
}

/* A part is out (posted now, or found posted earlier): the next one, or done. */
static void part_done(struct sl_job *j, const char *ts, int found)
{
	struct slack *sl = j->sl;
	log_debug(found ? "slack: earlier reply found: not sent again" : "slack: reply posted",
	          "connector=%s outbox=%lld channel=%s ts=%s part=%zu/%zu", sl->c->name, (long long)j->id,
	          j->channel, ts, j->next_part + 1, j->nparts);
	if (found)
		log_info("slack: a reply sent before a restart or a lost answer was found: not sent again",
		         "connector=%s outbox=%lld channel=%s ts=%s", sl->c->name, (long long)j->id,
		         j->channel, ts);
	j->lookup = 0;
	j->pages = 0;
	j->cursor[0] = '\0';
	if (++j->next_part < j->nparts) {
		job_ready(j);
		return;
	}
	mark_drop(j);
	job_finish(j, SEND_OK, 0, NULL);
}

static void on_posted(struct slack *sl, const struct http_response *r, void *arg)
{
	struct sl_job *j = arg;
	char error[160], d[224];
	if (r->error == HTTP_E_CANCELLED || sl->closing)
		return; /* the row stays pending, its mark too: destroy frees the job */
	sl->inflight--;
	switch (answer_of(r, error, sizeof(error))) {
	case A_OK: {
		sl->limit[M_POST].strikes = 0;
		if (sl->bot_refused) {
			sl->bot_refused = 0;
			log_info("slack: Slack accepts the bot token again", "connector=%s", sl->c->name);
			if (sl->sock[sl->primary].state == SOCK_LIVE)
				connector_set_health(sl->c, HEALTH_OK, "connected");
		}
		json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
		const char *ts = json_string_value(json_object_get(o, "ts"));
		char tsb[SLACK_MAX_TS + 1];
		snprintf(tsb, sizeof(tsb), "%s", ts && slack_ts_ok(ts) ? ts : "-");
		json_decref(o);
		part_done(j, tsb, 0);
		break;
	}
	case A_RATE: {
		/* Not posted.  The row waits with the wait stored; the others
		 * wait for the method in memory (or come back the same way). */
		int64_t until = rate_limited(sl, M_POST, r);
		mark_drop(j);
		job_finish(j, SEND_LATER, secs_until(until, now_ms()), "rate limited (429)");
		break;
	}
	case A_TRANSPORT:
		/* It may have been posted: the mark stays, the next attempt looks. */
		snprintf(d, sizeof(d), "chat.postMessage: %s", error);
		job_finish(j, SEND_RETRY, 0, d);
		break;
	case A_ERROR:
		snprintf(d, sizeof(d), "chat.postMessage: %s", error);
		switch (slack_error_class(error)) {
		case SLACK_ERR_AUTH:
			mark_drop(j);
			sl->bot_refused = 1;
			sl->bot_retry_ms = now_ms() + SLACK_FATAL_RETRY_MS;
			snprintf(d, sizeof(d), "Slack refused the bot token (%s): check token", error);
			connector_fatal(sl->c, d);
			job_finish(j, SEND_RETRY, SLACK_FATAL_RETRY_MS / 1000, d);
			break;
		case SLACK_ERR_UNKNOWN: job_finish(j, SEND_RETRY, 0, d); break;
		case SLACK_ERR_RETRY:
			mark_drop(j);
			job_finish(j, SEND_RETRY, 0, d);
			break;
		case SLACK_ERR_RATE:
		case SLACK_ERR_FINAL:
		default:
			mark_drop(j);
			if (j->via_dm && strcmp(error, "channel_not_found") == 0) {
				/* The remembered DM is gone: open it again next time. */
				connector_state_delete(sl->c, "dm", j->recipient);
				job_finish(j, SEND_RETRY, 0, d);
				break;
			}
			log_warn("slack: Slack refused the reply",
			         "connector=%s outbox=%lld channel=%s error=%s", sl->c->name,
			         (long long)j->id, j->channel, error);
			job_finish(j, SEND_FAIL, 0, d);
			break;
		}
		break;
	}
	pump(sl);
}

static void post_part(struct sl_job *j)
{
	struct slack *sl = j->sl;
	json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:{s:s, s:{s:s, s:I, s:s}}}", "channel", j->channel,
	                      "text", j->parts[j->next_part], "unfurl_links", 0, "unfurl_media", 0,
	                      "metadata", "event_type", SLACK_METADATA_TYPE, "event_payload", "key", j->idem,
	                      "part", (json_int_t)j->next_part, "reply_to", j->reply_to);
	if (o && j->thread_ts[0])
		json_object_set_new(o, "thread_ts", json_string(j->thread_ts));
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body) {
		/* Only text that is not UTF-8 gets here: it never will be. */
		sl->inflight--;
		mark_drop(j);
		job_finish(j, SEND_FAIL, 0, "the reply is not valid UTF-8");
		return;
	}
	if (api_call(sl, M_POST, NULL, body, sl->token, on_posted, j) < 0) {
		sl->inflight--;
		mark_drop(j);
		job_finish(j, SEND_RETRY, 0, "cannot start the request");
	}
	free(body);
}

/* The mark is durable (or could not be made): the request may leave. */
static void marked(void *arg, int rc)
{
	struct sl_job *j = arg;
	struct slack *sl = j->sl;
	if (sl->closing)
		return;
	if (rc < 0) {
		sl->inflight--;
		job_finish(j, SEND_RETRY, 0, "the send mark could not be stored");
		pump(sl);
		return;
	}
	post_part(j);
}

static void lookup_start(struct sl_job *j);

static void on_looked(struct slack *sl, const struct http_response *r, void *arg)
{
	struct sl_job *j = arg;
	char error[160], d[224], ts[SLACK_MAX_TS + 1];
	enum method m = j->look_thread[0] ? M_REPLIES : M_HISTORY;
	if (r->error == HTTP_E_CANCELLED || sl->closing)
		return;
	sl->inflight--;
	sl->looking--;
	switch (answer_of(r, error, sizeof(error))) {
	case A_RATE: {
		int64_t until = rate_limited(sl, m, r);
		job_finish(j, SEND_LATER, secs_until(until, now_ms()),
		           "rate limited (429) while looking for a reply");
		pump(sl);
		return;
	}
	case A_TRANSPORT:
		snprintf(d, sizeof(d), "%s: %s", method_names[m], error);
		job_finish(j, SEND_RETRY, 0, d);
		pump(sl);
		return;
	case A_ERROR:
	case A_OK: break;
	}
	sl->limit[m].strikes = 0;
	int found = slack_history_find(r->body, r->body_len, j->idem, (int)j->next_part, sl->self_bot, ts,
	                               sizeof(ts), j->cursor, sizeof(j->cursor), error, sizeof(error));
	if (found > 0) {
		part_done(j, ts, 1);
		pump(sl);
		return;
	}
	if (found < 0) {
		enum slack_error_class ec = slack_error_class(error);
		if (ec == SLACK_ERR_RETRY || ec == SLACK_ERR_UNKNOWN) {
			snprintf(d, sizeof(d), "%s: %s", method_names[m], error);
			job_finish(j, SEND_RETRY, 0, d);
			pump(sl);
			return;
		}
		/* Cannot look (a missing history scope, say): send, saying so. */
		log_warn("slack: cannot look for an earlier reply: sending it (it may show twice)",
		         "connector=%s outbox=%lld method=%s error=%s", sl->c->name, (long long)j->id,
		         method_names[m], error);
		j->lookup = 0;
	} else if (j->cursor[0] && ++j->pages < SLACK_LOOKUP_PAGES) {
		job_ready(j); /* the next page */
		return;
	} else {
		j->lookup = 0; /* not there: it was never posted */
	}
	j->cursor[0] = '\0';
	job_ready(j);
}

static void lookup_start(struct sl_job *j)
{
	struct slack *sl = j->sl;
	char oldest[32], latest[32];
	enum method m = j->look_thread[0] ? M_REPLIES : M_HISTORY;
	snprintf(oldest, sizeof(oldest), "%lld.000000", (long long)(j->mark_t - SLACK_LOOKUP_BEFORE_S));
	snprintf(latest, sizeof(latest), "%lld.000000", (long long)(j->mark_t + SLACK_LOOKUP_AFTER_S));
	const char *q[24];
	size_t n = 0;
	q[n++] = "channel";
	q[n++] = j->look_channel;
	if (j->look_thread[0]) {
		q[n++] = "ts";
		q[n++] = j->look_thread;
	}
	q[n++] = "oldest";
	q[n++] = oldest;
	q[n++] = "latest";
	q[n++] = latest;
	q[n++] = "inclusive";
	q[n++] = "true";
	q[n++] = "limit";
	q[n++] = LOOKUP_LIMIT;
	q[n++] = "include_all_metadata";
	q[n++] = "true";
	if (j->cursor[0]) {
		q[n++] = "cursor";
		q[n++] = j->cursor;
	}
	q[n] = NULL;
	if (api_call(sl, m, q, NULL, sl->token, on_looked, j) < 0) {
		sl->inflight--;
		sl->looking--;
		job_finish(j, SEND_RETRY, 0, "cannot start the request");
	}
}

/* When job j may go (epoch ms; <= now: now). */
static int64_t job_gate(struct slack *sl, const struct sl_job *j, int64_t now)
{
	int64_t gate = sl->bot_retry_ms;
	if (j->lookup) {
		enum method m = j->look_thread[0] ? M_REPLIES : M_HISTORY;
		if (sl->limit[m].until_ms > gate)
			gate = sl->limit[m].until_ms;
		return gate;
	}
	if (sl->limit[M_POST].until_ms > gate)
		gate = sl->limit[M_POST].until_ms;
	int64_t p = pace_next(sl, j->channel, now);
	return p > gate ? p : gate;
}

static void job_start(struct sl_job *j)
{
	struct slack *sl = j->sl;
	j->step = J_BUSY;
	sl->inflight++;
	if (j->lookup) {
		sl->looking++;
		lookup_start(j);
		return;
	}
	pace_take(sl, j->channel, now_ms());
	/* Durable before the request leaves: after a crash the mark says to
	 * look before sending again. */
	mark_put(j);
	connector_commit(sl->c, marked, j);
}

static void pump_cb(uv_timer_t *t)
{
	pump(t->data);
}

/* Start every job whose limits allow it; wake up for the earliest other. */
static void pump(struct slack *sl)
{
	if (sl->closing)
		return;
	if (sl->pumping) {
		sl->pump_again = 1;
		return;
	}
	sl->pumping = 1;
	int64_t wake = 0;
	if (sl->bot_refused && sl->bot_retry_ms && sl->bot_retry_ms <= now_ms()) {
		/* After a refused token, try again with what the file says now. */
		const struct slack_conf *sc = sl_conf(sl);
		connector_secret_read(sl->c, &sc->token, "the bot token", sl->token, sizeof(sl->token));
		sl->bot_retry_ms = 0;
	}
	do {
		sl->pump_again = 0;
		wake = 0;
		int64_t now = now_ms();
		struct sl_job *nx;
		for (struct sl_job *j = sl->jobs_head; j; j = nx) {
			nx = j->next;
			if (j->step != J_READY)
				continue;
			int64_t gate = job_gate(sl, j, now);
			if (gate > now) {
				if (gate - now > SLACK_HOLD_MS || sl->stopping) {
					/* A long wait is the outbox's, stored with the row. */
					job_finish(j, SEND_LATER, secs_until(gate, now),
					           "rate limited: waiting for the reset");
					continue;
				}
				if (!wake || gate < wake)
					wake = gate;
				continue;
			}
			if (sl->inflight >= SLACK_MAX_INFLIGHT)
				break;
			if (j->lookup && sl->looking)
				continue; /* one read at a time: its answer pumps again */
			job_start(j);
		}
	} while (sl->pump_again && !sl->closing);
	sl->pumping = 0;
	if (wake && sl->timers) {
		int64_t now = now_ms();
		uint64_t due = (uint64_t)(wake > now ? wake - now : 0);
		if (!uv_is_active((uv_handle_t *)&sl->pump_timer) ||
		    uv_timer_get_due_in(&sl->pump_timer) > due)
			uv_timer_start(&sl->pump_timer, pump_cb, due, 0);
	}
}

/* --- DM channels ---------------------------------------------------------------------------------- */

static void dm_fail(struct slack *sl, enum send_result r, long wait_s, const char *detail)
{
	sl->dm_fail.r = r;
	sl->dm_fail.wait_s = wait_s;
	snprintf(sl->dm_fail.detail, sizeof(sl->dm_fail.detail), "%s", detail);
}

static void on_dm_opened(struct slack *sl, const struct http_response *r, void *arg)
{
	struct connector_dm_req *req = arg;
	char error[160], d[200];
	if (r->error == HTTP_E_CANCELLED || sl->closing) {
		dm_fail(sl, SEND_RETRY, 0, "stopping");
		connector_dm_opened(req, NULL);
		return;
	}
	switch (answer_of(r, error, sizeof(error))) {
	case A_RATE: {
		int64_t until = rate_limited(sl, M_DM, r);
		dm_fail(sl, SEND_LATER, secs_until(until, now_ms()), "rate limited (429) opening a DM");
		connector_dm_opened(req, NULL);
		return;
	}
	case A_TRANSPORT:
		snprintf(d, sizeof(d), "conversations.open: %s", error);
		dm_fail(sl, SEND_RETRY, 0, d);
		connector_dm_opened(req, NULL);
		return;
	case A_ERROR: {
		enum slack_error_class ec = slack_error_class(error);
		snprintf(d, sizeof(d), "conversations.open: %s", error);
		dm_fail(sl, ec == SLACK_ERR_FINAL ? SEND_FAIL : SEND_RETRY,
		        ec == SLACK_ERR_AUTH ? SLACK_FATAL_RETRY_MS / 1000 : 0, d);
		if (ec == SLACK_ERR_AUTH)
			log_error(
			    "slack: cannot open direct messages: the bot token lacks a scope (im:write?)",
			    "connector=%s error=%s", sl->c->name, error);
		connector_dm_opened(req, NULL);
		return;
	}
	case A_OK: break;
	}
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(json_object_get(o, "channel"), "id"));
	char ch[SLACK_MAX_ID + 1] = "";
	if (slack_id_ok(id))
		snprintf(ch, sizeof(ch), "%s", id);
	json_decref(o);
	if (!ch[0])
		dm_fail(sl, SEND_RETRY, 0, "conversations.open gave no channel");
	connector_dm_opened(req, ch[0] ? ch : NULL);
}

/* connector_dm_channel's `open`: conversations.open {"users": recipient}. */
static void dm_open(struct connector *c, const char *recipient, struct connector_dm_req *req)
{
	struct slack *sl = c->priv;
	int64_t now = now_ms();
	if (sl->limit[M_DM].until_ms > now) {
		dm_fail(sl, SEND_LATER, secs_until(sl->limit[M_DM].until_ms, now),
		        "rate limited: waiting for the reset");
		connector_dm_opened(req, NULL);
		return;
	}
	json_t *o = json_pack("{s:s}", "users", recipient);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body || api_call(sl, M_DM, NULL, body, sl->token, on_dm_opened, req) < 0) {
		dm_fail(sl, SEND_RETRY, 0, "cannot start the request");
		connector_dm_opened(req, NULL);
	}
	free(body);
}

static void dm_got(void *arg, int rc, const char *channel)
{
	struct sl_job *j = arg;
	struct slack *sl = j->sl;
	if (sl->closing)
		return;
	if (rc != 0 || !slack_id_ok(channel)) {
		enum send_result r = sl->dm_fail.detail[0] ? sl->dm_fail.r : SEND_RETRY;
		long wait = sl->dm_fail.detail[0] ? sl->dm_fail.wait_s : 0;
		char d[sizeof(sl->dm_fail.detail)];
		snprintf(d, sizeof(d), "%s", sl->dm_fail.detail[0] ? sl->dm_fail.detail : "no DM channel");
		sl->dm_fail.detail[0] = '\0';
		job_finish(j, r, wait, d);
		return;
	}
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	j->thread_ts[0] = '\0';
	if (j->lookup && !j->look_channel[0])
		snprintf(j->look_channel, sizeof(j->look_channel), "%s", channel);
	job_ready(j);
}

/* The job's mark from an earlier attempt, if any: look before sending. */
static void mark_got(void *arg, int rc, const struct store_state *st)
{
	struct sl_job *j = arg;
	struct slack *sl = j->sl;
	if (sl->closing)
		return;
	if (rc == 0 && st->value) {
		json_t *o = json_loads(st->value, 0, NULL);
		json_t *part = json_object_get(o, "part"), *t = json_object_get(o, "t");
		const char *ch = json_string_value(json_object_get(o, "channel"));
		const char *th = json_string_value(json_object_get(o, "thread_ts"));
		if (json_is_integer(part) && json_integer_value(part) >= 0 &&
		    (size_t)json_integer_value(part) < j->nparts && json_is_integer(t) && slack_id_ok(ch)) {
			j->lookup = 1;
			j->next_part = (size_t)json_integer_value(part);
			j->mark_t = (int64_t)json_integer_value(t);
			snprintf(j->look_channel, sizeof(j->look_channel), "%s", ch);
			snprintf(j->look_thread, sizeof(j->look_thread), "%s",
			         th && slack_ts_ok(th) ? th : "");
			log_info("slack: a reply may have been sent before: looking for it first",
			         "connector=%s outbox=%lld part=%zu", sl->c->name, (long long)j->id,
			         j->next_part);
		}
		json_decref(o);
	}
	if (j->via_dm)
		connector_dm_channel(sl->c, j->recipient, dm_open, dm_got, j);
	else
		job_ready(j);
}

static int sl_send(struct connector *c, const struct outmsg *m)
{
	struct slack *sl = c->priv;
	char channel[SLACK_MAX_ID + 1], thread_ts[SLACK_MAX_TS + 1];

	if (!m->thread_key || slack_thread_parse(m->thread_key, channel, thread_ts) < 0) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "not a Slack conversation");
		return 0;
	}
	if (!connector_idem_ok(m->idem_key)) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "unusable idempotency key");
		return 0;
	}
	int via_dm = m->is_private && !slack_channel_is_im(channel);
	if (via_dm && !slack_id_ok(m->recipient)) {
		connector_send_done(c, m->id, SEND_FAIL, 0,
		                    "a private reply without a customer to send it to");
		return 0;
	}
	struct sl_job *j = xcalloc(1, sizeof(*j));
	j->sl = sl;
	j->id = m->id;
	j->via_dm = via_dm;
	snprintf(j->idem, sizeof(j->idem), "%s", m->idem_key);
	snprintf(j->thread_key, sizeof(j->thread_key), "%s", m->thread_key);
	snprintf(j->reply_to, sizeof(j->reply_to), "%s", m->reply_to_id ? m->reply_to_id : "");
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	snprintf(j->thread_ts, sizeof(j->thread_ts), "%s", thread_ts);
	if (via_dm)
		snprintf(j->recipient, sizeof(j->recipient), "%s", m->recipient);
	j->nparts = slack_build_parts(m->text, SLACK_MAX_CHARS, j->parts, SLACK_MAX_PARTS);
	if (j->nparts == 0) {
		job_free(j);
		connector_send_done(c, m->id, SEND_FAIL, 0, "empty reply");
		return 0;
	}
	/* In the list from now on, so that destroy finds it whatever happens. */
	j->prev = sl->jobs_tail;
	if (sl->jobs_tail)
		sl->jobs_tail->next = j;
	else
		sl->jobs_head = j;
	sl->jobs_tail = j;
	connector_state_get(c, "sending", j->idem, mark_got, j);
	return 0;
}

/* --- connector ops ------------------------------------------------------------------------------------ */

static int sl_idle(struct connector *c)
{
	struct slack *sl = c->priv;
	return !sl || (sl->inflight == 0 && !sl->jobs_head && !sl->cookies);
}

static void sl_stop(struct connector *c)
{
	struct slack *sl = c->priv;
	if (!sl)
		return;
	/* No new envelope is taken (nor acknowledged: the next process gets
	 * it); the sockets stay until the posts already taken are stored and
	 * acknowledged, so that Slack does not send those again. */
	sl->stopping = 1;
	if (!sl->cookies)
		close_sockets(sl);
	/* Replies held by a limit go back to the outbox, which keeps them
	 * (with their wait) for the next start. */
	pump(sl);
}

static void sl_close(struct connector *c)
{
	struct slack *sl = c->priv;
	if (!sl)
		return;
	sl->closing = 1;
	if (sl->timers) {
		uv_close((uv_handle_t *)&sl->pump_timer, NULL);
		for (int i = 0; i < 2; i++)
			uv_close((uv_handle_t *)&sl->sock[i].open_timer, NULL);
		sl->timers = 0;
	}
	for (int i = 0; i < 2; i++)
		wsclient_close(sl->sock[i].ws);
}

static void sl_destroy(struct connector *c)
{
	struct slack *sl = c->priv;
	if (!sl)
		return;
	while (sl->jobs_head) {
		struct sl_job *j = sl->jobs_head;
		job_unlink(sl, j);
		job_free(j);
	}
	while (sl->cookies) {
		struct sl_cookie *k = sl->cookies;
		cookie_unlink(sl, k);
		free(k);
	}
	for (int i = 0; i < 2; i++)
		wsclient_free(sl->sock[i].ws);
	free(sl->ev_ring);
	explicit_bzero(sl->token, sizeof(sl->token));
	explicit_bzero(sl->app_token, sizeof(sl->app_token));
	free(sl);
	c->priv = NULL;
}

static int sl_start(struct connector *c)
{
	const struct slack_conf *sc = c->conf ? c->conf->settings : NULL;
	struct slack *sl = xcalloc(1, sizeof(*sl));
	c->priv = sl;
	sl->c = c;
	sl->loop = connector_loop(c);
	if (!sc) {
		log_error("slack: no settings", "connector=%s", c->name);
		return -1;
	}
	snprintf(sl->api, sizeof(sl->api), "%s", sc->instance ? sc->instance : SLACK_DEFAULT_INSTANCE);
	for (size_t n = strlen(sl->api); n > 0 && sl->api[n - 1] == '/'; n--)
		sl->api[n - 1] = '\0';
	if (read_tokens(sl) < 0)
		return -1;
	sl->ev_ring = xcalloc(SLACK_EVENTS_REMEMBERED, sizeof(*sl->ev_ring));
	sl->open_tokens = SLACK_OPEN_BURST;
	sl->open_refill_ms = now_ms();

	struct metrics *mx = connector_metrics(c);
	sl->m_events = metrics_counter(
	    mx, "slack_events_total", "Slack envelopes received (message, redelivered, skipped, other, bad).",
	    "connector,kind");
	sl->m_limited = metrics_counter(mx, "slack_rate_limited_total", "Slack Web API calls answered 429.",
	                                "connector,method");

	uv_timer_init(&sl->loop->uv, &sl->pump_timer);
	sl->pump_timer.data = sl;
	/* Slack pings; lws answers.  We ping after silence and drop a socket
	 * silent for SLACK_DEAD_MS (a zombie). */
	struct wsclient_conf wc = {
	    .label = "slack",
	    .max_message = SLACK_MAX_FRAME,
	    .ping_idle_ms = SLACK_PING_IDLE_MS,
	    .dead_ms = SLACK_DEAD_MS,
	    .fatal_retry_ms = SLACK_FATAL_RETRY_MS,
	    .report_ready = 1,
	};
	for (int i = 0; i < 2; i++) {
		struct slack_sock *k = &sl->sock[i];
		k->sl = sl;
		k->idx = i;
		uv_timer_init(&sl->loop->uv, &k->open_timer);
		k->open_timer.data = k;
	}
	sl->timers = 1;
	for (int i = 0; i < 2; i++) {
		sl->sock[i].ws = wsclient_new(c, &wc, &sock_ops, &sl->sock[i]);
		if (!sl->sock[i].ws)
			return -1;
	}
	connector_set_health(c, HEALTH_STARTING, "connecting");

	/* Waits from before a restart, and housekeeping. */
	time_t now = connector_now(c);
	connector_state_prune(c, "sending", now - (time_t)SLACK_STATE_DAYS * 86400);
	connector_state_prune(c, "limit", now - 86400);
	for (int m = 0; m < M_COUNT; m++) {
		sl->limit_reads[m].sl = sl;
		sl->limit_reads[m].m = m;
		connector_state_get(c, "limit", method_names[m], limit_read, &sl->limit_reads[m]);
	}
	sl->primary = 0;
	sl->sock[0].state = SOCK_OPENING;
	wsclient_start(sl->sock[0].ws);
	log_info("slack: starting", "connector=%s instance=%s", c->name, sl->api);
	return 0;
}

/* --- configuration ------------------------------------------------------------------------------------ */

static void *sl_parse(struct config_parser *p)
{
	struct slack_conf *s = xcalloc(1, sizeof(*s));
	if (config_key_given(p, "instance"))
		s->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 0,
		                             "(Slack's address; leave it out for https://slack.com)");
	else
		s->instance = xstrdup(SLACK_DEFAULT_INSTANCE);
	config_key_secret(p, "token", 1, "the bot token, xoxb-...", &s->token);
	config_key_secret(p, "app_token", 1, "the app-level token, xapp-..., with connections:write",
	                  &s->app_token);
	if (s->instance)
		p->cc->endpoint = xstrdup(s->instance);
	return s;
}

static void sl_free_settings(void *settings)
{
	struct slack_conf *s = settings;
	if (!s)
		return;
	free(s->instance);
	free(s->token.env);
	free(s->token.file);
	free(s->app_token.env);
	free(s->app_token.file);
	free(s);
}

static const char *const sl_keys[] = {"instance",      "token_env",      "token_file",
                                      "app_token_env", "app_token_file", NULL};

const struct connector_ops slack_ops = {
    .type = "slack",
    .keys = sl_keys,
    .parse = sl_parse,
    .free_settings = sl_free_settings,
    .max_text = SLACK_MAX_CHARS,
    .caps = 0, /* replies go out as the bot: an agent's are signed */
    .start = sl_start,
    .stop = sl_stop,
    .send = sl_send,
    .idle = sl_idle,
    .close = sl_close,
    .destroy = sl_destroy,
    .post_done = sl_post_done,
};
