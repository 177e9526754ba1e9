/*
 * discord.c - the Discord connector (see discord.h for what it does).
 *
 * Four machines share one struct discord:
 *
 *   gateway   wsclient.h connects (ws_url asks /gateway/bot when a new
 *             session needs the URL or the IDENTIFY budget); HELLO starts
 *             the heartbeat, then IDENTIFY (spaced 5 s) or RESUME; READY or
 *             RESUMED makes the connector healthy.  Every end goes through
 *             ws_closed, which decides resume / new session / fatal.
 *   intake    MESSAGE_CREATE -> connector_deliver_post; each dispatch's
 *             sequence number waits in `pend` until its post is durable, so
 *             the sequence kept in the store never passes one that is not.
 *   catch-up  after a new session that follows an old one: the channels of
 *             GUILD_CREATE and the remembered DMs, page by page from the
 *             watermark; the next page only once the last one is durable.
 *   REST      one queue per route (discord_limits.h): one request in flight
 *             per route, limits asked before each; replies (jobs) ride on it.
 *
 * All timers are uv timers (LOOP-NOTES.md).
 */
#include "connectors/discord/discord.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "backoff.h"
#include "config.h"
#include "connectors/discord/discord_limits.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "rand.h"
#include "rest.h"
#include "store.h"
#include "url.h"
#include "util.h"
#include "wsclient.h"

#define PLATFORM        "discord"
#define API_PATH        "/api/v10"
#define URL_MAX         1024
#define USER_AGENT      "DiscordBot (https://github.com/frontdesk-bot/frontdesk, " FD_VERSION ")"
#define HELLO_WAIT_MS   20000 /* a connection that says nothing this long is dropped */
#define SAVE_DELAY_MS   100   /* session and DM list writes are grouped this long */
#define PAGE_BODY_MAX   (4u * 1024u * 1024u)
#define REPLY_BODY_MAX  (256u * 1024u)
#define VERIFY_PAGES    5    /* pages of our own recent messages searched for a lost reply */
#define RETRY_429_MAX   5    /* a request answered 429 this often gives up (a reply: to the outbox) */
#define HOLD_MEMORY_MS  1000 /* a reply held this long or less waits in memory; longer: in the outbox */
#define GUILDS_WAIT_MS  5000 /* catch-up waits this long for the GUILD_CREATEs READY announced */
#define BACKFILL_FAILS  8    /* a page failing this often is given up (logged) */
#define MAX_BACKFILL_CH 4096
#define GW_FRAMES       120 /* frames one socket may send in 60 s (Discord closes with 4008 past it) */

/* --- state ------------------------------------------------------------------- */

struct discord;

/* REST: a request waiting for (or on) its route. */
struct api_answer {
	const struct http_response *r; /* NULL when held */
	int held;                      /* a rate limit holds the route: nothing was sent */
	int64_t until_ms;              /* ... until then */
};
typedef void (*api_done_fn)(struct discord *dc, const struct api_answer *a, void *arg);

struct rq {
	struct rq *next;
	char *method, *path, *body;
	size_t max_body;
	int bounce; /* a route held longer than HOLD_MEMORY_MS answers at once (held) instead of waiting */
	int tries;  /* 429s met */
	api_done_fn done;
	void *arg;
};

struct route_q {
	struct route_q *next;
	char route[DISCORD_ROUTE_MAX];
	struct rq *head, *tail;
	int busy;
};

/* One dispatch whose sequence number waits for its post to be durable. */
struct pend {
	long long seq;
	uint64_t gen;
	char id[DISCORD_MAX_ID + 1]; /* the message, "" for other events */
	int done, failed;
};

/* A message whose conversation is being looked up (the store may answer
 * later); messages are handed to the daemon in the order they came. */
struct inmsg {
	struct inmsg *next;
	struct discord *dc;
	uint64_t gen;
	struct discord_message m;
	long long seq;   /* -1: from catch-up */
	uint64_t bf_gen; /* the catch-up it belongs to */
	int ready;
	char thread[STORE_MAX_KEY + 1];
};

/* A post handed to the daemon, until its post_done. */
struct dc_cookie {
	uint64_t gen;
	long long seq; /* -1: from catch-up */
	uint64_t bf_gen;
	char id[DISCORD_MAX_ID + 1];
};

/* One reply (outbox row) on its way, possibly as several messages. */
struct job {
	struct discord *dc;
	int64_t id;
	char thread[STORE_MAX_KEY + 1];
	char channel[DISCORD_MAX_ID + 1]; /* where it goes (a DM channel once opened) */
	int in_guild;                     /* posted where the conversation is (a guild channel or thread) */
	char reply_to[DISCORD_MAX_ID + 1];
	char idem[STORE_MAX_KEY + 1];
	char *parts[DISCORD_MAX_PARTS];
	int found[DISCORD_MAX_PARTS]; /* already on Discord (found by the check) */
	size_t nparts, next;
	int64_t created_ms;
	int verify;
	int verify_pages;
	char verify_after[DISCORD_MAX_ID + 1];
};

/* What this process knows of a row between attempts. */
struct progress {
	struct progress *next;
	int64_t id;
	size_t sent;        /* parts already posted */
	int64_t unknown_ms; /* an attempt whose outcome is unknown was made then, 0 none */
	int checked;        /* our messages were searched: no earlier process posted it */
};

enum gw_state { GW_IDLE = 0, GW_HELLO, GW_AUTH, GW_READY };

/* Why we closed the connection ourselves. */
enum close_why { WHY_NONE = 0, WHY_ZOMBIE, WHY_RECONNECT, WHY_INVALID_RESUME, WHY_INVALID_NEW, WHY_REPLAY };

struct discord {
	struct connector *c;
	struct loop *loop;
	char token[CONFIG_SECRET_MAX + 1];
	char api[URL_MAX]; /* "https://discord.com/api/v10" */
	struct wsclient *ws;
	int stopping, closing, timers;
	uv_timer_t hb_timer, hello_timer, identify_timer, pump_timer, save_timer, bf_timer;
	int64_t started_ms;

	/* session (kept in the store) */
	char session_id[DISCORD_SESSION_MAX + 1];
	char resume_url[DISCORD_URL_MAX + 1];
	char gateway_url[DISCORD_URL_MAX + 1];
	char self_id[DISCORD_MAX_ID + 1];
	char self_name[DISCORD_NAME_MAX + 1];
	char watermark[DISCORD_MAX_ID + 1]; /* every message up to it is stored */
	char live_max[DISCORD_MAX_ID + 1];  /* durable since this session began */
	int backfill_pending;               /* a catch-up is owed (kept in the store) */
	long long durable_seq, last_seq;
	long long hold_seq; /* a post before it was not stored: keep at most this until the resume */
	int session_dirty, dms_dirty;
	int loaded; /* the stored state was read */

	/* gateway */
	enum gw_state gw;
	enum close_why why;
	int resuming; /* the attempt RESUMEs (else IDENTIFYs) */
	int token_refused;
	long hb_ms;
	int hb_acked;
	int64_t gw_sent[GW_FRAMES]; /* when this socket sent its last frames (a ring) */
	unsigned gw_sent_i;         /* the oldest slot, written next */
	int64_t last_identify_ms;
	long start_remaining; /* IDENTIFYs left (from /gateway/bot), -1 unknown */
	int64_t start_reset_ms;
	uint64_t gen; /* session generation */
	unsigned replayed;

	struct pend *pend;
	size_t npend, cappend;

	/* Discord threads known (GUILD_CREATE, THREAD_*), kept in the store too */
	char (*threads)[DISCORD_MAX_ID + 1];
	size_t nthreads;

	/* messages waiting for their conversation to be known, in order */
	struct inmsg *in_head, *in_tail;

	/* catch-up */
	struct {
		int running, collecting;
		size_t guilds_expected, guilds_seen;
		char (*ch)[DISCORD_MAX_ID + 1];
		size_t n, at;
		char after[DISCORD_MAX_ID + 1];  /* the watermark it started from */
		char cursor[DISCORD_MAX_ID + 1]; /* next page after this id */
		unsigned outstanding;
		int pages, fails, failed, next_channel;
		uint64_t gen;
		unsigned long posts, channels, lost_channels;
	} bf;

	char dms[DISCORD_DM_REMEMBERED][DISCORD_MAX_ID + 1]; /* DM channels, most recent first */
	size_t ndms;
	int dm_refused; /* the last DM open was refused for good (403: the user takes no DMs) */

	/* REST and replies */
	struct discord_limits *limits;
	struct route_q *rqs;
	struct progress *progress;
	unsigned inflight;
	int64_t limited_logged;

	struct metric *m_events, *m_limited, *m_backfill;
};

static const struct discord_conf *dc_conf(const struct discord *dc)
{
	return dc->c->conf->settings;
}

/* --- thread keys (discord.h) ---------------------------------------------------- */

#define THREAD_SUFFIX "/thread"

void discord_thread_key(enum discord_conv kind, const char *channel, const char *root, char *out, size_t n)
{
	if (kind == DISCORD_CONV_MESSAGE)
		snprintf(out, n, "%s/%s", channel, root);
	else if (kind == DISCORD_CONV_THREAD)
		snprintf(out, n, "%s" THREAD_SUFFIX, channel);
	else
		snprintf(out, n, "%s", channel);
}

int discord_thread_parse(const char *key, char channel[DISCORD_MAX_ID + 1], char root[DISCORD_MAX_ID + 1])
{
	const char *sl = key ? strchr(key, '/') : NULL;
	channel[0] = root[0] = '\0';
	if (!key)
		return -1;
	size_t cl = sl ? (size_t)(sl - key) : strlen(key);
	if (cl == 0 || cl > DISCORD_MAX_ID)
		return -1;
	memcpy(channel, key, cl);
	channel[cl] = '\0';
	if (!discord_id_ok(channel))
		return -1;
	if (!sl)
		return DISCORD_CONV_DM;
	if (strcmp(sl, THREAD_SUFFIX) == 0)
		return DISCORD_CONV_THREAD;
	if (strlen(sl + 1) > DISCORD_MAX_ID || !discord_id_ok(sl + 1)) {
		channel[0] = '\0';
		return -1;
	}
	snprintf(root, DISCORD_MAX_ID + 1, "%s", sl + 1);
	return DISCORD_CONV_MESSAGE;
}

/* --- small services ------------------------------------------------------------- */

static int64_t now_ms(void)
{
	return outbox_now_ms();
}

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

static void timer_in(struct discord *dc, uv_timer_t *t, uv_timer_cb cb, int64_t ms)
{
	if (dc->closing || !dc->timers)
		return;
	uv_timer_start(t, cb, ms > 0 ? (uint64_t)ms : 0, 0);
}

