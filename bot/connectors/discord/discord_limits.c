/*
 * discord_limits.c - Discord's per-route buckets, the global limit and our
 * own pacer (see discord_limits.h).
 *
 * A small table: route -> bucket hash (when Discord named one), and
 * bucket key ("hash:major" or the route itself until a hash is known) ->
 * requests left and the time it refills.  Linear search: a small business's
 * bot talks to a few dozen routes.
 */
#include "connectors/discord/discord_limits.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "util.h"

struct route_map {
	char route[DISCORD_ROUTE_MAX];
	char hash[64];
	int64_t used_ms;
};

struct bucket {
	char key[DISCORD_ROUTE_MAX + 64];
	long remaining; /* -1 unknown */
	int64_t reset_ms;
	int64_t used_ms;
};

struct discord_limits {
	struct route_map routes[DISCORD_LIMITS_MAX];
	size_t nroutes;
	struct bucket buckets[DISCORD_LIMITS_MAX];
	size_t nbuckets;
	int64_t global_until;
	int64_t last_sent; /* the pacer: the previous request went then */
};

struct discord_limits *discord_limits_new(int64_t now_ms)
{
	struct discord_limits *l = xcalloc(1, sizeof(*l));
	l->last_sent = now_ms + 1000 - DISCORD_SPACING_MS;
	return l;
}

void discord_limits_free(struct discord_limits *l)
{
	free(l);
}

