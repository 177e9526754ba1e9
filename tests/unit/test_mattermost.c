/*
 * test_mattermost.c - Mattermost's wire formats (mattermost_wire.h) and
 * Markdown made plain (markdown.h): events with the post JSON inside a
 * string, from_bot as a string, system posts, mentions, replies to our
 * actions, post and channel lists, error bodies, MaxPostSize, the post we
 * send, thread keys and replies cut to the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connectors/mattermost/mattermost_wire.h"
#include "markdown.h"
#include "markup.h"

#define ID_A "a1b2c3d4e5f6g7h8i9j0k1l2m3"
#define ID_C "c1b2c3d4e5f6g7h8i9j0k1l2m3"
#define ID_U "u1b2c3d4e5f6g7h8i9j0k1l2m3"
#define ID_R "r1b2c3d4e5f6g7h8i9j0k1l2m3"
#define SELF "s1b2c3d4e5f6g7h8i9j0k1l2m3"

/* A posted event as the server sends it: the post is a JSON string. */
static char *posted(const char *post_json, const char *channel_type, const char *extra)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "post", post_json, "channel_type", channel_type,
	                         "sender_name", "@amy", "channel_name", "town-square");
	if (extra) {
		json_t *x = json_loads(extra, 0, NULL);
		json_object_update(data, x);
		json_decref(x);
	}
	json_t *f = json_pack("{s:s, s:o, s:{s:s}, s:i}", "event", "posted", "data", data, "broadcast",
	                      "channel_id", ID_C, "seq", 7);
	char *s = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	return s;
}

static const char *POST = "{\"id\":\"" ID_A "\",\"create_at\":1700000000123,\"update_at\":1700000000123,"
                          "\"delete_at\":0,\"user_id\":\"" ID_U "\",\"channel_id\":\"" ID_C "\","
                          "\"root_id\":\"\",\"message\":\"**When** are you [open](https://x.example)?\","
                          "\"type\":\"\",\"props\":{}}";

static void test_posted_event(void **state)
{
	(void)state;
	struct mm_event ev;
	char err[200];
	char *f = posted(POST, "O", "{\"mentions\":\"[\\\"" SELF "\\\"]\"}");
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_POSTED);
	assert_int_equal(ev.seq, 7);
	assert_string_equal(ev.post.id, ID_A);
	assert_string_equal(ev.post.channel_id, ID_C);
	assert_string_equal(ev.post.user_id, ID_U);
	assert_string_equal(ev.post.root_id, "");
	assert_int_equal(ev.post.create_at, 1700000000123LL);
	assert_string_equal(ev.post.text, "When are you open (https://x.example)?");
	assert_int_equal(ev.channel_type, 'O');
	assert_string_equal(ev.sender_name, "amy");
	assert_true(ev.mentioned);
	assert_true(mm_post_is_customer(&ev.post, SELF));
	assert_false(mm_post_is_customer(&ev.post, ID_U)); /* its own */
	mm_event_free(&ev);
	free(f);

	/* The post as an object, not a string, is not what the server sends. */
	const char *obj = "{\"event\":\"posted\",\"data\":{\"post\":{\"id\":\"" ID_A
	                  "\"},\"channel_type\":\"O\"},\"seq\":3}";
	assert_int_equal(mm_parse_event(obj, strlen(obj), SELF, &ev, err, sizeof(err)), MM_EV_BAD);
	assert_int_equal(ev.seq, 3); /* still known: the stream goes on */
	assert_string_equal(ev.event, "posted");
	mm_event_free(&ev);
}

