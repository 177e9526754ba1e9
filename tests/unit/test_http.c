/*
 * test_http.c - outgoing HTTP and SMTP over curl multi on the loop.
 *
 * Everything runs on one loop: the HTTP peer is the built-in server on a
 * free loopback port, the SMTP peer a tiny line-based server on a uv_tcp
 * handle, so the requests, the peers and the shutdown all share the thread.
 * A third peer, raw HTTP/1.1 on a uv_tcp handle, keeps each connection
 * alive after its first answer and cuts it, unanswered, on the second
 * request: a request that changes something is not sent again by libcurl
 * behind the caller's back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"
#include "util.h"

/* ---- rate-limit parsing ---------------------------------------------------- */

static void test_retry_after(void **state)
{
	time_t t;
	assert_int_equal(http_parse_retry_after("120", 1000, &t), 0);
	assert_int_equal(t, 1120);
	assert_int_equal(http_parse_retry_after(" 3 ", 1000, &t), 0);
	assert_int_equal(t, 1003);
	assert_int_equal(http_parse_retry_after("1.2", 1000, &t), 0);
	assert_int_equal(t, 1002);
	assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0, &t), 0);
	assert_int_equal(t, 1445412480);
	assert_int_equal(http_parse_retry_after("soon", 1000, &t), -1);
	assert_int_equal(http_parse_retry_after("", 1000, &t), -1);
	assert_int_equal(http_parse_retry_after("-5", 1000, &t), -1);
	assert_int_equal(http_parse_retry_after(NULL, 1000, &t), -1);
	assert_int_equal(http_parse_retry_after("99999999999999999999", 1000, &t), -1);

	assert_int_equal(http_parse_reset("1470173023.123", &t), 0);
	assert_int_equal(t, 1470173024);
	assert_int_equal(http_parse_reset("1470173023", &t), 0);
	assert_int_equal(t, 1470173023);
	assert_int_equal(http_parse_reset("2017-09-08T17:40:00.012Z", &t), 0);
	assert_int_equal(t, 1504892401); /* a fraction rounds up: nothing before the reset */
	assert_int_equal(http_parse_reset("nonsense", &t), -1);
}

static void test_not_before(void **state)
{
	const time_t now = 1700000000;
	struct http_response r;

	memset(&r, 0, sizeof(r));
	r.status = 200;
	assert_int_equal(http_not_before(&r, now), 0);

	/* Retry-After wins whatever the status. */
	r.retry_after = "30";
	assert_int_equal(http_not_before(&r, now), now + 30);

	/* Mastodon: remaining 0, reset ISO-8601. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.ratelimit_remaining = "0";
	r.ratelimit_reset = "2023-11-14T22:15:20.000Z";
	assert_int_equal(http_not_before(&r, now), 1700000120);

	/* Bucket not empty: the reset time asks for no wait. */
	r.status = 200;
	r.ratelimit_remaining = "5";
	assert_int_equal(http_not_before(&r, now), 0);

	/* Discord: reset-after with a fraction, and an epoch reset. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.ratelimit_remaining = "0";
	r.ratelimit_reset_after = "1.5";
	r.ratelimit_reset = "1700000001.2";
	assert_int_equal(http_not_before(&r, now), now + 2);

	/* A 429 without a remaining count still honours the reset. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.ratelimit_reset_after = "7";
	assert_int_equal(http_not_before(&r, now), now + 7);

	/* The latest of several wins; a date in the past means no wait. */
	r.retry_after = "60";
	assert_int_equal(http_not_before(&r, now), now + 60);
	memset(&r, 0, sizeof(r));
	r.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT";
	assert_int_equal(http_not_before(&r, now), 0);
	r.retry_after = "garbage";
	assert_int_equal(http_not_before(&r, now), 0);
}