static int is_id(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

void discord_route(const char *method, const char *path, char *out, size_t n)
{
	struct buf b;
	const char *p = path ? path : "";
	const char *q = strchr(p, '?');
	const char *end = q ? q : p + strlen(p);
	const char *api = strstr(p, "/api/v");
	int major = 0;

	/* Routes are counted from after the version prefix. */
	if (api && api < end) {
		p = api + 6;
		while (p < end && *p != '/')
			p++;
	}
	buf_init(&b, 0);
	buf_printf(&b, "%s ", method ? method : "GET");
	for (int seg = 0; p < end; seg++) {
		while (p < end && *p == '/')
			p++;
		if (p >= end)
			break;
		const char *s = p;
		while (p < end && *p != '/')
			p++;
		size_t sl = (size_t)(p - s);
		buf_putc(&b, '/');
		/* The major parameter (the id right after channels, guilds or
		 * webhooks) stays; every other id is {id}. */
		if (is_id(s, sl) && !(seg == 1 && major))
			buf_puts(&b, "{id}");
		else
			buf_append(&b, s, sl);
		if (seg == 0)
			major = (sl == 8 && !strncmp(s, "channels", 8)) ||
			        (sl == 6 && !strncmp(s, "guilds", 6)) ||
			        (sl == 8 && !strncmp(s, "webhooks", 8));
	}
	snprintf(out, n, "%s", b.p ? b.p : "");
	buf_free(&b);
}

/* The major parameter of a route ("123" of "POST /channels/123/messages"). */
static void route_major(const char *route, char *out, size_t n)
{
	const char *sl = strchr(route, '/');
	const char *m = sl ? strchr(sl + 1, '/') : NULL;
	size_t k = 0;
	out[0] = '\0';
	if (!m)
		return;
	m++;
	while (m[k] && m[k] != '/' && k + 1 < n) {
		out[k] = m[k];
		k++;
	}
	out[k] = '\0';
	if (!is_id(out, k))
		out[0] = '\0';
}

static struct route_map *route_find(const struct discord_limits *l, const char *route)
{
	for (size_t i = 0; i < l->nroutes; i++)
		if (strcmp(l->routes[i].route, route) == 0)
			return (struct route_map *)&l->routes[i];
	return NULL;
}

/* The key of the bucket a route's requests count against. */
static void bucket_key(const struct discord_limits *l, const char *route, char *out, size_t n)
{
	const struct route_map *m = route_find(l, route);
	if (m && m->hash[0]) {
		char major[32];
		route_major(route, major, sizeof(major));
		snprintf(out, n, "%s:%s", m->hash, major);
	} else {
		snprintf(out, n, "%s", route);
	}
}

static struct bucket *bucket_find(const struct discord_limits *l, const char *key)
{
	for (size_t i = 0; i < l->nbuckets; i++)
		if (strcmp(l->buckets[i].key, key) == 0)
			return (struct bucket *)&l->buckets[i];
	return NULL;
}

static struct bucket *bucket_get(struct discord_limits *l, const char *key, int64_t now_ms)
{
	struct bucket *b = bucket_find(l, key);
	if (b)
		return b;
	if (l->nbuckets < DISCORD_LIMITS_MAX) {
		b = &l->buckets[l->nbuckets++];
	} else {
		/* Full: forget the one used longest ago. */
		b = &l->buckets[0];
		for (size_t i = 1; i < l->nbuckets; i++)
			if (l->buckets[i].used_ms < b->used_ms)
				b = &l->buckets[i];
	}
	memset(b, 0, sizeof(*b));
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->remaining = -1;
	b->used_ms = now_ms;
	return b;
}

int64_t discord_limits_until(const struct discord_limits *l, const char *route, int64_t now_ms,
                             enum discord_hold *hold)
{
	char key[DISCORD_ROUTE_MAX + 64];
	int64_t until = now_ms;
	enum discord_hold h = DISCORD_HOLD_NONE;
	if (l->global_until > until) {
		until = l->global_until;
		h = DISCORD_HOLD_GLOBAL;
	}
	bucket_key(l, route, key, sizeof(key));
	const struct bucket *b = bucket_find(l, key);
	/* A route keyed by itself until its hash was learnt: its wait counts too. */
	const struct bucket *rb = strcmp(key, route) ? bucket_find(l, route) : NULL;
	const struct bucket *each[2] = {b, rb};
	for (size_t i = 0; i < 2; i++)
		if (each[i] && each[i]->remaining == 0 && each[i]->reset_ms > until) {
			until = each[i]->reset_ms;
			h = DISCORD_HOLD_ROUTE;
		}
	/* The pacer. */
	if (l->last_sent + DISCORD_SPACING_MS > until)
		until = l->last_sent + DISCORD_SPACING_MS;
	if (hold)
		*hold = until > now_ms ? h : DISCORD_HOLD_NONE;
	return until;
}

void discord_limits_sent(struct discord_limits *l, const char *route, int64_t now_ms)
{
	char key[DISCORD_ROUTE_MAX + 64];
	if (now_ms > l->last_sent)
		l->last_sent = now_ms;
	bucket_key(l, route, key, sizeof(key));
	struct bucket *b = bucket_find(l, key);
	if (b) {
		b->used_ms = now_ms;
		if (b->remaining > 0)
			b->remaining--;
	}
}

/* The body of a 429 says "global": true. */
static int body_global(const struct http_response *r)
{
	if (!r->body || !r->body_len || r->body_len > 65536)
		return 0;
	json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
	int g = json_is_true(json_object_get(o, "global"));
	json_decref(o);
	return g;
}

int discord_limits_learn(struct discord_limits *l, const char *route, const struct http_response *r,
                         int64_t now_ms, int64_t fallback_ms, struct discord_limit_news *news)
{
	struct discord_limit_news nw;
	char key[DISCORD_ROUTE_MAX + 64];
	int changed = 0;

	memset(&nw, 0, sizeof(nw));
	if (r->error != HTTP_E_NONE || !r->status) {
		if (news)
			*news = nw;
		return 0;
	}
	nw.limited = r->status == 429;
	if (r->ratelimit_scope)
		snprintf(nw.scope, sizeof(nw.scope), "%.15s", r->ratelimit_scope);
	nw.global = nw.limited &&
	            ((r->ratelimit_global && strcasecmp(r->ratelimit_global, "true") == 0) ||
	             (r->ratelimit_scope && strcasecmp(r->ratelimit_scope, "global") == 0) || body_global(r));

	/* Which bucket this route counts against, from now on. */
	if (r->ratelimit_bucket && *r->ratelimit_bucket && strlen(r->ratelimit_bucket) < 64) {
		struct route_map *m = route_find(l, route);
		if (!m) {
			if (l->nroutes < DISCORD_LIMITS_MAX) {
				m = &l->routes[l->nroutes++];
			} else {
				m = &l->routes[0];
				for (size_t i = 1; i < l->nroutes; i++)
					if (l->routes[i].used_ms < m->used_ms)
						m = &l->routes[i];
			}
			memset(m, 0, sizeof(*m));
			snprintf(m->route, sizeof(m->route), "%s", route);
		}
		snprintf(m->hash, sizeof(m->hash), "%s", r->ratelimit_bucket);
		m->used_ms = now_ms;
	}

	int64_t until = http_retry_at_ms(r, now_ms);
	if (nw.limited && until <= now_ms)
		until = now_ms + (fallback_ms > 0 ? fallback_ms : 1000);
	if (nw.global) {
		if (until > l->global_until) {
			l->global_until = until;
			changed = 1;
		}
	} else {
		bucket_key(l, route, key, sizeof(key));
		struct bucket *b = bucket_get(l, key, now_ms);
		long rem = -1;
		if (r->ratelimit_remaining && parse_long(r->ratelimit_remaining, &rem) < 0)
			rem = -1;
		b->used_ms = now_ms;
		if (until > now_ms) {
			/* Empty until the reset (a 429, or Remaining: 0). */
			changed = b->remaining != 0 || b->reset_ms < until;
			b->remaining = 0;
			b->reset_ms = until;
		} else if (rem >= 0) {
			b->remaining = rem;
			b->reset_ms = 0;
		}
	}
	nw.until_ms = until > now_ms ? until : 0;
	if (news)
		*news = nw;
	return changed;
}

char *discord_limits_save(const struct discord_limits *l, int64_t now_ms)
{
	json_t *routes = json_object();
	int any = 0;
	for (size_t i = 0; i < l->nbuckets && json_object_size(routes) < DISCORD_LIMITS_SAVED; i++) {
		const struct bucket *b = &l->buckets[i];
		if (b->remaining != 0 || b->reset_ms <= now_ms)
			continue;
		/* Saved under every route that counts against it (a hash means
		 * nothing to the next process until it is learnt again). */
		int named = 0;
		for (size_t k = 0; k < l->nroutes; k++) {
			char key[DISCORD_ROUTE_MAX + 64];
			bucket_key(l, l->routes[k].route, key, sizeof(key));
			if (strcmp(key, b->key) == 0) {
				json_object_set_new(routes, l->routes[k].route, json_integer(b->reset_ms));
				named = 1;
			}
		}
		if (!named && strchr(b->key, ' '))
			json_object_set_new(routes, b->key, json_integer(b->reset_ms));
		any = 1;
	}
	if (l->global_until > now_ms)
		any = 1;
	if (!any) {
		json_decref(routes);
		return NULL;
	}
	json_t *o = json_pack("{s:I, s:o}", "global",
	                      (json_int_t)(l->global_until > now_ms ? l->global_until : 0), "routes", routes);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return s;
}

void discord_limits_load(struct discord_limits *l, const char *text, int64_t now_ms)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	json_t *g = json_object_get(o, "global");
	if (json_is_integer(g) && json_integer_value(g) > now_ms && json_integer_value(g) > l->global_until)
		l->global_until = json_integer_value(g);
	const char *route;
	json_t *v;
	json_object_foreach(json_object_get(o, "routes"), route, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) <= now_ms ||
		    strlen(route) >= DISCORD_ROUTE_MAX)
			continue;
		struct bucket *b = bucket_get(l, route, now_ms);
		b->remaining = 0;
		if (json_integer_value(v) > b->reset_ms)
			b->reset_ms = json_integer_value(v);
	}
	json_decref(o);
}
