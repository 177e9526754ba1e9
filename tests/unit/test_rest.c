/*
 * test_rest.c - the connectors' shared REST module (rest.h): when a rate
 * limit ends, the queue's order and its cap on requests in flight, a job
 * held back by ready_at overtaken by the others, a pause holding every
 * job, and the jobs given back to the outbox at stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"
#include "outbox.h"
#include "rest.h"

static int64_t fake_now = 1795356000000; /* 2026-11-22T14:00:00Z */
static int64_t clock_now(void)
{
	return fake_now;
}

struct job {
	struct rest_job link;
	int id;
	int64_t ready; /* epoch ms it may start, 0 now */
};

struct ctx {
	struct rest *r;
	int started[16];
	size_t n;
	int given[16];
	long secs[16];
	size_t ngiven;
	int requests; /* each start makes a request that stays in flight */
};

static void start(void *arg, struct rest_job *link)
{
	struct ctx *x = arg;
	struct job *j = (struct job *)link;
	x->started[x->n++] = j->id;
	if (x->requests)
		rest_started(x->r);
}

static int64_t ready_at(void *arg, const struct rest_job *link, int64_t now)
{
	(void)arg;
	const struct job *j = (const struct job *)link;
	return j->ready > now ? j->ready : 0;
}

static void give_back(void *arg, struct rest_job *link, long secs)
{
	struct ctx *x = arg;
	x->given[x->ngiven] = ((struct job *)link)->id;
	x->secs[x->ngiven++] = secs;
}

static void test_wait_until(void **state)
{
	(void)state;
	const int64_t now = fake_now;
	struct http_response r;
	memset(&r, 0, sizeof(r));
	/* Telegram: a 429 names parameters.retry_after in its body. */
	r.status = 429;
	r.body = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
	         "\"parameters\":{\"retry_after\":7}}";
	r.body_len = strlen(r.body);
	assert_int_equal(rest_wait_until(&r, now, 1000, 0, 0), now + 7000);
	/* A floor: repeated 429s wait at least the growing wait. */
	assert_int_equal(rest_wait_until(&r, now, 16000, 0, 1), now + 16000);
	assert_int_equal(rest_wait_until(&r, now, 16000, 0, 0), now + 7000);
	/* A 429 naming nothing: the unnamed wait, or the minimum. */
	r.body = "{}";
	r.body_len = 2;
	assert_int_equal(rest_wait_until(&r, now, 2000, 60000, 0), now + 60000);
	assert_int_equal(rest_wait_until(&r, now, 2000, 0, 0), now + 2000);
	/* A time already past (clock skew): the minimum. */
	r.retry_after = "Sun, 22 Nov 2026 13:00:00 GMT";
	assert_int_equal(rest_wait_until(&r, now, 3000, 0, 0), now + 3000);
	/* Not a 429: only a spent budget waits. */
	memset(&r, 0, sizeof(r));
	r.status = 200;
	assert_int_equal(rest_wait_until(&r, now, 0, 0, 0), 0);
	r.ratelimit_remaining = "0";
	r.ratelimit_reset_after = "2.5";
	assert_int_equal(rest_wait_until(&r, now, 0, 0, 0), now + 2500);
}

static void test_queue(void **state)
{
	(void)state;
	struct connector c;
	memset(&c, 0, sizeof(c));
	c.name = "t";
	struct ctx x;
	memset(&x, 0, sizeof(x));
	struct rest_conf conf = {.label = "test", .max_inflight = 2};
	struct rest_ops ops = {.start = start, .ready_at = ready_at};
	x.r = rest_new(&c, &conf, &ops, &x);
	x.requests = 1;
	struct job j[6];
	memset(j, 0, sizeof(j));
	for (int i = 0; i < 6; i++)
		j[i].id = i;
	j[0].ready = fake_now + 1000; /* its chat must wait: the others overtake it */

	/* Held: nothing starts. */
	rest_hold(x.r, 0);
	for (int i = 0; i < 4; i++)
		rest_queue(x.r, &j[i].link);
	assert_int_equal(x.n, 0);
	/* Two at a time, in order, the held one skipped. */
	rest_hold(x.r, 1);
	assert_int_equal(x.n, 2);
	assert_int_equal(x.started[0], 1);
	assert_int_equal(x.started[1], 2);
	assert_false(rest_idle(x.r));
	/* One request ends: the next one that may go. */
	rest_ended(x.r);
	rest_pump(x.r);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.started[2], 3);
	/* Its time comes: the first one goes. */
	rest_ended(x.r);
	fake_now += 1000;
	rest_pump(x.r);
	assert_int_equal(x.n, 4);
	assert_int_equal(x.started[3], 0);
	/* A job put back goes first. */
	rest_queue(x.r, &j[4].link);
	rest_requeue(x.r, &j[5].link);
	rest_ended(x.r);
	rest_ended(x.r);
	rest_pump(x.r);
	assert_int_equal(x.n, 6);
	assert_int_equal(x.started[4], 5);
	assert_int_equal(x.started[5], 4);
	rest_ended(x.r);
	rest_ended(x.r);
	assert_true(rest_idle(x.r));

	/* A 429 holds everything until the time it names; at stop the held
	 * jobs go back to the outbox with the wait left. */
	struct http_response r;
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.retry_after = "5";
	assert_int_equal(rest_note_limits(x.r, &r), 1);
	assert_int_equal(c.paused_until_ms, fake_now + 5000);
	j[1].ready = j[2].ready = 0;
	rest_queue(x.r, &j[1].link);
	rest_queue(x.r, &j[2].link);
	assert_int_equal(x.n, 6);
	fake_now += 1500;
	rest_stop(x.r, give_back);
	assert_int_equal(x.ngiven, 2);
	assert_int_equal(x.given[0], 1);
	assert_int_equal(x.secs[0], 4);
	assert_true(rest_idle(x.r));
	/* A success clears nothing early; a later one with budget left goes on. */
	memset(&r, 0, sizeof(r));
	r.status = 200;
	assert_int_equal(rest_note_limits(x.r, &r), 0);
	rest_close(x.r);
	rest_free(x.r);
}

int main(void)
{
	outbox_now_ms = clock_now;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wait_until),
	    cmocka_unit_test(test_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
