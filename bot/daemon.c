/*
 * daemon.c - the running bot (see daemon.h): start-up, the per-post path
 * through the store's asynchronous operations, one group commit per loop
 * iteration (how a group becomes durable is the store's business), reload
 * and graceful stop.
 */
#include "daemon.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "connector.h"
#include "dashboard.h"
#include "hours.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "outbox.h"
#include "pipeline.h"
#include "retention.h"
#include "rules.h"
#include "server.h"
#include "sla.h"
#include "store.h"
#include "taught.h"
#include "util.h"

#define BATCH_MAX 4096 /* posts per group before an early commit */
#define POLL_MS   250  /* how often to look for other processes' writes */
#define FLUSH_MS  5    /* longest a lone transaction of delivery marks stays open */

/* A post recorded in the open group, acknowledged after its commit. */
struct ack {
	struct connector *c;
	void *cookie;
	enum post_status status;
	int64_t message_id;
	time_t ts;
	char *client_id;
	int64_t ticket_id;
};

/*
 * What a group of writes must release once the store reports it durable:
 * acknowledgements of its posts, its outbox rows (as written), the tickets
 * it touched (dashboard).  The daemon fills one while the group is open and
 * hands it to store_commit as the callback's argument.
 */
struct group {
	struct daemon *d;
	struct ack *acks;
	size_t nacks, capacks;
	struct store_out *rows;
	size_t nrows, caprows;
	int64_t *tickets;
	size_t ntickets, captickets;
	int rescan; /* re-read every pending outbox row after it */
	struct then {
		store_done_fn fn;
		void *arg;
	} * then; /* told the group's outcome after it was settled */
	size_t nthen;
};

struct daemon;
static enum store_health_state store_state_of(struct daemon *d);

struct daemon {
	const char *config_path;
	struct engine *boot;   /* the start-up engine: connectors borrow its config */
	struct engine *engine; /* the current one (boot, or the last good reload) */
	struct store *store;
	struct loop loop;
	int loop_ready;
	struct server *server;
	struct metrics *metrics;
	struct outbox *outbox;
	struct connector **conns;
	size_t nconns;
	struct notifier *notifier;   /* notification sinks (start-up config) */
	struct sla *sla;             /* response-target timers */
	struct retention *retention; /* store.retention's prune */
	struct dashboard *dash;
	struct connector_host host; /* what connectors and notification sinks borrow */

	uv_check_t commit_check;
	uv_timer_t poll_timer;
	uv_timer_t flush_timer;
	int handles;

	struct group *open; /* what the open group releases, NULL when empty */
	size_t posts_open;  /* posts recorded in the open group */

	int stopping;
	struct reload *reload; /* a reload being read off the loop, or NULL */
	int reload_again;      /* SIGHUP came during it: read once more after */
	struct taught taught;  /* what the team taught, as last read from the store:
	                          learned at every load; a reload's worker reads it */
	int booting;           /* start-up: the store answers taught_list now or later */

	struct metric *m_posts, *m_decisions, *m_dups, *m_commit, *m_commit_fail, *m_batch, *m_sync,
	    *m_ratings;
	struct metric *m_refused;
};

static enum store_health_state store_state_of(struct daemon *d)
{
	struct store_health h;
	store_health(d->store, &h);
	return h.state;
}

/* --- what the daemon lends its connectors (connector.h) ------------------------ */

static const struct config *host_config(void *arg)
{
	struct daemon *d = arg;
	return d->engine->cfg;
}

static int host_stopping(void *arg)
{
	struct daemon *d = arg;
	return d->stopping;
}

static struct connector *find_connector(void *arg, const char *name)
{
	struct daemon *d = arg;
	for (size_t i = 0; i < d->nconns; i++)
		if (strcmp(d->conns[i]->name, name) == 0)
			return d->conns[i];
	return d->notifier ? notify_find(d->notifier, name) : NULL;
}

static void flush_soon(struct daemon *d);

static void host_send_done(void *arg, struct connector *c, int64_t outbox_id, enum send_result r,
                           long retry_after, const char *detail)
{
	struct daemon *d = arg;
	(void)c;
	outbox_done(d->outbox, outbox_id, r, retry_after, detail);
	flush_soon(d); /* the outcome is written: commit it before long */
}

/* An agent's message its web chat visitor was not there to read: by e-mail
 * too, with a note on the ticket, in the open group. */
static int host_mail_away(void *arg, struct connector *c, const struct connector_mail *m)
{
	struct daemon *d = arg;
	if (!d->notifier || d->stopping)
		return -1;
	time_t now = connector_now(c);
	int rc = notify_customer_reply(d->notifier, m, now);
	if (rc > 0 && store_reply_note(d->store, m->message_id, "emailed", m->to, now) < 0)
		return -1;
	return rc < 0 ? -1 : 0;
}

/* A customer is typing: the team sees it beside the conversation. */
static void host_typing(void *arg, struct connector *c, const char *thread_key, int on)
{
	struct daemon *d = arg;
	if (d->dash && !d->stopping)
		dashboard_typing(d->dash, c->name, thread_key, on);
}

/* --- the per-post path --------------------------------------------------- */

