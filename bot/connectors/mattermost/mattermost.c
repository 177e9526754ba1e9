/*
 * mattermost.c - the Mattermost connector (see mattermost.h for what it
 * does, mattermost_wire.h for the formats).
 *
 * Four machines share one struct mm:
 *
 *   boot/socket  users/me -> config/client -> WebSocket (wsclient.h);
 *                signing in is the first step of every connection attempt
 *                while the bot is not signed in, so every failure, a 401
 *                included, goes through the client's one retry path.
 *   session      the connection_id and the next seq to ask for; `pending`
 *                holds the seqs of posts handed to the daemon and not yet
 *                durable, so the stored seq never passes one of them.
 *   refill       after a lost session: channel list, then one channel's
 *                posts?since= at a time; the next page or channel waits
 *                until every post of this one came back from post_done.
 *   sends        a FIFO of reply jobs (an outbox row, possibly several
 *                posts), at most MATTERMOST_MAX_INFLIGHT at a time; a rate
 *                limit (c->paused_until_ms, which the outbox honours too)
 *                holds the FIFO until the reset.
 *
 * All timers are uv timers (LOOP-NOTES.md); lws is only asked for
 * writeable callbacks, through wsclient.
 */
#include "connectors/mattermost/mattermost.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backoff.h"
#include "connectors/mattermost/mattermost_wire.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "store.h"
#include "rest.h"
#include "url.h"
#include "util.h"
#include "wsclient.h"

#define PLATFORM      "mattermost"
#define URL_MAX       2048
#define PING_IDLE_MS  30000  /* silence after which we ping (the server pings every 60 s) */
#define DEAD_MS       100000 /* silence after which the socket is a zombie */
#define LIST_BODY_MAX (8u * 1024u * 1024u)
#define POST_BODY_MAX (256u * 1024u)
#define SESSION_KIND  "session"
#define SESSION_KEY   "ws"
#define CHANNEL_KIND  "channel"
#define UNAUTHORIZED  "401 from server: check the token"

struct mm;

/* One reply (an outbox row) on its way, possibly as several posts. */
struct mm_job {
	struct rest_job link; /* first: the queue's */
	struct mm *mm;
	int64_t id;
	char *text; /* until cut into parts, once the server's limit is known */
	char *parts[MATTERMOST_MAX_PARTS];
	size_t nparts, next_part;
	char channel[MM_MAX_ID + 1];
	char root[MM_MAX_ID + 1];
	char key[MM_MAX_ID + 1];      /* the outbox idempotency key */
	char reply_to[MM_MAX_ID + 1]; /* the post it answers, "" unknown */
	int check;                    /* look for our own posts before sending */
	int need_dm;                  /* taken offline: the DM with `recipient` first */
	char recipient[MM_MAX_ID + 1];
	time_t written; /* when the row was written */
};

/* What this process knows of a row's earlier attempts. */
struct mm_tried {
	struct mm_tried *next;
	int64_t id;
	int unknown;      /* an attempt may have created a post we never heard of */
	int64_t first_ms; /* the first attempt of this process */
	size_t next_part; /* parts known posted */
};

/* A post handed to the daemon, until its post_done. */
struct mm_cookie {
	uint64_t gen;
	int64_t seq; /* -1 for refilled posts */
	int refill;
};

enum boot_state { BOOT_NONE = 0, BOOT_ME, BOOT_CONFIG, BOOT_DONE };

struct mm {
	struct connector *c;
	struct loop *loop;
	char token[CONFIG_SECRET_MAX + 1];
	char api[URL_MAX];
	struct wsclient *ws;
	enum boot_state boot;
	int unauthorized, stopping, closing, timers;
	uv_timer_t refill_timer;
	char self_id[MM_MAX_ID + 1];
	size_t max_chars;
	int limits_known; /* max_chars is the server's (or its default, asked once) */
	time_t started;

	/* session */
	char conn_id[MM_MAX_ID + 1];
	int64_t next_seq;    /* the next seq the server will send */
	int64_t durable_seq; /* the next seq not yet durably handled */
	int64_t saved_seq;
	int resumed;         /* this connection asked to resume */
	int64_t seen_ms;     /* when everything received was last durable */
	int64_t refill_from; /* a refill is owed for posts after this (ms), 0 none */
	int first_start;
	uint64_t gen;
	int64_t *pending;
	size_t npending, cpending;

	/* refill */
	struct {
		int running, again, fails;
		unsigned outstanding;
		int failed;
		uint64_t gen;
		struct mm_channel *chans;
		size_t n, i;
		int64_t since; /* of the page asked for */
		long posts, lost;
		int64_t started_ms;
	} rf;

	/* sends */
	struct rest *rest; /* requests, and the queue of replies (rest.h) */
	struct mm_tried *tried;
	int dm_refused;

	struct metric *m_events, *m_limited;
};

static int64_t now_ms(void)
{
	return outbox_now_ms();
}

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

static void timer_in(struct mm *mm, uv_timer_t *t, uv_timer_cb cb, int64_t ms)
{
	if (mm->closing || !mm->timers)
		return;
	uv_timer_start(t, cb, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* --- HTTP -------------------------------------------------------------------- */

/* "HTTP 403: api.context.permissions.app_error" and the like. */
static void describe(const struct http_response *r, char *out, size_t n)
{
	char id[128];
	if (r->error == HTTP_E_NONE && mm_error_id(r->body, r->body_len, id, sizeof(id)) == 0)
		snprintf(out, n, "HTTP %ld: %s", r->status, id);
	else
		rest_describe(r, out, n);
}

/* --- session state ------------------------------------------------------------ */

static void session_save(struct mm *mm)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "id", mm->conn_id, "seq", (json_int_t)mm->durable_seq,
	                      "seen", (json_int_t)mm->seen_ms, "refill", (json_int_t)mm->refill_from);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!v || connector_state_put(mm->c, SESSION_KIND, SESSION_KEY, NULL, v) < 0)
		log_warn("mattermost: session not saved", "connector=%s", mm->c->name);
	else
		mm->saved_seq = mm->durable_seq;
	free(v);
	json_decref(o);
}

static void pending_add(struct mm *mm, int64_t seq)
{
	if (mm->npending == mm->cpending) {
		mm->cpending = mm->cpending ? mm->cpending * 2 : 64;
		mm->pending = xrealloc(mm->pending, mm->cpending * sizeof(*mm->pending));
	}
	mm->pending[mm->npending++] = seq;
}

