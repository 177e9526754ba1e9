/*
 * dashboard_learn.c - the dashboard's side of learning from the team
 * (dashboard.h, "Learning"): the FAQ answers a ticket's question is most
 * like, teaching a customer's question to a rule, the taught examples
 * (shown, removable), and the questions nobody answered, grouped by
 * subject with the rule each group is most like.
 *
 * Every answer comes from store callbacks (now or later): nothing here
 * keeps the engine across a callback, since a reload may replace it; the
 * engine is asked for again (env.engine) when it is used.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "dashboard_int.h"
#include "hours.h"
#include "metrics.h"
#include "pipeline.h"
#include "replies.h"
#include "report.h"
#include "rules.h"
#include "util.h"

#define SUGGESTIONS     3    /* FAQ answers offered for a ticket... */
#define SUGGEST_FLOOR   0.05 /* ...at least this alike (below it they are noise) */
#define GROUP_TEACH_MIN 0.25 /* a group is offered to an existing rule from this likeness */
#define GROUP_TEXTS     8    /* questions shown per group */
#define GROUPS_MAX      50   /* groups in one answer */
#define QUESTIONS_DAYS  30   /* default window of the unanswered questions */
#define QUESTIONS_LIMIT 2000

struct learn_op {
	struct dashboard *d;
	struct server_req *req;
	char login[AUTH_MAX_LOGIN + 1];
	char name[AUTH_MAX_NAME + 1];
	int64_t ticket, message, id;
	char *rule;
	char *text;
	int negative;
	json_t *answer;
};

static struct learn_op *lop_new(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	struct learn_op *o = xcalloc(1, sizeof(*o));
	o->d = d;
	o->req = req;
	snprintf(o->login, sizeof(o->login), "%s", s->login);
	snprintf(o->name, sizeof(o->name), "%s", s->name);
	return o;
}

static void lop_free(struct learn_op *o)
{
	free(o->rule);
	free(o->text);
	json_decref(o->answer);
	free(o);
}

static void fail(struct learn_op *o, int status, const char *msg)
{
	server_respond_error(o->req, status, msg);
	lop_free(o);
}

static struct engine *engine_of(struct dashboard *d)
{
	return d->env.engine ? d->env.engine(d->env.arg) : NULL;
}

/* The answer rule's reply as the bot would send it now, for the reply box
 * (NULL when it has none). */
static json_t *rule_reply(struct dashboard *d, struct engine *e, const struct rule *r, const char *agent,
                          const struct store_ticket *t)
{
	if (!r->reply)
		return json_null();
	struct dashboard_vars dv;
	dashboard_vars(d, agent, t, &dv);
	time_t now = time(NULL);
	struct reply_want w = {
	    .state = e->cfg->hours && !hours_is_open(e->cfg->hours, now) ? REPLY_AFTER_HOURS : REPLY_OPEN};
	const char *key = replies_pick(e->replies, r->reply, &w);
	struct buf out;
	buf_init(&out, 2 * REPLY_TEMPLATE_MAX);
	json_t *v = NULL;
	if (key && replies_render(e->replies, key, t ? (uint64_t)t->id : 0, &dv.v, &out) == 0 && out.p)
		v = dashboard_text(out.p);
	buf_free(&out);
	return v ? v : json_null();
}

/* The k answer rules `text` is most like (at least `least`), with their replies. */
static json_t *suggestions(struct dashboard *d, struct engine *e, const char *text, const char *agent,
                           const struct store_ticket *t, size_t k, double least)
{
	json_t *a = json_array();
	struct rules_guess g[SUGGESTIONS];
	if (k > SUGGESTIONS)
		k = SUGGESTIONS;
	size_t n = text ? engine_suggest(e, text, 1u << RULE_ANSWER, g, k) : 0;
	for (size_t i = 0; i < n && g[i].confidence >= least; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "rule", json_string(g[i].rule->id));
		json_object_set_new(o, "confidence", json_real(round(g[i].confidence * 1000.0) / 1000.0));
		json_object_set_new(o, "text", rule_reply(d, e, g[i].rule, agent, t));
		json_array_append_new(a, o);
	}
	return a;
}

/* Every rule an agent may teach to: id and kind, in file order. */
static json_t *rules_json(struct engine *e)
{
	json_t *a = json_array();
	for (size_t i = 0; i < rules_count(e->rules); i++) {
		const struct rule *r = rules_get(e->rules, i);
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "id", r->id, "kind",
		                                   rule_kind_name(r->kind), "learned", r->learned));
	}
	return a;
}

