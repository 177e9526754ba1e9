/*
 * server.c - the built-in HTTP/WebSocket server: one lws vhost per listener,
 * all sharing one protocol callback that dispatches on our own route table
 * (lws mounts would not let later modules add routes to a running vhost).
 *
 * Every wsi carries one of our objects in its opaque user data (it survives
 * the protocol re-binding lws does on a WebSocket upgrade, unlike the
 * per-session data): a struct hconn for plain HTTP, a struct server_ws after
 * an accepted upgrade.  Both begin with `enum conn_kind`.
 */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "embedded.h"
#include "loop.h"
#include "metrics.h"
#include "netaddr.h"
#include "yml.h"

#define MAX_ARGS            32 /* query arguments kept per request */
#define MAX_HEADER_VALUE    8192
#define WRITE_CHUNK         (32u * 1024u)
#define HDR_BUF             4096 /* response header block */
#define WS_FRAMES_PER_WRITE 64
#define WS_BYTES_PER_WRITE  (256u * 1024u)
#define PEER_BUCKETS        256
#define ACCEPT_BATCH        64   /* connections accepted per wake-up */
#define LINGER_MS           2000 /* after a refusal, how long the client's rest is read and dropped */
#define ACCEPT_PAUSE_MS     250  /* out of descriptors: wait before accepting again */
#define REFUSAL_LOG_MS      60000
#define MAX_LINGERING       256 /* refused connections lingering at once, per listener */

/* lws must hold any head the gate lets through, in its header space and in
 * its fragment table (one per known header line and per URL part). */
_Static_assert(SERVER_MAX_HEAD + 8 * SERVER_MAX_HEADER_LINES + 2 * SERVER_MAX_URI_PARTS + 256 <=
                   LOOP_HTTP_HEADER_DATA,
               "lws header space too small for SERVER_MAX_HEAD");
_Static_assert(SERVER_MAX_HEADER_LINES + SERVER_MAX_URI_PARTS + 8 <= WSI_TOKEN_COUNT,
               "lws fragment table too small for the header and URL limits");

enum conn_kind { CONN_HTTP = 1, CONN_WS };

enum route_kind { R_STATIC, R_API, R_WS };

struct route {
	struct route *next;
	char *path; /* without the trailing '*' of a prefix route */
	size_t plen;
	int prefix;
	enum route_kind kind;
	/* static */
	const char *ctype;
	const void *data;
	size_t len;
	char *csp;
	/* api */
	unsigned methods;
	server_handler_fn fn;
	void *arg;
	size_t max_body;
	/* ws */
	const struct server_ws_ops *ops;
};

/* Connections from one client address on one listener. */
struct peer {
	struct peer *next;
	long n;
	char ip[NETADDR_STRLEN];
};

struct gate;

struct listener {
	struct listener *next;
	struct server *srv;
	char *name;
	char *addr;
	int port;
	struct route *routes;
	long ws_count;
	/* our own listening socket (see server.h, "Connections") */
	int fd;
	uv_poll_t lpoll;
	uv_timer_t pause; /* accepting again after EMFILE */
	int handles_open, closing;
	struct gate *gates; /* connections still sending their head, or lingering */
	long lingering;     /* gates without a slot: refused at accept */
	long nconns;        /* every open connection: in the gate or in lws */
	long max_conns, per_addr;
	struct peer *peers[PEER_BUCKETS];
	struct netaddr_net *trusted;
	size_t ntrusted;
	enum server_proxy_header proxy_header;
	char **hosts; /* lower case, NULL = any */
	uint64_t refusal_logged_ms;
	long refusals_unlogged;
};

struct slot;

struct server {
	struct loop *loop;
	struct listener *listeners;
	/*
	 * One lws vhost serves every listener: lws parses and answers, the
	 * listeners are ours (the gate hands each connection over with its
	 * slot, which says which listener it came to).  With a vhost per
	 * listener lws would move a request to whichever vhost its Host
	 * header or port (-2 for all of them) selects.
	 */
	struct lws_vhost *vh;
	lws_retry_bo_t idle; /* ping / hang-up times; lws reads it where it is */
	server_health_fn health;
	void *health_arg;
	struct server_ws *ws_list;
	struct loop_closer closer;
	char scratch[SERVER_MAX_HEAD + 1]; /* what the gate peeks at */
	unsigned head_ms;                  /* time a request head may take */
	/* the connection being handed to lws (claimed by its first callback) */
	int adopt_fd;
	struct slot *adopt_slot;
	struct metric *m_requests;
	struct metric *m_ws;
	struct metric *m_refused;
};

