/*
 * dashboard.c - the agent dashboard's HTTP API, live WebSocket and static
 * front end.  See dashboard.h for the routes and the live-update contract.
 *
 * Everything runs on the loop thread except password verification, which is
 * slow on purpose and runs on libuv's thread pool (uv_queue_work).
 */
#include "dashboard.h"
#include "dashboard_int.h"
#include "embedded.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "auth.h"
#include "config.h"
#include "hours.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "rand.h"
#include "replies.h"
#include "server.h"
#include "satisfaction.h"
#include "sla.h"
#include "store.h"
#include "team.h"
#include "url.h"
#include "util.h"

#define ALL_METHODS      (SERVER_GET | SERVER_POST | SERVER_PUT | SERVER_DELETE | SERVER_PATCH)
#define API_MAX_BODY     (64u * 1024u) /* a reply of DASHBOARD_MAX_REPLY characters, JSON-escaped */
#define LIVE_MAX_MESSAGE 1024u         /* client -> server frames are pings only */
#define LOGINS_IN_FLIGHT 8             /* password verifications at once, all clients */
#define PREVIEW_BYTES    280           /* last_message in list answers */
#define KICK_MS          10            /* coalescing delay of change notifications */

/* What was last published about an open ticket. */
struct published {
	int64_t id;
	uint64_t hash;
};

struct live_client {
	struct dashboard *d;
	struct server_ws *ws;
	char token[AUTH_TOKEN_HEX + 1];
	struct live_client *prev, *next;
};

struct login_work {
	uv_work_t work;
	struct dashboard *d;
	struct server_req *req;
	char login[AUTH_MAX_LOGIN + 1];
	char peer[64];
	char password[AUTH_MAX_PASSWORD];
	char *hash;
	int known;
	int secure; /* the page came over https (a TLS proxy): the cookie gets Secure */
	int result;
	struct login_work *prev, *next;
};

/* ---- small helpers ------------------------------------------------------- */

void dashboard_iso(json_t *o, const char *key, time_t t)
{
	if (t <= 0) {
		json_object_set_new(o, key, json_null());
		return;
	}
	char iso[40];
	time_iso_utc(t, iso, sizeof(iso));
	json_object_set_new(o, key, json_string(iso));
}

/* Text as a JSON string; invalid UTF-8 (it should not be stored, but a bad
 * row must not break the page) becomes null. */
json_t *dashboard_text(const char *t)
{
	json_t *s = t ? json_string(t) : NULL;
	return s ? s : json_null();
}

/* The first `max` bytes of s, cut at a UTF-8 character boundary, with "…"
 * when something was cut. */
static json_t *preview(const char *s, size_t len, size_t max)
{
	if (len <= max) {
		json_t *j = json_stringn(s, len);
		return j ? j : json_null();
	}
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	char *p = xmalloc(n + 4);
	memcpy(p, s, n);
	memcpy(p + n, "\xE2\x80\xA6", 4);
	json_t *j = json_string(p);
	free(p);
	return j ? j : json_null();
}

json_t *dashboard_body(struct server_req *req)
{
	size_t len;
	const char *raw = server_req_body(req, &len);
	if (!raw || !len)
		return json_object();
	json_t *body = json_loadb(raw, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		server_respond_error(req, 400, "the body must be a JSON object");
		return NULL;
	}
	return body;
}

void dashboard_respond(struct server_req *req, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s) {
		server_respond_error(req, 500, "out of memory");
		return;
	}
	server_respond(req, status, NULL, s, strlen(s));
	free(s);
}

/* ---- the ticket read model as JSON ------------------------------------------
 * Every view reads tickets through the store's one read model
 * (store_tickets), the same as `frontdesk queue` and the notifications. */

/*
 * A ticket's response target is missed when neither a reply nor a
 * resolution came by its due time (the same rule the SLA timers apply).
 */
static int ticket_missed(const struct store_ticket *t, time_t now)
{
	time_t answered = t->first_response;
	if (t->resolved && (!answered || t->resolved < answered))
		answered = t->resolved;
	return t->due > 0 && (answered ? answered > t->due : now > t->due);
}

static json_t *quote_json(const struct store_quote *q)
{
	return q->text ? preview(q->text, strlen(q->text), PREVIEW_BYTES) : json_null();
}

/* Ticket t as the JSON the API and the live events carry: the fields of
 * `frontdesk queue list --json` and a few more.  `last_message` is the
 * customer's latest message of the ticket, `opening_message` the one that
 * caused the escalation. */
json_t *dashboard_ticket_json(const struct store_ticket *t, time_t now)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(t->id));
	json_object_set_new(o, "status", dashboard_text(t->status));
	json_object_set_new(o, "priority", dashboard_text(t->priority));
	json_object_set_new(o, "reason", dashboard_text(t->reason));
	json_object_set_new(o, "platform", dashboard_text(t->platform));
	json_object_set_new(o, "author", dashboard_text(t->author));
	dashboard_iso(o, "due", t->due);
	dashboard_iso(o, "created", t->created);
	dashboard_iso(o, "updated", t->updated);
	json_object_set_new(o, "assignee", dashboard_text(t->assignee));
	json_object_set_new(o, "last_message", quote_json(&t->latest));
	json_object_set_new(o, "opening_message", quote_json(&t->opening));
	dashboard_iso(o, "first_response", t->first_response);
	dashboard_iso(o, "resolved", t->resolved);
	json_object_set_new(o, "missed", json_boolean(ticket_missed(t, now)));
	json_object_set_new(o, "connector", dashboard_text(t->connector));
	json_object_set_new(o, "private", json_boolean(t->is_private));
	json_object_set_new(o, "last_message_id", json_integer(t->last_message_id));
	json_object_set_new(o, "sending", json_integer(t->sending));
	json_object_set_new(o, "email", dashboard_text(t->email));
	/* The team's side. */
	json_object_set_new(o, "latest_id", json_integer(t->latest.id));
	json_object_set_new(o, "last_event_id", json_integer(t->last_event_id));
	dashboard_iso(o, "snoozed_until", t->snoozed_until > now ? t->snoozed_until : 0);
	dashboard_iso(o, "reopened", t->reopened);
	json_t *labels = json_array();
	for (size_t i = 0; i < t->n_labels; i++)
		json_array_append_new(labels, dashboard_text(t->labels[i]));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "contact_id", t->contact_id ? json_integer(t->contact_id) : json_null());
	json_object_set_new(o, "contact_name", dashboard_text(t->contact_name));
	json_object_set_new(o, "thread_key", dashboard_text(t->thread_key));
	json_object_set_new(o, "rating",
	                    t->rating ? json_pack("{s:i, s:o}", "score", t->rating, "comment",
	                                          dashboard_text(t->rating_comment))
	                              : json_null());
	/* The asking agent's read mark: in their lists only (live events go to
	 * everyone and carry none). */
	if (t->seen)
		json_object_set_new(o, "seen", json_integer(t->seen));
	return o;
}

/* Status filters of the list, in store_ticket_filter order. */
static const char *const filters[] = {"open", "waiting", "claimed", "resolved", "all"};

static json_t *seconds_or_null(double v)
{
	return v < 0 ? json_null() : json_integer((json_int_t)(v + 0.5));
}

/* First-response and resolution times and missed targets over the last
 * SLA_STATS_WINDOW, and the queue's counts: what the store holds, computed
 * by the same code as the SLA timers' numbers. */
static json_t *stats_json(const struct sla_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:o, s:o}, s:{s:o, s:o}}",
	                 "window_seconds", (json_int_t)SLA_STATS_WINDOW, "open", (json_int_t)st->open,
	                 "waiting", (json_int_t)st->waiting, "claimed", (json_int_t)st->claimed, "overdue",
	                 (json_int_t)st->overdue, "due_soon", (json_int_t)st->due_soon, "answered",
	                 (json_int_t)st->answered, "resolved", (json_int_t)st->resolved, "missed",
	                 (json_int_t)st->missed, "met", (json_int_t)st->met, "first_response", "median",
	                 seconds_or_null(st->first_response_p50), "p90",
	                 seconds_or_null(st->first_response_p90), "resolution", "median",
	                 seconds_or_null(st->resolution_p50), "p90", seconds_or_null(st->resolution_p90));
}

/* ---- live events --------------------------------------------------------- */

