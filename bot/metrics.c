/*
 * metrics.c - the Prometheus registry of metrics.h.  Label combinations live
 * in a small chained hash table per family, so an update costs one hash and
 * a few string compares however many series a family has.
 */
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PREFIX   "frontdesk_"
#define NBUCKETS 64 /* hash buckets per labelled family */

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM, K_GAUGE_FN, K_COUNTER_FN };

struct series {
	struct series *next;  /* hash chain */
	struct series *order; /* creation order, for stable output */
	uint64_t hash;
	char *values[METRICS_MAX_LABELS];
	double v;
};

struct metric {
	struct metric *next;
	enum kind kind;
	char *name; /* with the prefix */
	char *help;
	int nlabels;
	char *labels[METRICS_MAX_LABELS];
	double value;
	struct series *buckets[NBUCKETS];
	struct series *first, *last;
	size_t nseries;
	int overflow_logged;
	/* histogram */
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
	uint64_t counts[METRICS_MAX_BUCKETS + 1];
	double sum;
	uint64_t count;
	/* callback gauges */
	double (*fn)(void *arg);
	void *arg;
};

struct metrics {
	struct metric *first, *last;
};

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30,   60};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

static void metric_free(struct metric *x)
{
	struct series *s = x->first;
	while (s) {
		struct series *n = s->order;
		for (int i = 0; i < x->nlabels; i++)
			free(s->values[i]);
		free(s);
		s = n;
	}
	for (int i = 0; i < x->nlabels; i++)
		free(x->labels[i]);
	free(x->name);
	free(x->help);
	free(x);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	struct metric *x = m->first;
	while (x) {
		struct metric *n = x->next;
		metric_free(x);
		x = n;
	}
	free(m);
}

static int valid_name(const char *s, int allow_colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (allow_colon && c == ':')))
			return 0;
	}
	return 1;
}

/* Split "a,b" into x->labels; 0 or -1. */
static int parse_labels(struct metric *x, const char *labels)
{
	if (!labels || !*labels)
		return 0;
	const char *p = labels;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (x->nlabels == METRICS_MAX_LABELS)
			return -1;
		char *name = xstrndup(p, l);
		x->labels[x->nlabels++] = name;
		if (!valid_name(name, 0) || strcmp(name, "le") == 0)
			return -1;
		p += l + (e ? 1 : 0);
	}
	return 0;
}

static int same_labels(const struct metric *a, const struct metric *b)
{
	if (a->nlabels != b->nlabels)
		return 0;
	for (int i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return 0;
	return 1;
}

/*
 * Build a metric and either register it or, when the name exists with the
 * same kind and labels, return the existing one.  NULL (logged) on a bad
 * name or a conflict.
 */
static struct metric *metric_register(struct metrics *m, enum kind kind, const char *name, const char *help,
                                      const char *labels)
{
	if (!m)
		return NULL;
	struct metric *x = xcalloc(1, sizeof(*x));
	x->kind = kind;
	x->name = xasprintf(PREFIX "%s", name ? name : "");
	x->help = xstrdup(help ? help : "");
	if (!valid_name(name, 1) || parse_labels(x, labels) < 0) {
		log_error("bad metric definition", "name=%s", x->name);
		metric_free(x);
		return NULL;
	}
	for (struct metric *o = m->first; o; o = o->next) {
		if (strcmp(o->name, x->name) != 0)
			continue;
		if (o->kind == x->kind && same_labels(o, x) && o->kind != K_GAUGE_FN &&
		    o->kind != K_COUNTER_FN) {
			metric_free(x);
			return o;
		}
		log_error("metric registered twice with different definitions", "name=%s", x->name);
		metric_free(x);
		return NULL;
	}
	if (m->last)
		m->last->next = x;
	else
		m->first = x;
	m->last = x;
	return x;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metric_register(m, K_COUNTER, name, help, labels);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return metric_register(m, K_GAUGE, name, help, labels);
}

static struct metric *register_fn(struct metrics *m, enum kind kind, const char *name, const char *help,
                                  double (*fn)(void *), void *arg)
{
	if (!fn)
		return NULL;
	struct metric *x = metric_register(m, kind, name, help, NULL);
	if (x) {
		x->fn = fn;
		x->arg = arg;
	}
	return x;
}

struct metric *metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                                double (*fn)(void *arg), void *arg)
{
	return register_fn(m, K_GAUGE_FN, name, help, fn, arg);
}

