/*
 * test_pq_load.c - libpq opened at its first use, when it is not
 * installed: a PostgreSQL store is refused with an error that says what to
 * install, and libpq's functions called anyway answer as libpq does for a
 * NULL connection or result instead of crashing.  (With the library there,
 * the store's own suite runs on PostgreSQL through the same functions.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store.h"
#include "store/pq_load.h"
#include "util.h"

#define ABSENT "libpq-frontdesk-test-absent.so.5"

static void test_store_refused_with_what_to_install(void **state)
{
	(void)state;
	char err[512] = "";
	struct store_conf c = {.url = "postgresql://frontdesk@localhost/frontdesk", .sync_full = 1};
	struct store *s = store_open(&c, err, sizeof(err));
	assert_null(s);
	assert_non_null(strstr(err, "store.url"));
	assert_non_null(strstr(err, "PostgreSQL's client library"));
	assert_non_null(strstr(err, "libpq5"));
	assert_non_null(strstr(err, ABSENT));
	assert_null(strchr(err, '\n'));
	/* The same answer every time: the library is tried once. */
	assert_non_null(pq_load_error());
	assert_non_null(strstr(pq_load_error(), ABSENT));
}

static void test_calls_fail_like_libpq(void **state)
{
	(void)state;
	const char *k[] = {"dbname", NULL}, *v[] = {"frontdesk", NULL};
	assert_null(PQconnectdb("dbname=frontdesk"));
	assert_null(PQconnectdbParams(k, v, 1));
	assert_null(PQconnectStartParams(k, v, 1));
	char *msg = (char *)"untouched";
	assert_null(PQconninfoParse("dbname=frontdesk", &msg));
	assert_null(msg);
	assert_int_equal(PQstatus(NULL), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(NULL), ABSENT));
	assert_int_equal(PQsocket(NULL), -1);
	assert_int_equal(PQconnectPoll(NULL), PGRES_POLLING_FAILED);
	assert_null(PQexec(NULL, "SELECT 1"));
	assert_int_equal(PQsendQueryParams(NULL, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0), 0);
	assert_null(PQgetResult(NULL));
	assert_int_equal(PQresultStatus(NULL), PGRES_FATAL_ERROR);
	assert_int_equal(PQntuples(NULL), 0);
	assert_int_equal(PQgetisnull(NULL, 0, 0), 1);
	assert_string_equal(PQresultErrorMessage(NULL), "");
	PQclear(NULL);
	PQfreemem(NULL);
	PQfinish(NULL);
}

int main(void)
{
	/* Before anything uses libpq: the file it will look for. */
	pq_load_soname = ABSENT;
	log_threshold = LOG_ERROR + 1; /* the refusal here is expected */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_refused_with_what_to_install),
	    cmocka_unit_test(test_calls_fail_like_libpq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