/* Everything before the first pending post (or all received) is durable. */
static void durable_update(struct mm *mm)
{
	int64_t d = mm->npending ? mm->pending[0] : mm->next_seq;
	if (d > mm->durable_seq)
		mm->durable_seq = d;
	if (!mm->npending)
		mm->seen_ms = now_ms();
}

static void pending_done(struct mm *mm, int64_t seq)
{
	for (size_t i = 0; i < mm->npending; i++) {
		if (mm->pending[i] == seq) {
			memmove(mm->pending + i, mm->pending + i + 1,
			        (mm->npending - i - 1) * sizeof(*mm->pending));
			mm->npending--;
			break;
		}
	}
	durable_update(mm);
}

/* --- health, 401 ------------------------------------------------------------------ */

static void refill_start(struct mm *mm);
static void refill_next(struct mm *mm);
static void pump(struct mm *mm);

static void unauthorized(struct mm *mm, const char *where)
{
	if (mm->stopping || mm->closing)
		return;
	mm->unauthorized = 1;
	log_error("mattermost: the server refused the access token (401): check the token",
	          "connector=%s where=%s instance=%s retry_in_s=%ld", mm->c->name, where, mm->api,
	          MATTERMOST_UNAUTHORIZED_RETRY_MS / 1000);
	connector_fatal(mm->c, UNAUTHORIZED);
	if (wsclient_is_open(mm->ws))
		wsclient_close_now(mm->ws, 1000, "unauthorized");
}

static int read_token(struct mm *mm)
{
	const struct mattermost_conf *mc = mm->c->conf->settings;
	return connector_secret_read(mm->c, &mc->token, "the access token", mm->token, sizeof(mm->token));
}

static void boot_failed(struct mm *mm, const char *why, enum wsclient_next next, long delay_ms)
{
	mm->boot = BOOT_NONE;
	wsclient_url_failed(mm->ws, why, next, delay_ms);
}

/* --- boot: own account, server limits ------------------------------------------------ */

