/*
 * test_bridge.c - the bridge protocol's frames (bridge_wire.h): posts with
 * and without their optional members, what a post may not be, answers to
 * replies with and without a retry time, frames that are not frames, and
 * the frames the bot writes (read back as JSON), part ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connectors/bridge/bridge_wire.h"

static int parse(const char *s, struct bridge_frame *f, char *err, size_t n)
{
	return bridge_parse(s, strlen(s), f, err, n);
}

/* Parse s expecting a refusal whose reason contains `want`; returns the id
 * the error would name (borrowed until the next call), or NULL. */
static char last_id[600];
static const char *refused(const char *s, const char *want)
{
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	int rc = parse(s, &f, err, sizeof(err));
	if (rc == 0)
		fail_msg("accepted: %s", s);
	if (!strstr(err, want))
		fail_msg("for %s: error '%s' lacks '%s'", s, err, want);
	snprintf(last_id, sizeof(last_id), "%s", f.id ? f.id : "");
	int had = f.id != NULL;
	bridge_frame_free(&f);
	return had ? last_id : NULL;
}

static void test_post(void **state)
{
	(void)state;
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	const char *full = "{\"type\":\"post\",\"id\":\"irc-1733480000-7\",\"thread\":\"#bakery\","
	                   "\"author\":{\"id\":\"amy!~amy@host\",\"name\":\"Amy \\u00c5\\nB\",\"bot\":false},"
	                   "\"private\":true,\"text\":\"when are you open? \\ud83e\\udd50\","
	                   "\"ts\":\"2026-12-06T09:30:00Z\",\"extra\":{\"later\":1}}";
	assert_int_equal(parse(full, &f, err, sizeof(err)), 0);
	assert_int_equal(f.type, BRIDGE_POST);
	assert_string_equal(f.id, "irc-1733480000-7");
	assert_string_equal(f.thread, "#bakery");
	assert_string_equal(f.author_id, "amy!~amy@host");
	assert_string_equal(f.author_name, "Amy \xc3\x85 B"); /* a line break in a name is a space */
	assert_int_equal(f.author_bot, 0);
	assert_int_equal(f.is_private, 1);
	assert_string_equal(f.text, "when are you open? \xf0\x9f\xa5\x90");
	assert_int_equal((long long)f.ts, 1796549400LL);
	bridge_frame_free(&f);

	/* The optional members: private and bot false, no name, no time. */
	assert_int_equal(
	    parse("{\"type\":\"post\",\"id\":\"1\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":\"\"}",
	          &f, err, sizeof(err)),
	    0);
	assert_int_equal(f.is_private, 0);
	assert_int_equal(f.author_bot, 0);
	assert_null(f.author_name);
	assert_int_equal((long long)f.ts, 0);
	assert_string_equal(f.text, "");
	bridge_frame_free(&f);

	/* Another bot's post is read as such (stored, never answered). */
	assert_int_equal(
	    parse("{\"type\":\"post\",\"id\":\"2\",\"thread\":\"t\",\"author\":{\"id\":\"b\",\"bot\":true},"
	          "\"text\":\"hi\",\"private\":null}",
	          &f, err, sizeof(err)),
	    0);
	assert_int_equal(f.author_bot, 1);
	bridge_frame_free(&f);

	/* A name is cut at a character boundary. */
	char big[1200];
	strcpy(big, "{\"type\":\"post\",\"id\":\"3\",\"thread\":\"t\",\"author\":{\"id\":\"u\",\"name\":\"");
	for (int i = 0; i < 200; i++)
		strcat(big, "\xc3\xa9");
	strcat(big, "\"},\"text\":\"x\"}");
	assert_int_equal(parse(big, &f, err, sizeof(err)), 0);
	assert_true(strlen(f.author_name) <= BRIDGE_MAX_NAME);
	assert_int_equal(strlen(f.author_name) % 2, 0);
	bridge_frame_free(&f);
}