/* The request headers handlers may ask for (server.h). */
static const struct {
	const char *name;
	int token; /* enum lws_token_indexes, or -1 for a custom header */
	const char *custom;
} req_headers[] = {
    {"cookie", WSI_TOKEN_HTTP_COOKIE, NULL},
    {"origin", WSI_TOKEN_ORIGIN, NULL},
    {"x-csrf-token", -1, "x-csrf-token:"},
    {"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE, NULL},
    {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION, NULL},
    {"host", WSI_TOKEN_HOST, NULL},
    {"referer", WSI_TOKEN_HTTP_REFERER, NULL},
    {"user-agent", WSI_TOKEN_HTTP_USER_AGENT, NULL},
    {"accept", WSI_TOKEN_HTTP_ACCEPT, NULL},
    {"x-hub-signature-256", -1, "x-hub-signature-256:"},
};
#define NHDR (sizeof(req_headers) / sizeof(req_headers[0]))

/* Query arguments as lws decoded them: each "name=value". */
struct args {
	char *v[MAX_ARGS];
	int n;
	char *joined;
};

/*
 * What one connection counts against its listener's limits, from accept to
 * close.  It moves from the gate to the connection's hconn, and from there
 * to its server_ws after an upgrade.
 */
struct slot {
	struct listener *li;
	struct peer *peer;             /* the per-address count held, NULL until known */
	char tcp_peer[NETADDR_STRLEN]; /* who connected */
	int trusted;                   /* tcp_peer is a trusted proxy */
	int forwarded_lines;           /* "Forwarded:" lines in the head */
};

/* A connection whose request head is still arriving (see server.h). */
enum gate_state { G_READING, G_LINGER, G_ADOPT, G_DROP };
struct gate {
	struct listener *li;
	struct slot *slot;
	int fd;
	uv_poll_t poll;
	uv_timer_t timer;
	enum gate_state state;
	int handles_open;
	size_t len; /* bytes of the head seen so far */
	struct gate *prev, *next;
};

struct hconn;

struct server_req {
	struct hconn *hc; /* NULL once the client went away */
	struct listener *li;
	const struct route *route;
	enum server_method method;
	int head;
	char *path;
	struct args args;
	char peer[64];
	char *hdr[NHDR];
	struct buf body;
	long expect; /* Content-Length still to come */
	int in_handler, deferred, responded;
	/* response */
	int status;
	char *ctype;
	const char *rbody; /* static data or rbody_owned */
	char *rbody_owned;
	size_t rlen, sent;
	int headers_sent;
	int html;
	const char *csp;
	const char *cache;
	struct buf extra; /* "name\0value\0" pairs */
	char allow[64];   /* Allow header of a 405, "" otherwise */
};

struct hconn {
	enum conn_kind kind;
	struct lws *wsi;
	struct listener *li;
	struct server_req *req;
	struct slot *slot;
	int flushing; /* the response is written: close once lws sent it all */
};

struct frame {
	struct frame *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes, then the payload */
};

struct server_ws {
	enum conn_kind kind;
	struct server_ws *prev, *next;
	struct listener *li;
	struct slot *slot;
	struct lws *wsi;
	const struct route *route;
	char peer[64];
	struct args args;
	void *data;
	struct frame *qhead, *qtail;
	size_t queued;
	struct buf rx;
	int rx_discard, rx_binary;
	int established, closing, close_sent, gone;
	int close_status;
	char close_reason[124];
};

/* ---- small helpers ------------------------------------------------------ */

static void json_escape(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c < 0x20) {
			buf_printf(b, "\\u%04x", c);
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

/* The peer's address without the IPv4-mapped prefix of dual-stack sockets. */
static void peer_addr(struct lws *wsi, char *out, size_t n)
{
	out[0] = '\0';
	if (!lws_get_peer_simple(wsi, out, n))
		out[0] = '\0';
	if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

/* A whole header, or NULL when absent or longer than MAX_HEADER_VALUE. */
static char *header_dup(struct lws *wsi, int token, const char *custom)
{
	int len;
	if (token >= 0)
		len = lws_hdr_total_length(wsi, (enum lws_token_indexes)token);
	else
		len = lws_hdr_custom_length(wsi, custom, (int)strlen(custom));
	if (len <= 0 || len > MAX_HEADER_VALUE)
		return NULL;
	char *v = xmalloc((size_t)len + 1);
	int got = token >= 0 ? lws_hdr_copy(wsi, v, len + 1, (enum lws_token_indexes)token)
	                     : lws_hdr_custom_copy(wsi, v, len + 1, custom, (int)strlen(custom));
	if (got < 0) {
		free(v);
		return NULL;
	}
	v[got] = '\0';
	return v;
}

static void args_capture(struct lws *wsi, struct args *a)
{
	struct buf j;
	char frag[1024];

	buf_init(&j, 0);
	buf_puts(&j, "");
	a->n = 0;
	for (int i = 0; a->n < MAX_ARGS; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		frag[n] = '\0';
		a->v[a->n++] = xstrdup(frag);
		if (j.len)
			buf_putc(&j, '&');
		buf_puts(&j, frag);
	}
	a->joined = buf_steal(&j);
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
	free(a->joined);
	a->joined = NULL;
}

static int args_get(const struct args *a, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	for (int i = 0; i < a->n; i++) {
		const char *v = a->v[i];
		if (strncmp(v, name, nl) == 0 && v[nl] == '=') {
			size_t vl = strlen(v + nl + 1);
			if (vl >= n)
				return -1;
			memcpy(out, v + nl + 1, vl + 1);
			return 0;
		}
	}
	return -1;
}

static const struct route *route_find(const struct listener *li, const char *path)
{
	const struct route *best = NULL;
	for (const struct route *r = li->routes; r; r = r->next) {
		if (!r->prefix) {
			if (strcmp(r->path, path) == 0)
				return r;
		} else if (strncmp(path, r->path, r->plen) == 0 && (!best || r->plen > best->plen)) {
			best = r;
		}
	}
	return best;
}

static struct route *route_add(struct listener *li, const char *path, enum route_kind kind)
{
	if (!path || path[0] != '/')
		return NULL;
	size_t l = strlen(path);
	int prefix = l > 1 && path[l - 1] == '*';
	for (struct route *r = li->routes; r; r = r->next)
		if (r->prefix == prefix && r->plen == l - (size_t)prefix &&
		    strncmp(r->path, path, r->plen) == 0) {
			log_error("route already defined", "listener=%s path=%s", li->name, path);
			return NULL;
		}
	struct route *r = xcalloc(1, sizeof(*r));
	r->path = xstrndup(path, l - (size_t)prefix);
	r->plen = l - (size_t)prefix;
	r->prefix = prefix;
	r->kind = kind;
	struct route **tail = &li->routes;
	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
	return r;
}

/* ---- connections: limits, client addresses, the gate ------------------------ */

static size_t peer_bucket(const char *ip)
{
	return (size_t)(hash64(ip, strlen(ip)) % PEER_BUCKETS);
}

/* The count for ip, created at 0 when absent. */
static struct peer *peer_get(struct listener *li, const char *ip)
{
	struct peer **pp = &li->peers[peer_bucket(ip)];
	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->ip, ip))
			return *pp;
	struct peer *p = xcalloc(1, sizeof(*p));
	snprintf(p->ip, sizeof(p->ip), "%s", ip);
	*pp = p;
	return p;
}

/* One connection of p ended (or was never charged: n stays); an address
 * with no connection left is forgotten. */
static void peer_put(struct listener *li, struct peer *p, int charged)
{
	if (charged)
		p->n--;
	if (p->n > 0)
		return;
	struct peer **pp = &li->peers[peer_bucket(p->ip)];
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	free(p);
}

static void slot_free(struct slot *sl)
{
	if (!sl)
		return;
	sl->li->nconns--;
	if (sl->peer)
		peer_put(sl->li, sl->peer, 1);
	free(sl);
}

/* Refusals are counted always and logged at most once a minute per listener
 * (a flood must not flood the log too). */
static void note_refusal(struct listener *li, const char *reason, const char *ip)
{
	if (li->srv->m_refused)
		metric_add_l(li->srv->m_refused, 1, li->name, reason);
	uint64_t now = time_mono_ms();
	if (li->refusal_logged_ms && now - li->refusal_logged_ms < REFUSAL_LOG_MS) {
		li->refusals_unlogged++;
		return;
	}
	log_warn("connection refused", "listener=%s reason=%s peer=%s connections=%ld refused_before=%ld",
	         li->name, reason, ip, li->nconns, li->refusals_unlogged);
	li->refusal_logged_ms = now ? now : 1;
	li->refusals_unlogged = 0;
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	default: return "Service Unavailable";
	}
}

/* A whole response written straight to the socket (no lws involved),
 * best effort: a client that does not read it loses it. */
