/*
 * dashboard_team.c - the team's settings in the dashboard (team.h says
 * which part comes from config.yaml and which wins):
 *
 *   GET  /api/team                      agents, labels, canned replies
 *   POST /api/team/agents {login, name, role, password?}   admins: add or change a
 *                                       dashboard agent (password required to add)
 *   POST /api/team/agents/remove {login}
 *   POST /api/team/labels {name, color}     POST /api/team/labels/remove {name}
 *   POST /api/team/canned {title, text}     POST /api/team/canned/remove {title}
 *   POST /api/me/password {current, password}   anyone: their own password
 *
 * Writes are for admins (403 otherwise); what config.yaml defines answers
 * 409 ("defined in config.yaml").  A changed setting is stored, committed,
 * then the stored part of the team is read again and the agents go to
 * auth: sessions of a removed agent, or of one whose password changed,
 * end at once (the agent who changed their own password gets a new
 * session with the answer).
 *
 * Passwords are hashed and verified on libuv's thread pool (yescrypt is
 * slow on purpose); a wrong current password counts as a failed login for
 * the rate limit of auth.h.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "auth.h"
#include "config.h"
#include "dashboard_int.h"
#include "loop.h"
#include "replies.h"
#include "server.h"
#include "store.h"
#include "team.h"
#include "util.h"

#define PASSWORDS_IN_FLIGHT 4 /* hashes being made at once */

/* ---- reading ---------------------------------------------------------------- */

static const char *source_name(enum team_source s)
{
	return s == TEAM_CONFIG ? "config" : "dashboard";
}

void dashboard_team_json(struct dashboard *d, json_t *o, int admin)
{
	const struct team_agent *a;
	const struct team_label *l;
	size_t na = team_agents(d->team, &a), nl = team_labels(d->team, &l);
	json_t *agents = json_array(), *labels = json_array();
	for (size_t i = 0; i < na; i++) {
		json_t *e = json_pack("{s:o, s:o, s:s}", "login", dashboard_text(a[i].login), "name",
		                      dashboard_text(a[i].name), "role", a[i].admin ? "admin" : "agent");
		if (admin)
			json_object_set_new(e, "from", json_string(source_name(a[i].source)));
		json_array_append_new(agents, e);
	}
	for (size_t i = 0; i < nl; i++)
		json_array_append_new(labels, json_pack("{s:o, s:o, s:s}", "name", dashboard_text(l[i].name),
		                                        "color", dashboard_text(l[i].color), "from",
		                                        source_name(l[i].source)));
	json_object_set_new(o, "agents", agents);
	json_object_set_new(o, "labels", labels);
}

void dashboard_team_canned(struct dashboard *d, json_t *a, const struct reply_vars *v)
{
	const struct team_canned *c;
	size_t n = team_canned(d->team, &c);
	for (size_t i = 0; i < n; i++) {
		struct buf out;
		buf_init(&out, 2 * TEAM_MAX_CANNED);
		if (replies_render_string(c[i].text, v, &out, NULL, 0) == 0 && out.p)
			json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:s}", "key", "", "title",
			                                   dashboard_text(c[i].title), "text", out.p, "from",
			                                   "dashboard"));
		buf_free(&out);
	}
}

/* GET /api/team: the lists, and for each canned reply its template. */
static void team_get(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	json_t *o = json_object();
	dashboard_team_json(d, o, s->admin);
	const struct team_canned *c;
	size_t n = team_canned(d->team, &c);
	json_t *canned = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(canned, json_pack("{s:o, s:o}", "title", dashboard_text(c[i].title),
		                                        "text", dashboard_text(c[i].text)));
	/* The replies file's canned.* keys, which the dashboard only shows. */
	const struct replies *r = d->env.replies;
	json_t *fixed = json_array();
	for (size_t i = 0; r && i < replies_count(r); i++)
		if (!strncmp(replies_key(r, i), "canned.", 7))
			json_array_append_new(fixed, dashboard_text(replies_key(r, i)));
	json_object_set_new(o, "canned", canned);
	json_object_set_new(o, "canned_in_replies", fixed);
	json_object_set_new(o, "admin", json_boolean(s->admin));
	dashboard_respond(req, 200, o);
}

/* ---- writing ---------------------------------------------------------------- */

/* A change on its way: hashed (a password), stored, committed, the team
 * read again, answered. */
