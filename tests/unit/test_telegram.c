/*
 * test_telegram.c - the Telegram Bot API's wire formats (telegram_wire.h):
 * the answer envelope and what a refusal means, getMe, updates (private
 * chats, groups addressed or not, commands, topics, edits, bots, anonymous
 * admins, media, migrations, Telegram Business: customer, owner, bots for
 * the owner, connections), the requests we send, the look-up of a reply
 * of ours, texts counted and cut as Telegram counts them, and the keys.
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

#include "connectors/telegram/telegram_wire.h"

static const struct tg_me ME = {.id = 7000000001, .username = "acme_bakery_bot", .name = "Acme"};

#define AMY                                                                                                  \
	"{\"id\":500000001,\"is_bot\":false,\"first_name\":\"Amy\",\"last_name\":\"Pond\",\"username\":"     \
	"\"amyp\"}"
#define BOT   "{\"id\":7000000001,\"is_bot\":true,\"first_name\":\"Acme\",\"username\":\"acme_bakery_bot\"}"
#define PRIV  "{\"id\":500000001,\"type\":\"private\",\"first_name\":\"Amy\"}"
#define GROUP "{\"id\":-1001234567890,\"type\":\"supergroup\",\"title\":\"Fans\"}"

/* An update {update_id, <type>: {message_id, from, chat, date, <extra>}}. */
static enum tg_kind parse(struct tg_update *u, const char *type, const char *from, const char *chat,
                          const char *extra)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
	         "{\"update_id\":123456789,\"%s\":{\"message_id\":42,\"from\":%s,\"chat\":%s,\"date\":"
	         "1795356000%s%s}}",
	         type, from, chat, extra && *extra ? "," : "", extra ? extra : "");
	return tg_parse_update(buf, strlen(buf), &ME, u);
}

static void test_envelope(void **state)
{
	(void)state;
	struct tg_error e;
	const char *b =
	    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
	    "\"parameters\":{\"retry_after\":7}}";
	assert_int_equal(tg_parse_error(b, strlen(b), &e), 0);
	assert_int_equal(e.code, 429);
	assert_int_equal(e.retry_after, 7);
	assert_int_equal(tg_refusal(429, &e), TG_REFUSED_LIMIT);
	b = "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was upgraded to a "
	    "supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":-1001234567890}}";
	assert_int_equal(tg_parse_error(b, strlen(b), &e), 0);
	assert_true(e.migrate_to == -1001234567890LL);
	assert_int_equal(tg_refusal(400, &e), TG_REFUSED_MIGRATED);
	/* What never works again, and what may. */
	static const struct {
		long code;
		const char *desc;
		enum tg_refusal want;
	} cases[] = {
	    {403, "Forbidden: bot was blocked by the user", TG_REFUSED_FINAL},
	    {403, "Forbidden: bot can't initiate conversation with a user", TG_REFUSED_FINAL},
	    {403, "Forbidden: bot was kicked from the group chat", TG_REFUSED_FINAL},
	    {400, "Bad Request: chat not found", TG_REFUSED_FINAL},
	    {400, "Bad Request: message is too long", TG_REFUSED_FINAL},
	    {400, "Bad Request: message to be replied not found", TG_REFUSED_NO_REPLY},
	    {400, "Bad Request: message thread not found", TG_REFUSED_NO_TOPIC},
	    {401, "Unauthorized", TG_REFUSED_TOKEN},
	    {502, "Bad Gateway", TG_REFUSED_RETRY},
	    {409, "Conflict: terminated by other getUpdates request", TG_REFUSED_RETRY},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.code = (int)cases[i].code;
		snprintf(e.description, sizeof(e.description), "%s", cases[i].desc);
		if (tg_refusal(cases[i].code, &e) != cases[i].want)
			fail_msg("%ld %s: %d", cases[i].code, cases[i].desc, tg_refusal(cases[i].code, &e));
	}
	/* A success, a proxy's page, nothing: no error answer. */
	assert_int_equal(tg_parse_error("{\"ok\":true,\"result\":true}", 25, &e), -1);
	assert_int_equal(tg_parse_error("<html>502</html>", 16, &e), -1);
	assert_int_equal(tg_parse_error("", 0, &e), -1);
}