/* The socket URL, with the session to resume when there is one. */
static int socket_url(struct mm *mm, char *out, size_t n)
{
	struct url_parts u;
	char host[URL_HOST_MAX + 16];
	if (url_parse(mm->api, &u) < 0)
		return -1;
	url_host_port(&u, host, sizeof(host));
	size_t pl = strlen(u.path);
	while (pl > 0 && u.path[pl - 1] == '/')
		pl--;
	int k;
	if (mm->conn_id[0])
		k = snprintf(out, n, "%s://%s%.*s/api/v4/websocket?connection_id=%s&sequence_number=%" PRId64,
		             u.tls ? "wss" : "ws", host, (int)pl, u.path, mm->conn_id, mm->durable_seq);
	else
		k = snprintf(out, n, "%s://%s%.*s/api/v4/websocket", u.tls ? "wss" : "ws", host, (int)pl,
		             u.path);
	mm->resumed = mm->conn_id[0] != '\0';
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

static void connect_ready(struct mm *mm)
{
	char url[WSCLIENT_URL_MAX];
	if (socket_url(mm, url, sizeof(url)) < 0) {
		wsclient_url_failed(mm->ws, "unusable server address", WSCLIENT_RETRY, 0);
		return;
	}
	wsclient_connect_url(mm->ws, url);
}

static void on_config(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	(void)arg;
	if (r->error == HTTP_E_CANCELLED)
		return;
	size_t max = rest_ok(r) ? mm_max_post_size(r->body, r->body_len) : 0;
	if (max)
		mm->max_chars = max;
	log_info("mattermost: server", "connector=%s instance=%s max_post_size=%zu", mm->c->name, mm->api,
	         mm->max_chars);
	mm->boot = BOOT_DONE;
	mm->limits_known = 1;
	connect_ready(mm);
	pump(mm); /* replies held until the bot knew its id and the limit */
}

static void on_me(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	char d[160];
	(void)arg;
	if (r->error == HTTP_E_CANCELLED)
		return;
	if (r->error == HTTP_E_NONE && r->status == 401) {
		unauthorized(mm, "users/me");
		boot_failed(mm, UNAUTHORIZED, WSCLIENT_FATAL, 0);
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		int64_t now = now_ms();
		boot_failed(mm, "rate limited by the server", WSCLIENT_RETRY,
		            (long)(rest_wait_until(r, now, 5000, 0, 0) - now));
		return;
	}
	char id[MM_MAX_ID + 1];
	if (!rest_ok(r) || mm_parse_id(r->body, r->body_len, id, sizeof(id)) < 0) {
		char why[200];
		describe(r, d, sizeof(d));
		snprintf(why, sizeof(why), "cannot reach the server: %s", d);
		boot_failed(mm, why, WSCLIENT_RETRY, 0);
		return;
	}
	if (mm->self_id[0] && strcmp(mm->self_id, id) != 0)
		log_warn("mattermost: the token now belongs to another account", "connector=%s", mm->c->name);
	snprintf(mm->self_id, sizeof(mm->self_id), "%s", id);
	if (mm->unauthorized)
		log_info("mattermost: the server accepts the token again", "connector=%s", mm->c->name);
	mm->unauthorized = 0;
	log_info("mattermost: signed in", "connector=%s user_id=%s", mm->c->name, mm->self_id);
	mm->boot = BOOT_CONFIG;
	if (rest_api(mm->rest, "GET", "/api/v4/config/client?format=old", NULL, 0, on_config, NULL) < 0) {
		mm->boot = BOOT_DONE;
		mm->limits_known = 1;
		connect_ready(mm);
	}
}

static void boot_begin(struct mm *mm)
{
	if (mm->unauthorized) {
		if (read_token(mm) < 0) {
			boot_failed(mm, "cannot read the token", WSCLIENT_FATAL, 0);
			return;
		}
		wsclient_set_bearer(mm->ws, mm->token);
	}
	mm->boot = BOOT_ME;
	if (rest_api(mm->rest, "GET", "/api/v4/users/me", NULL, 0, on_me, NULL) < 0)
		boot_failed(mm, "cannot start a request", WSCLIENT_RETRY, 0);
}

/* --- intake -------------------------------------------------------------------------- */

/*
 * Hand one post to the daemon: 1 when a post_done will follow, 0 when it
 * is dropped on purpose (own, system, deleted), -1 when the daemon refused
 * it (it is stopping).  The channel's last stored post rides in the same
 * transaction as the post.
 */
static int deliver(struct mm *mm, const struct mm_post *p, char channel_type, const char *sender, int64_t seq,
                   int refill)
{
	char thread[STORE_MAX_KEY + 1], handle[MM_MAX_NAME + 2], last[32];
	if (mm->stopping || mm->closing)
		return -1;
	if (p->type[0] || p->delete_at || (mm->self_id[0] && strcmp(p->user_id, mm->self_id) == 0)) {
		metric_add_l(mm->m_events, 1, mm->c->name, p->type[0] ? "system" : "self");
		return 0;
	}
	mm_thread_key(thread, sizeof(thread), p->channel_id, channel_type,
	              p->root_id[0] ? p->root_id : p->id);
	snprintf(handle, sizeof(handle), "@%s", sender && *sender ? sender : p->user_id);
	snprintf(last, sizeof(last), "%" PRId64, p->create_at);
	connector_state_put(mm->c, CHANNEL_KIND, p->channel_id, NULL, last);
	struct post post = {
	    .platform = PLATFORM,
	    .connector = mm->c->name,
	    .post_id = p->id,
	    .thread_key = thread,
	    .reply_to_id = p->id,
	    .author_id = p->user_id,
	    .author_handle = handle,
	    .author_name = sender && *sender ? sender : NULL,
	    .channel = mm->c->conf->channel,
	    .text = p->text ? p->text : "",
	    .author_is_bot = p->from_bot || p->from_webhook,
	    .is_public = channel_type != 'D',
	    .created = (time_t)(p->create_at / 1000),
	};
	struct mm_cookie *k = xcalloc(1, sizeof(*k));
	k->gen = refill ? mm->rf.gen : mm->gen;
	k->seq = seq;
	k->refill = refill;
	if (connector_deliver_post(mm->c, &post, k) < 0) {
		free(k);
		return -1;
	}
	return 1;
}

/* The session could not be resumed: posts after `from` are owed. */
static void session_lost(struct mm *mm, const char *why)
{
	if (!mm->refill_from) {
		int64_t from = mm->seen_ms ? mm->seen_ms : now_ms();
		mm->refill_from = from > MATTERMOST_REFILL_MARGIN_MS ? from - MATTERMOST_REFILL_MARGIN_MS : 1;
	}
	if (mm->rf.running)
		mm->rf.again = 1; /* what this refill already listed may miss newer posts */
	log_warn("mattermost: events were lost: refilling over REST",
	         "connector=%s reason=\"%s\" since_ms=%" PRId64, mm->c->name, why, mm->refill_from);
}

static void on_hello(struct mm *mm, const struct mm_event *ev)
{
	int had = mm->conn_id[0] != '\0';
	if (had && strcmp(ev->connection_id, mm->conn_id) != 0)
		session_lost(mm, "the server started a new session");
	else if (!had && !mm->first_start && mm->seen_ms)
		session_lost(mm, "no session to resume");
	snprintf(mm->conn_id, sizeof(mm->conn_id), "%s", ev->connection_id);
	mm->next_seq = ev->seq + 1;
	mm->npending = 0;
	mm->gen++;
	mm->durable_seq = mm->next_seq;
	if (mm->first_start) {
		log_info("mattermost: first start: posts from now on are answered", "connector=%s",
		         mm->c->name);
		mm->first_start = 0;
	}
	mm->seen_ms = now_ms();
	session_save(mm);
	log_info("mattermost: connected", "connector=%s connection_id=%s server_version=%s", mm->c->name,
	         mm->conn_id, ev->server_version[0] ? ev->server_version : "-");
	connector_set_health(mm->c, HEALTH_OK, "connected");
	wsclient_healthy(mm->ws);
	if (mm->refill_from)
		refill_start(mm);
}

static void socket_frame(struct mm *mm, const char *data, size_t len)
{
	struct mm_event ev;
	char err[256];
	enum mm_event_kind k = mm_parse_event(data, len, mm->self_id, &ev, err, sizeof(err));
	if (k == MM_EV_REPLY) {
		mm_event_free(&ev);
		return;
	}
	if (k == MM_EV_HELLO) {
		metric_add_l(mm->m_events, 1, mm->c->name, "hello");
		on_hello(mm, &ev);
		mm_event_free(&ev);
		return;
	}
	if (ev.seq >= 0) {
		if (ev.seq > mm->next_seq) {
			char why[96];
			snprintf(why, sizeof(why), "seq %" PRId64 " after %" PRId64, ev.seq,
			         mm->next_seq - 1);
			session_lost(mm, why);
			session_save(mm);
			refill_start(mm);
		} else if (ev.seq < mm->next_seq) {
			/* Replayed again: already handled. */
			mm_event_free(&ev);
			return;
		}
		mm->next_seq = ev.seq + 1;
	}
	if (k == MM_EV_POSTED) {
		metric_add_l(mm->m_events, 1, mm->c->name, "posted");
		if (deliver(mm, &ev.post, ev.channel_type, ev.sender_name, ev.seq, 0) > 0)
			pending_add(mm, ev.seq);
	} else if (k == MM_EV_BAD) {
		metric_add_l(mm->m_events, 1, mm->c->name, "bad");
		struct buf b;
		quote(&b, err);
		log_warn("mattermost: event dropped", "connector=%s reason=%s", mm->c->name, b.p);
		buf_free(&b);
		if (strcmp(ev.event, "posted") == 0) {
			/* It was a post we could not read: the refill fetches it. */
			session_lost(mm, "a post could not be read");
			session_save(mm);
			refill_start(mm);
		}
	} else {
		metric_add_l(mm->m_events, 1, mm->c->name, "other");
	}
	durable_update(mm);
	mm_event_free(&ev);
}

static void mm_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct mm *mm = c->priv;
	struct mm_cookie *k = cookie;
	int ok = a->status != POST_FAILED;
	if (k->refill) {
		if (k->gen == mm->rf.gen && mm->rf.outstanding) {
			if (!ok)
				mm->rf.failed = 1;
			if (--mm->rf.outstanding == 0)
				refill_next(mm);
		}
	} else if (k->gen == mm->gen) {
		if (ok) {
			pending_done(mm, k->seq);
			if (mm->durable_seq != mm->saved_seq)
				session_save(mm);
		} else {
			/* Not stored: ask the server again from this event on. */
			log_warn("mattermost: a post was not stored: resuming from it",
			         "connector=%s seq=%" PRId64, c->name, k->seq);
			mm->durable_seq = k->seq;
			session_save(mm);
			mm->gen++;
			mm->npending = 0;
			wsclient_close_now(mm->ws, 4000, "post not stored");
		}
	}
	free(k);
}

