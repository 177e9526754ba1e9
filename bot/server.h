/*
 * server.h - the built-in HTTP/WebSocket server on libwebsockets (on the
 * loop of loop.h): one listener per configured address ("127.0.0.1:8080",
 * "[::1]:8080"), each with its own route table of
 *   - static bytes from memory (the embedded widget/dashboard files),
 *   - JSON API handlers (GET/POST/PUT/DELETE, request body capped), which may
 *     answer at once or later,
 *   - WebSocket endpoints mounted at a path (web chat "/chat", dashboard
 *     "/api/live"), with a per-connection send queue.
 * Every listener answers GET /healthz from the health callback
 * (server_set_health).  Every response carries X-Content-Type-Options:
 * nosniff and a Cache-Control; HTML additionally gets a strict
 * Content-Security-Policy, X-Frame-Options and Referrer-Policy.
 *
 * Routes may be added at any time (later modules plug theirs into an
 * existing listener); a path matches exactly, or as a prefix when the route
 * path ends in '*' ("/api/tickets/" followed by '*').  Exact routes win over
 * prefix routes, longer prefixes over shorter ones.  An unknown path answers
 * 404, a known path with a method it does not serve 405, a WebSocket path
 * asked for without an upgrade 426.  An idle WebSocket gets a PING and is
 * dropped when its peer stays silent (server_set_idle).
 *
 * Connections (why the server accepts its own sockets): each listener
 * accepts its TCP connections itself and reads the request head before
 * libwebsockets sees anything.  lws 4.1.6 closes a connection without a
 * word when a request head outgrows its header space, when a URL has more
 * '&' / ';' parts than it has fragments, or when there are too many header
 * lines, and it never decodes a chunked request body (it reads a body by
 * Content-Length alone, so "Transfer-Encoding: chunked" plus a
 * Content-Length smuggles the rest in as a second request).  So:
 *   - a request line over SERVER_MAX_REQUEST_LINE bytes or with more than
 *     SERVER_MAX_URI_PARTS '&' / ';' answers 414; a head over SERVER_MAX_HEAD
 *     bytes or with more than SERVER_MAX_HEADER_LINES lines answers 431; a
 *     head not complete within SERVER_HEAD_SECS answers 408; each closes;
 *   - every connection serves one request (responses say Connection: close)
 *     or becomes a WebSocket, so a request never follows another on a
 *     connection and no later request escapes these checks;
 *   - a request with Transfer-Encoding (with or without Content-Length), or
 *     with more than one Content-Length (or one that is not a number),
 *     answers 400 and closes, on every route, WebSocket upgrades included;
 *   - connections are capped before any HTTP or WebSocket work: at most
 *     `max_connections` on the listener (503) and `connections_per_address`
 *     from one client address (429), counting connections still sending
 *     their head, plain HTTP ones and WebSockets alike.
 * The client address is the TCP peer, except from a trusted proxy
 * (listener_configure): then it is the rightmost address in
 * X-Forwarded-For (or in Forwarded's for= parameters) that is not itself a
 * trusted proxy; anyone else's X-Forwarded-For / Forwarded is ignored.
 * server_req_peer / server_ws_peer and the per-address limit use it.  With
 * `hosts` set, a request whose Host header names another host answers 421
 * (DNS rebinding: a page of another site that resolves to this address).
 *
 * Ownership: struct server and its listeners are created by server_new /
 * server_listen and freed by server_free (after loop_run returned: lws must
 * have closed every connection first).  Route paths are copied; static data
 * and the ops tables are borrowed and must outlive the server.  A struct
 * server_req is owned by the server; a handler that answers later keeps it
 * until it calls server_respond*() exactly once.  A struct server_ws is owned
 * by the server and valid from on_open until on_close returns.  Strings a
 * server_req / server_ws hands out are borrowed for as long as the object.
 */
#ifndef FD_SERVER_H
#define FD_SERVER_H

#include <stddef.h>

