/*
 * test_mastodon.c - the Mastodon connector's pure parts: status HTML to
 * text, notification and stream frame parsing (double-encoded payloads,
 * ids beyond 2^53), catch-up pages and their Link header, reply building
 * (mention neutralising, splitting within the instance's limit,
 * visibility) and rate-limit headers.  The network side is covered end to
 * end by tests/e2e/mastodon.test.mjs against the emulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connectors/mastodon/mastodon.h"
#include "html2text.h"
#include "http.h"
#include "util.h"

/* ---- HTML to text ------------------------------------------------------------ */

static void check_text(const char *html, const char *want)
{
	char *t = html2text(html, strlen(html), 0);
	if (strcmp(t, want) != 0)
		fail_msg("html2text(%s)\n  got  [%s]\n  want [%s]", html, t, want);
	free(t);
}

static void test_html_basic(void **state)
{
	(void)state;
	check_text("", "");
	check_text("<p></p>  <p> </p>", "");
	check_text("plain text", "plain text");
	/* Mastodon's mention markup, paragraphs and line breaks. */
	check_text("<p><span class=\"h-card\" translate=\"no\"><a href=\"https://bakery.example/@frontdesk\" "
	           "class=\"u-url mention\">@<span>frontdesk</span></a></span> when are you open?</p>"
	           "<p>Second paragraph<br>new line<br />and another</p>",
	           "@frontdesk when are you open?\n\nSecond paragraph\nnew line\nand another");
	/* White space in the markup collapses; <br><br> keeps one blank line. */
	check_text("<p>a\n   b\t c</p>", "a b c");
	check_text("<p>one<br><br><br><br>two</p>", "one\n\ntwo");
	/* Entities. */
	check_text(
	    "<p>fish &amp; chips &lt;3 &quot;yes&quot; it&#39;s &#x27;ok&#x27; &hellip; caf&eacute;</p>",
	    "fish & chips <3 \"yes\" it's 'ok' \xE2\x80\xA6 caf&eacute;");
	check_text("&#128512; &#x1F600; &#0; &#xD800; &#x110000;",
	           "\xF0\x9F\x98\x80 \xF0\x9F\x98\x80 \xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD");
	check_text("a&nbsp;b & c &amp d", "a b & c &amp d");
	/* Lists, quotes, code from other servers. */
	check_text("<p>Order:</p><ul><li>bread</li><li>cake</li></ul><blockquote><p>quoted</p></blockquote>",
	           "Order:\n\n- bread\n- cake\n\nquoted");
	check_text("<pre>line 1\n  indented</pre>", "line 1\n  indented");
	/* Never visible: scripts, styles, comments, doctype. */
	check_text("<!DOCTYPE html><script>alert(1)</script><style>p{}</style>hi<!-- x -->!", "hi!");
}

static void test_html_links(void **state)
{
	(void)state;
	/* A long link shortened with invisible/ellipsis spans: the full address. */
	check_text(
	    "<p>see <a href=\"https://example.com/very/long/path?a=1&amp;b=2\" rel=\"nofollow noopener\" "
	    "target=\"_blank\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/"
	    "very/lo</span><span class=\"invisible\">ng/path?a=1&amp;b=2</span></a> please</p>",
	    "see https://example.com/very/long/path?a=1&b=2 please");
	/* Link text that is not the address: both. */
	check_text("<p><a href=\"https://bakery.example/menu\">our menu</a></p>",
	           "our menu (https://bakery.example/menu)");
	/* Hashtags and remote mentions keep their text. */
	check_text("<p><a href=\"https://bakery.example/tags/cake\" class=\"mention hashtag\" "
	           "rel=\"tag\">#<span>cake"
	           "</span></a> <span class=\"h-card\"><a href=\"https://other.example/@bob\" class=\"u-url "
	           "mention\">@"
	           "<span>bob</span></a></span></p>",
	           "#cake @bob");
	/* Other schemes are not shown as addresses. */
	check_text("<a href=\"javascript:alert(1)\">click</a>", "click");
	check_text("<a href=\"https://x.example/\">https://x.example/</a>", "https://x.example/");
}