static void write_refusal(int fd, int status, const char *msg)
{
	char r[512];
	char body[160];
	int bl = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);
	int n =
	    snprintf(r, sizeof(r),
	             "HTTP/1.1 %d %s\r\nServer: frontdesk\r\nContent-Type: application/json\r\n"
	             "Content-Length: %d\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	             "%sConnection: close\r\n\r\n%s",
	             status, status_text(status), bl,
	             status == 503 || status == 429 ? "Retry-After: 5\r\n" : "", body);
	if (n > 0 && (size_t)n < sizeof(r))
		(void)send(fd, r, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Read and drop what the client sent (so closing does not reset the
 * connection before it read our answer); 1 once it closed its side. */
static int drain(int fd)
{
	char junk[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : 1;
	}
	return 0;
}

/*
 * Is the request head in h[0..len) complete, acceptable, or refused?
 * Returns 0 when more is needed, 1 when complete (*end = its length), or the
 * HTTP status refusing it.  Only sizes and counts are looked at here: lws
 * parses what passes.
 */
static int head_check(const char *h, size_t len, size_t *end, int *forwarded_lines)
{
	const char *nl = memchr(h, '\n', len);
	size_t line = nl ? (size_t)(nl - h) : len;
	if (line > SERVER_MAX_REQUEST_LINE)
		return 414;
	size_t parts = 0;
	for (size_t i = 0; i < line; i++)
		if (h[i] == '&' || h[i] == ';')
			parts++;
	if (parts > SERVER_MAX_URI_PARTS)
		return 414;
	if (!nl)
		return 0;
	size_t lines = 0;
	*forwarded_lines = 0;
	for (size_t i = line + 1; i < len;) {
		const char *e = memchr(h + i, '\n', len - i);
		if (!e)
			break;
		size_t l = (size_t)(e - (h + i));
		if (l == 0 || (l == 1 && h[i] == '\r')) {
			*end = i + l + 1;
			return *end > SERVER_MAX_HEAD ? 431 : 1;
		}
		if (++lines > SERVER_MAX_HEADER_LINES)
			return 431;
		if (l > 10 && !strncasecmp(h + i, "forwarded:", 10))
			(*forwarded_lines)++;
		i += l + 1;
	}
	return len > SERVER_MAX_HEAD ? 431 : 0;
}

static void gate_handle_closed(uv_handle_t *h);
static void gate_timeout(uv_timer_t *t);

/* Stop reading; the gate ends (adopted by lws, or dropped) once its two
 * handles have closed. */
static void gate_finish(struct gate *g, enum gate_state how)
{
	if (g->state == G_ADOPT || g->state == G_DROP)
		return;
	g->state = how;
	uv_close((uv_handle_t *)&g->poll, gate_handle_closed);
	uv_close((uv_handle_t *)&g->timer, gate_handle_closed);
}

/* Answer `status`, then read and drop the rest for a moment before
 * closing (a client still sending would otherwise get a reset instead of
 * the answer). */
static void gate_refuse(struct gate *g, int status, const char *msg)
{
	int one = 1;
	setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	drain(g->fd);
	write_refusal(g->fd, status, msg);
	shutdown(g->fd, SHUT_WR);
	g->state = G_LINGER;
	uv_timer_stop(&g->timer);
	uv_timer_start(&g->timer, gate_timeout, LINGER_MS, 0);
}

static void gate_timeout(uv_timer_t *t)
{
	struct gate *g = t->data;
	if (g->state == G_READING && g->len > 0) {
		note_refusal(g->li, "timeout", g->slot->tcp_peer);
		gate_refuse(g, 408, "the request took too long to arrive");
	} else
		gate_finish(g, G_DROP); /* silent from the start, or done lingering */
}

static void gate_readable(uv_poll_t *p, int status, int events)
{
	struct gate *g = p->data;
	(void)events;
	if (status < 0) {
		gate_finish(g, G_DROP);
		return;
	}
	if (g->state == G_LINGER) {
		if (drain(g->fd))
			gate_finish(g, G_DROP);
		return;
	}
	/*
	 * The head is only peeked at, never taken: lws reads it from the
	 * socket itself after the hand-over (lws 4.1.6 cannot take a request
	 * with a body from an adoption read buffer: lws_http_action feeds the
	 * buffered head back to itself as body and loops).  While the head is
	 * incomplete, SO_RCVLOWAT keeps the socket quiet until more arrives.
	 * At most one byte past the limit is looked at: enough to know it was
	 * passed.
	 */
	char *head = g->li->srv->scratch; /* peeked anew each time: one buffer serves all */
	ssize_t n;
	do
		n = recv(g->fd, head, SERVER_MAX_HEAD + 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		gate_finish(g, G_DROP); /* the client left, or the socket failed */
		return;
	}
	size_t old = g->len;
	g->len = (size_t)n;
	/* The verdict only changes when a line ends or the limit is passed:
	 * a trickle of bytes costs no rescans. */
	if (g->len > old && (memchr(head + old, '\n', g->len - old) || g->len > SERVER_MAX_HEAD)) {
		size_t end = 0;
		int rc = head_check(head, g->len, &end, &g->slot->forwarded_lines);
		if (rc == 1) {
			int one = 1;
			setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
			gate_finish(g, G_ADOPT);
			return;
		}
		if (rc == 414) {
			note_refusal(g->li, "uri_too_long", g->slot->tcp_peer);
			gate_refuse(g, 414, "the address (URL) is too long");
			return;
		}
		if (rc != 0) {
			note_refusal(g->li, "head_too_large", g->slot->tcp_peer);
			gate_refuse(g, 431, "the request headers are too large");
			return;
		}
	}
	int lowat = (int)g->len + 1;
	setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
}

/* Hand the connection to lws, which reads the head we peeked at.  The
 * connection's slot goes to the hconn that the first callback of the new
 * wsi creates (server_cb). */
static void gate_adopt(struct gate *g)
{
	struct server *s = g->li->srv;
	s->adopt_fd = g->fd;
	s->adopt_slot = g->slot;
	struct lws *wsi = lws_adopt_socket_vhost(s->vh, g->fd);
	if (s->adopt_slot) {
		/* No callback of that connection ran yet (lws is waiting for
		 * header space) or lws failed and closed it. */
		if (wsi) {
			struct hconn *hc = xcalloc(1, sizeof(*hc));
			hc->kind = CONN_HTTP;
			hc->wsi = wsi;
			hc->li = g->li;
			hc->slot = s->adopt_slot;
			lws_set_opaque_user_data(wsi, hc);
		} else {
			slot_free(s->adopt_slot);
		}
	}
	s->adopt_slot = NULL;
	s->adopt_fd = -1;
}

static void gate_handle_closed(uv_handle_t *h)
{
	struct gate *g = h->data;
	if (--g->handles_open > 0)
		return;
	struct listener *li = g->li;
	if (g->prev)
		g->prev->next = g->next;
	else
		li->gates = g->next;
	if (g->next)
		g->next->prev = g->prev;
	if (!g->slot)
		li->lingering--;
	if (g->state == G_ADOPT && !li->closing && li->srv->vh) {
		gate_adopt(g);
	} else {
		close(g->fd);
		slot_free(g->slot);
	}
	free(g);
}

/* Watch fd: read its head (slot given) or linger after a refusal (NULL). */
static struct gate *gate_new(struct listener *li, int fd, struct slot *sl)
{
	struct gate *g = xcalloc(1, sizeof(*g));
	g->li = li;
	g->slot = sl;
	g->fd = fd;
	if (uv_poll_init(&li->srv->loop->uv, &g->poll, fd) != 0) {
		free(g);
		return NULL;
	}
	uv_timer_init(&li->srv->loop->uv, &g->timer);
	g->poll.data = g;
	g->timer.data = g;
	g->handles_open = 2;
	g->next = li->gates;
	if (li->gates)
		li->gates->prev = g;
	li->gates = g;
	if (!sl)
		li->lingering++;
	uv_poll_start(&g->poll, UV_READABLE, gate_readable);
	uv_timer_start(&g->timer, gate_timeout, li->srv->head_ms, 0);
	return g;
}

/*
 * Refuse a connection at accept, before any state is kept for it beyond a
 * short linger (so the client reads the answer rather than a reset); a
 * flood past MAX_LINGERING refusals at once is simply closed.
 */
static void refuse_now(struct listener *li, int fd, int status, const char *reason, const char *ip)
{
	static const char *const msg429 = "too many connections from your address";
	static const char *const msg503 = "too many connections; try again shortly";
	note_refusal(li, reason, ip);
	struct gate *g = li->lingering < MAX_LINGERING ? gate_new(li, fd, NULL) : NULL;
	if (g) {
		gate_refuse(g, status, status == 429 ? msg429 : msg503);
		return;
	}
	drain(fd);
	write_refusal(fd, status, status == 429 ? msg429 : msg503);
	close(fd);
}

/* A new connection: refuse it over a limit, else start reading its head. */
static void gate_accept(struct listener *li, int fd, const struct sockaddr_storage *ss)
{
	char raw[INET6_ADDRSTRLEN] = "", ip[NETADDR_STRLEN] = "";
	struct netaddr a;
	const void *src = ss->ss_family == AF_INET6
	                      ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
	                      : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	inet_ntop(ss->ss_family, src, raw, sizeof(raw));
	if (netaddr_parse(raw, &a) == 0)
		netaddr_format(&a, ip, sizeof(ip)); /* "::ffff:1.2.3.4" -> "1.2.3.4" */
	else
		snprintf(ip, sizeof(ip), "%s", raw);

	if (li->nconns >= li->max_conns) {
		refuse_now(li, fd, 503, "listener_full", ip);
		return;
	}
	int trusted = netaddr_in_any(ip, li->trusted, li->ntrusted);
	struct peer *p = NULL;
	if (!trusted) {
		/* A proxy's connections are many clients: those are counted
		 * once the request names the client (charge_client). */
		p = peer_get(li, ip);
		if (p->n >= li->per_addr) {
			peer_put(li, p, 0);
			refuse_now(li, fd, 429, "address_full", ip);
			return;
		}
		p->n++;
	}
	struct slot *sl = xcalloc(1, sizeof(*sl));
	sl->li = li;
	sl->peer = p;
	sl->trusted = trusted;
	snprintf(sl->tcp_peer, sizeof(sl->tcp_peer), "%s", ip);
	li->nconns++;
	if (!gate_new(li, fd, sl)) {
		close(fd);
		slot_free(sl);
	}
}

static void accept_resume(uv_timer_t *t);

static void on_accept(uv_poll_t *p, int status, int events)
{
	struct listener *li = p->data;
	(void)events;
	if (status < 0 || li->closing)
		return;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(li->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			gate_accept(li, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The listening socket stays readable: pause rather than spin. */
			log_warn("cannot accept: out of file descriptors or memory",
			         "listener=%s error=\"%s\"", li->name, strerror(errno));
			uv_poll_stop(&li->lpoll);
			uv_timer_start(&li->pause, accept_resume, ACCEPT_PAUSE_MS, 0);
		}
		break;
	}
}

static void accept_resume(uv_timer_t *t)
{
	struct listener *li = t->data;
	if (!li->closing)
		uv_poll_start(&li->lpoll, UV_READABLE, on_accept);
}

static void listener_handle_closed(uv_handle_t *h)
{
	struct listener *li = h->data;
	if (--li->handles_open == 0) {
		close(li->fd);
		li->fd = -1;
	}
}

/* Teardown (loop closer): stop accepting, drop connections still sending
 * their heads; lws closes the ones it holds. */
static void server_close_listeners(void *arg)
{
	struct server *s = arg;
	for (struct listener *li = s->listeners; li; li = li->next) {
		if (li->closing)
			continue;
		li->closing = 1;
		if (li->handles_open) {
			uv_close((uv_handle_t *)&li->lpoll, listener_handle_closed);
			uv_close((uv_handle_t *)&li->pause, listener_handle_closed);
		}
		for (struct gate *g = li->gates; g; g = g->next)
			gate_finish(g, G_DROP);
	}
}

/*
 * The client address of a request: the TCP peer, or, when that is a trusted
 * proxy, the rightmost address of its forwarding header that is not one
 * too (an entry that is not an address stops the walk: the hop before it is
 * the best we know).
 */
static void client_address(struct listener *li, struct slot *sl, struct lws *wsi, char *out, size_t n)
{
	snprintf(out, n, "%s", sl->tcp_peer);
	if (!sl->trusted)
		return;
	char *v;
	if (li->proxy_header == SERVER_PROXY_FORWARDED) {
		/* lws 4.1.6 returns only the first of repeated unknown headers:
		 * with several Forwarded lines the proxy's may not be it. */
		if (sl->forwarded_lines != 1)
			return;
		v = header_dup(wsi, -1, "forwarded:");
	} else {
		v = header_dup(wsi, WSI_TOKEN_X_FORWARDED_FOR, NULL);
	}
	if (!v)
		return;
	/* Entries from right to left: commas separate them in both headers,
	 * and repeated header lines arrive joined with commas. */
	size_t stop = strlen(v);
	for (;;) {
		size_t from = stop;
		while (from > 0 && v[from - 1] != ',')
			from--;
		char *e = v + from;
		v[stop] = '\0';
		char addr[INET6_ADDRSTRLEN + 8];
		if (li->proxy_header == SERVER_PROXY_FORWARDED) {
			/* for=192.0.2.60;proto=http  For="[2001:db8::17]:4711" */
			const char *f = NULL;
			for (char *pr = e; pr;) {
				char *semi = strchr(pr, ';');
				if (semi)
					*semi = '\0';
				while (*pr == ' ' || *pr == '\t')
					pr++;
				if (!strncasecmp(pr, "for=", 4))
					f = pr + 4;
				pr = semi ? semi + 1 : NULL;
			}
			if (!f)
				break;
			if (*f == '"')
				f++;
			size_t fl = strcspn(f, "\" \t");
			if (fl >= sizeof(addr))
				break;
			memcpy(addr, f, fl);
			addr[fl] = '\0';
			/* "[v6]:port" -> "[v6]", "v4:port" -> "v4" */
			char *close_b = addr[0] == '[' ? strchr(addr, ']') : NULL;
			char *colon = strchr(addr, ':');
			if (close_b)
				close_b[1] = '\0';
			else if (colon && colon == strrchr(addr, ':'))
				*colon = '\0';
		} else {
			while (*e == ' ' || *e == '\t')
				e++;
			size_t el = strcspn(e, " \t");
			if (el >= sizeof(addr))
				break;
			memcpy(addr, e, el);
			addr[el] = '\0';
		}
		struct netaddr a;
		if (netaddr_parse(addr, &a) < 0)
			break;
		netaddr_format(&a, out, n);
		if (!netaddr_in_any(out, li->trusted, li->ntrusted) || from == 0)
			break;
		stop = from - 1;
	}
	free(v);
}

/* A proxied connection is counted against its client's address once the
 * request names the client.  0, or -1 when that address is at its limit. */
static int charge_client(struct slot *sl, const char *client)
{
	if (sl->peer)
		return 0;
	struct peer *p = peer_get(sl->li, client);
	if (p->n >= sl->li->per_addr) {
		peer_put(sl->li, p, 0);
		note_refusal(sl->li, "address_full", client);
		return -1;
	}
	p->n++;
	sl->peer = p;
	return 0;
}

/* Does the Host header name one of the listener's hosts (when it has any)? */
static int host_ok(const struct listener *li, const char *host)
{
	if (!li->hosts)
		return 1;
	if (!host)
		return 0;
	char h[256];
	size_t hl;
	if (host[0] == '[') {
		const char *e = strchr(host, ']');
		if (!e)
			return 0;
		hl = (size_t)(e - host) + 1;
	} else {
		hl = strcspn(host, ":");
	}
	if (hl == 0 || hl >= sizeof(h))
		return 0;
	for (size_t i = 0; i < hl; i++)
		h[i] = (char)tolower((unsigned char)host[i]);
	h[hl] = '\0';
	/* A trailing dot names the same host ("example.com."). */
	if (hl > 1 && h[hl - 1] == '.')
		h[hl - 1] = '\0';
	for (char **p = li->hosts; *p; p++)
		if (!strcmp(*p, h))
			return 1;
	return 0;
}

/*
 * The framing every request must have (server.h): no Transfer-Encoding, at
 * most one Content-Length, and that one a plain number (surrounding blanks
 * allowed).  0 with the length in *len (0 when absent), or -1.
 */
static int framing_ok(struct lws *wsi, long *len)
{
	*len = 0;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return -1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return 0;
	char frag[32];
	if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) >= 0)
		return -1; /* a second Content-Length line */
	int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_CONTENT_LENGTH, 0);
	while (n > 0 && (frag[n - 1] == ' ' || frag[n - 1] == '\t'))
		frag[--n] = '\0';
	const char *p = frag;
	while (*p == ' ' || *p == '\t')
		p++;
	if (n <= 0 || parse_long(p, len) < 0)
		return -1;
	return 0;
}

