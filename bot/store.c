/*
 * store.c - the store's operations (store.h) handed to the backend that
 * store_open chose (store/backend.h): SQLite for store.path, PostgreSQL for
 * store.url.  What every backend would check the same way is checked here,
 * once, before the backend sees it; what every backend hands out the same
 * way (row and ticket copies, idempotency keys) is made here.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "store/backend.h"
#include "util.h"

struct store *store_open(const struct store_conf *conf, char *err, size_t errn)
{
	if (conf->url && *conf->url)
		return store_pg_open(conf, err, errn);
	return store_sqlite_open(conf, err, errn);
}

struct store *store_open_config(const struct config *cfg, struct uv_loop_s *loop, char *err, size_t errn)
{
	char url[CONFIG_SECRET_MAX + 1];
	int pg = config_store_url(cfg, url, sizeof(url), err, errn);
	if (pg < 0)
		return NULL;
	struct store_conf sc = {
	    .path = cfg->store_path,
	    .url = pg ? url : NULL,
	    .sync_full = cfg->store_sync_full,
	    .loop = loop,
	    .node = cfg->store_node,
	    .lease_seconds = (int)cfg->store_lease,
	    .min_free = cfg->store_min_free,
	};
	struct store *s = store_open(&sc, err, errn);
	explicit_bzero(url, sizeof(url));
	return s;
}

void store_stop(struct store *s)
{
	if (s)
		s->be->stop(s);
}

void store_close(struct store *s)
{
	if (s)
		s->be->close(s);
}

const char *store_where(const struct store *s)
{
	return s->be->where(s);
}

const char *store_backend_name(const struct store *s)
{
	return s->be->name;
}

int store_dirty(const struct store *s)
{
	return s->be->dirty(s);
}

size_t store_committing(const struct store *s)
{
	return s->be->committing(s);
}

void store_commit(struct store *s, store_done_fn done, void *arg)
{
	s->be->commit(s, done, arg);
}

int store_commit_sync(struct store *s)
{
	return s->be->commit_sync(s);
}

void store_rollback(struct store *s)
{
	s->be->rollback(s);
}

int store_external_change(struct store *s)
{
	return s->be->external_change(s);
}

void store_prune(struct store *s, const struct store_retention *r, time_t now, size_t batch,
                 store_pruned_fn cb, void *arg)
{
	s->be->prune(s, r, now, batch, cb, arg);
}

static const char *const health_names[] = {"ok", "low_space", "full", "failing"};

const char *store_health_name(enum store_health_state st)
{
	return (unsigned)st < ARRAY_LEN(health_names) ? health_names[st] : "failing";
}

void store_health(const struct store *s, struct store_health *h)
{
	s->be->health(s, h);
}

int store_takes_work(const struct store *s)
{
	struct store_health h;
	s->be->health(s, &h);
	return h.state == STORE_OK;
}

void store_on_timing(struct store *s, void (*fn)(void *arg, enum store_timing t, double seconds), void *arg)
{
	s->be->on_timing(s, fn, arg);
}

/* --- posts and threads ------------------------------------------------------------ */

static int key_ok(const char *k)
{
	return k && *k && strlen(k) <= STORE_MAX_KEY;
}

void store_lookup(struct store *s, const char *platform, const char *post_id, const char *thread_key,
                  store_lookup_fn cb, void *arg)
{
	s->be->lookup(s, platform, post_id, thread_key, cb, arg);
}

void store_thread_get(struct store *s, const char *platform, const char *thread_key, store_thread_fn cb,
                      void *arg)
{
	s->be->thread_get(s, platform, thread_key, cb, arg);
}

void store_record_post(struct store *s, const struct store_record *r, store_recorded_fn cb, void *arg)
{
	const struct post *p = r->post;
	if (!p->platform || !key_ok(p->post_id) || !key_ok(p->thread_key) || !r->thread ||
	    (p->client_id && strlen(p->client_id) > STORE_MAX_KEY)) {
		log_warn("post refused by the store", "platform=%s reason=missing_or_long_key",
		         p->platform ? p->platform : "?");
		cb(arg, -1, NULL);
		return;
	}
	s->be->record_post(s, r, cb, arg);
}

