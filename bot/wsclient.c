/*
 * wsclient.c - the WebSocket client every platform connector uses (see
 * wsclient.h).
 *
 * One state machine per client:
 *
 *   IDLE --attempt--> URL (ops.url; may wait for the connector's REST call)
 *        --connect--> CONNECTING --ESTABLISHED--> OPEN
 *   any failure or close --> ended(): ops.closed's verdict --> retry timer
 *
 * Every way a connection can end (connect error, refused upgrade, close
 * from the server, our own close, the zombie watchdog, a dropped socket)
 * goes through ended() exactly once per attempt, so there is one retry
 * path.  The retry timer is a uv timer (lws timers armed from outside lws
 * callbacks do not fire in foreign-loop mode: LOOP-NOTES.md).
 */
#include "wsclient.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backoff.h"
#include "connector.h"
#include "loop.h"
#include "metrics.h"
#include "url.h"
#include "util.h"

#define PROTOCOL_NAME       "frontdesk-wsclient"
#define USER_AGENT          "frontdesk/" FD_VERSION
#define DEFAULT_MAX_MESSAGE (1024u * 1024u)
#define DEFAULT_BACKOFF_MIN 1000L
#define DEFAULT_BACKOFF_CAP (299L * 1000)
#define DEFAULT_FATAL_RETRY (5L * 60 * 1000)
#define DEFAULT_STABLE_MS   30000L
#define QUICK_CLOSE_MS      1000              /* an open connection shorter than this was not a success */
#define CLOSE_GRACE_US      (2 * 1000 * 1000) /* a close that does not finish is forced */
#define AUTH_MAX            (4096 + 64)
#define WS_WRITE_CLOSE      ((enum lws_write_protocol)4) /* lws's LWS_WRITE_CLOSE (private) */

enum ws_state { WS_IDLE = 0, WS_URL, WS_CONNECTING, WS_OPEN };

struct ws_frame {
	struct ws_frame *next;
	size_t len;
	int binary;
	unsigned char data[]; /* LWS_PRE bytes of room, then the payload */
};

struct wsclient {
	struct connector *c;
	struct loop *loop;
	const struct wsclient_ops *ops;
	void *arg;

	/* conf, with copies of its strings */
	struct wsclient_conf conf;
	char *label, *authorization, *subprotocol;
	char *headers[WSCLIENT_MAX_HEADERS + 1];

	char vhost_name[96];
	struct lws_vhost *vh;
	struct lws *wsi;
	enum ws_state state;
	int stopping, closing, timers;
	uv_timer_t retry_timer, watchdog;
	int attempt;
	unsigned long connections;

	uint64_t opened_ms, last_rx_ms, ping_sent_ms;
	int ping_due;
	int want_close, close_code, by_us, zombie;
	char close_reason[124];
	int peer_code;
	char peer_reason[124];

	struct buf rx;
	int rx_skip, rx_lost;

	struct ws_frame *q_head, *q_tail;
	size_t q_n, q_bytes;

	struct metric *m_reconnects;
};

static int vhost_seq;

/* --- the policy and the retry path --------------------------------------------- */

enum wsclient_next wsclient_policy_default(const struct wsclient_close *c, char *detail, size_t n)
{
	if (c->http_status == 401 || c->http_status == 403) {
		snprintf(detail, n, "HTTP %u at the WebSocket upgrade: check the token", c->http_status);
		return WSCLIENT_FATAL;
	}
	if (c->code == 1008) {
		snprintf(detail, n, "closed by the server as a policy violation (1008)%s%.60s",
		         c->reason && *c->reason ? ": " : "", c->reason ? c->reason : "");
		return WSCLIENT_FATAL;
	}
	return WSCLIENT_RETRY;
}

static void attempt_cb(uv_timer_t *t);

static void quote(struct buf *b, const char *s)
{
	buf_init(b, 0);
	log_quote(b, s ? s : "");
}