static void test_html_malformed(void **state)
{
	(void)state;
	check_text("a < b and c > d", "a < b and c > d");
	check_text("<p>open <b", "open <b");
	check_text("<a href=\"https://x.example/\">never closed", "never closed (https://x.example/)");
	check_text("<p>x</p></p></a></li>", "x");
	check_text("<a href='https://x.example/' class=mention>@x</a>", "@x");
	check_text("<<<>>>", "<<<>>>");
	/* Cut at a character boundary: "é" is two bytes. */
	char *t = html2text("ab\xC3\xA9\xC3\xA9", 6, 3);
	assert_string_equal(t, "ab");
	free(t);
	t = html2text("<p>abc</p>", 10, 2);
	assert_string_equal(t, "ab");
	free(t);
	/* Embedded NUL bytes are skipped. */
	t = html2text("a\0b", 3, 0);
	assert_string_equal(t, "ab");
	free(t);
}

static void test_entity(void **state)
{
	char out[8];
	size_t n = 0;
	(void)state;
	assert_int_equal(html2text_entity("&amp;", 5, out, &n), 5);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], '&');
	assert_int_equal(html2text_entity("&#233;x", 7, out, &n), 6);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\xC3\xA9", 2);
	assert_int_equal(html2text_entity("&#xE9;", 6, out, &n), 6);
	assert_int_equal(html2text_entity("&amp", 4, out, &n), 0);
	assert_int_equal(html2text_entity("&unknown;", 9, out, &n), 0);
	assert_int_equal(html2text_entity("&#;", 3, out, &n), 0);
	assert_int_equal(html2text_entity("&#999999999999;", 15, out, &n), 0);
}

/* ---- ids -------------------------------------------------------------------------- */