static void timer_stop(struct discord *dc, uv_timer_t *t)
{
	if (dc->timers)
		uv_timer_stop(t);
}

/* dst = max(dst, id) */
static void id_max(char *dst, const char *id)
{
	if (discord_id_ok(id) && (!*dst || discord_id_cmp(id, dst) > 0))
		snprintf(dst, DISCORD_MAX_ID + 1, "%s", id);
}

/* --- the store: session, DM list, rate-limit waits ---------------------------------- */

/* Rows of the connector-private state (connector.h): one each. */
#define ST_SESSION "session", "gateway" /* session, sequence, URLs, user id, watermark */
#define ST_DMS     "dms", "recent"      /* the DM channels catch-up looks into */
#define ST_LIMITS  "limits", "rest"     /* rate-limit waits still ahead */
#define ST_DM      "dm"                 /* (the kit's) customer id -> DM channel */
#define ST_MSG     "msg"                /* message id -> its conversation (a reply joins it) */
#define ST_THREAD  "thread"             /* a Discord thread's channel id (one conversation) */
#define ST_KEEP_S  (90L * 24 * 3600)    /* msg and thread rows older than this are pruned */

static void save_cb(uv_timer_t *t);

static void state_put(struct discord *dc, const char *kind, const char *key, const char *value)
{
	if (!value || connector_state_put(dc->c, kind, key, NULL, value) < 0)
		log_warn("discord: state not stored", "connector=%s kind=%s", dc->c->name, kind);
}

static void session_save_now(struct discord *dc)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b, s:I}", "session", dc->session_id, "seq",
	                      (json_int_t)dc->durable_seq, "resume_url", dc->resume_url, "gateway_url",
	                      dc->gateway_url, "self", dc->self_id, "watermark", dc->watermark, "catchup",
	                      dc->backfill_pending, "identified", (json_int_t)dc->last_identify_ms);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	state_put(dc, ST_SESSION, s);
	free(s);
	json_decref(o);
	dc->session_dirty = 0;
}

static void dms_save_now(struct discord *dc)
{
	json_t *a = json_array();
	for (size_t i = 0; i < dc->ndms; i++)
		json_array_append_new(a, json_string(dc->dms[i]));
	char *s = json_dumps(a, JSON_COMPACT);
	state_put(dc, ST_DMS, s);
	free(s);
	json_decref(a);
	dc->dms_dirty = 0;
}

static void limits_save_now(struct discord *dc)
{
	char *s = discord_limits_save(dc->limits, now_ms());
	state_put(dc, ST_LIMITS, s ? s : "{}");
	free(s);
}

/* Write what changed soon (several changes share one write). */
static void save_soon(struct discord *dc)
{
	if (dc->timers && !dc->closing && !uv_is_active((uv_handle_t *)&dc->save_timer))
		timer_in(dc, &dc->save_timer, save_cb, SAVE_DELAY_MS);
}

static void save_cb(uv_timer_t *t)
{
	struct discord *dc = t->data;
	if (dc->session_dirty)
		session_save_now(dc);
	if (dc->dms_dirty)
		dms_save_now(dc);
}

static void session_changed(struct discord *dc)
{
	dc->session_dirty = 1;
	save_soon(dc);
}

static void copy_str(json_t *o, const char *key, char *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v) && json_string_length(v) < n)
		snprintf(out, n, "%s", json_string_value(v));
}

static void session_loaded(struct discord *dc, const char *value)
{
	json_t *o = json_loads(value, 0, NULL);
	if (!json_is_object(o)) {
		log_warn("discord: stored session unreadable: starting a new one", "connector=%s",
		         dc->c->name);
		json_decref(o);
		return;
	}
	copy_str(o, "session", dc->session_id, sizeof(dc->session_id));
	copy_str(o, "resume_url", dc->resume_url, sizeof(dc->resume_url));
	copy_str(o, "gateway_url", dc->gateway_url, sizeof(dc->gateway_url));
	copy_str(o, "self", dc->self_id, sizeof(dc->self_id));
	copy_str(o, "watermark", dc->watermark, sizeof(dc->watermark));
	json_t *seq = json_object_get(o, "seq");
	dc->durable_seq = dc->last_seq = json_is_integer(seq) ? json_integer_value(seq) : -1;
	dc->backfill_pending = json_is_true(json_object_get(o, "catchup"));
	json_t *idf = json_object_get(o, "identified");
	if (json_is_integer(idf) && json_integer_value(idf) <= now_ms())
		dc->last_identify_ms = json_integer_value(idf);
	if (dc->self_id[0] && !discord_id_ok(dc->self_id))
		dc->self_id[0] = '\0';
	if (dc->watermark[0] && !discord_id_ok(dc->watermark))
		dc->watermark[0] = '\0';
	if (dc->backfill_pending) {
		/* A catch-up was cut short: it needs GUILD_CREATE's channel list,
		 * which only a new session brings. */
		dc->session_id[0] = '\0';
	}
	json_decref(o);
}

static void dms_loaded(struct discord *dc, const char *value)
{
	json_t *a = json_loads(value, 0, NULL);
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		const char *ch = json_string_value(e);
		if (dc->ndms < DISCORD_DM_REMEMBERED && discord_id_ok(ch))
			snprintf(dc->dms[dc->ndms++], DISCORD_MAX_ID + 1, "%s", ch);
	}
	json_decref(a);
}

/*
 * A DM with user in channel: remembered first in the list catch-up looks
 * into, and (the first time this process sees it) as the DM channel
 * private replies to that customer use.
 */
static void dm_note(struct discord *dc, const char *channel, const char *user)
{
	size_t i;
	if (!discord_id_ok(channel))
		return;
	for (i = 0; i < dc->ndms; i++)
		if (strcmp(dc->dms[i], channel) == 0)
			break;
	if (i == 0 && dc->ndms)
		return; /* already the most recent */
	if (i == dc->ndms) {
		if (user && discord_id_ok(user))
			state_put(dc, ST_DM, user, channel);
		if (dc->ndms < DISCORD_DM_REMEMBERED)
			dc->ndms++;
		else
			i = dc->ndms - 1; /* full: the least recent goes */
	}
	memmove(&dc->dms[1], &dc->dms[0], i * sizeof(dc->dms[0]));
	snprintf(dc->dms[0], DISCORD_MAX_ID + 1, "%s", channel);
	dc->dms_dirty = 1;
	save_soon(dc);
}

/* --- REST ---------------------------------------------------------------------------- */

static void pump(struct discord *dc);

static void pump_cb(uv_timer_t *t)
{
	pump(t->data);
}

static void rq_free(struct rq *q)
{
	free(q->method);
	free(q->path);
	free(q->body);
	free(q);
}

static struct route_q *route_get(struct discord *dc, const char *route)
{
	for (struct route_q *r = dc->rqs; r; r = r->next)
		if (strcmp(r->route, route) == 0)
			return r;
	struct route_q *r = xcalloc(1, sizeof(*r));
	snprintf(r->route, sizeof(r->route), "%s", route);
	r->next = dc->rqs;
	dc->rqs = r;
	return r;
}

/*
 * One REST request on its route's queue: method, path below /api/v10,
 * JSON body or NULL.  done runs exactly once (with r->error
 * HTTP_E_CANCELLED at teardown, or held when `bounce` and a rate limit
 * holds the route for longer than HOLD_MEMORY_MS: a reply then goes back
 * to the outbox, which stores the wait).  Shorter holds, and a 429 that
 * names one, wait in the queue.  Requests of one route go one at a time,
 * in order.
 */
static void api(struct discord *dc, const char *method, const char *path, const char *body, size_t max_body,
                int bounce, api_done_fn done, void *arg)
{
	char route[DISCORD_ROUTE_MAX];
	struct rq *q = xcalloc(1, sizeof(*q));
	q->method = xstrdup(method);
	q->path = xstrdup(path);
	q->body = body ? xstrdup(body) : NULL;
	q->max_body = max_body;
	q->bounce = bounce;
	q->done = done;
	q->arg = arg;
	discord_route(method, path, route, sizeof(route));
	struct route_q *r = route_get(dc, route);
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	pump(dc);
}

static void cancel_answer(struct discord *dc, struct rq *q)
{
	struct http_response r;
	memset(&r, 0, sizeof(r));
	r.error = HTTP_E_CANCELLED;
	r.error_text = "cancelled";
	r.body = "";
	struct api_answer a = {.r = &r};
	q->done(dc, &a, q->arg);
}

struct inflight {
	struct discord *dc;
	struct route_q *r;
	struct rq *q;
};

static void log_limited(struct discord *dc, const char *route, const struct discord_limit_news *n)
{
	int64_t now = now_ms();
	metric_add_l(dc->m_limited, 1, dc->c->name, n->global ? "global" : n->scope[0] ? n->scope : "route");
	log_warn(n->global ? "discord: rate limited (429, global): every request waits"
	                   : "discord: rate limited (429): the route waits",
	         "connector=%s route=\"%s\" scope=%s wait_ms=%lld", dc->c->name, route,
	         n->scope[0] ? n->scope : "-", (long long)(n->until_ms - now));
}

static void api_answered(const struct http_response *r, void *arg)
{
	struct inflight *f = arg;
	struct discord *dc = f->dc;
	struct route_q *rt = f->r;
	struct rq *q = f->q;
	struct discord_limit_news news;
	free(f);
	rt->busy = 0;
	if (r->error == HTTP_E_CANCELLED) {
		q->done(dc, &(struct api_answer){.r = r}, q->arg);
		rq_free(q);
		return;
	}
	int64_t now = now_ms();
	if (discord_limits_learn(dc->limits, rt->route, r, now, 1000L << (q->tries < 6 ? q->tries : 6),
	                         &news))
		limits_save_now(dc);
	if (news.limited)
		log_limited(dc, rt->route, &news);
	if (news.global && news.until_ms > dc->c->paused_until_ms)
		dc->c->paused_until_ms = news.until_ms; /* the outbox holds every reply too */
	if (news.limited && (!q->bounce || news.until_ms - now <= HOLD_MEMORY_MS) &&
	    ++q->tries <= RETRY_429_MAX && !dc->closing) {
		/* Wait on the route, then again (front of its queue). */
		q->next = rt->head;
		rt->head = q;
		if (!rt->tail)
			rt->tail = q;
		pump(dc);
		return;
	}
	q->done(dc, &(struct api_answer){.r = r}, q->arg);
	rq_free(q);
	pump(dc);
}

