/*
 * test_sentiment.c - the lexicon format (its errors name file:line:col), the
 * lexicon's own score (`tone`: negation, intensifiers, contrast, emoji,
 * shouting), the complaint model's file and its cue families, and the
 * decisions the shipped lexicon and model (rules/lexicon/) make on customer
 * posts of a bakery, a phone shop, a hotel and other businesses.  Run from
 * the repository root.
 */
#include <glob.h>
#include <math.h>
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

/* None of posts (NULL-terminated) is negative or abusive. */
static void expect_calm(const char *const *posts)
{
	for (size_t i = 0; posts[i]; i++) {
		struct sentiment s = analyze(posts[i]);
		if (s.negative || s.abusive)
			fail_msg("flagged (score %.2f, cue %s): %s", s.score, s.cue ? s.cue : "-", posts[i]);
	}
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
	assert_true(analyze("The croissants were not bad").tone > 0);
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
	assert_true(analyze("didn't work 😡").tone < analyze("didn't work").tone);
	assert_false(analyze("I don't know the size yet, thanks").negative);
}

static void test_intensifiers(void **state)
{
	(void)state;
	double plain = analyze("the service was bad").tone;
	assert_true(plain < 0);
	assert_true(analyze("the service was very bad").tone < plain);
	assert_true(analyze("the service was extremely bad").tone < analyze("the service was very bad").tone);
	assert_true(analyze("the service was slightly bad").tone > plain);
	assert_true(analyze("the cake was really good").tone > analyze("the cake was good").tone);
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
	assert_true(analyze("my order :(").tone < 0);
	assert_true(analyze("my order :-(").tone == analyze("my order :(").tone);
	assert_true(analyze("my order arrived today :(").negative);
	assert_true(analyze("👎👎").negative);
	assert_true(analyze("new phone 👍").tone > 0);
	assert_true(analyze("cake day :) <3").tone > 0);
	assert_false(analyze("cake day :D").negative);
	/* repeated emoji count each time */
	assert_true(analyze("😞😞😞").tone < analyze("😞").tone);
}

static void test_caps_and_punctuation(void **state)
{
	(void)state;
	double calm = analyze("this is terrible service").tone;
	assert_true(calm < 0);
	assert_true(analyze("THIS IS TERRIBLE SERVICE").tone < calm);
	assert_true(analyze("this is terrible service!!!").tone < calm);
	assert_true(analyze("why is this so bad??").tone < analyze("why is this so bad?").tone);
	/* shouting alone is not a complaint */
	assert_false(analyze("OMG OMG I JUST ORDERED!!!").negative);
	assert_true(analyze("THANK YOU SO MUCH!!!").tone > analyze("thank you so much").tone);
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
	expect_calm(posts);
	assert_true(analyze("").score == 0);
	assert_null(analyze("").cue);
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

	/* a caller's threshold replaces the lexicon's: the score, not the verdict,
	 * is what the post is */
	text_normalize(&text, "the service was bad", 19);
	sentiment_analyze(shipped, &text, -0.99, &s);
	assert_false(s.negative);
	double score = s.score;
	sentiment_analyze(shipped, &text, 0.99, &s);
	assert_true(s.negative);
	assert_true(s.score == score);
	/* a complaint in a post that is clearly happy overall is not negative */
	s = analyze(
	    "My order never arrived at first, but you sorted it out so quickly, brilliant service, thank "
	    "you so much, you are the best!");
	assert_true(s.complaint);
	assert_false(s.negative);
}

/* Without a model (no `model:` section) the lexicon's score decides, and a
 * complaint is negative whatever the threshold unless clearly positive. */