static void live_send_reset(struct live_client *c)
{
	char msg[96];
	int n =
	    snprintf(msg, sizeof(msg), "{\"type\":\"reset\",\"seq\":%llu}", (unsigned long long)c->d->seq);
	server_ws_send(c->ws, msg, (size_t)n);
}

/* End live connections whose session has ended (logout, expiry, reload). */
static void live_check_sessions(struct dashboard *d, time_t now)
{
	for (struct live_client *c = d->clients; c; c = c->next)
		if (!auth_session_peek(d->auth, c->token, now))
			server_ws_close(c->ws, 4401, "session ended");
}

/* Number, keep and broadcast one event about ticket t (borrowed). */
static void publish(struct dashboard *d, json_t *t)
{
	json_t *e =
	    json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)(d->seq + 1), "type", "ticket", "ticket", t);
	char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (!s)
		return;
	d->seq++;
	struct event *ev = &d->ring[d->seq % DASHBOARD_RING];
	free(ev->json);
	ev->seq = d->seq;
	ev->json = s;
	ev->len = strlen(s);
	metric_inc(d->m_events);
	live_check_sessions(d, time(NULL));
	for (struct live_client *c = d->clients; c; c = c->next)
		server_ws_send(c->ws, ev->json, ev->len);
}

void dashboard_typing(struct dashboard *d, const char *connector, const char *thread_key, int on)
{
	json_t *e = json_pack("{s:s, s:s, s:s, s:b}", "type", "typing", "connector", connector, "thread_key",
	                      thread_key, "on", on);
	char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (!s)
		return;
	for (struct live_client *c = d->clients; c; c = c->next)
		server_ws_send(c->ws, s, strlen(s));
	free(s);
}

static int cmp_pub(const void *a, const void *b)
{
	const struct published *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct published *pub_find(struct published *v, size_t n, int64_t id)
{
	struct published key = {.id = id};
	return n ? bsearch(&key, v, n, sizeof(*v), cmp_pub) : NULL;
}

/* Publish the tickets the store answered with, as they are now. */
static void publish_found(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct dashboard *d = arg;
	time_t now = time(NULL);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *t = dashboard_ticket_json(&v[i], now);
		publish(d, t);
		json_decref(t);
	}
}

/* Publish ticket id as it is now, if it exists (a ticket that left the open
 * queue, or one that opened and closed between two scans). */
static void publish_one(struct dashboard *d, int64_t id)
{
	struct store_ticket_query q = {.id = id};
	store_tickets(d->env.store, &q, publish_found, d);
}

/*
 * Compare the open queue with what was last published and publish every
 * ticket that changed, appeared or left it.  The comparison is by a hash of
 * each ticket's JSON, so anything visible (status, assignee, last message,
 * a reply being sent) counts as a change, whoever made it.
 */
static void rescanned(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct dashboard *d = arg;
	time_t now = time(NULL);
	d->scanning = 0;
	if (rc < 0)
		return;
	struct published *next = n ? xcalloc(n, sizeof(*next)) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *t = dashboard_ticket_json(&v[i], now);
		char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
		next[i].id = v[i].id;
		next[i].hash = s ? hash64(s, strlen(s)) : 0;
		free(s);
		struct published *old = pub_find(d->pub, d->n_pub, next[i].id);
		if (d->scanned && (!old || old->hash != next[i].hash))
			publish(d, t);
		json_decref(t);
	}
	if (n)
		qsort(next, n, sizeof(*next), cmp_pub);
	struct published *prev = d->pub;
	size_t nprev = d->n_pub;
	int64_t hints[MAX_HINTS];
	size_t nhints = d->n_hints;
	memcpy(hints, d->hints, nhints * sizeof(*hints));
	int scanned = d->scanned;
	d->n_hints = 0;
	d->pub = next;
	d->n_pub = n;
	d->scanned = 1;
	if (scanned) {
		for (size_t i = 0; i < nprev; i++)
			if (!pub_find(next, n, prev[i].id))
				publish_one(d, prev[i].id);
		for (size_t i = 0; i < nhints; i++)
			if (!pub_find(next, n, hints[i]) && !pub_find(prev, nprev, hints[i]))
				publish_one(d, hints[i]);
	}
	free(prev);
}

static void rescan(struct dashboard *d)
{
	if (d->scanning)
		return;
	struct store_ticket_query q = {.filter = TICKETS_OPEN, .limit = DASHBOARD_MAX_LIST};
	d->scanning = 1;
	store_tickets(d->env.store, &q, rescanned, d);
}

static void on_kick(uv_timer_t *t)
{
	rescan(t->data);
}

/* The safety net: the store's queue version (a cheap fingerprint of
 * everything a ticket's JSON depends on) moved, or could not be read. */
static void versioned(void *arg, int rc, uint64_t v)
{
	struct dashboard *d = arg;
	if (rc < 0 || v != d->fingerprint) {
		rescan(d);
		d->fingerprint = v;
	}
}

static void on_scan(uv_timer_t *t)
{
	struct dashboard *d = t->data;
	time_t now = time(NULL);
	store_queue_version(d->env.store, now, versioned, d);
	live_check_sessions(d, now);
	dashboard_insights_metrics(d, DASHBOARD_INSIGHTS_MS, NULL, NULL);
}

void dashboard_notify_change(struct dashboard *d, int64_t ticket_id)
{
	if (!d || d->stopped)
		return;
	/* Another process may have changed the team's settings too. */
	if (ticket_id == 0)
		dashboard_team_read(d);
	if (ticket_id > 0 && d->n_hints < MAX_HINTS) {
		size_t i;
		for (i = 0; i < d->n_hints && d->hints[i] != ticket_id; i++)
			;
		if (i == d->n_hints)
			d->hints[d->n_hints++] = ticket_id;
	}
	if (!uv_is_active((uv_handle_t *)&d->kick))
		uv_timer_start(&d->kick, on_kick, KICK_MS, 0);
}

static int live_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct dashboard *d = arg;
	time_t now = time(NULL);
	const struct auth_session *s = auth_session_from_cookie(d->auth, info->cookie, now);
	char csrf[AUTH_TOKEN_HEX + 1], since_s[24], epoch[24];

	if (!s)
		return 401;
	/* The CSRF token in the URL proves the page is ours: a foreign site
	 * can make the browser send the cookie (not with SameSite=Strict, but
	 * belt and braces) but cannot know the token. */
	if (server_ws_arg(ws, "csrf", csrf, sizeof(csrf)) < 0 || !auth_csrf_ok(s, csrf))
		return 403;
	if (d->n_clients >= DASHBOARD_MAX_CLIENTS)
		return 503;

	struct live_client *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->ws = ws;
	memcpy(c->token, s->token, sizeof(c->token));
	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	d->n_clients++;
	server_ws_set_data(ws, c);

	char hello[128];
	int n = snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"epoch\":\"%s\",\"seq\":%llu}", d->epoch,
	                 (unsigned long long)d->seq);
	server_ws_send(ws, hello, (size_t)n);

	long since;
	if (server_ws_arg(ws, "since", since_s, sizeof(since_s)) < 0 || parse_long(since_s, &since) < 0)
		return 0; /* a fresh client: it fetched the list and wants what follows */
	uint64_t oldest = d->seq >= DASHBOARD_RING ? d->seq - DASHBOARD_RING + 1 : 1;
	int same_epoch =
	    server_ws_arg(ws, "epoch", epoch, sizeof(epoch)) == 0 && strcmp(epoch, d->epoch) == 0;
	if (!same_epoch || (uint64_t)since > d->seq || (uint64_t)since + 1 < oldest) {
		live_send_reset(c);
		return 0;
	}
	for (uint64_t q = (uint64_t)since + 1; q <= d->seq; q++) {
		const struct event *ev = &d->ring[q % DASHBOARD_RING];
		if (ev->seq == q)
			server_ws_send(ws, ev->json, ev->len);
	}
	return 0;
}

