/*
 * test_server.c - the built-in HTTP/WebSocket server on a real loop.
 *
 * The server runs on the test's main thread inside loop_run(); a client
 * thread talks to it over loopback with blocking libcurl (HTTP) and a small
 * hand-written WebSocket client (so frames, fragments and close codes are
 * under the test's control), then stops the loop through a uv_async.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "metrics.h"
#include "server.h"
#include "util.h"
#include "wsframe.h"

/* cmocka's assertions longjmp and must stay on the test's thread; the client
 * thread reports a failure and ends the process instead. */
#define C_TRUE(c)                                                                                            \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "%s:%d: client check failed: %s\n", __FILE__, __LINE__, #c);         \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)
#define C_INT(a, b)                                                                                          \
	do {                                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                                          \
		if (a_ != b_) {                                                                              \
			fprintf(stderr, "%s:%d: client check failed: %s == %s (%lld != %lld)\n", __FILE__,   \
			        __LINE__, #a, #b, a_, b_);                                                   \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)
#define C_STR(a, b)                                                                                          \
	do {                                                                                                 \
		const char *a_ = (a), *b_ = (b);                                                             \
		if (strcmp(a_, b_) != 0) {                                                                   \
			fprintf(stderr, "%s:%d: client check failed: \"%s\" != \"%s\"\n", __FILE__,          \
			        __LINE__, a_, b_);                                                           \
			_exit(1);                                                                            \
		}                                                                                            \
	} while (0)

static const char page[] = "<!doctype html><title>t</title><p>hello</p>";

struct fx {
	struct loop L;
	struct metrics *metrics;
	struct server *s;
	struct listener *li;
	int port;
	uv_async_t done;
	uv_timer_t later_timer;
	struct server_req *later_req;
	void (*client)(struct fx *f);
	_Atomic int unhealthy;
	unsigned idle_ping, idle_hangup; /* 0: defaults */
	_Atomic int done_sent;
	struct listener_opts opts; /* applied to the listener when `configure` */
	int configure;
	unsigned head_ms;
	/* WebSocket endpoint bookkeeping (loop thread only) */
	int opened, closed, refused;
	char last_query[128], last_origin[128], last_visitor[64];
};

/* ---- loop-side handlers ---------------------------------------------------- */

static int health(struct buf *out, void *arg)
{
	struct fx *f = arg;
	int ok = !f->unhealthy;
	buf_printf(out, "{\"status\":\"%s\",\"connectors\":[]}", ok ? "ok" : "down");
	return ok;
}

static enum server_handled h_echo(struct server_req *req, void *arg)
{
	size_t len;
	const char *body = server_req_body(req, &len);
	char x[64] = "";
	server_req_arg(req, "x", x, sizeof(x));
	const char *csrf = server_req_header(req, "X-CSRF-Token");
	const char *cookie = server_req_header(req, "cookie");
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "m=%d path=%s x=%s csrf=%s cookie=%s peer=%s len=%zu body=%s",
	           (int)server_req_method(req), server_req_path(req), x, csrf ? csrf : "-",
	           cookie ? cookie : "-", server_req_peer(req), len, body);
	server_req_add_header(req, "Set-Cookie", "sid=1; HttpOnly; SameSite=Strict");
	server_req_add_header(req, "X-Bad", "a\r\nInjected: 1");
	server_respond_buf(req, 201, "text/plain", &b);
	return SERVER_DONE;
}

static void later_fire(uv_timer_t *t)
{
	struct fx *f = t->data;
	if (f->later_req) {
		const char *ok = "{\"later\":true}";
		server_respond(f->later_req, 200, NULL, ok, strlen(ok));
		f->later_req = NULL;
	}
}

static enum server_handled h_later(struct server_req *req, void *arg)
{
	struct fx *f = arg;
	f->later_req = req;
	uv_timer_start(&f->later_timer, later_fire, 20, 0);
	return SERVER_LATER;
}

static enum server_handled h_forgets(struct server_req *req, void *arg)
{
	return SERVER_DONE; /* no response: the server must answer 500 */
}

static int ws_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct fx *f = arg;
	char deny[8];
	if (server_ws_arg(ws, "deny", deny, sizeof(deny)) == 0) {
		f->refused++;
		return 403;
	}
	f->opened++;
	snprintf(f->last_query, sizeof(f->last_query), "%s", info->query);
	snprintf(f->last_origin, sizeof(f->last_origin), "%s", info->origin ? info->origin : "-");
	if (server_ws_arg(ws, "visitor", f->last_visitor, sizeof(f->last_visitor)) < 0)
		f->last_visitor[0] = '\0';
	const char *w = "welcome";
	server_ws_send(ws, w, strlen(w));
	return 0;
}

static void ws_text(struct server_ws *ws, const char *text, size_t len, void *arg)
{
	char out[16384];
	int n = snprintf(out, sizeof(out), "echo:%.*s", (int)len, text);
	assert_int_equal(text[len], '\0');
	server_ws_send(ws, out, (size_t)n);
}

static void ws_binary(struct server_ws *ws, void *arg)
{
	server_ws_send(ws, "binary!", 7);
}

static void ws_too_big(struct server_ws *ws, void *arg)
{
	const char *e = "{\"type\":\"error\",\"error\":\"too big\"}";
	server_ws_send(ws, e, strlen(e));
	server_ws_close(ws, 1009, "message too large");
}

static void ws_close(struct server_ws *ws, void *arg)
{
	struct fx *f = arg;
	f->closed++;
	assert_int_equal(server_ws_send(ws, "x", 1), -1);
}

static const struct server_ws_ops chat_ops = {
    .max_message = 8192,
    .on_open = ws_open,
    .on_text = ws_text,
    .on_binary = ws_binary,
    .on_too_big = ws_too_big,
    .on_close = ws_close,
};

static int flood_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct fx *f = arg;
	f->opened++;
	static char kb[1024];
	memset(kb, 'z', sizeof(kb));
	int refused = 0;
	for (int i = 0; i < 1100; i++)
		if (server_ws_send(ws, kb, sizeof(kb)) < 0)
			refused++;
	assert_true(refused > 0);
	return 0;
}

