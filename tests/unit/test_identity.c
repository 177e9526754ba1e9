/*
 * test_identity.c - the web chat's identity verification: HMAC-SHA256 of
 * the id with the site's secret (RFC 4231 vectors and the form a site's
 * server computes), forged and malformed hashes refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "identity.h"

static void rfc4231_vectors(void **state)
{
	(void)state;
	char out[IDENTITY_HASH_HEX + 1];
	/* RFC 4231, test case 2: key "Jefe". */
	assert_int_equal(identity_hash("Jefe", 4, "what do ya want for nothing?", out, sizeof(out)), 0);
	assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_int_equal(identity_verify("Jefe", 4, "what do ya want for nothing?",
	                                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
	                 1);
	/* Upper-case hex is the same hash. */
	assert_int_equal(identity_verify("Jefe", 4, "what do ya want for nothing?",
	                                 "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"),
	                 1);
	/* What `printf %s cust-42 | openssl dgst -sha256 -hmac s3cret` prints. */
	assert_int_equal(identity_hash("s3cret", 6, "cust-42", out, sizeof(out)), 0);
	assert_string_equal(out, "518b15e0bced4188b8b3dd65775ef5dbefb0f9c4d51fe50a80241e24cba1ec7d");
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", out), 1);
}

static void forged_and_malformed(void **state)
{
	(void)state;
	char good[IDENTITY_HASH_HEX + 1], bad[IDENTITY_HASH_HEX + 1];
	assert_int_equal(identity_hash("s3cret", 6, "cust-42", good, sizeof(good)), 0);
	/* Another id, another secret, one changed digit: refused. */
	assert_int_equal(identity_verify("s3cret", 6, "cust-43", good), 0);
	assert_int_equal(identity_verify("s3cre7", 6, "cust-42", good), 0);
	memcpy(bad, good, sizeof(bad));
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", bad), 0);
	/* Wrong lengths, non-hex, missing parts. */
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", ""), 0);
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", NULL), 0);
	good[63] = '\0';
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", good), 0);
	memset(bad, 'g', IDENTITY_HASH_HEX);
	bad[IDENTITY_HASH_HEX] = '\0';
	assert_int_equal(identity_verify("s3cret", 6, "cust-42", bad), 0);
	assert_int_equal(identity_verify(NULL, 0, "cust-42", bad), 0);
	assert_int_equal(identity_verify("s3cret", 0, "cust-42", bad), 0);
	assert_int_equal(identity_verify("s3cret", 6, "", bad), 0);
	/* An id with a control character or over the limit is never valid,
	 * whatever the hash. */
	char out[IDENTITY_HASH_HEX + 1];
	assert_int_equal(identity_hash("s3cret", 6, "cust\n42", out, sizeof(out)), -1);
	char longid[IDENTITY_MAX_ID + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(identity_hash("s3cret", 6, longid, out, sizeof(out)), -1);
	assert_int_equal(identity_hash("s3cret", 6, "x", out, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc4231_vectors),
	    cmocka_unit_test(forged_and_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
