/*
 * test_auth.c - dashboard authentication: crypt(3) verification with real
 * hashes, sessions and their expiry, CSRF comparison, the login rate limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth.h"

/* Hashes of "correct horse" made with crypt_gensalt: yescrypt, SHA-512, bcrypt. */
static const char hash_y[] = "$y$j9T$F2nKyQ2TZT4UzMbTJN6Va.$RMyDCRGkYXqbKiyH48zJY4u7/N9qyIhcPr1u/3DfILD";
static const char hash_6[] = "$6$Q9iYu8kqRoR58ol3$WAMGHu17Z.R8vhzYIiyFPLVRtmY1ymPfN7U7S5YlhSK0nL33BnVw9H4Ae"
                             "qUxJhrUDvd8CtgejZG27l8hrzZcK/";
static const char hash_2b[] = "$2b$05$vsxLIVwReKxvu43FNJIQW.e0zdBUYfuLJAR8BwXwlIpX0M25Hh.EW";

static const struct auth_agent agents[] = {
    {.login = "sam", .name = "Sam", .password_hash = hash_y},
    {.login = "kim", .name = NULL, .password_hash = hash_6},
};

static struct auth *new_auth(void)
{
	struct auth *a = auth_new();
	auth_set_agents(a, agents, 2);
	return a;
}

static void verify_real_hashes(void **state)
{
	(void)state;
	assert_int_equal(auth_verify_password("correct horse", hash_y), 1);
	assert_int_equal(auth_verify_password("correct horse", hash_6), 1);
	assert_int_equal(auth_verify_password("correct horse", hash_2b), 1);
	assert_int_equal(auth_verify_password("correct horsf", hash_y), 0);
	assert_int_equal(auth_verify_password("", hash_6), 0);
	assert_int_equal(auth_verify_password("Correct horse", hash_2b), 0);
	/* The dummy hash is a real yescrypt hash that no test password opens. */
	assert_int_equal(strncmp(auth_dummy_hash(), "$y$", 3), 0);
	assert_int_equal(auth_verify_password("correct horse", auth_dummy_hash()), 0);
}

static void verify_bad_hashes(void **state)
{
	(void)state;
	assert_int_equal(auth_verify_password("x", "not a hash"), -1);
	assert_int_equal(auth_verify_password("x", "$y$"), -1);
	assert_int_equal(auth_verify_password("x", ""), -1);
	/* A password longer than crypt(3) accepts never matches. */
	char longpw[AUTH_MAX_PASSWORD + 10];
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = 0;
	assert_int_equal(auth_verify_password(longpw, hash_y), 0);
}

static void agent_lookup(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	const char *name = NULL;
	assert_string_equal(auth_agent_hash(a, "sam", &name), hash_y);
	assert_string_equal(name, "Sam");
	assert_string_equal(auth_agent_hash(a, "kim", &name), hash_6);
	assert_string_equal(name, "kim"); /* no display name: the login */
	assert_null(auth_agent_hash(a, "root", &name));
	assert_null(name);
	auth_free(a);
}

static void session_lifecycle(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t0 = 1800000000;

	assert_null(auth_session_new(a, "nobody", t0));
	const struct auth_session *s = auth_session_new(a, "sam", t0);
	assert_non_null(s);
	assert_int_equal(strlen(s->token), AUTH_TOKEN_HEX);
	assert_int_equal(strlen(s->csrf), AUTH_TOKEN_HEX);
	assert_string_not_equal(s->token, s->csrf);
	assert_string_equal(s->name, "Sam");
	char token[AUTH_TOKEN_HEX + 1], csrf[AUTH_TOKEN_HEX + 1];
	memcpy(token, s->token, sizeof(token));
	memcpy(csrf, s->csrf, sizeof(csrf));

	/* Two sessions never share a token. */
	const struct auth_session *s2 = auth_session_new(a, "sam", t0);
	assert_string_not_equal(s2->token, token);
	assert_int_equal(auth_session_count(a, t0), 2);

	s = auth_session_find(a, token, t0 + 60);
	assert_non_null(s);
	assert_string_equal(s->login, "sam");
	assert_string_equal(s->csrf, csrf);

	/* A wrong token, a truncated one, or one of another length finds nothing. */
	char wrong[AUTH_TOKEN_HEX + 1];
	memcpy(wrong, token, sizeof(wrong));
	wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
	assert_null(auth_session_find(a, wrong, t0 + 60));
	assert_null(auth_session_find(a, "abc", t0 + 60));
	assert_null(auth_session_find(a, NULL, t0 + 60));

	/* From a Cookie header among other cookies. */
	char cookie[256];
	snprintf(cookie, sizeof(cookie), "theme=dark; %s=%s; lang=en", AUTH_COOKIE, token);
	assert_non_null(auth_session_from_cookie(a, cookie, t0 + 61));
	snprintf(cookie, sizeof(cookie), "x%s=%s", AUTH_COOKIE, token);
	assert_null(auth_session_from_cookie(a, cookie, t0 + 61));
	assert_null(auth_session_from_cookie(a, NULL, t0 + 61));

	auth_session_end(a, token);
	assert_null(auth_session_find(a, token, t0 + 62));
	assert_int_equal(auth_session_count(a, t0 + 62), 1);
	auth_free(a);
}