/* Every platform's way of saying "not yet", in one reader, to the millisecond. */
static void test_retry_at_ms(void **state)
{
	const int64_t now = 1700000000000;
	struct http_response r;
	(void)state;

	/* Discord: a 429 body's retry_after has a fraction; the header is whole. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.retry_after = "1";
	r.body = "{\"message\": \"You are being rate limited.\", \"retry_after\": 1.337, \"global\": false}";
	r.body_len = strlen(r.body);
	assert_int_equal(http_retry_at_ms(&r, now), now + 1337);
	/* Discord: reset-after with decimals and an epoch reset with a fraction. */
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.ratelimit_remaining = "0";
	r.ratelimit_reset_after = "0.25";
	assert_int_equal(http_retry_at_ms(&r, now), now + 250);
	r.ratelimit_reset = "1700000000.5";
	assert_int_equal(http_retry_at_ms(&r, now), now + 500);
	/* Mattermost: X-RateLimit-Reset is the seconds until the reset, and a
	 * 429 body is plain text. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.ratelimit_remaining = "0";
	r.ratelimit_reset = "3";
	r.body = "limit exceeded\n";
	r.body_len = strlen(r.body);
	assert_int_equal(http_retry_at_ms(&r, now), now + 3000);
	/* Telegram: parameters.retry_after in the body, no header. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.body = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
	         "\"parameters\":{\"retry_after\":7}}";
	r.body_len = strlen(r.body);
	assert_int_equal(http_retry_at_ms(&r, now), now + 7000);
	/* A body's retry_after only counts on a 429 (a 200 may carry anything). */
	r.status = 200;
	assert_int_equal(http_retry_at_ms(&r, now), 0);
	/* Slack: Retry-After seconds on a 429 with {"ok":false,"error":"ratelimited"}. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.retry_after = "30";
	r.body = "{\"ok\":false,\"error\":\"ratelimited\"}";
	r.body_len = strlen(r.body);
	assert_int_equal(http_retry_at_ms(&r, now), now + 30000);
	/* A 429 naming no time at all: 0, the caller decides. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	assert_int_equal(http_retry_at_ms(&r, now), 0);
	/* A reset already past is named (clock skew), and means no wait. */
	r.ratelimit_reset = "2023-11-14T22:13:00Z";
	assert_true(http_retry_at_ms(&r, now) > 0 && http_retry_at_ms(&r, now) <= now);
	assert_int_equal(http_not_before(&r, now / 1000), 0);
	/* Garbage and absurd values are ignored. */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.retry_after = "-3";
	r.ratelimit_reset_after = "1e9";
	r.body = "{\"retry_after\": -4}";
	r.body_len = strlen(r.body);
	assert_int_equal(http_retry_at_ms(&r, now), 0);
}

/* ---- HTTP against the built-in server --------------------------------------- */

struct fx {
	struct loop L;
	struct metrics *metrics;
	struct server *s;
	struct listener *li;
	int port;
	uv_timer_t start;
	uv_tcp_t smtp_listen;
	int smtp_port;
	struct server_req *hanging[4];
	int nhanging;
	int pending; /* requests whose callback has not run yet */
	int stop_when_done;
	void (*kick)(struct fx *f);
	/* results */
	struct http_response last[16];
	char *bodies[16];
	int got[16];
	time_t nb[16];
	/* SMTP peer */
	struct buf smtp_log;
	int smtp_closed;
	/* the peer that dies on a connection's second request */
	uv_tcp_t flaky_listen;
	int flaky_port;
	int flaky_requests; /* requests it received whole */
	int flaky_step;
};

static struct fx *gf;

static enum server_handled h_json(struct server_req *req, void *arg)
{
	size_t len;
	const char *body = server_req_body(req, &len);
	const char *auth = server_req_header(req, "authorization");
	const char *ct = server_req_header(req, "content-type");
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "{\"method\":%d,\"auth\":\"%s\",\"ct\":\"%s\",\"len\":%zu,\"body\":%s}",
	           (int)server_req_method(req), auth ? auth : "", ct ? ct : "", len, len ? body : "null");
	server_req_add_header(req, "Retry-After", "17");
	server_req_add_header(req, "X-RateLimit-Remaining", "0");
	server_req_add_header(req, "X-RateLimit-Reset", "2023-11-14T22:15:20Z");
	server_req_add_header(req, "X-RateLimit-Reset-After", "4.5");
	char link[600];
	snprintf(link, sizeof(link), "<https://m.example/api/v1/notifications?max_id=%0400d>; rel=\"next\"",
	         7);
	server_req_add_header(req, "Link", link);
	server_respond_buf(req, 201, "application/json", &b);
	return SERVER_DONE;
}

static enum server_handled h_big(struct server_req *req, void *arg)
{
	size_t n = 2u * 1024u * 1024u;
	char *p = xmalloc(n);
	memset(p, 'b', n);
	server_respond(req, 200, "text/plain", p, n);
	free(p);
	return SERVER_DONE;
}

static enum server_handled h_hang(struct server_req *req, void *arg)
{
	struct fx *f = arg;
	assert_true(f->nhanging < 4);
	f->hanging[f->nhanging++] = req;
	return SERVER_LATER;
}

