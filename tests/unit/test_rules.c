/*
 * test_rules.c - rule files: every loading error with its position and
 * wording, the matching semantics, and the cost of matching as the rule
 * set grows (printed, not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "learn.h"
#include "normalize.h"
#include "rules.h"
#include "util.h"
#include "yml.h"

static struct ruleset *load(const char *yaml, struct diag *d)
{
	return rules_load_mem("rules.yaml", yaml, strlen(yaml), d);
}

/* The load must fail with exactly `nerr` errors, among them every line of
 * `want` (NULL-terminated). */
static void expect_errors(const char *yaml, int nerr, const char *const *want)
{
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load(yaml, &d);
	const char *out = d.out.p ? d.out.p : "";
	if (rs)
		fail_msg("loaded, expected errors:\n%s", yaml);
	for (size_t i = 0; want[i]; i++)
		if (!strstr(out, want[i]))
			fail_msg("missing error\n  %s\ngot:\n%s", want[i], out);
	if (d.errors != nerr)
		fail_msg("%d errors, want %d:\n%s", d.errors, nerr, out);
	diag_free(&d);
}

#define EXPECT(yaml, n, ...)                                                                                 \
	do {                                                                                                 \
		static const char *const w_[] = {__VA_ARGS__, NULL};                                         \
		expect_errors(yaml, n, w_);                                                                  \
	} while (0)

static void test_errors_keys(void **state)
{
	(void)state;
	EXPECT("- id: a\n"
	       "  match: {any: [x]}\n"
	       "  replly: faq.a\n",
	       2, "rules.yaml:3:3: unknown key 'replly' in rule 'a' (did you mean 'reply'?)",
	       "rules.yaml:1:3: rule 'a': needs one of 'reply' (an answer), 'acknowledge' or 'escalate'");
	EXPECT("- id: a\n"
	       "  match: { any: [refund], anyy: [x] }\n"
	       "  reply: faq.a\n",
	       1, "rules.yaml:2:27: unknown key 'anyy' in the match of rule 'a' (did you mean 'any'?)");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  when: { chanel: webchat, opn: true }\n"
	       "  reply: faq.a\n",
	       2, "rules.yaml:3:11: unknown key 'chanel' in the when of rule 'a' (did you mean 'channel'?)",
	       "rules.yaml:3:28: unknown key 'opn' in the when of rule 'a' (did you mean 'open'?)");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  escalate: { priority: high, reasn: rule }\n",
	       1,
	       "rules.yaml:3:31: unknown key 'reasn' in the escalate of rule 'a' (did you mean 'reason'?)");
	EXPECT("- id: a\n"
	       "  id: b\n"
	       "  match: { any: [x] }\n"
	       "  reply: k\n",
	       1, "rules.yaml:2:3: duplicate key 'id' in rule 'a'");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  reply: k\n"
	       "  zzzz: 1\n",
	       1, "rules.yaml:4:3: unknown key 'zzzz' in rule 'a'\n");
}

static void test_errors_match(void **state)
{
	(void)state;
	EXPECT("- id: a\n"
	       "  match: { none: [x] }\n"
	       "  reply: faq.a\n",
	       1,
	       "rules.yaml:2:10: rule 'a': 'match' needs 'any' or 'all' (with only 'none' it would match "
	       "every post; or give examples to learn from)");
	EXPECT("- id: a\n"
	       "  reply: faq.a\n",
	       1,
	       "rules.yaml:1:3: rule 'a': needs 'match' (phrases that recognise it: match: { any: [phrase, "
	       "...] }) or 'examples' (questions it answers, to learn from), or both");
	EXPECT("- id: a\n"
	       "  match: [x]\n"
	       "  reply: faq.a\n",
	       1, "rules.yaml:2:10: rule 'a': 'match' must be a mapping with any, all and/or none");
	EXPECT("- id: a\n"
	       "  match: { any: [] }\n"
	       "  reply: faq.a\n",
	       1,
	       "rules.yaml:2:17: rule 'a': 'any' is an empty list; give at least one phrase or leave it out");
	EXPECT("- id: a\n"
	       "  match: { any: [ok, [x]], all: {a: b} }\n"
	       "  reply: faq.a\n",
	       2, "rules.yaml:2:22: rule 'a': expected a phrase (a string) in 'any'",
	       "rules.yaml:2:33: rule 'a': 'all' must be a phrase or a list of phrases");
	EXPECT("- id: a\n"
	       "  match: { any: [\"?!\", \"@bob\"] }\n"
	       "  reply: faq.a\n",
	       2,
	       "rules.yaml:2:18: rule 'a': phrase '?!' has no words once normalized (punctuation, URLs and "
	       "@mentions are dropped), so it could never match",
	       "rules.yaml:2:24: rule 'a': phrase '@bob' has no words once normalized");
}

static void test_errors_regex(void **state)
{
	(void)state;
	EXPECT("- id: a\n"
	       "  match: { any: ['/(ab/'] }\n"
	       "  reply: faq.a\n",
	       1,
	       "rules.yaml:2:18: rule 'a': bad regex /(ab/: missing closing parenthesis (at offset 3 of the "
	       "regex)");
	EXPECT("- id: a\n"
	       "  match: { any: ['/ab/q', '/abc', '//'] }\n"
	       "  reply: faq.a\n",
	       3, "rules.yaml:2:18: rule 'a': unknown regex flag 'q' in /ab/q (the flags are i, m, s and x)",
	       "rules.yaml:2:27: rule 'a': '/abc' starts with '/' but has no closing '/'",
	       "rules.yaml:2:35: rule 'a': empty regex //");
	EXPECT("- id: a\n"
	       "  match: { all: ['/x{2,1}/', '/\\p{Nope}/'] }\n"
	       "  reply: faq.a\n",
	       2, "rules.yaml:2:18: rule 'a': bad regex /x{2,1}/: numbers out of order in {} quantifier",
	       "rules.yaml:2:30: rule 'a': bad regex /\\p{Nope}/: unknown property after \\P or \\p (at "
	       "offset 8 of the regex)");
}