/* The group being filled (created on first use). */
static struct group *open_group(struct daemon *d)
{
	if (!d->open) {
		d->open = xcalloc(1, sizeof(*d->open));
		d->open->d = d;
	}
	return d->open;
}

static void group_free(struct group *g)
{
	for (size_t i = 0; i < g->nacks; i++)
		free(g->acks[i].client_id);
	for (size_t i = 0; i < g->nrows; i++)
		store_out_free(&g->rows[i]);
	free(g->acks);
	free(g->rows);
	free(g->tickets);
	free(g->then);
	free(g);
}

static void push_ack(struct daemon *d, struct connector *c, void *cookie, enum post_status st, int64_t mid,
                     time_t ts, const char *client_id, int64_t ticket_id)
{
	struct group *g = open_group(d);
	if (g->nacks == g->capacks) {
		g->capacks = g->capacks ? g->capacks * 2 : 64;
		g->acks = xrealloc(g->acks, g->capacks * sizeof(*g->acks));
	}
	g->acks[g->nacks++] = (struct ack){
	    .c = c,
	    .cookie = cookie,
	    .status = st,
	    .message_id = mid,
	    .ts = ts,
	    .client_id = client_id ? xstrdup(client_id) : NULL,
	    .ticket_id = ticket_id,
	};
}

/* An outbox row written in the open group: delivered once it is durable. */
static void push_row(struct daemon *d, const struct store_out *row)
{
	struct group *g = open_group(d);
	if (g->nrows == g->caprows) {
		g->caprows = g->caprows ? g->caprows * 2 : 64;
		g->rows = xrealloc(g->rows, g->caprows * sizeof(*g->rows));
	}
	store_out_copy(&g->rows[g->nrows++], row);
}

static void push_ticket(struct daemon *d, int64_t id)
{
	struct group *g = open_group(d);
	if (g->ntickets && g->tickets[g->ntickets - 1] == id)
		return;
	if (g->ntickets == g->captickets) {
		g->captickets = g->captickets ? g->captickets * 2 : 16;
		g->tickets = xrealloc(g->tickets, g->captickets * sizeof(*g->tickets));
	}
	g->tickets[g->ntickets++] = id;
}

/* One line per post (which rule, what happened), never its text; the text
 * and the reply only at debug level. */
static void log_decision(const struct post *p, const struct decision *dec, const struct store_recorded *rec)
{
	struct buf id;
	buf_init(&id, 0);
	log_quote(&id, p->post_id); /* platform ids may hold anything */
	log_info("post",
	         "connector=%s post=%s action=%s rule=%s reason=%s ignored=%s ticket=%lld replies=%zu",
	         p->connector ? p->connector : p->platform, id.p,
	         dec->ignored ? "ignore" : action_name(dec->action), dec->rule ? dec->rule : "-",
	         dec->reason ? dec->reason : "-", dec->ignored ? dec->ignored : "-",
	         (long long)rec->ticket_id, rec->n_outbox);
	if (log_threshold <= LOG_DEBUG) {
		struct buf b;
		buf_init(&b, 0);
		buf_puts(&b, "text=");
		log_quote(&b, p->text ? p->text : "");
		if (dec->reply) {
			buf_puts(&b, " reply=");
			log_quote(&b, dec->reply);
		}
		log_debug("post text", "post=%s %s", id.p, b.p);
		buf_free(&b);
	}
	buf_free(&id);
}

/*
 * One post on its way through the store: looked up, decided, recorded.
 * The store may answer each step later, so the post's strings are copied
 * (into `copy`) when the first step did not complete at once.
 */
struct take {
	struct daemon *d;
	struct connector *c;
	void *cookie;
	struct post post; /* strings borrowed from the connector, or from copy */
	char *copy;
	int *answered; /* set when the lookup completes inside the caller's call */
	int done;      /* 2 once the decision (dec, json) is held */
	int again;     /* times the thread changed under the decision (rc 2) */
	time_t now;
	struct store_thread thread;
	struct decision dec;
	struct buf json;
	char *parts[STORE_MAX_PARTS];
	size_t nparts;
	char *pointer; /* the "take it offline" pointer, cut to the platform's limit */
};

/* Forget the decision taken for k (its post stays). */
static void take_undecide(struct take *k)
{
	for (size_t i = 0; i < k->nparts; i++)
		free(k->parts[i]);
	k->nparts = 0;
	free(k->pointer);
	k->pointer = NULL;
	if (k->done == 2) {
		buf_free(&k->json);
		decision_free(&k->dec);
	}
	k->done = 0;
}

static void take_free(struct take *k)
{
	take_undecide(k);
	free(k->copy);
	free(k);
}

/* Copy every string of k->post into one allocation it then points into. */
static void take_keep(struct take *k)
{
	const char **f[] = {&k->post.platform,      &k->post.connector,   &k->post.post_id,
	                    &k->post.thread_key,    &k->post.reply_to_id, &k->post.author_id,
	                    &k->post.author_handle, &k->post.author_name, &k->post.channel,
	                    &k->post.text,          &k->post.client_id};
	size_t len = 0, at = 0;
	for (size_t i = 0; i < ARRAY_LEN(f); i++)
		len += *f[i] ? strlen(*f[i]) + 1 : 0;
	k->copy = xmalloc(len ? len : 1);
	for (size_t i = 0; i < ARRAY_LEN(f); i++) {
		if (!*f[i])
			continue;
		size_t n = strlen(*f[i]) + 1;
		memcpy(k->copy + at, *f[i], n);
		*f[i] = k->copy + at;
		at += n;
	}
}