static void test_bots_and_system_posts(void **state)
{
	(void)state;
	struct mm_event ev;
	char err[200];
	const char *bot = "{\"id\":\"" ID_A "\",\"user_id\":\"" ID_U "\",\"channel_id\":\"" ID_C "\","
	                  "\"message\":\"hi\",\"type\":\"\",\"props\":{\"from_bot\":\"true\"}}";
	char *f = posted(bot, "D", NULL);
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_POSTED);
	assert_true(ev.post.from_bot);
	assert_false(mm_post_is_customer(&ev.post, SELF));
	mm_event_free(&ev);
	free(f);

	const char *hook = "{\"id\":\"" ID_A "\",\"user_id\":\"" ID_U "\",\"channel_id\":\"" ID_C "\","
	                   "\"message\":\"hi\",\"props\":{\"from_webhook\":\"true\",\"from_bot\":\"false\"}}";
	f = posted(hook, "O", NULL);
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_POSTED);
	assert_false(ev.post.from_bot);
	assert_true(ev.post.from_webhook);
	mm_event_free(&ev);
	free(f);

	const char *sys = "{\"id\":\"" ID_A "\",\"user_id\":\"" ID_U "\",\"channel_id\":\"" ID_C "\","
	                  "\"message\":\"amy joined\",\"type\":\"system_join_channel\",\"props\":{}}";
	f = posted(sys, "P", NULL);
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_POSTED);
	assert_false(mm_post_is_customer(&ev.post, SELF));
	mm_event_free(&ev);
	free(f);

	/* Unknown channel types and bad ids are refused, not guessed. */
	f = posted(POST, "X", NULL);
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_BAD);
	mm_event_free(&ev);
	free(f);
	const char *badid =
	    "{\"id\":\"a b\",\"user_id\":\"" ID_U "\",\"channel_id\":\"" ID_C "\",\"message\":\"x\"}";
	f = posted(badid, "O", NULL);
	assert_int_equal(mm_parse_event(f, strlen(f), SELF, &ev, err, sizeof(err)), MM_EV_BAD);
	mm_event_free(&ev);
	free(f);
}

static void test_hello_reply_other(void **state)
{
	(void)state;
	struct mm_event ev;
	char err[200];
	const char *hello =
	    "{\"event\":\"hello\",\"data\":{\"server_version\":\"10.0.0\",\"connection_id\":\"" ID_R
	    "\"},\"broadcast\":{},\"seq\":0}";
	assert_int_equal(mm_parse_event(hello, strlen(hello), "", &ev, err, sizeof(err)), MM_EV_HELLO);
	assert_string_equal(ev.connection_id, ID_R);
	assert_int_equal(ev.seq, 0);
	const char *reply = "{\"status\":\"OK\",\"seq_reply\":1}";
	assert_int_equal(mm_parse_event(reply, strlen(reply), "", &ev, err, sizeof(err)), MM_EV_REPLY);
	assert_true(ev.status_ok);
	assert_int_equal(ev.seq, -1);
	const char *typing = "{\"event\":\"typing\",\"data\":{},\"seq\":12}";
	assert_int_equal(mm_parse_event(typing, strlen(typing), "", &ev, err, sizeof(err)), MM_EV_OTHER);
	assert_int_equal(ev.seq, 12);
	const char *noseq = "{\"event\":\"typing\",\"data\":{}}";
	assert_int_equal(mm_parse_event(noseq, strlen(noseq), "", &ev, err, sizeof(err)), MM_EV_BAD);
	assert_int_equal(mm_parse_event("[1]", 3, "", &ev, err, sizeof(err)), MM_EV_BAD);
	assert_int_equal(mm_parse_event("{", 1, "", &ev, err, sizeof(err)), MM_EV_BAD);
}

