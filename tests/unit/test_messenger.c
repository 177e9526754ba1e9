/*
 * test_messenger.c - what the Messenger and Instagram connectors read and
 * write: deliveries as PLATFORMS.md shows them (several entries and events,
 * echoes with their app and metadata, standby events, postbacks,
 * attachments as placeholders, reads and deletions skipped, unusable ids
 * skipped, non-ASCII escaped as Meta signs it), the Send API bodies
 * (RESPONSE, HUMAN_AGENT, reply_to, metadata, mark_seen), and the cut of
 * a reply to Instagram's 1,000 bytes.
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

#include "connectors/instagram/instagram.h"
#include "connectors/messenger/messenger_wire.h"
#include "connectors/meta/meta.h"
#include "post.h"

static const char page_delivery[] =
    "{\"object\":\"page\",\"entry\":["
    "{\"id\":\"1111\",\"time\":1795000000000,\"messaging\":["
    /* a customer's text, with non-ASCII escaped as Meta sends it */
    "{\"sender\":{\"id\":\"2001\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000000123,"
    "\"message\":{\"mid\":\"m_AAA\",\"text\":\"Sind Sie morgen ge\\u00f6ffnet?\"}},"
    /* our own reply coming back */
    "{\"sender\":{\"id\":\"1111\"},\"recipient\":{\"id\":\"2001\"},\"timestamp\":1795000001000,"
    "\"message\":{\"mid\":\"m_ECHO1\",\"is_echo\":true,\"app_id\":123456,\"metadata\":\"frontdesk:fd01\","
    "\"text\":\"We open at 9.\"}},"
    /* a person in the Page inbox */
    "{\"sender\":{\"id\":\"1111\"},\"recipient\":{\"id\":\"2001\"},\"timestamp\":1795000002000,"
    "\"message\":{\"mid\":\"m_ECHO2\",\"is_echo\":true,\"app_id\":263902037430900,\"text\":\"Sam here\"}},"
    /* a photo, a read receipt, a deleted message, a message without mid */
    "{\"sender\":{\"id\":\"2002\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000003000,"
    "\"message\":{\"mid\":\"m_BBB\",\"attachments\":[{\"type\":\"image\",\"payload\":{\"url\":\"x\"}}]}},"
    "{\"sender\":{\"id\":\"2002\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000003500,"
    "\"read\":{\"watermark\":1795000003000}},"
    "{\"sender\":{\"id\":\"2002\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000003600,"
    "\"message\":{\"mid\":\"m_DEL\",\"is_deleted\":true}},"
    "{\"sender\":{\"id\":\"2002\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000003700,"
    "\"message\":{\"text\":\"no id\"}}"
    "]},"
    /* a second entry: a postback without mid, and a standby event */
    "{\"id\":\"1111\",\"time\":1795000004000,\"messaging\":["
    "{\"sender\":{\"id\":\"2003\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000004000,"
    "\"postback\":{\"title\":\"Opening hours\",\"payload\":\"HOURS\"}},"
    /* the handover protocol: control passed to the Page inbox */
    "{\"sender\":{\"id\":\"2004\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000004500,"
    "\"pass_thread_control\":{\"new_owner_app_id\":\"263902037430900\",\"metadata\":\"x\"}},"
    /* a delivery receipt and a reaction: no messages */
    "{\"sender\":{\"id\":\"2004\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000004600,"
    "\"delivery\":{\"mids\":[\"m_X\"],\"watermark\":1795000004000}},"
    "{\"sender\":{\"id\":\"2004\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000004700,"
    "\"reaction\":{\"mid\":\"m_X\",\"action\":\"react\",\"reaction\":\"love\"}}],"
    "\"standby\":["
    "{\"sender\":{\"id\":\"2004\"},\"recipient\":{\"id\":\"1111\"},\"timestamp\":1795000005000,"
    "\"message\":{\"mid\":\"m_SB\",\"text\":\"for the other app\"}}]}"
    "]}";