void store_history(struct store *s, const char *platform, const char *thread_key, int64_t before,
                   size_t limit, store_msgs_fn cb, void *arg)
{
	s->be->history(s, platform, thread_key, before, limit, cb, arg);
}

/* --- outbox ------------------------------------------------------------------------- */

void store_out_copy(struct store_out *dst, const struct store_out *src)
{
	*dst = *src;
	dst->connector = src->connector ? xstrdup(src->connector) : NULL;
	dst->thread_key = src->thread_key ? xstrdup(src->thread_key) : NULL;
	dst->reply_to = src->reply_to ? xstrdup(src->reply_to) : NULL;
	dst->text = src->text ? xstrdup(src->text) : NULL;
	dst->idem_key = src->idem_key ? xstrdup(src->idem_key) : NULL;
	dst->sender = src->sender ? xstrdup(src->sender) : NULL;
	dst->agent = src->agent ? xstrdup(src->agent) : NULL;
	dst->recipient = src->recipient ? xstrdup(src->recipient) : NULL;
}

void store_out_free(struct store_out *o)
{
	free(o->connector);
	free(o->thread_key);
	free(o->reply_to);
	free(o->text);
	free(o->idem_key);
	free(o->sender);
	free(o->agent);
	free(o->recipient);
	memset(o, 0, sizeof(*o));
}

void store_outbox_pending(struct store *s, store_rows_fn cb, void *arg)
{
	s->be->outbox_pending(s, cb, arg);
}

void store_outbox_claim(struct store *s, const struct store_out *o, store_done_fn cb, void *arg)
{
	s->be->outbox_claim(s, o, cb, arg);
}

int store_outbox_sent(struct store *s, int64_t id, time_t now)
{
	return s->be->outbox_sent(s, id, now);
}

int store_outbox_retry(struct store *s, int64_t id, int attempts, int64_t not_before_ms, const char *error)
{
	return s->be->outbox_retry(s, id, attempts, not_before_ms, error);
}

int store_outbox_failed(struct store *s, int64_t id, int attempts, const char *error)
{
	return s->be->outbox_failed(s, id, attempts, error);
}

int store_outbox_cancel(struct store *s, int64_t id, const char *why)
{
	return s->be->outbox_cancel(s, id, why);
}

int store_outbox_release(struct store *s, int64_t id)
{
	return s->be->outbox_release(s, id);
}

void store_outbox_notify(struct store *s, const char *connector, const char *payload, const char *idem_key,
                         int64_t not_before_ms, time_t now, store_row_fn cb, void *arg)
{
	if (!key_ok(connector) || !key_ok(idem_key) || !payload) {
		log_warn("notification refused by the store", "reason=missing_or_long_key%s", "");
		cb(arg, -1, NULL);
		return;
	}
	s->be->outbox_notify(s, connector, payload, idem_key, not_before_ms, now, cb, arg);
}

void store_outbox_counts(struct store *s, store_counts_fn cb, void *arg)
{
	s->be->outbox_counts(s, cb, arg);
}

void store_idem_key(char out[24], const char *a, const char *b, uint64_t n)
{
	struct buf k;
	buf_init(&k, 0);
	buf_printf(&k, "%s%c%s%c%llu", a, 0, b, 0, (unsigned long long)n);
	snprintf(out, 24, "fd%016llx", (unsigned long long)hash64(k.p, k.len));
	buf_free(&k);
}

const char *store_bounded(const char *v, size_t max)
{
	return v && *v && strlen(v) <= max ? v : NULL;
}

const char *const *store_split_lines(const char *v, size_t *n)
{
	*n = 0;
	if (!v || !*v)
		return NULL;
	size_t count = 1;
	for (const char *p = v; *p; p++)
		count += *p == '\n';
	char **out = xcalloc(count + 1, sizeof(*out));
	const char *p = v;
	for (size_t i = 0; i < count; i++) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		out[i] = xstrndup(p, len);
		p = e ? e + 1 : p + len;
	}
	*n = count;
	return (const char *const *)out;
}

const char *store_author_of(const struct post *p)
{
	if (p->author_handle && *p->author_handle)
		return p->author_handle;
	if (p->author_name && *p->author_name)
		return p->author_name;
	return p->author_id;
}

