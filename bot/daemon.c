/*
 * daemon.c - the running bot (see daemon.h): start-up, the per-post path,
 * the group commit once per loop iteration, reload and graceful stop.
 */
#include "daemon.h"

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
#include "server.h"
#include "sla.h"
#include "store.h"
#include "util.h"

#define BATCH_MAX          4096 /* posts per transaction before an early commit */
#define POLL_MS            250  /* how often to look for other processes' writes */
#define CHECKPOINT_PAGES   1000 /* WAL frames (about 4 MB) that trigger a checkpoint */
#define CHECKPOINT_IDLE_MS 30000
#define FLUSH_MS           5 /* longest a lone transaction of delivery marks stays open */

/* A post recorded in the open transaction, acknowledged after the commit. */
struct ack {
	struct connector *c;
	void *cookie;
	enum post_status status;
	int64_t message_id;
	time_t ts;
	char *client_id;
};

struct new_row {
	int64_t id;
	int64_t thread_id;
	int64_t due_ms;
};

/*
 * A committed group of posts whose acknowledgements wait for its WAL frames
 * to reach the disk (store_defer_sync): echoes, outbox rows and dashboard
 * updates are released only after the sync.
 */
struct batch {
	struct ack *acks;
	size_t nacks, capacks;
	struct new_row *rows;
	size_t nrows, caprows;
	int64_t *tickets;
	size_t ntickets, captickets;
};

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
	struct notifier *notifier; /* notification sinks (start-up config) */
	struct sla *sla;           /* response-target timers */
	struct dashboard *dash;
	struct connector_host host; /* what connectors and notification sinks borrow */

	uv_check_t commit_check;
	uv_timer_t poll_timer;
	uv_timer_t flush_timer;
	uv_work_t ckpt_work;
	int ckpt_running;
	uint64_t ckpt_last_ms;
	int handles;

	struct ack *acks;
	size_t nacks, capacks;
	struct new_row *rows;
	size_t nrows, caprows;
	int64_t *tickets; /* tickets touched in the open transaction */
	size_t ntickets, captickets;
	int rescan; /* re-read every pending outbox row after the commit */

	/* Deferred sync: `waiting` committed and not yet syncing, `syncing`
	 * covered by the fdatasync running on a worker thread, `now` the
	 * group being settled by the loop thread. */
	struct batch waiting, syncing, now;
	uv_work_t sync_work;
	int sync_running;
	int sync_err;        /* written by the worker, read after it */
	int sync_dir_worker; /* directory synced (worker thread's flag) */
	int sync_dir_loop;   /* directory synced (loop thread's flag) */
	uint64_t sync_start_ns;

	int stopping;

	struct metric *m_posts, *m_decisions, *m_dups, *m_commit, *m_commit_fail, *m_batch, *m_sync;
};

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

static void host_send_done(void *arg, struct connector *c, int64_t outbox_id, enum send_result r,
                           long retry_after, const char *detail)
{
	struct daemon *d = arg;
	(void)c;
	outbox_done(d->outbox, outbox_id, r, retry_after, detail);
}

/* --- the per-post path --------------------------------------------------- */

static void push_ack(struct daemon *d, struct connector *c, void *cookie, enum post_status st, int64_t mid,
                     time_t ts, const char *client_id)
{
	if (d->nacks == d->capacks) {
		d->capacks = d->capacks ? d->capacks * 2 : 64;
		d->acks = xrealloc(d->acks, d->capacks * sizeof(*d->acks));
	}
	d->acks[d->nacks++] = (struct ack){
	    .c = c,
	    .cookie = cookie,
	    .status = st,
	    .message_id = mid,
	    .ts = ts,
	    .client_id = client_id ? xstrdup(client_id) : NULL,
	};
}

static void push_row(struct daemon *d, int64_t id, int64_t thread_id, int64_t due_ms)
{
	if (d->nrows == d->caprows) {
		d->caprows = d->caprows ? d->caprows * 2 : 64;
		d->rows = xrealloc(d->rows, d->caprows * sizeof(*d->rows));
	}
	d->rows[d->nrows++] = (struct new_row){id, thread_id, due_ms};
}

