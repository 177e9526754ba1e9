/*
 * store/pgconn.c - a PostgreSQL connection on the libuv loop (see pgconn.h).
 *
 * The queue holds what was sent and not yet answered, in order: a query
 * (its results, then a NULL from PQgetResult, end it) or a sync point (one
 * PGRES_PIPELINE_SYNC ends it).  libpq reads the socket only when asked
 * (PQconsumeInput on readable), and writes what it could not send at once
 * when asked (PQflush on writable): the uv_poll watches for writable only
 * while something waits to go out.
 *
 * The socket may change while a connection is made (libpq tries the next
 * address, or again without TLS): the poll is stopped around every
 * PQconnectPoll and made anew when the descriptor is another one, so libuv
 * never watches a descriptor libpq closed.
 */
#include "store/pgconn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 10000
#define RETRY_MIN_MS       250
#define RETRY_BASE_MS      500
#define RETRY_CAP_MS       30000
#define STOP_WAIT_MS       5000

struct item {
	struct item *next;
	pgconn_fn cb; /* NULL for the connection's own queries */
	void *arg;
	PGresult *res;
	int sync;
};

struct pgpoll {
	uv_poll_t h;
	int fd;
};

enum state { DOWN = 0, CONNECTING, UP };

struct pgconn {
	struct pgconn_conf conf; /* strings and lists copied */
	char **setup;
	char **stmts;
	PGconn *pg;
	enum state state;
	int blocking; /* no loop, or stopped: queries run at once */
	struct pgpoll *poll;
	int poll_events;
	uv_timer_t timer; /* reconnect backoff, or the connect deadline */
	int timer_open;
	int fails;
	int processing;
	struct item *head, *tail;
	size_t waiting;
	char appname[64];
	char err[256];
};

const char *pg_text(const PGresult *r, int row, int col)
{
	return r && !PQgetisnull(r, row, col) ? PQgetvalue(r, row, col) : "";
}

long long pg_int(const PGresult *r, int row, int col)
{
	const char *v = pg_text(r, row, col);
	if (*v == 't')
		return 1; /* a boolean */
	return strtoll(v, NULL, 10);
}

