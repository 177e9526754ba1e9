/*
 * sla.c - response-target timers and statistics (see sla.h).
 *
 * The table holds one entry per open ticket; it is small (the open queue of
 * a small business), so finding the next moment is a linear scan and the
 * one uv timer is re-armed after every change.  The timer never sleeps
 * longer than SLA_MAX_SLEEP, so a wall-clock jump (suspend, NTP step) is
 * corrected within that time.
 */
#include "sla.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"
#include "util.h"

#define SLA_MAX_SLEEP 300 /* seconds */

struct entry {
	int64_t id;
	time_t created, due, first_response;
	enum priority priority;
	int warned, missed;
};

struct sla {
	struct loop *l;
	struct store *s;
	struct notifier *n;
	int (*commit)(void *arg);
	void *arg;
	uv_timer_t timer;
	int timer_on, closed;
	int running; /* a pass (sla_run) is under way */
	struct entry *e;
	size_t ne, cap;
	struct metric *m_first, *m_resolution, *m_missed, *m_open, *m_overdue;
};

static time_t real_now(void)
{
	return time(NULL);
}

time_t (*sla_now)(void) = real_now;

time_t sla_warn_at(time_t created, time_t due)
{
	if (due <= 0)
		return 0;
	time_t ahead = due > created ? (due - created) / SLA_WARN_FRACTION : 0;
	if (ahead > SLA_WARN_AHEAD)
		ahead = SLA_WARN_AHEAD;
	return due - ahead;
}

/* The next moment entry e needs attention, 0 = never. */
static time_t next_moment(const struct entry *e)
{
	if (e->first_response || e->due <= 0 || e->missed)
		return 0;
	return e->warned ? e->due : sla_warn_at(e->created, e->due);
}

/* ---- reading the store -------------------------------------------------------- */

struct row {
	struct entry e;
	int resolved_flag;
	time_t resolved;
};

/* A ticket of the store's read model as the SLA follows it. */
static void row_from(const struct store_ticket *t, struct row *r)
{
	memset(r, 0, sizeof(*r));
	r->e.id = t->id;
	r->resolved_flag = t->status && strcmp(t->status, "resolved") == 0;
	r->e.priority = priority_parse(t->priority);
	if (r->e.priority == PRIO_NONE)
		r->e.priority = PRIO_NORMAL;
	r->e.created = t->created;
	r->e.due = t->due;
	r->e.first_response = t->first_response;
	r->resolved = t->resolved;
	r->e.warned = t->warned;
	r->e.missed = t->missed;
}

/* ---- the table -------------------------------------------------------------------- */

static struct entry *find(struct sla *s, int64_t id)
{
	for (size_t i = 0; i < s->ne; i++)
		if (s->e[i].id == id)
			return &s->e[i];
	return NULL;
}

static void drop(struct sla *s, struct entry *e)
{
	*e = s->e[--s->ne];
}

static void put(struct sla *s, const struct entry *e)
{
	if (s->ne == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->e = xrealloc(s->e, s->cap * sizeof(*s->e));
	}
	s->e[s->ne++] = *e;
}

/* What this process saw happen to a ticket it followed: observe it once. */
static void observe(struct sla *s, const struct entry *old, const struct row *now)
{
	if (!old->first_response && now->e.first_response && now->e.first_response >= old->created)
		metric_observe(s->m_first, (double)(now->e.first_response - old->created));
	if (now->resolved_flag && now->resolved >= old->created)
		metric_observe(s->m_resolution, (double)(now->resolved - old->created));
}

/* Bring the entry of one ticket up to date with its row. */
static void update(struct sla *s, const struct row *r)
{
	struct entry *e = find(s, r->e.id);
	if (e)
		observe(s, e, r);
	if (r->resolved_flag) {
		if (e)
			drop(s, e);
	} else if (e) {
		*e = r->e;
	} else {
		put(s, &r->e);
	}
}