static void push_ticket(struct daemon *d, int64_t id)
{
	if (d->ntickets && d->tickets[d->ntickets - 1] == id)
		return;
	if (d->ntickets == d->captickets) {
		d->captickets = d->captickets ? d->captickets * 2 : 16;
		d->tickets = xrealloc(d->tickets, d->captickets * sizeof(*d->tickets));
	}
	d->tickets[d->ntickets++] = id;
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
 * Decide and record one post in the open transaction.  Returns the status
 * its acknowledgement will carry if the commit succeeds.
 */
static enum post_status take_post(struct daemon *d, struct connector *c, const struct post *p, int64_t *mid,
                                  time_t *ts)
{
	struct engine *e = d->engine;
	struct store_thread t;
	struct thread_state st;
	struct decision dec;
	struct store_recorded rec;
	char *parts[STORE_MAX_PARTS];
	size_t nparts = 0;
	struct buf json;
	time_t now = connector_now(c);
	int rc;

	if (store_begin(d->store) < 0)
		return POST_FAILED;
	rc = store_post_find(d->store, p->platform, p->post_id, mid, ts);
	if (rc != 0) {
		if (rc > 0)
			metric_inc(d->m_dups);
		return rc > 0 ? POST_DUPLICATE : POST_FAILED;
	}
	if (store_thread_get(d->store, p->platform, p->thread_key, &t) < 0)
		return POST_FAILED;

	memset(&st, 0, sizeof(st));
	st.owner = t.owner;
	st.ticket_id = t.ticket_id;
	st.ticket_due = t.ticket_due;
	st.last_ack = t.last_ack;
	st.last_waiting_notice = t.last_waiting_notice;
	if (t.assignee[0]) {
		const struct agent_conf *a = config_agent(e->cfg, t.assignee);
		st.agent = a && a->name ? a->name : t.assignee;
	}
	pipeline_decide(e, p, &st, now, &dec);
	buf_init(&json, 0);
	decision_json(e, &dec, p->post_id, &json);
	if (dec.reply)
		nparts = outbox_split(dec.reply, c->ops->max_text, parts, STORE_MAX_PARTS);

	struct store_record r = {
	    .post = p,
	    .decision = &dec,
	    .decision_json = json.p,
	    .parts = (const char *const *)parts,
	    .n_parts = nparts,
	    .now = now,
	    .thread = &t,
	};
	rc = store_record_post(d->store, &r, &rec);
	if (rc == 0) {
		for (size_t i = 0; i < rec.n_outbox; i++)
			push_row(d, rec.outbox[i], rec.thread_id, 0);
		/* Notifications join the same transaction; a failure there is
		 * logged and does not undo the post. */
		if (d->notifier)
			notify_post_recorded(d->notifier, &t, &dec, &rec, now);
		if (rec.ticket_id) {
			push_ticket(d, rec.ticket_id);
			if (d->sla)
				sla_changed(d->sla, rec.ticket_id);
		}
		*mid = rec.message_id;
		*ts = now;
		log_decision(p, &dec, &rec);
		metric_add_l(d->m_decisions, 1, dec.ignored ? "ignore" : action_name(dec.action),
		             dec.reason ? dec.reason : "", dec.rule ? dec.rule : "");
	}
	for (size_t i = 0; i < nparts; i++)
		free(parts[i]);
	buf_free(&json);
	decision_free(&dec);
	return rc == 0 ? POST_STORED : POST_FAILED;
}

/* connector_deliver_post lands here once the post passed its checks. */
static int host_deliver(void *arg, struct connector *c, const struct post *p, void *cookie)
{
	struct daemon *d = arg;
	int64_t mid = 0;
	time_t ts = 0;

	if (d->stopping || !d->store)
		return -1;
	enum post_status st = take_post(d, c, p, &mid, &ts);
	metric_add_l(d->m_posts, 1, c->name);
	push_ack(d, c, cookie, st, mid, ts, p->client_id);
	if (d->nacks >= BATCH_MAX)
		daemon_commit(d);
	return 0;
}

/* --- group commit ----------------------------------------------------------- */

static void ckpt_work(uv_work_t *w)
{
	struct daemon *d = w->data;
	store_checkpoint(store_path(d->store));
}

static void ckpt_after(uv_work_t *w, int status)
{
	struct daemon *d = w->data;
	(void)status;
	d->ckpt_running = 0;
}

/* Checkpoint on a worker thread once the WAL is large, or now and then
 * when it holds anything, so readers never walk a long log. */
static void maybe_checkpoint(struct daemon *d)
{
	int pages = store_wal_pages(d->store);
	uint64_t now = time_mono_ms();
	if (d->ckpt_running || pages <= 0 || d->loop.state >= LOOP_TEARDOWN)
		return;
	if (pages < CHECKPOINT_PAGES && now - d->ckpt_last_ms < CHECKPOINT_IDLE_MS)
		return;
	d->ckpt_work.data = d;
	if (uv_queue_work(&d->loop.uv, &d->ckpt_work, ckpt_work, ckpt_after) == 0) {
		d->ckpt_running = 1;
		d->ckpt_last_ms = now;
	}
}

static void flush_cb(uv_timer_t *h);

/* Move the open group's acknowledgements, rows and tickets to the end of b. */
static void batch_take(struct batch *b, struct daemon *d)
{
	if (b->nacks + d->nacks > b->capacks) {
		b->capacks = 2 * (b->nacks + d->nacks) + 64;
		b->acks = xrealloc(b->acks, b->capacks * sizeof(*b->acks));
	}
	if (d->nacks)
		memcpy(b->acks + b->nacks, d->acks, d->nacks * sizeof(*d->acks));
	b->nacks += d->nacks;
	if (b->nrows + d->nrows > b->caprows) {
		b->caprows = 2 * (b->nrows + d->nrows) + 64;
		b->rows = xrealloc(b->rows, b->caprows * sizeof(*b->rows));
	}
	if (d->nrows)
		memcpy(b->rows + b->nrows, d->rows, d->nrows * sizeof(*d->rows));
	b->nrows += d->nrows;
	if (b->ntickets + d->ntickets > b->captickets) {
		b->captickets = 2 * (b->ntickets + d->ntickets) + 64;
		b->tickets = xrealloc(b->tickets, b->captickets * sizeof(*b->tickets));
	}
	if (d->ntickets)
		memcpy(b->tickets + b->ntickets, d->tickets, d->ntickets * sizeof(*d->tickets));
	b->ntickets += d->ntickets;
	d->nacks = d->nrows = d->ntickets = 0; /* client_id ownership moved with the acks */
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->nacks; i++)
		free(b->acks[i].client_id);
	free(b->acks);
	free(b->rows);
	free(b->tickets);
	memset(b, 0, sizeof(*b));
}

