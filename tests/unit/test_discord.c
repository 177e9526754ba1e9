/*
 * test_discord.c - the Discord connector's pure parts: snowflakes, gateway
 * frames (HELLO, READY, MESSAGE_CREATE, GUILD_CREATE, op 7/9, broken
 * ones), message objects and what is skipped, content as text, catch-up
 * pages, what we send (IDENTIFY, RESUME, heartbeats, reply bodies, nonces),
 * replies cut within 2,000 characters after neutralising, close codes,
 * gateway URLs, thread keys, and the rate-limit table (routes, buckets,
 * the global hold, the pacer, saving and loading).  The network side is
 * covered end to end by tests/e2e/discord.test.mjs against the emulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connectors/discord/discord.h"
#include "connectors/discord/discord_limits.h"
#include "connectors/discord/discord_wire.h"
#include "http.h"
#include "util.h"

#define SELF "1000000000000000001"

/* ---- snowflakes ----------------------------------------------------------------- */

static void test_ids(void **state)
{
	(void)state;
	assert_true(discord_id_ok("0"));
	assert_true(discord_id_ok("1578907064472698880"));
	assert_true(discord_id_ok("18446744073709551615"));
	assert_false(discord_id_ok("18446744073709551616")); /* beyond 64 bits */
	assert_false(discord_id_ok(""));
	assert_false(discord_id_ok("012"));
	assert_false(discord_id_ok("12a"));
	assert_false(discord_id_ok("123456789012345678901"));
	assert_false(discord_id_ok(NULL));
	/* Numeric order, not string order, beyond 2^53. */
	assert_true(discord_id_cmp("999999999999999999", "1000000000000000000") < 0);
	assert_true(discord_id_cmp("9007199254740993", "9007199254740992") > 0);
	assert_int_equal(discord_id_cmp("42", "42"), 0);
	/* Time and back: the smallest id of a millisecond. */
	char id[DISCORD_MAX_ID + 1];
	discord_id_at(1796511256903LL, id);
	assert_int_equal(discord_id_ms(id), 1796511256903LL);
	discord_id_at(1000, id);
	assert_string_equal(id, "0");
	assert_int_equal(discord_id_ms("175928847299117063"),
	                 1462015105796LL); /* Discord's documented example */
}

/* ---- frames --------------------------------------------------------------------------- */

static void parse_ok(const char *json, struct discord_frame *f)
{
	char err[256];
	if (discord_parse_frame(json, strlen(json), SELF, f, err, sizeof(err)) != 0)
		fail_msg("frame %s refused: %s", json, err);
}

static void test_frames_control(void **state)
{
	(void)state;
	struct discord_frame f;
	char err[256];
	parse_ok("{\"op\":10,\"d\":{\"heartbeat_interval\":41250},\"s\":null,\"t\":null}", &f);
	assert_int_equal(f.op, DISCORD_OP_HELLO);
	assert_int_equal(f.heartbeat_ms, 41250);
	assert_int_equal(f.seq, -1);
	discord_frame_free(&f);
	parse_ok("{\"op\":11}", &f);
	assert_int_equal(f.op, DISCORD_OP_HEARTBEAT_ACK);
	discord_frame_free(&f);
	parse_ok("{\"op\":7,\"d\":null}", &f);
	assert_int_equal(f.op, DISCORD_OP_RECONNECT);
	discord_frame_free(&f);
	parse_ok("{\"op\":9,\"d\":true}", &f);
	assert_int_equal(f.op, DISCORD_OP_INVALID_SESSION);
	assert_true(f.resumable);
	discord_frame_free(&f);
	parse_ok("{\"op\":9,\"d\":false}", &f);
	assert_false(f.resumable);
	discord_frame_free(&f);
	parse_ok("{\"op\":1,\"d\":null}", &f);
	assert_int_equal(f.op, DISCORD_OP_HEARTBEAT);
	discord_frame_free(&f);
	/* Unknown ops and events are fine; broken frames are refused. */
	parse_ok("{\"op\":0,\"t\":\"TYPING_START\",\"s\":5,\"d\":{}}", &f);
	assert_int_equal(f.seq, 5);
	assert_string_equal(f.t, "TYPING_START");
	assert_false(f.has_message);
	discord_frame_free(&f);
	parse_ok("{\"op\":0,\"t\":\"RESUMED\",\"s\":9,\"d\":null}", &f);
	assert_string_equal(f.t, "RESUMED");
	discord_frame_free(&f);
	const char *bad[] = {
	    "",
	    "[]",
	    "{\"op\":\"10\"}",
	    "{\"op\":10,\"d\":{}}",
	    "{\"op\":10,\"d\":{\"heartbeat_interval\":-5}}",
	    "{\"op\":0,\"s\":1,\"d\":{}}",
	    "{\"op\":0,\"t\":\"READY\",\"s\":1,\"d\":{\"user\":{\"id\":\"1\"}}}",
	    "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"s\":3,\"d\":null}",
	    "{\"op\":0,\"t\":\"GUILD_CREATE\",\"s\":2,\"d\":{\"name\":\"x\"}}",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (discord_parse_frame(bad[i], strlen(bad[i]), SELF, &f, err, sizeof(err)) == 0)
			fail_msg("frame %s taken", bad[i]);
		discord_frame_free(&f);
	}
	/* A broken MESSAGE_CREATE still says its sequence number. */
	const char *m = "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"s\":77,\"d\":{\"id\":\"x\"}}";
	assert_int_equal(discord_parse_frame(m, strlen(m), SELF, &f, err, sizeof(err)), -1);
	assert_int_equal(f.seq, 77);
	discord_frame_free(&f);
}

