/*
 * dashboard.c - the agent dashboard's HTTP API, live WebSocket and static
 * front end.  See dashboard.h for the routes and the live-update contract.
 *
 * Everything runs on the loop thread except password verification, which is
 * slow on purpose and runs on libuv's thread pool (uv_queue_work).
 */
#include "dashboard.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

#include "auth.h"
#include "config.h"
#include "hours.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "replies.h"
#include "server.h"
#include "sla.h"
#include "store.h"
#include "util.h"

#define ALL_METHODS      (SERVER_GET | SERVER_POST | SERVER_PUT | SERVER_DELETE | SERVER_PATCH)
#define API_MAX_BODY     (64u * 1024u) /* a reply of DASHBOARD_MAX_REPLY characters, JSON-escaped */
#define LIVE_MAX_MESSAGE 1024u         /* client -> server frames are pings only */
#define LOGINS_IN_FLIGHT 8             /* password verifications at once, all clients */
#define PREVIEW_BYTES    280           /* last_message in list answers */
#define KICK_MS          10            /* coalescing delay of change notifications */
#define MAX_HINTS        64

/* One published event; ring[seq % DASHBOARD_RING]. */
struct event {
	uint64_t seq;
	char *json;
	size_t len;
};

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

struct dashboard {
	struct dashboard_env env;
	struct listener *li;
	struct auth *auth;

	char epoch[17];
	uint64_t seq;
	struct event ring[DASHBOARD_RING];
	struct published *pub;
	size_t n_pub;
	int scanned;          /* the first scan only records, it publishes nothing */
	uint64_t fingerprint; /* of the store when the safety-net scan last ran */
	int64_t hints[MAX_HINTS];
	size_t n_hints;

	struct live_client *clients;
	size_t n_clients;
	struct login_work *logins;
	unsigned n_logins;

	uv_timer_t kick, scan;
	int timers_open;
	int stopped;
	int warned_no_agents;

	struct metric *m_logins, *m_events, *m_writes;
};

/* ---- small helpers ------------------------------------------------------- */

static sqlite3 *db(struct dashboard *d)
{
	return store_db(d->env.store);
}

static void iso_or_null(json_t *o, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL || sqlite3_column_int64(st, col) == 0) {
		json_object_set_new(o, key, json_null());
		return;
	}
	char iso[40];
	time_iso_utc((time_t)sqlite3_column_int64(st, col), iso, sizeof(iso));
	json_object_set_new(o, key, json_string(iso));
}

/* Text column as a JSON string; invalid UTF-8 (it should not be stored, but
 * a bad row must not break the page) becomes null. */