/* Arm the retry timer for `delay` ms (idempotent: a pending one stays). */
static void retry_in(struct wsclient *w, long delay)
{
	if (w->stopping || w->closing || !w->timers || uv_is_active((uv_handle_t *)&w->retry_timer))
		return;
	uv_timer_start(&w->retry_timer, attempt_cb, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* After a failed attempt or a lost connection: what next, per the verdict. */
static void after_end(struct wsclient *w, enum wsclient_next next, const char *detail, long at_least_ms)
{
	char health[160];
	struct buf b;

	if (w->stopping || w->closing)
		return;
	switch (next) {
	case WSCLIENT_RETRY_NOW:
		log_info("websocket: reconnecting at once", "connector=%s label=%s reason=\"%s\"", w->c->name,
		         w->label, detail);
		connector_set_health(w->c, HEALTH_DEGRADED, detail);
		retry_in(w, 0);
		break;
	case WSCLIENT_FATAL:
		connector_fatal(w->c, detail);
		if (w->conf.fatal_retry_ms >= 0)
			retry_in(w, w->conf.fatal_retry_ms);
		break;
	case WSCLIENT_IDLE:
		log_debug("websocket: connection no longer needed", "connector=%s label=%s reason=\"%s\"",
		          w->c->name, w->label, detail);
		break;
	case WSCLIENT_STOP:
		quote(&b, detail);
		log_warn("websocket: not reconnecting", "connector=%s label=%s reason=%s", w->c->name,
		         w->label, b.p);
		buf_free(&b);
		connector_set_health(w->c, HEALTH_DOWN, detail);
		break;
	case WSCLIENT_RETRY:
	default: {
		long d = backoff_ms(w->attempt, w->conf.backoff_min_ms, w->conf.backoff_base_ms,
		                    w->conf.backoff_cap_ms);
		if (d < at_least_ms)
			d = at_least_ms;
		if (w->attempt < 30)
			w->attempt++;
		snprintf(health, sizeof(health), "%.100s; retrying in %lds", detail, (d + 999) / 1000);
		connector_set_health(w->c, HEALTH_DEGRADED, health);
		quote(&b, detail);
		log_warn("websocket: will reconnect", "connector=%s label=%s reason=%s in_ms=%ld", w->c->name,
		         w->label, b.p, d);
		buf_free(&b);
		retry_in(w, d);
		break;
	}
	}
}

static void sendq_clear(struct wsclient *w)
{
	while (w->q_head) {
		struct ws_frame *f = w->q_head;
		w->q_head = f->next;
		free(f);
	}
	w->q_tail = NULL;
	w->q_n = w->q_bytes = 0;
}

/* The one place an attempt or a connection ends. */
static void ended(struct wsclient *w, unsigned http_status, const char *why)
{
	char detail[160];
	int was_open = w->state == WS_OPEN;
	uint64_t lived = was_open ? time_mono_ms() - w->opened_ms : 0;
	struct wsclient_close info = {
	    .was_open = was_open,
	    .http_status = http_status,
	    .code = w->peer_code,
	    .reason = w->peer_code ? w->peer_reason
	              : why        ? why
	                           : "",
	    .by_us = w->by_us,
	    .zombie = w->zombie,
	};

	w->state = WS_IDLE;
	w->wsi = NULL;
	if (w->timers && !w->closing)
		uv_timer_stop(&w->watchdog);
	sendq_clear(w);
	buf_reset(&w->rx);
	w->rx_skip = w->rx_lost = 0;
	if (w->closing || w->stopping)
		return;
	if (was_open)
		metric_add_l(w->m_reconnects, 1, w->c->name);
	if (w->zombie)
		snprintf(detail, sizeof(detail), "connection silent for %lds: reconnecting",
		         (w->conf.dead_ms + 999) / 1000);
	else if (w->by_us)
		snprintf(detail, sizeof(detail), "connection closed (%d)", w->close_code);
	else if (was_open && info.code)
		snprintf(detail, sizeof(detail), "connection closed by the server (%d%s%.80s)", info.code,
		         *info.reason ? ": " : "", info.reason);
	else if (was_open)
		snprintf(detail, sizeof(detail), "connection lost");
	else if (http_status)
		snprintf(detail, sizeof(detail), "WebSocket upgrade refused: HTTP %u", http_status);
	else
		snprintf(detail, sizeof(detail), "connect failed: %.120s",
		         why && *why ? why : "unknown error");
	enum wsclient_next next = w->ops->closed ? w->ops->closed(w->arg, &info, detail, sizeof(detail))
	                                         : wsclient_policy_default(&info, detail, sizeof(detail));
	/* Only a connection that lasted counts as a success: a server that
	 * accepts and closes at once is retried with growing pauses, and a
	 * "reconnect now" that keeps failing at once backs off as well. */
	if (was_open && lived >= (uint64_t)w->conf.stable_ms)
		w->attempt = 0;
	if (next == WSCLIENT_RETRY_NOW && (!was_open || lived < QUICK_CLOSE_MS) && w->attempt > 0)
		next = WSCLIENT_RETRY;
	w->peer_code = 0;
	w->peer_reason[0] = '\0';
	w->by_us = w->zombie = w->want_close = 0;
	after_end(w, next, detail, 0);
}

/* --- connecting ------------------------------------------------------------------ */

static void connect_to(struct wsclient *w, const char *url)
{
	struct url_parts u;
	struct lws_client_connect_info i;
	char host[URL_HOST_MAX + 16];

	if (w->stopping || w->closing || w->state == WS_CONNECTING || w->state == WS_OPEN)
		return;
	if (!w->loop->lws || !w->vh) {
		w->state = WS_IDLE;
		after_end(w, WSCLIENT_RETRY, "the WebSocket client is not ready", 0);
		return;
	}
	if (url_parse(url, &u) < 0 || (strcmp(u.scheme, "ws") && strcmp(u.scheme, "wss") &&
	                               strcmp(u.scheme, "http") && strcmp(u.scheme, "https"))) {
		w->state = WS_IDLE;
		after_end(w, WSCLIENT_RETRY, "unusable WebSocket address", 0);
		return;
	}
	if (!u.tls && !url_host_is_loopback(u.host)) {
		w->state = WS_IDLE;
		after_end(w, WSCLIENT_RETRY, "refusing an unencrypted WebSocket (ws://) to another machine",
		          0);
		return;
	}
	url_host_port(&u, host, sizeof(host));
	memset(&i, 0, sizeof(i));
	i.context = w->loop->lws;
	i.vhost = w->vh;
	i.address = u.host;
	i.port = u.port;
	i.path = u.path;
	/* lws takes the Host value up to its first ':' for SNI and the
	 * certificate check: an IPv6 literal over TLS goes bare. */
	i.host = strchr(u.host, ':') && u.tls ? u.host : host;
	i.origin = NULL;
	i.ssl_connection = u.tls ? LCCSCF_USE_SSL : 0;
	i.protocol = w->subprotocol;
	i.local_protocol_name = PROTOCOL_NAME;
	i.pwsi = &w->wsi;
	i.opaque_user_data = w;
	w->state = WS_CONNECTING;
	w->peer_code = 0;
	w->by_us = w->zombie = w->want_close = 0;
	log_debug("websocket: connecting", "connector=%s label=%s host=%s port=%d tls=%d", w->c->name,
	          w->label, u.host, u.port, u.tls);
	if (!lws_client_connect_via_info(&i) && w->state == WS_CONNECTING) {
		/* Refused before it started; a CONNECTION_ERROR that already
		 * ran has ended the attempt itself. */
		ended(w, 0, "connect failed");
	}
}

static void attempt_cb(uv_timer_t *t)
{
	struct wsclient *w = t->data;
	char url[WSCLIENT_URL_MAX];

	if (w->stopping || w->closing || w->state != WS_IDLE)
		return;
	w->state = WS_URL;
	url[0] = '\0';
	switch (w->ops->url(w->arg, url, sizeof(url))) {
	case WSCLIENT_URL_READY:
		w->state = WS_IDLE;
		connect_to(w, url);
		break;
	case WSCLIENT_URL_PENDING: break; /* the connector calls wsclient_connect_url / _url_failed */
	case WSCLIENT_URL_FAILED:
	default:
		w->state = WS_IDLE;
		after_end(w, WSCLIENT_RETRY, url[0] ? url : "no WebSocket address", 0);
		break;
	}
}

void wsclient_connect_url(struct wsclient *w, const char *url)
{
	if (w->state != WS_URL)
		return;
	w->state = WS_IDLE;
	connect_to(w, url);
}

void wsclient_url_failed(struct wsclient *w, const char *why, enum wsclient_next next, long delay_ms)
{
	if (w->state != WS_URL)
		return;
	w->state = WS_IDLE;
	after_end(w, next, why ? why : "no WebSocket address", delay_ms);
}

/* --- the lws side ------------------------------------------------------------------ */

static void watchdog_cb(uv_timer_t *t);

static void opened(struct wsclient *w, struct lws *wsi)
{
	w->state = WS_OPEN;
	w->wsi = wsi;
	w->opened_ms = w->last_rx_ms = time_mono_ms();
	w->ping_sent_ms = 0;
	w->ping_due = w->want_close = 0;
	w->rx_skip = w->rx_lost = 0;
	buf_reset(&w->rx);
	w->connections++;
	if (w->stopping || w->closing) {
		w->want_close = 1;
		w->close_code = LWS_CLOSE_STATUS_NORMAL;
		lws_callback_on_writable(wsi);
		return;
	}
	if (!w->conf.report_ready)
		connector_set_health(w->c, HEALTH_OK, "connected");
	log_info("websocket: connected", "connector=%s label=%s", w->c->name, w->label);
	if (w->timers && (w->conf.dead_ms > 0 || w->conf.ping_idle_ms > 0)) {
		long every = w->conf.dead_ms > 0 ? w->conf.dead_ms : w->conf.ping_idle_ms;
		if (w->conf.ping_idle_ms > 0 && w->conf.ping_idle_ms < every)
			every = w->conf.ping_idle_ms;
		every /= 4;
		if (every < 250)
			every = 250;
		uv_timer_start(&w->watchdog, watchdog_cb, (uint64_t)every, (uint64_t)every);
	}
	if (w->ops->open)
		w->ops->open(w->arg);
}

static void received(struct wsclient *w, struct lws *wsi, const void *in, size_t len)
{
	w->last_rx_ms = time_mono_ms();
	int binary = lws_frame_is_binary(wsi);
	if (binary && !w->conf.binary_ok) {
		if (!w->rx_skip)
			log_warn("websocket: binary message dropped", "connector=%s label=%s", w->c->name,
			         w->label);
		w->rx_skip = 1;
	} else if (!w->rx_skip && buf_append(&w->rx, in, len) < 0) {
		log_warn("websocket: message too large: dropped", "connector=%s label=%s max_bytes=%zu",
		         w->c->name, w->label, w->conf.max_message);
		w->rx_skip = w->rx_lost = 1;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	int lost = w->rx_lost;
	if (!w->rx_skip && w->ops->message)
		w->ops->message(w->arg, w->rx.p ? w->rx.p : "", w->rx.len, binary);
	buf_reset(&w->rx);
	w->rx_skip = w->rx_lost = 0;
	if (lost && w->ops->lost && w->state == WS_OPEN)
		w->ops->lost(w->arg);
}

static int writeable(struct wsclient *w, struct lws *wsi)
{
	/* A close we asked for goes after the frames already queued (an
	 * acknowledgement queued just before a stop must still leave); the
	 * grace timer of request_close bounds the wait. */
	if ((w->want_close || w->closing) && (!w->q_head || w->zombie)) {
		/* The close frame is written here: with a foreign libuv loop,
		 * lws 4.1.6 kills the socket without one when a client returns
		 * -1 after lws_close_reason() (its "uv repeat test" closes again
		 * at once), and the server would see no code (Discord: only our
		 * 1000/1001 end a session, so the code must arrive as sent).
		 * WS_WRITE_CLOSE is lws's own value for a close frame, which its
		 * public header leaves to lws_close_reason(). */
		unsigned char frame[LWS_PRE + 2 + sizeof(w->close_reason)];
		const char *r = w->close_reason[0] ? w->close_reason : "bye";
		int code = w->close_code ? w->close_code : 1000;
		size_t rl = strlen(r);
		frame[LWS_PRE] = (unsigned char)(code >> 8);
		frame[LWS_PRE + 1] = (unsigned char)(code & 0xff);
		memcpy(frame + LWS_PRE + 2, r, rl);
		lws_write(wsi, frame + LWS_PRE, 2 + rl, WS_WRITE_CLOSE);
		return -1;
	}
	if (w->ping_due) {
		unsigned char ping[LWS_PRE + 4];
		w->ping_due = 0;
		if (lws_write(wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
		if (w->q_head)
			lws_callback_on_writable(wsi);
		return 0;
	}
	struct ws_frame *f = w->q_head;
	if (!f)
		return 0;
	w->q_head = f->next;
	if (!w->q_head)
		w->q_tail = NULL;
	w->q_n--;
	w->q_bytes -= f->len;
	int n = lws_write(wsi, f->data + LWS_PRE, f->len, f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(f);
	if (n < 0)
		return -1;
	if (w->q_head || w->want_close || w->closing)
		lws_callback_on_writable(wsi);
	return 0;
}

static struct wsclient *ws_of(struct lws *wsi)
{
	return wsi ? lws_get_opaque_user_data(wsi) : NULL;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
	                                   (int)strlen(value), p, end);
}

static int append_headers(struct wsclient *w, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	if (w->authorization && add_header(wsi, "authorization:", w->authorization, p, end))
		return -1;
	if (add_header(wsi, "user-agent:", USER_AGENT, p, end))
		return -1;
	for (size_t k = 0; w->headers[k]; k++) {
		char name[128];
		const char *colon = strchr(w->headers[k], ':');
		size_t nl = colon ? (size_t)(colon - w->headers[k]) : 0;
		if (!nl || nl + 2 > sizeof(name))
			continue;
		memcpy(name, w->headers[k], nl);
		name[nl] = ':';
		name[nl + 1] = '\0';
		for (char *q = name; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (add_header(wsi, name, v, p, end))
			return -1;
	}
	return 0;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsclient *w;
	(void)user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		w = ws_of(wsi);
		if (!w)
			return -1;
		if (append_headers(w, wsi, (unsigned char **)in, *(unsigned char **)in + len))
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		w = ws_of(wsi);
		if (w && (w->state == WS_CONNECTING || w->state == WS_OPEN))
			ended(w, wsi ? lws_http_client_http_response(wsi) : 0, in ? (const char *)in : NULL);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w = ws_of(wsi);
		if (w)
			opened(w, wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		w = ws_of(wsi);
		if (w)
			received(w, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		w = ws_of(wsi);
		if (w)
			w->last_rx_ms = time_mono_ms();
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		w = ws_of(wsi);
		if (!w)
			return -1;
		return writeable(w, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		w = ws_of(wsi);
		if (w && len >= 2) {
			const unsigned char *b = in;
			w->peer_code = b[0] << 8 | b[1];
			size_t rl =
			    len - 2 < sizeof(w->peer_reason) - 1 ? len - 2 : sizeof(w->peer_reason) - 1;
			memcpy(w->peer_reason, b + 2, rl);
			w->peer_reason[rl] = '\0';
			for (char *q = w->peer_reason; *q; q++)
				if ((unsigned char)*q < 0x20 || *q == '"' || *q == '\\')
					*q = ' ';
			log_info("websocket: the server closed the connection",
			         "connector=%s label=%s code=%d", w->c->name, w->label, w->peer_code);
		}
		break;
	case LWS_CALLBACK_TIMER:
		/* The last resort for a socket that will not close. */
		w = ws_of(wsi);
		if (w && w->want_close)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		w = ws_of(wsi);
		if (w && (w->state == WS_OPEN || w->state == WS_CONNECTING))
			ended(w, 0, "closed");
		break;
	default: break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
    {PROTOCOL_NAME, ws_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* --- keepalive ------------------------------------------------------------------- */

static void request_close(struct wsclient *w, int code, const char *reason)
{
	if (!w->wsi || w->want_close)
		return;
	w->want_close = 1;
	w->close_code = code;
	snprintf(w->close_reason, sizeof(w->close_reason), "%s", reason ? reason : "");
	lws_callback_on_writable(w->wsi);
	/* A peer that never lets us write: force it after a grace period. */
	loop_wsi_timer(w->loop, w->wsi, CLOSE_GRACE_US);
}

static void watchdog_cb(uv_timer_t *t)
{
	struct wsclient *w = t->data;
	uint64_t now = time_mono_ms();
	if (w->state != WS_OPEN || !w->wsi || w->want_close)
		return;
	uint64_t silent = now - w->last_rx_ms;
	if (w->conf.dead_ms > 0 && silent > (uint64_t)w->conf.dead_ms) {
		log_warn("websocket: connection silent: reconnecting", "connector=%s label=%s silent_ms=%llu",
		         w->c->name, w->label, (unsigned long long)silent);
		w->zombie = w->by_us = 1;
		/* Not 1000/1001: a resumable session (Discord) stays resumable. */
		request_close(w, 4000, "silent");
	} else if (w->conf.ping_idle_ms > 0 && silent > (uint64_t)w->conf.ping_idle_ms &&
	           now - w->ping_sent_ms > (uint64_t)w->conf.ping_idle_ms) {
		w->ping_due = 1;
		w->ping_sent_ms = now;
		lws_callback_on_writable(w->wsi);
	}
}

/* --- the interface ------------------------------------------------------------------ */

struct wsclient *wsclient_new(struct connector *c, const struct wsclient_conf *conf,
                              const struct wsclient_ops *ops, void *arg)
{
	struct loop *l = connector_loop(c);
	struct wsclient *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->loop = l;
	w->ops = ops;
	w->arg = arg;
	w->conf = *conf;
	w->label = xstrdup(conf->label ? conf->label : c->ops->type);
	w->authorization = conf->authorization ? xstrdup(conf->authorization) : NULL;
	w->subprotocol = conf->subprotocol ? xstrdup(conf->subprotocol) : NULL;
	for (size_t k = 0; k < WSCLIENT_MAX_HEADERS && conf->headers[k]; k++)
		w->headers[k] = xstrdup(conf->headers[k]);
	memset(w->conf.headers, 0, sizeof(w->conf.headers));
	w->conf.label = w->conf.authorization = w->conf.subprotocol = NULL;
	if (!w->conf.max_message)
		w->conf.max_message = DEFAULT_MAX_MESSAGE;
	if (!w->conf.backoff_min_ms)
		w->conf.backoff_min_ms = DEFAULT_BACKOFF_MIN;
	if (!w->conf.backoff_base_ms)
		w->conf.backoff_base_ms = DEFAULT_BACKOFF_MIN;
	if (!w->conf.backoff_cap_ms)
		w->conf.backoff_cap_ms = DEFAULT_BACKOFF_CAP;
	if (!w->conf.fatal_retry_ms)
		w->conf.fatal_retry_ms = DEFAULT_FATAL_RETRY;
	if (!w->conf.stable_ms)
		w->conf.stable_ms = DEFAULT_STABLE_MS;
	buf_init(&w->rx, w->conf.max_message);
	w->m_reconnects =
	    metrics_counter(connector_metrics(c), "connector_reconnects_total",
	                    "WebSocket connections to platforms lost, by connector.", "connector");

	struct lws_context_creation_info vi;
	memset(&vi, 0, sizeof(vi));
	snprintf(w->vhost_name, sizeof(w->vhost_name), "ws-%d-%.60s", ++vhost_seq, c->name);
	vi.port = CONTEXT_PORT_NO_LISTEN;
	vi.protocols = protocols;
	vi.vhost_name = w->vhost_name;
	/* Makes lws build a client TLS context that verifies servers against
	 * the system's CA store. */
	vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	w->vh = l && l->lws ? lws_create_vhost(l->lws, &vi) : NULL;
	if (!w->vh) {
		log_error("websocket: cannot create the client", "connector=%s", c->name);
		wsclient_free(w);
		return NULL;
	}
	uv_timer_init(&l->uv, &w->retry_timer);
	uv_timer_init(&l->uv, &w->watchdog);
	w->retry_timer.data = w->watchdog.data = w;
	w->timers = 1;
	return w;
}

void wsclient_start(struct wsclient *w)
{
	if (w)
		retry_in(w, 0);
}

int wsclient_send(struct wsclient *w, const char *data, size_t len, int binary)
{
	if (!w || w->state != WS_OPEN || !w->wsi || w->want_close || w->q_n >= WSCLIENT_SENDQ_MAX ||
	    w->q_bytes + len > WSCLIENT_SENDQ_BYTES)
		return -1;
	struct ws_frame *f = xmalloc(sizeof(*f) + LWS_PRE + len);
	f->next = NULL;
	f->len = len;
	f->binary = binary;
	memcpy(f->data + LWS_PRE, data, len);
	if (w->q_tail)
		w->q_tail->next = f;
	else
		w->q_head = f;
	w->q_tail = f;
	w->q_n++;
	w->q_bytes += len;
	lws_callback_on_writable(w->wsi);
	return 0;
}

void wsclient_close_now(struct wsclient *w, int code, const char *reason)
{
	if (!w || w->state != WS_OPEN)
		return;
	w->by_us = 1;
	request_close(w, code, reason);
}

void wsclient_set_authorization(struct wsclient *w, const char *value)
{
	if (!w)
		return;
	if (w->authorization) {
		explicit_bzero(w->authorization, strlen(w->authorization));
		free(w->authorization);
	}
	w->authorization = value ? xstrdup(value) : NULL;
}

void wsclient_set_bearer(struct wsclient *w, const char *token)
{
	if (!token || !*token || strpbrk(token, "\r\n")) {
		wsclient_set_authorization(w, NULL);
		return;
	}
	char *v = xasprintf("Bearer %s", token);
	wsclient_set_authorization(w, v);
	explicit_bzero(v, strlen(v));
	free(v);
}

void wsclient_healthy(struct wsclient *w)
{
	if (w)
		w->attempt = 0;
}

int wsclient_is_open(const struct wsclient *w)
{
	return w && w->state == WS_OPEN && !w->want_close;
}

unsigned long wsclient_connections(const struct wsclient *w)
{
	return w ? w->connections : 0;
}

void wsclient_stop(struct wsclient *w)
{
	if (!w)
		return;
	w->stopping = 1;
	if (w->timers)
		uv_timer_stop(&w->retry_timer);
	if (w->state == WS_OPEN) {
		w->by_us = 1;
		request_close(w, w->conf.stop_close_code ? w->conf.stop_close_code : LWS_CLOSE_STATUS_NORMAL,
		              "stopping");
	}
}

void wsclient_resume(struct wsclient *w)
{
	if (!w || w->closing || !w->stopping)
		return;
	w->stopping = 0;
	/* A close the stop asked for ends in the retry path (now resumed). */
	if (w->state == WS_IDLE)
		retry_in(w, 0);
}

void wsclient_close(struct wsclient *w)
{
	if (!w)
		return;
	w->closing = 1;
	if (w->timers) {
		uv_close((uv_handle_t *)&w->retry_timer, NULL);
		uv_close((uv_handle_t *)&w->watchdog, NULL);
		w->timers = 0;
	}
	if (w->state == WS_OPEN && w->wsi && !w->want_close) {
		w->want_close = 1;
		w->close_code =
		    w->conf.stop_close_code ? w->conf.stop_close_code : LWS_CLOSE_STATUS_GOINGAWAY;
		lws_callback_on_writable(w->wsi);
	}
}

void wsclient_free(struct wsclient *w)
{
	if (!w)
		return;
	sendq_clear(w);
	buf_free(&w->rx);
	free(w->label);
	if (w->authorization)
		explicit_bzero(w->authorization, strlen(w->authorization));
	free(w->authorization);
	free(w->subprotocol);
	for (size_t k = 0; w->headers[k]; k++)
		free(w->headers[k]);
	free(w);
}