static void looked_up(void *arg, int rc, const struct store_lookup *l);

/* Another post of the thread, or another process sharing the store,
 * changed the thread between the lookup and the record: decide again on
 * the thread as it is now.  A post that keeps losing that race is given
 * back to its connector as not stored. */
#define TAKE_AGAIN_MAX 8

static void recorded(void *arg, int rc, const struct store_recorded *rec)
{
	struct take *k = arg;
	struct daemon *d = k->d;
	const struct post *p = &k->post;
	int64_t mid = 0;

	if (rc == 2 && k->again < TAKE_AGAIN_MAX && !d->stopping) {
		k->again++;
		take_undecide(k);
		/* The post's strings are still valid here (borrowed or kept);
		 * the next lookup may answer after the connector's call ended. */
		if (!k->copy)
			take_keep(k);
		store_lookup(d->store, p->platform, p->post_id, p->thread_key, looked_up, k);
		return;
	}
	if (rc == 2) {
		log_warn("post not recorded: its conversation kept changing under the decision",
		         "connector=%s tries=%d", p->connector ? p->connector : p->platform, k->again + 1);
		rc = -1;
	}
	if (rc == 0) {
		for (size_t i = 0; i < rec->n_outbox; i++)
			push_row(d, &rec->rows[i]);
		/* Notifications join the same group; a failure there is logged
		 * and does not undo the post. */
		if (d->notifier)
			notify_post_recorded(d->notifier, &k->thread, &k->dec, rec, k->now);
		if (rec->ticket_id) {
			push_ticket(d, rec->ticket_id);
			if (d->sla)
				sla_changed(d->sla, rec->ticket_id);
		}
		mid = rec->message_id;
		log_decision(p, &k->dec, rec);
		metric_add_l(d->m_decisions, 1, k->dec.ignored ? "ignore" : action_name(k->dec.action),
		             k->dec.reason ? k->dec.reason : "", k->dec.rule ? k->dec.rule : "");
		if (k->dec.rating > 0) {
			/* The answer to the satisfaction question: the rated ticket changed. */
			char score[4];
			snprintf(score, sizeof(score), "%d", k->dec.rating % 10);
			metric_add_l(d->m_ratings, 1, p->channel ? p->channel : p->platform, score);
			push_ticket(d, k->thread.rating_ticket);
		}
	}
	/* rc 1: another writer stored this post first; it is theirs to answer. */
	push_ack(d, k->c, k->cookie,
	         rc == 0   ? POST_STORED
	         : rc == 1 ? POST_DUPLICATE
	                   : POST_FAILED,
	         mid, k->now, p->client_id, rc == 0 ? rec->ticket_id : 0);
	if (rc == 1)
		metric_inc(d->m_dups);
	take_free(k);
	if (++d->posts_open >= BATCH_MAX)
		daemon_commit(d);
}

/* The store said whether the post is new and what its thread is: decide. */
static void looked_up(void *arg, int rc, const struct store_lookup *l)
{
	struct take *k = arg;
	struct daemon *d = k->d;
	struct engine *e = d->engine;
	const struct post *p = &k->post;
	struct thread_state st;

	if (k->answered)
		*k->answered = 1;
	k->answered = NULL;
	if (rc < 0 || l->duplicate) {
		if (rc == 0)
			metric_inc(d->m_dups);
		push_ack(d, k->c, k->cookie, rc < 0 ? POST_FAILED : POST_DUPLICATE,
		         rc < 0 ? 0 : l->message_id, rc < 0 ? k->now : l->ts, p->client_id,
		         rc < 0 ? 0 : l->thread.ticket_id);
		take_free(k);
		return;
	}
	k->thread = l->thread;
	memset(&st, 0, sizeof(st));
	st.owner = l->thread.owner;
	st.ticket_id = l->thread.ticket_id;
	st.ticket_due = l->thread.ticket_due;
	st.last_ack = l->thread.last_ack;
	st.last_waiting_notice = l->thread.last_waiting_notice;
	st.ticket_private = l->thread.ticket_private;
	st.rating_ticket = l->thread.rating_ticket;
	st.rating_asked = l->thread.rating_asked;
	st.rating_next = l->thread.rating_next;
	if (l->thread.assignee[0]) {
		const struct agent_conf *a = config_agent(e->cfg, l->thread.assignee);
		st.agent = a && a->name ? a->name : l->thread.assignee;
	}
	pipeline_decide(e, p, &st, k->now, &k->dec);
	buf_init(&k->json, 0);
	k->done = 2;
	decision_json(e, &k->dec, p->post_id, &k->json);
	if (k->dec.reply)
		k->nparts = outbox_split(k->dec.reply, k->c->ops->max_text, k->parts, STORE_MAX_PARTS);
	if (k->dec.pointer && outbox_split(k->dec.pointer, k->c->ops->max_text, &k->pointer, 1) == 0)
		k->pointer = NULL;

	struct store_record r = {
	    .post = p,
	    .decision = &k->dec,
	    .decision_json = k->json.p,
	    .parts = (const char *const *)k->parts,
	    .n_parts = k->nparts,
	    .pointer = k->pointer,
	    .now = k->now,
	    .thread = &k->thread,
	};
	store_record_post(d->store, &r, recorded, k);
}

