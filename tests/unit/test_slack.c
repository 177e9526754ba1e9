/*
 * test_slack.c - the Slack connector's pure parts (slack_wire.h): mrkdwn to
 * plain text, Socket Mode frames and the message events inside envelopes
 * (what is a question, what is skipped, a ts that is a number), thread
 * keys, reply text escaped and cut within 4,000 characters, Web API
 * answers and their error classes, and the search of a history page for a
 * reply sent before.  The network side is covered end to end by
 * tests/e2e/slack.test.mjs against the emulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/slack/slack.h"
#include "connectors/slack/slack_wire.h"
#include "markup.h"
#include "util.h"

#define SELF "U0BOT"

/* ---- mrkdwn to text ------------------------------------------------------------ */

static void check_text(const char *in, const char *want)
{
	char *t = slack_mrkdwn_to_text(in, strlen(in), SELF, 0);
	if (strcmp(t, want) != 0)
		fail_msg("mrkdwn(%s)\n  got  [%s]\n  want [%s]", in, t, want);
	free(t);
}

static void test_mrkdwn(void **state)
{
	(void)state;
	check_text("", "");
	check_text("plain text", "plain text");
	/* Slack escapes three characters, and only those. */
	check_text("fish &amp; chips &lt;3 &gt;_&lt; &quot;x&quot; &amp;amp;",
	           "fish & chips <3 >_< &quot;x&quot; &amp;");
	/* Our own mention goes; others become @names. */
	check_text("<@U0BOT> when are you open?", "when are you open?");
	check_text("hi <@U0BOT>, are you open?", "hi , are you open?");
	check_text("ask <@U123|bob> or <@W456>", "ask @bob or @W456");
	check_text("see <#C123|general> and <#C999>", "see #general and #C999");
	check_text("<!here> <!channel> <!everyone> ping", "@here @channel @everyone ping");
	check_text("<!subteam^S123|@bakers> and <!subteam^S9>", "@bakers and @team");
	check_text("on <!date^1392734382^{date}|Feb 18, 2014>!", "on Feb 18, 2014!");
	/* Links: the address stays visible; a label that repeats it is not doubled. */
	check_text("<https://example.com|your refund is ready>",
	           "your refund is ready (https://example.com)");
	check_text("<https://example.com/>", "https://example.com/");
	check_text("<http://example.com|example.com>", "example.com");
	check_text("<mailto:amy@example.com|amy@example.com>", "amy@example.com");
	check_text("<mailto:amy@example.com>", "amy@example.com");
	check_text("<https://x.test/?a=1&amp;b=2|x &amp; y>", "x & y (https://x.test/?a=1&b=2)");
	/* Not constructs: a lone '<', an empty pair, one across a line. */
	check_text("a &lt; b and c &gt; d", "a < b and c > d");
	check_text("a < b and c > d", "a < b and c > d");
	check_text("<> x", "<> x");
	check_text("<https://a\nb>", "<https://a\nb>");
	/* Leading and trailing white space goes. */
	check_text("  \n <@U0BOT>   hello  \n", "hello");
	/* The cut keeps whole characters. */
	char *t = slack_mrkdwn_to_text("caf\xc3\xa9 ok", 8, NULL, 4);
	assert_string_equal(t, "caf");
	free(t);
}

/* ---- frames ---------------------------------------------------------------------- */

static enum slack_frame_kind parse(const char *json, struct slack_frame *f)
{
	char err[256];
	return slack_parse_frame(json, strlen(json), SELF, f, err, sizeof(err));
}

static const char *envelope(const char *event, char *buf, size_t n)
{
	snprintf(buf, n,
	         "{\"envelope_id\":\"e1-abc\",\"type\":\"events_api\",\"accepts_response_payload\":false,"
	         "\"retry_attempt\":2,\"retry_reason\":\"timeout\",\"payload\":{\"type\":\"event_callback\","
	         "\"team_id\":\"T1\",\"event_id\":\"Ev01\",\"event_time\":1,\"event\":%s}}",
	         event);
	return buf;
}

