/*
 * test_meta.c - what the Meta connectors read and write: the Graph API's
 * error object and what each code means for a reply (throttle, pair
 * limit, closed window, refused token ...), ids, thread keys and markers;
 * WhatsApp deliveries as PLATFORMS.md shows them (batched entries and
 * changes, the contact's name, statuses with their marker and errors,
 * media and placeholders, reactions and unusable items skipped) and the
 * reply and "mark as read" bodies; and the reply windows' explanation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "connector.h"
#include "connectors/meta/meta.h"
#include "connectors/whatsapp/whatsapp_wire.h"

/* --- Graph API errors --------------------------------------------------------- */

static void error_object(void **state)
{
	(void)state;
	struct meta_error e;
	const char *b =
	    "{\"error\":{\"message\":\"(#131047) Re-engagement message\",\"type\":\"OAuthException\","
	    "\"code\":131047,\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":\"Message "
	    "failed to send because more than 24 hours have passed\"},\"fbtrace_id\":\"Az8or2yhqkZfEZ\"}}";
	assert_int_equal(meta_error_parse(b, strlen(b), &e), 1);
	assert_int_equal(e.code, 131047);
	assert_int_equal(e.subcode, 0);
	assert_string_equal(e.message, "(#131047) Re-engagement message");
	assert_true(strstr(e.title, "24 hours") != NULL);
	assert_int_equal(meta_classify(400, &e), META_WINDOW_CLOSED);

	b = "{\"error\":{\"message\":\"(#10) This message is sent outside of allowed window.\",\"code\":10,"
	    "\"error_subcode\":2018278}}";
	assert_int_equal(meta_error_parse(b, strlen(b), &e), 1);
	assert_int_equal(e.subcode, 2018278);
	assert_int_equal(meta_classify(400, &e), META_WINDOW_CLOSED);

	b = "{\"error\":{\"message\":\"An unexpected error has "
	    "occurred.\",\"code\":2,\"is_transient\":true}}";
	assert_int_equal(meta_error_parse(b, strlen(b), &e), 1);
	assert_true(e.transient);
	assert_int_equal(meta_classify(500, &e), META_RETRY);

	/* Not an error object. */
	assert_int_equal(meta_error_parse("{\"success\":true}", 16, &e), 0);
	assert_int_equal(meta_error_parse("not json", 8, &e), 0);
	assert_int_equal(meta_error_parse("{\"error\":\"x\"}", 13, &e), 0);
	assert_int_equal(meta_error_parse(NULL, 0, &e), 0);
}