static void test_ids(void **state)
{
	(void)state;
	assert_true(mastodon_id_cmp("9", "10") < 0);
	assert_true(mastodon_id_cmp("9999999999999999", "10000000000000000") < 0);
	/* Beyond 2^53 a double cannot tell these apart. */
	assert_true(mastodon_id_cmp("9007199254740993", "9007199254740992") > 0);
	assert_int_equal(mastodon_id_cmp("109000000000000001", "109000000000000001"), 0);
	assert_true(mastodon_id_cmp("01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW") < 0);
	assert_true(mastodon_id_ok("117660537396658176"));
	assert_true(mastodon_id_ok("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
	assert_false(mastodon_id_ok(""));
	assert_false(mastodon_id_ok("12 34"));
	assert_false(mastodon_id_ok("1/2"));
	assert_false(mastodon_id_ok("12345678901234567890123456789012345678901234567890123456789012345"));
}

/* ---- notifications and frames ---------------------------------------------------------- */

#define NOTIF                                                                                                \
	"{\"id\":\"9999999999999999\",\"type\":\"mention\",\"created_at\":\"2026-11-22T14:00:00.000Z\","     \
	"\"account\":{\"id\":\"109000000000000003\",\"acct\":\"amy@other.example\",\"display_name\":"        \
	"\"Amy\","                                                                                           \
	"\"bot\":false},\"status\":{\"id\":\"117660537396658176\",\"created_at\":\"2026-11-22T14:00:00."     \
	"000Z\","                                                                                            \
	"\"in_reply_to_id\":\"117660537396658175\",\"visibility\":\"direct\",\"spoiler_text\":\"\","         \
	"\"content\":\"<p><span class=\\\"h-card\\\"><a href=\\\"https://bakery.example/@frontdesk\\\" "     \
	"class=\\\"u-url mention\\\">@<span>frontdesk</span></a></span> when are you open? &amp; "           \
	"where</p>\","                                                                                       \
	"\"account\":{\"id\":\"109000000000000003\",\"acct\":\"amy@other.example\",\"display_name\":"        \
	"\"Amy\","                                                                                           \
	"\"bot\":false},\"mentions\":[]}}"

static void test_parse_notification(void **state)
{
	struct mastodon_mention m;
	char err[256];
	(void)state;

	assert_int_equal(mastodon_parse_notification(NOTIF, strlen(NOTIF), &m, err, sizeof(err)),
	                 MASTODON_MENTION);
	assert_string_equal(m.id, "9999999999999999");
	assert_string_equal(m.status_id, "117660537396658176");
	assert_string_equal(m.in_reply_to, "117660537396658175");
	assert_string_equal(m.account_id, "109000000000000003");
	assert_string_equal(m.acct, "amy@other.example");
	assert_string_equal(m.visibility, "direct");
	assert_string_equal(m.display_name, "Amy");
	assert_string_equal(m.text, "@frontdesk when are you open? & where");
	assert_false(m.bot);
	assert_int_equal(m.created, 1795356000);
	mastodon_mention_free(&m);

	/* Other types, a mention whose status is gone: not mentions. */
	const char *fav = "{\"id\":\"5\",\"type\":\"favourite\",\"account\":{\"id\":\"1\",\"acct\":\"a\"},"
	                  "\"status\":{\"id\":\"2\"}}";
	assert_int_equal(mastodon_parse_notification(fav, strlen(fav), &m, err, sizeof(err)), MASTODON_OTHER);
	assert_string_equal(m.id, "5");
	const char *gone =
	    "{\"id\":\"6\",\"type\":\"mention\",\"account\":{\"id\":\"1\",\"acct\":\"a\"},\"status\":null}";
	assert_int_equal(mastodon_parse_notification(gone, strlen(gone), &m, err, sizeof(err)),
	                 MASTODON_OTHER);

	/* Bot author, spoiler text, integer ids, unknown visibility. */
	const char *bot =
	    "{\"id\":7,\"type\":\"mention\",\"status\":{\"id\":8,\"in_reply_to_id\":null,\"visibility\":"
	    "\"local\",\"spoiler_text\":\"complaint\",\"content\":\"<p>it was cold</p>\",\"account\":"
	    "{\"id\":9,\"acct\":\"robot\",\"display_name\":\"\",\"bot\":true}}}";
	assert_int_equal(mastodon_parse_notification(bot, strlen(bot), &m, err, sizeof(err)),
	                 MASTODON_MENTION);
	assert_string_equal(m.id, "7");
	assert_string_equal(m.status_id, "8");
	assert_string_equal(m.in_reply_to, "");
	assert_string_equal(m.visibility, "direct");
	assert_string_equal(m.text, "complaint\n\nit was cold");
	assert_null(m.display_name);
	assert_true(m.bot);
	mastodon_mention_free(&m);

	/* Malformed. */
	assert_int_equal(mastodon_parse_notification("{", 1, &m, err, sizeof(err)), MASTODON_BAD);
	assert_int_equal(mastodon_parse_notification("[]", 2, &m, err, sizeof(err)), MASTODON_BAD);
	const char *noid = "{\"type\":\"mention\"}";
	assert_int_equal(mastodon_parse_notification(noid, strlen(noid), &m, err, sizeof(err)), MASTODON_BAD);
	const char *badacct =
	    "{\"id\":\"1\",\"type\":\"mention\",\"status\":{\"id\":\"2\",\"content\":\"\",\"account\":"
	    "{\"id\":\"3\",\"acct\":\"a b\"}}}";
	assert_int_equal(mastodon_parse_notification(badacct, strlen(badacct), &m, err, sizeof(err)),
	                 MASTODON_BAD);
	const char *floatid = "{\"id\":1.5e300,\"type\":\"mention\"}";
	assert_int_equal(mastodon_parse_notification(floatid, strlen(floatid), &m, err, sizeof(err)),
	                 MASTODON_BAD);
}

static void test_parse_frame(void **state)
{
	struct mastodon_mention m;
	char err[256], event[32];
	(void)state;

	/* The payload is a JSON string holding the notification. */
	json_t *payload = json_string(NOTIF);
	json_t *f = json_pack("{s:[s], s:s, s:o}", "stream", "user:notification", "event", "notification",
	                      "payload", payload);
	char *frame = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	assert_int_equal(
	    mastodon_parse_frame(frame, strlen(frame), &m, event, sizeof(event), err, sizeof(err)),
	    MASTODON_MENTION);
	assert_string_equal(event, "notification");
	assert_string_equal(m.status_id, "117660537396658176");
	mastodon_mention_free(&m);
	free(frame);

	/* delete carries a bare id; other events are not mentions. */
	const char *del = "{\"stream\":[\"user\"],\"event\":\"delete\",\"payload\":\"117660537396658176\"}";
	assert_int_equal(mastodon_parse_frame(del, strlen(del), &m, event, sizeof(event), err, sizeof(err)),
	                 MASTODON_OTHER);
	assert_string_equal(event, "delete");
	const char *upd = "{\"stream\":[\"user\"],\"event\":\"status.update\",\"payload\":\"{}\"}";
	assert_int_equal(mastodon_parse_frame(upd, strlen(upd), &m, event, sizeof(event), err, sizeof(err)),
	                 MASTODON_OTHER);

	/* Broken frames and payloads. */
	assert_int_equal(mastodon_parse_frame("nope", 4, &m, event, sizeof(event), err, sizeof(err)),
	                 MASTODON_BAD);
	const char *noev = "{\"payload\":\"{}\"}";
	assert_int_equal(mastodon_parse_frame(noev, strlen(noev), &m, event, sizeof(event), err, sizeof(err)),
	                 MASTODON_BAD);
	const char *badpl = "{\"event\":\"notification\",\"payload\":\"{not json\"}";
	assert_int_equal(
	    mastodon_parse_frame(badpl, strlen(badpl), &m, event, sizeof(event), err, sizeof(err)),
	    MASTODON_BAD);
	const char *nopl = "{\"event\":\"notification\"}";
	assert_int_equal(mastodon_parse_frame(nopl, strlen(nopl), &m, event, sizeof(event), err, sizeof(err)),
	                 MASTODON_BAD);
}

static void test_parse_page(void **state)
{
	struct mastodon_mention *items;
	size_t n;
	char max_id[MASTODON_MAX_ID + 1], err[256];
	(void)state;

#define MN(id, sid)                                                                                          \
	"{\"id\":\"" id "\",\"type\":\"mention\",\"status\":{\"id\":\"" sid "\",\"visibility\":\"public\","  \
	"\"content\":\"<p>hi</p>\",\"account\":{\"id\":\"3\",\"acct\":\"amy\"}}}"
	/* Newest first, as Mastodon sends it, across a change of id length. */
	const char *page =
	    "[" MN("10000000000000001",
	           "1001") ","
	                   "{\"id\":\"10000000000000002\",\"type\":\"follow\",\"account\":{\"id\":\"4\","
	                   "\"acct\":\"b\"}}," MN("9999999999999999", "999") "," MN("10000000000000000",
	                                                                            "1000") ",{\"bogus\":1}]";
	long total =
	    mastodon_parse_page(page, strlen(page), &items, &n, max_id, sizeof(max_id), err, sizeof(err));
	assert_int_equal(total, 5);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].id, "9999999999999999");
	assert_string_equal(items[1].id, "10000000000000000");
	assert_string_equal(items[2].id, "10000000000000001");
	assert_string_equal(max_id, "10000000000000002");
	for (size_t i = 0; i < n; i++)
		mastodon_mention_free(&items[i]);
	free(items);

	assert_int_equal(mastodon_parse_page("[]", 2, &items, &n, max_id, sizeof(max_id), err, sizeof(err)),
	                 0);
	assert_int_equal(n, 0);
	assert_null(items);
	assert_string_equal(max_id, "");
	assert_int_equal(mastodon_parse_page("{}", 2, &items, &n, max_id, sizeof(max_id), err, sizeof(err)),
	                 -1);
	assert_int_equal(mastodon_parse_page("[", 1, &items, &n, max_id, sizeof(max_id), err, sizeof(err)),
	                 -1);
}

