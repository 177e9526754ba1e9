/*
 * webchat.c - the built-in web chat connector (see webchat.h for the
 * protocol).  Connections are indexed by visitor thread, so a reply goes to
 * every open tab of that visitor; addresses are indexed for the connection
 * and message limits.
 */
#include "connectors/webchat/webchat.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "config.h"
#include "embedded.h"
#include "hours.h"
#include "identity.h"
#include "loop.h"
#include "metrics.h"
#include "pipeline.h"
#include "rand.h"
#include "rating.h"
#include "server.h"
#include "store.h"
#include "url.h"
#include "util.h"

#define BUCKETS     4096
#define TOKEN_BYTES 18 /* 24 base64url characters */
#define MAX_EMAIL   254

struct wc_addr {
	char ip[64];
	int conns;
	double tokens;
	uint64_t last_ms;
	struct wc_addr *next;
};

struct wc_conn {
	struct webchat *wc;
	struct server_ws *ws; /* NULL once closed */
	struct wc_addr *addr;
	char token[40];
	char thread_key[40];
	double tokens; /* messages this connection may still send now */
	uint64_t last_ms;
	double htokens; /* history requests it may still make now */
	uint64_t hlast_ms;
	double ttokens; /* typing frames it may still send now */
	uint64_t tlast_ms;
	int refs;                  /* posts waiting for their post_done, a welcome waiting for the store */
	int ready;                 /* welcomed: messages are taken */
	int stored;                /* the visitor is in the store (or in its open group) */
	int ticket;                /* the conversation has an open ticket (the visitor was told) */
	char email[MAX_EMAIL + 1]; /* the address the visitor left, "" none */
	int64_t rating_ticket;     /* the satisfaction question pending (the ticket), 0 none */
	int linked;
	/* Who the visitor is (identify, the pre-chat form), kept until the
	 * visitor is stored (with its first message): a visitor who never
	 * writes leaves nothing behind. */
	char *who_id, *who_name;
	int who_verified;
	char *who_email;      /* a verified address (identify); the form's goes the e-mail way */
	struct wc_conn *next; /* same thread bucket */
};

/* A message waiting for the commit that stores it. */
struct wc_pending {
	struct wc_conn *conn;
	char *text;
};

struct webchat {
	struct connector *c;
	char secret[CONFIG_SECRET_MAX + 1]; /* identity_secret ("" = identify refused) */
	size_t secret_len;
	struct listener *li;
	int port;
	long max_conns, mpm;
	int stopping;
	size_t nconns;
	struct wc_conn *threads[BUCKETS];
	struct wc_addr *addrs[BUCKETS];
	struct metric *m_conns, *m_frames_bad, *m_ratings;
};

/* --- small helpers -------------------------------------------------------- */

static size_t bucket_of(const char *s)
{
	return (size_t)(hash64(s, strlen(s)) % BUCKETS);
}

static void random_token(char *out, size_t n, size_t bytes)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[48];
	if (bytes > sizeof(r))
		bytes = sizeof(r);
	if (rand_bytes(r, bytes) < 0)
		fatal("no randomness from the kernel (getrandom failed)");
	size_t o = 0;
	for (size_t i = 0; i + 2 < bytes && o + 4 < n; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	out[o] = '\0';
}

static int token_ok(const char *t, size_t len)
{
	if (len < 16 || len > 39)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_')
			return 0;
	return 1;
}

static uint64_t now_ms(void)
{
	return time_mono_ms();
}

/* Token bucket: `rate` messages a minute, bursts up to `rate`. */
static int bucket_take(double *tokens, uint64_t *last, long rate)
{
	uint64_t now = now_ms();
	if (*last == 0) {
		*tokens = (double)rate;
	} else {
		*tokens += (double)(now - *last) * (double)rate / 60000.0;
		if (*tokens > (double)rate)
			*tokens = (double)rate;
	}
	*last = now;
	if (*tokens < 1.0)
		return 0;
	*tokens -= 1.0;
	return 1;
}

/*
 * The entry for ip.  An address keeps its entry (and so its message
 * budget) for a minute after its last connection closed, so reconnecting
 * does not refill the budget; older idle entries are dropped on the way.
 */
static struct wc_addr *addr_get(struct webchat *wc, const char *ip)
{
	size_t b = bucket_of(ip);
	uint64_t now = now_ms();
	struct wc_addr **pp = &wc->addrs[b];
	while (*pp) {
		struct wc_addr *a = *pp;
		if (strcmp(a->ip, ip) == 0)
			return a;
		if (a->conns <= 0 && (!a->last_ms || now - a->last_ms > 60000)) {
			*pp = a->next;
			free(a);
			continue;
		}
		pp = &a->next;
	}
	struct wc_addr *a = xcalloc(1, sizeof(*a));
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	a->next = wc->addrs[b];
	wc->addrs[b] = a;
	return a;
}

/*
 * The thread key of a new visitor: derived from its token (and telling
 * nothing of it), so that a second tab that presents the token before the
 * first message finds the first tab's connection (live_visitor).
 */
static void new_thread_key(const char *token, char *out, size_t n)
{
	snprintf(out, n, "v-%016llx", (unsigned long long)hash64(token, strlen(token)));
}

/* An open connection of the visitor with this (not yet stored) token. */
static struct wc_conn *live_visitor(struct webchat *wc, const char *token)
{
	char key[40];
	new_thread_key(token, key, sizeof(key));
	for (struct wc_conn *k = wc->threads[bucket_of(key)]; k; k = k->next)
		if (k->ws && strcmp(k->thread_key, key) == 0 && strcmp(k->token, token) == 0)
			return k;
	return NULL;
}

static void link_conn(struct webchat *wc, struct wc_conn *k)
{
	size_t b = bucket_of(k->thread_key);
	k->next = wc->threads[b];
	wc->threads[b] = k;
	k->linked = 1;
}

static void unlink_conn(struct webchat *wc, struct wc_conn *k)
{
	struct wc_conn **pp = &wc->threads[bucket_of(k->thread_key)];
	while (*pp && *pp != k)
		pp = &(*pp)->next;
	if (*pp)
		*pp = k->next;
	k->linked = 0;
}

static void who_free(struct wc_conn *k)
{
	free(k->who_id);
	free(k->who_name);
	free(k->who_email);
	k->who_id = k->who_name = k->who_email = NULL;
	k->who_verified = 0;
}

static void conn_free(struct wc_conn *k)
{
	who_free(k);
	free(k);
}

static void conn_unref(struct wc_conn *k)
{
	if (--k->refs <= 0 && !k->ws)
		conn_free(k);
}

static void send_obj(struct server_ws *ws, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (s) {
		server_ws_send(ws, s, strlen(s));
		free(s);
	}
	json_decref(o);
}

static void send_error(struct server_ws *ws, const char *msg, const char *client_id)
{
	json_t *o = json_pack("{s:s, s:s}", "type", "error", "error", msg);
	if (client_id)
		json_object_set_new(o, "client_id", json_string(client_id));
	send_obj(ws, o);
}

static json_t *message_obj(int64_t id, const char *from, const char *agent, const char *text, time_t ts,
                           const char *client_id)
{
	char sid[32], iso[40];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	time_iso_utc(ts, iso, sizeof(iso));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "message", "id", sid, "from", from, "text",
	                      text, "ts", iso);
	if (agent && *agent)
		json_object_set_new(o, "agent", json_string(agent));
	if (client_id && *client_id)
		json_object_set_new(o, "client_id", json_string(client_id));
	return o;
}

