/*
 * auth.c - dashboard login: crypt(3) verification, in-memory sessions with
 * CSRF tokens, and the failed-login rate limit.  See auth.h.
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rand.h"
#include "util.h"

/* yescrypt hash (default cost) of a random password that was thrown away. */
static const char dummy_hash[] = "$y$j9T$fCOJG0/v7N7k2PsFyhkaX0$O5ixQkgNR1.iT74/GWAWlOAR9bBp0zCJrnKeVHM/Aa2";

#define RATE_FORGET  (24L * 3600) /* failures older than this are forgotten */
#define RATE_KEY_MAX (AUTH_MAX_LOGIN + 64)

struct agent {
	char *login;
	char *name;
	char *hash;
	int admin;
};

struct rate {
	char key[RATE_KEY_MAX]; /* "a:<address>" or "l:<login>"; "" = free slot */
	int failures;
	time_t locked_until;
	time_t last;
};

struct auth {
	struct agent *agents;
	size_t n_agents;
	struct auth_session sessions[AUTH_MAX_SESSIONS];
	size_t n_sessions;
	struct rate rates[AUTH_RATE_ENTRIES];
};

struct auth *auth_new(void)
{
	return xcalloc(1, sizeof(struct auth));
}

static void agents_free(struct auth *a)
{
	for (size_t i = 0; i < a->n_agents; i++) {
		free(a->agents[i].login);
		free(a->agents[i].name);
		free(a->agents[i].hash);
	}
	free(a->agents);
	a->agents = NULL;
	a->n_agents = 0;
}