static void test_lexicon_alone(void **state)
{
	struct diag d;
	struct sentiment s;
	(void)state;

	const char *a =
	    write_file(0, "a.yaml", "words:\n  bad: -2\n  great: 3\ncomplaints:\n  - \"still waiting\"\n");
	struct lexicon *lx = load(a, NULL, &d);
	assert_non_null(lx);
	assert_false(lexicon_has_model(lx));
	s = analyze_with(lx, "still waiting for my order");
	assert_true(s.negative);
	assert_true(s.score == s.tone);
	text_normalize(&text, "still waiting for my order", 26);
	sentiment_analyze(lx, &text, -1.0, &s);
	assert_true(s.negative);
	assert_false(analyze_with(lx, "still waiting, but great great great").negative);
	lexicon_free(lx);
	diag_free(&d);
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

/* Did feature `name` (cue.failure, question, a vocabulary entry) fire for post? */
static int fired(const char *post, const char *name)
{
	static struct sentiment_explanation ex;
	struct sentiment s;

	text_normalize(&text, post, strlen(post));
	sentiment_explain(shipped, &text, lexicon_threshold(shipped), &s, &ex);
	for (size_t i = 0; i < ex.n; i++)
		if (!strcmp(ex.r[i].name, name))
			return 1;
	return 0;
}

/*
 * Every cue family of rules/lexicon/cues.yaml: a plain statement of that
 * kind of failure, from all sorts of businesses, fires it and is negative;
 * the same words negated or taken back do not make a complaint.
 */
static void test_cue_families(void **state)
{
	static const struct {
		const char *family, *post;
	} cases[] = {
	    {"cue.failure", "The card machine won't take my card"},
	    {"cue.failure", "the heating stopped working and the landlord is away"},
	    {"cue.failure", "You sent the wrong size and the zip is broken"},
	    {"cue.charged", "I was charged for a booking you cancelled"},
	    {"cue.charged", "you charged me twice for the same lesson"},
	    {"cue.cancelled", "you cancelled my appointment without telling me"},
	    {"cue.persistence", "the boiler is leaking again and nobody came"},
	    {"cue.inability", "I can't log in to my account to pay the invoice"},
	    {"cue.overdue", "my parcel was meant to come on Tuesday, where is it?"},
	    {"cue.overdue", "any update on my repair? it was supposed to be ready on Friday"},
	    {"cue.unanswered", "I emailed you three times and nobody has replied"},
	    {"cue.demand", "please fix this today, I want a refund"},
	    {"cue.sarcasm", "great job losing my booking again"},
	    {"cue.help", "the fridge you delivered is making a loud noise, any advice? it is not normal"},
	    {"cue.wrongdoing", "your salesman lied to me about the price"},
	    {"cue.problem", "there is a problem with my booking and I can't change it"},
	    {"cue.exasperation", "seriously, not again. the car is back in the garage"},
	    {"cue.modal", "the suit should have been ready yesterday and it still isn't"},
	    {"cue.leaving", "I waited an hour for a table, I will take my business elsewhere"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!fired(cases[i].post, cases[i].family))
			fail_msg("%s did not fire: %s", cases[i].family, cases[i].post);
		struct sentiment s = analyze(cases[i].post);
		if (!s.negative)
			fail_msg("not negative (score %.2f): %s", s.score, cases[i].post);
	}
	/* weaker cues fire without deciding alone */
	assert_true(fired("I ordered a sofa and paid in full", "cue.past"));
	assert_true(fired("the new hours are great, every time I come it's open", "cue.persistence"));
}

/* Negation and contrast: these are not complaints. */
static void test_cues_negated_or_taken_back(void **state)
{
	static const char *const posts[] = {
	    "not bad at all",
	    "it works now, thanks",
	    "it's working again, thank you so much!",
	    "no problem at all, thanks",
	    "never had a problem with you, thanks for years of good service",
	    "it isn't broken, I just wanted to ask how long the warranty is",
	    "the parcel was a day late but it arrived safe and the quality is great, thank you",
	    "I was worried it would not arrive in time but it came this morning, lovely",
	    "never mind, I found it. thanks anyway",
	    "do you sell gift cards?",
	    "can I change my booking to Friday?",
	    "how long does delivery take to Leeds?",
	    NULL,
	};
	(void)state;
	expect_calm(posts);
	assert_false(fired("it isn't broken, I just wanted to ask about the warranty", "cue.failure"));
	assert_false(fired("never had a problem with you", "cue.problem"));
	assert_true(fired("it works now, thanks", "cue.resolved"));
	assert_true(fired("do you sell gift cards?", "cue.inquiry"));
	assert_true(fired("thanks so much for the help", "cue.gratitude"));
}

/* `frontdesk try`'s explanation: each reason with its weight, the words of
 * the post and the lexicon entry's file:line. */
static void test_explanation(void **state)
{
	static struct sentiment_explanation ex;
	struct sentiment s;
	const char *post = "my parcel was meant to come on Tuesday, where is it?";
	(void)state;

	text_normalize(&text, post, strlen(post));
	sentiment_explain(shipped, &text, lexicon_threshold(shipped), &s, &ex);
	assert_true(ex.model);
	assert_true(s.negative);
	assert_true(ex.n > 0);
	double margin = ex.bias, prev = INFINITY;
	int overdue = 0;
	for (size_t i = 0; i < ex.n; i++) {
		const struct sentiment_reason *r = &ex.r[i];
		margin += r->value * r->weight;
		assert_true(fabs(r->value * r->weight) <= prev); /* largest share first */
		prev = fabs(r->value * r->weight);
		if (!strcmp(r->name, "cue.overdue")) {
			overdue = 1;
			assert_non_null(r->file);
			assert_non_null(strstr(r->file, "cues.yaml"));
			assert_true(r->line > 0);
			assert_string_equal(r->words, "meant to come");
			assert_true(r->weight > 0);
		}
	}
	assert_true(overdue);
	assert_true(fabs(margin - ex.margin) < 1e-9);
	assert_true(fabs(s.score + tanh(ex.margin / 2)) < 1e-9);
	/* the same verdict as without the explanation */
	struct sentiment plain = analyze(post);
	assert_true(plain.score == s.score && plain.negative == s.negative);
	/* the lexicon's own entries, with their file */
	assert_true(ex.nlex > 0);
	assert_non_null(strstr(ex.lex[0].file, ".yaml"));
}

/* The model file: bad weights and unknown features are file:line:col errors. */
static void test_model_file_errors(void **state)
{
	(void)state;
	expect_error("model:\n  weights:\n    cue.failure: lots\n", "3:18",
	             "expected a number from -50 to 50");
	expect_error("model:\n  weights:\n    question: 99\n", "3:15", "expected a number from -50 to 50");
	expect_error("model:\n  bias: x\n", "2:9", "expected a number from -50 to 50 for the model's bias");
	expect_error("model:\n  weights:\n    questoin: 1\n", "3:5",
	             "unknown feature 'questoin' in model.weights (did you mean 'question'?)");
	expect_error("model:\n  weights:\n    cue.nosuchfamily: 1\n", "3:5",
	             "unknown feature 'cue.nosuchfamily'");
	expect_error("model:\n  wieghts: {}\n", "2:3",
	             "unknown key 'wieghts' in model (did you mean 'weights'?)");
	expect_error("model:\n  vocabulary:\n    \"(still|\": 1\n", "3:5", "unclosed '(' before '|'");
	expect_error("model:\n  vocabulary: [still]\n", "2:15", "model.vocabulary");
	expect_error("model: 3\n", "1:8", "model");
	expect_error("cues:\n  Bad-Name: [still]\n", "2:3",
	             "a cue family's name is 1 to 32 of a-z, 0-9 and _");
	expect_error("cues:\n  failure: still\n", "2:12", "a cue family's phrases");
	expect_error("cues:\n  failure:\n    - \"still (waiting|\"\n", "3:7", "unclosed '(' before '|'");
	/* a family named in a later file is known to an earlier file's weights */
	struct diag d;
	const char *a = write_file(0, "a.yaml", "model:\n  weights:\n    cue.later: 2\n");
	const char *b = write_file(1, "b.yaml", "cues:\n  later: [\"zzfail\"]\n");
	struct lexicon *lx = load(a, b, &d);
	if (!lx)
		fail_msg("%s", d.out.p);
	assert_true(lexicon_has_model(lx));
	assert_true(analyze_with(lx, "zzfail").score < 0);
	assert_true(analyze_with(lx, "fine").score == 0);
	lexicon_free(lx);
	diag_free(&d);
}

/* A business's own file, sorting later, changes the shipped model. */
static void test_model_override(void **state)
{
	struct diag d;
	glob_t g;
	(void)state;

	assert_int_equal(glob("rules/lexicon/*.yaml", 0, NULL, &g), 0);
	char **files = calloc(g.gl_pathc + 2, sizeof(*files));
	for (size_t i = 0; i < g.gl_pathc; i++)
		files[i] = g.gl_pathv[i];
	const char *post = "do you sell gift cards?";
	assert_false(analyze(post).negative);
	files[g.gl_pathc] = (char *)write_file(0, "local.yaml",
	                                       "model:\n  weights:\n    cue.inquiry: 20\n"
	                                       "  vocabulary:\n    \"gift cards\": 5\n");
	diag_init(&d);
	struct lexicon *lx = lexicon_load(files, &d);
	if (!lx)
		fail_msg("%s", d.out.p);
	struct sentiment s = analyze_with(lx, post);
	assert_true(s.negative);
	size_t n = lexicon_features(lx), found = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name;
		if (lexicon_feature(lx, i, &name) == SF_VOCAB && !strcmp(name, "gift cards")) {
			assert_true(lexicon_weight(lx, i) == 5);
			found = 1;
		}
	}
	assert_true(found);
	assert_true(n == lexicon_features(shipped) + 1);
	lexicon_free(lx);
	diag_free(&d);
	free(files);
	globfree(&g);
}