/* s as a JSON string (quoted, escaped); s is valid UTF-8 (checked on the
 * way in, or written by the bot). */
static void put_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)*p);
		} else if (*p < 0x20) {
			char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
			buf_puts(b, e);
		} else {
			buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

/*
 * One message frame, written directly (the hot path: every echo and every
 * reply), in the same form message_obj gives the history.
 */
static void message_frame(struct buf *b, int64_t id, const char *from, const char *agent, const char *text,
                          time_t ts, const char *client_id)
{
	char iso[40];
	time_iso_utc(ts, iso, sizeof(iso));
	buf_printf(b, "{\"type\":\"message\",\"id\":\"%lld\",\"from\":", (long long)id);
	put_json_str(b, from);
	if (agent && *agent) {
		buf_puts(b, ",\"agent\":");
		put_json_str(b, agent);
	}
	buf_puts(b, ",\"text\":");
	put_json_str(b, text);
	buf_printf(b, ",\"ts\":\"%s\"", iso);
	if (client_id && *client_id) {
		buf_puts(b, ",\"client_id\":");
		put_json_str(b, client_id);
	}
	buf_putc(b, '}');
}

/* --- origin policy --------------------------------------------------------- */

/* The first n bytes of h are a loopback host (url.h's rule). */
static int is_loopback_host(const char *h, size_t n)
{
	char host[URL_HOST_MAX];
	if (n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	return url_host_is_loopback(host);
}

/*
 * Without allowed_origins, a browser may connect only from the bot's own
 * page: http://HOST:PORT of the listener (any loopback spelling when it
 * listens on loopback).  Clients that send no Origin (not browsers) pass:
 * the check exists to stop other sites' pages from using a visitor's
 * browser.
 */
static int origin_allowed(struct webchat *wc, const char *origin)
{
	const struct connector_conf *cc = wc->c->conf;
	const struct webchat_conf *wcc = cc ? cc->settings : NULL;
	if (!origin || !*origin)
		return 1;
	for (char **o = wcc ? wcc->allowed_origins : NULL; o && *o; o++)
		if (strcmp(*o, "*") == 0 || strcasecmp(*o, origin) == 0)
			return 1;

	const char *listen = cc && cc->listen ? cc->listen : WEBCHAT_DEFAULT_LISTEN;
	const char *colon = strrchr(listen, ':');
	size_t lhost = colon ? (size_t)(colon - listen) : strlen(listen);
	const char *h;
	if (strncasecmp(origin, "http://", 7) == 0)
		h = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		h = origin + 8;
	else
		return 0;
	const char *ocolon = strrchr(h, ':');
	if (!ocolon || ocolon < strrchr(h, ']'))
		return 0;
	long port;
	if (parse_long(ocolon + 1, &port) < 0 || port != wc->port)
		return 0;
	size_t ohost = (size_t)(ocolon - h);
	if (ohost == lhost && strncasecmp(h, listen, lhost) == 0)
		return 1;
	return is_loopback_host(listen, lhost) && is_loopback_host(h, ohost);
}

/* --- WebSocket callbacks --------------------------------------------------- */

/*
 * A page of history as the protocol carries it, oldest first: v holds up to
 * limit + 1 messages, the oldest of which, when there, only says that there
 * are more (*more).
 */
static json_t *page_json(const struct store_msg *v, size_t n, size_t limit, int *more)
{
	json_t *list = json_array();
	size_t from = n > limit ? n - limit : 0;
	*more = n > limit;
	for (size_t i = from; i < n; i++) {
		json_t *o = message_obj(v[i].id, v[i].from, v[i].agent, v[i].text, v[i].ts, v[i].client_id);
		json_object_del(o, "type");
		json_array_append_new(list, o);
	}
	return list;
}

/* What the welcome says about who the visitor can say they are. */
static void welcome_who(struct webchat *wc, json_t *o)
{
	static const char *const fields[] = {"off", "optional", "required"};
	const struct webchat_conf *w = wc->c->conf ? wc->c->conf->settings : NULL;
	if (wc->secret_len)
		json_object_set_new(o, "identity", json_true());
	if (w && (w->pre_chat_name || w->pre_chat_email))
		json_object_set_new(o, "pre_chat",
		                    json_pack("{s:s, s:s}", "name", fields[w->pre_chat_name], "email",
		                              fields[w->pre_chat_email]));
}

/* {"ticket":"N"}: the satisfaction question pending for ticket N. */
static json_t *rate_obj(int64_t ticket)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)ticket);
	return json_pack("{s:s}", "ticket", id);
}

/* The welcome frame once the store answered with the end of the
 * conversation so far. */
static void history_read(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct wc_conn *k = arg;
	struct webchat *wc = k->wc;
	int more = 0;
	if (k->ws && rc < 0) {
		server_ws_close(k->ws, 1011, "the conversation could not be read");
	} else if (k->ws) {
		json_t *list = page_json(v, n, WEBCHAT_HISTORY, &more);
		const char *business = connector_config(wc->c)->business_name;
		json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:b, s:b}", "type", "welcome", "visitor",
		                      k->token, "open", connector_business_open(wc->c), "history", list,
		                      "more", more, "ticket", k->ticket);
		if (business)
			json_object_set_new(o, "business", json_string(business));
		if (k->email[0])
			json_object_set_new(o, "email", json_string(k->email));
		if (k->rating_ticket > 0)
			json_object_set_new(o, "rate", rate_obj(k->rating_ticket));
		welcome_who(wc, o);
		k->ready = 1;
		send_obj(k->ws, o);
	}
	conn_unref(k);
}

/* A history request waiting for the store. */
struct wc_page {
	struct wc_conn *conn;
	int64_t before;
};

/* The page before pg->before: {"type":"history","before":ID,"messages":[...],"more":B}. */
static void page_read(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct wc_page *pg = arg;
	struct wc_conn *k = pg->conn;
	int more = 0;
	if (k->ws && rc < 0) {
		send_error(k->ws, "the earlier messages could not be read: please try again", NULL);
	} else if (k->ws) {
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)pg->before);
		json_t *list = page_json(v, n, WEBCHAT_HISTORY_PAGE, &more);
		send_obj(k->ws, json_pack("{s:s, s:s, s:o, s:b}", "type", "history", "before", id, "messages",
		                          list, "more", more));
	}
	free(pg);
	conn_unref(k);
}

/* The store said whether the visitor's token is known (rc 0, thread_key)
 * or not: resume that conversation, or start a new one. */