static void test_lists(void **state)
{
	(void)state;
	char err[200];
	struct mm_post *items;
	size_t skipped;
	const char *list = "{\"order\":[\"" ID_R "\",\"" ID_A "\"],\"posts\":{"
	                   "\"" ID_R "\":{\"id\":\"" ID_R "\",\"create_at\":20,\"user_id\":\"" ID_U
	                   "\",\"channel_id\":\"" ID_C "\",\"root_id\":\"" ID_A
	                   "\",\"message\":\"b\",\"props\":{\"frontdesk_key\":\"fd00ab-1\"}},"
	                   "\"" ID_A "\":{\"id\":\"" ID_A "\",\"create_at\":10,\"user_id\":\"" ID_U
	                   "\",\"channel_id\":\"" ID_C "\",\"message\":\"a\"},"
	                   "\"bad\":{\"id\":\"\"}}}";
	assert_int_equal(mm_parse_post_list(list, strlen(list), &items, &skipped, err, sizeof(err)), 2);
	assert_int_equal(skipped, 1);
	assert_string_equal(items[0].id, ID_A); /* oldest first */
	assert_string_equal(items[1].root_id, ID_A);
	assert_string_equal(items[1].key, "fd00ab-1");
	for (int i = 0; i < 2; i++)
		mm_post_free(&items[i]);
	free(items);
	assert_int_equal(mm_parse_post_list("{}", 2, &items, NULL, err, sizeof(err)), 0);
	assert_int_equal(mm_parse_post_list("[]", 2, &items, NULL, err, sizeof(err)), -1);

	struct mm_channel *ch;
	const char *chans =
	    "[{\"id\":\"" ID_C "\",\"type\":\"D\",\"last_post_at\":99},{\"id\":\"x\",\"type\":\"Q\"},"
	    "{\"id\":\"" ID_R "\",\"type\":\"O\"}]";
	assert_int_equal(mm_parse_channels(chans, strlen(chans), &ch, err, sizeof(err)), 2);
	assert_int_equal(ch[0].type, 'D');
	assert_int_equal(ch[0].last_post_at, 99);
	assert_int_equal(ch[1].last_post_at, 0);
	free(ch);
	assert_int_equal(mm_parse_channels("{}", 2, &ch, err, sizeof(err)), -1);
}

static void test_errors_limits_and_ids(void **state)
{
	(void)state;
	char id[128];
	const char *busy =
	    "{\"id\":\"api.post.deduplicate_create_post.pending\",\"message\":\"x\",\"status_code\":500}";
	assert_int_equal(mm_error_id(busy, strlen(busy), id, sizeof(id)), 0);
	assert_string_equal(id, MM_PENDING_BUSY);
	/* A 429's body is plain text. */
	assert_int_equal(mm_error_id("limit exceeded\n", 15, id, sizeof(id)), -1);
	assert_int_equal(mm_max_post_size("{\"MaxPostSize\":\"4000\"}", 22), 4000);
	assert_int_equal(mm_max_post_size("{\"MaxPostSize\":\"lots\"}", 22), 0);
	assert_int_equal(mm_max_post_size("{}", 2), 0);
	const char *user = "{\"id\":\"" ID_U "\"}";
	assert_int_equal(mm_parse_id(user, strlen(user), id, sizeof(id)), 0);
	assert_string_equal(id, ID_U);
	assert_int_equal(mm_parse_id("{\"id\":\"../x\"}", 13, id, sizeof(id)), -1);
	assert_true(mm_id_ok(ID_A));
	assert_false(mm_id_ok(""));
	assert_false(mm_id_ok("a/b"));
}

static void test_post_json_and_threads(void **state)
{
	(void)state;
	char *s = mm_post_json(ID_C, ID_R, "Hi \"amy\"", "fd00-1", "fd00-1", ID_A);
	json_t *o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "channel_id")), ID_C);
	assert_string_equal(json_string_value(json_object_get(o, "root_id")), ID_R);
	assert_string_equal(json_string_value(json_object_get(o, "message")), "Hi \"amy\"");
	assert_string_equal(json_string_value(json_object_get(o, "pending_post_id")), "fd00-1");
	json_t *props = json_object_get(o, "props");
	assert_string_equal(json_string_value(json_object_get(props, MM_KEY_PROP)), "fd00-1");
	assert_string_equal(json_string_value(json_object_get(props, MM_REPLY_TO_PROP)), ID_A);
	json_decref(o);
	free(s);
	s = mm_post_json(ID_C, "", "x", "k", "k", NULL);
	o = json_loads(s, 0, NULL);
	assert_null(json_object_get(o, "root_id")); /* top level: no root_id at all */
	json_decref(o);
	free(s);
	assert_null(mm_post_json(ID_C, "", "\xff", "k", "k", NULL));

	char key[200], ch[80], root[80];
	mm_thread_key(key, sizeof(key), ID_C, 'O', ID_R);
	assert_string_equal(key, "c:" ID_C ":" ID_R);
	assert_int_equal(mm_thread_parse(key, ch, sizeof(ch), root, sizeof(root)), 0);
	assert_string_equal(ch, ID_C);
	assert_string_equal(root, ID_R);
	mm_thread_key(key, sizeof(key), ID_C, 'D', ID_R);
	assert_string_equal(key, "d:" ID_C);
	assert_int_equal(mm_thread_parse(key, ch, sizeof(ch), root, sizeof(root)), 0);
	assert_string_equal(root, "");
	assert_int_equal(mm_thread_parse("x:abc", ch, sizeof(ch), root, sizeof(root)), -1);
	assert_int_equal(mm_thread_parse("c:abc", ch, sizeof(ch), root, sizeof(root)), -1);
	assert_int_equal(mm_thread_parse("d:abc:def", ch, sizeof(ch), root, sizeof(root)), -1);
}