static void session_idle_expiry(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	char token[AUTH_TOKEN_HEX + 1];
	memcpy(token, auth_session_new(a, "sam", t)->token, sizeof(token));

	/* Activity keeps it alive... */
	for (int i = 0; i < 5; i++) {
		t += AUTH_SESSION_IDLE - 1;
		assert_non_null(auth_session_find(a, token, t));
	}
	/* Peeking (a live connection checking its session) is not activity. */
	assert_non_null(auth_session_peek(a, token, t + 10));
	assert_null(auth_session_peek(a, token, t + AUTH_SESSION_IDLE));
	memcpy(token, auth_session_new(a, "sam", t)->token, sizeof(token));
	/* ...a pause of the idle time ends it for good. */
	t += AUTH_SESSION_IDLE;
	assert_null(auth_session_find(a, token, t));
	assert_null(auth_session_find(a, token, t - AUTH_SESSION_IDLE));
	auth_free(a);
}

static void session_absolute_expiry(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t0 = 1800000000, t = t0;
	char token[AUTH_TOKEN_HEX + 1];
	memcpy(token, auth_session_new(a, "kim", t)->token, sizeof(token));
	while (t + 3600 < t0 + AUTH_SESSION_MAX) {
		t += 3600;
		assert_non_null(auth_session_find(a, token, t));
	}
	assert_null(auth_session_find(a, token, t0 + AUTH_SESSION_MAX));
	auth_free(a);
}

static void sessions_bounded(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	char first[AUTH_TOKEN_HEX + 1], second[AUTH_TOKEN_HEX + 1];
	memcpy(first, auth_session_new(a, "sam", t)->token, sizeof(first));
	memcpy(second, auth_session_new(a, "sam", t + 1)->token, sizeof(second));
	assert_non_null(auth_session_find(a, first, t + 2));
	for (int i = 0; i < AUTH_MAX_SESSIONS - 2; i++)
		assert_non_null(auth_session_new(a, "kim", t + 3));
	assert_int_equal(auth_session_count(a, t + 3), AUTH_MAX_SESSIONS);
	/* The table is full: a new login drops the least recently used one. */
	assert_non_null(auth_session_new(a, "kim", t + 4));
	assert_int_equal(auth_session_count(a, t + 4), AUTH_MAX_SESSIONS);
	assert_null(auth_session_find(a, second, t + 4));
	assert_non_null(auth_session_find(a, first, t + 4));
	auth_free(a);
}

static void reload_ends_sessions(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	char sam[AUTH_TOKEN_HEX + 1], kim[AUTH_TOKEN_HEX + 1];
	memcpy(sam, auth_session_new(a, "sam", t)->token, sizeof(sam));
	memcpy(kim, auth_session_new(a, "kim", t)->token, sizeof(kim));

	/* kim gets a new hash, sam a new display name. */
	const struct auth_agent next[] = {
	    {.login = "sam", .name = "Samantha", .password_hash = hash_y},
	    {.login = "kim", .name = "Kim", .password_hash = hash_2b},
	};
	auth_set_agents(a, next, 2);
	const struct auth_session *s = auth_session_find(a, sam, t + 1);
	assert_non_null(s);
	assert_string_equal(s->name, "Samantha");
	assert_null(auth_session_find(a, kim, t + 1));

	/* sam removed from the config. */
	auth_set_agents(a, next + 1, 1);
	assert_null(auth_session_find(a, sam, t + 2));
	auth_free(a);
}