static void test_errors_kind(void **state)
{
	(void)state;
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  reply: faq.a\n"
	       "  acknowledge: smalltalk.a\n",
	       1, "rules.yaml:4:16: rule 'a': has both 'reply' and 'acknowledge'");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  acknowledge: smalltalk.a\n"
	       "  escalate: true\n",
	       1, "rules.yaml:3:16: rule 'a': 'acknowledge' and 'escalate' exclude each other");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  reply: faq.a\n"
	       "  priority: high\n",
	       1, "rules.yaml:4:13: rule 'a': 'priority' applies only to escalate rules");
	EXPECT(
	    "- id: a\n"
	    "  match: { any: [x] }\n"
	    "  escalate: { priority: hgh }\n"
	    "- id: b\n"
	    "  match: { any: [x] }\n"
	    "  escalate: { priority: high, reason: requested_humn }\n"
	    "  priority: low\n"
	    "- id: c\n"
	    "  match: { any: [x] }\n"
	    "  escalate: false\n"
	    "- id: d\n"
	    "  match: { any: [x] }\n"
	    "  escalate: [high]\n"
	    "- id: e\n"
	    "  match: { any: [x] }\n"
	    "  escalate: true\n"
	    "  priority: critical\n",
	    6, "rules.yaml:3:25: rule 'a': unknown priority 'hgh' (did you mean 'high'?)",
	    "rules.yaml:6:39: rule 'b': unknown escalation reason 'requested_humn' (did you mean "
	    "'requested_human'?)",
	    "rules.yaml:7:13: rule 'b': priority is given twice, here and inside 'escalate'",
	    "rules.yaml:10:13: rule 'c': 'escalate: false' does nothing; remove it and give reply or "
	    "acknowledge",
	    "rules.yaml:13:13: rule 'd': 'escalate' must be true or a mapping such as { priority: high }",
	    "rules.yaml:17:13: rule 'e': unknown priority 'critical' (expected urgent, high, normal or low)");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  reply: \"faq opening hours\"\n",
	       1,
	       "rules.yaml:3:10: rule 'a': 'reply' must be a replies key such as faq.opening_hours (got 'faq "
	       "opening hours')");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  when: { channel: [webcaht, sms], public: maybe }\n"
	       "  reply: faq.a\n",
	       2, "rules.yaml:3:20: rule 'a': unknown channel 'webcaht' (did you mean 'webchat'?)",
	       "rules.yaml:3:44: rule 'a': 'public' must be true or false (got 'maybe')");
}

static void test_errors_ids(void **state)
{
	(void)state;
	EXPECT(
	    "- match: { any: [x] }\n"
	    "  reply: faq.a\n"
	    "- id: Opening Hours\n"
	    "  match: { any: [x] }\n"
	    "  reply: faq.a\n"
	    "- id: [x]\n"
	    "  match: { any: [x] }\n"
	    "  reply: faq.a\n",
	    3, "rules.yaml:1:3: rule #1: has no 'id' (a unique name such as opening-hours)",
	    "rules.yaml:3:7: rule #2: id 'Opening Hours' is not valid: use at most 100 lower-case letters, "
	    "digits, '.', '_' and '-', starting with a letter or digit",
	    "rules.yaml:6:7: rule #3: 'id' must be a string such as opening-hours");
	EXPECT("- id: a\n"
	       "  match: { any: [x] }\n"
	       "  reply: faq.a\n"
	       "- id: a\n"
	       "  match: { any: [y] }\n"
	       "  reply: faq.b\n",
	       1, "rules.yaml:4:7: duplicate rule id 'a' (first defined at rules.yaml:1)");
}

static void test_errors_document(void **state)
{
	(void)state;
	EXPECT("id: a\nmatch: {any: [x]}\n", 1,
	       "rules.yaml:1:1: expected a list of rules, each starting with '- id: ...'");
	EXPECT("- just a string\n", 1,
	       "rules.yaml:1:3: rule #1: expected a rule: a mapping with id, match and reply");
	EXPECT("- id: a\n  match: {any: [x]\n", 1, "rules.yaml:2:10: the '{' opened here is never closed");
	EXPECT("- id: a\n  match: { any: [\"\\q\"] }\n", 1, "rules.yaml:2:");

	/* Several errors in one file, all reported in order of appearance. */
	struct diag d;
	diag_init(&d);
	assert_null(load("- id: a\n"
	                 "  match: { any: [x] }\n"
	                 "  reply: faq.a\n"
	                 "- id: b\n"
	                 "  match: { nne: [x] }\n"
	                 "  reply: faq.b\n"
	                 "- id: c\n"
	                 "  match: { any: ['/[/'] }\n"
	                 "  acknowledge: k\n",
	                 &d));
	assert_int_equal(d.errors, 3);
	const char *e1 = strstr(
	    d.out.p, "rules.yaml:5:12: unknown key 'nne' in the match of rule 'b' (did you mean 'none'?)");
	const char *e2 = strstr(d.out.p, "rules.yaml:5:10: rule 'b': 'match' needs 'any' or 'all'\n");
	const char *e3 = strstr(
	    d.out.p, "rules.yaml:8:18: rule 'c': bad regex /[/: missing terminating ] for character class");
	assert_non_null(e1);
	assert_non_null(e2);
	assert_non_null(e3);
	assert_true(e2 < e1 && e1 < e3); /* in order of position */
	diag_free(&d);

	/* Empty files and empty lists hold no rules and are fine. */
	diag_init(&d);
	struct ruleset *rs = load("", &d);
	assert_non_null(rs);
	assert_int_equal(rules_count(rs), 0);
	rules_free(rs);
	rs = load("# only a comment\n[]\n", &d);
	assert_non_null(rs);
	assert_int_equal(rules_count(rs), 0);
	rules_free(rs);
	assert_int_equal(d.errors, 0);
	diag_free(&d);
}

