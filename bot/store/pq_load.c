/*
 * store/pq_load.c - libpq, loaded the first time it is used (see
 * pq_load.h).
 *
 * Every libpq function frontdesk calls is defined here under its own name
 * and forwards to the library opened on the first call (dynlib.h); a
 * function not listed here does not link, so a new one is added here.
 * Functions that make a connection, read a connection string or name a
 * status open the library; the others take one of its objects, which
 * cannot exist unless it is open, and otherwise answer as libpq answers
 * for a NULL one.
 */
#include "pq_load.h"

#include <libpq-fe.h>

#include "dynlib.h"

const char *pq_load_soname = "libpq.so.5";

static struct {
	PGconn *(*connectdb)(const char *);
	PGconn *(*connectdbParams)(const char *const *, const char *const *, int);
	PGconn *(*connectStartParams)(const char *const *, const char *const *, int);
	PostgresPollingStatusType (*connectPoll)(PGconn *);
	void (*finish)(PGconn *);
	PQconninfoOption *(*conninfoParse)(const char *, char **);
	void (*conninfoFree)(PQconninfoOption *);
	ConnStatusType (*status)(const PGconn *);
	char *(*errorMessage)(const PGconn *);
	int (*socket)(const PGconn *);
	PQnoticeProcessor (*setNoticeProcessor)(PGconn *, PQnoticeProcessor, void *);
	int (*setnonblocking)(PGconn *, int);
	int (*flush)(PGconn *);
	int (*consumeInput)(PGconn *);
	int (*isBusy)(PGconn *);
	int (*enterPipelineMode)(PGconn *);
	int (*exitPipelineMode)(PGconn *);
	int (*pipelineSync)(PGconn *);
	PGresult *(*exec)(PGconn *, const char *);
	PGresult *(*execParams)(PGconn *, const char *, int, const Oid *, const char *const *, const int *,
	                        const int *, int);
	int (*sendQueryParams)(PGconn *, const char *, int, const Oid *, const char *const *, const int *,
	                       const int *, int);
	int (*sendPrepare)(PGconn *, const char *, const char *, int, const Oid *);
	int (*sendQueryPrepared)(PGconn *, const char *, int, const char *const *, const int *, const int *,
	                         int);
	PGresult *(*getResult)(PGconn *);
	PGnotify *(*notifies)(PGconn *);
	int (*putCopyData)(PGconn *, const char *, int);
	int (*putCopyEnd)(PGconn *, const char *);
	ExecStatusType (*resultStatus)(const PGresult *);
	char *(*resStatus)(ExecStatusType);
	char *(*resultErrorMessage)(const PGresult *);
	char *(*resultErrorField)(const PGresult *, int);
	int (*ntuples)(const PGresult *);
	char *(*getvalue)(const PGresult *, int, int);
	int (*getisnull)(const PGresult *, int, int);
	char *(*cmdStatus)(PGresult *);
	char *(*cmdTuples)(PGresult *);
	PGresult *(*copyResult)(const PGresult *, int);
	void (*clear)(PGresult *);
	void (*freemem)(void *);
} F;

static const struct dynlib_sym syms[] = {
    {"PQconnectdb", &F.connectdb},
    {"PQconnectdbParams", &F.connectdbParams},
    {"PQconnectStartParams", &F.connectStartParams},
    {"PQconnectPoll", &F.connectPoll},
    {"PQfinish", &F.finish},
    {"PQconninfoParse", &F.conninfoParse},
    {"PQconninfoFree", &F.conninfoFree},
    {"PQstatus", &F.status},
    {"PQerrorMessage", &F.errorMessage},
    {"PQsocket", &F.socket},
    {"PQsetNoticeProcessor", &F.setNoticeProcessor},
    {"PQsetnonblocking", &F.setnonblocking},
    {"PQflush", &F.flush},
    {"PQconsumeInput", &F.consumeInput},
    {"PQisBusy", &F.isBusy},
    {"PQenterPipelineMode", &F.enterPipelineMode},
    {"PQexitPipelineMode", &F.exitPipelineMode},
    {"PQpipelineSync", &F.pipelineSync},
    {"PQexec", &F.exec},
    {"PQexecParams", &F.execParams},
    {"PQsendQueryParams", &F.sendQueryParams},
    {"PQsendPrepare", &F.sendPrepare},
    {"PQsendQueryPrepared", &F.sendQueryPrepared},
    {"PQgetResult", &F.getResult},
    {"PQnotifies", &F.notifies},
    {"PQputCopyData", &F.putCopyData},
    {"PQputCopyEnd", &F.putCopyEnd},
    {"PQresultStatus", &F.resultStatus},
    {"PQresStatus", &F.resStatus},
    {"PQresultErrorMessage", &F.resultErrorMessage},
    {"PQresultErrorField", &F.resultErrorField},
    {"PQntuples", &F.ntuples},
    {"PQgetvalue", &F.getvalue},
    {"PQgetisnull", &F.getisnull},
    {"PQcmdStatus", &F.cmdStatus},
    {"PQcmdTuples", &F.cmdTuples},
    {"PQcopyResult", &F.copyResult},
    {"PQclear", &F.clear},
    {"PQfreemem", &F.freemem},
};

static struct dynlib lib = DYNLIB_INIT("libpq", "libpq5", syms);

/* 1 when libpq is loaded (loading it on the first call), 0 if it cannot be. */
static int loaded(void)
{
	return dynlib_open(&lib, pq_load_soname) == 0;
}

/* 1 when an earlier call loaded it: the test for functions that take
 * libpq's own objects. */
static int ready(void)
{
	return dynlib_ready(&lib);
}

const char *pq_load_error(void)
{
	return loaded() ? NULL : lib.error;
}