/* ---- GET /api/learn/ticket/ID ----------------------------------------------- */

static void ticket_messages(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct learn_op *o = arg;
	struct engine *e = engine_of(o->d);
	if (rc != 0 || !e) {
		fail(o, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		return;
	}
	/* The customer's latest message: what the agent is answering. */
	const struct store_msg *q = NULL;
	for (size_t i = n; i-- > 0 && !q;)
		if (!strcmp(v[i].from, "customer"))
			q = &v[i];
	json_t *j = o->answer;
	o->answer = NULL;
	if (q) {
		json_object_set_new(j, "question",
		                    json_pack("{s:I, s:o}", "message_id", (json_int_t)q->id, "text",
		                              dashboard_text(q->text)));
		json_object_set_new(j, "suggestions",
		                    suggestions(o->d, e, q->text, o->name, NULL, SUGGESTIONS, SUGGEST_FLOOR));
	} else {
		json_object_set_new(j, "question", json_null());
		json_object_set_new(j, "suggestions", json_array());
	}
	json_object_set_new(j, "rules", rules_json(e));
	json_object_set_new(j, "min_confidence", json_real(e->cfg->min_confidence));
	dashboard_respond(o->req, 200, j);
	lop_free(o);
}

static void api_ticket(struct learn_op *o, const char *rest)
{
	long id;
	if (parse_long(rest, &id) < 0 || id <= 0) {
		fail(o, 404, "no such ticket");
		return;
	}
	o->ticket = id;
	o->answer = json_pack("{s:I}", "ticket", (json_int_t)id);
	store_ticket_messages(o->d->env.store, o->ticket, DASHBOARD_MAX_MESSAGES, ticket_messages, o);
}

/* ---- POST /api/learn/teach {ticket, message_id, rule, negative} ------------- */

static json_t *taught_json(const struct store_taught *t, struct engine *e)
{
	char when[40] = "";
	if (t->created > 0)
		time_iso_utc(t->created, when, sizeof(when));
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(t->id));
	json_object_set_new(o, "rule", dashboard_text(t->rule));
	json_object_set_new(o, "text", dashboard_text(t->text));
	json_object_set_new(o, "negative", json_boolean(t->negative));
	json_object_set_new(o, "by", t->by ? dashboard_text(t->by) : json_null());
	json_object_set_new(o, "ticket", t->ticket_id ? json_integer(t->ticket_id) : json_null());
	json_object_set_new(o, "created", json_string(when));
	/* A rule renamed or removed since: the example is kept but not learned. */
	json_object_set_new(o, "known", json_boolean(e && rules_find(e->rules, t->rule) != NULL));
	return o;
}

static void teach_saved(void *arg, int rc)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		fail(o, 500, "the example could not be saved");
		return;
	}
	dashboard_respond(o->req, 200, o->answer);
	o->answer = NULL;
	if (o->d->env.relearn)
		o->d->env.relearn(o->d->env.arg);
	dashboard_notify_change(o->d, o->ticket);
	log_info("taught", "login=%s rule=%s ticket=%lld negative=%d", o->login, o->rule,
	         (long long)o->ticket, o->negative);
	lop_free(o);
}

static void teach_done(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct learn_op *o = arg;
	if (rc == 2) {
		fail(o, 409, "the store holds as many taught examples as it keeps: remove some first");
		return;
	}
	if (rc < 0 || n != 1) {
		store_rollback(o->d->env.store);
		fail(o, 500, "store error");
		return;
	}
	o->answer =
	    json_pack("{s:o, s:b}", "taught", taught_json(&v[0], engine_of(o->d)), "already", rc == 1);
	if (rc == 1) {
		dashboard_respond(o->req, 200, o->answer);
		o->answer = NULL;
		lop_free(o);
		return;
	}
	dashboard_commit(o->d, teach_saved, o);
}

/* The message must be the customer's, in the ticket's conversation. */
static void teach_messages(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		fail(o, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such ticket");
		return;
	}
	const struct store_msg *q = NULL;
	for (size_t i = 0; i < n && !q; i++)
		if (v[i].id == o->message)
			q = &v[i];
	if (!q || strcmp(q->from, "customer") != 0) {
		fail(o, 400, "that is not a customer's message of this ticket");
		return;
	}
	if (strlen(q->text) > STORE_MAX_TAUGHT_TEXT) {
		fail(o, 400, "the question is too long to learn from");
		return;
	}
	struct store_taught t = {.rule = o->rule,
	                         .text = q->text,
	                         .negative = o->negative,
	                         .by = o->login,
	                         .ticket_id = o->ticket};
	store_teach(o->d->env.store, &t, time(NULL), teach_done, o);
}

