/*
 * report.c - the insights figures (report.h).
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hours.h"
#include "sla.h"

static const char *const reason_names[RR_COUNT] = {"rule",    "unmatched", "negative", "requested_human",
                                                   "abusive", "other"};

const char *report_reason_name(enum report_reason r)
{
	return (unsigned)r < RR_COUNT ? reason_names[r] : "other";
}

static enum report_reason reason_of(const char *s)
{
	if (!s || !*s || !strcmp(s, "rule"))
		return RR_RULE;
	for (int i = 1; i < RR_OTHER; i++)
		if (!strcmp(s, reason_names[i]))
			return (enum report_reason)i;
	return RR_OTHER;
}

/* The zone's offset from UTC at t, in seconds ("...+01:00" of hours_iso_local). */
static long zone_offset(const struct hours *h, time_t t)
{
	char iso[40];
	if (!h)
		return 0;
	hours_iso_local(h, t, iso, sizeof(iso));
	size_t n = strlen(iso);
	if (n < 6 || (iso[n - 6] != '+' && iso[n - 6] != '-'))
		return 0;
	long off = ((iso[n - 5] - '0') * 10 + (iso[n - 4] - '0')) * 3600L +
	           ((iso[n - 2] - '0') * 10 + (iso[n - 1] - '0')) * 60L;
	return iso[n - 6] == '-' ? -off : off;
}

long report_periods(const struct hours *h, time_t since, time_t until, int days, time_t *origin)
{
	long off = zone_offset(h, until);
	long date = (long)((since + off) / 86400); /* the local date of since */
	if (since + off < 0)
		date = 0;
	if (days == 7)
		date -= (date + 3) % 7; /* 1970-01-01 was a Thursday: back to Monday */
	*origin = (time_t)(date * 86400L - off);
	return days == 7 ? 7L * 86400 : 86400L;
}

/* The tickets of one row (period start, or every period: start < 0; one
 * channel, or all: NULL) into f. */
static void tickets_into(const struct store_report *sr, time_t start, long period, const char *channel,
                         time_t now, struct report_figures *f)
{
	double *first = sr->ntickets ? xmalloc(sr->ntickets * sizeof(*first)) : NULL;
	double *res = sr->ntickets ? xmalloc(sr->ntickets * sizeof(*res)) : NULL;
	size_t nf = 0, nr = 0;
	long score_sum = 0;
	for (size_t i = 0; i < sr->ntickets; i++) {
		const struct store_report_ticket *t = &sr->tickets[i];
		if (start >= 0 && (t->created < start || t->created >= start + period))
			continue;
		if (channel && strcmp(t->channel ? t->channel : "", channel) != 0)
			continue;
		f->tickets++;
		f->by_reason[reason_of(t->reason)]++;
		time_t done = t->first_response ? t->first_response : t->resolved;
		if (t->due > 0 && done && done <= t->due)
			f->met++;
		else if (t->due > 0 && ((done && done > t->due) || (!done && t->due <= now)))
			f->missed++;
		if (t->first_response) {
			f->responded++;
			first[nf++] = (double)(t->first_response - t->created);
		}
		if (t->resolved) {
			f->resolved++;
			res[nr++] = (double)(t->resolved - t->created);
		}
		if (t->rating >= 1 && t->rating <= 5) {
			f->ratings++;
			f->satisfied += t->rating >= 4;
			score_sum += t->rating;
		}
	}
	f->first_response_p50 = sla_percentile(first, nf, 50);
	f->first_response_p90 = sla_percentile(first, nf, 90);
	f->resolution_p50 = sla_percentile(res, nr, 50);
	f->resolution_p90 = sla_percentile(res, nr, 90);
	f->rating_avg = f->ratings ? (double)score_sum / (double)f->ratings : -1;
	free(first);
	free(res);
}

static void posts_into(const struct store_report_posts *p, struct report_figures *f)
{
	f->posts += p->posts;
	f->answered += p->answered;
	f->acknowledged += p->acknowledged;
	f->escalated += p->escalated;
	f->handled += p->handled;
}