static void test_post_refused(void **state)
{
	(void)state;
	/* Each names the member, and the error names the post when it can. */
	assert_string_equal(
	    refused("{\"type\":\"post\",\"id\":\"9\",\"author\":{\"id\":\"u\"},\"text\":\"x\"}",
	            "post.thread"),
	    "9");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"\",\"author\":{\"id\":\"u\"},\"text\":\"x\"}",
	        "post.thread");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"a\\u0007b\",\"author\":{\"id\":\"u\"},\"text\":"
	        "\"x\"}",
	        "post.thread");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":\"u\",\"text\":\"x\"}",
	        "post.author");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":7},\"text\":\"x\"}",
	        "post.author.id");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\",\"name\":5},"
	        "\"text\":\"x\"}",
	        "post.author.name");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\",\"bot\":\"no\"},"
	        "\"text\":\"x\"}",
	        "post.author.bot");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"private\":1,"
	        "\"text\":\"x\"}",
	        "post.private");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\"}}", "post.text");
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":\"x\","
	        "\"ts\":\"yesterday\"}",
	        "post.ts");
	assert_null(
	    refused("{\"type\":\"post\",\"id\":5,\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":\"x\"}",
	            "post.id"));
	/* A NUL inside a text is not JSON jansson takes. */
	refused("{\"type\":\"post\",\"id\":\"9\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":"
	        "\"a\\u0000b\"}",
	        "malformed");
	/* Ids: 512 bytes are fine, 513 are not. */
	char frame[2000], id[600];
	memset(id, 'x', 513);
	id[513] = '\0';
	snprintf(
	    frame, sizeof(frame),
	    "{\"type\":\"post\",\"id\":\"%s\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":\"x\"}",
	    id);
	refused(frame, "post.id");
	id[512] = '\0';
	snprintf(
	    frame, sizeof(frame),
	    "{\"type\":\"post\",\"id\":\"%s\",\"thread\":\"t\",\"author\":{\"id\":\"u\"},\"text\":\"x\"}",
	    id);
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	assert_int_equal(parse(frame, &f, err, sizeof(err)), 0);
	bridge_frame_free(&f);
}

static void test_answers(void **state)
{
	(void)state;
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	assert_int_equal(parse("{\"type\":\"delivered\",\"id\":\"k1/2\"}", &f, err, sizeof(err)), 0);
	assert_int_equal(f.type, BRIDGE_DELIVERED);
	assert_string_equal(f.id, "k1/2");
	bridge_frame_free(&f);

	assert_int_equal(
	    parse("{\"type\":\"failed\",\"id\":\"k1\",\"retry_after_ms\":2500,\"error\":\"429\"}", &f, err,
	          sizeof(err)),
	    0);
	assert_int_equal(f.type, BRIDGE_FAILED);
	assert_int_equal(f.retry_after_ms, 2500);
	assert_string_equal(f.error, "429");
	bridge_frame_free(&f);

	/* Without a retry time (the outbox's backoff applies), a fraction, a huge one. */
	assert_int_equal(parse("{\"type\":\"failed\",\"id\":\"k1\"}", &f, err, sizeof(err)), 0);
	assert_int_equal(f.retry_after_ms, -1);
	assert_null(f.error);
	bridge_frame_free(&f);
	assert_int_equal(
	    parse("{\"type\":\"failed\",\"id\":\"k1\",\"retry_after_ms\":12.7}", &f, err, sizeof(err)), 0);
	assert_int_equal(f.retry_after_ms, 12);
	bridge_frame_free(&f);
	assert_int_equal(
	    parse("{\"type\":\"failed\",\"id\":\"k1\",\"retry_after_ms\":1e30}", &f, err, sizeof(err)), 0);
	assert_int_equal(f.retry_after_ms, BRIDGE_MAX_RETRY_MS);
	bridge_frame_free(&f);
	refused("{\"type\":\"failed\",\"id\":\"k1\",\"retry_after_ms\":-1}", "retry_after_ms");
	refused("{\"type\":\"failed\",\"id\":\"k1\",\"retry_after_ms\":\"5\"}", "retry_after_ms");
	refused("{\"type\":\"failed\",\"id\":\"k1\",\"error\":[]}", "failed.error");
	refused("{\"type\":\"delivered\"}", "delivered.id");
}

