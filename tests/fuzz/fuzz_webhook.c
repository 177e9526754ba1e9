/*
 * fuzz_webhook.c - the verified webhook's checks on what anyone on the
 * network can send: the X-Hub-Signature-256 header against the body, and
 * the subscription check's parameters.  Input: a selector byte, then
 * secret, header and body separated by NUL bytes.
 * Invariants: a signature this module made for the body verifies; the
 * same signature fails for any other body; a header that verifies is
 * exactly that signature (up to the case of its hex digits).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-separated field of [*p, end). */
static const char *field(const char **p, const char *end, size_t *len)
{
	const char *s = *p;
	const char *z = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
	*len = z ? (size_t)(z - s) : (size_t)(end - s);
	*p = z ? z + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 64 * 1024)
		return 0;
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	const char *p = copy, *end = copy + size - 1;
	size_t sl, hl, bl;
	const char *secret = field(&p, end, &sl);
	const char *header = field(&p, end, &hl);
	const char *body = field(&p, end, &bl);
	char hdr[512], sig[80];
	snprintf(hdr, sizeof(hdr), "%.*s", (int)(hl < sizeof(hdr) - 1 ? hl : sizeof(hdr) - 1), header);

	if (data[0] % 2 == 0) {
		int ok = webhook_signature_ok(secret, sl, body, bl, hdr);
		webhook_signature(secret, sl, body, bl, sig, sizeof(sig));
		if (sl > 0) {
			if (!webhook_signature_ok(secret, sl, body, bl, sig))
				abort();
			if (bl > 0 && webhook_signature_ok(secret, sl, body, bl - 1, sig))
				abort();
			if (ok && strcasecmp(hdr, sig) != 0)
				abort();
		} else if (ok) {
			abort(); /* nothing verifies without a secret */
		}
	} else {
		char want[256];
		snprintf(want, sizeof(want), "%.*s", (int)(sl < sizeof(want) - 1 ? sl : sizeof(want) - 1),
		         secret);
		char challenge[512];
		snprintf(challenge, sizeof(challenge), "%.*s",
		         (int)(bl < sizeof(challenge) - 1 ? bl : sizeof(challenge) - 1), body);
		if (webhook_subscribe_ok("subscribe", hdr, challenge, want)) {
			if (strcmp(hdr, want) != 0 || !*challenge ||
			    strlen(challenge) > WEBHOOK_MAX_CHALLENGE)
				abort();
			for (const char *c = challenge; *c; c++)
				if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
					abort();
		}
	}
	free(copy);
	return 0;
}