/* --- tickets ----------------------------------------------------------------------- */

static char *dup_or_null(const char *v)
{
	return v ? xstrdup(v) : NULL;
}

void store_ticket_copy(struct store_ticket *dst, const struct store_ticket *src)
{
	*dst = *src;
	dst->status = dup_or_null(src->status);
	dst->priority = dup_or_null(src->priority);
	dst->reason = dup_or_null(src->reason);
	dst->platform = dup_or_null(src->platform);
	dst->author = dup_or_null(src->author);
	dst->assignee = dup_or_null(src->assignee);
	dst->connector = dup_or_null(src->connector);
	dst->thread_key = dup_or_null(src->thread_key);
	dst->opening.text = dup_or_null(src->opening.text);
	dst->latest.text = dup_or_null(src->latest.text);
	dst->email = dup_or_null(src->email);
	dst->contact_name = dup_or_null(src->contact_name);
	dst->rating_comment = dup_or_null(src->rating_comment);
	if (src->n_labels) {
		char **l = xcalloc(src->n_labels + 1, sizeof(*l));
		for (size_t i = 0; i < src->n_labels; i++)
			l[i] = xstrdup(src->labels[i]);
		dst->labels = (const char *const *)l;
	}
}

void store_ticket_free(struct store_ticket *t)
{
	free((char *)t->status);
	free((char *)t->priority);
	free((char *)t->reason);
	free((char *)t->platform);
	free((char *)t->author);
	free((char *)t->assignee);
	free((char *)t->connector);
	free((char *)t->thread_key);
	free((char *)t->opening.text);
	free((char *)t->latest.text);
	free((char *)t->email);
	free((char *)t->contact_name);
	free((char *)t->rating_comment);
	for (size_t i = 0; i < t->n_labels; i++)
		free((char *)t->labels[i]);
	free((void *)t->labels);
}

void store_tickets(struct store *s, const struct store_ticket_query *q, store_tickets_fn cb, void *arg)
{
	s->be->tickets(s, q, cb, arg);
}

void store_ticket_messages(struct store *s, int64_t id, size_t limit, store_msgs_fn cb, void *arg)
{
	s->be->ticket_messages(s, id, limit, cb, arg);
}

void store_ticket_events(struct store *s, int64_t id, size_t limit, store_events_fn cb, void *arg)
{
	s->be->ticket_events(s, id, limit, cb, arg);
}

void store_queue_version(struct store *s, time_t now, store_u64_fn cb, void *arg)
{
	s->be->queue_version(s, now, cb, arg);
}

void store_ticket_claim(struct store *s, int64_t id, const char *login, time_t now, store_done_fn cb,
                        void *arg)
{
	s->be->ticket_claim(s, id, login, now, cb, arg);
}

void store_ticket_release(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
                          void *arg)
{
	s->be->ticket_release(s, id, actor, now, cb, arg);
}

void store_ticket_resolve(struct store *s, int64_t id, const char *actor, time_t now, store_done_fn cb,
                          void *arg)
{
	s->be->ticket_resolve(s, id, actor, now, cb, arg);
}

void store_ticket_mark(struct store *s, int64_t id, const char *kind, const char *detail, time_t now,
                       store_done_fn cb, void *arg)
{
	s->be->ticket_mark(s, id, kind, detail, now, cb, arg);
}

void store_agent_reply(struct store *s, int64_t id, const char *login, const char *agent_name,
                       const char *const *parts, size_t n_parts, time_t now, store_rows_fn cb, void *arg)
{
	if (n_parts > STORE_MAX_PARTS)
		n_parts = STORE_MAX_PARTS;
	s->be->agent_reply(s, id, login, agent_name, parts, n_parts, now, cb, arg);
}

/* --- the team's side of a ticket -------------------------------------------------------- */

/* A string of 1..max bytes. */
static int sized(const char *v, size_t max)
{
	return v && *v && strlen(v) <= max;
}

void store_ticket_note(struct store *s, int64_t id, const char *login, const char *text, time_t now,
                       store_done_fn cb, void *arg)
{
	if (!sized(text, STORE_MAX_NOTE) || !sized(login, STORE_MAX_NAME)) {
		log_warn("note refused by the store", "ticket=%lld reason=empty_or_long", (long long)id);
		cb(arg, -1);
		return;
	}
	s->be->ticket_note(s, id, login, text, now, cb, arg);
}