static void test_frames_ready_guild(void **state)
{
	(void)state;
	struct discord_frame f;
	parse_ok("{\"op\":0,\"t\":\"READY\",\"s\":1,\"d\":{\"v\":10,\"session_id\":\"abc123\","
	         "\"resume_gateway_url\":\"wss://gateway-us-east1-b.discord.gg\",\"user\":{\"id\":\"" SELF
	         "\","
	         "\"username\":\"bakerybot\",\"bot\":true},\"guilds\":[{\"id\":\"5\",\"unavailable\":true},"
	         "{\"id\":\"6\",\"unavailable\":true}]}}",
	         &f);
	assert_string_equal(f.session_id, "abc123");
	assert_string_equal(f.resume_url, "wss://gateway-us-east1-b.discord.gg");
	assert_string_equal(f.user_id, SELF);
	assert_string_equal(f.user_name, "bakerybot");
	assert_int_equal(f.guilds, 2);
	assert_int_equal(f.seq, 1);
	discord_frame_free(&f);

	parse_ok("{\"op\":0,\"t\":\"GUILD_CREATE\",\"s\":2,\"d\":{\"id\":\"5\",\"channels\":[{\"id\":\"10\","
	         "\"last_message_id\":\"900\"},{\"id\":\"11\",\"last_message_id\":null},{\"id\":\"bad\"}],"
	         "\"threads\":[{\"id\":\"12\",\"last_message_id\":\"901\"}]}}",
	         &f);
	assert_string_equal(f.guild_id, "5");
	assert_int_equal(f.nchannels, 3);
	assert_string_equal(f.channels[0].id, "10");
	assert_string_equal(f.channels[0].last_message_id, "900");
	assert_false(f.channels[0].is_thread);
	assert_string_equal(f.channels[1].last_message_id, "");
	assert_string_equal(f.channels[2].id, "12");
	assert_true(f.channels[2].is_thread);
	discord_frame_free(&f);

	/* Threads made later, or synced. */
	parse_ok("{\"op\":0,\"t\":\"THREAD_CREATE\",\"s\":3,\"d\":{\"id\":\"13\",\"type\":11,\"parent_id\":"
	         "\"10\"}}",
	         &f);
	assert_int_equal(f.nchannels, 1);
	assert_string_equal(f.channels[0].id, "13");
	assert_true(f.channels[0].is_thread);
	discord_frame_free(&f);
	parse_ok("{\"op\":0,\"t\":\"THREAD_LIST_SYNC\",\"s\":4,\"d\":{\"guild_id\":\"5\",\"threads\":[{"
	         "\"id\":\"14\"},"
	         "{\"id\":\"15\",\"type\":12}]}}",
	         &f);
	assert_int_equal(f.nchannels, 2);
	assert_true(f.channels[0].is_thread && f.channels[1].is_thread);
	discord_frame_free(&f);
}