static json_t *text_col(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	if (!t)
		return json_null();
	json_t *s = json_stringn(t, (size_t)sqlite3_column_bytes(st, col));
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

static void respond_json(struct server_req *req, int status, json_t *j)
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

/* ---- queries --------------------------------------------------------------
 * Read-only SELECTs on the store's connection.  Prepared per call: the
 * dashboard is not on a hot path, and holding no statement keeps the
 * store's close simple. */

static const char ticket_cols[] =
    "SELECT t.id, t.status, t.priority, t.reason, t.platform, t.author, t.due, t.created, t.updated,"
    " t.assignee, t.first_response, t.resolved, th.connector, th.is_private,"
    " (SELECT m.text FROM messages m WHERE m.thread_id = t.thread_id AND m.sender = 'customer'"
    "  ORDER BY m.id DESC LIMIT 1),"
    " (SELECT max(m.id) FROM messages m WHERE m.thread_id = t.thread_id),"
    " (SELECT count(*) FROM messages m WHERE m.thread_id = t.thread_id AND m.sender = 'agent'"
    "  AND m.state = 'pending')"
    " FROM tickets t JOIN threads th ON th.id = t.thread_id";

enum {
	TC_ID,
	TC_STATUS,
	TC_PRIORITY,
	TC_REASON,
	TC_PLATFORM,
	TC_AUTHOR,
	TC_DUE,
	TC_CREATED,
	TC_UPDATED,
	TC_ASSIGNEE,
	TC_FIRST_RESPONSE,
	TC_RESOLVED,
	TC_CONNECTOR,
	TC_PRIVATE,
	TC_LAST_MESSAGE,
	TC_LAST_ID,
	TC_SENDING
};

/*
 * A ticket's response target is missed when neither a reply nor a
 * resolution came by its due time (the same rule the SLA timers apply).
 */
static int ticket_missed(sqlite3_stmt *st, time_t now)
{
	if (sqlite3_column_type(st, TC_DUE) == SQLITE_NULL)
		return 0;
	time_t due = (time_t)sqlite3_column_int64(st, TC_DUE);
	time_t answered = 0;
	if (sqlite3_column_type(st, TC_FIRST_RESPONSE) != SQLITE_NULL)
		answered = (time_t)sqlite3_column_int64(st, TC_FIRST_RESPONSE);
	if (sqlite3_column_type(st, TC_RESOLVED) != SQLITE_NULL) {
		time_t r = (time_t)sqlite3_column_int64(st, TC_RESOLVED);
		if (!answered || r < answered)
			answered = r;
	}
	return due > 0 && (answered ? answered > due : now > due);
}

/* The ticket row at the statement's cursor as the JSON the API and the live
 * events carry: the fields of `frontdesk queue list --json` and a few more. */
static json_t *ticket_json(sqlite3_stmt *st, time_t now)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, TC_ID)));
	json_object_set_new(o, "status", text_col(st, TC_STATUS));
	json_object_set_new(o, "priority", text_col(st, TC_PRIORITY));
	json_object_set_new(o, "reason", text_col(st, TC_REASON));
	json_object_set_new(o, "platform", text_col(st, TC_PLATFORM));
	json_object_set_new(o, "author", text_col(st, TC_AUTHOR));
	iso_or_null(o, "due", st, TC_DUE);
	iso_or_null(o, "created", st, TC_CREATED);
	iso_or_null(o, "updated", st, TC_UPDATED);
	json_object_set_new(o, "assignee", text_col(st, TC_ASSIGNEE));
	const char *last = (const char *)sqlite3_column_text(st, TC_LAST_MESSAGE);
	json_object_set_new(
	    o, "last_message",
	    last ? preview(last, (size_t)sqlite3_column_bytes(st, TC_LAST_MESSAGE), PREVIEW_BYTES)
	         : json_null());
	iso_or_null(o, "first_response", st, TC_FIRST_RESPONSE);
	iso_or_null(o, "resolved", st, TC_RESOLVED);
	json_object_set_new(o, "missed", json_boolean(ticket_missed(st, now)));
	json_object_set_new(o, "connector", text_col(st, TC_CONNECTOR));
	json_object_set_new(o, "private", json_boolean(sqlite3_column_int(st, TC_PRIVATE)));
	json_object_set_new(o, "last_message_id", json_integer(sqlite3_column_int64(st, TC_LAST_ID)));
	json_object_set_new(o, "sending", json_integer(sqlite3_column_int64(st, TC_SENDING)));
	return o;
}

static sqlite3_stmt *prepare(struct dashboard *d, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db(d), sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("dashboard query failed", "error=\"%s\"", sqlite3_errmsg(db(d)));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

static int step_failed(struct dashboard *d, int rc)
{
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	log_error("dashboard query failed", "error=\"%s\"", sqlite3_errmsg(db(d)));
	return 1;
}

/* The one ticket as JSON: 1 found (*out set), 0 not found, -1 error. */
static int ticket_get(struct dashboard *d, int64_t id, time_t now, json_t **out)
{
	char *sql = xasprintf("%s WHERE t.id = ?", ticket_cols);
	sqlite3_stmt *st = prepare(d, sql);
	free(sql);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), found = -1;
	if (rc == SQLITE_ROW) {
		*out = ticket_json(st, now);
		found = 1;
	} else if (!step_failed(d, rc)) {
		found = 0;
	}
	sqlite3_finalize(st);
	return found;
}