static const struct server_ws_ops flood_ops = {.on_open = flood_open, .on_close = ws_close};

static void on_done(uv_async_t *a)
{
	struct fx *f = a->data;
	loop_stop(&f->L);
}

static void teardown_hook(struct loop *l, void *arg)
{
	struct fx *f = arg;
	uv_close((uv_handle_t *)&f->done, NULL);
	uv_close((uv_handle_t *)&f->later_timer, NULL);
}

static void *client_main(void *arg)
{
	struct fx *f = arg;
	f->client(f);
	if (!f->done_sent)
		uv_async_send(&f->done);
	return NULL;
}

/* Start a server with every kind of route, run `client` on a thread, stop. */
static void run_with_client(void (*client)(struct fx *f), struct fx *f)
{
	char err[256];
	unsigned ping = f->idle_ping, hangup = f->idle_hangup, head_ms = f->head_ms;
	struct listener_opts opts = f->opts;
	int configure = f->configure;
	memset(f, 0, sizeof(*f));
	f->client = client;
	f->metrics = metrics_new();
	struct loop_hooks hooks = {.arg = f, .on_teardown = teardown_hook, .metrics = f->metrics};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->s = server_new(&f->L);
	server_set_health(f->s, health, f);
	if (ping)
		server_set_idle(f->s, ping, hangup);
	if (head_ms)
		server_set_head_timeout(f->s, head_ms);
	f->li = server_listen(f->s, "127.0.0.1:0", "test", err, sizeof(err));
	assert_non_null(f->li);
	if (configure)
		assert_int_equal(listener_configure(f->li, &opts, err, sizeof(err)), 0);
	f->port = listener_port(f->li);
	assert_true(f->port > 0);
	assert_int_equal(
	    server_route_static(f->li, "/", "text/html; charset=utf-8", page, strlen(page), NULL), 0);
	assert_int_equal(server_route_static(f->li, "/", "text/plain", "x", 1, NULL), -1);
	assert_int_equal(server_route_api(f->li, "/api/echo", SERVER_POST | SERVER_PUT, h_echo, f, 0), 0);
	assert_int_equal(server_route_api(f->li, "/api/items/*", SERVER_GET, h_echo, f, 0), 0);
	assert_int_equal(server_route_api(f->li, "/api/later", SERVER_GET, h_later, f, 0), 0);
	assert_int_equal(server_route_api(f->li, "/api/forgets", SERVER_GET, h_forgets, f, 0), 0);
	assert_int_equal(server_route_ws(f->li, "/chat", &chat_ops, f), 0);
	assert_int_equal(server_route_ws(f->li, "/flood", &flood_ops, f), 0);
	uv_async_init(&f->L.uv, &f->done, on_done);
	f->done.data = f;
	uv_timer_init(&f->L.uv, &f->later_timer);
	f->later_timer.data = f;

	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_main, f), 0);
	assert_int_equal(loop_run(&f->L), 0);
	pthread_join(th, NULL);
	assert_null(f->L.lws);
	server_free(f->s);
	loop_free(&f->L);
}

/* ---- HTTP client (client thread) -------------------------------------------- */

struct resp {
	long status;
	struct buf body;
	struct buf headers;
};

static size_t collect(char *p, size_t sz, size_t n, void *userp)
{
	buf_append(userp, p, sz * n);
	return sz * n;
}

/* One request on a shared easy handle (keep-alive is exercised). */
static void request(CURL *e, struct fx *f, const char *method, const char *path, const char *body,
                    size_t body_len, struct curl_slist *hdrs, struct resp *r)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	buf_init(&r->body, 0);
	buf_init(&r->headers, 0);
	buf_puts(&r->body, "");
	buf_puts(&r->headers, "");
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	}
	CURLcode rc = curl_easy_perform(e);
	if (rc != CURLE_OK)
		fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
	r->status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
}