int pg_ok(const PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* libpq's message for the last failure, on one line. */
static void keep_error(struct pgconn *c, const char *msg)
{
	snprintf(c->err, sizeof(c->err), "%s", msg && *msg ? msg : "unknown error");
	for (char *p = c->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	size_t n = strlen(c->err);
	while (n > 0 && c->err[n - 1] == ' ')
		c->err[--n] = '\0';
}

const char *pgconn_error(const struct pgconn *c)
{
	return c->err;
}

int pgconn_up(const struct pgconn *c)
{
	return c->state == UP;
}

size_t pgconn_waiting(const struct pgconn *c)
{
	return c->waiting;
}

static char **copy_list(const char *const *v, size_t n)
{
	if (!v)
		return NULL;
	if (n == (size_t)-1)
		for (n = 0; v[n]; n++)
			;
	char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* --- the queue --------------------------------------------------------------- */

static void push(struct pgconn *c, pgconn_fn cb, void *arg, int sync)
{
	struct item *it = xcalloc(1, sizeof(*it));
	it->cb = cb;
	it->arg = arg;
	it->sync = sync;
	if (c->tail)
		c->tail->next = it;
	else
		c->head = it;
	c->tail = it;
	if (!sync)
		c->waiting++;
}

static struct item *pop(struct pgconn *c)
{
	struct item *it = c->head;
	if (!it)
		return NULL;
	c->head = it->next;
	if (!c->head)
		c->tail = NULL;
	if (!it->sync)
		c->waiting--;
	return it;
}

/* Fail everything that waits: its callbacks get NULL, in order. */
static void fail_all(struct pgconn *c)
{
	struct item *it;
	while ((it = pop(c))) {
		if (it->cb && !it->sync)
			it->cb(it->arg, NULL);
		PQclear(it->res);
		free(it);
	}
}

/* --- the socket ------------------------------------------------------------- */

static void poll_closed(uv_handle_t *h)
{
	free((struct pgpoll *)(void *)h); /* h is its first member */
}

static void unwatch(struct pgconn *c)
{
	if (!c->poll)
		return;
	uv_close((uv_handle_t *)&c->poll->h, poll_closed);
	c->poll = NULL;
	c->poll_events = 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Watch libpq's socket for `events` (made anew when it is another one). */
static int watch(struct pgconn *c, int events)
{
	int fd = PQsocket(c->pg);
	if (fd < 0)
		return -1;
	if (c->poll && c->poll->fd != fd)
		unwatch(c);
	if (!c->poll) {
		c->poll = xcalloc(1, sizeof(*c->poll));
		c->poll->fd = fd;
		c->poll->h.data = c;
		if (uv_poll_init(c->conf.loop, &c->poll->h, fd) != 0) {
			free(c->poll);
			c->poll = NULL;
			return -1;
		}
		c->poll_events = 0;
	}
	if (events != c->poll_events) {
		if (uv_poll_start(&c->poll->h, events, on_poll) != 0)
			return -1;
		c->poll_events = events;
	}
	return 0;
}

static void lost(struct pgconn *c, const char *why);

/* Send what libpq holds; watch for writable while some of it is left. */
static void flush(struct pgconn *c)
{
	if (c->state != UP || c->blocking)
		return;
	int r = PQflush(c->pg);
	if (r < 0) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0)) < 0)
		lost(c, "cannot watch the socket");
}

/* --- connecting ---------------------------------------------------------------- */

static void connect_start(struct pgconn *c);

static void timer_cb(uv_timer_t *t)
{
	struct pgconn *c = t->data;
	if (c->state == CONNECTING) {
		lost(c, "timed out connecting");
		return;
	}
	if (c->state == DOWN && !c->blocking)
		connect_start(c);
}

static void retry_later(struct pgconn *c)
{
	if (c->blocking || !c->timer_open)
		return;
	long ms = backoff_ms(c->fails < 30 ? c->fails : 30, RETRY_MIN_MS, RETRY_BASE_MS, RETRY_CAP_MS);
	if (c->fails < 1000)
		c->fails++;
	uv_timer_start(&c->timer, timer_cb, (uint64_t)ms, 0);
}

/*
 * The connection is gone (or never came): everything waiting fails, the
 * owner is told, and a new one is tried after a backoff.
 */
static void lost(struct pgconn *c, const char *why)
{
	int was_up = c->state == UP;
	keep_error(c, why);
	unwatch(c);
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->state = DOWN;
	if (c->timer_open)
		uv_timer_stop(&c->timer);
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, c->err);
	if (was_up || c->fails == 0)
		log_error("database connection lost: reconnecting", "conn=%s db=%s error=%s", c->conf.label,
		          c->conf.where, b.p);
	else
		log_warn("database connection failed: will retry", "conn=%s db=%s error=%s", c->conf.label,
		         c->conf.where, b.p);
	buf_free(&b);
	fail_all(c);
	if (was_up && c->conf.up)
		c->conf.up(c->conf.arg, 0);
	retry_later(c);
}

void pgconn_reset(struct pgconn *c, const char *why)
{
	if (c->state != DOWN && !c->blocking)
		lost(c, why);
}

/* Queue the setup commands and the statements of a new connection (their
 * results need nobody: a failure shows in the queries that use them). */
static int prime(struct pgconn *c)
{
	for (size_t i = 0; c->setup && c->setup[i]; i++) {
		if (!PQsendQueryParams(c->pg, c->setup[i], 0, NULL, NULL, NULL, NULL, 0))
			return -1;
		push(c, NULL, NULL, 0);
	}
	for (size_t i = 0; i < c->conf.nstmts; i++) {
		char name[32];
		snprintf(name, sizeof(name), "q%zu", i);
		if (!PQsendPrepare(c->pg, name, c->stmts[i], 0, NULL))
			return -1;
		push(c, NULL, NULL, 0);
	}
	if (!PQpipelineSync(c->pg))
		return -1;
	push(c, NULL, NULL, 1);
	return 0;
}

/* A connection is made: pipeline mode, its statements, and tell the owner. */
static void connected(struct pgconn *c)
{
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->timer_open)
		uv_timer_stop(&c->timer);
	c->state = UP;
	if (prime(c) < 0) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->fails)
		log_info("database connection made again", "conn=%s db=%s", c->conf.label, c->conf.where);
	c->fails = 0;
	c->err[0] = '\0';
	flush(c);
	if (c->state == UP && c->conf.up)
		c->conf.up(c->conf.arg, 1);
}

/* One step of PQconnectPoll, then wait for what it asks for. */
static void connect_step(struct pgconn *c)
{
	if (c->poll && c->poll_events) {
		uv_poll_stop(&c->poll->h);
		c->poll_events = 0;
	}
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_OK: connected(c); return;
	case PGRES_POLLING_READING:
		if (watch(c, UV_READABLE) < 0)
			lost(c, "cannot watch the socket");
		return;
	case PGRES_POLLING_WRITING:
		if (watch(c, UV_WRITABLE) < 0)
			lost(c, "cannot watch the socket");
		return;
	default: lost(c, PQerrorMessage(c->pg)); return;
	}
}

