/*
 * identity.h - identity verification for the web chat: the business's own
 * site tells the widget who the visitor is (frontdeskChat.identify({id,
 * name, email, hash})), and `hash` proves it, as Intercom's identity
 * verification does: hash = hex(HMAC-SHA256(secret, id)), computed by the
 * site's server with a secret only it and frontdesk know (the web chat
 * connector's identity_secret).  A visitor cannot make a valid hash for an
 * id that is not theirs, so they cannot claim someone else's name or
 * conversations.
 *
 * The HMAC is OpenSSL's; the comparison is constant-time (CRYPTO_memcmp),
 * so the time an answer takes says nothing about how much of a forged hash
 * was right.  Pure functions: no state, thread-safe.
 */
#ifndef FD_IDENTITY_H
#define FD_IDENTITY_H

#include <stddef.h>

#define IDENTITY_MAX_ID   128 /* bytes of an id (the business's customer id) */
#define IDENTITY_HASH_HEX 64  /* hex characters of an HMAC-SHA256 */

/*
 * 1 when `hash` (64 hex digits, either case) is the HMAC-SHA256 of `id`
 * keyed with `secret` (secret_len bytes); 0 when it is not, or when any
 * input is missing, empty or malformed (an id over IDENTITY_MAX_ID bytes or
 * with control characters).  Never an error: a bad hash is a refusal.
 */
int identity_verify(const char *secret, size_t secret_len, const char *id, const char *hash);

/*
 * The hash of `id` for `secret`, as the site's server computes it, into
 * out (at least IDENTITY_HASH_HEX + 1 bytes, lower-case hex): 0, or -1.
 * For tests and for `frontdesk` tooling; the site computes its own.
 */
int identity_hash(const char *secret, size_t secret_len, const char *id, char *out, size_t n);

#endif
