/*
 * store/copy.c - `frontdesk migrate`: every row of a SQLite store copied
 * into an empty PostgreSQL database (store_copy in store.h).
 *
 * Both stores are first brought to the current schema by their own
 * backends (store_open), so the copy moves the same tables and columns
 * (schema_tables) from one to the other.  The source is read in one read
 * transaction: a consistent snapshot even while a daemon still writes it
 * (what it writes after that is not copied).  The target is written in one
 * transaction with COPY; ids are kept, and each table's id sequence is set
 * past the largest one, so new rows never take an old id.  A failure
 * leaves the target as it was.  Blocking: a command-line operation.
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store/schema.h"
#include "util.h"

#define COPY_CHUNK 65536 /* bytes of COPY data sent at a time */

/* Append v to b in COPY's text format (\N for NULL; backslash escapes). */
static void copy_field(struct buf *b, const unsigned char *v)
{
	if (!v) {
		buf_puts(b, "\\N");
		return;
	}
	for (; *v; v++) {
		switch (*v) {
		case '\\': buf_puts(b, "\\\\"); break;
		case '\t': buf_puts(b, "\\t"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		default: buf_putc(b, (char)*v);
		}
	}
}

/* Run one statement on c that returns no rows; 0 or -1 with err. */
static int pg_run(PGconn *c, const char *sql, char *err, size_t errn)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errn, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok ? 0 : -1;
}

/* The rows of target table t, or -1 with err. */
static long long pg_rows(PGconn *c, const char *table, char *err, size_t errn)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	PGresult *r = PQexec(c, sql);
	long long n = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = atoll(PQgetvalue(r, 0, 0));
	else
		snprintf(err, errn, "%s: %s", table, PQresultErrorMessage(r));
	PQclear(r);
	return n;
}

/* Copy one table from db into c (inside c's transaction); its rows in *n. */
static int copy_table(sqlite3 *db, PGconn *c, const struct schema_table *t, long long *n, char *err,
                      size_t errn)
{
	struct buf cols, b;
	sqlite3_stmt *st = NULL;
	int rc = -1, ncols = 0;

	buf_init(&cols, 0);
	buf_init(&b, 0);
	for (const char *const *col = t->columns; *col; col++, ncols++)
		buf_printf(&cols, "%s%s", ncols ? ", " : "", *col);
	char *sql = xasprintf("SELECT %s FROM %s%s", cols.p, t->name, t->has_id ? " ORDER BY id" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errn, "reading %s: %s", t->name, sqlite3_errmsg(db));
		goto out;
	}
	free(sql);
	sql = xasprintf("COPY %s (%s) FROM STDIN", t->name, cols.p);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		snprintf(err, errn, "writing %s: %s", t->name, PQresultErrorMessage(r));
		PQclear(r);
		goto out;
	}
	PQclear(r);

	int step;
	*n = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncols; i++) {
			if (i)
				buf_putc(&b, '\t');
			copy_field(&b, sqlite3_column_text(st, i));
		}
		buf_putc(&b, '\n');
		++*n;
		if (b.len >= COPY_CHUNK) {
			if (PQputCopyData(c, b.p, (int)b.len) != 1)
				break;
			b.len = 0;
		}
	}
	const char *why = step != SQLITE_DONE ? sqlite3_errmsg(db) : NULL;
	int sent = (!b.len || PQputCopyData(c, b.p, (int)b.len) == 1) &&
	           PQputCopyEnd(c, why ? "the source could not be read" : NULL) == 1;
	r = PQgetResult(c);
	if (why)
		snprintf(err, errn, "reading %s: %s", t->name, why);
	else if (!sent || PQresultStatus(r) != PGRES_COMMAND_OK)
		snprintf(err, errn, "writing %s: %s", t->name,
		         sent ? PQresultErrorMessage(r) : PQerrorMessage(c));
	else
		rc = 0;
	PQclear(r);
	while ((r = PQgetResult(c)))
		PQclear(r);
	if (rc == 0 && t->has_id) {
		/* New rows continue after the copied ones. */
		free(sql);
		sql = xasprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'),"
		                " COALESCE((SELECT max(id) FROM %s), 0) + 1, false)",
		                t->name, t->name);
		if (pg_run(c, sql, err, errn) < 0)
			rc = -1;
	}
out:
	free(sql);
	sqlite3_finalize(st);
	buf_free(&cols);
	buf_free(&b);
	return rc;
}

/* Bring the store conf names to the current schema, by its own backend. */
static int bring_up(const struct store_conf *conf, char *where, size_t wn, char *err, size_t errn)
{
	struct store *s = store_open(conf, err, errn);
	if (!s)
		return -1;
	snprintf(where, wn, "%s", store_where(s));
	store_close(s);
	return 0;
}

int store_copy(const char *path, const char *url, FILE *report, char *err, size_t errn)
{
	char from[512], to[512];
	struct store_conf sc = {.path = path}, pc = {.url = url};
	sqlite3 *db = NULL;
	PGconn *c = NULL;
	int rc = -1;

	if (!path || !*path || !url || !*url) {
		snprintf(err, errn, "a SQLite file and a PostgreSQL URL are needed");
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errn, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_close(db);
	db = NULL;
	if (bring_up(&sc, from, sizeof(from), err, errn) < 0 || bring_up(&pc, to, sizeof(to), err, errn) < 0)
		goto out;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errn, "cannot open %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	const char *k[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *v[] = {"frontdesk migrate", "10", url, NULL};
	c = PQconnectdbParams(k, v, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errn, "cannot connect to %s: %s", to, c ? PQerrorMessage(c) : "out of memory");
		goto out;
	}
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errn, "cannot read %s: %s", from, sqlite3_errmsg(db));
		goto out;
	}
	/* One transaction, and no other process writing the tables meanwhile
	 * (a daemon already running on the target would). */
	if (pg_run(c, "SET client_min_messages = warning", err, errn) < 0 ||
	    pg_run(c, "BEGIN", err, errn) < 0)
		goto out;
	{
		struct buf lock;
		buf_init(&lock, 0);
		buf_puts(&lock, "LOCK TABLE ");
		for (size_t i = 0; i < schema_ntables; i++)
			buf_printf(&lock, "%s%s", i ? ", " : "", schema_tables[i].name);
		buf_puts(&lock, " IN EXCLUSIVE MODE NOWAIT");
		int locked = pg_run(c, lock.p, err, errn);
		buf_free(&lock);
		if (locked < 0) {
			snprintf(err, errn, "%s is in use (is frontdesk running on it?)", to);
			goto out;
		}
	}
	for (size_t i = 0; i < schema_ntables; i++) {
		long long have = pg_rows(c, schema_tables[i].name, err, errn);
		if (have < 0)
			goto out;
		if (have > 0) {
			snprintf(
			    err, errn,
			    "%s already holds data (%lld rows in %s): migrate fills an empty database only",
			    to, have, schema_tables[i].name);
			goto out;
		}
	}
	for (size_t i = 0; i < schema_ntables; i++) {
		long long n = 0;
		if (copy_table(db, c, &schema_tables[i], &n, err, errn) < 0)
			goto out;
		if (report)
			fprintf(report, "%-16s %lld rows\n", schema_tables[i].name, n);
	}
	if (pg_run(c, "COMMIT", err, errn) < 0)
		goto out;
	if (report)
		fprintf(report, "copied %s to %s\n", from, to);
	rc = 0;
out:
	for (char *p = err; rc < 0 && *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (c)
		PQfinish(c);
	if (db)
		sqlite3_close(db);
	return rc;
}