static void test_frames(void **state)
{
	struct slack_frame f;
	char b[2048];
	(void)state;

	assert_int_equal(
	    parse("{\"type\":\"hello\",\"num_connections\":2,\"debug_info\":{\"host\":\"h\","
	          "\"approximate_connection_time\":360},\"connection_info\":{\"app_id\":\"A1\"}}",
	          &f),
	    SLACK_FRAME_HELLO);
	assert_int_equal(f.num_connections, 2);
	assert_int_equal(f.connection_time_s, 360);
	slack_frame_free(&f);

	assert_int_equal(
	    parse("{\"type\":\"disconnect\",\"reason\":\"refresh_requested\",\"debug_info\":{}}", &f),
	    SLACK_FRAME_DISCONNECT);
	assert_string_equal(f.reason, "refresh_requested");
	slack_frame_free(&f);
	assert_int_equal(parse("{\"type\":\"disconnect\",\"reason\":\"x y\\\"z\"}", &f),
	                 SLACK_FRAME_DISCONNECT);
	assert_string_equal(f.reason, "x_y_z");
	slack_frame_free(&f);

	/* Not Socket Mode. */
	assert_int_equal(parse("not json", &f), SLACK_FRAME_BAD);
	slack_frame_free(&f);
	assert_int_equal(parse("[1,2]", &f), SLACK_FRAME_BAD);
	slack_frame_free(&f);
	assert_int_equal(parse("{\"x\":1}", &f), SLACK_FRAME_BAD);
	slack_frame_free(&f);
	assert_int_equal(parse("{\"envelope_id\":\"bad id!\",\"type\":\"events_api\"}", &f), SLACK_FRAME_BAD);
	slack_frame_free(&f);
	assert_int_equal(parse("{\"type\":\"pong\"}", &f), SLACK_FRAME_OTHER);
	slack_frame_free(&f);

	/* Other envelopes are acknowledged and carry no message. */
	assert_int_equal(parse("{\"envelope_id\":\"e2\",\"type\":\"slash_commands\",\"payload\":{}}", &f),
	                 SLACK_FRAME_ENVELOPE);
	assert_false(f.has_message);
	assert_string_equal(f.envelope_type, "slash_commands");
	slack_frame_free(&f);

	/* A message in a channel thread, with its retry. */
	parse(envelope(
	          "{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U2\",\"text\":\"<@U0BOT> open &amp; "
	          "sunday?\",\"ts\":\"1355517523.000005\",\"thread_ts\":\"1355517500.000001\","
	          "\"channel_type\":\"channel\",\"user_profile\":{\"display_name\":\"\",\"real_name\":\"Amy "
	          "&lt;3\"}}",
	          b, sizeof(b)),
	      &f);
	assert_int_equal(f.kind, SLACK_FRAME_ENVELOPE);
	assert_string_equal(f.envelope_id, "e1-abc");
	assert_int_equal(f.retry_attempt, 2);
	assert_string_equal(f.retry_reason, "timeout");
	assert_string_equal(f.event_id, "Ev01");
	assert_true(f.has_message);
	assert_null(f.msg.skip);
	assert_string_equal(f.msg.text, "open & sunday?");
	assert_string_equal(f.msg.author_name, "Amy <3");
	assert_false(f.msg.is_im);
	assert_int_equal(f.msg.created, 1355517523);
	char key[128], id[128];
	slack_thread_key(&f.msg, key, sizeof(key));
	slack_post_id(&f.msg, id, sizeof(id));
	assert_string_equal(key, "C1:1355517500.000001");
	assert_string_equal(id, "C1:1355517523.000005");
	slack_frame_free(&f);

	/* A top-level channel message is the root of its own thread. */
	parse(envelope("{\"type\":\"app_mention\",\"channel\":\"C1\",\"user\":\"U2\",\"text\":\"hi\","
	               "\"ts\":\"17.5\"}",
	               b, sizeof(b)),
	      &f);
	assert_true(f.has_message);
	assert_string_equal(f.msg.type, "app_mention");
	slack_thread_key(&f.msg, key, sizeof(key));
	assert_string_equal(key, "C1:17.5");
	slack_frame_free(&f);

	/* A DM: the whole conversation is one thread, unless it is in a thread. */
	parse(envelope(
	          "{\"type\":\"message\",\"channel\":\"D1\",\"user\":\"U2\",\"text\":\"hi\",\"ts\":\"17.5\","
	          "\"channel_type\":\"im\"}",
	          b, sizeof(b)),
	      &f);
	assert_true(f.msg.is_im);
	slack_thread_key(&f.msg, key, sizeof(key));
	assert_string_equal(key, "D1");
	slack_frame_free(&f);
	parse(envelope(
	          "{\"type\":\"message\",\"channel\":\"D1\",\"user\":\"U2\",\"text\":\"hi\",\"ts\":\"17.5\","
	          "\"thread_ts\":\"16.1\"}",
	          b, sizeof(b)),
	      &f);
	assert_true(f.msg.is_im); /* from the D… id when channel_type is absent */
	slack_thread_key(&f.msg, key, sizeof(key));
	assert_string_equal(key, "D1:16.1");
	slack_frame_free(&f);

	/* Skipped: edits, joins, bots (our own echo too), our own user. */
	static const struct {
		const char *ev, *why;
	} skip[] = {
	    {"{\"type\":\"message\",\"subtype\":\"message_changed\",\"channel\":\"C1\",\"ts\":\"1.2\","
	     "\"message\":{\"text\":\"x\"}}",
	     "subtype"},
	    {"{\"type\":\"message\",\"subtype\":\"channel_join\",\"channel\":\"C1\",\"user\":\"U2\",\"ts\":"
	     "\"1.2\"}",
	     "subtype"},
	    {"{\"type\":\"message\",\"subtype\":\"bot_message\",\"channel\":\"C1\",\"bot_id\":\"B9\",\"ts\":"
	     "\"1.2\"}",
	     "subtype"},
	    {"{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U0BOT\",\"bot_id\":\"B1\",\"text\":"
	     "\"ours\","
	     "\"ts\":\"1.2\"}",
	     "bot"},
	    {"{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U0BOT\",\"text\":\"ours\",\"ts\":\"1.2\"}",
	     "self"},
	    {"{\"type\":\"app_mention\",\"channel\":\"C1\",\"user\":\"U7\",\"text\":\"x\",\"ts\":\"1.2\","
	     "\"bot_profile\":{\"id\":\"B7\"}}",
	     "bot"},
	    {"{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U7\",\"text\":\"x\",\"ts\":\"1.2\",\"app_"
	     "id\":\"A7\"}",
	     "bot"},
	    {"{\"type\":\"message\",\"channel\":\"D1\",\"user\":\"USLACKBOT\",\"text\":\"x\",\"ts\":\"1.2\"}",
	     "bot"},
	    {"{\"type\":\"message\",\"channel\":\"C1\",\"text\":\"who\",\"ts\":\"1.2\"}", "no user"},
	};
	for (size_t i = 0; i < ARRAY_LEN(skip); i++) {
		parse(envelope(skip[i].ev, b, sizeof(b)), &f);
		assert_true(f.has_message);
		assert_non_null(f.msg.skip);
		assert_string_equal(f.msg.skip, skip[i].why);
		assert_null(f.msg.text);
		slack_frame_free(&f);
	}

	/* A file shared with words is a question, its files named. */
	parse(envelope("{\"type\":\"message\",\"subtype\":\"file_share\",\"channel\":\"C1\",\"user\":\"U2\","
	               "\"text\":\"is this cake "
	               "ok?\",\"ts\":\"1.2\",\"files\":[{\"name\":\"cake.jpg\"},{\"id\":1}]}",
	               b, sizeof(b)),
	      &f);
	assert_null(f.msg.skip);
	assert_string_equal(f.msg.text, "is this cake ok?\n[file: cake.jpg]");
	slack_frame_free(&f);

	/* A ts must be a string: a number (a float that loses digits) is refused,
	 * and the envelope still needs its ack. */
	parse(envelope("{\"type\":\"message\",\"channel\":\"C1\",\"user\":\"U2\",\"text\":\"x\","
	               "\"ts\":1355517523.000005}",
	               b, sizeof(b)),
	      &f);
	assert_int_equal(f.kind, SLACK_FRAME_ENVELOPE);
	assert_false(f.has_message);
	slack_frame_free(&f);
	parse(envelope("{\"type\":\"message\",\"channel\":\"C 1\",\"user\":\"U2\",\"ts\":\"1.2\"}", b,
	               sizeof(b)),
	      &f);
	assert_false(f.has_message);
	slack_frame_free(&f);
	/* Other events ride in envelopes too. */
	parse(envelope("{\"type\":\"reaction_added\",\"user\":\"U2\"}", b, sizeof(b)), &f);
	assert_int_equal(f.kind, SLACK_FRAME_ENVELOPE);
	assert_false(f.has_message);
	slack_frame_free(&f);
}