#include "util.h"

struct loop;
struct server;
struct listener;
struct server_req;
struct server_ws;

#define SERVER_MAX_BODY            (64u * 1024u)   /* default request body cap */
#define SERVER_MAX_WS_MESSAGE      (64u * 1024u)   /* default WebSocket message cap */
#define SERVER_MAX_WS_QUEUE        (1024u * 1024u) /* queued bytes per connection before it is dropped */
#define SERVER_WS_PING_SECS        30              /* idle WebSocket gets a PING after this */
#define SERVER_WS_HANGUP_SECS      75              /* ... and is dropped when silent this long */
#define SERVER_MAX_REQUEST_LINE    4096            /* "GET /path?query HTTP/1.1"; longer: 414 */
#define SERVER_MAX_URI_PARTS       32              /* '&' and ';' in the request line; more: 414 */
#define SERVER_MAX_HEAD            8192            /* request line and headers; longer: 431 */
#define SERVER_MAX_HEADER_LINES    48              /* header lines of one request; more: 431 */
#define SERVER_HEAD_SECS           15              /* to send the whole head; slower: 408 */
#define SERVER_DEFAULT_CONNECTIONS 512             /* per listener, unless configured */
#define SERVER_DEFAULT_PER_ADDRESS 32              /* per client address, unless configured */

/* Create the server on a loop that loop_init set up.  Never fails. */
struct server *server_new(struct loop *l);

/*
 * Listen on `addr`: "IPV4:PORT", "localhost:PORT" (127.0.0.1) or
 * "[IPV6]:PORT"; no other host names (binding must not depend on DNS).  Port 0 picks a free
 * port (see listener_port).  `name` labels logs and metrics ("webchat",
 * "dashboard").  Returns the listener, or NULL with a message in err
 * (e.g. "cannot listen on 127.0.0.1:8080: Address already in use").
 */
struct listener *server_listen(struct server *s, const char *addr, const char *name, char *err,
                               size_t errlen);

/* Which header a trusted proxy tells the client address in. */
enum server_proxy_header { SERVER_PROXY_X_FORWARDED_FOR = 0, SERVER_PROXY_FORWARDED };

/* A listener's limits and whom it trusts; every member may be 0 / NULL. */
struct listener_opts {
	long max_connections;         /* 0 = SERVER_DEFAULT_CONNECTIONS */
	long connections_per_address; /* 0 = SERVER_DEFAULT_PER_ADDRESS */
	/* Addresses or networks ("127.0.0.1", "10.0.0.0/8", "fd00::/8") whose
	 * requests carry the client address in proxy_header; NULL-terminated. */
	char *const *trusted_proxies;
	enum server_proxy_header proxy_header;
	/* Host names (or addresses) the listener answers to, without port;
	 * NULL-terminated; NULL = any Host. */
	char *const *hosts;
};

/*
 * Set (or, on reload, replace) a listener's limits, trusted proxies and
 * host names; they apply to connections accepted from then on (and to the
 * requests of open ones).  0, or -1 with a reason in err when a trusted
 * proxy is not an address or network (nothing is changed then).
 */
int listener_configure(struct listener *li, const struct listener_opts *o, char *err, size_t errlen);

/* Connections open on the listener now (reading a head, HTTP, WebSocket). */
long listener_connections(const struct listener *li);

/* Idle policy for the server's WebSockets (the defaults are
 * SERVER_WS_PING_SECS / SERVER_WS_HANGUP_SECS): a PING after ping_secs
 * without traffic, the connection dropped after hangup_secs. */
void server_set_idle(struct server *s, unsigned ping_secs, unsigned hangup_secs);

/* How long a request head may take to arrive, for connections accepted
 * after the call (0 = SERVER_HEAD_SECS; tests shorten it). */
void server_set_head_timeout(struct server *s, unsigned ms);

/* The port actually bound (useful with port 0). */
int listener_port(const struct listener *li);
const char *listener_name(const struct listener *li);

