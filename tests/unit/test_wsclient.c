/*
 * test_wsclient.c - the WebSocket client every connector uses, against a
 * real WebSocket server on the same loop (server.h): whole messages out of
 * fragments, a message over the cap reported as lost, sends queued and
 * written, the close-code policy (a platform's fatal code and a refused
 * upgrade reported in the connector's health; a "reconnect now"), the
 * backoff between attempts, the zombie watchdog, the Authorization header
 * (a bearer token set after creation, as after a refused token), and a
 * clean stop.
 *
 * Timing is never asserted tightly: delays are short and only their order
 * and lower bounds are checked, with a generous overall deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "connector.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"
#include "util.h"
#include "wsclient.h"

#define DEADLINE_MS 20000

enum mode { M_ECHO, M_BIG, M_FATAL_CODE, M_REFUSE, M_FLAP, M_SILENT, M_RECONNECT_NOW };

struct fx {
	struct loop L;
	struct metrics *metrics;
	struct server *s;
	struct listener *li;
	int port;
	enum mode mode;
	uv_timer_t deadline, later;
	int timed_out;

	struct connector c;
	struct connector_host host;
	struct wsclient *w;

	/* client side */
	int opens, closes, losts;
	size_t msg_len[16];
	char first_bytes[16][32];
	int nmsg;
	struct wsclient_close last_close;
	char last_detail[160];
	uint64_t close_ms[16];
	uint64_t open_ms[16];
	/* server side */
	int server_opens, server_closes;
	char echoed[64];
	char auth_seen[4][64]; /* Authorization of each upgrade, "-" when absent */
};

static const struct connector_ops test_ops = {.type = "test"};

static void finish(struct fx *f)
{
	wsclient_stop(f->w);
	loop_stop(&f->L);
}

/* --- the server ------------------------------------------------------------------ */

static int srv_open(struct server_ws *ws, const struct server_ws_info *info, void *arg)
{
	struct fx *f = arg;
	if (f->mode == M_REFUSE)
		return 401;
	if (f->server_opens < 4)
		snprintf(f->auth_seen[f->server_opens], sizeof(f->auth_seen[0]), "%s",
		         info->authorization ? info->authorization : "-");
	f->server_opens++;
	switch (f->mode) {
	case M_BIG: {
		/* One message of 200 KB, one over the client's cap (64 KB +
		 * 300 KB), then a small one: the client gets the first and the
		 * last whole, and hears that one was lost. */
		size_t n = 200000;
		char *big = xmalloc(n);
		memset(big, 'a', n);
		big[0] = '[';
		server_ws_send(ws, big, n);
		free(big);
		n = 300000;
		big = xmalloc(n);
		memset(big, 'b', n);
		server_ws_send(ws, big, n);
		free(big);
		server_ws_send(ws, "small", 5);
		break;
	}
	case M_FATAL_CODE: server_ws_close(ws, 4004, "Authentication failed."); break;
	case M_FLAP: server_ws_close(ws, 1011, "try later"); break;
	case M_RECONNECT_NOW:
		if (f->server_opens == 1)
			server_ws_send(ws, "reconnect", 9);
		else
			server_ws_send(ws, "welcome back", 12);
		break;
	default: server_ws_send(ws, "hello", 5); break;
	}
	return 0;
}

static void srv_text(struct server_ws *ws, const char *text, size_t len, void *arg)
{
	struct fx *f = arg;
	snprintf(f->echoed, sizeof(f->echoed), "%.*s", (int)len, text);
	char out[128];
	int n = snprintf(out, sizeof(out), "echo:%.*s", (int)len, text);
	server_ws_send(ws, out, (size_t)n);
}

static void srv_close(struct server_ws *ws, void *arg)
{
	struct fx *f = arg;
	f->server_closes++;
}

static const struct server_ws_ops srv_ops = {
    .max_message = 4096,
    .on_open = srv_open,
    .on_text = srv_text,
    .on_close = srv_close,
};

/* --- the client ------------------------------------------------------------------ */

static void on_later(uv_timer_t *t);

static enum wsclient_url c_url(void *arg, char *url, size_t n)
{
	struct fx *f = arg;
	snprintf(url, n, "ws://127.0.0.1:%d/ws", f->port);
	return WSCLIENT_URL_READY;
}

static void c_open(void *arg)
{
	struct fx *f = arg;
	if (f->opens < 16)
		f->open_ms[f->opens] = time_mono_ms();
	f->opens++;
	if (f->mode == M_ECHO)
		assert_int_equal(wsclient_send(f->w, "ping-me", 7, 0), 0);
}