/* ---- HTTP requests -------------------------------------------------------- */

static void req_free(struct server_req *req)
{
	free(req->path);
	args_free(&req->args);
	for (size_t i = 0; i < NHDR; i++)
		free(req->hdr[i]);
	buf_free(&req->body);
	free(req->ctype);
	free(req->rbody_owned);
	buf_free(&req->extra);
	free(req);
}

static void count_request(struct listener *li, int status)
{
	if (!li->srv->m_requests)
		return;
	char code[8];
	snprintf(code, sizeof(code), "%d", status);
	metric_add_l(li->srv->m_requests, 1, li->name, code);
}

/*
 * Store the response and ask lws for a writable callback, where headers and
 * body are written (never from here: respond may run outside lws callbacks).
 * Takes ownership of `owned` (may be NULL when body is static).
 */
static void req_set_response(struct server_req *req, int status, const char *ctype, const char *body,
                             size_t len, char *owned)
{
	if (req->responded) {
		log_error("response given twice", "path=%s", req->path);
		free(owned);
		return;
	}
	req->responded = 1;
	if (status < 100 || status > 599)
		status = 500;
	req->status = status;
	req->ctype = xstrdup(ctype ? ctype : "application/json");
	req->rbody = body ? body : "";
	req->rlen = body ? len : 0;
	req->rbody_owned = owned;
	if (!req->cache)
		req->cache = "no-store";
	req->html = strncasecmp(req->ctype, "text/html", 9) == 0;
	count_request(req->li, status);
	if (!req->hc) {
		/* The client went away while the handler worked. */
		if (!req->in_handler)
			req_free(req);
		return;
	}
	lws_callback_on_writable(req->hc->wsi);
}

void server_respond(struct server_req *req, int status, const char *content_type, const void *body,
                    size_t len)
{
	char *copy = xmalloc(len + 1);
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	req_set_response(req, status, content_type, copy, len, copy);
}

void server_respond_buf(struct server_req *req, int status, const char *content_type, struct buf *body)
{
	size_t len = body->len;
	char *p = buf_steal(body);
	req_set_response(req, status, content_type, p, len, p);
}

void server_respond_error(struct server_req *req, int status, const char *msg)
{
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "{\"error\":");
	json_escape(&b, msg ? msg : "");
	buf_puts(&b, "}");
	server_respond_buf(req, status, "application/json", &b);
}

void server_req_add_header(struct server_req *req, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n")) {
		log_error("response header dropped: invalid characters", "path=%s", req->path);
		return;
	}
	buf_append(&req->extra, name, strlen(name) + 1);
	buf_append(&req->extra, value, strlen(value) + 1);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
	char lname[128];
	size_t n = strlen(name);
	if (n + 2 > sizeof(lname))
		return -1;
	for (size_t i = 0; i < n; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[n] = ':';
	lname[n + 1] = '\0';
	return lws_add_http_header_by_name(wsi, (const unsigned char *)lname, (const unsigned char *)value,
	                                   (int)strlen(value), p, end);
}

