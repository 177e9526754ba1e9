/*
 * outbox.c - scheduling and delivery of outbox rows (see outbox.h).
 *
 * In memory, every known pending row sits in the FIFO of its thread (a
 * "tq"); only the head of a tq may be in flight, which keeps the rows of a
 * thread in order.  A min-heap over the tqs, keyed by their head's due
 * time, says what to send next; one uv timer fires for the earliest.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "backoff.h"
#include "metrics.h"
#include "rand.h"
#include "util.h"

/* --- a small int64 -> pointer hash map (open addressing, linear probing) --- */

struct imap {
	int64_t *keys;
	void **vals;
	size_t cap, n; /* cap is a power of two; empty slots have vals == NULL */
};

static size_t imap_slot(const struct imap *m, int64_t k)
{
	uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (m->cap - 1);
}

static void *imap_get(const struct imap *m, int64_t k)
{
	if (!m->cap)
		return NULL;
	for (size_t i = imap_slot(m, k);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == k)
			return m->vals[i];
	}
}

static void imap_put(struct imap *m, int64_t k, void *v);

static void imap_grow(struct imap *m)
{
	struct imap old = *m;
	m->cap = old.cap ? old.cap * 2 : 64;
	m->n = 0;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
	for (size_t i = 0; i < old.cap; i++)
		if (old.vals[i])
			imap_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static void imap_put(struct imap *m, int64_t k, void *v)
{
	if ((m->n + 1) * 4 > m->cap * 3)
		imap_grow(m);
	for (size_t i = imap_slot(m, k);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i]) {
			m->keys[i] = k;
			m->vals[i] = v;
			m->n++;
			return;
		}
		if (m->keys[i] == k) {
			m->vals[i] = v;
			return;
		}
	}
}

/* Delete with backward shift, so lookups never need tombstones. */
static void imap_del(struct imap *m, int64_t k)
{
	size_t i, j;
	if (!m->cap)
		return;
	for (i = imap_slot(m, k);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return;
		if (m->keys[i] == k)
			break;
	}
	m->vals[i] = NULL;
	m->n--;
	for (j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
		size_t home = imap_slot(m, m->keys[j]);
		/* Move j back into the hole at i unless its home lies in (i, j]. */
		int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		m->vals[j] = NULL;
		i = j;
	}
}