static void test_link(void **state)
{
	char id[MASTODON_MAX_ID + 1];
	(void)state;
	const char *link =
	    "<https://bakery.example/api/v1/notifications?max_id=9999999999999990&types%5B%5D=mention>; "
	    "rel=\"next\", <https://bakery.example/api/v1/notifications?min_id=10000000000000080&types%5B"
	    "%5D=mention>; rel=\"prev\"";
	assert_int_equal(mastodon_link_min_id(link, id, sizeof(id)), 1);
	assert_string_equal(id, "10000000000000080");
	assert_int_equal(
	    mastodon_link_min_id("<https://x/a?types%5B%5D=mention&min_id=42>; rel=prev", id, sizeof(id)), 1);
	assert_string_equal(id, "42");
	assert_int_equal(mastodon_link_min_id("<https://x/a?max_id=5>; rel=\"next\"", id, sizeof(id)), 0);
	assert_int_equal(mastodon_link_min_id("<https://x/a?since_id=5>; rel=\"prev\"", id, sizeof(id)), 0);
	assert_int_equal(mastodon_link_min_id(NULL, id, sizeof(id)), 0);
	assert_int_equal(mastodon_link_min_id("", id, sizeof(id)), 0);
	assert_int_equal(mastodon_link_min_id("https://x/a?min_id=5; rel=prev", id, sizeof(id)), -1);
	assert_int_equal(mastodon_link_min_id("<https://x/a?min_id=5", id, sizeof(id)), -1);
	assert_int_equal(mastodon_link_min_id("<https://x/a?min_id=5%20x>; rel=\"prev\"", id, sizeof(id)),
	                 -1);
	/* "prevent" is not "prev". */
	assert_int_equal(mastodon_link_min_id("<https://x/a?min_id=5>; rel=\"prevent\"", id, sizeof(id)), 0);
}