/* Status filters of the list; the SQL is fixed text, never built from input. */
static const struct {
	const char *name;
	const char *where;
	const char *order;
} filters[] = {
    {"open", "t.status IN ('waiting','claimed')", NULL},
    {"waiting", "t.status = 'waiting'", NULL},
    {"claimed", "t.status = 'claimed'", NULL},
    {"resolved", "t.status = 'resolved'", "t.resolved DESC, t.id DESC"},
    {"all", "1", NULL},
};

/* Due first (no due time last), then the more urgent, then the older. */
#define QUEUE_ORDER                                                                                          \
	"t.due IS NULL, t.due,"                                                                              \
	" CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, t.id"

/* Tickets matching filter f as a JSON array (NULL on a store error). */
static json_t *ticket_list(struct dashboard *d, size_t f, time_t now)
{
	char *sql = xasprintf("%s WHERE %s ORDER BY %s LIMIT %d", ticket_cols, filters[f].where,
	                      filters[f].order ? filters[f].order : QUEUE_ORDER, DASHBOARD_MAX_LIST);
	sqlite3_stmt *st = prepare(d, sql);
	free(sql);
	if (!st)
		return NULL;
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, ticket_json(st, now));
	int failed = step_failed(d, rc);
	sqlite3_finalize(st);
	if (failed) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The messages and events of a ticket's thread, added to ticket object o. */
static int ticket_thread(struct dashboard *d, int64_t ticket_id, json_t *o)
{
	sqlite3_stmt *st =
	    prepare(d, "SELECT id, sender, agent, text, ts, state FROM"
	               " (SELECT m.id, m.sender, m.agent, m.text, m.ts, m.state FROM messages m"
	               "  JOIN tickets t ON t.thread_id = m.thread_id"
	               "  WHERE t.id = ? AND m.state IN ('sent','pending','failed')"
	               "  ORDER BY m.id DESC LIMIT ?) ORDER BY id");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int(st, 2, DASHBOARD_MAX_MESSAGES);
	json_t *msgs = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *m = json_object();
		char iso[40];
		json_object_set_new(m, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(m, "from", text_col(st, 1));
		json_object_set_new(m, "agent", text_col(st, 2));
		json_object_set_new(m, "text", text_col(st, 3));
		time_iso_utc((time_t)sqlite3_column_int64(st, 4), iso, sizeof(iso));
		json_object_set_new(m, "ts", json_string(iso));
		json_object_set_new(m, "state", text_col(st, 5));
		json_array_append_new(msgs, m);
	}
	int failed = step_failed(d, rc);
	sqlite3_finalize(st);
	json_object_set_new(o, "messages", msgs);
	if (failed)
		return -1;

	st = prepare(d, "SELECT kind, actor, ts, message_id FROM"
	                " (SELECT id, kind, actor, ts, message_id FROM ticket_events WHERE ticket_id = ?"
	                "  ORDER BY id DESC LIMIT ?) ORDER BY id");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int(st, 2, DASHBOARD_MAX_MESSAGES);
	json_t *evs = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *e = json_object();
		char iso[40];
		json_object_set_new(e, "kind", text_col(st, 0));
		json_object_set_new(e, "actor", text_col(st, 1));
		time_iso_utc((time_t)sqlite3_column_int64(st, 2), iso, sizeof(iso));
		json_object_set_new(e, "ts", json_string(iso));
		json_object_set_new(e, "message_id",
		                    sqlite3_column_type(st, 3) == SQLITE_NULL
		                        ? json_null()
		                        : json_integer(sqlite3_column_int64(st, 3)));
		json_array_append_new(evs, e);
	}
	failed = step_failed(d, rc);
	sqlite3_finalize(st);
	json_object_set_new(o, "events", evs);
	return failed ? -1 : 0;
}