static void visitor_found(void *arg, int rc, const struct store_visitor *v)
{
	struct wc_conn *k = arg;
	struct webchat *wc = k->wc;
	struct store *s = connector_store(wc->c);
	const char *thread_key = rc == 0 && v ? v->thread_key : NULL;
	int resumed = thread_key && strlen(thread_key) < sizeof(k->thread_key);

	if (!k->ws) {
		conn_unref(k);
		return;
	}
	if (rc < 0) {
		server_ws_close(k->ws, 1011, "the conversation store is not available");
		conn_unref(k);
		return;
	}
	struct wc_conn *twin = NULL;
	if (resumed) {
		snprintf(k->thread_key, sizeof(k->thread_key), "%s", thread_key);
		k->stored = 1;
		k->ticket = v->ticket_open;
		snprintf(k->email, sizeof(k->email), "%s",
		         v->email && strlen(v->email) <= MAX_EMAIL ? v->email : "");
		if (v->rating_ticket > 0 && !v->ticket_open &&
		    connector_now(wc->c) - v->rating_asked <= connector_config(wc->c)->satisfaction_window)
			k->rating_ticket = v->rating_ticket;
	} else if (k->token[0] && (twin = live_visitor(wc, k->token)) != NULL) {
		/* Not stored yet, but open in another tab: the same conversation
		 * (a token the server issued and a connection still holds, so no
		 * one can bring a token of their own making). */
		snprintf(k->thread_key, sizeof(k->thread_key), "%s", twin->thread_key);
		k->stored = twin->stored;
	} else {
		/* A new visitor is stored with its first message (visitor_keep):
		 * a connection that says nothing leaves nothing behind. */
		random_token(k->token, sizeof(k->token), TOKEN_BYTES);
		new_thread_key(k->token, k->thread_key, sizeof(k->thread_key));
	}
	link_conn(wc, k);
	if (resumed)
		store_history(s, "webchat", k->thread_key, 0, WEBCHAT_HISTORY + 1, history_read, k);
	else
		history_read(k, 0, NULL, 0);
}

static int ws_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct webchat *wc = arg;
	char token[40] = "";

	if (wc->stopping)
		return 503;
	if (!origin_allowed(wc, info->origin)) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, info->origin);
		log_warn("web chat origin refused: to let that site embed the chat, add it to the "
		         "connector's allowed_origins",
		         "connector=%s peer=%s origin=%s", wc->c->name, info->peer, b.p);
		buf_free(&b);
		return 403;
	}
	/* The per-address connection limit is the listener's (counted from
	 * the TCP accept on); the address entry keeps the message budget. */
	struct wc_addr *a = addr_get(wc, info->peer);

	struct wc_conn *k = xcalloc(1, sizeof(*k));
	k->wc = wc;
	k->ws = ws;
	k->addr = a;
	a->conns++;
	wc->nconns++;
	metric_set(wc->m_conns, (double)wc->nconns);
	server_ws_set_data(ws, k);
	log_debug("web chat connected", "peer=%s", info->peer);
	/* The welcome follows once the store answered (now or later); the
	 * connection holds a reference until then. */
	k->refs++;
	if (server_ws_arg(ws, "visitor", token, sizeof(token)) == 0 && token_ok(token, strlen(token))) {
		snprintf(k->token, sizeof(k->token), "%s", token);
		store_visitor_find(connector_store(wc->c), token, connector_now(wc->c), visitor_found, k);
	} else {
		visitor_found(k, 1, NULL);
	}
	return 0;
}

/* Trimmed copy of a customer's text, or NULL when empty or too long. */
static char *clean_text(const char *t, size_t len, const char **why)
{
	while (len && isspace((unsigned char)*t)) {
		t++;
		len--;
	}
	while (len && isspace((unsigned char)t[len - 1]))
		len--;
	if (!len) {
		*why = "empty message";
		return NULL;
	}
	utf8proc_ssize_t chars = 0, i = 0;
	while ((size_t)i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t n =
		    utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)len - i, &c);
		if (n <= 0) {
			*why = "message is not valid UTF-8";
			return NULL;
		}
		i += n;
		chars++;
	}
	if (chars > WEBCHAT_MAX_TEXT) {
		*why = "message too long (at most 2000 characters)";
		return NULL;
	}
	return xstrndup(t, len);
}

static int client_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > WEBCHAT_MAX_CLIENT_ID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * Store a new visitor in the open group, with the first post of the
 * connection, unless the store takes no new work (then the post is refused
 * too, and nothing is written).
 */
static void visitor_keep(struct wc_conn *k)
{
	struct webchat *wc = k->wc;
	struct store *s = connector_store(wc->c);
	if (k->stored || connector_stopping(wc->c) || !store_takes_work(s))
		return;
	if (store_visitor_add(s, k->token, k->thread_key, connector_now(wc->c)) == 0)
		k->stored = 1;
}

/* What agents see as the author: readable, and not the resume token (the
 * thread key is a separate random value).  Not a name, so replies do not
 * greet the customer with it. */
static void visitor_handle(const struct wc_conn *k, char *out, size_t n)
{
	snprintf(out, n, "web visitor %.6s", k->thread_key + 2);
}

/* File who the visitor said they are under their contact (the visitor is
 * stored, or about to be with its first message).  connector_contact's rc. */
static int who_file(struct wc_conn *k)
{
	char handle[32];
	if (!k->who_id && !k->who_name && !k->who_email)
		return 0;
	visitor_handle(k, handle, sizeof(handle));
	struct store_contact_info ci = {
	    .platform = "webchat",
	    .author_id = k->thread_key,
	    .handle = handle,
	    .name = k->who_name,
	    .name_source = k->who_verified ? NAME_VERIFIED : NAME_VISITOR,
	    .email = k->who_email,
	    .external_id = k->who_verified ? k->who_id : NULL,
	};
	int rc = connector_contact(k->wc->c, &ci);
	if (rc == 1)
		log_info(
		    "web chat identify: this conversation belongs to another signed-in customer: kept as "
		    "it is",
		    "connector=%s", k->wc->c->name);
	who_free(k);
	return rc;
}

/* A name a visitor gives: 1..WEBCHAT_MAX_NAME characters of valid UTF-8 on
 * one line, not only spaces. */
static int name_ok(const char *n)
{
	utf8proc_ssize_t len = n ? (utf8proc_ssize_t)strlen(n) : 0, i = 0, chars = 0;
	int visible = 0;
	while (i < len) {
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)n + i, len - i, &c);
		if (k <= 0 || c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029)
			return 0;
		visible |= c != ' ';
		i += k;
		chars++;
	}
	return visible && chars <= WEBCHAT_MAX_NAME;
}

/* Keep who the visitor is until it is stored, or file it now when it is:
 * connector_contact's rc (0 when kept). */
static int who_keep(struct wc_conn *k, const char *id, const char *name, const char *email, int verified)
{
	if (verified) {
		who_free(k);
		k->who_id = xstrdup(id);
		k->who_verified = 1;
		if (email)
			k->who_email = xstrdup(email);
	}
	if (name) {
		free(k->who_name);
		k->who_name = xstrdup(name);
	}
	return k->stored ? who_file(k) : 0;
}

