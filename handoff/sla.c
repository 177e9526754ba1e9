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

#include <sqlite3.h>
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

#define ENTRY_COLUMNS                                                                                        \
	"k.id, k.status, k.priority, k.created, COALESCE(k.due, 0), COALESCE(k.first_response, 0),"          \
	" COALESCE(k.resolved, 0),"                                                                          \
	" EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = 'due_soon'),"          \
	" EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = k.id AND e.kind = 'missed')"

struct row {
	struct entry e;
	int resolved_flag;
	time_t resolved;
};

static void row_read(sqlite3_stmt *st, struct row *r)
{
	const char *status = (const char *)sqlite3_column_text(st, 1);
	memset(r, 0, sizeof(*r));
	r->e.id = sqlite3_column_int64(st, 0);
	r->resolved_flag = status && strcmp(status, "resolved") == 0;
	r->e.priority = priority_parse((const char *)sqlite3_column_text(st, 2));
	if (r->e.priority == PRIO_NONE)
		r->e.priority = PRIO_NORMAL;
	r->e.created = sqlite3_column_int64(st, 3);
	r->e.due = sqlite3_column_int64(st, 4);
	r->e.first_response = sqlite3_column_int64(st, 5);
	r->resolved = sqlite3_column_int64(st, 6);
	r->e.warned = sqlite3_column_int(st, 7);
	r->e.missed = sqlite3_column_int(st, 8);
}

static void db_error(struct sla *s, const char *op)
{
	log_error("sla: store read failed", "op=%s err=\"%s\"", op, sqlite3_errmsg(store_db(s->s)));
}