/* The connector a ticket's thread talks through, into out.  1, 0 none, -1. */
static int ticket_connector(struct dashboard *d, int64_t id, char *out, size_t n)
{
	sqlite3_stmt *st =
	    prepare(d, "SELECT th.connector FROM tickets t JOIN threads th ON th.id = t.thread_id"
	               " WHERE t.id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st), found = -1;
	if (rc == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		snprintf(out, n, "%s", c ? c : "");
		found = 1;
	} else if (!step_failed(d, rc)) {
		found = 0;
	}
	sqlite3_finalize(st);
	return found;
}

static json_t *seconds_or_null(double v)
{
	return v < 0 ? json_null() : json_integer((json_int_t)(v + 0.5));
}

/* First-response and resolution times and missed targets over the last
 * SLA_STATS_WINDOW, and the queue's counts: what the store holds, computed
 * by the same code as the SLA timers' numbers. */
static json_t *stats_json(struct dashboard *d, time_t now)
{
	struct sla_stats st;
	if (sla_stats(d->env.store, now, &st) < 0)
		return NULL;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:o, s:o}, s:{s:o, s:o}}",
	                 "window_seconds", (json_int_t)SLA_STATS_WINDOW, "open", (json_int_t)st.open,
	                 "waiting", (json_int_t)st.waiting, "claimed", (json_int_t)st.claimed, "overdue",
	                 (json_int_t)st.overdue, "due_soon", (json_int_t)st.due_soon, "answered",
	                 (json_int_t)st.answered, "resolved", (json_int_t)st.resolved, "missed",
	                 (json_int_t)st.missed, "met", (json_int_t)st.met, "first_response", "median",
	                 seconds_or_null(st.first_response_p50), "p90",
	                 seconds_or_null(st.first_response_p90), "resolution", "median",
	                 seconds_or_null(st.resolution_p50), "p90", seconds_or_null(st.resolution_p90));
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

/* Publish ticket id as it is now, if it exists (a ticket that left the open
 * queue, or one that opened and closed between two scans). */
static void publish_one(struct dashboard *d, int64_t id, time_t now)
{
	json_t *t = NULL;
	if (ticket_get(d, id, now, &t) == 1) {
		publish(d, t);
		json_decref(t);
	}
}

/*
 * Compare the open queue with what was last published and publish every
 * ticket that changed, appeared or left it.  The comparison is by a hash of
 * each ticket's JSON, so anything visible (status, assignee, last message,
 * a reply being sent) counts as a change, whoever made it.
 */
static void rescan(struct dashboard *d)
{
	time_t now = time(NULL);
	json_t *list = ticket_list(d, 0, now);
	if (!list)
		return;
	size_t n = json_array_size(list);
	struct published *next = n ? xcalloc(n, sizeof(*next)) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(list, i);
		char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
		next[i].id = (int64_t)json_integer_value(json_object_get(t, "id"));
		next[i].hash = s ? hash64(s, strlen(s)) : 0;
		free(s);
		struct published *old = pub_find(d->pub, d->n_pub, next[i].id);
		if (d->scanned && (!old || old->hash != next[i].hash))
			publish(d, t);
	}
	if (n)
		qsort(next, n, sizeof(*next), cmp_pub);
	if (d->scanned) {
		for (size_t i = 0; i < d->n_pub; i++)
			if (!pub_find(next, n, d->pub[i].id))
				publish_one(d, d->pub[i].id, now);
		for (size_t i = 0; i < d->n_hints; i++)
			if (!pub_find(next, n, d->hints[i]) && !pub_find(d->pub, d->n_pub, d->hints[i]))
				publish_one(d, d->hints[i], now);
	}
	d->n_hints = 0;
	free(d->pub);
	d->pub = next;
	d->n_pub = n;
	d->scanned = 1;
	json_decref(list);
}