static void on_message(struct wc_conn *k, json_t *msg)
{
	struct webchat *wc = k->wc;
	json_t *jt = json_object_get(msg, "text"), *jc = json_object_get(msg, "client_id");
	const char *client_id = NULL, *why = NULL;
	char post_id[160], rnd[24];

	if (jc && !json_is_null(jc)) {
		if (!json_is_string(jc) || !client_id_ok(json_string_value(jc))) {
			send_error(k->ws, "client_id must be a string of 1 to 64 printable ASCII characters",
			           NULL);
			return;
		}
		client_id = json_string_value(jc);
	}
	if (!json_is_string(jt)) {
		send_error(k->ws, "a message needs a \"text\" string", client_id);
		return;
	}
	if (wc->stopping) {
		send_error(k->ws, "the chat is restarting: please send your message again in a moment",
		           client_id);
		return;
	}
	if (!bucket_take(&k->tokens, &k->last_ms, wc->mpm) ||
	    !bucket_take(&k->addr->tokens, &k->addr->last_ms, wc->mpm)) {
		send_error(k->ws, "too many messages: please wait a moment before sending more", client_id);
		return;
	}
	char *text = clean_text(json_string_value(jt), json_string_length(jt), &why);
	if (!text) {
		send_error(k->ws, why, client_id);
		return;
	}
	if (client_id) {
		snprintf(post_id, sizeof(post_id), "%s/%s", k->thread_key, client_id);
	} else {
		random_token(rnd, sizeof(rnd), 12);
		snprintf(post_id, sizeof(post_id), "%s/~%s", k->thread_key, rnd);
	}
	char handle[32];
	visitor_handle(k, handle, sizeof(handle));
	const struct connector_conf *cc = wc->c->conf;
	struct post p = {
	    .platform = "webchat",
	    .connector = wc->c->name,
	    .post_id = post_id,
	    .thread_key = k->thread_key,
	    .reply_to_id = post_id,
	    .author_id = k->thread_key,
	    .author_handle = handle,
	    .channel = cc && cc->channel ? cc->channel : "webchat",
	    .text = text,
	    .client_id = client_id,
	    .is_public = 0,
	    .created = connector_now(wc->c),
	};
	struct wc_pending *pend = xcalloc(1, sizeof(*pend));
	pend->conn = k;
	pend->text = text;
	k->refs++;
	visitor_keep(k);
	if (k->stored)
		who_file(k);
	if (connector_deliver_post(wc->c, &p, pend) < 0) {
		send_error(k->ws, "the message could not be taken: please send it again in a moment",
		           client_id);
		k->refs--;
		free(pend->text);
		free(pend);
	}
}

/* An e-mail address waiting for the commit that stores it. */
struct wc_mail {
	struct wc_conn *conn;
	char *email;
};

/* The address is durable (rc 0), or lost with its group: only now is the
 * visitor told. */
static void email_saved(void *arg, int rc)
{
	struct wc_mail *m = arg;
	struct wc_conn *k = m->conn;
	if (rc < 0)
		k->stored = 0;
	if (rc == 0)
		snprintf(k->email, sizeof(k->email), "%s", m->email);
	if (k->ws) {
		if (rc == 0)
			send_obj(k->ws, json_pack("{s:s, s:s}", "type", "email", "email", m->email));
		else
			send_error(k->ws, "the e-mail address could not be saved: please try again", NULL);
	}
	free(m->email);
	free(m);
	conn_unref(k);
}

/* Printable ASCII with one '@' between a local part and a dotted domain:
 * what an SMTP server takes in RCPT TO without extensions. */
static int email_ok(const char *e)
{
	const char *at = e ? strchr(e, '@') : NULL;
	if (!at || at == e || !strchr(at + 1, '.') || strchr(at + 1, '@') || strlen(e) > MAX_EMAIL ||
	    at[1] == '.' || e[strlen(e) - 1] == '.')
		return 0;
	for (const char *p = e; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("<>\"(),;:[]\\", *p))
			return 0;
	return 1;
}

/* Keep address e for the visitor (visitor_set_email, which gives it to
 * the visitor's contact too) and answer {"type":"email"} once durable. */
static void email_store(struct wc_conn *k, const char *e)
{
	struct webchat *wc = k->wc;
	struct store *s = connector_store(wc->c);
	if (connector_stopping(wc->c) || !store_takes_work(s) ||
	    store_visitor_set_email(s, k->token, k->thread_key, e, connector_now(wc->c)) < 0) {
		send_error(k->ws, "the e-mail address could not be saved: please try again in a moment",
		           NULL);
		return;
	}
	k->stored = 1;
	struct wc_mail *m = xcalloc(1, sizeof(*m));
	m->conn = k;
	m->email = xstrdup(e);
	k->refs++;
	connector_commit(wc->c, email_saved, m);
}

static void on_email(struct wc_conn *k, json_t *msg)
{
	const char *e = json_string_value(json_object_get(msg, "email"));
	if (!email_ok(e)) {
		send_error(k->ws, "that does not look like an e-mail address", NULL);
		return;
	}
	email_store(k, e);
}

/*
 * {"type":"identify","id","name"?,"email"?,"hash"}: the business's site
 * vouches for who the visitor is (identity.h).  A hash that does not match
 * is refused and the visitor stays anonymous.
 */
#define BAD_IDENTIFY "identify needs an id, a hash, and a name and e-mail address if given"

/* Identify refused: say why in the log and to the widget. */
static void identify_refused(struct wc_conn *k, const char *why)
{
	log_warn("web chat identify refused: the visitor stays anonymous", "connector=%s reason=\"%s\"",
	         k->wc->c->name, why);
	send_obj(k->ws, json_pack("{s:s, s:b, s:s}", "type", "identify", "verified", 0, "error", why));
}

static void on_identify(struct wc_conn *k, json_t *msg)
{
	struct webchat *wc = k->wc;
	const char *id = json_string_value(json_object_get(msg, "id"));
	const char *hash = json_string_value(json_object_get(msg, "hash"));
	json_t *jn = json_object_get(msg, "name"), *je = json_object_get(msg, "email");
	const char *name = json_string_value(jn), *email = json_string_value(je);
	const char *why = NULL;

	if (!wc->secret_len) {
		identify_refused(k, "identity verification is not set up on this chat (identity_secret)");
		return;
	}
	if (!id || !hash) {
		identify_refused(k, BAD_IDENTIFY);
		return;
	}
	if ((jn && !json_is_null(jn) && (!name || !name_ok(name))) ||
	    (je && !json_is_null(je) && (!email || !email_ok(email))) || strlen(id) > IDENTITY_MAX_ID)
		why = BAD_IDENTIFY;
	else if (!identity_verify(wc->secret, wc->secret_len, id, hash))
		why = "the hash does not match the id";
	if (why) {
		identify_refused(k, why);
		return;
	}
	if (who_keep(k, id, name, email, 1) == 1) {
		send_obj(
		    k->ws,
		    json_pack("{s:s, s:b, s:s}", "type", "identify", "verified", 0, "error",
		              "this conversation belongs to another signed-in customer: start a new one"));
		return;
	}
	send_obj(k->ws, json_pack("{s:s, s:b}", "type", "identify", "verified", 1));
}

/* {"type":"contact","name"?,"email"?}: the pre-chat form.  The address
 * goes the way of the e-mail form (answered {"type":"email"}). */
static void on_contact(struct wc_conn *k, json_t *msg)
{
	json_t *jn = json_object_get(msg, "name"), *je = json_object_get(msg, "email");
	const char *name = json_string_value(jn), *email = json_string_value(je);
	if (name && !*name)
		name = NULL;
	if (email && !*email)
		email = NULL;
	if ((jn && !json_is_null(jn) && !json_is_string(jn)) || (name && !name_ok(name)) ||
	    (je && !json_is_null(je) && !json_is_string(je)) || (email && !email_ok(email))) {
		send_error(k->ws, "a name of up to 128 characters and an e-mail address, please", NULL);
		return;
	}
	if (name)
		who_keep(k, NULL, name, NULL, 0);
	json_t *o = json_pack("{s:s}", "type", "contact");
	if (name)
		json_object_set_new(o, "name", json_string(name));
	send_obj(k->ws, o);
	if (email)
		email_store(k, email);
}

