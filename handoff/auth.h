/*
 * auth.h - who may use the agent dashboard: password verification against
 * the configured crypt(3) hashes, login sessions, CSRF tokens and the login
 * rate limit (docs/architecture.md, "Rules that hold everywhere").
 *
 * Sessions live in memory only.  A session token never touches the disk, so
 * a copy of the database or of a backup grants nothing; the price is that a
 * restart logs every agent out, which a small team barely notices.  A token
 * is 32 bytes from getrandom(2), hex-encoded; each session has its own CSRF
 * token of the same strength.  A session ends after AUTH_SESSION_IDLE
 * seconds without a request, AUTH_SESSION_MAX seconds after login, at
 * logout, or when its agent disappears from the configuration (or gets a new
 * password hash) on reload.
 *
 * Rate limit: failed logins are counted per client address and per login
 * name, but only addresses are ever locked out, so failing with an agent's
 * name from one address never keeps the agent (with the right password,
 * from another address) out.  An address's first AUTH_FREE_FAILURES
 * failures cost nothing; every further one doubles its lock-out (1 s, 2 s,
 * 4 s ... AUTH_MAX_LOCK s) during which auth_rate_check() refuses it.  A
 * login that has failed more than AUTH_FREE_FAILURES times in all (guessed
 * at from many addresses) locks every address that fails with it at once,
 * for as long as the login's own count earns; addresses that have not
 * failed may still try.  A success clears the login's and the address's
 * record.  The table is bounded (the least recently touched record makes
 * room).
 *
 * Time is passed in by the caller (wall-clock seconds), so tests can move it.
 *
 * Ownership: struct auth owns copies of the agents and every session.  A
 * struct auth_session pointer is borrowed and valid until the next call that
 * may end or create sessions (auth_session_new, auth_session_end,
 * auth_set_agents, auth_free), so callers copy what they keep.  Not thread-safe,
 * except auth_verify_password, which touches no shared state.
 */
#ifndef FD_AUTH_H
#define FD_AUTH_H

#include <stddef.h>
#include <time.h>

#define AUTH_TOKEN_BYTES   32
#define AUTH_TOKEN_HEX     (2 * AUTH_TOKEN_BYTES)
#define AUTH_MAX_LOGIN     64 /* a longer login name is refused */
#define AUTH_MAX_NAME      128
#define AUTH_MAX_PASSWORD  512              /* crypt(3)'s CRYPT_MAX_PASSPHRASE_SIZE, with the NUL */
#define AUTH_MAX_SESSIONS  256              /* the least recently used one is dropped beyond */
#define AUTH_SESSION_IDLE  (12L * 3600)     /* seconds without a request */
#define AUTH_SESSION_MAX   (7L * 24 * 3600) /* seconds after login */
#define AUTH_FREE_FAILURES 3
#define AUTH_MAX_LOCK      900L /* seconds */
#define AUTH_RATE_ENTRIES  1024
#define AUTH_COOKIE        "fd_session"

/* One agent as configured (borrowed by auth_set_agents, which copies). */
struct auth_agent {
	const char *login;
	const char *name;          /* display name; the login when NULL */
	const char *password_hash; /* anything crypt(3) verifies: $y$, $6$, $2b$ */
	int admin;                 /* may manage the team (team.h) */
};

struct auth_session {
	char token[AUTH_TOKEN_HEX + 1];
	char csrf[AUTH_TOKEN_HEX + 1];
	char login[AUTH_MAX_LOGIN + 1];
	char name[AUTH_MAX_NAME + 1];
	int admin; /* the agent's role, kept up to date by auth_set_agents */
	time_t created;
	time_t last_seen;
};

struct auth;

struct auth *auth_new(void);
void auth_free(struct auth *a);

/*
 * Replace the agent list (copied).  Sessions of agents that are gone, or
 * whose password hash changed, end; the others keep going and pick up a new
 * display name and role.
 */
