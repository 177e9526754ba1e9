/*
 * identity.c - HMAC-SHA256 identity verification (see identity.h).
 */
#include "identity.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

/* An id we take: 1..IDENTITY_MAX_ID bytes, no control characters. */
static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > IDENTITY_MAX_ID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return 0;
	return 1;
}

static int mac(const char *secret, size_t secret_len, const char *id, unsigned char out[32])
{
	unsigned int len = 0;
	if (!secret || !secret_len || secret_len > 4096 || !id_ok(id))
		return -1;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)id, strlen(id), out, &len) ||
	    len != 32)
		return -1;
	return 0;
}

int identity_verify(const char *secret, size_t secret_len, const char *id, const char *hash)
{
	unsigned char want[32], got[32];
	if (!hash || strlen(hash) != IDENTITY_HASH_HEX)
		return 0;
	for (size_t i = 0; i < 32; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hash[2 * i]),
		    lo = OPENSSL_hexchar2int((unsigned char)hash[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	if (mac(secret, secret_len, id, want) < 0)
		return 0;
	int same = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return same;
}

int identity_hash(const char *secret, size_t secret_len, const char *id, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char m[32];
	if (n < IDENTITY_HASH_HEX + 1 || mac(secret, secret_len, id, m) < 0)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[m[i] >> 4];
		out[2 * i + 1] = hex[m[i] & 15];
	}
	out[IDENTITY_HASH_HEX] = '\0';
	return 0;
}