/* {"type":"history","before":"<id>"}: the page of messages before that one. */
static void on_history(struct wc_conn *k, json_t *msg)
{
	struct webchat *wc = k->wc;
	json_t *jb = json_object_get(msg, "before");
	long before = 0;
	if (json_is_string(jb)) {
		if (parse_long(json_string_value(jb), &before) < 0)
			before = 0;
	} else if (json_is_integer(jb) && json_integer_value(jb) > 0 && json_integer_value(jb) < LONG_MAX) {
		before = (long)json_integer_value(jb);
	}
	if (before <= 0) {
		send_error(k->ws, "a history request needs \"before\": the id of the oldest message shown",
		           NULL);
		return;
	}
	if (!bucket_take(&k->htokens, &k->hlast_ms, WEBCHAT_HISTORY_PER_MINUTE)) {
		send_error(k->ws, "too many history requests: please wait a moment", NULL);
		return;
	}
	struct wc_page *pg = xcalloc(1, sizeof(*pg));
	pg->conn = k;
	pg->before = before;
	k->refs++;
	store_history(connector_store(wc->c), "webchat", k->thread_key, before, WEBCHAT_HISTORY_PAGE + 1,
	              page_read, pg);
}

/* A rating on its way to the store and its commit. */
struct wc_rating {
	struct wc_conn *conn;
	int64_t ticket;
	int score;
	char *comment;
};

/* Every open connection of k's visitor. */
#define EACH_VISITOR_CONN(wc, k, x)                                                                          \
	for (struct wc_conn *x = (wc)->threads[bucket_of((k)->thread_key)]; x; x = x->next)                  \
		if (x->ws && strcmp(x->thread_key, (k)->thread_key) == 0)

/* The rating is durable (rc 0) or lost: every tab of the visitor hears of
 * it, so the buttons go away everywhere. */
static void rating_saved(void *arg, int rc)
{
	struct wc_rating *r = arg;
	struct wc_conn *k = r->conn;
	struct webchat *wc = k->wc;
	if (rc == 0) {
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)r->ticket);
		/* Labelled by the channel, as the ratings given in words are. */
		const struct connector_conf *cc = wc->c->conf;
		metric_add_l(wc->m_ratings, 1, cc && cc->channel ? cc->channel : "webchat",
		             (const char *[]){"1", "2", "3", "4", "5"}[r->score - 1]);
		EACH_VISITOR_CONN(wc, k, x)
		{
			x->rating_ticket = 0;
			json_t *o =
			    json_pack("{s:s, s:s, s:i}", "type", "rating", "ticket", id, "score", r->score);
			if (r->comment)
				json_object_set_new(o, "comment", json_string(r->comment));
			send_obj(x->ws, o);
		}
	} else if (k->ws) {
		send_error(k->ws, "the rating could not be saved: please try again", NULL);
	}
	free(r->comment);
	free(r);
	conn_unref(k);
}

/* The store took the rating (rc 0), or there was no question to answer. */
static void rating_answered(void *arg, int rc)
{
	struct wc_rating *r = arg;
	struct wc_conn *k = r->conn;
	if (rc == 0) {
		connector_commit(k->wc->c, rating_saved, r);
		return;
	}
	if (k->ws)
		send_error(k->ws,
		           rc == 1
		               ? "there is no rating to give here: it was given already, or it is too late"
		               : "the rating could not be saved: please try again",
		           NULL);
	if (rc == 1)
		k->rating_ticket = 0;
	free(r->comment);
	free(r);
	conn_unref(k);
}

/* {"type":"rating","ticket":"N"?,"score":1..5,"comment":"..."?}: the answer
 * to the satisfaction question, from the widget's buttons. */
static void on_rating(struct wc_conn *k, json_t *msg)
{
	struct webchat *wc = k->wc;
	struct store *s = connector_store(wc->c);
	json_t *js = json_object_get(msg, "score"), *jc = json_object_get(msg, "comment");
	json_t *jt = json_object_get(msg, "ticket");
	long ticket = 0;
	char *comment = NULL;
	const char *why = NULL;

	if (!json_is_integer(js) || !rating_valid((long)json_integer_value(js))) {
		send_error(k->ws, "a rating needs a \"score\" from 1 to 5", NULL);
		return;
	}
	if (jt && !json_is_null(jt) &&
	    (!json_is_string(jt) || parse_long(json_string_value(jt), &ticket) < 0 || ticket <= 0)) {
		send_error(k->ws, "\"ticket\" must be the id the question came with", NULL);
		return;
	}
	if (jc && !json_is_null(jc)) {
		if (!json_is_string(jc) || json_string_length(jc) > RATING_MAX_COMMENT) {
			send_error(k->ws, "a comment is text of at most 1000 bytes", NULL);
			return;
		}
		if (json_string_length(jc) &&
		    !(comment = clean_text(json_string_value(jc), json_string_length(jc), &why)) &&
		    strcmp(why, "empty message") != 0) {
			send_error(k->ws, why, NULL);
			return;
		}
	}
	if (!k->stored || wc->stopping || !bucket_take(&k->tokens, &k->last_ms, wc->mpm)) {
		send_error(k->ws,
		           k->stored
		               ? "too many messages: please wait a moment before sending more"
		               : "there is no rating to give here: it was given already, or it is too late",
		           NULL);
		free(comment);
		return;
	}
	struct wc_rating *r = xcalloc(1, sizeof(*r));
	r->conn = k;
	r->ticket = ticket > 0 ? ticket : k->rating_ticket;
	r->score = (int)json_integer_value(js);
	r->comment = comment;
	k->refs++;
	time_t now = connector_now(wc->c);
	store_rating_answer(s, "webchat", k->thread_key, ticket, r->score, comment,
	                    now - connector_config(wc->c)->satisfaction_window, now, rating_answered, r);
}

/* {"type":"typing","on":true|false}: the visitor is typing (the team sees
 * it).  Nothing is answered; a visitor not yet stored (no conversation to
 * show it beside) and frames past WEBCHAT_TYPING_PER_MINUTE are dropped. */
static void on_typing(struct wc_conn *k, json_t *msg)
{
	json_t *on = json_object_get(msg, "on");
	if (!json_is_boolean(on)) {
		send_error(k->ws, "a typing frame needs \"on\": true or false", NULL);
		return;
	}
	if (k->stored && bucket_take(&k->ttokens, &k->tlast_ms, WEBCHAT_TYPING_PER_MINUTE))
		connector_customer_typing(k->wc->c, k->thread_key, json_is_true(on));
}

/* A person is typing a reply: {"type":"typing","from":"agent","agent":"Sam","on":B}
 * to every open tab of the visitor. */
static void wc_typing(struct connector *c, const char *thread_key, const char *agent, int on)
{
	struct webchat *wc = c->priv;
	struct wc_conn key;
	snprintf(key.thread_key, sizeof(key.thread_key), "%s", thread_key);
	EACH_VISITOR_CONN(wc, &key, x)
	{
		json_t *o = json_pack("{s:s, s:s, s:b}", "type", "typing", "from", "agent", "on", on);
		if (agent && *agent)
			json_object_set_new(o, "agent", json_string(agent));
		send_obj(x->ws, o);
	}
}