static void test_me(void **state)
{
	(void)state;
	struct tg_me me;
	char err[128];
	const char *b = "{\"ok\":true,\"result\":{\"id\":7000000001,\"is_bot\":true,\"first_name\":\"Acme\","
	                "\"username\":\"acme_bakery_bot\",\"can_connect_to_business\":true}}";
	assert_int_equal(tg_parse_me(b, strlen(b), &me, err, sizeof(err)), 0);
	assert_true(me.id == 7000000001LL);
	assert_string_equal(me.username, "acme_bakery_bot");
	assert_int_equal(me.can_connect_to_business, 1);
	b = "{\"ok\":true,\"result\":{\"id\":5,\"is_bot\":false,\"first_name\":\"Amy\",\"username\":\"amy\"}"
	    "}";
	assert_int_equal(tg_parse_me(b, strlen(b), &me, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a bot"));
	b = "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}";
	assert_int_equal(tg_parse_me(b, strlen(b), &me, err, sizeof(err)), -1);
}

static void test_private(void **state)
{
	(void)state;
	struct tg_update u;
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"When are you open?\""), TG_POST);
	assert_true(u.update_id == 123456789);
	assert_true(u.chat_id == 500000001 && u.message_id == 42 && u.from_id == 500000001);
	assert_int_equal(u.chat_type, 'p');
	assert_string_equal(u.text, "When are you open?");
	assert_string_equal(u.handle, "@amyp");
	assert_string_equal(u.name, "Amy Pond");
	assert_true(u.date == 1795356000);
	tg_update_free(&u);
	/* Opening the chat is a hello; a deep link's payload is what was said. */
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/start\""), TG_POST);
	assert_string_equal(u.text, "hello");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/start order_1234\""), TG_POST);
	assert_string_equal(u.text, "order_1234");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/opening_hours\""), TG_POST);
	assert_string_equal(u.text, "opening hours");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/help@Acme_Bakery_Bot  now please\""),
	                 TG_POST);
	assert_string_equal(u.text, "help now please");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/help@otherbot\""), TG_SKIP);
	assert_string_equal(u.why, "other_bot");
	tg_update_free(&u);
	/* A path is no command. */
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"text\":\"/home/amy is where?\""), TG_POST);
	assert_string_equal(u.text, "/home/amy is where?");
	tg_update_free(&u);
	/* A photo a person must see; a sticker nobody needs to answer. */
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"photo\":[{\"file_id\":\"x\"}]"), TG_POST);
	assert_string_equal(u.text, "(photo)");
	tg_update_free(&u);
	assert_int_equal(
	    parse(&u, "message", AMY, PRIV, "\"photo\":[{\"file_id\":\"x\"}],\"caption\":\"broken cake\""),
	    TG_POST);
	assert_string_equal(u.text, "broken cake");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, PRIV, "\"sticker\":{\"file_id\":\"x\"}"), TG_SKIP);
	assert_string_equal(u.why, "no_text");
	tg_update_free(&u);
	/* Without a username the handle is the id. */
	assert_int_equal(parse(&u, "message", "{\"id\":99,\"is_bot\":false,\"first_name\":\"Bo\"}",
	                       "{\"id\":99,\"type\":\"private\"}", "\"text\":\"hi\""),
	                 TG_POST);
	assert_string_equal(u.handle, "99");
	assert_string_equal(u.name, "Bo");
	tg_update_free(&u);
}