/* --- the socket ------------------------------------------------------------------------- */

static enum wsclient_url ws_url(void *arg, char *url, size_t n)
{
	struct mm *mm = arg;
	if (mm->unauthorized || mm->boot != BOOT_DONE) {
		boot_begin(mm);
		return WSCLIENT_URL_PENDING;
	}
	if (socket_url(mm, url, n) < 0) {
		snprintf(url, n, "unusable server address");
		return WSCLIENT_URL_FAILED;
	}
	return WSCLIENT_URL_READY;
}

static void ws_open(void *arg)
{
	struct mm *mm = arg;
	mm->unauthorized = 0;
	mm->gen++;
	mm->npending = 0;
	mm->next_seq = 0; /* a new session starts with hello, seq 0 */
	if (mm->resumed) {
		/* The server replays from durable_seq, or says hello anew. */
		mm->next_seq = mm->durable_seq;
		connector_set_health(mm->c, HEALTH_OK, "connected");
		log_info("mattermost: connected, resuming",
		         "connector=%s connection_id=%s sequence_number=%" PRId64, mm->c->name, mm->conn_id,
		         mm->durable_seq);
		if (mm->refill_from)
			refill_start(mm);
	}
}

static void ws_message(void *arg, const char *data, size_t len, int binary)
{
	(void)binary;
	socket_frame(arg, data, len);
}

/* A message too large to keep may have been a post. */
static void ws_lost(void *arg)
{
	struct mm *mm = arg;
	session_lost(mm, "an event too large to read");
	session_save(mm);
	refill_start(mm);
}

static enum wsclient_next ws_closed(void *arg, const struct wsclient_close *c, char *detail, size_t n)
{
	struct mm *mm = arg;
	if (c->http_status == 401 || mm->unauthorized) {
		if (!mm->unauthorized)
			unauthorized(mm, "websocket");
		snprintf(detail, n, "%s", UNAUTHORIZED);
		return WSCLIENT_FATAL;
	}
	if (c->was_open && !c->by_us)
		snprintf(detail, n, "connection lost");
	if (c->zombie)
		log_warn("mattermost: the server went silent: reconnecting", "connector=%s", mm->c->name);
	return wsclient_policy_default(c, detail, n);
}

static const struct wsclient_ops ws_ops = {
    .url = ws_url,
    .open = ws_open,
    .message = ws_message,
    .lost = ws_lost,
    .closed = ws_closed,
};

/* --- refill ------------------------------------------------------------------------------ */

static void refill_timer_cb(uv_timer_t *t)
{
	struct mm *mm = t->data;
	if (mm->rf.running && mm->rf.outstanding == 0 && mm->rf.chans)
		refill_next(mm);
	else if (!mm->rf.running)
		refill_start(mm);
}

static void refill_end(struct mm *mm)
{
	free(mm->rf.chans);
	mm->rf.chans = NULL;
	mm->rf.n = mm->rf.i = 0;
	mm->rf.running = 0;
}

static void refill_failed(struct mm *mm, const char *why)
{
	refill_end(mm);
	if (mm->rf.fails < 30)
		mm->rf.fails++;
	long d = backoff_ms(mm->rf.fails, MATTERMOST_BACKOFF_MIN_MS, MATTERMOST_BACKOFF_MIN_MS,
	                    MATTERMOST_BACKOFF_MAX_MS - MATTERMOST_BACKOFF_MIN_MS);
	struct buf b;
	quote(&b, why);
	log_warn("mattermost: refill failed: will retry", "connector=%s reason=%s in_ms=%ld", mm->c->name,
	         b.p, d);
	buf_free(&b);
	timer_in(mm, &mm->refill_timer, refill_timer_cb, d);
}

static void refill_done(struct mm *mm)
{
	log_info("mattermost: refill done", "connector=%s channels=%zu posts=%ld unrecovered_channels=%ld",
	         mm->c->name, mm->rf.n, mm->rf.posts, mm->rf.lost);
	refill_end(mm);
	mm->rf.fails = 0;
	mm->refill_from = 0;
	if (mm->rf.again) {
		/* Lost again meanwhile: once more, from this refill's start. */
		mm->rf.again = 0;
		mm->refill_from = mm->rf.started_ms - MATTERMOST_REFILL_MARGIN_MS;
	}
	session_save(mm);
	if (mm->refill_from)
		refill_start(mm);
}

/* Where the refill of a channel starts: its last stored post when that is
 * older than the gap, else the gap's start.  The store answers at once
 * (SQLite); one that would answer later counts as "not known". */
struct since_read {
	int answered;
	int64_t v;
};

static void since_got(void *arg, int rc, const struct store_state *st)
{
	struct since_read *r = arg;
	r->answered = 1;
	if (rc == 0 && st->value) {
		char *end = NULL;
		long long v = strtoll(st->value, &end, 10);
		if (end && !*end && v > 0)
			r->v = v;
	}
}