static void live_text(struct server_ws *ws, const char *text, size_t len, void *arg)
{
	static const char pong[] = "{\"type\":\"pong\"}";
	static const char bad[] =
	    "{\"type\":\"error\",\"error\":\"only {\\\"type\\\":\\\"ping\\\"} is understood\"}";
	json_t *j = json_loadb(text, len, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	if (type && strcmp(type, "ping") == 0)
		server_ws_send(ws, pong, sizeof(pong) - 1);
	else
		server_ws_send(ws, bad, sizeof(bad) - 1);
	json_decref(j);
}

static void live_binary(struct server_ws *ws, void *arg)
{
	static const char bad[] = "{\"type\":\"error\",\"error\":\"binary frames are not understood\"}";
	server_ws_send(ws, bad, sizeof(bad) - 1);
}

static void live_close(struct server_ws *ws, void *arg)
{
	struct dashboard *d = arg;
	struct live_client *c = server_ws_data(ws);
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_clients--;
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
}

static const struct server_ws_ops live_ops = {
    .max_message = LIVE_MAX_MESSAGE,
    .on_open = live_open,
    .on_text = live_text,
    .on_binary = live_binary,
    .on_close = live_close,
};

/* ---- login --------------------------------------------------------------- */

/* Is the Origin header (when a browser sent one) this very site?  Writes
 * from a page of another origin are refused even with a valid cookie. */
static int same_origin(struct server_req *req)
{
	const char *origin = server_req_header(req, "origin");
	const char *host = server_req_header(req, "host");
	if (!origin)
		return 1;
	if (!host)
		return 0;
	const char *rest = !strncmp(origin, "http://", 7)    ? origin + 7
	                   : !strncmp(origin, "https://", 8) ? origin + 8
	                                                     : NULL;
	return rest && strcmp(rest, host) == 0;
}

/* Who is signed in, their CSRF token, the live stream's position, and the
 * team (agents, labels) the page needs. */
static json_t *me_json(struct dashboard *d, const struct auth_session *s)
{
	const struct team_agent *a = team_agent(d->team, s->login);
	json_t *o = json_pack("{s:s, s:{s:s, s:s, s:s, s:b}, s:s, s:I}", "csrf", s->csrf, "agent", "login",
	                      s->login, "name", s->name, "role", s->admin ? "admin" : "agent",
	                      "password_changeable", a != NULL, "epoch", d->epoch, "seq", (json_int_t)d->seq);
	dashboard_team_json(d, o, s->admin);
	/* The channels conversations come from, for search's filter. */
	json_t *ch = json_array();
	const struct config *c = d->env.cfg;
	for (size_t i = 0; c && i < c->nconnectors; i++) {
		const char *type = c->connectors[i].type;
		size_t j;
		for (j = 0; j < i && strcmp(c->connectors[j].type, type) != 0; j++)
			;
		if (j == i)
			json_array_append_new(ch, json_string(type));
	}
	json_object_set_new(o, "channels", ch);
	return o;
}

static void login_verify(uv_work_t *w)
{
	struct login_work *lw = w->data;
	lw->result = auth_verify_password(lw->password, lw->hash);
	explicit_bzero(lw->password, sizeof(lw->password));
}

static void login_unlink(struct dashboard *d, struct login_work *lw)
{
	if (lw->prev)
		lw->prev->next = lw->next;
	else
		d->logins = lw->next;
	if (lw->next)
		lw->next->prev = lw->prev;
	d->n_logins--;
}

/* A logfmt-quoted copy of v (a login name typed by anyone) in out. */
static const char *quoted(char *out, size_t n, const char *v)
{
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, v);
	snprintf(out, n, "%s", b.p ? b.p : "\"\"");
	buf_free(&b);
	return out;
}

static void login_work_free(struct login_work *lw)
{
	free(lw->hash);
	explicit_bzero(lw, sizeof(*lw));
	free(lw);
}

static void login_done(uv_work_t *w, int status)
{
	struct login_work *lw = w->data;
	struct dashboard *d = lw->d;
	time_t now = time(NULL);

	login_unlink(d, lw);
	if (status != 0) {
		server_respond_error(lw->req, 503, "the login was interrupted; try again");
		login_work_free(lw);
		return;
	}
	char qlogin[4 * AUTH_MAX_LOGIN + 8];
	quoted(qlogin, sizeof(qlogin), lw->login);
	if (lw->known && lw->result < 0)
		log_error("agent password_hash is not a hash crypt(3) understands", "login=%s", qlogin);
	const struct auth_session *s = NULL;
	if (lw->known && lw->result == 1)
		s = auth_session_new(d->auth, lw->login, now);
	if (s) {
		char cookie[256];
		auth_rate_success(d->auth, lw->peer, lw->login);
		auth_cookie(cookie, sizeof(cookie), s->token, lw->secure);
		server_req_add_header(lw->req, "Set-Cookie", cookie);
		log_info("agent logged in", "login=%s peer=%s", qlogin, lw->peer);
		metric_add_l(d->m_logins, 1, "ok");
		dashboard_respond(lw->req, 200, me_json(d, s));
	} else {
		long lock = auth_rate_fail(d->auth, lw->peer, lw->login, now);
		log_warn("dashboard login failed", "login=%s peer=%s locked_seconds=%ld", qlogin, lw->peer,
		         lock);
		metric_add_l(d->m_logins, 1, "failed");
		server_respond_error(lw->req, 401, "wrong login or password");
	}
	login_work_free(lw);
}

static void refuse_rate(struct dashboard *d, struct server_req *req, long wait)
{
	char v[24];
	snprintf(v, sizeof(v), "%ld", wait > 0 ? wait : 1);
	server_req_add_header(req, "Retry-After", v);
	metric_add_l(d->m_logins, 1, "limited");
	server_respond_error(req, 429, "too many failed logins: try again later");
}

static enum server_handled api_login(struct dashboard *d, struct server_req *req)
{
	const char *peer = server_req_peer(req);
	size_t len;
	const char *body = server_req_body(req, &len);
	json_t *j;
	const char *login, *password;

	if (server_req_method(req) != SERVER_POST) {
		server_respond_error(req, 405, "use POST");
		return SERVER_DONE;
	}
	if (!same_origin(req)) {
		server_respond_error(req, 403, "cross-origin request refused");
		return SERVER_DONE;
	}
	j = json_loadb(body ? body : "", len, 0, NULL);
	login = json_string_value(json_object_get(j, "login"));
	password = json_string_value(json_object_get(j, "password"));
	if (!login || !password || !*login || strlen(login) > AUTH_MAX_LOGIN ||
	    strlen(password) >= AUTH_MAX_PASSWORD) {
		json_decref(j);
		server_respond_error(req, 400, "expected {\"login\": \"...\", \"password\": \"...\"}");
		return SERVER_DONE;
	}
	long wait = auth_rate_check(d->auth, peer, login, time(NULL));
	if (wait > 0) {
		json_decref(j);
		refuse_rate(d, req, wait);
		return SERVER_DONE;
	}
	/* One verification per address at a time, and a few overall: parallel
	 * guesses must not slip past the failure count. */
	for (struct login_work *o = d->logins; o; o = o->next)
		if (peer && strcmp(o->peer, peer) == 0)
			wait = 1;
	if (wait || d->n_logins >= LOGINS_IN_FLIGHT) {
		json_decref(j);
		refuse_rate(d, req, 1);
		return SERVER_DONE;
	}
	const struct team_agent *everyone;
	if (team_agents(d->team, &everyone) == 0 && !d->warned_no_agents) {
		log_warn("dashboard login refused: no agents configured",
		         "hint=\"add dashboard.agents with a hash from 'frontdesk passwd'\"");
		d->warned_no_agents = 1;
	}

	struct login_work *lw = xcalloc(1, sizeof(*lw));
	const char *hash = auth_agent_hash(d->auth, login, NULL);
	lw->d = d;
	lw->req = req;
	lw->work.data = lw;
	lw->known = hash != NULL;
	const char *origin = server_req_header(req, "origin");
	lw->secure = origin && strncmp(origin, "https://", 8) == 0;
	lw->hash = xstrdup(hash ? hash : auth_dummy_hash());
	snprintf(lw->login, sizeof(lw->login), "%s", login);
	snprintf(lw->peer, sizeof(lw->peer), "%s", peer ? peer : "");
	snprintf(lw->password, sizeof(lw->password), "%s", password);
	json_decref(j); /* jansson does not wipe; the copy above is wiped after use */
	if (uv_queue_work(&d->env.loop->uv, &lw->work, login_verify, login_done) != 0) {
		login_work_free(lw);
		server_respond_error(req, 503, "cannot verify the password now");
		return SERVER_DONE;
	}
	lw->next = d->logins;
	if (d->logins)
		d->logins->prev = lw;
	d->logins = lw;
	d->n_logins++;
	return SERVER_LATER;
}

/* ---- ticket actions ------------------------------------------------------ */

