/*
 * test_replies.c - reply templates: load errors with their positions,
 * rendering (variables, sections, variants, value cap), state fallback,
 * and the shipped replies/en.yaml against what the pipeline and the default
 * rules need.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "replies.h"

static char tmpdir[] = "/tmp/test_replies.XXXXXX";
static int nfiles;

/* Write text to a new file in the test directory; returns its path (freed
 * with the test's strv). */
static char *write_file(const char *text)
{
	char *path = xasprintf("%s/r%d.yaml", tmpdir, nfiles++);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load the given texts as files; NULL on error, with d filled. */
static struct replies *load_texts(struct diag *d, char **paths, const char *a, const char *b)
{
	paths[0] = write_file(a);
	paths[1] = b ? write_file(b) : NULL;
	paths[2] = NULL;
	return replies_load(paths, d);
}

static void free_paths(char **paths)
{
	for (int i = 0; paths[i]; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
}

/* Expect exactly one load error, "FILE:LINE:COL: ..." containing `want`. */
static void expect_error(const char *text, int line, int col, const char *want)
{
	struct diag d;
	char *paths[3];
	char prefix[512];

	diag_init(&d);
	struct replies *r = load_texts(&d, paths, text, NULL);
	assert_null(r);
	assert_int_equal(d.errors, 1);
	snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", paths[0], line, col);
	if (strncmp(d.out.p, prefix, strlen(prefix)) != 0 || !strstr(d.out.p, want))
		fail_msg("expected \"%s...%s\", got: %s", prefix, want, d.out.p);
	free_paths(paths);
	diag_free(&d);
}

static void test_error_unknown_variable(void **state)
{
	(void)state;
	expect_error("a.b: \"Hi {{nmae}}, welcome\"\n", 1, 10, "reply 'a.b': unknown variable 'nmae'");
	/* Suggestion for a near miss, none for a far one. */
	expect_error("k: \"{{autor}}\"\n", 1, 5, "(did you mean 'author'?)");
	expect_error("k: '{{customer}}'\n", 1, 5, "unknown variable 'customer'; the variables are author");
	/* Inside a folded block: the position of the tag, not of the block. */
	expect_error("first: ok\nsecond: >-\n  Hello there,\n  we open {{opens_at}} and {{opensat}}.\n", 4,
	             28, "reply 'second': unknown variable 'opensat' (did you mean 'opens_at'?)");
	/* Columns count characters, as libyaml does. */
	expect_error("k: \"Café {{nmae}}\"\n", 1, 10, "unknown variable 'nmae'");
	expect_error("k: \"{{author}} {{phone}} {{x}}\"\n", 1, 26, "unknown variable 'x'");
	/* A tag that also occurs earlier: the occurrence at fault is reported. */
	expect_error("k: \"{{#due}}{{/due}} {{/due}}\"\n", 1, 22, "'{{/due}}' closes no section");
	/* In a list of variants, at the variant. */
	expect_error("k:\n  - \"fine {{due}}\"\n  - \"bad {{when}}\"\n", 3, 10, "unknown variable 'when'");
}

static void test_error_sections(void **state)
{
	(void)state;
	expect_error("k: \"Call{{#phone}} {{phone}}\"\n", 1, 9,
	             "section '{{#phone}}' is not closed with '{{/phone}}'");
	expect_error("k: \"x {{/phone}}\"\n", 1, 7, "'{{/phone}}' closes no section");
	expect_error("k: \"{{#phone}}x{{/email}}\"\n", 1, 16,
	             "'{{/email}}' does not close the open section '{{#phone}}'");
	expect_error("k: \"Hi {{author\"\n", 1, 8, "'{{' is not closed with '}}'");
	expect_error("k: \"{{}}\"\n", 1, 5, "is not a tag");
	expect_error("k: \"{{#}}\"\n", 1, 5, "is not a tag");
	expect_error("k: \"{{Author}}\"\n", 1, 5, "is not a tag");
	expect_error("k: \"{{ author name }}\"\n", 1, 5, "is not a tag");
	expect_error("k: \"{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}\"\n", 1, 5,
	             "unknown variable 'a'");
	expect_error("k: \"{{#due}}{{#due}}{{#due}}{{#due}}{{#due}}{{#due}}{{#due}}{{#due}}{{#due}}\"\n", 1,
	             69, "sections nested more than 8 deep");
}

static void test_error_keys_and_values(void **state)
{
	(void)state;
	expect_error("ok: fine\nFaq.Hours: \"x\"\n", 2, 1, "bad reply key 'Faq.Hours'");
	expect_error("faq..hours: x\n", 1, 1, "bad reply key");
	expect_error("faq.hours.: x\n", 1, 1, "bad reply key");
	expect_error("faq-hours: x\n", 1, 1, "bad reply key");
	expect_error("k: \"\"\n", 1, 4, "reply 'k': empty reply text");
	expect_error("k:\n", 1, 3, "reply 'k': empty reply text");
	expect_error("k: \"   \"\n", 1, 4, "empty reply text");
	expect_error("k: []\n", 1, 4, "reply 'k': empty list of variants");
	expect_error("k:\n  - a\n  - \"\"\n", 3, 5, "empty reply text");
	expect_error("k:\n  open: a\n", 2, 3, "not a mapping");
	expect_error("- a\n- b\n", 1, 1, "expected a mapping of reply keys to texts");
	expect_error("k: [a, [b]]\n", 1, 8, "expected a text, not a list");
	expect_error("k: a\nk: b\n", 2, 1, "duplicate reply key 'k' (first defined at ");
}

static void test_error_limits(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	buf_puts(&b, "k: \"");
	for (unsigned i = 0; i < REPLY_TEMPLATE_MAX; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "y\"\n");
	expect_error(b.p, 1, 4, "more than the limit of 4096");
	buf_reset(&b);
	buf_puts(&b, "k:\n");
	for (unsigned i = 0; i <= REPLY_VARIANTS_MAX; i++)
		buf_puts(&b, "  - v\n");
	expect_error(b.p, 2, 3, "variants, more than the limit");
	buf_reset(&b);
	for (unsigned i = 0; i <= REPLY_KEY_MAX; i++)
		buf_putc(&b, 'k');
	buf_puts(&b, ": v\n");
	expect_error(b.p, 1, 1, "bad reply key");
	buf_free(&b);
}

static void test_error_duplicate_across_files(void **state)
{
	struct diag d;
	char *paths[3];
	char want[512];
	(void)state;

	diag_init(&d);
	struct replies *r = load_texts(&d, paths, "a: one\nfaq.hours: \"We're open {{hours}}\"\n",
	                               "b: two\n\nfaq.hours: \"Open {{hours}}\"\n");
	assert_null(r);
	assert_int_equal(d.errors, 1);
	snprintf(want, sizeof(want), "%s:3:1: duplicate reply key 'faq.hours' (first defined at %s:2:1)\n",
	         paths[1], paths[0]);
	assert_string_equal(d.out.p, want);
	free_paths(paths);
	diag_free(&d);
}

/* Every error of every file is reported, not just the first. */
static void test_error_all_reported(void **state)
{
	struct diag d;
	char *paths[3];
	(void)state;

	diag_init(&d);
	struct replies *r = load_texts(&d, paths, "a: \"{{x}}\"\nB: y\nc: \"\"\n", "d: \"{{#due}}\"\n");
	assert_null(r);
	assert_int_equal(d.errors, 4);
	free_paths(paths);
	diag_free(&d);

	diag_init(&d);
	char *missing[] = {"/nonexistent/replies.yaml", NULL};
	assert_null(replies_load(missing, &d));
	assert_non_null(strstr(d.out.p, "/nonexistent/replies.yaml: cannot open"));
	diag_free(&d);

	diag_init(&d);
	r = load_texts(&d, paths, "k: [unclosed\n", NULL);
	assert_null(r);
	assert_int_equal(d.errors, 1);
	free_paths(paths);
	diag_free(&d);
}

/* ---- rendering ---- */

static const struct reply_vars full = {
    .author = "Sam",
    .business = "Acme Bakery",
    .opens_at = "tomorrow at 9:00",
    .due = "today at 15:30",
    .hours = "Mon–Fri 9:00–17:30",
    .phone = "+44 20 7946 0000",
    .email = "hello@acme.example",
    .ticket = "42",
    .agent = "Priya",
};

/* Render a template string; returns a static copy of the result or of the error. */
static const char *render(const char *tmpl, const struct reply_vars *v)
{
	static char res[8192];
	char err[256];
	struct buf b;

	buf_init(&b, 0);
	if (replies_render_string(tmpl, v, &b, err, sizeof(err)) < 0)
		snprintf(res, sizeof(res), "ERROR %s", err);
	else
		snprintf(res, sizeof(res), "%s", b.p);
	buf_free(&b);
	return res;
}

static void test_render_variables(void **state)
{
	(void)state;
	assert_string_equal(render("Hi {{author}}, {{business}} is back {{opens_at}}.", &full),
	                    "Hi Sam, Acme Bakery is back tomorrow at 9:00.");
	assert_string_equal(render("{{due}}|{{hours}}|{{phone}}|{{email}}|{{ticket}}|{{agent}}", &full),
	                    "today at 15:30|Mon–Fri 9:00–17:30|+44 20 7946 0000|hello@acme.example|42|Priya");
	assert_string_equal(render("{{ author }} {{#  phone }}x{{/ phone}}", &full), "Sam x");
	assert_string_equal(render("no tags at all", &full), "no tags at all");
	assert_string_equal(render("single { braces } and }} are text", &full),
	                    "single { braces } and }} are text");
	assert_string_equal(render("{{author}}{{author}}", &full), "SamSam");
	/* Values are rendered as they are: escaping is the dashboard's and connectors' job. */
	struct reply_vars v = {.author = "<b>@everyone</b> {{phone}}"};
	assert_string_equal(render("Hi {{author}}", &v), "Hi <b>@everyone</b> {{phone}}");
	/* An empty template renders to an empty, terminated string. */
	assert_string_equal(render("", &full), "");
}

static void test_render_sections(void **state)
{
	struct reply_vars none = {0}, empty = {.phone = "", .author = ""};
	(void)state;

	const char *t =
	    "Back {{opens_at}}.{{#phone}} Urgent? Call {{phone}}.{{/phone}}{{^phone}} Reply here.{{/phone}}";
	assert_string_equal(render(t, &full), "Back tomorrow at 9:00. Urgent? Call +44 20 7946 0000.");
	assert_string_equal(render(t, &none), "Back . Reply here.");
	assert_string_equal(render(t, &empty), "Back . Reply here.");
	assert_string_equal(render(t, NULL), "Back . Reply here.");
	/* Nested sections, and a section around nothing. */
	t = "{{#phone}}call {{phone}}{{#email}} or mail "
	    "{{email}}{{/email}}{{/phone}}{{^phone}}{{#email}}mail "
	    "{{email}}{{/email}}{{/phone}}{{#agent}}{{/agent}}.";
	assert_string_equal(render(t, &full), "call +44 20 7946 0000 or mail hello@acme.example.");
	struct reply_vars mail = {.email = "a@b"};
	assert_string_equal(render(t, &mail), "mail a@b.");
	struct reply_vars phone = {.phone = "1"};
	assert_string_equal(render(t, &phone), "call 1.");
	assert_string_equal(render(t, &none), ".");
	/* A skipped section skips its variables and nested sections. */
	assert_string_equal(render("a{{^author}}{{due}}{{#due}}x{{/due}}{{/author}}b", &full), "ab");
}

static void test_render_errors(void **state)
{
	struct buf b;
	char err[200];
	(void)state;

	assert_string_equal(render("Hi {{nmae}}", &full),
	                    "ERROR byte 4: unknown variable 'nmae'; the variables are "
	                    "author, business, opens_at, due, hours, phone, email, ticket, agent, closed_on");
	assert_string_equal(render("{{#phone}}x", &full),
	                    "ERROR byte 1: section '{{#phone}}' is not closed with '{{/phone}}'");
	/* The output is left as it was on error; err may be absent. */
	buf_init(&b, 0);
	buf_puts(&b, "keep");
	assert_int_equal(replies_render_string("x{{/due}}", &full, &b, NULL, 0), -1);
	assert_string_equal(b.p, "keep");
	assert_int_equal(replies_render_string("x{{/due}}", &full, &b, err, 8), -1);
	assert_string_equal(err, "byte 2:");
	buf_free(&b);
}

static void test_render_value_cap(void **state)
{
	char v[512], want[512];
	struct reply_vars vars = {0};
	(void)state;

	vars.author = v;
	/* Exactly the limit: whole. */
	memset(v, 'a', REPLY_VALUE_MAX);
	v[REPLY_VALUE_MAX] = '\0';
	assert_int_equal(strlen(render("{{author}}", &vars)), REPLY_VALUE_MAX);
	/* Longer ASCII: cut at the limit. */
	memset(v, 'a', 300);
	v[300] = '\0';
	assert_int_equal(strlen(render("{{author}}", &vars)), REPLY_VALUE_MAX);
	/* A 2-byte character across the limit is left out whole. */
	memset(v, 'a', 199);
	strcpy(v + 199, "éééé");
	memcpy(want, v, 199);
	want[199] = '\0';
	assert_string_equal(render("{{author}}", &vars), want);
	/* A 4-byte character ending exactly at the limit is kept; one starting at 198 is not. */
	memset(v, 'a', 196);
	strcpy(v + 196, "😀😀");
	memcpy(want, v, 200);
	want[200] = '\0';
	assert_string_equal(render("{{author}}", &vars), want);
	memset(v, 'a', 198);
	strcpy(v + 198, "😀😀");
	memcpy(want, v, 198);
	want[198] = '\0';
	assert_string_equal(render("<{{author}}>", &vars) + 1, strcat(want, ">"));
	/* The cap is per value: several long values each keep 200 bytes. */
	memset(v, 'b', 400);
	v[400] = '\0';
	vars.agent = v;
	assert_int_equal(strlen(render("{{author}}-{{agent}}", &vars)), 2 * REPLY_VALUE_MAX + 1);
}

static void test_render_output_cap(void **state)
{
	struct buf b;
	char err[64];
	(void)state;

	buf_init(&b, 16);
	buf_puts(&b, "0123456789");
	assert_int_equal(replies_render_string("{{author}} {{business}}", &full, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "output too long");
	assert_int_equal(b.len, 10);
	assert_string_equal(b.p, "0123456789");
	assert_int_equal(replies_render_string("{{author}}", &full, &b, err, sizeof(err)), 0);
	assert_string_equal(b.p, "0123456789Sam");
	buf_free(&b);
}

/* ---- loaded sets ---- */

static void test_render_loaded_and_variants(void **state)
{
	struct diag d;
	char *paths[3];
	struct buf b;
	int seen[3] = {0, 0, 0};
	(void)state;

	diag_init(&d);
	struct replies *r =
	    load_texts(&d, paths,
	               "smalltalk.thanks:\n"
	               "  - \"You're welcome, {{author}}!\"\n"
	               "  - 'Happy to help!'\n"
	               "  - >-\n"
	               "    Any time{{#author}}, {{author}}{{/author}}.\n",
	               "faq.hours: \"We're open {{hours}}.{{#phone}} Call {{phone}}.{{/phone}}\"\n");
	assert_non_null(r);
	assert_int_equal(d.errors, 0);
	assert_int_equal(replies_count(r), 2);
	assert_string_equal(replies_key(r, 0), "smalltalk.thanks");
	assert_string_equal(replies_key(r, 1), "faq.hours");
	assert_null(replies_key(r, 2));
	assert_true(replies_has(r, "faq.hours"));
	assert_false(replies_has(r, "faq.hour"));
	assert_false(replies_has(r, "faq"));
	assert_int_equal(replies_vars_used(r, "faq.hours"), REPLY_VAR_HOURS | REPLY_VAR_PHONE);
	assert_int_equal(replies_vars_used(r, "smalltalk.thanks"), REPLY_VAR_AUTHOR);
	assert_int_equal(replies_vars_used(r, "nope"), 0);

	buf_init(&b, 0);
	assert_int_equal(replies_render(r, "faq.hours", 1, &full, &b), 0);
	assert_string_equal(b.p, "We're open Mon–Fri 9:00–17:30. Call +44 20 7946 0000.");
	/* Appends; a missing key leaves out unchanged. */
	assert_int_equal(replies_render(r, "faq.hours", 1, NULL, &b), 0);
	assert_string_equal(b.p, "We're open Mon–Fri 9:00–17:30. Call +44 20 7946 0000.We're open .");
	assert_int_equal(replies_render(r, "faq.nope", 1, &full, &b), -1);
	assert_int_equal(replies_render(r, "", 1, &full, &b), -1);
	assert_string_equal(b.p, "We're open Mon–Fri 9:00–17:30. Call +44 20 7946 0000.We're open .");

	/* The same seed always gives the same variant; seeds from post ids
	 * (FNV hashes) spread over all of them. */
	for (int i = 0; i < 300; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%d", 109000000 + i);
		uint64_t seed = hash64(id, strlen(id));
		buf_reset(&b);
		assert_int_equal(replies_render(r, "smalltalk.thanks", seed, &full, &b), 0);
		char first[64];
		snprintf(first, sizeof(first), "%s", b.p);
		buf_reset(&b);
		replies_render(r, "smalltalk.thanks", seed, &full, &b);
		assert_string_equal(b.p, first);
		if (!strcmp(first, "You're welcome, Sam!"))
			seen[0]++;
		else if (!strcmp(first, "Happy to help!"))
			seen[1]++;
		else if (!strcmp(first, "Any time, Sam."))
			seen[2]++;
		else
			fail_msg("unexpected variant: %s", first);
	}
	for (int i = 0; i < 3; i++)
		assert_in_range(seen[i], 60, 140);
	/* Consecutive small seeds spread too. */
	memset(seen, 0, sizeof(seen));
	for (uint64_t s = 0; s < 300; s++) {
		buf_reset(&b);
		replies_render(r, "smalltalk.thanks", s, &full, &b);
		seen[b.p[0] == 'Y' ? 0 : b.p[0] == 'H' ? 1 : 2]++;
	}
	for (int i = 0; i < 3; i++)
		assert_in_range(seen[i], 60, 140);

	buf_free(&b);
	replies_free(r);
	free_paths(paths);
	diag_free(&d);
}

static void test_resolve_fallback(void **state)
{
	struct diag d;
	char *paths[3];
	(void)state;

	diag_init(&d);
	struct replies *r = load_texts(&d, paths,
	                               "a: x\na.after_hours: x\na.holiday: x\na.open: x\n"
	                               "b: x\nb.after_hours: x\n"
	                               "c: x\n"
	                               "d.open: x\nd.after_hours: x\n"
	                               "e.holiday: x\n",
	                               NULL);
	assert_non_null(r);
	assert_string_equal(replies_resolve(r, "a", REPLY_OPEN), "a.open");
	assert_string_equal(replies_resolve(r, "a", REPLY_AFTER_HOURS), "a.after_hours");
	assert_string_equal(replies_resolve(r, "a", REPLY_HOLIDAY), "a.holiday");

	assert_string_equal(replies_resolve(r, "b", REPLY_OPEN), "b");
	assert_string_equal(replies_resolve(r, "b", REPLY_AFTER_HOURS), "b.after_hours");
	assert_string_equal(replies_resolve(r, "b", REPLY_HOLIDAY), "b.after_hours");

	assert_string_equal(replies_resolve(r, "c", REPLY_OPEN), "c");
	assert_string_equal(replies_resolve(r, "c", REPLY_AFTER_HOURS), "c");
	assert_string_equal(replies_resolve(r, "c", REPLY_HOLIDAY), "c");

	/* No base key: only the state variants exist. */
	assert_string_equal(replies_resolve(r, "d", REPLY_OPEN), "d.open");
	assert_string_equal(replies_resolve(r, "d", REPLY_AFTER_HOURS), "d.after_hours");
	assert_string_equal(replies_resolve(r, "d", REPLY_HOLIDAY), "d.after_hours");
	assert_null(replies_resolve(r, "e", REPLY_OPEN));
	assert_null(replies_resolve(r, "e", REPLY_AFTER_HOURS));
	assert_string_equal(replies_resolve(r, "e", REPLY_HOLIDAY), "e.holiday");

	assert_null(replies_resolve(r, "zzz", REPLY_OPEN));
	assert_null(replies_resolve(r, "zzz", REPLY_HOLIDAY));
	/* The key returned is the set's own (borrowed), usable for rendering. */
	const char *k = replies_resolve(r, "b", REPLY_HOLIDAY);
	assert_true(replies_has(r, k));
	/* A base too long to be a key resolves to nothing. */
	char longkey[REPLY_KEY_MAX + 10];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_null(replies_resolve(r, longkey, REPLY_HOLIDAY));
	assert_false(replies_has(r, longkey));

	replies_free(r);
	free_paths(paths);
	diag_free(&d);
}

/* Many keys: the table grows and every key stays findable. */
/* replies_pick: mood, then channel, then state, each falling back to its
 * absence (the order documented in replies.h). */
static const char *pick(const struct replies *r, const char *base, enum reply_state st, const char *ch,
                        int neg)
{
	const struct reply_want w = {st, ch, neg};
	return replies_pick(r, base, &w);
}

static void test_pick_order(void **state)
{
	struct diag d;
	char *paths[3];
	(void)state;

	diag_init(&d);
	struct replies *r = load_texts(&d, paths,
	                               "f: x\nf.after_hours: x\nf.negative: x\nf.slack: x\n"
	                               "f.negative.slack.after_hours: x\nf.slack.holiday: x\n"
	                               "g: x\ng.open: x\n"
	                               "h.negative.after_hours: x\nh: x\n"
	                               "open: x\nf.open_x: x\n",
	                               NULL);
	assert_non_null(r);
	/* nothing special: the state chain alone */
	assert_string_equal(pick(r, "f", REPLY_OPEN, NULL, 0), "f");
	assert_string_equal(pick(r, "f", REPLY_AFTER_HOURS, NULL, 0), "f.after_hours");
	assert_string_equal(pick(r, "f", REPLY_HOLIDAY, NULL, 0), "f.after_hours");
	/* a channel's wording beats the time of day */
	assert_string_equal(pick(r, "f", REPLY_AFTER_HOURS, "slack", 0), "f.slack");
	assert_string_equal(pick(r, "f", REPLY_HOLIDAY, "slack", 0), "f.slack.holiday");
	assert_string_equal(pick(r, "f", REPLY_OPEN, "discord", 0), "f");
	/* an apology beats a channel's wording */
	assert_string_equal(pick(r, "f", REPLY_OPEN, "slack", 1), "f.negative");
	assert_string_equal(pick(r, "f", REPLY_AFTER_HOURS, "slack", 1), "f.negative.slack.after_hours");
	assert_string_equal(pick(r, "f", REPLY_HOLIDAY, "slack", 1), "f.negative.slack.after_hours");
	assert_string_equal(pick(r, "f", REPLY_AFTER_HOURS, NULL, 1), "f.negative");
	/* no negative variant: the ordinary one */
	assert_string_equal(pick(r, "g", REPLY_OPEN, "slack", 1), "g.open");
	assert_string_equal(pick(r, "g", REPLY_AFTER_HOURS, "slack", 1), "g");
	/* a negative variant only for one state */
	assert_string_equal(pick(r, "h", REPLY_AFTER_HOURS, NULL, 1), "h.negative.after_hours");
	assert_string_equal(pick(r, "h", REPLY_OPEN, NULL, 1), "h");
	/* a channel named like a state or mood, or not a key word, has no variants */
	assert_string_equal(pick(r, "f", REPLY_OPEN, "negative", 0), "f");
	assert_string_equal(pick(r, "f", REPLY_AFTER_HOURS, "open", 0), "f.after_hours");
	assert_string_equal(pick(r, "f", REPLY_OPEN, "Slack", 0), "f");
	assert_string_equal(pick(r, "f", REPLY_OPEN, "sla", 0), "f");
	assert_string_equal(pick(r, "f", REPLY_OPEN, "", 0), "f");
	assert_null(pick(r, "zz", REPLY_OPEN, "slack", 1));
	/* replies_resolve is the state-only pick */
	assert_string_equal(replies_resolve(r, "f", REPLY_HOLIDAY), "f.after_hours");

	assert_true(replies_has_variant(r, "f", "negative"));
	assert_true(replies_has_variant(r, "h", "negative"));
	assert_false(replies_has_variant(r, "g", "negative"));
	assert_false(replies_has_variant(r, "f", "neg"));
	assert_false(replies_has_variant(r, "f", "open"));
	assert_false(replies_has_variant(r, "zz", "negative"));

	/* a base or channel too long to make a key */
	char longkey[REPLY_KEY_MAX + 10];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_null(pick(r, longkey, REPLY_OPEN, NULL, 1));
	assert_string_equal(pick(r, "f", REPLY_OPEN, longkey, 1), "f.negative");
	assert_false(replies_has_variant(r, longkey, "negative"));

	replies_free(r);
	free_paths(paths);
	diag_free(&d);
}

static void test_many_keys(void **state)
{
	struct diag d;
	struct buf text, out;
	char *paths[3];
	(void)state;

	buf_init(&text, 0);
	for (int i = 0; i < 1000; i++)
		buf_printf(&text, "k%d.x: \"v%d {{ticket}}\"\n", i, i);
	diag_init(&d);
	struct replies *r = load_texts(&d, paths, text.p, NULL);
	assert_non_null(r);
	assert_int_equal(replies_count(r), 1000);
	buf_init(&out, 0);
	for (int i = 0; i < 1000; i++) {
		char key[32], want[32];
		snprintf(key, sizeof(key), "k%d.x", i);
		snprintf(want, sizeof(want), "v%d 42", i);
		buf_reset(&out);
		assert_int_equal(replies_render(r, key, 0, &full, &out), 0);
		assert_string_equal(out.p, want);
	}
	buf_free(&out);
	buf_free(&text);
	replies_free(r);
	free_paths(paths);
	diag_free(&d);
}

/* ---- the shipped replies ---- */

static const char *const en_yaml = "replies/en.yaml";

/* Reply keys named by the default rules (reply: and acknowledge:). */
static void collect_rule_keys(const char *path, char **keys, size_t *n, size_t max)
{
	struct yml_doc y;
	struct diag d;

	diag_init(&d);
	if (yml_load_file(&y, path, &d) < 0)
		fail_msg("%s", d.out.p);
	yaml_node_t *root = yml_root(&y);
	assert_non_null(root);
	for (int i = 0; i < yml_len(root); i++) {
		yaml_node_t *rule = yml_item(&y, root, i);
		const char *fields[] = {"reply", "acknowledge"};
		for (size_t f = 0; f < 2; f++) {
			const char *k = yml_scalar(yml_get(&y, rule, fields[f]));
			if (k && *n < max)
				keys[(*n)++] = xstrdup(k);
		}
	}
	yml_free(&y);
	diag_free(&d);
}

/* A rendered reply must read cleanly whichever variables are missing. */
static void check_clean(const char *key, const char *s)
{
	if (!*s || strstr(s, "{{") || strstr(s, "}}") || strstr(s, "  ") || strstr(s, " ,") ||
	    strstr(s, " .") || strstr(s, "..") || strstr(s, ",.") || strstr(s, "()") || s[0] == ' ' ||
	    s[strlen(s) - 1] == ' ')
		fail_msg("reply '%s' does not read cleanly: \"%s\"", key, s);
}

static void test_en_yaml(void **state)
{
	static const char *const pipeline_keys[] = {"escalated", "negative", "abusive", "human", "waiting"};
	static const char *const rule_files[] = {"rules/escalate.yaml", "rules/faq.yaml",
	                                         "rules/smalltalk.yaml"};
	struct diag d;
	struct buf b;
	char *files[] = {(char *)en_yaml, NULL};
	char *keys[256];
	size_t nkeys = 0;
	(void)state;

	diag_init(&d);
	struct replies *r = replies_load(files, &d);
	if (!r)
		fail_msg("%s", d.out.p);
	for (size_t k = 0; k < ARRAY_LEN(pipeline_keys); k++)
		for (int st = REPLY_OPEN; st <= REPLY_HOLIDAY; st++)
			if (!replies_resolve(r, pipeline_keys[k], (enum reply_state)st))
				fail_msg("pipeline key '%s' does not resolve in state %d", pipeline_keys[k],
				         st);
	/* Whatever is known of the business at the time, a "due" is always
	 * there when a person takes over. */
	for (size_t k = 0; k < ARRAY_LEN(pipeline_keys); k++)
		if (strcmp(pipeline_keys[k], "abusive") != 0)
			assert_true(replies_vars_used(r, replies_resolve(r, pipeline_keys[k], REPLY_OPEN)) &
			            REPLY_VAR_DUE);

	for (size_t f = 0; f < ARRAY_LEN(rule_files); f++)
		collect_rule_keys(rule_files[f], keys, &nkeys, ARRAY_LEN(keys));
	assert_true(nkeys >= 15);
	for (size_t i = 0; i < nkeys; i++) {
		for (int st = REPLY_OPEN; st <= REPLY_HOLIDAY; st++)
			if (!replies_resolve(r, keys[i], (enum reply_state)st))
				fail_msg("rule reply '%s' does not resolve in state %d", keys[i], st);
		free(keys[i]);
	}

	/* Every variant of every key renders cleanly with all variables set,
	 * and with only what the pipeline always has (hours, due, opens_at). */
	struct reply_vars bare = {
	    .hours = "Mon–Fri 9:00–17:30", .due = "Monday at 11:00", .opens_at = "Monday at 9:00"};
	buf_init(&b, 0);
	for (size_t i = 0; i < replies_count(r); i++) {
		const char *key = replies_key(r, i);
		for (uint64_t seed = 0; seed < 64; seed++) {
			buf_reset(&b);
			assert_int_equal(replies_render(r, key, seed, &full, &b), 0);
			check_clean(key, b.p);
			buf_reset(&b);
			assert_int_equal(replies_render(r, key, seed, &bare, &b), 0);
			check_clean(key, b.p);
		}
	}
	/* Canned replies are written for a person to send: there are some,
	 * and none greets by {{author}} (a web chat visitor's is a pseudonym)
	 * or makes the bot's promises. */
	size_t ncanned = 0;
	for (size_t i = 0; i < replies_count(r); i++) {
		const char *key = replies_key(r, i);
		if (strncmp(key, "canned.", 7) != 0)
			continue;
		ncanned++;
		assert_false(replies_vars_used(r, key) & REPLY_VAR_AUTHOR);
		buf_reset(&b);
		assert_int_equal(replies_render(r, key, 0, &full, &b), 0);
		if (strstr(b.p, "a person will") || strstr(b.p, "passed it to the team") ||
		    strstr(b.p, "passed your message"))
			fail_msg("canned reply '%s' reads like the bot: \"%s\"", key, b.p);
	}
	assert_true(ncanned >= 5);
	/* Acknowledgements have several variants. */
	const char *acks[] = {"smalltalk.thanks", "smalltalk.greeting", "smalltalk.goodbye",
	                      "smalltalk.praise"};
	for (size_t i = 0; i < ARRAY_LEN(acks); i++) {
		char first[512];
		int differ = 0;
		buf_reset(&b);
		replies_render(r, acks[i], 0, &full, &b);
		snprintf(first, sizeof(first), "%s", b.p);
		for (uint64_t seed = 1; seed < 64 && !differ; seed++) {
			buf_reset(&b);
			replies_render(r, acks[i], seed, &full, &b);
			differ = strcmp(first, b.p) != 0;
		}
		if (!differ)
			fail_msg("'%s' has a single variant", acks[i]);
	}
	buf_free(&b);
	replies_free(r);
	diag_free(&d);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_unknown_variable),
	    cmocka_unit_test(test_error_sections),
	    cmocka_unit_test(test_error_keys_and_values),
	    cmocka_unit_test(test_error_limits),
	    cmocka_unit_test(test_error_duplicate_across_files),
	    cmocka_unit_test(test_error_all_reported),
	    cmocka_unit_test(test_render_variables),
	    cmocka_unit_test(test_render_sections),
	    cmocka_unit_test(test_render_errors),
	    cmocka_unit_test(test_render_value_cap),
	    cmocka_unit_test(test_render_output_cap),
	    cmocka_unit_test(test_render_loaded_and_variants),
	    cmocka_unit_test(test_resolve_fallback),
	    cmocka_unit_test(test_pick_order),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_en_yaml),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