static void api_teach(struct learn_op *o)
{
	json_t *body = dashboard_body(o->req);
	if (!body) {
		lop_free(o);
		return;
	}
	json_t *ticket = json_object_get(body, "ticket"), *msg = json_object_get(body, "message_id");
	const char *rule = json_string_value(json_object_get(body, "rule"));
	json_t *neg = json_object_get(body, "negative");
	if (!json_is_integer(ticket) || !json_is_integer(msg) || !rule || (neg && !json_is_boolean(neg))) {
		json_decref(body);
		fail(o, 400,
		     "expected {\"ticket\": N, \"message_id\": N, \"rule\": \"...\", \"negative\": false}");
		return;
	}
	struct engine *e = engine_of(o->d);
	if (!e || !rules_find(e->rules, rule)) {
		json_decref(body);
		fail(o, 400, "no such rule");
		return;
	}
	o->ticket = json_integer_value(ticket);
	o->message = json_integer_value(msg);
	o->rule = xstrdup(rule);
	o->negative = json_is_true(neg);
	json_decref(body);
	store_ticket_messages(o->d->env.store, o->ticket, 0, teach_messages, o);
}

/* ---- GET /api/learn/taught, POST /api/learn/taught/ID/remove --------------- */

static void taught_listed(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		fail(o, 500, "store error");
		return;
	}
	struct engine *e = engine_of(o->d);
	json_t *a = json_array();
	/* Newest first: what was just taught is on top. */
	for (size_t i = n; i-- > 0;)
		json_array_append_new(a, taught_json(&v[i], e));
	dashboard_respond(o->req, 200, json_pack("{s:o}", "taught", a));
	lop_free(o);
}

static void untaught_saved(void *arg, int rc)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		fail(o, 500, "the change could not be saved");
		return;
	}
	server_respond(o->req, 200, NULL, "{}", 2);
	if (o->d->env.relearn)
		o->d->env.relearn(o->d->env.arg);
	log_info("untaught", "login=%s id=%lld", o->login, (long long)o->id);
	lop_free(o);
}

static void untaught_done(void *arg, int rc)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		if (rc < 0)
			store_rollback(o->d->env.store);
		fail(o, rc < 0 ? 500 : 404, rc < 0 ? "store error" : "no such taught example");
		return;
	}
	dashboard_commit(o->d, untaught_saved, o);
}

/* ---- GET /api/learn/questions?days=N ----------------------------------------- */

/* The rules' examples: words common there weigh less in a group's likeness. */
static const char **background(struct engine *e, size_t *n)
{
	size_t cap = 0;
	const char **v = NULL;
	*n = 0;
	for (size_t i = 0; i < rules_count(e->rules); i++) {
		const struct rule *r = rules_get(e->rules, i);
		for (size_t j = 0; r->examples && r->examples[j]; j++) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 256;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[(*n)++] = r->examples[j];
		}
	}
	return v;
}