/* --- connections ---------------------------------------------------------------- */

PGconn *PQconnectdb(const char *conninfo)
{
	return loaded() ? F.connectdb(conninfo) : NULL;
}

PGconn *PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	return loaded() ? F.connectdbParams(keywords, values, expand_dbname) : NULL;
}

PGconn *PQconnectStartParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	return loaded() ? F.connectStartParams(keywords, values, expand_dbname) : NULL;
}

PostgresPollingStatusType PQconnectPoll(PGconn *conn)
{
	return ready() ? F.connectPoll(conn) : PGRES_POLLING_FAILED;
}

void PQfinish(PGconn *conn)
{
	if (ready())
		F.finish(conn);
}

PQconninfoOption *PQconninfoParse(const char *conninfo, char **errmsg)
{
	if (!loaded()) {
		if (errmsg)
			*errmsg = NULL;
		return NULL;
	}
	return F.conninfoParse(conninfo, errmsg);
}

void PQconninfoFree(PQconninfoOption *options)
{
	if (ready())
		F.conninfoFree(options);
}

ConnStatusType PQstatus(const PGconn *conn)
{
	return ready() ? F.status(conn) : CONNECTION_BAD;
}

/* Without the library, the reason it is missing (libpq says "connection
 * pointer is NULL" for the NULL connection there is then). */
char *PQerrorMessage(const PGconn *conn)
{
	return ready() ? F.errorMessage(conn) : lib.error;
}

int PQsocket(const PGconn *conn)
{
	return ready() ? F.socket(conn) : -1;
}

PQnoticeProcessor PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg)
{
	return ready() ? F.setNoticeProcessor(conn, proc, arg) : NULL;
}

int PQsetnonblocking(PGconn *conn, int arg)
{
	return ready() ? F.setnonblocking(conn, arg) : -1;
}

int PQflush(PGconn *conn)
{
	return ready() ? F.flush(conn) : -1;
}

int PQconsumeInput(PGconn *conn)
{
	return ready() ? F.consumeInput(conn) : 0;
}

int PQisBusy(PGconn *conn)
{
	return ready() ? F.isBusy(conn) : 0;
}

int PQenterPipelineMode(PGconn *conn)
{
	return ready() ? F.enterPipelineMode(conn) : 0;
}

int PQexitPipelineMode(PGconn *conn)
{
	return ready() ? F.exitPipelineMode(conn) : 0;
}

int PQpipelineSync(PGconn *conn)
{
	return ready() ? F.pipelineSync(conn) : 0;
}

/* --- queries ---------------------------------------------------------------- */

PGresult *PQexec(PGconn *conn, const char *query)
{
	return ready() ? F.exec(conn, query) : NULL;
}

PGresult *PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                       const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                       int resultFormat)
{
	if (!ready())
		return NULL;
	return F.execParams(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
	                    resultFormat);
}

int PQsendQueryParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                      const char *const *paramValues, const int *paramLengths, const int *paramFormats,
                      int resultFormat)
{
	if (!ready())
		return 0;
	return F.sendQueryParams(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
	                         resultFormat);
}

int PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes)
{
	return ready() ? F.sendPrepare(conn, stmtName, query, nParams, paramTypes) : 0;
}

int PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams, const char *const *paramValues,
                        const int *paramLengths, const int *paramFormats, int resultFormat)
{
	if (!ready())
		return 0;
	return F.sendQueryPrepared(conn, stmtName, nParams, paramValues, paramLengths, paramFormats,
	                           resultFormat);
}

PGresult *PQgetResult(PGconn *conn)
{
	return ready() ? F.getResult(conn) : NULL;
}

PGnotify *PQnotifies(PGconn *conn)
{
	return ready() ? F.notifies(conn) : NULL;
}

int PQputCopyData(PGconn *conn, const char *buffer, int nbytes)
{
	return ready() ? F.putCopyData(conn, buffer, nbytes) : -1;
}

int PQputCopyEnd(PGconn *conn, const char *errormsg)
{
	return ready() ? F.putCopyEnd(conn, errormsg) : -1;
}

/* --- results ---------------------------------------------------------------- */

ExecStatusType PQresultStatus(const PGresult *res)
{
	return ready() ? F.resultStatus(res) : PGRES_FATAL_ERROR;
}

/* A status's name needs no object: it loads the library, and says why
 * there is no name when it cannot. */
char *PQresStatus(ExecStatusType status)
{
	return loaded() ? F.resStatus(status) : lib.error;
}

char *PQresultErrorMessage(const PGresult *res)
{
	static char none[] = "";
	return ready() ? F.resultErrorMessage(res) : none;
}

char *PQresultErrorField(const PGresult *res, int fieldcode)
{
	return ready() ? F.resultErrorField(res, fieldcode) : NULL;
}

int PQntuples(const PGresult *res)
{
	return ready() ? F.ntuples(res) : 0;
}

char *PQgetvalue(const PGresult *res, int tup_num, int field_num)
{
	return ready() ? F.getvalue(res, tup_num, field_num) : NULL;
}

int PQgetisnull(const PGresult *res, int tup_num, int field_num)
{
	return ready() ? F.getisnull(res, tup_num, field_num) : 1;
}

char *PQcmdStatus(PGresult *res)
{
	return ready() ? F.cmdStatus(res) : NULL;
}

char *PQcmdTuples(PGresult *res)
{
	static char none[] = "";
	return ready() ? F.cmdTuples(res) : none;
}

PGresult *PQcopyResult(const PGresult *src, int flags)
{
	return ready() ? F.copyResult(src, flags) : NULL;
}

void PQclear(PGresult *res)
{
	if (ready())
		F.clear(res);
}

void PQfreemem(void *ptr)
{
	if (ready())
		F.freemem(ptr);
}
