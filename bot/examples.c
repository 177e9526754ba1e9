/*
 * examples.c - running a rule set's examples, and cross-validating them
 * (see examples.h).
 */
#include "examples.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hours.h"
#include "learn.h"
#include "pipeline.h"
#include "rules.h"

#define MISSES_SHOWN 3 /* examples quoted per category in a warning line */

/*
 * A moment at which the business is open (want_open = 1) or closed (0),
 * at or after `from`, for running rule examples under their conditions.
 */
static time_t moment(const struct engine *e, time_t from, int want_open)
{
	const struct hours *h = e->cfg->hours;
	time_t t = hours_next_open(h, from);
	if (want_open)
		return t == (time_t)-1 ? from : t;
	if (!hours_is_open(h, from))
		return from;
	time_t c = hours_next_close(h, from);
	return c == (time_t)-1 ? from : c;
}

/* Decide `text` as a post that rule r's conditions allow; d is the caller's
 * to decision_free.  Returns whether r decided it. */
static int decide_as(struct engine *e, const struct rule *r, const char *text, struct decision *d)
{
	struct post p;
	time_t now = moment(e, time(NULL), r->when_open != 0);

	memset(&p, 0, sizeof(p));
	p.platform = "check";
	p.post_id = text;
	p.thread_key = "check";
	p.author_handle = "customer";
	p.channel = r->channels ? r->channels[0] : "webchat";
	p.is_public = r->when_public == 1;
	p.text = text;
	p.created = now;
	pipeline_decide(e, &p, NULL, now, d);
	return d->rule && strcmp(d->rule, r->id) == 0 && d->action != ACTION_IGNORE;
}

/* "file:line" of example j of r, or "file:line (taught ...)" */
static void where(struct buf *b, const struct rule *r, const int *lines, char *const *origins, size_t j)
{
	if (origins && origins[j])
		buf_printf(b, "%s:%d: rule '%s': taught example (%s)", r->file, r->line, r->id, origins[j]);
	else
		buf_printf(b, "%s:%d: rule '%s':", r->file, lines && lines[j] ? lines[j] : r->line, r->id);
}

int examples_run(struct engine *e, struct buf *report, struct buf *warn, int *passed)
{
	int failed = 0;
	struct decision d;

	*passed = 0;
	for (size_t i = 0; i < rules_count(e->rules); i++) {
		const struct rule *r = rules_get(e->rules, i);
		for (size_t j = 0; r->examples && r->examples[j]; j++) {
			int hit = decide_as(e, r, r->examples[j], &d);
			int taught = r->example_origins && r->example_origins[j];
			struct buf *to = taught ? warn : report;
			if (hit) {
				(*passed)++;
			} else {
				/* A taught example the bot still does not answer
				 * is for the team to look at, not a broken file. */
				if (taught)
					buf_puts(warn, "warning: ");
				else
					failed++;
				where(to, r, r->example_lines, r->example_origins, j);
				buf_printf(to, " example \"%s\" was decided %s (rule %s%s%s%s)\n",
				           r->examples[j], action_name(d.action), d.rule ? d.rule : "none",
				           d.reason ? ", reason " : "", d.reason ? d.reason : "",
				           d.negative ? ", negative" : "");
			}
			decision_free(&d);
		}
		for (size_t j = 0; r->not_examples && r->not_examples[j]; j++) {
			int hit = decide_as(e, r, r->not_examples[j], &d);
			if (!hit) {
				(*passed)++;
			} else {
				failed++;
				where(report, r, r->not_example_lines, NULL, j);
				buf_printf(report, " not_example \"%s\" matched it (%s%s)\n",
				           r->not_examples[j], action_name(d.action),
				           d.by_examples ? ", recognised from its examples" : "");
			}
			decision_free(&d);
		}
	}
	return failed;
}