static void questions_read(void *arg, int rc, const struct store_question *v, size_t n)
{
	struct learn_op *o = arg;
	struct engine *e = engine_of(o->d);
	if (rc != 0 || !e) {
		fail(o, 500, "store error");
		return;
	}
	const char **texts = xcalloc(n ? n : 1, sizeof(*texts));
	for (size_t i = 0; i < n; i++)
		texts[i] = v[i].text;
	size_t nb;
	const char **bg = background(e, &nb);
	struct cluster_result cr;
	cluster_texts(texts, NULL, n, bg, nb, 0, &cr);
	free(bg);

	json_t *groups = json_array();
	for (size_t g = 0; g < cr.n && g < GROUPS_MAX; g++) {
		const struct cluster_group *cg = &cr.groups[g];
		json_t *qs = json_array(), *tickets = json_array();
		for (size_t m = 0; m < cg->n; m++) {
			const struct store_question *q = &v[cg->members[m]];
			if (m < GROUP_TEXTS)
				json_array_append_new(qs, dashboard_text(q->text));
			if (q->ticket_id && json_array_size(tickets) < GROUP_TEXTS)
				json_array_append_new(tickets, json_integer(q->ticket_id));
		}
		time_t last = 0;
		for (size_t m = 0; m < cg->n; m++)
			if (v[cg->members[m]].created > last)
				last = v[cg->members[m]].created;
		const char *central = v[cg->central].text;
		json_t *o2 = json_object();
		json_object_set_new(o2, "count", json_integer((json_int_t)cg->weight));
		json_object_set_new(o2, "question", dashboard_text(central));
		json_object_set_new(o2, "questions", qs);
		json_object_set_new(o2, "tickets", tickets);
		dashboard_iso(o2, "last", last);
		json_object_set_new(o2, "suggestions",
		                    suggestions(o->d, e, central, o->name, NULL, 1, GROUP_TEACH_MIN));
		json_array_append_new(groups, o2);
	}
	json_t *j = json_pack("{s:I, s:I, s:I, s:o}", "days", (json_int_t)o->id, "questions", (json_int_t)n,
	                      "groups_total", (json_int_t)cr.n, "groups", groups);
	cluster_free(&cr);
	free(texts);
	dashboard_respond(o->req, 200, j);
	lop_free(o);
}

/* ---- GET /api/report?days=N|since=&until=&by=day|week ----------------------------- */

static void report_done(void *arg, int rc, const struct report *r)
{
	struct learn_op *o = arg;
	if (rc != 0) {
		fail(o, 500, "store error");
		return;
	}
	dashboard_respond(o->req, 200, report_json(r, o->d->env.cfg ? o->d->env.cfg->hours : NULL));
	lop_free(o);
}

/* A date (2026-11-01) or a time (ISO-8601) of the query, into *t: 0, 1 absent, -1 malformed. */
static int query_time(struct server_req *req, const char *name, time_t *t)
{
	char v[40], buf[64];
	if (server_req_arg(req, name, v, sizeof(v)) != 0)
		return 1;
	if (strlen(v) == 10) {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", v);
		return time_parse_iso(buf, t) < 0 ? -1 : 0;
	}
	return time_parse_iso(v, t) < 0 ? -1 : 0;
}

void dashboard_api_report(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	char arg[16];
	long days = REPORT_DAYS;
	time_t now = time(NULL), since, until = now + 1;
	int by = 1;

	if (server_req_method(req) != SERVER_GET) {
		server_respond_error(req, 405, "use GET");
		return;
	}
	if (server_req_arg(req, "days", arg, sizeof(arg)) == 0 &&
	    (parse_long(arg, &days) < 0 || days < 1 || days > REPORT_MAX_DAYS)) {
		server_respond_error(req, 400, "days: 1 to 366");
		return;
	}
	if (server_req_arg(req, "by", arg, sizeof(arg)) == 0) {
		if (strcmp(arg, "day") && strcmp(arg, "week")) {
			server_respond_error(req, 400, "by: day or week");
			return;
		}
		by = arg[0] == 'w' ? 7 : 1;
	}
	since = now - days * 86400;
	int a = query_time(req, "since", &since), b = query_time(req, "until", &until);
	if (a < 0 || b < 0 || until <= since || until - since > (time_t)REPORT_MAX_DAYS * 86400) {
		server_respond_error(
		    req, 400,
		    "since and until: dates or ISO-8601 times, until after since, at most 366 days");
		return;
	}
	struct learn_op *o = lop_new(d, req, s);
	report_compute(d->env.store, d->env.cfg ? d->env.cfg->hours : NULL, since, until, by, now,
	               report_done, o);
}

/* ---- /metrics: the insights figures ------------------------------------------------- */

enum { MI_POSTS, MI_HANDLED, MI_TICKETS, MI_FIRST, MI_RESOLUTION, MI_MISSED, MI_CSAT, MI_RATINGS, MI_COUNT };