static void ws_text(struct server_ws *ws, const char *text, size_t len, void *arg)
{
	struct webchat *wc = arg;
	struct wc_conn *k = server_ws_data(ws);
	json_error_t err;

	if (!k)
		return;
	json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!msg || !json_is_object(msg)) {
		metric_inc(wc->m_frames_bad);
		send_error(ws, "malformed frame: expected one JSON object", NULL);
		json_decref(msg);
		return;
	}
	const char *type = json_string_value(json_object_get(msg, "type"));
	if (!k->ready && type &&
	    (!strcmp(type, "message") || !strcmp(type, "email") || !strcmp(type, "history") ||
	     !strcmp(type, "identify") || !strcmp(type, "contact") || !strcmp(type, "rating") ||
	     !strcmp(type, "typing"))) {
		send_error(ws, "the conversation is still opening: send again after the welcome", NULL);
	} else if (type && strcmp(type, "message") == 0) {
		on_message(k, msg);
	} else if (type && strcmp(type, "email") == 0) {
		on_email(k, msg);
	} else if (type && strcmp(type, "identify") == 0) {
		on_identify(k, msg);
	} else if (type && strcmp(type, "contact") == 0) {
		on_contact(k, msg);
	} else if (type && strcmp(type, "history") == 0) {
		on_history(k, msg);
	} else if (type && strcmp(type, "rating") == 0) {
		on_rating(k, msg);
	} else if (type && strcmp(type, "typing") == 0) {
		on_typing(k, msg);
	} else {
		metric_inc(wc->m_frames_bad);
		send_error(ws, type ? "unknown message type" : "a frame needs a \"type\"", NULL);
	}
	json_decref(msg);
}

static void ws_binary(struct server_ws *ws, void *arg)
{
	struct webchat *wc = arg;
	metric_inc(wc->m_frames_bad);
	send_error(ws, "binary frames are not supported: send JSON text", NULL);
}

static void ws_too_big(struct server_ws *ws, void *arg)
{
	struct webchat *wc = arg;
	metric_inc(wc->m_frames_bad);
	send_error(ws, "frame too large (at most 8192 bytes)", NULL);
	server_ws_close(ws, 1009, "frame too large");
}

static void ws_close(struct server_ws *ws, void *arg)
{
	struct webchat *wc = arg;
	struct wc_conn *k = server_ws_data(ws);
	if (!k)
		return;
	server_ws_set_data(ws, NULL);
	if (k->linked)
		unlink_conn(wc, k);
	if (k->addr)
		k->addr->conns--;
	k->addr = NULL;
	k->ws = NULL;
	wc->nconns--;
	metric_set(wc->m_conns, (double)wc->nconns);
	if (k->refs <= 0)
		conn_free(k);
}

static const struct server_ws_ops ws_ops = {
    .max_message = WEBCHAT_MAX_FRAME,
    .on_open = ws_open,
    .on_text = ws_text,
    .on_binary = ws_binary,
    .on_too_big = ws_too_big,
    .on_close = ws_close,
};

/* --- connector ops ---------------------------------------------------------- */

static void post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct wc_pending *p = cookie;
	struct wc_conn *k = p->conn;
	(void)c;
	/* The group that held the visitor may be the one that was lost. */
	if (a->status == POST_FAILED)
		k->stored = 0;
	if (k->ws) {
		if (a->status == POST_FAILED)
			send_error(k->ws, "the message was not stored: please send it again", a->client_id);
		else {
			struct buf b;
			buf_init(&b, 0);
			message_frame(&b, a->message_id, "customer", NULL, p->text, a->ts, a->client_id);
			server_ws_send(k->ws, b.p, b.len);
			buf_free(&b);
			/* A person has the conversation now: the widget offers to
			 * send the reply by e-mail too. */
			if (a->ticket_id > 0 && !k->ticket) {
				k->ticket = 1;
				send_obj(k->ws, json_pack("{s:s, s:b}", "type", "ticket", "open", 1));
			}
		}
	}
	free(p->text);
	free(p);
	conn_unref(k);
}

/* An agent's reply waiting for the store to say who its visitor is. */
struct wc_away {
	struct webchat *wc;
	int64_t message_id;
	char *agent, *text;
};

/* The link back to the conversation in an e-mail: the page with the chat
 * (page_url, else the demo page), with the visitor's token in the fragment
 * (never sent to a server, nor in a Referer), which the widget takes up. */
static char *resume_link(struct webchat *wc, const char *token)
{
	const struct connector_conf *cc = wc->c->conf;
	const struct webchat_conf *wcc = cc ? cc->settings : NULL;
	if (wcc && wcc->page_url) {
		const char *hash = strchr(wcc->page_url, '#');
		int n = hash ? (int)(hash - wcc->page_url) : (int)strlen(wcc->page_url);
		return xasprintf("%.*s#frontdesk=%s", n, wcc->page_url, token);
	}
	const char *listen = cc && cc->listen ? cc->listen : WEBCHAT_DEFAULT_LISTEN;
	const char *colon = strrchr(listen, ':');
	int hl = colon ? (int)(colon - listen) : (int)strlen(listen);
	return xasprintf("http://%.*s:%d/#frontdesk=%s", hl, listen, wc->port, token);
}

static void away_found(void *arg, int rc, const struct store_visitor *v)
{
	struct wc_away *a = arg;
	if (rc == 0 && v->email && *v->email && v->token) {
		char *link = resume_link(a->wc, v->token);
		struct connector_mail m = {
		    .message_id = a->message_id,
		    .to = v->email,
		    .agent = a->agent,
		    .text = a->text,
		    .link = link,
		};
		if (connector_mail_away(a->wc->c, &m) < 0)
			log_warn("a reply to a visitor who is away was not mailed", "message=%lld",
			         (long long)a->message_id);
		free(link);
	}
	free(a->agent);
	free(a->text);
	free(a);
}

/* Nobody was connected to read agent message m: mail it when the visitor
 * left an address. */
static void mail_away(struct webchat *wc, const struct outmsg *m)
{
	struct wc_away *a = xcalloc(1, sizeof(*a));
	a->wc = wc;
	a->message_id = m->message_id;
	a->agent = m->agent ? xstrdup(m->agent) : NULL;
	a->text = xstrdup(m->text ? m->text : "");
	store_visitor_of_thread(connector_store(wc->c), m->thread_key, away_found, a);
}

static int wc_send(struct connector *c, const struct outmsg *m)
{
	struct webchat *wc = c->priv;
	size_t b = bucket_of(m->thread_key);
	struct buf frame;
	int delivered = 0;

	buf_init(&frame, 0);
	for (struct wc_conn *k = wc->threads[b]; k; k = k->next) {
		if (!k->ws || strcmp(k->thread_key, m->thread_key) != 0)
			continue;
		if (!frame.len)
			message_frame(&frame, m->message_id, m->from, m->agent, m->text, m->ts, NULL);
		if (server_ws_send(k->ws, frame.p, frame.len) == 0)
			delivered++;
		/* The satisfaction question: the widget shows its buttons. */
		if (m->rating > 0) {
			k->rating_ticket = m->rating;
			send_obj(k->ws, json_pack("{s:s, s:o}", "type", "rate", "rate", rate_obj(m->rating)));
		}
	}
	buf_free(&frame);
	/* Stored is delivered for web chat: a visitor who is away reads it in
	 * the history of the next welcome, and gets a person's reply by e-mail
	 * too when they left an address. */
	log_debug("web chat reply", "outbox=%lld sockets=%d", (long long)m->id, delivered);
	if (!delivered && m->from && strcmp(m->from, "agent") == 0)
		mail_away(wc, m);
	connector_send_done(c, m->id, SEND_OK, 0, NULL);
	return 0;
}

static int wc_idle(struct connector *c)
{
	struct webchat *wc = c->priv;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct wc_conn *k = wc->threads[b]; k; k = k->next)
			if (k->ws && server_ws_queued(k->ws))
				return 0;
	return 1;
}

static void wc_stop(struct connector *c)
{
	struct webchat *wc = c->priv;
	wc->stopping = 1;
}

/* HTML-escape s into b. */
static void html_escape(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_putc(b, *s);
		}
	}
}