static int rq_start(struct discord *dc, struct route_q *rt, struct rq *q)
{
	char url[URL_MAX + 512], auth[CONFIG_SECRET_MAX + 32];
	if (snprintf(url, sizeof(url), "%s%s", dc->api, q->path) >= (int)sizeof(url))
		return -1;
	snprintf(auth, sizeof(auth), "Authorization: Bot %s", dc->token);
	const char *headers[] = {auth, "User-Agent: " USER_AGENT, NULL};
	struct http_request req = {
	    .method = q->method,
	    .url = url,
	    .headers = headers,
	    .content_type = q->body ? "application/json" : NULL,
	    .body = q->body,
	    .body_len = q->body ? strlen(q->body) : 0,
	    .max_body = q->max_body,
	};
	struct inflight *f = xmalloc(sizeof(*f));
	f->dc = dc;
	f->r = rt;
	f->q = q;
	rt->busy = 1;
	discord_limits_sent(dc->limits, rt->route, now_ms());
	struct http_call *call = dc->loop->http ? http_start(dc->loop->http, &req, api_answered, f) : NULL;
	explicit_bzero(auth, sizeof(auth));
	if (!call) {
		rt->busy = 0;
		free(f);
		return -1;
	}
	return 0;
}

/* Start what the limits allow; arm the timer for the next that waits. */
static void pump(struct discord *dc)
{
	int64_t next = 0;
	if (dc->closing)
		return;
	for (struct route_q **pp = &dc->rqs; *pp;) {
		struct route_q *rt = *pp;
		while (!rt->busy && rt->head) {
			int64_t now = now_ms();
			enum discord_hold held = DISCORD_HOLD_NONE;
			int64_t until = discord_limits_until(dc->limits, rt->route, now, &held);
			struct rq *q = rt->head;
			int bounce = q->bounce && held != DISCORD_HOLD_NONE && until - now > HOLD_MEMORY_MS;
			if (until > now && !bounce) {
				if (!next || until < next)
					next = until;
				break;
			}
			rt->head = q->next;
			if (!rt->head)
				rt->tail = NULL;
			q->next = NULL;
			if (until > now) {
				q->done(dc, &(struct api_answer){.held = 1, .until_ms = until}, q->arg);
				rq_free(q);
				continue;
			}
			if (rq_start(dc, rt, q) < 0) {
				/* http refused (too many in flight, shutting down): as a network error. */
				struct http_response r;
				memset(&r, 0, sizeof(r));
				r.error = HTTP_E_TRANSPORT;
				r.error_text = "cannot start the request";
				r.body = "";
				q->done(dc, &(struct api_answer){.r = &r}, q->arg);
				rq_free(q);
			}
		}
		if (!rt->busy && !rt->head) {
			*pp = rt->next;
			free(rt);
		} else {
			pp = &rt->next;
		}
	}
	if (next && dc->timers && !dc->closing) {
		int64_t wait = next - now_ms();
		uv_timer_stop(&dc->pump_timer);
		timer_in(dc, &dc->pump_timer, pump_cb, wait > 0 ? wait : 1);
	}
}

/* A short description of what went wrong, for logs and /healthz; an answer
 * from Discord adds its message and code ("HTTP 403: Missing Access (50001)"). */
static void describe(const struct http_response *r, char *out, size_t n)
{
	if (!r) {
		snprintf(out, n, "rate limited");
		return;
	}
	json_t *o = r->error == HTTP_E_NONE ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(o, "message"));
	json_t *code = json_object_get(o, "code");
	if (m && json_is_integer(code) && json_integer_value(code))
		snprintf(out, n, "HTTP %ld: %.100s (%lld)", r->status, m,
		         (long long)json_integer_value(code));
	else if (m)
		snprintf(out, n, "HTTP %ld: %.100s", r->status, m);
	else
		rest_describe(r, out, n);
	json_decref(o);
}

/* --- token ---------------------------------------------------------------------------- */

#define TOKEN_DETAIL "Discord refused the bot token (401): check the token"

static int read_token(struct discord *dc)
{
	if (connector_secret_read(dc->c, &dc_conf(dc)->token, "the bot token", dc->token, sizeof(dc->token)) <
	    0)
		return -1;
	/* People paste the header value: "Bot xxx" is the token xxx. */
	if (strncmp(dc->token, "Bot ", 4) == 0)
		memmove(dc->token, dc->token + 4, strlen(dc->token + 4) + 1);
	return 0;
}

static void token_refused(struct discord *dc, const char *where)
{
	if (!dc->token_refused)
		log_error("discord: Discord refused the bot token: check the token",
		          "connector=%s where=%s "
		          "retry_in_s=%ld",
		          dc->c->name, where, DISCORD_FATAL_RETRY_MS / 1000);
	dc->token_refused = 1;
}

/* --- the gateway: sending ------------------------------------------------------------------ */

static void gw_send(struct discord *dc, const struct buf *b, const char *what)
{
	if (b->len > DISCORD_MAX_SEND || wsclient_send(dc->ws, b->p, b->len, 0) < 0) {
		log_warn("discord: gateway frame not sent", "connector=%s frame=%s bytes=%zu", dc->c->name,
		         what, b->len);
		return;
	}
	dc->gw_sent[dc->gw_sent_i] = now_ms();
	dc->gw_sent_i = (dc->gw_sent_i + 1) % GW_FRAMES;
}

/*
 * 1 when this socket may send a beat the server asked for: the frames it
 * sent in the last 60 s leave room for the regular beats of the next 60 s
 * and an IDENTIFY or RESUME besides.
 */
static int gw_budget_left(const struct discord *dc)
{
	int64_t now = now_ms();
	long regular = dc->hb_ms > 0 ? 60000 / dc->hb_ms + 1 : 0;
	long room = GW_FRAMES - 4 - regular, sent = 0;
	for (size_t k = 0; k < GW_FRAMES; k++)
		if (dc->gw_sent[k] && now - dc->gw_sent[k] < 60000)
			sent++;
	return sent < room;
}

static void heartbeat_send(struct discord *dc)
{
	struct buf b;
	buf_init(&b, 0);
	discord_heartbeat_json(dc->last_seq, &b);
	gw_send(dc, &b, "heartbeat");
	buf_free(&b);
}

static void close_now(struct discord *dc, enum close_why why, const char *reason)
{
	dc->why = why;
	timer_stop(dc, &dc->hb_timer);
	timer_stop(dc, &dc->identify_timer);
	/* Never 1000/1001: they end the session (PLATFORMS.md). */
	wsclient_close_now(dc->ws, 4000, reason);
}

static void hb_cb(uv_timer_t *t)
{
	struct discord *dc = t->data;
	if (dc->gw == GW_IDLE || !wsclient_is_open(dc->ws))
		return;
	if (!dc->hb_acked) {
		log_warn("discord: no heartbeat ACK: zombie connection, reconnecting to resume",
		         "connector=%s interval_ms=%ld", dc->c->name, dc->hb_ms);
		metric_add_l(dc->m_events, 1, dc->c->name, "zombie");
		close_now(dc, WHY_ZOMBIE, "zombie");
		return;
	}
	dc->hb_acked = 0;
	heartbeat_send(dc);
	timer_in(dc, &dc->hb_timer, hb_cb, dc->hb_ms);
}

static void identify_send(struct discord *dc)
{
	struct buf b;
	buf_init(&b, 0);
	discord_identify_json(dc->token, DISCORD_INTENTS, &b);
	dc->last_identify_ms = now_ms();
	if (dc->start_remaining > 0)
		dc->start_remaining--;
	session_changed(dc); /* the next process keeps the 5 s too */
	gw_send(dc, &b, "identify");
	explicit_bzero(b.p, b.len);
	buf_free(&b);
	dc->gw = GW_AUTH;
	log_info("discord: identifying (new session)", "connector=%s identifies_left=%ld", dc->c->name,
	         dc->start_remaining);
}

static void identify_cb(uv_timer_t *t)
{
	struct discord *dc = t->data;
	if (dc->gw == GW_HELLO && wsclient_is_open(dc->ws))
		identify_send(dc);
}

static void resume_send(struct discord *dc)
{
	struct buf b;
	buf_init(&b, 0);
	if (dc->hold_seq >= 0 && dc->hold_seq < dc->durable_seq)
		dc->durable_seq = dc->hold_seq;
	dc->hold_seq = -1; /* Discord replays everything after durable_seq */
	discord_resume_json(dc->token, dc->session_id, dc->durable_seq, &b);
	gw_send(dc, &b, "resume");
	explicit_bzero(b.p, b.len);
	buf_free(&b);
	dc->gw = GW_AUTH;
	dc->replayed = 0;
	log_info("discord: resuming", "connector=%s seq=%lld", dc->c->name, dc->durable_seq);
}

/* --- the gateway: connecting ----------------------------------------------------------------- */

static void connect_gateway(struct discord *dc);

/* The answer to GET /gateway/bot: the URL and the IDENTIFY budget. */
static void on_gateway_bot(struct discord *dc, const struct api_answer *a, void *arg)
{
	const struct http_response *r = a->r;
	char d[192];
	(void)arg;
	if (r && r->error == HTTP_E_CANCELLED)
		return;
	if (r && r->error == HTTP_E_NONE && r->status == 401) {
		token_refused(dc, "gateway/bot");
		wsclient_url_failed(dc->ws, TOKEN_DETAIL, WSCLIENT_FATAL, 0);
		return;
	}
	if (!(r && rest_ok(r))) {
		describe(r, d, sizeof(d));
		if (dc->gateway_url[0] && r && r->status != 429) {
			log_warn("discord: gateway/bot unavailable: using the cached gateway address",
			         "connector=%s error=\"%s\"", dc->c->name, d);
			connect_gateway(dc);
			return;
		}
		char why[256];
		snprintf(why, sizeof(why), "cannot ask Discord for the gateway: %s", d);
		int64_t wait = r ? http_retry_at_ms(r, now_ms()) - now_ms() : 0;
		wsclient_url_failed(dc->ws, why, WSCLIENT_RETRY, wait > 0 ? (long)wait : 0);
		return;
	}
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	const char *url = json_string_value(json_object_get(o, "url"));
	json_t *lim = json_object_get(o, "session_start_limit");
	json_t *rem = json_object_get(lim, "remaining");
	json_t *after = json_object_get(lim, "reset_after");
	char test[WSCLIENT_URL_MAX];
	if (!url || strlen(url) > DISCORD_URL_MAX || discord_gateway_url(url, test, sizeof(test)) < 0) {
		json_decref(o);
		wsclient_url_failed(dc->ws, "unusable gateway address from Discord", WSCLIENT_RETRY, 0);
		return;
	}
	if (strcmp(url, dc->gateway_url) != 0) {
		snprintf(dc->gateway_url, sizeof(dc->gateway_url), "%s", url);
		session_changed(dc);
	}
	dc->start_remaining = json_is_integer(rem) ? (long)json_integer_value(rem) : -1;
	dc->start_reset_ms = now_ms() + (json_is_number(after) ? (int64_t)json_number_value(after) : 0);
	json_decref(o);
	if (dc->token_refused)
		log_info("discord: Discord accepts the token again", "connector=%s", dc->c->name);
	dc->token_refused = 0;
	if (dc->start_remaining == 0) {
		int64_t wait = dc->start_reset_ms - now_ms();
		log_error("discord: the day's IDENTIFY budget is spent: waiting for Discord to reset it "
		          "(using more would reset the token)",
		          "connector=%s wait_s=%lld", dc->c->name, (long long)(wait / 1000));
		wsclient_url_failed(dc->ws, "IDENTIFY budget spent: waiting for the reset", WSCLIENT_RETRY,
		                    wait > 1000 ? (long)wait : 1000);
		return;
	}
	connect_gateway(dc);
}