static const char *MSG =
    "{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"s\":42,\"d\":{\"id\":\"1578907068809609220\",\"type\":19,"
    "\"channel_id\":\"20\",\"guild_id\":\"5\",\"author\":{\"id\":\"30\",\"username\":\"amy\","
    "\"global_name\":\"Amy\"},\"member\":{\"nick\":\"Amy B\"},\"content\":\"<@" SELF
    "> when are you open? <:cake:123> <#20> <@&7> <https://bakery.example/hours> ok\","
    "\"timestamp\":\"2026-12-05T22:52:59.512000+00:00\",\"mentions\":[{\"id\":\"" SELF
    "\",\"username\":\"bakerybot\",\"global_name\":\"Bakery Bot\"}],\"message_reference\":{\"message_id\":"
    "\"1578907068809609000\"},\"attachments\":[{\"filename\":\"cake.jpg\"}],\"nonce\":\"n1\"}}";

static void test_frames_message(void **state)
{
	(void)state;
	struct discord_frame f;
	parse_ok(MSG, &f);
	assert_true(f.has_message);
	assert_int_equal(f.seq, 42);
	struct discord_message *m = &f.message;
	assert_string_equal(m->id, "1578907068809609220");
	assert_string_equal(m->channel_id, "20");
	assert_string_equal(m->guild_id, "5");
	assert_string_equal(m->author_id, "30");
	assert_string_equal(m->reply_to, "1578907068809609000");
	assert_string_equal(m->nonce, "n1");
	assert_int_equal(m->type, 19);
	assert_int_equal(m->skip, DISCORD_TAKE);
	assert_string_equal(m->username, "amy");
	assert_string_equal(m->name, "Amy B"); /* the server nickname first */
	assert_string_equal(m->text, "@Bakery Bot when are you open? :cake: #channel @role "
	                             "https://bakery.example/hours ok\n[attachment: cake.jpg]");
	assert_int_equal(m->created, 1796511179);
	discord_frame_free(&f);
}

static void check_skip(const char *msg, enum discord_skip want, int bot)
{
	struct discord_message m;
	char err[256];
	if (discord_parse_message(msg, strlen(msg), SELF, &m, err, sizeof(err)) != 0)
		fail_msg("message %s refused: %s", msg, err);
	if (m.skip != want)
		fail_msg("message %s: skip %s, want %s", msg, discord_skip_name(m.skip),
		         discord_skip_name(want));
	assert_int_equal(m.author_bot, bot);
	discord_message_free(&m);
}

static void test_message_skips(void **state)
{
	(void)state;
#define AUTHOR(id, extra) "\"author\":{\"id\":\"" id "\",\"username\":\"u\"" extra "}"
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", "") ",\"type\":0,\"content\":\"hi\"}",
	           DISCORD_TAKE, 0);
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR(SELF, ",\"bot\":true") ",\"type\":0}",
	           DISCORD_SKIP_SELF, 1);
	/* Other bots are posts the pipeline ignores. */
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", ",\"bot\":true") ",\"type\":0}",
	           DISCORD_TAKE, 1);
	check_skip(
	    "{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", ",\"bot\":true") ",\"webhook_id\":\"9\"}",
	    DISCORD_SKIP_WEBHOOK, 1);
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", "") ",\"type\":7}", DISCORD_SKIP_TYPE,
	           0);
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", "") ",\"type\":6}", DISCORD_SKIP_TYPE,
	           0);
	check_skip("{\"id\":\"1\",\"channel_id\":\"2\"," AUTHOR("3", "") ",\"type\":19}", DISCORD_TAKE, 0);
	/* A DM: no guild. */
	struct discord_message m;
	char err[256];
	const char *dm = "{\"id\":\"1\",\"channel_id\":\"77\"," AUTHOR("3", "") ",\"content\":\"x\"}";
	assert_int_equal(discord_parse_message(dm, strlen(dm), SELF, &m, err, sizeof(err)), 0);
	assert_string_equal(m.guild_id, "");
	discord_message_free(&m);
	/* Broken ones: no id, an id that is not a snowflake, no author. */
	const char *bad[] = {
	    "{\"channel_id\":\"2\"," AUTHOR("3", "") "}",
	    "{\"id\":\"1.5\",\"channel_id\":\"2\"," AUTHOR("3", "") "}",
	    "{\"id\":\"1\",\"channel_id\":\"2\"}",
	    "{\"id\":\"1\",\"channel_id\":\"2\",\"guild_id\":{}," AUTHOR("3", "") "}",
	    "[1]",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (discord_parse_message(bad[i], strlen(bad[i]), SELF, &m, err, sizeof(err)) == 0)
			fail_msg("message %s taken", bad[i]);
#undef AUTHOR
}