/* The demo page with {{business}}, {{hours}}, {{phone}} and {{email}}
 * filled in from the running configuration (HTML-escaped), into b. */
static void render_page(struct webchat *wc, const struct embedded_file *f, struct buf *out)
{
	const struct config *cfg = connector_config(wc->c);
	struct buf b;
	char hours[512] = "";

	hours_summary(cfg->hours, hours, sizeof(hours));
	buf_init(&b, 0);
	const char *p = f->data, *end = f->data + f->len;
	while (p < end) {
		const char *tag = strstr(p, "{{");
		if (!tag || tag >= end) {
			buf_append(&b, p, (size_t)(end - p));
			break;
		}
		buf_append(&b, p, (size_t)(tag - p));
		const char *close = strstr(tag, "}}");
		if (!close) {
			buf_append(&b, tag, (size_t)(end - tag));
			break;
		}
		size_t n = (size_t)(close - tag - 2);
		const char *name = tag + 2;
		if (n == 8 && strncmp(name, "business", 8) == 0)
			html_escape(&b, cfg->business_name);
		else if (n == 5 && strncmp(name, "hours", 5) == 0)
			html_escape(&b, hours);
		else if (n == 5 && strncmp(name, "phone", 5) == 0)
			html_escape(&b, cfg->phone);
		else if (n == 5 && strncmp(name, "email", 5) == 0)
			html_escape(&b, cfg->email);
		else
			buf_append(&b, tag, n + 4);
		p = close + 2;
	}
	*out = b;
}

/* The place in widget.js the server fills in with the chat's settings. */
#define WIDGET_SETTINGS_MARK "/*FRONTDESK_SETTINGS*/null"

/* GET /widget.js: the widget with the connector's `widget` settings filled
 * in (its defaults when there are none), so that the one file a site
 * embeds carries them. */
static enum server_handled widget_get(struct server_req *req, void *arg)
{
	struct webchat *wc = arg;
	const struct webchat_conf *w = wc->c->conf ? wc->c->conf->settings : NULL;
	const struct embedded_file *f = embedded_find("widget.js");
	struct buf b;
	buf_init(&b, 0);
	const char *mark =
	    f ? memmem(f->data, f->len, WIDGET_SETTINGS_MARK, strlen(WIDGET_SETTINGS_MARK)) : NULL;
	if (!f) {
		server_respond(req, 404, "text/plain; charset=utf-8", "not found\n", 10);
		return SERVER_DONE;
	}
	if (mark && w && w->widget_json) {
		buf_append(&b, f->data, (size_t)(mark - f->data));
		buf_puts(&b, w->widget_json);
		const char *rest = mark + strlen(WIDGET_SETTINGS_MARK);
		buf_append(&b, rest, (size_t)(f->data + f->len - rest));
	} else {
		buf_append(&b, f->data, f->len);
	}
	server_respond_buf(req, 200, "text/javascript; charset=utf-8", &b);
	return SERVER_DONE;
}

/* GET / : the demo page, rendered for every request from the running
 * configuration, so a reload shows at once (it is a few kilobytes). */
static enum server_handled page_get(struct server_req *req, void *arg)
{
	struct webchat *wc = arg;
	struct buf b;
	render_page(wc, embedded_find("index.html"), &b);
	server_respond_buf(req, 200, "text/html; charset=utf-8", &b);
	return SERVER_DONE;
}

static int wc_start(struct connector *c)
{
	struct webchat *wc = xcalloc(1, sizeof(*wc));
	const struct connector_conf *cc = c->conf;
	const struct webchat_conf *wcc = cc ? cc->settings : NULL;
	const char *listen = cc && cc->listen ? cc->listen : WEBCHAT_DEFAULT_LISTEN;
	char err[256];

	c->priv = wc;
	wc->c = c;
	if (wcc && (wcc->identity_secret.env || wcc->identity_secret.file)) {
		if (connector_secret_read(c, &wcc->identity_secret, "the identity secret", wc->secret,
		                          sizeof(wc->secret)) < 0)
			return -1;
		wc->secret_len = strlen(wc->secret);
	}
	wc->max_conns =
	    wcc && wcc->connections_per_address > 0 ? wcc->connections_per_address : WEBCHAT_DEFAULT_CONNS;
	wc->mpm = wcc && wcc->messages_per_minute > 0 ? wcc->messages_per_minute : WEBCHAT_DEFAULT_MPM;
	wc->li = server_listen(connector_server(c), listen, c->name, err, sizeof(err));
	if (!wc->li) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, err);
		log_error("web chat cannot listen", "connector=%s listen=%s error=%s", c->name, listen, b.p);
		buf_free(&b);
		return -1;
	}
	wc->port = listener_port(wc->li);
	/* Connection limits and trusted proxies belong to the listener: they
	 * hold before any request is read (server.h). */
	struct listener_opts lo = {
	    .max_connections = wcc ? wcc->max_connections : 0,
	    .connections_per_address = wc->max_conns,
	    .trusted_proxies = wcc ? wcc->proxies.trusted : NULL,
	    .proxy_header =
	        wcc && wcc->proxies.forwarded ? SERVER_PROXY_FORWARDED : SERVER_PROXY_X_FORWARDED_FOR,
	};
	if (listener_configure(wc->li, &lo, err, sizeof(err)) < 0) {
		log_error("web chat: bad trusted_proxies", "connector=%s error=\"%s\"", c->name, err);
		return -1;
	}

	if (embedded_find("index.html"))
		server_route_api(wc->li, "/", SERVER_GET, page_get, wc, 0);
	server_route_api(wc->li, "/widget.js", SERVER_GET, widget_get, wc, 0);
	server_route_embedded(wc->li, "/widget.css", "widget.css");
	if (server_route_ws(wc->li, "/chat", &ws_ops, wc) < 0) {
		log_error("web chat: /chat is already routed", "connector=%s", c->name);
		return -1;
	}
	struct metrics *m = connector_metrics(c);
	wc->m_conns = metrics_gauge(m, "webchat_connections", "Open web chat connections.", NULL);
	wc->m_ratings = metrics_counter(m, "satisfaction_ratings_total",
	                                "Customers' satisfaction ratings received, by channel and score.",
	                                "channel,score");
	wc->m_frames_bad =
	    metrics_counter(m, "webchat_bad_frames_total",
	                    "Web chat frames refused (malformed, binary, too large, unknown type).", NULL);

	char host[128];
	const char *colon = strrchr(listen, ':');
	size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
	snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) ? hl : sizeof(host) - 1), listen);
	log_info("web chat listening", "connector=%s url=http://%s:%d/ port=%d", c->name, host, wc->port,
	         wc->port);
	connector_set_health(c, HEALTH_OK, "listening");
	return 0;
}

static void wc_destroy(struct connector *c)
{
	struct webchat *wc = c->priv;
	if (!wc)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		while (wc->threads[b]) {
			struct wc_conn *k = wc->threads[b];
			wc->threads[b] = k->next;
			conn_free(k);
		}
		while (wc->addrs[b]) {
			struct wc_addr *a = wc->addrs[b];
			wc->addrs[b] = a->next;
			free(a);
		}
	}
	explicit_bzero(wc->secret, sizeof(wc->secret));
	free(wc);
	c->priv = NULL;
}

/* --- configuration --------------------------------------------------------- */