struct op *dashboard_op_new(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                            int64_t id)
{
	struct op *o = xcalloc(1, sizeof(*o));
	o->d = d;
	o->req = req;
	o->id = id;
	if (s) {
		snprintf(o->login, sizeof(o->login), "%s", s->login);
		snprintf(o->name, sizeof(o->name), "%s", s->name);
	}
	return o;
}

void dashboard_op_free(struct op *o)
{
	free(o->text);
	free(o->arg);
	json_decref(o->t);
	free(o);
}

/* Answer with the ticket as it is now (then free o). */
static void answer_ticket(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0 || n != 1)
		server_respond_error(o->req, 500, "the ticket could not be read back");
	else
		dashboard_respond(o->req, 200, dashboard_ticket_json(&v[0], time(NULL)));
	dashboard_op_free(o);
}

static void read_ticket(struct op *o, store_tickets_fn cb)
{
	struct store_ticket_query q = {.id = o->id};
	store_tickets(o->d->env.store, &q, cb, o);
}

/* The group holding the change is durable (or lost): publish and answer. */
static void saved(void *arg, int rc)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "the change could not be saved; try again");
		dashboard_op_free(o);
		return;
	}
	dashboard_notify_change(o->d, o->id);
	read_ticket(o, answer_ticket);
}

/* The store accepted an action (rc 0): commit it, then answer; `busy` is
 * the answer to rc 1. */
static void acted(struct op *o, int rc, const char *busy)
{
	if (rc == 0) {
		metric_inc(o->d->m_writes);
		o->d->env.commit(o->d->env.arg, saved, o);
		return;
	}
	server_respond_error(o->req, rc == 1 ? 409 : 500, rc == 1 ? busy : "store error");
	dashboard_op_free(o);
}

static void claim_done(void *arg, int rc)
{
	acted(arg, rc, "the ticket is resolved");
}

static void release_done(void *arg, int rc)
{
	acted(arg, rc, "the ticket is not claimed");
}

/* The satisfaction question is written: it goes out once the group is durable. */
static void rating_asked(void *arg, int rc, const struct store_out *rows, size_t n)
{
	struct op *o = arg;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (o->d->env.queued)
			o->d->env.queued(o->d->env.arg, &rows[i]);
	acted(o, rc < 0 ? -1 : 0, NULL);
}

/* The resolved ticket as the read model has it: ask the customer to rate
 * the conversation when satisfaction.h says so. */
static void resolved_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	char *parts[STORE_MAX_PARTS];
	size_t k = rc == 0 && n == 1 ? satisfaction_question(o->d->env.cfg, o->d->env.replies, &v[0], parts,
	                                                     STORE_MAX_PARTS)
	                             : 0;
	if (!k) {
		acted(o, 0, NULL);
		return;
	}
	store_rating_ask(o->d->env.store, o->id, (const char *const *)parts, k, time(NULL), rating_asked, o);
	for (size_t i = 0; i < k; i++)
		free(parts[i]);
}

static void resolve_done(void *arg, int rc)
{
	struct op *o = arg;
	if (rc != 0 || !o->d->env.cfg->satisfaction_ask) {
		acted(o, rc, "the ticket is already resolved");
		return;
	}
	struct store_ticket_query q = {.id = o->id, .filter = TICKETS_ALL};
	store_tickets(o->d->env.store, &q, resolved_read, o);
}

/*
 * Who holds the ticket the store answered with?  Two agents must not write
 * into one thread unawares: when another agent holds it and take_over is
 * not set, answers 409 (or 404 / 500) and returns -1.  Otherwise returns 1
 * when `login` holds it already, 0 when it is free to take.
 */
