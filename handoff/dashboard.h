/*
 * dashboard.h - the agent dashboard: a JSON API, a live WebSocket and the
 * embedded single-page front end, on its own listener (cfg->dashboard_listen,
 * loopback by default).  Agents log in (auth.h), see the queue ordered by due
 * time, read a whole conversation, and claim, reply, resolve, release or
 * reassign tickets.
 *
 * Routes on the dashboard listener:
 *   GET  /  /app.js  /app.css         the front end (handoff/web, embedded)
 *   GET  /metrics                     Prometheus text (when env.metrics): with
 *                                     dashboard.metrics_token only for
 *                                     "Authorization: Bearer <token>" (401),
 *                                     without one only for clients on this
 *                                     machine (403)
 *   POST /api/login {login,password}  -> session cookie + {csrf, agent, agents}
 *   POST /api/logout                  GET /api/me
 *   GET  /api/tickets?status=open|waiting|claimed|resolved|all
 *   GET  /api/tickets/ID              the ticket, its messages and events
 *   POST /api/tickets/ID/claim|release|resolve|reply {text}|assign {login}
 *   POST /api/tickets/ID/typing {on}  the agent is typing a reply (the customer
 *                                     sees "Sam is typing..." where the platform can)
 *   GET  /api/report?days=N|since=&until=&by=day|week   the insights figures (report.h)
 *   GET  /api/canned?ticket=ID        canned replies rendered for the ticket
 *   GET  /api/stats                   first-response / resolution times, misses
 *   GET  /api/learn/ticket/ID         the customer's latest question, the FAQ answers
 *                                     it is most like {rule, confidence, text}, the rules
 *   POST /api/learn/teach {ticket, message_id, rule, negative}
 *                                     a customer message becomes a taught example
 *                                     (kept in the store; the daemon relearns at once)
 *   GET  /api/learn/taught            POST /api/learn/taught/ID/remove
 *   GET  /api/learn/questions?days=N  unanswered questions grouped by subject
 *   WS   /api/live?since=N&epoch=E&csrf=T   ticket events with sequence numbers
 * Every request whose Host is not one of cfg->dashboard_hosts answers 421
 * (server.h), so a page of another site that resolves to this address (DNS
 * rebinding) can neither log in nor read anything; Origin is then checked
 * against a trusted Host.
 * Every /api/ path answers 401 without a valid session, every write 403
 * without the session's CSRF token (X-CSRF-Token header) or from a foreign
 * Origin.  A ticket another agent holds answers claim and reply with 409
 * unless the body says {"take_over": true}.  A reply is signed with the
 * agent's display name ("\n— Sam") only on platforms that cannot show who
 * wrote it (dashboard_reply_parts); the ticket answer's "reply_signed"
 * says which applies.
 *
 * Ownership of a thread is changed only through the store's state machine
 * (store_ticket_claim/release/resolve, store_agent_reply); the dashboard
 * decides nothing about it.  Tickets are read through the store's one read
 * model (store_tickets), the same as `frontdesk queue` and notifications;
 * the store may answer later, so the API answers from its callbacks.
 *
 * Live updates: every change to a ticket (or to its thread's messages)
 * becomes one event {"seq":N,"type":"ticket","ticket":{...}}.  Events are
 * numbered from 1 per process start ("epoch" names the start) and the last
 * DASHBOARD_RING of them are kept, so a client that reconnects with the last
 * seq it saw gets exactly what it missed, or {"type":"reset"} when that is
 * no longer possible (too old, or the daemon restarted) and it must refetch.
 * The first frame is always {"type":"hello","epoch":E,"seq":N}; a client
 * may send {"type":"ping"} (answered with a pong); a socket whose session
 * ends (logout, expiry, agent removed) is closed with status 4401.
 * Changes are found by comparing the open tickets with what was last
 * published, on dashboard_notify_change() and every DASHBOARD_SCAN_MS as a
 * safety net (a change made by `frontdesk queue` in another process).
 *
 * Ownership: the dashboard borrows everything in its env (which must outlive
 * it; dashboard_reload swaps the config and replies it borrows).  It owns its
 * listener's routes' state, its sessions, its uv timers (closed by
 * dashboard_stop) and its event ring.
 */
#ifndef FD_DASHBOARD_H
#define FD_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct server;
struct store;
struct store_out;
struct config;
struct replies;
struct metrics;
struct engine;
struct dashboard;