static void page_deliveries(void **state)
{
	(void)state;
	struct messenger_delivery d;
	char err[256];
	assert_int_equal(
	    messenger_parse(page_delivery, strlen(page_delivery), MESSENGER_OBJECT, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 7);
	assert_int_equal(d.skipped, 2); /* the deleted one, the one without mid */

	const struct messenger_event *e = &d.events[0];
	assert_int_equal(e->kind, MESSENGER_MESSAGE);
	assert_string_equal(e->owner, "1111");
	assert_string_equal(e->customer, "2001");
	assert_string_equal(e->mid, "m_AAA");
	assert_string_equal(e->text, "Sind Sie morgen ge\xc3\xb6"
	                             "ffnet?");
	assert_int_equal(e->ts, 1795000000);
	assert_false(e->standby);

	e = &d.events[1];
	assert_int_equal(e->kind, MESSENGER_ECHO);
	assert_string_equal(e->customer, "2001"); /* the echo's recipient */
	assert_string_equal(e->app_id, "123456");
	assert_string_equal(e->marker, "frontdesk:fd01");
	assert_true(meta_marker_ours(e->marker));

	e = &d.events[2];
	assert_int_equal(e->kind, MESSENGER_ECHO);
	assert_string_equal(e->app_id, MESSENGER_INBOX_APP_ID);
	assert_string_equal(e->marker, "");
	assert_string_equal(e->text, "Sam here");

	e = &d.events[3];
	assert_string_equal(e->mid, "m_BBB");
	assert_string_equal(e->text, "(a photo)");

	e = &d.events[4];
	assert_int_equal(e->kind, MESSENGER_MESSAGE);
	assert_string_equal(e->customer, "2003");
	assert_string_equal(e->mid, "pb.2003.1795000004000");
	assert_string_equal(e->text, "Opening hours");

	e = &d.events[5];
	assert_int_equal(e->kind, MESSENGER_HANDOVER);
	assert_string_equal(e->handover, "pass_thread_control");
	assert_string_equal(e->customer, "2004");
	assert_string_equal(e->app_id, MESSENGER_INBOX_APP_ID);
	assert_string_equal(e->mid, "");
	assert_false(e->standby);

	e = &d.events[6];
	assert_true(e->standby);
	assert_string_equal(e->mid, "m_SB");
	messenger_delivery_free(&d);

	/* The other product's delivery, or not one at all. */
	assert_int_equal(
	    messenger_parse(page_delivery, strlen(page_delivery), INSTAGRAM_OBJECT, &d, err, sizeof(err)),
	    -1);
	assert_int_equal(d.n, 0);
	assert_non_null(strstr(err, "instagram"));
	assert_int_equal(messenger_parse("[1]", 3, MESSENGER_OBJECT, &d, err, sizeof(err)), -1);
	assert_int_equal(messenger_parse("{", 1, MESSENGER_OBJECT, &d, err, sizeof(err)), -1);
	/* No entries: nothing, no error. */
	assert_int_equal(messenger_parse("{\"object\":\"page\"}", 17, MESSENGER_OBJECT, &d, err, sizeof(err)),
	                 0);
	assert_int_equal(d.n, 0);
	messenger_delivery_free(&d);
}

static void instagram_deliveries(void **state)
{
	(void)state;
	struct messenger_delivery d;
	char err[256];
	/* An id that is no usable id (a space, a quote), an entry without id,
	 * and a text over POST_MAX_TEXT. */
	size_t big = POST_MAX_TEXT + 100;
	char *longtext = malloc(big + 1);
	memset(longtext, 'a', big);
	longtext[big] = '\0';
	char *body = malloc(big + 1024);
	snprintf(body, big + 1024,
	         "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1784\",\"time\":1,\"messaging\":["
	         "{\"sender\":{\"id\":\"bad id\"},\"recipient\":{\"id\":\"1784\"},\"timestamp\":1,"
	         "\"message\":{\"mid\":\"aWdf1\",\"text\":\"x\"}},"
	         "{\"sender\":{\"id\":\"3001\"},\"recipient\":{\"id\":\"1784\"},\"timestamp\":1795000000000,"
	         "\"message\":{\"mid\":\"aWdf2\",\"text\":\"%s\"}},"
	         "{\"sender\":{\"id\":\"3001\"},\"recipient\":{\"id\":\"1784\"},\"timestamp\":1795000000001,"
	         "\"message\":{\"mid\":\"aWdf3\",\"attachments\":[{\"type\":\"story_mention\"}]}}]},"
	         "{\"time\":1,\"messaging\":[{\"sender\":{\"id\":\"3002\"}}]}]}",
	         longtext);
	assert_int_equal(messenger_parse(body, strlen(body), INSTAGRAM_OBJECT, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.skipped, 2);
	assert_int_equal(strlen(d.events[0].text), POST_MAX_TEXT);
	assert_string_equal(d.events[1].text, "(a story that mentions you)");
	messenger_delivery_free(&d);
	free(body);
	free(longtext);
}

static void send_bodies(void **state)
{
	(void)state;
	char *b = messenger_reply_body("2001", "We open at 9. \xe2\x98\xba", 0, "m_AAA", "frontdesk:fd01");
	json_t *o = json_loads(b, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "recipient"), "id")),
	                    "2001");
	assert_string_equal(json_string_value(json_object_get(o, "messaging_type")), "RESPONSE");
	assert_null(json_object_get(o, "tag"));
	json_t *m = json_object_get(o, "message");
	assert_string_equal(json_string_value(json_object_get(m, "text")), "We open at 9. \xe2\x98\xba");
	assert_string_equal(json_string_value(json_object_get(m, "metadata")), "frontdesk:fd01");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "reply_to"), "mid")),
	                    "m_AAA");
	json_decref(o);
	free(b);

	/* A person's reply after 24 hours: the HUMAN_AGENT tag. */
	b = messenger_reply_body("2001", "Sorry for the wait", 1, NULL, NULL);
	o = json_loads(b, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "messaging_type")), "MESSAGE_TAG");
	assert_string_equal(json_string_value(json_object_get(o, "tag")), "HUMAN_AGENT");
	assert_null(json_object_get(o, "reply_to"));
	assert_null(json_object_get(json_object_get(o, "message"), "metadata"));
	json_decref(o);
	free(b);

	assert_null(messenger_reply_body("2001", "bad \xff utf-8", 0, NULL, NULL));
	b = messenger_seen_body("2001");
	assert_string_equal(b, "{\"recipient\":{\"id\":\"2001\"},\"sender_action\":\"mark_seen\"}");
	free(b);
}