/* The address to connect to: the resume URL when resuming (the gateway
 * URL when it is unusable), else the gateway URL.  0, or -1. */
static int gateway_address(struct discord *dc, char *url, size_t n)
{
	if (dc->resuming && dc->resume_url[0] && discord_gateway_url(dc->resume_url, url, n) == 0)
		return 0;
	return discord_gateway_url(dc->gateway_url, url, n);
}

/* After /gateway/bot answered: connect. */
static void connect_gateway(struct discord *dc)
{
	char url[WSCLIENT_URL_MAX];
	if (gateway_address(dc, url, sizeof(url)) < 0)
		wsclient_url_failed(dc->ws, "unusable gateway address", WSCLIENT_RETRY, 0);
	else
		wsclient_connect_url(dc->ws, url);
}

/* wsclient: the address of the next attempt. */
static enum wsclient_url ws_url(void *arg, char *url, size_t n)
{
	struct discord *dc = arg;
	if (!dc->loaded) {
		snprintf(url, n, "state not read yet");
		return WSCLIENT_URL_FAILED;
	}
	if (dc->token_refused) {
		/* After a refusal the token may have been replaced in its file. */
		if (read_token(dc) < 0) {
			snprintf(url, n, "cannot read the bot token");
			return WSCLIENT_URL_FAILED;
		}
	}
	dc->resuming = dc->session_id[0] != '\0' && !dc->token_refused;
	int budget_known = dc->start_remaining > 1 && now_ms() < dc->start_reset_ms;
	if ((dc->resuming || budget_known) && gateway_address(dc, url, n) == 0)
		return WSCLIENT_URL_READY;
	/* A new session: the URL and the IDENTIFY budget first. */
	api(dc, "GET", "/gateway/bot", NULL, 64 * 1024, 0, on_gateway_bot, NULL);
	return WSCLIENT_URL_PENDING;
}

static void hello_cb(uv_timer_t *t)
{
	struct discord *dc = t->data;
	if (dc->gw == GW_HELLO && dc->hb_ms == 0 && wsclient_is_open(dc->ws)) {
		log_warn("discord: no HELLO from the gateway: reconnecting", "connector=%s", dc->c->name);
		close_now(dc, WHY_RECONNECT, "no hello");
	}
}

static void ws_open(void *arg)
{
	struct discord *dc = arg;
	dc->gw = GW_HELLO;
	dc->why = WHY_NONE;
	dc->hb_ms = 0;
	dc->hb_acked = 1;
	memset(dc->gw_sent, 0, sizeof(dc->gw_sent));
	dc->gw_sent_i = 0;
	timer_in(dc, &dc->hello_timer, hello_cb, HELLO_WAIT_MS);
}

/* --- intake ------------------------------------------------------------------------------------ */

static void backfill_start(struct discord *dc);
static void backfill_next_channel(struct discord *dc);

/* The sequence number that may be kept: up to the first event whose post
 * is not durable yet, and never past one that could not be stored (hold_seq)
 * until a RESUME asked Discord for it again. */
static void pend_advance(struct discord *dc)
{
	size_t k = 0;
	while (k < dc->npend && dc->pend[k].done) {
		struct pend *p = &dc->pend[k++];
		if (p->gen != dc->gen)
			continue;
		if (p->failed) {
			if (dc->hold_seq < 0 || p->seq - 1 < dc->hold_seq)
				dc->hold_seq = p->seq - 1;
			if (dc->why == WHY_NONE && wsclient_is_open(dc->ws)) {
				log_warn("discord: a message was not stored: resuming to have it again",
				         "connector=%s seq=%lld", dc->c->name, p->seq);
				close_now(dc, WHY_REPLAY, "replay");
			}
			continue;
		}
		if (dc->hold_seq >= 0 && p->seq > dc->hold_seq)
			continue; /* the replay brings it again */
		if (p->seq > dc->durable_seq) {
			dc->durable_seq = p->seq;
			session_changed(dc);
		}
		if (p->id[0])
			id_max(dc->live_max, p->id);
	}
	if (k) {
		memmove(dc->pend, dc->pend + k, (dc->npend - k) * sizeof(*dc->pend));
		dc->npend -= k;
	}
	/* The watermark follows the durable posts unless a catch-up owes a gap. */
	if (!dc->backfill_pending && dc->watermark[0] && dc->live_max[0] &&
	    discord_id_cmp(dc->live_max, dc->watermark) > 0) {
		snprintf(dc->watermark, sizeof(dc->watermark), "%s", dc->live_max);
		session_changed(dc);
	}
}

static struct pend *pend_add(struct discord *dc, long long seq, const char *id)
{
	if (dc->npend == dc->cappend) {
		dc->cappend = dc->cappend ? dc->cappend * 2 : 64;
		dc->pend = xrealloc(dc->pend, dc->cappend * sizeof(*dc->pend));
	}
	struct pend *p = &dc->pend[dc->npend++];
	memset(p, 0, sizeof(*p));
	p->seq = seq;
	p->gen = dc->gen;
	snprintf(p->id, sizeof(p->id), "%s", id ? id : "");
	return p;
}

/* A dispatch with no post: its sequence number only waits for those before it. */
static void seq_seen(struct discord *dc, long long seq)
{
	if (seq < 0)
		return;
	pend_add(dc, seq, NULL)->done = 1;
	pend_advance(dc);
}

/*
 * Hand one message to the daemon in conversation `thread`: 1 when a
 * post_done follows, 0 when it is skipped on purpose, -1 when the daemon
 * refused it (stopping).
 */
static int deliver(struct discord *dc, struct discord_message *m, const char *thread, long long seq,
                   uint64_t gen)
{
	char handle[DISCORD_NAME_MAX + 2];
	if (dc->stopping || dc->closing)
		return -1;
	if (m->skip != DISCORD_TAKE) {
		metric_add_l(dc->m_events, 1, dc->c->name, discord_skip_name(m->skip));
		log_debug("discord: message skipped", "connector=%s message=%s why=%s", dc->c->name, m->id,
		          discord_skip_name(m->skip));
		return 0;
	}
	snprintf(handle, sizeof(handle), "@%s", m->username && *m->username ? m->username : m->author_id);
	struct post p = {
	    .platform = PLATFORM,
	    .connector = dc->c->name,
	    .post_id = m->id,
	    .thread_key = thread,
	    .reply_to_id = m->id,
	    .author_id = m->author_id,
	    .author_handle = handle,
	    .author_name = m->name && *m->name ? m->name : NULL,
	    .channel = dc->c->conf->channel,
	    .text = m->text ? m->text : "",
	    .author_is_bot = m->author_bot,
	    .is_self = 0,
	    .is_public = m->guild_id[0] != '\0',
	    .created = m->created,
	};
	struct dc_cookie *k = xcalloc(1, sizeof(*k));
	k->gen = gen;
	k->seq = seq;
	k->bf_gen = dc->bf.gen;
	snprintf(k->id, sizeof(k->id), "%s", m->id);
	if (!m->guild_id[0] && !m->author_bot)
		dm_note(dc, m->channel_id, m->author_id);
	if (connector_deliver_post(dc->c, &p, k) < 0) {
		free(k);
		return -1;
	}
	/* A later reply to this message joins its conversation. */
	if (m->guild_id[0])
		connector_state_put(dc->c, ST_MSG, m->id, thread, "c");
	return 1;
}

/* --- conversations: which one a message belongs to --------------------------------- */

static int thread_known(const struct discord *dc, const char *id)
{
	for (size_t i = 0; i < dc->nthreads; i++)
		if (strcmp(dc->threads[i], id) == 0)
			return 1;
	return 0;
}

/* Channel id is a Discord thread (kept in the store when `keep`). */
static void thread_note(struct discord *dc, const char *id, int keep)
{
	if (!discord_id_ok(id) || thread_known(dc, id))
		return;
	if (dc->nthreads < MAX_BACKFILL_CH) {
		dc->threads = xrealloc(dc->threads, (dc->nthreads + 1) * sizeof(*dc->threads));
		snprintf(dc->threads[dc->nthreads++], DISCORD_MAX_ID + 1, "%s", id);
	}
	if (keep)
		state_put(dc, ST_THREAD, id, "1");
}

static void bf_release(struct discord *dc);

/* The head of the queue is delivered as soon as its conversation is known. */
static void in_drain(struct discord *dc)
{
	while (dc->in_head && dc->in_head->ready) {
		struct inmsg *im = dc->in_head;
		dc->in_head = im->next;
		if (!dc->in_head)
			dc->in_tail = NULL;
		int rc = deliver(dc, &im->m, im->thread, im->seq, im->gen);
		if (im->seq >= 0 && rc <= 0) {
			/* No post_done will come: its sequence number is settled now. */
			for (size_t i = 0; i < dc->npend; i++)
				if (dc->pend[i].seq == im->seq && dc->pend[i].gen == im->gen &&
				    !dc->pend[i].done) {
					dc->pend[i].done = 1;
					dc->pend[i].failed = rc < 0 && !dc->stopping;
					break;
				}
			pend_advance(dc);
		} else if (im->seq < 0 && rc <= 0 && im->bf_gen == dc->bf.gen && dc->bf.running) {
			if (rc < 0)
				dc->bf.failed = 1;
			bf_release(dc);
		}
		discord_message_free(&im->m);
		free(im);
	}
}

static void in_set(struct inmsg *im, enum discord_conv kind)
{
	discord_thread_key(kind, im->m.channel_id, im->m.id, im->thread, sizeof(im->thread));
	im->ready = 1;
	in_drain(im->dc);
}