/*
 * /healthz: `fn` writes the JSON body into out and returns 1 when every
 * connector is healthy (200) or 0 (503).  Without a health callback /healthz
 * answers 200 {"status":"ok"}.
 */
typedef int (*server_health_fn)(struct buf *out, void *arg);
void server_set_health(struct server *s, server_health_fn fn, void *arg);

/* ---- static files ---------------------------------------------------- */

/*
 * Serve `data` (borrowed, must outlive the server) for GET/HEAD `path`.
 * `content_type` e.g. "text/html; charset=utf-8"; HTML gets the CSP `csp`,
 * or SERVER_CSP_DEFAULT when csp is NULL.  Returns 0, -1 if the path is
 * already routed.
 */
#define SERVER_CSP_DEFAULT                                                                                   \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                    \
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
int server_route_static(struct listener *li, const char *path, const char *content_type, const void *data,
                        size_t len, const char *csp);

/* Serve the embedded file `name` (embedded.h) at `path` with the content
 * type from its extension and the default CSP.  -1 if the file is not
 * embedded or the path is already routed. */
int server_route_embedded(struct listener *li, const char *path, const char *name);

/* Content type for a file name by extension (".html", ".js", ".css", ".svg",
 * ".png", ".ico", ".json", ".txt"); "application/octet-stream" otherwise. */
const char *server_mime_type(const char *name);

/* ---- API handlers ---------------------------------------------------- */

enum server_method {
	SERVER_GET = 1 << 0, /* also answers HEAD */
	SERVER_POST = 1 << 1,
	SERVER_PUT = 1 << 2,
	SERVER_DELETE = 1 << 3,
	SERVER_PATCH = 1 << 4
};

/* What a handler returns. */
enum server_handled {
	SERVER_DONE = 0, /* server_respond*() was called (if not: 500 and a log line) */
	SERVER_LATER = 1 /* the handler keeps req and responds later, exactly once */
};

typedef enum server_handled (*server_handler_fn)(struct server_req *req, void *arg);

/*
 * Route `methods` (a mask of enum server_method) on `path` to `fn`.
 * The body is read completely before fn runs; a body over `max_body`
 * (0 = SERVER_MAX_BODY) answers 413 without calling fn.  Returns 0, or -1 if
 * the path is already routed.
 */
int server_route_api(struct listener *li, const char *path, unsigned methods, server_handler_fn fn, void *arg,
                     size_t max_body);

/* The request, for handlers.  Header lookups cover the headers a handler
 * needs: "cookie", "origin", "x-csrf-token", "content-type", "authorization",
 * "host", "referer", "user-agent", "accept", "x-hub-signature-256" (a
 * webhook's signature, webhook.h) (case-insensitive); NULL when absent or
 * not in that list. */
enum server_method server_req_method(const struct server_req *req);
const char *server_req_path(const struct server_req *req); /* "/api/tickets/12" */
/* The query arguments, URL-decoded, joined with '&' ("a=1&b=2"); "" if none.
 * Use server_req_arg for values that may contain '&' themselves. */
const char *server_req_query(const struct server_req *req);
/* One query argument's URL-decoded value into out; 0, or -1 when absent or
 * longer than n - 1. */
int server_req_arg(const struct server_req *req, const char *name, char *out, size_t n);
const char *server_req_header(const struct server_req *req, const char *name);
/* The client address: the TCP peer, or what a trusted proxy says (above). */
const char *server_req_peer(const struct server_req *req);              /* "127.0.0.1" or "::1" */
const char *server_req_body(const struct server_req *req, size_t *len); /* NUL-terminated */
struct listener *server_req_listener(const struct server_req *req);

/* Add a response header ("Set-Cookie", "Location", ...) before responding.
 * The value must not contain CR or LF (such a header is dropped and logged). */
void server_req_add_header(struct server_req *req, const char *name, const char *value);

