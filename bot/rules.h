/*
 * rules.h - the business's rules (YAML files it edits) and matching a
 * normalized post against all of them at once.
 *
 * A rule file is a list of rules:
 *
 *   - id: opening-hours               # required, unique across all files: [a-z0-9][a-z0-9._-]*
 *     match:                          # required; at least one of any / all
 *       any: ["opening hours", "open today", "/\\bopen(ing)? (on )?sundays?\\b/"]
 *       all: [...]                    # every one must match
 *       none: [refund]                # none may match
 *     when: { channel: [webchat], public: true, open: false }   # optional
 *     reply: faq.opening_hours        # ANSWER: a replies key
 *     examples: ["When are you open on Sunday?"]
 *     not_examples: ["I want a refund, when do you open"]
 *
 *   - id: thanks
 *     match: { any: [thanks, "thank you"] }
 *     acknowledge: smalltalk.thanks   # ACK: acknowledgement only
 *
 *   - id: refund-demand
 *     match: { any: [refund, "money back"] }
 *     escalate: { priority: high }    # ESCALATE (`escalate: true`: no priority of its own);
 *                                     # a `reply:` beside it overrides the acknowledgement
 *   - id: ask-human
 *     match: { any: ["speak to a person", "real human"] }
 *     escalate: { reason: requested_human }   # HUMAN
 *     priority: high                  # top-level priority is accepted for escalate kinds
 *
 * Exactly one of reply / acknowledge / escalate per rule, except that
 * escalate may carry a reply override.
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
 * Errors.  Every problem in every file is reported to the diag as
 * "file:line:col: message" (unknown keys with "did you mean"), and the
 * whole load then fails.
 *
 * Ownership and threads: a ruleset owns its rules and everything they point
 * to (id, file, reply, channels, examples), valid until rules_free().
 * rules_match() uses scratch space inside the ruleset and allocates
 * nothing: one ruleset serves one thread at a time.
 */
#ifndef FD_RULES_H
#define FD_RULES_H

#include <stddef.h>

#include "normalize.h"
#include "util.h"
#include "yml.h"

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
	char **examples;        /* NULL-terminated, may be NULL */
	char **not_examples;    /* NULL-terminated, may be NULL */
};

struct ruleset;

/*
 * Load the rule files in order (NULL-terminated list; NULL = none) into one
 * ruleset.  Every error of every file goes to d; returns NULL if there was
 * any (nothing is kept), else the ruleset (rules_free() it).
 */
struct ruleset *rules_load(char *const *files, struct diag *d);

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
 * Match a post normalized by text_normalize() against every rule.  Never
 * fails and never allocates; a regex that hits its match limit counts as
 * not matching.
 */
void rules_match(struct ruleset *rs, const struct text *t, const struct rules_ctx *ctx,
                 struct rules_match *out);

#endif