static void finish_one(struct fx *f)
{
	if (--f->pending == 0 && f->stop_when_done)
		loop_stop(&f->L);
}

static void done_cb(const struct http_response *r, void *arg)
{
	struct fx *f = gf;
	int i = (int)(intptr_t)arg;
	assert_true(i >= 0 && i < 16);
	assert_int_equal(f->got[i], 0);
	f->got[i] = 1;
	f->last[i] = *r;
	f->bodies[i] = xstrndup(r->body, r->body_len);
	/* Keep copies of the borrowed header strings we assert on. */
	f->last[i].retry_after = r->retry_after ? xstrdup(r->retry_after) : NULL;
	f->last[i].ratelimit_reset_after =
	    r->ratelimit_reset_after ? xstrdup(r->ratelimit_reset_after) : NULL;
	f->last[i].content_type = r->content_type ? xstrdup(r->content_type) : NULL;
	f->last[i].link = r->link ? xstrdup(r->link) : NULL;
	f->last[i].error_text = xstrdup(r->error_text);
	f->nb[i] = http_not_before(r, 1700000000);
	finish_one(f);
}

static void on_start(uv_timer_t *t)
{
	struct fx *f = t->data;
	f->kick(f);
}

static void teardown_hook(struct loop *l, void *arg)
{
	struct fx *f = arg;
	for (int i = 0; i < f->nhanging; i++)
		server_respond_error(f->hanging[i], 503, "stopping");
	f->nhanging = 0;
	uv_close((uv_handle_t *)&f->start, NULL);
	if (f->smtp_port)
		uv_close((uv_handle_t *)&f->smtp_listen, NULL);
	if (f->flaky_port)
		uv_close((uv_handle_t *)&f->flaky_listen, NULL);
}

static void fx_free_results(struct fx *f)
{
	for (int i = 0; i < 16; i++) {
		free(f->bodies[i]);
		free((char *)f->last[i].retry_after);
		free((char *)f->last[i].ratelimit_reset_after);
		free((char *)f->last[i].content_type);
		free((char *)f->last[i].link);
		if (f->got[i])
			free((char *)f->last[i].error_text);
	}
}

static void smtp_start(struct fx *f);
static void flaky_start(struct fx *f);

static void run(struct fx *f, void (*kick)(struct fx *f), unsigned drain_ms, int with_smtp)
{
	char err[256];
	memset(f, 0, sizeof(*f));
	gf = f;
	f->kick = kick;
	f->stop_when_done = 1;
	f->metrics = metrics_new();
	buf_init(&f->smtp_log, 0);
	struct loop_hooks hooks = {
	    .arg = f, .on_teardown = teardown_hook, .drain_ms = drain_ms, .metrics = f->metrics};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->s = server_new(&f->L);
	f->li = server_listen(f->s, "127.0.0.1:0", "peer", err, sizeof(err));
	assert_non_null(f->li);
	f->port = listener_port(f->li);
	server_route_api(f->li, "/json", SERVER_GET | SERVER_POST | SERVER_PUT | SERVER_DELETE | SERVER_PATCH,
	                 h_json, f, 0);
	server_route_api(f->li, "/big", SERVER_GET, h_big, f, 0);
	server_route_api(f->li, "/hang", SERVER_GET, h_hang, f, 0);
	if (with_smtp == 1)
		smtp_start(f);
	else if (with_smtp == 2)
		flaky_start(f);
	uv_timer_init(&f->L.uv, &f->start);
	f->start.data = f;
	uv_timer_start(&f->start, on_start, 0, 0);
	assert_int_equal(loop_run(&f->L), 0);
	server_free(f->s);
	loop_free(&f->L);
}

static char *url(struct fx *f, const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", f->port, path);
}

static void start(struct fx *f, int i, const struct http_request *rq)
{
	struct http_call *c = http_start(f->L.http, rq, done_cb, (void *)(intptr_t)i);
	assert_non_null(c);
	f->pending++;
}