/* ---- ids and conversations ------------------------------------------------------------ */

static void test_ids(void **state)
{
	char ch[SLACK_MAX_ID + 1], th[SLACK_MAX_TS + 1];
	(void)state;
	assert_true(slack_ts_ok("1355517523.000005"));
	assert_false(slack_ts_ok("1355517523"));
	assert_false(slack_ts_ok(".5"));
	assert_false(slack_ts_ok("1.2.3"));
	assert_false(slack_ts_ok("1.2e5"));
	assert_false(slack_ts_ok(""));
	assert_true(slack_ts_cmp("1355517523.000005", "1355517523.000010") < 0);
	assert_true(slack_ts_cmp("999.9", "1000.0") < 0);
	assert_true(slack_ts_cmp("10.5", "10.50") == 0);
	assert_true(slack_ts_cmp("0010.5", "10.4") > 0);
	assert_true(slack_id_ok("C024BE91L"));
	assert_false(slack_id_ok("C024 BE91L"));
	assert_false(slack_id_ok(""));

	assert_int_equal(slack_thread_parse("C1:1355517523.000005", ch, th), 0);
	assert_string_equal(ch, "C1");
	assert_string_equal(th, "1355517523.000005");
	assert_int_equal(slack_thread_parse("D1", ch, th), 0);
	assert_string_equal(ch, "D1");
	assert_string_equal(th, "");
	assert_true(slack_channel_is_im("D1"));
	assert_false(slack_channel_is_im("C1"));
	assert_int_equal(slack_thread_parse("C1:", ch, th), -1);
	assert_int_equal(slack_thread_parse(":1.2", ch, th), -1);
	assert_int_equal(slack_thread_parse("C1:abc", ch, th), -1);
	assert_int_equal(slack_thread_parse("visitor-token-xyz!", ch, th), -1);
}

