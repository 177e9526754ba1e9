/*
 * meta.c - what the Meta connectors share (see meta.h): settings, the
 * Graph API's errors, the sign-in read, and sending each reply once.
 */
#include "meta.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backoff.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "rest.h"
#include "store.h"
#include "url.h"
#include "util.h"
#include "webhook.h"

#define API_MAX       1024 /* {instance}/{version} */
#define PATH_MAX_     1024
#define ANSWER_MAX    (64u * 1024u) /* a Graph API answer we read */
#define SIGNIN_MIN_MS 1000L
#define SIGNIN_MAX_MS (5L * 60 * 1000)
#define PAIRS_MAX     1024 /* customers whose pair-limit strikes are remembered */
#define TRY_KIND      "try"
#define SENT_KIND     "sent"
/* A reply held at a stop (for the token or a rate limit) is due this many
 * seconds on: just past the daemon's graceful drain, so the drain does not
 * wait for it, and soon after the next start. */
#define HELD_S          ((LOOP_DRAIN_MS + 999) / 1000 + 1)
#define TOKEN_DETAIL    "190 from Meta: the access token was refused (expired or revoked): make a new one"
#define UNKNOWN_ID_TEXT "(no id)"

/* --- settings ----------------------------------------------------------------------- */

void meta_key_bool(struct config_parser *p, const char *key, int *out)
{
	if (!config_key_given(p, key))
		return;
	char *v = config_key_str(p, key, 0, NULL);
	if (!v)
		return;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes"))
		*out = 1;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no"))
		*out = 0;
	else
		config_key_error(p, key, "expected true or false, not '%s'", v);
	free(v);
}

void meta_parse(struct config_parser *p, struct meta_conf *m)
{
	static const char *const lkeys[] = {"connections", "connections_per_address", NULL};
	struct config_parser lim;

	m->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 0, NULL);
	if (!m->instance)
		m->instance = xstrdup(META_DEFAULT_INSTANCE);
	m->version = config_key_str(p, "api_version", 0, NULL);
	if (m->version) {
		/* "v25.0": it goes into every URL's path */
		const char *s = m->version;
		int ok = s[0] == 'v' && s[1] >= '0' && s[1] <= '9';
		for (s++; ok && *s; s++)
			ok = (*s >= '0' && *s <= '9') || *s == '.';
		if (!ok)
			config_key_error(p, "api_version", "expected a Graph API version like %s, not '%s'",
			                 META_DEFAULT_VERSION, m->version);
	} else {
		m->version = xstrdup(META_DEFAULT_VERSION);
	}
	config_key_secret(p, "token", 1, "the access token (a system-user token)", &m->token);
	config_key_secret(p, "app_secret", 1, "the app secret (App settings > Basic)", &m->app_secret);
	config_key_secret(p, "verify_token", 1, "the verify token you type in the webhook settings",
	                  &m->verify_token);
	config_key_listen(p, NULL);
	if (!p->cc->listen && p->map)
		config_key_error(p, NULL,
		                 "'listen' is required: the address Meta's webhook reaches (behind your "
		                 "web server), like 127.0.0.1:8082");
	config_key_proxies(p, &m->proxies);
	if (config_key_section(p, "limits", lkeys, &lim) > 0) {
		config_key_int(&lim, "connections", &m->max_connections, 1, 1000000);
		config_key_int(&lim, "connections_per_address", &m->connections_per_address, 1, 1000000);
	}
	m->unconfirmed_wait = META_UNCONFIRMED_WAIT_S;
	char *w = config_key_str(p, "unconfirmed_wait", 0, NULL);
	if (w) {
		long secs;
		if (parse_duration(w, &secs) < 0 || secs < 1 || secs > 3600)
			config_key_error(p, "unconfirmed_wait",
			                 "expected a duration from 1s to 1h, like 60s, not '%s'", w);
		else
			m->unconfirmed_wait = secs;
		free(w);
	}
	if (m->instance)
		p->cc->endpoint = xstrdup(m->instance);
}

void meta_conf_free(struct meta_conf *m)
{
	free(m->instance);
	free(m->version);
	free(m->token.env);
	free(m->token.file);
	free(m->app_secret.env);
	free(m->app_secret.file);
	free(m->verify_token.env);
	free(m->verify_token.file);
	config_proxies_free(&m->proxies);
}

/* --- deliveries ----------------------------------------------------------------------- */

json_t *meta_delivery_load(const char *body, size_t len, const char *object, char *err, size_t errn)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, 0, &je);
	if (!json_is_object(root)) {
		snprintf(err, errn, "not a JSON object: %s", root ? "another JSON value" : je.text);
		json_decref(root);
		return NULL;
	}
	const char *obj = json_string_value(json_object_get(root, "object"));
	if (!obj || strcmp(obj, object) != 0) {
		snprintf(err, errn, "object is not %s", object);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* --- Graph API errors ----------------------------------------------------------------------- */

static void copy_str(json_t *o, const char *key, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(o, key));
	snprintf(out, n, "%s", v ? v : "");
}

