/*
 * metrics.h - a tiny Prometheus registry: counters, gauges (set directly or
 * read from a callback at render time), families of either with labels
 * (frontdesk_decisions_total{action="answer",rule="opening-hours"}), and
 * histograms.  metrics_render() writes the text exposition format 0.0.4
 * that the dashboard listener serves at /metrics.
 *
 * Names are given without the "frontdesk_" prefix, which the registry adds
 * ("decisions_total" is exposed as frontdesk_decisions_total).  Registering a
 * name twice returns the existing metric when the kind and labels agree, so
 * modules may register lazily; a conflicting registration returns NULL, and
 * every update function accepts NULL and does nothing (metrics never stop the
 * daemon).  A family keeps at most METRICS_MAX_SERIES label combinations;
 * updates for further ones are dropped with one log line.
 *
 * Ownership: the registry owns every metric; pointers stay valid until
 * metrics_free().  Names, help texts and label values are copied.
 * Single-threaded like the rest of the daemon.
 */
#ifndef FD_METRICS_H
#define FD_METRICS_H

#include <stddef.h>

#include "util.h"

#define METRICS_MAX_LABELS  4
#define METRICS_MAX_SERIES  1000
#define METRICS_MAX_BUCKETS 24

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Register a counter or gauge.  `labels` is NULL for a single series, or a
 * comma-separated list of label names ("action,rule"), at most
 * METRICS_MAX_LABELS.  Returns the metric, or NULL on a bad name or a
 * conflicting earlier registration (logged).
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels);

/* A gauge whose value is read from fn(arg) at every render (queue length,
 * open connections, resident memory).  No labels. */
struct metric *metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                                double (*fn)(void *arg), void *arg);
/* The same for a value that only grows (exposed as a counter). */
struct metric *metrics_counter_fn(struct metrics *m, const char *name, const char *help,
                                  double (*fn)(void *arg), void *arg);

/*
 * A histogram with the given upper bucket bounds (strictly increasing, at
 * most METRICS_MAX_BUCKETS; +Inf is implicit).  bounds NULL = latency
 * defaults in seconds from 0.0005 to 60.  No labels.
 */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
                                 size_t nbounds);

/* Unlabelled updates.  add: counters only accept delta >= 0. */
void metric_inc(struct metric *x);
void metric_add(struct metric *x, double delta);
void metric_set(struct metric *x, double v);     /* gauges */
void metric_observe(struct metric *x, double v); /* histograms */

/*
 * Labelled updates: pass exactly as many label values (const char *, NULL
 * taken as "") as the family has label names, in the same order.
 *   metric_add_l(decisions, 1, "answer", "opening-hours");
 */
void metric_add_l(struct metric *x, double delta, ...);
void metric_set_l(struct metric *x, double v, ...);

/* Current value of an unlabelled counter/gauge, or of a histogram's count
 * (tests, /api/stats). */
double metric_value(const struct metric *x);

/* Append the exposition text for every metric, in registration order.
 * Returns 0, or -1 when out would pass its cap. */
int metrics_render(struct metrics *m, struct buf *out);

/* Register the process gauges: resident_memory_bytes, peak_resident_memory_bytes,
 * cpu_seconds_total, open_fds, start_time_seconds, and build_info{version}. */
void metrics_add_process(struct metrics *m);

#endif