static void on_refill_page(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	uint64_t gen = (uint64_t)(uintptr_t)arg;
	if (r->error == HTTP_E_CANCELLED || gen != mm->rf.gen || !mm->rf.running)
		return;
	if (mm->stopping || mm->closing) {
		refill_end(mm);
		return;
	}
	const struct mm_channel *ch = &mm->rf.chans[mm->rf.i];
	char d[160];
	if (r->error == HTTP_E_NONE && r->status == 401) {
		refill_end(mm);
		unauthorized(mm, "channel posts");
		return;
	}
	if (r->error == HTTP_E_NONE && (r->status == 403 || r->status == 404)) {
		describe(r, d, sizeof(d));
		log_warn("mattermost: refill: posts of a channel could not be recovered",
		         "connector=%s channel=%s since_ms=%" PRId64 " error=\"%s\"", mm->c->name, ch->id,
		         mm->rf.since, d);
		mm->rf.lost++;
		mm->rf.i++;
		refill_next(mm);
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		int64_t now = now_ms();
		int64_t until = rest_wait_until(r, now, 5000, 0, 0);
		mm->rf.running = 1;
		log_warn("mattermost: rate limited: refill waits for the reset",
		         "connector=%s wait_ms=%" PRId64, mm->c->name, until - now);
		metric_add_l(mm->m_limited, 1, mm->c->name);
		timer_in(mm, &mm->refill_timer, refill_timer_cb, until - now);
		return;
	}
	if (!rest_ok(r)) {
		describe(r, d, sizeof(d));
		refill_failed(mm, d);
		return;
	}
	struct mm_post *items = NULL;
	size_t skipped = 0;
	char err[200];
	long n = mm_parse_post_list(r->body, r->body_len, &items, &skipped, err, sizeof(err));
	if (n < 0) {
		refill_failed(mm, err);
		return;
	}
	int64_t newest = mm->rf.since;
	mm->rf.failed = 0;
	mm->rf.outstanding = 0;
	for (long i = 0; i < n; i++) {
		const struct mm_post *p = &items[i];
		if (p->create_at > newest)
			newest = p->create_at;
		/* Roots of threads and edits of older posts come along: only
		 * what was written after `since` counts. */
		if (p->create_at <= mm->rf.since || strcmp(p->channel_id, ch->id) != 0)
			continue;
		int rc = deliver(mm, p, ch->type, NULL, -1, 1);
		if (rc > 0) {
			mm->rf.outstanding++;
			mm->rf.posts++;
		} else if (rc < 0) {
			mm->rf.failed = 1;
		}
	}
	if (skipped)
		log_warn("mattermost: refill: malformed posts skipped", "connector=%s channel=%s count=%zu",
		         mm->c->name, ch->id, skipped);
	for (long i = 0; i < n; i++)
		mm_post_free(&items[i]);
	free(items);
	if (mm->rf.failed) {
		refill_failed(mm, "a post was not taken");
		return;
	}
	if (n + (long)skipped >= MATTERMOST_REFILL_PAGE_FULL && newest > mm->rf.since) {
		/* The server stops at 1,000: ask again from the newest one. */
		mm->rf.since = newest - 1;
	} else {
		mm->rf.i++;
		mm->rf.since = 0;
	}
	if (!mm->rf.outstanding)
		refill_next(mm);
}

/* The next channel (or page) of the refill, once the last one is durable. */
static void refill_next(struct mm *mm)
{
	char path[256];
	if (mm->stopping || mm->closing) {
		refill_end(mm);
		return;
	}
	if (mm->rf.failed) {
		refill_failed(mm, "a post was not stored");
		return;
	}
	while (mm->rf.i < mm->rf.n && !mm->rf.since) {
		const struct mm_channel *ch = &mm->rf.chans[mm->rf.i];
		struct since_read sr = {0, 0};
		connector_state_get(mm->c, CHANNEL_KIND, ch->id, since_got, &sr);
		/* From the channel's last stored post, but never from later than
		 * the gap began: posts stored since came live, after the gap. */
		int64_t since =
		    sr.answered && sr.v && sr.v - 1 < mm->refill_from ? sr.v - 1 : mm->refill_from;
		if (ch->last_post_at && ch->last_post_at <= since) {
			mm->rf.i++; /* nothing newer there */
			continue;
		}
		mm->rf.since = since;
	}
	if (mm->rf.i >= mm->rf.n) {
		refill_done(mm);
		return;
	}
	snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=%" PRId64, mm->rf.chans[mm->rf.i].id,
	         mm->rf.since);
	if (rest_api(mm->rest, "GET", path, NULL, LIST_BODY_MAX, on_refill_page,
	             (void *)(uintptr_t)mm->rf.gen) < 0)
		refill_failed(mm, "cannot start the request");
}

static void on_channels(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	uint64_t gen = (uint64_t)(uintptr_t)arg;
	char d[200];
	if (r->error == HTTP_E_CANCELLED || gen != mm->rf.gen || !mm->rf.running)
		return;
	if (r->error == HTTP_E_NONE && r->status == 401) {
		refill_end(mm);
		unauthorized(mm, "channels");
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		int64_t now = now_ms();
		refill_end(mm);
		metric_add_l(mm->m_limited, 1, mm->c->name);
		timer_in(mm, &mm->refill_timer, refill_timer_cb, rest_wait_until(r, now, 5000, 0, 0) - now);
		return;
	}
	if (!rest_ok(r)) {
		describe(r, d, sizeof(d));
		refill_failed(mm, d);
		return;
	}
	long n = mm_parse_channels(r->body, r->body_len, &mm->rf.chans, d, sizeof(d));
	if (n < 0) {
		refill_failed(mm, d);
		return;
	}
	mm->rf.n = (size_t)n;
	mm->rf.i = 0;
	mm->rf.since = 0;
	log_info("mattermost: refill", "connector=%s channels=%ld since_ms=%" PRId64, mm->c->name, n,
	         mm->refill_from);
	refill_next(mm);
}

static void refill_start(struct mm *mm)
{
	char path[160];
	if (mm->stopping || mm->closing || mm->boot != BOOT_DONE || !mm->refill_from)
		return;
	if (mm->rf.running) {
		mm->rf.again = 1;
		return;
	}
	if (mm->timers)
		uv_timer_stop(&mm->refill_timer);
	mm->rf.running = 1;
	mm->rf.again = 0;
	mm->rf.started_ms = now_ms();
	mm->rf.gen++;
	mm->rf.posts = mm->rf.lost = 0;
	mm->rf.outstanding = 0;
	mm->rf.failed = 0;
	snprintf(path, sizeof(path), "/api/v4/users/%s/channels", mm->self_id);
	if (rest_api(mm->rest, "GET", path, NULL, LIST_BODY_MAX, on_channels, (void *)(uintptr_t)mm->rf.gen) <
	    0)
		refill_failed(mm, "cannot start the request");
}

/* --- replies ------------------------------------------------------------------------------- */

static struct mm_tried *tried_find(struct mm *mm, int64_t id, int create)
{
	for (struct mm_tried *t = mm->tried; t; t = t->next)
		if (t->id == id)
			return t;
	if (!create)
		return NULL;
	struct mm_tried *t = xcalloc(1, sizeof(*t));
	t->id = id;
	t->first_ms = now_ms();
	t->next = mm->tried;
	mm->tried = t;
	return t;
}

static void tried_drop(struct mm *mm, int64_t id)
{
	for (struct mm_tried **pp = &mm->tried; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct mm_tried *t = *pp;
			*pp = t->next;
			free(t);
			return;
		}
	}
}

static void job_free(struct mm_job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j->text);
	free(j);
}

/* The outcome of a row: SEND_OK and SEND_FAIL forget it. */
static void job_finish(struct mm *mm, struct mm_job *j, enum send_result r, long retry_after,
                       const char *detail)
{
	if (r == SEND_RETRY) {
		struct mm_tried *t = tried_find(mm, j->id, 1);
		t->next_part = j->next_part;
	} else {
		tried_drop(mm, j->id);
	}
	connector_send_done(mm->c, j->id, r, retry_after, detail);
	job_free(j);
}