void examples_crossval(struct engine *e, int k, struct examples_cv *out)
{
	struct ruleset *rs = e->rules;
	size_t n = rules_count(rs);
	struct decision d;

	memset(out, 0, sizeof(*out));
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strv_len(rules_get(rs, i)->examples);
	if (total < 2 || k < 2)
		return;
	out->folds = k;
	out->rules = xcalloc(n, sizeof(*out->rules));
	/* cv_rule index of each rule with examples */
	size_t *slot = xmalloc((n ? n : 1) * sizeof(*slot));
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rules_get(rs, i);
		size_t ne = strv_len(r->examples);
		slot[i] = SIZE_MAX;
		if (!ne)
			continue;
		slot[i] = out->nrules;
		struct cv_rule *cr = &out->rules[out->nrules++];
		cr->rule = r;
		cr->miss = xcalloc(ne, sizeof(*cr->miss));
	}
	for (int f = 0; f < k; f++) {
		struct learn_model *old = rules_swap_model(rs, rules_train_fold(rs, f, k));
		for (size_t i = 0; i < n; i++) {
			const struct rule *r = rules_get(rs, i);
			for (size_t j = 0; r->examples && r->examples[j]; j++) {
				if (rules_fold(i, j, k) != f)
					continue;
				struct cv_rule *cr = &out->rules[slot[i]];
				cr->examples++;
				out->examples++;
				if (decide_as(e, r, r->examples[j], &d)) {
					cr->recognised++;
					out->recognised++;
				} else {
					struct cv_miss *ms = &cr->miss[cr->examples - cr->recognised - 1];
					ms->text = r->examples[j];
					ms->line = r->example_lines ? r->example_lines[j] : 0;
					ms->origin = r->example_origins ? r->example_origins[j] : NULL;
					ms->as = d.rule;
					ms->confidence =
					    d.by_examples && d.learned[0].rule ? d.learned[0].confidence : -1;
				}
				decision_free(&d);
			}
		}
		learn_free(rules_swap_model(rs, old));
	}
	free(slot);
}

void examples_cv_free(struct examples_cv *cv)
{
	for (size_t i = 0; i < cv->nrules; i++)
		free(cv->rules[i].miss);
	free(cv->rules);
	memset(cv, 0, sizeof(*cv));
}

static int miss_cmp(const void *a, const void *b)
{
	const struct cv_miss *x = a, *y = b;
	if (!x->as || !y->as)
		return !x->as - !y->as; /* named rules first, "none" last */
	return strcmp(x->as, y->as);
}

void examples_cv_text(const struct examples_cv *cv, struct buf *out)
{
	for (size_t i = 0; i < cv->nrules; i++) {
		struct cv_rule *cr = &cv->rules[i];
		size_t nm = cr->examples - cr->recognised;
		if (!nm)
			continue;
		qsort(cr->miss, nm, sizeof(*cr->miss), miss_cmp);
		buf_printf(out,
		           "%s:%d: warning: rule '%s': %zu of %zu example%s not recognised when left out "
		           "of learning:",
		           cr->rule->file, cr->rule->line, cr->rule->id, nm, cr->examples,
		           cr->examples == 1 ? "" : "s");
		for (size_t a = 0; a < nm;) {
			size_t b = a;
			while (b < nm && miss_cmp(&cr->miss[a], &cr->miss[b]) == 0)
				b++;
			if (cr->miss[a].as)
				buf_printf(out, " %zu read as '%s'", b - a, cr->miss[a].as);
			else
				buf_printf(out, " %zu matched no rule", b - a);
			for (size_t j = a; j < b && j < a + MISSES_SHOWN; j++)
				buf_printf(out, "%s\"%s\"", j == a ? " (" : ", ", cr->miss[j].text);
			buf_puts(out, b - a > MISSES_SHOWN ? ", ...)" : ")");
			buf_putc(out, b < nm ? ';' : '\n');
			a = b;
		}
	}
}

json_t *examples_cv_json(const struct examples_cv *cv)
{
	json_t *o = json_object(), *rules = json_array();
	json_object_set_new(o, "folds", json_integer(cv->folds));
	json_object_set_new(o, "examples", json_integer((json_int_t)cv->examples));
	json_object_set_new(o, "recognised", json_integer((json_int_t)cv->recognised));
	for (size_t i = 0; i < cv->nrules; i++) {
		const struct cv_rule *cr = &cv->rules[i];
		json_t *r = json_object(), *missed = json_array();
		json_object_set_new(r, "id", json_string(cr->rule->id));
		json_object_set_new(r, "file", json_string(cr->rule->file));
		json_object_set_new(r, "line", json_integer(cr->rule->line));
		json_object_set_new(r, "examples", json_integer((json_int_t)cr->examples));
		json_object_set_new(r, "recognised", json_integer((json_int_t)cr->recognised));
		for (size_t j = 0; j < cr->examples - cr->recognised; j++) {
			const struct cv_miss *ms = &cr->miss[j];
			json_t *m = json_object();
			json_object_set_new(m, "text", json_string(ms->text));
			if (ms->origin)
				json_object_set_new(m, "origin", json_string(ms->origin));
			else
				json_object_set_new(m, "line", json_integer(ms->line));
			json_object_set_new(m, "decided_as", ms->as ? json_string(ms->as) : json_null());
			json_object_set_new(m, "confidence",
			                    ms->confidence >= 0
			                        ? json_real(round(ms->confidence * 1000) / 1000)
			                        : json_null());
			json_array_append_new(missed, m);
		}
		json_object_set_new(r, "missed", missed);
		json_array_append_new(rules, r);
	}
	json_object_set_new(o, "rules", rules);
	return o;
}