static void insights_done(void *arg, int rc, const struct report *r)
{
	struct dashboard *d = arg;
	const struct report_figures *f = &r->total;
	void (*then)(void *) = d->insights_then;
	void *then_arg = d->insights_arg;
	d->insights_busy = 0;
	d->insights_then = NULL;
	if (rc == 0) {
		const double v[MI_COUNT] = {
		    [MI_POSTS] = (double)f->posts,
		    [MI_HANDLED] = f->posts ? (double)f->handled / (double)f->posts : 0,
		    [MI_TICKETS] = (double)f->tickets,
		    [MI_FIRST] = f->first_response_p50 >= 0 ? f->first_response_p50 : 0,
		    [MI_RESOLUTION] = f->resolution_p50 >= 0 ? f->resolution_p50 : 0,
		    [MI_MISSED] = (double)f->missed,
		    [MI_CSAT] = f->ratings ? (double)f->satisfied / (double)f->ratings : 0,
		    [MI_RATINGS] = (double)f->ratings,
		};
		for (int i = 0; i < MI_COUNT; i++)
			metric_set_l(d->m_insights[i], v[i], "7d");
	}
	if (then)
		then(then_arg);
}

int dashboard_insights_metrics(struct dashboard *d, uint64_t max_age_ms, void (*done)(void *arg), void *arg)
{
	static const char *const names[MI_COUNT][2] = {
	    {"insights_posts", "Customer posts decided in the window (the insights figures)."},
	    {"insights_handled_ratio", "Share of the posts the bot handled without a person."},
	    {"insights_tickets", "Conversations handed to a person in the window."},
	    {"insights_first_response_p50_seconds", "Median time to a person's first reply."},
	    {"insights_resolution_p50_seconds", "Median time to resolution."},
	    {"insights_targets_missed", "Response targets missed in the window."},
	    {"insights_satisfied_ratio", "Share of satisfaction ratings of 4 or 5."},
	    {"insights_ratings", "Satisfaction ratings in the window."},
	};
	uint64_t now_ms = time_mono_ms();
	if (!d->env.metrics || d->insights_busy || d->stopped ||
	    (d->insights_at_ms && now_ms - d->insights_at_ms < max_age_ms))
		return 0;
	if (!d->m_insights[0])
		for (int i = 0; i < MI_COUNT; i++)
			d->m_insights[i] = metrics_gauge(d->env.metrics, names[i][0], names[i][1], "window");
	d->insights_at_ms = now_ms;
	d->insights_busy = 1;
	d->insights_then = done;
	d->insights_arg = arg;
	time_t now = time(NULL);
	report_compute(d->env.store, d->env.cfg ? d->env.cfg->hours : NULL, now - REPORT_DAYS * 86400,
	               now + 1, 1, now, insights_done, d);
	return 1;
}

/* ---- routing ------------------------------------------------------------------- */

void dashboard_api_learn(struct dashboard *d, struct server_req *req, const struct auth_session *s)
{
	const char *path = server_req_path(req) + strlen("/api/learn/");
	int write = server_req_method(req) != SERVER_GET;
	struct learn_op *o = lop_new(d, req, s);

	if (!strncmp(path, "ticket/", 7)) {
		if (write)
			fail(o, 405, "use GET");
		else
			api_ticket(o, path + 7);
	} else if (!strcmp(path, "teach")) {
		if (!write)
			fail(o, 405, "use POST");
		else
			api_teach(o);
	} else if (!strcmp(path, "taught")) {
		if (write)
			fail(o, 405, "use GET");
		else
			store_taught_list(d->env.store, taught_listed, o);
	} else if (!strncmp(path, "taught/", 7)) {
		const char *rest = path + 7, *slash = strchr(rest, '/');
		char num[24];
		long id;
		size_t len = slash ? (size_t)(slash - rest) : 0;
		if (!slash || strcmp(slash, "/remove") != 0 || len == 0 || len >= sizeof(num)) {
			fail(o, 404, "not found");
			return;
		}
		memcpy(num, rest, len);
		num[len] = '\0';
		if (parse_long(num, &id) < 0 || id <= 0) {
			fail(o, 404, "no such taught example");
		} else if (!write) {
			fail(o, 405, "use POST");
		} else {
			o->id = id;
			store_untaught(d->env.store, id, untaught_done, o);
		}
	} else if (!strcmp(path, "questions")) {
		char arg[16];
		long days = QUESTIONS_DAYS;
		if (server_req_arg(req, "days", arg, sizeof(arg)) == 0 &&
		    (parse_long(arg, &days) < 0 || days < 1 || days > 366)) {
			fail(o, 400, "days: 1 to 366");
			return;
		}
		if (write) {
			fail(o, 405, "use GET");
			return;
		}
		o->id = days;
		store_unanswered(d->env.store, time(NULL) - days * 86400, QUESTIONS_LIMIT, questions_read, o);
	} else {
		fail(o, 404, "not found");
	}
}