void auth_set_agents(struct auth *a, const struct auth_agent *agents, size_t n);

/*
 * The configured password hash and display name of `login`, or NULL when
 * there is no such agent.  Borrowed until the next auth_set_agents.
 */
const char *auth_agent_hash(const struct auth *a, const char *login, const char **name);

/*
 * A hash in the default (yescrypt) format of a password nobody knows.
 * Verifying against it costs what verifying a real agent's password costs, so
 * an unknown login answers no faster than a known one.
 */
const char *auth_dummy_hash(void);

/*
 * Does `password` match `hash`?  1 yes, 0 no, -1 when the hash is not one
 * crypt(3) understands.  Slow on purpose (yescrypt: tens of milliseconds) and
 * thread-safe: the dashboard runs it on libuv's thread pool.
 */
int auth_verify_password(const char *password, const char *hash);

/*
 * A new yescrypt hash of `password` (a fresh salt) into out: 0, or -1 (no
 * randomness, password too long, out too small).  Slow and thread-safe,
 * as auth_verify_password; `frontdesk passwd` and the dashboard's password
 * change share it.
 */
#define AUTH_MIN_PASSWORD 10 /* characters a new password needs at least */
#define AUTH_HASH_MAX     256
int auth_hash_password(const char *password, char *out, size_t n);
/* Characters (not bytes) of a password: "café" is four. */
size_t auth_password_chars(const char *password);

/*
 * Seconds `peer` (may be NULL) must still wait before its next login
 * attempt, 0 when it may try now.  `login` never locks anyone out by
 * itself; it is passed for symmetry with auth_rate_fail.
 */
long auth_rate_check(struct auth *a, const char *peer, const char *login, time_t now);
/* Record a failed attempt; returns the lock-out it caused the address
 * (0 = none). */
long auth_rate_fail(struct auth *a, const char *peer, const char *login, time_t now);
/* A successful login: forget the failures of both. */
void auth_rate_success(struct auth *a, const char *peer, const char *login);

/*
 * A new session for a configured agent.  NULL when the login is not an agent
 * or the system has no randomness (logged).  The oldest-used session is
 * dropped when AUTH_MAX_SESSIONS are open.
 */
const struct auth_session *auth_session_new(struct auth *a, const char *login, time_t now);

/*
 * The live session with this token, or NULL (unknown, expired: an expired
 * one is ended here).  A hit counts as activity (last_seen = now).  The
 * token is compared in constant time.
 */
const struct auth_session *auth_session_find(struct auth *a, const char *token, time_t now);

/* The same without counting as activity (is a live connection's session
 * still valid?).  An expired session is ended here too. */
const struct auth_session *auth_session_peek(struct auth *a, const char *token, time_t now);

/* auth_session_find, taking the token from a Cookie header
 * ("a=b; fd_session=..."). */
const struct auth_session *auth_session_from_cookie(struct auth *a, const char *cookie, time_t now);

/* End the session with this token (logout).  Unknown tokens are ignored. */
void auth_session_end(struct auth *a, const char *token);

/* Sessions currently open (expired ones are not counted). */
size_t auth_session_count(struct auth *a, time_t now);

/*
 * 1 when `given` (an X-CSRF-Token header, may be NULL) equals the session's
 * CSRF token; compared in constant time, so the answer time says nothing
 * about how much of a guess was right.
 */
int auth_csrf_ok(const struct auth_session *s, const char *given);

/* Constant-time comparison of two NUL-terminated strings: 1 equal, 0 not.
 * Its time depends on the lengths only. */
int auth_ct_equal(const char *a, const char *b);

/*
 * The Set-Cookie value for a session token (token NULL: one that deletes the
 * cookie).  HttpOnly, SameSite=Strict, Path=/; `secure` adds Secure (the
 * dashboard behind TLS).  Returns the length written, or -1 if out is small.
 */
int auth_cookie(char *out, size_t n, const char *token, int secure);

#endif
