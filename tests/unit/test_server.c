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
	unsigned ping = f->idle_ping, hangup = f->idle_hangup;
	memset(f, 0, sizeof(*f));
	f->client = client;
	f->metrics = metrics_new();
	struct loop_hooks hooks = {.arg = f, .on_teardown = teardown_hook, .metrics = f->metrics};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->s = server_new(&f->L);
	server_set_health(f->s, health, f);
	if (ping)
		server_set_idle(f->s, ping, hangup);
	f->li = server_listen(f->s, "127.0.0.1:0", "test", err, sizeof(err));
	assert_non_null(f->li);
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

	/* The connection was reused for all of the above. */
	long conns = 0;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns);
	C_TRUE(conns <= 1);
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

static int ws_connect(struct fx *f, const char *path, int *status)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	C_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	                 "Origin: http://shop.example\r\n\r\n",
	                 path);
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
	    cmocka_unit_test(test_http_routes),   cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_ws_open_info),  cmocka_unit_test(test_ws_idle),
	    cmocka_unit_test(test_listen_errors),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