static int check_holder(struct op *o, int rc, const struct store_ticket *v, size_t n, const char *login)
{
	if (rc < 0 || n != 1) {
		server_respond_error(o->req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		return -1;
	}
	const struct store_ticket *t = &v[0];
	if (!t->status || strcmp(t->status, "claimed") != 0 || !t->assignee)
		return 0;
	if (strcmp(t->assignee, login) == 0)
		return 1;
	if (o->take_over)
		return 0;
	char *msg = xasprintf("already claimed by %s", t->assignee);
	server_respond_error(o->req, 409, msg);
	free(msg);
	return -1;
}

/* Claim for o->target (the agent, or whom they assign it to). */
static void claim_checked(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	int held = check_holder(o, rc, v, n, o->target);
	if (held < 0) {
		dashboard_op_free(o);
	} else if (held == 1) {
		dashboard_respond(o->req, 200, dashboard_ticket_json(&v[0], time(NULL)));
		dashboard_op_free(o);
	} else {
		store_ticket_claim(o->d->env.store, o->id, o->target, time(NULL), claim_done, o);
	}
}

static void act_claim(struct op *o, const char *login, int take_over)
{
	snprintf(o->target, sizeof(o->target), "%s", login);
	o->take_over = take_over;
	read_ticket(o, claim_checked);
}

/* The length of text without its trailing white space. */
static size_t trimmed_len(const char *text)
{
	size_t tl = strlen(text);
	while (tl &&
	       (text[tl - 1] == ' ' || text[tl - 1] == '\n' || text[tl - 1] == '\r' || text[tl - 1] == '\t'))
		tl--;
	return tl;
}

char *dashboard_sign_reply(const char *text, const char *name)
{
	size_t tl = trimmed_len(text);
	char *sig = xasprintf("\xE2\x80\x94 %s", name);
	size_t sl = strlen(sig);
	char *out;
	if (tl >= sl && memcmp(text + tl - sl, sig, sl) == 0)
		out = xstrndup(text, tl);
	else
		out = xasprintf("%.*s\n%s", (int)tl, text, sig);
	free(sig);
	return out;
}

int dashboard_reply_signed(const struct config *cfg, const char *connector)
{
	const struct connector_conf *cc = cfg ? config_connector(cfg, connector) : NULL;
	return !connector_type_shows_sender(cc ? cc->type : connector);
}

size_t dashboard_reply_parts(const struct config *cfg, const char *connector, const char *text,
                             const char *agent_name, char **parts, size_t max_parts)
{
	const struct connector_conf *cc = cfg ? config_connector(cfg, connector) : NULL;
	const struct connector_ops *ops = connector_type(cc ? cc->type : connector);
	char *full;

	if (dashboard_reply_signed(cfg, connector))
		full = dashboard_sign_reply(text, agent_name);
	else
		full = xstrndup(text, trimmed_len(text));
	size_t n = outbox_split(full, ops ? ops->max_text : 0, parts, max_parts);
	free(full);
	return n;
}

/* The agent's reply rows are written: they go out once the group is durable. */
static void reply_written(void *arg, int rc, const struct store_out *rows, size_t n)
{
	struct op *o = arg;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (o->d->env.queued)
			o->d->env.queued(o->d->env.arg, &rows[i]);
	acted(o, rc, "the ticket is resolved: the bot has the thread again");
}

static void reply_checked(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	char *parts[STORE_MAX_PARTS];
	if (check_holder(o, rc, v, n, o->login) < 0) {
		dashboard_op_free(o);
		return;
	}
	/* Past the platform's window the reply could never be delivered:
	 * refused here, with the reason, rather than failed later. */
	char why[384];
	const struct connector_conf *cc =
	    o->d->env.cfg && v[0].connector ? config_connector(o->d->env.cfg, v[0].connector) : NULL;
	if (!connector_reply_allowed(cc, 1, v[0].last_in, time(NULL), why, sizeof(why))) {
		server_respond_error(o->req, 409, why);
		dashboard_op_free(o);
		return;
	}
	size_t np = dashboard_reply_parts(o->d->env.cfg, v[0].connector ? v[0].connector : "", o->text,
	                                  o->name, parts, STORE_MAX_PARTS);
	store_agent_reply(o->d->env.store, o->id, o->login, o->name, (const char *const *)parts, np,
	                  time(NULL), reply_written, o);
	for (size_t i = 0; i < np; i++)
		free(parts[i]);
}

/* body's "text" without leading white space, or NULL after answering 400
 * (the op is freed) when there is none. */
static const char *body_text(struct op *o, json_t *body)
{
	const char *text = json_string_value(json_object_get(body, "text"));
	while (text && (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t'))
		text++;
	if (!text || !*text) {
		server_respond_error(o->req, 400, "expected {\"text\": \"...\"} with some text");
		dashboard_op_free(o);
		return NULL;
	}
	return text;
}

static void act_reply(struct op *o, json_t *body)
{
	const char *text = body_text(o, body);
	if (!text)
		return;
	size_t chars = 0;
	for (const char *p = text; *p; p++)
		chars += ((unsigned char)*p & 0xC0) != 0x80;
	if (chars > DASHBOARD_MAX_REPLY) {
		server_respond_error(o->req, 413, "the reply is too long");
		dashboard_op_free(o);
		return;
	}
	o->text = xstrdup(text);
	o->take_over = json_is_true(json_object_get(body, "take_over"));
	read_ticket(o, reply_checked);
}

/* Every ticket action answers exactly once, now or later. */
/* The store said rc to a change that may have nothing to do (a label
 * already there, the same priority): that is no error, answer with the
 * ticket as it is. */
static void acted_or_same(struct op *o, int rc)
{
	if (rc == 1)
		read_ticket(o, answer_ticket);
	else
		acted(o, rc, "");
}

static void note_done(void *arg, int rc)
{
	acted(arg, rc, "no such ticket");
}

static void act_note(struct op *o, json_t *body)
{
	const char *text = body_text(o, body);
	if (!text)
		return;
	if (strlen(text) > STORE_MAX_NOTE) {
		server_respond_error(o->req, 413, "the note is too long");
		dashboard_op_free(o);
		return;
	}
	store_ticket_note(o->d->env.store, o->id, o->login, text, time(NULL), note_done, o);
}

static void label_done(void *arg, int rc)
{
	acted_or_same(arg, rc);
}

/* {"label": "refund", "on": true|false}: only the team's labels go on. */
static void act_label(struct op *o, json_t *body)
{
	const char *label = json_string_value(json_object_get(body, "label"));
	json_t *on = json_object_get(body, "on");
	const struct team_label *l = label ? team_label(o->d->team, label) : NULL;
	if (!label || (on && !json_is_boolean(on)) || strlen(label) > STORE_MAX_LABEL) {
		server_respond_error(o->req, 400, "expected {\"label\": \"...\", \"on\": true|false}");
		dashboard_op_free(o);
		return;
	}
	int put = !on || json_is_true(on);
	if (put && !l) {
		server_respond_error(o->req, 400, "no such label: an admin adds labels under Settings");
		dashboard_op_free(o);
		return;
	}
	store_ticket_label(o->d->env.store, o->id, l ? l->name : label, put, o->login, time(NULL), label_done,
	                   o);
}

static void priority_done(void *arg, int rc)
{
	struct op *o = arg;
	if (rc == 1)
		server_respond_error(o->req, 409, "the ticket is resolved");
	else
		acted(o, rc, "");
}

/* The new due time counts from the ticket's creation, in business time. */
static void priority_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0 || n != 1) {
		server_respond_error(o->req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		dashboard_op_free(o);
		return;
	}
	if (v[0].priority && !strcmp(v[0].priority, o->arg)) {
		dashboard_respond(o->req, 200, dashboard_ticket_json(&v[0], time(NULL)));
		dashboard_op_free(o);
		return;
	}
	time_t due = config_due(o->d->env.cfg, priority_parse(o->arg), v[0].created);
	store_ticket_priority(o->d->env.store, o->id, o->arg, due, o->login, time(NULL), priority_done, o);
}

static void act_priority(struct op *o, json_t *body)
{
	const char *p = json_string_value(json_object_get(body, "priority"));
	if (!p || priority_parse(p) == PRIO_NONE || !o->d->env.cfg) {
		server_respond_error(o->req, 400, "expected {\"priority\": \"urgent|high|normal|low\"}");
		dashboard_op_free(o);
		return;
	}
	o->arg = xstrdup(p);
	read_ticket(o, priority_read);
}

static void reopen_done(void *arg, int rc)
{
	acted(arg, rc,
	      "only the conversation's latest ticket can be reopened, once it is resolved and the customer "
	      "has no other one open");
}

/* Due again by its priority's target, counted from now. */
static void reopen_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0 || n != 1) {
		server_respond_error(o->req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		dashboard_op_free(o);
		return;
	}
	time_t now = time(NULL);
	time_t due = o->d->env.cfg ? config_due(o->d->env.cfg, priority_parse(v[0].priority), now) : 0;
	store_ticket_reopen(o->d->env.store, o->id, due, o->login, now, reopen_done, o);
}

static void snooze_done(void *arg, int rc)
{
	acted(arg, rc, "the ticket is resolved");
}

/* {"until": "ISO-8601"} in the future (within DASHBOARD_MAX_SNOOZE), or null to wake it. */
static void act_snooze(struct op *o, json_t *body)
{
	json_t *u = json_object_get(body, "until");
	time_t until = 0, now = time(NULL);
	if (!json_is_null(u) && (!json_is_string(u) || time_parse_iso(json_string_value(u), &until) < 0 ||
	                         until <= now || until > now + DASHBOARD_MAX_SNOOZE)) {
		server_respond_error(
		    o->req, 400,
		    "expected {\"until\": \"<a time within a year, ISO-8601>\"} or {\"until\": null}");
		dashboard_op_free(o);
		return;
	}
	store_ticket_snooze(o->d->env.store, o->id, until, o->login, now, snooze_done, o);
}

/* {"message_id": N}: the agent read the ticket up to there.  A read mark
 * waits for the next group (nobody waits for it). */
static void act_seen(struct op *o, json_t *body)
{
	json_t *m = json_object_get(body, "message_id");
	if (!json_is_integer(m) || json_integer_value(m) < 0) {
		server_respond_error(o->req, 400, "expected {\"message_id\": N}");
	} else if (store_ticket_seen(o->d->env.store, o->id, o->login, (int64_t)json_integer_value(m)) < 0) {
		server_respond_error(o->req, 500, "store error");
	} else {
		server_respond(o->req, 200, NULL, "{}", 2);
	}
	dashboard_op_free(o);
}

/* The agent is typing in an open ticket: the customer may see it. */
static void typing_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0 || n != 1) {
		server_respond_error(o->req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
	} else {
		if (strcmp(v[0].status ? v[0].status : "", "resolved") != 0 && v[0].connector &&
		    v[0].thread_key)
			connector_typing(v[0].connector, v[0].thread_key, o->name[0] ? o->name : o->login,
			                 o->flag);
		server_respond(o->req, 200, NULL, "{}", 2);
	}
	dashboard_op_free(o);
}

/* Every ticket action answers exactly once, now or later. */
static void ticket_action(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                          int64_t id, const char *action)
{
	json_t *body = dashboard_body(req);
	struct op *o;

	if (!body)
		return;
	o = dashboard_op_new(d, req, s, id);
	if (!strcmp(action, "claim")) {
		act_claim(o, s->login, json_is_true(json_object_get(body, "take_over")));
	} else if (!strcmp(action, "assign")) {
		const char *to = json_string_value(json_object_get(body, "login"));
		const struct team_agent *a = to ? team_agent(d->team, to) : NULL;
		if (!a) {
			server_respond_error(req, 400, "expected {\"login\": \"<an agent's login>\"}");
			dashboard_op_free(o);
		} else {
			act_claim(o, a->login, 1);
		}
	} else if (!strcmp(action, "release")) {
		store_ticket_release(d->env.store, id, s->login, time(NULL), release_done, o);
	} else if (!strcmp(action, "resolve")) {
		store_ticket_resolve(d->env.store, id, s->login, time(NULL), resolve_done, o);
	} else if (!strcmp(action, "reply")) {
		act_reply(o, body);
	} else if (!strcmp(action, "note")) {
		act_note(o, body);
	} else if (!strcmp(action, "label")) {
		act_label(o, body);
	} else if (!strcmp(action, "priority")) {
		act_priority(o, body);
	} else if (!strcmp(action, "reopen")) {
		read_ticket(o, reopen_read);
	} else if (!strcmp(action, "snooze")) {
		act_snooze(o, body);
	} else if (!strcmp(action, "seen")) {
		act_seen(o, body);
	} else if (!strcmp(action, "typing")) {
		o->flag = json_is_true(json_object_get(body, "on"));
		read_ticket(o, typing_read);
	} else {
		server_respond_error(req, 404, "unknown action");
		dashboard_op_free(o);
	}
	json_decref(body);
}

/* ---- canned replies ------------------------------------------------------ */

/* Canned replies are the texts written for a person to send: canned.*
 * only, never the bot's own texts (faq.*, escalated, ...). */
static int canned_key(const char *k)
{
	return !strncmp(k, "canned.", 7);
}