/* connector_deliver_post lands here once the post passed its checks. */
static int host_deliver(void *arg, struct connector *c, const struct post *p, void *cookie)
{
	struct daemon *d = arg;

	if (d->stopping || !d->store)
		return -1;
	metric_add_l(d->m_posts, 1, c->name);
	/* A store that cannot write (or is low on space) takes no new work:
	 * the post is answered "not stored" with the next group, nothing of it
	 * written, so every connector goes the way it goes when a commit
	 * fails (the web chat says "send it again" and the widget does; a
	 * platform's post is fetched again from its cursor); the store's log
	 * says why. */
	if (!store_takes_work(d->store)) {
		metric_add_l(d->m_refused, 1, store_health_name(store_state_of(d)));
		push_ack(d, c, cookie, POST_FAILED, 0, connector_now(c), p->client_id, 0);
		return 0;
	}
	struct take *k = xcalloc(1, sizeof(*k));
	k->d = d;
	k->c = c;
	k->cookie = cookie;
	k->post = *p;
	k->now = connector_now(c);
	int answered = 0;
	k->answered = &answered;
	store_lookup(d->store, p->platform, p->post_id, p->thread_key, looked_up, k);
	/* Answered at once: k may be gone already.  Otherwise the lookup runs
	 * on, and the post must outlive the connector's call. */
	if (!answered) {
		k->answered = NULL;
		take_keep(k);
	}
	return 0;
}

/* --- group commit ----------------------------------------------------------- */

static void flush_cb(uv_timer_t *h);

/*
 * Release a group that is durable (rc 0) or lost (rc -1): hand its rows to
 * the outbox, tell the dashboard, acknowledge its posts to their
 * connectors.
 */
static void settle(struct daemon *d, struct group *g, int rc)
{
	if (g->nacks)
		metric_observe(d->m_batch, (double)g->nacks);
	if (rc == 0) {
		for (size_t i = 0; i < g->nrows; i++)
			outbox_add(d->outbox, &g->rows[i]);
		for (size_t i = 0; d->dash && i < g->ntickets; i++)
			dashboard_notify_change(d->dash, g->tickets[i]);
	} else {
		log_error("commit failed: posts of this group are not acknowledged", "posts=%zu", g->nacks);
		metric_inc(d->m_commit_fail);
		/* What the timers and views believed of the group is gone. */
		g->rescan = 1;
		if (d->sla)
			sla_changed(d->sla, 0);
		if (d->dash)
			dashboard_notify_change(d->dash, 0);
	}
	/* A post_done may write (a cursor): that goes into the next group. */
	for (size_t i = 0; i < g->nacks; i++) {
		struct ack *a = &g->acks[i];
		struct post_ack pa = {
		    .status = rc == 0 ? a->status : POST_FAILED,
		    .message_id = rc == 0 ? a->message_id : 0,
		    .ts = a->ts,
		    .client_id = a->client_id,
		    .ticket_id = rc == 0 ? a->ticket_id : 0,
		};
		if (a->c->ops->post_done && d->handles)
			a->c->ops->post_done(a->c, a->cookie, &pa);
	}
}

/* Writes that wait for no one (delivery marks, cursors) are committed
 * within FLUSH_MS if no other group carries them first.  A crash before
 * that re-sends those rows with their idempotency keys. */
static void flush_soon(struct daemon *d)
{
	if (store_dirty(d->store) && !uv_is_active((uv_handle_t *)&d->flush_timer) && d->handles)
		uv_timer_start(&d->flush_timer, flush_cb, FLUSH_MS, 0);
}

/* What follows every settled group: deliver, schedule the flush. */
static void after_settle(struct daemon *d, int rescan)
{
	if (rescan)
		outbox_reload(d->outbox);
	outbox_run(d->outbox);
	flush_soon(d);
}

/* The store reported group g durable (0) or lost (-1). */
static void group_done(void *arg, int rc)
{
	struct group *g = arg;
	struct daemon *d = g->d;
	settle(d, g, rc);
	for (size_t i = 0; i < g->nthen; i++)
		g->then[i].fn(g->then[i].arg, rc);
	int rescan = g->rescan;
	group_free(g);
	after_settle(d, rescan);
}

int daemon_commit(struct daemon *d)
{
	if (!d->store || (!d->open && !store_dirty(d->store)))
		return 0;
	struct group *g = open_group(d);
	d->open = NULL;
	d->posts_open = 0;
	store_commit(d->store, group_done, g);
	return 0;
}

static void flush_cb(uv_timer_t *h)
{
	daemon_commit(h->data);
}

/*
 * Once per loop iteration: commit a group that holds something waiting for
 * it (posts to acknowledge, rows to deliver, an agent's action, a visitor).
 * A group of delivery outcomes alone rides with the next one, or the flush
 * timer commits it: an outcome lost in a crash only means a re-send with
 * the same idempotency key, and folding them halves the commits (and the
 * syncs a post waits behind) at a low rate.
 */