static void got_thread(void *arg, int rc, const struct store_state *st)
{
	struct inmsg *im = arg;
	(void)st;
	if (rc == 0)
		thread_note(im->dc, im->m.channel_id, 0);
	in_set(im, rc == 0 ? DISCORD_CONV_THREAD : DISCORD_CONV_MESSAGE);
}

/* Not a reply to a known message: a Discord thread is one conversation,
 * anything else starts one. */
static void in_channel(struct inmsg *im)
{
	if (thread_known(im->dc, im->m.channel_id))
		in_set(im, DISCORD_CONV_THREAD);
	else
		connector_state_get(im->dc->c, ST_THREAD, im->m.channel_id, got_thread, im);
}

static void got_ref(void *arg, int rc, const struct store_state *st)
{
	struct inmsg *im = arg;
	if (rc == 0 && st->thread_key && *st->thread_key && strlen(st->thread_key) < sizeof(im->thread)) {
		snprintf(im->thread, sizeof(im->thread), "%s", st->thread_key);
		im->ready = 1;
		in_drain(im->dc);
		return;
	}
	in_channel(im);
}

/*
 * Queue a message (moved out of *m) for the daemon, after its
 * conversation: a DM channel is one; a reply joins the conversation of
 * the message it answers (the customer's earlier message or the bot's
 * reply); a message in a Discord thread belongs to the thread; any other
 * message in a guild channel starts a conversation of its own.
 */
static void in_push(struct discord *dc, struct discord_message *m, long long seq)
{
	struct inmsg *im = xcalloc(1, sizeof(*im));
	im->dc = dc;
	im->m = *m;
	memset(m, 0, sizeof(*m));
	im->seq = seq;
	im->gen = dc->gen;
	im->bf_gen = dc->bf.gen;
	if (dc->in_tail)
		dc->in_tail->next = im;
	else
		dc->in_head = im;
	dc->in_tail = im;
	if (im->m.skip != DISCORD_TAKE || !im->m.guild_id[0])
		in_set(im, DISCORD_CONV_DM);
	else if (im->m.reply_to[0])
		connector_state_get(dc->c, ST_MSG, im->m.reply_to, got_ref, im);
	else
		in_channel(im);
}

static void on_message(struct discord *dc, struct discord_frame *f)
{
	metric_add_l(dc->m_events, 1, dc->c->name, "message");
	if (dc->gw == GW_AUTH)
		dc->replayed++;
	if (f->seq >= 0)
		pend_add(dc, f->seq, f->message.id);
	in_push(dc, &f->message, f->seq);
	f->has_message = 0; /* moved */
}

static void dc_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct discord *dc = c->priv;
	struct dc_cookie *k = cookie;
	int ok = a->status != POST_FAILED;

	if (k->seq >= 0) {
		for (size_t i = 0; i < dc->npend; i++) {
			struct pend *p = &dc->pend[i];
			if (p->seq == k->seq && p->gen == k->gen && !p->done && strcmp(p->id, k->id) == 0) {
				p->done = 1;
				p->failed = !ok;
				break;
			}
		}
		pend_advance(dc);
	} else if (dc->bf.running && k->bf_gen == dc->bf.gen && dc->bf.outstanding) {
		if (!ok)
			dc->bf.failed = 1;
		else
			id_max(dc->live_max, k->id);
		bf_release(dc);
	}
	free(k);
}

/* An answer that should be a page of messages: its entries (oldest
 * first, see discord_parse_page), or -1 with what went wrong in err. */
static long page_of(struct discord *dc, const struct http_response *r, struct discord_message **items,
                    size_t *n, char *err, size_t errn)
{
	size_t bad = 0;
	*items = NULL;
	*n = 0;
	if (!(r && rest_ok(r))) {
		describe(r, err, errn);
		return -1;
	}
	return discord_parse_page(r->body, r->body_len, dc->self_id, items, n, &bad, err, errn);
}

/* --- catch-up ---------------------------------------------------------------------------------- */

static void bf_page(struct discord *dc);

static void bf_timer_cb(uv_timer_t *t)
{
	struct discord *dc = t->data;
	if (dc->bf.collecting) {
		log_info("discord: catch-up: not every server announced itself: going on with those that did",
		         "connector=%s servers=%zu of=%zu", dc->c->name, dc->bf.guilds_seen,
		         dc->bf.guilds_expected);
		backfill_start(dc);
	} else if (dc->bf.running) {
		bf_page(dc);
	}
}

static void bf_add_channel(struct discord *dc, const char *id)
{
	for (size_t i = 0; i < dc->bf.n; i++)
		if (strcmp(dc->bf.ch[i], id) == 0)
			return;
	if (dc->bf.n >= MAX_BACKFILL_CH) {
		dc->bf.lost_channels++;
		return;
	}
	dc->bf.ch = xrealloc(dc->bf.ch, (dc->bf.n + 1) * sizeof(*dc->bf.ch));
	snprintf(dc->bf.ch[dc->bf.n++], DISCORD_MAX_ID + 1, "%s", id);
}

/* GUILD_CREATE after READY: channels with messages newer than the watermark. */
static void bf_guild(struct discord *dc, const struct discord_frame *f)
{
	if (!dc->bf.collecting)
		return;
	for (size_t i = 0; i < f->nchannels; i++)
		if (f->channels[i].last_message_id[0] &&
		    discord_id_cmp(f->channels[i].last_message_id, dc->watermark) > 0)
			bf_add_channel(dc, f->channels[i].id);
	if (++dc->bf.guilds_seen >= dc->bf.guilds_expected) {
		timer_stop(dc, &dc->bf_timer);
		backfill_start(dc);
	}
}

static void backfill_done(struct discord *dc)
{
	dc->bf.running = 0;
	if (dc->bf.failed) {
		/* Something was not stored: keep the watermark; the next new
		 * session tries again. */
		log_warn("discord: catch-up incomplete: the next new session tries again",
		         "connector=%s posts=%lu", dc->c->name, dc->bf.posts);
		return;
	}
	log_info("discord: catch-up done", "connector=%s channels=%lu posts=%lu unreadable_channels=%lu",
	         dc->c->name, dc->bf.channels, dc->bf.posts, dc->bf.lost_channels);
	dc->backfill_pending = 0;
	if (dc->live_max[0] && discord_id_cmp(dc->live_max, dc->watermark) > 0)
		snprintf(dc->watermark, sizeof(dc->watermark), "%s", dc->live_max);
	session_changed(dc);
}

static void on_bf_page(struct discord *dc, const struct api_answer *a, void *arg)
{
	const struct http_response *r = a->r;
	uint64_t gen = (uint64_t)(uintptr_t)arg;
	char err[256];
	if ((r && r->error == HTTP_E_CANCELLED) || gen != dc->bf.gen || !dc->bf.running)
		return;
	if (dc->stopping || dc->closing) {
		dc->bf.running = 0;
		return;
	}
	const char *ch = dc->bf.ch[dc->bf.at];
	if (r && r->error == HTTP_E_NONE && (r->status == 403 || r->status == 404)) {
		log_warn("discord: catch-up: cannot read this channel's history (give the bot Read Message "
		         "History there): messages sent there while it was away are not answered",
		         "connector=%s channel=%s status=%ld", dc->c->name, ch, r->status);
		dc->bf.lost_channels++;
		dc->bf.at++;
		dc->bf.pages = 0;
		backfill_next_channel(dc);
		return;
	}
	if (r && r->error == HTTP_E_NONE && r->status == 401) {
		token_refused(dc, "catch-up");
		dc->bf.failed = 1;
		backfill_done(dc);
		return;
	}
	struct discord_message *items = NULL;
	size_t n = 0;
	long total = page_of(dc, r, &items, &n, err, sizeof(err));
	if (total < 0) {
		if (++dc->bf.fails >= BACKFILL_FAILS) {
			log_warn(
			    "discord: catch-up: giving up on a channel: its messages sent while the bot was "
			    "away are not answered",
			    "connector=%s channel=%s error=\"%s\"", dc->c->name, ch, err);
			dc->bf.lost_channels++;
			dc->bf.failed = 1;
			dc->bf.at++;
			dc->bf.pages = 0;
			dc->bf.fails = 0;
			backfill_next_channel(dc);
			return;
		}
		long d = backoff_ms(dc->bf.fails, 1000, 1000, 60000);
		log_warn("discord: catch-up page failed: will retry",
		         "connector=%s channel=%s error=\"%s\" in_ms=%ld", dc->c->name, ch, err, d);
		timer_in(dc, &dc->bf_timer, bf_timer_cb, d);
		return;
	}
	dc->bf.fails = 0;
	dc->bf.pages++;
	if (total < 100 || dc->bf.pages >= DISCORD_BACKFILL_PAGES) {
		if (total >= 100)
			log_warn("discord: catch-up: too many messages in one channel: the oldest ones are "
			         "answered, later ones are not",
			         "connector=%s channel=%s pages=%d", dc->c->name, ch, dc->bf.pages);
		dc->bf.next_channel = 1;
	}
	/* One count for the page itself, so that posts settled at once do not
	 * end it before every one is queued. */
	dc->bf.outstanding = 1;
	for (size_t i = 0; i < n; i++) {
		id_max(dc->bf.cursor, items[i].id);
		metric_add_l(dc->m_backfill, 1, dc->c->name);
		if (items[i].skip == DISCORD_TAKE)
			dc->bf.posts++;
		dc->bf.outstanding++;
		in_push(dc, &items[i], -1);
	}
	free(items);
	bf_release(dc);
}

static void bf_page(struct discord *dc)
{
	char path[128];
	const char *ch = dc->bf.ch[dc->bf.at];
	snprintf(path, sizeof(path), "/channels/%s/messages?after=%s&limit=100", ch,
	         dc->bf.cursor[0] ? dc->bf.cursor : dc->bf.after);
	api(dc, "GET", path, NULL, PAGE_BODY_MAX, 0, on_bf_page, (void *)(uintptr_t)dc->bf.gen);
}

/* A post of the current page settled (or the page's own count). */
static void bf_release(struct discord *dc)
{
	if (dc->bf.outstanding && --dc->bf.outstanding == 0)
		backfill_next_channel(dc);
}

/* The current page is durable: the next page, the next channel, or done. */
static void backfill_next_channel(struct discord *dc)
{
	if (!dc->bf.running || dc->bf.outstanding)
		return;
	if (dc->bf.next_channel) {
		dc->bf.next_channel = 0;
		dc->bf.at++;
		dc->bf.pages = 0;
		dc->bf.cursor[0] = '\0';
	}
	if (dc->stopping || dc->closing) {
		dc->bf.running = 0;
		return;
	}
	if (dc->bf.at >= dc->bf.n) {
		backfill_done(dc);
		return;
	}
	if (!dc->bf.cursor[0] && dc->bf.pages == 0)
		dc->bf.channels++;
	bf_page(dc);
}