static void imap_free(struct imap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* --- the schedule --------------------------------------------------------- */

struct entry {
	int64_t id;
	int attempts;
	int64_t due_ms;
	int64_t queued_ms;     /* when this process queued it: delivery latency */
	struct store_out *row; /* the row as committed (owned) */
};

struct tq {
	int64_t key; /* thread id, or -row id for a row without a thread */
	struct entry *e;
	size_t head, n, cap; /* live entries are e[head .. n) */
	long heap_idx;       /* -1 when not in the heap */
	int inflight;        /* e[head] was handed to a connector */
};

struct outbox {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct store *s;
	outbox_find_fn find;
	void *find_arg;
	struct imap tqs; /* key -> tq */
	struct imap ids; /* row id -> tq */
	struct tq **heap;
	size_t heap_n, heap_cap;
	size_t inflight;
	int running;
	int closed;
	struct metric *m_sent, *m_retry, *m_failed, *m_cancelled, *m_latency;
};

static int64_t real_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t (*outbox_now_ms)(void) = real_now_ms;

static int before(const struct tq *a, const struct tq *b)
{
	const struct entry *x = &a->e[a->head], *y = &b->e[b->head];
	return x->due_ms < y->due_ms || (x->due_ms == y->due_ms && x->id < y->id);
}

static void heap_swap(struct outbox *o, size_t i, size_t j)
{
	struct tq *t = o->heap[i];
	o->heap[i] = o->heap[j];
	o->heap[j] = t;
	o->heap[i]->heap_idx = (long)i;
	o->heap[j]->heap_idx = (long)j;
}

static void heap_up(struct outbox *o, size_t i)
{
	while (i > 0 && before(o->heap[i], o->heap[(i - 1) / 2])) {
		heap_swap(o, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct outbox *o, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < o->heap_n && before(o->heap[l], o->heap[m]))
			m = l;
		if (r < o->heap_n && before(o->heap[r], o->heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(o, i, m);
		i = m;
	}
}

static void heap_push(struct outbox *o, struct tq *t)
{
	if (t->heap_idx >= 0 || t->inflight || t->head >= t->n)
		return;
	if (o->heap_n == o->heap_cap) {
		o->heap_cap = o->heap_cap ? o->heap_cap * 2 : 64;
		o->heap = xrealloc(o->heap, o->heap_cap * sizeof(*o->heap));
	}
	o->heap[o->heap_n] = t;
	t->heap_idx = (long)o->heap_n++;
	heap_up(o, o->heap_n - 1);
}

static void heap_remove(struct outbox *o, struct tq *t)
{
	size_t i = (size_t)t->heap_idx;
	if (t->heap_idx < 0)
		return;
	t->heap_idx = -1;
	if (--o->heap_n == i)
		return;
	o->heap[i] = o->heap[o->heap_n];
	o->heap[i]->heap_idx = (long)i;
	heap_down(o, i);
	heap_up(o, (size_t)o->heap[i]->heap_idx);
}

static void entry_free(struct entry *e)
{
	if (e->row) {
		store_out_free(e->row);
		free(e->row);
		e->row = NULL;
	}
}

static void tq_free(struct tq *t)
{
	for (size_t i = t->head; i < t->n; i++)
		entry_free(&t->e[i]);
	free(t->e);
	free(t);
}

/* Add row r (copied) to its thread's queue in id order (a row another
 * process wrote may be older than rows already queued). */
static void enqueue(struct outbox *o, const struct store_out *r, int attempts, int64_t due_ms)
{
	int64_t id = r->id;
	int64_t key = r->kind == OUT_REPLY && r->thread_id > 0 ? r->thread_id : -id;
	struct tq *t;
	size_t at;

	if (imap_get(&o->ids, id))
		return;
	t = imap_get(&o->tqs, key);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->key = key;
		t->heap_idx = -1;
		imap_put(&o->tqs, key, t);
	}
	if (t->head > 0 && t->n == t->cap) {
		memmove(t->e, t->e + t->head, (t->n - t->head) * sizeof(*t->e));
		t->n -= t->head;
		t->head = 0;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4;
		t->e = xrealloc(t->e, t->cap * sizeof(*t->e));
	}
	at = t->n;
	while (at > t->head + (size_t)t->inflight && t->e[at - 1].id > id)
		at--;
	memmove(t->e + at + 1, t->e + at, (t->n - at) * sizeof(*t->e));
	t->e[at] = (struct entry){.id = id,
	                          .attempts = attempts,
	                          .due_ms = due_ms,
	                          .queued_ms = outbox_now_ms(),
	                          .row = xmalloc(sizeof(struct store_out))};
	store_out_copy(t->e[at].row, r);
	t->n++;
	imap_put(&o->ids, id, t);
	if (at == t->head && t->heap_idx >= 0) {
		heap_remove(o, t);
		heap_push(o, t);
	} else {
		heap_push(o, t);
	}
}

/* The head row of t is settled (sent, failed, cancelled, gone): drop it and
 * schedule the next row of the thread, or free the queue. */
static void settle_head(struct outbox *o, struct tq *t)
{
	heap_remove(o, t);
	if (t->inflight) {
		t->inflight = 0;
		o->inflight--;
	}
	imap_del(&o->ids, t->e[t->head].id);
	entry_free(&t->e[t->head]);
	t->head++;
	if (t->head >= t->n) {
		imap_del(&o->tqs, t->key);
		tq_free(t);
		return;
	}
	heap_push(o, t);
}

static void timer_cb(uv_timer_t *t)
{
	outbox_run(t->data);
}

/* Drop row id from t wherever it is queued (not in flight). */
static void remove_entry(struct outbox *o, struct tq *t, int64_t id)
{
	size_t i = t->head;
	while (i < t->n && t->e[i].id != id)
		i++;
	if (i >= t->n || (i == t->head && t->inflight))
		return;
	if (i == t->head) {
		settle_head(o, t);
		return;
	}
	entry_free(&t->e[i]);
	memmove(t->e + i, t->e + i + 1, (t->n - i - 1) * sizeof(*t->e));
	t->n--;
	imap_del(&o->ids, id);
}

static void arm_timer(struct outbox *o)
{
	if (o->closed)
		return;
	if (!o->heap_n) {
		uv_timer_stop(&o->timer);
		return;
	}
	int64_t wait = o->heap[0]->e[o->heap[0]->head].due_ms - outbox_now_ms();
	uv_timer_start(&o->timer, timer_cb, wait > 0 ? (uint64_t)wait : 0, 0);
}

struct outbox *outbox_new(uv_loop_t *loop, struct store *s, outbox_find_fn find, void *arg)
{
	struct outbox *o = xcalloc(1, sizeof(*o));
	o->loop = loop;
	o->s = s;
	o->find = find;
	o->find_arg = arg;
	if (loop) {
		uv_timer_init(loop, &o->timer);
		o->timer.data = o;
	} else {
		o->closed = 1;
	}
	return o;
}

static void drop_all(struct outbox *o, int keep_inflight)
{
	struct tq **keep = NULL;
	size_t nkeep = 0;
	for (size_t i = 0; i < o->tqs.cap; i++) {
		struct tq *t = o->tqs.vals[i];
		if (!t)
			continue;
		if (keep_inflight && t->inflight) {
			keep = xrealloc(keep, (nkeep + 1) * sizeof(*keep));
			keep[nkeep++] = t;
			continue;
		}
		tq_free(t);
	}
	imap_free(&o->tqs);
	imap_free(&o->ids);
	o->heap_n = 0;
	for (size_t i = 0; i < nkeep; i++) {
		/* Keep only the row in flight; its queued successors are reloaded. */
		struct tq *t = keep[i];
		for (size_t j = t->head + 1; j < t->n; j++)
			entry_free(&t->e[j]);
		t->e[0] = t->e[t->head];
		t->head = 0;
		t->n = 1;
		t->heap_idx = -1;
		imap_put(&o->tqs, t->key, t);
		imap_put(&o->ids, t->e[0].id, t);
	}
	free(keep);
}

void outbox_close(struct outbox *o)
{
	if (!o || o->closed)
		return;
	o->closed = 1;
	uv_close((uv_handle_t *)&o->timer, NULL);
}

void outbox_free(struct outbox *o)
{
	if (!o)
		return;
	drop_all(o, 0);
	free(o->heap);
	free(o);
}

static double pending_gauge(void *arg)
{
	return (double)outbox_pending(arg);
}

void outbox_metrics(struct outbox *o, struct metrics *m)
{
	if (!m)
		return;
	o->m_sent = metrics_counter(m, "outbox_sent_total", "Outbox rows delivered.", NULL);
	o->m_retry =
	    metrics_counter(m, "outbox_retries_total", "Outbox deliveries that will be retried.", NULL);
	o->m_failed = metrics_counter(m, "outbox_failed_total", "Outbox rows given up on.", NULL);
	o->m_cancelled = metrics_counter(m, "outbox_cancelled_total",
	                                 "Bot replies withdrawn because an agent took the thread.", NULL);
	metrics_gauge_fn(m, "outbox_pending", "Outbox rows not yet delivered.", pending_gauge, o);
	o->m_latency =
	    metrics_histogram(m, "delivery_seconds",
	                      "From a reply being queued (after its commit) to its delivery, retries "
	                      "included.",
	                      NULL, 0);
}

static void load_rows(void *arg, int rc, const struct store_out *v, size_t n)
{
	struct outbox *o = arg;
	if (rc < 0) {
		log_error("cannot read the outbox; undelivered rows wait for the next load", "%s", "");
		return;
	}
	for (size_t i = 0; i < n; i++)
		enqueue(o, &v[i], v[i].attempts, v[i].not_before_ms);
	if (!o->running)
		arm_timer(o);
}

void outbox_load(struct outbox *o)
{
	store_outbox_pending(o->s, load_rows, o);
}

void outbox_reload(struct outbox *o)
{
	drop_all(o, 1);
	outbox_load(o);
}

void outbox_add(struct outbox *o, const struct store_out *row)
{
	enqueue(o, row, row->attempts, row->not_before_ms);
	if (!o->running)
		arm_timer(o);
}

/* Put head back with a new due time and attempt count. */
static void reschedule(struct outbox *o, struct tq *t, int attempts, int64_t due_ms)
{
	heap_remove(o, t);
	if (t->inflight) {
		t->inflight = 0;
		o->inflight--;
	}
	t->e[t->head].attempts = attempts;
	t->e[t->head].due_ms = due_ms;
	heap_push(o, t);
}

/* The row in flight at the head of its queue, or NULL when row id is no
 * longer that (settled or reloaded meanwhile). */
static struct tq *inflight_head(struct outbox *o, int64_t id)
{
	struct tq *t = imap_get(&o->ids, id);
	return t && t->inflight && t->e[t->head].id == id ? t : NULL;
}

struct claim {
	struct outbox *o;
	int64_t id;
};

/* The store's pre-send check answered: send the row, or settle it. */
static void claimed(void *arg, int rc)
{
	struct claim *cl = arg;
	struct outbox *o = cl->o;
	int64_t id = cl->id, now = outbox_now_ms();
	struct tq *t = inflight_head(o, id);
	free(cl);
	if (!t)
		return;
	struct entry *e = &t->e[t->head];
	if (rc < 0) {
		reschedule(o, t, e->attempts, now + 1000);
		goto out;
	}
	if (rc == 1 || rc == 2) {
		/* 1: withdrawn (or settled elsewhere); 2: another process
		 * holds the lease and sends it. */
		if (rc == 1)
			metric_inc(o->m_cancelled);
		settle_head(o, t);
		goto out;
	}
	const struct store_out *row = e->row;
	struct connector *c = o->find ? o->find(o->find_arg, row->connector) : NULL;
	if (!c || !c->ops->send) {
		log_warn("no connector for outbox row", "outbox=%lld connector=%s", (long long)id,
		         row->connector);
		outbox_done(o, id, SEND_RETRY, 0, "no such connector is running");
		goto out;
	}
	if (c->paused_until_ms > now) {
		reschedule(o, t, e->attempts, c->paused_until_ms);
		goto out;
	}
	/* A platform that takes replies only within a window after the
	 * customer's last message (WhatsApp's 24 hours): past it, the reply
	 * is not sent.  A person's reply was checked when it was written;
	 * this catches one held back (a rate limit, a long outage). */
	char why[384];
	int agent = row->sender && strcmp(row->sender, "agent") == 0;
	if (row->kind == OUT_REPLY &&
	    !connector_reply_allowed(c->conf, agent, row->last_in, (time_t)(now / 1000), why, sizeof(why))) {
		struct buf w;
		buf_init(&w, 0);
		log_quote(&w, why);
		log_warn("reply not sent: outside the platform's reply window",
		         "outbox=%lld connector=%s from=%s why=%s", (long long)id, c->name,
		         agent ? "agent" : "bot", w.p);
		buf_free(&w);
		outbox_done(o, id, SEND_FAIL, 0, why);
		goto out;
	}
	struct outmsg m = {
	    .id = id,
	    .thread_key = row->thread_key,
	    .reply_to_id = row->reply_to,
	    .text = row->text,
	    .idem_key = row->idem_key,
	    .from = row->sender,
	    .agent = row->agent,
	    .message_id = row->message_id,
	    .ts = row->created > 0 ? row->created : (time_t)(now / 1000),
	    .is_private = row->is_private,
	    .recipient = row->recipient,
	    .attempt = e->attempts,
	    .last_in = row->last_in,
	    .rating = row->rating,
	};
	/* -1 means "not taken": the connector will not report; the entry may
	 * have moved if the connector reported synchronously, so look again. */
	if (c->ops->send(c, &m) < 0 && inflight_head(o, id))
		outbox_done(o, id, SEND_RETRY, 0, "connector could not take the message");
out:
	if (!o->running)
		arm_timer(o);
}

/* Take the head row of t off the schedule and ask the store whether it
 * may go (claimed() continues, now or later).  A row whose connector runs
 * in another process (it leads that connector) is given up to it. */
static void dispatch(struct outbox *o, struct tq *t)
{
	const struct store_out *row = t->e[t->head].row;
	struct connector *c = o->find ? o->find(o->find_arg, row->connector) : NULL;
	if (c && c->standby) {
		log_debug("outbox row left to the process that runs its connector",
		          "outbox=%lld connector=%s", (long long)row->id, row->connector);
		store_outbox_release(o->s, row->id);
		settle_head(o, t);
		return;
	}
	struct claim *cl = xmalloc(sizeof(*cl));
	cl->o = o;
	cl->id = t->e[t->head].id;
	heap_remove(o, t);
	t->inflight = 1;
	o->inflight++;
	store_outbox_claim(o->s, t->e[t->head].row, claimed, cl);
}

void outbox_run(struct outbox *o)
{
	if (o->running)
		return;
	o->running = 1;
	int64_t now = outbox_now_ms();
	size_t budget = 4096; /* then let the loop serve I/O and come back */
	while (o->heap_n && budget--) {
		struct tq *t = o->heap[0];
		if (t->e[t->head].due_ms > now)
			break;
		dispatch(o, t);
	}
	o->running = 0;
	arm_timer(o);
}

void outbox_done(struct outbox *o, int64_t id, enum send_result r, long retry_after, const char *detail)
{
	struct tq *t = imap_get(&o->ids, id);
	int64_t now = outbox_now_ms();
	struct buf q;

	if (!t || !t->inflight || t->e[t->head].id != id) {
		/* A sink may settle rows it was not handed yet (a digest covering
		 * several notifications): a success marks them sent wherever they
		 * are.  Anything else about a row not in flight is stale. */
		if (r != SEND_OK) {
			log_debug("late send result ignored", "outbox=%lld", (long long)id);
			return;
		}
		if (store_outbox_sent(o->s, id, (time_t)(now / 1000)) == 0)
			metric_inc(o->m_sent);
		if (t)
			remove_entry(o, t, id);
		if (!o->running)
			arm_timer(o);
		return;
	}
	struct entry *e = &t->e[t->head];
	int attempts = e->attempts + 1;
	buf_init(&q, 0);
	log_quote(&q, detail ? detail : "");

	if (r == SEND_OK) {
		if (store_outbox_sent(o->s, id, (time_t)(now / 1000)) < 0) {
			/* The row stays pending in the store and is re-sent after a
			 * restart; the idempotency key makes that harmless. */
			log_warn("outbox sent mark not stored", "outbox=%lld", (long long)id);
		}
		metric_inc(o->m_sent);
		metric_observe(o->m_latency, (double)(now - e->queued_ms) / 1000.0);
		settle_head(o, t);
	} else if (r == SEND_LATER) {
		/* Held by a rate limit of its own: wait, without counting it as
		 * an attempt; the wait is stored with the row. */
		int64_t delay = retry_after > 0 ? (int64_t)retry_after * 1000 : OUTBOX_MIN_MS;
		log_debug("outbox delivery waits for a rate limit", "outbox=%lld in_ms=%lld", (long long)id,
		          (long long)delay);
		store_outbox_retry(o->s, id, e->attempts, now + delay, detail);
		metric_inc(o->m_retry);
		reschedule(o, t, e->attempts, now + delay);
	} else if (r == SEND_FAIL || attempts >= OUTBOX_MAX_ATTEMPTS) {
		log_error("outbox delivery failed", "outbox=%lld attempts=%d detail=%s", (long long)id,
		          attempts, q.p);
		store_outbox_failed(o->s, id, attempts, detail);
		metric_inc(o->m_failed);
		settle_head(o, t);
	} else {
		int64_t delay = outbox_backoff_ms(attempts, rand_u64());
		if (retry_after > 0 && retry_after * 1000 > delay)
			delay = retry_after * 1000;
		log_warn("outbox delivery will be retried", "outbox=%lld attempts=%d in_ms=%lld detail=%s",
		         (long long)id, attempts, (long long)delay, q.p);
		store_outbox_retry(o->s, id, attempts, now + delay, detail);
		metric_inc(o->m_retry);
		reschedule(o, t, attempts, now + delay);
	}
	buf_free(&q);
	if (!o->running)
		arm_timer(o);
}

size_t outbox_pending(const struct outbox *o)
{
	return o->ids.n;
}

size_t outbox_inflight(const struct outbox *o)
{
	return o->inflight;
}

int outbox_idle(const struct outbox *o, int64_t within_ms)
{
	if (o->inflight)
		return 0;
	if (!o->heap_n)
		return 1;
	return o->heap[0]->e[o->heap[0]->head].due_ms > outbox_now_ms() + within_ms;
}

long outbox_backoff_ms(int attempt, uint64_t r)
{
	return backoff_delay_ms(attempt - 1, OUTBOX_MIN_MS, OUTBOX_BASE_MS, OUTBOX_CAP_MS, r);
}

/* --- splitting ------------------------------------------------------------ */

static int is_space(utf8proc_int32_t c)
{
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	if (c == 0xA0 || c == 0x2007 || c == 0x202F) /* no-break spaces keep words together */
		return 0;
	utf8proc_category_t cat = utf8proc_category(c);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* Decode one character at s[i]; an invalid byte is one character (U+FFFD
 * for classification) of length 1. */
static size_t next_char(const char *s, size_t len, size_t i, utf8proc_int32_t *c)
{
	utf8proc_ssize_t n =
	    utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), c);
	if (n <= 0) {
		*c = 0xFFFD;
		return 1;
	}
	return (size_t)n;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
	while (i < len) {
		utf8proc_int32_t c;
		size_t n = next_char(s, len, i, &c);
		if (!is_space(c))
			break;
		i += n;
	}
	return i;
}

/* End of [a, b) without trailing white space. */
static size_t trim_end(const char *s, size_t a, size_t b)
{
	size_t end = a;
	while (a < b) {
		utf8proc_int32_t c;
		size_t n = next_char(s, b, a, &c);
		a += n;
		if (!is_space(c))
			end = a;
	}
	return end;
}

/*
 * Where to cut text[pos..len) so that at most max characters stay: len if
 * all fits; else after the last word that fits; else at the last grapheme
 * boundary that fits; else (one cluster longer than max) at max characters.
 */
static size_t cut_at(const char *s, size_t len, size_t pos, size_t max)
{
	size_t i = pos, chars = 0, last_space = 0, last_break = 0;
	utf8proc_int32_t prev = -1, c;
	utf8proc_int32_t state = 0;

	/* Characters never outnumber bytes: what fits in bytes fits, and most
	 * replies do, without looking at a single grapheme. */
	if (len - pos <= max)
		return len;
	while (i < len) {
		size_t n = next_char(s, len, i, &c);
		if (prev >= 0 && utf8proc_grapheme_break_stateful(prev, c, &state))
			last_break = i;
		if (chars == max)
			break;
		if (is_space(c) && i > pos)
			last_space = i;
		prev = c;
		i += n;
		chars++;
	}
	if (i >= len)
		return len;
	if (last_space > pos && trim_end(s, pos, last_space) > pos)
		return last_space;
	if (last_break > pos)
		return last_break;
	return i;
}

size_t outbox_split(const char *text, size_t max_chars, char **parts, size_t max_parts)
{
	static const char ellipsis[] = "\xe2\x80\xa6";
	size_t len = strlen(text), pos, n = 0;

	if (!max_parts)
		return 0;
	if (!max_chars)
		max_chars = len ? len : 1;
	pos = skip_space(text, len, 0);
	while (pos < len && n < max_parts) {
		size_t cut = cut_at(text, len, pos, max_chars);
		int last = n + 1 == max_parts && cut < len;
		if (last && max_chars > 1)
			cut = cut_at(text, len, pos, max_chars - 1);
		size_t end = trim_end(text, pos, cut);
		struct buf b;
		buf_init(&b, 0);
		buf_append(&b, text + pos, end - pos);
		if (last && max_chars > 1)
			buf_puts(&b, ellipsis);
		parts[n++] = b.p ? buf_steal(&b) : xstrdup("");
		if (last)
			break;
		pos = skip_space(text, len, cut);
	}
	return n;
}

size_t outbox_split_units(const char *text, size_t max, size_t (*units)(const char *s),
                          void (*cut)(char *s, size_t max), char **parts, size_t max_parts)
{
	size_t chars = max;
	for (;;) {
		size_t n = outbox_split(text, chars, parts, max_parts), longest = 0;
		for (size_t i = 0; i < n; i++) {
			size_t l = units(parts[i]);
			if (l > longest)
				longest = l;
		}
		if (longest <= max)
			return n;
		if (chars <= 1) {
			/* One character is wider than the limit: it can only go
			 * cut, at a code point. */
			for (size_t i = 0; i < n; i++)
				cut(parts[i], max);
			return n;
		}
		/* Wide characters count more than one: cut shorter and again. */
		for (size_t i = 0; i < n; i++)
			free(parts[i]);
		size_t next = chars * max / longest;
		chars = next < chars ? next : chars - 1;
		if (!chars)
			chars = 1;
	}
}