static void kick_basic(struct fx *f)
{
	char *u_json = url(f, "/json"), *u_big = url(f, "/big"), *u_hang = url(f, "/hang"),
	     *u_404 = url(f, "/nope");
	const char *hdrs[] = {"X-Test: 1", "Bad\r\nHeader: x", NULL};

	struct http_request get = {.url = u_json};
	start(f, 0, &get);

	struct http_request post = {.url = u_json,
	                            .body = "{\"a\":1}",
	                            .body_len = 7,
	                            .content_type = "application/json",
	                            .bearer = "s3cret",
	                            .headers = hdrs};
	start(f, 1, &post);

	struct http_request put = {.method = "PUT",
	                           .url = u_json,
	                           .body = "x=1&y=2",
	                           .body_len = 7,
	                           .content_type = "application/x-www-form-urlencoded"};
	start(f, 2, &put);

	struct http_request del = {.method = "DELETE", .url = u_json};
	start(f, 3, &del);

	struct http_request big = {.url = u_big};
	start(f, 4, &big);

	struct http_request small = {.url = u_big, .max_body = 3u * 1024u * 1024u};
	start(f, 5, &small);

	struct http_request slow = {.url = u_hang, .timeout_ms = 150};
	start(f, 6, &slow);

	struct http_request missing = {.url = u_404};
	start(f, 7, &missing);

	struct http_request refused = {.url = "http://127.0.0.1:1/", .connect_timeout_ms = 1000};
	start(f, 8, &refused);

	/* Refused before starting: no callback. */
	struct http_request ftp = {.url = "ftp://127.0.0.1/x"};
	assert_null(http_start(f->L.http, &ftp, done_cb, (void *)(intptr_t)15));
	struct http_request bad = {.url = u_json, .method = "BREW"};
	assert_null(http_start(f->L.http, &bad, done_cb, (void *)(intptr_t)15));
	struct http_request nourl = {.url = NULL};
	assert_null(http_start(f->L.http, &nourl, done_cb, (void *)(intptr_t)15));

	/* Cancelled: no callback either. */
	struct http_request c = {.url = u_hang};
	struct http_call *call = http_start(f->L.http, &c, done_cb, (void *)(intptr_t)15);
	assert_non_null(call);
	http_cancel(call);
	assert_int_equal(http_inflight(f->L.http), 9);
	free(u_json);
	free(u_big);
	free(u_hang);
	free(u_404);
}

static void test_requests(void **state)
{
	struct fx f;
	run(&f, kick_basic, 0, 0);

	for (int i = 0; i <= 8; i++)
		assert_int_equal(f.got[i], 1);
	assert_int_equal(f.got[15], 0);

	assert_int_equal(f.last[0].status, 201);
	assert_int_equal(f.last[0].error, HTTP_E_NONE);
	assert_string_equal(f.bodies[0], "{\"method\":1,\"auth\":\"\",\"ct\":\"\",\"len\":0,\"body\":null}");
	assert_string_equal(f.last[0].retry_after, "17");
	assert_string_equal(f.last[0].ratelimit_reset_after, "4.5");
	assert_string_equal(f.last[0].content_type, "application/json");
	assert_non_null(f.last[0].link);
	assert_int_equal(strlen(f.last[0].link), 460);
	assert_non_null(strstr(f.last[0].link, "0007>; rel=\"next\""));
	assert_null(f.last[7].link);
	assert_int_equal(f.nb[0], 1700000120);

	assert_string_equal(f.bodies[1],
	                    "{\"method\":2,\"auth\":\"Bearer s3cret\",\"ct\":\"application/json\",\"len\":7,"
	                    "\"body\":{\"a\":1}}");
	assert_non_null(strstr(f.bodies[2], "\"method\":4,"));
	assert_non_null(strstr(f.bodies[2], "\"ct\":\"application/x-www-form-urlencoded\",\"len\":7"));
	assert_non_null(strstr(f.bodies[3], "\"method\":8,"));

	assert_int_equal(f.last[4].error, HTTP_E_TOO_BIG);
	assert_int_equal(f.last[5].error, HTTP_E_NONE);
	assert_int_equal(strlen(f.bodies[5]), 2u * 1024u * 1024u);

	assert_int_equal(f.last[6].error, HTTP_E_TRANSPORT);
	assert_int_equal(f.last[6].curl_code, 28); /* CURLE_OPERATION_TIMEDOUT */
	assert_true(strlen(f.last[6].error_text) > 0);

	assert_int_equal(f.last[7].status, 404);
	assert_int_equal(f.last[7].error, HTTP_E_NONE);
	assert_string_equal(f.bodies[7], "{\"error\":\"not found\"}");

	assert_int_equal(f.last[8].error, HTTP_E_TRANSPORT);
	assert_int_equal(f.last[8].status, 0);

	struct buf m;
	buf_init(&m, 0);
	metrics_render(f.metrics, &m);
	assert_non_null(strstr(m.p, "frontdesk_http_requests_total{kind=\"http\",result=\"ok\"} 5"));
	assert_non_null(strstr(m.p, "frontdesk_http_requests_total{kind=\"http\",result=\"too_big\"} 1"));
	assert_non_null(strstr(m.p, "frontdesk_http_requests_total{kind=\"http\",result=\"status\"} 1"));
	buf_free(&m);
	fx_free_results(&f);
	metrics_free(f.metrics);
}