/*
 * Release a group that is durable (rc 0) or lost (rc -1): hand its rows to
 * the outbox, tell the dashboard, acknowledge its posts to their
 * connectors.  b is emptied (its memory kept for the next group).
 */
static void settle(struct daemon *d, struct batch *b, int rc)
{
	if (b->nacks)
		metric_observe(d->m_batch, (double)b->nacks);
	if (rc == 0) {
		for (size_t i = 0; i < b->nrows; i++)
			outbox_add(d->outbox, b->rows[i].id, b->rows[i].thread_id, b->rows[i].due_ms);
		for (size_t i = 0; d->dash && i < b->ntickets; i++)
			dashboard_notify_change(d->dash, b->tickets[i]);
	} else {
		/* What the timers and views believed of the group is gone. */
		d->rescan = 1;
		if (d->sla)
			sla_changed(d->sla, 0);
		if (d->dash)
			dashboard_notify_change(d->dash, 0);
	}
	/* A post_done may write (a cursor): that goes into the next group. */
	for (size_t i = 0; i < b->nacks; i++) {
		struct ack *a = &b->acks[i];
		struct post_ack pa = {
		    .status = rc == 0 ? a->status : POST_FAILED,
		    .message_id = rc == 0 ? a->message_id : 0,
		    .ts = a->ts,
		    .client_id = a->client_id,
		};
		if (a->c->ops->post_done)
			a->c->ops->post_done(a->c, a->cookie, &pa);
		free(a->client_id);
	}
	b->nacks = b->nrows = b->ntickets = 0;
}

