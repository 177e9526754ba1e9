/*
 * dashboard_people.c - who the customers are, and finding conversations:
 *
 *   GET  /api/contacts/ID           the contact and its conversations on every
 *                                   channel (newest first)
 *   POST /api/contacts/ID {name}    an agent names the contact (kept from then on
 *                                   over what platforms or forms say)
 *   GET  /api/search?q=WORDS&status=&priority=&channel=&assignee=&label=&from=&to=
 *                                   {"tickets": [...], "contacts": [...]}: the
 *                                   store's full-text search (store_search)
 *
 * Search filters: status open|waiting|claimed|resolved|all (default all),
 * priority, channel (a platform: webchat, mastodon ...), assignee (a login,
 * or "none"), label, from / to (ISO-8601 times: created from, and before).
 * A bad filter answers 400 naming it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard_int.h"
#include "store.h"
#include "util.h"

#define MAX_QUERY 512 /* bytes of the words searched for */

static const char *const name_sources[] = {"platform", "visitor", "verified", "agent"};

static json_t *contact_json(const struct store_contact *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(c->id));
	json_object_set_new(o, "name", dashboard_text(c->name));
	json_object_set_new(o, "email", dashboard_text(c->email));
	json_object_set_new(o, "handle", dashboard_text(c->handle));
	json_object_set_new(o, "platform", dashboard_text(c->platform));
	json_object_set_new(o, "verified", json_boolean(c->external_id != NULL));
	json_object_set_new(
	    o, "name_from",
	    json_string(c->name_source <= NAME_AGENT ? name_sources[c->name_source] : "platform"));
	dashboard_iso(o, "first_seen", c->first_seen);
	dashboard_iso(o, "last_seen", c->last_seen);
	json_object_set_new(o, "conversations", json_integer(c->conversations));
	return o;
}

static json_t *tickets_json(const struct store_ticket *v, size_t n)
{
	json_t *a = json_array();
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, dashboard_ticket_json(&v[i], now));
	return a;
}

/* ---- contacts ---------------------------------------------------------------- */

static void contact_tickets_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "store error");
	} else {
		json_object_set_new(o->t, "tickets", tickets_json(v, n));
		dashboard_respond(o->req, 200, o->t);
		o->t = NULL;
	}
	dashboard_op_free(o);
}

static void contact_read(void *arg, int rc, const struct store_contact *c)
{
	struct op *o = arg;
	if (rc != 0) {
		server_respond_error(o->req, rc == 1 ? 404 : 500,
		                     rc == 1 ? "no such contact" : "store error");
		dashboard_op_free(o);
		return;
	}
	o->t = json_pack("{s:o}", "contact", contact_json(c));
	store_contact_tickets(o->d->env.store, o->id, DASHBOARD_MAX_LIST, o->login, contact_tickets_read, o);
}

static void contact_renamed(void *arg, int rc)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "the change could not be saved; try again");
		dashboard_op_free(o);
		return;
	}
	/* Every open view of the contact's tickets shows the new name. */
	dashboard_notify_change(o->d, 0);
	store_contact_get(o->d->env.store, o->id, contact_read, o);
}

static void contact_rename_done(void *arg, int rc)
{
	struct op *o = arg;
	if (rc != 0) {
		server_respond_error(o->req, rc == 1 ? 404 : 500,
		                     rc == 1 ? "no such contact" : "store error");
		dashboard_op_free(o);
		return;
	}
	dashboard_commit(o->d, contact_renamed, o);
}

void dashboard_api_contact(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	const char *rest = server_req_path(req) + strlen("/api/contacts/");
	long id;
	if (parse_long(rest, &id) < 0 || id <= 0) {
		server_respond_error(req, 404, "no such contact");
		return;
	}
	struct op *o = dashboard_op_new(d, req, s, id);
	if (server_req_method(req) == SERVER_GET) {
		store_contact_get(d->env.store, id, contact_read, o);
		return;
	}
	if (server_req_method(req) != SERVER_POST) {
		server_respond_error(req, 405, "use GET or POST");
		dashboard_op_free(o);
		return;
	}
	json_t *body = dashboard_body(req);
	if (!body) {
		dashboard_op_free(o);
		return;
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	size_t len = name ? strlen(name) : 0;
	int ok = len > 0 && len <= STORE_MAX_CONTACT;
	for (size_t i = 0; ok && i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			ok = 0;
	if (!ok) {
		server_respond_error(req, 400,
		                     "expected {\"name\": \"...\"} (1 to 256 characters, one line)");
		dashboard_op_free(o);
	} else {
		store_contact_rename(d->env.store, id, name, contact_rename_done, o);
	}
	json_decref(body);
}

/* ---- search -------------------------------------------------------------------- */

static void search_contacts_read(void *arg, int rc, const struct store_contact *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "store error");
	} else {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, contact_json(&v[i]));
		json_object_set_new(o->t, "contacts", a);
		dashboard_respond(o->req, 200, o->t);
		o->t = NULL;
	}
	dashboard_op_free(o);
}