/* ---- replies ------------------------------------------------------------------------- */

static void test_length(void **state)
{
	(void)state;
	assert_int_equal(mastodon_status_length(""), 0);
	assert_int_equal(mastodon_status_length("hello"), 5);
	assert_int_equal(mastodon_status_length("caf\xC3\xA9"), 4);
	/* A URL counts as 23 whatever its length. */
	assert_int_equal(mastodon_status_length("see https://example.com/a/very/long/path/that/goes/on ok"),
	                 4 + 23 + 3);
	assert_int_equal(mastodon_status_length("http://a.co"), 23);
	/* A remote mention counts its local part. */
	assert_int_equal(mastodon_status_length("@amy@other.example hi"), 4 + 3);
	assert_int_equal(mastodon_status_length("mail a@b.example"), 16);
}

static void test_neutralise(void **state)
{
	struct buf b;
	(void)state;
	buf_init(&b, 0);
	mastodon_neutralise("@everyone hi (@admin@evil.example) mail me: sam@bakery.example, @@x", &b);
	assert_string_equal(b.p, "@\xE2\x80\x8B"
	                         "everyone hi (@\xE2\x80\x8B"
	                         "admin@evil.example) mail me: "
	                         "sam@bakery.example, @@\xE2\x80\x8Bx");
	buf_reset(&b);
	mastodon_neutralise("", &b);
	assert_string_equal(b.p, "");
	buf_free(&b);
}

static void test_build_reply(void **state)
{
	char *parts[MASTODON_MAX_PARTS];
	(void)state;

	size_t n = mastodon_build_reply("amy", "We bake from 7:00.", 500, parts, MASTODON_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "@amy We bake from 7:00.");
	free(parts[0]);

	/* A display name that would mention someone is neutralised. */
	n = mastodon_build_reply("amy@other.example", "Hi @admin@evil.example!", 500, parts,
	                         MASTODON_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "@amy@other.example Hi @\xE2\x80\x8B"
	                              "admin@evil.example!");
	free(parts[0]);

	/* Long: a thread of parts, each within the limit with its prefix. */
	struct buf t;
	buf_init(&t, 0);
	for (int i = 0; i < 40; i++)
		buf_printf(&t, "word%d https://example.com/x%d ", i, i);
	n = mastodon_build_reply("customer@remote.example", t.p, 120, parts, MASTODON_MAX_PARTS);
	assert_true(n > 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(mastodon_status_length(parts[i]) <= 120);
		assert_int_equal(strncmp(parts[i], "@customer@remote.example ", 25), 0);
		free(parts[i]);
	}
	/* More than max_parts: cut, the last part says so. */
	n = mastodon_build_reply("amy", t.p, 60, parts, 3);
	assert_int_equal(n, 3);
	assert_non_null(strstr(parts[2], "\xE2\x80\xA6"));
	for (size_t i = 0; i < n; i++) {
		assert_true(mastodon_status_length(parts[i]) <= 60);
		free(parts[i]);
	}
	buf_free(&t);

	assert_int_equal(mastodon_build_reply("amy", "   ", 500, parts, MASTODON_MAX_PARTS), 0);
}