/* A request still running when the loop stops completes as cancelled. */
static void kick_hang(struct fx *f)
{
	char *u = url(f, "/hang");
	struct http_request rq = {.url = u};
	start(f, 0, &rq);
	start(f, 1, &rq);
	free(u);
	f->stop_when_done = 0;
	loop_stop(&f->L);
}

static void test_cancel_on_stop(void **state)
{
	struct fx f;
	uint64_t t0 = time_mono_ms();
	run(&f, kick_hang, 200, 0);
	uint64_t took = time_mono_ms() - t0;
	assert_int_equal(f.got[0], 1);
	assert_int_equal(f.got[1], 1);
	assert_int_equal(f.last[0].error, HTTP_E_CANCELLED);
	assert_int_equal(f.last[1].error, HTTP_E_CANCELLED);
	/* The drain waited for them, up to its deadline. */
	assert_true(took >= 190 && took < 2000);
	fx_free_results(&f);
	metrics_free(f.metrics);
}

/* Requests started from a completion callback run normally. */
static int chain_left;

static void chain_cb(const struct http_response *r, void *arg)
{
	struct fx *f = gf;
	assert_int_equal(r->status, 201);
	if (--chain_left > 0) {
		char *u = url(f, "/json");
		struct http_request rq = {.url = u};
		assert_non_null(http_start(f->L.http, &rq, chain_cb, NULL));
		free(u);
		return;
	}
	loop_stop(&f->L);
}

static void kick_chain(struct fx *f)
{
	char *u = url(f, "/json");
	struct http_request rq = {.url = u};
	chain_left = 50;
	assert_non_null(http_start(f->L.http, &rq, chain_cb, NULL));
	free(u);
}

static void test_chained(void **state)
{
	struct fx f;
	run(&f, kick_chain, 0, 0);
	assert_int_equal(chain_left, 0);
	metrics_free(f.metrics);
}

/* A raw TCP peer on a free loopback port: its port. */
static int tcp_peer(struct fx *f, uv_tcp_t *lsn, uv_connection_cb on_accept)
{
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(&f->L.uv, lsn);
	lsn->data = f;
	assert_int_equal(uv_tcp_bind(lsn, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)lsn, 8, on_accept), 0);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(lsn, (struct sockaddr *)&ss, &len);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- a request that changes something goes out once ---------------------------- */

struct flaky_conn {
	uv_tcp_t tcp;
	struct fx *f;
	int requests;
	struct buf in;
};

static void flaky_closed(uv_handle_t *h)
{
	struct flaky_conn *c = h->data;
	buf_free(&c->in);
	free(c);
}

static void flaky_written(uv_write_t *w, int status)
{
	free(w);
}

static void flaky_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char space[16384];
	*b = uv_buf_init(space, sizeof(space));
}

/* Whole requests are counted; the first of a connection is answered and
 * the connection kept, the second cuts it without a byte of answer. */
static void flaky_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	static char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
	struct flaky_conn *c = s->data;
	if (n < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, flaky_closed);
		return;
	}
	buf_append(&c->in, b->base, (size_t)n);
	for (;;) {
		char *end = c->in.p ? strstr(c->in.p, "\r\n\r\n") : NULL;
		if (!end)
			return;
		size_t head = (size_t)(end + 4 - c->in.p), body = 0;
		const char *cl = strcasestr(c->in.p, "\r\ncontent-length:");
		if (cl && cl < end)
			body = strtoul(cl + 17, NULL, 10);
		if (c->in.len < head + body)
			return;
		memmove(c->in.p, c->in.p + head + body, c->in.len - head - body + 1);
		c->in.len -= head + body;
		c->f->flaky_requests++;
		if (++c->requests >= 2) {
			uv_close((uv_handle_t *)s, flaky_closed);
			return;
		}
		uv_write_t *w = xmalloc(sizeof(*w));
		uv_buf_t out = uv_buf_init(ok, (unsigned)strlen(ok));
		uv_write(w, s, &out, 1, flaky_written);
	}
}