static void csrf_compare(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	const struct auth_session *s = auth_session_new(a, "sam", 1800000000);
	char good[AUTH_TOKEN_HEX + 1];
	memcpy(good, s->csrf, sizeof(good));

	assert_int_equal(auth_csrf_ok(s, good), 1);
	assert_int_equal(auth_csrf_ok(s, NULL), 0);
	assert_int_equal(auth_csrf_ok(s, ""), 0);
	assert_int_equal(auth_csrf_ok(NULL, good), 0);
	char bad[AUTH_TOKEN_HEX + 1];
	memcpy(bad, good, sizeof(bad));
	bad[AUTH_TOKEN_HEX - 1] ^= 1;
	assert_int_equal(auth_csrf_ok(s, bad), 0);
	bad[AUTH_TOKEN_HEX - 1] = 0; /* a prefix is not enough */
	assert_int_equal(auth_csrf_ok(s, bad), 0);

	assert_int_equal(auth_ct_equal("abc", "abc"), 1);
	assert_int_equal(auth_ct_equal("abc", "abd"), 0);
	assert_int_equal(auth_ct_equal("abc", "abcabc"), 0);
	assert_int_equal(auth_ct_equal("", ""), 1);
	assert_int_equal(auth_ct_equal("", "a"), 0);
	auth_free(a);
}

/*
 * The comparison's time must not depend on where the first difference is.
 * Compare a guess wrong in its first byte with one wrong in its last byte:
 * the medians of many timed runs must be close (a short-circuiting compare
 * differs by the whole length).
 */