static void job_start(void *ctx, struct rest_job *link);

/* Nothing goes before the bot knows who it is (its DMs, its own posts)
 * and how long a post may be. */
static void pump(struct mm *mm)
{
	if (!mm->closing)
		rest_hold(mm->rest, mm->self_id[0] && mm->limits_known);
}

static void part_key(const struct mm_job *j, size_t k, char *out, size_t n)
{
	if (k == 0)
		snprintf(out, n, "%s", j->key);
	else
		snprintf(out, n, "%s-%zu", j->key, k);
}

static void post_part(struct mm *mm, struct mm_job *j);

static void on_created(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	struct mm_job *j = arg;
	char d[200], eid[128];
	rest_ended(mm->rest);
	if (r->error == HTTP_E_CANCELLED) {
		job_free(j);
		return;
	}
	if (rest_note_limits(mm->rest, r)) {
		/* Not created: it waits for the reset, it does not fail. */
		rest_requeue(mm->rest, &j->link);
		pump(mm);
		return;
	}
	if (rest_ok(r)) {
		j->next_part++;
		if (j->next_part < j->nparts) {
			rest_requeue(mm->rest, &j->link);
		} else {
			log_debug("mattermost: reply posted", "connector=%s outbox=%" PRId64 " parts=%zu",
			          mm->c->name, j->id, j->nparts);
			job_finish(mm, j, SEND_OK, 0, NULL);
		}
	} else if (r->error == HTTP_E_NONE && r->status == 500 &&
	           mm_error_id(r->body, r->body_len, eid, sizeof(eid)) == 0 &&
	           strcmp(eid, MM_PENDING_BUSY) == 0) {
		/* The first attempt is still being saved: the same id again soon
		 * returns it. */
		tried_find(mm, j->id, 1)->unknown = 1;
		job_finish(mm, j, SEND_RETRY, 0, "the server is still saving the first attempt");
	} else if (r->error != HTTP_E_NONE || r->status >= 500 || r->status == 408) {
		describe(r, d, sizeof(d));
		tried_find(mm, j->id, 1)->unknown = 1; /* it may exist all the same */
		job_finish(mm, j, SEND_RETRY, 0, d);
	} else if (r->status == 401) {
		unauthorized(mm, "posts");
		job_finish(mm, j, SEND_RETRY, MATTERMOST_UNAUTHORIZED_RETRY_MS / 1000, UNAUTHORIZED);
	} else {
		describe(r, d, sizeof(d));
		if (r->status == 403)
			log_warn("mattermost: the bot may not post there: add it to the team and channel",
			         "connector=%s outbox=%" PRId64 " channel=%s", mm->c->name, j->id,
			         j->channel);
		job_finish(mm, j, SEND_FAIL, 0, d);
	}
	pump(mm);
}

static void post_part(struct mm *mm, struct mm_job *j)
{
	char key[MM_MAX_ID + 40];
	part_key(j, j->next_part, key, sizeof(key));
	char *body = mm_post_json(j->channel, j->root, j->parts[j->next_part], key, key, j->reply_to);
	if (!body) {
		job_finish(mm, j, SEND_FAIL, 0, "the reply is not valid UTF-8");
		return;
	}
	rest_started(mm->rest);
	if (rest_api(mm->rest, "POST", "/api/v4/posts", body, POST_BODY_MAX, on_created, j) < 0) {
		rest_ended(mm->rest);
		job_finish(mm, j, SEND_RETRY, 0, "cannot start the request");
	}
	free(body);
}

/* Our own posts of this row already on the server (by the key in their
 * props): the parts found in order are done. */
static void on_checked(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	struct mm_job *j = arg;
	char d[200];
	rest_ended(mm->rest);
	if (r->error == HTTP_E_CANCELLED) {
		job_free(j);
		return;
	}
	if (rest_note_limits(mm->rest, r)) {
		rest_requeue(mm->rest, &j->link);
		pump(mm);
		return;
	}
	struct mm_post *items = NULL;
	long n = -1;
	if (rest_ok(r))
		n = mm_parse_post_list(r->body, r->body_len, &items, NULL, d, sizeof(d));
	else
		describe(r, d, sizeof(d));
	if (n < 0) {
		job_finish(mm, j, r->status == 403 || r->status == 404 ? SEND_FAIL : SEND_RETRY, 0, d);
		pump(mm);
		return;
	}
	size_t found = 0;
	for (size_t k = j->next_part; k < j->nparts; k++) {
		char key[MM_MAX_ID + 40];
		int hit = 0;
		part_key(j, k, key, sizeof(key));
		for (long i = 0; i < n && !hit; i++)
			hit = strcmp(items[i].user_id, mm->self_id) == 0 && strcmp(items[i].key, key) == 0;
		if (!hit)
			break;
		found++;
	}
	for (long i = 0; i < n; i++)
		mm_post_free(&items[i]);
	free(items);
	j->check = 0;
	if (found)
		log_info("mattermost: reply found already posted: not sent again",
		         "connector=%s outbox=%" PRId64 " parts=%zu", mm->c->name, j->id, found);
	j->next_part += found;
	if (j->next_part >= j->nparts)
		job_finish(mm, j, SEND_OK, 0, NULL);
	else
		rest_requeue(mm->rest, &j->link);
	pump(mm);
}

static void open_direct(struct connector *c, const char *recipient, struct connector_dm_req *req);
static void dm_ready(void *arg, int rc, const char *channel);

static void job_start(void *ctx, struct rest_job *link)
{
	struct mm *mm = ctx;
	struct mm_job *j = (struct mm_job *)link;
	char path[256];
	if (j->text) {
		j->nparts = mm_build_reply(j->text, mm->max_chars, j->parts, MATTERMOST_MAX_PARTS);
		free(j->text);
		j->text = NULL;
		if (j->nparts == 0) {
			job_finish(mm, j, SEND_FAIL, 0, "empty reply");
			return;
		}
		if (j->next_part >= j->nparts)
			j->next_part = 0;
	}
	if (j->need_dm) {
		/* Taken offline: the direct message with the author. */
		j->need_dm = 0;
		rest_started(mm->rest);
		connector_dm_channel(mm->c, j->recipient, open_direct, dm_ready, j);
		return;
	}
	if (!j->check) {
		post_part(mm, j);
		return;
	}
	if (j->root[0])
		snprintf(path, sizeof(path), "/api/v4/posts/%s/thread", j->root);
	else
		snprintf(path, sizeof(path), "/api/v4/channels/%s/posts?since=%" PRId64, j->channel,
		         ((int64_t)j->written - 60) * 1000);
	rest_started(mm->rest);
	if (rest_api(mm->rest, "GET", path, NULL, LIST_BODY_MAX, on_checked, j) < 0) {
		rest_ended(mm->rest);
		job_finish(mm, j, SEND_RETRY, 0, "cannot start the request");
	}
}

