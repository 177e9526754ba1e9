/*
 * mastodon.c - the Mastodon connector (see mastodon.h for what it does).
 *
 * Three independent machines share one struct mastodon:
 *
 *   boot/stream  verify_credentials -> instance -> notification policy ->
 *                WebSocket (wsclient.h: keepalive, watchdog, reconnects
 *                with backoff); signing in is the first step of every
 *                connection attempt the WebSocket client makes while the
 *                bot is not signed in, so every failure, a 401 included,
 *                goes through the client's one retry path.
 *   catch-up     one page at a time; the next page is fetched only after
 *                every post of this one came back from post_done, so the
 *                cursor never passes a post that is not durable.
 *   sends        a FIFO of reply jobs with at most MASTODON_MAX_INFLIGHT
 *                POSTs; the write rate limit (c->paused_until_ms, which the
 *                outbox honours too) holds the FIFO until the reset.
 *
 * All timers are uv timers (LOOP-NOTES.md: lws timers armed from outside
 * lws callbacks do not fire); lws is only asked for writeable callbacks.
 */
#include "connectors/mastodon/mastodon.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "backoff.h"
#include "config.h"
#include "html2text.h"
#include "http.h"
#include "loop.h"
#include "markup.h"
#include "metrics.h"
#include "outbox.h"
#include "pipeline.h"
#include "store.h"
#include "rest.h"
#include "url.h"
#include "util.h"
#include "wsclient.h"

#define PLATFORM         "mastodon"
#define PROTOCOL_NAME    "frontdesk-mastodon"
#define URL_MAX          2048
#define PING_IDLE_MS     40000 /* silence after which we ping the server */
#define DEAD_MS          95000 /* silence after which the stream is dropped */
#define CATCHUP_BODY_MAX (4u * 1024u * 1024u)
#define STATUS_BODY_MAX  (256u * 1024u)
#define DISPLAY_NAME_MAX 512 /* bytes */
#define USER_AGENT       "frontdesk/" FD_VERSION

/* --- state ------------------------------------------------------------------ */

struct mastodon;

/* One reply (an outbox row) on its way, possibly as several statuses. */
struct ms_job {
	struct rest_job link; /* first: the queue's */
	struct mastodon *ms;
	int64_t id;
	char *parts[MASTODON_MAX_PARTS];
	size_t nparts, next_part;
	char chain[MASTODON_MAX_ID + 1]; /* the status the next part answers */
	char thread[STORE_MAX_KEY + 1];
	char acct[MASTODON_MAX_ACCT + 1];
	char visibility[16];
	char idem[STORE_MAX_KEY + 1];
};

/* How far a half-sent reply got, kept while its row waits in the outbox. */
struct ms_progress {
	struct ms_progress *next;
	int64_t id;
	size_t next_part;
	char chain[MASTODON_MAX_ID + 1];
};

/* A post handed to the daemon, until its post_done. */
struct ms_cookie {
	char id[MASTODON_MAX_ID + 1]; /* notification id */
	int from_catchup;
	uint64_t gen;
};

enum boot_state { BOOT_NONE = 0, BOOT_VERIFY, BOOT_INSTANCE, BOOT_POLICY, BOOT_DONE };

struct mastodon {
	struct connector *c;
	struct loop *loop;
	char token[CONFIG_SECRET_MAX + 1];
	char api[URL_MAX];    /* "https://host[:port]", no trailing slash */
	char stream[URL_MAX]; /* streaming base from the instance, or "" */
	struct wsclient *ws;  /* the stream */

	enum boot_state boot;
	int unauthorized;
	int stopping, closing, timers;
	uv_timer_t catch_timer;

	char self_id[MASTODON_MAX_ID + 1];
	char self_acct[MASTODON_MAX_ACCT + 1];
	size_t max_chars;

	/* catch-up */
	char cursor[MASTODON_MAX_ID + 1];
	char stream_max[MASTODON_MAX_ID + 1]; /* streamed and stored while a gap was open */
	int caught_up;
	struct {
		int running, again, failed, empty, first, fails;
		unsigned outstanding;
		uint64_t gen;
		char page_max[MASTODON_MAX_ID + 1];
		char req_min[MASTODON_MAX_ID + 1];  /* min_id of the page asked for */
		char next_min[MASTODON_MAX_ID + 1]; /* min_id of the next page */
	} cu;
	int64_t read_wait_ms; /* GETs wait until then (rate limit) */
	int read_strikes;

	/* sends (rest.h: the queue, at most MASTODON_MAX_INFLIGHT at a time,
	 * held by the write rate limit) */
	struct rest *rest;
	struct ms_progress *progress;

	struct metric *m_events, *m_limited;
};

static const struct mastodon_conf *ms_conf(const struct mastodon *ms)
{
	return ms->c->conf->settings;
}

/* --- pure helpers (mastodon.h) ------------------------------------------------ */

int mastodon_id_ok(const char *s)
{
	return connector_id_ok(s, MASTODON_MAX_ID);
}

int mastodon_id_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* dst = max(dst, id) */
static void id_max(char *dst, const char *id)
{
	if (mastodon_id_ok(id) && (!*dst || mastodon_id_cmp(id, dst) > 0))
		snprintf(dst, MASTODON_MAX_ID + 1, "%s", id);
}

static int acct_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MASTODON_MAX_ACCT)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      ch == '_' || ch == '-' || ch == '.' || ch == '@'))
			return 0;
	}
	return s[0] != '@';
}

void mastodon_mention_free(struct mastodon_mention *m)
{
	if (!m)
		return;
	free(m->display_name);
	free(m->text);
	m->display_name = NULL;
	m->text = NULL;
}

/* An id member that is a string (Mastodon) or a non-negative integer. */
static int get_id(json_t *o, const char *key, char *out, size_t n)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!mastodon_id_ok(s) || strlen(s) >= n)
			return -1;
		snprintf(out, n, "%s", s);
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	return -1;
}

static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Cut s (malloc'd) to at most max bytes at a UTF-8 boundary. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

static enum mastodon_parse parse_notification(json_t *n, struct mastodon_mention *m, char *err, size_t errn)
{
	memset(m, 0, sizeof(*m));
	if (!json_is_object(n)) {
		snprintf(err, errn, "a notification is not an object");
		return MASTODON_BAD;
	}
	if (get_id(n, "id", m->id, sizeof(m->id)) < 0) {
		snprintf(err, errn, "notification without a valid id");
		return MASTODON_BAD;
	}
	const char *type = get_str(n, "type");
	json_t *st = json_object_get(n, "status");
	if (!type || strcmp(type, "mention") != 0 || !json_is_object(st))
		return MASTODON_OTHER;

	json_t *acc = json_object_get(st, "account");
	if (!json_is_object(acc))
		acc = json_object_get(n, "account");
	if (!json_is_object(acc)) {
		snprintf(err, errn, "mention %s without an account", m->id);
		return MASTODON_BAD;
	}
	const char *acct = get_str(acc, "acct");
	const char *vis = get_str(st, "visibility");
	json_t *irt = json_object_get(st, "in_reply_to_id");
	if (get_id(st, "id", m->status_id, sizeof(m->status_id)) < 0 ||
	    get_id(acc, "id", m->account_id, sizeof(m->account_id)) < 0 || !acct || !acct_ok(acct)) {
		snprintf(err, errn, "mention %s with a malformed status or account", m->id);
		return MASTODON_BAD;
	}
	if (irt && !json_is_null(irt) &&
	    get_id(st, "in_reply_to_id", m->in_reply_to, sizeof(m->in_reply_to)) < 0) {
		snprintf(err, errn, "mention %s with a malformed in_reply_to_id", m->id);
		return MASTODON_BAD;
	}
	snprintf(m->acct, sizeof(m->acct), "%s", acct);
	/* Unknown visibilities (Pleroma's "local", "list") are answered
	 * privately: that always reaches the customer. */
	if (vis && (!strcmp(vis, "public") || !strcmp(vis, "unlisted") || !strcmp(vis, "private") ||
	            !strcmp(vis, "direct")))
		snprintf(m->visibility, sizeof(m->visibility), "%s", vis);
	else
		snprintf(m->visibility, sizeof(m->visibility), "direct");
	m->bot = json_is_true(json_object_get(acc, "bot"));
	const char *created = get_str(st, "created_at");
	if (!created || time_parse_iso(created, &m->created) < 0)
		m->created = time(NULL);
	const char *dn = get_str(acc, "display_name");
	if (dn && *dn) {
		m->display_name = xstrdup(dn);
		cut_utf8(m->display_name, DISPLAY_NAME_MAX);
	}

	json_t *content = json_object_get(st, "content");
	const char *html = json_is_string(content) ? json_string_value(content) : "";
	size_t hl = json_is_string(content) ? json_string_length(content) : 0;
	char *body = html2text(html, hl, POST_MAX_TEXT);
	const char *cw = get_str(st, "spoiler_text");
	if (cw && *cw) {
		char *cwt = html2text(cw, strlen(cw), POST_MAX_TEXT);
		m->text = *body ? xasprintf("%s\n\n%s", cwt, body) : xstrdup(cwt);
		free(cwt);
		free(body);
		cut_utf8(m->text, POST_MAX_TEXT);
	} else {
		m->text = body;
	}
	return MASTODON_MENTION;
}

enum mastodon_parse mastodon_parse_notification(const char *json, size_t len, struct mastodon_mention *m,
                                                char *err, size_t errn)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	json_t *n = json_loadb(json, len, JSON_ALLOW_NUL, &je);
	if (!n) {
		snprintf(err, errn, "notification is not JSON: %s", je.text);
		return MASTODON_BAD;
	}
	enum mastodon_parse r = parse_notification(n, m, err, errn);
	json_decref(n);
	return r;
}