/* "faq.opening_hours.after_hours" -> "Opening hours · after hours" */
static char *canned_title(const char *key)
{
	const char *k = strchr(key, '.') + 1;
	char *t = xstrdup(k);
	struct buf b;
	buf_init(&b, 0);
	for (char *p = t; *p; p++) {
		if (*p == '_')
			buf_putc(&b, ' ');
		else if (*p == '.')
			buf_puts(&b, " \xC2\xB7 ");
		else
			buf_putc(&b, *p);
	}
	free(t);
	if (b.p && b.p[0] >= 'a' && b.p[0] <= 'z')
		b.p[0] = (char)(b.p[0] - 'a' + 'A');
	return b.p ? buf_steal(&b) : xstrdup("");
}

void dashboard_vars(struct dashboard *d, const char *agent_name, const struct store_ticket *t,
                    struct dashboard_vars *dv)
{
	const struct config *c = d->env.cfg;
	time_t now = time(NULL);

	memset(dv, 0, sizeof(*dv));
	if (c && c->hours)
		hours_summary(c->hours, dv->hours, sizeof(dv->hours));
	if (t) {
		snprintf(dv->ticket, sizeof(dv->ticket), "%lld", (long long)t->id);
		if (c && c->hours && t->due > 0)
			hours_phrase(c->hours, now, t->due, dv->due, sizeof(dv->due));
	}
	if (c && c->hours && !hours_is_open(c->hours, now)) {
		time_t next = hours_next_open(c->hours, now);
		if (next > 0)
			hours_phrase(c->hours, now, next, dv->opens, sizeof(dv->opens));
	}
	/* No {{author}}: what the store calls the author may be a label for
	 * agents (a web chat visitor's pseudonym), not a name to greet; the
	 * person sending sees who they are writing to. */
	dv->v = (struct reply_vars){
	    .business = c ? c->business_name : NULL,
	    .opens_at = dv->opens[0] ? dv->opens : NULL,
	    .due = dv->due[0] ? dv->due : NULL,
	    .hours = dv->hours[0] ? dv->hours : NULL,
	    .phone = c ? c->phone : NULL,
	    .email = c ? c->email : NULL,
	    .ticket = dv->ticket[0] ? dv->ticket : NULL,
	    .agent = agent_name,
	};
}

static json_t *canned_json(struct dashboard *d, const char *agent_name, const struct store_ticket *t)
{
	json_t *a = json_array();
	const struct replies *r = d->env.replies;
	uint64_t ticket_id = t ? (uint64_t)t->id : 0;
	struct dashboard_vars dv;
	dashboard_vars(d, agent_name, t, &dv);
	const struct reply_vars v = dv.v;
	for (size_t i = 0; r && i < replies_count(r); i++) {
		const char *key = replies_key(r, i);
		struct buf out;
		if (!canned_key(key))
			continue;
		buf_init(&out, 2 * REPLY_TEMPLATE_MAX);
		if (replies_render(r, key, ticket_id, &v, &out) == 0 && out.p) {
			char *title = canned_title(key);
			json_t *e = json_pack("{s:s, s:s, s:s}", "key", key, "title", title, "text", out.p);
			if (e)
				json_array_append_new(a, e);
			free(title);
		}
		buf_free(&out);
	}
	dashboard_team_canned(d, a, &v);
	return a;
}

static void canned_found(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	json_t *a = canned_json(o->d, o->name, rc == 0 && n == 1 ? &v[0] : NULL);
	dashboard_respond(o->req, 200, json_pack("{s:o}", "replies", a));
	dashboard_op_free(o);
}

/* ---- the API dispatcher -------------------------------------------------- */

static int parse_id(const char *s, size_t n, int64_t *id)
{
	char tmp[24];
	long v;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	if (parse_long(tmp, &v) < 0 || v <= 0)
		return -1;
	*id = v;
	return 0;
}

static void listed(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "store error");
		dashboard_op_free(o);
		return;
	}
	json_t *list = json_array();
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, dashboard_ticket_json(&v[i], now));
	dashboard_respond(o->req, 200,
	                  json_pack("{s:I, s:s, s:o}", "seq", o->seq, "epoch", o->d->epoch, "tickets", list));
	dashboard_op_free(o);
}

static void api_tickets(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	char status[16];
	size_t f = 0;
	if (server_req_arg(req, "status", status, sizeof(status)) == 0) {
		for (f = 0; f < ARRAY_LEN(filters) && strcmp(filters[f], status) != 0; f++)
			;
		if (f == ARRAY_LEN(filters)) {
			server_respond_error(req, 400,
			                     "status must be open, waiting, claimed, resolved or all");
			return;
		}
	}
	/* The sequence number comes first: an event published after it is
	 * replayed to a client that connects with since=seq. */
	struct op *o = dashboard_op_new(d, req, s, 0);
	o->seq = (json_int_t)d->seq;
	struct store_ticket_query q = {
	    .filter = (enum store_ticket_filter)f, .limit = DASHBOARD_MAX_LIST, .viewer = o->login};
	store_tickets(d->env.store, &q, listed, o);
}

static void ticket_events_read(void *arg, int rc, const struct store_event *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "store error");
		dashboard_op_free(o);
		return;
	}
	json_t *evs = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		char iso[40];
		json_object_set_new(e, "kind", dashboard_text(v[i].kind));
		json_object_set_new(e, "actor", dashboard_text(v[i].actor));
		time_iso_utc(v[i].ts, iso, sizeof(iso));
		json_object_set_new(e, "ts", json_string(iso));
		json_object_set_new(e, "message_id",
		                    v[i].message_id ? json_integer(v[i].message_id) : json_null());
		json_object_set_new(e, "detail", dashboard_text(v[i].detail));
		json_array_append_new(evs, e);
	}
	json_object_set_new(o->t, "events", evs);
	dashboard_respond(o->req, 200, o->t);
	o->t = NULL;
	dashboard_op_free(o);
}

static void ticket_messages_read(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct op *o = arg;
	if (rc != 0) {
		server_respond_error(o->req, rc == 1 ? 404 : 500, rc == 1 ? "no such ticket" : "store error");
		dashboard_op_free(o);
		return;
	}
	json_t *msgs = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_object();
		char iso[40];
		json_object_set_new(m, "id", json_integer(v[i].id));
		json_object_set_new(m, "from", dashboard_text(v[i].from));
		json_object_set_new(m, "agent", dashboard_text(v[i].agent));
		json_object_set_new(m, "text", dashboard_text(v[i].text));
		time_iso_utc(v[i].ts, iso, sizeof(iso));
		json_object_set_new(m, "ts", json_string(iso));
		json_object_set_new(m, "state", dashboard_text(v[i].state));
		json_array_append_new(msgs, m);
	}
	json_object_set_new(o->t, "messages", msgs);
	store_ticket_events(o->d->env.store, o->id, DASHBOARD_MAX_MESSAGES, ticket_events_read, o);
}

static void ticket_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0 || n != 1) {
		server_respond_error(o->req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		dashboard_op_free(o);
		return;
	}
	time_t now = time(NULL);
	o->t = dashboard_ticket_json(&v[0], now);
	json_object_set_new(
	    o->t, "reply_signed",
	    json_boolean(dashboard_reply_signed(o->d->env.cfg, v[0].connector ? v[0].connector : "")));
	/* Where the platform takes replies only for a while after the
	 * customer's last message: until when, and why not any more. */
	const struct connector_conf *cc =
	    o->d->env.cfg && v[0].connector ? config_connector(o->d->env.cfg, v[0].connector) : NULL;
	char why[384];
	dashboard_iso(o->t, "reply_until", connector_reply_until(cc, 1, v[0].last_in));
	json_object_set_new(o->t, "reply_closed",
	                    connector_reply_allowed(cc, 1, v[0].last_in, now, why, sizeof(why))
	                        ? json_null()
	                        : json_string(why));
	/* A person opened the conversation: the customer may see it was read. */
	if (v[0].connector && v[0].thread_key && strcmp(v[0].status ? v[0].status : "", "resolved") != 0)
		connector_mark_read(v[0].connector, v[0].thread_key);
	store_ticket_messages(o->d->env.store, o->id, DASHBOARD_MAX_MESSAGES, ticket_messages_read, o);
}