/* The channel list is complete: page through each from the watermark. */
static void backfill_start(struct discord *dc)
{
	char iso[40];
	dc->bf.collecting = 0;
	/* The DM channels this bot talked in (bots cannot list the others). */
	for (size_t i = 0; i < dc->ndms; i++)
		bf_add_channel(dc, dc->dms[i]);
	snprintf(dc->bf.after, sizeof(dc->bf.after), "%s", dc->watermark);
	dc->bf.at = 0;
	dc->bf.next_channel = 0;
	dc->bf.pages = dc->bf.fails = 0;
	dc->bf.failed = 0;
	dc->bf.cursor[0] = '\0';
	dc->bf.outstanding = 0;
	dc->bf.posts = dc->bf.channels = 0;
	dc->bf.running = 1;
	dc->bf.gen++;
	time_iso_utc((time_t)(discord_id_ms(dc->watermark) / 1000), iso, sizeof(iso));
	log_info("discord: catching up on what Discord could not replay",
	         "connector=%s since=%s channels=%zu", dc->c->name, iso, dc->bf.n);
	log_info("discord: catch-up cannot see direct messages from people the bot never talked to (Discord "
	         "does not let bots list them)",
	         "connector=%s since=%s", dc->c->name, iso);
	backfill_next_channel(dc);
}

/* --- the gateway: receiving --------------------------------------------------------------------- */

static void on_ready(struct discord *dc, struct discord_frame *f)
{
	dc->gen++;
	dc->npend = 0;
	dc->hold_seq = -1;
	dc->live_max[0] = '\0';
	snprintf(dc->session_id, sizeof(dc->session_id), "%s", f->session_id);
	snprintf(dc->resume_url, sizeof(dc->resume_url), "%s", f->resume_url);
	snprintf(dc->self_id, sizeof(dc->self_id), "%s", f->user_id);
	snprintf(dc->self_name, sizeof(dc->self_name), "%s", f->user_name);
	dc->durable_seq = dc->last_seq = f->seq;
	dc->gw = GW_READY;
	wsclient_healthy(dc->ws);
	connector_set_health(dc->c, HEALTH_OK, "connected");
	log_info("discord: signed in (new session)", "connector=%s user=%s id=%s servers=%zu", dc->c->name,
	         dc->self_name, dc->self_id, f->guilds);
	free(dc->bf.ch);
	dc->bf.ch = NULL;
	dc->bf.n = 0;
	dc->bf.running = 0;
	dc->bf.lost_channels = 0;
	/* Nothing Discord will replay: what came since the watermark is
	 * fetched over REST once GUILD_CREATE named the channels. */
	dc->backfill_pending = 1;
	dc->bf.collecting = 1;
	dc->bf.guilds_expected = f->guilds;
	dc->bf.guilds_seen = 0;
	session_save_now(dc); /* the session is resumable from now on, also after a crash */
	if (f->guilds == 0)
		backfill_start(dc);
	else
		timer_in(dc, &dc->bf_timer, bf_timer_cb, GUILDS_WAIT_MS);
}

static void on_dispatch(struct discord *dc, struct discord_frame *f)
{
	if (f->seq > dc->last_seq)
		dc->last_seq = f->seq;
	if (strcmp(f->t, "READY") == 0) {
		on_ready(dc, f);
		return;
	}
	if (strcmp(f->t, "RESUMED") == 0) {
		dc->gw = GW_READY;
		wsclient_healthy(dc->ws);
		connector_set_health(dc->c, HEALTH_OK, "connected");
		log_info("discord: resumed", "connector=%s replayed=%u seq=%lld", dc->c->name, dc->replayed,
		         dc->last_seq);
		seq_seen(dc, f->seq);
		return;
	}
	if (f->has_message) {
		on_message(dc, f);
		return;
	}
	for (size_t i = 0; i < f->nchannels; i++)
		if (f->channels[i].is_thread)
			thread_note(dc, f->channels[i].id, 1);
	if (strcmp(f->t, "GUILD_CREATE") == 0)
		bf_guild(dc, f);
	seq_seen(dc, f->seq);
}

static void ws_message(void *arg, const char *data, size_t len, int binary)
{
	struct discord *dc = arg;
	struct discord_frame f;
	char err[256];
	(void)binary;
	if (discord_parse_frame(data, len, dc->self_id, &f, err, sizeof(err)) < 0) {
		struct buf b;
		quote(&b, err);
		metric_add_l(dc->m_events, 1, dc->c->name, "bad");
		log_warn("discord: gateway frame dropped", "connector=%s reason=%s", dc->c->name, b.p);
		buf_free(&b);
		if (f.op == DISCORD_OP_DISPATCH && f.seq >= 0) {
			if (f.seq > dc->last_seq)
				dc->last_seq = f.seq;
			seq_seen(dc, f.seq);
		}
		discord_frame_free(&f);
		return;
	}
	switch (f.op) {
	case DISCORD_OP_HELLO:
		timer_stop(dc, &dc->hello_timer);
		dc->hb_ms = f.heartbeat_ms;
		dc->hb_acked = 1;
		/* The first beat after interval x jitter, so that bots that
		 * reconnect together do not beat together. */
		timer_in(dc, &dc->hb_timer, hb_cb, (int64_t)(rand_u64() % (uint64_t)(dc->hb_ms + 1)));
		if (dc->resuming) {
			resume_send(dc);
		} else {
			int64_t wait = dc->last_identify_ms + DISCORD_IDENTIFY_SPACE_MS - now_ms();
			if (dc->last_identify_ms && wait > 0) {
				log_info("discord: waiting before identifying (one IDENTIFY per 5 s)",
				         "connector=%s wait_ms=%lld", dc->c->name, (long long)wait);
				timer_in(dc, &dc->identify_timer, identify_cb, wait);
			} else {
				identify_send(dc);
			}
		}
		break;
	case DISCORD_OP_HEARTBEAT_ACK: dc->hb_acked = 1; break;
	case DISCORD_OP_HEARTBEAT:
		/* The server asks for a beat now: sent at once, unless it asks so
		 * often that the socket's 120 frames a minute would run out (a
		 * closed 4008 would cost a resume; the regular beats go on). */
		if (gw_budget_left(dc))
			heartbeat_send(dc);
		else
			log_debug("discord: beat request not answered: the socket's send budget is spent",
			          "connector=%s", dc->c->name);
		break;
	case DISCORD_OP_RECONNECT:
		log_info("discord: the gateway asks to reconnect (op 7)", "connector=%s", dc->c->name);
		metric_add_l(dc->m_events, 1, dc->c->name, "reconnect");
		close_now(dc, WHY_RECONNECT, "reconnect");
		break;
	case DISCORD_OP_INVALID_SESSION:
		metric_add_l(dc->m_events, 1, dc->c->name, "invalid_session");
		if (f.resumable && dc->session_id[0]) {
			log_info("discord: invalid session (op 9), resumable: resuming", "connector=%s",
			         dc->c->name);
			close_now(dc, WHY_INVALID_RESUME, "invalid session");
		} else {
			log_info("discord: invalid session (op 9): starting a new session", "connector=%s",
			         dc->c->name);
			close_now(dc, WHY_INVALID_NEW, "invalid session");
		}
		break;
	case DISCORD_OP_DISPATCH: on_dispatch(dc, &f); break;
	default: break;
	}
	discord_frame_free(&f);
}

static void forget_session(struct discord *dc)
{
	if (dc->session_id[0]) {
		dc->session_id[0] = '\0';
		dc->resume_url[0] = '\0';
		session_changed(dc);
	}
}

static enum wsclient_next ws_closed(void *arg, const struct wsclient_close *c, char *detail, size_t n)
{
	struct discord *dc = arg;
	enum close_why why = dc->why;
	int was_auth = dc->gw == GW_AUTH;
	dc->why = WHY_NONE;
	dc->gw = GW_IDLE;
	dc->hb_ms = 0;
	timer_stop(dc, &dc->hb_timer);
	timer_stop(dc, &dc->hello_timer);
	timer_stop(dc, &dc->identify_timer);
	if (dc->stopping || dc->closing)
		return WSCLIENT_STOP;
	if (c->by_us) {
		switch (why) {
		case WHY_ZOMBIE: snprintf(detail, n, "no heartbeat ACK (zombie connection): resuming"); break;
		case WHY_RECONNECT: snprintf(detail, n, "the gateway asked to reconnect: resuming"); break;
		case WHY_INVALID_RESUME: snprintf(detail, n, "invalid session: resuming"); break;
		case WHY_INVALID_NEW:
			forget_session(dc);
			snprintf(detail, n, "invalid session: new session");
			/* Discord asks for a pause of 1-5 s before a new IDENTIFY. */
			return WSCLIENT_RETRY;
		case WHY_REPLAY: snprintf(detail, n, "a message was not stored: resuming"); break;
		default: break;
		}
		return WSCLIENT_RETRY_NOW;
	}
	if (c->was_open && c->code) {
		enum discord_close k = discord_close_code(c->code, detail, n);
		if (k == DISCORD_CLOSE_FATAL) {
			if (c->code == 4004)
				token_refused(dc, "gateway");
			else if (c->code == 4014)
				log_error(
				    "discord: the Message Content intent is not enabled: open the Discord "
				    "Developer "
				    "Portal, your application, Bot, and turn on MESSAGE CONTENT INTENT under "
				    "Privileged Gateway Intents",
				    "connector=%s code=4014", dc->c->name);
			return WSCLIENT_FATAL;
		}
		if (k == DISCORD_CLOSE_NEW_SESSION)
			forget_session(dc);
		else if (was_auth && dc->resuming && c->code == 4003)
			forget_session(dc); /* our RESUME was not taken */
		return WSCLIENT_RETRY;
	}
	if (c->was_open)
		snprintf(detail, n, "gateway connection lost: resuming");
	return WSCLIENT_RETRY;
}

static const struct wsclient_ops ws_ops = {
    .url = ws_url,
    .open = ws_open,
    .message = ws_message,
    .closed = ws_closed,
};

/* --- replies ----------------------------------------------------------------------------------- */

static struct progress *progress_find(struct discord *dc, int64_t id, int unlink)
{
	for (struct progress **pp = &dc->progress; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct progress *p = *pp;
			if (unlink)
				*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static struct progress *progress_get(struct discord *dc, int64_t id)
{
	struct progress *p = progress_find(dc, id, 0);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->id = id;
		p->next = dc->progress;
		dc->progress = p;
	}
	return p;
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j);
}