static void test_reply_made_inert_and_cut(void **state)
{
	(void)state;
	char *parts[8];
	size_t n = mm_build_reply("Hi @channel, see [this](https://evil.example)", 0, parts, 8);
	assert_int_equal(n, 1);
	assert_non_null(strstr(parts[0], "@" MARKUP_ZWSP "channel"));
	assert_non_null(strstr(parts[0], "\\[this\\]"));
	free(parts[0]);
	char long_text[1000];
	memset(long_text, 0, sizeof(long_text));
	for (int i = 0; i < 99; i++)
		memcpy(long_text + i * 10, "word word ", 10);
	n = mm_build_reply(long_text, 120, parts, 8);
	assert_true(n >= 8);
	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(parts[i]) <= 120);
		free(parts[i]);
	}
}

static void expect_md(const char *in, const char *want)
{
	char *got = markdown_text(in, strlen(in), 0);
	if (strcmp(got, want) != 0)
		fail_msg("\"%s\"\n  got  \"%s\"\n  want \"%s\"", in, got, want);
	free(got);
}

static void test_markdown(void **state)
{
	(void)state;
	expect_md("**bold** and __this__ and ~~gone~~", "bold and this and gone");
	expect_md("*it* _it_ file_name 2 * 3 snake_case_word", "it it file_name 2 * 3 snake_case_word");
	expect_md("[menu](https://x.example/menu) or https://x.example",
	          "menu (https://x.example/menu) or https://x.example");
	expect_md("[https://a.example](https://a.example)", "https://a.example");
	expect_md("![cake](https://x.example/c.png)", "cake (https://x.example/c.png)");
	expect_md("## Order 42\n> quoted\n* one\n+ two\n- three", "Order 42\nquoted\n- one\n- two\n- three");
	expect_md("```js\nlet a = *b*;\n```\nuse `x*y`", "let a = *b*;\nuse x*y");
	expect_md("\\*not italic\\* and @amy :smile:", "*not italic* and @amy :smile:");
	expect_md("[unclosed](link and [x]", "[unclosed](link and [x]");
	expect_md("", "");
	/* Bounded: cut at a character boundary, never past the limit. */
	char *cut = markdown_text("caf\xc3\xa9 caf\xc3\xa9", 11, 4);
	assert_string_equal(cut, "caf");
	free(cut);
	/* Deep nesting and long runs stay linear and shallow. */
	size_t big = 200000;
	char *deep = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		deep[i] = "[*_`"[i % 4];
	deep[big] = '\0';
	char *out = markdown_text(deep, big, 8192);
	assert_true(strlen(out) <= 8192);
	free(out);
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_posted_event),
	    cmocka_unit_test(test_bots_and_system_posts),
	    cmocka_unit_test(test_hello_reply_other),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_errors_limits_and_ids),
	    cmocka_unit_test(test_post_json_and_threads),
	    cmocka_unit_test(test_reply_made_inert_and_cut),
	    cmocka_unit_test(test_markdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
