/*
 * discord_limits.h - Discord's REST rate limits as the connector keeps them
 * (PLATFORMS.md, Discord, "Rate limits"):
 *
 *   - per-route buckets: every answer names its bucket (X-RateLimit-Bucket,
 *     a hash several routes may share), how many requests it has left
 *     (-Remaining) and when it refills (-Reset-After, seconds; -Reset, epoch
 *     seconds); a bucket is per major parameter, so one channel's messages
 *     never hold another's;
 *   - the global limit: 50 requests a second per bot, kept below by our own
 *     pacer (one request every DISCORD_SPACING_MS), and a 429 with
 *     "global": true (or X-RateLimit-Global / -Scope: global) holds every
 *     request until its retry_after;
 *   - a 429 on a route holds that route until the time it names (the one
 *     rate-limit reader, http_retry_at_ms, reads Retry-After, the body's
 *     retry_after and the reset headers).
 *
 * The connector sends one request per route at a time and asks
 * discord_limits_until before each; the waits still ahead can be saved as
 * a small JSON text and loaded after a restart, so a restart does not
 * spend a request (and a 429) to learn them again.
 *
 * Pure state: times are passed in (epoch ms).  Errors: none; a table that
 * is full forgets the bucket that refilled first.  Ownership: the caller
 * owns the struct (discord_limits_free) and strings returned as malloc'd.
 */
#ifndef FD_DISCORD_LIMITS_H
#define FD_DISCORD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

struct http_response;
struct discord_limits;

/* Our pace: a request every 21 ms at most, 47 a second, below Discord's 50
 * with room for jitter. */
#define DISCORD_SPACING_MS   21
#define DISCORD_ROUTE_MAX    96  /* bytes of a route key */
#define DISCORD_LIMITS_MAX   512 /* buckets remembered */
#define DISCORD_LIMITS_SAVED 40  /* route waits saved (the rest are learnt again) */

/* A table for a process starting at now_ms: its first request waits a
 * second, so that with the last second of the process before it (a
 * restart) the bot stays within the global limit. */
struct discord_limits *discord_limits_new(int64_t now_ms);
void discord_limits_free(struct discord_limits *l);

/*
 * The route of a request as Discord buckets it: the method and the path
 * with its major parameter (the channel, guild or webhook id) kept and any
 * other id written {id}: "POST /channels/123/messages",
 * "GET /channels/123/messages", "POST /users/@me/channels".  The query is
 * not part of it.  Into out (n bytes).
 */
void discord_route(const char *method, const char *path, char *out, size_t n);

/* What holds a request back (discord_limits_until). */
enum discord_hold {
	DISCORD_HOLD_NONE = 0, /* nothing, or only our own pacer (a wait of under a second) */
	DISCORD_HOLD_ROUTE,    /* the route's bucket is empty, or a 429 on it */
	DISCORD_HOLD_GLOBAL    /* a global 429 */
};

/* When a request on `route` may go (epoch ms), now_ms when it may go now:
 * the latest of the global hold, the route's bucket when it is empty, and
 * the pacer (DISCORD_SPACING_MS after the previous request).
 * *hold (may be NULL) says which rate limit, if any, sets the time. */
int64_t discord_limits_until(const struct discord_limits *l, const char *route, int64_t now_ms,
                             enum discord_hold *hold);

/* A request on route goes out now: the pacer counts it, and a bucket known
 * to have requests left has one less until its answer comes. */
void discord_limits_sent(struct discord_limits *l, const char *route, int64_t now_ms);

/* What an answer taught. */
struct discord_limit_news {
	int limited;      /* it was a 429 */
	int global;       /* ... for the whole bot */
	int64_t until_ms; /* the route (or, global, every route) waits until then; 0 = no wait */
	char scope[16];   /* X-RateLimit-Scope of a 429: "user", "shared", "global", "" */
};

/*
 * Learn from the answer to a request on route (any status; transport errors
 * teach nothing).  A 429 that names no time waits `fallback_ms`.  Fills
 * news (may be NULL).  Returns 1 when the limits changed in a way worth
 * saving (a wait began), else 0.
 */
int discord_limits_learn(struct discord_limits *l, const char *route, const struct http_response *r,
                         int64_t now_ms, int64_t fallback_ms, struct discord_limit_news *news);

/*
 * The waits still ahead at now_ms as JSON ({"global":ms,"routes":{"route":ms}}),
 * malloc'd, or NULL when there is none.  load merges such a text back (an
 * unreadable one is ignored); waits already past are dropped.
 */
char *discord_limits_save(const struct discord_limits *l, int64_t now_ms);
void discord_limits_load(struct discord_limits *l, const char *json, int64_t now_ms);

#endif