/* The features the training tool sees are the ones the verdict uses. */
static void test_features_match_verdict(void **state)
{
	static const char *const posts[] = {"still waiting for my refund!!",
	                                    "thanks, it works now",
	                                    "WHERE IS MY ORDER??",
	                                    "not bad at all",
	                                    "",
	                                    NULL};
	(void)state;
	size_t n = lexicon_features(shipped);
	double *x = calloc(n, sizeof(*x));
	for (size_t k = 0; posts[k]; k++) {
		text_normalize(&text, posts[k], strlen(posts[k]));
		sentiment_features(shipped, &text, x);
		struct sentiment s;
		sentiment_analyze(shipped, &text, lexicon_threshold(shipped), &s);
		double margin = lexicon_bias(shipped);
		for (size_t i = 0; i < n; i++)
			margin += x[i] * lexicon_weight(shipped, i);
		if (text.n_words)
			assert_true(fabs(-tanh(margin / 2) - s.score) < 1e-9);
	}
	free(x);
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
	    cmocka_unit_test(test_lexicon_alone),
	    cmocka_unit_test(test_cue_families),
	    cmocka_unit_test(test_cues_negated_or_taken_back),
	    cmocka_unit_test(test_explanation),
	    cmocka_unit_test(test_model_file_errors),
	    cmocka_unit_test(test_model_override),
	    cmocka_unit_test(test_features_match_verdict),
	    cmocka_unit_test(test_strongly_negative),
	    cmocka_unit_test(test_long_post),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