static void test_page(void **state)
{
	(void)state;
	struct discord_message *items;
	size_t n, bad;
	char err[256];
	/* Newest first, as Discord sends it; one broken entry. */
	const char *page =
	    "[{\"id\":\"300\",\"channel_id\":\"2\",\"author\":{\"id\":\"3\"},\"content\":\"c\"},"
	    "{\"id\":\"oops\"},"
	    "{\"id\":\"20000\",\"channel_id\":\"2\",\"author\":{\"id\":\"3\"},\"content\":\"d\"},"
	    "{\"id\":\"100\",\"channel_id\":\"2\",\"author\":{\"id\":\"3\"},\"content\":\"a\"}]";
	assert_int_equal(discord_parse_page(page, strlen(page), SELF, &items, &n, &bad, err, sizeof(err)), 4);
	assert_int_equal(n, 3);
	assert_int_equal(bad, 1);
	assert_string_equal(items[0].id, "100");
	assert_string_equal(items[1].id, "300");
	assert_string_equal(items[2].id, "20000"); /* numeric order */
	for (size_t i = 0; i < n; i++)
		discord_message_free(&items[i]);
	free(items);
	assert_int_equal(discord_parse_page("[]", 2, SELF, &items, &n, &bad, err, sizeof(err)), 0);
	assert_null(items);
	assert_int_equal(discord_parse_page("{}", 2, SELF, &items, &n, &bad, err, sizeof(err)), -1);
}

/* ---- what we send ------------------------------------------------------------------------ */

static json_t *load(const struct buf *b)
{
	json_t *o = json_loadb(b->p, b->len, 0, NULL);
	assert_non_null(o);
	return o;
}

static void test_gateway_payloads(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	discord_heartbeat_json(-1, &b);
	assert_string_equal(b.p, "{\"op\":1,\"d\":null}");
	discord_heartbeat_json(251, &b);
	assert_string_equal(b.p, "{\"op\":1,\"d\":251}");

	discord_identify_json("tok\"en", DISCORD_INTENTS, &b);
	json_t *o = load(&b);
	assert_int_equal(json_integer_value(json_object_get(o, "op")), 2);
	json_t *d = json_object_get(o, "d");
	assert_string_equal(json_string_value(json_object_get(d, "token")), "tok\"en");
	assert_int_equal(json_integer_value(json_object_get(d, "intents")), 1 | 512 | 4096 | 32768);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "properties"), "os")),
	                    "linux");
	json_decref(o);
	assert_true(b.len < DISCORD_MAX_SEND);

	discord_resume_json("tok", "sess", 42, &b);
	o = load(&b);
	d = json_object_get(o, "d");
	assert_int_equal(json_integer_value(json_object_get(o, "op")), 6);
	assert_string_equal(json_string_value(json_object_get(d, "session_id")), "sess");
	assert_int_equal(json_integer_value(json_object_get(d, "seq")), 42);
	json_decref(o);
	buf_free(&b);
}

static void test_reply_body(void **state)
{
	(void)state;
	char *s = discord_reply_json("Hi @\xe2\x80\x8b"
	                             "everyone",
	                             "123", "fd0123456789abcdef");
	json_t *o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "content")), "Hi @\xe2\x80\x8b"
	                                                                      "everyone");
	json_t *ref = json_object_get(o, "message_reference");
	assert_string_equal(json_string_value(json_object_get(ref, "message_id")), "123");
	assert_true(json_is_false(json_object_get(ref, "fail_if_not_exists")));
	json_t *am = json_object_get(o, "allowed_mentions");
	assert_true(json_is_array(json_object_get(am, "parse")));
	assert_int_equal(json_array_size(json_object_get(am, "parse")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "nonce")), "fd0123456789abcdef");
	assert_true(json_is_true(json_object_get(o, "enforce_nonce")));
	json_decref(o);
	free(s);
	/* No reference, no nonce; text that is not UTF-8 is refused. */
	s = discord_reply_json("x", NULL, NULL);
	o = json_loads(s, 0, NULL);
	assert_null(json_object_get(o, "message_reference"));
	assert_null(json_object_get(o, "nonce"));
	json_decref(o);
	free(s);
	assert_null(discord_reply_json("bad \xff", NULL, NULL));
}