static void test_group(void **state)
{
	(void)state;
	struct tg_update u;
	/* Not addressed: the group's own talk. */
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"when are you open?\""), TG_SKIP);
	assert_string_equal(u.why, "not_addressed");
	assert_true(u.chat_id == -1001234567890LL && u.message_id == 42); /* ids still learnt */
	tg_update_free(&u);
	/* A mention (any case), taken out of the text with its comma. */
	assert_int_equal(
	    parse(&u, "message", AMY, GROUP, "\"text\":\"@ACME_bakery_bot, when are you open?\""), TG_POST);
	assert_string_equal(u.text, "when are you open?");
	assert_int_equal(u.chat_type, 's');
	tg_update_free(&u);
	/* Someone else whose name starts the same is no mention of us. */
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"@acme_bakery_bot2 hi\""), TG_SKIP);
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"mail amy@acme_bakery_bot.example\""),
	                 TG_SKIP);
	tg_update_free(&u);
	/* A reply to one of ours. */
	assert_int_equal(
	    parse(&u, "message", AMY, GROUP,
	          "\"text\":\"and on Sunday?\",\"reply_to_message\":{\"message_id\":41,\"from\":" BOT
	          ",\"chat\":" GROUP ",\"date\":1}"),
	    TG_POST);
	assert_string_equal(u.text, "and on Sunday?");
	tg_update_free(&u);
	/* A reply to someone else is not. */
	assert_int_equal(
	    parse(&u, "message", AMY, GROUP,
	          "\"text\":\"and on Sunday?\",\"reply_to_message\":{\"message_id\":41,\"from\":" AMY
	          ",\"chat\":" GROUP ",\"date\":1}"),
	    TG_SKIP);
	tg_update_free(&u);
	/* A command; one for another bot is not ours. */
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"/menu\""), TG_POST);
	assert_string_equal(u.text, "menu");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"/menu@otherbot\""), TG_SKIP);
	tg_update_free(&u);
	/* Only a mention: nothing to answer. */
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"@acme_bakery_bot\""), TG_SKIP);
	assert_string_equal(u.why, "no_text");
	tg_update_free(&u);
	/* A forum topic is a conversation of its own. */
	assert_int_equal(
	    parse(&u, "message", AMY, GROUP,
	          "\"text\":\"@acme_bakery_bot open?\",\"message_thread_id\":17,\"is_topic_message\":true"),
	    TG_POST);
	assert_true(u.topic == 17);
	tg_update_free(&u);
	/* A reply thread of a plain supergroup is not a topic. */
	assert_int_equal(
	    parse(&u, "message", AMY, GROUP, "\"text\":\"@acme_bakery_bot open?\",\"message_thread_id\":17"),
	    TG_POST);
	assert_true(u.topic == 0);
	tg_update_free(&u);
}

static void test_skipped(void **state)
{
	(void)state;
	struct tg_update u;
	assert_int_equal(
	    parse(&u, "edited_message", AMY, PRIV, "\"text\":\"when are you open?\",\"edit_date\":2"),
	    TG_SKIP);
	assert_string_equal(u.why, "edited");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", "{\"id\":8,\"is_bot\":true,\"first_name\":\"Robot\"}", PRIV,
	                       "\"text\":\"when are you open?\""),
	                 TG_SKIP);
	assert_string_equal(u.why, "bot");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", BOT, GROUP, "\"text\":\"/menu\""), TG_SKIP);
	assert_string_equal(u.why, "self");
	tg_update_free(&u);
	/* An anonymous admin, a linked channel's automatic forward. */
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"/menu\",\"sender_chat\":" GROUP),
	                 TG_SKIP);
	assert_string_equal(u.why, "sender_chat");
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"text\":\"/menu\",\"is_automatic_forward\":true"),
	                 TG_SKIP);
	tg_update_free(&u);
	assert_int_equal(parse(&u, "message", AMY, GROUP, "\"new_chat_members\":[" AMY "]"), TG_SKIP);
	assert_string_equal(u.why, "service");
	tg_update_free(&u);
	assert_int_equal(
	    parse(&u, "channel_post", AMY, "{\"id\":-1009,\"type\":\"channel\"}", "\"text\":\"news\""),
	    TG_SKIP);
	tg_update_free(&u);
	/* A group upgraded to a supergroup says where it went. */
	assert_int_equal(parse(&u, "message", AMY,
	                       "{\"id\":-4000000001,\"type\":\"group\",\"title\":\"Fans\"}",
	                       "\"migrate_to_chat_id\":-1001234567890"),
	                 TG_MIGRATE);
	assert_true(u.chat_id == -4000000001LL && u.migrate_to == -1001234567890LL);
	tg_update_free(&u);
	/* Malformed. */
	const char *b = "{\"message\":{\"message_id\":1}}";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_BAD);
	b = "{\"update_id\":5,\"message\":{\"message_id\":1,\"date\":1}}";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_BAD);
	assert_true(u.update_id == 5);
	b = "[1,2]";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_BAD);
	b = "{\"update_id\":6,\"message_reaction\":{}}";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_SKIP);
}