static void resp_free(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

static int has_header(const struct resp *r, const char *line)
{
	return strcasestr(r->headers.p, line) != NULL;
}

static void http_client(struct fx *f)
{
	CURL *e = curl_easy_init();
	struct resp r;

	request(e, f, "GET", "/healthz", NULL, 0, NULL, &r);
	C_INT(r.status, 200);
	C_STR(r.body.p, "{\"status\":\"ok\",\"connectors\":[]}");
	C_TRUE(has_header(&r, "cache-control: no-store"));
	resp_free(&r);
	f->unhealthy = 1;
	request(e, f, "GET", "/healthz", NULL, 0, NULL, &r);
	C_INT(r.status, 503);
	C_TRUE((strstr(r.body.p, "\"down\"")) != NULL);
	resp_free(&r);

	request(e, f, "GET", "/", NULL, 0, NULL, &r);
	C_INT(r.status, 200);
	C_STR(r.body.p, page);
	C_TRUE(has_header(&r, "content-type: text/html; charset=utf-8"));
	C_TRUE(has_header(&r, "content-security-policy: default-src 'none'; script-src 'self'"));
	C_TRUE(has_header(&r, "x-content-type-options: nosniff"));
	C_TRUE(has_header(&r, "x-frame-options: DENY"));
	C_TRUE(has_header(&r, "cache-control: no-cache"));
	resp_free(&r);

	request(e, f, "HEAD", "/", NULL, 0, NULL, &r);
	C_INT(r.status, 200);
	C_STR(r.body.p, "");
	char cl[64];
	snprintf(cl, sizeof(cl), "content-length: %zu", strlen(page));
	C_TRUE(has_header(&r, cl));
	resp_free(&r);

	request(e, f, "POST", "/", "x", 1, NULL, &r);
	C_INT(r.status, 405);
	C_TRUE(has_header(&r, "allow: GET, HEAD"));
	resp_free(&r);

	request(e, f, "GET", "/nope", NULL, 0, NULL, &r);
	C_INT(r.status, 404);
	C_STR(r.body.p, "{\"error\":\"not found\"}");
	C_TRUE(has_header(&r, "content-type: application/json"));
	resp_free(&r);

	struct curl_slist *h = NULL;
	h = curl_slist_append(h, "X-CSRF-Token: tok123");
	h = curl_slist_append(h, "Cookie: sid=abc");
	h = curl_slist_append(h, "Content-Type: application/json");
	request(e, f, "POST", "/api/echo?x=1", "{\"a\":1}", 7, h, &r);
	C_INT(r.status, 201);
	C_STR(r.body.p,
	      "m=2 path=/api/echo x=1 csrf=tok123 cookie=sid=abc peer=127.0.0.1 len=7 body={\"a\":1}");
	C_TRUE(has_header(&r, "set-cookie: sid=1; HttpOnly; SameSite=Strict"));
	C_TRUE(!has_header(&r, "Injected"));
	resp_free(&r);

	request(e, f, "PUT", "/api/echo", "", 0, NULL, &r);
	C_INT(r.status, 201);
	C_TRUE((strstr(r.body.p, "m=4 path=/api/echo")) != NULL);
	C_TRUE((strstr(r.body.p, "len=0 body=")) != NULL);
	resp_free(&r);

	request(e, f, "GET", "/api/echo", NULL, 0, NULL, &r);
	C_INT(r.status, 405);
	C_TRUE(has_header(&r, "allow: POST, PUT"));
	resp_free(&r);

	size_t big = SERVER_MAX_BODY + 1;
	char *huge = xmalloc(big);
	memset(huge, 'a', big);
	request(e, f, "POST", "/api/echo", huge, big, NULL, &r);
	C_INT(r.status, 413);
	resp_free(&r);
	free(huge);

	request(e, f, "GET", "/api/items/42?x=a%26b&y=2", NULL, 0, NULL, &r);
	C_INT(r.status, 201);
	C_TRUE((strstr(r.body.p, "path=/api/items/42 x=a&b ")) != NULL);
	resp_free(&r);

	request(e, f, "GET", "/api/later", NULL, 0, NULL, &r);
	C_INT(r.status, 200);
	C_STR(r.body.p, "{\"later\":true}");
	resp_free(&r);

	request(e, f, "GET", "/api/forgets", NULL, 0, NULL, &r);
	C_INT(r.status, 500);
	resp_free(&r);

	request(e, f, "GET", "/chat", NULL, 0, NULL, &r);
	C_INT(r.status, 426);
	resp_free(&r);

	/* One request per connection: every answer says so. */
	request(e, f, "GET", "/healthz", NULL, 0, NULL, &r);
	C_TRUE(has_header(&r, "connection: close"));
	resp_free(&r);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
}

static void test_http_routes(void **state)
{
	struct fx f = {0};
	run_with_client(http_client, &f);
	struct buf m;
	buf_init(&m, 0);
	metrics_render(f.metrics, &m);
	assert_non_null(
	    strstr(m.p, "frontdesk_http_server_requests_total{listener=\"test\",code=\"404\"} 1"));
	assert_non_null(
	    strstr(m.p, "frontdesk_http_server_requests_total{listener=\"test\",code=\"413\"} 1"));
	buf_free(&m);
	metrics_free(f.metrics);
}

/* ---- WebSocket client (client thread) --------------------------------------- */

static int ws_connect_full(struct fx *f, const char *path, const char *host, const char *extra, int *status);

static int ws_connect(struct fx *f, const char *path, int *status)
{
	return ws_connect_full(f, path, "127.0.0.1", "", status);
}

static int ws_connect_hdrs(struct fx *f, const char *path, const char *extra, int *status)
{
	return ws_connect_full(f, path, "127.0.0.1", extra, status);
}

static int ws_connect_host(struct fx *f, const char *path, const char *host, int *status)
{
	return ws_connect_full(f, path, host, "", status);
}

static int ws_connect_full(struct fx *f, const char *path, const char *host, const char *extra, int *status)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	C_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[1024];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	                 "Origin: http://shop.example\r\n%s\r\n",
	                 path, host, extra);
	C_INT(write(fd, req, (size_t)n), n);
	/* Read the response head byte by byte so no frame bytes are consumed. */
	char head[2048];
	size_t hl = 0;
	while (hl < sizeof(head) - 1) {
		ssize_t r = read(fd, head + hl, 1);
		if (r <= 0)
			break;
		hl++;
		if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[hl] = '\0';
	*status = 0;
	if (hl > 12)
		*status = atoi(head + 9);
	return fd;
}

