/*
 * rules.h - the business's rules (YAML files it edits) and matching a
 * normalized post against all of them at once: by their phrases and
 * regexes, and by what was learned from their examples.
 *
 * A rule file is a list of rules:
 *
 *   - id: opening-hours               # required, unique across all files: [a-z0-9][a-z0-9._-]*
 *     match:                          # phrases that recognise it for certain; optional
 *       any: ["opening hours", "/\\bopen(ing)? (on )?sundays?\\b/"]   # when it has examples
 *       all: [...]                    # every one must match
 *       none: [refund]                # none may match
 *     when: { channel: [webchat], public: true, open: false }   # optional
 *     reply: faq.opening_hours        # ANSWER: a replies key
 *     examples: ["When are you open on Sunday?", "what time do you shut"]
 *     not_examples: ["I want a refund, when do you open"]
 *
 *   - id: thanks
 *     match: { any: [thanks, "thank you"] }
 *     acknowledge: smalltalk.thanks   # ACK: acknowledgement only
 *
 *   - id: refund-demand
 *     examples: ["I want my money back", "please refund my order"]
 *     escalate: { priority: high }    # ESCALATE (`escalate: true`: no priority of its own);
 *                                     # a `reply:` beside it overrides the acknowledgement
 *   - id: ask-human
 *     match: { any: ["speak to a person", "real human"] }
 *     escalate: { reason: requested_human }   # HUMAN
 *     priority: high                  # top-level priority is accepted for escalate kinds
 *
 * Exactly one of reply / acknowledge / escalate per rule, except that
 * escalate may carry a reply override.  A rule needs `match` (with any or
 * all), or `examples`, or both.
 *
 * Phrases.  A plain string is normalized like a post (text_normalize_phrase)
 * and matches whole words of text.norm: "Opening Hours!" matches the post
 * "what are your opening hours?" but "open" does not match "opening".  A
 * string /regex/ or /regex/flags (flags i, m, s, x) is a PCRE2 regex (UTF,
 * Unicode properties, JIT) run on the normalized words without the outer
 * spaces ("what are your opening hours"), with match limits so that no
 * pattern can stall the daemon.  A regex that hits a limit (text padded to
 * exhaust it) decides in favour of a person: its condition holds for an
 * escalation rule (escalate or human; for `none`, the regex counts as
 * absent) and fails for any other rule, and it is logged (at most once a
 * minute per regex).  A backspace character in a regex is read as \b: it is
 * what "\b" inside a double-quoted YAML string becomes.
 *
 * Matching.  Every phrase of every rule is in one Aho-Corasick automaton;
 * one scan of the post finds the phrases present, and only the rules they
 * can make true are evaluated, plus the few rules whose positive conditions
 * are regexes only (those are evaluated for every post).  The cost of a post
 * therefore grows with the phrases it contains, not with the number of rules.
 *
 * Learning.  Every rule with examples is a class of one model (learn.h),
 * learned when the rules load from its examples, against its not_examples,
 * the other rules' examples and a built-in set of off-topic messages.
 * rules_learned() ranks the rules a post is most like, with a confidence;
 * a rule so recognised must still satisfy its `when`, `match.all` and
 * `match.none`: `any` lists the phrases that recognise a rule for certain,
 * examples teach it to recognise paraphrases, and all / none restrict both.
 * Examples may also come from outside the files (taught by the team:
 * rules_load_ex); they are learned the same way.
 *
 * Errors.  Every problem in every file is reported to the diag as
 * "file:line:col: message" (unknown keys with "did you mean"), and the
 * whole load then fails.
 *
 * Ownership and threads: a ruleset owns its rules and everything they point
 * to (id, file, reply, channels, examples), valid until rules_free().
 * Loading (learning included) reads only its arguments and touches no
 * global state, so a reload may load on another thread.  rules_match()
 * and rules_learned() use scratch space inside the ruleset and allocate
 * nothing: one ruleset serves one thread at a time.
 */
#ifndef FD_RULES_H
#define FD_RULES_H

#include <stddef.h>

#include "normalize.h"
#include "util.h"
#include "yml.h"

struct learn_model;

enum rule_kind { RULE_ANSWER, RULE_ACK, RULE_ESCALATE, RULE_HUMAN };

/* "answer", "acknowledge", "escalate", "human". */
const char *rule_kind_name(enum rule_kind k);

struct rule {
	char *id;
	char *file; /* where it was defined (shared with the other rules of the file) */
	int line;
	enum rule_kind kind;
	char *reply;            /* replies key: the answer or acknowledgement; for the
	                         * escalate kinds the override, NULL when not given */
	enum priority priority; /* escalate kinds only; PRIO_NONE if unset */
	char **channels;        /* NULL-terminated; NULL = any channel */
	int when_public;        /* -1 any, 1 only public posts, 0 only private ones */
	int when_open;          /* -1 any, 1 only while open, 0 only while closed */
	char **examples;        /* NULL-terminated, may be NULL: those of the file, then taught ones */
	char **not_examples;    /* NULL-terminated, may be NULL */
	int *example_lines;     /* line of each example in `file`; 0 for a taught one */
	int *not_example_lines;
	char **example_origins; /* per example: NULL (the file) or where a taught one came from */
	int learned;            /* the model has it as a class (it has examples to learn from) */
};