static void test_nonce(void **state)
{
	(void)state;
	char n[DISCORD_NONCE_MAX + 1], n2[DISCORD_NONCE_MAX + 1];
	discord_nonce("fd0123456789abcdef", 0, n);
	assert_string_equal(n, "fd0123456789abcdef");
	discord_nonce("fd0123456789abcdef", 3, n);
	assert_string_equal(n, "fd0123456789abcdef-3");
	/* Too long or odd characters: a stable hash, still within 25. */
	discord_nonce("a key that is far too long for a discord nonce", 0, n);
	discord_nonce("a key that is far too long for a discord nonce", 0, n2);
	assert_string_equal(n, n2);
	assert_true(strlen(n) <= DISCORD_NONCE_MAX);
	discord_nonce("a key that is far too long for a discord nonce", 15, n2);
	assert_true(strlen(n2) <= DISCORD_NONCE_MAX);
	assert_string_not_equal(n, n2);
	discord_nonce("0123456789012345678901234", 1, n);
	assert_true(strlen(n) <= DISCORD_NONCE_MAX);
}

static void test_parts(void **state)
{
	(void)state;
	char *parts[DISCORD_MAX_PARTS];
	/* Mentions and links are inert. */
	size_t n = discord_build_parts("Hi @everyone, see [prize](https://evil.example) <@123>", parts, 4);
	assert_int_equal(n, 1);
	assert_string_equal(parts[0], "Hi @\xe2\x80\x8b"
	                              "everyone, see \\[prize\\](https://evil.example) <@\xe2\x80\x8b"
	                              "123>");
	free(parts[0]);
	assert_int_equal(discord_build_parts("   ", parts, 4), 0);
	/* 1,990 characters of which 400 are brackets: 2,390 once escaped,
	 * so two messages, each within 2,000, nothing lost. */
	struct buf t;
	buf_init(&t, 0);
	for (int i = 0; i < 199; i++)
		buf_puts(&t, i % 2 ? "[ab] cdef " : "ghijklmno ");
	n = discord_build_parts(t.p, parts, DISCORD_MAX_PARTS);
	assert_int_equal(n, 2);
	size_t brackets = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(discord_chars(parts[i]) <= DISCORD_MAX_CHARS);
		for (const char *p = parts[i]; *p; p++)
			brackets += *p == '\\';
		free(parts[i]);
	}
	assert_int_equal(brackets, 99 * 2);
	/* Multibyte text counts characters, not bytes. */
	buf_reset(&t);
	for (int i = 0; i < 1999; i++)
		buf_puts(&t, "\xc3\xa9");
	n = discord_build_parts(t.p, parts, DISCORD_MAX_PARTS);
	assert_int_equal(n, 1);
	assert_int_equal(discord_chars(parts[0]), 1999);
	free(parts[0]);
	buf_free(&t);
}

/* ---- closing, URLs, thread keys --------------------------------------------------------------- */

static void test_close_codes(void **state)
{
	(void)state;
	char d[256];
	static const int resume[] = {0, 1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4008};
	for (size_t i = 0; i < ARRAY_LEN(resume); i++)
		assert_int_equal(discord_close_code(resume[i], d, sizeof(d)), DISCORD_CLOSE_RESUME);
	assert_int_equal(discord_close_code(4007, d, sizeof(d)), DISCORD_CLOSE_NEW_SESSION);
	assert_int_equal(discord_close_code(4009, d, sizeof(d)), DISCORD_CLOSE_NEW_SESSION);
	static const int fatal[] = {4004, 4010, 4011, 4012, 4013, 4014};
	for (size_t i = 0; i < ARRAY_LEN(fatal); i++)
		assert_int_equal(discord_close_code(fatal[i], d, sizeof(d)), DISCORD_CLOSE_FATAL);
	discord_close_code(4014, d, sizeof(d));
	assert_non_null(strstr(d, "Message Content intent"));
	discord_close_code(4004, d, sizeof(d));
	assert_non_null(strstr(d, "token"));
}