static void sync_work_cb(uv_work_t *w)
{
	struct daemon *d = w->data;
	d->sync_err = store_sync_wal(store_path(d->store), &d->sync_dir_worker);
}

static void after_settle(struct daemon *d);
static void sync_start(struct daemon *d);

static void sync_after_cb(uv_work_t *w, int status)
{
	struct daemon *d = w->data;
	int rc = 0;

	d->sync_running = 0;
	if (d->loop.state >= LOOP_TEARDOWN) {
		/* on_teardown settled every group with a sync of its own, and
		 * the connectors are closed: nothing is left to acknowledge. */
		for (size_t i = 0; i < d->syncing.nacks; i++)
			free(d->syncing.acks[i].client_id);
		d->syncing.nacks = d->syncing.nrows = d->syncing.ntickets = 0;
		return;
	}
	if (status != 0 || d->sync_err != 0) {
		log_error("WAL sync failed: posts of this group are not acknowledged", "posts=%zu error=%d",
		          d->syncing.nacks, status != 0 ? status : d->sync_err);
		metric_inc(d->m_commit_fail);
		rc = -1;
	} else {
		metric_observe(d->m_sync, (double)(time_mono_ns() - d->sync_start_ns) / 1e9);
	}
	settle(d, &d->syncing, rc);
	if (d->waiting.nacks || d->waiting.nrows || d->waiting.ntickets)
		sync_start(d);
	after_settle(d);
}

/* Sync everything committed so far on a worker thread (one at a time). */
static void sync_start(struct daemon *d)
{
	struct batch t = d->syncing; /* empty: swap to keep both buffers */
	d->syncing = d->waiting;
	d->waiting = t;
	d->sync_work.data = d;
	d->sync_start_ns = time_mono_ns();
	if (uv_queue_work(&d->loop.uv, &d->sync_work, sync_work_cb, sync_after_cb) == 0) {
		d->sync_running = 1;
		return;
	}
	/* No worker: sync here. */
	int err = store_sync_wal(store_path(d->store), &d->sync_dir_loop);
	settle(d, &d->syncing, err == 0 ? 0 : -1);
}

/* What follows every settled group: deliver, schedule the flush, checkpoint. */
static void after_settle(struct daemon *d)
{
	if (d->rescan) {
		d->rescan = 0;
		outbox_reload(d->outbox);
	}
	outbox_run(d->outbox);
	/* The sends above marked rows sent in a new transaction.  It rides
	 * with the next iteration's commit; when nothing else comes, the
	 * flush timer commits it soon.  A crash before that re-sends those
	 * rows with their idempotency keys. */
	if (store_in_tx(d->store) && !uv_is_active((uv_handle_t *)&d->flush_timer) && d->handles)
		uv_timer_start(&d->flush_timer, flush_cb, FLUSH_MS, 0);
	maybe_checkpoint(d);
}

/*
 * Commit the open group.  With a deferred-sync store the group waits for
 * a WAL sync on a worker thread before anything of it is acknowledged;
 * `now` syncs on this thread instead (an agent's action, a reload, a
 * shutdown: rare, and their callers report success right after), which
 * also makes every group committed before it durable.
 */