static char *write_temp(const char *content)
{
	char *path = xstrdup("/tmp/fd-rules-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	return path;
}

static void test_files(void **state)
{
	(void)state;
	char *f1 = write_temp("- id: a\n  match: {any: [x]}\n  reply: k\n");
	char *f2 = write_temp("# second file\n- id: b\n  match: {any: [y]}\n  reply: k\n- id: a\n  match: "
	                      "{any: [z]}\n  reply: k\n");
	char *f3 = write_temp("- id: c\n  match: {any: [w]}\n  acknowledge: k\n");
	struct diag d;
	char want[512];

	/* A duplicate across files names the first definition. */
	diag_init(&d);
	char *files[] = {f1, f2, (char *)"/nonexistent/rules.yaml", NULL};
	assert_null(rules_load(files, &d));
	assert_int_equal(d.errors, 2);
	snprintf(want, sizeof(want), "%s:5:7: duplicate rule id 'a' (first defined at %s:1)", f2, f1);
	assert_non_null(strstr(d.out.p, want));
	assert_non_null(strstr(d.out.p, "/nonexistent/rules.yaml: cannot open: No such file or directory"));
	diag_free(&d);

	/* Clean files load in order. */
	diag_init(&d);
	char *ok[] = {f3, f1, NULL};
	struct ruleset *rs = rules_load(ok, &d);
	assert_non_null(rs);
	assert_int_equal(rules_count(rs), 2);
	assert_string_equal(rules_get(rs, 0)->id, "c");
	assert_string_equal(rules_get(rs, 0)->file, f3);
	assert_string_equal(rules_get(rs, 1)->id, "a");
	assert_string_equal(rules_get(rs, 1)->file, f1);
	assert_null(rules_get(rs, 2));
	rules_free(rs);

	rs = rules_load(NULL, &d);
	assert_non_null(rs);
	assert_int_equal(rules_count(rs), 0);
	rules_free(rs);
	assert_int_equal(d.errors, 0);
	diag_free(&d);
	unlink(f1);
	unlink(f2);
	unlink(f3);
	free(f1);
	free(f2);
	free(f3);
}

static const char *demo_rules =
    "- id: opening-hours\n"
    "  match:\n"
    "    any: [\"opening hours\", \"open today\", \"/\\bopen(ing)? (on )?sundays?\\b/\"]\n"
    "    none: [refund]\n"
    "  reply: faq.opening_hours\n"
    "  examples: [\"When are you open on Sunday?\"]\n"
    "  not_examples: [\"I want a refund, when do you open\"]\n"
    "- id: refund\n"
    "  match: { any: [refund, \"money back\", chargeback] }\n"
    "  escalate: { priority: high }\n"
    "- id: human\n"
    "  match: { any: [\"speak to a person\", \"real human\"] }\n"
    "  escalate: { reason: requested_human }\n"
    "  priority: urgent\n"
    "  reply: human.custom\n"
    "- id: thanks\n"
    "  match: { any: [thanks, \"thank you\", Thanks] }\n"
    "  acknowledge: smalltalk.thanks\n"
    "- id: thanks-2\n"
    "  match: { any: [thanks] }\n"
    "  acknowledge: smalltalk.other\n"
    "- id: cake-order\n"
    "  match: { all: [cake, order], none: [cancel, '/\\bdon.?t\\b/'] }\n"
    "  reply: faq.cake\n"
    "- id: coupon\n"
    "  match: { any: [coupon] }\n"
    "  when: { channel: [webchat, Discord], public: false, open: true }\n"
    "  reply: faq.coupon\n"
    "- id: zip\n"
    "  match: { all: ['/\\b\\d{5}\\b/'] }\n"
    "  reply: faq.zip\n"
    "- id: order-number\n"
    "  match: { any: ['/^order\\s+number/i'], all: [please] }\n"
    "  reply: faq.order_number\n"
    "- id: complaint\n"
    "  match: { any: [late, cold], all: ['/\\b(very|so)\\b/'] }\n"
    "  escalate: true\n";

struct expect {
	const char *post;
	const char *human, *escalate, *answer, *ack;
};

static void check_post(struct ruleset *rs, struct text *t, const struct rules_ctx *ctx,
                       const struct expect *e)
{
	struct rules_match m;
	text_normalize(t, e->post, strlen(e->post));
	rules_match(rs, t, ctx, &m);
	const struct rule *got[4] = {m.human, m.escalate, m.answer, m.ack};
	const char *want[4] = {e->human, e->escalate, e->answer, e->ack};
	static const char *slot[4] = {"human", "escalate", "answer", "ack"};
	for (int k = 0; k < 4; k++) {
		const char *g = got[k] ? got[k]->id : NULL;
		if ((g == NULL) != (want[k] == NULL) || (g && strcmp(g, want[k]) != 0))
			fail_msg("post \"%s\": %s = %s, want %s", e->post, slot[k], g ? g : "none",
			         want[k] ? want[k] : "none");
	}
}

static void test_semantics(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load(demo_rules, &d);
	if (!rs)
		fail_msg("%s", d.out.p);
	struct text t;
	text_init(&t);

	assert_int_equal(rules_count(rs), 10);
	assert_int_equal(rules_regexes(rs), 5);
	/* "thanks" twice and "Thanks" normalize to one phrase. */
	assert_int_equal(rules_phrases(rs), 16);
	/* opening-hours (a regex in any), zip (regex-only all). */
	assert_int_equal(rules_always_checked(rs), 2);

	const struct rule *r = rules_find(rs, "opening-hours");
	assert_non_null(r);
	assert_int_equal(r->kind, RULE_ANSWER);
	assert_string_equal(r->reply, "faq.opening_hours");
	assert_string_equal(r->file, "rules.yaml");
	assert_int_equal(r->line, 1);
	assert_int_equal(r->priority, PRIO_NONE);
	assert_null(r->channels);
	assert_int_equal(r->when_public, -1);
	assert_int_equal(r->when_open, -1);
	assert_string_equal(r->examples[0], "When are you open on Sunday?");
	assert_null(r->examples[1]);
	assert_string_equal(r->not_examples[0], "I want a refund, when do you open");
	r = rules_find(rs, "refund");
	assert_int_equal(r->kind, RULE_ESCALATE);
	assert_int_equal(r->priority, PRIO_HIGH);
	assert_null(r->reply);
	assert_null(r->examples);
	assert_int_equal(r->line, 8);
	r = rules_find(rs, "human");
	assert_int_equal(r->kind, RULE_HUMAN);
	assert_int_equal(r->priority, PRIO_URGENT);
	assert_string_equal(r->reply, "human.custom");
	r = rules_find(rs, "thanks");
	assert_int_equal(r->kind, RULE_ACK);
	assert_string_equal(r->reply, "smalltalk.thanks");
	r = rules_find(rs, "coupon");
	assert_string_equal(r->channels[0], "webchat");
	assert_string_equal(r->channels[1], "Discord");
	assert_int_equal(r->when_public, 0);
	assert_int_equal(r->when_open, 1);
	r = rules_find(rs, "complaint");
	assert_int_equal(r->kind, RULE_ESCALATE);
	assert_int_equal(r->priority, PRIO_NONE);
	assert_null(rules_find(rs, "nope"));
	assert_null(rules_find(rs, NULL));
	assert_string_equal(rule_kind_name(RULE_HUMAN), "human");

	const struct rules_ctx open_chat = {"webchat", 0, 1};
	static const struct expect cases[] = {
	    {"When are you OPEN on Sundays?", NULL, NULL, "opening-hours", NULL},
	    {"what are your opening hours", NULL, NULL, "opening-hours", NULL},
	    {"Opening hours? I want a REFUND", NULL, "refund", NULL, NULL}, /* none excludes */
	    {"refunded", NULL, NULL, NULL, NULL},                           /* whole words only */
	    {"openinghours", NULL, NULL, NULL, NULL},
	    {"thanks!", NULL, NULL, NULL, "thanks"}, /* first in file order */
	    {"Thank you, can I speak to a person?", "human", NULL, NULL, "thanks"},
	    {"money back or I want a real human", "human", "refund", NULL, NULL},
	    {"I'd like to order a cake", NULL, NULL, "cake-order", NULL}, /* all, any order */
	    {"cake", NULL, NULL, NULL, NULL},
	    {"cancel my cake order", NULL, NULL, NULL, NULL},     /* none phrase */
	    {"don't order the cake yet", NULL, NULL, NULL, NULL}, /* none regex */
	    {"my zip is 12345", NULL, NULL, "zip", NULL},         /* always-checked rule */
	    {"my zip is 123456", NULL, NULL, NULL, NULL},
	    {"opening hours at 12345?", NULL, NULL, "opening-hours", NULL}, /* earlier rule wins */
	    {"12345 opening hours", NULL, NULL, "opening-hours", NULL},
	    {"Order Number please", NULL, NULL, "order-number", NULL}, /* i flag, ^ at the first word */
	    {"my order number please", NULL, NULL, NULL, NULL},
	    {"order number", NULL, NULL, NULL, NULL},
	    {"so late", NULL, "complaint", NULL, NULL},
	    {"late", NULL, NULL, NULL, NULL},
	    {"", NULL, NULL, NULL, NULL},
	    {"coupon", NULL, NULL, "coupon", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_post(rs, &t, &open_chat, &cases[i]);

	/* Conditions: channel (any listed, case-insensitive), public, open. */
	static const struct expect coupon = {"any coupon?", NULL, NULL, "coupon", NULL};
	static const struct expect no_coupon = {"any coupon?", NULL, NULL, NULL, NULL};
	const struct rules_ctx discord = {"discord", 0, 1}, mastodon = {"mastodon", 0, 1};
	const struct rules_ctx public_chat = {"webchat", 1, 1}, closed = {"webchat", 0, 0},
	                       nochan = {NULL, 0, 1};
	check_post(rs, &t, &open_chat, &coupon);
	check_post(rs, &t, &discord, &coupon);
	check_post(rs, &t, &mastodon, &no_coupon);
	check_post(rs, &t, &public_chat, &no_coupon);
	check_post(rs, &t, &closed, &no_coupon);
	check_post(rs, &t, &nochan, &no_coupon);
	check_post(rs, &t, NULL, &no_coupon);
	static const struct expect thanks = {"thanks", NULL, NULL, NULL, "thanks"};
	check_post(rs, &t, NULL, &thanks); /* no when: context not needed */

	/* Results do not leak from one post into the next. */
	check_post(rs, &t, &open_chat, &cases[0]);
	check_post(rs, &t, &open_chat, &cases[3]);

	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

/* A pathological regex is cut off by the match limit: no match, no stall. */
static void test_regex_limits(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load("- id: slow\n"
	                          "  match: { any: ['/^(a|aa)+$/', '/^(\\w+\\s?)*$/'] }\n"
	                          "  reply: k\n",
	                          &d);
	assert_non_null(rs);
	struct text t;
	struct rules_match m;
	text_init(&t);
	char post[200];
	memset(post, 'a', sizeof(post));
	memcpy(post + sizeof(post) - 4, " :(", 3); /* not a word: both regexes must fail */
	post[sizeof(post) - 1] = '\0';
	memcpy(post + 150, "\xc3\xa9!", 3); /* "é!" breaks the runs of a */
	text_normalize(&t, post, strlen(post));
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	enum log_level saved = log_threshold;
	log_threshold = LOG_ERROR; /* the warning is expected */
	rules_match(rs, &t, NULL, &m);
	log_threshold = saved;
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_null(m.answer);
	print_message("pathological regexes on a %zu-byte post: %.2f ms\n", t.norm_len,
	              (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	text_normalize(&t, "aaaa", 4);
	rules_match(rs, &t, NULL, &m);
	assert_non_null(m.answer);
	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

/*
 * Padding that exhausts a regex's limits must not slip a post past an
 * escalation rule: the unfinished regex counts in favour of a person (the
 * escalation fires, in `any`, `all` and `none` alike), while an FAQ rule
 * guarded by the same kind of regex stays silent.
 */
static void test_regex_limit_fails_safe(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load("- id: chargeback\n"
	                          "  match: { any: ['/^(\\w+\\s?)*$/'] }\n"
	                          "  escalate: { priority: high }\n"
	                          "- id: legal\n"
	                          "  match: { all: [lawyer, '/^(\\w+\\s?)*$/'] }\n"
	                          "  escalate: { priority: urgent }\n"
	                          "- id: shipping\n"
	                          "  match: { any: [shipping], none: ['/^(\\w+\\s?)*$/'] }\n"
	                          "  escalate: { reason: requested_human }\n"
	                          "- id: faq\n"
	                          "  match: { any: [delivery], none: ['/^(\\w+\\s?)*$/'] }\n"
	                          "  reply: k\n",
	                          &d);
	assert_non_null(rs);
	struct text t;
	struct rules_match m;
	text_init(&t);
	/* Long runs of one letter, then something that is not a word: the
	 * pattern backtracks until PCRE2's match limit stops it. */
	char post[400];
	snprintf(post, sizeof(post), "lawyer shipping delivery %0300d :(", 0);
	for (char *p = post; *p; p++)
		if (*p == '0')
			*p = 'a';
	text_normalize(&t, post, strlen(post));
	enum log_level saved = log_threshold;
	log_threshold = LOG_ERROR; /* the warnings are expected */
	rules_match(rs, &t, NULL, &m);
	log_threshold = saved;
	/* The escalation with the regex in `any` fires, the one with it in
	 * `all` too, and the `none` of the human rule does not hold it back. */
	assert_non_null(m.escalate);
	assert_string_equal(m.escalate->id, "chargeback");
	assert_non_null(m.human);
	assert_string_equal(m.human->id, "shipping");
	/* The FAQ's `none` cannot be proven absent: no automatic answer. */
	assert_null(m.answer);
	/* Text the regex settles either way behaves as written. */
	text_normalize(&t, "lawyer delivery", 15);
	rules_match(rs, &t, NULL, &m);
	assert_non_null(m.escalate); /* "lawyer delivery" matches the regex: the legal rule holds */
	assert_null(m.answer);       /* ...and the faq's none excludes it */
	text_normalize(&t, "delivery :(", 11);
	rules_match(rs, &t, NULL, &m);
	assert_non_null(m.answer);
	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

/* "\b" in a double-quoted YAML string is a backspace; read as \b. */
static void test_backspace(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load("- id: sunday\n"
	                          "  match: { any: [\"/\\bsundays?\\b/\"] }\n"
	                          "  reply: k\n",
	                          &d);
	assert_non_null(rs);
	struct text t;
	struct rules_match m;
	text_init(&t);
	text_normalize(&t, "open on Sunday?", 15);
	rules_match(rs, &t, NULL, &m);
	assert_non_null(m.answer);
	text_normalize(&t, "open on sundayz", 15);
	rules_match(rs, &t, NULL, &m);
	assert_null(m.answer);
	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

/* The always-checked regexes are first tried as one alternation; each must
 * still mean what it means alone, whatever its flags and syntax. */
static void test_regex_prefilter(void **state)
{
	(void)state;
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = load("- id: backref\n"
	                          "  match: { any: ['/\\b(\\w)\\1\\b/'] }\n"
	                          "  reply: k\n"
	                          "- id: quoted\n"
	                          "  match: { any: ['/\\Qx.y'] }\n"
	                          "  reply: k\n"
	                          "- id: quoted-ok\n"
	                          "  match: { any: ['/\\Qx y/'] }\n"
	                          "  reply: k\n"
	                          "- id: extended\n"
	                          "  match: { any: ['/q r # a comment/x'] }\n"
	                          "  reply: k\n"
	                          "- id: caseless\n"
	                          "  match: { any: ['/HELLO/i'] }\n"
	                          "  reply: k\n"
	                          "- id: group\n"
	                          "  match: { any: ['/(ab|cd)+e/'], none: ['/cde/'] }\n"
	                          "  reply: k\n",
	                          &d);
	/* '/\Qx.y' has no closing slash: an error, reported. */
	assert_null(rs);
	assert_non_null(strstr(d.out.p, "rule 'quoted': '/\\Qx.y' starts with '/' but has no closing '/'"));
	diag_free(&d);

	diag_init(&d);
	rs = load("- id: backref\n"
	          "  match: { any: ['/\\b(\\w)\\1\\b/'] }\n"
	          "  reply: k\n"
	          "- id: quoted\n"
	          "  match: { any: ['/\\Qx y/'] }\n"
	          "  reply: k\n"
	          "- id: extended\n"
	          "  match: { any: ['/q\\ r # a comment/x'] }\n"
	          "  reply: k\n"
	          "- id: caseless\n"
	          "  match: { any: ['/HELLO/i'] }\n"
	          "  reply: k\n"
	          "- id: group\n"
	          "  match: { any: ['/(ab|cd)+e/'], none: ['/cde/'] }\n"
	          "  reply: k\n",
	          &d);
	if (!rs)
		fail_msg("%s", d.out.p);
	assert_int_equal(rules_always_checked(rs), 5);
	static const struct expect cases[] = {
	    {"aa", NULL, NULL, "backref", NULL},     {"ab", NULL, NULL, NULL, NULL},
	    {"x y", NULL, NULL, "quoted", NULL},     {"x  y!", NULL, NULL, "quoted", NULL},
	    {"q r", NULL, NULL, "extended", NULL},   {"q  r", NULL, NULL, "extended", NULL},
	    {"Hello", NULL, NULL, "caseless", NULL}, {"ababe", NULL, NULL, "group", NULL},
	    {"abcde", NULL, NULL, NULL, NULL},       {"nothing at all", NULL, NULL, NULL, NULL},
	};
	struct text t;
	text_init(&t);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_post(rs, &t, NULL, &cases[i]);
	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

/* ---------------------------------------------------------------- scaling */

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static void make_word(char *w, size_t cap, uint32_t k)
{
	static const char *syl[] = {"ba", "ke", "ri", "so", "tu", "ma", "ne", "lo", "pi", "da",
	                            "fe", "gu", "ha", "jo", "ki", "lu", "mo", "ny", "pa", "qu"};
	size_t o = 0;
	for (int i = 0; i < 4 && o + 3 < cap; i++) {
		const char *s = syl[k % 20];
		k /= 20;
		memcpy(w + o, s, 2);
		o += 2;
		if (!k && i >= 1)
			break;
	}
	w[o] = '\0';
}

/* N rules of 10 phrases each (3 single words, 7 two-word phrases, from a
 * vocabulary of 20,000 words); one in `regex_every` (0: none) with a regex
 * in `any` as well, which makes it an always-checked rule. */
static char *gen_rules(int n, int regex_every, size_t *len)
{
	struct buf b;
	char w1[16], w2[16];
	buf_init(&b, 0);
	for (int i = 0; i < n; i++) {
		buf_printf(&b, "- id: rule-%d\n  match:\n    any: [", i);
		for (int p = 0; p < 10; p++) {
			make_word(w1, sizeof(w1), rnd(20000));
			make_word(w2, sizeof(w2), rnd(20000));
			if (p < 3)
				buf_printf(&b, "%s\"%s\"", p ? ", " : "", w1);
			else
				buf_printf(&b, ", \"%s %s\"", w1, w2);
		}
		if (regex_every && i % regex_every == regex_every - 1)
			buf_printf(&b, ", '/\\bzz%dq\\b/'", i);
		if (i % 3 == 2)
			buf_printf(&b, "]\n  escalate: { priority: high }\n");
		else
			buf_printf(&b, "]\n  %s: k%d\n", i % 3 == 0 ? "acknowledge" : "reply", i);
	}
	*len = b.len;
	return buf_steal(&b);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_scaling(void **state)
{
	(void)state;
	enum { NPOSTS = 64 };
	static const int sizes[] = {10, 1000, 10000};
	char *posts[NPOSTS];
	char w[16];

	/* Posts: ordinary words plus a few vocabulary words, so some phrases hit. */
	for (int i = 0; i < NPOSTS; i++) {
		struct buf b;
		buf_init(&b, 0);
		buf_puts(&b, "Hi there, when are you open on Sunday? I would like to order");
		for (int k = 0; k < 6; k++) {
			make_word(w, sizeof(w), rnd(20000));
			buf_printf(&b, " %s", w);
		}
		buf_puts(&b, " thanks!");
		posts[i] = buf_steal(&b);
	}
	struct text *texts = xcalloc(NPOSTS, sizeof(*texts));
	for (int i = 0; i < NPOSTS; i++) {
		text_init(&texts[i]);
		text_normalize(&texts[i], posts[i], strlen(posts[i]));
	}

	for (int with_regex = 0; with_regex < 2; with_regex++)
		for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
			size_t len;
			char *yaml = gen_rules(sizes[s], with_regex ? 100 : 0, &len);
			struct diag d;
			diag_init(&d);
			double t0 = now_s();
			struct ruleset *rs = rules_load_mem("gen.yaml", yaml, len, &d);
			double tl = now_s() - t0;
			if (!rs)
				fail_msg("%s", d.out.p);
			assert_int_equal(rules_count(rs), sizes[s]);
			const struct rules_ctx ctx = {"webchat", 0, 1};
			struct rules_match m;
			size_t matched = 0;
			/* Best of 7 rounds: the machine may be busy with other work. */
			int reps = 30000 / NPOSTS;
			double tm = 1e9;
			for (int round = 0; round < 7; round++) {
				matched = 0;
				t0 = now_s();
				for (int r = 0; r < reps; r++)
					for (int i = 0; i < NPOSTS; i++) {
						rules_match(rs, &texts[i], &ctx, &m);
						matched += (m.ack || m.answer || m.escalate || m.human);
					}
				double dt = (now_s() - t0) / (reps * NPOSTS);
				if (dt < tm)
					tm = dt;
			}
			print_message(
			    "rules_match: %5d rules, %6zu phrases, %3zu regexes (%3zu always checked): "
			    "%6.0f ns/post (%8.0f posts/s), %3.0f%% of posts matched; load %4.0f ms\n",
			    sizes[s], rules_phrases(rs), rules_regexes(rs), rules_always_checked(rs),
			    tm * 1e9, 1 / tm, 100.0 * (double)matched / (reps * NPOSTS), tl * 1e3);
			rules_free(rs);
			diag_free(&d);
			free(yaml);
		}
	for (int i = 0; i < NPOSTS; i++) {
		text_free(&texts[i]);
		free(posts[i]);
	}
	free(texts);
}

/* ---------------------------------------------------------------- learned */

static const char learned_rules[] =
    "- id: opening-hours\n"
    "  match: { any: [\"opening hours\"], none: [refund] }\n"
    "  reply: faq.hours\n"
    "  examples:\n"
    "    - \"when are you open\"\n"
    "    - \"are you open on sunday\"\n"
    "    - \"what time do you close today\"\n"
    "    - \"what time do you open tomorrow\"\n"
    "- id: delivery\n" /* line 9: examples only */
    "  reply: faq.delivery\n"
    "  examples: [\"do you deliver\", \"do you deliver to my area\", \"how much is delivery\",\n"
    "             \"what does delivery cost\", \"which areas do you deliver to\",\n"
    "             \"how long does delivery take\"]\n"
    "  not_examples: [\"where is my delivery\"]\n"
    "- id: mastodon-only\n"
    "  when: { channel: mastodon }\n"
    "  reply: faq.social\n"
    "  examples: [\"do you have a fediverse account\", \"are you on mastodon\",\n"
    "             \"what is your fediverse handle\"]\n"
    "- id: cancel\n"
    "  escalate: { priority: high }\n"
    "  match: { none: [policy] }\n"
    "  examples: [\"please cancel my order\", \"cancel order 1234\", \"I want to cancel my order\",\n"
    "             \"can you cancel what I ordered\"]\n"
    "- id: thanks\n"
    "  match: { any: [thanks] }\n"
    "  acknowledge: smalltalk.thanks\n";

static size_t learned(struct ruleset *rs, const char *s, const char *channel, struct rules_guess *g, size_t k)
{
	struct text t;
	struct rules_match m;
	struct rules_ctx ctx = {channel, 0, 1};
	text_init(&t);
	text_normalize(&t, s, strlen(s));
	rules_match(rs, &t, &ctx, &m);
	size_t n = rules_learned(rs, &t, &ctx, g, k);
	text_free(&t);
	return n;
}

static void test_learned(void **state)
{
	struct diag d;
	struct rules_guess g[4];
	(void)state;
	diag_init(&d);
	struct ruleset *rs = load(learned_rules, &d);
	if (!rs)
		fail_msg("%s", d.out.p);
	assert_int_equal(rules_learned_count(rs), 4); /* thanks has no examples */
	assert_true(rules_model_bytes(rs) > 0);
	const struct rule *del = rules_find(rs, "delivery"), *hours = rules_find(rs, "opening-hours");
	assert_true(del->learned && !rules_find(rs, "thanks")->learned);
	assert_int_equal(del->line, 9);
	assert_int_equal(del->example_lines[0], 11);
	assert_int_equal(del->example_lines[5], 13);
	assert_int_equal(hours->example_lines[1], 6);
	assert_int_equal(del->not_example_lines[0], 14);
	assert_null(del->example_origins);

	/* A rule with examples only is never matched by phrases... */
	struct text t;
	struct rules_match m;
	struct rules_ctx web = {"webchat", 0, 1};
	text_init(&t);
	text_normalize(&t, "do you deliver", 14);
	rules_match(rs, &t, &web, &m);
	assert_null(m.answer);
	/* ...but recognised from them, paraphrased. */
	size_t n = learned(rs, "do u deliver to leeds", "webchat", g, 4);
	assert_true(n >= 1 && g[0].rule == del && g[0].confidence > 0.5);
	n = learned(rs, "when r u open on saturday", "webchat", g, 4);
	assert_true(n >= 1 && g[0].rule == hours);

	/* `when` applies to what was learned: not on web chat. */
	const struct rule *social = rules_find(rs, "mastodon-only");
	n = learned(rs, "are you on mastodon?", "mastodon", g, 4);
	assert_true(n >= 1 && g[0].rule == social);
	n = learned(rs, "are you on mastodon?", "webchat", g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].rule != social);
	/* So do `none` (of a learned-only rule) and the phrase rule's `none`. */
	const struct rule *cancel = rules_find(rs, "cancel");
	n = learned(rs, "please cancel my order", "webchat", g, 4);
	assert_true(n >= 1 && g[0].rule == cancel);
	n = learned(rs, "please cancel my order, what is the policy", "webchat", g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].rule != cancel);
	n = learned(rs, "when are you open for a refund", "webchat", g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].rule != hours);

	/* Suggestions ignore conditions and keep the kinds asked for. */
	text_normalize(&t, "are you on mastodon", 19);
	n = rules_suggest(rs, &t, 1u << RULE_ANSWER, g, 4);
	assert_true(n >= 1 && g[0].rule == social);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(g[i].rule->kind, RULE_ANSWER);
	text_normalize(&t, "cancel my order please", 22);
	n = rules_suggest(rs, &t, 1u << RULE_ANSWER, g, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(g[i].rule != cancel);
	n = rules_suggest(rs, &t, 0, g, 4);
	assert_true(n >= 1 && g[0].rule == cancel);

	/* Why a phrase rule matched. */
	text_normalize(&t, "What are your Opening Hours?", 28);
	assert_string_equal(rules_explain(rs, hours, &t), "opening hours");
	assert_null(rules_explain(rs, del, &t));
	assert_null(rules_explain(rs, NULL, &t));

	/* Folds deal a rule's examples round; a fold's model does without them. */
	assert_int_equal(rules_fold(0, 0, 5), 0);
	assert_int_equal(rules_fold(3, 4, 5), 2);
	assert_int_equal(rules_fold(3, 4, 1), -1);
	struct learn_model *fold = rules_train_fold(rs, 0, 2);
	struct learn_model *own = rules_swap_model(rs, fold);
	n = learned(rs, "do you deliver", "webchat", g, 4); /* delivery's example 0 is in fold 1 */
	assert_true(n >= 1);
	assert_ptr_equal(rules_swap_model(rs, own), fold);
	learn_free(fold);

	text_free(&t);
	rules_free(rs);
	diag_free(&d);
}

static void test_taught(void **state)
{
	char dir[] = "/tmp/frontdesk-rules-XXXXXX", path[64];
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rules.yaml", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(learned_rules, f);
	fclose(f);
	char *files[] = {path, NULL};
	static const struct rules_extra extra[] = {
	    {"thanks", "cheers mate", "taught by sam", 0},
	    {"thanks", "ta very much", NULL, 0},
	    {"delivery", "can a courier bring it", "taught by amy", 0},
	    {"delivery", "delivery of my parcel is late", NULL, 1},
	    {"no-such-rule", "anything", "taught by sam", 0},
	    {"thanks", "!!!", NULL, 0},
	};
	struct diag d;
	diag_init(&d);
	struct ruleset *rs = rules_load_ex(files, extra, ARRAY_LEN(extra), &d);
	if (!rs)
		fail_msg("%s", d.out.p);
	assert_int_equal(d.errors, 0);
	assert_int_equal(rules_extra_skipped(rs), 2); /* an unknown rule; no words */
	const struct rule *thanks = rules_find(rs, "thanks"), *del = rules_find(rs, "delivery");
	/* A rule that had no examples learns from taught ones. */
	assert_true(thanks->learned);
	assert_int_equal(rules_learned_count(rs), 5);
	assert_string_equal(thanks->examples[0], "cheers mate");
	assert_string_equal(thanks->example_origins[0], "taught by sam");
	assert_string_equal(thanks->example_origins[1], "taught");
	assert_int_equal(thanks->example_lines[1], 0);
	assert_string_equal(del->examples[6], "can a courier bring it");
	assert_null(del->example_origins[0]);
	assert_string_equal(del->example_origins[6], "taught by amy");
	assert_null(del->examples[7]);
	assert_string_equal(del->not_examples[1], "delivery of my parcel is late");
	struct rules_guess g[4];
	size_t n = learned(rs, "cheers mate, ta", "webchat", g, 4);
	assert_true(n >= 1 && g[0].rule == thanks);
	rules_free(rs);
	diag_free(&d);
	unlink(path);
	rmdir(dir);
}

static void test_errors_examples(void **state)
{
	(void)state;
	EXPECT(
	    "- id: a\n"
	    "  reply: faq.a\n"
	    "  examples: [\"ok\", \"?!\"]\n",
	    1,
	    "rules.yaml:3:20: rule 'a': examples: '?!' has no words once normalized, so it teaches nothing");
	EXPECT("- id: a\n"
	       "  reply: faq.a\n"
	       "  not_examples: [\"ok\"]\n",
	       1, "rules.yaml:1:3: rule 'a': needs 'match'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors_keys),  cmocka_unit_test(test_errors_match),
	    cmocka_unit_test(test_errors_regex), cmocka_unit_test(test_errors_kind),
	    cmocka_unit_test(test_errors_ids),   cmocka_unit_test(test_errors_document),
	    cmocka_unit_test(test_files),        cmocka_unit_test(test_semantics),
	    cmocka_unit_test(test_regex_limits), cmocka_unit_test(test_regex_limit_fails_safe),
	    cmocka_unit_test(test_backspace),    cmocka_unit_test(test_regex_prefilter),
	    cmocka_unit_test(test_scaling),      cmocka_unit_test(test_learned),
	    cmocka_unit_test(test_taught),       cmocka_unit_test(test_errors_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