struct metric *metrics_counter_fn(struct metrics *m, const char *name, const char *help,
                                  double (*fn)(void *arg), void *arg)
{
	return register_fn(m, K_COUNTER_FN, name, help, fn, arg);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
                                 size_t nbounds)
{
	if (!bounds) {
		bounds = default_bounds;
		nbounds = ARRAY_LEN(default_bounds);
	}
	if (nbounds == 0 || nbounds > METRICS_MAX_BUCKETS) {
		log_error("bad histogram buckets", "name=%s", name ? name : "");
		return NULL;
	}
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1])) {
			log_error("histogram buckets must increase", "name=%s", name ? name : "");
			return NULL;
		}
	struct metric *x = metric_register(m, K_HISTOGRAM, name, help, NULL);
	if (x && x->nbounds == 0) {
		memcpy(x->bounds, bounds, nbounds * sizeof(double));
		x->nbounds = nbounds;
	}
	return x;
}

void metric_add(struct metric *x, double delta)
{
	if (!x || x->nlabels || !(x->kind == K_COUNTER || x->kind == K_GAUGE))
		return;
	if (x->kind == K_COUNTER && !(delta >= 0))
		return;
	x->value += delta;
}

void metric_inc(struct metric *x)
{
	metric_add(x, 1);
}

void metric_set(struct metric *x, double v)
{
	if (x && !x->nlabels && x->kind == K_GAUGE)
		x->value = v;
}

void metric_observe(struct metric *x, double v)
{
	if (!x || x->kind != K_HISTOGRAM || isnan(v))
		return;
	size_t i = 0;
	while (i < x->nbounds && v > x->bounds[i])
		i++;
	x->counts[i]++;
	x->sum += v;
	x->count++;
}

double metric_value(const struct metric *x)
{
	if (!x)
		return 0;
	switch (x->kind) {
	case K_HISTOGRAM: return (double)x->count;
	case K_GAUGE_FN:
	case K_COUNTER_FN: return x->fn(x->arg);
	default: return x->value;
	}
}

/* The series for these label values, created on first use; NULL when the
 * family is full. */
static struct series *series_get(struct metric *x, const char **vals)
{
	struct buf key;
	buf_init(&key, 0);
	for (int i = 0; i < x->nlabels; i++)
		buf_append(&key, vals[i], strlen(vals[i]) + 1);
	uint64_t h = hash64(key.p, key.len);
	buf_free(&key);
	struct series **head = &x->buckets[h % NBUCKETS];
	for (struct series *s = *head; s; s = s->next) {
		if (s->hash != h)
			continue;
		int same = 1;
		for (int i = 0; i < x->nlabels && same; i++)
			same = strcmp(s->values[i], vals[i]) == 0;
		if (same)
			return s;
	}
	if (x->nseries >= METRICS_MAX_SERIES) {
		if (!x->overflow_logged)
			log_warn("metric has too many label combinations; dropping new ones", "name=%s",
			         x->name);
		x->overflow_logged = 1;
		return NULL;
	}
	struct series *s = xcalloc(1, sizeof(*s));
	s->hash = h;
	for (int i = 0; i < x->nlabels; i++)
		s->values[i] = xstrdup(vals[i]);
	s->next = *head;
	*head = s;
	if (x->last)
		x->last->order = s;
	else
		x->first = s;
	x->last = s;
	x->nseries++;
	return s;
}

static struct series *series_va(struct metric *x, va_list ap)
{
	const char *vals[METRICS_MAX_LABELS];
	for (int i = 0; i < x->nlabels; i++) {
		const char *v = va_arg(ap, const char *);
		vals[i] = v ? v : "";
	}
	return series_get(x, vals);
}

void metric_add_l(struct metric *x, double delta, ...)
{
	if (!x || !x->nlabels || !(x->kind == K_COUNTER || x->kind == K_GAUGE))
		return;
	if (x->kind == K_COUNTER && !(delta >= 0))
		return;
	va_list ap;
	va_start(ap, delta);
	struct series *s = series_va(x, ap);
	va_end(ap);
	if (s)
		s->v += delta;
}

void metric_set_l(struct metric *x, double v, ...)
{
	if (!x || !x->nlabels || x->kind != K_GAUGE)
		return;
	va_list ap;
	va_start(ap, v);
	struct series *s = series_va(x, ap);
	va_end(ap);
	if (s)
		s->v = v;
}

/* ---- rendering --------------------------------------------------------- */

/* The shortest decimal that reads back as exactly v ("0.1", not
 * "0.10000000000000001"). */
