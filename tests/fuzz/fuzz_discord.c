/*
 * fuzz_discord.c - what the Discord gateway and REST API send (or anything
 * pretending to be them): gateway frames, message objects, catch-up pages,
 * the rate-limit headers and bodies of answers; and what the connector
 * builds from text (reply parts, nonces, gateway URLs).  The first input
 * byte picks the entry point.  Invariants: parsed ids are valid
 * snowflakes, pages come oldest first, reply parts stay within 2,000
 * characters, nonces within 25, a wait learnt never lies in the past.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/discord/discord.h"
#include "connectors/discord/discord_limits.h"
#include "connectors/discord/discord_wire.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const struct discord_message *m)
{
	if (!discord_id_ok(m->id) || !discord_id_ok(m->channel_id) || !discord_id_ok(m->author_id) ||
	    (m->guild_id[0] && !discord_id_ok(m->guild_id)) ||
	    (m->reply_to[0] && !discord_id_ok(m->reply_to)) || !m->text || !m->content ||
	    strlen(m->text) > 8192)
		abort();
	char key[64], ch[DISCORD_MAX_ID + 1], root[DISCORD_MAX_ID + 1];
	discord_thread_key(DISCORD_CONV_MESSAGE, m->channel_id, m->id, key, sizeof(key));
	if (discord_thread_parse(key, ch, root) != DISCORD_CONV_MESSAGE || strcmp(ch, m->channel_id) != 0 ||
	    strcmp(root, m->id) != 0)
		abort();
}

/* The input as the headers and body of an answer: "remaining\nreset_after\nbucket\nscope\nbody". */
static void limits(const char *z)
{
	char *copy = strdup(z);
	char *f[5] = {NULL};
	char *p = copy;
	for (int i = 0; i < 5 && p; i++) {
		f[i] = p;
		p = i < 4 ? strchr(p, '\n') : NULL;
		if (p)
			*p++ = '\0';
	}
	struct http_response r;
	memset(&r, 0, sizeof(r));
	r.status = f[4] ? 429 : 200;
	r.ratelimit_remaining = f[0];
	r.ratelimit_reset_after = f[1];
	r.ratelimit_bucket = f[2];
	r.ratelimit_scope = f[3];
	r.retry_after = f[1];
	r.body = f[4] ? f[4] : "";
	r.body_len = strlen(r.body);
	const int64_t now = 1800000000000LL;
	struct discord_limits *l = discord_limits_new(now - 5000);
	struct discord_limit_news news;
	const char *route = "POST /channels/1/messages";
	discord_limits_learn(l, route, &r, now, 1000, &news);
	if (news.until_ms && news.until_ms <= now)
		abort();
	enum discord_hold h;
	if (discord_limits_until(l, route, now, &h) < now)
		abort();
	char *saved = discord_limits_save(l, now);
	discord_limits_load(l, saved, now);
	discord_limits_load(l, z, now);
	free(saved);
	discord_limits_free(l);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	size_t n = size - 1;
	char *z = malloc(n + 1);
	if (!z)
		return 0;
	memcpy(z, data + 1, n);
	z[n] = '\0';
	char err[256];

	switch (data[0] % 6) {
	case 0: {
		struct discord_frame f;
		if (discord_parse_frame(z, n, "1000000000000000001", &f, err, sizeof(err)) == 0) {
			if (f.has_message)
				check_message(&f.message);
			for (size_t i = 0; i < f.nchannels; i++)
				if (!discord_id_ok(f.channels[i].id))
					abort();
			if (f.op == DISCORD_OP_HELLO && f.heartbeat_ms <= 0)
				abort();
		}
		discord_frame_free(&f);
		break;
	}
	case 1: {
		struct discord_message *items = NULL;
		size_t k = 0, bad = 0;
		if (discord_parse_page(z, n, "1000000000000000001", &items, &k, &bad, err, sizeof(err)) >=
		    0) {
			for (size_t i = 0; i < k; i++) {
				check_message(&items[i]);
				if (i && discord_id_cmp(items[i - 1].id, items[i].id) > 0)
					abort(); /* oldest first */
				discord_message_free(&items[i]);
			}
			free(items);
		}
		break;
	}
	case 2: {
		char *parts[DISCORD_MAX_PARTS];
		size_t k = discord_build_parts(z, parts, DISCORD_MAX_PARTS);
		for (size_t i = 0; i < k; i++) {
			if (discord_chars(parts[i]) > DISCORD_MAX_CHARS)
				abort();
			char *body = discord_reply_json(parts[i], "123", "fd0123456789abcdef");
			free(body);
			free(parts[i]);
		}
		break;
	}
	case 3: {
		char nonce[DISCORD_NONCE_MAX + 1], url[512];
		discord_nonce(z, n % 20, nonce);
		if (strlen(nonce) > DISCORD_NONCE_MAX)
			abort();
		if (discord_gateway_url(z, url, sizeof(url)) == 0 && strncmp(url, "ws", 2) != 0)
			abort();
		break;
	}
	case 4: limits(z); break;
	default: {
		char route[DISCORD_ROUTE_MAX];
		discord_route("POST", z, route, sizeof(route));
		if (strncmp(route, "POST ", 5) != 0)
			abort();
		break;
	}
	}
	free(z);
	return 0;
}