void store_ticket_label(struct store *s, int64_t id, const char *label, int on, const char *actor, time_t now,
                        store_done_fn cb, void *arg)
{
	if (!sized(label, STORE_MAX_LABEL)) {
		cb(arg, -1);
		return;
	}
	s->be->ticket_label(s, id, label, on ? 1 : 0, actor, now, cb, arg);
}

void store_ticket_priority(struct store *s, int64_t id, const char *priority, time_t due, const char *actor,
                           time_t now, store_done_fn cb, void *arg)
{
	if (priority_parse(priority) == PRIO_NONE) {
		cb(arg, -1);
		return;
	}
	s->be->ticket_priority(s, id, priority, due, actor, now, cb, arg);
}

void store_ticket_reopen(struct store *s, int64_t id, time_t due, const char *actor, time_t now,
                         store_done_fn cb, void *arg)
{
	s->be->ticket_reopen(s, id, due, actor, now, cb, arg);
}

void store_ticket_snooze(struct store *s, int64_t id, time_t until, const char *actor, time_t now,
                         store_done_fn cb, void *arg)
{
	s->be->ticket_snooze(s, id, until > 0 ? until : 0, actor, now, cb, arg);
}

int store_ticket_seen(struct store *s, int64_t id, const char *login, int64_t message_id)
{
	if (!sized(login, STORE_MAX_NAME))
		return -1;
	return s->be->ticket_seen(s, id, login, message_id);
}

void store_ticket_counts(struct store *s, const char *login, time_t now, store_ticket_counts_fn cb, void *arg)
{
	s->be->ticket_counts(s, login ? login : "", now, cb, arg);
}

void store_search(struct store *s, const struct store_search *q, store_tickets_fn cb, void *arg)
{
	struct store_search c = *q;
	if (!c.limit || c.limit > STORE_SEARCH_MAX)
		c.limit = STORE_SEARCH_MAX;
	s->be->search(s, &c, cb, arg);
}

/* --- contacts ---------------------------------------------------------------------------- */

int store_contact_update(struct store *s, const struct store_contact_info *ci, time_t now)
{
	if (!key_ok(ci->platform) || !key_ok(ci->author_id) ||
	    (ci->handle && !sized(ci->handle, STORE_MAX_CONTACT)) ||
	    (ci->name && !sized(ci->name, STORE_MAX_CONTACT)) ||
	    (ci->email && !sized(ci->email, STORE_MAX_CONTACT)) ||
	    (ci->external_id && !sized(ci->external_id, STORE_MAX_CONTACT))) {
		log_warn("contact refused by the store", "platform=%s reason=missing_or_long_field",
		         ci->platform ? ci->platform : "?");
		return -1;
	}
	return s->be->contact_update(s, ci, now);
}

void store_contact_get(struct store *s, int64_t id, store_contact_fn cb, void *arg)
{
	s->be->contact_get(s, id, cb, arg);
}

void store_contact_tickets(struct store *s, int64_t id, size_t limit, const char *viewer, store_tickets_fn cb,
                           void *arg)
{
	s->be->contact_tickets(s, id, limit, viewer, cb, arg);
}

void store_contact_rename(struct store *s, int64_t id, const char *name, store_done_fn cb, void *arg)
{
	if (!sized(name, STORE_MAX_CONTACT)) {
		cb(arg, -1);
		return;
	}
	s->be->contact_rename(s, id, name, cb, arg);
}

void store_contact_search(struct store *s, const char *text, size_t limit, store_contacts_fn cb, void *arg)
{
	s->be->contact_search(s, text ? text : "",
	                      limit && limit < STORE_SEARCH_MAX ? limit : STORE_SEARCH_MAX, cb, arg);
}

/* --- the team's own settings --------------------------------------------------------------- */

void store_team_list(struct store *s, const char *kind, store_team_fn cb, void *arg)
{
	if (!key_ok(kind)) {
		cb(arg, -1, NULL, 0);
		return;
	}
	s->be->team_list(s, kind, cb, arg);
}