static void commit_cb(uv_check_t *h)
{
	struct daemon *d = h->data;
	if (d->open || store_dirty(d->store) == 2)
		daemon_commit(d);
	else
		flush_soon(d);
}

static void poll_cb(uv_timer_t *h)
{
	struct daemon *d = h->data;
	daemon_commit(d);
	int changed = store_external_change(d->store);
	if (changed > 0) {
		/* The queue CLI (another process) wrote: an agent's reply may be
		 * waiting in the outbox. */
		outbox_load(d->outbox);
		outbox_run(d->outbox);
		if (d->sla)
			sla_changed(d->sla, 0);
		if (d->dash)
			dashboard_notify_change(d->dash, 0);
		daemon_commit(d);
	}
}

/* --- health, reload, stop -------------------------------------------------- */

/* /healthz: healthy when every connector is and the store takes writes
 * ("store": its state, with what was seen when it is not ok). */
static int health_cb(struct buf *out, void *arg)
{
	struct daemon *d = arg;
	int ok = !d->stopping;
	struct store_health sh;
	store_health(d->store, &sh);
	if (sh.state != STORE_OK)
		ok = 0;
	json_t *list = json_array();
	for (size_t i = 0; i < d->nconns; i++) {
		struct connector *c = d->conns[i];
		if (c->health != HEALTH_OK && c->health != HEALTH_STANDBY)
			ok = 0;
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name, "type", c->ops->type, "health",
		                    connector_health_name(c->health), "detail", c->health_detail));
	}
	json_t *o = json_pack("{s:s, s:s, s:o}", "status",
	                      ok            ? "ok"
	                      : d->stopping ? "stopping"
	                                    : "degraded",
	                      "store", store_health_name(sh.state), "connectors", list);
	if (o && sh.state != STORE_OK)
		json_object_set_new(o, "store_detail", json_string(sh.detail));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text)
		buf_puts(out, text);
	free(text);
	json_decref(o);
	return ok;
}

static enum log_level level_parse(const char *s)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (enum log_level)i;
	return LOG_INFO;
}

/* What the configuration allows but advises against, in the log. */
static void log_warnings(const struct config *c)
{
	for (size_t i = 0; c->warnings && c->warnings[i]; i++) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, c->warnings[i]);
		log_warn("configuration warning", "warning=%s", b.p);
		buf_free(&b);
	}
}

/*
 * A reload is read on libuv's thread pool: loading the configuration, the
 * rules (phrase automata, regexes, learning from examples), the replies and
 * the lexicon can take a long time for a big rule set or a hostile file,
 * and the loop must keep serving meanwhile.  engine_load touches no loop
 * and no shared state, so it may run there; the result is applied here on
 * the loop.  One reload at a time: a SIGHUP during one asks for one more.
 */
struct reload {
	uv_work_t work;
	struct daemon *d;
	struct engine *e;
	struct diag dg;
	uint64_t started_ms;
};

static void reload_read(uv_work_t *w)
{
	struct reload *r = w->data;
	/* d->taught changes only on the loop before a reload is queued, and
	 * one reload runs at a time. */
	r->e = engine_load_ex(r->d->config_path, r->d->taught.v, r->d->taught.n, &r->dg);
}

static void start_reload(struct daemon *d);

static void reload_apply(uv_work_t *w, int status)
{
	struct reload *r = w->data;
	struct daemon *d = r->d;
	struct engine *e = r->e;
	long ms = (long)(time_mono_ms() - r->started_ms);

	d->reload = NULL;
	if (status != 0 || d->stopping) {
		/* Cancelled, or the daemon is stopping: nothing to switch to. */
		engine_free(e);
		diag_free(&r->dg);
		free(r);
		return;
	}
	if (!e) {
		/* Every error, one log line each, then one line that says the
		 * reload was refused, and keep running as we were. */
		const char *line = r->dg.out.p ? r->dg.out.p : "";
		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t n = nl ? (size_t)(nl - line) : strlen(line);
			char *one = xstrndup(line, n);
			struct buf b;
			buf_init(&b, 0);
			log_quote(&b, one);
			log_error("configuration error", "error=%s", b.p);
			buf_free(&b);
			free(one);
			line += n + (nl ? 1 : 0);
		}
		log_error("reload refused: the previous configuration keeps running", "errors=%d",
		          r->dg.errors);
	} else {
		if (e->cfg->nconnectors != d->boot->cfg->nconnectors)
			log_warn("connector changes apply at the next start", "configured=%zu running=%zu",
			         e->cfg->nconnectors, d->boot->cfg->nconnectors);
		struct engine *old = d->engine;
		d->engine = e;
		if (d->dash)
			dashboard_reload(d->dash, e->cfg, e->replies);
		if (old != d->boot)
			engine_free(old);
		if (e->cfg->log_level)
			log_threshold = level_parse(e->cfg->log_level);
		log_warnings(e->cfg);
		log_info("configuration reloaded", "path=%s load_ms=%ld taught=%zu", d->config_path, ms,
		         d->taught.n);
	}
	diag_free(&r->dg);
	free(r);
	if (d->reload_again) {
		d->reload_again = 0;
		start_reload(d);
	}
}

/* The taught examples are read (on the loop, from the store) before the
 * reload is handed to the thread pool. */