static void on_kick(uv_timer_t *t)
{
	rescan(t->data);
}

/*
 * A cheap fingerprint of everything a ticket's JSON depends on: every ticket
 * change and every message adds a row (the largest ids move), a delivery
 * changes the outbox's pending count, and an open ticket passing its due
 * time changes the overdue count.  Each part is an index lookup, so the
 * safety-net scan costs next to nothing while nothing happens, however long
 * the queue is.  0, or -1 on a store error (then the scan just runs).
 */
static int fingerprint(struct dashboard *d, time_t now, uint64_t *out)
{
	sqlite3_stmt *st =
	    prepare(d, "SELECT (SELECT max(id) FROM ticket_events), (SELECT max(id) FROM messages),"
	               " (SELECT max(id) FROM outbox),"
	               " (SELECT count(*) FROM outbox WHERE state = 'pending'),"
	               " (SELECT count(*) FROM tickets WHERE status IN ('waiting','claimed')"
	               "  AND due < ?)");
	int64_t v[5];
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	int rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < 5; i++)
		v[i] = sqlite3_column_int64(st, i);
	int failed = rc != SQLITE_ROW;
	if (failed)
		step_failed(d, rc);
	sqlite3_finalize(st);
	if (failed)
		return -1;
	*out = hash64(v, sizeof(v));
	return 0;
}

static void on_scan(uv_timer_t *t)
{
	struct dashboard *d = t->data;
	time_t now = time(NULL);
	uint64_t fp = 0;
	if (fingerprint(d, now, &fp) < 0 || fp != d->fingerprint) {
		rescan(d);
		d->fingerprint = fp;
	}
	live_check_sessions(d, now);
}