#define DASHBOARD_RING         512                /* events kept for resuming clients */
#define DASHBOARD_SCAN_MS      2000               /* safety-net rescan of the open queue */
#define DASHBOARD_MAX_LIST     500                /* tickets in one list answer */
#define DASHBOARD_MAX_MESSAGES 1000               /* most recent messages (and events) in one ticket answer */
#define DASHBOARD_MAX_REPLY    4000               /* characters of one agent reply */
#define DASHBOARD_MAX_CLIENTS  64                 /* live WebSocket connections */
#define DASHBOARD_MAX_SNOOZE   (366L * 24 * 3600) /* how far ahead a ticket can be snoozed */
#define DASHBOARD_SEARCH       50                 /* tickets (and contacts) in one search answer */

struct dashboard_env {
	struct loop *loop;
	struct server *server; /* the dashboard opens its own listener on it */
	struct store *store;
	const struct config *cfg;      /* dashboard_listen, agents, business details */
	const struct replies *replies; /* canned replies; NULL = none */
	struct metrics *metrics;       /* served at /metrics; NULL = no /metrics */
	/* Commit the open group now; done(done_arg, rc) once it is durable
	 * (0) or lost (-1, everything of it rolled back).  Required. */
	void (*commit)(void *arg, void (*done)(void *done_arg, int rc), void *done_arg);
	/* An outbox row the dashboard wrote (an agent's reply): deliver it
	 * once the group is durable.  Required for replies to go out. */
	void (*queued)(void *arg, const struct store_out *row);
	/* The engine deciding now (its rules give the suggestions of a
	 * ticket), and: learn again, with what the team taught (after a teach
	 * or its removal; the daemon reloads off the loop).  Optional. */
	struct engine *(*engine)(void *arg);
	void (*relearn)(void *arg);
	void *arg;
};

/*
 * Listen on env->cfg->dashboard_listen and mount the routes.  Call after
 * loop_init and before loop_run.  Returns NULL with a one-line reason in err
 * (e.g. the address is in use).  With no agents configured the dashboard
 * still runs, and every login fails (the log says why).
 */
struct dashboard *dashboard_start(const struct dashboard_env *env, char *err, size_t errn);

/* The port the dashboard listens on (useful with port 0 in tests). */
int dashboard_port(const struct dashboard *d);

/*
 * A reloaded configuration: new agents (sessions of removed agents, or of
 * agents whose password hash changed, end), canned replies, host names,
 * trusted proxies and connection limits.  The listen address is not
 * changed by a reload.
 */
void dashboard_reload(struct dashboard *d, const struct config *cfg, const struct replies *replies);

/*
 * Something about ticket `ticket_id` changed and is committed (0: something
 * changed, unknown what - e.g. store_external_change() said another process
 * wrote).  Cheap: changes are coalesced and published on the next loop turn.
 */
void dashboard_notify_change(struct dashboard *d, int64_t ticket_id);

/*
 * The customer of conversation thread_key on connector `connector` is
 * typing (on 1) or stopped (0): every live client hears
 * {"type":"typing","connector","thread_key","on"} (not numbered, not kept:
 * it means nothing a moment later).
 */
void dashboard_typing(struct dashboard *d, const char *connector, const char *thread_key, int on);

/*
 * `text` signed: trailing white space dropped, then the display name on a
 * line of its own ("\n— Sam") unless it already ends so.  Returns a
 * malloc'd string (caller frees).
 */
char *dashboard_sign_reply(const char *text, const char *agent_name);

/*
 * An agent's reply as it goes out on connector `connector` (a connector
 * name of cfg): signed (dashboard_sign_reply) only where the platform
 * cannot show who wrote it (no CONNECTOR_SHOWS_SENDER: Mastodon and the
 * like; the web chat and the dashboard show the name beside the message),
 * trailing white space dropped either way, then cut to the platform's
 * length limit.  One function for the dashboard and `frontdesk queue
 * reply`, so every reply goes out alike.  Fills parts (each malloc'd,
 * caller frees) and returns their number (at least 1, at most max_parts).
 */
size_t dashboard_reply_parts(const struct config *cfg, const char *connector, const char *text,
                             const char *agent_name, char **parts, size_t max_parts);

/* 1 when replies on connector `connector` of cfg are signed (see above). */
int dashboard_reply_signed(const struct config *cfg, const char *connector);

/* Teardown (loop hook on_teardown): close the dashboard's uv handles. */
void dashboard_stop(struct dashboard *d);

/* Free everything; after loop_run returned.  NULL is fine. */
void dashboard_free(struct dashboard *d);

#endif