static void reload_taught(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct reload *r = arg;
	struct daemon *d = r->d;
	if (rc == 0)
		taught_from_store(&d->taught, v, n);
	else
		log_warn("taught examples not read: the last ones read are learned again", "taught=%zu",
		         d->taught.n);
	if (d->stopping || uv_queue_work(&d->loop.uv, &r->work, reload_read, reload_apply) != 0) {
		if (!d->stopping)
			log_error("reload refused: cannot start reading the configuration", "path=%s",
			          d->config_path);
		d->reload = NULL;
		d->reload_again = 0;
		diag_free(&r->dg);
		free(r);
	}
}

static void start_reload(struct daemon *d)
{
	struct reload *r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->work.data = r;
	r->started_ms = time_mono_ms();
	diag_init(&r->dg);
	d->reload = r;
	log_info("reloading: reading the configuration", "path=%s", d->config_path);
	store_taught_list(d->store, reload_taught, r);
}

/* The engine decisions use now (the dashboard's suggestions). */
static struct engine *current_engine(void *arg)
{
	return ((struct daemon *)arg)->engine;
}

/* Learn again with what the team taught (a teach or an untaught in the
 * dashboard): a reload, as SIGHUP does. */
static void relearn(void *arg)
{
	struct daemon *d = arg;
	if (d->stopping)
		return;
	if (d->reload)
		d->reload_again = 1;
	else
		start_reload(d);
}

static void on_reload(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	(void)l;
	if (d->stopping)
		return;
	if (d->reload) {
		d->reload_again = 1;
		log_info("reload already in progress: another follows it", "path=%s", d->config_path);
		return;
	}
	start_reload(d);
}

static void on_stop(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	(void)l;
	if (d->stopping)
		return;
	if (!d->store)
		return; /* start-up failed before there was anything to drain */
	log_info("stopping: intake closed, delivering what is due", "pending=%zu", outbox_pending(d->outbox));
	daemon_commit(d);
	d->stopping = 1;
	for (size_t i = 0; i < d->nconns; i++)
		if (d->conns[i]->ops->stop)
			d->conns[i]->ops->stop(d->conns[i]);
}

static int drained(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	(void)l;
	if (!d->store)
		return 1;
	daemon_commit(d);
	if (store_committing(d->store))
		return 0;
	if (!outbox_idle(d->outbox, LOOP_DRAIN_MS))
		return 0;
	if (d->notifier && !notify_idle(d->notifier))
		return 0;
	for (size_t i = 0; i < d->nconns; i++)
		if (d->conns[i]->ops->idle && !d->conns[i]->ops->idle(d->conns[i]))
			return 0;
	return 1;
}

static void on_teardown(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	(void)l;
	/* The last group, made durable here: every acknowledgement goes out
	 * before the connectors close. */
	daemon_commit(d);
	if (d->store)
		store_stop(d->store);
	for (size_t i = 0; i < d->nconns; i++)
		if (d->conns[i]->ops->close)
			d->conns[i]->ops->close(d->conns[i]);
	if (d->outbox)
		outbox_close(d->outbox);
	if (d->sla)
		sla_stop(d->sla);
	retention_stop(d->retention);
	if (d->dash)
		dashboard_stop(d->dash);
	/* A reload not yet started is dropped; one being read finishes on its
	 * thread and is then discarded (reload_apply). */
	if (d->reload && d->reload->work.loop)
		uv_cancel((uv_req_t *)&d->reload->work);
	d->reload_again = 0;
	if (d->handles) {
		uv_close((uv_handle_t *)&d->commit_check, NULL);
		uv_close((uv_handle_t *)&d->poll_timer, NULL);
		uv_close((uv_handle_t *)&d->flush_timer, NULL);
		d->handles = 0;
	}
}

/* --- what other modules get from the daemon ------------------------------------ */

/* Commit for the notifier and the SLA timers (their rows came through
 * env_queued). */
static int env_commit(void *arg)
{
	return daemon_commit(arg);
}

/* Commit for the dashboard and the connectors: done(done_arg, rc) once the
 * group is durable or lost.  An agent's claim, release, resolve or reply
 * changes response-target timers too. */
static void commit_then(void *arg, store_done_fn done, void *done_arg)
{
	struct daemon *d = arg;
	struct group *g = open_group(d);
	g->then = xrealloc(g->then, (g->nthen + 1) * sizeof(*g->then));
	g->then[g->nthen++] = (struct then){done, done_arg};
	if (d->sla)
		sla_changed(d->sla, 0);
	daemon_commit(d);
}

/* A row written by the notifier or the dashboard in the open group. */
static void env_queued(void *arg, const struct store_out *row)
{
	push_row(arg, row);
}

static int start_handoff(struct daemon *d)
{
	char err[512];
	struct notify_env ne = {
	    .loop = &d->loop,
	    .store = d->store,
	    .cfg = d->boot->cfg,
	    .metrics = d->metrics,
	    .queued = env_queued,
	    .commit = env_commit,
	    .arg = d,
	};
	d->notifier = notify_new(&ne);
	for (size_t i = 0; i < notify_sink_count(d->notifier); i++)
		notify_sink(d->notifier, i)->host = &d->host;

	struct dashboard_env de = {
	    .loop = &d->loop,
	    .server = d->server,
	    .store = d->store,
	    .cfg = d->engine->cfg,
	    .replies = d->engine->replies,
	    .metrics = d->metrics,
	    .commit = commit_then,
	    .queued = env_queued,
	    .engine = current_engine,
	    .relearn = relearn,
	    .arg = d,
	};
	d->dash = dashboard_start(&de, err, sizeof(err));
	if (!d->dash) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, err);
		log_error("dashboard failed to start", "error=%s", b.p);
		buf_free(&b);
		return -1;
	}
	return 0;
}