static int commit_group(struct daemon *d, int now)
{
	int rc = 0;
	uint64_t t0 = time_mono_ns();

	if (store_in_tx(d->store)) {
		rc = store_commit(d->store);
		if (rc < 0) {
			log_error("commit failed: posts of this batch are not acknowledged", "posts=%zu",
			          d->nacks);
			metric_inc(d->m_commit_fail);
		} else {
			metric_observe(d->m_commit, (double)(time_mono_ns() - t0) / 1e9);
		}
	}
	if (rc == 0 && store_sync_deferred(d->store) && !now && !d->stopping) {
		if (d->nacks || d->nrows || d->ntickets) {
			batch_take(&d->waiting, d);
			if (!d->sync_running)
				sync_start(d);
		}
		after_settle(d);
		return 0;
	}
	if (rc == 0 && store_sync_deferred(d->store)) {
		uint64_t s0 = time_mono_ns();
		int err = store_sync_wal(store_path(d->store), &d->sync_dir_loop);
		if (err != 0) {
			log_error("WAL sync failed: posts of this batch are not acknowledged",
			          "posts=%zu error=%d", d->nacks, err);
			metric_inc(d->m_commit_fail);
			rc = -1;
		} else {
			metric_observe(d->m_sync, (double)(time_mono_ns() - s0) / 1e9);
			/* Everything committed earlier is on disk as well. */
			settle(d, &d->syncing, 0);
			settle(d, &d->waiting, 0);
		}
	}
	batch_take(&d->now, d);
	settle(d, &d->now, rc);
	after_settle(d);
	return rc;
}

int daemon_commit(struct daemon *d)
{
	return commit_group(d, 0);
}

/* Commit and make it durable before returning (see commit_group). */
static int daemon_commit_now(struct daemon *d)
{
	return commit_group(d, 1);
}

static void flush_cb(uv_timer_t *h)
{
	struct daemon *d = h->data;
	if (d->nacks || d->nrows || store_in_tx(d->store))
		daemon_commit(d);
}

static void commit_cb(uv_check_t *h)
{
	struct daemon *d = h->data;
	if (d->nacks || d->nrows || store_in_tx(d->store))
		daemon_commit(d);
}

static void poll_cb(uv_timer_t *h)
{
	struct daemon *d = h->data;
	if (store_in_tx(d->store))
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
		if (store_in_tx(d->store))
			daemon_commit(d);
	}
	maybe_checkpoint(d);
}

/* --- health, reload, stop -------------------------------------------------- */

/* /healthz: healthy when every connector is. */
static int health_cb(struct buf *out, void *arg)
{
	struct daemon *d = arg;
	int ok = !d->stopping;
	json_t *list = json_array();
	for (size_t i = 0; i < d->nconns; i++) {
		struct connector *c = d->conns[i];
		if (c->health != HEALTH_OK)
			ok = 0;
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:s, s:s}", "name", c->name, "type", c->ops->type, "health",
		                    connector_health_name(c->health), "detail", c->health_detail));
	}
	json_t *o = json_pack("{s:s, s:o}", "status",
	                      ok            ? "ok"
	                      : d->stopping ? "stopping"
	                                    : "degraded",
	                      "connectors", list);
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

static void on_reload(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	struct diag dg;
	(void)l;
	diag_init(&dg);
	struct engine *e = engine_load(d->config_path, &dg);
	if (!e) {
		/* Every error, one log line each, and keep running as we were. */
		const char *line = dg.out.p ? dg.out.p : "";
		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t n = nl ? (size_t)(nl - line) : strlen(line);
			char *one = xstrndup(line, n);
			struct buf b;
			buf_init(&b, 0);
			log_quote(&b, one);
			log_error("reload refused", "error=%s", b.p);
			buf_free(&b);
			free(one);
			line += n + (nl ? 1 : 0);
		}
		log_error("reload refused: the previous configuration keeps running", "errors=%d", dg.errors);
		diag_free(&dg);
		return;
	}
	diag_free(&dg);
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
	log_info("configuration reloaded", "path=%s", d->config_path);
}

static void on_stop(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	(void)l;
	if (d->stopping)
		return;
	log_info("stopping: intake closed, delivering what is due", "pending=%zu", outbox_pending(d->outbox));
	if (d->nacks || store_in_tx(d->store))
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
	if (d->nacks || store_in_tx(d->store))
		daemon_commit(d);
	if (d->sync_running || d->waiting.nacks || d->waiting.nrows)
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
	if (d->nacks || store_in_tx(d->store))
		daemon_commit(d);
	for (size_t i = 0; i < d->nconns; i++)
		if (d->conns[i]->ops->close)
			d->conns[i]->ops->close(d->conns[i]);
	outbox_close(d->outbox);
	if (d->sla)
		sla_stop(d->sla);
	if (d->dash)
		dashboard_stop(d->dash);
	if (d->handles) {
		uv_close((uv_handle_t *)&d->commit_check, NULL);
		uv_close((uv_handle_t *)&d->poll_timer, NULL);
		uv_close((uv_handle_t *)&d->flush_timer, NULL);
		d->handles = 0;
	}
}