/* Write the status line and headers; 0 or -1 (close the connection). */
static int write_headers(struct server_req *req, struct lws *wsi)
{
	unsigned char hb[LWS_PRE + HDR_BUF];
	unsigned char *start = hb + LWS_PRE, *p = start, *end = hb + sizeof(hb) - 1;

	if (lws_add_http_common_headers(wsi, (unsigned)req->status, req->ctype, (lws_filepos_t)req->rlen, &p,
	                                end))
		return -1;
	if (add_header(wsi, "x-content-type-options", "nosniff", &p, end) ||
	    add_header(wsi, "cache-control", req->cache, &p, end))
		return -1;
	if (req->html) {
		if (add_header(wsi, "content-security-policy", req->csp ? req->csp : SERVER_CSP_DEFAULT, &p,
		               end) ||
		    add_header(wsi, "x-frame-options", "DENY", &p, end) ||
		    add_header(wsi, "referrer-policy", "no-referrer", &p, end))
			return -1;
	} else if (add_header(wsi, "content-security-policy", "default-src 'none'; frame-ancestors 'none'",
	                      &p, end)) {
		return -1;
	}
	if (req->allow[0] && add_header(wsi, "allow", req->allow, &p, end))
		return -1;
	if (add_header(wsi, "connection", "close", &p, end))
		return -1;
	for (size_t off = 0; off < req->extra.len;) {
		const char *name = req->extra.p + off;
		const char *value = name + strlen(name) + 1;
		off = (size_t)(value - req->extra.p) + strlen(value) + 1;
		if (add_header(wsi, name, value, &p, end))
			return -1;
	}
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	return 0;
}

/*
 * The response is out: release the request and close the connection (one
 * request per connection, server.h).  The close waits for one more
 * writable callback, which lws gives only once whatever it still buffers
 * of the response has been sent.
 */
static int finish_response(struct hconn *hc)
{
	struct server_req *req = hc->req;
	hc->req = NULL;
	req_free(req);
	hc->flushing = 1;
	lws_callback_on_writable(hc->wsi);
	return 0;
}

static int http_writeable(struct hconn *hc)
{
	if (hc->flushing)
		return -1;
	struct server_req *req = hc->req;
	if (!req || !req->responded)
		return 0;
	if (!req->headers_sent) {
		if (write_headers(req, hc->wsi) < 0)
			return -1;
		req->headers_sent = 1;
		if (req->head || req->rlen == 0)
			return finish_response(hc);
		lws_callback_on_writable(hc->wsi);
		return 0;
	}
	size_t left = req->rlen - req->sent;
	size_t n = left > WRITE_CHUNK ? WRITE_CHUNK : left;
	int final = n == left;
	unsigned char *chunk = xmalloc(LWS_PRE + n);
	memcpy(chunk + LWS_PRE, req->rbody + req->sent, n);
	int w = lws_write(hc->wsi, chunk + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
	free(chunk);
	if (w < (int)n)
		return -1;
	req->sent += n;
	if (final)
		return finish_response(hc);
	lws_callback_on_writable(hc->wsi);
	return 0;
}

static void respond_health(struct server_req *req)
{
	struct server *s = req->li->srv;
	struct buf b;
	buf_init(&b, 256u * 1024u);
	int ok = 1;
	if (s->health)
		ok = s->health(&b, s->health_arg);
	else
		buf_puts(&b, "{\"status\":\"ok\"}");
	server_respond_buf(req, ok ? 200 : 503, "application/json", &b);
}

static void dispatch(struct server_req *req)
{
	const struct route *r = req->route;
	req->in_handler = 1;
	enum server_handled h = r->fn(req, r->arg);
	req->in_handler = 0;
	if (h == SERVER_LATER) {
		req->deferred = 1;
		return;
	}
	if (!req->responded) {
		log_error("handler returned without a response", "path=%s", req->path);
		server_respond_error(req, 500, "internal error");
	}
	if (!req->hc)
		req_free(req); /* responded while the connection was already gone */
}

static void method_allow(unsigned m, char *allow, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{SERVER_GET, "GET, HEAD"},
	             {SERVER_POST, "POST"},
	             {SERVER_PUT, "PUT"},
	             {SERVER_DELETE, "DELETE"},
	             {SERVER_PATCH, "PATCH"}};
	allow[0] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (m & names[i].bit) {
			size_t used = strlen(allow);
			snprintf(allow + used, n - used, "%s%s", used ? ", " : "", names[i].name);
		}
}

/* LWS_CALLBACK_HTTP: a request's headers are in.  Returns the value for lws. */
static int http_request(struct lws *wsi, struct listener *li, const char *uri)
{
	struct hconn *hc = lws_get_opaque_user_data(wsi);
	if (!hc) {
		hc = xcalloc(1, sizeof(*hc));
		hc->kind = CONN_HTTP;
		hc->wsi = wsi;
		hc->li = li;
		lws_set_opaque_user_data(wsi, hc);
	}
	if (hc->req) {
		log_error("request while another is pending on one connection", "listener=%s", li->name);
		return -1;
	}
	struct server_req *req = xcalloc(1, sizeof(*req));
	hc->req = req;
	req->hc = hc;
	req->li = li;
	req->path = xstrdup(uri && *uri ? uri : "/");
	buf_init(&req->body, SERVER_MAX_BODY);
	buf_init(&req->extra, 16u * 1024u);
	args_capture(wsi, &req->args);
	if (hc->slot)
		client_address(li, hc->slot, wsi, req->peer, sizeof(req->peer));
	else
		peer_addr(wsi, req->peer, sizeof(req->peer));
	for (size_t i = 0; i < NHDR; i++)
		req->hdr[i] = header_dup(wsi, req_headers[i].token, req_headers[i].custom);

	char *muri;
	int mlen;
	int m = lws_http_get_uri_and_method(wsi, &muri, &mlen);
	switch (m) {
	case LWSHUMETH_GET: req->method = SERVER_GET; break;
	case LWSHUMETH_HEAD:
		req->method = SERVER_GET;
		req->head = 1;
		break;
	case LWSHUMETH_POST: req->method = SERVER_POST; break;
	case LWSHUMETH_PUT: req->method = SERVER_PUT; break;
	case LWSHUMETH_PATCH: req->method = SERVER_PATCH; break;
	case LWSHUMETH_DELETE: req->method = SERVER_DELETE; break;
	default: req->method = 0; break;
	}

	/* Checks every request passes, whatever its route (server.h). */
	long body_len;
	if (framing_ok(wsi, &body_len) < 0) {
		server_respond_error(req, 400,
		                     "send the body with one Content-Length and no Transfer-Encoding");
		return 0;
	}
	if (req->method == SERVER_GET && body_len > 0) {
		server_respond_error(req, 400, "a GET or HEAD request has no body");
		return 0;
	}
	if (!host_ok(li, server_req_header(req, "host"))) {
		server_respond_error(req, 421, "this server does not answer to that host name");
		return 0;
	}
	if (hc->slot && charge_client(hc->slot, req->peer) < 0) {
		server_req_add_header(req, "Retry-After", "5");
		server_respond_error(req, 429, "too many connections from your address");
		return 0;
	}

	const struct route *r = route_find(li, req->path);
	req->route = r;
	if (!r && strcmp(req->path, "/healthz") == 0) {
		if (req->method != SERVER_GET) {
			snprintf(req->allow, sizeof(req->allow), "GET, HEAD");
			server_respond_error(req, 405, "method not allowed");
		} else {
			respond_health(req);
		}
		return 0;
	}
	if (!r) {
		server_respond_error(req, 404, "not found");
		return 0;
	}
	if (r->kind == R_WS) {
		server_respond_error(req, 426, "this is a WebSocket endpoint");
		return 0;
	}
	if (r->kind == R_STATIC) {
		if (req->method != SERVER_GET) {
			snprintf(req->allow, sizeof(req->allow), "GET, HEAD");
			server_respond_error(req, 405, "method not allowed");
			return 0;
		}
		req->csp = r->csp;
		req->cache = "no-cache";
		req_set_response(req, 200, r->ctype, r->data, r->len, NULL);
		return 0;
	}
	if (!req->method || !(r->methods & req->method)) {
		method_allow(r->methods, req->allow, sizeof(req->allow));
		server_respond_error(req, 405, "method not allowed");
		return 0;
	}
	req->body.cap_max = r->max_body;
	if (req->method != SERVER_GET) {
		if ((size_t)body_len > r->max_body) {
			server_respond_error(req, 413, "request body too large");
			return 0;
		}
		if (body_len > 0) {
			req->expect = body_len;
			return 0; /* HTTP_BODY ... HTTP_BODY_COMPLETION follow */
		}
	}
	dispatch(req);
	return 0;
}