/* The server's notices (a NOTICE from a statement) are not errors: debug. */
static void notice(void *arg, const char *message)
{
	struct pgconn *c = arg;
	struct buf b;
	buf_init(&b, 0);
	log_quote(&b, message);
	log_debug("database notice", "conn=%s notice=%s", c->conf.label, b.p);
	buf_free(&b);
}

/*
 * A connection to c's URL.  Keywords the URL does not set: the name the
 * server shows for it (frontdesk/<label>/<node>: which process, which
 * connection), and keepalives that find a dead peer (a machine gone, a
 * cable pulled) within about 20 s; connect_timeout only counts for a
 * blocking connect.  The URL comes last, so what it says wins.
 */
static PGconn *start(struct pgconn *c, int blocking)
{
	const char *k[] = {"application_name", "keepalives",      "keepalives_idle", "keepalives_interval",
	                   "keepalives_count", "connect_timeout", "dbname",          NULL};
	const char *v[] = {c->appname, "1", "10", "5", "2", "10", c->conf.url, NULL};
	PGconn *pg = blocking ? PQconnectdbParams(k, v, 1) : PQconnectStartParams(k, v, 1);
	if (pg)
		PQsetNoticeProcessor(pg, notice, c);
	return pg;
}

static void connect_start(struct pgconn *c)
{
	c->pg = start(c, 0);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	c->state = CONNECTING;
	if (c->timer_open)
		uv_timer_start(&c->timer, timer_cb, CONNECT_TIMEOUT_MS, 0);
	/* "behave as if it last returned PGRES_POLLING_WRITING" */
	if (watch(c, UV_WRITABLE) < 0)
		lost(c, "cannot watch the socket");
}

/* --- results ---------------------------------------------------------------- */

static void notifies(struct pgconn *c)
{
	PGnotify *n;
	while (c->pg && (n = PQnotifies(c->pg))) {
		if (c->conf.notify)
			c->conf.notify(c->conf.arg, n->relname, n->extra);
		PQfreemem(n);
	}
}

/* Hand every complete answer to its query, in order. */
static void process(struct pgconn *c)
{
	c->processing++;
	while (c->state == UP && c->head && !PQisBusy(c->pg)) {
		struct item *it = c->head;
		PGresult *r = PQgetResult(c->pg);
		if (it->sync) {
			ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
			PQclear(r);
			if (st != PGRES_PIPELINE_SYNC) {
				lost(c, "out of step with the server");
				break;
			}
			free(pop(c));
			continue;
		}
		if (r) {
			if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
				PQclear(r);
				lost(c, "out of step with the server");
				break;
			}
			PQclear(it->res);
			it->res = r;
			continue;
		}
		/* NULL: the query's answer is complete. */
		pop(c);
		if (it->cb)
			it->cb(it->arg, it->res);
		PQclear(it->res);
		free(it);
	}
	if (c->state == UP)
		notifies(c);
	if (c->state == UP && PQstatus(c->pg) == CONNECTION_BAD)
		lost(c, PQerrorMessage(c->pg));
	c->processing--;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct pgconn *c = h->data;
	if (c->state == CONNECTING) {
		connect_step(c);
		return;
	}
	if (c->state != UP)
		return;
	if (status < 0) {
		lost(c, uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE) {
		flush(c);
		if (c->state != UP)
			return;
	}
	if (events & UV_READABLE) {
		if (!PQconsumeInput(c->pg)) {
			lost(c, PQerrorMessage(c->pg));
			return;
		}
		process(c);
		flush(c);
	}
}

/* --- queries ------------------------------------------------------------------ */

static int send_query(struct pgconn *c, int stmt, const char *sql, int n, const char *const *vals)
{
	if (stmt >= 0) {
		char name[32];
		snprintf(name, sizeof(name), "q%d", stmt);
		return PQsendQueryPrepared(c->pg, name, n, vals, NULL, NULL, 0);
	}
	return PQsendQueryParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0);
}

int pgconn_query(struct pgconn *c, int stmt, const char *sql, int n, const char *const *vals, pgconn_fn cb,
                 void *arg)
{
	if (c->blocking) {
		if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
			return -1;
		const char *text = stmt >= 0 ? c->stmts[stmt] : sql;
		PGresult *r = PQexecParams(c->pg, text, n, NULL, vals, NULL, NULL, 0);
		if (!pg_ok(r))
			keep_error(c, PQresultErrorMessage(r));
		if (PQstatus(c->pg) != CONNECTION_OK) {
			keep_error(c, PQerrorMessage(c->pg));
			PQclear(r);
			r = NULL;
		}
		cb(arg, r);
		PQclear(r);
		return 0;
	}
	if (c->state != UP)
		return -1;
	if (!send_query(c, stmt, sql, n, vals)) {
		lost(c, PQerrorMessage(c->pg));
		return -1;
	}
	push(c, cb, arg, 0);
	return 0;
}