/* --- start and stop ---------------------------------------------------------- */

static void register_metrics(struct daemon *d)
{
	struct metrics *m = d->metrics;
	d->m_posts = metrics_counter(m, "posts_total", "Posts received, by connector.", "connector");
	d->m_decisions = metrics_counter(m, "decisions_total", "Decisions taken, by action, reason and rule.",
	                                 "action,reason,rule");
	d->m_ratings = metrics_counter(m, "satisfaction_ratings_total",
	                               "Customers' satisfaction ratings received, by channel and score.",
	                               "channel,score");
	d->m_dups =
	    metrics_counter(m, "posts_duplicate_total", "Posts received again and not decided again.", NULL);
	d->m_commit =
	    metrics_histogram(m, "store_commit_seconds", "Time to commit one group transaction.", NULL, 0);
	d->m_commit_fail =
	    metrics_counter(m, "store_commit_failures_total", "Group commits that failed.", NULL);
	static const double sizes[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
	d->m_batch = metrics_histogram(m, "store_batch_posts", "Posts per group transaction.", sizes,
	                               ARRAY_LEN(sizes));
	d->m_sync = metrics_histogram(m, "store_sync_seconds",
	                              "Time to make committed groups durable (WAL fdatasync, off the loop).",
	                              NULL, 0);
	d->m_refused =
	    metrics_counter(m, "posts_refused_total",
	                    "Posts turned away (\"try again\") because the store took no new work, by "
	                    "store state.",
	                    "state");
	metrics_add_process(m);
}

static double store_errors(void *arg)
{
	struct store_health h;
	store_health(((struct daemon *)arg)->store, &h);
	return (double)h.errors;
}

static double store_free(void *arg)
{
	struct store_health h;
	store_health(((struct daemon *)arg)->store, &h);
	return (double)h.free_bytes;
}

static double store_ok(void *arg)
{
	return store_takes_work(((struct daemon *)arg)->store) ? 1 : 0;
}

/* Store health for /metrics (once the store is open). */
static void store_metrics(struct daemon *d)
{
	struct metrics *m = d->metrics;
	metrics_counter_fn(m, "store_errors_total",
	                   "Store errors: failed statements, commits, syncs and checkpoints.", store_errors,
	                   d);
	metrics_gauge_fn(m, "store_free_bytes",
	                 "Free space of the store's file system at the last check (-1 unknown).", store_free,
	                 d);
	metrics_gauge_fn(m, "store_ok",
	                 "1 when the store takes new work, 0 when it is low on space, full or failing.",
	                 store_ok, d);
}

static void store_timing(void *arg, enum store_timing t, double seconds)
{
	struct daemon *d = arg;
	metric_observe(t == STORE_T_SYNC ? d->m_sync : d->m_commit, seconds);
}

/* At start: what the team taught, learned before anything borrows the
 * boot engine when the store answers at once (SQLite); a store that
 * answers later gets a reload instead. */
static void boot_taught(void *arg, int rc, const struct store_taught *v, size_t n)
{
	struct daemon *d = arg;
	if (!d->booting) {
		relearn(d);
		return;
	}
	if (rc != 0) {
		log_error("taught examples not read: the bot runs without them until a reload", "%s", "");
		return;
	}
	taught_from_store(&d->taught, v, n);
}

static void learn_taught(struct daemon *d)
{
	d->booting = 1;
	store_taught_list(d->store, boot_taught, d);
	d->booting = 0;
	if (!d->taught.n)
		return;
	struct diag dg;
	diag_init(&dg);
	uint64_t t0 = time_mono_ms();
	struct engine *e = engine_load_ex(d->config_path, d->taught.v, d->taught.n, &dg);
	if (e) {
		engine_free(d->boot);
		d->boot = d->engine = e;
		log_info("taught examples learned", "taught=%zu skipped=%zu load_ms=%ld", d->taught.n,
		         rules_extra_skipped(e->rules), (long)(time_mono_ms() - t0));
	} else {
		log_error("taught examples not learned: the configuration changed and is refused",
		          "errors=%d", dg.errors);
	}
	diag_free(&dg);
}

static int start_connectors(struct daemon *d)
{
	const struct config *cfg = d->boot->cfg;
	d->conns = xcalloc(cfg->nconnectors ? cfg->nconnectors : 1, sizeof(*d->conns));
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		const struct connector_conf *cc = &cfg->connectors[i];
		struct connector *c = connector_new(cc, &d->host);
		if (!c) {
			/* config.c refuses such a type: only a broken invariant gets here */
			log_error("connector type is not available in this build", "connector=%s type=%s",
			          cc->name ? cc->name : cc->type, cc->type);
			return -1;
		}
		d->conns[d->nconns++] = c;
		if (connector_start(c) < 0) {
			log_error("connector failed to start", "connector=%s", c->name);
			return -1;
		}
	}
	return 0;
}