static int http_body(struct hconn *hc, const void *in, size_t len)
{
	struct server_req *req = hc ? hc->req : NULL;
	if (!req || req->responded)
		return 0;
	if (buf_append(&req->body, in, len) < 0) {
		server_respond_error(req, 413, "request body too large");
	}
	return 0;
}

static int http_body_done(struct hconn *hc)
{
	struct server_req *req = hc ? hc->req : NULL;
	if (!req || req->responded)
		return 0;
	if (!req->body.p)
		buf_puts(&req->body, "");
	dispatch(req);
	return 0;
}

/* The HTTP side of a connection is gone (closed, or upgraded): free it and
 * return its slot, which the caller frees or hands on. */
static struct slot *hconn_release(struct lws *wsi, struct hconn *hc)
{
	struct slot *sl = hc->slot;
	if (hc->req) {
		struct server_req *req = hc->req;
		hc->req = NULL;
		req->hc = NULL;
		/* A deferred request stays with its handler until it responds. */
		if (!(req->deferred && !req->responded) && !req->in_handler)
			req_free(req);
	}
	lws_set_opaque_user_data(wsi, NULL);
	free(hc);
	return sl;
}

/* ---- WebSockets ------------------------------------------------------------ */

static void ws_count(struct listener *li, int delta)
{
	li->ws_count += delta;
	if (li->srv->m_ws)
		metric_set_l(li->srv->m_ws, (double)li->ws_count, li->name);
}

static void ws_free(struct server_ws *ws)
{
	struct frame *f = ws->qhead;
	while (f) {
		struct frame *n = f->next;
		free(f);
		f = n;
	}
	args_free(&ws->args);
	buf_free(&ws->rx);
	free(ws);
}

/* The connection is gone: tell the endpoint once, unlink, free. */
static void ws_release(struct lws *wsi, struct server_ws *ws)
{
	struct server *s = ws->li->srv;
	ws->gone = 1;
	if (ws->route->ops->on_close)
		ws->route->ops->on_close(ws, ws->route->arg);
	if (ws->prev)
		ws->prev->next = ws->next;
	else
		s->ws_list = ws->next;
	if (ws->next)
		ws->next->prev = ws->prev;
	if (ws->established)
		ws_count(ws->li, -1);
	lws_set_opaque_user_data(wsi, NULL);
	slot_free(ws->slot);
	ws_free(ws);
}

/* Refuse an upgrade with an HTTP status.  lws writes it and closes. */
static int ws_refuse(struct lws *wsi, int status)
{
	if (status < 400 || status > 599)
		status = 403;
	lws_return_http_status(wsi, (unsigned)status, NULL);
	return -1;
}

static int ws_filter(struct lws *wsi, struct listener *li)
{
	char path[512];
	int n = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	if (n <= 0)
		return ws_refuse(wsi, 400);
	void *old = lws_get_opaque_user_data(wsi);
	struct hconn *hc = old && *(enum conn_kind *)old == CONN_HTTP ? old : NULL;
	char peer[64];
	if (hc && hc->slot)
		client_address(li, hc->slot, wsi, peer, sizeof(peer));
	else
		peer_addr(wsi, peer, sizeof(peer));
	/* The checks of every request (server.h), before any upgrade work. */
	long body_len;
	if (framing_ok(wsi, &body_len) < 0 || body_len > 0)
		return ws_refuse(wsi, 400);
	char *host = header_dup(wsi, WSI_TOKEN_HOST, NULL);
	if (!host_ok(li, host)) {
		free(host);
		return ws_refuse(wsi, 421);
	}
	if (hc && hc->slot && charge_client(hc->slot, peer) < 0) {
		free(host);
		return ws_refuse(wsi, 429);
	}
	const struct route *r = route_find(li, path);
	if (!r || r->kind != R_WS || r->prefix) {
		free(host);
		return ws_refuse(wsi, 404);
	}

	struct server_ws *ws = xcalloc(1, sizeof(*ws));
	ws->kind = CONN_WS;
	ws->li = li;
	ws->wsi = wsi;
	ws->route = r;
	buf_init(&ws->rx, r->ops->max_message ? r->ops->max_message : SERVER_MAX_WS_MESSAGE);
	snprintf(ws->peer, sizeof(ws->peer), "%s", peer);
	args_capture(wsi, &ws->args);
	char *origin = header_dup(wsi, WSI_TOKEN_ORIGIN, NULL);
	char *cookie = header_dup(wsi, WSI_TOKEN_HTTP_COOKIE, NULL);
	char *ua = header_dup(wsi, WSI_TOKEN_HTTP_USER_AGENT, NULL);
	char *authz = header_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, NULL);
	struct server_ws_info info = {
	    .path = path,
	    .query = ws->args.joined,
	    .peer = ws->peer,
	    .origin = origin,
	    .host = host,
	    .cookie = cookie,
	    .user_agent = ua,
	    .authorization = authz,
	};
	int status = r->ops->on_open(ws, &info, r->arg);
	free(authz);
	free(origin);
	free(cookie);
	free(ua);
	free(host);
	if (status != 0) {
		ws_free(ws);
		return ws_refuse(wsi, status); /* the hconn and its slot go with the wsi */
	}
	if (hc)
		ws->slot = hconn_release(wsi, hc);
	struct server *s = li->srv;
	ws->next = s->ws_list;
	if (s->ws_list)
		s->ws_list->prev = ws;
	s->ws_list = ws;
	lws_set_opaque_user_data(wsi, ws);
	return 0;
}

