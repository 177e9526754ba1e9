/*
 * test_pipeline.c - the decision, pinned by data: every file in
 * tests/data/pipeline/cases/ is one case (time, post, thread state, the
 * expected fields of the decision record), run against the test business in
 * tests/data/pipeline/config.yaml.  A bug is fixed when a case for it exists.
 *
 * Case file:
 *   {"at": ISO-8601, "post": {"text", "public"?, "is_self"?, "bot"?, "staff"?, "author_name"?, "channel"?},
 *    "thread": {"owner"?: "waiting|claimed", "agent"?, "ticket_id"?, "ticket_due"?,
 *               "last_ack"?, "last_waiting_notice"?, "duplicate"?, "ticket_private"?},
 *    "expect": {<decision record fields>..., "reply_contains"?: [substrings]}}
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "pipeline.h"

#define CASES  "tests/data/pipeline/cases"
#define CONFIG "tests/data/pipeline/config.yaml"

static time_t when(json_t *v)
{
	time_t t = 0;
	if (json_is_string(v))
		assert_int_equal(time_parse_iso(json_string_value(v), &t), 0);
	return t;
}

/* Compare one expected field with the record; returns 1 when equal. */
static int field_ok(const char *name, json_t *want, json_t *rec, const char *reply, struct buf *why)
{
	if (!strcmp(name, "reply_contains")) {
		size_t i;
		json_t *s;
		int ok = 1;
		json_array_foreach(want, i, s)
		{
			if (!reply || !strstr(reply, json_string_value(s))) {
				buf_printf(why, "  reply does not contain \"%s\" (reply: %s)\n",
				           json_string_value(s), reply ? reply : "null");
				ok = 0;
			}
		}
		return ok;
	}
	json_t *got = json_object_get(rec, name);
	if (got && json_equal(want, got))
		return 1;
	char *w = json_dumps(want, JSON_ENCODE_ANY), *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
	buf_printf(why, "  %s: expected %s, got %s\n", name, w, g ? g : "(missing)");
	free(w);
	free(g);
	return 0;
}

static int run_case(struct engine *e, const char *path, struct buf *why)
{
	json_error_t err;
	json_t *c = json_load_file(path, 0, &err);
	if (!c) {
		buf_printf(why, "  cannot parse: %s line %d\n", err.text, err.line);
		return 0;
	}
	json_t *jp = json_object_get(c, "post"), *jt = json_object_get(c, "thread");
	json_t *expect = json_object_get(c, "expect");
	time_t now = when(json_object_get(c, "at"));
	struct post p;
	struct thread_state ts;
	struct decision d;

	memset(&p, 0, sizeof(p));
	p.platform = "test";
	p.post_id = path;
	p.thread_key = "t1";
	p.author_handle = "customer";
	p.author_name = json_string_value(json_object_get(jp, "author_name"));
	p.channel = json_string_value(json_object_get(jp, "channel"));
	p.text = json_string_value(json_object_get(jp, "text"));
	p.is_public = json_is_true(json_object_get(jp, "public"));
	p.is_self = json_is_true(json_object_get(jp, "is_self"));
	p.author_is_bot = json_is_true(json_object_get(jp, "bot"));
	p.from_staff = json_is_true(json_object_get(jp, "staff"));
	p.created = now;

	memset(&ts, 0, sizeof(ts));
	if (jt) {
		const char *owner = json_string_value(json_object_get(jt, "owner"));
		ts.owner = !owner ? THREAD_BOT : !strcmp(owner, "claimed") ? THREAD_CLAIMED : THREAD_WAITING;
		ts.agent = json_string_value(json_object_get(jt, "agent"));
		ts.ticket_id = json_integer_value(json_object_get(jt, "ticket_id"));
		ts.ticket_due = when(json_object_get(jt, "ticket_due"));
		ts.last_ack = when(json_object_get(jt, "last_ack"));
		ts.last_waiting_notice = when(json_object_get(jt, "last_waiting_notice"));
		ts.duplicate = json_is_true(json_object_get(jt, "duplicate"));
		ts.ticket_private = json_is_true(json_object_get(jt, "ticket_private"));
	}

	pipeline_decide(e, &p, &ts, now, &d);
	struct buf out;
	buf_init(&out, 0);
	decision_json(e, &d, "case", &out);
	json_t *rec = json_loads(out.p, 0, &err);
	assert_non_null(rec);

	int ok = 1;
	const char *k;
	json_t *v;
	json_object_foreach(expect, k, v)
	{
		if (!field_ok(k, v, rec, d.reply, why))
			ok = 0;
	}
	if (!ok)
		buf_printf(why, "  record: %s\n", out.p);
	json_decref(rec);
	buf_free(&out);
	decision_free(&d);
	json_decref(c);
	return ok;
}

static void test_cases(void **state)
{
	(void)state;
	struct diag dg;
	diag_init(&dg);
	struct engine *e = engine_load(CONFIG, &dg);
	if (!e)
		fprintf(stderr, "%s", dg.out.p ? dg.out.p : "");
	assert_non_null(e);
	diag_free(&dg);

	struct dirent **names;
	int n = scandir(CASES, &names, NULL, alphasort);
	assert_true(n > 2);
	int run = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		if (len > 5 && !strcmp(name + len - 5, ".json")) {
			char path[512];
			struct buf why;
			snprintf(path, sizeof(path), "%s/%s", CASES, name);
			buf_init(&why, 0);
			run++;
			if (!run_case(e, path, &why)) {
				failed++;
				fprintf(stderr, "case %s FAILED\n%s", name, why.p ? why.p : "");
			}
			buf_free(&why);
		}
		free(names[i]);
	}
	free(names);
	engine_free(e);
	printf("pipeline cases: %d run, %d failed\n", run, failed);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