static void verdicts(void **state)
{
	(void)state;
	struct meta_error e;
	static const struct {
		long status, code, sub;
		enum meta_verdict v;
	} cases[] = {
	    {200, 0, 0, META_SENT},
	    {400, 131047, 0, META_WINDOW_CLOSED},
	    {400, 1545041, 0, META_WINDOW_CLOSED},
	    {400, 10, 2018278, META_WINDOW_CLOSED},
	    {403, 10, 0, META_REFUSED}, /* permission */
	    {400, 130429, 0, META_THROTTLED},
	    {400, 613, 0, META_THROTTLED},
	    {400, 80007, 0, META_THROTTLED},
	    {400, 4, 0, META_THROTTLED},
	    {400, 131056, 0, META_PAIR_LIMIT},
	    {401, 190, 463, META_TOKEN},
	    {400, 190, 0, META_TOKEN},
	    {401, 0, 0, META_TOKEN},
	    {400, 100, 0, META_REFUSED},
	    {400, 551, 0, META_REFUSED},
	    {400, 131026, 0, META_REFUSED},
	    {400, 131030, 0, META_REFUSED},
	    {500, 1, 0, META_RETRY},
	    {503, 0, 0, META_RETRY},
	    {0, 0, 0, META_RETRY}, /* no answer */
	    {429, 0, 0, META_THROTTLED},
	    {404, 0, 0, META_REFUSED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.code = cases[i].code;
		e.subcode = cases[i].sub;
		if (meta_classify(cases[i].status, cases[i].code ? &e : NULL) != cases[i].v)
			fail_msg("status %ld code %ld/%ld: %s, expected %s", cases[i].status, cases[i].code,
			         cases[i].sub, meta_verdict_name(meta_classify(cases[i].status, &e)),
			         meta_verdict_name(cases[i].v));
	}
}

static void ids_threads_markers(void **state)
{
	(void)state;
	char a[64], b[64], m[128];
	assert_true(meta_id_ok("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="));
	assert_true(meta_id_ok("m_1457764197618:41d102a3e1ae206a38") == 0); /* ':' separates thread keys */
	assert_true(meta_id_ok("16505551234"));
	assert_false(meta_id_ok(""));
	assert_false(meta_id_ok("a b"));
	assert_false(meta_id_ok("a\"b"));
	assert_false(meta_id_ok("caf\xc3\xa9"));
	assert_int_equal(meta_thread_split("106540352242922:16505551234", a, sizeof(a), b, sizeof(b)), 0);
	assert_string_equal(a, "106540352242922");
	assert_string_equal(b, "16505551234");
	assert_int_equal(meta_thread_split("no-colon", a, sizeof(a), b, sizeof(b)), -1);
	assert_int_equal(meta_thread_split(":x", a, sizeof(a), b, sizeof(b)), -1);
	assert_int_equal(meta_thread_split("x:", a, sizeof(a), b, sizeof(b)), -1);
	assert_int_equal(meta_thread_split("x:y:z", a, sizeof(a), b, sizeof(b)), -1);
	meta_marker("fd0123", 0, 1, m, sizeof(m));
	assert_string_equal(m, "frontdesk:fd0123");
	assert_true(meta_marker_ours(m));
	meta_marker("fd0123", 2, 3, m, sizeof(m));
	assert_string_equal(m, "frontdesk:fd0123:2");
	assert_true(meta_marker_ours(m));
	assert_false(meta_marker_ours("frontdesk:"));
	assert_false(meta_marker_ours("someone-else:fd0123"));
	assert_false(meta_marker_ours(NULL));
}

/* --- WhatsApp deliveries ------------------------------------------------------- */

/* PLATFORMS.md's delivery, two numbers, a status with our marker and a
 * failed one, a photo with a caption, a reaction, an item without an id. */
static const char delivery[] =
    "{\"object\":\"whatsapp_business_account\",\"entry\":["
    "{\"id\":\"102290129340398\",\"changes\":[{\"field\":\"messages\",\"value\":{"
    "\"messaging_product\":\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550783881\","
    "\"phone_number_id\":\"106540352242922\"},"
    "\"contacts\":[{\"profile\":{\"name\":\"Sheena Nelson\"},\"wa_id\":\"16505551234\"},"
    "{\"profile\":{\"name\":\"Jos\\u00e9\"},\"wa_id\":\"5511987654321\"}],"
    "\"messages\":[{\"from\":\"16505551234\",\"id\":\"wamid.AAA=\",\"timestamp\":\"1749416383\","
    "\"type\":\"text\",\"text\":{\"body\":\"Does it come in another color?\"}},"
    "{\"from\":\"5511987654321\",\"id\":\"wamid.BBB=\",\"timestamp\":\"1749416390\",\"type\":\"image\","
    "\"image\":{\"caption\":\"this arrived broken\",\"id\":\"1\"},\"context\":{\"from\":\"15550783881\","
    "\"id\":\"wamid.OURS=\"}},"
    "{\"from\":\"16505551234\",\"id\":\"wamid.CCC=\",\"timestamp\":\"1749416391\",\"type\":\"reaction\","
    "\"reaction\":{\"message_id\":\"wamid.OURS=\",\"emoji\":\"\\ud83d\\udc4d\"}},"
    "{\"from\":\"16505551234\",\"timestamp\":\"1749416392\",\"type\":\"text\",\"text\":{\"body\":\"no id\"}}"
    "]}},{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"
    "\"phone_number_id\":\"106540352242922\"},\"statuses\":["
    "{\"id\":\"wamid.OURS=\",\"status\":\"delivered\",\"timestamp\":\"1749416400\","
    "\"recipient_id\":\"16505551234\",\"biz_opaque_callback_data\":\"frontdesk:fd00ff\"},"
    "{\"id\":\"wamid.OURS2=\",\"status\":\"failed\",\"timestamp\":\"1749416401\",\"recipient_id\":"
    "\"16505551234\","
    "\"errors\":[{\"code\":131056,\"title\":\"Pair rate limit hit\",\"message\":\"Pair rate limit hit\"}]}"
    "]}},{\"field\":\"account_update\",\"value\":{\"event\":\"VERIFIED_ACCOUNT\"}}]},"
    "{\"id\":\"102290129340398\",\"changes\":[{\"field\":\"messages\",\"value\":{"
    "\"metadata\":{\"phone_number_id\":\"200000000000000\"},"
    "\"messages\":[{\"from\":\"447700900123\",\"id\":\"wamid.DDD=\",\"timestamp\":1749416500,\"type\":"
    "\"location\","
    "\"location\":{\"latitude\":51.5,\"longitude\":-0.12,\"name\":\"The shop\",\"address\":\"1 High "
    "St\"}}]}}]}"
    "]}";

static void whatsapp_delivery(void **state)
{
	(void)state;
	struct whatsapp_delivery d;
	char err[128];
	assert_int_equal(whatsapp_parse(delivery, strlen(delivery), &d, err, sizeof(err)), 0);
	assert_int_equal(d.nmsgs, 3);
	assert_int_equal(d.nstatuses, 2);
	assert_int_equal(d.skipped, 2); /* the reaction, the message without an id */

	assert_string_equal(d.msgs[0].id, "wamid.AAA=");
	assert_string_equal(d.msgs[0].from, "16505551234");
	assert_string_equal(d.msgs[0].phone_number_id, "106540352242922");
	assert_string_equal(d.msgs[0].name, "Sheena Nelson");
	assert_string_equal(d.msgs[0].text, "Does it come in another color?");
	assert_int_equal(d.msgs[0].ts, 1749416383);
	assert_string_equal(d.msgs[0].context_id, "");

	assert_string_equal(d.msgs[1].name, "Jos\xc3\xa9");
	assert_string_equal(d.msgs[1].text, "this arrived broken");
	assert_string_equal(d.msgs[1].context_id, "wamid.OURS=");
	assert_string_equal(d.msgs[1].type, "image");

	/* Another number of the account; a numeric timestamp; no contact. */
	assert_string_equal(d.msgs[2].phone_number_id, "200000000000000");
	assert_string_equal(d.msgs[2].text, "(a location: The shop, 1 High St)");
	assert_int_equal(d.msgs[2].ts, 1749416500);
	assert_null(d.msgs[2].name);

	assert_string_equal(d.statuses[0].id, "wamid.OURS=");
	assert_string_equal(d.statuses[0].status, "delivered");
	assert_string_equal(d.statuses[0].marker, "frontdesk:fd00ff");
	assert_string_equal(d.statuses[0].recipient, "16505551234");
	assert_false(d.statuses[0].failed);
	assert_true(d.statuses[1].failed);
	assert_int_equal(d.statuses[1].err.code, 131056);
	assert_string_equal(d.statuses[1].err.title, "Pair rate limit hit");
	assert_string_equal(d.statuses[1].marker, "");
	whatsapp_delivery_free(&d);
}

static void whatsapp_kinds_and_limits(void **state)
{
	(void)state;
	struct whatsapp_delivery d;
	char err[128];
	static const struct {
		const char *msg, *text;
	} kinds[] = {
	    {"\"type\":\"audio\",\"audio\":{\"id\":\"1\"}", "(a voice message)"},
	    {"\"type\":\"image\",\"image\":{\"id\":\"1\"}", "(a photo)"},
	    {"\"type\":\"document\",\"document\":{\"filename\":\"invoice.pdf\"}",
	     "(a document: invoice.pdf)"},
	    {"\"type\":\"button\",\"button\":{\"text\":\"Track my order\",\"payload\":\"x\"}",
	     "Track my order"},
	    {"\"type\":\"interactive\",\"interactive\":{\"type\":\"list_reply\",\"list_reply\":{\"id\":\"1\","
	     "\"title\":\"Opening hours\"}}",
	     "Opening hours"},
	    {"\"type\":\"unsupported\",\"errors\":[{\"code\":131051}]",
	     "(a message of a kind this app cannot show)"},
	    {"\"type\":\"sticker\",\"sticker\":{\"id\":\"1\"}", "(a sticker)"},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *b = xasprintf(
		    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"field\":"
		    "\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},\"messages\":[{"
		    "\"from\":\"2\",\"id\":\"wamid.x%zu\",\"timestamp\":\"1\",%s}]}}]}]}",
		    i, kinds[i].msg);
		assert_int_equal(whatsapp_parse(b, strlen(b), &d, err, sizeof(err)), 0);
		assert_int_equal(d.nmsgs, 1);
		assert_string_equal(d.msgs[0].text, kinds[i].text);
		whatsapp_delivery_free(&d);
		free(b);
	}
	/* A text longer than a post may be is cut at a character boundary. */
	struct buf big;
	buf_init(&big, 0);
	buf_puts(&big,
	         "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"field\":\"messages\","
	         "\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},\"messages\":[{\"from\":\"2\",\"id\":"
	         "\"wamid.big\",\"timestamp\":\"1\",\"type\":\"text\",\"text\":{\"body\":\"");
	for (size_t i = 0; i < POST_MAX_TEXT; i++)
		buf_puts(&big, "\\u00e9");
	buf_puts(&big, "\"}}]}}]}]}");
	assert_int_equal(whatsapp_parse(big.p, big.len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.nmsgs, 1);
	assert_true(strlen(d.msgs[0].text) <= POST_MAX_TEXT);
	assert_int_equal(strlen(d.msgs[0].text) % 2, 0); /* whole two-byte characters */
	whatsapp_delivery_free(&d);
	buf_free(&big);

	/* Not WhatsApp's, not JSON: refused with a reason, nothing kept. */
	assert_int_equal(whatsapp_parse("{\"object\":\"page\",\"entry\":[]}", 28, &d, err, sizeof(err)), -1);
	assert_true(strstr(err, "object") != NULL);
	assert_int_equal(whatsapp_parse("[1,2]", 5, &d, err, sizeof(err)), -1);
	assert_int_equal(whatsapp_parse("{\"object\":", 10, &d, err, sizeof(err)), -1);
	assert_int_equal(d.nmsgs + d.nstatuses, 0);
	/* Odd shapes are skipped, never half-used. */
	const char *odd =
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":{}},{\"changes\":[1,"
	    "{\"field\":\"messages\",\"value\":[]},{\"field\":\"messages\",\"value\":{\"messages\":"
	    "[{\"from\":\"2\",\"id\":\"x\",\"type\":\"text\",\"text\":{\"body\":\"no number\"}}]}},"
	    "{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},\"messages\":"
	    "[{\"from\":\"a b\",\"id\":\"x\",\"type\":\"text\"},{\"from\":\"2\",\"id\":\"y\",\"type\":"
	    "7},{\"from\":\"2\",\"id\":\"z\",\"type\":\"text\",\"text\":{}}]}}]}]}";
	assert_int_equal(whatsapp_parse(odd, strlen(odd), &d, err, sizeof(err)), 0);
	assert_int_equal(d.nmsgs, 0);
	assert_int_equal(d.skipped, 4);
	whatsapp_delivery_free(&d);
}

static void whatsapp_bodies(void **state)
{
	(void)state;
	char *b =
	    whatsapp_reply_body("16505551234", "We open at 9. \xe2\x98\xba", "wamid.AAA=", "frontdesk:fd01");
	json_t *o = json_loads(b, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "messaging_product")), "whatsapp");
	assert_string_equal(json_string_value(json_object_get(o, "recipient_type")), "individual");
	assert_string_equal(json_string_value(json_object_get(o, "to")), "16505551234");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "text");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "text"), "body")),
	                    "We open at 9. \xe2\x98\xba");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "context"), "message_id")),
	                    "wamid.AAA=");
	assert_string_equal(json_string_value(json_object_get(o, "biz_opaque_callback_data")),
	                    "frontdesk:fd01");
	json_decref(o);
	free(b);
	b = whatsapp_reply_body("16505551234", "hi", NULL, NULL);
	o = json_loads(b, 0, NULL);
	assert_null(json_object_get(o, "context"));
	json_decref(o);
	free(b);
	assert_null(whatsapp_reply_body("1", "bad \xff utf-8", NULL, NULL));
	b = whatsapp_read_body("wamid.AAA=");
	assert_string_equal(
	    b, "{\"messaging_product\":\"whatsapp\",\"status\":\"read\",\"message_id\":\"wamid.AAA=\"}");
	free(b);
	char t[64];
	whatsapp_thread_key("106540352242922", "16505551234", t, sizeof(t));
	assert_string_equal(t, "106540352242922:16505551234");
}