void pgconn_sync(struct pgconn *c)
{
	if (c->blocking || c->state != UP)
		return;
	if (!PQpipelineSync(c->pg)) {
		lost(c, PQerrorMessage(c->pg));
		return;
	}
	push(c, NULL, NULL, 1);
	flush(c);
}

/* --- opening and closing -------------------------------------------------------- */

struct pgconn *pgconn_open(const struct pgconn_conf *conf, char *err, size_t errn)
{
	struct pgconn *c = xcalloc(1, sizeof(*c));
	c->conf = *conf;
	c->conf.url = xstrdup(conf->url);
	c->conf.where = xstrdup(conf->where ? conf->where : "postgresql");
	c->conf.label = xstrdup(conf->label ? conf->label : "store");
	c->setup = copy_list(conf->setup, (size_t)-1);
	c->stmts = copy_list(conf->stmts, conf->nstmts);
	c->blocking = conf->loop == NULL;
	snprintf(c->appname, sizeof(c->appname), "frontdesk/%s/%s", c->conf.label,
	         conf->node ? conf->node : "-");

	c->pg = start(c, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		keep_error(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		snprintf(err, errn, "cannot connect to %s: %s", c->conf.where, c->err);
		pgconn_free(c);
		return NULL;
	}
	for (size_t i = 0; c->setup && c->setup[i]; i++) {
		PGresult *r = PQexec(c->pg, c->setup[i]);
		int ok = pg_ok(r);
		if (!ok)
			keep_error(c, PQresultErrorMessage(r));
		PQclear(r);
		if (!ok) {
			snprintf(err, errn, "%s: %s", c->conf.where, c->err);
			pgconn_free(c);
			return NULL;
		}
	}
	if (c->blocking) {
		c->state = UP;
		return c;
	}
	/* The setup ran on this connection; one made later runs it again. */
	c->state = UP;
	char **setup = c->setup;
	c->setup = NULL;
	int rc = PQsetnonblocking(c->pg, 1) == 0 && PQenterPipelineMode(c->pg) ? prime(c) : -1;
	c->setup = setup;
	if (rc < 0) {
		snprintf(err, errn, "%s: cannot use pipeline mode: %s", c->conf.where, PQerrorMessage(c->pg));
		pgconn_free(c);
		return NULL;
	}
	uv_timer_init(conf->loop, &c->timer);
	c->timer.data = c;
	c->timer_open = 1;
	flush(c);
	return c;
}

/* Wait (blocking, until `deadline_ms` of the monotonic clock) for every
 * answer the queue waits for. */
static void drain(struct pgconn *c, uint64_t deadline_ms)
{
	while (c->state == UP && c->head) {
		int r = PQflush(c->pg);
		if (r < 0) {
			lost(c, PQerrorMessage(c->pg));
			return;
		}
		uint64_t now = time_mono_ms();
		if (now >= deadline_ms) {
			lost(c, "no answer before the stop");
			return;
		}
		struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN | (r == 1 ? POLLOUT : 0)};
		if (poll(&p, 1, (int)(deadline_ms - now)) < 0 && errno != EINTR) {
			lost(c, strerror(errno));
			return;
		}
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c->pg)) {
			lost(c, PQerrorMessage(c->pg));
			return;
		}
		process(c);
	}
}

void pgconn_stop(struct pgconn *c)
{
	if (!c || c->blocking)
		return;
	drain(c, time_mono_ms() + STOP_WAIT_MS);
	unwatch(c);
	if (c->timer_open) {
		uv_close((uv_handle_t *)&c->timer, NULL);
		c->timer_open = 0;
	}
	c->blocking = 1;
	if (c->state == UP && c->pg) {
		if (!PQexitPipelineMode(c->pg) || PQsetnonblocking(c->pg, 0) != 0) {
			PQfinish(c->pg);
			c->pg = NULL;
			c->state = DOWN;
		}
	} else if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
		c->state = DOWN;
	}
	fail_all(c);
}

void pgconn_free(struct pgconn *c)
{
	if (!c)
		return;
	fail_all(c);
	if (c->pg)
		PQfinish(c->pg);
	free((char *)c->conf.url);
	free((char *)c->conf.where);
	free((char *)c->conf.label);
	free_list(c->setup);
	free_list(c->stmts);
	free(c);
}
