/*
 * dashboard_int.h - what the dashboard's own files share, and nothing
 * outside handoff/dashboard*.c includes: dashboard.c (the listener, login,
 * live events, tickets and their actions), dashboard_team.c (the team's
 * settings: agents, labels, canned replies, one's own password) and
 * dashboard_people.c (contacts and search).  dashboard.h is the contract.
 */
#ifndef FD_DASHBOARD_INT_H
#define FD_DASHBOARD_INT_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "auth.h"
#include "config.h"
#include "dashboard.h"
#include "replies.h"
#include "server.h"
#include "store.h"

#define MAX_HINTS 64

struct team;
struct live_client;
struct login_work;
struct team_change;
struct published;
struct metric;
struct reply_vars;

/* One published event; ring[seq % DASHBOARD_RING]. */
struct event {
	uint64_t seq;
	char *json;
	size_t len;
};

struct dashboard {
	struct dashboard_env env;
	struct listener *li;
	struct auth *auth;
	char metrics_token[CONFIG_SECRET_MAX + 1]; /* "" = none: /metrics for this machine only */

	char epoch[17];
	uint64_t seq;
	struct event ring[DASHBOARD_RING];
	struct published *pub;
	size_t n_pub;
	int scanned;          /* the first scan only records, it publishes nothing */
	uint64_t fingerprint; /* of the store when the safety-net scan last ran */
	int scanning;         /* a rescan's read is under way */
	int64_t hints[MAX_HINTS];
	size_t n_hints;

	struct live_client *clients;
	size_t n_clients;
	struct login_work *logins;
	unsigned n_logins;

	uv_timer_t kick, scan;
	int timers_open;
	int stopped;
	int warned_no_agents;

	struct metric *m_logins, *m_events, *m_writes;
	/* The insights figures on /metrics (dashboard_insights_metrics). */
	struct metric *m_insights[8];
	uint64_t insights_at_ms; /* when they were last computed (monotonic), 0 never */
	int insights_busy;       /* a computation is under way */
	void (*insights_then)(void *arg);
	void *insights_arg;

	struct team *team;           /* agents, labels, canned replies (team.h) */
	int team_reading;            /* a read of the stored part is under way */
	struct team_change *changes; /* team changes on the thread pool (dashboard_team.c) */
};

/*
 * One API request on its way through the store (each step may answer now
 * or later).  The session is copied: it may end meanwhile.
 */
struct op {
	struct dashboard *d;
	struct server_req *req;
	int64_t id;
	char login[AUTH_MAX_LOGIN + 1];  /* who acts */
	char name[AUTH_MAX_NAME + 1];    /* their display name */
	char target[AUTH_MAX_LOGIN + 1]; /* claim/assign: for whom */
	int take_over;
	char *text; /* reply: the text as typed */
	json_t *t;  /* GET one ticket: the answer being built */
	json_int_t seq;
	int flag;    /* an action's on/off (a label put on or taken off) */
	time_t when; /* an action's time (a snooze's end) */
	char *arg;   /* an action's word (a label, a priority) */
};

/* ---- dashboard.c ---- */

/* t as ISO-8601 UTC under key, or null when 0. */
void dashboard_iso(json_t *o, const char *key, time_t t);
/* Text as a JSON string; invalid UTF-8 (which should not be stored, but
 * must not break the page) becomes null. */
json_t *dashboard_text(const char *t);
/* Answer with j (taken). */
void dashboard_respond(struct server_req *req, int status, json_t *j);
/* A ticket of the read model as the API and the live events carry it. */
json_t *dashboard_ticket_json(const struct store_ticket *t, time_t now);
/* A request on its way through the store (s copied: it may end meanwhile). */
struct op *dashboard_op_new(struct dashboard *d, struct server_req *req, const struct auth_session *s,
                            int64_t id);
void dashboard_op_free(struct op *o);
/* The request's body as a JSON object (NULL body: an empty one), or NULL
 * after answering 400. */
json_t *dashboard_body(struct server_req *req);
/* The agents of the team go to auth (sessions of removed agents, or of
 * changed passwords, end). */
void dashboard_set_agents(struct dashboard *d);
/* Read the stored part of the team again (after a change, or another
 * process's); the agents then go to auth.  _then calls done(arg) once that
 * is done (done NULL: a read already under way is enough). */
void dashboard_team_read(struct dashboard *d);
void dashboard_team_read_then(struct dashboard *d, void (*done)(void *arg), void *arg);
/* Commit the open group; done(arg, rc) once durable (0) or lost (-1). */
void dashboard_commit(struct dashboard *d, store_done_fn done, void *arg);
/* The variables a reply rendered for ticket t (may be NULL) by agent
 * agent_name gets (canned replies, suggested answers): v points into dv. */
struct dashboard_vars {
	char hours[256], ticket[24], due[96], opens[96];
	struct reply_vars v;
};
void dashboard_vars(struct dashboard *d, const char *agent_name, const struct store_ticket *t,
                    struct dashboard_vars *dv);

/* ---- dashboard_team.c ---- */

/* /api/team (GET: everyone; writes: admins) and POST /api/me/password.
 * Answers exactly once, now or later. */
void dashboard_api_team(struct dashboard *d, struct server_req *req, const struct auth_session *s);
void dashboard_api_password(struct dashboard *d, struct server_req *req, const struct auth_session *s);
/* The team as /api/me and /api/team show it: agents (login, name, role),
 * labels (name, color, from) and, for admins, where each comes from. */
void dashboard_team_json(struct dashboard *d, json_t *o, int admin);
/* Canned replies set in the dashboard, rendered for ticket t (may be NULL), appended to a. */
void dashboard_team_canned(struct dashboard *d, json_t *a, const struct reply_vars *v);

/* ---- dashboard_people.c ---- */

/* GET/POST /api/contacts/ID and GET /api/search: answer exactly once. */
void dashboard_api_contact(struct dashboard *d, struct server_req *req, const struct auth_session *s);
void dashboard_api_search(struct dashboard *d, struct server_req *req, const struct auth_session *s);

/* ---- dashboard_learn.c ---- */

/* /api/learn/...: a ticket's suggested answers, teach, the taught
 * examples, the unanswered questions grouped.  Answers exactly once. */
void dashboard_api_learn(struct dashboard *d, struct server_req *req, const struct auth_session *s);
/* GET /api/report: the insights figures (report.h: report_compute, the same
 * as `frontdesk report`).  Answers exactly once. */
#define REPORT_DAYS 7 /* the window when the request names none */
void dashboard_api_report(struct dashboard *d, struct server_req *req, const struct auth_session *s);
/*
 * The insights figures of the last REPORT_DAYS days on /metrics
 * (frontdesk_insights_*{window="7d"}): registered when /metrics is served,
 * computed at start, whenever DASHBOARD_INSIGHTS_MS passed (the
 * dashboard's scan timer asks) and for a scrape when they are older than
 * `max_age_ms`.  Returns 1 when a computation started: done(arg) runs once
 * it ended (now or later); 0 when none was needed (or one is under way):
 * done is not called.  A store error leaves the last values.
 */
#define DASHBOARD_INSIGHTS_MS        60000
#define DASHBOARD_INSIGHTS_SCRAPE_MS 10000 /* a scrape gets figures at most this old */
int dashboard_insights_metrics(struct dashboard *d, uint64_t max_age_ms, void (*done)(void *arg), void *arg);

#endif
