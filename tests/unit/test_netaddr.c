/*
 * test_netaddr.c - addresses and networks: parsing, prefixes, the
 * IPv4-mapped rule, matching a list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "netaddr.h"

static void test_parse_and_format(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} ok[] = {
	    {"192.0.2.7", "192.0.2.7"},        {"2001:db8::1", "2001:db8::1"},
	    {"[2001:db8::1]", "2001:db8::1"},  {"::ffff:192.0.2.7", "192.0.2.7"},
	    {"[::ffff:10.1.2.3]", "10.1.2.3"}, {"::1", "::1"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct netaddr a;
		char out[NETADDR_STRLEN];
		assert_int_equal(netaddr_parse(ok[i].in, &a), 0);
		netaddr_format(&a, out, sizeof(out));
		assert_string_equal(out, ok[i].out);
	}
	static const char *const bad[] = {"",          "localhost", "example.com", "1.2.3",     "1.2.3.4.5",
	                                  "[1.2.3.4]", "::g",       "[::1",        "256.1.1.1", NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct netaddr a;
		if (netaddr_parse(bad[i], &a) == 0)
			fail_msg("'%s' parsed as an address", bad[i]);
	}
	struct netaddr a;
	assert_int_equal(netaddr_parse(NULL, &a), -1);
}

static void test_networks(void **state)
{
	(void)state;
	struct netaddr_net n[4];
	char err[128];
	assert_int_equal(netaddr_parse_net("10.0.0.0/8", &n[0], err, sizeof(err)), 0);
	assert_int_equal(netaddr_parse_net("fd00::/8", &n[1], err, sizeof(err)), 0);
	assert_int_equal(netaddr_parse_net("192.0.2.7", &n[2], err, sizeof(err)), 0);
	/* Host bits are cleared; a mapped network is its IPv4 network. */
	assert_int_equal(netaddr_parse_net("::ffff:172.16.5.5/108", &n[3], err, sizeof(err)), 0);
	assert_int_equal(n[3].bits, 12);

	assert_true(netaddr_in_any("10.255.1.2", n, 4));
	assert_true(netaddr_in_any("::ffff:10.0.0.1", n, 4)); /* a dual-stack socket's spelling */
	assert_true(netaddr_in_any("fdab::1", n, 4));
	assert_true(netaddr_in_any("192.0.2.7", n, 4));
	assert_true(netaddr_in_any("172.31.0.1", n, 4));
	assert_false(netaddr_in_any("192.0.2.8", n, 4));
	assert_false(netaddr_in_any("11.0.0.1", n, 4));
	assert_false(netaddr_in_any("fe80::1", n, 4));
	assert_false(netaddr_in_any("172.32.0.1", n, 4));
	assert_false(netaddr_in_any("not an address", n, 4));
	assert_false(netaddr_in_any("10.0.0.1", n, 0));

	static const char *const bad[] = {"10.0.0.0/33",   "10.0.0.0/", "10.0.0.0/-1",       "fd00::/129",
	                                  "proxy.example", "/8",        "::ffff:10.0.0.0/8", NULL};
	for (size_t i = 0; bad[i]; i++) {
		struct netaddr_net x;
		if (netaddr_parse_net(bad[i], &x, err, sizeof(err)) == 0)
			fail_msg("'%s' parsed as a network", bad[i]);
		assert_true(strlen(err) > 0);
	}
	struct netaddr_net all;
	assert_int_equal(netaddr_parse_net("0.0.0.0/0", &all, err, sizeof(err)), 0);
	assert_true(netaddr_in_any("203.0.113.9", &all, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_networks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