/* The row is settled (or handed back): report and free the job. */
static void job_end(struct job *j, enum send_result r, long retry_after, const char *detail)
{
	struct discord *dc = j->dc;
	if (r == SEND_OK || r == SEND_FAIL)
		free(progress_find(dc, j->id, 1));
	else
		progress_get(dc, j->id)->sent = j->next;
	dc->inflight--;
	connector_send_done(dc->c, j->id, r, retry_after, detail);
	job_free(j);
}

static long secs_until(int64_t until_ms)
{
	int64_t d = until_ms - now_ms();
	return d > 0 ? (long)((d + 999) / 1000) : 1;
}

static void part_send(struct job *j);
static void verify_page(struct job *j);

/*
 * A limit holds the route: the row goes back to the outbox with the wait
 * (stored with it).  A global limit also holds every other row: that is
 * c->paused_until_ms, set when the 429 came.
 */
static void job_held(struct job *j, int64_t until_ms)
{
	struct discord *dc = j->dc;
	char iso[40];
	if (dc->limited_logged != until_ms) {
		dc->limited_logged = until_ms;
		time_iso_utc((time_t)(until_ms / 1000), iso, sizeof(iso));
		log_info("discord: reply waits for a rate limit", "connector=%s outbox=%lld until=%s",
		         dc->c->name, (long long)j->id, iso);
	}
	job_end(j, SEND_LATER, secs_until(until_ms), "rate limited until the reset");
}

/*
 * What every answer to a reply's request may say before its own meaning:
 * held by a rate limit (back to the outbox with the wait) or cancelled
 * at teardown (the row stays pending in the store).  1 when it was that
 * (the job is gone), else 0.
 */
static int job_answer_settled(struct job *j, const struct api_answer *a)
{
	if (a->held) {
		job_held(j, a->until_ms);
		return 1;
	}
	if (a->r->error == HTTP_E_CANCELLED) {
		j->dc->inflight--;
		job_free(j);
		return 1;
	}
	return 0;
}

static void on_part(struct discord *dc, const struct api_answer *a, void *arg)
{
	struct job *j = arg;
	const struct http_response *r = a->r;
	char d[192];

	if (job_answer_settled(j, a))
		return;
	if (r && rest_ok(r)) {
		if (j->in_guild) {
			/* A customer answering this message joins the conversation. */
			json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
			const char *id = json_string_value(json_object_get(o, "id"));
			if (id && discord_id_ok(id))
				connector_state_put(dc->c, ST_MSG, id, j->thread, "b");
			json_decref(o);
		}
		j->next++;
		while (j->next < j->nparts && j->found[j->next])
			j->next++;
		if (j->next < j->nparts) {
			progress_get(dc, j->id)->sent = j->next;
			part_send(j);
			return;
		}
		log_debug("discord: reply sent", "connector=%s outbox=%lld parts=%zu", dc->c->name,
		          (long long)j->id, j->nparts);
		job_end(j, SEND_OK, 0, NULL);
		return;
	}
	describe(r, d, sizeof(d));
	if (r->error != HTTP_E_NONE || r->status >= 500 || r->status == 408) {
		/* It may have been created: the nonce covers a retry soon, the
		 * check of our own messages a later one. */
		progress_get(dc, j->id)->unknown_ms = now_ms();
		job_end(j, SEND_RETRY, 0, d);
	} else if (r->status == 429) {
		int64_t until = http_retry_at_ms(r, now_ms());
		job_end(j, SEND_LATER, secs_until(until > 0 ? until : now_ms() + 1000), d);
	} else if (r->status == 401) {
		token_refused(dc, "send");
		connector_fatal(dc->c, TOKEN_DETAIL);
		job_end(j, SEND_RETRY, DISCORD_FATAL_RETRY_MS / 1000, TOKEN_DETAIL);
	} else {
		/* 403 (no permission, a user who blocks DMs), 404 (gone), 400:
		 * final. */
		log_warn("discord: reply refused", "connector=%s outbox=%lld channel=%s error=\"%s\"",
		         dc->c->name, (long long)j->id, j->channel, d);
		job_end(j, SEND_FAIL, 0, d);
	}
}

static void part_send(struct job *j)
{
	struct discord *dc = j->dc;
	char path[96], nonce[DISCORD_NONCE_MAX + 1];
	discord_nonce(j->idem, j->next, nonce);
	/* Only the first part answers the customer's message (and only in its
	 * own channel). */
	char *body = discord_reply_json(j->parts[j->next], j->next == 0 ? j->reply_to : NULL, nonce);
	if (!body) {
		job_end(j, SEND_FAIL, 0, "the reply is not valid UTF-8");
		return;
	}
	snprintf(path, sizeof(path), "/channels/%s/messages", j->channel);
	api(dc, "POST", path, body, REPLY_BODY_MAX, 1, on_part, j);
	free(body);
}

/* After the check (or without one): send the first part not on Discord yet. */
static void job_go(struct job *j)
{
	while (j->next < j->nparts && j->found[j->next])
		j->next++;
	if (j->next >= j->nparts) {
		log_info("discord: reply found already posted: not sent again", "connector=%s outbox=%lld",
		         j->dc->c->name, (long long)j->id);
		job_end(j, SEND_OK, 0, NULL);
		return;
	}
	part_send(j);
}