static void test_not_frames(void **state)
{
	(void)state;
	refused("", "malformed");
	refused("[1,2]", "malformed");
	refused("{\"type\":\"post\"", "malformed");
	refused("{\"type\":\"post\",\"type\":\"post\"}", "malformed"); /* duplicate keys */
	refused("{\"id\":\"1\"}", "needs a \"type\"");
	assert_string_equal(refused("{\"type\":\"reply\",\"id\":\"1\"}", "unknown frame type"), "1");
	refused("{\"type\":\"stored\",\"id\":\"1\"}", "unknown frame type");
	/* Over 64 KiB: refused before it is read. */
	size_t n = BRIDGE_MAX_FRAME + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	assert_int_equal(bridge_parse(big, n, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too large"));
	bridge_frame_free(&f);
	free(big);
}

static json_t *read_back(struct buf *b)
{
	json_t *o = json_loadb(b->p, b->len, 0, NULL);
	assert_non_null(o);
	buf_reset(b);
	return o;
}

static void test_frames_out(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);

	bridge_stored(&b, "p\"1");
	json_t *o = read_back(&b);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "stored");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "p\"1");
	json_decref(o);

	bridge_reply(&b, "key/2", "#bakery", "p1", 1, "Line one\nline <two> & \"three\"", "Sam");
	o = read_back(&b);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "reply");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "key/2");
	assert_string_equal(json_string_value(json_object_get(o, "thread")), "#bakery");
	assert_string_equal(json_string_value(json_object_get(o, "reply_to")), "p1");
	assert_true(json_is_true(json_object_get(o, "private")));
	assert_string_equal(json_string_value(json_object_get(o, "text")),
	                    "Line one\nline <two> & \"three\"");
	assert_string_equal(json_string_value(json_object_get(o, "agent")), "Sam");
	json_decref(o);

	/* No reply_to, no agent: left out; public is "private": false. */
	bridge_reply(&b, "k", "t", NULL, 0, "hi", NULL);
	o = read_back(&b);
	assert_null(json_object_get(o, "reply_to"));
	assert_null(json_object_get(o, "agent"));
	assert_true(json_is_false(json_object_get(o, "private")));
	json_decref(o);

	/* A text that is not UTF-8 writes nothing (the caller sees an empty buffer). */
	bridge_reply(&b, "k", "t", NULL, 0, "bad \xff byte", NULL);
	assert_int_equal(b.len, 0);

	bridge_error(&b, "post.thread: missing", "p9");
	o = read_back(&b);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "error");
	assert_string_equal(json_string_value(json_object_get(o, "error")), "post.thread: missing");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "p9");
	json_decref(o);
	bridge_error(&b, "malformed", NULL);
	o = read_back(&b);
	assert_null(json_object_get(o, "id"));
	json_decref(o);
	buf_free(&b);
}

static void test_part_ids(void **state)
{
	(void)state;
	char id[BRIDGE_MAX_REPLY_ID + 1];
	assert_int_equal(bridge_part_id(id, sizeof(id), "out-42", 0, 1), 6);
	assert_string_equal(id, "out-42");
	assert_true(bridge_part_id(id, sizeof(id), "out-42", 0, 3) > 0);
	assert_string_equal(id, "out-42/1");
	bridge_part_id(id, sizeof(id), "out-42", 2, 3);
	assert_string_equal(id, "out-42/3");
	char small[6];
	assert_int_equal(bridge_part_id(small, sizeof(small), "out-42", 0, 1), -1);
	/* The longest key with a part number still reads back as a reply id. */
	char key[BRIDGE_MAX_ID + 1], frame[800];
	memset(key, 'k', BRIDGE_MAX_ID);
	key[BRIDGE_MAX_ID] = '\0';
	assert_true(bridge_part_id(id, sizeof(id), key, 15, 16) > BRIDGE_MAX_ID);
	snprintf(frame, sizeof(frame), "{\"type\":\"delivered\",\"id\":\"%s\"}", id);
	struct bridge_frame f;
	char err[BRIDGE_ERR];
	assert_int_equal(parse(frame, &f, err, sizeof(err)), 0);
	assert_string_equal(f.id, id);
	bridge_frame_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_post),       cmocka_unit_test(test_post_refused),
	    cmocka_unit_test(test_answers),    cmocka_unit_test(test_not_frames),
	    cmocka_unit_test(test_frames_out), cmocka_unit_test(test_part_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