static void c_message(void *arg, const char *data, size_t len, int binary)
{
	struct fx *f = arg;
	assert_false(binary);
	if (f->nmsg < 16) {
		f->msg_len[f->nmsg] = len;
		snprintf(f->first_bytes[f->nmsg], sizeof(f->first_bytes[0]), "%.*s",
		         (int)(len < 20 ? len : 20), data);
	}
	f->nmsg++;
	if (f->mode == M_ECHO && len == 12 && memcmp(data, "echo:ping-me", 12) == 0)
		finish(f);
	if (f->mode == M_BIG && len == 5)
		finish(f);
	if (f->mode == M_RECONNECT_NOW && len == 9 && memcmp(data, "reconnect", 9) == 0)
		wsclient_close_now(f->w, 4000, "asked to");
	if (f->mode == M_RECONNECT_NOW && len == 12)
		finish(f);
}

static void c_lost(void *arg)
{
	struct fx *f = arg;
	f->losts++;
}

static enum wsclient_next c_closed(void *arg, const struct wsclient_close *c, char *detail, size_t n)
{
	struct fx *f = arg;
	if (f->closes < 16)
		f->close_ms[f->closes] = time_mono_ms();
	f->closes++;
	f->last_close = *c;
	f->last_close.reason = NULL;
	enum wsclient_next next = wsclient_policy_default(c, detail, n);
	/* A platform's own fatal close code, as Discord's 4004. */
	if (c->code == 4004) {
		snprintf(detail, n, "authentication failed (4004): check the token");
		next = WSCLIENT_FATAL;
	}
	if (f->mode == M_RECONNECT_NOW && c->by_us)
		next = WSCLIENT_RETRY_NOW;
	snprintf(f->last_detail, sizeof(f->last_detail), "%s", detail);
	if (f->mode == M_FLAP && f->closes >= 4)
		uv_timer_start(&f->later, on_later, 0, 0); /* after the verdict is carried out */
	if (f->mode == M_SILENT && f->closes >= 2)
		finish(f);
	return next;
}

static const struct wsclient_ops client_ops = {
    .url = c_url,
    .open = c_open,
    .message = c_message,
    .lost = c_lost,
    .closed = c_closed,
};

/* --- harness -------------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
	struct fx *f = t->data;
	f->timed_out = 1;
	finish(f);
}

static void on_later(uv_timer_t *t)
{
	finish(t->data);
}

static void teardown_hook(struct loop *l, void *arg)
{
	struct fx *f = arg;
	wsclient_close(f->w);
	uv_close((uv_handle_t *)&f->deadline, NULL);
	uv_close((uv_handle_t *)&f->later, NULL);
}

/* When set, run() gives the client this bearer token after creating it. */
static int use_bearer;
static const char *bearer_token;

/* Run one scenario; `finish_after_ms` > 0 stops the loop after that long. */
static void run(struct fx *f, enum mode mode, const struct wsclient_conf *conf, long finish_after_ms)
{
	char err[256];
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->metrics = metrics_new();
	struct loop_hooks hooks = {.arg = f, .on_teardown = teardown_hook, .metrics = f->metrics};
	assert_int_equal(loop_init(&f->L, &hooks), 0);
	f->s = server_new(&f->L);
	f->li = server_listen(f->s, "127.0.0.1:0", "test", err, sizeof(err));
	assert_non_null(f->li);
	f->port = listener_port(f->li);
	assert_int_equal(server_route_ws(f->li, "/ws", &srv_ops, f), 0);

	f->host = (struct connector_host){.loop = &f->L, .server = f->s, .metrics = f->metrics};
	f->c.ops = &test_ops;
	f->c.host = &f->host;
	f->c.name = "t1";
	f->w = wsclient_new(&f->c, conf, &client_ops, f);
	assert_non_null(f->w);
	if (use_bearer)
		wsclient_set_bearer(f->w, bearer_token);
	wsclient_start(f->w);

	uv_timer_init(&f->L.uv, &f->deadline);
	f->deadline.data = f;
	uv_timer_start(&f->deadline, on_deadline, DEADLINE_MS, 0);
	uv_timer_init(&f->L.uv, &f->later);
	f->later.data = f;
	if (finish_after_ms > 0)
		uv_timer_start(&f->later, on_later, (uint64_t)finish_after_ms, 0);
	assert_int_equal(loop_run(&f->L), 0);
	server_free(f->s);
	wsclient_free(f->w);
	loop_free(&f->L);
	metrics_free(f->metrics);
}

static void test_echo(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .authorization = "Bearer secret"};
	run(&f, M_ECHO, &conf, 0);
	assert_false(f.timed_out);
	assert_int_equal(f.opens, 1);
	assert_string_equal(f.echoed, "ping-me");
	assert_int_equal(f.c.health, HEALTH_OK); /* ok on open by default */
	assert_int_equal(f.server_closes, 1);    /* the stop closed it */
}

/* A token set after creation, as a connector does at start and again after
 * a 401: "Bearer <token>" on the upgrade, replacing the configured value;
 * a token that would break the header, or none, sends no Authorization. */