/* ---- the timer ---------------------------------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	sla_run(t->data);
}

static void arm(struct sla *s)
{
	time_t now = sla_now(), next = 0;

	/* Overdue changes at due moments, which are timer moments: the gauges
	 * are right whenever the table or the clock moved on. */
	metric_set(s->m_open, (double)s->ne);
	metric_set(s->m_overdue, (double)sla_overdue(s));
	if (s->closed || !s->timer_on)
		return;
	for (size_t i = 0; i < s->ne; i++) {
		time_t m = next_moment(&s->e[i]);
		if (m && (!next || m < next))
			next = m;
	}
	uv_timer_stop(&s->timer);
	if (!next)
		return;
	time_t wait = next > now ? next - now : 0;
	if (wait > SLA_MAX_SLEEP)
		wait = SLA_MAX_SLEEP;
	/* A moment is whole seconds: fire just after it, not just before. */
	uv_timer_start(&s->timer, timer_cb, (uint64_t)wait * 1000 + 50, 0);
}

/* A followed ticket that left the open queue: observe how it ended. */
struct gone {
	struct sla *s;
	struct entry old;
};

static void gone_read(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct gone *g = arg;
	struct row r;
	if (rc == 0 && n == 1) {
		row_from(&v[0], &r);
		observe(g->s, &g->old, &r);
	}
	free(g);
}

/* The open tickets as the store has them: the new table. */
static void rebuilt(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct sla *s = arg;
	struct entry *old = s->e;
	size_t nold = s->ne;

	if (rc < 0 || s->closed) {
		if (!s->closed)
			arm(s);
		return;
	}
	s->e = NULL;
	s->ne = s->cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct row r;
		row_from(&v[i], &r);
		for (size_t j = 0; j < nold; j++) {
			if (old[j].id == r.e.id) {
				observe(s, &old[j], &r);
				old[j].id = 0; /* seen */
				break;
			}
		}
		put(s, &r.e);
	}
	/* Followed tickets that are no longer open: resolved (observe) or gone. */
	for (size_t i = 0; i < nold; i++) {
		if (!old[i].id)
			continue;
		struct gone *g = xmalloc(sizeof(*g));
		g->s = s;
		g->old = old[i];
		struct store_ticket_query q = {.id = old[i].id};
		store_tickets(s->s, &q, gone_read, g);
	}
	free(old);
	arm(s);
}

/* Rebuild the table from every open ticket (the old one stays until the
 * store answered; on an error it stays as it was). */
static void rebuild(struct sla *s)
{
	struct store_ticket_query q = {.filter = TICKETS_OPEN};
	store_tickets(s->s, &q, rebuilt, s);
}

/*
 * One pass over the moments that are due: each ticket is read again (the
 * table may be stale: a reply or resolution from another process not seen
 * yet; the store decides), marked once ("due_soon", "missed") with its
 * notifications, and the group committed when anything was written.  The
 * store may answer each step later; `pending` counts the steps.
 */
struct pass {
	struct sla *s;
	time_t now;
	size_t pending;
	int wrote, failed;
};

struct check {
	struct pass *p;
	int64_t id;
	const char *kind;
};

static void pass_step(struct pass *p)
{
	struct sla *s = p->s;
	if (--p->pending > 0)
		return;
	s->running = 0;
	if (p->wrote && s->commit && s->commit(s->arg) < 0)
		p->failed = 1;
	if (p->failed && s->timer_on && !s->closed) {
		/* The marks may be gone: read the table again and retry soon. */
		rebuild(s);
		uv_timer_stop(&s->timer);
		uv_timer_start(&s->timer, timer_cb, 5000, 0);
	} else {
		arm(s);
	}
	free(p);
}

static void marked(void *arg, int rc)
{
	struct check *c = arg;
	struct pass *p = c->p;
	struct sla *s = p->s;
	struct entry *e = find(s, c->id);
	int missed = !strcmp(c->kind, "missed");
	if (rc < 0) {
		p->failed = 1;
	} else if (e) {
		if (rc == 0) {
			enum notify_event ev = missed ? NOTIFY_MISSED : NOTIFY_DUE_SOON;
			if (s->n && notify_ticket(s->n, ev, e->id, NULL, p->now) < 0)
				p->failed = 1;
			log_info(missed ? "response target missed" : "response target due soon",
			         "ticket=%lld priority=%s due=%lld", (long long)e->id,
			         priority_name(e->priority), (long long)e->due);
			if (missed)
				metric_add_l(s->m_missed, 1, priority_name(e->priority));
			p->wrote = 1;
		}
		/* Past due, "due soon" has nothing left to say. */
		e->warned = 1;
		if (missed)
			e->missed = 1;
	}
	free(c);
	pass_step(p);
}