struct team_change {
	struct dashboard *d;
	struct server_req *req;
	char login[AUTH_MAX_LOGIN + 1]; /* who made it */
	char peer[64];
	int secure;
	/* A password change or a new agent: the work on the thread pool. */
	uv_work_t work;
	int own; /* the agent's own password: verify `current` first */
	char current[AUTH_MAX_PASSWORD];
	char password[AUTH_MAX_PASSWORD];
	char *old_hash; /* the hash `current` is verified against */
	int verified;   /* 1 yes, 0 wrong, -1 not a hash */
	char hash[AUTH_HASH_MAX];
	int hashed;
	/* What to store once hashed. */
	char *kind, *key, *name;
	int admin;
	struct team_change *prev, *next;
};

static void change_free(struct team_change *c)
{
	free(c->old_hash);
	free(c->kind);
	free(c->key);
	free(c->name);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static void unlink_change(struct dashboard *d, struct team_change *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		d->changes = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static size_t changes_in_flight(const struct dashboard *d)
{
	size_t n = 0;
	for (const struct team_change *c = d->changes; c; c = c->next)
		n++;
	return n;
}

/* The team as read again after the change: answer. */
static void team_reread(void *arg)
{
	struct team_change *c = arg;
	struct dashboard *d = c->d;
	json_t *o = json_object();
	if (c->own) {
		/* The agent's other sessions ended with the old password; this
		 * one goes on with a new session. */
		const struct auth_session *s = auth_session_new(d->auth, c->login, time(NULL));
		if (s) {
			char cookie[256];
			auth_cookie(cookie, sizeof(cookie), s->token, c->secure);
			server_req_add_header(c->req, "Set-Cookie", cookie);
			json_object_set_new(o, "csrf", json_string(s->csrf));
		}
		log_info("agent changed their password", "login=%s", c->login);
	}
	dashboard_respond(c->req, 200, o);
	change_free(c);
}

static void change_saved(void *arg, int rc)
{
	struct team_change *c = arg;
	if (rc < 0) {
		server_respond_error(c->req, 500, "the change could not be saved; try again");
		change_free(c);
		return;
	}
	dashboard_team_read_then(c->d, team_reread, c);
}

/* Store the change (c->kind, c->key, value; value NULL deletes) and commit. */
static void change_store(struct team_change *c, const char *value)
{
	struct dashboard *d = c->d;
	int rc = value ? store_team_put(d->env.store, c->kind, c->key, value, time(NULL))
	               : store_team_delete(d->env.store, c->kind, c->key);
	if (rc < 0) {
		server_respond_error(c->req, 500, "store error");
		change_free(c);
		return;
	}
	log_info("team settings changed", "kind=%s by=%s", c->kind, c->login);
	dashboard_commit(d, change_saved, c);
}

static struct team_change *change_new(struct dashboard *d, struct server_req *req,
                                      const struct auth_session *s, const char *kind, const char *key)
{
	struct team_change *c = xcalloc(1, sizeof(*c));
	const char *origin = server_req_header(req, "origin");
	c->d = d;
	c->req = req;
	snprintf(c->login, sizeof(c->login), "%s", s->login);
	snprintf(c->peer, sizeof(c->peer), "%s", server_req_peer(req) ? server_req_peer(req) : "");
	c->secure = origin && strncmp(origin, "https://", 8) == 0;
	c->kind = xstrdup(kind);
	c->key = key ? xstrdup(key) : NULL;
	return c;
}

/* Printable text of 1..max bytes without control characters. */
static int plain(const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > max)
		return 0;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* ---- the thread pool: verify and hash ----------------------------------------- */

static void hash_work(uv_work_t *w)
{
	struct team_change *c = w->data;
	if (c->own)
		c->verified = auth_verify_password(c->current, c->old_hash);
	if (!c->own || c->verified == 1)
		c->hashed = auth_hash_password(c->password, c->hash, sizeof(c->hash)) == 0;
	explicit_bzero(c->current, sizeof(c->current));
	explicit_bzero(c->password, sizeof(c->password));
}

static void hash_done(uv_work_t *w, int status)
{
	struct team_change *c = w->data;
	struct dashboard *d = c->d;
	unlink_change(d, c);
	if (status != 0) {
		server_respond_error(c->req, 503, "interrupted; try again");
		change_free(c);
		return;
	}
	if (c->own && c->verified != 1) {
		time_t now = time(NULL);
		long lock = auth_rate_fail(d->auth, c->peer, c->login, now);
		log_warn("password change refused: wrong current password", "login=%s locked_seconds=%ld",
		         c->login, lock);
		server_respond_error(c->req, 403, "the current password is not right");
		change_free(c);
		return;
	}
	if (!c->hashed) {
		server_respond_error(c->req, 500, "the password could not be hashed");
		change_free(c);
		return;
	}
	char *value = c->own ? team_password_value(d->team, c->login, c->hash)
	                     : team_agent_value(c->name, c->admin, c->hash, NULL);
	explicit_bzero(c->hash, sizeof(c->hash));
	if (!value) {
		server_respond_error(c->req, 409, "that agent is no longer in the team");
		change_free(c);
		return;
	}
	change_store(c, value);
	free(value);
}

/* Hash c->password (and verify c->current first for c->own) off the loop. */
static void change_hash(struct team_change *c)
{
	struct dashboard *d = c->d;
	if (changes_in_flight(d) >= PASSWORDS_IN_FLIGHT) {
		server_req_add_header(c->req, "Retry-After", "1");
		server_respond_error(c->req, 429, "busy: try again in a moment");
		change_free(c);
		return;
	}
	c->work.data = c;
	if (uv_queue_work(&d->env.loop->uv, &c->work, hash_work, hash_done) != 0) {
		server_respond_error(c->req, 503, "cannot hash the password now");
		change_free(c);
		return;
	}
	c->next = d->changes;
	if (c->next)
		c->next->prev = c;
	d->changes = c;
}

/* A new password, as `frontdesk passwd` wants it: 10 characters or more. */
static int password_ok(struct server_req *req, const char *p)
{
	if (!p || auth_password_chars(p) < AUTH_MIN_PASSWORD || strlen(p) >= AUTH_MAX_PASSWORD) {
		char msg[96];
		snprintf(msg, sizeof(msg), "a password needs at least %d characters", AUTH_MIN_PASSWORD);
		server_respond_error(req, 400, msg);
		return 0;
	}
	return 1;
}

void dashboard_api_password(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	if (server_req_method(req) != SERVER_POST) {
		server_respond_error(req, 405, "use POST");
		return;
	}
	json_t *body = dashboard_body(req);
	if (!body)
		return;
	const char *current = json_string_value(json_object_get(body, "current"));
	const char *password = json_string_value(json_object_get(body, "password"));
	const struct team_agent *a = team_agent(d->team, s->login);
	long wait = auth_rate_check(d->auth, server_req_peer(req), s->login, time(NULL));
	if (!current || !password) {
		server_respond_error(req, 400, "expected {\"current\": \"...\", \"password\": \"...\"}");
	} else if (wait > 0) {
		char v[24];
		snprintf(v, sizeof(v), "%ld", wait);
		server_req_add_header(req, "Retry-After", v);
		server_respond_error(req, 429, "too many wrong passwords: try again later");
	} else if (!a || !a->password_hash) {
		server_respond_error(req, 409, "this login is not in the team");
	} else if (password_ok(req, password)) {
		struct team_change *c = change_new(d, req, s, "agent", a->login);
		c->own = 1;
		c->old_hash = xstrdup(a->password_hash);
		snprintf(c->current, sizeof(c->current), "%s",
		         strlen(current) < sizeof(c->current) ? current : "");
		snprintf(c->password, sizeof(c->password), "%s", password);
		change_hash(c);
	}
	json_decref(body); /* jansson does not wipe; the copies are wiped after use */
}

/* POST /api/team/agents and /api/team/agents/remove. */
static void team_agents_write(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                              json_t *body, int remove)
{
	const char *login = json_string_value(json_object_get(body, "login"));
	const struct team_agent *a = login ? team_agent(d->team, login) : NULL;
	if (!login || !config_login_ok(login)) {
		server_respond_error(req, 400, "a login holds letters, digits and . _ - @ (at most 64)");
		return;
	}
	if (a && a->source == TEAM_CONFIG) {
		server_respond_error(req, 409, "this agent is defined in config.yaml: change it there");
		return;
	}
	if (remove) {
		if (!a) {
			server_respond_error(req, 404, "no such agent");
		} else if (!strcasecmp(a->login, s->login)) {
			server_respond_error(req, 409, "you cannot remove yourself");
		} else {
			change_store(change_new(d, req, s, "agent", a->login), NULL);
		}
		return;
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *role = json_string_value(json_object_get(body, "role"));
	const char *password = json_string_value(json_object_get(body, "password"));
	if (!plain(name, AUTH_MAX_NAME) || (role && strcmp(role, "admin") && strcmp(role, "agent"))) {
		server_respond_error(
		    req, 400,
		    "expected {\"login\", \"name\" (1 to 128 characters), \"role\": \"agent|admin\", "
		    "\"password\"}");
		return;
	}
	if (!a && !password) {
		server_respond_error(req, 400, "a new agent needs a password");
		return;
	}
	struct team_change *c = change_new(d, req, s, "agent", a ? a->login : login);
	c->name = xstrdup(name);
	c->admin = role && !strcmp(role, "admin");
	if (!password) {
		/* A new name or role: the password stays. */
		char *value = team_agent_value(c->name, c->admin, a->password_hash, NULL);
		change_store(c, value);
		free(value);
		return;
	}
	if (!password_ok(req, password)) {
		change_free(c);
		return;
	}
	snprintf(c->password, sizeof(c->password), "%s", password);
	change_hash(c);
}

static void team_labels_write(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                              json_t *body, int remove)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *color = json_string_value(json_object_get(body, "color"));
	const struct team_label *l = name ? team_label(d->team, name) : NULL;
	if (l && l->source == TEAM_CONFIG) {
		server_respond_error(req, 409, "this label is defined in config.yaml: change it there");
	} else if (remove) {
		if (!l)
			server_respond_error(req, 404, "no such label");
		else
			change_store(change_new(d, req, s, "label", l->name), NULL);
	} else if (!name || !config_label_ok(name, color ? color : "#000")) {
		server_respond_error(
		    req, 400,
		    "expected {\"name\": \"...\" (1 to 64 characters, no commas), \"color\": \"#rrggbb\"}");
	} else {
		change_store(change_new(d, req, s, "label", l ? l->name : name),
		             color ? color : team_default_colour(name));
	}
}

static void team_canned_write(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                              json_t *body, int remove)
{
	const char *title = json_string_value(json_object_get(body, "title"));
	const char *text = json_string_value(json_object_get(body, "text"));
	if (!plain(title, TEAM_MAX_TITLE)) {
		server_respond_error(req, 400, "a canned reply needs a title of 1 to 80 characters");
		return;
	}
	if (remove) {
		change_store(change_new(d, req, s, "canned", title), NULL);
		return;
	}
	if (!text || !*text || strlen(text) > TEAM_MAX_CANNED) {
		server_respond_error(req, 400, "a canned reply needs a text of 1 to 8192 bytes");
		return;
	}
	/* A template error is said now, not when an agent picks the reply. */
	char err[256] = "";
	struct buf out;
	buf_init(&out, 2 * TEAM_MAX_CANNED);
	int ok = replies_render_string(text, NULL, &out, err, sizeof(err)) == 0;
	buf_free(&out);
	if (!ok) {
		char *msg = xasprintf("the text is not a valid reply: %s", err);
		server_respond_error(req, 400, msg);
		free(msg);
		return;
	}
	change_store(change_new(d, req, s, "canned", title), text);
}

void dashboard_api_team(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	const char *path = server_req_path(req);
	int write = server_req_method(req) != SERVER_GET;
	if (!strcmp(path, "/api/team")) {
		if (write)
			server_respond_error(req, 405, "use GET");
		else
			team_get(d, req, s);
		return;
	}
	if (!write) {
		server_respond_error(req, 405, "use POST");
		return;
	}
	if (!s->admin) {
		server_respond_error(req, 403, "only an admin can change the team's settings");
		return;
	}
	static const struct {
		const char *path;
		void (*fn)(struct dashboard *, struct server_req *, const struct auth_session *, json_t *,
		           int);
		int remove;
	} routes[] = {
	    {"/api/team/agents", team_agents_write, 0}, {"/api/team/agents/remove", team_agents_write, 1},
	    {"/api/team/labels", team_labels_write, 0}, {"/api/team/labels/remove", team_labels_write, 1},
	    {"/api/team/canned", team_canned_write, 0}, {"/api/team/canned/remove", team_canned_write, 1},
	};
	for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		json_t *body = dashboard_body(req);
		if (body)
			routes[i].fn(d, req, s, body, routes[i].remove);
		json_decref(body);
		return;
	}
	server_respond_error(req, 404, "not found");
}