static void test_business(void **state)
{
	(void)state;
	struct tg_update u;
	const char *conn = "\"business_connection_id\":\"BCabc-_1\"";
	char extra[256];
	snprintf(extra, sizeof(extra), "%s,\"text\":\"when are you open?\"", conn);
	/* The customer, in the owner's private chat with them. */
	assert_int_equal(parse(&u, "business_message", AMY, PRIV, extra), TG_POST);
	assert_string_equal(u.conn, "BCabc-_1");
	assert_string_equal(u.why, "business");
	tg_update_free(&u);
	/* The owner writing there: a person took over. */
	assert_int_equal(parse(&u, "business_message",
	                       "{\"id\":600,\"is_bot\":false,\"first_name\":\"Owner\"}", PRIV, extra),
	                 TG_STAFF);
	assert_true(u.from_id == 600);
	tg_update_free(&u);
	/* A bot sending for the owner (us, or another). */
	snprintf(extra, sizeof(extra), "%s,\"text\":\"Hi!\",\"sender_business_bot\":" BOT, conn);
	assert_int_equal(parse(&u, "business_message",
	                       "{\"id\":600,\"is_bot\":false,\"first_name\":\"Owner\"}", PRIV, extra),
	                 TG_SKIP);
	assert_string_equal(u.why, "business_bot");
	tg_update_free(&u);
	/* An unusable connection id. */
	assert_int_equal(
	    parse(&u, "business_message", AMY, PRIV, "\"business_connection_id\":\"a/b\",\"text\":\"x\""),
	    TG_BAD);
	tg_update_free(&u);
	/* Edits of business messages are skipped too. */
	snprintf(extra, sizeof(extra), "%s,\"text\":\"x\"", conn);
	assert_int_equal(parse(&u, "edited_business_message", AMY, PRIV, extra), TG_SKIP);
	tg_update_free(&u);
	/* The connection. */
	const char *b = "{\"update_id\":9,\"business_connection\":{\"id\":\"BCabc-_1\",\"user\":{\"id\":600,"
	                "\"is_bot\":false,"
	                "\"first_name\":\"Olga\",\"last_name\":\"Baker\"},\"user_chat_id\":600,\"date\":1,"
	                "\"is_enabled\":true,"
	                "\"rights\":{\"can_reply\":true}}}";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_CONNECTION);
	assert_string_equal(u.connection.id, "BCabc-_1");
	assert_true(u.connection.user_id == 600);
	assert_string_equal(u.connection.name, "Olga Baker");
	assert_int_equal(u.connection.enabled, 1);
	assert_int_equal(u.connection.can_reply, 1);
	b = "{\"update_id\":9,\"business_connection\":{\"id\":\"BCabc-_1\",\"user\":{\"id\":600},\"user_chat_"
	    "id\":600,"
	    "\"date\":1,\"is_enabled\":false,\"can_reply\":false}}";
	assert_int_equal(tg_parse_update(b, strlen(b), &ME, &u), TG_CONNECTION);
	assert_int_equal(u.connection.enabled, 0);
	assert_int_equal(u.connection.can_reply, 0);
}