int meta_error_parse(const char *body, size_t len, struct meta_error *e)
{
	memset(e, 0, sizeof(*e));
	json_t *root = body && len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
	json_t *err = json_object_get(root, "error");
	int found = json_is_object(err);
	if (found) {
		e->code = (long)json_integer_value(json_object_get(err, "code"));
		e->subcode = (long)json_integer_value(json_object_get(err, "error_subcode"));
		e->transient = json_is_true(json_object_get(err, "is_transient"));
		copy_str(err, "message", e->message, sizeof(e->message));
		copy_str(err, "error_user_title", e->title, sizeof(e->title));
		json_t *data = json_object_get(err, "error_data");
		if (!e->title[0] && json_is_object(data))
			copy_str(data, "details", e->title, sizeof(e->title));
	}
	json_decref(root);
	return found;
}

enum meta_verdict meta_classify(long status, const struct meta_error *e)
{
	long code = e ? e->code : 0, sub = e ? e->subcode : 0;
	if (status >= 200 && status < 300 && !code)
		return META_SENT;
	switch (code) {
	case 190: /* token expired, revoked or invalid */
	case 102:
	case 463:
	case 467: return META_TOKEN;
	case 4:      /* app-level request limit */
	case 17:     /* user-level request limit */
	case 32:     /* page-level request limit */
	case 613:    /* calls to this API exceed the rate limit */
	case 80007:  /* WhatsApp business account rate limit */
	case 130429: /* WhatsApp throughput */
	case 131048: /* WhatsApp spam rate limit */ return META_THROTTLED;
	case 131056: return META_PAIR_LIMIT;
	case 131047: /* re-engagement: more than 24 h since the customer wrote */
	case 1545041: /* Messenger: outside the allowed window */ return META_WINDOW_CLOSED;
	case 10:
		if (sub == 2018278 || sub == 2018108 || sub == 2534022)
			return META_WINDOW_CLOSED;
		return META_REFUSED;
	case 1:
	case 2:
	case 131000: /* something went wrong */
	case 131016: /* service unavailable */ return META_RETRY;
	default: break;
	}
	if (e && e->transient)
		return META_RETRY;
	if (status == 401)
		return META_TOKEN;
	if (status == 429)
		return META_THROTTLED;
	if (status == 0 || status >= 500 || status == 408)
		return META_RETRY;
	return META_REFUSED;
}

const char *meta_verdict_name(enum meta_verdict v)
{
	static const char *const names[] = {"sent",          "retry", "throttled", "pair_limit",
	                                    "window_closed", "token", "refused"};
	return (unsigned)v < ARRAY_LEN(names) ? names[v] : "refused";
}

/* --- ids and markers -------------------------------------------------------------------------- */

int meta_id_ok(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c <= ' ' || c >= 0x7F || c == ':' || c == '"' || c == '\'' || c == '\\')
			return 0;
	}
	return n >= 1 && n <= META_MAX_ID;
}

int meta_thread_split(const char *key, char *a, size_t an, char *b, size_t bn)
{
	const char *colon = key ? strchr(key, ':') : NULL;
	if (!colon || (size_t)(colon - key) >= an || strlen(colon + 1) >= bn)
		return -1;
	memcpy(a, key, (size_t)(colon - key));
	a[colon - key] = '\0';
	snprintf(b, bn, "%s", colon + 1);
	return meta_id_ok(a) && meta_id_ok(b) ? 0 : -1;
}

void meta_marker(const char *idem, size_t part, size_t nparts, char *out, size_t n)
{
	if (nparts <= 1)
		snprintf(out, n, "%s%s", META_MARKER_PREFIX, idem);
	else
		snprintf(out, n, "%s%s:%zu", META_MARKER_PREFIX, idem, part);
}

int meta_marker_ours(const char *s)
{
	size_t pl = sizeof(META_MARKER_PREFIX) - 1;
	return s && strncmp(s, META_MARKER_PREFIX, pl) == 0 && s[pl] && strlen(s) <= STORE_MAX_KEY;
}

/* --- the running part ------------------------------------------------------------------------------- */

struct meta_job {
	struct rest_job rj; /* first: the queue's link (rest.h) */
	struct meta *m;
	int64_t id;
	char *thread, *reply_to, *idem;
	char *parts[META_MAX_PARTS];
	size_t nparts, part;
	int agent;
	time_t last_in;
	char marker[STORE_MAX_KEY + 64];
	int64_t sent_ms; /* when the current request left */
};

struct pair {
	char *thread;
	int strikes;
	int64_t last_ms;
};