static void ws_receive(struct server_ws *ws, const void *in, size_t len)
{
	struct lws *wsi = ws->wsi;
	const struct server_ws_ops *ops = ws->route->ops;

	if (lws_is_first_fragment(wsi)) {
		buf_reset(&ws->rx);
		ws->rx_discard = 0;
		ws->rx_binary = lws_frame_is_binary(wsi);
	}
	if (!ws->rx_discard && !ws->rx_binary && buf_append(&ws->rx, in, len) < 0) {
		ws->rx_discard = 1;
		buf_reset(&ws->rx);
		if (ws->closing)
			return;
		if (ops->on_too_big)
			ops->on_too_big(ws, ws->route->arg);
		else
			server_ws_close(ws, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
	}
	if (!lws_is_final_fragment(wsi) || ws->rx_discard || ws->closing)
		return;
	if (ws->rx_binary) {
		if (ops->on_binary)
			ops->on_binary(ws, ws->route->arg);
		return;
	}
	if (!ws->rx.p)
		buf_puts(&ws->rx, "");
	if (ops->on_text)
		ops->on_text(ws, ws->rx.p, ws->rx.len, ws->route->arg);
	/* A large message should not pin its buffer for the connection's life. */
	if (ws->rx.cap > 16384)
		buf_free(&ws->rx);
	else
		buf_reset(&ws->rx);
}

static int ws_writeable(struct server_ws *ws)
{
	struct lws *wsi = ws->wsi;
	int frames = 0;
	size_t bytes = 0;

	/* Several frames per callback (a post costs two: echo and reply),
	 * as long as the socket takes them without lws having to buffer.
	 * lws_partial_buffered asks lws (what its documentation wants after
	 * each write); lws_send_pipe_choked would also poll(2) the socket,
	 * a system call per frame. */
	while (ws->qhead && frames < WS_FRAMES_PER_WRITE && bytes < WS_BYTES_PER_WRITE) {
		if (frames && lws_partial_buffered(wsi))
			break;
		struct frame *f = ws->qhead;
		ws->qhead = f->next;
		if (!ws->qhead)
			ws->qtail = NULL;
		ws->queued -= f->len;
		bytes += f->len;
		int n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
		int short_write = n < (int)f->len;
		free(f);
		if (short_write)
			return -1;
		frames++;
	}
	if (ws->qhead) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (ws->closing) {
		/*
		 * lws 4.1 treats -1 from a WRITEABLE callback as a failed write
		 * and drops the socket without a close frame; -1 from the wsi
		 * timer callback takes the polite path (close frame with this
		 * reason, wait for the peer's answer).
		 */
		if (!ws->close_sent) {
			lws_close_reason(wsi, (enum lws_close_status)ws->close_status,
			                 (unsigned char *)ws->close_reason, strlen(ws->close_reason));
			lws_set_timer_usecs(wsi, 1);
			ws->close_sent = 1;
		}
		return 0;
	}
	if (frames && ws->route->ops->on_drained)
		ws->route->ops->on_drained(ws, ws->route->arg);
	return 0;
}

int server_ws_send(struct server_ws *ws, const char *text, size_t len)
{
	if (ws->gone || ws->closing)
		return -1;
	if (ws->queued + len > SERVER_MAX_WS_QUEUE) {
		log_warn("websocket client not reading, closing it", "listener=%s peer=%s queued=%zu",
		         ws->li->name, ws->peer, ws->queued);
		server_ws_close(ws, LWS_CLOSE_STATUS_POLICY_VIOLATION, "send queue full");
		return -1;
	}
	struct frame *f = xmalloc(sizeof(*f) + LWS_PRE + len);
	f->next = NULL;
	f->len = len;
	memcpy(f->data + LWS_PRE, text, len);
	int was_empty = ws->qhead == NULL;
	if (ws->qtail)
		ws->qtail->next = f;
	else
		ws->qhead = f;
	ws->qtail = f;
	ws->queued += len;
	/* A non-empty queue always has a writable callback pending. */
	if (ws->established && was_empty)
		lws_callback_on_writable(ws->wsi);
	return 0;
}

void server_ws_close(struct server_ws *ws, int status, const char *reason)
{
	if (ws->gone || ws->closing)
		return;
	ws->closing = 1;
	ws->close_status = status;
	snprintf(ws->close_reason, sizeof(ws->close_reason), "%s", reason ? reason : "");
	if (ws->established)
		lws_callback_on_writable(ws->wsi);
}

void server_ws_close_all(struct server *s)
{
	for (struct server_ws *ws = s->ws_list; ws; ws = ws->next)
		server_ws_close(ws, LWS_CLOSE_STATUS_GOINGAWAY, "server stopping");
}

int server_ws_arg(const struct server_ws *ws, const char *name, char *out, size_t n)
{
	return args_get(&ws->args, name, out, n);
}

void server_ws_set_data(struct server_ws *ws, void *data)
{
	ws->data = data;
}

void *server_ws_data(const struct server_ws *ws)
{
	return ws->data;
}

const char *server_ws_peer(const struct server_ws *ws)
{
	return ws->peer;
}

size_t server_ws_queued(const struct server_ws *ws)
{
	return ws->queued;
}

struct listener *server_ws_listener(const struct server_ws *ws)
{
	return ws->li;
}

/* ---- the protocol callback ------------------------------------------------- */

static int server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);
	struct server *srv = vh ? lws_get_vhost_user(vh) : NULL;
	void *opaque = lws_get_opaque_user_data(wsi);
	/* The first callback of a connection the gate just handed over takes
	 * its slot (gate_adopt). */
	if (!opaque && srv && srv->adopt_slot && lws_get_socket_fd(wsi) == srv->adopt_fd) {
		struct hconn *hc = xcalloc(1, sizeof(*hc));
		hc->kind = CONN_HTTP;
		hc->wsi = wsi;
		hc->li = srv->adopt_slot->li;
		hc->slot = srv->adopt_slot;
		srv->adopt_slot = NULL;
		lws_set_opaque_user_data(wsi, hc);
		opaque = hc;
	}
	enum conn_kind kind = opaque ? *(enum conn_kind *)opaque : 0;
	/* The listener a connection came to (its own; not the shared vhost's). */
	struct listener *li = kind == CONN_HTTP ? ((struct hconn *)opaque)->li
	                      : kind == CONN_WS ? ((struct server_ws *)opaque)->li
	                                        : NULL;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (!li)
			return -1;
		return http_request(wsi, li, in);
	case LWS_CALLBACK_HTTP_BODY: return kind == CONN_HTTP ? http_body(opaque, in, len) : 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION: return kind == CONN_HTTP ? http_body_done(opaque) : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE: return kind == CONN_HTTP ? http_writeable(opaque) : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!li)
			return -1;
		return ws_filter(wsi, li);
	case LWS_CALLBACK_ESTABLISHED:
		if (kind != CONN_WS)
			return -1;
		((struct server_ws *)opaque)->established = 1;
		ws_count(li, 1);
		if (((struct server_ws *)opaque)->qhead || ((struct server_ws *)opaque)->closing)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (kind == CONN_WS)
			ws_receive(opaque, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE: return kind == CONN_WS ? ws_writeable(opaque) : 0;
	case LWS_CALLBACK_TIMER:
		/* Only armed by ws_writeable to close (see there). */
		return kind == CONN_WS && ((struct server_ws *)opaque)->closing ? -1 : 0;
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		if (kind == CONN_WS)
			ws_release(wsi, opaque);
		else if (kind == CONN_HTTP)
			slot_free(hconn_release(wsi, opaque));
		return 0;
	default: break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols server_protocols[] = {
    {"frontdesk", server_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- listeners ------------------------------------------------------------ */

struct server *server_new(struct loop *l)
{
	struct server *s = xcalloc(1, sizeof(*s));
	s->loop = l;
	s->idle.secs_since_valid_ping = SERVER_WS_PING_SECS;
	s->idle.secs_since_valid_hangup = SERVER_WS_HANGUP_SECS;
	if (l->hooks.metrics) {
		s->m_requests =
		    metrics_counter(l->hooks.metrics, "http_server_requests_total",
		                    "HTTP requests answered by the built-in server.", "listener,code");
		s->m_ws = metrics_gauge(l->hooks.metrics, "ws_connections",
		                        "Open WebSocket connections on the built-in server.", "listener");
		s->m_refused =
		    metrics_counter(l->hooks.metrics, "http_server_refused_total",
		                    "Connections refused before a response from a handler (limits, "
		                    "slow or oversized request heads).",
		                    "listener,reason");
	}
	s->adopt_fd = -1;
	s->head_ms = SERVER_HEAD_SECS * 1000u;
	loop_add_closer(l, &s->closer, server_close_listeners, s);
	return s;
}

/*
 * Split "HOST:PORT" / "[V6]:PORT" into a numeric address and a port.
 * "localhost" means 127.0.0.1.  0 or -1 with a message.
 */
static int parse_listen(const char *addr, char *host, size_t hn, int *port, int *family, char *err,
                        size_t errlen)
{
	const char *colon;
	size_t hl;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "bad listen address \"%s\": expected [IPV6]:PORT", addr);
			return -1;
		}
		hl = (size_t)(close - addr - 1);
		if (hl >= hn)
			goto bad;
		memcpy(host, addr + 1, hl);
		host[hl] = '\0';
		colon = close + 1;
		*family = AF_INET6;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			goto bad;
		hl = (size_t)(colon - addr);
		if (hl >= hn)
			goto bad;
		memcpy(host, addr, hl);
		host[hl] = '\0';
		if (strcmp(host, "localhost") == 0)
			snprintf(host, hn, "127.0.0.1");
		*family = AF_INET;
	}
	long p;
	if (parse_long(colon + 1, &p) < 0 || p > 65535)
		goto bad;
	*port = (int)p;
	unsigned char tmp[sizeof(struct in6_addr)];
	if (inet_pton(*family, host, tmp) != 1) {
		snprintf(err, errlen, "bad listen address \"%s\": \"%s\" is not an IP%s address", addr, host,
		         *family == AF_INET6 ? "v6" : "v4");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad listen address \"%s\": expected HOST:PORT or [IPV6]:PORT", addr);
	return -1;
}

/* The listening socket, non-blocking; its port in *bound.  0, or -1 with
 * "cannot listen on ADDR: REASON" in err. */
static int open_listener(int family, const char *host, int port, const char *addr, int *fd_out, int *bound,
                         char *err, size_t errlen)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &sa->sin6_addr);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		sl = sizeof(*sa);
	} else {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &sa->sin_addr);
		sl = sizeof(*sa);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	*bound = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                  : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return 0;
}