static uint64_t time_compare(const char *a, const char *b)
{
	struct timespec t0, t1;
	int sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2000; i++)
		sink += auth_ct_equal(a, b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(sink, 0);
	return (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static void csrf_constant_time(void **state)
{
	(void)state;
	char secret[4097], early[4097], late[4097];
	memset(secret, 'a', 4096);
	secret[4096] = 0;
	memcpy(early, secret, sizeof(early));
	memcpy(late, secret, sizeof(late));
	early[0] = 'b';
	late[4095] = 'b';
	uint64_t te[31], tl[31];
	for (int i = 0; i < 31; i++) {
		te[i] = time_compare(secret, early);
		tl[i] = time_compare(secret, late);
	}
	qsort(te, 31, sizeof(te[0]), cmp_u64);
	qsort(tl, 31, sizeof(tl[0]), cmp_u64);
	double ratio = (double)te[15] / (double)tl[15];
	assert_true(ratio > 0.7 && ratio < 1.4);
}

static void rate_limit_slows_down(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;

	for (int i = 0; i < AUTH_FREE_FAILURES; i++) {
		assert_int_equal(auth_rate_check(a, "10.0.0.1", "sam", t), 0);
		assert_int_equal(auth_rate_fail(a, "10.0.0.1", "sam", t), 0);
	}
	/* Every further failure doubles the address's lock-out. */
	long expect = 1;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(auth_rate_fail(a, "10.0.0.1", "sam", t), expect);
		assert_int_equal(auth_rate_check(a, "10.0.0.1", "sam", t), expect);
		/* The address is locked for any login... */
		assert_int_equal(auth_rate_check(a, "10.0.0.1", "kim", t), expect);
		/* ...but nobody else is locked out of "sam". */
		assert_int_equal(auth_rate_check(a, "10.9.9.9", "sam", t), 0);
		t += expect;
		assert_int_equal(auth_rate_check(a, "10.0.0.1", "sam", t), 0);
		expect *= 2;
	}
	/* It stops growing at the cap. */
	for (int i = 0; i < 20; i++)
		auth_rate_fail(a, "10.0.0.1", "sam", t);
	assert_int_equal(auth_rate_check(a, "10.0.0.1", "sam", t), AUTH_MAX_LOCK);

	/* A success clears both records. */
	auth_rate_success(a, "10.0.0.1", "sam");
	assert_int_equal(auth_rate_check(a, "10.0.0.1", "sam", t), 0);
	assert_int_equal(auth_rate_fail(a, "10.0.0.1", "sam", t), 0);
	auth_free(a);
}

/* The lock-out of the issue: one address failing with "sam" for a long
 * time; the real agent, from another address, still gets in at once. */
static void rate_limit_never_locks_the_agent_out(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	for (int i = 0; i < 200; i++, t++)
		auth_rate_fail(a, "203.0.113.66", "sam", t);
	assert_int_equal(auth_rate_check(a, "203.0.113.66", "sam", t), AUTH_MAX_LOCK - 1);
	assert_int_equal(auth_rate_check(a, "192.0.2.10", "sam", t), 0);
	auth_rate_success(a, "192.0.2.10", "sam");
	/* The attacker stays locked out. */
	assert_true(auth_rate_check(a, "203.0.113.66", "sam", t) > 0);
	auth_free(a);
}

/* Guessing "sam" from many addresses: once the login has failed more than
 * the free count in all, each new address is locked after one failure. */
static void rate_limit_distributed_guessing(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	char ip[32];
	for (int i = 0; i < AUTH_FREE_FAILURES; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		assert_int_equal(auth_rate_fail(a, ip, "sam", t), 0);
		assert_int_equal(auth_rate_check(a, ip, "sam", t), 0);
	}
	long prev = 0;
	for (int i = AUTH_FREE_FAILURES; i < AUTH_FREE_FAILURES + 8; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		assert_int_equal(auth_rate_check(a, ip, "sam", t), 0); /* a fresh address may try */
		long lock = auth_rate_fail(a, ip, "sam", t);
		assert_true(lock > prev);
		assert_int_equal(auth_rate_check(a, ip, "sam", t), lock);
		prev = lock;
	}
	/* Other logins are unaffected, and so is the agent from a clean address. */
	assert_int_equal(auth_rate_fail(a, "192.0.2.77", "kim", t), 0);
	assert_int_equal(auth_rate_check(a, "192.0.2.10", "sam", t), 0);
	auth_free(a);
}

static void rate_limit_bounded(void **state)
{
	(void)state;
	struct auth *a = new_auth();
	time_t t = 1800000000;
	char ip[32];
	/* Many different addresses fill the table without growing memory;
	 * the newest records are kept. */
	for (int i = 0; i < AUTH_RATE_ENTRIES * 3; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
		for (int k = 0; k <= AUTH_FREE_FAILURES; k++)
			auth_rate_fail(a, ip, "nobody", t + i);
	}
	assert_true(auth_rate_check(a, ip, "nobody", t + AUTH_RATE_ENTRIES * 3 - 1) > 0);
	/* Old failures are forgotten after a day. */
	assert_int_equal(auth_rate_fail(a, ip, "nobody", t + 3 * 24 * 3600), 0);
	auth_free(a);
}

static void cookie_attributes(void **state)
{
	(void)state;
	char c[256];
	assert_true(auth_cookie(c, sizeof(c), "abcd", 0) > 0);
	assert_non_null(strstr(c, AUTH_COOKIE "=abcd;"));
	assert_non_null(strstr(c, "HttpOnly"));
	assert_non_null(strstr(c, "SameSite=Strict"));
	assert_non_null(strstr(c, "Path=/"));
	assert_null(strstr(c, "Secure"));
	assert_true(auth_cookie(c, sizeof(c), "abcd", 1) > 0);
	assert_non_null(strstr(c, "; Secure"));
	assert_true(auth_cookie(c, sizeof(c), NULL, 0) > 0);
	assert_non_null(strstr(c, "Max-Age=0"));
	assert_int_equal(auth_cookie(c, 10, "abcd", 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(verify_real_hashes),
	    cmocka_unit_test(verify_bad_hashes),
	    cmocka_unit_test(agent_lookup),
	    cmocka_unit_test(session_lifecycle),
	    cmocka_unit_test(session_idle_expiry),
	    cmocka_unit_test(session_absolute_expiry),
	    cmocka_unit_test(sessions_bounded),
	    cmocka_unit_test(reload_ends_sessions),
	    cmocka_unit_test(csrf_compare),
	    cmocka_unit_test(csrf_constant_time),
	    cmocka_unit_test(rate_limit_slows_down),
	    cmocka_unit_test(rate_limit_bounded),
	    cmocka_unit_test(rate_limit_never_locks_the_agent_out),
	    cmocka_unit_test(rate_limit_distributed_guessing),
	    cmocka_unit_test(cookie_attributes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
