/*
 * instagram.h - the Instagram connector (`type: instagram`): an Instagram
 * professional account's direct messages through the Messenger Platform.
 * It runs on the Messenger connector's code (messenger.h) with Instagram's
 * own facts: `object: instagram` deliveries, the account id as
 * `account_id`, every message the account sends echoed back (always, not
 * only with a subscription), and 1,000 bytes of UTF-8 a message, so each
 * outbox row is cut again by bytes here (instagram_split).
 *
 *   - { type: instagram, account_id: "17841400000000001", token_env: IG_TOKEN,
 *       app_secret_env: META_APP_SECRET, verify_token_env: META_VERIFY_TOKEN,
 *       listen: 127.0.0.1:8084 }
 */
#ifndef FD_INSTAGRAM_H
#define FD_INSTAGRAM_H

#include <stddef.h>

#define INSTAGRAM_MAX_BYTES 1000 /* bytes of UTF-8 of one Instagram text */

/*
 * Cut text into parts of at most max_bytes bytes of UTF-8 each, at white
 * space where it can, else at a grapheme-cluster boundary, never inside a
 * character; a cluster wider than max_bytes is cut at a code point.
 * parts[i] malloc'd.  Returns the count (0 for empty text); at most
 * max_parts, the last ending with "…" when text had to be dropped.
 */
size_t instagram_split(const char *text, size_t max_bytes, char **parts, size_t max_parts);

#endif