/*
 * Respond and release req (it must not be touched afterwards).  Copies
 * body.  If the client went away meanwhile, only releases req.
 * Content type NULL = "application/json".
 */
void server_respond(struct server_req *req, int status, const char *content_type, const void *body,
                    size_t len);
/* Same, taking over body->p (body is reset). */
void server_respond_buf(struct server_req *req, int status, const char *content_type, struct buf *body);
/* {"error":"<msg>"} with `status`. */
void server_respond_error(struct server_req *req, int status, const char *msg);

/* ---- WebSockets -------------------------------------------------------- */

/* What a WebSocket endpoint sees of the upgrade request. */
struct server_ws_info {
	const char *path;   /* "/chat" */
	const char *query;  /* decoded query arguments joined with '&', "" if none */
	const char *peer;   /* the client address, as server_req_peer */
	const char *origin; /* Origin header, NULL when absent */
	const char *host;   /* Host header ("127.0.0.1:8080"), NULL when absent */
	const char *cookie; /* Cookie header, NULL when absent */
	const char *user_agent;
	const char *authorization; /* Authorization header ("Bearer ..."), NULL when absent */
};

struct server_ws_ops {
	/* Messages (possibly fragmented) up to this size are delivered whole;
	 * 0 = SERVER_MAX_WS_MESSAGE. */
	size_t max_message;
	/* A client asks to connect.  Return 0 to accept (frames queued here are
	 * sent once the handshake is done), or an HTTP status (403, 429, ...) to
	 * refuse the upgrade; on_close is then not called.  Required. */
	int (*on_open)(struct server_ws *ws, const struct server_ws_info *info, void *arg);
	/* A complete text message (not NUL-terminated in general; text[len] is
	 * readable and 0). */
	void (*on_text)(struct server_ws *ws, const char *text, size_t len, void *arg);
	/* A binary message arrived (its bytes are discarded). */
	void (*on_binary)(struct server_ws *ws, void *arg);
	/* A message passed max_message; the rest of it is discarded.  NULL =
	 * close with 1009.  The usual reaction: queue an error frame, then
	 * server_ws_close(ws, 1009, ...). */
	void (*on_too_big)(struct server_ws *ws, void *arg);
	/* The send queue just became empty (optional, for flow control). */
	void (*on_drained)(struct server_ws *ws, void *arg);
	/* The connection is gone (after a successful on_open): free per-connection
	 * state.  server_ws_send is a no-op from here on. */
	void (*on_close)(struct server_ws *ws, void *arg);
};

/* Mount a WebSocket endpoint at `path` (exact).  ops and arg are borrowed.
 * Returns 0, -1 if the path is already routed. */
int server_route_ws(struct listener *li, const char *path, const struct server_ws_ops *ops, void *arg);

/*
 * Queue a text frame (copied).  Returns 0, or -1 when the connection is
 * closing or its queue would pass SERVER_MAX_WS_QUEUE (the connection is
 * then closed with 1008: a client that does not read must not grow memory).
 */
int server_ws_send(struct server_ws *ws, const char *text, size_t len);

/* Close after the frames already queued have been sent, with a close status
 * (1000 normal, 1001 going away, 1008 policy, 1009 too big) and a short
 * reason (at most 123 bytes). */
void server_ws_close(struct server_ws *ws, int status, const char *reason);

/* One query argument of the upgrade request, as server_req_arg. */
int server_ws_arg(const struct server_ws *ws, const char *name, char *out, size_t n);

void server_ws_set_data(struct server_ws *ws, void *data);
void *server_ws_data(const struct server_ws *ws);
const char *server_ws_peer(const struct server_ws *ws);
size_t server_ws_queued(const struct server_ws *ws); /* bytes waiting to be sent */
struct listener *server_ws_listener(const struct server_ws *ws);

/* Close every WebSocket on every listener with 1001 (graceful stop). */
void server_ws_close_all(struct server *s);

/* Free the server and its route tables.  Call after loop_run returned. */
void server_free(struct server *s);

#endif