/* An example from outside the rule files: a customer's question the team
 * taught the bot (kept in the store).  `origin` says where it came from in
 * messages ("taught by sam on 2026-11-02"); it may be NULL. */
struct rules_extra {
	const char *rule; /* the rule's id */
	const char *text;
	const char *origin;
	int negative; /* a not_example */
};

struct ruleset;

/*
 * Load the rule files in order (NULL-terminated list; NULL = none) into one
 * ruleset.  Every error of every file goes to d; returns NULL if there was
 * any (nothing is kept), else the ruleset (rules_free() it).
 */
struct ruleset *rules_load(char *const *files, struct diag *d);

/*
 * The same, plus examples from outside the files (NULL / 0: none).  An
 * extra example for a rule that does not exist (renamed or removed since it
 * was taught) is skipped with a warning in the log, never an error: it must
 * not stop a reload; rules_extra_skipped() counts them.
 */
struct ruleset *rules_load_ex(char *const *files, const struct rules_extra *extra, size_t nextra,
                              struct diag *d);
size_t rules_extra_skipped(const struct ruleset *rs);

/* The same for one file held in memory; `name` is the file name errors use. */
struct ruleset *rules_load_mem(const char *name, const char *data, size_t len, struct diag *d);

void rules_free(struct ruleset *rs);

size_t rules_count(const struct ruleset *rs);
/* Rule i in file order (files in the order given), or NULL past the end. */
const struct rule *rules_get(const struct ruleset *rs, size_t i);
/* The rule with this id, or NULL. */
const struct rule *rules_find(const struct ruleset *rs, const char *id);
/* Distinct phrases in the automaton, and regexes, over all rules. */
size_t rules_phrases(const struct ruleset *rs);
size_t rules_regexes(const struct ruleset *rs);
/* Rules evaluated for every post because their positive conditions are
 * regexes only (worth keeping few). */
size_t rules_always_checked(const struct ruleset *rs);

struct rules_ctx {
	const char *channel; /* channel or platform name; NULL matches no `channel` condition */
	int is_public;
	int is_open;
};

/* The first matching rule of each kind, in file order; NULL where none. */
struct rules_match {
	const struct rule *human, *escalate, *answer, *ack;
};

/*
 * Match a post normalized by text_normalize() against every rule's phrases
 * and regexes.  Never fails and never allocates; a regex that hits its match
 * limit counts as not matching.
 */
void rules_match(struct ruleset *rs, const struct text *t, const struct rules_ctx *ctx,
                 struct rules_match *out);

/* A rule the post is like, and how sure the model is (learn.h: 0..1). */
struct rules_guess {
	const struct rule *rule;
	double confidence;
};

/*
 * The k rules the post is most like by their examples, best first, among
 * those whose `when`, `match.all` and `match.none` allow them.  Call it
 * right after rules_match() on the same text and context (it reuses that
 * scan).  Returns how many were written; 0 when no rule has examples or the
 * post shares nothing with them.  Allocates nothing.
 */
size_t rules_learned(struct ruleset *rs, const struct text *t, const struct rules_ctx *ctx,
                     struct rules_guess *out, size_t k);

/*
 * For people choosing among rules (dashboard suggestions, grouping similar
 * unanswered questions): the k rules of the given kinds (a mask of
 * 1u << RULE_ANSWER ...; 0 = every kind) the post is most like by their
 * examples, best first, whatever their conditions.  Allocates nothing.
 */
size_t rules_suggest(struct ruleset *rs, const struct text *t, unsigned kinds, struct rules_guess *out,
                     size_t k);

/*
 * Why rule r matches the post by its phrases: the phrase or regex (as
 * written in the rule, normalized) of its `any` (else `all`) that the post
 * contains, or NULL.  For explanations (`frontdesk try`), not the hot path.
 */
const char *rules_explain(struct ruleset *rs, const struct rule *r, const struct text *t);

/*
 * Cross-validation of the examples (`frontdesk check`).  Each rule's
 * examples are dealt into k folds (rules_fold(): the j-th example of the
 * i-th rule goes to fold (i + j) % k); rules_train_fold() learns a model
 * from every example outside fold f, and rules_swap_model() puts it in
 * place of the ruleset's own (returning the one it replaces, to swap back
 * and learn_free() the other).  Neither touches the phrases.
 */
int rules_fold(size_t rule_index, size_t example, int k);
struct learn_model *rules_train_fold(const struct ruleset *rs, int f, int k);
struct learn_model *rules_swap_model(struct ruleset *rs, struct learn_model *m);

/* Rules the model learned (rules with examples), and its heap bytes. */
size_t rules_learned_count(const struct ruleset *rs);
size_t rules_model_bytes(const struct ruleset *rs);

#endif