static void test_gateway_url(void **state)
{
	(void)state;
	char u[256];
	assert_int_equal(discord_gateway_url("wss://gateway.discord.gg", u, sizeof(u)), 0);
	assert_string_equal(u, "wss://gateway.discord.gg/?v=10&encoding=json");
	assert_int_equal(
	    discord_gateway_url("wss://gateway.discord.gg/?v=6&compress=zlib-stream", u, sizeof(u)), 0);
	assert_string_equal(u, "wss://gateway.discord.gg/?v=10&encoding=json");
	assert_int_equal(discord_gateway_url("ws://127.0.0.1:4000/gateway", u, sizeof(u)), 0);
	assert_string_equal(u, "ws://127.0.0.1:4000/gateway/?v=10&encoding=json");
	/* Unencrypted only on this machine; other schemes never. */
	assert_int_equal(discord_gateway_url("ws://gateway.discord.gg", u, sizeof(u)), -1);
	assert_int_equal(discord_gateway_url("ws://127.example.com", u, sizeof(u)), -1);
	assert_int_equal(discord_gateway_url("https://gateway.discord.gg", u, sizeof(u)), -1);
	assert_int_equal(discord_gateway_url("", u, sizeof(u)), -1);
	assert_int_equal(discord_gateway_url("wss://gateway.discord.gg", u, 10), -1);
}