static void api_ticket(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	const char *rest = server_req_path(req) + strlen("/api/tickets/");
	const char *slash = strchr(rest, '/');
	int64_t id;
	int write = server_req_method(req) != SERVER_GET;

	if (parse_id(rest, slash ? (size_t)(slash - rest) : strlen(rest), &id) < 0) {
		server_respond_error(req, 404, "no such ticket");
		return;
	}
	if (slash) {
		if (!write) {
			server_respond_error(req, 405, "use POST");
			return;
		}
		ticket_action(d, req, s, id, slash + 1);
		return;
	}
	if (write) {
		server_respond_error(req, 405, "use GET");
		return;
	}
	read_ticket(dashboard_op_new(d, req, s, id), ticket_read);
}

/* The queue tabs' counts: {"open", "waiting", "mine", "snoozed", "overdue"}. */
static void counted(void *arg, int rc, const struct store_ticket_counts *c)
{
	struct op *o = arg;
	if (rc < 0)
		server_respond_error(o->req, 500, "store error");
	else
		dashboard_respond(o->req, 200,
		                  json_pack("{s:I, s:I, s:I, s:I, s:I}", "open", (json_int_t)c->open,
		                            "waiting", (json_int_t)c->waiting, "mine", (json_int_t)c->mine,
		                            "snoozed", (json_int_t)c->snoozed, "overdue",
		                            (json_int_t)c->overdue));
	dashboard_op_free(o);
}

static void stats_done(void *arg, int rc, const struct sla_stats *st)
{
	struct op *o = arg;
	json_t *j = rc == 0 ? stats_json(st) : NULL;
	if (j)
		dashboard_respond(o->req, 200, j);
	else
		server_respond_error(o->req, 500, "store error");
	dashboard_op_free(o);
}

static enum server_handled api(struct server_req *req, void *arg)
{
	struct dashboard *d = arg;
	const char *path = server_req_path(req);
	enum server_method m = server_req_method(req);
	time_t now = time(NULL);

	if (!strcmp(path, "/api/login"))
		return api_login(d, req);

	const struct auth_session *s =
	    auth_session_from_cookie(d->auth, server_req_header(req, "cookie"), now);
	if (!s) {
		server_respond_error(req, 401, "log in first");
		return SERVER_DONE;
	}
	int write = m != SERVER_GET;
	if (write && (!same_origin(req) || !auth_csrf_ok(s, server_req_header(req, "x-csrf-token")))) {
		server_respond_error(req, 403, "missing or wrong CSRF token");
		return SERVER_DONE;
	}

	if (!strcmp(path, "/api/logout")) {
		if (!write) {
			server_respond_error(req, 405, "use POST");
			return SERVER_DONE;
		}
		char cookie[128], token[AUTH_TOKEN_HEX + 1];
		memcpy(token, s->token, sizeof(token));
		log_info("agent logged out", "login=%s", s->login);
		auth_session_end(d->auth, token);
		live_check_sessions(d, now);
		auth_cookie(cookie, sizeof(cookie), NULL, 0);
		server_req_add_header(req, "Set-Cookie", cookie);
		server_respond(req, 200, NULL, "{}", 2);
	} else if (!strncmp(path, "/api/tickets/", 13)) {
		api_ticket(d, req, s);
	} else if (!strcmp(path, "/api/me/password")) {
		dashboard_api_password(d, req, s);
	} else if (!strcmp(path, "/api/team") || !strncmp(path, "/api/team/", 10)) {
		dashboard_api_team(d, req, s);
	} else if (!strncmp(path, "/api/contacts/", 14)) {
		dashboard_api_contact(d, req, s);
	} else if (!strncmp(path, "/api/learn/", 11)) {
		dashboard_api_learn(d, req, s);
	} else if (!strcmp(path, "/api/report")) {
		dashboard_api_report(d, req, s);
	} else if (write && (!strcmp(path, "/api/me") || !strcmp(path, "/api/tickets") ||
	                     !strcmp(path, "/api/canned") || !strcmp(path, "/api/stats") ||
	                     !strcmp(path, "/api/counts") || !strcmp(path, "/api/search"))) {
		server_respond_error(req, 405, "use GET");
	} else if (write) {
		server_respond_error(req, 404, "not found");
	} else if (!strcmp(path, "/api/me")) {
		dashboard_respond(req, 200, me_json(d, s));
	} else if (!strcmp(path, "/api/tickets")) {
		api_tickets(d, req, s);
	} else if (!strcmp(path, "/api/counts")) {
		store_ticket_counts(d->env.store, s->login, now, counted, dashboard_op_new(d, req, s, 0));
	} else if (!strcmp(path, "/api/search")) {
		dashboard_api_search(d, req, s);
	} else if (!strcmp(path, "/api/canned")) {
		char arg_s[24];
		long id = 0;
		if (server_req_arg(req, "ticket", arg_s, sizeof(arg_s)) == 0 && parse_long(arg_s, &id) < 0)
			id = 0;
		if (id > 0)
			read_ticket(dashboard_op_new(d, req, s, id), canned_found);
		else
			dashboard_respond(req, 200,
			                  json_pack("{s:o}", "replies", canned_json(d, s->name, NULL)));
	} else if (!strcmp(path, "/api/stats")) {
		sla_stats(d->env.store, now, stats_done, dashboard_op_new(d, req, s, 0));
	} else {
		server_respond_error(req, 404, "not found");
	}
	/* Routes that read the store answer from its callbacks, now or later;
	 * the others answered above.  Either way exactly once. */
	return SERVER_LATER;
}

/*
 * /metrics: with dashboard.metrics_token, for requests that bring it
 * (Authorization: Bearer ...); without one, for this machine only, so a
 * dashboard that other machines reach does not hand its counters to them.
 */
/* The Prometheus text of every metric, as the answer to req. */
static void metrics_respond(struct dashboard *d, struct server_req *req)
{
	struct buf b;
	buf_init(&b, 8u << 20);
	if (metrics_render(d->env.metrics, &b) < 0) {
		buf_free(&b);
		server_respond_error(req, 500, "metrics too large");
		return;
	}
	server_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
	buf_free(&b);
}

/* A scrape waiting for the insights figures. */
struct scrape {
	struct dashboard *d;
	struct server_req *req;
};

static void scraped(void *arg)
{
	struct scrape *sc = arg;
	metrics_respond(sc->d, sc->req);
	free(sc);
}

static enum server_handled metrics_page(struct server_req *req, void *arg)
{
	struct dashboard *d = arg;
	if (d->metrics_token[0]) {
		const char *a = server_req_header(req, "authorization");
		if (!a || strncasecmp(a, "Bearer ", 7) != 0 || !auth_ct_equal(a + 7, d->metrics_token)) {
			server_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"frontdesk metrics\"");
			server_respond_error(req, 401,
			                     "send the metrics token: Authorization: Bearer <token>");
			return SERVER_DONE;
		}
	} else if (!url_host_is_loopback(server_req_peer(req))) {
		server_respond_error(
		    req, 403,
		    "/metrics answers only this machine unless dashboard.metrics_token_env (or "
		    "metrics_token_file) is set");
		return SERVER_DONE;
	}
	/* Insights figures older than a few seconds are computed first. */
	struct scrape *sc = xcalloc(1, sizeof(*sc));
	sc->d = d;
	sc->req = req;
	if (dashboard_insights_metrics(d, DASHBOARD_INSIGHTS_SCRAPE_MS, scraped, sc))
		return SERVER_LATER;
	free(sc);
	metrics_respond(d, req);
	return SERVER_DONE;
}

/* The metrics token of cfg, read now (a token that cannot be read leaves
 * /metrics to this machine only, and says why). */
static void read_metrics_token(struct dashboard *d, const struct config *cfg)
{
	char err[256];
	explicit_bzero(d->metrics_token, sizeof(d->metrics_token));
	if (!cfg || (!cfg->metrics_token.env && !cfg->metrics_token.file))
		return;
	if (config_secret_read(&cfg->metrics_token, d->metrics_token, sizeof(d->metrics_token), err,
	                       sizeof(err)) < 0) {
		d->metrics_token[0] = '\0';
		log_error("dashboard: cannot read the metrics token: /metrics answers this machine only",
		          "error=\"%s\"", err);
	}
}

/* ---- start / stop -------------------------------------------------------- */

