/*
 * test_webhook.c - the verified webhook's checks: X-Hub-Signature-256
 * against known HMAC-SHA256 vectors (RFC 4231) and a Meta body signed
 * with its non-ASCII escaped as \uXXXX (the raw bytes are what count, not
 * a re-serialisation), every malformed header refused; and the
 * subscription check (mode, verify token, challenge).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "webhook.h"

static void rfc4231_vectors(void **state)
{
	(void)state;
	unsigned char k1[20], k6[131];
	char sig[80];
	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";

	assert_true(
	    webhook_signature_ok(k1, sizeof(k1), "Hi There", 8,
	                         "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
	assert_true(
	    webhook_signature_ok("Jefe", 4, "what do ya want for nothing?", 28,
	                         "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	/* A key longer than SHA-256's block is hashed first. */
	assert_true(
	    webhook_signature_ok(k6, sizeof(k6), d6, strlen(d6),
	                         "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
	/* Upper-case hex is the same signature. */
	assert_true(
	    webhook_signature_ok("Jefe", 4, "what do ya want for nothing?", 28,
	                         "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"));

	webhook_signature("Jefe", 4, "what do ya want for nothing?", 28, sig, sizeof(sig));
	assert_string_equal(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void wrong_signatures_refused(void **state)
{
	(void)state;
	const char *body = "what do ya want for nothing?";
	const char *good = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	char bad[80];

	assert_true(webhook_signature_ok("Jefe", 4, body, 28, good));
	/* Another key, another body, one byte more. */
	assert_false(webhook_signature_ok("jefe", 4, body, 28, good));
	assert_false(webhook_signature_ok("Jefe", 4, "What do ya want for nothing?", 28, good));
	assert_false(webhook_signature_ok("Jefe", 4, body, 27, good));
	/* One digit changed, at either end. */
	snprintf(bad, sizeof(bad), "%s", good);
	bad[7] = '6';
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	snprintf(bad, sizeof(bad), "%s", good);
	bad[strlen(bad) - 1] = '4';
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	/* Malformed headers. */
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, NULL));
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, ""));
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, "sha256="));
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, good + 7)); /* no prefix */
	assert_false(webhook_signature_ok(
	    "Jefe", 4, body, 28, "sha1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	assert_false(webhook_signature_ok(
	    "Jefe", 4, body, 28, "SHA256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	snprintf(bad, sizeof(bad), "%s0", good); /* too long */
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(good) - 1, good); /* too short */
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	snprintf(bad, sizeof(bad), "%s", good);
	bad[20] = 'g'; /* not hex */
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	snprintf(bad, sizeof(bad), "%s", good);
	bad[20] = ' ';
	assert_false(webhook_signature_ok("Jefe", 4, body, 28, bad));
	/* No secret: nothing can be verified. */
	assert_false(webhook_signature_ok("", 0, body, 28, good));
	assert_false(webhook_signature_ok(NULL, 4, body, 28, good));
}

static void meta_escaped_body(void **state)
{
	(void)state;
	/* Meta signs Messenger bodies with non-ASCII escaped as \uXXXX: the
	 * raw bytes verify; the same text re-serialised as UTF-8 does not. */
	const char *escaped = "{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"message\":{\"text\":"
	                      "\"Caf\\u00e9 \\u263a\"}}]}]}";
	const char *utf8 = "{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"message\":{\"text\":"
	                   "\"Caf\xc3\xa9 \xe2\x98\xba\"}}]}]}";
	const char *sig = "sha256=e1eb71892f3191726b32db57ae051d04282496aae90fddc77a4f6c4f992d973e";
	assert_true(webhook_signature_ok("app-secret", 10, escaped, strlen(escaped), sig));
	assert_false(webhook_signature_ok("app-secret", 10, utf8, strlen(utf8), sig));
	/* An empty body has a signature too. */
	char s[80];
	webhook_signature("k", 1, "", 0, s, sizeof(s));
	assert_true(webhook_signature_ok("k", 1, "", 0, s));
	assert_false(webhook_signature_ok("k", 1, "x", 1, s));
}

static void subscription_check(void **state)
{
	(void)state;
	assert_true(webhook_subscribe_ok("subscribe", "verify-me", "1158201444", "verify-me"));
	assert_true(webhook_subscribe_ok("subscribe", "verify-me", "abc_DEF-1.2", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", "verify-mE", "1158201444", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", "verify-me ", "1158201444", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", "", "1158201444", "verify-me"));
	assert_false(webhook_subscribe_ok("unsubscribe", "verify-me", "1158201444", "verify-me"));
	assert_false(webhook_subscribe_ok(NULL, "verify-me", "1158201444", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", NULL, "1158201444", "verify-me"));
	/* No verify token configured: nothing matches, not even "". */
	assert_false(webhook_subscribe_ok("subscribe", "", "1", ""));
	/* The challenge is echoed as the body: only a plain token. */
	assert_false(webhook_subscribe_ok("subscribe", "verify-me", "", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", "verify-me", "<script>", "verify-me"));
	assert_false(webhook_subscribe_ok("subscribe", "verify-me", "12 34", "verify-me"));
	char longc[WEBHOOK_MAX_CHALLENGE + 2];
	memset(longc, '7', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	assert_false(webhook_subscribe_ok("subscribe", "verify-me", longc, "verify-me"));
	longc[WEBHOOK_MAX_CHALLENGE] = '\0';
	assert_true(webhook_subscribe_ok("subscribe", "verify-me", longc, "verify-me"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc4231_vectors),
	    cmocka_unit_test(wrong_signatures_refused),
	    cmocka_unit_test(meta_escaped_body),
	    cmocka_unit_test(subscription_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