static void fmt_double(char *out, size_t n, double v)
{
	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, n, "%.0f", v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static void put_number(struct buf *b, double v)
{
	char tmp[40];
	fmt_double(tmp, sizeof(tmp), v);
	buf_puts(b, tmp);
}

static void put_escaped(struct buf *b, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (quote && *s == '"')
			buf_puts(b, "\\\"");
		else
			buf_putc(b, *s);
	}
}

static void put_labels(struct buf *b, const struct metric *x, const struct series *s, const char *le)
{
	if (!x->nlabels && !le)
		return;
	buf_putc(b, '{');
	for (int i = 0; i < x->nlabels; i++) {
		if (i)
			buf_putc(b, ',');
		buf_printf(b, "%s=\"", x->labels[i]);
		put_escaped(b, s->values[i], 1);
		buf_putc(b, '"');
	}
	if (le)
		buf_printf(b, "%sle=\"%s\"", x->nlabels ? "," : "", le);
	buf_putc(b, '}');
}

static void render_one(struct buf *b, const struct metric *x)
{
	static const char *types[] = {"counter", "gauge", "histogram", "gauge", "counter"};
	buf_printf(b, "# HELP %s ", x->name);
	put_escaped(b, x->help, 0);
	buf_printf(b, "\n# TYPE %s %s\n", x->name, types[x->kind]);
	switch (x->kind) {
	case K_HISTOGRAM: {
		uint64_t cum = 0;
		char le[40];
		for (size_t i = 0; i <= x->nbounds; i++) {
			cum += x->counts[i];
			fmt_double(le, sizeof(le), i < x->nbounds ? x->bounds[i] : INFINITY);
			buf_printf(b, "%s_bucket", x->name);
			put_labels(b, x, NULL, le);
			buf_printf(b, " %llu\n", (unsigned long long)cum);
		}
		buf_printf(b, "%s_sum ", x->name);
		put_number(b, x->sum);
		buf_printf(b, "\n%s_count %llu\n", x->name, (unsigned long long)x->count);
		break;
	}
	case K_GAUGE_FN:
	case K_COUNTER_FN:
		buf_puts(b, x->name);
		buf_putc(b, ' ');
		put_number(b, x->fn(x->arg));
		buf_putc(b, '\n');
		break;
	default:
		if (!x->nlabels) {
			buf_puts(b, x->name);
			buf_putc(b, ' ');
			put_number(b, x->value);
			buf_putc(b, '\n');
			break;
		}
		for (const struct series *s = x->first; s; s = s->order) {
			buf_puts(b, x->name);
			put_labels(b, x, s, NULL);
			buf_putc(b, ' ');
			put_number(b, s->v);
			buf_putc(b, '\n');
		}
	}
}

int metrics_render(struct metrics *m, struct buf *out)
{
	if (!m)
		return 0;
	struct buf b;
	buf_init(&b, 0);
	for (const struct metric *x = m->first; x; x = x->next)
		render_one(&b, x);
	int rc = b.len ? buf_append(out, b.p, b.len) : 0;
	buf_free(&b);
	return rc;
}

/* ---- process metrics ------------------------------------------------------ */

/* A "Name:   1234 kB" line of /proc/self/status, in bytes; 0 if unknown. */
static double proc_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	char line[256];
	size_t kl = strlen(key);
	double v = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtod(line + kl + 1, NULL) * 1024.0;
			break;
		}
	}
	fclose(f);
	return v;
}

static double rss_bytes(void *arg)
{
	return proc_status_kb("VmRSS");
}

static double peak_rss_bytes(void *arg)
{
	return proc_status_kb("VmHWM");
}

static double cpu_seconds(void *arg)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double open_fds(void *arg)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	double n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream itself */
}

void metrics_add_process(struct metrics *m)
{
	metrics_gauge_fn(m, "resident_memory_bytes", "Resident memory of the daemon.", rss_bytes, NULL);
	metrics_gauge_fn(m, "peak_resident_memory_bytes", "Peak resident memory of the daemon.",
	                 peak_rss_bytes, NULL);
	metrics_counter_fn(m, "cpu_seconds_total", "User and system CPU time used.", cpu_seconds, NULL);
	metrics_gauge_fn(m, "open_fds", "Open file descriptors.", open_fds, NULL);
	struct metric *start =
	    metrics_gauge(m, "start_time_seconds", "Start time of the daemon, epoch seconds.", NULL);
	if (start && metric_value(start) == 0)
		metric_set(start, (double)time(NULL));
	metric_set_l(metrics_gauge(m, "build_info", "Version of the running daemon.", "version"), 1,
	             FD_VERSION);
}