static void flaky_accept(uv_stream_t *server, int status)
{
	struct fx *f = server->data;
	struct flaky_conn *c = xcalloc(1, sizeof(*c));
	c->f = f;
	buf_init(&c->in, 0);
	uv_tcp_init(&f->L.uv, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
	uv_read_start((uv_stream_t *)&c->tcp, flaky_alloc, flaky_read);
}

static void flaky_start(struct fx *f)
{
	f->flaky_port = tcp_peer(f, &f->flaky_listen, flaky_accept);
}

/* Four requests one after the other, each on the connection the one before
 * left: 0 (POST) is answered; 1 (POST) dies with its connection; 2 (POST,
 * idempotent) is answered on a new connection; 3 (the same) dies with it
 * and, being idempotent, is sent again on a fresh one and answered. */
static void flaky_next(struct fx *f);

static void flaky_cb(const struct http_response *r, void *arg)
{
	struct fx *f = gf;
	f->flaky_step++;
	if (f->flaky_step < 4)
		flaky_next(f); /* before done_cb, so the loop does not stop */
	done_cb(r, arg);
}

static void flaky_next(struct fx *f)
{
	char *u = xasprintf("http://127.0.0.1:%d/send", f->flaky_port);
	struct http_request rq = {.url = u,
	                          .body = "{\"text\":\"hi\"}",
	                          .body_len = 13,
	                          .content_type = "application/json",
	                          .idempotent = f->flaky_step >= 2};
	assert_non_null(http_start(f->L.http, &rq, flaky_cb, (void *)(intptr_t)f->flaky_step));
	f->pending++;
	free(u);
}

static void kick_flaky(struct fx *f)
{
	flaky_next(f);
}

static void test_sent_once(void **state)
{
	struct fx f;
	run(&f, kick_flaky, 0, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(f.got[i], 1);
	assert_int_equal(f.last[0].error, HTTP_E_NONE);
	assert_int_equal(f.last[0].status, 200);
	/* The server received it and may have carried it out: not sent again,
	 * and the caller hears that the outcome is unknown. */
	assert_int_equal(f.last[1].error, HTTP_E_TRANSPORT);
	assert_string_equal(f.last[1].error_text, HTTP_UNSENT_AGAIN);
	assert_int_equal(f.last[2].status, 200);
	assert_int_equal(f.last[3].error, HTTP_E_NONE);
	assert_int_equal(f.last[3].status, 200);
	/* 0, 1 once; 2; 3 twice. */
	assert_int_equal(f.flaky_requests, 5);
	fx_free_results(&f);
	metrics_free(f.metrics);
}

/* ---- SMTP --------------------------------------------------------------------- */

struct smtp_conn {
	uv_tcp_t tcp;
	struct fx *f;
	struct buf in;
	struct buf log; /* this conversation, appended to f->smtp_log at close */
	int in_data;
	int auth_wait;
};

static void smtp_closed(uv_handle_t *h)
{
	struct smtp_conn *c = h->data;
	c->f->smtp_closed++;
	if (c->log.p)
		buf_puts(&c->f->smtp_log, c->log.p);
	buf_free(&c->log);
	buf_free(&c->in);
	free(c);
}

static void write_done(uv_write_t *w, int status)
{
	free(w->data);
	free(w);
}

static void smtp_say(struct smtp_conn *c, const char *s)
{
	uv_write_t *w = xmalloc(sizeof(*w));
	char *copy = xstrdup(s);
	w->data = copy;
	uv_buf_t b = uv_buf_init(copy, (unsigned)strlen(copy));
	uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, write_done);
}

static void smtp_line(struct smtp_conn *c, const char *line)
{
	struct buf *log = &c->log;
	if (c->in_data) {
		if (strcmp(line, ".") == 0) {
			c->in_data = 0;
			buf_puts(log, "END\n");
			smtp_say(c, "250 queued\r\n");
		} else {
			buf_printf(log, "D:%s\n", line);
		}
		return;
	}
	buf_printf(log, "%s\n", line);
	if (getenv("TEST_LOG"))
		fprintf(stderr, "smtp %p: %s\n", (void *)c, line);
	if (c->auth_wait) {
		c->auth_wait = 0;
		smtp_say(c, "235 ok\r\n");
	} else if (strncasecmp(line, "EHLO", 4) == 0) {
		smtp_say(c, "250-test.local\r\n250-AUTH PLAIN\r\n250 SIZE 1000000\r\n");
	} else if (strcasecmp(line, "AUTH PLAIN") == 0) {
		c->auth_wait = 1;
		smtp_say(c, "334 \r\n");
	} else if (strncasecmp(line, "AUTH PLAIN ", 11) == 0) {
		smtp_say(c, "235 ok\r\n");
	} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
		smtp_say(c, "250 ok\r\n");
	} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
		smtp_say(c, strstr(line, "reject") ? "550 no such user\r\n" : "250 ok\r\n");
	} else if (strcasecmp(line, "DATA") == 0) {
		c->in_data = 1;
		smtp_say(c, "354 go\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		smtp_say(c, "221 bye\r\n");
		uv_close((uv_handle_t *)&c->tcp, smtp_closed);
	} else {
		smtp_say(c, "250 ok\r\n");
	}
}