/* ---- replies ------------------------------------------------------------------------------- */

static void test_parts(void **state)
{
	char *parts[SLACK_MAX_PARTS];
	(void)state;

	/* Escaped and mentions broken. */
	size_t n = slack_build_parts("Hi <!channel> & @here, see <https://evil|refund>", SLACK_MAX_CHARS,
	                             parts, SLACK_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_null(strchr(parts[0], '<'));
	assert_null(strchr(parts[0], '>'));
	assert_non_null(strstr(parts[0], "&amp;"));
	assert_non_null(strstr(parts[0], "&lt;!channel&gt;"));
	assert_non_null(strstr(parts[0], "@" MARKUP_ZWSP "here"));
	free(parts[0]);

	/* 9,000 characters of ampersands: every part within the limit after
	 * escaping (each '&' is five characters on the wire), none cut inside
	 * an escape, and nothing lost. */
	char *big = xmalloc(9001);
	for (int i = 0; i < 9000; i++)
		big[i] = (i % 10 == 9) ? ' ' : '&';
	big[9000] = '\0';
	n = slack_build_parts(big, SLACK_MAX_CHARS, parts, SLACK_MAX_PARTS);
	assert_true(n >= 11); /* 41,400 characters on the wire */
	size_t amps = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(slack_chars(parts[i]) <= SLACK_MAX_CHARS);
		for (const char *p = parts[i]; (p = strchr(p, '&')); p++) {
			assert_memory_equal(p, "&amp;", 5);
			amps++;
		}
		free(parts[i]);
	}
	assert_int_equal(amps, 8100);
	free(big);

	/* Multi-byte text is counted in characters, not bytes. */
	char *uni = xmalloc(5 * 2 * 1000 + 1);
	uni[0] = '\0';
	for (int i = 0; i < 1000; i++)
		strcat(uni, "\xc3\xa9t\xc3\xa9 "); /* "été " */
	n = slack_build_parts(uni, SLACK_MAX_CHARS, parts, SLACK_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_true(slack_chars(parts[0]) <= SLACK_MAX_CHARS);
	free(parts[0]);
	free(uni);

	assert_int_equal(slack_build_parts("   ", SLACK_MAX_CHARS, parts, SLACK_MAX_PARTS), 0);
	assert_int_equal(slack_build_parts(NULL, SLACK_MAX_CHARS, parts, SLACK_MAX_PARTS), 0);
}

/* ---- Web API answers ------------------------------------------------------------------------ */

static void test_api(void **state)
{
	char e[64];
	(void)state;
	assert_int_equal(slack_api_ok("{\"ok\":true,\"ts\":\"1.2\"}", 22, e, sizeof(e)), 1);
	const char *no = "{\"ok\":false,\"error\":\"not_in_channel\"}";
	assert_int_equal(slack_api_ok(no, strlen(no), e, sizeof(e)), 0);
	assert_string_equal(e, "not_in_channel");
	assert_int_equal(slack_api_ok("<html>", 6, e, sizeof(e)), -1);
	assert_int_equal(slack_api_ok("{\"ok\":\"yes\"}", 12, e, sizeof(e)), -1);
	const char *odd = "{\"ok\":false,\"error\":\"a b\\nc\"}";
	assert_int_equal(slack_api_ok(odd, strlen(odd), e, sizeof(e)), 0);
	assert_string_equal(e, "a_b_c");

	assert_int_equal(slack_error_class("ratelimited"), SLACK_ERR_RATE);
	assert_int_equal(slack_error_class("invalid_auth"), SLACK_ERR_AUTH);
	assert_int_equal(slack_error_class("missing_scope"), SLACK_ERR_AUTH);
	assert_int_equal(slack_error_class("service_unavailable"), SLACK_ERR_RETRY);
	assert_int_equal(slack_error_class("internal_error"), SLACK_ERR_UNKNOWN);
	assert_int_equal(slack_error_class("fatal_error"), SLACK_ERR_UNKNOWN);
	assert_int_equal(slack_error_class("channel_not_found"), SLACK_ERR_FINAL);
	assert_int_equal(slack_error_class("something_new"), SLACK_ERR_FINAL);
}

static void test_history(void **state)
{
	char ts[SLACK_MAX_TS + 1], cur[512], err[64];
	(void)state;
	const char *page = "{\"ok\":true,\"messages\":["
	                   "{\"type\":\"message\",\"user\":\"U2\",\"text\":\"hi\",\"ts\":\"3.0\"},"
	                   "{\"type\":\"message\",\"bot_id\":\"B9\",\"text\":\"x\",\"ts\":\"2.5\","
	                   "\"metadata\":{\"event_type\":"
	                   "\"frontdesk_reply\",\"event_payload\":{\"key\":\"k1\",\"part\":0}}},"
	                   "{\"type\":\"message\",\"bot_id\":\"B1\",\"text\":\"x\",\"ts\":\"2.0\","
	                   "\"metadata\":{\"event_type\":"
	                   "\"frontdesk_reply\",\"event_payload\":{\"key\":\"k1\",\"part\":1}}},"
	                   "{\"type\":\"message\",\"bot_id\":\"B1\",\"text\":\"x\",\"ts\":\"1.0\","
	                   "\"metadata\":{\"event_type\":"
	                   "\"frontdesk_reply\",\"event_payload\":{\"key\":\"k1\"}}}"
	                   "],\"has_more\":true,\"response_metadata\":{\"next_cursor\":\"bmV4dA==\"}}";
	/* Part 0 by our bot: not the other bot's message with the same key. */
	assert_int_equal(slack_history_find(page, strlen(page), "k1", 0, "B1", ts, sizeof(ts), cur,
	                                    sizeof(cur), err, sizeof(err)),
	                 1);
	assert_string_equal(ts, "1.0");
	assert_int_equal(slack_history_find(page, strlen(page), "k1", 1, "B1", ts, sizeof(ts), cur,
	                                    sizeof(cur), err, sizeof(err)),
	                 1);
	assert_string_equal(ts, "2.0");
	/* Not on this page: the next page's cursor. */
	assert_int_equal(slack_history_find(page, strlen(page), "k2", 0, "B1", ts, sizeof(ts), cur,
	                                    sizeof(cur), err, sizeof(err)),
	                 0);
	assert_string_equal(cur, "bmV4dA==");
	const char *last = "{\"ok\":true,\"messages\":[],\"has_more\":false}";
	assert_int_equal(slack_history_find(last, strlen(last), "k2", 0, NULL, ts, sizeof(ts), cur,
	                                    sizeof(cur), err, sizeof(err)),
	                 0);
	assert_string_equal(cur, "");
	const char *bad = "{\"ok\":false,\"error\":\"missing_scope\"}";
	assert_int_equal(slack_history_find(bad, strlen(bad), "k2", 0, NULL, ts, sizeof(ts), cur, sizeof(cur),
	                                    err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "missing_scope");
}

/* ---- the registry ---------------------------------------------------------------------------- */

static void test_registered(void **state)
{
	(void)state;
	const struct connector_ops *o = connector_type("slack");
	assert_ptr_equal(o, &slack_ops);
	assert_int_equal(o->max_text, SLACK_MAX_CHARS);
	/* Replies go out as the bot: an agent's are signed. */
	assert_false(connector_type_shows_sender("slack"));
	assert_non_null(strstr(connector_type_list(), "slack"));
	/* The outbox key travels in message metadata as it is. */
	assert_true(connector_idem_ok("fd181d17834e83cf8c"));
	assert_false(connector_idem_ok(""));
	assert_false(connector_idem_ok("a b"));
	assert_false(connector_idem_ok("caf\xc3\xa9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mrkdwn),     cmocka_unit_test(test_frames), cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_parts),      cmocka_unit_test(test_api),    cmocka_unit_test(test_history),
	    cmocka_unit_test(test_registered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