/* --- reply windows -------------------------------------------------------------- */

static void reply_windows(void **state)
{
	(void)state;
	struct connector_conf cc;
	char why[384];
	const time_t now = 1795000000, day = 86400;
	memset(&cc, 0, sizeof(cc));
	cc.type = "whatsapp";
	cc.ops = connector_type("whatsapp");
	cc.reply_window = day;
	cc.agent_window = day;
	assert_true(connector_reply_allowed(&cc, 1, now - day + 60, now, why, sizeof(why)));
	assert_string_equal(why, "");
	assert_true(connector_reply_allowed(&cc, 1, now - day, now, why, sizeof(why)));
	assert_false(connector_reply_allowed(&cc, 1, now - 27 * 3600, now, why, sizeof(why)));
	assert_string_equal(
	    why, "WhatsApp takes a person's reply only within 24 hours of the customer's last message, "
	         "and they last wrote 27 hours ago: the customer must write again before anyone can "
	         "answer here");
	assert_false(connector_reply_allowed(&cc, 0, now - 27 * 3600, now, why, sizeof(why)));
	assert_true(strncmp(why, "WhatsApp takes replies only within 24 hours", 43) == 0);
	assert_int_equal(connector_reply_until(&cc, 1, now), now + day);
	/* Unknown last message, no window, no connector: always. */
	assert_true(connector_reply_allowed(&cc, 1, 0, now, why, sizeof(why)));
	assert_int_equal(connector_reply_until(&cc, 1, 0), 0);
	cc.agent_window = 7 * day;
	assert_true(connector_reply_allowed(&cc, 1, now - 3 * day, now, why, sizeof(why)));
	assert_false(connector_reply_allowed(&cc, 1, now - 8 * day, now, why, sizeof(why)));
	assert_true(strstr(why, "within 7 days") != NULL);
	assert_true(connector_reply_allowed(NULL, 1, 1, now, why, sizeof(why)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(error_object),
	    cmocka_unit_test(verdicts),
	    cmocka_unit_test(ids_threads_markers),
	    cmocka_unit_test(whatsapp_delivery),
	    cmocka_unit_test(whatsapp_kinds_and_limits),
	    cmocka_unit_test(whatsapp_bodies),
	    cmocka_unit_test(reply_windows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