static void ws_send_frame(int fd, int fin, int opcode, const char *p, size_t len)
{
	unsigned char hdr[14];
	size_t hn = 0;
	hdr[hn++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		hdr[hn++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[hn++] = 0x80 | 126;
		hdr[hn++] = (unsigned char)(len >> 8);
		hdr[hn++] = (unsigned char)len;
	} else {
		hdr[hn++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[hn++] = (unsigned char)(len >> (8 * i));
	}
	const unsigned char mask[4] = {1, 2, 3, 4};
	memcpy(hdr + hn, mask, 4);
	hn += 4;
	unsigned char *buf = xmalloc(hn + len);
	memcpy(buf, hdr, hn);
	for (size_t i = 0; i < len; i++)
		buf[hn + i] = (unsigned char)p[i] ^ mask[i % 4];
	size_t off = 0;
	while (off < hn + len) {
		ssize_t w = write(fd, buf + off, hn + len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(buf);
}

static int close_code(const struct buf *b)
{
	if (b->len < 2)
		return 0;
	return ((unsigned char)b->p[0] << 8) | (unsigned char)b->p[1];
}

static void ws_client(struct fx *f)
{
	struct buf in;
	int status;
	buf_init(&in, 0);

	int fd = ws_connect(f, "/chat?visitor=tok%2F1&z=2", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(fd, &in), 1);
	C_STR(in.p, "welcome");

	ws_send_frame(fd, 1, 1, "hello", 5);
	C_INT(wsframe_recv(fd, &in), 1);
	C_STR(in.p, "echo:hello");

	/* A message in two frames arrives whole. */
	ws_send_frame(fd, 0, 1, "ab", 2);
	ws_send_frame(fd, 1, 0, "cd", 2);
	C_INT(wsframe_recv(fd, &in), 1);
	C_STR(in.p, "echo:abcd");

	ws_send_frame(fd, 1, 2, "\x01\x02", 2);
	C_INT(wsframe_recv(fd, &in), 1);
	C_STR(in.p, "binary!");

	/* Exactly at the limit is fine... */
	char *msg = xmalloc(9000);
	memset(msg, 'm', 9000);
	ws_send_frame(fd, 1, 1, msg, 8192);
	C_INT(wsframe_recv(fd, &in), 1);
	C_INT(in.len, 8192 + 5);

	/* ...one byte more (in two fragments) gets the error frame and 1009. */
	ws_send_frame(fd, 0, 1, msg, 5000);
	ws_send_frame(fd, 1, 0, msg, 3193);
	C_INT(wsframe_recv(fd, &in), 1);
	C_STR(in.p, "{\"type\":\"error\",\"error\":\"too big\"}");
	C_INT(wsframe_recv(fd, &in), 8);
	C_INT(close_code(&in), 1009);
	close(fd);

	/* A single oversized frame. */
	fd = ws_connect(f, "/chat", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(fd, &in), 1);
	ws_send_frame(fd, 1, 1, msg, 9000);
	C_INT(wsframe_recv(fd, &in), 1);
	C_TRUE((strstr(in.p, "too big")) != NULL);
	C_INT(wsframe_recv(fd, &in), 8);
	C_INT(close_code(&in), 1009);
	close(fd);
	free(msg);

	fd = ws_connect(f, "/chat?deny=1", &status);
	C_INT(status, 403);
	close(fd);
	fd = ws_connect(f, "/nows", &status);
	C_INT(status, 404);
	close(fd);

	/* A client that never reads: the queue cap closes it with 1008. */
	fd = ws_connect(f, "/flood", &status);
	C_INT(status, 101);
	int op, frames = 0;
	while ((op = wsframe_recv(fd, &in)) == 1)
		frames++;
	C_INT(op, 8);
	C_INT(close_code(&in), 1008);
	C_TRUE(frames >= 1000 && frames < 1100);
	close(fd);

	/* Left open on purpose: teardown must close it and call on_close. */
	fd = ws_connect(f, "/chat", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(fd, &in), 1);
	buf_free(&in);
	/* Hand the socket to the stop: the server closes it while we hold it. */
	usleep(20000);
	f->done_sent = 1;
	uv_async_send(&f->done);
	char c;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (read(fd, &c, 1) > 0)
		;
	close(fd);
}

static void test_websocket(void **state)
{
	struct fx f = {0};
	run_with_client(ws_client, &f);
	assert_int_equal(f.opened, 4);
	assert_int_equal(f.refused, 1);
	assert_int_equal(f.closed, f.opened);
	assert_string_equal(f.last_visitor, "");
	metrics_free(f.metrics);
}

static void query_client(struct fx *f)
{
	struct buf in;
	int status;
	buf_init(&in, 0);
	int fd = ws_connect(f, "/chat?visitor=tok%2F1&z=2", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(fd, &in), 1);
	ws_send_frame(fd, 1, 8, "\x03\xe8", 2);
	C_INT(wsframe_recv(fd, &in), 8);
	close(fd);
	buf_free(&in);
}

static void test_ws_open_info(void **state)
{
	struct fx f = {0};
	run_with_client(query_client, &f);
	assert_int_equal(f.opened, 1);
	assert_int_equal(f.closed, 1);
	assert_string_equal(f.last_visitor, "tok/1");
	assert_string_equal(f.last_query, "visitor=tok/1&z=2");
	assert_string_equal(f.last_origin, "http://shop.example");
	metrics_free(f.metrics);
}

/* Idle policy: a client that answers PINGs stays, a silent one is dropped. */
static void idle_client(struct fx *f)
{
	struct buf in;
	int status;
	buf_init(&in, 0);
	int live = ws_connect(f, "/chat", &status);
	C_INT(status, 101);
	int dead = ws_connect(f, "/chat", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(live, &in), 1);
	C_INT(wsframe_recv(dead, &in), 1);
	/* The live one answers every PING for 3.5 s. */
	uint64_t t0 = time_mono_ms();
	int pings = 0;
	struct timeval tv = {.tv_usec = 200000};
	setsockopt(live, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (time_mono_ms() - t0 < 3500) {
		int op = wsframe_recv(live, &in);
		if (op == 9) {
			pings++;
			ws_send_frame(live, 1, 10, in.p, in.len);
		}
	}
	C_TRUE(pings >= 2);
	/* The silent one was dropped (EOF, possibly after a PING). */
	tv.tv_sec = 0;
	setsockopt(dead, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int op;
	while ((op = wsframe_recv(dead, &in)) == 9)
		;
	C_INT(op, -1);
	/* And the live one still works. */
	tv.tv_sec = 5;
	setsockopt(live, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ws_send_frame(live, 1, 1, "still", 5);
	while ((op = wsframe_recv(live, &in)) == 9)
		;
	C_INT(op, 1);
	C_STR(in.p, "echo:still");
	close(live);
	close(dead);
	buf_free(&in);
}

static void test_ws_idle(void **state)
{
	struct fx f = {0};
	f.idle_ping = 1;
	f.idle_hangup = 2;
	run_with_client(idle_client, &f);
	assert_int_equal(f.opened, 2);
	assert_int_equal(f.closed, 2);
	metrics_free(f.metrics);
}

/* ---- raw HTTP (client thread): framing, sizes, limits, proxies, hosts -------- */

static int raw_connect(struct fx *f)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	C_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read until the server closes (or 5 s pass) into out; the status of the
 * first response, 0 when none came, -1 when the connection was reset. */
static int raw_read_all(int fd, struct buf *out)
{
	char b[4096];
	ssize_t n;
	buf_reset(out);
	buf_puts(out, "");
	while ((n = read(fd, b, sizeof(b))) > 0)
		buf_append(out, b, (size_t)n);
	if (n < 0 && errno == ECONNRESET && out->len == 0)
		return -1;
	if (out->len > 12 && !strncmp(out->p, "HTTP/1.", 7))
		return atoi(out->p + 9);
	return 0;
}

/* Send req (len bytes) on a new connection and read everything back. */
static int raw_exchange(struct fx *f, const char *req, size_t len, struct buf *out)
{
	int fd = raw_connect(f);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, req + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	int st = raw_read_all(fd, out);
	close(fd);
	return st;
}

static int raw_str(struct fx *f, const char *req, struct buf *out)
{
	return raw_exchange(f, req, strlen(req), out);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void framing_client(struct fx *f)
{
	struct buf out;
	buf_init(&out, 0);

	/* Transfer-Encoding with Content-Length: lws would read 4 bytes of
	 * body and serve the rest as a second request.  Refused, closed, and
	 * the smuggled request never answered. */
	C_INT(raw_str(f,
	              "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
	              "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/items/smuggled HTTP/1.1\r\n"
	              "Host: x\r\n\r\n",
	              &out),
	      400);
	C_INT(count_of(out.p, "HTTP/1."), 1);
	C_TRUE(strstr(out.p, "smuggled") == NULL);
	C_TRUE(strcasestr(out.p, "connection: close") != NULL);
	/* On a static route and without Content-Length too. */
	C_INT(raw_str(f, "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &out),
	      400);
	C_INT(count_of(out.p, "HTTP/1."), 1);
	/* Two Content-Length lines, equal or not, and a list in one line. */
	C_INT(raw_str(
	          f, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
	          &out),
	      400);
	C_INT(raw_str(f,
	              "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 30\r\n\r\n"
	              "GET /api/items/smuggled HTTP/1.1\r\n\r\n",
	              &out),
	      400);
	C_TRUE(strstr(out.p, "smuggled") == NULL);
	C_INT(raw_str(f, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}", &out), 400);
	C_INT(raw_str(f, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}", &out), 400);
	/* A WebSocket upgrade is no exception. */
	C_INT(raw_str(f,
	              "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	              "Transfer-Encoding: chunked\r\n\r\n",
	              &out),
	      400);
	/* A well-framed body still works, and pipelining gets one answer. */
	C_INT(raw_str(f, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2 \r\n\r\n{}", &out), 201);
	C_TRUE(strstr(out.p, "body={}") != NULL);
	C_INT(raw_str(f,
	              "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/items/2 HTTP/1.1\r\nHost: x\r\n\r\n",
	              &out),
	      200);
	C_INT(count_of(out.p, "HTTP/1."), 1);

	/* Sizes: 414 and 431 with a reason, instead of a silent close. */
	struct buf req;
	buf_init(&req, 0);
	buf_puts(&req, "GET /api/items/");
	for (int i = 0; i < SERVER_MAX_REQUEST_LINE; i++)
		buf_putc(&req, 'a');
	buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
	C_INT(raw_exchange(f, req.p, req.len, &out), 414);
	C_TRUE(strstr(out.p, "too long") != NULL);
	buf_reset(&req);
	buf_puts(&req, "GET /api/items/1?");
	for (int i = 0; i <= SERVER_MAX_URI_PARTS; i++)
		buf_printf(&req, "a%d=1&", i);
	buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
	C_INT(raw_exchange(f, req.p, req.len, &out), 414);
	buf_reset(&req);
	buf_puts(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	for (int i = 0; i < SERVER_MAX_HEAD; i++)
		buf_putc(&req, 'p');
	buf_puts(&req, "\r\n\r\n");
	C_INT(raw_exchange(f, req.p, req.len, &out), 431);
	C_TRUE(strstr(out.p, "too large") != NULL);
	buf_reset(&req);
	buf_puts(&req, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < SERVER_MAX_HEADER_LINES; i++)
		buf_printf(&req, "X-H%d: 1\r\n", i);
	buf_puts(&req, "\r\n");
	C_INT(raw_exchange(f, req.p, req.len, &out), 431);
	/* Just inside every limit: served (lws has room for all of it). */
	struct buf args;
	buf_init(&args, 0);
	buf_puts(&args, "?x=1");
	for (int i = 0; i < SERVER_MAX_URI_PARTS; i++)
		buf_printf(&args, "&y%d=2", i);
	buf_reset(&req);
	buf_puts(&req, "GET /api/items/");
	while (req.len + args.len + strlen(" HTTP/1.1\r") < SERVER_MAX_REQUEST_LINE)
		buf_putc(&req, 'b');
	buf_puts(&req, args.p);
	buf_free(&args);
	buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < SERVER_MAX_HEADER_LINES - 2; i++)
		buf_printf(&req, "X-H%d: 1\r\n", i);
	buf_puts(&req, "X-Pad: ");
	while (req.len < SERVER_MAX_HEAD - 8)
		buf_putc(&req, 'p');
	buf_puts(&req, "\r\n\r\n");
	C_TRUE(req.len <= SERVER_MAX_HEAD);
	C_INT(raw_exchange(f, req.p, req.len, &out), 201);
	C_TRUE(strstr(out.p, "x=1") != NULL);
	buf_free(&req);

	/* A head that does not arrive in time: 408 (timeout 300 ms here). */
	int fd = raw_connect(f);
	C_INT(write(fd, "GET /healthz HTTP/1.1\r\nHost", 27), 27);
	C_INT(raw_read_all(fd, &out), 408);
	close(fd);
	/* A connection that never says anything is closed without a word. */
	fd = raw_connect(f);
	C_INT(raw_read_all(fd, &out), 0);
	C_INT((int)out.len, 0);
	close(fd);
	buf_free(&out);
}

static void test_framing_and_sizes(void **state)
{
	struct fx f = {0};
	f.head_ms = 300;
	run_with_client(framing_client, &f);
	/* The refusals are counted by reason. */
	struct buf m;
	buf_init(&m, 0);
	metrics_render(f.metrics, &m);
	assert_non_null(
	    strstr(m.p, "http_server_refused_total{listener=\"test\",reason=\"uri_too_long\"} 2"));
	assert_non_null(
	    strstr(m.p, "http_server_refused_total{listener=\"test\",reason=\"head_too_large\"} 2"));
	assert_non_null(strstr(m.p, "http_server_refused_total{listener=\"test\",reason=\"timeout\"} 1"));
	buf_free(&m);
	metrics_free(f.metrics);
}

/* Open n connections that send nothing (the idle-socket flood). */
static void open_idle(struct fx *f, int *fds, int n)
{
	for (int i = 0; i < n; i++)
		fds[i] = raw_connect(f);
	usleep(100000); /* let the server accept them */
}

static void caps_client(struct fx *f)
{
	struct buf out;
	int idle[3], status;
	buf_init(&out, 0);
	/* connections_per_address 3: three silent sockets hold all three. */
	open_idle(f, idle, 3);
	C_INT(raw_str(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &out), 429);
	C_TRUE(strcasestr(out.p, "retry-after: 5") != NULL);
	/* Refused before any upgrade work: on_open never runs. */
	int fd = ws_connect(f, "/chat", &status);
	C_INT(status, 429);
	close(fd);
	/* One goes away: its place is free again. */
	close(idle[0]);
	int ok = 0;
	for (int i = 0; i < 50 && !ok; i++) {
		ok = raw_str(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &out) == 200;
		if (!ok)
			usleep(20000);
	}
	C_TRUE(ok);
	fd = ws_connect(f, "/chat", &status);
	C_INT(status, 101);
	C_INT(wsframe_recv(fd, &out), 1);
	close(fd);
	close(idle[1]);
	close(idle[2]);
	buf_free(&out);
}

static void test_connection_caps(void **state)
{
	struct fx f = {0};
	f.configure = 1;
	f.opts.connections_per_address = 3;
	run_with_client(caps_client, &f);
	assert_int_equal(f.opened, 1);
	metrics_free(f.metrics);
}

static void listener_cap_client(struct fx *f)
{
	struct buf out;
	int idle[4];
	buf_init(&out, 0);
	open_idle(f, idle, 4);
	C_INT(raw_str(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &out), 503);
	for (int i = 0; i < 4; i++)
		close(idle[i]);
	buf_free(&out);
}

static void test_listener_cap(void **state)
{
	struct fx f = {0};
	f.configure = 1;
	f.opts.max_connections = 4;
	f.opts.connections_per_address = 100;
	run_with_client(listener_cap_client, &f);
	metrics_free(f.metrics);
}

/* The peer= the echo handler saw for a request with these extra headers. */
static void peer_seen(struct fx *f, const char *headers, char *peer, size_t n)
{
	struct buf out, req;
	buf_init(&out, 0);
	buf_init(&req, 0);
	buf_printf(&req, "GET /api/items/1 HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
	C_INT(raw_exchange(f, req.p, req.len, &out), 201);
	const char *p = strstr(out.p, "peer=");
	C_TRUE(p != NULL);
	p += 5;
	size_t l = strcspn(p, " ");
	snprintf(peer, n, "%.*s", (int)l, p);
	buf_free(&out);
	buf_free(&req);
}

static void untrusted_client(struct fx *f)
{
	char peer[64];
	/* Nobody is trusted: the headers are ignored. */
	peer_seen(f, "X-Forwarded-For: 198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
	peer_seen(f, "Forwarded: for=198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
}

static void test_proxy_untrusted(void **state)
{
	struct fx f = {0};
	run_with_client(untrusted_client, &f);
	metrics_free(f.metrics);
}

static void xff_client(struct fx *f)
{
	char peer[64];
	struct buf out;
	int status;
	buf_init(&out, 0);
	peer_seen(f, "X-Forwarded-For: 198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "198.51.100.7");
	/* Rightmost untrusted: a client cannot slip an address in on the left. */
	peer_seen(f, "X-Forwarded-For: 203.0.113.66, 198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "198.51.100.7");
	/* Trusted hops (10.0.0.0/8 here) are skipped; repeated lines join. */
	peer_seen(f, "X-Forwarded-For: 203.0.113.66\r\nX-Forwarded-For: 198.51.100.7, 10.1.2.3\r\n", peer,
	          sizeof(peer));
	C_STR(peer, "198.51.100.7");
	peer_seen(f, "X-Forwarded-For: ::ffff:198.51.100.9\r\n", peer, sizeof(peer));
	C_STR(peer, "198.51.100.9");
	/* Not an address: nothing better than the proxy itself. */
	peer_seen(f, "X-Forwarded-For: 198.51.100.7, bogus\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
	/* The other header is not the one this listener trusts. */
	peer_seen(f, "Forwarded: for=198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");

	/* The per-address limit (2 here) counts the client, not the proxy. */
	int a1 = ws_connect_hdrs(f, "/chat", "X-Forwarded-For: 198.51.100.20\r\n", &status);
	C_INT(status, 101);
	int a2 = ws_connect_hdrs(f, "/chat", "X-Forwarded-For: 198.51.100.20\r\n", &status);
	C_INT(status, 101);
	int a3 = ws_connect_hdrs(f, "/chat", "X-Forwarded-For: 198.51.100.20\r\n", &status);
	C_INT(status, 429);
	int b1 = ws_connect_hdrs(f, "/chat", "X-Forwarded-For: 198.51.100.21\r\n", &status);
	C_INT(status, 101);
	close(a1);
	close(a2);
	close(a3);
	close(b1);
	buf_free(&out);
}

static void test_proxy_x_forwarded_for(void **state)
{
	static char *trusted[] = {"127.0.0.1", "10.0.0.0/8", NULL};
	struct fx f = {0};
	f.configure = 1;
	f.opts.trusted_proxies = trusted;
	f.opts.connections_per_address = 2;
	run_with_client(xff_client, &f);
	assert_int_equal(f.opened, 3);
	metrics_free(f.metrics);
}

static void forwarded_client(struct fx *f)
{
	char peer[64];
	peer_seen(f, "Forwarded: for=198.51.100.7;proto=https\r\n", peer, sizeof(peer));
	C_STR(peer, "198.51.100.7");
	peer_seen(f, "Forwarded: For=\"[2001:db8::7]:4711\", for=10.0.0.5\r\n", peer, sizeof(peer));
	C_STR(peer, "2001:db8::7");
	peer_seen(f, "Forwarded: for=198.51.100.7:5555\r\n", peer, sizeof(peer));
	C_STR(peer, "198.51.100.7");
	/* "unknown" and obfuscated identifiers name nobody. */
	peer_seen(f, "Forwarded: for=unknown\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
	/* Two Forwarded lines: lws 4.1.6 shows only the first (maybe the
	 * client's own), so neither is believed. */
	peer_seen(f, "Forwarded: for=203.0.113.66\r\nForwarded: for=198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
	peer_seen(f, "X-Forwarded-For: 198.51.100.7\r\n", peer, sizeof(peer));
	C_STR(peer, "127.0.0.1");
}

static void test_proxy_forwarded(void **state)
{
	static char *trusted[] = {"127.0.0.0/8", "10.0.0.0/8", NULL};
	struct fx f = {0};
	f.configure = 1;
	f.opts.trusted_proxies = trusted;
	f.opts.proxy_header = SERVER_PROXY_FORWARDED;
	run_with_client(forwarded_client, &f);
	metrics_free(f.metrics);
}

static void hosts_client(struct fx *f)
{
	struct buf out;
	int status;
	char req[256];
	buf_init(&out, 0);
	/* The DNS-rebinding request: Host (and Origin) of the attacker's name. */
	snprintf(req, sizeof(req),
	         "POST /api/echo HTTP/1.1\r\nHost: rebind.evil.example:%d\r\nOrigin: "
	         "http://rebind.evil.example:%d\r\nContent-Length: 2\r\n\r\n{}",
	         f->port, f->port);
	C_INT(raw_str(f, req, &out), 421);
	C_TRUE(strstr(out.p, "m=") == NULL);
	C_INT(raw_str(f, "GET /healthz HTTP/1.1\r\n\r\n", &out), 421); /* no Host at all */
	snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: LocalHost.:%d\r\n\r\n", f->port);
	C_INT(raw_str(f, req, &out), 200);
	snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", f->port);
	C_INT(raw_str(f, req, &out), 200);
	C_INT(raw_str(f, "GET /healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n", &out), 200);
	/* The live socket too. */
	int fd = ws_connect_host(f, "/chat", "rebind.evil.example", &status);
	C_INT(status, 421);
	close(fd);
	fd = ws_connect_host(f, "/chat", "localhost", &status);
	C_INT(status, 101);
	close(fd);
	buf_free(&out);
}

static void test_hosts(void **state)
{
	static char *hosts[] = {"localhost", "127.0.0.1", "::1", NULL};
	struct fx f = {0};
	f.configure = 1;
	f.opts.hosts = hosts;
	run_with_client(hosts_client, &f);
	assert_int_equal(f.opened, 1);
	metrics_free(f.metrics);
}

static void test_listen_errors(void **state)
{
	struct loop L;
	char err[256];
	assert_int_equal(loop_init(&L, NULL), 0);
	struct server *s = server_new(&L);
	assert_null(server_listen(s, "127.0.0.1", "x", err, sizeof(err)));
	assert_non_null(strstr(err, "expected HOST:PORT"));
	assert_null(server_listen(s, "example.com:80", "x", err, sizeof(err)));
	assert_non_null(strstr(err, "not an IPv4 address"));
	assert_null(server_listen(s, "127.0.0.1:99999", "x", err, sizeof(err)));
	struct listener *a = server_listen(s, "127.0.0.1:0", "a", err, sizeof(err));
	assert_non_null(a);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", listener_port(a));
	assert_null(server_listen(s, addr, "b", err, sizeof(err)));
	assert_non_null(strstr(err, "Address already in use"));
	struct listener *v6 = server_listen(s, "[::1]:0", "v6", err, sizeof(err));
	if (v6)
		assert_true(listener_port(v6) > 0);
	assert_int_equal(server_route_embedded(a, "/x", "no-such-file"), -1);
	assert_string_equal(server_mime_type("a/b.JS"), "text/javascript; charset=utf-8");
	assert_string_equal(server_mime_type("noext"), "application/octet-stream");
	loop_stop(&L);
	assert_int_equal(loop_run(&L), 0);
	server_free(s);
	loop_free(&L);
}

int main(void)
{
	log_threshold = LOG_WARN;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_routes),     cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_ws_open_info),    cmocka_unit_test(test_ws_idle),
	    cmocka_unit_test(test_listen_errors),   cmocka_unit_test(test_framing_and_sizes),
	    cmocka_unit_test(test_connection_caps), cmocka_unit_test(test_listener_cap),
	    cmocka_unit_test(test_proxy_untrusted), cmocka_unit_test(test_proxy_x_forwarded_for),
	    cmocka_unit_test(test_proxy_forwarded), cmocka_unit_test(test_hosts),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