static void free_peers(struct listener *li)
{
	for (size_t b = 0; b < PEER_BUCKETS; b++) {
		while (li->peers[b]) {
			struct peer *p = li->peers[b];
			li->peers[b] = p->next;
			free(p);
		}
	}
}

static void listener_free(struct listener *li)
{
	struct route *r = li->routes;
	while (r) {
		struct route *rn = r->next;
		free(r->path);
		free(r->csp);
		free(r);
		r = rn;
	}
	if (li->fd >= 0)
		close(li->fd); /* never started (the vhost failed) */
	free_peers(li);
	free(li->trusted);
	strv_free(li->hosts);
	free(li->name);
	free(li->addr);
	free(li);
}

struct listener *server_listen(struct server *s, const char *addr, const char *name, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	int port, family, fd, bound;

	if (!s->loop->lws) {
		snprintf(err, errlen, "cannot listen on %s: the event loop is not running", addr);
		return NULL;
	}
	if (parse_listen(addr, host, sizeof(host), &port, &family, err, errlen) < 0)
		return NULL;
	if (open_listener(family, host, port, addr, &fd, &bound, err, errlen) < 0)
		return NULL;

	struct listener *li = xcalloc(1, sizeof(*li));
	li->srv = s;
	li->fd = fd;
	li->port = bound;
	li->name = xstrdup(name ? name : "http");
	li->addr = xstrdup(addr);
	li->max_conns = SERVER_DEFAULT_CONNECTIONS;
	li->per_addr = SERVER_DEFAULT_PER_ADDRESS;

	if (!s->vh) {
		/* The server's one vhost, without a listening socket of its
		 * own: connections come through the gate
		 * (lws_adopt_socket_vhost). */
		struct lws_context_creation_info info;
		memset(&info, 0, sizeof(info));
		info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
		info.protocols = server_protocols;
		info.vhost_name = "frontdesk";
		info.user = s;
		info.keepalive_timeout = 30;
		info.timeout_secs = 20;
		info.server_string = "frontdesk";
		/* Only the idle part of the policy applies to server
		 * connections: a WebSocket silent for ping_secs gets a PING,
		 * one silent for hangup_secs (a vanished peer, a half-open
		 * TCP) is dropped. */
		info.retry_and_idle_policy = &s->idle;
		s->vh = lws_create_vhost(s->loop->lws, &info);
		if (!s->vh) {
			snprintf(err, errlen, "cannot listen on %s", addr);
			listener_free(li);
			return NULL;
		}
	}
	uv_poll_init(&s->loop->uv, &li->lpoll, fd);
	uv_timer_init(&s->loop->uv, &li->pause);
	li->lpoll.data = li;
	li->pause.data = li;
	li->handles_open = 2;
	uv_poll_start(&li->lpoll, UV_READABLE, on_accept);
	li->next = s->listeners;
	s->listeners = li;
	log_info("listening", "listener=%s addr=%s port=%d", li->name, addr, li->port);
	return li;
}

int listener_configure(struct listener *li, const struct listener_opts *o, char *err, size_t errlen)
{
	size_t n = 0;
	while (o->trusted_proxies && o->trusted_proxies[n])
		n++;
	struct netaddr_net *nets = n ? xcalloc(n, sizeof(*nets)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (netaddr_parse_net(o->trusted_proxies[i], &nets[i], err, errlen) < 0) {
			free(nets);
			return -1;
		}
	}
	free(li->trusted);
	li->trusted = nets;
	li->ntrusted = n;
	li->proxy_header = o->proxy_header;
	li->max_conns = o->max_connections > 0 ? o->max_connections : SERVER_DEFAULT_CONNECTIONS;
	li->per_addr =
	    o->connections_per_address > 0 ? o->connections_per_address : SERVER_DEFAULT_PER_ADDRESS;
	strv_free(li->hosts);
	li->hosts = NULL;
	if (o->hosts) {
		size_t k = 0;
		while (o->hosts[k])
			k++;
		li->hosts = xcalloc(k + 1, sizeof(char *));
		for (size_t i = 0; i < k; i++) {
			const char *h = o->hosts[i];
			size_t hl = strlen(h);
			/* "[::1]" and "::1" name the same host; Host carries the brackets. */
			if (strchr(h, ':') && h[0] != '[')
				li->hosts[i] = xasprintf("[%s]", h);
			else
				li->hosts[i] = xstrndup(h, hl > 1 && h[hl - 1] == '.' ? hl - 1 : hl);
			for (char *c = li->hosts[i]; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
	}
	return 0;
}

long listener_connections(const struct listener *li)
{
	return li->nconns;
}

int listener_port(const struct listener *li)
{
	return li->port;
}

const char *listener_name(const struct listener *li)
{
	return li->name;
}

void server_set_idle(struct server *s, unsigned ping_secs, unsigned hangup_secs)
{
	s->idle.secs_since_valid_ping = (uint16_t)(ping_secs > 65535 ? 65535 : ping_secs);
	s->idle.secs_since_valid_hangup = (uint16_t)(hangup_secs > 65535 ? 65535 : hangup_secs);
}

void server_set_head_timeout(struct server *s, unsigned ms)
{
	s->head_ms = ms ? ms : SERVER_HEAD_SECS * 1000u;
}

void server_set_health(struct server *s, server_health_fn fn, void *arg)
{
	s->health = fn;
	s->health_arg = arg;
}

int server_route_static(struct listener *li, const char *path, const char *content_type, const void *data,
                        size_t len, const char *csp)
{
	struct route *r = route_add(li, path, R_STATIC);
	if (!r)
		return -1;
	r->ctype = content_type ? content_type : "application/octet-stream";
	r->data = data;
	r->len = len;
	r->csp = csp ? xstrdup(csp) : NULL;
	return 0;
}

const char *server_mime_type(const char *name)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".json", "application/json"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".yaml", "text/plain; charset=utf-8"},
	    {".webmanifest", "application/manifest+json"},
	};
	const char *dot = strrchr(name, '.');
	if (dot)
		for (size_t i = 0; i < ARRAY_LEN(types); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

int server_route_embedded(struct listener *li, const char *path, const char *name)
{
	const struct embedded_file *f = embedded_find(name);
	if (!f) {
		log_error("embedded file missing", "name=%s", name);
		return -1;
	}
	return server_route_static(li, path, server_mime_type(name), f->data, f->len, NULL);
}

int server_route_api(struct listener *li, const char *path, unsigned methods, server_handler_fn fn, void *arg,
                     size_t max_body)
{
	if (!fn || !methods)
		return -1;
	struct route *r = route_add(li, path, R_API);
	if (!r)
		return -1;
	r->methods = methods;
	r->fn = fn;
	r->arg = arg;
	r->max_body = max_body ? max_body : SERVER_MAX_BODY;
	return 0;
}

int server_route_ws(struct listener *li, const char *path, const struct server_ws_ops *ops, void *arg)
{
	if (!ops || !ops->on_open || path[strlen(path) - 1] == '*')
		return -1;
	struct route *r = route_add(li, path, R_WS);
	if (!r)
		return -1;
	r->ops = ops;
	r->arg = arg;
	return 0;
}

/* ---- request accessors ------------------------------------------------------ */

enum server_method server_req_method(const struct server_req *req)
{
	return req->method;
}

const char *server_req_path(const struct server_req *req)
{
	return req->path;
}

const char *server_req_query(const struct server_req *req)
{
	return req->args.joined ? req->args.joined : "";
}

int server_req_arg(const struct server_req *req, const char *name, char *out, size_t n)
{
	return args_get(&req->args, name, out, n);
}

const char *server_req_header(const struct server_req *req, const char *name)
{
	for (size_t i = 0; i < NHDR; i++)
		if (strcasecmp(req_headers[i].name, name) == 0)
			return req->hdr[i];
	return NULL;
}

const char *server_req_peer(const struct server_req *req)
{
	return req->peer;
}

const char *server_req_body(const struct server_req *req, size_t *len)
{
	if (len)
		*len = req->body.len;
	return req->body.p ? req->body.p : "";
}

struct listener *server_req_listener(const struct server_req *req)
{
	return req->li;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	struct listener *li = s->listeners;
	while (li) {
		struct listener *next = li->next;
		listener_free(li);
		li = next;
	}
	free(s);
}
