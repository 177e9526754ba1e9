/*
 * examples.h - a rule set testing itself (`frontdesk check`): every rule's
 * examples and not_examples run through the real decision, and the
 * examples cross-validated: each one decided by a model learned without it,
 * to see which rules the bot has really learned and which it only knows by
 * heart.
 *
 * Running the examples.  An example must be decided by its rule (phrase,
 * regex or examples: whichever recognises it), a not_example must not.
 * Each runs at a moment the rule's `when: open` allows, on its first
 * `when: channel`, public when the rule wants public posts.  A failure is an
 * error: the configuration is refused.
 *
 * Cross-validation.  The examples are dealt into k folds (rules.h:
 * rules_fold); for each fold a model is learned from the others and put in
 * place of the rule set's own, and the fold's examples are decided again.
 * An example decided by another rule, or by none, is a warning for its
 * rule: the bot would not recognise a question like it that it had not
 * seen.  The rule set's own model is back in place afterwards.
 *
 * Ownership: results borrow rule ids and example texts from the engine;
 * free them with examples_cv_free() before the engine.  Nothing here fails
 * but memory (xmalloc aborts).
 */
#ifndef FD_EXAMPLES_H
#define FD_EXAMPLES_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

struct engine;
struct rule;

/*
 * Run every example and not_example; one line per failure is appended to
 * report ("file:line: rule 'x': example \"...\" was decided ...").
 * *passed and the return value count the outcomes as the rules expect and
 * the failures.  A taught example (one from the store, taught.h) that is
 * not decided by its rule is a warning line in warn instead, not a
 * failure: the team taught it, the files are not wrong.
 */
int examples_run(struct engine *e, struct buf *report, struct buf *warn, int *passed);

/* One example the cross-validation did not see decided by its rule. */
struct cv_miss {
	const char *text;
	int line;           /* in the rule's file; 0 for a taught example */
	const char *origin; /* a taught example's origin, or NULL */
	const char *as;     /* the rule that decided it instead, or NULL (none: handed to a person) */
	double confidence;  /* the examples' confidence in `as`, -1 when not from examples */
};

struct cv_rule {
	const struct rule *rule;
	size_t examples, recognised;
	struct cv_miss *miss; /* examples - recognised of them */
};

struct examples_cv {
	int folds; /* 0: nothing to cross-validate (fewer than two examples) */
	size_t examples, recognised;
	struct cv_rule *rules; /* every rule with examples, in file order */
	size_t nrules;
};

/* Cross-validate with k folds (k >= 2). */
void examples_crossval(struct engine *e, int k, struct examples_cv *out);
void examples_cv_free(struct examples_cv *cv);

/* Warnings, one line per rule with misses: "file:line: warning: rule 'x':
 * 2 of 9 examples ...". */
void examples_cv_text(const struct examples_cv *cv, struct buf *out);

/* Per-rule figures as a JSON object (check --json): {"folds", "examples",
 * "recognised", "rules": [{"id", "file", "line", "examples", "recognised",
 * "missed": [{"text", "line" | "origin", "decided_as", "confidence"}]}]}. */
json_t *examples_cv_json(const struct examples_cv *cv);

#endif