static void search_tickets_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct op *o = arg;
	if (rc < 0) {
		server_respond_error(o->req, 500, "store error");
		dashboard_op_free(o);
		return;
	}
	o->t = json_pack("{s:o}", "tickets", tickets_json(v, n));
	/* Contacts match the words alone (filters are about conversations). */
	if (o->text && *o->text)
		store_contact_search(o->d->env.store, o->text, DASHBOARD_SEARCH, search_contacts_read, o);
	else
		search_contacts_read(o, 0, NULL, 0);
}

/* Is argument `name` in the query at all ("name=..." at its start or after '&')? */
static int has_arg(const char *query, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == '=' || p[n] == '&' || p[n] == '\0'))
			return 1;
	return 0;
}

/* One filter argument into out: 1 given, 0 absent or empty, -1 after
 * answering 400 (longer than any value we take). */
static int filter_arg(struct server_req *req, const char *name, char *out, size_t n)
{
	if (server_req_arg(req, name, out, n) == 0)
		return out[0] ? 1 : 0;
	if (!has_arg(server_req_query(req), name))
		return 0;
	char *msg = xasprintf("the %s filter is too long", name);
	server_respond_error(req, 400, msg);
	free(msg);
	return -1;
}

static int bad_filter(struct server_req *req, const char *what)
{
	char *msg = xasprintf("bad %s filter", what);
	server_respond_error(req, 400, msg);
	free(msg);
	return -1;
}

void dashboard_api_search(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	static const char *const statuses[] = {"open", "waiting", "claimed", "resolved", "all"};
	char text[MAX_QUERY + 1] = "", status[16], priority[16], channel[STORE_MAX_KEY + 1],
	                      assignee[AUTH_MAX_LOGIN + 1], label[STORE_MAX_LABEL + 1], from[40], to[40];
	struct store_search q = {.status = TICKETS_ALL, .limit = DASHBOARD_SEARCH};
	int r;

	if (server_req_arg(req, "q", text, sizeof(text)) < 0 && has_arg(server_req_query(req), "q")) {
		server_respond_error(req, 400, "the search is too long");
		return;
	}
	if ((r = filter_arg(req, "status", status, sizeof(status))) < 0)
		return;
	if (r) {
		size_t f;
		for (f = 0; f < ARRAY_LEN(statuses) && strcmp(statuses[f], status); f++)
			;
		if (f == ARRAY_LEN(statuses)) {
			bad_filter(req, "status");
			return;
		}
		q.status = (enum store_ticket_filter)f;
	}
	if ((r = filter_arg(req, "priority", priority, sizeof(priority))) < 0)
		return;
	if (r && priority_parse(priority) == PRIO_NONE) {
		bad_filter(req, "priority");
		return;
	}
	q.priority = r ? priority : NULL;
	if ((r = filter_arg(req, "channel", channel, sizeof(channel))) < 0)
		return;
	q.platform = r ? channel : NULL;
	if ((r = filter_arg(req, "assignee", assignee, sizeof(assignee))) < 0)
		return;
	q.assignee = r ? (!strcmp(assignee, "none") ? "" : assignee) : NULL;
	if ((r = filter_arg(req, "label", label, sizeof(label))) < 0)
		return;
	q.label = r ? label : NULL;
	if ((r = filter_arg(req, "from", from, sizeof(from))) < 0)
		return;
	if (r && time_parse_iso(from, &q.since) < 0) {
		bad_filter(req, "from");
		return;
	}
	if ((r = filter_arg(req, "to", to, sizeof(to))) < 0)
		return;
	if (r && time_parse_iso(to, &q.until) < 0) {
		bad_filter(req, "to");
		return;
	}
	struct op *o = dashboard_op_new(d, req, s, 0);
	o->text = xstrdup(text);
	q.text = o->text;
	q.viewer = o->login;
	store_search(d->env.store, &q, search_tickets_read, o);
}
