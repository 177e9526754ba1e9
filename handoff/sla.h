/*
 * sla.h - response targets of open tickets: the "about to miss" and
 * "missed" moments as timers on the loop, and the numbers that tell how
 * well the business keeps its targets (first-response and resolution
 * times, misses) for /metrics and the dashboard.
 *
 * A ticket's target is its `due` time (set when it was opened, in business
 * time: business.response_targets).  The target is met by the first agent
 * reply (tickets.first_response) or by resolving the ticket before `due`.
 *
 *   due soon  at sla_warn_at(created, due) = due - min(15 min, 20 % of the
 *             time from created to due): 15 minutes ahead for most tickets,
 *             proportionally earlier for short targets (a 30 min urgent
 *             target warns 6 minutes ahead);
 *   missed    at due.
 * Each fires once per ticket, ever: it is recorded as a ticket event
 * ("due_soon", "missed") in the same transaction as its notifications, so
 * a restart neither repeats nor forgets it (a ticket that became overdue
 * while the daemon was down is reported as missed when it starts).
 *
 * Timers are one uv timer on the loop armed for the earliest pending
 * moment.  The table of open tickets is rebuilt from the store at start
 * and whenever the daemon says something changed (sla_changed), so tickets
 * claimed or resolved by the dashboard or by `frontdesk queue` in another
 * process are followed too.  At fire time the ticket is read again, so a
 * stale entry never produces a wrong notification.
 *
 * Metrics (registered on the daemon's registry, names without the
 * frontdesk_ prefix): histograms first_response_seconds and
 * resolution_seconds (observed when this process sees a ticket get its
 * first response / get resolved), counter response_targets_missed_total,
 * gauges tickets_open and tickets_overdue.
 *
 * Ownership: struct sla borrows the loop, store, notifier and metrics
 * (all must outlive it); sla_stop closes its timer in the loop's teardown,
 * sla_free frees it after loop_run returned.
 */
#ifndef FD_SLA_H
#define FD_SLA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct loop;
struct store;
struct notifier;
struct metrics;

#define SLA_WARN_AHEAD    (15 * 60)       /* seconds before due for "due soon"... */
#define SLA_WARN_FRACTION 5               /* ...but at most 1/5 of the whole target */
#define SLA_STATS_WINDOW  (7 * 24 * 3600) /* sla_stats looks this far back */

/* When "due soon" fires for a ticket opened at created and due at due
 * (0 when there is no due time). */
time_t sla_warn_at(time_t created, time_t due);

struct sla;

/*
 * Start following the store's open tickets: reads them (the store may
 * answer later), then arms the timer.  `n` may be NULL (then nothing is
 * notified, the marks and metrics still happen).  `commit` commits the
 * group after a timer wrote marks and notifications (0 issued, -1 failed).
 */
struct sla *sla_new(struct loop *l, struct store *s, struct notifier *n, struct metrics *m,
                    int (*commit)(void *arg), void *arg);

/*
 * Something changed: ticket `id` (read it again), or 0 for "anything may
 * have changed" (after store_external_change() said another process wrote:
 * the whole table is rebuilt).  Call it after every write that opens,
 * claims, releases, resolves or answers a ticket, or after the commit.
 * Cheap for one id; a rebuild costs one query over the open tickets.
 */
void sla_changed(struct sla *s, int64_t id);

/* Fire whatever is due now (the timer calls this; tests too). */
void sla_run(struct sla *s);

/* The clock (epoch seconds) the SLA uses; tests may replace it. */
extern time_t (*sla_now)(void);

/* Open tickets followed, and of them overdue at now. */
size_t sla_open(const struct sla *s);
size_t sla_overdue(const struct sla *s);

/* Close the timer (from the loop's on_teardown). */
void sla_stop(struct sla *s);
void sla_free(struct sla *s);

/* The nearest-rank p-th percentile of v[0..n) (sorted in place); -1 when
 * n is 0.  The one definition of the figures' medians (sla_stats, report.h). */
double sla_percentile(double *v, size_t n, int p);

/* How well targets are kept, from the store (right after a restart too). */
struct sla_stats {
	long open, waiting, claimed;
	long overdue;              /* open, past due, no first response */
	long due_soon;             /* open, no first response, past its warn time, not yet due */
	long answered;             /* tickets opened in the window that got a first response */
	long resolved;             /* tickets resolved in the window */
	long missed;               /* tickets opened in the window whose target was missed */
	long met;                  /* ... and whose target was met */
	double first_response_p50; /* seconds, over tickets opened in the window; -1 when none */
	double first_response_p90;
	double resolution_p50; /* seconds, over tickets resolved in the window; -1 when none */
	double resolution_p90;
};

/* Compute at `now` over the last SLA_STATS_WINDOW from the store's ticket
 * read model; cb(arg, 0, stats) or cb(arg, -1, NULL) once, now or later. */
void sla_stats(struct store *s, time_t now, void (*cb)(void *arg, int rc, const struct sla_stats *st),
               void *arg);

#endif