void dashboard_notify_change(struct dashboard *d, int64_t ticket_id)
{
	if (!d || d->stopped)
		return;
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

static void agents_json(struct dashboard *d, json_t *o)
{
	json_t *a = json_array();
	for (size_t i = 0; d->env.cfg && i < d->env.cfg->nagents; i++) {
		const struct agent_conf *g = &d->env.cfg->agents[i];
		json_array_append_new(a, json_pack("{s:s, s:s}", "login", g->login, "name",
		                                   g->name && *g->name ? g->name : g->login));
	}
	json_object_set_new(o, "agents", a);
}

static json_t *me_json(struct dashboard *d, const struct auth_session *s)
{
	json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:I}", "csrf", s->csrf, "agent", "login", s->login,
	                      "name", s->name, "epoch", d->epoch, "seq", (json_int_t)d->seq);
	agents_json(d, o);
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
		respond_json(lw->req, 200, me_json(d, s));
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
	if (d->env.cfg && d->env.cfg->nagents == 0 && !d->warned_no_agents) {
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

/* Commit a change the store accepted, publish it, answer with the ticket. */
static void committed(struct dashboard *d, struct server_req *req, int64_t id)
{
	time_t now = time(NULL);
	json_t *t = NULL;
	metric_inc(d->m_writes);
	if (d->env.commit(d->env.arg) < 0) {
		server_respond_error(req, 500, "the change could not be saved; try again");
		return;
	}
	dashboard_notify_change(d, id);
	if (ticket_get(d, id, now, &t) != 1) {
		server_respond_error(req, 500, "the ticket could not be read back");
		return;
	}
	respond_json(req, 200, t);
}

/*
 * Who holds ticket id?  Two agents must not write into one thread unawares:
 * when another agent holds it and take_over is not set, answers 409 (or
 * 404 / 500) and returns -1.  Otherwise returns 1 when `login` holds it
 * already, 0 when it is free to take; *t is the ticket then (caller decrefs).
 */
static int check_holder(struct dashboard *d, struct server_req *req, int64_t id, const char *login,
                        int take_over, json_t **t)
{
	int rc = ticket_get(d, id, time(NULL), t);
	if (rc <= 0) {
		server_respond_error(req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		return -1;
	}
	const char *status = json_string_value(json_object_get(*t, "status"));
	const char *assignee = json_string_value(json_object_get(*t, "assignee"));
	if (!status || strcmp(status, "claimed") != 0 || !assignee)
		return 0;
	if (strcmp(assignee, login) == 0)
		return 1;
	if (take_over)
		return 0;
	char *msg = xasprintf("already claimed by %s", assignee);
	json_decref(*t);
	*t = NULL;
	server_respond_error(req, 409, msg);
	free(msg);
	return -1;
}

/* Claim for `login` (the agent, or whom they assign it to). */
static void act_claim(struct dashboard *d, struct server_req *req, int64_t id, const char *login,
                      int take_over)
{
	json_t *t = NULL;
	int held = check_holder(d, req, id, login, take_over, &t);
	if (held < 0)
		return;
	if (held == 1) {
		respond_json(req, 200, t);
		return;
	}
	json_decref(t);
	int rc = store_ticket_claim(d->env.store, id, login, time(NULL));
	if (rc == 0)
		committed(d, req, id);
	else if (rc == 1)
		server_respond_error(req, 409, "the ticket is resolved");
	else
		server_respond_error(req, 500, "store error");
}

char *dashboard_sign_reply(const char *text, const char *name)
{
	size_t tl = strlen(text);
	while (tl &&
	       (text[tl - 1] == ' ' || text[tl - 1] == '\n' || text[tl - 1] == '\r' || text[tl - 1] == '\t'))
		tl--;
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

static void act_reply(struct dashboard *d, struct server_req *req, const struct auth_session *s, int64_t id,
                      json_t *body)
{
	const char *text = json_string_value(json_object_get(body, "text"));
	char connector[STORE_MAX_KEY];
	char *parts[STORE_MAX_PARTS];

	while (text && (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t'))
		text++;
	if (!text || !*text) {
		server_respond_error(req, 400, "expected {\"text\": \"...\"} with some text");
		return;
	}
	size_t chars = 0;
	for (const char *p = text; *p; p++)
		chars += ((unsigned char)*p & 0xC0) != 0x80;
	if (chars > DASHBOARD_MAX_REPLY) {
		server_respond_error(req, 413, "the reply is too long");
		return;
	}
	json_t *t = NULL;
	if (check_holder(d, req, id, s->login, json_is_true(json_object_get(body, "take_over")), &t) < 0)
		return;
	json_decref(t);
	int rc = ticket_connector(d, id, connector, sizeof(connector));
	if (rc <= 0) {
		server_respond_error(req, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		return;
	}
	char *full = dashboard_sign_reply(text, s->name);
	size_t max = d->env.max_text ? d->env.max_text(d->env.arg, connector) : 0;
	size_t n = outbox_split(full, max, parts, STORE_MAX_PARTS);
	free(full);
	rc = store_agent_reply(d->env.store, id, s->login, s->name, (const char *const *)parts, n, time(NULL),
	                       NULL);
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	if (rc == 0)
		committed(d, req, id);
	else if (rc == 1)
		server_respond_error(req, 409, "the ticket is resolved: the bot has the thread again");
	else
		server_respond_error(req, 500, "store error");
}

static void ticket_action(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                          int64_t id, const char *action)
{
	size_t len;
	const char *raw = server_req_body(req, &len);
	json_t *body = NULL;
	int rc;

	if (raw && len) {
		body = json_loadb(raw, len, 0, NULL);
		if (!json_is_object(body)) {
			json_decref(body);
			server_respond_error(req, 400, "the body must be a JSON object");
			return;
		}
	}
	if (!strcmp(action, "claim")) {
		act_claim(d, req, id, s->login, json_is_true(json_object_get(body, "take_over")));
	} else if (!strcmp(action, "assign")) {
		const char *to = json_string_value(json_object_get(body, "login"));
		if (!to || !d->env.cfg || !config_agent(d->env.cfg, to))
			server_respond_error(req, 400, "expected {\"login\": \"<an agent's login>\"}");
		else
			act_claim(d, req, id, to, 1);
	} else if (!strcmp(action, "release")) {
		rc = store_ticket_release(d->env.store, id, s->login, time(NULL));
		if (rc == 0)
			committed(d, req, id);
		else
			server_respond_error(req, rc == 1 ? 409 : 500,
			                     rc == 1 ? "the ticket is not claimed" : "store error");
	} else if (!strcmp(action, "resolve")) {
		rc = store_ticket_resolve(d->env.store, id, s->login, time(NULL));
		if (rc == 0)
			committed(d, req, id);
		else
			server_respond_error(req, rc == 1 ? 409 : 500,
			                     rc == 1 ? "the ticket is already resolved" : "store error");
	} else if (!strcmp(action, "reply")) {
		act_reply(d, req, s, id, body);
	} else {
		server_respond_error(req, 404, "unknown action");
	}
	json_decref(body);
}

/* ---- canned replies ------------------------------------------------------ */

static int canned_key(const char *k)
{
	return !strncmp(k, "canned.", 7) || !strncmp(k, "faq.", 4);
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

static json_t *canned_json(struct dashboard *d, const struct auth_session *s, int64_t ticket_id)
{
	json_t *a = json_array();
	const struct replies *r = d->env.replies;
	const struct config *c = d->env.cfg;
	char hours[256] = "", ticket[24] = "", due[96] = "", opens[96] = "";
	time_t now = time(NULL);
	json_t *t = NULL;

	if (!r)
		return a;
	if (c && c->hours)
		hours_summary(c->hours, hours, sizeof(hours));
	if (ticket_id > 0 && ticket_get(d, ticket_id, now, &t) == 1) {
		snprintf(ticket, sizeof(ticket), "%lld", (long long)ticket_id);
		time_t when;
		const char *iso = json_string_value(json_object_get(t, "due"));
		if (c && c->hours && iso && time_parse_iso(iso, &when) == 0)
			hours_phrase(c->hours, now, when, due, sizeof(due));
	}
	if (c && c->hours && !hours_is_open(c->hours, now)) {
		time_t next = hours_next_open(c->hours, now);
		if (next > 0)
			hours_phrase(c->hours, now, next, opens, sizeof(opens));
	}
	struct reply_vars v = {
	    .author = t ? json_string_value(json_object_get(t, "author")) : NULL,
	    .business = c ? c->business_name : NULL,
	    .opens_at = opens[0] ? opens : NULL,
	    .due = due[0] ? due : NULL,
	    .hours = hours[0] ? hours : NULL,
	    .phone = c ? c->phone : NULL,
	    .email = c ? c->email : NULL,
	    .ticket = ticket[0] ? ticket : NULL,
	    .agent = s->name,
	};
	for (size_t i = 0; i < replies_count(r); i++) {
		const char *key = replies_key(r, i);
		struct buf out;
		if (!canned_key(key))
			continue;
		buf_init(&out, 2 * REPLY_TEMPLATE_MAX);
		if (replies_render(r, key, (uint64_t)ticket_id, &v, &out) == 0 && out.p) {
			char *title = canned_title(key);
			json_t *e = json_pack("{s:s, s:s, s:s}", "key", key, "title", title, "text", out.p);
			if (e)
				json_array_append_new(a, e);
			free(title);
		}
		buf_free(&out);
	}
	json_decref(t);
	return a;
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

static void api_tickets(struct dashboard *d, struct server_req *req)
{
	char status[16];
	size_t f = 0;
	if (server_req_arg(req, "status", status, sizeof(status)) == 0) {
		for (f = 0; f < ARRAY_LEN(filters) && strcmp(filters[f].name, status) != 0; f++)
			;
		if (f == ARRAY_LEN(filters)) {
			server_respond_error(req, 400,
			                     "status must be open, waiting, claimed, resolved or all");
			return;
		}
	}
	/* The sequence number comes first: an event published after it is
	 * replayed to a client that connects with since=seq. */
	json_int_t seq = (json_int_t)d->seq;
	json_t *list = ticket_list(d, f, time(NULL));
	if (!list) {
		server_respond_error(req, 500, "store error");
		return;
	}
	respond_json(req, 200, json_pack("{s:I, s:s, s:o}", "seq", seq, "epoch", d->epoch, "tickets", list));
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
	json_t *t = NULL;
	int rc = ticket_get(d, id, time(NULL), &t);
	if (rc == 1 && ticket_thread(d, id, t) == 0)
		respond_json(req, 200, t);
	else if (rc == 0)
		server_respond_error(req, 404, "no such ticket");
	else {
		json_decref(t);
		server_respond_error(req, 500, "store error");
	}
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
	} else if (write && (!strcmp(path, "/api/me") || !strcmp(path, "/api/tickets") ||
	                     !strcmp(path, "/api/canned") || !strcmp(path, "/api/stats"))) {
		server_respond_error(req, 405, "use GET");
	} else if (write) {
		server_respond_error(req, 404, "not found");
	} else if (!strcmp(path, "/api/me")) {
		respond_json(req, 200, me_json(d, s));
	} else if (!strcmp(path, "/api/tickets")) {
		api_tickets(d, req);
	} else if (!strcmp(path, "/api/canned")) {
		char arg_s[24];
		long id = 0;
		if (server_req_arg(req, "ticket", arg_s, sizeof(arg_s)) == 0 && parse_long(arg_s, &id) < 0)
			id = 0;
		respond_json(req, 200, json_pack("{s:o}", "replies", canned_json(d, s, id)));
	} else if (!strcmp(path, "/api/stats")) {
		json_t *st = stats_json(d, now);
		if (st)
			respond_json(req, 200, st);
		else
			server_respond_error(req, 500, "store error");
	} else {
		server_respond_error(req, 404, "not found");
	}
	return SERVER_DONE;
}

static enum server_handled metrics_page(struct server_req *req, void *arg)
{
	struct dashboard *d = arg;
	struct buf b;
	buf_init(&b, 8u << 20);
	if (metrics_render(d->env.metrics, &b) < 0) {
		buf_free(&b);
		server_respond_error(req, 500, "metrics too large");
		return SERVER_DONE;
	}
	server_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
	buf_free(&b);
	return SERVER_DONE;
}

/* ---- start / stop -------------------------------------------------------- */

static void set_agents(struct dashboard *d, const struct config *cfg)
{
	size_t n = cfg ? cfg->nagents : 0;
	struct auth_agent *a = n ? xcalloc(n, sizeof(*a)) : NULL;
	for (size_t i = 0; i < n; i++) {
		a[i].login = cfg->agents[i].login;
		a[i].name = cfg->agents[i].name;
		a[i].password_hash = cfg->agents[i].password_hash;
	}
	auth_set_agents(d->auth, a, n);
	free(a);
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
	d->auth = auth_new();
	set_agents(d, env->cfg);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
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
	uv_timer_start(&d->scan, on_scan, DASHBOARD_SCAN_MS, DASHBOARD_SCAN_MS);
	log_info("dashboard listening", "addr=%s port=%d agents=%zu", addr, listener_port(d->li),
	         env->cfg ? env->cfg->nagents : (size_t)0);
	return d;
fail:
	auth_free(d->auth);
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
	d->env.cfg = cfg;
	d->env.replies = replies;
	d->warned_no_agents = 0;
	set_agents(d, cfg);
	live_check_sessions(d, time(NULL));
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
	free(d);
}