static void test_visibility(void **state)
{
	(void)state;
	/* Not private: the reply mirrors the status it answers. */
	assert_string_equal(mastodon_reply_visibility("public", 0), "public");
	assert_string_equal(mastodon_reply_visibility("unlisted", 0), "unlisted");
	assert_string_equal(mastodon_reply_visibility("private", 0), "private");
	assert_string_equal(mastodon_reply_visibility("direct", 0), "direct");
	/* Private (taken offline by the pipeline, or a DM): direct. */
	assert_string_equal(mastodon_reply_visibility("public", 1), "direct");
	assert_string_equal(mastodon_reply_visibility("unlisted", 1), "direct");
	assert_string_equal(mastodon_reply_visibility("direct", 1), "direct");
	/* Unknown visibilities reach the customer: direct. */
	assert_string_equal(mastodon_reply_visibility("weird", 0), "direct");
	assert_string_equal(mastodon_reply_visibility(NULL, 0), "direct");
}

/* ---- rate limits and backoff ------------------------------------------------------------ */

static void test_rate_wait(void **state)
{
	(void)state;
	const int64_t now = 1795356000000; /* 2026-11-22T14:00:00Z */
	struct http_response r;

	/* 429 without Retry-After: wait for X-RateLimit-Reset; a fraction counts (to the millisecond, rounded
	 * up). */
	memset(&r, 0, sizeof(r));
	r.status = 429;
	r.ratelimit_remaining = "0";
	r.ratelimit_reset = "2026-11-22T14:05:00.000000Z";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 300000);
	r.ratelimit_reset = "2026-11-22T14:05:00.250Z";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 300250);
	/* Epoch seconds work too. */
	r.ratelimit_reset = "1795356060";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 60000);
	/* A reset in the past (clock skew) still waits the minimum. */
	r.ratelimit_reset = "2026-11-22T13:59:00Z";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 4000), now + 4000);
	/* No headers at all (a server on 127.0.0.1 may send none): 60 s. */
	r.ratelimit_remaining = NULL;
	r.ratelimit_reset = NULL;
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 60000);
	/* Other servers' Retry-After is honoured when there is no reset. */
	r.retry_after = "30";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 30000);
	r.ratelimit_reset = "garbage";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 1000), now + 30000);

	/* A success only waits when the budget is spent. */
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.ratelimit_remaining = "5";
	r.ratelimit_reset = "2026-11-22T14:05:00Z";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 0), 0);
	r.ratelimit_remaining = " 0";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 0), now + 300000);
	r.ratelimit_reset = "2026-11-22T13:00:00Z";
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 0), 0);
	r.ratelimit_remaining = NULL;
	assert_int_equal(mastodon_rate_wait_ms(&r, now, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_html_basic),
	    cmocka_unit_test(test_html_links),
	    cmocka_unit_test(test_html_malformed),
	    cmocka_unit_test(test_entity),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_parse_notification),
	    cmocka_unit_test(test_parse_frame),
	    cmocka_unit_test(test_parse_page),
	    cmocka_unit_test(test_link),
	    cmocka_unit_test(test_length),
	    cmocka_unit_test(test_neutralise),
	    cmocka_unit_test(test_build_reply),
	    cmocka_unit_test(test_visibility),
	    cmocka_unit_test(test_rate_wait),

	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