/* The listener's limits, trusted proxies and host names from cfg. */
static int configure_listener(struct dashboard *d, const struct config *cfg, char *err, size_t errn)
{
	struct listener_opts o = {0};
	if (cfg) {
		o.max_connections = cfg->dashboard_max_connections;
		o.connections_per_address = cfg->dashboard_connections_per_address;
		o.trusted_proxies = cfg->dashboard_proxies.trusted;
		o.proxy_header =
		    cfg->dashboard_proxies.forwarded ? SERVER_PROXY_FORWARDED : SERVER_PROXY_X_FORWARDED_FOR;
		o.hosts = cfg->dashboard_hosts;
	}
	return listener_configure(d->li, &o, err, errn);
}

void dashboard_set_agents(struct dashboard *d)
{
	const struct team_agent *v;
	size_t n = team_agents(d->team, &v);
	struct auth_agent *a = n ? xcalloc(n, sizeof(*a)) : NULL;
	for (size_t i = 0; i < n; i++) {
		a[i].login = v[i].login;
		a[i].name = v[i].name;
		a[i].password_hash = v[i].password_hash;
		a[i].admin = v[i].admin;
	}
	auth_set_agents(d->auth, a, n);
	free(a);
	live_check_sessions(d, time(NULL));
}

/* The stored part of the team, kind by kind (the store may answer later). */
struct team_read {
	struct dashboard *d;
	size_t kind;
	void (*done)(void *arg);
	void *arg;
};

static const char *const team_kinds[] = {"agent", "label", "canned"};

static void team_kind_read(void *arg, int rc, const struct store_team_item *v, size_t n)
{
	struct team_read *r = arg;
	struct dashboard *d = r->d;
	if (rc == 0)
		team_set_stored(d->team, team_kinds[r->kind], v, n);
	else
		log_error("dashboard: the team's settings could not be read: the previous ones stay",
		          "kind=%s", team_kinds[r->kind]);
	if (++r->kind < ARRAY_LEN(team_kinds) && (!d->stopped || r->done)) {
		store_team_list(d->env.store, team_kinds[r->kind], team_kind_read, r);
		return;
	}
	if (!r->done)
		d->team_reading = 0;
	dashboard_set_agents(d);
	if (r->done)
		r->done(r->arg);
	free(r);
}

void dashboard_team_read_then(struct dashboard *d, void (*done)(void *arg), void *arg)
{
	if (!done && (d->team_reading || d->stopped))
		return;
	struct team_read *r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->done = done;
	r->arg = arg;
	if (!done)
		d->team_reading = 1;
	store_team_list(d->env.store, team_kinds[0], team_kind_read, r);
}

void dashboard_team_read(struct dashboard *d)
{
	dashboard_team_read_then(d, NULL, NULL);
}

void dashboard_commit(struct dashboard *d, store_done_fn done, void *arg)
{
	d->env.commit(d->env.arg, done, arg);
}

static double gauge_clients(void *arg)
{
	return (double)((struct dashboard *)arg)->n_clients;
}

static double gauge_sessions(void *arg)
{
	struct dashboard *d = arg;
	return (double)auth_session_count(d->auth, time(NULL));
}

struct dashboard *dashboard_start(const struct dashboard_env *env, char *err, size_t errn)
{
	static const char *const api_paths[] = {"/api/login",     "/api/logout", "/api/me",    "/api/tickets",
	                                        "/api/tickets/*", "/api/canned", "/api/stats", "/api/*"};
	static const char *const statics[][2] = {
	    {"/", "dashboard.html"}, {"/app.js", "app.js"}, {"/app.css", "app.css"}};
	const char *addr =
	    env->cfg && env->cfg->dashboard_listen ? env->cfg->dashboard_listen : "127.0.0.1:8081";
	struct dashboard *d;
	unsigned char rnd[8];

	if (!env->commit || !env->store || !env->server || !env->loop) {
		snprintf(err, errn, "dashboard: incomplete environment");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->env = *env;
	d->li = server_listen(env->server, addr, "dashboard", err, errn);
	if (!d->li) {
		free(d);
		return NULL;
	}
	if (configure_listener(d, env->cfg, err, errn) < 0) {
		free(d);
		return NULL;
	}
	d->auth = auth_new();
	d->team = team_new();
	team_set_config(d->team, env->cfg);
	dashboard_set_agents(d);
	read_metrics_token(d, env->cfg);
	if (rand_bytes(rnd, sizeof(rnd)) < 0) {
		uint64_t h = time_mono_ns() ^ (uint64_t)time(NULL);
		memcpy(rnd, &h, sizeof(rnd));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(d->epoch + 2 * i, 3, "%02x", rnd[i]);

	for (size_t i = 0; i < ARRAY_LEN(statics); i++) {
		if (server_route_embedded(d->li, statics[i][0], statics[i][1]) < 0) {
			snprintf(err, errn, "dashboard file %s is not embedded or %s is taken", statics[i][1],
			         statics[i][0]);
			goto fail;
		}
	}
	/* The views: every handoff/web/dash-*.js file (one a view), at /dash-*.js. */
	for (const struct embedded_file *f = embedded_files; f->name; f++) {
		char route[128];
		if (strncmp(f->name, "dash-", 5) != 0)
			continue;
		snprintf(route, sizeof(route), "/%s", f->name);
		if (server_route_embedded(d->li, route, f->name) < 0) {
			snprintf(err, errn, "dashboard route %s is taken", route);
			goto fail;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(api_paths); i++) {
		if (server_route_api(d->li, api_paths[i], ALL_METHODS, api, d, API_MAX_BODY) < 0) {
			snprintf(err, errn, "dashboard route %s is taken", api_paths[i]);
			goto fail;
		}
	}
	if (server_route_ws(d->li, "/api/live", &live_ops, d) < 0) {
		snprintf(err, errn, "dashboard route /api/live is taken");
		goto fail;
	}
	if (env->metrics) {
		if (server_route_api(d->li, "/metrics", SERVER_GET, metrics_page, d, 0) < 0) {
			snprintf(err, errn, "dashboard route /metrics is taken");
			goto fail;
		}
		d->m_logins = metrics_counter(env->metrics, "dashboard_logins_total",
		                              "Dashboard login attempts", "result");
		d->m_events = metrics_counter(env->metrics, "dashboard_events_total",
		                              "Ticket events published to the live dashboard", NULL);
		d->m_writes = metrics_counter(env->metrics, "dashboard_actions_total",
		                              "Ticket changes made from the dashboard", NULL);
		metrics_gauge_fn(env->metrics, "dashboard_live_clients", "Open live dashboard connections",
		                 gauge_clients, d);
		metrics_gauge_fn(env->metrics, "dashboard_sessions", "Agents logged in to the dashboard",
		                 gauge_sessions, d);
	}

	uv_timer_init(&env->loop->uv, &d->kick);
	uv_timer_init(&env->loop->uv, &d->scan);
	d->kick.data = d;
	d->scan.data = d;
	d->timers_open = 1;
	rescan(d);
	dashboard_team_read(d);
	uv_timer_start(&d->scan, on_scan, DASHBOARD_SCAN_MS, DASHBOARD_SCAN_MS);
	dashboard_insights_metrics(d, DASHBOARD_INSIGHTS_MS, NULL, NULL);
	log_info("dashboard listening", "addr=%s port=%d agents=%zu", addr, listener_port(d->li),
	         env->cfg ? env->cfg->nagents : (size_t)0);
	return d;
fail:
	auth_free(d->auth);
	team_free(d->team);
	free(d);
	return NULL;
}

int dashboard_port(const struct dashboard *d)
{
	return listener_port(d->li);
}

void dashboard_reload(struct dashboard *d, const struct config *cfg, const struct replies *replies)
{
	if (!d)
		return;
	char err[256];
	d->env.cfg = cfg;
	d->env.replies = replies;
	d->warned_no_agents = 0;
	read_metrics_token(d, cfg);
	if (configure_listener(d, cfg, err, sizeof(err)) < 0)
		log_error("dashboard: the new hosts / trusted_proxies were not applied", "error=\"%s\"", err);
	team_set_config(d->team, cfg);
	dashboard_set_agents(d);
}

void dashboard_stop(struct dashboard *d)
{
	if (!d || d->stopped)
		return;
	d->stopped = 1;
	if (d->timers_open) {
		uv_close((uv_handle_t *)&d->kick, NULL);
		uv_close((uv_handle_t *)&d->scan, NULL);
	}
}

void dashboard_free(struct dashboard *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < DASHBOARD_RING; i++)
		free(d->ring[i].json);
	free(d->pub);
	auth_free(d->auth);
	team_free(d->team);
	explicit_bzero(d->metrics_token, sizeof(d->metrics_token));
	free(d);
}