struct meta {
	struct connector *c;
	struct loop *loop;
	const struct meta_conf *conf;
	const struct meta_hooks *h;
	void *arg;
	struct webhook *hook;
	char token[CONFIG_SECRET_MAX + 1];
	char api[API_MAX];
	int stopping, closing, timers;
	uv_timer_t signin_timer;
	int signin_running, signin_attempt, signed_in, token_bad;
	time_t started; /* when this process began listening (connector clock) */
	/* Graph API calls, and the queue of replies (a job counts as in
	 * flight from the pump to its outcome). */
	struct rest *rest;
	int throttle_strikes;
	int64_t throttle_at; /* when the last strike was counted (ms) */
	int64_t throttle_logged;
	struct pair pairs[PAIRS_MAX];
	size_t npairs;
	struct metric *m_sends, *m_confirmed, *m_failed_later;
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

struct connector *meta_connector(const struct meta *m)
{
	return m->c;
}

int meta_port(const struct meta *m)
{
	return m ? webhook_port(m->hook) : 0;
}

static int read_token(struct meta *m)
{
	return connector_secret_read(m->c, &m->conf->token, "the access token", m->token, sizeof(m->token));
}

/* A Graph API call: path under the API ("me/messages"), with the token
 * (a Bearer header, or ?access_token= where the type wants it). */
static int api_call(struct meta *m, const char *method, const char *path, const char *json, rest_done_fn done,
                    void *arg)
{
	char p[PATH_MAX_ + 1];
	int n = snprintf(p, sizeof(p), "/%s", path);
	if (n < 0 || (size_t)n >= sizeof(p))
		return -1;
	struct rest_req q = {.method = method, .path = p, .json = json, .max_body = ANSWER_MAX};
	return rest_call(m->rest, &q, done, arg);
}

static void timer_in(struct meta *m, uv_timer_t *t, uv_timer_cb cb, int64_t ms)
{
	if (m->closing || !m->timers)
		return;
	uv_timer_start(t, cb, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* What went wrong with an answer, for logs and the conversation. */
static void describe(const struct http_response *r, const struct meta_error *e, int has_e, char *out,
                     size_t n)
{
	const char *text = has_e ? (e->title[0] ? e->title : e->message) : "";
	if (r->error == HTTP_E_TRANSPORT)
		snprintf(out, n, "%s", r->error_text && *r->error_text ? r->error_text : "network error");
	else if (r->error == HTTP_E_TOO_BIG)
		snprintf(out, n, "answer too large");
	else if (has_e && e->subcode)
		snprintf(out, n, "Meta error %ld/%ld: %s", e->code, e->subcode, text);
	else if (has_e)
		snprintf(out, n, "Meta error %ld: %s", e->code, text);
	else
		snprintf(out, n, "HTTP %ld", r->status);
}

/* --- sign-in ------------------------------------------------------------------------------------------ */

static void signin(struct meta *m);
static void signin_cb(uv_timer_t *t)
{
	signin(t->data);
}

static void token_refused(struct meta *m, const char *where)
{
	if (!m->token_bad)
		log_error("meta: Meta refused the access token (190): make a new system-user token",
		          "connector=%s where=%s retry_in_s=%d", m->c->name, where, META_TOKEN_RETRY_S);
	m->token_bad = 1;
	m->signed_in = 0;
	rest_hold(m->rest, 0); /* replies wait for a token that works */
	connector_fatal(m->c, TOKEN_DETAIL);
	if (!m->signin_running && m->timers && !uv_is_active((uv_handle_t *)&m->signin_timer))
		timer_in(m, &m->signin_timer, signin_cb, META_TOKEN_RETRY_S * 1000L);
}

static void signed_in(struct meta *m, const char *name)
{
	struct buf b;
	quote(&b, name);
	if (!m->signed_in || m->token_bad)
		log_info("meta: token accepted", "connector=%s type=%s as=%s", m->c->name, m->c->ops->type,
		         b.p);
	buf_free(&b);
	m->signed_in = 1;
	m->token_bad = 0;
	m->signin_attempt = 0;
	connector_set_health(m->c, HEALTH_OK, "listening; token accepted");
	rest_hold(m->rest, 1); /* replies held for the token go */
}

static void on_signin(void *ctx, const struct http_response *r, void *arg)
{
	struct meta *m = ctx;
	(void)arg;
	struct meta_error e = {0};
	char d[256], name[128] = "";
	m->signin_running = 0;
	if (r->error == HTTP_E_CANCELLED || m->closing)
		return;
	int has_e = r->error == HTTP_E_NONE && meta_error_parse(r->body, r->body_len, &e);
	enum meta_verdict v =
	    r->error == HTTP_E_NONE ? meta_classify(r->status, has_e ? &e : NULL) : META_RETRY;
	if (v == META_SENT) {
		if (m->h->whoami_name)
			m->h->whoami_name(m->arg, r->body, r->body_len, name, sizeof(name));
		signed_in(m, name[0] ? name : "-");
		return;
	}
	if (v == META_TOKEN) {
		token_refused(m, "sign-in");
		return;
	}
	describe(r, &e, has_e, d, sizeof(d));
	long delay = backoff_ms(m->signin_attempt++, SIGNIN_MIN_MS, SIGNIN_MIN_MS, SIGNIN_MAX_MS);
	struct buf b;
	quote(&b, d);
	log_warn("meta: sign-in check failed: trying again", "connector=%s error=%s in_ms=%ld", m->c->name,
	         b.p, delay);
	buf_free(&b);
	if (v == META_REFUSED) {
		/* A wrong id in the configuration, a missing permission: a person
		 * must look, but it may also pass (a permission granted later). */
		connector_fatal(m->c, d);
	} else if (m->c->health != HEALTH_DOWN) {
		connector_set_health(m->c, HEALTH_DEGRADED, d);
	}
	timer_in(m, &m->signin_timer, signin_cb, delay);
}

static void signin(struct meta *m)
{
	char path[PATH_MAX_];
	if (m->closing || m->signin_running || !m->loop->http)
		return;
	/* The token is read anew each time: a token_file replaced on disk is
	 * picked up without a restart. */
	if (read_token(m) < 0) {
		connector_fatal(m->c, "the access token cannot be read");
		timer_in(m, &m->signin_timer, signin_cb, META_TOKEN_RETRY_S * 1000L);
		return;
	}
	path[0] = '\0';
	m->h->whoami(m->arg, path, sizeof(path));
	m->signin_running = 1;
	if (api_call(m, "GET", path, NULL, on_signin, NULL) < 0) {
		m->signin_running = 0;
		timer_in(m, &m->signin_timer, signin_cb, SIGNIN_MIN_MS);
	}
}

/* --- sending ----------------------------------------------------------------------------------------- */

static void job_free(struct meta_job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j->thread);
	free(j->reply_to);
	free(j->idem);
	free(j);
}

static void step(struct meta_job *j);

/* The job is over (reported, or dropped at teardown): its slot is free. */
static void job_end(struct meta_job *j)
{
	struct meta *m = j->m;
	rest_ended(m->rest);
	job_free(j);
	rest_pump(m->rest);
}

static void job_report(struct meta_job *j, enum send_result r, long retry_after, const char *detail)
{
	struct meta *m = j->m;
	metric_add_l(m->m_sends, 1, m->c->name,
	             r == SEND_OK      ? "sent"
	             : r == SEND_FAIL  ? "failed"
	             : r == SEND_LATER ? "later"
	                               : "retry");
	if (!m->closing)
		connector_send_done(m->c, j->id, r, retry_after, detail);
	job_end(j);
}

static struct pair *pair_find(struct meta *m, const char *thread, int create)
{
	for (size_t i = 0; i < m->npairs; i++)
		if (strcmp(m->pairs[i].thread, thread) == 0)
			return &m->pairs[i];
	if (!create)
		return NULL;
	if (m->npairs == PAIRS_MAX) {
		/* Forget the oldest: its strikes are long past. */
		size_t old = 0;
		for (size_t i = 1; i < m->npairs; i++)
			if (m->pairs[i].last_ms < m->pairs[old].last_ms)
				old = i;
		free(m->pairs[old].thread);
		m->pairs[old] = m->pairs[--m->npairs];
	}
	struct pair *p = &m->pairs[m->npairs++];
	p->thread = xstrdup(thread);
	p->strikes = 0;
	p->last_ms = 0;
	return p;
}

static void pair_clear(struct meta *m, const char *thread)
{
	struct pair *p = pair_find(m, thread, 0);
	if (p) {
		free(p->thread);
		*p = m->pairs[--m->npairs];
	}
}

/* 131056 for thread: 4^n seconds, n the strikes in a row (capped). */
static long pair_wait(struct meta *m, const char *thread)
{
	struct pair *p = pair_find(m, thread, 1);
	if (p->strikes < META_PAIR_MAX_POWER)
		p->strikes++;
	p->last_ms = now_ms();
	long w = 1;
	for (int i = 0; i < p->strikes; i++)
		w *= 4;
	return w;
}

/*
 * A throttle: every reply of the connector waits, longer each time Meta
 * refuses again after a wait.  Requests that were already on their way
 * when the first refusal came (sent before it) are the same burst: they
 * get the same wait, not a longer one each.
 */
static long throttle_wait(struct meta *m, int64_t sent_ms)
{
	int64_t now = now_ms();
	if (m->throttle_strikes == 0 || sent_ms >= m->throttle_at) {
		if (m->throttle_strikes < 10)
			m->throttle_strikes++;
		m->throttle_at = now;
	}
	long w = 1L << (m->throttle_strikes - 1);
	if (w > META_THROTTLE_MAX_S)
		w = META_THROTTLE_MAX_S;
	/* What is left of the current wait, at least. */
	int64_t left = m->c->paused_until_ms - now;
	if (left > w * 1000)
		w = (long)((left + 999) / 1000);
	return w;
}

static void throttled_log(struct meta *m, long wait, const char *d)
{
	int64_t until = now_ms() + wait * 1000;
	if (until - m->throttle_logged < 1000)
		return;
	m->throttle_logged = until;
	struct buf b;
	quote(&b, d);
	log_warn("meta: Meta is throttling replies: every reply waits", "connector=%s wait_s=%ld error=%s",
	         m->c->name, wait, b.p);
	buf_free(&b);
}

static void mark_put(struct meta *m, const char *kind, const char *marker, const char *thread,
                     const char *value)
{
	if (connector_state_put(m->c, kind, marker, thread, value) < 0)
		log_warn("meta: a send mark was not stored", "connector=%s kind=%s", m->c->name, kind);
}

static void next_part(struct meta_job *j)
{
	j->part++;
	if (j->part >= j->nparts) {
		job_report(j, SEND_OK, 0, NULL);
		return;
	}
	step(j);
}

static void on_sent(void *ctx, const struct http_response *r, void *arg)
{
	(void)ctx;
	struct meta_job *j = arg;
	struct meta *m = j->m;
	struct meta_error e = {0};
	char d[384];

	if (r->error == HTTP_E_CANCELLED || m->closing) {
		/* Teardown: the row stays pending; its "try" mark makes the next
		 * process wait for Meta's word before sending it again. */
		job_end(j);
		return;
	}
	int has_e = r->error == HTTP_E_NONE && meta_error_parse(r->body, r->body_len, &e);
	enum meta_verdict v =
	    r->error == HTTP_E_NONE ? meta_classify(r->status, has_e ? &e : NULL) : META_RETRY;
	describe(r, &e, has_e, d, sizeof(d));

	if (v == META_SENT) {
		char value[META_MAX_ID + 64] = "{}";
		json_t *o = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
		const char *id = json_string_value(json_object_get(o, "message_id"));
		if (!id)
			id = json_string_value(
			    json_object_get(json_array_get(json_object_get(o, "messages"), 0), "id"));
		json_t *val = json_pack("{s:s}", "id", id && meta_id_ok(id) ? id : UNKNOWN_ID_TEXT);
		char *vs = val ? json_dumps(val, JSON_COMPACT) : NULL;
		if (vs)
			snprintf(value, sizeof(value), "%s", vs);
		free(vs);
		json_decref(val);
		json_decref(o);
		mark_put(m, SENT_KIND, j->marker, j->thread, value);
		connector_state_delete(m->c, TRY_KIND, j->marker);
		m->throttle_strikes = 0;
		pair_clear(m, j->thread);
		if (m->token_bad || m->c->health != HEALTH_OK)
			signed_in(m, "-");
		next_part(j);
		return;
	}
	/* Refused outright: nothing went out, and the try mark must not make
	 * the next attempt wait for a confirmation that cannot come.  After a
	 * transport error (other than "no connection") or a 5xx the request
	 * may have arrived: the mark stays. */
	int maybe_sent =
	    v == META_RETRY && !(r->error == HTTP_E_TRANSPORT &&
	                         (r->curl_code == 6 || r->curl_code == 7)); /* resolve, connect */
	if (!maybe_sent)
		connector_state_delete(m->c, TRY_KIND, j->marker);
	struct buf q;
	quote(&q, d);
	switch (v) {
	case META_THROTTLED: {
		long w = throttle_wait(m, j->sent_ms);
		throttled_log(m, w, d);
		job_report(j, SEND_RETRY, w, d);
		break;
	}
	case META_PAIR_LIMIT: {
		long w = pair_wait(m, j->thread);
		log_warn("meta: too many replies to one customer (131056): theirs wait",
		         "connector=%s outbox=%lld wait_s=%ld", m->c->name, (long long)j->id, w);
		job_report(j, SEND_LATER, w, d);
		break;
	}
	case META_WINDOW_CLOSED:
		log_warn("meta: reply refused: the customer service window is closed",
		         "connector=%s outbox=%lld error=%s", m->c->name, (long long)j->id, q.p);
		job_report(
		    j, SEND_FAIL, 0,
		    "not sent: Meta accepts replies only within 24 hours of the customer's last message "
		    "(the window is closed)");
		break;
	case META_TOKEN:
		/* Held here, not spent on more refusals: every reply waits for a
		 * token that works (the sign-in check tries again; a restart
		 * with a new token sends them at once). */
		token_refused(m, "send");
		rest_ended(m->rest);
		rest_requeue(m->rest, &j->rj);
		break;
	case META_REFUSED:
		log_warn("meta: reply refused by Meta", "connector=%s outbox=%lld error=%s", m->c->name,
		         (long long)j->id, q.p);
		job_report(j, SEND_FAIL, 0, d);
		break;
	default: job_report(j, SEND_RETRY, 0, d); break;
	}
	buf_free(&q);
}

static void post_part(struct meta_job *j)
{
	struct meta *m = j->m;
	char path[PATH_MAX_], why[256] = "";
	char *body = NULL;
	struct meta_part p = {
	    .thread_key = j->thread,
	    .reply_to = j->reply_to,
	    .text = j->parts[j->part],
	    .marker = j->marker,
	    .agent = j->agent,
	    .last_in = j->last_in,
	    .now = connector_now(m->c),
	};
	path[0] = '\0';
	if (m->h->build(m->arg, &p, path, sizeof(path), &body, why, sizeof(why)) < 0 || !body) {
		free(body);
		connector_state_delete(m->c, TRY_KIND, j->marker);
		job_report(j, SEND_FAIL, 0, why[0] ? why : "the reply cannot be sent");
		return;
	}
	j->sent_ms = now_ms();
	int rc = api_call(m, "POST", path, body, on_sent, j);
	free(body);
	if (rc < 0) {
		connector_state_delete(m->c, TRY_KIND, j->marker);
		job_report(j, SEND_RETRY, 0, "cannot start the request");
	}
}

/* The try mark is durable (or not): the request may go. */
static void try_synced(void *arg, int rc)
{
	struct meta_job *j = arg;
	if (j->m->closing) {
		job_end(j);
		return;
	}
	if (rc != 0) {
		job_report(j, SEND_RETRY, 0, "the attempt could not be recorded");
		return;
	}
	post_part(j);
}

static void try_mark(struct meta_job *j)
{
	struct meta *m = j->m;
	char value[64];
	snprintf(value, sizeof(value), "{\"at\":%lld}", (long long)connector_now(m->c));
	if (connector_state_put(m->c, TRY_KIND, j->marker, j->thread, value) < 0) {
		job_report(j, SEND_RETRY, 0, "the attempt could not be recorded");
		return;
	}
	connector_commit(m->c, try_synced, j);
}

/* An earlier attempt's mark: when it was made, or 0. */
static time_t try_time(const struct store_state *st)
{
	json_t *o = st && st->value ? json_loads(st->value, 0, NULL) : NULL;
	json_int_t at = json_integer_value(json_object_get(o, "at"));
	json_decref(o);
	return at > 0 ? (time_t)at : st ? st->updated : 0;
}

static void got_try(void *arg, int rc, const struct store_state *st)
{
	struct meta_job *j = arg;
	struct meta *m = j->m;
	if (m->closing) {
		job_end(j);
		return;
	}
	if (rc < 0) {
		job_report(j, SEND_RETRY, 0, "the store could not be read");
		return;
	}
	if (rc == 0) {
		/* An earlier attempt whose outcome is unknown: Meta's confirmation
		 * (a status, an echo) may still be on its way. */
		time_t at = try_time(st), now = connector_now(m->c);
		/* It can only arrive while the webhook listens: an attempt made
		 * before this start (the process died with it) waits from the
		 * start, not from the attempt, as Meta redelivers what it could
		 * not deliver meanwhile. */
		time_t from = at > m->started ? at : m->started;
		long wait = (long)(from + m->conf->unconfirmed_wait - now);
		if (wait > 0) {
			log_info(
			    "meta: reply attempted before with no answer: waiting for Meta's confirmation",
			    "connector=%s outbox=%lld wait_s=%ld", m->c->name, (long long)j->id, wait);
			job_report(j, SEND_LATER, wait, "waiting for Meta to confirm an earlier attempt");
			return;
		}
		log_warn("meta: no confirmation of an earlier attempt: sending again (it may show twice)",
		         "connector=%s outbox=%lld waited_s=%ld", m->c->name, (long long)j->id,
		         m->conf->unconfirmed_wait);
	}
	try_mark(j);
}

static void got_sent(void *arg, int rc, const struct store_state *st)
{
	struct meta_job *j = arg;
	struct meta *m = j->m;
	(void)st;
	if (m->closing) {
		job_end(j);
		return;
	}
	if (rc == 0) {
		/* Meta has it already (confirmed, or accepted before a restart). */
		log_info("meta: reply already with Meta: not sent again", "connector=%s outbox=%lld part=%zu",
		         m->c->name, (long long)j->id, j->part);
		next_part(j);
		return;
	}
	if (rc < 0) {
		job_report(j, SEND_RETRY, 0, "the store could not be read");
		return;
	}
	connector_state_get(m->c, TRY_KIND, j->marker, got_try, j);
}

/* The current part: already with Meta?  Else mark and send it. */
static void step(struct meta_job *j)
{
	meta_marker(j->idem, j->part, j->nparts, j->marker, sizeof(j->marker));
	connector_state_get(j->m->c, SENT_KIND, j->marker, got_sent, j);
}

/* The queue gives a job its turn (rest.h): it counts as in flight until
 * its outcome. */
static void job_start(void *ctx, struct rest_job *rj)
{
	struct meta *m = ctx;
	rest_started(m->rest);
	step((struct meta_job *)rj);
}

int meta_send(struct meta *m, const struct outmsg *om, char *const *parts, size_t nparts)
{
	if (!om->idem_key || !*om->idem_key || strlen(om->idem_key) > STORE_MAX_KEY) {
		connector_send_done(m->c, om->id, SEND_FAIL, 0, "unusable idempotency key");
		return 0;
	}
	if (nparts == 0) {
		connector_send_done(m->c, om->id, SEND_FAIL, 0, "empty reply");
		return 0;
	}
	if (m->stopping && m->token_bad) {
		/* Draining with a refused token: the row waits for the next start,
		 * without counting an attempt (a token is not the reply's fault)
		 * and past the drain, so the stop does not offer it again and
		 * again, each time pushing its backoff further out. */
		connector_send_done(m->c, om->id, SEND_LATER, HELD_S, TOKEN_DETAIL);
		return 0;
	}
	struct meta_job *j = xcalloc(1, sizeof(*j));
	j->m = m;
	j->id = om->id;
	j->thread = xstrdup(om->thread_key ? om->thread_key : "");
	j->reply_to = om->reply_to_id ? xstrdup(om->reply_to_id) : NULL;
	j->idem = xstrdup(om->idem_key);
	j->agent = om->from && strcmp(om->from, "agent") == 0;
	j->last_in = om->last_in;
	for (size_t i = 0; i < nparts && i < META_MAX_PARTS; i++)
		j->parts[j->nparts++] = xstrdup(parts[i]);
	rest_queue(m->rest, &j->rj);
	return 0;
}

void meta_confirmed(struct meta *m, struct webhook_batch *b, const char *marker)
{
	if (!meta_marker_ours(marker))
		return;
	metric_add_l(m->m_confirmed, 1, m->c->name);
	mark_put(m, SENT_KIND, marker, NULL, "{\"confirmed\":true}");
	webhook_sync(b);
}

void meta_failed_later(struct meta *m, const char *recipient, const struct meta_error *e)
{
	enum meta_verdict v = meta_classify(400, e);
	char d[384];
	struct buf q;
	snprintf(d, sizeof(d), "Meta error %ld: %s", e->code, e->title[0] ? e->title : e->message);
	quote(&q, d);
	log_warn("meta: Meta reports a reply as not delivered", "connector=%s verdict=%s error=%s",
	         m->c->name, meta_verdict_name(v), q.p);
	buf_free(&q);
	metric_add_l(m->m_failed_later, 1, m->c->name, meta_verdict_name(v));
	if (v == META_THROTTLED) {
		long w = throttle_wait(m, now_ms());
		throttled_log(m, w, d);
		int64_t until = now_ms() + w * 1000;
		if (until > m->c->paused_until_ms)
			m->c->paused_until_ms = until;
	} else if (v == META_TOKEN) {
		token_refused(m, "status");
	} else if (v == META_PAIR_LIMIT && recipient) {
		pair_wait(m, recipient);
	}
}

int meta_deliver(struct meta *m, struct webhook_batch *b, const struct post *p)
{
	(void)m;
	return webhook_deliver(b, p);
}

void meta_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	(void)c;
	webhook_post_done(cookie, a);
}

/* --- best-effort requests ---------------------------------------------------------------------------- */

struct side {
	struct meta *m;
	char what[32];
};

static void on_side(void *ctx, const struct http_response *r, void *arg)
{
	(void)ctx;
	struct side *s = arg;
	struct meta *m = s->m;
	if (r->error != HTTP_E_CANCELLED && !m->closing) {
		struct meta_error e = {0};
		int has_e = r->error == HTTP_E_NONE && meta_error_parse(r->body, r->body_len, &e);
		enum meta_verdict v =
		    r->error == HTTP_E_NONE ? meta_classify(r->status, has_e ? &e : NULL) : META_RETRY;
		if (v == META_TOKEN) {
			token_refused(m, s->what);
		} else if (v != META_SENT) {
			char d[384];
			struct buf q;
			describe(r, &e, has_e, d, sizeof(d));
			quote(&q, d);
			log_warn("meta: request failed", "connector=%s what=%s error=%s", m->c->name, s->what,
			         q.p);
			buf_free(&q);
		}
	}
	free(s);
}

int meta_post(struct meta *m, const char *path, const char *json, const char *what)
{
	if (m->closing || m->stopping)
		return -1;
	struct side *s = xcalloc(1, sizeof(*s));
	s->m = m;
	snprintf(s->what, sizeof(s->what), "%s", what);
	if (api_call(m, "POST", path, json, on_side, s) < 0) {
		free(s);
		return -1;
	}
	return 0;
}

/* --- life cycle -------------------------------------------------------------------------------------------
 */

struct meta *meta_start(struct connector *c, const struct meta_conf *mc, const struct meta_hooks *h,
                        void *arg)
{
	struct meta *m = xcalloc(1, sizeof(*m));
	char secret[CONFIG_SECRET_MAX + 1], verify[CONFIG_SECRET_MAX + 1], err[256];
	struct url_parts u;

	m->c = c;
	m->loop = connector_loop(c);
	m->conf = mc;
	m->h = h;
	m->arg = arg;
	if (!mc->instance || url_parse(mc->instance, &u) < 0) {
		log_error("meta: 'instance' must be the Graph API's address", "connector=%s", c->name);
		free(m);
		return NULL;
	}
	snprintf(m->api, sizeof(m->api), "%s/%s", mc->instance,
	         mc->version ? mc->version : META_DEFAULT_VERSION);
	if (read_token(m) < 0 ||
	    connector_secret_read(c, &mc->app_secret, "the app secret", secret, sizeof(secret)) < 0 ||
	    connector_secret_read(c, &mc->verify_token, "the verify token", verify, sizeof(verify)) < 0) {
		explicit_bzero(m->token, sizeof(m->token));
		explicit_bzero(secret, sizeof(secret));
		free(m);
		return NULL;
	}
	struct webhook_conf wc = {
	    .listen = c->conf->listen,
	    .path = META_WEBHOOK_PATH,
	    .max_connections = mc->max_connections,
	    .connections_per_address = mc->connections_per_address,
	    .trusted_proxies = mc->proxies.trusted,
	    .proxy_forwarded = mc->proxies.forwarded,
	    .secret = secret,
	    .secret_len = strlen(secret),
	    .verify_token = verify,
	};
	struct webhook_ops wo = {.delivery = h->delivery};
	m->hook = webhook_start(c, &wc, &wo, arg, err, sizeof(err));
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(verify, sizeof(verify));
	if (!m->hook) {
		struct buf b;
		quote(&b, err);
		log_error("meta: the webhook cannot listen", "connector=%s listen=%s error=%s", c->name,
		          c->conf->listen ? c->conf->listen : "-", b.p);
		buf_free(&b);
		explicit_bzero(m->token, sizeof(m->token));
		free(m);
		return NULL;
	}
	struct metrics *mx = connector_metrics(c);
	m->m_sends = metrics_counter(mx, "meta_sends_total",
	                             "Replies sent through the Graph API, by connector and outcome.",
	                             "connector,outcome");
	m->m_confirmed =
	    metrics_counter(mx, "meta_confirmations_total",
	                    "Our markers Meta handed back (a status, an echo), by connector.", "connector");
	m->m_failed_later = metrics_counter(
	    mx, "meta_failed_later_total",
	    "Replies Meta reported as not delivered after accepting them, by connector and verdict.",
	    "connector,verdict");
	static const struct rest_ops ro = {.start = job_start};
	struct rest_conf rc = {.label = "meta", .max_inflight = META_MAX_INFLIGHT};
	m->rest = rest_new(c, &rc, &ro, m);
	rest_set_base(m->rest, m->api);
	if (mc->token_in_query)
		rest_set_query_token(m->rest, "access_token", m->token);
	else
		rest_set_bearer(m->rest, m->token);
	uv_timer_init(&m->loop->uv, &m->signin_timer);
	m->signin_timer.data = m;
	m->timers = 1;
	m->started = connector_now(c);
	/* Marks older than any reply window belong to rows long settled. */
	time_t before = connector_now(c) - (time_t)META_STATE_DAYS * 86400;
	connector_state_prune(c, TRY_KIND, before);
	connector_state_prune(c, SENT_KIND, before);
	log_info("meta: webhook listening", "connector=%s type=%s listen=%s port=%d path=%s", c->name,
	         c->ops->type, c->conf->listen, webhook_port(m->hook), META_WEBHOOK_PATH);
	connector_set_health(c, HEALTH_STARTING, "listening; checking the token");
	signin(m);
	return m;
}

void meta_stop(struct meta *m)
{
	if (!m)
		return;
	m->stopping = 1;
	webhook_stop(m->hook);
	if (m->timers)
		uv_timer_stop(&m->signin_timer);
	/* Replies held (by a throttle, for a token) go back to the outbox,
	 * which keeps a throttle's wait with them for the next start; those
	 * held for the token are due at once there (a restart is how a new
	 * token usually arrives). */
	int64_t now = now_ms();
	long secs = m->c->paused_until_ms > now ? (long)((m->c->paused_until_ms - now + 999) / 1000) : 0;
	struct rest_job *rj;
	while ((rj = rest_pop(m->rest))) {
		rest_started(m->rest);
		job_report((struct meta_job *)rj, SEND_LATER, secs > HELD_S ? secs : HELD_S,
		           m->token_bad ? TOKEN_DETAIL : "held by Meta's rate limit");
	}
}

int meta_idle(const struct meta *m)
{
	return !m || rest_idle(m->rest);
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	m->closing = 1;
	webhook_close(m->hook);
	if (m->timers) {
		uv_close((uv_handle_t *)&m->signin_timer, NULL);
		m->timers = 0;
	}
	rest_close(m->rest);
}

void meta_free(struct meta *m)
{
	struct rest_job *rj;
	if (!m)
		return;
	while ((rj = rest_pop(m->rest)))
		job_free((struct meta_job *)rj);
	rest_free(m->rest);
	for (size_t i = 0; i < m->npairs; i++)
		free(m->pairs[i].thread);
	webhook_free(m->hook);
	explicit_bzero(m->token, sizeof(m->token));
	free(m);
}

/* c->priv starts with the connector's struct meta * (meta.h). */
static struct meta *priv_meta(struct connector *c)
{
	struct meta **pm = c->priv;
	return pm ? *pm : NULL;
}

void meta_conn_stop(struct connector *c)
{
	meta_stop(priv_meta(c));
}

int meta_conn_idle(struct connector *c)
{
	return meta_idle(priv_meta(c));
}

void meta_conn_close(struct connector *c)
{
	meta_close(priv_meta(c));
}

void meta_conn_destroy(struct connector *c)
{
	meta_free(priv_meta(c));
	free(c->priv);
	c->priv = NULL;
}
