/*
 * test_sentiment.c - the lexicon format (its errors name file:line:col) and
 * the decisions the shipped lexicon (rules/lexicon/) makes on customer posts
 * of a bakery, a phone shop and a hotel.  Run from the repository root.
 */
#include <glob.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "normalize.h"
#include "sentiment.h"

static struct lexicon *shipped;
static struct text text;
static char tmpdir[] = "/tmp/test_sentiment.XXXXXX";

static int setup(void **state)
{
	glob_t g;
	struct diag d;

	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	if (glob("rules/lexicon/*.yaml", 0, NULL, &g) != 0)
		return -1;
	diag_init(&d);
	shipped = lexicon_load(g.gl_pathv, &d);
	if (!shipped)
		fprintf(stderr, "%s", d.out.p ? d.out.p : "");
	diag_free(&d);
	globfree(&g);
	text_init(&text);
	return shipped ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lexicon_free(shipped);
	text_free(&text);
	static const char *const made[] = {"bad.yaml",   "a.yaml", "b.yaml", "base.yaml",
	                                   "local.yaml", "p.yaml", NULL};
	for (size_t i = 0; made[i]; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", tmpdir, made[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return 0;
}

/* Write `body` to tmpdir/name; returns the path (static buffer per slot). */
static const char *write_file(int slot, const char *name, const char *body)
{
	static char paths[4][512];
	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
	FILE *f = fopen(paths[slot], "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	return paths[slot];
}

static struct sentiment analyze_with(const struct lexicon *lx, const char *post)
{
	struct sentiment s;
	text_normalize(&text, post, strlen(post));
	sentiment_analyze(lx, &text, lexicon_threshold(lx), &s);
	return s;
}

static struct sentiment analyze(const char *post)
{
	return analyze_with(shipped, post);
}

/* Load one or two files; on failure return NULL with the diagnostics in out. */
static struct lexicon *load(const char *a, const char *b, struct diag *d)
{
	char *files[3] = {(char *)a, (char *)b, NULL};
	diag_init(d);
	return lexicon_load(files, d);
}

static void expect_error(const char *body, const char *where, const char *what)
{
	struct diag d;
	const char *path = write_file(0, "bad.yaml", body);
	struct lexicon *lx = load(path, NULL, &d);
	char want[600];

	assert_null(lx);
	snprintf(want, sizeof(want), "%s:%s: ", path, where);
	if (!d.out.p || !strstr(d.out.p, want) || !strstr(d.out.p, what))
		fail_msg("expected \"%s%s\" in:\n%s", want, what, d.out.p ? d.out.p : "(nothing)");
	diag_free(&d);
}

static void test_shipped_lexicon(void **state)
{
	(void)state;
	assert_true(lexicon_entries(shipped) > 500);
	assert_true(lexicon_threshold(shipped) < 0);
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_error("words:\n  terrible: -9\n", "2:13", "expected a number from -5 to 5");
	expect_error("words:\n  terrible: bad\n", "2:13", "expected a number");
	expect_error("wrods:\n  terrible: -3\n", "1:1",
	             "unknown key 'wrods' in a lexicon file (did you mean 'words'?)");
	expect_error("complaints:\n  - \"never (arrived|came\"\n", "2:5", "unclosed '(' before '|'");
	expect_error("complaints:\n  - \"... still waiting\"\n", "2:5",
	             "a gap ('...' or '*') must stand between words");
	expect_error("complaints:\n  - \"still waiting ...\"\n", "2:5",
	             "a gap ('...' or '*') must stand between words");
	expect_error("complaints:\n  - \"charg*ed twice\"\n", "2:5", "'*' may only open or close a phrase");
	expect_error("words:\n  \"!!!\": -1\n", "2:3", "has no words left after normalization");
	expect_error("words:\n  bad: -2\n  Bad: -1\n", "3:3", "listed twice in this file");
	expect_error("words: [bad, worse]\n", "1:8", "expected a mapping 'phrase: weight' for words");
	expect_error("negators: {not: 1}\n", "1:11", "expected a list of phrases for negators");
	expect_error("complaints:\n  \"still waiting\": 2\n", "2:20", "expected a number from -5 to 0");
	expect_error("intensifiers:\n  very: 9\n", "2:9", "expected a number from 0 to 4");
	expect_error("tuning:\n  shoutng: 1.3\n", "2:3", "did you mean 'shouting'?");
	expect_error("threshold: 2\n", "1:12", "expected a number from -1 to 1");
	expect_error("strongly_negative: -3\n", "1:20", "expected a number from -1 to 1");
	expect_error("words:\n  thanks: { weight: 2, negate: maybe }\n", "2:32", "expected true or false");
	expect_error("words:\n  thanks: { negate: false }\n", "2:11", "needs 'weight'");
	expect_error("complaints:\n  - \"(|)\"\n", "2:5", "the entry can match nothing");
	expect_error("- just\n- a list\n", "1:1", "expected a mapping for a lexicon file");
	expect_error("words: {bad: -2\n", "1:8", "the '{' opened here is never closed");
}

static void test_load_errors_across_files(void **state)
{
	struct diag d;
	(void)state;

	const char *a = write_file(0, "a.yaml", "threshold: -0.3\nwords:\n  bad: -2\n");
	const char *b = write_file(1, "b.yaml", "# second\nthreshold: -0.5\nwords:\n  awful: x\n");
	assert_null(load(a, b, &d));
	assert_non_null(strstr(d.out.p, "b.yaml:2:1: threshold is already set at "));
	assert_non_null(strstr(d.out.p, "a.yaml:1"));
	assert_non_null(strstr(d.out.p, "b.yaml:4:10: expected a number"));
	assert_int_equal(d.errors, 2); /* every error is reported, not just the first */
	diag_free(&d);

	char *none[] = {NULL};
	diag_init(&d);
	assert_null(lexicon_load(none, &d));
	assert_true(d.errors > 0);
	diag_free(&d);

	assert_null(load("/nonexistent/lexicon.yaml", NULL, &d));
	assert_non_null(strstr(d.out.p, "/nonexistent/lexicon.yaml: cannot open"));
	diag_free(&d);
}

/* A later file changes the weight of an entry of an earlier one. */
static void test_redefinition(void **state)
{
	struct diag d;
	(void)state;

	const char *a = write_file(0, "base.yaml", "words:\n  meh: -3\n  fine: 1\n");
	const char *b = write_file(1, "local.yaml", "words:\n  MEH: 0\n");
	struct lexicon *lx = load(a, NULL, &d);
	assert_non_null(lx);
	assert_true(analyze_with(lx, "meh").negative);
	lexicon_free(lx);
	diag_free(&d);

	lx = load(a, b, &d);
	assert_non_null(lx);
	assert_int_equal(lexicon_entries(lx), 2);
	assert_false(analyze_with(lx, "meh").negative);
	assert_true(analyze_with(lx, "meh").score == 0);
	lexicon_free(lx);
	diag_free(&d);
}

/* The pattern language: choices, optional words, prefixes, suffixes, gaps. */
static void test_patterns(void **state)
{
	struct diag d;
	(void)state;

	const char *f = write_file(0, "p.yaml",
	                           "complaints:\n"
	                           "  - \"(no one|nobody) (answers|answered) ... (call*|email*)\"\n"
	                           "  - \"(still|) waiting for (my|our) refund\"\n"
	                           "  - \"on hold for * *hrs\"\n"
	                           "  - \"charg* twice\"\n"
	                           "ignore: [\"charged twice for two\"]\n");
	struct lexicon *lx = load(f, NULL, &d);
	if (!lx)
		fail_msg("%s", d.out.p);
	diag_free(&d);

	assert_true(analyze_with(lx, "Nobody answered my calls").complaint);
	assert_true(analyze_with(lx, "no one answers any of my emails").complaint);
	assert_true(analyze_with(lx, "NO ONE ANSWERS the emails").complaint);
	assert_false(analyze_with(lx, "no one answers the door here but we welcome calls").complaint);
	assert_false(analyze_with(lx, "no one answers ever, oh well, maybe via the phone").complaint);
	assert_true(analyze_with(lx, "Still waiting for my refund").complaint);
	assert_true(analyze_with(lx, "waiting for our refund").complaint);
	assert_false(analyze_with(lx, "waiting for a refund").complaint);
	assert_true(analyze_with(lx, "on hold for about 2hrs").complaint);
	assert_true(analyze_with(lx, "on hold for over hrs").complaint);
	assert_false(analyze_with(lx, "on hold for 2hrs").complaint); /* "*" is exactly one word */
	assert_false(analyze_with(lx, "on hold for about 2 hours").complaint);
	assert_true(analyze_with(lx, "you charged me twice").complaint == 0);
	assert_true(analyze_with(lx, "they charged twice!").complaint);
	assert_true(analyze_with(lx, "charges twice").complaint);
	/* a longer ignore entry hides what is inside it */
	assert_false(analyze_with(lx, "I was charged twice for two cakes, correct").complaint);
	assert_true(analyze_with(lx, "I was charged twice for one cake").complaint);
	struct sentiment s = analyze_with(lx, "they charged twice");
	assert_string_equal(s.cue, "charg* twice");
	lexicon_free(lx);
}

static void test_negation(void **state)
{
	(void)state;
	assert_false(analyze("The croissants were not bad").negative);
	assert_true(analyze("The croissants were not bad").score > 0);
	assert_true(analyze("The croissants were not good").negative);
	assert_true(analyze("the repair wasn't good at all").negative);
	assert_true(analyze("The staff were not helpful").negative);
	assert_false(analyze("no problem, thanks!").negative);
	assert_false(analyze("honestly not too bad").negative);
	assert_false(analyze("it was not that bad").negative);
	/* a negative word is flipped only by a negator right before it */
	assert_true(analyze("I said no thanks, useless").negative);
	/* negators flip words, not emoji, not thanks */
	assert_true(analyze("didn't work 😡").negative);
	assert_true(analyze("didn't work 😡").score < analyze("didn't work").score);
	assert_false(analyze("I don't know the size yet, thanks").negative);
}

static void test_intensifiers(void **state)
{
	(void)state;
	double plain = analyze("the service was bad").score;
	assert_true(plain < 0);
	assert_true(analyze("the service was very bad").score < plain);
	assert_true(analyze("the service was extremely bad").score <
	            analyze("the service was very bad").score);
	assert_true(analyze("the service was slightly bad").score > plain);
	assert_true(analyze("the cake was really good").score > analyze("the cake was good").score);
}

static void test_contrast(void **state)
{
	(void)state;
	struct sentiment s = analyze("the cake was nice but the delivery was two hours late");
	assert_true(s.negative);
	assert_true(s.complaint);
	assert_false(
	    analyze("the delivery was a bit late but the cake was amazing and the staff lovely").negative);
	assert_true(analyze("the room was clean but the staff were rude").negative);
}

static void test_emoji_and_emoticons(void **state)
{
	(void)state;
	assert_true(analyze("my order 😡").negative);
	assert_true(analyze("my order :(").negative);
	assert_true(analyze("my order :-(").negative);
	assert_true(analyze("👎👎").negative);
	assert_true(analyze("new phone 👍").score > 0);
	assert_true(analyze("cake day :) <3").score > 0);
	assert_false(analyze("cake day :D").negative);
	/* repeated emoji count each time */
	assert_true(analyze("😞😞😞").score < analyze("😞").score);
}

static void test_caps_and_punctuation(void **state)
{
	(void)state;
	double calm = analyze("this is terrible service").score;
	assert_true(calm < 0);
	assert_true(analyze("THIS IS TERRIBLE SERVICE").score < calm);
	assert_true(analyze("this is terrible service!!!").score < calm);
	assert_true(analyze("why is this so bad??").score < analyze("why is this so bad?").score);
	/* shouting alone is not a complaint */
	assert_false(analyze("OMG OMG I JUST ORDERED!!!").negative);
	assert_true(analyze("THANK YOU SO MUCH!!!").score > analyze("thank you so much").score);
}

static void test_complaints_bakery_phone_hotel(void **state)
{
	static const char *const posts[] = {
	    /* bakery */
	    "I ordered a birthday cake for Saturday and it never arrived.",
	    "Still waiting for my refund, it's been three weeks.",
	    "You charged me twice for the same order",
	    "The box was crushed and half of the cupcakes were missing",
	    "This is the third time I ask about my order",
	    "the croissants were stale",
	    "the pastries made my kids sick",
	    "I asked for no nuts and there were nuts in it",
	    /* phone shop */
	    "I've been on hold for 45 minutes",
	    "my phone screen is still broken after your repair",
	    "Nobody answers the phone at the Main Street shop",
	    "the battery died after two days",
	    "the charger you sold me doesn't work",
	    "The phone you sold me restarts every ten minutes",
	    "The screen replacement cost twice what you quoted me",
	    "I was promised a call back yesterday but still nothing",
	    "Been trying to reach customer service all day",
	    "I want my money back",
	    /* hotel */
	    "They cancelled my reservation without telling me",
	    "we were told the room would be ready at 2, it's now 5 and still nothing",
	    "There was no hot water for two days",
	    "the room was filthy",
	    "wasted my whole morning waiting for the technician who never showed up",
	    "booked a table for 8pm, waited until 9 to be seated",
	    "Paid for breakfast but the restaurant was closed when we got there",
	    "It took 40 minutes to get our coffees",
	    "Thanks for nothing.",
	    "Great job losing my booking again",
	    "How hard is it to get a booking right?",
	    NULL,
	};
	(void)state;
	for (size_t i = 0; posts[i]; i++) {
		struct sentiment s = analyze(posts[i]);
		if (!s.negative || !s.complaint)
			fail_msg("not a negative complaint (score %.2f, complaint %d): %s", s.score,
			         s.complaint, posts[i]);
		assert_non_null(s.cue);
	}
}

static void test_not_negative(void **state)
{
	static const char *const posts[] = {
	    "Thank you so much, the cake was delicious!",
	    "Great service, my phone was fixed in an hour. Thanks!",
	    "Lovely stay, the staff were so friendly :)",
	    "The best croissants in town ❤️",
	    "Not bad at all, will come again.",
	    "You guys rock!",
	    "I was worried it would be late but it arrived on time. Thanks!",
	    "What time do you open on Sunday?",
	    "Do you have gluten free options because my son is celiac?",
	    "Can I order a cake for 20 people for next Friday?",
	    "How long does delivery take to Leeds?",
	    "Can I cancel my order if I change my mind?",
	    "Can you keep the cake in the fridge for 2 hours?",
	    "I lost my keys in your shop yesterday, did anyone find them?",
	    "Could you hold the cake until Saturday? I can't pick it up before then.",
	    "Are you open until 8 tonight?",
	    "Is breakfast included in the price?",
	    "Do you fix water damaged phones?",
	    "How long does it take to unlock a phone?",
	    "We will arrive late, around 11pm, is check-in still possible?",
	    "",
	    "   ",
	    NULL,
	};
	(void)state;
	for (size_t i = 0; posts[i]; i++) {
		struct sentiment s = analyze(posts[i]);
		if (s.negative || s.abusive)
			fail_msg("flagged (score %.2f, cue %s): %s", s.score, s.cue ? s.cue : "-", posts[i]);
	}
	assert_null(analyze("What time do you open on Sunday?").cue);
	assert_true(analyze("").score == 0);
}

static void test_abusive(void **state)
{
	static const char *const abusive[] = {
	    "you guys are a bunch of idiots",
	    "what a moron",
	    "fuck you, you useless bitch",
	    "screw you",
	    "shut up",
	    "your staff are idiotic",
	    NULL,
	};
	static const char *const clean[] = {
	    "the new idiot-proof ordering page is great", "is the shop in Scunthorpe open?",
	    "your sourdough is fucking amazing",          "do you have shiitake mushroom soup",
	    "this is terrible, useless service",          NULL,
	};
	(void)state;
	for (size_t i = 0; abusive[i]; i++) {
		struct sentiment s = analyze(abusive[i]);
		if (!s.abusive || !s.negative)
			fail_msg("not abusive and negative: %s", abusive[i]);
		assert_non_null(s.cue);
	}
	for (size_t i = 0; clean[i]; i++)
		if (analyze(clean[i]).abusive)
			fail_msg("abusive: %s", clean[i]);
	assert_false(analyze("your sourdough is fucking amazing").negative);
	assert_true(analyze("this is terrible, useless service").negative);
}

static void test_threshold_and_override(void **state)
{
	struct sentiment s;
	(void)state;

	/* a caller's threshold replaces the lexicon's */
	text_normalize(&text, "the service was bad", 19);
	sentiment_analyze(shipped, &text, -0.9, &s);
	assert_false(s.negative);
	sentiment_analyze(shipped, &text, 0.0, &s);
	assert_true(s.negative);
	/* a complaint is negative whatever the threshold, unless clearly positive */
	text_normalize(&text, "still waiting for my order", 26);
	sentiment_analyze(shipped, &text, -1.0, &s);
	assert_true(s.negative);
	assert_true(s.complaint);
	s = analyze(
	    "My order never arrived at first, but you sorted it out so quickly, brilliant service, thank "
	    "you so much, you are the best!");
	assert_true(s.complaint);
	assert_false(s.negative);
}

/* A negative post is strongly so at or below strongly_negative: too unhappy
 * for an FAQ answer even with an apology (the pipeline's middle ground). */
static void test_strongly_negative(void **state)
{
	struct diag d;
	(void)state;

	const char *a = write_file(0, "a.yaml", "strongly_negative: -0.5\nwords:\n  bad: -2\n  awful: -4\n");
	struct lexicon *lx = load(a, NULL, &d);
	assert_non_null(lx);
	assert_true(lexicon_strong(lx) == -0.5);
	struct sentiment s = analyze_with(lx, "bad");
	assert_true(s.negative);
	assert_false(s.strong);
	s = analyze_with(lx, "awful");
	assert_true(s.negative);
	assert_true(s.strong);
	s = analyze_with(lx, "fine");
	assert_false(s.strong);
	lexicon_free(lx);
	diag_free(&d);

	const char *b = write_file(1, "b.yaml", "strongly_negative: -0.9\n");
	assert_null(load(a, b, &d));
	assert_non_null(strstr(d.out.p, "b.yaml:1:1: strongly_negative is already set at "));
	diag_free(&d);
	assert_true(lexicon_strong(shipped) < lexicon_threshold(shipped));
}

/* A long post: cues far apart are still found and nothing overflows. */
static void test_long_post(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	for (int i = 0; i < 600; i++)
		buf_puts(&b, "my the order is my cake and our a the ");
	buf_puts(&b, "and it never arrived");
	struct sentiment s = analyze(b.p);
	assert_true(s.complaint);
	assert_true(s.negative);
	buf_reset(&b);
	for (int i = 0; i < 2000; i++)
		buf_puts(&b, "bad ");
	s = analyze(b.p);
	assert_true(s.negative);
	assert_true(s.score >= -1.0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_lexicon),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_load_errors_across_files),
	    cmocka_unit_test(test_redefinition),
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_negation),
	    cmocka_unit_test(test_intensifiers),
	    cmocka_unit_test(test_contrast),
	    cmocka_unit_test(test_emoji_and_emoticons),
	    cmocka_unit_test(test_caps_and_punctuation),
	    cmocka_unit_test(test_complaints_bakery_phone_hotel),
	    cmocka_unit_test(test_not_negative),
	    cmocka_unit_test(test_abusive),
	    cmocka_unit_test(test_threshold_and_override),
	    cmocka_unit_test(test_strongly_negative),
	    cmocka_unit_test(test_long_post),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