static void test_updates_list(void **state)
{
	(void)state;
	struct tg_update *v;
	int64_t max;
	char err[128];
	const char *b =
	    "{\"ok\":true,\"result\":[{\"update_id\":10,\"message\":{\"message_id\":1,\"from\":" AMY
	    ",\"chat\":" PRIV ",\"date\":1,\"text\":\"hi\"}},{\"update_id\":12,\"edited_message\":{}},"
	    "{\"update_id\":11,\"bogus\":1}]}";
	long n = tg_parse_updates(b, strlen(b), &ME, &v, &max, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_true(max == 12);
	assert_int_equal(v[0].kind, TG_POST);
	assert_int_equal(v[1].kind, TG_SKIP);
	assert_int_equal(v[2].kind, TG_SKIP);
	for (long i = 0; i < n; i++)
		tg_update_free(&v[i]);
	free(v);
	b = "{\"ok\":true,\"result\":[]}";
	assert_int_equal(tg_parse_updates(b, strlen(b), &ME, &v, &max, err, sizeof(err)), 0);
	assert_true(max == 0);
	b = "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict\"}";
	assert_int_equal(tg_parse_updates(b, strlen(b), &ME, &v, &max, err, sizeof(err)), -1);
	b = "{\"ok\":true,\"result\":{}}";
	assert_int_equal(tg_parse_updates(b, strlen(b), &ME, &v, &max, err, sizeof(err)), -1);
}

static void test_requests(void **state)
{
	(void)state;
	char *s = tg_updates_json(0, 100, 25);
	json_t *o = json_loads(s, 0, NULL);
	assert_null(json_object_get(o, "offset"));
	assert_int_equal(json_integer_value(json_object_get(o, "timeout")), 25);
	assert_int_equal(json_array_size(json_object_get(o, "allowed_updates")), 3);
	json_decref(o);
	free(s);
	s = tg_updates_json(100042, 100, 25);
	assert_non_null(strstr(s, "\"offset\":100042"));
	free(s);

	/* Plain text, in its topic, answering the customer's message. */
	struct tg_send m = {
	    .chat_id = -1001234567890LL, .topic = 17, .reply_to = 42, .text = "We open at 7 *daily* <3"};
	s = tg_send_json(&m);
	o = json_loads(s, 0, NULL);
	assert_null(json_object_get(o, "parse_mode"));
	assert_true(json_integer_value(json_object_get(o, "chat_id")) == -1001234567890LL);
	assert_string_equal(json_string_value(json_object_get(o, "text")), "We open at 7 *daily* <3");
	assert_int_equal(json_integer_value(json_object_get(o, "message_thread_id")), 17);
	json_t *rp = json_object_get(o, "reply_parameters");
	assert_int_equal(json_integer_value(json_object_get(rp, "message_id")), 42);
	assert_true(json_is_true(json_object_get(rp, "allow_sending_without_reply")));
	assert_null(json_object_get(rp, "chat_id"));
	assert_null(json_object_get(o, "business_connection_id"));
	json_decref(o);
	free(s);
	/* Taken private: the customer's chat, quoting the group message. */
	m = (struct tg_send){
	    .chat_id = 500000001, .reply_to = 42, .reply_chat = -1001234567890LL, .text = "x"};
	s = tg_send_json(&m);
	o = json_loads(s, 0, NULL);
	rp = json_object_get(o, "reply_parameters");
	assert_true(json_integer_value(json_object_get(rp, "chat_id")) == -1001234567890LL);
	assert_null(json_object_get(rp, "allow_sending_without_reply"));
	json_decref(o);
	free(s);
	/* Business. */
	m = (struct tg_send){.chat_id = 500000001, .conn = "BCabc", .text = "x"};
	s = tg_send_json(&m);
	assert_non_null(strstr(s, "\"business_connection_id\":\"BCabc\""));
	assert_null(strstr(s, "reply_parameters"));
	free(s);
	m.text = "bad \xff utf-8";
	assert_null(tg_send_json(&m));

	/* Looking for our own message. */
	s = tg_probe_json(500000001, 77, NULL);
	assert_string_equal(s, "{\"chat_id\":500000001,\"message_id\":77}");
	free(s);
	const char *ours =
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message is not modified: "
	    "specified new message content and reply markup are exactly the same\"}";
	const char *theirs =
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message can't be edited\"}";
	const char *none =
	    "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message to edit not found\"}";
	const char *limit =
	    "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 3\"}";
	assert_int_equal(tg_probe_result(400, ours, strlen(ours)), TG_PROBE_OURS);
	assert_int_equal(tg_probe_result(400, theirs, strlen(theirs)), TG_PROBE_NOT_OURS);
	assert_int_equal(tg_probe_result(400, none, strlen(none)), TG_PROBE_NOT_OURS);
	assert_int_equal(tg_probe_result(429, limit, strlen(limit)), TG_PROBE_RETRY);
	assert_int_equal(tg_probe_result(502, "<html>", 6), TG_PROBE_RETRY);
	assert_int_equal(tg_probe_result(0, "", 0), TG_PROBE_RETRY);
	assert_int_equal(tg_probe_result(200, "{\"ok\":true,\"result\":{}}", 23), TG_PROBE_OURS);
}

static void test_text(void **state)
{
	(void)state;
	assert_int_equal(tg_text_len("abc"), 3);
	assert_int_equal(tg_text_len("caf\xc3\xa9"), 4);       /* é: one unit */
	assert_int_equal(tg_text_len("\xf0\x9f\x8e\x82!"), 3); /* 🎂 counts two */
	assert_int_equal(tg_text_len("a\xff"
	                             "b"),
	                 3);                          /* an invalid byte counts one */
	assert_int_equal(tg_text_len("\xf0\x9f"), 2); /* a cut sequence: bytes */

	/* One grapheme longer than the limit (a letter and 20 combining
	 * accents) still goes within it, cut at a code point. */
	char mark[64] = "e";
	for (int i = 0; i < 20; i++)
		strcat(mark, "\xcc\x81");
	char *cut[4];
	size_t ncut = tg_split(mark, 5, cut, 4);
	assert_true(ncut >= 1);
	for (size_t i = 0; i < ncut; i++) {
		assert_true(tg_text_len(cut[i]) <= 5);
		free(cut[i]);
	}

	/* 9,000 characters of words: three messages, none over 4,096, nothing lost. */
	char *text = malloc(9001);
	for (size_t i = 0; i < 9000; i++)
		text[i] = i % 10 == 9 ? ' ' : 'a';
	text[9000] = '\0';
	char *parts[16];
	size_t n = tg_split(text, 0, parts, 16);
	assert_int_equal(n, 3);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(tg_text_len(parts[i]) <= TG_MAX_TEXT);
		total += strlen(parts[i]);
		free(parts[i]);
	}
	assert_true(total >= 9000 - 3);
	free(text);
	/* 3,000 birthday cakes: 6,000 units, so two messages although 3,000
	 * characters would fit in one. */
	text = malloc(3000 * 5 + 1);
	for (size_t i = 0; i < 3000; i++)
		memcpy(text + i * 5, "\xf0\x9f\x8e\x82 ", 5);
	text[3000 * 5] = '\0';
	n = tg_split(text, 0, parts, 16);
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		assert_true(tg_text_len(parts[i]) <= TG_MAX_TEXT);
		free(parts[i]);
	}
	free(text);
	assert_int_equal(tg_split("   ", 0, parts, 16), 0);
}