/* --- what other modules get from the daemon ------------------------------------ */

/* Commit for the notifier and the SLA timers: their rows are re-read from
 * the store (with their not-before times). */
static int env_commit(void *arg)
{
	struct daemon *d = arg;
	d->rescan = 1;
	return daemon_commit_now(d);
}

/* Commit for the dashboard: an agent's claim, release, resolve or reply
 * changes response-target timers too. */
static int dash_commit(void *arg)
{
	struct daemon *d = arg;
	d->rescan = 1;
	int rc = daemon_commit_now(d);
	if (d->sla)
		sla_changed(d->sla, 0);
	return rc;
}

static void env_queued(void *arg, int64_t id, int64_t not_before_ms)
{
	push_row(arg, id, 0, not_before_ms);
}

static size_t env_max_text(void *arg, const char *name)
{
	struct daemon *d = arg;
	for (size_t i = 0; i < d->nconns; i++)
		if (strcmp(d->conns[i]->name, name) == 0)
			return d->conns[i]->ops->max_text;
	return 0;
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
	    .commit = dash_commit,
	    .max_text = env_max_text,
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
	metrics_add_process(m);
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
		if (c->ops->start(c) < 0) {
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
	if (d->notifier)
		notify_free(d->notifier);
	if (d->loop_ready)
		loop_free(&d->loop);
	outbox_free(d->outbox);
	store_close(d->store);
	if (d->engine != d->boot)
		engine_free(d->engine);
	engine_free(d->boot);
	metrics_free(d->metrics);
	for (size_t i = 0; i < d->nacks; i++)
		free(d->acks[i].client_id);
	free(d->acks);
	free(d->rows);
	free(d->tickets);
	batch_free(&d->waiting);
	batch_free(&d->syncing);
	batch_free(&d->now);
}

int daemon_run(const char *config_path)
{
	struct daemon dd, *d = &dd;
	struct diag dg;
	char err[512];
	int rc = 1;

	memset(d, 0, sizeof(*d));
	d->config_path = config_path;
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

	d->store = store_open(d->boot->cfg->store_path, d->boot->cfg->store_sync_full, err, sizeof(err));
	if (!d->store) {
		struct buf b;
		buf_init(&b, 0);
		log_quote(&b, err);
		log_error("cannot open the store", "path=%s error=%s", d->boot->cfg->store_path, b.p);
		buf_free(&b);
		daemon_free(d);
		return 1;
	}
	/* Durable (synchronous: full) without fsync on the loop thread. */
	if (d->boot->cfg->store_sync_full && store_defer_sync(d->store) < 0)
		log_warn("store: commits sync on the loop thread", "path=%s", d->boot->cfg->store_path);
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
	d->ckpt_last_ms = time_mono_ms();

	if (start_handoff(d) < 0 || start_connectors(d) < 0) {
		loop_stop(&d->loop);
		loop_run(&d->loop);
		daemon_free(d);
		return 1;
	}
	/* Everything committed but not delivered before the last stop (or
	 * crash) goes out now. */
	if (outbox_load(d->outbox) < 0)
		log_error("cannot read the outbox; undelivered replies wait for the next start", "path=%s",
		          store_path(d->store));
	d->sla = sla_new(&d->loop, d->store, d->notifier, d->metrics, env_commit, d);
	log_info("frontdesk running", "version=%s config=%s store=%s connectors=%zu pending=%zu", FD_VERSION,
	         config_path, store_path(d->store), d->nconns, outbox_pending(d->outbox));

	rc = loop_run(&d->loop) == 0 ? 0 : 1;
	if (store_in_tx(d->store) && store_commit(d->store) < 0)
		log_error("final commit failed", "%s", "");
	log_info("frontdesk stopped", "pending=%zu exit=%d", outbox_pending(d->outbox), rc);
	daemon_free(d);
	return rc;
}