/* The strings of the widget a business may word its own way (widget.js, S). */
static const char *const widget_strings[] = {"launcher",
                                             "title",
                                             "title_business",
                                             "greeting",
                                             "unread",
                                             "close",
                                             "conversation",
                                             "older",
                                             "loading",
                                             "placeholder",
                                             "message_label",
                                             "hint",
                                             "send",
                                             "you",
                                             "staff",
                                             "assistant",
                                             "assistant_of",
                                             "connecting",
                                             "reconnecting",
                                             "lost",
                                             "closed",
                                             "sending",
                                             "waiting",
                                             "mail_open",
                                             "mail_closed",
                                             "mail_save",
                                             "mail_thanks",
                                             "prechat_intro",
                                             "prechat_name",
                                             "prechat_email",
                                             "prechat_optional",
                                             "prechat_start",
                                             "rate_label",
                                             "rate_comment",
                                             "rate_send",
                                             "rate_thanks",
                                             "rate_names",
                                             "typing",
                                             NULL};

#define WIDGET_MAX_STRING 300 /* characters of one of the widget's strings */

/* A string of the widget section: at most WIDGET_MAX_STRING characters. */
static char *widget_str(struct config_parser *p, const char *key)
{
	char *v = config_key_str(p, key, 0, NULL);
	if (v && utf8proc_decompose((const utf8proc_uint8_t *)v, (utf8proc_ssize_t)strlen(v), NULL, 0, 0) >
	             WIDGET_MAX_STRING) {
		config_key_error(p, key, "at most %d characters", WIDGET_MAX_STRING);
		free(v);
		return NULL;
	}
	return v;
}

/*
 * widget: { color: "#1f5f4a", title, greeting, launcher, position: right|left,
 *           strings: { send: "Envoyer", ... } }  as the JSON widget.js reads.
 */
static char *widget_parse(struct config_parser *p)
{
	static const char *const keys[] = {"color",    "colour",   "title",   "greeting",
	                                   "launcher", "position", "strings", NULL};
	static const char *const plain[] = {"title", "greeting", "launcher", NULL};
	struct config_parser wp, sp;
	if (config_key_section(p, "widget", keys, &wp) <= 0)
		return NULL;
	json_t *o = json_object();
	for (size_t i = 0; plain[i]; i++) {
		char *v = widget_str(&wp, plain[i]);
		if (v)
			json_object_set_new(o, plain[i], json_string(v));
		free(v);
	}
	for (size_t i = 0; i < 2; i++) {
		const char *key = i ? "colour" : "color";
		char *v = config_key_str(&wp, key, 0, NULL);
		size_t n = v ? strlen(v) : 0;
		int ok = v && v[0] == '#' && (n == 4 || n == 7) &&
		         strspn(v + 1, "0123456789abcdefABCDEF") == n - 1;
		if (v && !ok)
			config_key_error(&wp, key, "expected a colour like #1f5f4a or #185, not '%s'", v);
		else if (v)
			json_object_set_new(o, "color", json_string(v));
		free(v);
	}
	char *pos = config_key_str(&wp, "position", 0, NULL);
	if (pos && strcmp(pos, "right") && strcmp(pos, "left"))
		config_key_error(&wp, "position", "expected right or left, not '%s'", pos);
	else if (pos)
		json_object_set_new(o, "position", json_string(pos));
	free(pos);
	if (config_key_section(&wp, "strings", widget_strings, &sp) > 0) {
		json_t *s = json_object();
		for (size_t i = 0; widget_strings[i]; i++) {
			char *v = widget_str(&sp, widget_strings[i]);
			if (v)
				json_object_set_new(s, widget_strings[i], json_string(v));
			free(v);
		}
		json_object_set_new(o, "strings", s);
	}
	/* ASCII only, so the object is safe anywhere in a script. */
	char *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	return out;
}

#define MAX_ORIGINS 256

static void *wc_parse(struct config_parser *p)
{
	static const char *const lkeys[] = {"connections", "connections_per_address", "messages_per_minute",
	                                    NULL};
	struct webchat_conf *w = xcalloc(1, sizeof(*w));
	struct config_parser lim;

	w->max_connections = WEBCHAT_DEFAULT_CONNECTIONS;
	w->connections_per_address = WEBCHAT_DEFAULT_CONNS;
	w->messages_per_minute = WEBCHAT_DEFAULT_MPM;
	config_key_listen(p, WEBCHAT_DEFAULT_LISTEN);
	config_key_proxies(p, &w->proxies);
	if (config_key_section(p, "limits", lkeys, &lim) > 0) {
		config_key_int(&lim, "connections", &w->max_connections, 1, 1000000);
		config_key_int(&lim, "connections_per_address", &w->connections_per_address, 1, 1000000);
		config_key_int(&lim, "messages_per_minute", &w->messages_per_minute, 1, 1000000);
	}
	w->page_url = config_key_url(p, "page_url", CONFIG_URL_HTTP, 0,
	                             "the page of your site with the chat, for links in e-mails");
	char **list = config_key_strv(p, "allowed_origins", MAX_ORIGINS);
	for (size_t i = 0; list && list[i]; i++) {
		char err[1200];
		if (strcmp(list[i], "*") &&
		    config_url_check(list[i], CONFIG_URL_ORIGIN, err, sizeof(err)) < 0) {
			config_key_item_error(p, "allowed_origins", i, "%s", err);
		} else {
			size_t len = strlen(list[i]);
			if (len > 1 && list[i][len - 1] == '/')
				list[i][len - 1] = '\0';
		}
	}
	w->allowed_origins = list;
	w->widget_json = widget_parse(p);
	config_key_secret(p, "identity_secret", 0,
	                  "the key of the HMAC your site computes over a customer id", &w->identity_secret);
	static const char *const pkeys[] = {"name", "email", NULL};
	struct config_parser pc;
	if (config_key_section(p, "pre_chat", pkeys, &pc) > 0) {
		enum webchat_field *slots[] = {&w->pre_chat_name, &w->pre_chat_email};
		for (size_t i = 0; i < 2; i++) {
			char *v = config_key_str(&pc, pkeys[i], 0, NULL);
			if (!v)
				continue;
			if (!strcmp(v, "optional"))
				*slots[i] = WEBCHAT_OPTIONAL;
			else if (!strcmp(v, "required"))
				*slots[i] = WEBCHAT_REQUIRED;
			else if (strcmp(v, "off") != 0)
				config_key_error(&pc, pkeys[i],
				                 "expected off, optional or required, not '%s'", v);
			free(v);
		}
	}
	return w;
}

static void wc_free_settings(void *settings)
{
	struct webchat_conf *w = settings;
	free(w->widget_json);
	strv_free(w->allowed_origins);
	free(w->page_url);
	config_proxies_free(&w->proxies);
	free(w->identity_secret.env);
	free(w->identity_secret.file);
	free(w);
}

static const char *const wc_keys[] = {"listen",
                                      "limits",
                                      "allowed_origins",
                                      "page_url",
                                      "trusted_proxies",
                                      "proxy_header",
                                      "identity_secret_env",
                                      "identity_secret_file",
                                      "pre_chat",
                                      "widget",
                                      NULL};

const struct connector_ops webchat_ops = {
    .type = "webchat",
    .max_text = 4000,
    .caps = CONNECTOR_SHOWS_SENDER,
    .keys = wc_keys,
    .parse = wc_parse,
    .free_settings = wc_free_settings,
    .start = wc_start,
    .stop = wc_stop,
    .send = wc_send,
    .idle = wc_idle,
    .destroy = wc_destroy,
    .post_done = post_done,
    .typing = wc_typing,
};
