/*
 * test_markup.c - customer text made inert per syntax: markdown links,
 * images and references (Discord, Mattermost), Slack's <url|text> and
 * <!channel> / <@U...>, channel-wide and personal mentions of each
 * platform, with e-mail addresses and ordinary text left as typed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "markup.h"

#define ZWSP MARKUP_ZWSP

static char *inert(enum markup_syntax s, const char *in)
{
	struct buf b;
	buf_init(&b, 0);
	markup_neutralise(&b, s, in);
	return buf_steal(&b);
}

/* inert(s, in) must be exactly `want`. */
static void expect(enum markup_syntax s, const char *in, const char *want)
{
	char *got = inert(s, in);
	if (strcmp(got, want) != 0)
		fail_msg("%s: \"%s\"\n  got  \"%s\"\n  want \"%s\"", markup_syntax_name(s), in, got, want);
	free(got);
}

static const char *const PHISH = "[your refund is ready](https://evil.example/phish)";
static const char *const PIXEL = "![x](https://evil.example/pixel.png)";

static void test_markdown_links_and_images(void **state)
{
	(void)state;
	static const enum markup_syntax md[] = {MARKUP_DISCORD, MARKUP_MATTERMOST};
	for (size_t i = 0; i < ARRAY_LEN(md); i++) {
		/* The link text and its target both stay visible as text. */
		expect(md[i], PHISH, "\\[your refund is ready\\](https://evil.example/phish)");
		expect(md[i], PIXEL, "!\\[x\\](https://evil.example/pixel.png)");
		/* Reference links and their definitions. */
		expect(md[i], "[click][1]\n[1]: https://evil.example",
		       "\\[click\\]\\[1\\]\n\\[1\\]: https://evil.example");
		/* A customer's own backslash cannot cancel the escape. */
		expect(md[i], "\\[a\\](https://evil.example)", "\\\\\\[a\\\\\\](https://evil.example)");
		/* Ordinary text, bare URLs, e-mail addresses: as typed. */
		expect(md[i], "Order 12 (two cakes) at https://shop.example/o/12, amy@example.com",
		       "Order 12 (two cakes) at https://shop.example/o/12, amy@example.com");
	}
	/* Slack has no markdown links: [..](..) is already plain text there. */
	expect(MARKUP_SLACK, PHISH, PHISH);
	expect(MARKUP_MASTODON, PHISH, PHISH);
	expect(MARKUP_ANY, PHISH, PHISH);
}

static void test_slack(void **state)
{
	(void)state;
	expect(MARKUP_SLACK, "<https://evil.example/phish|your refund is ready>",
	       "&lt;https://evil.example/phish|your refund is ready&gt;");
	expect(MARKUP_SLACK, "<!channel> <!here> <!everyone> <@U024BE7LH> <!subteam^S1> <#C1>",
	       "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@" ZWSP
	       "U024BE7LH&gt; &lt;!subteam^S1&gt; &lt;#C1&gt;");
	expect(MARKUP_SLACK, "Tom & Jerry", "Tom &amp; Jerry");
	expect(MARKUP_SLACK, "hi @channel and @Here, @sam",
	       "hi @" ZWSP "channel and @" ZWSP "Here, @" ZWSP "sam");
	/* Inside a word it is an address, except for the channel-wide ones. */
	expect(MARKUP_SLACK, "amy@example.com x@channel", "amy@example.com x@" ZWSP "channel");
}

static void test_discord(void **state)
{
	(void)state;
	expect(MARKUP_DISCORD, "@everyone @here @Everyone",
	       "@" ZWSP "everyone @" ZWSP "here @" ZWSP "Everyone");
	/* No word boundary is needed on Discord. */
	expect(MARKUP_DISCORD, "hey@everyone!", "hey@" ZWSP "everyone!");
	expect(MARKUP_DISCORD, "<@80351110224678912> <@!80351110224678912> <@&165511591545143296>",
	       "<@" ZWSP "80351110224678912> <@" ZWSP "!80351110224678912> <@" ZWSP "&165511591545143296>");
	/* Plain "@sam" does not ping from a webhook or bot; e-mail intact. */
	expect(MARKUP_DISCORD, "@sam amy@example.com", "@sam amy@example.com");
	expect(MARKUP_DISCORD, "<b>bold</b> & more", "<b>bold</b> & more");
}

static void test_mattermost(void **state)
{
	(void)state;
	expect(MARKUP_MATTERMOST, "@all @channel @here @sam.b-c",
	       "@" ZWSP "all @" ZWSP "channel @" ZWSP "here @" ZWSP "sam.b-c");
	expect(MARKUP_MATTERMOST, "(@sam) amy@example.com me@all",
	       "(@" ZWSP "sam) amy@example.com me@" ZWSP "all");
	expect(MARKUP_MATTERMOST, "meet @ 5", "meet @ 5");
}

static void test_mastodon_and_any(void **state)
{
	(void)state;
	expect(MARKUP_MASTODON, "@amy@mastodon.example hi @-x, write to amy@example.com",
	       "@" ZWSP "amy@mastodon.example hi @" ZWSP "-x, write to amy@example.com");
	/* Unknown renderer: every platform's mentions broken, nothing escaped. */
	expect(MARKUP_ANY, "<!channel> <@U1> <#C1> @everyone a@b [x](y) & <b>",
	       "<" ZWSP "!channel> <" ZWSP "@" ZWSP "U1> <" ZWSP "#C1> @" ZWSP "everyone a@" ZWSP
	       "b [x](y) & <b>");
	expect(MARKUP_ANY, "meet me @ 5 @", "meet me @ 5 @");
	expect(MARKUP_ANY, NULL, "");
}

static void test_utf8_untouched(void **state)
{
	(void)state;
	/* Multi-byte text (accents, emoji, right-to-left) passes unchanged. */
	const char *s = "Crème brûlée 🎂 שלום مرحبا \xe2\x80\xae";
	for (int i = 0; i < MARKUP_SYNTAX_COUNT; i++)
		expect((enum markup_syntax)i, s, s);
	assert_true(markup_bidi_control(0x202E));
	assert_true(markup_bidi_control(0x202A));
	assert_true(markup_bidi_control(0x2066));
	assert_true(markup_bidi_control(0x2069));
	assert_false(markup_bidi_control(0x200F)); /* RLM: kept */
	assert_false(markup_bidi_control(0x2065));
	assert_false(markup_bidi_control('a'));
}

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < MARKUP_SYNTAX_COUNT; i++)
		assert_int_equal(markup_syntax_parse(markup_syntax_name((enum markup_syntax)i)), i);
	assert_int_equal(markup_syntax_parse("teams"), -1);
	assert_int_equal(markup_syntax_parse(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_markdown_links_and_images),
	    cmocka_unit_test(test_slack),
	    cmocka_unit_test(test_discord),
	    cmocka_unit_test(test_mattermost),
	    cmocka_unit_test(test_mastodon_and_any),
	    cmocka_unit_test(test_utf8_untouched),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