static void test_bearer(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .authorization = "Bearer old"};
	static const struct {
		const char *token, *seen;
	} cases[] = {
	    {"t0k-en.1", "Bearer t0k-en.1"},
	    {"bad\r\nX-Injected: 1", "-"},
	    {"", "-"},
	    {NULL, "-"},
	};
	use_bearer = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bearer_token = cases[i].token;
		run(&f, M_ECHO, &conf, 0);
		assert_false(f.timed_out);
		assert_int_equal(f.server_opens, 1);
		assert_string_equal(f.auth_seen[0], cases[i].seen);
	}
	use_bearer = 0;
	/* Without it the configured value goes. */
	run(&f, M_ECHO, &conf, 0);
	assert_string_equal(f.auth_seen[0], "Bearer old");
}

static void test_reassembly_and_cap(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .max_message = 256 * 1024};
	run(&f, M_BIG, &conf, 0);
	assert_false(f.timed_out);
	assert_int_equal(f.nmsg, 2);
	assert_int_equal(f.msg_len[0], 200000);
	assert_string_equal(f.first_bytes[0], "[aaaaaaaaaaaaaaaaaaa");
	assert_int_equal(f.msg_len[1], 5);
	assert_int_equal(f.losts, 1);
	assert_int_equal(f.opens, 1); /* a dropped message does not drop the connection */
}

static void test_fatal_close_code(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .fatal_retry_ms = -1, .backoff_min_ms = 20};
	run(&f, M_FATAL_CODE, &conf, 1500);
	assert_false(f.timed_out);
	assert_int_equal(f.opens, 1);
	assert_int_equal(f.closes, 1); /* never retried */
	assert_int_equal(f.last_close.code, 4004);
	assert_true(f.last_close.was_open);
	assert_int_equal(f.c.health, HEALTH_DOWN);
	assert_string_equal(f.c.health_detail, "authentication failed (4004): check the token");
}

static void test_refused_upgrade(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .fatal_retry_ms = 60000, .backoff_min_ms = 20};
	run(&f, M_REFUSE, &conf, 1500);
	assert_false(f.timed_out);
	assert_int_equal(f.opens, 0);
	assert_int_equal(f.closes, 1); /* the next try waits a minute */
	assert_int_equal(f.last_close.http_status, 401);
	assert_false(f.last_close.was_open);
	assert_int_equal(f.c.health, HEALTH_DOWN);
	assert_string_equal(f.c.health_detail, "HTTP 401 at the WebSocket upgrade: check the token");
}

static void test_backoff_between_attempts(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {
	    .label = "test", .backoff_min_ms = 40, .backoff_base_ms = 20, .backoff_cap_ms = 200};
	run(&f, M_FLAP, &conf, 0);
	assert_false(f.timed_out);
	assert_true(f.opens >= 4);
	assert_int_equal(f.last_close.code, 1011);
	/* Each attempt waited at least the floor after the previous close. */
	for (int i = 1; i < 4; i++)
		assert_true(f.open_ms[i] >= f.close_ms[i - 1] + 40);
	assert_int_equal(f.c.health, HEALTH_DEGRADED);
	assert_non_null(strstr(f.c.health_detail, "retrying in"));
}

static void test_zombie(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .dead_ms = 300, .backoff_min_ms = 20};
	run(&f, M_SILENT, &conf, 0);
	assert_false(f.timed_out);
	assert_int_equal(f.closes, 2);
	assert_true(f.last_close.zombie);
	assert_true(f.last_close.by_us);
	assert_true(f.opens >= 2); /* reconnected after the first zombie */
	/* The silence lasted at least dead_ms before the watchdog acted. */
	assert_true(f.close_ms[0] >= f.open_ms[0] + 300);
}

static void test_reconnect_now(void **state)
{
	(void)state;
	struct fx f;
	struct wsclient_conf conf = {.label = "test", .backoff_min_ms = 5000, .report_ready = 1};
	run(&f, M_RECONNECT_NOW, &conf, 0);
	assert_false(f.timed_out);
	assert_int_equal(f.opens, 2);
	/* At once, not after the 5 s floor of the backoff. */
	assert_true(f.open_ms[1] - f.close_ms[0] < 4000);
	assert_int_equal(f.last_close.code, 0);
	assert_true(f.last_close.by_us);
	/* report_ready: the connector, not the client, says when it is ok. */
	assert_int_not_equal(f.c.health, HEALTH_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_reassembly_and_cap),
	    cmocka_unit_test(test_fatal_close_code),
	    cmocka_unit_test(test_refused_upgrade),
	    cmocka_unit_test(test_backoff_between_attempts),
	    cmocka_unit_test(test_zombie),
	    cmocka_unit_test(test_reconnect_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