static struct report_row *row_add(struct report *r, size_t *cap, time_t start, const char *channel)
{
	if (r->nrows == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		r->rows = xrealloc(r->rows, *cap * sizeof(*r->rows));
	}
	struct report_row *row = &r->rows[r->nrows++];
	memset(row, 0, sizeof(*row));
	row->start = start;
	snprintf(row->channel, sizeof(row->channel), "%s", channel ? channel : "");
	return row;
}

static int has_channel(char (*v)[64], size_t n, const char *c)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], c))
			return 1;
	return 0;
}

void report_build(const struct store_report *sr, time_t since, time_t until, time_t origin, long period,
                  time_t now, struct report *out)
{
	size_t cap = 0;
	memset(out, 0, sizeof(*out));
	out->since = since;
	out->until = until;
	out->period = period;
	if (period <= 0)
		return;
	for (time_t start = origin; start < until; start += period) {
		/* The channels heard from in this period, by posts or tickets. */
		size_t nch = 0, chcap = 8;
		char(*ch)[64] = xmalloc(chcap * sizeof(*ch));
		for (size_t i = 0; i < sr->nposts; i++)
			if (sr->posts[i].start == start &&
			    !has_channel(ch, nch, sr->posts[i].channel ? sr->posts[i].channel : "")) {
				if (nch == chcap)
					ch = xrealloc(ch, (chcap *= 2) * sizeof(*ch));
				snprintf(ch[nch++], sizeof(*ch), "%s",
				         sr->posts[i].channel ? sr->posts[i].channel : "");
			}
		for (size_t i = 0; i < sr->ntickets; i++) {
			const struct store_report_ticket *t = &sr->tickets[i];
			if (t->created >= start && t->created < start + period &&
			    !has_channel(ch, nch, t->channel ? t->channel : "")) {
				if (nch == chcap)
					ch = xrealloc(ch, (chcap *= 2) * sizeof(*ch));
				snprintf(ch[nch++], sizeof(*ch), "%s", t->channel ? t->channel : "");
			}
		}
		size_t total_at = out->nrows;
		struct report_row *all = row_add(out, &cap, start, NULL);
		for (size_t i = 0; i < sr->nposts; i++)
			if (sr->posts[i].start == start)
				posts_into(&sr->posts[i], &all->f);
		tickets_into(sr, start, period, NULL, now, &out->rows[total_at].f);
		for (size_t c = 0; c < nch; c++) {
			struct report_row *row = row_add(out, &cap, start, ch[c]);
			for (size_t i = 0; i < sr->nposts; i++)
				if (sr->posts[i].start == start &&
				    !strcmp(sr->posts[i].channel ? sr->posts[i].channel : "", ch[c]))
					posts_into(&sr->posts[i], &row->f);
			tickets_into(sr, start, period, ch[c], now, &row->f);
		}
		free(ch);
	}
	for (size_t i = 0; i < sr->nposts; i++)
		posts_into(&sr->posts[i], &out->total);
	tickets_into(sr, -1, period, NULL, now, &out->total);
}

/* The busiest hours: each hour's posts at its local weekday and hour. */
static void busiest_into(const struct store_report *sr, const struct hours *h, struct report *r)
{
	for (size_t i = 0; i < sr->nhours; i++) {
		time_t t = sr->hours[i].start;
		long off = zone_offset(h, t);
		long local = (long)t + off;
		long date = local >= 0 ? local / 86400 : 0;
		int hour = (int)((local % 86400 + 86400) % 86400 / 3600);
		r->busiest[hours_weekday(date)][hour] += sr->hours[i].posts;
	}
}

/* report_compute's state while the store reads. */
struct compute {
	const struct hours *h;
	time_t since, until, origin, now;
	long period;
	report_done_fn done;
	void *arg;
};

static void computed(void *arg, int rc, const struct store_report *sr)
{
	struct compute *c = arg;
	struct report r;
	memset(&r, 0, sizeof(r));
	if (rc == 0) {
		report_build(sr, c->since, c->until, c->origin, c->period, c->now, &r);
		busiest_into(sr, c->h, &r);
	}
	c->done(c->arg, rc, &r);
	report_free(&r);
	free(c);
}

