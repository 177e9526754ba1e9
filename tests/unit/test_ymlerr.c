/*
 * test_ymlerr.c - YAML mistakes are reported as what to fix, at the line
 * where the mistake starts.  Every file of tests/data/yaml-mistakes/ is one
 * case: its first line "# expect LINE:COL: words" is the answer.  Plus:
 * valid YAML that merely looks odd is not refused, and errors nobody
 * translates keep libyaml's own words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yml.h"

#define CASES "tests/data/yaml-mistakes"

/* Load text; return the diagnostics (malloc'd) or NULL when it loaded. */
static char *load(const char *name, const char *text)
{
	struct yml_doc y;
	struct diag d;
	char *out = NULL;

	diag_init(&d);
	if (yml_load_mem(&y, name, text, strlen(text), &d) < 0) {
		assert_int_equal(d.errors, 1);
		out = xstrdup(d.out.p);
	}
	yml_free(&y);
	diag_free(&d);
	return out;
}

static void test_cases(void **state)
{
	glob_t g;
	(void)state;
	assert_int_equal(glob(CASES "/*.yaml", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 15);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i];
		struct yml_doc y;
		struct diag d;
		char want[512];

		FILE *f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(want, sizeof(want), f));
		fclose(f);
		want[strcspn(want, "\n")] = '\0';
		assert_true(strncmp(want, "# expect ", 9) == 0);

		diag_init(&d);
		int rc = yml_load_file(&y, path, &d);
		yml_free(&y);
		if (rc == 0)
			fail_msg("%s: loaded, but it is a mistake", path);
		/* "path:LINE:COL: message": the position must be exact, the
		 * message must contain the expected words. */
		char *prefix = xasprintf("%s:", path);
		const char *got = d.out.p;
		if (strncmp(got, prefix, strlen(prefix)) != 0)
			fail_msg("%s: got %s", path, got);
		const char *pos = got + strlen(prefix);
		const char *colon2 = strchr(strchr(want + 9, ':') + 1, ':');
		size_t poslen = (size_t)(colon2 - (want + 9));
		const char *words = colon2 + 2;
		if (strncmp(pos, want + 9, poslen) != 0 || !strstr(pos, words))
			fail_msg("%s:\n  want %s\n  got  %s", path, want + 9, pos);
		free(prefix);
		diag_free(&d);
	}
	globfree(&g);
}

/* The example of the report: a quote opened on line 40 and closed by the
 * next quote on line 43, where libyaml gave up ("43:52: while parsing a
 * block mapping did not find expected key"). */
static void test_quote_blamed_where_it_opens(void **state)
{
	struct buf b;
	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "business:\n");
	for (int i = 2; i < 40; i++)
		buf_printf(&b, "  key%d: value\n", i);
	buf_puts(&b, "  name: \"Acme Bakery\n");                                    /* line 40 */
	buf_puts(&b, "  timezone: Europe/London\n");                                /* 41 */
	buf_puts(&b, "  hours: { mon-fri: 09:00-17:30 }\n");                        /* 42 */
	buf_puts(&b, "  contact: { email: hello@acme.example, phone: \"+44\" }\n"); /* 43 */
	char *err = load("c.yaml", b.p);
	assert_non_null(err);
	const char *want = "c.yaml:40:9: a quote (\") opened here is never closed on this line, so YAML "
	                   "read on to line 43";
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got %s", err);
	free(err);
	buf_free(&b);
}

/* Valid YAML that looks like the mistakes above still loads. */
static void test_valid_not_refused(void **state)
{
	static const char *const ok[] = {
	    "name: \"Acme: Bakery\"\n",
	    "name: 'Sam''s Bakery'\n",
	    "name: Sam's Bakery\n",
	    "url: https://example.com:8443/x\n",
	    "text: \"one line\n  and a second\"\nnext: 1\n", /* a legal two-line quote */
	    "a:\n  b: 1\nc: 2\n",
	    "path: 'C:\\data'\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *err = load("ok.yaml", ok[i]);
		if (err)
			fail_msg("refused valid YAML %s: %s", ok[i], err);
	}
}

/* A legal two-line quote far above an unrelated mistake is not blamed. */
static void test_old_quote_not_blamed(void **state)
{
	(void)state;
	char *err = load("c.yaml", "text: \"one line\n  and two\"\na: 1\nb: 2\nc: [1, 2\nd: 3\n");
	assert_non_null(err);
	assert_non_null(strstr(err, "c.yaml:5:4: the '[' opened here is never closed"));
	free(err);
}

/* Errors without a translation keep libyaml's own words and position. */
static void test_untranslated_kept(void **state)
{
	(void)state;
	char *err = load("c.yaml", "a: &x 1\nb: &x 2\nc: !!binary \"%%%\"\n--- x\n--- :\n");
	if (err) {
		assert_non_null(strstr(err, "c.yaml:"));
		free(err);
	}
	err = load("c.yaml", "%YAML 1.1\n%YAML 1.1\n---\na: 1\n");
	assert_non_null(err);
	assert_non_null(strstr(err, "c.yaml:2:1: found duplicate %YAML directive"));
	free(err);
	err = load("c.yaml", "a: 1\n\xff\n");
	assert_non_null(err);
	assert_non_null(strstr(err, "must be UTF-8"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_quote_blamed_where_it_opens),
	    cmocka_unit_test(test_valid_not_refused),
	    cmocka_unit_test(test_old_quote_not_blamed),
	    cmocka_unit_test(test_untranslated_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
