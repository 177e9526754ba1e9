/*
 * test_queue_cli.c - the pieces of `frontdesk queue` that are not the store:
 * relative due times, fitting text to terminal columns (wide characters,
 * control characters, invalid UTF-8), and the usage errors (exit 2) that are
 * found before any configuration is read.  The commands themselves run
 * against a real daemon and store in tests/suites/queue_cli.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_cli.h"
#include "util.h"

static const time_t T0 = 1795000000;

static void rel(time_t due, time_t now, const char *want)
{
	char out[48];
	queue_relative(due, now, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("due %+lld s: got \"%s\", want \"%s\"", (long long)(due - now), out, want);
}

static void test_relative(void **state)
{
	(void)state;
	rel(T0 + 2 * 3600 + 10 * 60, T0, "in 2h 10m");
	rel(T0 + 2 * 3600 + 10 * 60 + 59, T0, "in 2h 10m");
	rel(T0 + 45 * 60, T0, "in 45m");
	rel(T0 + 3600, T0, "in 1h 0m");
	rel(T0 + 3 * 86400 + 4 * 3600 + 5, T0, "in 3d 4h");
	rel(T0 + 2 * 86400, T0, "in 2d");
	rel(T0 - 15 * 60, T0, "overdue 15m");
	rel(T0 - 26 * 3600, T0, "overdue 1d 2h");
	rel(T0 + 30, T0, "due now");
	rel(T0 - 59, T0, "due now");
	rel(T0 + 60, T0, "in 1m");
	rel(0, T0, "-");
}

static void fit(const char *in, size_t cols, const char *want)
{
	struct buf b;
	buf_init(&b, 0);
	queue_fit(&b, in, cols);
	const char *got = b.p ? b.p : "";
	if (strcmp(got, want) != 0)
		fail_msg("fit(\"%s\", %zu): got \"%s\", want \"%s\"", in ? in : "(null)", cols, got, want);
	buf_free(&b);
}

static void test_fit(void **state)
{
	(void)state;
	fit("hello world", 20, "hello world");
	fit("hello world", 11, "hello world");
	fit("hello world", 10, "hello wor…");
	fit("hello world", 1, "…");
	fit("", 10, "");
	fit(NULL, 10, "");
	/* Line breaks, tabs and terminal escapes never reach the terminal. */
	fit("  one\r\ntwo\tthree\x1b[2Jfour  ", 40, "one two three [2Jfour");
	fit("a\xc2\x9b"
	    "31mb",
	    40, "a 31mb");
	/* Wide characters take two columns and are never split. */
	fit("日本語テキスト", 6, "日本…");
	fit("日本語", 6, "日本語");
	/* Combining marks take none. */
	fit("e\xcc\x81te\xcc\x81", 3, "e\xcc\x81te\xcc\x81");
	/* Invalid bytes show as U+FFFD. */
	fit("a\xff"
	    "b",
	    10,
	    "a\xef\xbf\xbd"
	    "b");
	/* So do bidi overrides and isolates: "refund \u202E01$ 05\u202C" would
	 * otherwise show as "refund 50 $10" and read as another amount. */
	fit("refund \xe2\x80\xae"
	    "01$ 05\xe2\x80\xac ok \xe2\x81\xa7x\xe2\x81\xa9",
	    40,
	    "refund \xef\xbf\xbd"
	    "01$ 05\xef\xbf\xbd ok \xef\xbf\xbdx\xef\xbf\xbd");
	/* Right-to-left text and its marks stay as they are. */
	fit("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xe2\x80\x8f!", 20,
	    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xe2\x80\x8f!");
}

/* Usage errors come before the configuration: config_path may be NULL. */
static int run(const char *const *args)
{
	char *argv[16];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	return queue_main(NULL, argc, argv);
}

static void test_usage(void **state)
{
	(void)state;
	static const char *const help[] = {"queue", "--help", NULL};
	static const char *const none[] = {"queue", NULL};
	static const char *const unknown[] = {"queue", "lsit", NULL};
	static const char *const no_id[] = {"queue", "show", NULL};
	static const char *const bad_id[] = {"queue", "show", "abc", NULL};
	static const char *const zero_id[] = {"queue", "resolve", "0", NULL};
	static const char *const no_agent[] = {"queue", "claim", "4", NULL};
	static const char *const no_text[] = {"queue", "reply", "4", "--agent", "sam", NULL};
	static const char *const bad_status[] = {"queue", "list", "--status", "pending", NULL};
	static const char *const json_claim[] = {"queue", "claim", "4", "--agent", "sam", "--json", NULL};
	static const char *const agent_list[] = {"queue", "list", "--agent", "sam", NULL};
	static const char *const extra[] = {"queue", "release", "4", "5", NULL};
	static const char *const bad_opt[] = {"queue", "list", "--jsn", NULL};
	static const char *const no_config[] = {"queue", "list", NULL};

	assert_int_equal(run(help), 0);
	assert_int_equal(run(none), 2);
	assert_int_equal(run(unknown), 2);
	assert_int_equal(run(no_id), 2);
	assert_int_equal(run(bad_id), 2);
	assert_int_equal(run(zero_id), 2);
	assert_int_equal(run(no_agent), 2);
	assert_int_equal(run(no_text), 2);
	assert_int_equal(run(bad_status), 2);
	assert_int_equal(run(json_claim), 2);
	assert_int_equal(run(agent_list), 2);
	assert_int_equal(run(extra), 2);
	assert_int_equal(run(bad_opt), 2);
	/* Valid arguments but no configuration: still a usage error. */
	assert_int_equal(run(no_config), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relative),
	    cmocka_unit_test(test_fit),
	    cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