enum mastodon_parse mastodon_parse_frame(const char *frame, size_t len, struct mastodon_mention *m,
                                         char *event, size_t eventn, char *err, size_t errn)
{
	json_error_t je;
	enum mastodon_parse r = MASTODON_OTHER;

	memset(m, 0, sizeof(*m));
	if (event && eventn)
		event[0] = '\0';
	json_t *f = json_loadb(frame, len, JSON_ALLOW_NUL, &je);
	if (!json_is_object(f)) {
		snprintf(err, errn, "stream frame is not a JSON object%s%s", f ? "" : ": ", f ? "" : je.text);
		json_decref(f);
		return MASTODON_BAD;
	}
	const char *ev = get_str(f, "event");
	if (!ev) {
		snprintf(err, errn, "stream frame without an event");
		json_decref(f);
		return MASTODON_BAD;
	}
	if (event && eventn)
		snprintf(event, eventn, "%s", ev);
	if (strcmp(ev, "notification") == 0) {
		json_t *p = json_object_get(f, "payload");
		if (json_is_string(p)) {
			/* The payload is JSON inside a string: parse it again. */
			r = mastodon_parse_notification(json_string_value(p), json_string_length(p), m, err,
			                                errn);
		} else if (json_is_object(p)) {
			r = parse_notification(p, m, err, errn);
		} else {
			snprintf(err, errn, "notification event without a payload");
			r = MASTODON_BAD;
		}
	}
	json_decref(f);
	return r;
}

static int cmp_mention(const void *a, const void *b)
{
	return mastodon_id_cmp(((const struct mastodon_mention *)a)->id,
	                       ((const struct mastodon_mention *)b)->id);
}

long mastodon_parse_page(const char *body, size_t len, struct mastodon_mention **items, size_t *n,
                         char *max_id, size_t max_idn, char *err, size_t errn)
{
	json_error_t je;
	char why[160];

	*items = NULL;
	*n = 0;
	if (max_idn)
		max_id[0] = '\0';
	json_t *a = json_loadb(body, len, JSON_ALLOW_NUL, &je);
	if (!json_is_array(a)) {
		snprintf(err, errn, "notifications page is not a JSON array%s%s", a ? "" : ": ",
		         a ? "" : je.text);
		json_decref(a);
		return -1;
	}
	size_t total = json_array_size(a);
	struct mastodon_mention *out = total ? xcalloc(total, sizeof(*out)) : NULL;
	char top[MASTODON_MAX_ID + 1] = "";
	for (size_t i = 0; i < total; i++) {
		struct mastodon_mention m;
		enum mastodon_parse r = parse_notification(json_array_get(a, i), &m, why, sizeof(why));
		if (m.id[0])
			id_max(top, m.id);
		if (r == MASTODON_MENTION)
			out[(*n)++] = m;
		else
			mastodon_mention_free(&m);
		if (r == MASTODON_BAD)
			log_warn("mastodon: notification skipped", "reason=\"%s\"", why);
	}
	json_decref(a);
	if (*n > 1)
		qsort(out, *n, sizeof(*out), cmp_mention);
	if (!*n) {
		free(out);
		out = NULL;
	}
	*items = out;
	if (max_idn)
		snprintf(max_id, max_idn, "%s", top);
	return (long)total;
}

int mastodon_link_min_id(const char *link, char *out, size_t n)
{
	const char *p = link;
	if (!link)
		return 0;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p != '<')
			return -1;
		const char *ue = strchr(p, '>');
		if (!ue)
			return -1;
		const char *url = p + 1;
		size_t ul = (size_t)(ue - url);
		const char *pe = strchr(ue, ',');
		size_t pl = pe ? (size_t)(pe - ue) : strlen(ue);
		/* Parameters of this link: is one of them rel="prev"? */
		int prev = 0;
		for (const char *q = ue + 1; q < ue + pl;) {
			while (q < ue + pl && (*q == ';' || *q == ' '))
				q++;
			if ((size_t)(ue + pl - q) >= 4 && strncasecmp(q, "rel=", 4) == 0) {
				const char *v = q + 4;
				if (*v == '"')
					v++;
				if ((size_t)(ue + pl - v) >= 4 && strncasecmp(v, "prev", 4) == 0 &&
				    (v + 4 == ue + pl || v[4] == '"' || v[4] == ';' || v[4] == ' '))
					prev = 1;
			}
			while (q < ue + pl && *q != ';')
				q++;
		}
		if (prev) {
			const char *qs = memchr(url, '?', ul);
			for (const char *k = qs; k && k < url + ul;) {
				k++;
				if ((size_t)(url + ul - k) > 7 && strncmp(k, "min_id=", 7) == 0) {
					const char *v = k + 7, *ve = v;
					while (ve < url + ul && *ve != '&')
						ve++;
					size_t vl = (size_t)(ve - v);
					char id[MASTODON_MAX_ID + 1];
					if (vl == 0 || vl > MASTODON_MAX_ID)
						return -1;
					memcpy(id, v, vl);
					id[vl] = '\0';
					if (!mastodon_id_ok(id) || vl >= n)
						return -1;
					memcpy(out, id, vl + 1);
					return 1;
				}
				k = memchr(k, '&', (size_t)(url + ul - k));
			}
			return 0;
		}
		p = ue + pl;
	}
	return 0;
}