int store_team_put(struct store *s, const char *kind, const char *key, const char *value, time_t now)
{
	if (!key_ok(kind) || !key_ok(key) || !value || strlen(value) > STORE_MAX_STATE) {
		log_warn("team setting refused by the store", "kind=%s reason=missing_or_long",
		         kind ? kind : "?");
		return -1;
	}
	return s->be->team_put(s, kind, key, value, now);
}

int store_team_delete(struct store *s, const char *kind, const char *key)
{
	if (!key_ok(kind) || !key_ok(key))
		return -1;
	return s->be->team_delete(s, kind, key);
}

/* --- cursors, connector state, visitors ------------------------------------------------ */

void store_cursor_get(struct store *s, const char *name, store_text_fn cb, void *arg)
{
	s->be->cursor_get(s, name, cb, arg);
}

int store_cursor_set(struct store *s, const char *name, const char *value, time_t now)
{
	if (!key_ok(name) || !value || strlen(value) > STORE_MAX_STATE) {
		log_warn("cursor refused by the store", "reason=missing_or_long_value%s", "");
		return -1;
	}
	return s->be->cursor_set(s, name, value, now);
}

static int state_key_ok(const char *connector, const char *kind, const char *key)
{
	return key_ok(connector) && key_ok(kind) && key_ok(key);
}

void store_state_get(struct store *s, const char *connector, const char *kind, const char *key,
                     store_state_fn cb, void *arg)
{
	if (!state_key_ok(connector, kind, key)) {
		log_warn("connector state refused", "reason=missing_or_long_key kind=%s", kind ? kind : "?");
		cb(arg, -1, NULL);
		return;
	}
	s->be->state_get(s, connector, kind, key, cb, arg);
}

int store_state_put(struct store *s, const char *connector, const char *kind, const char *key,
                    const char *thread_key, const char *value, time_t now)
{
	if (!state_key_ok(connector, kind, key) || (thread_key && strlen(thread_key) > STORE_MAX_KEY) ||
	    !value || strlen(value) > STORE_MAX_STATE) {
		log_warn("connector state refused", "reason=missing_or_long_value kind=%s",
		         kind ? kind : "?");
		return -1;
	}
	return s->be->state_put(s, connector, kind, key, thread_key && *thread_key ? thread_key : NULL, value,
	                        now);
}

int store_state_delete(struct store *s, const char *connector, const char *kind, const char *key)
{
	if (!state_key_ok(connector, kind, key))
		return -1;
	return s->be->state_delete(s, connector, kind, key);
}

int store_state_prune(struct store *s, const char *connector, const char *kind, time_t before)
{
	if (!state_key_ok(connector, kind, "-"))
		return -1;
	return s->be->state_prune(s, connector, kind, before);
}

void store_visitor_find(struct store *s, const char *token, time_t now, store_visitor_fn cb, void *arg)
{
	if (!key_ok(token)) {
		cb(arg, 1, NULL);
		return;
	}
	s->be->visitor_find(s, token, now, cb, arg);
}

void store_visitor_of_thread(struct store *s, const char *thread_key, store_visitor_fn cb, void *arg)
{
	if (!key_ok(thread_key)) {
		cb(arg, 1, NULL);
		return;
	}
	s->be->visitor_of_thread(s, thread_key, cb, arg);
}

int store_reply_note(struct store *s, int64_t message_id, const char *kind, const char *detail, time_t now)
{
	if (!kind || !*kind || (detail && strlen(detail) > STORE_MAX_KEY))
		return -1;
	return s->be->reply_note(s, message_id, kind, detail, now);
}

int store_visitor_add(struct store *s, const char *token, const char *thread_key, time_t now)
{
	if (!key_ok(token) || !key_ok(thread_key))
		return -1;
	return s->be->visitor_add(s, token, thread_key, now);
}

int store_visitor_set_email(struct store *s, const char *token, const char *thread_key, const char *email,
                            time_t now)
{
	if (!key_ok(token) || !key_ok(thread_key) || !email || strlen(email) > STORE_MAX_KEY)
		return -1;
	return s->be->visitor_set_email(s, token, thread_key, email, now);
}

/* --- what the team taught ----------------------------------------------------------------- */