void report_compute(struct store *s, const struct hours *h, time_t since, time_t until, int days, time_t now,
                    report_done_fn done, void *arg)
{
	struct compute *c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->since = since;
	c->until = until;
	c->now = now;
	c->done = done;
	c->arg = arg;
	c->period = report_periods(h, since, until, days == 7 ? 7 : 1, &c->origin);
	store_report(s, since, until, c->origin, c->period, computed, c);
}

void report_free(struct report *r)
{
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* ---- output --------------------------------------------------------------------- */

static json_t *share(long part, long whole)
{
	return whole > 0 ? json_real(round(1000.0 * (double)part / (double)whole) / 1000.0) : json_null();
}

static json_t *seconds(double v)
{
	return v >= 0 ? json_integer((json_int_t)llround(v)) : json_null();
}

static json_t *figures_json(const struct report_figures *f)
{
	json_t *o = json_object(), *esc = json_object();
	json_object_set_new(o, "posts", json_integer(f->posts));
	json_object_set_new(o, "answered", json_integer(f->answered));
	json_object_set_new(o, "acknowledged", json_integer(f->acknowledged));
	json_object_set_new(o, "escalated", json_integer(f->escalated));
	json_object_set_new(o, "handled", json_integer(f->handled));
	json_object_set_new(o, "handled_share", share(f->handled, f->posts));
	json_object_set_new(o, "tickets", json_integer(f->tickets));
	for (int i = 0; i < RR_COUNT; i++)
		if (f->by_reason[i])
			json_object_set_new(esc, reason_names[i], json_integer(f->by_reason[i]));
	json_object_set_new(o, "escalations", esc);
	json_object_set_new(o, "first_response",
	                    json_pack("{s:o, s:o}", "p50", seconds(f->first_response_p50), "p90",
	                              seconds(f->first_response_p90)));
	json_object_set_new(
	    o, "resolution",
	    json_pack("{s:o, s:o}", "p50", seconds(f->resolution_p50), "p90", seconds(f->resolution_p90)));
	json_object_set_new(o, "responded", json_integer(f->responded));
	json_object_set_new(o, "met", json_integer(f->met));
	json_object_set_new(o, "missed", json_integer(f->missed));
	json_object_set_new(o, "met_share", share(f->met, f->met + f->missed));
	json_object_set_new(o, "resolved", json_integer(f->resolved));
	json_object_set_new(
	    o, "csat",
	    json_pack("{s:I, s:o, s:o}", "ratings", (json_int_t)f->ratings, "satisfied_share",
	              share(f->satisfied, f->ratings), "average",
	              f->rating_avg >= 0 ? json_real(round(f->rating_avg * 100.0) / 100.0) : json_null()));
	return o;
}

static json_t *when(const struct hours *h, time_t t)
{
	char iso[40];
	if (h)
		hours_iso_local(h, t, iso, sizeof(iso));
	else
		time_iso_utc(t, iso, sizeof(iso));
	return json_string(iso);
}

json_t *report_json(const struct report *r, const struct hours *h)
{
	json_t *o = json_object(), *periods = json_array(), *cur = NULL;
	json_object_set_new(o, "since", when(h, r->since));
	json_object_set_new(o, "until", when(h, r->until));
	json_object_set_new(o, "period", json_string(r->period == 7L * 86400 ? "week" : "day"));
	json_object_set_new(o, "total", figures_json(&r->total));
	for (size_t i = 0; i < r->nrows; i++) {
		const struct report_row *row = &r->rows[i];
		if (!row->channel[0]) {
			cur = json_object();
			json_object_set_new(cur, "start", when(h, row->start));
			json_object_set_new(cur, "total", figures_json(&row->f));
			json_object_set_new(cur, "channels", json_object());
			json_array_append_new(periods, cur);
		} else if (cur) {
			json_object_set_new(json_object_get(cur, "channels"), row->channel,
			                    figures_json(&row->f));
		}
	}
	json_object_set_new(o, "periods", periods);
	static const char *const days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	json_t *b = json_object(), *grid = json_array();
	int pd = 0, ph = 0;
	for (int d = 0; d < 7; d++) {
		json_t *row = json_array();
		for (int hr = 0; hr < 24; hr++) {
			json_array_append_new(row, json_integer(r->busiest[d][hr]));
			if (r->busiest[d][hr] > r->busiest[pd][ph]) {
				pd = d;
				ph = hr;
			}
		}
		json_array_append_new(grid, row);
	}
	json_object_set_new(b, "posts", grid);
	json_object_set_new(b, "peak",
	                    r->busiest[pd][ph] ? json_pack("{s:s, s:i, s:I}", "weekday", days[pd], "hour", ph,
	                                                   "posts", (json_int_t)r->busiest[pd][ph])
	                                       : json_null());
	json_object_set_new(o, "busiest", b);
	return o;
}

/* "2h 10m", "45m", "30s", "-" */
static void span(double s, char *out, size_t n)
{
	if (s < 0) {
		snprintf(out, n, "-");
		return;
	}
	long v = (long)llround(s), d = v / 86400, h = v % 86400 / 3600, m = v % 3600 / 60;
	if (d)
		snprintf(out, n, "%ldd %ldh", d, h);
	else if (h)
		snprintf(out, n, "%ldh %ldm", h, m);
	else if (m)
		snprintf(out, n, "%ldm", m);
	else
		snprintf(out, n, "%lds", v);
}

static void pct(long part, long whole, char *out, size_t n)
{
	if (whole > 0)
		snprintf(out, n, "%.0f%%", 100.0 * (double)part / (double)whole);
	else
		snprintf(out, n, "-");
}

static void text_line(struct buf *out, const char *label, const char *channel, const struct report_figures *f)
{
	char handled[16], fr[48], res[48], met[16], csat[48];
	pct(f->handled, f->posts, handled, sizeof(handled));
	span(f->first_response_p50, fr, sizeof(fr));
	span(f->resolution_p50, res, sizeof(res));
	pct(f->met, f->met + f->missed, met, sizeof(met));
	if (f->ratings)
		snprintf(csat, sizeof(csat), "%.0f%% (%ld)",
		         100.0 * (double)f->satisfied / (double)f->ratings, f->ratings);
	else
		snprintf(csat, sizeof(csat), "-");
	buf_printf(out, "%-11s %-10.10s %6ld %7s %6ld %7s %8s %5ld %6s %s\n", label, channel, f->posts,
	           handled, f->tickets, fr, res, f->missed, met, csat);
}

void report_text(const struct report *r, const struct hours *h, struct buf *out)
{
	buf_printf(out, "%-11s %-10s %6s %7s %6s %7s %8s %5s %6s %s\n",
	           r->period == 7L * 86400 ? "week of" : "day", "channel", "posts", "by bot", "people",
	           "reply", "resolved", "late", "on time", "satisfied");
	for (size_t i = 0; i < r->nrows; i++) {
		const struct report_row *row = &r->rows[i];
		if (!row->f.posts && !row->f.tickets)
			continue;
		char day[40] = "";
		if (h)
			hours_iso_local(h, row->start, day, sizeof(day));
		else
			time_iso_utc(row->start, day, sizeof(day));
		day[10] = '\0';
		text_line(out, row->channel[0] ? "" : day, row->channel[0] ? row->channel : "all", &row->f);
	}
	text_line(out, "total", "all", &r->total);
	buf_puts(out, "\nescalations:");
	int any = 0;
	for (int i = 0; i < RR_COUNT; i++)
		if (r->total.by_reason[i]) {
			buf_printf(out, " %s %ld,", reason_names[i], r->total.by_reason[i]);
			any = 1;
		}
	if (any)
		out->p[out->len - 1] = '\n';
	else
		buf_puts(out, " none\n");
	static const char *const days[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	int pd = 0, ph = 0;
	for (int d = 0; d < 7; d++)
		for (int hr = 0; hr < 24; hr++)
			if (r->busiest[d][hr] > r->busiest[pd][ph]) {
				pd = d;
				ph = hr;
			}
	if (r->busiest[pd][ph])
		buf_printf(out, "busiest hour: %s %02d:00-%02d:00 (%ld posts)\n", days[pd], ph, (ph + 1) % 24,
		           r->busiest[pd][ph]);
	buf_puts(out,
	         "by bot: answered or acknowledged, and no person needed within a day; reply and resolved: "
	         "medians; late: response targets missed; satisfied: ratings of 4 or 5\n");
}
