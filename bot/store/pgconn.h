/*
 * store/pgconn.h - one PostgreSQL connection driven by the daemon's libuv
 * loop through libpq's non-blocking API: queries go out in pipeline mode
 * (no round trip waited for between them), each with a callback that gets
 * its result; the socket is watched with a uv_poll; a lost connection is
 * made again with backoff.  Nothing here blocks the loop, except
 * pgconn_open (at start-up, before the loop runs) and pgconn_stop (at
 * teardown, bounded).
 *
 * Without a loop (command-line tools), and after pgconn_stop, every query
 * runs before pgconn_query returns, blocking.
 *
 * Operations: a caller sends the queries of one operation, then
 * pgconn_sync(): the server answers up to there, and an error in one
 * operation stops at its sync (the queries after the error until then are
 * answered PGRES_PIPELINE_ABORTED).  Queries run in the order sent.
 *
 * Failure: pgconn_query returns -1 (and calls nothing) when the
 * connection is down; a callback gets NULL when its query was sent but the
 * connection was lost before its answer (it may or may not have run: the
 * caller's transaction, if any, did not commit).  Callbacks run in the
 * order queries were sent.  `up` is told every change between up and
 * down; a connection comes back by itself.
 *
 * Ownership: results handed to callbacks are borrowed for the callback.
 * pgconn_free after pgconn_stop and after the loop ran its close callbacks.
 */
#ifndef FD_STORE_PGCONN_H
#define FD_STORE_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <uv.h>

struct pgconn;
typedef void (*pgconn_fn)(void *arg, const PGresult *res);

struct pgconn_conf {
	const char *url;          /* libpq URI or key=value string (not logged: it may hold a password) */
	const char *where;        /* the same without secrets, for the log */
	const char *label;        /* "store", "watch": which connection, for the log */
	const char *node;         /* which process (store_conf.node), for the server to show */
	uv_loop_t *loop;          /* NULL: blocking */
	const char *const *setup; /* commands run on every new connection (NULL-terminated), or NULL */
	const char *const *stmts; /* statements prepared on every new connection (index = id) */
	size_t nstmts;
	void (*up)(void *arg, int up);
	void (*notify)(void *arg, const char *channel, const char *payload);
	void *arg;
};

/* Connect now (blocking) and run the setup; NULL with err when the server
 * cannot be reached or refuses. */
struct pgconn *pgconn_open(const struct pgconn_conf *conf, char *err, size_t errn);

/* Queue one query: the prepared statement `stmt` (>= 0), or `sql` when
 * stmt < 0; n text parameters (NULL = SQL NULL).  0 queued (cb follows
 * exactly once), -1 refused (down; cb is not called). */
int pgconn_query(struct pgconn *c, int stmt, const char *sql, int n, const char *const *vals, pgconn_fn cb,
                 void *arg);
/* End of an operation (see above). */
void pgconn_sync(struct pgconn *c);

int pgconn_up(const struct pgconn *c);
/* Queries sent and not answered yet. */
size_t pgconn_waiting(const struct pgconn *c);
/* The last error libpq gave (a line, no secrets), "" none. */
const char *pgconn_error(const struct pgconn *c);
/* Drop the connection (a query that never answers, say): fail what waits,
 * connect again after a backoff. */
void pgconn_reset(struct pgconn *c, const char *why);
/* Teardown: wait (at most a few seconds) for what was sent, then run
 * blocking without the loop's handles. */
void pgconn_stop(struct pgconn *c);
void pgconn_free(struct pgconn *c);

/* Helpers for results: the value as text ("" for NULL), as an integer (0
 * for NULL), and whether the result is what a query that worked gives. */
const char *pg_text(const PGresult *r, int row, int col);
long long pg_int(const PGresult *r, int row, int col);
int pg_ok(const PGresult *r);

#endif