void store_taught_list(struct store *s, store_taught_fn cb, void *arg)
{
	s->be->taught_list(s, cb, arg);
}

void store_teach(struct store *s, const struct store_taught *t, time_t now, store_taught_fn cb, void *arg)
{
	if (!t || !key_ok(t->rule) || !t->text || !*t->text || strlen(t->text) > STORE_MAX_TAUGHT_TEXT ||
	    (t->by && strlen(t->by) > STORE_MAX_NAME)) {
		cb(arg, -1, NULL, 0);
		return;
	}
	s->be->teach(s, t, now, cb, arg);
}

void store_untaught(struct store *s, int64_t id, store_done_fn cb, void *arg)
{
	if (id <= 0) {
		cb(arg, 1);
		return;
	}
	s->be->untaught(s, id, cb, arg);
}

void store_unanswered(struct store *s, time_t since, size_t limit, store_questions_fn cb, void *arg)
{
	if (limit == 0 || limit > STORE_MAX_QUESTIONS)
		limit = STORE_MAX_QUESTIONS;
	s->be->unanswered(s, since, limit, cb, arg);
}

int store_rating_put(struct store *s, int64_t ticket_id, int score, const char *comment, time_t now)
{
	if (ticket_id <= 0 || score < 1 || score > 5 || (comment && strlen(comment) > STORE_MAX_TAUGHT_TEXT))
		return -1;
	return s->be->rating_put(s, ticket_id, score, comment, now);
}

void store_rating_ask(struct store *s, int64_t id, const char *const *parts, size_t n_parts, time_t now,
                      store_rows_fn cb, void *arg)
{
	if (id <= 0 || n_parts == 0 || n_parts > STORE_MAX_PARTS) {
		cb(arg, -1, NULL, 0);
		return;
	}
	/* A backend without the satisfaction question: it is not asked. */
	if (!s->be->rating_ask) {
		cb(arg, 1, NULL, 0);
		return;
	}
	s->be->rating_ask(s, id, parts, n_parts, now, cb, arg);
}

void store_rating_answer(struct store *s, const char *platform, const char *thread_key, int64_t ticket,
                         int score, const char *comment, time_t asked_since, time_t now, store_done_fn cb,
                         void *arg)
{
	if (!platform || !thread_key || !sized(thread_key, STORE_MAX_KEY) || score < 1 || score > 5 ||
	    (comment && strlen(comment) > STORE_MAX_TAUGHT_TEXT)) {
		cb(arg, -1);
		return;
	}
	if (!s->be->rating_answer) {
		cb(arg, 1);
		return;
	}
	s->be->rating_answer(s, platform, thread_key, ticket, score, comment, asked_since, now, cb, arg);
}

void store_report(struct store *s, time_t since, time_t until, time_t origin, long period, store_report_fn cb,
                  void *arg)
{
	if (period <= 0 || until <= since) {
		struct store_report none = {0};
		cb(arg, period <= 0 ? -1 : 0, &none);
		return;
	}
	s->be->report(s, since, until, origin, period, cb, arg);
}

/* --- leadership ------------------------------------------------------------------------ */

struct store_leader *store_leader_watch(struct store *s, const char *name, store_leader_fn cb, void *arg)
{
	if (!key_ok(name) || !cb)
		return NULL;
	struct store_leader *l = xcalloc(1, sizeof(*l));
	l->s = s;
	l->name = xstrdup(name);
	l->cb = cb;
	l->arg = arg;
	/* A key for the name that every process computes alike. */
	l->key = (int64_t)(hash64(name, strlen(name)) & 0x7fffffffffffffffULL);
	s->be->leader_watch(s, l);
	return l;
}

void store_leader_set(struct store_leader *l, int leading)
{
	leading = leading ? 1 : 0;
	if (l->leading == leading)
		return;
	l->leading = leading;
	log_info(leading ? "leading here" : "no longer leading here", "name=%s store=%s", l->name,
	         l->s->be->name);
	l->cb(l->arg, leading);
}

void store_leader_cancel(struct store_leader *l)
{
	if (!l)
		return;
	l->s->be->leader_cancel(l->s, l);
	free(l->name);
	free(l);
}