static void checked(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct check *c = arg;
	struct pass *p = c->p;
	struct sla *s = p->s;
	struct entry *e = find(s, c->id);
	struct row r;

	if (rc < 0)
		p->failed = 1;
	if (rc < 0 || !e) {
		free(c);
		pass_step(p);
		return;
	}
	if (n == 1)
		row_from(&v[0], &r);
	if (n != 1 || r.resolved_flag || r.e.first_response) {
		if (n == 1)
			observe(s, e, &r);
		if (n != 1 || r.resolved_flag)
			drop(s, e);
		else
			*e = r.e;
		free(c);
		pass_step(p);
		return;
	}
	*e = r.e;
	if (!e->missed && e->due <= p->now)
		c->kind = "missed";
	else if (!e->warned && sla_warn_at(e->created, e->due) <= p->now)
		c->kind = "due_soon";
	if (!c->kind) {
		free(c);
		pass_step(p);
		return;
	}
	store_ticket_mark(s->s, e->id, c->kind, NULL, p->now, marked, c);
}

void sla_run(struct sla *s)
{
	time_t now = sla_now();
	if (s->running || s->closed)
		return;
	struct pass *p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->now = now;
	p->pending = 1; /* this function's own step */
	s->running = 1;
	/* The ids first: entries move when one is dropped. */
	size_t nids = 0;
	int64_t *ids = s->ne ? xmalloc(s->ne * sizeof(*ids)) : NULL;
	for (size_t i = 0; i < s->ne; i++) {
		time_t m = next_moment(&s->e[i]);
		if (m && m <= now)
			ids[nids++] = s->e[i].id;
	}
	for (size_t i = 0; i < nids; i++) {
		struct check *c = xcalloc(1, sizeof(*c));
		c->p = p;
		c->id = ids[i];
		p->pending++;
		struct store_ticket_query q = {.id = ids[i]};
		store_tickets(s->s, &q, checked, c);
	}
	free(ids);
	pass_step(p);
}

/* ---- life cycle ------------------------------------------------------------------------- */

struct sla *sla_new(struct loop *l, struct store *st, struct notifier *n, struct metrics *m,
                    int (*commit)(void *arg), void *arg)
{
	/* Minutes to a week: targets range from 30 minutes to days. */
	static const double bounds[] = {60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800};
	struct sla *s = xcalloc(1, sizeof(*s));

	s->l = l;
	s->s = st;
	s->n = n;
	s->commit = commit;
	s->arg = arg;
	if (m) {
		s->m_first = metrics_histogram(m, "first_response_seconds",
		                               "Time from a ticket's creation to its first agent reply.",
		                               bounds, ARRAY_LEN(bounds));
		s->m_resolution = metrics_histogram(m, "resolution_seconds",
		                                    "Time from a ticket's creation to its resolution.",
		                                    bounds, ARRAY_LEN(bounds));
		s->m_missed =
		    metrics_counter(m, "response_targets_missed_total",
		                    "Tickets whose response target passed without a reply.", "priority");
		/* Plain gauges set at every change: a gauge reading the table
		 * would outlive the table on a restart of the SLA. */
		s->m_open = metrics_gauge(m, "tickets_open", "Open tickets (waiting or claimed).", NULL);
		s->m_overdue = metrics_gauge(
		    m, "tickets_overdue", "Open tickets past their response target without a reply.", NULL);
	}
	if (l) {
		uv_timer_init(&l->uv, &s->timer);
		s->timer.data = s;
		s->timer_on = 1;
	}
	/* Whatever fell due while the daemon was down fires right away, once
	 * the store answered with the open tickets. */
	rebuild(s);
	return s;
}

/* Ticket id as the store has it now.  Never runs the moments here: the
 * caller may be in the middle of its own group.  Anything already due
 * fires from the timer. */
struct changed {
	struct sla *s;
	int64_t id;
};