static void job_queue(struct mm *mm, struct mm_job *j)
{
	rest_queue(mm->rest, &j->link);
}

/* connector_dm_channel's open: POST /api/v4/channels/direct. */
static void on_direct(void *ctx, const struct http_response *r, void *arg)
{
	struct mm *mm = ctx;
	struct connector_dm_req *req = arg;
	char id[MM_MAX_ID + 1];
	if (r->error == HTTP_E_CANCELLED) {
		mm->dm_refused = 0;
		connector_dm_opened(req, NULL);
		return;
	}
	rest_note_limits(mm->rest, r);
	mm->dm_refused = r->error == HTTP_E_NONE && r->status >= 400 && r->status < 500 && r->status != 429 &&
	                 r->status != 408 && r->status != 401;
	if (rest_ok(r) && mm_parse_id(r->body, r->body_len, id, sizeof(id)) == 0) {
		connector_dm_opened(req, id);
	} else {
		char d[200];
		describe(r, d, sizeof(d));
		log_warn("mattermost: cannot open a direct message", "connector=%s error=\"%s\"", mm->c->name,
		         d);
		connector_dm_opened(req, NULL);
	}
	mm->dm_refused = 0;
}

static void open_direct(struct connector *c, const char *recipient, struct connector_dm_req *req)
{
	struct mm *mm = c->priv;
	json_t *a = json_pack("[s, s]", mm->self_id, recipient);
	char *body = a && mm->self_id[0] && mm_id_ok(recipient) ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (!body ||
	    rest_api(mm->rest, "POST", "/api/v4/channels/direct", body, POST_BODY_MAX, on_direct, req) < 0) {
		mm->dm_refused = !body;
		connector_dm_opened(req, NULL);
		mm->dm_refused = 0;
	}
	free(body);
}

static void dm_ready(void *arg, int rc, const char *channel)
{
	struct mm_job *j = arg;
	struct mm *mm = j->mm;
	rest_ended(mm->rest);
	if (rc != 0 || !mm_id_ok(channel) || strlen(channel) > MM_MAX_ID) {
		job_finish(mm, j, mm->dm_refused ? SEND_FAIL : SEND_RETRY, 0,
		           mm->dm_refused ? "the direct message was refused"
		                          : "no direct message channel yet");
		return;
	}
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	j->root[0] = '\0';
	rest_requeue(mm->rest, &j->link);
	pump(mm);
}

static int mm_send(struct connector *c, const struct outmsg *m)
{
	struct mm *mm = c->priv;
	char channel[MM_MAX_ID + 1], root[MM_MAX_ID + 1];
	if (mm_thread_parse(m->thread_key, channel, sizeof(channel), root, sizeof(root)) < 0) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "not a Mattermost conversation");
		return 0;
	}
	if (!m->idem_key || !mm_id_ok(m->idem_key) || strlen(m->idem_key) > MM_MAX_ID - 4) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "unusable idempotency key");
		return 0;
	}
	struct mm_job *j = xcalloc(1, sizeof(*j));
	j->mm = mm;
	j->id = m->id;
	j->written = m->ts ? m->ts : time(NULL);
	snprintf(j->key, sizeof(j->key), "%s", m->idem_key);
	if (m->reply_to_id && mm_id_ok(m->reply_to_id))
		snprintf(j->reply_to, sizeof(j->reply_to), "%s", m->reply_to_id);
	snprintf(j->channel, sizeof(j->channel), "%s", channel);
	snprintf(j->root, sizeof(j->root), "%s", root);
	j->text = xstrdup(m->text ? m->text : "");
	/*
	 * Could an earlier attempt have posted it without our knowing?  Only
	 * when one was made (by this process with no answer, or by an earlier
	 * process) longer ago than the server's pending_post_id memory.
	 */
	struct mm_tried *t = tried_find(mm, m->id, 0);
	int64_t now = now_ms();
	if (t) {
		j->next_part = t->next_part;
		j->check = t->unknown && now - t->first_ms > MATTERMOST_DEDUPE_WINDOW_MS;
	} else {
		j->check = j->written < mm->started &&
		           now - (int64_t)j->written * 1000 > MATTERMOST_DEDUPE_WINDOW_MS;
	}
	if (!t)
		tried_find(mm, m->id, 1);
	if (m->is_private && m->thread_key[0] != 'd') {
		if (!m->recipient || !mm_id_ok(m->recipient)) {
			job_finish(mm, j, SEND_FAIL, 0, "a private reply without its recipient");
			return 0;
		}
		j->need_dm = 1;
		snprintf(j->recipient, sizeof(j->recipient), "%s", m->recipient);
	}
	if (m->thread_key[0] == 'd')
		j->root[0] = '\0';
	job_queue(mm, j);
	return 0;
}

/* --- connector ops ---------------------------------------------------------------------- */

static int mm_idle(struct connector *c)
{
	struct mm *mm = c->priv;
	return !mm || rest_idle(mm->rest);
}

/* Replies held by a rate limit go back to the outbox with the wait. */
static void give_back(void *ctx, struct rest_job *link, long secs)
{
	job_finish(ctx, (struct mm_job *)link, SEND_RETRY, secs, "rate limited until the reset");
}

static void mm_stop(struct connector *c)
{
	struct mm *mm = c->priv;
	if (!mm)
		return;
	mm->stopping = 1;
	if (mm->timers)
		uv_timer_stop(&mm->refill_timer);
	if (mm->conn_id[0] && mm->durable_seq != mm->saved_seq)
		session_save(mm);
	wsclient_stop(mm->ws);
	rest_stop(mm->rest, give_back);
}

static void mm_close(struct connector *c)
{
	struct mm *mm = c->priv;
	if (!mm)
		return;
	mm->closing = 1;
	if (mm->timers) {
		uv_close((uv_handle_t *)&mm->refill_timer, NULL);
		mm->timers = 0;
	}
	rest_close(mm->rest);
	wsclient_close(mm->ws);
}

