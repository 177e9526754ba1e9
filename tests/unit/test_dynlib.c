/*
 * test_dynlib.c - a library opened at its first use: its functions
 * resolved and callable; a missing file or function reported by name,
 * with no pointer left into a library that is gone; tried once only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dynlib.h"
#include "util.h"

static void test_opens_and_resolves(void **state)
{
	(void)state;
	static double (*cos_fn)(double);
	static const struct dynlib_sym syms[] = {{"cos", &cos_fn}};
	static struct dynlib d = DYNLIB_INIT("libm", "libc6", syms);
	assert_false(dynlib_ready(&d));
	assert_int_equal(dynlib_open(&d, "libm.so.6"), 0);
	assert_true(dynlib_ready(&d));
	assert_non_null(cos_fn);
	assert_true(cos_fn(0.0) == 1.0);
	/* Later calls only say how the first went. */
	assert_int_equal(dynlib_open(&d, "libm.so.6"), 0);
}

static void test_missing_file(void **state)
{
	(void)state;
	static double (*cos_fn)(double);
	static const struct dynlib_sym syms[] = {{"cos", &cos_fn}};
	static struct dynlib d = DYNLIB_INIT("libm", "libc6", syms);
	assert_int_equal(dynlib_open(&d, "libfrontdesk-test-absent.so.9"), -1);
	assert_false(dynlib_ready(&d));
	assert_null(cos_fn);
	assert_non_null(strstr(d.error, "cannot load libfrontdesk-test-absent.so.9"));
	/* Tried once: missing at the first use, missing for the process. */
	assert_int_equal(dynlib_open(&d, "libm.so.6"), -1);
	assert_null(cos_fn);
	assert_non_null(strstr(d.error, "libfrontdesk-test-absent.so.9"));
}

static void test_missing_function(void **state)
{
	(void)state;
	static double (*cos_fn)(double);
	static double (*absent_fn)(double);
	static const struct dynlib_sym syms[] = {{"cos", &cos_fn}, {"frontdesk_test_absent", &absent_fn}};
	static struct dynlib d = DYNLIB_INIT("libm", "libc6", syms);
	assert_int_equal(dynlib_open(&d, "libm.so.6"), -1);
	assert_false(dynlib_ready(&d));
	/* The one found before is not left pointing into the closed library. */
	assert_null(cos_fn);
	assert_null(absent_fn);
	assert_non_null(strstr(d.error, "libm.so.6 has no frontdesk_test_absent"));
}

int main(void)
{
	log_threshold = LOG_ERROR + 1; /* the failures here are expected */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opens_and_resolves),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_missing_function),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