/* Ticket id's row: 1 found, 0 absent, -1 error. */
static int read_one(struct sla *s, int64_t id, struct row *r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(store_db(s->s), "SELECT " ENTRY_COLUMNS " FROM tickets k WHERE k.id = ?1", -1,
	                       &st, NULL) != SQLITE_OK) {
		db_error(s, "ticket");
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_read(st, r);
	else if (rc != SQLITE_DONE)
		db_error(s, "ticket");
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
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

/* Rebuild the table from every open ticket; 0 or -1 (the old table stays). */
static int rebuild(struct sla *s)
{
	sqlite3_stmt *st;
	struct entry *old = s->e;
	size_t nold = s->ne;
	int rc;

	if (sqlite3_prepare_v2(store_db(s->s),
	                       "SELECT " ENTRY_COLUMNS " FROM tickets k WHERE k.status <> 'resolved'", -1,
	                       &st, NULL) != SQLITE_OK) {
		db_error(s, "open tickets");
		return -1;
	}
	s->e = NULL;
	s->ne = s->cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct row r;
		row_read(st, &r);
		for (size_t i = 0; i < nold; i++) {
			if (old[i].id == r.e.id) {
				observe(s, &old[i], &r);
				old[i].id = 0; /* seen */
				break;
			}
		}
		put(s, &r.e);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(s, "open tickets");
		free(s->e);
		s->e = old;
		s->ne = s->cap = nold;
		return -1;
	}
	/* Followed tickets that are no longer open: resolved (observe) or gone. */
	for (size_t i = 0; i < nold; i++) {
		struct row r;
		if (old[i].id && read_one(s, old[i].id, &r) == 1)
			observe(s, &old[i], &r);
	}
	free(old);
	return 0;
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

/*
 * Record `kind` for the ticket and queue its notifications, once ever.
 * Returns 1 when it was new, 0 when it had happened before, -1 on error.
 */
static int mark(struct sla *s, const struct entry *e, const char *kind, enum notify_event ev, time_t now)
{
	int rc = store_ticket_mark(s->s, e->id, kind, NULL, now);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (s->n && notify_ticket(s->n, ev, e->id, NULL, now) < 0)
		return -1;
	log_info(ev == NOTIFY_MISSED ? "response target missed" : "response target due soon",
	         "ticket=%lld priority=%s due=%lld", (long long)e->id, priority_name(e->priority),
	         (long long)e->due);
	return 1;
}

void sla_run(struct sla *s)
{
	time_t now = sla_now();
	int wrote = 0, failed = 0;

	size_t i = 0;
	while (i < s->ne && !failed) {
		struct entry *e = &s->e[i];
		time_t m = next_moment(e);
		if (!m || m > now) {
			i++;
			continue;
		}
		/* The table may be stale (a reply or resolution from another
		 * process not seen yet): the store decides. */
		struct row r;
		int rc = read_one(s, e->id, &r);
		if (rc < 0) {
			failed = 1;
			break;
		}
		if (rc == 0 || r.resolved_flag || r.e.first_response) {
			if (rc == 1)
				observe(s, e, &r);
			if (rc == 0 || r.resolved_flag) {
				/* drop() moves the last entry into slot i: it is next. */
				drop(s, e);
			} else {
				*e = r.e;
				i++;
			}
			continue;
		}
		*e = r.e;
		if (!e->missed && e->due <= now) {
			rc = mark(s, e, "missed", NOTIFY_MISSED, now);
			if (rc == 1)
				metric_add_l(s->m_missed, 1, priority_name(e->priority));
			/* Past due, "due soon" has nothing left to say. */
			if (rc >= 0) {
				e->missed = e->warned = 1;
				wrote |= rc;
			}
		} else if (!e->warned && sla_warn_at(e->created, e->due) <= now) {
			rc = mark(s, e, "due_soon", NOTIFY_DUE_SOON, now);
			if (rc >= 0) {
				e->warned = 1;
				wrote |= rc;
			}
		}
		if (rc < 0)
			failed = 1;
		i++;
	}
	if (wrote && s->commit && s->commit(s->arg) < 0) {
		/* Rolled back: the marks are gone, so the next pass tries again. */
		rebuild(s);
		failed = 1;
	}
	if (failed && s->timer_on && !s->closed) {
		uv_timer_stop(&s->timer);
		uv_timer_start(&s->timer, timer_cb, 5000, 0);
		return;
	}
	arm(s);
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
	if (rebuild(s) < 0) {
		free(s);
		return NULL;
	}
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
	/* Whatever fell due while the daemon was down fires right away. */
	arm(s);
	return s;
}

void sla_changed(struct sla *s, int64_t id)
{
	struct row r;

	if (!s || s->closed)
		return;
	if (id <= 0) {
		rebuild(s);
	} else {
		int rc = read_one(s, id, &r);
		if (rc == 1) {
			update(s, &r);
		} else if (rc == 0) {
			struct entry *e = find(s, id);
			if (e)
				drop(s, e);
		}
	}
	/* Never runs the moments here: the caller may be in the middle of
	 * its own transaction.  Anything already due fires from the timer. */
	arm(s);
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

/* Nearest-rank percentile of v[0..n) (sorted here); -1 when n is 0. */
static double percentile(double *v, size_t n, int p)
{
	if (n == 0)
		return -1;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t rank = (n * (size_t)p + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

int sla_stats(struct store *store, time_t now, struct sla_stats *out)
{
	sqlite3 *db = store_db(store);
	sqlite3_stmt *st;
	time_t since = now - SLA_STATS_WINDOW;
	double *first = NULL, *resolution = NULL;
	size_t nfirst = 0, nres = 0, cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT k.status, k.created, COALESCE(k.due, 0), COALESCE(k.first_response, 0),"
	        " COALESCE(k.resolved, 0) FROM tickets k"
	        " WHERE k.status <> 'resolved' OR k.created >= ?1 OR k.resolved >= ?1",
	        -1, &st, NULL) != SQLITE_OK) {
		log_error("sla: store read failed", "op=stats err=\"%s\"", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);
		time_t created = sqlite3_column_int64(st, 1), due = sqlite3_column_int64(st, 2);
		time_t fr = sqlite3_column_int64(st, 3), res = sqlite3_column_int64(st, 4);
		int open = status && strcmp(status, "resolved") != 0;

		if (nfirst == cap || nres == cap) {
			cap = cap ? cap * 2 : 64;
			first = xrealloc(first, cap * sizeof(*first));
			resolution = xrealloc(resolution, cap * sizeof(*resolution));
		}
		if (open) {
			out->open++;
			if (!strcmp(status, "claimed"))
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
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_error("sla: store read failed", "op=stats err=\"%s\"", sqlite3_errmsg(db));
		free(first);
		free(resolution);
		return -1;
	}
	out->first_response_p50 = percentile(first, nfirst, 50);
	out->first_response_p90 = percentile(first, nfirst, 90);
	out->resolution_p50 = percentile(resolution, nres, 50);
	out->resolution_p90 = percentile(resolution, nres, 90);
	free(first);
	free(resolution);
	return 0;
}
