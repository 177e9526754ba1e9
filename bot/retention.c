/*
 * retention.c - the periodic prune of what the store no longer keeps, in
 * small batches on the loop (see retention.h).
 */
#include "retention.h"

#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

struct retention {
	struct retention_env env;
	uv_timer_t timer;
	int open;
	int more; /* the last batch was full */
	struct metric *m_pruned, *m_batch;
};

static void pruned(void *arg, int rc, const struct store_pruned *p)
{
	struct retention *r = arg;
	r->more = rc == 0 && p->more;
	if (rc < 0 || !(p->conversations || p->messages || p->outbox || p->visitors || p->state))
		return;
	metric_add_l(r->m_pruned, (double)p->conversations, "conversations");
	metric_add_l(r->m_pruned, (double)p->messages, "messages");
	metric_add_l(r->m_pruned, (double)p->outbox, "outbox");
	metric_add_l(r->m_pruned, (double)p->visitors, "visitors");
	metric_add_l(r->m_pruned, (double)p->state, "connector_state");
	log_info("retention: pruned",
	         "conversations=%ld messages=%ld outbox=%ld visitors=%ld connector_state=%ld more=%d",
	         p->conversations, p->messages, p->outbox, p->visitors, p->state, p->more);
}

static void run_cb(uv_timer_t *t)
{
	struct retention *r = t->data;
	const struct config *cfg = r->env.config(r->env.arg);
	struct store_health h;

	r->more = 0;
	store_health(r->env.store, &h);
	if (h.state == STORE_OK || h.state == STORE_LOW_SPACE) {
		struct store_retention keep = {
		    .conversations = cfg->retention.conversations,
		    .outbox = cfg->retention.outbox,
		    .visitors = cfg->retention.visitors,
		};
		uint64_t t0 = time_mono_ns();
		store_prune(r->env.store, &keep, time(NULL), RETENTION_BATCH, pruned, r);
		metric_observe(r->m_batch, (double)(time_mono_ns() - t0) / 1e9);
		r->env.commit(r->env.arg);
	}
	uv_timer_start(&r->timer, run_cb, r->more ? RETENTION_AGAIN_MS : RETENTION_EVERY_MS, 0);
}

struct retention *retention_start(const struct retention_env *env)
{
	struct retention *r = xcalloc(1, sizeof(*r));
	r->env = *env;
	if (env->metrics) {
		r->m_pruned = metrics_counter(env->metrics, "store_pruned_total",
		                              "Rows deleted by store.retention, by kind.", "kind");
		r->m_batch = metrics_histogram(env->metrics, "retention_batch_seconds",
		                               "Time one retention batch held the loop.", NULL, 0);
	}
	uv_timer_init(env->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, run_cb, RETENTION_FIRST_MS, 0);
	uv_unref((uv_handle_t *)&r->timer);
	r->open = 1;
	return r;
}

void retention_stop(struct retention *r)
{
	if (r && r->open) {
		uv_close((uv_handle_t *)&r->timer, NULL);
		r->open = 0;
	}
}

void retention_free(struct retention *r)
{
	free(r);
}