/* Wipe a session slot: tokens are secrets and must not linger in memory. */
static void session_drop(struct auth *a, size_t i)
{
	explicit_bzero(&a->sessions[i], sizeof(a->sessions[i]));
	if (i != a->n_sessions - 1)
		a->sessions[i] = a->sessions[a->n_sessions - 1];
	explicit_bzero(&a->sessions[a->n_sessions - 1], sizeof(a->sessions[0]));
	a->n_sessions--;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	agents_free(a);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

static const struct agent *agent_find(const struct auth *a, const char *login)
{
	if (!login)
		return NULL;
	for (size_t i = 0; i < a->n_agents; i++)
		if (strcmp(a->agents[i].login, login) == 0)
			return &a->agents[i];
	return NULL;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

void auth_set_agents(struct auth *a, const struct auth_agent *agents, size_t n)
{
	struct agent *old = a->agents;
	size_t n_old = a->n_agents;

	a->agents = n ? xcalloc(n, sizeof(*a->agents)) : NULL;
	a->n_agents = 0;
	for (size_t i = 0; i < n; i++) {
		if (!agents[i].login || !agents[i].password_hash || strlen(agents[i].login) > AUTH_MAX_LOGIN)
			continue;
		struct agent *g = &a->agents[a->n_agents++];
		g->login = xstrdup(agents[i].login);
		g->name = xstrdup(agents[i].name && *agents[i].name ? agents[i].name : agents[i].login);
		g->hash = xstrdup(agents[i].password_hash);
		g->admin = agents[i].admin;
	}

	/* A session survives only if its agent is still there with the same
	 * password hash: changing a hash is how an owner locks someone out. */
	for (size_t i = 0; i < a->n_sessions;) {
		struct auth_session *s = &a->sessions[i];
		const struct agent *now = agent_find(a, s->login);
		const char *was = NULL;
		for (size_t j = 0; j < n_old; j++)
			if (strcmp(old[j].login, s->login) == 0)
				was = old[j].hash;
		if (!now || !was || strcmp(now->hash, was) != 0) {
			session_drop(a, i);
			continue;
		}
		copy_str(s->name, sizeof(s->name), now->name);
		s->admin = now->admin;
		i++;
	}
	for (size_t j = 0; j < n_old; j++) {
		free(old[j].login);
		free(old[j].name);
		free(old[j].hash);
	}
	free(old);
}

const char *auth_agent_hash(const struct auth *a, const char *login, const char **name)
{
	const struct agent *g = agent_find(a, login);
	if (name)
		*name = g ? g->name : NULL;
	return g ? g->hash : NULL;
}

const char *auth_dummy_hash(void)
{
	return dummy_hash;
}

int auth_ct_equal(const char *x, const char *y)
{
	size_t nx = strlen(x), ny = strlen(y);
	unsigned char diff = nx != ny;
	/* Walk the longer string completely; the shorter one is read cyclically
	 * so no early exit betrays where the first difference is. */
	size_t n = nx > ny ? nx : ny;
	for (size_t i = 0; i < n; i++) {
		unsigned char cx = nx ? (unsigned char)x[i % nx] : 0;
		unsigned char cy = ny ? (unsigned char)y[i % ny] : 0;
		diff |= cx ^ cy;
	}
	return diff == 0;
}

int auth_verify_password(const char *password, const char *hash)
{
	if (!password || !hash || !*hash || strlen(password) >= AUTH_MAX_PASSWORD)
		return hash && *hash ? 0 : -1;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	int rc;
	if (!out || out[0] == '*')
		rc = -1;
	else
		rc = auth_ct_equal(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int auth_hash_password(const char *password, char *out, size_t n)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!password || strlen(password) >= AUTH_MAX_PASSWORD)
		return -1;
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return -1;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_rn(password, salt, cd, (int)sizeof(*cd));
	int rc = -1;
	if (h && h[0] != '*' && strlen(h) < n) {
		snprintf(out, n, "%s", h);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

size_t auth_password_chars(const char *password)
{
	size_t chars = 0;
	for (const char *p = password ? password : ""; *p; p++)
		if (((unsigned char)*p & 0xC0) != 0x80)
			chars++;
	return chars;
}

/* --- rate limit ----------------------------------------------------------- */

static void rate_key(char *out, size_t n, char kind, const char *v)
{
	snprintf(out, n, "%c:%.*s", kind, AUTH_MAX_LOGIN + 48, v);
}

/* The record for key, or NULL; with `create`, a fresh one replacing the
 * least recently touched record when the table is full. */
static struct rate *rate_get(struct auth *a, const char *key, time_t now, int create)
{
	struct rate *free_slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < AUTH_RATE_ENTRIES; i++) {
		struct rate *r = &a->rates[i];
		if (!r->key[0]) {
			if (!free_slot)
				free_slot = r;
			continue;
		}
		if (strcmp(r->key, key) == 0) {
			if (now - r->last > RATE_FORGET && now >= r->locked_until) {
				r->failures = 0;
				r->locked_until = 0;
			}
			return r;
		}
		if (!oldest || r->last < oldest->last)
			oldest = r;
	}
	if (!create)
		return NULL;
	struct rate *r = free_slot ? free_slot : oldest;
	memset(r, 0, sizeof(*r));
	copy_str(r->key, sizeof(r->key), key);
	r->last = now;
	return r;
}

static long rate_wait(struct auth *a, char kind, const char *v, time_t now)
{
	char key[RATE_KEY_MAX];
	if (!v)
		return 0;
	rate_key(key, sizeof(key), kind, v);
	struct rate *r = rate_get(a, key, now, 0);
	return r && r->locked_until > now ? (long)(r->locked_until - now) : 0;
}

/* Only an address is ever locked out: a login is not, so nobody can lock
 * the real agent out by failing with their name (see auth.h). */
long auth_rate_check(struct auth *a, const char *peer, const char *login, time_t now)
{
	(void)login;
	return rate_wait(a, 'a', peer, now);
}

/* The lock-out a record's failures earn: nothing for the first
 * AUTH_FREE_FAILURES, then 1 s doubling up to AUTH_MAX_LOCK. */
static long lock_for(int failures)
{
	if (failures <= AUTH_FREE_FAILURES)
		return 0;
	int shift = failures - AUTH_FREE_FAILURES - 1;
	long lock = shift >= 10 ? AUTH_MAX_LOCK : 1L << shift;
	return lock > AUTH_MAX_LOCK ? AUTH_MAX_LOCK : lock;
}

static struct rate *rate_count(struct auth *a, char kind, const char *v, time_t now)
{
	char key[RATE_KEY_MAX];
	if (!v)
		return NULL;
	rate_key(key, sizeof(key), kind, v);
	struct rate *r = rate_get(a, key, now, 1);
	if (r->failures < 1000)
		r->failures++;
	r->last = now;
	return r;
}

long auth_rate_fail(struct auth *a, const char *peer, const char *login, time_t now)
{
	struct rate *ra = rate_count(a, 'a', peer, now);
	struct rate *rl = rate_count(a, 'l', login, now);
	long lock = ra ? lock_for(ra->failures) : 0;
	/* A login guessed at from many addresses: each address that fails
	 * with it is locked at once, for as long as the login's failures
	 * earn; an address that has not failed may still try. */
	long llock = rl ? lock_for(rl->failures) : 0;
	if (llock > lock)
		lock = llock;
	if (ra && lock > 0 && now + lock > ra->locked_until)
		ra->locked_until = now + lock;
	return ra ? lock : 0;
}

static void rate_clear(struct auth *a, char kind, const char *v)
{
	char key[RATE_KEY_MAX];
	if (!v)
		return;
	rate_key(key, sizeof(key), kind, v);
	for (size_t i = 0; i < AUTH_RATE_ENTRIES; i++)
		if (strcmp(a->rates[i].key, key) == 0)
			memset(&a->rates[i], 0, sizeof(a->rates[i]));
}

void auth_rate_success(struct auth *a, const char *peer, const char *login)
{
	rate_clear(a, 'a', peer);
	rate_clear(a, 'l', login);
}

/* --- sessions ------------------------------------------------------------- */

/* n random bytes as 2n hex digits into out (2n + 1 bytes).  0 or -1. */
static int random_hex(char *out, size_t nbytes)
{
	unsigned char raw[AUTH_TOKEN_BYTES];
	static const char hex[] = "0123456789abcdef";

	if (nbytes > sizeof(raw))
		return -1;
	if (rand_bytes(raw, nbytes) < 0) {
		log_error("no randomness for a session token", "error=\"%s\"", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = 0;
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

static int session_expired(const struct auth_session *s, time_t now)
{
	return now - s->last_seen >= AUTH_SESSION_IDLE || now - s->created >= AUTH_SESSION_MAX;
}

const struct auth_session *auth_session_new(struct auth *a, const char *login, time_t now)
{
	const struct agent *g = agent_find(a, login);
	struct auth_session s = {0};

	if (!g)
		return NULL;
	if (random_hex(s.token, AUTH_TOKEN_BYTES) < 0 || random_hex(s.csrf, AUTH_TOKEN_BYTES) < 0)
		return NULL;
	copy_str(s.login, sizeof(s.login), g->login);
	copy_str(s.name, sizeof(s.name), g->name);
	s.admin = g->admin;
	s.created = now;
	s.last_seen = now;

	for (size_t i = 0; i < a->n_sessions;) {
		if (session_expired(&a->sessions[i], now))
			session_drop(a, i);
		else
			i++;
	}
	if (a->n_sessions == AUTH_MAX_SESSIONS) {
		size_t lru = 0;
		for (size_t i = 1; i < a->n_sessions; i++)
			if (a->sessions[i].last_seen < a->sessions[lru].last_seen)
				lru = i;
		session_drop(a, lru);
	}
	a->sessions[a->n_sessions] = s;
	explicit_bzero(&s, sizeof(s));
	return &a->sessions[a->n_sessions++];
}

static struct auth_session *session_lookup(struct auth *a, const char *token, time_t now)
{
	size_t hit = SIZE_MAX;

	if (!token || strlen(token) != AUTH_TOKEN_HEX)
		return NULL;
	/* Compare against every session, so the time taken does not depend on
	 * which (if any) matched. */
	for (size_t i = 0; i < a->n_sessions; i++)
		if (auth_ct_equal(a->sessions[i].token, token))
			hit = i;
	if (hit == SIZE_MAX)
		return NULL;
	if (session_expired(&a->sessions[hit], now)) {
		session_drop(a, hit);
		return NULL;
	}
	return &a->sessions[hit];
}

const struct auth_session *auth_session_find(struct auth *a, const char *token, time_t now)
{
	struct auth_session *s = session_lookup(a, token, now);
	if (s)
		s->last_seen = now;
	return s;
}

const struct auth_session *auth_session_peek(struct auth *a, const char *token, time_t now)
{
	return session_lookup(a, token, now);
}

const struct auth_session *auth_session_from_cookie(struct auth *a, const char *cookie, time_t now)
{
	const size_t nlen = strlen(AUTH_COOKIE);
	const char *p = cookie;

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == nlen + 1 + AUTH_TOKEN_HEX && strncmp(p, AUTH_COOKIE, nlen) == 0 &&
		    p[nlen] == '=') {
			char token[AUTH_TOKEN_HEX + 1];
			memcpy(token, p + nlen + 1, AUTH_TOKEN_HEX);
			token[AUTH_TOKEN_HEX] = 0;
			return auth_session_find(a, token, now);
		}
		p = end;
	}
	return NULL;
}

void auth_session_end(struct auth *a, const char *token)
{
	if (!token)
		return;
	for (size_t i = 0; i < a->n_sessions; i++) {
		if (auth_ct_equal(a->sessions[i].token, token)) {
			session_drop(a, i);
			return;
		}
	}
}

size_t auth_session_count(struct auth *a, time_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_sessions; i++)
		n += !session_expired(&a->sessions[i], now);
	return n;
}

int auth_csrf_ok(const struct auth_session *s, const char *given)
{
	if (!s || !given || !s->csrf[0])
		return 0;
	return auth_ct_equal(s->csrf, given);
}

int auth_cookie(char *out, size_t n, const char *token, int secure)
{
	int len;
	if (token)
		len = snprintf(out, n, "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s", AUTH_COOKIE,
		               token, AUTH_SESSION_MAX, secure ? "; Secure" : "");
	else
		len = snprintf(out, n, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", AUTH_COOKIE,
		               secure ? "; Secure" : "");
	return len < 0 || (size_t)len >= n ? -1 : len;
}