static void smtp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char space[65536];
	*b = uv_buf_init(space, sizeof(space));
}

static void smtp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct smtp_conn *c = s->data;
	if (n < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, smtp_closed);
		return;
	}
	buf_append(&c->in, b->base, (size_t)n);
	char *nl;
	while (c->in.p && (nl = strstr(c->in.p, "\r\n"))) {
		*nl = '\0';
		char *line = xstrdup(c->in.p);
		size_t used = (size_t)(nl - c->in.p) + 2;
		memmove(c->in.p, c->in.p + used, c->in.len - used + 1);
		c->in.len -= used;
		smtp_line(c, line);
		free(line);
		if (uv_is_closing((uv_handle_t *)&c->tcp))
			return;
	}
}

static void smtp_accept(uv_stream_t *server, int status)
{
	struct fx *f = server->data;
	struct smtp_conn *c = xcalloc(1, sizeof(*c));
	c->f = f;
	buf_init(&c->in, 0);
	buf_init(&c->log, 0);
	uv_tcp_init(&f->L.uv, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
	smtp_say(c, "220 test.local ESMTP\r\n");
	uv_read_start((uv_stream_t *)&c->tcp, smtp_alloc, smtp_read);
}

static void smtp_start(struct fx *f)
{
	f->smtp_port = tcp_peer(f, &f->smtp_listen, smtp_accept);
}

static const char mail[] = "From: Bot <bot@acme.example>\r\n"
                           "To: owner@acme.example\r\n"
                           "Subject: New ticket #12\r\n"
                           "\r\n"
                           "A customer asked for a refund.\r\n"
                           ".leading dot line\r\n";

static void kick_smtp(struct fx *f)
{
	char *u = xasprintf("smtp://127.0.0.1:%d", f->smtp_port);
	const char *rcpt[] = {"owner@acme.example", "second@acme.example", NULL};
	struct smtp_mail m = {.url = u,
	                      .from = "bot@acme.example",
	                      .rcpt = rcpt,
	                      .payload = mail,
	                      .payload_len = strlen(mail),
	                      .username = "bot",
	                      .password = "pw"};
	f->pending++;
	assert_non_null(http_smtp_send(f->L.http, &m, done_cb, (void *)(intptr_t)0));
	const char *bad_rcpt[] = {"reject@acme.example", NULL};
	struct smtp_mail m2 = {.url = u,
	                       .from = "bot@acme.example",
	                       .rcpt = bad_rcpt,
	                       .payload = mail,
	                       .payload_len = strlen(mail)};
	f->pending++;
	assert_non_null(http_smtp_send(f->L.http, &m2, done_cb, (void *)(intptr_t)1));
	struct smtp_mail m3 = {.url = "https://x", .from = "a@b", .rcpt = rcpt, .payload = mail};
	assert_null(http_smtp_send(f->L.http, &m3, done_cb, (void *)(intptr_t)2));
	struct smtp_mail m4 = {.url = u, .from = "a@b", .rcpt = bad_rcpt + 1, .payload = mail};
	assert_null(http_smtp_send(f->L.http, &m4, done_cb, (void *)(intptr_t)2));
	free(u);
}

static void test_smtp(void **state)
{
	struct fx f;
	run(&f, kick_smtp, 0, 1);
	if (getenv("TEST_LOG"))
		fprintf(stderr, "smtp log:\n%s\nresult: %d %ld %s\n", f.smtp_log.p, f.last[0].error,
		        f.last[0].status, f.last[0].error_text);
	assert_int_equal(f.got[0], 1);
	assert_int_equal(f.last[0].error, HTTP_E_NONE);
	assert_int_equal(f.last[0].status, 250);
	const char *log = f.smtp_log.p;
	assert_non_null(strstr(log, "MAIL FROM:<bot@acme.example>"));
	assert_non_null(strstr(log, "RCPT TO:<owner@acme.example>\nRCPT TO:<second@acme.example>\n"));
	/* AUTH PLAIN of "\0bot\0pw" */
	assert_non_null(strstr(log, "AGJvdABwdw=="));
	assert_non_null(strstr(log, "D:Subject: New ticket #12\nD:\nD:A customer asked for a refund.\n"));
	/* Dot-stuffing: the line starting with "." went out as "..". */
	assert_non_null(strstr(log, "D:..leading dot line\nEND\n"));

	assert_int_equal(f.got[1], 1);
	assert_int_equal(f.last[1].error, HTTP_E_TRANSPORT);
	assert_int_equal(f.last[1].status, 550);
	assert_int_equal(f.got[2], 0);
	buf_free(&f.smtp_log);
	fx_free_results(&f);
	metrics_free(f.metrics);
}

/* ---- TLS verification ---------------------------------------------------------- */

/*
 * A TLS server with a self-signed certificate (python3's ssl module, a
 * certificate from openssl(1)) must be refused: verification is on.
 * Skipped when either tool is missing.
 */
static pid_t tls_pid;
static char tls_dir[64];

static int start_tls_server(void)
{
	snprintf(tls_dir, sizeof(tls_dir), "/tmp/frontdesk-tls-XXXXXX");
	if (!mkdtemp(tls_dir))
		return -1;
	char *cmd = xasprintf("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem "
	                      "-days 1 -subj /CN=localhost >/dev/null 2>&1",
	                      tls_dir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0)
		return -1;
	int p[2];
	if (pipe(p) < 0)
		return -1;
	tls_pid = fork();
	if (tls_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		if (chdir(tls_dir) != 0)
			_exit(1);
		execlp("python3", "python3", "-c",
		       "import http.server, ssl, sys\n"
		       "s = http.server.HTTPServer(('127.0.0.1', 0), http.server.BaseHTTPRequestHandler)\n"
		       "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('c.pem', 'k.pem')\n"
		       "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
		       "print(s.server_address[1], flush=True)\n"
		       "s.serve_forever()\n",
		       (char *)NULL);
		_exit(1);
	}
	close(p[1]);
	/* Up to the newline: python may write the number and "\n" separately,
	 * and closing the pipe early would kill it with EPIPE. */
	char line[32] = "";
	size_t len = 0;
	while (len < sizeof(line) - 1) {
		ssize_t n = read(p[0], line + len, 1);
		if (n <= 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	close(p[0]);
	long port;
	if (parse_long(line, &port) < 0)
		return -1;
	return (int)port;
}

static void stop_tls_server(void)
{
	if (tls_pid > 0) {
		kill(tls_pid, SIGTERM);
		waitpid(tls_pid, NULL, 0);
		tls_pid = 0;
	}
	char *cmd = xasprintf("rm -rf %s", tls_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tls_dir);
	free(cmd);
}

static int tls_port;

static void kick_tls(struct fx *f)
{
	char *u = xasprintf("https://127.0.0.1:%d/", tls_port);
	struct http_request rq = {.url = u};
	start(f, 0, &rq);
	free(u);
}

static void test_tls_verified(void **state)
{
	tls_port = start_tls_server();
	if (tls_port <= 0) {
		stop_tls_server();
		skip();
	}
	struct fx f;
	run(&f, kick_tls, 0, 0);
	stop_tls_server();
	assert_int_equal(f.got[0], 1);
	assert_int_equal(f.last[0].error, HTTP_E_TRANSPORT);
	assert_int_equal(f.last[0].status, 0);
	assert_int_equal(f.last[0].curl_code, 60); /* CURLE_PEER_FAILED_VERIFICATION */
	assert_non_null(strstr(f.last[0].error_text, "certificate"));
	fx_free_results(&f);
	metrics_free(f.metrics);
}

int main(void)
{
	log_threshold = getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR + 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_after),    cmocka_unit_test(test_not_before),
	    cmocka_unit_test(test_retry_at_ms),    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_cancel_on_stop), cmocka_unit_test(test_chained),
	    cmocka_unit_test(test_sent_once),      cmocka_unit_test(test_smtp),
	    cmocka_unit_test(test_tls_verified),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
