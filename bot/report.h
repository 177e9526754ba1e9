/*
 * report.h - what the bot saves the team, in figures: per day or week and
 * per channel, the posts, the share the bot handled without a person
 * (answered or acknowledged, and no ticket for the conversation within a
 * day after), escalations by reason, first-response and resolution times
 * (median and 90th percentile) and the share answered within the target,
 * targets missed, and customer satisfaction (the share of 4 and 5 among the
 * ratings, and their average).  The insights page, `frontdesk report` and
 * /metrics show the same figures (one computation, here).
 *
 * A target is met when the first reply or the resolution came by the due
 * time, missed when the due time passed first (the rule handoff/sla.c
 * applies); tickets count in the period and channel they were opened in.
 * Periods start at local midnight (a week: Monday's) in the business's time
 * zone, with the zone's offset at the end of the window for every period
 * (a period across a daylight-saving change is an hour off at one end).
 *
 * Ownership: a struct report owns its rows (report_free).  No I/O: the
 * store's rows are read by whoever calls (store.h: store_report).
 */
#ifndef FD_REPORT_H
#define FD_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "store.h"
#include "util.h"

struct hours;

#define REPORT_MAX_DAYS 366 /* the longest window asked for */

/* Escalation reasons as the decision record names them; the rest: "other". */
enum report_reason {
	RR_RULE = 0, /* an escalation rule (a refund, an order problem ...) */
	RR_UNMATCHED,
	RR_NEGATIVE,
	RR_REQUESTED_HUMAN,
	RR_ABUSIVE,
	RR_OTHER,
	RR_COUNT
};
const char *report_reason_name(enum report_reason r);

struct report_figures {
	long posts, answered, acknowledged, escalated, handled;
	long tickets; /* opened */
	long by_reason[RR_COUNT];
	long responded, met, missed, resolved;
	double first_response_p50, first_response_p90; /* seconds; -1 none */
	double resolution_p50, resolution_p90;
	long ratings, satisfied; /* satisfied: rated 4 or 5 */
	double rating_avg;       /* -1 none */
};

struct report_row {
	time_t start;
	char channel[64]; /* "" for every channel together */
	struct report_figures f;
};

struct report {
	time_t since, until;
	/* Posts by local weekday (0 Monday .. 6 Sunday) and hour of the day:
	 * when the customers write (the busiest hours). */
	long busiest[7][24];
	long period;             /* seconds: 86400 or 604800 */
	struct report_row *rows; /* by start; each period's total ("") first, then its channels */
	size_t nrows;
	struct report_figures total;
};

/*
 * The window [since, until) cut into periods of `days` (1 or 7) days in the
 * business's zone: the first period's start (*origin, for store_report)
 * and its length in seconds.  h NULL: UTC.
 */
long report_periods(const struct hours *h, time_t since, time_t until, int days, time_t *origin);

/*
 * The whole computation, the one every view uses (the insights page,
 * `frontdesk report`, /metrics): periods of `days` (1 or 7) in h's zone,
 * the store's rows, the figures (busiest hours included) at `now`.
 * done(arg, rc, r) runs once, now or later (the store's way): rc 0 with r
 * (borrowed for the call), or -1 (r empty).
 */
typedef void (*report_done_fn)(void *arg, int rc, const struct report *r);
void report_compute(struct store *s, const struct hours *h, time_t since, time_t until, int days, time_t now,
                    report_done_fn done, void *arg);

/* Figures from the store's rows (store_report with the same window and
 * periods) at `now` (targets not yet due are neither met nor missed). */
void report_build(const struct store_report *sr, time_t since, time_t until, time_t origin, long period,
                  time_t now, struct report *out);
void report_free(struct report *r);

/*
 * As JSON: {"since","until","period":"day"|"week","total":{...},
 *           "periods":[{"start","total":{...},"channels":{"webchat":{...}}}]}
 * each figures object {"posts","answered","acknowledged","escalated",
 * "handled","handled_share","tickets","escalations":{"rule":n,...},
 * "first_response":{"p50","p90"},"resolution":{"p50","p90"},
 * "responded","met","missed","met_share","resolved","csat":{"ratings",
 * "satisfied_share","average"}} (seconds; null when there is nothing to
 * measure).  Times ISO-8601 in the business's zone (h NULL: UTC).
 * "busiest": {"posts":[[24 counts] x 7, Monday first], "peak":
 * {"weekday":"Mon","hour":14,"posts":N} | null}.
 */
json_t *report_json(const struct report *r, const struct hours *h);
/* A table for people, one line per period and channel. */
void report_text(const struct report *r, const struct hours *h, struct buf *out);

#endif