static void mm_destroy(struct connector *c)
{
	struct mm *mm = c->priv;
	struct rest_job *j;
	if (!mm)
		return;
	while (mm->rest && (j = rest_pop(mm->rest)))
		job_free((struct mm_job *)j);
	rest_free(mm->rest);
	while (mm->tried) {
		struct mm_tried *t = mm->tried;
		mm->tried = t->next;
		free(t);
	}
	free(mm->rf.chans);
	free(mm->pending);
	wsclient_free(mm->ws);
	explicit_bzero(mm->token, sizeof(mm->token));
	free(mm);
	c->priv = NULL;
}

/* The stored session is known (now or later): begin. */
static void session_read(void *arg, int rc, const struct store_state *st)
{
	struct mm *mm = arg;
	json_t *o = rc == 0 && st && st->value ? json_loads(st->value, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(o, "id"));
	json_t *seq = json_object_get(o, "seq"), *seen = json_object_get(o, "seen"),
	       *refill = json_object_get(o, "refill");
	if (json_is_object(o)) {
		if (id && mm_id_ok(id) && json_is_integer(seq) && json_integer_value(seq) >= 0) {
			snprintf(mm->conn_id, sizeof(mm->conn_id), "%s", id);
			mm->durable_seq = mm->saved_seq = (int64_t)json_integer_value(seq);
		}
		if (json_is_integer(seen) && json_integer_value(seen) > 0)
			mm->seen_ms = (int64_t)json_integer_value(seen);
		if (json_is_integer(refill) && json_integer_value(refill) > 0)
			mm->refill_from = (int64_t)json_integer_value(refill);
	} else if (rc == 1) {
		mm->first_start = 1;
	} else {
		log_warn("mattermost: stored session unreadable: refilling from a day ago", "connector=%s",
		         mm->c->name);
		mm->refill_from = now_ms() - 86400000LL;
	}
	json_decref(o);
	log_info("mattermost: starting",
	         "connector=%s instance=%s connection_id=%s sequence_number=%" PRId64 " refill=%s",
	         mm->c->name, mm->api, mm->conn_id[0] ? mm->conn_id : "-", mm->durable_seq,
	         mm->refill_from ? "owed" : "no");
	wsclient_start(mm->ws);
}

static int mm_start(struct connector *c)
{
	const struct mattermost_conf *cc = c->conf ? c->conf->settings : NULL;
	struct mm *mm = xcalloc(1, sizeof(*mm));
	struct url_parts u;
	c->priv = mm;
	mm->c = c;
	mm->loop = connector_loop(c);
	mm->max_chars = MM_MAX_POST;
	mm->started = time(NULL);
	if (!cc || !cc->instance || url_parse(cc->instance, &u) < 0) {
		log_error("mattermost: 'instance' must be the server's address, like https://chat.example",
		          "connector=%s", c->name);
		return -1;
	}
	snprintf(mm->api, sizeof(mm->api), "%s", cc->instance);
	for (size_t n = strlen(mm->api); n > 0 && mm->api[n - 1] == '/'; n--)
		mm->api[n - 1] = '\0';
	if (read_token(mm) < 0)
		return -1;

	struct metrics *mx = connector_metrics(c);
	mm->m_events = metrics_counter(
	    mx, "mattermost_events_total",
	    "Mattermost WebSocket events (hello, posted, self, system, other, bad).", "connector,kind");
	mm->m_limited = metrics_counter(mx, "mattermost_rate_limited_total",
	                                "Mattermost requests answered 429.", "connector");

	uv_timer_init(&mm->loop->uv, &mm->refill_timer);
	mm->refill_timer.data = mm;
	mm->timers = 1;
	struct rest_conf rc = {
	    .label = "mattermost",
	    .max_inflight = MATTERMOST_MAX_INFLIGHT,
	    .m_limited = mm->m_limited,
	};
	static const struct rest_ops rops = {.start = job_start};
	mm->rest = rest_new(c, &rc, &rops, mm);
	rest_hold(mm->rest, 0);
	rest_set_bearer(mm->rest, mm->token);
	if (rest_set_base(mm->rest, mm->api) < 0)
		return -1;

	struct wsclient_conf wc = {
	    .label = "mattermost",
	    .max_message = MATTERMOST_MAX_FRAME,
	    .ping_idle_ms = PING_IDLE_MS,
	    .dead_ms = DEAD_MS,
	    .backoff_min_ms = MATTERMOST_BACKOFF_MIN_MS,
	    .backoff_base_ms = MATTERMOST_BACKOFF_MIN_MS,
	    .backoff_cap_ms = MATTERMOST_BACKOFF_MAX_MS - MATTERMOST_BACKOFF_MIN_MS,
	    .fatal_retry_ms = MATTERMOST_UNAUTHORIZED_RETRY_MS,
	    .report_ready = 1,
	};
	mm->ws = wsclient_new(c, &wc, &ws_ops, mm);
	if (!mm->ws)
		return -1;
	wsclient_set_bearer(mm->ws, mm->token);
	connector_set_health(c, HEALTH_STARTING, "connecting");
	connector_state_prune(c, "dm", connector_now(c) - (time_t)MATTERMOST_STATE_DAYS * 86400);
	connector_state_prune(c, CHANNEL_KIND, connector_now(c) - (time_t)MATTERMOST_STATE_DAYS * 86400);
	connector_state_get(c, SESSION_KIND, SESSION_KEY, session_read, mm);
	return 0;
}

/* --- configuration ------------------------------------------------------------------------- */

static void *mm_parse(struct config_parser *p)
{
	struct mattermost_conf *m = xcalloc(1, sizeof(*m));
	m->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 1,
	                             "(the server's address, like https://chat.example)");
	config_key_secret(p, "token", 1, "the bot account's access token", &m->token);
	if (m->instance)
		p->cc->endpoint = xstrdup(m->instance);
	return m;
}

static void mm_free_settings(void *settings)
{
	struct mattermost_conf *m = settings;
	free(m->instance);
	free(m->token.env);
	free(m->token.file);
	free(m);
}

static const char *const mm_keys[] = {"instance", "token_env", "token_file", NULL};

const struct connector_ops mattermost_ops = {
    .type = "mattermost",
    .keys = mm_keys,
    .parse = mm_parse,
    .free_settings = mm_free_settings,
    .max_text = 0, /* the connector cuts replies itself: the limit is the server's */
    .start = mm_start,
    .stop = mm_stop,
    .send = mm_send,
    .idle = mm_idle,
    .close = mm_close,
    .destroy = mm_destroy,
    .post_done = mm_post_done,
};