static void test_thread_keys(void **state)
{
	(void)state;
	char key[64], ch[DISCORD_MAX_ID + 1], root[DISCORD_MAX_ID + 1];
	/* Each kind of conversation, there and back. */
	discord_thread_key(DISCORD_CONV_MESSAGE, "20", "1578907068809609220", key, sizeof(key));
	assert_string_equal(key, "20/1578907068809609220");
	assert_int_equal(discord_thread_parse(key, ch, root), DISCORD_CONV_MESSAGE);
	assert_string_equal(ch, "20");
	assert_string_equal(root, "1578907068809609220");
	discord_thread_key(DISCORD_CONV_THREAD, "21", "99", key, sizeof(key));
	assert_string_equal(key, "21/thread");
	assert_int_equal(discord_thread_parse(key, ch, root), DISCORD_CONV_THREAD);
	assert_string_equal(ch, "21");
	assert_string_equal(root, "");
	discord_thread_key(DISCORD_CONV_DM, "77", "99", key, sizeof(key));
	assert_string_equal(key, "77");
	assert_int_equal(discord_thread_parse(key, ch, root), DISCORD_CONV_DM);
	assert_string_equal(ch, "77");
	/* Not ours. */
	const char *bad[] = {"x/30", "20/", "20/3/4", "20/threads", "", "/5", "123456789012345678901/1"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (discord_thread_parse(bad[i], ch, root) != -1)
			fail_msg("thread key %s taken", bad[i]);
	assert_int_equal(discord_thread_parse(NULL, ch, root), -1);
}

/* ---- rate limits ------------------------------------------------------------------------------ */

static void test_routes(void **state)
{
	(void)state;
	char r[DISCORD_ROUTE_MAX];
	discord_route("POST", "/channels/123/messages", r, sizeof(r));
	assert_string_equal(r, "POST /channels/123/messages");
	discord_route("GET", "/api/v10/channels/123/messages?after=5&limit=100", r, sizeof(r));
	assert_string_equal(r, "GET /channels/123/messages");
	discord_route("DELETE", "/channels/123/messages/456", r, sizeof(r));
	assert_string_equal(r, "DELETE /channels/123/messages/{id}");
	discord_route("POST", "/users/@me/channels", r, sizeof(r));
	assert_string_equal(r, "POST /users/@me/channels");
	discord_route("GET", "/guilds/9/members/8", r, sizeof(r));
	assert_string_equal(r, "GET /guilds/9/members/{id}");
	discord_route("GET", "/gateway/bot", r, sizeof(r));
	assert_string_equal(r, "GET /gateway/bot");
}

/* A response with the given status, headers and body. */
static struct http_response resp(long status, const char *remaining, const char *reset_after,
                                 const char *bucket, const char *scope, const char *body)
{
	struct http_response r;
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.ratelimit_remaining = remaining;
	r.ratelimit_reset_after = reset_after;
	r.ratelimit_bucket = bucket;
	r.ratelimit_scope = scope;
	r.body = body ? body : "";
	r.body_len = strlen(r.body);
	return r;
}

static void test_limits(void **state)
{
	(void)state;
	const int64_t t0 = 1800000000000LL;
	struct discord_limits *l = discord_limits_new(t0);
	enum discord_hold h;
	const char *a = "POST /channels/1/messages", *b = "POST /channels/2/messages";
	struct discord_limit_news news;

	/* A new process waits a second before its first request. */
	assert_true(discord_limits_until(l, a, t0, &h) >= t0 + 1000 - DISCORD_SPACING_MS);
	int64_t now = t0 + 1000;
	assert_int_equal(discord_limits_until(l, a, now, &h), now);
	assert_int_equal(h, DISCORD_HOLD_NONE);
	/* The pacer spaces requests. */
	discord_limits_sent(l, a, now);
	assert_int_equal(discord_limits_until(l, b, now, &h), now + DISCORD_SPACING_MS);
	assert_int_equal(h, DISCORD_HOLD_NONE);

	/* Remaining 0: the route waits for its reset, the other one does not. */
	struct http_response r = resp(200, "0", "2.5", "abc", NULL, NULL);
	assert_int_equal(discord_limits_learn(l, a, &r, now, 1000, &news), 1);
	assert_false(news.limited);
	assert_int_equal(news.until_ms, now + 2500);
	now += 100;
	assert_int_equal(discord_limits_until(l, a, now, &h), t0 + 1000 + 2500);
	assert_int_equal(h, DISCORD_HOLD_ROUTE);
	assert_int_equal(discord_limits_until(l, b, now, &h), now);
	/* The same bucket hash on another channel is another bucket (major parameter). */
	r = resp(200, "4", "1", "abc", NULL, NULL);
	assert_int_equal(discord_limits_learn(l, b, &r, now, 1000, NULL), 0);
	assert_int_equal(discord_limits_until(l, b, now, &h), now);

	/* Saved and loaded by another process: the wait is still there. */
	char *saved = discord_limits_save(l, now);
	assert_non_null(saved);
	struct discord_limits *l2 = discord_limits_new(now - 1000);
	discord_limits_load(l2, saved, now);
	assert_int_equal(discord_limits_until(l2, a, now, &h), t0 + 1000 + 2500);
	assert_int_equal(h, DISCORD_HOLD_ROUTE);
	assert_int_equal(discord_limits_until(l2, b, now, &h), now);
	free(saved);
	discord_limits_free(l2);

	/* A global 429 holds every route; its body's retry_after counts. */
	now = t0 + 5000;
	r = resp(429, NULL, NULL, NULL, "global",
	         "{\"message\":\"slow\",\"retry_after\":1.25,\"global\":true}");
	discord_limits_learn(l, b, &r, now, 1000, &news);
	assert_true(news.limited);
	assert_true(news.global);
	assert_int_equal(news.until_ms, now + 1250);
	assert_int_equal(discord_limits_until(l, a, now, &h), now + 1250);
	assert_int_equal(h, DISCORD_HOLD_GLOBAL);
	/* Only the body saying "global": true is a global limit too. */
	now = t0 + 10000;
	r = resp(429, NULL, NULL, NULL, NULL, "{\"retry_after\":0.5,\"global\":true}");
	discord_limits_learn(l, a, &r, now, 1000, &news);
	assert_true(news.global);
	/* A route 429 without any time waits the fallback. */
	now = t0 + 20000;
	r = resp(429, NULL, NULL, NULL, "user", "{}");
	discord_limits_learn(l, a, &r, now, 3000, &news);
	assert_false(news.global);
	assert_string_equal(news.scope, "user");
	assert_int_equal(discord_limits_until(l, a, now, &h), now + 3000);
	assert_int_equal(discord_limits_until(l, b, now, &h), now);
	/* Nothing ahead: nothing saved. */
	assert_null(discord_limits_save(l, now + 60000));
	discord_limits_load(l, "not json", now);
	discord_limits_load(l, NULL, now);
	discord_limits_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_frames_control),
	    cmocka_unit_test(test_frames_ready_guild),
	    cmocka_unit_test(test_frames_message),
	    cmocka_unit_test(test_message_skips),
	    cmocka_unit_test(test_page),
	    cmocka_unit_test(test_gateway_payloads),
	    cmocka_unit_test(test_reply_body),
	    cmocka_unit_test(test_nonce),
	    cmocka_unit_test(test_parts),
	    cmocka_unit_test(test_close_codes),
	    cmocka_unit_test(test_gateway_url),
	    cmocka_unit_test(test_thread_keys),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
