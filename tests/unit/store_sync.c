/*
 * store_sync.c - see store_sync.h.
 */
#include "store_sync.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static uv_loop_t *ss_loop;

void ss_use_loop(uv_loop_t *loop)
{
	ss_loop = loop;
}

void ss_wait(int *answered)
{
	while (!*answered && ss_loop)
		uv_run(ss_loop, UV_RUN_ONCE);
	assert_true(*answered);
}

struct store *ss_open(const char *path, int sync_full)
{
	char err[256] = "";
	struct store_conf c = {.path = path, .sync_full = sync_full};
	struct store *s = store_open(&c, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

void ss_tmp_make(const char *prefix, char *dir, size_t dn, char *path, size_t pn)
{
	snprintf(dir, dn, "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(dir));
	snprintf(path, pn, "%s/t.db", dir);
}

void ss_tmp_remove(const char *dir, const char *path)
{
	char p[512];
	static const char *const suffix[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

void ss_rec_free(struct ss_rec *r)
{
	memset(r, 0, sizeof(*r));
}

/* A copy of v in r->strings (NULL stays NULL). */
static char *keep(struct ss_rec *r, const char *v)
{
	if (!v)
		return NULL;
	size_t n = strlen(v) + 1;
	assert_true(r->used + n <= sizeof(r->strings));
	char *p = r->strings + r->used;
	memcpy(p, v, n);
	r->used += n;
	return p;
}

struct got {
	int rc;
	int answered;
	void *out;
	size_t n;
	char *text;
	int64_t id;
};

static void got_rec(void *arg, int rc, const struct store_recorded *rec)
{
	struct got *g = arg;
	struct ss_rec *r = g->out;
	g->rc = rc;
	g->answered = 1;
	if (rc != 0)
		return;
	r->raw = *rec;
	r->thread_id = rec->thread_id;
	r->message_id = rec->message_id;
	r->ticket_id = rec->ticket_id;
	r->n_outbox = rec->n_outbox;
	for (size_t i = 0; i < rec->n_outbox; i++) {
		struct store_out *o = &r->rows[i];
		*o = rec->rows[i];
		o->connector = keep(r, o->connector);
		o->thread_key = keep(r, o->thread_key);
		o->reply_to = keep(r, o->reply_to);
		o->text = keep(r, o->text);
		o->idem_key = keep(r, o->idem_key);
		o->sender = keep(r, o->sender);
		o->agent = keep(r, o->agent);
		o->recipient = keep(r, o->recipient);
		r->outbox[i] = o->id;
	}
	r->raw.rows = r->rows;
}

int ss_record(struct store *s, const struct store_record *r, struct ss_rec *out)
{
	struct got g = {.rc = -9, .out = out};
	memset(out, 0, sizeof(*out));
	store_record_post(s, r, got_rec, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_lookup(void *arg, int rc, const struct store_lookup *l)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
	if (rc == 0)
		*(struct store_lookup *)g->out = *l;
}

int ss_lookup(struct store *s, const char *platform, const char *post_id, const char *thread_key,
              struct store_lookup *l)
{
	struct got g = {.rc = -9, .out = l};
	store_lookup(s, platform, post_id, thread_key, got_lookup, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_thread(void *arg, int rc, const struct store_thread *t)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
	if (rc == 0)
		*(struct store_thread *)g->out = *t;
}

int ss_thread(struct store *s, const char *platform, const char *thread_key, struct store_thread *t)
{
	struct got g = {.rc = -9, .out = t};
	store_thread_get(s, platform, thread_key, got_thread, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_rc(void *arg, int rc)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
}

#define SYNC_RC(call)                                                                                        \
	do {                                                                                                 \
		struct got g = {.rc = -9};                                                                   \
		call;                                                                                        \
		ss_wait(&g.answered);                                                                        \
		return g.rc;                                                                                 \
	} while (0)

int ss_claim(struct store *s, int64_t id, const char *login, time_t now)
{
	SYNC_RC(store_ticket_claim(s, id, login, now, got_rc, &g));
}

int ss_release(struct store *s, int64_t id, const char *actor, time_t now)
{
	SYNC_RC(store_ticket_release(s, id, actor, now, got_rc, &g));
}

int ss_resolve(struct store *s, int64_t id, const char *actor, time_t now)
{
	SYNC_RC(store_ticket_resolve(s, id, actor, now, got_rc, &g));
}

int ss_mark(struct store *s, int64_t id, const char *kind, time_t now)
{
	SYNC_RC(store_ticket_mark(s, id, kind, NULL, now, got_rc, &g));
}

static void got_rows(void *arg, int rc, const struct store_out *v, size_t n)
{
	struct got *g = arg;
	int64_t *ids = g->out;
	g->rc = rc;
	g->answered = 1;
	for (size_t i = 0; rc == 0 && ids && i < n && i < g->n; i++)
		ids[i] = v[i].id;
}

int ss_agent_reply(struct store *s, int64_t id, const char *login, const char *name, const char *const *parts,
                   size_t n, time_t now, int64_t *ids)
{
	struct got g = {.rc = -9, .out = ids, .n = n};
	store_agent_reply(s, id, login, name, parts, n, now, got_rows, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_pending_row(void *arg, int rc, const struct store_out *v, size_t n)
{
	struct got *g = arg;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (v[i].id == g->id) {
			store_out_copy(g->out, &v[i]);
			g->rc = 1;
		}
	}
}

int ss_pending_row(struct store *s, int64_t id, struct store_out *o)
{
	struct got g = {.rc = -9, .out = o, .id = id};
	memset(o, 0, sizeof(*o));
	store_outbox_pending(s, got_pending_row, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_pending_ids(void *arg, int rc, const struct store_out *v, size_t n)
{
	struct got *g = arg;
	int64_t *ids = g->out;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : (int)n;
	for (size_t i = 0; rc == 0 && i < n && i < g->n; i++)
		ids[i] = v[i].id;
}

long ss_pending_ids(struct store *s, int64_t *ids, size_t max)
{
	struct got g = {.rc = -9, .out = ids, .n = max};
	store_outbox_pending(s, got_pending_ids, &g);
	ss_wait(&g.answered);
	return g.rc;
}

int ss_claim_row(struct store *s, int64_t id)
{
	struct store_out o;
	int rc = ss_pending_row(s, id, &o);
	if (rc != 1)
		return rc < 0 ? -1 : 1;
	struct got g = {.rc = -9};
	store_outbox_claim(s, &o, got_rc, &g);
	store_out_free(&o);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_row(void *arg, int rc, const struct store_out *row)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
	if (rc >= 0)
		g->id = row->id;
}

int ss_notify(struct store *s, const char *connector, const char *payload, const char *idem,
              int64_t not_before_ms, time_t now, int64_t *id)
{
	struct got g = {.rc = -9};
	store_outbox_notify(s, connector, payload, idem, not_before_ms, now, got_row, &g);
	ss_wait(&g.answered);
	*id = g.id;
	return g.rc;
}

static void got_counts(void *arg, int rc, const struct store_outbox_counts *c)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
	if (rc == 0)
		*(struct store_outbox_counts *)g->out = *c;
}

int ss_counts(struct store *s, struct store_outbox_counts *c)
{
	struct got g = {.rc = -9, .out = c};
	store_outbox_counts(s, got_counts, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_text(void *arg, int rc, const char *v)
{
	struct got *g = arg;
	g->rc = rc;
	g->answered = 1;
	if (rc == 0)
		snprintf(g->out, g->n, "%s", v);
}

int ss_cursor_get(struct store *s, const char *name, char *out, size_t n)
{
	struct got g = {.rc = -9, .out = out, .n = n};
	store_cursor_get(s, name, got_text, &g);
	ss_wait(&g.answered);
	return g.rc == 0 ? 1 : g.rc == 1 ? 0 : -1;
}

static void got_visitor(void *arg, int rc, const struct store_visitor *v)
{
	got_text(arg, rc, rc == 0 ? v->thread_key : NULL);
}

int ss_visitor_find(struct store *s, const char *token, time_t now, char *out, size_t n)
{
	struct got g = {.rc = -9, .out = out, .n = n};
	store_visitor_find(s, token, now, got_visitor, &g);
	ss_wait(&g.answered);
	return g.rc == 0 ? 1 : g.rc == 1 ? 0 : -1;
}

static void got_msgs(void *arg, int rc, const struct store_msg *v, size_t n)
{
	struct got *g = arg;
	char(*lines)[96] = g->out;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : rc == 1 ? -2 : (int)n;
	for (size_t i = 0; rc == 0 && i < n && i < g->n; i++)
		snprintf(lines[i], 96, "%s:%s", v[i].from, v[i].text);
}

long ss_history(struct store *s, const char *platform, const char *thread_key, char lines[][96], size_t max)
{
	struct got g = {.rc = -9, .out = lines, .n = max};
	store_history(s, platform, thread_key, 0, 0, got_msgs, &g);
	ss_wait(&g.answered);
	return g.rc;
}

long ss_ticket_messages(struct store *s, int64_t id, char lines[][96], size_t max)
{
	struct got g = {.rc = -9, .out = lines, .n = max};
	store_ticket_messages(s, id, 0, got_msgs, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_ticket(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct got *g = arg;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : n == 1;
	if (g->rc == 1)
		store_ticket_copy(g->out, &v[0]);
}

int ss_ticket(struct store *s, int64_t id, struct store_ticket *t)
{
	struct got g = {.rc = -9, .out = t};
	struct store_ticket_query q = {.id = id};
	memset(t, 0, sizeof(*t));
	store_tickets(s, &q, got_ticket, &g);
	ss_wait(&g.answered);
	return g.rc;
}

void ss_ticket_free(struct store_ticket *t)
{
	store_ticket_free(t);
	memset(t, 0, sizeof(*t));
}

static void got_ids(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct got *g = arg;
	int64_t *ids = g->out;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : (int)n;
	for (size_t i = 0; rc == 0 && i < n && i < g->n; i++)
		ids[i] = v[i].id;
}

long ss_ticket_ids(struct store *s, const struct store_ticket_query *q, int64_t *ids, size_t max)
{
	struct got g = {.rc = -9, .out = ids, .n = max};
	store_tickets(s, q, got_ids, &g);
	ss_wait(&g.answered);
	return g.rc;
}

struct state_ans {
	int rc;
	int answered;
	char *thread, *value;
};

static void state_got(void *arg, int rc, const struct store_state *st)
{
	struct state_ans *a = arg;
	a->rc = rc;
	a->answered = 1;
	if (rc == 0) {
		a->thread = st->thread_key ? xstrdup(st->thread_key) : NULL;
		a->value = xstrdup(st->value);
	}
}

int ss_state_get(struct store *s, const char *connector, const char *kind, const char *key, char **thread,
                 char **value)
{
	struct state_ans a = {.rc = -2};
	store_state_get(s, connector, kind, key, state_got, &a);
	ss_wait(&a.answered);
	*thread = a.thread;
	*value = a.value;
	return a.rc == 0 ? 1 : a.rc == 1 ? 0 : -1;
}

int ss_note(struct store *s, int64_t id, const char *login, const char *text, time_t now)
{
	SYNC_RC(store_ticket_note(s, id, login, text, now, got_rc, &g));
}

int ss_label(struct store *s, int64_t id, const char *label, int on, time_t now)
{
	SYNC_RC(store_ticket_label(s, id, label, on, "sam", now, got_rc, &g));
}

int ss_priority(struct store *s, int64_t id, const char *priority, time_t due, time_t now)
{
	SYNC_RC(store_ticket_priority(s, id, priority, due, "sam", now, got_rc, &g));
}

int ss_reopen(struct store *s, int64_t id, time_t due, time_t now)
{
	SYNC_RC(store_ticket_reopen(s, id, due, "sam", now, got_rc, &g));
}

int ss_snooze(struct store *s, int64_t id, time_t until, time_t now)
{
	SYNC_RC(store_ticket_snooze(s, id, until, "sam", now, got_rc, &g));
}

static void got_tcounts(void *arg, int rc, const struct store_ticket_counts *c)
{
	struct got *g = arg;
	g->answered = 1;
	g->rc = rc;
	if (rc == 0)
		*(struct store_ticket_counts *)g->out = *c;
}

int ss_ticket_counts(struct store *s, const char *login, time_t now, struct store_ticket_counts *c)
{
	struct got g = {.rc = -9, .out = c};
	store_ticket_counts(s, login, now, got_tcounts, &g);
	ss_wait(&g.answered);
	return g.rc;
}

long ss_search(struct store *s, const struct store_search *q, int64_t *ids, size_t max)
{
	struct got g = {.rc = -9, .out = ids, .n = max};
	store_search(s, q, got_ids, &g);
	ss_wait(&g.answered);
	return g.rc;
}

static void got_contact(void *arg, int rc, const struct store_contact *c)
{
	struct got *g = arg;
	struct store_contact *out = g->out;
	g->answered = 1;
	g->rc = rc;
	if (rc != 0)
		return;
	*out = *c;
	out->name = c->name ? xstrdup(c->name) : NULL;
	out->email = c->email ? xstrdup(c->email) : NULL;
	out->handle = c->handle ? xstrdup(c->handle) : NULL;
	out->platform = c->platform ? xstrdup(c->platform) : NULL;
	out->external_id = c->external_id ? xstrdup(c->external_id) : NULL;
}

int ss_contact(struct store *s, int64_t id, struct store_contact *c)
{
	struct got g = {.rc = -9, .out = c};
	memset(c, 0, sizeof(*c));
	store_contact_get(s, id, got_contact, &g);
	ss_wait(&g.answered);
	return g.rc;
}

void ss_contact_free(struct store_contact *c)
{
	free((char *)c->name);
	free((char *)c->email);
	free((char *)c->handle);
	free((char *)c->platform);
	free((char *)c->external_id);
	memset(c, 0, sizeof(*c));
}

static void got_contact_ids(void *arg, int rc, const struct store_contact *v, size_t n)
{
	struct got *g = arg;
	int64_t *ids = g->out;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : (int)n;
	for (size_t i = 0; rc == 0 && i < n && i < g->n; i++)
		ids[i] = v[i].id;
}

long ss_contact_search(struct store *s, const char *text, int64_t *ids, size_t max)
{
	struct got g = {.rc = -9, .out = ids, .n = max};
	store_contact_search(s, text, max, got_contact_ids, &g);
	ss_wait(&g.answered);
	return g.rc;
}

long ss_contact_ticket_ids(struct store *s, int64_t id, int64_t *ids, size_t max)
{
	struct got g = {.rc = -9, .out = ids, .n = max};
	store_contact_tickets(s, id, max, NULL, got_ids, &g);
	ss_wait(&g.answered);
	return g.rc;
}

int ss_contact_rename(struct store *s, int64_t id, const char *name)
{
	SYNC_RC(store_contact_rename(s, id, name, got_rc, &g));
}

static void got_team(void *arg, int rc, const struct store_team_item *v, size_t n)
{
	struct got *g = arg;
	char(*out)[128] = g->out;
	g->answered = 1;
	g->rc = rc < 0 ? -1 : (int)n;
	for (size_t i = 0; rc == 0 && i < n && i < g->n; i++)
		snprintf(out[i], 128, "%s=%s", v[i].key, v[i].value);
}

long ss_team(struct store *s, const char *kind, char out[][128], size_t max)
{
	struct got g = {.rc = -9, .out = out, .n = max};
	store_team_list(s, kind, got_team, &g);
	ss_wait(&g.answered);
	return g.rc;
}