static void changed_one(void *arg, int rc, const struct store_ticket *v, size_t n)
{
	struct changed *c = arg;
	struct sla *s = c->s;
	struct row r;
	if (rc == 0 && !s->closed) {
		if (n == 1) {
			row_from(&v[0], &r);
			update(s, &r);
		} else {
			struct entry *e = find(s, c->id);
			if (e)
				drop(s, e);
		}
		arm(s);
	}
	free(c);
}

void sla_changed(struct sla *s, int64_t id)
{

	if (!s || s->closed)
		return;
	if (id <= 0) {
		rebuild(s);
		return;
	}
	struct changed *c = xmalloc(sizeof(*c));
	c->s = s;
	c->id = id;
	struct store_ticket_query q = {.id = id};
	store_tickets(s->s, &q, changed_one, c);
}

size_t sla_open(const struct sla *s)
{
	return s ? s->ne : 0;
}

size_t sla_overdue(const struct sla *s)
{
	size_t n = 0;
	time_t now = sla_now();
	for (size_t i = 0; s && i < s->ne; i++)
		if (!s->e[i].first_response && s->e[i].due > 0 && s->e[i].due <= now)
			n++;
	return n;
}

void sla_stop(struct sla *s)
{
	if (!s || s->closed)
		return;
	s->closed = 1;
	if (s->timer_on) {
		uv_timer_stop(&s->timer);
		uv_close((uv_handle_t *)&s->timer, NULL);
	}
}

void sla_free(struct sla *s)
{
	if (!s)
		return;
	free(s->e);
	free(s);
}

/* ---- statistics ------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double sla_percentile(double *v, size_t n, int p)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t rank = (n * (size_t)p + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

struct stats_req {
	time_t now;
	void (*cb)(void *arg, int rc, const struct sla_stats *st);
	void *arg;
};

static void stats_read(void *arg, int rc, const struct store_ticket *v, size_t nv)
{
	struct stats_req *q = arg;
	struct sla_stats st, *out = &st;
	time_t now = q->now, since = now - SLA_STATS_WINDOW;
	double *first = nv ? xmalloc(nv * sizeof(*first)) : NULL;
	double *resolution = nv ? xmalloc(nv * sizeof(*resolution)) : NULL;
	size_t nfirst = 0, nres = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; rc == 0 && i < nv; i++) {
		const struct store_ticket *t = &v[i];
		time_t created = t->created, due = t->due, fr = t->first_response, res = t->resolved;
		int open = t->status && strcmp(t->status, "resolved") != 0;
		if (open) {
			out->open++;
			if (!strcmp(t->status, "claimed"))
				out->claimed++;
			else
				out->waiting++;
			if (!fr && due > 0 && due <= now)
				out->overdue++;
			else if (!fr && due > now && sla_warn_at(created, due) <= now)
				out->due_soon++;
		}
		if (created >= since) {
			/* Met: answered or resolved by the due time.  Missed: the
			 * due time passed first.  Neither yet: still running. */
			time_t done = fr ? fr : res;
			if (due > 0 && done && done <= due)
				out->met++;
			else if (due > 0 && ((done && done > due) || (!done && due <= now)))
				out->missed++;
			if (fr) {
				out->answered++;
				first[nfirst++] = (double)(fr - created);
			}
		}
		if (!open && res >= since) {
			out->resolved++;
			resolution[nres++] = (double)(res - created);
		}
	}
	out->first_response_p50 = sla_percentile(first, nfirst, 50);
	out->first_response_p90 = sla_percentile(first, nfirst, 90);
	out->resolution_p50 = sla_percentile(resolution, nres, 50);
	out->resolution_p90 = sla_percentile(resolution, nres, 90);
	free(first);
	free(resolution);
	q->cb(q->arg, rc < 0 ? -1 : 0, rc < 0 ? NULL : out);
	free(q);
}

void sla_stats(struct store *store, time_t now, void (*cb)(void *arg, int rc, const struct sla_stats *st),
               void *arg)
{
	struct stats_req *q = xmalloc(sizeof(*q));
	q->now = now;
	q->cb = cb;
	q->arg = arg;
	struct store_ticket_query tq = {.active_since = now - SLA_STATS_WINDOW};
	store_tickets(store, &tq, stats_read, q);
}