static size_t utf8_ok(const char *s)
{
	json_t *o = json_string(s); /* jansson refuses invalid UTF-8 */
	int ok = o != NULL;
	json_decref(o);
	return ok;
}

static void instagram_bytes(void **state)
{
	(void)state;
	char *parts[META_MAX_PARTS];
	/* 900 characters of two bytes each: 1,800 bytes, more than 1,000. */
	char text[2401];
	size_t k = 0;
	for (int i = 0; i < 900; i++) {
		if (i % 10 == 9) {
			text[k++] = ' ';
		} else {
			text[k++] = (char)0xc3;
			text[k++] = (char)0xa9;
		}
	}
	text[k] = '\0';
	size_t n = instagram_split(text, INSTAGRAM_MAX_BYTES, parts, META_MAX_PARTS);
	assert_true(n >= 2);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(parts[i]) <= INSTAGRAM_MAX_BYTES);
		assert_true(utf8_ok(parts[i]));
		total += strlen(parts[i]);
		free(parts[i]);
	}
	/* Nothing but the spaces at the cuts is lost. */
	assert_true(total + n >= k - 1);

	/* Four-byte characters (emoji) only. */
	k = 0;
	for (int i = 0; i < 600; i++) {
		memcpy(text + k, "\xf0\x9f\x8d\xb0", 4);
		k += 4;
	}
	text[k] = '\0';
	n = instagram_split(text, INSTAGRAM_MAX_BYTES, parts, META_MAX_PARTS);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(parts[i]) <= INSTAGRAM_MAX_BYTES);
		assert_true(utf8_ok(parts[i]));
		free(parts[i]);
	}

	/* One letter with 600 combining marks (1,201 bytes, one grapheme
	 * cluster): wider than the limit, so cut at a code point. */
	char *wide = malloc(1 + 600 * 2 + 1);
	k = 0;
	wide[k++] = 'a';
	for (int i = 0; i < 600; i++) {
		wide[k++] = (char)0xcc;
		wide[k++] = (char)0x81;
	}
	wide[k] = '\0';
	n = instagram_split(wide, INSTAGRAM_MAX_BYTES, parts, META_MAX_PARTS);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(parts[i]) <= INSTAGRAM_MAX_BYTES);
		assert_true(utf8_ok(parts[i]));
		free(parts[i]);
	}
	free(wide);

	/* Short text: one part, as is. */
	n = instagram_split("Hello", INSTAGRAM_MAX_BYTES, parts, META_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "Hello");
	free(parts[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(page_deliveries),
	    cmocka_unit_test(instagram_deliveries),
	    cmocka_unit_test(send_bodies),
	    cmocka_unit_test(instagram_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