static void test_keys(void **state)
{
	(void)state;
	char k[TG_MAX_KEY], conn[TG_MAX_CONN + 1];
	int64_t chat, topic, msg;
	assert_int_equal(tg_thread_key(k, sizeof(k), 500000001, 0, NULL), 0);
	assert_string_equal(k, "500000001");
	assert_int_equal(tg_thread_key(k, sizeof(k), -1001234567890LL, 17, ""), 0);
	assert_string_equal(k, "-1001234567890/17");
	assert_int_equal(tg_thread_parse(k, &chat, &topic, conn, sizeof(conn)), 0);
	assert_true(chat == -1001234567890LL && topic == 17 && !conn[0]);
	assert_int_equal(tg_thread_key(k, sizeof(k), 500000001, 0, "BCabc-_1"), 0);
	assert_string_equal(k, "b/BCabc-_1/500000001");
	assert_int_equal(tg_thread_parse(k, &chat, &topic, conn, sizeof(conn)), 0);
	assert_true(chat == 500000001 && topic == 0);
	assert_string_equal(conn, "BCabc-_1");
	/* Ids of up to 52 bits survive. */
	assert_int_equal(tg_post_key(k, sizeof(k), -1004503599627370LL, 4503599627370495LL, NULL), 0);
	assert_int_equal(tg_post_parse(k, &chat, &msg, conn, sizeof(conn)), 0);
	assert_true(chat == -1004503599627370LL && msg == 4503599627370495LL);
	assert_int_equal(tg_post_key(k, sizeof(k), 500000001, 42, "BCabc"), 0);
	assert_string_equal(k, "b/BCabc/500000001:42");
	assert_int_equal(tg_post_parse(k, &chat, &msg, conn, sizeof(conn)), 0);
	assert_true(chat == 500000001 && msg == 42);
	assert_string_equal(conn, "BCabc");
	/* What is not a key. */
	static const char *bad_threads[] = {"",
	                                    "x",
	                                    "1/",
	                                    "1/0",
	                                    "1/-2",
	                                    "b//1",
	                                    "b/a b/1",
	                                    "b/abc",
	                                    "0",
	                                    "12a",
	                                    "99999999999999999999",
	                                    "b/abc/1/2",
	                                    "-"};
	for (size_t i = 0; i < sizeof(bad_threads) / sizeof(bad_threads[0]); i++)
		if (tg_thread_parse(bad_threads[i], &chat, &topic, conn, sizeof(conn)) == 0)
			fail_msg("thread key %s accepted", bad_threads[i]);
	static const char *bad_posts[] = {"",   "1",     "1:",    "1:0",     "1:-5",
	                                  ":5", "1:2:3", "b/x/1", "b/x:1:2", "1:2x"};
	for (size_t i = 0; i < sizeof(bad_posts) / sizeof(bad_posts[0]); i++)
		if (tg_post_parse(bad_posts[i], &chat, &msg, conn, sizeof(conn)) == 0)
			fail_msg("post key %s accepted", bad_posts[i]);
	assert_int_equal(tg_conn_ok("BC-_9"), 1);
	assert_int_equal(tg_conn_ok("a:b"), 0);
	assert_int_equal(tg_conn_ok(""), 0);
	assert_int_equal(tg_chat_own_numbering(-1001234567890LL), 1);
	assert_int_equal(tg_chat_own_numbering(-4000000001LL), 0);
	assert_int_equal(tg_chat_own_numbering(500000001), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_envelope),     cmocka_unit_test(test_me),
	    cmocka_unit_test(test_private),      cmocka_unit_test(test_group),
	    cmocka_unit_test(test_skipped),      cmocka_unit_test(test_business),
	    cmocka_unit_test(test_updates_list), cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_text),         cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