static int ascii_word(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

/* Length of a URL starting at s (http:// or https:// after a non-word
 * character), or 0. */
static size_t url_len(const char *s, size_t i)
{
	const unsigned char *u = (const unsigned char *)s;
	if (i > 0 && ascii_word(u[i - 1]))
		return 0;
	size_t k;
	if (strncasecmp(s + i, "https://", 8) == 0)
		k = i + 8;
	else if (strncasecmp(s + i, "http://", 7) == 0)
		k = i + 7;
	else
		return 0;
	if (!u[k] || u[k] <= ' ')
		return 0;
	while (u[k] > ' ')
		k++;
	return k - i;
}

/* A mention at s[i] == '@': its length and the length of its local part
 * ("@user"), or 0. */
static size_t mention_len(const char *s, size_t i, size_t *local)
{
	const unsigned char *u = (const unsigned char *)s;
	if (u[i] != '@' || (i > 0 && (ascii_word(u[i - 1]) || u[i - 1] == '/' || u[i - 1] == '=')))
		return 0;
	size_t k = i + 1;
	while (ascii_word(u[k]) || ((u[k] == '.' || u[k] == '-') && ascii_word(u[k + 1])))
		k++;
	if (k == i + 1)
		return 0;
	*local = k - i;
	if (u[k] == '@' && (ascii_word(u[k + 1]) || u[k + 1] == '-')) {
		size_t d = k + 1;
		while (ascii_word(u[d]) || u[d] == '.' || u[d] == '-')
			d++;
		while (d > k + 1 && (u[d - 1] == '.' || u[d - 1] == '-'))
			d--;
		k = d;
	}
	return k - i;
}

size_t mastodon_status_length(const char *s)
{
	size_t n = 0, local = 0;
	for (size_t i = 0; s[i];) {
		size_t l = url_len(s, i);
		if (l) {
			n += MASTODON_URL_CHARS;
			i += l;
			continue;
		}
		if (s[i] == '@' && (l = mention_len(s, i, &local)) != 0) {
			n += local;
			i += l;
			continue;
		}
		n++;
		i++;
		while (((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
	}
	return n;
}

void mastodon_neutralise(const char *in, struct buf *out)
{
	markup_neutralise(out, MARKUP_MASTODON, in);
}

size_t mastodon_build_reply(const char *acct, const char *text, size_t max_chars, char **parts,
                            size_t max_parts)
{
	struct buf safe;
	char *prefix = xasprintf("@%s ", acct);
	size_t plen = mastodon_status_length(prefix);
	size_t n = 0;

	if (max_parts > MASTODON_MAX_PARTS)
		max_parts = MASTODON_MAX_PARTS;
	if (max_chars == 0)
		max_chars = MASTODON_DEFAULT_MAX_CHARS;
	buf_init(&safe, 0);
	mastodon_neutralise(text ? text : "", &safe);
	size_t budget = max_chars > plen + 20 ? max_chars - plen : 20;
	char *tmp[MASTODON_MAX_PARTS];
	/* outbox_split counts code points; a URL shorter than 23 characters
	 * counts more for the server, so check and shrink until it fits (by at
	 * least a tenth each round, so this ends quickly). */
	for (int round = 0; round < 64; round++) {
		n = outbox_split(safe.p, budget, tmp, max_parts);
		size_t over = 0;
		for (size_t i = 0; i < n; i++) {
			size_t l = mastodon_status_length(tmp[i]) + plen;
			if (l > max_chars && l - max_chars > over)
				over = l - max_chars;
		}
		if (!over || budget <= 10)
			break;
		for (size_t i = 0; i < n; i++)
			free(tmp[i]);
		size_t step = over > budget / 10 ? over : budget / 10;
		budget = budget > step + 10 ? budget - step : 10;
	}
	for (size_t i = 0; i < n; i++) {
		parts[i] = xasprintf("%s%s", prefix, tmp[i]);
		free(tmp[i]);
	}
	buf_free(&safe);
	free(prefix);
	return n;
}

const char *mastodon_reply_visibility(const char *answered, int is_private)
{
	if (!answered || strcmp(answered, "direct") == 0 || is_private)
		return "direct";
	if (!strcmp(answered, "public"))
		return "public";
	if (!strcmp(answered, "unlisted"))
		return "unlisted";
	if (!strcmp(answered, "private"))
		return "private";
	return "direct";
}

int64_t mastodon_rate_wait_ms(const struct http_response *r, int64_t now_ms, int64_t min_wait_ms)
{
	/* A 429 from Mastodon names no Retry-After; a server on 127.0.0.1 may
	 * send no headers at all: then a minute. */
	return rest_wait_until(r, now_ms, min_wait_ms, 60000, 1);
}

/* --- small services ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	return outbox_now_ms();
}

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

static void timer_in(struct mastodon *ms, uv_timer_t *t, uv_timer_cb cb, int64_t ms_from_now)
{
	if (ms->closing || !ms->timers)
		return;
	uv_timer_start(t, cb, ms_from_now > 0 ? (uint64_t)ms_from_now : 0, 0);
}

/* What the connector knows of a status (see status_get). */
struct status_info {
	int found;
	char thread[STORE_MAX_KEY + 1];
	char vis[16];
	char acct[MASTODON_MAX_ACCT + 1];
};

typedef void (*status_fn)(struct mastodon *ms, void *arg, const struct status_info *si);

struct status_read {
	struct mastodon *ms;
	status_fn cb;
	void *arg;
};

static void status_got(void *arg, int rc, const struct store_state *st)
{
	struct status_read *r = arg;
	struct status_info si;
	memset(&si, 0, sizeof(si));
	if (rc == 0 && st->thread_key && strlen(st->thread_key) < sizeof(si.thread)) {
		json_t *o = json_loads(st->value, 0, NULL);
		const char *vis = get_str(o, "visibility"), *acct = get_str(o, "acct");
		if (vis && acct && strlen(vis) < sizeof(si.vis) && acct_ok(acct)) {
			snprintf(si.thread, sizeof(si.thread), "%s", st->thread_key);
			snprintf(si.vis, sizeof(si.vis), "%s", vis);
			snprintf(si.acct, sizeof(si.acct), "%s", acct);
			si.found = 1;
		}
		json_decref(o);
	}
	r->cb(r->ms, r->arg, &si);
	free(r);
}

/*
 * What the connector knows of a status (its connector state, kind
 * "status"): its thread, its visibility and the customer a reply to it
 * addresses.  cb runs once, now or later (the store may answer later), with
 * si->found 0 when nothing usable is known (or id is empty).
 */
static void status_get(struct mastodon *ms, const char *id, status_fn cb, void *arg)
{
	if (!id || !*id) {
		struct status_info none = {0};
		cb(ms, arg, &none);
		return;
	}
	struct status_read *r = xcalloc(1, sizeof(*r));
	r->ms = ms;
	r->cb = cb;
	r->arg = arg;
	connector_state_get(ms->c, "status", id, status_got, r);
}

static void status_set(struct mastodon *ms, const char *id, const char *thread, const char *vis,
                       const char *acct)
{
	json_t *o = json_pack("{s:s, s:s}", "visibility", vis, "acct", acct);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!v || connector_state_put(ms->c, "status", id, thread, v) < 0)
		log_warn("mastodon: status not remembered", "connector=%s status=%s", ms->c->name, id);
	free(v);
	json_decref(o);
}

/* --- health, retries, 401 ------------------------------------------------------------ */

#define UNAUTHORIZED_DETAIL "401 from instance: check the token"

static void catchup_start(struct mastodon *ms);
static void connect_ready(struct mastodon *ms);

/*
 * The instance refused the token: say so clearly (the WebSocket client
 * reports it in /healthz and retries slowly, re-reading the token each
 * time).  A stream still open is closed so that it goes the same way.
 */
static void unauthorized(struct mastodon *ms, const char *where)
{
	if (ms->stopping || ms->closing)
		return;
	ms->unauthorized = 1;
	log_error("mastodon: the instance refused the access token (401): check the token",
	          "connector=%s where=%s instance=%s retry_in_s=%ld", ms->c->name, where, ms->api,
	          MASTODON_UNAUTHORIZED_RETRY_MS / 1000);
	connector_fatal(ms->c, UNAUTHORIZED_DETAIL);
	if (wsclient_is_open(ms->ws))
		wsclient_close_now(ms->ws, 1000, "unauthorized");
}

static int read_token(struct mastodon *ms)
{
	const struct mastodon_conf *mc = ms->c->conf->settings;
	return connector_secret_read(ms->c, &mc->token, "the access token", ms->token, sizeof(ms->token));
}

/* Boot failed: the stream waits (the WebSocket client retries). */
static void boot_failed(struct mastodon *ms, const char *why, enum wsclient_next next, long delay_ms)
{
	ms->boot = BOOT_NONE;
	wsclient_url_failed(ms->ws, why, next, delay_ms);
}

/* --- boot: account, instance, notification policy ------------------------------------- */

static void on_policy(void *ctx, const struct http_response *r, void *arg)
{
	struct mastodon *ms = ctx;
	(void)arg;
	if (r->error == HTTP_E_CANCELLED)
		return;
	if (rest_ok(r)) {
		log_info("mastodon: direct messages from accounts the bot does not follow are accepted",
		         "connector=%s policy=for_private_mentions=accept", ms->c->name);
	} else if (r->error == HTTP_E_NONE && (r->status == 404 || r->status == 405 || r->status == 410)) {
		log_info("mastodon: the server has no notification policy (before Mastodon 4.3): nothing to "
		         "change",
		         "connector=%s status=%ld", ms->c->name, r->status);
	} else if (r->error == HTTP_E_NONE && r->status == 403) {
		log_warn("mastodon: cannot accept direct messages from accounts the bot does not follow: the "
		         "token "
		         "lacks the write:notifications scope",
		         "connector=%s status=403", ms->c->name);
	} else {
		char d[128];
		rest_describe(r, d, sizeof(d));
		log_warn("mastodon: notification policy not changed", "connector=%s error=\"%s\"",
		         ms->c->name, d);
	}
	ms->boot = BOOT_DONE;
	connect_ready(ms);
}

static void set_policy(struct mastodon *ms)
{
	ms->boot = BOOT_POLICY;
	if (rest_api(ms->rest, "PATCH", "/api/v2/notifications/policy",
	             "{\"for_private_mentions\":\"accept\"}", 0, on_policy, NULL) < 0) {
		ms->boot = BOOT_DONE;
		connect_ready(ms);
	}
}

/* Accept a streaming URL named by the instance: TLS, or plain only on
 * loopback (the same rule config.c applies to configured URLs). */
static void take_streaming_url(struct mastodon *ms, const char *url)
{
	struct url_parts u;
	if (!url || !*url)
		return;
	if (url_parse(url, &u) < 0 || (!u.tls && !url_host_is_loopback(u.host))) {
		struct buf b;
		quote(&b, url);
		log_warn("mastodon: streaming address from the instance ignored", "connector=%s url=%s",
		         ms->c->name, b.p);
		buf_free(&b);
		return;
	}
	snprintf(ms->stream, sizeof(ms->stream), "%s", url);
}

static void on_instance(void *ctx, const struct http_response *r, void *arg)
{
	struct mastodon *ms = ctx;
	int v1 = arg != NULL;
	if (r->error == HTTP_E_CANCELLED)
		return;
	if (r->error == HTTP_E_NONE && r->status == 401) {
		unauthorized(ms, "instance");
		boot_failed(ms, UNAUTHORIZED_DETAIL, WSCLIENT_FATAL, 0);
		return;
	}
	if (!v1 && r->error == HTTP_E_NONE && r->status == 404) {
		/* Before Mastodon 4.0 (and some other servers): v1. */
		if (rest_api(ms->rest, "GET", "/api/v1/instance", NULL, 0, on_instance, (void *)1) == 0)
			return;
	}
	if (rest_ok(r)) {
		json_t *o = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
		json_t *conf = json_object_get(o, "configuration");
		json_t *mc = json_object_get(json_object_get(conf, "statuses"), "max_characters");
		if (json_is_integer(mc) && json_integer_value(mc) >= 50 && json_integer_value(mc) <= 1000000)
			ms->max_chars = (size_t)json_integer_value(mc);
		if (!ms_conf(ms)->streaming) {
			const char *su = v1 ? get_str(json_object_get(o, "urls"), "streaming_api")
			                    : get_str(json_object_get(conf, "urls"), "streaming");
			take_streaming_url(ms, su);
		}
		json_decref(o);
	} else {
		char d[128];
		rest_describe(r, d, sizeof(d));
		log_warn("mastodon: instance information unavailable: using defaults",
		         "connector=%s error=\"%s\" "
		         "max_characters=%zu",
		         ms->c->name, d, ms->max_chars);
	}
	log_info("mastodon: instance", "connector=%s instance=%s max_characters=%zu", ms->c->name, ms->api,
	         ms->max_chars);
	set_policy(ms);
}

static void on_verify(void *ctx, const struct http_response *r, void *arg)
{
	struct mastodon *ms = ctx;
	char d[128];
	(void)arg;
	if (r->error == HTTP_E_CANCELLED)
		return;
	if (r->error == HTTP_E_NONE && r->status == 401) {
		unauthorized(ms, "verify_credentials");
		boot_failed(ms, UNAUTHORIZED_DETAIL, WSCLIENT_FATAL, 0);
		return;
	}
	if (r->error == HTTP_E_NONE && r->status == 429) {
		int64_t until = mastodon_rate_wait_ms(r, now_ms(), 1000);
		boot_failed(ms, "rate limited by the instance", WSCLIENT_RETRY, (long)(until - now_ms()));
		return;
	}
	if (!rest_ok(r)) {
		char why[192];
		rest_describe(r, d, sizeof(d));
		snprintf(why, sizeof(why), "cannot reach the instance: %s", d);
		boot_failed(ms, why, WSCLIENT_RETRY, 0);
		return;
	}
	json_t *o = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
	const char *acct = get_str(o, "acct");
	if (get_id(o, "id", ms->self_id, sizeof(ms->self_id)) < 0 || !acct || !acct_ok(acct)) {
		json_decref(o);
		boot_failed(ms, "unexpected answer to verify_credentials", WSCLIENT_RETRY, 0);
		return;
	}
	snprintf(ms->self_acct, sizeof(ms->self_acct), "%s", acct);
	json_decref(o);
	if (ms->unauthorized)
		log_info("mastodon: the instance accepts the token again", "connector=%s", ms->c->name);
	ms->unauthorized = 0;
	log_info("mastodon: signed in", "connector=%s account=@%s id=%s", ms->c->name, ms->self_acct,
	         ms->self_id);
	ms->boot = BOOT_INSTANCE;
	if (rest_api(ms->rest, "GET", "/api/v2/instance", NULL, 0, on_instance, NULL) < 0)
		set_policy(ms);
}

/* Sign in again: the account, the instance's limits, the policy. */
static void boot_begin(struct mastodon *ms)
{
	/* After a 401 the token may have been replaced in its file. */
	if (ms->unauthorized) {
		if (read_token(ms) < 0) {
			boot_failed(ms, "cannot read the token", WSCLIENT_FATAL, 0);
			return;
		}
		wsclient_set_bearer(ms->ws, ms->token);
	}
	ms->boot = BOOT_VERIFY;
	if (rest_api(ms->rest, "GET", "/api/v1/accounts/verify_credentials", NULL, 0, on_verify, NULL) < 0)
		boot_failed(ms, "cannot start a request", WSCLIENT_RETRY, 0);
}

/* --- the stream -------------------------------------------------------------------- */

static int deliver(struct mastodon *ms, struct mastodon_mention *m, int from_catchup);

static void stream_frame(struct mastodon *ms, const char *data, size_t len)
{
	struct mastodon_mention m;
	char event[64], err[256];
	enum mastodon_parse r = mastodon_parse_frame(data, len, &m, event, sizeof(event), err, sizeof(err));
	if (r == MASTODON_MENTION) {
		metric_add_l(ms->m_events, 1, ms->c->name, "mention");
		deliver(ms, &m, 0);
	} else if (r == MASTODON_BAD) {
		metric_add_l(ms->m_events, 1, ms->c->name, "bad");
		struct buf b;
		quote(&b, err);
		log_warn("mastodon: stream frame dropped", "connector=%s reason=%s", ms->c->name, b.p);
		buf_free(&b);
		/* It may have been a mention: fetch what the stream lost. */
		if (strcmp(event, "notification") == 0) {
			ms->caught_up = 0;
			catchup_start(ms);
		}
	} else {
		metric_add_l(ms->m_events, 1, ms->c->name, "other");
		log_debug("mastodon: stream event", "connector=%s event=%s", ms->c->name,
		          event[0] ? event : "-");
	}
	mastodon_mention_free(&m);
}

/* The streaming URL: configured, else named by the instance, else the
 * instance's own host; /api/v1/streaming?stream=user:notification added
 * unless the URL already has them.  0, or -1. */
static int stream_url(struct mastodon *ms, char *out, size_t n)
{
	const char *base = ms_conf(ms)->streaming ? ms_conf(ms)->streaming
	                   : ms->stream[0]        ? ms->stream
	                                          : ms->api;
	struct url_parts u;
	char host[URL_HOST_MAX + 16];
	if (url_parse(base, &u) < 0)
		return -1;
	char *q = strchr(u.path, '?');
	size_t pl = q ? (size_t)(q - u.path) : strlen(u.path);
	while (pl > 0 && u.path[pl - 1] == '/')
		pl--;
	int has_endpoint = pl >= 17 && strncmp(u.path + pl - 17, "/api/v1/streaming", 17) == 0;
	int has_stream = q && (strstr(q, "?stream=") || strstr(q, "&stream="));
	url_host_port(&u, host, sizeof(host));
	int k = snprintf(out, n, "%s://%s%.*s%s%s%s%s", u.tls ? "wss" : "ws", host, (int)pl, u.path,
	                 has_endpoint ? "" : "/api/v1/streaming", q ? q : "",
	                 has_stream ? ""
	                 : q        ? "&"
	                            : "?",
	                 has_stream ? "" : "stream=user:notification");
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* Signed in: the stream may connect. */
static void connect_ready(struct mastodon *ms)
{
	char url[WSCLIENT_URL_MAX];
	if (stream_url(ms, url, sizeof(url)) < 0) {
		log_error("mastodon: unusable streaming address", "connector=%s", ms->c->name);
		wsclient_url_failed(ms->ws, "unusable streaming address", WSCLIENT_RETRY, 0);
		return;
	}
	wsclient_connect_url(ms->ws, url);
}

/* wsclient: the address of the next attempt (signing in first when needed). */
static enum wsclient_url ws_url(void *arg, char *url, size_t n)
{
	struct mastodon *ms = arg;
	if (ms->unauthorized || ms->boot != BOOT_DONE) {
		boot_begin(ms);
		return WSCLIENT_URL_PENDING;
	}
	if (stream_url(ms, url, n) < 0) {
		snprintf(url, n, "unusable streaming address");
		return WSCLIENT_URL_FAILED;
	}
	return WSCLIENT_URL_READY;
}

static void ws_open(void *arg)
{
	struct mastodon *ms = arg;
	ms->unauthorized = 0;
	connector_set_health(ms->c, HEALTH_OK, "streaming");
	log_info("mastodon: stream connected", "connector=%s", ms->c->name);
	/* What happened while the stream was away comes over REST. */
	ms->caught_up = 0;
	catchup_start(ms);
}

static void ws_message(void *arg, const char *data, size_t len, int binary)
{
	(void)binary;
	stream_frame(arg, data, len);
}

/* A message too large to keep may have been a mention. */
static void ws_lost(void *arg)
{
	struct mastodon *ms = arg;
	ms->caught_up = 0;
	catchup_start(ms);
}

static enum wsclient_next ws_closed(void *arg, const struct wsclient_close *c, char *detail, size_t n)
{
	struct mastodon *ms = arg;
	ms->caught_up = 0;
	if (c->http_status == 401 || ms->unauthorized) {
		if (!ms->unauthorized)
			unauthorized(ms, "streaming");
		snprintf(detail, n, "%s", UNAUTHORIZED_DETAIL);
		return WSCLIENT_FATAL;
	}
	if (c->was_open && !c->by_us)
		snprintf(detail, n, "stream lost");
	/* A stream that keeps failing must not hide mentions: catch up over
	 * REST at the pace of the reconnects. */
	catchup_start(ms);
	return wsclient_policy_default(c, detail, n);
}

static const struct wsclient_ops ws_ops = {
    .url = ws_url,
    .open = ws_open,
    .message = ws_message,
    .lost = ws_lost,
    .closed = ws_closed,
};

/* --- intake ---------------------------------------------------------------------- */

static void cursor_advance(struct mastodon *ms, const char *id)
{
	if (!mastodon_id_ok(id) || (ms->cursor[0] && mastodon_id_cmp(id, ms->cursor) <= 0))
		return;
	snprintf(ms->cursor, sizeof(ms->cursor), "%s", id);
	connector_cursor_set(ms->c, ms->cursor);
}

static void ms_post_done(struct connector *c, void *cookie, const struct post_ack *a);

/* A mention on its way to the daemon while its thread is looked up. */
struct intake {
	struct mastodon_mention m; /* a copy (text and name owned) */
	int from_catchup;
	uint64_t gen;
	int in_call; /* still inside deliver(): a refusal is its return value */
	int refused;
	int done; /* handed over (or refused): freed by whoever comes last */
};

static void intake_free(struct intake *in)
{
	mastodon_mention_free(&in->m);
	free(in);
}

static void intake_done(struct intake *in)
{
	in->done = 1;
	if (!in->in_call)
		intake_free(in);
}

/* The thread is known: remember the status, hand the post over. */
static void intake_post(struct mastodon *ms, struct intake *in, const char *thread)
{
	struct mastodon_mention *m = &in->m;
	char handle[MASTODON_MAX_ACCT + 2];
	snprintf(handle, sizeof(handle), "@%s", m->acct);
	struct post p = {
	    .platform = PLATFORM,
	    .connector = ms->c->name,
	    .post_id = m->status_id,
	    .thread_key = thread,
	    .reply_to_id = m->status_id,
	    .author_id = m->account_id,
	    .author_handle = handle,
	    .author_name = m->display_name,
	    .channel = ms->c->conf->channel,
	    .text = m->text ? m->text : "",
	    .author_is_bot = m->bot,
	    .is_self = 0,
	    .is_public = strcmp(m->visibility, "direct") != 0,
	    .created = m->created,
	};
	struct ms_cookie *k = xcalloc(1, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "%s", m->id);
	k->from_catchup = in->from_catchup;
	k->gen = in->gen;
	if (ms->stopping || ms->closing || connector_deliver_post(ms->c, &p, k) < 0) {
		if (in->in_call) {
			in->refused = 1; /* deliver() returns -1: no post_done follows */
			free(k);
		} else if (!ms->closing) {
			/* deliver() promised a post_done: say it was not stored. */
			struct post_ack a = {.status = POST_FAILED};
			ms_post_done(ms->c, k, &a);
		} else {
			free(k);
		}
	}
}

static void intake_parent(struct mastodon *ms, void *arg, const struct status_info *si)
{
	struct intake *in = arg;
	const char *thread = si->found ? si->thread : in->m.in_reply_to;
	status_set(ms, in->m.status_id, thread, in->m.visibility, in->m.acct);
	intake_post(ms, in, thread);
	intake_done(in);
}

/* What is known of the status itself: a status seen before keeps the
 * thread it was filed under; else the root of the reply chain where it is
 * known (its parent's thread), or the parent, or the status itself. */
static void intake_status(struct mastodon *ms, void *arg, const struct status_info *si)
{
	struct intake *in = arg;
	if (si->found) {
		intake_post(ms, in, si->thread);
	} else if (in->m.in_reply_to[0]) {
		status_get(ms, in->m.in_reply_to, intake_parent, in);
		return;
	} else {
		status_set(ms, in->m.status_id, in->m.status_id, in->m.visibility, in->m.acct);
		intake_post(ms, in, in->m.status_id);
	}
	intake_done(in);
}

/*
 * Hand one mention to the daemon: 1 when a post_done will follow (the
 * thread may still be looked up in the store), 0 when it is skipped on
 * purpose (the bot's own status), -1 when the daemon refused it at once (it
 * is stopping): a catch-up must not move past it then.  The status is
 * remembered (thread, visibility, author) in the same transaction as the
 * post.
 */
static int deliver(struct mastodon *ms, struct mastodon_mention *m, int from_catchup)
{
	if (ms->stopping || ms->closing)
		return -1;
	if (ms->self_id[0] && strcmp(m->account_id, ms->self_id) == 0) {
		metric_add_l(ms->m_events, 1, ms->c->name, "self");
		log_debug("mastodon: own status ignored", "connector=%s status=%s", ms->c->name,
		          m->status_id);
		return 0;
	}
	struct intake *in = xcalloc(1, sizeof(*in));
	in->m = *m;
	in->m.display_name = m->display_name ? xstrdup(m->display_name) : NULL;
	in->m.text = m->text ? xstrdup(m->text) : NULL;
	in->from_catchup = from_catchup;
	in->gen = ms->cu.gen;
	in->in_call = 1;
	status_get(ms, m->status_id, intake_status, in);
	/* Answered at once (SQLite): finished here.  Else the last callback
	 * frees it, and a refusal then comes as a failed post_done. */
	int rc = in->refused ? -1 : 1;
	in->in_call = 0;
	if (in->done)
		intake_free(in);
	return rc;
}

static void catch_timer_cb(uv_timer_t *t)
{
	catchup_start(t->data);
}

static void catchup_failed(struct mastodon *ms, const char *why)
{
	ms->cu.running = 0;
	if (ms->cu.fails < 30)
		ms->cu.fails++;
	long d = backoff_ms(ms->cu.fails, MASTODON_BACKOFF_MIN_MS, MASTODON_BACKOFF_MIN_MS,
	                    MASTODON_BACKOFF_MAX_MS - MASTODON_BACKOFF_MIN_MS);
	struct buf b;
	quote(&b, why);
	log_warn("mastodon: catch-up failed: will retry", "connector=%s reason=%s in_ms=%ld", ms->c->name,
	         b.p, d);
	buf_free(&b);
	timer_in(ms, &ms->catch_timer, catch_timer_cb, d);
}

static void fetch_page(struct mastodon *ms, const char *min_id);

/* Every post of the page came back from the daemon (or there was none). */
static void page_finished(struct mastodon *ms)
{
	if (ms->cu.failed) {
		catchup_failed(ms, "a post was not stored");
		return;
	}
	if (ms->cu.page_max[0])
		cursor_advance(ms, ms->cu.page_max);
	if (ms->cu.empty || ms->cu.first) {
		/* Caught up: streamed posts stored meanwhile may move the
		 * cursor now, and later ones at once. */
		ms->cu.running = 0;
		ms->cu.fails = 0;
		ms->caught_up = 1;
		if (ms->stream_max[0])
			cursor_advance(ms, ms->stream_max);
		ms->stream_max[0] = '\0';
		if (ms->cu.again) {
			ms->cu.again = 0;
			catchup_start(ms);
		}
		return;
	}
	if (ms->stopping || ms->closing) {
		ms->cu.running = 0;
		return;
	}
	fetch_page(ms, ms->cu.next_min);
}

static void on_page(void *ctx, const struct http_response *r, void *arg)
{
	struct mastodon *ms = ctx;
	uint64_t gen = (uint64_t)(uintptr_t)arg;
	char err[256], max_id[MASTODON_MAX_ID + 1];
	struct mastodon_mention *items = NULL;
	size_t n = 0;

	if (r->error == HTTP_E_CANCELLED || gen != ms->cu.gen || !ms->cu.running)
		return;
	if (ms->stopping || ms->closing) {
		ms->cu.running = 0;
		return;
	}
	int64_t now = now_ms();
	if (r->error == HTTP_E_NONE && r->status == 429) {
		if (ms->read_strikes < 6)
			ms->read_strikes++;
		ms->read_wait_ms = mastodon_rate_wait_ms(r, now, 1000L << (ms->read_strikes - 1));
		metric_add_l(ms->m_limited, 1, ms->c->name);
		log_warn("mastodon: rate limited: catch-up waits for the reset", "connector=%s wait_ms=%lld",
		         ms->c->name, (long long)(ms->read_wait_ms - now));
		ms->cu.running = 0;
		timer_in(ms, &ms->catch_timer, catch_timer_cb, ms->read_wait_ms - now);
		return;
	}
	ms->read_strikes = 0;
	int64_t wait = r->error == HTTP_E_NONE ? mastodon_rate_wait_ms(r, now, 0) : 0;
	if (wait > now)
		ms->read_wait_ms = wait;
	if (r->error == HTTP_E_NONE && r->status == 401) {
		ms->cu.running = 0;
		unauthorized(ms, "notifications");
		return;
	}
	if (!rest_ok(r)) {
		rest_describe(r, err, sizeof(err));
		catchup_failed(ms, err);
		return;
	}
	long total =
	    mastodon_parse_page(r->body, r->body_len, &items, &n, max_id, sizeof(max_id), err, sizeof(err));
	if (total < 0) {
		catchup_failed(ms, err);
		return;
	}
	snprintf(ms->cu.page_max, sizeof(ms->cu.page_max), "%s", max_id);
	/* The next page: where the Link header's rel="prev" points, as long as
	 * that moves forward and skips nothing of this page; else from the
	 * newest id of this page. */
	char link_min[MASTODON_MAX_ID + 1];
	snprintf(ms->cu.next_min, sizeof(ms->cu.next_min), "%s", max_id);
	if (mastodon_link_min_id(r->link, link_min, sizeof(link_min)) == 1 &&
	    mastodon_id_cmp(link_min, ms->cu.req_min) > 0 && mastodon_id_cmp(link_min, max_id) <= 0)
		snprintf(ms->cu.next_min, sizeof(ms->cu.next_min), "%s", link_min);
	ms->cu.empty = total == 0;
	ms->cu.failed = 0;
	ms->cu.outstanding = 0;
	if (ms->cu.first) {
		/* First start: begin at the newest mention, answer nothing older. */
		if (!max_id[0])
			snprintf(ms->cu.page_max, sizeof(ms->cu.page_max), "0");
		log_info("mastodon: first start: mentions from now on are answered", "connector=%s cursor=%s",
		         ms->c->name, ms->cu.page_max);
	} else {
		for (size_t i = 0; i < n; i++) {
			metric_add_l(ms->m_events, 1, ms->c->name, "catchup");
			int rc = deliver(ms, &items[i], 1);
			if (rc > 0)
				ms->cu.outstanding++;
			else if (rc < 0)
				ms->cu.failed = 1;
		}
		if (n)
			log_info("mastodon: catch-up page", "connector=%s mentions=%zu delivered=%u",
			         ms->c->name, n, ms->cu.outstanding);
	}
	for (size_t i = 0; i < n; i++)
		mastodon_mention_free(&items[i]);
	free(items);
	if (!ms->cu.outstanding)
		page_finished(ms);
}

/* GET the page after min_id (or, without one, on a first start, the
 * newest mention). */
static void fetch_page(struct mastodon *ms, const char *min_id)
{
	char path[256];
	int64_t now = now_ms();

	if (ms->read_wait_ms > now) {
		ms->cu.running = 0;
		timer_in(ms, &ms->catch_timer, catch_timer_cb, ms->read_wait_ms - now);
		return;
	}
	ms->cu.first = !min_id[0];
	snprintf(ms->cu.req_min, sizeof(ms->cu.req_min), "%s", min_id);
	if (ms->cu.first)
		snprintf(path, sizeof(path), "/api/v1/notifications?types%%5B%%5D=mention&limit=1");
	else
		snprintf(path, sizeof(path), "/api/v1/notifications?types%%5B%%5D=mention&limit=%d&min_id=%s",
		         MASTODON_PAGE_LIMIT, min_id);
	if (rest_api(ms->rest, "GET", path, NULL, CATCHUP_BODY_MAX, on_page, (void *)(uintptr_t)ms->cu.gen) <
	    0)
		catchup_failed(ms, "cannot start the request");
}

static void catchup_start(struct mastodon *ms)
{
	if (ms->stopping || ms->closing || ms->boot != BOOT_DONE)
		return;
	if (ms->cu.running) {
		ms->cu.again = 1;
		return;
	}
	if (ms->timers)
		uv_timer_stop(&ms->catch_timer);
	ms->cu.running = 1;
	ms->cu.again = 0;
	ms->cu.gen++;
	fetch_page(ms, ms->cursor);
}

static void ms_post_done(struct connector *c, void *cookie, const struct post_ack *a)
{
	struct mastodon *ms = c->priv;
	struct ms_cookie *k = cookie;
	int ok = a->status != POST_FAILED;

	if (k->from_catchup) {
		if (ms->cu.running && k->gen == ms->cu.gen && ms->cu.outstanding) {
			if (!ok)
				ms->cu.failed = 1;
			if (--ms->cu.outstanding == 0)
				page_finished(ms);
		}
	} else if (!ok) {
		/* Not stored: the catch-up from the cursor fetches it again. */
		ms->caught_up = 0;
		catchup_start(ms);
	} else if (ms->caught_up && !ms->cu.running) {
		cursor_advance(ms, k->id);
	} else {
		id_max(ms->stream_max, k->id);
	}
	free(k);
}

/* --- replies ------------------------------------------------------------------------ */

static void job_free(struct ms_job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j);
}

static struct ms_progress *progress_find(struct mastodon *ms, int64_t id, int unlink)
{
	for (struct ms_progress **pp = &ms->progress; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct ms_progress *p = *pp;
			if (unlink)
				*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void progress_drop(struct mastodon *ms, int64_t id)
{
	free(progress_find(ms, id, 1));
}

static void progress_keep(struct mastodon *ms, const struct ms_job *j)
{
	if (j->next_part == 0) {
		progress_drop(ms, j->id);
		return;
	}
	struct ms_progress *p = progress_find(ms, j->id, 0);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->id = j->id;
		p->next = ms->progress;
		ms->progress = p;
	}
	p->next_part = j->next_part;
	snprintf(p->chain, sizeof(p->chain), "%s", j->chain);
}

/* Give the row back to the outbox to be retried (progress kept). */
static void job_retry(struct mastodon *ms, struct ms_job *j, long retry_after, const char *detail)
{
	progress_keep(ms, j);
	connector_send_done(ms->c, j->id, SEND_RETRY, retry_after, detail);
	job_free(j);
}

static void post_part(struct mastodon *ms, struct ms_job *j);

/* The queue's start: post the next part of the reply. */
static void job_start(void *ctx, struct rest_job *link)
{
	post_part(ctx, (struct ms_job *)link);
}

static void on_posted(void *ctx, const struct http_response *r, void *arg)
{
	struct mastodon *ms = ctx;
	struct ms_job *j = arg;
	char d[192];

	rest_ended(ms->rest);
	if (r->error == HTTP_E_CANCELLED) {
		/* Teardown: the row stays pending in the store. */
		job_free(j);
		return;
	}
	if (rest_note_limits(ms->rest, r)) {
		/* A rate-limited reply waits; it does not count as a failure. */
		rest_requeue(ms->rest, &j->link);
		rest_pump(ms->rest);
		return;
	}

	if (rest_ok(r)) {
		char id[MASTODON_MAX_ID + 1] = "";
		json_t *o = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
		if (get_id(o, "id", id, sizeof(id)) == 0) {
			status_set(ms, id, j->thread, j->visibility, j->acct);
			snprintf(j->chain, sizeof(j->chain), "%s", id);
		} else {
			log_warn("mastodon: status posted but its id is unreadable",
			         "connector=%s outbox=%lld", ms->c->name, (long long)j->id);
		}
		json_decref(o);
		j->next_part++;
		if (j->next_part < j->nparts) {
			rest_requeue(ms->rest, &j->link);
		} else {
			log_debug("mastodon: reply posted", "connector=%s outbox=%lld status=%s parts=%zu",
			          ms->c->name, (long long)j->id, id, j->nparts);
			progress_drop(ms, j->id);
			connector_send_done(ms->c, j->id, SEND_OK, 0, NULL);
			job_free(j);
		}
	} else if (r->error != HTTP_E_NONE || r->status >= 500 || r->status == 408) {
		rest_describe(r, d, sizeof(d));
		job_retry(ms, j, 0, d);
	} else if (r->status == 401) {
		unauthorized(ms, "statuses");
		job_retry(ms, j, MASTODON_UNAUTHORIZED_RETRY_MS / 1000, "401 from instance: check the token");
	} else {
		/* 404 (the status answered is gone), 422 (refused): final. */
		json_t *o = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
		const char *e = get_str(o, "error");
		snprintf(d, sizeof(d), "HTTP %ld: %.150s", r->status, e ? e : "refused");
		json_decref(o);
		progress_drop(ms, j->id);
		connector_send_done(ms->c, j->id, SEND_FAIL, 0, d);
		job_free(j);
	}
	rest_pump(ms->rest);
}

static void post_part(struct mastodon *ms, struct ms_job *j)
{
	char key[STORE_MAX_KEY + 64];
	const char *headers[2] = {key, NULL};

	if (j->next_part == 0)
		snprintf(key, sizeof(key), "Idempotency-Key: %s", j->idem);
	else
		snprintf(key, sizeof(key), "Idempotency-Key: %s-%zu", j->idem, j->next_part);
	json_t *o = json_pack("{s:s, s:s}", "status", j->parts[j->next_part], "visibility", j->visibility);
	if (o && j->chain[0])
		json_object_set_new(o, "in_reply_to_id", json_string(j->chain));
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body) {
		/* Only text that is not UTF-8 gets here: it never will be. */
		progress_drop(ms, j->id);
		connector_send_done(ms->c, j->id, SEND_FAIL, 0, "the reply is not valid UTF-8");
		job_free(j);
		return;
	}
	struct rest_req req = {
	    .method = "POST",
	    .path = "/api/v1/statuses",
	    .json = body,
	    .headers = headers,
	    .max_body = STATUS_BODY_MAX,
	};
	rest_started(ms->rest);
	if (rest_call(ms->rest, &req, on_posted, j) < 0) {
		rest_ended(ms->rest);
		job_retry(ms, j, 0, "cannot start the request");
	}
	free(body);
}

/* A reply waiting for what the store knows of the status it answers. */
struct send_req {
	int64_t id;
	int is_private;
	char *thread_key, *text, *idem, *reply_to;
};

static void send_req_free(struct send_req *q)
{
	free(q->thread_key);
	free(q->text);
	free(q->idem);
	free(q->reply_to);
	free(q);
}

/* The status a reply answers is known (or not): queue the reply. */
static void send_known(struct mastodon *ms, void *arg, const struct status_info *si)
{
	struct send_req *q = arg;
	struct connector *c = ms->c;
	if (ms->closing) {
		/* Teardown: the row stays pending for the next start. */
		send_req_free(q);
		return;
	}
	if (!si->found) {
		log_warn("mastodon: reply to a status this connector does not know: not sent",
		         "connector=%s outbox=%lld", c->name, (long long)q->id);
		connector_send_done(c, q->id, SEND_FAIL, 0, "the status it answers is unknown");
		send_req_free(q);
		return;
	}
	/* "Take it offline" is the pipeline's: a private row goes direct (its
	 * public pointer, when there is one, was a row of its own). */
	const char *v = mastodon_reply_visibility(si->vis, q->is_private);

	struct ms_job *j = xcalloc(1, sizeof(*j));
	j->ms = ms;
	j->id = q->id;
	snprintf(j->thread, sizeof(j->thread), "%s", q->thread_key);
	snprintf(j->acct, sizeof(j->acct), "%s", si->acct);
	snprintf(j->visibility, sizeof(j->visibility), "%s", v);
	snprintf(j->idem, sizeof(j->idem), "%s", q->idem);
	snprintf(j->chain, sizeof(j->chain), "%s", q->reply_to);
	j->nparts = mastodon_build_reply(si->acct, q->text, ms->max_chars, j->parts, MASTODON_MAX_PARTS);
	if (j->nparts == 0) {
		job_free(j);
		connector_send_done(c, q->id, SEND_FAIL, 0, "empty reply");
		send_req_free(q);
		return;
	}
	struct ms_progress *p = progress_find(ms, q->id, 0);
	if (p && p->next_part < j->nparts) {
		j->next_part = p->next_part;
		snprintf(j->chain, sizeof(j->chain), "%s", p->chain);
	}
	send_req_free(q);
	rest_queue(ms->rest, &j->link);
}

/* A reply: what is known of the status it answers comes from the store,
 * now or later; the outcome is reported with connector_send_done. */
static int ms_send(struct connector *c, const struct outmsg *m)
{
	struct mastodon *ms = c->priv;
	if (!m->reply_to_id || !*m->reply_to_id) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "the status it answers is unknown");
		return 0;
	}
	if (!connector_idem_ok(m->idem_key)) {
		connector_send_done(c, m->id, SEND_FAIL, 0, "unusable idempotency key");
		return 0;
	}
	struct send_req *q = xcalloc(1, sizeof(*q));
	q->id = m->id;
	q->is_private = m->is_private;
	q->thread_key = xstrdup(m->thread_key ? m->thread_key : "");
	q->text = xstrdup(m->text ? m->text : "");
	q->idem = xstrdup(m->idem_key);
	q->reply_to = xstrdup(m->reply_to_id);
	status_get(ms, m->reply_to_id, send_known, q);
	return 0;
}

/* --- connector ops ------------------------------------------------------------------ */

static int ms_idle(struct connector *c)
{
	struct mastodon *ms = c->priv;
	return !ms || rest_idle(ms->rest);
}

/* Replies held by a rate limit go back to the outbox, which keeps them
 * for the next start. */
static void give_back(void *ctx, struct rest_job *link, long secs)
{
	job_retry(ctx, (struct ms_job *)link, secs, "rate limited until the reset");
}

static void ms_stop(struct connector *c)
{
	struct mastodon *ms = c->priv;
	if (!ms)
		return;
	ms->stopping = 1;
	if (ms->timers)
		uv_timer_stop(&ms->catch_timer);
	wsclient_stop(ms->ws);
	rest_stop(ms->rest, give_back);
}

static void ms_close(struct connector *c)
{
	struct mastodon *ms = c->priv;
	if (!ms)
		return;
	ms->closing = 1;
	if (ms->timers) {
		uv_close((uv_handle_t *)&ms->catch_timer, NULL);
		ms->timers = 0;
	}
	rest_close(ms->rest);
	wsclient_close(ms->ws);
}

static void ms_destroy(struct connector *c)
{
	struct mastodon *ms = c->priv;
	struct rest_job *j;
	if (!ms)
		return;
	while (ms->rest && (j = rest_pop(ms->rest)))
		job_free((struct ms_job *)j);
	rest_free(ms->rest);
	while (ms->progress) {
		struct ms_progress *p = ms->progress;
		ms->progress = p->next;
		free(p);
	}
	wsclient_free(ms->ws);
	explicit_bzero(ms->token, sizeof(ms->token));
	free(ms);
	c->priv = NULL;
}

/* The stored catch-up cursor is known (now or later): begin. */
static void cursor_read(void *arg, int rc, const char *value)
{
	struct mastodon *ms = arg;
	struct connector *c = ms->c;
	if (rc == 0)
		snprintf(ms->cursor, sizeof(ms->cursor), "%s", value);
	if (rc == 0 && !mastodon_id_ok(ms->cursor)) {
		log_warn("mastodon: stored cursor is not an id: starting from the newest mention",
		         "connector=%s", c->name);
		ms->cursor[0] = '\0';
	}
	if (rc < 0)
		log_warn("mastodon: stored cursor could not be read: starting from the newest mention",
		         "connector=%s", c->name);
	if (ms->stopping || ms->closing)
		return; /* another process runs it: ms_resume reads the cursor again */
	log_info("mastodon: starting", "connector=%s instance=%s cursor=%s", c->name, ms->api,
	         ms->cursor[0] ? ms->cursor : "-");
	wsclient_resume(ms->ws);
	wsclient_start(ms->ws); /* signs in first (ws_url) */
}

/*
 * This process runs the connector again (it leads it: see connector_start):
 * another process may have streamed and stored meanwhile, so the cursor is
 * read again before the stream and its catch-up start.
 */
static void ms_resume(struct connector *c)
{
	struct mastodon *ms = c->priv;
	if (!ms || ms->closing)
		return;
	ms->stopping = 0;
	connector_set_health(c, HEALTH_STARTING, "connecting");
	connector_cursor_get(c, cursor_read, ms);
}

static int ms_start(struct connector *c)
{
	const struct mastodon_conf *cc = c->conf ? c->conf->settings : NULL;
	struct mastodon *ms = xcalloc(1, sizeof(*ms));
	struct url_parts u;

	c->priv = ms;
	ms->c = c;
	ms->loop = connector_loop(c);
	ms->max_chars = MASTODON_DEFAULT_MAX_CHARS;

	if (!cc || !cc->instance || url_parse(cc->instance, &u) < 0) {
		log_error("mastodon: 'instance' must be the server's address, like https://mastodon.example",
		          "connector=%s", c->name);
		return -1;
	}
	snprintf(ms->api, sizeof(ms->api), "%s", cc->instance);
	for (size_t n = strlen(ms->api); n > 0 && ms->api[n - 1] == '/'; n--)
		ms->api[n - 1] = '\0';
	if (read_token(ms) < 0)
		return -1;

	struct metrics *mx = connector_metrics(c);
	ms->m_events = metrics_counter(
	    mx, "mastodon_events_total",
	    "Mastodon notifications received (mention, catchup, self, other, bad).", "connector,kind");
	ms->m_limited = metrics_counter(mx, "mastodon_rate_limited_total", "Mastodon requests answered 429.",
	                                "connector");

	uv_timer_init(&ms->loop->uv, &ms->catch_timer);
	ms->catch_timer.data = ms;
	ms->timers = 1;
	/* A 429 from Mastodon names no time: a minute, and repeated ones at
	 * least 1 s, 2 s, ... whatever they say. */
	struct rest_conf rc = {
	    .label = "mastodon",
	    .max_inflight = MASTODON_MAX_INFLIGHT,
	    .unnamed_wait_ms = 60000,
	    .strike_floor = 1,
	    .m_limited = ms->m_limited,
	};
	static const struct rest_ops rops = {.start = job_start};
	ms->rest = rest_new(c, &rc, &rops, ms);
	rest_set_bearer(ms->rest, ms->token);
	if (rest_set_base(ms->rest, ms->api) < 0)
		return -1;

	/* The server pings every 30 s and drops a client that did not pong:
	 * lws pongs; a stream silent for DEAD_MS is a zombie. */
	struct wsclient_conf wc = {
	    .label = "mastodon",
	    .max_message = MASTODON_MAX_FRAME,
	    .ping_idle_ms = PING_IDLE_MS,
	    .dead_ms = DEAD_MS,
	    .backoff_min_ms = MASTODON_BACKOFF_MIN_MS,
	    .backoff_base_ms = MASTODON_BACKOFF_MIN_MS,
	    .backoff_cap_ms = MASTODON_BACKOFF_MAX_MS - MASTODON_BACKOFF_MIN_MS,
	    .fatal_retry_ms = MASTODON_UNAUTHORIZED_RETRY_MS,
	    .report_ready = 1,
	};
	ms->ws = wsclient_new(c, &wc, &ws_ops, ms);
	if (!ms->ws)
		return -1;
	wsclient_set_bearer(ms->ws, ms->token);

	connector_set_health(c, HEALTH_STARTING, "connecting");
	/* Statuses nobody answered for half a year need not be remembered. */
	connector_state_prune(c, "status", connector_now(c) - (time_t)MASTODON_STATE_DAYS * 86400);
	connector_cursor_get(c, cursor_read, ms);
	return 0;
}

/* --- configuration ---------------------------------------------------------------- */

static void *ms_parse(struct config_parser *p)
{
	struct mastodon_conf *m = xcalloc(1, sizeof(*m));
	m->instance = config_key_url(p, "instance", CONFIG_URL_HTTP, 1,
	                             "(the server's address, like https://mastodon.example)");
	m->streaming = config_key_url(p, "streaming", CONFIG_URL_WS, 0, NULL);
	config_key_secret(p, "token", 1, "the access token", &m->token);
	if (m->instance)
		p->cc->endpoint = xstrdup(m->instance);
	return m;
}

static void ms_free_settings(void *settings)
{
	struct mastodon_conf *m = settings;
	free(m->instance);
	free(m->streaming);
	free(m->token.env);
	free(m->token.file);
	free(m);
}

static const char *const ms_keys[] = {"instance", "streaming", "token_env", "token_file", NULL};

const struct connector_ops mastodon_ops = {
    .type = "mastodon",
    .keys = ms_keys,
    .parse = ms_parse,
    .free_settings = ms_free_settings,
    .max_text = 0,                  /* the connector cuts replies itself: the limit is the instance's */
    .caps = CONNECTOR_ONE_CONSUMER, /* one stream per token */
    .start = ms_start,
    .stop = ms_stop,
    .resume = ms_resume,
    .send = ms_send,
    .idle = ms_idle,
    .close = ms_close,
    .destroy = ms_destroy,
    .post_done = ms_post_done,
};
