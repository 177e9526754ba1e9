/*
 * test_url.c - the loopback rule (an address check, not a prefix) and URL
 * parsing through curl (url.h); the backoff with full jitter (backoff.h)
 * and the random source (rand.h) that the retries share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"
#include "rand.h"
#include "url.h"

static void test_loopback(void **state)
{
	(void)state;
	const char *yes[] = {
	    "localhost", "LocalHost", "127.0.0.1",       "127.1.2.3",        "127.255.255.254",
	    "::1",       "[::1]",     "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "[::ffff:127.9.9.9]"};
	const char *no[] = {"127.example.com",
	                    "127.0.0.1.nip.io",
	                    "localhost.example",
	                    "128.0.0.1",
	                    "10.0.0.1",
	                    "::2",
	                    "[::1",
	                    "::ffff:10.0.0.1",
	                    "",
	                    "1270.0.0.1",
	                    "0.0.0.0",
	                    "127.0.0.1:80"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!url_host_is_loopback(yes[i]))
			fail_msg("%s should be loopback", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (url_host_is_loopback(no[i]))
			fail_msg("%s should not be loopback", no[i]);
	assert_false(url_host_is_loopback(NULL));
}

static void test_parse(void **state)
{
	(void)state;
	struct url_parts u;
	char hp[300];

	assert_int_equal(url_parse("wss://gateway.discord.gg/?v=10&encoding=json", &u), 0);
	assert_string_equal(u.scheme, "wss");
	assert_true(u.tls);
	assert_string_equal(u.host, "gateway.discord.gg");
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/?v=10&encoding=json");
	url_host_port(&u, hp, sizeof(hp));
	assert_string_equal(hp, "gateway.discord.gg");

	assert_int_equal(url_parse("ws://[::1]:8065/api/v4/websocket", &u), 0);
	assert_false(u.tls);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 8065);
	assert_string_equal(u.path, "/api/v4/websocket");
	url_host_port(&u, hp, sizeof(hp));
	assert_string_equal(hp, "[::1]:8065");

	assert_int_equal(url_parse("HTTP://Example.org", &u), 0);
	assert_string_equal(u.scheme, "http");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");

	/* Refused: other schemes, credentials, no host, bad ports, nonsense. */
	assert_int_equal(url_parse("ftp://example.org/", &u), -1);
	assert_int_equal(url_parse("wss://user:pw@example.org/", &u), -1);
	assert_int_equal(url_parse("wss://", &u), -1);
	assert_int_equal(url_parse("ws://example.org:0/", &u), -1);
	assert_int_equal(url_parse("ws://example.org:99999/", &u), -1);
	assert_int_equal(url_parse("not a url", &u), -1);
	assert_int_equal(url_parse(NULL, &u), -1);
	assert_int_equal(u.host[0], '\0');
}

static void test_backoff(void **state)
{
	(void)state;
	/* The window doubles from base up to cap; min is a floor. */
	assert_int_equal(backoff_delay_ms(0, 1000, 1000, 299000, 0), 1000);
	assert_int_equal(backoff_delay_ms(0, 1000, 1000, 299000, 999), 1999);
	assert_int_equal(backoff_delay_ms(0, 1000, 1000, 299000, 1000), 1000);
	assert_int_equal(backoff_delay_ms(3, 0, 1000, 299000, 7999), 7999);
	assert_int_equal(backoff_delay_ms(3, 0, 1000, 299000, 8000), 0);
	for (int a = 0; a < 200; a += 7) {
		long hi = backoff_delay_ms(a, 1000, 1000, 299000, UINT64_MAX);
		assert_true(hi >= 1000 && hi < 300000);
	}
	/* Full jitter: draws from rand_u64 cover the window, low and high. */
	long lo = 1L << 40, hi = 0;
	for (int i = 0; i < 4000; i++) {
		long d = backoff_ms(5, 100, 1000, 60000);
		assert_true(d >= 100 && d < 100 + 32000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	assert_true(lo < 100 + 3200);
	assert_true(hi > 100 + 28800);
}

static void test_rand(void **state)
{
	(void)state;
	unsigned char a[32], b[32];
	assert_int_equal(rand_bytes(a, sizeof(a)), 0);
	assert_int_equal(rand_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	uint64_t x = rand_u64(), y = rand_u64();
	assert_true(x != y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_rand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