/* Our recent messages in the channel: is a part of this reply among them? */
static void on_verify(struct discord *dc, const struct api_answer *a, void *arg)
{
	struct job *j = arg;
	const struct http_response *r = a->r;
	char err[192];
	if (job_answer_settled(j, a))
		return;
	struct discord_message *items = NULL;
	size_t n = 0;
	long total = page_of(dc, r, &items, &n, err, sizeof(err));
	if (total < 0) {
		if (r->error == HTTP_E_NONE && (r->status == 403 || r->status == 404 || r->status == 401)) {
			/* We cannot look: sending is all that is left. */
			log_warn("discord: cannot check whether a reply was already posted: sending it",
			         "connector=%s outbox=%lld error=\"%s\"", dc->c->name, (long long)j->id, err);
			job_go(j);
			return;
		}
		job_end(j, SEND_RETRY, 0, err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct discord_message *m = &items[i];
		id_max(j->verify_after, m->id);
		if (m->skip != DISCORD_SKIP_SELF)
			continue;
		for (size_t k = 0; k < j->nparts; k++) {
			char nonce[DISCORD_NONCE_MAX + 1];
			discord_nonce(j->idem, k, nonce);
			if (!j->found[k] &&
			    (strcmp(m->nonce, nonce) == 0 || strcmp(m->content, j->parts[k]) == 0) &&
			    (k > 0 || !j->reply_to[0] || !m->reply_to[0] ||
			     strcmp(m->reply_to, j->reply_to) == 0)) {
				j->found[k] = 1;
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		discord_message_free(&items[i]);
	free(items);
	int all = 1;
	for (size_t k = j->next; k < j->nparts; k++)
		if (!j->found[k])
			all = 0;
	if (!all && total >= 100 && ++j->verify_pages < VERIFY_PAGES) {
		verify_page(j);
		return;
	}
	if (!all && total >= 100)
		log_warn(
		    "discord: a reply's earlier attempt could not be ruled out (busy channel): sending it",
		    "connector=%s outbox=%lld", dc->c->name, (long long)j->id);
	struct progress *p = progress_get(dc, j->id);
	p->checked = 1;
	p->unknown_ms = 0;
	job_go(j);
}

static void verify_page(struct job *j)
{
	char path[128];
	snprintf(path, sizeof(path), "/channels/%s/messages?after=%s&limit=100", j->channel, j->verify_after);
	api(j->dc, "GET", path, NULL, PAGE_BODY_MAX, 1, on_verify, j);
}

/* The reply goes out, after the check when its nonce may be forgotten. */
static void job_start(struct job *j)
{
	if (j->verify) {
		/* From a little before the row was written. */
		discord_id_at(j->created_ms - 60000, j->verify_after);
		log_info("discord: checking whether an earlier attempt of a reply was posted",
		         "connector=%s outbox=%lld channel=%s", j->dc->c->name, (long long)j->id, j->channel);
		verify_page(j);
		return;
	}
	job_go(j);
}

/* POST /users/@me/channels answered (connector_dm_channel's `open`). */
static void on_dm_open(struct discord *dc, const struct api_answer *a, void *arg)
{
	struct connector_dm_req *req = arg;
	const struct http_response *r = a->r;
	const char *id = NULL;
	json_t *o = NULL;
	char d[192];
	dc->dm_refused = 0;
	if (r && rest_ok(r)) {
		o = json_loadb(r->body, r->body_len, 0, NULL);
		id = json_string_value(json_object_get(o, "id"));
		if (id && !discord_id_ok(id))
			id = NULL;
	} else if (r && r->error != HTTP_E_CANCELLED) {
		describe(r, d, sizeof(d));
		/* 403: the user takes no DMs from this bot; 400: no such user. */
		dc->dm_refused =
		    r->error == HTTP_E_NONE && (r->status == 403 || r->status == 400 || r->status == 404);
		log_warn("discord: cannot open a DM with the customer", "connector=%s error=\"%s\"",
		         dc->c->name, d);
	}
	if (id)
		dm_note(dc, id, NULL);
	connector_dm_opened(req, id);
	json_decref(o);
}

static void dm_open(struct connector *c, const char *recipient, struct connector_dm_req *req)
{
	json_t *o = json_pack("{s:s}", "recipient_id", recipient);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	api(c->priv, "POST", "/users/@me/channels", body, 64 * 1024, 0, on_dm_open, req);
	free(body);
}

/* The DM channel of a private reply is known (rc 0) or could not be had. */
static void dm_got(void *arg, int rc, const char *channel)
{
	struct job *j = arg;
	struct discord *dc = j->dc;
	if (dc->closing) {
		dc->inflight--;
		job_free(j);
		return;
	}
	if (rc != 0 || !discord_id_ok(channel)) {
		if (dc->dm_refused)
			job_end(j, SEND_FAIL, 0, "Discord refused a DM with the customer");
		else
			job_end(j, SEND_RETRY, 0, "no DM channel with the customer yet");
		return;
	}
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	j->reply_to[0] = '\0'; /* a message in a DM cannot quote one in a guild */
	job_start(j);
}

static int dc_send(struct connector *c, const struct outmsg *m)
{
	struct discord *dc = c->priv;
	char channel[DISCORD_MAX_ID + 1], root[DISCORD_MAX_ID + 1];
	int64_t now = now_ms();

	int kind = discord_thread_parse(m->thread_key, channel, root);
	if (kind < 0) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "not a Discord conversation");
		return 0;
	}
	struct job *j = xcalloc(1, sizeof(*j));
	j->dc = dc;
	j->id = m->id;
	snprintf(j->thread, sizeof(j->thread), "%s", m->thread_key);
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	if (m->reply_to_id && discord_id_ok(m->reply_to_id))
		snprintf(j->reply_to, sizeof(j->reply_to), "%s", m->reply_to_id);
	snprintf(j->idem, sizeof(j->idem), "%s", m->idem_key ? m->idem_key : "");
	j->created_ms = (int64_t)m->ts * 1000;
	j->nparts = discord_build_parts(m->text, j->parts, DISCORD_MAX_PARTS);
	if (j->nparts == 0) {
		job_free(j);
		connector_send_done(c, m->id, SEND_FAIL, 0, "empty reply");
		return 0;
	}
	struct progress *p = progress_find(dc, m->id, 0);
	if (p && p->sent < j->nparts)
		j->next = p->sent;
	/*
	 * Could an earlier attempt have been posted, with a nonce Discord no
	 * longer remembers?  This process knows its own attempts; a row
	 * written before it started may have been sent by the process that
	 * died, at any time since the row was written.
	 */
	j->verify = (p && p->unknown_ms && now - p->unknown_ms > DISCORD_NONCE_WINDOW_MS) ||
	            ((!p || !p->checked) && j->created_ms < dc->started_ms &&
	             now - j->created_ms > DISCORD_NONCE_WINDOW_MS);
	dc->inflight++;
	/* A private reply to a guild conversation (the pipeline took it
	 * offline): in a DM with the customer.  In a DM it is where it is. */
	if (m->is_private && kind != DISCORD_CONV_DM) {
		if (!m->recipient || !discord_id_ok(m->recipient)) {
			dc->inflight--;
			job_free(j);
			connector_send_done(c, m->id, SEND_FAIL, 0, "a private reply without its customer");
			return 0;
		}
		connector_dm_channel(c, m->recipient, dm_open, dm_got, j);
		return 0;
	}
	j->in_guild = kind != DISCORD_CONV_DM;
	job_start(j);
	return 0;
}

/* --- connector ops ------------------------------------------------------------------------------ */

static int dc_idle(struct connector *c)
{
	struct discord *dc = c->priv;
	return !dc || dc->inflight == 0;
}

static void dc_stop(struct connector *c)
{
	struct discord *dc = c->priv;
	if (!dc)
		return;
	dc->stopping = 1;
	timer_stop(dc, &dc->bf_timer);
	dc->bf.running = dc->bf.collecting = 0;
	if (dc->session_dirty)
		session_save_now(dc);
	if (dc->dms_dirty)
		dms_save_now(dc);
	/* Closed with 4000 (wsclient_conf.stop_close_code): the session stays
	 * resumable for the next start. */
	wsclient_stop(dc->ws);
}

static void dc_close(struct connector *c)
{
	struct discord *dc = c->priv;
	if (!dc)
		return;
	if (dc->session_dirty)
		session_save_now(dc);
	if (dc->dms_dirty)
		dms_save_now(dc);
	dc->closing = 1;
	if (dc->timers) {
		uv_timer_t *all[] = {&dc->hb_timer,   &dc->hello_timer, &dc->identify_timer,
		                     &dc->pump_timer, &dc->save_timer,  &dc->bf_timer};
		for (size_t i = 0; i < ARRAY_LEN(all); i++)
			uv_close((uv_handle_t *)all[i], NULL);
		dc->timers = 0;
	}
	/* Requests waiting for their route: their owners hear "cancelled". */
	for (struct route_q *rt = dc->rqs; rt; rt = rt->next) {
		while (rt->head) {
			struct rq *q = rt->head;
			rt->head = q->next;
			cancel_answer(dc, q);
			rq_free(q);
		}
		rt->tail = NULL;
	}
	wsclient_close(dc->ws);
}

static void dc_destroy(struct connector *c)
{
	struct discord *dc = c->priv;
	if (!dc)
		return;
	while (dc->rqs) {
		struct route_q *rt = dc->rqs;
		dc->rqs = rt->next;
		while (rt->head) {
			struct rq *q = rt->head;
			rt->head = q->next;
			rq_free(q);
		}
		free(rt);
	}
	while (dc->progress) {
		struct progress *p = dc->progress;
		dc->progress = p->next;
		free(p);
	}
	wsclient_free(dc->ws);
	discord_limits_free(dc->limits);
	free(dc->pend);
	free(dc->bf.ch);
	free(dc->threads);
	while (dc->in_head) {
		struct inmsg *im = dc->in_head;
		dc->in_head = im->next;
		discord_message_free(&im->m);
		free(im);
	}
	explicit_bzero(dc->token, sizeof(dc->token));
	free(dc);
	c->priv = NULL;
}

/* The stored state, read one row after the other (now or later). */
static void got_limits(void *arg, int rc, const struct store_state *st)
{
	struct discord *dc = arg;
	if (rc == 0 && st->value)
		discord_limits_load(dc->limits, st->value, now_ms());
	dc->loaded = 1;
	/* Housekeeping: what nobody will answer any more. */
	time_t old = connector_now(dc->c) - ST_KEEP_S;
	connector_state_prune(dc->c, ST_MSG, old);
	connector_state_prune(dc->c, ST_THREAD, old);
	if (!dc->watermark[0]) {
		/* The very first start: messages from now on are answered, older
		 * ones are not.  Kept at once, so that a crash before the first
		 * session still leaves a point to catch up from. */
		discord_id_at(now_ms(), dc->watermark);
		session_save_now(dc);
		log_info("discord: first start: messages from now on are answered", "connector=%s",
		         dc->c->name);
	}
	log_info("discord: starting", "connector=%s instance=%s session=%s watermark=%s", dc->c->name,
	         dc_conf(dc)->instance, dc->session_id[0] ? "stored" : "new",
	         dc->watermark[0] ? dc->watermark : "-");
	wsclient_start(dc->ws);
}

static void got_dms(void *arg, int rc, const struct store_state *st)
{
	struct discord *dc = arg;
	if (rc == 0 && st->value)
		dms_loaded(dc, st->value);
	connector_state_get(dc->c, ST_LIMITS, got_limits, dc);
}

static void got_session(void *arg, int rc, const struct store_state *st)
{
	struct discord *dc = arg;
	if (rc == 0 && st->value)
		session_loaded(dc, st->value);
	else if (rc < 0)
		log_warn("discord: stored session could not be read: starting a new one", "connector=%s",
		         dc->c->name);
	connector_state_get(dc->c, ST_DMS, got_dms, dc);
}

static int dc_start(struct connector *c)
{
	const struct discord_conf *cc = c->conf ? c->conf->settings : NULL;
	struct discord *dc = xcalloc(1, sizeof(*dc));

	c->priv = dc;
	dc->c = c;
	dc->loop = connector_loop(c);
	dc->started_ms = now_ms();
	dc->durable_seq = dc->last_seq = dc->hold_seq = -1;
	dc->start_remaining = -1;
	dc->limits = discord_limits_new(dc->started_ms);
	if (!cc || !cc->instance) {
		log_error("discord: no instance address", "connector=%s", c->name);
		return -1;
	}
	if (snprintf(dc->api, sizeof(dc->api), "%s%s", cc->instance, API_PATH) >= (int)sizeof(dc->api))
		return -1;
	if (read_token(dc) < 0)
		return -1;
	if (!connector_store(c)) {
		log_error("discord: no store", "connector=%s", c->name);
		return -1;
	}

	struct metrics *mx = connector_metrics(c);
	dc->m_events = metrics_counter(mx, "discord_events_total",
	                               "Discord gateway events (message, self, webhook, system, bad, zombie, "
	                               "reconnect, invalid_session).",
	                               "connector,kind");
	dc->m_limited = metrics_counter(mx, "discord_rate_limited_total",
	                                "Discord requests answered 429, by scope.", "connector,scope");
	dc->m_backfill = metrics_counter(mx, "discord_catchup_messages_total",
	                                 "Discord messages fetched over REST after a gap.", "connector");

	uv_timer_t *all[] = {&dc->hb_timer,   &dc->hello_timer, &dc->identify_timer,
	                     &dc->pump_timer, &dc->save_timer,  &dc->bf_timer};
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		uv_timer_init(&dc->loop->uv, all[i]);
		all[i]->data = dc;
	}
	dc->timers = 1;

	struct wsclient_conf wc = {
	    .label = "discord",
	    .max_message = DISCORD_MAX_FRAME,
	    .ping_idle_ms = 0,     /* the heartbeat is Discord's keepalive */
	    .dead_ms = 5L * 60000, /* a backstop: the ACK watchdog acts first */
	    .backoff_min_ms = 1000,
	    .backoff_base_ms = 1000,
	    .backoff_cap_ms = 60000,
	    .fatal_retry_ms = DISCORD_FATAL_RETRY_MS,
	    .report_ready = 1,
	    .stop_close_code = 4000, /* keeps the session resumable across a restart */
	};
	dc->ws = wsclient_new(c, &wc, &ws_ops, dc);
	if (!dc->ws)
		return -1;
	connector_set_health(c, HEALTH_STARTING, "connecting");
	connector_state_get(c, ST_SESSION, got_session, dc);
	return 0;
}

/* --- configuration ----------------------------------------------------------------------------- */

static void *dc_parse(struct config_parser *p)
{
	struct discord_conf *d = xcalloc(1, sizeof(*d));
	if (config_key_given(p, "instance"))
		d->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 0,
		                             "(Discord's address; leave it out for https://discord.com)");
	else
		d->instance = xstrdup(DISCORD_DEFAULT_INSTANCE);
	config_key_secret(p, "token", 1, "the bot token", &d->token);
	if (d->instance)
		p->cc->endpoint = xstrdup(d->instance);
	return d;
}

static void dc_free_settings(void *settings)
{
	struct discord_conf *d = settings;
	if (!d)
		return;
	free(d->instance);
	free(d->token.env);
	free(d->token.file);
	free(d);
}

static const char *const dc_keys[] = {"instance", "token_env", "token_file", NULL};

const struct connector_ops discord_ops = {
    .type = "discord",
    .keys = dc_keys,
    .parse = dc_parse,
    .free_settings = dc_free_settings,
    .max_text = DISCORD_MAX_CHARS,
    .start = dc_start,
    .stop = dc_stop,
    .send = dc_send,
    .idle = dc_idle,
    .close = dc_close,
    .destroy = dc_destroy,
    .post_done = dc_post_done,
};