static void daemon_free(struct daemon *d)
{
	/* The server first: connectors own data its routes borrow. */
	if (d->server)
		server_free(d->server);
	d->server = NULL;
	for (size_t i = 0; i < d->nconns; i++)
		connector_free(d->conns[i]);
	free(d->conns);
	if (d->dash)
		dashboard_free(d->dash);
	if (d->sla)
		sla_free(d->sla);
	retention_free(d->retention);
	if (d->notifier)
		notify_free(d->notifier);
	if (d->loop_ready)
		loop_free(&d->loop);
	outbox_free(d->outbox);
	store_close(d->store);
	if (d->engine != d->boot)
		engine_free(d->engine);
	engine_free(d->boot);
	taught_free(&d->taught);
	metrics_free(d->metrics);
	if (d->open)
		group_free(d->open);
}

int daemon_run(const char *config_path)
{
	struct daemon dd, *d = &dd;
	struct diag dg;
	char err[512];
	int rc = 1;

	memset(d, 0, sizeof(*d));
	d->config_path = config_path;
	/* One malloc arena for the whole process: the worker threads (WAL
	 * syncs, checkpoints, password checks) allocate little, and arenas of
	 * their own would keep what they freed resident (about 0.6 MB under
	 * load).  Before any thread exists. */
	mallopt(M_ARENA_MAX, 1);
	diag_init(&dg);
	d->boot = d->engine = engine_load(config_path, &dg);
	if (!d->boot) {
		fputs(dg.out.p ? dg.out.p : "", stderr);
		fprintf(stderr, "%s: configuration refused (%d error%s)\n", config_path, dg.errors,
		        dg.errors == 1 ? "" : "s");
		diag_free(&dg);
		return 2;
	}
	diag_free(&dg);
	if (d->boot->cfg->log_level)
		log_threshold = level_parse(d->boot->cfg->log_level);
	log_warnings(d->boot->cfg);

	d->metrics = metrics_new();
	register_metrics(d);

	struct loop_hooks hooks = {
	    .arg = d,
	    .on_stop = on_stop,
	    .drained = drained,
	    .on_teardown = on_teardown,
	    .on_reload = on_reload,
	    .metrics = d->metrics,
	};
	if (loop_init(&d->loop, &hooks) < 0) {
		daemon_free(d);
		return 1;
	}
	d->loop_ready = 1;
	d->store = store_open_config(d->boot->cfg, &d->loop.uv, err, sizeof(err));
	if (!d->store) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, err);
		log_error("cannot open the store", "error=%s", b.p);
		buf_free(&b);
		loop_stop(&d->loop);
		loop_run(&d->loop);
		daemon_free(d);
		return 1;
	}
	store_on_timing(d->store, store_timing, d);
	store_metrics(d);
	learn_taught(d);
	d->server = server_new(&d->loop);
	server_set_health(d->server, health_cb, d);
	d->outbox = outbox_new(&d->loop.uv, d->store, find_connector, d);
	d->host = (struct connector_host){
	    .arg = d,
	    .loop = &d->loop,
	    .server = d->server,
	    .store = d->store,
	    .metrics = d->metrics,
	    .config = host_config,
	    .stopping = host_stopping,
	    .deliver = host_deliver,
	    .send_done = host_send_done,
	    .commit = commit_then,
	    .mail_away = host_mail_away,
	    .typing = host_typing,
	};
	outbox_metrics(d->outbox, d->metrics);

	uv_check_init(&d->loop.uv, &d->commit_check);
	d->commit_check.data = d;
	uv_check_start(&d->commit_check, commit_cb);
	uv_timer_init(&d->loop.uv, &d->poll_timer);
	d->poll_timer.data = d;
	uv_timer_start(&d->poll_timer, poll_cb, POLL_MS, POLL_MS);
	uv_timer_init(&d->loop.uv, &d->flush_timer);
	d->flush_timer.data = d;
	d->handles = 1;

	if (start_handoff(d) < 0 || start_connectors(d) < 0) {
		loop_stop(&d->loop);
		loop_run(&d->loop);
		daemon_free(d);
		return 1;
	}
	/* Everything committed but not delivered before the last stop (or
	 * crash) goes out now. */
	outbox_load(d->outbox);
	d->sla = sla_new(&d->loop, d->store, d->notifier, d->metrics, env_commit, d);
	struct retention_env re = {
	    .loop = &d->loop.uv,
	    .store = d->store,
	    .metrics = d->metrics,
	    .config = host_config,
	    .commit = env_commit,
	    .arg = d,
	};
	d->retention = retention_start(&re);
	log_info("frontdesk running", "version=%s config=%s store=%s connectors=%zu pending=%zu", FD_VERSION,
	         config_path, store_where(d->store), d->nconns, outbox_pending(d->outbox));

	log_batch(); /* a line per post: written once per loop iteration */
	rc = loop_run(&d->loop) == 0 ? 0 : 1;
	log_flush();
	if (store_dirty(d->store) && store_commit_sync(d->store) < 0)
		log_error("final commit failed", "%s", "");
	log_info("frontdesk stopped", "pending=%zu exit=%d", outbox_pending(d->outbox), rc);
	daemon_free(d);
	return rc;
}
